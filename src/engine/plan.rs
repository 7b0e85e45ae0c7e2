//! What an approved promotion or rollback will do, as plain data: the plan is written to the
//! journal before the first outside write, so a restarted engine knows what it was doing. Also
//! the pure decisions around it: which steps it has, what they are called on screen, and what
//! the journal says was already learned (ids of deployments, the pull request, the run).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::commands::Origin;
use crate::config::{
    Config, EnvironmentConfig, MergeMethod, PromotionStrategy, RollbackConfig, RollbackStrategy,
};
use crate::model::{ActionKind, ActionStepState, SafeText, StepLine};

/// How the commit gets into the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Method {
    /// Move the branch forward (`force: false`).
    FastForward,
    /// Move the branch wherever the target is (`force: true`), for rollbacks.
    ForceBranch,
    /// A pull request from a branch made at exactly the commit, merged with `merge_method`.
    PullRequest { merge_method: MergeMethod },
    /// Dispatch `workflow` with `inputs` (placeholders substituted when the plan is made).
    WorkflowDispatch {
        workflow: String,
        inputs: BTreeMap<String, String>,
    },
    /// Run a local program (placeholders substituted when it runs).
    Command { argv: Vec<String> },
}

impl Method {
    /// Whether the method moves the environment's branch, so the deploy is the run that the
    /// move starts on that branch.
    pub fn moves_branch(&self) -> bool {
        matches!(
            self,
            Method::FastForward | Method::ForceBranch | Method::PullRequest { .. }
        )
    }
}

/// Everything an approved action needs, fixed when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionPlan {
    pub id: String,
    pub kind: ActionKind,
    /// The environment that changes.
    pub environment: String,
    pub branch: String,
    /// Where a promoted commit comes from.
    pub source: Option<String>,
    /// GitHub deployment environments of the services, in configured order.
    pub services: Vec<String>,
    pub sha: String,
    /// What the environment ran before.
    pub from_sha: Option<String>,
    pub method: Method,
    pub actor: String,
    pub host: String,
    pub origin: Origin,
    /// Overrides used, in words (`freeze: reason`, `lock broken: reason`).
    pub overrides: Vec<String>,
    pub production: bool,
    pub required_contexts: Vec<String>,
    pub started_at: DateTime<Utc>,
    /// Why it was asked for, when the asker said.
    #[serde(default)]
    pub reason: Option<String>,
    /// The pull request is merged only once someone other than its author approved it
    /// (`require_review` with high-risk files).
    #[serde(default)]
    pub require_review: bool,
    /// The failed verification an automatic rollback answers (see
    /// [`ActionRequest::failed_verification`](super::commands::ActionRequest)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_verification: Option<Box<crate::model::VerificationView>>,
}

/// The steps of an action, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Lock,
    Deployments,
    InProgress,
    Apply,
    Follow,
    Finish,
    Unlock,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Lock,
        Step::Deployments,
        Step::InProgress,
        Step::Apply,
        Step::Follow,
        Step::Finish,
        Step::Unlock,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Step::Lock => "lock",
            Step::Deployments => "deployments",
            Step::InProgress => "in_progress",
            Step::Apply => "apply",
            Step::Follow => "follow",
            Step::Finish => "finish",
            Step::Unlock => "unlock",
        }
    }

    pub fn from_key(key: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// How a step is called on screen for this plan.
pub fn step_label(plan: &ActionPlan, step: Step) -> String {
    let short = short_sha(&plan.sha);
    match step {
        Step::Lock => format!("take the {} lock", plan.environment),
        Step::Deployments => "record the deployment in GitHub".to_string(),
        Step::InProgress => "mark it in progress".to_string(),
        Step::Apply => match &plan.method {
            Method::FastForward => format!("move {} to {short}", plan.branch),
            Method::ForceBranch => format!("force {} back to {short}", plan.branch),
            Method::PullRequest { .. } => format!("merge a pull request into {}", plan.branch),
            Method::WorkflowDispatch { workflow, .. } => format!("dispatch {workflow}"),
            Method::Command { argv } => format!(
                "run {}",
                argv.first().map(String::as_str).unwrap_or("the command")
            ),
        },
        Step::Follow => match &plan.method {
            Method::Command { .. } => "wait for the command".to_string(),
            _ => "follow the deploy run".to_string(),
        },
        Step::Finish => "record the result".to_string(),
        Step::Unlock => "release the lock".to_string(),
    }
}

/// The step lines of a plan with every step pending.
pub fn initial_steps(plan: &ActionPlan) -> Vec<StepLine> {
    Step::ALL
        .iter()
        .map(|step| StepLine {
            name: SafeText::with_max(&step_label(plan, *step), 80),
            state: ActionStepState::Pending,
            detail: None,
        })
        .collect()
}

/// What earlier runs of an action learned, read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Memo {
    /// GitHub environment -> deployment id.
    #[serde(default)]
    pub deployments: BTreeMap<String, u64>,
    #[serde(default)]
    pub pull_number: Option<u64>,
    #[serde(default)]
    pub run_id: Option<u64>,
    /// When the apply step's write was first attempted (runs started before are not ours).
    #[serde(default)]
    pub applied_at: Option<DateTime<Utc>>,
    /// A local command was started: it must not run twice.
    #[serde(default)]
    pub command_started: bool,
    /// The command finished with this outcome (success).
    #[serde(default)]
    pub command_succeeded: Option<bool>,
    /// The deploy's outcome, once known: `Ok(())` or the failure reason.
    #[serde(default)]
    pub deploy_result: Option<Result<(), String>>,
    /// Steps whose outcome is visible and recorded.
    #[serde(default)]
    pub done: Vec<Step>,
}

