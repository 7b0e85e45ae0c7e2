//! Runs an approved promotion or rollback, step by step, so that it can be interrupted at any
//! point and resumed without repeating a write whose effect is already visible.
//!
//! Every step first reads what GitHub shows (is the lock ours, does our deployment exist, is
//! the branch already there, was the pull request merged, did our dispatch start a run), and
//! writes only what is missing. Before each write the step's intent is in the journal (synced
//! to disk); after it, what was learned (ids). A write that got no answer is never simply
//! repeated: the step reads again, and writes again only when its effect is not there.
//!
//! When the engine is asked to stop, an action finishes the step it is in (a wait for a run
//! or a review stops at its next look) and goes no further: its journal has no end, so the
//! next start resumes it where it stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tokio::sync::{Mutex, mpsc, watch};

use super::commands::ActionOutcome;
use super::plan::{
    ActionPlan, Memo, Method, Step, initial_steps, lock_ref, promotion_branch, short_sha,
};
use super::store::{ReleaseUpdate, StoreInput};
use crate::actions::command::{CommandSpec, CommandVars, OutputStream, run_command};
use crate::actions::github::{GithubWriter, NewDeployment, Tagger, WriteError};
use crate::clock::Clock;
use crate::engine::audit::AuditLog;
use crate::engine::journal::{Journal, JournalRecord, Phase};
use crate::model::{
    ActionKind, ActionProgress, ActionResult, ActionStepState, AuditEntry, LogLine, SafeText,
};

/// Timing of an action's waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecTiming {
    /// Real time between two reads while waiting (for mergeability, for a run).
    pub poll: Duration,
    /// World time within which the move must have started a run.
    pub run_appear: TimeDelta,
    /// World time within which the deploy must have finished.
    pub deploy_timeout: TimeDelta,
    /// Real time a local command may run.
    pub command_timeout: Duration,
    /// How often an unanswered or failed write is tried (reading in between).
    pub write_attempts: u32,
    /// World time a high-risk pull request may wait for its approving review.
    pub review_wait: TimeDelta,
}

impl Default for ExecTiming {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(3),
            run_appear: TimeDelta::minutes(3),
            deploy_timeout: TimeDelta::minutes(30),
            command_timeout: Duration::from_secs(30 * 60),
            write_attempts: 4,
            review_wait: TimeDelta::hours(4),
        }
    }
}

impl ExecTiming {
    /// Quick polling for tests and the demo; world-time limits stay.
    pub fn fast() -> Self {
        Self {
            poll: Duration::from_millis(100),
            ..Self::default()
        }
    }
}

/// Where an action writes its traces: the journal, the audit log, the store (progress, log).
pub struct Recorder {
    pub journal: Mutex<Journal>,
    pub audit: Mutex<AuditLog>,
    pub store: mpsc::Sender<StoreInput>,
}

impl Recorder {
    /// Appends and syncs a journal record. Failing here stops the action before its next
    /// write: a write the journal does not know about could be repeated after a restart.
    pub async fn journal(
        &self,
        plan: &ActionPlan,
        clock: &Clock,
        step: &str,
        phase: Phase,
        data: serde_json::Value,
    ) -> Result<(), ExecError> {
        let mut journal = self.journal.lock().await;
        let record = JournalRecord {
            action_id: plan.id.clone(),
            seq: 0,
            at: clock.now(),
            step: step.to_string(),
            phase,
            data,
        };
        journal
            .append(&record)
            .map_err(|e| ExecError::Journal(e.to_string()))
    }

    pub async fn audit(&self, entry: AuditEntry) {
        let appended = self.audit.lock().await.append(&entry);
        if let Err(error) = appended {
            tracing::error!(%error, "could not append to the audit log");
            self.log(
                entry.at,
                None,
                &format!("audit log write failed: {error}"),
                true,
            )
            .await;
        }
        let _ = self.store.send(ReleaseUpdate::Audit(entry).into()).await;
    }

    pub async fn log(&self, at: DateTime<Utc>, env: Option<&str>, text: &str, error: bool) {
        let line = LogLine {
            at,
            environment: env.map(|e| SafeText::with_max(e, 40)),
            text: SafeText::with_max(text, 300),
            error,
        };
        let _ = self.store.send(ReleaseUpdate::Log(line).into()).await;
    }
}

/// Everything an action runs with.
pub struct ExecContext {
    pub writer: Arc<GithubWriter>,
    /// Reads what the writer's answers do not carry (a pull request's reviews).
    pub reader: Arc<crate::sources::github::GithubClient>,
    pub recorder: Arc<Recorder>,
    pub clock: Clock,
    pub timing: ExecTiming,
    /// Turns true when the engine is asked to stop.
    pub stop: watch::Receiver<bool>,
}

impl ExecContext {
    /// Fails with [`ExecError::Interrupted`] once a stop was asked for: called between steps.
    fn checkpoint(&self) -> Result<(), ExecError> {
        if *self.stop.borrow() {
            Err(ExecError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Waits `duration` between two looks at something slow (a run, a review); a stop ends
    /// the wait with [`ExecError::Interrupted`]. Nothing was written since the last look, so
    /// the next start picks up the wait.
    async fn pause(&self, duration: Duration) -> Result<(), ExecError> {
        self.checkpoint()?;
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            _ = stop.wait_for(|stopping| *stopping) => Err(ExecError::Interrupted),
        }
    }
}

/// Why an action stopped before it could record a deploy result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("the journal could not be written: {0}")]
    Journal(String),
    #[error("{0} holds the lock")]
    LockLost(String),
    #[error("{what}: {error}")]
    Write { what: String, error: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}: gave up after repeated failures")]
    GaveUp(String),
    /// The engine is stopping: the action ends here and resumes on the next start.
    #[error("stopped by a shutdown; the next start resumes it")]
    Interrupted,
}

/// The live view of a running action, sent to the store whenever a step changes.
struct Tracker<'a> {
    ctx: &'a ExecContext,
    env_index: usize,
    progress: ActionProgress,
}

