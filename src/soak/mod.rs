//! The soak run behind `shipdeck bench soak`: the demo's sandbox world, the real engine with
//! the demo's write side (so the guard rolls bad deploys back) and the wall drawn off-screen
//! every simulated minute, on a clock that runs many times faster than the wall, through
//! simulated hours of deploys, rollbacks and the outages of [`plan`]. It records what the
//! snapshot and the wall showed and judges it with the plain functions of [`checks`].

pub mod checks;
pub mod plan;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::clock::Clock;
use crate::config::Credentials;
use crate::engine::{Engine, EngineOptions, PollPolicy, WriteOptions};
use crate::model::{Snapshot, SourceKind};
use crate::sandbox::{Sandbox, SandboxOptions, Scenario, WorldSizes};
use crate::ui::wall::{BannerKind, BannerPolicy, CardState, banners, card_state};
use crate::ui::{App, Msg, Theme, WallSettings};
use checks::{
    CollectionSizes, HeapSplit, MemoryBound, MemoryFigures, Reading, Recovery, Sample, StuckPanel,
};
use plan::{Outage, OutageKind, OutageService};

/// How to soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub hours: u32,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated time between two looks at the snapshot.
    pub tick: Duration,
    /// The first simulated stretch, while panels fill: no outage, not judged.
    pub warmup: Duration,
    /// The size the wall is drawn at.
    pub width: u16,
    pub height: u16,
    /// Where the sandbox's servers run; `None`: on the soak's own runtime. A runtime of its
    /// own keeps the world's work on threads of its own, so a heap profiler can tell the
    /// world's memory from shipdeck's.
    pub sandbox_runtime: Option<tokio::runtime::Handle>,
    /// Reads the live heap split between shipdeck and the sandbox (a counting allocator's
    /// figures), taken with the hourly RSS; `None`: RSS only.
    pub heap_probe: Option<fn() -> HeapSplit>,
}

impl SoakOptions {
    pub fn hours(hours: u32) -> Self {
        Self {
            hours,
            speed: 400.0,
            tick: Duration::from_secs(10),
            warmup: Duration::from_secs(3600),
            width: 160,
            height: 48,
            sandbox_runtime: None,
            heap_probe: None,
        }
    }
}

/// Why the soak could not run (a failed check is a report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("the outage plan is wrong: {0}")]
    Plan(String),
    #[error("the sandbox did not start: {0}")]
    Sandbox(String),
    #[error("the engine did not start: {0}")]
    Engine(String),
    #[error("could not draw the wall: {0}")]
    Draw(String),
}

/// Real time a fetch may take at most beyond its schedule (a few loopback requests, the store),
/// turned into simulated time by the clock's speed.
const FETCH_REAL: Duration = Duration::from_millis(250);
/// Simulated time the smoke source's flow may wait for the worker (its checks' timeout).
const SMOKE_FLOW: Duration = Duration::from_secs(90);
/// Real time a round of smoke checks may take: the sandbox's apps answer after a real delay
/// (smoke checks measure the wall clock), up to 1.6 s for a slow login. On a fast clock that
/// is minutes of simulated time, so the smoke panel's data is older than the others'.
const SMOKE_REAL: Duration = Duration::from_secs(2);
/// Runs, deployments and commits the soak's sandbox keeps: a few hours of the demo's pace,
/// still more than any panel shows or any rollback reaches for.
const SOAK_RUNS_KEPT: usize = 120;
const SOAK_DEPLOYMENTS_KEPT: usize = 80;
const SOAK_COMMITS_KEPT: usize = 200;

