//! Failed CI jobs against the sandbox: the classifier on the sandbox's real-looking logs for
//! every kind, and the engine's triage end to end: the diagnosis on screen, `R` re-running a
//! flaky job until it passes, no re-run for a tier-2 failure, one issue for a tier-3 one, and
//! the outside assistant's answer beside the built-in one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shipdeck::config::{Credentials, Secret};
use shipdeck::engine::diagnosis::classify;
use shipdeck::engine::triage::RerunRequest;
use shipdeck::engine::{Engine, EngineHandle, EngineOptions, PollPolicy};
use shipdeck::model::diagnosis::{FailureKind, Tier};
use shipdeck::model::{RerunOffer, Snapshot, TriageView};
use shipdeck::sandbox::scenario::{CiFailure, Scenario};
use shipdeck::sources::github::GithubClient;
use tempfile::TempDir;

use crate::support::release::{Bench, PROD_PR, STAGING_FF, quiet_scenario};

const DEADLINE: Duration = Duration::from_secs(60);

/// Every commit after the history fails CI with `kind`; nothing else fails.
fn failing(kind: CiFailure) -> Scenario {
    let mut scenario = quiet_scenario();
    scenario.lint_fails_every = 1;
    scenario.ci_failures = vec![kind];
    scenario.e2e_flake_probability = 0.0;
    scenario
}

async fn bench(kind: CiFailure, tail: &str) -> Bench {
    Bench::start(failing(kind), STAGING_FF, PROD_PR, tail).await
}

fn engine(bench: &Bench, state: Option<&TempDir>) -> EngineHandle {
    let mut credentials = Credentials::fixed("test-github", "test-sentry");
    credentials.assistant_key = Some(Secret::new("test-assistant"));
    Engine::spawn_full(
        EngineOptions {
            config: Arc::clone(&bench.config),
            credentials,
            clock: bench.clock.clone(),
            title: "triage bench".to_string(),
        },
        PollPolicy::fast(),
        state.map(|dir| bench.write_options(dir.path())),
    )
    .expect("the engine starts")
}

fn dev_triage(snapshot: &Snapshot) -> Option<&TriageView> {
    snapshot
        .environments
        .iter()
        .find(|env| env.name.as_str() == "dev")
        .and_then(|env| env.triage.as_ref())
}

async fn wait_for_triage(engine: &EngineHandle, what: impl Fn(&TriageView) -> bool) -> TriageView {
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(DEADLINE, rx.wait_for(|s| dev_triage(s).is_some_and(&what)))
        .await
        .unwrap_or_else(|_| {
            let last = engine.snapshots().borrow().clone();
            panic!(
                "triage condition not met; dev shows {:#?}",
                dev_triage(&last)
            )
        })
        .expect("engine stopped");
    dev_triage(&found).cloned().expect("a triage")
}

