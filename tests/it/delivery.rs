//! Delivery figures end to end: the engine reads the sandbox's deployment history while its
//! clock runs and shipdeck promotes and rolls back, and what it publishes agrees with the
//! deployments and statuses GitHub (the sandbox) reports, counted here from the API. The
//! history source reads what cannot change only once; `status --json` carries the figures;
//! the screen shows them, quietly when their source fails.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use shipdeck::clock::Clock;
use shipdeck::config::Secret;
use shipdeck::engine::EngineHandle;
use shipdeck::model::status::StatusDocument;
use shipdeck::model::{ActionKind, ActionResult, DeliveryFigures, DeliveryOutcome, Snapshot};
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario};
use shipdeck::sources::github::{GithubClient, HistoryMemo};
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use shipdeck::ui::{App, Msg, Theme, draw};
use tempfile::TempDir;

use crate::support::release::{
    Bench, DEADLINE, PROD_PR, STAGING_FF, quiet_scenario, request, submit_and_wait, wait_preview,
};
use crate::support::sandbox::start_sandbox;

const STEP: Duration = Duration::from_secs(1);

fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.to_utc())
}

/// One deployment as the test reads it from the API, independently of shipdeck's reader.
#[derive(Debug)]
struct Seen {
    id: u64,
    sha: String,
    created: DateTime<Utc>,
    marked_rollback: bool,
    succeeded: Option<DateTime<Utc>>,
    failed: Option<DateTime<Utc>>,
    author_at: Option<DateTime<Utc>>,
}

