//! Write side: promotion and rollback strategies, notifications and issue filing. Built only
//! when the engine runs with write access; watch mode never constructs it.

pub mod command;
