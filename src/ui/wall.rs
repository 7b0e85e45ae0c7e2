//! The wall: a read-only screen for a display that people glance at from across a room, for
//! weeks on end. One card per environment with its state in large letters (the one word that
//! matters most, see [`card_state`] for the precedence), the deployed commit, the error-rate
//! chart and one line per failing thing; full-width banners above the cards for what needs
//! people now (an automatic rollback, `main` red for too long, a source gone dark); and,
//! when the caller names one, a detail panel for one environment. Everything that matters
//! only up close (authors, target times, the age of every row, the audit log) stays on the
//! captain's screen.
//!
//! Every decision is a plain function over plain data: [`card_state`], [`troubles`],
//! [`banners`], [`plan_screen`], [`layout_for`], [`fit_state_words`]. [`draw_wall`] only
//! paints what they decided.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use tui_big_text::{BigText, PixelSize};

use super::theme::Theme;
use super::view::{
    draw_error_chart, duration_since, figure_duration, format_age, pipeline_lines, short,
    smoke_lines, unusually_high, verification_lines,
};
use crate::model::{
    ActionKind, ActionStepState, DeployStatus, EnvironmentSnapshot, GateKind, GateState,
    GuardEvent, PipelineState, RunStatus, SafeText, SignalState, Snapshot, SourceHealth,
    SourceKind, VerificationPhase, WatchView,
};

/// What the caller decides about the wall, frame by frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WallView {
    /// The environment (index into the snapshot) whose detail panel is shown; the caller
    /// rotates it. Out of range or `None`: no panel.
    pub detail: Option<usize>,
    /// The bottom line (keys, cycle time); `None` in kiosk mode, where the cards get the row.
    pub footer: Option<Line<'static>>,
    pub banner_policy: BannerPolicy,
}

impl WallView {
    /// Moves the detail panel to the next environment, wrapping around; the first one when
    /// none was shown. Nothing to show without environments.
    pub fn rotate(&mut self, env_count: usize) {
        self.detail = match (self.detail, env_count) {
            (_, 0) => None,
            (Some(index), count) => Some((index + 1) % count),
            (None, _) => Some(0),
        };
    }
}

/// When a situation deserves a banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerPolicy {
    /// How long the pipeline of `main_branch` may stay red before it gets a banner.
    pub red_main_after: Duration,
    /// How long a source may go unanswered before it gets a banner.
    pub source_down_after: Duration,
    /// The branch whose red pipeline is everybody's problem.
    pub main_branch: String,
}

impl Default for BannerPolicy {
    fn default() -> Self {
        Self {
            red_main_after: Duration::from_secs(30 * 60),
            source_down_after: Duration::from_secs(60),
            main_branch: "main".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The state word
// ---------------------------------------------------------------------------------------

/// What a progress count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressUnit {
    /// Steps of a promotion or rollback in flight.
    Steps,
    /// Services whose deployment has landed.
    Services,
    /// Pipeline stages of the branch head.
    Stages,
}

impl ProgressUnit {
    fn word(self) -> &'static str {
        match self {
            Self::Steps => "steps",
            Self::Services => "services",
            Self::Stages => "stages",
        }
    }
}

/// `done` of `total` finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub unit: ProgressUnit,
}

/// The one word a card shows, in precedence order (see [`card_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// Users are hurt now: smoke checks fail, or the running deploy failed its verification
    /// and nothing is rolling it back.
    Failing {
        smoke_checks: usize,
        verification: bool,
    },
    /// shipdeck rolled the environment back by itself (or is doing so), and nothing has
    /// changed since.
    RolledBack {
        in_progress: bool,
    },
    /// The pipeline of the branch head failed.
    CiRed,
    /// The latest complete minute's error count is unusually high against the baseline.
    Degraded,
    /// A change is on its way: an action's steps, services deploying, or the head's stages.
    Deploying {
        progress: Option<Progress>,
    },
    /// The deployments source never answered: what runs is unknown.
    NoData,
    /// Some sources are failing, so a calm picture cannot be vouched for.
    Stale {
        sources: usize,
    },
    /// The running deploy is inside its verification window.
    Verifying {
        left: Duration,
    },
    /// A freeze window is in force: nothing is promoted into the environment.
    Frozen,
    Healthy,
}

impl CardState {
    /// The word in large letters.
    pub fn word(self) -> &'static str {
        match self {
            Self::Failing { .. } => "FAILING",
            Self::RolledBack { in_progress: false } => "ROLLED BACK",
            Self::RolledBack { in_progress: true } => "ROLLING BACK",
            Self::CiRed => "CI RED",
            Self::Degraded => "DEGRADED",
            Self::Deploying { .. } => "DEPLOYING",
            Self::NoData => "NO DATA",
            Self::Stale { .. } => "STALE",
            Self::Verifying { .. } => "VERIFYING",
            Self::Frozen => "FROZEN",
            Self::Healthy => "HEALTHY",
        }
    }

    /// The word with its count or countdown: "DEPLOYING 4/7", "VERIFYING 6:12 left".
    pub fn label(self) -> String {
        match self {
            Self::Deploying {
                progress: Some(progress),
            } => format!("DEPLOYING {}/{}", progress.done, progress.total),
            Self::Verifying { left } => format!("VERIFYING {} left", clock_duration(left)),
            state => state.word().to_string(),
        }
    }

    /// Whether the state calls for people now (a thicker border, the alarm colours).
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            Self::Failing { .. } | Self::RolledBack { .. } | Self::CiRed
        )
    }

    fn color(self, theme: &Theme) -> Color {
        match self {
            Self::Failing { .. } | Self::CiRed => theme.fail,
            Self::RolledBack { .. } => theme.alarm,
            Self::Degraded => theme.warn,
            Self::Deploying { .. } | Self::Verifying { .. } => theme.running,
            Self::NoData | Self::Stale { .. } => theme.stale,
            Self::Frozen => theme.accent,
            Self::Healthy => theme.ok,
        }
    }
}

/// "6:12", "0:05", "1:02:03": a countdown read at a glance.
fn clock_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// The sources whose failure makes a card STALE. The deployment history is left out: it
/// moves slowly and the captain's screen, too, shows it without the STALE alarm.
const LIVE_SOURCES: [SourceKind; 4] = [
    SourceKind::Deployments,
    SourceKind::Pipeline,
    SourceKind::Smoke,
    SourceKind::Errors,
];

