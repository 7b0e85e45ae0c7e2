//! Notifications about a deploy gone bad (and about its resolution): the payloads for a
//! Slack-compatible incoming webhook, PagerDuty Events v2 and a generic JSON webhook (which
//! is also how e-mail is reached, through a webhook-to-mail relay), and their delivery with
//! retries.
//!
//! The payload builders are pure functions of a [`Notice`]. Every text taken from the notice
//! is stripped of control and format characters (log lines one by one, so the excerpt keeps
//! its lines) and cut to what the receiving service accepts.
//!
//! [`deliver`] retries what may succeed later (no connection, no answer in time, 429, 5xx)
//! with exponential backoff, gives up at once on other refusals, and never panics. Its errors
//! name the target and the status; they never carry the target's URL beyond its host (Slack
//! puts the secret in the path, others in the query) nor a PagerDuty routing key.
//! [`deliver_all`] sends to several targets at once, so a target that is down delays none of
//! the others.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::model::sanitize;

/// Slack: a header's text.
const SLACK_HEADER_CHARS: usize = 150;
/// Slack: a section's text.
const SLACK_SECTION_CHARS: usize = 3000;
/// Slack: a section field's text, and the number of fields in one section.
const SLACK_FIELD_CHARS: usize = 2000;
const SLACK_FIELDS: usize = 10;
/// Figures shown in Slack, at most (three sections of fields).
const SLACK_FIGURES: usize = 30;
/// PagerDuty: `payload.summary` and `dedup_key`.
const PAGERDUTY_SUMMARY_CHARS: usize = 1024;
const PAGERDUTY_DEDUP_CHARS: usize = 255;
/// The excerpt in PagerDuty's details and in the generic webhook; events are capped at
/// 512 KB by PagerDuty, mail relays prefer far less.
const DETAILS_EXCERPT_CHARS: usize = 16_000;
const LINE_CHARS: usize = 500;
const REASON_CHARS: usize = 2000;
const FIGURE_CHARS: usize = 200;
const LINK_LABEL_CHARS: usize = 75;
const LINK_URL_CHARS: usize = 2000;
/// How much of a refusal's body an error quotes.
const ERROR_BODY_CHARS: usize = 120;
/// The longest `Retry-After` honoured; beyond it, the backoff alone decides.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("shipdeck/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifierKind {
    /// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat).
    Slack,
    /// PagerDuty Events API v2 (`https://events.pagerduty.com/v2/enqueue`).
    PagerDuty,
    /// Any endpoint that takes the notice as plain JSON.
    Webhook,
}

/// Where a notice goes.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifierTarget {
    /// The name the config gives it; errors and deliveries say it.
    pub name: String,
    pub kind: NotifierKind,
    pub url: String,
    /// The PagerDuty integration key, read from the environment by the caller.
    pub routing_key: Option<String>,
}

impl fmt::Debug for NotifierTarget {
    // Derived Debug would print the routing key and the URL's secret path or query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierTarget")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &redacted_url(&self.url))
            .field("routing_key", &self.routing_key.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeEvent {
    VerificationFailed,
    RolledBack,
    RollbackFailed,
    Escalated,
    /// A branch's CI stayed red longer than the red watch allows.
    PipelineRed,
    /// An environment's latest deploy failed and stayed failed that long.
    DeployFailed,
    /// The incident is over: PagerDuty resolves the alert with the same `dedup_key`.
    Resolved,
    /// The error watch after a verified deploy found a new error type; nothing was rolled
    /// back, the captain decides.
    WatchFinding,
}

impl NoticeEvent {
    /// A stable machine name (`verification_failed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::VerificationFailed => "verification_failed",
            NoticeEvent::RolledBack => "rolled_back",
            NoticeEvent::RollbackFailed => "rollback_failed",
            NoticeEvent::Escalated => "escalated",
            NoticeEvent::PipelineRed => "pipeline_red",
            NoticeEvent::DeployFailed => "deploy_failed",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::WatchFinding => "watch_finding",
        }
    }

