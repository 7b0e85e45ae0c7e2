//! One app per environment, answering the default smoke checks
//! (`config::defaults::DEFAULT_SMOKE`) under `/{environment}`. Healthy, except that staging's
//! e-mail health is degraded now and then (scenario-driven), so a failing check shows up.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::world::{ENVIRONMENTS, World, short_sha};

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
