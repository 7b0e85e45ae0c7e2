//! The daemon's endpoint on its loopback address: `GET /healthz` (200 with every source and
//! the age of its data when each answered recently, 503 with the reasons otherwise) and
//! `GET /metrics` (the Prometheus text format). Whether the daemon is healthy is
//! [`health`], a plain function over the snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::events::source_key;
use super::metrics::Metrics;
use crate::clock::Clock;
use crate::engine::GithubUsageProbe;
use crate::model::{Snapshot, SourceKind};

/// What the endpoint reads from.
pub struct Shared {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub metrics: Mutex<Metrics>,
    pub usage: GithubUsageProbe,
    pub clock: Clock,
    /// The sources the engine polls (errors only with Sentry configured).
    pub sources: Vec<SourceKind>,
    /// A source whose last good answer is older than this (world time) is unhealthy.
    pub max_age: Duration,
    /// A stop was asked for: the daemon says so instead of taking traffic.
    pub stopping: AtomicBool,
}

/// The health answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `ok`, `unhealthy` or `stopping`.
    pub status: &'static str,
    pub sources: Vec<SourceAge>,
    /// Why it is not ok, one line each.
    pub reasons: Vec<String>,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// One source of one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceAge {
    pub environment: String,
    pub source: &'static str,
    /// Seconds (world time) since it last answered well; `None`: never.
    pub age_seconds: Option<u64>,
    pub ok: bool,
    /// Its latest failure, while it fails.
    pub error: Option<String>,
}

/// Healthy when every polled source of every environment answered well within `max_age`.
pub fn health(
    snapshot: &Snapshot,
    sources: &[SourceKind],
    now: DateTime<Utc>,
    max_age: Duration,
    stopping: bool,
) -> Health {
    let mut ages = Vec::new();
    let mut reasons = Vec::new();
    for env in &snapshot.environments {
        for source in sources {
            let health = env.health.get(*source);
            let age = health.age(now);
            let error = health
                .last_error
                .as_ref()
                .filter(|_| health.failures_in_a_row > 0)
                .map(|(_, e)| e.as_str().to_string());
            let place = format!("{} {}", env.name, source_key(*source));
            let ok = match age {
                None => {
                    reasons.push(match &error {
                        Some(error) => format!("{place}: never answered: {error}"),
                        None => format!("{place}: no answer yet"),
                    });
                    false
                }
                Some(age) if age > max_age => {
                    reasons.push(format!(
                        "{place}: last answered {} s ago (limit {} s){}",
                        age.as_secs(),
                        max_age.as_secs(),
                        error.as_ref().map_or(String::new(), |e| format!(": {e}"))
                    ));
                    false
                }
                Some(_) => true,
            };
            ages.push(SourceAge {
                environment: env.name.as_str().to_string(),
                source: source_key(*source),
                age_seconds: age.map(|a| a.as_secs()),
                ok,
                error,
            });
        }
    }
    if stopping {
        reasons.insert(0, "stopping".to_string());
    }
    let status = if stopping {
        "stopping"
    } else if reasons.is_empty() {
        "ok"
    } else {
        "unhealthy"
    };
    Health {
        status,
        sources: ages,
        reasons,
    }
}

/// The routes.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = shared.snapshots.borrow().clone();
    let answer = health(
        &snapshot,
        &shared.sources,
        shared.clock.now(),
        shared.max_age,
        shared.stopping.load(Ordering::Relaxed),
    );
    let status = if answer.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(answer)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = shared.snapshots.borrow().clone();
    let usage = shared.usage.read();
    let text = shared
        .metrics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .render(&snapshot, &usage, &shared.sources, shared.clock.now());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SafeText;
    use chrono::TimeZone;

    fn snapshot() -> Snapshot {
        let config = crate::config::parse_str(
            "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n",
            "t.toml",
        )
        .expect("parses");
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        crate::engine::store::Store::new(&config, "t", at).publish(at)
    }

    const SOURCES: [SourceKind; 2] = [SourceKind::Deployments, SourceKind::Smoke];
    const LIMIT: Duration = Duration::from_secs(600);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
    }

    #[test]
    fn healthy_when_every_source_answered_recently() {
        let mut snap = snapshot();
        for source in SOURCES {
            snap.environments[0].health.get_mut(source).last_success =
                Some(now() - chrono::TimeDelta::seconds(30));
        }
        let answer = health(&snap, &SOURCES, now(), LIMIT, false);
        assert!(answer.ok(), "{answer:?}");
        assert_eq!(answer.sources.len(), 2);
        assert_eq!(answer.sources[0].age_seconds, Some(30));
        let stopping = health(&snap, &SOURCES, now(), LIMIT, true);
        assert_eq!(stopping.status, "stopping");
    }

    #[test]
    fn a_source_that_never_answered_or_went_quiet_is_unhealthy_with_its_reason() {
        let mut snap = snapshot();
        snap.environments[0].health.deployments.last_success =
            Some(now() - chrono::TimeDelta::minutes(11));
        snap.environments[0].health.deployments.failures_in_a_row = 4;
        snap.environments[0].health.deployments.last_error =
            Some((now(), SafeText::new("GitHub answered 502")));
        let answer = health(&snap, &SOURCES, now(), LIMIT, false);
        assert_eq!(answer.status, "unhealthy");
        assert_eq!(
            answer.reasons,
            [
                "dev deployments: last answered 660 s ago (limit 600 s): GitHub answered 502",
                "dev smoke: no answer yet",
            ]
        );
        assert!(!answer.sources[0].ok);
        // A failing source with a recent good answer is still within its limit.
        snap.environments[0].health.deployments.last_success =
            Some(now() - chrono::TimeDelta::seconds(20));
        snap.environments[0].health.smoke.last_success = Some(now());
        assert!(health(&snap, &SOURCES, now(), LIMIT, false).ok());
    }
}
