//! The red watch end to end: `main`'s CI stays red, and after `red_for` of world time one
//! GitHub issue is open; an engine started again does not file a second; once a green
//! commit's CI passes the issue is commented on and closed. A read-only engine files
//! nothing. Also the `[red_watch]` table's defaults and its mistakes, with their positions.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shipdeck::config::{check_str, parse_str};
use shipdeck::engine::red_watch::{Signal, minutes, parse_incident_marker, view_of};
use shipdeck::model::{ActionKind, ActionResult};
use shipdeck::sandbox::Scenario;
use shipdeck::sandbox::scenario::CiFailure;
use tempfile::TempDir;

use crate::support::release::{
    Bench, DEADLINE, PROD_PR, STAGING_FF, config_text, quiet_scenario, request, submit_and_wait,
    wait_preview,
};

const HOOK: &str = "/_hooks/red";
const TITLE: &str = "Red pipeline on main (dev)";
const RED_FOR: &str = "[red_watch]\nred_for = \"5m\"\n";
/// World time per clock tick: slow enough that the fast pollers see every state.
const STEP: Duration = Duration::from_secs(1);

/// A commit every 40 minutes, every other one failing lint; nothing else goes wrong.
fn red_every_other_commit() -> Scenario {
    let mut scenario = quiet_scenario();
    scenario.commit_every_min_secs = 2400;
    scenario.commit_every_max_secs = 2400;
    scenario.lint_fails_every = 2;
    scenario.ci_failures = vec![CiFailure::Lint];
    scenario.e2e_flake_probability = 0.0;
    scenario.email_degraded_every_secs = 0;
    scenario
}

/// The bench with a webhook notifier on dev (whose branch is `main`).
async fn bench_with_dev_notifier() -> Bench {
    // The hooks live on the sandbox's app server, whose port is known once it runs.
    let bench = Bench::start(red_every_other_commit(), STAGING_FF, PROD_PR, RED_FOR).await;
    let text = config_text(&bench.sandbox, STAGING_FF, PROD_PR, RED_FOR);
    let staging = text
        .find("[[environment]]\nname = \"staging\"")
        .expect("the demo config has staging");
    let notifier = format!(
        "[[environment.notify]]\nkind = \"webhook\"\nname = \"team\"\nurl = \"{}{HOOK}\"\n\n",
        bench.sandbox.hooks_url()
    );
    let text = format!("{}{notifier}{}", &text[..staging], &text[staging..]);
    let config = shipdeck::config::parse_str(&text, "test.toml").expect("test config parses");
    Bench {
        config: Arc::new(config),
        ..bench
    }
}

