//! A CI pipeline as shipdeck shows it: one workflow run of a branch head, its jobs grouped
//! into the configured stages, each with a status and a target time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SafeText;

/// The state of a stage, job, step or whole run, in shipdeck's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Passed,
    Failed,
    Skipped,
    #[default]
    Unknown,
}

impl RunStatus {
    /// The lower-case word used on screen and in `status --json`.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
            RunStatus::Unknown => "unknown",
        }
    }

    /// Maps GitHub's `status` + `conclusion` pair (runs, jobs and steps share them).
    pub fn from_github(status: Option<&str>, conclusion: Option<&str>) -> Self {
        match status {
            Some("completed") => match conclusion {
                Some("success") => RunStatus::Passed,
                Some("skipped") | Some("neutral") => RunStatus::Skipped,
                Some("failure")
                | Some("timed_out")
                | Some("cancelled")
                | Some("action_required")
                | Some("startup_failure")
                | Some("stale") => RunStatus::Failed,
                _ => RunStatus::Unknown,
            },
            Some("in_progress") => RunStatus::Running,
            Some("queued") | Some("waiting") | Some("requested") | Some("pending") => {
                RunStatus::Queued
            }
            _ => RunStatus::Unknown,
        }
    }

    /// Whether nothing more will happen to this item.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Passed | RunStatus::Failed | RunStatus::Skipped
        )
    }
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub number: u64,
    pub name: SafeText,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One job of a workflow run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub id: u64,
    pub name: SafeText,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub html_url: Option<SafeText>,
    pub steps: Vec<StepState>,
}

/// One configured stage with the jobs that were mapped to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub name: SafeText,
    pub status: RunStatus,
    /// When the first of its jobs started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last of its jobs completed (only once all have).
    pub completed_at: Option<DateTime<Utc>>,
    pub target: Duration,
    pub jobs: Vec<JobState>,
}

impl StageState {
    /// Time spent so far (running) or in all (finished), measured against `now`.
    pub fn elapsed(&self, now: DateTime<Utc>) -> Option<Duration> {
        elapsed_between(self.started_at, self.completed_at, now)
    }
}

/// The latest workflow run for a branch head, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    pub run_id: u64,
    pub run_number: u64,
    pub run_attempt: u64,
    pub sha: String,
    pub status: RunStatus,
    pub html_url: Option<SafeText>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub stages: Vec<StageState>,
    /// Jobs that matched no configured stage (shown in details, never silently dropped).
    pub unmapped_jobs: Vec<JobState>,
    pub total_target: Duration,
    pub alarm_after: Duration,
}

impl PipelineState {
    pub fn elapsed(&self, now: DateTime<Utc>) -> Option<Duration> {
        elapsed_between(self.started_at, self.completed_at, now)
    }

    /// When the run went red: its first failed stage's end, else its first failed job's,
    /// else the run's own end. Meaningful only for a run that failed.
    pub fn red_since(&self) -> Option<DateTime<Utc>> {
        let from_stages = self
            .stages
            .iter()
            .filter(|stage| stage.status == RunStatus::Failed)
            .filter_map(|stage| stage.completed_at)
            .min();
        let from_jobs = || {
            self.jobs()
                .filter(|job| job.status == RunStatus::Failed)
                .filter_map(|job| job.completed_at)
                .min()
        };
        from_stages.or_else(from_jobs).or(self.completed_at)
    }

    /// Every job of the run, stage by stage, then the jobs no stage took.
    pub fn jobs(&self) -> impl Iterator<Item = &JobState> {
        self.stages
            .iter()
            .flat_map(|stage| stage.jobs.iter())
            .chain(self.unmapped_jobs.iter())
    }
}

/// `completed - started`, or `now - started` while running; never negative.
pub fn elapsed_between(
    started: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let start = started?;
    let end = completed.unwrap_or(now);
    Some((end - start).to_std().unwrap_or(Duration::ZERO))
}

/// Property-test strategy over every [`RunStatus`], shared by the tests of the decisions
/// that take statuses as input.
#[cfg(test)]
pub(crate) fn any_run_status() -> impl proptest::strategy::Strategy<Value = RunStatus> {
    use proptest::prelude::*;
    prop_oneof![
        Just(RunStatus::Queued),
        Just(RunStatus::Running),
        Just(RunStatus::Passed),
        Just(RunStatus::Failed),
        Just(RunStatus::Skipped),
        Just(RunStatus::Unknown),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_pairs_map_to_words() {
        assert_eq!(
            RunStatus::from_github(Some("completed"), Some("success")),
            RunStatus::Passed
        );
        assert_eq!(
            RunStatus::from_github(Some("completed"), Some("failure")),
            RunStatus::Failed
        );
        assert_eq!(
            RunStatus::from_github(Some("completed"), Some("skipped")),
            RunStatus::Skipped
        );
        assert_eq!(
            RunStatus::from_github(Some("in_progress"), None),
            RunStatus::Running
        );
        assert_eq!(
            RunStatus::from_github(Some("queued"), None),
            RunStatus::Queued
        );
        assert_eq!(
            RunStatus::from_github(Some("weird"), None),
            RunStatus::Unknown
        );
        assert_eq!(RunStatus::from_github(None, None), RunStatus::Unknown);
    }

    #[test]
    fn elapsed_is_never_negative() {
        let now = Utc::now();
        let later = now + chrono::TimeDelta::seconds(5);
        assert_eq!(
            elapsed_between(Some(later), None, now),
            Some(Duration::ZERO)
        );
        assert_eq!(elapsed_between(None, None, now), None);
    }
}
