//! The wall display over simulated hours: the soak run (sandbox, engine with the demo's write
//! side, the wall drawn every simulated minute) on a fast clock through deploys, automatic
//! rollbacks and GitHub and Sentry outages. A few hours run in the default suite; the full
//! day is ignored by default (`cargo test --release --test it soak -- --ignored`). Also: a
//! source that hangs cannot stall its poller.

use std::sync::Arc;
use std::time::Duration;

use crate::support::engine::wait_for;
use crate::support::sandbox::start_sandbox;
use shipdeck::config::{Config, Credentials};
use shipdeck::engine::{Engine, EngineOptions, PollPolicy};
use shipdeck::model::SourceKind;
use shipdeck::sandbox::{FaultEffect, FaultRule};
use shipdeck::soak::plan::{OutageKind, OutageService};
use shipdeck::soak::{SoakOptions, SoakReport, run};

fn assert_soaked(report: &SoakReport) {
    let table = report.table();
    println!("{table}");
    assert!(report.all_targets_met(), "{table}");
    assert!(report.rollbacks >= 1, "{table}");
    for service in [OutageService::Github, OutageService::Sentry] {
        assert!(
            report.outages.iter().any(|o| o.service == service),
            "{table}"
        );
    }
    assert!(
        report
            .outages
            .iter()
            .any(|o| o.kind == OutageKind::RateLimit),
        "{table}"
    );
    // Every source the outages took down was measured in every environment.
    for source in [
        SourceKind::Deployments,
        SourceKind::Pipeline,
        SourceKind::History,
        SourceKind::Errors,
    ] {
        assert!(
            report
                .recoveries
                .iter()
                .filter(|r| r.source == source)
                .count()
                >= report.environments.len(),
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_simulated_hours_of_outages_leave_nothing_stuck() {
    let report = run(&SoakOptions::hours(3)).await.expect("the soak runs");
    assert_soaked(&report);
    assert!(report.frames >= 150, "{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a simulated day: minutes of real time; run with --ignored, in release"]
async fn a_simulated_day_of_deploys_rollbacks_and_outages() {
    let report = run(&SoakOptions::hours(24)).await.expect("the soak runs");
    assert_soaked(&report);
    assert!(
        report
            .outages
            .iter()
            .any(|o| o.lasts >= Duration::from_secs(3600)),
        "{}",
        report.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_never_answers_fails_after_the_request_timeout_and_comes_back() {
    let sandbox = start_sandbox().await;
    let config: Config = toml::from_str(&sandbox.demo_config_toml()).unwrap();
    let policy = PollPolicy {
        request_timeout: Duration::from_secs(1),
        ..PollPolicy::fast()
    };
    let engine = Engine::spawn_with_policy(
        EngineOptions {
            config: Arc::new(config),
            credentials: Credentials::fixed("demo-github", "demo-sentry"),
            clock: sandbox.clock().clone(),
            title: "hang".to_string(),
        },
        policy,
    )
    .unwrap();
    let mut rx = engine.snapshots();
    wait_for(&mut rx, |s| {
        s.environments
            .iter()
            .all(|e| e.health.deployments.last_success.is_some())
    })
    .await;
    // Deployments hang; the GitHub client itself would wait 30 s per read.
    sandbox.faults().add(FaultRule::new(
        "GET",
        "/repos/*/*/deployments",
        FaultEffect::TimeoutBeforeApply,
    ));
    let failing = wait_for(&mut rx, |s| {
        s.environments[0].health.deployments.failures_in_a_row > 0
    })
    .await;
    let error = failing.environments[0]
        .health
        .deployments
        .last_error
        .as_ref()
        .map(|(_, text)| text.as_str().to_string())
        .unwrap_or_default();
    assert!(error.contains("no answer within 1 s"), "{error}");
    sandbox.faults().clear();
    wait_for(&mut rx, |s| {
        s.environments[0].health.deployments.failures_in_a_row == 0
    })
    .await;
    engine.shutdown().await;
}
