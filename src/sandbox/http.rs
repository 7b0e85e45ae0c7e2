//! The sandbox's HTTP edge: one axum fallback handler per service that advances the world to
//! the clock's time, checks the token, routes, and adds what the real services add around a
//! body: GitHub's `ETag`/304, `x-ratelimit-*` and `Link` headers, JSON error bodies. Every
//! request is recorded for tests and benchmarks, and GitHub writes are counted.
//!
//! Routing is a match on path segments (method first): reads go to `github::get`, writes
//! (with their JSON body) to `github::write`. The fault plan is consulted before either.
//! The GitHub listener also serves the signed log URLs that `.../jobs/{id}/logs` redirects
//! to (`/_blobs/...`): like GitHub's blob storage they need no token, do not count against
//! the rate limit and are outside the fault plan; they are recorded like any request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::faults::{FaultEffect, Faults};
use super::world::World;
use super::{RecordedRequest, Service, apps, github, receivers, sentry};
use crate::clock::Clock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Requests remembered by default (`Scenario::requests_kept`); older ones fall off so a long
/// demo does not grow.
pub const MAX_RECORDED_REQUESTS: usize = 20_000;

/// What every handler shares.
pub(crate) struct Shared {
    pub world: Mutex<World>,
    pub clock: Clock,
    /// The most recent requests, at most `requests_kept`.
    pub requests: Mutex<VecDeque<RecordedRequest>>,
    pub requests_kept: usize,
    pub faults: Faults,
    /// The fault plan of the Sentry side (its own: the paths are not GitHub's).
    pub sentry_faults: Faults,
    /// Non-GET GitHub requests received, ever.
    pub writes: AtomicUsize,
    /// Becomes `true` when the sandbox stops: ends requests left hanging by a fault.
    pub stopped: tokio::sync::watch::Receiver<bool>,
    /// What the notification and LLM stand-ins were sent.
    pub received: receivers::Received,
}

impl Shared {
    /// Locks the world after bringing it up to the clock's time.
    pub(crate) fn world_now(&self) -> MutexGuard<'_, World> {
        let mut world = lock(&self.world);
        world.advance_to(self.clock.now());
        world
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The query string as ordered pairs (a key may repeat, e.g. Sentry's `project`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn with(&self, key: &str, value: String) -> String {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != key)
            .cloned()
            .collect();
        pairs.push((key.to_string(), value));
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex_value = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One page of a list, as GitHub paginates (`per_page` up to 100, `page` from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: usize,
    pub per_page: usize,
    pub last: usize,
}

impl Page {
    pub fn slice<T>(items: Vec<T>, query: &Query) -> (Vec<T>, Page) {
        let per_page = query
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let items = items
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        (
            items,
            Page {
                page,
                per_page,
                last,
            },
        )
    }

    /// The `Link` header GitHub sends, or nothing for a single page.
    pub fn link_header(&self, base: &str, query: &Query) -> Option<String> {
        if self.last <= 1 {
            return None;
        }
        let url = |page: usize| format!("<{base}?{}>", query.with("page", page.to_string()));
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(format!("{}; rel=\"prev\"", url(self.page - 1)));
        }
        if self.page < self.last {
            links.push(format!("{}; rel=\"next\"", url(self.page + 1)));
            links.push(format!("{}; rel=\"last\"", url(self.last)));
        }
        if self.page > 1 {
            links.push(format!("{}; rel=\"first\"", url(1)));
        }
        Some(links.join(", "))
    }
}

/// The errors the routes answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    NotFound,
    BranchNotFound,
    NoCommit,
    Unauthorized,
    RateLimited,
    BadRequest(String),
    /// 422 with GitHub's message.
    Unprocessable(String),
    /// 409 with GitHub's message.
    Conflict(String),
    /// 405 with GitHub's message.
    MethodNotAllowed(String),
    /// 403 with GitHub's message (e.g. re-running a run that is still running).
    Forbidden(String),
}

