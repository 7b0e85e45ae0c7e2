//! Deterministic sample snapshots for the screen's tests, the render benchmark and
//! screenshots: three environments showing every state the screen must draw (a running
//! pipeline with a stage over target, a failed pipeline, a failing smoke check, a stale
//! source, a hostile commit subject, a prod whose worker lags behind its web service).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::DeliveryFigures;
use crate::model::diagnosis::{Diagnosis, FailureKind, NextStep, Tier};
use crate::model::{
    ActionKind, ActionPreview, ActionProgress, ActionResult, ActionStepState, AuditEntry,
    CommitInfo, CommitLine, DeployState, DeployStatus, EnvironmentHealth, EnvironmentSnapshot,
    ErrorBucket, ErrorSeries, Gate, GateKind, GateReport, GateState, JobState, LockView, LogLine,
    NewErrorType, PipelineState, RateLimit, ReleaseState, RunStatus, SafeText, ServiceState,
    SignalLine, SignalState, SmokeResult, Snapshot, SourceHealth, StageState, StepLine, StepState,
    VerificationPhase, VerificationView,
};
use crate::model::{RerunOffer, TriageView};

/// The commit subject with terminal escapes, a bell, a C1 control and bidi overrides.
pub const HOSTILE_SUBJECT: &str =
    "Fix \u{1b}[31mcheckout\u{1b}[0m\u{7} totals \u{9b}2J\u{202e}exe.txt\u{202c} now";

/// The fixed world time all sample data is measured against.
pub fn sample_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:30:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// Builds sample snapshots; by default the full "busy" picture.
#[derive(Debug, Clone)]
pub struct SampleBuilder {
    now: DateTime<Utc>,
    version: u64,
    running: bool,
}

