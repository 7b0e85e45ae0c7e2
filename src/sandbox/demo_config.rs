//! `shipdeck demo --config FILE`: runs a real config's process against the sandbox.
//!
//! The sandbox world takes the config's chain (environment names, branches, services), and a
//! copy of the config text is pointed at the sandbox: the GitHub API, Sentry, every
//! environment's URL, the notifiers and the diagnosis assistant. Everything else (promotion
//! strategies, gates, smoke checks and flows, verification, freezes, the checklist) is left
//! as written, comments included, so the demo runs exactly the process the file describes.

use toml_edit::{DocumentMut, Item, Value, value};

use super::Sandbox;
use super::topology::SandboxEnvironment;
use crate::config::{Config, NotifierKindConfig};

/// The sandbox environments a config names, in its order.
pub fn environments_of(config: &Config) -> Vec<SandboxEnvironment> {
    config
        .environments
        .iter()
        .map(|environment| SandboxEnvironment {
            name: environment.name.get_ref().clone(),
            branch: environment.branch.clone(),
            services: environment
                .effective_services()
                .into_iter()
                .map(|service| service.github_environment)
                .collect(),
            auto_promoted: environment
                .promotion
                .as_ref()
                .is_some_and(|promotion| promotion.auto_promote),
        })
        .collect()
}

/// How often (shortest, longest gap in seconds) the world commits to its trunk when it runs
/// `config`'s process, or `None` when the scenario's own pace serves it. An environment that
/// promotes by itself takes a commit only once it has soaked in the environment before, and a
/// commit soaks only while nothing newer has replaced it: at the demo's pace of a commit every
/// few minutes, a chain of auto-promoted environments with soaks of tens of minutes would
/// never see a candidate. So the world leaves the whole chain's soaks, one pipeline run and
/// some slack between two commits.
pub fn commit_pace(config: &Config) -> Option<(u64, u64)> {
    let auto_soaks: Vec<u64> = config
        .environments
        .iter()
        .filter_map(|environment| environment.promotion.as_ref())
        .filter(|promotion| promotion.auto_promote)
        .map(|promotion| promotion.soak.0.as_secs())
        .collect();
    if auto_soaks.is_empty() {
        return None;
    }
    let shortest =
        auto_soaks.iter().sum::<u64>() + config.pipeline.total_target.0.as_secs() + 5 * 60;
    Some((shortest, shortest * 3 / 2))
}

/// A config pointed at a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Retargeted {
    /// The config text with the sandbox's addresses in it.
    pub text: String,
    /// Values for the variables the config reads notifier URLs and keys from
    /// (`url_env`, `routing_key_env`): the sandbox's receivers stand in for them.
    pub notifier_secrets: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RetargetError {
    #[error("the config is not TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
    #[error("the config has no [github] table")]
    NoGithub,
}

/// `text` with the demo run's state directory and clock set.
pub fn with_run(text: &str, run: &DemoRun) -> Result<String, RetargetError> {
    let mut document: DocumentMut = text.parse()?;
    set_run(&mut document, run);
    Ok(document.to_string())
}

fn set_run(document: &mut DocumentMut, run: &DemoRun) {
    document["state_dir"] = value(&run.state_dir);
    let mut clock = toml_edit::Table::new();
    clock.insert("world_at", value(run.world_at.to_rfc3339()));
    clock.insert("wall_at", value(run.wall_at.to_rfc3339()));
    clock.insert("speed", value(run.speed));
    document["simulated_clock"] = Item::Table(clock);
}

/// The sandbox's addresses, as [`retarget`] writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxAddresses {
    pub github_api_url: String,
    pub repo: String,
    pub sentry_url: String,
    pub sentry_org: String,
    pub sentry_project_ids: Vec<u64>,
    pub hooks_url: String,
    /// `(environment, base URL)`.
    pub apps: Vec<(String, String)>,
}

impl SandboxAddresses {
    pub fn of(sandbox: &Sandbox) -> SandboxAddresses {
        SandboxAddresses {
            github_api_url: sandbox.github_api_url(),
            repo: sandbox.repo().to_string(),
            sentry_url: sandbox.sentry_url(),
            sentry_org: sandbox.sentry_org().to_string(),
            sentry_project_ids: sandbox.sentry_project_ids(),
            hooks_url: sandbox.hooks_url(),
            apps: sandbox
                .topology()
                .environments()
                .iter()
                .filter_map(|e| sandbox.app_url(&e.name).map(|url| (e.name.clone(), url)))
                .collect(),
        }
    }
}

