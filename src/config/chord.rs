//! Key chords written in the config (`quit_chord = "ctrl+q"`): parsed once, matched against
//! the terminal's key events. A kiosk's only way out is its chord, so the chord must hold a
//! modifier (or be a function key): a bumped keyboard must not close a wall display.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    /// The default quit chord of kiosk mode.
    pub const fn ctrl_q() -> Self {
        Self {
            code: KeyCode::Char('q'),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    /// Reads `ctrl+q`, `ctrl+alt+x`, `shift+f10`, `f12`: modifiers (`ctrl`, `alt`, `shift`)
    /// and one key (a character, `f1`..`f24`, `esc`, `enter`, `tab`, `backspace`, `space`),
    /// joined by `+` or `-`, in any case.
    pub fn parse(raw: &str) -> Result<KeyChord, String> {
        let lowered = raw.trim().to_lowercase();
        let parts: Vec<&str> = lowered
            .split(['+', '-'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let Some((key, modifiers)) = parts.split_last() else {
            return Err("is empty; write e.g. \"ctrl+q\"".to_string());
        };
        let mut held = KeyModifiers::NONE;
        for modifier in modifiers {
            held |= match *modifier {
                "ctrl" | "control" => KeyModifiers::CONTROL,
                "alt" | "meta" | "option" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                other => {
                    return Err(format!(
                        "has an unknown modifier {other:?} (use ctrl, alt or shift)"
                    ));
                }
            };
        }
        let code = match *key {
            "esc" | "escape" => KeyCode::Esc,
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backspace" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                Ok(n @ 1..=24) => KeyCode::F(n),
                _ => return Err(format!("has an unknown key {f:?}")),
            },
            single if single.chars().count() == 1 => {
                KeyCode::Char(single.chars().next().unwrap_or('q'))
            }
            other => return Err(format!("has an unknown key {other:?}")),
        };
        let chord = KeyChord {
            code,
            modifiers: held,
        };
        if !matches!(code, KeyCode::F(_))
            && !held.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return Err(format!(
                "{chord} needs ctrl or alt (or a function key): a single key is too easy to \
                 press by accident on a wall display"
            ));
        }
        Ok(chord)
    }

    /// Whether `event` is this chord. Shift is compared only where it is part of the chord,
    /// since terminals differ in reporting it with letters.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let wanted = self.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let got = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let shift_ok = !self.modifiers.contains(KeyModifiers::SHIFT)
            || event.modifiers.contains(KeyModifiers::SHIFT);
        let code_ok = match (self.code, event.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => a.eq_ignore_ascii_case(&b),
            (a, b) => a == b,
        };
        code_ok && wanted == got && shift_ok
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl+")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt+")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn chords_are_read_in_any_spelling() {
        assert_eq!(KeyChord::parse("ctrl+q"), Ok(KeyChord::ctrl_q()));
        assert_eq!(KeyChord::parse(" Ctrl-Q "), Ok(KeyChord::ctrl_q()));
        let chord = KeyChord::parse("ctrl+alt+shift+x").unwrap();
        assert_eq!(chord.code, KeyCode::Char('x'));
        assert!(
            chord
                .modifiers
                .contains(KeyModifiers::ALT | KeyModifiers::SHIFT)
        );
        assert_eq!(chord.to_string(), "ctrl+alt+shift+x");
        assert_eq!(KeyChord::parse("F12").map(|c| c.code), Ok(KeyCode::F(12)));
        assert_eq!(KeyChord::parse("alt+esc").map(|c| c.code), Ok(KeyCode::Esc));
    }

    #[test]
    fn a_chord_without_ctrl_or_alt_is_refused() {
        for raw in ["q", "shift+q", "enter", "space"] {
            let err = KeyChord::parse(raw).unwrap_err();
            assert!(err.contains("needs ctrl or alt"), "{raw}: {err}");
        }
        assert!(KeyChord::parse("").unwrap_err().contains("empty"));
        assert!(KeyChord::parse("hyper+q").unwrap_err().contains("hyper"));
        assert!(KeyChord::parse("ctrl+f99").unwrap_err().contains("f99"));
        assert!(KeyChord::parse("ctrl+home").unwrap_err().contains("home"));
    }

    #[test]
    fn matching_needs_the_same_ctrl_and_alt() {
        let chord = KeyChord::ctrl_q();
        assert!(chord.matches(&key(KeyCode::Char('q'), KeyModifiers::CONTROL)));
        // Caps lock or a terminal that reports shift with the letter.
        assert!(chord.matches(&key(
            KeyCode::Char('Q'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT
        )));
        assert!(!chord.matches(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(!chord.matches(&key(
            KeyCode::Char('q'),
            KeyModifiers::CONTROL | KeyModifiers::ALT
        )));
        assert!(!chord.matches(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        let shifted = KeyChord::parse("ctrl+shift+x").unwrap();
        assert!(!shifted.matches(&key(KeyCode::Char('x'), KeyModifiers::CONTROL)));
    }
}
