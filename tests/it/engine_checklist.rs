//! The release checklist against the sandbox: a promotion with an unticked required item is
//! blocked and writes nothing; ticked, it goes through and the audit holds each tick with who
//! and when; an unattended promotion is satisfied only by the label on the pull request that
//! carried the commit.

use std::time::Duration;

use crate::support::release::{Bench, quiet_scenario, request, submit_and_wait, wait_preview};
use shipdeck::engine::{Origin, Submitted};
use shipdeck::model::{ActionKind, ActionPreview, ActionResult, GateKind, GateState};
use tempfile::TempDir;

/// Staging by fast-forward, with one required item that a label can satisfy and one optional.
const STAGING_CHECKLIST: &str = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\n\n\
     [[environment.promotion.checklist]]\nid = \"migrations\"\ntext = \"Migrations are backward-compatible\"\nlabel = \"migrations-compatible\"\n\n\
     [[environment.promotion.checklist]]\nid = \"flags\"\ntext = \"Feature flags set\"\nrequired = false\n";
const PROD: &str = "[environment.promotion]\nfrom = \"staging\"\nstrategy = \"fast-forward\"\nsoak = \"1m\"\nhigh_risk = [\"migrations/**\"]\n";
const STEP: Duration = Duration::from_secs(1);

fn audit_lines(state: &TempDir) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every gate passes but the checklist's.
fn only_the_checklist_blocks(preview: &ActionPreview) -> bool {
    let blocking = preview.gates.blocking();
    preview.sha.is_some()
        && !blocking.is_empty()
        && blocking.iter().all(|g| g.kind == GateKind::Checklist)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unticked_required_checklist_item_blocks_and_a_tick_goes_through_audited() {
    let bench = Bench::start(quiet_scenario(), STAGING_CHECKLIST, PROD, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        only_the_checklist_blocks(p)
    })
    .await;
    let ids: Vec<&str> = preview.checklist.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["migrations", "flags"]);
    let sha = preview.sha.clone().unwrap();
    let head_before = bench.branch_head("staging").await;
    assert_ne!(head_before, sha);
    let writes_before = bench.sandbox.write_count();

    // Not ticked: blocked, naming the item; nothing written to GitHub.
    let answer = submit_and_wait(&engine, request(ActionKind::Promote, "staging")).await;
    let Err(Submitted::Blocked(report)) = answer else {
        panic!("expected a block, got {answer:?}");
    };
    let gate = report.gate(GateKind::Checklist).expect("a checklist gate");
    assert_eq!(gate.state, GateState::Fail);
    assert_eq!(gate.reason.as_str(), "1 required item unticked: migrations");
    assert_eq!(report.blocking().len(), 1, "{}", report.summary());
    assert_eq!(bench.sandbox.write_count(), writes_before);
    assert_eq!(bench.branch_head("staging").await, head_before);

    // Ticking only the optional item does not do.
    let mut optional_only = request(ActionKind::Promote, "staging");
    optional_only.checklist_ticks = vec!["flags".to_string()];
    assert!(matches!(
        submit_and_wait(&engine, optional_only).await,
        Err(Submitted::Blocked(_))
    ));

    // A tick naming no item is refused, not ignored.
    let mut typo = request(ActionKind::Promote, "staging");
    typo.checklist_ticks = vec!["migratoins".to_string()];
    match submit_and_wait(&engine, typo).await {
        Err(Submitted::Rejected(reason)) => assert!(
            reason.contains("migratoins") && reason.contains("items: migrations, flags"),
            "{reason}"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(bench.sandbox.write_count(), writes_before);
    assert!(
        !audit_lines(&state)
            .iter()
            .any(|e| e["event"] == "checklist_tick"),
        "no tick is audited before a promotion starts"
    );

    // Ticked: it goes through, and the audit says who ticked what and when.
    let before = bench.clock.now();
    let mut ticked = request(ActionKind::Promote, "staging");
    ticked.checklist_ticks = vec!["migrations".to_string()];
    let (id, result, reason) = submit_and_wait(&engine, ticked)
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    let after = bench.clock.now();
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, sha);
    let ticks: Vec<serde_json::Value> = audit_lines(&state)
        .into_iter()
        .filter(|e| e["event"] == "checklist_tick")
        .collect();
    assert_eq!(ticks.len(), 1, "{ticks:?}");
    let tick = &ticks[0];
    assert_eq!(tick["actor"], "captain");
    assert_eq!(tick["action_id"], id.as_str());
    assert_eq!(tick["environment"], "staging");
    assert_eq!(tick["to_sha"], sha.as_str());
    assert_eq!(tick["result"], "ticked");
    assert_eq!(
        tick["reason"],
        "migrations: Migrations are backward-compatible"
    );
    let at: chrono::DateTime<chrono::Utc> = tick["at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("an RFC 3339 time");
    assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unattended_promotion_needs_the_label_on_the_carrying_pull_request() {
    let bench = Bench::start(quiet_scenario(), STAGING_CHECKLIST, PROD, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| {
        only_the_checklist_blocks(p)
    })
    .await;
    let sha = preview.sha.clone().unwrap();
    let head_before = bench.branch_head("staging").await;
    let unattended = || {
        let mut ask = request(ActionKind::Promote, "staging");
        ask.origin = Origin::Auto;
        ask.actor = "auto".to_string();
        // Ticks are a captain's: nobody was there to give them.
        ask.checklist_ticks = vec!["migrations".to_string()];
        ask
    };

    let answer = submit_and_wait(&engine, unattended()).await;
    let Err(Submitted::Blocked(report)) = answer else {
        panic!("expected a block, got {answer:?}");
    };
    let gate = report.gate(GateKind::Checklist).expect("a checklist gate");
    assert_eq!(gate.state, GateState::Fail);
    assert!(
        gate.reason.as_str().starts_with("needs a human: ")
            && gate.reason.as_str().contains("migrations"),
        "{gate:?}"
    );
    assert_eq!(bench.branch_head("staging").await, head_before);

    let pull = bench
        .sandbox
        .label_carrying_pull(&sha, "migrations-compatible")
        .expect("the candidate came in by a pull request");
    let (status, pulls) = bench.github(&format!("/commits/{sha}/pulls")).await;
    assert_eq!(status, 200);
    assert_eq!(pulls[0]["number"], pull);
    assert_eq!(pulls[0]["labels"][0]["name"], "migrations-compatible");

    let (_, result, reason) = submit_and_wait(&engine, unattended())
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, sha);
    assert!(
        !audit_lines(&state)
            .iter()
            .any(|e| e["event"] == "checklist_tick"),
        "an unattended promotion records no ticks"
    );
    engine.shutdown().await;
}