impl<'a> Tracker<'a> {
    fn new(ctx: &'a ExecContext, plan: &ActionPlan, env_index: usize, memo: &Memo) -> Self {
        let mut steps = initial_steps(plan);
        for (line, step) in steps.iter_mut().zip(Step::ALL) {
            if memo.is_done(step) {
                line.state = ActionStepState::Done;
            }
        }
        Self {
            ctx,
            env_index,
            progress: ActionProgress {
                id: SafeText::with_max(&plan.id, 80),
                kind: plan.kind,
                target: SafeText::with_max(&plan.environment, 40),
                sha: plan.sha.clone(),
                from_sha: plan.from_sha.clone(),
                actor: SafeText::with_max(&plan.actor, 60),
                started_at: plan.started_at,
                steps,
                result: None,
                reason: None,
            },
        }
    }

    async fn publish(&self) {
        let _ = self
            .ctx
            .recorder
            .store
            .send(
                ReleaseUpdate::Activity {
                    env: self.env_index,
                    progress: self.progress.clone(),
                }
                .into(),
            )
            .await;
    }

    async fn set(&mut self, step: Step, state: ActionStepState, detail: Option<&str>) {
        if let Some(index) = Step::ALL.iter().position(|s| *s == step)
            && let Some(line) = self.progress.steps.get_mut(index)
        {
            line.state = state;
            line.detail = detail.map(|d| SafeText::with_max(d, 120));
        }
        self.publish().await;
    }

    async fn end(&mut self, result: ActionResult, reason: Option<&str>) {
        for line in &mut self.progress.steps {
            if matches!(
                line.state,
                ActionStepState::Pending | ActionStepState::Running
            ) {
                line.state = ActionStepState::Skipped;
            }
        }
        self.progress.result = Some(result);
        self.progress.reason = reason.map(|r| SafeText::with_max(r, 200));
        self.publish().await;
    }
}

/// Runs (or resumes) an action to its end and records how it ended; `None` when a stop
/// paused it between two steps (its journal has no end: the next start resumes it).
pub async fn run_action(
    ctx: &ExecContext,
    plan: &ActionPlan,
    mut memo: Memo,
    env_index: usize,
) -> Option<ActionOutcome> {
    let mut tracker = Tracker::new(ctx, plan, env_index, &memo);
    tracker.publish().await;
    let steps = run_steps(ctx, plan, &mut memo, &mut tracker).await;
    if let Err(ExecError::Interrupted) = steps {
        // No end record, no cleanup: the lock and the journal carry it to the next start.
        let reason = ExecError::Interrupted.to_string();
        tracing::info!(
            action = %crate::model::sanitize(&plan.id, 80),
            environment = %crate::model::sanitize(&plan.environment, 40),
            "action paused by a shutdown; the next start resumes it"
        );
        ctx.recorder
            .log(
                ctx.clock.now(),
                Some(&plan.environment),
                &format!("{} {} paused: {reason}", plan.kind.word(), plan.environment),
                false,
            )
            .await;
        return None;
    }
    let outcome = match steps {
        Ok(Ok(())) => ActionOutcome {
            result: ActionResult::Succeeded,
            reason: None,
        },
        Ok(Err(reason)) => ActionOutcome {
            result: ActionResult::Failed,
            reason: Some(reason),
        },
        Err(error) => {
            let reason = error.to_string();
            // Whatever stopped the action, leave no deployment in progress and no lock
            // behind, unless the journal itself is broken (then nothing more is written).
            if !matches!(error, ExecError::Journal(_)) {
                cleanup_after_error(ctx, plan, &memo, &reason).await;
            }
            ActionOutcome {
                result: ActionResult::Failed,
                reason: Some(reason),
            }
        }
    };
    let reason = outcome.reason.as_deref();
    tracker.end(outcome.result, reason).await;
    let now = ctx.clock.now();
    let _ = ctx
        .recorder
        .journal(
            plan,
            &ctx.clock,
            "end",
            Phase::End,
            json!({ "result": outcome.result.word(), "reason": reason }),
        )
        .await;
    ctx.recorder
        .audit(audit_entry(plan, now, outcome.result.word(), reason))
        .await;
    let summary = match reason {
        Some(reason) => format!(
            "{} {} {}: {reason}",
            plan.kind.word(),
            plan.environment,
            outcome.result.word()
        ),
        None => format!(
            "{} {} to {} {}",
            plan.kind.word(),
            plan.environment,
            short_sha(&plan.sha),
            outcome.result.word()
        ),
    };
    ctx.recorder
        .log(
            now,
            Some(&plan.environment),
            &summary,
            outcome.result != ActionResult::Succeeded,
        )
        .await;
    Some(outcome)
}

/// The audit record of an action's end (or start).
pub fn audit_entry(
    plan: &ActionPlan,
    at: DateTime<Utc>,
    result: &str,
    reason: Option<&str>,
) -> AuditEntry {
    AuditEntry {
        at,
        action_id: SafeText::with_max(&plan.id, 80),
        event: SafeText::new(match (plan.kind, plan.origin) {
            (ActionKind::Rollback, super::commands::Origin::Auto) => "auto_rollback",
            (ActionKind::Promote, super::commands::Origin::Auto) => {
                super::auto_promote::AUTO_PROMOTE_EVENT
            }
            (kind, _) => kind.word(),
        }),
        actor: SafeText::with_max(&plan.actor, 60),
        environment: SafeText::with_max(&plan.environment, 40),
        from_sha: plan.from_sha.clone(),
        to_sha: Some(plan.sha.clone()),
        result: SafeText::with_max(result, 40),
        reason: reason.map(|r| SafeText::with_max(r, 300)),
        overrides: plan
            .overrides
            .iter()
            .map(|o| SafeText::with_max(o, 200))
            .collect(),
    }
}

