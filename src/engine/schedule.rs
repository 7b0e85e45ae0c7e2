//! The polling schedule as a plain function: how long a source waits before its next fetch,
//! from what is going on (a run or deployment in progress), its recent failures and what the
//! remote side said about rate limits.
//!
//! The schedule's own intervals are real time (how hard shipdeck may poll); a rate-limit
//! reset and a `retry-after` are the remote side's time, which is world time: on a clock that
//! runs faster they pass sooner, so [`next_wait`] keeps them apart.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Intervals of the schedule. [`PollPolicy::default`] is what shipdeck runs with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPolicy {
    /// While a run or deployment is in progress.
    pub busy: Duration,
    /// When nothing moves.
    pub quiet: Duration,
    /// First wait after a failure; doubles with each further failure.
    pub error_base: Duration,
    /// Longest wait after failures.
    pub error_cap: Duration,
    /// Longest wait for a rate-limit reset, in world time (a clock far off must not stall a
    /// source forever).
    pub reset_cap: Duration,
    /// Between reads of the deployment history (delivery figures), busy or not; it is also
    /// read again as soon as the environment's latest deployment changes.
    pub history: Duration,
    /// Longest real time one fetch may take, all its requests together: a source that hangs
    /// counts as failing and is tried again, it cannot stall its poller.
    pub request_timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            busy: Duration::from_millis(2500),
            quiet: Duration::from_secs(20),
            error_base: Duration::from_secs(2),
            error_cap: Duration::from_secs(300),
            reset_cap: Duration::from_secs(3600),
            history: Duration::from_secs(300),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl PollPolicy {
    /// The same schedule in world time for a clock that runs `speed` times faster than the
    /// wall (the demo): waits shrink by that factor, the backoff's cap too (or a long outage
    /// would back off to hours of world time), never below 100 ms. The reset cap is world time
    /// already and the request timeout is the network's real time: they stay.
    pub fn for_clock_speed(self, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed >= 1.0 {
            speed
        } else {
            1.0
        };
        let scale = |d: Duration| d.div_f64(speed).max(Duration::from_millis(100));
        Self {
            busy: scale(self.busy),
            quiet: scale(self.quiet),
            error_base: scale(self.error_base),
            error_cap: scale(self.error_cap),
            history: scale(self.history),
            ..self
        }
    }

    /// The schedule of the history source: its one slow interval whether busy or quiet.
    pub fn for_history(self) -> Self {
        Self {
            busy: self.history,
            quiet: self.history,
            ..self
        }
    }

    /// A fast schedule for tests and the demo: busy 200 ms, quiet 500 ms, errors 200 ms..2 s,
    /// history 2 s.
    pub fn fast() -> Self {
        Self {
            busy: Duration::from_millis(200),
            quiet: Duration::from_millis(500),
            error_base: Duration::from_millis(200),
            error_cap: Duration::from_secs(2),
            reset_cap: Duration::from_secs(5),
            history: Duration::from_secs(2),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// What the next wait depends on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PollInputs {
    /// A run or deployment of this environment is in progress.
    pub busy: bool,
    /// Failures since the last success.
    pub consecutive_errors: u32,
    /// Requests left in the current rate-limit window, when known.
    pub rate_remaining: Option<u64>,
    /// Time until the rate-limit window resets, when known.
    pub rate_reset_in: Option<Duration>,
    /// The wait the remote side asked for.
    pub retry_after: Option<Duration>,
}

/// The wait before the next fetch, on a clock where world and real time agree: busy or quiet
/// interval; exponential backoff (capped) after failures; until the reset when no request is
/// left; never shorter than `retry-after`.
pub fn next_delay(policy: &PollPolicy, inputs: &PollInputs) -> Duration {
    let mut delay = if inputs.busy {
        policy.busy
    } else {
        policy.quiet
    };
    if inputs.consecutive_errors > 0 {
        let exponent = (inputs.consecutive_errors - 1).min(16);
        let backoff = policy
            .error_base
            .saturating_mul(1u32 << exponent)
            .min(policy.error_cap);
        delay = backoff;
    }
    if inputs.rate_remaining == Some(0)
        && let Some(reset_in) = inputs.rate_reset_in
    {
        delay = delay.max(reset_in.min(policy.reset_cap));
    }
    if let Some(wait) = inputs.retry_after {
        delay = delay.max(wait);
    }
    delay
}

/// The wait before the next fetch, split by the clock each part runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollWait {
    /// Real time: the busy or quiet interval, or the backoff after failures.
    pub interval: Duration,
    /// World time not to fetch before: the rate-limit reset (capped) or `retry-after`.
    pub not_before: Option<DateTime<Utc>>,
}

/// [`next_delay`] for a clock that may run faster than the wall (`now` is world time): the
/// interval and backoff as real time, what the remote side asked for as a world moment.
/// The poller waits for both.
pub fn next_wait(policy: &PollPolicy, inputs: &PollInputs, now: DateTime<Utc>) -> PollWait {
    let interval = next_delay(
        policy,
        &PollInputs {
            rate_remaining: None,
            rate_reset_in: None,
            retry_after: None,
            ..*inputs
        },
    );
    let mut world = Duration::ZERO;
    if inputs.rate_remaining == Some(0)
        && let Some(reset_in) = inputs.rate_reset_in
    {
        world = reset_in.min(policy.reset_cap);
    }
    if let Some(wait) = inputs.retry_after {
        world = world.max(wait);
    }
    let not_before = (!world.is_zero())
        .then(|| chrono::TimeDelta::from_std(world).ok())
        .flatten()
        .map(|wait| now + wait);
    PollWait {
        interval,
        not_before,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_faster_clock_polls_proportionally_faster_with_a_floor() {
        let policy = PollPolicy::default().for_clock_speed(5.0);
        assert_eq!(policy.busy, Duration::from_millis(500));
        assert_eq!(policy.quiet, Duration::from_secs(4));
        assert_eq!(policy.error_cap, Duration::from_secs(60));
        assert_eq!(policy.reset_cap, PollPolicy::default().reset_cap);
        assert_eq!(
            policy.request_timeout,
            PollPolicy::default().request_timeout
        );
        let absurd = PollPolicy::default().for_clock_speed(1000.0);
        assert_eq!(absurd.busy, Duration::from_millis(100));
        assert_eq!(
            PollPolicy::default().for_clock_speed(f64::NAN),
            PollPolicy::default()
        );
    }

    use super::*;

    fn policy() -> PollPolicy {
        PollPolicy::default()
    }

    #[test]
    fn busy_is_fast_and_quiet_is_slow() {
        let busy = next_delay(
            &policy(),
            &PollInputs {
                busy: true,
                ..Default::default()
            },
        );
        let quiet = next_delay(&policy(), &PollInputs::default());
        assert!(busy >= Duration::from_secs(2) && busy <= Duration::from_secs(3));
        assert!(quiet >= Duration::from_secs(15) && quiet <= Duration::from_secs(30));
    }

    #[test]
    fn errors_back_off_exponentially_up_to_the_cap() {
        let delay = |n| {
            next_delay(
                &policy(),
                &PollInputs {
                    busy: true,
                    consecutive_errors: n,
                    ..Default::default()
                },
            )
        };
        assert_eq!(delay(1), Duration::from_secs(2));
        assert_eq!(delay(2), Duration::from_secs(4));
        assert_eq!(delay(3), Duration::from_secs(8));
        assert_eq!(delay(20), Duration::from_secs(300));
        assert_eq!(delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn an_exhausted_limit_waits_for_the_reset() {
        let inputs = PollInputs {
            busy: true,
            rate_remaining: Some(0),
            rate_reset_in: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        assert_eq!(next_delay(&policy(), &inputs), Duration::from_secs(600));
        let plenty = PollInputs {
            rate_remaining: Some(10),
            ..inputs
        };
        assert_eq!(next_delay(&policy(), &plenty), Duration::from_millis(2500));
        let far = PollInputs {
            rate_reset_in: Some(Duration::from_secs(86_400)),
            ..inputs
        };
        assert_eq!(next_delay(&policy(), &far), Duration::from_secs(3600));
    }

    #[test]
    fn the_history_is_read_slowly_busy_or_not_and_still_backs_off() {
        let history = policy().for_history();
        let busy = PollInputs {
            busy: true,
            ..Default::default()
        };
        assert_eq!(next_delay(&history, &busy), Duration::from_secs(300));
        assert_eq!(
            next_delay(&history, &PollInputs::default()),
            Duration::from_secs(300)
        );
        let failing = PollInputs {
            consecutive_errors: 3,
            ..Default::default()
        };
        assert_eq!(next_delay(&history, &failing), Duration::from_secs(8));
        assert_eq!(
            PollPolicy::default().for_clock_speed(60.0).history,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn never_faster_than_retry_after() {
        let inputs = PollInputs {
            busy: true,
            consecutive_errors: 1,
            retry_after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        assert_eq!(next_delay(&policy(), &inputs), Duration::from_secs(60));
    }

    #[test]
    fn rate_limit_waits_are_world_time_and_the_interval_real_time() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        let failing = PollInputs {
            busy: true,
            consecutive_errors: 1,
            rate_remaining: Some(0),
            rate_reset_in: Some(Duration::from_secs(1200)),
            ..Default::default()
        };
        let wait = next_wait(&policy(), &failing, now);
        assert_eq!(wait.interval, Duration::from_secs(2));
        assert_eq!(
            wait.not_before,
            Some(now + chrono::TimeDelta::seconds(1200))
        );
        let far = PollInputs {
            rate_reset_in: Some(Duration::from_secs(86_400)),
            ..failing
        };
        assert_eq!(
            next_wait(&policy(), &far, now).not_before,
            Some(now + chrono::TimeDelta::hours(1))
        );
        let asked = PollInputs {
            busy: true,
            consecutive_errors: 1,
            retry_after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        assert_eq!(
            next_wait(&policy(), &asked, now).not_before,
            Some(now + chrono::TimeDelta::seconds(60))
        );
        let plain = next_wait(&policy(), &PollInputs::default(), now);
        assert_eq!(plain.interval, Duration::from_secs(20));
        assert_eq!(plain.not_before, None);
        // Requests left: the reset is no reason to wait.
        let plenty = PollInputs {
            rate_remaining: Some(10),
            ..failing
        };
        assert_eq!(next_wait(&policy(), &plenty, now).not_before, None);
    }
}
