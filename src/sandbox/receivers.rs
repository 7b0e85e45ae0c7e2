//! Stand-ins for the services shipdeck notifies, served on the sandbox's app server beside
//! the environments' apps. Their paths start with an underscore, which no environment name
//! does, so they never shadow an app:
//!
//! - `POST /_hooks/{name}` (any depth below, like Slack's `/services/T…/B…/…`): a Slack-style
//!   or generic webhook; answers 200 with the text `ok`, as Slack does, or 400
//!   `invalid_payload` when the body is not JSON;
//! - `POST /_hooks/failing`: always 500, for a notifier that is down;
//! - `POST /_pagerduty/v2/enqueue`: PagerDuty Events v2; 202 with `status`, `message` and
//!   `dedup_key`, or 400 with PagerDuty's `invalid event` body when the event lacks what
//!   PagerDuty requires (routing key, event action, and for a trigger the payload's summary
//!   of at most 1024 characters, source and severity);
//! - `POST /_llm/v1/chat/completions`: an OpenAI-compatible chat completion whose content is
//!   a short diagnosis worked out from the last user message, the same for the same text;
//!   401 without `Authorization: Bearer …`.
//!
//! Every request routed here is kept, answered or refused (the newest [`MAX_RECEIVED`]), with
//! its path, content type, JSON body (a body that is not JSON is kept as a string) and the
//! world time it came at. Tests read them with `Sandbox::received(path_prefix)` and build
//! the targets' URLs from `Sandbox::hooks_url()`, the server's base URL. Authorization
//! headers are never kept.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http::lock;
use crate::model::sanitize;

/// Requests kept for tests; older ones fall off.
pub const MAX_RECEIVED: usize = 1000;
/// Bodies larger than this are refused with a 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// PagerDuty's limit on `payload.summary`.
const PAGERDUTY_SUMMARY_CHARS: usize = 1024;
const DEFAULT_MODEL: &str = "sandbox-diagnoser";
/// How much of an error line the diagnosis quotes.
const QUOTE_CHARS: usize = 160;

/// One request a receiver got.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedHook {
    pub path: String,
    pub content_type: Option<String>,
    /// The JSON body, or the body as a string when it is not JSON.
    pub body: Value,
    /// World time (the sandbox's clock).
    pub at: DateTime<Utc>,
}

/// What the receivers were sent, newest last.
#[derive(Debug, Default)]
pub(crate) struct Received {
    hooks: Mutex<VecDeque<ReceivedHook>>,
}

impl Received {
    pub(crate) fn len(&self) -> usize {
        lock(&self.hooks).len()
    }

    fn push(&self, hook: ReceivedHook) {
        let mut hooks = lock(&self.hooks);
        if hooks.len() == MAX_RECEIVED {
            hooks.pop_front();
        }
        hooks.push_back(hook);
    }

    /// The kept requests whose path starts with `path_prefix`, oldest first.
    pub(crate) fn matching(&self, path_prefix: &str) -> Vec<ReceivedHook> {
        lock(&self.hooks)
            .iter()
            .filter(|hook| hook.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }
}

/// Whether `path` belongs to a receiver rather than to an environment's app.
pub(crate) fn handles(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "_hooks" | "_pagerduty" | "_llm")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Hook { failing: bool },
    PagerDuty,
    Llm,
}

fn route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["_hooks", "failing", ..] => Some(Route::Hook { failing: true }),
        ["_hooks", _, ..] => Some(Route::Hook { failing: false }),
        ["_pagerduty", "v2", "enqueue"] => Some(Route::PagerDuty),
        ["_llm", "v1", "chat", "completions"] => Some(Route::Llm),
        _ => None,
    }
}