/// The steps; `Ok(Err(reason))` when the deploy itself failed (recorded as such in GitHub).
async fn run_steps(
    ctx: &ExecContext,
    plan: &ActionPlan,
    memo: &mut Memo,
    tracker: &mut Tracker<'_>,
) -> Result<Result<(), String>, ExecError> {
    let recorder = &ctx.recorder;
    let clock = &ctx.clock;

    if !memo.is_done(Step::Lock) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Lock, ActionStepState::Running, None)
            .await;
        ensure_lock(ctx, plan).await?;
        recorder
            .journal(plan, clock, Step::Lock.key(), Phase::Done, json!({}))
            .await?;
        memo.learn(Step::Lock, true, &json!({}));
        tracker.set(Step::Lock, ActionStepState::Done, None).await;
    }

    if !memo.is_done(Step::Deployments) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Deployments, ActionStepState::Running, None)
            .await;
        for service in &plan.services {
            if memo.deployments.contains_key(service) {
                continue;
            }
            recorder
                .journal(
                    plan,
                    clock,
                    Step::Deployments.key(),
                    Phase::Intent,
                    json!({ "service": service }),
                )
                .await?;
            let id = ensure_deployment(ctx, plan, service).await?;
            memo.deployments.insert(service.clone(), id);
            recorder
                .journal(
                    plan,
                    clock,
                    Step::Deployments.key(),
                    Phase::Intent,
                    json!({ "deployments": { service.as_str(): id } }),
                )
                .await?;
        }
        let ids = json!({ "deployments": memo.deployments });
        recorder
            .journal(plan, clock, Step::Deployments.key(), Phase::Done, ids)
            .await?;
        memo.learn(Step::Deployments, true, &json!({}));
        let detail = memo
            .deployments
            .values()
            .map(|id| format!("#{id}"))
            .collect::<Vec<_>>()
            .join(", ");
        tracker
            .set(Step::Deployments, ActionStepState::Done, Some(&detail))
            .await;
    }

    if !memo.is_done(Step::InProgress) {
        ctx.checkpoint()?;
        tracker
            .set(Step::InProgress, ActionStepState::Running, None)
            .await;
        for id in memo.deployments.values() {
            ensure_status(ctx, *id, "in_progress", &describe(plan, "in progress")).await?;
        }
        recorder
            .journal(plan, clock, Step::InProgress.key(), Phase::Done, json!({}))
            .await?;
        memo.learn(Step::InProgress, true, &json!({}));
        tracker
            .set(Step::InProgress, ActionStepState::Done, None)
            .await;
    }

    if !memo.is_done(Step::Apply) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Apply, ActionStepState::Running, None)
            .await;
        let applied = apply(ctx, plan, memo, tracker).await;
        match applied {
            Ok(detail) => {
                recorder
                    .journal(
                        plan,
                        clock,
                        Step::Apply.key(),
                        Phase::Done,
                        json!({
                            "run_id": memo.run_id,
                            "pull_number": memo.pull_number,
                            "command_succeeded": memo.command_succeeded,
                        }),
                    )
                    .await?;
                memo.learn(Step::Apply, true, &json!({}));
                tracker
                    .set(Step::Apply, ActionStepState::Done, detail.as_deref())
                    .await;
            }
            Err(error) => {
                tracker
                    .set(
                        Step::Apply,
                        ActionStepState::Failed,
                        Some(&error.to_string()),
                    )
                    .await;
                return Err(error);
            }
        }
    }

    if !memo.is_done(Step::Follow) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Follow, ActionStepState::Running, None)
            .await;
        let result = follow(ctx, plan, memo, tracker).await?;
        let data = match &result {
            Ok(()) => json!({ "deploy_result": { "ok": true } }),
            Err(reason) => json!({ "deploy_result": { "failed": reason } }),
        };
        recorder
            .journal(plan, clock, Step::Follow.key(), Phase::Done, data.clone())
            .await?;
        memo.learn(Step::Follow, true, &data);
        match &result {
            Ok(()) => tracker.set(Step::Follow, ActionStepState::Done, None).await,
            Err(reason) => {
                tracker
                    .set(Step::Follow, ActionStepState::Failed, Some(reason))
                    .await
            }
        }
    }
    let result = memo
        .deploy_result
        .clone()
        .unwrap_or_else(|| Err("the deploy's result was not recorded".to_string()));

    if !memo.is_done(Step::Finish) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Finish, ActionStepState::Running, None)
            .await;
        let (state, text) = match &result {
            Ok(()) => ("success", describe(plan, "deployed")),
            Err(reason) => ("failure", format!("{}: {reason}", describe(plan, "failed"))),
        };
        for id in memo.deployments.values() {
            ensure_status(ctx, *id, state, &text).await?;
        }
        recorder
            .journal(plan, clock, Step::Finish.key(), Phase::Done, json!({}))
            .await?;
        memo.learn(Step::Finish, true, &json!({}));
        tracker
            .set(Step::Finish, ActionStepState::Done, Some(state))
            .await;
    }

    if !memo.is_done(Step::Unlock) {
        ctx.checkpoint()?;
        tracker
            .set(Step::Unlock, ActionStepState::Running, None)
            .await;
        release(ctx, plan).await;
        recorder
            .journal(plan, clock, Step::Unlock.key(), Phase::Done, json!({}))
            .await?;
        memo.learn(Step::Unlock, true, &json!({}));
        tracker.set(Step::Unlock, ActionStepState::Done, None).await;
    }
    Ok(result)
}

