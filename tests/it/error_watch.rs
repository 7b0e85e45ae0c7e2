//! The error watch after a deploy's window, end to end: a commit whose new error type comes
//! out hours after it was verified gets exactly one watch alert and stays deployed (the
//! captain decides), also across a restart; one whose new error type comes out after the
//! watch ended gets nothing.
//! Time jumps on the manual clock: hours of world time pass without waiting for them.

use std::sync::Arc;
use std::time::Duration;

use shipdeck::engine::EngineHandle;
use shipdeck::model::{ActionKind, ActionResult, Snapshot, VerificationPhase};
use shipdeck::sandbox::scenario::DefectKind;
use shipdeck::sandbox::{ReceivedHook, Scenario};
use tempfile::TempDir;

use crate::support::release::{
    Bench, DEADLINE, PROD_PR, STAGING_FF, quiet_scenario, request, submit_and_wait, wait_preview,
};

const STEP: Duration = Duration::from_secs(1);

/// New commits every ten minutes, each bringing a new error type into staging
/// `after` the deploy; nothing else goes wrong.
fn late_error_types(after: Duration) -> Scenario {
    let mut scenario = quiet_scenario();
    scenario.commit_every_min_secs = 600;
    scenario.commit_every_max_secs = 720;
    scenario.lint_fails_every = 0;
    scenario.e2e_flake_probability = 0.0;
    scenario.email_degraded_every_secs = 0;
    scenario.defect_every = 1;
    scenario.defects = vec![DefectKind::NewErrorType];
    scenario.defect_environments = vec!["staging".to_string()];
    scenario.new_error_type_after_secs = after.as_secs();
    scenario.error_rates.insert("staging".to_string(), 20.0);
    scenario
}

async fn bench_with(after: Duration, watch: &str) -> Bench {
    let bench = Bench::start(late_error_types(after), STAGING_FF, PROD_PR, "").await;
    let staging = format!(
        "{STAGING_FF}\n[environment.verify]\nwindow = \"10m\"\nwatch = \"{watch}\"\n\
         new_issue_events = 5\n\n\
         [[environment.notify]]\nkind = \"webhook\"\nname = \"sink\"\nurl = \"{}/_hooks/sink\"\n",
        bench.sandbox.hooks_url()
    );
    let text = crate::support::release::config_text(&bench.sandbox, &staging, PROD_PR, "");
    let config = shipdeck::config::parse_str(&text, "test.toml").expect("test config parses");
    Bench {
        config: Arc::new(config),
        ..bench
    }
}

