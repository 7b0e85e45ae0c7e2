//! Running the real `shipdeck` binary as a new user would: a private HOME and XDG dirs, no
//! config or token variables from the machine, and `status --json` against a sandbox.

use std::path::Path;
use std::process::{Command, Output};

use shipdeck::sandbox::Sandbox;

/// Runs the binary with `args` and only the variables in `env` beyond a private home.
pub fn shipdeck(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipdeck"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("SHIPDECK_CONFIG")
        .env_remove("SHIPDECK_DEMO_GITHUB_TOKEN")
        .env_remove("SHIPDECK_DEMO_SENTRY_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run shipdeck")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `shipdeck status --json` for the sandbox's demo config, with its token variables set.
pub async fn status_json(sandbox: &Sandbox) -> Output {
    let home = tempfile::tempdir().expect("a temp home");
    let file = home.path().join("sandbox.toml");
    std::fs::write(&file, sandbox.demo_config_toml()).expect("write the config");
    tokio::task::spawn_blocking(move || {
        let path = file.to_string_lossy().to_string();
        shipdeck(
            &["status", "--json", "--config", &path],
            home.path(),
            &[
                ("SHIPDECK_DEMO_GITHUB_TOKEN", "test-github-token"),
                ("SHIPDECK_DEMO_SENTRY_TOKEN", "test-sentry-token"),
            ],
        )
    })
    .await
    .expect("the command ran")
}
