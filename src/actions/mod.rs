//! Write side: promotion and rollback strategies, the GitHub write client, and local
//! commands. Built only when the engine runs with write access; watch mode never
//! constructs it.

pub mod github;
