//! The verification of the deploy an environment runs, put together from what the store
//! holds: the deploy moment from the deployments, per-minute errors and new Sentry issues,
//! and the smoke probes' history. The rules themselves are in [`super::verify`]; this module
//! picks their inputs, names their figures for the screen, and keeps the probe history
//! bounded. Plain data in, a [`VerificationView`] out: no I/O, no clock.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::verify::{
    self, BurnRateOutcome, BurnRatePolicy, ErrorIssue, ErrorRateOutcome, ErrorRatePolicy,
    ErrorRateTest, LatencyOutcome, LatencyPolicy, LatencySample, LatencyTarget,
    NewErrorTypesOutcome, NewIssuePolicy, ProbeOutcome, Signal, SignalVerdict, Verdict,
    VerificationState,
};
use crate::config::{Config, VerifyConfig};
use crate::model::errors::floor_minute;
use crate::model::{
    DeployStatus, EnvironmentSnapshot, SafeText, SignalLine, SignalState, SmokeResult,
    VerificationPhase, VerificationView, WatchFinding, WatchView,
};

/// Probes kept per environment: six hours of seven checks every 30 s is 5,040.
pub const PROBES_KEPT: usize = 6_000;

/// The verification settings of one environment, checked once.
#[derive(Debug, Clone)]
pub struct VerifyPolicy {
    pub window: Duration,
    /// The error watch after the window, from the deploy (`None`: no watch).
    pub watch: Option<Duration>,
    pub baseline_minutes: i64,
    pub error_rate: ErrorRateTest,
    pub new_issues: NewIssuePolicy,
    pub latency: LatencyPolicy,
    pub latency_targets: Vec<LatencyTarget>,
    pub burn_rate: BurnRatePolicy,
    pub auto_rollback: bool,
    pub max_auto_rollbacks: u32,
    pub open_issue: bool,
    pub issue_labels: Vec<String>,
}

impl VerifyPolicy {
    /// The policy of environment `index`, or `None` when it is not verified. The config's
    /// validation has checked the values; one that still cannot be used turns verification
    /// off for that environment, with a warning, rather than stopping the cockpit.
    pub fn for_environment(config: &Config, index: usize) -> Option<VerifyPolicy> {
        let verify = config.verification(index)?;
        match Self::from_config(config, &verify) {
            Ok(policy) => Some(policy),
            Err(error) => {
                tracing::warn!(%error, environment = index, "verification is off");
                None
            }
        }
    }

    fn from_config(
        config: &Config,
        verify: &VerifyConfig,
    ) -> Result<VerifyPolicy, verify::PolicyError> {
        let window = verify.window.get();
        let window_minutes = u32::try_from(window.as_secs().div_ceil(60)).unwrap_or(u32::MAX);
        let baseline_minutes =
            i64::try_from(verify.baseline.get().as_secs() / 60).unwrap_or(i64::MAX);
        let error_rate = ErrorRateTest::new(&ErrorRatePolicy {
            max_increase: verify.max_increase,
            min_events: verify.min_events,
            // Half the baseline may be missing (a Sentry outage) before nothing is decided.
            min_baseline_minutes: usize::try_from(baseline_minutes / 2).unwrap_or(1).max(1),
            window_minutes,
            ..ErrorRatePolicy::default()
        })?;
        let new_issues = if verify.new_issue_events <= 1 {
            NewIssuePolicy::Any
        } else {
            NewIssuePolicy::AtLeast(verify.new_issue_events)
        };
        let latency = LatencyPolicy {
            window,
            first_phase: LatencyPolicy::default().first_phase.min(window),
            ..LatencyPolicy::default()
        };
        // A flow's time is mostly its wait for a worker; each of its requests is held to
        // `max_latency` by the flow itself, and its failures count in the burn rate.
        let latency_targets = config
            .smoke
            .iter()
            .filter(|check| !check.is_flow())
            .map(|check| LatencyTarget {
                check: check.name.get_ref().clone(),
                target: check.max_latency.get(),
            })
            .collect();
        Ok(VerifyPolicy {
            window,
            watch: verify.watch.map(|watch| watch.get()),
            baseline_minutes,
            error_rate,
            new_issues,
            latency,
            latency_targets,
            burn_rate: BurnRatePolicy {
                objective: verify.availability,
                ..BurnRatePolicy::default()
            },
            auto_rollback: verify.auto_rollback,
            max_auto_rollbacks: verify.max_auto_rollbacks,
            open_issue: verify.open_issue,
            issue_labels: verify.issue_labels.clone(),
        })
    }
}

