//! The `shipdeck` binary: parses the command line, sets up logging to a file (the terminal
//! belongs to the UI), and wires config, engine, UI and, for `demo`, the sandbox together.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use shipdeck::clock::Clock;
use shipdeck::config::{self, Config, Credentials};
use shipdeck::engine::commands::SubmitError;
use shipdeck::engine::holds::{HoldChange, HoldRequest};
use shipdeck::engine::{self, Engine, EngineHandle, EngineOptions, PollPolicy};
use shipdeck::model::status::StatusDocument;
use shipdeck::model::{ActionKind, Snapshot, sanitize};
use shipdeck::sandbox::{Sandbox, SandboxOptions, Scenario};
use shipdeck::ui::{self, Theme, UiOptions};

mod act;

/// Exit code for bad input: usage errors, invalid config, missing config or token.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "shipdeck",
    version,
    about = "A terminal release cockpit: dev, staging and prod side by side",
    long_about = "A terminal release cockpit: dev, staging and prod side by side, with what is \
                  deployed where, each branch's CI pipeline stage by stage, smoke checks and \
                  error rates.\n\nTry it with no setup: shipdeck demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Debug, Args, Clone)]
struct ConfigArg {
    /// Config file (default: $SHIPDECK_CONFIG, then the user config dir's shipdeck/config.toml)
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cockpit against the built-in sandbox (no setup, no network)
    Demo(DemoArgs),
    /// Run the cockpit for the configured repository (the default command)
    Run(DisplayArgs),
    /// Run the cockpit read-only, for a wall display: nothing can be changed from it
    Watch(DisplayArgs),
    /// Draw the demo world into an SVG picture (the README's pictures come from here)
    Screenshot(ScreenshotArgs),
    /// Validate a config file: exit 0, or exit 2 with FILE:LINE:COL: message
    CheckConfig {
        /// The config file to check
        file: PathBuf,
    },
    /// Fetch every source once and print the state of every environment
    Status {
        /// Print the documented JSON document instead of text
        #[arg(long)]
        json: bool,
    },
    /// Promote into ENV the commit its source environment runs (exit 0 done, 3 blocked,
    /// 1 failed, 2 bad input)
    Promote(PromoteArgs),
    /// Roll ENV back to its previous good deployment (exit 0 done, 3 blocked, 1 failed,
    /// 2 bad input)
    Rollback(RollbackArgs),
    /// Hold ENV's auto-promotion: no instance promotes into it by itself until someone
    /// resumes it (exit 0 held, 3 refused, 2 bad input)
    Hold(HoldArgs),
    /// Resume ENV's held auto-promotion (exit 0 resumed, 3 refused, 2 bad input)
    Resume(ResumeArgs),
    /// Run the engine without a screen (a server, a container): JSON log lines on stdout,
    /// /healthz and /metrics on [daemon] listen; SIGTERM finishes the current step and exits
    Daemon,
    /// Run a built-in benchmark and print its table (exit 0 when every target is met, 1 if not)
    Bench {
        #[command(subcommand)]
        bench: BenchKind,
    },
}

#[derive(Debug, Subcommand)]
enum BenchKind {
    /// Post-deploy verification: shipdeck's rules and two reference rules on simulated deploys
    Verify,
    /// The wall display over simulated hours of deploys, rollbacks and outages: memory,
    /// recovery after each outage, stuck panels
    Soak {
        /// Simulated hours to run (at 400x: 24 hours take about four minutes)
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(2..=24 * 14))]
        hours: u32,
    },
}

#[derive(Debug, Args)]
struct PromoteArgs {
    /// The environment to promote into (e.g. staging, prod)
    env: String,
    /// Promote exactly this commit instead of the one the source environment runs
    #[arg(long, value_name = "SHA")]
    sha: Option<String>,
    #[command(flatten)]
    common: ActArgs,
    /// Promote through a freeze window; the reason is recorded in the audit log
    #[arg(long, value_name = "REASON")]
    override_freeze: Option<String>,
    /// Confirm high-risk files (migrations, IAM, payments) without asking
    #[arg(long)]
    confirm_high_risk: bool,
    /// Tick this release checklist item (repeatable); each tick is recorded in the audit log
    #[arg(long = "tick", value_name = "ID")]
    ticks: Vec<String>,
}

