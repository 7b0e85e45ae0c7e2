//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod cli;
pub mod engine;
pub mod keys;
pub mod pty;
pub mod release;
pub mod sandbox;
pub mod schemas;
pub mod screen;
