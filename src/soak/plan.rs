//! The soak's outage schedule as plain data: which service goes down, how, when and for how
//! long, in simulated time from the start of the run. The same six-hour pattern repeats:
//! minutes-long 5xx answers from GitHub and Sentry, GitHub's primary rate limit used up until
//! its hourly reset, secondary limits (`retry-after`) on both, and hours-long 5xx outages.

use std::time::Duration;

use crate::model::SourceKind;
use crate::sandbox::{FaultEffect, FaultRule};

/// The outside service an outage takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutageService {
    Github,
    Sentry,
}

impl OutageService {
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "GitHub",
            Self::Sentry => "Sentry",
        }
    }

    /// The engine's sources that read from it.
    pub fn sources(self) -> &'static [SourceKind] {
        match self {
            Self::Github => &[
                SourceKind::Deployments,
                SourceKind::Pipeline,
                SourceKind::History,
            ],
            Self::Sentry => &[SourceKind::Errors],
        }
    }
}

/// How the service fails while it is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Every request answers this 5xx status.
    ServerError(u16),
    /// GitHub's primary limit is used up: 403 with the hourly window's reset time. Such an
    /// outage ends at that reset, on a whole simulated hour (the windows start with the run).
    RateLimit,
    /// A secondary limit: 429 with `retry-after` in seconds.
    RetryAfter(u64),
}

/// One outage of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub service: OutageService,
    pub kind: OutageKind,
    /// Simulated time from the start of the run.
    pub starts: Duration,
    pub lasts: Duration,
}

impl Outage {
    pub fn ends(&self) -> Duration {
        self.starts + self.lasts
    }

    pub fn is_active(&self, at: Duration) -> bool {
        self.starts <= at && at < self.ends()
    }

    /// The sandbox rule that makes every request to the service fail this way; none for a
    /// used-up rate limit, which the sandbox's world keeps until its window resets.
    pub fn rule(&self) -> Option<FaultRule> {
        let effect = match self.kind {
            OutageKind::ServerError(status) => FaultEffect::ServerError { status },
            OutageKind::RateLimit => return None,
            OutageKind::RetryAfter(seconds) => FaultEffect::RetryAfter { seconds },
        };
        Some(FaultRule {
            method: None,
            path: "/**".to_string(),
            nth: None,
            effect,
        })
    }

    /// "GitHub 502 for 1h 30m at 3:00".
    pub fn describe(&self) -> String {
        let how = match self.kind {
            OutageKind::ServerError(status) => status.to_string(),
            OutageKind::RateLimit => "rate limit".to_string(),
            OutageKind::RetryAfter(seconds) => format!("retry-after {seconds}s"),
        };
        let at = self.starts.as_secs();
        format!(
            "{} {how} for {} at {}:{:02}",
            self.service.name(),
            humantime::format_duration(self.lasts),
            at / 3600,
            (at % 3600) / 60
        )
    }
}

const HOUR: u64 = 3600;
const MINUTE: u64 = 60;
/// The pattern repeats every six simulated hours.
const PATTERN_HOURS: u64 = 6;
/// Time left after an outage ends for the sources to come back before the run ends.
pub const RECOVERY_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The pattern's outages, relative to the start of one six-hour block. The first hour of a
/// run is left quiet (the warm-up), so the pattern's first hour is quiet too.
fn pattern() -> Vec<Outage> {
    use OutageKind::*;
    use OutageService::*;
    let at = |hours: u64, minutes: u64| Duration::from_secs(hours * HOUR + minutes * MINUTE);
    let long = |minutes: u64| Duration::from_secs(minutes * MINUTE);
    let outage = |service, kind, starts, lasts| Outage {
        service,
        kind,
        starts,
        lasts,
    };
    vec![
        outage(Github, ServerError(502), at(1, 5), long(4)),
        outage(Sentry, ServerError(503), at(1, 15), long(3)),
        outage(Sentry, RetryAfter(120), at(1, 25), long(10)),
        // Used up twenty minutes before the hourly window resets.
        outage(Github, RateLimit, at(1, 40), long(20)),
        outage(Github, RetryAfter(60), at(2, 20), long(10)),
        outage(Github, ServerError(500), at(3, 0), long(90)),
        outage(Sentry, ServerError(502), at(4, 45), long(120)),
        outage(Github, RateLimit, at(5, 30), long(30)),
    ]
}

