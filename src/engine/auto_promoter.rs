//! Auto-promotion at work, in two halves:
//! - [`auto_decision`], called by the preview loop (watch mode too, so every screen shows
//!   what auto-promotion waits for): reads the hold and the candidate's earlier deployments
//!   from GitHub and asks [`super::auto_promote::decide`];
//! - [`auto_promote_loop`] (write side only): when a snapshot says `Promote`, reads the hold
//!   and the history once more and submits the promotion through the same
//!   [`ActionSender`] as the `p` key, so the lock, the journal, the audit log, GitHub's
//!   deployments, the verification and the automatic rollback all apply. At most one
//!   submission per candidate and environment; what was tried before is read from GitHub and
//!   the audit log, so a restart does not try again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use super::auto_promote::{
    AutoFacts, HoldRead, attempts_from_audit, attempts_from_deployments, decide, soak_end,
};
use super::commands::{ActionRequest, ActionSender, Origin, Submitted};
use super::executor::Recorder;
use super::facts::PromotionView;
use crate::clock::Clock;
use crate::config::{Config, EnvironmentConfig};
use crate::model::{ActionKind, AutoDecision, DeployStatus, Snapshot};
use crate::sources::github::GithubClient;

/// Who auto-promotions are made by (in deployments, the lock and the audit log).
pub const AUTO_PROMOTE_ACTOR: &str = "shipdeck (auto-promotion)";
/// How long a submission the engine refused waits before it is asked again.
const RETRY_REFUSED_AFTER: TimeDelta = TimeDelta::minutes(1);

/// Whether `env` promotes by itself.
pub fn is_auto(env: &EnvironmentConfig) -> bool {
    env.promotion.as_ref().is_some_and(|p| p.auto_promote)
}

/// What the GitHub environment of the target's first service had last, to know when its
/// deployments of the candidate need reading again.
type AttemptsKey = (String, Option<(u64, DeployStatus)>);

/// The preview loop's memory for one environment.
#[derive(Debug, Default)]
pub(crate) struct AutoCache {
    attempts: Option<(AttemptsKey, Vec<super::auto_promote::Attempt>)>,
}

/// What auto-promotion does about `index`'s candidate; `None` when the environment does not
/// promote by itself.
pub(crate) async fn auto_decision(
    config: &Config,
    index: usize,
    snapshot: &Snapshot,
    github: &GithubClient,
    view: Option<&PromotionView>,
    cache: &mut AutoCache,
) -> Option<AutoDecision> {
    let env_config = config.environments.get(index)?;
    if !is_auto(env_config) {
        return None;
    }
    let policy = env_config.promotion.as_ref()?;
    let env = snapshot.environments.get(index)?;
    let name = env_config.name.get_ref();
    let hold = match github.hold(name).await {
        Ok(None) => HoldRead::Free,
        Ok(Some(hold)) => HoldRead::Held(hold),
        Err(error) => HoldRead::Unknown(error.to_string()),
    };
    // Nobody ticks for auto-promotion: the checklist counts the carrying pull request's
    // labels instead, as the engine will when it judges the request.
    let unattended = view.map(|v| {
        let mut preview = v.preview.clone();
        let labels = v.facts.as_ref().and_then(|f| f.pr_labels.as_deref());
        super::checklist::rejudge(
            &mut preview.gates,
            &super::checklist::items_of(&policy.checklist),
            &[],
            labels,
            super::checklist::ChecklistMode::Unattended,
        );
        preview
    });
    let preview = unattended.as_ref();
    let soak_until = view
        .and_then(|v| v.facts.as_ref())
        .and_then(|f| soak_end(policy.soak.get(), f.running_since));
    let sha = preview.and_then(|p| p.sha.clone());
    let mut attempts = Ok(Vec::new());
    if let (Some(sha), Some(service)) = (&sha, env_config.effective_services().first()) {
        let latest = env
            .services
            .first()
            .and_then(|s| s.latest.as_ref())
            .map(|d| (d.deployment_id, d.status));
        let key = (sha.clone(), latest);
        attempts = match cache.attempts.as_ref().filter(|(k, _)| *k == key) {
            Some((_, known)) => Ok(known.clone()),
            None => match github
                .deployments_at(&service.github_environment, sha)
                .await
            {
                Ok(found) => {
                    let found = attempts_from_deployments(&found);
                    cache.attempts = Some((key, found.clone()));
                    Ok(found)
                }
                Err(error) => Err(error.to_string()),
            },
        };
    }
    if let Ok(attempts) = attempts.as_mut() {
        attempts.extend(attempts_from_audit(&snapshot.audit, name));
    }
    Some(decide(&AutoFacts {
        preview,
        soak_until,
        hold: &hold,
        attempts: attempts.as_deref().map_err(String::as_str),
        activity: env.release.activity.as_ref(),
    }))
}

/// What the promoting task needs.
pub(crate) struct PromoterContext {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub actions: ActionSender,
    pub readers: Vec<Arc<GithubClient>>,
    pub recorder: Arc<Recorder>,
}

/// Promotions the task remembers having started. Older ones are long replaced by newer
/// commits; should one come up again, the fresh look before acting (the audit log, the
/// deployments at the commit) still finds it done.
const STARTED_KEPT: usize = 64;

