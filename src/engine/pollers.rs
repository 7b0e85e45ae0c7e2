//! The pollers: one sequential loop per (environment, source), so the same thing is never
//! fetched twice at once. Each fetch becomes an [`Update`] for the store; the wait before the
//! next one comes from [`next_wait`]. The schedule's intervals run on tokio's real time; a
//! rate-limit reset or `retry-after` is the remote side's time and waits on the shared clock,
//! so on an accelerated clock a source is back as soon as the world's limit is.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::schedule::{PollInputs, PollPolicy, next_wait};
use super::stages::map_jobs_to_stages;
use super::store::{Payload, StoreInput, Update, is_busy};
use crate::clock::Clock;
use crate::config::{EnvironmentConfig, PipelineConfig, SmokeCheckConfig};
use crate::model::{
    DELIVERY_WINDOW_DAYS, DeployStatus, EnvironmentSnapshot, PipelineState, SafeText, Snapshot,
    SourceKind,
};
use crate::sources::SourceError;
use crate::sources::github::GithubClient;
use crate::sources::github::HistoryMemo;
use crate::sources::sentry::SentryClient;
use crate::sources::smoke::run_checks;

/// Sentry's first fetch covers the whole error ring.
const FULL_WINDOW_MINUTES: i64 = 6 * 60;
/// Later fetches cover the time since the last success plus this overlap, so the minute that
/// was still counting gets its final number.
const OVERLAP_MINUTES: i64 = 2;

/// Everything the pollers of one environment read from.
pub(crate) struct EnvironmentSources {
    pub index: usize,
    pub config: EnvironmentConfig,
    pub pipeline: PipelineConfig,
    pub smoke: Vec<SmokeCheckConfig>,
    pub github: Arc<GithubClient>,
    pub sentry: Option<SentryClient>,
    pub http: reqwest::Client,
}

/// What a poller remembers between fetches.
#[derive(Debug, Default)]
pub(crate) struct PollerMemory {
    errors_fetched_at: Option<DateTime<Utc>>,
    /// The history source's outcomes and commit times that cannot change any more.
    history: HistoryMemo,
}

/// One fetch of `kind` for the environment; `view` is its latest published picture.
pub(crate) async fn fetch(
    kind: SourceKind,
    sources: &EnvironmentSources,
    view: Option<&EnvironmentSnapshot>,
    memory: &mut PollerMemory,
    clock: &Clock,
) -> Result<Payload, SourceError> {
    match kind {
        SourceKind::Pipeline => {
            let head = sources.github.branch_head(&sources.config.branch).await?;
            let pipeline = pipeline_at(
                &sources.github,
                &sources.pipeline,
                &sources.config.branch,
                &head.sha,
            )
            .await?
            .map(Box::new);
            Ok(Payload::Pipeline { head, pipeline })
        }
        SourceKind::Deployments => {
            let mut services = Vec::new();
            for service in sources.config.effective_services() {
                services.push(
                    sources
                        .github
                        .service_state(service.name.get_ref(), &service.github_environment)
                        .await?,
                );
            }
            Ok(Payload::Deployments(services))
        }
        SourceKind::Smoke => Ok(Payload::Smoke(
            run_checks(
                &sources.http,
                sources.config.url.get_ref(),
                &sources.smoke,
                clock,
            )
            .await,
        )),
        SourceKind::Errors => {
            let Some(sentry) = &sources.sentry else {
                return Err(SourceError::Setup("Sentry is not configured".to_string()));
            };
            let now = clock.now();
            let minutes = match memory.errors_fetched_at {
                Some(last) => {
                    ((now - last).num_minutes() + OVERLAP_MINUTES).min(FULL_WINDOW_MINUTES)
                }
                None => FULL_WINDOW_MINUTES,
            };
            let environment = sources.config.sentry_environment();
            let buckets = sentry.error_counts(environment, minutes).await?;
            let deployed_at = view
                .and_then(|env| env.services.first())
                .and_then(|s| s.last_success.as_ref())
                .and_then(|d| d.at);
            let new_types = match deployed_at {
                Some(since) => sentry.new_error_types(environment, since).await?,
                None => Vec::new(),
            };
            memory.errors_fetched_at = Some(now);
            Ok(Payload::Errors { buckets, new_types })
        }
        SourceKind::History => {
            // The figures follow the first service, like the deployed commit on screen.
            let Some(service) = sources.config.effective_services().into_iter().next() else {
                return Err(SourceError::Setup("no service to read".to_string()));
            };
            let now = clock.now();
            let window_start = now - chrono::TimeDelta::days(i64::from(DELIVERY_WINDOW_DAYS));
            let history = sources
                .github
                .delivery_history(
                    &service.github_environment,
                    window_start,
                    now,
                    &mut memory.history,
                )
                .await?;
            Ok(Payload::History(history))
        }
    }
}

/// The latest CI run of `sha` on `branch`, mapped to the configured stages.
pub(crate) async fn pipeline_at(
    github: &GithubClient,
    config: &PipelineConfig,
    branch: &str,
    sha: &str,
) -> Result<Option<PipelineState>, SourceError> {
    let Some(run) = github.latest_run(&config.workflow, branch, sha).await? else {
        return Ok(None);
    };
    let jobs = github.run_jobs(run.run_id).await?;
    let mapping = map_jobs_to_stages(&config.stages, &jobs, run.status.is_finished());
    Ok(Some(PipelineState {
        run_id: run.run_id,
        run_number: run.run_number,
        run_attempt: run.run_attempt,
        sha: run.sha,
        status: run.status,
        html_url: run.html_url,
        started_at: run.started_at,
        completed_at: run.completed_at,
        stages: mapping.stages,
        unmapped_jobs: mapping.unmapped,
        total_target: config.total_target.get(),
        alarm_after: config.alarm_after.get(),
    }))
}