/// What a soak measured, and its verdicts.
#[derive(Debug, Clone)]
pub struct SoakReport {
    pub hours: u32,
    pub speed: f64,
    pub real: Duration,
    pub environments: Vec<String>,
    /// Deployments seen (each environment's services, by id).
    pub deploys: usize,
    /// Automatic rollbacks done by the guard.
    pub rollbacks: usize,
    /// The outages as they were applied (times as the run hit them).
    pub outages: Vec<Outage>,
    pub frames: usize,
    /// How late the run's own looks came, at worst (simulated time): a host too busy to keep
    /// up with the clock makes every poll that much later, so the bounds allow for it.
    pub host_lag: Duration,
    /// RSS before the sandbox and the engine started, KiB.
    pub rss_before_kib: u64,
    /// RSS at the start and after every simulated hour, KiB.
    pub rss_hourly_kib: Vec<u64>,
    /// What the soak's own record of its looks held at the end, KiB: taken off each hour's
    /// RSS for the memory verdict.
    pub records_kib: u64,
    pub memory: Option<MemoryFigures>,
    /// The live heap at the start and after every simulated hour, when the run had a probe.
    pub heap_hourly: Vec<HeapSplit>,
    /// shipdeck's own live heap judged like RSS, when the run had a probe.
    pub shipdeck_heap: Option<MemoryFigures>,
    /// The sandbox world's collections at the start and after every simulated hour.
    pub sandbox_hourly: Vec<WorldSizes>,
    /// GitHub reads sent by the engine, and how many of them were answered `304` from its
    /// ETag cache (a cache bounded too tightly would show here).
    pub github_requests: u64,
    pub github_not_modified: u64,
    pub collection_problems: Vec<String>,
    pub recoveries: Vec<Recovery>,
    pub stuck: Vec<StuckPanel>,
}

/// A source's slowest return after an outage, against its bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstRecovery {
    pub source: SourceKind,
    /// How many (outage, environment) recoveries of the source were measured.
    pub outages: usize,
    /// `None`: it never came back.
    pub took: Option<Duration>,
    pub bound: Duration,
    pub all_in_time: bool,
}

impl SoakReport {
    pub fn all_targets_met(&self) -> bool {
        self.memory.is_some_and(|m| m.is_flat())
            && self.shipdeck_heap.is_none_or(|m| m.is_flat())
            && self.collection_problems.is_empty()
            && self.recoveries.iter().all(Recovery::in_time)
            && self.stuck.is_empty()
            && self.deploys > 0
            && self.rollbacks > 0
    }

    /// The worst recovery of each source.
    pub fn worst_recoveries(&self) -> Vec<WorstRecovery> {
        SourceKind::ALL
            .iter()
            .filter_map(|source| {
                let mine: Vec<&Recovery> = self
                    .recoveries
                    .iter()
                    .filter(|r| r.source == *source)
                    .collect();
                // The one furthest over (or least under) its bound.
                let worst = mine.iter().max_by_key(|r| match r.took {
                    None => (1, Duration::MAX),
                    Some(took) => (0, took.saturating_sub(r.bound).max(took)),
                })?;
                Some(WorstRecovery {
                    source: *source,
                    outages: mine.len(),
                    took: worst.took,
                    bound: worst.bound,
                    all_in_time: mine.iter().all(|r| r.in_time()),
                })
            })
            .collect()
    }