/// One smoke probe as the history keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Probe {
    check: String,
    at: DateTime<Utc>,
    ok: bool,
    latency: Option<Duration>,
}

/// The smoke probes of one environment, oldest first, at most [`PROBES_KEPT`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeHistory {
    probes: VecDeque<Probe>,
}

impl ProbeHistory {
    /// Adds a round of results; a result already held (same check and time) is not added
    /// twice, so a re-published round does not count double.
    pub fn record(&mut self, results: &[SmokeResult]) {
        for result in results {
            let known = self
                .probes
                .iter()
                .rev()
                .take(results.len() * 2)
                .any(|p| p.at == result.checked_at && p.check == result.name.as_str());
            if known {
                continue;
            }
            if self.probes.len() == PROBES_KEPT {
                self.probes.pop_front();
            }
            self.probes.push_back(Probe {
                check: result.name.as_str().to_string(),
                at: result.checked_at,
                ok: result.ok,
                latency: result.latency_ms.map(Duration::from_millis),
            });
        }
    }

    pub fn len(&self) -> usize {
        self.probes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    fn latency_samples(&self, since: DateTime<Utc>) -> Vec<LatencySample> {
        self.probes
            .iter()
            .filter(|p| p.at >= since && p.ok)
            .filter_map(|p| {
                Some(LatencySample {
                    check: p.check.clone(),
                    at: p.at,
                    latency: p.latency?,
                })
            })
            .collect()
    }

    fn outcomes_since(&self, since: DateTime<Utc>) -> Vec<ProbeOutcome> {
        self.probes
            .iter()
            .filter(|p| p.at >= since)
            .map(|p| ProbeOutcome { at: p.at, ok: p.ok })
            .collect()
    }
}

/// The deploy whose verification is shown: the first service's last success, unless a newer
/// deployment of any service is still on its way.
struct Deploy<'a> {
    sha: &'a str,
    deployment_id: u64,
    at: DateTime<Utc>,
    underway: bool,
}

fn running_deploy(env: &EnvironmentSnapshot) -> Option<Deploy<'_>> {
    let last = env.services.first()?.last_success.as_ref()?;
    let at = last.at?;
    let underway = env.services.iter().any(|s| {
        s.latest.as_ref().is_some_and(|d| {
            matches!(
                d.status,
                DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress
            )
        })
    });
    Some(Deploy {
        sha: &last.sha,
        deployment_id: last.deployment_id,
        at,
        underway,
    })
}

