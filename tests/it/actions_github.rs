//! The GitHub write client against a sandbox over real HTTP: every write and fresh read, how
//! GitHub's refusals and the fault plan's failures map onto `WriteError`, and the sandbox's
//! rule that a deployment shipdeck created is not duplicated by the deploy bot.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use shipdeck::actions::github::{GithubWriter, NewDeployment, Tagger, WriteError};
use shipdeck::config::{MergeMethod, Secret};
use shipdeck::sandbox::{FaultEffect, FaultRule, Sandbox};

use crate::support::sandbox::{start_sandbox, start_time};

const TOKEN: &str = "ghp_writerTestToken0123456789abcdef0123";
const DEADLINE_STEPS: usize = 200;

fn writer_with_timeout(sandbox: &Sandbox, timeout: Duration) -> GithubWriter {
    GithubWriter::new(
        &sandbox.github_api_url(),
        sandbox.repo(),
        &Secret::new(TOKEN),
        timeout,
    )
    .unwrap()
}

fn writer(sandbox: &Sandbox) -> GithubWriter {
    writer_with_timeout(sandbox, Duration::from_secs(5))
}

async fn head_of(writer: &GithubWriter, branch: &str) -> String {
    writer
        .ref_target(&format!("refs/heads/{branch}"))
        .await
        .unwrap()
        .unwrap()
        .sha
}

/// The sha of the newest deployment of `environment` whose latest status is success.
async fn deployed(writer: &GithubWriter, environment: &str) -> Option<String> {
    for deployment in writer.deployments(environment, None, 50).await.unwrap() {
        let statuses = writer.deployment_statuses(deployment.id).await.unwrap();
        if statuses.first().is_some_and(|s| s.state == "success") {
            return Some(deployment.sha);
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

fn deployment(sha: &str, environment: &str) -> NewDeployment {
    NewDeployment {
        sha: sha.to_string(),
        environment: environment.to_string(),
        description: format!("shipdeck: promote {sha}"),
        payload: json!({ "shipdeck": { "action": "promote", "by": "ana" } }),
        production_environment: environment.starts_with("prod"),
        required_contexts: Vec::new(),
    }
}

#[tokio::test]
async fn branch_moves_fast_forward_only_unless_forced_and_a_forced_rollback_redeploys() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let staging = head_of(&writer, "staging").await;
    let prod = head_of(&writer, "prod").await;
    assert_ne!(staging, prod);

    assert_eq!(
        writer.update_branch("staging", &prod, false).await,
        Err(WriteError::NotFastForward)
    );
    assert_eq!(head_of(&writer, "staging").await, staging);
    let unknown = writer
        .update_branch("prod", &"0".repeat(40), false)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, WriteError::Rejected { status: 422, .. }),
        "{unknown:?}"
    );

    writer.update_branch("prod", &staging, false).await.unwrap();
    assert_eq!(head_of(&writer, "prod").await, staging);
    advance_until(&sandbox, || async {
        deployed(&writer, "prod").await.as_deref() == Some(staging.as_str())
    })
    .await;

    // Rollback: force the branch back to the older commit; its run redeploys it.
    writer.update_branch("prod", &prod, true).await.unwrap();
    assert_eq!(head_of(&writer, "prod").await, prod);
    advance_until(&sandbox, || async {
        deployed(&writer, "prod").await.as_deref() == Some(prod.as_str())
    })
    .await;
}

#[tokio::test]
async fn lock_ref_points_at_a_tag_object_and_is_created_once() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let main = head_of(&writer, "main").await;
    let tagger = Tagger {
        name: "shipdeck".to_string(),
        email: "ana@laptop".to_string(),
        date: start_time(),
    };
    let message = "held by ana@laptop since 2026-11-20T10:00:00Z (promote staging -> prod)";
    let tag_sha = writer
        .create_tag("shipdeck-lock-prod", message, &main, &tagger)
        .await
        .unwrap();
    let tag = writer.tag(&tag_sha).await.unwrap();
    assert_eq!(tag.sha, tag_sha);
    assert_eq!(tag.tag, "shipdeck-lock-prod");
    assert_eq!(tag.message, message);
    assert_eq!(tag.tagger, tagger);
    assert_eq!(tag.object_sha, main);

    let lock = "refs/shipdeck/locks/prod";
    assert_eq!(writer.ref_target(lock).await, Ok(None));
    writer.create_ref(lock, &tag_sha).await.unwrap();
    assert_eq!(
        writer.create_ref(lock, &tag_sha).await,
        Err(WriteError::RefExists)
    );
    let target = writer.ref_target(lock).await.unwrap().unwrap();
    assert_eq!(target.sha, tag_sha);
    assert_eq!(target.object_type, "tag");
    let branch = writer.ref_target("refs/heads/main").await.unwrap().unwrap();
    assert_eq!(branch.object_type, "commit");

    assert_eq!(writer.delete_ref(lock).await, Ok(true));
    assert_eq!(writer.delete_ref(lock).await, Ok(false));
    assert_eq!(writer.ref_target(lock).await, Ok(None));

    let missing = writer.tag(&"a".repeat(40)).await.unwrap_err();
    assert!(matches!(missing, WriteError::Rejected { status: 404, .. }));
}