    pub fn table(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let yes = |ok: bool| if ok { "yes" } else { "NO" };
        let mut out = String::new();
        let github = self
            .outages
            .iter()
            .filter(|o| o.service == OutageService::Github)
            .count();
        let _ = writeln!(
            out,
            "Soak: {} simulated hours at {}x in {:.1} s real; {} environments ({}); the wall \
             drawn every simulated minute ({} frames)",
            self.hours,
            self.speed,
            self.real.as_secs_f64(),
            self.environments.len(),
            self.environments.join(", "),
            self.frames
        );
        let _ = writeln!(
            out,
            "deploys {}, automatic rollbacks {}, outages {} (GitHub {github}, Sentry {}); \
             host lag at worst {} s simulated",
            self.deploys,
            self.rollbacks,
            self.outages.len(),
            self.outages.len() - github,
            self.host_lag.as_secs()
        );
        let end = self.rss_hourly_kib.last().copied().unwrap_or(0);
        match self.memory {
            Some(memory) => {
                let _ = writeln!(
                    out,
                    "memory (RSS less the soak's own {:.1} MiB of records, MiB): start {:.1}, \
                     after warm-up {:.1}, end {:.1}; median of the last hours {:.1}, limit {:.1}; \
                     flat: {}",
                    mib(self.records_kib),
                    mib(self.rss_before_kib),
                    mib(memory.warm),
                    mib(end.saturating_sub(self.records_kib)),
                    mib(memory.last),
                    mib(memory.limit),
                    yes(memory.is_flat())
                );
            }
            None => {
                let _ = writeln!(out, "memory: no sample after the warm-up; flat: NO");
            }
        }
        let hourly: Vec<String> = self
            .rss_hourly_kib
            .iter()
            .map(|kib| format!("{:.0}", mib(*kib)))
            .collect();
        let _ = writeln!(out, "RSS by the hour (MiB): {}", hourly.join(" "));
        if let Some(heap) = self.shipdeck_heap {
            let by_hour = |get: fn(&HeapSplit) -> u64| {
                self.heap_hourly
                    .iter()
                    .map(|split| format!("{:.1}", mib(get(split))))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                out,
                "shipdeck's live heap (MiB): after warm-up {:.1}, median of the last hours \
                 {:.1}, limit {:.1}; flat: {}",
                mib(heap.warm),
                mib(heap.last),
                mib(heap.limit),
                yes(heap.is_flat())
            );
            let _ = writeln!(
                out,
                "live heap by the hour (MiB): shipdeck {}; sandbox {}",
                by_hour(|split| split.shipdeck_kib),
                by_hour(|split| split.sandbox_kib)
            );
        }
        if let (Some(first), Some(last)) = (self.sandbox_hourly.first(), self.sandbox_hourly.last())
        {
            let _ = writeln!(
                out,
                "sandbox world, start -> end: commits {} -> {}, runs {} -> {}, deployments {} -> \
                 {} ({} -> {} statuses), issues {} -> {} ({} -> {} comments), pulls {} -> {}, \
                 tags {} -> {}, refs {} -> {}, queued events {} -> {}, requests logged {} -> {}",
                first.commits,
                last.commits,
                first.runs,
                last.runs,
                first.deployments,
                last.deployments,
                first.statuses,
                last.statuses,
                first.issues,
                last.issues,
                first.comments,
                last.comments,
                first.pulls,
                last.pulls,
                first.tags,
                last.tags,
                first.other_refs,
                last.other_refs,
                first.queued_events,
                last.queued_events,
                first.requests,
                last.requests
            );
        }
        let _ = writeln!(
            out,
            "GitHub reads: {}, answered 304 from the ETag cache: {}",
            self.github_requests, self.github_not_modified
        );
        let _ = writeln!(
            out,
            "collections within their caps: {}{}",
            yes(self.collection_problems.is_empty()),
            if self.collection_problems.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.collection_problems.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "\nrecovery after an outage ends (simulated time, worst per source):"
        );
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>9} {:>8}",
            "source", "outages", "worst", "one poll", "in time"
        );
        for WorstRecovery {
            source,
            outages: count,
            took: worst,
            bound,
            all_in_time: ok,
        } in self.worst_recoveries()
        {
            let _ = writeln!(
                out,
                "  {:<12} {:>8} {:>8} {:>9} {:>8}",
                format!("{source:?}").to_lowercase(),
                count,
                worst.map_or_else(|| "never".to_string(), |d| format!("{} s", d.as_secs())),
                format!("{} s", bound.as_secs()),
                yes(ok)
            );
        }
        let _ = writeln!(out, "\nstuck panels: {}", self.stuck.len());
        for stuck in self.stuck.iter().take(10) {
            let _ = writeln!(
                out,
                "  at {}: {}",
                humantime::format_duration(stuck.at),
                stuck.what
            );
        }
        out
    }
}

/// The process's resident memory in KiB (`VmRSS` of `/proc/self/status`); 0 where there is
/// none.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The moment the soaked world starts (fixed, so runs compare).
fn world_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// A schedule in simulated time: what the real one amounts to at `speed`.
fn in_world_time(real: PollPolicy, speed: f64) -> PollPolicy {
    let scale = |d: Duration| d.mul_f64(speed);
    PollPolicy {
        busy: scale(real.busy),
        quiet: scale(real.quiet),
        error_base: scale(real.error_base),
        error_cap: scale(real.error_cap),
        history: scale(real.history),
        request_timeout: scale(real.request_timeout),
        // World time already.
        reset_cap: real.reset_cap,
    }
}

