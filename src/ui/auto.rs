//! Auto-promotion on the captain's screen: the lines an auto environment's column shows
//! (AUTO, who holds it, what it waits for with the soak counting down, or what needs a
//! person), and the small popup `a` opens: a reason to hold, or a confirmation to resume.
//! The popup's keys are tables like every other keymap, so footer and help read them.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::app::{Binding, Choice, KeyPattern, MAX_TYPED_CHARS, Msg};
use super::theme::Theme;
use super::view::{duration_since, format_age, format_duration, short};
use crate::engine::holds::{HoldChange, HoldRequest};
use crate::model::{AutoDecision, EnvironmentSnapshot, HoldView, SafeText};

/// The keys while the hold reason is typed (characters go into the field).
pub const HOLD_FIELD_KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Enter)],
        label: "Enter",
        description: "hold auto-promotion with this reason",
        footer: Some("hold"),
        msg: Msg::Activate,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Backspace)],
        label: "Bksp",
        description: "delete the last character",
        footer: Some("delete"),
        msg: Msg::Erase,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Esc)],
        label: "Esc",
        description: "cancel",
        footer: Some("cancel"),
        msg: Msg::Cancel,
    },
    Binding {
        keys: &[KeyPattern::Ctrl('c')],
        label: "C-c",
        description: "quit",
        footer: None,
        msg: Msg::Quit,
    },
];

/// The keys of the resume confirmation.
pub const RESUME_KEYMAP: &[Binding] = &[
    Binding {
        keys: &[
            KeyPattern::Code(KeyCode::Left),
            KeyPattern::Code(KeyCode::Right),
            KeyPattern::Code(KeyCode::Tab),
            KeyPattern::Code(KeyCode::BackTab),
        ],
        label: "←→ Tab",
        description: "choose the other button",
        footer: Some("choose"),
        msg: Msg::ToggleChoice,
    },
    Binding {
        keys: &[KeyPattern::Char('y')],
        label: "y",
        description: "choose Yes (Enter still needed)",
        footer: Some("yes"),
        msg: Msg::ChooseYes,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Enter)],
        label: "Enter",
        description: "press the chosen button",
        footer: Some("press"),
        msg: Msg::Activate,
    },
    Binding {
        keys: &[KeyPattern::Char('n'), KeyPattern::Code(KeyCode::Esc)],
        label: "n Esc",
        description: "cancel",
        footer: Some("cancel"),
        msg: Msg::Cancel,
    },
    Binding {
        keys: &[KeyPattern::Ctrl('c')],
        label: "C-c",
        description: "quit",
        footer: None,
        msg: Msg::Quit,
    },
];

/// What a message did to the popup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptOutcome {
    Open,
    /// Closed with nothing asked.
    Closed,
    /// Closed, asking for this change.
    Ask(HoldRequest),
}

/// The popup `a` opens on an auto environment.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldPrompt {
    /// Type why auto-promotion stops here.
    Hold {
        environment: SafeText,
        reason: String,
    },
    /// Let it go on again? "No" first.
    Resume {
        environment: SafeText,
        hold: HoldView,
        choice: Choice,
    },
}

impl HoldPrompt {
    /// The popup for `environment`: resume when it is held, hold otherwise.
    pub fn for_decision(environment: &SafeText, decision: &AutoDecision) -> HoldPrompt {
        match decision.hold() {
            Some(hold) => HoldPrompt::Resume {
                environment: environment.clone(),
                hold: hold.clone(),
                choice: Choice::No,
            },
            None => HoldPrompt::Hold {
                environment: environment.clone(),
                reason: String::new(),
            },
        }
    }

