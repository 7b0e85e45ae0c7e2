//! The deployment history behind the delivery figures: the newest deployments of one GitHub
//! environment (one page of [`HISTORY_PAGE`]; older ones are not read, and the figures say
//! so when that page does not reach back past the window), each one's outcome from its
//! statuses, and the author and committer times of its commit.
//!
//! What cannot change is read once and kept in a [`HistoryMemo`] that lives in the poller's
//! memory: a deployment's outcome once it is final (success, failure, error, or inactive),
//! re-read only if the deployment's `updated_at` moves (a new status was added); an outcome
//! of a deployment older than the window, whatever it is; a commit's times (SHAs are
//! immutable). So the first read costs one list request plus a statuses request per
//! deployment of the window (plus the newest successful one before it) and a commit request
//! per distinct SHA, at most about 200; after that a poll costs the list request (a 304 while
//! nothing changed) plus the statuses of deployments still in progress. The memo only holds
//! what the latest page listed, so it stays as small as one page.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::types::{WireCommit, WireDeploymentStatus, clean_sha};
use super::{GithubClient, encode, lock};
use crate::model::{DeliveryHistory, DeliveryOutcome, DeliveryRecord};
use crate::sources::SourceError;

/// How many of the newest deployments are read: one page, GitHub's largest.
pub const HISTORY_PAGE: usize = 100;

/// What the history source remembers between polls (see the module documentation).
#[derive(Debug, Default)]
pub struct HistoryMemo {
    outcomes: HashMap<u64, Remembered>,
    commits: HashMap<String, CommitTimes>,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    updated_at: Option<DateTime<Utc>>,
    outcome: DeliveryOutcome,
    /// No later status is expected to change the outcome.
    settled: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct CommitTimes {
    author: Option<DateTime<Utc>>,
    committer: Option<DateTime<Utc>>,
}

/// A deployment as the list returns it, with what the history needs.
#[derive(Debug, Clone, Deserialize)]
struct WireListedDeployment {
    id: u64,
    #[serde(default)]
    sha: String,
    #[serde(default)]
    payload: Value,
    #[serde(default, deserialize_with = "lenient_time")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    updated_at: Option<DateTime<Utc>>,
}

/// A missing, null or malformed time is unknown, not a failed answer.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<Value>::deserialize(d)?;
    Ok(raw
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc()))
}

impl GithubClient {
    /// The deployment history of `github_environment` for figures over the window that
    /// starts at `window_start`: every deployment of the newest page created since then, and
    /// before it the newest successful one (what ran when the window opened). `now` stamps
    /// the result.
    pub async fn delivery_history(
        &self,
        github_environment: &str,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
        memo: &mut HistoryMemo,
    ) -> Result<DeliveryHistory, SourceError> {
        let mut listed: Vec<WireListedDeployment> = self
            .get_json(&format!(
                "{}/deployments?environment={}&per_page={HISTORY_PAGE}",
                self.repo_path,
                encode(github_environment)
            ))
            .await?;
        let truncated = listed.len() >= HISTORY_PAGE;
        listed.truncate(HISTORY_PAGE);
        listed.sort_by_key(|d| Reverse((d.created_at, d.id)));
        let mut records = Vec::new();
        for deployment in &listed {
            // Without a creation time a deployment cannot be placed in the window.
            let Some(created_at) = deployment.created_at else {
                continue;
            };
            let before_window = created_at < window_start;
            let outcome = self.outcome_of(deployment, before_window, memo).await?;
            records.push(DeliveryRecord {
                deployment_id: deployment.id,
                sha: clean_sha(&deployment.sha),
                created_at,
                outcome,
                marked_rollback: marked_rollback(&deployment.payload),
                commit_at: None,
                committed_at: None,
            });
            if before_window && outcome.succeeded_at().is_some() {
                break;
            }
        }
        for record in &mut records {
            if record.sha.is_empty() {
                continue;
            }
            let times = self.commit_times(&record.sha, memo).await?;
            record.commit_at = times.author;
            record.committed_at = times.committer.or(times.author);
        }
        let ids: HashSet<u64> = records.iter().map(|r| r.deployment_id).collect();
        let shas: HashSet<&str> = records.iter().map(|r| r.sha.as_str()).collect();
        memo.outcomes.retain(|id, _| ids.contains(id));
        memo.commits.retain(|sha, _| shas.contains(sha.as_str()));
        Ok(DeliveryHistory {
            records,
            truncated,
            fetched_at: now,
        })
    }

    /// The outcome of `deployment`, from the memo when it cannot have changed.
    async fn outcome_of(
        &self,
        deployment: &WireListedDeployment,
        before_window: bool,
        memo: &mut HistoryMemo,
    ) -> Result<DeliveryOutcome, SourceError> {
        if let Some(known) = memo.outcomes.get(&deployment.id) {
            let untouched =
                deployment.updated_at.is_none() || deployment.updated_at == known.updated_at;
            if before_window || (known.settled && untouched) {
                return Ok(known.outcome);
            }
        }
        let statuses: Vec<WireDeploymentStatus> = self
            .get_json(&format!(
                "{}/deployments/{}/statuses?per_page={HISTORY_PAGE}",
                self.repo_path, deployment.id
            ))
            .await?;
        let (outcome, settled) = outcome_from(&statuses, deployment.created_at);
        memo.outcomes.insert(
            deployment.id,
            Remembered {
                updated_at: deployment.updated_at,
                outcome,
                settled,
            },
        );
        Ok(outcome)
    }

