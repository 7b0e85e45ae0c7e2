//! The daemon's figures in the Prometheus text format (version 0.0.4): counters kept from
//! the engine's events (deploys seen, promotions and rollbacks and how they ended, automatic
//! rollbacks, verification verdicts, source errors), gauges read off the latest snapshot
//! (what runs where, gate and verification states, how old each source's data is), and the
//! GitHub read clients' request and 304 counts. Pure: events and snapshots in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::events::{Event, gate_key, source_key};
use crate::engine::GithubUsage;
use crate::model::{ActionResult, GateState, Snapshot, SourceKind, VerificationPhase};

/// Label sets, kept sorted so the output is stable.
type Labels = Vec<(&'static str, String)>;

/// The counters, grown by [`Metrics::record`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    counters: BTreeMap<&'static str, BTreeMap<Labels, u64>>,
}

/// One counter family: its name and help line.
struct Family {
    name: &'static str,
    help: &'static str,
}

const DEPLOYS: Family = Family {
    name: "shipdeck_deploys_total",
    help: "New successful deployments seen, by environment (whoever made them).",
};
const ACTIONS: Family = Family {
    name: "shipdeck_actions_total",
    help: "Promotions and rollbacks this daemon ran to their end, by environment, kind and result.",
};
const AUTO_ROLLBACKS: Family = Family {
    name: "shipdeck_auto_rollbacks_total",
    help: "Automatic rollbacks the guard started after a failed verification.",
};
const VERDICTS: Family = Family {
    name: "shipdeck_verification_verdicts_total",
    help: "Verification verdicts reached, by environment and verdict.",
};
const SOURCE_ERRORS: Family = Family {
    name: "shipdeck_source_errors_total",
    help: "Failed polls, by environment and source.",
};
const COUNTERS: [Family; 5] = [DEPLOYS, ACTIONS, AUTO_ROLLBACKS, VERDICTS, SOURCE_ERRORS];

