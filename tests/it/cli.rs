//! The command-line contract: exit codes, `check-config` messages, `status --json` against a
//! sandbox over real HTTP.

use std::path::Path;

use crate::support::cli::{shipdeck, status_json, stderr};
use shipdeck::clock::Clock;
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario};

#[test]
fn unknown_flag_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = shipdeck(&["--frobnicate"], home.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--frobnicate"), "{}", stderr(&out));
}

#[test]
fn bad_value_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = shipdeck(&["demo", "--speed", "fast"], home.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a number"), "{}", stderr(&out));
}

#[test]
fn a_bad_scenario_file_is_bad_input_naming_the_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("scenario.toml");
    std::fs::write(&file, "seed = 1\ncommits_per_hour = 12\n").unwrap();
    let out = shipdeck(
        &["demo", "--scenario", file.to_str().unwrap()],
        home.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("scenario.toml"), "{err}");
    assert!(err.contains("commits_per_hour"), "{err}");
}

#[test]
fn help_and_version_exit_zero() {
    let home = tempfile::tempdir().unwrap();
    let out = shipdeck(&["--help"], home.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["demo", "watch", "check-config", "status"] {
        assert!(text.contains(cmd), "help lists {cmd}:\n{text}");
    }
    let out = shipdeck(&["--version"], home.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn missing_config_says_where_it_looked_and_suggests_the_demo() {
    let home = tempfile::tempdir().unwrap();
    let out = shipdeck(&[], home.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("shipdeck demo"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn check_config_accepts_the_example() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
    let out = shipdeck(
        &["check-config", example.to_str().unwrap()],
        home.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn check_config_rejects_with_file_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    std::fs::write(
        &file,
        "[github]\nrepo = \"acme/shop\"\n\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let out = shipdeck(&["check-config", file.to_str().unwrap()], home.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let expected_prefix = format!("{}:8:1:", file.display());
    assert!(
        err.starts_with(&expected_prefix),
        "expected {expected_prefix}…, got:\n{err}"
    );
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn named_but_unset_token_variable_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    std::fs::write(
        &file,
        "[github]\nrepo = \"acme/shop\"\ntoken_env = \"SHIPDECK_TEST_SURELY_UNSET\"\n\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n",
    )
    .unwrap();
    let out = shipdeck(
        &["status", "--json", "--config", file.to_str().unwrap()],
        home.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SHIPDECK_TEST_SURELY_UNSET"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_prints_the_documented_shape_against_the_sandbox() {
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: Scenario::default_demo(),
        clock: Clock::system(),
    })
    .await
    .expect("sandbox");
    let out = status_json(&sandbox).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let envs = doc["environments"].as_array().expect("environments array");
    let names: Vec<&str> = envs.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    let statuses = [
        "queued", "running", "passed", "failed", "skipped", "unknown",
    ];
    for env in envs {
        assert!(env["branch"].is_string());
        let sha = env["deployed"]["sha"].as_str().expect("a deployed sha");
        assert_eq!(sha.len(), 40);
        assert!(sha.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(env["deployed"]["subject"].is_string());
        assert!(env["deployed"]["author"].is_string());
        assert!(env["deployed"]["at"].is_string());
        let stages = env["pipeline"]["stages"].as_array().expect("stages");
        assert_eq!(stages.len(), 7);
        for stage in stages {
            assert!(
                statuses.contains(&stage["status"].as_str().unwrap()),
                "{stage}"
            );
            assert!(stage["target_s"].as_u64().unwrap() > 0);
            assert!(stage.get("elapsed_s").is_some());
        }
        assert!(statuses.contains(&env["pipeline"]["status"].as_str().unwrap()));
        let smoke = env["smoke"].as_array().expect("smoke");
        assert_eq!(smoke.len(), 7);
        for check in smoke {
            assert!(check["ok"].is_boolean());
            assert!(check.get("latency_ms").is_some());
            assert!(check["detail"].is_string());
        }
        assert!(!env["errors"]["per_minute"].as_array().unwrap().is_empty());
        assert!(env["errors"].get("baseline_per_minute").is_some());
        assert!(env["errors"]["source_age_s"].is_u64());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("test-github-token") && !text.contains("test-sentry-token"));
    assert!(
        !text.contains("\\u001b") && !text.contains("\\u0007"),
        "outside text is sanitized before it is printed, escaped or not"
    );
    sandbox.shutdown().await;
}
