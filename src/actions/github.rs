//! The write side's GitHub client, over octocrab, for one repository and one token: branch
//! moves, refs, tag objects (the cross-instance lock), deployments and their statuses, pull
//! requests and workflow dispatches, plus the fresh reads the engine makes before it retries
//! a write that may or may not have landed.
//!
//! Like the read client it sends raw requests with our own serde types and turns off
//! octocrab's automatic retry: replaying a write blindly could apply it twice, so every
//! failure is handed back as a [`WriteError`] the engine branches on. Reads here never use an
//! ETag cache: a decision to retry must see GitHub's state as it is now. Issue filing is the
//! exception to raw requests: octocrab's typed issue calls fit GitHub's issue JSON, and the
//! filing reads the open issues first, so calling it again after an unclear failure never
//! files a duplicate.
//!
//! Fields of the returned records are GitHub's raw values (shas, refs, the lock tag's
//! message, so the engine can parse them); callers wrap them in `SafeText` before showing
//! them. Error messages are sanitized here and never carry the token.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::{MergeMethod, Secret};
use crate::model::sanitize;
use crate::sources::SourceError;
use crate::sources::github::{encode, encode_path, error_message, rate_limited, short};
use crate::sources::is_safe_api_url;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// GitHub's page size cap.
const MAX_PER_PAGE: usize = 100;
const MESSAGE_CHARS: usize = 200;
/// How many open issues [`GithubWriter::file_issue_once`] reads looking for a duplicate.
pub const MAX_ISSUES_SEARCHED: usize = 500;

/// Why a GitHub write (or a read made for one) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No answer in time: the write may or may not have been applied.
    #[error("GitHub did not answer in time; the change may or may not have been applied")]
    Timeout,
    /// The exchange broke before an answer came (connection refused, reset, ...).
    #[error("cannot reach GitHub: {0}")]
    Transport(String),
    /// A 5xx: not applied as far as we know, but read GitHub's state before retrying.
    #[error("GitHub answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("GitHub rate limit reached{}", describe_wait(*.reset, *.retry_after))]
    RateLimited {
        reset: Option<DateTime<Utc>>,
        retry_after: Option<Duration>,
    },
    /// The branch is not an ancestor of the new commit (and the move was not forced).
    #[error("the branch update is not a fast-forward")]
    NotFastForward,
    #[error("the reference already exists")]
    RefExists,
    /// 405 on merge: GitHub will not merge the pull request (checks, reviews, conflicts).
    #[error("the pull request cannot be merged: {0}")]
    NotMergeable(String),
    /// 409 on merge: the head is no longer the commit that was approved.
    #[error("the pull request's head moved: {0}")]
    HeadMoved(String),
    /// Any other 409, e.g. a deployment whose required status checks did not pass.
    #[error("GitHub refused the change (conflict): {0}")]
    Conflict(String),
    /// Any other refusal (4xx, or a 202 deployment that was not created).
    #[error("GitHub refused the change ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("unexpected answer from GitHub: {0}")]
    Decode(String),
    /// The client could not be built (bad URL or repository name).
    #[error("{0}")]
    Setup(String),
}

impl WriteError {
    /// Whether the write may have been applied despite the error: read before retrying.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            WriteError::Timeout | WriteError::Transport(_) | WriteError::Server { .. }
        )
    }
}

fn describe_wait(reset: Option<DateTime<Utc>>, retry_after: Option<Duration>) -> String {
    match (retry_after, reset) {
        (Some(wait), _) => format!("; retry after {}s", wait.as_secs()),
        (None, Some(reset)) => format!("; resets at {}", reset.format("%H:%M:%S UTC")),
        (None, None) => String::new(),
    }
}

/// Who made a git tag object, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagger {
    pub name: String,
    pub email: String,
    pub date: DateTime<Utc>,
}

/// A deployment to create. `auto_merge` is always sent false.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeployment {
    pub sha: String,
    pub environment: String,
    pub description: String,
    /// A JSON object.
    pub payload: Value,
    pub production_environment: bool,
    /// Status contexts that must have passed; empty: none.
    pub required_contexts: Vec<String>,
}

/// What a ref points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTarget {
    pub sha: String,
    /// `commit` or `tag`.
    pub object_type: String,
}

