//! The GitHub REST subset: routes over the world's state, and JSON builders shaped after
//! GitHub's official examples (every field the published schemas and octocrab's models
//! require). Transport concerns (auth, ETags, rate limits, Link headers) live in `http.rs`.
//!
//! Job logs work as on github.com: `GET .../actions/jobs/{id}/logs` answers `302 Found` with
//! a short-lived signed URL on the sandbox itself (`/_blobs/jobs/{id}/log?se=..&sig=..`, the
//! stand-in for GitHub's blob storage), which serves the log as text without a token.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::http::{ApiError, Page, Query};
use super::logs::job_log_until;
use super::world::{
    Actor, CommitRecord, DEPLOY_WORKFLOW_FILE, DEPLOY_WORKFLOW_ID, DEPLOY_WORKFLOW_NAME,
    DeployState, DeploymentRecord, DeploymentStatusRecord, IssueCommentRecord, IssueRecord,
    JobRecord, MergeError, NewDeployment, NewTag, OWNER, Outcome, Progress, PullRecord, REPO_NAME,
    REVIEW_DELAY_SECS, RerunError, RunRecord, TagRecord, WORKFLOW_FILE, WORKFLOW_ID, WORKFLOW_NAME,
    World, WriteError, api_client_actor,
};

const WEB: &str = "https://github.com";

/// An answer before transport headers are added.
pub struct Answer {
    pub status: axum::http::StatusCode,
    /// `Value::Null` with a 204: no body.
    pub body: Value,
    /// Present on paginated lists: drives the `Link` header.
    pub page: Option<Page>,
    /// Whether the request counts against the rate limit (`/rate_limit` does not).
    pub counts: bool,
    /// With a `302 Found`: where to (`Location`); there is no body then.
    pub location: Option<String>,
}

impl Answer {
    fn one(body: Value) -> Self {
        Self {
            status: axum::http::StatusCode::OK,
            body,
            page: None,
            counts: true,
            location: None,
        }
    }

    fn redirect(location: String) -> Self {
        Self {
            status: StatusCode::FOUND,
            body: Value::Null,
            page: None,
            counts: true,
            location: Some(location),
        }
    }

    fn with_status(status: axum::http::StatusCode, body: Value) -> Self {
        Self {
            status,
            ..Self::one(body)
        }
    }
}

/// Routes a GET by its path segments. `api` is the API root the client called (for `url`
/// fields), e.g. `http://127.0.0.1:PORT`.
pub fn get(world: &World, api: &str, segments: &[&str], query: &Query) -> Result<Answer, ApiError> {
    let now = world.now;
    let urls = Urls { api };
    match segments {
        ["rate_limit"] => Ok(Answer {
            status: axum::http::StatusCode::OK,
            body: rate_limit_json(world),
            page: None,
            counts: false,
            location: None,
        }),
        ["repos", owner, repo, rest @ ..] => {
            if *owner != OWNER || *repo != REPO_NAME {
                return Err(ApiError::NotFound);
            }
            repo_get(world, &urls, rest, query, now)
        }
        _ => Err(ApiError::NotFound),
    }
}

