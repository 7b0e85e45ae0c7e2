//! Render benchmark: one full-screen draw of the sample snapshot at 160x48 into ratatui's
//! TestBackend (target: well under 1 ms median), plus the 80x24 compact layout and the
//! details overlay.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use shipdeck::ui::{App, Msg, Theme, draw, msg_for_key};

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
    let mut app = App::new(false);
    app.update(Msg::EnvironmentCount(3));
    bench_draw(c, "draw_160x48", 160, 48, &app);
    bench_draw(c, "draw_80x24", 80, 24, &app);
    if let Some(msg) = msg_for_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)) {
        app.update(msg);
    }
    bench_draw(c, "draw_details_160x48", 160, 48, &app);
}

criterion_group!(benches, render);
criterion_main!(benches);