fn describe(plan: &ActionPlan, what: &str) -> String {
    let text = match plan.kind {
        ActionKind::Promote => format!(
            "shipdeck: promote {} into {} {what}",
            short_sha(&plan.sha),
            plan.environment
        ),
        ActionKind::Rollback => format!(
            "shipdeck: roll {} back to {} {what}",
            plan.environment,
            short_sha(&plan.sha)
        ),
    };
    // GitHub caps deployment status descriptions at 140 characters.
    text.chars().take(140).collect()
}

/// After an error mid-way: deployments that were created are marked failed, the pull
/// request's branch is removed and the lock released. Best effort: each part is logged.
async fn cleanup_after_error(ctx: &ExecContext, plan: &ActionPlan, memo: &Memo, reason: &str) {
    let text = format!("{}: {reason}", describe(plan, "failed"));
    let text: String = text.chars().take(140).collect();
    for id in memo.deployments.values() {
        if let Err(error) = ensure_status(ctx, *id, "failure", &text).await {
            ctx.recorder
                .log(
                    ctx.clock.now(),
                    Some(&plan.environment),
                    &format!("could not mark deployment #{id} failed: {error}"),
                    true,
                )
                .await;
        }
    }
    if memo.is_done(Step::Lock) || !matches!(reason, r if r.contains("holds the lock")) {
        release(ctx, plan).await;
    }
}

/// Tries `write` until it succeeds; after an answer that leaves it open whether the write
/// happened (a timeout, a 5xx, a dropped connection), `check` reads whether its effect is
/// visible and only writes again when it is not.
async fn write_checked<T, W, WF, C, CF>(
    ctx: &ExecContext,
    what: &str,
    write: W,
    check: C,
) -> Result<T, ExecError>
where
    W: Fn() -> WF,
    WF: std::future::Future<Output = Result<T, WriteError>>,
    C: Fn() -> CF,
    CF: std::future::Future<Output = Result<Option<T>, WriteError>>,
{
    let attempts = ctx.timing.write_attempts.max(1);
    for attempt in 1..=attempts {
        match write().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(what, %error, attempt, "write unanswered; reading before retrying");
                ctx.recorder
                    .log(
                        ctx.clock.now(),
                        None,
                        &format!("{what}: {error}; checking whether it was applied"),
                        true,
                    )
                    .await;
                // The read may itself fail while the remote side is unwell: try a few times.
                for _ in 0..3 {
                    match check().await {
                        Ok(Some(value)) => return Ok(value),
                        Ok(None) => break,
                        Err(_) => tokio::time::sleep(ctx.timing.poll).await,
                    }
                }
            }
            Err(WriteError::RateLimited { retry_after, .. }) => {
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(60))
                    .min(Duration::from_secs(300));
                ctx.recorder
                    .log(
                        ctx.clock.now(),
                        None,
                        &format!("{what}: rate limited, waiting {} s", wait.as_secs()),
                        true,
                    )
                    .await;
                tokio::time::sleep(wait.min(ctx.timing.poll * 20)).await;
            }
            Err(error) => {
                return Err(ExecError::Write {
                    what: what.to_string(),
                    error: error.to_string(),
                });
            }
        }
        tokio::time::sleep(ctx.timing.poll * attempt).await;
    }
    Err(ExecError::GaveUp(what.to_string()))
}

/// The lock tag's message: who holds the lock, for every other instance to read.
fn lock_message(plan: &ActionPlan, at: DateTime<Utc>) -> String {
    json!({
        "action_id": plan.id,
        "actor": plan.actor,
        "host": plan.host,
        "kind": plan.kind.word(),
        "environment": plan.environment,
        "sha": plan.sha,
        "at": at.to_rfc3339(),
    })
    .to_string()
}

/// Who holds the lock now: `None` when free, `Some(Ok(()))` when we do, `Some(Err(holder))`.
async fn lock_holder(
    ctx: &ExecContext,
    plan: &ActionPlan,
) -> Result<Option<Result<(), String>>, WriteError> {
    let Some(target) = ctx.writer.ref_target(&lock_ref(&plan.environment)).await? else {
        return Ok(None);
    };
    if target.object_type != "tag" {
        return Ok(Some(Err("an unknown holder".to_string())));
    }
    let tag = ctx.writer.tag(&target.sha).await?;
    let message: serde_json::Value = serde_json::from_str(&tag.message).unwrap_or_default();
    if message.get("action_id").and_then(|v| v.as_str()) == Some(plan.id.as_str()) {
        return Ok(Some(Ok(())));
    }
    let holder = format!(
        "{}@{} ({})",
        message
            .get("actor")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown"),
        message.get("host").and_then(|v| v.as_str()).unwrap_or("?"),
        message
            .get("action_id")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown action"),
    );
    Ok(Some(Err(crate::model::sanitize(&holder, 160))))
}

