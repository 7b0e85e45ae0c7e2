//! `[daemon]`: how `shipdeck daemon` runs without a screen: where its health and metrics
//! endpoint listens (a loopback address only: the figures name environments and commits, and
//! nothing there asks who is calling) and how it writes its log.

use std::net::SocketAddr;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::config::doc_map::{Seg, key};

/// Where the daemon's endpoint listens unless the config says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// `HOST:PORT` of the health and metrics endpoint; port 0 takes any free port (the first
    /// log line says which).
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// The log on stdout: `json` (one JSON object a line) or `text`.
    #[serde(default)]
    pub log: DaemonLog,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            log: DaemonLog::default(),
        }
    }
}

impl DaemonConfig {
    /// The address to bind; `None` only for a config that did not pass validation.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        loopback_addr(self.listen.get_ref()).ok()
    }
}

/// How the daemon writes its log lines.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DaemonLog {
    #[default]
    Json,
    Text,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_LISTEN.to_string())
}

/// `raw` as a socket address on a loopback interface, or why not.
pub fn loopback_addr(raw: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = raw.trim().parse().map_err(|_| {
        format!(
            "must be IP:PORT, e.g. \"{DEFAULT_LISTEN}\" or \"[::1]:9464\", found {:?}",
            crate::model::sanitize(raw, 60)
        )
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "must be a loopback address (127.0.0.1 or ::1), found {}: the endpoint answers \
             anyone who can reach it; put a proxy in front to publish it",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// The problems of `[daemon]`, each with the key path it is about.
pub(crate) fn problems(config: &DaemonConfig) -> Vec<(Vec<Seg>, String)> {
    match loopback_addr(config.listen.get_ref()) {
        Ok(_) => Vec::new(),
        Err(problem) => vec![(vec![key("daemon"), key("listen")], problem)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_and_port_zero_are_accepted() {
        for raw in [
            "127.0.0.1:9464",
            "127.0.0.1:0",
            "[::1]:9464",
            " 127.0.0.2:80 ",
        ] {
            assert!(loopback_addr(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn other_addresses_are_refused_with_the_reason() {
        let wide = loopback_addr("0.0.0.0:9464").unwrap_err();
        assert!(wide.contains("loopback"), "{wide}");
        let public = loopback_addr("192.168.1.4:9464").unwrap_err();
        assert!(public.contains("192.168.1.4"), "{public}");
        let name = loopback_addr("localhost:9464").unwrap_err();
        assert!(name.contains("IP:PORT"), "{name}");
        assert!(loopback_addr("127.0.0.1").is_err());
    }
}