impl ApiError {
    fn github(&self) -> (StatusCode, Value) {
        let docs = "https://docs.github.com/rest";
        let (status, message) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "Not Found".to_string()),
            ApiError::BranchNotFound => (StatusCode::NOT_FOUND, "Branch not found".to_string()),
            ApiError::NoCommit => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "No commit found for SHA".to_string(),
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "Bad credentials".to_string()),
            ApiError::RateLimited => (
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for user. Wait until the reset time.".to_string(),
            ),
            ApiError::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason.clone()),
            ApiError::Unprocessable(reason) => (StatusCode::UNPROCESSABLE_ENTITY, reason.clone()),
            ApiError::Conflict(reason) => (StatusCode::CONFLICT, reason.clone()),
            ApiError::MethodNotAllowed(reason) => (StatusCode::METHOD_NOT_ALLOWED, reason.clone()),
            ApiError::Forbidden(reason) => (StatusCode::FORBIDDEN, reason.clone()),
        };
        (
            status,
            json!({
                "message": message,
                "documentation_url": docs,
                "status": status.as_u16().to_string(),
            }),
        )
    }

    fn sentry(&self) -> (StatusCode, Value) {
        let (status, detail) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.".to_string(),
            ),
            ApiError::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason.clone()),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "You are attempting to use this endpoint too frequently.".to_string(),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "The requested resource does not exist".to_string(),
            ),
        };
        (status, json!({ "detail": detail }))
    }
}

fn has_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        })
        .is_some_and(|token| !token.trim().is_empty())
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}

fn record(
    shared: &Shared,
    service: Service,
    method: &Method,
    uri: &axum::http::Uri,
    response: &Response,
) {
    let status = response.status().as_u16();
    let mut requests = lock(&shared.requests);
    while requests.len() >= shared.requests_kept {
        requests.pop_front();
    }
    requests.push_back(RecordedRequest {
        service,
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        status,
        not_modified: status == 304,
    });
}

/// GitHub: fault plan, auth, route, ETag/304, rate limit, Link.
pub(crate) async fn github_handler(
    State(shared): State<Arc<Shared>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path().starts_with("/_blobs/") {
        let response = blob_answer(&shared, &parts.method, &parts.uri);
        record(
            &shared,
            Service::Github,
            &parts.method,
            &parts.uri,
            &response,
        );
        return response;
    }
    let is_write = parts.method != Method::GET && parts.method != Method::HEAD;
    if is_write {
        shared.writes.fetch_add(1, Ordering::SeqCst);
    }
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let effect = shared
        .faults
        .effect_for(parts.method.as_str(), parts.uri.path());
    let response = {
        let mut world = shared.world_now();
        match &effect {
            Some(FaultEffect::TimeoutAfterApply) | None => {
                github_answer(&mut world, &parts.method, &parts.uri, &parts.headers, &body)
            }
            Some(FaultEffect::TimeoutBeforeApply) => {
                json_response(StatusCode::GATEWAY_TIMEOUT, to_bytes(&json!({})))
            }
            Some(effect) => fault_answer(&mut world, effect),
        }
    };
    record(
        &shared,
        Service::Github,
        &parts.method,
        &parts.uri,
        &response,
    );
    if matches!(
        effect,
        Some(FaultEffect::TimeoutAfterApply | FaultEffect::TimeoutBeforeApply)
    ) {
        // Applied, never answered: the client's timeout is the only way out. The hang ends
        // with the sandbox, so no task outlives it.
        let mut stopped = shared.stopped.clone();
        let _ = stopped.wait_for(|stop| *stop).await;
    }
    response
}

