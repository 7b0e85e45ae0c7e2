//! Pictures of the demo world for the README: starts the sandbox and an engine on a manual
//! clock, moves the world a given number of simulated seconds past its start, waits until
//! every panel has data, and draws one frame into an off-screen buffer at the asked size.
//! The same drawing code as the terminal runs, so a picture is what a user sees.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::theme::Theme;
use super::{App, Msg};
use crate::clock::Clock;
use crate::config::Credentials;
use crate::engine::{Engine, EngineOptions, PollPolicy, WriteOptions};
use crate::model::Snapshot;
use crate::sandbox::{Sandbox, SandboxOptions, Scenario};

/// Which screen to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The captain's cockpit, acting (its footer lists promote and rollback).
    Captain,
    /// The wall display (read-only).
    Wall,
}

/// What to picture.
#[derive(Debug, Clone)]
pub struct ScreenshotOptions {
    pub width: u16,
    pub height: u16,
    pub layout: Layout,
    pub theme: Theme,
    /// Simulated time past the world's start when the picture is taken.
    pub after: Duration,
    /// Longest real time to wait for every panel to fill.
    pub patience: Duration,
}

/// Why no picture was made.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("the sandbox did not start: {0}")]
    Sandbox(String),
    #[error("the engine did not start: {0}")]
    Engine(String),
    #[error("could not draw: {0}")]
    Draw(String),
    #[error("the size {0}x{1} is too small (at least 20x5)")]
    TooSmall(u16, u16),
}

/// The fixed moment the pictured world starts, so pictures regenerate alike.
pub fn world_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// Whether every environment shows what a user expects to see once shipdeck is warm: the
/// deployed commit, the pipeline, smoke results, the error history and delivery figures.
pub fn panels_filled(snapshot: &Snapshot) -> bool {
    !snapshot.environments.is_empty()
        && snapshot.environments.iter().all(|env| {
            env.deployed().is_some()
                && env.pipeline.is_some()
                && !env.smoke.is_empty()
                && !env.errors.is_empty()
                && env.delivery.is_some()
        })
}

/// Runs the demo world and returns the drawn buffer.
pub async fn render_demo(options: &ScreenshotOptions) -> Result<Buffer, ScreenshotError> {
    if options.width < 20 || options.height < 5 {
        return Err(ScreenshotError::TooSmall(options.width, options.height));
    }
    let clock = Clock::manual(world_start());
    let sandbox = Sandbox::start(SandboxOptions {
        scenario: Scenario::default_demo(),
        clock: clock.clone(),
    })
    .await
    .map_err(|e| ScreenshotError::Sandbox(e.to_string()))?;
    clock.advance(options.after);
    let text = sandbox.demo_config_with_flow_toml();
    let config = crate::config::parse_str(&text, "<demo config>")
        .map_err(|e| ScreenshotError::Engine(e.to_string()))?;
    // Its own journal and audit log, gone when the picture is taken.
    let state_dir = std::env::temp_dir().join(format!(
        "shipdeck-screenshot-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let write = (options.layout == Layout::Captain)
        .then(|| WriteOptions::new(state_dir.clone(), "captain"));
    let engine = Engine::spawn_full(
        EngineOptions {
            config: Arc::new(config),
            credentials: Credentials::fixed("demo-github-token", "demo-sentry-token"),
            clock: clock.clone(),
            title: format!("demo sandbox · {}", sandbox.repo()),
        },
        PollPolicy::fast(),
        write,
    )
    .map_err(|e| ScreenshotError::Engine(e.to_string()))?;

    // The world moves a second every 20 ms while the engine catches up, so the panels fill
    // the way they do in a running demo.
    let mut snapshots = engine.snapshots();
    let deadline = tokio::time::Instant::now() + options.patience;
    loop {
        if panels_filled(&snapshots.borrow_and_update()) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snapshot = snapshots.borrow().clone();
    let drawn = draw_once(options, &engine, snapshot, clock.now());
    engine.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&state_dir);
    drawn
}

fn draw_once(
    options: &ScreenshotOptions,
    engine: &crate::engine::EngineHandle,
    snapshot: Arc<Snapshot>,
    now: DateTime<Utc>,
) -> Result<Buffer, ScreenshotError> {
    let actions = engine.actions();
    let mut app = App::for_actions(actions.as_ref(), "captain");
    app.set_title(snapshot.title.as_str());
    app.update(Msg::Snapshot(Arc::clone(&snapshot)));
    let backend = TestBackend::new(options.width, options.height);
    let mut terminal = Terminal::new(backend).map_err(|e| ScreenshotError::Draw(e.to_string()))?;
    terminal
        .draw(|frame| match options.layout {
            Layout::Captain => super::draw(frame, &app, &snapshot, now, &options.theme),
            Layout::Wall => super::draw_wall_screen(
                frame,
                &app,
                &snapshot,
                now,
                &options.theme,
                &super::WallSettings::default(),
                Some(1),
            ),
        })
        .map_err(|e| ScreenshotError::Draw(e.to_string()))?;
    Ok(terminal.backend().buffer().clone())
}
