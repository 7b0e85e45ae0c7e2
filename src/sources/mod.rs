//! The read side: one client per outside system (GitHub, Sentry, the apps' smoke endpoints).
//! Clients fetch and decode; they decide nothing. Their results become typed updates for the
//! engine, and their failures become [`SourceError`]s whose text is safe to show.

pub mod cache;
pub mod github;
pub mod sentry;
pub mod smoke;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use cache::BoundedCache;

/// Why a fetch failed. The text never holds a token: clients put only URLs paths, statuses
/// and messages from the remote side in it, and all of it is sanitized before it is shown.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{service}: {reason}")]
    Unreachable {
        service: &'static str,
        reason: String,
    },
    #[error("{service} answered {status}: {message}")]
    Status {
        service: &'static str,
        status: u16,
        message: String,
    },
    #[error("{service} rate limit reached{}", describe_wait(*.reset, *.retry_after))]
    RateLimited {
        service: &'static str,
        /// When the primary limit resets (world time of the remote side).
        reset: Option<DateTime<Utc>>,
        /// How long the remote side asked us to wait.
        retry_after: Option<Duration>,
    },
    #[error("unexpected answer from {service}: {reason}")]
    Decode {
        service: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Setup(String),
}

fn describe_wait(reset: Option<DateTime<Utc>>, retry_after: Option<Duration>) -> String {
    match (retry_after, reset) {
        (Some(wait), _) => format!(", retry after {} s", wait.as_secs()),
        (None, Some(reset)) => format!(", resets at {}", reset.format("%H:%M:%S UTC")),
        (None, None) => String::new(),
    }
}

impl SourceError {
    /// The wait the remote side asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// When an exhausted rate limit resets, if known.
    pub fn rate_reset(&self) -> Option<DateTime<Utc>> {
        match self {
            SourceError::RateLimited { reset, .. } => *reset,
            _ => None,
        }
    }
}

/// A short, human description of a reqwest failure: "connection refused", "timed out", ...
/// The error chain's innermost message is the useful one; the URL is left out on purpose.
pub fn describe_reqwest_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_string();
    }
    let mut deepest = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        deepest = inner.to_string();
        source = inner.source();
    }
    let lower = deepest.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".to_string()
    } else if lower.contains("timed out") {
        "timed out".to_string()
    } else if error.is_connect() {
        format!("cannot connect: {deepest}")
    } else {
        deepest
    }
}

/// Whether `url` may carry a token: https anywhere, plain http only to a loopback host.
pub fn is_safe_api_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    match uri.scheme_str() {
        Some("https") => uri.host().is_some(),
        Some("http") => uri.host().is_some_and(crate::config::is_loopback_host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_may_carry_a_token() {
        assert!(is_safe_api_url("https://api.github.com"));
        assert!(is_safe_api_url("https://ghe.example.com/api/v3"));
        assert!(is_safe_api_url("http://127.0.0.1:4321"));
        assert!(is_safe_api_url("http://localhost:80"));
        assert!(is_safe_api_url("http://[::1]:8080"));
        assert!(!is_safe_api_url("http://api.github.com"));
        assert!(!is_safe_api_url("http://10.0.0.1"));
        assert!(!is_safe_api_url("ftp://127.0.0.1"));
        assert!(!is_safe_api_url("not a url"));
    }

    #[test]
    fn rate_limit_error_says_how_long_to_wait() {
        let e = SourceError::RateLimited {
            service: "GitHub",
            reset: None,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(e.to_string(), "GitHub rate limit reached, retry after 60 s");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    }
}
