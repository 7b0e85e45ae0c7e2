//! The event loop on a TestBackend with tokio's paused time: a quiet screen is not redrawn,
//! a change is drawn once, bursts are coalesced, running work ticks once a second, keys and
//! resizes redraw only when something changed, and the loop ends cleanly. A confirmed
//! promotion reaches the engine's channel and its answer is shown; a read-only loop sends
//! nothing whatever is pressed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::channel::mpsc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::clock::Clock;
use shipdeck::config::KeyChord;
use shipdeck::engine::commands::{ActionSender, Envelope, Submitted};
use shipdeck::model::{ActionKind, GateState, SafeText, Snapshot};
use shipdeck::ui::sample::{SampleBuilder, sample_now};
use shipdeck::ui::{
    BUILTIN_THEMES, Display, LoopStats, LoopTiming, Theme, UiError, UiOptions, run_loop,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

type LoopResult = (Result<LoopStats, UiError>, Terminal<TestBackend>);

struct Harness {
    events: mpsc::UnboundedSender<io::Result<Event>>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    task: JoinHandle<LoopResult>,
}

fn quiet_timing() -> LoopTiming {
    LoopTiming {
        age_refresh: None,
        ..LoopTiming::default()
    }
}

fn start(snapshot: Snapshot, timing: LoopTiming) -> Harness {
    start_with(snapshot, timing, None)
}

fn start_with(snapshot: Snapshot, timing: LoopTiming, actions: Option<ActionSender>) -> Harness {
    start_full(snapshot, timing, actions, Display::default())
}

fn start_full(
    snapshot: Snapshot,
    timing: LoopTiming,
    actions: Option<ActionSender>,
    display: Display,
) -> Harness {
    let (events, event_stream) = mpsc::unbounded();
    let (snapshots, receiver) = watch::channel(Arc::new(snapshot));
    let options = UiOptions {
        clock: Clock::manual(sample_now()),
        actions,
        reruns: None,
        actor: "captain".to_string(),
        theme: Theme::default(),
        title: "shipdeck".to_string(),
        display,
    };
    let task = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
        let result = run_loop(&mut terminal, event_stream, receiver, &options, timing).await;
        (result, terminal)
    });
    Harness {
        events,
        snapshots,
        task,
    }
}

fn key(code: KeyCode) -> io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

impl Harness {
    fn send(&self, event: io::Result<Event>) {
        self.events
            .unbounded_send(event)
            .expect("loop is listening");
    }

    async fn quit(self) -> (LoopStats, Terminal<TestBackend>) {
        self.send(key(KeyCode::Char('q')));
        let (result, terminal) = self.task.await.expect("loop task");
        (result.expect("loop ends cleanly"), terminal)
    }
}

fn quiet(version: u64) -> Snapshot {
    SampleBuilder::new(sample_now())
        .quiet()
        .version(version)
        .build()
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|cell| cell.symbol())
        .collect()
}

