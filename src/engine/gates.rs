//! The promotion and rollback gates as pure decisions: given a policy from the configuration
//! and the facts the engine gathered (never read here: no I/O, no clock), say for each gate
//! whether it passes, fails or is unknown, with what was measured, the threshold and a reason
//! a release captain can act on. Unknown blocks, like a failure: the gates fail closed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use globset::{Glob, GlobSetBuilder};

use crate::config::{FreezeConfig, FreezeWindow, PromotionConfig, WeeklyWindow};
use crate::model::{DeployStatus, PipelineState, RunStatus, SafeText, SmokeResult};
pub use crate::model::{Gate, GateKind, GateReport, GateState};

/// How many file names a reason lists before it says "…".
const FILES_LISTED: usize = 3;
/// Short commit id length used in reasons.
const SHORT_SHA: usize = 7;
/// How many back-to-back freezes are followed to find when promotions open again.
const FREEZE_CHAIN_LIMIT: usize = 64;

/// The source environment's latest deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDeploy {
    pub sha: String,
    pub status: DeployStatus,
}

/// Who holds the environment's promotion/rollback lock, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct LockHolder {
    pub holder: String,
    pub age: Duration,
}

/// What the engine knows about a promotion candidate, gathered before the gates are asked.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionFacts {
    pub candidate_sha: String,
    /// The pipeline of exactly the candidate sha, if one was found.
    pub pipeline: Option<PipelineState>,
    /// Results of the configured required checks by name (absent name: not reported).
    pub required_checks: BTreeMap<String, RunStatus>,
    /// The source environment's latest deployment, if known.
    pub source_deploy: Option<SourceDeploy>,
    /// When the candidate started running in the source environment.
    pub running_since: Option<DateTime<Utc>>,
    /// The source environment's current smoke results; `None` when not known.
    pub source_smoke: Option<Vec<SmokeResult>>,
    /// Files changed between the target's current commit and the candidate; `None`: unknown.
    pub changed_files: Option<Vec<String>>,
    pub approving_reviewers: Vec<String>,
    pub pr_author: Option<String>,
    /// Labels of the pull request that carries the candidate; `None`: not known (or not
    /// asked: no checklist item names a label).
    pub pr_labels: Option<Vec<String>>,
    /// `None`: the lock is free.
    pub lock: Option<LockHolder>,
    /// Whether the target branch can move forward to the candidate.
    pub forward: ForwardCheck,
    pub now: DateTime<Utc>,
}

/// Whether moving the target's branch to the candidate is a fast-forward (only asked for
/// strategies that move the branch forward).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ForwardCheck {
    /// The strategy does not move the branch (a dispatched workflow, a command).
    #[default]
    NotNeeded,
    Unknown,
    Forward,
    /// The branch has commits the candidate lacks, or already is past it: the reason says.
    NotForward(String),
}

/// What the engine knows about a rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackFacts {
    pub target_sha: String,
    /// Whether the commit exists in the repository (`None`: not known).
    pub target_exists: Option<bool>,
    /// Whether a deployment of that commit to this environment once succeeded.
    pub target_once_succeeded: Option<bool>,
    pub lock: Option<LockHolder>,
}

/// A freeze in force now.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFreeze {
    pub reason: SafeText,
    pub ends_at: DateTime<Utc>,
    /// The freeze's time zone, for showing `ends_at` as configured.
    pub time_zone: Tz,
}

/// Whether an environment is frozen, and when promotions open again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FreezeState {
    pub active: Option<ActiveFreeze>,
    /// When promotions open again (after back-to-back freezes, too); `None` when open now.
    pub next_open: Option<DateTime<Utc>>,
    /// The next freeze to begin, while open: its reason and start.
    pub next_freeze: Option<(SafeText, DateTime<Utc>)>,
}

/// All gates for promoting `facts.candidate_sha` into `target`.
pub fn evaluate_promotion(
    policy: &PromotionConfig,
    freezes: &[FreezeConfig],
    target: &str,
    facts: &PromotionFacts,
    override_freeze: Option<&str>,
) -> GateReport {
    let mut gates = vec![
        ci_gate(policy, facts),
        source_deployed_gate(facts),
        source_smoke_gate(facts),
        soak_gate(policy, facts),
        freeze_gate(freezes, target, facts.now, override_freeze),
    ];
    let high_risk = facts
        .changed_files
        .as_ref()
        .map(|files| high_risk_files(&policy.high_risk, files));
    gates.push(high_risk_gate(&policy.high_risk, high_risk.as_deref()));
    if policy.require_review && high_risk.as_ref().is_none_or(|files| !files.is_empty()) {
        // Unknown changed files may hide high-risk ones: ask for the review then too.
        let at_merge = policy.strategy == crate::config::PromotionStrategy::PullRequest
            && facts.pr_author.is_none();
        gates.push(if at_merge {
            review_at_merge_gate()
        } else {
            review_gate(&facts.approving_reviewers, facts.pr_author.as_deref())
        });
    }
    if let Some(gate) = forward_gate(&facts.forward, &facts.candidate_sha) {
        gates.push(gate);
    }
    gates.push(lock_gate(facts.lock.as_ref()));
    if !policy.checklist.is_empty() {
        // Nothing is ticked yet: a request brings its ticks (`checklist::rejudge`).
        gates.push(super::checklist::checklist_gate(
            &super::checklist::items_of(&policy.checklist),
            &[],
            facts.pr_labels.as_deref(),
            super::checklist::ChecklistMode::Human,
        ));
    }
    GateReport { gates }
}

fn forward_gate(check: &ForwardCheck, candidate: &str) -> Option<Gate> {
    let short = short_sha(candidate);
    let threshold = "the branch moves forward only";
    let gate = match check {
        ForwardCheck::NotNeeded => return None,
        ForwardCheck::Unknown => Gate::new(
            GateKind::FastForward,
            GateState::Unknown,
            "not known",
            threshold,
            &format!("cannot tell whether the branch can move forward to {short}"),
        ),
        ForwardCheck::Forward => Gate::new(
            GateKind::FastForward,
            GateState::Pass,
            "fast-forward",
            threshold,
            &format!("{short} is ahead of the branch"),
        ),
        ForwardCheck::NotForward(reason) => Gate::new(
            GateKind::FastForward,
            GateState::Fail,
            "not a fast-forward",
            threshold,
            reason,
        ),
    };
    Some(gate)
}

