//! Smoke flows over real HTTP: against the sandbox's job API a flow creates a job, waits on
//! the world clock for the worker and deletes the job; in the engine a `failing_flow` commit
//! in prod fails the demo's flow by its own reason while dev passes it, and the job is
//! cleaned up all the same; a hanging or absent app fails the step that met it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use shipdeck::clock::Clock;
use shipdeck::config::{Config, Credentials, SmokeCheckConfig, parse_str};
use shipdeck::engine::{Engine, EngineOptions, PollPolicy};
use shipdeck::model::{SmokeResult, Snapshot};
use shipdeck::sandbox::scenario::DefectKind;
use shipdeck::sandbox::{DEMO_FLOW_TOML, Sandbox, Scenario};
use shipdeck::sources::smoke::run_check;

use crate::support::engine::serve;
use crate::support::release::DEADLINE;
use crate::support::sandbox::start_with;

const FLOW: &str = "worker runs a job";

/// A config whose one environment lives at `url` and whose one check is `smoke`.
fn config_at(url: &str, smoke: &str) -> Config {
    let text = format!(
        "[github]\nrepo = \"acme/shop\"\n\
         [[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"{url}\"\n{smoke}"
    );
    match parse_str(&text, "test.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    }
}

fn demo_flow(url: &str) -> SmokeCheckConfig {
    config_at(url, DEMO_FLOW_TOML).smoke.remove(0)
}

/// Moves the manual clock one world second every 5 ms, until dropped.
struct RunningClock(tokio::task::JoinHandle<()>);

impl RunningClock {
    fn start(clock: &Clock) -> RunningClock {
        let clock = clock.clone();
        RunningClock(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                clock.advance(Duration::from_secs(1));
            }
        }))
    }
}

impl Drop for RunningClock {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// App requests the sandbox answered: `(method, path, status)`.
fn app_requests(sandbox: &Sandbox, prefix: &str) -> Vec<(String, String, u16)> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| (r.method, r.path, r.status))
        .collect()
}

#[tokio::test]
async fn a_flow_waits_for_the_sandbox_worker_and_deletes_its_job() {
    let sandbox = start_with(Scenario::default_demo()).await;
    let clock = sandbox.clock().clone();
    let url = sandbox.app_url("dev").expect("dev has an app");
    let check = demo_flow(&url);
    let started = clock.now();
    let result = {
        let _running = RunningClock::start(&clock);
        tokio::time::timeout(
            DEADLINE,
            run_check(&reqwest::Client::new(), &url, &check, &clock),
        )
        .await
        .expect("the flow ends")
    };
    assert!(result.ok, "{result:?}");
    assert_eq!(result.name.as_str(), FLOW);
    assert!(result.latency_ms.is_some());
    // How often it asked depends on how far the running clock got between two requests;
    // that it waited for the worker does not.
    assert!(
        result.detail.as_str().starts_with("3 steps in "),
        "{}",
        result.detail
    );
    assert!(clock.now() - started >= chrono::TimeDelta::seconds(2));

    let requests = app_requests(&sandbox, "/dev/api/jobs");
    let first = requests.first().expect("the flow asked the app");
    assert_eq!(first, &("POST".into(), "/dev/api/jobs".into(), 201));
    let (_, job_path, _) = &requests[1];
    assert!(
        requests[1..requests.len() - 1]
            .iter()
            .all(|(method, path, status)| method == "GET" && path == job_path && *status == 200),
        "{requests:?}"
    );
    assert_eq!(
        requests.last(),
        Some(&("DELETE".into(), job_path.clone(), 204))
    );
    let gone = reqwest::get(format!("{}{}", sandbox.hooks_url(), job_path))
        .await
        .expect("the app answers");
    assert_eq!(gone.status().as_u16(), 404, "the job was deleted");
}

/// Every commit after the start is a `failing_flow` one that shows in prod only; CI always
/// green, so the sandbox's own scheduled promotions bring them to prod.
fn failing_flow_in_prod() -> Scenario {
    let mut scenario = Scenario::default_demo();
    scenario.lint_fails_every = 0;
    scenario.e2e_flake_probability = 0.0;
    scenario.email_degraded_every_secs = 0;
    scenario.defect_every = 1;
    scenario.defects = vec![DefectKind::FailingFlow];
    scenario.defect_environments = vec!["prod".to_string()];
    scenario
}

fn flow_result<'a>(snapshot: &'a Snapshot, env: &str) -> Option<&'a SmokeResult> {
    snapshot
        .environments
        .iter()
        .find(|e| e.name.as_str() == env)?
        .smoke
        .iter()
        .find(|r| r.name.as_str() == FLOW)
}

