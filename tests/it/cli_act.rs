//! `shipdeck promote` and `shipdeck rollback` as a script runs them: the release binary against
//! a sandbox over real HTTP, its world clock shared through the config's `[simulated_clock]`
//! (as the demo shares it), and the documented exit codes: 0 done, 3 blocked, 1 failed,
//! 2 bad input.

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::release::{Bench, STAGING_FF, config_text, quiet_scenario};
use shipdeck::clock::Clock;
use shipdeck::sandbox::{Sandbox, SandboxOptions};
use tempfile::TempDir;

/// How much faster than the wall the world runs: a CI run of a few world minutes takes
/// seconds.
const SPEED: f64 = 60.0;
/// A run of the binary may take this long before the test gives up on it.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

const PROD_FAILS: &str = "[environment.promotion]\nfrom = \"staging\"\nstrategy = \"command\"\ncommand = [\"false\"]\nsoak = \"1m\"\n";

/// A bench whose world runs on a scaled clock, with a config for the binary that shares it.
async fn scaled_bench(state: &Path) -> (Bench, std::path::PathBuf) {
    scaled_bench_with(state, STAGING_FF).await
}

/// [`scaled_bench`] with staging's promotion table given.
async fn scaled_bench_with(state: &Path, staging: &str) -> (Bench, std::path::PathBuf) {
    let clock = Clock::scaled(chrono::Utc::now(), SPEED);
    // The world keeps running while the binary works; on a loaded machine that can take
    // long enough to reach staging's e-mail outage, which would block the promotions.
    let mut scenario = quiet_scenario();
    scenario.email_degraded_every_secs = 0;
    let sandbox = Sandbox::start(SandboxOptions {
        scenario,
        clock: clock.clone(),
    })
    .await
    .expect("the sandbox starts");
    // Dev's last commit has passed CI and deployed, and has soaked.
    clock.advance(Duration::from_secs(30 * 60));
    let header = format!(
        "state_dir = {}\n\n[simulated_clock]\nworld_at = \"{}\"\nwall_at = \"{}\"\nspeed = {SPEED:?}\n\n",
        toml::Value::String(state.display().to_string()),
        clock.now().to_rfc3339(),
        chrono::Utc::now().to_rfc3339(),
    );
    let text = format!("{header}{}", config_text(&sandbox, staging, PROD_FAILS, ""));
    let config = shipdeck::config::parse_str(&text, "test.toml").expect("the test config parses");
    let file = state.join("config.toml");
    std::fs::write(&file, &text).expect("write the config");
    let bench = Bench {
        sandbox,
        clock,
        config: Arc::new(config),
    };
    (bench, file)
}

