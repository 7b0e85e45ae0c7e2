//! The wall display drawn from the sample snapshot on ratatui's TestBackend: insta snapshots
//! of text and styles at the sizes a wall runs at, for both built-in themes and with banners,
//! plus the colours that carry meaning and the text that must (or must not) be on it.

use crate::support::screen::text_of;
use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use ratatui::text::Line;
use shipdeck::model::{GuardEvent, RunStatus, SafeText, Snapshot};
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use shipdeck::ui::{Theme, WallView, draw_wall};

fn render(
    width: u16,
    height: u16,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    theme: &Theme,
    view: &WallView,
) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw_wall(frame, frame.area(), snapshot, now, theme, view))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The screen as text, then the same grid with one letter per distinct style ('.' for the
/// terminal's own), then what each letter stands for: a diff shows what moved and what
/// changed colour.
fn dump(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut text = String::new();
    let mut styles = String::new();
    let mut legend: BTreeMap<char, String> = BTreeMap::new();
    let mut keys: Vec<String> = Vec::new();
    for y in 0..area.height {
        text.push('"');
        styles.push('"');
        for x in 0..area.width {
            let cell = &buffer[(x, y)];
            // The second cell of a wide character holds nothing and shows nothing.
            if cell.symbol().is_empty() {
                continue;
            }
            text.push_str(cell.symbol());
            let key = format!("fg={:?} bg={:?} {:?}", cell.fg, cell.bg, cell.modifier);
            let letter = if key == "fg=Reset bg=Reset NONE" {
                '.'
            } else {
                let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key.clone());
                    keys.len() - 1
                });
                let letter = style_letter(index);
                legend.insert(letter, key);
                letter
            };
            styles.push(letter);
        }
        text.push_str("\"\n");
        styles.push_str("\"\n");
    }
    let legend: String = legend
        .iter()
        .map(|(letter, key)| format!("{letter}: {key}\n"))
        .collect();
    format!("{text}\n{styles}\n{legend}")
}

fn style_letter(index: usize) -> char {
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    LETTERS.chars().nth(index).unwrap_or('?')
}

fn theme(name: &str) -> Theme {
    Theme::builtin(name).expect("built-in theme")
}

/// The caller's usual picture: staging's details shown, a footer.
fn watching() -> WallView {
    WallView {
        detail: Some(1),
        footer: Some(Line::from(
            " watch mode · details rotate every 20s · q quit",
        )),
        ..WallView::default()
    }
}

fn sample() -> Snapshot {
    SampleBuilder::new(sample_now()).build()
}

/// The sample with an automatic rollback in prod four minutes ago and `main` red for 45.
fn alarmed() -> Snapshot {
    let now = sample_now();
    let mut snapshot = sample();
    let dev = &mut snapshot.environments[0];
    if let Some(pipeline) = dev.pipeline.as_mut() {
        pipeline.status = RunStatus::Failed;
        pipeline.completed_at = Some(now - TimeDelta::minutes(44));
        let stage = &mut pipeline.stages[3];
        stage.status = RunStatus::Failed;
        stage.completed_at = Some(now - TimeDelta::minutes(45));
        for stage in &mut pipeline.stages[4..] {
            stage.status = RunStatus::Skipped;
        }
    }
    let prod = &mut snapshot.environments[2];
    prod.release.activity = None;
    prod.release.lock = None;
    prod.guard.rollbacks_in_a_row = 1;
    prod.guard.max_rollbacks = 3;
    prod.guard.last = Some(GuardEvent {
        at: now - TimeDelta::minutes(4),
        kind: SafeText::new("rolled_back"),
        sha: "3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f".to_string(),
        to_sha: Some("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".to_string()),
        reason: SafeText::new("error rate 31.0/min (+204%) vs 10.2/min: above +50%"),
    });
    snapshot
}

