//! Drawing: the whole screen as a pure function of the app state, a snapshot, the world time
//! and a theme. Three columns (one per environment, in snapshot order), each with its deploy,
//! pipeline, smoke checks and error rate; a header, a footer generated from the keymap, and
//! the help and details overlays. Every state is written as a word or icon, never shown by
//! colour alone; every panel says how old its data is and says STALE when its source fails.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::app::{App, Binding, Choice, ConfirmStep, Confirmation, FOCUS_FOOTER, Field, Overlay};
use super::theme::Theme;
use crate::model::diagnosis::Tier;
use crate::model::{
    ActionKind, ActionStepState, DeployStatus, EnvironmentSnapshot, Gate, GateState, JobState,
    PipelineState, RerunOffer, RunStatus, SafeText, SignalState, Snapshot, SourceHealth,
    StageState, VerificationPhase, pipeline::elapsed_between,
};

/// The smallest terminal the screen is laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Columns narrower than this (inside their border) get the compact layout.
const WIDE_COLUMN: u16 = 40;
/// Fewest rows the error chart keeps before passed stages are folded into one line.
const MIN_CHART_ROWS: u16 = 3;
/// Minutes of error history drawn.
const CHART_MINUTES: i64 = 60;
/// Taller bars add nothing but ink: 8 rows already give 64 levels.
const MAX_CHART_ROWS: usize = 8;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, snapshot: &Snapshot, now: DateTime<Utc>, theme: &Theme) {
    let area = frame.area();
    // The theme's own background, not the terminal's: contrast is only known against it.
    frame.render_widget(Block::new().style(theme.screen_style()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        draw_too_small(frame, area, theme);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(u16::from(app.footer_shown())),
    ])
    .areas(area);
    draw_header(frame, header, app, snapshot, now, theme);
    if app.footer_shown() {
        draw_footer(frame, footer, app, theme);
    }
    let body = if app.gates_open() && !snapshot.environments.is_empty() {
        let inner_width = body.width.saturating_sub(2) as usize;
        let lines = gate_panel_lines(snapshot, app.focus(), inner_width, theme);
        let wanted = (lines.len() as u16).saturating_add(2);
        let [columns, panel] = Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(wanted.min(body.height / 2)),
        ])
        .areas(body);
        draw_gate_panel(frame, panel, snapshot, app.focus(), lines, theme);
        columns
    } else {
        body
    };

    if snapshot.environments.is_empty() {
        let waiting = Paragraph::new("No environments yet: waiting for the first data.")
            .style(theme.muted())
            .alignment(Alignment::Center);
        frame.render_widget(waiting, centered(body, body.width, 1));
    } else {
        let columns = Layout::horizontal(snapshot.environments.iter().map(|_| Constraint::Fill(1)))
            .split(body);
        for (index, (env, rect)) in snapshot.environments.iter().zip(columns.iter()).enumerate() {
            draw_column(frame, *rect, env, index, index == app.focus(), now, theme);
        }
    }

    match app.overlay() {
        Some(Overlay::Help) => draw_help(frame, body, app, theme),
        Some(Overlay::Log { scroll }) => draw_log(frame, body, snapshot, scroll, theme),
        Some(Overlay::Details { scroll }) => {
            if let Some(env) = snapshot.environments.get(app.focus()) {
                draw_details(frame, body, env, scroll, now, theme);
            }
        }
        None => {}
    }
    if let Some(confirmation) = app.confirmation() {
        let body = Rect {
            height: area.height.saturating_sub(2),
            y: area.y + 1,
            ..area
        };
        draw_confirmation(frame, body, confirmation, theme);
    }
    if let Some(prompt) = app.hold_prompt() {
        super::auto::draw_hold_prompt(frame, body, prompt, theme);
    }
}

fn draw_too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let message = format!(
        "shipdeck needs at least {MIN_WIDTH}x{MIN_HEIGHT}; this terminal is {}x{}",
        area.width, area.height
    );
    let rows = (message.len() as u16).div_ceil(area.width.max(1)).max(1);
    let paragraph = Paragraph::new(message)
        .style(theme.style(theme.warn).add_modifier(Modifier::BOLD))
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    frame.render_widget(paragraph, centered(area, area.width, rows));
}

fn draw_header(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let mut left = vec![Span::styled(format!(" {}", app.title()), theme.heading())];
    if !snapshot.title.is_empty() && snapshot.title != *app.title() {
        left.push(Span::styled(" · ", theme.muted()));
        left.push(Span::styled(
            snapshot.title.as_str(),
            theme.style(theme.text),
        ));
    }
    if app.read_only() {
        left.push(Span::raw("  "));
        left.push(Span::styled(
            " READ-ONLY ",
            Style::new()
                .fg(theme.warn)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    let mut right = Vec::new();
    if let Some(rate) = snapshot.rate_limit {
        let low = rate.remaining.saturating_mul(10) < rate.limit;
        let style = if low {
            theme.style(theme.warn).add_modifier(Modifier::BOLD)
        } else {
            theme.muted()
        };
        right.push(Span::styled(
            format!(
                "API {}/{} left{}  ",
                rate.remaining,
                rate.limit,
                if low { " LOW" } else { "" }
            ),
            style,
        ));
    }
    right.push(Span::styled(
        format!("{} UTC ", now.format("%H:%M")),
        theme.style(theme.text),
    ));
    frame.render_widget(Paragraph::new(Line::from(left)), area);
    frame.render_widget(
        Paragraph::new(Line::from(right)).alignment(Alignment::Right),
        area,
    );
}

/// Footer entries left out first, in this order, when the footer is wider than the screen
/// (the help lists them all).
const FOOTER_DROP_ORDER: [&str; 6] = ["log", "gates", "back", "yes", "details", "hold/resume auto"];

/// The footer: the footer entries of the keys that answer now (focus keys grouped as one),
/// as many as fit in `width`.
pub(crate) fn footer_line(app: &App, width: u16, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let bindings = app.active_bindings();
    let focus = app.confirmation().is_none().then_some(FOCUS_FOOTER);
    let mut entries: Vec<(&str, &str)> = focus
        .into_iter()
        .chain(
            bindings
                .iter()
                .filter_map(|b| b.footer.map(|text| (b.label, text))),
        )
        .collect();
    let entries_width = |entries: &[(&str, &str)]| -> usize {
        entries
            .iter()
            .map(|(keys, text)| keys.chars().count() + 1 + text.chars().count() + 2)
            .sum::<usize>()
            .saturating_sub(1)
    };
    for dropped in FOOTER_DROP_ORDER {
        if entries_width(&entries) <= width as usize {
            break;
        }
        entries.retain(|(_, text)| *text != dropped);
    }
    for (index, (keys, text)) in entries.into_iter().enumerate() {
        if index > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(
            keys,
            theme.style(theme.accent).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" {text}"), theme.muted()));
    }
    Line::from(spans)
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // The engine's answer replaces the footer until the next key.
    if let Some(status) = app.status() {
        let (icon, color) = if status.problem {
            ("✗", theme.fail)
        } else {
            ("●", theme.running)
        };
        let line = Line::from(vec![
            Span::styled(
                format!(" {icon} "),
                theme.style(color).add_modifier(Modifier::BOLD),
            ),
            Span::styled(status.text.as_str().to_string(), theme.style(theme.text)),
            Span::styled("  (any key)", theme.muted()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    frame.render_widget(Paragraph::new(footer_line(app, area.width, theme)), area);
}

fn draw_column(
    frame: &mut Frame,
    area: Rect,
    env: &EnvironmentSnapshot,
    index: usize,
    focused: bool,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let border_style = if focused {
        theme.style(theme.focus).add_modifier(Modifier::BOLD)
    } else {
        theme.muted()
    };
    let marker = if focused { "▶ " } else { "" };
    let title = Line::from(vec![
        Span::styled(format!(" {marker}{} ", index + 1), border_style),
        Span::styled(env.name.as_str(), theme.heading()),
        Span::styled(format!(" · {} ", env.branch), theme.muted()),
    ]);
    let block = Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border_style)
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let narrow = inner.width < WIDE_COLUMN;

    let mut top = deploy_lines(env, now, narrow, theme);
    top.extend(super::auto::auto_lines(env, now, narrow, theme));
    top.extend(activity_lines(env, now, narrow, theme));
    top.extend(verification_lines(
        env,
        now,
        narrow,
        inner.width as usize,
        theme,
    ));
    let smoke = smoke_lines(env, now, narrow, theme);
    let errors_text = error_lines(env, now, narrow, theme);
    let fixed = top.len() + smoke.len() + errors_text.len();
    let room_for_pipeline = (inner.height as usize)
        .saturating_sub(fixed)
        .saturating_sub(MIN_CHART_ROWS as usize);
    top.extend(pipeline_lines(
        env,
        now,
        narrow,
        room_for_pipeline,
        inner.width as usize,
        theme,
    ));
    top.extend(triage_lines(env, inner.width as usize, theme));
    top.extend(smoke);
    top.extend(errors_text);

    let text_rows = (top.len() as u16).min(inner.height);
    // The delivery figures close the column where the chart keeps its rows and scale.
    let delivery = delivery_lines(env, now, narrow, inner.width as usize, theme);
    let room = inner
        .height
        .saturating_sub(text_rows.saturating_add(MIN_CHART_ROWS + 1));
    let delivery_rows = u16::try_from(delivery.len())
        .ok()
        .filter(|rows| *rows <= room)
        .unwrap_or(0);
    let [text_area, chart_area, delivery_area] = Layout::vertical([
        Constraint::Length(text_rows),
        Constraint::Min(0),
        Constraint::Length(delivery_rows),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(top), text_area);
    if chart_area.height > 0 {
        draw_error_chart(frame, chart_area, env, now, theme, MAX_CHART_ROWS);
    }
    if delivery_rows > 0 {
        frame.render_widget(Paragraph::new(delivery), delivery_area);
    }
}

/// A section heading with the age of its data, or STALE and why when its source fails.
fn section_heading(
    title: String,
    health: &SourceHealth,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut heading = vec![Span::styled(title, theme.heading()), Span::raw(" ")];
    if health.is_failing() {
        heading.push(Span::styled(
            "STALE",
            theme.stale().add_modifier(Modifier::REVERSED),
        ));
        let since = health
            .age(now)
            .map(|age| {
                let label = if narrow { "ok" } else { "· last ok" };
                format!(" {label} {}", format_age(age))
            })
            .unwrap_or_else(|| " never ok".to_string());
        heading.push(Span::styled(since, theme.stale()));
        let why = health
            .last_error
            .as_ref()
            .map(|(_, message)| message.as_str().to_string())
            .unwrap_or_else(|| "source failing".to_string());
        return vec![
            Line::from(heading),
            Line::from(Span::styled(format!("⚠ {why}"), theme.stale())),
        ];
    }
    let age = health
        .age(now)
        .map(format_age)
        .unwrap_or_else(|| "no data yet".to_string());
    heading.push(Span::styled(age, theme.muted()));
    vec![Line::from(heading)]
}

fn deploy_status_color(status: DeployStatus, theme: &Theme) -> ratatui::style::Color {
    match status {
        DeployStatus::Success => theme.ok,
        DeployStatus::Failure | DeployStatus::Error => theme.fail,
        DeployStatus::Queued | DeployStatus::Pending | DeployStatus::InProgress => theme.running,
        DeployStatus::Inactive | DeployStatus::Unknown => theme.muted,
    }
}

fn deploy_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = section_heading(
        "Deploy".to_string(),
        &env.health.deployments,
        now,
        narrow,
        theme,
    );
    let first = env.services.first();
    let latest = first.and_then(|s| s.latest.as_ref());
    let running_sha = first.and_then(|s| s.running_sha());

    // A deploy in flight (or failed) for another commit is shown above what still runs.
    if let Some(latest) = latest
        && Some(latest.sha.as_str()) != running_sha
    {
        let age = latest
            .at
            .map(|at| format_age(duration_since(at, now)))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(
                format!("→ {} ", short(&latest.sha)),
                theme.style(theme.text),
            ),
            Span::styled(
                latest.status.word().to_string(),
                theme
                    .style(deploy_status_color(latest.status, theme))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" {age}"), theme.muted()),
        ]));
    }

    match env.deployed() {
        Some(commit) => {
            let deployed_at = first
                .and_then(|s| s.last_success.as_ref())
                .and_then(|d| d.at)
                .map(|at| format_age(duration_since(at, now)))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{} ", commit.short_sha()),
                    theme.style(theme.accent),
                ),
                Span::styled(
                    "deployed",
                    theme.style(theme.ok).add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!(" {deployed_at}"), theme.muted()),
            ]));
            lines.push(Line::from(Span::styled(
                commit.subject.as_str().to_string(),
                theme.style(theme.text),
            )));
            let authored = commit
                .at
                .map(|at| format!(" · {}", format_age(duration_since(at, now))))
                .unwrap_or_default();
            let author = if narrow {
                format!("by {}", commit.author)
            } else {
                format!("by {}{authored}", commit.author)
            };
            lines.push(Line::from(Span::styled(author, theme.muted())));
        }
        None => match running_sha {
            Some(sha) => lines.push(Line::from(vec![
                Span::styled(format!("{} ", short(sha)), theme.style(theme.accent)),
                Span::styled("deployed", theme.style(theme.ok)),
            ])),
            None => lines.push(Line::from(Span::styled(
                "nothing deployed yet",
                theme.muted(),
            ))),
        },
    }

    if env.services.len() > 1 {
        let lagging = env.lagging_services();
        let name_width = env
            .services
            .iter()
            .map(|s| s.name.as_str().chars().count())
            .max()
            .unwrap_or(0)
            .min(if narrow { 7 } else { 16 });
        for service in &env.services {
            let is_lagging = lagging.iter().any(|l| std::ptr::eq(*l, service));
            let (sha, status) = match (&service.last_success, &service.latest) {
                (Some(ok), _) => (short(&ok.sha).to_string(), DeployStatus::Success),
                (None, Some(latest)) => (short(&latest.sha).to_string(), latest.status),
                (None, None) => ("-------".to_string(), DeployStatus::Unknown),
            };
            let mut spans = vec![
                Span::styled(
                    format!(
                        "{:<name_width$} ",
                        truncate(service.name.as_str(), name_width)
                    ),
                    theme.style(theme.text),
                ),
                Span::styled(format!("{sha} "), theme.style(theme.accent)),
            ];
            if is_lagging {
                spans.push(Span::styled(
                    "⚠ LAGGING",
                    theme.style(theme.warn).add_modifier(Modifier::BOLD),
                ));
            } else {
                spans.push(Span::styled(
                    status.word(),
                    theme.style(deploy_status_color(status, theme)),
                ));
            }
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// Icon and words for a run state: never colour alone.
pub(crate) fn status_icon(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Passed => "✓",
        RunStatus::Failed => "✗",
        RunStatus::Running => "●",
        RunStatus::Queued => "○",
        RunStatus::Skipped => "–",
        RunStatus::Unknown => "?",
    }
}

fn short_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Passed => "pass",
        RunStatus::Failed => "FAIL",
        RunStatus::Running => "run",
        RunStatus::Queued => "wait",
        RunStatus::Skipped => "skip",
        RunStatus::Unknown => "unkn",
    }
}

