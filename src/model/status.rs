//! The document printed by `shipdeck status --json`: a stable, documented shape for scripts
//! and cron jobs, built from a [`Snapshot`]. Fields are only ever added, never renamed or
//! removed; `schema_version` changes if that promise is ever broken.
//!
//! ```text
//! {"schema_version": 1, "generated_at": ISO-8601, "title": "...",
//!  "environments": [{
//!    "name", "branch",
//!    "deployed": {"sha", "subject", "author", "at"} | null,
//!    "services": [{"name", "github_environment", "sha", "state", "at", "lagging"}],
//!      (state: GitHub's deployment state word: `success`, `in_progress`, `failure`, ...)
//!    "pipeline": {"sha", "status", "run_id", "elapsed_s", "target_s", "alarm_s",
//!                 "stages": [{"name", "status", "elapsed_s", "target_s"}]} | null,
//!    "smoke": [{"name", "ok", "latency_ms", "detail"}],
//!    "errors": {"per_minute": [{"minute", "count"}], "current_per_minute",
//!               "baseline_per_minute", "new_types": [{"title", "first_seen", "count"}],
//!               "source_age_s"},
//!    "sources": {"deployments"|"pipeline"|"smoke"|"errors"|"history":
//!                {"age_s", "failing", "error"}},
//!    "verification": {"sha", "deployment_id", "deployed_at", "window_ends", "time_left_s",
//!                     "phase", "reason", "auto_rollback", "baseline_per_minute",
//!                     "signals": [{"signal", "state", "measured", "baseline", "threshold",
//!                                  "reason"}],
//!                     "watch": {"ends", "findings": [{"id", "title", "first_seen",
//!                                                     "count"}]} | null} | null,
//!      (phase: `deploying`, `verifying`, `verified`, `failed`, `not_enough_data`;
//!       state: `pass`, `fail`, `not_enough_data`; `watch` is the error watch after the
//!       window, `null` without `[environment.verify] watch`: it is on from `window_ends`
//!       to `ends`, and its findings are the new error types first seen in that time)
//!    "guard": {"rollbacks_in_a_row", "max_rollbacks", "escalated",
//!              "last": {"at", "kind", "sha", "to_sha", "reason"} | null,
//!              "deliveries": [{"target", "ok", "attempts", "error"}], "issue"},
//!    "delivery": {"window_days", "computed_at", "since", "complete", "deploys", "per_day",
//!                 "lead_time_median_s", "lead_time_p90_s", "lead_times", "attempts",
//!                 "failed", "rolled_back", "change_failure_rate",
//!                 "time_to_restore_median_s", "restores", "restoring_since", "rollbacks",
//!                 "pending"} | null,
//!      (definitions: `engine::delivery`; `change_failure_rate` from 0 to 1)
//!    "promotion": {"source", "sha", "allowed",
//!                  "gates": [{"gate", "state", "measured", "threshold", "reason"}]} | null,
//!      (the next promotion into this environment; `null` for the first of the chain;
//!       gate: `ci_green`, `smoke`, `soak`, `freeze`, `lock`, ...; state: `pass`, `fail`,
//!       `unknown`)
//!    "lock": {"holder", "since", "action_id"} | null,
//!    "auto": {"state", ...} | null,
//!      (`null` unless the environment promotes by itself; state and its fields:
//!       `promote` {"sha"}, `promoting` {"sha"},
//!       `wait` {"sha", "waiting_for": [text], "soak_until"},
//!       `needs_human` {"sha", "reason"}, `held` {"hold": {"by", "reason", "since"}},
//!       `already_tried` {"sha", "outcome"})
//!  }]}
//! ```
//!
//! Statuses are lower-case words: `queued`, `running`, `passed`, `failed`, `skipped`,
//! `unknown`. Times are ISO-8601 UTC; durations are whole seconds; unknown values are `null`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{
    AutoDecision, DeployStatus, EnvironmentSnapshot, GateKind, GateState, GuardView, LockView,
    SafeText, Snapshot, SourceHealth, SourceKind, TriageView, VerificationView,
    pipeline::RunStatus,
};

use super::DeliveryFigures;

pub const SCHEMA_VERSION: u32 = 1;

/// Minutes of error history included per environment.
pub const ERROR_MINUTES: i64 = 60;

