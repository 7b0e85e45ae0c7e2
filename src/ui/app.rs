//! The screen's own state (which environment has focus, which overlay or panel is open, the
//! promotion / rollback confirmation) and the keymaps: keys become [`Msg`]s, [`App::update`]
//! applies them and says what follows. The footer and the `?` help are generated from the
//! same tables.
//!
//! Read-only by construction: the promote and rollback bindings live in a table that only
//! [`Keymap::acting`] reads, and that needs an [`ActionSender`] to be called. An [`App`] built
//! with [`App::watching`] never produces [`Msg::Promote`] or [`Msg::Rollback`] from a key,
//! ignores them if they are sent anyway, and so never returns [`Effect::Submit`].

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::auto::{HoldPrompt, PromptOutcome};
use crate::engine::checklist::{self, ChecklistMode};
use crate::engine::commands::{ActionRequest, ActionSender, Origin};
use crate::engine::holds::HoldRequest;
use crate::model::{
    ActionKind, ActionPreview, ActionResult, Gate, GateKind, GateState, ReleaseState, SafeText,
    Snapshot,
};

/// Longest text a captain can type into a field (a reason, an environment name).
pub const MAX_TYPED_CHARS: usize = 120;

/// What the user (or the loop) asks of the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    FocusNext,
    FocusPrevious,
    /// Focus the environment at this index (0-based, in snapshot order).
    FocusEnvironment(usize),
    OpenDetails,
    ToggleHelp,
    /// Show or hide the gate panel of the focused environment's next promotion.
    ToggleGates,
    /// Show or hide the log and audit overlay.
    ToggleLog,
    /// Close the open overlay.
    Back,
    ScrollDown,
    ScrollUp,
    Quit,
    /// A snapshot with this many environments arrived (keeps focus in range).
    EnvironmentCount(usize),
    /// A new snapshot: focus range, release previews, the confirmation's preview.
    Snapshot(Arc<Snapshot>),
    /// Ask to promote into the environment after the focused one.
    Promote,
    /// Ask to roll the focused environment back.
    Rollback,
    /// Ask to re-run the failed CI jobs of the focused environment's branch head.
    Rerun,
    /// Hold the focused environment's auto-promotion (asks for a reason), or resume it.
    AutoHold,
    /// Confirmation: choose "No" / "Yes", or the other one.
    ChooseNo,
    ChooseYes,
    ToggleChoice,
    /// Confirmation: press the chosen button.
    Activate,
    /// Confirmation: close it without doing anything.
    Cancel,
    /// Confirmation: type a reason to promote through the freeze.
    StartFreezeOverride,
    /// Confirmation: type a reason to break the lock someone else holds.
    StartLockBreak,
    /// Confirmation: move to the previous / next release checklist item.
    ChecklistUp,
    ChecklistDown,
    /// Confirmation: tick or untick the checklist item under the cursor.
    ToggleTick,
    /// A character typed into the focused text field.
    Type(char),
    /// Delete the last character of the focused text field.
    Erase,
    /// Leave the focused text field for the buttons.
    FieldDone,
    /// The engine's answer to a submitted request.
    Answer(Answer),
    /// Hide the status line (any key does).
    DismissStatus,
    /// Switch to the next theme (allowed in watch mode: it writes nothing outside).
    NextTheme,
    /// The loop switched themes: say which, and any problem with its file.
    ThemeChanged {
        name: String,
        warning: Option<String>,
    },
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Nothing visible changed.
    None,
    Redraw,
    Quit,
    /// Hand this request to the engine (and redraw: the confirmation closed).
    Submit(ActionRequest),
    /// Ask the engine to re-run the failed CI jobs of this environment.
    Rerun(String),
    /// Ask the engine to hold or resume an environment's auto-promotion.
    Hold(HoldRequest),
    /// Load and show the next theme.
    NextTheme,
}

/// The engine's answer to a request, as the status line shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Started {
        kind: ActionKind,
        environment: SafeText,
        id: SafeText,
    },
    Blocked {
        kind: ActionKind,
        environment: SafeText,
        gates: Vec<Gate>,
    },
    NeedsConfirmation {
        kind: ActionKind,
        environment: SafeText,
    },
    Rejected {
        reason: SafeText,
    },
    /// A started action ended.
    Finished {
        kind: ActionKind,
        environment: SafeText,
        result: ActionResult,
        reason: Option<SafeText>,
    },
    /// The request did not reach the engine.
    EngineStopped,
    /// What came of `R`: what happened, or why nothing did.
    Rerun {
        environment: SafeText,
        result: Result<SafeText, SafeText>,
    },
    /// What came of `a`: what was done, or why nothing was.
    Hold {
        result: Result<SafeText, SafeText>,
    },
}

impl Answer {
    /// The status line's text, and whether it reports a problem.
    pub fn describe(&self) -> (String, bool) {
        match self {
            Answer::Started {
                kind,
                environment,
                id,
            } => (
                format!("{} {environment} started ({id})", kind.word()),
                false,
            ),
            Answer::Blocked {
                kind,
                environment,
                gates,
            } => {
                let why: Vec<String> = gates
                    .iter()
                    .map(|g| format!("{} {}: {}", g.kind.label(), g.state.word(), g.reason))
                    .collect();
                (
                    format!(
                        "{} {environment} blocked, nothing was changed: {}",
                        kind.word(),
                        why.join("; ")
                    ),
                    true,
                )
            }
            Answer::NeedsConfirmation { kind, environment } => (
                format!(
                    "{} {environment} touches high-risk files: confirm them and try again",
                    kind.word()
                ),
                true,
            ),
            Answer::Rejected { reason } => (format!("request rejected: {reason}"), true),
            Answer::Finished {
                kind,
                environment,
                result,
                reason,
            } => (
                format!(
                    "{} {environment} {}{}",
                    kind.word(),
                    result.word(),
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                *result != ActionResult::Succeeded,
            ),
            Answer::EngineStopped => (
                "the engine has stopped: nothing was submitted".to_string(),
                true,
            ),
            Answer::Rerun {
                environment,
                result: Ok(text),
            } => (format!("{environment}: {text}"), false),
            Answer::Rerun {
                environment,
                result: Err(why),
            } => (format!("{environment}: no re-run: {why}"), true),
            Answer::Hold { result: Ok(text) } => (text.as_str().to_string(), false),
            Answer::Hold { result: Err(why) } => (format!("nothing held or resumed: {why}"), true),
        }
    }
}

/// A panel drawn over the environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// Jobs and steps of the focused environment's pipeline, scrolled by this many lines.
    Details {
        scroll: u16,
    },
    /// The action log and the audit trail, scrolled back from the newest by this many lines.
    Log {
        scroll: u16,
    },
}

/// The keys a binding answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPattern {
    Code(KeyCode),
    Char(char),
    Ctrl(char),
    /// Any of the digits 1-9; the message gets the digit's environment index.
    Digit,
}