fn repo_get(
    world: &World,
    urls: &Urls,
    rest: &[&str],
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Answer, ApiError> {
    match rest {
        ["branches", branch @ ..] if !branch.is_empty() => {
            let name = branch.join("/");
            let head = world.branches.get(&name).ok_or(ApiError::BranchNotFound)?;
            let commit = world.commit(head).ok_or(ApiError::NotFound)?;
            Ok(Answer::one(branch_json(
                urls,
                &name,
                commit,
                world.topology.is_protected(&name),
            )))
        }
        ["commits"] => {
            let reference = query.get("sha").unwrap_or(world.topology.trunk());
            let commits = world.history(reference);
            if commits.is_empty() {
                return Err(ApiError::NotFound);
            }
            let (commits, page) = Page::slice(commits, query);
            let items: Vec<Value> = commits
                .into_iter()
                .map(|c| commit_json(urls, c, false))
                .collect();
            Ok(Answer {
                status: axum::http::StatusCode::OK,
                body: Value::Array(items),
                page: Some(page),
                counts: true,
                location: None,
            })
        }
        ["compare", spec @ ..] if !spec.is_empty() => compare(world, urls, &spec.join("/")),
        ["commits", reference @ .., "check-runs"] if !reference.is_empty() => {
            let commit = world
                .commit(&reference.join("/"))
                .ok_or(ApiError::NoCommit)?;
            Ok(Answer::one(check_runs_json(world, urls, &commit.sha, now)))
        }
        ["commits", reference @ .., "pulls"] if !reference.is_empty() => {
            let commit = world
                .commit(&reference.join("/"))
                .ok_or(ApiError::NoCommit)?;
            let pulls: Vec<PullRecord> = world.carrying_pull(&commit.sha).into_iter().collect();
            let items: Vec<Value> = pulls.iter().map(|p| pull_json(world, urls, p)).collect();
            Ok(Answer::one(Value::Array(items)))
        }
        ["commits", reference @ .., "status"] if !reference.is_empty() => {
            let commit = world
                .commit(&reference.join("/"))
                .ok_or(ApiError::NoCommit)?;
            Ok(Answer::one(combined_status_json(
                world,
                urls,
                &commit.sha,
                now,
            )))
        }
        ["commits", reference @ ..] if !reference.is_empty() => {
            let reference = reference.join("/");
            let commit = world.commit(&reference).ok_or(ApiError::NoCommit)?;
            Ok(Answer::one(commit_json(urls, commit, true)))
        }
        ["git", "ref" | "refs", name @ ..] if !name.is_empty() => {
            let full = format!("refs/{}", name.join("/"));
            let sha = world.ref_sha(&full).ok_or(ApiError::NotFound)?;
            Ok(Answer::one(ref_json(
                urls,
                &full,
                sha,
                world.object_type(sha),
            )))
        }
        ["git", "tags", sha] => {
            let tag = world.tags.get(*sha).ok_or(ApiError::NotFound)?;
            Ok(Answer::one(tag_json(urls, tag)))
        }
        ["pulls"] => {
            let state = query.get("state").unwrap_or("open");
            if !matches!(state, "open" | "closed" | "all") {
                return Err(ApiError::Unprocessable(format!(
                    "Validation Failed: state {state:?} is not one of open, closed, all"
                )));
            }
            // `owner:branch`; a bare branch name is what GitHub ignores, so do the same.
            let head = query.get("head").map(|h| {
                h.split_once(':')
                    .map(|(owner, branch)| (owner == OWNER, branch))
            });
            let base = query.get("base");
            let pulls: Vec<&PullRecord> = world
                .pulls
                .iter()
                .rev()
                .filter(|p| match state {
                    "open" => p.merged_at.is_none(),
                    "closed" => p.merged_at.is_some(),
                    _ => true,
                })
                .filter(|p| match head {
                    Some(Some((same_owner, branch))) => same_owner && p.head == branch,
                    _ => true,
                })
                .filter(|p| base.is_none_or(|b| p.base == b))
                .collect();
            let (pulls, page) = Page::slice(pulls, query);
            let items: Vec<Value> = pulls
                .into_iter()
                .map(|p| pull_json(world, urls, p))
                .collect();
            Ok(Answer {
                status: axum::http::StatusCode::OK,
                body: Value::Array(items),
                page: Some(page),
                counts: true,
                location: None,
            })
        }
        ["actions", "workflows"] => Ok(Answer::one(json!({
            "total_count": 1,
            "workflows": [workflow_json(urls, world.start)],
        }))),
        ["actions", "workflows", workflow] => {
            if !is_our_workflow(workflow) {
                return Err(ApiError::NotFound);
            }
            Ok(Answer::one(workflow_json(urls, world.start)))
        }
        ["actions", "workflows", workflow, "runs"] => {
            let deploy =
                *workflow == DEPLOY_WORKFLOW_FILE || *workflow == DEPLOY_WORKFLOW_ID.to_string();
            if !deploy && !is_our_workflow(workflow) {
                return Err(ApiError::NotFound);
            }
            list_runs(world, urls, query, now, Some(deploy))
        }
        ["actions", "runs"] => list_runs(world, urls, query, now, None),
        ["actions", "runs", run_id] => {
            let run = parse_id(run_id).and_then(|id| world.run(id));
            let run = run.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(run_json(world, urls, run, now)))
        }
        ["actions", "runs", run_id, "jobs"] => {
            let run = parse_id(run_id).and_then(|id| world.run(id));
            let run = run.ok_or(ApiError::NotFound)?;
            // `latest` (GitHub's default): the latest attempt's jobs; `all`: every attempt's.
            let jobs: Vec<&JobRecord> = match query.get("filter") {
                Some("all") => run.all_jobs(),
                _ => run.jobs.iter().collect(),
            };
            Ok(jobs_answer(urls, run, jobs, query, now))
        }
        ["actions", "runs", run_id, "attempts", attempt] => {
            let run = attempt_of(world, run_id, attempt)?;
            Ok(Answer::one(run_json(world, urls, &run, now)))
        }
        ["actions", "runs", run_id, "attempts", attempt, "jobs"] => {
            let run = attempt_of(world, run_id, attempt)?;
            let jobs: Vec<&JobRecord> = run.jobs.iter().collect();
            Ok(jobs_answer(urls, &run, jobs, query, now))
        }
        ["actions", "jobs", job_id] => {
            let found = parse_id(job_id).and_then(|id| world.job(id));
            let (run, job) = found.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(job_json(urls, run, job, now)))
        }
        ["actions", "jobs", job_id, "logs"] => {
            let found = parse_id(job_id).and_then(|id| world.job(id));
            let (_, job) = found.ok_or(ApiError::NotFound)?;
            // A job that never started (queued, or skipped) has no log yet: 404, as GitHub
            // answers. A running one redirects too; the blob serves the log so far.
            if job.outcome == Outcome::Skipped || job.progress(now) == Progress::Queued {
                return Err(ApiError::NotFound);
            }
            let expires = now + chrono::TimeDelta::seconds(BLOB_URL_LIFETIME_SECS);
            let expires = expires.timestamp();
            let sig = blob_signature(world, job.id, expires);
            Ok(Answer::redirect(format!(
                "{}/_blobs/jobs/{}/log?se={expires}&sig={sig}",
                urls.api, job.id
            )))
        }
        ["pulls", number] => {
            let pull = parse_id(number).and_then(|n| world.pull(n));
            let pull = pull.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(pull_json(world, urls, pull)))
        }
        ["pulls", number, "reviews"] => {
            let pull = parse_id(number).and_then(|n| world.pull(n));
            let pull = pull.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(reviews_json(world, urls, pull)))
        }
        ["issues"] => list_issues(world, urls, query),
        ["issues", number] => {
            let issue = parse_id(number).and_then(|n| world.issue(n));
            let issue = issue.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(issue_json(urls, issue)))
        }
        ["issues", number, "comments"] => {
            let issue = parse_id(number).and_then(|n| world.issue(n));
            let issue = issue.ok_or(ApiError::NotFound)?;
            let comments: Vec<&IssueCommentRecord> = issue.comments.iter().collect();
            let (comments, page) = Page::slice(comments, query);
            let items: Vec<Value> = comments
                .into_iter()
                .map(|c| comment_json(urls, issue.number, c))
                .collect();
            Ok(Answer {
                status: StatusCode::OK,
                body: Value::Array(items),
                page: Some(page),
                counts: true,
                location: None,
            })
        }
        ["deployments"] => {
            let environment = query.get("environment");
            let sha = query.get("sha");
            let git_ref = query.get("ref");
            let deployments: Vec<&DeploymentRecord> = world
                .deployments
                .iter()
                .rev()
                .filter(|d| environment.is_none_or(|e| d.environment == e))
                .filter(|d| sha.is_none_or(|s| d.sha == s))
                .filter(|d| git_ref.is_none_or(|r| d.git_ref == r || d.sha == r))
                .collect();
            let (deployments, page) = Page::slice(deployments, query);
            let items: Vec<Value> = deployments
                .into_iter()
                .map(|d| deployment_json(urls, d))
                .collect();
            Ok(Answer {
                status: axum::http::StatusCode::OK,
                body: Value::Array(items),
                page: Some(page),
                counts: true,
                location: None,
            })
        }
        ["deployments", id] => {
            let deployment = parse_id(id).and_then(|id| world.deployment(id));
            let deployment = deployment.ok_or(ApiError::NotFound)?;
            Ok(Answer::one(deployment_json(urls, deployment)))
        }
        ["deployments", id, "statuses"] => {
            let deployment = parse_id(id).and_then(|id| world.deployment(id));
            let deployment = deployment.ok_or(ApiError::NotFound)?;
            let statuses: Vec<Value> = deployment
                .statuses
                .iter()
                .rev()
                .map(|s| deployment_status_json(urls, deployment, s))
                .collect();
            let (items, page) = Page::slice(statuses, query);
            Ok(Answer {
                status: axum::http::StatusCode::OK,
                body: Value::Array(items),
                page: Some(page),
                counts: true,
                location: None,
            })
        }
        _ => Err(ApiError::NotFound),
    }
}

