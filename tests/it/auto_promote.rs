//! Auto-promotion against the sandbox on the manual clock: a candidate that passes every gate
//! is promoted once by the engine itself (and not again, not even after a rollback or a
//! restart); a failing gate, a freeze or high-risk files never make it write; a hold set by
//! one engine stops another until someone resumes it.

use std::sync::Arc;
use std::time::Duration;

use crate::support::release::{Bench, DEADLINE, PROD_PR, quiet_scenario, request, submit_and_wait};
use serde_json::Value;
use shipdeck::engine::EngineHandle;
use shipdeck::engine::holds::{HoldChange, HoldRequest};
use shipdeck::model::{ActionKind, ActionPreview, ActionResult, AutoDecision, Snapshot};
use tempfile::TempDir;

const AUTO_ACTOR: &str = "shipdeck (auto-promotion)";
const STAGING_AUTO: &str =
    "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\nauto_promote = true\n";
const STEP: Duration = Duration::from_secs(1);

fn staging_of(s: &Snapshot) -> Option<(&AutoDecision, Option<&ActionPreview>)> {
    let env = s
        .environments
        .iter()
        .find(|e| e.name.as_str() == "staging")?;
    Some((env.release.auto.as_ref()?, env.release.promotion.as_ref()))
}

/// Waits until staging's auto decision and promotion preview satisfy `what`; returns both.
async fn wait_auto(
    engine: &EngineHandle,
    what: impl Fn(&AutoDecision, Option<&ActionPreview>) -> bool,
) -> (AutoDecision, Option<ActionPreview>) {
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(
        DEADLINE,
        rx.wait_for(|s: &Arc<Snapshot>| staging_of(s).is_some_and(|(a, p)| what(a, p))),
    )
    .await
    .map(|found| found.map(|s| s.clone()))
    .unwrap_or_else(|_| {
        let s = engine.snapshots().borrow().clone();
        panic!(
            "staging's auto-promotion never matched; last: {:#?}",
            staging_of(&s)
        )
    })
    .expect("engine running");
    let (auto, preview) = staging_of(&found).expect("present");
    (auto.clone(), preview.cloned())
}

/// Waits until staging's gates were judged at least `ahead` of world time past `from`:
/// proof that the engine kept looking.
async fn wait_judged_after(
    engine: &EngineHandle,
    from: chrono::DateTime<chrono::Utc>,
    ahead: Duration,
) {
    let later = from + chrono::TimeDelta::from_std(ahead).unwrap();
    wait_auto(engine, |_, p| p.is_some_and(|p| p.evaluated_at >= later)).await;
}

/// The deployments of `sha` into staging, newest first.
async fn staging_deployments_of(bench: &Bench, sha: &str) -> Vec<Value> {
    bench
        .deployments("staging")
        .await
        .into_iter()
        .filter(|d| d["sha"] == sha)
        .collect()
}

/// Deployments the engine made by itself into staging.
async fn auto_deployments(bench: &Bench) -> Vec<Value> {
    bench
        .deployments("staging")
        .await
        .into_iter()
        .filter(|d| {
            let payload = match &d["payload"] {
                Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                other => other.clone(),
            };
            payload["actor"] == AUTO_ACTOR
        })
        .collect()
}

