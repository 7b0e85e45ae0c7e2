//! The Sentry subset: `events-stats` (per-minute error counts with seeded noise around each
//! environment's base rate, zero-filled) and the organization issues list (issue JSON after
//! Sentry's published schema, filtered by environment, project and a tolerant `query`).
//!
//! Errors follow what ran at each minute, not what runs now: a minute in which an
//! `error_spike` commit was running counts `error_spike_factor` times the base rate, and each
//! stretch of time a `new_error_type` commit ran brings an issue of its own, in that commit's
//! release. A rollback ends both; past minutes and issues keep what they had.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::http::{ApiError, Query};
use super::scenario::DefectKind;
use super::world::{RunningHistory, RunningPeriod, World};

pub const ORG: &str = "acme";
/// Numeric project ids with their slugs and the share of the error traffic they get.
pub const PROJECTS: [(u64, &str, f64); 2] = [(4501, "shop-web", 0.8), (4502, "shop-worker", 0.2)];

/// Sentry refuses to build more buckets than this in one answer.
const MAX_BUCKETS: i64 = 10_080;

pub fn get(world: &World, segments: &[&str], query: &Query) -> Result<Value, ApiError> {
    match segments {
        ["api", "0", "organizations", org, "events-stats"] if *org == ORG => {
            events_stats(world, query)
        }
        ["api", "0", "organizations", org, "issues"] if *org == ORG => issues(world, query),
        _ => Err(ApiError::NotFound),
    }
}

fn selected_projects(query: &Query) -> Result<Vec<(u64, &'static str, f64)>, ApiError> {
    let mut wanted = Vec::new();
    for raw in query.get_all("project").filter(|p| !p.is_empty()) {
        let id: i64 = raw.parse().map_err(|_| {
            ApiError::BadRequest("Invalid project parameter. Values must be numbers.".to_string())
        })?;
        if id == -1 {
            return Ok(PROJECTS.to_vec());
        }
        wanted.push(id);
    }
    if wanted.is_empty() {
        return Ok(PROJECTS.to_vec());
    }
    let projects: Vec<_> = PROJECTS
        .iter()
        .copied()
        .filter(|(id, _, _)| wanted.contains(&(*id as i64)))
        .collect();
    if projects.len() != wanted.len() {
        return Err(ApiError::BadRequest(
            "You do not have permission to perform this action.".to_string(),
        ));
    }
    Ok(projects)
}

fn selected_environments(world: &World, query: &Query) -> Vec<String> {
    let named: Vec<String> = query
        .get_all("environment")
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    if named.is_empty() {
        world.scenario.error_rates.keys().cloned().collect()
    } else {
        named
    }
}

/// Parses `30s`, `15m`, `1h`, `14d`, `2w` (Sentry's period and interval syntax).
pub fn parse_period(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 604_800,
        _ => return None,
    };
    (seconds > 0).then(|| TimeDelta::seconds(seconds))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    text.parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// Errors of one environment (`running`: what ran there, from [`World::running_history`])
/// and project in the minute starting at `minute` (whole minutes only; the current minute
/// counts in proportion to how much of it has passed). A minute that began while an
/// `error_spike` commit was running has its rate multiplied by `error_spike_factor`.
pub fn minute_count(
    world: &World,
    running: &RunningHistory,
    project: (u64, &str, f64),
    minute: i64,
    now: DateTime<Utc>,
) -> u64 {
    let elapsed = now.timestamp() - minute;
    if elapsed <= 0 {
        return 0;
    }
    let environment = running.environment.as_str();
    let spiking = DateTime::from_timestamp(minute, 0)
        .is_some_and(|at| running.defect_at(at) == Some(DefectKind::ErrorSpike));
    let factor = if spiking {
        world.scenario.error_spike_factor
    } else {
        1.0
    };
    let mean = world.scenario.error_rate(environment) * project.2 * factor;
    let key = environment.bytes().fold(project.0, |h, b| {
        h.wrapping_mul(131).wrapping_add(u64::from(b))
    });
    let mut rng = world.rng(b"errors", key ^ (minute as u64).wrapping_mul(0x9E37_79B9));
    let full = poisson(&mut rng, mean);
    if elapsed >= 60 {
        full
    } else {
        full * elapsed as u64 / 60
    }
}

