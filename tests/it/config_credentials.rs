//! Resolution of the token variables a config names, through a lookup closure (never the
//! process environment), and that no token ever shows in Debug or Display.

use std::collections::HashMap;

use shipdeck::config::{Config, CredentialError, Credentials, parse_str};

const SECRET_GITHUB: &str = "ghp_0123456789abcdefGHIJKLMNOPqrstuvwxyz";
const SECRET_PROD: &str = "github_pat_prodONLY0123456789";
const SECRET_SENTRY: &str = "sntrys_sentryTOKEN0123456789";

fn config(text: &str) -> Config {
    match parse_str(text, "c.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    }
}

fn full_config() -> Config {
    config(
        r#"
[github]
repo = "acme/shop"
token_env = "GITHUB_TOKEN"

[sentry]
org = "acme"
project_ids = [1]
token_env = "SENTRY_TOKEN"

[[environment]]
name = "staging"
branch = "staging"
url = "https://staging.example"

[[environment]]
name = "prod"
branch = "prod"
url = "https://prod.example"
github_token_env = "PROD_GITHUB_TOKEN"
sentry_token_env = "PROD_SENTRY_TOKEN"
"#,
    )
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn all_set() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("GITHUB_TOKEN", SECRET_GITHUB),
        ("SENTRY_TOKEN", SECRET_SENTRY),
        ("PROD_GITHUB_TOKEN", SECRET_PROD),
        ("PROD_SENTRY_TOKEN", "prod-sentry"),
    ])
}

#[test]
fn per_environment_overrides_replace_the_default() {
    let credentials = Credentials::resolve(&full_config(), all_set()).expect("resolved");
    let github = |env| credentials.github_for(env).map(|s| s.expose().to_string());
    let sentry = |env| credentials.sentry_for(env).map(|s| s.expose().to_string());
    assert_eq!(github("prod").as_deref(), Some(SECRET_PROD));
    assert_eq!(github("staging").as_deref(), Some(SECRET_GITHUB));
    assert_eq!(sentry("prod").as_deref(), Some("prod-sentry"));
    assert_eq!(sentry("staging").as_deref(), Some(SECRET_SENTRY));
    assert_eq!(credentials.github_per_env.len(), 1);
    assert_eq!(credentials.sentry_per_env.len(), 1);
}

#[test]
fn unset_variable_names_the_variable_and_the_key() {
    let lookup = env_of(&[
        ("GITHUB_TOKEN", SECRET_GITHUB),
        ("SENTRY_TOKEN", SECRET_SENTRY),
    ]);
    let err = Credentials::resolve(&full_config(), lookup).expect_err("prod token unset");
    assert_eq!(
        err.to_string(),
        "[[environment]] #2 (prod) github_token_env: environment variable PROD_GITHUB_TOKEN \
         is not set"
    );
    let err = Credentials::resolve(&full_config(), env_of(&[])).expect_err("nothing set");
    assert_eq!(
        err.to_string(),
        "[github] token_env: environment variable GITHUB_TOKEN is not set"
    );
}

#[test]
fn empty_variable_is_an_error() {
    let lookup = env_of(&[("GITHUB_TOKEN", "  \n"), ("SENTRY_TOKEN", SECRET_SENTRY)]);
    let err = Credentials::resolve(&full_config(), lookup).expect_err("empty");
    assert_eq!(
        err,
        CredentialError::Empty {
            key: "[github] token_env".to_string(),
            variable: "GITHUB_TOKEN".to_string()
        }
    );
    assert_eq!(
        err.to_string(),
        "[github] token_env: environment variable GITHUB_TOKEN is set but empty"
    );
}

#[test]
fn sentry_variable_unset_is_reported_with_its_key() {
    let lookup = env_of(&[("GITHUB_TOKEN", SECRET_GITHUB)]);
    let err = Credentials::resolve(&full_config(), lookup).expect_err("sentry unset");
    assert_eq!(
        err.to_string(),
        "[sentry] token_env: environment variable SENTRY_TOKEN is not set"
    );
}

#[test]
fn no_token_env_for_github_means_anonymous() {
    let config = config(
        "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\n\
         url = \"https://dev.example\"\n",
    );
    let asked = std::cell::RefCell::new(Vec::new());
    let credentials = Credentials::resolve(&config, |name| {
        asked.borrow_mut().push(name.to_string());
        None
    })
    .expect("anonymous is fine");
    assert!(credentials.github_for("dev").is_none());
    assert!(credentials.sentry_for("dev").is_none());
    assert!(asked.borrow().is_empty(), "looked up {:?}", asked.borrow());
}

#[test]
fn a_trailing_newline_is_not_part_of_the_token() {
    let lookup = env_of(&[
        ("GITHUB_TOKEN", "abc\n"),
        ("SENTRY_TOKEN", SECRET_SENTRY),
        ("PROD_GITHUB_TOKEN", SECRET_PROD),
        ("PROD_SENTRY_TOKEN", "x"),
    ]);
    let credentials = Credentials::resolve(&full_config(), lookup).expect("resolved");
    assert_eq!(
        credentials.github_for("staging").map(|s| s.expose()),
        Some("abc")
    );
}

#[test]
fn no_token_leaks_through_debug_or_display() {
    let credentials = Credentials::resolve(&full_config(), all_set()).expect("resolved");
    let shown = format!(
        "{credentials:?} {:?} {}",
        credentials.github_for("prod"),
        credentials.github_for("staging").expect("set")
    );
    for secret in [SECRET_GITHUB, SECRET_PROD, SECRET_SENTRY, "prod-sentry"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    let lookup = env_of(&[("GITHUB_TOKEN", SECRET_GITHUB)]);
    let err = Credentials::resolve(&full_config(), lookup).expect_err("sentry unset");
    let shown = format!("{err} {err:?}");
    for secret in [SECRET_GITHUB, SECRET_SENTRY] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
}
