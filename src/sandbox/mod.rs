//! The sandbox: a small, stateful GitHub + Sentry + app world served over HTTP on loopback.
//! `shipdeck demo`, the integration tests and the benchmarks run shipdeck's real clients
//! against it.
//!
//! - `scenario`: the knobs (TOML) that script the world;
//! - `world`: the state and its scheduled events, advanced lazily to the shared clock;
//! - `github`, `sentry`, `apps`: routes and JSON shaped after the official schemas;
//! - `http`: the transport edge (auth, ETags, rate limits, pagination, request log);
//! - `faults`: the fault plan that makes chosen requests fail on purpose;
//! - `receivers`: stand-ins for Slack-style webhooks, PagerDuty and an LLM on the app server
//!   (read back with [`Sandbox::received`]).
//!
//! The GitHub side has a write half too (refs, deployments and statuses, pull requests,
//! workflow dispatches, issues): what shipdeck's promotion engine calls, with GitHub's status
//! codes.

mod apps;
pub mod faults;
mod github;
mod http;
mod receivers;
pub mod scenario;
mod sentry;
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
pub use scenario::{Scenario, ScenarioAuthor, ScenarioError};

use crate::clock::Clock;
use http::{Shared, lock};
use world::World;

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

/// A running sandbox. Its servers stop on [`Sandbox::shutdown`] or when it is dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    github: SocketAddr,
    sentry: SocketAddr,
    apps: SocketAddr,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1:0 listeners (one for GitHub, one for Sentry, one for the apps) and
    /// serves them on tokio tasks until shutdown/drop.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        options.scenario.validate()?;
        let start = options
            .scenario
            .start
            .unwrap_or_else(|| options.clock.now());
        let faults = Faults::new(options.scenario.faults.clone());
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(options.scenario, start)),
            clock: options.clock,
            requests: Mutex::new(std::collections::VecDeque::new()),
            faults,
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

    pub fn sentry_url(&self) -> String {
        format!("http://{}", self.sentry)
    }

    /// The base URL of an environment's app (`dev`, `staging`, `prod`).
    pub fn app_url(&self, environment: &str) -> Option<String> {
        world::ENVIRONMENTS
            .iter()
            .any(|(name, _, _)| *name == environment)
            .then(|| format!("http://{}/{environment}", self.apps))
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
             token_env = \"SHIPDECK_DEMO_SENTRY_TOKEN\"\n",
            github = self.github_api_url(),
            repo = self.repo(),
            sentry = self.sentry_url(),
            org = sentry::ORG,
            projects = project_ids.join(", "),
        );
        for (name, branch, services) in world::ENVIRONMENTS {
            let url = format!("http://{}/{name}", self.apps);
            text.push_str(&format!(
                "\n[[environment]]\nname = \"{name}\"\nbranch = \"{branch}\"\nurl = \"{url}\"\n"
            ));
            text.push_str(match name {
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
                    let service_name = if *service == name { "web" } else { "worker" };
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

    /// Every request received so far, oldest first.
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