fn poisson(rng: &mut impl Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 40.0 {
        // Normal approximation; Knuth's product underflows for large means.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as u64;
    }
    let limit = (-mean).exp();
    let mut product: f64 = rng.random_range(0.0..1.0);
    let mut count = 0;
    while product > limit {
        product *= rng.random_range(0.0..1.0);
        count += 1;
    }
    count
}

fn events_stats(world: &World, query: &Query) -> Result<Value, ApiError> {
    let now = world.now;
    let projects = selected_projects(query)?;
    let environments = selected_environments(world, query);
    let interval = match query.get("interval") {
        Some(text) => parse_period(text)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid interval: {text:.20}")))?,
        None => TimeDelta::hours(1),
    };
    let interval_secs = interval.num_seconds().max(60) / 60 * 60;
    let (start, end) = match (
        query.get("start").and_then(parse_time),
        query.get("end").and_then(parse_time),
    ) {
        (Some(start), Some(end)) => (start, end.min(now)),
        _ => {
            let period = query
                .get("statsPeriod")
                .and_then(parse_period)
                .unwrap_or(TimeDelta::hours(24));
            (now - period, now)
        }
    };
    if end <= start {
        return Err(ApiError::BadRequest("start must be before end".to_string()));
    }
    let first = start.timestamp().div_euclid(interval_secs) * interval_secs;
    let buckets = (end.timestamp() - first).div_euclid(interval_secs) + 1;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::BadRequest(
            "Your interval and date range would create too many results. Use a larger interval, or a smaller date range.".to_string(),
        ));
    }
    // Once per request: a 6-hour series asks what ran at each of 360 minutes.
    let histories: Vec<RunningHistory> = environments
        .iter()
        .map(|environment| world.running_history(environment))
        .collect();
    let data: Vec<Value> = (0..buckets)
        .map(|i| {
            let bucket = first + i * interval_secs;
            let count: u64 = (0..interval_secs / 60)
                .map(|m| bucket + m * 60)
                .map(|minute| {
                    histories
                        .iter()
                        .flat_map(|running| projects.iter().map(move |project| (running, *project)))
                        .map(|(running, project)| {
                            minute_count(world, running, project, minute, now)
                        })
                        .sum::<u64>()
                })
                .sum();
            // Sentry answers an empty bucket either way; both shapes occur in the wild.
            if count == 0 && (bucket / 60) % 2 == 0 {
                json!([bucket, []])
            } else {
                json!([bucket, [{ "count": count }]])
            }
        })
        .collect();
    Ok(json!({
        "data": data,
        "start": first,
        "end": end.timestamp(),
        "isMetricsData": false,
        "meta": {
            "fields": { "time": "date", "count": "integer" },
            "units": { "time": null, "count": null },
            "isMetricsData": false,
            "tips": { "query": null, "columns": null },
            "datasetReason": "unchanged",
            "dataset": "errors",
        },
    }))
}

/// A known error type of the world.
struct IssueSeed {
    title: &'static str,
    culprit: &'static str,
    kind: &'static str,
    level: &'static str,
    project: usize,
    environments: &'static [&'static str],
    /// Seconds from the scenario start (negative: seen before it).
    first_seen: i64,
    per_hour: u64,
}

