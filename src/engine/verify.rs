//! Post-deploy verification as pure decisions: given what was measured since a deploy
//! (per-minute error counts, Sentry issues, smoke probe latencies and outcomes) and a policy,
//! say for each signal whether the deploy is fine so far, must be rolled back, or cannot be
//! judged yet, with the figures the screen and `status --json` show. No I/O and no clock: times
//! arrive as data, so every rule can be replayed in tests and in the decision benchmark
//! ([`super::verify_bench`]).
//!
//! # Error rate: a sequential test on the conditional binomial
//!
//! The baseline holds `B` errors in `T` minutes before the deploy, and `C` errors were counted in
//! the `t` minutes since. With Poisson rates `λ` before and `ρλ` after, the split of the
//! `N = B + C` errors is binomial whatever `λ` is: `C ~ Binomial(N, ρt / (T + ρt))`. Testing the
//! ratio `ρ` on that split needs no estimate of `λ`, and it carries the baseline's own noise
//! (30 quiet minutes at 1/min are some 30 errors, not a known rate) instead of ignoring it, as a
//! bare ratio of two small counts does.
//!
//! The test is Wald's sequential probability ratio test of `ρ = ρ0` against `ρ = ρ1`:
//! - `ρ0 = 1 + tolerated_increase` (default 1.1): drift that must not cause a rollback;
//! - `ρ1` is chosen so that the ratio at which the test has no drift either way (the
//!   logarithmic mean `(ρ1 − ρ0) / ln(ρ1/ρ0)`) is the rollback threshold `1 + max_increase`
//!   (default 1.5, which gives `ρ1 ≈ 2.0`). At high traffic the test therefore rolls back
//!   exactly the deploys above +50%; at low traffic it waits until the counts say so;
//! - statistic `Λt = C ln(ρ1/ρ0) + N ln((T + ρ0 t) / (T + ρ1 t))`, the log-likelihood ratio of
//!   the binomial split;
//! - fail when `Λt ≥ ln((1 − β)/α)` (α = `false_alarm` 0.01, β = `missed_regression` 0.05:
//!   ln 95 ≈ 4.55), at least `min_events` errors arrived since the deploy and the measured
//!   rate is above the threshold (a rollback is never explained by a rise under +50%);
//! - "so far fine" when `Λt ≤ ln(β/(1 − α))` ≈ −2.99; in between, not enough data.
//!
//! It is evaluated again every minute, and that is part of the test, not a repeated
//! significance test: the verdict is the first crossing along the whole path of minutes, so a
//! later look never undoes a failure, and `e^Λt` is the ratio of the predictive likelihoods of
//! the post-deploy counts under `ρ1` and `ρ0` given the baseline (the baseline rate's posterior
//! `Gamma(B, T)` from the scale prior `1/λ` gives exactly this ratio). That makes `e^Λt` a
//! martingale with mean 1 when `ρ = ρ0` and the baseline rate is as uncertain as the baseline
//! itself says, and Ville's inequality bounds the chance of ever crossing the fail boundary by
//! `α / (1 − β)` ≈ 1.05%, however many times it is looked at.
//! The 15-minute window and the threshold guard keep the real rate lower; the benchmark
//! measures it: at 10/min 0.4% of +10% deploys and 3.7% of +25% deploys are rolled back, at
//! 100/min and above 0.2% or less, and at 1/min most good deploys end "not enough data".
//!
//! What no rule can do: at 10 errors/min a doubling cannot be told from +10% drift within
//! 3 minutes at a 0.5% false-alarm rate. Even with the baseline rate known exactly, the best
//! possible test at minute 3 that rolls back at most 0.5% of +10% deploys (counts ~ Poisson 33)
//! catches at most 91.6% of doublings (Poisson 60 reaching 50); with the baseline estimated
//! from 30 minutes it is less. This rule spends its error budget on not rolling back good
//! deploys: it catches 81% of 10/min doublings within 3 minutes, 94% within 5 and 99.8% within
//! the window (median 2 minutes); from 100/min, every doubling within 3 minutes (median 1).
//!
//! # The other signals
//!
//! - New error types: a Sentry issue first seen at or after the deploy (and, when its release
//!   is tagged with a commit SHA, in the deployed commit) fails verification, at once or from
//!   a configured count.
//! - Latency SLO: each smoke check's p95 (nearest rank) against its target, over the first
//!   minutes after the deploy and then over the whole window, once enough probes exist.
//! - SLO burn rate: the multi-window, multi-burn-rate rule on the smoke probes' success ratio
//!   (14.4x over 1 h and 5 min, 6x over 6 h and 30 min by default). The rule was made for
//!   request counts; smoke probes are a few a minute, and against a 99.9% objective a single
//!   failed probe among the 50 of the first minutes reads as 20x. So an alert also needs its
//!   failures to be evidence: the chance that a service meeting its objective exactly fails
//!   that many of the long window's probes (the binomial tail) must be at most `significance`
//!   (0.5%). One stray failure does not roll prod back; two of 50 do. An alert is judged only
//!   once the probes since the deploy cover its short window.
//!
//! [`combine`] turns the signals into the verification's verdict.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// What one rule says about a deploy so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fine so far.
    Pass,
    /// Roll back.
    Fail,
    /// Too little data to tell either way yet (low traffic, too few probes, no baseline).
    NotEnoughData,
}

/// A policy value that cannot be used; policies come from the configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("verification policy: {field} {requirement}")]
    Invalid {
        field: &'static str,
        requirement: &'static str,
    },
}

fn require(ok: bool, field: &'static str, requirement: &'static str) -> Result<(), PolicyError> {
    if ok {
        Ok(())
    } else {
        Err(PolicyError::Invalid { field, requirement })
    }
}

fn time_delta(duration: Duration, field: &'static str) -> Result<TimeDelta, PolicyError> {
    TimeDelta::from_std(duration).map_err(|_| PolicyError::Invalid {
        field,
        requirement: "is too long",
    })
}

// ---------------------------------------------------------------------------------------------
// Rule 1: error rate against the baseline
// ---------------------------------------------------------------------------------------------

/// How the error rate after a deploy is judged against the baseline before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRatePolicy {
    /// Roll back when errors rise more than this above the baseline (0.5: +50%).
    pub max_increase: f64,
    /// A rise the test treats as harmless drift, its null hypothesis (0.1: +10%).
    pub tolerated_increase: f64,
    /// Chance, at most, of ever rolling back a deploy at the tolerated drift (α).
    pub false_alarm: f64,
    /// Chance of calling a deploy fine while errors are at the regression ratio (β).
    pub missed_regression: f64,
    /// Errors that must have arrived since the deploy before it can fail.
    pub min_events: u64,
    /// Baseline minutes needed before anything is decided (missing minutes are skipped).
    pub min_baseline_minutes: usize,
    /// Minutes after the deploy that are judged; later minutes are ignored.
    pub window_minutes: u32,
}

impl Default for ErrorRatePolicy {
    fn default() -> Self {
        Self {
            max_increase: 0.5,
            tolerated_increase: 0.1,
            false_alarm: 0.01,
            missed_regression: 0.05,
            min_events: 5,
            min_baseline_minutes: 15,
            window_minutes: 15,
        }
    }
}

/// The error-rate rule's verdict and figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRateOutcome {
    pub verdict: Verdict,
    pub explanation: ErrorRateExplanation,
}

/// What the screen shows for the error rate. For a failure, the figures are those of the
/// minute the test crossed its boundary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRateExplanation {
    /// Errors per minute since the deploy.
    pub measured_per_minute: f64,
    pub baseline_per_minute: f64,
    /// Measured over baseline minus one (0.3: +30%); `None` when the baseline had no errors.
    pub change: Option<f64>,
    /// The rollback threshold as an increase (0.5: +50%).
    pub max_increase: f64,
    pub minutes_observed: u32,
    pub window_minutes: u32,
    pub baseline_minutes: u32,
    pub errors_since_deploy: u64,
    pub baseline_errors: u64,
    /// The sequential test's log-likelihood ratio (regression against tolerated drift).
    pub log_likelihood_ratio: f64,
    /// Fail at or above this log-likelihood ratio.
    pub fail_boundary: f64,
    /// Fine so far at or below this log-likelihood ratio.
    pub pass_boundary: f64,
    /// The ratios the test weighs against each other: tolerated drift and regression.
    pub tolerated_ratio: f64,
    pub regression_ratio: f64,
    /// The minute since the deploy at which the test failed the deploy.
    pub failed_at_minute: Option<u32>,
    pub reason: String,
}

/// The error-rate rule with its boundaries worked out from a checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRateTest {
    policy: ErrorRatePolicy,
    tolerated_ratio: f64,
    threshold_ratio: f64,
    regression_ratio: f64,
    fail_boundary: f64,
    pass_boundary: f64,
}

/// The test's figures at one minute since the deploy.
#[derive(Debug, Clone, Copy)]
struct Look {
    minute: u32,
    errors: u64,
    log_likelihood_ratio: f64,
}

impl ErrorRateTest {
    pub fn new(policy: &ErrorRatePolicy) -> Result<Self, PolicyError> {
        require(
            policy.tolerated_increase.is_finite() && policy.tolerated_increase >= 0.0,
            "tolerated_increase",
            "must be a number of at least 0",
        )?;
        require(
            policy.max_increase.is_finite()
                && policy.max_increase > policy.tolerated_increase
                && policy.max_increase <= 100.0,
            "max_increase",
            "must be above tolerated_increase and at most 100 (+10000%)",
        )?;
        require(
            policy.false_alarm > 0.0 && policy.false_alarm < 0.5,
            "false_alarm",
            "must be between 0 and 0.5",
        )?;
        require(
            policy.missed_regression > 0.0 && policy.missed_regression < 0.5,
            "missed_regression",
            "must be between 0 and 0.5",
        )?;
        require(
            policy.min_baseline_minutes >= 1,
            "min_baseline_minutes",
            "must be at least 1",
        )?;
        require(
            policy.window_minutes >= 1,
            "window_minutes",
            "must be at least 1",
        )?;
        let tolerated_ratio = 1.0 + policy.tolerated_increase;
        let threshold_ratio = 1.0 + policy.max_increase;
        let (alpha, beta) = (policy.false_alarm, policy.missed_regression);
        Ok(Self {
            policy: policy.clone(),
            tolerated_ratio,
            threshold_ratio,
            regression_ratio: ratio_with_log_mean(tolerated_ratio, threshold_ratio),
            fail_boundary: ((1.0 - beta) / alpha).ln(),
            pass_boundary: (beta / (1.0 - alpha)).ln(),
        })
    }

