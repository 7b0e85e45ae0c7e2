//! The state store: the one owner of the world picture. It applies typed [`Update`]s from
//! the pollers, keeps each source's health, and tells its caller whether the change matters
//! enough to publish a new snapshot, so a quiet screen is not redrawn.
//!
//! What counts as a change: any difference in pipeline, deployments or errors; for smoke
//! checks, a check passing or failing differently (a passing check's latency wobbles on every
//! run; it is kept, and shown with the next published change); for the delivery figures,
//! recomputed from each read of the deployment history, any difference; for health, a new
//! failure or recovery. A success with nothing new moves `last_success` forward in what is published at
//! most once per [`FRESHNESS_STEP`], so ages on screen stay right to within that step.

use chrono::{DateTime, TimeDelta, Utc};

use super::verification::{self, ProbeHistory, VerifyPolicy};
use crate::config::Config;
use crate::model::{
    ActionPreview, ActionProgress, AuditEntry, CommitInfo, DeployStatus, EnvironmentHealth,
    EnvironmentSnapshot, ErrorBucket, ErrorSeries, GuardView, LockView, LogLine, NewErrorType,
    PipelineState, RateLimit, ReleaseState, RunStatus, SafeText, ServiceState, SmokeResult,
    Snapshot, SourceKind, TriageView,
};
use crate::model::{DELIVERY_WINDOW_DAYS, DeliveryHistory};

/// How stale a published `last_success` may get while nothing else changes.
pub const FRESHNESS_STEP: TimeDelta = TimeDelta::seconds(60);
/// Minutes before a deploy whose mean error rate is the baseline.
pub const BASELINE_WINDOW_MINUTES: i64 = 30;

/// What one fetch of one source found.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Pipeline {
        head: CommitInfo,
        pipeline: Option<Box<PipelineState>>,
    },
    Deployments(Vec<ServiceState>),
    Smoke(Vec<SmokeResult>),
    Errors {
        buckets: Vec<ErrorBucket>,
        new_types: Vec<NewErrorType>,
    },
    /// The deployment history the delivery figures are computed from.
    History(DeliveryHistory),
}

/// One poller's report: the environment (index in the config), the source, when (world
/// time), and what it found or why it failed (already sanitized).
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub env: usize,
    pub source: SourceKind,
    pub at: DateTime<Utc>,
    pub outcome: Result<Payload, SafeText>,
    pub rate_limit: Option<RateLimit>,
}

/// What the release side reports to the store (boxed on its way there: previews are big).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum ReleaseUpdate {
    /// The gates of the next promotion into `env` and of its rollback, and its lock.
    Preview {
        env: usize,
        promotion: Option<ActionPreview>,
        rollback: Option<ActionPreview>,
        lock: Option<LockView>,
    },
    /// What auto-promotion does in `env` (`None`: it does not promote by itself).
    Auto {
        env: usize,
        decision: Option<crate::model::AutoDecision>,
    },
    /// An action's steps changed.
    Activity {
        env: usize,
        progress: ActionProgress,
    },
    /// What the guard did about a failed verification.
    Guard {
        env: usize,
        guard: GuardView,
    },
    /// What the failed jobs of the branch head's run are (`None`: nothing failed).
    Triage {
        env: usize,
        triage: Option<TriageView>,
    },
    Log(LogLine),
    Audit(AuditEntry),
}

/// Everything the store task receives.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreInput {
    Source(Update),
    Release(Box<ReleaseUpdate>),
}

impl From<Update> for StoreInput {
    fn from(update: Update) -> Self {
        StoreInput::Source(update)
    }
}

impl From<ReleaseUpdate> for StoreInput {
    fn from(update: ReleaseUpdate) -> Self {
        StoreInput::Release(Box::new(update))
    }
}

/// How many action log lines the snapshot keeps.
pub const LOG_LINES_KEPT: usize = 500;
/// How many audit records the snapshot keeps.
pub const AUDIT_ENTRIES_KEPT: usize = 200;

/// The world picture being built; [`Store::publish`] hands out immutable copies.
#[derive(Debug, Clone)]
pub struct Store {
    state: Snapshot,
    /// Per environment: how its deploys are verified (`None`: not verified).
    policies: Vec<Option<VerifyPolicy>>,
    /// Per environment: the smoke probes the latency and burn-rate rules read.
    probes: Vec<ProbeHistory>,
}

