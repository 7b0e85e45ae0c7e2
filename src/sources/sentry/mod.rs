//! Sentry client for the error panel, over reqwest: the per-minute error series of an
//! environment (`events-stats`, errors dataset, numeric project ids) and the error types
//! (issues) first seen since a moment. `events-stats` is not in Sentry's published API
//! description, so its parsing takes what it can: `[ts, []]` is a zero bucket, a bucket it
//! cannot read is skipped, and the several-yAxis shape is understood too.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{SourceError, describe_reqwest_error, is_safe_api_url};
use crate::config::Secret;
use crate::model::{ErrorBucket, NewErrorType, SafeText};

const SERVICE: &str = "Sentry";
/// Most new error types kept per environment: enough for the panel, bounded for memory.
const MAX_NEW_TYPES: usize = 50;

/// A read-only Sentry client for one organization and its projects.
#[derive(Clone)]
pub struct SentryClient {
    http: reqwest::Client,
    base_url: String,
    org: String,
    project_ids: Vec<u64>,
    token: Option<Secret>,
}

impl SentryClient {
    pub fn new(
        base_url: &str,
        org: &str,
        project_ids: Vec<u64>,
        token: Option<Secret>,
    ) -> Result<Self, SourceError> {
        if !is_safe_api_url(base_url) {
            return Err(SourceError::Setup(format!(
                "refusing Sentry URL {:?}: use https (plain http only to a loopback address)",
                crate::model::sanitize(base_url, 100)
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| SourceError::Setup(format!("cannot build the Sentry client: {e}")))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            org: org.to_string(),
            project_ids,
            token,
        })
    }

    fn request(&self, path: &str, query: &[(&str, String)]) -> reqwest::RequestBuilder {
        use super::github::encode;
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        pairs.extend(self.project_ids.iter().map(|id| format!("project={id}")));
        let url = format!(
            "{}/api/0/organizations/{}/{path}?{}",
            self.base_url,
            encode(&self.org),
            pairs.join("&")
        );
        let mut builder = self.http.get(url);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token.expose());
        }
        builder
    }

    async fn fetch(&self, builder: reqwest::RequestBuilder) -> Result<String, SourceError> {
        let response = builder.send().await.map_err(|e| SourceError::Unreachable {
            service: SERVICE,
            reason: describe_reqwest_error(&e),
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let body = response
            .text()
            .await
            .map_err(|e| SourceError::Unreachable {
                service: SERVICE,
                reason: describe_reqwest_error(&e),
            })?;
        if status.as_u16() == 429 {
            return Err(SourceError::RateLimited {
                service: SERVICE,
                reset: None,
                retry_after,
            });
        }
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(body);
            return Err(SourceError::Status {
                service: SERVICE,
                status: status.as_u16(),
                message: crate::model::sanitize(&message, 160),
            });
        }
        Ok(body)
    }

    /// Errors per minute in `environment` over the last `minutes` minutes.
    pub async fn error_counts(
        &self,
        environment: &str,
        minutes: i64,
    ) -> Result<Vec<ErrorBucket>, SourceError> {
        let period = if minutes >= 360 {
            "6h".to_string()
        } else {
            format!("{}m", minutes.max(2))
        };
        let builder = self.request(
            "events-stats/",
            &[
                ("dataset", "errors".to_string()),
                ("interval", "1m".to_string()),
                ("yAxis", "count()".to_string()),
                ("statsPeriod", period),
                ("environment", environment.to_string()),
            ],
        );
        let body = self.fetch(builder).await?;
        let value: Value = serde_json::from_str(&body).map_err(|e| SourceError::Decode {
            service: SERVICE,
            reason: crate::model::sanitize(&e.to_string(), 160),
        })?;
        parse_events_stats(&value).map_err(|reason| SourceError::Decode {
            service: SERVICE,
            reason,
        })
    }

    /// Unresolved issues of `environment` first seen at or after `since`, newest first.
    pub async fn new_error_types(
        &self,
        environment: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<NewErrorType>, SourceError> {
        let builder = self.request(
            "issues/",
            &[
                (
                    "query",
                    format!(
                        "is:unresolved firstSeen:>={}",
                        since.format("%Y-%m-%dT%H:%M:%S")
                    ),
                ),
                ("environment", environment.to_string()),
                ("sort", "new".to_string()),
                ("limit", MAX_NEW_TYPES.to_string()),
            ],
        );
        let body = self.fetch(builder).await?;
        let issues = parse_issues(&body).map_err(|reason| SourceError::Decode {
            service: SERVICE,
            reason,
        })?;
        // The query already filters; checking again keeps a lax server from adding old types.
        let mut fresh: Vec<NewErrorType> = issues
            .into_iter()
            .filter(|i| i.first_seen >= since)
            .take(MAX_NEW_TYPES)
            .collect();
        fresh.sort_by_key(|t| std::cmp::Reverse(t.first_seen));
        Ok(fresh)
    }
}

/// Reads an `events-stats` answer: `{"data": [[ts, [{"count": n}]], ...]}`, or the same
/// keyed by yAxis (`{"count()": {"data": ...}}`). An empty inner list is a zero bucket.
pub fn parse_events_stats(value: &Value) -> Result<Vec<ErrorBucket>, String> {
    let data = value
        .get("data")
        .or_else(|| value.get("count()").and_then(|v| v.get("data")))
        .and_then(Value::as_array)
        .ok_or_else(|| "events-stats answer has no data list".to_string())?;
    Ok(data.iter().filter_map(parse_bucket).collect())
}

fn parse_bucket(entry: &Value) -> Option<ErrorBucket> {
    let pair = entry.as_array()?;
    let ts = pair.first()?.as_f64()?;
    if !ts.is_finite() {
        return None;
    }
    let minute = Utc.timestamp_opt(ts as i64, 0).single()?;
    let count = match pair.get(1) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => o.get("count").and_then(as_count).unwrap_or(0),
                other => as_count(other).unwrap_or(0),
            })
            .sum(),
        Some(other) => as_count(other).unwrap_or(0),
        None => 0,
    };
    Some(ErrorBucket { minute, count })
}

