//! What a notice or an issue about a failed deploy points at: links to the commit's CI run,
//! the environment's deployments and its errors in Sentry, and an excerpt of what failed
//! (the failing signals, smoke checks and new error types). Plain functions over the config
//! and a snapshot, so every notifier and the issue body carry the same links.

use reqwest::Url;

use crate::config::Config;
use crate::model::{EnvironmentSnapshot, SignalState, Snapshot, VerificationView};

/// Lines an excerpt keeps at most: a chat message or an issue stays readable.
const EXCERPT_LINES: usize = 12;

/// The web address for a REST API root: `https://api.github.com` is served from
/// `https://github.com`, GitHub Enterprise Server's `https://HOST/api/v3` from `https://HOST`;
/// anything else (the sandbox) serves both from the same root.
pub fn github_web_base(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    if let Some(rest) = trimmed.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    trimmed
        .strip_suffix("/api/v3")
        .unwrap_or(trimmed)
        .to_string()
}

fn url_with_path(base: &str, segments: &[&str]) -> Option<Url> {
    let mut url = Url::parse(base).ok()?;
    {
        let mut path = url.path_segments_mut().ok()?;
        path.pop_if_empty();
        for segment in segments {
            path.push(segment);
        }
    }
    Some(url)
}

/// Label and URL of the CI run, the deployments and the Sentry issues about `sha` in
/// environment `index`, for a notice or an issue. A link whose parts are unknown is left out.
pub fn links(
    config: &Config,
    index: usize,
    snapshot: &Snapshot,
    sha: &str,
) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let web = github_web_base(config.github.api_url.get_ref());
    let repo: Vec<&str> = config.github.repo.get_ref().split('/').collect();
    let run = snapshot
        .environments
        .iter()
        .filter_map(|env| env.pipeline.as_ref())
        .find(|pipeline| pipeline.sha == sha)
        .and_then(|pipeline| pipeline.html_url.as_ref())
        .map(|url| url.as_str().to_string());
    let checks = || {
        let mut path = repo.clone();
        path.extend(["commit", sha, "checks"]);
        url_with_path(&web, &path).map(String::from)
    };
    if let Some(run) = run.or_else(checks) {
        links.push(("CI run".to_string(), run));
    }
    if let Some(env) = config.environments.get(index) {
        let mut path = repo.clone();
        path.extend(["deployments", env.github_environment()]);
        if let Some(url) = url_with_path(&web, &path) {
            links.push(("Deployments".to_string(), url.to_string()));
        }
        if let Some(sentry) = &config.sentry {
            links.extend(sentry_links(
                sentry.url.get_ref(),
                sentry.org.get_ref(),
                &sentry.project_ids,
                env.sentry_environment(),
                snapshot.environments.get(index),
            ));
        }
    }
    links
}

/// The links of one new error type the watch found (Sentry issue `issue_id`): its issue
/// first, then the deploy's other links.
pub fn watch_links(
    config: &Config,
    index: usize,
    snapshot: &Snapshot,
    sha: &str,
    issue_id: &str,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if let Some(sentry) = &config.sentry
        && let Some(url) = url_with_path(
            sentry.url.get_ref(),
            &[
                "organizations",
                sentry.org.get_ref(),
                "issues",
                issue_id,
                "",
            ],
        )
    {
        found.push((format!("New error {issue_id}"), url.to_string()));
    }
    for link in links(config, index, snapshot, sha) {
        if !found.contains(&link) {
            found.push(link);
        }
    }
    found
}

fn sentry_links(
    base: &str,
    org: &str,
    project_ids: &[u64],
    environment: &str,
    env: Option<&EnvironmentSnapshot>,
) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let new_types = env.map(|e| e.errors.new_types.as_slice()).unwrap_or(&[]);
    for new_type in new_types.iter().take(3) {
        if let Some(url) = url_with_path(
            base,
            &["organizations", org, "issues", new_type.id.as_str(), ""],
        ) {
            links.push((
                format!("New error {}", new_type.id.as_str()),
                url.to_string(),
            ));
        }
    }
    if let Some(mut url) = url_with_path(base, &["organizations", org, "issues", ""]) {
        {
            let mut query = url.query_pairs_mut();
            for id in project_ids {
                query.append_pair("project", &id.to_string());
            }
            query.append_pair("environment", environment);
            query.append_pair("statsPeriod", "1h");
        }
        links.push(("Sentry issues".to_string(), url.to_string()));
    }
    links
}