const ISSUES: [IssueSeed; 7] = [
    IssueSeed {
        title: "TypeError: Cannot read properties of undefined (reading 'price')",
        culprit: "src/cart/service.ts in computeTotals",
        kind: "TypeError",
        level: "error",
        project: 0,
        environments: &["dev", "staging", "prod"],
        first_seen: -9 * 86_400,
        per_hour: 240,
    },
    IssueSeed {
        title: "TimeoutError: payment provider did not answer within 10000ms",
        culprit: "src/payments/webhook.ts in confirmCharge",
        kind: "TimeoutError",
        level: "error",
        project: 0,
        environments: &["staging", "prod"],
        first_seen: -3 * 86_400,
        per_hour: 120,
    },
    IssueSeed {
        title: "QueryFailedError: deadlock detected",
        culprit: "worker/jobs/sync-inventory.ts in run",
        kind: "QueryFailedError",
        level: "error",
        project: 1,
        environments: &["prod"],
        first_seen: -26 * 3600,
        per_hour: 30,
    },
    IssueSeed {
        title: "Warning: slow render of <ProductGrid> (1830ms)",
        culprit: "src/search/suggest.ts in render",
        kind: "Warning",
        level: "warning",
        project: 0,
        environments: &["dev", "staging"],
        first_seen: -2 * 86_400,
        per_hour: 60,
    },
    IssueSeed {
        title: "Error: invalid receipt line \u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}gnp.tpiecer",
        culprit: "worker/jobs/receipts.ts in printLine",
        kind: "Error",
        level: "error",
        project: 1,
        environments: &["staging", "prod"],
        first_seen: -5 * 3600,
        per_hour: 12,
    },
    IssueSeed {
        title: "RangeError: Invalid time value",
        culprit: "src/reports/weekly.ts in formatWeek",
        kind: "RangeError",
        level: "error",
        project: 0,
        environments: &["staging"],
        first_seen: 25 * 60,
        per_hour: 40,
    },
    IssueSeed {
        title: "KeyError: 'currency' in 支払い webhook",
        culprit: "src/payments/webhook.ts in parseEvent",
        kind: "KeyError",
        level: "error",
        project: 0,
        environments: &["prod"],
        first_seen: 55 * 60,
        per_hour: 90,
    },
];

/// The error types a `new_error_type` commit brings: (title, culprit, type, project index).
/// Which one a commit brings depends on its sha.
const DEFECT_ISSUES: [(&str, &str, &str, usize); 6] = [
    (
        "ReferenceError: discountCode is not defined",
        "src/checkout/coupon.ts in applyDiscount",
        "ReferenceError",
        0,
    ),
    (
        "TypeError: Cannot read properties of null (reading 'sku')",
        "src/cart/line-items.ts in mergeLines",
        "TypeError",
        0,
    ),
    (
        "SyntaxError: Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
        "src/payments/client.ts in parseIntent",
        "SyntaxError",
        0,
    ),
    (
        "RangeError: Maximum call stack size exceeded",
        "src/search/facets.ts in buildFacetTree",
        "RangeError",
        0,
    ),
    (
        "TypeError: order.items.map is not a function",
        "worker/jobs/export-orders.ts in toCsvRows",
        "TypeError",
        1,
    ),
    (
        "Error: connect ECONNREFUSED 10.0.3.17:6379",
        "worker/jobs/cache-warm.ts in connectRedis",
        "Error",
        1,
    ),
];

/// Events per hour of a defect's issue while its commit runs (about two a minute).
const DEFECT_ISSUE_PER_HOUR: u64 = 120;

/// One issue as the list shows it, whether seeded or brought by a defective commit.
struct IssueView<'a> {
    id: u64,
    short_id: String,
    title: &'a str,
    culprit: &'a str,
    kind: &'a str,
    level: &'a str,
    project: usize,
    /// The environments it has events in.
    environments: Vec<&'a str>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    count: u64,
    per_hour: u64,
    /// Still happening (its hourly stats run up to now rather than to `last_seen`).
    ongoing: bool,
    /// The release (commit sha) it was first seen in; unknown for the seeded ones, which
    /// happen in every release.
    release: Option<&'a str>,
}

fn seeded_issue<'a>(
    world: &'a World,
    index: usize,
    seed: &'static IssueSeed,
) -> Option<IssueView<'a>> {
    let now = world.now;
    let first_seen = world.start + TimeDelta::seconds(seed.first_seen);
    if first_seen > now {
        return None;
    }
    let minutes = (now - first_seen).num_minutes().max(1) as u64;
    let (_, slug, _) = PROJECTS.get(seed.project)?;
    Some(IssueView {
        id: 5_100_000_000u64 + index as u64 * 7919,
        short_id: format!("{}-{}", slug.to_uppercase(), 400 + index * 13),
        title: seed.title,
        culprit: seed.culprit,
        kind: seed.kind,
        level: seed.level,
        project: seed.project,
        environments: seed
            .environments
            .iter()
            .flat_map(|name| world.topology.playing(name))
            .collect(),
        first_seen,
        last_seen: (now - TimeDelta::seconds((index as i64 * 17) % 50)).max(first_seen),
        count: 1 + minutes * seed.per_hour / 60,
        per_hour: seed.per_hour,
        ongoing: true,
        release: None,
    })
}