#[tokio::test]
async fn deployments_are_created_without_auto_merge_and_carry_statuses_and_payload() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let staging = head_of(&writer, "staging").await;
    let main = head_of(&writer, "main").await;
    assert_ne!(staging, main, "staging is behind main");

    // By branch name, which GitHub's default auto_merge would merge main into (202).
    let id = writer
        .create_deployment(&deployment("staging", "staging"))
        .await
        .unwrap();
    assert_eq!(
        head_of(&writer, "staging").await,
        staging,
        "auto_merge was sent false: nothing merged"
    );

    writer
        .set_deployment_status(id, "in_progress", "deploying", None, None, true)
        .await
        .unwrap();
    sandbox.clock().advance(Duration::from_secs(30));
    writer
        .set_deployment_status(
            id,
            "success",
            "deployed by shipdeck",
            Some("https://ci.example/run/1"),
            Some("https://staging.example"),
            false,
        )
        .await
        .unwrap();
    let statuses = writer.deployment_statuses(id).await.unwrap();
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["success", "in_progress"], "newest first");
    assert_eq!(statuses[0].description, "deployed by shipdeck");
    assert!(statuses[0].created_at > statuses[1].created_at);

    let listed = writer
        .deployments("staging", Some(&staging), 10)
        .await
        .unwrap();
    let ours = listed.iter().find(|d| d.id == id).unwrap();
    assert_eq!(ours.sha, staging);
    assert_eq!(ours.git_ref, "staging");
    assert_eq!(ours.environment, "staging");
    assert_eq!(ours.created_at, start_time());
    assert_eq!(ours.payload["shipdeck"]["by"], "ana");
    assert_eq!(ours.creator.as_deref(), Some("shipdeck-bot"));
    assert!(listed.iter().all(|d| d.sha == staging));

    let bad_state = writer
        .set_deployment_status(id, "exploded", "", None, None, true)
        .await
        .unwrap_err();
    assert!(matches!(
        bad_state,
        WriteError::Rejected { status: 422, .. }
    ));
}

