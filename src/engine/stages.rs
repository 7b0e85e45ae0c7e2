//! Stage mapping: a run's jobs grouped into the configured pipeline stages. A job belongs to
//! the first stage with a matching name pattern (`*` and `?`, case-insensitive); jobs that
//! match none are kept apart as unmapped, never dropped.

use chrono::{DateTime, Utc};

use crate::config::StageConfig;
use crate::model::{JobState, RunStatus, SafeText, StageState};

/// The stages in configured order, and the jobs no stage claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMapping {
    pub stages: Vec<StageState>,
    pub unmapped: Vec<JobState>,
}

/// Groups `jobs` into `stages`. `run_finished` decides what an empty stage means: still
/// queued while the run goes on, skipped once it is over.
pub fn map_jobs_to_stages(
    stages: &[StageConfig],
    jobs: &[JobState],
    run_finished: bool,
) -> StageMapping {
    let mut grouped: Vec<Vec<JobState>> = vec![Vec::new(); stages.len()];
    let mut unmapped = Vec::new();
    for job in jobs {
        let stage = stages.iter().position(|stage| {
            stage
                .jobs
                .iter()
                .any(|pattern| glob_matches(pattern, job.name.as_str()))
        });
        match stage {
            Some(index) => grouped[index].push(job.clone()),
            None => unmapped.push(job.clone()),
        }
    }
    let stages = stages
        .iter()
        .zip(grouped)
        .map(|(config, jobs)| StageState {
            name: SafeText::with_max(config.name.get_ref(), 60),
            status: stage_status(&jobs, run_finished),
            started_at: jobs.iter().filter_map(|j| j.started_at).min(),
            completed_at: completed_at(&jobs),
            target: config.target.get(),
            jobs,
        })
        .collect();
    StageMapping { stages, unmapped }
}

/// A stage's status from its jobs: any failed -> failed; any running -> running; all finished
/// and all skipped -> skipped; all finished -> passed; some finished, others waiting ->
/// running; none started -> queued; no jobs at all -> queued while the run is unfinished,
/// skipped after.
pub fn stage_status(jobs: &[JobState], run_finished: bool) -> RunStatus {
    if jobs.is_empty() {
        return if run_finished {
            RunStatus::Skipped
        } else {
            RunStatus::Queued
        };
    }
    if jobs.iter().any(|j| j.status == RunStatus::Failed) {
        return RunStatus::Failed;
    }
    if jobs.iter().any(|j| j.status == RunStatus::Running) {
        return RunStatus::Running;
    }
    if jobs.iter().all(|j| j.status.is_finished()) {
        return if jobs.iter().all(|j| j.status == RunStatus::Skipped) {
            RunStatus::Skipped
        } else {
            RunStatus::Passed
        };
    }
    if jobs.iter().any(|j| j.status.is_finished()) {
        RunStatus::Running
    } else {
        RunStatus::Queued
    }
}

/// The last completion, once every job has completed.
fn completed_at(jobs: &[JobState]) -> Option<DateTime<Utc>> {
    if jobs.is_empty() || !jobs.iter().all(|j| j.status.is_finished()) {
        return None;
    }
    jobs.iter()
        .map(|j| j.completed_at)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()
}

/// Whether `name` matches `pattern`: `*` any run of characters, `?` one character, all else
/// literal; case-insensitive.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::defaults;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(secs)
    }

    fn job(name: &str, status: RunStatus, start: Option<i64>, end: Option<i64>) -> JobState {
        JobState {
            id: 1,
            name: SafeText::new(name),
            status,
            started_at: start.map(t),
            completed_at: end.map(t),
            html_url: None,
            steps: Vec::new(),
        }
    }

    #[test]
    fn globs_match_case_insensitively() {
        assert!(glob_matches("lint*", "Lint (eslint)"));
        assert!(glob_matches("unit?", "UNIT3"));
        assert!(glob_matches("*e2e*", "run e2e tests"));
        assert!(!glob_matches("unit?", "unit"));
        assert!(!glob_matches("lint", "lint-extra"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn jobs_go_to_the_first_matching_stage_and_strays_are_kept() {
        let jobs = vec![
            job("install deps", RunStatus::Passed, Some(0), Some(20)),
            job("lint", RunStatus::Running, Some(21), None),
            job("format", RunStatus::Passed, Some(21), Some(30)),
            job("deploy-preview", RunStatus::Queued, None, None),
        ];
        let mapping = map_jobs_to_stages(&defaults::stages(), &jobs, false);
        assert_eq!(mapping.stages.len(), 7);
        assert_eq!(mapping.stages[0].status, RunStatus::Passed);
        assert_eq!(mapping.stages[0].completed_at, Some(t(20)));
        assert_eq!(mapping.stages[1].jobs.len(), 2);
        assert_eq!(mapping.stages[1].status, RunStatus::Running);
        assert_eq!(mapping.stages[1].started_at, Some(t(21)));
        assert_eq!(mapping.stages[1].completed_at, None);
        assert_eq!(mapping.stages[2].status, RunStatus::Queued);
        assert_eq!(mapping.unmapped.len(), 1);
        assert_eq!(mapping.unmapped[0].name.as_str(), "deploy-preview");
    }

    #[test]
    fn stage_status_rules() {
        use RunStatus::*;
        let s = |statuses: &[RunStatus], finished: bool| {
            let jobs: Vec<JobState> = statuses
                .iter()
                .map(|&st| job("x", st, None, None))
                .collect();
            stage_status(&jobs, finished)
        };
        assert_eq!(s(&[Passed, Failed, Running], false), Failed);
        assert_eq!(s(&[Passed, Running], false), Running);
        assert_eq!(s(&[Skipped, Skipped], true), Skipped);
        assert_eq!(s(&[Skipped, Passed], true), Passed);
        assert_eq!(s(&[Passed, Queued], false), Running);
        assert_eq!(s(&[Queued], false), Queued);
        assert_eq!(s(&[], false), Queued);
        assert_eq!(s(&[], true), Skipped);
    }

    proptest! {
        #[test]
        fn every_job_lands_exactly_once(
            names in proptest::collection::vec("[a-zA-Z0-9 _-]{0,12}", 0..20),
            statuses in proptest::collection::vec(crate::model::pipeline::any_run_status(), 20),
            finished in any::<bool>(),
        ) {
            let jobs: Vec<JobState> = names
                .iter()
                .zip(&statuses)
                .map(|(n, &s)| job(n, s, Some(0), Some(5)))
                .collect();
            let mapping = map_jobs_to_stages(&defaults::stages(), &jobs, finished);
            let placed: usize =
                mapping.stages.iter().map(|s| s.jobs.len()).sum::<usize>() + mapping.unmapped.len();
            prop_assert_eq!(placed, jobs.len());
            for stage in &mapping.stages {
                if stage.jobs.iter().any(|j| j.status == RunStatus::Failed) {
                    prop_assert_eq!(stage.status, RunStatus::Failed);
                }
                if stage.completed_at.is_some() {
                    prop_assert!(stage.status.is_finished());
                }
            }
        }

        #[test]
        fn a_star_pattern_matches_its_own_literal_prefix(prefix in "[a-z]{0,8}", rest in ".{0,8}") {
            let pattern = format!("{prefix}*");
            let name = format!("{}{rest}", prefix.to_uppercase());
            prop_assert!(glob_matches(&pattern, &name));
        }
    }
}
