//! One app per environment, answering the default smoke checks
//! (`config::defaults::DEFAULT_SMOKE`) under `/{environment}`, plus a background-job API a
//! flow check can drive (`POST /api/jobs`, poll `GET /api/jobs/{id}` until done, `DELETE` it).
//! Healthy, except that staging's e-mail health is degraded now and then (scenario-driven),
//! and that a defective commit misbehaves while it runs where defects show: a
//! `slow_endpoint` commit makes `POST /api/auth/session` slow, a `failing_flow` commit leaves
//! jobs queued for good.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use super::scenario::DefectKind;
use super::world::{AppJob, AppJobStatus, World, short_sha};

/// How long `POST /api/auth/session` takes while a `slow_endpoint` commit runs: clearly over
/// the default smoke check's 800 ms budget (`config::defaults::max_latency`), well under its
/// 5 s timeout, so the check fails on latency rather than timing out.
pub const SLOW_SESSION_MS: (u64, u64) = (900, 1600);

/// How long the app takes to answer (real time: smoke checks measure the wall clock). Each
/// endpoint has its own typical range, as real dependencies do (the AI endpoint is slow, the
/// health probe quick); drawn from the seed per environment, endpoint and world minute.
pub fn latency(world: &World, segments: &[&str]) -> Duration {
    let slow_session = || {
        segments.first().is_some_and(|environment| {
            world.defect_showing(environment, world.now) == Some(DefectKind::SlowEndpoint)
        })
    };
    let (low, high) = match segments.get(1..).unwrap_or_default() {
        ["healthz"] => (2, 15),
        ["api", "auth", "session"] if slow_session() => SLOW_SESSION_MS,
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

/// A background job as the job API shows it.
fn job_json(job: &AppJob, now: chrono::DateTime<chrono::Utc>) -> Value {
    let status = job.status(now);
    let result = match status {
        AppJobStatus::Done => json!({ "ok": true, "processed": 1 }),
        _ => Value::Null,
    };
    json!({ "id": job.id, "status": status.as_str(), "result": result })
}

/// The answer to one app request. Takes the world mutably: the job API creates and forgets
/// jobs. A `204` answer's body is `null` and is not sent.
pub fn answer(world: &mut World, method: &Method, segments: &[&str]) -> (StatusCode, Value) {
    let not_found = (StatusCode::NOT_FOUND, json!({ "error": "not found" }));
    let Some((environment, rest)) = segments.split_first() else {
        return not_found;
    };
    if !world.topology.contains(environment) {
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
        ("POST", ["api", "jobs"]) => {
            let job = world.create_app_job(environment);
            return (StatusCode::CREATED, job_json(&job, now));
        }
        ("GET" | "HEAD", ["api", "jobs", id]) => match world.app_job(environment, id) {
            Some(job) => job_json(job, now),
            None => return not_found,
        },
        ("DELETE", ["api", "jobs", id]) => {
            if world.delete_app_job(environment, id) {
                return (StatusCode::NO_CONTENT, Value::Null);
            }
            return not_found;
        }
        _ => return not_found,
    };
    (StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::super::scenario::Scenario;
    use super::super::world::testing::{deploy_now, prod_running, start};
    use super::*;

    fn millis(world: &World, path: &str) -> u128 {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        latency(world, &segments).as_millis()
    }

    #[test]
    fn a_slow_endpoint_commit_makes_the_session_slower_than_its_budget() {
        let (mut world, good, _) = prod_running(DefectKind::SlowEndpoint);
        for _ in 0..20 {
            let session = millis(&world, "/prod/api/auth/session");
            assert!((900..=1600).contains(&session), "{session} ms");
            assert!(millis(&world, "/prod/healthz") <= 15);
            assert!(millis(&world, "/staging/api/auth/session") <= 110);
            world.advance_to(world.now + TimeDelta::minutes(1));
        }
        deploy_now(&mut world, "prod", &good);
        for _ in 0..20 {
            assert!(millis(&world, "/prod/api/auth/session") <= 110);
            world.advance_to(world.now + TimeDelta::minutes(1));
        }
    }

    fn call(world: &mut World, method: Method, path: &str) -> (StatusCode, Value) {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        answer(world, &method, &segments)
    }

    #[test]
    fn a_job_is_done_two_seconds_after_it_was_queued_then_deleted() {
        let mut world = World::new(Scenario::default_demo(), start());
        let (status, created) = call(&mut world, Method::POST, "/dev/api/jobs");
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            created,
            json!({ "id": "job-1", "status": "queued", "result": null })
        );
        let (status, body) = call(&mut world, Method::GET, "/dev/api/jobs/job-1");
        assert_eq!(
            (status, body["status"].clone()),
            (StatusCode::OK, json!("queued"))
        );
        let queued_at = world.now;
        world.advance_to(queued_at + TimeDelta::milliseconds(1500));
        let (_, body) = call(&mut world, Method::GET, "/dev/api/jobs/job-1");
        assert_eq!(body["status"], "running");
        assert!(body["result"].is_null());
        world.advance_to(queued_at + TimeDelta::seconds(2));
        let (_, body) = call(&mut world, Method::GET, "/dev/api/jobs/job-1");
        assert_eq!(body["status"], "done");
        assert_eq!(body["result"]["ok"], true);

        assert_eq!(
            call(&mut world, Method::GET, "/prod/api/jobs/job-1").0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&mut world, Method::GET, "/dev/api/jobs/job-9").0,
            StatusCode::NOT_FOUND
        );
        let (status, body) = call(&mut world, Method::DELETE, "/dev/api/jobs/job-1");
        assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
        assert_eq!(
            call(&mut world, Method::GET, "/dev/api/jobs/job-1").0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&mut world, Method::DELETE, "/dev/api/jobs/job-1").0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn jobs_stay_queued_while_a_failing_flow_commit_runs() {
        let (mut world, good, _) = prod_running(DefectKind::FailingFlow);
        let (_, stuck) = call(&mut world, Method::POST, "/prod/api/jobs");
        let (_, fine) = call(&mut world, Method::POST, "/staging/api/jobs");
        world.advance_to(world.now + TimeDelta::minutes(10));
        let path =
            |env: &str, job: &Value| format!("/{env}/api/jobs/{}", job["id"].as_str().unwrap());
        let (_, body) = call(&mut world, Method::GET, &path("prod", &stuck));
        assert_eq!(body["status"], "queued");
        let (_, body) = call(&mut world, Method::GET, &path("staging", &fine));
        assert_eq!(body["status"], "done", "staging does not show defects");

        deploy_now(&mut world, "prod", &good);
        let (_, after) = call(&mut world, Method::POST, "/prod/api/jobs");
        world.advance_to(world.now + TimeDelta::seconds(2));
        let (_, body) = call(&mut world, Method::GET, &path("prod", &after));
        assert_eq!(body["status"], "done", "the good commit's worker runs jobs");
        let (_, body) = call(&mut world, Method::GET, &path("prod", &stuck));
        assert_eq!(
            body["status"], "queued",
            "a job the broken worker lost stays lost"
        );
    }
}
