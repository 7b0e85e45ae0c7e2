//! The official GitHub and Sentry example responses decode with shipdeck's own client types
//! (the job examples lack `run_attempt` and `created_at`; the types must cope).

use shipdeck::model::{DeployStatus, RunStatus};
use shipdeck::sources::github::types::{
    WireBranch, WireCommit, WireDeployment, WireDeploymentStatus, WireJobList, WireRunList,
    succeeded_at,
};
use shipdeck::sources::sentry::parse_issues;

fn example(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn workflow_runs_example_decodes() {
    let runs: WireRunList =
        serde_json::from_str(&example("actions__list-workflow-runs.200.default.json")).unwrap();
    assert_eq!(runs.workflow_runs.len(), 1);
    let run = runs.workflow_runs[0].to_summary();
    assert_eq!(run.run_id, 30433642);
    assert_eq!(run.run_number, 562);
    assert_eq!(run.run_attempt, 1);
    assert_eq!(run.sha, "acb5820ced9479c074f688cc328bf03f341a511d");
    assert_eq!(run.status, RunStatus::Queued);
    assert!(run.started_at.is_some());
    assert_eq!(
        run.completed_at, None,
        "an unfinished run has no completion time"
    );
}

#[test]
fn jobs_example_without_run_attempt_decodes_with_steps() {
    let jobs: WireJobList = serde_json::from_str(&example(
        "actions__list-jobs-for-workflow-run.200.default.json",
    ))
    .unwrap();
    assert_eq!(jobs.jobs.len(), 1);
    assert_eq!(jobs.jobs[0].run_attempt, None);
    assert_eq!(jobs.jobs[0].created_at, None);
    let job = jobs.jobs[0].to_job_state();
    assert_eq!(job.name.as_str(), "build");
    assert_eq!(job.status, RunStatus::Passed);
    assert!(job.started_at.is_some() && job.completed_at.is_some());
    assert!(!job.steps.is_empty());
    assert_eq!(job.steps[0].number, 1);
    assert_eq!(job.steps[0].name.as_str(), "Set up job");
    assert_eq!(job.steps[0].status, RunStatus::Passed);
    // Step times carry an offset (-08:00); they must be read, not dropped.
    assert!(job.steps[0].started_at.is_some());
}

#[test]
fn deployments_and_statuses_examples_decode() {
    let deployments: Vec<WireDeployment> =
        serde_json::from_str(&example("repos__list-deployments.200.default.json")).unwrap();
    let statuses: Vec<WireDeploymentStatus> =
        serde_json::from_str(&example("repos__list-deployment-statuses.200.default.json")).unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(statuses.len(), 1);
    let state = deployments[0].to_deploy_state(&statuses);
    assert_eq!(state.deployment_id, 1);
    assert_eq!(state.sha, "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d");
    assert_eq!(state.status, DeployStatus::Success);
    assert_eq!(state.creator.as_ref().map(|c| c.as_str()), Some("octocat"));
    assert_eq!(
        state.description.as_ref().map(|d| d.as_str()),
        Some("Deployment finished successfully.")
    );
    assert!(succeeded_at(&statuses).is_some());
    // Without any status a deployment is pending.
    assert_eq!(
        deployments[0].to_deploy_state(&[]).status,
        DeployStatus::Pending
    );
}

#[test]
fn branch_example_gives_the_head_commit() {
    let branch: WireBranch =
        serde_json::from_str(&example("repos__get-branch.200.default.json")).unwrap();
    assert_eq!(branch.name, "main");
    let head = branch.commit.to_commit_info();
    assert_eq!(head.sha, "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d");
    assert_eq!(
        head.subject.as_str(),
        "Merge pull request #6 from Spaceghost/patch-1"
    );
    assert_eq!(head.author.as_str(), "The Octocat");
    assert!(head.at.is_some());
}

#[test]
fn commit_example_decodes() {
    let commit: WireCommit =
        serde_json::from_str(&example("repos__get-commit.200.default.json")).unwrap();
    let info = commit.to_commit_info();
    assert_eq!(info.sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
    assert_eq!(info.subject.as_str(), "Fix all the bugs");
    assert_eq!(info.short_sha(), "6dcb09b");
}

#[test]
fn sentry_issues_example_decodes_with_string_counts() {
    let issues = parse_issues(&example("sentry__listOrganizationIssues.200.json")).unwrap();
    assert!(!issues.is_empty());
    assert_eq!(issues[0].id.as_str(), "1");
    assert_eq!(issues[0].count, 150);
    assert_eq!(
        issues[0].first_seen.to_rfc3339(),
        "2018-11-06T21:19:55+00:00"
    );
    assert!(!issues[0].title.is_empty());
}