impl Memo {
    pub fn is_done(&self, step: Step) -> bool {
        self.done.contains(&step)
    }

    /// Folds one journal record's data into what is known.
    pub fn learn(&mut self, step: Step, phase_done: bool, data: &serde_json::Value) {
        if let Some(map) = data.get("deployments").and_then(|d| d.as_object()) {
            for (service, id) in map {
                if let Some(id) = id.as_u64() {
                    self.deployments.insert(service.clone(), id);
                }
            }
        }
        if let Some(n) = data.get("pull_number").and_then(|v| v.as_u64()) {
            self.pull_number = Some(n);
        }
        if let Some(n) = data.get("run_id").and_then(|v| v.as_u64()) {
            self.run_id = Some(n);
        }
        if let Some(at) = data
            .get("applied_at")
            .and_then(|v| v.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            self.applied_at = Some(at.with_timezone(&Utc));
        }
        if data.get("command_started").and_then(|v| v.as_bool()) == Some(true) {
            self.command_started = true;
        }
        if let Some(ok) = data.get("command_succeeded").and_then(|v| v.as_bool()) {
            self.command_succeeded = Some(ok);
        }
        if let Some(result) = data.get("deploy_result") {
            self.deploy_result = match result.get("failed").and_then(|v| v.as_str()) {
                Some(reason) => Some(Err(reason.to_string())),
                None => Some(Ok(())),
            };
        }
        if phase_done && !self.done.contains(&step) {
            self.done.push(step);
        }
    }
}

/// Why a plan cannot be made from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no environment is named {0:?}")]
    UnknownEnvironment(String),
    #[error("nothing is promoted into {0}: it has no [environment.promotion] table")]
    NoPromotion(String),
    #[error("{env}: strategy {strategy} needs `{key}` in the configuration")]
    Incomplete {
        env: String,
        strategy: &'static str,
        key: &'static str,
    },
}

/// The environment a promotion into `target` takes its commit from: `promotion.from`, or the
/// environment before it in the list.
pub fn source_of<'a>(
    config: &'a Config,
    target: &EnvironmentConfig,
) -> Option<&'a EnvironmentConfig> {
    let promotion = target.promotion.as_ref()?;
    match &promotion.from {
        Some(from) => config
            .environments
            .iter()
            .find(|e| e.name.get_ref() == from.get_ref()),
        None => {
            let index = config
                .environments
                .iter()
                .position(|e| e.name.get_ref() == target.name.get_ref())?;
            index
                .checked_sub(1)
                .and_then(|i| config.environments.get(i))
        }
    }
}

/// The environment a promotion from `source` goes into (the first whose promotion comes from it).
pub fn next_of<'a>(config: &'a Config, source: &str) -> Option<&'a EnvironmentConfig> {
    config.environments.iter().find(|target| {
        target.promotion.is_some()
            && source_of(config, target).is_some_and(|s| s.name.get_ref() == source)
    })
}

