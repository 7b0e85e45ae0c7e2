//! The guard: watches every published verification and acts on a failure. With
//! `auto_rollback` on it asks the write side for a rollback through the same entrance as the
//! `r` key (so the same gates, lock, journal, audit and GitHub statuses apply), at most
//! `max_auto_rollbacks` times in a row before it stops and escalates; otherwise it alerts and
//! waits for the captain. Each decision is told to the notifiers and, for an automatic
//! rollback, filed as one GitHub issue per commit and reason.
//!
//! What to do is [`decide`], a plain function over the view and the guard's memory; the task
//! around it only carries decisions out. A read-only engine has no guard.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, watch};

use super::commands::{ActionRequest, ActionSender, Origin, Submitted};
use super::error_watch::{self, WatchMemory};
use super::incident;
use super::releases::ResumedRollback;
use super::store::{ReleaseUpdate, StoreInput};
use super::verification::VerifyPolicy;
use crate::actions::github::GithubWriter;
use crate::actions::notify::{self, Notice, NoticeEvent, NotifierTarget, RetryPolicy};
use crate::clock::Clock;
use crate::config::Config;
use crate::model::{
    ActionKind, ActionResult, DeliveryLine, GuardEvent, GuardView, SafeText, Snapshot,
    VerificationPhase, VerificationView,
};

/// The actor automatic rollbacks are audited under.
pub const AUTO_ACTOR: &str = "shipdeck (automatic rollback)";
/// A failure found this long after its window ended is shown, not acted on: the deploy was
/// verified by whoever watched it then (shipdeck started later).
pub const STALE_AFTER: TimeDelta = TimeDelta::minutes(2);

/// What the guard remembers of one environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The commit whose failure was acted on. By commit, not deployment: GitHub may record
    /// one deploy more than once, and a failure is acted on once while that commit runs.
    pub handled: Option<String>,
    /// The commit last seen verified.
    pub verified: Option<String>,
    pub rollbacks_in_a_row: u32,
    pub escalated: bool,
    /// A failure was announced and not yet resolved by a verified deploy.
    pub open_alert: bool,
}

/// What to do about an environment's verification now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Nothing,
    /// The running deploy passed: the streak ends and an open alert resolves.
    Verified {
        resolve_alert: bool,
    },
    /// Roll the deploy back (the `attempt`-th in a row).
    RollBack {
        attempt: u32,
    },
    /// Auto-rollback is off: tell people and wait for the captain.
    Alert,
    /// The cap is reached: stop rolling back, tell people loudly.
    Escalate,
    /// Old news (the window ended before shipdeck saw it): remember it, do nothing.
    Stale,
}

/// The guard's decision for `view` given what it remembers.
pub fn decide(
    view: &VerificationView,
    memory: &Memory,
    auto_rollback: bool,
    max_rollbacks: u32,
    now: DateTime<Utc>,
) -> Decision {
    let key = view.sha.clone();
    match view.phase {
        VerificationPhase::Verified if memory.verified.as_ref() != Some(&key) => {
            Decision::Verified {
                resolve_alert: memory.open_alert,
            }
        }
        VerificationPhase::Failed if memory.handled.as_ref() != Some(&key) => {
            if now > view.window_ends + STALE_AFTER {
                Decision::Stale
            } else if !auto_rollback {
                Decision::Alert
            } else if memory.rollbacks_in_a_row >= max_rollbacks {
                Decision::Escalate
            } else {
                Decision::RollBack {
                    attempt: memory.rollbacks_in_a_row + 1,
                }
            }
        }
        _ => Decision::Nothing,
    }
}

/// Forgets what was decided about commits that no longer run, so a commit deployed again
/// later is judged again.
pub fn observe(memory: &mut Memory, view: &VerificationView) {
    if view.phase == VerificationPhase::Deploying {
        return;
    }
    if memory.handled.as_ref().is_some_and(|sha| *sha != view.sha) {
        memory.handled = None;
    }
    if memory.verified.as_ref().is_some_and(|sha| *sha != view.sha) {
        memory.verified = None;
    }
}