/// The sizes the collection check watches, and their caps.
fn collection_sizes(snapshot: &Snapshot) -> CollectionSizes {
    let most = |get: fn(&crate::model::EnvironmentSnapshot) -> usize| {
        snapshot.environments.iter().map(get).max().unwrap_or(0)
    };
    CollectionSizes {
        environments: snapshot.environments.len(),
        log_lines: snapshot.log.len(),
        audit_entries: snapshot.audit.len(),
        error_minutes: most(|env| env.errors.buckets().len()),
        new_error_types: most(|env| env.errors.new_types.len()),
        smoke_results: most(|env| env.smoke.len()),
        guard_deliveries: most(|env| env.guard.deliveries.len()),
    }
}

fn collection_caps(environments: usize, smoke_checks: usize, notifiers: usize) -> CollectionSizes {
    CollectionSizes {
        environments,
        log_lines: crate::engine::store::LOG_LINES_KEPT,
        audit_entries: crate::engine::store::AUDIT_ENTRIES_KEPT,
        error_minutes: crate::model::errors::ERROR_HISTORY_MINUTES,
        new_error_types: 50,
        smoke_results: smoke_checks,
        guard_deliveries: notifiers,
    }
}

/// Starts or ends the outages whose time has come; `applied` holds each one's real start and
/// end (simulated time since the start), as the recovery check must measure from them.
fn apply_outages(
    sandbox: &Sandbox,
    plan: &[Outage],
    applied: &mut [(Option<Duration>, Option<Duration>)],
    at: Duration,
    start: DateTime<Utc>,
) {
    for (outage, (started, ended)) in plan.iter().zip(applied.iter_mut()) {
        let faults = match outage.service {
            OutageService::Github => sandbox.faults(),
            OutageService::Sentry => sandbox.sentry_faults(),
        };
        if started.is_none() && at >= outage.starts {
            *started = Some(at);
            match outage.rule() {
                Some(rule) => faults.add(rule),
                None => {
                    // The world keeps the limit used up until its window resets.
                    let reset = sandbox.use_up_rate_limit();
                    *ended = (reset - start).to_std().ok();
                }
            }
        }
        if ended.is_none() && started.is_some() && at >= outage.ends() {
            faults.clear();
            *ended = Some(at);
        }
    }
}

/// The next moment to look: a tick later, or sooner when an outage starts or ends.
fn next_look(at: Duration, tick: Duration, plan: &[Outage]) -> Duration {
    plan.iter()
        .flat_map(|o| [o.starts, o.ends()])
        .filter(|t| *t > at)
        .fold(at + tick, Duration::min)
}

fn sample(snapshot: &Snapshot, at: Duration, now: DateTime<Utc>, start: DateTime<Utc>) -> Sample {
    let since_start = |t: DateTime<Utc>| (t - start).to_std().unwrap_or_default();
    let readings = snapshot
        .environments
        .iter()
        .map(|env| {
            SourceKind::ALL.map(|kind| {
                let health = env.health.get(kind);
                Reading {
                    last_success: health.last_success.map(since_start),
                    failures_in_a_row: health.failures_in_a_row,
                }
            })
        })
        .collect();
    let mut unsettled: Vec<String> = snapshot
        .environments
        .iter()
        .filter_map(|env| {
            let state = card_state(env, now);
            matches!(state, CardState::Stale { .. } | CardState::NoData)
                .then(|| format!("{}: {}", env.name.as_str(), state.word()))
        })
        .collect();
    unsettled.extend(
        banners(snapshot, now, &BannerPolicy::default())
            .into_iter()
            .filter(|banner| banner.kind == BannerKind::SourceDown)
            .map(|banner| banner.headline),
    );
    Sample {
        at,
        readings,
        unsettled,
    }
}

/// The soak's record of its looks, in lists allocated once up front. A list of samples, each
/// with readings of its own, scatters a small block that lives to the end among every
/// look's short-lived ones; over a day the allocator's heap grows around them, which the RSS
/// verdict would read as shipdeck's.
struct SampleLog {
    environments: usize,
    at: Vec<Duration>,
    readings: Vec<[Reading; 5]>,
    /// Which look (by index) saw what unsettled: rare, only while something is down.
    unsettled: Vec<(usize, String)>,
}

