//! The facts the release gates and previews are built from, read from GitHub: the CI runs,
//! check runs and commit statuses at a commit, the comparison between two commits, who holds
//! an environment's lock, the deployment history of a GitHub environment, and the reviews and
//! author of a pull request. Every read goes through [`GithubClient::get_json`] (ETag cached);
//! the wire types for these endpoints live here, next to their only reader.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::types::{WireCommit, WireDeploymentStatus, WireRunList, WireUser, clean_sha};
use super::{GithubClient, RunSummary, encode};
use crate::model::{CommitLine, HoldView, LockView, RunStatus, SafeText, sanitize};
use crate::sources::SourceError;

/// Commits listed in a [`Comparison`], newest first; the rest are only counted.
pub const COMPARISON_COMMITS: usize = 50;
/// GitHub lists at most this many changed files in a comparison.
const COMPARE_FILES_LIMIT: usize = 300;
const PER_PAGE: usize = 100;
/// The ref namespace of the promotion locks (`refs/shipdeck/locks/{environment}`).
pub const LOCK_REF_PREFIX: &str = "shipdeck/locks/";
/// The ref namespace of the auto-promotion holds (`refs/shipdeck/holds/{environment}`).
pub const HOLD_REF_PREFIX: &str = "shipdeck/holds/";

/// Two commits compared: what lies between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// `ahead`, `behind`, `identical` or `diverged` (sanitized).
    pub status: String,
    pub ahead_by: usize,
    pub behind_by: usize,
    /// Newest first, at most [`COMPARISON_COMMITS`].
    pub commits: Vec<CommitLine>,
    /// All commits between them, listed or not.
    pub total_commits: usize,
    /// Changed file paths (sanitized).
    pub files: Vec<String>,
    /// GitHub stops listing files at 300: more may have changed than `files` shows.
    pub files_truncated: bool,
}

/// One deployment of a GitHub environment with every state it went through.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentHistoryEntry {
    pub id: u64,
    pub sha: String,
    pub created_at: Option<DateTime<Utc>>,
    pub creator: Option<SafeText>,
    /// The deployment's payload as sent by whoever created it: data for the engine, not text
    /// to show (anything taken from it must be sanitized first).
    pub payload: serde_json::Value,
    /// Each status's state (`success`, `inactive`, `failure`, ...) and time, newest first.
    pub states: Vec<(String, DateTime<Utc>)>,
}

impl DeploymentHistoryEntry {
    /// The state it is in now (`None`: no status yet).
    pub fn current_state(&self) -> Option<&str> {
        self.states.first().map(|(state, _)| state.as_str())
    }

    /// When it first reached `success`, even if a later deployment has made it `inactive`.
    pub fn succeeded_at(&self) -> Option<DateTime<Utc>> {
        self.states
            .iter()
            .rev()
            .find(|(state, _)| state == "success")
            .map(|(_, at)| *at)
    }
}

/// A deployment with its payload (the read side's [`super::types::WireDeployment`] skips it).
#[derive(Debug, Clone, Deserialize)]
struct WireHistoryDeployment {
    id: u64,
    #[serde(default)]
    sha: String,
    creator: Option<WireUser>,
    #[serde(default)]
    payload: serde_json::Value,
    #[serde(default, deserialize_with = "lenient_time")]
    created_at: Option<DateTime<Utc>>,
}

/// A missing, null or malformed time is unknown, not a failed answer.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc()))
}

