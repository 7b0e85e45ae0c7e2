//! `shipdeck daemon` as a container runs it: the release binary against a sandbox over real
//! HTTP, its world clock shared through the config's `[simulated_clock]`, its endpoint on a
//! free loopback port read from its first log line. Health and metrics answer with real
//! figures, every log line is JSON and no token shows in it, SIGTERM ends it with 0, and a
//! daemon killed in the middle of an automatic rollback finishes it after a restart without
//! writing anything twice.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use shipdeck::clock::Clock;
use shipdeck::model::{ActionKind, ActionResult};
use shipdeck::sandbox::scenario::DefectKind;
use shipdeck::sandbox::{FaultEffect, FaultRule, Sandbox, SandboxOptions, Scenario};
use tempfile::TempDir;

use crate::support::release::{
    Bench, PROD_PR, STAGING_FF, config_text, quiet_scenario, request, submit_and_wait, wait_preview,
};

/// How much faster than the wall the world runs.
const SPEED: f64 = 60.0;
const DEADLINE: Duration = Duration::from_secs(90);
/// A token value that must never reach the daemon's output.
const GITHUB_TOKEN: &str = "daemon-test-token-7f3a9c1e5b2d";

/// A sandbox on a scaled clock, 30 world minutes in (dev's last commit deployed and soaked).
async fn scaled_sandbox(scenario: Scenario) -> (Sandbox, Clock) {
    let clock = Clock::scaled(chrono::Utc::now(), SPEED);
    let sandbox = Sandbox::start(SandboxOptions {
        scenario,
        clock: clock.clone(),
    })
    .await
    .expect("the sandbox starts");
    clock.advance(Duration::from_secs(30 * 60));
    (sandbox, clock)
}

/// The daemon's config file: the sandbox's world with `staging` and a state directory, on
/// the sandbox's clock, listening on a free loopback port.
fn write_config(sandbox: &Sandbox, clock: &Clock, staging: &str, state: &Path) -> PathBuf {
    let header = format!(
        "state_dir = {}\n\n[simulated_clock]\nworld_at = \"{}\"\nwall_at = \"{}\"\nspeed = {SPEED:?}\n\n",
        toml::Value::String(state.display().to_string()),
        clock.now().to_rfc3339(),
        chrono::Utc::now().to_rfc3339(),
    );
    let text = format!(
        "{header}{}\n[daemon]\nlisten = \"127.0.0.1:0\"\nlog = \"json\"\n",
        config_text(sandbox, staging, PROD_PR, "")
    );
    shipdeck::config::parse_str(&text, "daemon.toml").expect("the daemon config parses");
    let file = state.join("daemon.toml");
    std::fs::write(&file, &text).expect("write the config");
    file
}