/// The issue a `new_error_type` commit brought while it ran (`period`), once its first
/// error has arrived.
fn defect_issue<'a>(
    world: &World,
    environment: &'a str,
    period: &'a RunningPeriod,
) -> Option<IssueView<'a>> {
    if period.defect != Some(DefectKind::NewErrorType) {
        return None;
    }
    let now = world.now;
    // Past ten years it never shows; the bound keeps the sum in range.
    let delay = world
        .scenario
        .new_error_type_after_secs
        .min(10 * 365 * 86_400) as i64;
    let first_seen = period.from + TimeDelta::seconds(delay);
    let ended = period.until.map_or(now, |until| until.min(now));
    if first_seen > ended {
        return None;
    }
    let pick = period
        .sha
        .get(..8)
        .and_then(|prefix| u64::from_str_radix(prefix, 16).ok())
        .unwrap_or(0) as usize;
    let (title, culprit, kind, project) = DEFECT_ISSUES[pick % DEFECT_ISSUES.len()];
    let (_, slug, _) = PROJECTS.get(project)?;
    let minutes = (ended - first_seen).num_minutes().max(0) as u64;
    Some(IssueView {
        id: 5_900_000_000u64 + period.deployment_id % 100_000_000,
        short_id: format!(
            "{}-{}",
            slug.to_uppercase(),
            900 + period.deployment_id % 9000
        ),
        title,
        culprit,
        kind,
        level: "error",
        project,
        environments: vec![environment],
        first_seen,
        last_seen: ended,
        count: 1 + minutes * DEFECT_ISSUE_PER_HOUR / 60,
        per_hour: DEFECT_ISSUE_PER_HOUR,
        ongoing: period.until.is_none_or(|until| until > now),
        release: Some(period.sha.as_str()),
    })
}

fn issue_filter_first_seen(term: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = term.trim_start_matches(['>', '<', '=']);
    if let Some(relative) = value.strip_prefix('-') {
        return parse_period(relative).map(|period| now - period);
    }
    parse_time(value)
}