/// Answers a request for a receiver's path and keeps it. `body` is `None` when it was too
/// large to read.
pub(crate) fn answer(
    received: &Received,
    now: DateTime<Utc>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Response {
    let Some(route) = route(path) else {
        return text(StatusCode::NOT_FOUND, "no such receiver");
    };
    if *method != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Some(body) = body else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    };
    let parsed = serde_json::from_slice::<Value>(body).ok();
    received.push(ReceivedHook {
        path: path.to_string(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: parsed
            .clone()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned())),
        at: now,
    });
    match route {
        Route::Hook { failing: true } => {
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error")
        }
        Route::Hook { failing: false } => match parsed {
            Some(_) => text(StatusCode::OK, "ok"),
            None => text(StatusCode::BAD_REQUEST, "invalid_payload"),
        },
        Route::PagerDuty => {
            let (status, reply) = pagerduty(parsed.as_ref(), body);
            json_reply(status, &reply)
        }
        Route::Llm => {
            let (status, reply) = chat_completion(parsed.as_ref(), headers, body, now);
            json_reply(status, &reply)
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn digest_hex(bytes: &[u8], chars: usize) -> String {
    let mut hex = hex::encode(Sha256::digest(bytes));
    hex.truncate(chars);
    hex
}

/// PagerDuty Events v2 `enqueue`: the checks PagerDuty makes before it accepts an event.
fn pagerduty(event: Option<&Value>, raw: &[u8]) -> (StatusCode, Value) {
    let mut errors: Vec<String> = Vec::new();
    let field = |value: Option<&Value>, name: &str| -> Option<String> {
        value
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    if event.is_none_or(|e| !e.is_object()) {
        errors.push("Event object is not valid JSON".to_string());
    }
    if field(event, "routing_key").is_none() {
        errors.push("'routing_key' is missing or blank".to_string());
    }
    let action = field(event, "event_action");
    let dedup_key = field(event, "dedup_key");
    match action.as_deref() {
        None => errors.push("'event_action' is missing or blank".to_string()),
        Some("trigger") => {
            let payload = event.and_then(|e| e.get("payload"));
            match field(payload, "summary") {
                None => errors.push("'payload.summary' is missing or blank".to_string()),
                Some(summary) if summary.chars().count() > PAGERDUTY_SUMMARY_CHARS => {
                    errors.push(format!(
                        "'payload.summary' is longer than {PAGERDUTY_SUMMARY_CHARS} characters"
                    ))
                }
                Some(_) => {}
            }
            if field(payload, "source").is_none() {
                errors.push("'payload.source' is missing or blank".to_string());
            }
            match field(payload, "severity").as_deref() {
                Some("critical" | "error" | "warning" | "info") => {}
                _ => errors.push(
                    "'payload.severity' must be one of critical, error, warning, info".to_string(),
                ),
            }
        }
        Some("acknowledge" | "resolve") => {
            if dedup_key.is_none() {
                errors.push("'dedup_key' is missing or blank".to_string());
            }
        }
        Some(_) => {
            errors.push("'event_action' must be one of trigger, acknowledge, resolve".to_string())
        }
    }
    if !errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            json!({
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            }),
        );
    }
    // PagerDuty makes up a key for a trigger without one; the body's hash keeps it stable.
    let dedup_key = dedup_key.unwrap_or_else(|| digest_hex(raw, 32));
    (
        StatusCode::ACCEPTED,
        json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": dedup_key,
        }),
    )
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !token.trim().is_empty())
}

/// A message's text: a plain string, or the `text` parts of a list of content parts.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn openai_error(status: StatusCode, message: &str, kind: &str, code: Value) -> (StatusCode, Value) {
    (
        status,
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
    )
}

/// OpenAI's `chat/completions`, answered by [`diagnose`].
fn chat_completion(
    request: Option<&Value>,
    headers: &HeaderMap,
    raw: &[u8],
    now: DateTime<Utc>,
) -> (StatusCode, Value) {
    if !has_bearer(headers) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            "invalid_request_error",
            json!("invalid_api_key"),
        );
    }
    let Some(messages) = request
        .and_then(|r| r.get("messages"))
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "'messages' is a required property and must be a non-empty array",
            "invalid_request_error",
            Value::Null,
        );
    };
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(message_text)
        .unwrap_or_default();
    let content = diagnose(&last_user);
    let model = request
        .and_then(|r| r.get("model"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_MODEL);
    // Roughly four characters a token, as OpenAI's own rule of thumb goes.
    let prompt_chars: usize = messages.iter().map(|m| message_text(m).len()).sum();
    let prompt_tokens = prompt_chars.div_ceil(4);
    let completion_tokens = content.len().div_ceil(4);
    (
        StatusCode::OK,
        json!({
            "id": format!("chatcmpl-{}", digest_hex(raw, 24)),
            "object": "chat.completion",
            "created": now.timestamp(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content, "refusal": null },
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_sandbox",
        }),
    )
}

