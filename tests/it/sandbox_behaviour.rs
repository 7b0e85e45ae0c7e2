//! The sandbox over real HTTP: GitHub's transport behaviours (ETag/304, rate limit, 401,
//! 404, Link pagination), the world moving with a manual clock (runs, lint failure, dev
//! deployment), job logs behind signed redirects and re-runs of failed jobs (through
//! octocrab), determinism, hostile subjects, Sentry series and issues, the apps, and the demo
//! config and scenario files.

use crate::support::sandbox::{start_sandbox, start_with};

use std::time::Duration;

use reqwest::header::{ETAG, IF_NONE_MATCH, LINK};
use serde_json::Value;
use shipdeck::config::defaults::DEFAULT_SMOKE;
use shipdeck::sandbox::{CiFailure, FailedJob, Sandbox, Scenario};

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = get(url).await;
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn remaining(response: &reqwest::Response) -> u64 {
    header(response, "x-ratelimit-remaining").parse().unwrap()
}

#[tokio::test]
async fn etag_round_trip_and_rate_limit_counts_only_full_answers() {
    let sandbox = start_sandbox().await;
    let url = format!("{}/repos/acme/shop/branches/main", sandbox.github_api_url());
    let first = get(&url).await;
    assert_eq!(first.status(), 200);
    let etag = header(&first, ETAG.as_str());
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-used",
        "x-ratelimit-reset",
        "x-ratelimit-resource",
    ] {
        assert!(!header(&first, name).is_empty(), "missing {name}");
    }
    let before = remaining(&first);

    let cached = reqwest::Client::new()
        .get(&url)
        .bearer_auth("demo-token")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(remaining(&cached), before, "a 304 must not count");
    assert_eq!(header(&cached, ETAG.as_str()), etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let again = get(&url).await;
    assert_eq!(remaining(&again), before - 1, "a 200 counts");

    let requests = sandbox.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests.iter().filter(|r| r.not_modified).count(), 1);
    assert_eq!(requests[1].status, 304);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_shortened_request_log_keeps_the_newest_requests() {
    let sandbox = start_with(Scenario {
        requests_kept: 2,
        ..Scenario::default_demo()
    })
    .await;
    let base = sandbox.github_api_url();
    let paths = |sandbox: &shipdeck::sandbox::Sandbox| -> Vec<String> {
        sandbox.requests().into_iter().map(|r| r.path).collect()
    };
    get(&format!("{base}/repos/acme/shop/branches/main")).await;
    assert_eq!(paths(&sandbox), ["/repos/acme/shop/branches/main"]);
    for branch in ["staging", "prod"] {
        get(&format!("{base}/repos/acme/shop/branches/{branch}")).await;
    }
    assert_eq!(
        paths(&sandbox),
        [
            "/repos/acme/shop/branches/staging",
            "/repos/acme/shop/branches/prod"
        ]
    );
    get(&format!("{base}/repos/acme/shop/branches/dev")).await;
    assert_eq!(
        paths(&sandbox),
        [
            "/repos/acme/shop/branches/prod",
            "/repos/acme/shop/branches/dev"
        ]
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limit_window_resets_hourly_in_world_time() {
    let sandbox = start_sandbox().await;
    let url = format!(
        "{}/repos/acme/shop/git/ref/heads/main",
        sandbox.github_api_url()
    );
    let first = remaining(&get(&url).await);
    let second = remaining(&get(&url).await);
    assert_eq!(second, first - 1);
    sandbox.clock().advance(Duration::from_secs(3601));
    let after_reset = get(&url).await;
    assert_eq!(remaining(&after_reset), 4999);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn missing_token_is_401_and_unknown_route_is_404() {
    let sandbox = start_sandbox().await;
    let client = reqwest::Client::new();
    let url = format!("{}/repos/acme/shop/branches/main", sandbox.github_api_url());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Bad credentials");

    let sentry = format!("{}/api/0/organizations/acme/issues/", sandbox.sentry_url());
    assert_eq!(client.get(&sentry).send().await.unwrap().status(), 401);

    let unknown = get(&format!(
        "{}/repos/acme/shop/nope",
        sandbox.github_api_url()
    ))
    .await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["message"], "Not Found");
    assert!(body["documentation_url"].is_string());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn lists_paginate_with_link_headers_on_the_called_host() {
    let sandbox = start_sandbox().await;
    let api = sandbox.github_api_url();
    let mut url = format!("{api}/repos/acme/shop/commits?sha=main&per_page=6");
    let mut shas = Vec::new();
    let mut pages = 0;
    loop {
        let response = get(&url).await;
        let link = header(&response, LINK.as_str());
        let page: Vec<Value> = response.json().await.unwrap();
        shas.extend(page.iter().map(|c| c["sha"].as_str().unwrap().to_string()));
        pages += 1;
        let next = link
            .split(", ")
            .find(|l| l.ends_with("rel=\"next\""))
            .map(|l| {
                l.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            });
        match next {
            Some(next) => {
                assert!(next.starts_with(&api), "{next}");
                assert!(link.contains("rel=\"last\""));
                url = next;
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 4);
    assert_eq!(shas.len(), 20);
    let mut unique = shas.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    sandbox.shutdown().await;
}

/// The first commit after the start is the scenario's 21st: with lint failing every 7th
/// commit, it fails Lint, so this follows one run from push to failure.
#[tokio::test]
async fn run_progresses_with_the_clock_and_skips_stages_after_lint_fails() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let initial = get_json(&format!("{repo}/actions/runs?branch=main&per_page=1")).await;
    let initial_id = initial["workflow_runs"][0]["id"].as_u64().unwrap();

    let mut seen = Vec::new();
    let mut run_id = None;
    for _ in 0..600 {
        sandbox.clock().advance(Duration::from_secs(5));
        let runs = get_json(&format!("{repo}/actions/runs?branch=main&per_page=1")).await;
        let run = &runs["workflow_runs"][0];
        if run["id"].as_u64() == Some(initial_id) {
            continue;
        }
        run_id = run["id"].as_u64();
        let status = run["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            assert_eq!(run["conclusion"], "failure");
            break;
        }
    }
    assert_eq!(seen, ["queued", "in_progress", "completed"]);
    let run_id = run_id.unwrap();
    let jobs = get_json(&format!("{repo}/actions/runs/{run_id}/jobs?filter=latest")).await;
    let jobs = jobs["jobs"].as_array().unwrap();
    let conclusion = |name: &str| {
        jobs.iter()
            .find(|j| j["name"] == name)
            .map(|j| j["conclusion"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(conclusion("install"), "success");
    assert_eq!(conclusion("lint"), "failure");
    for later in [
        "typecheck",
        "unit (1/2)",
        "unit (2/2)",
        "integration",
        "e2e",
        "security",
        "performance",
    ] {
        assert_eq!(conclusion(later), "skipped", "{later}");
    }
    let lint = jobs.iter().find(|j| j["name"] == "lint").unwrap();
    let steps = lint["steps"].as_array().unwrap();
    assert_eq!(steps[0]["name"], "Set up job");
    assert!(steps.iter().any(|s| s["conclusion"] == "failure"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dev_deployment_appears_after_ci_passes_on_main() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let latest_dev = |deployments: &Value| deployments[0]["sha"].as_str().map(str::to_string);
    let initial = latest_dev(&get_json(&format!("{repo}/deployments?environment=dev")).await);
    let mut new_deployment = None;
    for _ in 0..400 {
        sandbox.clock().advance(Duration::from_secs(10));
        let deployments = get_json(&format!("{repo}/deployments?environment=dev")).await;
        if latest_dev(&deployments) != initial {
            new_deployment = Some(deployments[0].clone());
            break;
        }
    }
    let deployment = new_deployment.expect("a new dev deployment within 4000 s");
    let sha = deployment["sha"].as_str().unwrap();
    assert_eq!(deployment["environment"], "dev");
    let runs = get_json(&format!("{repo}/actions/runs?head_sha={sha}&branch=main")).await;
    let run = &runs["workflow_runs"][0];
    assert_eq!(
        run["conclusion"], "success",
        "deployed only after CI passed"
    );
    assert!(run["updated_at"].as_str().unwrap() <= deployment["created_at"].as_str().unwrap());

    let id = deployment["id"].as_u64().unwrap();
    sandbox.clock().advance(Duration::from_secs(60));
    let statuses = get_json(&format!("{repo}/deployments/{id}/statuses")).await;
    let states: Vec<&str> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["success", "in_progress", "queued"], "newest first");
    let older = get_json(&format!("{repo}/deployments?environment=dev&per_page=2")).await;
    let previous = older[1]["id"].as_u64().unwrap();
    let previous_statuses = get_json(&format!("{repo}/deployments/{previous}/statuses")).await;
    assert_eq!(previous_statuses[0]["state"], "inactive");
    sandbox.shutdown().await;
}

fn normalize_ports(text: &str, sandbox: &Sandbox) -> String {
    text.replace(&sandbox.github_api_url(), "http://GITHUB")
}

#[tokio::test]
async fn same_seed_and_clock_give_the_same_answers() {
    let a = start_sandbox().await;
    let b = start_sandbox().await;
    for sandbox in [&a, &b] {
        sandbox.clock().advance(Duration::from_secs(1234));
    }
    let paths = [
        "/repos/acme/shop/actions/runs?per_page=50",
        "/repos/acme/shop/deployments?per_page=100",
        "/repos/acme/shop/commits?sha=main&per_page=100",
        "/repos/acme/shop/branches/prod",
    ];
    for path in paths {
        let body_a = get(&format!("{}{path}", a.github_api_url()))
            .await
            .text()
            .await
            .unwrap();
        let body_b = get(&format!("{}{path}", b.github_api_url()))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            normalize_ports(&body_a, &a),
            normalize_ports(&body_b, &b),
            "{path}"
        );
    }
    let stats = "/api/0/organizations/acme/events-stats/?statsPeriod=1h&interval=1m&environment=prod&project=4501";
    let stats_a = get(&format!("{}{stats}", a.sentry_url()))
        .await
        .text()
        .await
        .unwrap();
    let stats_b = get(&format!("{}{stats}", b.sentry_url()))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(stats_a, stats_b);

    let other_seed = start_with(Scenario {
        seed: 99,
        ..Scenario::default_demo()
    })
    .await;
    let path = "/repos/acme/shop/commits?sha=main&per_page=5";
    let body_c = get(&format!("{}{path}", other_seed.github_api_url()))
        .await
        .text()
        .await
        .unwrap();
    let body_a = get(&format!("{}{path}", a.github_api_url()))
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(
        normalize_ports(&body_a, &a),
        normalize_ports(&body_c, &other_seed)
    );
}

#[tokio::test]
async fn hostile_subjects_reach_the_raw_json() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let raw = get(&format!("{repo}/commits/staging"))
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("\\u001b"), "ESC escaped in JSON: {raw:.300}");
    let commit: Value = serde_json::from_str(&raw).unwrap();
    let message = commit["commit"]["message"].as_str().unwrap();
    assert!(message.contains("\u{1b}[2J"));
    assert!(message.contains('\u{7}'));
    assert!(message.contains('\u{202e}'));
    let sha = commit["sha"].as_str().unwrap();
    let deployments = get_json(&format!(
        "{repo}/deployments?environment=staging&per_page=1"
    ))
    .await;
    assert_eq!(
        deployments[0]["sha"], sha,
        "staging runs the hostile commit at start"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn events_stats_are_zero_filled_per_minute() {
    let sandbox = start_sandbox().await;
    let base = format!(
        "{}/api/0/organizations/acme/events-stats/",
        sandbox.sentry_url()
    );
    let series = |environment: &str| {
        format!(
            "{base}?project=4501&environment={environment}&statsPeriod=1h&interval=1m&yAxis=count()&dataset=errors"
        )
    };
    let total = |body: &Value| -> (usize, u64) {
        let data = body["data"].as_array().unwrap();
        for pair in data.windows(2) {
            assert_eq!(
                pair[1][0].as_i64().unwrap() - pair[0][0].as_i64().unwrap(),
                60
            );
        }
        let sum = data
            .iter()
            .map(|bucket| {
                bucket[1]
                    .as_array()
                    .unwrap()
                    .first()
                    .map_or(0, |c| c["count"].as_u64().unwrap())
            })
            .sum();
        (data.len(), sum)
    };
    let dev = get_json(&series("dev")).await;
    let prod = get_json(&series("prod")).await;
    let (dev_buckets, dev_total) = total(&dev);
    let (prod_buckets, prod_total) = total(&prod);
    assert_eq!(dev_buckets, 61);
    assert_eq!(prod_buckets, 61);
    assert!(dev.as_object().unwrap().contains_key("start") && dev["end"].is_i64());
    assert!(
        prod_total > dev_total * 2,
        "prod {prod_total} vs dev {dev_total}"
    );
    assert!(
        dev["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b[1].as_array().unwrap().is_empty() || b[1][0]["count"] == 0),
        "low-traffic dev has empty minutes"
    );

    let slug = get(&format!(
        "{base}?project=shop-web&statsPeriod=1h&interval=1m"
    ))
    .await;
    assert_eq!(slug.status(), 400, "slugs are refused, as by Sentry");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn new_issues_show_up_under_first_seen_filter() {
    let sandbox = start_sandbox().await;
    let url = format!(
        "{}/api/0/organizations/acme/issues/?query=is:unresolved%20firstSeen:-15m&environment=staging&project=4501&sort=new",
        sandbox.sentry_url()
    );
    let before = get_json(&url).await;
    assert_eq!(before.as_array().unwrap().len(), 0);
    sandbox.clock().advance(Duration::from_secs(30 * 60));
    let after = get_json(&url).await;
    let titles: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["RangeError: Invalid time value"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apps_answer_the_default_smoke_checks() {
    let sandbox = start_sandbox().await;
    let client = reqwest::Client::new();
    for environment in ["dev", "staging", "prod"] {
        let base = sandbox.app_url(environment).unwrap();
        for (name, method, path, body, pointer, expected) in DEFAULT_SMOKE {
            let mut request =
                client.request(method.as_str().parse().unwrap(), format!("{base}{path}"));
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{environment} {name}");
            let json: Value = response.json().await.unwrap();
            let value = json.pointer(pointer).unwrap();
            let matches = match expected {
                "true" => value == &Value::Bool(true),
                text => value == text,
            };
            assert!(matches, "{environment} {name}: {json}");
        }
    }
    assert!(sandbox.app_url("qa").is_none());

    // Staging's e-mail health degrades now and then.
    let email = format!("{}/api/email/health", sandbox.app_url("staging").unwrap());
    let mut degraded = false;
    for _ in 0..200 {
        sandbox.clock().advance(Duration::from_secs(15));
        let body: Value = client
            .get(&email)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["status"] == "degraded" {
            degraded = true;
            break;
        }
    }
    assert!(degraded);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn demo_config_is_a_valid_shipdeck_config_for_this_sandbox() {
    let sandbox = start_sandbox().await;
    let text = sandbox.demo_config_toml();
    let config: shipdeck::config::Config = toml::from_str(&text).unwrap();
    assert_eq!(config.github.api_url.get_ref(), &sandbox.github_api_url());
    assert_eq!(config.github.repo.get_ref(), "acme/shop");
    let sentry = config.sentry.unwrap();
    assert_eq!(sentry.url.get_ref(), &sandbox.sentry_url());
    assert_eq!(sentry.project_ids, [4501, 4502]);
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.get_ref().as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    let prod = &config.environments[2];
    assert_eq!(prod.url.get_ref(), &sandbox.app_url("prod").unwrap());
    let services: Vec<(&str, &str)> = prod
        .services
        .iter()
        .map(|s| (s.name.get_ref().as_str(), s.github_environment.as_str()))
        .collect();
    assert_eq!(services, [("web", "prod"), ("worker", "prod-worker")]);
    assert_eq!(config.smoke.len(), 7);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn scenario_file_round_trips_and_bad_file_is_a_clear_error() {
    let mut scenario = Scenario::default_demo();
    scenario.seed = 4242;
    scenario.lint_fails_every = 3;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, scenario.to_toml_string().unwrap()).unwrap();
    let loaded = Scenario::from_toml_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(loaded, scenario);
    let sandbox = start_with(loaded).await;
    assert!(sandbox.requests().is_empty());
    sandbox.shutdown().await;

    let error = Scenario::from_toml_str("seed = 1\nhistory_commits = \"many\"\n").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("history_commits"), "{message}");
}

fn octocrab_for(sandbox: &Sandbox) -> octocrab::Octocrab {
    octocrab::Octocrab::builder()
        .base_uri(sandbox.github_api_url())
        .unwrap()
        .personal_token("demo-token".to_string())
        .build()
        .unwrap()
}

/// Every commit fails CI, with `kinds` in turn: the history alone has finished runs of each.
async fn start_failing_with(kinds: &[CiFailure]) -> Sandbox {
    let mut scenario = Scenario::default_demo();
    scenario.lint_fails_every = 1;
    scenario.ci_failures = kinds.to_vec();
    start_with(scenario).await
}

/// The newest job that failed with `kind` and has finished by now.
fn finished_failure(sandbox: &Sandbox, kind: CiFailure) -> FailedJob {
    let now = sandbox.clock().now();
    sandbox
        .failed_jobs(kind)
        .into_iter()
        .find(|job| job.completed_at <= now)
        .unwrap_or_else(|| panic!("a finished {kind:?} failure"))
}

/// Steps the clock until the run has completed; returns the run.
async fn drive_until_completed(sandbox: &Sandbox, run_id: u64) -> Value {
    let url = format!(
        "{}/repos/acme/shop/actions/runs/{run_id}",
        sandbox.github_api_url()
    );
    for _ in 0..400 {
        let run = get_json(&url).await;
        if run["status"] == "completed" {
            return run;
        }
        sandbox.clock().advance(Duration::from_secs(5));
    }
    panic!("run {run_id} never completed");
}

async fn jobs_of(sandbox: &Sandbox, run_id: u64, filter: &str) -> Vec<Value> {
    let url = format!(
        "{}/repos/acme/shop/actions/runs/{run_id}/jobs?filter={filter}&per_page=100",
        sandbox.github_api_url()
    );
    let body = get_json(&url).await;
    assert_eq!(body["total_count"], body["jobs"].as_array().unwrap().len());
    body["jobs"].as_array().unwrap().clone()
}

async fn post(sandbox: &Sandbox, path: &str, token: Option<&str>) -> reqwest::Response {
    let url = format!("{}/repos/acme/shop{path}", sandbox.github_api_url());
    let mut request = reqwest::Client::new().post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn job_logs_redirect_to_a_signed_url_that_octocrab_follows() {
    let sandbox = start_failing_with(&[CiFailure::Lint]).await;
    let failed = finished_failure(&sandbox, CiFailure::Lint);
    assert_eq!(failed.job_name, "lint");
    let octocrab = octocrab_for(&sandbox);
    let log = octocrab
        .workflows("acme", "shop")
        .download_job_logs(failed.job_id.into())
        .await
        .unwrap();
    let log = String::from_utf8(log.to_vec()).unwrap();
    assert!(
        log.contains(
            "  14:7  error  'discount' is assigned a value but never used  @typescript-eslint/no-unused-vars"
        ),
        "{log}"
    );
    assert!(log.contains("Z ##[error]Process completed with exit code 1.\n"));
    assert!(log.starts_with("20") && log.contains("Z Current runner version: '2.321.0'\n"));
    assert_eq!(
        sandbox.job_log(failed.job_id).as_deref(),
        Some(log.as_str())
    );

    // The redirect itself, as GitHub answers it.
    let api = sandbox.github_api_url();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let logs_url = |job_id: u64| format!("{api}/repos/acme/shop/actions/jobs/{job_id}/logs");
    let found = no_redirects
        .get(logs_url(failed.job_id))
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 302);
    assert!(!header(&found, "x-ratelimit-remaining").is_empty());
    let location = header(&found, "location");
    assert!(
        location.starts_with(&format!("{api}/_blobs/jobs/{}/log?", failed.job_id)),
        "{location}"
    );
    // Like a blob URL, it needs no token.
    let blob = reqwest::Client::new().get(&location).send().await.unwrap();
    assert_eq!(blob.status(), 200);
    assert!(header(&blob, "content-type").starts_with("text/plain"));
    assert_eq!(blob.text().await.unwrap(), log);
    let forged = location.replace("sig=", "sig=0");
    let forged = reqwest::Client::new().get(&forged).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    sandbox.clock().advance(Duration::from_secs(3600));
    let expired = reqwest::Client::new().get(&location).send().await.unwrap();
    assert_eq!(expired.status(), 403, "signed URLs are short-lived");

    let unknown = get(&logs_url(1)).await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["message"], "Not Found");
    assert!(body["documentation_url"].is_string());
    let skipped = jobs_of(&sandbox, failed.run_id, "latest").await;
    let skipped = skipped
        .iter()
        .find(|j| j["conclusion"] == "skipped")
        .unwrap();
    let skipped = get(&logs_url(skipped["id"].as_u64().unwrap())).await;
    assert_eq!(skipped.status(), 404, "a skipped job never wrote a log");
    let anonymous = reqwest::Client::new()
        .get(logs_url(failed.job_id))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_running_job_serves_its_log_so_far() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    // The newest history run is still going at the start.
    let runs = get_json(&format!(
        "{repo}/actions/runs?status=in_progress&per_page=1"
    ))
    .await;
    let run_id = runs["workflow_runs"][0]["id"].as_u64().unwrap();
    let running = jobs_of(&sandbox, run_id, "latest").await;
    let running = running
        .iter()
        .find(|j| j["status"] == "in_progress")
        .unwrap();
    let job_id = running["id"].as_u64().unwrap();
    let octocrab = octocrab_for(&sandbox);
    let download = || async {
        let bytes = octocrab
            .workflows("acme", "shop")
            .download_job_logs(job_id.into())
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let so_far = download().await;
    assert!(so_far.contains("Current runner version"), "{so_far}");
    assert!(!so_far.contains("Cleaning up orphan processes"));
    sandbox.clock().advance(Duration::from_secs(600));
    let whole = download().await;
    assert!(whole.starts_with(&so_far) && whole.ends_with("Z Cleaning up orphan processes\n"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rerunning_a_flaky_failure_passes_on_attempt_two() {
    let sandbox = start_failing_with(&[CiFailure::Flaky]).await;
    let failed = finished_failure(&sandbox, CiFailure::Flaky);
    assert_eq!((failed.job_name.as_str(), failed.run_attempt), ("e2e", 1));
    let before = jobs_of(&sandbox, failed.run_id, "latest").await;
    let api = sandbox.github_api_url();
    let run_url = format!("{api}/repos/acme/shop/actions/runs/{}", failed.run_id);
    assert_eq!(get_json(&run_url).await["conclusion"], "failure");
    let writes = sandbox.write_count();

    let octocrab = octocrab_for(&sandbox);
    octocrab
        .workflows("acme", "shop")
        .rerun_failed_jobs(failed.run_id.into())
        .await
        .unwrap();
    assert_eq!(sandbox.write_count(), writes + 1);
    let recorded = sandbox.requests();
    let recorded = recorded.last().unwrap();
    assert_eq!((recorded.method.as_str(), recorded.status), ("POST", 201));
    assert!(recorded.path.ends_with("/rerun-failed-jobs"));

    let run = get_json(&run_url).await;
    assert_eq!(run["run_attempt"], 2);
    assert_eq!(run["status"], "in_progress");
    assert_eq!(run["conclusion"], Value::Null);
    assert_eq!(run["updated_at"], run["run_started_at"]);
    assert!(
        run["previous_attempt_url"]
            .as_str()
            .unwrap()
            .ends_with("/attempts/1")
    );
    let again = post(
        &sandbox,
        &format!("/actions/runs/{}/rerun-failed-jobs", failed.run_id),
        Some("demo-token"),
    )
    .await;
    assert_eq!(again.status(), 403);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["message"], "This workflow is already running");

    let run = drive_until_completed(&sandbox, failed.run_id).await;
    assert_eq!(
        (run["conclusion"].as_str(), run["run_attempt"].as_u64()),
        (Some("success"), Some(2))
    );
    let latest = jobs_of(&sandbox, failed.run_id, "latest").await;
    assert_eq!(latest.len(), before.len());
    for job in &latest {
        serde_json::from_value::<octocrab::models::workflows::Job>(job.clone()).unwrap();
        assert_eq!(job["conclusion"], "success", "{}", job["name"]);
        let earlier = before.iter().find(|b| b["name"] == job["name"]).unwrap();
        if earlier["conclusion"] == "success" {
            assert_eq!(job["id"], earlier["id"], "{} is carried over", job["name"]);
            assert_eq!(job["run_attempt"], 1);
        } else {
            assert_ne!(
                job["id"], earlier["id"],
                "{} re-ran with a new id",
                job["name"]
            );
            assert_eq!(job["run_attempt"], 2);
        }
    }
    let all = jobs_of(&sandbox, failed.run_id, "all").await;
    assert_eq!(
        all.len(),
        before.len() + 3,
        "e2e, security and performance ran twice"
    );
    assert!(
        all.iter()
            .any(|j| j["id"] == failed.job_id && j["conclusion"] == "failure")
    );
    let first = get_json(&format!("{run_url}/attempts/1")).await;
    assert_eq!(
        (first["run_attempt"].as_u64(), first["conclusion"].as_str()),
        (Some(1), Some("failure"))
    );

    let e2e = latest.iter().find(|j| j["name"] == "e2e").unwrap();
    let log = octocrab
        .workflows("acme", "shop")
        .download_job_logs(e2e["id"].as_u64().unwrap().into())
        .await
        .unwrap();
    let log = String::from_utf8(log.to_vec()).unwrap();
    assert!(
        log.contains("  42 passed (") && !log.contains("##[error]"),
        "{log}"
    );
    let first_log = sandbox.job_log(failed.job_id).unwrap();
    assert!(
        first_log.contains("    Error: Timed out 5000ms waiting for expect(locator).toBeVisible()")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rerunning_a_lint_failure_fails_again() {
    let sandbox = start_failing_with(&[CiFailure::Lint]).await;
    let failed = finished_failure(&sandbox, CiFailure::Lint);
    let rerun = format!("/actions/runs/{}/rerun-failed-jobs", failed.run_id);
    assert_eq!(post(&sandbox, &rerun, None).await.status(), 401);
    sandbox.faults().add(
        shipdeck::sandbox::FaultRule::new(
            "POST",
            "/repos/*/*/actions/runs/*/rerun-failed-jobs",
            shipdeck::sandbox::FaultEffect::ServerError { status: 502 },
        )
        .nth(1),
    );
    assert_eq!(
        post(&sandbox, &rerun, Some("demo-token")).await.status(),
        502
    );
    let run_url = format!(
        "{}/repos/acme/shop/actions/runs/{}",
        sandbox.github_api_url(),
        failed.run_id
    );
    assert_eq!(
        get_json(&run_url).await["run_attempt"],
        1,
        "a fault applies nothing"
    );

    octocrab_for(&sandbox)
        .workflows("acme", "shop")
        .rerun_failed_jobs(failed.run_id.into())
        .await
        .unwrap();
    let run = drive_until_completed(&sandbox, failed.run_id).await;
    assert_eq!(
        (run["conclusion"].as_str(), run["run_attempt"].as_u64()),
        (Some("failure"), Some(2))
    );
    let latest = jobs_of(&sandbox, failed.run_id, "latest").await;
    let lint = latest.iter().find(|j| j["name"] == "lint").unwrap();
    assert_eq!(
        (lint["conclusion"].as_str(), lint["run_attempt"].as_u64()),
        (Some("failure"), Some(2))
    );
    assert_ne!(lint["id"], failed.job_id);
    assert!(
        latest
            .iter()
            .filter(|j| j["name"] == "typecheck")
            .all(|j| j["conclusion"] == "skipped")
    );
    let newest = finished_failure(&sandbox, CiFailure::Lint);
    assert_eq!(
        (newest.job_id, newest.run_attempt),
        (lint["id"].as_u64().unwrap(), 2)
    );
    let log = sandbox.job_log(newest.job_id).unwrap();
    assert!(log.contains("✖ 1 problem (1 error, 0 warnings)"), "{log}");

    // Re-running every job is another attempt, failing the same way.
    let all = post(
        &sandbox,
        &format!("/actions/runs/{}/rerun", failed.run_id),
        Some("demo-token"),
    )
    .await;
    assert_eq!(all.status(), 201);
    assert_eq!(all.json::<Value>().await.unwrap(), serde_json::json!({}));
    let run = drive_until_completed(&sandbox, failed.run_id).await;
    assert_eq!(
        (run["conclusion"].as_str(), run["run_attempt"].as_u64()),
        (Some("failure"), Some(3))
    );
    let missing = post(
        &sandbox,
        "/actions/runs/1/rerun-failed-jobs",
        Some("demo-token"),
    )
    .await;
    assert_eq!(missing.status(), 404);
    sandbox.shutdown().await;
}