/// The outages of a run of `hours` simulated hours: the pattern repeated, without the ones
/// that would end less than [`RECOVERY_MARGIN`] before the end.
pub fn outage_plan(hours: u32) -> Vec<Outage> {
    let total = Duration::from_secs(u64::from(hours) * HOUR);
    let mut plan = Vec::new();
    for block in 0..u64::from(hours).div_ceil(PATTERN_HOURS) {
        let offset = Duration::from_secs(block * PATTERN_HOURS * HOUR);
        plan.extend(pattern().into_iter().map(|outage| Outage {
            starts: outage.starts + offset,
            ..outage
        }));
    }
    plan.retain(|outage| outage.ends() + RECOVERY_MARGIN <= total);
    plan.sort_by_key(|outage| outage.starts);
    plan
}

/// What is wrong with a plan for a run of `total`: outages of one service that overlap (their
/// ends could not be told apart), a rate-limit outage that does not end on a whole hour (the
/// sandbox's window resets there), one that ends too late to see the recovery.
pub fn plan_problems(plan: &[Outage], total: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, outage) in plan.iter().enumerate() {
        if outage.lasts.is_zero() {
            problems.push(format!("{} lasts no time", outage.describe()));
        }
        if outage.kind == OutageKind::RateLimit && outage.ends().as_secs() % HOUR != 0 {
            problems.push(format!(
                "{} does not end at the hourly reset",
                outage.describe()
            ));
        }
        if outage.ends() + RECOVERY_MARGIN > total {
            problems.push(format!("{} ends too late", outage.describe()));
        }
        for other in &plan[i + 1..] {
            if other.service == outage.service
                && other.starts < outage.ends()
                && outage.starts < other.ends()
            {
                problems.push(format!(
                    "{} overlaps {}",
                    outage.describe(),
                    other.describe()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_has_short_and_long_outages_of_both_services_and_no_problems() {
        let day = Duration::from_secs(24 * HOUR);
        let plan = outage_plan(24);
        assert!(
            plan_problems(&plan, day).is_empty(),
            "{:?}",
            plan_problems(&plan, day)
        );
        for service in [OutageService::Github, OutageService::Sentry] {
            let lengths: Vec<Duration> = plan
                .iter()
                .filter(|o| o.service == service)
                .map(|o| o.lasts)
                .collect();
            assert!(
                lengths
                    .iter()
                    .any(|l| *l <= Duration::from_secs(10 * MINUTE))
            );
            assert!(lengths.iter().any(|l| *l >= Duration::from_secs(HOUR)));
        }
        assert!(plan.iter().any(|o| o.kind == OutageKind::RateLimit));
        assert!(plan.windows(2).all(|w| w[0].starts <= w[1].starts));
        assert!(plan.iter().all(|o| o.starts >= Duration::from_secs(HOUR)));
    }

    #[test]
    fn a_short_run_keeps_only_the_outages_it_can_see_end() {
        let plan = outage_plan(3);
        let total = Duration::from_secs(3 * HOUR);
        assert!(plan_problems(&plan, total).is_empty());
        assert!(plan.iter().all(|o| o.ends() + RECOVERY_MARGIN <= total));
        let services: Vec<OutageService> = plan.iter().map(|o| o.service).collect();
        assert!(services.contains(&OutageService::Github));
        assert!(services.contains(&OutageService::Sentry));
        assert!(plan.iter().any(|o| o.kind == OutageKind::RateLimit));
        assert!(outage_plan(1).is_empty(), "the first hour is the warm-up");
    }

    #[test]
    fn bad_plans_are_refused() {
        let total = Duration::from_secs(4 * HOUR);
        let outage = |service, kind, starts_min: u64, lasts_min: u64| Outage {
            service,
            kind,
            starts: Duration::from_secs(starts_min * MINUTE),
            lasts: Duration::from_secs(lasts_min * MINUTE),
        };
        let overlapping = [
            outage(OutageService::Github, OutageKind::ServerError(502), 60, 30),
            outage(OutageService::Sentry, OutageKind::ServerError(502), 70, 5),
            outage(OutageService::Github, OutageKind::RetryAfter(60), 80, 5),
        ];
        let problems = plan_problems(&overlapping, total);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("overlaps"));
        let off_the_hour = [outage(OutageService::Github, OutageKind::RateLimit, 60, 25)];
        assert!(plan_problems(&off_the_hour, total)[0].contains("hourly reset"));
        let late = [outage(
            OutageService::Sentry,
            OutageKind::ServerError(500),
            200,
            30,
        )];
        assert!(plan_problems(&late, total)[0].contains("too late"));
    }

    #[test]
    fn an_outage_is_active_from_its_start_until_its_end() {
        let outage = pattern()[0];
        assert_eq!(outage.describe(), "GitHub 502 for 4m at 1:05");
        assert!(!outage.is_active(outage.starts - Duration::from_secs(1)));
        assert!(outage.is_active(outage.starts));
        assert!(!outage.is_active(outage.ends()));
        assert_eq!(
            outage.rule().map(|rule| rule.effect),
            Some(FaultEffect::ServerError { status: 502 })
        );
    }
}