    /// Words for people.
    pub fn headline(self) -> &'static str {
        match self {
            NoticeEvent::VerificationFailed => "verification failed",
            NoticeEvent::RolledBack => "rolled back",
            NoticeEvent::RollbackFailed => "rollback failed",
            NoticeEvent::Escalated => "escalated",
            NoticeEvent::PipelineRed => "pipeline stayed red",
            NoticeEvent::DeployFailed => "deploy failed",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::WatchFinding => "error watch",
        }
    }

    /// PagerDuty's severity: `critical` when nothing restored service by itself (the
    /// rollback failed, or the problem went past the automatic steps), `warning` for a
    /// watch finding (a verified deploy, judged again by the captain), else `error`.
    pub fn severity(self) -> &'static str {
        match self {
            NoticeEvent::RollbackFailed | NoticeEvent::Escalated => "critical",
            NoticeEvent::VerificationFailed
            | NoticeEvent::RolledBack
            | NoticeEvent::PipelineRed
            | NoticeEvent::DeployFailed
            | NoticeEvent::Resolved => "error",
            NoticeEvent::WatchFinding => "warning",
        }
    }
}

/// One notification. Strings may come from outside (Sentry titles, log lines); the
/// builders clean them.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub environment: String,
    pub sha: String,
    pub event: NoticeEvent,
    /// Why, in one line: the failed rule with its measured value and threshold.
    pub reason: String,
    /// Name and value pairs: measured, baseline, threshold, window, ...
    pub figures: Vec<(String, String)>,
    /// Lines of the failing job's log or of the new error, newlines kept.
    pub log_excerpt: Option<String>,
    /// Label and URL: the run, the deployment, the Sentry issue.
    pub links: Vec<(String, String)>,
    /// The same for every notice about one incident (PagerDuty groups and resolves by it).
    pub dedup_key: String,
    pub at: DateTime<Utc>,
}

impl Notice {
    /// One line: `prod: rolled back a1b2c3d4e5f6: error rate 3.1x the baseline`.
    pub fn summary(&self) -> String {
        sanitize(
            &format!(
                "{}: {} {}: {}",
                self.environment,
                self.event.headline(),
                short_sha(&self.sha),
                self.reason
            ),
            PAGERDUTY_SUMMARY_CHARS,
        )
    }
}

/// How hard [`deliver`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (0 counts as 1).
    pub attempts: u32,
    /// The wait after the first failed try; it doubles after each further one.
    pub first_backoff: Duration,
    /// Each try's limit, from connecting to the end of the answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.first_backoff.saturating_mul(1u32 << doublings)
    }
}

/// How one target's delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The target's name.
    pub target: String,
    pub ok: bool,
    /// Tries made; 0 when the notice could not be sent at all (e.g. no routing key).
    pub attempts: u32,
    /// Why the last try failed, sanitized and free of secrets.
    pub last_error: Option<String>,
}

/// Why a try failed. Messages name the target and never carry its secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("{target}: no PagerDuty routing key is set")]
    MissingRoutingKey { target: String },
    #[error("{target}: the URL is not valid")]
    InvalidUrl { target: String },
    #[error("{target}: answered {status}{detail}")]
    Status {
        target: String,
        status: u16,
        /// `: ` and the start of the answer's body, or empty.
        detail: String,
    },
    #[error("{target}: no answer within {}", humantime::format_duration(*.timeout))]
    Timeout { target: String, timeout: Duration },
    #[error("{target}: cannot connect: {reason}")]
    Connect { target: String, reason: String },
    #[error("{target}: the request failed: {reason}")]
    Transport { target: String, reason: String },
}

/// What to do after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    /// May work later: no connection, no answer, 429, 5xx.
    Retry,
    /// Will not work by trying again: the request itself is refused.
    GiveUp,
}

fn status_verdict(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Verdict::Retry
    } else {
        Verdict::GiveUp
    }
}

/// A failure before any answer: only a request that cannot be built is hopeless.
fn transport_verdict(error: &reqwest::Error) -> Verdict {
    if error.is_builder() {
        Verdict::GiveUp
    } else {
        Verdict::Retry
    }
}