fn status_color(status: RunStatus, theme: &Theme) -> ratatui::style::Color {
    match status {
        RunStatus::Passed => theme.ok,
        RunStatus::Failed => theme.fail,
        RunStatus::Running | RunStatus::Queued => theme.running,
        RunStatus::Skipped | RunStatus::Unknown => theme.muted,
    }
}

pub(crate) fn pipeline_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    room: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(pipeline) = &env.pipeline else {
        let mut lines = section_heading(
            "Pipeline".to_string(),
            &env.health.pipeline,
            now,
            narrow,
            theme,
        );
        lines.push(Line::from(Span::styled(
            "no run for the branch head",
            theme.muted(),
        )));
        return lines;
    };
    let title = if narrow {
        format!("Pipeline #{}", pipeline.run_number)
    } else {
        format!(
            "Pipeline #{} · {}",
            pipeline.run_number,
            short(&pipeline.sha)
        )
    };
    let mut lines = section_heading(title, &env.health.pipeline, now, narrow, theme);
    // Heading, stages and the total line; fold passed stages when that does not fit.
    let full = lines.len() + pipeline.stages.len() + 1;
    let fold_passed = full > room && pipeline.stages.len() > 1;
    let longest_name = pipeline
        .stages
        .iter()
        .map(|s| s.name.as_str().chars().count())
        .max()
        .unwrap_or(8);
    let longest_times = pipeline
        .stages
        .iter()
        .map(|s| stage_times(s, now).chars().count())
        .max()
        .unwrap_or(5);
    let layout = if narrow {
        StageLayout {
            name_width: 8,
            bar_width: 0,
            over_label: "▲",
        }
    } else {
        let any_over = pipeline
            .stages
            .iter()
            .any(|s| stage_elapsed(s, now).is_some_and(|e| e > s.target));
        StageLayout::fit(width, longest_name, longest_times, any_over)
    };
    let is_foldable = |stage: &StageState| {
        fold_passed
            && stage.status == RunStatus::Passed
            && stage
                .elapsed(now)
                .is_none_or(|elapsed| elapsed <= stage.target)
    };
    let folded = pipeline.stages.iter().filter(|s| is_foldable(s)).count();
    if folded > 0 {
        lines.push(Line::from(Span::styled(
            format!("✓ {folded} stages passed"),
            theme.style(theme.ok),
        )));
    }
    for stage in pipeline.stages.iter().filter(|s| !is_foldable(s)) {
        lines.push(stage_line(stage, now, narrow, &layout, theme));
    }
    lines.push(total_line(pipeline, now, narrow, theme));
    lines
}

/// How a wide column's stage line spends its width: the whole stage name first, then a bar
/// of at least a few cells, then the long "▲ over" marker rather than the bare "▲".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLayout {
    pub name_width: usize,
    pub bar_width: usize,
    pub over_label: &'static str,
}

impl StageLayout {
    const MAX_NAME: usize = 20;
    const MIN_NAME: usize = 8;
    const MIN_BAR: usize = 3;
    const MAX_BAR: usize = 10;

    /// `width`: the column's inner width; `longest_name` and `longest_times` in characters;
    /// `any_over`: whether some stage is over its target (else no room is kept for the marker).
    pub fn fit(width: usize, longest_name: usize, longest_times: usize, any_over: bool) -> Self {
        // icon + space, space after the name, the state word, space before the times.
        let fixed = 2 + 1 + 8 + 1 + longest_times;
        let available = width.saturating_sub(fixed);
        let wanted_name = longest_name.clamp(Self::MIN_NAME, Self::MAX_NAME);
        let over_label = if available >= wanted_name + Self::MIN_BAR + 1 + " ▲ over".chars().count()
        {
            " ▲ over"
        } else {
            " ▲"
        };
        let over_cells = if any_over {
            over_label.chars().count()
        } else {
            0
        };
        let after_name = available.saturating_sub(wanted_name + over_cells);
        if after_name >= Self::MIN_BAR {
            Self {
                name_width: wanted_name,
                bar_width: after_name.min(Self::MAX_BAR),
                over_label,
            }
        } else {
            Self {
                name_width: available
                    .saturating_sub(over_cells + Self::MIN_BAR)
                    .max(Self::MIN_NAME),
                bar_width: Self::MIN_BAR,
                over_label,
            }
        }
    }
}

/// "elapsed/target", or "–/target" before a stage starts or when it was skipped.
fn stage_times(stage: &StageState, now: DateTime<Utc>) -> String {
    format!(
        "{}/{}",
        stage_elapsed(stage, now)
            .map(format_duration)
            .unwrap_or_else(|| "–".to_string()),
        format_duration(stage.target)
    )
}

