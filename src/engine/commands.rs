//! How a promotion or rollback is asked of the engine, whatever asks (a key, the command line,
//! the automatic rollback): one [`ActionRequest`] type, one [`ActionSender`] to submit it,
//! and one answer shape. The engine runs every request through the same gates.
//!
//! A read-only engine has no sender at all: there is no value a key could use to write.

use tokio::sync::{mpsc, oneshot};

use crate::model::{ActionKind, ActionResult, GateReport};

/// Who or what asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Key,
    Cli,
    Auto,
}

/// A promotion into `environment`, or a rollback of `environment`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    pub kind: ActionKind,
    /// The environment that changes (the promotion's target).
    pub environment: String,
    /// Promote exactly this commit / roll back to exactly this commit. `None`: the engine's
    /// candidate (the source's deployed commit) or the previous good deployment.
    pub sha: Option<String>,
    /// Who asked (the OS user, or `auto`).
    pub actor: String,
    pub origin: Origin,
    /// Promote through a freeze; the typed reason is audited.
    pub override_freeze: Option<String>,
    /// The captain confirmed the high-risk files a second time.
    pub confirmed_high_risk: bool,
    /// Break a lock held by someone else first; the typed reason is audited.
    pub break_lock: Option<String>,
    /// Why the action is asked for, audited with its start (an automatic rollback's
    /// verification failure).
    pub reason: Option<String>,
    /// Ids of the target's release checklist items the captain ticked; each is audited.
    pub checklist_ticks: Vec<String>,
    /// The failed verification an automatic rollback answers, kept in the journal so an
    /// engine that resumes the rollback after a restart can still report it.
    pub failed_verification: Option<Box<crate::model::VerificationView>>,
}

impl ActionRequest {
    pub fn new(kind: ActionKind, environment: &str, actor: &str, origin: Origin) -> Self {
        Self {
            kind,
            environment: environment.to_string(),
            sha: None,
            actor: actor.to_string(),
            origin,
            override_freeze: None,
            confirmed_high_risk: false,
            break_lock: None,
            reason: None,
            checklist_ticks: Vec::new(),
            failed_verification: None,
        }
    }
}

/// How an action that started ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    pub result: ActionResult,
    pub reason: Option<String>,
}

/// The engine's first answer to a request.
#[derive(Debug)]
pub enum Submitted {
    /// The gates passed and the action runs; `done` answers when it ends.
    Started {
        id: String,
        done: oneshot::Receiver<ActionOutcome>,
    },
    /// A gate failed or is unknown: nothing was written. The report says which and why.
    Blocked(GateReport),
    /// Allowed, but high-risk: ask again with `confirmed_high_risk`.
    NeedsConfirmation(GateReport),
    /// The request itself is wrong (unknown environment, malformed SHA, nothing to promote
    /// into, ...).
    Rejected(String),
}

/// Why a request did not reach the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the engine has stopped")]
    Stopped,
}

/// A request as the engine receives it, with the channel its first answer goes back on.
pub type Envelope = (ActionRequest, oneshot::Sender<Submitted>);

/// The write side's one entrance. Cloneable; absent in a read-only engine.
#[derive(Debug, Clone)]
pub struct ActionSender {
    pub(crate) tx: mpsc::Sender<Envelope>,
    /// Where holds of auto-promotion go (a write too: the hold lives in GitHub).
    pub(crate) holds: Option<mpsc::Sender<super::holds::HoldEnvelope>>,
}

impl ActionSender {
    /// A sender and the receiving end the engine (or a test standing in for it) reads
    /// requests from. A capacity of 0 is taken as 1.
    pub fn channel(capacity: usize) -> (ActionSender, mpsc::Receiver<Envelope>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ActionSender { tx, holds: None }, rx)
    }

    /// The same sender, with holds of auto-promotion going to `holds`.
    pub(crate) fn with_holds(self, holds: mpsc::Sender<super::holds::HoldEnvelope>) -> Self {
        ActionSender {
            holds: Some(holds),
            ..self
        }
    }

    /// Holds or resumes auto-promotion; answers what was done, or why nothing was.
    pub async fn hold(
        &self,
        request: super::holds::HoldRequest,
    ) -> Result<Result<String, String>, SubmitError> {
        let holds = self.holds.as_ref().ok_or(SubmitError::Stopped)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        holds
            .send((request, reply_tx))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        reply_rx.await.map_err(|_| SubmitError::Stopped)
    }

    /// Submits a request; answers once the gates have been evaluated.
    pub async fn submit(&self, request: ActionRequest) -> Result<Submitted, SubmitError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send((request, reply_tx))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        reply_rx.await.map_err(|_| SubmitError::Stopped)
    }
}
