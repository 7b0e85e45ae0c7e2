//! The release side of the engine, as tasks:
//! - the preview loop keeps, for every environment, the gates of the next promotion into it
//!   and of its rollback up to date (read-only: it runs in watch mode too);
//! - the request loop (write side only) takes [`ActionRequest`]s from keys, the command line
//!   and the automatic rollback alike, runs them through the same gates, and starts the
//!   approved ones; on start it finishes what the journal says was interrupted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::auto_promoter::{AutoCache, auto_decision};
use super::checklist::{self, ChecklistMode};
use super::commands::{ActionRequest, ActionSender, Envelope, Origin, Submitted};
use super::executor::{
    ExecContext, ExecTiming, Recorder, memo_from_records, run_action, started_entry,
};
use super::facts::{self, FactsCache};
use super::plan::{self, ActionPlan, is_sha_prefix};
use super::store::{ReleaseUpdate, StoreInput};
use crate::actions::github::GithubWriter;
use crate::clock::Clock;
use crate::config::{Config, EnvironmentConfig};
use crate::engine::audit::AuditLog;
use crate::engine::journal::{Journal, Phase};
use crate::model::{
    ActionKind, ActionResult, AuditEntry, Gate, GateKind, GateReport, GateState, SafeText, Snapshot,
};
use crate::sources::github::GithubClient;

/// How many audit records are loaded into the screen on start.
const AUDIT_TAIL_ON_START: usize = 100;

/// What the write side needs besides the read side's setup.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Where the journal (`journal.jsonl`) and the audit log (`audit.jsonl`) live.
    pub state_dir: PathBuf,
    /// Who acts (recorded in deployments, the lock and the audit log).
    pub actor: String,
    /// The machine, to tell instances apart in the lock.
    pub host: String,
    pub timing: ExecTiming,
    /// How long a write may wait for an answer before it counts as unanswered.
    pub write_timeout: Duration,
    /// How hard a notification is retried (tests shorten the waits).
    pub notify_retry: crate::actions::notify::RetryPolicy,
    /// How long a stop waits for actions in flight to finish their current step before it
    /// abandons them to the journal.
    pub stop_grace: Duration,
}

impl WriteOptions {
    pub fn new(state_dir: PathBuf, actor: &str) -> Self {
        Self {
            state_dir,
            actor: actor.to_string(),
            host: hostname(),
            timing: ExecTiming::default(),
            write_timeout: Duration::from_secs(20),
            notify_retry: crate::actions::notify::RetryPolicy::default(),
            stop_grace: Duration::from_secs(30),
        }
    }
}

/// The machine's name, for the lock holder (never a secret; sanitized when shown).
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn audit_path(state_dir: &Path) -> PathBuf {
    state_dir.join("audit.jsonl")
}

