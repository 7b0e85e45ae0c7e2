//! Holding and resuming an environment's auto-promotion. A hold is kept in GitHub the way the
//! promotion lock is: a ref (`refs/shipdeck/holds/{environment}`) pointing at an annotated
//! tag whose message says who, why and since when. Creating a ref is atomic, and every
//! instance (other screens, a daemon) reads the ref in its preview round, so a hold set on
//! one screen holds everywhere. Setting and clearing are audited with their reason.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

use super::executor::Recorder;
use super::store::ReleaseUpdate;
use crate::actions::github::{GithubWriter, Tagger, WriteError};
use crate::clock::Clock;
use crate::config::Config;
use crate::model::{AuditEntry, AutoDecision, HoldView, SafeText};
use crate::sources::github::GithubClient;
use crate::sources::github::HOLD_REF_PREFIX;

/// The audit events of a hold set and a hold cleared.
pub const HOLD_EVENT: &str = "auto_hold";
pub const RESUME_EVENT: &str = "auto_resume";

/// Hold or resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldChange {
    /// Stop auto-promotion until someone resumes it; the reason is shown and audited.
    Hold { reason: String },
    /// Let auto-promotion go on; the reason (if any) is audited.
    Resume { reason: Option<String> },
}

/// A hold or resume of `environment`'s auto-promotion, asked by `actor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub environment: String,
    pub actor: String,
    pub change: HoldChange,
}

/// A request as the hold task receives it, with where its answer goes.
pub type HoldEnvelope = (HoldRequest, oneshot::Sender<Result<String, String>>);

/// The ref that holds an environment's auto-promotion.
pub fn hold_ref(environment: &str) -> String {
    format!("refs/{HOLD_REF_PREFIX}{environment}")
}