/// A count sent as a number (possibly fractional) or as a string.
fn as_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct WireIssue {
    id: Value,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    culprit: Option<String>,
    #[serde(rename = "firstSeen")]
    first_seen: Option<String>,
    #[serde(default)]
    count: Value,
    /// Not in the list's documented shape, but sent by Sentry's issue details and by some
    /// versions of the list; `{"version": ...}` or a bare string.
    #[serde(rename = "firstRelease", default)]
    first_release: Option<Value>,
}

fn release_version(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("version").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Reads the organization issues list into new error types; issues without a readable
/// `firstSeen` are skipped (they cannot be placed before or after a deploy).
pub fn parse_issues(body: &str) -> Result<Vec<NewErrorType>, String> {
    let issues: Vec<WireIssue> = serde_json::from_str(body)
        .map_err(|e| crate::model::sanitize(&format!("issues list: {e}"), 160))?;
    Ok(issues
        .into_iter()
        .filter_map(|issue| {
            let first_seen = DateTime::parse_from_rfc3339(issue.first_seen.as_deref()?)
                .ok()?
                .to_utc();
            let id = match &issue.id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let title = issue.title.or(issue.culprit).unwrap_or_default();
            Some(NewErrorType {
                id: SafeText::with_max(&id, 40),
                title: SafeText::with_max(&title, 200),
                first_seen,
                count: as_count(&issue.count).unwrap_or(0),
                release: issue
                    .first_release
                    .as_ref()
                    .and_then(release_version)
                    .map(|v| SafeText::with_max(&v, 80)),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_inner_list_is_zero_and_bad_buckets_are_skipped() {
        let value: Value = serde_json::from_str(
            r#"{"data": [[1700000000, [{"count": 3}]], [1700000060, []], ["x", []], [1700000120, [{"count": 2.0}]]]}"#,
        )
        .unwrap();
        let buckets = parse_events_stats(&value).unwrap();
        let counts: Vec<u64> = buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![3, 0, 2]);
        assert_eq!(buckets[1].minute.timestamp(), 1_700_000_060);
    }

    #[test]
    fn keyed_by_y_axis_is_understood() {
        let value: Value =
            serde_json::from_str(r#"{"count()": {"data": [[1700000000, [{"count": 7}]]]}}"#)
                .unwrap();
        assert_eq!(parse_events_stats(&value).unwrap()[0].count, 7);
        assert!(parse_events_stats(&serde_json::json!({"detail": "nope"})).is_err());
    }

    #[test]
    fn issue_count_string_becomes_a_number() {
        let issues = parse_issues(
            r#"[{"id": "9", "title": "KeyError\u001b[2J", "firstSeen": "2026-01-01T10:00:00Z", "count": "150"},
                {"id": "10", "title": "no time", "firstSeen": null, "count": 1}]"#,
        )
        .unwrap();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].count, 150);
        assert_eq!(issues[0].title.as_str(), "KeyError[2J");
    }
}
