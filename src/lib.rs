//! shipdeck: a terminal release cockpit. Dev, staging and prod side by side: what is deployed
//! where, each branch's CI pipeline stage by stage, smoke checks and the error rate, with gated
//! promotion and rollback enforced by an engine inside the binary.
//!
//! Data flows one way each direction: `sources` poll the outside world and send typed updates
//! to the `engine`, which owns the state and publishes immutable `model::Snapshot`s that the
//! `ui` draws. Changes to the world go from the `ui` to the `engine` as commands and out
//! through `actions`. The `sandbox` is a small GitHub + Sentry + app world on loopback used by
//! `shipdeck demo`, the tests and the benchmarks.

pub mod actions;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod model;
pub mod sandbox;
pub mod soak;
pub mod sources;
pub mod ui;
