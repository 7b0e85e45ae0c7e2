//! Promotions and rollbacks end to end: the engine with its write side against the sandbox
//! over real HTTP, on a manual clock the test moves. Each strategy moves the environment and
//! leaves GitHub's deployment history saying so; gates block and then pass; overrides and
//! broken locks are audited.

use std::time::Duration;

use crate::support::release::{
    Bench, STAGING_FF, quiet_scenario, request, submit_and_wait, wait_preview,
};
use serde_json::json;
use shipdeck::engine::Submitted;
use shipdeck::model::{ActionKind, ActionResult, GateKind, GateState};
use tempfile::TempDir;

/// Prod by pull request, with the high-risk globs the sandbox's commits touch.
const PROD_PR: &str = "[environment.promotion]\nfrom = \"staging\"\nstrategy = \"pull-request\"\nsoak = \"1m\"\nhigh_risk = [\"migrations/**\", \"db/migrations/**\", \"infra/iam/**\", \"src/payments/**\"]\n";
const STEP: Duration = Duration::from_secs(1);

fn audit_lines(state: &TempDir) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn audit_results(state: &TempDir, action_id: &str) -> Vec<String> {
    audit_lines(state)
        .iter()
        .filter(|e| e["action_id"] == action_id)
        .map(|e| e["result"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_forward_moves_staging_and_records_the_deployment() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let sha = preview.sha.clone().unwrap();
    let replaced: Vec<u64> = bench
        .deployments("staging")
        .await
        .iter()
        .filter_map(|d| d["id"].as_u64())
        .collect();

    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, sha);

    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1, "exactly one deployment: {ours:?}");
    assert_eq!(ours[0]["sha"], sha.as_str());
    assert_eq!(
        ours[0]["ref"],
        sha.as_str(),
        "the deployment's ref is the SHA"
    );
    let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
    assert_eq!(states, ["in_progress", "success"]);
    // Nobody else recorded a deployment of that commit: the platform adopted ours.
    let of_sha = bench
        .deployments("staging")
        .await
        .into_iter()
        .filter(|d| d["sha"] == sha.as_str())
        .count();
    assert_eq!(of_sha, 1);
    // What ran before is now inactive.
    let mut saw_inactive = false;
    for old in replaced.iter().take(3) {
        if bench.status_states(*old).await.last().map(String::as_str) == Some("inactive") {
            saw_inactive = true;
        }
    }
    assert!(saw_inactive, "the replaced deployment became inactive");
    // The lock is released.
    let (status, _) = bench.github("/git/ref/shipdeck/locks/staging").await;
    assert_eq!(status, 404);
    assert_eq!(audit_results(&state, &id), ["started", "succeeded"]);
    // The screen shows it.
    let mut rx = engine.snapshots();
    let shown = tokio::time::timeout(
        crate::support::release::DEADLINE,
        rx.wait_for(|s| {
            s.environments[1].deployed().is_some_and(|c| c.sha == sha)
                && s.environments[1]
                    .release
                    .activity
                    .as_ref()
                    .is_some_and(|a| a.result == Some(ActionResult::Succeeded))
        }),
    )
    .await
    // Dropping the found snapshot's guard here: holding it would block the store's next
    // publish, and with it the shutdown below.
    .is_ok();
    assert!(shown, "the snapshot shows staging at the promoted commit");
    // And rolling back now means going back to what the promotion replaced.
    let replaced_sha = preview
        .from_sha
        .clone()
        .expect("staging ran a commit before");
    wait_preview(&engine, "staging", ActionKind::Rollback, |p| {
        p.from_sha.as_deref() == Some(sha.as_str()) && p.sha.as_deref() == Some(&replaced_sha)
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_promotes_exactly_staging_s_commit_into_prod() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "prod", ActionKind::Promote, |p| p.allowed()).await;
    let sha = preview.sha.clone().unwrap();
    let mut ask = request(ActionKind::Promote, "prod");
    ask.confirmed_high_risk = true;
    let (id, result, reason) = submit_and_wait(&engine, ask)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("prod").await, sha);
    for service in ["prod", "prod-worker"] {
        let ours = bench.deployments_of(service, &id).await;
        assert_eq!(ours.len(), 1, "{service}: one deployment");
        assert_eq!(ours[0]["production_environment"], true);
        let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
        assert_eq!(states, ["in_progress", "success"], "{service}");
    }
    // The pull request was merged and its branch removed.
    assert_eq!(bench.successful("PUT", "/merge"), 1);
    let (status, _) = bench
        .github(&format!("/git/ref/heads/shipdeck/promote/{id}"))
        .await;
    assert_eq!(status, 404);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_pull_request_merges_only_after_someone_else_approved_it() {
    let prod = format!("{PROD_PR}require_review = true\n");
    let bench = Bench::start(quiet_scenario(), STAGING_FF, &prod, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "prod", ActionKind::Promote, |p| p.allowed()).await;
    let review = preview
        .gates
        .gate(GateKind::Review)
        .expect("high-risk files ask for a review");
    assert_eq!(review.state, GateState::Pass, "{review:?}");
    assert_eq!(review.measured.as_str(), "awaited on the pull request");

    let mut ask = request(ActionKind::Promote, "prod");
    ask.confirmed_high_risk = true;
    let (_, result, reason) = submit_and_wait(&engine, ask)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(
        bench.branch_head("prod").await,
        preview.sha.clone().unwrap()
    );
    // The reviews were read before the merge, and the log says who approved.
    let requests = bench.sandbox.requests();
    let reviews_read = requests
        .iter()
        .position(|r| r.method == "GET" && r.path.ends_with("/reviews") && r.status == 200);
    let merged = requests
        .iter()
        .position(|r| r.method == "PUT" && r.path.ends_with("/merge") && r.status == 200);
    assert!(
        matches!((reviews_read, merged), (Some(read), Some(merge)) if read < merge),
        "reviews read at {reviews_read:?}, merged at {merged:?}"
    );
    let log = engine.snapshots().borrow().log.clone();
    assert!(
        log.iter().any(|l| l.text.as_str().contains("approved by")),
        "{log:#?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_dispatch_deploys_through_the_dispatched_run() {
    let staging = "[environment.promotion]\nstrategy = \"workflow-dispatch\"\nworkflow = \"deploy.yml\"\nsoak = \"1m\"\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let sha = preview.sha.clone().unwrap();
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(
        bench.successful("POST", "/actions/workflows/deploy.yml/dispatches"),
        1
    );
    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["sha"], sha.as_str());
    let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
    assert_eq!(states, ["in_progress", "success"]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_run_is_diagnosed_from_its_log() {
    let staging = "[environment.promotion]\nstrategy = \"workflow-dispatch\"\nworkflow = \"deploy.yml\"\nsoak = \"1m\"\n";
    let mut scenario = quiet_scenario();
    scenario.deploy_failures.insert(
        "staging".to_string(),
        shipdeck::sandbox::scenario::CiFailure::Schema,
    );
    let bench = Bench::start(scenario, staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Failed, "{reason:?}");
    let reason = reason.unwrap_or_default();
    // The reason says what kind of failure it was, not only that the run failed.
    assert!(reason.contains("failure: integration"), "{reason}");
    assert!(reason.contains("tier 2"), "{reason}");
    let ours = bench.deployments_of("staging", &id).await;
    let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
    assert_eq!(
        states.last().map(String::as_str),
        Some("failure"),
        "{states:?}"
    );
    // The error lines and the next step are in the action log.
    let log = engine.snapshots().borrow().log.clone();
    assert!(
        log.iter()
            .any(|l| l.error && l.text.as_str().starts_with("deploy failed in integration")),
        "{log:#?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_runs_without_a_shell_and_its_output_reaches_the_log() {
    let staging = "[environment.promotion]\nstrategy = \"command\"\ncommand = [\"echo\", \"deploying\", \"{sha}\", \"to\", \"{env}\"]\nsoak = \"1m\"\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let sha = preview.sha.clone().unwrap();
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    let mut rx = engine.snapshots();
    let expected = format!("deploying {sha} to staging");
    let logged = tokio::time::timeout(
        crate::support::release::DEADLINE,
        rx.wait_for(|s| s.log.iter().any(|l| l.text.as_str() == expected)),
    )
    .await
    .is_ok();
    assert!(logged, "the command's output is in the log panel");
    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_forces_the_branch_back_to_the_previous_good_deployment() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Rollback, |p| p.allowed()).await;
    let target = preview.sha.clone().unwrap();
    assert_ne!(Some(&target), preview.from_sha.as_ref());
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Rollback, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, target);
    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1);
    let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
    assert_eq!(states, ["in_progress", "success"]);
    assert_eq!(audit_results(&state, &id), ["started", "succeeded"]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_commit_that_never_succeeded_is_blocked() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Rollback, |p| p.allowed()).await;
    let head = bench.branch_head("main").await;
    let mut ask = request(ActionKind::Rollback, "staging");
    ask.sha = Some(head);
    match submit_and_wait(&engine, ask).await {
        Err(Submitted::Blocked(report)) => {
            let gate = report.gate(GateKind::RollbackTarget).expect("target gate");
            assert_ne!(gate.state, GateState::Pass, "{gate:?}");
        }
        other => panic!("expected blocked, got {other:?}"),
    }
    assert_eq!(
        bench.sandbox.write_count(),
        0,
        "a blocked rollback writes nothing"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_blocks_until_the_commit_has_run_long_enough() {
    let staging = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"3h\"\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        p.gates
            .gate(GateKind::Soak)
            .is_some_and(|g| g.state == GateState::Fail)
    })
    .await;
    assert!(!preview.allowed());
    match submit_and_wait(&engine, request(ActionKind::Promote, "staging")).await {
        Err(Submitted::Blocked(report)) => {
            assert!(report.blocking().iter().any(|g| g.kind == GateKind::Soak));
        }
        other => panic!("expected blocked, got {other:?}"),
    }
    assert_eq!(bench.sandbox.write_count(), 0);
    let blocked = audit_lines(&state);
    assert!(
        blocked.iter().any(|e| e["result"] == "blocked"),
        "the blocked attempt is audited"
    );
    // Three hours later the same request goes through.
    bench.clock.advance(Duration::from_secs(3 * 3600));
    let _clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_blocks_and_an_override_with_a_reason_is_audited() {
    let freeze = "\n[[freeze]]\ndate = \"2026-11-20\"\ntime_zone = \"UTC\"\nenvironments = [\"staging\"]\nreason = \"launch day\"\n";
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, freeze).await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(Duration::from_millis(200));
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        p.gates.blocking().len() == 1 && p.gates.blocking()[0].kind == GateKind::Freeze
    })
    .await;
    assert!(preview.freeze_note.is_some());
    match submit_and_wait(&engine, request(ActionKind::Promote, "staging")).await {
        Err(Submitted::Blocked(report)) => {
            assert_eq!(report.blocking()[0].kind, GateKind::Freeze);
        }
        other => panic!("expected blocked, got {other:?}"),
    }
    let mut ask = request(ActionKind::Promote, "staging");
    ask.override_freeze = Some("hotfix for INC-42".to_string());
    let (id, result, reason) = submit_and_wait(&engine, ask)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    let entries = audit_lines(&state);
    let started = entries
        .iter()
        .find(|e| e["action_id"] == id.as_str() && e["result"] == "started")
        .expect("a start record");
    assert!(
        started["overrides"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.as_str().unwrap().contains("hotfix for INC-42")),
        "{started}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_risk_files_need_a_second_confirmation() {
    let staging = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\nhigh_risk = [\"**\"]\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        p.allowed() && !p.high_risk_files.is_empty()
    })
    .await;
    assert!(preview.gates.needs_confirmation());
    match submit_and_wait(&engine, request(ActionKind::Promote, "staging")).await {
        Err(Submitted::NeedsConfirmation(report)) => assert!(report.needs_confirmation()),
        other => panic!("expected a second confirmation, got {other:?}"),
    }
    assert_eq!(bench.sandbox.write_count(), 0);
    let mut ask = request(ActionKind::Promote, "staging");
    ask.confirmed_high_risk = true;
    let (_, result, reason) = submit_and_wait(&engine, ask)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_blocks_with_its_holder_and_breaking_it_is_audited() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    // Someone else's lock: a plain ref, as a crashed or foreign tool would leave it.
    let main = bench.branch_head("main").await;
    let created = reqwest::Client::new()
        .post(format!(
            "{}/repos/acme/shop/git/refs",
            bench.sandbox.github_api_url()
        ))
        .bearer_auth("someone-else")
        .json(&json!({ "ref": "refs/shipdeck/locks/staging", "sha": main }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        p.gates
            .gate(GateKind::Lock)
            .is_some_and(|g| g.state == GateState::Fail)
    })
    .await;
    assert!(!preview.allowed());
    match submit_and_wait(&engine, request(ActionKind::Promote, "staging")).await {
        Err(Submitted::Blocked(report)) => {
            assert!(report.blocking().iter().any(|g| g.kind == GateKind::Lock));
        }
        other => panic!("expected blocked, got {other:?}"),
    }
    let mut ask = request(ActionKind::Promote, "staging");
    ask.break_lock = Some("stale since yesterday's outage".to_string());
    let (_, result, reason) = submit_and_wait(&engine, ask)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    let broken = audit_lines(&state)
        .into_iter()
        .find(|e| e["event"] == "break_lock")
        .expect("breaking the lock is audited");
    assert_eq!(broken["reason"], "stale since yesterday's outage");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_promoting_at_once_move_staging_once() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let (state_a, state_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = bench.engine(Some(state_a.path()));
    let b = bench.engine(Some(state_b.path()));
    let _clock = bench.run_clock(STEP);
    wait_preview(&a, "staging", ActionKind::Promote, |p| p.allowed()).await;
    wait_preview(&b, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (first, second) = tokio::join!(
        submit_and_wait(&a, request(ActionKind::Promote, "staging")),
        submit_and_wait(&b, request(ActionKind::Promote, "staging")),
    );
    let succeeded = [&first, &second]
        .iter()
        .filter(|r| matches!(r, Ok((_, ActionResult::Succeeded, _))))
        .count();
    assert_eq!(
        succeeded, 1,
        "exactly one promotion: {first:?} / {second:?}"
    );
    // The other one reports who holds the lock (blocked at the gate, or losing the race
    // for the lock ref itself).
    let loser = if matches!(first, Ok((_, ActionResult::Succeeded, _))) {
        &second
    } else {
        &first
    };
    match loser {
        Err(Submitted::Blocked(report)) => {
            let lock = report.gate(GateKind::Lock).expect("lock gate");
            assert!(lock.measured.as_str().contains("captain"), "{lock:?}");
        }
        Ok((_, ActionResult::Failed, Some(reason))) => {
            assert!(reason.contains("holds the lock"), "{reason}");
        }
        other => panic!("the other promotion should say who holds the lock: {other:?}"),
    }
    assert_eq!(
        bench.successful("PATCH", "/git/refs/heads/staging"),
        1,
        "the branch moved once"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_engine_never_writes() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let engine = bench.engine(None);
    assert!(engine.actions().is_none(), "no write side at all");
    let _clock = bench.run_clock(STEP);
    // It still shows the gates of the next promotion.
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    wait_preview(&engine, "prod", ActionKind::Promote, |p| {
        !p.gates.gates.is_empty()
    })
    .await;
    assert_eq!(bench.sandbox.write_count(), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_by_workflow_dispatch_and_by_command() {
    for (rollback, writes_a_dispatch) in [
        (
            "[environment.rollback]\nstrategy = \"workflow-dispatch\"\nworkflow = \"deploy.yml\"\n",
            true,
        ),
        (
            "[environment.rollback]\nstrategy = \"command\"\ncommand = [\"echo\", \"rolling\", \"{env}\", \"back\", \"to\", \"{sha}\", \"from\", \"{previous_sha}\"]\n",
            false,
        ),
    ] {
        let staging = format!("{STAGING_FF}{rollback}");
        let bench = Bench::start(quiet_scenario(), &staging, PROD_PR, "").await;
        let state = TempDir::new().unwrap();
        let engine = bench.engine(Some(state.path()));
        let _clock = bench.run_clock(STEP);
        let preview = wait_preview(&engine, "staging", ActionKind::Rollback, |p| p.allowed()).await;
        let target = preview.sha.clone().unwrap();
        let (id, result, reason) =
            submit_and_wait(&engine, request(ActionKind::Rollback, "staging"))
                .await
                .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
        assert_eq!(result, ActionResult::Succeeded, "{rollback}: {reason:?}");
        assert_eq!(
            bench.successful("POST", "/actions/workflows/deploy.yml/dispatches"),
            usize::from(writes_a_dispatch),
            "{rollback}"
        );
        let ours = bench.deployments_of("staging", &id).await;
        assert_eq!(ours.len(), 1, "{rollback}");
        assert_eq!(ours[0]["sha"], target.as_str());
        let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
        assert_eq!(states, ["in_progress", "success"], "{rollback}");
        // What the environment runs is read back from that history.
        let mut rx = engine.snapshots();
        let shown = tokio::time::timeout(
            crate::support::release::DEADLINE,
            rx.wait_for(|s| {
                s.environments[1]
                    .deployed()
                    .is_some_and(|c| c.sha == target)
            }),
        )
        .await
        .is_ok();
        assert!(shown, "{rollback}: staging shows the rolled-back commit");
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_ci_failed_is_blocked_and_the_green_candidate_passes() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    // A commit on main whose CI failed (the scenario fails Lint every 7th commit).
    let (_, runs) = bench
        .github("/actions/workflows/ci.yml/runs?branch=main&status=failure&per_page=10")
        .await;
    let failed = runs["workflow_runs"]
        .as_array()
        .and_then(|runs| runs.first())
        .and_then(|run| run["head_sha"].as_str())
        .expect("a failed run on main")
        .to_string();
    let mut ask = request(ActionKind::Promote, "staging");
    ask.sha = Some(failed.clone());
    match submit_and_wait(&engine, ask).await {
        Err(Submitted::Blocked(report)) => {
            let ci = report.gate(GateKind::CiGreen).expect("CI gate");
            assert_eq!(ci.state, GateState::Fail, "{ci:?}");
        }
        other => panic!("expected blocked by CI, got {other:?}"),
    }
    assert_eq!(bench.sandbox.write_count(), 0);
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    engine.shutdown().await;
}
