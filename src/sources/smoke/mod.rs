//! Smoke checks: one configured request against an environment's URL, judged on status,
//! body text, a JSON pointer's value and latency; or a flow of such requests ([`flow`]) that
//! hands values from one answer to the next request and may wait for a condition. The
//! judging is a plain function over the answer ([`judge`], [`judge_answer`]); [`run_check`]
//! only does the requests and measures them, and [`run_checks`] runs a whole list.

pub mod flow;

use std::time::{Duration, Instant};

use serde_json::Value;

use super::describe_reqwest_error;
use crate::clock::Clock;
use crate::config::{HttpMethod, SmokeCheckConfig};
use crate::model::{SafeText, SmokeResult};

/// Longest `detail` text shown for a check.
pub const DETAIL_CHARS: usize = 120;
/// Longest check name kept.
const NAME_CHARS: usize = 60;
/// Bodies larger than this are not read in full (a smoke endpoint answers small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What a smoke endpoint answered.
#[derive(Debug, Clone)]
pub struct SmokeAnswer {
    pub status: u16,
    pub body: String,
    pub latency: Duration,
}

/// One request, ready to send: placeholders already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// What an answer must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectations {
    pub status: u16,
    pub body_contains: Option<String>,
    /// A JSON pointer and the value found there must equal.
    pub json: Option<(String, Value)>,
    pub max_latency: Duration,
}

impl Expectations {
    /// The expectations of a single-request check.
    pub fn of_check(check: &SmokeCheckConfig) -> Self {
        Self {
            status: check.status,
            body_contains: check.body_contains.clone(),
            json: match (&check.json_pointer, &check.json_equals) {
                (Some(pointer), Some(expected)) => Some((pointer.clone(), toml_to_json(expected))),
                _ => None,
            },
            max_latency: check.max_latency.get(),
        }
    }
}

/// The URL a check requests: `path` joined to the environment's `base_url` (`{url}` in the
/// path stands for the base; an absolute `http(s)://` path is used as is).
pub fn check_url(base_url: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    crate::config::join_url(base_url, path)
}

/// `Ok(note)` when the answer satisfies the check, else `Err(why)`: the first unmet
/// condition, in the order status, body text, JSON value, latency.
pub fn judge(check: &SmokeCheckConfig, answer: &SmokeAnswer) -> Result<String, String> {
    judge_answer(&Expectations::of_check(check), answer)
}

/// [`judge`] over explicit expectations (a flow step's).
pub fn judge_answer(expect: &Expectations, answer: &SmokeAnswer) -> Result<String, String> {
    if answer.status != expect.status {
        return Err(format!(
            "status {}, expected {}",
            answer.status, expect.status
        ));
    }
    if let Some(needle) = &expect.body_contains
        && !answer.body.contains(needle.as_str())
    {
        return Err(format!("body lacks {needle:?}"));
    }
    if let Some((pointer, expected)) = &expect.json {
        let body: Value =
            serde_json::from_str(&answer.body).map_err(|_| "body is not JSON".to_string())?;
        match body.pointer(pointer) {
            None => return Err(format!("{pointer} missing, expected {expected}")),
            Some(actual) if !json_equal(actual, expected) => {
                return Err(format!("{pointer} = {actual}, expected {expected}"));
            }
            Some(_) => {}
        }
    }
    let budget = expect.max_latency;
    if answer.latency > budget {
        return Err(format!(
            "{} ms > {} ms budget",
            answer.latency.as_millis(),
            budget.as_millis()
        ));
    }
    Ok(format!("{} ms", answer.latency.as_millis()))
}

pub(crate) fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Equality that treats `1` and `1.0` as the same number.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Sends one request and reads its answer (at most [`MAX_BODY_BYTES`] of the body); the
/// error is a short reason: "connection refused", "timed out after 5s".
pub async fn send(
    http: &reqwest::Client,
    request: &PreparedRequest,
) -> Result<SmokeAnswer, String> {
    let method = match request.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    let mut builder = http.request(method, &request.url).timeout(request.timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let why = |error: &reqwest::Error| {
        if error.is_timeout() {
            format!(
                "timed out after {}",
                humantime::format_duration(request.timeout)
            )
        } else {
            describe_reqwest_error(error)
        }
    };
    let started = Instant::now();
    let response = builder.send().await.map_err(|e| why(&e))?;
    let status = response.status().as_u16();
    let body = read_body(response).await.map_err(|e| why(&e))?;
    Ok(SmokeAnswer {
        status,
        body,
        latency: started.elapsed(),
    })
}

/// Runs one check against `base_url`, a single request or a flow, and reports it at the
/// clock's (world) time. Latencies are real time: they measure the network and the app.
pub async fn run_check(
    http: &reqwest::Client,
    base_url: &str,
    check: &SmokeCheckConfig,
    clock: &Clock,
) -> SmokeResult {
    if check.is_flow() {
        let report = flow::run_flow(&flow::HttpTransport(http), base_url, check, clock).await;
        return report.to_result(check, clock.now());
    }
    let request = PreparedRequest {
        method: check.method,
        url: check_url(base_url, check.path.as_deref().unwrap_or("/")),
        headers: check
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        body: check.body.clone(),
        timeout: check.timeout.get(),
    };
    let (ok, latency_ms, detail) = match send(http, &request).await {
        Ok(answer) => {
            let latency_ms = millis(answer.latency);
            match judge(check, &answer) {
                Ok(note) => (true, Some(latency_ms), note),
                Err(why) => (false, Some(latency_ms), why),
            }
        }
        Err(why) => (false, None, why),
    };
    SmokeResult {
        name: SafeText::with_max(check.name.get_ref(), NAME_CHARS),
        ok,
        latency_ms,
        detail: SafeText::with_max(&detail, DETAIL_CHARS),
        checked_at: clock.now(),
    }
}

/// Runs every check against `base_url`; results in the order of `checks`. Single requests
/// go one after the other, as before; flows run beside them, each on its own, so a flow
/// waiting for a worker delays the round by its own wait and no more.
pub async fn run_checks(
    http: &reqwest::Client,
    base_url: &str,
    checks: &[SmokeCheckConfig],
    clock: &Clock,
) -> Vec<SmokeResult> {
    let singles = async {
        let mut results = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            if !check.is_flow() {
                results.push((i, run_check(http, base_url, check, clock).await));
            }
        }
        results
    };
    let flows = futures::future::join_all(
        checks
            .iter()
            .enumerate()
            .filter(|(_, check)| check.is_flow())
            .map(|(i, check)| async move { (i, run_check(http, base_url, check, clock).await) }),
    );
    let (singles, flows) = futures::join!(singles, flows);
    let mut results: Vec<(usize, SmokeResult)> = singles.into_iter().chain(flows).collect();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
            &Clock::system(),
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.detail.as_str(), "connection refused");
    }
}