fn stage_elapsed(stage: &StageState, now: DateTime<Utc>) -> Option<std::time::Duration> {
    match stage.status {
        RunStatus::Skipped | RunStatus::Queued => None,
        _ => stage.elapsed(now),
    }
}

fn stage_line(
    stage: &StageState,
    now: DateTime<Utc>,
    narrow: bool,
    layout: &StageLayout,
    theme: &Theme,
) -> Line<'static> {
    let name_width = layout.name_width;
    let elapsed = stage_elapsed(stage, now);
    let over = elapsed.is_some_and(|e| e > stage.target);
    let color = status_color(stage.status, theme);
    let state_style = if stage.status == RunStatus::Failed {
        theme.style(color).add_modifier(Modifier::BOLD)
    } else {
        theme.style(color)
    };
    let times = stage_times(stage, now);
    let times_style = if over {
        theme.style(theme.warn).add_modifier(Modifier::BOLD)
    } else {
        theme.muted()
    };
    let mut spans = vec![
        Span::styled(format!("{} ", status_icon(stage.status)), state_style),
        Span::styled(
            format!(
                "{:<name_width$} ",
                truncate(stage.name.as_str(), name_width)
            ),
            theme.style(theme.text),
        ),
    ];
    if narrow {
        spans.push(Span::styled(
            format!("{:<4} ", short_word(stage.status)),
            state_style,
        ));
        spans.push(Span::styled(times, times_style));
        if over {
            spans.push(Span::styled("▲", times_style));
        }
    } else {
        spans.push(Span::styled(
            format!("{:<8}", stage.status.word()),
            state_style,
        ));
        let bar_width = layout.bar_width;
        let fraction = elapsed
            .map(|e| e.as_secs_f64() / stage.target.as_secs_f64().max(1.0))
            .unwrap_or(0.0);
        let filled = ((fraction.min(1.0) * bar_width as f64).round() as usize).min(bar_width);
        let bar_color = if over { theme.warn } else { theme.bar };
        spans.push(Span::styled("█".repeat(filled), theme.style(bar_color)));
        spans.push(Span::styled("░".repeat(bar_width - filled), theme.muted()));
        spans.push(Span::styled(format!(" {times}"), times_style));
        if over {
            spans.push(Span::styled(layout.over_label, times_style));
        }
    }
    Line::from(spans)
}

fn total_line(
    pipeline: &PipelineState,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Line<'static> {
    let elapsed = pipeline.elapsed(now);
    let alarm = elapsed.is_some_and(|e| e > pipeline.alarm_after);
    let over = elapsed.is_some_and(|e| e > pipeline.total_target);
    let color = status_color(pipeline.status, theme);
    let word = if narrow {
        short_word(pipeline.status)
    } else {
        pipeline.status.word()
    };
    let times = format!(
        "{}/{}",
        elapsed
            .map(format_duration)
            .unwrap_or_else(|| "–".to_string()),
        format_duration(pipeline.total_target)
    );
    let mut spans = vec![
        Span::styled(if narrow { "Σ " } else { "total " }, theme.muted()),
        Span::styled(
            format!("{} {word} ", status_icon(pipeline.status)),
            theme.style(color).add_modifier(Modifier::BOLD),
        ),
    ];
    if alarm {
        let style = Style::new()
            .fg(theme.alarm)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED);
        spans.push(Span::styled(times, style));
        spans.push(Span::styled(" ALARM", style));
    } else if over {
        let style = theme.style(theme.warn).add_modifier(Modifier::BOLD);
        spans.push(Span::styled(times, style));
        spans.push(Span::styled(if narrow { "▲" } else { " ▲ over" }, style));
    } else {
        spans.push(Span::styled(times, theme.muted()));
    }
    Line::from(spans)
}

pub(crate) fn smoke_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let passing = env.smoke.iter().filter(|s| s.ok).count();
    let all_ok = passing == env.smoke.len();
    let summary = if env.smoke.is_empty() {
        "Smoke".to_string()
    } else {
        format!("Smoke {passing}/{}", env.smoke.len())
    };
    let mut lines = section_heading(summary, &env.health.smoke, now, narrow, theme);
    if let Some(first) = lines.first_mut()
        && !env.smoke.is_empty()
    {
        let (word, color) = match (all_ok, narrow) {
            (true, _) => ("✓ ok", theme.ok),
            (false, true) => ("✗ FAIL", theme.fail),
            (false, false) => ("✗ FAILING", theme.fail),
        };
        first.spans.insert(
            1,
            Span::styled(
                format!(" {word}"),
                theme.style(color).add_modifier(Modifier::BOLD),
            ),
        );
    }
    let name_width = if narrow { 12 } else { 16 };
    for check in &env.smoke {
        if narrow && check.ok {
            continue;
        }
        let (icon, color) = if check.ok {
            ("✓", theme.ok)
        } else {
            ("✗", theme.fail)
        };
        let latency = check
            .latency_ms
            .map(|ms| format!("{ms}ms"))
            .unwrap_or_else(|| "–".to_string());
        lines.push(Line::from(vec![
            Span::styled(
                format!("{icon} "),
                theme.style(color).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "{:<name_width$} ",
                    truncate(check.name.as_str(), name_width)
                ),
                theme.style(theme.text),
            ),
            Span::styled(latency, theme.muted()),
        ]));
        if !check.ok {
            lines.push(Line::from(Span::styled(
                format!("  {}", check.detail),
                theme.style(theme.fail),
            )));
        }
    }
    lines
}

fn error_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = section_heading("Errors".to_string(), &env.health.errors, now, narrow, theme);
    let series = &env.errors;
    let current = series.current_per_minute();
    let baseline = series.baseline_per_minute;
    let mut spans = Vec::new();
    match current {
        Some(count) => {
            let color = match baseline {
                Some(b) if count as f64 > b * 1.5 => theme.fail,
                Some(b) if count as f64 > b => theme.warn,
                Some(_) => theme.ok,
                None => theme.text,
            };
            spans.push(Span::styled(
                format!("{count}/min"),
                theme.style(color).add_modifier(Modifier::BOLD),
            ));
        }
        None => spans.push(Span::styled("–/min", theme.muted())),
    }
    let baseline_label = if narrow { "base" } else { "baseline" };
    match baseline {
        Some(b) => {
            spans.push(Span::styled(
                format!("  {baseline_label} {b:.1}/min"),
                theme.style(theme.baseline),
            ));
            if let Some(count) = current
                && !narrow
                && b > 0.0
            {
                let change = (count as f64 / b - 1.0) * 100.0;
                let arrow = if change >= 0.0 { "▲" } else { "▼" };
                spans.push(Span::styled(
                    format!("  {arrow} {change:+.0}%"),
                    theme.muted(),
                ));
            }
        }
        None => spans.push(Span::styled(
            format!("  no {baseline_label}"),
            theme.muted(),
        )),
    }
    lines.push(Line::from(spans));
    for new_type in &series.new_types {
        let mut text = format!("NEW {}", new_type.title);
        if !narrow {
            text = format!(
                "NEW {} ×{} · first {}",
                new_type.title,
                new_type.count,
                format_age(duration_since(new_type.first_seen, now))
            );
        }
        lines.push(Line::from(Span::styled(
            text,
            theme.style(theme.warn).add_modifier(Modifier::BOLD),
        )));
    }
    lines
}

/// What one cell of the error chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartCell {
    Empty,
    /// Part of a minute's bar; the glyph is one of the eighth blocks.
    Bar {
        glyph: char,
        over_baseline: bool,
    },
    /// The baseline, where no bar covers it.
    Baseline,
    /// The baseline drawn through a bar that rises past it.
    BaselineThroughBar {
        over_baseline: bool,
    },
    /// The running deploy's minute, where no bar covers it; `top` is the marker's head.
    Deploy {
        top: bool,
    },
}

/// Marks the deploy's minute in the chart: a head on the top row and a dotted line down to
/// the bar, so the bars before and after the deploy can be told apart.
pub fn mark_deploy(cells: &mut [Vec<ChartCell>], column: usize) {
    for (row, cells) in cells.iter_mut().enumerate() {
        if let Some(cell) = cells.get_mut(column)
            && matches!(cell, ChartCell::Empty | ChartCell::Baseline)
        {
            *cell = ChartCell::Deploy { top: row == 0 };
        }
    }
}

const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Whether one minute's count stands out from the baseline: more than half again as high
/// *and* beyond three standard deviations of a Poisson count with that mean, so the noise of
/// a quiet service (4 errors against 2.4) is not painted as trouble.
pub fn unusually_high(count: u64, baseline: f64) -> bool {
    let count = count as f64;
    let baseline = baseline.max(0.0);
    count > baseline * 1.5 && count > baseline + 3.0 * baseline.sqrt().max(1.0)
}

/// Errors per minute as bars of eighth blocks, one column per minute, newest at the right,
/// with the baseline drawn across (and through the bars that pass it). Minutes that are
/// [`unusually_high`] are marked.
/// Rows are returned top first. `None` is a minute with no data: left blank, not drawn as 0.
pub fn error_chart_cells(
    counts: &[Option<u64>],
    baseline: Option<f64>,
    height: usize,
) -> Vec<Vec<ChartCell>> {
    let peak = counts
        .iter()
        .flatten()
        .map(|&c| c as f64)
        .chain(baseline)
        .fold(1.0f64, f64::max);
    let levels = (height * 8) as f64;
    let scale = levels / (peak * 1.1);
    let baseline_row = baseline.map(|b| ((b * scale) / 8.0).floor() as usize);
    (0..height)
        .rev()
        .map(|row| {
            counts
                .iter()
                .map(|count| {
                    let filled = count.map_or(0, |c| (c as f64 * scale).round() as usize);
                    let here = filled.saturating_sub(row * 8).min(8);
                    let over_baseline = match (count, baseline) {
                        (Some(c), Some(b)) => unusually_high(*c, b),
                        _ => false,
                    };
                    if here == 8 && baseline_row == Some(row) {
                        ChartCell::BaselineThroughBar { over_baseline }
                    } else if here > 0 {
                        ChartCell::Bar {
                            glyph: EIGHTHS[here],
                            over_baseline,
                        }
                    } else if baseline_row == Some(row) {
                        ChartCell::Baseline
                    } else {
                        ChartCell::Empty
                    }
                })
                .collect()
        })
        .collect()
}

