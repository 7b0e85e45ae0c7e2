//! A release test bench: a sandbox on a manual clock whose own scheduled promotions are off
//! (only the engine under test moves branches), a config with chosen promotion tables, and
//! engines with their write side in a temporary state directory.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shipdeck::clock::Clock;
use shipdeck::config::{Config, Credentials};
use shipdeck::engine::executor::ExecTiming;
use shipdeck::engine::{
    ActionRequest, Engine, EngineHandle, EngineOptions, Origin, PollPolicy, Submitted, WriteOptions,
};
use shipdeck::model::{ActionKind, ActionPreview, ActionResult, Snapshot};
use shipdeck::sandbox::{Sandbox, Scenario};

use super::sandbox::start_with;

pub const DEADLINE: Duration = Duration::from_secs(60);

/// The demo's staging promotion table, as `Sandbox::demo_config_toml` writes it.
pub const DEMO_STAGING: &str =
    "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"2m\"\n";

/// The demo scenario without its own promotions, with rare commits, so what the engine
/// promotes stays the candidate while a test runs.
/// Staging's promotion in most tests: move the branch, after a minute of soak in dev.
pub const STAGING_FF: &str =
    "[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"1m\"\n";
/// Prod's promotion in most tests: a pull request from staging, after a minute of soak.
pub const PROD_PR: &str =
    "[environment.promotion]\nfrom = \"staging\"\nstrategy = \"pull-request\"\nsoak = \"1m\"\n";

pub fn quiet_scenario() -> Scenario {
    let mut scenario = Scenario::default_demo();
    scenario.promote_staging_every_secs = 10 * 365 * 24 * 3600;
    scenario.promote_prod_every_secs = 10 * 365 * 24 * 3600;
    scenario.commit_every_min_secs = 6 * 3600;
    scenario.commit_every_max_secs = 6 * 3600;
    scenario
}

/// The demo config with staging's and prod's promotion tables replaced (each a complete
/// `[environment.promotion]` table, plus any `[environment.rollback]`), and `tail` appended.
pub fn config_text(sandbox: &Sandbox, staging: &str, prod: &str, tail: &str) -> String {
    let text = sandbox.demo_config_toml();
    let prod_start = text
        .find("[environment.promotion]\nfrom = \"staging\"")
        .expect("the demo config promotes into prod");
    let prod_end = prod_start
        + text[prod_start..]
            .find("high_risk = [")
            .expect("prod has high-risk globs");
    let prod_end = prod_end + text[prod_end..].find('\n').expect("line end") + 1;
    let mut text = format!("{}{prod}{}", &text[..prod_start], &text[prod_end..]);
    text = text.replacen(DEMO_STAGING, staging, 1);
    // The demo's Black Friday freeze stays unless a test replaces it via `tail`.
    text.push_str(tail);
    text
}

pub struct Bench {
    pub sandbox: Sandbox,
    pub clock: Clock,
    pub config: Arc<Config>,
}

impl Bench {
    pub async fn start(scenario: Scenario, staging: &str, prod: &str, tail: &str) -> Bench {
        let sandbox = start_with(scenario).await;
        let text = config_text(&sandbox, staging, prod, tail);
        let config = shipdeck::config::parse_str(&text, "test.toml").expect("test config parses");
        let clock = sandbox.clock().clone();
        // Let the last commit's CI finish and dev deploy it: with rare commits and no
        // scheduled promotions, the candidates then hold still while a test runs.
        clock.advance(Duration::from_secs(30 * 60));
        Bench {
            sandbox,
            clock,
            config: Arc::new(config),
        }
    }

    pub fn write_options(&self, state_dir: &std::path::Path) -> WriteOptions {
        let mut write = WriteOptions::new(state_dir.to_path_buf(), "captain");
        write.host = "test-host".to_string();
        write.timing = ExecTiming {
            poll: Duration::from_millis(40),
            ..ExecTiming::fast()
        };
        write.write_timeout = Duration::from_secs(2);
        write
    }

    /// An engine with its write side (state in `state_dir`) or without (`None`).
    pub fn engine(&self, state_dir: Option<&std::path::Path>) -> EngineHandle {
        Engine::spawn_full(
            EngineOptions {
                config: Arc::clone(&self.config),
                credentials: Credentials::fixed("test-github", "test-sentry"),
                clock: self.clock.clone(),
                title: "release bench".to_string(),
            },
            PollPolicy::fast(),
            state_dir.map(|dir| self.write_options(dir)),
        )
        .expect("the engine starts")
    }

