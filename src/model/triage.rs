//! What shipdeck made of an environment's failed CI run: one diagnosis per failed job of the
//! latest attempt, the jobs that turned out flaky, whether `R` (re-run the failed jobs) is
//! offered and why not, and the issue filed for a tier-3 failure. The engine's triage task
//! keeps one of these per environment; the screen and `status --json` show it.

use serde::{Deserialize, Serialize};

use super::SafeText;
use super::diagnosis::Diagnosis;

/// Whether re-running the failed jobs is offered, in words for the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RerunOffer {
    /// `R` re-runs the failed jobs; `left` more cycles before shipdeck escalates.
    Offered { left: u32 },
    /// A re-run was asked for and GitHub has not started it yet.
    Requested,
    /// The re-run (attempt `attempt`) is running the jobs that failed before.
    Rerunning { attempt: u32, jobs: Vec<SafeText> },
    /// Re-running would not help: the failure is not tier 1.
    NotHelpful { why: SafeText },
    /// The run was re-run as often as allowed: a person has to look.
    Exhausted { attempts: u32 },
    /// Nothing to decide yet (logs still being read) or nothing failed.
    None,
}

impl RerunOffer {
    /// One line for the screen.
    pub fn describe(&self) -> String {
        match self {
            RerunOffer::Offered { left } => format!(
                "R re-runs the failed jobs ({left} re-run{} left)",
                if *left == 1 { "" } else { "s" }
            ),
            RerunOffer::Requested => "re-run requested".to_string(),
            RerunOffer::Rerunning { attempt, jobs } => {
                let names: Vec<&str> = jobs.iter().map(SafeText::as_str).collect();
                format!("re-running (attempt {attempt}): {}", names.join(", "))
            }
            RerunOffer::NotHelpful { why } => format!("no re-run: {why}"),
            RerunOffer::Exhausted { attempts } => {
                format!("escalated: failed after {attempts} attempts, re-runs stop here")
            }
            RerunOffer::None => String::new(),
        }
    }
}

/// The triage of one environment's latest CI run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageView {
    pub run_id: u64,
    pub run_attempt: u32,
    pub sha: String,
    /// The failed jobs of the latest attempt, most severe first.
    pub failures: Vec<Diagnosis>,
    /// Jobs that failed in an earlier attempt and passed on re-run.
    pub flaky: Vec<SafeText>,
    /// Failed jobs whose logs are still being read.
    pub reading: u32,
    /// A log that could not be read, and why (the diagnosis waits for the next try).
    pub log_error: Option<SafeText>,
    pub rerun: RerunOffer,
    /// The issue filed for a tier-3 failure.
    pub issue: Option<SafeText>,
}

impl TriageView {
    /// The most severe diagnosis, the one the column shows.
    pub fn worst(&self) -> Option<&Diagnosis> {
        self.failures.first()
    }
}
