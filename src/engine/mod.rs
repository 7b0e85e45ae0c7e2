//! The engine: builds the clients from the configuration, runs one poller per (environment,
//! source) and a single store task that owns the world picture, and publishes immutable
//! snapshots over a `watch` channel only when something changed.
//!
//! Pure decisions live in submodules and are tested there: [`stages`] (jobs to pipeline
//! stages), [`schedule`] (when to poll next), [`store`] (applying updates, what counts as
//! a change), [`delivery`] (the delivery figures from the deployment history) and
//! [`auto_promote`] (whether an auto environment promotes its candidate now).

pub mod audit;
pub mod auto_promote;
mod auto_promoter;
pub mod checklist;
pub mod commands;
pub mod delivery;
pub mod diagnosis;
pub mod error_watch;
pub mod executor;
pub mod facts;
pub mod gates;
pub mod guard;
pub mod holds;
pub mod incident;
pub mod journal;
pub mod plan;
mod pollers;
pub mod red_watch;
pub mod releases;
pub mod schedule;
pub mod stages;
pub mod store;
pub mod triage;
pub mod verification;
pub mod verify;
pub mod verify_bench;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::actions::github::GithubWriter;
use crate::actions::notify::{NotifierKind, NotifierTarget};
use crate::clock::Clock;
use crate::config::{Config, Credentials, NotifierKindConfig};
use crate::model::{Snapshot, SourceKind};
use crate::sources::SourceError;
use crate::sources::github::GithubClient;
use crate::sources::sentry::SentryClient;
pub use commands::{ActionRequest, ActionSender, Origin, Submitted};
use pollers::{EnvironmentSources, PollerMemory, fetch, poll_loop, to_update};
pub use releases::WriteOptions;
pub use schedule::PollPolicy;
use store::Store;

/// How many updates may wait for the store before pollers pause.
const UPDATE_QUEUE: usize = 64;

/// What the engine needs to run.
pub struct EngineOptions {
    pub config: Arc<Config>,
    pub credentials: Credentials,
    pub clock: Clock,
    /// Label of the setup, e.g. "acme/shop" or "demo sandbox".
    pub title: String,
}

/// Why the engine could not start. A source failing later shows in the snapshot's health.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Setup(#[from] SourceError),
    #[error("the engine must be started inside a tokio runtime")]
    NoRuntime,
    #[error("{0}")]
    WriteSide(#[from] releases::WriteSideError),
    #[error("{0}")]
    Writer(String),
}

/// The read-side engine.
pub struct Engine;

/// A running engine: its snapshots, its write side (absent when read-only), and a way to
/// stop it.
pub struct EngineHandle {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    actions: Option<ActionSender>,
    reruns: Option<triage::RerunSender>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    usage: GithubUsageProbe,
}

/// Reads what each environment's GitHub read client has cost so far; cloneable, so an
/// endpoint can ask while the engine runs.
#[derive(Clone)]
pub struct GithubUsageProbe(Arc<Vec<(String, Arc<GithubClient>)>>);

impl GithubUsageProbe {
    pub fn read(&self) -> Vec<GithubUsage> {
        self.0
            .iter()
            .map(|(environment, client)| GithubUsage {
                environment: environment.clone(),
                requests: client.request_count(),
                not_modified: client.not_modified_count(),
            })
            .collect()
    }
}

/// What one environment's GitHub read client has cost so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubUsage {
    pub environment: String,
    /// Requests sent, 304s included.
    pub requests: u64,
    /// Answers that were `304 Not Modified` (no rate limit spent).
    pub not_modified: u64,
}

impl Engine {
    /// Spawns the pollers and the state store on the current tokio runtime.
    pub fn spawn(options: EngineOptions) -> Result<EngineHandle, EngineError> {
        Self::spawn_with_policy(options, PollPolicy::default())
    }

    /// Like [`Engine::spawn`] with another polling schedule (tests and the demo use
    /// [`PollPolicy::fast`]).
    pub fn spawn_with_policy(
        options: EngineOptions,
        policy: PollPolicy,
    ) -> Result<EngineHandle, EngineError> {
        Self::spawn_full(options, policy, None)
    }

