//! The sandbox's write side over real HTTP: refs (fast-forward, force, lock refs),
//! deployments and statuses, and the fault plan, with raw requests and with octocrab's typed
//! calls, and answers checked against GitHub's official schemas.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use shipdeck::sandbox::{FaultEffect, FaultRule, Sandbox, Scenario};

use crate::support::sandbox::{start_sandbox, start_time, start_with};
use crate::support::schemas::assert_valid;

const DEADLINE_STEPS: usize = 200;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

async fn call(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Answer {
    let url = format!("{}/repos/acme/shop{path}", sandbox.github_api_url());
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth("demo-token");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(sandbox: &Sandbox, path: &str) -> Value {
    let answer = call(sandbox, Method::GET, path, None).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.body
}

async fn head_of(sandbox: &Sandbox, branch: &str) -> String {
    get(sandbox, &format!("/git/ref/heads/{branch}")).await["object"]["sha"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Commits on main, newest first.
async fn main_history(sandbox: &Sandbox) -> Vec<String> {
    get(sandbox, "/commits?sha=main&per_page=100")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap().to_string())
        .collect()
}

fn octocrab_for(sandbox: &Sandbox) -> octocrab::Octocrab {
    octocrab::Octocrab::builder()
        .base_uri(sandbox.github_api_url())
        .unwrap()
        .personal_token("demo-token".to_string())
        .build()
        .unwrap()
}

/// The sha of the newest successful deployment of a GitHub environment.
async fn deployed(sandbox: &Sandbox, environment: &str) -> Option<String> {
    let deployments = get(
        sandbox,
        &format!("/deployments?environment={environment}&per_page=100"),
    )
    .await;
    for deployment in deployments.as_array().unwrap() {
        let id = deployment["id"].as_u64().unwrap();
        let statuses = get(sandbox, &format!("/deployments/{id}/statuses")).await;
        if statuses[0]["state"] == "success" {
            return deployment["sha"].as_str().map(str::to_string);
        }
    }
    None
}

/// Advances world time in 10 s steps until `what` holds (bounded, never a fixed sleep).
async fn advance_until<F, Fut>(sandbox: &Sandbox, what: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..DEADLINE_STEPS {
        if what().await {
            return;
        }
        sandbox.clock().advance(Duration::from_secs(10));
    }
    panic!("condition never held within {DEADLINE_STEPS} clock steps");
}

#[tokio::test]
async fn fast_forward_moves_the_branch_and_deploys_it_non_fast_forward_is_422() {
    let sandbox = start_sandbox().await;
    let staging = head_of(&sandbox, "staging").await;
    let prod = head_of(&sandbox, "prod").await;
    assert_ne!(staging, prod);

    // Backwards without force: refused, nothing moves.
    let refused = call(
        &sandbox,
        Method::PATCH,
        "/git/refs/heads/staging",
        Some(json!({ "sha": prod, "force": false })),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["message"], "Update is not a fast forward");
    assert_valid("git__update-ref.422.schema.json", "422", &refused.body);
    assert!(refused.header("x-ratelimit-remaining").is_some());
    assert_eq!(head_of(&sandbox, "staging").await, staging);

    // An unknown sha: 422 too.
    let unknown = call(
        &sandbox,
        Method::PATCH,
        "/git/refs/heads/prod",
        Some(json!({ "sha": "0".repeat(40) })),
    )
    .await;
    assert_eq!(unknown.status, 422);

    // Forward to staging's commit through octocrab's typed call.
    let octocrab = octocrab_for(&sandbox);
    let moved = octocrab
        .repos("acme", "shop")
        .update_ref(
            &octocrab::params::repos::Reference::Branch("prod".to_string()),
            &staging,
        )
        .force(false)
        .send()
        .await
        .unwrap();
    match moved.object {
        octocrab::models::repos::Object::Commit { sha, .. } => assert_eq!(sha, staging),
        other => panic!("unexpected object {other:?}"),
    }
    assert_eq!(head_of(&sandbox, "prod").await, staging);

    // The move starts CI for the new head (created a moment later), and prod runs it once
    // CI passes.
    sandbox.clock().advance(Duration::from_secs(5));
    let runs = get(
        &sandbox,
        &format!("/actions/runs?branch=prod&head_sha={staging}"),
    )
    .await;
    assert_eq!(runs["total_count"], 1);
    advance_until(&sandbox, || async {
        deployed(&sandbox, "prod").await.as_deref() == Some(staging.as_str())
    })
    .await;

    // Answer shape follows the schema.
    let raw = call(
        &sandbox,
        Method::PATCH,
        "/git/refs/heads/prod",
        Some(json!({ "sha": staging })),
    )
    .await;
    assert_eq!(raw.status, 200);
    assert_valid("git__update-ref.200.schema.json", "update ref", &raw.body);
    assert!(sandbox.write_count() >= 4);
}

#[tokio::test]
async fn force_moves_a_branch_back_and_deploys_the_older_commit() {
    let sandbox = start_sandbox().await;
    let staging = head_of(&sandbox, "staging").await;
    let prod = head_of(&sandbox, "prod").await;
    let forced = call(
        &sandbox,
        Method::PATCH,
        "/git/refs/heads/staging",
        Some(json!({ "sha": prod, "force": true })),
    )
    .await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(head_of(&sandbox, "staging").await, prod);
    advance_until(&sandbox, || async {
        deployed(&sandbox, "staging").await.as_deref() == Some(prod.as_str())
    })
    .await;
    assert_ne!(staging, prod);
}

#[tokio::test]
async fn lock_ref_is_created_once_and_delete_frees_it() {
    let sandbox = start_sandbox().await;
    let sha = head_of(&sandbox, "main").await;
    let lock = json!({ "ref": "refs/shipdeck/locks/prod", "sha": sha });

    let first = call(&sandbox, Method::POST, "/git/refs", Some(lock.clone())).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["ref"], "refs/shipdeck/locks/prod");
    assert_valid("git__create-ref.201.schema.json", "create ref", &first.body);

    let second = call(&sandbox, Method::POST, "/git/refs", Some(lock.clone())).await;
    assert_eq!(second.status, 422);
    assert_eq!(second.body["message"], "Reference already exists");
    assert_valid("git__create-ref.422.schema.json", "422", &second.body);

    let read = get(&sandbox, "/git/ref/shipdeck/locks/prod").await;
    assert_eq!(read["object"]["sha"], sha.as_str());

    let deleted = call(
        &sandbox,
        Method::DELETE,
        "/git/refs/shipdeck/locks/prod",
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    assert!(deleted.header("x-ratelimit-used").is_some());
    let missing = call(&sandbox, Method::GET, "/git/ref/shipdeck/locks/prod", None).await;
    assert_eq!(missing.status, 404);
    let again = call(
        &sandbox,
        Method::DELETE,
        "/git/refs/shipdeck/locks/prod",
        None,
    )
    .await;
    assert_eq!(again.status, 422);

    let retaken = call(&sandbox, Method::POST, "/git/refs", Some(lock)).await;
    assert_eq!(retaken.status, 201);

    let bad_name = call(
        &sandbox,
        Method::POST,
        "/git/refs",
        Some(json!({ "ref": "locks", "sha": sha })),
    )
    .await;
    assert_eq!(bad_name.status, 422);
}

#[tokio::test]
async fn deployment_statuses_mark_earlier_success_inactive_and_the_environment_runs_the_sha() {
    let sandbox = start_sandbox().await;
    let history = main_history(&sandbox).await;
    let previous = deployed(&sandbox, "staging").await.unwrap();
    let candidate = history[1].clone();

    let created = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(json!({
            "ref": candidate,
            "environment": "staging",
            "payload": { "promotion": "p-1", "actor": "captain", "from": "dev" },
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": false,
            "description": "Promote to staging",
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_valid(
        "repos__create-deployment.201.schema.json",
        "create deployment",
        &created.body,
    );
    assert_eq!(created.body["sha"], candidate.as_str());
    assert_eq!(created.body["payload"]["promotion"], "p-1");
    let id = created.body["id"].as_u64().unwrap();

    let in_progress = call(
        &sandbox,
        Method::POST,
        &format!("/deployments/{id}/statuses"),
        Some(json!({ "state": "in_progress", "log_url": "https://ci.example/1" })),
    )
    .await;
    assert_eq!(in_progress.status, 201);
    assert_valid(
        "repos__create-deployment-status.201.schema.json",
        "create deployment status",
        &in_progress.body,
    );
    assert_eq!(in_progress.body["log_url"], "https://ci.example/1");
    assert_eq!(deployed(&sandbox, "staging").await, Some(previous.clone()));

    let success = call(
        &sandbox,
        Method::POST,
        &format!("/deployments/{id}/statuses"),
        Some(json!({
            "state": "success",
            "description": "Promoted by shipdeck",
            "environment_url": "https://staging.shop.acme.example",
        })),
    )
    .await;
    assert_eq!(success.status, 201);
    assert_eq!(success.body["description"], "Promoted by shipdeck");
    assert_eq!(deployed(&sandbox, "staging").await, Some(candidate.clone()));

    // The one that ran before is now inactive.
    let earlier = get(
        &sandbox,
        &format!("/deployments?environment=staging&sha={previous}"),
    )
    .await;
    let earlier_id = earlier[0]["id"].as_u64().unwrap();
    let statuses = get(&sandbox, &format!("/deployments/{earlier_id}/statuses")).await;
    assert_eq!(statuses[0]["state"], "inactive");

    // auto_inactive: false leaves the earlier success alone.
    let other = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(json!({ "ref": history[2], "environment": "staging", "required_contexts": [] })),
    )
    .await;
    let other_id = other.body["id"].as_u64().unwrap();
    let kept = call(
        &sandbox,
        Method::POST,
        &format!("/deployments/{other_id}/statuses"),
        Some(json!({ "state": "success", "auto_inactive": false })),
    )
    .await;
    assert_eq!(kept.status, 201);
    let statuses = get(&sandbox, &format!("/deployments/{id}/statuses")).await;
    assert_eq!(statuses[0]["state"], "success");

    // Unknown state and unknown ref: 422.
    let bad_state = call(
        &sandbox,
        Method::POST,
        &format!("/deployments/{id}/statuses"),
        Some(json!({ "state": "done" })),
    )
    .await;
    assert_eq!(bad_state.status, 422);
    let bad_ref = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(json!({ "ref": "no-such-branch", "environment": "staging" })),
    )
    .await;
    assert_eq!(bad_ref.status, 422);
}

#[tokio::test]
async fn deployment_of_a_commit_without_green_checks_is_409_unless_contexts_are_waived() {
    let sandbox = start_sandbox().await;
    // A commit landing now: its CI is still running.
    let before = head_of(&sandbox, "main").await;
    advance_until(&sandbox, || async {
        head_of(&sandbox, "main").await != before
    })
    .await;
    let fresh = head_of(&sandbox, "main").await;
    let body = |contexts: Option<Value>| {
        let mut body = json!({ "ref": fresh, "environment": "staging", "auto_merge": false });
        if let Some(contexts) = contexts {
            body["required_contexts"] = contexts;
        }
        body
    };
    for contexts in [None, Some(json!(["ci"]))] {
        let refused = call(&sandbox, Method::POST, "/deployments", Some(body(contexts))).await;
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(refused.body["message"].as_str().unwrap().contains("ci"));
    }
    let waived = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(body(Some(json!([])))),
    )
    .await;
    assert_eq!(waived.status, 201);
    advance_until(&sandbox, || async {
        get(&sandbox, &format!("/commits/{fresh}/status")).await["state"] != "pending"
    })
    .await;
    let state = get(&sandbox, &format!("/commits/{fresh}/status")).await["state"].clone();
    let after = call(&sandbox, Method::POST, "/deployments", Some(body(None))).await;
    let expected = if state == "success" { 201 } else { 409 };
    assert_eq!(after.status, expected, "CI {state}: {}", after.body);
}

#[tokio::test]
async fn octocrab_reads_deployments_created_through_the_api() {
    let sandbox = start_sandbox().await;
    let sha = head_of(&sandbox, "main").await;
    let octocrab = octocrab_for(&sandbox);
    // A raw post, as API-NOTES advises (the typed call cannot decode a 202).
    let created: Value = octocrab
        .post(
            "/repos/acme/shop/deployments",
            Some(&json!({
                "ref": sha,
                "environment": "prod",
                "production_environment": true,
                "required_contexts": [],
            })),
        )
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    let deployment: octocrab::models::repos::Deployment = octocrab
        .get(format!("/repos/acme/shop/deployments/{id}"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(deployment.sha, sha);
    assert_eq!(deployment.production_environment, Some(true));
}

#[tokio::test]
async fn write_count_counts_every_write_and_never_reads() {
    let sandbox = start_sandbox().await;
    get(&sandbox, "/branches/main").await;
    assert_eq!(sandbox.write_count(), 0);
    for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
        call(&sandbox, method, "/nothing/here", Some(json!({}))).await;
    }
    assert_eq!(sandbox.write_count(), 4);
}

#[tokio::test]
async fn server_error_fault_answers_5xx_once_and_applies_nothing() {
    let sandbox = start_sandbox().await;
    let sha = head_of(&sandbox, "main").await;
    sandbox.faults().add(
        FaultRule::new(
            "POST",
            "/repos/*/*/git/refs",
            FaultEffect::ServerError { status: 502 },
        )
        .nth(1),
    );
    let lock = json!({ "ref": "refs/shipdeck/locks/staging", "sha": sha });
    let failed = call(&sandbox, Method::POST, "/git/refs", Some(lock.clone())).await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.body["message"], "Server Error");
    assert!(failed.header("x-ratelimit-remaining").is_some());
    let missing = call(
        &sandbox,
        Method::GET,
        "/git/ref/shipdeck/locks/staging",
        None,
    )
    .await;
    assert_eq!(missing.status, 404, "a failed write applies nothing");
    let second = call(&sandbox, Method::POST, "/git/refs", Some(lock)).await;
    assert_eq!(second.status, 201, "only the first request fails");
}

#[tokio::test]
async fn rate_limit_faults_carry_reset_or_retry_after() {
    let sandbox = start_sandbox().await;
    sandbox.faults().add(FaultRule::new(
        "GET",
        "/repos/*/*/branches/main",
        FaultEffect::RateLimited,
    ));
    sandbox.faults().add(FaultRule::new(
        "GET",
        "/repos/*/*/branches/staging",
        FaultEffect::RetryAfter { seconds: 30 },
    ));
    let primary = call(&sandbox, Method::GET, "/branches/main", None).await;
    assert_eq!(primary.status, 403);
    assert_eq!(
        primary.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    let reset: i64 = primary
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > start_time().timestamp());

    let secondary = call(&sandbox, Method::GET, "/branches/staging", None).await;
    assert_eq!(secondary.status, 429);
    assert_eq!(secondary.header("retry-after").as_deref(), Some("30"));

    sandbox.faults().clear();
    assert_eq!(
        call(&sandbox, Method::GET, "/branches/main", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn conflict_fault_is_409_before_applying() {
    let sandbox = start_sandbox().await;
    let staging = head_of(&sandbox, "staging").await;
    let prod_before = head_of(&sandbox, "prod").await;
    sandbox.faults().add(FaultRule::new(
        "PATCH",
        "/repos/*/*/git/refs/**",
        FaultEffect::Conflict409,
    ));
    let answer = call(
        &sandbox,
        Method::PATCH,
        "/git/refs/heads/prod",
        Some(json!({ "sha": staging })),
    )
    .await;
    assert_eq!(answer.status, 409);
    assert_eq!(head_of(&sandbox, "prod").await, prod_before);
}

#[tokio::test]
async fn malformed_body_fault_is_not_json() {
    let sandbox = start_sandbox().await;
    sandbox.faults().add(FaultRule::new(
        "GET",
        "/repos/*/*/branches/*",
        FaultEffect::MalformedBody,
    ));
    let answer = call(&sandbox, Method::GET, "/branches/main", None).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.is_string(), "not JSON: {}", answer.body);
    let octocrab = octocrab_for(&sandbox);
    let typed = octocrab
        .repos("acme", "shop")
        .get_ref(&octocrab::params::repos::Reference::Branch(
            "main".to_string(),
        ))
        .await;
    assert!(typed.is_ok(), "only the branches route is faulty");
    let typed: Result<octocrab::models::repos::Branch, _> = octocrab
        .get("/repos/acme/shop/branches/main", None::<&()>)
        .await;
    assert!(typed.is_err());
}

#[tokio::test]
async fn timeout_after_apply_applies_the_write_and_never_answers() {
    let sandbox = start_sandbox().await;
    let sha = head_of(&sandbox, "main").await;
    sandbox.faults().add(FaultRule::new(
        "POST",
        "/repos/*/*/git/refs",
        FaultEffect::TimeoutAfterApply,
    ));
    let url = format!("{}/repos/acme/shop/git/refs", sandbox.github_api_url());
    let result = reqwest::Client::new()
        .post(&url)
        .bearer_auth("demo-token")
        .timeout(Duration::from_millis(500))
        .json(&json!({ "ref": "refs/shipdeck/locks/prod", "sha": sha }))
        .send()
        .await;
    let error = result.expect_err("no answer comes");
    assert!(error.is_timeout(), "{error}");
    // The write took effect: reading shows the lock, and a retry learns it exists.
    let read = get(&sandbox, "/git/ref/shipdeck/locks/prod").await;
    assert_eq!(read["object"]["sha"], sha.as_str());
    sandbox.faults().clear();
    let retry = call(
        &sandbox,
        Method::POST,
        "/git/refs",
        Some(json!({ "ref": "refs/shipdeck/locks/prod", "sha": sha })),
    )
    .await;
    assert_eq!(retry.status, 422);
}

#[tokio::test]
async fn fault_plan_loads_from_the_scenario_toml() {
    let scenario = Scenario::from_toml_str(
        r#"
        [[faults]]
        method = "DELETE"
        path = "/repos/*/*/git/refs/**"
        nth = 1
        effect = { kind = "server_error", status = 503 }
        "#,
    )
    .unwrap();
    let sandbox = start_with(scenario).await;
    let sha = head_of(&sandbox, "main").await;
    let lock = json!({ "ref": "refs/shipdeck/locks/dev", "sha": sha });
    assert_eq!(
        call(&sandbox, Method::POST, "/git/refs", Some(lock))
            .await
            .status,
        201
    );
    let path = "/git/refs/shipdeck/locks/dev";
    let bad = Scenario::from_toml_str(
        "[[faults]]\npath = \"/x\"\neffect = { kind = \"server_error\", status = 200 }\n",
    );
    assert!(bad.is_err(), "a server error must be 5xx");
    assert_eq!(call(&sandbox, Method::DELETE, path, None).await.status, 503);
    assert_eq!(call(&sandbox, Method::DELETE, path, None).await.status, 204);
}

#[tokio::test]
async fn compare_lists_commits_and_changed_files() {
    let sandbox = start_sandbox().await;
    let prod = head_of(&sandbox, "prod").await;
    let main = head_of(&sandbox, "main").await;
    let history = main_history(&sandbox).await;
    let ahead_by = history.iter().position(|sha| *sha == prod).unwrap();

    let ahead = get(&sandbox, &format!("/compare/{prod}...{main}")).await;
    assert_valid("repos__compare-commits.200.schema.json", "compare", &ahead);
    assert_eq!(ahead["status"], "ahead");
    assert_eq!(ahead["ahead_by"], ahead_by);
    assert_eq!(ahead["behind_by"], 0);
    let commits = ahead["commits"].as_array().unwrap();
    assert_eq!(commits.len(), ahead_by);
    assert_eq!(
        commits.last().unwrap()["sha"],
        main.as_str(),
        "oldest first"
    );
    let files: Vec<&str> = ahead["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert!(!files.is_empty());
    let mut unique = files.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), files.len(), "each file listed once");
    assert!(ahead["files"][0]["additions"].as_u64().unwrap() > 0);

    // Branch names work too, and the reverse is behind; the same commit is identical.
    let behind = get(&sandbox, "/compare/main...prod").await;
    assert_eq!(behind["status"], "behind");
    assert_eq!(behind["behind_by"], ahead_by);
    let same = get(&sandbox, &format!("/compare/{main}...main")).await;
    assert_eq!(same["status"], "identical");
    assert_eq!(same["files"], json!([]));

    let octocrab = octocrab_for(&sandbox);
    let typed = octocrab
        .commits("acme", "shop")
        .compare(prod.as_str(), main.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(typed.ahead_by as usize, ahead_by);

    let missing = call(&sandbox, Method::GET, "/compare/main...nope", None).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn scenario_commits_touch_high_risk_paths() {
    let sandbox = start_sandbox().await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        sandbox.clock().advance(Duration::from_secs(300));
    }
    let history = main_history(&sandbox).await;
    let oldest = history.last().unwrap();
    let all = get(&sandbox, &format!("/compare/{oldest}...main")).await;
    for file in all["files"].as_array().unwrap() {
        let name = file["filename"].as_str().unwrap();
        for prefix in ["migrations/", "infra/iam/", "src/payments/"] {
            if name.starts_with(prefix) {
                seen.insert(prefix);
            }
        }
    }
    assert_eq!(seen.len(), 3, "saw {seen:?}");
}

#[tokio::test]
async fn check_runs_and_combined_status_follow_the_commits_run() {
    let sandbox = start_sandbox().await;
    let prod = head_of(&sandbox, "prod").await;
    let checks = get(&sandbox, &format!("/commits/{prod}/check-runs")).await;
    assert_valid(
        "checks__list-for-ref.200.schema.json",
        "check runs",
        &checks,
    );
    let runs = checks["check_runs"].as_array().unwrap();
    assert!(runs.iter().any(|c| c["name"] == "lint"));
    assert!(runs.iter().all(|c| c["status"] == "completed"));
    let status = get(&sandbox, &format!("/commits/{prod}/status")).await;
    assert_valid(
        "repos__get-combined-status-for-ref.200.schema.json",
        "combined status",
        &status,
    );
    assert_eq!(status["state"], "success");

    // A commit landing now: its checks run, then finish.
    let before = head_of(&sandbox, "main").await;
    advance_until(&sandbox, || async {
        head_of(&sandbox, "main").await != before
    })
    .await;
    let fresh = head_of(&sandbox, "main").await;
    sandbox.clock().advance(Duration::from_secs(5));
    let running = get(&sandbox, &format!("/commits/{fresh}/status")).await;
    assert_eq!(running["state"], "pending");
    advance_until(&sandbox, || async {
        get(&sandbox, &format!("/commits/{fresh}/status")).await["state"] != "pending"
    })
    .await;
    let checks = get(&sandbox, &format!("/commits/{fresh}/check-runs")).await;
    assert!(
        checks["check_runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "completed")
    );
    let unknown = call(&sandbox, Method::GET, "/commits/nope/status", None).await;
    assert_eq!(unknown.status, 422);
}

#[tokio::test]
async fn dispatched_deploy_workflow_runs_then_deploys_that_sha() {
    let sandbox = start_sandbox().await;
    let prod = head_of(&sandbox, "prod").await;
    let staging_before = deployed(&sandbox, "staging").await.unwrap();
    assert_ne!(prod, staging_before);

    // Roll staging back to prod's commit through the deploy workflow.
    let octocrab = octocrab_for(&sandbox);
    let details: Value = octocrab
        .post(
            "/repos/acme/shop/actions/workflows/deploy.yml/dispatches",
            Some(&json!({
                "ref": "staging",
                "inputs": { "environment": "staging", "sha": prod },
                "return_run_details": true,
            })),
        )
        .await
        .unwrap();
    assert_valid(
        "actions__create-workflow-dispatch.200.schema.json",
        "dispatch",
        &details,
    );
    let run_id = details["workflow_run_id"].as_u64().unwrap();
    assert!(
        details["run_url"]
            .as_str()
            .unwrap()
            .ends_with(&run_id.to_string())
    );
    let run = get(&sandbox, &format!("/actions/runs/{run_id}")).await;
    assert_eq!(run["head_sha"], prod.as_str());
    assert_eq!(run["event"], "workflow_dispatch");
    assert_eq!(run["name"], "Deploy");
    assert_eq!(run["path"], ".github/workflows/deploy.yml");
    let ci_runs = get(
        &sandbox,
        "/actions/workflows/ci.yml/runs?branch=staging&per_page=100",
    )
    .await;
    assert!(
        ci_runs["workflow_runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != run_id),
        "a deploy run is not a CI run"
    );
    assert_eq!(deployed(&sandbox, "staging").await, Some(staging_before));

    sandbox.clock().advance(Duration::from_secs(5));
    let deploy_runs = get(&sandbox, "/actions/workflows/deploy.yml/runs").await;
    assert_eq!(deploy_runs["workflow_runs"][0]["id"], run_id);
    advance_until(&sandbox, || async {
        deployed(&sandbox, "staging").await.as_deref() == Some(prod.as_str())
    })
    .await;

    // Without run details: 204 and no body. Missing input or unknown workflow: refused.
    let plain = call(
        &sandbox,
        Method::POST,
        "/actions/workflows/ci.yml/dispatches",
        Some(json!({ "ref": "main" })),
    )
    .await;
    assert_eq!(plain.status, 204);
    assert_eq!(plain.body, Value::Null);
    let no_env = call(
        &sandbox,
        Method::POST,
        "/actions/workflows/deploy.yml/dispatches",
        Some(json!({ "ref": "main", "inputs": { "sha": prod } })),
    )
    .await;
    assert_eq!(no_env.status, 422);
    let unknown = call(
        &sandbox,
        Method::POST,
        "/actions/workflows/nope.yml/dispatches",
        Some(json!({ "ref": "main" })),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn pull_request_lifecycle_with_409_405_and_review() {
    let sandbox = start_sandbox().await;
    let octocrab = octocrab_for(&sandbox);
    let pulls = octocrab.pulls("acme", "shop");

    // Nothing to merge: base already has head's commits.
    let empty = call(
        &sandbox,
        Method::POST,
        "/pulls",
        Some(json!({ "head": "prod", "base": "staging", "title": "Nothing" })),
    )
    .await;
    assert_eq!(empty.status, 422);
    assert!(
        empty.body["message"]
            .as_str()
            .unwrap()
            .contains("No commits between")
    );

    let raw = call(
        &sandbox,
        Method::POST,
        "/pulls",
        Some(json!({ "head": "main", "base": "staging", "title": "Promote main", "body": "x" })),
    )
    .await;
    assert_eq!(raw.status, 201, "{}", raw.body);
    assert_valid("pulls__create.201.schema.json", "create pull", &raw.body);
    assert_eq!(raw.body["mergeable"], Value::Null, "still computing");
    let first = raw.body["number"].as_u64().unwrap();

    // The typed calls: create, get (mergeable appears), merge.
    let created = pulls
        .create("Promote main to staging", "main", "staging")
        .body("Promotion p-2")
        .send()
        .await
        .unwrap();
    let number = created.number;
    assert_ne!(number, first);
    assert_eq!(created.mergeable, None);
    sandbox.clock().advance(Duration::from_secs(5));
    let pull = pulls.get(number).await.unwrap();
    assert_eq!(pull.mergeable, Some(true));
    let head = pull.head.sha.clone();
    assert_eq!(head, head_of(&sandbox, "main").await);
    let raw_get = get(&sandbox, &format!("/pulls/{number}")).await;
    assert_valid("pulls__get.200.schema.json", "get pull", &raw_get);

    // Reviews: an approval by someone other than the author, a minute in.
    assert_eq!(
        get(&sandbox, &format!("/pulls/{number}/reviews")).await,
        json!([])
    );
    sandbox.clock().advance(Duration::from_secs(60));
    let reviews = get(&sandbox, &format!("/pulls/{number}/reviews")).await;
    assert_valid("pulls__list-reviews.200.schema.json", "reviews", &reviews);
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_ne!(reviews[0]["user"]["login"], raw_get["user"]["login"]);

    // The head moved since we looked: 409, nothing merged.
    let staging_before = head_of(&sandbox, "staging").await;
    let stale = call(
        &sandbox,
        Method::PUT,
        &format!("/pulls/{number}/merge"),
        Some(json!({ "merge_method": "merge", "sha": staging_before })),
    )
    .await;
    assert_eq!(stale.status, 409);
    assert_valid("pulls__merge.409.schema.json", "409", &stale.body);
    assert_eq!(head_of(&sandbox, "staging").await, staging_before);

    let head = pulls.get(number).await.unwrap().head.sha;
    let merged = pulls
        .merge(number)
        .sha(head.clone())
        .method(octocrab::params::pulls::MergeMethod::Merge)
        .send()
        .await
        .unwrap();
    assert!(merged.merged);
    assert_eq!(merged.sha.as_deref(), Some(head.as_str()));
    assert_eq!(head_of(&sandbox, "staging").await, head);
    let after = get(&sandbox, &format!("/pulls/{number}")).await;
    assert_eq!(after["merged"], true);
    assert_eq!(after["state"], "closed");

    // Merged already, and the other PR's base now has its commits: both 405.
    for n in [number, first] {
        let again = call(
            &sandbox,
            Method::PUT,
            &format!("/pulls/{n}/merge"),
            Some(json!({ "merge_method": "merge" })),
        )
        .await;
        assert_eq!(again.status, 405, "pull {n}: {}", again.body);
        assert_valid("pulls__merge.405.schema.json", "405", &again.body);
    }
    assert_eq!(
        get(&sandbox, &format!("/pulls/{first}")).await["mergeable"],
        false
    );

    // The merge moved an environment branch: staging deploys it once CI passes.
    advance_until(&sandbox, || async {
        deployed(&sandbox, "staging").await.as_deref() == Some(head.as_str())
    })
    .await;
    let missing = call(&sandbox, Method::GET, "/pulls/99999", None).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn deployment_of_a_branch_behind_main_auto_merges_unless_told_not_to() {
    let sandbox = start_sandbox().await;
    let staging = head_of(&sandbox, "staging").await;
    let main = head_of(&sandbox, "main").await;
    let careful = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(json!({
            "ref": "staging",
            "environment": "staging",
            "auto_merge": false,
            "required_contexts": [],
        })),
    )
    .await;
    assert_eq!(careful.status, 201);
    assert_eq!(careful.body["sha"], staging.as_str());
    assert_eq!(head_of(&sandbox, "staging").await, staging);

    let default = call(
        &sandbox,
        Method::POST,
        "/deployments",
        Some(json!({ "ref": "staging", "environment": "staging", "required_contexts": [] })),
    )
    .await;
    assert_eq!(default.status, 202, "{}", default.body);
    assert_valid(
        "repos__create-deployment.202.schema.json",
        "auto-merged",
        &default.body,
    );
    assert_eq!(
        head_of(&sandbox, "staging").await,
        main,
        "main was merged in"
    );
}
