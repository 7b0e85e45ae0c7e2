//! GitHub's JSON as shipdeck reads it: only the fields it uses, optional wherever the
//! published schema allows null or the official examples leave a field out (job examples lack
//! `run_attempt` and `created_at`), and conversions into the domain types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::model::{
    CommitInfo, DeployState, DeployStatus, JobState, RunStatus, SafeText, StepState,
};

/// Parses an ISO time, treating a missing, null or malformed value as unknown rather than
/// failing the whole answer.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc()))
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireUser {
    pub login: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireGitActor {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireCommitDetail {
    #[serde(default)]
    pub message: String,
    pub author: Option<WireGitActor>,
    pub committer: Option<WireGitActor>,
}

/// A commit as `GET /repos/{o}/{r}/commits/{sha}` and the branch endpoint return it.
#[derive(Debug, Clone, Deserialize)]
pub struct WireCommit {
    pub sha: String,
    pub commit: WireCommitDetail,
    pub author: Option<WireUser>,
}

impl WireCommit {
    pub fn to_commit_info(&self) -> CommitInfo {
        let git_author = self.commit.author.as_ref();
        let author = git_author
            .and_then(|a| a.name.clone())
            .filter(|n| !n.trim().is_empty())
            .or_else(|| self.author.as_ref().and_then(|u| u.login.clone()))
            .unwrap_or_default();
        let at = git_author
            .and_then(|a| a.date)
            .or_else(|| self.commit.committer.as_ref().and_then(|c| c.date));
        CommitInfo {
            sha: clean_sha(&self.sha),
            subject: SafeText::subject_of(&self.commit.message),
            author: SafeText::with_max(&author, 80),
            at,
        }
    }
}

/// `GET /repos/{o}/{r}/branches/{branch}`.
#[derive(Debug, Clone, Deserialize)]
pub struct WireBranch {
    pub name: String,
    pub commit: WireCommit,
}

/// One workflow run.
#[derive(Debug, Clone, Deserialize)]
pub struct WireRun {
    pub id: u64,
    #[serde(default)]
    pub run_number: u64,
    pub run_attempt: Option<u64>,
    #[serde(default)]
    pub head_sha: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub run_started_at: Option<DateTime<Utc>>,
}

/// `GET …/actions/workflows/{file}/runs` and `GET …/actions/runs`.
#[derive(Debug, Clone, Deserialize)]
pub struct WireRunList {
    #[serde(default)]
    pub workflow_runs: Vec<WireRun>,
}

/// The parts of a workflow run the pipeline panel needs, before stage mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: u64,
    pub run_number: u64,
    pub run_attempt: u64,
    pub sha: String,
    pub status: RunStatus,
    pub html_url: Option<SafeText>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl WireRun {
    pub fn to_summary(&self) -> RunSummary {
        let status = RunStatus::from_github(self.status.as_deref(), self.conclusion.as_deref());
        RunSummary {
            run_id: self.id,
            run_number: self.run_number,
            run_attempt: self.run_attempt.unwrap_or(1),
            sha: clean_sha(&self.head_sha),
            status,
            html_url: self.html_url.as_deref().map(SafeText::new),
            started_at: self.run_started_at.or(self.created_at),
            // Runs carry no completion time; the last update of a finished run is it.
            completed_at: if status.is_finished() {
                self.updated_at
            } else {
                None
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireStep {
    #[serde(default)]
    pub number: u64,
    #[serde(default)]
    pub name: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// One job of a run. `run_attempt` and `created_at` may be absent (GitHub's own examples).
#[derive(Debug, Clone, Deserialize)]
pub struct WireJob {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub completed_at: Option<DateTime<Utc>>,
    pub html_url: Option<String>,
    pub run_attempt: Option<u64>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub steps: Option<Vec<WireStep>>,
}

impl WireJob {
    pub fn to_job_state(&self) -> JobState {
        let status = RunStatus::from_github(self.status.as_deref(), self.conclusion.as_deref());
        JobState {
            id: self.id,
            name: SafeText::with_max(&self.name, 120),
            status,
            // GitHub fills `started_at` of a queued job with its creation time; nothing has
            // started, so no time has elapsed against the stage's target.
            started_at: if status == RunStatus::Queued {
                None
            } else {
                self.started_at
            },
            completed_at: self.completed_at,
            html_url: self.html_url.as_deref().map(SafeText::new),
            steps: self
                .steps
                .iter()
                .flatten()
                .map(|s| StepState {
                    number: s.number,
                    name: SafeText::with_max(&s.name, 120),
                    status: RunStatus::from_github(s.status.as_deref(), s.conclusion.as_deref()),
                    started_at: s.started_at,
                    completed_at: s.completed_at,
                })
                .collect(),
        }
    }
}

/// `GET …/actions/runs/{id}/jobs`.
#[derive(Debug, Clone, Deserialize)]
pub struct WireJobList {
    #[serde(default)]
    pub jobs: Vec<WireJob>,
}

/// One deployment (`GET /repos/{o}/{r}/deployments`, newest first).
#[derive(Debug, Clone, Deserialize)]
pub struct WireDeployment {
    pub id: u64,
    #[serde(default)]
    pub sha: String,
    pub environment: Option<String>,
    pub description: Option<String>,
    pub creator: Option<WireUser>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One deployment status (`GET …/deployments/{id}/statuses`, newest first).
#[derive(Debug, Clone, Deserialize)]
pub struct WireDeploymentStatus {
    pub id: u64,
    #[serde(default)]
    pub state: String,
    pub description: Option<String>,
    pub creator: Option<WireUser>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
}

impl WireDeployment {
    /// The deployment as of its latest status (`statuses` newest first, as GitHub lists them).
    pub fn to_deploy_state(&self, statuses: &[WireDeploymentStatus]) -> DeployState {
        let latest = statuses.first();
        DeployState {
            deployment_id: self.id,
            sha: clean_sha(&self.sha),
            status: latest
                .map(|s| DeployStatus::from_github(&s.state))
                .unwrap_or(DeployStatus::Pending),
            at: latest.and_then(|s| s.created_at).or(self.created_at),
            creator: self
                .creator
                .as_ref()
                .and_then(|c| c.login.as_deref())
                .map(|l| SafeText::with_max(l, 80)),
            description: latest
                .and_then(|s| s.description.as_deref())
                .or(self.description.as_deref())
                .map(|d| SafeText::with_max(d, 200)),
        }
    }
}

/// When a deployment reached `success` (statuses newest first), even if a later deployment
/// has since made it `inactive`.
pub fn succeeded_at(statuses: &[WireDeploymentStatus]) -> Option<Option<DateTime<Utc>>> {
    let latest = statuses.first()?;
    match latest.state.as_str() {
        "success" => Some(latest.created_at),
        "inactive" => statuses
            .iter()
            .find(|s| s.state == "success")
            .map(|s| s.created_at),
        _ => None,
    }
}

/// A SHA is shown and compared as 40 lower-case hex digits; anything else is cut to the hex
/// characters it starts with, so outside text never travels in a SHA field.
pub fn clean_sha(raw: &str) -> String {
    raw.chars()
        .take_while(char::is_ascii_hexdigit)
        .take(64)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_keeps_only_hex() {
        assert_eq!(clean_sha("ABC123\x1b[31m"), "abc123");
    }

    #[test]
    fn inactive_deployment_still_counts_as_once_successful() {
        let status = |state: &str| WireDeploymentStatus {
            id: 1,
            state: state.to_string(),
            description: None,
            creator: None,
            created_at: None,
        };
        assert!(succeeded_at(&[status("inactive"), status("success")]).is_some());
        assert!(succeeded_at(&[status("failure"), status("success")]).is_none());
        assert!(succeeded_at(&[status("in_progress")]).is_none());
        assert!(succeeded_at(&[]).is_none());
    }

    #[test]
    fn a_malformed_time_is_unknown_not_an_error() {
        let job: WireJob =
            serde_json::from_str(r#"{"id": 1, "name": "lint", "started_at": "yesterday"}"#)
                .unwrap();
        assert_eq!(job.started_at, None);
        assert_eq!(job.to_job_state().status, RunStatus::Unknown);
    }

    #[test]
    fn a_queued_job_has_not_started_whatever_github_says() {
        let job: WireJob = serde_json::from_str(
            r#"{"id": 2, "name": "e2e", "status": "queued", "started_at": "2026-11-20T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(job.to_job_state().status, RunStatus::Queued);
        assert_eq!(job.to_job_state().started_at, None);
        let running: WireJob = serde_json::from_str(
            r#"{"id": 3, "name": "e2e", "status": "in_progress", "started_at": "2026-11-20T10:00:00Z"}"#,
        )
        .unwrap();
        assert!(running.to_job_state().started_at.is_some());
    }
}