    pub fn policy(&self) -> &ErrorRatePolicy {
        &self.policy
    }

    /// The ratio the test weighs against the tolerated drift (about 2.0 by default).
    pub fn regression_ratio(&self) -> f64 {
        self.regression_ratio
    }

    /// Judges the deploy on the baseline's per-minute counts and the complete minutes since
    /// the deploy (minute 1 first). The minute still counting must be left out: a partial
    /// minute reads as a drop.
    pub fn evaluate(&self, baseline_per_minute: &[u64], since_deploy: &[u64]) -> ErrorRateOutcome {
        let baseline_minutes = baseline_per_minute.len();
        let baseline_errors = saturating_sum(baseline_per_minute);
        let window = usize::try_from(self.policy.window_minutes).unwrap_or(usize::MAX);
        let observed = &since_deploy[..since_deploy.len().min(window)];

        let baseline_long_enough = baseline_minutes >= self.policy.min_baseline_minutes;
        let mut errors = 0u64;
        let mut latest = self.look(baseline_minutes, baseline_errors, 0, 0);
        for (index, &count) in observed.iter().enumerate() {
            errors = errors.saturating_add(count);
            let minute = u32::try_from(index + 1).unwrap_or(u32::MAX);
            latest = self.look(baseline_minutes, baseline_errors, minute, errors);
            if baseline_long_enough && self.fails(&latest, baseline_minutes, baseline_errors) {
                let reason = self.failure_reason(&latest, baseline_minutes, baseline_errors);
                return self.outcome(
                    Verdict::Fail,
                    &latest,
                    baseline_minutes,
                    baseline_errors,
                    reason,
                );
            }
        }
        if !baseline_long_enough {
            let reason = format!(
                "not enough data: the baseline has {baseline_minutes} minutes of errors, {} \
                 needed",
                self.policy.min_baseline_minutes
            );
            return self.outcome(
                Verdict::NotEnoughData,
                &latest,
                baseline_minutes,
                baseline_errors,
                reason,
            );
        }

        let rate = Rates::of(&latest, baseline_minutes, baseline_errors);
        let (verdict, reason) = if latest.minute == 0 {
            (
                Verdict::NotEnoughData,
                "not enough data: no complete minute since the deploy yet".to_string(),
            )
        } else if latest.log_likelihood_ratio <= self.pass_boundary
            && rate.ratio.is_some_and(|r| r <= self.threshold_ratio)
        {
            (
                Verdict::Pass,
                format!(
                    "errors {} vs baseline {} ({}), within +{} (sequential test: evidence {} \
                     against a regression)",
                    per_minute(rate.measured),
                    per_minute(rate.baseline),
                    change_text(rate.ratio),
                    percent(self.policy.max_increase),
                    odds(-latest.log_likelihood_ratio),
                ),
            )
        } else {
            (
                Verdict::NotEnoughData,
                format!(
                    "not enough data yet: {} errors in {} min vs baseline {} ({}); the \
                     sequential test cannot tell yet whether errors rose above +{} (evidence {})",
                    latest.errors,
                    latest.minute,
                    per_minute(rate.baseline),
                    change_text(rate.ratio),
                    percent(self.policy.max_increase),
                    odds(latest.log_likelihood_ratio),
                ),
            )
        };
        self.outcome(verdict, &latest, baseline_minutes, baseline_errors, reason)
    }

    fn look(
        &self,
        baseline_minutes: usize,
        baseline_errors: u64,
        minute: u32,
        errors: u64,
    ) -> Look {
        let baseline_span = baseline_minutes as f64;
        let t = f64::from(minute);
        let total = baseline_errors as f64 + errors as f64;
        let log_likelihood_ratio = if minute == 0 {
            0.0
        } else {
            errors as f64 * (self.regression_ratio / self.tolerated_ratio).ln()
                + total
                    * ((baseline_span + self.tolerated_ratio * t)
                        / (baseline_span + self.regression_ratio * t))
                        .ln()
        };
        Look {
            minute,
            errors,
            log_likelihood_ratio,
        }
    }

    fn fails(&self, look: &Look, baseline_minutes: usize, baseline_errors: u64) -> bool {
        let rate = Rates::of(look, baseline_minutes, baseline_errors);
        look.errors >= self.policy.min_events
            && rate.ratio.is_none_or(|r| r > self.threshold_ratio)
            && look.log_likelihood_ratio >= self.fail_boundary
    }

    fn failure_reason(&self, look: &Look, baseline_minutes: usize, baseline_errors: u64) -> String {
        let rate = Rates::of(look, baseline_minutes, baseline_errors);
        let against = match rate.ratio {
            Some(ratio) => format!(
                "vs baseline {} ({})",
                per_minute(rate.baseline),
                change_text(Some(ratio))
            ),
            None => format!("after none in the {baseline_minutes} baseline minutes"),
        };
        format!(
            "errors {} {against}, above +{} (sequential test at minute {}: evidence {} for a \
             regression, boundary {})",
            per_minute(rate.measured),
            percent(self.policy.max_increase),
            look.minute,
            odds(look.log_likelihood_ratio),
            odds(self.fail_boundary),
        )
    }

    fn outcome(
        &self,
        verdict: Verdict,
        look: &Look,
        baseline_minutes: usize,
        baseline_errors: u64,
        reason: String,
    ) -> ErrorRateOutcome {
        let rate = Rates::of(look, baseline_minutes, baseline_errors);
        ErrorRateOutcome {
            verdict,
            explanation: ErrorRateExplanation {
                measured_per_minute: rate.measured,
                baseline_per_minute: rate.baseline,
                change: rate.ratio.map(|r| r - 1.0),
                max_increase: self.policy.max_increase,
                minutes_observed: look.minute,
                window_minutes: self.policy.window_minutes,
                baseline_minutes: u32::try_from(baseline_minutes).unwrap_or(u32::MAX),
                errors_since_deploy: look.errors,
                baseline_errors,
                log_likelihood_ratio: look.log_likelihood_ratio,
                fail_boundary: self.fail_boundary,
                pass_boundary: self.pass_boundary,
                tolerated_ratio: self.tolerated_ratio,
                regression_ratio: self.regression_ratio,
                failed_at_minute: (verdict == Verdict::Fail).then_some(look.minute),
                reason,
            },
        }
    }
}

/// Builds the test from `policy` and judges the deploy once; see [`ErrorRateTest::evaluate`].
pub fn evaluate_error_rate(
    policy: &ErrorRatePolicy,
    baseline_per_minute: &[u64],
    since_deploy: &[u64],
) -> Result<ErrorRateOutcome, PolicyError> {
    Ok(ErrorRateTest::new(policy)?.evaluate(baseline_per_minute, since_deploy))
}

/// Per-minute rates at one look.
struct Rates {
    measured: f64,
    baseline: f64,
    /// `None` when the baseline had no errors at all.
    ratio: Option<f64>,
}

impl Rates {
    fn of(look: &Look, baseline_minutes: usize, baseline_errors: u64) -> Self {
        let measured = if look.minute == 0 {
            0.0
        } else {
            look.errors as f64 / f64::from(look.minute)
        };
        let baseline = if baseline_minutes == 0 {
            0.0
        } else {
            baseline_errors as f64 / baseline_minutes as f64
        };
        let ratio = (baseline > 0.0).then(|| measured / baseline);
        Self {
            measured,
            baseline,
            ratio,
        }
    }
}

/// The `high` for which the logarithmic mean of `low` and `high` is `target` (`low < target`).
/// The logarithmic mean lies between the geometric and the arithmetic mean, which brackets
/// the answer in `[2 target − low, target² / low]`.
fn ratio_with_log_mean(low: f64, target: f64) -> f64 {
    let log_mean = |high: f64| (high - low) / (high / low).ln();
    let (mut below, mut above) = ((2.0 * target - low).max(target), target * target / low);
    for _ in 0..200 {
        let middle = 0.5 * (below + above);
        if log_mean(middle) < target {
            below = middle;
        } else {
            above = middle;
        }
    }
    0.5 * (below + above)
}

fn saturating_sum(counts: &[u64]) -> u64 {
    counts.iter().fold(0u64, |sum, &c| sum.saturating_add(c))
}

/// A rate as the screen writes it: "10.2/min", "150/min".
pub(crate) fn per_minute(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}/min")
    } else {
        format!("{rate:.1}/min")
    }
}

fn change_text(ratio: Option<f64>) -> String {
    match ratio {
        None => "no baseline errors".to_string(),
        Some(ratio) => {
            let pct = ((ratio - 1.0) * 100.0).round();
            if pct == 0.0 {
                "+0%".to_string()
            } else {
                format!("{pct:+.0}%")
            }
        }
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

/// A log-likelihood ratio as betting odds, "95:1".
fn odds(log_ratio: f64) -> String {
    const SHOWN_UP_TO: f64 = 1_000_000.0;
    if log_ratio >= SHOWN_UP_TO.ln() {
        "over 1000000:1".to_string()
    } else if log_ratio >= 0.0 {
        format!("{:.0}:1", log_ratio.exp())
    } else if -log_ratio >= SHOWN_UP_TO.ln() {
        "under 1:1000000".to_string()
    } else {
        format!("1:{:.0}", (-log_ratio).exp())
    }
}

// ---------------------------------------------------------------------------------------------
// Rule 2: new error types
// ---------------------------------------------------------------------------------------------

/// A Sentry issue as the engine fetched it; `title` already sanitized.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorIssue {
    pub id: String,
    pub title: String,
    pub first_seen: DateTime<Utc>,
    pub count: u64,
    /// The release the issue was first seen in, when Sentry knows it.
    pub release: Option<String>,
}

/// When a new error type fails the verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewIssuePolicy {
    /// As soon as it appears.
    #[default]
    Any,
    /// Once it has at least this many events.
    AtLeast(u64),
}

impl NewIssuePolicy {
    fn min_count(self) -> u64 {
        match self {
            NewIssuePolicy::Any => 1,
            NewIssuePolicy::AtLeast(count) => count.max(1),
        }
    }
}

