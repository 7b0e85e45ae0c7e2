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
    #[serde(default)]
    pub ui: UiConfig,
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: Spanned<String>,
    pub github_environment: String,
}

/// One smoke check: a request and what its answer must satisfy.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheckConfig {
    pub name: Spanned<String>,
    #[serde(default = "crate::config::defaults::method")]
    pub method: HttpMethod,
    /// Joined to the environment's `url`; `{url}` may also be written explicitly.
    pub path: String,
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
    #[serde(default = "crate::config::defaults::max_latency")]
    pub max_latency: HumanDuration,
    #[serde(default = "crate::config::defaults::smoke_timeout")]
    pub timeout: HumanDuration,
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

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Theme name (a built-in one, or a file under the config dir's `themes/`).
    pub theme: Option<String>,
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