/// Judges the deploy `env` runs as of `now`; `None` when nothing has been deployed yet.
pub fn assess(
    policy: &VerifyPolicy,
    env: &EnvironmentSnapshot,
    probes: &ProbeHistory,
    now: DateTime<Utc>,
) -> Option<VerificationView> {
    let deploy = running_deploy(env)?;
    let window_ends = deploy.at + TimeDelta::from_std(policy.window).unwrap_or(TimeDelta::MAX);
    let mut view = VerificationView {
        sha: deploy.sha.to_string(),
        deployment_id: deploy.deployment_id,
        deployed_at: deploy.at,
        window_ends,
        phase: VerificationPhase::Deploying,
        signals: Vec::new(),
        reason: SafeText::new("a deploy is on its way; its window starts when it succeeds"),
        auto_rollback: policy.auto_rollback,
        baseline_per_minute: None,
        watch: None,
    };
    if deploy.underway {
        return Some(view);
    }

    let (baseline, since) = error_minutes(env, deploy.at, policy.baseline_minutes, now);
    let errors = policy.error_rate.evaluate(&baseline, &since);
    view.baseline_per_minute =
        (errors.explanation.baseline_minutes > 0).then_some(errors.explanation.baseline_per_minute);
    let issues: Vec<ErrorIssue> = env
        .errors
        .new_types
        .iter()
        .map(|t| ErrorIssue {
            id: t.id.as_str().to_string(),
            title: t.title.as_str().to_string(),
            first_seen: t.first_seen,
            count: t.count,
            release: t.release.as_ref().map(|r| r.as_str().to_string()),
        })
        .collect();
    // The window judged the deploy, and a verified deploy stays verified: a type first seen
    // after it is the watch's finding, or without a watch nobody's (the guard would not act
    // on it anyway, and a FAILED that nothing answers helps no one).
    let (in_window, after_window): (Vec<ErrorIssue>, Vec<ErrorIssue>) = issues
        .into_iter()
        .partition(|issue| issue.first_seen < window_ends);
    let new_types =
        verify::evaluate_new_error_types(&in_window, deploy.at, deploy.sha, policy.new_issues);
    view.watch = policy.watch.map(|watch| {
        let ends = deploy.at + TimeDelta::from_std(watch).unwrap_or(TimeDelta::MAX);
        watch_view(
            &after_window,
            window_ends,
            ends,
            deploy.sha,
            policy.new_issues,
        )
    });
    let latency = verify::evaluate_latency(
        &probes.latency_samples(deploy.at),
        &policy.latency_targets,
        deploy.at,
        now,
        &policy.latency,
    );
    let burn = verify::evaluate_burn_rate(
        // Only this deploy's probes: the failures of the deploy before it (the very
        // reason for a rollback) must not fail the commit that replaced it.
        &probes.outcomes_since(deploy.at),
        deploy.at,
        now.min(window_ends),
        &policy.burn_rate,
    );

    let mut verdicts: Vec<SignalVerdict> = vec![errors.signal(), new_types.signal()];
    view.signals.push(error_line(&errors));
    view.signals.push(new_types_line(&new_types));
    if let Ok(latency) = &latency {
        verdicts.push(latency.signal());
        view.signals.push(latency_line(latency));
    }
    if let Ok(burn) = &burn {
        verdicts.push(burn.signal());
        view.signals.push(burn_line(burn));
    }
    let combined = verify::combine(&verdicts, now >= window_ends);
    view.phase = match combined.state {
        VerificationState::InProgress => VerificationPhase::Verifying,
        VerificationState::Passed => VerificationPhase::Verified,
        VerificationState::Failed => VerificationPhase::Failed,
        VerificationState::NotEnoughData => VerificationPhase::NotEnoughData,
    };
    view.reason = SafeText::with_max(&combined.reason, 400);
    Some(view)
}

/// The watch's findings: the types first seen after the window and before the watch ends,
/// in the deployed release, with the new-type count reached.
fn watch_view(
    after_window: &[ErrorIssue],
    window_ends: DateTime<Utc>,
    ends: DateTime<Utc>,
    sha: &str,
    policy: NewIssuePolicy,
) -> WatchView {
    let found = verify::evaluate_new_error_types(after_window, window_ends, sha, policy);
    WatchView {
        ends,
        findings: found
            .explanation
            .failing
            .iter()
            .filter(|issue| issue.first_seen < ends)
            .map(|issue| WatchFinding {
                id: SafeText::with_max(&issue.id, 40),
                title: SafeText::with_max(&issue.title, 200),
                first_seen: issue.first_seen,
                count: issue.count,
            })
            .collect(),
    }
}

/// The baseline's complete minutes before the deploy minute, and the complete minutes since
/// the first whole minute after the deploy, up to the first gap (a minute not fetched yet).
fn error_minutes(
    env: &EnvironmentSnapshot,
    deployed_at: DateTime<Utc>,
    baseline_minutes: i64,
    now: DateTime<Utc>,
) -> (Vec<u64>, Vec<u64>) {
    let deploy_minute = floor_minute(deployed_at);
    let baseline_from = deploy_minute - TimeDelta::minutes(baseline_minutes);
    let first_after = if deploy_minute == deployed_at {
        deploy_minute
    } else {
        deploy_minute + TimeDelta::minutes(1)
    };
    let baseline = env
        .errors
        .buckets()
        .filter(|b| b.minute >= baseline_from && b.minute < deploy_minute)
        .map(|b| b.count)
        .collect();
    let mut since = Vec::new();
    let mut expected = first_after;
    for bucket in env.errors.buckets().filter(|b| b.minute >= first_after) {
        if bucket.minute != expected || bucket.minute + TimeDelta::minutes(1) > now {
            break;
        }
        since.push(bucket.count);
        expected += TimeDelta::minutes(1);
    }
    (baseline, since)
}