#[tokio::test]
async fn a_failing_flow_commit_in_prod_fails_the_flow_by_its_wait_and_still_cleans_up() {
    let sandbox = start_with(failing_flow_in_prod()).await;
    let clock = sandbox.clock().clone();
    // Three hours of world: several scheduled promotions have taken new (bad) commits to prod.
    clock.advance(Duration::from_secs(3 * 3600));
    let config = parse_str(&sandbox.demo_config_with_flow_toml(), "demo.toml")
        .unwrap_or_else(|err| panic!("{}", err.report()));
    assert_eq!(config.smoke.len(), 8);
    let engine = Engine::spawn_with_policy(
        EngineOptions {
            config: Arc::new(config),
            credentials: Credentials::fixed("test-github", "test-sentry"),
            clock: clock.clone(),
            title: "flow bench".to_string(),
        },
        PollPolicy::fast(),
    )
    .expect("the engine starts");
    let _running = RunningClock::start(&clock);
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(
        DEADLINE,
        rx.wait_for(|s| {
            flow_result(s, "prod").is_some_and(|r| !r.ok)
                && flow_result(s, "dev").is_some_and(|r| r.ok)
        }),
    )
    .await;
    let snapshot = match found {
        Ok(Ok(snapshot)) => Arc::clone(&snapshot),
        _ => {
            let s = engine.snapshots().borrow().clone();
            panic!(
                "no failing prod flow beside a passing dev one; prod: {:?}; dev: {:?}",
                flow_result(&s, "prod"),
                flow_result(&s, "dev")
            )
        }
    };
    let prod = flow_result(&snapshot, "prod").expect("prod ran the flow");
    assert_eq!(
        prod.detail.as_str(),
        "wait: still \"queued\" after 60s",
        "the flow fails by its own reason, and its cleanup did not fail"
    );
    let prod_env = &snapshot.environments[2];
    assert_eq!(prod_env.smoke.len(), 8);
    assert!(
        prod_env
            .smoke
            .iter()
            .filter(|r| r.name.as_str() != FLOW)
            .all(|r| r.ok),
        "only the flow shows the broken worker: {:?}",
        prod_env.smoke
    );
    let dev = flow_result(&snapshot, "dev").expect("dev ran the flow");
    assert!(dev.detail.as_str().starts_with("3 steps in "), "{dev:?}");

    // The stuck job was deleted after the failed wait.
    let requests = app_requests(&sandbox, "/prod/api/jobs/");
    let (_, deleted, _) = requests
        .iter()
        .find(|(method, _, status)| method == "DELETE" && *status == 204)
        .unwrap_or_else(|| panic!("a DELETE of prod's job in {requests:?}"));
    let polls = requests
        .iter()
        .filter(|(method, path, _)| method == "GET" && path == deleted)
        .count();
    assert!(polls >= 2, "it asked again while it waited: {polls}");
    let gone = reqwest::get(format!("{}{deleted}", sandbox.hooks_url()))
        .await
        .expect("the app answers");
    assert_eq!(gone.status().as_u16(), 404);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_hanging_or_absent_app_fails_the_step_that_met_it() {
    let hanging = Router::new().route(
        "/api/jobs",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "too late"
        }),
    );
    let url = serve(hanging).await;
    let flow = DEMO_FLOW_TOML.replace("status = 201\n", "status = 201\ntimeout = \"200ms\"\n");
    let check = config_at(&url, &flow).smoke.remove(0);
    let clock = Clock::manual(crate::support::sandbox::start_time());
    let http = reqwest::Client::new();
    let result = run_check(&http, &url, &check, &clock).await;
    assert!(!result.ok);
    assert_eq!(result.detail.as_str(), "create: timed out after 200ms");
    assert_eq!(result.latency_ms, None, "nothing answered");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let closed = format!("http://{}", listener.local_addr().expect("an address"));
    drop(listener);
    let result = run_check(&http, &closed, &demo_flow(&closed), &clock).await;
    assert_eq!(result.detail.as_str(), "create: connection refused");
}

#[tokio::test]
async fn the_demo_config_writes_out_the_defaults_then_the_flow() {
    let sandbox = start_with(Scenario::default_demo()).await;
    let config = parse_str(&sandbox.demo_config_with_flow_toml(), "demo.toml")
        .unwrap_or_else(|err| panic!("{}", err.report()));
    assert_eq!(
        config.smoke[..7],
        shipdeck::config::defaults::smoke_checks()[..]
    );
    assert_eq!(config.smoke[7].name.get_ref(), FLOW);
    assert!(config.smoke[7].is_flow());
    // The plain demo config (tests on a clock that stands still) keeps the seven.
    let plain = parse_str(&sandbox.demo_config_toml(), "demo.toml").expect("parses");
    assert_eq!(plain.smoke, shipdeck::config::defaults::smoke_checks());
}