async fn ensure_lock(ctx: &ExecContext, plan: &ActionPlan) -> Result<(), ExecError> {
    let read_error = |error: WriteError| ExecError::Write {
        what: "read the lock".to_string(),
        error: error.to_string(),
    };
    match lock_holder(ctx, plan).await.map_err(read_error)? {
        Some(Ok(())) => return Ok(()),
        Some(Err(holder)) => return Err(ExecError::LockLost(holder)),
        None => {}
    }
    ctx.recorder
        .journal(plan, &ctx.clock, Step::Lock.key(), Phase::Intent, json!({}))
        .await?;
    let now = ctx.clock.now();
    let tagger = Tagger {
        name: plan.actor.clone(),
        email: format!("{}@{}", plan.actor, plan.host),
        date: now,
    };
    let message = lock_message(plan, now);
    let tag_name = format!("shipdeck-lock-{}", plan.id);
    let writer = &ctx.writer;
    let tag_sha = write_checked(
        ctx,
        "create the lock tag",
        || writer.create_tag(&tag_name, &message, &plan.sha, &tagger),
        // An orphaned tag object is harmless: on doubt, make another.
        || async { Ok(None) },
    )
    .await?;
    let full_ref = lock_ref(&plan.environment);
    let created = write_checked(
        ctx,
        "take the lock",
        || async {
            match writer.create_ref(&full_ref, &tag_sha).await {
                Ok(()) => Ok(Ok(())),
                Err(WriteError::RefExists) => Ok(Err(())),
                Err(error) => Err(error),
            }
        },
        || async {
            Ok(match lock_holder(ctx, plan).await? {
                Some(Ok(())) => Some(Ok(())),
                _ => None,
            })
        },
    )
    .await?;
    if created.is_err() {
        // Someone else created it first, or an earlier attempt of ours did.
        return match lock_holder(ctx, plan).await.map_err(read_error)? {
            Some(Ok(())) => Ok(()),
            Some(Err(holder)) => Err(ExecError::LockLost(holder)),
            None => Err(ExecError::LockLost(
                "another action (just released)".to_string(),
            )),
        };
    }
    Ok(())
}

/// Releases our lock (never someone else's) and removes a pull request's branch.
async fn release(ctx: &ExecContext, plan: &ActionPlan) {
    if matches!(plan.method, Method::PullRequest { .. }) {
        let branch = format!("refs/heads/{}", promotion_branch(plan));
        if let Err(error) = ctx.writer.delete_ref(&branch).await {
            ctx.recorder
                .log(
                    ctx.clock.now(),
                    Some(&plan.environment),
                    &format!("could not delete {branch}: {error}"),
                    true,
                )
                .await;
        }
    }
    for _ in 0..ctx.timing.write_attempts.max(1) {
        match lock_holder(ctx, plan).await {
            Ok(Some(Ok(()))) => match ctx.writer.delete_ref(&lock_ref(&plan.environment)).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "could not release the lock; retrying");
                }
            },
            Ok(_) => return,
            Err(error) => tracing::warn!(%error, "could not read the lock; retrying"),
        }
        tokio::time::sleep(ctx.timing.poll).await;
    }
    ctx.recorder
        .log(
            ctx.clock.now(),
            Some(&plan.environment),
            "could not release the lock; break it with a reason once checked",
            true,
        )
        .await;
}

/// Our deployment for `service`: found by the action id in its payload, or created.
async fn ensure_deployment(
    ctx: &ExecContext,
    plan: &ActionPlan,
    service: &str,
) -> Result<u64, ExecError> {
    let find = || async {
        let found = ctx.writer.deployments(service, Some(&plan.sha), 30).await?;
        Ok(found
            .into_iter()
            .find(|d| d.payload.get("action_id").and_then(|v| v.as_str()) == Some(&plan.id))
            .map(|d| d.id))
    };
    if let Some(id) = find().await.map_err(|e: WriteError| ExecError::Write {
        what: "read deployments".to_string(),
        error: e.to_string(),
    })? {
        return Ok(id);
    }
    let request = NewDeployment {
        sha: plan.sha.clone(),
        environment: service.to_string(),
        description: describe(plan, ""),
        payload: json!({
            "action_id": plan.id,
            "kind": plan.kind.word(),
            "actor": plan.actor,
            "source_environment": plan.source,
            "from_sha": plan.from_sha,
            "tool": "shipdeck",
        }),
        production_environment: plan.production,
        required_contexts: plan.required_contexts.clone(),
    };
    let writer = &ctx.writer;
    write_checked(
        ctx,
        &format!("create the {service} deployment"),
        || writer.create_deployment(&request),
        find,
    )
    .await
}

/// Sets a deployment's status unless its latest one already says so.
async fn ensure_status(
    ctx: &ExecContext,
    id: u64,
    state: &str,
    description: &str,
) -> Result<(), ExecError> {
    let current = || async {
        let statuses = ctx.writer.deployment_statuses(id).await?;
        Ok(statuses.first().filter(|s| s.state == state).map(|_| ()))
    };
    if current().await.ok().flatten().is_some() {
        return Ok(());
    }
    let writer = &ctx.writer;
    write_checked(
        ctx,
        &format!("mark deployment #{id} {state}"),
        || writer.set_deployment_status(id, state, description, None, None, true),
        current,
    )
    .await
}