    /// Moves the manual clock `step` of world time every few milliseconds, until dropped.
    pub fn run_clock(&self, step: Duration) -> ClockRunner {
        let clock = self.clock.clone();
        let task = tokio::spawn(async move {
            loop {
                clock.advance(step);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        ClockRunner(task)
    }

    /// A GitHub GET against the sandbox, as JSON.
    pub async fn github(&self, path: &str) -> (u16, Value) {
        let url = format!("{}/repos/acme/shop{path}", self.sandbox.github_api_url());
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth("test-github")
            .send()
            .await
            .expect("the sandbox answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn branch_head(&self, branch: &str) -> String {
        let (status, body) = self.github(&format!("/git/ref/heads/{branch}")).await;
        assert_eq!(status, 200, "{body}");
        body["object"]["sha"].as_str().expect("a sha").to_string()
    }

    /// Deployments of a GitHub environment, newest first.
    pub async fn deployments(&self, environment: &str) -> Vec<Value> {
        let (_, body) = self
            .github(&format!(
                "/deployments?environment={environment}&per_page=100"
            ))
            .await;
        body.as_array().cloned().unwrap_or_default()
    }

    /// The states of a deployment's statuses, oldest first.
    pub async fn status_states(&self, deployment_id: u64) -> Vec<String> {
        let (_, body) = self
            .github(&format!(
                "/deployments/{deployment_id}/statuses?per_page=100"
            ))
            .await;
        let mut states: Vec<String> = body
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["state"].as_str().map(str::to_string))
            .collect();
        states.reverse();
        states
    }

    /// Deployments shipdeck made for `action_id` in `environment`.
    pub async fn deployments_of(&self, environment: &str, action_id: &str) -> Vec<Value> {
        self.deployments(environment)
            .await
            .into_iter()
            .filter(|d| {
                let payload = match &d["payload"] {
                    Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                payload["action_id"] == action_id
            })
            .collect()
    }

    /// How many requests with `method` to a path ending in `suffix` the sandbox answered 2xx.
    pub fn successful(&self, method: &str, suffix: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix) && r.status < 300)
            .count()
    }
}

pub struct ClockRunner(tokio::task::JoinHandle<()>);

impl Drop for ClockRunner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until the engine shows a preview for `kind` in `env` for which `what` holds.
pub async fn wait_preview(
    engine: &EngineHandle,
    env: &str,
    kind: ActionKind,
    what: impl Fn(&ActionPreview) -> bool,
) -> ActionPreview {
    let mut rx = engine.snapshots();
    let found = tokio::time::timeout(
        DEADLINE,
        rx.wait_for(|s: &Arc<Snapshot>| preview_of(s, env, kind).is_some_and(&what)),
    )
    .await
    .unwrap_or_else(|_| {
        let s = engine.snapshots().borrow().clone();
        panic!(
            "no matching {kind:?} preview for {env} in time; last: {:#?}",
            preview_of(&s, env, kind)
        )
    })
    .expect("engine running");
    preview_of(&found, env, kind).cloned().expect("present")
}

pub fn preview_of<'a>(s: &'a Snapshot, env: &str, kind: ActionKind) -> Option<&'a ActionPreview> {
    let release = &s
        .environments
        .iter()
        .find(|e| e.name.as_str() == env)?
        .release;
    match kind {
        ActionKind::Promote => release.promotion.as_ref(),
        ActionKind::Rollback => release.rollback.as_ref(),
    }
}

pub fn request(kind: ActionKind, env: &str) -> ActionRequest {
    ActionRequest::new(kind, env, "captain", Origin::Cli)
}

/// Submits and, when it starts, waits for its end. Returns the id and how it ended, or the
/// first answer when it did not start.
pub async fn submit_and_wait(
    engine: &EngineHandle,
    request: ActionRequest,
) -> Result<(String, ActionResult, Option<String>), Submitted> {
    let sender = engine.actions().expect("the engine has a write side");
    match sender.submit(request).await.expect("engine running") {
        Submitted::Started { id, done } => {
            let outcome = tokio::time::timeout(DEADLINE, done)
                .await
                .expect("the action ends in time")
                .expect("the action reports its end");
            Ok((id, outcome.result, outcome.reason))
        }
        other => Err(other),
    }
}

impl Bench {
    /// A bench for a config file from `examples/`: the world takes its environments, and the
    /// file's text is pointed at the sandbox the way `shipdeck demo --config` does it.
    pub async fn from_example(name: &str, scenario: Scenario) -> Bench {
        use shipdeck::sandbox::demo_config::{
            DemoRun, SandboxAddresses, environments_of, retarget,
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let (written, text) = shipdeck::config::load_file_with_text(&path)
            .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));
        let scenario = scenario
            .for_environments(environments_of(&written))
            .expect("the sandbox can run the example's environments");
        let sandbox = start_with(scenario).await;
        let clock = sandbox.clock().clone();
        let run = DemoRun {
            state_dir: std::env::temp_dir().display().to_string(),
            world_at: clock.now(),
            wall_at: chrono::Utc::now(),
            speed: 1.0,
        };
        let retargeted =
            retarget(&text, &SandboxAddresses::of(&sandbox), &run).expect("the example retargets");
        let mut config = shipdeck::config::parse_str(&retargeted.text, name)
            .unwrap_or_else(|e| panic!("the retargeted {name} does not parse: {e:?}"));
        // Tests run on a manual clock: the world's, not a scaled one.
        config.simulated_clock = None;
        clock.advance(Duration::from_secs(30 * 60));
        Bench {
            sandbox,
            clock,
            config: Arc::new(config),
        }
    }
}