/// The state of one environment, the first that holds in this order:
///
/// 1. FAILING: a smoke check fails, or the verification of the running deploy failed and
///    the guard is not rolling that deploy back. Users are hurt now; nothing outranks it.
/// 2. ROLLED BACK / ROLLING BACK: the guard rolled back by itself and nothing changed
///    since (no newer deploy, the streak not cleared by a verified deploy). The
///    environment changed without anyone asking; the people in the room must learn it.
/// 3. CI RED: the pipeline of the branch head failed: nothing moves forward from here.
/// 4. DEGRADED: the error rate is unusually high against the baseline (the same rule that
///    paints the chart's bars red, so Poisson noise of a quiet service does not flicker it),
///    or the error watch after a verified deploy found a new error type: worth the
///    captain's look, not an outage, and nothing rolls back by itself.
/// 5. DEPLOYING: a promotion or rollback in flight (its steps), services deploying, the
///    head's pipeline running (its stages), or a verification waiting for its deploy.
///    Problems outrank progress; progress outranks calm.
/// 6. NO DATA: the deployments source never answered: what runs is unknown.
/// 7. STALE: a live source fails. Below progress (a change on its way is still worth
///    knowing), above every calm state, which stale data cannot vouch for.
/// 8. VERIFYING: the running deploy is inside its window (hands off for m:ss).
/// 9. FROZEN: the promotion into the environment is blocked by a freeze window.
/// 10. HEALTHY.
pub fn card_state(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> CardState {
    let rollback = standing_guard_event(env)
        .filter(|event| matches!(event.kind.as_str(), "rolled_back" | "rolling_back"));
    let smoke_checks = env.smoke.iter().filter(|check| !check.ok).count();
    let verification = env.verification.as_ref().is_some_and(|view| {
        view.phase == VerificationPhase::Failed && rollback.is_none_or(|e| e.sha != view.sha)
    });
    if smoke_checks > 0 || verification {
        return CardState::Failing {
            smoke_checks,
            verification,
        };
    }
    if let Some(event) = rollback {
        return CardState::RolledBack {
            in_progress: event.kind.as_str() == "rolling_back",
        };
    }
    if env.pipeline.as_ref().is_some_and(pipeline_is_red) {
        return CardState::CiRed;
    }
    if error_rate_is_unusual(env) || watch_findings(env, now) > 0 {
        return CardState::Degraded;
    }
    if let Some(progress) = deploy_progress(env) {
        return CardState::Deploying { progress };
    }
    if env.health.deployments.last_success.is_none() {
        return CardState::NoData;
    }
    let sources = LIVE_SOURCES
        .iter()
        .filter(|kind| env.health.get(**kind).is_failing())
        .count();
    if sources > 0 {
        return CardState::Stale { sources };
    }
    if let Some(view) = env
        .verification
        .as_ref()
        .filter(|view| view.phase == VerificationPhase::Verifying)
    {
        return CardState::Verifying {
            left: view.time_left(now),
        };
    }
    if freeze_in_force(env) {
        return CardState::Frozen;
    }
    CardState::Healthy
}

/// A failed run, or a failed stage in a run that still goes on: either way CI is red.
fn pipeline_is_red(pipeline: &PipelineState) -> bool {
    pipeline.status == RunStatus::Failed
        || pipeline
            .stages
            .iter()
            .any(|stage| stage.status == RunStatus::Failed)
}

fn error_rate_is_unusual(env: &EnvironmentSnapshot) -> bool {
    match (
        env.errors.current_per_minute(),
        env.errors.baseline_per_minute,
    ) {
        (Some(count), Some(baseline)) => unusually_high(count, baseline),
        _ => false,
    }
}

/// The watch of the running deploy while it is on: the deploy was verified, the watch has
/// not ended.
fn active_watch(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> Option<&WatchView> {
    let view = env.verification.as_ref()?;
    view.watch
        .as_ref()
        .filter(|watch| view.phase == VerificationPhase::Verified && now < watch.ends)
}

fn watch_findings(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> usize {
    active_watch(env, now).map_or(0, |watch| watch.findings.len())
}

fn freeze_in_force(env: &EnvironmentSnapshot) -> bool {
    env.release
        .promotion
        .as_ref()
        .and_then(|preview| preview.gates.gate(GateKind::Freeze))
        .is_some_and(|gate| gate.state == GateState::Fail)
}

/// `Some` when a change is on its way, with a count when one is known. The closer a change
/// is to the environment, the more its count says: an action's steps, then services, then
/// the head's stages.
fn deploy_progress(env: &EnvironmentSnapshot) -> Option<Option<Progress>> {
    if let Some(activity) = env.release.activity.as_ref().filter(|a| a.result.is_none()) {
        let done = activity
            .steps
            .iter()
            .filter(|step| matches!(step.state, ActionStepState::Done | ActionStepState::Skipped))
            .count();
        return Some(Some(Progress {
            done,
            total: activity.steps.len(),
            unit: ProgressUnit::Steps,
        }));
    }
    let in_flight = |status: DeployStatus| {
        matches!(
            status,
            DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress
        )
    };
    let deploying = env
        .services
        .iter()
        .filter(|service| service.latest.as_ref().is_some_and(|d| in_flight(d.status)))
        .count();
    if deploying > 0 {
        return Some(Some(Progress {
            done: env.services.len() - deploying,
            total: env.services.len(),
            unit: ProgressUnit::Services,
        }));
    }
    if let Some(pipeline) = env
        .pipeline
        .as_ref()
        .filter(|p| matches!(p.status, RunStatus::Running | RunStatus::Queued))
    {
        let done = pipeline
            .stages
            .iter()
            .filter(|stage| matches!(stage.status, RunStatus::Passed | RunStatus::Skipped))
            .count();
        return Some(Some(Progress {
            done,
            total: pipeline.stages.len(),
            unit: ProgressUnit::Stages,
        }));
    }
    env.verification
        .as_ref()
        .filter(|view| view.phase == VerificationPhase::Deploying)
        .map(|_| None)
}

/// The guard's latest decision about an automatic rollback while it still describes the
/// environment: until a newer deploy lands (one that is not the rollback's own target), or
/// the guard clears (a verified deploy ends the streak of rollbacks, or the escalation).
/// An alert sent with automatic rollback off is not one of these: the card says FAILING.
fn standing_guard_event(env: &EnvironmentSnapshot) -> Option<&GuardEvent> {
    let guard = &env.guard;
    let event = guard.last.as_ref()?;
    let kind = event.kind.as_str();
    let cleared = match kind {
        "rolling_back" | "rolled_back" => guard.rollbacks_in_a_row == 0,
        "escalated" => !guard.escalated,
        "rollback_failed" | "rollback_blocked" => false,
        _ => return None,
    };
    // A rollback in progress deploys its own target after the event: that is no news.
    let newer_deploy = kind != "rolling_back"
        && env
            .services
            .first()
            .and_then(|service| service.last_success.as_ref())
            .is_some_and(|deploy| {
                deploy.at.is_some_and(|at| at > event.at)
                    && event.to_sha.as_deref() != Some(deploy.sha.as_str())
            });
    (!cleared && !newer_deploy).then_some(event)
}

/// The line under the state word: the count, the countdown, what moves, why it is red.
fn state_detail(env: &EnvironmentSnapshot, state: CardState, now: DateTime<Utc>) -> String {
    match state {
        CardState::Failing {
            smoke_checks,
            verification,
        } => {
            let mut parts = Vec::new();
            if smoke_checks > 0 {
                let plural = if smoke_checks == 1 { "" } else { "s" };
                parts.push(format!("{smoke_checks} smoke check{plural} failing"));
            }
            if verification {
                parts.push("verification failed".to_string());
            }
            parts.join(" · ")
        }
        CardState::RolledBack { .. } => standing_guard_event(env)
            .map(|event| {
                let target = event
                    .to_sha
                    .as_deref()
                    .map(|to| format!(" → {}", short(to)))
                    .unwrap_or_default();
                format!(
                    "{}{target} · {}",
                    short(&event.sha),
                    format_age(duration_since(event.at, now))
                )
            })
            .unwrap_or_default(),
        CardState::CiRed => {
            let Some(pipeline) = env.pipeline.as_ref() else {
                return String::new();
            };
            match pipeline
                .stages
                .iter()
                .find(|stage| stage.status == RunStatus::Failed)
            {
                Some(stage) => format!("run #{} · {} failed", pipeline.run_number, stage.name),
                None => format!("run #{} failed", pipeline.run_number),
            }
        }
        CardState::Degraded => match (
            env.errors.current_per_minute(),
            env.errors.baseline_per_minute,
        ) {
            (Some(count), Some(baseline)) if unusually_high(count, baseline) => {
                format!("{count} errors/min · baseline {baseline:.1}")
            }
            _ => match watch_findings(env, now) {
                0 => String::new(),
                1 => "watch: a new error type · r rolls back".to_string(),
                n => format!("watch: {n} new error types · r rolls back"),
            },
        },
        CardState::Deploying { progress } => {
            let mut parts = Vec::new();
            if let Some(progress) = progress {
                parts.push(format!(
                    "{}/{} {}",
                    progress.done,
                    progress.total,
                    progress.unit.word()
                ));
            }
            if let Some(activity) = env.release.activity.as_ref().filter(|a| a.result.is_none()) {
                let verb = match activity.kind {
                    ActionKind::Promote => "promote",
                    ActionKind::Rollback => "rollback",
                };
                parts.push(format!("{verb} → {}", short(&activity.sha)));
            }
            parts.join(" · ")
        }
        CardState::NoData => "waiting for the deployments source".to_string(),
        CardState::Stale { sources } => {
            let oldest = LIVE_SOURCES
                .iter()
                .map(|kind| env.health.get(*kind))
                .filter(|health| health.is_failing())
                .map(|health| health.age(now))
                .max_by_key(|age| age.map_or(u64::MAX, |a| a.as_secs()));
            let plural = if sources == 1 { "" } else { "s" };
            match oldest.flatten() {
                Some(age) => format!(
                    "{sources} source{plural} down · data {} old",
                    figure_duration(age)
                ),
                None => format!("{sources} source{plural} down · never reached"),
            }
        }
        CardState::Verifying { left } => format!("{} left", clock_duration(left)),
        CardState::Frozen => env
            .release
            .promotion
            .as_ref()
            .and_then(|preview| preview.gates.gate(GateKind::Freeze))
            .map(|gate| gate.measured.as_str().to_string())
            .unwrap_or_default(),
        CardState::Healthy => active_watch(env, now)
            .map(|watch| format!("watching · {} left", watch.left_words(now)))
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------
// Failing things
// ---------------------------------------------------------------------------------------

/// How bad one failing thing is; the icon and colour follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TroubleKind {
    /// Broken now: a smoke check, a verification signal, a stage.
    Failing,
    /// A source that does not answer.
    Stale,
    /// Worth a look: a new error type, a service lagging behind.
    Warning,
    /// A gate that blocks the promotion into the environment.
    Gate,
}

/// One failing thing, one line on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    pub kind: TroubleKind,
    pub text: String,
}

/// Every failing thing of one environment, the worst first: failing smoke checks, failed
/// verification signals, failed stages, sources down, new error types, lagging services,
/// then the gates that block the promotion into it.
pub fn troubles(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> Vec<Trouble> {
    let mut out = Vec::new();
    let mut push = |kind, text: String| out.push(Trouble { kind, text });
    for check in env.smoke.iter().filter(|check| !check.ok) {
        push(
            TroubleKind::Failing,
            format!("smoke {}: {}", check.name, check.detail),
        );
    }
    if let Some(view) = env
        .verification
        .as_ref()
        .filter(|view| view.phase == VerificationPhase::Failed)
    {
        for signal in view.signals.iter().filter(|s| s.state == SignalState::Fail) {
            push(
                TroubleKind::Failing,
                format!(
                    "{} {} · {}",
                    signal.signal, signal.measured, signal.threshold
                ),
            );
        }
    }
    if let Some(pipeline) = &env.pipeline {
        for stage in pipeline
            .stages
            .iter()
            .filter(|stage| stage.status == RunStatus::Failed)
        {
            push(TroubleKind::Failing, format!("stage {} failed", stage.name));
        }
    }
    for kind in LIVE_SOURCES {
        let health = env.health.get(kind);
        if health.is_failing() {
            let since = health.age(now).map_or_else(
                || "never reached".to_string(),
                |age| format!("data {} old", figure_duration(age)),
            );
            push(
                TroubleKind::Stale,
                format!("{} source down · {since}", source_word(kind)),
            );
        }
    }
    let found = active_watch(env, now).map_or(&[][..], |watch| watch.findings.as_slice());
    for finding in found {
        push(
            TroubleKind::Warning,
            format!(
                "watch: {}",
                env.verification
                    .as_ref()
                    .map(|view| finding.headline(view.deployed_at, &view.sha))
                    .unwrap_or_default()
            ),
        );
    }
    for new_type in env
        .errors
        .new_types
        .iter()
        .filter(|new_type| !found.iter().any(|f| f.id == new_type.id))
    {
        push(
            TroubleKind::Warning,
            format!("new error {}", new_type.title),
        );
    }
    for service in env.lagging_services() {
        let sha = service.running_sha().map(short).unwrap_or("-------");
        push(
            TroubleKind::Warning,
            format!("{} lags behind at {sha}", service.name),
        );
    }
    if let Some(preview) = &env.release.promotion {
        for gate in preview
            .gates
            .gates
            .iter()
            .filter(|g| g.state == GateState::Fail)
        {
            push(
                TroubleKind::Gate,
                format!("{}: {}", gate.kind.label(), gate.reason),
            );
        }
    }
    out
}

fn source_word(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Deployments => "deployments",
        SourceKind::Pipeline => "CI",
        SourceKind::Smoke => "smoke",
        SourceKind::Errors => "errors",
        SourceKind::History => "history",
    }
}

fn source_headline(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Deployments => "DEPLOYMENTS",
        SourceKind::Pipeline => "CI",
        SourceKind::Smoke => "SMOKE CHECKS",
        SourceKind::Errors => "ERROR TRACKING",
        SourceKind::History => "DEPLOY HISTORY",
    }
}

// ---------------------------------------------------------------------------------------
// Banners
// ---------------------------------------------------------------------------------------

/// What a banner is about; the order of the variants is the order on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BannerKind {
    AutoRollback,
    RedMain,
    SourceDown,
}

/// One full-width line above the cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub kind: BannerKind,
    /// The environment it is about (for a red `main`, the first one on that branch).
    pub environment: SafeText,
    /// What, in capitals: "PROD ROLLED BACK AUTOMATICALLY", "MAIN RED FOR 42m".
    pub headline: String,
    /// Why and when: commits, the reason, how long ago.
    pub detail: String,
}

/// Every banner that holds now, automatic rollbacks first, then a red `main`, then sources
/// that went dark.
///
/// - An automatic rollback (or one in progress, failed, blocked, or stopped at the cap)
///   stays until the situation changes: a newer deploy lands or the guard clears.
/// - The pipeline of `policy.main_branch` red for longer than `policy.red_main_after`,
///   measured from the first failure in the head's run (stage, else job, else run finish
///   times; a run without any of them is not shown, since how long is unknown).
/// - A live source failing for longer than `policy.source_down_after` since its last good
///   answer (so the time also says how old its data is), or one that never answered.
pub fn banners(snapshot: &Snapshot, now: DateTime<Utc>, policy: &BannerPolicy) -> Vec<Banner> {
    let mut out: Vec<Banner> = snapshot
        .environments
        .iter()
        .filter_map(|env| rollback_banner(env, now))
        .collect();
    // Environments on the same branch share its head and so its pipeline: one banner.
    if let Some(env) = snapshot
        .environments
        .iter()
        .find(|env| env.branch.as_str() == policy.main_branch && env.pipeline.is_some())
        && let Some(banner) = red_main_banner(env, now, policy)
    {
        out.push(banner);
    }
    out.extend(
        snapshot
            .environments
            .iter()
            .filter_map(|env| source_banner(env, now, policy)),
    );
    out
}

