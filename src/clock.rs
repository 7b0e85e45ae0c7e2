//! The one clock that the engine and the sandbox read time from.
//!
//! In production it is the system clock. The demo runs a scaled clock (the world moves a few
//! times faster than the wall), and tests run a manual clock they step themselves, so a
//! 15-minute verification window or a day of soak takes no real time and is deterministic.
//! Polling schedules still wait in real time; only what the world *says* the time is changes.
//! A wait that is itself world time (a smoke flow polling a job every 2 s) sleeps on the clock
//! with [`Clock::sleep_until`], so it takes no real time on a manual clock a test steps.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug)]
enum Mode {
    System,
    Scaled {
        origin_world: DateTime<Utc>,
        origin_real: Instant,
        factor: f64,
    },
    Manual {
        now: DateTime<Utc>,
    },
}

/// A cheap-to-clone handle on a shared clock.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: Arc<Mutex<Mode>>,
    /// Wakes the sleepers of [`Clock::sleep_until`] when the clock is moved.
    moved: Arc<tokio::sync::Notify>,
}

/// The shortest real wait of [`Clock::sleep_until`], so that rounding never makes it spin.
const MIN_REAL_WAIT: Duration = Duration::from_millis(1);

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::from_mode(Mode::System)
    }

    /// A clock that starts at `start` and runs `factor` times faster than real time.
    pub fn scaled(start: DateTime<Utc>, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        Self::from_mode(Mode::Scaled {
            origin_world: start,
            origin_real: Instant::now(),
            factor,
        })
    }

    /// A clock that stands still at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self::from_mode(Mode::Manual { now: start })
    }

    fn from_mode(mode: Mode) -> Self {
        Self {
            mode: Arc::new(Mutex::new(mode)),
            moved: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The current world time.
    pub fn now(&self) -> DateTime<Utc> {
        let mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        match &*mode {
            Mode::System => Utc::now(),
            Mode::Scaled {
                origin_world,
                origin_real,
                factor,
            } => {
                let real = origin_real.elapsed().as_secs_f64() * factor;
                *origin_world + delta_from_secs(real)
            }
            Mode::Manual { now } => *now,
        }
    }

    /// Moves a manual or scaled clock forward by `by` of world time. The system clock cannot
    /// be moved; on it this does nothing.
    pub fn advance(&self, by: Duration) {
        let mut mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        match &mut *mode {
            Mode::System => {}
            Mode::Scaled { origin_world, .. } => *origin_world += by,
            Mode::Manual { now } => *now += by,
        }
        drop(mode);
        self.moved.notify_waiters();
    }

    /// Waits until the world time is at least `until`: the system clock sleeps the time
    /// left, a scaled clock that time divided by its speed, and a manual clock until
    /// [`Clock::advance`] has moved it far enough (it never gets there on its own). Moving
    /// the clock wakes every sleeper, which then looks again.
    pub async fn sleep_until(&self, until: DateTime<Utc>) {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            // Registered before the time is read, so an advance in between is not missed.
            moved.as_mut().enable();
            let now = self.now();
            if now >= until {
                return;
            }
            let left = (until - now).to_std().unwrap_or_default();
            match self.real_wait(left) {
                Some(real) => {
                    tokio::select! {
                        _ = tokio::time::sleep(real.max(MIN_REAL_WAIT)) => {}
                        _ = &mut moved => {}
                    }
                }
                None => moved.await,
            }
        }
    }

    /// The real time `world` takes to pass on this clock; `None` on a manual clock.
    fn real_wait(&self, world: Duration) -> Option<Duration> {
        let mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        match &*mode {
            Mode::System => Some(world),
            Mode::Scaled { factor, .. } => Some(world.div_f64(*factor)),
            Mode::Manual { .. } => None,
        }
    }

    /// How many world seconds pass per real second (1 for the system and manual clocks).
    pub fn speed(&self) -> f64 {
        let mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        match &*mode {
            Mode::Scaled { factor, .. } => *factor,
            _ => 1.0,
        }
    }

    /// Whether time only moves when a test steps it.
    pub fn is_manual(&self) -> bool {
        let mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(&*mode, Mode::Manual { .. })
    }
}

fn delta_from_secs(secs: f64) -> TimeDelta {
    TimeDelta::milliseconds((secs * 1000.0).clamp(0.0, 1e15) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        let shared = clock.clone();
        shared.advance(Duration::from_secs(10));
        assert_eq!(clock.now(), start + TimeDelta::seconds(100));
    }

    #[tokio::test]
    async fn a_manual_clock_sleeper_wakes_when_the_clock_is_moved_far_enough() {
        let start = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::manual(start);
        let sleeper = clock.clone();
        let task = tokio::spawn(async move {
            sleeper.sleep_until(start + TimeDelta::seconds(2)).await;
            sleeper.now()
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!task.is_finished(), "one second is not yet two");
        clock.advance(Duration::from_secs(1));
        let woke_at = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("woken by the advance")
            .unwrap();
        assert_eq!(woke_at, start + TimeDelta::seconds(2));
        // A time already past returns at once.
        clock.sleep_until(start).await;
    }

    #[tokio::test]
    async fn a_scaled_clock_sleeps_world_time_divided_by_its_speed() {
        let clock = Clock::scaled(Utc::now(), 1000.0);
        let real = std::time::Instant::now();
        clock.sleep_until(clock.now() + TimeDelta::seconds(2)).await;
        assert!(
            real.elapsed() < Duration::from_secs(1),
            "{:?}",
            real.elapsed()
        );
    }

    #[test]
    fn scaled_clock_never_runs_backwards_and_can_be_advanced() {
        let start = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::scaled(start, 10.0);
        let a = clock.now();
        assert!(a >= start);
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() >= a + TimeDelta::seconds(3600));
    }
}