impl KeyPattern {
    pub(crate) fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            KeyPattern::Code(code) => !ctrl && key.code == code,
            KeyPattern::Char(c) => !ctrl && key.code == KeyCode::Char(c),
            KeyPattern::Ctrl(c) => ctrl && key.code == KeyCode::Char(c),
            KeyPattern::Digit => !ctrl && matches!(key.code, KeyCode::Char('1'..='9')),
        }
    }
}

/// One row of a keymap: the keys, how the footer and help name them, and the message.
#[derive(Debug, Clone)]
pub struct Binding {
    pub keys: &'static [KeyPattern],
    /// How the keys are written in the footer and the help overlay.
    pub label: &'static str,
    pub description: &'static str,
    /// Short description for the footer; `None` keeps the binding out of the footer.
    pub footer: Option<&'static str>,
    pub msg: Msg,
}

/// The bindings every screen has, read-only ones included.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[
            KeyPattern::Code(KeyCode::Right),
            KeyPattern::Char('l'),
            KeyPattern::Code(KeyCode::Tab),
        ],
        label: "→ l Tab",
        description: "focus the next environment",
        footer: None,
        msg: Msg::FocusNext,
    },
    Binding {
        keys: &[
            KeyPattern::Code(KeyCode::Left),
            KeyPattern::Char('h'),
            KeyPattern::Code(KeyCode::BackTab),
        ],
        label: "← h S-Tab",
        description: "focus the previous environment",
        footer: None,
        msg: Msg::FocusPrevious,
    },
    Binding {
        keys: &[KeyPattern::Digit],
        label: "1-3",
        description: "focus an environment by its position",
        footer: None,
        msg: Msg::FocusEnvironment(0),
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Enter)],
        label: "Enter",
        description: "details: jobs and steps of the focused pipeline",
        footer: Some("details"),
        msg: Msg::OpenDetails,
    },
    Binding {
        keys: &[KeyPattern::Char('g')],
        label: "g",
        description: "gates of the next promotion (stays open)",
        footer: Some("gates"),
        msg: Msg::ToggleGates,
    },
    Binding {
        keys: &[KeyPattern::Char('L')],
        label: "L",
        description: "action log and audit trail",
        footer: Some("log"),
        msg: Msg::ToggleLog,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Down), KeyPattern::Char('j')],
        label: "↓ j",
        description: "scroll details or log down",
        footer: None,
        msg: Msg::ScrollDown,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Up), KeyPattern::Char('k')],
        label: "↑ k",
        description: "scroll details or log up",
        footer: None,
        msg: Msg::ScrollUp,
    },
    Binding {
        keys: &[KeyPattern::Char('t')],
        label: "t",
        description: "next colour theme",
        footer: None,
        msg: Msg::NextTheme,
    },
    Binding {
        keys: &[KeyPattern::Char('?')],
        label: "?",
        description: "show or hide this help",
        footer: Some("help"),
        msg: Msg::ToggleHelp,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Esc)],
        label: "Esc",
        description: "close the open panel",
        footer: Some("back"),
        msg: Msg::Back,
    },
    Binding {
        keys: &[KeyPattern::Char('q'), KeyPattern::Ctrl('c')],
        label: "q C-c",
        description: "quit",
        footer: Some("quit"),
        msg: Msg::Quit,
    },
];

/// The mutating bindings: only [`Keymap::acting`] reads this table.
const ACTION_KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyPattern::Char('p')],
        label: "p",
        description: "promote into the next environment (asks first)",
        footer: Some("promote"),
        msg: Msg::Promote,
    },
    Binding {
        keys: &[KeyPattern::Char('r')],
        label: "r",
        description: "roll the focused environment back (asks first)",
        footer: Some("rollback"),
        msg: Msg::Rollback,
    },
    Binding {
        keys: &[KeyPattern::Char('R')],
        label: "R",
        description: "re-run the failed CI jobs (tier-1 failures only)",
        footer: Some("re-run"),
        msg: Msg::Rerun,
    },
    // Listed only while the focused environment promotes by itself (App::main_bindings).
    Binding {
        keys: &[KeyPattern::Char('a')],
        label: "a",
        description: "hold auto-promotion here (asks for a reason), or resume it",
        footer: Some("hold/resume auto"),
        msg: Msg::AutoHold,
    },
];

/// The keys of the confirmation while its buttons have the focus.
pub const CONFIRM_KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Left)],
        label: "←",
        description: "choose No",
        footer: None,
        msg: Msg::ChooseNo,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Right)],
        label: "→",
        description: "choose Yes",
        footer: None,
        msg: Msg::ChooseYes,
    },
    Binding {
        keys: &[
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
        keys: &[KeyPattern::Char('o')],
        label: "o",
        description: "override a failing freeze (asks for a reason)",
        footer: Some("override freeze"),
        msg: Msg::StartFreezeOverride,
    },
    Binding {
        keys: &[KeyPattern::Char('b')],
        label: "b",
        description: "break a lock someone else holds (asks for a reason)",
        footer: Some("break lock"),
        msg: Msg::StartLockBreak,
    },
    Binding {
        keys: &[KeyPattern::Char(' ')],
        label: "Space",
        description: "tick or untick the release checklist item",
        footer: Some("tick"),
        msg: Msg::ToggleTick,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Up)],
        label: "↑",
        description: "previous release checklist item",
        footer: None,
        msg: Msg::ChecklistUp,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Down)],
        label: "↓",
        description: "next release checklist item",
        footer: None,
        msg: Msg::ChecklistDown,
    },
    Binding {
        keys: &[KeyPattern::Ctrl('c')],
        label: "C-c",
        description: "quit",
        footer: None,
        msg: Msg::Quit,
    },
];

/// The keys of a text field in the confirmation (typed characters go into the field).
pub const FIELD_KEYMAP: &[Binding] = &[
    Binding {
        keys: &[
            KeyPattern::Code(KeyCode::Enter),
            KeyPattern::Code(KeyCode::Tab),
        ],
        label: "Enter",
        description: "done typing: back to the buttons",
        footer: Some("done"),
        msg: Msg::FieldDone,
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

/// The footer text for a binding: focus keys are grouped as one entry.
pub(crate) const FOCUS_FOOTER: (&str, &str) = ("←→/1-3", "focus");

fn lookup(bindings: &[Binding], key: &KeyEvent) -> Option<Msg> {
    bindings.iter().find_map(|binding| {
        let pattern = binding.keys.iter().find(|p| p.matches(key))?;
        match (pattern, key.code) {
            (KeyPattern::Digit, KeyCode::Char(d)) => d
                .to_digit(10)
                .map(|n| Msg::FocusEnvironment(n as usize - 1)),
            _ => Some(binding.msg.clone()),
        }
    })
}

/// The main screen's keymap: the read-only bindings, plus promote and rollback when the
/// screen was given the engine's write side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keymap {
    acting: bool,
}

impl Keymap {
    /// Only the bindings that change nothing outside the screen.
    pub fn read_only() -> Keymap {
        Keymap { acting: false }
    }

    /// Adds promote and rollback; needs the sender their requests go to.
    pub fn acting(_actions: &ActionSender) -> Keymap {
        Keymap { acting: true }
    }

    pub fn is_read_only(&self) -> bool {
        !self.acting
    }

    /// Every binding, in help order: promote and rollback follow the three focus bindings.
    pub fn bindings(&self) -> impl Iterator<Item = &'static Binding> + use<> {
        let actions: &'static [Binding] = if self.acting { ACTION_KEYMAP } else { &[] };
        KEYMAP[..3]
            .iter()
            .chain(actions.iter())
            .chain(KEYMAP[3..].iter())
    }

    /// The message a key press means on the main screen, if any.
    pub fn msg_for_key(&self, key: &KeyEvent) -> Option<Msg> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let actions: &[Binding] = if self.acting { ACTION_KEYMAP } else { &[] };
        lookup(KEYMAP, key).or_else(|| lookup(actions, key))
    }
}