fn state_of(verdict: Verdict) -> SignalState {
    match verdict {
        Verdict::Pass => SignalState::Pass,
        Verdict::Fail => SignalState::Fail,
        Verdict::NotEnoughData => SignalState::NotEnoughData,
    }
}

fn line(
    signal: Signal,
    verdict: Verdict,
    measured: String,
    baseline: String,
    threshold: String,
    reason: &str,
) -> SignalLine {
    SignalLine {
        signal: SafeText::new(signal.label()),
        state: state_of(verdict),
        measured: SafeText::with_max(&measured, 120),
        baseline: SafeText::with_max(&baseline, 120),
        threshold: SafeText::with_max(&threshold, 120),
        reason: SafeText::with_max(reason, 300),
    }
}

fn error_line(outcome: &ErrorRateOutcome) -> SignalLine {
    let e = &outcome.explanation;
    let measured = if e.minutes_observed == 0 {
        "no whole minute yet".to_string()
    } else {
        let change = match e.change {
            Some(change) => format!(" ({:+.0}%)", change * 100.0),
            None => String::new(),
        };
        format!(
            "{}{change} over {} min",
            verify::per_minute(e.measured_per_minute),
            e.minutes_observed
        )
    };
    let baseline = if e.baseline_minutes == 0 {
        "none yet".to_string()
    } else {
        format!(
            "{} over {} min",
            verify::per_minute(e.baseline_per_minute),
            e.baseline_minutes
        )
    };
    line(
        Signal::ErrorRate,
        outcome.verdict,
        measured,
        baseline,
        format!("above +{:.0}%, significant", e.max_increase * 100.0),
        &e.reason,
    )
}

fn new_types_line(outcome: &NewErrorTypesOutcome) -> SignalLine {
    let e = &outcome.explanation;
    let measured = match (e.failing.first(), e.failing.len() + e.below_count.len()) {
        (_, 0) => "none".to_string(),
        (Some(first), n) => format!("{n} new: {}", first.title),
        (None, n) => format!("{n} new, under the count"),
    };
    let threshold = if e.min_count <= 1 {
        "any new type".to_string()
    } else {
        format!("a new type with {} events", e.min_count)
    };
    line(
        Signal::NewErrorTypes,
        outcome.verdict,
        measured,
        String::new(),
        threshold,
        &e.reason,
    )
}

fn latency_line(outcome: &LatencyOutcome) -> SignalLine {
    let e = &outcome.explanation;
    // The check furthest over (or nearest to) its target speaks for the signal.
    let worst = e
        .checks
        .iter()
        .filter_map(|c| c.measured_ms.map(|ms| (ms / c.target_ms.max(1.0), c)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c);
    let (measured, threshold) = match worst {
        Some(check) => (
            format!(
                "p{:.0} {:.0} ms ({})",
                check.percentile * 100.0,
                check.measured_ms.unwrap_or(0.0),
                check.check
            ),
            format!("{:.0} ms", check.target_ms),
        ),
        None => (
            format!("under {} probes", e.min_samples),
            "each check's max_latency".to_string(),
        ),
    };
    line(
        Signal::Latency,
        outcome.verdict,
        measured,
        String::new(),
        threshold,
        &e.reason,
    )
}

fn burn_line(outcome: &BurnRateOutcome) -> SignalLine {
    let e = &outcome.explanation;
    let fastest = e.alerts.first();
    let measured = match fastest {
        Some(alert) => match (alert.long.burn_rate, alert.short.burn_rate) {
            (Some(long), Some(short)) => format!(
                "{long:.1}x over {:.0} min, {short:.1}x over {:.0} min",
                alert.long.window_minutes, alert.short.window_minutes
            ),
            _ => "too few probes".to_string(),
        },
        None => "no alert configured".to_string(),
    };
    let threshold = fastest.map_or(String::new(), |a| format!("{}x on both", a.threshold));
    line(
        Signal::BurnRate,
        outcome.verdict,
        measured,
        format!("objective {:.2}%", e.objective * 100.0),
        threshold,
        &e.reason,
    )
}

/// Whether two views differ in what a captain acts on (phase, signal verdicts, the deploy),
/// as opposed to figures that move every minute.
pub fn changed_meaningfully(
    old: Option<&VerificationView>,
    new: Option<&VerificationView>,
) -> bool {
    match (old, new) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            a.deployment_id != b.deployment_id
                || a.sha != b.sha
                || a.phase != b.phase
                || a.signals.len() != b.signals.len()
                || a.signals
                    .iter()
                    .zip(&b.signals)
                    .any(|(x, y)| x.state != y.state)
                || watch_ids(a) != watch_ids(b)
        }
        _ => true,
    }
}

