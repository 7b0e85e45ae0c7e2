//! The release binary in a pseudo-terminal: `shipdeck demo` as a new user sees it.

use crate::support::pty::PtySession;

const STAGES: [&str; 7] = [
    "Install",
    "Lint+Format",
    "Typecheck",
    "Unit",
    "Integration",
    "E2E",
    "Security+Performance",
];

const CHECKS: [&str; 7] = [
    "health",
    "auth flow",
    "db read",
    "file access",
    "ai health",
    "email health",
    "payment health",
];

fn all_present(screen: &str, words: &[&str]) -> bool {
    words.iter().all(|w| screen.contains(w))
}

#[test]
fn demo_shows_environments_stages_and_checks_then_help_then_quits() {
    let mut session = PtySession::spawn(&["demo"], 160, 48);
    let screen = session.wait_for("three environments, seven stages, seven checks", |s| {
        all_present(s, &["dev", "staging", "prod"])
            && all_present(s, &STAGES)
            && all_present(s, &CHECKS)
    });
    assert!(screen.contains("main"), "branch names shown:\n{screen}");

    session.send(b"?");
    session.wait_for("the help overlay", |s| {
        s.contains("Keys") && s.contains("quit")
    });
    session.send(b"\x1b");
    session.wait_for("help closed", |s| {
        !s.contains("Keys") && all_present(s, &CHECKS)
    });

    session.send(b"q");
    assert_eq!(session.wait_exit(), 0, "q exits with 0");
}

/// A wall display nobody touches: a kiosk ignores every key but its chord, shows no footer,
/// and a broken theme file is a warning naming the file, line and column, not a failed start.
#[test]
fn kiosk_takes_only_its_chord_and_a_broken_theme_falls_back() {
    let broken = "extends = \"default\"\n[colors]\nwarn = \"mauve\"\n";
    let mut session = PtySession::spawn_with_files(
        &["demo", "--watch", "--kiosk", "--theme", "mine"],
        120,
        40,
        &[],
        &[("config/shipdeck/themes/mine.toml", broken)],
    );
    let screen = session.wait_for("the cockpit", |s| {
        all_present(s, &["dev", "staging", "prod"])
    });
    assert!(!screen.contains("quit"), "no footer in a kiosk:\n{screen}");
    let raw = String::from_utf8_lossy(&session.raw_output()).to_string();
    assert!(
        raw.contains("themes/mine.toml:3:8:") && raw.contains("mauve"),
        "the warning names file, line and column: {raw:.400}"
    );

    // q, help, Ctrl-C, tab and theme keys: none of them does anything.
    session.send(b"q?\x03\tt\x1b");
    for round in 0..2 {
        let before = session.contents();
        session.wait_for(&format!("the screen to move on ({round})"), |s| s != before);
    }
    assert!(session.running(), "no key but the chord ends a kiosk");
    let screen = session.contents();
    assert!(
        !screen.contains("Keys"),
        "no help overlay opened:\n{screen}"
    );

    session.send(b"\x11"); // ctrl+q
    assert_eq!(session.wait_exit(), 0, "the chord quits with 0");
}

#[test]
fn ctrl_c_quits_cleanly() {
    let mut session = PtySession::spawn(&["demo"], 120, 40);
    session.wait_for("the cockpit", |s| {
        all_present(s, &["dev", "staging", "prod"])
    });
    session.send(b"\x03");
    assert_eq!(session.wait_exit(), 0);
}

#[test]
fn tiny_terminal_gets_a_message_not_a_panic() {
    let mut session = PtySession::spawn(&["demo"], 60, 18);
    session.wait_for("the too-small message", |s| s.contains("80x24"));
    session.send(b"q");
    assert_eq!(session.wait_exit(), 0);
}

/// Walks the raw output: every escape sequence must be one the UI itself writes (CSI, or an
/// OSC window title), BEL may only end an OSC, and no C1 control or bidi/zero-width format
/// character may appear at all. Returns the OSC payloads seen.
fn check_terminal_bytes(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    for forbidden in [
        '\u{202e}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{200b}', '\u{200f}',
    ] {
        assert!(
            !text.contains(forbidden),
            "format character {forbidden:?} reached the terminal"
        );
    }
    assert!(
        !text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "a C1 control character reached the terminal"
    );
    let mut oscs = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0x07 => panic!("BEL outside an OSC at byte {i}"),
            0x1b => {
                let next = *raw.get(i + 1).unwrap_or(&0);
                match next {
                    b'[' => {
                        let mut j = i + 2;
                        while j < raw.len() && (0x20..=0x3f).contains(&raw[j]) {
                            j += 1;
                        }
                        assert!(
                            j < raw.len() && (0x40..=0x7e).contains(&raw[j]),
                            "malformed CSI at byte {i}"
                        );
                        i = j + 1;
                    }
                    b']' => {
                        let mut j = i + 2;
                        let start = j;
                        while j < raw.len()
                            && raw[j] != 0x07
                            && !(raw[j] == 0x1b && raw.get(j + 1) == Some(&b'\\'))
                        {
                            j += 1;
                        }
                        oscs.push(
                            String::from_utf8_lossy(&raw[start..j.min(raw.len())]).into_owned(),
                        );
                        i = if raw.get(j) == Some(&0x07) {
                            j + 1
                        } else {
                            j + 2
                        };
                    }
                    b'7' | b'8' | b'=' | b'>' | b'M' => i += 2,
                    b'(' | b')' => i += 3,
                    other => panic!("unexpected escape ESC {other:#x} at byte {i}"),
                }
            }
            _ => i += 1,
        }
    }
    oscs
}

#[test]
fn hostile_commit_subjects_never_reach_the_terminal_raw() {
    let mut session = PtySession::spawn(&["demo"], 160, 48);
    // The demo's staging deploy carries a subject with ESC, BEL, C1 and bidi bytes; it is shown
    // sanitized, so its visible remains ("[2J", "]0;pwned") appear as plain text.
    session.wait_for("the cockpit with the hostile subject", |s| {
        all_present(s, &CHECKS) && s.contains("pwned")
    });
    session.send(b"l");
    session.send(b"\t");
    session.send(b"?");
    session.wait_for("help", |s| s.contains("Keys"));
    session.send(b"q");
    assert_eq!(session.wait_exit(), 0);
    let oscs = check_terminal_bytes(&session.raw_output());
    for osc in &oscs {
        assert!(
            !osc.contains("pwned"),
            "outside text set the window title: {osc:?}"
        );
    }
    for title in session.titles() {
        assert!(!title.contains("pwned"), "window title {title:?}");
    }
    assert_eq!(session.bells(), 0, "outside text rang the terminal bell");
}