/// Where a demo run keeps its state and how its world clock relates to the wall's, written
/// into the config so commands from another terminal act on the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoRun {
    pub state_dir: String,
    pub world_at: chrono::DateTime<chrono::Utc>,
    pub wall_at: chrono::DateTime<chrono::Utc>,
    pub speed: f64,
}

/// `text` (a config that passed `check-config`) with every outside address replaced by
/// the sandbox's, and the demo run's state directory and clock.
pub fn retarget(
    text: &str,
    sandbox: &SandboxAddresses,
    run: &DemoRun,
) -> Result<Retargeted, RetargetError> {
    let mut document: DocumentMut = text.parse()?;
    set_run(&mut document, run);
    let github = document
        .get_mut("github")
        .and_then(Item::as_table_like_mut)
        .ok_or(RetargetError::NoGithub)?;
    github.insert("api_url", value(&sandbox.github_api_url));
    github.insert("repo", value(&sandbox.repo));
    if let Some(sentry) = document.get_mut("sentry").and_then(Item::as_table_like_mut) {
        sentry.insert("url", value(&sandbox.sentry_url));
        sentry.insert("org", value(&sandbox.sentry_org));
        let ids: toml_edit::Array = sandbox
            .sentry_project_ids
            .iter()
            .map(|id| Value::from(*id as i64))
            .collect();
        sentry.insert("project_ids", value(ids));
    }
    if let Some(assistant) = document
        .get_mut("diagnosis")
        .and_then(|d| d.get_mut("assistant"))
        .and_then(Item::as_table_like_mut)
    {
        let url = format!("{}/_llm/v1/chat/completions", sandbox.hooks_url);
        assistant.insert("url", value(url));
    }
    let mut notifier_secrets = Vec::new();
    if let Some(environments) = document
        .get_mut("environment")
        .and_then(Item::as_array_of_tables_mut)
    {
        for environment in environments.iter_mut() {
            let name = environment
                .get("name")
                .and_then(Item::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some((_, url)) = sandbox.apps.iter().find(|(env, _)| *env == name) {
                environment.insert("url", value(url));
            }
            // The sandbox's Sentry tags events with the environment's own name.
            environment.remove("sentry_environment");
            let Some(notifiers) = environment
                .get_mut("notify")
                .and_then(Item::as_array_of_tables_mut)
            else {
                continue;
            };
            for (index, notifier) in notifiers.iter_mut().enumerate() {
                let kind = notifier
                    .get("kind")
                    .and_then(Item::as_str)
                    .and_then(|kind| {
                        toml::Value::String(kind.to_string())
                            .try_into::<NotifierKindConfig>()
                            .ok()
                    });
                let url = match kind {
                    Some(NotifierKindConfig::Pagerduty) => {
                        format!("{}/_pagerduty/v2/enqueue", sandbox.hooks_url)
                    }
                    _ => format!("{}/_hooks/{name}-{}", sandbox.hooks_url, index + 1),
                };
                match notifier.get("url_env").and_then(Item::as_str) {
                    // The variable stays the config's; the demo gives it the receiver.
                    Some(variable) => notifier_secrets.push((variable.to_string(), url)),
                    None => {
                        notifier.insert("url", value(url));
                    }
                }
                if let Some(variable) = notifier.get("routing_key_env").and_then(Item::as_str) {
                    notifier_secrets.push((variable.to_string(), format!("demo-{name}-key")));
                }
            }
        }
    }
    Ok(Retargeted {
        text: document.to_string(),
        notifier_secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> DemoRun {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .expect("a time")
            .to_utc();
        DemoRun {
            state_dir: "/tmp/demo-run".into(),
            world_at: at,
            wall_at: at,
            speed: 5.0,
        }
    }

    fn addresses() -> SandboxAddresses {
        SandboxAddresses {
            github_api_url: "http://127.0.0.1:1".into(),
            repo: "acme/shop".into(),
            sentry_url: "http://127.0.0.1:2".into(),
            sentry_org: "acme".into(),
            sentry_project_ids: vec![11, 12],
            hooks_url: "http://127.0.0.1:3".into(),
            apps: vec![
                ("staging".into(), "http://127.0.0.1:3/staging".into()),
                ("production".into(), "http://127.0.0.1:3/production".into()),
            ],
        }
    }

    const CONFIG: &str = r#"# The shop's release process.
state_dir = "/var/lib/shipdeck"

[github]
repo = "example/shop"   # the real one
token_env = "GITHUB_TOKEN"

[sentry]
org = "example"
project_ids = [1]
token_env = "SENTRY_TOKEN"

[[environment]]
name = "staging"
branch = "main"
url = "https://staging.example.com"

[[environment.notify]]
kind = "slack"
url_env = "SLACK_RELEASES_WEBHOOK"

[[environment]]
name = "production"
branch = "prod"
url = "https://example.com"

[environment.promotion]
soak = "30m"

[[environment.notify]]
kind = "webhook"
url = "https://hooks.example.com/deploys"

[[environment.notify]]
kind = "pagerduty"
routing_key_env = "PAGERDUTY_KEY"
"#;

    #[test]
    fn auto_promotion_slows_the_worlds_commits_to_let_the_chain_soak() {
        let manual = crate::config::parse_str(CONFIG, "shop.toml").expect("parses");
        assert_eq!(commit_pace(&manual), None, "a captain promotes whenever");
        let auto = CONFIG.replace("soak = \"30m\"", "soak = \"30m\"\nauto_promote = true");
        let auto = crate::config::parse_str(&auto, "shop.toml").expect("parses");
        // 30 minutes of soak, the default 7-minute pipeline target, 5 minutes of slack.
        let total = auto.pipeline.total_target.0.as_secs();
        assert_eq!(
            commit_pace(&auto),
            Some((1800 + total + 300, (1800 + total + 300) * 3 / 2))
        );
        // The topology marks the environment, so the world's own captain leaves it alone.
        let marked: Vec<bool> = environments_of(&auto)
            .iter()
            .map(|e| e.auto_promoted)
            .collect();
        assert_eq!(marked, [false, true]);
    }

    #[test]
    fn every_outside_address_points_at_the_sandbox_and_the_rest_stays() {
        let retargeted = retarget(CONFIG, &addresses(), &run()).expect("retargets");
        let text = &retargeted.text;
        let parsed: toml::Table = text.parse().expect("still TOML");
        assert_eq!(
            parsed["github"]["api_url"].as_str(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(parsed["github"]["repo"].as_str(), Some("acme/shop"));
        assert_eq!(parsed["github"]["token_env"].as_str(), Some("GITHUB_TOKEN"));
        assert_eq!(parsed["sentry"]["url"].as_str(), Some("http://127.0.0.1:2"));
        assert_eq!(
            parsed["sentry"]["project_ids"],
            toml::Value::Array(vec![11.into(), 12.into()])
        );
        let environments = parsed["environment"].as_array().expect("environments");
        assert_eq!(
            environments[0]["url"].as_str(),
            Some("http://127.0.0.1:3/staging")
        );
        assert_eq!(
            environments[1]["url"].as_str(),
            Some("http://127.0.0.1:3/production")
        );
        assert_eq!(environments[1]["promotion"]["soak"].as_str(), Some("30m"));
        let notifiers = environments[1]["notify"].as_array().expect("notifiers");
        assert_eq!(
            notifiers[0]["url"].as_str(),
            Some("http://127.0.0.1:3/_hooks/production-1")
        );
        assert_eq!(
            notifiers[1]["url"].as_str(),
            Some("http://127.0.0.1:3/_pagerduty/v2/enqueue")
        );
        assert!(text.starts_with("# The shop's release process."), "{text}");
        assert_eq!(parsed["state_dir"].as_str(), Some("/tmp/demo-run"));
        assert_eq!(parsed["simulated_clock"]["speed"].as_float(), Some(5.0));
        let config = crate::config::parse_str(text, "retargeted.toml").expect("a valid config");
        assert_eq!(
            config.simulated_clock.map(|c| c.world_at),
            Some(run().world_at)
        );
        assert_eq!(
            retargeted.notifier_secrets,
            [
                (
                    "SLACK_RELEASES_WEBHOOK".to_string(),
                    "http://127.0.0.1:3/_hooks/staging-1".to_string()
                ),
                (
                    "PAGERDUTY_KEY".to_string(),
                    "demo-production-key".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_config_without_github_or_not_toml_is_an_error() {
        assert!(matches!(
            retarget("[sentry]\norg = \"x\"\n", &addresses(), &run()),
            Err(RetargetError::NoGithub)
        ));
        assert!(matches!(
            retarget("[github\n", &addresses(), &run()),
            Err(RetargetError::Parse(_))
        ));
    }
}
