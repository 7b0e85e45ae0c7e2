//! The Sentry subset: `events-stats` (per-minute error counts with seeded noise around each
//! environment's base rate, zero-filled) and the organization issues list (issue JSON after
//! Sentry's published schema, filtered by environment, project and a tolerant `query`).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::http::{ApiError, Query};
use super::world::World;

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

/// Errors of one environment and project in the minute starting at `minute` (whole minutes
/// only; the current minute counts in proportion to how much of it has passed).
pub fn minute_count(
    world: &World,
    environment: &str,
    project: (u64, &str, f64),
    minute: i64,
    now: DateTime<Utc>,
) -> u64 {
    let elapsed = now.timestamp() - minute;
    if elapsed <= 0 {
        return 0;
    }
    let mean = world.scenario.error_rate(environment) * project.2;
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
    let data: Vec<Value> = (0..buckets)
        .map(|i| {
            let bucket = first + i * interval_secs;
            let count: u64 = (0..interval_secs / 60)
                .map(|m| bucket + m * 60)
                .map(|minute| {
                    environments
                        .iter()
                        .flat_map(|env| projects.iter().map(move |project| (env, *project)))
                        .map(|(env, project)| minute_count(world, env, project, minute, now))
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
    let mut found: Vec<(&IssueSeed, usize, DateTime<Utc>, u64)> = ISSUES
        .iter()
        .enumerate()
        .filter_map(|(index, seed)| {
            let first_seen = world.start + TimeDelta::seconds(seed.first_seen);
            if first_seen > now {
                return None;
            }
            let minutes = (now - first_seen).num_minutes().max(1) as u64;
            let count = 1 + minutes * seed.per_hour / 60;
            Some((seed, index, first_seen, count))
        })
        .filter(|(seed, _, _, _)| projects.iter().any(|p| p.0 == PROJECTS[seed.project].0))
        .filter(|(seed, _, _, _)| {
            environments.is_empty() || environments.iter().any(|e| seed.environments.contains(e))
        })
        .filter(|(_, _, first_seen, _)| first_seen_after.is_none_or(|after| *first_seen >= after))
        .filter(|(seed, _, _, _)| level.is_none_or(|l| seed.level == l))
        .filter(|_| status.is_none_or(|s| s == "unresolved"))
        .filter(|(seed, _, _, _)| {
            let title = seed.title.to_lowercase();
            text.iter().all(|word| title.contains(word.as_str()))
        })
        .collect();
    match query.get("sort").unwrap_or("date") {
        "new" => found.sort_by_key(|issue| std::cmp::Reverse(issue.2)),
        "freq" | "user" => found.sort_by_key(|issue| std::cmp::Reverse(issue.3)),
        _ => {}
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let body: Vec<Value> = found
        .into_iter()
        .take(limit)
        .map(|(seed, index, first_seen, count)| issue_json(world, seed, index, first_seen, count))
        .collect();
    Ok(Value::Array(body))
}

fn issue_json(
    world: &World,
    seed: &IssueSeed,
    index: usize,
    first_seen: DateTime<Utc>,
    count: u64,
) -> Value {
    let now = world.now;
    let (project_id, slug, _) = PROJECTS[seed.project];
    let id = 5_100_000_000u64 + index as u64 * 7919;
    let short_id = format!("{}-{}", slug.to_uppercase(), 400 + index * 13);
    let last_seen = now - TimeDelta::seconds((index as i64 * 17) % 50);
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let is_new = now - first_seen < TimeDelta::days(3);
    let hourly: Vec<Value> = (0..24)
        .map(|h| {
            let hour = (now - TimeDelta::hours(23 - h)).timestamp() / 3600 * 3600;
            let seen = hour >= first_seen.timestamp() / 3600 * 3600;
            json!([hour, if seen { seed.per_hour } else { 0 }])
        })
        .collect();
    let mut issue = json!({
        "id": id.to_string(),
        "shareId": null,
        "shortId": short_id,
        "title": seed.title,
        "culprit": seed.culprit,
        "permalink": format!("https://{ORG}.sentry.io/issues/{id}/"),
        "logger": null,
        "level": seed.level,
        "status": "unresolved",
        "statusDetails": {},
        "substatus": if is_new { "new" } else { "ongoing" },
        "isPublic": false,
        "platform": "node",
        "priority": if seed.level == "error" { "high" } else { "medium" },
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
            "type": seed.kind,
            "value": seed.title.split_once(": ").map(|(_, v)| v).unwrap_or(seed.title),
            "filename": seed.culprit.split(' ').next().unwrap_or(""),
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
        "isUnhandled": seed.level == "error",
        "count": count.to_string(),
        "userCount": count / 3 + 1,
        "firstSeen": time(first_seen),
        "lastSeen": time(last_seen),
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
    if let (Some(issue), Value::Object(rest)) = (issue.as_object_mut(), rest) {
        issue.extend(rest);
    }
    issue
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
}