fn rollback_banner(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> Option<Banner> {
    let event = standing_guard_event(env)?;
    let name = env.name.as_str().to_uppercase();
    let headline = match event.kind.as_str() {
        "rolling_back" => format!("{name} ROLLING BACK AUTOMATICALLY"),
        "rolled_back" => format!("{name} ROLLED BACK AUTOMATICALLY"),
        "rollback_failed" => format!("{name}: AUTOMATIC ROLLBACK FAILED"),
        "rollback_blocked" => format!("{name}: AUTOMATIC ROLLBACK BLOCKED"),
        _ => format!("{name}: AUTOMATIC ROLLBACKS STOPPED"),
    };
    let target = event
        .to_sha
        .as_deref()
        .map(|to| format!(" → {}", short(to)))
        .unwrap_or_default();
    Some(Banner {
        kind: BannerKind::AutoRollback,
        environment: env.name.clone(),
        headline,
        detail: format!(
            "{}{target} · {} · {}",
            short(&event.sha),
            format_age(duration_since(event.at, now)),
            event.reason
        ),
    })
}

fn red_main_banner(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    policy: &BannerPolicy,
) -> Option<Banner> {
    let pipeline = env.pipeline.as_ref()?;
    if !pipeline_is_red(pipeline) {
        return None;
    }
    let red_for = duration_since(pipeline.red_since()?, now);
    if red_for <= policy.red_main_after {
        return None;
    }
    let mut detail = vec![format!("run #{}", pipeline.run_number)];
    if let Some(stage) = pipeline
        .stages
        .iter()
        .find(|stage| stage.status == RunStatus::Failed)
    {
        detail.push(format!("{} failed", stage.name));
    }
    detail.push(match &env.head {
        Some(head) => format!("{} {}", head.short_sha(), head.subject),
        None => short(&pipeline.sha).to_string(),
    });
    Some(Banner {
        kind: BannerKind::RedMain,
        environment: env.name.clone(),
        headline: format!(
            "{} RED FOR {}",
            env.branch.as_str().to_uppercase(),
            figure_duration(red_for)
        ),
        detail: detail.join(" · "),
    })
}

fn source_banner(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    policy: &BannerPolicy,
) -> Option<Banner> {
    let down_long = |health: &SourceHealth| {
        health.is_failing()
            && health
                .age(now)
                .is_none_or(|age| age > policy.source_down_after)
    };
    let down: Vec<(SourceKind, &SourceHealth)> = LIVE_SOURCES
        .iter()
        .map(|kind| (*kind, env.health.get(*kind)))
        .filter(|(_, health)| down_long(health))
        .collect();
    let (_, first) = down.first()?;
    let names: Vec<&str> = down
        .iter()
        .map(|(kind, _)| source_headline(*kind))
        .collect();
    let mut detail: Vec<String> = down
        .iter()
        .map(|(kind, health)| match health.age(now) {
            Some(age) => format!("{} data {} old", source_word(*kind), figure_duration(age)),
            None => format!("{} never answered", source_word(*kind)),
        })
        .collect();
    if let Some((_, why)) = &first.last_error {
        detail.push(why.as_str().to_string());
    }
    Some(Banner {
        kind: BannerKind::SourceDown,
        environment: env.name.clone(),
        headline: format!(
            "{}: {} UNREACHABLE",
            env.name.as_str().to_uppercase(),
            names.join(" AND ")
        ),
        detail: detail.join(" · "),
    })
}

// ---------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------

/// How big the state word is drawn. Ordered from the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TextSize {
    /// Bold text on one line, when not even the quadrant letters fit.
    Plain,
    /// 4x4 cells a letter.
    Quadrant,
    /// 8x4 cells a letter.
    HalfHeight,
    /// 8x8 cells a letter.
    Full,
}

impl TextSize {
    const BIG: [TextSize; 3] = [TextSize::Full, TextSize::HalfHeight, TextSize::Quadrant];

    /// Columns and rows one letter takes.
    pub fn cell(self) -> (u16, u16) {
        match self {
            TextSize::Full => (8, 8),
            TextSize::HalfHeight => (8, 4),
            TextSize::Quadrant => (4, 4),
            TextSize::Plain => (1, 1),
        }
    }

    fn pixel_size(self) -> Option<PixelSize> {
        match self {
            TextSize::Full => Some(PixelSize::Full),
            TextSize::HalfHeight => Some(PixelSize::HalfHeight),
            TextSize::Quadrant => Some(PixelSize::Quadrant),
            TextSize::Plain => None,
        }
    }
}

/// The lines `word` takes at `size` within `width` x `rows`: the whole word on one line,
/// or one part a line for a word of several parts ("ROLLED" / "BACK"). `None`: no fit.
pub fn state_lines(word: &str, size: TextSize, width: u16, rows: u16) -> Option<Vec<&str>> {
    let (cell_width, cell_rows) = size.cell();
    let fits = |lines: &[&str]| {
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let needed_width = u16::try_from(widest)
            .ok()
            .and_then(|w| w.checked_mul(cell_width));
        let needed_rows = u16::try_from(lines.len())
            .ok()
            .and_then(|n| n.checked_mul(cell_rows));
        needed_width.is_some_and(|w| w <= width) && needed_rows.is_some_and(|r| r <= rows)
    };
    let whole = vec![word];
    if fits(&whole) {
        return Some(whole);
    }
    let parts: Vec<&str> = word.split(' ').filter(|p| !p.is_empty()).collect();
    (parts.len() > 1 && fits(&parts)).then_some(parts)
}

/// The largest size at which every word fits `width` x `rows` (whole or split at spaces),
/// so that all cards of a frame speak at the same size. Plain when even quadrant letters
/// do not fit.
pub fn fit_state_words(words: &[&str], width: u16, rows: u16) -> TextSize {
    TextSize::BIG
        .into_iter()
        .find(|size| {
            words
                .iter()
                .all(|word| state_lines(word, *size, width, rows).is_some())
        })
        .unwrap_or(TextSize::Plain)
}

/// How the cards share the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    /// One column per environment, the state on top: wide screens.
    SideBySide,
    /// One band per environment, the state on the left: narrow screens.
    Stacked,
    /// One borderless line per environment: screens too small for anything else.
    Lines,
}

/// Where the cards go and how much room each leaves for its state word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WallLayout {
    pub arrangement: Arrangement,
    pub cards: Vec<Rect>,
    /// Columns of a card the state word may take.
    pub state_width: u16,
    /// Rows of a card the state word may take.
    pub state_rows: u16,
    /// Rows on top of a card for its name in big letters (and a gap); 0: the name stays in
    /// the border.
    pub name_rows: u16,
}

impl WallLayout {
    /// The size every card's state word is drawn at.
    pub fn text_size(&self, words: &[&str]) -> TextSize {
        fit_state_words(words, self.state_width, self.state_rows)
    }
}

/// Narrowest side-by-side card: nine quadrant letters ("DEPLOYING") and its border.
const SIDE_MIN_CARD_WIDTH: u16 = 38;
/// Lowest side-by-side card: its border and three lines.
const SIDE_MIN_HEIGHT: u16 = 5;
/// Rows a side-by-side card keeps below its state word: the detail line, a gap, the commit,
/// two failing things, the error figure and a three-row chart.
const SIDE_INFO_ROWS: u16 = 9;
/// Two lines of full-size letters: "ROLLED" over "BACK".
const MAX_STATE_ROWS: u16 = 16;
/// Columns a stacked card keeps right of its state word: the commit and failing things.
const STACKED_INFO_MIN_WIDTH: u16 = 30;
/// Rows of a name in big letters (half-height or quadrant letters).
const NAME_ROWS: u16 = 4;
/// Side-by-side cards this tall inside (name, gap, one line of state letters, the info
/// rows and four failing things) show their name in big letters.
const BIG_NAME_FROM_ROWS: u16 = NAME_ROWS + 1 + 4 + SIDE_INFO_ROWS + 4;
/// Lowest stacked card: its border and one line.
const STACKED_MIN_HEIGHT: u16 = 3;

/// Cards for `env_count` environments in `area`: side by side when each gets at least
/// [`SIDE_MIN_CARD_WIDTH`] columns, else stacked when each gets a border and a line, else
/// one line each. Cards share the space evenly (the first ones take the odd cells).
pub fn layout_for(area: Rect, env_count: usize) -> WallLayout {
    let count = u16::try_from(env_count).unwrap_or(u16::MAX);
    if count == 0 || area.is_empty() {
        return WallLayout {
            arrangement: Arrangement::Lines,
            cards: Vec::new(),
            state_width: 0,
            state_rows: 0,
            name_rows: 0,
        };
    }
    let arrangement = if area.width / count >= SIDE_MIN_CARD_WIDTH && area.height >= SIDE_MIN_HEIGHT
    {
        Arrangement::SideBySide
    } else if area.height / count >= STACKED_MIN_HEIGHT {
        Arrangement::Stacked
    } else {
        Arrangement::Lines
    };
    match arrangement {
        Arrangement::SideBySide => {
            let cards: Vec<Rect> = split_even(area.width, count)
                .map(|(offset, width)| Rect {
                    x: area.x + offset,
                    width,
                    ..area
                })
                .collect();
            let inner_width = (area.width / count).saturating_sub(2);
            let inner_rows = area.height.saturating_sub(2);
            let name_rows = if inner_rows >= BIG_NAME_FROM_ROWS {
                NAME_ROWS + 1
            } else {
                0
            };
            WallLayout {
                arrangement,
                cards,
                state_width: inner_width,
                state_rows: inner_rows
                    .saturating_sub(name_rows + SIDE_INFO_ROWS)
                    .min(MAX_STATE_ROWS),
                name_rows,
            }
        }
        Arrangement::Stacked => {
            let cards: Vec<Rect> = split_even(area.height, count)
                .map(|(offset, height)| Rect {
                    y: area.y + offset,
                    height,
                    ..area
                })
                .collect();
            let inner_rows = (area.height / count).saturating_sub(2);
            WallLayout {
                arrangement,
                cards,
                state_width: area
                    .width
                    .saturating_sub(2)
                    .saturating_sub(STACKED_INFO_MIN_WIDTH),
                // The detail line goes under the word.
                state_rows: inner_rows.saturating_sub(1).min(MAX_STATE_ROWS),
                name_rows: 0,
            }
        }
        Arrangement::Lines => WallLayout {
            arrangement,
            cards: (0..count.min(area.height))
                .map(|row| Rect {
                    y: area.y + row,
                    height: 1,
                    ..area
                })
                .collect(),
            state_width: 0,
            state_rows: 0,
            name_rows: 0,
        },
    }
}

/// `count` spans covering `total` cells, the first `total % count` one cell longer.
fn split_even(total: u16, count: u16) -> impl Iterator<Item = (u16, u16)> {
    let base = total / count.max(1);
    let extra = total % count.max(1);
    (0..count).scan(0u16, move |offset, index| {
        let length = base + u16::from(index < extra);
        let start = *offset;
        *offset = offset.saturating_add(length);
        Some((start, length))
    })
}

/// What the screen must hold besides the cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenNeeds {
    pub env_count: usize,
    pub banners: usize,
    pub footer: bool,
    /// Rows the detail panel's content wants (inside its border), when one is asked for.
    pub detail_rows: Option<u16>,
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenPlan {
    pub header: Option<Rect>,
    /// The banner block (with a padding row above and below on tall screens).
    pub banners: Option<Rect>,
    /// Banner lines that fit; when fewer than the banners, the last says how many more.
    pub banner_lines: u16,
    pub cards: WallLayout,
    pub detail: Option<Rect>,
    pub footer: Option<Rect>,
}

/// Screens from this many rows show the title and clock on a line of their own.
const HEADER_FROM_ROWS: u16 = 12;
/// Screens from this many rows pad the banner block, so it reads as a band from afar.
const BANNER_PADDING_FROM_ROWS: u16 = 40;
/// The detail panel needs this many columns for its sections side by side.
const DETAIL_MIN_WIDTH: u16 = 100;
/// Fewest rows worth a detail panel (its border included).
const DETAIL_MIN_ROWS: u16 = 8;
/// Rows the cards keep when a detail panel is shown.
const CARDS_MIN_ROWS_WITH_DETAIL: u16 = 20;