impl Metrics {
    /// Counts what `event` adds to the counters.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::Deployed { environment, .. } => {
                self.add(DEPLOYS.name, vec![("environment", environment.clone())]);
            }
            Event::ActionEnded {
                environment,
                kind,
                result,
                ..
            } => self.add(
                ACTIONS.name,
                vec![
                    ("environment", environment.clone()),
                    ("kind", kind.word().to_string()),
                    ("result", result_word(*result).to_string()),
                ],
            ),
            Event::Guard {
                environment,
                decision,
                ..
            } if decision == "rolling_back" => {
                self.add(
                    AUTO_ROLLBACKS.name,
                    vec![("environment", environment.clone())],
                );
            }
            Event::Verification {
                environment, phase, ..
            } if is_verdict(*phase) => self.add(
                VERDICTS.name,
                vec![
                    ("environment", environment.clone()),
                    ("verdict", phase.word().replace(' ', "_")),
                ],
            ),
            Event::SourceError {
                environment,
                source,
                ..
            } => self.add(
                SOURCE_ERRORS.name,
                vec![
                    ("environment", environment.clone()),
                    ("source", source_key(*source).to_string()),
                ],
            ),
            _ => {}
        }
    }

    fn add(&mut self, family: &'static str, labels: Labels) {
        *self
            .counters
            .entry(family)
            .or_default()
            .entry(labels)
            .or_default() += 1;
    }

    /// The value of one counter (0 when it never moved).
    pub fn counter(&self, family: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .get(family)
            .and_then(|series| {
                series.iter().find_map(|(have, value)| {
                    let same = have.len() == labels.len()
                        && have
                            .iter()
                            .zip(labels)
                            .all(|((k, v), (k2, v2))| k == k2 && v == v2);
                    same.then_some(*value)
                })
            })
            .unwrap_or(0)
    }

    /// Everything, in the Prometheus text format.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        usage: &[GithubUsage],
        sources: &[SourceKind],
        now: DateTime<Utc>,
    ) -> String {
        let mut out = String::new();
        for family in COUNTERS {
            header(&mut out, family.name, family.help, "counter");
            for (labels, value) in self.counters.get(family.name).into_iter().flatten() {
                sample(&mut out, family.name, labels, *value as f64);
            }
        }

        header(
            &mut out,
            "shipdeck_github_requests_total",
            "GitHub API requests of the read side, 304s included, by environment.",
            "counter",
        );
        for u in usage {
            let labels = vec![("environment", u.environment.clone())];
            sample(
                &mut out,
                "shipdeck_github_requests_total",
                &labels,
                u.requests as f64,
            );
        }
        header(
            &mut out,
            "shipdeck_github_not_modified_total",
            "GitHub answers that were 304 Not Modified (no rate limit spent), by environment.",
            "counter",
        );
        for u in usage {
            let labels = vec![("environment", u.environment.clone())];
            sample(
                &mut out,
                "shipdeck_github_not_modified_total",
                &labels,
                u.not_modified as f64,
            );
        }
        if let Some(limit) = &snapshot.rate_limit {
            header(
                &mut out,
                "shipdeck_github_rate_limit_remaining",
                "Requests left in GitHub's rate-limit window, from the latest answer.",
                "gauge",
            );
            sample(
                &mut out,
                "shipdeck_github_rate_limit_remaining",
                &Vec::new(),
                limit.remaining as f64,
            );
        }

        self.render_gauges(&mut out, snapshot, sources, now);
        out
    }

    fn render_gauges(
        &self,
        out: &mut String,
        snapshot: &Snapshot,
        sources: &[SourceKind],
        now: DateTime<Utc>,
    ) {
        header(
            out,
            "shipdeck_deployed_info",
            "The commit each environment runs (its first service's last successful deployment).",
            "gauge",
        );
        for env in &snapshot.environments {
            if let Some(deploy) = env.services.first().and_then(|s| s.last_success.as_ref()) {
                let labels = vec![
                    ("environment", env.name.as_str().to_string()),
                    ("sha", deploy.sha.clone()),
                ];
                sample(out, "shipdeck_deployed_info", &labels, 1.0);
            }
        }
        header(
            out,
            "shipdeck_deployed_timestamp_seconds",
            "When each environment's running deployment went live (Unix time).",
            "gauge",
        );
        for env in &snapshot.environments {
            if let Some(at) = env
                .services
                .first()
                .and_then(|s| s.last_success.as_ref())
                .and_then(|d| d.at)
            {
                let labels = vec![("environment", env.name.as_str().to_string())];
                sample(
                    out,
                    "shipdeck_deployed_timestamp_seconds",
                    &labels,
                    at.timestamp() as f64,
                );
            }
        }

        header(
            out,
            "shipdeck_action_in_flight",
            "1 while a promotion or rollback of the environment runs in this daemon.",
            "gauge",
        );
        for env in &snapshot.environments {
            let running = env
                .release
                .activity
                .as_ref()
                .is_some_and(|a| a.result.is_none());
            let labels = vec![("environment", env.name.as_str().to_string())];
            sample(
                out,
                "shipdeck_action_in_flight",
                &labels,
                f64::from(u8::from(running)),
            );
        }

        header(
            out,
            "shipdeck_gate_state",
            "Each gate of the next promotion and of a rollback: 1 for its current state.",
            "gauge",
        );
        for env in &snapshot.environments {
            for preview in [&env.release.promotion, &env.release.rollback]
                .into_iter()
                .flatten()
            {
                for gate in &preview.gates.gates {
                    for state in [GateState::Pass, GateState::Fail, GateState::Unknown] {
                        let labels = vec![
                            ("action", preview.kind.word().to_string()),
                            ("environment", env.name.as_str().to_string()),
                            ("gate", gate_key(gate.kind)),
                            ("state", state.word().to_string()),
                        ];
                        sample(
                            out,
                            "shipdeck_gate_state",
                            &labels,
                            f64::from(u8::from(gate.state == state)),
                        );
                    }
                }
            }
        }

        header(
            out,
            "shipdeck_verification_phase",
            "The running deploy's verification: 1 for its current phase.",
            "gauge",
        );
        for env in &snapshot.environments {
            let Some(view) = &env.verification else {
                continue;
            };
            for phase in [
                VerificationPhase::Deploying,
                VerificationPhase::Verifying,
                VerificationPhase::Verified,
                VerificationPhase::Failed,
                VerificationPhase::NotEnoughData,
            ] {
                let labels = vec![
                    ("environment", env.name.as_str().to_string()),
                    ("phase", phase.word().replace(' ', "_")),
                ];
                sample(
                    out,
                    "shipdeck_verification_phase",
                    &labels,
                    f64::from(u8::from(view.phase == phase)),
                );
            }
        }

        header(
            out,
            "shipdeck_source_up",
            "1 when the source's latest poll succeeded.",
            "gauge",
        );
        for env in &snapshot.environments {
            for source in sources {
                let health = env.health.get(*source);
                let up = health.last_success.is_some() && health.failures_in_a_row == 0;
                let labels = vec![
                    ("environment", env.name.as_str().to_string()),
                    ("source", source_key(*source).to_string()),
                ];
                sample(out, "shipdeck_source_up", &labels, f64::from(u8::from(up)));
            }
        }
        header(
            out,
            "shipdeck_source_age_seconds",
            "World seconds since the source last answered well (absent: never).",
            "gauge",
        );
        for env in &snapshot.environments {
            for source in sources {
                if let Some(age) = env.health.get(*source).age(now) {
                    let labels = vec![
                        ("environment", env.name.as_str().to_string()),
                        ("source", source_key(*source).to_string()),
                    ];
                    sample(
                        out,
                        "shipdeck_source_age_seconds",
                        &labels,
                        age.as_secs_f64(),
                    );
                }
            }
        }
    }
}