/// Builds the store's update from a fetch result.
pub(crate) fn to_update(
    kind: SourceKind,
    sources: &EnvironmentSources,
    at: DateTime<Utc>,
    result: &Result<Payload, SourceError>,
) -> Update {
    let uses_github = matches!(
        kind,
        SourceKind::Pipeline | SourceKind::Deployments | SourceKind::History
    );
    Update {
        env: sources.index,
        source: kind,
        at,
        outcome: match result {
            Ok(payload) => Ok(payload.clone()),
            Err(error) => Err(SafeText::with_max(&error.to_string(), 200)),
        },
        rate_limit: if uses_github {
            sources.github.rate_limit()
        } else {
            None
        },
    }
}

/// The loop of one (environment, source) until shutdown or the store is gone.
pub(crate) async fn poll_loop(
    kind: SourceKind,
    sources: Arc<EnvironmentSources>,
    updates: mpsc::Sender<StoreInput>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
    clock: Clock,
    policy: PollPolicy,
) {
    let mut memory = PollerMemory::default();
    let mut consecutive_errors: u32 = 0;
    let history = kind == SourceKind::History;
    let policy = if history {
        // The history is read soon after start, once the first round of the other
        // sources had its turn.
        tokio::select! {
            _ = tokio::time::sleep(policy.busy) => {}
            _ = shutdown.changed() => return,
        }
        policy.for_history()
    } else {
        policy
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        // The published snapshot is immutable: holding its Arc is enough, no deep copy.
        let published = Arc::clone(&snapshots.borrow());
        let view = published.environments.get(sources.index);
        let seen = latest_deployment(&published, sources.index);
        let fetched = tokio::time::timeout(
            policy.request_timeout,
            fetch(kind, &sources, view, &mut memory, &clock),
        );
        let result = tokio::select! {
            result = fetched => result.unwrap_or_else(|_| Err(timed_out(kind, policy.request_timeout))),
            _ = shutdown.changed() => return,
        };
        let (retry_after, reset) = match &result {
            Ok(_) => (None, None),
            Err(error) => (error.retry_after(), error.rate_reset()),
        };
        let environment = sources.config.name.get_ref().as_str();
        // Transitions only: a source failing every few seconds for an hour is one line, not
        // a thousand. Error texts are sanitized and never hold a token.
        match &result {
            Err(error) if consecutive_errors == 0 => {
                let error = SafeText::with_max(&error.to_string(), 300);
                tracing::warn!(source = ?kind, environment, %error, "source started failing");
            }
            Err(error) => {
                let error = SafeText::with_max(&error.to_string(), 300);
                tracing::debug!(source = ?kind, environment, %error, "fetch failed again");
            }
            Ok(_) if consecutive_errors > 0 => {
                tracing::info!(source = ?kind, environment, failures = consecutive_errors, "source recovered");
            }
            Ok(_) => {}
        }
        consecutive_errors = if result.is_ok() {
            0
        } else {
            consecutive_errors.saturating_add(1)
        };
        let update = to_update(kind, &sources, clock.now(), &result);
        if updates.send(update.into()).await.is_err() {
            return;
        }
        let rate = if matches!(
            kind,
            SourceKind::Pipeline | SourceKind::Deployments | SourceKind::History
        ) {
            sources.github.rate_limit()
        } else {
            None
        };
        let now = clock.now();
        let reset_at = reset.or(rate.map(|r| r.reset));
        let busy = snapshots
            .borrow()
            .environments
            .get(sources.index)
            .is_some_and(is_busy);
        let wait = next_wait(
            &policy,
            &PollInputs {
                busy,
                consecutive_errors,
                rate_remaining: if reset.is_some() {
                    Some(0)
                } else {
                    rate.map(|r| r.remaining)
                },
                rate_reset_in: reset_at.map(|at| (at - now).to_std().unwrap_or_default()),
                retry_after,
            },
            now,
        );
        // The history is read again as soon as the latest deployment moves (not while
        // failing or out of requests: the backoff and rate-limit waits hold).
        let moved = history && consecutive_errors == 0 && rate.is_none_or(|r| r.remaining > 0);
        let waited = async {
            tokio::time::sleep(wait.interval).await;
            if let Some(not_before) = wait.not_before {
                clock.sleep_until(not_before).await;
            }
        };
        tokio::select! {
            _ = waited => {}
            _ = deployment_moved(snapshots.clone(), sources.index, seen), if moved => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The error of a fetch that took longer than the policy's request timeout.
fn timed_out(kind: SourceKind, after: std::time::Duration) -> SourceError {
    SourceError::Unreachable {
        service: match kind {
            SourceKind::Errors => "Sentry",
            SourceKind::Smoke => "smoke checks",
            SourceKind::Pipeline | SourceKind::Deployments | SourceKind::History => "GitHub",
        },
        reason: format!("no answer within {} s", after.as_secs()),
    }
}

/// The latest deployment (id and state) of environment `index`'s first service.
fn latest_deployment(snapshot: &Snapshot, index: usize) -> Option<(u64, DeployStatus)> {
    let latest = snapshot
        .environments
        .get(index)?
        .services
        .first()?
        .latest
        .as_ref()?;
    Some((latest.deployment_id, latest.status))
}

/// Returns once the published latest deployment of environment `index` differs from `seen`;
/// never, once the store is gone.
async fn deployment_moved(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    index: usize,
    seen: Option<(u64, DeployStatus)>,
) {
    let moved = snapshots
        .wait_for(|s| latest_deployment(s, index) != seen)
        .await
        .is_ok();
    if !moved {
        std::future::pending::<()>().await;
    }
}