/// Splits the screen: footer at the bottom, the title line, the banners (at most a quarter
/// of the rows), the detail panel at the bottom where it leaves the cards enough rows,
/// and the cards in what is left.
pub fn plan_screen(area: Rect, needs: &ScreenNeeds) -> ScreenPlan {
    let mut rest = area;
    let footer = (needs.footer && rest.height >= 2).then(|| take_bottom(&mut rest, 1));
    let header = (rest.height >= HEADER_FROM_ROWS).then(|| take_top(&mut rest, 1));
    let mut banner_lines = 0;
    let banners = (needs.banners > 0 && !rest.is_empty()).then(|| {
        let wanted = u16::try_from(needs.banners).unwrap_or(u16::MAX);
        banner_lines = wanted.min((rest.height / 4).max(1));
        let padding = if rest.height >= BANNER_PADDING_FROM_ROWS {
            2
        } else {
            0
        };
        take_top(&mut rest, banner_lines + padding)
    });
    let detail = needs.detail_rows.and_then(|wanted| {
        if rest.width < DETAIL_MIN_WIDTH {
            return None;
        }
        let room = rest.height.saturating_sub(CARDS_MIN_ROWS_WITH_DETAIL);
        let rows = wanted.saturating_add(2).min(room);
        (rows >= DETAIL_MIN_ROWS).then(|| take_bottom(&mut rest, rows))
    });
    ScreenPlan {
        header,
        banners,
        banner_lines,
        cards: layout_for(rest, needs.env_count),
        detail,
        footer,
    }
}

fn take_top(rest: &mut Rect, rows: u16) -> Rect {
    let rows = rows.min(rest.height);
    let taken = Rect {
        height: rows,
        ..*rest
    };
    rest.y += rows;
    rest.height -= rows;
    taken
}

fn take_bottom(rest: &mut Rect, rows: u16) -> Rect {
    let rows = rows.min(rest.height);
    rest.height -= rows;
    Rect {
        y: rest.y + rest.height,
        height: rows,
        ..*rest
    }
}

/// `text` cut to `width` columns at a word boundary where one is near, the cut marked with
/// an ellipsis, so nothing on the wall ends in half a word.
pub fn fit_words(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let kept: String = text.chars().take(width - 1).collect();
    let boundary = kept
        .char_indices()
        .rev()
        .find(|(_, c)| *c == ' ')
        .map(|(index, _)| index)
        .filter(|index| kept[..*index].chars().count() * 2 >= width);
    let mut out = match boundary {
        Some(index) => kept[..index]
            .trim_end_matches([' ', '·', ':', ',', '→'])
            .to_string(),
        None => kept,
    };
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------

/// Draws the wall into `area`: title and clock, banners, one card per environment, the
/// detail panel of `view.detail` where it fits, and `view.footer`.
pub fn draw_wall(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    theme: &Theme,
    view: &WallView,
) {
    let area = area.intersection(frame.area());
    if area.is_empty() {
        return;
    }
    let banners = banners(snapshot, now, &view.banner_policy);
    let detail_env = view
        .detail
        .and_then(|index| snapshot.environments.get(index));
    let detail_width = area.width.saturating_sub(2);
    let detail_rows = detail_env.map(|env| {
        let sections = detail_sections(env, now, detail_width, u16::MAX, theme);
        u16::try_from(sections.iter().map(Vec::len).max().unwrap_or(0)).unwrap_or(u16::MAX)
    });
    let plan = plan_screen(
        area,
        &ScreenNeeds {
            env_count: snapshot.environments.len(),
            banners: banners.len(),
            footer: view.footer.is_some(),
            detail_rows,
        },
    );
    if let Some(header) = plan.header {
        draw_header(frame, header, snapshot, now, theme);
    }
    if let Some(rect) = plan.banners {
        draw_banners(frame, rect, &banners, plan.banner_lines, theme);
    }
    if snapshot.environments.is_empty() {
        let waiting = Paragraph::new("No environments yet: waiting for the first data.")
            .style(theme.muted())
            .alignment(Alignment::Center);
        frame.render_widget(waiting, plan.first_card_row(area));
    } else {
        // The marker on a card points at a panel that is really there.
        let detailed = plan.detail.and(view.detail);
        draw_cards(frame, &plan.cards, snapshot, now, theme, detailed);
    }
    if let (Some(rect), Some(env)) = (plan.detail, detail_env) {
        draw_detail(frame, rect, env, now, theme);
    }
    if let (Some(rect), Some(line)) = (plan.footer, view.footer.as_ref()) {
        frame.render_widget(Paragraph::new(line.clone()), rect);
    }
}

impl ScreenPlan {
    /// The first row under the title and banners, for the waiting message when there is
    /// no card.
    fn first_card_row(&self, area: Rect) -> Rect {
        let top = self
            .banners
            .or(self.header)
            .map_or(area.y, |rect| rect.bottom());
        Rect {
            y: top.min(area.bottom().saturating_sub(1)),
            height: 1,
            ..area
        }
    }
}

fn draw_header(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let title = Line::from(Span::styled(
        format!(" {}", snapshot.title),
        theme.heading(),
    ));
    let clock = Line::from(Span::styled(
        format!("{} UTC ", now.format("%H:%M")),
        theme.style(theme.text).add_modifier(Modifier::BOLD),
    ));
    frame.render_widget(Paragraph::new(title), area);
    frame.render_widget(Paragraph::new(clock).alignment(Alignment::Right), area);
}

/// A banner's band: reversed in its alarm colour, so it reads as a coloured stripe.
fn banner_style(kind: BannerKind, theme: &Theme) -> Style {
    let color = match kind {
        BannerKind::AutoRollback => theme.alarm,
        BannerKind::RedMain => theme.fail,
        BannerKind::SourceDown => theme.stale,
    };
    Style::new().fg(color).add_modifier(Modifier::REVERSED)
}

/// The banner lines for `lines` rows of `width`: the headline in bold, then what, why and
/// when as far as it fits. With more banners than rows, the last row names its banner and
/// how many more there are.
fn banner_lines(banners: &[Banner], lines: u16, width: usize) -> Vec<(BannerKind, Line<'static>)> {
    let shown = usize::from(lines).min(banners.len());
    let hidden = banners.len() - shown;
    banners
        .iter()
        .take(shown)
        .enumerate()
        .map(|(index, banner)| {
            let more = if hidden > 0 && index + 1 == shown {
                format!(" (+{hidden} more)")
            } else {
                String::new()
            };
            let headline = fit_words(&format!(" ⚠ {}{more} ", banner.headline), width);
            let room = width.saturating_sub(headline.chars().count() + 3);
            let mut spans = vec![Span::styled(
                headline,
                Style::new().add_modifier(Modifier::BOLD),
            )];
            if room > 8 && more.is_empty() {
                spans.push(Span::raw(format!("· {} ", fit_words(&banner.detail, room))));
            }
            (banner.kind, Line::from(spans))
        })
        .collect()
}

/// The banner block: one line a banner in its own band, with a padding row above and
/// below (in the first banner's colour) when the block has rows for them.
fn draw_banners(frame: &mut Frame, area: Rect, banners: &[Banner], lines: u16, theme: &Theme) {
    let Some(first) = banners.first() else {
        return;
    };
    frame.render_widget(
        Paragraph::new("").style(banner_style(first.kind, theme)),
        area,
    );
    let top = area.y + u16::from(area.height > lines);
    for ((kind, line), y) in banner_lines(banners, lines, area.width as usize)
        .into_iter()
        .zip(top..area.bottom())
    {
        let row = Rect {
            y,
            height: 1,
            ..area
        };
        frame.render_widget(Paragraph::new(line).style(banner_style(kind, theme)), row);
    }
}

/// What every card of one frame shares: the size of the state word and the rows (side by
/// side) or columns (stacked) it is given, so the cards line up.
#[derive(Debug, Clone, Copy)]
struct CardText {
    size: TextSize,
    rows: u16,
    width: u16,
    /// The size of the names in big letters, when the cards have rows for them.
    name_size: Option<TextSize>,
}

fn draw_cards(
    frame: &mut Frame,
    layout: &WallLayout,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    theme: &Theme,
    detail: Option<usize>,
) {
    let states: Vec<CardState> = snapshot
        .environments
        .iter()
        .map(|env| card_state(env, now))
        .collect();
    let words: Vec<&str> = states.iter().map(|state| state.word()).collect();
    let size = layout.text_size(&words);
    let placed: Vec<Vec<&str>> = words
        .iter()
        .map(|word| {
            state_lines(word, size, layout.state_width, layout.state_rows)
                .unwrap_or_else(|| vec![*word])
        })
        .collect();
    let (cell_width, cell_rows) = size.cell();
    let text = CardText {
        size,
        rows: placed
            .iter()
            .map(|lines| u16::try_from(lines.len()).unwrap_or(u16::MAX))
            .max()
            .unwrap_or(0)
            .saturating_mul(cell_rows),
        width: placed
            .iter()
            .flatten()
            .map(|line| u16::try_from(line.chars().count()).unwrap_or(u16::MAX))
            .max()
            .unwrap_or(0)
            .saturating_mul(cell_width),
        name_size: name_size(layout, snapshot),
    };
    for (index, ((env, rect), state)) in snapshot
        .environments
        .iter()
        .zip(layout.cards.iter())
        .zip(states.iter())
        .enumerate()
    {
        let card = Card {
            env,
            state: *state,
            lines: placed.get(index).cloned().unwrap_or_default(),
            detailed: detail == Some(index),
        };
        match layout.arrangement {
            Arrangement::Lines => draw_card_line(frame, *rect, &card, theme),
            arrangement => draw_card(frame, *rect, &card, arrangement, text, now, theme),
        }
    }
}

/// The largest size (half-height, else quadrant) at which every environment's name fits on
/// one line of its card, when the layout gives the cards rows for names.
fn name_size(layout: &WallLayout, snapshot: &Snapshot) -> Option<TextSize> {
    if layout.name_rows == 0 {
        return None;
    }
    let names: Vec<String> = snapshot
        .environments
        .iter()
        .map(|env| env.name.as_str().to_uppercase())
        .collect();
    [TextSize::HalfHeight, TextSize::Quadrant]
        .into_iter()
        .find(|size| {
            names.iter().all(|name| {
                state_lines(name, *size, layout.state_width, NAME_ROWS)
                    .is_some_and(|lines| lines.len() == 1)
            })
        })
}

/// One environment's card as drawn.
struct Card<'a> {
    env: &'a EnvironmentSnapshot,
    state: CardState,
    /// The state word as laid out in big letters, one entry a line.
    lines: Vec<&'a str>,
    /// Its detail panel is on screen.
    detailed: bool,
}