/// Applies a decision to the memory (before it is carried out: a decision is taken once).
pub fn remember(memory: &mut Memory, view: &VerificationView, decision: &Decision) {
    let key = view.sha.clone();
    match decision {
        Decision::Nothing => {}
        Decision::Verified { .. } => {
            memory.verified = Some(key);
            memory.rollbacks_in_a_row = 0;
            memory.escalated = false;
            memory.open_alert = false;
        }
        Decision::RollBack { attempt } => {
            memory.handled = Some(key);
            memory.rollbacks_in_a_row = *attempt;
            memory.open_alert = true;
        }
        Decision::Alert => {
            memory.handled = Some(key);
            memory.open_alert = true;
        }
        Decision::Escalate => {
            memory.handled = Some(key);
            memory.escalated = true;
            memory.open_alert = true;
        }
        Decision::Stale => memory.handled = Some(key),
    }
}

/// The title of the issue filed for an automatic rollback: the SHA and the failing signals,
/// so the same failure of the same commit finds the same issue.
pub fn issue_title(environment: &str, view: &VerificationView) -> String {
    let signals: Vec<&str> = view
        .signals
        .iter()
        .filter(|s| s.state == crate::model::SignalState::Fail)
        .map(|s| s.signal.as_str())
        .collect();
    format!(
        "Automatic rollback of {environment}: {} failed verification ({})",
        super::plan::short_sha(&view.sha),
        if signals.is_empty() {
            "verification".to_string()
        } else {
            signals.join(", ")
        }
    )
}

/// The issue's body: the diagnosis, the figures, the links and what to do next.
pub fn issue_body(
    environment: &str,
    view: &VerificationView,
    to_sha: Option<&str>,
    links: &[(String, String)],
    excerpt: Option<&str>,
) -> String {
    let mut body = format!(
        "shipdeck rolled **{environment}** back by itself: the deploy of `{}` failed its \
         verification.\n\n**Why:** {}\n\n| signal | verdict | measured | baseline | threshold |\n|---|---|---|---|---|\n",
        view.sha, view.reason
    );
    for s in &view.signals {
        body.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            s.signal,
            s.state.word(),
            s.measured,
            s.baseline,
            s.threshold
        ));
    }
    body.push_str(&format!(
        "\n- Deployed at {} UTC (deployment {})\n- Rolled back to: {}\n",
        view.deployed_at.format("%Y-%m-%d %H:%M:%S"),
        view.deployment_id,
        to_sha.map_or("the previous good deployment".to_string(), |s| format!(
            "`{s}`"
        ))
    ));
    for (label, url) in links {
        body.push_str(&format!("- {label}: {url}\n"));
    }
    if let Some(excerpt) = excerpt {
        body.push_str(&format!("\n**What failed:**\n\n```text\n{excerpt}\n```\n"));
    }
    body.push_str(
        "\n**Next step:** reproduce the failing signal against the commit (its errors in \
         Sentry, its smoke checks), fix forward on `main`, and promote the fix once it is \
         verified in staging. shipdeck will not promote this commit again by itself.\n",
    );
    body
}

/// Everything the guard task needs.
pub(crate) struct GuardContext {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub actions: ActionSender,
    pub writers: Vec<Arc<GithubWriter>>,
    pub notifiers: Vec<Vec<NotifierTarget>>,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    pub store: mpsc::Sender<StoreInput>,
    /// To read what the rollback went back to once it ended.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// What each environment's guard shows; one copy, changed by the loop and the tasks it
    /// starts alike, so a late change never undoes an earlier one.
    pub views: std::sync::Mutex<HashMap<usize, GuardView>>,
    /// Where the error watch keeps the findings it told (see [`error_watch::WATCH_FILE`]).
    pub watch_file: Option<std::path::PathBuf>,
}

impl GuardContext {
    /// Changes environment `index`'s guard view and sends the store the result.
    async fn show(&self, index: usize, change: impl FnOnce(&mut GuardView)) {
        let view = {
            let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
            let view = views.entry(index).or_default();
            change(view);
            view.clone()
        };
        let _ = self
            .store
            .send(
                ReleaseUpdate::Guard {
                    env: index,
                    guard: view,
                }
                .into(),
            )
            .await;
    }
}