async fn shipdeck(config: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("USER", "script-captain")
        .env("SHIPDECK_DEMO_GITHUB_TOKEN", "test-github")
        .env("SHIPDECK_DEMO_SENTRY_TOKEN", "test-sentry")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(RUN_DEADLINE, cmd.output())
        .await
        .expect("shipdeck ends in time")
        .expect("shipdeck runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The commit of the newest deployment whose status says success.
async fn deployed(bench: &Bench, environment: &str) -> String {
    for deployment in bench.deployments(environment).await {
        let Some(id) = deployment["id"].as_u64() else {
            continue;
        };
        let states = bench.status_states(id).await;
        if states.last().map(String::as_str) == Some("success") {
            return deployment["sha"].as_str().expect("a sha").to_string();
        }
    }
    panic!("no successful deployment in {environment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_rollback_from_a_script_exit_with_the_documented_codes() {
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let (bench, config) = scaled_bench(state.path()).await;
    let staging_before = bench.branch_head("staging").await;
    let dev = deployed(&bench, "dev").await;
    assert_ne!(dev, staging_before, "dev runs something staging does not");

    // 2: bad input, before anything is read.
    let out = shipdeck(&config, home.path(), &["promote", "nowhere", "--yes"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no environment is named"),
        "{}",
        text(&out.stderr)
    );

    // 2: allowed, but a script that did not say --yes has not confirmed.
    let out = shipdeck(&config, home.path(), &["promote", "staging"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert_eq!(bench.branch_head("staging").await, staging_before);

    // 3: blocked, with the failing gate on stderr: dev's commit never ran in staging.
    let out = shipdeck(
        &config,
        home.path(),
        &["rollback", "staging", "--to", &dev, "--yes"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("blocked") && stderr.contains("rollback target"),
        "{stderr}"
    );
    assert_eq!(bench.branch_head("staging").await, staging_before);

    // 0: done. Staging runs exactly dev's commit, recorded as this script's deployment.
    let out = shipdeck(&config, home.path(), &["promote", "staging", "--yes"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("done"), "{}", text(&out.stdout));
    assert_eq!(bench.branch_head("staging").await, dev);
    assert_eq!(deployed(&bench, "staging").await, dev);
    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap();
    let ours: Vec<serde_json::Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| {
            e["environment"] == "staging" && e["actor"] == "script-captain"
        })
        .collect();
    let results: Vec<&str> = ours.iter().filter_map(|e| e["result"].as_str()).collect();
    assert!(
        results.ends_with(&["started", "succeeded"]),
        "audit: {results:?}"
    );

    // 1: failed. Prod's deploy command exits non-zero; the failure is said, and prod's branch
    // is left alone.
    let prod_before = bench.branch_head("prod").await;
    let out = shipdeck(
        &config,
        home.path(),
        &["promote", "prod", "--yes", "--confirm-high-risk"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("failed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(bench.branch_head("prod").await, prod_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unticked_required_checklist_item_blocks_a_script_until_it_ticks_it() {
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let staging = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\n\n\
                   [[environment.promotion.checklist]]\nid = \"migrations\"\n\
                   text = \"Migrations are backward-compatible\"\n";
    let (bench, config) = scaled_bench_with(state.path(), staging).await;
    let staging_before = bench.branch_head("staging").await;
    let dev = deployed(&bench, "dev").await;

    let out = shipdeck(&config, home.path(), &["promote", "staging", "--yes"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("checklist") && stderr.contains("1 required item unticked: migrations"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("[ ] migrations"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(bench.branch_head("staging").await, staging_before);

    let out = shipdeck(
        &config,
        home.path(),
        &["promote", "staging", "--yes", "--tick", "migrations"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("[x] migrations"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(bench.branch_head("staging").await, dev);
    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap();
    let ticks: Vec<serde_json::Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["event"] == "checklist_tick")
        .collect();
    assert_eq!(ticks.len(), 1, "{audit}");
    assert_eq!(ticks[0]["actor"], "script-captain");
    assert_eq!(ticks[0]["to_sha"], dev.as_str());
}

/// Staging promotes by itself after a soak longer than the test: nothing moves by itself
/// while the test holds and resumes it.
const STAGING_AUTO_LONG_SOAK: &str =
    "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"24h\"\nauto_promote = true\n";

fn status_of<'a>(document: &'a serde_json::Value, env: &str) -> &'a serde_json::Value {
    document["environments"]
        .as_array()
        .and_then(|envs| envs.iter().find(|e| e["name"] == env))
        .unwrap_or_else(|| panic!("no {env} in {document:#}"))
}

async fn status_json(config: &Path, home: &Path) -> serde_json::Value {
    let out = shipdeck(config, home, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_from_a_script_show_in_status_and_the_audit_log() {
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let (bench, config) = scaled_bench_with(state.path(), STAGING_AUTO_LONG_SOAK).await;

    // What auto-promotion waits for, the next promotion's gates and the lock are in the
    // status document.
    let document = status_json(&config, home.path()).await;
    let staging = status_of(&document, "staging");
    assert_eq!(staging["auto"]["state"], "wait", "{:#}", staging["auto"]);
    let waiting = staging["auto"]["waiting_for"].to_string();
    assert!(waiting.to_lowercase().contains("soak"), "{waiting}");
    let gates = staging["promotion"]["gates"].as_array().expect("gates");
    assert!(
        gates
            .iter()
            .any(|g| g["gate"] == "soak" && g["state"] == "fail"),
        "{gates:#?}"
    );
    assert!(staging["lock"].is_null());
    assert!(
        status_of(&document, "prod")["auto"].is_null(),
        "prod does not promote by itself"
    );

    // 0: held, with the reason everyone sees.
    let out = shipdeck(
        &config,
        home.path(),
        &[
            "hold",
            "staging",
            "--reason",
            "waiting for the INC-7 review",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("held"), "{}", text(&out.stdout));
    let (status, _) = bench.github("/git/ref/shipdeck/holds/staging").await;
    assert_eq!(status, 200, "the hold is a ref in GitHub");
    let document = status_json(&config, home.path()).await;
    let auto = &status_of(&document, "staging")["auto"];
    assert_eq!(auto["state"], "held", "{auto:#}");
    assert_eq!(auto["hold"]["reason"], "waiting for the INC-7 review");
    assert!(
        auto["hold"]["by"]
            .as_str()
            .unwrap_or("")
            .starts_with("script-captain@"),
        "{auto:#}"
    );

    // 3: refused, and why: a second hold, a hold where nothing promotes by itself.
    let out = shipdeck(
        &config,
        home.path(),
        &["hold", "staging", "--reason", "again"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already held by script-captain"),
        "{}",
        text(&out.stderr)
    );
    let out = shipdeck(&config, home.path(), &["hold", "prod", "--reason", "x"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("does not promote by itself"),
        "{}",
        text(&out.stderr)
    );
    // 2: bad input.
    let out = shipdeck(&config, home.path(), &["resume", "nowhere"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // 0: resumed; 3 once it is not held any more.
    let out = shipdeck(
        &config,
        home.path(),
        &["resume", "staging", "--reason", "review done"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (status, _) = bench.github("/git/ref/shipdeck/holds/staging").await;
    assert_eq!(status, 404, "the hold ref is gone");
    let out = shipdeck(&config, home.path(), &["resume", "staging"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not held"),
        "{}",
        text(&out.stderr)
    );
    let document = status_json(&config, home.path()).await;
    assert_eq!(status_of(&document, "staging")["auto"]["state"], "wait");

    let audit = std::fs::read_to_string(state.path().join("audit.jsonl")).unwrap();
    let events: Vec<(String, String)> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["environment"] == "staging")
        .map(|r| {
            (
                r["event"].as_str().unwrap_or("").to_string(),
                r["actor"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("auto_hold".to_string(), "script-captain".to_string()),
            ("auto_resume".to_string(), "script-captain".to_string())
        ],
        "{audit}"
    );
    bench.sandbox.shutdown().await;
}
