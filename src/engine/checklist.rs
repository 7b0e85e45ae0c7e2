//! The release checklist as a pure gate: the configured items of the target environment,
//! the ids the captain ticked, and the labels of the pull request that carries the commit
//! go in; a pass, a failure naming the items still open, or an unknown comes out. A human
//! promotion is satisfied by ticks only; an unattended one only by labels, and any required
//! item without its label stops it for a human. Also here: the ticks a request names that
//! no item has, and the audit records of the ticks that went through.

use chrono::{DateTime, Utc};

use crate::config::ChecklistItemConfig;
use crate::model::{AuditEntry, ChecklistItem, Gate, GateKind, GateReport, GateState, SafeText};

/// How many item ids a reason names before it says how many more.
const ITEMS_LISTED: usize = 5;
const THRESHOLD: &str = "every required item ticked";
const LABEL_THRESHOLD: &str = "every required item satisfied by its pull request label";

/// Who is there to satisfy the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecklistMode {
    /// A captain at the confirmation or the command line: items are satisfied by ticks.
    Human,
    /// Nobody: items are satisfied by their labels on the pull request carrying the commit.
    Unattended,
}

/// The configured items as the engine publishes them (sanitized).
pub fn items_of(configs: &[ChecklistItemConfig]) -> Vec<ChecklistItem> {
    configs
        .iter()
        .map(|item| ChecklistItem {
            id: SafeText::with_max(item.id.get_ref(), 40),
            text: SafeText::with_max(item.text.get_ref(), 200),
            required: item.required,
            label: item
                .label
                .as_ref()
                .map(|label| SafeText::with_max(label.get_ref(), 60)),
        })
        .collect()
}

fn ticked(item: &ChecklistItem, ticked_ids: &[String]) -> bool {
    ticked_ids.iter().any(|id| id == item.id.as_str())
}

/// GitHub treats label names without regard to case.
fn labelled(item: &ChecklistItem, pr_labels: Option<&[String]>) -> bool {
    match (&item.label, pr_labels) {
        (Some(label), Some(labels)) => labels
            .iter()
            .any(|l| l.to_lowercase() == label.as_str().to_lowercase()),
        _ => false,
    }
}

fn named(items: &[&ChecklistItem]) -> String {
    let mut names: Vec<&str> = items
        .iter()
        .take(ITEMS_LISTED)
        .map(|i| i.id.as_str())
        .collect();
    let more = items.len().saturating_sub(ITEMS_LISTED);
    let more_text = format!("{more} more");
    if more > 0 {
        names.push(&more_text);
    }
    names.join(", ")
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 required item".to_string()
    } else {
        format!("{n} required items")
    }
}

/// The checklist gate. `ticked_ids` counts in [`ChecklistMode::Human`], `pr_labels` (`None`:
/// the pull request carrying the commit, or its labels, are not known) in
/// [`ChecklistMode::Unattended`]. Optional items never block.
pub fn checklist_gate(
    items: &[ChecklistItem],
    ticked_ids: &[String],
    pr_labels: Option<&[String]>,
    mode: ChecklistMode,
) -> Gate {
    let required: Vec<&ChecklistItem> = items.iter().filter(|i| i.required).collect();
    let total = required.len();
    match mode {
        ChecklistMode::Human => {
            let open: Vec<&ChecklistItem> = required
                .iter()
                .copied()
                .filter(|i| !ticked(i, ticked_ids))
                .collect();
            let measured = format!("{} of {total} ticked", total - open.len());
            if open.is_empty() {
                let optional_open: Vec<&ChecklistItem> = items
                    .iter()
                    .filter(|i| !i.required && !ticked(i, ticked_ids))
                    .collect();
                let reason = if optional_open.is_empty() {
                    "every item is ticked".to_string()
                } else {
                    format!(
                        "every required item is ticked; optional, unticked: {}",
                        named(&optional_open)
                    )
                };
                Gate::new(
                    GateKind::Checklist,
                    GateState::Pass,
                    &measured,
                    THRESHOLD,
                    &reason,
                )
            } else {
                Gate::new(
                    GateKind::Checklist,
                    GateState::Fail,
                    &measured,
                    THRESHOLD,
                    &format!("{} unticked: {}", count(open.len()), named(&open)),
                )
            }
        }
        ChecklistMode::Unattended => {
            let open: Vec<&ChecklistItem> = required
                .iter()
                .copied()
                .filter(|i| !labelled(i, pr_labels))
                .collect();
            let measured = format!("{} of {total} labelled", total - open.len());
            if open.is_empty() {
                return Gate::new(
                    GateKind::Checklist,
                    GateState::Pass,
                    &measured,
                    LABEL_THRESHOLD,
                    "every required item is satisfied by a label on the pull request",
                );
            }
            let all_have_labels = open.iter().all(|i| i.label.is_some());
            if pr_labels.is_none() && all_have_labels {
                return Gate::new(
                    GateKind::Checklist,
                    GateState::Unknown,
                    "labels not known",
                    LABEL_THRESHOLD,
                    &format!(
                        "needs a human: the pull request carrying the commit is not known, so \
                         no label can satisfy {}",
                        named(&open)
                    ),
                );
            }
            Gate::new(
                GateKind::Checklist,
                GateState::Fail,
                &measured,
                LABEL_THRESHOLD,
                &format!(
                    "needs a human: {} without a satisfying label on the pull request: {}",
                    count(open.len()),
                    named(&open)
                ),
            )
        }
    }
}

