//! The configuration's shape, as read from TOML. Every table denies unknown keys so that a
//! typo is an error, never a silently ignored setting. Defaults follow DESIGN.md.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_spanned::Spanned;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub github: GithubConfig,
    pub sentry: Option<SentryConfig>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(rename = "environment")]
    pub environments: Vec<EnvironmentConfig>,
    /// Smoke checks run against every environment's `url`. Absent: the seven defaults.
    #[serde(rename = "smoke", default = "crate::config::defaults::smoke_checks")]
    pub smoke: Vec<SmokeCheckConfig>,
    /// Build the engine without its write side (same as `shipdeck watch`).
    #[serde(default)]
    pub read_only: bool,
    /// Where the journal and the audit log are kept; absent: the user's state directory.
    pub state_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub ui: UiConfig,
    /// Freeze windows: weekly windows and dated blackouts during which promotions wait.
    #[serde(rename = "freeze", default)]
    pub freezes: Vec<FreezeConfig>,
    /// A world clock other than the wall's: written by `shipdeck demo` into the config it
    /// leaves for commands from another terminal, so they judge soak and freezes by the
    /// sandbox's time. Absent (always, outside the demo): the system clock.
    pub simulated_clock: Option<SimulatedClockConfig>,
    /// What shipdeck does about failed CI jobs: re-runs, issues, an outside assistant.
    #[serde(default)]
    pub diagnosis: DiagnosisConfig,
    /// Issues for pipelines and deploys that stay red.
    #[serde(default)]
    pub red_watch: RedWatchConfig,
    /// How `shipdeck daemon` serves its health and metrics and writes its log.
    #[serde(default)]
    pub daemon: crate::config::daemon::DaemonConfig,
}

/// `[red_watch]`: one GitHub issue per incident of a branch's CI or an environment's
/// deploy staying red. One table for the repository: the patience asked of a red pipeline
/// is the team's, not an environment's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedWatchConfig {
    /// Watch at all (only an engine with its write side files issues).
    #[serde(default = "crate::config::defaults::yes")]
    pub enabled: bool,
    /// How long CI or a deploy stays red before its issue is filed.
    #[serde(default = "crate::config::defaults::red_for")]
    pub red_for: HumanDuration,
    /// Labels of the issue; the first is the one open issues are searched by.
    #[serde(default = "crate::config::defaults::red_watch_labels")]
    pub labels: Vec<String>,
}

impl Default for RedWatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            red_for: crate::config::defaults::red_for(),
            labels: crate::config::defaults::red_watch_labels(),
        }
    }
}

/// `[diagnosis]`: how failed CI jobs are read and acted on.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisConfig {
    /// Re-runs of a run's failed jobs (`R`) before shipdeck stops offering them and escalates.
    #[serde(default = "crate::config::defaults::max_reruns")]
    pub max_reruns: u32,
    /// Open a GitHub issue for a tier-3 failure (one per commit and kind).
    #[serde(default = "crate::config::defaults::yes")]
    pub open_issue: bool,
    /// Labels of that issue.
    #[serde(default = "crate::config::defaults::diagnosis_labels")]
    pub issue_labels: Vec<String>,
    /// An OpenAI-compatible chat-completions endpoint that gets the error excerpt; its answer
    /// is shown beside the built-in diagnosis.
    pub assistant: Option<AssistantConfig>,
}

impl Default for DiagnosisConfig {
    fn default() -> Self {
        Self {
            max_reruns: crate::config::defaults::max_reruns(),
            open_issue: true,
            issue_labels: crate::config::defaults::diagnosis_labels(),
            assistant: None,
        }
    }
}

/// `[diagnosis.assistant]`: the outside diagnosis endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssistantConfig {
    /// The full chat-completions URL, e.g. `https://api.openai.com/v1/chat/completions`.
    pub url: Spanned<String>,
    pub model: String,
    /// The environment variable holding the API key (sent as a bearer token); absent: none.
    pub api_key_env: Option<Spanned<String>>,
    #[serde(default = "crate::config::defaults::assistant_timeout")]
    pub timeout: HumanDuration,
}