/// The step that moves the commit; returns a detail for the screen.
async fn apply(
    ctx: &ExecContext,
    plan: &ActionPlan,
    memo: &mut Memo,
    tracker: &mut Tracker<'_>,
) -> Result<Option<String>, ExecError> {
    let applied_at = match memo.applied_at {
        Some(at) => at,
        None => {
            let at = ctx.clock.now();
            ctx.recorder
                .journal(
                    plan,
                    &ctx.clock,
                    Step::Apply.key(),
                    Phase::Intent,
                    json!({ "applied_at": at.to_rfc3339() }),
                )
                .await?;
            memo.applied_at = Some(at);
            at
        }
    };
    let writer = &ctx.writer;
    match &plan.method {
        Method::FastForward | Method::ForceBranch => {
            let force = plan.method == Method::ForceBranch;
            let at_target = || async {
                let target = writer
                    .ref_target(&format!("refs/heads/{}", plan.branch))
                    .await?;
                Ok(target.filter(|t| t.sha == plan.sha).map(|_| ()))
            };
            if at_target().await.ok().flatten().is_some() {
                return Ok(Some(format!(
                    "{} already at {}",
                    plan.branch,
                    short_sha(&plan.sha)
                )));
            }
            write_checked(
                ctx,
                &format!("move {}", plan.branch),
                || async {
                    match writer.update_branch(&plan.branch, &plan.sha, force).await {
                        Err(WriteError::NotFastForward) => Err(WriteError::NotFastForward),
                        other => other,
                    }
                },
                at_target,
            )
            .await
            .map_err(|error| match error {
                ExecError::Write { error, .. } if error.contains("fast forward") => {
                    ExecError::Refused(format!(
                        "{} cannot move forward to {}: it has commits the candidate lacks",
                        plan.branch,
                        short_sha(&plan.sha)
                    ))
                }
                other => other,
            })?;
            Ok(Some(format!("{} at {}", plan.branch, short_sha(&plan.sha))))
        }
        Method::PullRequest { merge_method } => {
            merge_through_pull(ctx, plan, memo, tracker, *merge_method).await
        }
        Method::WorkflowDispatch { workflow, inputs } => {
            let inputs = super::plan::dispatch_inputs(
                inputs,
                &plan.environment,
                &plan.sha,
                plan.from_sha.as_deref(),
            );
            let started = || async {
                let runs = writer.runs_for(Some(workflow), None, &plan.sha).await?;
                Ok(runs
                    .into_iter()
                    .filter(|r| r.event == "workflow_dispatch")
                    .find(|r| r.created_at >= applied_at - TimeDelta::seconds(5))
                    .map(|r| Some(r.id)))
            };
            let run_id = match memo.run_id {
                Some(id) => Some(id),
                None => match started().await.ok().flatten() {
                    Some(found) => found,
                    None => {
                        write_checked(
                            ctx,
                            &format!("dispatch {workflow}"),
                            || writer.dispatch_workflow(workflow, &plan.branch, &inputs),
                            started,
                        )
                        .await?
                    }
                },
            };
            memo.run_id = run_id;
            ctx.recorder
                .journal(
                    plan,
                    &ctx.clock,
                    Step::Apply.key(),
                    Phase::Intent,
                    json!({ "run_id": run_id }),
                )
                .await?;
            Ok(run_id.map(|id| format!("run {id}")))
        }
        Method::Command { argv } => {
            if memo.command_started && memo.command_succeeded.is_none() {
                return Err(ExecError::Refused(
                    "the command was interrupted; whether it deployed is not known, so it is \
                     not run again: check the platform, then roll forward or back"
                        .to_string(),
                ));
            }
            if memo.command_succeeded.is_some() {
                return Ok(None);
            }
            ctx.recorder
                .journal(
                    plan,
                    &ctx.clock,
                    Step::Apply.key(),
                    Phase::Intent,
                    json!({ "command_started": true }),
                )
                .await?;
            memo.command_started = true;
            let spec = CommandSpec { argv: argv.clone() };
            let vars = CommandVars {
                sha: plan.sha.clone(),
                env: plan.environment.clone(),
                previous_sha: plan.from_sha.clone(),
            };
            let (line_tx, mut line_rx) = mpsc::unbounded_channel();
            let run = run_command(&spec, &vars, ctx.timing.command_timeout, move |line| {
                let _ = line_tx.send(line);
            });
            let recorder = &ctx.recorder;
            let env = plan.environment.clone();
            let clock = ctx.clock.clone();
            let forward = async {
                while let Some(line) = line_rx.recv().await {
                    recorder
                        .log(
                            clock.now(),
                            Some(&env),
                            line.text.as_str(),
                            line.stream == OutputStream::Stderr,
                        )
                        .await;
                }
            };
            let (result, ()) = tokio::join!(run, forward);
            let succeeded = match &result {
                Ok(exit) => exit.success(),
                Err(_) => false,
            };
            memo.command_succeeded = Some(succeeded);
            ctx.recorder
                .journal(
                    plan,
                    &ctx.clock,
                    Step::Apply.key(),
                    Phase::Intent,
                    json!({ "command_succeeded": succeeded }),
                )
                .await?;
            match result {
                Ok(exit) if exit.success() => Ok(Some("exit 0".to_string())),
                Ok(exit) => Err(ExecError::Refused(match (exit.code, exit.signal) {
                    (Some(code), _) => format!("the command exited with {code}"),
                    (None, Some(signal)) => format!("the command was killed by signal {signal}"),
                    _ => "the command ended without an exit code".to_string(),
                })),
                Err(error) => Err(ExecError::Refused(format!("the command failed: {error}"))),
            }
        }
    }
}

