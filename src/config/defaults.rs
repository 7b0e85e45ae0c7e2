//! Defaults from DESIGN.md: seven pipeline stages with target times, seven smoke checks.

use serde_spanned::Spanned;

use super::types::{HttpMethod, HumanDuration, SmokeCheckConfig, StageConfig};

pub fn github_api_url() -> Spanned<String> {
    Spanned::new(0..0, "https://api.github.com".to_string())
}

pub fn sentry_url() -> Spanned<String> {
    Spanned::new(0..0, "https://sentry.io".to_string())
}

pub fn workflow() -> String {
    "ci.yml".to_string()
}

pub fn total_target() -> HumanDuration {
    HumanDuration::secs(7 * 60)
}

pub fn alarm_after() -> HumanDuration {
    HumanDuration::secs(10 * 60)
}

/// How long a candidate runs in the source environment before it may be promoted.
pub fn soak() -> HumanDuration {
    HumanDuration::secs(30 * 60)
}

/// Freeze windows are read in UTC unless they name a time zone.
pub fn time_zone() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}

pub fn verify_window() -> HumanDuration {
    HumanDuration::secs(15 * 60)
}

pub fn verify_baseline() -> HumanDuration {
    HumanDuration::secs(30 * 60)
}

pub fn max_increase() -> f64 {
    0.5
}

pub fn min_events() -> u64 {
    5
}

pub fn new_issue_events() -> u64 {
    1
}

pub fn availability() -> f64 {
    0.999
}

pub fn quit_chord() -> Spanned<String> {
    Spanned::new(0..0, "ctrl+q".to_string())
}

pub fn red_pipeline_after() -> HumanDuration {
    HumanDuration::secs(30 * 60)
}

pub fn red_for() -> HumanDuration {
    HumanDuration::secs(30 * 60)
}

pub fn red_watch_labels() -> Vec<String> {
    vec!["shipdeck".to_string(), "red-pipeline".to_string()]
}

pub fn yes() -> bool {
    true
}

pub fn max_auto_rollbacks() -> u32 {
    3
}

pub fn issue_labels() -> Vec<String> {
    vec!["shipdeck".to_string(), "rollback".to_string()]
}

pub fn max_reruns() -> u32 {
    3
}

pub fn diagnosis_labels() -> Vec<String> {
    vec!["shipdeck".to_string(), "ci-failure".to_string()]
}

pub fn assistant_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(20))
}

pub fn method() -> HttpMethod {
    HttpMethod::Get
}

pub fn expect_status() -> u16 {
    200
}

pub fn max_latency() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(800))
}

pub fn smoke_timeout() -> HumanDuration {
    HumanDuration::secs(5)
}

/// World time between two requests of a polling flow step.
pub fn poll_every() -> HumanDuration {
    HumanDuration::secs(1)
}

/// The seven default stages: (name, job-name patterns, target).
pub const DEFAULT_STAGES: [(&str, &[&str], u64); 7] = [
    (
        "Install",
        &["install*", "setup*", "deps*", "bootstrap*"],
        30,
    ),
    ("Lint+Format", &["lint*", "format*", "fmt*", "style*"], 20),
    (
        "Typecheck",
        &["typecheck*", "types*", "tsc*", "check-types*"],
        40,
    ),
    ("Unit", &["unit*"], 60),
    ("Integration", &["integration*"], 90),
    ("E2E", &["e2e*", "end-to-end*", "browser*"], 120),
    (
        "Security+Performance",
        &["security*", "perf*", "audit*", "codeql*", "bench*"],
        60,
    ),
];

pub fn stages() -> Vec<StageConfig> {
    DEFAULT_STAGES
        .iter()
        .map(|(name, jobs, target)| StageConfig {
            name: Spanned::new(0..0, name.to_string()),
            jobs: jobs.iter().map(|j| j.to_string()).collect(),
            target: HumanDuration::secs(*target),
        })
        .collect()
}

/// One default smoke check: (name, method, path, body, JSON pointer, expected value).
pub type DefaultSmoke = (
    &'static str,
    HttpMethod,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

/// The seven default smoke checks.
/// The sandbox's apps answer exactly these; a real app is expected to expose the same or to
/// configure its own `[[smoke]]` list.
pub const DEFAULT_SMOKE: [DefaultSmoke; 7] = [
    ("health", HttpMethod::Get, "/healthz", None, "/status", "ok"),
    (
        "auth flow",
        HttpMethod::Post,
        "/api/auth/session",
        Some(r#"{"user":"shipdeck-smoke","password":"smoke"}"#),
        "/authenticated",
        "true",
    ),
    (
        "db read",
        HttpMethod::Get,
        "/api/db/ping",
        None,
        "/ok",
        "true",
    ),
    (
        "file access",
        HttpMethod::Get,
        "/api/files/probe",
        None,
        "/readable",
        "true",
    ),
    (
        "ai health",
        HttpMethod::Get,
        "/api/ai/health",
        None,
        "/status",
        "ok",
    ),
    (
        "email health",
        HttpMethod::Get,
        "/api/email/health",
        None,
        "/status",
        "ok",
    ),
    (
        "payment health",
        HttpMethod::Get,
        "/api/payments/health",
        None,
        "/status",
        "ok",
    ),
];

pub fn smoke_checks() -> Vec<SmokeCheckConfig> {
    DEFAULT_SMOKE
        .iter()
        .map(|(name, method, path, body, pointer, expected)| {
            let equals = match *expected {
                "true" => toml::Value::Boolean(true),
                other => toml::Value::String(other.to_string()),
            };
            let mut headers = std::collections::BTreeMap::new();
            if body.is_some() {
                headers.insert("content-type".to_string(), "application/json".to_string());
            }
            SmokeCheckConfig {
                name: Spanned::new(0..0, name.to_string()),
                method: *method,
                path: Some(path.to_string()),
                headers,
                body: body.map(str::to_string),
                status: 200,
                body_contains: None,
                json_pointer: Some(pointer.to_string()),
                json_equals: Some(equals),
                max_latency: max_latency(),
                timeout: smoke_timeout(),
                steps: None,
            }
        })
        .collect()
}
