//! Smoke checks: one configured request against an environment's URL, judged on status,
//! body text, a JSON pointer's value and latency. The judging is a plain function over the
//! answer ([`judge`]); [`run_check`] only does the request and measures it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::describe_reqwest_error;
use crate::config::{HttpMethod, SmokeCheckConfig};
use crate::model::{SafeText, SmokeResult};

/// Longest `detail` text shown for a check.
const DETAIL_CHARS: usize = 120;
/// Bodies larger than this are not read in full (a smoke endpoint answers small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a smoke endpoint answered.
#[derive(Debug, Clone)]
pub struct SmokeAnswer {
    pub status: u16,
    pub body: String,
    pub latency: Duration,
}

/// The URL a check requests: `path` joined to the environment's `base_url` (`{url}` in the
/// path stands for the base; an absolute `http(s)://` path is used as is).
pub fn check_url(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if path.contains("{url}") {
        return path.replace("{url}", base);
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// `Ok(note)` when the answer satisfies the check, else `Err(why)`: the first unmet
/// condition, in the order status, body text, JSON value, latency.
pub fn judge(check: &SmokeCheckConfig, answer: &SmokeAnswer) -> Result<String, String> {
    if answer.status != check.status {
        return Err(format!(
            "status {}, expected {}",
            answer.status, check.status
        ));
    }
    if let Some(needle) = &check.body_contains
        && !answer.body.contains(needle.as_str())
    {
        return Err(format!("body lacks {needle:?}"));
    }
    if let (Some(pointer), Some(expected)) = (&check.json_pointer, &check.json_equals) {
        let expected = toml_to_json(expected);
        let body: Value =
            serde_json::from_str(&answer.body).map_err(|_| "body is not JSON".to_string())?;
        match body.pointer(pointer) {
            None => return Err(format!("{pointer} missing, expected {expected}")),
            Some(actual) if !json_equal(actual, &expected) => {
                return Err(format!("{pointer} = {actual}, expected {expected}"));
            }
            Some(_) => {}
        }
    }
    let budget = check.max_latency.get();
    if answer.latency > budget {
        return Err(format!(
            "{} ms > {} ms budget",
            answer.latency.as_millis(),
            budget.as_millis()
        ));
    }
    Ok(format!("{} ms", answer.latency.as_millis()))
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Equality that treats `1` and `1.0` as the same number.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Runs one check against `base_url` and reports it at world time `checked_at`.
pub async fn run_check(
    http: &reqwest::Client,
    base_url: &str,
    check: &SmokeCheckConfig,
    checked_at: impl Fn() -> DateTime<Utc>,
) -> SmokeResult {
    let url = check_url(base_url, &check.path);
    let method = match check.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    let mut request = http.request(method, &url).timeout(check.timeout.get());
    for (name, value) in &check.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &check.body {
        request = request.body(body.clone());
    }
    let started = Instant::now();
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match read_body(response).await {
                Ok(body) => Ok(SmokeAnswer {
                    status,
                    body,
                    latency: started.elapsed(),
                }),
                Err(e) => Err(describe_reqwest_error(&e)),
            }
        }
        Err(e) => Err(describe_reqwest_error(&e)),
    };
    let (ok, latency_ms, detail) = match outcome {
        Ok(answer) => {
            let latency_ms = u64::try_from(answer.latency.as_millis()).unwrap_or(u64::MAX);
            match judge(check, &answer) {
                Ok(note) => (true, Some(latency_ms), note),
                Err(why) => (false, Some(latency_ms), why),
            }
        }
        Err(why) => (false, None, why),
    };
    SmokeResult {
        name: SafeText::with_max(check.name.get_ref(), 60),
        ok,
        latency_ms,
        detail: SafeText::with_max(&detail, DETAIL_CHARS),
        checked_at: checked_at(),
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health_check() -> SmokeCheckConfig {
        crate::config::defaults::smoke_checks().remove(0)
    }

    fn answer(status: u16, body: &str, ms: u64) -> SmokeAnswer {
        SmokeAnswer {
            status,
            body: body.to_string(),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn passing_answer_notes_latency() {
        assert_eq!(
            judge(&health_check(), &answer(200, r#"{"status":"ok"}"#, 42)),
            Ok("42 ms".to_string())
        );
    }

    #[test]
    fn each_failure_says_why() {
        let check = health_check();
        assert_eq!(
            judge(&check, &answer(503, "", 1)),
            Err("status 503, expected 200".to_string())
        );
        assert_eq!(
            judge(&check, &answer(200, r#"{"status":"degraded"}"#, 1)),
            Err(r#"/status = "degraded", expected "ok""#.to_string())
        );
        assert_eq!(
            judge(&check, &answer(200, "<html>", 1)),
            Err("body is not JSON".to_string())
        );
        assert_eq!(
            judge(&check, &answer(200, r#"{"status":"ok"}"#, 1240)),
            Err("1240 ms > 800 ms budget".to_string())
        );
    }

    #[test]
    fn body_text_and_numbers_are_checked() {
        let mut check = health_check();
        check.body_contains = Some("ready".to_string());
        check.json_pointer = Some("/n".to_string());
        check.json_equals = Some(toml::Value::Integer(1));
        assert_eq!(
            judge(&check, &answer(200, r#"{"n":1.0,"s":"ready"}"#, 1)),
            Ok("1 ms".to_string())
        );
        assert!(judge(&check, &answer(200, r#"{"n":1}"#, 1)).is_err());
    }

    #[test]
    fn urls_are_joined_once() {
        assert_eq!(check_url("http://a/", "/healthz"), "http://a/healthz");
        assert_eq!(check_url("http://a", "healthz"), "http://a/healthz");
        assert_eq!(check_url("http://a/", "{url}/x"), "http://a/x");
    }

    #[tokio::test]
    async fn a_closed_port_reports_connection_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let result = run_check(
            &reqwest::Client::new(),
            &format!("http://{addr}"),
            &health_check(),
            Utc::now,
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.detail.as_str(), "connection refused");
    }
}