#[derive(Debug, Args)]
struct RollbackArgs {
    /// The environment to roll back
    env: String,
    /// Roll back to exactly this commit instead of the previous good deployment
    #[arg(long, value_name = "SHA")]
    to: Option<String>,
    #[command(flatten)]
    common: ActArgs,
}

#[derive(Debug, Args)]
struct HoldArgs {
    /// The environment whose auto-promotion stops
    env: String,
    /// Why; shown on every screen and recorded in the audit log
    #[arg(long, value_name = "REASON")]
    reason: String,
}

#[derive(Debug, Args)]
struct ResumeArgs {
    /// The environment whose auto-promotion goes on
    env: String,
    /// Why, recorded in the audit log
    #[arg(long, value_name = "REASON")]
    reason: Option<String>,
}

#[derive(Debug, Args)]
struct ActArgs {
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Break a lock held by another action first; the reason is recorded in the audit log
    #[arg(long, value_name = "REASON")]
    break_lock: Option<String>,
}

/// How the cockpit looks and which keys it takes.
#[derive(Debug, Args, Clone, Default)]
struct DisplayArgs {
    /// The wall layout: each environment's state in large letters, read across a room.
    /// A wall never acts: it runs read-only
    #[arg(long)]
    wall: bool,
    /// Ignore every key but the quit chord ([ui] quit_chord, default ctrl+q); no footer
    #[arg(long)]
    kiosk: bool,
    /// With --wall: rotate a detail panel through the environments, e.g. 20s
    #[arg(long, value_name = "DURATION", value_parser = parse_cycle)]
    cycle: Option<std::time::Duration>,
    /// Colour theme: default, light, high-contrast, deuteranopia, tritanopia, or a user theme
    /// from the config dir's themes/ folder; `t` cycles them at run time
    #[arg(long, value_name = "NAME")]
    theme: Option<String>,
}

fn parse_cycle(raw: &str) -> Result<std::time::Duration, String> {
    let every = humantime::parse_duration(raw.trim()).map_err(|e| e.to_string())?;
    if every < std::time::Duration::from_secs(2) {
        return Err("must be at least 2s; a panel that changes faster cannot be read".to_string());
    }
    Ok(every)
}

#[derive(Debug, Args)]
struct ScreenshotArgs {
    /// The picture to write (SVG)
    #[arg(long, value_name = "FILE.svg")]
    out: PathBuf,
    /// Terminal size in cells
    #[arg(long, value_name = "WxH", default_value = "160x48", value_parser = parse_size)]
    size: (u16, u16),
    /// Colour theme (as for `run --theme`)
    #[arg(long, value_name = "NAME", default_value = "default")]
    theme: String,
    /// Picture the wall layout instead of the captain's cockpit
    #[arg(long)]
    wall: bool,
    /// Simulated time past the demo world's start when the picture is taken
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    after: std::time::Duration,
}

fn parse_size(raw: &str) -> Result<(u16, u16), String> {
    let (w, h) = raw
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{raw:?} is not WIDTHxHEIGHT, e.g. 160x48"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| (20..=1000).contains(n))
            .ok_or_else(|| format!("{part:?} must be a number from 20 to 1000"))
    };
    Ok((number(w)?, number(h)?))
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// How many times faster than the wall clock the sandbox world runs
    #[arg(long, default_value_t = 5.0, value_parser = parse_speed)]
    speed: f64,
    /// A scenario file (TOML) to load instead of the built-in one
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Show the demo read-only, as `shipdeck watch` would
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    display: DisplayArgs,
}

fn parse_speed(raw: &str) -> Result<f64, String> {
    let speed: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if speed.is_finite() && (0.1..=1000.0).contains(&speed) {
        Ok(speed)
    } else {
        Err("speed must be between 0.1 and 1000".to_string())
    }
}