#[derive(Debug, Serialize)]
pub struct StatusDocument {
    pub schema_version: u32,
    pub generated_at: String,
    pub title: SafeText,
    pub environments: Vec<EnvironmentStatus>,
}

#[derive(Debug, Serialize)]
pub struct EnvironmentStatus {
    pub name: SafeText,
    pub branch: SafeText,
    pub deployed: Option<DeployedStatus>,
    pub services: Vec<ServiceStatus>,
    pub pipeline: Option<PipelineStatus>,
    pub smoke: Vec<SmokeStatus>,
    pub errors: ErrorsStatus,
    pub sources: SourcesStatus,
    pub verification: Option<VerificationStatus>,
    pub guard: GuardView,
    /// The failed CI jobs of the branch head: diagnosis, tier, next step, re-run offer.
    pub triage: Option<TriageView>,
    /// Delivery figures over the last 30 days, as of the latest read of the history.
    pub delivery: Option<DeliveryFigures>,
    /// The next promotion into this environment and its gates.
    pub promotion: Option<PromotionStatus>,
    pub lock: Option<LockView>,
    /// What auto-promotion does here (absent unless the environment promotes by itself).
    pub auto: Option<AutoDecision>,
}

/// The next promotion into an environment, as its gates judge it now.
#[derive(Debug, Serialize)]
pub struct PromotionStatus {
    pub source: Option<SafeText>,
    pub sha: Option<String>,
    pub allowed: bool,
    pub gates: Vec<GateStatus>,
}

#[derive(Debug, Serialize)]
pub struct GateStatus {
    pub gate: GateKind,
    pub state: GateState,
    pub measured: SafeText,
    pub threshold: SafeText,
    pub reason: SafeText,
}

/// The running deploy's verification, with the time left when the document was made.
#[derive(Debug, Serialize)]
pub struct VerificationStatus {
    #[serde(flatten)]
    pub view: VerificationView,
    pub time_left_s: u64,
}

#[derive(Debug, Serialize)]
pub struct DeployedStatus {
    pub sha: String,
    pub subject: SafeText,
    pub author: SafeText,
    pub at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub name: SafeText,
    pub github_environment: SafeText,
    pub sha: Option<String>,
    pub state: DeployStatus,
    pub at: Option<String>,
    pub lagging: bool,
}

#[derive(Debug, Serialize)]
pub struct PipelineStatus {
    pub sha: String,
    pub status: RunStatus,
    pub run_id: u64,
    pub elapsed_s: Option<u64>,
    pub target_s: u64,
    pub alarm_s: u64,
    pub stages: Vec<StageStatus>,
}

#[derive(Debug, Serialize)]
pub struct StageStatus {
    pub name: SafeText,
    pub status: RunStatus,
    pub elapsed_s: Option<u64>,
    pub target_s: u64,
}

#[derive(Debug, Serialize)]
pub struct SmokeStatus {
    pub name: SafeText,
    pub ok: bool,
    pub latency_ms: Option<u64>,
    pub detail: SafeText,
}