    /// Spawns the engine; with `write`, also its write side (promotions, rollbacks, the
    /// journal and the audit log). Without it no writer is built and no write token used:
    /// the handle has no [`ActionSender`], so nothing can ask for a write.
    pub fn spawn_full(
        options: EngineOptions,
        policy: PollPolicy,
        write: Option<WriteOptions>,
    ) -> Result<EngineHandle, EngineError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EngineError::NoRuntime)?;
        let environments = build_sources(&options)?;
        tracing::info!(
            title = %crate::model::sanitize(&options.title, 120),
            github = %crate::model::sanitize(options.config.github.api_url.get_ref(), 200),
            environments = options.config.environments.len(),
            sentry = options.config.sentry.is_some(),
            "engine started"
        );
        let mut store = Store::new(&options.config, &options.title, options.clock.now());
        let confirm_flags: Vec<bool> = options
            .config
            .environments
            .iter()
            .map(|env| plan::confirm_by_name(&options.config, env))
            .collect();
        store.set_confirm_by_name(&confirm_flags);
        let (snapshot_tx, snapshot_rx) =
            watch::channel(Arc::new(store.publish(options.clock.now())));
        let (update_tx, mut update_rx) = mpsc::channel(UPDATE_QUEUE);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let store_clock = options.clock.clone();
        tasks.push(runtime.spawn(async move {
            while let Some(update) = update_rx.recv().await {
                if store.apply_input(update) {
                    let snapshot = Arc::new(store.publish(store_clock.now()));
                    snapshot_tx.send_replace(snapshot);
                }
            }
        }));

        let readers: Vec<Arc<GithubClient>> =
            environments.iter().map(|s| Arc::clone(&s.github)).collect();
        let _guard = runtime.enter();
        tasks.push(runtime.spawn(releases::preview_loop(
            Arc::clone(&options.config),
            readers.clone(),
            snapshot_rx.clone(),
            update_tx.clone(),
            options.clock.clone(),
            policy.quiet,
            shutdown_rx.clone(),
        )));
        let triage_readers = readers.clone();
        let usage_readers = options
            .config
            .environments
            .iter()
            .map(|env| env.name.get_ref().clone())
            .zip(readers.iter().cloned())
            .collect::<Vec<_>>();
        let mut triage_write = None;
        let mut rerun_sender = None;
        let actions = match write {
            Some(write) => {
                let writers = build_writers(&options, write.write_timeout)?;
                let writers_for_triage = writers.clone();
                let writers_for_red_watch = writers.clone();
                let writers_for_holds = writers.clone();
                let host = write.host.clone();
                let retry = write.notify_retry;
                let watch_file = error_watch::watch_path(&write.state_dir);
                let (sender, recorder, resumed_rollbacks) = releases::start_write_side(
                    Arc::clone(&options.config),
                    options.clock.clone(),
                    readers,
                    writers.clone(),
                    snapshot_rx.clone(),
                    update_tx.clone(),
                    write,
                    shutdown_rx.clone(),
                    &mut tasks,
                )?;
                // The guard acts, so it exists only beside a write side: a read-only
                // engine shows verifications and never rolls back or notifies.
                let guard = guard::GuardContext {
                    config: Arc::clone(&options.config),
                    clock: options.clock.clone(),
                    actions: sender.clone(),
                    writers,
                    notifiers: notifier_targets(&options),
                    http: reqwest::Client::new(),
                    retry,
                    store: update_tx.clone(),
                    snapshots: snapshot_rx.clone(),
                    views: Default::default(),
                    watch_file: Some(watch_file),
                };
                tasks.push(runtime.spawn(guard::guard_loop(
                    guard,
                    resumed_rollbacks,
                    snapshot_rx.clone(),
                    shutdown_rx.clone(),
                )));
                // Filing issues is acting, so the red watch too needs the write side.
                if options.config.red_watch.enabled {
                    tasks.push(runtime.spawn(red_watch::red_watch_loop(
                        red_watch::RedWatchContext {
                            config: Arc::clone(&options.config),
                            clock: options.clock.clone(),
                            writers: writers_for_red_watch,
                            notifiers: notifier_targets(&options),
                            http: reqwest::Client::new(),
                            retry,
                        },
                        snapshot_rx.clone(),
                        shutdown_rx.clone(),
                    )));
                }
                // Auto-promotion acts, so it too exists only beside a write side.
                let (hold_tx, hold_rx) = holds::hold_channel();
                tasks.push(runtime.spawn(holds::hold_loop(
                    holds::HoldContext {
                        config: Arc::clone(&options.config),
                        clock: options.clock.clone(),
                        readers: triage_readers.clone(),
                        writers: writers_for_holds,
                        recorder: Arc::clone(&recorder),
                        host: host.clone(),
                    },
                    hold_rx,
                    shutdown_rx.clone(),
                )));
                let sender = sender.with_holds(hold_tx);
                if options
                    .config
                    .environments
                    .iter()
                    .any(auto_promoter::is_auto)
                {
                    tasks.push(runtime.spawn(auto_promoter::auto_promote_loop(
                        auto_promoter::PromoterContext {
                            config: Arc::clone(&options.config),
                            clock: options.clock.clone(),
                            actions: sender.clone(),
                            readers: triage_readers.clone(),
                            recorder: Arc::clone(&recorder),
                        },
                        snapshot_rx.clone(),
                        shutdown_rx.clone(),
                    )));
                }
                let (reruns, requests) = triage::rerun_channel();
                triage_write = Some(triage::TriageWrite {
                    writers: writers_for_triage,
                    recorder,
                    requests,
                });
                rerun_sender = Some(reruns);
                Some(sender)
            }
            None => None,
        };
        // Reading logs is read-only: the triage runs in watch mode too, without its acting half.
        tasks.push(runtime.spawn(triage::triage_loop(
            triage::TriageContext {
                config: Arc::clone(&options.config),
                clock: options.clock.clone(),
                readers: triage_readers,
                write: triage_write,
                assistant_key: options.credentials.assistant_key.clone(),
                assistant_key_problem: options.credentials.assistant_key_problem.clone(),
                http: reqwest::Client::new(),
                store: update_tx.clone(),
            },
            snapshot_rx.clone(),
            shutdown_rx.clone(),
        )));

        for sources in environments {
            let sources = Arc::new(sources);
            for kind in SourceKind::ALL {
                if kind == SourceKind::Errors && sources.sentry.is_none() {
                    continue;
                }
                tasks.push(runtime.spawn(poll_loop(
                    kind,
                    Arc::clone(&sources),
                    update_tx.clone(),
                    snapshot_rx.clone(),
                    shutdown_rx.clone(),
                    options.clock.clone(),
                    policy,
                )));
            }
        }
        Ok(EngineHandle {
            snapshots: snapshot_rx,
            actions,
            reruns: rerun_sender,
            shutdown: shutdown_tx,
            tasks,
            usage: GithubUsageProbe(Arc::new(usage_readers)),
        })
    }
}