/// The hold tag's message: who holds it and why, for every other instance to read.
pub fn hold_message(
    actor: &str,
    host: &str,
    environment: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> String {
    json!({
        "kind": "hold",
        "actor": actor,
        "host": host,
        "environment": environment,
        "reason": reason,
        "at": at.to_rfc3339(),
    })
    .to_string()
}

/// What the hold task needs.
pub(crate) struct HoldContext {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub readers: Vec<Arc<GithubClient>>,
    pub writers: Vec<Arc<GithubWriter>>,
    pub recorder: Arc<Recorder>,
    pub host: String,
}

/// A sender for holds and the task's receiving end.
pub(crate) fn hold_channel() -> (mpsc::Sender<HoldEnvelope>, mpsc::Receiver<HoldEnvelope>) {
    mpsc::channel(8)
}

/// Serves hold and resume requests until shutdown, one at a time.
pub(crate) async fn hold_loop(
    ctx: HoldContext,
    mut requests: mpsc::Receiver<HoldEnvelope>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            received = requests.recv() => {
                let Some((request, reply)) = received else { return };
                let answer = ctx.apply(request).await;
                let _ = reply.send(answer);
            }
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

impl HoldContext {
    async fn apply(&self, request: HoldRequest) -> Result<String, String> {
        let environment = crate::model::sanitize(&request.environment, 40);
        let index = self
            .config
            .environments
            .iter()
            .position(|e| e.name.get_ref() == &request.environment)
            .ok_or_else(|| format!("no environment is named {environment:?}"))?;
        let env_config = &self.config.environments[index];
        if !env_config
            .promotion
            .as_ref()
            .is_some_and(|p| p.auto_promote)
        {
            return Err(format!("{environment} does not promote by itself"));
        }
        let (Some(writer), Some(reader)) = (self.writers.get(index), self.readers.get(index))
        else {
            return Err(format!("no GitHub client for {environment}"));
        };
        let actor = crate::model::sanitize(&request.actor, 60);
        let now = self.clock.now();
        match request.change {
            HoldChange::Hold { reason } => {
                let reason = crate::model::sanitize(&reason, 200);
                if reason.trim().is_empty() {
                    return Err("a hold needs a reason".to_string());
                }
                let head = writer
                    .ref_target(&format!("refs/heads/{}", env_config.branch))
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", env_config.branch))?
                    .ok_or_else(|| format!("branch {} does not exist", env_config.branch))?;
                let host = crate::model::sanitize(&self.host, 60);
                let tagger = Tagger {
                    name: actor.clone(),
                    email: format!("{actor}@{host}"),
                    date: now,
                };
                let message = hold_message(&actor, &host, &environment, &reason, now);
                let tag_name = format!(
                    "shipdeck-hold-{environment}-{}",
                    now.format("%Y%m%dT%H%M%SZ")
                );
                let tag = writer
                    .create_tag(&tag_name, &message, &head.sha, &tagger)
                    .await
                    .map_err(|e| format!("could not record the hold: {e}"))?;
                match writer.create_ref(&hold_ref(&environment), &tag).await {
                    Ok(()) => {}
                    Err(WriteError::RefExists) => {
                        let holder = match reader.hold(&environment).await {
                            Ok(Some(hold)) => format!("{}: {}", hold.by, hold.reason),
                            _ => "someone".to_string(),
                        };
                        return Err(format!("already held by {holder}"));
                    }
                    Err(error) => return Err(format!("could not hold: {error}")),
                }
                self.record(now, HOLD_EVENT, &actor, &environment, "held", &reason)
                    .await;
                let hold = HoldView {
                    by: SafeText::with_max(&format!("{actor}@{host}"), 120),
                    reason: SafeText::with_max(&reason, 200),
                    since: Some(now),
                };
                self.show(index, AutoDecision::Held { hold }).await;
                Ok(format!("auto-promotion into {environment} held: {reason}"))
            }
            HoldChange::Resume { reason } => {
                let was = match reader.hold(&environment).await {
                    Ok(Some(hold)) => format!("held by {}: {}", hold.by, hold.reason),
                    Ok(None) => return Err(format!("{environment} is not held")),
                    Err(error) => format!("held (cannot read by whom: {error})"),
                };
                let reason = reason
                    .map(|r| crate::model::sanitize(&r, 200))
                    .filter(|r| !r.trim().is_empty());
                match writer.delete_ref(&hold_ref(&environment)).await {
                    Ok(true) => {}
                    Ok(false) => return Err(format!("{environment} is not held")),
                    Err(error) => return Err(format!("could not resume: {error}")),
                }
                let why = match reason {
                    Some(reason) => format!("{reason} (was {was})"),
                    None => format!("resumed (was {was})"),
                };
                self.record(now, RESUME_EVENT, &actor, &environment, "resumed", &why)
                    .await;
                self.show(
                    index,
                    AutoDecision::Wait {
                        sha: None,
                        waiting_for: vec![SafeText::new("resumed: judging the gates again")],
                        soak_until: None,
                    },
                )
                .await;
                Ok(format!("auto-promotion into {environment} resumed"))
            }
        }
    }

    async fn record(
        &self,
        at: DateTime<Utc>,
        event: &str,
        actor: &str,
        environment: &str,
        result: &str,
        reason: &str,
    ) {
        self.recorder
            .audit(AuditEntry {
                at,
                action_id: SafeText::new("-"),
                event: SafeText::new(event),
                actor: SafeText::with_max(actor, 60),
                environment: SafeText::with_max(environment, 40),
                from_sha: None,
                to_sha: None,
                result: SafeText::new(result),
                reason: Some(SafeText::with_max(reason, 300)),
                overrides: Vec::new(),
            })
            .await;
        self.recorder
            .log(
                at,
                Some(environment),
                &format!("auto-promotion into {environment} {result} by {actor}: {reason}"),
                false,
            )
            .await;
    }

    /// Shows the change at once; the next preview round reads it back from GitHub.
    async fn show(&self, env: usize, decision: AutoDecision) {
        let _ = self
            .recorder
            .store
            .send(
                ReleaseUpdate::Auto {
                    env,
                    decision: Some(decision),
                }
                .into(),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_ref_and_message_are_what_the_read_side_reads() {
        assert_eq!(hold_ref("prod"), "refs/shipdeck/holds/prod");
        let at = DateTime::UNIX_EPOCH;
        let message: serde_json::Value =
            serde_json::from_str(&hold_message("ana", "laptop", "prod", "INC-42", at)).unwrap();
        assert_eq!(message["actor"], "ana");
        assert_eq!(message["host"], "laptop");
        assert_eq!(message["reason"], "INC-42");
        assert_eq!(message["at"], "1970-01-01T00:00:00+00:00");
    }
}
