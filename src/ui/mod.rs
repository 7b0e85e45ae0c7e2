//! The terminal UI: dev, staging and prod side by side, drawn from the engine's snapshots.
//!
//! - [`app`]: focus and overlays, the one keymap table, `update()`.
//! - [`view`]: [`draw`], a pure function of app state, snapshot, world time and theme.
//! - [`theme`]: colours per meaning, read from TOML (built-ins compiled in).
//! - [`wall`]: [`draw_wall`], the read-only wall display: big state words, banners.
//! - this module: [`run`] (takes over the terminal) and [`run_loop`] (the event loop, generic
//!   over the ratatui backend so tests drive it with `TestBackend` and paused tokio time).
//!
//! Redraw policy: the screen is drawn only when something may have changed: a new snapshot,
//! a key, a resize, a one-second tick that runs only while something on screen shows a
//! running time (a stage, a pipeline or a deploy in progress), and an age refresh every
//! [`LoopTiming::age_refresh`] (10 s by default) so "12s ago" figures never freeze on a wall
//! display when the world goes quiet. Any draw restarts both timers. Bursts are coalesced:
//! at most one draw per [`LoopTiming::min_frame_interval`] (16 ms).

pub mod app;
pub mod auto;
pub mod palette;
#[doc(hidden)]
pub mod sample;
pub mod screenshot;
pub mod svg;
pub mod theme;
pub mod view;
pub mod wall;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use tokio::sync::watch;
use tokio::time::Instant;

pub use app::{
    Answer, App, Binding, Choice, ConfirmStep, Confirmation, Effect, Field, KEYMAP, Keymap, Msg,
    Overlay, Status, msg_for_key,
};
pub use palette::ColorSupport;
pub use theme::{BUILTIN_THEMES, Theme, ThemeError, ThemeWarning};
pub use view::{MIN_HEIGHT, MIN_WIDTH, draw};
pub use wall::{BannerPolicy, WallView, draw_wall};

use crate::clock::Clock;
use crate::engine::commands::{ActionRequest, ActionSender, Submitted};
use crate::engine::triage::{RerunRequest, RerunSender};
use crate::model::{DeployStatus, RunStatus, SafeText, Snapshot};

/// How the UI is set up by the CLI.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// World time for ages and elapsed times.
    pub clock: Clock,
    /// The engine's write side. `None` (watch mode, `read_only = true`): no promote or
    /// rollback key exists and the READ-ONLY badge shows.
    pub actions: Option<ActionSender>,
    /// Where `R` goes; `None` with `actions` (the same write side hands out both).
    pub reruns: Option<RerunSender>,
    /// Who the requests are made for (the OS user); sanitized before use.
    pub actor: String,
    pub theme: Theme,
    /// Window and header title; sanitized before use.
    pub title: String,
    /// Layout, kiosk and theme cycling.
    pub display: Display,
}

/// How the screen is laid out and which keys it takes.
#[derive(Debug, Clone, Default)]
pub struct Display {
    /// The wall layout, read across a room; `None`: the captain's screen.
    pub wall: Option<WallSettings>,
    /// Kiosk mode: every key but this chord is ignored, and no footer shows.
    pub kiosk: Option<crate::config::KeyChord>,
    /// The themes `t` cycles through, in order; empty: `t` does nothing.
    pub themes: Vec<String>,
    /// Where user themes live.
    pub theme_dir: Option<std::path::PathBuf>,
    /// What the terminal can show; every theme `t` loads is adapted to it.
    pub color_support: ColorSupport,
}

/// The wall layout's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallSettings {
    /// Rotate the detail panel through the environments this often; `None`: no panel.
    pub cycle: Option<Duration>,
    /// A red pipeline on `main` gets a banner once it stayed red this long.
    pub red_pipeline_after: Duration,
}

impl Default for WallSettings {
    fn default() -> Self {
        Self {
            cycle: None,
            red_pipeline_after: Duration::from_secs(30 * 60),
        }
    }
}

