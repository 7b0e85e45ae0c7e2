//! `shipdeck daemon`: the engine without a screen, for a server or a container. It acts like
//! `shipdeck run` (the guard rolls bad deploys back, the red watch files issues, whatever the
//! engine starts by itself runs), logs what happens as JSON lines on stdout ([`events`]),
//! and answers `/healthz` and `/metrics` on a loopback address ([`http`], [`metrics`]).
//! SIGTERM or SIGINT stops it: nothing new starts, an action in flight finishes its current
//! step and stays in the journal, and the next start resumes it.
//!
//! Screens watching the same environments meanwhile agree with the daemon through GitHub
//! (deployments, the lock, holds), never through the daemon itself.

pub mod events;
pub mod http;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::daemon::DaemonLog;
use crate::config::{Config, Credentials};
use crate::engine::{Engine, EngineError, EngineOptions, PollPolicy, WriteOptions};
use crate::model::{Snapshot, SourceKind};
use events::{Event, source_key};

/// A source whose last good answer is older than this (world time) makes the daemon
/// unhealthy: the slowest poll (the deployment history) runs every five minutes.
pub const MAX_SOURCE_AGE: Duration = Duration::from_secs(10 * 60);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("cannot watch for stop signals: {0}")]
    Signals(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// What the daemon runs with.
pub struct DaemonOptions {
    pub config: Arc<Config>,
    pub credentials: Credentials,
    pub clock: Clock,
    pub title: String,
    pub listen: SocketAddr,
    /// The write side; `None` runs read-only (a config with `read_only = true`).
    pub write: Option<WriteOptions>,
}

/// Sets the process's log to stdout in `format`; the level comes from `SHIPDECK_LOG`
/// (default `info`). Fails quietly when a logger is already set.
pub fn init_logging(format: DaemonLog) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(false);
    let _ = match format {
        DaemonLog::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        DaemonLog::Text => builder.try_init(),
    };
}

/// Binds the endpoint, starts the engine and runs until SIGTERM or SIGINT; then stops the
/// engine (an action in flight finishes its current step) and returns.
pub async fn run(options: DaemonOptions) -> Result<(), DaemonError> {
    let stop = stop_signal()?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| DaemonError::Listen {
            addr: options.listen,
            reason: e.to_string(),
        })?;
    let bound = listener.local_addr().map_err(|e| DaemonError::Listen {
        addr: options.listen,
        reason: e.to_string(),
    })?;
    tracing::info!(
        kind = "listening",
        listen = %bound,
        read_only = options.write.is_none(),
        "daemon listening on http://{bound} (/healthz, /metrics)"
    );

    let sources: Vec<SourceKind> = SourceKind::ALL
        .into_iter()
        .filter(|kind| *kind != SourceKind::Errors || options.config.sentry.is_some())
        .collect();
    let policy = PollPolicy::default().for_clock_speed(options.clock.speed());
    let engine = Engine::spawn_full(
        EngineOptions {
            config: Arc::clone(&options.config),
            credentials: options.credentials,
            clock: options.clock.clone(),
            title: options.title,
        },
        policy,
        options.write,
    )?;
    let shared = Arc::new(http::Shared {
        snapshots: engine.snapshots(),
        metrics: Mutex::new(metrics::Metrics::default()),
        usage: engine.github_usage(),
        clock: options.clock.clone(),
        sources,
        max_age: MAX_SOURCE_AGE,
        stopping: Default::default(),
    });
    let (server_stop, mut server_stopped) = watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, http::router(Arc::clone(&shared)))
            .with_graceful_shutdown(async move {
                let _ = server_stopped.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    let logger = tokio::spawn(log_loop(engine.snapshots(), Arc::clone(&shared)));

    let signal = stop.await;
    shared.stopping.store(true, Ordering::Relaxed);
    tracing::info!(
        kind = "stopping",
        signal,
        "stopping: nothing new starts; an action in flight finishes its current step"
    );
    let started = std::time::Instant::now();
    engine.shutdown().await;
    // The store is gone, so the logger has seen the last snapshot and ends.
    let _ = logger.await;
    server_stop.send_replace(true);
    let _ = server.await;
    tracing::info!(
        kind = "stopped",
        took_ms = started.elapsed().as_millis() as u64,
        "stopped; the journal holds whatever is left to finish"
    );
    Ok(())
}

/// Resolves with the signal's name once SIGTERM or SIGINT arrives. Installed before the
/// engine starts, so an early signal is never the default (abrupt) one.
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>, DaemonError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| DaemonError::Signals(e.to_string()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| DaemonError::Signals(e.to_string()))?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        })
    }
}

