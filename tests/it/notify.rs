//! Notifications and issue filing against a sandbox over real HTTP: each notifier kind is
//! delivered to the sandbox's receivers with the SHA and the reason, a notifier that is down
//! is retried and reported without holding up the others, secrets stay out of errors, the
//! LLM stand-in diagnoses a log, and filing an issue twice files it once.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use shipdeck::actions::github::{GithubWriter, WriteError};
use shipdeck::actions::notify::{
    Delivery, Notice, NoticeEvent, NotifierKind, NotifierTarget, RetryPolicy, deliver, deliver_all,
};
use shipdeck::config::Secret;
use shipdeck::sandbox::{FaultEffect, FaultRule, Sandbox};

use crate::support::sandbox::start_sandbox;

const SHA: &str = "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d";
const REASON: &str = "error rate 3.2x the pre-deploy baseline (41 vs 12.8 errors/min, p < 0.01)";
const ROUTING_KEY: &str = "R0UTINGKEYabcdef0123456789abcdef";

fn notice(event: NoticeEvent) -> Notice {
    Notice {
        environment: "prod".to_string(),
        sha: SHA.to_string(),
        event,
        reason: REASON.to_string(),
        figures: vec![
            ("measured".to_string(), "41 errors/min".to_string()),
            ("baseline".to_string(), "12.8 errors/min".to_string()),
            ("window".to_string(), "15m".to_string()),
        ],
        log_excerpt: Some(
            "GET /checkout 500\nTypeError: Cannot read properties of undefined (reading 'id')"
                .to_string(),
        ),
        links: vec![
            (
                "Run".to_string(),
                "https://github.com/acme/shop/actions/runs/9400000001".to_string(),
            ),
            (
                "Sentry".to_string(),
                "https://acme.sentry.io/issues/4501/".to_string(),
            ),
        ],
        dedup_key: format!("shipdeck/prod/{}", &SHA[..12]),
        at: Utc::now(),
    }
}

fn target(name: &str, kind: NotifierKind, url: String) -> NotifierTarget {
    NotifierTarget {
        name: name.to_string(),
        kind,
        url,
        routing_key: (kind == NotifierKind::PagerDuty).then(|| ROUTING_KEY.to_string()),
    }
}

fn fast(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        first_backoff: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    }
}

fn by_name<'a>(deliveries: &'a [Delivery], name: &str) -> &'a Delivery {
    deliveries
        .iter()
        .find(|d| d.target == name)
        .unwrap_or_else(|| panic!("no delivery for {name}: {deliveries:?}"))
}