fn is_verdict(phase: VerificationPhase) -> bool {
    matches!(
        phase,
        VerificationPhase::Verified | VerificationPhase::Failed | VerificationPhase::NotEnoughData
    )
}

fn result_word(result: ActionResult) -> &'static str {
    result.word()
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &Labels, value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionKind, SafeText};
    use chrono::TimeZone;

    fn snapshot() -> Snapshot {
        let config = crate::config::parse_str(
            "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n",
            "t.toml",
        )
        .expect("parses");
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        crate::engine::store::Store::new(&config, "t", at).publish(at)
    }

    #[test]
    fn counters_count_events_and_render_with_help_and_type() {
        let mut metrics = Metrics::default();
        let ended = Event::ActionEnded {
            environment: "dev".into(),
            id: "a".into(),
            kind: ActionKind::Rollback,
            result: ActionResult::Succeeded,
            reason: None,
        };
        metrics.record(&ended);
        metrics.record(&ended);
        metrics.record(&Event::Guard {
            environment: "dev".into(),
            decision: "rolling_back".into(),
            sha: "b".repeat(40),
            to_sha: None,
            reason: "error rate".into(),
        });
        metrics.record(&Event::Guard {
            environment: "dev".into(),
            decision: "rolled_back".into(),
            sha: "b".repeat(40),
            to_sha: None,
            reason: "error rate".into(),
        });
        metrics.record(&Event::SourceError {
            environment: "dev".into(),
            source: SourceKind::Errors,
            error: "502".into(),
            failures_in_a_row: 1,
        });
        let usage = [GithubUsage {
            environment: "dev".into(),
            requests: 12,
            not_modified: 5,
        }];
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 30).unwrap();
        let text = metrics.render(&snapshot(), &usage, &[SourceKind::Smoke], now);
        for line in [
            "# TYPE shipdeck_actions_total counter",
            "shipdeck_actions_total{environment=\"dev\",kind=\"rollback\",result=\"succeeded\"} 2",
            "shipdeck_auto_rollbacks_total{environment=\"dev\"} 1",
            "shipdeck_source_errors_total{environment=\"dev\",source=\"errors\"} 1",
            "shipdeck_github_requests_total{environment=\"dev\"} 12",
            "shipdeck_github_not_modified_total{environment=\"dev\"} 5",
            "shipdeck_source_up{environment=\"dev\",source=\"smoke\"} 0",
            "shipdeck_action_in_flight{environment=\"dev\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert_eq!(
            metrics.counter(
                ACTIONS.name,
                &[
                    ("environment", "dev"),
                    ("kind", "rollback"),
                    ("result", "succeeded")
                ]
            ),
            2
        );
        // Every sample line is NAME{labels} VALUE or NAME VALUE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn gauges_follow_the_snapshot() {
        let mut snap = snapshot();
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        snap.environments[0].health.smoke.last_success = Some(at);
        snap.environments[0].services[0].last_success = Some(crate::model::DeployState {
            deployment_id: 7,
            sha: "c".repeat(40),
            status: crate::model::DeployStatus::Success,
            at: Some(at),
            creator: None,
            description: Some(SafeText::new("x")),
        });
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        let text = Metrics::default().render(&snap, &[], &[SourceKind::Smoke], now);
        let sha = "c".repeat(40);
        assert!(
            text.contains(&format!(
                "shipdeck_deployed_info{{environment=\"dev\",sha=\"{sha}\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains("shipdeck_source_up{environment=\"dev\",source=\"smoke\"} 1"));
        assert!(
            text.contains("shipdeck_source_age_seconds{environment=\"dev\",source=\"smoke\"} 3600")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