/// The error chart of `env` in `area`, its bars at most `max_bar_rows` tall: the captain's
/// columns keep them short, a wall display may let them grow.
pub(crate) fn draw_error_chart(
    frame: &mut Frame,
    area: Rect,
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    theme: &Theme,
    max_bar_rows: usize,
) {
    let minutes = (area.width as i64).clamp(1, CHART_MINUTES);
    let first_minute =
        crate::model::errors::floor_minute(now) - chrono::TimeDelta::minutes(minutes - 1);
    let mut counts: Vec<Option<u64>> = vec![None; minutes as usize];
    for bucket in env.errors.recent(now, minutes) {
        let index = (bucket.minute - first_minute).num_minutes();
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
            *slot = Some(bucket.count);
        }
    }
    // A scale row under the bars when there is room: the span covered, and the peak.
    let with_scale = area.height >= 4;
    let bar_rows = (area.height.saturating_sub(u16::from(with_scale)) as usize).min(max_bar_rows);
    let mut cells = error_chart_cells(&counts, env.errors.baseline_per_minute, bar_rows);
    let deployed_at = env
        .services
        .first()
        .and_then(|s| s.last_success.as_ref())
        .and_then(|d| d.at);
    if let Some(column) = deployed_at
        .map(|at| (crate::model::errors::floor_minute(at) - first_minute).num_minutes())
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < counts.len())
    {
        mark_deploy(&mut cells, column);
    }
    let bar_style = theme.style(theme.bar);
    let high_style = theme.style(theme.fail);
    let baseline_style = theme.style(theme.baseline);
    let mut lines: Vec<Line> = cells
        .iter()
        .map(|row| {
            Line::from(
                row.iter()
                    .map(|cell| match *cell {
                        ChartCell::Empty => Span::raw(" "),
                        ChartCell::Bar {
                            glyph,
                            over_baseline,
                        } => Span::styled(
                            glyph.to_string(),
                            if over_baseline { high_style } else { bar_style },
                        ),
                        ChartCell::Baseline => Span::styled("─", baseline_style),
                        ChartCell::Deploy { top } => {
                            Span::styled(if top { "▼" } else { "┊" }, theme.style(theme.focus))
                        }
                        ChartCell::BaselineThroughBar { over_baseline } => Span::styled(
                            "━",
                            baseline_style.bg(if over_baseline { theme.fail } else { theme.bar }),
                        ),
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    if with_scale {
        let peak = counts.iter().flatten().max().copied().unwrap_or(0);
        let left = format!("{minutes}m ago");
        let right = format!("peak {peak}/min · now");
        let gap = (minutes as usize).saturating_sub(left.chars().count() + right.chars().count());
        lines.push(Line::from(Span::styled(
            format!("{left}{}{right}", " ".repeat(gap)),
            theme.muted(),
        )));
    }
    // Bottom right: the newest minute sits at the column's corner.
    let offset = area.width.saturating_sub(minutes as u16);
    let rows = (lines.len() as u16).min(area.height);
    let chart_area = Rect {
        x: area.x + offset,
        y: area.y + area.height - rows,
        width: area.width - offset,
        height: rows,
    };
    frame.render_widget(Paragraph::new(lines), chart_area);
}

fn draw_help(frame: &mut Frame, body: Rect, app: &App, theme: &Theme) {
    let bindings: Vec<&Binding> = app.main_bindings();
    let label_width = bindings
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = bindings
        .iter()
        .map(|binding| {
            Line::from(vec![
                Span::styled(
                    format!(" {:<label_width$}  ", binding.label),
                    theme.style(theme.accent).add_modifier(Modifier::BOLD),
                ),
                Span::styled(binding.description, theme.style(theme.text)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        " ✓ passed  ✗ failed  ● running  ○ queued  – skipped  ▲ over target",
        theme.muted(),
    )));
    lines.push(Line::from(Span::styled(
        " gates: ✓ pass  ✗ fail  ? unknown (blocks)  ⚿ lock held  ❄ freeze",
        theme.muted(),
    )));
    if app.read_only() {
        lines.push(Line::from(Span::styled(
            " READ-ONLY: this session cannot promote or roll back.",
            theme.style(theme.warn),
        )));
    }
    let width = body.width.saturating_sub(4).min(96);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = centered(body, width, height);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.style(theme.accent))
        .title(Span::styled(" Keys · Esc or ? to close ", theme.heading()));
    clear_popup(frame, area, theme);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// The lines of the details overlay: every stage with its jobs and steps, then jobs that
/// matched no stage.
pub(crate) fn details_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(pipeline) = &env.pipeline else {
        return vec![Line::from(Span::styled(
            "No pipeline run known for this environment's branch head yet.",
            theme.muted(),
        ))];
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                "Run #{} attempt {} · {} · ",
                pipeline.run_number,
                pipeline.run_attempt,
                short(&pipeline.sha)
            ),
            theme.style(theme.text),
        ),
        Span::styled(
            format!(
                "{} {}",
                status_icon(pipeline.status),
                pipeline.status.word()
            ),
            theme
                .style(status_color(pipeline.status, theme))
                .add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            pipeline
                .html_url
                .as_ref()
                .map(|u| format!(" · {u}"))
                .unwrap_or_default(),
            theme.muted(),
        ),
    ])];
    lines.extend(triage_detail_lines(env, theme));
    let layout = StageLayout {
        name_width: 22,
        bar_width: 10,
        over_label: " ▲ over",
    };
    for stage in &pipeline.stages {
        lines.push(Line::raw(""));
        lines.push(stage_line(stage, now, false, &layout, theme));
        for job in &stage.jobs {
            lines.extend(job_lines(job, now, theme));
        }
        if stage.jobs.is_empty() {
            lines.push(Line::from(Span::styled(
                "    no jobs mapped",
                theme.muted(),
            )));
        }
    }
    if !pipeline.unmapped_jobs.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            "Jobs outside any configured stage",
            theme.heading(),
        )));
        for job in &pipeline.unmapped_jobs {
            lines.extend(job_lines(job, now, theme));
        }
    }
    lines
}

fn tier_color(tier: Tier, theme: &Theme) -> ratatui::style::Color {
    match tier {
        Tier::One => theme.warn,
        Tier::Two => theme.fail,
        Tier::Three => theme.alarm,
    }
}

/// Under the pipeline: the worst failure's kind, tier and headline, and what `R` would do.
fn triage_lines(env: &EnvironmentSnapshot, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let Some(triage) = &env.triage else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    match triage.worst() {
        Some(worst) => {
            let label = format!("✗ {} · {} ", worst.kind.label(), worst.tier.word());
            let rest = width.saturating_sub(label.chars().count());
            lines.push(Line::from(vec![
                Span::styled(
                    label,
                    theme
                        .style(tier_color(worst.tier, theme))
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    truncate(worst.headline.as_str(), rest),
                    theme.style(theme.text),
                ),
            ]));
        }
        None if triage.reading > 0 => lines.push(Line::from(Span::styled(
            "reading the failed job's log…",
            theme.muted(),
        ))),
        None => {}
    }
    if !triage.flaky.is_empty() {
        let names: Vec<&str> = triage.flaky.iter().map(SafeText::as_str).collect();
        lines.push(Line::from(Span::styled(
            truncate(
                &format!("flaky: {} passed on re-run", names.join(", ")),
                width,
            ),
            theme.style(theme.warn),
        )));
    }
    let offer = triage.rerun.describe();
    if !offer.is_empty() {
        let color = match triage.rerun {
            RerunOffer::Exhausted { .. } => theme.alarm,
            RerunOffer::Rerunning { .. } => theme.running,
            _ => theme.muted,
        };
        lines.push(Line::from(Span::styled(
            truncate(&offer, width),
            theme.style(color),
        )));
    }
    lines
}

/// In the details: every diagnosis with its excerpt, suggested action and the assistant's
/// answer, then the re-run offer and the issue.
fn triage_detail_lines(env: &EnvironmentSnapshot, theme: &Theme) -> Vec<Line<'static>> {
    let Some(triage) = &env.triage else {
        return Vec::new();
    };
    let mut lines = vec![
        Line::raw(""),
        Line::from(Span::styled("Diagnosis", theme.heading())),
    ];
    for diagnosis in &triage.failures {
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "✗ {} · {} · {} ",
                    diagnosis.job_name,
                    diagnosis.kind.label(),
                    diagnosis.tier.word()
                ),
                theme
                    .style(tier_color(diagnosis.tier, theme))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                diagnosis
                    .tool
                    .as_ref()
                    .map(|tool| format!("({tool})"))
                    .unwrap_or_default(),
                theme.muted(),
            ),
        ]));
        lines.push(Line::from(Span::styled(
            format!("  {}", diagnosis.headline),
            theme.style(theme.text),
        )));
        for excerpt in &diagnosis.excerpt {
            lines.push(Line::from(Span::styled(
                format!("  │ {excerpt}"),
                theme.muted(),
            )));
        }
        lines.push(Line::from(vec![
            Span::styled("  next: ", theme.heading()),
            Span::styled(
                diagnosis.action.as_str().to_string(),
                theme.style(theme.text),
            ),
        ]));
        if let Some(outside) = &diagnosis.outside {
            lines.push(Line::from(vec![
                Span::styled("  assistant: ", theme.heading()),
                Span::styled(outside.as_str().to_string(), theme.style(theme.text)),
            ]));
        }
    }
    if triage.reading > 0 {
        lines.push(Line::from(Span::styled(
            format!("reading {} failed job log(s)…", triage.reading),
            theme.muted(),
        )));
    }
    if let Some(error) = &triage.log_error {
        lines.push(Line::from(Span::styled(
            error.as_str().to_string(),
            theme.style(theme.fail),
        )));
    }
    if !triage.flaky.is_empty() {
        let names: Vec<&str> = triage.flaky.iter().map(SafeText::as_str).collect();
        lines.push(Line::from(Span::styled(
            format!(
                "flaky (failed, then passed on re-run): {}",
                names.join(", ")
            ),
            theme.style(theme.warn),
        )));
    }
    let offer = triage.rerun.describe();
    if !offer.is_empty() {
        lines.push(Line::from(Span::styled(offer, theme.style(theme.text))));
    }
    if let Some(issue) = &triage.issue {
        lines.push(Line::from(Span::styled(
            format!("issue: {issue}"),
            theme.style(theme.text),
        )));
    }
    lines
}

