//! Delivery figures as plain data: the deployment history of an environment as the history
//! source read it (one [`DeliveryRecord`] per deployment), and the figures computed from it
//! ([`DeliveryFigures`]: deployment frequency, lead time, change failure rate, time to restore
//! and rollbacks over a window of days) that the screen draws and `status --json` prints.
//! The definitions live with the function that computes them, `engine::delivery::figures`.
//! No I/O here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many days the figures look back.
pub const DELIVERY_WINDOW_DAYS: u32 = 30;

/// How a deployment ended, as its statuses say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// It reached `success` at `at` (the first time; a later `inactive` does not undo it).
    Succeeded { at: DateTime<Utc> },
    /// Its latest status is `failure` or `error`, set at `at`.
    Failed { at: DateTime<Utc> },
    /// No final word yet (queued, in progress, or abandoned without one).
    Pending,
}

impl DeliveryOutcome {
    /// When it succeeded, if it did.
    pub fn succeeded_at(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Succeeded { at } => Some(at),
            _ => None,
        }
    }

    /// When it failed, if it did.
    pub fn failed_at(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Failed { at } => Some(at),
            _ => None,
        }
    }
}

/// One deployment of the environment's (first service's) GitHub environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub deployment_id: u64,
    /// The deployed commit (hex only, checked where it entered).
    pub sha: String,
    pub created_at: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    /// The deployment's payload says it is a rollback (`"kind": "rollback"`, as shipdeck
    /// writes it). Deployments made by others are classified from their commits as well.
    pub marked_rollback: bool,
    /// Author time of the deployed commit: where a lead time starts.
    pub commit_at: Option<DateTime<Utc>>,
    /// Committer time of the deployed commit: what orders commits (a rebase or merge moves
    /// it forward, unlike the author time).
    pub committed_at: Option<DateTime<Utc>>,
}

/// What one read of the deployment history found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryHistory {
    /// In any order; the figures sort them by creation.
    pub records: Vec<DeliveryRecord>,
    /// More deployments exist than were read (the page of newest deployments was full).
    pub truncated: bool,
    /// World time of the read.
    pub fetched_at: DateTime<Utc>,
}

/// The delivery figures of one environment over the last [`DeliveryFigures::window_days`]
/// days, as of `computed_at`. Durations are serialized as whole seconds (`..._s`); a figure
/// that cannot be computed (nothing to measure) is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFigures {
    pub window_days: u32,
    pub computed_at: DateTime<Utc>,
    /// Where the figures start: `window_days` before `computed_at`, or the oldest deployment
    /// read when the history was cut short (then `complete` is false).
    pub since: DateTime<Utc>,
    /// Every deployment of the window was read.
    pub complete: bool,
    /// Successful deployments that were not rollbacks.
    pub deploys: u32,
    /// `deploys` per day over the span from `since` to `computed_at`.
    pub per_day: Option<f64>,
    /// Median of success time − author time of the deployed commit.
    #[serde(rename = "lead_time_median_s", with = "opt_secs", default)]
    pub lead_time_median: Option<Duration>,
    /// 90th percentile (nearest rank) of the same.
    #[serde(rename = "lead_time_p90_s", with = "opt_secs", default)]
    pub lead_time_p90: Option<Duration>,
    /// How many lead times were measured (first successful deploy of each commit whose time
    /// is known).
    pub lead_times: u32,
    /// Deploy attempts that ended: successful plus failed deployments, rollbacks left out.
    pub attempts: u32,
    /// Attempts whose deployment failed.
    pub failed: u32,
    /// Successful deploys a rollback later replaced.
    pub rolled_back: u32,
    /// (`failed` + `rolled_back`) / `attempts`, from 0 to 1.
    pub change_failure_rate: Option<f64>,
    /// Median time from a failure (a failed deploy, or the success of a deploy later rolled
    /// back) to the next successful deployment.
    #[serde(rename = "time_to_restore_median_s", with = "opt_secs", default)]
    pub time_to_restore_median: Option<Duration>,
    /// How many failures were restored (the median's sample).
    pub restores: u32,
    /// A failure not yet followed by a successful deployment: since when.
    pub restoring_since: Option<DateTime<Utc>>,
    /// Deployments that were rollbacks (by payload, or by going back to an older commit).
    pub rollbacks: u32,
    /// Deploy attempts (not rollbacks) without a final status yet.
    pub pending: u32,
}

/// `Option<Duration>` as whole seconds.
mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_travel_as_whole_seconds_and_back() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .to_utc();
        let figures = DeliveryFigures {
            window_days: 30,
            computed_at: at,
            since: at - chrono::TimeDelta::days(30),
            complete: true,
            deploys: 2,
            per_day: Some(2.0 / 30.0),
            lead_time_median: Some(Duration::from_millis(90_500)),
            lead_time_p90: None,
            lead_times: 2,
            attempts: 2,
            failed: 0,
            rolled_back: 1,
            change_failure_rate: Some(0.5),
            time_to_restore_median: Some(Duration::from_secs(540)),
            restores: 1,
            restoring_since: None,
            rollbacks: 1,
            pending: 0,
        };
        let json = serde_json::to_value(&figures).unwrap();
        assert_eq!(json["lead_time_median_s"], 90);
        assert_eq!(json["lead_time_p90_s"], serde_json::Value::Null);
        assert_eq!(json["time_to_restore_median_s"], 540);
        assert_eq!(json["change_failure_rate"], 0.5);
        let back: DeliveryFigures = serde_json::from_value(json).unwrap();
        assert_eq!(back.lead_time_median, Some(Duration::from_secs(90)));
        assert_eq!(back.time_to_restore_median, figures.time_to_restore_median);
    }
}