/// Routes a write (POST, PATCH, PUT, DELETE) by its path segments; `request` is the JSON
/// body (`{}` when empty).
pub fn write(
    world: &mut World,
    api: &str,
    method: &axum::http::Method,
    segments: &[&str],
    request: &Value,
) -> Result<Answer, ApiError> {
    let urls = Urls { api };
    let ["repos", owner, repo, rest @ ..] = segments else {
        return Err(ApiError::NotFound);
    };
    if *owner != OWNER || *repo != REPO_NAME {
        return Err(ApiError::NotFound);
    }
    match (method.as_str(), rest) {
        ("PATCH", ["git", "refs", "heads", branch @ ..]) if !branch.is_empty() => {
            let branch = branch.join("/");
            let sha = required_str(request, "sha")?;
            let force = request
                .get("force")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            world
                .update_branch(&branch, sha, force)
                .map_err(write_error)?;
            let full = format!("refs/heads/{branch}");
            Ok(Answer::one(ref_json(&urls, &full, sha, "commit")))
        }
        ("POST", ["git", "refs"]) => {
            let full = required_str(request, "ref")?;
            if !full.starts_with("refs/") || full.split('/').count() < 3 {
                return Err(ApiError::Unprocessable(
                    "Reference name must start with 'refs/' and have at least two slashes."
                        .to_string(),
                ));
            }
            let sha = required_str(request, "sha")?;
            world.create_ref(full, sha).map_err(write_error)?;
            Ok(Answer::with_status(
                StatusCode::CREATED,
                ref_json(&urls, full, sha, world.object_type(sha)),
            ))
        }
        ("POST", ["git", "tags"]) => {
            let tag = required_str(request, "tag")?.to_string();
            let message = required_str(request, "message")?.to_string();
            let object_sha = required_str(request, "object")?.to_string();
            let kind = required_str(request, "type")?;
            if kind != "commit" {
                return Err(ApiError::Unprocessable(format!(
                    "Invalid request.\n\nonly tags of commits are supported here, not {kind:?}"
                )));
            }
            let tagger = request.get("tagger").cloned().unwrap_or_else(|| json!({}));
            let tagger_name = required_str(&tagger, "name")?.to_string();
            let tagger_email = required_str(&tagger, "email")?.to_string();
            let tagger_date = match tagger.get("date").and_then(Value::as_str) {
                None => world.now,
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        ApiError::Unprocessable(format!(
                            "Invalid request.\n\n{text:?} is not a valid date-time"
                        ))
                    })?
                    .to_utc(),
            };
            let sha = world
                .create_tag(NewTag {
                    tag,
                    message,
                    object_sha,
                    tagger_name,
                    tagger_email,
                    tagger_date,
                })
                .map_err(write_error)?;
            let tag = world.tags.get(&sha).ok_or(ApiError::NotFound)?;
            Ok(Answer::with_status(
                StatusCode::CREATED,
                tag_json(&urls, tag),
            ))
        }
        ("DELETE", ["git", "refs", name @ ..]) if !name.is_empty() => {
            let full = format!("refs/{}", name.join("/"));
            world.delete_ref(&full).map_err(write_error)?;
            Ok(Answer::with_status(StatusCode::NO_CONTENT, Value::Null))
        }
        ("POST", ["actions", "workflows", workflow, "dispatches"]) => {
            let deploys = *workflow == DEPLOY_WORKFLOW_FILE;
            if !deploys && !is_our_workflow(workflow) {
                return Err(ApiError::NotFound);
            }
            let git_ref = required_str(request, "ref")?;
            let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
            let head =
                world.branches.get(branch).cloned().ok_or_else(|| {
                    ApiError::Unprocessable(format!("No ref found for: {git_ref}"))
                })?;
            let inputs = request.get("inputs").cloned().unwrap_or_else(|| json!({}));
            let input = |name: &str| inputs.get(name).and_then(Value::as_str);
            let sha = input("sha").unwrap_or(&head).to_string();
            let environment = if deploys {
                Some(input("environment").ok_or_else(|| {
                    ApiError::Unprocessable("Required input 'environment' not provided".to_string())
                })?)
            } else {
                None
            };
            let run_id = world
                .dispatch_workflow(branch, &sha, environment)
                .map_err(write_error)?;
            if request.get("return_run_details").and_then(Value::as_bool) == Some(true) {
                let r = urls.repo();
                Ok(Answer::one(json!({
                    "workflow_run_id": run_id,
                    "run_url": format!("{r}/actions/runs/{run_id}"),
                    "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{run_id}"),
                })))
            } else {
                Ok(Answer::with_status(StatusCode::NO_CONTENT, Value::Null))
            }
        }
        ("POST", ["pulls"]) => {
            let head = required_str(request, "head")?;
            // `owner:branch` names a head in a fork; here every branch is in the one repo.
            let head = head.rsplit(':').next().unwrap_or(head);
            let base = required_str(request, "base")?;
            let title = required_str(request, "title")?;
            let body = request.get("body").and_then(Value::as_str).unwrap_or("");
            let number = world
                .create_pull(head, base, title, body)
                .map_err(write_error)?;
            let pull = world.pull(number).ok_or(ApiError::NotFound)?;
            Ok(Answer::with_status(
                StatusCode::CREATED,
                pull_json(world, &urls, pull),
            ))
        }
        ("PUT", ["pulls", number, "merge"]) => {
            let number = parse_id(number).ok_or(ApiError::NotFound)?;
            world.pull(number).ok_or(ApiError::NotFound)?;
            let expected = request.get("sha").and_then(Value::as_str);
            match world.merge_pull(number, expected) {
                Ok(sha) => Ok(Answer::one(json!({
                    "sha": sha,
                    "merged": true,
                    "message": "Pull Request successfully merged",
                }))),
                Err(error @ MergeError::NotMergeable) => {
                    Err(ApiError::MethodNotAllowed(error.to_string()))
                }
                Err(error @ MergeError::HeadMoved) => Err(ApiError::Conflict(error.to_string())),
            }
        }
        ("POST", ["issues"]) => create_issue(world, &urls, request),
        ("POST", ["issues", number, "comments"]) => {
            let number = parse_id(number).ok_or(ApiError::NotFound)?;
            let body = required_str(request, "body")?;
            if body.trim().is_empty() {
                return Err(ApiError::Unprocessable(
                    "Validation Failed: body cannot be blank".to_string(),
                ));
            }
            let comment = world
                .comment_on_issue(number, body)
                .ok_or(ApiError::NotFound)?;
            Ok(Answer::with_status(
                StatusCode::CREATED,
                comment_json(&urls, number, &comment),
            ))
        }
        ("PATCH", ["issues", number]) => {
            let number = parse_id(number).ok_or(ApiError::NotFound)?;
            world.issue(number).ok_or(ApiError::NotFound)?;
            match request.get("state") {
                None | Some(Value::Null) => {}
                Some(Value::String(state)) if state == "open" || state == "closed" => {
                    world.set_issue_open(number, state == "open");
                }
                Some(other) => {
                    return Err(ApiError::Unprocessable(format!(
                        "Validation Failed: state {other} is not one of open, closed"
                    )));
                }
            }
            let issue = world.issue(number).ok_or(ApiError::NotFound)?;
            Ok(Answer::one(issue_json(&urls, issue)))
        }
        (
            "POST",
            [
                "actions",
                "runs",
                run_id,
                action @ ("rerun-failed-jobs" | "rerun"),
            ],
        ) => {
            let run_id = parse_id(run_id).ok_or(ApiError::NotFound)?;
            let rerun = if *action == "rerun" {
                world.rerun_all_jobs(run_id)
            } else {
                world.rerun_failed_jobs(run_id)
            };
            match rerun {
                Ok(_) => Ok(Answer::with_status(StatusCode::CREATED, json!({}))),
                Err(RerunError::NotFound) => Err(ApiError::NotFound),
                Err(error) => Err(ApiError::Forbidden(error.to_string())),
            }
        }
        ("POST", ["deployments"]) => {
            let git_ref = required_str(request, "ref")?.to_string();
            let environment = request
                .get("environment")
                .and_then(Value::as_str)
                .unwrap_or("production")
                .to_string();
            let payload = match request.get("payload") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(Value::String(text)) => text.clone(),
                Some(value) => value.to_string(),
            };
            let description = request
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let production = request
                .get("production_environment")
                .and_then(Value::as_bool);
            // `auto_merge` defaults to true: a branch behind the default branch gets it
            // merged in and the answer is a 202 with no deployment (a trap for promotions).
            let auto_merge = request
                .get("auto_merge")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if auto_merge
                && git_ref != world.topology.trunk()
                && let (Some(branch_head), Some(main_head)) = (
                    world.branches.get(&git_ref).cloned(),
                    world.branches.get(world.topology.trunk()).cloned(),
                )
                && world.commit_position(&main_head) > world.commit_position(&branch_head)
            {
                world
                    .update_branch(&git_ref, &main_head, false)
                    .map_err(write_error)?;
                return Ok(Answer::with_status(
                    StatusCode::ACCEPTED,
                    json!({ "message": format!("Auto-merged main into {git_ref} on deployment.") }),
                ));
            }
            // GitHub checks the commit's statuses first: absent `required_contexts` means
            // every context, `[]` none.
            let sha = world
                .commit(&git_ref)
                .map(|c| c.sha.clone())
                .ok_or_else(|| ApiError::Unprocessable(format!("No ref found for: {git_ref}")))?;
            let required: Option<Vec<&str>> = request
                .get("required_contexts")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).collect());
            let status = combined_status_json(world, &urls, &sha, world.now);
            let failing: Vec<String> = match &required {
                Some(names) => names
                    .iter()
                    .filter(|name| {
                        !status["statuses"].as_array().is_some_and(|all| {
                            all.iter()
                                .any(|s| s["context"] == **name && s["state"] == "success")
                        })
                    })
                    .map(|name| name.to_string())
                    .collect(),
                None if status["state"] == "success" => Vec::new(),
                None => vec!["ci".to_string()],
            };
            if !failing.is_empty() {
                return Err(ApiError::Conflict(format!(
                    "Conflict: Commit status checks failed for {git_ref}. Required contexts not successful: {}",
                    failing.join(", ")
                )));
            }
            let id = world
                .create_deployment(NewDeployment {
                    git_ref,
                    environment,
                    description,
                    production,
                    payload,
                    creator: api_client_actor(),
                })
                .map_err(write_error)?;
            let deployment = world.deployment(id).ok_or(ApiError::NotFound)?;
            Ok(Answer::with_status(
                StatusCode::CREATED,
                deployment_json(&urls, deployment),
            ))
        }
        ("POST", ["deployments", id, "statuses"]) => {
            let id = parse_id(id).ok_or(ApiError::NotFound)?;
            world.deployment(id).ok_or(ApiError::NotFound)?;
            let state = required_str(request, "state")?;
            let state = DeployState::parse(state).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "state {state:?} is not a valid deployment status state"
                ))
            })?;
            let description = request
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            let auto_inactive = request
                .get("auto_inactive")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let status_id = world
                .create_deployment_status(id, state, description, auto_inactive)
                .ok_or(ApiError::NotFound)?;
            let deployment = world.deployment(id).ok_or(ApiError::NotFound)?;
            let status = deployment
                .statuses
                .iter()
                .find(|s| s.id == status_id)
                .ok_or(ApiError::NotFound)?;
            let mut body = deployment_status_json(&urls, deployment, status);
            for field in ["environment_url", "log_url"] {
                if let Some(url) = request.get(field).and_then(Value::as_str) {
                    body[field] = json!(url);
                }
            }
            Ok(Answer::with_status(StatusCode::CREATED, body))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// `GET issues`: the world's issues, newest first unless `direction=asc`, filtered by