/// World time runs `speed` times faster than the wall, and stood at `world_at` when the wall
/// said `wall_at` (both RFC 3339).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedClockConfig {
    pub world_at: chrono::DateTime<chrono::Utc>,
    pub wall_at: chrono::DateTime<chrono::Utc>,
    pub speed: f64,
}

impl SimulatedClockConfig {
    /// The world time when the wall says `wall_now`.
    pub fn world_time(
        &self,
        wall_now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let elapsed = (wall_now - self.wall_at).as_seconds_f64() * self.speed;
        let millis = (elapsed * 1000.0).clamp(-1e15, 1e15) as i64;
        self.world_at + chrono::TimeDelta::milliseconds(millis)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// REST API root; GitHub Enterprise Server uses `https://HOST/api/v3`.
    #[serde(default = "crate::config::defaults::github_api_url")]
    pub api_url: Spanned<String>,
    /// `owner/name`.
    pub repo: Spanned<String>,
    /// Name of the environment variable that holds the token (never the token itself).
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SentryConfig {
    #[serde(default = "crate::config::defaults::sentry_url")]
    pub url: Spanned<String>,
    pub org: Spanned<String>,
    /// Numeric project ids (events-stats refuses slugs).
    pub project_ids: Vec<u64>,
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Workflow file name, e.g. `ci.yml`.
    #[serde(default = "crate::config::defaults::workflow")]
    pub workflow: String,
    #[serde(default = "crate::config::defaults::total_target")]
    pub total_target: HumanDuration,
    #[serde(default = "crate::config::defaults::alarm_after")]
    pub alarm_after: HumanDuration,
    #[serde(rename = "stage", default = "crate::config::defaults::stages")]
    pub stages: Vec<StageConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            workflow: crate::config::defaults::workflow(),
            total_target: crate::config::defaults::total_target(),
            alarm_after: crate::config::defaults::alarm_after(),
            stages: crate::config::defaults::stages(),
        }
    }
}

/// One pipeline stage and the job-name patterns that belong to it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: Spanned<String>,
    /// Glob patterns over job names (`*` and `?`; case-insensitive), e.g. `"lint*"`.
    pub jobs: Vec<String>,
    pub target: HumanDuration,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub name: Spanned<String>,
    pub branch: String,
    /// GitHub deployment environment; defaults to `name`.
    pub github_environment: Option<String>,
    /// Base URL of the environment's app; smoke check paths are joined to it.
    pub url: Spanned<String>,
    /// Sentry `environment` tag; defaults to `name`.
    pub sentry_environment: Option<String>,
    /// Per-environment override of `[github] token_env`.
    pub github_token_env: Option<Spanned<String>>,
    /// Per-environment override of `[sentry] token_env`.
    pub sentry_token_env: Option<Spanned<String>>,
    /// Several services deployed from the one branch; absent: one service named after the
    /// environment, deployed to `github_environment`.
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceConfig>,
    /// How code gets into this environment; absent: nothing is promoted into it.
    pub promotion: Option<PromotionConfig>,
    /// How this environment is rolled back; absent: the default (force the branch back).
    pub rollback: Option<RollbackConfig>,
    /// How every deploy into this environment is verified; absent: the defaults, on for an
    /// environment nothing promotes from (the end of the chain: prod), off elsewhere.
    pub verify: Option<VerifyConfig>,
    /// Who hears about failed verifications and automatic rollbacks.
    #[serde(rename = "notify", default)]
    pub notifiers: Vec<NotifierConfig>,
}

impl EnvironmentConfig {
    pub fn github_environment(&self) -> &str {
        self.github_environment
            .as_deref()
            .unwrap_or(self.name.get_ref())
    }