fn draw_card(
    frame: &mut Frame,
    area: Rect,
    card: &Card,
    arrangement: Arrangement,
    text: CardText,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let color = card.state.color(theme);
    let border = if card.state.is_alarm() {
        BorderType::Thick
    } else {
        BorderType::Rounded
    };
    let marker = if card.detailed { "▼ " } else { "" };
    let name = card.env.name.as_str().to_uppercase();
    // The border names the card even where the name is drawn in big letters too: a copy
    // of the screen as text (a pane capture, a screen reader) still says which is which.
    let title = format!(" {marker}{name} ");
    let block = Block::bordered()
        .border_type(border)
        .border_style(theme.style(color))
        .title(Line::from(Span::styled(
            title,
            theme.style(color).add_modifier(Modifier::BOLD),
        )));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    let detail = state_detail(card.env, card.state, now);
    let trouble_list = troubles(card.env, now);
    let word_style = theme.style(color).add_modifier(Modifier::BOLD);
    let big = text.size != TextSize::Plain;
    let centered = arrangement == Arrangement::SideBySide;
    let alignment = if centered {
        Alignment::Center
    } else {
        Alignment::Left
    };

    let mut inner = inner;
    if let Some(size) = text.name_size {
        let name_area = take_top(&mut inner, NAME_ROWS);
        take_top(&mut inner, 1);
        let name_lines = [name.as_str()];
        let name_style = theme.style(theme.text).add_modifier(Modifier::BOLD);
        draw_big(frame, name_area, &name_lines, size, name_style, alignment);
    }

    // Where the state goes, and what is left for the commit, failing things and chart.
    let (state_area, info) = match (big, arrangement) {
        (true, Arrangement::Stacked) => {
            let left = text.width.saturating_add(2).min(inner.width);
            let [state_area, info] =
                Layout::horizontal([Constraint::Length(left), Constraint::Min(0)]).areas(inner);
            (state_area, info)
        }
        (true, _) => {
            let rows = text.rows.saturating_add(1).min(inner.height);
            let [state_area, info] =
                Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(inner);
            (state_area, info)
        }
        (false, _) => (Rect { height: 0, ..inner }, inner),
    };

    let mut info_lines: Vec<Line> = Vec::new();
    let info_width = info.width as usize;
    if big {
        // A word on fewer lines than its neighbours sits in the middle of the shared rows.
        let (_, cell_rows) = text.size.cell();
        let used = u16::try_from(card.lines.len())
            .unwrap_or(u16::MAX)
            .saturating_mul(cell_rows);
        let top = text.rows.saturating_sub(used) / 2;
        let word_area = Rect {
            y: state_area.y.saturating_add(top),
            height: used.min(state_area.height.saturating_sub(top)),
            x: state_area.x + u16::from(!centered),
            width: state_area.width.saturating_sub(u16::from(!centered)),
        };
        draw_big(
            frame,
            word_area,
            &card.lines,
            text.size,
            word_style,
            alignment,
        );
        let detail_row = Rect {
            y: state_area.y + text.rows.min(state_area.height),
            height: 1,
            ..word_area
        };
        if detail_row.y < state_area.bottom() && !detail.is_empty() {
            let line = Paragraph::new(Span::styled(
                fit_words(&detail, detail_row.width as usize),
                word_style,
            ))
            .alignment(alignment);
            frame.render_widget(line, detail_row);
        } else if !detail.is_empty() {
            info_lines.push(Line::from(Span::styled(
                fit_words(&detail, info_width),
                word_style,
            )));
        }
        if centered && info.height > SIDE_INFO_ROWS {
            info_lines.push(Line::raw(""));
        }
    } else {
        let word = card.state.word();
        let mut spans = vec![Span::styled(word.to_string(), word_style)];
        let room = info_width.saturating_sub(word.chars().count() + 3);
        if !detail.is_empty() && room > 4 {
            spans.push(Span::styled(
                format!(" · {}", fit_words(&detail, room)),
                theme.style(color),
            ));
        }
        info_lines.push(Line::from(spans));
    }
    info_lines.push(commit_line(card.env, info_width, theme));

    let used = u16::try_from(info_lines.len()).unwrap_or(u16::MAX);
    let (trouble_room, chart_rows) =
        split_info(info.height.saturating_sub(used), trouble_list.len());
    info_lines.extend(trouble_lines(
        &trouble_list,
        trouble_room,
        info_width,
        theme,
    ));
    let text_rows = u16::try_from(info_lines.len())
        .unwrap_or(u16::MAX)
        .min(info.height);
    frame.render_widget(
        Paragraph::new(info_lines),
        Rect {
            height: text_rows,
            ..info
        },
    );
    if chart_rows > 0 {
        let mut chart_area = info;
        let chart_area = take_bottom(&mut chart_area, chart_rows);
        let [figure, bars] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(chart_area);
        frame.render_widget(Paragraph::new(error_figure_line(card.env, theme)), figure);
        if chart_rows >= CHART_BLOCK_BARS_FROM {
            draw_error_chart(
                frame,
                bars,
                card.env,
                now,
                theme,
                usize::from(CHART_MAX_BAR_ROWS),
            );
        }
    }
}

/// Tallest bars of a card's error chart: from across a room a spike reads by its height.
const CHART_MAX_BAR_ROWS: u16 = 24;
/// Rows of the error block at its tallest: the figure line, the bars and the scale.
const CHART_BLOCK_ROWS: u16 = 1 + CHART_MAX_BAR_ROWS + 1;
/// Fewest rows of an error block with bars: the figure line and two rows of bars.
const CHART_BLOCK_BARS_FROM: u16 = 3;

/// Shares the `rows` under the commit between failing things and the error block at the
/// bottom. Failing things come first (they say what to do); the block gets what they leave,
/// up to [`CHART_BLOCK_ROWS`]: the figure line alone in one or two rows, bars from
/// [`CHART_BLOCK_BARS_FROM`]. Returns the rows for failing things (the last of them may say
/// how many more) and the block's rows.
pub fn split_info(rows: u16, troubles: usize) -> (usize, u16) {
    let trouble_rows = u16::try_from(troubles).unwrap_or(u16::MAX).min(rows);
    let chart = (rows - trouble_rows).min(CHART_BLOCK_ROWS);
    (usize::from(trouble_rows), chart)
}

/// Words in big letters, one entry a line.
fn draw_big(
    frame: &mut Frame,
    area: Rect,
    lines: &[&str],
    size: TextSize,
    style: Style,
    alignment: Alignment,
) {
    let Some(pixel_size) = size.pixel_size() else {
        return;
    };
    let big = BigText::builder()
        .pixel_size(pixel_size)
        .style(style)
        .lines(
            lines
                .iter()
                .map(|line| Line::from(line.to_string()))
                .collect::<Vec<_>>(),
        )
        .alignment(alignment)
        .build();
    frame.render_widget(big, area);
}

/// The deployed commit: short SHA and subject, the subject cut at a word.
fn commit_line(env: &EnvironmentSnapshot, width: usize, theme: &Theme) -> Line<'static> {
    match env.deployed() {
        Some(commit) => {
            let sha = commit.short_sha().to_string();
            let room = width.saturating_sub(sha.chars().count() + 1);
            Line::from(vec![
                Span::styled(sha, theme.style(theme.accent).add_modifier(Modifier::BOLD)),
                Span::raw(" "),
                Span::styled(
                    fit_words(commit.subject.as_str(), room),
                    theme.style(theme.text),
                ),
            ])
        }
        None => match env.services.first().and_then(|s| s.running_sha()) {
            Some(sha) => Line::from(Span::styled(
                short(sha).to_string(),
                theme.style(theme.accent).add_modifier(Modifier::BOLD),
            )),
            None => Line::from(Span::styled("nothing deployed yet", theme.muted())),
        },
    }
}

/// Up to `room` failing things; when more exist, the last line says how many are left out.
fn trouble_lines(list: &[Trouble], room: usize, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    if room == 0 {
        return Vec::new();
    }
    // With one row for several, the first says how many follow; with more, a line of its
    // own does.
    let (shown, tail_line) = match (list.len() > room, room) {
        (false, _) => (list.len(), false),
        (true, 1) => (1, false),
        (true, _) => (room - 1, true),
    };
    let hidden = list.len() - shown;
    let mut lines: Vec<Line> = list
        .iter()
        .take(shown)
        .map(|trouble| {
            let (icon, color) = match trouble.kind {
                TroubleKind::Failing => ("✗", theme.fail),
                TroubleKind::Stale => ("⚠", theme.stale),
                TroubleKind::Warning => ("▲", theme.warn),
                TroubleKind::Gate => ("⊘", theme.warn),
            };
            let bold = trouble.kind == TroubleKind::Failing;
            let style = if bold {
                theme.style(color).add_modifier(Modifier::BOLD)
            } else {
                theme.style(color)
            };
            let suffix = if hidden > 0 && !tail_line {
                format!(" +{hidden}")
            } else {
                String::new()
            };
            let room = width.saturating_sub(2 + suffix.chars().count());
            let mut spans = vec![
                Span::styled(format!("{icon} "), style.add_modifier(Modifier::BOLD)),
                Span::styled(fit_words(&trouble.text, room), style),
            ];
            if !suffix.is_empty() {
                spans.push(Span::styled(suffix, theme.muted()));
            }
            Line::from(spans)
        })
        .collect();
    if tail_line {
        lines.push(Line::from(Span::styled(
            format!("+{hidden} more"),
            theme.muted(),
        )));
    }
    lines
}

/// "errors 14/min · baseline 12.3/min", coloured like the chart's bars.
fn error_figure_line(env: &EnvironmentSnapshot, theme: &Theme) -> Line<'static> {
    let current = env.errors.current_per_minute();
    let baseline = env.errors.baseline_per_minute;
    let color = match (current, baseline) {
        (Some(count), Some(b)) if unusually_high(count, b) => theme.fail,
        (Some(count), Some(b)) if count as f64 > b => theme.warn,
        (Some(_), _) => theme.text,
        (None, _) => theme.muted,
    };
    let mut spans = vec![
        Span::styled("errors ", theme.muted()),
        Span::styled(
            current.map_or_else(|| "–/min".to_string(), |count| format!("{count}/min")),
            theme.style(color).add_modifier(Modifier::BOLD),
        ),
    ];
    if let Some(b) = baseline {
        spans.push(Span::styled(
            format!(" · baseline {b:.1}/min"),
            theme.style(theme.baseline),
        ));
    }
    Line::from(spans)
}