/// The message a key press means on the main screen of a read-only session. Releases are
/// ignored (some terminals report them).
pub fn msg_for_key(key: &KeyEvent) -> Option<Msg> {
    Keymap::read_only().msg_for_key(key)
}

/// The two buttons of a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    No,
    Yes,
}

/// Which question the confirmation asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmStep {
    /// What moves and every gate.
    Gates,
    /// The high-risk files, asked a second time.
    HighRisk,
}

/// The confirmation's text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The environment's name, typed to confirm a change to it (production).
    Name,
    FreezeReason,
    LockReason,
}

/// An open promotion or rollback confirmation. The preview follows each snapshot, so what is
/// shown is what is submitted; a changed commit resets the answer to "No".
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub preview: ActionPreview,
    pub confirm_by_name: bool,
    pub step: ConfirmStep,
    pub choice: Choice,
    /// The text field with the keyboard, if any (otherwise the buttons have it).
    pub field: Option<Field>,
    pub typed_name: String,
    /// `Some` once `o` was pressed: the reason the freeze is overridden.
    pub freeze_reason: Option<String>,
    /// `Some` once `b` was pressed: the reason the lock is broken.
    pub lock_reason: Option<String>,
    /// Ids of the release checklist items ticked, in the order they were ticked.
    pub ticked: Vec<String>,
    /// The checklist item the cursor is on.
    pub checklist_cursor: usize,
}

impl Confirmation {
    fn new(preview: ActionPreview, confirm_by_name: bool) -> Self {
        let mut confirmation = Confirmation {
            preview,
            confirm_by_name,
            step: ConfirmStep::Gates,
            choice: Choice::No,
            field: confirm_by_name.then_some(Field::Name),
            typed_name: String::new(),
            freeze_reason: None,
            lock_reason: None,
            ticked: Vec::new(),
            checklist_cursor: 0,
        };
        confirmation.judge_checklist();
        confirmation
    }

    /// Whether the checklist keys do something now.
    pub fn has_checklist(&self) -> bool {
        self.step == ConfirmStep::Gates && !self.preview.checklist.is_empty()
    }

    pub fn is_ticked(&self, id: &str) -> bool {
        self.ticked.iter().any(|t| t == id)
    }

    /// Shows the checklist gate as these ticks make it, with the very function the engine
    /// judges the submitted ticks with (the engine decides; this only previews).
    fn judge_checklist(&mut self) {
        let known: Vec<String> = self
            .preview
            .checklist
            .iter()
            .map(|i| i.id.as_str().to_string())
            .collect();
        self.ticked.retain(|id| known.contains(id));
        self.checklist_cursor = self
            .checklist_cursor
            .min(self.preview.checklist.len().saturating_sub(1));
        let items = self.preview.checklist.clone();
        checklist::rejudge(
            &mut self.preview.gates,
            &items,
            &self.ticked,
            None,
            ChecklistMode::Human,
        );
    }

    fn toggle_tick(&mut self) {
        if !self.has_checklist() {
            return;
        }
        let Some(id) = self
            .preview
            .checklist
            .get(self.checklist_cursor)
            .map(|i| i.id.as_str().to_string())
        else {
            return;
        };
        if self.is_ticked(&id) {
            self.ticked.retain(|t| *t != id);
        } else {
            self.ticked.push(id);
        }
        self.judge_checklist();
    }

    pub fn kind(&self) -> ActionKind {
        self.preview.kind
    }

    pub fn environment(&self) -> &SafeText {
        &self.preview.target
    }

    fn reason_given(reason: &Option<String>) -> bool {
        reason.as_deref().is_some_and(|r| !r.trim().is_empty())
    }

    /// The gate's state as this confirmation counts it: a failing freeze with an override
    /// reason, and a failing lock with a reason to break it, count as passing.
    pub fn effective_state(&self, gate: &Gate) -> GateState {
        let overridden = match gate.kind {
            GateKind::Freeze => Self::reason_given(&self.freeze_reason),
            GateKind::Lock => Self::reason_given(&self.lock_reason),
            _ => false,
        };
        if gate.state == GateState::Fail && overridden {
            GateState::Pass
        } else {
            gate.state
        }
    }

    /// The gates that still block, after overrides.
    pub fn blocking(&self) -> Vec<&Gate> {
        self.preview
            .gates
            .gates
            .iter()
            .filter(|g| self.effective_state(g) != GateState::Pass)
            .collect()
    }

    fn gate_fails(&self, kind: GateKind) -> bool {
        self.preview
            .gates
            .gate(kind)
            .is_some_and(|g| g.state == GateState::Fail)
    }

    /// Whether a reason can be typed to pass this failing gate (freeze or lock) now.
    pub fn can_override(&self, kind: GateKind) -> bool {
        self.step == ConfirmStep::Gates && self.gate_fails(kind)
    }

    pub fn name_confirmed(&self) -> bool {
        !self.confirm_by_name || self.typed_name == self.preview.target.as_str()
    }

    /// Whether "Yes" can be chosen and pressed now.
    pub fn yes_enabled(&self) -> bool {
        match self.step {
            ConfirmStep::HighRisk => true,
            ConfirmStep::Gates => {
                self.preview.sha.is_some() && self.blocking().is_empty() && self.name_confirmed()
            }
        }
    }

    fn field_text(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Name => Some(&mut self.typed_name),
            Field::FreezeReason => self.freeze_reason.as_mut(),
            Field::LockReason => self.lock_reason.as_mut(),
        }
    }

    fn request(&self, actor: &str) -> ActionRequest {
        let reason = |r: &Option<String>| {
            r.as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        };
        let mut request = ActionRequest::new(
            self.preview.kind,
            self.preview.target.as_str(),
            actor,
            Origin::Key,
        );
        request.sha = self.preview.sha.clone();
        request.override_freeze =
            reason(&self.freeze_reason).filter(|_| self.gate_fails(GateKind::Freeze));
        request.break_lock = reason(&self.lock_reason).filter(|_| self.gate_fails(GateKind::Lock));
        request.confirmed_high_risk = self.step == ConfirmStep::HighRisk;
        request.checklist_ticks = self.ticked.clone();
        request
    }
}

