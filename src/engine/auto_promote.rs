//! Whether an environment with `auto_promote = true` promotes its candidate now, as one pure
//! decision over plain data: the promotion's preview (its gates), when the soak ends, the
//! hold read from GitHub, what was already tried for the candidate (read from durable
//! records: GitHub's deployments and the audit log, so a restart does not try again) and
//! the action running in the environment.
//!
//! Fail closed: a hold or a history that cannot be read waits. A freeze or high-risk files
//! never pass by themselves: they wait for a person, who promotes with `p` as usual.

use chrono::{DateTime, Utc};

use crate::model::{
    ActionKind, ActionPreview, ActionProgress, AuditEntry, AutoDecision, GateKind, GateState,
    HoldView, SafeText,
};
use crate::sources::github::DeploymentHistoryEntry;

/// The audit event of a promotion the engine started by itself.
pub const AUTO_PROMOTE_EVENT: &str = "auto_promote";

/// What the hold ref said.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldRead {
    Free,
    Held(HoldView),
    /// It could not be read (the reason): nothing is promoted until it can.
    Unknown(String),
}

/// An earlier promotion of the candidate into the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub sha: String,
    pub outcome: AttemptOutcome,
}

/// How an earlier attempt went, as far as its records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Started (the audit log says so) with no deployment recorded yet.
    Started,
    InProgress,
    Deployed,
    Failed,
    /// Deployed once, then replaced: rolled back or superseded.
    Replaced,
}

impl AttemptOutcome {
    pub fn word(self) -> &'static str {
        match self {
            AttemptOutcome::Started => "started",
            AttemptOutcome::InProgress => "in progress",
            AttemptOutcome::Deployed => "deployed",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Replaced => "rolled back or replaced",
        }
    }
}

/// Everything the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct AutoFacts<'a> {
    /// The promotion into the environment, as the preview loop last judged it.
    pub preview: Option<&'a ActionPreview>,
    /// When the candidate's soak in the source ends (`None`: not known).
    pub soak_until: Option<DateTime<Utc>>,
    pub hold: &'a HoldRead,
    /// Earlier promotions of the candidate (`Err`: the history could not be read).
    pub attempts: Result<&'a [Attempt], &'a str>,
    /// The action in the environment, running or last ended.
    pub activity: Option<&'a ActionProgress>,
}

/// Whether to promote now, and if not, why.
pub fn decide(facts: &AutoFacts<'_>) -> AutoDecision {
    match facts.hold {
        HoldRead::Held(hold) => return AutoDecision::Held { hold: hold.clone() },
        HoldRead::Unknown(why) => {
            return wait(
                facts.preview.and_then(|p| p.sha.clone()),
                vec![format!("hold: cannot read it: {why}")],
                None,
            );
        }
        HoldRead::Free => {}
    }
    if let Some(running) = facts.activity.filter(|a| a.result.is_none()) {
        return match running.kind {
            ActionKind::Promote => AutoDecision::Promoting {
                sha: running.sha.clone(),
            },
            ActionKind::Rollback => wait(
                facts.preview.and_then(|p| p.sha.clone()),
                vec![format!(
                    "rollback to {} running",
                    crate::engine::plan::short_sha(&running.sha)
                )],
                None,
            ),
        };
    }
    let Some(preview) = facts.preview else {
        return wait(
            None,
            vec!["the gates have not been judged yet".into()],
            None,
        );
    };
    let Some(sha) = preview.sha.clone() else {
        return wait(None, blocking_lines(preview), None);
    };
    match facts.attempts {
        Err(why) => {
            return wait(
                Some(sha),
                vec![format!("history: cannot tell whether it was tried: {why}")],
                None,
            );
        }
        Ok(attempts) => {
            if let Some(tried) = most_telling(attempts, &sha) {
                return AutoDecision::AlreadyTried {
                    sha,
                    outcome: SafeText::new(tried.word()),
                };
            }
        }
    }
    if let Some(reason) = needs_human(preview) {
        return AutoDecision::NeedsHuman {
            sha,
            reason: SafeText::with_max(&reason, 300),
        };
    }
    if preview.gates.allowed() {
        return AutoDecision::Promote { sha };
    }
    let soaking = preview
        .gates
        .gate(GateKind::Soak)
        .is_some_and(|g| g.state != GateState::Pass);
    wait(
        Some(sha),
        blocking_lines(preview),
        facts.soak_until.filter(|_| soaking),
    )
}