#[tokio::test]
async fn a_payload_sent_as_json_text_reads_back_as_an_object() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let main = head_of(&writer, "main").await;
    let url = format!("{}/repos/acme/shop/deployments", sandbox.github_api_url());
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth("demo-token")
        .json(&json!({
            "ref": main,
            "environment": "dev",
            "payload": "{\"shipdeck\":{\"action\":\"rollback\"}}",
            "required_contexts": [],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let listed = writer.deployments("dev", Some(&main), 5).await.unwrap();
    assert_eq!(
        listed[0].payload,
        json!({ "shipdeck": { "action": "rollback" } })
    );
}

#[tokio::test]
async fn deployment_with_unmet_required_contexts_is_a_conflict() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let before = head_of(&writer, "main").await;
    advance_until(&sandbox, || async {
        head_of(&writer, "main").await != before
    })
    .await;
    let fresh = head_of(&writer, "main").await;
    let mut request = deployment(&fresh, "staging");
    request.required_contexts = vec!["ci".to_string()];
    match writer.create_deployment(&request).await {
        Err(WriteError::Conflict(message)) => assert!(message.contains("ci"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    request.required_contexts.clear();
    writer.create_deployment(&request).await.unwrap();
}

#[tokio::test]
async fn pull_requests_open_list_refuse_and_merge_only_the_approved_head() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let main = head_of(&writer, "main").await;

    let refused = writer
        .create_pull("prod", "staging", "nothing to promote", "")
        .await
        .unwrap_err();
    match &refused {
        WriteError::Rejected { status, message } => {
            assert_eq!(*status, 422);
            assert!(message.contains("No commits between"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let opened = writer
        .create_pull("main", "staging", "Promote to staging", "by shipdeck")
        .await
        .unwrap();
    assert_eq!(opened.state, "open");
    assert!(!opened.merged);
    assert_eq!(opened.head_sha, main);
    assert_eq!(opened.head_ref, "main");
    assert_eq!(opened.base_ref, "staging");
    assert_eq!(opened.author.as_deref(), Some("shipdeck-bot"));
    assert!(
        opened
            .html_url
            .ends_with(&format!("/pull/{}", opened.number))
    );

    let open = writer.open_pulls("main", "staging").await.unwrap();
    assert_eq!(
        open.iter().map(|p| p.number).collect::<Vec<_>>(),
        [opened.number]
    );
    assert!(writer.open_pulls("main", "prod").await.unwrap().is_empty());
    assert!(
        writer
            .open_pulls("staging", "prod")
            .await
            .unwrap()
            .is_empty()
    );

    // GitHub is still working out mergeability: 405.
    assert_eq!(writer.pull(opened.number).await.unwrap().mergeable, None);
    let early = writer
        .merge_pull(opened.number, &main, MergeMethod::Merge)
        .await
        .unwrap_err();
    assert!(matches!(early, WriteError::NotMergeable(_)), "{early:?}");

    sandbox.clock().advance(Duration::from_secs(5));
    assert_eq!(
        writer.pull(opened.number).await.unwrap().mergeable,
        Some(true)
    );
    let stale = head_of(&writer, "staging").await;
    let moved = writer
        .merge_pull(opened.number, &stale, MergeMethod::Merge)
        .await
        .unwrap_err();
    assert!(matches!(moved, WriteError::HeadMoved(_)), "{moved:?}");

    let merged = writer
        .merge_pull(opened.number, &main, MergeMethod::Squash)
        .await
        .unwrap();
    assert_eq!(merged, main);
    let after = writer.pull(opened.number).await.unwrap();
    assert!(after.merged);
    assert_eq!(after.state, "closed");
    assert!(
        writer
            .open_pulls("main", "staging")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(head_of(&writer, "staging").await, main);
}

#[tokio::test]
async fn dispatched_deploy_returns_its_run_and_deploys_that_sha() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let prod = head_of(&writer, "prod").await;
    assert_ne!(
        deployed(&writer, "staging").await.as_deref(),
        Some(prod.as_str())
    );
    let inputs = BTreeMap::from([
        ("environment".to_string(), "staging".to_string()),
        ("sha".to_string(), prod.clone()),
    ]);
    let run_id = writer
        .dispatch_workflow("deploy.yml", "staging", &inputs)
        .await
        .unwrap()
        .expect("the run id comes back");

    let run = writer.workflow_run(run_id).await.unwrap();
    assert_eq!(run.id, run_id);
    assert_eq!(run.head_sha, prod);
    assert_eq!(run.head_branch, "staging");
    assert_eq!(run.event, "workflow_dispatch");
    assert!(run.html_url.ends_with(&run_id.to_string()));

    // A dispatched run shows up in the lists a moment after it is created.
    sandbox.clock().advance(Duration::from_secs(5));
    let of_workflow = writer
        .runs_for(Some("deploy.yml"), Some("staging"), &prod)
        .await
        .unwrap();
    assert_eq!(of_workflow.first().map(|r| r.id), Some(run_id));
    let all = writer.runs_for(None, None, &prod).await.unwrap();
    assert!(all.iter().any(|r| r.id == run_id));
    assert!(all.iter().all(|r| r.head_sha == prod));
    assert!(all.windows(2).all(|w| w[0].created_at >= w[1].created_at));

    advance_until(&sandbox, || async {
        writer.workflow_run(run_id).await.unwrap().status == "completed"
    })
    .await;
    assert_eq!(
        writer
            .workflow_run(run_id)
            .await
            .unwrap()
            .conclusion
            .as_deref(),
        Some("success")
    );
    advance_until(&sandbox, || async {
        deployed(&writer, "staging").await.as_deref() == Some(prod.as_str())
    })
    .await;

    let missing = writer
        .dispatch_workflow("nope.yml", "staging", &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(missing, WriteError::Rejected { status: 404, .. }));
}

#[tokio::test]
async fn a_write_applied_but_never_answered_is_a_timeout_and_visible_afterwards() {
    let sandbox = start_sandbox().await;
    let writer = writer_with_timeout(&sandbox, Duration::from_secs(1));
    let main = head_of(&writer, "main").await;
    sandbox.faults().add(FaultRule::new(
        "POST",
        "/repos/*/*/git/refs",
        FaultEffect::TimeoutAfterApply,
    ));
    let lock = "refs/shipdeck/locks/staging";
    let error = writer.create_ref(lock, &main).await.unwrap_err();
    assert_eq!(error, WriteError::Timeout);
    assert!(error.is_ambiguous());
    let target = writer.ref_target(lock).await.unwrap();
    assert_eq!(target.map(|t| t.sha), Some(main.clone()), "it was applied");
    sandbox.faults().clear();
    assert_eq!(
        writer.create_ref(lock, &main).await,
        Err(WriteError::RefExists)
    );
}

#[tokio::test]
async fn a_server_error_applies_nothing_and_rate_limits_say_when_to_retry() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let staging = head_of(&writer, "staging").await;
    let main = head_of(&writer, "main").await;
    sandbox.faults().add(
        FaultRule::new(
            "PATCH",
            "/repos/*/*/git/refs/**",
            FaultEffect::ServerError { status: 502 },
        )
        .nth(1),
    );
    let error = writer
        .update_branch("staging", &main, false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, WriteError::Server { status: 502, .. }),
        "{error:?}"
    );
    assert!(error.is_ambiguous());
    assert_eq!(
        head_of(&writer, "staging").await,
        staging,
        "nothing applied"
    );

    sandbox.faults().clear();
    sandbox
        .faults()
        .add(FaultRule::new("POST", "/repos/*/*/deployments", FaultEffect::RateLimited).nth(1));
    sandbox.faults().add(
        FaultRule::new(
            "POST",
            "/repos/*/*/deployments",
            FaultEffect::RetryAfter { seconds: 60 },
        )
        .nth(2),
    );
    match writer.create_deployment(&deployment(&main, "dev")).await {
        Err(WriteError::RateLimited { reset, .. }) => assert!(reset.is_some()),
        other => panic!("expected the primary limit, got {other:?}"),
    }
    match writer.create_deployment(&deployment(&main, "dev")).await {
        Err(WriteError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(60)));
        }
        other => panic!("expected the secondary limit, got {other:?}"),
    }
    assert!(
        writer
            .deployments("dev", Some(&main), 10)
            .await
            .unwrap()
            .is_empty()
    );

    sandbox.faults().clear();
    sandbox.faults().add(FaultRule::new(
        "GET",
        "/repos/*/*/pulls/*",
        FaultEffect::MalformedBody,
    ));
    let garbled = writer.pull(1501).await.unwrap_err();
    assert!(matches!(garbled, WriteError::Decode(_)), "{garbled:?}");
    assert!(!garbled.is_ambiguous());
}

#[tokio::test]
async fn transport_errors_never_carry_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let writer = GithubWriter::new(
        &format!("http://127.0.0.1:{port}"),
        "acme/shop",
        &Secret::new(TOKEN),
        Duration::from_secs(2),
    )
    .unwrap();
    let error = writer
        .update_branch("main", &"a".repeat(40), false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, WriteError::Transport(_) | WriteError::Timeout),
        "{error:?}"
    );
    assert!(error.is_ambiguous());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

/// Deployments of one GitHub environment and sha, as the raw API lists them.
async fn raw_deployments(sandbox: &Sandbox, environment: &str, sha: &str) -> Vec<Value> {
    let url = format!(
        "{}/repos/acme/shop/deployments?environment={environment}&sha={sha}&per_page=100",
        sandbox.github_api_url()
    );
    reqwest::Client::new()
        .get(&url)
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_bot_does_not_duplicate_a_deployment_shipdeck_created_for_a_branch_move() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let prod = head_of(&writer, "prod").await;
    // Dev's deployed commit passed CI, and is ahead of prod.
    let sha = deployed(&writer, "dev").await.unwrap();
    assert_ne!(sha, prod);

    // shipdeck records the deployment of the `prod` service; `prod-worker` it leaves alone.
    let id = writer
        .create_deployment(&deployment(&sha, "prod"))
        .await
        .unwrap();
    writer
        .set_deployment_status(id, "in_progress", "promoting", None, None, true)
        .await
        .unwrap();
    writer.update_branch("prod", &sha, false).await.unwrap();

    // Once the run has passed, the bot deploys prod-worker (the control) ...
    advance_until(&sandbox, || async {
        !raw_deployments(&sandbox, "prod-worker", &sha)
            .await
            .is_empty()
    })
    .await;
    let runs = writer.runs_for(None, Some("prod"), &sha).await.unwrap();
    assert!(
        runs.iter()
            .any(|r| r.conclusion.as_deref() == Some("success"))
    );
    // ... and leaves prod to the deployment shipdeck created.
    sandbox.clock().advance(Duration::from_secs(120));
    let prod_deployments = raw_deployments(&sandbox, "prod", &sha).await;
    assert_eq!(prod_deployments.len(), 1, "{prod_deployments:#?}");
    assert_eq!(prod_deployments[0]["id"], id);
    let worker = raw_deployments(&sandbox, "prod-worker", &sha).await;
    assert_eq!(worker.len(), 1);
    assert_eq!(worker[0]["creator"]["login"], "github-actions[bot]");

    writer
        .set_deployment_status(id, "success", "promoted", None, None, true)
        .await
        .unwrap();
    assert_eq!(deployed(&writer, "prod").await, Some(sha));
}