/// An error type first seen since the deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewIssue {
    pub id: String,
    pub title: String,
    pub first_seen: DateTime<Utc>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewErrorTypesOutcome {
    pub verdict: Verdict,
    pub explanation: NewErrorTypesExplanation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewErrorTypesExplanation {
    pub deployed_at: DateTime<Utc>,
    /// Events a new type needs before it fails the deploy.
    pub min_count: u64,
    /// New types that fail the deploy, oldest first.
    pub failing: Vec<NewIssue>,
    /// New types still under `min_count`, oldest first.
    pub below_count: Vec<NewIssue>,
    pub reason: String,
}

/// How many failing issue titles a reason names before it says "and N more".
const ISSUES_NAMED: usize = 2;

/// Finds the error types first seen at or after `deployed_at`. An issue whose release is
/// tagged with a commit SHA only counts when that is `deployed_sha` (the release still running
/// elsewhere during a rollout has its own new issues); releases named otherwise ("v1.4.2")
/// cannot be matched to a commit and do not exclude the issue.
pub fn evaluate_new_error_types(
    issues: &[ErrorIssue],
    deployed_at: DateTime<Utc>,
    deployed_sha: &str,
    policy: NewIssuePolicy,
) -> NewErrorTypesOutcome {
    let min_count = policy.min_count();
    // Keyed by id: paged answers can list one issue twice, with counts from different moments.
    let mut fresh: BTreeMap<&str, NewIssue> = BTreeMap::new();
    for issue in issues {
        if issue.first_seen < deployed_at || !in_deployed_release(issue, deployed_sha) {
            continue;
        }
        fresh
            .entry(issue.id.as_str())
            .and_modify(|known| {
                known.count = known.count.max(issue.count);
                known.first_seen = known.first_seen.min(issue.first_seen);
            })
            .or_insert_with(|| NewIssue {
                id: issue.id.clone(),
                title: issue.title.clone(),
                first_seen: issue.first_seen,
                count: issue.count,
            });
    }
    let mut fresh: Vec<NewIssue> = fresh.into_values().collect();
    fresh.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then_with(|| a.id.cmp(&b.id))
    });
    let (failing, below_count): (Vec<NewIssue>, Vec<NewIssue>) = fresh
        .into_iter()
        .partition(|issue| issue.count >= min_count);

    let verdict = if failing.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let reason = match (failing.as_slice(), below_count.len()) {
        ([], 0) => "no new error type since the deploy".to_string(),
        ([], waiting) => format!(
            "no new error type with {min_count} events or more; {waiting} new with fewer: {}",
            issue_list(&below_count)
        ),
        ([_], _) => format!("new error type since the deploy: {}", issue_list(&failing)),
        (_, _) => format!(
            "{} new error types since the deploy: {}",
            failing.len(),
            issue_list(&failing)
        ),
    };
    NewErrorTypesOutcome {
        verdict,
        explanation: NewErrorTypesExplanation {
            deployed_at,
            min_count,
            failing,
            below_count,
            reason,
        },
    }
}

fn issue_list(issues: &[NewIssue]) -> String {
    let mut named: Vec<String> = issues
        .iter()
        .take(ISSUES_NAMED)
        .map(|issue| {
            let name = if issue.title.is_empty() {
                &issue.id
            } else {
                &issue.title
            };
            let events = if issue.count == 1 { "event" } else { "events" };
            format!(
                "\"{name}\" ({} {events}, first seen {} UTC)",
                issue.count,
                issue.first_seen.format("%H:%M:%S")
            )
        })
        .collect();
    if issues.len() > ISSUES_NAMED {
        named.push(format!("and {} more", issues.len() - ISSUES_NAMED));
    }
    named.join(", ")
}

fn in_deployed_release(issue: &ErrorIssue, deployed_sha: &str) -> bool {
    let Some(release) = issue.release.as_deref() else {
        return true;
    };
    // Sentry releases are often "project@version".
    let version = release.rsplit_once('@').map_or(release, |(_, v)| v).trim();
    let deployed = deployed_sha.trim();
    if !looks_like_sha(version) || !looks_like_sha(deployed) {
        return true;
    }
    let (short, long) = if version.len() <= deployed.len() {
        (version, deployed)
    } else {
        (deployed, version)
    };
    short.len() >= 7
        && long
            .get(..short.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(short))
}

fn looks_like_sha(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// Rule 3: latency SLO from the smoke probes
// ---------------------------------------------------------------------------------------------

/// One smoke probe's latency.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySample {
    pub check: String,
    pub at: DateTime<Utc>,
    pub latency: Duration,
}

/// A check's latency objective: its percentile (the policy's, p95 by default) under `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyTarget {
    pub check: String,
    pub target: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatencyPolicy {
    /// The percentile compared with each target (0.95: p95).
    pub percentile: f64,
    /// The first stretch after the deploy, judged on its own (5 min).
    pub first_phase: Duration,
    /// The whole verification window (15 min).
    pub window: Duration,
    /// Probes a check needs before its percentile is judged. The nearest-rank p95 of fewer
    /// than 20 probes is their maximum: one slow probe would decide.
    pub min_samples: usize,
}

impl Default for LatencyPolicy {
    fn default() -> Self {
        Self {
            percentile: 0.95,
            first_phase: Duration::from_secs(5 * 60),
            window: Duration::from_secs(15 * 60),
            min_samples: 20,
        }
    }
}

/// Which stretch of the window a latency figure covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyPhase {
    /// The first minutes after the deploy (the policy's `first_phase`).
    FirstMinutes,
    /// Everything since the deploy, up to the end of the window.
    Window,
}

/// One check's latency against its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckLatency {
    pub check: String,
    pub target_ms: f64,
    pub percentile: f64,
    /// The phase `measured_ms` covers: the first minutes while they last, then the window.
    pub phase: LatencyPhase,
    pub measured_ms: Option<f64>,
    pub samples: usize,
    /// The first minutes' figure, kept once the window phase began.
    pub first_phase_ms: Option<f64>,
    pub first_phase_samples: usize,
    pub verdict: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyExplanation {
    pub checks: Vec<CheckLatency>,
    pub min_samples: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyOutcome {
    pub verdict: Verdict,
    pub explanation: LatencyExplanation,
}

/// Judges each targeted check's latency since `deployed_at`, as of `now`: its percentile over
/// the first phase, and over the window so far once the first phase is over. Samples of
/// checks without a target, before the deploy, after the window or after `now` are ignored.
pub fn evaluate_latency(
    samples: &[LatencySample],
    targets: &[LatencyTarget],
    deployed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &LatencyPolicy,
) -> Result<LatencyOutcome, PolicyError> {
    require(
        policy.percentile > 0.0 && policy.percentile <= 1.0,
        "percentile",
        "must be above 0 and at most 1",
    )?;
    require(policy.min_samples >= 1, "min_samples", "must be at least 1")?;
    require(
        !policy.window.is_zero(),
        "window",
        "must be longer than zero",
    )?;
    require(
        policy.first_phase <= policy.window,
        "first_phase",
        "must not be longer than the window",
    )?;
    let first_end = deployed_at + time_delta(policy.first_phase, "first_phase")?;
    let window_end = deployed_at + time_delta(policy.window, "window")?;
    let first_phase_minutes = policy.first_phase.as_secs_f64() / 60.0;
    let phase = if now < first_end {
        LatencyPhase::FirstMinutes
    } else {
        LatencyPhase::Window
    };

    let mut checks = Vec::new();
    for target in targets {
        if checks
            .iter()
            .any(|c: &CheckLatency| c.check == target.check)
        {
            continue;
        }
        let in_span = |end: DateTime<Utc>| {
            let mut millis: Vec<f64> = samples
                .iter()
                .filter(|s| {
                    s.check == target.check && s.at >= deployed_at && s.at < end && s.at <= now
                })
                .map(|s| s.latency.as_secs_f64() * 1000.0)
                .collect();
            millis.sort_by(f64::total_cmp);
            millis
        };
        let first = in_span(first_end);
        let window = in_span(window_end);
        let target_ms = target.target.as_secs_f64() * 1000.0;
        let judged = |millis: &[f64]| {
            (millis.len() >= policy.min_samples)
                .then(|| nearest_rank(millis, policy.percentile))
                .flatten()
        };
        let first_ms = judged(&first);
        let window_ms = judged(&window);
        let label = percentile_label(policy.percentile);
        let name = &target.check;
        let (measured_ms, count) = match phase {
            LatencyPhase::FirstMinutes => (first_ms, first.len()),
            LatencyPhase::Window => (window_ms, window.len()),
        };
        let (verdict, reason) = match (first_ms, window_ms) {
            (Some(ms), _) if ms > target_ms => (
                Verdict::Fail,
                format!(
                    "{name}: {label} {} over the first {} min ({} probes), above the {} target",
                    millis_text(ms),
                    minutes_text(first_phase_minutes),
                    first.len(),
                    millis_text(target_ms)
                ),
            ),
            (_, Some(ms)) if ms > target_ms => (
                Verdict::Fail,
                format!(
                    "{name}: {label} {} since the deploy ({} probes), above the {} target",
                    millis_text(ms),
                    window.len(),
                    millis_text(target_ms)
                ),
            ),
            _ => match measured_ms {
                Some(ms) => (
                    Verdict::Pass,
                    format!(
                        "{name}: {label} {} since the deploy ({count} probes), within {}",
                        millis_text(ms),
                        millis_text(target_ms)
                    ),
                ),
                None => (
                    Verdict::NotEnoughData,
                    format!(
                        "{name}: not enough data: {count} probes since the deploy, {} needed \
                         for a {label}",
                        policy.min_samples
                    ),
                ),
            },
        };
        checks.push(CheckLatency {
            check: target.check.clone(),
            target_ms,
            percentile: policy.percentile,
            phase,
            measured_ms,
            samples: count,
            first_phase_ms: first_ms,
            first_phase_samples: first.len(),
            verdict,
            reason,
        });
    }

    let verdict = worst_of(checks.iter().map(|c| c.verdict), checks.is_empty());
    let reason = if checks.is_empty() {
        "not enough data: no latency target is set".to_string()
    } else {
        let shown: Vec<&str> = checks
            .iter()
            .filter(|c| c.verdict == verdict)
            .map(|c| c.reason.as_str())
            .collect();
        if verdict == Verdict::Pass && checks.len() > 1 {
            format!("every check within its target: {}", shown.join("; "))
        } else {
            shown.join("; ")
        }
    };
    Ok(LatencyOutcome {
        verdict,
        explanation: LatencyExplanation {
            checks,
            min_samples: policy.min_samples,
            reason,
        },
    })
}

/// Fail if any part fails; otherwise not enough data if any part (or everything, when there
/// are no parts) lacks data; otherwise pass.
fn worst_of(verdicts: impl Iterator<Item = Verdict>, nothing_judged: bool) -> Verdict {
    let mut worst = if nothing_judged {
        Verdict::NotEnoughData
    } else {
        Verdict::Pass
    };
    for verdict in verdicts {
        match verdict {
            Verdict::Fail => return Verdict::Fail,
            Verdict::NotEnoughData => worst = Verdict::NotEnoughData,
            Verdict::Pass => {}
        }
    }
    worst
}

/// The nearest-rank percentile of sorted values: the smallest value with at least that share
/// of the values at or below it.
fn nearest_rank(sorted: &[f64], percentile: f64) -> Option<f64> {
    let rank = (percentile * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

fn percentile_label(percentile: f64) -> String {
    let pct = percentile * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("p{pct:.0}")
    } else {
        format!("p{pct}")
    }
}

fn millis_text(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn minutes_text(minutes: f64) -> String {
    if (minutes - minutes.round()).abs() < 1e-9 {
        format!("{minutes:.0}")
    } else {
        format!("{minutes:.1}")
    }
}

// ---------------------------------------------------------------------------------------------
// Rule 4: SLO burn rate from the smoke probes
// ---------------------------------------------------------------------------------------------

/// One smoke probe's outcome (a timeout or connection error is not ok).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub at: DateTime<Utc>,
    pub ok: bool,
}

/// One alert of the multi-window rule: fail when the burn rate reaches `burn_rate` over both
/// windows; the short one makes the alert stop soon after the problem does.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnRateAlert {
    pub long_window: Duration,
    pub short_window: Duration,
    pub burn_rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BurnRatePolicy {
    /// Availability objective, e.g. 0.999.
    pub objective: f64,
    pub alerts: Vec<BurnRateAlert>,
    /// Probes each window needs before its ratio is trusted.
    pub min_probes: usize,
    /// An alert fires only when a service exactly at its objective would fail as many of the
    /// long window's probes with at most this chance.
    pub significance: f64,
}

impl Default for BurnRatePolicy {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            objective: 0.999,
            alerts: vec![
                BurnRateAlert {
                    long_window: minutes(60),
                    short_window: minutes(5),
                    burn_rate: 14.4,
                },
                BurnRateAlert {
                    long_window: minutes(6 * 60),
                    short_window: minutes(30),
                    burn_rate: 6.0,
                },
            ],
            min_probes: 5,
            significance: 0.005,
        }
    }
}