impl SampleBuilder {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            version: 1,
            running: true,
        }
    }

    /// Nothing in progress: dev's pipeline has finished, so nothing shows a ticking time.
    pub fn quiet(mut self) -> Self {
        self.running = false;
        self
    }

    pub fn version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    pub fn build(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            taken_at: self.now,
            environments: vec![self.dev(), self.staging(), self.prod()],
            rate_limit: Some(RateLimit {
                limit: 5000,
                remaining: 4812,
                reset: self.now + TimeDelta::minutes(41),
            }),
            title: SafeText::new("acme/shop"),
            log: self.log(),
            audit: self.audit(),
        }
    }

    fn ago(&self, seconds: i64) -> DateTime<Utc> {
        self.now - TimeDelta::seconds(seconds)
    }

    fn healthy(&self, seconds_ago: i64) -> SourceHealth {
        SourceHealth {
            last_success: Some(self.ago(seconds_ago)),
            last_error: None,
            failures_in_a_row: 0,
        }
    }

    /// Delivery figures over 30 days: `deploys` of them successful, `failed` more attempts,
    /// `rolled_back` of the deploys replaced by one of the `rollbacks`.
    fn delivery(
        &self,
        deploys: u32,
        failed: u32,
        rolled_back: u32,
        lead_minutes: u64,
        restore_minutes: Option<u64>,
        rollbacks: u32,
    ) -> DeliveryFigures {
        let attempts = deploys + failed;
        DeliveryFigures {
            window_days: 30,
            computed_at: self.ago(60),
            since: self.ago(60) - TimeDelta::days(30),
            complete: true,
            deploys,
            per_day: Some(f64::from(deploys) / 30.0),
            lead_time_median: Some(Duration::from_secs(lead_minutes * 60)),
            lead_time_p90: Some(Duration::from_secs(lead_minutes * 60 * 3)),
            lead_times: deploys,
            attempts,
            failed,
            rolled_back,
            change_failure_rate: (attempts > 0)
                .then(|| f64::from(failed + rolled_back) / f64::from(attempts)),
            time_to_restore_median: restore_minutes.map(|m| Duration::from_secs(m * 60)),
            restores: restore_minutes.map_or(0, |_| failed + rolled_back),
            restoring_since: None,
            rollbacks,
            pending: 0,
        }
    }

    fn dev(&self) -> EnvironmentSnapshot {
        let head = commit(
            "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            "Add order export to CSV",
            "Dana Reyes",
            self.ago(20 * 60),
        );
        let deployed = commit(
            "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567",
            "Tidy cart totals",
            "Sam Okafor",
            self.ago(3 * 3600),
        );
        let started = self.ago(190);
        let stage_plan: [(&str, u64, i64, Option<i64>); 7] = if self.running {
            [
                ("Install", 30, 190, Some(165)),
                ("Lint+Format", 20, 165, Some(150)),
                ("Typecheck", 40, 150, Some(112)),
                ("Unit", 60, 95, None),
                ("Integration", 90, -1, None),
                ("E2E", 120, -1, None),
                ("Security+Performance", 60, -1, None),
            ]
        } else {
            [
                ("Install", 30, 400, Some(375)),
                ("Lint+Format", 20, 375, Some(360)),
                ("Typecheck", 40, 360, Some(322)),
                ("Unit", 60, 322, Some(270)),
                ("Integration", 90, 270, Some(190)),
                ("E2E", 120, 190, Some(80)),
                ("Security+Performance", 60, 80, Some(30)),
            ]
        };
        let stages = stage_plan
            .iter()
            .enumerate()
            .map(|(i, (name, target, start, end))| {
                let (status, started_at, completed_at) = match (*start, *end) {
                    (-1, _) => (RunStatus::Queued, None, None),
                    (s, None) => (RunStatus::Running, Some(self.ago(s)), None),
                    (s, Some(e)) => (RunStatus::Passed, Some(self.ago(s)), Some(self.ago(e))),
                };
                stage(
                    name,
                    status,
                    started_at,
                    completed_at,
                    *target,
                    100 + i as u64,
                )
            })
            .collect();
        let (status, started_at, completed_at) = if self.running {
            (RunStatus::Running, Some(started), None)
        } else {
            (RunStatus::Passed, Some(self.ago(400)), Some(self.ago(30)))
        };
        EnvironmentSnapshot {
            name: SafeText::new("dev"),
            branch: SafeText::new("main"),
            url: SafeText::new("https://dev.shop.example"),
            head: Some(head.clone()),
            services: vec![service(
                "web",
                "dev",
                &deployed,
                DeployStatus::Success,
                self.ago(12 * 60),
                11,
            )],
            pipeline: Some(PipelineState {
                run_id: 9001,
                run_number: 128,
                run_attempt: 1,
                sha: head.sha.clone(),
                status,
                html_url: Some(SafeText::new(
                    "https://github.com/acme/shop/actions/runs/9001",
                )),
                started_at,
                completed_at,
                stages,
                unmapped_jobs: Vec::new(),
                total_target: Duration::from_secs(7 * 60),
                alarm_after: Duration::from_secs(10 * 60),
            }),
            smoke: self.smoke(None),
            errors: self.errors(&[1, 2, 0, 1, 3, 2, 1, 0, 2, 1], Some(1.4), Vec::new()),
            health: EnvironmentHealth {
                deployments: self.healthy(4),
                pipeline: self.healthy(2),
                smoke: self.healthy(8),
                errors: self.healthy(25),
                history: self.healthy(70),
            },
            release: self.dev_release(),
            verification: Some(self.verification(&deployed.sha, 11, self.ago(12 * 60))),
            guard: Default::default(),
            triage: None,
            delivery: Some(self.delivery(42, 1, 0, 38, Some(9), 0)),
        }
    }

    fn staging(&self) -> EnvironmentSnapshot {
        let head = commit(
            "5e6f7a8b9c0d1e2f3a4b5c6d7e8f901234567890",
            HOSTILE_SUBJECT,
            "Lee \u{1b}[1mMorgan\u{7}",
            self.ago(2 * 3600),
        );
        let passed = |name: &str, target: u64, from: i64, to: i64, id: u64| {
            stage(
                name,
                RunStatus::Passed,
                Some(self.ago(from)),
                Some(self.ago(to)),
                target,
                id,
            )
        };
        let mut integration = stage(
            "Integration",
            RunStatus::Failed,
            Some(self.ago(2365)),
            Some(self.ago(2245)),
            90,
            204,
        );
        if let Some(job) = integration.jobs.first_mut() {
            job.name = SafeText::new("integration (postgres)");
            if let Some(step) = job.steps.get_mut(2) {
                step.status = RunStatus::Failed;
            }
        }
        let stages = vec![
            passed("Install", 30, 2500, 2472, 200),
            passed("Lint+Format", 20, 2472, 2455, 201),
            passed("Typecheck", 40, 2455, 2420, 202),
            passed("Unit", 60, 2420, 2365, 203),
            integration,
            stage("E2E", RunStatus::Skipped, None, None, 120, 205),
            stage(
                "Security+Performance",
                RunStatus::Skipped,
                None,
                None,
                60,
                206,
            ),
        ];
        let mut docs = job(
            "docs-preview",
            RunStatus::Passed,
            Some(self.ago(2500)),
            Some(self.ago(2440)),
            299,
        );
        docs.steps.truncate(2);
        EnvironmentSnapshot {
            name: SafeText::new("staging"),
            branch: SafeText::new("staging"),
            url: SafeText::new("https://staging.shop.example"),
            head: Some(head.clone()),
            services: vec![service(
                "web",
                "staging",
                &head,
                DeployStatus::Success,
                self.ago(2 * 3600 - 300),
                21,
            )],
            pipeline: Some(PipelineState {
                run_id: 9002,
                run_number: 127,
                run_attempt: 2,
                sha: head.sha.clone(),
                status: RunStatus::Failed,
                html_url: Some(SafeText::new(
                    "https://github.com/acme/shop/actions/runs/9002",
                )),
                started_at: Some(self.ago(2500)),
                completed_at: Some(self.ago(2245)),
                stages,
                unmapped_jobs: vec![docs],
                total_target: Duration::from_secs(7 * 60),
                alarm_after: Duration::from_secs(10 * 60),
            }),
            smoke: self.smoke(Some("HTTP 503 from /health/payments: upstream timeout")),
            errors: self.errors(&[3, 4, 2, 5, 3, 4, 6, 3, 4, 5], Some(4.1), Vec::new()),
            health: EnvironmentHealth {
                deployments: self.healthy(6),
                pipeline: self.healthy(3),
                smoke: self.healthy(9),
                errors: self.healthy(31),
                history: self.healthy(95),
            },
            release: self.staging_release(),
            verification: None,
            guard: Default::default(),
            triage: Some(self.staging_triage()),
            delivery: Some(self.delivery(14, 1, 1, 192, Some(25), 1)),
        }
    }

    /// Staging's failed integration job, diagnosed: an API contract break (tier 2).
    fn staging_triage(&self) -> TriageView {
        let diagnosis = Diagnosis {
            job_id: 204,
            job_name: SafeText::new("integration (postgres)"),
            run_attempt: 1,
            tool: Some(SafeText::new("vitest")),
            kind: FailureKind::ApiContract,
            tier: Tier::Two,
            headline: SafeText::new(
                "vitest: GET /api/orders/:id > matches the OpenAPI contract: /total must be number",
            ),
            excerpt: vec![
                SafeText::new(
                    " FAIL  tests/contract/orders.contract.test.ts > GET /api/orders/:id > matches the OpenAPI contract",
                ),
                SafeText::new(
                    "Error: response does not match the OpenAPI schema for GET /api/orders/{id} 200: /total must be number",
                ),
            ],
            action: SafeText::new(
                "The response no longer matches the published contract: restore the field's type or version the API, then push.",
            ),
            next: NextStep::Review,
            outside: Some(SafeText::new(
                "total is serialised as a string since the Decimal change; format it as a number in the serializer.",
            )),
        };
        TriageView {
            run_id: 9_400_000_204,
            run_attempt: 1,
            sha: "5e1f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f".to_string(),
            failures: vec![diagnosis],
            flaky: Vec::new(),
            reading: 0,
            log_error: None,
            rerun: RerunOffer::NotHelpful {
                why: SafeText::new("API contract is tier 2; a re-run fails the same way"),
            },
            issue: None,
        }
    }

    fn prod(&self) -> EnvironmentSnapshot {
        let web_commit = commit(
            "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
            "Speed up product search",
            "Priya Natarajan",
            self.ago(26 * 3600),
        );
        let worker_commit = commit(
            "7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c",
            "Retry webhook delivery",
            "Priya Natarajan",
            self.ago(3 * 86400),
        );
        let stages = [
            ("Install", 30, 28),
            ("Lint+Format", 20, 14),
            ("Typecheck", 40, 37),
            ("Unit", 60, 51),
            ("Integration", 90, 84),
            ("E2E", 120, 110),
            ("Security+Performance", 60, 45),
        ];
        let mut offset = 26 * 3600;
        let stages = stages
            .iter()
            .enumerate()
            .map(|(i, (name, target, took))| {
                let from = offset;
                offset -= took;
                stage(
                    name,
                    RunStatus::Passed,
                    Some(self.ago(from)),
                    Some(self.ago(offset)),
                    *target,
                    300 + i as u64,
                )
            })
            .collect();
        let minutes: Vec<u64> = (0..60)
            .map(|m| {
                if m < 45 {
                    11 + (m * 7 % 4)
                } else {
                    13 + (m % 3)
                }
            })
            .collect();
        let new_types = vec![NewErrorType {
            id: SafeText::new("SHOP-4F2"),
            title: SafeText::new("TypeError: Cannot read properties of undefined (reading 'id')"),
            first_seen: self.ago(9 * 60),
            count: 37,
            release: None,
        }];
        EnvironmentSnapshot {
            name: SafeText::new("prod"),
            branch: SafeText::new("prod"),
            url: SafeText::new("https://shop.example"),
            head: Some(web_commit.clone()),
            services: vec![
                service(
                    "web",
                    "prod-web",
                    &web_commit,
                    DeployStatus::Success,
                    self.ago(25 * 3600),
                    31,
                ),
                service(
                    "worker",
                    "prod-worker",
                    &worker_commit,
                    DeployStatus::Success,
                    self.ago(3 * 86400 - 600),
                    32,
                ),
            ],
            pipeline: Some(PipelineState {
                run_id: 9003,
                run_number: 120,
                run_attempt: 1,
                sha: web_commit.sha.clone(),
                status: RunStatus::Passed,
                html_url: None,
                started_at: Some(self.ago(26 * 3600)),
                completed_at: Some(self.ago(offset)),
                stages,
                unmapped_jobs: Vec::new(),
                total_target: Duration::from_secs(7 * 60),
                alarm_after: Duration::from_secs(10 * 60),
            }),
            smoke: self.smoke(None),
            errors: self.errors(&minutes, Some(12.3), new_types),
            health: EnvironmentHealth {
                deployments: self.healthy(5),
                pipeline: self.healthy(40),
                smoke: self.healthy(7),
                errors: SourceHealth {
                    last_success: Some(self.ago(4 * 60 + 12)),
                    last_error: Some((
                        self.ago(15),
                        SafeText::new("Sentry answered 502 Bad Gateway"),
                    )),
                    failures_in_a_row: 3,
                },
                history: self.healthy(120),
            },
            release: self.prod_release(),
            verification: None,
            guard: Default::default(),
            triage: None,
            // The rollback in flight restores what the last deploy broke.
            delivery: Some(DeliveryFigures {
                restoring_since: Some(self.ago(2 * 60 + 5)),
                ..self.delivery(9, 0, 1, 26 * 60, Some(12), 1)
            }),
        }
    }

    /// A deploy 12 minutes into its 15-minute window, every signal fine so far.
    fn verification(
        &self,
        sha: &str,
        deployment_id: u64,
        deployed_at: DateTime<Utc>,
    ) -> VerificationView {
        let line =
            |signal: &str, state: SignalState, measured: &str, baseline: &str, threshold: &str| {
                SignalLine {
                    signal: SafeText::new(signal),
                    state,
                    measured: SafeText::new(measured),
                    baseline: SafeText::new(baseline),
                    threshold: SafeText::new(threshold),
                    reason: SafeText::new(""),
                }
            };
        VerificationView {
            sha: sha.to_string(),
            deployment_id,
            deployed_at,
            window_ends: deployed_at + chrono::TimeDelta::minutes(15),
            phase: VerificationPhase::Verifying,
            signals: vec![
                line(
                    "error rate",
                    SignalState::Pass,
                    "1.3/min (-7%) over 11 min",
                    "1.4/min over 30 min",
                    "above +50%, significant",
                ),
                line(
                    "new error types",
                    SignalState::Pass,
                    "none",
                    "",
                    "any new type",
                ),
                line(
                    "latency",
                    SignalState::Pass,
                    "p95 212 ms (auth)",
                    "",
                    "800 ms",
                ),
                line(
                    "burn rate",
                    SignalState::NotEnoughData,
                    "too few probes",
                    "objective 99.90%",
                    "14.4x on both",
                ),
            ],
            reason: SafeText::new("verifying: nothing failed so far (not enough data: burn rate)"),
            auto_rollback: true,
            baseline_per_minute: Some(1.4),
            watch: None,
        }
    }

    fn preview(&self, kind: ActionKind, target: &str, source: Option<&str>) -> ActionPreview {
        ActionPreview {
            kind,
            target: SafeText::new(target),
            source: source.map(SafeText::new),
            sha: None,
            subject: None,
            from_sha: None,
            commits: Vec::new(),
            more_commits: 0,
            high_risk_files: Vec::new(),
            checklist: Vec::new(),
            gates: GateReport::default(),
            freeze_note: None,
            evaluated_at: self.ago(4),
            snapshot_version: 0,
        }
    }

    /// Dev: nothing promotes into it; its rollback is allowed.
    fn dev_release(&self) -> ReleaseState {
        let mut rollback = self.preview(ActionKind::Rollback, "dev", None);
        rollback.sha = Some("3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e".to_string());
        rollback.subject = Some(SafeText::new("Bump checkout SDK"));
        rollback.from_sha = Some("0f1e2d3c4b5a69788796a5b4c3d2e1f001234567".to_string());
        rollback.gates = GateReport {
            gates: vec![
                Gate::new(
                    GateKind::RollbackTarget,
                    GateState::Pass,
                    "3b4c5d6 deployed 5h ago",
                    "a successful deploy",
                    "dev ran it successfully before",
                ),
                Gate::new(
                    GateKind::Lock,
                    GateState::Pass,
                    "free",
                    "free",
                    "nobody holds dev",
                ),
            ],
        };
        ReleaseState {
            promotion: None,
            rollback: Some(rollback),
            lock: None,
            activity: None,
            confirm_by_name: false,
            auto: None,
        }
    }

    /// Staging: the promotion from dev waits for dev to soak (a countdown); no high-risk files.
    fn staging_release(&self) -> ReleaseState {
        let mut promotion = self.preview(ActionKind::Promote, "staging", Some("dev"));
        promotion.sha = Some("0f1e2d3c4b5a69788796a5b4c3d2e1f001234567".to_string());
        promotion.subject = Some(SafeText::new("Tidy cart totals"));
        promotion.from_sha = Some("5e6f7a8b9c0d1e2f3a4b5c6d7e8f901234567890".to_string());
        promotion.commits = vec![
            commit_line("0f1e2d3c4b5a", "Tidy cart totals", "Sam Okafor"),
            commit_line("6a7b8c9d0e1f", "Log slow cart queries", "Dana Reyes"),
        ];
        promotion.gates = GateReport {
            gates: vec![
                Gate::new(
                    GateKind::CiGreen,
                    GateState::Pass,
                    "run #126 passed",
                    "passed",
                    "CI passed for 0f1e2d3",
                ),
                Gate::new(
                    GateKind::SourceDeployed,
                    GateState::Pass,
                    "0f1e2d3 on dev",
                    "deployed on dev",
                    "dev runs 0f1e2d3",
                ),
                Gate::new(
                    GateKind::SourceSmoke,
                    GateState::Pass,
                    "7/7",
                    "7/7",
                    "every smoke check passes on dev",
                ),
                Gate::new(
                    GateKind::Soak,
                    GateState::Fail,
                    "41m",
                    "1h",
                    "dev has soaked 41m of 1h: opens in 19m",
                ),
                Gate::new(
                    GateKind::Freeze,
                    GateState::Pass,
                    "none",
                    "no freeze",
                    "no freeze in force",
                ),
                Gate::new(
                    GateKind::HighRisk,
                    GateState::Pass,
                    "0 files",
                    "none",
                    "no high-risk files change",
                ),
                Gate::new(
                    GateKind::Lock,
                    GateState::Pass,
                    "free",
                    "free",
                    "nobody holds staging",
                ),
            ],
        };
        let mut rollback = self.preview(ActionKind::Rollback, "staging", None);
        rollback.sha = Some("4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70".to_string());
        rollback.subject = Some(SafeText::new("Cache shipping quotes"));
        rollback.from_sha = Some("5e6f7a8b9c0d1e2f3a4b5c6d7e8f901234567890".to_string());
        rollback.gates = GateReport {
            gates: vec![
                Gate::new(
                    GateKind::RollbackTarget,
                    GateState::Pass,
                    "4d5e6f7 deployed 1d ago",
                    "a successful deploy",
                    "staging ran it successfully before",
                ),
                Gate::new(
                    GateKind::Lock,
                    GateState::Pass,
                    "free",
                    "free",
                    "nobody holds staging",
                ),
            ],
        };
        ReleaseState {
            promotion: Some(promotion),
            rollback: Some(rollback),
            lock: None,
            activity: None,
            confirm_by_name: false,
            auto: None,
        }
    }

    /// Prod: its name must be typed; the promotion from staging changes high-risk files, meets
    /// a freeze and a failed CI run, and a rollback holds the lock while it runs.
    fn prod_release(&self) -> ReleaseState {
        let mut promotion = self.preview(ActionKind::Promote, "prod", Some("staging"));
        promotion.sha = Some("5e6f7a8b9c0d1e2f3a4b5c6d7e8f901234567890".to_string());
        promotion.subject = Some(SafeText::subject_of(HOSTILE_SUBJECT));
        promotion.from_sha = Some("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".to_string());
        promotion.commits = vec![
            commit_line("5e6f7a8b9c0d", HOSTILE_SUBJECT, "Lee Morgan"),
            commit_line("4d5e6f708192", "Cache shipping quotes", "Dana Reyes"),
            commit_line("2c3d4e5f6071", "Add orders.region column", "Sam Okafor"),
            commit_line(
                "1b2c3d4e5f60",
                "Rotate payment webhook secret",
                "Priya Natarajan",
            ),
        ];
        promotion.more_commits = 3;
        promotion.high_risk_files = vec![
            SafeText::new("db/migrations/0042_orders_region.sql"),
            SafeText::new("config/payments.yml"),
        ];
        let mut high_risk = Gate::new(
            GateKind::HighRisk,
            GateState::Pass,
            "2 files",
            "confirm twice",
            "migrations and payment config change",
        );
        high_risk.needs_confirmation = true;
        promotion.gates = GateReport {
            gates: vec![
                Gate::new(
                    GateKind::CiGreen,
                    GateState::Fail,
                    "run #127 failed",
                    "passed",
                    "Integration failed for 5e6f7a8",
                ),
                Gate::new(
                    GateKind::SourceDeployed,
                    GateState::Pass,
                    "5e6f7a8 on staging",
                    "deployed on staging",
                    "staging runs 5e6f7a8",
                ),
                Gate::new(
                    GateKind::SourceSmoke,
                    GateState::Fail,
                    "6/7",
                    "7/7",
                    "payment health fails on staging",
                ),
                Gate::new(
                    GateKind::Soak,
                    GateState::Pass,
                    "2h",
                    "1h",
                    "staging has soaked 2h",
                ),
                Gate::new(
                    GateKind::Freeze,
                    GateState::Fail,
                    "weekend freeze",
                    "no freeze",
                    "prod is frozen until Mon 08:00 UTC",
                ),
                high_risk,
                Gate::new(
                    GateKind::Lock,
                    GateState::Fail,
                    "held by priya",
                    "free",
                    "priya's rollback holds prod since 2m",
                ),
            ],
        };
        promotion.freeze_note = Some(SafeText::new(
            "weekend freeze: promotions open again Mon 08:00 UTC (in 2d)",
        ));
        let mut rollback = self.preview(ActionKind::Rollback, "prod", None);
        rollback.sha = Some("7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c".to_string());
        rollback.subject = Some(SafeText::new("Retry webhook delivery"));
        rollback.from_sha = Some("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".to_string());
        rollback.gates = GateReport {
            gates: vec![
                Gate::new(
                    GateKind::RollbackTarget,
                    GateState::Pass,
                    "7d6c5b4 deployed 3d ago",
                    "a successful deploy",
                    "prod ran it successfully before",
                ),
                Gate::new(
                    GateKind::Lock,
                    GateState::Fail,
                    "held by priya",
                    "free",
                    "priya's rollback holds prod since 2m",
                ),
            ],
        };
        let step = |name: &str, state: ActionStepState, detail: Option<&str>| StepLine {
            name: SafeText::new(name),
            state,
            detail: detail.map(SafeText::new),
        };
        let mut release = ReleaseState {
            promotion: Some(promotion),
            rollback: Some(rollback),
            lock: Some(LockView {
                holder: SafeText::new("priya"),
                since: Some(self.ago(130)),
                action_id: Some(SafeText::new("rb-0193")),
            }),
            activity: Some(ActionProgress {
                id: SafeText::new("rb-0193"),
                kind: ActionKind::Rollback,
                target: SafeText::new("prod"),
                sha: "7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c".to_string(),
                from_sha: Some("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".to_string()),
                actor: SafeText::new("priya"),
                started_at: self.ago(125),
                steps: vec![
                    step("take lock", ActionStepState::Done, None),
                    step(
                        "move prod branch",
                        ActionStepState::Done,
                        Some("9c8b7a6 → 7d6c5b4"),
                    ),
                    step(
                        "deploy",
                        ActionStepState::Running,
                        Some("web deploying, 1/2 services"),
                    ),
                    step("smoke checks", ActionStepState::Pending, None),
                    step("release lock", ActionStepState::Pending, None),
                ],
                result: None,
                reason: Some(SafeText::new("error spike after 9c8b7a6")),
            }),
            confirm_by_name: true,
            auto: None,
        };
        if !self.running {
            // Quiet: the rollback has ended and let go of the lock.
            if let Some(activity) = release.activity.as_mut() {
                activity.result = Some(ActionResult::Succeeded);
                for step in &mut activity.steps {
                    step.state = ActionStepState::Done;
                }
            }
            release.lock = None;
        }
        release
    }

    fn log(&self) -> Vec<LogLine> {
        let line = |ago: i64, env: Option<&str>, text: &str, error: bool| LogLine {
            at: self.ago(ago),
            environment: env.map(SafeText::new),
            text: SafeText::new(text),
            error,
        };
        vec![
            line(
                3 * 3600,
                Some("staging"),
                "promote staging 4d5e6f7 → 5e6f7a8 by dana: succeeded",
                false,
            ),
            line(
                2 * 3600,
                Some("prod"),
                "promote prod blocked: CI green fail (run #127 failed)",
                true,
            ),
            line(40 * 60, None, "journal replayed: nothing to finish", false),
            line(
                130,
                Some("prod"),
                "rollback prod 9c8b7a6 → 7d6c5b4 by priya: lock taken",
                false,
            ),
            line(120, Some("prod"), "moved prod branch to 7d6c5b4", false),
            line(60, Some("prod"), "deploy web started (run #131)", false),
        ]
    }

    fn audit(&self) -> Vec<AuditEntry> {
        let entry = |ago: i64,
                     id: &str,
                     event: &str,
                     actor: &str,
                     env: &str,
                     from: &str,
                     to: &str,
                     result: &str,
                     reason: Option<&str>,
                     overrides: &[&str]| AuditEntry {
            at: self.ago(ago),
            action_id: SafeText::new(id),
            event: SafeText::new(event),
            actor: SafeText::new(actor),
            environment: SafeText::new(env),
            from_sha: Some(from.to_string()),
            to_sha: Some(to.to_string()),
            result: SafeText::new(result),
            reason: reason.map(SafeText::new),
            overrides: overrides.iter().map(|o| SafeText::new(o)).collect(),
        };
        vec![
            entry(
                26 * 3600,
                "pr-0188",
                "promote",
                "sam",
                "prod",
                "2a3b4c5",
                "9c8b7a6",
                "succeeded",
                Some("hotfix for INC-42"),
                &["freeze: \"hotfix for INC-42\""],
            ),
            entry(
                3 * 3600,
                "pr-0190",
                "promote",
                "dana",
                "staging",
                "4d5e6f7",
                "5e6f7a8",
                "succeeded",
                None,
                &[],
            ),
            entry(
                130,
                "rb-0193",
                "rollback",
                "priya",
                "prod",
                "9c8b7a6",
                "7d6c5b4",
                "started",
                Some("error spike after 9c8b7a6"),
                &[],
            ),
        ]
    }

    fn smoke(&self, payment_failure: Option<&str>) -> Vec<SmokeResult> {
        let checks: [(&str, u64); 7] = [
            ("health", 42),
            ("auth flow", 310),
            ("DB read", 88),
            ("file access", 120),
            ("AI health", 640),
            ("email health", 95),
            ("payment health", 210),
        ];
        checks
            .iter()
            .map(|(name, latency)| {
                let failing = *name == "payment health" && payment_failure.is_some();
                SmokeResult {
                    name: SafeText::new(name),
                    ok: !failing,
                    latency_ms: Some(if failing { 5000 } else { *latency }),
                    detail: SafeText::new(if failing {
                        payment_failure.unwrap_or_default()
                    } else {
                        "ok"
                    }),
                    checked_at: self.ago(8),
                }
            })
            .collect()
    }

    fn errors(
        &self,
        pattern: &[u64],
        baseline: Option<f64>,
        new_types: Vec<NewErrorType>,
    ) -> ErrorSeries {
        let mut series = ErrorSeries::new();
        let minute_now = crate::model::errors::floor_minute(self.now);
        series.merge((0..60).map(|i| ErrorBucket {
            minute: minute_now - TimeDelta::minutes(59 - i),
            count: pattern[i as usize % pattern.len().max(1)],
        }));
        series.baseline_per_minute = baseline;
        series.new_types = new_types;
        series
    }
}