/// The payload `target` takes for `notice`.
pub fn payload_for(target: &NotifierTarget, notice: &Notice) -> Result<Value, NotifyError> {
    match target.kind {
        NotifierKind::Slack => Ok(slack_payload(notice)),
        NotifierKind::Webhook => Ok(webhook_payload(notice)),
        NotifierKind::PagerDuty => match target.routing_key.as_deref() {
            Some(key) if !key.trim().is_empty() => Ok(pagerduty_payload(notice, key)),
            _ => Err(NotifyError::MissingRoutingKey {
                target: clean(&target.name, 80),
            }),
        },
    }
}

/// A Slack-compatible message: `text` (the fallback shown in notifications) and `blocks`:
/// a header, the environment, SHA, event and time, the reason, the figures, the log excerpt
/// in a code block, and the links.
pub fn slack_payload(notice: &Notice) -> Value {
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clean(
                    &format!(
                        "{}: {} {}",
                        notice.environment,
                        notice.event.headline(),
                        short_sha(&notice.sha)
                    ),
                    SLACK_HEADER_CHARS,
                ),
            },
        }),
        json!({
            "type": "section",
            "fields": [
                mrkdwn(&format!("*Environment*\n{}", escape(&clean(&notice.environment, 100)))),
                mrkdwn(&format!("*SHA*\n`{}`", escape(&clean(&notice.sha, 64)))),
                mrkdwn(&format!("*Event*\n{}", notice.event.headline())),
                mrkdwn(&format!("*At*\n{}", time_text(notice.at))),
            ],
        }),
        json!({
            "type": "section",
            "text": mrkdwn(&cut(
                &format!("*Reason*\n{}", escape(&clean(&notice.reason, REASON_CHARS))),
                SLACK_SECTION_CHARS,
            )),
        }),
    ];
    let figures: Vec<Value> = notice
        .figures
        .iter()
        .take(SLACK_FIGURES)
        .map(|(name, value)| {
            mrkdwn(&cut(
                &format!(
                    "*{}*\n{}",
                    escape(&clean(name, FIGURE_CHARS)),
                    escape(&clean(value, FIGURE_CHARS))
                ),
                SLACK_FIELD_CHARS,
            ))
        })
        .collect();
    for chunk in figures.chunks(SLACK_FIELDS) {
        blocks.push(json!({ "type": "section", "fields": chunk }));
    }
    if let Some(excerpt) = notice.log_excerpt.as_deref() {
        // Room for the heading and the fences; a fence inside would end the block early.
        let body = clean_block_with(excerpt, SLACK_SECTION_CHARS - 40, |line| {
            escape(&line.replace("```", "'''"))
        });
        if !body.trim().is_empty() {
            blocks.push(json!({
                "type": "section",
                "text": mrkdwn(&format!("*Log excerpt*\n```\n{body}\n```")),
            }));
        }
    }
    let links: Vec<String> = notice
        .links
        .iter()
        .filter_map(|(label, url)| {
            let url = link_url(url)?;
            Some(format!(
                "<{}|{}>",
                url.replace('|', "%7C"),
                escape(&clean(label, LINK_LABEL_CHARS)).replace('|', "/")
            ))
        })
        .collect();
    if !links.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(&cut(&format!("*Links*\n{}", links.join("  ·  ")), SLACK_SECTION_CHARS)),
        }));
    }
    json!({
        "text": cut(&escape(&notice.summary()), SLACK_SECTION_CHARS),
        "blocks": blocks,
    })
}