    pub fn sentry_environment(&self) -> &str {
        self.sentry_environment
            .as_deref()
            .unwrap_or(self.name.get_ref())
    }

    /// The services to track: the configured ones, or the environment itself as one service.
    pub fn effective_services(&self) -> Vec<ServiceConfig> {
        if self.services.is_empty() {
            vec![ServiceConfig {
                name: Spanned::new(0..0, self.name.get_ref().clone()),
                github_environment: self.github_environment().to_string(),
            }]
        } else {
            self.services.clone()
        }
    }
}

/// The verification window after a deploy and what fails it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Verify deploys into this environment at all.
    pub enabled: Option<bool>,
    /// How long after a deploy it is watched.
    #[serde(default = "crate::config::defaults::verify_window")]
    pub window: HumanDuration,
    /// The time before the deploy whose error rate is the baseline.
    #[serde(default = "crate::config::defaults::verify_baseline")]
    pub baseline: HumanDuration,
    /// How long after a deploy its new error types are still told to the captain once the
    /// window has passed (absent: not at all). Longer than `window`.
    #[serde(default)]
    pub watch: Option<HumanDuration>,
    /// Roll back when errors rise more than this much (0.5: +50%).
    #[serde(default = "crate::config::defaults::max_increase")]
    pub max_increase: f64,
    /// Errors needed since the deploy before the error rate can fail it.
    #[serde(default = "crate::config::defaults::min_events")]
    pub min_events: u64,
    /// Events a new error type needs before it fails the deploy (1: any new type).
    #[serde(default = "crate::config::defaults::new_issue_events")]
    pub new_issue_events: u64,
    /// The smoke checks' availability objective, for the burn-rate rule (0.999: 99.9%).
    #[serde(default = "crate::config::defaults::availability")]
    pub availability: f64,
    /// Roll back by itself when verification fails; off: alert and wait for the captain.
    #[serde(default = "crate::config::defaults::yes")]
    pub auto_rollback: bool,
    /// Automatic rollbacks in a row, without a verified deploy between them, before shipdeck
    /// stops rolling back and escalates.
    #[serde(default = "crate::config::defaults::max_auto_rollbacks")]
    pub max_auto_rollbacks: u32,
    /// Open a GitHub issue for an automatic rollback (one per commit and reason).
    #[serde(default = "crate::config::defaults::yes")]
    pub open_issue: bool,
    /// Labels of that issue.
    #[serde(default = "crate::config::defaults::issue_labels")]
    pub issue_labels: Vec<String>,
}

/// One notification target of an environment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub kind: NotifierKindConfig,
    /// Where to post (for PagerDuty, the Events v2 enqueue URL; defaults to PagerDuty's).
    pub url: Option<Spanned<String>>,
    /// The environment variable holding the URL instead, for URLs that are secrets
    /// themselves (Slack's incoming webhooks).
    pub url_env: Option<Spanned<String>>,
    /// PagerDuty: the environment variable holding the integration (routing) key.
    pub routing_key_env: Option<Spanned<String>>,
    /// A name for the log and the screen; defaults to the kind.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NotifierKindConfig {
    Slack,
    Pagerduty,
    Webhook,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: Spanned<String>,
    pub github_environment: String,
}

/// How code gets into an environment and the gates it must pass first.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromotionConfig {
    /// The environment the candidate comes from; absent: the one before this in the list.
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub strategy: PromotionStrategy,
    /// How long the candidate must have run in `from`.
    #[serde(default = "crate::config::defaults::soak")]
    pub soak: HumanDuration,
    /// Extra check-run or commit status names that must be green at the candidate.
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Glob patterns over changed file paths that make a change high-risk.
    #[serde(default)]
    pub high_risk: Vec<String>,
    /// High-risk changes need an approving review by someone other than the author.
    #[serde(default)]
    pub require_review: bool,
    /// Promote by itself, once per candidate, when every gate passes (freezes and high-risk
    /// changes still wait for a person).
    #[serde(default)]
    pub auto_promote: bool,
    /// `workflow-dispatch`: the workflow file to run (e.g. `deploy.yml`).
    pub workflow: Option<String>,
    /// `workflow-dispatch`: inputs passed to the workflow.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// `command`: the program and its arguments (no shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// `pull-request`: how the pull request is merged.
    pub merge_method: Option<MergeMethod>,
    /// Commit status contexts GitHub itself checks before it records the deployment
    /// (`required_contexts`); empty: none (the CI gate has already checked the commit).
    #[serde(default)]
    pub required_contexts: Vec<String>,
    /// `[[environment.promotion.checklist]]`: what the captain ticks before promoting here.
    #[serde(default)]
    pub checklist: Vec<ChecklistItemConfig>,
}