fn commit_line(sha: &str, subject: &str, author: &str) -> CommitLine {
    CommitLine {
        sha: sha.to_string(),
        subject: SafeText::subject_of(subject),
        author: SafeText::new(author),
    }
}

fn commit(sha: &str, message: &str, author: &str, at: DateTime<Utc>) -> CommitInfo {
    CommitInfo {
        sha: sha.to_string(),
        subject: SafeText::subject_of(message),
        author: SafeText::new(author),
        at: Some(at),
    }
}

fn service(
    name: &str,
    github_environment: &str,
    commit: &CommitInfo,
    status: DeployStatus,
    at: DateTime<Utc>,
    id: u64,
) -> ServiceState {
    let deploy = DeployState {
        deployment_id: id,
        sha: commit.sha.clone(),
        status,
        at: Some(at),
        creator: Some(SafeText::new("shipdeck")),
        description: None,
    };
    ServiceState {
        name: SafeText::new(name),
        github_environment: SafeText::new(github_environment),
        latest: Some(deploy.clone()),
        last_success: (status == DeployStatus::Success).then_some(deploy),
        commit: Some(commit.clone()),
    }
}

fn stage(
    name: &str,
    status: RunStatus,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    target_secs: u64,
    id: u64,
) -> StageState {
    let job_name = name.to_lowercase().replace('+', "-");
    StageState {
        name: SafeText::new(name),
        status,
        started_at,
        completed_at,
        target: Duration::from_secs(target_secs),
        jobs: vec![job(&job_name, status, started_at, completed_at, id)],
    }
}