/// An error that has already been explained to the user; carries the exit code.
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs to stdout, in the format its config asks for.
    let _log_guard = match cli.command {
        Some(Command::Daemon) => None,
        _ => init_logging(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shipdeck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            if let Some(Exit(code)) = err.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            print_error(&err);
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Demo(args)) => demo(args, &cli.config).await,
        None => cockpit(&cli.config, DisplayArgs::default(), false).await,
        Some(Command::Run(display)) => cockpit(&cli.config, display, false).await,
        Some(Command::Watch(display)) => cockpit(&cli.config, display, true).await,
        Some(Command::Screenshot(args)) => screenshot(args).await,
        Some(Command::CheckConfig { file }) => check_config(file),
        Some(Command::Status { json }) => status(&cli.config, json).await,
        Some(Command::Promote(args)) => {
            let request = act::Request {
                kind: ActionKind::Promote,
                env: args.env,
                sha: args.sha,
                yes: args.common.yes,
                break_lock: args.common.break_lock,
                override_freeze: args.override_freeze,
                confirm_high_risk: args.confirm_high_risk,
                ticks: args.ticks,
            };
            act_from_cli(&cli.config, request).await
        }
        Some(Command::Rollback(args)) => {
            let request = act::Request {
                kind: ActionKind::Rollback,
                env: args.env,
                sha: args.to,
                yes: args.common.yes,
                break_lock: args.common.break_lock,
                override_freeze: None,
                confirm_high_risk: false,
                ticks: Vec::new(),
            };
            act_from_cli(&cli.config, request).await
        }
        Some(Command::Hold(args)) => {
            let change = HoldChange::Hold {
                reason: args.reason,
            };
            hold_from_cli(&cli.config, args.env, change).await
        }
        Some(Command::Resume(args)) => {
            let change = HoldChange::Resume {
                reason: args.reason,
            };
            hold_from_cli(&cli.config, args.env, change).await
        }
        Some(Command::Daemon) => daemon(&cli.config).await,
        Some(Command::Bench {
            bench: BenchKind::Verify,
        }) => bench_verify(),
        Some(Command::Bench {
            bench: BenchKind::Soak { hours },
        }) => bench_soak(hours).await,
    }
}