impl SampleLog {
    fn with_capacity(looks: usize, environments: usize) -> Self {
        Self {
            environments,
            at: Vec::with_capacity(looks),
            readings: Vec::with_capacity(looks * environments),
            unsettled: Vec::new(),
        }
    }

    fn push(&mut self, sample: Sample) {
        let index = self.at.len();
        self.at.push(sample.at);
        let mut readings = sample.readings;
        readings.resize(self.environments, [Reading::default(); 5]);
        self.readings.extend(readings);
        self.unsettled
            .extend(sample.unsettled.into_iter().map(|text| (index, text)));
    }

    /// The bytes the record has filled so far: what the RSS verdict takes off, since a record
    /// grows with every look by design and is not shipdeck's (pages of the lists allocated
    /// up front count in RSS once written).
    fn bytes(&self) -> u64 {
        (self.at.len() * std::mem::size_of::<Duration>()
            + self.readings.len() * std::mem::size_of::<[Reading; 5]>()
            + self
                .unsettled
                .iter()
                .map(|(_, text)| std::mem::size_of::<(usize, String)>() + text.capacity())
                .sum::<usize>()) as u64
    }

    /// The bytes allocated since the start: the heap verdict takes these off (the lists
    /// allocated up front count in the heap from the first hour).
    fn grown_bytes(&self) -> u64 {
        self.unsettled
            .iter()
            .map(|(_, text)| text.capacity())
            .sum::<usize>() as u64
            + (self.unsettled.capacity() * std::mem::size_of::<(usize, String)>()) as u64
    }

    fn into_samples(self) -> Vec<Sample> {
        let mut unsettled = self.unsettled.into_iter().peekable();
        self.at
            .iter()
            .enumerate()
            .map(|(index, at)| {
                let first = index * self.environments;
                let mut texts = Vec::new();
                while let Some((_, text)) = unsettled.next_if(|(look, _)| *look == index) {
                    texts.push(text);
                }
                Sample {
                    at: *at,
                    readings: self
                        .readings
                        .get(first..first + self.environments)
                        .map(<[_]>::to_vec)
                        .unwrap_or_default(),
                    unsettled: texts,
                }
            })
            .collect()
    }
}