/// `state` and by `labels` (comma-separated; an issue must carry every one, as on GitHub).
/// None is a pull request.
fn list_issues(world: &World, urls: &Urls, query: &Query) -> Result<Answer, ApiError> {
    let state = query.get("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Err(ApiError::Unprocessable(format!(
            "Validation Failed: state {state:?} is not one of open, closed, all"
        )));
    }
    let wanted: Vec<&str> = query
        .get("labels")
        .map(|labels| {
            labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut issues: Vec<&IssueRecord> = world
        .issues
        .iter()
        .rev()
        .filter(|issue| match state {
            "open" => issue.closed_at.is_none(),
            "closed" => issue.closed_at.is_some(),
            _ => true,
        })
        .filter(|issue| {
            // GitHub's label names are unique regardless of case.
            wanted.iter().all(|name| {
                issue
                    .labels
                    .iter()
                    .any(|label| label.eq_ignore_ascii_case(name))
            })
        })
        .collect();
    if query.get("direction") == Some("asc") {
        issues.reverse();
    }
    let (issues, page) = Page::slice(issues, query);
    let items: Vec<Value> = issues.into_iter().map(|i| issue_json(urls, i)).collect();
    Ok(Answer {
        status: StatusCode::OK,
        body: Value::Array(items),
        page: Some(page),
        counts: true,
        location: None,
    })
}

/// `POST issues` with `title`, optional `body` and `labels` (names, or objects with a
/// `name`); labels that do not exist yet are created on the fly, as GitHub does for a
/// token with push access.
fn create_issue(world: &mut World, urls: &Urls, request: &Value) -> Result<Answer, ApiError> {
    let title = required_str(request, "title")?;
    if title.trim().is_empty() {
        return Err(ApiError::Unprocessable(
            "Validation Failed: title cannot be blank".to_string(),
        ));
    }
    let body = match request.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "Invalid request.\n\nFor 'properties/body', it is not a string.".to_string(),
            ));
        }
    };
    let labels: Vec<String> = match request.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .or_else(|| item.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ApiError::Unprocessable(
                            "Invalid request.\n\nFor 'items', it is not a string.".to_string(),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::Unprocessable(
                "Invalid request.\n\nFor 'properties/labels', it is not an array.".to_string(),
            ));
        }
    };
    let number = world.create_issue(title, body, &labels);
    let issue = world.issue(number).ok_or(ApiError::NotFound)?;
    Ok(Answer::with_status(
        StatusCode::CREATED,
        issue_json(urls, issue),
    ))
}

/// An issue as `POST issues` and `GET issues` answer it.
fn issue_json(urls: &Urls, issue: &IssueRecord) -> Value {
    let r = urls.repo();
    let n = issue.number;
    let labels: Vec<Value> = issue.labels.iter().map(|l| label_json(urls, l)).collect();
    json!({
        "id": issue.id,
        "node_id": node_id("I", issue.id),
        "url": format!("{r}/issues/{n}"),
        "repository_url": r,
        "labels_url": format!("{r}/issues/{n}/labels{{/name}}"),
        "comments_url": format!("{r}/issues/{n}/comments"),
        "events_url": format!("{r}/issues/{n}/events"),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/issues/{n}"),
        "timeline_url": format!("{r}/issues/{n}/timeline"),
        "number": n,
        "state": if issue.closed_at.is_some() { "closed" } else { "open" },
        "state_reason": issue.closed_at.map(|_| "completed"),
        "title": issue.title,
        "body": issue.body,
        "user": user_json(urls, &issue.author),
        "labels": labels,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": issue.comments.len(),
        "closed_at": issue.closed_at.map(time),
        "closed_by": issue.closed_at.map(|_| user_json(urls, &api_client_actor())),
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "author_association": "MEMBER",
        "performed_via_github_app": null,
        "reactions": reactions_json(format!("{r}/issues/{n}/reactions")),
        "sub_issues_summary": { "total": 0, "completed": 0, "percent_completed": 0 },
    })
}

/// The (empty) reactions summary GitHub puts on issues and comments.
fn reactions_json(url: String) -> Value {
    json!({
        "url": url,
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "confused": 0,
        "heart": 0,
        "hooray": 0,
        "eyes": 0,
        "rocket": 0,
    })
}

/// A comment on issue `number`, as `POST .../comments` answers it.
fn comment_json(urls: &Urls, number: u64, comment: &IssueCommentRecord) -> Value {
    let r = urls.repo();
    let id = comment.id;
    json!({
        "id": id,
        "node_id": node_id("IC", id),
        "url": format!("{r}/issues/comments/{id}"),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/issues/{number}#issuecomment-{id}"),
        "body": comment.body,
        "user": user_json(urls, &comment.author),
        "created_at": time(comment.created_at),
        "updated_at": time(comment.created_at),
        "issue_url": format!("{r}/issues/{number}"),
        "author_association": "MEMBER",
        "performed_via_github_app": null,
        "reactions": reactions_json(format!("{r}/issues/comments/{id}/reactions")),
    })
}

/// A label by name; its id and colour are derived from the name, so every issue carrying
/// it shows the same label.
fn label_json(urls: &Urls, name: &str) -> Value {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.to_ascii_lowercase().as_bytes());
    let id = 5_000_000_000
        + u64::from(u32::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]));
    json!({
        "id": id,
        "node_id": node_id("LA", id),
        "url": format!("{}/labels/{}", urls.repo(), crate::sources::github::encode(name)),
        "name": name,
        "description": null,
        "color": hex::encode(&digest[4..7]),
        "default": false,
    })
}

fn required_str<'a>(request: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    request.get(field).and_then(Value::as_str).ok_or_else(|| {
        ApiError::Unprocessable(format!("Invalid request.\n\n\"{field}\" wasn't supplied."))
    })
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::RefMissing => ApiError::Unprocessable("Reference does not exist".to_string()),
        other => ApiError::Unprocessable(other.to_string()),
    }
}

