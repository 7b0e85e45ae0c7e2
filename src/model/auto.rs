//! Auto-promotion as the screen and `status --json` see it: who holds it, and what the engine
//! decided about the candidate of an environment that promotes by itself. Plain data: the
//! engine fills it in (see `engine::auto_promote`), the UI reads it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SafeText;

/// A hold on an environment's auto-promotion, as read from GitHub (so every instance sees
/// the same one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldView {
    /// Who set it (`actor@host`).
    pub by: SafeText,
    pub reason: SafeText,
    pub since: Option<DateTime<Utc>>,
}

/// What auto-promotion does about the environment's candidate now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AutoDecision {
    /// Every gate passes and nothing was tried for this commit yet: promote it.
    Promote { sha: String },
    /// An auto-promotion of this commit runs now.
    Promoting { sha: String },
    /// Not yet: the gates that still block (`label: reason`) and, when the soak is one of
    /// them, when it ends.
    Wait {
        sha: Option<String>,
        waiting_for: Vec<SafeText>,
        soak_until: Option<DateTime<Utc>>,
    },
    /// Only a person can take this one further (a freeze to override, high-risk files to
    /// confirm).
    NeedsHuman { sha: String, reason: SafeText },
    /// Someone held auto-promotion here.
    Held { hold: HoldView },
    /// This commit was promoted into the environment before (by anyone): it is not tried
    /// again by itself.
    AlreadyTried { sha: String, outcome: SafeText },
}

impl AutoDecision {
    /// The commit the decision is about, when there is one.
    pub fn sha(&self) -> Option<&str> {
        match self {
            AutoDecision::Promote { sha }
            | AutoDecision::Promoting { sha }
            | AutoDecision::NeedsHuman { sha, .. }
            | AutoDecision::AlreadyTried { sha, .. } => Some(sha),
            AutoDecision::Wait { sha, .. } => sha.as_deref(),
            AutoDecision::Held { .. } => None,
        }
    }

    pub fn hold(&self) -> Option<&HoldView> {
        match self {
            AutoDecision::Held { hold } => Some(hold),
            _ => None,
        }
    }
}
