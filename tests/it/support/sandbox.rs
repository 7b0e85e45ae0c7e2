//! Starting a sandbox for a test: its own ports, on a manual clock that starts at a fixed
//! world time, so time only moves when the test steps it.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use shipdeck::clock::Clock;
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario};

/// The world time every manual-clock sandbox starts at.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .expect("a valid RFC 3339 time")
        .to_utc()
}

/// A sandbox running `scenario` on a manual clock at [`start_time`].
pub async fn start_with(scenario: Scenario) -> Sandbox {
    Sandbox::start(SandboxOptions {
        scenario,
        clock: Clock::manual(start_time()),
    })
    .await
    .expect("the sandbox starts")
}

/// A sandbox running the default demo scenario on a manual clock.
pub async fn start_sandbox() -> Sandbox {
    start_with(Scenario::default_demo()).await
}
