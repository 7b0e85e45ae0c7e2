//! Plain domain types shared by every layer: what the sources report, what the engine keeps,
//! what the UI draws and what `status --json` prints. No I/O lives here.
//!
//! Every string that came from outside is a [`SafeText`], so it has been sanitized before it
//! can reach a terminal or a printed document.

pub mod auto;
pub mod checklist;
pub mod delivery;
pub mod diagnosis;
pub mod errors;
pub mod pipeline;
pub mod release;
pub mod snapshot;
pub mod status;
pub mod text;
pub mod triage;
pub mod verification;

pub use auto::{AutoDecision, HoldView};
pub use checklist::ChecklistItem;
pub use delivery::{
    DELIVERY_WINDOW_DAYS, DeliveryFigures, DeliveryHistory, DeliveryOutcome, DeliveryRecord,
};
pub use diagnosis::{Diagnosis, FailureKind, NextStep, Tier};
pub use errors::{ErrorBucket, ErrorSeries, NewErrorType};
pub use pipeline::{JobState, PipelineState, RunStatus, StageState, StepState};
pub use release::{
    ActionKind, ActionPreview, ActionProgress, ActionResult, ActionStepState, AuditEntry,
    CommitLine, Gate, GateKind, GateReport, GateState, LockView, LogLine, ReleaseState, StepLine,
};
pub use snapshot::{
    CommitInfo, DeployState, DeployStatus, EnvironmentHealth, EnvironmentSnapshot, RateLimit,
    ServiceState, SmokeResult, Snapshot, SourceHealth, SourceKind,
};
pub use text::{SafeText, sanitize};
pub use triage::{RerunOffer, TriageView};
pub use verification::{
    DeliveryLine, GuardEvent, GuardView, SignalLine, SignalState, VerificationPhase,
    VerificationView, WatchFinding, WatchView,
};