/// A pull request as `GET pulls/{n}` answers it.
fn pull_json(world: &World, urls: &Urls, pull: &PullRecord) -> Value {
    let r = urls.repo();
    let n = pull.number;
    let web = format!("{WEB}/{OWNER}/{REPO_NAME}/pull/{n}");
    let (head_sha, base_sha) = world.pull_shas(pull);
    let mergeable = world.pull_mergeable(pull);
    let merged = pull.merged_at.is_some();
    let mergeable_state = match (merged, mergeable) {
        (true, _) => "unknown",
        (false, None) => "unknown",
        (false, Some(true)) => "clean",
        (false, Some(false)) => "dirty",
    };
    let (from, to) = (
        world.commit_position(&base_sha).unwrap_or(0),
        world.commit_position(&head_sha).unwrap_or(0),
    );
    let between = world.commits_between(from, to);
    let changed: std::collections::BTreeSet<&String> =
        between.iter().flat_map(|c| c.files.iter()).collect();
    let mut owner = user_json(urls, &org_actor());
    owner["type"] = json!("Organization");
    let side = |branch: &str, sha: &str| {
        json!({
            "label": format!("{OWNER}:{branch}"),
            "ref": branch,
            "sha": sha,
            "user": owner.clone(),
            "repo": full_repository_json(urls, world.topology.trunk()),
        })
    };
    let link = |href: String| json!({ "href": href });
    let mut body = json!({
        "url": format!("{r}/pulls/{n}"),
        "id": pull.id,
        "node_id": node_id("PR", pull.id),
        "html_url": web,
        "diff_url": format!("{web}.diff"),
        "patch_url": format!("{web}.patch"),
        "issue_url": format!("{r}/issues/{n}"),
        "commits_url": format!("{r}/pulls/{n}/commits"),
        "review_comments_url": format!("{r}/pulls/{n}/comments"),
        "review_comment_url": format!("{r}/pulls/comments{{/number}}"),
        "comments_url": format!("{r}/issues/{n}/comments"),
        "statuses_url": format!("{r}/statuses/{head_sha}"),
    });
    let state = json!({
        "number": n,
        "state": if merged { "closed" } else { "open" },
        "locked": false,
        "title": pull.title,
        "user": user_json(urls, &pull.author),
        "body": pull.body,
        "labels": world.labels_of(n).iter().map(|name| label_json(urls, name)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": time(pull.created_at),
        "updated_at": time(pull.merged_at.unwrap_or(pull.created_at)),
        "closed_at": pull.merged_at.map(time),
        "merged_at": pull.merged_at.map(time),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
    });
    let rest = json!({
        "head": side(&pull.head, &head_sha),
        "base": side(&pull.base, &base_sha),
        "_links": {
            "self": link(format!("{r}/pulls/{n}")),
            "html": link(web.clone()),
            "issue": link(format!("{r}/issues/{n}")),
            "comments": link(format!("{r}/issues/{n}/comments")),
            "review_comments": link(format!("{r}/pulls/{n}/comments")),
            "review_comment": link(format!("{r}/pulls/comments{{/number}}")),
            "commits": link(format!("{r}/pulls/{n}/commits")),
            "statuses": link(format!("{r}/statuses/{head_sha}")),
        },
        "author_association": "MEMBER",
        "auto_merge": null,
        "draft": false,
        "merged": merged,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mergeable_state,
        "merged_by": if merged { user_json(urls, &pull.author) } else { Value::Null },
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": between.len(),
        "additions": changed.len() * 12,
        "deletions": changed.len() * 4,
        "changed_files": changed.len(),
    });
    // Built in parts: one `json!` this size exceeds the macro recursion limit.
    for part in [state, rest] {
        if let (Value::Object(into), Value::Object(from)) = (&mut body, part) {
            into.extend(from);
        }
    }
    body
}

/// The repository with the fields a full `repository` object adds (pull request sides).
fn full_repository_json(urls: &Urls, default_branch: &str) -> Value {
    let mut body = repository_json(urls);
    let extra = json!({
        "clone_url": format!("{WEB}/{OWNER}/{REPO_NAME}.git"),
        "git_url": format!("git://github.com/{OWNER}/{REPO_NAME}.git"),
        "ssh_url": format!("git@github.com:{OWNER}/{REPO_NAME}.git"),
        "svn_url": format!("{WEB}/{OWNER}/{REPO_NAME}"),
        "mirror_url": null,
        "homepage": null,
        "language": "TypeScript",
        "default_branch": default_branch,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "size": 4_812,
        "has_downloads": true,
        "has_issues": true,
        "has_projects": false,
        "has_wiki": false,
        "has_pages": false,
        "archived": false,
        "disabled": false,
        "license": null,
        "pushed_at": "2026-11-20T09:58:00Z",
        "created_at": "2023-01-04T12:00:00Z",
        "updated_at": "2026-11-20T09:58:00Z",
    });
    if let (Value::Object(into), Value::Object(from)) = (&mut body, extra) {
        into.extend(from);
    }
    body
}

/// The reviews of a pull request: one approval by someone other than its author, a minute
/// after it opened.
fn reviews_json(world: &World, urls: &Urls, pull: &PullRecord) -> Value {
    let at = pull.created_at + chrono::TimeDelta::seconds(REVIEW_DELAY_SECS);
    if world.now < at {
        return json!([]);
    }
    let r = urls.repo();
    let n = pull.number;
    let id = pull.id + 7;
    let (head_sha, _) = world.pull_shas(pull);
    let web = format!("{WEB}/{OWNER}/{REPO_NAME}/pull/{n}#pullrequestreview-{id}");
    json!([{
        "id": id,
        "node_id": node_id("PRR", id),
        "user": user_json(urls, &pull.reviewer),
        "body": "Looks good to me.",
        "state": "APPROVED",
        "html_url": web,
        "pull_request_url": format!("{r}/pulls/{n}"),
        "_links": {
            "html": { "href": web },
            "pull_request": { "href": format!("{r}/pulls/{n}") },
        },
        "submitted_at": time(at),
        "commit_id": head_sha,
        "author_association": "MEMBER",
    }])
}

/// `GET compare/{base}...{head}` over the linear history.
fn compare(world: &World, urls: &Urls, spec: &str) -> Result<Answer, ApiError> {
    let (base, head) = spec.split_once("...").ok_or(ApiError::NotFound)?;
    let base = world.commit(base).ok_or(ApiError::NotFound)?;
    let head = world.commit(head).ok_or(ApiError::NotFound)?;
    let (base_at, head_at) = (
        world.commit_position(&base.sha).ok_or(ApiError::NotFound)?,
        world.commit_position(&head.sha).ok_or(ApiError::NotFound)?,
    );
    let (status, ahead_by, behind_by) = match head_at.cmp(&base_at) {
        std::cmp::Ordering::Equal => ("identical", 0, 0),
        std::cmp::Ordering::Greater => ("ahead", head_at - base_at, 0),
        std::cmp::Ordering::Less => ("behind", 0, base_at - head_at),
    };
    // Oldest first, as GitHub lists them; with linear history the merge base is the older.
    let between = world.commits_between(base_at, base_at + ahead_by);
    let mut files: Vec<Value> = Vec::new();
    for commit in &between {
        for (position, path) in commit.files.iter().enumerate() {
            let file = file_json(urls, &commit.sha, position, path);
            match files.iter_mut().find(|f| f["filename"] == path.as_str()) {
                Some(existing) => *existing = file,
                None => files.push(file),
            }
        }
    }
    files.truncate(300);
    let merge_base = if head_at < base_at { head } else { base };
    let r = urls.repo();
    let web = format!(
        "{WEB}/{OWNER}/{REPO_NAME}/compare/{}...{}",
        base.sha, head.sha
    );
    Ok(Answer::one(json!({
        "url": format!("{r}/compare/{spec}"),
        "html_url": web,
        "permalink_url": web,
        "diff_url": format!("{web}.diff"),
        "patch_url": format!("{web}.patch"),
        "base_commit": commit_json(urls, base, false),
        "merge_base_commit": commit_json(urls, merge_base, false),
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": between.len(),
        "commits": between.iter().map(|c| commit_json(urls, c, false)).collect::<Vec<_>>(),
        "files": files,
    })))
}

/// How long a signed log URL stays valid, in world time. GitHub's last about a minute;
/// longer here because tests run the world clock hundreds of times faster than the wall.
pub const BLOB_URL_LIFETIME_SECS: i64 = 600;

/// The signature of a log URL: a hash of the world's seed, the job and the expiry, so a URL
/// cannot be made up or stretched.
fn blob_signature(world: &World, job_id: u64, expires: i64) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"log-blob");
    hasher.update(world.scenario.seed.to_le_bytes());
    hasher.update(job_id.to_le_bytes());
    hasher.update(expires.to_le_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Why the blob store refused a log download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    /// No such blob (an unknown job, or a path that is not a job's log).
    NotFound,
    /// The signature is missing, wrong or expired.
    Forbidden,
}

