//! The keys a "press everything" test sends: every printable character but `q`, the editing
//! and movement keys, and F1-F12.

use crossterm::event::KeyCode;

pub fn every_plain_key_but_quit() -> Vec<KeyCode> {
    let mut codes: Vec<KeyCode> = (' '..='~')
        .filter(|c| *c != 'q')
        .map(KeyCode::Char)
        .collect();
    codes.extend([
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
    ]);
    codes.extend((1..=12).map(KeyCode::F));
    codes
}