/// One item of a release checklist.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItemConfig {
    /// Short, unique within the environment; `shipdeck promote ENV --tick ID` names it.
    pub id: Spanned<String>,
    /// What the captain confirms, as the confirmation lists it.
    pub text: Spanned<String>,
    /// Unticked, a required item blocks the promotion; an optional one is only listed.
    #[serde(default = "crate::config::defaults::yes")]
    pub required: bool,
    /// A pull request label that satisfies the item for an unattended promotion, when the
    /// pull request carrying the commit has it.
    pub label: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionStrategy {
    /// Move the target branch to the candidate (a fast-forward update of the ref).
    #[default]
    FastForward,
    PullRequest,
    WorkflowDispatch,
    Command,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMethod {
    #[default]
    Merge,
    Squash,
    Rebase,
}

/// How an environment is rolled back to its last good deployment.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    #[serde(default)]
    pub strategy: RollbackStrategy,
    /// `workflow-dispatch`: the workflow file to run.
    pub workflow: Option<String>,
    /// `workflow-dispatch`: inputs passed to the workflow.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// `command`: the program and its arguments (no shell).
    #[serde(default)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStrategy {
    /// Force the branch back to the last good commit.
    #[default]
    ForceBranch,
    WorkflowDispatch,
    Command,
}

/// A freeze: either a weekly window or one dated day, in a time zone.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    /// `"Fri 17:00 - Mon 09:00"`; may wrap over the week end.
    pub weekly: Option<Spanned<String>>,
    /// `"2026-11-27"`: the whole day in `time_zone`.
    pub date: Option<Spanned<String>>,
    /// IANA time zone name.
    #[serde(default = "crate::config::defaults::time_zone")]
    pub time_zone: Spanned<String>,
    /// Environments it applies to; absent: every environment that has a promotion.
    pub environments: Option<Vec<String>>,
    #[serde(default)]
    pub reason: String,
}

impl FreezeConfig {
    /// Whether this freeze holds promotions into `env`.
    pub fn applies_to(&self, env: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == env))
    }

    /// The time zone, if its name is known.
    pub fn tz(&self) -> Result<chrono_tz::Tz, String> {
        let name = self.time_zone.get_ref();
        name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
            format!(
                "unknown time zone \"{}\" (use an IANA name such as \"Europe/Berlin\" or \"UTC\")",
                crate::model::sanitize(name, 60)
            )
        })
    }

    /// The freeze as a schedule, or why its text is not one.
    pub fn window(&self) -> Result<FreezeWindow, String> {
        match (&self.weekly, &self.date) {
            (Some(weekly), None) => WeeklyWindow::parse(weekly.get_ref()).map(FreezeWindow::Weekly),
            (None, Some(date)) => {
                chrono::NaiveDate::parse_from_str(date.get_ref().trim(), "%Y-%m-%d")
                    .map(FreezeWindow::Date)
                    .map_err(|_| {
                        format!(
                            "\"{}\" is not a date; write it like \"2026-11-27\"",
                            crate::model::sanitize(date.get_ref(), 40)
                        )
                    })
            }
            (Some(_), Some(_)) => Err(FREEZE_BOTH.to_string()),
            (None, None) => Err(FREEZE_NEITHER.to_string()),
        }
    }
}