/// A git tag object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub sha: String,
    pub tag: String,
    pub message: String,
    pub tagger: Tagger,
    pub object_sha: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentInfo {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    pub payload: Value,
    /// The creator's login.
    pub creator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    /// `None` while GitHub is still computing it.
    pub mergeable: Option<bool>,
    pub head_sha: String,
    pub base_ref: String,
    pub head_ref: String,
    pub author: Option<String>,
    pub html_url: String,
}

/// The issue [`GithubWriter::file_issue_once`] filed or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledIssue {
    pub number: u64,
    /// The issue's page on GitHub.
    pub url: String,
    /// `false` when an open issue with the same title already existed.
    pub created: bool,
    /// The issue's body as GitHub holds it (someone may have edited it).
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub head_sha: String,
    pub head_branch: String,
    pub event: String,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
}

/// A GitHub client allowed to write, for one repository and one token.
pub struct GithubWriter {
    octocrab: Octocrab,
    owner: String,
    /// The repository's name without its owner, for octocrab's typed calls.
    name: String,
    repo_path: String,
    timeout: Duration,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    /// GitHub's message plus the `errors[].message` details (where "No commits between ..."
    /// and similar explanations live), sanitized.
    fn message(&self) -> String {
        let details: Vec<String> = serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("errors").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let base = error_message(&self.body);
        if details.is_empty() {
            base
        } else {
            sanitize(&format!("{base}: {}", details.join("; ")), MESSAGE_CHARS)
        }
    }

    fn says(&self, phrase: &str) -> bool {
        self.message()
            .to_ascii_lowercase()
            .contains(&phrase.to_ascii_lowercase())
    }

    fn decode<T: DeserializeOwned>(&self) -> Result<T, WriteError> {
        serde_json::from_str(&self.body)
            .map_err(|e| WriteError::Decode(sanitize(&e.to_string(), MESSAGE_CHARS)))
    }

    /// The error for an answer that is not a success, before any endpoint-specific meaning.
    fn failure(&self) -> WriteError {
        if let Some(SourceError::RateLimited {
            reset, retry_after, ..
        }) = rate_limited(self.status, &self.headers)
        {
            return WriteError::RateLimited { reset, retry_after };
        }
        let status = self.status.as_u16();
        let message = self.message();
        match self.status {
            s if s.is_server_error() => WriteError::Server { status, message },
            StatusCode::CONFLICT => WriteError::Conflict(message),
            _ => WriteError::Rejected { status, message },
        }
    }

    /// `Ok(())` for a 2xx, else [`Reply::failure`].
    fn success(&self) -> Result<(), WriteError> {
        if self.status.is_success() {
            Ok(())
        } else {
            Err(self.failure())
        }
    }
}

