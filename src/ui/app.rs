//! The screen's own state (which environment has focus, which overlay is open) and the one
//! keymap table: keys become [`Msg`]s, [`App::update`] applies them and says what follows.
//! The footer and the `?` help overlay are generated from the same table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::SafeText;

/// What the user (or the loop) asks of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    FocusNext,
    FocusPrevious,
    /// Focus the environment at this index (0-based, in snapshot order).
    FocusEnvironment(usize),
    OpenDetails,
    ToggleHelp,
    /// Close the open overlay.
    Back,
    ScrollDown,
    ScrollUp,
    Quit,
    /// A snapshot with this many environments arrived (keeps focus in range).
    EnvironmentCount(usize),
}

/// What the loop must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing visible changed.
    None,
    Redraw,
    Quit,
}

/// A panel drawn over the environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// Jobs and steps of the focused environment's pipeline, scrolled by this many lines.
    Details {
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
    fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            KeyPattern::Code(code) => !ctrl && key.code == code,
            KeyPattern::Char(c) => !ctrl && key.code == KeyCode::Char(c),
            KeyPattern::Ctrl(c) => ctrl && key.code == KeyCode::Char(c),
            KeyPattern::Digit => !ctrl && matches!(key.code, KeyCode::Char('1'..='9')),
        }
    }
}

/// One row of the keymap: the keys, how the footer and help name them, and the message.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [KeyPattern],
    /// How the keys are written in the footer and the help overlay.
    pub label: &'static str,
    pub description: &'static str,
    /// Short description for the footer; `None` keeps the binding out of the footer.
    pub footer: Option<&'static str>,
    pub msg: Msg,
}

/// The one keymap: the footer, the help overlay and key handling all read it.
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
        keys: &[KeyPattern::Code(KeyCode::Down), KeyPattern::Char('j')],
        label: "↓ j",
        description: "scroll details down",
        footer: None,
        msg: Msg::ScrollDown,
    },
    Binding {
        keys: &[KeyPattern::Code(KeyCode::Up), KeyPattern::Char('k')],
        label: "↑ k",
        description: "scroll details up",
        footer: None,
        msg: Msg::ScrollUp,
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

/// The footer text for a binding: focus keys are grouped as one entry.
pub(crate) const FOCUS_FOOTER: (&str, &str) = ("←→/1-3", "focus");

/// The message a key press means, if any. Releases are ignored (some terminals report them).
pub fn msg_for_key(key: &KeyEvent) -> Option<Msg> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    KEYMAP.iter().find_map(|binding| {
        let pattern = binding.keys.iter().find(|p| p.matches(key))?;
        match (pattern, key.code) {
            (KeyPattern::Digit, KeyCode::Char(d)) => d
                .to_digit(10)
                .map(|n| Msg::FocusEnvironment(n as usize - 1)),
            _ => Some(binding.msg),
        }
    })
}

/// The screen's state apart from the world: focus, overlay, mode and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    focus: usize,
    environment_count: usize,
    overlay: Option<Overlay>,
    read_only: bool,
    title: SafeText,
}

impl App {
    pub fn new(read_only: bool) -> App {
        App {
            focus: 0,
            environment_count: 0,
            overlay: None,
            read_only,
            title: SafeText::new("shipdeck"),
        }
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
        self.read_only
    }

    /// Applies one message and says whether to redraw or quit.
    pub fn update(&mut self, msg: Msg) -> Effect {
        let before = self.clone();
        let count = self.environment_count;
        match msg {
            Msg::Quit => return Effect::Quit,
            Msg::FocusNext if count > 0 => self.set_focus((self.focus + 1) % count),
            Msg::FocusPrevious if count > 0 => self.set_focus((self.focus + count - 1) % count),
            Msg::FocusEnvironment(index) if index < count => self.set_focus(index),
            Msg::FocusNext | Msg::FocusPrevious | Msg::FocusEnvironment(_) => {}
            Msg::OpenDetails if count > 0 => self.overlay = Some(Overlay::Details { scroll: 0 }),
            Msg::OpenDetails => {}
            Msg::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help) => None,
                    _ => Some(Overlay::Help),
                }
            }
            Msg::Back => self.overlay = None,
            Msg::ScrollDown => {
                if let Some(Overlay::Details { scroll }) = &mut self.overlay {
                    *scroll = scroll.saturating_add(1);
                }
            }
            Msg::ScrollUp => {
                if let Some(Overlay::Details { scroll }) = &mut self.overlay {
                    *scroll = scroll.saturating_sub(1);
                }
            }
            Msg::EnvironmentCount(n) => {
                self.environment_count = n;
                self.focus = self.focus.min(n.saturating_sub(1));
                if n == 0 && matches!(self.overlay, Some(Overlay::Details { .. })) {
                    self.overlay = None;
                }
            }
        }
        if *self == before {
            Effect::None
        } else {
            Effect::Redraw
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app_with(count: usize) -> App {
        let mut app = App::new(false);
        app.update(Msg::EnvironmentCount(count));
        app
    }

    fn press(app: &mut App, code: KeyCode) -> Effect {
        let msg = msg_for_key(&key(code)).expect("key is bound");
        app.update(msg)
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
        for binding in KEYMAP {
            let Some(pattern) = binding.keys.first() else {
                panic!("binding {} has no keys", binding.label);
            };
            let event = match *pattern {
                KeyPattern::Code(code) => key(code),
                KeyPattern::Char(c) => key(KeyCode::Char(c)),
                KeyPattern::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
                KeyPattern::Digit => key(KeyCode::Char('1')),
            };
            assert_eq!(msg_for_key(&event), Some(binding.msg), "{}", binding.label);
        }
    }

    #[test]
    fn title_is_sanitized() {
        let mut app = App::new(true);
        app.set_title("ship\x1b]0;pwned\x07deck\u{202e}");
        assert_eq!(app.title().as_str(), "ship]0;pwneddeck");
        assert!(app.read_only());
    }
}