/// `GET /_blobs/jobs/{id}/log?se=..&sig=..`: the log behind a signed URL, as far as it is
/// written now.
pub fn blob(world: &World, segments: &[&str], query: &Query) -> Result<String, BlobError> {
    let ["_blobs", "jobs", job_id, "log"] = segments else {
        return Err(BlobError::NotFound);
    };
    let job_id = parse_id(job_id).ok_or(BlobError::NotFound)?;
    let expires: i64 = query
        .get("se")
        .and_then(|text| text.parse().ok())
        .ok_or(BlobError::Forbidden)?;
    if query.get("sig") != Some(blob_signature(world, job_id, expires).as_str())
        || world.now.timestamp() > expires
    {
        return Err(BlobError::Forbidden);
    }
    let (run, job) = world.job(job_id).ok_or(BlobError::NotFound)?;
    Ok(job_log_until(
        run,
        job,
        world.commit(&run.head_sha),
        world.now,
    ))
}

/// One attempt of a run (`attempts/{n}`), as it stood then.
fn attempt_of(world: &World, run_id: &str, attempt: &str) -> Result<RunRecord, ApiError> {
    let run = parse_id(run_id).and_then(|id| world.run(id));
    let run = run.ok_or(ApiError::NotFound)?;
    let attempt = attempt.parse::<u32>().map_err(|_| ApiError::NotFound)?;
    run.at_attempt(attempt).ok_or(ApiError::NotFound)
}

/// A page of a run's jobs.
fn jobs_answer(
    urls: &Urls,
    run: &RunRecord,
    jobs: Vec<&JobRecord>,
    query: &Query,
    now: DateTime<Utc>,
) -> Answer {
    let total = jobs.len();
    let (jobs, page) = Page::slice(jobs, query);
    let items: Vec<Value> = jobs
        .into_iter()
        .map(|job| job_json(urls, run, job, now))
        .collect();
    Answer {
        status: StatusCode::OK,
        body: json!({ "total_count": total, "jobs": items }),
        page: Some(page),
        counts: true,
        location: None,
    }
}

/// The newest run of a commit, on any branch.
fn latest_run_of<'w>(world: &'w World, sha: &str, now: DateTime<Utc>) -> Option<&'w RunRecord> {
    world
        .runs
        .iter()
        .rev()
        .find(|run| run.head_sha == sha && run.created_at <= now && run.deploys_to.is_none())
}