fn job_lines(job: &JobState, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let item = |indent: &str, status: RunStatus, name: String, took: Option<Duration>| {
        Line::from(vec![
            Span::raw(indent.to_string()),
            Span::styled(
                format!("{} {:<8}", status_icon(status), status.word()),
                theme.style(status_color(status, theme)),
            ),
            Span::styled(format!(" {name}"), theme.style(theme.text)),
            Span::styled(
                took.map(|d| format!("  {}", format_duration(d)))
                    .unwrap_or_default(),
                theme.muted(),
            ),
        ])
    };
    let mut lines = vec![item(
        "    ",
        job.status,
        job.name.as_str().to_string(),
        elapsed_between(job.started_at, job.completed_at, now),
    )];
    for step in &job.steps {
        lines.push(item(
            "        ",
            step.status,
            format!("{}. {}", step.number, step.name),
            elapsed_between(step.started_at, step.completed_at, now),
        ));
    }
    lines
}

fn draw_details(
    frame: &mut Frame,
    body: Rect,
    env: &EnvironmentSnapshot,
    scroll: u16,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let area = centered(body, body.width.saturating_sub(4), body.height);
    let lines = details_lines(env, now, theme);
    // Scrolling stops once the last line reaches the bottom of the panel.
    let visible = area.height.saturating_sub(2);
    let last = (lines.len() as u16).saturating_sub(visible);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.style(theme.accent))
        .title(Span::styled(
            format!(" Details · {} · {} ", env.name, env.branch),
            theme.heading(),
        ))
        .title_bottom(Span::styled(" ↑↓ scroll · Esc close ", theme.muted()));
    clear_popup(frame, area, theme);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll.min(last), 0)),
        area,
    );
}

/// Symbol, word and colour of a gate state: the symbol and word read without colour.
fn gate_mark(state: GateState, theme: &Theme) -> (&'static str, ratatui::style::Color) {
    match state {
        GateState::Pass => ("✓", theme.ok),
        GateState::Fail => ("✗", theme.fail),
        GateState::Unknown => ("?", theme.warn),
    }
}

/// One gate: state, name, measured against threshold, and why; the reason moves to a line of
/// its own when one line is wider than `width`. `overridden` marks a failing gate the captain
/// has given a reason to pass.
fn gate_lines(gate: &Gate, overridden: bool, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let (icon, color) = gate_mark(gate.state, theme);
    let word = if overridden {
        "override".to_string()
    } else {
        gate.state.word().to_string()
    };
    let mut spans = vec![
        Span::styled(
            format!(" {icon} {word:<8} "),
            theme.style(color).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{:<16}", gate.kind.label()),
            theme.style(theme.text),
        ),
        Span::styled(
            format!("{} / {}", gate.measured, gate.threshold),
            theme.style(theme.accent),
        ),
    ];
    let mut reason = vec![Span::styled(
        gate.reason.as_str().to_string(),
        theme.muted(),
    )];
    if gate.needs_confirmation {
        reason.push(Span::styled("  (asks twice)", theme.style(theme.warn)));
    }
    let head_width: usize = spans.iter().map(|s| s.width()).sum();
    let reason_width: usize = reason.iter().map(|s| s.width()).sum();
    if head_width + 2 + reason_width <= width {
        spans.push(Span::raw("  "));
        spans.extend(reason);
        vec![Line::from(spans)]
    } else {
        let mut second = vec![Span::raw("            ")];
        second.extend(reason);
        vec![Line::from(spans), Line::from(second)]
    }
}

fn activity_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let release = &env.release;
    let mut lines = Vec::new();
    if let Some(activity) = release.activity.as_ref().filter(|a| a.result.is_none()) {
        let verb = match activity.kind {
            ActionKind::Promote => "Promoting",
            ActionKind::Rollback => "Rolling back",
        };
        let elapsed = format_duration(duration_since(activity.started_at, now));
        lines.push(Line::from(vec![
            Span::styled(
                format!("{verb} → {} ", short(&activity.sha)),
                theme.heading(),
            ),
            Span::styled(
                if narrow {
                    elapsed
                } else {
                    format!("by {} · {elapsed}", activity.actor)
                },
                theme.muted(),
            ),
        ]));
        for step in &activity.steps {
            let (icon, color) = match step.state {
                ActionStepState::Done => ("✓", theme.ok),
                ActionStepState::Failed => ("✗", theme.fail),
                ActionStepState::Running => ("●", theme.running),
                ActionStepState::Pending => ("○", theme.muted),
                ActionStepState::Skipped => ("–", theme.muted),
            };
            let mut spans = vec![
                Span::styled(
                    format!("{icon} "),
                    theme.style(color).add_modifier(Modifier::BOLD),
                ),
                Span::styled(step.name.as_str().to_string(), theme.style(theme.text)),
            ];
            if let Some(detail) = &step.detail
                && !narrow
            {
                spans.push(Span::styled(format!(" · {detail}"), theme.muted()));
            }
            lines.push(Line::from(spans));
        }
    }
    if let Some(lock) = &release.lock {
        let age = lock
            .since
            .map(|since| format!(" · {}", format_age(duration_since(since, now))))
            .unwrap_or_default();
        lines.push(Line::from(Span::styled(
            format!("⚿ locked by {}{age}", lock.holder),
            theme.style(theme.warn).add_modifier(Modifier::BOLD),
        )));
    }
    lines
}

/// The delivery figures closing a column, in a line or two: "Delivery · 30 days · 14
/// deploys · 0.5/day · lead 3h12m · CFR 7% · restore 9m · 1 rollback", wrapped at ` · `.
/// The span says less than the window when only part of it was read. A failing read of the
/// history keeps the last figures (they move slowly) and says how old they are, without
/// the STALE alarm of the live panels.
fn delivery_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let health = &env.health.history;
    let Some(figures) = env.delivery.as_ref() else {
        let Some((_, why)) = health.last_error.as_ref().filter(|_| health.is_failing()) else {
            return Vec::new();
        };
        let text = truncate(&format!("⚠ {why}"), width.saturating_sub(9));
        return vec![Line::from(vec![
            Span::styled("Delivery ", theme.heading()),
            Span::styled(text, theme.stale()),
        ])];
    };
    let span = if figures.complete {
        format!("{} days", figures.window_days)
    } else {
        figure_duration(duration_since(figures.since, figures.computed_at))
    };
    let title = if narrow {
        format!("Delivery {span}")
    } else {
        format!("Delivery · {span}")
    };
    let mut used = title.chars().count();
    let mut first = vec![Span::styled(title, theme.heading())];
    if health.is_failing() {
        let age = health
            .age(now)
            .map_or_else(|| "old".to_string(), format_age);
        let note = format!(" ⚠ as of {age}");
        used += note.chars().count();
        first.push(Span::styled(note, theme.stale()));
    }
    let plural = |n: u32, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if figures.deploys == 0 && figures.attempts == 0 {
        parts.push("no deploys".to_string());
    } else {
        parts.push(plural(figures.deploys, "deploy"));
        if let Some(per_day) = figures.per_day.filter(|p| *p > 0.0) {
            parts.push(match per_day {
                p if p >= 10.0 => format!("{p:.0}/day"),
                p if p >= 1.0 => format!("{p:.1}/day"),
                p => format!("{p:.2}/day"),
            });
        }
    }
    if let Some(lead) = figures.lead_time_median {
        parts.push(format!("lead {}", figure_duration(lead)));
    }
    if let Some(rate) = figures.change_failure_rate {
        parts.push(format!("CFR {:.0}%", rate * 100.0));
    }
    match (figures.restoring_since, figures.time_to_restore_median) {
        (Some(since), _) => parts.push(format!(
            "restoring {}",
            figure_duration(duration_since(since, now))
        )),
        (None, Some(restore)) => parts.push(format!("restore {}", figure_duration(restore))),
        (None, None) => {}
    }
    parts.push(plural(figures.rollbacks, "rollback"));

    let mut lines = vec![first];
    for part in parts {
        let part = truncate(&part, width);
        let needed = part.chars().count();
        if used + 3 + needed <= width {
            if let Some(line) = lines.last_mut() {
                line.push(Span::styled(" · ", theme.muted()));
                line.push(Span::styled(part, theme.style(theme.text)));
            }
            used += 3 + needed;
        } else {
            lines.push(vec![Span::styled(part, theme.style(theme.text))]);
            used = needed;
        }
    }
    lines.into_iter().map(Line::from).collect()
}

/// A lead time or time to restore, to the precision it deserves: "45s", "38m", "3h12m",
/// "4d06h".
pub(crate) fn figure_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..100 => format!("{secs}s"),
        100..3600 => format!("{}m", secs / 60),
        3600..172_800 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// A verified deploy's one line stays this long after its window; then it folds away.