    pub fn bindings(&self) -> &'static [Binding] {
        match self {
            HoldPrompt::Hold { .. } => HOLD_FIELD_KEYMAP,
            HoldPrompt::Resume { .. } => RESUME_KEYMAP,
        }
    }

    /// What a key means while the popup is open (typed characters go into the reason).
    pub fn msg_for_key(&self, key: &KeyEvent) -> Option<Msg> {
        let bound = self
            .bindings()
            .iter()
            .find_map(|b| b.keys.iter().any(|p| p.matches(key)).then(|| b.msg.clone()));
        match (self, key.code) {
            (_, _) if bound.is_some() => bound,
            (HoldPrompt::Hold { .. }, KeyCode::Char(c))
                if !key.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                Some(Msg::Type(c))
            }
            _ => None,
        }
    }

    /// Applies a message: the popup stays open, closes, or closes asking for a change.
    pub fn update(&mut self, msg: &Msg, actor: &str) -> PromptOutcome {
        match self {
            HoldPrompt::Hold {
                environment,
                reason,
            } => match msg {
                Msg::Cancel => PromptOutcome::Closed,
                Msg::Type(c) if typeable(*c) && reason.chars().count() < MAX_TYPED_CHARS => {
                    reason.push(*c);
                    PromptOutcome::Open
                }
                Msg::Erase => {
                    reason.pop();
                    PromptOutcome::Open
                }
                Msg::Activate if !reason.trim().is_empty() => PromptOutcome::Ask(HoldRequest {
                    environment: environment.as_str().to_string(),
                    actor: actor.to_string(),
                    change: HoldChange::Hold {
                        reason: reason.trim().to_string(),
                    },
                }),
                _ => PromptOutcome::Open,
            },
            HoldPrompt::Resume {
                environment,
                choice,
                ..
            } => match msg {
                Msg::Cancel => PromptOutcome::Closed,
                Msg::ChooseYes => {
                    *choice = Choice::Yes;
                    PromptOutcome::Open
                }
                Msg::ChooseNo => {
                    *choice = Choice::No;
                    PromptOutcome::Open
                }
                Msg::ToggleChoice => {
                    *choice = match choice {
                        Choice::No => Choice::Yes,
                        Choice::Yes => Choice::No,
                    };
                    PromptOutcome::Open
                }
                Msg::Activate if *choice == Choice::Yes => PromptOutcome::Ask(HoldRequest {
                    environment: environment.as_str().to_string(),
                    actor: actor.to_string(),
                    change: HoldChange::Resume { reason: None },
                }),
                Msg::Activate => PromptOutcome::Closed,
                _ => PromptOutcome::Open,
            },
        }
    }
}

/// Whether a typed character may go into the reason: printable, nothing a terminal acts on.
fn typeable(c: char) -> bool {
    let text = c.to_string();
    !c.is_control() && crate::model::sanitize(&text, 1) == text
}

/// Whether the column shows a soak counting down (the screen then ticks every second).
pub fn counts_down(env: &EnvironmentSnapshot) -> bool {
    matches!(
        env.release.auto,
        Some(AutoDecision::Wait {
            soak_until: Some(_),
            ..
        })
    )
}

/// The column's auto-promotion lines; none for an environment that does not promote by
/// itself.
pub fn auto_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(decision) = &env.release.auto else {
        return Vec::new();
    };
    let badge = |color| {
        Span::styled(
            "AUTO ",
            theme
                .style(color)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    };
    let text = |s: String| Span::styled(s, theme.style(theme.text));
    let muted = |s: String| Span::styled(s, theme.muted());
    match decision {
        AutoDecision::Held { hold } => {
            let since = hold
                .since
                .map(|at| format!(" · {}", format_age(duration_since(at, now))))
                .unwrap_or_default();
            vec![Line::from(vec![
                badge(theme.warn),
                Span::styled(
                    format!("held by {}: {}", hold.by, hold.reason),
                    theme.style(theme.warn).add_modifier(Modifier::BOLD),
                ),
                muted(since),
            ])]
        }
        AutoDecision::Promote { sha } => vec![Line::from(vec![
            badge(theme.running),
            text(format!("promoting {} now", short(sha))),
        ])],
        AutoDecision::Promoting { sha } => vec![Line::from(vec![
            badge(theme.running),
            text(format!("promoting {}", short(sha))),
        ])],
        AutoDecision::AlreadyTried { sha, outcome } => vec![Line::from(vec![
            badge(theme.ok),
            muted(format!("{} {outcome}: not tried again", short(sha))),
        ])],
        AutoDecision::NeedsHuman { sha, reason } => vec![Line::from(vec![
            badge(theme.warn),
            Span::styled(
                format!("{} needs a human: {reason}", short(sha)),
                theme.style(theme.warn),
            ),
        ])],
        AutoDecision::Wait {
            waiting_for,
            soak_until,
            ..
        } => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(until) = soak_until {
                let left = (*until - now).to_std().unwrap_or_default();
                parts.push(format!("soak {} to go", format_duration(left)));
            }
            parts.extend(
                waiting_for
                    .iter()
                    .filter(|w| soak_until.is_none() || !w.as_str().starts_with("soak: "))
                    .map(|w| {
                        if narrow {
                            w.as_str().split(':').next().unwrap_or_default().to_string()
                        } else {
                            w.as_str().to_string()
                        }
                    }),
            );
            vec![Line::from(vec![
                badge(theme.muted),
                muted(format!("waits for {}", parts.join("; "))),
            ])]
        }
    }
}