/// Opens a pull request from a branch made at exactly the commit, waits until GitHub says it
/// can merge, and merges it expecting exactly that head.
async fn merge_through_pull(
    ctx: &ExecContext,
    plan: &ActionPlan,
    memo: &mut Memo,
    tracker: &mut Tracker<'_>,
    merge_method: crate::config::MergeMethod,
) -> Result<Option<String>, ExecError> {
    let writer = &ctx.writer;
    let head = promotion_branch(plan);
    let head_ref = format!("refs/heads/{head}");
    let branch_at_sha = || async {
        Ok(writer
            .ref_target(&head_ref)
            .await?
            .filter(|t| t.sha == plan.sha)
            .map(|_| ()))
    };
    // Already merged (an earlier run got this far)?
    if let Some(number) = memo.pull_number
        && let Ok(pull) = writer.pull(number).await
        && pull.merged
    {
        return Ok(Some(format!("pull request #{number} merged")));
    }
    let base_at_sha = writer
        .ref_target(&format!("refs/heads/{}", plan.branch))
        .await
        .ok()
        .flatten()
        .is_some_and(|t| t.sha == plan.sha);
    if base_at_sha {
        return Ok(Some(format!(
            "{} already at {}",
            plan.branch,
            short_sha(&plan.sha)
        )));
    }
    if branch_at_sha().await.ok().flatten().is_none() {
        write_checked(
            ctx,
            &format!("create branch {head}"),
            || async {
                match writer.create_ref(&head_ref, &plan.sha).await {
                    Err(WriteError::RefExists) => Ok(()),
                    other => other,
                }
            },
            branch_at_sha,
        )
        .await?;
    }
    let number = match memo.pull_number {
        Some(number) => number,
        None => {
            let open = || async {
                let pulls = writer.open_pulls(&head, &plan.branch).await?;
                Ok(pulls.first().map(|p| p.number))
            };
            let number = match open().await.ok().flatten() {
                Some(number) => number,
                None => {
                    let title =
                        format!("Promote {} into {}", short_sha(&plan.sha), plan.environment);
                    let body = format!(
                        "Opened by shipdeck for {} (action {}). Merging moves {} to exactly {}.",
                        plan.actor, plan.id, plan.branch, plan.sha
                    );
                    write_checked(
                        ctx,
                        "open the pull request",
                        || async {
                            writer
                                .create_pull(&head, &plan.branch, &title, &body)
                                .await
                                .map(|p| p.number)
                        },
                        open,
                    )
                    .await?
                }
            };
            memo.pull_number = Some(number);
            ctx.recorder
                .journal(
                    plan,
                    &ctx.clock,
                    Step::Apply.key(),
                    Phase::Intent,
                    json!({ "pull_number": number }),
                )
                .await?;
            number
        }
    };
    tracker
        .set(
            Step::Apply,
            ActionStepState::Running,
            Some(&format!(
                "pull request #{number}: waiting until it can merge"
            )),
        )
        .await;
    let deadline = ctx.clock.now() + ctx.timing.run_appear;
    loop {
        let pull = writer.pull(number).await.map_err(|e| ExecError::Write {
            what: format!("read pull request #{number}"),
            error: e.to_string(),
        })?;
        if pull.merged {
            return Ok(Some(format!("pull request #{number} merged")));
        }
        if pull.head_sha != plan.sha {
            return Err(ExecError::Refused(format!(
                "pull request #{number}: its head moved to {}; nothing was merged",
                short_sha(&pull.head_sha)
            )));
        }
        match pull.mergeable {
            Some(true) => break,
            Some(false) => {
                return Err(ExecError::Refused(format!(
                    "pull request #{number} cannot be merged (conflicts or blocked by branch rules)"
                )));
            }
            None if ctx.clock.now() > deadline => {
                return Err(ExecError::Refused(format!(
                    "pull request #{number}: GitHub did not say whether it can merge in time"
                )));
            }
            None => ctx.pause(ctx.timing.poll).await?,
        }
    }
    if plan.require_review {
        await_review(ctx, plan, number, tracker).await?;
    }
    let merged = || async {
        let pull = writer.pull(number).await?;
        Ok(pull.merged.then_some(String::new()))
    };
    write_checked(
        ctx,
        &format!("merge pull request #{number}"),
        || async { writer.merge_pull(number, &plan.sha, merge_method).await },
        merged,
    )
    .await
    .map_err(|error| match error {
        ExecError::Write { what, error } => ExecError::Refused(format!("{what}: {error}")),
        other => other,
    })?;
    Ok(Some(format!("pull request #{number} merged")))
}

/// Waits until someone other than the pull request's author approved it (the review gate,
/// judged on the pull request itself), or gives up after `review_wait`.
async fn await_review(
    ctx: &ExecContext,
    plan: &ActionPlan,
    number: u64,
    tracker: &mut Tracker<'_>,
) -> Result<(), ExecError> {
    tracker
        .set(
            Step::Apply,
            ActionStepState::Running,
            Some(&format!(
                "pull request #{number}: waiting for an approving review by someone other than its author"
            )),
        )
        .await;
    let deadline = ctx.clock.now() + ctx.timing.review_wait;
    loop {
        let author = ctx.writer.pull(number).await.map(|p| p.author);
        let approvers = ctx.reader.approving_reviewers(number).await;
        match (author, approvers) {
            (Ok(author), Ok(approvers)) => {
                let gate = super::gates::review_gate(&approvers, author.as_deref());
                if gate.state == crate::model::GateState::Pass {
                    ctx.recorder
                        .log(
                            ctx.clock.now(),
                            Some(&plan.environment),
                            &format!("pull request #{number}: {}", gate.measured),
                            false,
                        )
                        .await;
                    return Ok(());
                }
            }
            (Err(error), _) => tracing::warn!(%error, "could not read the pull request; retrying"),
            (_, Err(error)) => tracing::warn!(%error, "could not read the reviews; retrying"),
        }
        if ctx.clock.now() > deadline {
            return Err(ExecError::Refused(format!(
                "pull request #{number}: no approving review by someone other than its author \
                 within {} h; nothing was merged",
                ctx.timing.review_wait.num_hours()
            )));
        }
        ctx.pause(ctx.timing.poll).await?;
    }
}

