//! Error-rate history of one environment: a fixed-size ring of one-minute buckets (six hours),
//! so memory stays flat however long shipdeck runs, plus the pre-deploy baseline.

use std::collections::VecDeque;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::SafeText;

/// Six hours of one-minute buckets.
pub const ERROR_HISTORY_MINUTES: usize = 6 * 60;

/// Errors counted in the minute starting at `minute`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorBucket {
    pub minute: DateTime<Utc>,
    pub count: u64,
}

/// An error type (Sentry issue) first seen recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewErrorType {
    pub id: SafeText,
    pub title: SafeText,
    pub first_seen: DateTime<Utc>,
    pub count: u64,
    /// The release it was first seen in, when Sentry says (often `project@sha`).
    #[serde(default)]
    pub release: Option<SafeText>,
}

/// Per-minute error counts, oldest first, never more than [`ERROR_HISTORY_MINUTES`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorSeries {
    buckets: VecDeque<ErrorBucket>,
    /// Mean errors per minute before the current deploy, when enough history exists.
    pub baseline_per_minute: Option<f64>,
    /// Error types first seen since the current deploy.
    pub new_types: Vec<NewErrorType>,
}

impl ErrorSeries {
    pub fn new() -> Self {
        Self {
            buckets: VecDeque::with_capacity(ERROR_HISTORY_MINUTES),
            baseline_per_minute: None,
            new_types: Vec::new(),
        }
    }

    /// Merges freshly fetched buckets: a minute already held is overwritten (the latest minute
    /// keeps counting until it closes), newer minutes are appended in order, and the oldest
    /// fall off once the ring is full.
    pub fn merge(&mut self, fresh: impl IntoIterator<Item = ErrorBucket>) {
        let mut fresh: Vec<ErrorBucket> = fresh
            .into_iter()
            .map(|b| ErrorBucket {
                minute: floor_minute(b.minute),
                count: b.count,
            })
            .collect();
        fresh.sort_by_key(|b| b.minute);
        for bucket in fresh {
            match self.buckets.back() {
                Some(last) if bucket.minute < last.minute => {
                    if let Some(slot) = self
                        .buckets
                        .iter_mut()
                        .rev()
                        .find(|b| b.minute == bucket.minute)
                    {
                        slot.count = bucket.count;
                    }
                }
                Some(last) if bucket.minute == last.minute => {
                    if let Some(slot) = self.buckets.back_mut() {
                        slot.count = bucket.count;
                    }
                }
                _ => {
                    if self.buckets.len() == ERROR_HISTORY_MINUTES {
                        self.buckets.pop_front();
                    }
                    self.buckets.push_back(bucket);
                }
            }
        }
    }

    /// All buckets held, oldest first.
    pub fn buckets(&self) -> impl DoubleEndedIterator<Item = &ErrorBucket> + ExactSizeIterator {
        self.buckets.iter()
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The buckets of the last `minutes` minutes before `now`, oldest first.
    pub fn recent(&self, now: DateTime<Utc>, minutes: i64) -> Vec<ErrorBucket> {
        let from = floor_minute(now) - TimeDelta::minutes(minutes - 1);
        self.buckets
            .iter()
            .filter(|b| b.minute >= from)
            .copied()
            .collect()
    }

    /// The count of the latest complete minute (the one before the minute in progress), or of
    /// the latest bucket when only one exists.
    pub fn current_per_minute(&self) -> Option<u64> {
        let n = self.buckets.len();
        match n {
            0 => None,
            1 => Some(self.buckets[0].count),
            _ => Some(self.buckets[n - 2].count),
        }
    }

    /// Mean per-minute count over the `window` minutes that end just before `before`.
    /// `None` when fewer than half of those minutes are held: too little to call a baseline.
    pub fn mean_before(&self, before: DateTime<Utc>, window_minutes: i64) -> Option<f64> {
        let end = floor_minute(before);
        let start = end - TimeDelta::minutes(window_minutes);
        let (sum, n) = self
            .buckets
            .iter()
            .filter(|b| b.minute >= start && b.minute < end)
            .fold((0u64, 0i64), |(s, n), b| (s + b.count, n + 1));
        if n == 0 || n * 2 < window_minutes {
            return None;
        }
        Some(sum as f64 / n as f64)
    }
}

/// The start of the minute that holds `t`.
pub fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(min)
    }

    #[test]
    fn ring_never_grows_past_six_hours() {
        let mut s = ErrorSeries::new();
        for m in 0..(ERROR_HISTORY_MINUTES as i64 * 3) {
            s.merge([ErrorBucket {
                minute: at(m),
                count: m as u64,
            }]);
        }
        assert_eq!(s.len(), ERROR_HISTORY_MINUTES);
        assert_eq!(
            s.buckets().next().unwrap().minute,
            at(ERROR_HISTORY_MINUTES as i64 * 2)
        );
    }

    #[test]
    fn merging_overwrites_known_minutes_and_appends_new_ones() {
        let mut s = ErrorSeries::new();
        s.merge([
            ErrorBucket {
                minute: at(0),
                count: 1,
            },
            ErrorBucket {
                minute: at(1),
                count: 2,
            },
        ]);
        s.merge([
            ErrorBucket {
                minute: at(1),
                count: 5,
            },
            ErrorBucket {
                minute: at(2),
                count: 3,
            },
        ]);
        let counts: Vec<u64> = s.buckets().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 5, 3]);
        assert_eq!(s.current_per_minute(), Some(5));
    }

    #[test]
    fn baseline_needs_enough_history() {
        let mut s = ErrorSeries::new();
        for m in 0..10 {
            s.merge([ErrorBucket {
                minute: at(m),
                count: 4,
            }]);
        }
        assert_eq!(s.mean_before(at(10), 10), Some(4.0));
        assert_eq!(s.mean_before(at(10), 30), None);
    }
}
