//! The immutable picture of the world that the engine publishes and the UI draws: per
//! environment, what is deployed, the pipeline of its branch head, smoke checks, error rate,
//! and how fresh each of those is.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AuditEntry, DeliveryFigures, ErrorSeries, GuardView, LogLine, PipelineState, ReleaseState,
    SafeText, TriageView, VerificationView,
};

/// A commit as the cockpit shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Full 40-hex SHA (checked where it enters).
    pub sha: String,
    /// First line of the message.
    pub subject: SafeText,
    /// Author name (or login when the name is missing).
    pub author: SafeText,
    /// Author or committer time.
    pub at: Option<DateTime<Utc>>,
}

impl CommitInfo {
    pub fn short_sha(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }
}

/// The state of a deployment as GitHub's deployment statuses report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    Queued,
    Pending,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
    #[default]
    Unknown,
}

impl DeployStatus {
    pub fn from_github(state: &str) -> Self {
        match state {
            "queued" => Self::Queued,
            "pending" => Self::Pending,
            "in_progress" => Self::InProgress,
            "success" => Self::Success,
            "failure" => Self::Failure,
            "error" => Self::Error,
            "inactive" => Self::Inactive,
            _ => Self::Unknown,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::InProgress => "deploying",
            Self::Success => "deployed",
            Self::Failure => "failed",
            Self::Error => "error",
            Self::Inactive => "inactive",
            Self::Unknown => "unknown",
        }
    }
}

/// One deployment record (the latest one of a GitHub deployment environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployState {
    pub deployment_id: u64,
    pub sha: String,
    pub status: DeployStatus,
    /// When the latest status was set (or the deployment created, without a status).
    pub at: Option<DateTime<Utc>>,
    pub creator: Option<SafeText>,
    pub description: Option<SafeText>,
}

/// One service of an environment: a GitHub deployment environment of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: SafeText,
    pub github_environment: SafeText,
    /// The latest deployment of this service, whatever its state.
    pub latest: Option<DeployState>,
    /// The latest deployment that reached `success`.
    pub last_success: Option<DeployState>,
    /// Commit details for `last_success.sha`, once fetched.
    pub commit: Option<CommitInfo>,
}

impl ServiceState {
    /// The SHA this service runs now (its last successful deployment).
    pub fn running_sha(&self) -> Option<&str> {
        self.last_success.as_ref().map(|d| d.sha.as_str())
    }
}

/// One smoke check's latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeResult {
    pub name: SafeText,
    pub ok: bool,
    pub latency_ms: Option<u64>,
    /// Why it failed (or a short note when it passed), sanitized.
    pub detail: SafeText,
    pub checked_at: DateTime<Utc>,
}

/// The outside systems a panel's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Deployments,
    Pipeline,
    Smoke,
    Errors,
    /// The deployment history behind the delivery figures (polled slowly).
    History,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Deployments,
        SourceKind::Pipeline,
        SourceKind::Smoke,
        SourceKind::Errors,
        SourceKind::History,
    ];
}

/// When a source last answered well, and its latest failure.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceHealth {
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<(DateTime<Utc>, SafeText)>,
    /// Consecutive failures since the last success.
    pub failures_in_a_row: u32,
}

impl SourceHealth {
    /// Seconds since the last success, measured against `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.last_success
            .map(|t| (now - t).to_std().unwrap_or(Duration::ZERO))
    }

    /// Stale: the latest attempt failed, or nothing ever succeeded.
    pub fn is_failing(&self) -> bool {
        self.failures_in_a_row > 0
    }
}

/// Per-source health of one environment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EnvironmentHealth {
    pub deployments: SourceHealth,
    pub pipeline: SourceHealth,
    pub smoke: SourceHealth,
    pub errors: SourceHealth,
    #[serde(default)]
    pub history: SourceHealth,
}

impl EnvironmentHealth {
    pub fn get(&self, kind: SourceKind) -> &SourceHealth {
        match kind {
            SourceKind::Deployments => &self.deployments,
            SourceKind::Pipeline => &self.pipeline,
            SourceKind::Smoke => &self.smoke,
            SourceKind::Errors => &self.errors,
            SourceKind::History => &self.history,
        }
    }

    pub fn get_mut(&mut self, kind: SourceKind) -> &mut SourceHealth {
        match kind {
            SourceKind::Deployments => &mut self.deployments,
            SourceKind::Pipeline => &mut self.pipeline,
            SourceKind::Smoke => &mut self.smoke,
            SourceKind::Errors => &mut self.errors,
            SourceKind::History => &mut self.history,
        }
    }
}

/// Everything known about one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentSnapshot {
    pub name: SafeText,
    pub branch: SafeText,
    pub url: SafeText,
    /// The head commit of the branch.
    pub head: Option<CommitInfo>,
    /// One entry per service (a single entry when the environment has no service list).
    pub services: Vec<ServiceState>,
    /// The pipeline of the branch head.
    pub pipeline: Option<PipelineState>,
    /// Latest result of each configured smoke check, in configured order.
    pub smoke: Vec<SmokeResult>,
    pub errors: ErrorSeries,
    pub health: EnvironmentHealth,
    /// Gates of the next promotion and of a rollback, the lock, an action in flight.
    #[serde(default)]
    pub release: ReleaseState,
    /// The verification of the running deploy, where this environment is verified.
    #[serde(default)]
    pub verification: Option<VerificationView>,
    /// What the guard did about failed verifications here.
    #[serde(default)]
    pub guard: GuardView,
    /// What the failed jobs of the branch head's CI run are, and what to do about them.
    #[serde(default)]
    pub triage: Option<TriageView>,
    /// Delivery figures (DORA) from the deployment history, once it was read.
    #[serde(default)]
    pub delivery: Option<DeliveryFigures>,
}

impl EnvironmentSnapshot {
    /// The commit the environment runs: its first service's last successful deployment.
    pub fn deployed(&self) -> Option<&CommitInfo> {
        self.services.first().and_then(|s| s.commit.as_ref())
    }

    /// Services whose running SHA differs from the first service's.
    pub fn lagging_services(&self) -> Vec<&ServiceState> {
        let Some(reference) = self.services.first().and_then(|s| s.running_sha()) else {
            return Vec::new();
        };
        self.services
            .iter()
            .skip(1)
            .filter(|s| s.running_sha() != Some(reference))
            .collect()
    }
}

/// GitHub's rate-limit figures from the latest answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub reset: DateTime<Utc>,
}

/// The whole picture at one moment. Published behind an `Arc`; never mutated once sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases with every published change.
    pub version: u64,
    /// World time when this snapshot was made.
    pub taken_at: DateTime<Utc>,
    pub environments: Vec<EnvironmentSnapshot>,
    pub rate_limit: Option<RateLimit>,
    /// Label of the setup: the repository, or "demo sandbox".
    pub title: SafeText,
    /// The newest lines of the action log, oldest first (bounded).
    #[serde(default)]
    pub log: Vec<LogLine>,
    /// The newest audit records, oldest first (bounded).
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
}