/// The chance of `failed` or more failures among `probes` independent probes that each fail
/// with chance `ratio`: the binomial upper tail, summed in a numerically safe way.
pub fn failures_chance(probes: usize, failed: usize, ratio: f64) -> f64 {
    if failed == 0 {
        return 1.0;
    }
    if failed > probes || ratio <= 0.0 {
        return 0.0;
    }
    if ratio >= 1.0 {
        return 1.0;
    }
    let (n, p) = (probes as f64, ratio);
    // From the mode up the terms only shrink; at or below the mean the tail is at least a
    // third or so, never evidence.
    if (failed as f64) <= n * p {
        return 1.0;
    }
    let ln_first = (1..=failed)
        .map(|i| ((n - failed as f64 + i as f64) / i as f64).ln())
        .sum::<f64>()
        + failed as f64 * p.ln()
        + (n - failed as f64) * (-p).ln_1p();
    let odds = p / (1.0 - p);
    let (mut term, mut sum) = (1.0f64, 0.0f64);
    for k in failed..=probes {
        sum += term;
        if term < sum * 1e-15 {
            break;
        }
        term *= (n - k as f64) / (k as f64 + 1.0) * odds;
    }
    (ln_first + sum.ln()).exp().min(1.0)
}

/// The probes of one window and their burn rate (error ratio over the error budget).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowBurn {
    pub window_minutes: f64,
    pub probes: usize,
    pub failed: usize,
    /// `None` with fewer probes than the policy's minimum.
    pub error_ratio: Option<f64>,
    pub burn_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertBurn {
    pub long: WindowBurn,
    pub short: WindowBurn,
    pub threshold: f64,
    /// The chance of the long window's failures for a service exactly at its objective.
    pub chance: f64,
    pub verdict: Verdict,
}

