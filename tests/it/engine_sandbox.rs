//! The engine against the sandbox over real HTTP, with a manual clock: the whole picture
//! arrives (three environments, deployed commits, seven stages, seven smoke results, error
//! buckets), repeat polls are answered 304 from ETags, and stepping the clock moves a run.

use crate::support::engine::wait_for;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shipdeck::clock::Clock;
use shipdeck::config::{Config, Credentials};
use shipdeck::engine::{Engine, EngineOptions, PollPolicy};
use shipdeck::model::Snapshot;
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario, Service};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
}

async fn sandbox(clock: Clock) -> Sandbox {
    Sandbox::start(SandboxOptions {
        scenario: Scenario::default_demo(),
        clock,
    })
    .await
    .unwrap()
}

fn options(sandbox: &Sandbox, clock: Clock) -> EngineOptions {
    let config: Config = toml::from_str(&sandbox.demo_config_toml()).unwrap();
    EngineOptions {
        config: Arc::new(config),
        credentials: Credentials::fixed("demo-github", "demo-sentry"),
        clock,
        title: "demo sandbox".to_string(),
    }
}

fn complete(s: &Snapshot) -> bool {
    s.environments.iter().all(|e| {
        e.deployed().is_some() && e.pipeline.is_some() && e.smoke.len() == 7 && !e.errors.is_empty()
    })
}

#[tokio::test]
async fn the_whole_picture_arrives_and_repeat_polls_use_etags() {
    let clock = Clock::manual(start());
    let sandbox = sandbox(clock.clone()).await;
    let engine = Engine::spawn_with_policy(options(&sandbox, clock), PollPolicy::fast()).unwrap();
    let mut rx = engine.snapshots();
    let snapshot = wait_for(&mut rx, complete).await;
    let names: Vec<&str> = snapshot
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    for env in &snapshot.environments {
        let deployed = env.deployed().unwrap();
        assert_eq!(deployed.sha.len(), 40, "{}", env.name);
        assert!(!deployed.subject.is_empty());
        let pipeline = env.pipeline.as_ref().unwrap();
        assert_eq!(pipeline.stages.len(), 7, "{}", env.name);
        assert_eq!(pipeline.stages[0].name.as_str(), "Install");
        assert!(
            !env.health.pipeline.is_failing(),
            "{:?}",
            env.health.pipeline
        );
    }
    let prod = &snapshot.environments[2];
    let services: Vec<&str> = prod
        .services
        .iter()
        .map(|s| s.github_environment.as_str())
        .collect();
    assert_eq!(services, ["prod", "prod-worker"]);
    assert!(snapshot.rate_limit.is_some());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !sandbox
        .requests()
        .iter()
        .any(|r| r.service == Service::Github && r.not_modified)
    {
        assert!(tokio::time::Instant::now() < deadline, "no 304 within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn stepping_the_clock_moves_a_run_through_its_stages() {
    let clock = Clock::manual(start());
    let sandbox = sandbox(clock.clone()).await;
    let engine =
        Engine::spawn_with_policy(options(&sandbox, clock.clone()), PollPolicy::fast()).unwrap();
    let mut rx = engine.snapshots();
    let first = wait_for(&mut rx, complete).await;
    let progress = |s: &Snapshot| -> Vec<String> {
        s.environments
            .iter()
            .filter_map(|e| e.pipeline.as_ref())
            .map(|p| {
                let stages: Vec<&str> = p.stages.iter().map(|st| st.status.word()).collect();
                format!("{} {} {}", p.run_id, p.status.word(), stages.join(","))
            })
            .collect()
    };
    let before = progress(&first);
    // Step world time a minute at a time until some pipeline shows a different state.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        clock.advance(Duration::from_secs(60));
        let moved = tokio::time::timeout(
            Duration::from_secs(2),
            rx.wait_for(|s| progress(s) != before),
        )
        .await;
        if matches!(moved, Ok(Ok(_))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pipelines never moved: {before:?}"
        );
    }
    engine.shutdown().await;
    sandbox.shutdown().await;
}