/// Whether changing `env` must be confirmed by typing its name: the last environment of the
/// chain, or any whose name or GitHub environment says production.
pub fn confirm_by_name(config: &Config, env: &EnvironmentConfig) -> bool {
    let is_last = config
        .environments
        .last()
        .is_some_and(|last| last.name.get_ref() == env.name.get_ref());
    let says_prod = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.starts_with("prod") || s.contains("production")
    };
    is_last || says_prod(env.name.get_ref()) || says_prod(env.github_environment())
}

/// How a promotion into `target` moves its commit.
pub fn promotion_method(target: &EnvironmentConfig) -> Result<Method, PlanError> {
    let name = target.name.get_ref().to_string();
    let promotion = target
        .promotion
        .as_ref()
        .ok_or_else(|| PlanError::NoPromotion(name.clone()))?;
    Ok(match promotion.strategy {
        PromotionStrategy::FastForward => Method::FastForward,
        PromotionStrategy::PullRequest => Method::PullRequest {
            merge_method: promotion.merge_method.unwrap_or_default(),
        },
        PromotionStrategy::WorkflowDispatch => Method::WorkflowDispatch {
            workflow: promotion
                .workflow
                .clone()
                .ok_or_else(|| PlanError::Incomplete {
                    env: name.clone(),
                    strategy: "workflow-dispatch",
                    key: "workflow",
                })?,
            inputs: promotion.inputs.clone(),
        },
        PromotionStrategy::Command => {
            if promotion.command.is_empty() {
                return Err(PlanError::Incomplete {
                    env: name,
                    strategy: "command",
                    key: "command",
                });
            }
            Method::Command {
                argv: promotion.command.clone(),
            }
        }
    })
}

/// How `target` is rolled back.
pub fn rollback_method(target: &EnvironmentConfig) -> Result<Method, PlanError> {
    let name = target.name.get_ref().to_string();
    let default = RollbackConfig::default();
    let rollback = target.rollback.as_ref().unwrap_or(&default);
    Ok(match rollback.strategy {
        RollbackStrategy::ForceBranch => Method::ForceBranch,
        RollbackStrategy::WorkflowDispatch => Method::WorkflowDispatch {
            workflow: rollback
                .workflow
                .clone()
                .ok_or_else(|| PlanError::Incomplete {
                    env: name.clone(),
                    strategy: "workflow-dispatch",
                    key: "workflow",
                })?,
            inputs: rollback.inputs.clone(),
        },
        RollbackStrategy::Command => {
            if rollback.command.is_empty() {
                return Err(PlanError::Incomplete {
                    env: name,
                    strategy: "command",
                    key: "command",
                });
            }
            Method::Command {
                argv: rollback.command.clone(),
            }
        }
    })
}

/// Workflow inputs with `{sha}`, `{env}` and `{previous_sha}` substituted, plus `environment`
/// and `sha` unless configured otherwise.
pub fn dispatch_inputs(
    configured: &BTreeMap<String, String>,
    env: &str,
    sha: &str,
    previous_sha: Option<&str>,
) -> BTreeMap<String, String> {
    let fill = |value: &str| {
        value
            .replace("{sha}", sha)
            .replace("{env}", env)
            .replace("{previous_sha}", previous_sha.unwrap_or(""))
    };
    let mut inputs: BTreeMap<String, String> = configured
        .iter()
        .map(|(k, v)| (k.clone(), fill(v)))
        .collect();
    inputs
        .entry("environment".to_string())
        .or_insert_with(|| env.to_string());
    inputs
        .entry("sha".to_string())
        .or_insert_with(|| sha.to_string());
    inputs
}