fn wait(
    sha: Option<String>,
    lines: Vec<String>,
    soak_until: Option<DateTime<Utc>>,
) -> AutoDecision {
    AutoDecision::Wait {
        sha,
        waiting_for: lines.iter().map(|l| SafeText::with_max(l, 200)).collect(),
        soak_until,
    }
}

fn blocking_lines(preview: &ActionPreview) -> Vec<String> {
    preview
        .gates
        .blocking()
        .iter()
        .map(|g| format!("{}: {}", g.kind.label(), g.reason))
        .collect()
}

/// A freeze in force or a change that needs a second confirmation: only a person decides.
fn needs_human(preview: &ActionPreview) -> Option<String> {
    if let Some(freeze) = preview
        .gates
        .gate(GateKind::Freeze)
        .filter(|g| g.state == GateState::Fail)
    {
        return Some(format!(
            "{}: a person may promote through it with a reason",
            freeze.reason
        ));
    }
    // Judged unattended: an item without its label on the carrying pull request needs a
    // person to tick it.
    if let Some(checklist) = preview
        .gates
        .gate(GateKind::Checklist)
        .filter(|g| g.state == GateState::Fail)
    {
        return Some(checklist.reason.as_str().to_string());
    }
    if preview.gates.needs_confirmation() {
        let files: Vec<&str> = preview
            .high_risk_files
            .iter()
            .take(3)
            .map(SafeText::as_str)
            .collect();
        let more = preview.high_risk_files.len().saturating_sub(files.len());
        return Some(format!(
            "high-risk files ({}{}): a person confirms them",
            files.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    None
}

/// The attempt of `sha` that says most about it: one still running, else a success, else
/// the rest.
fn most_telling(attempts: &[Attempt], sha: &str) -> Option<AttemptOutcome> {
    let rank = |o: AttemptOutcome| match o {
        AttemptOutcome::InProgress => 0,
        AttemptOutcome::Deployed => 1,
        AttemptOutcome::Replaced => 2,
        AttemptOutcome::Failed => 3,
        AttemptOutcome::Started => 4,
    };
    attempts
        .iter()
        .filter(|a| a.sha.eq_ignore_ascii_case(sha))
        .map(|a| a.outcome)
        .min_by_key(|o| rank(*o))
}

/// What GitHub's deployments of `sha` into the environment say was tried.
pub fn attempts_from_deployments(deployments: &[DeploymentHistoryEntry]) -> Vec<Attempt> {
    deployments
        .iter()
        .map(|d| Attempt {
            sha: d.sha.clone(),
            outcome: match d.current_state() {
                Some("success") => AttemptOutcome::Deployed,
                Some("failure" | "error") => AttemptOutcome::Failed,
                Some("inactive") if d.succeeded_at().is_some() => AttemptOutcome::Replaced,
                Some("inactive") => AttemptOutcome::Failed,
                _ => AttemptOutcome::InProgress,
            },
        })
        .collect()
}

/// Auto-promotions the audit log says were started in `environment`.
pub fn attempts_from_audit(audit: &[AuditEntry], environment: &str) -> Vec<Attempt> {
    audit
        .iter()
        .filter(|e| {
            e.event.as_str() == AUTO_PROMOTE_EVENT
                && e.environment.as_str() == environment
                && e.result.as_str() == "started"
        })
        .filter_map(|e| {
            Some(Attempt {
                sha: e.to_sha.clone()?,
                outcome: AttemptOutcome::Started,
            })
        })
        .collect()
}

/// When the soak of a candidate that started running in the source at `running_since` ends.
pub fn soak_end(
    soak: std::time::Duration,
    running_since: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let soak = chrono::TimeDelta::from_std(soak).ok()?;
    running_since.map(|since| since + soak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionResult, Gate, GateReport};

    const SHA: &str = "abcdef0123456789abcdef0123456789abcdef01";

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000)
    }

    fn gate(kind: GateKind, state: GateState, reason: &str) -> Gate {
        Gate::new(kind, state, "measured", "threshold", reason)
    }

    fn preview(gates: Vec<Gate>) -> ActionPreview {
        ActionPreview {
            kind: ActionKind::Promote,
            target: SafeText::new("staging"),
            source: Some(SafeText::new("dev")),
            sha: Some(SHA.to_string()),
            subject: None,
            from_sha: None,
            commits: Vec::new(),
            more_commits: 0,
            high_risk_files: Vec::new(),
            gates: GateReport { gates },
            freeze_note: None,
            checklist: Vec::new(),
            evaluated_at: now(),
            snapshot_version: 1,
        }
    }

    fn green() -> Vec<Gate> {
        [
            GateKind::CiGreen,
            GateKind::SourceDeployed,
            GateKind::SourceSmoke,
            GateKind::Soak,
            GateKind::Freeze,
            GateKind::HighRisk,
            GateKind::Lock,
        ]
        .into_iter()
        .map(|k| gate(k, GateState::Pass, "fine"))
        .collect()
    }

    fn with(mut gates: Vec<Gate>, replacement: Gate) -> Vec<Gate> {
        for g in &mut gates {
            if g.kind == replacement.kind {
                *g = replacement.clone();
            }
        }
        gates
    }

    fn facts<'a>(
        preview: Option<&'a ActionPreview>,
        hold: &'a HoldRead,
        attempts: &'a [Attempt],
    ) -> AutoFacts<'a> {
        AutoFacts {
            preview,
            soak_until: None,
            hold,
            attempts: Ok(attempts),
            activity: None,
        }
    }

    #[test]
    fn every_gate_passing_and_nothing_tried_promotes() {
        let p = preview(green());
        assert_eq!(
            decide(&facts(Some(&p), &HoldRead::Free, &[])),
            AutoDecision::Promote {
                sha: SHA.to_string()
            }
        );
    }

    #[test]
    fn a_candidate_tried_before_is_not_tried_again_whatever_came_of_it() {
        let p = preview(green());
        for outcome in [
            AttemptOutcome::Started,
            AttemptOutcome::Failed,
            AttemptOutcome::Replaced,
            AttemptOutcome::Deployed,
        ] {
            let attempts = [Attempt {
                sha: SHA.to_uppercase(),
                outcome,
            }];
            assert_eq!(
                decide(&facts(Some(&p), &HoldRead::Free, &attempts)),
                AutoDecision::AlreadyTried {
                    sha: SHA.to_string(),
                    outcome: SafeText::new(outcome.word())
                }
            );
        }
        let other = [Attempt {
            sha: "1".repeat(40),
            outcome: AttemptOutcome::Failed,
        }];
        assert!(matches!(
            decide(&facts(Some(&p), &HoldRead::Free, &other)),
            AutoDecision::Promote { .. }
        ));
    }

    #[test]
    fn a_failing_or_unknown_gate_waits_and_says_for_what() {
        let red = preview(with(
            green(),
            gate(
                GateKind::CiGreen,
                GateState::Fail,
                "CI at abcdef0: Unit failed",
            ),
        ));
        match decide(&facts(Some(&red), &HoldRead::Free, &[])) {
            AutoDecision::Wait {
                sha, waiting_for, ..
            } => {
                assert_eq!(sha.as_deref(), Some(SHA));
                assert_eq!(
                    waiting_for[0].as_str(),
                    "CI green: CI at abcdef0: Unit failed"
                );
            }
            other => panic!("{other:?}"),
        }
        let unknown = preview(with(
            green(),
            gate(GateKind::SourceSmoke, GateState::Unknown, "not reported"),
        ));
        assert!(matches!(
            decide(&facts(Some(&unknown), &HoldRead::Free, &[])),
            AutoDecision::Wait { .. }
        ));
    }

    #[test]
    fn the_soak_countdown_comes_with_a_soak_wait_only() {
        let ends = now() + chrono::TimeDelta::minutes(12);
        let soaking = preview(with(
            green(),
            gate(GateKind::Soak, GateState::Fail, "soaked 3m of 15m"),
        ));
        let hold = HoldRead::Free;
        let mut f = facts(Some(&soaking), &hold, &[]);
        f.soak_until = Some(ends);
        assert!(matches!(
            decide(&f),
            AutoDecision::Wait { soak_until: Some(at), .. } if at == ends
        ));
        let red = preview(with(
            green(),
            gate(GateKind::CiGreen, GateState::Fail, "red"),
        ));
        f.preview = Some(&red);
        assert!(matches!(
            decide(&f),
            AutoDecision::Wait {
                soak_until: None,
                ..
            }
        ));
    }

    #[test]
    fn a_freeze_or_high_risk_files_need_a_person_even_with_other_gates_waiting() {
        let frozen = preview(with(
            with(
                green(),
                gate(GateKind::Freeze, GateState::Fail, "frozen until Mon 09:00"),
            ),
            gate(GateKind::Soak, GateState::Fail, "soaking"),
        ));
        match decide(&facts(Some(&frozen), &HoldRead::Free, &[])) {
            AutoDecision::NeedsHuman { reason, .. } => {
                assert!(
                    reason.as_str().starts_with("frozen until Mon 09:00"),
                    "{reason:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        let mut risky_gate = gate(GateKind::HighRisk, GateState::Pass, "1 high-risk file");
        risky_gate.needs_confirmation = true;
        let mut risky = preview(with(green(), risky_gate));
        risky.high_risk_files = vec![SafeText::new("migrations/0042.sql")];
        match decide(&facts(Some(&risky), &HoldRead::Free, &[])) {
            AutoDecision::NeedsHuman { reason, .. } => {
                assert!(
                    reason.as_str().contains("migrations/0042.sql"),
                    "{reason:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_checklist_item_without_its_label_needs_a_person() {
        let mut gates = green();
        gates.push(gate(
            GateKind::Checklist,
            GateState::Fail,
            "needs a human: checklist: rollback-plan has no label on the pull request",
        ));
        let p = preview(gates);
        match decide(&facts(Some(&p), &HoldRead::Free, &[])) {
            AutoDecision::NeedsHuman { reason, .. } => {
                assert!(reason.as_str().contains("rollback-plan"), "{reason:?}")
            }
            other => panic!("{other:?}"),
        }
        let mut gates = green();
        gates.push(gate(GateKind::Checklist, GateState::Pass, "labelled"));
        let labelled = preview(gates);
        assert!(
            matches!(
                decide(&facts(Some(&labelled), &HoldRead::Free, &[])),
                AutoDecision::Promote { .. }
            ),
            "every item satisfied by its label"
        );
    }

    #[test]
    fn a_hold_wins_and_an_unreadable_hold_or_history_waits() {
        let p = preview(green());
        let hold = HoldView {
            by: SafeText::new("ana@laptop"),
            reason: SafeText::new("INC-42"),
            since: Some(now()),
        };
        let held = HoldRead::Held(hold.clone());
        assert_eq!(
            decide(&facts(Some(&p), &held, &[])),
            AutoDecision::Held { hold }
        );
        let unknown = HoldRead::Unknown("HTTP 502".into());
        assert!(matches!(
            decide(&facts(Some(&p), &unknown, &[])),
            AutoDecision::Wait { .. }
        ));
        let free = HoldRead::Free;
        let mut f = facts(Some(&p), &free, &[]);
        f.attempts = Err("HTTP 500");
        assert!(matches!(decide(&f), AutoDecision::Wait { .. }));
    }

    #[test]
    fn a_running_action_is_waited_for() {
        let p = preview(green());
        let mut running = ActionProgress {
            id: SafeText::new("promote-1"),
            kind: ActionKind::Promote,
            target: SafeText::new("staging"),
            sha: SHA.to_string(),
            from_sha: None,
            actor: SafeText::new("shipdeck"),
            started_at: now(),
            steps: Vec::new(),
            result: None,
            reason: None,
        };
        let free = HoldRead::Free;
        let with_activity = |activity: &ActionProgress| {
            let mut f = facts(Some(&p), &free, &[]);
            f.activity = Some(activity);
            decide(&f)
        };
        assert_eq!(
            with_activity(&running),
            AutoDecision::Promoting {
                sha: SHA.to_string()
            }
        );
        running.kind = ActionKind::Rollback;
        assert!(matches!(with_activity(&running), AutoDecision::Wait { .. }));
        running.result = Some(ActionResult::Succeeded);
        assert!(matches!(
            with_activity(&running),
            AutoDecision::Promote { .. }
        ));
    }

    #[test]
    fn no_candidate_waits_with_the_gates_reasons() {
        let mut p = preview(vec![gate(
            GateKind::SourceDeployed,
            GateState::Unknown,
            "dev has no deployed commit to promote yet",
        )]);
        p.sha = None;
        assert!(matches!(
            decide(&facts(Some(&p), &HoldRead::Free, &[])),
            AutoDecision::Wait { sha: None, waiting_for, .. } if waiting_for.len() == 1
        ));
        assert!(matches!(
            decide(&facts(None, &HoldRead::Free, &[])),
            AutoDecision::Wait { sha: None, .. }
        ));
    }

    #[test]
    fn deployment_states_and_audit_records_become_attempts() {
        let at = now();
        let entry = |states: &[&str]| DeploymentHistoryEntry {
            id: 1,
            sha: SHA.to_string(),
            created_at: Some(at),
            creator: None,
            payload: serde_json::Value::Null,
            states: states.iter().map(|s| (s.to_string(), at)).collect(),
        };
        let outcomes: Vec<AttemptOutcome> = attempts_from_deployments(&[
            entry(&["success", "in_progress"]),
            entry(&["failure"]),
            entry(&["inactive", "success"]),
            entry(&["inactive"]),
            entry(&[]),
        ])
        .into_iter()
        .map(|a| a.outcome)
        .collect();
        assert_eq!(
            outcomes,
            [
                AttemptOutcome::Deployed,
                AttemptOutcome::Failed,
                AttemptOutcome::Replaced,
                AttemptOutcome::Failed,
                AttemptOutcome::InProgress
            ]
        );
        let audit = |event: &str, env: &str, result: &str| AuditEntry {
            at,
            action_id: SafeText::new("promote-1"),
            event: SafeText::new(event),
            actor: SafeText::new("shipdeck"),
            environment: SafeText::new(env),
            from_sha: None,
            to_sha: Some(SHA.to_string()),
            result: SafeText::new(result),
            reason: None,
            overrides: Vec::new(),
        };
        let found = attempts_from_audit(
            &[
                audit(AUTO_PROMOTE_EVENT, "staging", "started"),
                audit(AUTO_PROMOTE_EVENT, "prod", "started"),
                audit("promote", "staging", "started"),
                audit(AUTO_PROMOTE_EVENT, "staging", "failed"),
            ],
            "staging",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            soak_end(std::time::Duration::from_secs(60), Some(at)),
            Some(at + chrono::TimeDelta::minutes(1))
        );
    }
}
