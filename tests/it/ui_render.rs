//! Whole-screen rendering of the sample snapshot on ratatui's TestBackend: insta snapshots at
//! several sizes and overlays, state words present, meaning-carrying colours on key cells, and
//! hostile text kept out of the buffer.

use crate::support::screen::text_of;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use shipdeck::model::Snapshot;
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use std::sync::Arc;

use shipdeck::engine::commands::ActionSender;
use shipdeck::model::GateState;
use shipdeck::ui::{App, Msg, Theme, draw};

fn render(
    width: u16,
    height: u16,
    app: &App,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Terminal<TestBackend> {
    let theme = Theme::builtin("default").expect("default theme");
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw(frame, app, snapshot, now, &theme))
        .expect("draw");
    terminal
}

fn app_for(snapshot: &Snapshot) -> App {
    let (sender, _requests) = ActionSender::channel(1);
    let mut app = App::acting(&sender, "captain");
    app.set_title("shipdeck");
    app.update(Msg::Snapshot(Arc::new(snapshot.clone())));
    app
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_key(&KeyEvent::new(code, KeyModifiers::NONE));
}

/// Position of the first cell where `needle` starts, searching row by row.
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let row: Vec<String> = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        for start in 0..row.len() {
            let mut joined = String::new();
            for cell in &row[start..] {
                joined.push_str(cell);
                if joined.len() >= needle.len() {
                    break;
                }
            }
            if joined.starts_with(needle) {
                return Some((start as u16, y));
            }
        }
    }
    None
}

/// Position of `needle` within the column that starts at or after `x_from`.
fn find_from(buffer: &Buffer, needle: &str, x_from: u16) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (x_from..area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte_index) = row.find(needle) {
            let offset = row[..byte_index].chars().count() as u16;
            return Some((x_from + offset, y));
        }
    }
    None
}

#[test]
fn screen_at_160x48() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let terminal = render(160, 48, &app_for(&snapshot), &snapshot, sample_now());
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn screen_at_80x24() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let terminal = render(80, 24, &app_for(&snapshot), &snapshot, sample_now());
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn screen_too_small_says_so() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let terminal = render(60, 20, &app_for(&snapshot), &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    assert!(text.contains("shipdeck needs at least 80x24;"), "{text}");
    assert!(text.contains("this terminal is 60x20"), "{text}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn tiny_and_degenerate_sizes_never_panic() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let app = app_for(&snapshot);
    for (w, h) in [
        (1, 1),
        (0, 0),
        (5, 2),
        (79, 24),
        (80, 23),
        (300, 3),
        (3, 200),
    ] {
        render(w, h, &app, &snapshot, sample_now());
    }
}

#[test]
fn screen_returns_when_the_terminal_grows() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let app = app_for(&snapshot);
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(60, 20)).expect("terminal");
    terminal
        .draw(|f| draw(f, &app, &snapshot, sample_now(), &theme))
        .expect("draw");
    terminal.backend_mut().resize(100, 30);
    terminal
        .draw(|f| draw(f, &app, &snapshot, sample_now(), &theme))
        .expect("draw");
    let text = text_of(terminal.backend().buffer());
    assert!(!text.contains("needs at least"), "{text}");
    assert!(text.contains("staging"), "{text}");
}

