//! The engine against a minimal local world (one branch, no runs, no deployments, a healthy
//! app) with a manual clock: a failing source marks only itself, nothing new means no new
//! version, and `snapshot_once` covers every environment.

use crate::support::engine::{serve, wait_for};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use shipdeck::clock::Clock;
use shipdeck::config::{Config, Credentials};
use shipdeck::engine::{Engine, EngineOptions, PollPolicy, snapshot_once};

const BRANCH: &str = r#"{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
  "commit":{"message":"Add checkout","author":{"name":"Ada","date":"2026-01-01T10:00:00Z"}}}}"#;

fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A GitHub with branches and nothing else, and an app whose every smoke endpoint is healthy.
async fn world(health_hits: Arc<AtomicUsize>) -> String {
    let ok = r#"{"status":"ok","authenticated":true,"ok":true,"readable":true}"#;
    let router = Router::new()
        .route(
            "/repos/acme/shop/branches/{branch}",
            get(|| async { BRANCH }),
        )
        .route(
            "/repos/acme/shop/actions/workflows/{file}/runs",
            get(|| async { r#"{"total_count":0,"workflow_runs":[]}"# }),
        )
        .route("/repos/acme/shop/deployments", get(|| async { "[]" }))
        .route(
            "/app/healthz",
            get(move || async move {
                health_hits.fetch_add(1, Ordering::SeqCst);
                ok
            }),
        )
        .route("/app/api/auth/session", post(move || async move { ok }))
        .route("/app/api/{a}/{b}", get(move || async move { ok }));
    serve(router).await
}

fn config(world: &str, sentry: &str) -> Arc<Config> {
    let text = format!(
        r#"
        [github]
        api_url = "{world}"
        repo = "acme/shop"
        [sentry]
        url = "{sentry}"
        org = "acme"
        project_ids = [4501]
        [[environment]]
        name = "dev"
        branch = "main"
        url = "{world}/app"
        [[environment]]
        name = "staging"
        branch = "staging"
        url = "{world}/app"
        "#
    );
    Arc::new(toml::from_str(&text).unwrap())
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn options(config: Arc<Config>, clock: Clock) -> EngineOptions {
    EngineOptions {
        config,
        credentials: Credentials::fixed("gh-token-123", "sentry-token-456"),
        clock,
        title: "local".to_string(),
    }
}

#[tokio::test]
async fn a_failing_source_marks_only_itself_and_quiet_means_no_new_version() {
    let health_hits = Arc::new(AtomicUsize::new(0));
    let world = world(Arc::clone(&health_hits)).await;
    let clock = Clock::manual(start());
    let engine = Engine::spawn_with_policy(
        options(config(&world, &closed_port_url()), clock),
        PollPolicy::fast(),
    )
    .unwrap();
    let mut rx = engine.snapshots();
    let snapshot = wait_for(&mut rx, |s| {
        s.environments.iter().all(|e| {
            e.health.errors.is_failing()
                && e.health.pipeline.last_success.is_some()
                && e.health.deployments.last_success.is_some()
                && e.health.smoke.last_success.is_some()
                && e.health.history.last_success.is_some()
        })
    })
    .await;
    for env in &snapshot.environments {
        assert!(!env.health.pipeline.is_failing());
        assert!(!env.health.smoke.is_failing());
        assert_eq!(env.smoke.len(), 7);
        assert!(env.smoke.iter().all(|r| r.ok), "{:?}", env.smoke);
        assert_eq!(env.head.as_ref().unwrap().short_sha(), "7fd1a60");
        let (_, message) = env.health.errors.last_error.as_ref().unwrap();
        assert!(message.as_str().contains("connection refused"), "{message}");
        assert!(!message.as_str().contains("token"));
    }

    // Nothing changes in the world and the clock stands still: after several more rounds of
    // polling the version must not have moved (repeated errors are counted, not republished).
    let settled = rx.borrow().version;
    let hits_before = health_hits.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while health_hits.load(Ordering::SeqCst) < hits_before + 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pollers stopped polling"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !rx.has_changed().unwrap(),
        "published while nothing changed"
    );
    assert_eq!(rx.borrow().version, settled);
    engine.shutdown().await;
}

#[tokio::test]
async fn snapshot_once_returns_every_environment() {
    let world = world(Arc::new(AtomicUsize::new(0))).await;
    let snapshot = snapshot_once(options(
        config(&world, &closed_port_url()),
        Clock::manual(start()),
    ))
    .await
    .unwrap();
    let names: Vec<&str> = snapshot
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "staging"]);
    assert_eq!(snapshot.title.as_str(), "local");
    for env in &snapshot.environments {
        assert!(env.head.is_some());
        assert!(env.pipeline.is_none(), "no run exists yet");
        assert_eq!(env.smoke.len(), 7);
        assert!(env.health.errors.is_failing());
    }
}
