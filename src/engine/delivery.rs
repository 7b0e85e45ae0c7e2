//! The delivery figures (DORA's four, plus rollbacks) as one pure function over an
//! environment's deployment history: [`figures`]. The definitions, precisely:
//!
//! - Deployments are taken in creation order. One belongs to the window when it was created at
//!   or after `since` (a deployment "from the future", by clock skew, counts).
//! - A deployment is a **rollback** when its payload says so (`"kind": "rollback"`), or when
//!   it deploys another commit than the previous successful deployment and either that commit
//!   already ran here successfully before (it goes back), or its committer time is older than
//!   the previous successful deployment's commit (it goes back in history). A redeploy of the
//!   running commit is not a rollback. Every other deployment is a **deploy attempt**.
//! - **Deployment frequency**: successful deploy attempts in the window (`deploys`) per day of
//!   the span from `since` to now.
//! - **Lead time for changes**: for the first successful deploy attempt of each commit, its
//!   success time minus the commit's author time, never below zero (a clock ahead of the
//!   deploy's is skew, not time travel); median and 90th percentile (nearest rank). Only the
//!   deployed (head) commit is measured: commits that came in between would need a compare
//!   per deploy. Rollbacks and redeploys of a commit are not changes.
//! - **Change failure rate**: (failed attempts + successful attempts later replaced by a
//!   rollback) / attempts that ended (succeeded or failed). Attempts still pending are left
//!   out of both sides. The deploy a rollback replaces is the previous successful deployment;
//!   when that was itself a rollback, the original deploy of that commit.
//! - **Time to restore**: a failure starts at a failed attempt's failure, or at the success
//!   of an attempt later rolled back; it ends at the next success of any deployment (a
//!   rollback or a fix). Failures that start before the end of an open one belong to it, so
//!   two failed attempts in a row are one failure. Median over failures that started in the
//!   window and ended; one still open is reported as `restoring_since`.
//! - **Rollbacks**: rollback deployments created in the window, whatever their outcome.
//! - The window is `window_days` long; when the history was cut short (one page of
//!   deployments, and its oldest is inside the window) the figures start at the oldest
//!   deployment read and say they are not complete.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use crate::model::{DeliveryFigures, DeliveryHistory, DeliveryRecord};

/// The figures of `history` over the `window_days` days before `now`.
pub fn figures(history: &DeliveryHistory, now: DateTime<Utc>, window_days: u32) -> DeliveryFigures {
    // Whole seconds, like every time GitHub reports.
    let now = now.trunc_subsecs(0);
    let mut records: Vec<&DeliveryRecord> = history.records.iter().collect();
    records.sort_by_key(|r| (r.created_at, r.deployment_id));
    records.dedup_by_key(|r| r.deployment_id);
    let rollback = classify_rollbacks(&records);

    let window_start = now - TimeDelta::days(i64::from(window_days));
    let oldest = records.first().map(|r| r.created_at);
    let complete = !history.truncated || oldest.is_some_and(|o| o < window_start);
    let since = match oldest {
        Some(oldest) if !complete => oldest.max(window_start),
        _ => window_start,
    };
    let in_window = |r: &DeliveryRecord| r.created_at >= since;

    let replaced = rolled_back(&records, &rollback);
    let mut deploys = 0u32;
    let mut failed = 0u32;
    let mut rolled_back_count = 0u32;
    let mut pending = 0u32;
    let mut rollbacks = 0u32;
    let mut lead_times = Vec::new();
    let mut measured_shas: HashSet<&str> = HashSet::new();
    for (index, record) in records.iter().enumerate() {
        let counted = in_window(record);
        if rollback[index] {
            rollbacks += u32::from(counted);
            continue;
        }
        let first_of_commit =
            record.outcome.succeeded_at().is_some() && measured_shas.insert(record.sha.as_str());
        if !counted {
            continue;
        }
        match (record.outcome.succeeded_at(), record.outcome.failed_at()) {
            (Some(succeeded), _) => {
                deploys += 1;
                rolled_back_count += u32::from(replaced.contains(&index));
                if first_of_commit && let Some(commit_at) = record.commit_at {
                    lead_times.push((succeeded - commit_at).to_std().unwrap_or(Duration::ZERO));
                }
            }
            (None, Some(_)) => failed += 1,
            (None, None) => pending += 1,
        }
    }
    let attempts = deploys + failed;
    let span_days = (now - since).num_seconds() as f64 / 86_400.0;

    let (restored, restoring_since) = failures(&records, &rollback, &replaced);
    let mut restore_times: Vec<Duration> = restored
        .iter()
        .filter(|(start, _)| *start >= since)
        .map(|(start, end)| (*end - *start).to_std().unwrap_or(Duration::ZERO))
        .collect();
    lead_times.sort();
    restore_times.sort();

    DeliveryFigures {
        window_days,
        computed_at: now,
        since,
        complete,
        deploys,
        per_day: (span_days > 0.0).then(|| f64::from(deploys) / span_days),
        lead_time_median: median(&lead_times),
        lead_time_p90: percentile(&lead_times, 90),
        lead_times: lead_times.len() as u32,
        attempts,
        failed,
        rolled_back: rolled_back_count,
        change_failure_rate: (attempts > 0)
            .then(|| f64::from(failed + rolled_back_count) / f64::from(attempts)),
        time_to_restore_median: median(&restore_times),
        restores: restore_times.len() as u32,
        restoring_since: restoring_since.filter(|start| *start >= since),
        rollbacks,
        pending,
    }
}