pub(crate) const FREEZE_BOTH: &str =
    "has both weekly and date; a freeze is one or the other (write two [[freeze]] tables)";
pub(crate) const FREEZE_NEITHER: &str =
    "needs weekly = \"Fri 17:00 - Mon 09:00\" or date = \"2026-11-27\"";

/// A parsed freeze schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeWindow {
    Weekly(WeeklyWindow),
    /// The whole day, midnight to midnight in the freeze's time zone.
    Date(chrono::NaiveDate),
}

/// A weekly window from a day and time to a day and time, local to the freeze's time zone.
/// An end at or before the start wraps into the next week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyWindow {
    pub start_day: chrono::Weekday,
    pub start_time: chrono::NaiveTime,
    pub end_day: chrono::Weekday,
    pub end_time: chrono::NaiveTime,
}

impl WeeklyWindow {
    /// Parses `"Fri 17:00 - Mon 09:00"` (days Mon..Sun, 24-hour times).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "\"{}\" is not a weekly window; write it like \"Fri 17:00 - Mon 09:00\" (days \
                 Mon, Tue, Wed, Thu, Fri, Sat, Sun; 24-hour times)",
                crate::model::sanitize(raw, 60)
            )
        };
        let (start, end) = raw.split_once('-').ok_or_else(bad)?;
        let point = |text: &str| -> Option<(chrono::Weekday, chrono::NaiveTime)> {
            let mut words = text.split_whitespace();
            let day = parse_weekday(words.next()?)?;
            let time = chrono::NaiveTime::parse_from_str(words.next()?, "%H:%M").ok()?;
            words.next().is_none().then_some((day, time))
        };
        let (start_day, start_time) = point(start).ok_or_else(bad)?;
        let (end_day, end_time) = point(end).ok_or_else(bad)?;
        Ok(Self {
            start_day,
            start_time,
            end_day,
            end_time,
        })
    }

    /// Length of the window in whole local days and time (0 < length <= 7 days).
    pub fn length(&self) -> chrono::TimeDelta {
        let start = i64::from(self.start_day.num_days_from_monday()) * 86_400
            + i64::from(chrono::Timelike::num_seconds_from_midnight(
                &self.start_time,
            ));
        let end = i64::from(self.end_day.num_days_from_monday()) * 86_400
            + i64::from(chrono::Timelike::num_seconds_from_midnight(&self.end_time));
        let week = 7 * 86_400;
        let len = (end - start).rem_euclid(week);
        chrono::TimeDelta::seconds(if len == 0 { week } else { len })
    }
}

fn parse_weekday(word: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    let day = match word.to_ascii_lowercase().as_str() {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    };
    Some(day)
}

/// One smoke check: a request and what its answer must satisfy, or a flow of steps
/// (`[[smoke.step]]`) that pass values from one answer to the next request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheckConfig {
    pub name: Spanned<String>,
    #[serde(default = "crate::config::defaults::method")]
    pub method: HttpMethod,
    /// Joined to the environment's `url`; `{url}` may also be written explicitly. Absent for
    /// a flow.
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Expected status code.
    #[serde(default = "crate::config::defaults::expect_status")]
    pub status: u16,
    /// The body must contain this text.
    pub body_contains: Option<String>,
    /// JSON pointer (RFC 6901) into the body and the value it must equal.
    pub json_pointer: Option<String>,
    pub json_equals: Option<toml::Value>,
    /// Latency budget of the request (of each request, in a flow).
    #[serde(default = "crate::config::defaults::max_latency")]
    pub max_latency: HumanDuration,
    /// Give up on the request after this long; in a flow, the whole flow's deadline.
    #[serde(default = "crate::config::defaults::smoke_timeout")]
    pub timeout: HumanDuration,
    /// The steps of a flow, run in order; absent: the check is the one request above.
    #[serde(rename = "step")]
    pub steps: Option<Vec<FlowStepConfig>>,
}