/// `shipdeck daemon`: the engine with its write side (unless the config is read-only),
/// without a screen, until SIGTERM or SIGINT.
async fn daemon(arg: &ConfigArg) -> Result<ExitCode> {
    let config = load_config(arg)?;
    shipdeck::daemon::init_logging(config.daemon.log);
    let credentials = resolve_credentials(&config)?;
    let listen = config
        .daemon
        .listen_addr()
        .ok_or_else(|| bad_input("[daemon] listen is not a loopback IP:PORT"))?;
    let clock = clock_for(&config);
    let write = if config.read_only {
        None
    } else {
        Some(write_options_at_speed(
            state_dir_for(&config)?,
            clock.speed(),
        ))
    };
    let title = config.github.repo.get_ref().clone();
    shipdeck::daemon::run(shipdeck::daemon::DaemonOptions {
        config: Arc::new(config),
        credentials,
        clock,
        title,
        listen,
        write,
    })
    .await
    .map_err(|e| match e {
        shipdeck::daemon::DaemonError::Engine(e) => bad_input(e),
        other => other.into(),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `shipdeck bench soak`: the soak's figures and whether every check holds.
async fn bench_soak(hours: u32) -> Result<ExitCode> {
    let report = shipdeck::soak::run(&shipdeck::soak::SoakOptions::hours(hours)).await?;
    print!("{}", report.table());
    Ok(if report.all_targets_met() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `shipdeck bench verify`: the decision benchmark's table and whether its targets hold.
fn bench_verify() -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let report = engine::verify_bench::run(&engine::verify_bench::BenchConfig::default())?;
    print!("{}", report.table());
    println!(
        "\n{} deploys in {:.2} s",
        report.total_deploys(),
        started.elapsed().as_secs_f64()
    );
    Ok(if report.all_targets_met() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints an error chain, each line sanitized: messages may quote outside text.
fn print_error(err: &anyhow::Error) {
    let text = format!("{err:#}");
    for line in text.lines() {
        eprintln!("shipdeck: {}", sanitize(line, 2000));
    }
}

/// Prints a bad-input message and returns the error that exits with code 2.
fn bad_input(message: impl std::fmt::Display) -> anyhow::Error {
    for line in message.to_string().lines() {
        eprintln!("{}", sanitize(line, 2000));
    }
    Exit(EXIT_BAD_INPUT).into()
}

fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dirs = directories::ProjectDirs::from("", "", "shipdeck")?;
    let dir = dirs
        .state_dir()
        .unwrap_or_else(|| dirs.cache_dir())
        .to_path_buf();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("shipdeck")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    // The default queue preallocates room for 128k lines (megabytes); shipdeck logs little,
    // and a wall display should not carry that for weeks.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(8192)
        .finish(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHIPDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

fn load_config(arg: &ConfigArg) -> Result<Config> {
    let path = config::locate(arg.config.as_deref(), std::env::var_os("SHIPDECK_CONFIG")).map_err(
        |e| {
            bad_input(format!(
                "{e}\nTo see shipdeck without any setup, run: shipdeck demo\n\
                 To set it up, copy config.toml.example to one of the places above."
            ))
        },
    )?;
    config::load_file(&path).map_err(bad_input)
}

fn resolve_credentials(config: &Config) -> Result<Credentials> {
    Credentials::resolve(config, |name| std::env::var(name).ok()).map_err(bad_input)
}

/// The theme to start with (`--theme`, else `[ui] theme`, else the default), adapted to what
/// the terminal can show. A theme that cannot be used is a warning, never a failed start: a
/// wall display must come up.
fn theme_for(config: &Config, display: &DisplayArgs) -> (Theme, ui::Display) {
    let name = display
        .theme
        .as_deref()
        .or(config.ui.theme.as_deref())
        .unwrap_or("default");
    let theme_dir = ui::theme::user_themes_dir();
    let (theme, warning) = ui::theme::resolve(name, theme_dir.as_deref());
    if let Some(warning) = warning {
        eprintln!("shipdeck: {}", sanitize(&warning.report(), 2000));
        tracing::warn!(warning = %sanitize(&warning.to_string(), 400), "theme");
    }
    let color_support = ui::palette::detect_from_env();
    let wall = display.wall || config.ui.wall;
    let screen = ui::Display {
        wall: wall.then(|| ui::WallSettings {
            cycle: display.cycle.or(config.ui.cycle.map(|c| c.get())),
            red_pipeline_after: config.ui.red_pipeline_after.get(),
        }),
        kiosk: (display.kiosk || config.ui.kiosk).then(|| config.ui.quit_chord()),
        themes: ui::theme::available(theme_dir.as_deref()),
        theme_dir,
        color_support,
    };
    (theme.adapted(color_support), screen)
}

async fn cockpit(arg: &ConfigArg, display: DisplayArgs, force_read_only: bool) -> Result<ExitCode> {
    let config = load_config(arg)?;
    let credentials = resolve_credentials(&config)?;
    let (theme, screen) = theme_for(&config, &display);
    // A wall takes no actions: it gets no write side at all.
    let read_only = force_read_only || config.read_only || screen.wall.is_some();
    let title = config.github.repo.get_ref().clone();
    let write = if read_only {
        None
    } else {
        Some(engine::WriteOptions::new(state_dir_for(&config)?, &actor()))
    };
    let clock = clock_for(&config);
    run_cockpit(
        config,
        credentials,
        clock,
        (theme, screen),
        title,
        write,
        true,
    )
    .await
}

/// `shipdeck screenshot`: the demo world, a while after its start, as an SVG picture.
async fn screenshot(args: ScreenshotArgs) -> Result<ExitCode> {
    let (theme, warning) = ui::theme::resolve(&args.theme, ui::theme::user_themes_dir().as_deref());
    if let Some(warning) = warning {
        return Err(bad_input(sanitize(&warning.report(), 2000)));
    }
    let options = ui::screenshot::ScreenshotOptions {
        width: args.size.0,
        height: args.size.1,
        layout: if args.wall {
            ui::screenshot::Layout::Wall
        } else {
            ui::screenshot::Layout::Captain
        },
        theme: theme.clone(),
        after: args.after,
        patience: std::time::Duration::from_secs(30),
    };
    let buffer = ui::screenshot::render_demo(&options)
        .await
        .context("drawing the demo world")?;
    let svg = ui::svg::buffer_to_svg(
        &buffer,
        &ui::svg::SvgOptions {
            foreground: ui::palette::rgb(theme.text, (0xd4, 0xd4, 0xd4)),
            background: ui::palette::rgb(theme.background, (0x1e, 0x1e, 0x1e)),
            title: Some(format!("shipdeck demo · {} theme", theme.name)),
            ..ui::svg::SvgOptions::default()
        },
    );
    std::fs::write(&args.out, svg).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

async fn demo(args: DemoArgs, config_arg: &ConfigArg) -> Result<ExitCode> {
    // `--config FILE`: that file's process, on a world shaped after its environments.
    let own_config = match &config_arg.config {
        None => None,
        Some(path) => Some(config::load_file_with_text(path).map_err(bad_input)?),
    };
    let mut scenario = match &args.scenario {
        None => Scenario::default_demo(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input(format!("{}: cannot read scenario: {e}", path.display())))?;
            Scenario::from_toml_str(&text)
                .map_err(|e| bad_input(format!("{}: {e}", path.display())))?
        }
    };
    if let Some((config, _)) = &own_config
        && scenario.environments.is_empty()
    {
        let environments = shipdeck::sandbox::demo_config::environments_of(config);
        scenario = scenario.for_environments(environments).map_err(|e| {
            bad_input(format!(
                "the demo cannot run this config's environments: {e}"
            ))
        })?;
        if let Some((shortest, longest)) = shipdeck::sandbox::demo_config::commit_pace(config) {
            scenario.commit_every_min_secs = scenario.commit_every_min_secs.max(shortest);
            scenario.commit_every_max_secs = scenario.commit_every_max_secs.max(longest);
        }
    }
    // A demo may be left on a wall for days and nothing reads its request log.
    scenario.requests_kept = scenario
        .requests_kept
        .min(shipdeck::sandbox::LONG_RUN_REQUESTS_KEPT);
    let clock = Clock::scaled(chrono::Utc::now(), args.speed);
    let sandbox = Sandbox::start(SandboxOptions {
        scenario,
        clock: clock.clone(),
    })
    .await
    .context("starting the demo sandbox")?;
    // Each demo run is a new world: its journal and audit log start empty, in a directory
    // of their own that goes when the demo ends.
    let demo_dir = demo_dir()?;
    let run_dir = demo_dir.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    // Commands from another terminal judge soak and freezes by the world's time, not the
    // wall's: the world runs `speed` times faster.
    let run = shipdeck::sandbox::demo_config::DemoRun {
        state_dir: run_dir.display().to_string(),
        world_at: clock.now(),
        wall_at: chrono::Utc::now(),
        speed: args.speed,
    };
    let (config_text, notifier_secrets) = match &own_config {
        Some((_, text)) => {
            let retargeted = shipdeck::sandbox::demo_config::retarget(
                text,
                &shipdeck::sandbox::demo_config::SandboxAddresses::of(&sandbox),
                &run,
            )
            .context("pointing the config at the demo sandbox")?;
            (retargeted.text, retargeted.notifier_secrets)
        }
        None => (
            shipdeck::sandbox::demo_config::with_run(&sandbox.demo_config_with_flow_toml(), &run)
                .context("writing the demo config")?,
            Vec::new(),
        ),
    };
    // Written out so `shipdeck promote`/`rollback` can act on the running demo from another
    // terminal (see the README).
    let config_file = demo_dir.join("config.toml");
    if let Err(error) = std::fs::write(&config_file, &config_text) {
        tracing::warn!(%error, "could not write the demo config for the command line");
    }
    let config = config::parse_str(&config_text, "<demo config>")
        .context("the demo config does not parse")?;
    let title_repo = match &config_arg.config {
        Some(path) => sanitize(&path.display().to_string(), 200),
        None => sandbox.repo().to_string(),
    };
    let (theme, screen) = theme_for(&config, &args.display);
    let title = format!("demo sandbox · {title_repo} · {}x speed", args.speed);
    // The sandbox accepts any token; the demo needs no environment variables.
    let mut credentials = Credentials::fixed("demo-github-token", "demo-sentry-token");
    credentials.assistant_key = Some(config::Secret::new("demo-assistant-key"));
    for (variable, value) in notifier_secrets {
        credentials
            .notifier_secrets
            .insert(variable, config::Secret::new(&value));
    }
    let write = if args.watch || screen.wall.is_some() {
        None
    } else {
        Some(write_options_at_speed(run_dir.clone(), args.speed))
    };
    // The demo's world and state go with it: nothing resumes a paused action later.
    let code = run_cockpit(
        config,
        credentials,
        clock,
        (theme, screen),
        title,
        write,
        false,
    )
    .await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&run_dir);
    code
}

/// The system clock, unless the config carries a demo's simulated one.
fn clock_for(config: &Config) -> Clock {
    match &config.simulated_clock {
        Some(simulated) => Clock::scaled(simulated.world_time(chrono::Utc::now()), simulated.speed),
        None => Clock::system(),
    }
}

/// Where the demo keeps its config and per-run state.
fn demo_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "shipdeck")
        .ok_or_else(|| bad_input("cannot find a home directory for the demo's state"))?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .join("demo"))
}

async fn run_cockpit(
    config: Config,
    credentials: Credentials,
    clock: Clock,
    (theme, display): (Theme, ui::Display),
    title: String,
    write: Option<engine::WriteOptions>,
    resumes_later: bool,
) -> Result<ExitCode> {
    // Poll on the world's schedule: a demo clock running faster polls proportionally faster.
    let policy = PollPolicy::default().for_clock_speed(clock.speed());
    let stop_grace = write.as_ref().map(|w| w.stop_grace);
    let engine = Engine::spawn_full(
        EngineOptions {
            config: Arc::new(config),
            credentials,
            clock: clock.clone(),
            title: title.clone(),
        },
        policy,
        write,
    )
    .map_err(bad_input)?;
    let result = ui::run(
        engine.snapshots(),
        UiOptions {
            clock,
            // A read-only engine has no write side to hand out: no key can reach a write.
            actions: engine.actions(),
            reruns: engine.reruns(),
            actor: actor(),
            theme,
            title,
            display,
        },
    )
    .await;
    if let Some(grace) = stop_grace {
        say_what_pauses(&engine.snapshots().borrow(), grace, resumes_later);
    }
    engine.shutdown().await;
    result.context("the terminal UI failed")?;
    Ok(ExitCode::SUCCESS)
}

/// The screen is gone but the engine may still be finishing a step of an action: say so,
/// rather than leave the captain looking at a shell that does not come back.
fn say_what_pauses(snapshot: &Snapshot, grace: std::time::Duration, resumes_later: bool) {
    let running: Vec<String> = snapshot
        .environments
        .iter()
        .filter_map(|env| env.release.activity.as_ref())
        .filter(|activity| activity.result.is_none())
        .map(|activity| {
            let sha = activity.sha.get(..7).unwrap_or(&activity.sha);
            match activity.kind {
                ActionKind::Promote => {
                    format!("the promotion of {sha} into {}", activity.target)
                }
                ActionKind::Rollback => format!("the rollback of {} to {sha}", activity.target),
            }
        })
        .collect();
    if !running.is_empty() {
        eprintln!(
            "stopping: {} stops after its current step (at most {} s){}",
            sanitize(&running.join(", "), 400),
            grace.as_secs(),
            if resumes_later {
                "; the next start of shipdeck finishes it"
            } else {
                ""
            }
        );
    }
}

/// Where the journal and the audit log live: `state_dir` from the config, else the user's
/// state directory.
/// The write side's options for a world running `speed` times faster than the wall (a demo's
/// sandbox): deploy runs are looked at on the world's schedule.
fn write_options_at_speed(state_dir: PathBuf, speed: f64) -> engine::WriteOptions {
    let mut write = engine::WriteOptions::new(state_dir, &actor());
    write.timing.poll = write
        .timing
        .poll
        .div_f64(speed.max(1.0))
        .max(std::time::Duration::from_millis(100));
    write
}

fn state_dir_for(config: &Config) -> Result<PathBuf> {
    if let Some(dir) = &config.state_dir {
        return Ok(PathBuf::from(dir.get_ref()));
    }
    let dirs = directories::ProjectDirs::from("", "", "shipdeck").ok_or_else(|| {
        bad_input("cannot find a home directory for shipdeck's state; set state_dir in the config")
    })?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf())
}

/// Who acts: the login name, as deployments, the lock and the audit log record it. `USER`
/// first (what the captain sees in their shell), else the account the process runs as
/// (`USER` is often unset under ssh commands, cron and containers).
fn actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| whoami::username().ok())
        .map(|u| sanitize(&u, 60))
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The engine with its write side for one command acting on `env`, after the checks every
/// such command makes (a read-only config, an unknown environment are bad input).
fn acting_engine(arg: &ConfigArg, env: &str, what: &str) -> Result<(EngineHandle, Clock)> {
    let config = load_config(arg)?;
    if config.read_only {
        return Err(bad_input(format!(
            "this config says read_only = true: {what} is not available"
        )));
    }
    if !config.environments.iter().any(|e| e.name.get_ref() == env) {
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.get_ref().as_str())
            .collect();
        return Err(bad_input(format!(
            "no environment is named {:?}; configured: {}",
            sanitize(env, 40),
            names.join(", ")
        )));
    }
    let credentials = resolve_credentials(&config)?;
    let write = engine::WriteOptions::new(state_dir_for(&config)?, &actor());
    let clock = clock_for(&config);
    let title = config.github.repo.get_ref().clone();
    let engine = Engine::spawn_full(
        EngineOptions {
            config: Arc::new(config),
            credentials,
            clock: clock.clone(),
            title,
        },
        PollPolicy::fast(),
        Some(write),
    )
    .map_err(bad_input)?;
    Ok((engine, clock))
}