/// A running daemon and what it printed so far.
struct Daemon {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

impl Daemon {
    fn start(config: &Path, home: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shipdeck"))
            .arg("daemon")
            .arg("--config")
            .arg(config)
            .env("HOME", home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("USER", "daemon-captain")
            .env("SHIPDECK_DEMO_GITHUB_TOKEN", GITHUB_TOKEN)
            .env("SHIPDECK_DEMO_SENTRY_TOKEN", "test-sentry")
            .env_remove("SHIPDECK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        let (stdout, out_reader) = collect(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("stderr"));
        Daemon {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The first log line for which `what` holds, parsed.
    async fn wait_line(&self, what: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let found = self
                .lines()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| what(v));
            if let Some(found) = found {
                return found;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no such log line in time; stdout:\n{}\nstderr:\n{}",
                self.lines().join("\n"),
                self.stderr.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The endpoint's base URL, from the first log line.
    async fn base_url(&self) -> String {
        let line = self.wait_line(|v| v["kind"] == "listening").await;
        let first: Value = serde_json::from_str(&self.lines()[0]).expect("JSON");
        assert_eq!(first["kind"], "listening", "the address comes first");
        format!("http://{}", line["listen"].as_str().expect("an address"))
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to end; its exit code.
    async fn wait_exit(&mut self) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status.code();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the daemon did not exit in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.wait_exit().await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (0, error.to_string()),
    }
}

/// Polls `url` until `what` holds for its answer.
async fn wait_answer(url: &str, what: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let started = Instant::now();
    loop {
        let (status, body) = get(url).await;
        if what(status, &body) {
            return (status, body);
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{url}: last answer {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `name{labels}` in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_health_and_metrics_logs_json_and_stops_on_sigterm() {
    let (sandbox, clock) = scaled_sandbox(quiet_scenario()).await;
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let config = write_config(&sandbox, &clock, STAGING_FF, state.path());
    let mut daemon = Daemon::start(&config, home.path());
    let base = daemon.base_url().await;

    let (_, body) = wait_answer(&format!("{base}/healthz"), |status, _| status == 200).await;
    let health: Value = serde_json::from_str(&body).expect("health is JSON");
    assert_eq!(health["status"], "ok", "{health:#}");
    let sources = health["sources"].as_array().expect("sources");
    // Three environments, five sources each (Sentry configured).
    assert_eq!(sources.len(), 15, "{health:#}");
    assert!(
        sources
            .iter()
            .all(|s| s["ok"] == true && s["age_seconds"].as_u64().is_some()),
        "{health:#}"
    );

    // The ETags pay off within a few polls: some answers were 304s.
    let (_, metrics) = wait_answer(&format!("{base}/metrics"), |status, text| {
        status == 200
            && sample(
                text,
                "shipdeck_github_not_modified_total{environment=\"dev\"}",
            )
            .is_some_and(|n| n > 0.0)
            && text.contains("shipdeck_gate_state{action=\"promote\",environment=\"staging\"")
    })
    .await;
    let requests = sample(
        &metrics,
        "shipdeck_github_requests_total{environment=\"dev\"}",
    )
    .expect("a request counter");
    let not_modified = sample(
        &metrics,
        "shipdeck_github_not_modified_total{environment=\"dev\"}",
    )
    .expect("a 304 counter");
    assert!(requests >= not_modified && not_modified > 0.0, "{metrics}");
    assert!(
        metrics.contains("# TYPE shipdeck_github_requests_total counter"),
        "{metrics}"
    );
    for env in ["dev", "staging", "prod"] {
        assert!(
            metrics.contains(&format!(
                "shipdeck_deployed_info{{environment=\"{env}\",sha=\""
            )),
            "{env} runs something: {metrics}"
        );
        assert_eq!(
            sample(
                &metrics,
                &format!("shipdeck_action_in_flight{{environment=\"{env}\"}}")
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &metrics,
                &format!("shipdeck_source_up{{environment=\"{env}\",source=\"deployments\"}}")
            ),
            Some(1.0)
        );
    }
    // Staging's promotion gates were judged, and logged when they changed.
    daemon
        .wait_line(|v| v["kind"] == "gate" && v["environment"] == "staging")
        .await;

    daemon.signal("TERM");
    let started = Instant::now();
    assert_eq!(daemon.wait_exit().await, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "SIGTERM ends it promptly: {:?}",
        started.elapsed()
    );
    let lines = daemon.lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        parsed
            .iter()
            .all(|v| v["timestamp"].is_string() && v["level"].is_string())
    );
    assert_eq!(
        parsed.last().map(|v| v["kind"].clone()),
        Some(Value::from("stopped")),
        "the last line is written before the exit: {lines:#?}"
    );
    assert!(
        parsed
            .iter()
            .any(|v| v["kind"] == "stopping" && v["signal"] == "SIGTERM")
    );
    let everything = format!(
        "{}\n{}",
        lines.join("\n"),
        daemon.stderr.lock().unwrap().join("\n")
    );
    assert!(!everything.contains(GITHUB_TOKEN), "the token never shows");
    // Nothing was in flight: no journal is left behind.
    let journals = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal"))
        .count();
    assert_eq!(journals, 0);
    sandbox.shutdown().await;
}

/// New commits every ten minutes, each raising staging's error rate once it runs there.
fn bad_commits() -> Scenario {
    let mut scenario = quiet_scenario();
    scenario.commit_every_min_secs = 600;
    scenario.commit_every_max_secs = 720;
    scenario.lint_fails_every = 0;
    scenario.e2e_flake_probability = 0.0;
    scenario.email_degraded_every_secs = 0;
    scenario.defect_every = 1;
    scenario.defects = vec![DefectKind::ErrorSpike];
    scenario.defect_environments = vec!["staging".to_string()];
    scenario.error_rates.insert("staging".to_string(), 20.0);
    scenario
}

fn audit(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn branch_moves(sandbox: &Sandbox) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/git/refs/heads/staging"))
        .count()
}

/// A world where another instance promoted a bad commit into staging; staging is not
/// verified in that instance's config, so only the daemon's guard acts on what follows.
/// Returns the bench, the bad commit and the good one it replaced.
async fn bad_commit_in_staging() -> (Bench, String, String) {
    let (sandbox, clock) = scaled_sandbox(bad_commits()).await;
    // Another instance promotes the bad commit into staging; staging is not verified in its
    // config, so only the daemon's guard acts on what follows.
    let promoter_text = config_text(&sandbox, STAGING_FF, PROD_PR, "");
    let bench = Bench {
        config: Arc::new(shipdeck::config::parse_str(&promoter_text, "promoter.toml").unwrap()),
        sandbox,
        clock: clock.clone(),
    };
    let promoter_state = TempDir::new().unwrap();
    let promoter = bench.engine(Some(promoter_state.path()));
    let preview = wait_preview(&promoter, "staging", ActionKind::Promote, |p| p.allowed()).await;
    let (bad, good) = (
        preview.sha.clone().unwrap(),
        preview.from_sha.clone().unwrap(),
    );
    let (_, result, reason) = submit_and_wait(&promoter, request(ActionKind::Promote, "staging"))
        .await
        .unwrap_or_else(|answer| panic!("did not start: {answer:?}"));
    assert_eq!(result, ActionResult::Succeeded, "{reason:?}");
    promoter.shutdown().await;
    assert_eq!(bench.branch_head("staging").await, bad);
    (bench, bad, good)
}

/// The daemon's config for a bad-commit world: staging verified over a ten-minute window.
fn guarded_config(bench: &Bench, state: &Path) -> PathBuf {
    let staging = format!("{STAGING_FF}\n[environment.verify]\nwindow = \"10m\"\n");
    write_config(&bench.sandbox, &bench.clock, &staging, state)
}

/// The id of the automatic rollback the daemon's audit log records the start of.
fn auto_rollback_id(state: &Path) -> String {
    let started = audit(state)
        .into_iter()
        .find(|r| r["event"] == "auto_rollback" && r["result"] == "started")
        .expect("the rollback's start is audited");
    started["action_id"].as_str().unwrap().to_string()
}

/// After a restart: the rollback `id` ended well, with one deployment, both its statuses,
/// the lock released and a complete audit trail.
async fn finished_once(bench: &Bench, state: &Path, id: &str, good: &str) {
    assert_eq!(bench.branch_head("staging").await, good);
    let ours = bench.deployments_of("staging", id).await;
    assert_eq!(ours.len(), 1, "one deployment: {ours:#?}");
    let states = bench.status_states(ours[0]["id"].as_u64().unwrap()).await;
    assert_eq!(states, ["in_progress", "success"]);
    let (status, _) = bench.github("/git/ref/shipdeck/locks/staging").await;
    assert_eq!(status, 404, "the lock is released");
    let trail: Vec<String> = audit(state)
        .iter()
        .filter(|r| r["action_id"] == id)
        .map(|r| r["result"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(trail, ["started", "resumed", "succeeded"], "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_in_the_middle_of_a_rollback_finishes_it_after_a_restart_writing_nothing_twice()
 {
    let (bench, bad, good) = bad_commit_in_staging().await;

    // The rollback's branch move is applied but never answered: the daemon hangs in it.
    let moves_before = branch_moves(&bench.sandbox);
    bench.sandbox.faults().add(
        FaultRule::new(
            "PATCH",
            "/repos/*/*/git/refs/heads/staging",
            FaultEffect::TimeoutAfterApply,
        )
        .nth(1),
    );
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let config = guarded_config(&bench, state.path());
    let mut first = Daemon::start(&config, home.path());
    first
        .wait_line(|v| v["kind"] == "guard" && v["decision"] == "rolling_back")
        .await;
    let hung = tokio::time::timeout(DEADLINE, async {
        while branch_moves(&bench.sandbox) == moves_before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(hung.is_ok(), "the rollback never moved the branch");
    first.kill().await;
    assert_eq!(
        bench.branch_head("staging").await,
        good,
        "the move was applied"
    );
    let id = auto_rollback_id(state.path());

    let mut second = Daemon::start(&config, home.path());
    let ended = second
        .wait_line(|v| v["kind"] == "action_ended" && v["action_id"] == id.as_str())
        .await;
    assert_eq!(ended["result"], "succeeded", "{ended:#}");
    assert_eq!(
        branch_moves(&bench.sandbox),
        moves_before + 1,
        "the branch was moved once: the restart read it back"
    );
    finished_once(&bench, state.path(), &id, &good).await;
    let (_, metrics) = get(&format!("{}/metrics", second.base_url().await)).await;
    assert_eq!(
        sample(
            &metrics,
            "shipdeck_actions_total{environment=\"staging\",kind=\"rollback\",result=\"succeeded\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let lines = second.lines().join("\n");
    assert!(lines.contains("resuming rollback of staging"), "{lines}");
    // The guard that asked for it is gone; the new one reports the end all the same: the
    // guard's event, and one issue naming the bad commit.
    let reported = second
        .wait_line(|v| v["kind"] == "guard" && v["decision"] == "rolled_back")
        .await;
    assert_eq!(reported["sha"], bad.as_str(), "{reported:#}");
    let issues = tokio::time::timeout(DEADLINE, async {
        loop {
            let (_, body) = bench.github("/issues?state=open&per_page=100").await;
            let ours: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|i| i["title"].as_str().unwrap_or("").contains(&bad[..7]))
                .collect();
            if !ours.is_empty() {
                break ours;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the resumed rollback's issue is filed");
    assert_eq!(issues.len(), 1, "{issues:#?}");
    second.signal("TERM");
    assert_eq!(second.wait_exit().await, Some(0));
    bench.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_rollback_stops_after_the_current_step_and_the_restart_finishes_it() {
    let (bench, _bad, good) = bad_commit_in_staging().await;
    let moves_before = branch_moves(&bench.sandbox);
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let config = guarded_config(&bench, state.path());
    let mut first = Daemon::start(&config, home.path());
    // Once the branch is back, the rollback waits for the deploy run it started.
    let moved = tokio::time::timeout(DEADLINE, async {
        while bench.branch_head("staging").await != good {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(moved.is_ok(), "the rollback never moved the branch");
    first.signal("TERM");
    let signalled = Instant::now();
    assert_eq!(first.wait_exit().await, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "{:?}",
        signalled.elapsed()
    );
    let id = auto_rollback_id(state.path());
    let lines = first.lines().join("\n");
    assert!(lines.contains("paused"), "{lines}");
    // A paused rollback did not fail: nothing tells people it did.
    assert!(!lines.contains("rollback_failed"), "{lines}");
    assert!(
        !audit(state.path())
            .iter()
            .any(|r| r["action_id"] == id.as_str() && r["result"] == "succeeded"),
        "it stopped before its end"
    );
    let journals: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with("journal"))
        .collect();
    assert_eq!(
        journals.len(),
        1,
        "the journal keeps the action: {journals:?}"
    );

    let mut second = Daemon::start(&config, home.path());
    let ended = second
        .wait_line(|v| v["kind"] == "action_ended" && v["action_id"] == id.as_str())
        .await;
    assert_eq!(ended["result"], "succeeded", "{ended:#}");
    assert_eq!(branch_moves(&bench.sandbox), moves_before + 1);
    finished_once(&bench, state.path(), &id, &good).await;
    second.signal("TERM");
    assert_eq!(second.wait_exit().await, Some(0));
    bench.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_in_the_middle_of_an_auto_promotion_finishes_it_once_after_a_restart() {
    let mut scenario = quiet_scenario();
    scenario.email_degraded_every_secs = 0;
    scenario.e2e_flake_probability = 0.0;
    let (sandbox, clock) = scaled_sandbox(scenario).await;
    let bench = Bench {
        config: Arc::new(
            shipdeck::config::parse_str(
                &config_text(&sandbox, STAGING_FF, PROD_PR, ""),
                "bench.toml",
            )
            .unwrap(),
        ),
        sandbox,
        clock,
    };
    // The promotion's branch move is applied but never answered: the daemon hangs in it.
    let moves_before = branch_moves(&bench.sandbox);
    bench.sandbox.faults().add(
        FaultRule::new(
            "PATCH",
            "/repos/*/*/git/refs/heads/staging",
            FaultEffect::TimeoutAfterApply,
        )
        .nth(1),
    );
    let state = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let auto = "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\nauto_promote = true\n";
    let config = write_config(&bench.sandbox, &bench.clock, auto, state.path());
    let mut first = Daemon::start(&config, home.path());
    let hung = tokio::time::timeout(DEADLINE, async {
        while branch_moves(&bench.sandbox) == moves_before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(hung.is_ok(), "the auto-promotion never moved the branch");
    first.kill().await;
    let moved_to = bench.branch_head("staging").await;
    let started = audit(state.path())
        .into_iter()
        .find(|r| r["event"] == "auto_promote" && r["result"] == "started")
        .expect("the auto-promotion's start is audited");
    let id = started["action_id"].as_str().unwrap().to_string();

    let mut second = Daemon::start(&config, home.path());
    let ended = second
        .wait_line(|v| v["kind"] == "action_ended" && v["action_id"] == id.as_str())
        .await;
    assert_eq!(ended["result"], "succeeded", "{ended:#}");
    assert_eq!(bench.branch_head("staging").await, moved_to);
    assert_eq!(
        branch_moves(&bench.sandbox),
        moves_before + 1,
        "the branch was moved once: the restart read it back"
    );
    let ours = bench.deployments_of("staging", &id).await;
    assert_eq!(ours.len(), 1, "one deployment: {ours:#?}");
    let staging_of_sha: Vec<Value> = bench
        .deployments("staging")
        .await
        .into_iter()
        .filter(|d| d["sha"] == moved_to.as_str())
        .collect();
    assert_eq!(staging_of_sha.len(), 1, "not promoted a second time");
    let trail: Vec<String> = audit(state.path())
        .iter()
        .filter(|r| r["action_id"] == id.as_str())
        .map(|r| r["result"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(trail, ["started", "resumed", "succeeded"], "{trail:?}");
    second.signal("TERM");
    assert_eq!(second.wait_exit().await, Some(0));
    bench.sandbox.shutdown().await;
}
