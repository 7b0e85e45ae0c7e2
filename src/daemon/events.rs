//! What changed between two snapshots, as the events a headless daemon logs and counts: a
//! source failing or answering again, an action starting, stepping and ending, a gate turning,
//! a verification reaching its verdict, the guard deciding, a deploy going live, and the lines
//! the engine wrote to its action log. A plain function over two snapshots: the engine owns
//! the decisions, this only reads them.

use crate::model::{
    ActionKind, ActionStepState, EnvironmentSnapshot, GateState, LogLine, Snapshot, SourceKind,
    VerificationPhase,
};

/// One thing worth a log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A poll of `source` failed (each failure, not only the first).
    SourceError {
        environment: String,
        source: SourceKind,
        error: String,
        failures_in_a_row: u32,
    },
    /// A source that was failing answered again.
    SourceRecovered {
        environment: String,
        source: SourceKind,
    },
    ActionStarted {
        environment: String,
        id: String,
        kind: ActionKind,
        sha: String,
        from_sha: Option<String>,
        actor: String,
    },
    ActionStep {
        environment: String,
        id: String,
        step: String,
        state: ActionStepState,
        detail: Option<String>,
    },
    ActionEnded {
        environment: String,
        id: String,
        kind: ActionKind,
        result: crate::model::ActionResult,
        reason: Option<String>,
    },
    /// A gate of the promotion into or the rollback of `environment` changed its verdict.
    GateChanged {
        environment: String,
        action: ActionKind,
        gate: String,
        state: GateState,
        measured: String,
        reason: String,
    },
    /// The verification of the running deploy reached (or changed) its phase.
    Verification {
        environment: String,
        sha: String,
        phase: VerificationPhase,
        reason: String,
    },
    /// The guard decided about a failed verification (`rolling_back`, `rolled_back`,
    /// `alerted`, `escalated`, ...).
    Guard {
        environment: String,
        decision: String,
        sha: String,
        to_sha: Option<String>,
        reason: String,
    },
    /// A new successful deployment of the environment's first service.
    Deployed {
        environment: String,
        sha: String,
        deployment_id: u64,
    },
    /// A line of the engine's action log.
    Log {
        environment: Option<String>,
        text: String,
        error: bool,
    },
}

/// The snake_case name a gate kind has in the status document.
pub fn gate_key(kind: crate::model::GateKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| kind.label().replace(' ', "_"))
}

/// The snake_case name of a source.
pub fn source_key(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Deployments => "deployments",
        SourceKind::Pipeline => "pipeline",
        SourceKind::Smoke => "smoke",
        SourceKind::Errors => "errors",
        SourceKind::History => "history",
    }
}

/// Everything that changed from `before` (absent: the first snapshot) to `after`.
pub fn between(before: Option<&Snapshot>, after: &Snapshot) -> Vec<Event> {
    let mut events = Vec::new();
    for (index, now) in after.environments.iter().enumerate() {
        let then = before.and_then(|b| b.environments.get(index));
        environment_events(then, now, &mut events);
    }
    let previous_log = before.map(|b| b.log.as_slice()).unwrap_or_default();
    for line in new_log_lines(previous_log, &after.log) {
        events.push(Event::Log {
            environment: line.environment.as_ref().map(|e| e.as_str().to_string()),
            text: line.text.as_str().to_string(),
            error: line.error,
        });
    }
    events
}

/// The lines of `after` that `before` did not have: both are the newest lines of one
/// bounded log, so the new ones follow the last line `before` ended with.
fn new_log_lines<'a>(before: &[LogLine], after: &'a [LogLine]) -> &'a [LogLine] {
    let Some(last) = before.last() else {
        return after;
    };
    match after.iter().rposition(|line| line == last) {
        Some(position) => &after[position + 1..],
        None => after,
    }
}