/// Waits for the deploy to finish: the run(s) the move started on the branch, the dispatched
/// run, or the command's exit. `Ok(Err(reason))` when the deploy failed.
async fn follow(
    ctx: &ExecContext,
    plan: &ActionPlan,
    memo: &Memo,
    tracker: &mut Tracker<'_>,
) -> Result<Result<(), String>, ExecError> {
    if let Method::Command { .. } = plan.method {
        return Ok(match memo.command_succeeded {
            Some(true) => Ok(()),
            _ => Err("the command did not succeed".to_string()),
        });
    }
    let applied_at = memo.applied_at.unwrap_or(plan.started_at);
    let writer = &ctx.writer;
    let mut last_detail = String::new();
    loop {
        let now = ctx.clock.now();
        let runs = match (&plan.method, memo.run_id) {
            (Method::WorkflowDispatch { .. }, Some(id)) => {
                writer.workflow_run(id).await.map(|r| vec![r])
            }
            (Method::WorkflowDispatch { workflow, .. }, None) => writer
                .runs_for(Some(workflow), None, &plan.sha)
                .await
                .map(|runs| {
                    runs.into_iter()
                        .filter(|r| r.event == "workflow_dispatch")
                        .collect()
                }),
            _ => writer.runs_for(None, Some(&plan.branch), &plan.sha).await,
        };
        match runs {
            Ok(runs) => {
                let ours: Vec<_> = runs
                    .into_iter()
                    .filter(|r| r.created_at >= applied_at - TimeDelta::seconds(5))
                    .collect();
                if ours.is_empty() {
                    if now - applied_at > ctx.timing.run_appear {
                        return Ok(Err(format!(
                            "no deploy run started for {} on {} within {} min",
                            short_sha(&plan.sha),
                            plan.branch,
                            ctx.timing.run_appear.num_minutes()
                        )));
                    }
                } else if ours.iter().all(|r| r.status == "completed") {
                    let mut failed: Vec<String> = Vec::new();
                    for run in ours
                        .iter()
                        .filter(|r| r.conclusion.as_deref() != Some("success"))
                    {
                        let mut line = format!(
                            "run {} {}",
                            run.id,
                            run.conclusion
                                .as_deref()
                                .unwrap_or("ended without a conclusion")
                        );
                        for diagnosis in diagnose_run(ctx, run.id).await {
                            line.push_str(&format!(
                                ": {} {} ({}): {}",
                                diagnosis.job_name,
                                diagnosis.kind.label(),
                                diagnosis.tier.word(),
                                diagnosis.headline
                            ));
                            log_diagnosis(ctx, plan, &diagnosis).await;
                        }
                        failed.push(line);
                    }
                    return Ok(if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(crate::model::sanitize(&failed.join(", "), 300))
                    });
                } else {
                    let detail = ours
                        .iter()
                        .map(|r| format!("run {} {}", r.id, r.status))
                        .collect::<Vec<_>>()
                        .join(", ");
                    if detail != last_detail {
                        tracker
                            .set(Step::Follow, ActionStepState::Running, Some(&detail))
                            .await;
                        last_detail = detail;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the deploy run; retrying");
            }
        }
        if now - applied_at > ctx.timing.deploy_timeout {
            return Ok(Err(format!(
                "the deploy did not finish within {} min",
                ctx.timing.deploy_timeout.num_minutes()
            )));
        }
        ctx.pause(ctx.timing.poll).await?;
    }
}

/// The diagnosis of each failed job of a failed deploy run, read from its log like a failed
/// CI job's; none when the jobs or logs cannot be read (the run's conclusion still says it
/// failed).
async fn diagnose_run(ctx: &ExecContext, run_id: u64) -> Vec<crate::model::Diagnosis> {
    let jobs = match ctx.reader.run_jobs(run_id).await {
        Ok(jobs) => jobs,
        Err(error) => {
            tracing::warn!(%error, run_id, "could not list the failed deploy run's jobs");
            return Vec::new();
        }
    };
    let mut diagnoses = Vec::new();
    for job in jobs
        .iter()
        .filter(|job| job.status == crate::model::RunStatus::Failed)
        .take(3)
    {
        match ctx.reader.job_log(job.id).await {
            Ok(log) => diagnoses.push(super::diagnosis::classify(
                job.name.as_str(),
                1,
                job.id,
                &log,
            )),
            Err(error) => tracing::warn!(%error, job_id = job.id, "could not read a deploy log"),
        }
    }
    diagnoses.sort_by_key(|d| std::cmp::Reverse(d.tier));
    diagnoses
}

/// Puts a failed deploy job's error lines and the suggested action in the action log.
async fn log_diagnosis(ctx: &ExecContext, plan: &ActionPlan, diagnosis: &crate::model::Diagnosis) {
    let at = ctx.clock.now();
    let env = Some(plan.environment.as_str());
    let head = format!(
        "deploy failed in {}: {} ({}): {}",
        diagnosis.job_name,
        diagnosis.kind.label(),
        diagnosis.tier.word(),
        diagnosis.action
    );
    ctx.recorder.log(at, env, &head, true).await;
    for line in diagnosis.excerpt.iter().take(6) {
        ctx.recorder
            .log(at, env, &format!("  {}", line.as_str()), true)
            .await;
    }
}

/// The plan's description for the audit trail's start record.
pub fn started_entry(plan: &ActionPlan, at: DateTime<Utc>) -> AuditEntry {
    audit_entry(plan, at, "started", plan.reason.as_deref())
}

/// Maps journal records of one action to what they taught (used on resume).
pub fn memo_from_records(records: &[JournalRecord]) -> Memo {
    let mut memo = Memo::default();
    for record in records {
        let Some(step) = Step::from_key(&record.step) else {
            continue;
        };
        memo.learn(step, record.phase == Phase::Done, &record.data);
    }
    memo
}
