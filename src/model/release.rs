//! What the release side shows: gate verdicts, the next promotion and rollback each
//! environment could make, a promotion or rollback in flight step by step, the lock, and the
//! lines of the action log and the audit trail. Plain data: the engine fills it in, the UI
//! and `status --json` read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SafeText;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateState {
    Pass,
    Fail,
    /// Not known (data missing or stale); blocks like a failure.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    CiGreen,
    SourceDeployed,
    SourceSmoke,
    Soak,
    Freeze,
    HighRisk,
    Review,
    Lock,
    /// The target branch can move forward to the candidate (no commits only it has).
    FastForward,
    /// Rollback only: the commit rolled back to exists and was once deployed successfully.
    RollbackTarget,
    /// Every required item of the environment's release checklist is ticked.
    Checklist,
}

/// One gate's verdict and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub kind: GateKind,
    pub state: GateState,
    pub measured: SafeText,
    pub threshold: SafeText,
    pub reason: SafeText,
    /// The gate passes, but the action must be confirmed a second time (high-risk files).
    pub needs_confirmation: bool,
}

impl Gate {
    pub fn new(
        kind: GateKind,
        state: GateState,
        measured: &str,
        threshold: &str,
        reason: &str,
    ) -> Self {
        Self {
            kind,
            state,
            measured: SafeText::new(measured),
            threshold: SafeText::new(threshold),
            reason: SafeText::new(reason),
            needs_confirmation: false,
        }
    }
}

/// Every gate of one promotion or rollback.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GateReport {
    pub gates: Vec<Gate>,
}

impl GateReport {
    /// Whether every gate passes.
    pub fn allowed(&self) -> bool {
        self.gates.iter().all(|g| g.state == GateState::Pass)
    }

    /// The gates that fail or are unknown.
    pub fn blocking(&self) -> Vec<&Gate> {
        self.gates
            .iter()
            .filter(|g| g.state != GateState::Pass)
            .collect()
    }

    /// Whether the action needs a second confirmation even though it is allowed.
    pub fn needs_confirmation(&self) -> bool {
        self.gates.iter().any(|g| g.needs_confirmation)
    }

    pub fn gate(&self, kind: GateKind) -> Option<&Gate> {
        self.gates.iter().find(|g| g.kind == kind)
    }

    /// The blocking gates in one line, "Lock: held by ana; Target: ...".
    pub fn summary(&self) -> String {
        let blocking: Vec<String> = self
            .blocking()
            .iter()
            .map(|g| format!("{}: {}", g.kind.label(), g.reason))
            .collect();
        if blocking.is_empty() {
            "every gate passes".to_string()
        } else {
            blocking.join("; ")
        }
    }
}

impl GateKind {
    /// How a captain calls the gate.
    pub fn label(self) -> &'static str {
        match self {
            GateKind::CiGreen => "CI green",
            GateKind::SourceDeployed => "source deployed",
            GateKind::SourceSmoke => "source smoke",
            GateKind::Soak => "soak",
            GateKind::Freeze => "freeze",
            GateKind::HighRisk => "high-risk files",
            GateKind::Review => "review",
            GateKind::Lock => "lock",
            GateKind::FastForward => "fast-forward",
            GateKind::RollbackTarget => "rollback target",
            GateKind::Checklist => "checklist",
        }
    }
}

impl GateState {
    pub fn word(self) -> &'static str {
        match self {
            GateState::Pass => "pass",
            GateState::Fail => "fail",
            GateState::Unknown => "unknown",
        }
    }
}

/// Promote (move forward into an environment) or roll back (move an environment back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Promote,
    Rollback,
}

impl ActionKind {
    pub fn word(self) -> &'static str {
        match self {
            ActionKind::Promote => "promote",
            ActionKind::Rollback => "rollback",
        }
    }
}

/// One commit in a preview (between the target's commit and the candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitLine {
    pub sha: String,
    pub subject: SafeText,
    pub author: SafeText,
}