/// A PagerDuty Events v2 event: a `trigger` for every failure, a `resolve` (with the same
/// `dedup_key`) for [`NoticeEvent::Resolved`].
pub fn pagerduty_payload(notice: &Notice, routing_key: &str) -> Value {
    let dedup_key = clean(&notice.dedup_key, PAGERDUTY_DEDUP_CHARS);
    if notice.event == NoticeEvent::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let environment = clean(&notice.environment, 100);
    let links: Vec<Value> = notice
        .links
        .iter()
        .filter_map(|(label, url)| {
            Some(json!({ "href": link_url(url)?, "text": clean(label, LINK_LABEL_CHARS) }))
        })
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": "shipdeck",
        "payload": {
            "summary": notice.summary(),
            "source": format!("shipdeck/{environment}"),
            "severity": notice.event.severity(),
            "timestamp": notice.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "component": environment,
            "group": "deploys",
            "class": notice.event.as_str(),
            "custom_details": details(notice),
        },
        "links": links,
    })
}

/// The whole notice as plain JSON, for a generic webhook.
pub fn webhook_payload(notice: &Notice) -> Value {
    let mut body = details(notice);
    body.insert("source".to_string(), json!("shipdeck"));
    body.insert("summary".to_string(), json!(notice.summary()));
    body.insert(
        "dedup_key".to_string(),
        json!(clean(&notice.dedup_key, PAGERDUTY_DEDUP_CHARS)),
    );
    body.insert(
        "at".to_string(),
        json!(notice.at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    let figures: Vec<Value> = notice
        .figures
        .iter()
        .map(|(name, value)| {
            json!({ "name": clean(name, FIGURE_CHARS), "value": clean(value, FIGURE_CHARS) })
        })
        .collect();
    body.insert("figures".to_string(), Value::Array(figures));
    let links: Vec<Value> = notice
        .links
        .iter()
        .filter_map(|(label, url)| {
            Some(json!({ "label": clean(label, LINK_LABEL_CHARS), "url": link_url(url)? }))
        })
        .collect();
    body.insert("links".to_string(), Value::Array(links));
    Value::Object(body)
}

/// The notice's facts as an object: PagerDuty's `custom_details`, the webhook's base.
fn details(notice: &Notice) -> Map<String, Value> {
    let mut figures = Map::new();
    for (name, value) in &notice.figures {
        figures.insert(clean(name, FIGURE_CHARS), json!(clean(value, FIGURE_CHARS)));
    }
    let mut body = Map::new();
    body.insert(
        "environment".to_string(),
        json!(clean(&notice.environment, 100)),
    );
    body.insert("sha".to_string(), json!(clean(&notice.sha, 64)));
    body.insert("event".to_string(), json!(notice.event.as_str()));
    body.insert(
        "reason".to_string(),
        json!(clean(&notice.reason, REASON_CHARS)),
    );
    body.insert("figures".to_string(), Value::Object(figures));
    body.insert(
        "log_excerpt".to_string(),
        notice
            .log_excerpt
            .as_deref()
            .map(|text| json!(clean_block(text, DETAILS_EXCERPT_CHARS)))
            .unwrap_or(Value::Null),
    );
    body
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

/// Slack's mrkdwn gives `&`, `<` and `>` meaning; everything else is literal.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of outside text, safe and bounded.
fn clean(text: &str, max_chars: usize) -> String {
    sanitize(text, max_chars)
}

/// Several lines of outside text: each line cleaned on its own, so the lines stay lines; cut
/// at a line boundary with a marker when too long.
fn clean_block(text: &str, max_chars: usize) -> String {
    clean_block_with(text, max_chars, |line| line)
}

/// [`clean_block`] with `transform` applied to each cleaned line before it is measured.
fn clean_block_with(text: &str, max_chars: usize, transform: impl Fn(String) -> String) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    for line in text.lines() {
        let line = transform(sanitize(line, LINE_CHARS));
        let needed = line.chars().count() + usize::from(count > 0);
        // Leave room for the marker.
        if count + needed + 2 > max_chars {
            if count > 0 {
                out.push_str("\n…");
            }
            break;
        }
        if count > 0 {
            out.push('\n');
        }
        out.push_str(&line);
        count += needed;
    }
    out
}

/// Cuts to `max_chars` characters, for limits counted on the final text.
fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A link's URL when it is an http(s) URL; anything else is dropped rather than sent.
fn link_url(url: &str) -> Option<String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || url.chars().count() > LINK_URL_CHARS {
        return None;
    }
    Some(parsed.to_string())
}

fn short_sha(sha: &str) -> String {
    sanitize(sha.get(..12).unwrap_or(sha), 12)
}

fn time_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The URL reduced to scheme, host and port: Slack keeps its secret in the path, others in
/// the query.
fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("");
            match parsed.port() {
                Some(port) => format!("{}://{host}:{port}/…", parsed.scheme()),
                None => format!("{}://{host}/…", parsed.scheme()),
            }
        }
        Err(_) => "(not a valid URL)".to_string(),
    }
}

