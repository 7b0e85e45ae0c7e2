//! The soak's verdicts, each a plain function over what the run recorded: memory stays flat,
//! the snapshot's collections stay within their caps, every source is back within one poll
//! after an outage ends, and no panel stays stale once its source is back. Times are
//! simulated time since the start of the run.

use std::time::Duration;

use super::plan::{Outage, OutageKind};
use crate::engine::schedule::{PollInputs, PollPolicy, next_delay};
use crate::model::SourceKind;

/// What one source of one environment showed at a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    pub last_success: Option<Duration>,
    pub failures_in_a_row: u32,
}

/// One look at the published snapshot and the wall drawn from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub at: Duration,
    /// Per environment, one reading per source in [`SourceKind::ALL`] order.
    pub readings: Vec<[Reading; 5]>,
    /// What the wall showed that says a source is not back: "prod: STALE", a banner.
    pub unsettled: Vec<String>,
}

/// The position of `source` in a sample's readings.
pub fn source_index(source: SourceKind) -> usize {
    SourceKind::ALL
        .iter()
        .position(|kind| *kind == source)
        .unwrap_or(0)
}

/// The median of some numbers (the lower middle of an even count); 0 for none.
fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// How far memory may rise from the warm-up to the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryBound {
    /// Share of the warm-up figure.
    pub ratio: f64,
    /// On top of it: allocator noise that says nothing about a leak.
    pub slack_kib: u64,
}

impl Default for MemoryBound {
    fn default() -> Self {
        Self {
            ratio: 0.15,
            slack_kib: 8 * 1024,
        }
    }
}

/// The medians the memory verdict compares, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFigures {
    pub warm: u64,
    pub last: u64,
    pub limit: u64,
}

impl MemoryFigures {
    pub fn is_flat(&self) -> bool {
        self.last <= self.limit
    }
}

/// Memory (hourly RSS samples in KiB, the first at the start) is flat when the median of the
/// last quarter of the hours stays within `bound` of the median of the three hours after
/// `warmup_hours`. `None` without a sample after the warm-up.
pub fn memory_figures(
    hourly_kib: &[u64],
    warmup_hours: usize,
    bound: MemoryBound,
) -> Option<MemoryFigures> {
    let after_warmup = hourly_kib.get(warmup_hours..).filter(|s| !s.is_empty())?;
    let warm = median(&after_warmup[..after_warmup.len().min(3)]);
    let tail = (after_warmup.len() / 4).max(1);
    let last = median(&after_warmup[after_warmup.len() - tail..]);
    let limit = warm + (warm as f64 * bound.ratio) as u64 + bound.slack_kib;
    Some(MemoryFigures { warm, last, limit })
}

/// Live heap at one moment, split by who allocated it, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapSplit {
    /// shipdeck's engine and UI (the soak's own record of its samples taken off).
    pub shipdeck_kib: u64,
    /// The sandbox world and its servers.
    pub sandbox_kib: u64,
}

impl HeapSplit {
    /// The split with the soak's own records (`records_bytes`) taken off shipdeck's side:
    /// they grow with every look by design and are not shipdeck's.
    pub fn without_records(self, records_bytes: u64) -> HeapSplit {
        HeapSplit {
            shipdeck_kib: self.shipdeck_kib.saturating_sub(records_bytes / 1024),
            ..self
        }
    }
}

/// The sizes of the snapshot's collections that a long run could grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionSizes {
    pub environments: usize,
    pub log_lines: usize,
    pub audit_entries: usize,
    /// The longest error series of any environment, in minutes.
    pub error_minutes: usize,
    pub new_error_types: usize,
    pub smoke_results: usize,
    pub guard_deliveries: usize,
}