/// The failed job of `main`'s latest run, read straight from the sandbox's API.
async fn failed_job_of_main(bench: &Bench) -> (String, u64) {
    let (_, runs) = bench.github("/actions/runs?branch=main&per_page=1").await;
    let run_id = runs["workflow_runs"][0]["id"]
        .as_u64()
        .expect("a run of main");
    let (_, jobs) = bench
        .github(&format!(
            "/actions/runs/{run_id}/jobs?filter=latest&per_page=100"
        ))
        .await;
    let job = jobs["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| job["conclusion"] == "failure")
        .unwrap_or_else(|| panic!("a failed job in run {run_id}: {jobs}"));
    (
        job["name"].as_str().unwrap_or_default().to_string(),
        job["id"].as_u64().expect("a job id"),
    )
}

fn expected(kind: CiFailure) -> (FailureKind, Tier) {
    match kind {
        CiFailure::Lint => (FailureKind::Lint, Tier::One),
        CiFailure::Format => (FailureKind::Format, Tier::One),
        CiFailure::TypeMismatch => (FailureKind::TypeMismatch, Tier::One),
        CiFailure::MissingImport => (FailureKind::MissingImport, Tier::One),
        CiFailure::Flaky => (FailureKind::Flaky, Tier::One),
        CiFailure::TestFailure => (FailureKind::TestFailure, Tier::Two),
        CiFailure::ApiContract => (FailureKind::ApiContract, Tier::Two),
        CiFailure::Schema => (FailureKind::Schema, Tier::Two),
        CiFailure::Dependency => (FailureKind::Dependency, Tier::Two),
        CiFailure::Security => (FailureKind::Security, Tier::Three),
        CiFailure::DataIntegrity => (FailureKind::DataIntegrity, Tier::Three),
        CiFailure::SeveralServices => (FailureKind::SeveralServices, Tier::Three),
    }
}

#[tokio::test]
async fn the_classifier_names_every_kind_of_sandbox_failure_from_its_log() {
    for kind in CiFailure::ALL {
        let bench = bench(kind, "").await;
        let (job_name, job_id) = failed_job_of_main(&bench).await;
        let client = GithubClient::new(
            &bench.sandbox.github_api_url(),
            bench.sandbox.repo(),
            Some(&Secret::new("test-github")),
        )
        .expect("a client");
        let log = client.job_log(job_id).await.expect("the log downloads");
        assert!(
            log.contains("##[error]"),
            "{kind:?}: a GitHub Actions log:\n{log}"
        );
        let diagnosis = classify(&job_name, 1, job_id, &log);
        let (want_kind, want_tier) = expected(kind);
        assert_eq!(
            (diagnosis.kind, diagnosis.tier),
            (want_kind, want_tier),
            "{kind:?} in job {job_name}: {diagnosis:#?}\n--- log ---\n{log}"
        );
        assert!(!diagnosis.excerpt.is_empty(), "{kind:?}: an excerpt");
    }
}

#[tokio::test]
async fn a_missing_log_is_an_error_not_a_log() {
    let bench = bench(CiFailure::Lint, "").await;
    let client = GithubClient::new(
        &bench.sandbox.github_api_url(),
        bench.sandbox.repo(),
        Some(&Secret::new("test-github")),
    )
    .expect("a client");
    let error = client.job_log(999_999_999).await.expect_err("no such job");
    assert!(error.to_string().contains("404"), "{error}");
}

#[tokio::test]
async fn r_re_runs_a_flaky_job_until_it_passes_and_the_audit_says_so() {
    let bench = bench(CiFailure::Flaky, "").await;
    let state = TempDir::new().expect("a temp dir");
    let engine = engine(&bench, Some(&state));
    let triage = wait_for_triage(&engine, |t| {
        matches!(t.rerun, RerunOffer::Offered { .. }) && !t.failures.is_empty()
    })
    .await;
    let worst = triage.worst().expect("a diagnosis");
    assert_eq!(worst.tier, Tier::One, "{worst:#?}");
    assert_eq!(triage.run_attempt, 1);
    let reruns = engine.reruns().expect("an acting engine takes R");
    let answer = reruns
        .rerun(RerunRequest {
            environment: "dev".to_string(),
            actor: "captain".to_string(),
        })
        .await
        .expect("the re-run starts");
    assert!(answer.contains("attempt 2"), "{answer}");
    let _clock = bench.run_clock(Duration::from_secs(5));
    let passed = wait_for_triage(&engine, |t| {
        t.run_attempt == 2 && t.failures.is_empty() && !t.flaky.is_empty()
    })
    .await;
    assert!(
        passed
            .flaky
            .iter()
            .any(|name| name.as_str() == worst.job_name.as_str()),
        "{passed:#?}"
    );
    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).expect("an audit log");
    let rerun: Vec<Value> = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["event"] == "rerun")
        .collect();
    assert_eq!(rerun.len(), 1, "{audit}");
    assert_eq!(rerun[0]["actor"], "captain");
    assert_eq!(rerun[0]["result"], "succeeded");
    assert_eq!(bench.successful("POST", "/rerun-failed-jobs"), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_tier_two_failure_is_not_re_run() {
    let bench = bench(CiFailure::ApiContract, "").await;
    let state = TempDir::new().expect("a temp dir");
    let engine = engine(&bench, Some(&state));
    let triage = wait_for_triage(&engine, |t| !t.failures.is_empty()).await;
    assert_eq!(triage.worst().map(|d| d.tier), Some(Tier::Two));
    assert!(
        matches!(&triage.rerun, RerunOffer::NotHelpful { why } if why.as_str().contains("tier 2")),
        "{:?}",
        triage.rerun
    );
    let refused = engine
        .reruns()
        .expect("an acting engine")
        .rerun(RerunRequest {
            environment: "dev".to_string(),
            actor: "captain".to_string(),
        })
        .await
        .expect_err("no re-run for tier 2");
    assert!(refused.contains("tier 2"), "{refused}");
    assert_eq!(bench.successful("POST", "/rerun-failed-jobs"), 0);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_tier_three_failure_files_one_issue_and_watch_mode_files_none() {
    let bench = bench(CiFailure::Security, "").await;
    // A read-only engine diagnoses too, and writes nothing.
    let watcher = engine(&bench, None);
    let seen = wait_for_triage(&watcher, |t| !t.failures.is_empty()).await;
    assert_eq!(seen.worst().map(|d| d.kind), Some(FailureKind::Security));
    assert!(seen.issue.is_none());
    assert!(engine_offers_no_rerun(&watcher));
    let state = TempDir::new().expect("a temp dir");
    let acting = engine(&bench, Some(&state));
    let filed = wait_for_triage(&acting, |t| t.issue.is_some()).await;
    let url = filed.issue.clone().expect("an issue");
    // Restarting must not file it again.
    acting.shutdown().await;
    let again = engine(&bench, Some(&state));
    wait_for_triage(&again, |t| t.issue.is_some()).await;
    again.shutdown().await;
    watcher.shutdown().await;
    let (_, issues) = bench.github("/issues?state=all&per_page=100").await;
    let ours: Vec<&Value> = issues
        .as_array()
        .into_iter()
        .flatten()
        .filter(|issue| {
            issue["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("CI security finding"))
        })
        .collect();
    assert_eq!(ours.len(), 1, "{issues:#}");
    assert_eq!(ours[0]["html_url"], url.as_str());
    let body = ours[0]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("GHSA-"),
        "the excerpt is in the issue: {body}"
    );
    assert!(body.contains("Suggested next step"), "{body}");
}

fn engine_offers_no_rerun(engine: &EngineHandle) -> bool {
    engine.reruns().is_none() && engine.actions().is_none()
}

#[tokio::test]
async fn the_assistant_answer_shows_beside_the_built_in_diagnosis() {
    // The demo config names the sandbox's own chat-completions endpoint as the assistant.
    let bench = bench(CiFailure::TypeMismatch, "").await;
    assert!(bench.config.diagnosis.assistant.is_some());
    let engine = engine(&bench, None);
    let triage = wait_for_triage(&engine, |t| t.worst().is_some_and(|d| d.outside.is_some())).await;
    let worst = triage.worst().expect("a diagnosis");
    let outside = worst.outside.as_ref().expect("an answer").as_str();
    assert!(
        outside.contains("TS2322"),
        "the assistant saw the excerpt: {outside}"
    );
    let asked = bench.sandbox.received("/_llm");
    assert!(!asked.is_empty());
    engine.shutdown().await;
}