/// `text` without the target's secrets, safe to print.
fn scrub(text: &str, target: &NotifierTarget, max_chars: usize) -> String {
    let mut text = text.to_string();
    if !target.url.is_empty() {
        text = text.replace(&target.url, &redacted_url(&target.url));
    }
    if let Ok(parsed) = reqwest::Url::parse(&target.url) {
        if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
            text = text.replace(query, "***");
        }
        let path = parsed.path();
        if path.len() > 1 {
            text = text.replace(path, "/…");
        }
    }
    if let Some(key) = target.routing_key.as_deref().filter(|k| !k.is_empty()) {
        text = text.replace(key, "***");
    }
    sanitize(&text, max_chars)
}

/// The innermost cause of a transport error: reqwest's own message carries the full URL.
fn root_cause(error: &reqwest::Error) -> String {
    use std::error::Error;
    let Some(mut cause) = error.source() else {
        return "request failed".to_string();
    };
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The seconds of a `Retry-After` header (the HTTP-date form is not used by these services).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A try that did not deliver.
struct Failure {
    verdict: Verdict,
    error: NotifyError,
    /// What the service asked for in `Retry-After`.
    wait: Option<Duration>,
}

/// One try.
async fn send_once(
    client: &reqwest::Client,
    target: &NotifierTarget,
    body: &Value,
    timeout: Duration,
) -> Result<(), Failure> {
    let name = clean(&target.name, 80);
    let sent = client
        .post(&target.url)
        .timeout(timeout)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .json(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            let verdict = transport_verdict(&error);
            let reason = scrub(&root_cause(&error), target, ERROR_BODY_CHARS);
            let error = if error.is_builder() {
                NotifyError::InvalidUrl { target: name }
            } else if error.is_timeout() {
                NotifyError::Timeout {
                    target: name,
                    timeout,
                }
            } else if error.is_connect() {
                NotifyError::Connect {
                    target: name,
                    reason,
                }
            } else {
                NotifyError::Transport {
                    target: name,
                    reason,
                }
            };
            return Err(Failure {
                verdict,
                error,
                wait: None,
            });
        }
    };
    let status = response.status();
    let verdict = status_verdict(status);
    if verdict == Verdict::Delivered {
        return Ok(());
    }
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let text = scrub(text.trim(), target, ERROR_BODY_CHARS);
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    Err(Failure {
        verdict,
        error: NotifyError::Status {
            target: name,
            status: status.as_u16(),
            detail,
        },
        wait,
    })
}

/// Sends `notice` to `target`, trying again with exponential backoff while the failure may
/// pass. Never panics; the answer says how it went.
pub async fn deliver(
    client: &reqwest::Client,
    target: &NotifierTarget,
    notice: &Notice,
    retry: RetryPolicy,
) -> Delivery {
    let failed = |attempts: u32, error: &NotifyError| Delivery {
        target: target.name.clone(),
        ok: false,
        attempts,
        last_error: Some(error.to_string()),
    };
    let body = match payload_for(target, notice) {
        Ok(body) => body,
        Err(error) => return failed(0, &error),
    };
    let attempts = retry.attempts.max(1);
    let mut last_error = None;
    for attempt in 1..=attempts {
        let failure = match send_once(client, target, &body, retry.timeout).await {
            Ok(()) => {
                return Delivery {
                    target: target.name.clone(),
                    ok: true,
                    attempts: attempt,
                    last_error: None,
                };
            }
            Err(failure) => failure,
        };
        let error = failure.error;
        if failure.verdict != Verdict::Retry {
            tracing::warn!(notifier = %clean(&target.name, 80), attempt, %error, "notification refused");
            return failed(attempt, &error);
        }
        tracing::warn!(notifier = %clean(&target.name, 80), attempt, %error, "notification failed");
        last_error = Some(error);
        if attempt < attempts {
            let asked = failure.wait.unwrap_or_default().min(MAX_RETRY_AFTER);
            tokio::time::sleep(retry.backoff(attempt).max(asked)).await;
        }
    }
    Delivery {
        target: target.name.clone(),
        ok: false,
        attempts,
        last_error: last_error.map(|e| e.to_string()),
    }
}