/// What pressing the key would do now, and whether the gates allow it: the engine keeps one
/// of these per environment, for the promotion into it and for its rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionPreview {
    pub kind: ActionKind,
    /// The environment that changes.
    pub target: SafeText,
    /// Where the commit comes from (promotions only).
    pub source: Option<SafeText>,
    /// The commit that would be deployed (`None`: no candidate known; the gates say why).
    pub sha: Option<String>,
    pub subject: Option<SafeText>,
    /// The commit the target runs now.
    pub from_sha: Option<String>,
    /// Commits between `from_sha` and `sha`, newest first (capped; see `more_commits`).
    pub commits: Vec<CommitLine>,
    pub more_commits: usize,
    /// Changed files matching the high-risk globs.
    pub high_risk_files: Vec<SafeText>,
    /// The target's release checklist, for the confirmation to list and tick (promotions).
    #[serde(default)]
    pub checklist: Vec<super::ChecklistItem>,
    pub gates: GateReport,
    /// The freeze in force and when promotions open again, in words (promotions only).
    pub freeze_note: Option<SafeText>,
    /// When the facts were gathered (world time).
    pub evaluated_at: DateTime<Utc>,
    /// The version of the snapshot the gates were judged on: what the sources had said by
    /// then.
    #[serde(default)]
    pub snapshot_version: u64,
}

impl ActionPreview {
    pub fn allowed(&self) -> bool {
        self.sha.is_some() && self.gates.allowed()
    }
}

/// Who holds an environment's promotion lock, as read from GitHub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockView {
    pub holder: SafeText,
    pub since: Option<DateTime<Utc>>,
    pub action_id: Option<SafeText>,
}

/// A step of a promotion or rollback as shown while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStepState {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    pub name: SafeText,
    pub state: ActionStepState,
    pub detail: Option<SafeText>,
}

/// How an action ended (`None` while it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    Succeeded,
    Failed,
    Blocked,
}

impl ActionResult {
    pub fn word(self) -> &'static str {
        match self {
            ActionResult::Succeeded => "succeeded",
            ActionResult::Failed => "failed",
            ActionResult::Blocked => "blocked",
        }
    }
}

/// A promotion or rollback in flight (or just ended) in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionProgress {
    pub id: SafeText,
    pub kind: ActionKind,
    pub target: SafeText,
    pub sha: String,
    pub from_sha: Option<String>,
    pub actor: SafeText,
    pub started_at: DateTime<Utc>,
    pub steps: Vec<StepLine>,
    pub result: Option<ActionResult>,
    pub reason: Option<SafeText>,
}

/// One line of the action log (what the engine did, and what a command printed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub environment: Option<SafeText>,
    pub text: SafeText,
    pub error: bool,
}

/// One record of the audit log: who did what, when, from which commit to which, the result
/// and why; overrides included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub action_id: SafeText,
    /// `promote`, `rollback`, `break_lock`, `auto_rollback`, ...
    pub event: SafeText,
    pub actor: SafeText,
    pub environment: SafeText,
    pub from_sha: Option<String>,
    pub to_sha: Option<String>,
    /// `started`, `succeeded`, `failed`, `blocked`, `interrupted`, ...
    pub result: SafeText,
    pub reason: Option<SafeText>,
    /// Overrides used, e.g. `freeze: "hotfix for INC-42"`.
    #[serde(default)]
    pub overrides: Vec<SafeText>,
}

/// The release side of one environment, as the engine last saw it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReleaseState {
    /// The promotion into this environment (absent when nothing is promoted into it).
    pub promotion: Option<ActionPreview>,
    /// Rolling this environment back to its previous good deployment.
    pub rollback: Option<ActionPreview>,
    pub lock: Option<LockView>,
    /// The action running now, or the last one that ended.
    pub activity: Option<ActionProgress>,
    /// Changing this environment needs its name typed in the confirmation (production).
    pub confirm_by_name: bool,
    /// What auto-promotion does here (absent: the environment does not promote by itself).
    #[serde(default)]
    pub auto: Option<super::AutoDecision>,
}