impl Store {
    /// The empty picture of every configured environment.
    pub fn new(config: &Config, title: &str, now: DateTime<Utc>) -> Self {
        let environments: Vec<EnvironmentSnapshot> = config
            .environments
            .iter()
            .map(|env| EnvironmentSnapshot {
                name: SafeText::with_max(env.name.get_ref(), 40),
                branch: SafeText::with_max(&env.branch, 100),
                url: SafeText::with_max(env.url.get_ref(), 200),
                head: None,
                services: env
                    .effective_services()
                    .iter()
                    .map(|s| ServiceState {
                        name: SafeText::with_max(s.name.get_ref(), 60),
                        github_environment: SafeText::with_max(&s.github_environment, 60),
                        latest: None,
                        last_success: None,
                        commit: None,
                    })
                    .collect(),
                pipeline: None,
                smoke: Vec::new(),
                errors: ErrorSeries::new(),
                health: EnvironmentHealth::default(),
                release: ReleaseState::default(),
                verification: None,
                guard: Default::default(),
                triage: None,
                delivery: None,
            })
            .collect();
        let policies: Vec<Option<VerifyPolicy>> = (0..config.environments.len())
            .map(|index| VerifyPolicy::for_environment(config, index))
            .collect();
        let mut environments = environments;
        for (env, policy) in environments.iter_mut().zip(&policies) {
            env.guard.max_rollbacks = policy.as_ref().map_or(0, |p| p.max_auto_rollbacks);
        }
        Self {
            policies,
            probes: vec![ProbeHistory::default(); config.environments.len()],
            state: Snapshot {
                version: 0,
                taken_at: now,
                environments,
                rate_limit: None,
                title: SafeText::with_max(title, 80),
                log: Vec::new(),
                audit: Vec::new(),
            },
        }
    }

    /// The picture as it stands (not yet stamped).
    pub fn current(&self) -> &Snapshot {
        &self.state
    }

    /// Applies any input; returns whether the picture changed enough to publish.
    pub fn apply_input(&mut self, input: StoreInput) -> bool {
        match input {
            StoreInput::Source(update) => self.apply(update),
            StoreInput::Release(update) => self.apply_release(*update),
        }
    }

    /// Applies a release-side update; returns whether anything changed.
    pub fn apply_release(&mut self, update: ReleaseUpdate) -> bool {
        match update {
            ReleaseUpdate::Preview {
                env,
                promotion,
                rollback,
                lock,
            } => {
                let Some(env) = self.state.environments.get_mut(env) else {
                    return false;
                };
                let release = &mut env.release;
                let changed = release.promotion != promotion
                    || release.rollback != rollback
                    || release.lock != lock;
                release.promotion = promotion;
                release.rollback = rollback;
                release.lock = lock;
                changed
            }
            ReleaseUpdate::Auto { env, decision } => {
                let Some(env) = self.state.environments.get_mut(env) else {
                    return false;
                };
                let changed = env.release.auto != decision;
                env.release.auto = decision;
                changed
            }
            ReleaseUpdate::Activity { env, progress } => {
                let Some(env) = self.state.environments.get_mut(env) else {
                    return false;
                };
                let changed = env.release.activity.as_ref() != Some(&progress);
                env.release.activity = Some(progress);
                changed
            }
            ReleaseUpdate::Guard { env, guard } => {
                let Some(env) = self.state.environments.get_mut(env) else {
                    return false;
                };
                let changed = env.guard != guard;
                env.guard = guard;
                changed
            }
            ReleaseUpdate::Triage { env, triage } => {
                let Some(env) = self.state.environments.get_mut(env) else {
                    return false;
                };
                let changed = env.triage != triage;
                env.triage = triage;
                changed
            }
            ReleaseUpdate::Log(line) => {
                push_bounded(&mut self.state.log, line, LOG_LINES_KEPT);
                true
            }
            ReleaseUpdate::Audit(entry) => {
                push_bounded(&mut self.state.audit, entry, AUDIT_ENTRIES_KEPT);
                true
            }
        }
    }

    /// Marks which environments need their name typed to confirm a change.
    pub fn set_confirm_by_name(&mut self, flags: &[bool]) {
        for (env, flag) in self.state.environments.iter_mut().zip(flags) {
            env.release.confirm_by_name = *flag;
        }
    }