async fn idle(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[tokio::test(start_paused = true)]
async fn quiet_screen_is_drawn_once_and_never_again() {
    let harness = start(quiet(1), quiet_timing());
    idle(Duration::from_secs(3600)).await;
    let (stats, _) = harness.quit().await;
    assert_eq!(stats.draws, 1);
    assert_eq!(stats.ticks, 0);
}

#[tokio::test(start_paused = true)]
async fn one_snapshot_change_is_one_more_draw() {
    let harness = start(quiet(1), quiet_timing());
    idle(Duration::from_secs(60)).await;
    let mut changed = quiet(2);
    changed.title = SafeText::new("acme/renamed");
    harness.snapshots.send_replace(Arc::new(changed));
    idle(Duration::from_secs(3600)).await;
    let (stats, terminal) = harness.quit().await;
    assert_eq!(stats.draws, 2);
    assert_eq!(stats.snapshots_received, 1);
    assert!(screen_text(&terminal).contains("acme/renamed"));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_is_coalesced() {
    let harness = start(quiet(1), quiet_timing());
    idle(Duration::from_secs(1)).await;
    for version in 2..102 {
        harness.snapshots.send_replace(Arc::new(quiet(version)));
        idle(Duration::from_millis(1)).await;
    }
    idle(Duration::from_secs(60)).await;
    let (stats, _) = harness.quit().await;
    // 100 changes over ~100 ms at most one draw per 16 ms: about 7, plus the first draw.
    assert!(stats.draws >= 3, "the burst is drawn: {stats:?}");
    assert!(stats.draws <= 10, "the burst is coalesced: {stats:?}");
}

#[tokio::test(start_paused = true)]
async fn the_latest_snapshot_of_a_burst_is_the_one_on_screen() {
    let harness = start(quiet(1), quiet_timing());
    for version in 2..=50 {
        let mut snapshot = quiet(version);
        snapshot.title = SafeText::new(&format!("burst-{version}"));
        harness.snapshots.send_replace(Arc::new(snapshot));
    }
    idle(Duration::from_secs(5)).await;
    let (_, terminal) = harness.quit().await;
    assert!(screen_text(&terminal).contains("burst-50"));
}

#[tokio::test(start_paused = true)]
async fn running_work_ticks_once_a_second() {
    let busy = SampleBuilder::new(sample_now()).build();
    let harness = start(busy, quiet_timing());
    idle(Duration::from_millis(10_500)).await;
    let (stats, _) = harness.quit().await;
    assert_eq!(stats.ticks, 10);
    assert_eq!(stats.draws, 11);
}

#[tokio::test(start_paused = true)]
async fn ticking_stops_when_the_work_finishes() {
    let busy = SampleBuilder::new(sample_now()).build();
    let harness = start(busy, quiet_timing());
    idle(Duration::from_millis(3_500)).await;
    harness.snapshots.send_replace(Arc::new(quiet(2)));
    idle(Duration::from_secs(3600)).await;
    let (stats, _) = harness.quit().await;
    // First draw, three ticks, the quiet snapshot; nothing after.
    assert_eq!(stats.draws, 5);
}

#[tokio::test(start_paused = true)]
async fn ages_refresh_slowly_by_default() {
    let harness = start(quiet(1), LoopTiming::default());
    idle(Duration::from_secs(65)).await;
    let (stats, _) = harness.quit().await;
    assert_eq!(stats.draws, 1 + 6, "one age refresh per 10 s");
}

#[tokio::test(start_paused = true)]
async fn keys_redraw_only_when_they_change_something() {
    let harness = start(quiet(1), quiet_timing());
    idle(Duration::from_secs(1)).await;
    harness.send(key(KeyCode::Char('x')));
    harness.send(key(KeyCode::Esc));
    idle(Duration::from_secs(1)).await;
    harness.send(key(KeyCode::Char('?')));
    idle(Duration::from_secs(1)).await;
    let (stats, terminal) = harness.quit().await;
    assert_eq!(stats.keys_handled, 4, "x, Esc, ? and q");
    assert_eq!(stats.draws, 2, "only ? changed the screen");
    assert!(screen_text(&terminal).contains("show or hide this help"));
}

#[tokio::test(start_paused = true)]
async fn a_resize_redraws_at_the_new_size() {
    let harness = start(quiet(1), quiet_timing());
    idle(Duration::from_secs(1)).await;
    harness.send(Ok(Event::Resize(60, 20)));
    idle(Duration::from_secs(1)).await;
    let (stats, _) = harness.quit().await;
    assert_eq!(stats.draws, 2);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_quits() {
    let harness = start(quiet(1), quiet_timing());
    harness.send(Ok(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    ))));
    let (result, _) = harness.task.await.expect("loop task");
    assert!(result.is_ok());
}

#[tokio::test(start_paused = true)]
async fn input_errors_end_the_loop_with_an_error() {
    let harness = start(quiet(1), quiet_timing());
    harness.send(Err(io::Error::other("tty gone")));
    let (result, _) = harness.task.await.expect("loop task");
    assert!(matches!(result, Err(UiError::Input(_))), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn the_loop_outlives_the_engine() {
    let harness = start(quiet(1), quiet_timing());
    let Harness {
        events,
        snapshots,
        task,
    } = harness;
    drop(snapshots);
    idle(Duration::from_secs(60)).await;
    assert!(!task.is_finished(), "the last picture stays on screen");
    events
        .unbounded_send(key(KeyCode::Char('q')))
        .expect("loop is listening");
    let (result, _) = task.await.expect("loop task");
    assert_eq!(result.expect("clean quit").draws, 1);
}

fn press_all(harness: &Harness, codes: &[KeyCode]) {
    for code in codes {
        harness.send(key(*code));
    }
}

/// The next request the loop sends, waited for with a generous deadline.
async fn recv_request(requests: &mut tokio::sync::mpsc::Receiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(60), requests.recv())
        .await
        .expect("a request within the deadline")
        .expect("the channel is open")
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_rollback_reaches_the_engine_and_its_answer_is_shown() {
    let (sender, mut requests) = ActionSender::channel(4);
    let harness = start_with(quiet(1), quiet_timing(), Some(sender));
    // Staging's rollback: allowed, no name to type, no high-risk files.
    press_all(
        &harness,
        &[
            KeyCode::Char('2'),
            KeyCode::Char('r'),
            KeyCode::Char('y'),
            KeyCode::Enter,
        ],
    );
    let (request, reply) = recv_request(&mut requests).await;
    assert_eq!(request.kind, ActionKind::Rollback);
    assert_eq!(request.environment, "staging");
    assert_eq!(request.actor, "captain");
    assert_eq!(
        request.sha.as_deref(),
        Some("4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70")
    );
    reply
        .send(Submitted::Rejected("staging is \u{1b}[31mbusy".to_string()))
        .expect("the loop waits for the answer");
    idle(Duration::from_secs(1)).await;
    let (_, terminal) = harness.quit().await;
    let text = screen_text(&terminal);
    assert!(
        text.contains("request rejected: staging is [31mbusy"),
        "{text}"
    );
    assert!(requests.try_recv().is_err(), "exactly one request");
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_promotion_reaches_the_engine_with_the_high_risk_confirmation() {
    let mut snapshot = quiet(1);
    if let Some(preview) = snapshot.environments[2].release.promotion.as_mut() {
        for gate in &mut preview.gates.gates {
            gate.state = GateState::Pass;
        }
    }
    let (sender, mut requests) = ActionSender::channel(4);
    let harness = start_with(snapshot, quiet_timing(), Some(sender));
    let mut keys = vec![KeyCode::Char('2'), KeyCode::Char('p')];
    keys.extend("prod".chars().map(KeyCode::Char));
    keys.extend([
        KeyCode::Enter,
        KeyCode::Char('y'),
        KeyCode::Enter,
        KeyCode::Right,
        KeyCode::Enter,
    ]);
    press_all(&harness, &keys);
    let (request, reply) = recv_request(&mut requests).await;
    assert_eq!(request.kind, ActionKind::Promote);
    assert_eq!(request.environment, "prod");
    assert!(request.confirmed_high_risk);
    drop(reply);
    idle(Duration::from_secs(1)).await;
    let (_, terminal) = harness.quit().await;
    assert!(screen_text(&terminal).contains("the engine has stopped"));
}

#[tokio::test(start_paused = true)]
async fn a_read_only_loop_sends_nothing_whatever_is_pressed() {
    // The test keeps a sender alive: the channel stays open, so an empty channel means
    // nothing was sent, not that nobody could.
    let (_kept, mut requests) = ActionSender::channel(4);
    let harness = start(quiet(1), quiet_timing());
    let codes = crate::support::keys::every_plain_key_but_quit();
    for focus in ['1', '2', '3'] {
        harness.send(key(KeyCode::Char(focus)));
        for code in &codes {
            harness.send(key(*code));
            for follow_up in ['p', 'r', 'y'] {
                harness.send(key(KeyCode::Char(follow_up)));
                harness.send(key(KeyCode::Enter));
            }
        }
        for c in 'a'..='z' {
            if c != 'c' {
                harness.send(Ok(Event::Key(KeyEvent::new(
                    KeyCode::Char(c),
                    KeyModifiers::CONTROL,
                ))));
            }
        }
    }
    idle(Duration::from_secs(5)).await;
    let (stats, terminal) = harness.quit().await;
    assert!(stats.keys_handled > 3 * codes.len() as u64, "{stats:?}");
    assert!(
        matches!(
            requests.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty)
        ),
        "no request was made"
    );
    let text = screen_text(&terminal);
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(!text.contains("Promote into"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn t_switches_to_the_next_theme_and_says_which() {
    let display = Display {
        themes: BUILTIN_THEMES.iter().map(|t| t.to_string()).collect(),
        ..Display::default()
    };
    let harness = start_full(quiet(1), quiet_timing(), None, display);
    idle(Duration::from_secs(1)).await;
    harness.send(key(KeyCode::Char('t')));
    idle(Duration::from_secs(1)).await;
    let (_, terminal) = harness.quit().await;
    let light = Theme::builtin("light").expect("a built-in light theme");
    let corner = terminal.backend().buffer().cell((0, 0)).expect("a cell").bg;
    assert_eq!(
        corner, light.background,
        "the whole screen takes the new background"
    );
    assert_ne!(light.background, Theme::default().background);
    assert!(screen_text(&terminal).contains("theme: light"));
}

#[tokio::test(start_paused = true)]
async fn a_kiosk_ignores_every_key_but_its_chord() {
    let display = Display {
        kiosk: Some(KeyChord::ctrl_q()),
        themes: BUILTIN_THEMES.iter().map(|t| t.to_string()).collect(),
        ..Display::default()
    };
    let harness = start_full(quiet(1), quiet_timing(), None, display);
    idle(Duration::from_secs(1)).await;
    for code in [
        KeyCode::Char('q'),
        KeyCode::Char('?'),
        KeyCode::Char('t'),
        KeyCode::Esc,
    ] {
        harness.send(key(code));
    }
    harness.send(Ok(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    ))));
    idle(Duration::from_secs(60)).await;
    assert!(
        !harness.task.is_finished(),
        "q and Ctrl-C do not end a kiosk"
    );
    harness.send(Ok(Event::Key(KeyEvent::new(
        KeyCode::Char('q'),
        KeyModifiers::CONTROL,
    ))));
    let (result, terminal) = harness.task.await.expect("loop task");
    let stats = result.expect("the chord ends the loop cleanly");
    assert_eq!(stats.draws, 1, "no key changed the screen: {stats:?}");
    let text = screen_text(&terminal);
    assert!(!text.contains("Keys"), "no help overlay");
    assert!(!text.contains("quit"), "no footer");
    let corner = terminal.backend().buffer().cell((0, 0)).expect("a cell").bg;
    assert_eq!(
        corner,
        Theme::default().background,
        "t did not switch themes"
    );
}
