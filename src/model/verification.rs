//! What the screen and `status --json` show of a deploy under verification: the window, each
//! signal with its measured value, baseline, threshold and verdict, and what the guard did
//! about a failure (rolled back, alerted, escalated), with the notifications it sent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SafeText;

/// Where the verification of the running deploy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationPhase {
    /// A new deploy is on its way; the window starts when it succeeds.
    Deploying,
    /// The window is open and nothing failed.
    Verifying,
    /// The window elapsed, nothing failed, and at least one signal judged the deploy.
    Verified,
    /// A signal failed: the deploy is bad.
    Failed,
    /// The window elapsed and no signal had enough data to judge the deploy.
    NotEnoughData,
}

impl VerificationPhase {
    pub fn word(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Verifying => "verifying",
            Self::Verified => "verified",
            Self::Failed => "FAILED",
            Self::NotEnoughData => "not enough data",
        }
    }
}

/// One signal's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalState {
    Pass,
    Fail,
    NotEnoughData,
}

impl SignalState {
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::NotEnoughData => "not enough data",
        }
    }
}

/// One signal of the verification, in the words the screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalLine {
    /// `error rate`, `new error types`, `latency`, `burn rate`.
    pub signal: SafeText,
    pub state: SignalState,
    /// What was measured since the deploy, e.g. "31.0/min (+204%)".
    pub measured: SafeText,
    /// What it is held against, e.g. "10.2/min over 30 min"; empty when nothing is.
    pub baseline: SafeText,
    /// When it fails, e.g. "above +50%".
    pub threshold: SafeText,
    /// The rule's own explanation.
    pub reason: SafeText,
}

/// The verification of the deploy an environment runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationView {
    pub sha: String,
    pub deployment_id: u64,
    pub deployed_at: DateTime<Utc>,
    pub window_ends: DateTime<Utc>,
    pub phase: VerificationPhase,
    pub signals: Vec<SignalLine>,
    /// One line: why it failed, or where it stands.
    pub reason: SafeText,
    /// A failure rolls back by itself; otherwise it alerts and waits for the captain.
    pub auto_rollback: bool,
    /// Errors per minute before the deploy, for the chart's baseline line.
    pub baseline_per_minute: Option<f64>,
    /// The error watch after the window (`[environment.verify] watch`); `None` when none
    /// is set or the deploy is still on its way.
    #[serde(default)]
    pub watch: Option<WatchView>,
}

/// The long watch after a deploy's window: until `ends`, every new error type first seen
/// after the window that reaches the new-type count is a finding, told once to the
/// notifiers. It never rolls back by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchView {
    /// Deploy time plus the watch.
    pub ends: DateTime<Utc>,
    /// The new error types found after the window, oldest first.
    pub findings: Vec<WatchFinding>,
}

impl WatchView {
    /// Whether the watch is on at `now`: the window has passed and the watch has not ended.
    pub fn is_on(&self, window_ends: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now >= window_ends && now < self.ends
    }

    /// Time left in the watch at `now` (zero once it ended).
    pub fn time_left(&self, now: DateTime<Utc>) -> std::time::Duration {
        (self.ends - now)
            .to_std()
            .unwrap_or(std::time::Duration::ZERO)
    }

    /// "35h 12m": the time left at `now` in hours and minutes.
    pub fn left_words(&self, now: DateTime<Utc>) -> String {
        let minutes = self.time_left(now).as_secs() / 60;
        match minutes / 60 {
            0 => format!("{minutes}m"),
            hours => format!("{hours}h {:02}m", minutes % 60),
        }
    }
}

/// One new error type the watch found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchFinding {
    /// The Sentry issue's id.
    pub id: SafeText,
    pub title: SafeText,
    pub first_seen: DateTime<Utc>,
    /// Events so far.
    pub count: u64,
}

impl WatchFinding {
    /// "new error type 36h after deploy a1b2c3d: TypeError: ... (42 events)", for the
    /// deploy of `sha` at `deployed_at`.
    pub fn headline(&self, deployed_at: DateTime<Utc>, sha: &str) -> String {
        let after = (self.first_seen - deployed_at).max(chrono::TimeDelta::zero());
        let after = if after.num_hours() >= 1 {
            format!("{}h", after.num_hours())
        } else {
            format!("{}m", after.num_minutes())
        };
        let plural = if self.count == 1 { "" } else { "s" };
        format!(
            "new error type {after} after deploy {}: {} ({} event{plural})",
            sha.get(..7).unwrap_or(sha),
            self.title,
            self.count
        )
    }
}

impl VerificationView {
    /// Time left in the window at `now` (zero once it elapsed).
    pub fn time_left(&self, now: DateTime<Utc>) -> std::time::Duration {
        (self.window_ends - now)
            .to_std()
            .unwrap_or(std::time::Duration::ZERO)
    }
}

/// What the guard did about the latest failed verification of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GuardView {
    /// Automatic rollbacks in a row without a verified deploy between them.
    pub rollbacks_in_a_row: u32,
    pub max_rollbacks: u32,
    /// The cap was reached: shipdeck stopped rolling back by itself and escalated.
    pub escalated: bool,
    /// The latest decision in words, e.g. "rolled back a1b2c3d to 9f8e7d6: error rate ...".
    pub last: Option<GuardEvent>,
    /// How each notifier fared with the latest notice.
    #[serde(default)]
    pub deliveries: Vec<DeliveryLine>,
    /// The GitHub issue filed for the latest automatic rollback.
    pub issue: Option<SafeText>,
}

/// One decision of the guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvent {
    pub at: DateTime<Utc>,
    /// `rolling_back`, `rolled_back`, `rollback_failed`, `rollback_blocked`, `alerted`,
    /// `escalated`, `watch_alerted` (the error watch told a finding).
    pub kind: SafeText,
    /// The bad deploy's commit.
    pub sha: String,
    /// The commit rolled back to, once known.
    pub to_sha: Option<String>,
    pub reason: SafeText,
}

/// How one notifier took a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub target: SafeText,
    pub ok: bool,
    pub attempts: u32,
    pub error: Option<SafeText>,
}