    /// Applies `update`; returns whether the picture changed enough to publish.
    pub fn apply(&mut self, update: Update) -> bool {
        let mut changed = false;
        if let Some(limit) = update.rate_limit {
            changed |= self.state.rate_limit != Some(limit);
            self.state.rate_limit = Some(limit);
        }
        let Some(env) = self.state.environments.get_mut(update.env) else {
            return changed;
        };
        let data_changed = match update.outcome {
            Ok(payload) => {
                if let (Payload::Smoke(results), Some(probes)) =
                    (&payload, self.probes.get_mut(update.env))
                {
                    probes.record(results);
                }
                let data_changed = apply_payload(env, payload);
                let health = env.health.get_mut(update.source);
                let recovered = health.failures_in_a_row > 0 || health.last_success.is_none();
                let stale = health
                    .last_success
                    .is_some_and(|last| update.at - last >= FRESHNESS_STEP);
                health.failures_in_a_row = 0;
                if data_changed || recovered || stale {
                    health.last_success = Some(update.at);
                }
                data_changed || recovered || stale
            }
            Err(message) => {
                let health = env.health.get_mut(update.source);
                health.failures_in_a_row = health.failures_in_a_row.saturating_add(1);
                let same_error = health
                    .last_error
                    .as_ref()
                    .is_some_and(|(_, previous)| *previous == message);
                // A repeat of the same error only bumps the counter; publish the first one.
                let first = health.failures_in_a_row == 1 || !same_error;
                health.last_error = Some((update.at, message));
                first
            }
        };
        let verified = self.reverify(update.env, update.at);
        changed || data_changed || verified
    }

    /// Judges environment `index`'s running deploy again as of `now`; returns whether the
    /// verdicts changed (figures alone move every minute and are published with the next
    /// change).
    fn reverify(&mut self, index: usize, now: DateTime<Utc>) -> bool {
        let (Some(env), Some(Some(policy)), Some(probes)) = (
            self.state.environments.get_mut(index),
            self.policies.get(index),
            self.probes.get(index),
        ) else {
            return false;
        };
        let view = verification::assess(policy, env, probes, now);
        let changed = verification::changed_meaningfully(env.verification.as_ref(), view.as_ref());
        env.verification = view;
        changed
    }

    /// Stamps and returns the next version of the picture.
    pub fn publish(&mut self, now: DateTime<Utc>) -> Snapshot {
        self.state.version += 1;
        self.state.taken_at = now;
        self.state.clone()
    }
}

fn push_bounded<T>(items: &mut Vec<T>, item: T, max: usize) {
    items.push(item);
    if items.len() > max {
        let excess = items.len() - max;
        items.drain(..excess);
    }
}

/// Puts a payload into an environment; returns whether anything visible changed.
fn apply_payload(env: &mut EnvironmentSnapshot, payload: Payload) -> bool {
    match payload {
        Payload::Pipeline { head, pipeline } => {
            let pipeline = pipeline.map(|p| *p);
            let changed = env.head.as_ref() != Some(&head) || env.pipeline != pipeline;
            env.head = Some(head);
            env.pipeline = pipeline;
            changed
        }
        Payload::Deployments(services) => {
            let changed = env.services != services;
            env.services = services;
            if changed {
                refresh_baseline(env);
            }
            changed
        }
        Payload::Smoke(results) => {
            let changed = env.smoke.len() != results.len()
                || env.smoke.iter().zip(&results).any(|(old, new)| {
                    old.name != new.name
                        || old.ok != new.ok
                        || (!new.ok && old.detail != new.detail)
                });
            env.smoke = results;
            changed
        }
        Payload::Errors { buckets, new_types } => {
            let before = env.errors.clone();
            env.errors.merge(buckets);
            env.errors.new_types = new_types;
            refresh_baseline(env);
            env.errors != before
        }
        Payload::History(history) => {
            let figures =
                super::delivery::figures(&history, history.fetched_at, DELIVERY_WINDOW_DAYS);
            let changed = env.delivery.as_ref() != Some(&figures);
            env.delivery = Some(figures);
            changed
        }
    }
}

/// The baseline is the mean error rate in the window before the running deployment.
fn refresh_baseline(env: &mut EnvironmentSnapshot) {
    let deployed_at = env
        .services
        .first()
        .and_then(|s| s.last_success.as_ref())
        .and_then(|d| d.at);
    env.errors.baseline_per_minute =
        deployed_at.and_then(|at| env.errors.mean_before(at, BASELINE_WINDOW_MINUTES));
}

