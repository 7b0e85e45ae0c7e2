//! Tokens, read from the environment variables the config names. A token never appears in the
//! config, in a log line, on screen, in the audit log or in an error message: [`Secret`]'s
//! `Debug` and `Display` print a placeholder.

use std::collections::HashMap;
use std::fmt;

use serde_spanned::Spanned;

use crate::config::types::Config;
use crate::model::sanitize;

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
    /// Notifier secrets (webhook URLs, PagerDuty routing keys) by the variable that held them.
    pub notifier_secrets: HashMap<String, Secret>,
    /// The outside diagnosis endpoint's API key.
    pub assistant_key: Option<Secret>,
    /// Why the assistant's key could not be read (the assistant is then not asked).
    pub assistant_key_problem: Option<String>,
}

/// A token variable the config names that holds no token. Names the variable and the config
/// key; never contains a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("{key}: environment variable {variable} is not set")]
    Unset { key: String, variable: String },
    #[error("{key}: environment variable {variable} is set but empty")]
    Empty { key: String, variable: String },
}

impl Credentials {
    /// Reads every token variable the config names through `lookup` (`std::env::var` in the
    /// binary, a closure in tests). A variable that is named but unset or empty is an error
    /// naming the variable and the config key. No `token_env` for GitHub: no token
    /// (anonymous). Per-environment overrides fill `github_per_env` / `sentry_per_env` by
    /// environment name. Surrounding whitespace (a trailing newline from `$(cat file)`) is
    /// dropped.
    pub fn resolve(
        config: &Config,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialError> {
        let read = |key: String, variable: Option<&Spanned<String>>| {
            variable
                .map(|variable| read_token(&lookup, key, variable.get_ref()))
                .transpose()
        };
        let mut credentials = Credentials {
            github_default: read(
                "[github] token_env".to_string(),
                config.github.token_env.as_ref(),
            )?,
            sentry_default: read(
                "[sentry] token_env".to_string(),
                config.sentry.as_ref().and_then(|s| s.token_env.as_ref()),
            )?,
            ..Credentials::default()
        };
        for (i, env) in config.environments.iter().enumerate() {
            let name = env.name.get_ref();
            let place = format!("[[environment]] #{} ({})", i + 1, sanitize(name, 40));
            if let Some(token) = read(
                format!("{place} github_token_env"),
                env.github_token_env.as_ref(),
            )? {
                credentials.github_per_env.insert(name.clone(), token);
            }
            if let Some(token) = read(
                format!("{place} sentry_token_env"),
                env.sentry_token_env.as_ref(),
            )? {
                credentials.sentry_per_env.insert(name.clone(), token);
            }
            for (j, notifier) in env.notifiers.iter().enumerate() {
                for (field, variable) in [
                    ("url_env", notifier.url_env.as_ref()),
                    ("routing_key_env", notifier.routing_key_env.as_ref()),
                ] {
                    if let Some(variable) = variable
                        && let Some(secret) =
                            read(format!("{place} notify #{} {field}", j + 1), Some(variable))?
                    {
                        credentials
                            .notifier_secrets
                            .insert(variable.get_ref().clone(), secret);
                    }
                }
            }
        }
        // The assistant only adds a second opinion: a missing key leaves it out (and says so
        // on screen) rather than keeping the cockpit from starting.
        if let Some(assistant) = &config.diagnosis.assistant {
            match read(
                "[diagnosis.assistant] api_key_env".to_string(),
                assistant.api_key_env.as_ref(),
            ) {
                Ok(key) => credentials.assistant_key = key,
                Err(problem) => credentials.assistant_key_problem = Some(problem.to_string()),
            }
        }
        Ok(credentials)
    }

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

    /// The notifier secret the config names by `variable`, once read.
    pub fn notifier_secret(&self, variable: &str) -> Option<&Secret> {
        self.notifier_secrets.get(variable)
    }

    /// The Sentry token for environment `env` (its override, else the default).
    pub fn sentry_for(&self, env: &str) -> Option<&Secret> {
        self.sentry_per_env
            .get(env)
            .or(self.sentry_default.as_ref())
    }
}

fn read_token(
    lookup: &impl Fn(&str) -> Option<String>,
    key: String,
    variable: &str,
) -> Result<Secret, CredentialError> {
    let shown_variable = sanitize(variable, 80);
    match lookup(variable) {
        None => Err(CredentialError::Unset {
            key,
            variable: shown_variable,
        }),
        Some(value) if value.trim().is_empty() => Err(CredentialError::Empty {
            key,
            variable: shown_variable,
        }),
        Some(value) => Ok(Secret::new(value.trim())),
    }
}