/// Sends `notice` to every target at once; one [`Delivery`] per target, in their order.
pub async fn deliver_all(
    client: &reqwest::Client,
    targets: &[NotifierTarget],
    notice: &Notice,
    retry: RetryPolicy,
) -> Vec<Delivery> {
    futures::future::join_all(
        targets
            .iter()
            .map(|target| deliver(client, target, notice, retry)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345";

    fn notice(event: NoticeEvent) -> Notice {
        Notice {
            environment: "prod".to_string(),
            sha: SHA.to_string(),
            event,
            reason: "error rate 3.1x the baseline (p < 0.01) <script>".to_string(),
            figures: vec![
                ("measured".to_string(), "42 errors/min".to_string()),
                ("baseline".to_string(), "13.5 errors/min".to_string()),
                ("threshold".to_string(), "+50%".to_string()),
            ],
            log_excerpt: Some(
                "TypeError: cannot read 'id'\n\u{1b}[31m    at checkout.ts:41\n```oops".to_string(),
            ),
            links: vec![
                (
                    "Run".to_string(),
                    "https://github.com/acme/shop/actions/runs/1".to_string(),
                ),
                ("Evil".to_string(), "javascript:alert(1)".to_string()),
            ],
            dedup_key: "shipdeck/prod/3f9a1c2b7d4e".to_string(),
            at: DateTime::parse_from_rfc3339("2026-11-20T10:15:00Z")
                .map(|t| t.to_utc())
                .unwrap_or_default(),
        }
    }

    fn target(kind: NotifierKind, routing_key: Option<&str>) -> NotifierTarget {
        NotifierTarget {
            name: "ops".to_string(),
            kind,
            url: "https://hooks.example.com/services/T0/B0/s3cretpath?token=qsecret".to_string(),
            routing_key: routing_key.map(str::to_string),
        }
    }

    #[test]
    fn slack_payload_has_text_and_blocks_with_everything() {
        let body = slack_payload(&notice(NoticeEvent::RolledBack));
        let text = body["text"].as_str().unwrap_or("");
        assert!(text.contains("prod: rolled back 3f9a1c2b7d4e"), "{text}");
        assert!(text.contains("&lt;script&gt;"), "{text}");
        let blocks = body["blocks"].as_array().cloned().unwrap_or_default();
        assert_eq!(blocks[0]["type"], "header");
        let all = body.to_string();
        assert!(all.contains(SHA));
        assert!(all.contains("*measured*\\n42 errors/min"), "{all}");
        let excerpt = blocks
            .iter()
            .find_map(|b| {
                b["text"]["text"]
                    .as_str()
                    .filter(|t| t.starts_with("*Log excerpt*"))
            })
            .unwrap_or("");
        assert!(
            excerpt.contains(
                "```\nTypeError: cannot read 'id'\n[31m    at checkout.ts:41\n'''oops\n```"
            ),
            "{excerpt}"
        );
        assert!(!all.contains('\u{1b}'));
        assert!(
            all.contains("<https://github.com/acme/shop/actions/runs/1|Run>"),
            "{all}"
        );
        assert!(!all.contains("javascript:"), "{all}");
        for block in &blocks {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= SLACK_SECTION_CHARS);
            }
            if let Some(fields) = block["fields"].as_array() {
                assert!(fields.len() <= SLACK_FIELDS);
            }
        }
    }

    #[test]
    fn slack_payload_stays_within_slacks_limits_for_huge_input() {
        let mut big = notice(NoticeEvent::VerificationFailed);
        big.reason = "r".repeat(10_000);
        big.log_excerpt = Some("line of log\n".repeat(5_000));
        big.figures = (0..50)
            .map(|i| (format!("f{i}"), "v".repeat(3000)))
            .collect();
        big.environment = "e".repeat(500);
        let body = slack_payload(&big);
        let blocks = body["blocks"].as_array().cloned().unwrap_or_default();
        assert!(blocks.len() <= 50);
        assert!(
            blocks[0]["text"]["text"]
                .as_str()
                .unwrap_or("")
                .chars()
                .count()
                <= SLACK_HEADER_CHARS
        );
        for block in &blocks {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(
                    text.chars().count() <= SLACK_SECTION_CHARS,
                    "{}",
                    text.len()
                );
            }
            for field in block["fields"].as_array().into_iter().flatten() {
                assert!(field["text"].as_str().unwrap_or("").chars().count() <= SLACK_FIELD_CHARS);
            }
        }
        let excerpt = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("*Log excerpt*"))
            .unwrap_or("");
        assert!(
            excerpt.ends_with("…\n```"),
            "{}",
            &excerpt[excerpt.len().saturating_sub(40)..]
        );
    }

    #[test]
    fn pagerduty_triggers_failures_and_resolves_resolutions() {
        for event in [
            NoticeEvent::VerificationFailed,
            NoticeEvent::RolledBack,
            NoticeEvent::RollbackFailed,
            NoticeEvent::Escalated,
        ] {
            let body = pagerduty_payload(&notice(event), "R0UTINGKEY");
            assert_eq!(body["routing_key"], "R0UTINGKEY");
            assert_eq!(body["event_action"], "trigger");
            assert_eq!(body["dedup_key"], "shipdeck/prod/3f9a1c2b7d4e");
            assert_eq!(body["payload"]["source"], "shipdeck/prod");
            assert_eq!(body["payload"]["custom_details"]["sha"], SHA);
            assert_eq!(
                body["payload"]["custom_details"]["figures"]["baseline"],
                "13.5 errors/min"
            );
            assert_eq!(
                body["links"][0]["href"],
                "https://github.com/acme/shop/actions/runs/1"
            );
            assert_eq!(body["links"].as_array().map(Vec::len), Some(1));
            let expected = if matches!(event, NoticeEvent::RollbackFailed | NoticeEvent::Escalated)
            {
                "critical"
            } else {
                "error"
            };
            assert_eq!(body["payload"]["severity"], expected);
        }
        let watch = pagerduty_payload(&notice(NoticeEvent::WatchFinding), "K");
        assert_eq!(watch["event_action"], "trigger");
        assert_eq!(watch["payload"]["severity"], "warning");
        assert_eq!(NoticeEvent::WatchFinding.as_str(), "watch_finding");
        let resolved = pagerduty_payload(&notice(NoticeEvent::Resolved), "K");
        assert_eq!(
            resolved,
            json!({ "routing_key": "K", "event_action": "resolve", "dedup_key": "shipdeck/prod/3f9a1c2b7d4e" })
        );
    }

    #[test]
    fn pagerduty_summary_and_dedup_key_fit_pagerdutys_limits() {
        let mut long = notice(NoticeEvent::RolledBack);
        long.reason = "x".repeat(5_000);
        long.dedup_key = "k".repeat(1_000);
        let body = pagerduty_payload(&long, "K");
        let summary = body["payload"]["summary"].as_str().unwrap_or("");
        assert_eq!(summary.chars().count(), PAGERDUTY_SUMMARY_CHARS);
        assert!(body["dedup_key"].as_str().unwrap_or("").chars().count() <= PAGERDUTY_DEDUP_CHARS);
    }

    #[test]
    fn webhook_payload_carries_every_field() {
        let body = webhook_payload(&notice(NoticeEvent::Escalated));
        assert_eq!(body["environment"], "prod");
        assert_eq!(body["sha"], SHA);
        assert_eq!(body["event"], "escalated");
        assert_eq!(
            body["reason"],
            "error rate 3.1x the baseline (p < 0.01) <script>"
        );
        assert_eq!(
            body["figures"][2],
            json!({ "name": "threshold", "value": "+50%" })
        );
        assert_eq!(body["links"][0]["label"], "Run");
        assert_eq!(body["dedup_key"], "shipdeck/prod/3f9a1c2b7d4e");
        assert_eq!(body["at"], "2026-11-20T10:15:00Z");
        let excerpt = body["log_excerpt"].as_str().unwrap_or("");
        assert_eq!(excerpt.lines().count(), 3);
        assert!(!excerpt.contains('\u{1b}'));
        let mut without = notice(NoticeEvent::Escalated);
        without.log_excerpt = None;
        assert!(webhook_payload(&without)["log_excerpt"].is_null());
    }

    #[test]
    fn pagerduty_without_a_routing_key_is_an_error_that_names_the_target() {
        let error = payload_for(
            &target(NotifierKind::PagerDuty, None),
            &notice(NoticeEvent::RolledBack),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.starts_with("ops: "), "{error}");
        assert!(
            payload_for(
                &target(NotifierKind::PagerDuty, Some(" ")),
                &notice(NoticeEvent::RolledBack)
            )
            .is_err()
        );
        assert!(
            payload_for(
                &target(NotifierKind::Slack, None),
                &notice(NoticeEvent::RolledBack)
            )
            .is_ok()
        );
    }

    #[test]
    fn statuses_that_may_pass_are_retried_and_refusals_are_not() {
        for code in [200, 201, 202, 204] {
            assert_eq!(
                status_verdict(StatusCode::from_u16(code).unwrap_or_default()),
                Verdict::Delivered
            );
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                status_verdict(StatusCode::from_u16(code).unwrap_or_default()),
                Verdict::Retry,
                "{code}"
            );
        }
        for code in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(
                status_verdict(StatusCode::from_u16(code).unwrap_or_default()),
                Verdict::GiveUp,
                "{code}"
            );
        }
    }

    #[tokio::test]
    async fn unreachable_hosts_are_retried_and_bad_urls_are_not() {
        let client = reqwest::Client::new();
        let bad = client.post("not a url").send().await.err();
        assert_eq!(bad.as_ref().map(transport_verdict), Some(Verdict::GiveUp));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").ok();
        let port = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .unwrap_or(9);
        drop(listener);
        let refused = client
            .post(format!("http://127.0.0.1:{port}/x"))
            .send()
            .await
            .err();
        assert_eq!(
            refused.as_ref().map(transport_verdict),
            Some(Verdict::Retry)
        );
        assert!(refused.is_some_and(|e| e.is_connect()));
    }

    #[test]
    fn backoff_doubles_from_the_first_wait() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.attempts, 4);
        assert_eq!(policy.timeout, Duration::from_secs(10));
        assert_eq!(policy.backoff(1), Duration::from_secs(1));
        assert_eq!(policy.backoff(2), Duration::from_secs(2));
        assert_eq!(policy.backoff(3), Duration::from_secs(4));
        assert!(policy.backoff(u32::MAX) >= policy.backoff(17));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let target = target(NotifierKind::PagerDuty, Some("R0UTINGKEY"));
        let debug = format!("{target:?}");
        assert!(!debug.contains("R0UTINGKEY"), "{debug}");
        assert!(!debug.contains("s3cretpath"), "{debug}");
        assert!(!debug.contains("qsecret"), "{debug}");
        assert!(debug.contains("hooks.example.com"), "{debug}");
        let scrubbed = scrub(
            "error for https://hooks.example.com/services/T0/B0/s3cretpath?token=qsecret key R0UTINGKEY \u{1b}[0m",
            &target,
            200,
        );
        for secret in ["s3cretpath", "qsecret", "R0UTINGKEY", "\u{1b}"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
    }
}
