//! The sandbox's GitHub and Sentry answers validate against the official response schemas,
//! and decode into octocrab's models, at several moments of a run's life.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shipdeck::clock::Clock;
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario};

use crate::support::schemas::assert_valid;

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
}

async fn start_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        scenario: Scenario::default_demo(),
        clock: Clock::manual(start_time()),
    })
    .await
    .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// Every GitHub read endpoint, with the schema its answer must follow.
async fn check_github_endpoints(sandbox: &Sandbox) {
    let api = sandbox.github_api_url();
    let repo = format!("{api}/repos/acme/shop");
    let runs = get_json(&format!("{repo}/actions/runs?branch=main&per_page=5")).await;
    let run_id = runs["workflow_runs"][0]["id"].as_u64().unwrap();
    let jobs = get_json(&format!(
        "{repo}/actions/runs/{run_id}/jobs?filter=latest&per_page=50"
    ))
    .await;
    let job_id = jobs["jobs"][0]["id"].as_u64().unwrap();
    let deployments = get_json(&format!(
        "{repo}/deployments?environment=staging&per_page=5"
    ))
    .await;
    let deployment_id = deployments[0]["id"].as_u64().unwrap();
    let head = get_json(&format!("{repo}/branches/main")).await["commit"]["sha"]
        .as_str()
        .unwrap()
        .to_string();

    let checks = [
        (
            "repos__get-branch.200.schema.json",
            format!("{repo}/branches/staging"),
        ),
        (
            "repos__get-commit.200.schema.json",
            format!("{repo}/commits/{head}"),
        ),
        (
            "repos__get-commit.200.schema.json",
            format!("{repo}/commits/prod"),
        ),
        (
            "repos__list-commits.200.schema.json",
            format!("{repo}/commits?sha=main&per_page=10"),
        ),
        (
            "git__get-ref.200.schema.json",
            format!("{repo}/git/ref/heads/main"),
        ),
        (
            "git__get-ref.200.schema.json",
            format!("{repo}/git/refs/heads/prod"),
        ),
        (
            "actions__list-workflow-runs.200.schema.json",
            format!("{repo}/actions/workflows/ci.yml/runs?branch=main&per_page=10"),
        ),
        (
            "actions__list-workflow-runs-for-repo.200.schema.json",
            format!("{repo}/actions/runs?head_sha={head}&per_page=10"),
        ),
        (
            "actions__get-workflow-run.200.schema.json",
            format!("{repo}/actions/runs/{run_id}"),
        ),
        (
            "actions__list-jobs-for-workflow-run.200.schema.json",
            format!("{repo}/actions/runs/{run_id}/jobs?filter=latest&per_page=50"),
        ),
        (
            "actions__get-job-for-workflow-run.200.schema.json",
            format!("{repo}/actions/jobs/{job_id}"),
        ),
        (
            "repos__list-deployments.200.schema.json",
            format!("{repo}/deployments?per_page=100"),
        ),
        (
            "repos__get-deployment.200.schema.json",
            format!("{repo}/deployments/{deployment_id}"),
        ),
        (
            "repos__list-deployment-statuses.200.schema.json",
            format!("{repo}/deployments/{deployment_id}/statuses?per_page=100"),
        ),
        (
            "rate-limit__get.200.schema.json",
            format!("{api}/rate_limit"),
        ),
    ];
    for (schema, url) in checks {
        let body = get_json(&url).await;
        assert_valid(schema, &url, &body);
    }
}