/// Per record (in creation order): whether it is a rollback.
fn classify_rollbacks(records: &[&DeliveryRecord]) -> Vec<bool> {
    let mut out = Vec::with_capacity(records.len());
    let mut previous: Option<&DeliveryRecord> = None;
    let mut ran: HashSet<&str> = HashSet::new();
    for record in records {
        let goes_back = previous.is_some_and(|p| {
            p.sha != record.sha
                && (ran.contains(record.sha.as_str())
                    || matches!(
                        (record.committed_at, p.committed_at),
                        (Some(this), Some(before)) if this < before
                    ))
        });
        out.push(record.marked_rollback || goes_back);
        if record.outcome.succeeded_at().is_some() {
            previous = Some(record);
            ran.insert(record.sha.as_str());
        }
    }
    out
}

/// Indexes of the successful deploy attempts that a rollback replaced.
fn rolled_back(records: &[&DeliveryRecord], rollback: &[bool]) -> HashSet<usize> {
    let succeeded = |j: usize| records[j].outcome.succeeded_at().is_some();
    let mut replaced = HashSet::new();
    for index in (0..records.len()).filter(|&i| rollback[i]) {
        let Some(previous) = (0..index).rev().find(|&j| succeeded(j)) else {
            continue;
        };
        if records[previous].sha == records[index].sha {
            // Nothing goes back: it "rolls back" to what already runs.
            continue;
        }
        let target = if rollback[previous] {
            (0..previous)
                .rev()
                .find(|&j| !rollback[j] && succeeded(j) && records[j].sha == records[previous].sha)
        } else {
            Some(previous)
        };
        replaced.extend(target);
    }
    replaced
}

/// Failures as (start, end) where they ended, and the start of one still open.
type Failures = (Vec<(DateTime<Utc>, DateTime<Utc>)>, Option<DateTime<Utc>>);

fn failures(records: &[&DeliveryRecord], rollback: &[bool], replaced: &HashSet<usize>) -> Failures {
    let mut starts: Vec<DateTime<Utc>> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !rollback[*i])
        .filter_map(|(i, r)| {
            r.outcome
                .failed_at()
                .or_else(|| r.outcome.succeeded_at().filter(|_| replaced.contains(&i)))
        })
        .collect();
    starts.sort();
    let mut successes: Vec<DateTime<Utc>> = records
        .iter()
        .filter_map(|r| r.outcome.succeeded_at())
        .collect();
    successes.sort();
    let mut ended = Vec::new();
    let mut next = 0;
    while let Some(&start) = starts.get(next) {
        let Some(&end) = successes.iter().find(|&&s| s > start) else {
            return (ended, Some(start));
        };
        ended.push((start, end));
        next += starts[next..].iter().take_while(|&&s| s < end).count();
    }
    (ended, None)
}

