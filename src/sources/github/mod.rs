//! GitHub client for the read side, over octocrab.
//!
//! Every read goes through [`GithubClient::get_json`]: a raw GET (octocrab's typed models are
//! stricter than what GitHub sends, and typed calls hide the response headers) with our own
//! serde types, an ETag cache keyed by path (`If-None-Match`; a 304 costs no rate limit and
//! reuses the cached body), the `x-ratelimit-*` figures, and rate-limit answers turned into
//! [`SourceError::RateLimited`] with the reset time and `retry-after`. octocrab's own retry is
//! off: it replays at once, while the poll loop backs off properly. Commits are immutable, so
//! their details are fetched once per SHA.

pub mod history;
mod pulls;
mod release;
pub mod types;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::de::DeserializeOwned;

use super::{BoundedCache, SourceError, is_safe_api_url};
use crate::config::Secret;
use crate::model::{CommitInfo, JobState, RateLimit, SafeText, ServiceState};
pub use history::{HISTORY_PAGE, HistoryMemo};
pub use pulls::CarryingPull;
pub use release::{
    COMPARISON_COMMITS, Comparison, DeploymentHistoryEntry, HOLD_REF_PREFIX, LOCK_REF_PREFIX,
};
pub use types::RunSummary;
use types::{
    WireBranch, WireCommit, WireDeployment, WireDeploymentStatus, WireJobList, WireRunList,
};

const SERVICE: &str = "GitHub";
/// Distinct URLs polled are few (a handful per environment); this bounds the cache anyway.
const ETAG_CACHE_ENTRIES: usize = 256;
/// Bodies kept for `If-None-Match`, all together. The polled lists fit many times over; the
/// one-off reads (a commit, a comparison, the jobs of one run) would otherwise fill the cache
/// with tens of KiB each over hours and hold them for as long as the process runs.
const ETAG_CACHE_BYTES: usize = 2 * 1024 * 1024;
const COMMIT_CACHE_ENTRIES: usize = 512;
/// How many recent deployments of one GitHub environment are looked at for the last success.
const DEPLOYMENTS_SCANNED: usize = 10;
/// How much of the end of a job log is read for its diagnosis.
pub const MAX_LOG_BYTES: usize = 2 * 1024 * 1024;

/// A header value in an allocation of its own. A parsed header shares the connection's read
/// buffer (often the whole response, up to hundreds of KiB); kept in a cache it would hold
/// that buffer for as long as the entry lives.
fn detached(value: &HeaderValue) -> Option<HeaderValue> {
    HeaderValue::from_bytes(value.as_bytes()).ok()
}

/// A read-only GitHub client for one repository and one token.
pub struct GithubClient {
    octocrab: Octocrab,
    repo_path: String,
    etags: Mutex<BoundedCache<String, (HeaderValue, String)>>,
    commits: Mutex<BoundedCache<String, CommitInfo>>,
    rate_limit: Mutex<Option<RateLimit>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
}