#[tokio::test]
async fn slack_pagerduty_and_webhook_are_each_delivered_with_the_sha_and_reason() {
    let sandbox = start_sandbox().await;
    let base = sandbox.hooks_url();
    let targets = [
        target(
            "slack",
            NotifierKind::Slack,
            format!("{base}/_hooks/slack/T000/B000/XXXX"),
        ),
        target(
            "pagerduty",
            NotifierKind::PagerDuty,
            format!("{base}/_pagerduty/v2/enqueue"),
        ),
        target("mail", NotifierKind::Webhook, format!("{base}/_hooks/mail")),
    ];
    let client = reqwest::Client::new();
    let deliveries =
        deliver_all(&client, &targets, &notice(NoticeEvent::RolledBack), fast(3)).await;
    assert_eq!(deliveries.len(), 3);
    for delivery in &deliveries {
        assert!(delivery.ok, "{delivery:?}");
        assert_eq!(delivery.attempts, 1, "{delivery:?}");
        assert_eq!(delivery.last_error, None);
    }

    let slack = sandbox.received("/_hooks/slack");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0].content_type.as_deref(), Some("application/json"));
    let body = slack[0].body.to_string();
    assert!(body.contains(SHA), "{body}");
    assert!(body.contains("error rate 3.2x"), "{body}");
    assert!(slack[0].body["text"].is_string());
    assert!(slack[0].body["blocks"].is_array());

    let pagerduty = sandbox.received("/_pagerduty");
    assert_eq!(pagerduty.len(), 1);
    let event = &pagerduty[0].body;
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["routing_key"], ROUTING_KEY);
    assert_eq!(event["payload"]["custom_details"]["sha"], SHA);
    assert_eq!(event["payload"]["custom_details"]["reason"], REASON);
    assert!(
        event["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&SHA[..12]) && s.contains("error rate"))
    );

    let mail = sandbox.received("/_hooks/mail");
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].body["sha"], SHA);
    assert_eq!(mail[0].body["reason"], REASON);
    assert_eq!(mail[0].body["event"], "rolled_back");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_resolution_resolves_the_pagerduty_alert_by_its_dedup_key() {
    let sandbox = start_sandbox().await;
    let pagerduty = target(
        "pagerduty",
        NotifierKind::PagerDuty,
        format!("{}/_pagerduty/v2/enqueue", sandbox.hooks_url()),
    );
    let client = reqwest::Client::new();
    for event in [NoticeEvent::RolledBack, NoticeEvent::Resolved] {
        let delivery = deliver(&client, &pagerduty, &notice(event), fast(2)).await;
        assert!(delivery.ok, "{delivery:?}");
    }
    let events = sandbox.received("/_pagerduty/v2/enqueue");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].body["event_action"], "resolve");
    assert_eq!(events[1].body["dedup_key"], events[0].body["dedup_key"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_failing_notifier_is_retried_every_attempt_and_reported_not_ok() {
    let sandbox = start_sandbox().await;
    let base = sandbox.hooks_url();
    let targets = [
        target(
            "broken-hook",
            NotifierKind::Webhook,
            format!("{base}/_hooks/failing"),
        ),
        target("slack", NotifierKind::Slack, format!("{base}/_hooks/slack")),
    ];
    let client = reqwest::Client::new();
    let deliveries = deliver_all(
        &client,
        &targets,
        &notice(NoticeEvent::RollbackFailed),
        fast(3),
    )
    .await;
    let broken = by_name(&deliveries, "broken-hook");
    assert!(!broken.ok);
    assert_eq!(broken.attempts, 3);
    let error = broken.last_error.as_deref().unwrap_or("");
    assert!(error.starts_with("broken-hook: "), "{error}");
    assert!(error.contains("500"), "{error}");
    assert!(!error.contains("/_hooks/failing"), "{error}");
    assert_eq!(sandbox.received("/_hooks/failing").len(), 3);

    let slack = by_name(&deliveries, "slack");
    assert!(slack.ok, "{slack:?}");
    assert_eq!(slack.attempts, 1);
    assert_eq!(sandbox.received("/_hooks/slack").len(), 1);
    sandbox.shutdown().await;
}

/// Polls (world time does not matter here) until `what` holds, for at most `limit`.
async fn eventually(limit: Duration, what: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    what()
}

#[tokio::test]
async fn a_notifier_waiting_to_retry_holds_up_none_of_the_others() {
    let sandbox = start_sandbox().await;
    let base = sandbox.hooks_url();
    let targets = vec![
        target(
            "broken-hook",
            NotifierKind::Webhook,
            format!("{base}/_hooks/failing"),
        ),
        target("slack", NotifierKind::Slack, format!("{base}/_hooks/slack")),
        target(
            "pagerduty",
            NotifierKind::PagerDuty,
            format!("{base}/_pagerduty/v2/enqueue"),
        ),
    ];
    // The failing target waits a minute before its second try: everything else must have
    // arrived long before it.
    let slow = RetryPolicy {
        attempts: 2,
        first_backoff: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
    };
    let sending = tokio::spawn(async move {
        deliver_all(
            &reqwest::Client::new(),
            &targets,
            &notice(NoticeEvent::RolledBack),
            slow,
        )
        .await
    });
    let others_arrived = eventually(Duration::from_secs(20), || {
        sandbox.received("/_hooks/slack").len() == 1 && sandbox.received("/_pagerduty").len() == 1
    })
    .await;
    assert!(others_arrived, "{:?}", sandbox.received("/"));
    assert_eq!(sandbox.received("/_hooks/failing").len(), 1);
    assert!(!sending.is_finished());
    sending.abort();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unreachable_and_refusing_notifiers_say_why_without_their_secrets() {
    let sandbox = start_sandbox().await;
    let client = reqwest::Client::new();

    // A port nobody listens on: connection refused, retried every attempt.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = NotifierTarget {
        name: "pager".to_string(),
        kind: NotifierKind::PagerDuty,
        url: format!("http://127.0.0.1:{port}/v2/enqueue?secret=qs3cret"),
        routing_key: Some(ROUTING_KEY.to_string()),
    };
    let delivery = deliver(
        &client,
        &unreachable,
        &notice(NoticeEvent::Escalated),
        fast(3),
    )
    .await;
    assert!(!delivery.ok);
    assert_eq!(delivery.attempts, 3);
    let error = delivery.last_error.unwrap_or_default();
    assert!(error.starts_with("pager: "), "{error}");
    for secret in ["qs3cret", ROUTING_KEY, "/v2/enqueue"] {
        assert!(!error.contains(secret), "{error}");
    }

    // PagerDuty refuses an event without a routing key (here a plain webhook body sent to
    // it): a 400 is not retried.
    let wrong_kind = NotifierTarget {
        routing_key: None,
        ..target(
            "pd",
            NotifierKind::Webhook,
            format!("{}/_pagerduty/v2/enqueue", sandbox.hooks_url()),
        )
    };
    let delivery = deliver(
        &client,
        &wrong_kind,
        &notice(NoticeEvent::RolledBack),
        fast(3),
    )
    .await;
    assert!(!delivery.ok);
    assert_eq!(delivery.attempts, 1);
    let error = delivery.last_error.unwrap_or_default();
    assert!(error.contains("400"), "{error}");
    assert!(error.contains("routing_key"), "{error}");

    // No routing key configured: nothing is sent at all.
    let no_key = NotifierTarget {
        routing_key: None,
        ..target(
            "pd",
            NotifierKind::PagerDuty,
            format!("{}/_pagerduty/v2/enqueue", sandbox.hooks_url()),
        )
    };
    let before = sandbox.received("/_pagerduty").len();
    let delivery = deliver(&client, &no_key, &notice(NoticeEvent::RolledBack), fast(3)).await;
    assert!(!delivery.ok);
    assert_eq!(delivery.attempts, 0);
    assert_eq!(sandbox.received("/_pagerduty").len(), before);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_llm_stand_in_answers_like_openai_with_a_diagnosis() {
    let sandbox = start_sandbox().await;
    let url = format!("{}/_llm/v1/chat/completions", sandbox.hooks_url());
    let request = json!({
        "model": "gpt-4o-mini",
        "messages": [
            { "role": "system", "content": "You diagnose failed CI jobs in two sentences." },
            { "role": "user", "content": "Run eslint\n  src/cart.ts:12:5  error  'total' is never reassigned  prefer-const\n1 problem" },
        ],
    });
    let client = reqwest::Client::new();
    let refused = client.post(&url).json(&request).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let answer = client
        .post(&url)
        .bearer_auth("sk-sandbox")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert!(
        body["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let content = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    assert!(content.contains("src/cart.ts:12:5"), "{content}");
    assert!(content.contains("Next step"), "{content}");
    assert_eq!(sandbox.received("/_llm").len(), 2);
    sandbox.shutdown().await;
}

fn writer(sandbox: &Sandbox) -> GithubWriter {
    GithubWriter::new(
        &sandbox.github_api_url(),
        sandbox.repo(),
        &Secret::new("ghp_notifyTestToken0123456789abcdef01234"),
        Duration::from_secs(5),
    )
    .unwrap()
}

async fn open_issues(sandbox: &Sandbox, query: &str) -> Vec<Value> {
    let url = format!(
        "{}/repos/acme/shop/issues?{query}",
        sandbox.github_api_url()
    );
    let body: Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth("demo-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_issue_is_filed_once_per_title() {
    let sandbox = start_sandbox().await;
    let writer = writer(&sandbox);
    let labels = vec!["shipdeck".to_string(), "rollback".to_string()];
    let title = format!(
        "prod rolled back {}: error rate 3.2x the baseline",
        &SHA[..12]
    );
    let body =
        "Diagnosis: TypeError in checkout.\n\nRun: https://github.com/acme/shop/actions/runs/1";

    let first = writer.file_issue_once(&title, body, &labels).await.unwrap();
    assert!(first.created);
    assert!(
        first.url.ends_with(&format!("/issues/{}", first.number)),
        "{first:?}"
    );
    let writes = sandbox.write_count();

    let second = writer.file_issue_once(&title, body, &labels).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.number, first.number);
    assert_eq!(second.url, first.url);
    assert_eq!(
        sandbox.write_count(),
        writes,
        "a found issue is not written again"
    );
    assert_eq!(open_issues(&sandbox, "labels=shipdeck").await.len(), 1);

    let other_title = format!("prod rolled back {}: new error type", &SHA[..12]);
    let third = writer
        .file_issue_once(&other_title, body, &labels)
        .await
        .unwrap();
    assert!(third.created);
    assert_ne!(third.number, first.number);

    let listed = open_issues(&sandbox, "state=open&labels=shipdeck,rollback").await;
    assert_eq!(listed.len(), 2);
    // Newest first, with the labels and body as filed.
    assert_eq!(listed[0]["number"], third.number);
    assert_eq!(listed[1]["title"], title.as_str());
    assert_eq!(listed[1]["body"], body);
    assert_eq!(listed[1]["labels"][1]["name"], "rollback");
    assert!(open_issues(&sandbox, "labels=other").await.is_empty());
    assert!(open_issues(&sandbox, "state=closed").await.is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn issue_filing_needs_a_token_and_a_title() {
    let sandbox = start_sandbox().await;
    let url = format!("{}/repos/acme/shop/issues", sandbox.github_api_url());
    let client = reqwest::Client::new();
    let anonymous = client
        .post(&url)
        .json(&json!({ "title": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let untitled = client
        .post(&url)
        .bearer_auth("demo-token")
        .json(&json!({ "body": "no title" }))
        .send()
        .await
        .unwrap();
    assert_eq!(untitled.status(), 422);
    assert!(open_issues(&sandbox, "state=all").await.is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_issue_filed_before_a_timeout_is_found_on_the_next_call() {
    let sandbox = start_sandbox().await;
    let writer = GithubWriter::new(
        &sandbox.github_api_url(),
        sandbox.repo(),
        &Secret::new("ghp_notifyTestToken0123456789abcdef01234"),
        Duration::from_millis(500),
    )
    .unwrap();
    let labels = vec!["shipdeck".to_string()];
    let title = format!("staging verification failed {}", &SHA[..12]);
    sandbox
        .faults()
        .add(FaultRule::new("POST", "/repos/*/*/issues", FaultEffect::TimeoutAfterApply).nth(1));
    let error = writer
        .file_issue_once(&title, "body", &labels)
        .await
        .unwrap_err();
    assert_eq!(error, WriteError::Timeout);
    assert!(error.is_ambiguous());
    let again = writer
        .file_issue_once(&title, "body", &labels)
        .await
        .unwrap();
    assert!(!again.created, "{again:?}");
    assert_eq!(open_issues(&sandbox, "state=all").await.len(), 1);

    sandbox.faults().add(
        FaultRule::new(
            "POST",
            "/repos/*/*/issues",
            FaultEffect::ServerError { status: 502 },
        )
        .nth(1),
    );
    let error = writer
        .file_issue_once("another", "body", &labels)
        .await
        .unwrap_err();
    assert!(
        matches!(error, WriteError::Server { status: 502, .. }),
        "{error:?}"
    );
    sandbox.shutdown().await;
}