fn issues(world: &World, query: &Query) -> Result<Value, ApiError> {
    let now = world.now;
    let projects = selected_projects(query)?;
    let environments: Vec<&str> = query
        .get_all("environment")
        .filter(|e| !e.is_empty())
        .collect();
    // Every issue was seen within the last minute, so `statsPeriod` narrows nothing.
    let mut status: Option<&str> = None;
    let mut first_seen_after: Option<DateTime<Utc>> = None;
    let mut level: Option<&str> = None;
    let mut text: Vec<String> = Vec::new();
    for term in query.get("query").unwrap_or("").split_whitespace() {
        match term.split_once(':') {
            Some(("is", value)) => status = Some(value),
            Some(("firstSeen", value)) => first_seen_after = issue_filter_first_seen(value, now),
            Some(("level", value)) => level = Some(value),
            // Other keys (release:, assigned:, ...) narrow nothing here.
            Some(_) => {}
            None => text.push(term.to_lowercase()),
        }
    }
    let histories: Vec<RunningHistory> = world
        .topology
        .environments()
        .iter()
        .filter(|e| world.scenario.defects_show_in(&e.name))
        .map(|e| world.running_history(&e.name))
        .collect();
    // The defects' issues newest first, after the seeded ones: a `limit` cuts the oldest.
    let mut brought: Vec<IssueView> = histories
        .iter()
        .flat_map(|history| {
            history
                .periods
                .iter()
                .filter_map(|period| defect_issue(world, &history.environment, period))
        })
        .collect();
    brought.sort_by_key(|issue| std::cmp::Reverse(issue.first_seen));
    let mut found: Vec<IssueView> = ISSUES
        .iter()
        .enumerate()
        .filter_map(|(index, seed)| seeded_issue(world, index, seed))
        .chain(brought)
        .filter(|issue| {
            PROJECTS
                .get(issue.project)
                .is_some_and(|(id, _, _)| projects.iter().any(|p| p.0 == *id))
        })
        .filter(|issue| {
            environments.is_empty() || environments.iter().any(|e| issue.environments.contains(e))
        })
        .filter(|issue| first_seen_after.is_none_or(|after| issue.first_seen >= after))
        .filter(|issue| level.is_none_or(|l| issue.level == l))
        .filter(|_| status.is_none_or(|s| s == "unresolved"))
        .filter(|issue| {
            let title = issue.title.to_lowercase();
            text.iter().all(|word| title.contains(word.as_str()))
        })
        .collect();
    match query.get("sort").unwrap_or("date") {
        "new" => found.sort_by_key(|issue| std::cmp::Reverse(issue.first_seen)),
        "freq" | "user" => found.sort_by_key(|issue| std::cmp::Reverse(issue.count)),
        _ => {}
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let body: Vec<Value> = found
        .iter()
        .take(limit)
        .map(|issue| issue_json(world, issue))
        .collect();
    Ok(Value::Array(body))
}

/// A release as Sentry's issue details show it (`firstRelease`, `lastRelease`).
fn release_json(version: &str, project: (u64, &str, f64), issue: &IssueView) -> Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "version": version,
        "shortVersion": version.get(..12).unwrap_or(version),
        "ref": null,
        "url": null,
        "dateCreated": time(issue.first_seen),
        "dateReleased": null,
        "firstEvent": time(issue.first_seen),
        "lastEvent": time(issue.last_seen),
        "newGroups": 1,
        "owner": null,
        "data": {},
        "status": "open",
        "projects": [{ "id": project.0, "slug": project.1, "name": project.1 }],
    })
}

