//! Where the configuration is looked for: `--config`, then `$SHIPDECK_CONFIG`, then the
//! config directory. The environment value is passed in; no test touches process env vars.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use shipdeck::config::{LocateError, locate, locate_with_default};

fn touch(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, "# config\n").expect("write");
    path
}

#[test]
fn explicit_path_wins_over_env_and_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let explicit = touch(dir.path(), "explicit.toml");
    let from_env = touch(dir.path(), "env.toml");
    let default = touch(dir.path(), "default.toml");
    let found = locate_with_default(
        Some(&explicit),
        Some(OsString::from(&from_env)),
        Some(default),
    )
    .expect("found");
    assert_eq!(found, explicit);
}

#[test]
fn env_value_wins_over_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from_env = touch(dir.path(), "env.toml");
    let default = touch(dir.path(), "default.toml");
    let found =
        locate_with_default(None, Some(OsString::from(&from_env)), Some(default)).expect("found");
    assert_eq!(found, from_env);
}

#[test]
fn empty_env_value_counts_as_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = touch(dir.path(), "default.toml");
    let found =
        locate_with_default(None, Some(OsString::new()), Some(default.clone())).expect("found");
    assert_eq!(found, default);
}

#[test]
fn default_is_used_when_nothing_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = touch(dir.path(), "config.toml");
    let found = locate_with_default(None, None, Some(default.clone())).expect("found");
    assert_eq!(found, default);
}

#[test]
fn a_missing_explicit_path_is_an_error_even_when_others_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("typo.toml");
    let default = touch(dir.path(), "config.toml");
    let err = locate_with_default(Some(&missing), None, Some(default)).expect_err("missing");
    assert_eq!(
        err,
        LocateError::NotFound {
            searched: vec![missing.clone()]
        }
    );
    assert!(
        err.to_string().starts_with(&format!(
            "no configuration file found (looked at {})",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn a_missing_env_path_is_an_error_even_when_the_default_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("env.toml");
    let default = touch(dir.path(), "config.toml");
    let err = locate_with_default(None, Some(OsString::from(&missing)), Some(default))
        .expect_err("missing");
    assert_eq!(
        err,
        LocateError::NotFound {
            searched: vec![missing]
        }
    );
}

#[test]
fn a_directory_is_not_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = locate_with_default(Some(dir.path()), None, None).expect_err("a directory");
    assert_eq!(
        err,
        LocateError::NotFound {
            searched: vec![dir.path().to_path_buf()]
        }
    );
}

#[test]
fn no_home_and_nothing_given_says_how_to_give_one() {
    let err = locate_with_default(None, None, None).expect_err("nowhere to look");
    assert_eq!(err, LocateError::NoConfigDir);
    assert!(err.to_string().contains("--config"), "{err}");
}

#[test]
fn locate_honours_explicit_and_env_before_the_user_config_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let explicit = touch(dir.path(), "a.toml");
    assert_eq!(locate(Some(&explicit), None).expect("found"), explicit);
    let from_env = touch(dir.path(), "b.toml");
    assert_eq!(
        locate(None, Some(OsString::from(&from_env))).expect("found"),
        from_env
    );
}