/// Whether `text` is a full 40-character hexadecimal commit id.
pub fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `text` could name a commit (7 to 40 hexadecimal characters).
pub fn is_sha_prefix(text: &str) -> bool {
    (7..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The branch a pull-request promotion opens from: made at exactly the commit, so the merge
/// brings that commit and nothing newer.
pub fn promotion_branch(plan: &ActionPlan) -> String {
    format!("shipdeck/promote/{}", plan.id)
}

/// The ref that locks an environment against a second action, across every instance.
pub fn lock_ref(environment: &str) -> String {
    format!("refs/shipdeck/locks/{environment}")
}

/// A new action id: time and a random suffix, safe in a ref name.
pub fn new_action_id(now: DateTime<Utc>, kind: ActionKind) -> String {
    let suffix: u32 = rand::random();
    format!(
        "{}-{}-{:06x}",
        kind.word(),
        now.format("%Y%m%dT%H%M%SZ"),
        suffix & 0xff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        crate::config::parse_str(text, "test.toml").expect("valid config")
    }

    const CHAIN: &str = r#"
[github]
repo = "acme/shop"

[[environment]]
name = "dev"
branch = "main"
url = "https://dev.example.com"

[[environment]]
name = "staging"
branch = "staging"
url = "https://staging.example.com"
[environment.promotion]
strategy = "workflow-dispatch"
workflow = "deploy.yml"
inputs = { target = "{env}@{sha}" }

[[environment]]
name = "prod"
branch = "prod"
github_environment = "production"
url = "https://example.com"
[environment.promotion]
from = "staging"
strategy = "pull-request"
merge_method = "rebase"
[environment.rollback]
strategy = "command"
command = ["deployctl", "rollback", "--to", "{sha}"]
"#;

    #[test]
    fn sources_and_next_environments_follow_the_chain() {
        let config = config(CHAIN);
        let staging = &config.environments[1];
        let prod = &config.environments[2];
        assert_eq!(source_of(&config, staging).unwrap().name.get_ref(), "dev");
        assert_eq!(source_of(&config, prod).unwrap().name.get_ref(), "staging");
        assert_eq!(source_of(&config, &config.environments[0]), None);
        assert_eq!(next_of(&config, "dev").unwrap().name.get_ref(), "staging");
        assert_eq!(next_of(&config, "staging").unwrap().name.get_ref(), "prod");
        assert!(next_of(&config, "prod").is_none());
    }

    #[test]
    fn only_production_needs_its_name_typed() {
        let config = config(CHAIN);
        assert!(!confirm_by_name(&config, &config.environments[0]));
        assert!(!confirm_by_name(&config, &config.environments[1]));
        assert!(confirm_by_name(&config, &config.environments[2]));
    }

    #[test]
    fn methods_come_from_the_strategies() {
        let config = config(CHAIN);
        assert!(matches!(
            promotion_method(&config.environments[0]),
            Err(PlanError::NoPromotion(_))
        ));
        assert_eq!(
            promotion_method(&config.environments[2]).unwrap(),
            Method::PullRequest {
                merge_method: MergeMethod::Rebase
            }
        );
        assert_eq!(
            rollback_method(&config.environments[1]).unwrap(),
            Method::ForceBranch
        );
        assert_eq!(
            rollback_method(&config.environments[2]).unwrap(),
            Method::Command {
                argv: vec![
                    "deployctl".into(),
                    "rollback".into(),
                    "--to".into(),
                    "{sha}".into()
                ]
            }
        );
    }

    #[test]
    fn dispatch_inputs_substitute_and_default() {
        let sha = "a".repeat(40);
        let configured = BTreeMap::from([("target".to_string(), "{env}@{sha}".to_string())]);
        let inputs = dispatch_inputs(&configured, "staging", &sha, None);
        assert_eq!(inputs["target"], format!("staging@{sha}"));
        assert_eq!(inputs["environment"], "staging");
        assert_eq!(inputs["sha"], sha);
    }

    #[test]
    fn memo_learns_ids_and_done_steps() {
        let mut memo = Memo::default();
        memo.learn(
            Step::Deployments,
            true,
            &serde_json::json!({"deployments": {"production-web": 7, "production-worker": 9}}),
        );
        memo.learn(
            Step::Apply,
            false,
            &serde_json::json!({"applied_at": "2026-11-20T10:00:00Z", "run_id": 44}),
        );
        memo.learn(
            Step::Follow,
            true,
            &serde_json::json!({"deploy_result": {"failed": "CI failed"}}),
        );
        assert_eq!(memo.deployments["production-worker"], 9);
        assert_eq!(memo.run_id, Some(44));
        assert!(memo.applied_at.is_some());
        assert!(memo.is_done(Step::Deployments));
        assert!(!memo.is_done(Step::Apply));
        assert_eq!(memo.deploy_result, Some(Err("CI failed".to_string())));
    }

    #[test]
    fn shas_are_checked() {
        assert!(is_full_sha(&"0123456789abcdef".repeat(3)[..40]));
        assert!(!is_full_sha("main"));
        assert!(is_sha_prefix("abc1234"));
        assert!(!is_sha_prefix("abc12"));
        assert!(!is_sha_prefix("abc1234; rm -rf /"));
    }

    #[test]
    fn action_ids_are_ref_safe() {
        let id = new_action_id(Utc::now(), ActionKind::Promote);
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{id}"
        );
    }
}