/// A signed log URL: the log as text, or the blob store's XML error.
fn blob_answer(shared: &Shared, method: &Method, uri: &axum::http::Uri) -> Response {
    let answer = if *method == Method::GET || *method == Method::HEAD {
        let world = shared.world_now();
        github::blob(&world, &segments(uri.path()), &Query::parse(uri.query()))
    } else {
        Err(github::BlobError::Forbidden)
    };
    let (status, content_type, body) = match answer {
        Ok(log) => (StatusCode::OK, "text/plain; charset=utf-8", log),
        Err(error) => {
            let (status, code, message) = match error {
                github::BlobError::NotFound => (
                    StatusCode::NOT_FOUND,
                    "BlobNotFound",
                    "The specified blob does not exist.",
                ),
                github::BlobError::Forbidden => (
                    StatusCode::FORBIDDEN,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. The signature is invalid or has expired.",
                ),
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            );
            (status, "application/xml", body)
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The answer a fault gives in place of the real one (nothing is applied).
fn fault_answer(world: &mut World, effect: &FaultEffect) -> Response {
    let error = |status: StatusCode, message: &str| {
        let body = json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        });
        json_response(status, to_bytes(&body))
    };
    let mut response = match effect {
        FaultEffect::ServerError { status } => {
            let status = StatusCode::from_u16(*status)
                .ok()
                .filter(|s| s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            error(status, "Server Error")
        }
        FaultEffect::RateLimited => error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user. Wait until the reset time.",
        ),
        FaultEffect::RetryAfter { .. } => error(
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ),
        FaultEffect::Conflict409 => error(StatusCode::CONFLICT, "Conflict"),
        FaultEffect::MalformedBody
        | FaultEffect::TimeoutAfterApply
        | FaultEffect::TimeoutBeforeApply => {
            json_response(StatusCode::OK, b"{\"message\": \"truncat".to_vec())
        }
    };
    world.rate_limit.used += 1;
    let headers = response.headers_mut();
    add_rate_headers(headers, &world.rate_limit);
    match effect {
        FaultEffect::RateLimited => {
            insert(headers, "x-ratelimit-remaining", "0".to_string());
            insert(
                headers,
                "x-ratelimit-used",
                world.rate_limit.limit.to_string(),
            );
        }
        FaultEffect::RetryAfter { seconds } => insert(headers, "retry-after", seconds.to_string()),
        _ => {}
    }
    response
}

fn add_rate_headers(headers_out: &mut HeaderMap, rate: &super::world::RateLimit) {
    insert(headers_out, "x-ratelimit-limit", rate.limit.to_string());
    insert(
        headers_out,
        "x-ratelimit-remaining",
        rate.remaining().to_string(),
    );
    insert(headers_out, "x-ratelimit-used", rate.used.to_string());
    insert(
        headers_out,
        "x-ratelimit-reset",
        rate.reset_at.timestamp().to_string(),
    );
    insert(headers_out, "x-ratelimit-resource", "core".to_string());
    insert(
        headers_out,
        "x-github-api-version-selected",
        "2022-11-28".to_string(),
    );
}

fn github_answer(
    world: &mut World,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let api = format!("http://{host}");
    let query = Query::parse(uri.query());
    let path_segments = segments(uri.path());

    let result = if !has_token(headers) {
        Err(ApiError::Unauthorized)
    } else if world.rate_limit.remaining() == 0 && path_segments != ["rate_limit"] {
        Err(ApiError::RateLimited)
    } else if *method == Method::GET || *method == Method::HEAD {
        github::get(world, &api, &path_segments, &query)
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(request) => github::write(world, &api, method, &path_segments, &request),
            Err(_) if body.is_empty() => {
                github::write(world, &api, method, &path_segments, &json!({}))
            }
            Err(_) => Err(ApiError::BadRequest("Problems parsing JSON".to_string())),
        }
    };

    let (status, body, page, counts, location) = match result {
        Ok(answer) => (
            answer.status,
            answer.body,
            answer.page,
            answer.counts,
            answer.location,
        ),
        Err(error) => {
            let (status, body) = error.github();
            // Unauthenticated requests are counted elsewhere by GitHub, not on this token.
            (status, body, None, error != ApiError::Unauthorized, None)
        }
    };
    let bytes = to_bytes(&body);
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let matches_etag = status == StatusCode::OK
        && *method == Method::GET
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|wanted| {
                wanted
                    .split(',')
                    .map(|tag| tag.trim().trim_start_matches("W/"))
                    .any(|tag| tag == etag || tag == "*")
            });

    let mut response = if matches_etag {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else if status == StatusCode::NO_CONTENT {
        world.rate_limit.used += 1;
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        response
    } else if let Some(location) = location {
        world.rate_limit.used += 1;
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        insert(response.headers_mut(), "location", location);
        response
    } else {
        if counts {
            world.rate_limit.used += 1;
        }
        json_response(status, bytes)
    };
    let rate = &world.rate_limit;
    let headers_out = response.headers_mut();
    if status == StatusCode::OK && (*method == Method::GET || *method == Method::HEAD) {
        insert(headers_out, "etag", etag);
        insert(
            headers_out,
            "cache-control",
            "private, max-age=60, s-maxage=60".to_string(),
        );
        if let Some(link) =
            page.and_then(|p| p.link_header(&format!("{api}{}", uri.path()), &query))
        {
            insert(headers_out, "link", link);
        }
    }
    add_rate_headers(headers_out, rate);
    response
}