/// What the promoting task did, so it does not do it twice. Bounded: an instance promotes
/// for weeks.
#[derive(Debug, Default)]
struct Submissions {
    /// (environment index, sha) the engine started, oldest first, at most [`STARTED_KEPT`].
    started: VecDeque<(usize, String)>,
    /// (environment index, sha) the engine refused, and when; only refusals too recent to
    /// retry.
    refused: HashMap<(usize, String), DateTime<Utc>>,
}

impl Submissions {
    /// Whether the task should leave `key` alone at `now`.
    fn skips(&self, key: &(usize, String), now: DateTime<Utc>) -> bool {
        self.started.contains(key)
            || self
                .refused
                .get(key)
                .is_some_and(|at| now - *at < RETRY_REFUSED_AFTER)
    }

    fn started(&mut self, key: (usize, String)) {
        self.refused.remove(&key);
        if self.started.len() == STARTED_KEPT {
            self.started.pop_front();
        }
        self.started.push_back(key);
    }

    fn refused(&mut self, key: (usize, String), now: DateTime<Utc>) {
        self.refused.retain(|_, at| now - *at < RETRY_REFUSED_AFTER);
        self.refused.insert(key, now);
    }
}

/// Promotes every auto environment whose snapshot says `Promote`, until shutdown.
pub(crate) async fn auto_promote_loop(
    ctx: PromoterContext,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut done = Submissions::default();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for (index, env_config) in ctx.config.environments.iter().enumerate() {
            if !is_auto(env_config) {
                continue;
            }
            let Some(AutoDecision::Promote { sha }) = snapshot
                .environments
                .get(index)
                .and_then(|e| e.release.auto.as_ref())
            else {
                continue;
            };
            let key = (index, sha.clone());
            let now = ctx.clock.now();
            if done.skips(&key, now) {
                continue;
            }
            if !still_untried(&ctx, index, env_config, sha, &snapshot).await {
                continue;
            }
            match promote(&ctx, env_config, sha).await {
                Some(true) => {
                    done.started(key);
                }
                Some(false) => {
                    done.refused(key, now);
                }
                // The engine has stopped.
                None => return,
            }
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// A fresh look just before acting: nobody holds the environment (another instance may have
/// just set a hold) and nobody has promoted the commit into it (another instance may just
/// have). Anything that cannot be read counts as "no".
async fn still_untried(
    ctx: &PromoterContext,
    index: usize,
    env_config: &EnvironmentConfig,
    sha: &str,
    snapshot: &Snapshot,
) -> bool {
    let Some(reader) = ctx.readers.get(index) else {
        return false;
    };
    if !matches!(reader.hold(env_config.name.get_ref()).await, Ok(None)) {
        return false;
    }
    if !attempts_from_audit(&snapshot.audit, env_config.name.get_ref())
        .iter()
        .all(|a| !a.sha.eq_ignore_ascii_case(sha))
    {
        return false;
    }
    let Some(service) = env_config.effective_services().into_iter().next() else {
        return false;
    };
    matches!(
        reader.deployments_at(&service.github_environment, sha).await,
        Ok(found) if found.is_empty()
    )
}

/// Submits the promotion the way the `p` key does. `Some(true)`: it started; `Some(false)`:
/// the engine refused it (logged); `None`: the engine has stopped.
async fn promote(ctx: &PromoterContext, env_config: &EnvironmentConfig, sha: &str) -> Option<bool> {
    let name = env_config.name.get_ref();
    let mut request =
        ActionRequest::new(ActionKind::Promote, name, AUTO_PROMOTE_ACTOR, Origin::Auto);
    request.sha = Some(sha.to_string());
    request.reason = Some("auto-promotion: every gate passed".to_string());
    let short = super::plan::short_sha(sha);
    let refused = match ctx.actions.submit(request).await {
        Err(_) => return None,
        Ok(Submitted::Started { id, .. }) => {
            tracing::info!(environment = %name, sha = %short, action = %id, "auto-promotion started");
            return Some(true);
        }
        Ok(Submitted::Blocked(report)) => format!("blocked: {}", report.summary()),
        Ok(Submitted::NeedsConfirmation(_)) => {
            "high-risk files need a person to confirm them".to_string()
        }
        Ok(Submitted::Rejected(why)) => format!("refused: {why}"),
    };
    ctx.recorder
        .log(
            ctx.clock.now(),
            Some(name),
            &format!("auto-promotion of {short} into {name} did not start: {refused}"),
            true,
        )
        .await;
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn submissions_remember_what_started_and_retry_a_refusal_after_a_minute() {
        let mut done = Submissions::default();
        let key = (1, "abc".to_string());
        assert!(!done.skips(&key, at(0)));
        done.refused(key.clone(), at(0));
        assert!(done.skips(&key, at(59)));
        assert!(!done.skips(&key, at(60)));
        done.started(key.clone());
        assert!(done.skips(&key, at(10_000)));
        assert!(done.refused.is_empty());
    }

    #[test]
    fn submissions_stay_bounded_over_weeks_of_commits() {
        let mut done = Submissions::default();
        for n in 0..10_000_i64 {
            let sha = format!("{n:040x}");
            done.refused((2, sha.clone()), at(n * 300));
            done.started((0, sha));
        }
        assert_eq!(done.started.len(), STARTED_KEPT);
        assert!(done.refused.len() <= 1, "{}", done.refused.len());
        // The newest are the ones kept.
        assert!(done.skips(&(0, format!("{:040x}", 9_999)), at(0)));
        assert!(!done.skips(&(0, format!("{:040x}", 0)), at(0)));
    }
}