/// Each collection against its cap: the problems, empty when all stay within.
pub fn collection_problems(samples: &[CollectionSizes], caps: &CollectionSizes) -> Vec<String> {
    let mut problems = Vec::new();
    type SizeOf = fn(&CollectionSizes) -> usize;
    let fields: [(&str, SizeOf); 7] = [
        ("environments", |s| s.environments),
        ("log lines", |s| s.log_lines),
        ("audit entries", |s| s.audit_entries),
        ("error minutes", |s| s.error_minutes),
        ("new error types", |s| s.new_error_types),
        ("smoke results", |s| s.smoke_results),
        ("guard deliveries", |s| s.guard_deliveries),
    ];
    for (name, get) in fields {
        let most = samples.iter().map(get).max().unwrap_or(0);
        if most > get(caps) {
            problems.push(format!("{name}: {most} > {}", get(caps)));
        }
    }
    problems
}

/// How one source of one environment came back after one outage.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub env: usize,
    pub source: SourceKind,
    /// When the outage ended.
    pub outage_end: Duration,
    /// From the end to the first good answer after it; `None`: never came back.
    pub took: Option<Duration>,
    /// One poll of the source's schedule at that moment, plus the time a fetch takes.
    pub bound: Duration,
}

impl Recovery {
    pub fn in_time(&self) -> bool {
        self.took.is_some_and(|took| took <= self.bound)
    }
}

/// One poll after an outage: the longer of the quiet interval and the wait the schedule
/// gives after `failures_at_end + 1` failures (a fetch in flight at the end may still fail),
/// never shorter than the outage's `retry-after`; plus `allowance` for the fetch itself.
/// `policy` is in simulated time.
pub fn recovery_bound(
    policy: &PollPolicy,
    failures_at_end: u32,
    kind: OutageKind,
    allowance: Duration,
) -> Duration {
    let retry_after = match kind {
        OutageKind::RetryAfter(seconds) => Some(Duration::from_secs(seconds)),
        OutageKind::ServerError(_) | OutageKind::RateLimit => None,
    };
    let backoff = next_delay(
        policy,
        &PollInputs {
            consecutive_errors: failures_at_end.saturating_add(1),
            retry_after,
            ..Default::default()
        },
    );
    policy.quiet.max(backoff) + allowance
}

/// For every outage, environment and source it took down: how long the source took to
/// answer well again. `policy_for` gives a source's schedule in simulated time.
pub fn recoveries(
    samples: &[Sample],
    plan: &[Outage],
    policy_for: impl Fn(SourceKind) -> PollPolicy,
    allowance: Duration,
) -> Vec<Recovery> {
    let envs = samples.first().map_or(0, |s| s.readings.len());
    let mut out = Vec::new();
    for outage in plan {
        let end = outage.ends();
        for env in 0..envs {
            for source in outage.service.sources() {
                let index = source_index(*source);
                let reading = |sample: &Sample| {
                    sample
                        .readings
                        .get(env)
                        .map(|r| r[index])
                        .unwrap_or_default()
                };
                let failures_at_end = samples
                    .iter()
                    .take_while(|s| s.at <= end)
                    .last()
                    .map_or(0, |s| reading(s).failures_in_a_row);
                let took = samples
                    .iter()
                    .filter_map(|s| reading(s).last_success)
                    .find(|success| *success >= end)
                    .map(|success| success - end);
                out.push(Recovery {
                    env,
                    source: *source,
                    outage_end: end,
                    took,
                    bound: recovery_bound(
                        &policy_for(*source),
                        failures_at_end,
                        outage.kind,
                        allowance,
                    ),
                });
            }
        }
    }
    out
}

/// A panel that was not fresh when every source should have been back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckPanel {
    pub at: Duration,
    pub what: String,
}

