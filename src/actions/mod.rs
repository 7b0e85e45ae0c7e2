//! Write side: the GitHub write client and local commands that promotion and rollback
//! strategies are made of. Built only when the engine runs with write access; watch mode
//! never constructs it.

pub mod command;
pub mod github;