const VERIFIED_SHOWN_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// The verification of the running deploy: where it stands and the time left, each signal
/// with its figures while it matters, and what the guard did about a failure.
pub(crate) fn verification_lines(
    env: &EnvironmentSnapshot,
    now: DateTime<Utc>,
    narrow: bool,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let Some(view) = env.verification.as_ref() else {
        return lines;
    };
    let guard = &env.guard;
    let (mark, color) = match view.phase {
        VerificationPhase::Deploying => ("●", theme.running),
        VerificationPhase::Verifying => ("●", theme.running),
        VerificationPhase::Verified => ("✓", theme.ok),
        VerificationPhase::Failed => ("✗", theme.fail),
        VerificationPhase::NotEnoughData => ("?", theme.warn),
    };
    let recent_guard = guard
        .last
        .as_ref()
        .filter(|event| now - event.at < VERIFIED_SHOWN_FOR);
    let watch = view
        .watch
        .as_ref()
        .filter(|watch| view.phase == VerificationPhase::Verified && now < watch.ends);
    if view.phase == VerificationPhase::Verified
        && now - view.window_ends > VERIFIED_SHOWN_FOR
        && recent_guard.is_none()
        && watch.is_none()
    {
        return lines;
    }
    let left = format_duration(view.time_left(now));
    let word = match view.phase {
        VerificationPhase::Verifying if narrow => format!("{left} left"),
        phase => phase.word().to_string(),
    };
    let mut heading = vec![
        Span::styled("Verify ", theme.heading()),
        Span::styled(
            format!("{mark} {word}"),
            theme.style(color).add_modifier(Modifier::BOLD),
        ),
    ];
    match view.phase {
        VerificationPhase::Verifying if !narrow => {
            heading.push(Span::styled(format!(" · {left} left"), theme.muted()));
        }
        VerificationPhase::Failed if !view.auto_rollback && !narrow => heading.push(Span::styled(
            " · auto-rollback off: r rolls back",
            theme.style(theme.warn),
        )),
        _ => {}
    }
    if let Some(watch) = watch {
        let left = watch.left_words(now);
        heading.push(Span::styled(
            format!(" · watching {left} left"),
            theme.muted(),
        ));
    }
    lines.push(Line::from(heading));
    for finding in watch.map_or(&[][..], |w| w.findings.as_slice()) {
        let text = format!(
            "! {} · r rolls back",
            finding.headline(view.deployed_at, &view.sha)
        );
        lines.push(Line::from(Span::styled(
            truncate(&text, width),
            theme.style(theme.warn).add_modifier(Modifier::BOLD),
        )));
    }
    let detailed = matches!(
        view.phase,
        VerificationPhase::Verifying | VerificationPhase::Failed
    );
    if detailed {
        for signal in &view.signals {
            let failing = signal.state == SignalState::Fail;
            // A narrow column names only what is wrong; the heading says the rest.
            if narrow && !failing {
                continue;
            }
            let (icon, color) = match signal.state {
                SignalState::Pass => ("✓", theme.ok),
                SignalState::Fail => ("✗", theme.fail),
                SignalState::NotEnoughData => ("·", theme.muted),
            };
            let mut text = format!("{icon} {}", signal.signal);
            if signal.state == SignalState::NotEnoughData {
                text.push_str(" · not enough data");
            } else if !narrow || failing {
                text.push_str(&format!(" {}", signal.measured));
                if !signal.baseline.is_empty() && !narrow {
                    text.push_str(&format!(" vs {}", signal.baseline));
                }
                if failing {
                    text.push_str(&format!(" · {}", signal.threshold));
                }
            }
            let style = if failing {
                theme.style(color).add_modifier(Modifier::BOLD)
            } else {
                theme.style(theme.text)
            };
            lines.push(Line::from(Span::styled(truncate(&text, width), style)));
        }
    }
    if let Some(event) = recent_guard {
        let (icon, color) = match event.kind.as_str() {
            "rolled_back" => ("↺", theme.warn),
            "rolling_back" => ("↺", theme.running),
            "alerted" | "watch_alerted" => ("!", theme.warn),
            _ => ("✗", theme.fail),
        };
        let what = match event.kind.as_str() {
            "rolling_back" => format!("rolling back {} by itself", short(&event.sha)),
            "rolled_back" => match &event.to_sha {
                Some(to) => format!(
                    "rolled back {} → {} by itself",
                    short(&event.sha),
                    short(to)
                ),
                None => format!("rolled back {} by itself", short(&event.sha)),
            },
            "rollback_failed" => "automatic rollback failed".to_string(),
            "rollback_blocked" => "automatic rollback blocked".to_string(),
            "escalated" => format!(
                "escalated: {} automatic rollbacks in a row",
                guard.rollbacks_in_a_row
            ),
            "watch_alerted" => "watch alert sent; the captain decides".to_string(),
            _ => "alert sent; waiting for the captain".to_string(),
        };
        lines.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "{icon} {what} · {}",
                    format_age(duration_since(event.at, now))
                ),
                width,
            ),
            theme.style(color).add_modifier(Modifier::BOLD),
        )));
        if !narrow {
            lines.push(Line::from(Span::styled(
                truncate(&format!("  why: {}", event.reason), width),
                theme.style(theme.text),
            )));
        }
        let failed: Vec<&str> = guard
            .deliveries
            .iter()
            .filter(|d| !d.ok)
            .map(|d| d.target.as_str())
            .collect();
        if !failed.is_empty() {
            lines.push(Line::from(Span::styled(
                truncate(&format!("  ⚠ not delivered: {}", failed.join(", ")), width),
                theme.style(theme.warn),
            )));
        }
    }
    lines
}

/// The gate panel's lines: every gate of the promotion into the environment after the
/// focused one.
fn gate_panel_lines(
    snapshot: &Snapshot,
    focus: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(next) = snapshot.environments.get(focus + 1) else {
        let name = snapshot
            .environments
            .get(focus)
            .map(|e| e.name.as_str().to_string())
            .unwrap_or_default();
        return vec![Line::from(Span::styled(
            format!(" {name} is the last environment: nothing is promoted from it."),
            theme.muted(),
        ))];
    };
    let Some(preview) = &next.release.promotion else {
        return vec![Line::from(Span::styled(
            format!(" No promotion into {} known yet.", next.name),
            theme.muted(),
        ))];
    };
    let verdict = if preview.allowed() {
        Span::styled(
            "✓ allowed",
            theme.style(theme.ok).add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled(
            "✗ blocked",
            theme.style(theme.fail).add_modifier(Modifier::BOLD),
        )
    };
    let candidate = match (&preview.sha, &preview.subject) {
        (Some(sha), Some(subject)) => format!("  {} {subject}", short(sha)),
        (Some(sha), None) => format!("  {}", short(sha)),
        _ => "  no candidate commit".to_string(),
    };
    let mut lines = vec![Line::from(vec![
        Span::raw(" "),
        verdict,
        Span::styled(candidate, theme.style(theme.text)),
    ])];
    lines.extend(
        preview
            .gates
            .gates
            .iter()
            .flat_map(|g| gate_lines(g, false, width, theme)),
    );
    if let Some(note) = &preview.freeze_note {
        lines.push(Line::from(Span::styled(
            format!(" ❄ {note}"),
            theme.style(theme.warn),
        )));
    }
    lines
}

fn draw_gate_panel(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    focus: usize,
    lines: Vec<Line<'static>>,
    theme: &Theme,
) {
    let from = snapshot
        .environments
        .get(focus)
        .map(|e| e.name.as_str().to_string())
        .unwrap_or_default();
    let title = match snapshot.environments.get(focus + 1) {
        Some(next) => format!(" Gates · {from} → {} · g to close ", next.name),
        None => format!(" Gates · {from} · g to close "),
    };
    let block = Block::bordered()
        .border_style(theme.style(theme.accent))
        .title(Span::styled(title, theme.heading()));
    clear_popup(frame, area, theme);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_log(frame: &mut Frame, body: Rect, snapshot: &Snapshot, scroll: u16, theme: &Theme) {
    let area = centered(body, body.width.saturating_sub(4), body.height);
    clear_popup(frame, area, theme);
    let audit_rows = (snapshot.audit.len() as u16 + 2)
        .min(area.height / 2)
        .max(3);
    let [log_area, audit_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(audit_rows)]).areas(area);

    let log_lines: Vec<Line> = snapshot
        .log
        .iter()
        .map(|line| {
            let style = if line.error {
                theme.style(theme.fail)
            } else {
                theme.style(theme.text)
            };
            Line::from(vec![
                Span::styled(format!("{} ", line.at.format("%H:%M:%S")), theme.muted()),
                Span::styled(
                    format!(
                        "{:<8} ",
                        line.environment.as_ref().map(|e| e.as_str()).unwrap_or("-")
                    ),
                    theme.style(theme.accent),
                ),
                Span::styled(if line.error { "✗ " } else { "  " }, style),
                Span::styled(line.text.as_str().to_string(), style),
            ])
        })
        .collect();
    // Newest at the bottom; scrolling goes back in time.
    let visible = log_area.height.saturating_sub(2);
    let bottom = (log_lines.len() as u16).saturating_sub(visible);
    let offset = bottom.saturating_sub(scroll);
    let log_block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.style(theme.accent))
        .title(Span::styled(" Log · newest last ", theme.heading()))
        .title_bottom(Span::styled(" j/k scroll · L or Esc close ", theme.muted()));
    let log_body = if log_lines.is_empty() {
        vec![Line::from(Span::styled(
            " nothing logged yet",
            theme.muted(),
        ))]
    } else {
        log_lines
    };
    frame.render_widget(
        Paragraph::new(log_body)
            .block(log_block)
            .scroll((offset, 0)),
        log_area,
    );

    let audit_lines: Vec<Line> = snapshot
        .audit
        .iter()
        .map(|entry| {
            let sha = |s: &Option<String>| s.as_deref().map(short).unwrap_or("-").to_string();
            let mut spans = vec![
                Span::styled(
                    format!("{} ", entry.at.format("%m-%d %H:%M")),
                    theme.muted(),
                ),
                Span::styled(
                    format!("{:<10} ", entry.actor.as_str()),
                    theme.style(theme.text),
                ),
                Span::styled(
                    format!("{} {} ", entry.event, entry.environment),
                    theme.heading(),
                ),
                Span::styled(
                    format!("{} → {} ", sha(&entry.from_sha), sha(&entry.to_sha)),
                    theme.style(theme.accent),
                ),
                Span::styled(entry.result.as_str().to_string(), theme.style(theme.text)),
            ];
            if let Some(reason) = &entry.reason {
                spans.push(Span::styled(format!(" · {reason}"), theme.muted()));
            }
            for used in &entry.overrides {
                spans.push(Span::styled(
                    format!(" · override {used}"),
                    theme.style(theme.warn),
                ));
            }
            Line::from(spans)
        })
        .collect();
    let visible = audit_area.height.saturating_sub(2);
    let offset = (audit_lines.len() as u16).saturating_sub(visible);
    let audit_block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.style(theme.accent))
        .title(Span::styled(" Audit · who, when, what ", theme.heading()));
    frame.render_widget(
        Paragraph::new(audit_lines)
            .block(audit_block)
            .scroll((offset, 0)),
        audit_area,
    );
}