/// The middle of sorted `values` (the mean of the two middle ones for an even count).
fn median(sorted: &[Duration]) -> Option<Duration> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

/// The nearest-rank `p`th percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeliveryOutcome;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn hours_ago(h: i64) -> DateTime<Utc> {
        now() - TimeDelta::hours(h)
    }

    /// A deployment `h` hours ago of commit `sha` (committed `commit_h` hours ago), that
    /// succeeded ten minutes later.
    fn ok(id: u64, sha: &str, h: i64, commit_h: i64) -> DeliveryRecord {
        DeliveryRecord {
            deployment_id: id,
            sha: sha.to_string(),
            created_at: hours_ago(h),
            outcome: DeliveryOutcome::Succeeded {
                at: hours_ago(h) + TimeDelta::minutes(10),
            },
            marked_rollback: false,
            commit_at: Some(hours_ago(commit_h)),
            committed_at: Some(hours_ago(commit_h)),
        }
    }

    fn failed(id: u64, sha: &str, h: i64, commit_h: i64) -> DeliveryRecord {
        DeliveryRecord {
            outcome: DeliveryOutcome::Failed {
                at: hours_ago(h) + TimeDelta::minutes(5),
            },
            ..ok(id, sha, h, commit_h)
        }
    }

    fn pending(id: u64, sha: &str, h: i64, commit_h: i64) -> DeliveryRecord {
        DeliveryRecord {
            outcome: DeliveryOutcome::Pending,
            ..ok(id, sha, h, commit_h)
        }
    }

    fn marked(mut record: DeliveryRecord) -> DeliveryRecord {
        record.marked_rollback = true;
        record
    }

    fn history(records: Vec<DeliveryRecord>) -> DeliveryHistory {
        DeliveryHistory {
            records,
            truncated: false,
            fetched_at: now(),
        }
    }

    fn of(records: Vec<DeliveryRecord>) -> DeliveryFigures {
        figures(&history(records), now(), 30)
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn an_empty_history_has_zero_deploys_and_no_rates() {
        let f = of(vec![]);
        assert_eq!(f.deploys, 0);
        assert_eq!(f.per_day, Some(0.0));
        assert_eq!(f.lead_time_median, None);
        assert_eq!(f.lead_time_p90, None);
        assert_eq!(f.change_failure_rate, None);
        assert_eq!(f.time_to_restore_median, None);
        assert_eq!((f.rollbacks, f.attempts, f.pending), (0, 0, 0));
        assert!(f.complete);
        assert_eq!(f.since, now() - TimeDelta::days(30));
    }

    #[test]
    fn frequency_counts_successful_non_rollback_deploys_in_the_window() {
        let f = of(vec![
            ok(1, "a1", 40 * 24, 40 * 24 + 1), // outside the window
            ok(2, "b2", 100, 101),
            failed(3, "c3", 90, 91),
            ok(4, "c4", 80, 81),
            ok(5, "d5", 70, 71),
            marked(ok(6, "c4", 60, 81)),
        ]);
        assert_eq!(f.deploys, 3);
        let per_day = f.per_day.unwrap();
        assert!((per_day - 0.1).abs() < 1e-9, "{per_day}");
        assert_eq!(f.rollbacks, 1);
    }

    #[test]
    fn lead_time_is_success_minus_author_time_median_and_p90() {
        // Success 10 min after creation; commits 1h, 2h, 3h, 5h before creation.
        let f = of(vec![
            ok(1, "a1", 50, 51),
            ok(2, "b2", 40, 42),
            ok(3, "c3", 30, 33),
            ok(4, "d4", 20, 25),
        ]);
        let h = |n: u64| Duration::from_secs(n * 3600) + 10 * MIN;
        assert_eq!(f.lead_times, 4);
        assert_eq!(f.lead_time_median, Some((h(2) + h(3)) / 2));
        assert_eq!(f.lead_time_p90, Some(h(5)));
    }

    #[test]
    fn a_commit_time_after_the_deploy_is_skew_not_a_negative_lead_time() {
        let mut record = ok(1, "a1", 10, 10);
        record.commit_at = Some(hours_ago(8));
        let f = of(vec![record]);
        assert_eq!(f.lead_time_median, Some(Duration::ZERO));
    }

    #[test]
    fn a_commit_is_measured_once_and_without_a_time_not_at_all() {
        let mut unknown = ok(3, "c3", 10, 11);
        unknown.commit_at = None;
        let f = of(vec![ok(1, "a1", 30, 31), ok(2, "a1", 20, 31), unknown]);
        // The redeploy of a1 is a deploy, but not a second lead time.
        assert_eq!(f.deploys, 3);
        assert_eq!(f.lead_times, 1);
        assert_eq!(
            f.lead_time_median,
            Some(Duration::from_secs(3600) + 10 * MIN)
        );
    }

    #[test]
    fn change_failure_rate_counts_failed_and_rolled_back_attempts() {
        let f = of(vec![
            ok(1, "a1", 50, 51),
            failed(2, "b2", 45, 46),
            ok(3, "b3", 40, 41),
            ok(4, "c4", 30, 31),
            marked(ok(5, "b3", 29, 41)),
            pending(6, "d6", 1, 2),
        ]);
        assert_eq!(f.attempts, 4, "pending is no attempt yet");
        assert_eq!(f.failed, 1);
        assert_eq!(f.rolled_back, 1);
        assert_eq!(f.pending, 1);
        assert_eq!(f.change_failure_rate, Some(0.5));
    }

    #[test]
    fn going_back_to_an_older_commit_is_a_rollback_whatever_the_payload() {
        // By committer time: c was committed before b.
        let f = of(vec![
            ok(1, "aa", 50, 60),
            ok(2, "bb", 40, 41),
            ok(3, "cc", 30, 45),
        ]);
        assert_eq!(f.rollbacks, 1);
        assert_eq!(f.rolled_back, 1);
        assert_eq!(f.deploys, 2);
        // By returning to a commit that ran before, even without commit times.
        let mut back = ok(3, "aa", 30, 60);
        back.committed_at = None;
        let mut bb = ok(2, "bb", 40, 41);
        bb.committed_at = None;
        let f = of(vec![ok(1, "aa", 50, 60), bb, back]);
        assert_eq!(f.rollbacks, 1);
        assert_eq!(f.rolled_back, 1);
    }

    #[test]
    fn redeploying_what_runs_or_deploying_after_a_failure_is_no_rollback() {
        let f = of(vec![
            ok(1, "aa", 50, 60),
            ok(2, "aa", 45, 60),
            failed(3, "bb", 40, 41),
            ok(4, "bb", 30, 41),
        ]);
        assert_eq!(f.rollbacks, 0);
        assert_eq!(f.rolled_back, 0);
        assert_eq!(f.failed, 1);
    }

    #[test]
    fn a_rollback_of_a_rollback_blames_the_original_deploy() {
        // a → b → c, roll back to b, roll back to a: c and b were both bad.
        let f = of(vec![
            ok(1, "aa", 50, 51),
            ok(2, "bb", 40, 41),
            ok(3, "cc", 30, 31),
            marked(ok(4, "bb", 29, 41)),
            marked(ok(5, "aa", 28, 51)),
        ]);
        assert_eq!(f.rollbacks, 2);
        assert_eq!(f.rolled_back, 2);
        assert_eq!(f.deploys, 3);
    }

    #[test]
    fn time_to_restore_runs_from_the_failure_to_the_next_success() {
        let f = of(vec![
            ok(1, "a1", 50, 51),
            // Fails 5 min after 40h ago; the next success is 30h ago + 10 min.
            failed(2, "b2", 40, 41),
            ok(3, "b3", 30, 31),
            // Succeeds 20h ago + 10 min, rolled back 19h ago (+10 min): 60 min running.
            ok(4, "c4", 20, 21),
            marked(ok(5, "b3", 19, 31)),
        ]);
        assert_eq!(f.restores, 2);
        let first = Duration::from_secs(10 * 3600) + 5 * MIN;
        let second = 60 * MIN;
        assert_eq!(f.time_to_restore_median, Some((first + second) / 2));
        assert_eq!(f.restoring_since, None);
    }

    #[test]
    fn failures_in_a_row_are_one_and_an_open_one_says_since_when() {
        let f = of(vec![
            ok(1, "a1", 50, 51),
            failed(2, "b2", 40, 41),
            failed(3, "b3", 39, 41),
            ok(4, "b4", 38, 41),
            failed(5, "c5", 2, 3),
        ]);
        assert_eq!(f.restores, 1);
        assert_eq!(
            f.time_to_restore_median,
            Some(Duration::from_secs(2 * 3600) + 5 * MIN)
        );
        assert_eq!(
            f.restoring_since,
            Some(hours_ago(2) + TimeDelta::minutes(5))
        );
        assert_eq!(f.change_failure_rate, Some(3.0 / 5.0));
    }

    #[test]
    fn deploys_before_the_window_are_context_not_figures() {
        let old = 31 * 24;
        let f = of(vec![
            ok(1, "aa", old + 2, old + 3),
            ok(2, "bb", old + 1, old + 2),
            // Inside the window: back to aa, which ran before the window.
            marked(ok(3, "aa", 5, old + 3)),
        ]);
        assert_eq!(f.deploys, 0);
        assert_eq!(f.rollbacks, 1);
        assert_eq!(
            f.rolled_back, 0,
            "the replaced deploy is outside the window"
        );
        assert_eq!(f.attempts, 0);
        assert_eq!(f.change_failure_rate, None);
        // Its failure started before the window: no time to restore in it.
        assert_eq!(f.restores, 0);
    }

    #[test]
    fn a_cut_short_history_starts_at_its_oldest_deployment() {
        let mut history = history(vec![ok(1, "a1", 48, 49), ok(2, "b2", 24, 25)]);
        history.truncated = true;
        let f = figures(&history, now(), 30);
        assert!(!f.complete);
        assert_eq!(f.since, hours_ago(48));
        assert_eq!(f.deploys, 2);
        assert!((f.per_day.unwrap() - 1.0).abs() < 1e-9);
        // A full page that reaches past the window start is complete after all.
        let mut history = history.clone();
        history.records.push(ok(0, "z0", 31 * 24, 31 * 24 + 1));
        let f = figures(&history, now(), 30);
        assert!(f.complete);
        assert_eq!(f.since, now() - TimeDelta::days(30));
    }

    #[test]
    fn a_deploy_created_a_little_in_the_future_counts() {
        let mut record = ok(1, "a1", 0, 1);
        record.created_at = now() + TimeDelta::seconds(5);
        let f = of(vec![record]);
        assert_eq!(f.deploys, 1);
    }

    #[test]
    fn pending_deploys_wait_outside_every_rate() {
        let f = of(vec![pending(1, "a1", 3, 4), pending(2, "b2", 2, 3)]);
        assert_eq!(f.pending, 2);
        assert_eq!(f.deploys, 0);
        assert_eq!(f.change_failure_rate, None);
        assert_eq!(f.lead_time_median, None);
        assert_eq!(f.restoring_since, None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<Duration> = (1..=10).map(Duration::from_secs).collect();
        assert_eq!(percentile(&values, 90), Some(Duration::from_secs(9)));
        assert_eq!(percentile(&values[..1], 90), Some(Duration::from_secs(1)));
        assert_eq!(median(&values[..3]), Some(Duration::from_secs(2)));
    }
}