/// The gates of a rollback: the lock is free and the target commit exists and was once
/// deployed successfully. Freezes never block a rollback.
pub fn evaluate_rollback(facts: &RollbackFacts) -> GateReport {
    let short = short_sha(&facts.target_sha);
    let target = match (facts.target_exists, facts.target_once_succeeded) {
        (Some(false), _) => Gate::new(
            GateKind::RollbackTarget,
            GateState::Fail,
            &format!("{short} not found"),
            "an existing commit",
            &format!("commit {short} does not exist in the repository"),
        ),
        (_, Some(false)) => Gate::new(
            GateKind::RollbackTarget,
            GateState::Fail,
            &format!("{short} never deployed successfully"),
            "a commit once deployed successfully",
            &format!("{short} was never deployed successfully here; pick a known good one"),
        ),
        (Some(true), Some(true)) => Gate::new(
            GateKind::RollbackTarget,
            GateState::Pass,
            &format!("{short} deployed successfully before"),
            "a commit once deployed successfully",
            &format!("{short} is a known good deployment"),
        ),
        _ => Gate::new(
            GateKind::RollbackTarget,
            GateState::Unknown,
            "not known",
            "a commit once deployed successfully",
            &format!("cannot tell whether {short} exists and once deployed successfully"),
        ),
    };
    GateReport {
        gates: vec![target, lock_gate(facts.lock.as_ref())],
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..SHORT_SHA).unwrap_or(sha)
}

fn ci_gate(policy: &PromotionConfig, facts: &PromotionFacts) -> Gate {
    let short = short_sha(&facts.candidate_sha);
    let threshold = if policy.required_checks.is_empty() {
        "every stage passed at the candidate".to_string()
    } else {
        format!(
            "every stage passed at the candidate, and {}",
            policy.required_checks.join(", ")
        )
    };
    let Some(pipeline) = &facts.pipeline else {
        return Gate::new(
            GateKind::CiGreen,
            GateState::Unknown,
            "no pipeline",
            &threshold,
            &format!("CI at {short}: no pipeline found for this commit"),
        );
    };
    if pipeline.sha != facts.candidate_sha {
        return Gate::new(
            GateKind::CiGreen,
            GateState::Unknown,
            &format!("pipeline at {}", short_sha(&pipeline.sha)),
            &threshold,
            &format!(
                "CI at {short}: the pipeline found is for {}, another commit",
                short_sha(&pipeline.sha)
            ),
        );
    }
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    let mut pending = Vec::new();
    for stage in &pipeline.stages {
        match stage.status {
            RunStatus::Passed => {}
            RunStatus::Failed => failed.push(stage.name.as_str().to_string()),
            RunStatus::Skipped => skipped.push(stage.name.as_str().to_string()),
            RunStatus::Queued | RunStatus::Running | RunStatus::Unknown => {
                pending.push(stage.name.as_str().to_string())
            }
        }
    }
    for name in &policy.required_checks {
        match facts.required_checks.get(name) {
            Some(RunStatus::Passed) => {}
            Some(RunStatus::Failed) => failed.push(format!("check {name}")),
            Some(RunStatus::Skipped) => skipped.push(format!("check {name}")),
            Some(_) => pending.push(format!("check {name}")),
            None => pending.push(format!("check {name} (not reported)")),
        }
    }
    if pipeline.stages.is_empty() {
        pending.push("no stages reported".to_string());
    }
    let mut problems = Vec::new();
    if !failed.is_empty() {
        problems.push(format!("{} failed", failed.join(", ")));
    }
    if !skipped.is_empty() {
        problems.push(format!(
            "{} skipped (skipped is not passed)",
            skipped.join(", ")
        ));
    }
    let state = if !problems.is_empty() {
        GateState::Fail
    } else if !pending.is_empty() {
        problems.push(format!("{} not finished", pending.join(", ")));
        GateState::Unknown
    } else {
        GateState::Pass
    };
    if state == GateState::Pass {
        return Gate::new(
            GateKind::CiGreen,
            GateState::Pass,
            &format!("all {} stages passed", pipeline.stages.len()),
            &threshold,
            &format!("CI at {short}: green"),
        );
    }
    let summary = problems.join("; ");
    Gate::new(
        GateKind::CiGreen,
        state,
        &summary,
        &threshold,
        &format!("CI at {short}: {summary}"),
    )
}

fn source_deployed_gate(facts: &PromotionFacts) -> Gate {
    let short = short_sha(&facts.candidate_sha);
    let threshold = format!("{short} deployed successfully in the source");
    let Some(deploy) = &facts.source_deploy else {
        return Gate::new(
            GateKind::SourceDeployed,
            GateState::Unknown,
            "not known",
            &threshold,
            "the source environment's deployment is not known",
        );
    };
    let deployed = short_sha(&deploy.sha);
    let measured = format!("{deployed}: {}", deploy.status.word());
    if deploy.sha != facts.candidate_sha {
        return Gate::new(
            GateKind::SourceDeployed,
            GateState::Fail,
            &measured,
            &threshold,
            &format!("the source runs {deployed}, not the candidate {short}"),
        );
    }
    let (state, reason) = match deploy.status {
        DeployStatus::Success => (GateState::Pass, format!("{short} deployed in the source")),
        DeployStatus::Failure | DeployStatus::Error | DeployStatus::Inactive => (
            GateState::Fail,
            format!("the source's deployment of {short} did not succeed"),
        ),
        DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress => (
            GateState::Unknown,
            format!("the source's deployment of {short} is still running"),
        ),
        DeployStatus::Unknown => (
            GateState::Unknown,
            format!("the source's deployment of {short} has an unknown status"),
        ),
    };
    Gate::new(
        GateKind::SourceDeployed,
        state,
        &measured,
        &threshold,
        &reason,
    )
}