/// Resolves once shutdown is asked for (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Keeps the previews of every environment fresh until shutdown.
pub(crate) async fn preview_loop(
    config: Arc<Config>,
    readers: Vec<Arc<GithubClient>>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    store: mpsc::Sender<StoreInput>,
    clock: Clock,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut caches: Vec<FactsCache> = readers.iter().map(|_| FactsCache::default()).collect();
    let mut auto_caches: Vec<AutoCache> = readers.iter().map(|_| AutoCache::default()).collect();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for index in 0..config.environments.len() {
            let Some(github) = readers.get(index) else {
                continue;
            };
            let Some(cache) = caches.get_mut(index) else {
                continue;
            };
            let Some(auto_cache) = auto_caches.get_mut(index) else {
                continue;
            };
            let (update, auto) =
                preview_update(&config, index, &snapshot, github, cache, auto_cache, &clock).await;
            if store.send(update.into()).await.is_err() {
                return;
            }
            if let Some(decision) = auto
                && store
                    .send(
                        ReleaseUpdate::Auto {
                            env: index,
                            decision: Some(decision),
                        }
                        .into(),
                    )
                    .await
                    .is_err()
            {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// One environment's release side read once (for `shipdeck status`): its previews and lock,
/// and what auto-promotion does there.
pub(crate) async fn release_updates_once(
    config: &Config,
    index: usize,
    snapshot: &Snapshot,
    github: &GithubClient,
    clock: &Clock,
) -> Vec<ReleaseUpdate> {
    let (preview, auto) = preview_update(
        config,
        index,
        snapshot,
        github,
        &mut FactsCache::default(),
        &mut AutoCache::default(),
        clock,
    )
    .await;
    let mut updates = vec![preview];
    if let Some(decision) = auto {
        updates.push(ReleaseUpdate::Auto {
            env: index,
            decision: Some(decision),
        });
    }
    updates
}

async fn preview_update(
    config: &Config,
    index: usize,
    snapshot: &Snapshot,
    github: &GithubClient,
    cache: &mut FactsCache,
    auto_cache: &mut AutoCache,
    clock: &Clock,
) -> (ReleaseUpdate, Option<crate::model::AutoDecision>) {
    let name = config.environments[index].name.get_ref().clone();
    let lock = github.lock(&name).await.ok().flatten();
    let now = clock.now();
    let view = facts::promotion_view(
        config,
        index,
        snapshot,
        github,
        lock.as_ref(),
        cache,
        now,
        None,
        None,
    )
    .await;
    let auto = auto_decision(config, index, snapshot, github, view.as_ref(), auto_cache).await;
    let promotion = view.map(|view| view.preview);
    let has_deploys = snapshot
        .environments
        .get(index)
        .is_some_and(|env| env.deployed().is_some());
    let rollback = if has_deploys {
        facts::rollback_view(
            config,
            index,
            snapshot,
            github,
            lock.as_ref(),
            cache,
            now,
            None,
        )
        .await
    } else {
        None
    };
    let update = ReleaseUpdate::Preview {
        env: index,
        promotion,
        rollback,
        lock,
    };
    (update, auto)
}

/// The write side's shared state.
pub(crate) struct WriteSide {
    config: Arc<Config>,
    clock: Clock,
    readers: Vec<Arc<GithubClient>>,
    writers: Vec<Arc<GithubWriter>>,
    recorder: Arc<Recorder>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    options: WriteOptions,
    /// Environment name -> the action this instance runs there.
    in_flight: StdMutex<HashMap<String, String>>,
    /// Turns true when the engine stops: actions end after their current step.
    stop: watch::Receiver<bool>,
    /// Actions a stop paused: their journal records stay for the next start.
    paused: std::sync::atomic::AtomicUsize,
}

/// Why the write side could not start.
#[derive(Debug, thiserror::Error)]
pub enum WriteSideError {
    #[error("cannot open the journal {path}: {reason}")]
    Journal { path: String, reason: String },
    #[error("cannot open the audit log {path}: {reason}")]
    Audit { path: String, reason: String },
}

/// An automatic rollback a restart resumes from the journal: the guard that asked for it is
/// gone, so the new guard reports its end (issue, notifiers) from the verification kept in
/// its plan.
pub(crate) struct ResumedRollback {
    pub plan: ActionPlan,
    pub done: oneshot::Receiver<super::commands::ActionOutcome>,
}

/// The plan an interrupted action's journal begins with.
fn begun_plan(history: &crate::engine::journal::ActionHistory) -> Option<ActionPlan> {
    let begin = history.records.iter().find(|r| r.phase == Phase::Begin)?;
    match serde_json::from_value::<ActionPlan>(begin.data.clone()) {
        Ok(plan) => Some(plan),
        Err(_) => {
            tracing::error!(
                action = %crate::model::sanitize(&history.action_id, 80),
                "journal holds an unreadable plan; skipped"
            );
            None
        }
    }
}

/// Opens the journal and the audit log (failing here fails the start), then spawns the task
/// that loads the audit tail, resumes interrupted actions and serves requests. Returns the
/// sender every request goes through, and the automatic rollbacks it resumes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_write_side(
    config: Arc<Config>,
    clock: Clock,
    readers: Vec<Arc<GithubClient>>,
    writers: Vec<Arc<GithubWriter>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    store: mpsc::Sender<StoreInput>,
    options: WriteOptions,
    mut shutdown: watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(ActionSender, Arc<Recorder>, Vec<ResumedRollback>), WriteSideError> {
    let state_dir = options.state_dir.clone();
    let journal_error = |path: &Path, reason: String| WriteSideError::Journal {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(&state_dir).map_err(|e| journal_error(&state_dir, e.to_string()))?;
    let own_journal = state_dir.join(format!(
        "journal-{}-{:08x}.jsonl",
        std::process::id(),
        rand::random::<u32>()
    ));
    // Locked before anything else looks at the directory, so no other instance adopts it.
    let own_lock = lock_journal(&own_journal).map_err(|e| journal_error(&own_journal, e))?;
    let adopted = adopt_orphaned_journals(&state_dir);
    let mut journal =
        Journal::open(&own_journal).map_err(|e| journal_error(&own_journal, e.to_string()))?;
    let mut unfinished = Vec::new();
    for (path, histories) in adopted {
        for history in crate::engine::journal::unfinished(&histories) {
            for record in &history.records {
                journal
                    .append(record)
                    .map_err(|e| journal_error(&own_journal, e.to_string()))?;
            }
            unfinished.push(history.clone());
        }
        // Its unfinished actions are in our journal now (synced): the old file can go.
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(%error, path = %path.display(), "could not remove an adopted journal");
        }
    }
    let mut resumed_rollbacks = Vec::new();
    let mut reporters = HashMap::new();
    for plan in unfinished.iter().filter_map(begun_plan) {
        if plan.kind == ActionKind::Rollback
            && plan.origin == Origin::Auto
            && plan.failed_verification.is_some()
        {
            let (done_tx, done) = oneshot::channel();
            reporters.insert(plan.id.clone(), done_tx);
            resumed_rollbacks.push(ResumedRollback { plan, done });
        }
    }
    let audit_file = audit_path(&state_dir);
    let audit = AuditLog::open(&audit_file).map_err(|e| WriteSideError::Audit {
        path: audit_file.display().to_string(),
        reason: e.to_string(),
    })?;
    let audit_tail =
        crate::engine::audit::read_tail(&audit_file, AUDIT_TAIL_ON_START).unwrap_or_default();
    let recorder = Arc::new(Recorder {
        journal: tokio::sync::Mutex::new(journal),
        audit: tokio::sync::Mutex::new(audit),
        store: store.clone(),
    });
    let recorder_out = Arc::clone(&recorder);
    let side = Arc::new(WriteSide {
        config,
        clock,
        readers,
        writers,
        recorder,
        snapshots,
        options,
        in_flight: StdMutex::new(HashMap::new()),
        stop: shutdown.clone(),
        paused: std::sync::atomic::AtomicUsize::new(0),
    });

    let (tx, mut rx) = mpsc::channel::<Envelope>(16);
    tasks.push(tokio::spawn(async move {
        let _own_lock = own_lock;
        for entry in audit_tail {
            let _ = store.send(ReleaseUpdate::Audit(entry).into()).await;
        }
        let mut children = Vec::new();
        side.resume(unfinished, reporters, &mut children).await;
        loop {
            tokio::select! {
                received = rx.recv() => {
                    let Some((request, reply)) = received else { break };
                    let answer = side.handle(request, &mut children).await;
                    let _ = reply.send(answer);
                    children.retain(|task: &JoinHandle<()>| !task.is_finished());
                }
                _ = stopped(&mut shutdown) => break,
            }
        }
        // Each action in flight finishes its current step, then stops by itself (its journal
        // resumes it on the next start); past the grace it is abandoned like a crash would.
        let deadline = tokio::time::Instant::now() + side.options.stop_grace;
        for child in &mut children {
            let _ = tokio::time::timeout_at(deadline, child).await;
        }
        let paused = side.paused.load(std::sync::atomic::Ordering::Relaxed);
        children.retain(|task| !task.is_finished());
        if children.is_empty() && paused == 0 {
            // Every action ended: nothing in the journal needs finishing.
            let _ = std::fs::remove_file(&own_journal);
        } else {
            // Stopping mid-action: the journal (and the lock in GitHub) let the next start
            // finish it.
            for child in &children {
                child.abort();
            }
            tracing::warn!(
                paused,
                abandoned = children.len(),
                "stopped with actions in flight; the journal resumes them on the next start"
            );
        }
    }));
    Ok((
        ActionSender { tx, holds: None },
        recorder_out,
        resumed_rollbacks,
    ))
}

/// Takes an exclusive advisory lock on a journal file: held for the life of the instance, so
/// another instance sharing the state directory knows the journal's owner is alive.
fn lock_journal(path: &Path) -> Result<std::fs::File, String> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    file.try_lock().map_err(|e| e.to_string())?;
    Ok(file)
}

/// The journals in `dir` whose instance is gone (their lock is free), with their records.
fn adopt_orphaned_journals(
    dir: &Path,
) -> Vec<(PathBuf, Vec<crate::engine::journal::ActionHistory>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut adopted = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("journal") && name.ends_with(".jsonl")) {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            // Its instance is running.
            continue;
        }
        // An empty journal may belong to an instance that has just created it and not yet
        // locked it: leave it unless it is old.
        let empty = entry.metadata().map(|m| m.len() == 0).unwrap_or(false);
        if empty {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        match crate::engine::journal::replay(&path) {
            Ok(histories) => adopted.push((path, histories)),
            Err(error) => {
                tracing::error!(%error, path = %path.display(), "cannot read a journal; left as it is");
            }
        }
        // The lock is released when `file` drops; the journal is removed once copied.
    }
    adopted
}

fn blocked_by(kind: GateKind, measured: &str, reason: &str) -> GateReport {
    GateReport {
        gates: vec![Gate::new(kind, GateState::Fail, measured, "", reason)],
    }
}

impl WriteSide {
    /// Finishes (or fails) the actions the journal says were interrupted; `reporters` answer
    /// whoever waits for the end of one (by action id).
    async fn resume(
        self: &Arc<Self>,
        unfinished: Vec<crate::engine::journal::ActionHistory>,
        mut reporters: HashMap<String, oneshot::Sender<super::commands::ActionOutcome>>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) {
        for history in unfinished {
            let Some(plan) = begun_plan(&history) else {
                continue;
            };
            let memo = memo_from_records(&history.records);
            let now = self.clock.now();
            self.recorder
                .log(
                    now,
                    Some(&plan.environment),
                    &format!(
                        "resuming {} of {} to {} after a restart",
                        plan.kind.word(),
                        plan.environment,
                        plan::short_sha(&plan.sha)
                    ),
                    false,
                )
                .await;
            self.recorder
                .audit(super::executor::audit_entry(&plan, now, "resumed", None))
                .await;
            let done_tx = reporters
                .remove(&plan.id)
                .unwrap_or_else(|| oneshot::channel().0);
            self.launch(plan, memo, done_tx, tasks);
        }
    }

    fn env_index(&self, name: &str) -> Option<usize> {
        self.config
            .environments
            .iter()
            .position(|e| e.name.get_ref() == name)
    }

    fn launch(
        self: &Arc<Self>,
        plan: ActionPlan,
        memo: plan::Memo,
        done: oneshot::Sender<super::commands::ActionOutcome>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) {
        let Some(index) = self.env_index(&plan.environment) else {
            return;
        };
        let (Some(writer), Some(reader)) = (
            self.writers.get(index).cloned(),
            self.readers.get(index).cloned(),
        ) else {
            return;
        };
        if let Ok(mut busy) = self.in_flight.lock() {
            busy.insert(plan.environment.clone(), plan.id.clone());
        }
        let side = Arc::clone(self);
        tasks.push(tokio::spawn(async move {
            let ctx = ExecContext {
                writer,
                reader,
                recorder: Arc::clone(&side.recorder),
                clock: side.clock.clone(),
                timing: side.options.timing,
                stop: side.stop.clone(),
            };
            let outcome = run_action(&ctx, &plan, memo, index).await;
            if let Ok(mut busy) = side.in_flight.lock() {
                busy.remove(&plan.environment);
            }
            match outcome {
                Some(outcome) => {
                    let _ = done.send(outcome);
                }
                None => {
                    side.paused
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }

    /// Why the request's checklist ticks cannot be taken: some name no item of the target's
    /// checklist (a typo must not pass for a tick).
    fn unknown_ticks(
        &self,
        env_config: &EnvironmentConfig,
        request: &ActionRequest,
    ) -> Option<String> {
        let configured = match request.kind {
            ActionKind::Promote => env_config
                .promotion
                .as_ref()
                .map(|p| p.checklist.as_slice())
                .unwrap_or_default(),
            ActionKind::Rollback => &[],
        };
        let items = checklist::items_of(configured);
        let unknown = checklist::unknown_ticks(&items, &request.checklist_ticks);
        if unknown.is_empty() {
            return None;
        }
        let known: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        Some(format!(
            "no checklist item named {} in the {} of {}; {}",
            unknown.join(", "),
            request.kind.word(),
            crate::model::sanitize(&request.environment, 40),
            if known.is_empty() {
                "it has no checklist".to_string()
            } else {
                format!("items: {}", known.join(", "))
            }
        ))
    }

    async fn handle(
        self: &Arc<Self>,
        request: ActionRequest,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Submitted {
        let Some(index) = self.env_index(&request.environment) else {
            return Submitted::Rejected(format!(
                "no environment is named {:?}",
                crate::model::sanitize(&request.environment, 40)
            ));
        };
        let env_config = &self.config.environments[index];
        let method = match request.kind {
            ActionKind::Promote => plan::promotion_method(env_config),
            ActionKind::Rollback => plan::rollback_method(env_config),
        };
        let method = match method {
            Ok(method) => method,
            Err(error) => return Submitted::Rejected(error.to_string()),
        };
        if let Some(sha) = &request.sha
            && !is_sha_prefix(sha)
        {
            return Submitted::Rejected(format!(
                "{:?} is not a commit SHA (7 to 40 hexadecimal characters)",
                crate::model::sanitize(sha, 60)
            ));
        }
        if let Some(unknown) = self.unknown_ticks(env_config, &request) {
            return Submitted::Rejected(unknown);
        }
        if let Some(holder) = self
            .in_flight
            .lock()
            .ok()
            .and_then(|busy| busy.get(&request.environment).cloned())
        {
            return Submitted::Blocked(blocked_by(
                GateKind::Lock,
                &format!("held by this instance ({holder})"),
                &format!("{holder} is still running in {}", request.environment),
            ));
        }
        let github = &self.readers[index];
        let writer = &self.writers[index];
        let now = self.clock.now();

        let mut overrides = Vec::new();
        if let Some(reason) = request.break_lock.as_deref() {
            let reason = crate::model::sanitize(reason, 200);
            if reason.trim().is_empty() {
                return Submitted::Rejected("breaking a lock needs a reason".to_string());
            }
            if let Ok(Some(lock)) = github.lock(&request.environment).await {
                match writer
                    .delete_ref(&plan::lock_ref(&request.environment))
                    .await
                {
                    Ok(_) => {
                        let entry = AuditEntry {
                            at: now,
                            action_id: lock
                                .action_id
                                .clone()
                                .unwrap_or_else(|| SafeText::new("unknown")),
                            event: SafeText::new("break_lock"),
                            actor: SafeText::with_max(&request.actor, 60),
                            environment: SafeText::with_max(&request.environment, 40),
                            from_sha: None,
                            to_sha: None,
                            result: SafeText::new("succeeded"),
                            reason: Some(SafeText::with_max(&reason, 200)),
                            overrides: vec![SafeText::with_max(
                                &format!("lock held by {}", lock.holder),
                                200,
                            )],
                        };
                        self.recorder.audit(entry).await;
                        self.recorder
                            .log(
                                now,
                                Some(&request.environment),
                                &format!("lock held by {} broken: {reason}", lock.holder),
                                false,
                            )
                            .await;
                        overrides.push(format!("lock broken: {reason}"));
                    }
                    Err(error) => {
                        return Submitted::Rejected(format!("could not break the lock: {error}"));
                    }
                }
            }
        }

        let lock = match github.lock(&request.environment).await {
            Ok(lock) => lock,
            Err(error) => {
                return Submitted::Blocked(GateReport {
                    gates: vec![Gate::new(
                        GateKind::Lock,
                        GateState::Unknown,
                        "not known",
                        "no other promotion or rollback in flight",
                        &format!("cannot read the lock: {error}"),
                    )],
                });
            }
        };
        let snapshot = self.snapshots.borrow().clone();
        let mut cache = FactsCache::default();
        let requested = match &request.sha {
            Some(sha) => match github.commit(sha).await {
                Ok(commit) => Some(commit.sha),
                Err(error) => {
                    return Submitted::Rejected(format!(
                        "commit {} cannot be read: {error}",
                        crate::model::sanitize(sha, 40)
                    ));
                }
            },
            None => None,
        };
        let override_freeze = request
            .override_freeze
            .as_deref()
            .map(|r| crate::model::sanitize(r, 200))
            .filter(|r| !r.trim().is_empty());
        let mut pr_labels = None;
        let preview = match request.kind {
            ActionKind::Promote => facts::promotion_view(
                &self.config,
                index,
                &snapshot,
                github,
                lock.as_ref(),
                &mut cache,
                now,
                requested.as_deref(),
                override_freeze.as_deref(),
            )
            .await
            .map(|v| {
                pr_labels = v.facts.and_then(|f| f.pr_labels);
                v.preview
            }),
            ActionKind::Rollback => {
                facts::rollback_view(
                    &self.config,
                    index,
                    &snapshot,
                    github,
                    lock.as_ref(),
                    &mut cache,
                    now,
                    requested.as_deref(),
                )
                .await
            }
        };
        let Some(mut preview) = preview else {
            return Submitted::Rejected(format!(
                "nothing to {} in {}",
                request.kind.word(),
                request.environment
            ));
        };
        // The checklist is judged here on the request's ticks, whatever the screen showed.
        let checklist_mode = match request.origin {
            Origin::Auto => ChecklistMode::Unattended,
            Origin::Key | Origin::Cli => ChecklistMode::Human,
        };
        let checklist_items = preview.checklist.clone();
        checklist::rejudge(
            &mut preview.gates,
            &checklist_items,
            &request.checklist_ticks,
            pr_labels.as_deref(),
            checklist_mode,
        );
        let Some(sha) = preview.sha.clone() else {
            return Submitted::Blocked(preview.gates);
        };
        let report = preview.gates.clone();
        let freeze_overridden = override_freeze.is_some()
            && request.kind == ActionKind::Promote
            && super::gates::freeze_state(&self.config.freezes, &request.environment, now)
                .active
                .is_some();
        if !report.allowed() {
            let reasons: Vec<String> = report
                .blocking()
                .iter()
                .map(|g| format!("{}: {}", g.kind.label(), g.reason))
                .collect();
            let entry = AuditEntry {
                at: now,
                action_id: SafeText::new("-"),
                event: SafeText::new(request.kind.word()),
                actor: SafeText::with_max(&request.actor, 60),
                environment: SafeText::with_max(&request.environment, 40),
                from_sha: preview.from_sha.clone(),
                to_sha: Some(sha.clone()),
                result: SafeText::new(ActionResult::Blocked.word()),
                reason: Some(SafeText::with_max(&reasons.join("; "), 300)),
                overrides: Vec::new(),
            };
            self.recorder.audit(entry).await;
            return Submitted::Blocked(report);
        }
        if report.needs_confirmation() && !request.confirmed_high_risk {
            return Submitted::NeedsConfirmation(report);
        }
        if let Some(reason) = override_freeze.as_ref().filter(|_| freeze_overridden) {
            overrides.push(format!("freeze: {reason}"));
        }
        if request.confirmed_high_risk && report.needs_confirmation() {
            overrides.push(format!(
                "high-risk files confirmed: {}",
                preview
                    .high_risk_files
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        let services = env_config
            .effective_services()
            .into_iter()
            .map(|s| s.github_environment)
            .collect();
        let plan = ActionPlan {
            id: plan::new_action_id(now, request.kind),
            kind: request.kind,
            environment: request.environment.clone(),
            branch: env_config.branch.clone(),
            source: preview.source.as_ref().map(|s| s.as_str().to_string()),
            services,
            sha,
            from_sha: preview.from_sha.clone(),
            method,
            actor: crate::model::sanitize(&request.actor, 60),
            host: crate::model::sanitize(&self.options.host, 60),
            origin: request.origin,
            overrides,
            production: plan::confirm_by_name(&self.config, env_config),
            required_contexts: env_config
                .promotion
                .as_ref()
                .map(|p| p.required_contexts.clone())
                .unwrap_or_default(),
            started_at: now,
            reason: request
                .reason
                .as_deref()
                .map(|r| crate::model::sanitize(r, 300)),
            require_review: report.gate(GateKind::Review).is_some(),
            failed_verification: request.failed_verification.clone(),
        };
        let begin = serde_json::to_value(&plan).unwrap_or_else(|_| json!({}));
        if let Err(error) = self
            .recorder
            .journal(&plan, &self.clock, "begin", Phase::Begin, begin)
            .await
        {
            return Submitted::Rejected(error.to_string());
        }
        self.recorder.audit(started_entry(&plan, now)).await;
        if checklist_mode == ChecklistMode::Human {
            let context = checklist::TickContext {
                action_id: &plan.id,
                actor: &plan.actor,
                environment: &plan.environment,
                from_sha: plan.from_sha.as_deref(),
                sha: &plan.sha,
                at: now,
            };
            for entry in
                checklist::tick_entries(&checklist_items, &request.checklist_ticks, context)
            {
                self.recorder.audit(entry).await;
            }
        }
        self.recorder
            .log(
                now,
                Some(&plan.environment),
                &format!(
                    "{} {} to {} started by {}",
                    plan.kind.word(),
                    plan.environment,
                    plan::short_sha(&plan.sha),
                    plan.actor
                ),
                false,
            )
            .await;
        let (done_tx, done_rx) = oneshot::channel();
        let id = plan.id.clone();
        self.launch(plan, plan::Memo::default(), done_tx, tasks);
        Submitted::Started { id, done: done_rx }
    }
}