#[test]
fn help_overlay_lists_the_keymap() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('?'));
    let terminal = render(80, 24, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for binding in shipdeck::ui::KEYMAP {
        assert!(
            text.contains(binding.description),
            "help lacks {}",
            binding.description
        );
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn details_overlay_shows_jobs_steps_and_unmapped_jobs() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Enter);
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    assert!(text.contains("Details · staging"), "{text}");
    assert!(text.contains("integration (postgres)"), "{text}");
    assert!(text.contains("✗ failed   3. Run"), "{text}");
    insta::assert_snapshot!(terminal.backend());

    for _ in 0..200 {
        press(&mut app, KeyCode::Down);
    }
    let bottom = text_of(
        render(160, 48, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    assert!(
        bottom.contains("Jobs outside any configured stage"),
        "{bottom}"
    );
    assert!(bottom.contains("docs-preview"), "{bottom}");
    assert!(
        bottom.contains("e2e"),
        "the last page is full, not one line: {bottom}"
    );
}

#[test]
fn details_overlay_at_80x24_scrolls() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Enter);
    let top = text_of(
        render(80, 24, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    assert!(top.contains("Run #128"), "{top}");
    for _ in 0..30 {
        press(&mut app, KeyCode::Down);
    }
    let scrolled = text_of(
        render(80, 24, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    assert!(!scrolled.contains("Run #128"), "{scrolled}");
    assert!(scrolled.contains("security"), "{scrolled}");
}

#[test]
fn states_are_written_as_words_not_only_colours() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    for (w, h) in [(160, 48), (80, 24)] {
        let terminal = render(w, h, &app_for(&snapshot), &snapshot, sample_now());
        let text = text_of(terminal.backend().buffer());
        for word in [
            "deployed",
            "STALE",
            "LAGGING",
            "✗ FAIL",
            "▲",
            "Sentry answered 502",
        ] {
            assert!(text.contains(word), "{w}x{h} lacks {word:?}:\n{text}");
        }
        let wide_words: &[&str] = if w >= 160 {
            &[
                "passed",
                "running",
                "failed",
                "queued",
                "skipped",
                "FAILING",
                "95s/60s ▲ over",
                "baseline 12.3/min",
                "last ok 4m ago",
            ]
        } else {
            &["pass", "run", "FAIL", "wait", "95s/60s▲", "base 12.3/min"]
        };
        for word in wide_words {
            assert!(text.contains(word), "{w}x{h} lacks {word:?}:\n{text}");
        }
    }
}

#[test]
fn focused_column_is_marked_by_a_symbol_as_well_as_colour() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Right);
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, "▶ 2").expect("focus marker on staging");
    let theme = Theme::default();
    assert_eq!(buffer[(x, y)].fg, theme.focus);
    assert!(find(buffer, "▶ 1").is_none());
    // Thick border on the focused column only.
    assert!(text_of(buffer).contains('┏'));
    assert_eq!(text_of(buffer).matches('┏').count(), 1);
}

#[test]
fn meaning_carrying_colours_come_from_the_theme() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let terminal = render(160, 48, &app_for(&snapshot), &snapshot, sample_now());
    let buffer = terminal.backend().buffer();
    let theme = Theme::default();
    let staging_x = find(buffer, "staging").expect("staging column").0;

    let (x, y) = find_from(buffer, "failed", staging_x).expect("failed stage in staging");
    assert_eq!(buffer[(x, y)].fg, theme.fail, "failed stage word");
    // The icon starts the same line, left of the stage name.
    let icon_x = (0..x)
        .rev()
        .find(|&cx| buffer[(cx, y)].symbol() == "✗")
        .expect("an icon left of the failed word");
    assert_eq!(buffer[(icon_x, y)].symbol(), "✗");
    assert_eq!(buffer[(icon_x, y)].fg, theme.fail, "failed stage icon");

    let (x, y) = find(buffer, "95s/60s ▲ over").expect("over-target stage");
    assert_eq!(buffer[(x, y)].fg, theme.warn, "over-target time");

    let (x, y) = find(buffer, "STALE").expect("stale errors panel");
    assert_eq!(buffer[(x, y)].fg, theme.stale);

    let (x, y) = find(buffer, "⚠ LAGGING").expect("lagging worker");
    assert_eq!(buffer[(x, y)].fg, theme.warn);

    let (x, y) = find(buffer, "✗ payment health").expect("failing smoke check");
    assert_eq!(buffer[(x, y)].fg, theme.fail);

    let (x, y) = find(buffer, "14/min").expect("prod error rate");
    assert_ne!(
        buffer[(x, y)].fg,
        theme.fail,
        "14/min is under 1.5x baseline 12.3"
    );
    assert_eq!(buffer[(x, y)].fg, theme.warn, "but above baseline");
}