fn audit_lines(state: &TempDir) -> Vec<Value> {
    std::fs::read_to_string(state.path().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_passing_every_gate_is_promoted_once_and_never_again() {
    let bench = Bench::start(quiet_scenario(), STAGING_AUTO, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    let (decision, _) = wait_auto(&engine, |a, _| {
        matches!(a, AutoDecision::AlreadyTried { outcome, .. } if outcome.as_str() == "deployed")
    })
    .await;
    let sha = decision.sha().expect("a candidate").to_string();
    assert_eq!(bench.branch_head("staging").await, sha);
    let ours = staging_deployments_of(&bench, &sha).await;
    assert_eq!(ours.len(), 1, "one deployment of the candidate: {ours:#?}");
    assert_eq!(auto_deployments(&bench).await.len(), 1);
    let entries = audit_lines(&state);
    let results: Vec<&str> = entries
        .iter()
        .filter(|e| e["event"] == "auto_promote")
        .filter_map(|e| e["result"].as_str())
        .collect();
    assert_eq!(results, ["started", "succeeded"], "{entries:#?}");

    // Rolled back, the candidate passes every gate again: it is still not tried again.
    let (_, result, reason) = submit_and_wait(&engine, request(ActionKind::Rollback, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("the rollback did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    let (decision, preview) = wait_auto(&engine, |a, p| {
        matches!(a, AutoDecision::AlreadyTried { sha: s, outcome } if *s == sha
            && outcome.as_str() == "rolled back or replaced")
            && p.is_some_and(|p| p.allowed() && p.sha.as_deref() == Some(sha.as_str()))
    })
    .await;
    let judged = preview.expect("a preview").evaluated_at;
    wait_judged_after(&engine, judged, Duration::from_secs(10 * 60)).await;
    assert_eq!(
        staging_deployments_of(&bench, &sha).await.len(),
        1,
        "{decision:?}"
    );
    engine.shutdown().await;

    // A restart with the same state reads what was tried from GitHub and the audit log.
    let engine = bench.engine(Some(state.path()));
    let (_, preview) = wait_auto(&engine, |a, p| {
        matches!(a, AutoDecision::AlreadyTried { sha: s, .. } if *s == sha)
            && p.is_some_and(|p| p.allowed())
    })
    .await;
    wait_judged_after(
        &engine,
        preview.expect("a preview").evaluated_at,
        Duration::from_secs(10 * 60),
    )
    .await;
    drop(clock);
    assert_eq!(staging_deployments_of(&bench, &sha).await.len(), 1);
    assert_eq!(auto_deployments(&bench).await.len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_does_not_pass_never_promotes_and_says_what_it_waits_for() {
    let staging = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"24h\"\nauto_promote = true\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let state = TempDir::new().unwrap();
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let (decision, preview) = wait_auto(&engine, |a, _| {
        matches!(
            a,
            AutoDecision::Wait {
                soak_until: Some(_),
                ..
            }
        )
    })
    .await;
    let AutoDecision::Wait { waiting_for, .. } = &decision else {
        unreachable!()
    };
    assert!(
        waiting_for.iter().any(|w| w.as_str().starts_with("soak: ")),
        "{waiting_for:?}"
    );
    wait_judged_after(
        &engine,
        preview.expect("a preview").evaluated_at,
        Duration::from_secs(10 * 60),
    )
    .await;
    assert!(auto_deployments(&bench).await.is_empty());
    assert_eq!(bench.successful("POST", "/deployments"), 0);
    assert_eq!(bench.successful("POST", "/git/refs"), 0, "not even a lock");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_or_high_risk_files_ask_for_a_person_and_write_nothing() {
    let freeze = "\n[[freeze]]\ndate = \"2026-11-20\"\ntime_zone = \"UTC\"\nenvironments = [\"staging\"]\nreason = \"launch day\"\n";
    let risky = format!("{STAGING_AUTO}high_risk = [\"**\"]\n");
    for (staging, tail, expected) in [
        (STAGING_AUTO, freeze, "launch day"),
        (risky.as_str(), "", "high-risk files"),
    ] {
        let bench = Bench::start(quiet_scenario(), staging, PROD_PR, tail).await;
        let state = TempDir::new().unwrap();
        let engine = bench.engine(Some(state.path()));
        let _clock = bench.run_clock(Duration::from_millis(200));
        let (decision, preview) =
            wait_auto(&engine, |a, _| matches!(a, AutoDecision::NeedsHuman { .. })).await;
        let AutoDecision::NeedsHuman { reason, .. } = &decision else {
            unreachable!()
        };
        assert!(reason.as_str().contains(expected), "{reason:?}");
        wait_judged_after(
            &engine,
            preview.expect("a preview").evaluated_at,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(bench.successful("POST", "/deployments"), 0, "{expected}");
        assert_eq!(bench.successful("POST", "/git/refs"), 0, "{expected}");
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_set_by_one_engine_stops_another_until_it_is_resumed() {
    let staging = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"3h\"\nauto_promote = true\n";
    let bench = Bench::start(quiet_scenario(), staging, PROD_PR, "").await;
    let (state_a, state_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let engine_a = bench.engine(Some(state_a.path()));
    let engine_b = bench.engine(Some(state_b.path()));
    // The clock stands still: the candidate soaks until the test moves it.
    for engine in [&engine_a, &engine_b] {
        wait_auto(engine, |a, _| {
            matches!(
                a,
                AutoDecision::Wait {
                    soak_until: Some(_),
                    ..
                }
            )
        })
        .await;
    }
    let hold = |change| HoldRequest {
        environment: "staging".to_string(),
        actor: "captain".to_string(),
        change,
    };
    let answer = engine_a
        .actions()
        .expect("a write side")
        .hold(hold(HoldChange::Hold {
            reason: "INC-42: checkout errors".to_string(),
        }))
        .await
        .expect("the engine runs");
    assert!(answer.is_ok(), "{answer:?}");
    let (held, _) = wait_auto(&engine_b, |a, _| matches!(a, AutoDecision::Held { .. })).await;
    let hold_view = held.hold().expect("held");
    assert_eq!(hold_view.by.as_str(), "captain@test-host");
    assert_eq!(hold_view.reason.as_str(), "INC-42: checkout errors");
    // A read-only screen shows the hold too (it reads the same ref), and cannot change it.
    let watcher = bench.engine(None);
    assert!(watcher.actions().is_none());
    let (seen, _) = wait_auto(&watcher, |a, _| matches!(a, AutoDecision::Held { .. })).await;
    assert_eq!(seen.hold(), Some(hold_view));
    watcher.shutdown().await;
    // A second hold is refused: one is enough, and it says whose it is.
    let again = engine_b
        .actions()
        .unwrap()
        .hold(hold(HoldChange::Hold {
            reason: "me too".to_string(),
        }))
        .await
        .unwrap();
    assert!(
        again.as_ref().is_err_and(|e| e.contains("INC-42")),
        "{again:?}"
    );

    // Past the soak every gate passes, and still neither engine promotes.
    let clock = bench.run_clock(Duration::from_secs(10));
    let (_, preview) = wait_auto(&engine_b, |a, p| {
        matches!(a, AutoDecision::Held { .. }) && p.is_some_and(|p| p.allowed())
    })
    .await;
    let judged = preview.expect("a preview").evaluated_at;
    wait_judged_after(&engine_b, judged, Duration::from_secs(10 * 60)).await;
    wait_judged_after(&engine_a, judged, Duration::from_secs(10 * 60)).await;
    drop(clock);
    assert!(auto_deployments(&bench).await.is_empty());
    assert!(
        audit_lines(&state_a)
            .iter()
            .any(|e| e["event"] == "auto_hold"
                && e["reason"] == "INC-42: checkout errors"
                && e["actor"] == "captain"),
        "the hold is audited where it was set"
    );

    // Resumed from the other engine: exactly one promotion, by one of them.
    let resumed = engine_b
        .actions()
        .unwrap()
        .hold(hold(HoldChange::Resume {
            reason: Some("INC-42 fixed".to_string()),
        }))
        .await
        .unwrap();
    assert!(resumed.is_ok(), "{resumed:?}");
    let _clock = bench.run_clock(STEP);
    let mut sha = String::new();
    for engine in [&engine_a, &engine_b] {
        let (decision, _) = wait_auto(engine, |a, _| {
            matches!(a, AutoDecision::AlreadyTried { outcome, .. } if outcome.as_str() == "deployed")
        })
        .await;
        sha = decision.sha().unwrap().to_string();
    }
    assert_eq!(staging_deployments_of(&bench, &sha).await.len(), 1);
    assert_eq!(auto_deployments(&bench).await.len(), 1);
    assert!(
        audit_lines(&state_b)
            .iter()
            .any(|e| e["event"] == "auto_resume" && e["result"] == "resumed"),
        "the resume is audited where it was asked"
    );
    engine_a.shutdown().await;
    engine_b.shutdown().await;
}
