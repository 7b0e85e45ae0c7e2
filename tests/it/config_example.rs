//! The documented example configuration parses, and where it claims to write out the
//! defaults (stages, smoke checks, URLs, pipeline targets), it equals them.

use std::path::Path;

use shipdeck::config::{Config, Credentials, defaults, load_file};

fn example() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
    match load_file(&path) {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    }
}

#[test]
fn example_writes_out_the_default_stages_and_targets() {
    let config = example();
    assert_eq!(config.pipeline.stages, defaults::stages());
    assert_eq!(config.pipeline.workflow, defaults::workflow());
    assert_eq!(config.pipeline.total_target, defaults::total_target());
    assert_eq!(config.pipeline.alarm_after, defaults::alarm_after());
}

#[test]
fn example_writes_out_the_default_smoke_checks() {
    let config = example();
    assert_eq!(config.smoke, defaults::smoke_checks());
}

#[test]
fn example_uses_the_default_hosts() {
    let config = example();
    assert_eq!(config.github.api_url, defaults::github_api_url());
    let sentry = config.sentry.as_ref().expect("example has [sentry]");
    assert_eq!(sentry.url, defaults::sentry_url());
    assert!(!config.read_only);
    assert_eq!(config.ui.theme, None);
}

#[test]
fn example_has_three_environments_and_prod_runs_two_services_with_its_own_tokens() {
    let config = example();
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.get_ref().as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    let prod = &config.environments[2];
    let services: Vec<(String, String)> = prod
        .effective_services()
        .into_iter()
        .map(|s| (s.name.into_inner(), s.github_environment))
        .collect();
    assert_eq!(
        services,
        [
            ("web".to_string(), "production-web".to_string()),
            ("worker".to_string(), "production-worker".to_string())
        ]
    );
    let credentials = Credentials::resolve(&config, |name| Some(format!("token-for-{name}")))
        .expect("all variables set");
    assert_eq!(
        credentials.github_for("prod").map(|s| s.expose()),
        Some("token-for-PROD_GITHUB_TOKEN")
    );
    assert_eq!(
        credentials.github_for("staging").map(|s| s.expose()),
        Some("token-for-GITHUB_TOKEN")
    );
    assert_eq!(
        credentials.sentry_for("prod").map(|s| s.expose()),
        Some("token-for-PROD_SENTRY_TOKEN")
    );
    assert_eq!(
        credentials.sentry_for("dev").map(|s| s.expose()),
        Some("token-for-SENTRY_AUTH_TOKEN")
    );
}

#[test]
fn example_documents_promotion_rollback_and_freezes() {
    let config = example();
    assert!(config.environments[0].promotion.is_none());
    let staging = config.environments[1]
        .promotion
        .as_ref()
        .expect("staging promotion");
    assert_eq!(
        staging.from.as_ref().map(|f| f.get_ref().as_str()),
        Some("dev")
    );
    let prod = config.environments[2]
        .promotion
        .as_ref()
        .expect("prod promotion");
    assert_eq!(prod.soak, defaults::soak());
    assert_eq!(prod.high_risk.len(), 3);
    // Staging promotes by itself; prod writes out the default (a person promotes).
    assert!(staging.auto_promote);
    assert!(!prod.auto_promote);
    assert!(config.environments[2].rollback.is_some());
    assert_eq!(config.freezes.len(), 2);
    for freeze in &config.freezes {
        assert!(freeze.window().is_ok());
        assert!(freeze.tz().is_ok());
    }
}

#[test]
fn auto_promote_is_off_unless_asked_for_and_a_typo_names_its_place() {
    let base = "[github]\nrepo = \"acme/shop\"\n\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example.com\"\n\n[[environment]]\nname = \"staging\"\nbranch = \"staging\"\nurl = \"https://staging.example.com\"\n[environment.promotion]\n";
    let config = shipdeck::config::parse_str(base, "t.toml").expect("parses");
    let promotion = config.environments[1].promotion.as_ref().unwrap();
    assert!(!promotion.auto_promote);
    let typo = format!("{base}auto_promote = \"yes\"\n");
    let error = shipdeck::config::parse_str(&typo, "t.toml").expect_err("a string is no bool");
    assert!(error.report().contains("t.toml:14:"), "{}", error.report());
}

#[test]
fn the_commented_flow_example_parses_once_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
    let text = std::fs::read_to_string(path).expect("the example is readable");
    // Uncomment the block from `# [[smoke]]` to the first line that is not a comment.
    let mut lines: Vec<&str> = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        in_block = (in_block || line == "# [[smoke]]") && line.starts_with('#');
        lines.push(if in_block {
            line.trim_start_matches('#').trim_start()
        } else {
            line
        });
    }
    let config = match shipdeck::config::parse_str(&lines.join("\n"), "config.toml.example") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    assert_eq!(config.smoke.len(), 8);
    assert_eq!(config.smoke[..7], defaults::smoke_checks()[..]);
    let flow = &config.smoke[7];
    assert_eq!(flow.name.get_ref(), "worker runs a job");
    let steps = flow.steps.as_ref().expect("a flow");
    assert_eq!(steps.len(), 3);
    assert!(steps[2].cleanup);
}

#[test]
fn example_has_a_release_checklist_for_prod() {
    let config = example();
    let prod = config.environments[2]
        .promotion
        .as_ref()
        .expect("prod is promoted into");
    let items: Vec<(&str, bool, Option<&str>)> = prod
        .checklist
        .iter()
        .map(|i| {
            (
                i.id.get_ref().as_str(),
                i.required,
                i.label.as_ref().map(|l| l.get_ref().as_str()),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("migrations", true, Some("migrations-compatible")),
            ("rollback-plan", true, None),
            ("flags", false, None),
        ]
    );
    let staging = config.environments[1]
        .promotion
        .as_ref()
        .expect("staging too");
    assert!(staging.checklist.is_empty());
}

#[test]
fn example_watches_prod_for_two_days_after_each_deploy() {
    let config = example();
    let prod = config.verification(2).expect("prod is verified");
    assert_eq!(
        prod.watch.map(|w| w.get()),
        Some(std::time::Duration::from_secs(48 * 3600))
    );
    assert!(prod.watch.map(|w| w.get()) > Some(prod.window.get()));
}