/// Replaces the checklist gate of `report` (where it has one) by one judged on these ticks
/// and labels: the preview's gate assumes nothing ticked, a request brings its ticks.
pub fn rejudge(
    report: &mut GateReport,
    items: &[ChecklistItem],
    ticked_ids: &[String],
    pr_labels: Option<&[String]>,
    mode: ChecklistMode,
) {
    if let Some(gate) = report
        .gates
        .iter_mut()
        .find(|g| g.kind == GateKind::Checklist)
    {
        *gate = checklist_gate(items, ticked_ids, pr_labels, mode);
    }
}

/// The ticks that name no item (sanitized for the message that rejects them).
pub fn unknown_ticks(items: &[ChecklistItem], ticked_ids: &[String]) -> Vec<String> {
    ticked_ids
        .iter()
        .filter(|id| !items.iter().any(|i| i.id.as_str() == id.as_str()))
        .map(|id| crate::model::sanitize(id, 40))
        .collect()
}

/// What one action's ticks are recorded with.
#[derive(Debug, Clone, Copy)]
pub struct TickContext<'a> {
    pub action_id: &'a str,
    pub actor: &'a str,
    pub environment: &'a str,
    pub from_sha: Option<&'a str>,
    pub sha: &'a str,
    pub at: DateTime<Utc>,
}