/// A card on one borderless line: name, state, detail, commit.
fn draw_card_line(frame: &mut Frame, area: Rect, card: &Card, theme: &Theme) {
    let color = card.state.color(theme);
    let style = theme.style(color).add_modifier(Modifier::BOLD);
    let mut spans = vec![
        Span::styled(format!("{} ", card.env.name.as_str().to_uppercase()), style),
        Span::styled(card.state.label(), style.add_modifier(Modifier::REVERSED)),
    ];
    if let Some(commit) = card.env.deployed() {
        spans.push(Span::styled(
            format!(" {}", commit.short_sha()),
            theme.style(theme.accent),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Detail sections per column: the pipeline's stages, the smoke checks, the verification;
/// two columns on narrower screens.
fn detail_sections(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    width: u16,
    rows: u16,
    theme: &Theme,
) -> Vec<Vec<Line<'static>>> {
    let columns = detail_columns(width);
    let column_width = (width / columns.max(1)).saturating_sub(1) as usize;
    // The diagnosis of a failed job and its re-run offer stay on the captain's screen.
    let pipeline = pipeline_lines(env, now, false, rows as usize, column_width, theme);
    let smoke = smoke_lines(env, now, false, theme);
    let mut verification = verification_lines(env, now, false, column_width, theme);
    if verification.is_empty() {
        verification.push(Line::from(vec![
            Span::styled("Verify ", theme.heading()),
            Span::styled("no deploy under verification", theme.muted()),
        ]));
    }
    if columns >= 3 {
        vec![pipeline, smoke, verification]
    } else {
        let mut right = smoke;
        right.push(Line::raw(""));
        right.extend(verification);
        vec![pipeline, right]
    }
}

/// Three columns from this width (inside the panel's border), else two.
const DETAIL_THREE_COLUMNS_FROM: u16 = 150;

fn detail_columns(width: u16) -> u16 {
    if width >= DETAIL_THREE_COLUMNS_FROM {
        3
    } else {
        2
    }
}

fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.style(theme.accent))
        .title(Span::styled(
            format!(" {} ▼ details ", env.name.as_str().to_uppercase()),
            theme.heading(),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    let sections = detail_sections(env, now, inner.width, inner.height, theme);
    let count = u16::try_from(sections.len()).unwrap_or(1);
    for ((offset, width), lines) in split_even(inner.width, count).zip(sections) {
        let column = Rect {
            x: inner.x + offset,
            width: width.saturating_sub(1),
            ..inner
        };
        frame.render_widget(Paragraph::new(lines), column);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ActionPreview, ErrorBucket, Gate, GateReport, SignalLine, SmokeResult, VerificationView,
        errors::floor_minute,
    };
    use crate::ui::sample::{SampleBuilder, sample_now};
    use chrono::TimeDelta;
    use proptest::prelude::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn now() -> DateTime<Utc> {
        sample_now()
    }

    /// Quiet prod with its error source answering and no promotion pending: nothing to say.
    fn calm() -> EnvironmentSnapshot {
        let mut env = SampleBuilder::new(now()).quiet().build().environments[2].clone();
        env.health.errors = env.health.smoke.clone();
        env.release.promotion = None;
        env
    }

    fn busy() -> Snapshot {
        SampleBuilder::new(now()).build()
    }

    fn running_sha(env: &EnvironmentSnapshot) -> String {
        env.services[0]
            .running_sha()
            .map(str::to_string)
            .unwrap_or_default()
    }

    fn fail_smoke(env: &mut EnvironmentSnapshot) {
        env.smoke[6] = SmokeResult {
            ok: false,
            detail: SafeText::new("HTTP 503 from /health/payments"),
            ..env.smoke[6].clone()
        };
    }

    fn roll_back(env: &mut EnvironmentSnapshot, kind: &str, minutes_ago: i64) {
        let bad = "badbadbadbadbadbadbadbadbadbadbadbadbad0".to_string();
        env.guard.rollbacks_in_a_row = 1;
        env.guard.max_rollbacks = 3;
        env.guard.last = Some(GuardEvent {
            at: now() - TimeDelta::minutes(minutes_ago),
            kind: SafeText::new(kind),
            sha: bad,
            to_sha: (kind == "rolled_back").then(|| running_sha(env)),
            reason: SafeText::new("error rate 31.0/min (+204%) above +50%"),
        });
    }

    fn fail_ci(env: &mut EnvironmentSnapshot, minutes_ago: i64) {
        let Some(pipeline) = env.pipeline.as_mut() else {
            panic!("sample has a pipeline");
        };
        pipeline.status = RunStatus::Failed;
        let at = now() - TimeDelta::minutes(minutes_ago);
        pipeline.completed_at = Some(at);
        pipeline.stages[4].status = RunStatus::Failed;
        pipeline.stages[4].completed_at = Some(at);
    }

    fn spike_errors(env: &mut EnvironmentSnapshot) {
        env.errors.merge([ErrorBucket {
            minute: floor_minute(now()) - TimeDelta::minutes(1),
            count: 60,
        }]);
    }

    fn start_rollback(env: &mut EnvironmentSnapshot) {
        env.release.activity = busy().environments[2].release.activity.clone();
    }

    fn lose_deployments(env: &mut EnvironmentSnapshot) {
        env.health.deployments = SourceHealth::default();
    }

    fn lose_smoke_source(env: &mut EnvironmentSnapshot) {
        env.health.smoke = SourceHealth {
            last_success: Some(now() - TimeDelta::minutes(3)),
            last_error: Some((now(), SafeText::new("smoke runner timed out"))),
            failures_in_a_row: 4,
        };
    }

    fn verifying(
        env: &EnvironmentSnapshot,
        left_secs: i64,
        phase: VerificationPhase,
    ) -> VerificationView {
        VerificationView {
            sha: running_sha(env),
            deployment_id: 31,
            deployed_at: now() - TimeDelta::minutes(3),
            window_ends: now() + TimeDelta::seconds(left_secs),
            phase,
            signals: vec![SignalLine {
                signal: SafeText::new("error rate"),
                state: if phase == VerificationPhase::Failed {
                    SignalState::Fail
                } else {
                    SignalState::Pass
                },
                measured: SafeText::new("31.0/min (+204%)"),
                baseline: SafeText::new("10.2/min over 30 min"),
                threshold: SafeText::new("above +50%"),
                reason: SafeText::new(""),
            }],
            reason: SafeText::new("error rate"),
            auto_rollback: true,
            baseline_per_minute: Some(10.2),
            watch: None,
        }
    }

    fn freeze(env: &mut EnvironmentSnapshot) {
        env.release.promotion = busy().environments[2].release.promotion.clone();
    }

    #[test]
    fn a_calm_environment_is_healthy() {
        let env = calm();
        assert_eq!(card_state(&env, now()), CardState::Healthy);
        assert_eq!(card_state(&env, now()).word(), "HEALTHY");
        assert!(
            troubles(&env, now())
                .iter()
                .all(|t| t.kind != TroubleKind::Failing)
        );
    }

    #[test]
    fn a_failing_smoke_check_is_failing() {
        let mut env = calm();
        fail_smoke(&mut env);
        let state = card_state(&env, now());
        assert_eq!(
            state,
            CardState::Failing {
                smoke_checks: 1,
                verification: false
            }
        );
        assert_eq!(state_detail(&env, state, now()), "1 smoke check failing");
        let list = troubles(&env, now());
        assert_eq!(
            list[0].text,
            "smoke payment health: HTTP 503 from /health/payments"
        );
    }

    #[test]
    fn a_failed_verification_is_failing_unless_the_guard_rolls_it_back() {
        let mut env = calm();
        env.verification = Some(verifying(&env, -60, VerificationPhase::Failed));
        assert_eq!(
            card_state(&env, now()),
            CardState::Failing {
                smoke_checks: 0,
                verification: true
            }
        );
        assert!(
            troubles(&env, now())
                .iter()
                .any(|t| t.text == "error rate 31.0/min (+204%) · above +50%")
        );
        // The guard is rolling that very deploy back: that is the news.
        roll_back(&mut env, "rolling_back", 0);
        if let Some(view) = env.verification.as_mut()
            && let Some(event) = env.guard.last.as_ref()
        {
            view.sha = event.sha.clone();
        }
        assert_eq!(
            card_state(&env, now()),
            CardState::RolledBack { in_progress: true }
        );
        assert_eq!(card_state(&env, now()).word(), "ROLLING BACK");
    }

    #[test]
    fn an_automatic_rollback_shows_until_a_newer_deploy_or_the_guard_clears() {
        let mut env = calm();
        roll_back(&mut env, "rolled_back", 4);
        let state = card_state(&env, now());
        assert_eq!(state, CardState::RolledBack { in_progress: false });
        assert_eq!(state.word(), "ROLLED BACK");
        assert_eq!(
            state_detail(&env, state, now()),
            "badbadb → 9c8b7a6 · 4m ago"
        );

        let mut cleared = env.clone();
        cleared.guard.rollbacks_in_a_row = 0;
        assert_eq!(card_state(&cleared, now()), CardState::Healthy);

        let mut redeployed = env.clone();
        if let Some(deploy) = redeployed.services[0].last_success.as_mut() {
            deploy.sha = "1234567890123456789012345678901234567890".to_string();
            deploy.at = Some(now() - TimeDelta::minutes(1));
        }
        assert_eq!(card_state(&redeployed, now()), CardState::Healthy);
    }

    #[test]
    fn a_red_head_pipeline_is_ci_red() {
        let mut env = calm();
        fail_ci(&mut env, 5);
        let state = card_state(&env, now());
        assert_eq!(state, CardState::CiRed);
        assert_eq!(
            state_detail(&env, state, now()),
            "run #120 · Integration failed"
        );
        assert!(
            troubles(&env, now())
                .iter()
                .any(|t| t.text == "stage Integration failed")
        );
    }

    #[test]
    fn an_unusual_error_rate_is_degraded_but_noise_is_not() {
        let mut env = calm();
        // 14/min against 12.3: within the noise.
        assert_eq!(card_state(&env, now()), CardState::Healthy);
        spike_errors(&mut env);
        let state = card_state(&env, now());
        assert_eq!(state, CardState::Degraded);
        assert_eq!(
            state_detail(&env, state, now()),
            "60 errors/min · baseline 12.3"
        );
    }

    #[test]
    fn work_in_flight_is_deploying_with_its_count() {
        let mut env = calm();
        start_rollback(&mut env);
        let state = card_state(&env, now());
        assert_eq!(
            state,
            CardState::Deploying {
                progress: Some(Progress {
                    done: 2,
                    total: 5,
                    unit: ProgressUnit::Steps
                })
            }
        );
        assert_eq!(state.label(), "DEPLOYING 2/5");
        assert_eq!(
            state_detail(&env, state, now()),
            "2/5 steps · rollback → 7d6c5b4"
        );

        let mut deploying = calm();
        if let Some(latest) = deploying.services[1].latest.as_mut() {
            latest.status = DeployStatus::InProgress;
        }
        assert_eq!(
            card_state(&deploying, now()).label(),
            "DEPLOYING 1/2",
            "one of two services still deploying"
        );

        let dev = busy().environments[0].clone();
        assert_eq!(
            card_state(&dev, now()),
            CardState::Deploying {
                progress: Some(Progress {
                    done: 3,
                    total: 7,
                    unit: ProgressUnit::Stages
                })
            }
        );
    }

    #[test]
    fn no_deployments_ever_read_is_no_data() {
        let mut env = calm();
        lose_deployments(&mut env);
        assert_eq!(card_state(&env, now()), CardState::NoData);
        assert_eq!(card_state(&env, now()).word(), "NO DATA");
    }

    #[test]
    fn a_failing_source_is_stale_with_the_age_of_its_data() {
        let mut env = calm();
        lose_smoke_source(&mut env);
        let state = card_state(&env, now());
        assert_eq!(state, CardState::Stale { sources: 1 });
        assert_eq!(
            state_detail(&env, state, now()),
            "1 source down · data 3m old"
        );
        // The deployment history's failures are not an alarm.
        let mut history = calm();
        history.health.history.failures_in_a_row = 3;
        assert_eq!(card_state(&history, now()), CardState::Healthy);
    }

    fn watched(env: &EnvironmentSnapshot, findings: usize) -> VerificationView {
        let mut view = verifying(env, -3 * 3600, VerificationPhase::Verified);
        view.deployed_at = now() - TimeDelta::hours(12) - TimeDelta::minutes(48);
        view.window_ends = view.deployed_at + TimeDelta::minutes(15);
        view.watch = Some(WatchView {
            ends: view.deployed_at + TimeDelta::hours(48),
            findings: (0..findings)
                .map(|i| crate::model::WatchFinding {
                    id: SafeText::new(&format!("59{i}")),
                    title: SafeText::new("TypeError: order.items.map is not a function"),
                    first_seen: now() - TimeDelta::hours(1),
                    count: 12,
                })
                .collect(),
        });
        view
    }

    #[test]
    fn a_watched_deploy_is_healthy_until_a_finding_makes_it_degraded() {
        let mut env = calm();
        env.verification = Some(watched(&env, 0));
        let state = card_state(&env, now());
        assert_eq!(state, CardState::Healthy);
        assert_eq!(state_detail(&env, state, now()), "watching · 35h 12m left");

        env.verification = Some(watched(&env, 1));
        let state = card_state(&env, now());
        assert_eq!(
            state,
            CardState::Degraded,
            "not FAILING: nothing rolls back"
        );
        assert_eq!(
            state_detail(&env, state, now()),
            "watch: a new error type · r rolls back"
        );
        let lines: Vec<String> = troubles(&env, now()).into_iter().map(|t| t.text).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("watch: new error type 11h after deploy")),
            "{lines:?}"
        );

        // Once the watch ended, the finding no longer colours the card.
        let mut ended = env.clone();
        if let Some(watch) = ended.verification.as_mut().and_then(|v| v.watch.as_mut()) {
            watch.ends = now() - TimeDelta::minutes(1);
        }
        assert_eq!(card_state(&ended, now()), CardState::Healthy);
    }

    #[test]
    fn a_deploy_in_its_window_is_verifying_with_the_time_left() {
        let mut env = calm();
        env.verification = Some(verifying(&env, 6 * 60 + 12, VerificationPhase::Verifying));
        let state = card_state(&env, now());
        assert_eq!(
            state,
            CardState::Verifying {
                left: Duration::from_secs(372)
            }
        );
        assert_eq!(state.label(), "VERIFYING 6:12 left");
        env.verification = Some(verifying(&env, 0, VerificationPhase::Verified));
        assert_eq!(card_state(&env, now()), CardState::Healthy);
    }

    #[test]
    fn a_freeze_window_is_frozen() {
        let mut env = calm();
        freeze(&mut env);
        let state = card_state(&env, now());
        assert_eq!(state, CardState::Frozen);
        assert_eq!(state_detail(&env, state, now()), "weekend freeze");
        assert!(
            troubles(&env, now())
                .iter()
                .any(|t| t.kind == TroubleKind::Gate
                    && t.text == "freeze: prod is frozen until Mon 08:00 UTC")
        );
    }

    /// Takes one condition off an environment.
    type Peel = dyn Fn(&mut EnvironmentSnapshot);

    #[test]
    fn precedence_peels_off_one_state_at_a_time() {
        let mut env = calm();
        fail_smoke(&mut env);
        roll_back(&mut env, "rolled_back", 4);
        fail_ci(&mut env, 5);
        spike_errors(&mut env);
        start_rollback(&mut env);
        lose_deployments(&mut env);
        lose_smoke_source(&mut env);
        env.verification = Some(verifying(&env, 300, VerificationPhase::Verifying));
        freeze(&mut env);

        let mut seen = Vec::new();
        let peel: Vec<Box<Peel>> = vec![
            Box::new(|e| e.smoke = calm().smoke),
            Box::new(|e| e.guard = Default::default()),
            Box::new(|e| e.pipeline = calm().pipeline),
            Box::new(|e| e.errors = calm().errors),
            Box::new(|e| e.release.activity = calm().release.activity),
            Box::new(|e| e.health.deployments = calm().health.deployments),
            Box::new(|e| e.health.smoke = calm().health.smoke),
            Box::new(|e| e.verification = None),
            Box::new(|e| e.release.promotion = None),
        ];
        seen.push(card_state(&env, now()).word());
        for remove in peel {
            remove(&mut env);
            seen.push(card_state(&env, now()).word());
        }
        assert_eq!(
            seen,
            [
                "FAILING",
                "ROLLED BACK",
                "CI RED",
                "DEGRADED",
                "DEPLOYING",
                "NO DATA",
                "STALE",
                "VERIFYING",
                "FROZEN",
                "HEALTHY"
            ]
        );
    }

    #[test]
    fn the_sample_reads_deploying_failing_deploying() {
        let snapshot = busy();
        let words: Vec<String> = snapshot
            .environments
            .iter()
            .map(|env| card_state(env, now()).label())
            .collect();
        assert_eq!(words, ["DEPLOYING 3/7", "FAILING", "DEPLOYING 2/5"]);
    }

    fn snapshot_with(env: EnvironmentSnapshot) -> Snapshot {
        Snapshot {
            environments: vec![env],
            ..busy()
        }
    }

    #[test]
    fn an_automatic_rollback_banner_says_what_why_and_when_until_things_change() {
        let mut env = calm();
        roll_back(&mut env, "rolled_back", 4);
        let policy = BannerPolicy::default();
        let shown = banners(&snapshot_with(env.clone()), now(), &policy);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].kind, BannerKind::AutoRollback);
        assert_eq!(shown[0].headline, "PROD ROLLED BACK AUTOMATICALLY");
        assert_eq!(
            shown[0].detail,
            "badbadb → 9c8b7a6 · 4m ago · error rate 31.0/min (+204%) above +50%"
        );
        // Hours later it still stands: nothing changed.
        let later = banners(
            &snapshot_with(env.clone()),
            now() + TimeDelta::hours(5),
            &policy,
        );
        assert_eq!(later.len(), 1);

        let mut cleared = env.clone();
        cleared.guard.rollbacks_in_a_row = 0;
        assert!(banners(&snapshot_with(cleared), now(), &policy).is_empty());

        let mut redeployed = env.clone();
        if let Some(deploy) = redeployed.services[0].last_success.as_mut() {
            deploy.sha = "1234567890123456789012345678901234567890".to_string();
            deploy.at = Some(now() - TimeDelta::minutes(1));
        }
        assert!(banners(&snapshot_with(redeployed), now(), &policy).is_empty());

        let mut failed = env;
        if let Some(event) = failed.guard.last.as_mut() {
            event.kind = SafeText::new("rollback_failed");
        }
        let shown = banners(&snapshot_with(failed), now(), &policy);
        assert_eq!(shown[0].headline, "PROD: AUTOMATIC ROLLBACK FAILED");
    }

    #[test]
    fn an_alert_without_automatic_rollback_is_no_rollback_banner() {
        let mut env = calm();
        roll_back(&mut env, "alerted", 4);
        assert!(banners(&snapshot_with(env), now(), &BannerPolicy::default()).is_empty());
    }

    #[test]
    fn main_red_for_longer_than_the_policy_gets_a_banner() {
        let mut dev = busy().environments[0].clone();
        dev.health = calm().health;
        fail_ci(&mut dev, 42);
        let policy = BannerPolicy::default();
        let shown = banners(&snapshot_with(dev.clone()), now(), &policy);
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0].kind, BannerKind::RedMain);
        assert_eq!(shown[0].headline, "MAIN RED FOR 42m");
        assert_eq!(
            shown[0].detail,
            "run #128 · Integration failed · a1b2c3d Add order export to CSV"
        );

        let mut recent = dev.clone();
        fail_ci(&mut recent, 20);
        assert!(banners(&snapshot_with(recent.clone()), now(), &policy).is_empty());
        let eager = BannerPolicy {
            red_main_after: Duration::from_secs(10 * 60),
            ..BannerPolicy::default()
        };
        assert_eq!(banners(&snapshot_with(recent), now(), &eager).len(), 1);

        let mut green = dev.clone();
        green.pipeline = calm().pipeline;
        assert!(banners(&snapshot_with(green), now(), &policy).is_empty());

        let mut other_branch = dev;
        other_branch.branch = SafeText::new("release");
        assert!(banners(&snapshot_with(other_branch), now(), &policy).is_empty());
    }

    #[test]
    fn the_red_time_comes_from_the_failed_stage_not_the_run() {
        let mut dev = busy().environments[0].clone();
        fail_ci(&mut dev, 42);
        if let Some(pipeline) = dev.pipeline.as_mut() {
            pipeline.completed_at = Some(now() - TimeDelta::minutes(2));
        }
        let since = dev.pipeline.as_ref().and_then(PipelineState::red_since);
        assert_eq!(since, Some(now() - TimeDelta::minutes(42)));
    }

    #[test]
    fn a_source_down_for_over_a_minute_gets_a_banner_with_its_data_age() {
        let prod = busy().environments[2].clone();
        let policy = BannerPolicy::default();
        let shown = banners(&snapshot_with(prod.clone()), now(), &policy);
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0].kind, BannerKind::SourceDown);
        assert_eq!(shown[0].headline, "PROD: ERROR TRACKING UNREACHABLE");
        assert_eq!(
            shown[0].detail,
            "errors data 4m old · Sentry answered 502 Bad Gateway"
        );

        let mut brief = prod.clone();
        brief.health.errors.last_success = Some(now() - TimeDelta::seconds(30));
        assert!(banners(&snapshot_with(brief), now(), &policy).is_empty());

        let mut recovered = prod.clone();
        recovered.health.errors.failures_in_a_row = 0;
        assert!(banners(&snapshot_with(recovered), now(), &policy).is_empty());

        let mut never = prod;
        never.health.errors.last_success = None;
        let shown = banners(&snapshot_with(never), now(), &policy);
        assert_eq!(
            shown[0].detail,
            "errors never answered · Sentry answered 502 Bad Gateway"
        );
    }

    #[test]
    fn banners_come_rollback_first_then_main_then_sources() {
        let mut snapshot = busy();
        fail_ci(&mut snapshot.environments[0], 45);
        roll_back(&mut snapshot.environments[2], "rolled_back", 4);
        let kinds: Vec<BannerKind> = banners(&snapshot, now(), &BannerPolicy::default())
            .iter()
            .map(|b| b.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                BannerKind::AutoRollback,
                BannerKind::RedMain,
                BannerKind::SourceDown
            ]
        );
    }

    #[test]
    fn more_banners_than_rows_say_how_many_more() {
        let banner = |headline: &str| Banner {
            kind: BannerKind::SourceDown,
            environment: SafeText::new("prod"),
            headline: headline.to_string(),
            detail: "errors data 4m old · Sentry answered 502 Bad Gateway".to_string(),
        };
        let all = [banner("A DOWN"), banner("B DOWN"), banner("C DOWN")];
        let text = |lines: &[(BannerKind, Line)]| -> Vec<String> {
            lines.iter().map(|(_, line)| line.to_string()).collect()
        };
        assert_eq!(
            text(&banner_lines(&all, 2, 80)),
            [
                " ⚠ A DOWN · errors data 4m old · Sentry answered 502 Bad Gateway ",
                " ⚠ B DOWN (+1 more) ",
            ]
        );
        assert_eq!(
            text(&banner_lines(&all[..1], 1, 30)),
            [" ⚠ A DOWN · errors data 4m… "],
            "the detail is cut at a word"
        );
    }

    #[test]
    fn words_fit_whole_or_split_and_fall_back_to_plain() {
        assert_eq!(
            state_lines("HEALTHY", TextSize::Full, 56, 8),
            Some(vec!["HEALTHY"])
        );
        assert_eq!(state_lines("HEALTHY", TextSize::Full, 55, 8), None);
        assert_eq!(
            state_lines("ROLLED BACK", TextSize::Full, 50, 16),
            Some(vec!["ROLLED", "BACK"])
        );
        assert_eq!(state_lines("ROLLED BACK", TextSize::Full, 50, 15), None);
        assert_eq!(fit_state_words(&["HEALTHY"], 56, 8), TextSize::Full);
        assert_eq!(fit_state_words(&["HEALTHY"], 56, 7), TextSize::HalfHeight);
        assert_eq!(fit_state_words(&["HEALTHY"], 55, 7), TextSize::Quadrant);
        assert_eq!(fit_state_words(&["HEALTHY"], 27, 4), TextSize::Plain);
        assert_eq!(fit_state_words(&["HEALTHY"], 80, 3), TextSize::Plain);
        // The widest word decides for every card.
        assert_eq!(
            fit_state_words(&["FROZEN", "DEPLOYING"], 60, 8),
            TextSize::Quadrant
        );
        assert_eq!(fit_state_words(&[], 0, 0), TextSize::Full);
    }

    fn layout_at(width: u16, height: u16) -> WallLayout {
        layout_for(Rect::new(0, 0, width, height), 3)
    }

    fn assert_cards_tile(layout: &WallLayout, area: Rect) {
        for (index, card) in layout.cards.iter().enumerate() {
            assert_eq!(
                card.intersection(area),
                *card,
                "card {index} leaves the area"
            );
            for other in &layout.cards[index + 1..] {
                assert!(!card.intersects(*other), "{card:?} overlaps {other:?}");
            }
        }
        let covered: u32 = layout.cards.iter().map(|c| c.area()).sum();
        assert_eq!(covered, area.area(), "cards cover the area");
    }

    #[test]
    fn at_80x24_cards_are_stacked_with_quadrant_letters() {
        let layout = layout_at(80, 24);
        assert_eq!(layout.arrangement, Arrangement::Stacked);
        assert_eq!(layout.cards.len(), 3);
        assert!(layout.cards.iter().all(|c| c.width == 80 && c.height == 8));
        assert_cards_tile(&layout, Rect::new(0, 0, 80, 24));
        assert_eq!(layout.text_size(&["DEPLOYING"]), TextSize::Quadrant);
        assert_eq!(layout.text_size(&["ROLLING BACK"]), TextSize::Quadrant);
    }

    #[test]
    fn at_120x40_cards_stand_side_by_side_and_long_words_split() {
        let layout = layout_at(120, 40);
        assert_eq!(layout.arrangement, Arrangement::SideBySide);
        assert!(layout.cards.iter().all(|c| c.width == 40 && c.height == 40));
        assert_cards_tile(&layout, Rect::new(0, 0, 120, 40));
        assert_eq!(layout.text_size(&["DEPLOYING"]), TextSize::Quadrant);
        assert_eq!(
            state_lines(
                "ROLLED BACK",
                TextSize::Quadrant,
                layout.state_width,
                layout.state_rows
            ),
            Some(vec!["ROLLED", "BACK"])
        );
    }

    #[test]
    fn at_160x48_quadrant_letters_take_whole_words() {
        let layout = layout_at(160, 48);
        assert_eq!(layout.arrangement, Arrangement::SideBySide);
        assert_eq!(
            layout.cards.iter().map(|c| c.width).collect::<Vec<_>>(),
            [54, 53, 53]
        );
        assert_cards_tile(&layout, Rect::new(0, 0, 160, 48));
        assert_eq!(
            layout.text_size(&["HEALTHY", "DEPLOYING"]),
            TextSize::Quadrant
        );
        assert_eq!(
            state_lines(
                "ROLLED BACK",
                TextSize::Quadrant,
                layout.state_width,
                layout.state_rows
            ),
            Some(vec!["ROLLED BACK"])
        );
    }

    #[test]
    fn at_240x67_and_300x80_the_letters_are_full_size() {
        let layout = layout_at(240, 67);
        assert_eq!(layout.arrangement, Arrangement::SideBySide);
        assert_cards_tile(&layout, Rect::new(0, 0, 240, 67));
        assert_eq!(layout.text_size(&["DEPLOYING", "FAILING"]), TextSize::Full);
        assert_eq!(
            state_lines(
                "ROLLED BACK",
                TextSize::Full,
                layout.state_width,
                layout.state_rows
            ),
            Some(vec!["ROLLED", "BACK"])
        );
        let layout = layout_at(300, 80);
        assert_cards_tile(&layout, Rect::new(0, 0, 300, 80));
        assert_eq!(layout.text_size(&["ROLLING BACK"]), TextSize::Full);
        assert_eq!(
            state_lines(
                "ROLLING BACK",
                TextSize::Full,
                layout.state_width,
                layout.state_rows
            ),
            Some(vec!["ROLLING BACK"])
        );
    }

    #[test]
    fn short_wide_screens_get_half_height_letters() {
        let layout = layout_for(Rect::new(0, 0, 240, 16), 3);
        assert_eq!(layout.arrangement, Arrangement::SideBySide);
        assert_eq!(layout.text_size(&["HEALTHY"]), TextSize::HalfHeight);
    }

    #[test]
    fn tiny_screens_get_one_line_per_environment_or_nothing() {
        let layout = layout_for(Rect::new(0, 0, 10, 3), 3);
        assert_eq!(layout.arrangement, Arrangement::Lines);
        assert_eq!(layout.cards.len(), 3);
        assert_eq!(layout.text_size(&["HEALTHY"]), TextSize::Plain);
        let cramped = layout_for(Rect::new(0, 0, 10, 2), 3);
        assert_eq!(cramped.cards.len(), 2, "only the rows that exist");
        assert!(layout_for(Rect::new(0, 0, 0, 0), 3).cards.is_empty());
        assert!(layout_for(Rect::new(0, 0, 80, 24), 0).cards.is_empty());
    }

    #[test]
    fn the_screen_plan_gives_the_detail_panel_room_only_where_cards_keep_theirs() {
        let needs = ScreenNeeds {
            env_count: 3,
            banners: 1,
            footer: true,
            detail_rows: Some(11),
        };
        let plan = plan_screen(Rect::new(0, 0, 160, 48), &needs);
        assert_eq!(plan.header, Some(Rect::new(0, 0, 160, 1)));
        assert_eq!(plan.banners, Some(Rect::new(0, 1, 160, 3)), "padded band");
        assert_eq!(plan.banner_lines, 1);
        assert_eq!(plan.footer, Some(Rect::new(0, 47, 160, 1)));
        assert_eq!(plan.detail, Some(Rect::new(0, 34, 160, 13)));
        assert_eq!(plan.cards.cards[0].y, 4);
        assert_eq!(plan.cards.cards[0].bottom(), 34);

        let small = plan_screen(Rect::new(0, 0, 80, 24), &needs);
        assert_eq!(small.detail, None, "80 columns are too narrow");
        assert_eq!(small.banners, Some(Rect::new(0, 1, 80, 1)), "no padding");
        let kiosk = plan_screen(
            Rect::new(0, 0, 80, 24),
            &ScreenNeeds {
                footer: false,
                ..needs
            },
        );
        assert_eq!(kiosk.footer, None);
        assert_eq!(kiosk.cards.cards.last().map(|c| c.bottom()), Some(24));

        let many = plan_screen(
            Rect::new(0, 0, 80, 24),
            &ScreenNeeds {
                banners: 12,
                ..needs
            },
        );
        assert_eq!(many.banner_lines, 5, "at most a quarter of the rows");
    }

    #[test]
    fn failing_things_keep_their_rows_before_the_chart_gets_any() {
        assert_eq!(split_info(3, 0), (0, 3), "nothing failing: the chart");
        assert_eq!(split_info(4, 1), (1, 3));
        assert_eq!(split_info(6, 8), (6, 0), "failing things outrank the chart");
        assert_eq!(split_info(7, 6), (6, 1), "the figure line alone");
        assert_eq!(split_info(40, 3), (3, 26), "the chart stops growing");
        assert_eq!(split_info(0, 3), (0, 0));
    }

    #[test]
    fn words_are_cut_at_a_word_and_marked() {
        assert_eq!(
            fit_words("Speed up product search", 30),
            "Speed up product search"
        );
        assert_eq!(fit_words("Speed up product search", 15), "Speed up…");
        assert_eq!(fit_words("Supercalifragilistic", 8), "Superca…");
        assert_eq!(fit_words("run #127 · Integration failed", 14), "run #127…");
        assert_eq!(fit_words("anything", 0), "");
        assert_eq!(fit_words("ab", 1), "…");
    }

    #[test]
    fn rotating_the_detail_walks_every_environment() {
        let mut view = WallView::default();
        let mut seen = Vec::new();
        for _ in 0..4 {
            view.rotate(3);
            seen.push(view.detail);
        }
        assert_eq!(seen, [Some(0), Some(1), Some(2), Some(0)]);
        view.rotate(0);
        assert_eq!(view.detail, None);
    }

    fn render_text(width: u16, height: u16, snapshot: &Snapshot, view: &WallView) -> String {
        let theme = Theme::default();
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| draw_wall(frame, frame.area(), snapshot, now(), &theme, view))
            .unwrap();
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            assert!(
                cell.symbol().chars().all(|c| !c.is_control()),
                "control character drawn"
            );
        }
        let mut text = String::new();
        for y in 0..height {
            for x in 0..width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_detail_panel_shows_stages_smoke_and_signals() {
        let view = WallView {
            detail: Some(0),
            ..WallView::default()
        };
        let text = render_text(160, 48, &busy(), &view);
        assert!(text.contains("DEV ▼ details"), "{text}");
        assert!(text.contains("Security+Performance"), "{text}");
        assert!(text.contains("payment health"), "{text}");
        assert!(text.contains("burn rate"), "{text}");
        let without = render_text(160, 48, &busy(), &WallView::default());
        assert!(!without.contains("details"), "{without}");
    }

    #[test]
    fn up_close_details_stay_off_the_cards() {
        let text = render_text(160, 48, &busy(), &WallView::default());
        for hidden in ["Sam Okafor", "Priya", "28s/30s", "s ago", "by ", "rb-0193"] {
            assert!(!text.contains(hidden), "{hidden} on the wall:\n{text}");
        }
        for shown in [
            "DEV",
            "STAGING",
            "PROD",
            "0f1e2d3 Tidy cart totals",
            "ERROR TRACKING",
        ] {
            assert!(text.contains(shown), "{shown} missing:\n{text}");
        }
    }

    /// An environment as it is right after start: nothing read yet.
    fn fresh(env: &EnvironmentSnapshot) -> EnvironmentSnapshot {
        EnvironmentSnapshot {
            head: None,
            services: Vec::new(),
            pipeline: None,
            smoke: Vec::new(),
            errors: crate::model::ErrorSeries::new(),
            health: Default::default(),
            release: Default::default(),
            verification: None,
            guard: Default::default(),
            triage: None,
            delivery: None,
            ..env.clone()
        }
    }

    #[test]
    fn a_fresh_start_says_no_data_and_draws() {
        let mut snapshot = busy();
        snapshot.environments = snapshot.environments.iter().map(fresh).collect();
        assert!(
            snapshot
                .environments
                .iter()
                .all(|env| card_state(env, now()) == CardState::NoData)
        );
        assert!(banners(&snapshot, now(), &BannerPolicy::default()).is_empty());
        let text = render_text(80, 24, &snapshot, &WallView::default());
        assert!(text.contains("nothing deployed yet"), "{text}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn any_size_draws_without_panic(
            width in 0u16..320,
            height in 0u16..100,
            env_count in 0usize..7,
            detail in proptest::option::of(0usize..7),
            footer in any::<bool>(),
            alarms in any::<bool>(),
            started_now in any::<bool>(),
        ) {
            let mut snapshot = busy();
            if alarms {
                fail_ci(&mut snapshot.environments[0], 45);
                roll_back(&mut snapshot.environments[2], "rolled_back", 4);
            }
            if started_now {
                snapshot.environments = snapshot.environments.iter().map(fresh).collect();
            }
            let names = ["DEV", "STAGING", "PROD"];
            snapshot.environments = snapshot
                .environments
                .iter()
                .cycle()
                .take(env_count)
                .cloned()
                .collect();
            let view = WallView {
                detail,
                footer: footer.then(|| Line::from("q quit")),
                ..WallView::default()
            };
            let text = render_text(width, height, &snapshot, &view);
            // Every card keeps its name where each gets a line of its own.
            let rows_for_cards = height.saturating_sub(8);
            if width >= 40 && usize::from(rows_for_cards) >= env_count {
                for name in names.iter().take(env_count) {
                    prop_assert!(
                        text.contains(name),
                        "{} missing at {}x{}:\n{}", name, width, height, text
                    );
                }
            }
        }
    }

    #[test]
    fn a_passing_freeze_gate_is_no_freeze() {
        // The freeze rule reads the promotion's gates, not its note.
        let mut env = calm();
        let mut preview: ActionPreview = busy().environments[2].release.promotion.clone().unwrap();
        preview.freeze_note = None;
        preview.gates = GateReport {
            gates: vec![Gate::new(
                GateKind::Freeze,
                GateState::Pass,
                "none",
                "no freeze",
                "",
            )],
        };
        env.release.promotion = Some(preview);
        assert_eq!(card_state(&env, now()), CardState::Healthy);
    }
}