fn source_smoke_gate(facts: &PromotionFacts) -> Gate {
    let threshold = "every smoke check passes now";
    let Some(results) = &facts.source_smoke else {
        return Gate::new(
            GateKind::SourceSmoke,
            GateState::Unknown,
            "not known",
            threshold,
            "the source's smoke checks have not reported",
        );
    };
    if results.is_empty() {
        return Gate::new(
            GateKind::SourceSmoke,
            GateState::Unknown,
            "no results",
            threshold,
            "the source's smoke checks have not run yet",
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.as_str())
        .collect();
    let measured = format!(
        "{} of {} passing",
        results.len() - failed.len(),
        results.len()
    );
    if failed.is_empty() {
        Gate::new(
            GateKind::SourceSmoke,
            GateState::Pass,
            &measured,
            threshold,
            "the source's smoke checks pass",
        )
    } else {
        Gate::new(
            GateKind::SourceSmoke,
            GateState::Fail,
            &measured,
            threshold,
            &format!("smoke failing in the source: {}", failed.join(", ")),
        )
    }
}

/// How much longer the candidate must soak; `None` when it is not known to be running.
pub fn soak_remaining(
    soak: Duration,
    running_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let ran = (now - running_since?).to_std().unwrap_or(Duration::ZERO);
    Some(soak.saturating_sub(ran))
}

fn soak_gate(policy: &PromotionConfig, facts: &PromotionFacts) -> Gate {
    let soak = policy.soak.get();
    let threshold = format!("{} in the source", minutes(soak));
    let Some(since) = facts.running_since else {
        return Gate::new(
            GateKind::Soak,
            GateState::Unknown,
            "not known",
            &threshold,
            "not known when the candidate started running in the source",
        );
    };
    let ran = (facts.now - since).to_std().unwrap_or(Duration::ZERO);
    let remaining = soak.saturating_sub(ran);
    let measured = format!("soaked {}", minutes(ran));
    if remaining.is_zero() {
        Gate::new(
            GateKind::Soak,
            GateState::Pass,
            &measured,
            &threshold,
            &format!("soaked {} of {}", minutes(ran), minutes(soak)),
        )
    } else {
        Gate::new(
            GateKind::Soak,
            GateState::Fail,
            &measured,
            &threshold,
            &format!(
                "soaked {} of {}: {} to go",
                minutes(ran),
                minutes(soak),
                minutes_up(remaining)
            ),
        )
    }
}

/// A duration in whole minutes, rounded down, or hours and minutes ("12m", "1h 05m").
fn minutes(d: Duration) -> String {
    let total = d.as_secs() / 60;
    if total >= 60 {
        format!("{}h {:02}m", total / 60, total % 60)
    } else {
        format!("{total}m")
    }
}

/// Like [`minutes`], rounded up, so "to go" never says 0m while something remains.
fn minutes_up(d: Duration) -> String {
    minutes(Duration::from_secs(d.as_secs().div_ceil(60) * 60))
}

fn freeze_gate(
    freezes: &[FreezeConfig],
    target: &str,
    now: DateTime<Utc>,
    override_freeze: Option<&str>,
) -> Gate {
    let state = freeze_state(freezes, target, now);
    let threshold = "no freeze in force";
    let Some(active) = state.active else {
        return Gate::new(
            GateKind::Freeze,
            GateState::Pass,
            "not frozen",
            threshold,
            &format!("{target} is not frozen"),
        );
    };
    let until = state.next_open.unwrap_or(active.ends_at);
    let reason = active.reason.as_str();
    let frozen = format!(
        "frozen until {}{}",
        local_label(until, active.time_zone, now),
        if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        }
    );
    match override_freeze.map(str::trim).filter(|r| !r.is_empty()) {
        Some(why) => Gate::new(
            GateKind::Freeze,
            GateState::Pass,
            &frozen,
            threshold,
            &format!("overridden: {why}"),
        ),
        None => Gate::new(
            GateKind::Freeze,
            GateState::Fail,
            &frozen,
            threshold,
            &frozen,
        ),
    }
}

/// `Mon 09:00 Europe/Berlin` within the coming week, else with the date.
fn local_label(at: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    if at - now < TimeDelta::days(6) {
        format!("{} {}", local.format("%a %H:%M"), tz.name())
    } else {
        format!("{} {}", local.format("%a %Y-%m-%d %H:%M"), tz.name())
    }
}

/// The changed files that match any of the high-risk patterns, in the given order. Patterns
/// that are not valid globs (validation rejects them) match nothing.
pub fn high_risk_files(patterns: &[String], files: &[String]) -> Vec<String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        if let Ok(glob) = Glob::new(pattern) {
            builder.add(glob);
        }
    }
    let Ok(set) = builder.build() else {
        return Vec::new();
    };
    files
        .iter()
        .filter(|f| set.is_match(f.as_str()))
        .cloned()
        .collect()
}

fn high_risk_gate(patterns: &[String], matching: Option<&[String]>) -> Gate {
    let threshold = if patterns.is_empty() {
        "no high-risk patterns configured".to_string()
    } else {
        format!("high-risk: {}", patterns.join(", "))
    };
    let Some(files) = matching else {
        return Gate::new(
            GateKind::HighRisk,
            GateState::Unknown,
            "changed files not known",
            &threshold,
            "cannot tell which files changed, so not whether any is high-risk",
        );
    };
    if files.is_empty() {
        return Gate::new(
            GateKind::HighRisk,
            GateState::Pass,
            "0 high-risk files",
            &threshold,
            "no high-risk files changed",
        );
    }
    let mut listed: Vec<&str> = files
        .iter()
        .take(FILES_LISTED)
        .map(String::as_str)
        .collect();
    if files.len() > FILES_LISTED {
        listed.push("…");
    }
    let count = if files.len() == 1 {
        "1 high-risk file".to_string()
    } else {
        format!("{} high-risk files", files.len())
    };
    let mut gate = Gate::new(
        GateKind::HighRisk,
        GateState::Pass,
        &count,
        &threshold,
        &format!(
            "{count}: {}: needs a second confirmation",
            listed.join(", ")
        ),
    );
    gate.needs_confirmation = true;
    gate
}

const REVIEW_THRESHOLD: &str = "an approving review by someone other than the author";

/// Before the promotion's pull request exists, the review cannot be judged yet; the merge
/// waits for it (the executor asks [`review_gate`] before merging).
fn review_at_merge_gate() -> Gate {
    Gate::new(
        GateKind::Review,
        GateState::Pass,
        "awaited on the pull request",
        REVIEW_THRESHOLD,
        "the promotion opens a pull request and merges it only once someone other than its \
         author approves it",
    )
}

/// Whether the pull request's reviews let a high-risk change merge.
pub fn review_gate(approving_reviewers: &[String], pr_author: Option<&str>) -> Gate {
    let threshold = REVIEW_THRESHOLD;
    let approvers: Vec<&str> = approving_reviewers
        .iter()
        .map(String::as_str)
        .filter(|r| Some(*r) != pr_author)
        .collect();
    let measured = if approvers.is_empty() {
        "no approving review by a non-author".to_string()
    } else {
        format!("approved by {}", approvers.join(", "))
    };
    if pr_author.is_none() {
        return Gate::new(
            GateKind::Review,
            GateState::Unknown,
            &measured,
            threshold,
            "no pull request author known, so no review can count",
        );
    }
    let state = if approvers.is_empty() {
        GateState::Fail
    } else {
        GateState::Pass
    };
    let reason = if state == GateState::Pass {
        format!("high-risk change {measured}")
    } else {
        "high-risk change needs an approving review by someone other than the author".to_string()
    };
    Gate::new(GateKind::Review, state, &measured, threshold, &reason)
}