/// Runs until shutdown: one pass over the environments for every published snapshot.
pub(crate) async fn guard_loop(
    ctx: GuardContext,
    resumed: Vec<ResumedRollback>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ctx = Arc::new(ctx);
    let policies: Vec<Option<VerifyPolicy>> = (0..ctx.config.environments.len())
        .map(|index| VerifyPolicy::for_environment(&ctx.config, index))
        .collect();
    let mut memories: HashMap<usize, Memory> = HashMap::new();
    let mut watches: HashMap<usize, WatchMemory> = match ctx.watch_file.clone() {
        Some(path) => {
            let mut told = tokio::task::spawn_blocking(move || error_watch::load_told(&path))
                .await
                .unwrap_or_default();
            ctx.config
                .environments
                .iter()
                .enumerate()
                .filter_map(|(index, env)| Some((index, told.remove(env.name.get_ref())?)))
                .collect()
        }
        None => HashMap::new(),
    };
    for rollback in resumed {
        take_over_resumed(&ctx, rollback, &policies, &mut memories).await;
    }
    loop {
        let snapshot = Arc::clone(&snapshots.borrow_and_update());
        for (index, env) in snapshot.environments.iter().enumerate() {
            let (Some(Some(policy)), Some(view)) = (policies.get(index), env.verification.as_ref())
            else {
                continue;
            };
            tell_watch_findings(
                &ctx,
                index,
                env.name.as_str(),
                view,
                &snapshot,
                watches.entry(index).or_default(),
            )
            .await;
            let memory = memories.entry(index).or_default();
            observe(memory, view);
            let decision = decide(
                view,
                memory,
                policy.auto_rollback,
                policy.max_auto_rollbacks,
                ctx.clock.now(),
            );
            if decision == Decision::Nothing {
                continue;
            }
            remember(memory, view, &decision);
            let context = Context {
                links: incident::links(&ctx.config, index, &snapshot, &view.sha),
                excerpt: incident::excerpt(Some(env), view),
            };
            let mut last = None;
            let environment = env.name.as_str().to_string();
            let event = |kind: &str, reason: String| GuardEvent {
                at: ctx.clock.now(),
                kind: SafeText::new(kind),
                sha: view.sha.clone(),
                to_sha: None,
                reason: SafeText::with_max(&reason, 400),
            };
            match decision {
                Decision::Nothing | Decision::Stale => {}
                Decision::Verified { resolve_alert } => {
                    if resolve_alert {
                        tokio::spawn(tell(
                            Arc::clone(&ctx),
                            index,
                            notice(
                                &environment,
                                view,
                                NoticeEvent::Resolved,
                                ctx.clock.now(),
                                &Context {
                                    excerpt: None,
                                    ..context
                                },
                            ),
                        ));
                    }
                }
                Decision::Alert => {
                    last = Some(event(
                        "alerted",
                        format!(
                            "{}; automatic rollback is off: press r to roll back",
                            view.reason
                        ),
                    ));
                    tokio::spawn(tell(
                        Arc::clone(&ctx),
                        index,
                        notice(
                            &environment,
                            view,
                            NoticeEvent::VerificationFailed,
                            ctx.clock.now(),
                            &context,
                        ),
                    ));
                }
                Decision::Escalate => {
                    last = Some(event(
                        "escalated",
                        format!(
                            "{}; {} automatic rollbacks in a row already: shipdeck stopped \
                             rolling back by itself, the captain decides",
                            view.reason, memory.rollbacks_in_a_row
                        ),
                    ));
                    tokio::spawn(tell(
                        Arc::clone(&ctx),
                        index,
                        notice(
                            &environment,
                            view,
                            NoticeEvent::Escalated,
                            ctx.clock.now(),
                            &context,
                        ),
                    ));
                }
                Decision::RollBack { attempt } => {
                    last = Some(event(
                        "rolling_back",
                        format!(
                            "{} (automatic rollback {attempt} of at most {})",
                            view.reason, policy.max_auto_rollbacks
                        ),
                    ));
                    tokio::spawn(roll_back(
                        Arc::clone(&ctx),
                        RollbackReport {
                            index,
                            environment: environment.clone(),
                            view: view.clone(),
                            context,
                            open_issue: policy.open_issue,
                            labels: policy.issue_labels.clone(),
                        },
                    ));
                }
            }
            let (in_a_row, escalated) = (memory.rollbacks_in_a_row, memory.escalated);
            let max = policy.max_auto_rollbacks;
            ctx.show(index, |guard| {
                guard.max_rollbacks = max;
                guard.rollbacks_in_a_row = in_a_row;
                guard.escalated = escalated;
                if last.is_some() {
                    guard.last = last;
                    guard.deliveries.clear();
                }
            })
            .await;
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Tells the notifiers about each new error type the watch found and has not told yet, and
/// shows it as the guard's latest event. Never rolls back: the captain decides.
async fn tell_watch_findings(
    ctx: &Arc<GuardContext>,
    index: usize,
    environment: &str,
    view: &VerificationView,
    snapshot: &Snapshot,
    memory: &mut WatchMemory,
) {
    let now = ctx.clock.now();
    let findings = error_watch::to_tell(view, memory, now);
    if findings.is_empty() {
        return;
    }
    error_watch::remember(memory, view, &findings);
    if let Some(path) = ctx.watch_file.clone() {
        let records: Vec<error_watch::ToldRecord> = findings
            .iter()
            .map(|finding| error_watch::ToldRecord {
                environment: environment.to_string(),
                sha: view.sha.clone(),
                issue_id: finding.id.as_str().to_string(),
                at: now,
            })
            .collect();
        let written =
            tokio::task::spawn_blocking(move || error_watch::record_told(&path, &records)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!("could not keep the error watch's findings; a restart may repeat them");
        }
    }
    let mut last = None;
    for finding in findings {
        let headline = error_watch::headline(view, finding);
        let reason =
            format!("{headline}; the watch does not roll back by itself: press r to roll back");
        let notice = Notice {
            environment: environment.to_string(),
            sha: view.sha.clone(),
            event: NoticeEvent::WatchFinding,
            reason: reason.clone(),
            figures: vec![
                ("error type".to_string(), finding.title.as_str().to_string()),
                ("events".to_string(), finding.count.to_string()),
                (
                    "first seen".to_string(),
                    finding
                        .first_seen
                        .format("%Y-%m-%d %H:%M:%S UTC")
                        .to_string(),
                ),
                (
                    "watch ends".to_string(),
                    view.watch
                        .as_ref()
                        .map(|w| w.ends.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_default(),
                ),
            ],
            log_excerpt: None,
            links: incident::watch_links(
                &ctx.config,
                index,
                snapshot,
                &view.sha,
                finding.id.as_str(),
            ),
            dedup_key: format!("shipdeck/{environment}/{}/watch/{}", view.sha, finding.id),
            at: now,
        };
        tokio::spawn(tell(Arc::clone(ctx), index, notice));
        last = Some(GuardEvent {
            at: now,
            kind: SafeText::new("watch_alerted"),
            sha: view.sha.clone(),
            to_sha: None,
            reason: SafeText::with_max(&reason, 400),
        });
    }
    ctx.show(index, |guard| {
        guard.last = last;
        guard.deliveries.clear();
    })
    .await;
}

/// What a notice and an issue about one failure point at (see [`super::incident`]).
#[derive(Debug, Clone, Default)]
struct Context {
    links: Vec<(String, String)>,
    excerpt: Option<String>,
}

fn notice(
    environment: &str,
    view: &VerificationView,
    event: NoticeEvent,
    at: DateTime<Utc>,
    context: &Context,
) -> Notice {
    Notice {
        environment: environment.to_string(),
        sha: view.sha.clone(),
        event,
        reason: view.reason.as_str().to_string(),
        figures: view
            .signals
            .iter()
            .map(|s| {
                (
                    s.signal.as_str().to_string(),
                    format!(
                        "{}: {} (baseline {}, threshold {})",
                        s.state.word(),
                        s.measured,
                        s.baseline,
                        s.threshold
                    ),
                )
            })
            .collect(),
        log_excerpt: context.excerpt.clone(),
        links: context.links.clone(),
        dedup_key: format!("shipdeck/{environment}/{}", view.sha),
        at,
    }
}

/// Sends `notice` to the environment's notifiers and shows how each fared. Never fails: a
/// notifier that cannot be reached is logged and shown.
async fn tell(ctx: Arc<GuardContext>, index: usize, notice: Notice) {
    let Some(targets) = ctx.notifiers.get(index).filter(|t| !t.is_empty()) else {
        return;
    };
    let deliveries = notify::deliver_all(&ctx.http, targets, &notice, ctx.retry).await;
    let lines: Vec<DeliveryLine> = deliveries
        .iter()
        .map(|d| {
            if !d.ok {
                tracing::warn!(target = %d.target, attempts = d.attempts, error = ?d.last_error, "a notifier failed");
            }
            DeliveryLine {
                target: SafeText::with_max(&d.target, 60),
                ok: d.ok,
                attempts: d.attempts,
                error: d.last_error.as_deref().map(|e| SafeText::with_max(e, 160)),
            }
        })
        .collect();
    ctx.show(index, |guard| guard.deliveries = lines).await;
}

/// Asks for the rollback, waits for it to end, then tells people and files the issue.
#[allow(clippy::too_many_arguments)]
/// How an automatic rollback ended, as the guard reports it.
struct RollbackEnd {
    kind: &'static str,
    reason: String,
    to_sha: Option<String>,
    event: NoticeEvent,
}

impl RollbackEnd {
    fn refused(kind: &'static str, reason: String) -> Self {
        Self {
            kind,
            reason,
            to_sha: None,
            event: NoticeEvent::RollbackFailed,
        }
    }
}

/// The shared parts of an automatic rollback's report, fixed when it was decided.
struct RollbackReport {
    index: usize,
    environment: String,
    view: VerificationView,
    context: Context,
    open_issue: bool,
    labels: Vec<String>,
}

async fn roll_back(ctx: Arc<GuardContext>, report: RollbackReport) {
    let mut request = ActionRequest::new(
        ActionKind::Rollback,
        &report.environment,
        AUTO_ACTOR,
        Origin::Auto,
    );
    request.reason = Some(format!("automatic rollback: {}", report.view.reason));
    request.failed_verification = Some(Box::new(report.view.clone()));
    let end = match ctx.actions.submit(request).await {
        Ok(Submitted::Started { id, done }) => match wait_for_end(&ctx, &report, &id, done).await {
            Some(end) => end,
            None => return,
        },
        Ok(Submitted::Blocked(gates)) | Ok(Submitted::NeedsConfirmation(gates)) => {
            RollbackEnd::refused(
                "rollback_blocked",
                format!("the automatic rollback was blocked: {}", gates.summary()),
            )
        }
        Ok(Submitted::Rejected(why)) => RollbackEnd::refused(
            "rollback_blocked",
            format!("the automatic rollback was refused: {why}"),
        ),
        Err(_) => return,
    };
    tell_rollback_end(ctx, report, end).await;
}

/// Waits for a started rollback to end; `None` when the engine stopped first (the journal
/// resumes it on the next start, whose guard reports it then).
async fn wait_for_end(
    ctx: &GuardContext,
    report: &RollbackReport,
    id: &str,
    done: tokio::sync::oneshot::Receiver<super::commands::ActionOutcome>,
) -> Option<RollbackEnd> {
    let outcome = done.await.ok()?;
    Some(if outcome.result == ActionResult::Succeeded {
        RollbackEnd {
            kind: "rolled_back",
            reason: report.view.reason.as_str().to_string(),
            to_sha: ctx
                .snapshots
                .borrow()
                .environments
                .get(report.index)
                .and_then(|e| e.release.activity.as_ref())
                .filter(|a| a.id.as_str() == id)
                .map(|a| a.sha.clone()),
            event: NoticeEvent::RolledBack,
        }
    } else {
        RollbackEnd::refused(
            "rollback_failed",
            format!(
                "the automatic rollback did not finish: {}",
                outcome
                    .reason
                    .unwrap_or_else(|| outcome.result.word().to_string())
            ),
        )
    })
}

/// Shows how the rollback ended, files its issue (once it rolled back) and tells the
/// notifiers.
async fn tell_rollback_end(ctx: Arc<GuardContext>, report: RollbackReport, end: RollbackEnd) {
    let RollbackReport {
        index,
        environment,
        view,
        context,
        open_issue,
        labels,
    } = report;
    let last = GuardEvent {
        at: ctx.clock.now(),
        kind: SafeText::new(end.kind),
        sha: view.sha.clone(),
        to_sha: end.to_sha.clone(),
        reason: SafeText::with_max(&end.reason, 400),
    };
    ctx.show(index, |guard| guard.last = Some(last)).await;
    if open_issue
        && end.event == NoticeEvent::RolledBack
        && let Some(writer) = ctx.writers.get(index)
    {
        let title = issue_title(&environment, &view);
        let body = issue_body(
            &environment,
            &view,
            end.to_sha.as_deref(),
            &context.links,
            context.excerpt.as_deref(),
        );
        let filed = match writer.file_issue_once(&title, &body, &labels).await {
            Ok(issue) => issue.url,
            Err(error) => {
                tracing::warn!(%error, "could not file the rollback issue");
                format!("not filed: {error}")
            }
        };
        ctx.show(index, |guard| {
            guard.issue = Some(SafeText::with_max(&filed, 200))
        })
        .await;
    }
    let mut notice = notice(&environment, &view, end.event, ctx.clock.now(), &context);
    notice.reason = end.reason;
    tell(ctx, index, notice).await;
}

/// Takes over the report of an automatic rollback an earlier engine started and this one
/// resumed: the guard's memory counts it (the same failure is not rolled back twice, and it
/// counts toward the streak), and its end is reported like any other.
async fn take_over_resumed(
    ctx: &Arc<GuardContext>,
    resumed: ResumedRollback,
    policies: &[Option<VerifyPolicy>],
    memories: &mut HashMap<usize, Memory>,
) {
    let ResumedRollback { plan, done } = resumed;
    let (Some(index), Some(view)) = (
        ctx.config
            .environments
            .iter()
            .position(|e| e.name.get_ref() == &plan.environment),
        plan.failed_verification,
    ) else {
        return;
    };
    let Some(Some(policy)) = policies.get(index) else {
        return;
    };
    let view = *view;
    let memory = memories.entry(index).or_default();
    let decision = Decision::RollBack {
        attempt: memory.rollbacks_in_a_row + 1,
    };
    remember(memory, &view, &decision);
    let in_a_row = memory.rollbacks_in_a_row;
    let max = policy.max_auto_rollbacks;
    let last = GuardEvent {
        at: ctx.clock.now(),
        kind: SafeText::new("rolling_back"),
        sha: view.sha.clone(),
        to_sha: Some(plan.sha.clone()),
        reason: SafeText::with_max(&format!("{} (resumed after a restart)", view.reason), 400),
    };
    ctx.show(index, |guard| {
        guard.max_rollbacks = max;
        guard.rollbacks_in_a_row = in_a_row;
        guard.last = Some(last);
    })
    .await;
    let snapshot = Arc::clone(&ctx.snapshots.borrow());
    let context = Context {
        links: incident::links(&ctx.config, index, &snapshot, &view.sha),
        excerpt: incident::excerpt(snapshot.environments.get(index), &view),
    };
    let report = RollbackReport {
        index,
        environment: plan.environment.clone(),
        view,
        context,
        open_issue: policy.open_issue,
        labels: policy.issue_labels.clone(),
    };
    let ctx = Arc::clone(ctx);
    let id = plan.id.clone();
    tokio::spawn(async move {
        if let Some(end) = wait_for_end(&ctx, &report, &id, done).await {
            tell_rollback_end(ctx, report, end).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SignalLine, SignalState};

    fn view(
        phase: VerificationPhase,
        id: u64,
        minutes_after_window: i64,
    ) -> (VerificationView, DateTime<Utc>) {
        let deployed_at = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
        let window_ends = deployed_at + TimeDelta::minutes(15);
        let view = VerificationView {
            sha: format!("{id:040x}"),
            deployment_id: id,
            deployed_at,
            window_ends,
            phase,
            signals: vec![SignalLine {
                signal: SafeText::new("error rate"),
                state: if phase == VerificationPhase::Failed {
                    SignalState::Fail
                } else {
                    SignalState::Pass
                },
                measured: SafeText::new("31.0/min (+204%) over 1 min"),
                baseline: SafeText::new("10.2/min over 30 min"),
                threshold: SafeText::new("above +50%, significant"),
                reason: SafeText::new("errors tripled"),
            }],
            reason: SafeText::new("verification failed: error rate: errors tripled"),
            auto_rollback: true,
            baseline_per_minute: Some(10.2),
            watch: None,
        };
        (view, window_ends + TimeDelta::minutes(minutes_after_window))
    }

    #[test]
    fn a_failure_rolls_back_once_per_deploy() {
        let (failed, now) = view(VerificationPhase::Failed, 7, -10);
        let mut memory = Memory::default();
        let first = decide(&failed, &memory, true, 3, now);
        assert_eq!(first, Decision::RollBack { attempt: 1 });
        remember(&mut memory, &failed, &first);
        assert_eq!(decide(&failed, &memory, true, 3, now), Decision::Nothing);
    }

    #[test]
    fn three_in_a_row_then_it_escalates_and_a_verified_deploy_ends_the_streak() {
        let mut memory = Memory::default();
        for id in 1..=3 {
            let (failed, now) = view(VerificationPhase::Failed, id, -10);
            let decision = decide(&failed, &memory, true, 3, now);
            assert_eq!(decision, Decision::RollBack { attempt: id as u32 });
            remember(&mut memory, &failed, &decision);
        }
        let (fourth, now) = view(VerificationPhase::Failed, 4, -10);
        let decision = decide(&fourth, &memory, true, 3, now);
        assert_eq!(decision, Decision::Escalate);
        remember(&mut memory, &fourth, &decision);
        assert!(memory.escalated);

        let (good, now) = view(VerificationPhase::Verified, 5, 1);
        let decision = decide(&good, &memory, true, 3, now);
        assert_eq!(
            decision,
            Decision::Verified {
                resolve_alert: true
            }
        );
        remember(&mut memory, &good, &decision);
        assert_eq!((memory.rollbacks_in_a_row, memory.escalated), (0, false));
        let (next_bad, now) = view(VerificationPhase::Failed, 6, -10);
        assert_eq!(
            decide(&next_bad, &memory, true, 3, now),
            Decision::RollBack { attempt: 1 }
        );
    }

    #[test]
    fn auto_rollback_off_only_alerts() {
        let (failed, now) = view(VerificationPhase::Failed, 9, -5);
        assert_eq!(
            decide(&failed, &Memory::default(), false, 3, now),
            Decision::Alert
        );
    }

    #[test]
    fn a_failure_seen_long_after_its_window_is_not_acted_on() {
        let (failed, now) = view(VerificationPhase::Failed, 9, 30);
        assert_eq!(
            decide(&failed, &Memory::default(), true, 3, now),
            Decision::Stale
        );
    }

    #[test]
    fn in_progress_and_deploying_need_nothing() {
        for phase in [
            VerificationPhase::Verifying,
            VerificationPhase::Deploying,
            VerificationPhase::NotEnoughData,
        ] {
            let (v, now) = view(phase, 3, -10);
            assert_eq!(
                decide(&v, &Memory::default(), true, 3, now),
                Decision::Nothing
            );
        }
    }

    #[test]
    fn the_issue_title_names_the_commit_and_the_failing_signals() {
        let (failed, _) = view(VerificationPhase::Failed, 0xabc, -10);
        let title = issue_title("prod", &failed);
        assert_eq!(
            title,
            "Automatic rollback of prod: 0000000 failed verification (error rate)"
        );
        let body = issue_body(
            "prod",
            &failed,
            Some("1234567"),
            &[("run".into(), "https://x/run/1".into())],
            Some("smoke checkout: HTTP 500"),
        );
        assert!(
            body.contains(
                "| error rate | FAIL | 31.0/min (+204%) over 1 min | 10.2/min over 30 min |"
            ),
            "{body}"
        );
        assert!(
            body.contains("Rolled back to: `1234567`") && body.contains("- run: https://x/run/1")
        );
        assert!(
            body.contains("```text\nsmoke checkout: HTTP 500\n```"),
            "{body}"
        );
        let without = issue_body("prod", &failed, None, &[], None);
        assert!(!without.contains("What failed"), "{without}");
    }
}
