//! Tokens, read from the environment variables the config names. A token never appears in the
//! config, in a log line, on screen, in the audit log or in an error message: [`Secret`]'s
//! `Debug` and `Display` print a placeholder.

use std::collections::HashMap;
use std::fmt;

/// A token. Only [`Secret::expose`] gives the text, for the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The tokens of one run, per environment where the config overrides the default.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub github_default: Option<Secret>,
    pub github_per_env: HashMap<String, Secret>,
    pub sentry_default: Option<Secret>,
    pub sentry_per_env: HashMap<String, Secret>,
}

impl Credentials {
    /// Fixed tokens for every environment (the demo sandbox accepts any token).
    pub fn fixed(github: &str, sentry: &str) -> Self {
        Self {
            github_default: Some(Secret::new(github)),
            sentry_default: Some(Secret::new(sentry)),
            ..Self::default()
        }
    }

    /// The GitHub token for environment `env` (its override, else the default).
    pub fn github_for(&self, env: &str) -> Option<&Secret> {
        self.github_per_env
            .get(env)
            .or(self.github_default.as_ref())
    }

    /// The Sentry token for environment `env` (its override, else the default).
    pub fn sentry_for(&self, env: &str) -> Option<&Secret> {
        self.sentry_per_env
            .get(env)
            .or(self.sentry_default.as_ref())
    }
}
