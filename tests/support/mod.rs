//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod engine;
pub mod pty;
pub mod sandbox;
pub mod schemas;
pub mod release;