#[test]
fn wall_80x24_default() {
    let buffer = render(
        80,
        24,
        &sample(),
        sample_now(),
        &theme("default"),
        &watching(),
    );
    let text = text_of(&buffer);
    for shown in [
        "DEV",
        "STAGING",
        "PROD",
        "3/7 stages",
        "1 smoke check failing",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
    assert!(
        !text.contains("▼ STAGING"),
        "no room for the panel, no marker:\n{text}"
    );
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_80x24_high_contrast() {
    let buffer = render(
        80,
        24,
        &sample(),
        sample_now(),
        &theme("high-contrast"),
        &watching(),
    );
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_160x48_default() {
    let buffer = render(
        160,
        48,
        &sample(),
        sample_now(),
        &theme("default"),
        &watching(),
    );
    let text = text_of(&buffer);
    assert!(text.contains("STAGING ▼ details"), "{text}");
    assert!(
        text.contains("▼ STAGING"),
        "the card points at its panel:\n{text}"
    );
    assert!(text.contains("Integration"), "{text}");
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_160x48_high_contrast() {
    let buffer = render(
        160,
        48,
        &sample(),
        sample_now(),
        &theme("high-contrast"),
        &watching(),
    );
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_240x67_default() {
    let buffer = render(
        240,
        67,
        &sample(),
        sample_now(),
        &theme("default"),
        &watching(),
    );
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_240x67_high_contrast() {
    let buffer = render(
        240,
        67,
        &sample(),
        sample_now(),
        &theme("high-contrast"),
        &watching(),
    );
    insta::assert_snapshot!(dump(&buffer));
}

#[test]
fn wall_160x48_kiosk_with_rollback_and_red_main_banners() {
    let kiosk = WallView {
        detail: Some(2),
        footer: None,
        ..WallView::default()
    };
    let buffer = render(160, 48, &alarmed(), sample_now(), &theme("default"), &kiosk);
    let text = text_of(&buffer);
    for shown in [
        "PROD ROLLED BACK AUTOMATICALLY",
        "3e4f5a6 → 9c8b7a6 · 4m ago · error rate 31.0/min",
        "MAIN RED FOR 45m",
        "PROD: ERROR TRACKING UNREACHABLE",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
    assert!(!text.contains("watch mode"), "kiosk mode has no footer");
    insta::assert_snapshot!(dump(&buffer));
}

/// Where `needle` starts on screen.
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        if let Some(index) = row.find(needle) {
            let x = u16::try_from(row[..index].chars().count()).ok()?;
            return Some((x, y));
        }
    }
    None
}

#[test]
fn banners_are_reversed_in_their_alarm_colours() {
    let default = theme("default");
    let buffer = render(160, 48, &alarmed(), sample_now(), &default, &watching());
    for (needle, color) in [
        ("PROD ROLLED BACK", default.alarm),
        ("MAIN RED", default.fail),
        ("PROD: ERROR TRACKING", default.stale),
    ] {
        let (x, y) = find(&buffer, needle).unwrap_or_else(|| panic!("{needle} missing"));
        let cell = &buffer[(x, y)];
        assert_eq!(cell.fg, color, "{needle}");
        assert!(cell.modifier.contains(Modifier::REVERSED), "{needle}");
        // The band runs across the whole screen, not only under the words.
        let last = &buffer[(159, y)];
        assert_eq!(last.fg, color, "{needle} band reaches the right edge");
        assert!(last.modifier.contains(Modifier::REVERSED));
    }
    let (_, first) = find(&buffer, "PROD ROLLED BACK").expect("rollback banner");
    let (_, card) = find(&buffer, "Tidy cart totals").expect("dev's commit");
    assert!(first < card, "banners above the cards");
}

#[test]
fn state_words_and_borders_carry_the_state_colour() {
    let default = theme("default");
    let buffer = render(160, 48, &sample(), sample_now(), &default, &watching());
    let (x, y) = find(&buffer, "1 smoke check failing").expect("staging's detail line");
    assert_eq!(buffer[(x, y)].fg, default.fail);
    // The big letters above it are drawn in the same colour.
    let inked = (y.saturating_sub(4)..y)
        .flat_map(|row| (x.saturating_sub(10)..x + 30).map(move |col| (col, row)))
        .filter(|pos| !buffer[*pos].symbol().trim().is_empty())
        .collect::<Vec<_>>();
    assert!(!inked.is_empty(), "big letters above the detail line");
    assert!(inked.iter().all(|pos| buffer[*pos].fg == default.fail));
    let (x, y) = find(&buffer, "3/7 stages").expect("dev deploying");
    assert_eq!(buffer[(x, y)].fg, default.running);
}

#[test]
fn hostile_text_never_reaches_the_wall() {
    for (width, height) in [(80, 24), (160, 48), (240, 67)] {
        let buffer = render(
            width,
            height,
            &alarmed(),
            sample_now(),
            &theme("default"),
            &watching(),
        );
        for cell in buffer.content() {
            for c in cell.symbol().chars() {
                let code = c as u32;
                assert!(
                    !(c.is_control()
                        || (0x202a..=0x202e).contains(&code)
                        || (0x2066..=0x2069).contains(&code)),
                    "unsafe char {code:#x} at {width}x{height}"
                );
            }
        }
    }
}

#[test]
fn the_high_contrast_theme_changes_colours_not_text() {
    for (width, height) in [(80, 24), (160, 48), (240, 67)] {
        let default = render(
            width,
            height,
            &sample(),
            sample_now(),
            &theme("default"),
            &watching(),
        );
        let contrast = render(
            width,
            height,
            &sample(),
            sample_now(),
            &theme("high-contrast"),
            &watching(),
        );
        assert_eq!(text_of(&default), text_of(&contrast));
        assert_ne!(default, contrast, "{width}x{height}");
    }
}