#[test]
fn hostile_text_never_reaches_the_buffer() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    app.set_title("deck\u{1b}]0;owned\u{7}\u{202e}");
    for overlay in [None, Some(KeyCode::Enter)] {
        let mut app = app.clone();
        press(&mut app, KeyCode::Char('2'));
        if let Some(code) = overlay {
            press(&mut app, code);
        }
        for (w, h) in [(160, 48), (80, 24)] {
            let terminal = render(w, h, &app, &snapshot, sample_now());
            let buffer = terminal.backend().buffer();
            for cell in buffer.content() {
                for c in cell.symbol().chars() {
                    let code = c as u32;
                    assert!(
                        !(c.is_control()
                            || (0x202a..=0x202e).contains(&code)
                            || (0x2066..=0x2069).contains(&code)
                            || code == 0x200b),
                        "unsafe char {code:#x} in buffer"
                    );
                }
            }
            let text = text_of(buffer);
            if w == 160 && overlay.is_none() {
                assert!(
                    text.contains("Fix [31mcheckout[0m totals 2Jexe.txt now"),
                    "{text}"
                );
                assert!(text.contains("deck]0;owned"), "{text}");
            }
        }
    }
}

#[test]
fn high_contrast_theme_changes_colours_not_text() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let app = app_for(&snapshot);
    let contrast = Theme::builtin("high-contrast").expect("theme");
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    terminal
        .draw(|f| draw(f, &app, &snapshot, sample_now(), &contrast))
        .expect("draw");
    let default = render(160, 48, &app, &snapshot, sample_now());
    assert_eq!(
        text_of(terminal.backend().buffer()),
        text_of(default.backend().buffer())
    );
    let (x, y) = find(terminal.backend().buffer(), "STALE").expect("stale");
    assert_eq!(terminal.backend().buffer()[(x, y)].fg, contrast.stale);
    assert_ne!(contrast.stale, Theme::default().stale);
}

#[test]
fn pipeline_past_its_alarm_time_says_alarm_in_the_alarm_colour() {
    let now = sample_now();
    let mut snapshot = SampleBuilder::new(now).build();
    let dev = &mut snapshot.environments[0];
    let Some(pipeline) = dev.pipeline.as_mut() else {
        panic!("sample dev has a pipeline");
    };
    pipeline.started_at = Some(now - chrono::TimeDelta::minutes(11));
    let terminal = render(160, 48, &app_for(&snapshot), &snapshot, now);
    let buffer = terminal.backend().buffer();
    let (x, y) = find(buffer, "11m/7m ALARM").expect("alarm on the total");
    assert_eq!(buffer[(x, y)].fg, Theme::default().alarm);
}

#[test]
fn a_deploy_in_flight_is_shown_above_what_still_runs() {
    let now = sample_now();
    let mut snapshot = SampleBuilder::new(now).build();
    let prod = &mut snapshot.environments[2];
    let Some(latest) = prod.services[0].latest.as_mut() else {
        panic!("sample prod has a deployment");
    };
    latest.sha = "abcdef0123456789abcdef0123456789abcdef01".to_string();
    latest.status = shipdeck::model::DeployStatus::InProgress;
    latest.at = Some(now - chrono::TimeDelta::seconds(45));
    let terminal = render(160, 48, &app_for(&snapshot), &snapshot, now);
    let text = text_of(terminal.backend().buffer());
    assert!(text.contains("→ abcdef0 deploying 45s ago"), "{text}");
    assert!(text.contains("9c8b7a6 deployed 25h ago"), "{text}");
}