/// One audit record per ticked item, in the checklist's order: who ticked what, when, for
/// which commit.
pub fn tick_entries(
    items: &[ChecklistItem],
    ticked_ids: &[String],
    context: TickContext<'_>,
) -> Vec<AuditEntry> {
    items
        .iter()
        .filter(|item| ticked(item, ticked_ids))
        .map(|item| AuditEntry {
            at: context.at,
            action_id: SafeText::with_max(context.action_id, 80),
            event: SafeText::new("checklist_tick"),
            actor: SafeText::with_max(context.actor, 60),
            environment: SafeText::with_max(context.environment, 40),
            from_sha: context.from_sha.map(str::to_string),
            to_sha: Some(context.sha.to_string()),
            result: SafeText::new("ticked"),
            reason: Some(SafeText::with_max(
                &format!("{}: {}", item.id, item.text),
                300,
            )),
            overrides: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, required: bool, label: Option<&str>) -> ChecklistItem {
        ChecklistItem {
            id: SafeText::new(id),
            text: SafeText::new(&format!("{id} text")),
            required,
            label: label.map(SafeText::new),
        }
    }

    fn items() -> Vec<ChecklistItem> {
        vec![
            item("migrations", true, Some("migrations-compatible")),
            item("flags", false, None),
            item("rollback-plan", true, Some("rollback-plan")),
        ]
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_unticked_required_item_blocks_and_is_named() {
        let gate = checklist_gate(&items(), &[], None, ChecklistMode::Human);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(gate.kind, GateKind::Checklist);
        assert_eq!(
            gate.reason.as_str(),
            "2 required items unticked: migrations, rollback-plan"
        );
        assert_eq!(gate.measured.as_str(), "0 of 2 ticked");
        let report = GateReport { gates: vec![gate] };
        assert_eq!(
            report.summary(),
            "checklist: 2 required items unticked: migrations, rollback-plan"
        );

        let one = checklist_gate(
            &items(),
            &strings(&["migrations"]),
            None,
            ChecklistMode::Human,
        );
        assert_eq!(one.state, GateState::Fail);
        assert_eq!(
            one.reason.as_str(),
            "1 required item unticked: rollback-plan"
        );
    }

    #[test]
    fn ticking_every_required_item_passes_and_optional_ones_never_block() {
        let gate = checklist_gate(
            &items(),
            &strings(&["rollback-plan", "migrations"]),
            None,
            ChecklistMode::Human,
        );
        assert_eq!(gate.state, GateState::Pass);
        assert_eq!(gate.measured.as_str(), "2 of 2 ticked");
        assert_eq!(
            gate.reason.as_str(),
            "every required item is ticked; optional, unticked: flags"
        );
        let all = checklist_gate(
            &items(),
            &strings(&["rollback-plan", "migrations", "flags"]),
            None,
            ChecklistMode::Human,
        );
        assert_eq!(all.reason.as_str(), "every item is ticked");
        let only_optional = vec![item("flags", false, None)];
        let gate = checklist_gate(&only_optional, &[], None, ChecklistMode::Human);
        assert_eq!(gate.state, GateState::Pass);
    }

    #[test]
    fn a_human_promotion_is_not_satisfied_by_labels() {
        let labels = strings(&["migrations-compatible", "rollback-plan"]);
        let gate = checklist_gate(&items(), &[], Some(&labels), ChecklistMode::Human);
        assert_eq!(gate.state, GateState::Fail);
    }

    #[test]
    fn unattended_labels_satisfy_their_items_in_any_case() {
        let labels = strings(&["Migrations-Compatible", "rollback-plan", "other"]);
        let gate = checklist_gate(&items(), &[], Some(&labels), ChecklistMode::Unattended);
        assert_eq!(gate.state, GateState::Pass, "{gate:?}");
        assert_eq!(gate.measured.as_str(), "2 of 2 labelled");
    }

    #[test]
    fn unattended_a_missing_label_needs_a_human_and_ticks_do_not_count() {
        let labels = strings(&["rollback-plan"]);
        let ticks = strings(&["migrations", "rollback-plan"]);
        let gate = checklist_gate(&items(), &ticks, Some(&labels), ChecklistMode::Unattended);
        assert_eq!(gate.state, GateState::Fail);
        assert_eq!(
            gate.reason.as_str(),
            "needs a human: 1 required item without a satisfying label on the pull request: \
             migrations"
        );
    }

    #[test]
    fn unattended_an_item_without_a_configured_label_always_needs_a_human() {
        let unlabelled = vec![item("sign-off", true, None)];
        let gate = checklist_gate(&unlabelled, &[], None, ChecklistMode::Unattended);
        assert_eq!(gate.state, GateState::Fail);
        assert!(
            gate.reason.as_str().starts_with("needs a human: "),
            "{gate:?}"
        );
        let gate = checklist_gate(
            &unlabelled,
            &[],
            Some(&strings(&["sign-off"])),
            ChecklistMode::Unattended,
        );
        assert_eq!(gate.state, GateState::Fail);
    }

    #[test]
    fn unattended_unknown_labels_are_unknown_and_block() {
        let gate = checklist_gate(&items(), &[], None, ChecklistMode::Unattended);
        assert_eq!(gate.state, GateState::Unknown);
        assert!(
            gate.reason
                .as_str()
                .starts_with("needs a human: the pull request carrying the commit is not known"),
            "{gate:?}"
        );
    }

    #[test]
    fn many_open_items_are_counted_after_the_first_few() {
        let many: Vec<ChecklistItem> = (0..8).map(|i| item(&format!("i{i}"), true, None)).collect();
        let gate = checklist_gate(&many, &[], None, ChecklistMode::Human);
        assert_eq!(
            gate.reason.as_str(),
            "8 required items unticked: i0, i1, i2, i3, i4, 3 more"
        );
    }

    #[test]
    fn rejudge_replaces_only_the_checklist_gate_in_place() {
        let other = Gate::new(GateKind::Lock, GateState::Pass, "free", "free", "free");
        let mut report = GateReport {
            gates: vec![
                checklist_gate(&items(), &[], None, ChecklistMode::Human),
                other.clone(),
            ],
        };
        assert!(!report.allowed());
        let ticks = strings(&["migrations", "rollback-plan"]);
        rejudge(&mut report, &items(), &ticks, None, ChecklistMode::Human);
        assert!(report.allowed());
        assert_eq!(report.gates[0].kind, GateKind::Checklist);
        assert_eq!(report.gates[1], other);

        let mut without = GateReport {
            gates: vec![other.clone()],
        };
        rejudge(&mut without, &items(), &[], None, ChecklistMode::Human);
        assert_eq!(without.gates, vec![other]);
    }

    #[test]
    fn unknown_ticks_are_reported_sanitized() {
        let ticks = strings(&["migrations", "migratoins", "x\u{1b}[2Jy"]);
        assert_eq!(unknown_ticks(&items(), &ticks), ["migratoins", "x[2Jy"]);
    }

    #[test]
    fn each_tick_is_one_audit_entry_with_who_and_when() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let context = TickContext {
            action_id: "promote-1",
            actor: "ana",
            environment: "prod",
            from_sha: Some("aaa"),
            sha: "bbb",
            at,
        };
        let entries = tick_entries(&items(), &strings(&["rollback-plan", "flags"]), context);
        let got: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e.actor.as_str(),
                    e.event.as_str(),
                    e.reason.as_ref().map(|r| r.as_str()).unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ana", "checklist_tick", "flags: flags text"),
                ("ana", "checklist_tick", "rollback-plan: rollback-plan text"),
            ]
        );
        assert!(
            entries
                .iter()
                .all(|e| e.at == at && e.to_sha.as_deref() == Some("bbb"))
        );
    }
}