/// Runs the soak and judges it.
pub async fn run(options: &SoakOptions) -> Result<SoakReport, SoakError> {
    let total = Duration::from_secs(u64::from(options.hours) * 3600);
    let plan = plan::outage_plan(options.hours);
    let problems = plan::plan_problems(&plan, total);
    if !problems.is_empty() {
        return Err(SoakError::Plan(problems.join("; ")));
    }
    let speed = options.speed.max(1.0);
    let rss_before_kib = rss_kib();
    let real_started = Instant::now();
    let start = world_start();
    let clock = Clock::scaled(start, speed);
    // A short history fills within the warm-up, so what the world keeps does not read as
    // growth of shipdeck's after it.
    let scenario = Scenario {
        start: Some(start),
        runs_kept: SOAK_RUNS_KEPT,
        deployments_kept: SOAK_DEPLOYMENTS_KEPT,
        commits_kept: SOAK_COMMITS_KEPT,
        // Nothing in a soak reads the request log back.
        requests_kept: crate::sandbox::LONG_RUN_REQUESTS_KEPT,
        ..Scenario::default_demo()
    };
    let sandbox_options = SandboxOptions {
        scenario,
        clock: clock.clone(),
    };
    let sandbox = match &options.sandbox_runtime {
        Some(runtime) => runtime
            .spawn(Sandbox::start(sandbox_options))
            .await
            .map_err(|e| SoakError::Sandbox(e.to_string()))?,
        None => Sandbox::start(sandbox_options).await,
    }
    .map_err(|e| SoakError::Sandbox(e.to_string()))?;
    let config = crate::config::parse_str(&sandbox.demo_config_with_flow_toml(), "<soak config>")
        .map_err(|e| SoakError::Engine(e.to_string()))?;
    let environments: Vec<String> = config
        .environments
        .iter()
        .map(|env| env.name.get_ref().clone())
        .collect();
    let smoke_checks = config.smoke.len();
    let notifiers = config
        .environments
        .iter()
        .map(|env| env.notifiers.len())
        .max()
        .unwrap_or(0);
    let state_dir = std::env::temp_dir().join(format!(
        "shipdeck-soak-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    // The demo's write side, so the guard rolls bad deploys back; it waits on the world's
    // schedule.
    let mut write = WriteOptions::new(state_dir.clone(), "soak");
    write.timing.poll = write
        .timing
        .poll
        .div_f64(speed)
        .max(Duration::from_millis(100));
    let policy = PollPolicy::default().for_clock_speed(speed);
    let engine = Engine::spawn_full(
        EngineOptions {
            config: Arc::new(config),
            credentials: Credentials::fixed("soak-github-token", "soak-sentry-token"),
            clock: clock.clone(),
            title: format!("soak · {}", sandbox.repo()),
        },
        policy,
        Some(write),
    )
    .map_err(|e| SoakError::Engine(e.to_string()))?;

    let looks = (total.as_secs() / options.tick.as_secs().max(1)) as usize + 2 * plan.len() + 2;
    let mut samples = SampleLog::with_capacity(looks, environments.len());
    let mut rss_hourly_kib = vec![rss_kib()];
    let mut records_hourly_kib = vec![0];
    let mut heap_hourly: Vec<HeapSplit> = options.heap_probe.iter().map(|probe| probe()).collect();
    let mut sandbox_hourly = vec![sandbox.sizes()];
    let mut sizes = Vec::new();
    let mut applied = vec![(None, None); plan.len()];
    let mut deploys = HashSet::new();
    let mut rollbacks = HashSet::new();
    let theme = Theme::default();
    let settings = WallSettings::default();
    let mut app = App::for_actions(None, "wall");
    let mut terminal = Terminal::new(TestBackend::new(options.width, options.height))
        .map_err(|e| SoakError::Draw(e.to_string()))?;
    let snapshots = engine.snapshots();
    let mut frames = 0;
    let mut next_frame = Duration::ZERO;
    let mut next_hour = Duration::from_secs(3600);
    let mut at = Duration::ZERO;
    let mut host_lag = Duration::ZERO;
    let outcome: Result<(), SoakError> = loop {
        if at >= total {
            break Ok(());
        }
        let next = next_look(at, options.tick, &plan).min(total);
        clock
            .sleep_until(start + chrono::TimeDelta::from_std(next).unwrap_or_default())
            .await;
        let now = clock.now();
        at = (now - start).to_std().unwrap_or_default();
        host_lag = host_lag.max(at.saturating_sub(next));
        apply_outages(&sandbox, &plan, &mut applied, at, start);
        let snapshot = Arc::clone(&snapshots.borrow());
        for (index, env) in snapshot.environments.iter().enumerate() {
            for service in &env.services {
                if let Some(latest) = &service.latest {
                    deploys.insert((index, latest.deployment_id));
                }
            }
            if let Some(event) = env.guard.last.as_ref()
                && event.kind.as_str() == "rolled_back"
            {
                rollbacks.insert((index, event.sha.clone(), event.at));
            }
        }
        samples.push(sample(&snapshot, at, now, start));
        if at >= next_frame {
            next_frame = at + Duration::from_secs(60);
            app.update(Msg::Snapshot(Arc::clone(&snapshot)));
            if let Err(error) = terminal.draw(|frame| {
                crate::ui::draw_wall_screen(
                    frame,
                    &app,
                    &snapshot,
                    now,
                    &theme,
                    &settings,
                    Some(frames % environments.len().max(1)),
                );
            }) {
                break Err(SoakError::Draw(error.to_string()));
            }
            frames += 1;
        }
        if at >= next_hour {
            next_hour += Duration::from_secs(3600);
            rss_hourly_kib.push(rss_kib());
            records_hourly_kib.push(samples.bytes() / 1024);
            let records = samples.grown_bytes();
            heap_hourly.extend(
                options
                    .heap_probe
                    .iter()
                    .map(|probe| probe().without_records(records)),
            );
            sandbox_hourly.push(sandbox.sizes());
            sizes.push(collection_sizes(&snapshot));
        }
    };
    let (github_requests, github_not_modified) = engine
        .github_usage()
        .read()
        .iter()
        .fold((0, 0), |(sent, cached), usage| {
            (sent + usage.requests, cached + usage.not_modified)
        });
    engine.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&state_dir);
    outcome?;
    let real = real_started.elapsed();

    let outages: Vec<Outage> = plan
        .iter()
        .zip(&applied)
        .filter_map(|(outage, (started, ended))| {
            let (started, ended) = ((*started)?, (*ended)?);
            Some(Outage {
                starts: started,
                lasts: ended.saturating_sub(started),
                ..*outage
            })
        })
        .collect();
    let allowance = options.tick + FETCH_REAL.mul_f64(speed) + host_lag;
    let policy_for = |source: SourceKind| {
        let real = if source == SourceKind::History {
            policy.for_history()
        } else {
            policy
        };
        in_world_time(real, speed)
    };
    let fresh_for = |source: SourceKind| {
        let schedule = policy_for(source);
        let flow = if source == SourceKind::Smoke {
            SMOKE_FLOW + SMOKE_REAL.mul_f64(speed)
        } else {
            Duration::ZERO
        };
        schedule.quiet.max(schedule.busy) + allowance + flow
    };
    // The longest a source may take to come back: the history's slow schedule, backed off.
    let settle = checks::recovery_bound(
        &policy_for(SourceKind::History),
        u32::MAX - 1,
        OutageKind::RetryAfter(
            plan.iter()
                .filter_map(|o| match o.kind {
                    OutageKind::RetryAfter(seconds) => Some(seconds),
                    _ => None,
                })
                .max()
                .unwrap_or(0),
        ),
        allowance,
    );
    let warmup_hours = (options.warmup.as_secs() / 3600) as usize;
    let samples = samples.into_samples();
    let rss_less_records: Vec<u64> = rss_hourly_kib
        .iter()
        .zip(&records_hourly_kib)
        .map(|(rss, records)| rss.saturating_sub(*records))
        .collect();
    Ok(SoakReport {
        hours: options.hours,
        speed,
        real,
        deploys: deploys.len(),
        rollbacks: rollbacks.len(),
        frames,
        host_lag,
        rss_before_kib,
        memory: checks::memory_figures(&rss_less_records, warmup_hours, MemoryBound::default()),
        rss_hourly_kib,
        records_kib: records_hourly_kib.last().copied().unwrap_or(0),
        shipdeck_heap: options.heap_probe.and_then(|_| {
            let shipdeck: Vec<u64> = heap_hourly.iter().map(|split| split.shipdeck_kib).collect();
            checks::memory_figures(&shipdeck, warmup_hours, MemoryBound::default())
        }),
        heap_hourly,
        sandbox_hourly,
        github_requests,
        github_not_modified,
        collection_problems: checks::collection_problems(
            &sizes,
            &collection_caps(environments.len(), smoke_checks, notifiers),
        ),
        recoveries: checks::recoveries(&samples, &outages, policy_for, allowance),
        stuck: checks::stuck_panels(
            &samples,
            &outages,
            options.warmup,
            settle,
            &environments,
            fresh_for,
        ),
        outages,
        environments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(at: u64, envs: usize, unsettled: &[&str]) -> Sample {
        Sample {
            at: Duration::from_secs(at),
            readings: (0..envs)
                .map(|env| {
                    [Reading {
                        last_success: Some(Duration::from_secs(at - env as u64)),
                        failures_in_a_row: env as u32,
                    }; 5]
                })
                .collect(),
            unsettled: unsettled.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_sample_log_gives_back_every_look_as_taken_and_counts_what_it_filled() {
        let looks = [
            look(10, 3, &[]),
            look(20, 3, &["prod: STALE", "GitHub unreachable"]),
            look(30, 3, &[]),
            look(40, 3, &["dev: NO DATA"]),
        ];
        let mut log = SampleLog::with_capacity(4, 3);
        for sample in looks.iter().cloned() {
            log.push(sample);
        }
        let texts = "prod: STALEGitHub unreachabledev: NO DATA".len() as u64;
        assert_eq!(
            log.bytes(),
            (4 * std::mem::size_of::<Duration>()
                + 12 * std::mem::size_of::<[Reading; 5]>()
                + 3 * std::mem::size_of::<(usize, String)>()) as u64
                + texts
        );
        assert!(log.grown_bytes() >= texts, "{}", log.grown_bytes());
        assert_eq!(log.into_samples(), looks);
        // A look that saw fewer environments (one not loaded yet) is padded, not misaligned.
        let mut log = SampleLog::with_capacity(2, 2);
        log.push(look(10, 1, &[]));
        log.push(look(20, 2, &[]));
        let back = log.into_samples();
        assert_eq!(back[0].readings.len(), 2);
        assert_eq!(back[1], look(20, 2, &[]));
    }

    #[test]
    fn looks_come_every_tick_and_at_every_outage_edge() {
        let plan = plan::outage_plan(3);
        let tick = Duration::from_secs(10);
        let first = plan[0];
        assert_eq!(next_look(Duration::ZERO, tick, &plan), tick);
        let before = first.starts - Duration::from_secs(3);
        assert_eq!(next_look(before, tick, &plan), first.starts);
        assert_eq!(
            next_look(first.ends() - Duration::from_secs(1), tick, &plan),
            first.ends()
        );
    }

    #[test]
    fn a_real_schedule_in_world_time_is_its_intervals_times_the_speed() {
        let real = PollPolicy::default().for_clock_speed(400.0);
        let world = in_world_time(real, 400.0);
        assert_eq!(world.quiet, Duration::from_secs(40), "the 100 ms floor");
        assert_eq!(world.error_cap, Duration::from_secs(300));
        assert_eq!(world.reset_cap, PollPolicy::default().reset_cap);
    }

    /// A report whose every target is met, RSS flat, no heap probe.
    fn passing_report() -> SoakReport {
        SoakReport {
            hours: 4,
            speed: 400.0,
            real: Duration::from_secs(36),
            environments: vec!["prod".to_string()],
            deploys: 10,
            rollbacks: 1,
            outages: Vec::new(),
            frames: 240,
            host_lag: Duration::ZERO,
            rss_before_kib: 7_000,
            rss_hourly_kib: vec![20_000, 30_000, 31_000, 31_000, 31_500],
            records_kib: 300,
            memory: checks::memory_figures(&[20_000, 30_000, 31_000], 1, MemoryBound::default()),
            heap_hourly: Vec::new(),
            shipdeck_heap: None,
            sandbox_hourly: vec![WorldSizes::default(); 5],
            github_requests: 100,
            github_not_modified: 60,
            collection_problems: Vec::new(),
            recoveries: Vec::new(),
            stuck: Vec::new(),
        }
    }

    #[test]
    fn a_growing_shipdeck_heap_fails_the_soak_even_when_rss_looks_flat() {
        let report = passing_report();
        assert!(report.all_targets_met(), "{}", report.table());
        assert!(!report.table().contains("shipdeck's live heap"));
        // The sandbox's share hides a leak of shipdeck's in the process's RSS.
        let heap_hourly: Vec<HeapSplit> = [(2_000, 4_000), (8_000, 3_000), (16_000, 500)]
            .map(|(shipdeck_kib, sandbox_kib)| HeapSplit {
                shipdeck_kib,
                sandbox_kib,
            })
            .to_vec();
        let growing = SoakReport {
            shipdeck_heap: checks::memory_figures(
                &[2_000, 8_000, 9_000, 20_000, 40_000],
                1,
                MemoryBound::default(),
            ),
            heap_hourly,
            ..passing_report()
        };
        assert!(!growing.all_targets_met());
        let table = growing.table();
        assert!(table.contains("shipdeck's live heap"), "{table}");
        assert!(
            table.contains("shipdeck 2.0 7.8 15.6; sandbox 3.9 2.9 0.5"),
            "{table}"
        );
    }

    #[test]
    fn resident_memory_is_read_from_proc() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(rss_kib() > 0);
        }
    }
}