/// Sentry: auth and route.
pub(crate) async fn sentry_handler(
    State(shared): State<Arc<Shared>>,
    request: Request,
) -> Response {
    let (parts, _body) = request.into_parts();
    let effect = shared
        .sentry_faults
        .effect_for(parts.method.as_str(), parts.uri.path());
    let response = if let Some(effect) = &effect {
        sentry_fault_answer(effect)
    } else {
        let world = shared.world_now();
        let query = Query::parse(parts.uri.query());
        let result = if !has_token(&parts.headers) {
            Err(ApiError::Unauthorized)
        } else if parts.method == Method::GET {
            sentry::get(&world, &segments(parts.uri.path()), &query)
        } else {
            Err(ApiError::NotFound)
        };
        match result {
            Ok(body) => json_response(StatusCode::OK, to_bytes(&body)),
            Err(error) => {
                let (status, body) = error.sentry();
                json_response(status, to_bytes(&body))
            }
        }
    };
    record(
        &shared,
        Service::Sentry,
        &parts.method,
        &parts.uri,
        &response,
    );
    if matches!(
        effect,
        Some(FaultEffect::TimeoutAfterApply | FaultEffect::TimeoutBeforeApply)
    ) {
        // Never answered, like GitHub's hang: the client's timeout is the way out.
        let mut stopped = shared.stopped.clone();
        let _ = stopped.wait_for(|stop| *stop).await;
    }
    response
}

/// Sentry's answer under a fault: its error JSON (`detail`); a 429 carries `retry-after`.
fn sentry_fault_answer(effect: &FaultEffect) -> Response {
    let (status, detail) = match effect {
        FaultEffect::ServerError { status } => (
            StatusCode::from_u16(*status)
                .ok()
                .filter(|s| s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            "Internal Error",
        ),
        FaultEffect::RateLimited | FaultEffect::RetryAfter { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "You are attempting to use this endpoint too frequently.",
        ),
        FaultEffect::Conflict409 => (StatusCode::CONFLICT, "Conflict"),
        FaultEffect::MalformedBody
        | FaultEffect::TimeoutAfterApply
        | FaultEffect::TimeoutBeforeApply => {
            return json_response(StatusCode::OK, b"{\"detail\": \"trunc".to_vec());
        }
    };
    let mut response = json_response(status, to_bytes(&json!({ "detail": detail })));
    if let FaultEffect::RetryAfter { seconds } = effect {
        insert(response.headers_mut(), "retry-after", seconds.to_string());
    }
    response
}

/// The apps: smoke-check endpoints under `/{environment}`, and the receivers under their
/// own prefixes (`receivers.rs`).
pub(crate) async fn apps_handler(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if receivers::handles(parts.uri.path()) {
        let body = axum::body::to_bytes(body, receivers::MAX_BODY_BYTES)
            .await
            .ok();
        let response = receivers::answer(
            &shared.received,
            shared.clock.now(),
            &parts.method,
            parts.uri.path(),
            &parts.headers,
            body.as_deref(),
        );
        record(&shared, Service::App, &parts.method, &parts.uri, &response);
        return response;
    }
    let path = segments(parts.uri.path());
    let (response, delay) = {
        let mut world = shared.world_now();
        let (status, body) = apps::answer(&mut world, &parts.method, &path);
        let response = if status == StatusCode::NO_CONTENT {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            response
        } else {
            json_response(status, to_bytes(&body))
        };
        (response, apps::latency(&world, &path))
    };
    // Outside the world's lock: a slow answer holds up nothing else.
    tokio::time::sleep(delay).await;
    record(&shared, Service::App, &parts.method, &parts.uri, &response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_links() {
        let items: Vec<Value> = (0..45).map(|i| json!(i)).collect();
        let query = Query::parse(Some("branch=main&per_page=20&page=2"));
        let (slice, page) = Page::slice(items, &query);
        assert_eq!(slice.first(), Some(&json!(20)));
        assert_eq!(slice.len(), 20);
        assert_eq!(page.last, 3);
        let link = page.link_header("http://h/x", &query).unwrap();
        assert!(link.contains("<http://h/x?branch=main&per_page=20&page=3>; rel=\"next\""));
        assert!(link.contains("page=3>; rel=\"last\""));
        assert!(link.contains("page=1>; rel=\"prev\""));
    }

    #[test]
    fn query_decodes_and_repeats() {
        let query = Query::parse(Some(
            "query=is%3Aunresolved+firstSeen%3A-15m&project=1&project=2&x=",
        ));
        assert_eq!(query.get("query"), Some("is:unresolved firstSeen:-15m"));
        assert_eq!(query.get_all("project").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(query.get("x"), None);
    }
}