/// Whether a run or a deployment of `env` is in progress (polls go faster then).
pub fn is_busy(env: &EnvironmentSnapshot) -> bool {
    let run_busy = env
        .pipeline
        .as_ref()
        .is_some_and(|p| matches!(p.status, RunStatus::Queued | RunStatus::Running));
    let deploy_busy = env.services.iter().any(|s| {
        s.latest.as_ref().is_some_and(|d| {
            matches!(
                d.status,
                DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress
            )
        })
    });
    run_busy || deploy_busy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeployState;

    fn config() -> Config {
        toml::from_str(
            r#"
            [github]
            repo = "acme/shop"
            [[environment]]
            name = "dev"
            branch = "main"
            url = "http://127.0.0.1:1"
            "#,
        )
        .unwrap()
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(secs)
    }

    fn smoke(ok: bool, latency: u64, at: i64) -> Update {
        Update {
            env: 0,
            source: SourceKind::Smoke,
            at: t(at),
            outcome: Ok(Payload::Smoke(vec![SmokeResult {
                name: "health".into(),
                ok,
                latency_ms: Some(latency),
                detail: format!("{latency} ms").into(),
                checked_at: t(at),
            }])),
            rate_limit: None,
        }
    }

    #[test]
    fn latency_wobble_is_not_a_change_but_a_failure_is() {
        let mut store = Store::new(&config(), "t", t(0));
        assert!(store.apply(smoke(true, 10, 0)));
        assert!(!store.apply(smoke(true, 12, 5)));
        assert_eq!(
            store.current().environments[0].smoke[0].latency_ms,
            Some(12)
        );
        assert!(store.apply(smoke(false, 12, 10)));
        assert!(!store.apply(smoke(false, 12, 15)));
    }

    #[test]
    fn freshness_is_republished_once_per_step() {
        let mut store = Store::new(&config(), "t", t(0));
        assert!(store.apply(smoke(true, 10, 0)));
        assert!(!store.apply(smoke(true, 10, 30)));
        assert!(store.apply(smoke(true, 10, 61)));
        let health = &store.current().environments[0].health.smoke;
        assert_eq!(health.last_success, Some(t(61)));
    }

    #[test]
    fn failures_count_up_and_recovery_resets() {
        let mut store = Store::new(&config(), "t", t(0));
        let fail = |at| Update {
            env: 0,
            source: SourceKind::Errors,
            at: t(at),
            outcome: Err("Sentry: connection refused".into()),
            rate_limit: None,
        };
        assert!(store.apply(fail(0)));
        assert!(!store.apply(fail(5)));
        let health = &store.current().environments[0].health.errors;
        assert_eq!(health.failures_in_a_row, 2);
        assert!(health.is_failing());
        let ok = Update {
            env: 0,
            source: SourceKind::Errors,
            at: t(10),
            outcome: Ok(Payload::Errors {
                buckets: vec![],
                new_types: vec![],
            }),
            rate_limit: None,
        };
        assert!(store.apply(ok));
        assert!(!store.current().environments[0].health.errors.is_failing());
        // Smoke health is untouched by the errors source.
        assert_eq!(
            store.current().environments[0].health.smoke.last_success,
            None
        );
    }

    #[test]
    fn baseline_comes_from_the_minutes_before_the_deploy() {
        let mut store = Store::new(&config(), "t", t(0));
        let buckets: Vec<ErrorBucket> = (0..40)
            .map(|m| ErrorBucket {
                minute: t(m * 60),
                count: if m < 30 { 2 } else { 9 },
            })
            .collect();
        store.apply(Update {
            env: 0,
            source: SourceKind::Errors,
            at: t(2400),
            outcome: Ok(Payload::Errors {
                buckets,
                new_types: vec![],
            }),
            rate_limit: None,
        });
        assert_eq!(
            store.current().environments[0].errors.baseline_per_minute,
            None
        );
        let deployed = DeployState {
            deployment_id: 1,
            sha: "a".repeat(40),
            status: DeployStatus::Success,
            at: Some(t(30 * 60)),
            creator: None,
            description: None,
        };
        let services = vec![ServiceState {
            name: "dev".into(),
            github_environment: "dev".into(),
            latest: Some(deployed.clone()),
            last_success: Some(deployed),
            commit: None,
        }];
        assert!(store.apply(Update {
            env: 0,
            source: SourceKind::Deployments,
            at: t(2400),
            outcome: Ok(Payload::Deployments(services)),
            rate_limit: None,
        }));
        assert_eq!(
            store.current().environments[0].errors.baseline_per_minute,
            Some(2.0)
        );
        let published = store.publish(t(2400));
        assert_eq!(published.version, 1);
    }

    #[test]
    fn updates_for_unknown_environments_are_ignored() {
        let mut store = Store::new(&config(), "t", t(0));
        let mut update = smoke(true, 1, 0);
        update.env = 7;
        assert!(!store.apply(update));
    }
}
