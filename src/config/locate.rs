//! Where the configuration file is: `--config`, else `$SHIPDECK_CONFIG`, else
//! `config.toml` in the user's config directory (`~/.config/shipdeck/` on Linux).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use directories::ProjectDirs;

use crate::config::error::LocateError;

/// The environment variable that names the configuration file.
pub const CONFIG_ENV_VAR: &str = "SHIPDECK_CONFIG";

/// The file name looked for in the config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Where the config is: `explicit` (from `--config`), else `env_value` (the value of
/// `$SHIPDECK_CONFIG`; empty counts as unset), else the XDG config dir. The first source that
/// is given decides: a given path that does not exist is an error, not a reason to look
/// further, so a typo in `--config` never silently loads another file.
pub fn locate(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
) -> Result<PathBuf, LocateError> {
    let default = config_dir().map(|dir| dir.join(CONFIG_FILE_NAME));
    locate_with_default(explicit, env_value, default)
}

/// The user's config directory for shipdeck (`$XDG_CONFIG_HOME/shipdeck`, by default
/// `~/.config/shipdeck` on Linux); `None` without a home directory. User themes live in its
/// `themes/` folder.
pub fn config_dir() -> Option<PathBuf> {
    ProjectDirs::from("", "", "shipdeck").map(|dirs| dirs.config_dir().to_path_buf())
}

/// [`locate`] with the default location passed in (`None`: no home directory).
pub fn locate_with_default(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    default: Option<PathBuf>,
) -> Result<PathBuf, LocateError> {
    let chosen = match (explicit, env_value.filter(|v| !v.is_empty())) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(value)) => PathBuf::from(value),
        (None, None) => default.ok_or(LocateError::NoConfigDir)?,
    };
    if chosen.is_file() {
        Ok(chosen)
    } else {
        Err(LocateError::NotFound {
            searched: vec![chosen],
        })
    }
}