    /// The author and committer times of `sha`, read once. A commit GitHub no longer knows
    /// (404, 422) has unknown times, remembered as such.
    async fn commit_times(
        &self,
        sha: &str,
        memo: &mut HistoryMemo,
    ) -> Result<CommitTimes, SourceError> {
        if let Some(times) = memo.commits.get(sha) {
            return Ok(*times);
        }
        let times = match self
            .get_json::<WireCommit>(&format!("{}/commits/{}", self.repo_path, encode(sha)))
            .await
        {
            Ok(commit) => {
                let info = commit.to_commit_info();
                let times = CommitTimes {
                    author: commit.commit.author.as_ref().and_then(|a| a.date),
                    committer: commit.commit.committer.as_ref().and_then(|c| c.date),
                };
                lock(&self.commits).insert(sha.to_string(), info);
                times
            }
            Err(SourceError::Status {
                status: 404 | 422, ..
            }) => CommitTimes::default(),
            Err(error) => return Err(error),
        };
        memo.commits.insert(sha.to_string(), times);
        Ok(times)
    }
}

/// The outcome its statuses give a deployment, and whether it is settled. The latest status
/// decides a failure (`failure`, `error`); otherwise a deployment that ever reached `success`
/// succeeded then (a later `inactive` only means another replaced it); otherwise it is
/// pending, settled only when it went `inactive` without ever succeeding.
fn outcome_from(
    statuses: &[WireDeploymentStatus],
    created_at: Option<DateTime<Utc>>,
) -> (DeliveryOutcome, bool) {
    let mut states: Vec<(&str, DateTime<Utc>)> = statuses
        .iter()
        .filter_map(|s| Some((s.state.as_str(), s.created_at.or(created_at)?)))
        .collect();
    // Newest first whatever order the answer used; equal times keep the answer's order.
    states.sort_by_key(|(_, at)| Reverse(*at));
    match states.first() {
        Some(&("failure" | "error", at)) => (DeliveryOutcome::Failed { at }, true),
        latest => match states.iter().rev().find(|(state, _)| *state == "success") {
            Some(&(_, at)) => (DeliveryOutcome::Succeeded { at }, true),
            None => (
                DeliveryOutcome::Pending,
                latest.is_some_and(|(state, _)| *state == "inactive"),
            ),
        },
    }
}

/// Whether a payload says the deployment is a rollback. GitHub returns the payload as an
/// object, or as the string it was created with.
/// Whether a deployment's payload marks it as a rollback (`"kind": "rollback"`, as shipdeck
/// writes it), the payload given as JSON or as a JSON string.
pub fn marked_rollback(payload: &Value) -> bool {
    let parsed;
    let payload = match payload {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    payload.get("kind").and_then(Value::as_str) == Some("rollback")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-20T10:{minute:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    fn status(state: &str, minute: u32) -> WireDeploymentStatus {
        WireDeploymentStatus {
            id: u64::from(minute),
            state: state.to_string(),
            description: None,
            creator: None,
            created_at: Some(at(minute)),
        }
    }

    #[test]
    fn success_counts_from_its_first_time_even_once_inactive() {
        let statuses = [
            status("inactive", 9),
            status("success", 3),
            status("in_progress", 1),
        ];
        assert_eq!(
            outcome_from(&statuses, None),
            (DeliveryOutcome::Succeeded { at: at(3) }, true)
        );
    }

    #[test]
    fn the_latest_failure_decides_and_in_progress_is_not_settled() {
        let failed = [status("failure", 5), status("in_progress", 1)];
        assert_eq!(
            outcome_from(&failed, None),
            (DeliveryOutcome::Failed { at: at(5) }, true)
        );
        // Out of order in the answer: the times decide.
        let running = [status("queued", 1), status("in_progress", 2)];
        assert_eq!(
            outcome_from(&running, None),
            (DeliveryOutcome::Pending, false)
        );
        assert_eq!(outcome_from(&[], None), (DeliveryOutcome::Pending, false));
        let abandoned = [status("inactive", 4), status("queued", 1)];
        assert_eq!(
            outcome_from(&abandoned, None),
            (DeliveryOutcome::Pending, true)
        );
    }

    #[test]
    fn a_status_without_a_time_takes_the_deployment_s() {
        let mut untimed = status("success", 0);
        untimed.created_at = None;
        assert_eq!(
            outcome_from(&[untimed.clone()], Some(at(7))),
            (DeliveryOutcome::Succeeded { at: at(7) }, true)
        );
        assert_eq!(
            outcome_from(&[untimed], None),
            (DeliveryOutcome::Pending, false)
        );
    }

    #[test]
    fn the_payload_kind_marks_a_rollback_as_object_or_string() {
        assert!(marked_rollback(
            &serde_json::json!({"kind": "rollback", "tool": "shipdeck"})
        ));
        assert!(marked_rollback(&Value::String(
            r#"{"kind":"rollback"}"#.to_string()
        )));
        assert!(!marked_rollback(&serde_json::json!({"kind": "promote"})));
        assert!(!marked_rollback(&serde_json::json!({})));
        assert!(!marked_rollback(&Value::String("rollback".to_string())));
        assert!(!marked_rollback(&Value::Null));
    }
}
