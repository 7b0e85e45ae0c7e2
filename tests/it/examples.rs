//! The ready-made process configs in `examples/`: each passes `shipdeck check-config`, and
//! each runs its process against the sandbox, the world shaped after its environments the
//! way `shipdeck demo --config` shapes it.

use std::path::PathBuf;
use std::time::Duration;

use shipdeck::engine::EngineHandle;
use shipdeck::model::{ActionKind, ActionResult, GateKind, GateState, Snapshot};
use tempfile::TempDir;

use crate::support::cli::shipdeck;
use crate::support::release::{
    Bench, DEADLINE, quiet_scenario, request, submit_and_wait, wait_preview,
};

/// World time per clock tick.
const STEP: Duration = Duration::from_secs(1);

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_passes_check_config() {
    let files = examples();
    assert!(files.len() >= 2, "{files:?}");
    let home = TempDir::new().expect("a temporary directory");
    for file in files {
        let path = file.display().to_string();
        let out = shipdeck(&["check-config", &path], home.path(), &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(": ok ("), "{stdout}");
    }
}

/// Waits until every environment shows a deployed commit on each service, its branch's
/// pipeline, every smoke check passing and its error rate, with no source failing.
async fn wait_until_everything_shows(engine: &EngineHandle, bench: &Bench) -> Snapshot {
    let checks = bench.config.smoke.len();
    let mut snapshots = engine.snapshots();
    let shown = tokio::time::timeout(
        DEADLINE * 2,
        snapshots.wait_for(|snapshot| {
            snapshot.environments.iter().all(|env| {
                env.services.iter().all(|s| s.last_success.is_some())
                    && env.pipeline.is_some()
                    && env.smoke.len() == checks
                    && env.smoke.iter().all(|check| check.ok)
                    && env.health.errors.last_success.is_some()
                    && env.health.deployments.last_error.is_none()
                    && env.health.pipeline.last_error.is_none()
            })
        }),
    )
    .await
    .map(|found| found.map(|snapshot| (**snapshot).clone()));
    match shown {
        Ok(Ok(snapshot)) => snapshot,
        _ => panic!(
            "not everything showed: {:#?}",
            engine.snapshots().borrow().environments
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_branches_promotes_main_into_staging_by_pull_request_and_prod_waits_its_soak() {
    let bench = Bench::from_example("three-branches.toml", quiet_scenario()).await;
    let state = TempDir::new().expect("a temporary directory");
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let snapshot = wait_until_everything_shows(&engine, &bench).await;
    let names: Vec<&str> = snapshot
        .environments
        .iter()
        .map(|env| env.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    for env in &snapshot.environments {
        assert_eq!(
            env.smoke.len(),
            7,
            "seven smoke checks in {}",
            env.name.as_str()
        );
        let stages = env.pipeline.as_ref().map_or(0, |p| p.stages.len());
        assert_eq!(stages, 7, "seven stages in {}", env.name.as_str());
    }

    let preview = wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let candidate = preview.sha.clone().expect("a candidate");
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    assert_eq!(bench.branch_head("staging").await, candidate);
    let (_, pulls) = bench.github("/pulls?state=closed&base=staging").await;
    assert!(
        pulls
            .as_array()
            .is_some_and(|all| all.iter().any(|pr| pr["merged_at"].is_string())),
        "a merged pull request into staging: {pulls}"
    );
    assert_eq!(bench.deployments_of("staging", &id).await.len(), 1);

    // Prod takes only what staging has run for 30 minutes: staging's new commit is too young.
    let prod = wait_preview(&engine, "prod", ActionKind::Promote, |p| {
        p.sha.as_deref() == Some(candidate.as_str())
    })
    .await;
    assert!(!prod.allowed(), "{prod:?}");
    assert!(
        prod.gates
            .gates
            .iter()
            .any(|gate| gate.kind == GateKind::Soak && gate.state == GateState::Fail),
        "{prod:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_and_workers_runs_three_services_per_environment_and_its_job_flow() {
    let bench = Bench::from_example("services-and-workers.toml", quiet_scenario()).await;
    let state = TempDir::new().expect("a temporary directory");
    let engine = bench.engine(Some(state.path()));
    let _clock = bench.run_clock(STEP);
    let snapshot = wait_until_everything_shows(&engine, &bench).await;
    for env in &snapshot.environments {
        let services: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            services,
            ["web", "jobs", "mail"],
            "in {}",
            env.name.as_str()
        );
        let flow = env
            .smoke
            .iter()
            .find(|check| check.name.as_str() == "worker runs a job")
            .expect("the flow runs");
        assert!(flow.ok, "{flow:?}");
    }
    // Promoting into production moves all three services together.
    let preview = wait_preview(&engine, "production", ActionKind::Promote, |p| p.allowed()).await;
    let candidate = preview.sha.clone().expect("a candidate");
    let (id, result, reason) = submit_and_wait(&engine, request(ActionKind::Promote, "production"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    let mut snapshots = engine.snapshots();
    let moved = tokio::time::timeout(
        DEADLINE,
        snapshots.wait_for(|s| {
            s.environments[1]
                .services
                .iter()
                .all(|service| service.running_sha() == Some(candidate.as_str()))
        }),
    )
    .await
    .is_ok();
    assert!(moved, "every production service runs {candidate}");
    for service in ["production-web", "production-jobs", "production-mail"] {
        assert_eq!(
            bench.deployments_of(service, &id).await.len(),
            1,
            "one deployment of {service} for the promotion"
        );
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fully_automated_promotes_staging_by_itself_once() {
    let bench = Bench::from_example("fully-automated.toml", quiet_scenario()).await;
    let state = TempDir::new().expect("a temporary directory");
    let engine = bench.engine(Some(state.path()));
    let clock = bench.run_clock(STEP);
    let dev = wait_until_everything_shows(&engine, &bench)
        .await
        .environments[0]
        .deployed()
        .map(|commit| commit.sha.clone())
        .expect("dev runs a commit");
    // Nobody presses a key: staging takes dev's verified commit by itself.
    let mut snapshots = engine.snapshots();
    let promoted = tokio::time::timeout(
        DEADLINE * 2,
        snapshots.wait_for(|s| s.environments[1].deployed().is_some_and(|c| c.sha == dev)),
    )
    .await
    .is_ok();
    assert!(promoted, "staging runs {dev}");
    // Ten more minutes: still one deployment of that commit into staging.
    let later = bench.clock.now() + chrono::TimeDelta::minutes(10);
    let mut snapshots = engine.snapshots();
    let waited = tokio::time::timeout(
        DEADLINE * 2,
        snapshots.wait_for(|s| {
            s.environments[1]
                .release
                .promotion
                .as_ref()
                .is_some_and(|p| p.evaluated_at > later)
        }),
    )
    .await
    .is_ok();
    assert!(waited, "the engine kept judging staging");
    drop(clock);
    let ours: Vec<serde_json::Value> = bench
        .deployments("staging")
        .await
        .into_iter()
        .filter(|d| d["sha"] == dev.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).expect("an audit log");
    assert!(
        audit
            .lines()
            .any(|line| line.contains("\"auto_promote\"") && line.contains("staging")),
        "{audit}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_captain_lists_the_checklist_and_verifies_the_preview_environment() {
    let bench = Bench::from_example("release-captain.toml", quiet_scenario()).await;
    let engine = bench.engine(None);
    let _clock = bench.run_clock(STEP);
    let snapshot = wait_until_everything_shows(&engine, &bench).await;
    // Staging, the preview of the release, is verified like prod.
    let mut snapshots = engine.snapshots();
    let verified = tokio::time::timeout(
        DEADLINE,
        snapshots.wait_for(|s| s.environments[1].verification.is_some()),
    )
    .await
    .is_ok();
    assert!(verified, "staging's deploy is verified");
    assert!(
        snapshot.environments[0].verification.is_none(),
        "dev is not"
    );

    let prod = wait_preview(&engine, "prod", ActionKind::Promote, |p| p.sha.is_some()).await;
    let items: Vec<(&str, bool)> = prod
        .checklist
        .iter()
        .map(|item| (item.id.as_str(), item.required))
        .collect();
    assert_eq!(
        items,
        [
            ("migrations", true),
            ("flags", true),
            ("rollback-plan", true),
            ("support", false)
        ]
    );
    let gate = prod
        .gates
        .gates
        .iter()
        .find(|gate| gate.kind == GateKind::Checklist)
        .expect("a checklist gate");
    assert_eq!(gate.state, GateState::Fail, "{gate:?}");
    for id in ["migrations", "flags", "rollback-plan"] {
        assert!(gate.reason.as_str().contains(id), "{gate:?}");
    }
    assert!(!gate.reason.as_str().contains("support"), "{gate:?}");
    engine.shutdown().await;
}
