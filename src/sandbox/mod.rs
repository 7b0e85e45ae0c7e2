//! The sandbox: a small, stateful GitHub + Sentry + app world served over HTTP on loopback.
//! `shipdeck demo`, the integration tests and the benchmarks run shipdeck's real clients
//! against it.
//!
//! - `scenario`: the knobs (TOML) that script the world;
//! - `world`: the state and its scheduled events, advanced lazily to the shared clock;
//! - `github`, `sentry`, `apps`: routes and JSON shaped after the official schemas;
//! - `logs`: the raw job logs of CI runs, with each CI failure kind's tool output;
//! - `http`: the transport edge (auth, ETags, rate limits, pagination, request log);
//! - `faults`: the fault plans (GitHub's, Sentry's) that make chosen requests fail on purpose;
//! - `receivers`: stand-ins for Slack-style webhooks, PagerDuty and an LLM on the app server
//!   (read back with [`Sandbox::received`]).
//!
//! The GitHub side has a write half too (refs, deployments and statuses, pull requests,
//! workflow dispatches, issues, re-runs of workflow runs): what shipdeck's promotion engine
//! calls, with GitHub's status codes.

mod apps;
mod carrying;
pub mod demo_config;
pub mod faults;
mod github;
mod http;
pub mod logs;
mod receivers;
pub mod scenario;
mod sentry;
pub mod topology;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultEffect, FaultRule, Faults};
pub use receivers::ReceivedHook;
pub use scenario::{CiFailure, Scenario, ScenarioAuthor, ScenarioError};

use crate::clock::Clock;
use http::{Shared, lock};
pub use topology::{SandboxEnvironment, Topology};
use world::World;
pub use world::WorldSizes;

/// Requests kept by a sandbox nobody reads the log of (the demo, the soak): a log that
/// fills within minutes stays flat, where one that takes hours to fill reads as a leak.
pub const LONG_RUN_REQUESTS_KEPT: usize = 2_000;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub scenario: Scenario,
    pub clock: Clock,
}

/// Which of the sandbox's services answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Github,
    Sentry,
    App,
}

/// One request the sandbox received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub service: Service,
    pub method: String,
    pub path: String,
    /// Raw query string, without `?` (empty when none).
    pub query: String,
    pub status: u16,
    /// Answered `304 Not Modified`.
    pub not_modified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox scenario is invalid: {0}")]
    Scenario(#[from] ScenarioError),
    #[error("sandbox could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
}

/// The demo's smoke flow: queue a job in the app, wait up to a minute for a worker to finish
/// it, delete it (also when the wait failed).
pub const DEMO_FLOW_TOML: &str = r#"
[[smoke]]
name = "worker runs a job"
timeout = "90s"

[[smoke.step]]
name = "create"
method = "POST"
path = "/api/jobs"
status = 201
extract = { job_id = "/id" }

[[smoke.step]]
name = "wait"
path = "/api/jobs/{job_id}"
poll = { every = "2s", until = { pointer = "/status", equals = "done" }, timeout = "60s" }

[[smoke.step]]
name = "clean up"
method = "DELETE"
path = "/api/jobs/{job_id}"
status = 204
cleanup = true
"#;

/// A CI job that failed with a [`CiFailure`], as [`Sandbox::failed_jobs`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    pub kind: CiFailure,
    /// The commit the run checked out.
    pub sha: String,
    pub branch: String,
    pub run_id: u64,
    pub job_id: u64,
    pub job_name: String,
    /// The attempt of the run the job ran in.
    pub run_attempt: u32,
    /// When the job finishes (or finished), in world time: drive the clock past it before
    /// reading the whole log.
    pub completed_at: chrono::DateTime<chrono::Utc>,
}