/// Whether a typed character may go into a field: printable, nothing a terminal would act on.
fn typeable(c: char) -> bool {
    let text = c.to_string();
    !c.is_control() && crate::model::sanitize(&text, 1) == text
}

/// The status line after a request: the engine's answer, until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: SafeText,
    pub problem: bool,
}

/// One environment's name and release side, as the last snapshot had them.
#[derive(Debug, Clone, PartialEq)]
struct EnvironmentRelease {
    name: SafeText,
    release: ReleaseState,
}

/// The screen's state apart from the world: focus, overlays, panels, the confirmation, mode
/// and title.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    focus: usize,
    environment_count: usize,
    overlay: Option<Overlay>,
    gates_open: bool,
    keymap: Keymap,
    actor: String,
    title: SafeText,
    releases: Vec<EnvironmentRelease>,
    confirmation: Option<Confirmation>,
    status: Option<Status>,
    footer: bool,
    hold_prompt: Option<HoldPrompt>,
}

impl App {
    /// A read-only screen: no key can ask for a change.
    pub fn watching() -> App {
        App::with_keymap(Keymap::read_only(), "")
    }

    /// A screen whose promote and rollback keys ask `actions`; requests carry `actor`.
    pub fn acting(actions: &ActionSender, actor: &str) -> App {
        App::with_keymap(Keymap::acting(actions), actor)
    }

    /// `Some` sender: [`App::acting`]; `None`: [`App::watching`].
    pub fn for_actions(actions: Option<&ActionSender>, actor: &str) -> App {
        match actions {
            Some(sender) => App::acting(sender, actor),
            None => App::watching(),
        }
    }

    fn with_keymap(keymap: Keymap, actor: &str) -> App {
        App {
            focus: 0,
            environment_count: 0,
            overlay: None,
            gates_open: false,
            keymap,
            actor: crate::model::sanitize(actor, 64),
            title: SafeText::new("shipdeck"),
            releases: Vec::new(),
            confirmation: None,
            status: None,
            footer: true,
            hold_prompt: None,
        }
    }

    /// Shows or hides the key footer (a kiosk has none: no key there does anything).
    pub fn set_footer(&mut self, shown: bool) {
        self.footer = shown;
    }

    pub fn footer_shown(&self) -> bool {
        self.footer
    }

    /// Sets the header title; the text is sanitized here.
    pub fn set_title(&mut self, title: &str) {
        self.title = SafeText::with_max(title, 80);
    }

    pub fn title(&self) -> &SafeText {
        &self.title
    }

    /// Index of the focused environment (in snapshot order).
    pub fn focus(&self) -> usize {
        self.focus
    }

    pub fn overlay(&self) -> Option<Overlay> {
        self.overlay
    }

    pub fn read_only(&self) -> bool {
        self.keymap.is_read_only()
    }

    pub fn keymap(&self) -> Keymap {
        self.keymap
    }

    pub fn gates_open(&self) -> bool {
        self.gates_open
    }

    pub fn confirmation(&self) -> Option<&Confirmation> {
        self.confirmation.as_ref()
    }

    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    pub fn hold_prompt(&self) -> Option<&HoldPrompt> {
        self.hold_prompt.as_ref()
    }

    /// What auto-promotion does in the focused environment (`None`: not an auto one).
    fn focused_auto(&self) -> Option<&crate::model::AutoDecision> {
        self.releases.get(self.focus)?.release.auto.as_ref()
    }