/// The samples taken after `warmup`, with no outage going on and the last one over for at
/// least `settle`, where something is not fresh: a source failing, data older than
/// `fresh_for(source)`, or the wall showing STALE, NO DATA or a source banner.
pub fn stuck_panels(
    samples: &[Sample],
    plan: &[Outage],
    warmup: Duration,
    settle: Duration,
    env_names: &[String],
    fresh_for: impl Fn(SourceKind) -> Duration,
) -> Vec<StuckPanel> {
    let settled = |at: Duration| {
        at >= warmup
            && plan
                .iter()
                .all(|o| at < o.starts || at >= o.ends() + settle)
    };
    let mut stuck = Vec::new();
    for sample in samples.iter().filter(|s| settled(s.at)) {
        let mut problems: Vec<String> = sample.unsettled.clone();
        for (env, readings) in sample.readings.iter().enumerate() {
            let name = env_names.get(env).map_or("?", String::as_str);
            for (source, reading) in SourceKind::ALL.iter().zip(readings) {
                let age = reading
                    .last_success
                    .map(|success| sample.at.saturating_sub(success));
                if reading.failures_in_a_row > 0 {
                    problems.push(format!("{name} {source:?} failing"));
                } else if age.is_none_or(|age| age > fresh_for(*source)) {
                    problems.push(format!("{name} {source:?} data {age:?} old"));
                }
            }
        }
        stuck.extend(problems.into_iter().map(|what| StuckPanel {
            at: sample.at,
            what,
        }));
    }
    stuck
}

#[cfg(test)]
mod tests {
    use super::super::plan::OutageService;
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn policy() -> PollPolicy {
        PollPolicy {
            busy: secs(10),
            quiet: secs(40),
            error_base: secs(40),
            error_cap: secs(300),
            reset_cap: secs(3600),
            history: secs(300),
            request_timeout: secs(120),
        }
    }

    fn outage(kind: OutageKind, starts: u64, lasts: u64) -> Outage {
        Outage {
            service: OutageService::Sentry,
            kind,
            starts: secs(starts),
            lasts: secs(lasts),
        }
    }

    /// One environment whose errors source reads `(last_success, failures)` at each time.
    fn errors_samples(points: &[(u64, Option<u64>, u32)]) -> Vec<Sample> {
        points
            .iter()
            .map(|(at, success, failures)| {
                let mut readings = [Reading {
                    last_success: Some(secs(*at)),
                    failures_in_a_row: 0,
                }; 5];
                readings[source_index(SourceKind::Errors)] = Reading {
                    last_success: success.map(secs),
                    failures_in_a_row: *failures,
                };
                Sample {
                    at: secs(*at),
                    readings: vec![readings],
                    unsettled: Vec::new(),
                }
            })
            .collect()
    }

    #[test]
    fn flat_memory_passes_and_a_leak_does_not() {
        let bound = MemoryBound {
            ratio: 0.1,
            slack_kib: 1000,
        };
        let flat = [
            30_000, 50_000, 51_000, 50_500, 52_000, 50_800, 51_500, 51_000,
        ];
        let figures = memory_figures(&flat, 1, bound).unwrap();
        assert_eq!(figures.warm, 50_500);
        assert!(figures.is_flat(), "{figures:?}");
        let leak: Vec<u64> = (0..25).map(|h| 50_000 + h * 2_000).collect();
        assert!(!memory_figures(&leak, 1, bound).unwrap().is_flat());
        assert_eq!(memory_figures(&[40_000], 1, bound), None);
        // A short run: one sample after the warm-up is its own warm-up and end.
        assert!(memory_figures(&[10, 20], 1, bound).unwrap().is_flat());
    }

    #[test]
    fn the_soaks_records_come_off_shipdecks_side_of_the_heap() {
        let split = HeapSplit {
            shipdeck_kib: 10,
            sandbox_kib: 3,
        };
        assert_eq!(
            split.without_records(4 * 1024 + 100),
            HeapSplit {
                shipdeck_kib: 6,
                sandbox_kib: 3
            }
        );
        assert_eq!(split.without_records(1 << 30).shipdeck_kib, 0);
    }