/// The confirmation's lines, the commit list cut to fit `height` rows.
fn confirmation_lines(
    c: &Confirmation,
    width: usize,
    height: u16,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let preview = &c.preview;
    let sha = preview.sha.as_deref().map(short).unwrap_or("(none)");
    let subject = preview
        .subject
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let from = preview.from_sha.as_deref().map(short).unwrap_or("nothing");
    let mut head = vec![Line::from(vec![
        Span::styled(
            format!(" {sha} "),
            theme.style(theme.accent).add_modifier(Modifier::BOLD),
        ),
        Span::styled(subject, theme.style(theme.text)),
    ])];
    let source = preview
        .source
        .as_ref()
        .map(|s| format!(" from {s},"))
        .unwrap_or_default();
    head.push(Line::from(Span::styled(
        format!("{source} replacing {from} on {}", preview.target),
        theme.muted(),
    )));

    let mut tail = Vec::new();
    if c.step == ConfirmStep::HighRisk {
        tail.push(Line::raw(""));
        tail.push(Line::from(Span::styled(
            " These high-risk files change. Deploy them anyway?",
            theme.style(theme.warn).add_modifier(Modifier::BOLD),
        )));
        for file in &preview.high_risk_files {
            tail.push(Line::from(Span::styled(
                format!("   ⚠ {file}"),
                theme.style(theme.warn),
            )));
        }
    } else {
        let checklist = checklist_lines(c, width, theme);
        let checklist_rows = checklist.len();
        tail.extend(checklist);
        tail.push(Line::from(Span::styled(" Gates", theme.heading())));
        let overridden = |gate: &Gate| {
            gate.state == GateState::Fail && c.effective_state(gate) == GateState::Pass
        };
        let wrapped: usize = preview
            .gates
            .gates
            .iter()
            .map(|g| gate_lines(g, overridden(g), width, theme).len())
            .sum();
        // Fields, the freeze note, the buttons and a commit summary also need rows.
        let others = 6
            + checklist_rows
            + usize::from(c.confirm_by_name)
            + usize::from(c.freeze_reason.is_some());
        let budget = (height as usize).saturating_sub(head.len() + others);
        for gate in &preview.gates.gates {
            // Short of rows, a passing gate keeps one line and its reason is cut at the edge;
            // what blocks always shows in full.
            let fold = wrapped > budget && c.effective_state(gate) == GateState::Pass;
            let room = if fold { usize::MAX } else { width };
            tail.extend(gate_lines(gate, overridden(gate), room, theme));
        }
        if let Some(note) = &preview.freeze_note {
            tail.push(Line::from(Span::styled(
                format!(" ❄ {note}"),
                theme.style(theme.warn),
            )));
        }
        let field_line = |label: &str, text: &str, focused: bool| {
            let cursor = if focused { "▏" } else { "" };
            Line::from(vec![
                Span::styled(format!(" {label}: "), theme.style(theme.text)),
                Span::styled(
                    format!("[{text}{cursor}]"),
                    theme
                        .style(if focused { theme.focus } else { theme.accent })
                        .add_modifier(Modifier::BOLD),
                ),
            ])
        };
        if let Some(reason) = &c.freeze_reason {
            tail.push(field_line(
                "Freeze override reason",
                reason,
                c.field == Some(Field::FreezeReason),
            ));
        }
        if let Some(reason) = &c.lock_reason {
            tail.push(field_line(
                "Reason to break the lock",
                reason,
                c.field == Some(Field::LockReason),
            ));
        }
        if c.confirm_by_name {
            let mark = if c.name_confirmed() { " ✓" } else { "" };
            tail.push(field_line(
                &format!("Type \"{}\" to confirm{mark}", preview.target),
                &c.typed_name,
                c.field == Some(Field::Name),
            ));
        }
    }
    tail.push(Line::raw(""));
    tail.push(buttons_line(c, theme));

    // Commits and high-risk files get what is left.
    let room = (height as usize).saturating_sub(head.len() + tail.len());
    let mut middle = Vec::new();
    if c.step == ConfirmStep::Gates {
        let total = preview.commits.len() + preview.more_commits;
        let risk = preview.high_risk_files.len();
        let risk_rows = if risk > 0 { 1 + risk.min(3) } else { 0 };
        let commit_room = room.saturating_sub(risk_rows + 1).max(1);
        middle.push(Line::from(Span::styled(
            format!(
                " {total} commit{} in between",
                if total == 1 { "" } else { "s" }
            ),
            theme.heading(),
        )));
        let shown = if preview.commits.len() + 1 > commit_room {
            commit_room.saturating_sub(1)
        } else {
            preview.commits.len()
        };
        for commit in preview.commits.iter().take(shown) {
            middle.push(Line::from(vec![
                Span::styled(
                    format!("   {} ", short(&commit.sha)),
                    theme.style(theme.accent),
                ),
                Span::styled(commit.subject.as_str().to_string(), theme.style(theme.text)),
                Span::styled(format!(" · {}", commit.author), theme.muted()),
            ]));
        }
        let hidden = total - shown;
        if hidden > 0 {
            middle.push(Line::from(Span::styled(
                format!("   +{hidden} more"),
                theme.muted(),
            )));
        }
        if risk > 0 {
            middle.push(Line::from(Span::styled(
                format!(
                    " ⚠ {risk} high-risk file{} change",
                    if risk == 1 { "" } else { "s" }
                ),
                theme.style(theme.warn).add_modifier(Modifier::BOLD),
            )));
            let shown = risk.min(3);
            for file in preview.high_risk_files.iter().take(shown) {
                middle.push(Line::from(Span::styled(
                    format!("   {file}"),
                    theme.style(theme.warn),
                )));
            }
            if risk > shown {
                let last = middle.len() - 1;
                middle[last].spans.push(Span::styled(
                    format!(" +{} more", risk - shown),
                    theme.muted(),
                ));
            }
        }
        middle.truncate(room);
    }
    head.extend(middle);
    head.extend(tail);
    // Whatever else is cut, the buttons stay on screen.
    let height = height as usize;
    if head.len() > height && height > 0 {
        let buttons = head.split_off(head.len() - 1);
        head.truncate(height - 1);
        head.extend(buttons);
    }
    head
}

/// The release checklist: one `[ ]` / `[x]` line per item, the cursor's marked.
fn checklist_lines(c: &Confirmation, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let items = &c.preview.checklist;
    if items.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![Line::from(vec![
        Span::styled(" Checklist", theme.heading()),
        Span::styled("  ↑↓ move · Space tick", theme.muted()),
    ])];
    let id_width = items
        .iter()
        .map(|i| i.id.as_str().chars().count())
        .max()
        .unwrap_or(0);
    for (index, item) in items.iter().enumerate() {
        let ticked = c.is_ticked(item.id.as_str());
        let cursor = if index == c.checklist_cursor && c.field.is_none() {
            "▶"
        } else {
            " "
        };
        let (mark, color) = match (ticked, item.required) {
            (true, _) => ("[x]", theme.ok),
            (false, true) => ("[ ]", theme.fail),
            (false, false) => ("[ ]", theme.text),
        };
        let id = format!("{:<id_width$}", item.id.as_str());
        let optional = if item.required { "" } else { " (optional)" };
        let used = 3 + mark.len() + 1 + id_width + 2 + optional.len();
        let text = truncate(item.text.as_str(), width.saturating_sub(used));
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {cursor} "),
                theme.style(theme.focus).add_modifier(Modifier::BOLD),
            ),
            Span::styled(mark, theme.style(color).add_modifier(Modifier::BOLD)),
            Span::styled(format!(" {id}  "), theme.style(theme.accent)),
            Span::styled(text, theme.style(theme.text)),
            Span::styled(optional, theme.muted()),
        ]));
    }
    lines
}

fn buttons_line(c: &Confirmation, theme: &Theme) -> Line<'static> {
    let button = |label: &str, chosen: bool, enabled: bool| {
        let style = if !enabled {
            theme.muted().add_modifier(Modifier::CROSSED_OUT)
        } else if chosen {
            theme
                .style(theme.focus)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            theme.style(theme.text)
        };
        let text = if chosen {
            format!("▶[ {label} ]")
        } else {
            format!(" [ {label} ]")
        };
        Span::styled(text, style)
    };
    let enabled = c.yes_enabled();
    let mut spans = vec![
        Span::raw("        "),
        button("No", c.choice == Choice::No, true),
        Span::raw("    "),
        button("Yes", c.choice == Choice::Yes, enabled),
    ];
    if !enabled {
        let why = if c.preview.sha.is_none() {
            "no commit to move".to_string()
        } else if c
            .blocking()
            .iter()
            .all(|g| g.kind == crate::model::GateKind::Checklist)
            && !c.blocking().is_empty()
        {
            "tick every required checklist item first (Space)".to_string()
        } else if !c.blocking().is_empty() {
            let names: Vec<&str> = c.blocking().iter().map(|g| g.kind.label()).collect();
            format!("blocked by {}", names.join(", "))
        } else {
            format!("type \"{}\" first", c.preview.target)
        };
        spans.push(Span::styled(
            format!("   Yes disabled: {why}"),
            theme.style(theme.fail),
        ));
    }
    Line::from(spans)
}

