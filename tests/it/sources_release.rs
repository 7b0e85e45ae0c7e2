//! The release facts the gates read, from the sandbox over real HTTP: runs, check runs and
//! commit statuses at a commit, comparisons, the lock holder (none, a plain commit ref, a tag
//! with shipdeck's message, a tag with a foreign message), the deployment history, and a pull
//! request's author and approving reviewers. Every expected value comes from the sandbox's own
//! raw answers, not from what the client under test says.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use shipdeck::config::Secret;
use shipdeck::model::RunStatus;
use shipdeck::sandbox::Sandbox;
use shipdeck::sources::github::GithubClient;

use crate::support::sandbox::start_sandbox;

const DEADLINE_STEPS: usize = 200;

fn client_for(sandbox: &Sandbox) -> GithubClient {
    GithubClient::new(
        &sandbox.github_api_url(),
        "acme/shop",
        Some(&Secret::new("demo-token")),
    )
    .unwrap()
}

async fn call(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/repos/acme/shop{path}", sandbox.github_api_url());
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth("demo-token");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(sandbox: &Sandbox, path: &str) -> Value {
    let (status, body) = call(sandbox, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn post(sandbox: &Sandbox, path: &str, body: Value) -> Value {
    let (status, answer) = call(sandbox, Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "POST {path}: {answer}");
    answer
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

fn strings(value: &Value, field: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

/// A commit of main that has CI runs, with its raw run list (newest first).
async fn commit_with_runs(sandbox: &Sandbox) -> (String, Value) {
    for sha in main_history(sandbox).await.into_iter().skip(1) {
        let runs = get(
            sandbox,
            &format!("/actions/workflows/ci.yml/runs?head_sha={sha}&per_page=100"),
        )
        .await;
        if !runs["workflow_runs"].as_array().unwrap().is_empty() {
            return (sha, runs);
        }
    }
    panic!("no commit on main has CI runs");
}

#[tokio::test]
async fn runs_checks_and_statuses_at_a_commit_match_the_world() {
    let sandbox = start_sandbox().await;
    let client = client_for(&sandbox);
    let (sha, raw_runs) = commit_with_runs(&sandbox).await;

    let runs = client.runs_for_sha("ci.yml", &sha).await.unwrap();
    let raw_ids: BTreeSet<u64> = raw_runs["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        runs.iter().map(|r| r.run_id).collect::<BTreeSet<_>>(),
        raw_ids
    );
    assert!(runs.iter().all(|r| r.sha == sha));
    assert!(
        runs.windows(2)
            .all(|w| (w[0].run_number, w[0].run_attempt) >= (w[1].run_number, w[1].run_attempt)),
        "newest first: {runs:?}"
    );
    let unknown = "0".repeat(40);
    assert!(
        client
            .runs_for_sha("ci.yml", &unknown)
            .await
            .unwrap()
            .is_empty()
    );

    let raw_checks = get(&sandbox, &format!("/commits/{sha}/check-runs")).await;
    let expected: Vec<(String, RunStatus)> = raw_checks["check_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                RunStatus::from_github(c["status"].as_str(), c["conclusion"].as_str()),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(client.check_runs(&sha).await.unwrap(), expected);

    let raw_status = get(&sandbox, &format!("/commits/{sha}/status")).await;
    let statuses = client.commit_statuses(&sha).await.unwrap();
    assert_eq!(
        statuses.len(),
        raw_status["statuses"].as_array().unwrap().len()
    );
    assert_eq!(statuses[0].0, "ci");
    let expected_status = match raw_status["statuses"][0]["state"].as_str().unwrap() {
        "success" => RunStatus::Passed,
        "failure" => RunStatus::Failed,
        _ => RunStatus::Running,
    };
    assert_eq!(statuses[0].1, expected_status);
}

#[tokio::test]
async fn a_comparison_lists_the_commits_and_files_between() {
    let sandbox = start_sandbox().await;
    let client = client_for(&sandbox);
    let history = main_history(&sandbox).await;
    assert!(history.len() > 6);
    let (head, base) = (&history[0], &history[5]);

    let comparison = client.compare(base, head).await.unwrap();
    assert_eq!(comparison.status, "ahead");
    assert_eq!((comparison.ahead_by, comparison.behind_by), (5, 0));
    assert_eq!(comparison.total_commits, 5);
    let listed: Vec<&str> = comparison.commits.iter().map(|c| c.sha.as_str()).collect();
    let expected: Vec<&str> = history[..5].iter().map(String::as_str).collect();
    assert_eq!(listed, expected, "the commits between, newest first");

    let mut expected_files = BTreeSet::new();
    for sha in &history[..5] {
        let commit = get(&sandbox, &format!("/commits/{sha}")).await;
        expected_files.extend(strings(&commit["files"], "filename"));
        let subject = commit["commit"]["message"]
            .as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        let line = comparison.commits.iter().find(|c| &c.sha == sha).unwrap();
        assert_eq!(
            line.subject.as_str(),
            shipdeck::model::sanitize(&subject, 512)
        );
    }
    assert!(!expected_files.is_empty());
    assert_eq!(
        comparison.files.iter().cloned().collect::<BTreeSet<_>>(),
        expected_files
    );
    assert!(!comparison.files_truncated);

    let backwards = client.compare(head, base).await.unwrap();
    assert_eq!(backwards.status, "behind");
    assert_eq!((backwards.ahead_by, backwards.behind_by), (0, 5));
    assert!(backwards.commits.is_empty());
    assert!(backwards.files.is_empty());

    let same = client.compare(head, head).await.unwrap();
    assert_eq!(same.status, "identical");
    assert_eq!(same.total_commits, 0);
}

#[tokio::test]
async fn the_lock_holder_is_read_from_the_lock_ref() {
    let sandbox = start_sandbox().await;
    let client = client_for(&sandbox);
    let head = main_history(&sandbox).await.remove(0);

    assert_eq!(client.lock("prod").await.unwrap(), None);

    // A plain commit ref (another tool, or an older shipdeck): held, by someone unknown.
    post(
        &sandbox,
        "/git/refs",
        json!({ "ref": "refs/shipdeck/locks/prod", "sha": head }),
    )
    .await;
    let lock = client.lock("prod").await.unwrap().unwrap();
    assert_eq!(lock.holder.as_str(), "unknown");
    assert_eq!(lock.since, None);
    assert_eq!(lock.action_id, None);

    // A tag whose message is shipdeck's: holder, time and action.
    let message = json!({
        "action_id": "act-20261120-1",
        "actor": "mona",
        "host": "laptop-7",
        "kind": "promote",
        "at": "2026-11-20T09:58:00Z",
    })
    .to_string();
    let tag = post(
        &sandbox,
        "/git/tags",
        json!({
            "tag": "shipdeck-lock-staging",
            "message": message,
            "object": head,
            "type": "commit",
            "tagger": { "name": "shipdeck", "email": "shipdeck@acme.example" },
        }),
    )
    .await;
    let tag_sha = tag["sha"].as_str().unwrap();
    post(
        &sandbox,
        "/git/refs",
        json!({ "ref": "refs/shipdeck/locks/staging", "sha": tag_sha }),
    )
    .await;
    let ref_answer = get(&sandbox, "/git/ref/shipdeck/locks/staging").await;
    assert_eq!(ref_answer["object"]["type"], "tag");
    let lock = client.lock("staging").await.unwrap().unwrap();
    assert_eq!(lock.holder.as_str(), "mona@laptop-7");
    assert_eq!(
        lock.since.map(|t| t.to_rfc3339()),
        Some("2026-11-20T09:58:00+00:00".to_string())
    );
    assert_eq!(
        lock.action_id.map(|a| a.to_string()),
        Some("act-20261120-1".to_string())
    );

    // A tag with a message shipdeck did not write (hostile bytes included): unknown holder.
    let tag = post(
        &sandbox,
        "/git/tags",
        json!({
            "tag": "someone-else",
            "message": "locked \u{1b}]0;by hand\u{7}",
            "object": head,
            "type": "commit",
            "tagger": { "name": "ops", "email": "ops@acme.example" },
        }),
    )
    .await;
    post(
        &sandbox,
        "/git/refs",
        json!({ "ref": "refs/shipdeck/locks/dev", "sha": tag["sha"] }),
    )
    .await;
    let lock = client.lock("dev").await.unwrap().unwrap();
    assert_eq!(lock.holder.as_str(), "unknown");
    assert_eq!(lock.since, None);

    // Released: nobody holds it again.
    let (status, _) = call(
        &sandbox,
        Method::DELETE,
        "/git/refs/shipdeck/locks/prod",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(client.lock("prod").await.unwrap(), None);
}

#[tokio::test]
async fn deployment_history_has_every_state_newest_first() {
    let sandbox = start_sandbox().await;
    let client = client_for(&sandbox);

    // Advance world time until prod's history shows a deployment retired after succeeding.
    let mut history = Vec::new();
    for _ in 0..DEADLINE_STEPS {
        history = client.deployment_history("prod", 10).await.unwrap();
        if history
            .iter()
            .any(|d| d.current_state() == Some("inactive") && d.succeeded_at().is_some())
        {
            break;
        }
        sandbox.clock().advance(Duration::from_secs(60));
    }
    let retired = history
        .iter()
        .find(|d| d.current_state() == Some("inactive"))
        .expect("a deployment made inactive by a later one");
    assert!(retired.succeeded_at().is_some());

    let raw = get(&sandbox, "/deployments?environment=prod&per_page=10").await;
    let raw_ids: Vec<u64> = raw
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    assert_eq!(history.iter().map(|d| d.id).collect::<Vec<_>>(), raw_ids);
    for (entry, raw_entry) in history.iter().zip(raw.as_array().unwrap()) {
        assert_eq!(entry.sha, raw_entry["sha"].as_str().unwrap());
        assert_eq!(entry.sha.len(), 40);
        assert_eq!(entry.payload, raw_entry["payload"]);
        assert_eq!(
            entry.creator.as_ref().map(|c| c.to_string()),
            raw_entry["creator"]["login"].as_str().map(str::to_string)
        );
        let statuses = get(
            &sandbox,
            &format!("/deployments/{}/statuses?per_page=100", entry.id),
        )
        .await;
        assert_eq!(
            entry
                .states
                .iter()
                .map(|(s, _)| s.clone())
                .collect::<Vec<_>>(),
            strings(&statuses, "state"),
            "deployment {} states newest first",
            entry.id
        );
        assert!(entry.states.windows(2).all(|w| w[0].1 >= w[1].1));
    }
    // The newest deployment is the one a rollback would leave; a success before it is where
    // a rollback goes.
    assert!(history.iter().skip(1).any(|d| d.succeeded_at().is_some()));
    assert_eq!(client.deployment_history("prod", 2).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_pull_requests_author_and_approvers() {
    let sandbox = start_sandbox().await;
    let client = client_for(&sandbox);
    let pull = post(
        &sandbox,
        "/pulls",
        json!({ "head": "staging", "base": "prod", "title": "Promote staging to prod" }),
    )
    .await;
    let number = pull["number"].as_u64().unwrap();

    assert_eq!(
        client.pull_author(number).await.unwrap().as_deref(),
        Some("shipdeck-bot")
    );
    assert!(client.approving_reviewers(number).await.unwrap().is_empty());

    // The world's reviewer approves a little later.
    let mut approvers = Vec::new();
    for _ in 0..DEADLINE_STEPS {
        approvers = client.approving_reviewers(number).await.unwrap();
        if !approvers.is_empty() {
            break;
        }
        sandbox.clock().advance(Duration::from_secs(10));
    }
    let reviews = get(&sandbox, &format!("/pulls/{number}/reviews")).await;
    let reviewer = reviews[0]["user"]["login"].as_str().unwrap();
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(approvers, vec![reviewer.to_string()]);
    assert_ne!(reviewer, "shipdeck-bot");

    let missing = client.pull_author(999_999).await.unwrap_err();
    assert!(missing.to_string().contains("404"), "{missing}");
}