/// Why the UI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("could not set up the terminal: {0}")]
    Setup(#[source] io::Error),
    #[error("could not read terminal input: {0}")]
    Input(#[source] io::Error),
    #[error("could not draw to the terminal: {0}")]
    Draw(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The loop's timing knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopTiming {
    /// Shortest time between two draws (bursts of changes are coalesced into one draw).
    pub min_frame_interval: Duration,
    /// Redraw interval while something on screen shows a running time.
    pub tick: Duration,
    /// Redraw interval otherwise, so ages keep counting; `None` redraws only on events.
    pub age_refresh: Option<Duration>,
}

impl Default for LoopTiming {
    fn default() -> Self {
        Self {
            min_frame_interval: Duration::from_millis(16),
            tick: Duration::from_secs(1),
            age_refresh: Some(Duration::from_secs(10)),
        }
    }
}

/// What the loop did, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub draws: u64,
    pub snapshots_received: u64,
    pub keys_handled: u64,
    pub ticks: u64,
}

/// A backend that can bracket a frame with synchronized-output markers, so the terminal
/// shows the whole frame at once instead of tearing.
pub trait SyncOutput {
    fn begin_frame(&mut self) -> io::Result<()>;
    fn end_frame(&mut self) -> io::Result<()>;
}

impl<W: Write> SyncOutput for CrosstermBackend<W> {
    fn begin_frame(&mut self) -> io::Result<()> {
        crossterm::queue!(self, crossterm::terminal::BeginSynchronizedUpdate)
    }

    fn end_frame(&mut self) -> io::Result<()> {
        crossterm::execute!(self, crossterm::terminal::EndSynchronizedUpdate)
    }
}

impl SyncOutput for TestBackend {
    fn begin_frame(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn end_frame(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether anything on screen shows a time that grows by itself: a running or queued
/// pipeline or stage, or a deploy in flight. Only then does the one-second tick run.
pub fn shows_running_time(snapshot: &Snapshot) -> bool {
    snapshot.environments.iter().any(|env| {
        let pipeline_running = env.pipeline.as_ref().is_some_and(|p| {
            p.status == RunStatus::Running
                || p.stages.iter().any(|s| s.status == RunStatus::Running)
        });
        let deploy_running = env.services.iter().any(|s| {
            s.latest.as_ref().is_some_and(|d| {
                matches!(
                    d.status,
                    DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress
                )
            })
        });
        let action_running = env
            .release
            .activity
            .as_ref()
            .is_some_and(|a| a.result.is_none());
        pipeline_running || deploy_running || action_running || auto::counts_down(env)
    })
}

/// Takes over the terminal (raw mode, alternate screen, panic hook that restores it), runs
/// the event loop until the user quits, restores the terminal. Returns Ok on q / Ctrl-C.
pub async fn run(
    snapshots: watch::Receiver<Arc<Snapshot>>,
    options: UiOptions,
) -> Result<(), UiError> {
    // ratatui's init installs a panic hook that restores the terminal before the message
    // prints; the guard restores it on every other way out, errors included.
    let terminal = ratatui::try_init().map_err(|error| {
        // Raw mode may already be on when the alternate screen fails: undo what was done.
        ratatui::restore();
        UiError::Setup(error)
    })?;
    let mut guard = TerminalGuard { terminal };
    let title = crate::model::sanitize(&options.title, 80);
    // A terminal that ignores titles is no reason to stop.
    let _ = crossterm::execute!(io::stdout(), crossterm::terminal::SetTitle(title));
    run_loop(
        &mut guard.terminal,
        EventStream::new(),
        snapshots,
        &options,
        LoopTiming::default(),
    )
    .await
    .map(|_| ())
}

struct TerminalGuard {
    terminal: ratatui::DefaultTerminal,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

/// The event loop, on any backend: draws on snapshot changes, keys, resizes and the ticks
/// described in the module docs, and returns when the user quits or the event stream ends.
pub async fn run_loop<B, E>(
    terminal: &mut Terminal<B>,
    events: E,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    options: &UiOptions,
    timing: LoopTiming,
) -> Result<LoopStats, UiError>
where
    B: Backend + SyncOutput,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>>,
{
    let mut events = std::pin::pin!(events);
    let mut app = App::for_actions(options.actions.as_ref(), &options.actor);
    app.set_title(&options.title);
    app.set_footer(options.display.kiosk.is_none());
    let mut snapshot = snapshots.borrow_and_update().clone();
    app.update(Msg::Snapshot(snapshot.clone()));
    // The engine's answers come back here from the tasks that submit requests.
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel::<Answer>();

    let mut stats = LoopStats::default();
    let mut theme = options.theme.clone();
    let cycle = options.display.wall.and_then(|w| w.cycle);
    let mut screen = Screen {
        detail: cycle.map(|_| 0),
    };
    let mut next_cycle = cycle.map(|every| Instant::now() + every);
    let mut dirty = true;
    let mut snapshots_open = true;
    let mut last_draw: Option<Instant> = None;

    loop {
        let now = Instant::now();
        let draw_ready_at = last_draw.map(|t| t + timing.min_frame_interval);
        if dirty && draw_ready_at.is_none_or(|t| now >= t) {
            draw_frame(terminal, &app, &snapshot, options, &theme, &screen)?;
            stats.draws += 1;
            last_draw = Some(now);
            dirty = false;
        }

        let since = last_draw.unwrap_or(now);
        let far = now + Duration::from_secs(86_400 * 365);
        let draw_at = draw_ready_at.unwrap_or(now);
        // The wall's countdowns (VERIFYING 6:12 left) move by the second.
        let refresh_every = if shows_running_time(&snapshot) || options.display.wall.is_some() {
            Some(timing.tick)
        } else {
            timing.age_refresh
        };
        let refresh_at = refresh_every.map_or(far, |every| since + every);

        tokio::select! {
            biased;
            event = events.next() => match event {
                None => return Ok(stats),
                Some(Err(error)) => return Err(UiError::Input(error)),
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    stats.keys_handled += 1;
                    // A kiosk takes no keys but its quit chord: nothing on a wall display
                    // changes when someone leans on the keyboard.
                    if let Some(chord) = &options.display.kiosk {
                        if chord.matches(&key) {
                            return Ok(stats);
                        }
                        continue;
                    }
                    match app.handle_key(&key) {
                        Effect::NextTheme => {
                            if let Some((next, warning)) = next_theme(&theme, &options.display) {
                                app.update(Msg::ThemeChanged {
                                    name: next.name.clone(),
                                    warning,
                                });
                                theme = next;
                                dirty = true;
                            }
                        }
                        Effect::Quit => return Ok(stats),
                        Effect::Redraw => dirty = true,
                        Effect::None => {}
                        Effect::Rerun(environment) => {
                            dirty = true;
                            if let Some(sender) = &options.reruns {
                                tokio::spawn(ask_rerun(
                                    sender.clone(),
                                    RerunRequest { environment, actor: options.actor.clone() },
                                    answers_tx.clone(),
                                ));
                            }
                        }
                        Effect::Hold(request) => {
                            dirty = true;
                            // Only an acting App asks; without a sender there is no write.
                            if let Some(sender) = &options.actions {
                                tokio::spawn(ask_hold(sender.clone(), request, answers_tx.clone()));
                            }
                        }
                        Effect::Submit(request) => {
                            dirty = true;
                            // Only an acting App submits; without a sender there is no write.
                            if let Some(sender) = &options.actions {
                                tokio::spawn(submit(sender.clone(), request, answers_tx.clone()));
                            }
                        }
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
            },
            changed = snapshots.changed(), if snapshots_open => match changed {
                Ok(()) => {
                    snapshot = snapshots.borrow_and_update().clone();
                    stats.snapshots_received += 1;
                    app.update(Msg::Snapshot(snapshot.clone()));
                    dirty = true;
                }
                // The engine stopped publishing: keep showing the last picture (its ages
                // keep growing and its sources turn stale) until the user quits.
                Err(_) => snapshots_open = false,
            },
            Some(answer) = answers.recv() => {
                if app.update(Msg::Answer(answer)) != Effect::None {
                    dirty = true;
                }
            }
            _ = tokio::time::sleep_until(next_cycle.unwrap_or(far)), if next_cycle.is_some() => {
                let count = snapshot.environments.len().max(1);
                screen.detail = Some(screen.detail.map_or(0, |d| (d + 1) % count));
                next_cycle = cycle.map(|every| Instant::now() + every);
                dirty = true;
            }
            _ = tokio::time::sleep_until(draw_at), if dirty => {}
            _ = tokio::time::sleep_until(refresh_at), if !dirty && refresh_every.is_some() => {
                stats.ticks += 1;
                dirty = true;
            }
        }
    }
}

/// Asks for a hold or resume and reports what came of it.
async fn ask_hold(
    sender: ActionSender,
    request: crate::engine::holds::HoldRequest,
    answers: tokio::sync::mpsc::UnboundedSender<Answer>,
) {
    let result = match sender.hold(request).await {
        Ok(Ok(text)) => Ok(SafeText::new(&text)),
        Ok(Err(why)) => Err(SafeText::new(&why)),
        Err(error) => Err(SafeText::new(&error.to_string())),
    };
    let _ = answers.send(Answer::Hold { result });
}

/// Asks for a re-run and reports what came of it.
async fn ask_rerun(
    sender: RerunSender,
    request: RerunRequest,
    answers: tokio::sync::mpsc::UnboundedSender<Answer>,
) {
    let environment = SafeText::new(&request.environment);
    let result = sender
        .rerun(request)
        .await
        .map(|text| SafeText::new(&text))
        .map_err(|why| SafeText::new(&why));
    let _ = answers.send(Answer::Rerun {
        environment,
        result,
    });
}

/// Submits one request and reports the engine's answer, then how a started action ended.
async fn submit(
    sender: ActionSender,
    request: ActionRequest,
    answers: tokio::sync::mpsc::UnboundedSender<Answer>,
) {
    let kind = request.kind;
    let environment = SafeText::new(&request.environment);
    let answer = match sender.submit(request).await {
        Err(_) => Answer::EngineStopped,
        Ok(Submitted::Started { id, done }) => {
            let started = Answer::Started {
                kind,
                environment: environment.clone(),
                id: SafeText::new(&id),
            };
            if answers.send(started).is_err() {
                return;
            }
            match done.await {
                Ok(outcome) => Answer::Finished {
                    kind,
                    environment,
                    result: outcome.result,
                    reason: outcome.reason.as_deref().map(SafeText::new),
                },
                Err(_) => Answer::EngineStopped,
            }
        }
        Ok(Submitted::Blocked(report)) => Answer::Blocked {
            kind,
            environment,
            gates: report.blocking().into_iter().cloned().collect(),
        },
        Ok(Submitted::NeedsConfirmation(_)) => Answer::NeedsConfirmation { kind, environment },
        Ok(Submitted::Rejected(reason)) => Answer::Rejected {
            reason: SafeText::new(&reason),
        },
    };
    // The loop may have ended; then nobody needs the answer.
    let _ = answers.send(answer);
}

/// What the loop itself shows beyond the app's state: the wall's rotating detail panel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Screen {
    detail: Option<usize>,
}

/// The theme after `current` in the cycle, adapted to the terminal, with the warning its
/// file gave (a broken file falls back to a built-in and says so). `None`: no cycle.
fn next_theme(current: &Theme, display: &Display) -> Option<(Theme, Option<String>)> {
    if display.themes.is_empty() {
        return None;
    }
    let name = theme::next_theme_name(&current.name, &display.themes);
    let (next, warning) = theme::resolve(&name, display.theme_dir.as_deref());
    Some((
        next.adapted(display.color_support),
        warning.map(|w| crate::model::sanitize(&w.to_string(), 300)),
    ))
}

fn draw_frame<B>(
    terminal: &mut Terminal<B>,
    app: &App,
    snapshot: &Snapshot,
    options: &UiOptions,
    theme: &Theme,
    screen: &Screen,
) -> Result<(), UiError>
where
    B: Backend + SyncOutput,
    B::Error: Send + Sync + 'static,
{
    let now = options.clock.now();
    let boxed = |e: io::Error| UiError::Draw(Box::new(e));
    terminal.backend_mut().begin_frame().map_err(boxed)?;
    let drawn = terminal
        .draw(|frame| draw_screen(frame, app, snapshot, now, theme, options, screen))
        .map(|_| ())
        .map_err(|e| UiError::Draw(Box::new(e)));
    // Close the synchronized update even when the draw failed, or the terminal stays frozen.
    let ended = terminal.backend_mut().end_frame().map_err(boxed);
    drawn.and(ended)
}

/// The captain's screen or the wall, as the display settings say.
fn draw_screen(
    frame: &mut ratatui::Frame,
    app: &App,
    snapshot: &Snapshot,
    now: chrono::DateTime<chrono::Utc>,
    theme: &Theme,
    options: &UiOptions,
    screen: &Screen,
) {
    match &options.display.wall {
        Some(settings) => {
            draw_wall_screen(frame, app, snapshot, now, theme, settings, screen.detail)
        }
        None => draw(frame, app, snapshot, now, theme),
    }
}

/// The wall: the theme's background, the cards with their banners, the rotating detail
/// panel, and a one-line footer unless `app` hides it (kiosk). The footer shows the app's
/// status (a theme switch, say) when there is one.
pub fn draw_wall_screen(
    frame: &mut ratatui::Frame,
    app: &App,
    snapshot: &Snapshot,
    now: chrono::DateTime<chrono::Utc>,
    theme: &Theme,
    settings: &WallSettings,
    detail: Option<usize>,
) {
    let area = frame.area();
    frame.render_widget(
        ratatui::widgets::Block::new().style(theme.screen_style()),
        area,
    );
    let footer = app.footer_shown().then(|| {
        let text = match app.status() {
            Some(status) => status.text.as_str().to_string(),
            None => {
                let cycle = settings.cycle.map_or(String::new(), |every| {
                    format!(
                        " · details rotate every {}",
                        humantime::format_duration(every)
                    )
                });
                format!("read-only wall{cycle} · t theme · q quit")
            }
        };
        ratatui::text::Line::styled(format!(" {text}"), theme.muted())
    });
    let view = WallView {
        detail,
        footer,
        banner_policy: BannerPolicy {
            red_main_after: settings.red_pipeline_after,
            // The trunk is the branch the first environment runs (dev runs main).
            main_branch: snapshot
                .environments
                .first()
                .map_or_else(|| "main".to_string(), |e| e.branch.as_str().to_string()),
            ..BannerPolicy::default()
        },
    };
    draw_wall(frame, area, snapshot, now, theme, &view);
}

#[cfg(test)]
mod tests {
    use super::sample::{SampleBuilder, sample_now};
    use super::*;

    #[test]
    fn running_pipeline_needs_the_tick_and_a_quiet_world_does_not() {
        let busy = SampleBuilder::new(sample_now()).build();
        assert!(shows_running_time(&busy));
        let quiet = SampleBuilder::new(sample_now()).quiet().build();
        assert!(!shows_running_time(&quiet));
    }

    #[test]
    fn a_deploy_in_flight_needs_the_tick() {
        let mut quiet = SampleBuilder::new(sample_now()).quiet().build();
        let Some(deploy) = quiet.environments[2].services[0].latest.as_mut() else {
            panic!("sample prod has a deployment");
        };
        deploy.status = DeployStatus::InProgress;
        assert!(shows_running_time(&quiet));
    }
}