/// Logs and counts the events of every snapshot until the engine is gone.
async fn log_loop(mut snapshots: watch::Receiver<Arc<Snapshot>>, shared: Arc<http::Shared>) {
    let mut previous: Option<Arc<Snapshot>> = None;
    loop {
        let current = Arc::clone(&snapshots.borrow_and_update());
        let events = events::between(previous.as_deref(), &current);
        if !events.is_empty() {
            let mut metrics = shared.metrics.lock().unwrap_or_else(|e| e.into_inner());
            for event in &events {
                metrics.record(event);
            }
        }
        for event in &events {
            log_event(event);
        }
        previous = Some(current);
        if snapshots.changed().await.is_err() {
            let last = Arc::clone(&snapshots.borrow());
            if previous.as_ref().is_none_or(|p| p.version != last.version) {
                for event in events::between(previous.as_deref(), &last) {
                    shared
                        .metrics
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(&event);
                    log_event(&event);
                }
            }
            return;
        }
    }
}

/// One log line for one event. Every string in an event comes from a snapshot, where it was
/// sanitized, and no snapshot holds a secret.
fn log_event(event: &Event) {
    match event {
        Event::SourceError {
            environment,
            source,
            error,
            failures_in_a_row,
        } => tracing::warn!(
            kind = "source_error",
            environment,
            source = source_key(*source),
            error,
            failures_in_a_row,
            "{environment} {}: {error}",
            source_key(*source)
        ),
        Event::SourceRecovered {
            environment,
            source,
        } => tracing::info!(
            kind = "source_recovered",
            environment,
            source = source_key(*source),
            "{environment} {} answers again",
            source_key(*source)
        ),
        Event::ActionStarted {
            environment,
            id,
            kind,
            sha,
            from_sha,
            actor,
        } => tracing::info!(
            kind = "action_started",
            environment,
            action_id = id,
            action = kind.word(),
            sha,
            from_sha = from_sha.as_deref().unwrap_or(""),
            actor,
            "{} {environment} to {} by {actor}",
            kind.word(),
            short(sha)
        ),
        Event::ActionStep {
            environment,
            id,
            step,
            state,
            detail,
        } => tracing::info!(
            kind = "action_step",
            environment,
            action_id = id,
            step,
            state = ?state,
            detail = detail.as_deref().unwrap_or(""),
            "{environment}: {step} {state:?}"
        ),
        Event::ActionEnded {
            environment,
            id,
            kind,
            result,
            reason,
        } => {
            let reason = reason.as_deref().unwrap_or("");
            if *result == crate::model::ActionResult::Succeeded {
                tracing::info!(
                    kind = "action_ended",
                    environment,
                    action_id = id,
                    action = kind.word(),
                    result = result.word(),
                    reason,
                    "{} {environment} {}",
                    kind.word(),
                    result.word()
                );
            } else {
                tracing::warn!(
                    kind = "action_ended",
                    environment,
                    action_id = id,
                    action = kind.word(),
                    result = result.word(),
                    reason,
                    "{} {environment} {}: {reason}",
                    kind.word(),
                    result.word()
                );
            }
        }
        Event::GateChanged {
            environment,
            action,
            gate,
            state,
            measured,
            reason,
        } => tracing::info!(
            kind = "gate",
            environment,
            action = action.word(),
            gate,
            state = state.word(),
            measured,
            reason,
            "{} {environment}: {gate} {}",
            action.word(),
            state.word()
        ),
        Event::Verification {
            environment,
            sha,
            phase,
            reason,
        } => tracing::info!(
            kind = "verification",
            environment,
            sha,
            phase = phase.word(),
            reason,
            "{environment} {}: {}: {reason}",
            short(sha),
            phase.word()
        ),
        Event::Guard {
            environment,
            decision,
            sha,
            to_sha,
            reason,
        } => tracing::warn!(
            kind = "guard",
            environment,
            decision,
            sha,
            to_sha = to_sha.as_deref().unwrap_or(""),
            reason,
            "{environment} {}: {decision}: {reason}",
            short(sha)
        ),
        Event::Deployed {
            environment,
            sha,
            deployment_id,
        } => tracing::info!(
            kind = "deployed",
            environment,
            sha,
            deployment_id,
            "{environment} runs {}",
            short(sha)
        ),
        Event::Log {
            environment,
            text,
            error,
        } => {
            let environment = environment.as_deref().unwrap_or("");
            if *error {
                tracing::warn!(kind = "engine_log", environment, "{text}");
            } else {
                tracing::info!(kind = "engine_log", environment, "{text}");
            }
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
