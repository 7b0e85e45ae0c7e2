//! Write side: the GitHub write client and local commands that promotion and rollback
//! strategies are made of, and the notifications and issues that report a bad deploy. Built
//! only when the engine runs with write access; watch mode never constructs it.

pub mod command;
pub mod github;
pub mod notify;