async fn act_from_cli(arg: &ConfigArg, request: act::Request) -> Result<ExitCode> {
    let (engine, clock) = acting_engine(arg, &request.env, "promote and rollback")?;
    let code = act::run(&engine, request, &clock).await;
    engine.shutdown().await;
    code
}

/// `shipdeck hold` and `shipdeck resume`: the same hold task as the `a` key, so the hold is
/// the same ref in GitHub and the same audit record.
async fn hold_from_cli(arg: &ConfigArg, env: String, change: HoldChange) -> Result<ExitCode> {
    let (engine, _clock) = acting_engine(arg, &env, "holding auto-promotion")?;
    let answer = match engine.actions() {
        Some(actions) => {
            actions
                .hold(HoldRequest {
                    environment: env,
                    actor: actor(),
                    change,
                })
                .await
        }
        None => Err(SubmitError::Stopped),
    };
    engine.shutdown().await;
    match answer {
        Ok(Ok(done)) => {
            println!("{}", sanitize(&done, 400));
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(refused)) => {
            eprintln!("{}", sanitize(&refused, 400));
            Ok(ExitCode::from(act::EXIT_BLOCKED))
        }
        Err(error) => Err(anyhow::anyhow!("the engine stopped: {error}")),
    }
}

fn check_config(file: PathBuf) -> Result<ExitCode> {
    let config = config::load_file(&file).map_err(bad_input)?;
    println!(
        "{}: ok ({} environments, {} pipeline stages, {} smoke checks)",
        sanitize(&file.display().to_string(), 500),
        config.environments.len(),
        config.pipeline.stages.len(),
        config.smoke.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn status(arg: &ConfigArg, json: bool) -> Result<ExitCode> {
    let config = load_config(arg)?;
    let credentials = resolve_credentials(&config)?;
    let clock = clock_for(&config);
    let title = config.github.repo.get_ref().clone();
    let snapshot = engine::snapshot_once(EngineOptions {
        config: Arc::new(config),
        credentials,
        clock: clock.clone(),
        title,
    })
    .await
    .context("fetching the status")?;
    let document = StatusDocument::from_snapshot(&snapshot, clock.now());
    if json {
        let text = serde_json::to_string_pretty(&document).context("encoding the status")?;
        println!("{text}");
    } else {
        print!("{}", status_text(&snapshot, clock.now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// A short plain-text summary, one block per environment.
fn status_text(snapshot: &Snapshot, now: chrono::DateTime<chrono::Utc>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for env in &snapshot.environments {
        let _ = writeln!(out, "{} ({})", env.name, env.branch);
        match env.deployed() {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "  deployed  {} {} ({})",
                    c.short_sha(),
                    c.subject,
                    c.author
                );
            }
            None => {
                let _ = writeln!(out, "  deployed  unknown");
            }
        }
        if let Some(p) = &env.pipeline {
            let stages: Vec<String> = p
                .stages
                .iter()
                .map(|s| format!("{} {}", s.name, s.status.word()))
                .collect();
            let _ = writeln!(
                out,
                "  pipeline  {} {}: {}",
                p.sha.get(..7).unwrap_or(&p.sha),
                p.status.word(),
                stages.join(", ")
            );
        }
        let failing: Vec<&str> = env
            .smoke
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  smoke     {}/{} passing{}",
            env.smoke.len() - failing.len(),
            env.smoke.len(),
            if failing.is_empty() {
                String::new()
            } else {
                format!(" (failing: {})", failing.join(", "))
            }
        );
        let current = env
            .errors
            .current_per_minute()
            .map_or("?".to_string(), |c| c.to_string());
        let baseline = env
            .errors
            .baseline_per_minute
            .map_or("?".to_string(), |b| format!("{b:.1}"));
        let age = env
            .health
            .errors
            .age(now)
            .map_or("never".to_string(), |a| format!("{}s ago", a.as_secs()));
        let _ = writeln!(
            out,
            "  errors    {current}/min, baseline {baseline}/min (updated {age})"
        );
    }
    out
}