/// Calls `probe` until it gives a value, or panics with `what` after the deadline.
async fn wait_until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE * 2;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every issue titled [`TITLE`], open or closed, newest first.
async fn red_issues(bench: &Bench) -> Vec<Value> {
    let (status, body) = bench
        .github("/issues?state=all&labels=red-pipeline&per_page=100")
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|issue| issue["title"] == TITLE)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn red_watch_files_one_issue_survives_a_restart_and_closes_when_green() {
    let bench = bench_with_dev_notifier().await;
    let state = TempDir::new().expect("a temporary directory");
    let first = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    let issue = wait_until("an open red-pipeline issue", || async {
        red_issues(&bench)
            .await
            .into_iter()
            .find(|issue| issue["state"] == "open")
    })
    .await;
    drop(clock);
    let number = issue["number"].as_u64().expect("a number");
    let body = issue["body"].as_str().expect("a body");
    assert!(
        body.contains("**CI on `main` (dev)** has been red since"),
        "{body}"
    );
    assert!(body.contains("- Failing stage: "), "{body}");
    assert!(body.contains("- CI run: "), "{body}");
    let labels: Vec<&str> = issue["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(labels, ["shipdeck", "red-pipeline"]);
    let (first_red, _) = parse_incident_marker(body).expect("the body records the incident");
    let told = wait_until("the team told", || async {
        bench.sandbox.received(HOOK).into_iter().next()
    })
    .await;
    assert_eq!(told.body["event"], "pipeline_red", "{}", told.body);
    assert_eq!(told.body["dedup_key"], "shipdeck/dev/ci-red");
    first.shutdown().await;

    // Started again while main is still red, with no memory of the issue: it must find
    // the open one by its title.
    let second = bench.engine(Some(state.path()));
    wait_until("the restarted engine sees main red", || async {
        let snapshot = second.snapshots().borrow().clone();
        matches!(view_of(&snapshot.environments[0]).ci, Signal::Red(_)).then_some(())
    })
    .await;
    let clock = bench.run_clock(STEP);
    let closed = wait_until("the issue closed once main is green", || async {
        let (_, issue) = bench.github(&format!("/issues/{number}")).await;
        (issue["state"] == "closed").then_some(issue)
    })
    .await;
    drop(clock);
    let events: Vec<Value> = wait_until("the notice resolved", || async {
        let events: Vec<Value> = bench
            .sandbox
            .received(HOOK)
            .into_iter()
            .map(|hook| hook.body["event"].clone())
            .collect();
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert_eq!(
        events,
        ["pipeline_red", "resolved"],
        "told once across the restart, resolved once"
    );
    assert_eq!(
        red_issues(&bench).await.len(),
        1,
        "one incident, one issue, across the restart"
    );
    assert_eq!(closed["comments"], 1, "{closed}");
    let (_, comments) = bench.github(&format!("/issues/{number}/comments")).await;
    let comment = comments[0]["body"].as_str().expect("a comment");
    // The restarted engine reports the whole incident, from the first red it never saw.
    let green_at = comment
        .strip_prefix("Green again at ")
        .and_then(|rest| rest.split(", after ").next())
        .and_then(|at| chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M UTC").ok())
        .expect("the comment says when")
        .and_utc();
    let lasted = [
        minutes(green_at - first_red),
        minutes(green_at + chrono::TimeDelta::seconds(59) - first_red),
    ];
    assert!(
        lasted
            .iter()
            .any(|d| comment.ends_with(&format!(", after {d}."))),
        "{comment} should count from {first_red}"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn red_watch_files_nothing_from_a_read_only_engine() {
    let bench = Bench::start(red_every_other_commit(), STAGING_FF, PROD_PR, RED_FOR).await;
    let engine = bench.engine(None);
    let clock = bench.run_clock(STEP);
    // Red for twice `red_for` in what the engine shows: a write side would have filed.
    wait_until("main red for ten minutes", || async {
        let snapshot = engine.snapshots().borrow().clone();
        match view_of(&snapshot.environments[0]).ci {
            Signal::Red(facts) => {
                (bench.clock.now() - facts.since > chrono::TimeDelta::minutes(10)).then_some(())
            }
            _ => None,
        }
    })
    .await;
    drop(clock);
    assert!(red_issues(&bench).await.is_empty());
    assert_eq!(
        bench.sandbox.write_count(),
        0,
        "a read-only engine writes nothing"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_that_stays_failed_gets_one_issue_naming_the_service_and_the_failure() {
    let staging = "[environment.promotion]\nstrategy = \"workflow-dispatch\"\n\
                   workflow = \"deploy.yml\"\nsoak = \"1m\"\n";
    let mut scenario = quiet_scenario();
    scenario
        .deploy_failures
        .insert("staging".to_string(), CiFailure::Schema);
    let bench = Bench::start(scenario, staging, PROD_PR, RED_FOR).await;
    let state = TempDir::new().expect("a temporary directory");
    let engine = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Failed, "{reason:?}");
    let failed_at = bench.clock.now();

    let issue = wait_until("an issue for the failed deploy", || async {
        let (_, issues) = bench.github("/issues?state=all&per_page=100").await;
        issues.as_array().and_then(|all| {
            all.iter()
                .find(|issue| issue["title"] == "Failed deploy in staging")
                .cloned()
        })
    })
    .await;
    let filed_after = bench.clock.now() - failed_at;
    assert!(
        filed_after >= chrono::TimeDelta::minutes(5),
        "filed {filed_after} after the failure, before red_for"
    );
    let body = issue["body"].as_str().expect("a body");
    assert!(
        body.contains("**the latest deploy of staging** has been red since"),
        "{body}"
    );
    assert!(body.contains("- Failing service: staging"), "{body}");
    assert!(body.contains("- Deployments: "), "{body}");

    // Ten more minutes still failed: still the one issue.
    let later = bench.clock.now() + chrono::TimeDelta::minutes(10);
    wait_until("ten more minutes", || async {
        (bench.clock.now() > later).then_some(())
    })
    .await;
    drop(clock);
    let (_, issues) = bench.github("/issues?state=all&per_page=100").await;
    let same: Vec<&Value> = issues
        .as_array()
        .expect("a list")
        .iter()
        .filter(|issue| issue["title"] == "Failed deploy in staging")
        .collect();
    assert_eq!(same.len(), 1, "one incident, one issue");
    assert_eq!(same[0]["state"], "open");
    engine.shutdown().await;
}

const GITHUB: &str = "[github]\nrepo = \"acme/shop\"\n\n[[environment]]\nname = \"dev\"\n\
                      branch = \"main\"\nurl = \"https://dev.example\"\n";

#[test]
fn red_watch_config_defaults_and_settings() {
    let config = parse_str(GITHUB, "shipdeck.toml").expect("parses");
    let red_watch = &config.red_watch;
    assert!(red_watch.enabled);
    assert_eq!(red_watch.red_for.get(), Duration::from_secs(30 * 60));
    assert_eq!(red_watch.labels, ["shipdeck", "red-pipeline"]);

    let text = format!(
        "{GITHUB}\n[red_watch]\nenabled = false\nred_for = \"1h 15m\"\nlabels = [\"ci\"]\n"
    );
    let config = parse_str(&text, "shipdeck.toml").expect("parses");
    assert!(!config.red_watch.enabled);
    assert_eq!(config.red_watch.red_for.get(), Duration::from_secs(75 * 60));
    assert_eq!(config.red_watch.labels, ["ci"]);
}

#[test]
fn red_watch_config_mistakes_name_their_place() {
    // GITHUB is lines 1-7; line 8 is empty, `[red_watch]` is line 9.
    let cases = [
        (
            "red_for = \"0s\"\n",
            "10:11: [red_watch] red_for: must be longer than zero",
        ),
        (
            "labels = [\"shipdeck\", \" \"]\n",
            "10:23: [red_watch] labels #2: must not be empty",
        ),
        (
            "red_for = \"soon\"\n",
            "10:11: [red_watch] red_for: invalid duration \"soon\": expected number at 0 \
             (write it like \"30s\", \"1m 30s\" or \"2h\")",
        ),
        (
            "red_after = \"5m\"\n",
            "10:1: unknown key `red_after` in [red_watch]; allowed keys: enabled, red_for, \
             labels",
        ),
    ];
    for (table, expected) in cases {
        let text = format!("{GITHUB}\n[red_watch]\n{table}");
        let messages: Vec<String> = match check_str(&text, "shipdeck.toml") {
            Ok(_) => panic!("expected an error for {table:?}"),
            Err(errors) => errors
                .iter()
                .map(|e| {
                    e.to_string()
                        .trim_start_matches("shipdeck.toml:")
                        .to_string()
                })
                .collect(),
        };
        assert_eq!(messages, [expected], "{table:?}");
    }
}