impl AlertBurn {
    /// Both windows reach the threshold, but too few probes failed to tell a bad deploy from
    /// bad luck.
    fn reached_by_chance(&self, significance: f64) -> bool {
        self.verdict == Verdict::Pass
            && self.chance > significance
            && [&self.long, &self.short]
                .iter()
                .all(|w| w.burn_rate.is_some_and(|b| b >= self.threshold))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRateExplanation {
    pub objective: f64,
    pub alerts: Vec<AlertBurn>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRateOutcome {
    pub verdict: Verdict,
    pub explanation: BurnRateExplanation,
}

/// One alert's two windows and its threshold in words, e.g. "15x over 1h and 20x over 5m,
/// at or above 14.4x".
fn alert_text(alert: &AlertBurn, between: &str, before_threshold: &str) -> String {
    format!(
        "{} over {}{between}{} over {}{before_threshold}{}",
        burn_text(alert.long.burn_rate),
        window_text(alert.long.window_minutes),
        burn_text(alert.short.burn_rate),
        window_text(alert.short.window_minutes),
        burn_text(Some(alert.threshold))
    )
}

/// Judges the error budget's burn rate as of `now`, over the windows ending at `now`, from
/// probes taken since `observed_since` (the deploy). Fails when any alert's burn rate is at or
/// above its threshold over both its windows; not enough data when no alert has enough probes
/// in both windows.
///
/// An alert is judged only once the probes cover its whole short window: before that both of
/// its windows hold the same handful of probes, and a single failed probe among the first
/// dozen reads as a burn of 70x a 99.9% budget. The long window is then the time since the
/// deploy, at most its full length.
pub fn evaluate_burn_rate(
    probes: &[ProbeOutcome],
    observed_since: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &BurnRatePolicy,
) -> Result<BurnRateOutcome, PolicyError> {
    require(
        policy.objective > 0.0 && policy.objective < 1.0,
        "objective",
        "must be between 0 and 1, e.g. 0.999",
    )?;
    require(policy.min_probes >= 1, "min_probes", "must be at least 1")?;
    require(
        policy.significance > 0.0 && policy.significance < 1.0,
        "significance",
        "must be between 0 and 1, e.g. 0.005",
    )?;
    let budget = 1.0 - policy.objective;
    let mut alerts = Vec::new();
    for alert in &policy.alerts {
        require(
            alert.burn_rate.is_finite() && alert.burn_rate > 0.0,
            "burn_rate",
            "must be a positive number",
        )?;
        require(
            !alert.short_window.is_zero() && alert.short_window <= alert.long_window,
            "short_window",
            "must be shorter than the long window",
        )?;
        let long = window_burn(probes, now, alert.long_window, budget, policy.min_probes)?;
        let short = window_burn(probes, now, alert.short_window, budget, policy.min_probes)?;
        // The tolerance keeps a ratio exactly at the threshold (14.4 × 0.1%) from missing it by
        // a rounding error.
        let reaches = |w: &WindowBurn| w.burn_rate.map(|b| b >= alert.burn_rate * (1.0 - 1e-9));
        let short_covered = now - observed_since >= time_delta(alert.short_window, "short_window")?;
        let chance = failures_chance(long.probes, long.failed, budget);
        let verdict = match (reaches(&long), reaches(&short)) {
            _ if !short_covered => Verdict::NotEnoughData,
            (Some(true), Some(true)) if chance <= policy.significance => Verdict::Fail,
            (Some(_), Some(_)) => Verdict::Pass,
            _ => Verdict::NotEnoughData,
        };
        alerts.push(AlertBurn {
            long,
            short,
            threshold: alert.burn_rate,
            chance,
            verdict,
        });
    }
    let verdict = if alerts.iter().any(|a| a.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if alerts.iter().any(|a| a.verdict == Verdict::Pass) {
        Verdict::Pass
    } else {
        Verdict::NotEnoughData
    };
    let objective = format!("objective {}", objective_text(policy.objective));
    let reason = match verdict {
        Verdict::Fail => {
            let burning: Vec<String> = alerts
                .iter()
                .filter(|a| a.verdict == Verdict::Fail)
                .map(|a| alert_text(a, " and ", ", at or above "))
                .collect();
            format!("error budget burning {} ({objective})", burning.join("; "))
        }
        Verdict::Pass => {
            let shown: Vec<String> = alerts
                .iter()
                .filter(|a| a.verdict == Verdict::Pass)
                .map(|a| {
                    let mut text = format!("{})", alert_text(a, ", ", " (limit "));
                    if a.reached_by_chance(policy.significance) {
                        text.push_str(&format!(
                            ", but {} failed of {} probes is within what chance gives a \
                             service at its objective",
                            a.long.failed, a.long.probes
                        ));
                    }
                    text
                })
                .collect();
            format!("burn rate {} ({objective})", shown.join("; "))
        }
        Verdict::NotEnoughData => match policy.alerts.iter().map(|a| a.short_window).min() {
            Some(shortest) if now - observed_since < time_delta(shortest, "short_window")? => {
                format!(
                    "not enough data: the burn rate is judged once the probes cover {} \
                     ({objective})",
                    window_text(shortest.as_secs_f64() / 60.0)
                )
            }
            _ => format!(
                "not enough data: fewer than {} smoke probes in the burn-rate windows \
                 ({objective})",
                policy.min_probes
            ),
        },
    };
    Ok(BurnRateOutcome {
        verdict,
        explanation: BurnRateExplanation {
            objective: policy.objective,
            alerts,
            reason,
        },
    })
}

fn window_burn(
    probes: &[ProbeOutcome],
    now: DateTime<Utc>,
    window: Duration,
    budget: f64,
    min_probes: usize,
) -> Result<WindowBurn, PolicyError> {
    let start = now - time_delta(window, "long_window")?;
    let (count, failed) = probes
        .iter()
        .filter(|p| p.at > start && p.at <= now)
        .fold((0usize, 0usize), |(n, f), p| {
            (n + 1, f + usize::from(!p.ok))
        });
    let error_ratio = (count >= min_probes).then(|| failed as f64 / count as f64);
    Ok(WindowBurn {
        window_minutes: window.as_secs_f64() / 60.0,
        probes: count,
        failed,
        error_ratio,
        burn_rate: error_ratio.map(|r| r / budget),
    })
}

fn burn_text(burn: Option<f64>) -> String {
    match burn {
        Some(b) => format!("{b:.1}x"),
        None => "n/a".to_string(),
    }
}

fn window_text(minutes: f64) -> String {
    if minutes >= 60.0 && (minutes / 60.0 - (minutes / 60.0).round()).abs() < 1e-9 {
        format!("{:.0} h", minutes / 60.0)
    } else {
        format!("{} min", minutes_text(minutes))
    }
}

fn objective_text(objective: f64) -> String {
    let pct = objective * 100.0;
    let text = format!("{pct:.4}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

// ---------------------------------------------------------------------------------------------
// The verification's verdict
// ---------------------------------------------------------------------------------------------

/// The signals a verification weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    ErrorRate,
    NewErrorTypes,
    Latency,
    BurnRate,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::ErrorRate => "error rate",
            Signal::NewErrorTypes => "new error types",
            Signal::Latency => "latency",
            Signal::BurnRate => "burn rate",
        }
    }
}

/// One signal's verdict with its reason, as [`combine`] takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalVerdict {
    pub signal: Signal,
    pub verdict: Verdict,
    pub reason: String,
}

impl ErrorRateOutcome {
    pub fn signal(&self) -> SignalVerdict {
        signal(Signal::ErrorRate, self.verdict, &self.explanation.reason)
    }
}

impl NewErrorTypesOutcome {
    pub fn signal(&self) -> SignalVerdict {
        signal(
            Signal::NewErrorTypes,
            self.verdict,
            &self.explanation.reason,
        )
    }
}

impl LatencyOutcome {
    pub fn signal(&self) -> SignalVerdict {
        signal(Signal::Latency, self.verdict, &self.explanation.reason)
    }
}

impl BurnRateOutcome {
    pub fn signal(&self) -> SignalVerdict {
        signal(Signal::BurnRate, self.verdict, &self.explanation.reason)
    }
}

fn signal(signal: Signal, verdict: Verdict, reason: &str) -> SignalVerdict {
    SignalVerdict {
        signal,
        verdict,
        reason: reason.to_string(),
    }
}

/// Where a verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    /// The window is still open and nothing failed.
    InProgress,
    /// The window has elapsed, nothing failed and at least one signal could judge the deploy.
    Passed,
    /// A signal failed: roll back.
    Failed,
    /// The window has elapsed, nothing failed, and no signal had enough data to judge.
    NotEnoughData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationVerdict {
    pub state: VerificationState,
    /// Every failing signal with its reason.
    pub failures: Vec<SignalVerdict>,
    /// Signals that had not enough data, shown as such even when the verification passed.
    pub not_enough_data: Vec<Signal>,
    pub reason: String,
}

/// Combines the signals: any failure fails (naming every failing reason), whenever it comes;
/// until the window has elapsed the verification is in progress; after it, it passes when at
/// least one signal judged the deploy, and signals without enough data stay listed.
pub fn combine(signals: &[SignalVerdict], window_elapsed: bool) -> VerificationVerdict {
    let failures: Vec<SignalVerdict> = signals
        .iter()
        .filter(|s| s.verdict == Verdict::Fail)
        .cloned()
        .collect();
    let not_enough_data: Vec<Signal> = signals
        .iter()
        .filter(|s| s.verdict == Verdict::NotEnoughData)
        .map(|s| s.signal)
        .collect();
    let any_judged = signals.iter().any(|s| s.verdict == Verdict::Pass);
    let state = if !failures.is_empty() {
        VerificationState::Failed
    } else if !window_elapsed {
        VerificationState::InProgress
    } else if any_judged {
        VerificationState::Passed
    } else {
        VerificationState::NotEnoughData
    };
    let gaps = if not_enough_data.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = not_enough_data.iter().map(|s| s.label()).collect();
        format!(" (not enough data: {})", names.join(", "))
    };
    let reason = match state {
        VerificationState::Failed => {
            let reasons: Vec<String> = failures
                .iter()
                .map(|f| format!("{}: {}", f.signal.label(), f.reason))
                .collect();
            format!("verification failed: {}", reasons.join("; "))
        }
        VerificationState::InProgress => format!("verifying: nothing failed so far{gaps}"),
        VerificationState::Passed => format!("verified: nothing failed in the window{gaps}"),
        VerificationState::NotEnoughData => {
            "not enough data to verify: no signal could judge the deploy in the window".to_string()
        }
    };
    VerificationVerdict {
        state,
        failures,
        not_enough_data,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::verify_bench::poisson;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::minutes(minutes)
    }

    fn at_secs(secs: i64) -> DateTime<Utc> {
        at(0) + TimeDelta::seconds(secs)
    }

    fn test() -> ErrorRateTest {
        ErrorRateTest::new(&ErrorRatePolicy::default()).unwrap()
    }

    /// The log-likelihood ratio worked out by hand with the default ratios.
    fn llr(baseline: f64, baseline_minutes: f64, errors: f64, minutes: f64) -> f64 {
        let (low, high) = (1.1, test().regression_ratio());
        errors * (high / low).ln()
            + (baseline + errors)
                * ((baseline_minutes + low * minutes) / (baseline_minutes + high * minutes)).ln()
    }

    // --- rule 1: error rate -------------------------------------------------------------

    #[test]
    fn default_ratios_put_the_indifference_point_at_the_threshold() {
        let test = test();
        let high = test.regression_ratio();
        assert!((high - 1.986_892_585_5).abs() < 1e-9, "{high}");
        let log_mean = (high - 1.1) / (high / 1.1).ln();
        assert!((log_mean - 1.5).abs() < 1e-12);
        let explanation = test.evaluate(&[10; 30], &[10]).explanation;
        assert!((explanation.fail_boundary - 95f64.ln()).abs() < 1e-12);
        assert!((explanation.pass_boundary - (0.05f64 / 0.99).ln()).abs() < 1e-12);
    }

    #[test]
    fn a_tripling_fails_at_the_first_minute_with_the_figures_on_screen() {
        // 306 errors in 30 minutes is 10.2/min; 31 in the first minute is +204%.
        let mut baseline = vec![10u64; 30];
        baseline[..6].fill(11);
        let outcome = test().evaluate(&baseline, &[31]);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let e = &outcome.explanation;
        assert_eq!(e.failed_at_minute, Some(1));
        assert_eq!((e.baseline_errors, e.errors_since_deploy), (306, 31));
        assert!((e.baseline_per_minute - 10.2).abs() < 1e-12);
        assert!((e.measured_per_minute - 31.0).abs() < 1e-12);
        assert!((e.change.unwrap() - (31.0 / 10.2 - 1.0)).abs() < 1e-12);
        let expected = llr(306.0, 30.0, 31.0, 1.0);
        assert!((e.log_likelihood_ratio - expected).abs() < 1e-9);
        assert!((e.log_likelihood_ratio - 8.853).abs() < 1e-3);
        assert_eq!(
            e.reason,
            "errors 31.0/min vs baseline 10.2/min (+204%), above +50% (sequential test at \
             minute 1: evidence 6997:1 for a regression, boundary 95:1)"
        );
    }

    #[test]
    fn a_steady_deploy_passes_with_strong_evidence_against_a_regression() {
        let outcome = test().evaluate(&[10; 30], &[10; 15]);
        assert_eq!(outcome.verdict, Verdict::Pass);
        let e = &outcome.explanation;
        assert!((e.log_likelihood_ratio - llr(300.0, 30.0, 150.0, 15.0)).abs() < 1e-9);
        assert!((e.log_likelihood_ratio + 24.535).abs() < 1e-3);
        assert_eq!(e.minutes_observed, 15);
        assert_eq!(e.failed_at_minute, None);
        assert!(
            e.reason
                .starts_with("errors 10.0/min vs baseline 10.0/min (+0%), within +50%")
        );
    }

    #[test]
    fn low_traffic_says_not_enough_data_instead_of_guessing() {
        // 3 errors in 2 minutes against 1/min is +50%, yet the test has no evidence either way.
        let outcome = test().evaluate(&[1; 30], &[2, 1]);
        assert_eq!(outcome.verdict, Verdict::NotEnoughData);
        assert!(outcome.explanation.log_likelihood_ratio.abs() < 0.01);
        assert!(
            outcome
                .explanation
                .reason
                .starts_with("not enough data yet: 3 errors in 2 min")
        );
    }

    #[test]
    fn a_bare_ratio_would_fail_what_the_test_does_not() {
        // Triple the baseline in minute 1 at 1/min: a ratio of 3, but only 3 errors.
        let outcome = test().evaluate(&[1; 30], &[3]);
        assert_eq!(outcome.verdict, Verdict::NotEnoughData);
    }

    #[test]
    fn errors_after_a_silent_baseline_need_the_minimum_count_and_the_evidence() {
        let silent = [0u64; 30];
        // 4 errors: fewer than min_events. 8: ln-ratio 4.51, just under ln 95.
        for (errors, verdict) in [
            (4, Verdict::NotEnoughData),
            (8, Verdict::NotEnoughData),
            (9, Verdict::Fail),
        ] {
            let outcome = test().evaluate(&silent, &[errors]);
            assert_eq!(outcome.verdict, verdict, "{errors} errors");
            assert_eq!(outcome.explanation.change, None);
        }
        let e = test().evaluate(&silent, &[9]).explanation;
        assert!((e.log_likelihood_ratio - 5.0683).abs() < 1e-3);
        assert!(
            e.reason
                .starts_with("errors 9.0/min after none in the 30 baseline minutes, above +50%")
        );
    }

    #[test]
    fn at_high_traffic_the_threshold_decides() {
        let baseline = [1000u64; 30];
        let above = test().evaluate(&baseline, &[1600]);
        assert_eq!(above.verdict, Verdict::Fail);
        assert!((above.explanation.log_likelihood_ratio - 57.478).abs() < 1e-2);
        let below = test().evaluate(&baseline, &[1400]);
        assert_eq!(below.verdict, Verdict::Pass);
        assert!((below.explanation.log_likelihood_ratio + 55.151).abs() < 1e-2);
        // +40% for the whole window never fails, however sure the test is.
        assert_eq!(
            test().evaluate(&baseline, &[1400; 15]).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn the_guard_keeps_a_rise_under_the_threshold_from_failing() {
        // +49% for 15 minutes at 1000/min: the 30-minute baseline's own noise moves the test's
        // indifference point a little under +50%, so the evidence crosses the boundary; the
        // threshold still holds the rollback back.
        let outcome = test().evaluate(&[1000; 30], &[1490; 15]);
        assert!(outcome.explanation.log_likelihood_ratio > outcome.explanation.fail_boundary);
        assert_ne!(outcome.verdict, Verdict::Fail);
    }

    #[test]
    fn a_failure_stays_with_the_figures_of_the_minute_it_happened() {
        let test = test();
        let at_two = test.evaluate(&[10; 30], &[30, 30]);
        let later = test.evaluate(&[10; 30], &[30, 30, 0, 0, 0, 0]);
        assert_eq!(at_two.verdict, Verdict::Fail);
        let failed_at = at_two.explanation.failed_at_minute.unwrap();
        assert!(failed_at <= 2);
        assert_eq!(later, at_two);
    }

    #[test]
    fn minutes_after_the_window_are_ignored() {
        let mut since = vec![10u64; 15];
        since.extend([500, 500, 500]);
        let outcome = test().evaluate(&[10; 30], &since);
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.explanation.minutes_observed, 15);
        assert_eq!(outcome.explanation.errors_since_deploy, 150);
    }

    #[test]
    fn a_short_baseline_or_no_minute_yet_is_not_enough_data() {
        let short = test().evaluate(&[10; 14], &[100, 100]);
        assert_eq!(short.verdict, Verdict::NotEnoughData);
        assert_eq!(
            (
                short.explanation.minutes_observed,
                short.explanation.errors_since_deploy
            ),
            (2, 200)
        );
        assert_eq!(
            short.explanation.reason,
            "not enough data: the baseline has 14 minutes of errors, 15 needed"
        );
        let none_yet = test().evaluate(&[10; 30], &[]);
        assert_eq!(none_yet.verdict, Verdict::NotEnoughData);
        assert_eq!(
            none_yet.explanation.reason,
            "not enough data: no complete minute since the deploy yet"
        );
    }

    #[test]
    fn unusable_policies_are_refused() {
        let base = ErrorRatePolicy::default();
        let bad = [
            ErrorRatePolicy {
                max_increase: 0.1,
                ..base.clone()
            },
            ErrorRatePolicy {
                max_increase: f64::NAN,
                ..base.clone()
            },
            ErrorRatePolicy {
                tolerated_increase: -0.2,
                ..base.clone()
            },
            ErrorRatePolicy {
                false_alarm: 0.0,
                ..base.clone()
            },
            ErrorRatePolicy {
                missed_regression: 0.7,
                ..base.clone()
            },
            ErrorRatePolicy {
                window_minutes: 0,
                ..base.clone()
            },
            ErrorRatePolicy {
                min_baseline_minutes: 0,
                ..base.clone()
            },
        ];
        for policy in bad {
            assert!(ErrorRateTest::new(&policy).is_err(), "{policy:?}");
        }
        let err = evaluate_error_rate(
            &ErrorRatePolicy {
                max_increase: 0.05,
                ..base
            },
            &[1],
            &[1],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "verification policy: max_increase must be above tolerated_increase and at most \
             100 (+10000%)"
        );
    }

    #[test]
    fn other_thresholds_move_the_regression_ratio_with_them() {
        let doubled = ErrorRateTest::new(&ErrorRatePolicy {
            max_increase: 1.0,
            ..ErrorRatePolicy::default()
        })
        .unwrap();
        let high = doubled.regression_ratio();
        assert!(((high - 1.1) / (high / 1.1).ln() - 2.0).abs() < 1e-12);
        // +80% at 1000/min: fails at +50%, passes at +100%.
        assert_eq!(
            doubled.evaluate(&[1000; 30], &[1800; 3]).verdict,
            Verdict::Pass
        );
        assert_eq!(
            test().evaluate(&[1000; 30], &[1800; 3]).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn the_outcome_serializes_for_status_json() {
        let value = serde_json::to_value(test().evaluate(&[10; 30], &[31])).unwrap();
        assert_eq!(value["verdict"], "fail");
        assert_eq!(value["explanation"]["failed_at_minute"], 1);
        assert_eq!(value["explanation"]["window_minutes"], 15);
        let silent = serde_json::to_value(test().evaluate(&[0; 30], &[1])).unwrap();
        assert_eq!(silent["verdict"], "not_enough_data");
        assert!(silent["explanation"]["change"].is_null());
    }

    fn baseline_and_quiet_minutes() -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> {
        (proptest::collection::vec(0u64..5000, 15..=30), 1usize..=20).prop_flat_map(
            |(baseline, minutes)| {
                let mean = baseline.iter().sum::<u64>() as f64 / baseline.len() as f64;
                let ceiling = (1.5 * mean).floor() as u64;
                let since = proptest::collection::vec(0..=ceiling, minutes);
                (Just(baseline), since)
            },
        )
    }

    fn seeded() -> ProptestConfig {
        ProptestConfig {
            cases: 64,
            rng_seed: RngSeed::Fixed(0x5EED),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Good deploys drawn as the benchmark draws them: 30 Poisson baseline minutes at `rate`,
    /// then 15 at `rate × ratio`.
    fn drawn(rng: &mut SmallRng, rate: f64, ratio: f64) -> (Vec<u64>, Vec<u64>) {
        let baseline = (0..30).map(|_| poisson(rng, rate)).collect();
        let since = (0..15).map(|_| poisson(rng, rate * ratio)).collect();
        (baseline, since)
    }

    proptest! {
        #![proptest_config(seeded())]

        #[test]
        fn never_rolls_back_while_errors_stay_within_the_threshold(
            (baseline, since) in baseline_and_quiet_minutes()
        ) {
            prop_assert_ne!(test().evaluate(&baseline, &since).verdict, Verdict::Fail);
        }

        #[test]
        fn more_errors_after_the_deploy_never_turn_a_failure_into_a_pass(
            baseline in proptest::collection::vec(0u64..200, 30),
            since in proptest::collection::vec(0u64..600, 1..=15),
            extra in 0u64..200,
            minute in 0usize..15,
        ) {
            let test = test();
            let before = test.evaluate(&baseline, &since);
            let mut more = since.clone();
            let index = minute % more.len();
            more[index] += extra;
            let after = test.evaluate(&baseline, &more);
            if before.verdict == Verdict::Fail {
                prop_assert_eq!(after.verdict, Verdict::Fail);
                prop_assert!(after.explanation.failed_at_minute <= before.explanation.failed_at_minute);
            }
            // And more errors in the baseline never make a deploy fail.
            let mut busier = baseline.clone();
            busier[index % 30] += extra;
            if test.evaluate(&busier, &since).verdict == Verdict::Fail {
                prop_assert_eq!(before.verdict, Verdict::Fail);
            }
        }

        #[test]
        fn judging_minute_by_minute_fails_where_the_whole_path_does(
            baseline in proptest::collection::vec(0u64..100, 30),
            since in proptest::collection::vec(0u64..300, 1..=15),
        ) {
            let test = test();
            let whole = test.evaluate(&baseline, &since);
            let first_failure = (1..=since.len())
                .find(|&m| test.evaluate(&baseline, &since[..m]).verdict == Verdict::Fail);
            prop_assert_eq!(
                whole.explanation.failed_at_minute,
                first_failure.map(|m| m as u32)
            );
        }

        #[test]
        fn quiet_good_deploys_are_not_rolled_back_at_any_traffic(
            rate in prop_oneof![Just(1.0), Just(10.0), Just(100.0), Just(1000.0), 0.5f64..2000.0],
            seed in any::<u64>(),
        ) {
            // At most 2% (the issue's low-traffic limit) of 200 quiet deploys; the benchmark
            // measures 0.05% or less.
            let test = test();
            let mut rng = SmallRng::seed_from_u64(seed);
            let rolled_back = (0..200)
                .filter(|_| {
                    let (baseline, since) = drawn(&mut rng, rate, 1.0);
                    test.evaluate(&baseline, &since).verdict == Verdict::Fail
                })
                .count();
            prop_assert!(rolled_back <= 4, "{rolled_back} of 200 at {rate}/min");
        }

        #[test]
        fn a_tripling_is_rolled_back_within_three_minutes_from_ten_a_minute(
            rate in prop_oneof![Just(10.0), Just(100.0), Just(1000.0), 10.0f64..2000.0],
            seed in any::<u64>(),
        ) {
            let mut rng = SmallRng::seed_from_u64(seed);
            let (baseline, since) = drawn(&mut rng, rate, 3.0);
            let outcome = test().evaluate(&baseline, &since[..3]);
            prop_assert_eq!(outcome.verdict, Verdict::Fail);
            prop_assert!(outcome.explanation.failed_at_minute <= Some(3));
        }
    }

    // --- rule 2: new error types ----------------------------------------------------------

    const SHA: &str = "5e1ec7ed0c0ffee5eed5a11ad5fadedbeef0c0de";

    fn issue(id: &str, first_seen: DateTime<Utc>, count: u64, release: Option<&str>) -> ErrorIssue {
        ErrorIssue {
            id: id.to_string(),
            title: format!("Error {id}"),
            first_seen,
            count,
            release: release.map(str::to_string),
        }
    }

    #[test]
    fn an_issue_first_seen_after_the_deploy_fails_it() {
        let issues = [
            issue("1", at(-60), 900, Some("0bad5eed1dea5ca1ab1e")),
            issue("2", at_secs(95), 3, Some(SHA)),
        ];
        let outcome = evaluate_new_error_types(&issues, at(0), SHA, NewIssuePolicy::Any);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let e = &outcome.explanation;
        assert_eq!(e.failing.len(), 1);
        assert_eq!(e.failing[0].id, "2");
        assert!(e.below_count.is_empty());
        let time = at_secs(95).format("%H:%M:%S").to_string();
        assert_eq!(
            e.reason,
            format!(
                "new error type since the deploy: \"Error 2\" (3 events, first seen {time} UTC)"
            )
        );
    }

    #[test]
    fn old_issues_and_other_releases_do_not_count() {
        let issues = [
            issue("old", at(-1), 50, None),
            issue(
                "stale",
                at(3),
                5,
                Some("0bad5eed1dea5ca1ab1e0ddba11c0ffeefacade1"),
            ),
            issue("stale-app", at(4), 5, Some("shop@0bad5ee")),
        ];
        let outcome = evaluate_new_error_types(&issues, at(0), SHA, NewIssuePolicy::Any);
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(
            outcome.explanation.reason,
            "no new error type since the deploy"
        );
    }

    #[test]
    fn releases_match_by_short_sha_project_prefix_or_not_at_all() {
        for release in [
            Some(SHA),
            Some("5e1ec7e"),
            Some("shop@5E1EC7ED0C"),
            Some("v1.4.2"),
            Some(""),
            None,
        ] {
            let issues = [issue("n", at(1), 1, release)];
            let outcome = evaluate_new_error_types(&issues, at(0), SHA, NewIssuePolicy::Any);
            assert_eq!(outcome.verdict, Verdict::Fail, "{release:?}");
        }
        for release in [
            "5e1ec7f",
            "5e1ec7ed0c0ffee5eed5a11ad5fadedbeef0c0df",
            "shop@0bad5eed",
        ] {
            let issues = [issue("n", at(1), 1, Some(release))];
            let outcome = evaluate_new_error_types(&issues, at(0), SHA, NewIssuePolicy::Any);
            assert_eq!(outcome.verdict, Verdict::Pass, "{release}");
        }
        // Unknown deployed commit: the release cannot rule the issue out.
        let issues = [issue("n", at(1), 1, Some("0bad5eed"))];
        let outcome = evaluate_new_error_types(&issues, at(0), "", NewIssuePolicy::Any);
        assert_eq!(outcome.verdict, Verdict::Fail);
    }

    #[test]
    fn a_count_policy_waits_for_enough_events() {
        let policy = NewIssuePolicy::AtLeast(5);
        let few = [issue("n", at(2), 4, Some(SHA))];
        let outcome = evaluate_new_error_types(&few, at(0), SHA, policy);
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.explanation.below_count.len(), 1);
        assert!(outcome.explanation.reason.starts_with(
            "no new error type with 5 events or more; 1 new with fewer: \"Error n\" (4 events"
        ));
        let enough = [issue("n", at(2), 5, Some(SHA))];
        assert_eq!(
            evaluate_new_error_types(&enough, at(0), SHA, policy).verdict,
            Verdict::Fail
        );
        // At least 0 means any.
        let one = [issue("n", at(2), 1, None)];
        let any = evaluate_new_error_types(&one, at(0), SHA, NewIssuePolicy::AtLeast(0));
        assert_eq!(any.verdict, Verdict::Fail);
    }

    #[test]
    fn several_new_issues_are_named_oldest_first_and_listed_once() {
        let issues = [
            issue("c", at(9), 2, None),
            issue("a", at(0), 1, None), // seen at the deploy moment: new
            issue("b", at(5), 7, None),
            issue("b", at(5), 9, None), // the same issue from another page, counted later
        ];
        let outcome = evaluate_new_error_types(&issues, at(0), SHA, NewIssuePolicy::Any);
        let ids: Vec<&str> = outcome
            .explanation
            .failing
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(outcome.explanation.failing[1].count, 9);
        let reason = &outcome.explanation.reason;
        assert!(reason.starts_with("3 new error types since the deploy: \"Error a\" (1 event,"));
        assert!(reason.contains("\"Error b\" (9 events,"));
        assert!(reason.ends_with(", and 1 more"));
        let value = serde_json::to_value(&outcome).unwrap();
        assert_eq!(value["explanation"]["failing"][0]["id"], "a");
    }

    // --- rule 3: latency --------------------------------------------------------------------

    fn probe(check: &str, secs: i64, millis: u64) -> LatencySample {
        LatencySample {
            check: check.to_string(),
            at: at_secs(secs),
            latency: Duration::from_millis(millis),
        }
    }

    fn target(check: &str, millis: u64) -> LatencyTarget {
        LatencyTarget {
            check: check.to_string(),
            target: Duration::from_millis(millis),
        }
    }

    /// `n` probes of `check` every 10 s from `from_secs`, the last `slow` of them slow.
    fn probes(check: &str, from_secs: i64, n: usize, slow: usize) -> Vec<LatencySample> {
        (0..n)
            .map(|i| {
                let millis = if i >= n - slow { 900 } else { 100 };
                probe(check, from_secs + 10 * i as i64, millis)
            })
            .collect()
    }

    #[test]
    fn p95_of_twenty_probes_is_the_nineteenth() {
        let policy = LatencyPolicy::default();
        let targets = [target("checkout", 500)];
        // One slow probe in 20: the 19th is fast, within target.
        let one_slow = probes("checkout", 0, 20, 1);
        let outcome = evaluate_latency(&one_slow, &targets, at(0), at(4), &policy).unwrap();
        assert_eq!(outcome.verdict, Verdict::Pass);
        let check = &outcome.explanation.checks[0];
        assert_eq!(check.phase, LatencyPhase::FirstMinutes);
        assert_eq!((check.measured_ms, check.samples), (Some(100.0), 20));
        // Two slow probes in 20: the 19th is slow.
        let two_slow = probes("checkout", 0, 20, 2);
        let outcome = evaluate_latency(&two_slow, &targets, at(0), at(4), &policy).unwrap();
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(
            outcome.explanation.reason,
            "checkout: p95 900 ms over the first 5 min (20 probes), above the 500 ms target"
        );
    }

    #[test]
    fn too_few_probes_are_not_enough_data() {
        let samples = probes("checkout", 0, 19, 19);
        let outcome = evaluate_latency(
            &samples,
            &[target("checkout", 500)],
            at(0),
            at(4),
            &LatencyPolicy::default(),
        )
        .unwrap();
        assert_eq!(outcome.verdict, Verdict::NotEnoughData);
        assert_eq!(
            outcome.explanation.reason,
            "checkout: not enough data: 19 probes since the deploy, 20 needed for a p95"
        );
        let no_target =
            evaluate_latency(&samples, &[], at(0), at(4), &LatencyPolicy::default()).unwrap();
        assert_eq!(no_target.verdict, Verdict::NotEnoughData);
    }

    #[test]
    fn after_the_first_minutes_the_whole_window_is_judged() {
        let policy = LatencyPolicy::default();
        let targets = [target("search", 500)];
        // Fast for the first 5 minutes (30 probes), then 30 slow ones.
        let mut samples = probes("search", 0, 30, 0);
        samples.extend(probes("search", 300, 30, 30));
        let early = evaluate_latency(&samples, &targets, at(0), at_secs(299), &policy).unwrap();
        assert_eq!(early.verdict, Verdict::Pass);
        let later = evaluate_latency(&samples, &targets, at(0), at(10), &policy).unwrap();
        assert_eq!(later.verdict, Verdict::Fail);
        let check = &later.explanation.checks[0];
        assert_eq!(check.phase, LatencyPhase::Window);
        assert_eq!(
            (check.first_phase_ms, check.first_phase_samples),
            (Some(100.0), 30)
        );
        assert_eq!((check.measured_ms, check.samples), (Some(900.0), 60));
        assert_eq!(
            check.reason,
            "search: p95 900 ms since the deploy (60 probes), above the 500 ms target"
        );
    }

    #[test]
    fn slow_first_minutes_fail_even_when_the_window_recovers() {
        let mut samples = probes("search", 0, 20, 2);
        samples.extend(probes("search", 300, 60, 0));
        let outcome = evaluate_latency(
            &samples,
            &[target("search", 500)],
            at(0),
            at(14),
            &LatencyPolicy::default(),
        )
        .unwrap();
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.explanation.reason.contains("over the first 5 min"));
        assert_eq!(outcome.explanation.checks[0].measured_ms, Some(100.0));
    }

    #[test]
    fn only_the_targeted_checks_probes_in_the_window_count() {
        let mut samples = probes("home", 0, 20, 0);
        samples.extend(probes("home", -600, 20, 20)); // before the deploy
        samples.extend(probes("home", 15 * 60, 20, 20)); // after the window
        samples.extend(probes("admin", 0, 20, 20)); // no target
        samples.push(probe("home", 20 * 60 + 1, 5000)); // after now
        let outcome = evaluate_latency(
            &samples,
            &[target("home", 500), target("home", 50)],
            at(0),
            at(20),
            &LatencyPolicy::default(),
        )
        .unwrap();
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.explanation.checks.len(), 1);
        assert_eq!(outcome.explanation.checks[0].samples, 20);
    }

    #[test]
    fn one_failing_check_fails_and_one_without_data_holds_the_pass() {
        let mut samples = probes("fast", 0, 20, 0);
        let targets = [target("fast", 500), target("quiet", 500)];
        let policy = LatencyPolicy::default();
        let partial = evaluate_latency(&samples, &targets, at(0), at(4), &policy).unwrap();
        assert_eq!(partial.verdict, Verdict::NotEnoughData);
        samples.extend(probes("quiet", 0, 20, 0));
        let all = evaluate_latency(&samples, &targets, at(0), at(4), &policy).unwrap();
        assert_eq!(all.verdict, Verdict::Pass);
        assert!(
            all.explanation
                .reason
                .starts_with("every check within its target: fast: p95 100 ms")
        );
        samples.extend(probes("slow", 0, 20, 20));
        let with_slow = [target("fast", 500), target("slow", 300)];
        let failing = evaluate_latency(&samples, &with_slow, at(0), at(4), &policy).unwrap();
        assert_eq!(failing.verdict, Verdict::Fail);
        assert!(failing.explanation.reason.starts_with("slow: p95 900 ms"));
    }

    #[test]
    fn unusable_latency_policies_are_refused() {
        let base = LatencyPolicy::default();
        for policy in [
            LatencyPolicy {
                percentile: 0.0,
                ..base.clone()
            },
            LatencyPolicy {
                percentile: 1.5,
                ..base.clone()
            },
            LatencyPolicy {
                min_samples: 0,
                ..base.clone()
            },
            LatencyPolicy {
                first_phase: Duration::from_secs(3600),
                ..base.clone()
            },
        ] {
            assert!(evaluate_latency(&[], &[], at(0), at(1), &policy).is_err());
        }
    }

    // --- rule 4: burn rate --------------------------------------------------------------------

    /// One probe a minute for the `minutes` before `now`, failing at the given minutes ago.
    fn outcomes(now: i64, minutes: i64, failing_minutes_ago: &[i64]) -> Vec<ProbeOutcome> {
        (0..minutes)
            .map(|ago| ProbeOutcome {
                at: at(now - ago),
                ok: !failing_minutes_ago.contains(&ago),
            })
            .collect()
    }

    #[test]
    fn fresh_failures_burn_both_fast_windows() {
        // 60 probes in the hour, two failed (2 and 30 minutes ago): 2/60 = 33.3x a 0.1%
        // budget, and 1 of the 5 last probes = 200x.
        let probes = outcomes(60, 60, &[2, 30]);
        let outcome =
            evaluate_burn_rate(&probes, at(0), at(60), &BurnRatePolicy::default()).unwrap();
        assert_eq!(outcome.verdict, Verdict::Fail);
        let fast = &outcome.explanation.alerts[0];
        assert_eq!(fast.verdict, Verdict::Fail);
        assert_eq!((fast.long.probes, fast.long.failed), (60, 2));
        assert!((fast.long.burn_rate.unwrap() - 2000.0 / 60.0).abs() < 1e-6);
        assert_eq!((fast.short.probes, fast.short.failed), (5, 1));
        assert!((fast.short.burn_rate.unwrap() - 200.0).abs() < 1e-6);
        assert!(outcome.explanation.reason.starts_with(
            "error budget burning 33.3x over 1 h and 200.0x over 5 min, at or above 14.4x"
        ));
        assert!(outcome.explanation.reason.ends_with("(objective 99.9%)"));
    }

    #[test]
    fn one_stray_failure_is_not_evidence_of_a_burn() {
        // One failed probe of 60 is 16.7x a 0.1% budget over the hour and 200x over the last
        // 5 minutes, but a service exactly at 99.9% fails one of 60 probes 5.8% of the time.
        let probes = outcomes(60, 60, &[2]);
        let outcome =
            evaluate_burn_rate(&probes, at(0), at(60), &BurnRatePolicy::default()).unwrap();
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{}",
            outcome.explanation.reason
        );
        let fast = &outcome.explanation.alerts[0];
        assert!((fast.chance - (1.0 - 0.999f64.powi(60))).abs() < 1e-9);
        assert!(
            outcome
                .explanation
                .reason
                .contains("but 1 failed of 60 probes is within what chance gives"),
            "{}",
            outcome.explanation.reason
        );
    }

    #[test]
    fn the_chance_of_failures_is_the_binomial_tail() {
        // Exact values: P(X >= 1 | 60, 0.001) = 1 - 0.999^60; P(X >= 2) subtracts the one
        // failure term; a total outage of 48 probes is 0.001^48.
        let one = 1.0 - 0.999f64.powi(60);
        assert!((failures_chance(60, 1, 0.001) - one).abs() < 1e-12);
        let two = one - 60.0 * 0.001 * 0.999f64.powi(59);
        assert!((failures_chance(60, 2, 0.001) - two).abs() < 1e-12);
        let all = failures_chance(48, 48, 0.001);
        assert!((all.ln() - 48.0 * 0.001f64.ln()).abs() < 1e-9, "{all}");
        assert_eq!(failures_chance(10, 0, 0.5), 1.0);
        assert_eq!(failures_chance(10, 11, 0.5), 0.0);
        // At or below the mean nothing is evidence; large counts stay finite.
        assert_eq!(failures_chance(10_000, 5, 0.001), 1.0);
        let many = failures_chance(10_000, 40, 0.001);
        assert!(many > 0.0 && many < 1e-10, "{many}");
        // P(X >= 6 | 10, 0.5) = 386/1024.
        assert!((failures_chance(10, 6, 0.5) - 386.0 / 1024.0).abs() < 1e-12);
    }

    #[test]
    fn the_alert_stops_once_the_short_window_is_clean() {
        // Three failures 40-50 minutes ago: the hour still burns 50x, the last 5 minutes none.
        let probes = outcomes(400, 400, &[40, 45, 50]);
        let outcome =
            evaluate_burn_rate(&probes, at(0), at(400), &BurnRatePolicy::default()).unwrap();
        assert_eq!(outcome.verdict, Verdict::Pass);
        let fast = &outcome.explanation.alerts[0];
        assert!((fast.long.burn_rate.unwrap() - 50.0).abs() < 1e-6);
        assert_eq!(fast.short.burn_rate, Some(0.0));
        // The slow alert: 3 of 360 over 6 h is 8.3x, but none in the last 30 minutes.
        let slow = &outcome.explanation.alerts[1];
        assert_eq!(slow.verdict, Verdict::Pass);
        assert!((slow.long.burn_rate.unwrap() - 3000.0 / 360.0).abs() < 1e-6);
    }

    #[test]
    fn a_slow_steady_burn_trips_the_six_hour_alert_only() {
        // One failure every 50 minutes for 6 hours (7 of 360 = 19.4x), the last one 20 minutes
        // ago: the hour holds one failure (16.7x) but the last 5 minutes none; 30 min: 33x.
        let failing: Vec<i64> = (0..7).map(|i| 20 + 50 * i).collect();
        let probes = outcomes(360, 360, &failing);
        let outcome =
            evaluate_burn_rate(&probes, at(0), at(360), &BurnRatePolicy::default()).unwrap();
        assert_eq!(outcome.explanation.alerts[0].verdict, Verdict::Pass);
        assert_eq!(outcome.explanation.alerts[1].verdict, Verdict::Fail);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(outcome.explanation.reason.contains("over 6 h and"));
    }

    #[test]
    fn exactly_the_threshold_counts_as_reaching_it() {
        // 99% objective: 14.4x is 14.4% failing, 18 of 125 probes.
        let policy = BurnRatePolicy {
            objective: 0.99,
            alerts: vec![BurnRateAlert {
                long_window: Duration::from_secs(3600),
                short_window: Duration::from_secs(3600),
                burn_rate: 14.4,
            }],
            min_probes: 5,
            significance: 0.005,
        };
        let probes: Vec<ProbeOutcome> = (0..125)
            .map(|i| ProbeOutcome {
                at: at_secs(-(i as i64) * 20),
                ok: i >= 18,
            })
            .collect();
        let outcome = evaluate_burn_rate(&probes, at(-60), at(0), &policy).unwrap();
        assert_eq!(outcome.verdict, Verdict::Fail);
        let fewer: Vec<ProbeOutcome> = probes
            .iter()
            .enumerate()
            .map(|(i, p)| ProbeOutcome {
                ok: p.ok || i == 0,
                ..*p
            })
            .collect();
        assert_eq!(
            evaluate_burn_rate(&fewer, at(-60), at(0), &policy)
                .unwrap()
                .verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn a_failure_among_the_first_probes_waits_for_the_short_window() {
        // A deploy one minute old, seven checks a minute, one failed probe: 1 of 14 reads as
        // 7x a 1% budget over "6 h" and "30 min" alike, though both hold the same 14 probes.
        let policy = BurnRatePolicy {
            objective: 0.99,
            ..BurnRatePolicy::default()
        };
        let probes: Vec<ProbeOutcome> = (0..14)
            .map(|i| ProbeOutcome {
                at: at_secs(60 + i * 60 / 14),
                ok: i != 9,
            })
            .collect();
        let outcome = evaluate_burn_rate(&probes, at(1), at(2), &policy).unwrap();
        assert_eq!(outcome.verdict, Verdict::NotEnoughData);
        assert!(
            outcome
                .explanation
                .reason
                .contains("judged once the probes cover 5 min"),
            "{}",
            outcome.explanation.reason
        );
        assert!(
            outcome
                .explanation
                .alerts
                .iter()
                .all(|a| a.verdict == Verdict::NotEnoughData)
        );
        // Five minutes on, the same kind of failures over a whole short window do burn it.
        let outage: Vec<ProbeOutcome> = (0..70)
            .map(|i| ProbeOutcome {
                at: at_secs(60 + i * 300 / 70),
                ok: i % 5 != 0,
            })
            .collect();
        let later = evaluate_burn_rate(&outage, at(1), at(6), &policy).unwrap();
        assert_eq!(later.verdict, Verdict::Fail, "{}", later.explanation.reason);
        assert_eq!(later.explanation.alerts[0].verdict, Verdict::Fail);
        // The slow alert's 30-minute window is not covered yet, whatever the ratio.
        assert_eq!(later.explanation.alerts[1].verdict, Verdict::NotEnoughData);
    }

    #[test]
    fn too_few_probes_are_not_enough_data_and_bad_objectives_are_refused() {
        let probes = outcomes(3, 3, &[0]);
        let outcome =
            evaluate_burn_rate(&probes, at(0), at(3), &BurnRatePolicy::default()).unwrap();
        assert_eq!(outcome.verdict, Verdict::NotEnoughData);
        assert_eq!(outcome.explanation.alerts[0].short.burn_rate, None);
        for objective in [0.0, 1.0, f64::NAN, 1.2] {
            let policy = BurnRatePolicy {
                objective,
                ..BurnRatePolicy::default()
            };
            assert!(
                evaluate_burn_rate(&probes, at(0), at(3), &policy).is_err(),
                "{objective}"
            );
        }
    }

    // --- combining ------------------------------------------------------------------------

    fn verdict(signal: Signal, verdict: Verdict, reason: &str) -> SignalVerdict {
        SignalVerdict {
            signal,
            verdict,
            reason: reason.to_string(),
        }
    }

    #[test]
    fn any_failure_fails_at_once_with_every_failing_reason() {
        let signals = [
            verdict(Signal::ErrorRate, Verdict::Fail, "errors up"),
            verdict(Signal::NewErrorTypes, Verdict::Pass, "none"),
            verdict(Signal::Latency, Verdict::Fail, "slow"),
            verdict(Signal::BurnRate, Verdict::NotEnoughData, "few probes"),
        ];
        let combined = combine(&signals, false);
        assert_eq!(combined.state, VerificationState::Failed);
        assert_eq!(combined.failures.len(), 2);
        assert_eq!(
            combined.reason,
            "verification failed: error rate: errors up; latency: slow"
        );
        assert_eq!(combined.not_enough_data, [Signal::BurnRate]);
    }

    #[test]
    fn nothing_failed_is_in_progress_until_the_window_ends() {
        let signals = [
            verdict(Signal::ErrorRate, Verdict::NotEnoughData, "low traffic"),
            verdict(Signal::NewErrorTypes, Verdict::Pass, "none"),
        ];
        let open = combine(&signals, false);
        assert_eq!(open.state, VerificationState::InProgress);
        assert_eq!(
            open.reason,
            "verifying: nothing failed so far (not enough data: error rate)"
        );
        let done = combine(&signals, true);
        assert_eq!(done.state, VerificationState::Passed);
        assert_eq!(done.not_enough_data, [Signal::ErrorRate]);
        assert_eq!(
            done.reason,
            "verified: nothing failed in the window (not enough data: error rate)"
        );
    }

    #[test]
    fn a_window_where_nothing_could_judge_is_not_enough_data() {
        let signals = [verdict(
            Signal::ErrorRate,
            Verdict::NotEnoughData,
            "low traffic",
        )];
        assert_eq!(
            combine(&signals, true).state,
            VerificationState::NotEnoughData
        );
        assert_eq!(combine(&[], true).state, VerificationState::NotEnoughData);
        assert_eq!(combine(&[], false).state, VerificationState::InProgress);
        let value = serde_json::to_value(combine(&signals, true)).unwrap();
        assert_eq!(value["state"], "not_enough_data");
        assert_eq!(value["not_enough_data"][0], "error_rate");
    }

    #[test]
    fn outcomes_become_signals() {
        let error_rate = test().evaluate(&[10; 30], &[31]);
        let signal = error_rate.signal();
        assert_eq!(signal.signal, Signal::ErrorRate);
        assert_eq!(signal.verdict, Verdict::Fail);
        assert_eq!(signal.reason, error_rate.explanation.reason);
        let new_types = evaluate_new_error_types(&[], at(0), SHA, NewIssuePolicy::Any);
        assert_eq!(new_types.signal().verdict, Verdict::Pass);
    }
}