fn lock_gate(lock: Option<&LockHolder>) -> Gate {
    let threshold = "no other promotion or rollback in flight";
    match lock {
        None => Gate::new(
            GateKind::Lock,
            GateState::Pass,
            "free",
            threshold,
            "no other promotion or rollback in flight",
        ),
        Some(held) => {
            let measured = format!("held by {} for {}", held.holder, minutes(held.age));
            Gate::new(
                GateKind::Lock,
                GateState::Fail,
                &measured,
                threshold,
                &format!("another action is in flight: {measured}"),
            )
        }
    }
}

/// Whether `env` is frozen at `now`, until when, and when promotions open again. A freeze that
/// lists no environments applies to every environment asked about: the engine asks only for
/// environments that have a promotion, which is what the configuration promises. Freezes with
/// an unknown time zone or unreadable window (validation rejects both) are read as UTC or
/// skipped.
pub fn freeze_state(freezes: &[FreezeConfig], env: &str, now: DateTime<Utc>) -> FreezeState {
    let schedules: Vec<(&FreezeConfig, FreezeWindow, Tz)> = freezes
        .iter()
        .filter(|f| f.applies_to(env))
        .filter_map(|f| Some((f, f.window().ok()?, f.tz().unwrap_or(Tz::UTC))))
        .collect();
    let containing = |at: DateTime<Utc>| {
        schedules
            .iter()
            .filter_map(|(f, window, tz)| {
                let (start, end) = occurrence_containing(window, *tz, at)?;
                Some((*f, *tz, start, end))
            })
            .max_by_key(|(_, _, _, end)| *end)
    };
    let Some((first, tz, _, ends_at)) = containing(now) else {
        let next_freeze = schedules
            .iter()
            .filter_map(|(f, window, tz)| Some((f.reason.as_str(), next_start(window, *tz, now)?)))
            .min_by_key(|(_, start)| *start)
            .map(|(reason, start)| (SafeText::new(reason), start));
        return FreezeState {
            active: None,
            next_open: None,
            next_freeze,
        };
    };
    let mut open_at = ends_at;
    for _ in 0..FREEZE_CHAIN_LIMIT {
        match containing(open_at) {
            Some((_, _, _, end)) if end > open_at => open_at = end,
            _ => break,
        }
    }
    FreezeState {
        active: Some(ActiveFreeze {
            reason: SafeText::new(&first.reason),
            ends_at,
            time_zone: tz,
        }),
        next_open: Some(open_at),
        next_freeze: None,
    }
}

/// The local wall-clock time as an instant; a time skipped by a DST change moves forward to
/// the first instant after the gap, an ambiguous one takes the earlier instant.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    for minutes_later in (0..=180).step_by(15) {
        let shifted = local + TimeDelta::minutes(minutes_later);
        if let Some(at) = tz.from_local_datetime(&shifted).earliest() {
            return Some(at.with_timezone(&Utc));
        }
    }
    None
}

/// The occurrence of `window` that starts on local day `day` (weekly: only if `day` is the
/// start weekday), as instants.
fn occurrence_on(
    window: &FreezeWindow,
    tz: Tz,
    day: NaiveDate,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match window {
        FreezeWindow::Date(date) => {
            if *date != day {
                return None;
            }
            let start = resolve_local(tz, date.and_hms_opt(0, 0, 0)?)?;
            let end = resolve_local(tz, date.succ_opt()?.and_hms_opt(0, 0, 0)?)?;
            Some((start, end))
        }
        FreezeWindow::Weekly(weekly) => weekly_on(weekly, tz, day),
    }
}

fn weekly_on(
    weekly: &WeeklyWindow,
    tz: Tz,
    day: NaiveDate,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    use chrono::Datelike;
    if day.weekday() != weekly.start_day {
        return None;
    }
    let start_local = day.and_time(weekly.start_time);
    let end_local = start_local + weekly.length();
    Some((
        resolve_local(tz, start_local)?,
        resolve_local(tz, end_local)?,
    ))
}

/// The occurrence of `window` that contains `at` (start inclusive, end exclusive).
fn occurrence_containing(
    window: &FreezeWindow,
    tz: Tz,
    at: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let today = at.with_timezone(&tz).date_naive();
    (0..=8)
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back)))
        .filter_map(|day| occurrence_on(window, tz, day))
        .find(|(start, end)| *start <= at && at < *end)
}