    /// The main screen's bindings: the keymap's, with `a` only where it can act.
    pub fn main_bindings(&self) -> Vec<&'static Binding> {
        self.keymap
            .bindings()
            .filter(|b| b.msg != Msg::AutoHold || self.focused_auto().is_some())
            .collect()
    }

    /// The bindings that answer keys right now, for the footer and the help.
    pub fn active_bindings(&self) -> Vec<&'static Binding> {
        if let Some(prompt) = &self.hold_prompt {
            return prompt.bindings().iter().collect();
        }
        match &self.confirmation {
            Some(c) if c.field.is_some() => FIELD_KEYMAP.iter().collect(),
            // Only the keys that can do something now: `o` with a failing freeze, `b` with
            // a lock held by someone else, neither at the high-risk question.
            Some(c) => CONFIRM_KEYMAP
                .iter()
                .filter(|b| match b.msg {
                    Msg::StartFreezeOverride => c.can_override(GateKind::Freeze),
                    Msg::StartLockBreak => c.can_override(GateKind::Lock),
                    Msg::ToggleTick | Msg::ChecklistUp | Msg::ChecklistDown => c.has_checklist(),
                    _ => true,
                })
                .collect(),
            None => self.main_bindings(),
        }
    }

    /// The message a key press means now: the confirmation's keys while it is open (typed
    /// characters into its focused field), the main keymap otherwise.
    pub fn msg_for_key(&self, key: &KeyEvent) -> Option<Msg> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if let Some(prompt) = &self.hold_prompt {
            return prompt.msg_for_key(key);
        }
        match &self.confirmation {
            None => self
                .keymap
                .msg_for_key(key)
                .filter(|m| *m != Msg::AutoHold || self.focused_auto().is_some()),
            Some(c) if c.field.is_some() => lookup(FIELD_KEYMAP, key).or_else(|| match key.code {
                KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    Some(Msg::Type(ch))
                }
                _ => None,
            }),
            Some(_) => lookup(CONFIRM_KEYMAP, key),
        }
    }

    /// A key press: hides the status line, then applies what the key means.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::None;
        }
        let dismissed = self.update(Msg::DismissStatus);
        let effect = match self.msg_for_key(key) {
            Some(msg) => self.update(msg),
            None => Effect::None,
        };
        match (effect, dismissed) {
            (Effect::None, Effect::Redraw) => Effect::Redraw,
            (effect, _) => effect,
        }
    }

    /// Applies one message and says whether to redraw, quit or submit.
    pub fn update(&mut self, msg: Msg) -> Effect {
        let before = self.clone();
        let count = self.environment_count;
        if let Some(prompt) = self.hold_prompt.as_mut()
            && !matches!(
                msg,
                Msg::Snapshot(_) | Msg::EnvironmentCount(_) | Msg::Answer(_) | Msg::Quit
            )
        {
            match prompt.update(&msg, &self.actor) {
                PromptOutcome::Closed => self.hold_prompt = None,
                PromptOutcome::Ask(request) => {
                    self.hold_prompt = None;
                    return Effect::Hold(request);
                }
                PromptOutcome::Open => {}
            }
            return if *self == before {
                Effect::None
            } else {
                Effect::Redraw
            };
        }
        match msg {
            Msg::Quit => return Effect::Quit,
            Msg::FocusNext if count > 0 => self.set_focus((self.focus + 1) % count),
            Msg::FocusPrevious if count > 0 => self.set_focus((self.focus + count - 1) % count),
            Msg::FocusEnvironment(index) if index < count => self.set_focus(index),
            Msg::FocusNext | Msg::FocusPrevious | Msg::FocusEnvironment(_) => {}
            Msg::OpenDetails if count > 0 => self.overlay = Some(Overlay::Details { scroll: 0 }),
            Msg::OpenDetails => {}
            Msg::ToggleHelp => self.toggle_overlay(Overlay::Help),
            Msg::ToggleLog => self.toggle_overlay(Overlay::Log { scroll: 0 }),
            Msg::ToggleGates => self.gates_open = !self.gates_open,
            Msg::Back => self.overlay = None,
            Msg::ScrollDown => match &mut self.overlay {
                Some(Overlay::Details { scroll }) => *scroll = scroll.saturating_add(1),
                // The log is scrolled back from its newest line: down goes towards it.
                Some(Overlay::Log { scroll }) => *scroll = scroll.saturating_sub(1),
                _ => {}
            },
            Msg::ScrollUp => match &mut self.overlay {
                Some(Overlay::Details { scroll }) => *scroll = scroll.saturating_sub(1),
                Some(Overlay::Log { scroll }) => *scroll = scroll.saturating_add(1),
                _ => {}
            },
            Msg::EnvironmentCount(n) => self.set_environment_count(n),
            Msg::Snapshot(snapshot) => self.take_snapshot(&snapshot),
            Msg::Promote | Msg::Rollback | Msg::Rerun | Msg::AutoHold if self.read_only() => {}
            Msg::AutoHold => {
                if let (Some(decision), Some(env)) =
                    (self.focused_auto(), self.releases.get(self.focus))
                    && self.confirmation.is_none()
                {
                    self.hold_prompt = Some(HoldPrompt::for_decision(&env.name, decision));
                }
            }
            Msg::Rerun => {
                if let Some(env) = self.releases.get(self.focus) {
                    return Effect::Rerun(env.name.as_str().to_string());
                }
            }
            Msg::Promote => self.open_confirmation(ActionKind::Promote),
            Msg::Rollback => self.open_confirmation(ActionKind::Rollback),
            Msg::Answer(answer) => {
                let (text, problem) = answer.describe();
                self.status = Some(Status {
                    text: SafeText::with_max(&text, 400),
                    problem,
                });
            }
            Msg::DismissStatus => self.status = None,
            Msg::NextTheme => return Effect::NextTheme,
            Msg::ThemeChanged { name, warning } => {
                self.status = Some(match warning {
                    None => Status {
                        text: SafeText::with_max(&format!("theme: {name}"), 100),
                        problem: false,
                    },
                    Some(warning) => Status {
                        text: SafeText::with_max(&warning, 400),
                        problem: true,
                    },
                });
            }
            Msg::ChooseNo
            | Msg::ChooseYes
            | Msg::ToggleChoice
            | Msg::Activate
            | Msg::Cancel
            | Msg::StartFreezeOverride
            | Msg::StartLockBreak
            | Msg::ChecklistUp
            | Msg::ChecklistDown
            | Msg::ToggleTick
            | Msg::Type(_)
            | Msg::Erase
            | Msg::FieldDone => {
                if let Some(request) = self.update_confirmation(msg) {
                    return Effect::Submit(request);
                }
            }
        }
        if *self == before {
            Effect::None
        } else {
            Effect::Redraw
        }
    }

    fn toggle_overlay(&mut self, overlay: Overlay) {
        let same = std::mem::discriminant(&overlay);
        self.overlay = match self.overlay {
            Some(open) if std::mem::discriminant(&open) == same => None,
            _ => Some(overlay),
        };
    }

    fn set_environment_count(&mut self, n: usize) {
        self.environment_count = n;
        self.focus = self.focus.min(n.saturating_sub(1));
        if n == 0 && matches!(self.overlay, Some(Overlay::Details { .. })) {
            self.overlay = None;
        }
    }

    fn take_snapshot(&mut self, snapshot: &Snapshot) {
        self.releases = snapshot
            .environments
            .iter()
            .map(|env| EnvironmentRelease {
                name: env.name.clone(),
                release: env.release.clone(),
            })
            .collect();
        self.set_environment_count(snapshot.environments.len());
        let Some(open) = self.confirmation.take() else {
            return;
        };
        let fresh = self
            .releases
            .iter()
            .find(|r| r.name == open.preview.target)
            .and_then(|r| preview_of(&r.release, open.kind()).cloned());
        match fresh {
            Some(preview) => {
                let mut open = open;
                if preview.sha != open.preview.sha {
                    // Another commit now: what was agreed to is not what would move, and
                    // what was ticked was ticked for the other one.
                    open.step = ConfirmStep::Gates;
                    open.choice = Choice::No;
                    open.ticked.clear();
                    open.checklist_cursor = 0;
                }
                open.preview = preview;
                open.judge_checklist();
                if !open.yes_enabled() {
                    open.choice = Choice::No;
                }
                self.confirmation = Some(open);
            }
            None => {
                self.status = Some(Status {
                    text: SafeText::new(&format!(
                        "the {} of {} is no longer possible: nothing was submitted",
                        open.kind().word(),
                        open.environment()
                    )),
                    problem: true,
                });
            }
        }
    }

    fn open_confirmation(&mut self, kind: ActionKind) {
        let target_index = match kind {
            ActionKind::Promote => self.focus + 1,
            ActionKind::Rollback => self.focus,
        };
        let focused = self
            .releases
            .get(self.focus)
            .map(|r| r.name.as_str().to_string())
            .unwrap_or_default();
        let Some(target) = self.releases.get(target_index) else {
            let text = match kind {
                ActionKind::Promote => {
                    format!("{focused} is the last environment: nothing to promote into")
                }
                ActionKind::Rollback => "no environment to roll back yet".to_string(),
            };
            self.status = Some(Status {
                text: SafeText::new(&text),
                problem: true,
            });
            return;
        };
        match preview_of(&target.release, kind) {
            Some(preview) => {
                self.overlay = None;
                self.confirmation = Some(Confirmation::new(
                    preview.clone(),
                    target.release.confirm_by_name,
                ));
            }
            None => {
                self.status = Some(Status {
                    text: SafeText::new(&format!(
                        "no {} of {} known yet: waiting for the engine",
                        kind.word(),
                        target.name
                    )),
                    problem: true,
                });
            }
        }
    }

    /// Applies a confirmation message; returns the request when "Yes" was pressed for good.
    fn update_confirmation(&mut self, msg: Msg) -> Option<ActionRequest> {
        let confirmation = self.confirmation.as_mut()?;
        match msg {
            Msg::ChooseNo => confirmation.choice = Choice::No,
            Msg::ChooseYes if confirmation.yes_enabled() => confirmation.choice = Choice::Yes,
            Msg::ToggleChoice => {
                confirmation.choice = match confirmation.choice {
                    Choice::Yes => Choice::No,
                    Choice::No if confirmation.yes_enabled() => Choice::Yes,
                    Choice::No => Choice::No,
                }
            }
            Msg::Cancel => self.confirmation = None,
            Msg::Activate => match (confirmation.choice, confirmation.step) {
                (Choice::No, _) => self.confirmation = None,
                (Choice::Yes, _) if !confirmation.yes_enabled() => confirmation.choice = Choice::No,
                (Choice::Yes, ConfirmStep::Gates)
                    if !confirmation.preview.high_risk_files.is_empty() =>
                {
                    confirmation.step = ConfirmStep::HighRisk;
                    confirmation.choice = Choice::No;
                }
                (Choice::Yes, _) => {
                    let request = confirmation.request(&self.actor);
                    self.confirmation = None;
                    self.status = Some(Status {
                        text: SafeText::new(&format!(
                            "{} {}: asking the engine…",
                            request.kind.word(),
                            request.environment
                        )),
                        problem: false,
                    });
                    return Some(request);
                }
            },
            Msg::StartFreezeOverride if confirmation.can_override(GateKind::Freeze) => {
                confirmation.freeze_reason.get_or_insert_with(String::new);
                confirmation.field = Some(Field::FreezeReason);
            }
            Msg::StartLockBreak if confirmation.can_override(GateKind::Lock) => {
                confirmation.lock_reason.get_or_insert_with(String::new);
                confirmation.field = Some(Field::LockReason);
            }
            Msg::Type(c) if typeable(c) => {
                let field = confirmation.field?;
                let text = confirmation.field_text(field)?;
                if text.chars().count() < MAX_TYPED_CHARS {
                    text.push(c);
                }
                if !confirmation.yes_enabled() {
                    confirmation.choice = Choice::No;
                }
            }
            Msg::Erase => {
                let field = confirmation.field?;
                confirmation.field_text(field)?.pop();
                if !confirmation.yes_enabled() {
                    confirmation.choice = Choice::No;
                }
            }
            Msg::FieldDone => confirmation.field = None,
            Msg::ChecklistUp if confirmation.has_checklist() => {
                confirmation.checklist_cursor = confirmation.checklist_cursor.saturating_sub(1);
            }
            Msg::ChecklistDown if confirmation.has_checklist() => {
                let last = confirmation.preview.checklist.len().saturating_sub(1);
                confirmation.checklist_cursor = (confirmation.checklist_cursor + 1).min(last);
            }
            Msg::ToggleTick => {
                confirmation.toggle_tick();
                if !confirmation.yes_enabled() {
                    confirmation.choice = Choice::No;
                }
            }
            _ => {}
        }
        None
    }

    fn set_focus(&mut self, index: usize) {
        if index != self.focus {
            self.focus = index;
            // Details follow the focus; start them from the top.
            if let Some(Overlay::Details { scroll }) = &mut self.overlay {
                *scroll = 0;
            }
        }
    }
}

