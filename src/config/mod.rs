//! Configuration: the TOML schema, where the file is looked for, validation with
//! `file:line:col` errors, and resolution of the token variables it names.

pub mod chord;
pub mod daemon;
pub mod defaults;
pub mod types;

pub use types::*;

pub use chord::KeyChord;

pub mod credentials;

pub use credentials::{CredentialError, Credentials, Secret};

mod accessors;
mod doc_map;
pub mod error;
mod load;
pub mod locate;
pub mod token_shape;
mod validate;

pub use accessors::{
    TemplatePart, URL_PLACEHOLDER, is_value_name, join_url, placeholders, template_parts,
};
pub use error::{ConfigError, LocateError, Position};
pub(crate) use load::read_text_file;
pub use load::{check_str, load_file, load_file_with_text, parse_str};
pub use locate::{CONFIG_ENV_VAR, locate, locate_with_default};
pub use validate::is_loopback_host;