/// Every deployment of `environment`, oldest first, with its outcome and commit time.
async fn seen(bench: &Bench, environment: &str) -> Vec<Seen> {
    let mut out = Vec::new();
    for deployment in bench.deployments(environment).await {
        let id = deployment["id"].as_u64().expect("an id");
        let (_, statuses) = bench
            .github(&format!("/deployments/{id}/statuses?per_page=100"))
            .await;
        // Newest first, as GitHub lists them.
        let statuses = statuses.as_array().cloned().unwrap_or_default();
        let state = |s: &Value| s["state"].as_str().unwrap_or("").to_string();
        let failed = statuses
            .first()
            .filter(|s| matches!(state(s).as_str(), "failure" | "error"))
            .and_then(|s| time(&s["created_at"]));
        let succeeded = statuses
            .iter()
            .rev()
            .find(|s| state(s) == "success")
            .and_then(|s| time(&s["created_at"]));
        let sha = deployment["sha"].as_str().expect("a sha").to_string();
        let (_, commit) = bench.github(&format!("/commits/{sha}")).await;
        let payload = match &deployment["payload"] {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        out.push(Seen {
            id,
            sha,
            created: time(&deployment["created_at"]).expect("a creation time"),
            marked_rollback: payload["kind"] == "rollback",
            succeeded: failed.is_none().then_some(succeeded).flatten(),
            failed,
            author_at: time(&commit["commit"]["author"]["date"]),
        });
    }
    out.sort_by_key(|d| (d.created, d.id));
    out
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

/// Waits until the engine publishes delivery figures for `env` for which `what` holds.
async fn wait_delivery(
    engine: &EngineHandle,
    env: &str,
    what: impl Fn(&DeliveryFigures) -> bool,
) -> (DeliveryFigures, Snapshot) {
    let of = |s: &Snapshot| {
        s.environments
            .iter()
            .find(|e| e.name.as_str() == env)
            .and_then(|e| e.delivery.clone())
    };
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(DEADLINE, rx.wait_for(|s| of(s).is_some_and(|f| what(&f))))
        .await
        .map(|found| found.map(|s| Snapshot::clone(&s)));
    match found {
        Ok(Ok(snapshot)) => (of(&snapshot).expect("present"), snapshot),
        _ => panic!(
            "no matching delivery figures for {env} in time; last: {:#?}",
            of(&engine.snapshots().borrow())
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_agree_with_github_after_a_promotion_and_a_rollback() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let promoted = preview.sha.clone().expect("a candidate");
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    // Before the rollback the figures already count the promotion.
    wait_delivery(&engine, "staging", |f| {
        f.rollbacks == 0 && f.pending == 0 && f.deploys >= 1 && f.rolled_back == 0
    })
    .await;
    wait_preview(&engine, "staging", ActionKind::Rollback, |p| {
        p.allowed() && p.from_sha.as_deref() == Some(promoted.as_str())
    })
    .await;
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Rollback, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    // Restored once the rollback's deployment succeeded.
    let (figures, snapshot) = wait_delivery(&engine, "staging", |f| {
        f.rollbacks == 1 && f.pending == 0 && f.restoring_since.is_none()
    })
    .await;

    // What GitHub says, counted here.
    let seen = seen(&bench, "staging").await;
    let changes: Vec<&Seen> = seen.iter().filter(|d| !d.marked_rollback).collect();
    let deploys = changes.iter().filter(|d| d.succeeded.is_some()).count() as u32;
    let failed = changes.iter().filter(|d| d.failed.is_some()).count() as u32;
    let rollbacks: Vec<&Seen> = seen.iter().filter(|d| d.marked_rollback).collect();
    assert_eq!(rollbacks.len(), 1, "{seen:#?}");
    assert!(
        failed >= 1,
        "the sandbox's history holds a failed staging deploy"
    );
    assert_eq!(figures.deploys, deploys, "{figures:#?}\n{seen:#?}");
    assert_eq!(figures.failed, failed);
    assert_eq!(figures.attempts, deploys + failed);
    assert_eq!(figures.rollbacks, 1);
    assert_eq!(figures.rolled_back, 1);
    assert_eq!(
        figures.change_failure_rate,
        Some(f64::from(failed + 1) / f64::from(deploys + failed))
    );
    assert!(figures.complete);
    // The deploy the rollback replaced is the promotion.
    let rollback = rollbacks[0];
    let replaced = seen
        .iter()
        .rfind(|d| d.created < rollback.created && d.succeeded.is_some())
        .expect("something ran before the rollback");
    assert_eq!(replaced.sha, promoted);

    // Lead time: success minus author time of each commit's first successful deploy.
    let mut measured = std::collections::HashSet::new();
    let leads: Vec<Duration> = changes
        .iter()
        .filter_map(|d| Some((d, d.succeeded?)))
        .filter(|(d, _)| measured.insert(d.sha.clone()))
        .filter_map(|(d, at)| (at - d.author_at?).to_std().ok())
        .collect();
    assert_eq!(figures.lead_times as usize, leads.len());
    assert_eq!(secs(figures.lead_time_median), secs(median(leads)));

    // Time to restore: each failed deploy to the next success, and the promotion's success
    // to the rollback's.
    let successes: Vec<DateTime<Utc>> = seen.iter().filter_map(|d| d.succeeded).collect();
    let mut starts: Vec<DateTime<Utc>> = changes.iter().filter_map(|d| d.failed).collect();
    starts.extend(replaced.succeeded);
    starts.sort();
    let mut restores = Vec::new();
    let mut open_until = None;
    for start in starts {
        if open_until.is_some_and(|end| start < end) {
            continue;
        }
        let end = *successes
            .iter()
            .filter(|s| **s > start)
            .min()
            .expect("every failure here was restored");
        restores.push((end - start).to_std().unwrap());
        open_until = Some(end);
    }
    assert_eq!(figures.restores as usize, restores.len());
    assert_eq!(secs(figures.time_to_restore_median), secs(median(restores)));
    assert_eq!(figures.restoring_since, None);

    // `status --json` carries the same figures.
    let document = StatusDocument::from_snapshot(&snapshot, snapshot.taken_at);
    let json = serde_json::to_value(&document).unwrap();
    let staging = &json["environments"][1];
    assert_eq!(staging["name"], "staging");
    assert_eq!(staging["delivery"]["deploys"], deploys);
    assert_eq!(staging["delivery"]["rollbacks"], 1);
    assert_eq!(staging["delivery"]["window_days"], 30);
    assert_eq!(staging["sources"]["history"]["failing"], false);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_back_to_an_older_commit_outside_shipdeck_counts_as_a_rollback() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let before = seen(&bench, "staging").await;
    let running = before
        .iter()
        .rev()
        .find(|d| d.succeeded.is_some())
        .expect("staging runs something");
    let older = before
        .iter()
        .rev()
        .find(|d| d.succeeded.is_some() && d.sha != running.sha)
        .expect("staging ran something before")
        .sha
        .clone();
    // A force-push by someone else: the platform deploys it, with an empty payload.
    let response = reqwest::Client::new()
        .patch(format!(
            "{}/repos/acme/shop/git/refs/heads/staging",
            bench.sandbox.github_api_url()
        ))
        .bearer_auth("test-github")
        .json(&serde_json::json!({"sha": older, "force": true}))
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(response.status().as_u16(), 200);

    let engine = bench.engine(None);
    let _clock = bench.run_clock(STEP);
    let (figures, _) = wait_delivery(&engine, "staging", |f| {
        f.rollbacks == 1 && f.pending == 0 && f.restoring_since.is_none()
    })
    .await;
    let after = seen(&bench, "staging").await;
    let newest = after.last().expect("the rollback's deployment");
    assert_eq!(newest.sha, older);
    assert!(!newest.marked_rollback, "nobody said it was a rollback");
    assert!(newest.succeeded.is_some());
    let deploys = before.iter().filter(|d| d.succeeded.is_some()).count() as u32;
    let failed = before.iter().filter(|d| d.failed.is_some()).count() as u32;
    assert_eq!(figures.deploys, deploys, "the rollback is not a deploy");
    assert_eq!(figures.rolled_back, 1, "what ran before it was rolled back");
    assert_eq!(
        figures.change_failure_rate,
        Some(f64::from(failed + 1) / f64::from(deploys + failed))
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_change_is_read_once() {
    let sandbox = start_sandbox().await;
    let clock = sandbox.clock().clone();
    let client = GithubClient::new(
        &sandbox.github_api_url(),
        "acme/shop",
        Some(&Secret::new("test-github")),
    )
    .unwrap();
    let mut memo = HistoryMemo::default();
    let window_start = clock.now() - chrono::TimeDelta::days(30);
    let first = client
        .delivery_history("dev", window_start, clock.now(), &mut memo)
        .await
        .unwrap();
    let listed = first.records.len();
    assert!(listed >= 5, "dev has a history: {listed}");
    let in_flight = first
        .records
        .iter()
        .filter(|r| r.outcome == DeliveryOutcome::Pending)
        .count();
    let before = sandbox.requests().len();
    let again = client
        .delivery_history("dev", window_start, clock.now(), &mut memo)
        .await
        .unwrap();
    let requests = sandbox.requests();
    let steady = &requests[before..];
    // The list (a 304), and the statuses of what was still in flight; nothing else.
    assert_eq!(steady.len(), 1 + in_flight, "{steady:#?}");
    assert!(steady[0].not_modified, "the list is a 304: {steady:#?}");
    assert!(steady[1..].iter().all(|r| r.path.ends_with("/statuses")));
    assert_eq!(again.records, first.records);

    // New deployments: only they (and the one each success made inactive) are read.
    clock.advance(Duration::from_secs(20 * 60));
    let before = sandbox.requests().len();
    let later = client
        .delivery_history("dev", window_start, clock.now(), &mut memo)
        .await
        .unwrap();
    let requests = sandbox.requests();
    let read = &requests[before..];
    let new: Vec<u64> = later
        .records
        .iter()
        .map(|r| r.deployment_id)
        .filter(|id| !first.records.iter().any(|r| r.deployment_id == *id))
        .collect();
    assert!(!new.is_empty(), "twenty minutes bring a dev deploy");
    let statuses = read
        .iter()
        .filter(|r| r.path.ends_with("/statuses"))
        .count();
    let commits = read.iter().filter(|r| r.path.contains("/commits/")).count();
    assert!(
        statuses <= 2 * new.len() + in_flight,
        "{statuses} statuses read for {} new deployments",
        new.len()
    );
    assert!(commits <= new.len(), "{commits} commits read");
    assert!(
        statuses + commits < listed,
        "far fewer reads than the {listed} deployments"
    );
    // And the API agrees on what happened.
    let listed: Vec<Value> = reqwest::Client::new()
        .get(format!(
            "{}/repos/acme/shop/deployments?environment=dev&per_page=100",
            sandbox.github_api_url()
        ))
        .bearer_auth("test-github")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(later.records.len(), listed.len().min(100));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_carries_the_figures_of_every_environment() {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: Scenario::default_demo(),
        clock: Clock::system(),
    })
    .await
    .expect("sandbox");
    let out = crate::support::cli::status_json(&sandbox).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    for env in doc["environments"].as_array().expect("environments") {
        let delivery = &env["delivery"];
        assert_eq!(delivery["window_days"], 30, "{env}");
        assert!(delivery["deploys"].as_u64().unwrap() >= 1, "{delivery}");
        assert!(delivery["since"].is_string());
        for key in [
            "per_day",
            "lead_time_median_s",
            "change_failure_rate",
            "time_to_restore_median_s",
            "rollbacks",
        ] {
            assert!(delivery.get(key).is_some(), "{key} in {delivery}");
        }
        assert!(delivery["lead_time_median_s"].is_u64(), "{delivery}");
        assert_eq!(env["sources"]["history"]["failing"], false);
    }
    sandbox.shutdown().await;
}

fn screen(width: u16, height: u16, snapshot: &Snapshot) -> String {
    let theme = Theme::builtin("default").expect("default theme");
    let mut app = App::watching();
    app.update(Msg::Snapshot(Arc::new(snapshot.clone())));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw(frame, &app, snapshot, sample_now(), &theme))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_screen_shows_the_figures_in_tall_layouts_only() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let tall = screen(160, 48, &snapshot);
    assert!(
        tall.contains("Delivery · 30 days · 14 deploys · 0.47/day"),
        "{tall}"
    );
    assert!(
        tall.contains("lead 3h12m · CFR 13% · restore 25m · 1 rollback"),
        "{tall}"
    );
    assert!(
        tall.contains("restoring 2m"),
        "prod's rollback is restoring:\n{tall}"
    );
    let short = screen(80, 24, &snapshot);
    assert!(!short.contains("Delivery"), "{short}");
}

#[test]
fn a_failing_history_keeps_its_figures_and_says_so_quietly() {
    let mut snapshot = SampleBuilder::new(sample_now()).build();
    let staging = &mut snapshot.environments[1];
    staging.health.history.failures_in_a_row = 2;
    staging.health.history.last_error = Some((sample_now(), "GitHub answered 502".into()));
    let dev = &mut snapshot.environments[0];
    dev.delivery = None;
    dev.health.history.failures_in_a_row = 1;
    dev.health.history.last_success = None;
    dev.health.history.last_error = Some((sample_now(), "GitHub answered 502".into()));
    // Cut short: only the newest page of deployments, reaching back two days.
    let prod = &mut snapshot.environments[2];
    if let Some(figures) = prod.delivery.as_mut() {
        figures.complete = false;
        figures.since = figures.computed_at - chrono::TimeDelta::days(2);
    }
    let text = screen(160, 48, &snapshot);
    assert!(text.contains("Delivery · 30 days ⚠ as of 1m ago"), "{text}");
    assert!(text.contains("Delivery ⚠ GitHub answered 502"), "{text}");
    assert!(text.contains("Delivery · 2d00h · 9 deploys"), "{text}");
    // No STALE alarm for figures that move by the day.
    let stale = text.matches("STALE").count();
    let before = screen(160, 48, &SampleBuilder::new(sample_now()).build())
        .matches("STALE")
        .count();
    assert_eq!(stale, before);
}