fn environment_events(
    then: Option<&EnvironmentSnapshot>,
    now: &EnvironmentSnapshot,
    events: &mut Vec<Event>,
) {
    let environment = now.name.as_str().to_string();
    for source in SourceKind::ALL {
        let health = now.health.get(source);
        let before = then.map(|t| t.health.get(source));
        let new_error = health.last_error.as_ref().filter(|(at, _)| {
            before
                .and_then(|b| b.last_error.as_ref())
                .is_none_or(|(seen, _)| seen != at)
        });
        if let Some((_, error)) = new_error
            && health.failures_in_a_row > 0
        {
            events.push(Event::SourceError {
                environment: environment.clone(),
                source,
                error: error.as_str().to_string(),
                failures_in_a_row: health.failures_in_a_row,
            });
        } else if health.failures_in_a_row == 0 && before.is_some_and(|b| b.failures_in_a_row > 0) {
            events.push(Event::SourceRecovered {
                environment: environment.clone(),
                source,
            });
        }
    }

    let deployed = now.services.first().and_then(|s| s.last_success.as_ref());
    let deployed_before = then
        .and_then(|t| t.services.first())
        .and_then(|s| s.last_success.as_ref());
    if let Some(deploy) = deployed
        && then.is_some()
        && deployed_before.is_none_or(|d| d.deployment_id != deploy.deployment_id)
    {
        events.push(Event::Deployed {
            environment: environment.clone(),
            sha: deploy.sha.clone(),
            deployment_id: deploy.deployment_id,
        });
    }

    action_events(then, now, &environment, events);

    for (kind, preview, preview_before) in [
        (
            ActionKind::Promote,
            now.release.promotion.as_ref(),
            then.and_then(|t| t.release.promotion.as_ref()),
        ),
        (
            ActionKind::Rollback,
            now.release.rollback.as_ref(),
            then.and_then(|t| t.release.rollback.as_ref()),
        ),
    ] {
        let Some(preview) = preview else { continue };
        for gate in &preview.gates.gates {
            let was = preview_before
                .and_then(|p| p.gates.gates.iter().find(|g| g.kind == gate.kind))
                .map(|g| g.state);
            if was != Some(gate.state) {
                events.push(Event::GateChanged {
                    environment: environment.clone(),
                    action: kind,
                    gate: gate_key(gate.kind),
                    state: gate.state,
                    measured: gate.measured.as_str().to_string(),
                    reason: gate.reason.as_str().to_string(),
                });
            }
        }
    }

    if let Some(view) = &now.verification {
        let was = then
            .and_then(|t| t.verification.as_ref())
            .map(|v| (v.sha.as_str(), v.deployment_id, v.phase));
        if was != Some((view.sha.as_str(), view.deployment_id, view.phase)) {
            events.push(Event::Verification {
                environment: environment.clone(),
                sha: view.sha.clone(),
                phase: view.phase,
                reason: view.reason.as_str().to_string(),
            });
        }
    }

    if let Some(last) = &now.guard.last {
        let was = then.and_then(|t| t.guard.last.as_ref());
        if was != Some(last) {
            events.push(Event::Guard {
                environment,
                decision: last.kind.as_str().to_string(),
                sha: last.sha.clone(),
                to_sha: last.to_sha.clone(),
                reason: last.reason.as_str().to_string(),
            });
        }
    }
}

