//! Render benchmark: one full-screen draw of the sample snapshot at 160x48 into ratatui's
//! TestBackend (target: well under 1 ms median), plus the 80x24 compact layout, the
//! details overlay and the promotion confirmation.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use std::sync::Arc;

use shipdeck::engine::commands::ActionSender;
use shipdeck::ui::{App, Msg, Theme, draw};

fn bench_draw(c: &mut Criterion, name: &str, width: u16, height: u16, app: &App) {
    let snapshot = SampleBuilder::new(sample_now()).build();
    let theme = Theme::default();
    let now = sample_now();
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(terminal) => terminal,
        Err(never) => match never {},
    };
    c.bench_function(name, |b| {
        b.iter(|| {
            // Clearing first makes every iteration a full draw, not a diff against the last.
            let _ = terminal.clear();
            let _ = terminal.draw(|frame| draw(frame, app, black_box(&snapshot), now, &theme));
        })
    });
}

fn render(c: &mut Criterion) {
    let (sender, _requests) = ActionSender::channel(1);
    let mut app = App::acting(&sender, "bench");
    app.update(Msg::Snapshot(Arc::new(
        SampleBuilder::new(sample_now()).build(),
    )));
    bench_draw(c, "draw_160x48", 160, 48, &app);
    bench_draw(c, "draw_80x24", 80, 24, &app);
    let main_screen = app.clone();
    app.handle_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    bench_draw(c, "draw_details_160x48", 160, 48, &app);
    let mut app = main_screen;
    // Prod's promotion: the fullest confirmation (commits, high-risk files, every gate).
    app.handle_key(&KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    app.handle_key(&KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    bench_draw(c, "draw_confirm_160x48", 160, 48, &app);
}

criterion_group!(benches, render);
criterion_main!(benches);
