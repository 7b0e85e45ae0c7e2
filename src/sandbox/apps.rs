//! One app per environment, answering the default smoke checks
//! (`config::defaults::DEFAULT_SMOKE`) under `/{environment}`. Healthy, except that staging's
//! e-mail health is degraded now and then (scenario-driven), so a failing check shows up.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::world::{ENVIRONMENTS, World, short_sha};

/// How long the app takes to answer (real time: smoke checks measure the wall clock). Each
/// endpoint has its own typical range, as real dependencies do (the AI endpoint is slow, the
/// health probe quick); drawn from the seed per environment, endpoint and world minute.
pub fn latency(world: &World, segments: &[&str]) -> Duration {
    let (low, high) = match segments.get(1..).unwrap_or_default() {
        ["healthz"] => (2, 15),
        ["api", "auth", "session"] => (30, 110),
        ["api", "db", "ping"] => (8, 35),
        ["api", "files", "probe"] => (12, 45),
        ["api", "ai", "health"] => (150, 520),
        ["api", "email", "health"] => (15, 60),
        ["api", "payments", "health"] => (60, 210),
        _ => (1, 5),
    };
    let key = format!("{}:{}", segments.join("/"), world.now.timestamp() / 60);
    let mut hash = 0u64;
    for byte in key.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(u64::from(byte));
    }
    let mut rng = world.rng(b"app-latency", hash);
    Duration::from_millis(rng.random_range(low..=high))
}

pub fn answer(world: &World, method: &Method, segments: &[&str]) -> (StatusCode, Value) {
    let not_found = (StatusCode::NOT_FOUND, json!({ "error": "not found" }));
    let Some((environment, rest)) = segments.split_first() else {
        return not_found;
    };
    if !ENVIRONMENTS.iter().any(|(name, _, _)| name == environment) {
        return not_found;
    }
    let version = world
        .deployed_sha(environment)
        .map(|sha| short_sha(&sha).to_string());
    let now = world.now;
    let body = match (method.as_str(), rest) {
        ("GET" | "HEAD", ["healthz"]) => json!({
            "status": "ok",
            "environment": environment,
            "version": version,
        }),
        ("POST", ["api", "auth", "session"]) => json!({
            "authenticated": true,
            "user": "shipdeck-smoke",
            "expires_in": 900,
        }),
        ("GET", ["api", "db", "ping"]) => json!({ "ok": true, "latency_ms": 3 }),
        ("GET", ["api", "files", "probe"]) => json!({ "readable": true, "writable": true }),
        ("GET", ["api", "ai", "health"]) => json!({ "status": "ok", "model": "shop-recs-v3" }),
        ("GET", ["api", "email", "health"]) => {
            if world.email_degraded(environment, now) {
                json!({ "status": "degraded", "reason": "SMTP relay queue above 500 messages" })
            } else {
                json!({ "status": "ok", "queue": 4 })
            }
        }
        ("GET", ["api", "payments", "health"]) => json!({ "status": "ok", "provider": "stripe" }),
        _ => return not_found,
    };
    (StatusCode::OK, body)
}