#[tokio::test]
async fn github_answers_match_official_schemas_as_runs_progress() {
    let sandbox = start_sandbox().await;
    // At the start, then while the first live commit's run is queued and running.
    for step in [0, 240, 30, 60, 120] {
        sandbox.clock().advance(Duration::from_secs(step));
        check_github_endpoints(&sandbox).await;
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn sentry_issues_match_official_schema() {
    let sandbox = start_sandbox().await;
    sandbox.clock().advance(Duration::from_secs(3600));
    let url = format!(
        "{}/api/0/organizations/acme/issues/?query=is:unresolved&statsPeriod=24h&project=4501&project=4502",
        sandbox.sentry_url()
    );
    let body = get_json(&url).await;
    assert!(
        body.as_array().is_some_and(|issues| issues.len() >= 5),
        "{body}"
    );
    assert_valid(
        "sentry__listOrganizationIssues.200.schema.json",
        &url,
        &body,
    );
    for issue in body.as_array().unwrap() {
        assert!(issue["count"].is_string());
        assert!(issue["userCount"].is_u64());
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn github_answers_decode_into_octocrab_models() {
    use octocrab::models::repos::{Branch, Deployment, DeploymentStatus, Ref, RepoCommit};
    use octocrab::models::workflows::{Job, Run};

    let sandbox = start_sandbox().await;
    sandbox.clock().advance(Duration::from_secs(300));
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let runs = get_json(&format!("{repo}/actions/runs?per_page=100")).await;
    for run in runs["workflow_runs"].as_array().unwrap() {
        serde_json::from_value::<Run>(run.clone()).unwrap();
        let id = run["id"].as_u64().unwrap();
        let jobs = get_json(&format!("{repo}/actions/runs/{id}/jobs?filter=latest")).await;
        for job in jobs["jobs"].as_array().unwrap() {
            serde_json::from_value::<Job>(job.clone()).unwrap();
        }
    }
    let deployments = get_json(&format!("{repo}/deployments?per_page=100")).await;
    for deployment in deployments.as_array().unwrap() {
        serde_json::from_value::<Deployment>(deployment.clone()).unwrap();
        let id = deployment["id"].as_u64().unwrap();
        let statuses = get_json(&format!("{repo}/deployments/{id}/statuses")).await;
        serde_json::from_value::<Vec<DeploymentStatus>>(statuses).unwrap();
    }
    serde_json::from_value::<Branch>(get_json(&format!("{repo}/branches/main")).await).unwrap();
    serde_json::from_value::<RepoCommit>(get_json(&format!("{repo}/commits/main")).await).unwrap();
    serde_json::from_value::<Vec<RepoCommit>>(get_json(&format!("{repo}/commits?sha=prod")).await)
        .unwrap();
    serde_json::from_value::<Ref>(get_json(&format!("{repo}/git/ref/heads/main")).await).unwrap();
    sandbox.shutdown().await;
}

async fn post_json(url: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth("demo-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "POST {url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn pull_lists_match_the_official_schema_and_decode_into_octocrab() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let created = post_json(
        &format!("{repo}/pulls"),
        serde_json::json!({ "head": "main", "base": "staging", "title": "Promote" }),
    )
    .await;
    for query in [
        "state=open&head=acme:main&base=staging",
        "state=all",
        "state=closed",
    ] {
        let url = format!("{repo}/pulls?{query}");
        let body = get_json(&url).await;
        assert_valid("pulls__list.200.schema.json", &url, &body);
        let pulls: Vec<octocrab::models::pulls::PullRequest> =
            serde_json::from_value(body).unwrap();
        let expected = if query == "state=closed" { 0 } else { 1 };
        assert_eq!(pulls.len(), expected, "{url}");
        if let Some(pull) = pulls.first() {
            assert_eq!(Some(pull.number), created["number"].as_u64());
        }
    }
    let other_owner = get_json(&format!("{repo}/pulls?head=someone:main")).await;
    assert_eq!(other_owner, serde_json::json!([]));
    sandbox.shutdown().await;
}

/// No official schema for git tag objects is in the shared fixtures: check the fields
/// GitHub's documented example has, and that a ref to the tag still follows `git__get-ref`.
#[tokio::test]
async fn tag_objects_have_githubs_fields_and_refs_to_them_say_tag() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let main = get_json(&format!("{repo}/branches/main")).await["commit"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let created = post_json(
        &format!("{repo}/git/tags"),
        serde_json::json!({
            "tag": "shipdeck-lock-prod",
            "message": "held by ana@laptop",
            "object": main,
            "type": "commit",
            "tagger": { "name": "shipdeck", "email": "ana@laptop", "date": "2026-11-20T10:00:00Z" },
        }),
    )
    .await;
    let sha = created["sha"].as_str().unwrap().to_string();
    let read = get_json(&format!("{repo}/git/tags/{sha}")).await;
    assert_eq!(read, created);
    for field in ["node_id", "url", "tag", "message"] {
        assert!(read[field].is_string(), "{field}: {read}");
    }
    assert_eq!(read["tagger"]["date"], "2026-11-20T10:00:00Z");
    assert_eq!(read["object"]["sha"], main.as_str());
    assert_eq!(read["object"]["type"], "commit");
    assert_eq!(read["verification"]["verified"], false);
    assert_eq!(read["verification"]["reason"], "unsigned");
    assert!(read["verification"]["signature"].is_null());

    post_json(
        &format!("{repo}/git/refs"),
        serde_json::json!({ "ref": "refs/shipdeck/locks/prod", "sha": sha }),
    )
    .await;
    let url = format!("{repo}/git/ref/shipdeck/locks/prod");
    let lock = get_json(&url).await;
    assert_valid("git__get-ref.200.schema.json", &url, &lock);
    assert_eq!(lock["object"]["type"], "tag");
    assert_eq!(lock["object"]["sha"], sha.as_str());
    assert!(
        lock["object"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/git/tags/{sha}"))
    );
    sandbox.shutdown().await;
}

/// Filed issues follow the official schema of `POST issues` (the listing's items have the
/// same shape) and decode into octocrab's `Issue`, which the writer's typed calls rely on.
#[tokio::test]
async fn issues_match_the_official_schema_and_decode_into_octocrab() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop/issues", sandbox.github_api_url());
    let created = post_json(
        &repo,
        serde_json::json!({
            "title": "prod rolled back 9c1d2e3f4a5b: error rate 3.2x",
            "body": "Diagnosis: TypeError in checkout.",
            "labels": ["shipdeck", { "name": "rollback" }],
        }),
    )
    .await;
    assert_valid("issues__create.201.schema.json", &repo, &created);
    let issue: octocrab::models::issues::Issue = serde_json::from_value(created.clone()).unwrap();
    assert_eq!(issue.labels.len(), 2);
    assert!(issue.pull_request.is_none());
    post_json(&repo, serde_json::json!({ "title": "untagged" })).await;

    let url = format!("{repo}?state=open&labels=shipdeck&per_page=10");
    let listed = get_json(&url).await;
    let items = listed.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0], created);
    let all = get_json(&format!("{repo}?state=all")).await;
    for item in all.as_array().unwrap() {
        assert_valid("issues__create.201.schema.json", &url, item);
        serde_json::from_value::<octocrab::models::issues::Issue>(item.clone()).unwrap();
    }
    let number = created["number"].as_u64().unwrap();
    assert_eq!(get_json(&format!("{repo}/{number}")).await, created);
    sandbox.shutdown().await;
}

/// `GET commits/{sha}/pulls` has no example among the shared fixtures; its items are the same
/// `pull-request-simple` objects as the pull request list's.
#[tokio::test]
async fn the_pull_request_carrying_a_commit_matches_the_pull_list_schema_with_its_labels() {
    let sandbox = start_sandbox().await;
    let repo = format!("{}/repos/acme/shop", sandbox.github_api_url());
    let head = get_json(&format!("{repo}/branches/main")).await["commit"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{repo}/commits/{head}/pulls");
    let unlabelled = get_json(&url).await;
    assert_valid("pulls__list.200.schema.json", &url, &unlabelled);
    assert_eq!(unlabelled[0]["labels"], serde_json::json!([]));
    assert_eq!(unlabelled[0]["merge_commit_sha"], head.as_str());

    let number = sandbox
        .label_carrying_pull(&head, "migrations-compatible")
        .expect("a known commit");
    let body = get_json(&url).await;
    assert_valid("pulls__list.200.schema.json", &url, &body);
    let pulls: Vec<octocrab::models::pulls::PullRequest> =
        serde_json::from_value(body.clone()).unwrap();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].number, number);
    assert!(pulls[0].merged_at.is_some());
    let names: Vec<String> = pulls[0]
        .labels
        .iter()
        .flatten()
        .map(|l| l.name.clone())
        .collect();
    assert_eq!(names, ["migrations-compatible"]);
    let (status, _) = {
        let response = reqwest::Client::new()
            .get(format!(
                "{repo}/commits/0000000000000000000000000000000000000000/pulls"
            ))
            .bearer_auth("demo-token")
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 422);
    sandbox.shutdown().await;
}
