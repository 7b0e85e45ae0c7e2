//! The GitHub client against a tiny local server: conditional requests reuse the cached body
//! on 304, rate-limit figures are read, a rate-limit answer says when to retry, and the token
//! never shows in an error.

use crate::support::engine::serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use shipdeck::config::Secret;
use shipdeck::sources::SourceError;
use shipdeck::sources::github::GithubClient;

const BRANCH: &str = r#"{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
  "commit":{"message":"Add checkout\n\nbody","author":{"name":"Ada","date":"2026-01-01T10:00:00Z"}}}}"#;

#[tokio::test]
async fn repeat_reads_use_etags_and_count_304s() {
    let full_answers = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&full_answers);
    let router = Router::new().route(
        "/repos/acme/shop/branches/main",
        get(move |headers: HeaderMap| {
            let counter = Arc::clone(&counter);
            async move {
                let rate = [
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "4321"),
                    ("x-ratelimit-reset", "1800000000"),
                    ("etag", "\"v1\""),
                ];
                let authorized = headers
                    .get("authorization")
                    .is_some_and(|v| v == "Bearer t0ken");
                if !authorized {
                    return (StatusCode::UNAUTHORIZED, rate, String::new()).into_response();
                }
                if headers.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
                    return (StatusCode::NOT_MODIFIED, rate, String::new()).into_response();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::OK, rate, BRANCH.to_string()).into_response()
            }
        }),
    );
    let url = serve(router).await;
    let client = GithubClient::new(&url, "acme/shop", Some(&Secret::new("t0ken"))).unwrap();
    let first = client.branch_head("main").await.unwrap();
    let second = client.branch_head("main").await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.subject.as_str(), "Add checkout");
    assert_eq!(full_answers.load(Ordering::SeqCst), 1);
    assert_eq!(client.not_modified_count(), 1);
    let limit = client.rate_limit().unwrap();
    assert_eq!((limit.limit, limit.remaining), (5000, 4321));
}

#[tokio::test]
async fn secondary_rate_limit_reports_retry_after_without_the_token() {
    let router = Router::new().route(
        "/repos/acme/shop/branches/main",
        get(|| async {
            (
                StatusCode::FORBIDDEN,
                [("retry-after", "42")],
                r#"{"message":"You have exceeded a secondary rate limit"}"#,
            )
        }),
    );
    let url = serve(router).await;
    let client = GithubClient::new(&url, "acme/shop", Some(&Secret::new("s3cret"))).unwrap();
    let error = client.branch_head("main").await.unwrap_err();
    assert!(matches!(error, SourceError::RateLimited { .. }), "{error}");
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(42))
    );
    assert!(!error.to_string().contains("s3cret"));
}

#[tokio::test]
async fn server_errors_and_closed_ports_are_described() {
    let router = Router::new().route(
        "/repos/acme/shop/branches/main",
        get(|| async {
            (
                StatusCode::BAD_GATEWAY,
                r#"{"message":"upstream \u001b[31mdown"}"#,
            )
        }),
    );
    let url = serve(router).await;
    let client = GithubClient::new(&url, "acme/shop", None).unwrap();
    let error = client.branch_head("main").await.unwrap_err().to_string();
    assert_eq!(error, "GitHub answered 502: upstream [31mdown");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = GithubClient::new(&closed, "acme/shop", Some(&Secret::new("s3cret"))).unwrap();
    let error = client.branch_head("main").await.unwrap_err().to_string();
    assert!(error.contains("connection refused"), "{error}");
    assert!(!error.contains("s3cret"));
}