fn action_events(
    then: Option<&EnvironmentSnapshot>,
    now: &EnvironmentSnapshot,
    environment: &str,
    events: &mut Vec<Event>,
) {
    let Some(activity) = &now.release.activity else {
        return;
    };
    let id = activity.id.as_str();
    let before = then
        .and_then(|t| t.release.activity.as_ref())
        .filter(|a| a.id.as_str() == id);
    if before.is_none() {
        if activity.result.is_some() && then.is_none() {
            // The last action of an earlier run, loaded with the first snapshot: old news.
            return;
        }
        events.push(Event::ActionStarted {
            environment: environment.to_string(),
            id: id.to_string(),
            kind: activity.kind,
            sha: activity.sha.clone(),
            from_sha: activity.from_sha.clone(),
            actor: activity.actor.as_str().to_string(),
        });
    }
    for (index, step) in activity.steps.iter().enumerate() {
        let was = before.and_then(|b| b.steps.get(index));
        let changed = match was {
            Some(was) => was.state != step.state || was.detail != step.detail,
            None => step.state != ActionStepState::Pending,
        };
        if changed && step.state != ActionStepState::Skipped {
            events.push(Event::ActionStep {
                environment: environment.to_string(),
                id: id.to_string(),
                step: step.name.as_str().to_string(),
                state: step.state,
                detail: step.detail.as_ref().map(|d| d.as_str().to_string()),
            });
        }
    }
    if let Some(result) = activity.result
        && before.is_none_or(|b| b.result.is_none())
    {
        events.push(Event::ActionEnded {
            environment: environment.to_string(),
            id: id.to_string(),
            kind: activity.kind,
            result,
            reason: activity.reason.as_ref().map(|r| r.as_str().to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ActionPreview, ActionProgress, ActionResult, Gate, GateKind, GateReport, SafeText, StepLine,
    };
    use chrono::{TimeZone, Utc};

    fn snapshot() -> Snapshot {
        let config = crate::config::parse_str(
            "[github]\nrepo = \"acme/shop\"\n[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n",
            "t.toml",
        )
        .expect("parses");
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        crate::engine::store::Store::new(&config, "t", at).publish(at)
    }

    fn progress(result: Option<ActionResult>, first_step: ActionStepState) -> ActionProgress {
        ActionProgress {
            id: SafeText::new("a1"),
            kind: ActionKind::Rollback,
            target: SafeText::new("dev"),
            sha: "b".repeat(40),
            from_sha: Some("a".repeat(40)),
            actor: SafeText::new("auto"),
            started_at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
            steps: vec![StepLine {
                name: SafeText::new("lock"),
                state: first_step,
                detail: None,
            }],
            result,
            reason: None,
        }
    }

    #[test]
    fn each_new_poll_error_is_an_event_and_the_recovery_one_more() {
        let before = snapshot();
        let mut failing = before.clone();
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 1, 0).unwrap();
        failing.environments[0].health.smoke.last_error = Some((at, SafeText::new("timeout")));
        failing.environments[0].health.smoke.failures_in_a_row = 1;
        let events = between(Some(&before), &failing);
        assert_eq!(
            events,
            [Event::SourceError {
                environment: "dev".into(),
                source: SourceKind::Smoke,
                error: "timeout".into(),
                failures_in_a_row: 1
            }]
        );
        assert!(between(Some(&failing), &failing).is_empty(), "no news");
        let mut again = failing.clone();
        again.environments[0].health.smoke.last_error = Some((
            at + chrono::TimeDelta::seconds(30),
            SafeText::new("timeout"),
        ));
        again.environments[0].health.smoke.failures_in_a_row = 2;
        assert_eq!(between(Some(&failing), &again).len(), 1);
        let mut recovered = again.clone();
        recovered.environments[0].health.smoke.failures_in_a_row = 0;
        assert_eq!(
            between(Some(&again), &recovered),
            [Event::SourceRecovered {
                environment: "dev".into(),
                source: SourceKind::Smoke
            }]
        );
    }

    #[test]
    fn an_action_starts_steps_and_ends_once() {
        let before = snapshot();
        let mut running = before.clone();
        running.environments[0].release.activity = Some(progress(None, ActionStepState::Running));
        let events = between(Some(&before), &running);
        assert!(
            matches!(events[0], Event::ActionStarted { .. }),
            "{events:?}"
        );
        assert!(
            matches!(&events[1], Event::ActionStep { step, state: ActionStepState::Running, .. } if step == "lock")
        );
        let mut ended = running.clone();
        ended.environments[0].release.activity = Some(progress(
            Some(ActionResult::Succeeded),
            ActionStepState::Done,
        ));
        let events = between(Some(&running), &ended);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[1],
            Event::ActionEnded {
                result: ActionResult::Succeeded,
                kind: ActionKind::Rollback,
                ..
            }
        ));
        assert!(between(Some(&ended), &ended).is_empty());
        // An action that ended before this run started is not news.
        assert!(between(None, &ended).is_empty());
    }

    #[test]
    fn a_gate_is_logged_when_its_verdict_changes_not_its_measurement() {
        let gate = |state, measured: &str| Gate::new(GateKind::Soak, state, measured, "1m", "");
        let preview = |gate: Gate| ActionPreview {
            kind: ActionKind::Promote,
            target: SafeText::new("dev"),
            source: None,
            sha: None,
            subject: None,
            from_sha: None,
            commits: Vec::new(),
            more_commits: 0,
            high_risk_files: Vec::new(),
            gates: GateReport { gates: vec![gate] },
            freeze_note: None,
            checklist: Vec::new(),
            evaluated_at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
            snapshot_version: 0,
        };
        let mut a = snapshot();
        a.environments[0].release.promotion = Some(preview(gate(GateState::Fail, "10s")));
        let mut b = a.clone();
        b.environments[0].release.promotion = Some(preview(gate(GateState::Fail, "20s")));
        assert!(between(Some(&a), &b).is_empty());
        let mut c = b.clone();
        c.environments[0].release.promotion = Some(preview(gate(GateState::Pass, "61s")));
        let events = between(Some(&b), &c);
        assert!(
            matches!(&events[..], [Event::GateChanged { gate, state: GateState::Pass, .. }] if gate == "soak"),
            "{events:?}"
        );
    }

    #[test]
    fn only_log_lines_after_the_last_one_seen_are_new() {
        let line = |text: &str| LogLine {
            at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
            environment: None,
            text: SafeText::new(text),
            error: false,
        };
        let before = [line("a"), line("b")];
        let after = [line("b"), line("c"), line("d")];
        let new: Vec<&str> = new_log_lines(&before, &after)
            .iter()
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(new, ["c", "d"]);
        assert_eq!(new_log_lines(&[], &after).len(), 3);
    }
}