/// The ids of the watch's findings: a new one is news for the guard.
fn watch_ids(view: &VerificationView) -> Option<Vec<&str>> {
    view.watch
        .as_ref()
        .map(|watch| watch.findings.iter().map(|f| f.id.as_str()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeployState, ErrorBucket, ErrorSeries, NewErrorType, ServiceState};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn deployed_at() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::seconds(30)
    }

    fn policy() -> VerifyPolicy {
        let config = crate::config::parse_str(
            "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"prod\"\nbranch = \"prod\"\n\
             url = \"https://shop.example\"\n",
            "test.toml",
        )
        .unwrap();
        VerifyPolicy::for_environment(&config, 0).expect("the end of the chain is verified")
    }

    /// 30 baseline minutes at `before`/min, then `after` per minute since the deploy.
    fn env(before: u64, after: &[u64], status: DeployStatus) -> EnvironmentSnapshot {
        let deploy_minute = floor_minute(deployed_at());
        let mut errors = ErrorSeries::new();
        errors.merge((1..=30).map(|m| ErrorBucket {
            minute: deploy_minute - TimeDelta::minutes(m),
            count: before,
        }));
        errors.merge(after.iter().enumerate().map(|(i, &count)| ErrorBucket {
            minute: deploy_minute + TimeDelta::minutes(i as i64 + 1),
            count,
        }));
        let state = |status| DeployState {
            deployment_id: 42,
            sha: SHA.to_string(),
            status,
            at: Some(deployed_at()),
            creator: None,
            description: None,
        };
        EnvironmentSnapshot {
            name: SafeText::new("prod"),
            branch: SafeText::new("prod"),
            url: SafeText::new("https://shop.example"),
            head: None,
            services: vec![ServiceState {
                name: SafeText::new("prod"),
                github_environment: SafeText::new("prod"),
                latest: Some(state(status)),
                last_success: Some(state(DeployStatus::Success)),
                commit: None,
            }],
            pipeline: None,
            smoke: Vec::new(),
            errors,
            health: Default::default(),
            release: Default::default(),
            verification: None,
            guard: Default::default(),
            triage: None,
            delivery: None,
        }
    }

    fn minutes_after(m: i64) -> DateTime<Utc> {
        floor_minute(deployed_at()) + TimeDelta::minutes(m + 1) + TimeDelta::seconds(5)
    }

    #[test]
    fn a_tripled_error_rate_fails_with_its_figures() {
        let view = assess(
            &policy(),
            &env(10, &[31, 29], DeployStatus::Success),
            &ProbeHistory::default(),
            minutes_after(2),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Failed, "{}", view.reason);
        let errors = &view.signals[0];
        assert_eq!(errors.signal.as_str(), "error rate");
        assert_eq!(errors.state, SignalState::Fail);
        assert!(
            errors
                .measured
                .as_str()
                .starts_with("31.0/min (+210%) over 1 min"),
            "{}",
            errors.measured
        );
        assert_eq!(errors.baseline.as_str(), "10.0/min over 30 min");
        assert!(
            view.reason
                .as_str()
                .starts_with("verification failed: error rate:"),
            "{}",
            view.reason
        );
        assert_eq!(view.window_ends, deployed_at() + TimeDelta::minutes(15));
    }

    #[test]
    fn a_steady_rate_verifies_once_the_window_elapsed() {
        let steady = [10u64; 15];
        let during = assess(
            &policy(),
            &env(10, &steady[..5], DeployStatus::Success),
            &ProbeHistory::default(),
            minutes_after(5),
        )
        .unwrap();
        assert_eq!(during.phase, VerificationPhase::Verifying);
        assert_eq!(
            during.time_left(minutes_after(5)).as_secs(),
            15 * 60 - 6 * 60 + 25
        );
        let after = assess(
            &policy(),
            &env(10, &steady, DeployStatus::Success),
            &ProbeHistory::default(),
            minutes_after(15),
        )
        .unwrap();
        assert_eq!(after.phase, VerificationPhase::Verified, "{}", after.reason);
    }

    #[test]
    fn the_minute_still_counting_and_minutes_after_a_gap_are_left_out() {
        let mut environment = env(10, &[10, 10, 40, 40], DeployStatus::Success);
        // Minute 2 is missing: minutes 3 and 4 cannot be judged yet.
        let deploy_minute = floor_minute(deployed_at());
        let kept: Vec<ErrorBucket> = environment
            .errors
            .buckets()
            .filter(|b| b.minute != deploy_minute + TimeDelta::minutes(2))
            .copied()
            .collect();
        environment.errors = ErrorSeries::new();
        environment.errors.merge(kept);
        let view = assess(
            &policy(),
            &environment,
            &ProbeHistory::default(),
            minutes_after(4),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Verifying, "{}", view.reason);
        assert!(
            view.signals[0].measured.as_str().ends_with("over 1 min"),
            "{}",
            view.signals[0].measured
        );
    }

    #[test]
    fn a_new_error_type_in_the_deployed_release_fails_and_one_from_another_release_does_not() {
        let mut environment = env(10, &[10], DeployStatus::Success);
        let issue = |release: &str| NewErrorType {
            id: SafeText::new("77"),
            title: SafeText::new("ReferenceError: discountCode is not defined"),
            first_seen: deployed_at() + TimeDelta::seconds(20),
            count: 3,
            release: Some(SafeText::new(release)),
        };
        environment.errors.new_types = vec![issue("shop@0badc0ffee0badc0ffee0badc0ffee0badc0ff")];
        let other = assess(
            &policy(),
            &environment,
            &ProbeHistory::default(),
            minutes_after(1),
        )
        .unwrap();
        assert_eq!(
            other.phase,
            VerificationPhase::Verifying,
            "{}",
            other.reason
        );
        environment.errors.new_types = vec![issue(&format!("shop@{SHA}"))];
        let view = assess(
            &policy(),
            &environment,
            &ProbeHistory::default(),
            minutes_after(1),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Failed);
        assert_eq!(view.signals[1].state, SignalState::Fail);
        assert!(view.signals[1].measured.as_str().contains("discountCode"));
    }

    fn watched_policy(watch: &str) -> VerifyPolicy {
        let config = crate::config::parse_str(
            &format!(
                "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"prod\"\n\
                 branch = \"prod\"\nurl = \"https://shop.example\"\n\
                 [environment.verify]\nwatch = \"{watch}\"\n"
            ),
            "test.toml",
        )
        .unwrap();
        VerifyPolicy::for_environment(&config, 0).expect("verified")
    }

    #[test]
    fn a_new_type_after_the_window_is_a_watch_finding_and_the_deploy_stays_verified() {
        let mut environment = env(10, &[10; 15], DeployStatus::Success);
        let late = |after: TimeDelta| NewErrorType {
            id: SafeText::new("5900"),
            title: SafeText::new("TypeError: order.items.map is not a function"),
            first_seen: deployed_at() + after,
            count: 12,
            release: Some(SafeText::new(&format!("shop@{SHA}"))),
        };
        let now = deployed_at() + TimeDelta::hours(37);
        environment.errors.new_types = vec![late(TimeDelta::hours(36))];
        let view = assess(
            &watched_policy("48h"),
            &environment,
            &ProbeHistory::default(),
            now,
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Verified, "{}", view.reason);
        let watch = view.watch.as_ref().expect("a watch");
        assert_eq!(watch.ends, deployed_at() + TimeDelta::hours(48));
        assert_eq!(watch.findings.len(), 1);
        assert_eq!(watch.findings[0].id.as_str(), "5900");
        assert_eq!(watch.findings[0].count, 12);
        assert_eq!(watch.left_words(now), "11h 00m");

        // Without a watch the window's verdict stands too: nothing watches after it.
        let unwatched = assess(&policy(), &environment, &ProbeHistory::default(), now).unwrap();
        assert_eq!(
            unwatched.phase,
            VerificationPhase::Verified,
            "{}",
            unwatched.reason
        );
        assert_eq!(unwatched.watch, None);

        // First seen in the window: the window fails the deploy; it is no finding.
        environment.errors.new_types = vec![late(TimeDelta::minutes(2))];
        let in_window = assess(
            &watched_policy("48h"),
            &environment,
            &ProbeHistory::default(),
            now,
        )
        .unwrap();
        assert_eq!(in_window.phase, VerificationPhase::Failed);
        assert_eq!(in_window.watch.map(|w| w.findings.len()), Some(0));

        // First seen after the watch ended: nothing at all.
        environment.errors.new_types = vec![late(TimeDelta::hours(49))];
        let after = assess(
            &watched_policy("48h"),
            &environment,
            &ProbeHistory::default(),
            deployed_at() + TimeDelta::hours(50),
        )
        .unwrap();
        assert_eq!(after.phase, VerificationPhase::Verified, "{}", after.reason);
        assert_eq!(after.watch.map(|w| w.findings.len()), Some(0));
    }

    #[test]
    fn a_new_watch_finding_is_a_meaningful_change() {
        let environment = env(10, &[10; 15], DeployStatus::Success);
        let now = deployed_at() + TimeDelta::hours(2);
        let policy = watched_policy("48h");
        let before = assess(&policy, &environment, &ProbeHistory::default(), now).unwrap();
        let mut found = environment.clone();
        found.errors.new_types = vec![NewErrorType {
            id: SafeText::new("5900"),
            title: SafeText::new("TypeError"),
            first_seen: now - TimeDelta::minutes(5),
            count: 3,
            release: None,
        }];
        let after = assess(&policy, &found, &ProbeHistory::default(), now).unwrap();
        assert!(changed_meaningfully(Some(&before), Some(&after)));
        assert!(!changed_meaningfully(Some(&after), Some(&after.clone())));
    }

    #[test]
    fn while_a_deploy_is_underway_nothing_is_judged() {
        let view = assess(
            &policy(),
            &env(10, &[40, 40], DeployStatus::InProgress),
            &ProbeHistory::default(),
            minutes_after(2),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Deploying);
        assert!(view.signals.is_empty());
    }

    #[test]
    fn the_probes_failing_before_the_deploy_do_not_fail_the_one_that_replaced_it() {
        let probe = |at: DateTime<Utc>, ok: bool| {
            vec![SmokeResult {
                name: SafeText::new("auth"),
                ok,
                latency_ms: ok.then_some(40),
                detail: SafeText::new(if ok { "200" } else { "took 1400 ms" }),
                checked_at: at,
            }]
        };
        let mut history = ProbeHistory::default();
        for s in (-600..0).step_by(15) {
            history.record(&probe(deployed_at() + TimeDelta::seconds(s), false));
        }
        for s in (0..=300).step_by(15) {
            history.record(&probe(deployed_at() + TimeDelta::seconds(s), true));
        }
        let steady = [10u64; 4];
        let view = assess(
            &policy(),
            &env(10, &steady, DeployStatus::Success),
            &history,
            minutes_after(5),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Verifying, "{}", view.reason);
        let burn = view
            .signals
            .iter()
            .find(|s| s.signal.as_str() == "burn rate")
            .unwrap();
        assert_eq!(burn.state, SignalState::Pass, "{burn:?}");

        // The same failures after the deploy fail it.
        let mut history = ProbeHistory::default();
        for s in (0..=300).step_by(15) {
            history.record(&probe(deployed_at() + TimeDelta::seconds(s), false));
        }
        let view = assess(
            &policy(),
            &env(10, &steady, DeployStatus::Success),
            &history,
            minutes_after(5),
        )
        .unwrap();
        assert_eq!(view.phase, VerificationPhase::Failed, "{}", view.reason);
        assert!(
            view.reason.as_str().contains("burn rate"),
            "{}",
            view.reason
        );
    }

    #[test]
    fn probe_history_is_bounded_and_counts_a_round_once() {
        let mut history = ProbeHistory::default();
        let round = |at: DateTime<Utc>| {
            vec![SmokeResult {
                name: SafeText::new("auth"),
                ok: true,
                latency_ms: Some(40),
                detail: SafeText::new("200"),
                checked_at: at,
            }]
        };
        history.record(&round(deployed_at()));
        history.record(&round(deployed_at()));
        assert_eq!(history.len(), 1);
        for i in 0..(PROBES_KEPT as i64 + 10) {
            history.record(&round(deployed_at() + TimeDelta::seconds(i + 1)));
        }
        assert_eq!(history.len(), PROBES_KEPT);
    }
}