fn issue_json(world: &World, issue: &IssueView) -> Value {
    let now = world.now;
    let (project_id, slug, share) = PROJECTS.get(issue.project).copied().unwrap_or(PROJECTS[0]);
    let id = issue.id;
    let first_seen = issue.first_seen;
    let last_seen = issue.last_seen;
    let count = issue.count;
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let is_new = now - first_seen < TimeDelta::days(3);
    let hourly: Vec<Value> = (0..24)
        .map(|h| {
            let hour = (now - TimeDelta::hours(23 - h)).timestamp() / 3600 * 3600;
            let seen = hour >= first_seen.timestamp() / 3600 * 3600
                && (issue.ongoing || hour <= last_seen.timestamp() / 3600 * 3600);
            json!([hour, if seen { issue.per_hour } else { 0 }])
        })
        .collect();
    let release = issue
        .release
        .map(|version| release_json(version, (project_id, slug, share), issue));
    let mut body = json!({
        "id": id.to_string(),
        "shareId": null,
        "shortId": issue.short_id,
        "title": issue.title,
        "culprit": issue.culprit,
        "permalink": format!("https://{ORG}.sentry.io/issues/{id}/"),
        "logger": null,
        "level": issue.level,
        "status": "unresolved",
        "statusDetails": {},
        "substatus": if is_new { "new" } else { "ongoing" },
        "isPublic": false,
        "platform": "node",
        "priority": if issue.level == "error" { "high" } else { "medium" },
        "priorityLockedAt": null,
        "seerFixabilityScore": null,
        "seerAutofixLastTriggered": null,
        "seerExplorerAutofixLastTriggered": null,
        "project": {
            "id": project_id.to_string(),
            "name": slug,
            "slug": slug,
            "platform": "node",
        },
        "type": "error",
        "issueType": "error",
        "issueCategory": "error",
        "metadata": {
            "type": issue.kind,
            "value": issue.title.split_once(": ").map(|(_, v)| v).unwrap_or(issue.title),
            "filename": issue.culprit.split(' ').next().unwrap_or(""),
        },
    });
    let rest = json!({
        "numComments": 0,
        "assignedTo": null,
        "isBookmarked": false,
        "isSubscribed": false,
        "subscriptionDetails": null,
        "hasSeen": false,
        "annotations": [],
        "isUnhandled": issue.level == "error",
        "count": count.to_string(),
        "userCount": count / 3 + 1,
        "firstSeen": time(first_seen),
        "lastSeen": time(last_seen),
        "firstRelease": release.clone(),
        "lastRelease": release,
        "derivedData": {
            "blocker": "none",
            "progress": "none",
            "status": "unresolved",
            "viewCount": 0,
            "hasOpenFixPr": false,
            "isAssigned": false,
            "hasRootCause": false,
            "lastCompletedAutofixStep": "",
            "lastProgressedAt": null,
        },
        "stats": { "24h": hourly },
        "lifetime": {
            "count": count.to_string(),
            "userCount": count / 3 + 1,
            "firstSeen": time(first_seen),
            "lastSeen": time(last_seen),
        },
        "filtered": null,
        "sessionCount": 0,
        "inbox": { "reason": 0, "reason_details": null, "date_added": time(first_seen) },
        "owners": {
            "type": "codeowners",
            "owner": "team:4501",
            "date_added": time(first_seen),
        },
        "integrationIssues": [],
        "sentryAppIssues": [],
        "latestEventHasAttachments": false,
        "matchingEventId": null,
        "matchingEventEnvironment": null,
    });
    if let (Some(body), Value::Object(rest)) = (body.as_object_mut(), rest) {
        body.extend(rest);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_sentry_style() {
        assert_eq!(parse_period("15m"), Some(TimeDelta::minutes(15)));
        assert_eq!(parse_period("24h"), Some(TimeDelta::hours(24)));
        assert_eq!(parse_period("14d"), Some(TimeDelta::days(14)));
        assert_eq!(parse_period("soon"), None);
        assert_eq!(parse_period("0m"), None);
    }

    use super::super::world::testing::{deploy_now, prod_running};

    /// Errors of every project in the minute starting at `minute`.
    fn all_projects(world: &World, running: &RunningHistory, minute: i64) -> u64 {
        PROJECTS
            .iter()
            .map(|project| minute_count(world, running, *project, minute, world.now))
            .sum()
    }

    /// The same history with its defects taken away: the counts a good commit would give.
    fn without_defects(running: &RunningHistory) -> RunningHistory {
        let mut plain = running.clone();
        for period in &mut plain.periods {
            period.defect = None;
        }
        plain
    }

    #[test]
    fn minute_counts_triple_only_while_the_spike_commit_runs_and_keep_it_after_a_rollback() {
        let (mut world, good, _) = prod_running(DefectKind::ErrorSpike);
        let live = world.now.timestamp();
        // Whole minutes that began while the spike commit ran, and the minutes before.
        let first_spiked = live.div_euclid(60) * 60 + 60;
        let spiked: Vec<i64> = (0..30).map(|m| first_spiked + m * 60).collect();
        let before: Vec<i64> = (1..=30).map(|m| first_spiked - 60 * (m + 1)).collect();
        world.advance_to(world.now + TimeDelta::minutes(32));

        let running = world.running_history("prod");
        let plain = without_defects(&running);
        for minute in &before {
            assert_eq!(
                all_projects(&world, &running, *minute),
                all_projects(&world, &plain, *minute)
            );
        }
        let during: Vec<u64> = spiked
            .iter()
            .map(|m| all_projects(&world, &running, *m))
            .collect();
        let base: u64 = spiked
            .iter()
            .map(|m| all_projects(&world, &plain, *m))
            .sum();
        let ratio = during.iter().sum::<u64>() as f64 / base as f64;
        assert!((2.5..3.5).contains(&ratio), "ratio {ratio}, base {base}");

        // Rolled back: the spike ends, and the minutes it covered keep their counts.
        deploy_now(&mut world, "prod", &good);
        let rolled_back = world.now.timestamp();
        world.advance_to(world.now + TimeDelta::minutes(20));
        let running = world.running_history("prod");
        let again: Vec<u64> = spiked
            .iter()
            .map(|m| all_projects(&world, &running, *m))
            .collect();
        assert_eq!(again, during);
        let plain = without_defects(&running);
        for m in 1..=15 {
            let minute = rolled_back.div_euclid(60) * 60 + m * 60;
            assert_eq!(
                all_projects(&world, &running, minute),
                all_projects(&world, &plain, minute)
            );
        }
        // Staging does not show defects.
        let staging = world.running_history("staging");
        assert!(staging.periods.iter().all(|p| p.defect.is_none()));
    }

    #[test]
    fn a_six_hour_series_answers_every_minute() {
        let (mut world, _, _) = prod_running(DefectKind::ErrorSpike);
        world.advance_to(world.now + TimeDelta::hours(6));
        let query = Query::parse(Some(
            "environment=prod&statsPeriod=6h&interval=1m&yAxis=count()&dataset=errors",
        ));
        let body = events_stats(&world, &query).unwrap();
        assert_eq!(body["data"].as_array().map(Vec::len), Some(361));
    }

    fn issues_at(world: &World, query: &str) -> Vec<Value> {
        match issues(world, &Query::parse(Some(query))).unwrap() {
            Value::Array(list) => list,
            other => panic!("not a list: {other}"),
        }
    }

    /// Unresolved issues of prod first seen at or after `at`, with words the title must have.
    fn since_with(at: DateTime<Utc>, words: &str) -> String {
        format!(
            "query=is%3Aunresolved+firstSeen%3A%3E%3D{}{words}&environment=prod&sort=new",
            at.format("%Y-%m-%dT%H:%M:%S")
        )
    }

    fn since(at: DateTime<Utc>) -> String {
        since_with(at, "")
    }

    #[test]
    fn a_new_error_type_appears_after_the_deploy_in_the_commits_release() {
        let (mut world, good, bad) = prod_running(DefectKind::NewErrorType);
        let live = world.now;
        world.advance_to(live + TimeDelta::seconds(10));
        assert_eq!(issues_at(&world, &since(live)), Vec::<Value>::new());

        world.advance_to(live + TimeDelta::minutes(5));
        let found = issues_at(&world, &since(live));
        assert_eq!(found.len(), 1, "{found:?}");
        let issue = &found[0];
        assert_eq!(issue["firstRelease"]["version"], bad.as_str());
        assert_eq!(issue["lastRelease"]["version"], bad.as_str());
        let first_seen =
            (live + TimeDelta::seconds(20)).to_rfc3339_opts(SecondsFormat::Millis, true);
        assert_eq!(issue["firstSeen"], first_seen.as_str());
        assert_eq!(issue["count"], "9", "about two a minute");
        assert_eq!(issue["status"], "unresolved");
        let title = issue["title"].as_str().unwrap().to_string();
        let project = issue["project"]["id"].as_str().unwrap().to_string();

        // The same filters as every issue: a later firstSeen, another environment or
        // project, or words not in the title leave it out.
        let later = since(live + TimeDelta::minutes(1));
        assert!(issues_at(&world, &later).is_empty());
        let staging = since(live).replace("environment=prod", "environment=staging");
        assert!(
            issues_at(&world, &staging)
                .iter()
                .all(|i| i["title"] != title.as_str())
        );
        let other = PROJECTS
            .iter()
            .find(|p| p.0.to_string() != project)
            .unwrap()
            .0;
        let elsewhere = format!("{}&project={other}", since(live));
        assert!(issues_at(&world, &elsewhere).is_empty());
        let word = title.split_whitespace().nth(1).unwrap().to_lowercase();
        let matching = since_with(live, &format!("+{word}"));
        assert_eq!(issues_at(&world, &matching).len(), 1);
        assert!(issues_at(&world, &since_with(live, "+nosuchword")).is_empty());

        // After a rollback it stays, with the count it had.
        deploy_now(&mut world, "prod", &good);
        world.advance_to(world.now + TimeDelta::minutes(30));
        let after = issues_at(&world, &since(live));
        assert_eq!(after.len(), 1);
        assert_eq!(after[0]["count"], "9");
        assert_eq!(after[0]["id"], issue["id"]);
        // Seeded issues have no known release.
        let all = issues_at(&world, "environment=prod");
        assert!(all.iter().any(|i| i["firstRelease"].is_null()));
    }
}