fn draw_confirmation(frame: &mut Frame, body: Rect, c: &Confirmation, theme: &Theme) {
    let width = body.width.saturating_sub(4).min(110);
    let inner_height = body.height.saturating_sub(2);
    let lines = confirmation_lines(c, width.saturating_sub(2) as usize, inner_height, theme);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = centered(body, width, height);
    let verb = match (c.kind(), c.step) {
        (_, ConfirmStep::HighRisk) => "High-risk files".to_string(),
        (ActionKind::Promote, _) => format!("Promote into {}?", c.environment()),
        (ActionKind::Rollback, _) => format!("Roll back {}?", c.environment()),
    };
    let block = Block::bordered()
        .border_type(BorderType::Thick)
        .border_style(theme.style(theme.warn).add_modifier(Modifier::BOLD))
        .title(Span::styled(format!(" {verb} "), theme.heading()))
        .title_bottom(Span::styled(
            " ←→ choose · Enter press · n/Esc cancel ",
            theme.muted(),
        ));
    clear_popup(frame, area, theme);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Empties a popup's area and gives it the theme's surface colour.
fn clear_popup(frame: &mut Frame, area: Rect, theme: &Theme) {
    frame.render_widget(Clear, area);
    frame.render_widget(Block::new().style(theme.surface_style()), area);
}

/// A `width` x `height` rectangle centred in `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

pub(crate) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Cuts `text` to `width` characters, the last one an ellipsis when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(crate) fn duration_since(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

/// "12s ago", "12m ago", "5h ago", "3d ago".
pub fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..172_800 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// "45s", "95s", "3m10s", "2h05m": short enough for narrow columns.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..100 => format!("{secs}s"),
        100..3600 if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        100..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_chart_draws_bars_in_eighths_and_the_baseline_between() {
        // Peak 10 → scale 8 rows*... height 2: 16 levels over 11 → 10 fills 15 eighths.
        let cells = error_chart_cells(&[Some(10), Some(0), None, Some(3)], Some(2.0), 2);
        assert_eq!(cells.len(), 2);
        let glyphs = |row: &Vec<ChartCell>| -> String {
            row.iter()
                .map(|c| match c {
                    ChartCell::Empty => ' ',
                    ChartCell::Bar { glyph, .. } => *glyph,
                    ChartCell::Baseline => '─',
                    ChartCell::BaselineThroughBar { .. } => '━',
                    ChartCell::Deploy { top: true } => '▼',
                    ChartCell::Deploy { top: false } => '┊',
                })
                .collect()
        };
        assert_eq!(glyphs(&cells[0]), "▇   ");
        // The deploy's minute: a head on top, a dotted line down to its bar or the floor,
        // through the baseline but never over a bar.
        let mut marked = cells.clone();
        mark_deploy(&mut marked, 2);
        mark_deploy(&mut marked, 0);
        assert_eq!(glyphs(&marked[0]), "▇ ▼ ");
        assert_eq!(glyphs(&marked[1]), "━─┊▄");
        // The bottom row holds the baseline: drawn through the tall bar, between the others.
        assert_eq!(glyphs(&cells[1]), "━──▄");
        // A bar that rises past the baseline's row shows the line through it.
        let crossing = error_chart_cells(&[Some(10), Some(1)], Some(6.0), 3);
        assert_eq!(glyphs(&crossing[1]), "━─");
        assert!(matches!(
            cells[1][0],
            ChartCell::BaselineThroughBar {
                over_baseline: true
            }
        ));
        assert!(matches!(
            cells[0][0],
            ChartCell::Bar {
                over_baseline: true,
                ..
            }
        ));
        assert!(matches!(
            cells[1][3],
            ChartCell::Bar {
                over_baseline: false,
                ..
            }
        ));
    }

    #[test]
    fn low_traffic_noise_is_not_unusual_but_a_real_jump_is() {
        assert!(!unusually_high(4, 2.4));
        assert!(!unusually_high(6, 2.4));
        assert!(unusually_high(9, 2.4));
        assert!(!unusually_high(20, 15.4));
        assert!(unusually_high(30, 15.4));
        assert!(!unusually_high(3, 0.0));
        assert!(unusually_high(5, 0.0));
    }

    #[test]
    fn error_chart_without_data_or_baseline_is_blank() {
        let cells = error_chart_cells(&[None, None], None, 3);
        assert!(cells.iter().flatten().all(|c| *c == ChartCell::Empty));
        assert!(error_chart_cells(&[Some(1)], None, 0).is_empty());
    }

    #[test]
    fn stage_layout_keeps_whole_names_when_the_column_allows() {
        // 160 columns: three columns of 51 inner cells.
        let layout = StageLayout::fit(51, "Security+Performance".len(), 9, true);
        assert_eq!(layout.name_width, 20);
        assert!(layout.bar_width >= 4, "{layout:?}");
        assert_eq!(layout.over_label, " ▲");
        let shorter_times = StageLayout::fit(51, 20, 7, true);
        assert_eq!(shorter_times.over_label, " ▲ over");
        assert!(shorter_times.bar_width >= 4, "{shorter_times:?}");
        let quiet = StageLayout::fit(51, 20, 9, false);
        assert_eq!((quiet.name_width, quiet.bar_width), (20, 10));
        let wide = StageLayout::fit(80, 20, 9, true);
        assert_eq!(
            (wide.name_width, wide.bar_width, wide.over_label),
            (20, 10, " ▲ over")
        );
    }

    #[test]
    fn stage_layout_shortens_names_before_dropping_the_bar() {
        let layout = StageLayout::fit(40, 20, 9, true);
        assert_eq!(layout.bar_width, 3);
        assert!(
            layout.name_width < 20 && layout.name_width >= 8,
            "{layout:?}"
        );
        let fixed = 2 + 1 + 8 + 1 + 9;
        let over = layout.over_label.chars().count();
        assert!(
            fixed + layout.name_width + layout.bar_width + over <= 40,
            "{layout:?}"
        );
    }

    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(format_age(Duration::from_secs(0)), "0s ago");
        assert_eq!(format_age(Duration::from_secs(59)), "59s ago");
        assert_eq!(format_age(Duration::from_secs(12 * 60 + 5)), "12m ago");
        assert_eq!(format_age(Duration::from_secs(5 * 3600)), "5h ago");
        assert_eq!(format_age(Duration::from_secs(3 * 86_400)), "3d ago");
    }

    #[test]
    fn durations_stay_short() {
        assert_eq!(format_duration(Duration::from_secs(95)), "95s");
        assert_eq!(format_duration(Duration::from_secs(190)), "3m10s");
        assert_eq!(format_duration(Duration::from_secs(420)), "7m");
        assert_eq!(format_duration(Duration::from_secs(7500)), "2h05m");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("Security+Performance", 8), "Securit…");
        assert_eq!(truncate("Unit", 8), "Unit");
    }

    #[test]
    fn centering_never_leaves_the_area() {
        let area = Rect::new(2, 3, 10, 4);
        let r = centered(area, 50, 50);
        assert_eq!(r, area);
        let r = centered(area, 4, 2);
        assert_eq!(r, Rect::new(5, 4, 4, 2));
    }

    #[test]
    fn a_watched_deploy_says_the_time_left_and_its_findings() {
        use crate::model::{
            SafeText, VerificationPhase, VerificationView, WatchFinding, WatchView,
        };
        let now = DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        let mut env = crate::ui::sample::SampleBuilder::new(now)
            .build()
            .environments[2]
            .clone();
        let deployed_at = now - chrono::TimeDelta::hours(12) - chrono::TimeDelta::minutes(48);
        let sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678".to_string();
        let mut view = VerificationView {
            sha,
            deployment_id: 3,
            deployed_at,
            window_ends: deployed_at + chrono::TimeDelta::minutes(15),
            phase: VerificationPhase::Verified,
            signals: Vec::new(),
            reason: SafeText::new("verified: nothing failed in the window"),
            auto_rollback: true,
            baseline_per_minute: None,
            watch: Some(WatchView {
                ends: deployed_at + chrono::TimeDelta::hours(48),
                findings: Vec::new(),
            }),
        };
        env.guard = Default::default();
        env.verification = Some(view.clone());
        let text = |env: &EnvironmentSnapshot| -> Vec<String> {
            verification_lines(env, now, false, 120, &Theme::default())
                .iter()
                .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
                .collect()
        };
        assert_eq!(text(&env), ["Verify ✓ verified · watching 35h 12m left"]);

        if let Some(watch) = view.watch.as_mut() {
            watch.findings.push(WatchFinding {
                id: SafeText::new("5900"),
                title: SafeText::new("TypeError: order.items.map is not a function"),
                first_seen: deployed_at + chrono::TimeDelta::hours(12),
                count: 12,
            });
        }
        env.verification = Some(view.clone());
        assert_eq!(
            text(&env)[1],
            "! new error type 12h after deploy a1b2c3d: TypeError: order.items.map is not a \
             function (12 events) · r rolls back"
        );

        // After the watch, a verified deploy folds away as before.
        if let Some(watch) = view.watch.as_mut() {
            watch.ends = now - chrono::TimeDelta::minutes(1);
        }
        env.verification = Some(view);
        assert!(text(&env).is_empty(), "{:?}", text(&env));
    }
}