/// Promotes dev's commit into staging and waits until its window verified it.
async fn promote_and_verify(engine: &EngineHandle) -> String {
    let preview = wait_preview(engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let sha = preview.sha.expect("a candidate");
    let (_, result, reason) = submit_and_wait(engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    wait_snapshot(engine, "the deploy verified", |s| {
        s.environments[1]
            .verification
            .as_ref()
            .is_some_and(|v| v.sha == sha && v.phase == VerificationPhase::Verified)
    })
    .await;
    sha
}

async fn wait_snapshot(
    engine: &EngineHandle,
    what: &str,
    mut done: impl FnMut(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(DEADLINE, rx.wait_for(|s| done(s)))
        .await
        .map(|s| s.map(|s| Arc::clone(&s)));
    match found {
        Ok(Ok(snapshot)) => snapshot,
        _ => {
            let s = engine.snapshots().borrow().clone();
            panic!(
                "{what}: not in time; verification: {:#?}; guard: {:#?}; new types: {:#?}",
                s.environments[1].verification,
                s.environments[1].guard,
                s.environments[1].errors.new_types,
            )
        }
    }
}

/// The watch alerts about the deploy of `sha`. (The commit staging ran before has a watch
/// of its own, which may find staging's seeded error type.)
fn watch_notices(bench: &Bench, sha: &str) -> Vec<ReceivedHook> {
    bench
        .sandbox
        .received("/_hooks/sink")
        .into_iter()
        .filter(|hook| hook.body["event"] == "watch_finding" && hook.body["sha"] == sha)
        .collect()
}

/// Lets `minutes` more of world time pass through the engine (its polls and the guard).
async fn let_time_pass(engine: &EngineHandle, minutes: i64) {
    let from = engine.snapshots().borrow().taken_at;
    wait_snapshot(engine, "time passed", |s| {
        s.taken_at > from + chrono::TimeDelta::minutes(minutes)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_error_type_hours_after_a_verified_deploy_alerts_once_and_rolls_nothing_back() {
    let bench = bench_with(Duration::from_secs(36 * 3600), "48h").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    let sha = promote_and_verify(&engine).await;
    assert!(watch_notices(&bench, &sha).is_empty());

    drop(clock);
    bench
        .clock
        .advance(Duration::from_secs(36 * 3600 + 10 * 60));
    let _clock = bench.run_clock(STEP);
    let snapshot = wait_snapshot(&engine, "the watch found the new type", |s| {
        s.environments[1]
            .verification
            .as_ref()
            .and_then(|v| v.watch.as_ref())
            .is_some_and(|w| !w.findings.is_empty())
    })
    .await;
    let view = snapshot.environments[1].verification.as_ref().unwrap();
    assert_eq!(view.sha, sha);
    assert_eq!(view.phase, VerificationPhase::Verified, "{}", view.reason);

    let notices = tokio::time::timeout(DEADLINE, async {
        loop {
            let notices = watch_notices(&bench, &sha);
            if !notices.is_empty() {
                break notices;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the watch alert reaches the webhook");
    let body = &notices[0].body;
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(&format!("new error type 36h after deploy {}: ", &sha[..7])),
        "{body:#}"
    );
    assert!(reason.contains("press r to roll back"), "{body:#}");
    let links = body["links"].as_array().cloned().unwrap_or_default();
    assert!(
        links
            .first()
            .and_then(|l| l["label"].as_str())
            .is_some_and(|label| label.starts_with("New error ")),
        "{body:#}"
    );

    // More polls, more snapshots: still one alert, and the commit still runs.
    let_time_pass(&engine, 20).await;
    assert_eq!(watch_notices(&bench, &sha).len(), 1);
    assert_eq!(bench.branch_head("staging").await, sha);
    let last = engine.snapshots().borrow().clone();
    let staging = &last.environments[1];
    assert_eq!(
        staging.guard.last.as_ref().map(|e| e.kind.as_str()),
        Some("watch_alerted")
    );
    assert_eq!(staging.guard.rollbacks_in_a_row, 0);
    assert!(
        !std::fs::read_to_string(state.path().join("audit.jsonl"))
            .unwrap_or_default()
            .contains("auto_rollback"),
        "nothing was rolled back"
    );

    // A restart within the watch does not tell the finding again.
    engine.shutdown().await;
    let engine = bench.engine(Some(state.path()));
    wait_snapshot(&engine, "the restarted engine sees the finding", |s| {
        s.environments[1]
            .verification
            .as_ref()
            .and_then(|v| v.watch.as_ref())
            .is_some_and(|w| !w.findings.is_empty())
    })
    .await;
    let_time_pass(&engine, 20).await;
    assert_eq!(watch_notices(&bench, &sha).len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_error_type_after_the_watch_ended_gives_nothing() {
    let bench = bench_with(Duration::from_secs(3 * 3600), "2h").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    let sha = promote_and_verify(&engine).await;

    drop(clock);
    bench.clock.advance(Duration::from_secs(3 * 3600 + 10 * 60));
    let _clock = bench.run_clock(STEP);
    // The engine has read the new type: it is there, and it is no finding.
    wait_snapshot(&engine, "the new type was read", |s| {
        s.environments[1]
            .errors
            .new_types
            .iter()
            .any(|t| t.count >= 5)
    })
    .await;
    let_time_pass(&engine, 10).await;
    let last = engine.snapshots().borrow().clone();
    let view = last.environments[1].verification.as_ref().unwrap();
    assert_eq!(view.sha, sha);
    assert_eq!(view.phase, VerificationPhase::Verified, "{}", view.reason);
    assert_eq!(view.watch.as_ref().map(|w| w.findings.len()), Some(0));
    assert!(watch_notices(&bench, &sha).is_empty());
    assert_eq!(bench.branch_head("staging").await, sha);
    engine.shutdown().await;
}