fn job(
    name: &str,
    status: RunStatus,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    id: u64,
) -> JobState {
    // Steps split the job's time: set-up, checkout, the work itself, clean-up.
    let step_names = ["Set up job", "Checkout", "Run", "Post checkout"];
    let steps = match started_at {
        None => step_names
            .iter()
            .enumerate()
            .map(|(i, n)| step(i as u64 + 1, n, status, None, None))
            .collect(),
        Some(start) => {
            let setup_end = start + TimeDelta::seconds(2);
            let checkout_end = setup_end + TimeDelta::seconds(3);
            let run_end = completed_at.map(|c| c - TimeDelta::seconds(1));
            let step_status = |done: bool| {
                if done { RunStatus::Passed } else { status }
            };
            vec![
                step(
                    1,
                    step_names[0],
                    RunStatus::Passed,
                    Some(start),
                    Some(setup_end),
                ),
                step(
                    2,
                    step_names[1],
                    RunStatus::Passed,
                    Some(setup_end),
                    Some(checkout_end),
                ),
                step(
                    3,
                    step_names[2],
                    step_status(false),
                    Some(checkout_end),
                    run_end,
                ),
                step(
                    4,
                    step_names[3],
                    if completed_at.is_some() {
                        step_status(true)
                    } else {
                        RunStatus::Queued
                    },
                    run_end,
                    completed_at,
                ),
            ]
        }
    };
    JobState {
        id,
        name: SafeText::new(name),
        status,
        started_at,
        completed_at,
        html_url: None,
        steps,
    }
}

fn step(
    number: u64,
    name: &str,
    status: RunStatus,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
) -> StepState {
    StepState {
        number,
        name: SafeText::new(name),
        status,
        started_at,
        completed_at,
    }
}