#[derive(Debug, Clone, Deserialize)]
struct WireCheckRun {
    #[serde(default)]
    name: String,
    status: Option<String>,
    conclusion: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireCheckRunList {
    #[serde(default)]
    check_runs: Vec<WireCheckRun>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireStatus {
    #[serde(default)]
    context: String,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WireCombinedStatus {
    #[serde(default)]
    statuses: Vec<WireStatus>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireFile {
    #[serde(default)]
    filename: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WireComparison {
    #[serde(default)]
    status: String,
    #[serde(default)]
    ahead_by: usize,
    #[serde(default)]
    behind_by: usize,
    total_commits: Option<usize>,
    #[serde(default)]
    commits: Vec<WireCommit>,
    #[serde(default)]
    files: Vec<WireFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireGitObject {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    sha: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WireRef {
    object: WireGitObject,
}

#[derive(Debug, Clone, Deserialize)]
struct WireTag {
    #[serde(default)]
    message: String,
}

/// What shipdeck writes into a lock tag's message.
#[derive(Debug, Clone, Deserialize)]
struct LockMessage {
    action_id: String,
    actor: String,
    host: String,
    #[allow(dead_code)]
    #[serde(default)]
    kind: Option<String>,
    at: DateTime<Utc>,
}

/// What shipdeck writes into a hold tag's message.
#[derive(Debug, Clone, Deserialize)]
struct HoldMessage {
    actor: String,
    host: String,
    reason: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireReview {
    user: Option<WireUser>,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WirePull {
    user: Option<WireUser>,
}

impl GithubClient {
    /// The runs of `workflow_file` at exactly `sha`, newest first (latest run number and
    /// attempt first).
    pub async fn runs_for_sha(
        &self,
        workflow_file: &str,
        sha: &str,
    ) -> Result<Vec<RunSummary>, SourceError> {
        let runs: WireRunList = self
            .get_json(&format!(
                "{}/actions/workflows/{}/runs?head_sha={}&per_page={PER_PAGE}",
                self.repo_path,
                encode(workflow_file),
                encode(sha)
            ))
            .await?;
        let mut runs: Vec<_> = runs
            .workflow_runs
            .iter()
            .filter(|r| r.head_sha.eq_ignore_ascii_case(sha))
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse((r.run_number, r.run_attempt.unwrap_or(1), r.id)));
        Ok(runs.into_iter().map(|r| r.to_summary()).collect())
    }

    /// Every check run at `sha`: its name (sanitized) and status.
    pub async fn check_runs(&self, sha: &str) -> Result<Vec<(String, RunStatus)>, SourceError> {
        let list: WireCheckRunList = self
            .get_json(&format!(
                "{}/commits/{}/check-runs?per_page={PER_PAGE}",
                self.repo_path,
                encode(sha)
            ))
            .await?;
        Ok(list
            .check_runs
            .iter()
            .map(|run| {
                (
                    sanitize(&run.name, 120),
                    RunStatus::from_github(run.status.as_deref(), run.conclusion.as_deref()),
                )
            })
            .collect())
    }

    /// Every commit status at `sha` (the combined view: the latest per context), by context
    /// (sanitized).
    pub async fn commit_statuses(
        &self,
        sha: &str,
    ) -> Result<Vec<(String, RunStatus)>, SourceError> {
        let combined: WireCombinedStatus = self
            .get_json(&format!(
                "{}/commits/{}/status?per_page={PER_PAGE}",
                self.repo_path,
                encode(sha)
            ))
            .await?;
        Ok(combined
            .statuses
            .iter()
            .map(|s| (sanitize(&s.context, 120), commit_status(&s.state)))
            .collect())
    }

    /// What lies between `base` and `head`.
    pub async fn compare(&self, base: &str, head: &str) -> Result<Comparison, SourceError> {
        let wire: WireComparison = self
            .get_json(&format!(
                "{}/compare/{}...{}",
                self.repo_path,
                encode(base),
                encode(head)
            ))
            .await?;
        Ok(comparison(&wire))
    }

    /// Who holds `environment`'s lock (`None`: nobody). A lock that is a plain commit ref or
    /// whose tag message shipdeck cannot read is held by someone unknown.
    pub async fn lock(&self, environment: &str) -> Result<Option<LockView>, SourceError> {
        let message = self
            .tagged_ref_message(LOCK_REF_PREFIX, environment)
            .await?;
        Ok(message.map(|message| match message {
            Some(text) => lock_view(&text),
            None => unknown_holder(),
        }))
    }

    /// Who holds `environment`'s auto-promotion (`None`: nobody). A hold that is a plain
    /// commit ref or whose tag message shipdeck cannot read still holds, by someone unknown.
    pub async fn hold(&self, environment: &str) -> Result<Option<HoldView>, SourceError> {
        let message = self
            .tagged_ref_message(HOLD_REF_PREFIX, environment)
            .await?;
        Ok(message.map(|message| hold_view(message.as_deref().unwrap_or(""))))
    }

    /// The ref `{prefix}{environment}`: `None` when it does not exist, `Some(None)` when it
    /// points at something other than a tag object, else the tag's message. Locks and holds
    /// are both kept this way, so every instance reads them with one GET or two.
    async fn tagged_ref_message(
        &self,
        prefix: &str,
        environment: &str,
    ) -> Result<Option<Option<String>>, SourceError> {
        let reference: WireRef = match self
            .get_json(&format!(
                "{}/git/ref/{prefix}{}",
                self.repo_path,
                encode(environment)
            ))
            .await
        {
            Ok(reference) => reference,
            Err(SourceError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if reference.object.kind != "tag" {
            return Ok(Some(None));
        }
        let tag: WireTag = self
            .get_json(&format!(
                "{}/git/tags/{}",
                self.repo_path,
                encode(&clean_sha(&reference.object.sha))
            ))
            .await?;
        Ok(Some(Some(tag.message)))
    }

    /// Every deployment of exactly `sha` to `github_environment` (at most one page), newest
    /// first, each with its states.
    pub async fn deployments_at(
        &self,
        github_environment: &str,
        sha: &str,
    ) -> Result<Vec<DeploymentHistoryEntry>, SourceError> {
        let deployments: Vec<WireHistoryDeployment> = self
            .get_json(&format!(
                "{}/deployments?environment={}&sha={}&per_page={PER_PAGE}",
                self.repo_path,
                encode(github_environment),
                encode(sha)
            ))
            .await?;
        let mut found = Vec::with_capacity(deployments.len());
        for deployment in deployments {
            if !deployment.sha.eq_ignore_ascii_case(sha) {
                continue;
            }
            let statuses: Vec<WireDeploymentStatus> = self
                .get_json(&format!(
                    "{}/deployments/{}/statuses?per_page={PER_PAGE}",
                    self.repo_path, deployment.id
                ))
                .await?;
            found.push(history_entry(deployment, &statuses));
        }
        Ok(found)
    }

    /// The newest `limit` deployments of `github_environment`, newest first, each with its
    /// states.
    pub async fn deployment_history(
        &self,
        github_environment: &str,
        limit: usize,
    ) -> Result<Vec<DeploymentHistoryEntry>, SourceError> {
        let limit = limit.clamp(1, PER_PAGE);
        let deployments: Vec<WireHistoryDeployment> = self
            .get_json(&format!(
                "{}/deployments?environment={}&per_page={limit}",
                self.repo_path,
                encode(github_environment)
            ))
            .await?;
        let mut history = Vec::with_capacity(deployments.len().min(limit));
        for deployment in deployments.into_iter().take(limit) {
            let statuses: Vec<WireDeploymentStatus> = self
                .get_json(&format!(
                    "{}/deployments/{}/statuses?per_page={PER_PAGE}",
                    self.repo_path, deployment.id
                ))
                .await?;
            history.push(history_entry(deployment, &statuses));
        }
        Ok(history)
    }

    /// The logins whose latest review of the pull request approves it, sorted.
    pub async fn approving_reviewers(&self, pull_number: u64) -> Result<Vec<String>, SourceError> {
        let reviews: Vec<WireReview> = self
            .get_json(&format!(
                "{}/pulls/{pull_number}/reviews?per_page={PER_PAGE}",
                self.repo_path
            ))
            .await?;
        Ok(approvers(&reviews))
    }

    /// The login of the pull request's author (`None` when GitHub names no user, e.g. a
    /// deleted account).
    pub async fn pull_author(&self, pull_number: u64) -> Result<Option<String>, SourceError> {
        let pull: WirePull = self
            .get_json(&format!("{}/pulls/{pull_number}", self.repo_path))
            .await?;
        Ok(pull.user.and_then(|u| u.login).map(|l| login(&l)))
    }
}

/// A login as shipdeck compares and shows it.
fn login(raw: &str) -> String {
    sanitize(raw, 80)
}

/// A commit status state: `error` is a failure, `pending` has not finished.
fn commit_status(state: &str) -> RunStatus {
    match state {
        "success" => RunStatus::Passed,
        "failure" | "error" => RunStatus::Failed,
        "pending" => RunStatus::Running,
        _ => RunStatus::Unknown,
    }
}

fn comparison(wire: &WireComparison) -> Comparison {
    // GitHub lists the commits oldest first.
    let commits = wire
        .commits
        .iter()
        .rev()
        .take(COMPARISON_COMMITS)
        .map(|c| {
            let info = c.to_commit_info();
            CommitLine {
                sha: info.sha,
                subject: info.subject,
                author: info.author,
            }
        })
        .collect();
    Comparison {
        status: sanitize(&wire.status, 20),
        ahead_by: wire.ahead_by,
        behind_by: wire.behind_by,
        commits,
        total_commits: wire.total_commits.unwrap_or(wire.commits.len()),
        files: wire
            .files
            .iter()
            .map(|f| sanitize(&f.filename, 300))
            .collect(),
        files_truncated: wire.files.len() >= COMPARE_FILES_LIMIT,
    }
}

fn unknown_holder() -> LockView {
    LockView {
        holder: SafeText::new("unknown"),
        since: None,
        action_id: None,
    }
}

fn lock_view(message: &str) -> LockView {
    match serde_json::from_str::<LockMessage>(message.trim()) {
        Ok(lock) => LockView {
            holder: SafeText::with_max(&format!("{}@{}", lock.actor, lock.host), 120),
            since: Some(lock.at),
            action_id: Some(SafeText::with_max(&lock.action_id, 80)),
        },
        Err(_) => unknown_holder(),
    }
}

fn hold_view(message: &str) -> HoldView {
    match serde_json::from_str::<HoldMessage>(message.trim()) {
        Ok(hold) => HoldView {
            by: SafeText::with_max(&format!("{}@{}", hold.actor, hold.host), 120),
            reason: SafeText::with_max(&hold.reason, 200),
            since: Some(hold.at),
        },
        Err(_) => HoldView {
            by: SafeText::new("unknown"),
            reason: SafeText::new("a hold shipdeck cannot read"),
            since: None,
        },
    }
}

fn history_entry(
    deployment: WireHistoryDeployment,
    statuses: &[WireDeploymentStatus],
) -> DeploymentHistoryEntry {
    let mut states: Vec<(String, DateTime<Utc>)> = statuses
        .iter()
        .filter_map(|s| {
            let at = s.created_at.or(deployment.created_at)?;
            Some((state_word(&s.state), at))
        })
        .collect();
    // Newest first whatever order the answer used; equal times keep the answer's order.
    states.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
    DeploymentHistoryEntry {
        id: deployment.id,
        sha: clean_sha(&deployment.sha),
        created_at: deployment.created_at,
        creator: deployment
            .creator
            .and_then(|c| c.login)
            .map(|l| SafeText::with_max(&l, 80)),
        payload: deployment.payload,
        states,
    }
}

/// Deployment states are short lower-case words; anything else cannot pass for one.
fn state_word(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '_')
        .take(20)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Reviews come oldest first. A comment does not change a reviewer's verdict; a later
/// approval, change request or dismissal does.
fn approvers(reviews: &[WireReview]) -> Vec<String> {
    let mut verdicts: std::collections::BTreeMap<String, &str> = Default::default();
    for review in reviews {
        let Some(user) = review.user.as_ref().and_then(|u| u.login.as_deref()) else {
            continue;
        };
        match review.state.as_str() {
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                verdicts.insert(login(user), review.state.as_str());
            }
            _ => {}
        }
    }
    verdicts
        .into_iter()
        .filter(|(_, state)| *state == "APPROVED")
        .map(|(user, _)| user)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readable_lock_tag_names_its_holder() {
        let view = lock_view(
            r#"{"action_id":"act-7","actor":"mona","host":"laptop","kind":"promote","at":"2026-11-20T10:00:00Z"}"#,
        );
        assert_eq!(view.holder.as_str(), "mona@laptop");
        assert_eq!(view.action_id.unwrap().as_str(), "act-7");
        assert_eq!(
            view.since.unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        assert_eq!(lock_view("lock held by someone"), unknown_holder());
        let hostile = lock_view(
            r#"{"action_id":"a","actor":"\u001b]0;x\u0007eve","host":"h","kind":"promote","at":"2026-11-20T10:00:00Z"}"#,
        );
        assert_eq!(hostile.holder.as_str(), "]0;xeve@h");
    }

    #[test]
    fn a_readable_hold_tag_names_who_why_and_since() {
        let view = hold_view(
            r#"{"actor":"mona","host":"laptop","reason":"incident \u001b[31mINC-7","environment":"prod","at":"2026-11-20T10:00:00Z"}"#,
        );
        assert_eq!(view.by.as_str(), "mona@laptop");
        assert_eq!(view.reason.as_str(), "incident [31mINC-7");
        assert!(view.since.is_some());
        let unreadable = hold_view("held");
        assert_eq!(unreadable.by.as_str(), "unknown");
        assert_eq!(unreadable.since, None);
    }

    #[test]
    fn the_latest_verdict_per_reviewer_counts() {
        let review = |user: &str, state: &str| WireReview {
            user: Some(WireUser {
                login: Some(user.to_string()),
            }),
            state: state.to_string(),
        };
        let reviews = [
            review("ana", "APPROVED"),
            review("bo", "APPROVED"),
            review("bo", "CHANGES_REQUESTED"),
            review("ana", "COMMENTED"),
            review("cy", "CHANGES_REQUESTED"),
            review("cy", "APPROVED"),
            review("di", "APPROVED"),
            review("di", "DISMISSED"),
        ];
        assert_eq!(approvers(&reviews), vec!["ana", "cy"]);
    }

    #[test]
    fn commit_status_states_map_to_run_statuses() {
        assert_eq!(commit_status("success"), RunStatus::Passed);
        assert_eq!(commit_status("error"), RunStatus::Failed);
        assert_eq!(commit_status("failure"), RunStatus::Failed);
        assert_eq!(commit_status("pending"), RunStatus::Running);
        assert_eq!(commit_status("weird"), RunStatus::Unknown);
    }

    #[test]
    fn a_full_file_list_is_marked_truncated() {
        let wire = WireComparison {
            status: "ahead".to_string(),
            ahead_by: 1,
            behind_by: 0,
            total_commits: Some(1),
            commits: Vec::new(),
            files: (0..COMPARE_FILES_LIMIT)
                .map(|i| WireFile {
                    filename: format!("f{i}"),
                })
                .collect(),
        };
        assert!(comparison(&wire).files_truncated);
    }
}