/// `GET commits/{ref}/check-runs`: one check run per job of the commit's newest run.
fn check_runs_json(world: &World, urls: &Urls, sha: &str, now: DateTime<Utc>) -> Value {
    let r = urls.repo();
    let check_runs: Vec<Value> = latest_run_of(world, sha, now)
        .map(|run| {
            run.jobs
                .iter()
                .filter(|job| job.created_at <= now)
                .map(|job| {
                    let progress = job.progress(now);
                    let started = progress != Progress::Queued;
                    json!({
                        "id": job.id,
                        "node_id": node_id("CR", job.id),
                        "head_sha": sha,
                        "external_id": job.id.to_string(),
                        "name": job.name,
                        "url": format!("{r}/check-runs/{}", job.id),
                        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{}/job/{}", run.id, job.id),
                        "details_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{}/job/{}", run.id, job.id),
                        "status": progress.status(),
                        "conclusion": progress.conclusion(),
                        "started_at": started.then(|| time(job.started_at)),
                        "completed_at": progress.conclusion().map(|_| time(job.completed_at)),
                        "output": {
                            "title": null,
                            "summary": null,
                            "text": null,
                            "annotations_count": 0,
                            "annotations_url": format!("{r}/check-runs/{}/annotations", job.id),
                        },
                        "check_suite": { "id": run.id + 1 },
                        "app": actions_app_json(urls),
                        "pull_requests": [],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "total_count": check_runs.len(), "check_runs": check_runs })
}

fn actions_app_json(urls: &Urls) -> Value {
    let github = Actor {
        id: 9_919,
        login: "github".to_string(),
        name: "GitHub".to_string(),
        email: "noreply@github.com".to_string(),
        is_bot: false,
    };
    json!({
        "id": 15_368,
        "slug": "github-actions",
        "node_id": "MDM6QXBwMTUzNjg=",
        "owner": user_json(urls, &github),
        "name": "GitHub Actions",
        "description": "Automate your workflow from idea to production",
        "external_url": "https://help.github.com/en/actions",
        "html_url": "https://github.com/apps/github-actions",
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2024-04-10T20:33:16Z",
        "permissions": { "actions": "write", "checks": "write", "statuses": "write" },
        "events": ["check_run", "check_suite", "workflow_run"],
    })
}

/// `GET commits/{ref}/status`: one `ci` status context from the commit's newest run
/// (`pending` with no statuses when no run exists, as GitHub answers).
fn combined_status_json(world: &World, urls: &Urls, sha: &str, now: DateTime<Utc>) -> Value {
    let r = urls.repo();
    let run = latest_run_of(world, sha, now);
    let statuses: Vec<Value> = run
        .map(|run| {
            let (state, description) = match run.progress(now) {
                Progress::Completed(super::world::Outcome::Failure) => ("failure", "CI failed"),
                Progress::Completed(_) => ("success", "CI passed"),
                _ => ("pending", "CI is running"),
            };
            vec![json!({
                "url": format!("{r}/statuses/{sha}"),
                "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
                "id": run.id,
                "node_id": node_id("SC", run.id),
                "state": state,
                "description": description,
                "target_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{}", run.id),
                "context": "ci",
                "created_at": time(run.created_at),
                "updated_at": time(run.updated_at(now)),
            })]
        })
        .unwrap_or_default();
    let state = statuses
        .first()
        .and_then(|s| s["state"].as_str())
        .unwrap_or("pending")
        .to_string();
    json!({
        "state": state,
        "statuses": statuses,
        "sha": sha,
        "total_count": statuses.len(),
        "repository": repository_json(urls),
        "commit_url": format!("{r}/commits/{sha}"),
        "url": format!("{r}/commits/{sha}/status"),
    })
}

/// The workflow a run belongs to: (id, name, file).
fn workflow_of(run: &RunRecord) -> (u64, &'static str, &'static str) {
    match run.deploys_to {
        Some(_) => (
            DEPLOY_WORKFLOW_ID,
            DEPLOY_WORKFLOW_NAME,
            DEPLOY_WORKFLOW_FILE,
        ),
        None => (WORKFLOW_ID, WORKFLOW_NAME, WORKFLOW_FILE),
    }
}

fn is_our_workflow(workflow: &str) -> bool {
    workflow == WORKFLOW_FILE || workflow == WORKFLOW_ID.to_string()
}

fn parse_id(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn list_runs(
    world: &World,
    urls: &Urls,
    query: &Query,
    now: DateTime<Utc>,
    deploy_workflow: Option<bool>,
) -> Result<Answer, ApiError> {
    let branch = query.get("branch");
    let head_sha = query.get("head_sha");
    let event = query.get("event");
    let status = query.get("status");
    let runs: Vec<&RunRecord> = world
        .runs
        .iter()
        .rev()
        .filter(|run| run.created_at <= now)
        .filter(|run| deploy_workflow.is_none_or(|deploy| run.deploys_to.is_some() == deploy))
        .filter(|run| branch.is_none_or(|b| run.branch == b))
        .filter(|run| head_sha.is_none_or(|s| run.head_sha == s))
        .filter(|run| event.is_none_or(|e| run.event == e))
        .filter(|run| status.is_none_or(|s| run_matches_status(run.progress(now), s)))
        .collect();
    let total = runs.len();
    // Build JSON for the requested page only: the run list grows all day in the demo.
    let (runs, page) = Page::slice(runs, query);
    let items: Vec<Value> = runs
        .into_iter()
        .map(|run| run_json(world, urls, run, now))
        .collect();
    Ok(Answer {
        status: axum::http::StatusCode::OK,
        body: json!({ "total_count": total, "workflow_runs": items }),
        page: Some(page),
        counts: true,
        location: None,
    })
}

/// GitHub's `status` filter accepts a status or a conclusion.
fn run_matches_status(progress: Progress, wanted: &str) -> bool {
    progress.status() == wanted || progress.conclusion() == Some(wanted)
}

/// Builds the URLs the JSON carries, rooted at the API address the client used.
struct Urls<'a> {
    api: &'a str,
}

impl Urls<'_> {
    fn repo(&self) -> String {
        format!("{}/repos/{OWNER}/{REPO_NAME}", self.api)
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn node_id(kind: &str, id: u64) -> String {
    // GitHub's node ids are opaque; a stable, readable stand-in does the job.
    format!("{kind}_kwDO{id:X}")
}

fn user_json(urls: &Urls, actor: &Actor) -> Value {
    // Bot logins carry brackets, which GitHub percent-encodes in URLs.
    let login_in_url = actor.login.replace('[', "%5B").replace(']', "%5D");
    let api = format!("{}/users/{login_in_url}", urls.api);
    json!({
        "login": actor.login,
        "id": actor.id,
        "node_id": node_id("U", actor.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", actor.id),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{WEB}/{login_in_url}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if actor.is_bot { "Bot" } else { "User" },
        "site_admin": false,
    })
}

fn org_actor() -> Actor {
    Actor {
        id: 91_730_412,
        login: OWNER.to_string(),
        name: "Acme".to_string(),
        email: String::new(),
        is_bot: false,
    }
}

/// The minimal repository object of workflow runs.
fn repository_json(urls: &Urls) -> Value {
    let r = urls.repo();
    let mut owner = user_json(urls, &org_actor());
    owner["type"] = json!("Organization");
    let mut body = json!({
        "id": 583_114_926,
        "node_id": "R_kgDOIsHmrg",
        "name": REPO_NAME,
        "full_name": format!("{OWNER}/{REPO_NAME}"),
        "owner": owner,
        "private": true,
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}"),
        "description": "Acme's online shop",
        "fork": false,
        "url": r,
    });
    let templates = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (key, suffix) in templates {
        body[key] = json!(format!("{r}{suffix}"));
    }
    body
}

fn git_person(actor: &Actor, at: DateTime<Utc>) -> Value {
    json!({ "name": actor.name, "email": actor.email, "date": time(at) })
}

/// A commit as `GET /repos/{o}/{r}/commits/{ref}` returns it; `detailed` adds stats and files.
fn commit_json(urls: &Urls, commit: &CommitRecord, detailed: bool) -> Value {
    let r = urls.repo();
    let sha = &commit.sha;
    let parents: Vec<Value> = commit
        .parent
        .iter()
        .map(|p| {
            json!({
                "sha": p,
                "url": format!("{r}/commits/{p}"),
                "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/commit/{p}"),
            })
        })
        .collect();
    let mut body = json!({
        "url": format!("{r}/commits/{sha}"),
        "sha": sha,
        "node_id": format!("C_kwDOIsHmrto{}", &sha[..20.min(sha.len())]),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/commit/{sha}"),
        "comments_url": format!("{r}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{r}/git/commits/{sha}"),
            "author": git_person(&commit.author, commit.time),
            "committer": {
                "name": "GitHub",
                "email": "noreply@github.com",
                "date": time(commit.time),
            },
            "message": commit.message,
            "tree": {
                "url": format!("{r}/git/trees/{}", commit.tree_sha),
                "sha": commit.tree_sha,
            },
            "comment_count": 0,
            "verification": {
                "verified": false,
                "reason": "unsigned",
                "signature": null,
                "payload": null,
                "verified_at": null,
            },
        },
        "author": user_json(urls, &commit.author),
        "committer": user_json(urls, &commit.author),
        "parents": parents,
    });
    if detailed {
        let files: Vec<Value> = commit
            .files
            .iter()
            .enumerate()
            .map(|(i, path)| file_json(urls, sha, i, path))
            .collect();
        let additions: u64 = files.iter().filter_map(|f| f["additions"].as_u64()).sum();
        let deletions: u64 = files.iter().filter_map(|f| f["deletions"].as_u64()).sum();
        body["stats"] = json!({
            "additions": additions,
            "deletions": deletions,
            "total": additions + deletions,
        });
        body["files"] = Value::Array(files);
    }
    body
}

/// One changed file of a commit, as in commit and compare answers.
fn file_json(urls: &Urls, sha: &str, position: usize, path: &str) -> Value {
    let r = urls.repo();
    let additions = 3 + (sha.len() + position * 7) % 40;
    let status = if path.starts_with("migrations/") {
        "added"
    } else {
        "modified"
    };
    json!({
        "sha": format!("{:0>40}", format!("{position}{}", &sha[..10.min(sha.len())])),
        "filename": path,
        "status": status,
        "additions": additions,
        "deletions": additions / 3,
        "changes": additions + additions / 3,
        "blob_url": format!("{WEB}/{OWNER}/{REPO_NAME}/blob/{sha}/{path}"),
        "raw_url": format!("{WEB}/{OWNER}/{REPO_NAME}/raw/{sha}/{path}"),
        "contents_url": format!("{r}/contents/{path}?ref={sha}"),
        "patch": "@@ -1,3 +1,4 @@",
    })
}

fn branch_json(urls: &Urls, name: &str, commit: &CommitRecord, protected: bool) -> Value {
    let r = urls.repo();
    json!({
        "name": name,
        "commit": commit_json(urls, commit, false),
        "_links": {
            "html": format!("{WEB}/{OWNER}/{REPO_NAME}/tree/{name}"),
            "self": format!("{r}/branches/{name}"),
        },
        "protected": protected,
        "protection": {
            "enabled": protected,
            "required_status_checks": {
                "enforcement_level": if protected { "non_admins" } else { "off" },
                "contexts": [],
                "checks": [],
            },
        },
        "protection_url": format!("{r}/branches/{name}/protection"),
    })
}

/// A ref by its full name (`refs/heads/main`, `refs/shipdeck/locks/prod`).
/// `kind` is the object's type: `commit`, or `tag` for an annotated tag object.
fn ref_json(urls: &Urls, full_ref: &str, sha: &str, kind: &str) -> Value {
    let r = urls.repo();
    json!({
        "ref": full_ref,
        "node_id": format!("REF_kwDOIsHmrq{}", full_ref.len()),
        "url": format!("{r}/{}", full_ref.replacen("refs/", "git/refs/", 1)),
        "object": {
            "type": kind,
            "sha": sha,
            "url": format!("{r}/git/{kind}s/{sha}"),
        },
    })
}

/// A tag object as `POST git/tags` and `GET git/tags/{sha}` answer it.
fn tag_json(urls: &Urls, tag: &TagRecord) -> Value {
    let r = urls.repo();
    json!({
        "node_id": format!("TAG_kwDOIsHmrq{}", &tag.sha[..8]),
        "sha": tag.sha,
        "url": format!("{r}/git/tags/{}", tag.sha),
        "tag": tag.tag,
        "message": tag.message,
        "tagger": {
            "name": tag.tagger_name,
            "email": tag.tagger_email,
            "date": time(tag.tagger_date),
        },
        "object": {
            "type": "commit",
            "sha": tag.object_sha,
            "url": format!("{r}/git/commits/{}", tag.object_sha),
        },
        "verification": {
            "verified": false,
            "reason": "unsigned",
            "signature": null,
            "payload": null,
            "verified_at": null,
        },
    })
}

fn workflow_json(urls: &Urls, created: DateTime<Utc>) -> Value {
    let r = urls.repo();
    let created = created - chrono::TimeDelta::days(200);
    json!({
        "id": WORKFLOW_ID,
        "node_id": node_id("W", WORKFLOW_ID),
        "name": WORKFLOW_NAME,
        "path": format!(".github/workflows/{WORKFLOW_FILE}"),
        "state": "active",
        "created_at": time(created),
        "updated_at": time(created),
        "url": format!("{r}/actions/workflows/{WORKFLOW_ID}"),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/blob/main/.github/workflows/{WORKFLOW_FILE}"),
        "badge_url": format!("{WEB}/{OWNER}/{REPO_NAME}/workflows/{WORKFLOW_NAME}/badge.svg"),
    })
}

fn run_json(world: &World, urls: &Urls, run: &RunRecord, now: DateTime<Utc>) -> Value {
    let r = urls.repo();
    let id = run.id;
    let progress = run.progress(now);
    let commit = world.commit(&run.head_sha);
    let (message, author, commit_time, tree) = match commit {
        Some(c) => (
            c.message.clone(),
            c.author.clone(),
            c.time,
            c.tree_sha.clone(),
        ),
        None => (
            String::new(),
            run.actor.clone(),
            run.created_at,
            String::new(),
        ),
    };
    let repository = repository_json(urls);
    let (workflow_id, workflow_name, workflow_file) = workflow_of(run);
    json!({
        "id": id,
        "name": workflow_name,
        "node_id": node_id("WFR", id),
        "check_suite_id": id + 11_000_000_000,
        "check_suite_node_id": node_id("CS", id + 11_000_000_000),
        "head_branch": run.branch,
        "head_sha": run.head_sha,
        "path": format!(".github/workflows/{workflow_file}"),
        "run_number": run.run_number,
        "event": run.event,
        "display_title": message.lines().next().unwrap_or(""),
        "status": progress.status(),
        "conclusion": progress.conclusion(),
        "workflow_id": workflow_id,
        "url": format!("{r}/actions/runs/{id}"),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{id}"),
        "pull_requests": [],
        "created_at": time(run.created_at),
        "updated_at": time(run.updated_at(now)),
        "actor": user_json(urls, &run.actor),
        "triggering_actor": user_json(urls, &run.actor),
        "run_attempt": run.run_attempt,
        "referenced_workflows": [],
        "run_started_at": time(run.attempt_started_at()),
        "jobs_url": format!("{r}/actions/runs/{id}/jobs"),
        "logs_url": format!("{r}/actions/runs/{id}/logs"),
        "check_suite_url": format!("{r}/check-suites/{}", id + 11_000_000_000),
        "artifacts_url": format!("{r}/actions/runs/{id}/artifacts"),
        "cancel_url": format!("{r}/actions/runs/{id}/cancel"),
        "rerun_url": format!("{r}/actions/runs/{id}/rerun"),
        "previous_attempt_url": (run.run_attempt > 1)
            .then(|| format!("{r}/actions/runs/{id}/attempts/{}", run.run_attempt - 1)),
        "workflow_url": format!("{r}/actions/workflows/{workflow_id}"),
        "head_commit": {
            "id": run.head_sha,
            "tree_id": tree,
            "message": message,
            "timestamp": time(commit_time),
            "author": { "name": author.name, "email": author.email },
            "committer": { "name": "GitHub", "email": "noreply@github.com" },
        },
        "repository": repository.clone(),
        "head_repository": repository,
    })
}

fn job_json(urls: &Urls, run: &RunRecord, job: &JobRecord, now: DateTime<Utc>) -> Value {
    let r = urls.repo();
    let progress = job.progress(now);
    let steps: Vec<Value> = job
        .steps
        .iter()
        .map(|step| {
            let p = step.progress(now);
            json!({
                "name": step.name,
                "status": p.status(),
                "conclusion": p.conclusion(),
                "number": step.number,
                "started_at": (p != Progress::Queued).then(|| time(step.started_at)),
                "completed_at": matches!(p, Progress::Completed(_)).then(|| time(step.completed_at)),
            })
        })
        .collect();
    let started = progress != Progress::Queued;
    let runner = (started && job.runner_id > 0).then_some(job.runner_id);
    json!({
        "id": job.id,
        "run_id": run.id,
        "run_url": format!("{r}/actions/runs/{}", run.id),
        // The attempt the job ran in: a job carried over by a re-run keeps its own.
        "run_attempt": job.run_attempt,
        "node_id": node_id("CR", job.id),
        "head_sha": run.head_sha,
        "url": format!("{r}/actions/jobs/{}", job.id),
        "html_url": format!("{WEB}/{OWNER}/{REPO_NAME}/actions/runs/{}/job/{}", run.id, job.id),
        "status": progress.status(),
        "conclusion": progress.conclusion(),
        "created_at": time(job.created_at),
        // GitHub reports a start time even for a queued job: when it was queued.
        "started_at": time(if started { job.started_at } else { job.created_at }),
        "completed_at": matches!(progress, Progress::Completed(_)).then(|| time(job.completed_at)),
        "name": job.name,
        "steps": if started { steps } else { Vec::new() },
        "check_run_url": format!("{r}/check-runs/{}", job.id),
        "labels": ["ubuntu-latest"],
        "runner_id": runner,
        "runner_name": runner.map(|id| format!("GitHub Actions {id}")),
        "runner_group_id": runner.map(|_| 2),
        "runner_group_name": runner.map(|_| "GitHub Actions"),
        "workflow_name": workflow_of(run).1,
        "head_branch": run.branch,
    })
}

fn deployment_json(urls: &Urls, deployment: &DeploymentRecord) -> Value {
    let r = urls.repo();
    let id = deployment.id;
    json!({
        "url": format!("{r}/deployments/{id}"),
        "id": id,
        "node_id": node_id("DE", id),
        "sha": deployment.sha,
        "ref": deployment.git_ref,
        "task": "deploy",
        "payload": serde_json::from_str::<Value>(&deployment.payload).unwrap_or_else(|_| json!({})),
        "original_environment": deployment.environment,
        "environment": deployment.environment,
        "description": deployment.description,
        "creator": user_json(urls, &deployment.creator),
        "created_at": time(deployment.created_at),
        "updated_at": time(deployment.updated_at()),
        "statuses_url": format!("{r}/deployments/{id}/statuses"),
        "repository_url": r,
        "transient_environment": false,
        "production_environment": deployment.production,
    })
}

fn deployment_status_json(
    urls: &Urls,
    deployment: &DeploymentRecord,
    status: &DeploymentStatusRecord,
) -> Value {
    let r = urls.repo();
    let log_url = format!(
        "{WEB}/{OWNER}/{REPO_NAME}/deployments/{}",
        deployment.environment
    );
    json!({
        "url": format!("{r}/deployments/{}/statuses/{}", deployment.id, status.id),
        "id": status.id,
        "node_id": node_id("DES", status.id),
        "state": status.state.as_str(),
        "creator": user_json(urls, &deployment.creator),
        "description": status.description,
        "environment": deployment.environment,
        "target_url": log_url,
        "created_at": time(status.created_at),
        "updated_at": time(status.created_at),
        "deployment_url": format!("{r}/deployments/{}", deployment.id),
        "repository_url": r,
        "environment_url": format!("https://{}.shop.acme.example", deployment.environment),
        "log_url": log_url,
    })
}

fn rate_limit_json(world: &World) -> Value {
    let rate = &world.rate_limit;
    let core = json!({
        "limit": rate.limit,
        "used": rate.used,
        "remaining": rate.remaining(),
        "reset": rate.reset_at.timestamp(),
    });
    let search_reset = world.now.timestamp() + 60;
    json!({
        "resources": {
            "core": core,
            "search": { "limit": 30, "used": 0, "remaining": 30, "reset": search_reset },
            "graphql": { "limit": 5000, "used": 0, "remaining": 5000, "reset": rate.reset_at.timestamp() },
        },
        "rate": core,
    })
}
