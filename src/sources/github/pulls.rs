//! The pull request that carries a commit, and its labels: what lets a release checklist
//! item be satisfied without a captain (`GET /repos/{o}/{r}/commits/{sha}/pulls`).

use serde::Deserialize;

use super::{GithubClient, encode};
use crate::model::sanitize;
use crate::sources::SourceError;

const PER_PAGE: usize = 100;
/// Longest label name GitHub allows.
const LABEL_MAX_CHARS: usize = 50;

#[derive(Debug, Deserialize)]
struct WireAssociatedPull {
    number: u64,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    labels: Vec<WireLabel>,
}

#[derive(Debug, Deserialize)]
struct WireLabel {
    name: String,
}

/// The pull request that brought a commit in, as the checklist reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarryingPull {
    pub number: u64,
    /// Label names, sanitized.
    pub labels: Vec<String>,
}

impl GithubClient {
    /// The merged pull request that carries `sha`: the one whose merge commit it is, else
    /// the first merged one GitHub lists for it. `None`: the commit came in without one
    /// (pushed directly), or only open pull requests contain it.
    pub async fn carrying_pull(&self, sha: &str) -> Result<Option<CarryingPull>, SourceError> {
        let pulls: Vec<WireAssociatedPull> = self
            .get_json(&format!(
                "{}/commits/{}/pulls?per_page={PER_PAGE}",
                self.repo_path,
                encode(sha)
            ))
            .await?;
        Ok(carrying(pulls, sha))
    }
}

fn carrying(pulls: Vec<WireAssociatedPull>, sha: &str) -> Option<CarryingPull> {
    let mut merged: Vec<WireAssociatedPull> = pulls
        .into_iter()
        .filter(|p| p.merged_at.is_some())
        .collect();
    let position = merged
        .iter()
        .position(|p| p.merge_commit_sha.as_deref() == Some(sha))
        .unwrap_or(0);
    if merged.is_empty() {
        return None;
    }
    let pull = merged.swap_remove(position);
    Some(CarryingPull {
        number: pull.number,
        labels: pull
            .labels
            .iter()
            .map(|l| sanitize(&l.name, LABEL_MAX_CHARS))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(number: u64, merged: bool, merge_sha: &str, labels: &[&str]) -> WireAssociatedPull {
        WireAssociatedPull {
            number,
            merged_at: merged.then(|| "2026-11-20T10:00:00Z".to_string()),
            merge_commit_sha: Some(merge_sha.to_string()),
            labels: labels
                .iter()
                .map(|l| WireLabel {
                    name: l.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_pull_whose_merge_commit_it_is_wins_and_open_ones_never_count() {
        let pulls = vec![
            pull(1, false, "abc", &["open-label"]),
            pull(2, true, "def", &["promotion"]),
            pull(3, true, "abc", &["migrations-ok", "x\u{1b}[2Jy"]),
        ];
        let found = carrying(pulls, "abc");
        assert_eq!(
            found,
            Some(CarryingPull {
                number: 3,
                labels: vec!["migrations-ok".to_string(), "x[2Jy".to_string()],
            })
        );
        assert_eq!(
            carrying(vec![pull(2, true, "def", &[])], "abc").map(|p| p.number),
            Some(2)
        );
        assert_eq!(carrying(vec![pull(1, false, "abc", &[])], "abc"), None);
        assert_eq!(carrying(Vec::new(), "abc"), None);
    }
}