impl GithubClient {
    /// `api_url` is the REST root (`https://api.github.com`, a GHES `/api/v3` URL, or a
    /// loopback sandbox); `repo` is `owner/name`. Plain http is refused unless loopback,
    /// since the token travels with every request.
    pub fn new(api_url: &str, repo: &str, token: Option<&Secret>) -> Result<Self, SourceError> {
        if !is_safe_api_url(api_url) {
            return Err(SourceError::Setup(format!(
                "refusing GitHub API URL {:?}: use https (plain http only to a loopback address)",
                crate::model::sanitize(api_url, 100)
            )));
        }
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(SourceError::Setup(format!(
                "GitHub repository {:?} is not owner/name",
                crate::model::sanitize(repo, 100)
            )));
        };
        let builder = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|_| SourceError::Setup("GitHub API URL is not a valid URI".to_string()))?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        let builder = match token {
            Some(token) => builder.personal_token(token.expose().to_string()),
            None => builder,
        };
        let octocrab = builder.build().map_err(|e| {
            SourceError::Setup(format!("cannot build the GitHub client: {}", short(&e)))
        })?;
        Ok(Self {
            octocrab,
            repo_path: format!("/repos/{}/{}", encode(owner), encode(name)),
            etags: Mutex::new(BoundedCache::with_weight_limit(
                ETAG_CACHE_ENTRIES,
                ETAG_CACHE_BYTES,
                |(etag, body): &(HeaderValue, String)| etag.len() + body.len(),
            )),
            commits: Mutex::new(BoundedCache::new(COMMIT_CACHE_ENTRIES)),
            rate_limit: Mutex::new(None),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
        })
    }

    /// The rate-limit figures of the latest answer.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *lock(&self.rate_limit)
    }

    /// How many requests this client sent (304s included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// How many answers were `304 Not Modified` (served from the ETag cache).
    pub fn not_modified_count(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// GETs `path_and_query` (relative to the API root) and decodes it, conditionally.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, SourceError> {
        let cached = lock(&self.etags).get(&path_and_query.to_string()).cloned();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        if let Some((etag, _)) = &cached {
            headers.insert(http::header::IF_NONE_MATCH, etag.clone());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .octocrab
            ._get_with_headers(path_and_query, Some(headers))
            .await
            .map_err(|e| SourceError::Unreachable {
                service: SERVICE,
                reason: short(&e),
            })?;
        let status = response.status();
        let response_headers = response.headers().clone();
        if let Some(limit) = rate_limit_from_headers(&response_headers) {
            *lock(&self.rate_limit) = Some(limit);
        }
        if status == StatusCode::NOT_MODIFIED
            && let Some((_, body)) = cached
        {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
            lock(&self.etags).touch(&path_and_query.to_string());
            return decode(&body);
        }
        let body =
            self.octocrab
                .body_to_string(response)
                .await
                .map_err(|e| SourceError::Unreachable {
                    service: SERVICE,
                    reason: short(&e),
                })?;
        if let Some(limited) = rate_limited(status, &response_headers) {
            return Err(limited);
        }
        if !status.is_success() {
            return Err(SourceError::Status {
                service: SERVICE,
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        let value = decode(&body)?;
        if let Some(etag) = response_headers.get(http::header::ETAG).and_then(detached) {
            lock(&self.etags).insert(path_and_query.to_string(), (etag, body));
        }
        Ok(value)
    }

    /// The head commit of `branch`.
    pub async fn branch_head(&self, branch: &str) -> Result<CommitInfo, SourceError> {
        let branch: WireBranch = self
            .get_json(&format!(
                "{}/branches/{}",
                self.repo_path,
                encode_path(branch)
            ))
            .await?;
        let info = branch.commit.to_commit_info();
        lock(&self.commits).insert(info.sha.clone(), info.clone());
        Ok(info)
    }

    /// Details of one commit; each SHA is fetched once (commits never change).
    pub async fn commit(&self, sha: &str) -> Result<CommitInfo, SourceError> {
        if let Some(info) = lock(&self.commits).get(&sha.to_string()) {
            return Ok(info.clone());
        }
        let commit: WireCommit = self
            .get_json(&format!("{}/commits/{}", self.repo_path, encode(sha)))
            .await?;
        let info = commit.to_commit_info();
        lock(&self.commits).insert(sha.to_string(), info.clone());
        Ok(info)
    }

    /// The latest run of `workflow` (file name) for `head_sha` on `branch`.
    pub async fn latest_run(
        &self,
        workflow: &str,
        branch: &str,
        head_sha: &str,
    ) -> Result<Option<RunSummary>, SourceError> {
        let runs: WireRunList = self
            .get_json(&format!(
                "{}/actions/workflows/{}/runs?branch={}&head_sha={}&per_page=5",
                self.repo_path,
                encode(workflow),
                encode(branch),
                encode(head_sha)
            ))
            .await?;
        Ok(runs
            .workflow_runs
            .iter()
            .filter(|r| r.head_sha.eq_ignore_ascii_case(head_sha))
            .max_by_key(|r| (r.run_number, r.run_attempt.unwrap_or(1), r.id))
            .map(types::WireRun::to_summary))
    }

    /// The jobs of the run's latest attempt, with their steps.
    pub async fn run_jobs(&self, run_id: u64) -> Result<Vec<JobState>, SourceError> {
        let jobs: WireJobList = self
            .get_json(&format!(
                "{}/actions/runs/{run_id}/jobs?filter=latest&per_page=100",
                self.repo_path
            ))
            .await?;
        Ok(jobs.jobs.iter().map(types::WireJob::to_job_state).collect())
    }

    /// The raw log of job `job_id`. GitHub answers with a redirect to a short-lived URL.
    /// octocrab's `download_job_logs` would panic on a Location header that is not ASCII and
    /// would return an error page as if it were the log, so this follows the redirect itself
    /// and checks each answer. Only the last [`MAX_LOG_BYTES`] are kept, read as they stream
    /// in: the error is near the end, and a log can run to hundreds of megabytes. Bytes that
    /// are not UTF-8 are replaced.
    pub async fn job_log(&self, job_id: u64) -> Result<String, SourceError> {
        let unreachable = |e: octocrab::Error| SourceError::Unreachable {
            service: SERVICE,
            reason: short(&e),
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut response = self
            .octocrab
            ._get(format!("{}/actions/jobs/{job_id}/logs", self.repo_path))
            .await
            .map_err(unreachable)?;
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| SourceError::Decode {
                    service: SERVICE,
                    reason: "a log redirect without a readable Location".to_string(),
                })?;
            response = self.octocrab._get(location).await.map_err(unreachable)?;
        }
        let status = response.status();
        if let Some(limited) = rate_limited(status, response.headers()) {
            return Err(limited);
        }
        if !status.is_success() {
            let body = self
                .octocrab
                .body_to_string(response)
                .await
                .unwrap_or_default();
            return Err(SourceError::Status {
                service: SERVICE,
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        let mut body = response.into_body();
        let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            let frame = frame.map_err(unreachable)?;
            if let Ok(data) = frame.into_data() {
                tail.extend(data.iter());
                let excess = tail.len().saturating_sub(MAX_LOG_BYTES);
                tail.drain(..excess);
            }
        }
        Ok(String::from_utf8_lossy(tail.make_contiguous()).into_owned())
    }

    /// One service's deployments: the latest (whatever its state), the last that succeeded,
    /// and that commit's details.
    pub async fn service_state(
        &self,
        service_name: &str,
        github_environment: &str,
    ) -> Result<ServiceState, SourceError> {
        let deployments: Vec<WireDeployment> = self
            .get_json(&format!(
                "{}/deployments?environment={}&per_page={DEPLOYMENTS_SCANNED}",
                self.repo_path,
                encode(github_environment)
            ))
            .await?;
        let mut latest = None;
        let mut last_success = None;
        for deployment in deployments.iter().take(DEPLOYMENTS_SCANNED) {
            let statuses: Vec<WireDeploymentStatus> = self
                .get_json(&format!(
                    "{}/deployments/{}/statuses?per_page=10",
                    self.repo_path, deployment.id
                ))
                .await?;
            let state = deployment.to_deploy_state(&statuses);
            if latest.is_none() {
                latest = Some(state.clone());
            }
            if let Some(success_at) = types::succeeded_at(&statuses) {
                last_success = Some(crate::model::DeployState {
                    at: success_at.or(state.at),
                    ..state
                });
                break;
            }
        }
        let commit = match &last_success {
            Some(success) if !success.sha.is_empty() => Some(self.commit(&success.sha).await?),
            _ => None,
        };
        Ok(ServiceState {
            name: SafeText::with_max(service_name, 60),
            github_environment: SafeText::with_max(github_environment, 60),
            latest,
            last_success,
            commit,
        })
    }
}

/// Reads `x-ratelimit-limit`, `-remaining` and `-reset` (epoch seconds).
pub fn rate_limit_from_headers(headers: &HeaderMap) -> Option<RateLimit> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let reset = Utc
        .timestamp_opt(i64::try_from(number("x-ratelimit-reset")?).ok()?, 0)
        .single()?;
    Some(RateLimit {
        limit: number("x-ratelimit-limit")?,
        remaining: number("x-ratelimit-remaining")?,
        reset,
    })
}

/// `retry-after` in seconds (GitHub sends seconds, never a date).
pub fn retry_after_from_headers(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// A 403/429 that is a rate limit (primary: remaining 0; secondary: `retry-after`), or None.
pub fn rate_limited(status: StatusCode, headers: &HeaderMap) -> Option<SourceError> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let retry_after = retry_after_from_headers(headers);
    let limit = rate_limit_from_headers(headers);
    let exhausted = limit.is_some_and(|l| l.remaining == 0);
    if retry_after.is_none() && !exhausted && status == StatusCode::FORBIDDEN {
        return None;
    }
    Some(SourceError::RateLimited {
        service: SERVICE,
        reset: limit.filter(|l| l.remaining == 0).map(|l| l.reset),
        retry_after,
    })
}

fn decode<T: DeserializeOwned>(body: &str) -> Result<T, SourceError> {
    serde_json::from_str(body).map_err(|e| SourceError::Decode {
        service: SERVICE,
        reason: crate::model::sanitize(&e.to_string(), 160),
    })
}

/// GitHub's `{"message": ...}`, or the start of the body.
pub(crate) fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.to_string());
    crate::model::sanitize(&message, 160)
}

pub(crate) fn short(error: &octocrab::Error) -> String {
    let mut deepest = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        deepest = inner.to_string();
        source = inner.source();
    }
    if deepest.to_ascii_lowercase().contains("connection refused") {
        return "connection refused".to_string();
    }
    crate::model::sanitize(&deepest, 160)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Like [`encode`] but keeps `/`, for branch names inside a path.
pub fn encode_path(raw: &str) -> String {
    raw.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Used by tests and diagnostics: when a limited client may try again.
pub fn reset_wait(reset: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (reset - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn reads_rate_limit_headers() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-reset", "1700000000"),
        ]);
        let limit = rate_limit_from_headers(&h).unwrap();
        assert_eq!(limit.limit, 5000);
        assert_eq!(limit.remaining, 4990);
        assert_eq!(limit.reset.timestamp(), 1_700_000_000);
        assert_eq!(rate_limit_from_headers(&headers(&[])), None);
    }

    #[test]
    fn primary_and_secondary_limits_are_recognised() {
        let exhausted = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000000"),
        ]);
        let e = rate_limited(StatusCode::FORBIDDEN, &exhausted).unwrap();
        assert_eq!(e.rate_reset().map(|t| t.timestamp()), Some(1_700_000_000));

        let secondary = headers(&[("retry-after", "60")]);
        let e = rate_limited(StatusCode::FORBIDDEN, &secondary).unwrap();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));

        assert!(rate_limited(StatusCode::FORBIDDEN, &headers(&[])).is_none());
        assert!(rate_limited(StatusCode::TOO_MANY_REQUESTS, &headers(&[])).is_some());
        assert!(rate_limited(StatusCode::OK, &exhausted).is_none());
    }

    #[test]
    fn refuses_plain_http_to_a_remote_host() {
        let err = GithubClient::new("http://api.github.com", "acme/shop", None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("refusing"));
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("feature/x y"), "feature%2Fx%20y");
        assert_eq!(encode_path("feature/x y"), "feature/x%20y");
    }
}
