//! A watch session against the sandbox: the real read-only engine, the real screen loop,
//! every key pressed in every environment (including the confirm keys after `p` and `r`), and
//! not one POST, PATCH, PUT or DELETE reaching GitHub.

use std::io;
use std::time::Duration;

use crate::support::release::{Bench, PROD_PR, STAGING_FF, quiet_scenario, wait_preview};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::channel::mpsc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::model::ActionKind;
use shipdeck::sandbox::Service;
use shipdeck::ui::{LoopTiming, Theme, UiOptions, run_loop};

fn key(code: KeyCode, modifiers: KeyModifiers) -> io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(code, modifiers)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_of_a_watch_session_leaves_github_unwritten() {
    let bench = Bench::start(quiet_scenario(), STAGING_FF, PROD_PR, "").await;
    let engine = bench.engine(None);
    assert!(
        engine.actions().is_none(),
        "watch mode builds no write side"
    );
    let _clock = bench.run_clock(Duration::from_secs(1));
    // Wait until promoting would be allowed, so a key that could write would have a reason to.
    wait_preview(&engine, "staging", ActionKind::Promote, |p| p.allowed()).await;

    let (events, event_stream) = mpsc::unbounded();
    let options = UiOptions {
        clock: bench.clock.clone(),
        actions: engine.actions(),
        reruns: None,
        actor: "captain".to_string(),
        theme: Theme::default(),
        title: "watch".to_string(),
        display: shipdeck::ui::Display::default(),
    };
    let snapshots = engine.snapshots();
    let ui = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
        let stats = run_loop(
            &mut terminal,
            event_stream,
            snapshots,
            &options,
            LoopTiming::default(),
        )
        .await;
        (stats, terminal)
    });

    let codes = crate::support::keys::every_plain_key_but_quit();
    let mut sent = 0u64;
    let mut send = |event| {
        events.unbounded_send(event).expect("the loop listens");
        sent += 1;
    };
    for focus in ['1', '2', '3'] {
        send(key(KeyCode::Char(focus), KeyModifiers::NONE));
        for code in &codes {
            send(key(*code, KeyModifiers::NONE));
            for follow_up in ["p", "r", "y", "staging", "prod"] {
                for c in follow_up.chars() {
                    send(key(KeyCode::Char(c), KeyModifiers::NONE));
                }
                send(key(KeyCode::Enter, KeyModifiers::NONE));
                send(key(KeyCode::Right, KeyModifiers::NONE));
                send(key(KeyCode::Enter, KeyModifiers::NONE));
            }
        }
        // Ctrl-C and q (shifted or not) quit; they come last.
        for c in ('a'..='z').filter(|c| *c != 'c') {
            send(key(KeyCode::Char(c), KeyModifiers::CONTROL));
            if c != 'q' {
                send(key(KeyCode::Char(c), KeyModifiers::SHIFT));
            }
        }
    }
    send(key(KeyCode::Char('q'), KeyModifiers::NONE));
    let (stats, terminal) = ui.await.expect("the screen loop ends");
    let stats = stats.expect("the loop ends cleanly");
    assert_eq!(stats.keys_handled, sent, "every key reached the screen");
    let text: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|cell| cell.symbol())
        .collect();
    assert!(text.contains("READ-ONLY"), "{text}");
    assert_eq!(
        bench.sandbox.write_count(),
        0,
        "no POST, PATCH, PUT or DELETE reached the sandbox"
    );
    let writes: Vec<_> = bench
        .sandbox
        .requests()
        .into_iter()
        // The apps' own smoke flows may POST (a login check): only GitHub must stay unwritten.
        .filter(|r| r.service != Service::App && !matches!(r.method.as_str(), "GET" | "HEAD"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    engine.shutdown().await;
}