/// One step of a smoke flow: a request (or a request repeated until a condition holds), what
/// its answer must satisfy, and the values it hands to later steps. `{name}` in `path`
/// (URL-encoded), `headers`, `body`, `body_contains` and string `json_equals` stands for a
/// value an earlier step extracted.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowStepConfig {
    pub name: Spanned<String>,
    #[serde(default = "crate::config::defaults::method")]
    pub method: HttpMethod,
    pub path: String,
    /// Added to (and overriding) the check's own `headers`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    #[serde(default = "crate::config::defaults::expect_status")]
    pub status: u16,
    pub body_contains: Option<String>,
    pub json_pointer: Option<String>,
    pub json_equals: Option<toml::Value>,
    /// Values taken from the JSON answer for later steps: placeholder name to JSON pointer,
    /// e.g. `{ job_id = "/id" }`.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// Repeat the request until a condition holds.
    pub poll: Option<PollConfig>,
    /// Runs after the other steps, and after a failure too once the values it uses exist.
    #[serde(default)]
    pub cleanup: bool,
    /// Latency budget of the request; absent: the check's `max_latency`.
    pub max_latency: Option<HumanDuration>,
    /// Give up on one request after this long.
    #[serde(default = "crate::config::defaults::smoke_timeout")]
    pub timeout: HumanDuration,
}

/// How a flow step repeats its request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// World time between the starts of two requests.
    #[serde(default = "crate::config::defaults::poll_every")]
    pub every: HumanDuration,
    /// The condition that ends the wait (required; an `Option` so that its absence is
    /// reported with an example).
    pub until: Option<UntilConfig>,
    /// How long to keep asking; absent: as long as the flow's deadline allows.
    pub timeout: Option<HumanDuration>,
}

/// When a polled answer ends the wait: every condition given holds.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct UntilConfig {
    /// The answer's status code.
    pub status: Option<u16>,
    /// A JSON pointer into the answer, compared with `equals` or `one_of`.
    pub pointer: Option<String>,
    pub equals: Option<toml::Value>,
    pub one_of: Option<Vec<toml::Value>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Theme name (a built-in one, or a file under the config dir's `themes/`).
    pub theme: Option<String>,
    /// The wall layout, read across a room (as `--wall`); a wall never acts, so it also
    /// makes the cockpit read-only.
    #[serde(default)]
    pub wall: bool,
    /// Ignore every key but `quit_chord`, show no footer (as `--kiosk`).
    #[serde(default)]
    pub kiosk: bool,
    /// The one key that ends a kiosk, e.g. `"ctrl+q"`.
    #[serde(default = "crate::config::defaults::quit_chord")]
    pub quit_chord: Spanned<String>,
    /// Rotate the wall's detail panel through the environments this often (as `--cycle`).
    pub cycle: Option<HumanDuration>,
    /// The wall's banner for a red pipeline on `main` shows once it stayed red this long.
    #[serde(default = "crate::config::defaults::red_pipeline_after")]
    pub red_pipeline_after: HumanDuration,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            theme: None,
            wall: false,
            kiosk: false,
            quit_chord: crate::config::defaults::quit_chord(),
            cycle: None,
            red_pipeline_after: crate::config::defaults::red_pipeline_after(),
        }
    }
}

impl UiConfig {
    /// The kiosk's quit chord; the default when the configured one does not parse
    /// (validation has refused such a file already).
    pub fn quit_chord(&self) -> crate::config::KeyChord {
        crate::config::KeyChord::parse(self.quit_chord.get_ref())
            .unwrap_or(crate::config::KeyChord::ctrl_q())
    }
}

/// A duration written the human way in the config (`"30s"`, `"1m 30s"`, `"2h"`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        humantime::parse_duration(raw.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {:?}: {e} (write it like \"30s\", \"1m 30s\" or \"2h\")",
                    crate::model::sanitize(&raw, 40)
                ))
            })
    }
}