impl EngineHandle {
    /// The latest snapshot and every later one.
    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// The write side's entrance; `None` for a read-only engine.
    pub fn actions(&self) -> Option<ActionSender> {
        self.actions.clone()
    }

    /// Where `R` (re-run failed CI jobs) goes; `None` for a read-only engine.
    pub fn reruns(&self) -> Option<triage::RerunSender> {
        self.reruns.clone()
    }

    /// Requests and 304s of each environment's GitHub read client so far.
    pub fn github_usage(&self) -> GithubUsageProbe {
        self.usage.clone()
    }

    /// Stops the pollers, lets the store drain, and waits for all of them. An action in
    /// flight finishes its current step first (at most `WriteOptions::stop_grace`) and stays
    /// in the journal for the next start.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One fresh fetch of every source for every environment, then the snapshot (for
/// `shipdeck status --json`). Fails only for setup errors; a source failing shows in health.
pub async fn snapshot_once(options: EngineOptions) -> Result<Snapshot, EngineError> {
    let environments = build_sources(&options)?;
    let clock = &options.clock;
    let mut store = Store::new(&options.config, &options.title, clock.now());
    // Deployments come first: the error source needs the running deployment's time.
    let first_round = environments.iter().map(|sources| async move {
        let mut updates = Vec::new();
        for kind in [
            SourceKind::Pipeline,
            SourceKind::Deployments,
            SourceKind::Smoke,
            SourceKind::History,
        ] {
            let result = fetch(kind, sources, None, &mut PollerMemory::default(), clock).await;
            updates.push(to_update(kind, sources, clock.now(), &result));
        }
        updates
    });
    for update in futures::future::join_all(first_round)
        .await
        .into_iter()
        .flatten()
    {
        store.apply(update);
    }
    let views = store.current().environments.clone();
    let second_round = environments
        .iter()
        .filter(|sources| sources.sentry.is_some())
        .map(|sources| {
            let view = views.get(sources.index);
            async move {
                let result = fetch(
                    SourceKind::Errors,
                    sources,
                    view,
                    &mut PollerMemory::default(),
                    clock,
                )
                .await;
                to_update(SourceKind::Errors, sources, clock.now(), &result)
            }
        });
    for update in futures::future::join_all(second_round).await {
        store.apply(update);
    }
    // The release side last: the gates of the next promotion, the lock and what
    // auto-promotion does are judged from everything read above.
    let seen = store.publish(clock.now());
    let third_round = environments.iter().map(|sources| {
        let seen = &seen;
        let config = &options.config;
        async move {
            releases::release_updates_once(config, sources.index, seen, &sources.github, clock)
                .await
        }
    });
    for updates in futures::future::join_all(third_round).await {
        for update in updates {
            store.apply_release(update);
        }
    }
    Ok(store.publish(clock.now()))
}

/// Where PagerDuty's Events API v2 takes events.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Each environment's notifiers, with their secrets read from the variables the config
/// names. A notifier whose secret is missing is left out with a warning (the credentials
/// check at start reports it first).
fn notifier_targets(options: &EngineOptions) -> Vec<Vec<NotifierTarget>> {
    let secret = |variable: Option<&serde_spanned::Spanned<String>>| {
        variable
            .and_then(|v| options.credentials.notifier_secret(v.get_ref()))
            .map(|s| s.expose().to_string())
    };
    options
        .config
        .environments
        .iter()
        .map(|env| {
            env.notifiers
                .iter()
                .filter_map(|n| {
                    let kind = match n.kind {
                        NotifierKindConfig::Slack => NotifierKind::Slack,
                        NotifierKindConfig::Pagerduty => NotifierKind::PagerDuty,
                        NotifierKindConfig::Webhook => NotifierKind::Webhook,
                    };
                    let url = match (&n.url, secret(n.url_env.as_ref())) {
                        (Some(url), _) => url.get_ref().clone(),
                        (None, Some(url)) => url,
                        (None, None) if kind == NotifierKind::PagerDuty => {
                            PAGERDUTY_EVENTS_URL.to_string()
                        }
                        (None, None) => {
                            tracing::warn!(notifier = ?n.name, "a notifier without its URL is off");
                            return None;
                        }
                    };
                    let routing_key = secret(n.routing_key_env.as_ref());
                    if kind == NotifierKind::PagerDuty && routing_key.is_none() {
                        tracing::warn!(notifier = ?n.name, "a PagerDuty notifier without its key is off");
                        return None;
                    }
                    Some(NotifierTarget {
                        name: n.name.clone().unwrap_or_else(|| format!("{kind:?}").to_lowercase()),
                        kind,
                        url,
                        routing_key,
                    })
                })
                .collect()
        })
        .collect()
}

/// One GitHub writer per environment, with that environment's token.
fn build_writers(
    options: &EngineOptions,
    timeout: std::time::Duration,
) -> Result<Vec<Arc<GithubWriter>>, EngineError> {
    let config = &options.config;
    config
        .environments
        .iter()
        .map(|env| {
            let name = env.name.get_ref();
            let token = options.credentials.github_for(name).ok_or_else(|| {
                EngineError::Writer(format!(
                    "{name}: promoting and rolling back need a GitHub token: set the variable \
                     named by [github] token_env (or github_token_env for {name}), or run \
                     `shipdeck watch` to look without acting"
                ))
            })?;
            GithubWriter::new(
                config.github.api_url.get_ref(),
                config.github.repo.get_ref(),
                token,
                timeout,
            )
            .map(Arc::new)
            .map_err(|e| EngineError::Writer(e.to_string()))
        })
        .collect()
}

/// One set of clients per environment (tokens may differ per environment).
fn build_sources(options: &EngineOptions) -> Result<Vec<EnvironmentSources>, EngineError> {
    let config = &options.config;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| SourceError::Setup(format!("cannot build the HTTP client: {e}")))?;
    config
        .environments
        .iter()
        .enumerate()
        .map(|(index, env)| {
            let name = env.name.get_ref();
            let github = GithubClient::new(
                config.github.api_url.get_ref(),
                config.github.repo.get_ref(),
                options.credentials.github_for(name),
            )?;
            let sentry = match &config.sentry {
                Some(sentry) => Some(SentryClient::new(
                    sentry.url.get_ref(),
                    sentry.org.get_ref(),
                    sentry.project_ids.clone(),
                    options.credentials.sentry_for(name).cloned(),
                )?),
                None => None,
            };
            Ok(EnvironmentSources {
                index,
                config: env.clone(),
                pipeline: config.pipeline.clone(),
                smoke: config.smoke.clone(),
                github: Arc::new(github),
                sentry,
                http: http.clone(),
            })
        })
        .collect()
}
