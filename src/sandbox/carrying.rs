//! The pull request each commit came in by. Every commit of the sandbox lands on `main`
//! through a merged pull request (#1200 + its position, the number its message's
//! `Reviewed-in:` trailer names); its labels start empty and tests add them, so a release
//! checklist item can be satisfied by a label (`GET commits/{sha}/pulls`).

use std::collections::BTreeSet;

use super::world::{PullRecord, World};

/// The number of the pull request that carried the first commit.
const FIRST_CARRYING_PULL: u64 = 1200;

impl World {
    /// The merged pull request that brought `sha` (full) onto `main`.
    pub fn carrying_pull(&self, sha: &str) -> Option<PullRecord> {
        let position = self.commit_position(sha)?;
        let commit = self.commit_at(position)?;
        let number = FIRST_CARRYING_PULL + position as u64;
        let parent = commit.parent.clone().unwrap_or_else(|| commit.sha.clone());
        Some(PullRecord {
            number,
            id: 2_000_000_000 + number * 13,
            title: commit.subject().to_string(),
            body: String::new(),
            head: format!("feature/pr-{number}"),
            base: "main".to_string(),
            author: commit.author.clone(),
            reviewer: commit.author.clone(),
            created_at: commit.time,
            merged_at: Some(commit.time),
            merge_commit_sha: Some(commit.sha.clone()),
            merged_heads: Some((commit.sha.clone(), parent)),
        })
    }

    /// Adds `label` to the pull request that carried `sha`; its number, `None` for an
    /// unknown commit.
    pub fn label_carrying_pull(&mut self, sha: &str, label: &str) -> Option<u64> {
        let number = self.carrying_pull(sha)?.number;
        self.pull_labels
            .entry(number)
            .or_default()
            .insert(label.to_string());
        Some(number)
    }

    /// A pull request's label names, sorted.
    pub fn labels_of(&self, number: u64) -> Vec<String> {
        self.pull_labels
            .get(&number)
            .map(|labels| labels.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A pull request's labels, by number.
pub type PullLabels = std::collections::BTreeMap<u64, BTreeSet<String>>;