/// Draws the popup over `body`.
pub fn draw_hold_prompt(frame: &mut Frame, body: Rect, prompt: &HoldPrompt, theme: &Theme) {
    let width = body.width.saturating_sub(4).min(72);
    let (title, lines) = match prompt {
        HoldPrompt::Hold {
            environment,
            reason,
        } => (
            format!(" Hold auto-promotion into {environment}? "),
            vec![
                Line::from(Span::styled(
                    "Every shipdeck sees the hold until someone resumes it.",
                    theme.muted(),
                )),
                Line::from(vec![
                    Span::styled("Reason: ", theme.heading()),
                    Span::styled(format!("{reason}▏"), theme.style(theme.text)),
                ]),
                Line::from(Span::styled(
                    if reason.trim().is_empty() {
                        "type a reason, then Enter · Esc cancel"
                    } else {
                        "Enter hold · Esc cancel"
                    },
                    theme.muted(),
                )),
            ],
        ),
        HoldPrompt::Resume {
            environment,
            hold,
            choice,
        } => {
            let button = |label: &str, chosen: bool| {
                let style = if chosen {
                    theme
                        .style(theme.accent)
                        .add_modifier(Modifier::BOLD | Modifier::REVERSED)
                } else {
                    theme.style(theme.text)
                };
                Span::styled(format!(" {label} "), style)
            };
            (
                format!(" Resume auto-promotion into {environment}? "),
                vec![
                    Line::from(Span::styled(
                        format!("held by {}: {}", hold.by, hold.reason),
                        theme.style(theme.warn),
                    )),
                    Line::raw(""),
                    Line::from(vec![
                        button("No", *choice == Choice::No),
                        Span::raw("   "),
                        button("Yes, resume", *choice == Choice::Yes),
                    ]),
                ],
            )
        }
    };
    let height = (lines.len() as u16 + 2).min(body.height);
    let width = width.min(body.width);
    let area = Rect {
        x: body.x + (body.width - width) / 2,
        y: body.y + (body.height - height) / 2,
        width,
        height,
    };
    let block = Block::bordered()
        .border_type(BorderType::Thick)
        .border_style(theme.style(theme.warn).add_modifier(Modifier::BOLD))
        .title(Span::styled(title, theme.heading()));
    frame.render_widget(Clear, area);
    frame.render_widget(Block::new().style(theme.surface_style()), area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn a_hold_needs_a_reason_and_enter_asks_for_it() {
        let env = SafeText::new("staging");
        let decision = AutoDecision::Wait {
            sha: None,
            waiting_for: Vec::new(),
            soak_until: None,
        };
        let mut prompt = HoldPrompt::for_decision(&env, &decision);
        assert_eq!(
            prompt.update(&Msg::Activate, "ana"),
            PromptOutcome::Open,
            "no reason yet"
        );
        for c in "INC-7".chars() {
            let msg = prompt.msg_for_key(&key(KeyCode::Char(c))).unwrap();
            assert_eq!(prompt.update(&msg, "ana"), PromptOutcome::Open);
        }
        assert_eq!(
            prompt.update(&Msg::Type('\u{1b}'), "ana"),
            PromptOutcome::Open
        );
        let enter = prompt.msg_for_key(&key(KeyCode::Enter)).unwrap();
        let PromptOutcome::Ask(asked) = prompt.update(&enter, "ana") else {
            panic!("expected a request")
        };
        assert_eq!(
            asked.change,
            HoldChange::Hold {
                reason: "INC-7".to_string()
            }
        );
        assert_eq!(asked.environment, "staging");
        let mut prompt = HoldPrompt::for_decision(&env, &decision);
        assert_eq!(prompt.update(&Msg::Cancel, "ana"), PromptOutcome::Closed);
    }

    fn snapshot_with_auto_staging(decision: AutoDecision) -> crate::model::Snapshot {
        let mut snapshot =
            crate::ui::sample::SampleBuilder::new(crate::ui::sample::sample_now()).build();
        snapshot.environments[1].release.auto = Some(decision);
        snapshot
    }

    fn has_a(app: &crate::ui::App) -> bool {
        app.active_bindings().iter().any(|b| b.msg == Msg::AutoHold)
    }

    #[test]
    fn a_exists_only_with_a_write_side_on_an_auto_environment() {
        use crate::engine::commands::ActionSender;
        use crate::ui::{App, Effect};
        use std::sync::Arc;
        let snapshot = Arc::new(snapshot_with_auto_staging(AutoDecision::Wait {
            sha: None,
            waiting_for: Vec::new(),
            soak_until: None,
        }));
        let mut watching = App::watching();
        watching.update(Msg::Snapshot(Arc::clone(&snapshot)));
        watching.update(Msg::FocusEnvironment(1));
        assert!(!has_a(&watching));
        assert_eq!(watching.handle_key(&key(KeyCode::Char('a'))), Effect::None);
        assert!(watching.hold_prompt().is_none());

        let (sender, _requests) = ActionSender::channel(1);
        let mut app = App::acting(&sender, "ana");
        app.update(Msg::Snapshot(snapshot));
        assert!(!has_a(&app), "dev does not promote by itself");
        assert_eq!(app.handle_key(&key(KeyCode::Char('a'))), Effect::None);
        app.update(Msg::FocusEnvironment(1));
        assert!(has_a(&app));
        assert_eq!(app.handle_key(&key(KeyCode::Char('a'))), Effect::Redraw);
        assert!(matches!(app.hold_prompt(), Some(HoldPrompt::Hold { .. })));
        assert!(
            app.active_bindings()
                .iter()
                .any(|b| b.footer == Some("hold"))
        );
        for c in "INC-9".chars() {
            app.handle_key(&key(KeyCode::Char(c)));
        }
        match app.handle_key(&key(KeyCode::Enter)) {
            Effect::Hold(request) => {
                assert_eq!(request.environment, "staging");
                assert_eq!(request.actor, "ana");
                assert_eq!(
                    request.change,
                    HoldChange::Hold {
                        reason: "INC-9".to_string()
                    }
                );
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        assert!(app.hold_prompt().is_none());
    }

    fn column_text(decision: AutoDecision, now: DateTime<Utc>) -> String {
        let snapshot = snapshot_with_auto_staging(decision);
        auto_lines(&snapshot.environments[1], now, false, &Theme::default())
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_column_marks_auto_and_says_what_it_waits_for() {
        let now = crate::ui::sample::sample_now();
        let waiting = AutoDecision::Wait {
            sha: Some("a".repeat(40)),
            waiting_for: vec![
                SafeText::new("soak: soaked 3m of 15m: 12m to go"),
                SafeText::new("CI green: CI at aaaaaaa: Unit not finished"),
            ],
            soak_until: Some(now + chrono::TimeDelta::seconds(11 * 60 + 30)),
        };
        assert_eq!(
            column_text(waiting, now),
            "AUTO waits for soak 11m30s to go; CI green: CI at aaaaaaa: Unit not finished"
        );
        let held = AutoDecision::Held {
            hold: HoldView {
                by: SafeText::new("bo@laptop"),
                reason: SafeText::new("INC-7"),
                since: Some(now - chrono::TimeDelta::minutes(5)),
            },
        };
        assert!(
            column_text(held, now).starts_with("AUTO held by bo@laptop: INC-7 · 5m"),
            "held"
        );
        let human = AutoDecision::NeedsHuman {
            sha: "b".repeat(40),
            reason: SafeText::new("frozen until Mon 09:00 UTC"),
        };
        assert_eq!(
            column_text(human, now),
            "AUTO bbbbbbb needs a human: frozen until Mon 09:00 UTC"
        );
        let mut plain = snapshot_with_auto_staging(AutoDecision::Promote {
            sha: "c".repeat(40),
        });
        plain.environments[1].release.auto = None;
        assert!(auto_lines(&plain.environments[1], now, false, &Theme::default()).is_empty());
    }

    #[test]
    fn resuming_asks_first_with_no_as_default() {
        let env = SafeText::new("staging");
        let decision = AutoDecision::Held {
            hold: HoldView {
                by: SafeText::new("bo@host"),
                reason: SafeText::new("INC-7"),
                since: None,
            },
        };
        let mut prompt = HoldPrompt::for_decision(&env, &decision);
        assert_eq!(
            prompt.update(&Msg::Activate, "ana"),
            PromptOutcome::Closed,
            "No closes"
        );
        let mut prompt = HoldPrompt::for_decision(&env, &decision);
        let y = prompt.msg_for_key(&key(KeyCode::Char('y'))).unwrap();
        assert_eq!(prompt.update(&y, "ana"), PromptOutcome::Open);
        let PromptOutcome::Ask(asked) = prompt.update(&Msg::Activate, "ana") else {
            panic!("expected a request")
        };
        assert_eq!(asked.change, HoldChange::Resume { reason: None });
        assert_eq!(prompt.msg_for_key(&key(KeyCode::Char('x'))), None);
    }
}