/// A running sandbox. Its servers stop on [`Sandbox::shutdown`] or when it is dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    github: SocketAddr,
    sentry: SocketAddr,
    apps: SocketAddr,
    topology: Topology,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1:0 listeners (one for GitHub, one for Sentry, one for the apps) and
    /// serves them on tokio tasks until shutdown/drop.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        options.scenario.validate()?;
        let topology = options.scenario.topology().unwrap_or_default();
        let start = options
            .scenario
            .start
            .unwrap_or_else(|| options.clock.now());
        let faults = Faults::new(options.scenario.faults.clone());
        let (stop, stopped) = watch::channel(false);
        let requests_kept = options.scenario.requests_kept;
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(options.scenario, start)),
            clock: options.clock,
            requests: Mutex::new(std::collections::VecDeque::new()),
            requests_kept,
            faults,
            sentry_faults: Faults::default(),
            writes: std::sync::atomic::AtomicUsize::new(0),
            stopped: stopped.clone(),
            received: receivers::Received::default(),
        });
        let mut servers = Vec::new();
        let mut addresses = Vec::new();
        let routers = [
            Router::new().fallback(http::github_handler),
            Router::new().fallback(http::sentry_handler),
            Router::new().fallback(http::apps_handler),
        ];
        for router in routers {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(SandboxError::Bind)?;
            addresses.push(listener.local_addr().map_err(SandboxError::Bind)?);
            let app = router.with_state(shared.clone());
            let mut stopped = stopped.clone();
            servers.push(tokio::spawn(async move {
                let shutdown = async move {
                    // Ends on `true` or when the sender is dropped with the sandbox.
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(error) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::warn!(%error, "sandbox server stopped with an error");
                }
            }));
        }
        Ok(Sandbox {
            shared,
            github: addresses[0],
            sentry: addresses[1],
            apps: addresses[2],
            topology,
            stop,
            servers,
        })
    }

    pub fn github_api_url(&self) -> String {
        format!("http://{}", self.github)
    }

    /// The base URL of the receivers (the app server): `{hooks_url}/_hooks/{name}`,
    /// `{hooks_url}/_hooks/failing`, `{hooks_url}/_pagerduty/v2/enqueue` and
    /// `{hooks_url}/_llm/v1/chat/completions`.
    pub fn hooks_url(&self) -> String {
        format!("http://{}", self.apps)
    }

    /// What the receivers were sent on paths starting with `path_prefix` (e.g. `/_hooks/`,
    /// `/_pagerduty`), oldest first; the newest 1000 are kept.
    pub fn received(&self, path_prefix: &str) -> Vec<ReceivedHook> {
        self.shared.received.matching(path_prefix)
    }

    /// The sizes of the world's collections and of the sandbox's own logs.
    pub fn sizes(&self) -> WorldSizes {
        WorldSizes {
            requests: lock(&self.shared.requests).len(),
            received: self.shared.received.len(),
            ..self.shared.world_now().sizes()
        }
    }

    pub fn sentry_url(&self) -> String {
        format!("http://{}", self.sentry)
    }

    /// The base URL of an environment's app (the demo's `dev`, `staging`, `prod`).
    pub fn app_url(&self, environment: &str) -> Option<String> {
        self.topology
            .contains(environment)
            .then(|| format!("http://{}/{environment}", self.apps))
    }

    /// The world's chain of environments.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn sentry_org(&self) -> &str {
        sentry::ORG
    }

    /// The Sentry projects the sandbox has.
    pub fn sentry_project_ids(&self) -> Vec<u64> {
        sentry::PROJECTS.iter().map(|(id, _, _)| *id).collect()
    }

    pub fn repo(&self) -> &str {
        "acme/shop"
    }

    /// A complete shipdeck config that points at this sandbox.
    pub fn demo_config_toml(&self) -> String {
        let project_ids: Vec<String> = sentry::PROJECTS
            .iter()
            .map(|(id, _, _)| id.to_string())
            .collect();
        let mut text = format!(
            "# shipdeck demo: every URL points at the embedded sandbox.\n\
             [github]\n\
             api_url = \"{github}\"\n\
             repo = \"{repo}\"\n\
             token_env = \"SHIPDECK_DEMO_GITHUB_TOKEN\"\n\
             \n\
             [sentry]\n\
             url = \"{sentry}\"\n\
             org = \"{org}\"\n\
             project_ids = [{projects}]\n\
             token_env = \"SHIPDECK_DEMO_SENTRY_TOKEN\"\n\
             \n\
             [diagnosis.assistant]\n\
             url = \"{hooks}/_llm/v1/chat/completions\"\n\
             model = \"sandbox-diagnosis\"\n\
             api_key_env = \"SHIPDECK_DEMO_ASSISTANT_KEY\"\n",
            hooks = self.hooks_url(),
            github = self.github_api_url(),
            repo = self.repo(),
            sentry = self.sentry_url(),
            org = sentry::ORG,
            projects = project_ids.join(", "),
        );
        for environment in self.topology.environments() {
            let (name, branch, services) = (
                &environment.name,
                &environment.branch,
                &environment.services,
            );
            let url = format!("http://{}/{name}", self.apps);
            text.push_str(&format!(
                "\n[[environment]]\nname = \"{name}\"\nbranch = \"{branch}\"\nurl = \"{url}\"\n"
            ));
            text.push_str(match name.as_str() {
                "staging" => {
                    "\n[environment.promotion]\nstrategy = \"fast-forward\"\nsoak = \"2m\"\n"
                }
                "prod" => {
                    "\n[environment.promotion]\nfrom = \"staging\"\nstrategy = \"pull-request\"\n\
                     soak = \"5m\"\n\
                     high_risk = [\"migrations/**\", \"db/migrations/**\", \"infra/iam/**\", \"src/payments/**\"]\n"
                }
                _ => "",
            });
            if name == "prod" {
                // Verified by default as the end of the chain; written out so the demo's
                // config shows the knobs, with the sandbox's receivers as the team's chat and
                // incident webhook.
                let hooks = self.hooks_url();
                text.push_str(&format!(
                    "\n[environment.verify]\nwindow = \"15m\"\nmax_increase = 0.5\n\
                     auto_rollback = true\n\
                     \n[[environment.notify]]\nkind = \"slack\"\nname = \"#releases\"\n\
                     url = \"{hooks}/_hooks/releases\"\n\
                     \n[[environment.notify]]\nkind = \"webhook\"\nname = \"incident-bot\"\n\
                     url = \"{hooks}/_hooks/incidents\"\n"
                ));
            }
            if services.len() > 1 {
                for service in services {
                    let service_name = if service == name { "web" } else { "worker" };
                    text.push_str(&format!(
                        "\n[[environment.service]]\nname = \"{service_name}\"\ngithub_environment = \"{service}\"\n"
                    ));
                }
            }
        }
        text.push_str(
            "\n[[freeze]]\ndate = \"2026-11-27\"\ntime_zone = \"Europe/Berlin\"\n\
             environments = [\"prod\"]\nreason = \"Black Friday\"\n",
        );
        text
    }

    /// The jobs, of any attempt of any run kept, that failed with `kind`, newest first (as
    /// of the clock's time; a job still running is listed with its planned end).
    pub fn failed_jobs(&self, kind: CiFailure) -> Vec<FailedJob> {
        let world = self.shared.world_now();
        world
            .jobs_failing_with(kind)
            .into_iter()
            .filter(|(run, _)| run.created_at <= world.now)
            .map(|(run, job)| FailedJob {
                kind,
                sha: run.head_sha.clone(),
                branch: run.branch.clone(),
                run_id: run.id,
                job_id: job.id,
                job_name: job.name.clone(),
                run_attempt: job.run_attempt,
                completed_at: job.completed_at,
            })
            .collect()
    }

    /// Labels the pull request that carried commit `sha` (full) with `label`; its number,
    /// or `None` for an unknown commit.
    pub fn label_carrying_pull(&self, sha: &str, label: &str) -> Option<u64> {
        self.shared.world_now().label_carrying_pull(sha, label)
    }

    /// The commits that fail CI with `kind`, oldest first (full shas).
    pub fn commits_failing_with(&self, kind: CiFailure) -> Vec<String> {
        let world = self.shared.world_now();
        world
            .commits
            .iter()
            .filter(|commit| commit.ci_failure == Some(kind))
            .map(|commit| commit.sha.clone())
            .collect()
    }

    /// A job's log as its signed URL would serve it now (partial while the job runs);
    /// `None` for an unknown job.
    pub fn job_log(&self, job_id: u64) -> Option<String> {
        let world = self.shared.world_now();
        let (run, job) = world.job(job_id)?;
        Some(logs::job_log_until(
            run,
            job,
            world.commit(&run.head_sha),
            world.now,
        ))
    }

    /// What `shipdeck demo` runs: [`Sandbox::demo_config_toml`] with its smoke checks written
    /// out, the seven defaults and [`DEMO_FLOW_TOML`], a flow through the apps' job API that
    /// a `failing_flow` commit fails. The flow waits for a worker in world time: it needs a
    /// clock that moves (the demo's does; a test's manual clock must be stepped).
    pub fn demo_config_with_flow_toml(&self) -> String {
        let mut text = self.demo_config_toml();
        text.push_str("\n# Smoke checks: the seven defaults, then a flow.\n");
        for (name, method, path, body, pointer, expected) in crate::config::defaults::DEFAULT_SMOKE
        {
            let quoted = |value: &str| toml::Value::String(value.to_string()).to_string();
            text.push_str(&format!(
                "\n[[smoke]]\nname = {}\nmethod = \"{}\"\npath = {}\n",
                quoted(name),
                method.as_str(),
                quoted(path)
            ));
            if let Some(body) = body {
                text.push_str(&format!(
                    "headers = {{ content-type = \"application/json\" }}\nbody = {}\n",
                    quoted(body)
                ));
            }
            let expected = match expected {
                "true" => "true".to_string(),
                other => quoted(other),
            };
            text.push_str(&format!(
                "json_pointer = {}\njson_equals = {expected}\n",
                quoted(pointer)
            ));
        }
        text.push_str(DEMO_FLOW_TOML);
        text
    }

    /// Every request received so far (the newest `Scenario::requests_kept`, 20,000 by
    /// default), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// GitHub requests with a method other than GET/HEAD received so far (POST, PATCH, PUT,
    /// DELETE), answered or not. Never drops, unlike the capped request log.
    pub fn write_count(&self) -> usize {
        self.shared.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The live fault plan: `add` and `clear` rules while the sandbox runs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Uses up GitHub's primary rate limit: every request but `/rate_limit` answers 403 with
    /// `x-ratelimit-remaining: 0` until the hourly window resets in world time, which is
    /// returned.
    pub fn use_up_rate_limit(&self) -> chrono::DateTime<chrono::Utc> {
        let mut world = self.shared.world_now();
        world.rate_limit.used = world.rate_limit.limit;
        world.rate_limit.reset_at
    }

    /// The live fault plan of the Sentry side (its paths start `/api/0/`), empty at start.
    pub fn sentry_faults(&self) -> &Faults {
        &self.shared.sentry_faults
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Stops the servers: open connections get a moment to finish, then are dropped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in self.servers.drain(..) {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for server in &self.servers {
            server.abort();
        }
    }
}
