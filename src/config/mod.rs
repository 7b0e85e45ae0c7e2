//! Configuration: the TOML schema, where the file is looked for, validation with
//! `file:line:col` errors, and resolution of the token variables it names.

pub mod defaults;
pub mod types;

pub use types::*;

pub mod credentials;

pub use credentials::{Credentials, Secret};