#[test]
fn no_environments_and_never_answered_sources_are_said_plainly() {
    let now = sample_now();
    let mut snapshot = SampleBuilder::new(now).build();
    let staging = &mut snapshot.environments[1];
    staging.health.smoke.last_success = None;
    staging.health.smoke.failures_in_a_row = 1;
    staging.health.smoke.last_error = None;
    let text = text_of(
        render(160, 48, &app_for(&snapshot), &snapshot, now)
            .backend()
            .buffer(),
    );
    assert!(text.contains("STALE never ok"), "{text}");
    assert!(text.contains("⚠ source failing"), "{text}");

    snapshot.environments.clear();
    let text = text_of(
        render(80, 24, &app_for(&snapshot), &snapshot, now)
            .backend()
            .buffer(),
    );
    assert!(text.contains("No environments yet"), "{text}");
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The sample with every gate of prod's promotion passing (its high-risk files remain).
fn promotable() -> Snapshot {
    let mut snapshot = SampleBuilder::new(sample_now()).build();
    if let Some(preview) = snapshot.environments[2].release.promotion.as_mut() {
        for gate in &mut preview.gates.gates {
            gate.state = GateState::Pass;
        }
    }
    snapshot
}

#[test]
fn confirm_popup_at_160x48_shows_what_moves_and_every_gate() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('p'));
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for needle in [
        "Promote into prod?",
        "5e6f7a8",
        "replacing 9c8b7a6 on prod",
        "7 commits in between",
        "+3 more",
        "db/migrations/0042_orders_region.sql",
        "✗ fail",
        "✓ pass",
        "CI green",
        "run #127 failed / passed",
        "prod is frozen until Mon 08:00 UTC",
        "Type \"prod\" to confirm",
        "[ No ]",
        "[ Yes ]",
        "Yes disabled: blocked by CI green, source smoke, freeze, lock",
        "Enter done  Bksp delete  Esc cancel",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
    assert!(!text.contains('\u{1b}'), "no escape reaches the buffer");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn confirm_popup_at_80x24_still_shows_the_gates_and_buttons() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('p'));
    let terminal = render(80, 24, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for needle in [
        "Promote into staging?",
        "soak",
        "opens in 19m",
        "[ No ]",
        "[ Yes ]",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn the_fullest_confirmation_at_80x24_keeps_what_blocks_the_name_field_and_the_buttons() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('p'));
    let text = text_of(
        render(80, 24, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    for needle in [
        "Promote into prod?",
        "7 commits in between",
        "2 high-risk files change",
        "Integration failed for 5e6f7a8",
        "payment health fails on staging",
        "prod is frozen until Mon 08:00 UTC",
        "priya's rollback holds prod since 2m",
        "Type \"prod\" to confirm",
        "▶[ No ]",
        "[ Yes ]",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
}

#[test]
fn high_risk_second_confirmation_lists_the_files() {
    let snapshot = promotable();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('p'));
    type_text(&mut app, "prod");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    press(&mut app, KeyCode::Enter);
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for needle in [
        "High-risk files",
        "Deploy them anyway?",
        "db/migrations/0042_orders_region.sql",
        "config/payments.yml",
        "▶[ No ]",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn gate_panel_shows_the_next_promotion_with_the_soak_countdown() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('g'));
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for needle in [
        "Gates · dev → staging",
        "✗ blocked",
        "✗ fail     soak",
        "41m / 1h",
        "dev has soaked 41m of 1h: opens in 19m",
    ] {
        assert!(text.contains(needle), "panel lacks {needle:?}:\n{text}");
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn gate_panel_works_in_watch_mode() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = App::watching();
    app.update(Msg::Snapshot(Arc::new(snapshot.clone())));
    press(&mut app, KeyCode::Char('g'));
    let text = text_of(
        render(160, 48, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    assert!(text.contains("Gates · dev → staging"), "{text}");
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(
        !text.contains(" promote "),
        "no promote key in the footer: {text}"
    );
}

#[test]
fn log_panel_shows_log_lines_and_the_audit_trail() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('L'));
    let terminal = render(160, 48, &app, &snapshot, sample_now());
    let text = text_of(terminal.backend().buffer());
    for needle in [
        "Log · newest last",
        "deploy web started (run #131)",
        "✗ promote prod blocked",
        "Audit",
        "priya",
        "rollback prod 9c8b7a6 → 7d6c5b4 started",
        "override freeze: \"hotfix for INC-42\"",
    ] {
        assert!(text.contains(needle), "log lacks {needle:?}:\n{text}");
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn a_running_action_shows_its_steps_and_the_lock_in_its_column() {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let app = app_for(&snapshot);
    let text = text_of(
        render(160, 48, &app, &snapshot, sample_now())
            .backend()
            .buffer(),
    );
    for needle in [
        "Rolling back → 7d6c5b4",
        "✓ move prod branch",
        "● deploy · web deploying",
        "○ smoke checks",
        "locked by priya · 2m ago",
    ] {
        assert!(text.contains(needle), "column lacks {needle:?}:\n{text}");
    }
}

/// The sample with staging's promotion allowed but for a release checklist of one required
/// and one optional item, its gate as the engine publishes it (nothing ticked).
fn with_checklist() -> Snapshot {
    use shipdeck::engine::checklist::{ChecklistMode, checklist_gate};
    use shipdeck::model::{ChecklistItem, SafeText};
    let mut snapshot = SampleBuilder::new(sample_now()).build();
    let preview = snapshot.environments[1]
        .release
        .promotion
        .as_mut()
        .expect("the sample promotes into staging");
    for gate in &mut preview.gates.gates {
        gate.state = GateState::Pass;
    }
    preview.high_risk_files.clear();
    preview.checklist = vec![
        ChecklistItem {
            id: SafeText::new("migrations"),
            text: SafeText::new("Migrations are backward-compatible"),
            required: true,
            label: None,
        },
        ChecklistItem {
            id: SafeText::new("flags"),
            text: SafeText::new("Feature flags set"),
            required: false,
            label: None,
        },
    ];
    let gate = checklist_gate(&preview.checklist, &[], None, ChecklistMode::Human);
    preview.gates.gates.push(gate);
    snapshot
}

#[test]
fn the_confirmation_lists_the_checklist_and_space_ticks_it() {
    let snapshot = with_checklist();
    let mut app = app_for(&snapshot);
    press(&mut app, KeyCode::Char('p'));
    let screen = |app: &App| {
        text_of(
            render(120, 40, app, &snapshot, sample_now())
                .backend()
                .buffer(),
        )
    };
    let text = screen(&app);
    for needle in [
        "Promote into staging?",
        "Checklist",
        "▶ [ ] migrations  Migrations are backward-compatible",
        "[ ] flags",
        "Feature flags set (optional)",
        "1 required item unticked: migrations",
        "Yes disabled: tick every required checklist item first (Space)",
        "Space tick",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
    // Refused while the required item is unticked: "Yes" cannot even be chosen.
    press(&mut app, KeyCode::Char('y'));
    let confirmation = app.confirmation().expect("the confirmation is open");
    assert_eq!(confirmation.choice, shipdeck::ui::Choice::No);
    assert!(!confirmation.yes_enabled());
    assert!(confirmation.ticked.is_empty());

    press(&mut app, KeyCode::Char(' '));
    let text = screen(&app);
    for needle in [
        "▶ [x] migrations",
        "every required item is ticked; optional, unticked: flags",
    ] {
        assert!(text.contains(needle), "popup lacks {needle:?}:\n{text}");
    }
    assert!(!text.contains("Yes disabled"), "{text}");

    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    let text = screen(&app);
    assert!(text.contains("▶ [x] flags"), "{text}");
    assert!(text.contains("every item is ticked"), "{text}");
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Up);
    let text = screen(&app);
    assert!(text.contains("▶ [x] migrations"), "{text}");
    assert!(text.contains("[ ] flags"), "{text}");

    press(&mut app, KeyCode::Char('y'));
    let effect = app.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    match effect {
        shipdeck::ui::Effect::Submit(request) => {
            assert_eq!(request.environment, "staging");
            assert_eq!(request.checklist_ticks, ["migrations"]);
        }
        other => panic!("expected a submitted promotion, got {other:?}"),
    }
}