    #[test]
    fn a_collection_past_its_cap_is_named() {
        let caps = CollectionSizes {
            environments: 3,
            log_lines: 500,
            audit_entries: 200,
            error_minutes: 360,
            new_error_types: 50,
            smoke_results: 8,
            guard_deliveries: 4,
        };
        let within = CollectionSizes {
            log_lines: 500,
            ..caps
        };
        assert!(collection_problems(&[within, within], &caps).is_empty());
        let grown = CollectionSizes {
            error_minutes: 361,
            ..caps
        };
        assert_eq!(
            collection_problems(&[within, grown], &caps),
            vec!["error minutes: 361 > 360".to_string()]
        );
    }

    #[test]
    fn one_poll_is_the_backoff_after_the_failures_or_the_retry_after() {
        let allowance = secs(30);
        assert_eq!(
            recovery_bound(&policy(), 0, OutageKind::ServerError(502), allowance),
            secs(70),
            "a source that never failed: the quiet interval (its first failure waits as long)"
        );
        assert_eq!(
            recovery_bound(&policy(), 2, OutageKind::ServerError(502), allowance),
            secs(190)
        );
        assert_eq!(
            recovery_bound(&policy(), 9, OutageKind::RateLimit, allowance),
            secs(330),
            "capped"
        );
        assert_eq!(
            recovery_bound(&policy(), 0, OutageKind::RetryAfter(120), allowance),
            secs(150)
        );
    }

    #[test]
    fn recovery_is_measured_from_the_end_to_the_first_good_answer() {
        let plan = [outage(OutageKind::ServerError(502), 100, 200)];
        let samples = errors_samples(&[
            (90, Some(80), 0),
            (200, Some(80), 2),
            (300, Some(80), 3),
            (350, Some(80), 3),
            (400, Some(390), 0),
            (500, Some(460), 0),
        ]);
        let found = recoveries(&samples, &plan, |_| policy(), secs(30));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].source, SourceKind::Errors);
        assert_eq!(found[0].took, Some(secs(90)));
        assert_eq!(found[0].bound, secs(330));
        assert!(found[0].in_time());
        // Never back.
        let never = errors_samples(&[(200, Some(80), 2), (900, Some(80), 9)]);
        let found = recoveries(&never, &plan, |_| policy(), secs(30));
        assert_eq!(found[0].took, None);
        assert!(!found[0].in_time());
        // Back, but later than one poll.
        let late = errors_samples(&[(300, Some(80), 1), (900, Some(850), 0)]);
        assert!(!recoveries(&late, &plan, |_| policy(), secs(30))[0].in_time());
    }

    #[test]
    fn a_panel_still_stale_after_the_settling_time_is_stuck() {
        let plan = [outage(OutageKind::ServerError(502), 1000, 100)];
        let names = vec!["prod".to_string()];
        let fresh = |_| secs(100);
        let mut samples = errors_samples(&[
            (500, Some(450), 0),
            (1050, Some(950), 3),
            (1200, Some(950), 3),
            (1500, Some(1480), 0),
        ]);
        // Failing during the outage and while it settles is expected.
        let stuck = stuck_panels(&samples, &plan, secs(100), secs(300), &names, fresh);
        assert!(stuck.is_empty(), "{stuck:?}");
        // Still failing after it settled.
        samples.push(errors_samples(&[(1600, Some(1480), 1)]).remove(0));
        let stuck = stuck_panels(&samples, &plan, secs(100), secs(300), &names, fresh);
        assert_eq!(stuck.len(), 1);
        assert_eq!(stuck[0].what, "prod Errors failing");
        // Back but its data too old, and the wall still saying STALE.
        let mut old = errors_samples(&[(1700, Some(1480), 0)]);
        old[0].unsettled.push("prod: STALE".to_string());
        let stuck = stuck_panels(&old, &plan, secs(100), secs(300), &names, fresh);
        let what: Vec<&str> = stuck.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(what, ["prod: STALE", "prod Errors data Some(220s) old"]);
        // The warm-up is not judged.
        assert!(stuck_panels(&old, &[], secs(2000), secs(0), &names, fresh).is_empty());
    }
}