fn preview_of(release: &ReleaseState, kind: ActionKind) -> Option<&ActionPreview> {
    match kind {
        ActionKind::Promote => release.promotion.as_ref(),
        ActionKind::Rollback => release.rollback.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::commands::Envelope;
    use crate::ui::sample::{SampleBuilder, sample_now};
    use tokio::sync::mpsc;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app_with(count: usize) -> App {
        let mut app = App::watching();
        app.update(Msg::EnvironmentCount(count));
        app
    }

    fn press(app: &mut App, code: KeyCode) -> Effect {
        app.handle_key(&key(code))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    fn sample() -> Snapshot {
        SampleBuilder::new(sample_now()).build()
    }

    /// The sample with every gate of prod's promotion passing (high-risk files still there).
    fn promotable() -> Snapshot {
        let mut snapshot = sample();
        if let Some(preview) = snapshot.environments[2].release.promotion.as_mut() {
            for gate in &mut preview.gates.gates {
                gate.state = GateState::Pass;
            }
        }
        snapshot
    }

    fn acting_on(snapshot: Snapshot) -> (App, mpsc::Receiver<Envelope>) {
        let (sender, receiver) = ActionSender::channel(4);
        let mut app = App::acting(&sender, "captain");
        app.update(Msg::Snapshot(Arc::new(snapshot)));
        (app, receiver)
    }

    fn submitted(effect: Effect) -> ActionRequest {
        match effect {
            Effect::Submit(request) => request,
            other => panic!("expected a submission, got {other:?}"),
        }
    }

    #[test]
    fn right_l_and_tab_move_focus_forward_and_wrap() {
        for code in [KeyCode::Right, KeyCode::Char('l'), KeyCode::Tab] {
            let mut app = app_with(3);
            assert_eq!(press(&mut app, code), Effect::Redraw);
            assert_eq!(app.focus(), 1);
            press(&mut app, code);
            assert_eq!(app.focus(), 2);
            press(&mut app, code);
            assert_eq!(app.focus(), 0, "{code:?} wraps to the first");
        }
    }

    #[test]
    fn left_h_and_backtab_move_focus_back_and_wrap() {
        for code in [KeyCode::Left, KeyCode::Char('h'), KeyCode::BackTab] {
            let mut app = app_with(3);
            assert_eq!(press(&mut app, code), Effect::Redraw);
            assert_eq!(app.focus(), 2, "{code:?} wraps to the last");
            press(&mut app, code);
            assert_eq!(app.focus(), 1);
        }
    }

    #[test]
    fn digits_focus_by_position_and_ignore_missing_ones() {
        let mut app = app_with(3);
        assert_eq!(press(&mut app, KeyCode::Char('3')), Effect::Redraw);
        assert_eq!(app.focus(), 2);
        assert_eq!(press(&mut app, KeyCode::Char('1')), Effect::Redraw);
        assert_eq!(app.focus(), 0);
        assert_eq!(press(&mut app, KeyCode::Char('1')), Effect::None);
        assert_eq!(press(&mut app, KeyCode::Char('9')), Effect::None);
        assert_eq!(app.focus(), 0);
    }

    #[test]
    fn focus_keys_do_nothing_without_environments() {
        let mut app = app_with(0);
        assert_eq!(press(&mut app, KeyCode::Tab), Effect::None);
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::None);
        assert_eq!(app.overlay(), None);
    }

    #[test]
    fn enter_opens_details_and_esc_closes_them() {
        let mut app = app_with(3);
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
        assert_eq!(app.overlay(), Some(Overlay::Details { scroll: 0 }));
        assert_eq!(press(&mut app, KeyCode::Char('j')), Effect::Redraw);
        assert_eq!(press(&mut app, KeyCode::Down), Effect::Redraw);
        assert_eq!(app.overlay(), Some(Overlay::Details { scroll: 2 }));
        assert_eq!(press(&mut app, KeyCode::Up), Effect::Redraw);
        assert_eq!(press(&mut app, KeyCode::Char('k')), Effect::Redraw);
        assert_eq!(
            press(&mut app, KeyCode::Up),
            Effect::None,
            "no scrolling past the top"
        );
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::Redraw);
        assert_eq!(app.overlay(), None);
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::None);
    }

    #[test]
    fn changing_focus_in_details_shows_the_new_environment_from_the_top() {
        let mut app = app_with(3);
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Right);
        assert_eq!(app.focus(), 1);
        assert_eq!(app.overlay(), Some(Overlay::Details { scroll: 0 }));
    }

    #[test]
    fn question_mark_toggles_help_and_esc_closes_it() {
        let mut app = app_with(3);
        assert_eq!(press(&mut app, KeyCode::Char('?')), Effect::Redraw);
        assert_eq!(app.overlay(), Some(Overlay::Help));
        assert_eq!(press(&mut app, KeyCode::Char('?')), Effect::Redraw);
        assert_eq!(app.overlay(), None);
        press(&mut app, KeyCode::Char('?'));
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::Redraw);
        assert_eq!(app.overlay(), None);
    }

    #[test]
    fn q_quits_from_anywhere() {
        let mut app = app_with(3);
        assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
        press(&mut app, KeyCode::Enter);
        assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_nothing() {
        let mut app = app_with(3);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(msg_for_key(&ctrl_c), Some(Msg::Quit));
        assert_eq!(app.update(Msg::Quit), Effect::Quit);
        assert_eq!(msg_for_key(&key(KeyCode::Char('c'))), None);
        let ctrl_q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL);
        assert_eq!(msg_for_key(&ctrl_q), None);
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(msg_for_key(&release), None);
    }

    #[test]
    fn fewer_environments_pull_focus_back_in_range() {
        let mut app = app_with(3);
        press(&mut app, KeyCode::Char('3'));
        assert_eq!(app.update(Msg::EnvironmentCount(2)), Effect::Redraw);
        assert_eq!(app.focus(), 1);
        assert_eq!(app.update(Msg::EnvironmentCount(2)), Effect::None);
    }

    #[test]
    fn every_binding_is_reachable_by_its_first_key() {
        let (app, _rx) = acting_on(sample());
        for binding in app.main_bindings() {
            let Some(pattern) = binding.keys.first() else {
                panic!("binding {} has no keys", binding.label);
            };
            let event = match *pattern {
                KeyPattern::Code(code) => key(code),
                KeyPattern::Char(c) => key(KeyCode::Char(c)),
                KeyPattern::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
                KeyPattern::Digit => key(KeyCode::Char('1')),
            };
            assert_eq!(
                app.msg_for_key(&event),
                Some(binding.msg.clone()),
                "{}",
                binding.label
            );
        }
    }

    #[test]
    fn title_is_sanitized() {
        let mut app = App::watching();
        app.set_title("ship\x1b]0;pwned\x07deck\u{202e}");
        assert_eq!(app.title().as_str(), "ship]0;pwneddeck");
        assert!(app.read_only());
    }

    #[test]
    fn p_opens_the_promotion_into_the_next_environment_with_no_selected() {
        let (mut app, _rx) = acting_on(sample());
        assert_eq!(press(&mut app, KeyCode::Char('p')), Effect::Redraw);
        let confirmation = app.confirmation().expect("confirmation open");
        assert_eq!(confirmation.kind(), ActionKind::Promote);
        assert_eq!(confirmation.environment().as_str(), "staging");
        assert_eq!(confirmation.choice, Choice::No);
        assert_eq!(confirmation.step, ConfirmStep::Gates);
    }

    #[test]
    fn r_opens_the_rollback_of_the_focused_environment() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('r'));
        let confirmation = app.confirmation().expect("confirmation open");
        assert_eq!(confirmation.kind(), ActionKind::Rollback);
        assert_eq!(confirmation.environment().as_str(), "staging");
        assert_eq!(confirmation.choice, Choice::No);
    }

    #[test]
    fn p_on_the_last_environment_says_there_is_nothing_to_promote_into() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('3'));
        press(&mut app, KeyCode::Char('p'));
        assert!(app.confirmation().is_none());
        let status = app.status().expect("status line");
        assert!(status.text.as_str().contains("nothing to promote into"));
    }

    #[test]
    fn enter_on_no_cancels_and_submits_nothing() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('r'));
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
        assert!(app.confirmation().is_none());
        // n and Esc cancel too.
        for cancel in [KeyCode::Char('n'), KeyCode::Esc] {
            press(&mut app, KeyCode::Char('r'));
            press(&mut app, KeyCode::Char('y'));
            assert_eq!(press(&mut app, cancel), Effect::Redraw);
            assert!(app.confirmation().is_none(), "{cancel:?} cancels");
        }
    }

    #[test]
    fn y_chooses_yes_and_enter_submits_the_request_shown() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('r'));
        press(&mut app, KeyCode::Char('y'));
        assert_eq!(app.confirmation().map(|c| c.choice), Some(Choice::Yes));
        press(&mut app, KeyCode::Left);
        assert_eq!(app.confirmation().map(|c| c.choice), Some(Choice::No));
        press(&mut app, KeyCode::Tab);
        let request = submitted(press(&mut app, KeyCode::Enter));
        assert_eq!(request.kind, ActionKind::Rollback);
        assert_eq!(request.environment, "staging");
        assert_eq!(request.actor, "captain");
        assert_eq!(request.origin, Origin::Key);
        assert_eq!(
            request.sha.as_deref(),
            Some("4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70")
        );
        assert!(!request.confirmed_high_risk);
        assert_eq!(request.override_freeze, None);
        assert!(app.confirmation().is_none());
    }

    #[test]
    fn yes_is_disabled_while_a_gate_blocks() {
        // Staging's promotion waits for dev to soak.
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('p'));
        let confirmation = app.confirmation().expect("open");
        assert!(!confirmation.yes_enabled());
        assert_eq!(confirmation.blocking().len(), 1);
        for code in [KeyCode::Char('y'), KeyCode::Right, KeyCode::Tab] {
            press(&mut app, code);
            assert_eq!(app.confirmation().map(|c| c.choice), Some(Choice::No));
        }
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
        assert!(app.confirmation().is_none(), "Enter on No closes it");
    }

    #[test]
    fn a_gate_failing_after_yes_was_chosen_takes_yes_back() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('r'));
        press(&mut app, KeyCode::Char('y'));
        let mut later = sample();
        if let Some(rollback) = later.environments[1].release.rollback.as_mut() {
            rollback.gates.gates[1].state = GateState::Fail;
        }
        app.update(Msg::Snapshot(Arc::new(later)));
        let confirmation = app.confirmation().expect("still open");
        assert_eq!(confirmation.choice, Choice::No);
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
    }

    #[test]
    fn the_environment_name_must_be_typed_before_yes_enables() {
        let (mut app, _rx) = acting_on(promotable());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('p'));
        let confirmation = app.confirmation().expect("open");
        assert_eq!(confirmation.environment().as_str(), "prod");
        assert_eq!(confirmation.field, Some(Field::Name));
        assert!(!confirmation.yes_enabled());
        // 'n' is typed into the field here, not taken as "No".
        type_text(&mut app, "pron");
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Backspace);
        assert!(!app.confirmation().expect("open").yes_enabled());
        type_text(&mut app, "od");
        assert!(app.confirmation().expect("open").yes_enabled());
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.confirmation().and_then(|c| c.field), None);
        press(&mut app, KeyCode::Char('y'));
        assert_eq!(app.confirmation().map(|c| c.choice), Some(Choice::Yes));
    }

    #[test]
    fn typed_text_is_capped_and_printable_only() {
        let (mut app, _rx) = acting_on(promotable());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('p'));
        app.update(Msg::Type('\u{1b}'));
        app.update(Msg::Type('\u{202e}'));
        app.update(Msg::Type('\u{7}'));
        assert_eq!(app.confirmation().expect("open").typed_name, "");
        for _ in 0..500 {
            app.update(Msg::Type('x'));
        }
        assert_eq!(
            app.confirmation().expect("open").typed_name.chars().count(),
            MAX_TYPED_CHARS
        );
    }

    #[test]
    fn a_freeze_override_needs_a_reason_and_travels_with_the_request() {
        let mut snapshot = promotable();
        if let Some(preview) = snapshot.environments[2].release.promotion.as_mut() {
            preview.gates.gates[4].state = GateState::Fail;
            preview.high_risk_files.clear();
        }
        let (mut app, _rx) = acting_on(snapshot);
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('p'));
        type_text(&mut app, "prod");
        press(&mut app, KeyCode::Enter);
        assert!(!app.confirmation().expect("open").yes_enabled(), "frozen");
        press(&mut app, KeyCode::Char('o'));
        assert_eq!(
            app.confirmation().and_then(|c| c.field),
            Some(Field::FreezeReason)
        );
        type_text(&mut app, "   ");
        assert!(
            !app.confirmation().expect("open").yes_enabled(),
            "a blank reason is no reason"
        );
        type_text(&mut app, "hotfix for INC-42");
        assert!(app.confirmation().expect("open").yes_enabled());
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        let request = submitted(press(&mut app, KeyCode::Enter));
        assert_eq!(
            request.override_freeze.as_deref(),
            Some("hotfix for INC-42")
        );
        assert_eq!(request.break_lock, None);
        assert!(!request.confirmed_high_risk);
    }

    #[test]
    fn breaking_the_lock_needs_a_reason() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('3'));
        press(&mut app, KeyCode::Char('r'));
        type_text(&mut app, "prod");
        press(&mut app, KeyCode::Enter);
        assert!(!app.confirmation().expect("open").yes_enabled(), "locked");
        press(&mut app, KeyCode::Char('b'));
        type_text(&mut app, "priya's laptop died mid-rollback");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        let request = submitted(press(&mut app, KeyCode::Enter));
        assert_eq!(
            request.break_lock.as_deref(),
            Some("priya's laptop died mid-rollback")
        );
        assert_eq!(request.override_freeze, None);
    }

    #[test]
    fn o_does_nothing_without_a_failing_freeze() {
        let (mut app, _rx) = acting_on(sample());
        press(&mut app, KeyCode::Char('p'));
        assert_eq!(press(&mut app, KeyCode::Char('o')), Effect::None);
        assert_eq!(app.confirmation().and_then(|c| c.field), None);
        let offered: Vec<&str> = app.active_bindings().iter().map(|b| b.label).collect();
        assert!(!offered.contains(&"o"), "{offered:?}");
        assert!(offered.contains(&"Enter"), "{offered:?}");
    }

    #[test]
    fn high_risk_files_are_confirmed_a_second_time() {
        let (mut app, _rx) = acting_on(promotable());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('p'));
        type_text(&mut app, "prod");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
        let confirmation = app.confirmation().expect("second question");
        assert_eq!(confirmation.step, ConfirmStep::HighRisk);
        assert_eq!(confirmation.choice, Choice::No, "No again by default");
        // No at the second question submits nothing either.
        assert_eq!(press(&mut app, KeyCode::Enter), Effect::Redraw);
        assert!(app.confirmation().is_none());

        press(&mut app, KeyCode::Char('p'));
        type_text(&mut app, "prod");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        let request = submitted(press(&mut app, KeyCode::Enter));
        assert!(request.confirmed_high_risk);
        assert_eq!(request.environment, "prod");
    }

    #[test]
    fn a_new_candidate_while_asking_resets_the_answer() {
        let (mut app, _rx) = acting_on(promotable());
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('p'));
        type_text(&mut app, "prod");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('y'));
        press(&mut app, KeyCode::Enter);
        let mut later = promotable();
        if let Some(preview) = later.environments[2].release.promotion.as_mut() {
            preview.sha = Some("ffffffffffffffffffffffffffffffffffffffff".to_string());
        }
        app.update(Msg::Snapshot(Arc::new(later)));
        let confirmation = app.confirmation().expect("still open");
        assert_eq!(confirmation.step, ConfirmStep::Gates);
        assert_eq!(confirmation.choice, Choice::No);
    }

    #[test]
    fn answers_show_until_the_next_key() {
        let (mut app, _rx) = acting_on(sample());
        let blocked = Answer::Blocked {
            kind: ActionKind::Promote,
            environment: SafeText::new("staging"),
            gates: vec![Gate::new(
                GateKind::Soak,
                GateState::Fail,
                "41m",
                "1h",
                "opens in 19m",
            )],
        };
        assert_eq!(app.update(Msg::Answer(blocked)), Effect::Redraw);
        let status = app.status().expect("shown");
        assert!(status.problem);
        assert!(status.text.as_str().contains("soak fail: opens in 19m"));
        assert_eq!(press(&mut app, KeyCode::Char('x')), Effect::Redraw);
        assert!(app.status().is_none());
    }

    #[test]
    fn the_read_only_keymap_has_no_mutating_keys_and_they_do_nothing() {
        let mut app = App::watching();
        app.update(Msg::Snapshot(Arc::new(sample())));
        assert!(
            app.keymap()
                .bindings()
                .all(|b| !matches!(b.msg, Msg::Promote | Msg::Rollback))
        );
        assert!(
            app.keymap()
                .bindings()
                .all(|b| b.label != "p" && b.label != "r")
        );
        for c in ['p', 'r'] {
            assert_eq!(app.msg_for_key(&key(KeyCode::Char(c))), None);
            assert_eq!(press(&mut app, KeyCode::Char(c)), Effect::None);
        }
        // Even sent directly, the messages open nothing.
        assert_eq!(app.update(Msg::Promote), Effect::None);
        assert_eq!(app.update(Msg::Rollback), Effect::None);
        assert!(app.confirmation().is_none());
    }

    #[test]
    fn gates_and_log_panels_toggle_in_watch_mode_too() {
        let mut app = App::watching();
        app.update(Msg::Snapshot(Arc::new(sample())));
        assert_eq!(press(&mut app, KeyCode::Char('g')), Effect::Redraw);
        assert!(app.gates_open());
        press(&mut app, KeyCode::Char('L'));
        assert_eq!(app.overlay(), Some(Overlay::Log { scroll: 0 }));
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.overlay(), Some(Overlay::Log { scroll: 1 }));
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.overlay(), Some(Overlay::Log { scroll: 0 }));
        press(&mut app, KeyCode::Char('L'));
        assert_eq!(app.overlay(), None);
        assert!(app.gates_open(), "the gate panel stays open");
        press(&mut app, KeyCode::Char('g'));
        assert!(!app.gates_open());
    }
}