impl GithubWriter {
    /// `api_url` is the REST root (https, or plain http to a loopback sandbox); `repo` is
    /// `owner/name`; `timeout` bounds each exchange (no answer by then is
    /// [`WriteError::Timeout`]).
    pub fn new(
        api_url: &str,
        repo: &str,
        token: &Secret,
        timeout: Duration,
    ) -> Result<Self, WriteError> {
        if !is_safe_api_url(api_url) {
            return Err(WriteError::Setup(format!(
                "refusing GitHub API URL {:?}: use https (plain http only to a loopback address)",
                sanitize(api_url, 100)
            )));
        }
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(WriteError::Setup(format!(
                "GitHub repository {:?} is not owner/name",
                sanitize(repo, 100)
            )));
        };
        let octocrab = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|_| WriteError::Setup("GitHub API URL is not a valid URI".to_string()))?
            // A replayed write could apply twice; the engine decides after reading.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(CONNECT_TIMEOUT.min(timeout)))
            .set_read_timeout(Some(timeout))
            .personal_token(token.expose().to_string())
            .build()
            .map_err(|e| {
                WriteError::Setup(format!("cannot build the GitHub client: {}", short(&e)))
            })?;
        Ok(Self {
            octocrab,
            owner: owner.to_string(),
            name: name.to_string(),
            repo_path: format!("/repos/{}/{}", encode(owner), encode(name)),
            timeout,
        })
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, WriteError> {
        let uri = format!("{}{path}", self.repo_path);
        let work = async {
            let response = match method {
                Method::GET => {
                    let mut headers = HeaderMap::new();
                    headers.insert(
                        http::header::ACCEPT,
                        HeaderValue::from_static("application/vnd.github+json"),
                    );
                    headers.insert(
                        "x-github-api-version",
                        HeaderValue::from_static("2022-11-28"),
                    );
                    self.octocrab
                        ._get_with_headers(uri.as_str(), Some(headers))
                        .await
                }
                Method::POST => self.octocrab._post(uri.as_str(), body).await,
                Method::PATCH => self.octocrab._patch(uri.as_str(), body).await,
                Method::PUT => self.octocrab._put(uri.as_str(), body).await,
                _ => self.octocrab._delete(uri.as_str(), body).await,
            }
            .map_err(|e| transport_error(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = self
                .octocrab
                .body_to_string(response)
                .await
                .map_err(|e| transport_error(&e))?;
            Ok(Reply {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| WriteError::Timeout)?
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, WriteError> {
        let reply = self.exchange(Method::GET, path, None).await?;
        reply.success()?;
        reply.decode()
    }

    // ---- writes ----

    /// Moves `branch` to `sha`; without `force` only a fast-forward.
    pub async fn update_branch(
        &self,
        branch: &str,
        sha: &str,
        force: bool,
    ) -> Result<(), WriteError> {
        let reply = self
            .exchange(
                Method::PATCH,
                &format!("/git/refs/heads/{}", encode_path(branch)),
                Some(&json!({ "sha": sha, "force": force })),
            )
            .await?;
        if reply.status == StatusCode::UNPROCESSABLE_ENTITY && reply.says("not a fast forward") {
            return Err(WriteError::NotFastForward);
        }
        reply.success()
    }

    /// Creates `full_ref` (`refs/...`) at `sha` (a commit or a tag object); atomic: a second
    /// create of the same ref is [`WriteError::RefExists`].
    pub async fn create_ref(&self, full_ref: &str, sha: &str) -> Result<(), WriteError> {
        let reply = self
            .exchange(
                Method::POST,
                "/git/refs",
                Some(&json!({ "ref": full_ref, "sha": sha })),
            )
            .await?;
        if reply.status == StatusCode::UNPROCESSABLE_ENTITY && reply.says("already exists") {
            return Err(WriteError::RefExists);
        }
        reply.success()
    }

    /// Deletes `full_ref`: `Ok(true)` when deleted, `Ok(false)` when it did not exist.
    pub async fn delete_ref(&self, full_ref: &str) -> Result<bool, WriteError> {
        let name = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        let reply = self
            .exchange(
                Method::DELETE,
                &format!("/git/refs/{}", encode_path(name)),
                None,
            )
            .await?;
        let missing = reply.status == StatusCode::NOT_FOUND
            || (reply.status == StatusCode::UNPROCESSABLE_ENTITY && reply.says("does not exist"));
        if missing {
            return Ok(false);
        }
        reply.success()?;
        Ok(true)
    }

    /// Creates an annotated tag object pointing at commit `object_sha`; returns its sha (the
    /// object still needs a ref to be reachable).
    pub async fn create_tag(
        &self,
        tag: &str,
        message: &str,
        object_sha: &str,
        tagger: &Tagger,
    ) -> Result<String, WriteError> {
        let reply = self
            .exchange(
                Method::POST,
                "/git/tags",
                Some(&json!({
                    "tag": tag,
                    "message": message,
                    "object": object_sha,
                    "type": "commit",
                    "tagger": {
                        "name": tagger.name,
                        "email": tagger.email,
                        "date": tagger.date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    },
                })),
            )
            .await?;
        reply.success()?;
        Ok(reply.decode::<WireSha>()?.sha)
    }

    /// Creates a deployment record; returns its id. `auto_merge` is always false: GitHub's
    /// default would merge the default branch into a branch that is behind it.
    pub async fn create_deployment(&self, request: &NewDeployment) -> Result<u64, WriteError> {
        let reply = self
            .exchange(
                Method::POST,
                "/deployments",
                Some(&json!({
                    "ref": request.sha,
                    "environment": request.environment,
                    "description": request.description,
                    "payload": request.payload,
                    "production_environment": request.production_environment,
                    "transient_environment": false,
                    "required_contexts": request.required_contexts,
                    "auto_merge": false,
                })),
            )
            .await?;
        match reply.status {
            StatusCode::CREATED => Ok(reply.decode::<WireId>()?.id),
            StatusCode::ACCEPTED => Err(WriteError::Rejected {
                status: 202,
                message: format!(
                    "no deployment was created: GitHub answered with an auto-merge ({})",
                    reply.message()
                ),
            }),
            _ => {
                reply.success()?;
                Err(WriteError::Decode(format!(
                    "deployment answered {} instead of 201",
                    reply.status.as_u16()
                )))
            }
        }
    }

    /// Adds a status (`queued`, `in_progress`, `success`, `failure`, `error`, `inactive`) to
    /// a deployment; `auto_inactive` lets GitHub retire the environment's earlier successes.
    pub async fn set_deployment_status(
        &self,
        id: u64,
        state: &str,
        description: &str,
        log_url: Option<&str>,
        environment_url: Option<&str>,
        auto_inactive: bool,
    ) -> Result<(), WriteError> {
        let mut body = json!({
            "state": state,
            "description": description,
            "auto_inactive": auto_inactive,
        });
        if let Some(url) = log_url {
            body["log_url"] = json!(url);
        }
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        let reply = self
            .exchange(
                Method::POST,
                &format!("/deployments/{id}/statuses"),
                Some(&body),
            )
            .await?;
        reply.success()
    }

    /// Opens a pull request from `head` into `base`.
    pub async fn create_pull(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullInfo, WriteError> {
        let reply = self
            .exchange(
                Method::POST,
                "/pulls",
                Some(&json!({ "head": head, "base": base, "title": title, "body": body })),
            )
            .await?;
        reply.success()?;
        Ok(reply.decode::<WirePull>()?.into_info())
    }

    /// Merges pull request `number` if its head is still `expected_head_sha`; returns the
    /// merge commit's sha.
    pub async fn merge_pull(
        &self,
        number: u64,
        expected_head_sha: &str,
        method: MergeMethod,
    ) -> Result<String, WriteError> {
        let reply = self
            .exchange(
                Method::PUT,
                &format!("/pulls/{number}/merge"),
                Some(&json!({ "sha": expected_head_sha, "merge_method": method })),
            )
            .await?;
        match reply.status {
            StatusCode::METHOD_NOT_ALLOWED => Err(WriteError::NotMergeable(reply.message())),
            StatusCode::CONFLICT => Err(WriteError::HeadMoved(reply.message())),
            _ => {
                reply.success()?;
                Ok(reply.decode::<WireSha>()?.sha)
            }
        }
    }

    /// Dispatches `workflow_file` on `git_ref`; the run's id when GitHub returns it (older
    /// GitHub versions answer 204 without it).
    pub async fn dispatch_workflow(
        &self,
        workflow_file: &str,
        git_ref: &str,
        inputs: &BTreeMap<String, String>,
    ) -> Result<Option<u64>, WriteError> {
        let reply = self
            .exchange(
                Method::POST,
                &format!("/actions/workflows/{}/dispatches", encode(workflow_file)),
                Some(&json!({
                    "ref": git_ref,
                    "inputs": inputs,
                    "return_run_details": true,
                })),
            )
            .await?;
        reply.success()?;
        if reply.status == StatusCode::NO_CONTENT || reply.body.trim().is_empty() {
            return Ok(None);
        }
        Ok(reply.decode::<WireDispatch>()?.workflow_run_id)
    }

    /// Re-runs the failed jobs of workflow run `run_id` (and the jobs that depend on them)
    /// as a new attempt of the same run.
    pub async fn rerun_failed_jobs(&self, run_id: u64) -> Result<(), WriteError> {
        let workflows = self.octocrab.workflows(&self.owner, &self.name);
        self.typed(workflows.rerun_failed_jobs(run_id.into())).await
    }

    /// Files an issue unless an open one with the same title exists (the caller puts what
    /// makes it unique, e.g. the SHA and the reason, in the title). Open issues carrying the
    /// first of `labels` are searched, newest first, up to [`MAX_ISSUES_SEARCHED`]. After an
    /// ambiguous failure ([`WriteError::is_ambiguous`]) calling it again is safe: an issue
    /// that was filed after all is found, not filed twice.
    pub async fn file_issue_once(
        &self,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<FiledIssue, WriteError> {
        if let Some(existing) = self.open_issue_titled(title, labels.first()).await? {
            return Ok(existing);
        }
        let issues = self.octocrab.issues(&self.owner, &self.name);
        let issue = self
            .typed(
                issues
                    .create(title)
                    .body(body)
                    .labels(labels.to_vec())
                    .send(),
            )
            .await?;
        Ok(FiledIssue {
            number: issue.number,
            url: issue.html_url.to_string(),
            created: true,
            body: issue.body,
        })
    }

    /// Adds a comment to issue `number`.
    pub async fn comment_on_issue(&self, number: u64, body: &str) -> Result<(), WriteError> {
        let issues = self.octocrab.issues(&self.owner, &self.name);
        self.typed(issues.create_comment(number, body)).await?;
        Ok(())
    }

    /// Closes issue `number` (closing a closed one changes nothing).
    pub async fn close_issue(&self, number: u64) -> Result<(), WriteError> {
        let issues = self.octocrab.issues(&self.owner, &self.name);
        self.typed(
            issues
                .update(number)
                .state(octocrab::models::IssueState::Closed)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// The newest open issue (not pull request) titled `title`, among those with `label`.
    pub async fn open_issue_titled(
        &self,
        title: &str,
        label: Option<&String>,
    ) -> Result<Option<FiledIssue>, WriteError> {
        let issues = self.octocrab.issues(&self.owner, &self.name);
        let mut list = issues
            .list()
            .state(octocrab::params::State::Open)
            .sort(octocrab::params::issues::Sort::Created)
            .direction(octocrab::params::Direction::Descending)
            .per_page(MAX_PER_PAGE as u8);
        if let Some(label) = label {
            list = list.labels(std::slice::from_ref(label));
        }
        let mut page = self.typed(list.send()).await?;
        let mut seen = 0;
        loop {
            seen += page.items.len();
            let found = page
                .items
                .iter()
                .find(|issue| issue.pull_request.is_none() && issue.title.trim() == title.trim());
            if let Some(issue) = found {
                return Ok(Some(FiledIssue {
                    number: issue.number,
                    url: issue.html_url.to_string(),
                    created: false,
                    body: issue.body.clone(),
                }));
            }
            if seen >= MAX_ISSUES_SEARCHED || page.next.is_none() {
                return Ok(None);
            }
            match self.typed(self.octocrab.get_page(&page.next)).await? {
                Some(next) => page = next,
                None => return Ok(None),
            }
        }
    }

    /// A typed octocrab call, bounded by the exchange timeout.
    async fn typed<T>(
        &self,
        call: impl std::future::Future<Output = octocrab::Result<T>>,
    ) -> Result<T, WriteError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| WriteError::Timeout)?
            .map_err(|e| typed_error(&e))
    }

    // ---- fresh reads ----

    /// What `full_ref` points at, or `None` when it does not exist.
    pub async fn ref_target(&self, full_ref: &str) -> Result<Option<RefTarget>, WriteError> {
        let name = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        let reply = self
            .exchange(
                Method::GET,
                &format!("/git/ref/{}", encode_path(name)),
                None,
            )
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        reply.success()?;
        let wire: WireRef = reply.decode()?;
        Ok(Some(RefTarget {
            sha: wire.object.sha,
            object_type: wire.object.kind,
        }))
    }

    /// A tag object by its sha.
    pub async fn tag(&self, sha: &str) -> Result<TagInfo, WriteError> {
        let wire: WireTag = self.get(&format!("/git/tags/{}", encode(sha))).await?;
        Ok(TagInfo {
            sha: wire.sha,
            tag: wire.tag,
            message: wire.message,
            tagger: Tagger {
                name: wire.tagger.name,
                email: wire.tagger.email,
                date: wire.tagger.date,
            },
            object_sha: wire.object.sha,
        })
    }

    /// The newest `limit` deployments of `environment` (of `sha` when given), newest first.
    pub async fn deployments(
        &self,
        environment: &str,
        sha: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeploymentInfo>, WriteError> {
        let mut path = format!(
            "/deployments?environment={}&per_page={}",
            encode(environment),
            limit.clamp(1, MAX_PER_PAGE)
        );
        if let Some(sha) = sha {
            path.push_str(&format!("&sha={}", encode(sha)));
        }
        let wire: Vec<WireDeployment> = self.get(&path).await?;
        Ok(wire
            .into_iter()
            .take(limit)
            .map(WireDeployment::into_info)
            .collect())
    }

    /// A deployment's statuses, newest first.
    pub async fn deployment_statuses(&self, id: u64) -> Result<Vec<StatusInfo>, WriteError> {
        let wire: Vec<WireStatus> = self
            .get(&format!(
                "/deployments/{id}/statuses?per_page={MAX_PER_PAGE}"
            ))
            .await?;
        let mut statuses: Vec<StatusInfo> = wire
            .into_iter()
            .map(|s| StatusInfo {
                state: s.state,
                created_at: s.created_at,
                description: s.description.unwrap_or_default(),
            })
            .collect();
        // GitHub lists newest first already; the stable sort keeps its order within a second.
        statuses.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(statuses)
    }

    pub async fn pull(&self, number: u64) -> Result<PullInfo, WriteError> {
        let wire: WirePull = self.get(&format!("/pulls/{number}")).await?;
        Ok(wire.into_info())
    }

    /// Open pull requests from `head_branch` (in this repository) into `base_branch`.
    pub async fn open_pulls(
        &self,
        head_branch: &str,
        base_branch: &str,
    ) -> Result<Vec<PullInfo>, WriteError> {
        let wire: Vec<WirePull> = self
            .get(&format!(
                "/pulls?state=open&head={}&base={}&per_page={MAX_PER_PAGE}",
                encode(&format!("{}:{head_branch}", self.owner)),
                encode(base_branch)
            ))
            .await?;
        Ok(wire.into_iter().map(WirePull::into_info).collect())
    }

    pub async fn workflow_run(&self, id: u64) -> Result<RunInfo, WriteError> {
        let wire: WireRun = self.get(&format!("/actions/runs/{id}")).await?;
        Ok(wire.into_info())
    }

    /// Runs for `head_sha` (of one workflow file, on one branch, when given), newest first.
    pub async fn runs_for(
        &self,
        workflow_file: Option<&str>,
        branch: Option<&str>,
        head_sha: &str,
    ) -> Result<Vec<RunInfo>, WriteError> {
        let mut path = match workflow_file {
            Some(file) => format!("/actions/workflows/{}/runs", encode(file)),
            None => "/actions/runs".to_string(),
        };
        path.push_str(&format!(
            "?head_sha={}&per_page={MAX_PER_PAGE}",
            encode(head_sha)
        ));
        if let Some(branch) = branch {
            path.push_str(&format!("&branch={}", encode(branch)));
        }
        let wire: WireRunList = self.get(&path).await?;
        let mut runs: Vec<RunInfo> = wire
            .workflow_runs
            .into_iter()
            .filter(|r| r.head_sha.eq_ignore_ascii_case(head_sha))
            .map(WireRun::into_info)
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(runs)
    }
}

/// The error of a typed octocrab call: GitHub's answers mean what they mean for raw
/// requests ([`Reply::failure`]), a body that does not fit the model is a decode error.
fn typed_error(error: &octocrab::Error) -> WriteError {
    match error {
        octocrab::Error::GitHub { source, .. } => Reply {
            status: source.status_code,
            headers: source.headers.clone().unwrap_or_default(),
            body: json!({ "message": source.message, "errors": source.errors }).to_string(),
        }
        .failure(),
        octocrab::Error::Json { .. } | octocrab::Error::Serde { .. } => {
            WriteError::Decode(sanitize(&error.to_string(), MESSAGE_CHARS))
        }
        other => transport_error(other),
    }
}

/// A failed exchange: a timeout when anything in the chain says so, else a transport error.
fn transport_error(error: &octocrab::Error) -> WriteError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = source {
        if inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return WriteError::Timeout;
        }
        let text = inner.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return WriteError::Timeout;
        }
        source = inner.source();
    }
    WriteError::Transport(short(error))
}

#[derive(Deserialize)]
struct WireSha {
    sha: String,
}

#[derive(Deserialize)]
struct WireId {
    id: u64,
}

#[derive(Deserialize)]
struct WireDispatch {
    #[serde(default)]
    workflow_run_id: Option<u64>,
}

#[derive(Deserialize)]
struct WireObject {
    sha: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct WireRef {
    object: WireObject,
}

#[derive(Deserialize)]
struct WireTagger {
    name: String,
    email: String,
    date: DateTime<Utc>,
}

#[derive(Deserialize)]
struct WireTag {
    sha: String,
    tag: String,
    message: String,
    tagger: WireTagger,
    object: WireObject,
}

#[derive(Deserialize)]
struct WireLogin {
    login: String,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: u64,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    environment: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    creator: Option<WireLogin>,
}

impl WireDeployment {
    fn into_info(self) -> DeploymentInfo {
        DeploymentInfo {
            id: self.id,
            sha: self.sha,
            git_ref: self.git_ref,
            environment: self.environment,
            created_at: self.created_at,
            payload: payload_object(self.payload),
            creator: self.creator.map(|c| c.login),
        }
    }
}

/// GitHub returns a deployment's payload as an object, or as the JSON text it was given.
fn payload_object(payload: Value) -> Value {
    match payload {
        Value::String(text) if text.trim().is_empty() => json!({}),
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Value::Null => json!({}),
        other => other,
    }
}

#[derive(Deserialize)]
struct WireStatus {
    state: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct WireBranchRef {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct WirePull {
    number: u64,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    mergeable: Option<bool>,
    head: WireBranchRef,
    base: WireBranchRef,
    #[serde(default)]
    user: Option<WireLogin>,
    html_url: String,
}

impl WirePull {
    fn into_info(self) -> PullInfo {
        PullInfo {
            number: self.number,
            state: self.state,
            // List answers carry no `merged`; `merged_at` says the same.
            merged: self.merged.unwrap_or(self.merged_at.is_some()),
            mergeable: self.mergeable,
            head_sha: self.head.sha,
            base_ref: self.base.git_ref,
            head_ref: self.head.git_ref,
            author: self.user.map(|u| u.login),
            html_url: self.html_url,
        }
    }
}

#[derive(Deserialize)]
struct WireRun {
    id: u64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    head_sha: String,
    #[serde(default)]
    head_branch: Option<String>,
    event: String,
    html_url: String,
    created_at: DateTime<Utc>,
}

impl WireRun {
    fn into_info(self) -> RunInfo {
        RunInfo {
            id: self.id,
            status: self.status.unwrap_or_default(),
            conclusion: self.conclusion,
            head_sha: self.head_sha,
            head_branch: self.head_branch.unwrap_or_default(),
            event: self.event,
            html_url: self.html_url,
            created_at: self.created_at,
        }
    }
}

#[derive(Deserialize)]
struct WireRunList {
    workflow_runs: Vec<WireRun>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_plain_http_to_a_remote_host() {
        let token = Secret::new("ghp_example");
        let err = GithubWriter::new(
            "http://api.github.com",
            "acme/shop",
            &token,
            Duration::from_secs(2),
        )
        .err()
        .unwrap();
        assert!(matches!(err, WriteError::Setup(_)));
        let err = GithubWriter::new(
            "https://api.github.com",
            "no-slash",
            &token,
            Duration::from_secs(2),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("owner/name"));
    }

    #[test]
    fn only_unanswered_and_server_failures_are_ambiguous() {
        assert!(WriteError::Timeout.is_ambiguous());
        assert!(WriteError::Transport("reset".into()).is_ambiguous());
        assert!(
            WriteError::Server {
                status: 502,
                message: String::new()
            }
            .is_ambiguous()
        );
        assert!(!WriteError::NotFastForward.is_ambiguous());
        assert!(!WriteError::RefExists.is_ambiguous());
        assert!(
            !WriteError::RateLimited {
                reset: None,
                retry_after: None
            }
            .is_ambiguous()
        );
    }

    #[test]
    fn payload_comes_as_object_or_as_json_text() {
        assert_eq!(payload_object(json!({"a": 1})), json!({"a": 1}));
        assert_eq!(payload_object(json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(payload_object(json!("")), json!({}));
        assert_eq!(payload_object(Value::Null), json!({}));
        assert_eq!(payload_object(json!("not json")), json!("not json"));
    }

    #[test]
    fn failure_messages_include_validation_details() {
        let reply = Reply {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            headers: HeaderMap::new(),
            body: r#"{"message":"Validation Failed","errors":[{"message":"No commits between prod and staging"}]}"#.to_string(),
        };
        assert!(reply.says("no commits between"));
        assert!(matches!(
            reply.failure(),
            WriteError::Rejected { status: 422, .. }
        ));
        let reply = Reply {
            status: StatusCode::BAD_GATEWAY,
            headers: HeaderMap::new(),
            body: "<html>\u{1b}[31mbad gateway</html>".to_string(),
        };
        match reply.failure() {
            WriteError::Server { status, message } => {
                assert_eq!(status, 502);
                assert!(!message.contains('\u{1b}'));
            }
            other => panic!("{other:?}"),
        }
    }
}