/// Words that mark a log line as an error line.
const ERROR_MARKERS: [&str; 9] = [
    "error",
    "failed",
    "failure",
    "panicked",
    "exception",
    "fatal",
    "traceback",
    "assert",
    "cannot find",
];

/// The likely cause and next step for the first of these phrases found in the text.
const ADVICE: [(&[&str], &str, &str); 7] = [
    (
        &["eslint", "prettier", "lint", "rustfmt", "format"],
        "a lint or format rule",
        "run the formatter and linter locally, commit the result and re-run the job",
    ),
    (
        &[
            "cannot find module",
            "module not found",
            "no module named",
            "unresolved import",
            "cannot find",
        ],
        "a missing import or dependency",
        "add the missing import or dependency and re-run the job",
    ),
    (
        &["migration", "schema", "constraint", "foreign key", "column"],
        "a database migration or schema change",
        "check the migration against the production schema before anything is re-run; open an issue for review",
    ),
    (
        &[
            "timed out",
            "timeout",
            "flaky",
            "econnreset",
            "connection reset",
        ],
        "a flaky test or a transient network problem",
        "re-run the failed job once; if it fails the same way, treat it as a real failure",
    ),
    (
        &[
            "typeerror",
            "type mismatch",
            "mismatched types",
            "ts2",
            "is not assignable",
        ],
        "a type mismatch",
        "fix the type error at that line and re-run the job",
    ),
    (
        &[
            "error rate",
            "new error type",
            "rolled back",
            "sentry",
            "5xx",
            "500",
        ],
        "a regression in the deployed commit",
        "compare the new errors with the changes since the last good deploy, keep the rollback in place and open an issue",
    ),
    (
        &[
            "permission",
            "denied",
            "unauthorized",
            "forbidden",
            "secret",
            "token",
        ],
        "missing permissions or credentials",
        "check the deploy credentials and permissions; do not re-run until they are fixed",
    ),
];