/// What failed, a line each: the failing signals with their figures, the failing smoke
/// checks with their reasons, and the new error types with their counts. `None` when nothing
/// is failing (a resolve notice).
pub fn excerpt(env: Option<&EnvironmentSnapshot>, view: &VerificationView) -> Option<String> {
    let mut lines: Vec<String> = view
        .signals
        .iter()
        .filter(|s| s.state == SignalState::Fail)
        .map(|s| {
            format!(
                "{}: {} (baseline {}, threshold {}): {}",
                s.signal, s.measured, s.baseline, s.threshold, s.reason
            )
        })
        .collect();
    if let Some(env) = env {
        lines.extend(
            env.smoke
                .iter()
                .filter(|check| !check.ok)
                .map(|check| format!("smoke {}: {}", check.name, check.detail)),
        );
        lines.extend(env.errors.new_types.iter().map(|t| {
            format!(
                "new error {} ({}x since {}): {}",
                t.id,
                t.count,
                t.first_seen.format("%H:%M:%S UTC"),
                t.title
            )
        }));
    }
    if lines.is_empty() {
        return None;
    }
    let more = lines.len().saturating_sub(EXCERPT_LINES);
    lines.truncate(EXCERPT_LINES);
    if more > 0 {
        lines.push(format!("... and {more} more"));
    }
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;
    use crate::model::{
        NewErrorType, SafeText, SignalLine, SmokeResult, VerificationPhase, VerificationView,
    };

    const CONFIG: &str = r#"
[github]
repo = "acme/shop"

[sentry]
org = "acme"
project_ids = [7, 9]

[[environment]]
name = "prod"
branch = "prod"
url = "https://shop.example"
github_environment = "production"
sentry_environment = "live"
"#;

    fn config(text: &str) -> Config {
        crate::config::parse_str(text, "t.toml").unwrap()
    }

    fn at() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000)
    }

    fn view(sha: &str) -> VerificationView {
        VerificationView {
            sha: sha.to_string(),
            deployment_id: 5,
            deployed_at: at(),
            window_ends: at() + TimeDelta::minutes(15),
            phase: VerificationPhase::Failed,
            signals: vec![
                SignalLine {
                    signal: SafeText::new("error rate"),
                    state: SignalState::Fail,
                    measured: SafeText::new("31.0/min (+204%)"),
                    baseline: SafeText::new("10.2/min over 30 min"),
                    threshold: SafeText::new("above +50%"),
                    reason: SafeText::new("errors tripled"),
                },
                SignalLine {
                    signal: SafeText::new("latency"),
                    state: SignalState::Pass,
                    measured: SafeText::new("120ms"),
                    baseline: SafeText::new(""),
                    threshold: SafeText::new("800ms"),
                    reason: SafeText::new("fine"),
                },
            ],
            reason: SafeText::new("verification failed"),
            auto_rollback: true,
            baseline_per_minute: Some(10.2),
            watch: None,
        }
    }

    fn snapshot_with(env: EnvironmentSnapshot) -> Snapshot {
        let mut snapshot = crate::ui::sample::SampleBuilder::new(at()).build();
        snapshot.environments = vec![env];
        snapshot
    }

    fn prod_env() -> EnvironmentSnapshot {
        let mut env = crate::ui::sample::SampleBuilder::new(at())
            .build()
            .environments[2]
            .clone();
        env.pipeline = None;
        env.errors.new_types = vec![NewErrorType {
            id: SafeText::new("4021"),
            title: SafeText::new("TypeError: cart is undefined"),
            first_seen: at() + TimeDelta::minutes(2),
            count: 14,
            release: None,
        }];
        env.smoke = vec![SmokeResult {
            name: SafeText::new("checkout"),
            ok: false,
            latency_ms: Some(40),
            detail: SafeText::new("HTTP 500"),
            checked_at: at(),
        }];
        env
    }

    #[test]
    fn web_base_of_github_enterprise_and_the_sandbox() {
        assert_eq!(
            github_web_base("https://api.github.com"),
            "https://github.com"
        );
        assert_eq!(
            github_web_base("https://ghe.acme.io/api/v3/"),
            "https://ghe.acme.io"
        );
        assert_eq!(
            github_web_base("http://127.0.0.1:4100"),
            "http://127.0.0.1:4100"
        );
    }

    #[test]
    fn links_name_the_run_the_deployments_and_sentry() {
        let config = config(CONFIG);
        let sha = "a".repeat(40);
        let links = links(&config, 0, &snapshot_with(prod_env()), &sha);
        let labels: Vec<&str> = links.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["CI run", "Deployments", "New error 4021", "Sentry issues"]
        );
        assert_eq!(
            links[0].1,
            format!("https://github.com/acme/shop/commit/{sha}/checks")
        );
        assert_eq!(
            links[1].1,
            "https://github.com/acme/shop/deployments/production"
        );
        assert_eq!(
            links[2].1,
            "https://sentry.io/organizations/acme/issues/4021/"
        );
        assert_eq!(
            links[3].1,
            "https://sentry.io/organizations/acme/issues/?project=7&project=9&environment=live&statsPeriod=1h"
        );
    }

    #[test]
    fn a_watch_finding_links_its_own_issue_first() {
        let config = config(CONFIG);
        let sha = "a".repeat(40);
        let links = watch_links(&config, 0, &snapshot_with(prod_env()), &sha, "5900");
        let labels: Vec<&str> = links.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "New error 5900",
                "CI run",
                "Deployments",
                "New error 4021",
                "Sentry issues"
            ]
        );
        assert_eq!(
            links[0].1,
            "https://sentry.io/organizations/acme/issues/5900/"
        );
        let again = watch_links(&config, 0, &snapshot_with(prod_env()), &sha, "4021");
        assert_eq!(
            again.iter().filter(|(l, _)| l == "New error 4021").count(),
            1
        );
    }

    #[test]
    fn the_run_link_is_the_pipeline_that_ran_the_commit() {
        let config = config(CONFIG);
        let mut snapshot = snapshot_with(prod_env());
        let staging = crate::ui::sample::SampleBuilder::new(at())
            .build()
            .environments[1]
            .clone();
        let pipeline = staging.pipeline.clone().unwrap();
        snapshot.environments.push(staging);
        let links = links(&config, 0, &snapshot, &pipeline.sha);
        assert_eq!(
            Some(links[0].1.as_str()),
            pipeline.html_url.as_ref().map(|u| u.as_str())
        );
    }

    #[test]
    fn no_sentry_no_sentry_links_and_odd_names_are_escaped() {
        let text = CONFIG
            .replace("[sentry]\norg = \"acme\"\nproject_ids = [7, 9]\n", "")
            .replace(
                "github_environment = \"production\"",
                "github_environment = \"prod eu/1\"",
            );
        let links = links(&config(&text), 0, &snapshot_with(prod_env()), "abc");
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!(
            links[1].1,
            "https://github.com/acme/shop/deployments/prod%20eu%2F1"
        );
    }

    #[test]
    fn the_excerpt_lists_what_failed_and_only_that() {
        let env = prod_env();
        let text = excerpt(Some(&env), &view("abc")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("error rate: 31.0/min (+204%)"),
            "{text}"
        );
        assert!(
            !text.contains("latency"),
            "a passing signal is left out: {text}"
        );
        assert_eq!(lines[1], "smoke checkout: HTTP 500");
        assert!(lines[2].contains("TypeError: cart is undefined"), "{text}");
        assert!(lines[2].contains("14x"), "{text}");

        let mut quiet = view("abc");
        quiet.signals.clear();
        let mut calm = prod_env();
        calm.smoke.clear();
        calm.errors.new_types.clear();
        assert_eq!(excerpt(Some(&calm), &quiet), None);
    }

    #[test]
    fn a_long_excerpt_is_cut_with_a_count() {
        let mut env = prod_env();
        env.smoke = (0..30)
            .map(|i| SmokeResult {
                name: SafeText::new(&format!("check{i}")),
                ok: false,
                latency_ms: None,
                detail: SafeText::new("down"),
                checked_at: at(),
            })
            .collect();
        let text = excerpt(Some(&env), &view("abc")).unwrap();
        assert_eq!(text.lines().count(), EXCERPT_LINES + 1);
        assert!(text.ends_with("... and 20 more"), "{text}");
    }
}