#[derive(Debug, Serialize)]
pub struct MinuteCount {
    pub minute: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct NewTypeStatus {
    pub title: SafeText,
    pub first_seen: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct ErrorsStatus {
    pub per_minute: Vec<MinuteCount>,
    pub current_per_minute: Option<u64>,
    pub baseline_per_minute: Option<f64>,
    pub new_types: Vec<NewTypeStatus>,
    pub source_age_s: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct SourceStatus {
    pub age_s: Option<u64>,
    pub failing: bool,
    pub error: Option<SafeText>,
}

#[derive(Debug, Serialize)]
pub struct SourcesStatus {
    pub deployments: SourceStatus,
    pub pipeline: SourceStatus,
    pub smoke: SourceStatus,
    pub errors: SourceStatus,
    pub history: SourceStatus,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn source_status(health: &SourceHealth, now: DateTime<Utc>) -> SourceStatus {
    SourceStatus {
        age_s: health.age(now).map(|d| d.as_secs()),
        failing: health.is_failing(),
        error: health.last_error.as_ref().map(|(_, e)| e.clone()),
    }
}

impl StatusDocument {
    /// Builds the document; ages and elapsed times are measured against `now`.
    pub fn from_snapshot(snapshot: &Snapshot, now: DateTime<Utc>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            generated_at: iso(now),
            title: snapshot.title.clone(),
            environments: snapshot
                .environments
                .iter()
                .map(|env| environment_status(env, now))
                .collect(),
        }
    }
}

fn environment_status(env: &EnvironmentSnapshot, now: DateTime<Utc>) -> EnvironmentStatus {
    let lagging: Vec<&SafeText> = env.lagging_services().iter().map(|s| &s.name).collect();
    EnvironmentStatus {
        name: env.name.clone(),
        branch: env.branch.clone(),
        deployed: env.deployed().map(|c| DeployedStatus {
            sha: c.sha.clone(),
            subject: c.subject.clone(),
            author: c.author.clone(),
            at: c.at.map(iso),
        }),
        services: env
            .services
            .iter()
            .map(|s| ServiceStatus {
                name: s.name.clone(),
                github_environment: s.github_environment.clone(),
                sha: s.running_sha().map(str::to_string),
                state: s
                    .latest
                    .as_ref()
                    .map_or(DeployStatus::Unknown, |d| d.status),
                at: s.last_success.as_ref().and_then(|d| d.at).map(iso),
                lagging: lagging.contains(&&s.name),
            })
            .collect(),
        pipeline: env.pipeline.as_ref().map(|p| PipelineStatus {
            sha: p.sha.clone(),
            status: p.status,
            run_id: p.run_id,
            elapsed_s: p.elapsed(now).map(|d| d.as_secs()),
            target_s: p.total_target.as_secs(),
            alarm_s: p.alarm_after.as_secs(),
            stages: p
                .stages
                .iter()
                .map(|s| StageStatus {
                    name: s.name.clone(),
                    status: s.status,
                    elapsed_s: s.elapsed(now).map(|d| d.as_secs()),
                    target_s: s.target.as_secs(),
                })
                .collect(),
        }),
        smoke: env
            .smoke
            .iter()
            .map(|s| SmokeStatus {
                name: s.name.clone(),
                ok: s.ok,
                latency_ms: s.latency_ms,
                detail: s.detail.clone(),
            })
            .collect(),
        errors: ErrorsStatus {
            per_minute: env
                .errors
                .recent(now, ERROR_MINUTES)
                .into_iter()
                .map(|b| MinuteCount {
                    minute: iso(b.minute),
                    count: b.count,
                })
                .collect(),
            current_per_minute: env.errors.current_per_minute(),
            baseline_per_minute: env.errors.baseline_per_minute,
            new_types: env
                .errors
                .new_types
                .iter()
                .map(|t| NewTypeStatus {
                    title: t.title.clone(),
                    first_seen: iso(t.first_seen),
                    count: t.count,
                })
                .collect(),
            source_age_s: env
                .health
                .get(SourceKind::Errors)
                .age(now)
                .map(|d| d.as_secs()),
        },
        sources: SourcesStatus {
            deployments: source_status(&env.health.deployments, now),
            pipeline: source_status(&env.health.pipeline, now),
            smoke: source_status(&env.health.smoke, now),
            errors: source_status(&env.health.errors, now),
            history: source_status(&env.health.history, now),
        },
        verification: env.verification.as_ref().map(|view| VerificationStatus {
            time_left_s: view.time_left(now).as_secs(),
            view: view.clone(),
        }),
        guard: env.guard.clone(),
        triage: env.triage.clone(),
        delivery: env.delivery.clone(),
        promotion: env
            .release
            .promotion
            .as_ref()
            .map(|preview| PromotionStatus {
                source: preview.source.clone(),
                sha: preview.sha.clone(),
                allowed: preview.allowed(),
                gates: preview
                    .gates
                    .gates
                    .iter()
                    .map(|g| GateStatus {
                        gate: g.kind,
                        state: g.state,
                        measured: g.measured.clone(),
                        threshold: g.threshold.clone(),
                        reason: g.reason.clone(),
                    })
                    .collect(),
            }),
        lock: env.release.lock.clone(),
        auto: env.release.auto.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;

    use super::*;
    use crate::model::{
        CommitInfo, DeployState, EnvironmentHealth, ErrorBucket, ErrorSeries, PipelineState,
        ServiceState, SmokeResult, StageState,
    };

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn service(name: &str, sha: &str) -> ServiceState {
        let deploy = DeployState {
            deployment_id: 1,
            sha: sha.to_string(),
            status: DeployStatus::Success,
            at: Some(now() - TimeDelta::minutes(30)),
            creator: None,
            description: None,
        };
        ServiceState {
            name: name.into(),
            github_environment: name.into(),
            latest: Some(deploy.clone()),
            last_success: Some(deploy),
            commit: Some(CommitInfo {
                sha: sha.to_string(),
                subject: "fix \x1b[2Jcheckout".into(),
                author: "Dana".into(),
                at: Some(now() - TimeDelta::hours(1)),
            }),
        }
    }

    fn snapshot() -> Snapshot {
        let mut errors = ErrorSeries::new();
        for m in 0..90 {
            errors.merge([ErrorBucket {
                minute: now() - TimeDelta::minutes(89 - m),
                count: 3,
            }]);
        }
        errors.baseline_per_minute = Some(2.5);
        let mut health = EnvironmentHealth::default();
        health.errors.last_success = Some(now() - TimeDelta::seconds(12));
        health.smoke.failures_in_a_row = 2;
        health.smoke.last_error = Some((now(), "connection refused".into()));
        let stage = StageState {
            name: "Lint+Format".into(),
            status: RunStatus::Running,
            started_at: Some(now() - TimeDelta::seconds(25)),
            completed_at: None,
            target: Duration::from_secs(20),
            jobs: vec![],
        };
        Snapshot {
            version: 3,
            taken_at: now(),
            title: "acme/shop".into(),
            rate_limit: None,
            environments: vec![EnvironmentSnapshot {
                name: "prod".into(),
                branch: "prod".into(),
                url: "https://shop.example".into(),
                head: None,
                services: vec![
                    service("web", &"a".repeat(40)),
                    service("worker", &"b".repeat(40)),
                ],
                pipeline: Some(PipelineState {
                    run_id: 77,
                    run_number: 5,
                    run_attempt: 1,
                    sha: "a".repeat(40),
                    status: RunStatus::Running,
                    html_url: None,
                    started_at: Some(now() - TimeDelta::seconds(60)),
                    completed_at: None,
                    stages: vec![stage],
                    unmapped_jobs: vec![],
                    total_target: Duration::from_secs(420),
                    alarm_after: Duration::from_secs(600),
                }),
                smoke: vec![SmokeResult {
                    name: "health".into(),
                    ok: false,
                    latency_ms: Some(12),
                    detail: "status 503, expected 200".into(),
                    checked_at: now(),
                }],
                errors,
                health,
                release: Default::default(),
                verification: None,
                guard: Default::default(),
                triage: None,
                delivery: None,
            }],
            log: Vec::new(),
            audit: Vec::new(),
        }
    }

    #[test]
    fn document_has_the_documented_shape() {
        let doc = StatusDocument::from_snapshot(&snapshot(), now());
        let json = serde_json::to_value(&doc).unwrap();
        let env = &json["environments"][0];
        assert_eq!(env["name"], "prod");
        assert_eq!(env["deployed"]["sha"], "a".repeat(40));
        assert_eq!(env["deployed"]["subject"], "fix [2Jcheckout");
        assert_eq!(env["deployed"]["author"], "Dana");
        assert_eq!(env["deployed"]["at"], "2026-11-20T11:00:00Z");
        assert_eq!(env["pipeline"]["status"], "running");
        assert_eq!(env["pipeline"]["elapsed_s"], 60);
        assert_eq!(env["pipeline"]["stages"][0]["name"], "Lint+Format");
        assert_eq!(env["pipeline"]["stages"][0]["elapsed_s"], 25);
        assert_eq!(env["pipeline"]["stages"][0]["target_s"], 20);
        assert_eq!(env["smoke"][0]["ok"], false);
        assert_eq!(env["smoke"][0]["detail"], "status 503, expected 200");
        assert_eq!(env["errors"]["per_minute"].as_array().unwrap().len(), 60);
        assert_eq!(env["errors"]["per_minute"][0]["count"], 3);
        assert_eq!(env["errors"]["baseline_per_minute"], 2.5);
        assert_eq!(env["errors"]["source_age_s"], 12);
        assert_eq!(env["sources"]["smoke"]["failing"], true);
        assert_eq!(env["sources"]["smoke"]["error"], "connection refused");
        assert_eq!(env["services"][1]["lagging"], true);
        assert_eq!(env["services"][0]["lagging"], false);
        assert_eq!(env["services"][0]["state"], "success");
    }

    #[test]
    fn the_verification_carries_the_watch_end_and_its_findings() {
        use crate::model::{VerificationPhase, WatchFinding, WatchView};
        let mut snapshot = snapshot();
        let deployed_at = now() - TimeDelta::hours(36);
        snapshot.environments[0].verification = Some(VerificationView {
            sha: "a".repeat(40),
            deployment_id: 9,
            deployed_at,
            window_ends: deployed_at + TimeDelta::minutes(15),
            phase: VerificationPhase::Verified,
            signals: Vec::new(),
            reason: "verified".into(),
            auto_rollback: true,
            baseline_per_minute: None,
            watch: Some(WatchView {
                ends: deployed_at + TimeDelta::hours(48),
                findings: vec![WatchFinding {
                    id: "5900".into(),
                    title: "TypeError: x\u{1b}[2J".into(),
                    first_seen: now() - TimeDelta::minutes(30),
                    count: 12,
                }],
            }),
        });
        let doc = StatusDocument::from_snapshot(&snapshot, now());
        let json = serde_json::to_value(&doc).unwrap();
        let watch = &json["environments"][0]["verification"]["watch"];
        assert_eq!(watch["ends"], "2026-11-21T00:00:00Z");
        assert_eq!(watch["findings"][0]["id"], "5900");
        assert_eq!(watch["findings"][0]["title"], "TypeError: x[2J");
        assert_eq!(watch["findings"][0]["count"], 12);
        assert_eq!(watch["findings"][0]["first_seen"], "2026-11-20T11:30:00Z");
    }
}

#[cfg(test)]
mod delivery_tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::model::{DeliveryHistory, DeliveryOutcome, DeliveryRecord};

    #[test]
    fn delivery_figures_and_the_history_source_are_in_the_document() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .to_utc();
        let record = |id: u64, hours_ago: i64, rollback: bool| DeliveryRecord {
            deployment_id: id,
            sha: format!("{id:040x}"),
            created_at: now - TimeDelta::hours(hours_ago),
            outcome: DeliveryOutcome::Succeeded {
                at: now - TimeDelta::hours(hours_ago) + TimeDelta::minutes(10),
            },
            marked_rollback: rollback,
            commit_at: Some(now - TimeDelta::hours(hours_ago + 1)),
            committed_at: Some(now - TimeDelta::hours(hours_ago + 1)),
        };
        let history = DeliveryHistory {
            records: vec![
                record(1, 30, false),
                record(2, 20, false),
                record(3, 10, true),
            ],
            truncated: false,
            fetched_at: now,
        };
        let health = serde_json::to_value(crate::model::EnvironmentHealth::default()).unwrap();
        let mut env: EnvironmentSnapshot = serde_json::from_value(serde_json::json!({
            "name": "prod", "branch": "prod", "url": "https://shop.example", "head": null,
            "services": [], "pipeline": null, "smoke": [],
            "errors": serde_json::to_value(crate::model::ErrorSeries::new()).unwrap(),
            "health": health,
        }))
        .unwrap();
        env.delivery = Some(crate::engine::delivery::figures(&history, now, 30));
        env.health.history.failures_in_a_row = 1;
        env.health.history.last_error = Some((now, "GitHub answered 502".into()));
        let json = serde_json::to_value(environment_status(&env, now)).unwrap();
        let delivery = &json["delivery"];
        assert_eq!(delivery["window_days"], 30);
        assert_eq!(delivery["deploys"], 2);
        assert_eq!(delivery["rollbacks"], 1);
        assert_eq!(delivery["rolled_back"], 1);
        assert_eq!(delivery["change_failure_rate"], 0.5);
        assert_eq!(delivery["lead_time_median_s"], 4200);
        assert_eq!(delivery["time_to_restore_median_s"], 36_000);
        assert_eq!(delivery["complete"], true);
        assert_eq!(json["sources"]["history"]["failing"], true);
        assert_eq!(json["sources"]["history"]["error"], "GitHub answered 502");
    }
}