/// A short diagnosis of a log excerpt: the first error line it sees, a likely cause and a
/// next step. The same text always gives the same answer.
pub(crate) fn diagnose(text: &str) -> String {
    // A prompt that introduces its log ("Error lines:", a fence) is read from there on, so
    // the classifier's own words above it are not taken for the log's first error.
    let log_start = ["Error lines:", "```"]
        .iter()
        .find_map(|intro| text.find(intro).map(|at| at + intro.len()))
        .unwrap_or(0);
    let error_line = text[log_start..].lines().map(str::trim).find(|line| {
        let lower = line.to_ascii_lowercase();
        ERROR_MARKERS.iter().any(|marker| lower.contains(marker))
    });
    let lower = text.to_ascii_lowercase();
    let (cause, step) = ADVICE
        .iter()
        .find(|(phrases, _, _)| phrases.iter().any(|phrase| lower.contains(phrase)))
        .map(|(_, cause, step)| (*cause, *step))
        .unwrap_or((
            "an unclassified failure",
            "read the full log around that line; re-run once if it looks transient, else open an issue",
        ));
    match error_line {
        Some(line) => format!(
            "The first error is: {}. Likely cause: {cause}. Next step: {step}.",
            sanitize(line, QUOTE_CHARS)
        ),
        None => {
            format!("No error line found in the excerpt. Likely cause: {cause}. Next step: {step}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn post(received: &Received, path: &str, headers: &HeaderMap, body: &str) -> StatusCode {
        answer(
            received,
            at(),
            &Method::POST,
            path,
            headers,
            Some(body.as_bytes()),
        )
        .status()
    }

    #[test]
    fn receiver_paths_never_look_like_environments() {
        assert!(handles("/_hooks/slack"));
        assert!(handles("/_pagerduty/v2/enqueue"));
        assert!(handles("/_llm/v1/chat/completions"));
        assert!(!handles("/prod/health"));
        assert!(!handles("/hooks/slack"));
        assert_eq!(route("/_hooks"), None);
        assert_eq!(route("/_pagerduty/v2"), None);
    }

    #[test]
    fn hooks_answer_ok_or_fail_and_keep_every_request() {
        let received = Received::default();
        let headers = HeaderMap::new();
        assert_eq!(
            post(&received, "/_hooks/slack", &headers, r#"{"text":"hi"}"#),
            StatusCode::OK
        );
        assert_eq!(
            post(&received, "/_hooks/failing", &headers, r#"{"text":"hi"}"#),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            post(&received, "/_hooks/slack", &headers, "not json"),
            StatusCode::BAD_REQUEST
        );
        let kept = received.matching("/_hooks/slack");
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].body["text"], "hi");
        assert_eq!(kept[1].body, json!("not json"));
        assert_eq!(received.matching("/_hooks").len(), 3);
        let get = answer(
            &received,
            at(),
            &Method::GET,
            "/_hooks/slack",
            &headers,
            None,
        );
        assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn keeps_at_most_the_newest_requests() {
        let received = Received::default();
        for i in 0..MAX_RECEIVED + 5 {
            post(
                &received,
                "/_hooks/x",
                &HeaderMap::new(),
                &format!("{{\"n\":{i}}}"),
            );
        }
        let kept = received.matching("/");
        assert_eq!(kept.len(), MAX_RECEIVED);
        assert_eq!(kept[0].body["n"], 5);
    }

    #[test]
    fn pagerduty_checks_what_pagerduty_requires() {
        let ok = json!({
            "routing_key": "R0UTING",
            "event_action": "trigger",
            "dedup_key": "shipdeck/prod/abc",
            "payload": { "summary": "prod rolled back", "source": "shipdeck", "severity": "critical" },
        });
        let (status, body) = pagerduty(Some(&ok), ok.to_string().as_bytes());
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["dedup_key"], "shipdeck/prod/abc");
        assert_eq!(body["status"], "success");

        let mut missing = ok.clone();
        missing["routing_key"] = json!("");
        let (status, body) = pagerduty(Some(&missing), b"");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap_or("")
                .contains("routing_key")
        );

        let no_action = json!({ "routing_key": "R" });
        assert_eq!(pagerduty(Some(&no_action), b"").0, StatusCode::BAD_REQUEST);

        let mut long = ok.clone();
        long["payload"]["summary"] = json!("x".repeat(1025));
        assert_eq!(pagerduty(Some(&long), b"").0, StatusCode::BAD_REQUEST);

        let resolve = json!({ "routing_key": "R", "event_action": "resolve", "dedup_key": "k" });
        assert_eq!(pagerduty(Some(&resolve), b"").0, StatusCode::ACCEPTED);
        let resolve_without_key = json!({ "routing_key": "R", "event_action": "resolve" });
        assert_eq!(
            pagerduty(Some(&resolve_without_key), b"").0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn chat_completion_needs_a_bearer_and_names_the_first_error() {
        let request = json!({
            "model": "gpt-test",
            "messages": [
                { "role": "system", "content": "You diagnose CI failures." },
                { "role": "user", "content": "step 3\nerror: Cannot find module 'left-pad'\nerror: second" },
            ],
        });
        let raw = request.to_string();
        let (status, _) = chat_completion(Some(&request), &HeaderMap::new(), raw.as_bytes(), at());
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-test"),
        );
        let (status, body) = chat_completion(Some(&request), &headers, raw.as_bytes(), at());
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "gpt-test");
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("");
        assert!(
            content.contains("Cannot find module 'left-pad'"),
            "{content}"
        );
        assert!(!content.contains("second"), "{content}");
        assert!(content.contains("missing import"), "{content}");
        let again = chat_completion(Some(&request), &headers, raw.as_bytes(), at()).1;
        assert_eq!(again, body);

        let empty = json!({ "messages": [] });
        assert_eq!(
            chat_completion(Some(&empty), &headers, b"{}", at()).0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn diagnosis_quotes_a_sanitized_line_and_always_suggests_a_step() {
        let text = diagnose("ok\n\u{1b}[31mFAILED tests/db.rs: migration 0042 violates constraint");
        assert!(text.contains("FAILED tests/db.rs"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("migration"), "{text}");
        let none = diagnose("all good");
        assert!(none.starts_with("No error line found"), "{none}");
        assert!(none.contains("Next step"), "{none}");
    }
}