/// The first start of `window` after `at`.
fn next_start(window: &FreezeWindow, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match window {
        FreezeWindow::Date(date) => {
            let (start, _) = occurrence_on(window, tz, *date)?;
            (start > at).then_some(start)
        }
        FreezeWindow::Weekly(_) => {
            let today = at.with_timezone(&tz).date_naive();
            (0..=8)
                .filter_map(|ahead| today.checked_add_days(chrono::Days::new(ahead)))
                .filter_map(|day| occurrence_on(window, tz, day))
                .map(|(start, _)| start)
                .find(|start| *start > at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StageState;
    use proptest::prelude::*;

    const SHA: &str = "4b09a38f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
    const OTHER_SHA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn policy(toml_text: &str) -> PromotionConfig {
        toml::from_str(toml_text).expect("test policy")
    }

    fn freezes(toml_text: &str) -> Vec<FreezeConfig> {
        #[derive(serde::Deserialize)]
        struct Doc {
            freeze: Vec<FreezeConfig>,
        }
        toml::from_str::<Doc>(toml_text)
            .expect("test freezes")
            .freeze
    }

    fn stage(name: &str, status: RunStatus) -> StageState {
        StageState {
            name: SafeText::new(name),
            status,
            started_at: None,
            completed_at: None,
            target: Duration::from_secs(60),
            jobs: Vec::new(),
        }
    }

    fn pipeline(sha: &str, stages: Vec<StageState>) -> PipelineState {
        PipelineState {
            run_id: 1,
            run_number: 1,
            run_attempt: 1,
            sha: sha.to_string(),
            status: RunStatus::Passed,
            html_url: None,
            started_at: None,
            completed_at: None,
            stages,
            unmapped_jobs: Vec::new(),
            total_target: Duration::from_secs(420),
            alarm_after: Duration::from_secs(600),
        }
    }

    fn smoke(name: &str, ok: bool, now: DateTime<Utc>) -> SmokeResult {
        SmokeResult {
            name: SafeText::new(name),
            ok,
            latency_ms: Some(20),
            detail: SafeText::new(""),
            checked_at: now,
        }
    }

    /// Facts under which every gate passes (a Wednesday, no freeze configured).
    fn green_facts() -> PromotionFacts {
        let now = at("2026-11-18T12:00:00Z");
        PromotionFacts {
            candidate_sha: SHA.to_string(),
            pipeline: Some(pipeline(
                SHA,
                vec![
                    stage("Install", RunStatus::Passed),
                    stage("Lint+Format", RunStatus::Passed),
                ],
            )),
            required_checks: BTreeMap::new(),
            source_deploy: Some(SourceDeploy {
                sha: SHA.to_string(),
                status: DeployStatus::Success,
            }),
            running_since: Some(now - TimeDelta::minutes(45)),
            source_smoke: Some(vec![smoke("health", true, now), smoke("auth", true, now)]),
            changed_files: Some(vec!["src/lib.rs".to_string()]),
            approving_reviewers: Vec::new(),
            pr_author: None,
            pr_labels: None,
            lock: None,
            forward: ForwardCheck::Forward,
            now,
        }
    }

    fn default_policy() -> PromotionConfig {
        policy("soak = \"30m\"\nhigh_risk = [\"migrations/**\", \"infra/iam/**\"]")
    }

    fn gate_of(report: &GateReport, kind: GateKind) -> Gate {
        report.gate(kind).cloned().expect("gate present")
    }

    fn evaluate(facts: &PromotionFacts) -> GateReport {
        evaluate_promotion(&default_policy(), &[], "prod", facts, None)
    }

    #[test]
    fn all_green_is_allowed() {
        let report = evaluate(&green_facts());
        assert!(report.allowed(), "{:#?}", report.blocking());
        assert!(report.blocking().is_empty());
        assert!(!report.needs_confirmation());
        assert!(report.gate(GateKind::Review).is_none());
        assert_eq!(
            gate_of(&report, GateKind::CiGreen).reason.as_str(),
            "CI at 4b09a38: green"
        );
    }

    #[test]
    fn ci_failed_stage_fails_with_its_name() {
        let mut facts = green_facts();
        facts.pipeline = Some(pipeline(
            SHA,
            vec![
                stage("Install", RunStatus::Passed),
                stage("Lint+Format", RunStatus::Failed),
            ],
        ));
        let report = evaluate(&facts);
        let ci = gate_of(&report, GateKind::CiGreen);
        assert_eq!(ci.state, GateState::Fail);
        assert_eq!(ci.reason.as_str(), "CI at 4b09a38: Lint+Format failed");
        assert!(!report.allowed());
    }

    #[test]
    fn ci_skipped_stage_is_not_passed() {
        let mut facts = green_facts();
        facts.pipeline = Some(pipeline(SHA, vec![stage("E2E", RunStatus::Skipped)]));
        let ci = gate_of(&evaluate(&facts), GateKind::CiGreen);
        assert_eq!(ci.state, GateState::Fail);
        assert_eq!(
            ci.reason.as_str(),
            "CI at 4b09a38: E2E skipped (skipped is not passed)"
        );
    }

    #[test]
    fn ci_for_another_sha_or_missing_is_unknown() {
        let mut facts = green_facts();
        facts.pipeline = Some(pipeline(OTHER_SHA, vec![stage("Unit", RunStatus::Passed)]));
        let ci = gate_of(&evaluate(&facts), GateKind::CiGreen);
        assert_eq!(ci.state, GateState::Unknown);
        assert_eq!(
            ci.reason.as_str(),
            "CI at 4b09a38: the pipeline found is for 9f8e7d6, another commit"
        );
        facts.pipeline = None;
        let ci = gate_of(&evaluate(&facts), GateKind::CiGreen);
        assert_eq!(ci.state, GateState::Unknown);
        assert_eq!(
            ci.reason.as_str(),
            "CI at 4b09a38: no pipeline found for this commit"
        );
    }

    #[test]
    fn ci_running_or_without_stages_is_unknown() {
        let mut facts = green_facts();
        facts.pipeline = Some(pipeline(SHA, vec![stage("Unit", RunStatus::Running)]));
        let ci = gate_of(&evaluate(&facts), GateKind::CiGreen);
        assert_eq!(ci.state, GateState::Unknown);
        assert_eq!(ci.reason.as_str(), "CI at 4b09a38: Unit not finished");
        facts.pipeline = Some(pipeline(SHA, Vec::new()));
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::CiGreen).state,
            GateState::Unknown
        );
    }

    #[test]
    fn ci_required_checks_must_be_green() {
        let policy = policy("required_checks = [\"codeql\", \"license\"]");
        let mut facts = green_facts();
        facts
            .required_checks
            .insert("codeql".to_string(), RunStatus::Passed);
        let ci = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::CiGreen,
        );
        assert_eq!(ci.state, GateState::Unknown);
        assert_eq!(
            ci.reason.as_str(),
            "CI at 4b09a38: check license (not reported) not finished"
        );
        facts
            .required_checks
            .insert("license".to_string(), RunStatus::Failed);
        let ci = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::CiGreen,
        );
        assert_eq!(ci.state, GateState::Fail);
        assert_eq!(ci.reason.as_str(), "CI at 4b09a38: check license failed");
        facts
            .required_checks
            .insert("license".to_string(), RunStatus::Passed);
        let ci = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::CiGreen,
        );
        assert_eq!(ci.state, GateState::Pass);
    }

    #[test]
    fn source_deploy_gate() {
        let mut facts = green_facts();
        facts.source_deploy = Some(SourceDeploy {
            sha: OTHER_SHA.to_string(),
            status: DeployStatus::Success,
        });
        let gate = gate_of(&evaluate(&facts), GateKind::SourceDeployed);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(
            gate.reason.as_str(),
            "the source runs 9f8e7d6, not the candidate 4b09a38"
        );
        assert_eq!(gate.measured.as_str(), "9f8e7d6: deployed");
        facts.source_deploy = Some(SourceDeploy {
            sha: SHA.to_string(),
            status: DeployStatus::Failure,
        });
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::SourceDeployed).state,
            GateState::Fail
        );
        facts.source_deploy = Some(SourceDeploy {
            sha: SHA.to_string(),
            status: DeployStatus::InProgress,
        });
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::SourceDeployed).state,
            GateState::Unknown
        );
        facts.source_deploy = None;
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::SourceDeployed).state,
            GateState::Unknown
        );
    }

    #[test]
    fn source_smoke_gate_names_failing_checks() {
        let mut facts = green_facts();
        let now = facts.now;
        facts.source_smoke = Some(vec![
            smoke("health", true, now),
            smoke("db read", false, now),
        ]);
        let gate = gate_of(&evaluate(&facts), GateKind::SourceSmoke);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(gate.measured.as_str(), "1 of 2 passing");
        assert_eq!(gate.reason.as_str(), "smoke failing in the source: db read");
        facts.source_smoke = Some(Vec::new());
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::SourceSmoke).state,
            GateState::Unknown
        );
        facts.source_smoke = None;
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::SourceSmoke).state,
            GateState::Unknown
        );
    }

    #[test]
    fn soak_counts_down() {
        let mut facts = green_facts();
        facts.running_since = Some(facts.now - TimeDelta::minutes(12));
        let gate = gate_of(&evaluate(&facts), GateKind::Soak);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(gate.reason.as_str(), "soaked 12m of 30m: 18m to go");
        assert_eq!(gate.threshold.as_str(), "30m in the source");
        facts.running_since = Some(facts.now - TimeDelta::seconds(29 * 60 + 30));
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::Soak).reason.as_str(),
            "soaked 29m of 30m: 1m to go"
        );
        facts.running_since = Some(facts.now - TimeDelta::minutes(30));
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::Soak).state,
            GateState::Pass
        );
        facts.running_since = None;
        assert_eq!(
            gate_of(&evaluate(&facts), GateKind::Soak).state,
            GateState::Unknown
        );
    }

    #[test]
    fn soak_remaining_for_the_countdown() {
        let now = at("2026-11-18T12:00:00Z");
        let soak = Duration::from_secs(30 * 60);
        assert_eq!(
            soak_remaining(soak, Some(now - TimeDelta::minutes(12)), now),
            Some(Duration::from_secs(18 * 60))
        );
        assert_eq!(
            soak_remaining(soak, Some(now - TimeDelta::hours(2)), now),
            Some(Duration::ZERO)
        );
        // A start in the future (clock skew) has soaked nothing yet.
        assert_eq!(
            soak_remaining(soak, Some(now + TimeDelta::minutes(5)), now),
            Some(soak)
        );
        assert_eq!(soak_remaining(soak, None, now), None);
    }

    const WEEKEND_BERLIN: &str = "[[freeze]]\nweekly = \"Fri 17:00 - Mon 09:00\"\n\
        time_zone = \"Europe/Berlin\"\nenvironments = [\"prod\"]\nreason = \"weekend\"\n";

    #[test]
    fn weekend_freeze_wraps_over_the_week_end() {
        let weekend = freezes(WEEKEND_BERLIN);
        // Sunday noon UTC, CET (UTC+1): frozen until Monday 09:00 Berlin = 08:00 UTC.
        let state = freeze_state(&weekend, "prod", at("2026-11-22T12:00:00Z"));
        let active = state.active.expect("frozen on Sunday");
        assert_eq!(active.ends_at, at("2026-11-23T08:00:00Z"));
        assert_eq!(active.reason.as_str(), "weekend");
        assert_eq!(state.next_open, Some(at("2026-11-23T08:00:00Z")));
        // Friday 16:59 Berlin: still open; the freeze starts at 17:00 Berlin.
        let state = freeze_state(&weekend, "prod", at("2026-11-20T15:59:00Z"));
        assert!(state.active.is_none());
        assert_eq!(state.next_open, None);
        let (reason, starts) = state.next_freeze.expect("a next freeze");
        assert_eq!(reason.as_str(), "weekend");
        assert_eq!(starts, at("2026-11-20T16:00:00Z"));
        // Exactly Friday 17:00 frozen; exactly Monday 09:00 open again.
        assert!(
            freeze_state(&weekend, "prod", at("2026-11-20T16:00:00Z"))
                .active
                .is_some()
        );
        assert!(
            freeze_state(&weekend, "prod", at("2026-11-23T08:00:00Z"))
                .active
                .is_none()
        );
        // Other environments are not frozen.
        assert!(
            freeze_state(&weekend, "staging", at("2026-11-22T12:00:00Z"))
                .active
                .is_none()
        );
    }

    #[test]
    fn freeze_gate_says_until_when_and_why() {
        let weekend = freezes(WEEKEND_BERLIN);
        let mut facts = green_facts();
        facts.now = at("2026-11-22T12:00:00Z");
        facts.running_since = Some(facts.now - TimeDelta::hours(1));
        let report = evaluate_promotion(&default_policy(), &weekend, "prod", &facts, None);
        let gate = gate_of(&report, GateKind::Freeze);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(
            gate.reason.as_str(),
            "frozen until Mon 09:00 Europe/Berlin (weekend)"
        );
        assert!(!report.allowed());
        assert_eq!(report.blocking().len(), 1);
    }

    #[test]
    fn freeze_override_passes_with_the_reason_recorded() {
        let weekend = freezes(WEEKEND_BERLIN);
        let mut facts = green_facts();
        facts.now = at("2026-11-22T12:00:00Z");
        facts.running_since = Some(facts.now - TimeDelta::hours(1));
        let report = evaluate_promotion(
            &default_policy(),
            &weekend,
            "prod",
            &facts,
            Some("hotfix for checkout outage"),
        );
        let gate = gate_of(&report, GateKind::Freeze);
        assert_eq!(gate.state, GateState::Pass);
        assert_eq!(
            gate.reason.as_str(),
            "overridden: hotfix for checkout outage"
        );
        assert_eq!(
            gate.measured.as_str(),
            "frozen until Mon 09:00 Europe/Berlin (weekend)"
        );
        assert!(report.allowed());
        // A blank reason is no override.
        let report = evaluate_promotion(&default_policy(), &weekend, "prod", &facts, Some("  "));
        assert_eq!(gate_of(&report, GateKind::Freeze).state, GateState::Fail);
    }

    #[test]
    fn weekend_freeze_across_dst_end_in_october() {
        // Europe/Berlin leaves summer time on Sunday 2026-10-25 (03:00 CEST -> 02:00 CET).
        let weekend = freezes(WEEKEND_BERLIN);
        // Friday 17:00 CEST = 15:00 UTC.
        assert!(
            freeze_state(&weekend, "prod", at("2026-10-23T14:59:00Z"))
                .active
                .is_none()
        );
        let state = freeze_state(&weekend, "prod", at("2026-10-23T15:00:00Z"));
        // Monday 09:00 CET = 08:00 UTC (not 07:00: the offset changed over the weekend).
        assert_eq!(
            state.active.expect("frozen").ends_at,
            at("2026-10-26T08:00:00Z")
        );
        assert!(
            freeze_state(&weekend, "prod", at("2026-10-26T07:30:00Z"))
                .active
                .is_some()
        );
    }

    #[test]
    fn weekend_freeze_across_dst_start_in_march() {
        // Europe/Berlin enters summer time on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST).
        let weekend = freezes(WEEKEND_BERLIN);
        // Friday 17:00 CET = 16:00 UTC; Monday 09:00 CEST = 07:00 UTC.
        let state = freeze_state(&weekend, "prod", at("2026-03-27T16:00:00Z"));
        assert_eq!(
            state.active.expect("frozen").ends_at,
            at("2026-03-30T07:00:00Z")
        );
        assert!(
            freeze_state(&weekend, "prod", at("2026-03-30T07:00:00Z"))
                .active
                .is_none()
        );
        // A window starting inside the skipped hour starts when the clocks resume.
        let night = freezes(
            "[[freeze]]\nweekly = \"Sun 02:30 - Sun 05:00\"\ntime_zone = \"Europe/Berlin\"\n",
        );
        let state = freeze_state(&night, "prod", at("2026-03-29T01:00:00Z"));
        assert_eq!(
            state.active.expect("frozen at 03:00 CEST").ends_at,
            at("2026-03-29T03:00:00Z")
        );
        assert!(
            freeze_state(&night, "prod", at("2026-03-29T00:59:00Z"))
                .active
                .is_none()
        );
    }

    #[test]
    fn dated_blackout_is_the_whole_day_in_its_time_zone() {
        let black_friday = freezes(
            "[[freeze]]\ndate = \"2026-11-27\"\ntime_zone = \"America/New_York\"\n\
             reason = \"Black Friday\"\n",
        );
        // Midnight in New York (EST, UTC-5) is 05:00 UTC.
        assert!(
            freeze_state(&black_friday, "prod", at("2026-11-27T04:59:00Z"))
                .active
                .is_none()
        );
        let state = freeze_state(&black_friday, "prod", at("2026-11-28T04:30:00Z"));
        let active = state.active.expect("still Friday in New York");
        assert_eq!(active.reason.as_str(), "Black Friday");
        assert_eq!(active.ends_at, at("2026-11-28T05:00:00Z"));
        assert!(
            freeze_state(&black_friday, "prod", at("2026-11-28T05:00:00Z"))
                .active
                .is_none()
        );
        let before = freeze_state(&black_friday, "prod", at("2026-11-20T00:00:00Z"));
        assert_eq!(
            before.next_freeze.map(|(_, start)| start),
            Some(at("2026-11-27T05:00:00Z"))
        );
        // No time zone given: UTC.
        let utc_day = freezes("[[freeze]]\ndate = \"2026-11-27\"\n");
        assert!(
            freeze_state(&utc_day, "prod", at("2026-11-27T00:00:00Z"))
                .active
                .is_some()
        );
    }

    #[test]
    fn next_open_follows_back_to_back_freezes() {
        let text = format!(
            "{WEEKEND_BERLIN}[[freeze]]\ndate = \"2026-11-30\"\ntime_zone = \"Europe/Berlin\"\n\
             reason = \"migration day\"\n"
        );
        let both = freezes(&text);
        let state = freeze_state(&both, "prod", at("2026-11-28T12:00:00Z"));
        let active = state.active.expect("frozen");
        assert_eq!(active.reason.as_str(), "weekend");
        assert_eq!(active.ends_at, at("2026-11-30T08:00:00Z"));
        // The Monday blackout runs to Tuesday 00:00 Berlin = Monday 23:00 UTC.
        assert_eq!(state.next_open, Some(at("2026-11-30T23:00:00Z")));
        let mut facts = green_facts();
        facts.now = at("2026-11-28T12:00:00Z");
        let gate = gate_of(
            &evaluate_promotion(&default_policy(), &both, "prod", &facts, None),
            GateKind::Freeze,
        );
        assert_eq!(
            gate.reason.as_str(),
            "frozen until Tue 00:00 Europe/Berlin (weekend)"
        );
    }

    #[test]
    fn high_risk_files_match_globs() {
        let patterns = vec!["migrations/**".to_string(), "src/payments/**".to_string()];
        let files: Vec<String> = [
            "migrations/0042_orders.sql",
            "src/lib.rs",
            "src/payments/card.rs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            high_risk_files(&patterns, &files),
            vec!["migrations/0042_orders.sql", "src/payments/card.rs"]
        );
        assert!(high_risk_files(&[], &files).is_empty());
    }

    #[test]
    fn high_risk_passes_but_asks_for_confirmation() {
        let mut facts = green_facts();
        facts.changed_files = Some(
            [
                "migrations/0042_orders.sql",
                "migrations/0043_refunds.sql",
                "infra/iam/roles.tf",
                "infra/iam/users.tf",
                "README.md",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        let report = evaluate(&facts);
        let gate = gate_of(&report, GateKind::HighRisk);
        assert_eq!(gate.state, GateState::Pass);
        assert!(gate.needs_confirmation);
        assert_eq!(
            gate.reason.as_str(),
            "4 high-risk files: migrations/0042_orders.sql, migrations/0043_refunds.sql, \
             infra/iam/roles.tf, …: needs a second confirmation"
        );
        assert!(report.allowed());
        assert!(report.needs_confirmation());
        facts.changed_files = None;
        let report = evaluate(&facts);
        assert_eq!(
            gate_of(&report, GateKind::HighRisk).state,
            GateState::Unknown
        );
        assert!(!report.allowed());
    }

    #[test]
    fn a_pull_request_promotion_waits_for_its_review_at_merge() {
        let policy = policy(
            "strategy = \"pull-request\"\nhigh_risk = [\"migrations/**\"]\nrequire_review = true",
        );
        let mut facts = green_facts();
        facts.changed_files = Some(vec!["migrations/0042_orders.sql".to_string()]);
        let report = evaluate_promotion(&policy, &[], "prod", &facts, None);
        let review = gate_of(&report, GateKind::Review);
        assert_eq!(review.state, GateState::Pass);
        assert_eq!(review.measured.as_str(), "awaited on the pull request");
        assert!(report.allowed());
        // At merge time the same rule judges the pull request's own reviews.
        let alice = vec!["alice".to_string()];
        assert_eq!(review_gate(&alice, Some("alice")).state, GateState::Fail);
        assert_eq!(review_gate(&alice, Some("bob")).state, GateState::Pass);
        assert_eq!(review_gate(&alice, None).state, GateState::Unknown);
    }

    #[test]
    fn review_needed_only_for_high_risk_changes() {
        let policy = policy("high_risk = [\"migrations/**\"]\nrequire_review = true");
        let mut facts = green_facts();
        let report = evaluate_promotion(&policy, &[], "prod", &facts, None);
        assert!(report.gate(GateKind::Review).is_none());
        assert!(report.allowed());

        facts.changed_files = Some(vec!["migrations/0042_orders.sql".to_string()]);
        facts.pr_author = Some("alice".to_string());
        facts.approving_reviewers = vec!["alice".to_string()];
        let review = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::Review,
        );
        assert_eq!(review.state, GateState::Fail);

        facts.approving_reviewers.push("bob".to_string());
        let review = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::Review,
        );
        assert_eq!(review.state, GateState::Pass);
        assert_eq!(review.measured.as_str(), "approved by bob");

        facts.pr_author = None;
        let review = gate_of(
            &evaluate_promotion(&policy, &[], "prod", &facts, None),
            GateKind::Review,
        );
        assert_eq!(review.state, GateState::Unknown);
    }

    #[test]
    fn a_configured_checklist_is_a_gate_that_blocks_until_ticked() {
        let facts = green_facts();
        assert!(evaluate(&facts).gate(GateKind::Checklist).is_none());
        let policy = policy(
            "[[checklist]]\nid = \"migrations\"\ntext = \"Migrations are backward-compatible\"\n\
             [[checklist]]\nid = \"flags\"\ntext = \"Feature flags set\"\nrequired = false\n",
        );
        let mut report = evaluate_promotion(&policy, &[], "prod", &facts, None);
        let gate = gate_of(&report, GateKind::Checklist);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(gate.reason.as_str(), "1 required item unticked: migrations");
        assert!(!report.allowed());
        let items = super::super::checklist::items_of(&policy.checklist);
        super::super::checklist::rejudge(
            &mut report,
            &items,
            &["migrations".to_string()],
            None,
            super::super::checklist::ChecklistMode::Human,
        );
        assert!(report.allowed(), "{}", report.summary());
    }

    #[test]
    fn a_held_lock_blocks() {
        let mut facts = green_facts();
        facts.lock = Some(LockHolder {
            holder: "carol@laptop".to_string(),
            age: Duration::from_secs(125),
        });
        let report = evaluate(&facts);
        let gate = gate_of(&report, GateKind::Lock);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(
            gate.reason.as_str(),
            "another action is in flight: held by carol@laptop for 2m"
        );
        assert!(!report.allowed());
    }

    #[test]
    fn rollback_gates() {
        let mut facts = RollbackFacts {
            target_sha: OTHER_SHA.to_string(),
            target_exists: Some(true),
            target_once_succeeded: Some(true),
            lock: None,
        };
        let report = evaluate_rollback(&facts);
        assert!(report.allowed());
        assert!(report.gate(GateKind::Freeze).is_none());
        facts.target_once_succeeded = None;
        assert_eq!(
            gate_of(&evaluate_rollback(&facts), GateKind::RollbackTarget).state,
            GateState::Unknown
        );
        facts.target_once_succeeded = Some(false);
        assert_eq!(
            gate_of(&evaluate_rollback(&facts), GateKind::RollbackTarget).state,
            GateState::Fail
        );
        facts.target_exists = Some(false);
        assert_eq!(
            gate_of(&evaluate_rollback(&facts), GateKind::RollbackTarget)
                .reason
                .as_str(),
            "commit 9f8e7d6 does not exist in the repository"
        );
        facts.target_exists = Some(true);
        facts.target_once_succeeded = Some(true);
        facts.lock = Some(LockHolder {
            holder: "dave".to_string(),
            age: Duration::from_secs(10),
        });
        assert!(!evaluate_rollback(&facts).allowed());
    }

    fn deploy_status() -> impl Strategy<Value = DeployStatus> {
        prop_oneof![
            Just(DeployStatus::Queued),
            Just(DeployStatus::Pending),
            Just(DeployStatus::InProgress),
            Just(DeployStatus::Success),
            Just(DeployStatus::Failure),
            Just(DeployStatus::Error),
            Just(DeployStatus::Inactive),
            Just(DeployStatus::Unknown),
        ]
    }

    prop_compose! {
        fn any_facts()(
            candidate in prop_oneof![Just(SHA.to_string()), Just(OTHER_SHA.to_string()), ".{0,12}"],
            pipeline_sha in proptest::option::of(prop_oneof![Just(SHA.to_string()), ".{0,12}"]),
            stages in proptest::collection::vec(crate::model::pipeline::any_run_status(), 0..5),
            checks in proptest::collection::btree_map("[a-c]", crate::model::pipeline::any_run_status(), 0..3),
            deploy in proptest::option::of((prop_oneof![Just(SHA.to_string()), ".{0,8}"], deploy_status())),
            since_minutes in proptest::option::of(-100_000i64..100_000),
            smoke_results in proptest::option::of(proptest::collection::vec(any::<bool>(), 0..4)),
            files in proptest::option::of(proptest::collection::vec("(migrations/|src/|infra/iam/)?[a-z.*\\[{]{0,8}", 0..5)),
            reviewers in proptest::collection::vec("[a-c]", 0..3),
            author in proptest::option::of("[a-c]"),
            locked in any::<bool>(),
            now_secs in 0i64..4_000_000_000,
        ) -> PromotionFacts {
            let now = DateTime::from_timestamp(now_secs, 0).unwrap_or_default();
            PromotionFacts {
                candidate_sha: candidate,
                pipeline: pipeline_sha.map(|sha| pipeline(
                    &sha,
                    stages.iter().enumerate().map(|(i, s)| stage(&format!("s{i}"), *s)).collect(),
                )),
                required_checks: checks,
                source_deploy: deploy.map(|(sha, status)| SourceDeploy { sha, status }),
                running_since: since_minutes.map(|m| now - TimeDelta::minutes(m)),
                source_smoke: smoke_results
                    .map(|oks| oks.iter().map(|ok| smoke("check", *ok, now)).collect()),
                changed_files: files,
                approving_reviewers: reviewers,
                pr_author: author,
                pr_labels: None,
                lock: locked.then(|| LockHolder { holder: "x".to_string(), age: Duration::ZERO }),
                forward: ForwardCheck::NotNeeded,
                now,
            }
        }
    }

    proptest! {
        #[test]
        fn evaluate_promotion_never_panics_and_any_non_pass_blocks(
            facts in any_facts(),
            require_review in any::<bool>(),
            required in proptest::collection::vec("[a-d]", 0..3),
            override_reason in proptest::option::of(".{0,10}"),
        ) {
            let policy = PromotionConfig {
                require_review,
                required_checks: required,
                ..policy("high_risk = [\"migrations/**\", \"infra/iam/**\"]")
            };
            let text = format!("{WEEKEND_BERLIN}[[freeze]]\ndate = \"2026-11-27\"\n");
            let all_freezes = freezes(&text);
            let report = evaluate_promotion(
                &policy, &all_freezes, "prod", &facts, override_reason.as_deref(),
            );
            let any_blocking = report.gates.iter().any(|g| g.state != GateState::Pass);
            prop_assert_eq!(report.allowed(), !any_blocking);
            prop_assert_eq!(report.blocking().is_empty(), report.allowed());
            for gate in &report.gates {
                if matches!(gate.state, GateState::Unknown | GateState::Fail) {
                    prop_assert!(!report.allowed());
                }
                prop_assert!(!gate.reason.is_empty());
            }
            let kinds: Vec<GateKind> = report.gates.iter().map(|g| g.kind).collect();
            for kind in [GateKind::CiGreen, GateKind::SourceDeployed, GateKind::SourceSmoke,
                         GateKind::Soak, GateKind::Freeze, GateKind::HighRisk, GateKind::Lock] {
                prop_assert!(kinds.contains(&kind));
            }
        }
    }
}
