//! Never twice, never lost: a write that is applied but never answered is read back instead
//! of repeated, and an engine killed between any two steps of a promotion finishes it after a
//! restart from its journal: one branch move, one deployment, a complete audit trail.

use std::path::Path;
use std::time::Duration;

use crate::support::release::{
    Bench, DEADLINE, STAGING_FF, quiet_scenario, request, submit_and_wait, wait_preview,
};
use shipdeck::engine::{EngineHandle, Submitted};
use shipdeck::model::{ActionKind, ActionResult};
use shipdeck::sandbox::{FaultEffect, FaultRule};
use tempfile::TempDir;

const PROD_FF: &str =
    "[environment.promotion]\nfrom = \"staging\"\nstrategy = \"fast-forward\"\nsoak = \"1m\"\n";
/// Writes of a fast-forward promotion into one service: lock tag, lock ref, deployment,
/// in_progress, branch move, success, lock release.
const WRITES_OF_A_PROMOTION: usize = 7;

fn received(bench: &Bench, method: &str, suffix: &str) -> usize {
    bench
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

fn audit_results(state: &Path, action_id: &str) -> Vec<String> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["action_id"] == action_id)
        .map(|e| e["result"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_move_applied_but_unanswered_is_not_repeated() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_FF, "").await;
    bench.sandbox.faults().add(
        FaultRule::new(
            "PATCH",
            "/repos/*/*/git/refs/heads/staging",
            FaultEffect::TimeoutAfterApply,
        )
        .nth(1),
    );
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(Duration::from_secs(1));
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, preview.sha.unwrap());
    assert_eq!(
        received(&bench, "PATCH", "/git/refs/heads/staging"),
        1,
        "the timed-out move was read back, not sent again"
    );
    assert_eq!(bench.deployments_of("staging", &id).await.len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_created_but_unanswered_is_found_not_duplicated() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_FF, "").await;
    bench.sandbox.faults().add(
        FaultRule::new(
            "POST",
            "/repos/*/*/deployments",
            FaultEffect::TimeoutAfterApply,
        )
        .nth(1),
    );
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(Duration::from_secs(1));
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(received(&bench, "POST", "/deployments"), 1);
    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_on_a_write_is_retried_after_reading() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_FF, "").await;
    bench.sandbox.faults().add(
        FaultRule::new(
            "PATCH",
            "/repos/*/*/git/refs/heads/staging",
            FaultEffect::ServerError { status: 502 },
        )
        .nth(1),
    );
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(Duration::from_secs(1));
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, preview.sha.unwrap());
    assert_eq!(received(&bench, "PATCH", "/git/refs/heads/staging"), 2);
    engine.shutdown().await;
}

/// An engine on a runtime of its own, so the test can kill it like a process: every task
/// stops at its next await, nothing runs after.
struct Killable {
    runtime: tokio::runtime::Runtime,
    engine: EngineHandle,
}

fn killable(bench: &Bench, state: &Path) -> Killable {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let engine = {
        let _inside = runtime.enter();
        bench.engine(Some(state))
    };
    Killable { runtime, engine }
}

/// Kills the engine while write `n` of a promotion hangs: lost on the way (nothing applied)
/// or applied without an answer. Between them, every point between two steps is covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_any_two_steps_the_promotion_finishes_after_a_restart() {
    let cases = (1..=WRITES_OF_A_PROMOTION).flat_map(|n| {
        [
            FaultEffect::TimeoutBeforeApply,
            FaultEffect::TimeoutAfterApply,
        ]
        .map(|e| (n, e))
    });
    for (kill_after, effect) in cases {
        let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_FF, "").await;
        bench
            .sandbox
            .faults()
            .add(FaultRule::new("WRITE", "/repos/**", effect.clone()).nth(kill_after as u64));
        let kill_after_label = format!("{kill_after} ({effect:?})");
        let state = TempDir::new().unwrap();
        let _clock = bench.run_clock(Duration::from_secs(1));

        let first = killable(&bench, state.path());
        let preview = wait_preview(&first.engine, "staging", ActionKind::Promote, |p| {
            p.allowed()
        })
        .await;
        let sha = preview.sha.clone().unwrap();
        let sender = first.engine.actions().unwrap();
        let id = match sender
            .submit(request(ActionKind::Promote, "staging"))
            .await
            .unwrap()
        {
            Submitted::Started { id, .. } => id,
            other => panic!("did not start: {other:?}"),
        };
        let waited = tokio::time::timeout(DEADLINE, async {
            while bench.sandbox.write_count() < kill_after {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "write {kill_after} never came");
        first.runtime.shutdown_background();
        drop(sender);

        let second = killable(&bench, state.path());
        let mut rx = second.engine.snapshots();
        let ended = tokio::time::timeout(
            DEADLINE,
            rx.wait_for(|s| {
                s.environments[1]
                    .release
                    .activity
                    .as_ref()
                    .is_some_and(|a| a.id.as_str() == id && a.result.is_some())
            }),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("killed in write {kill_after_label}: not finished after restart")
        })
        .unwrap()
        .clone();
        let activity = ended.environments[1].release.activity.clone().unwrap();
        assert_eq!(
            activity.result,
            Some(ActionResult::Succeeded),
            "killed in write {kill_after_label}: {:?}",
            activity.reason
        );
        assert_eq!(
            bench.branch_head("staging").await,
            sha,
            "kill {kill_after_label}"
        );
        assert_eq!(
            bench.successful("PATCH", "/git/refs/heads/staging"),
            1,
            "kill {kill_after_label}: one branch move"
        );
        let ours = bench.deployments_of("staging", &id).await;
        assert_eq!(ours.len(), 1, "kill {kill_after_label}: one deployment");
        let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
        assert_eq!(
            states,
            ["in_progress", "success"],
            "kill {kill_after_label}"
        );
        let (status, _) = bench.github("/git/ref/shipdeck/locks/staging").await;
        assert_eq!(status, 404, "kill {kill_after_label}: lock released");
        let trail = audit_results(state.path(), &id);
        assert_eq!(
            trail.first().map(String::as_str),
            Some("started"),
            "{trail:?}"
        );
        assert!(
            trail.contains(&"resumed".to_string()),
            "kill {kill_after_label}: {trail:?}"
        );
        assert_eq!(
            trail.last().map(String::as_str),
            Some("succeeded"),
            "{trail:?}"
        );
        second.runtime.shutdown_background();
    }
}
