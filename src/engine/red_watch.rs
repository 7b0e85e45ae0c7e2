//! The red watch: when a watched branch's CI stays red, or an environment's latest deploy
//! stays failed, for longer than `[red_watch] red_for`, it files one GitHub issue for that
//! incident and tells the environment's notifiers; once things are green again it comments
//! on the issue, closes it and resolves the notice.
//!
//! An incident is (environment, [`IncidentKind`]). At most one of each is open at a time, so
//! the issue's title names the environment and the kind and not the time: after a restart
//! the open issue is found by its title and no second one is filed. Red, green, red again
//! is two incidents: the first issue was closed, so the second gets one of its own.
//!
//! What to do is [`decide`], a plain function over a [`Signal`] read from the snapshot and
//! the watch's [`Memory`]; the task around it only carries decisions out. A read-only
//! engine has no red watch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use super::incident;
use crate::actions::github::{GithubWriter, WriteError};
use crate::actions::notify::{self, Notice, NoticeEvent, NotifierTarget, RetryPolicy};
use crate::clock::Clock;
use crate::config::Config;
use crate::model::{DeployStatus, EnvironmentSnapshot, RunStatus, Snapshot, sanitize};

/// The longest SHA, stage or diagnosis text taken from a snapshot into an issue.
const TEXT_MAX: usize = 300;

/// What kind of red an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// The CI run of the environment's branch head failed.
    CiRed,
    /// The environment's latest deploy failed.
    DeployFailed,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 2] = [IncidentKind::CiRed, IncidentKind::DeployFailed];

    /// A stable machine name, part of the notices' deduplication key.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::CiRed => "ci-red",
            IncidentKind::DeployFailed => "deploy-failed",
        }
    }
}

/// What is red now, read from a snapshot (every text already sanitized).
#[derive(Debug, Clone, PartialEq)]
pub struct RedFacts {
    /// When it went red: the first failed stage's or job's completion, or the failed
    /// deployment's status time.
    pub since: DateTime<Utc>,
    pub sha: String,
    /// The failing stage (CI) or service (deploy).
    pub stage: Option<String>,
    /// The triage's headline for the failed job, when known.
    pub diagnosis: Option<String>,
    /// The triage's suggested action, when known.
    pub next_step: Option<String>,
}

/// How one watched thing looks in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    Red(RedFacts),
    Green,
    /// Running, queued or not read yet: neither starts nor ends an incident (a new commit
    /// whose CI still runs leaves the branch as red as it was).
    Unknown,
}

/// One environment as the red watch sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvView {
    pub environment: String,
    pub branch: String,
    pub ci: Signal,
    pub deploy: Signal,
}

impl EnvView {
    pub fn signal(&self, kind: IncidentKind) -> &Signal {
        match kind {
            IncidentKind::CiRed => &self.ci,
            IncidentKind::DeployFailed => &self.deploy,
        }
    }
}

/// The issue filed for an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIssue {
    pub number: u64,
    pub url: String,
}

/// What the watch remembers of one (environment, kind).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// When the incident began, as first seen red; `None` while green.
    pub since: Option<DateTime<Utc>>,
    /// The first red commit of the incident.
    pub sha: Option<String>,
    /// Its open issue, filed by this engine or found by title after a restart.
    pub issue: Option<OpenIssue>,
    /// The notifiers were told, so a resolve notice is owed.
    pub notified: bool,
}

impl Memory {
    /// The memory after a restart that found the incident's issue still open: when the
    /// issue's body still carries the incident's start (see [`incident_marker`]), the
    /// incident keeps its first red time and commit instead of starting over.
    pub fn with_open_issue(issue: OpenIssue, body: Option<&str>) -> Memory {
        let (since, sha) = body.and_then(parse_incident_marker).unzip();
        Memory {
            since,
            sha,
            issue: Some(issue),
            notified: true,
        }
    }
}

/// The start of `MARKER`'s hidden HTML comment at the end of an issue body.
const MARKER: &str = "<!-- shipdeck-incident ";

/// A hidden line in the issue body that records when the incident began and its first red
/// commit, so an engine started again reports the whole incident, not the part it saw.
pub fn incident_marker(since: DateTime<Utc>, first_sha: &str) -> String {
    format!(
        "{MARKER}since={} sha={first_sha} -->",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// Reads [`incident_marker`] back from an issue body; `None` when it is missing or was
/// edited into something else (the incident then starts from what is seen now).
pub fn parse_incident_marker(body: &str) -> Option<(DateTime<Utc>, String)> {
    let start = body.rfind(MARKER)? + MARKER.len();
    let rest = &body[start..];
    let rest = &rest[..rest.find("-->")?];
    let mut since = None;
    let mut sha = None;
    for field in rest.split_whitespace() {
        match field.split_once('=') {
            Some(("since", value)) => {
                since = DateTime::parse_from_rfc3339(value)
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
            }
            Some(("sha", value))
                if (1..=64).contains(&value.len())
                    && value.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                sha = Some(value.to_string());
            }
            _ => {}
        }
    }
    Some((since?, sha?))
}

/// What to do about one (environment, kind) now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Nothing,
    /// Red longer than allowed and no issue yet: file it (found, not filed twice, when it
    /// exists) and tell people.
    Open {
        what: RedFacts,
        since: DateTime<Utc>,
    },
    /// Green again: comment, close the issue, resolve the notice.
    Close {
        since: Option<DateTime<Utc>>,
        green_at: DateTime<Utc>,
    },
    /// Green again before anyone was told: forget it.
    Forget,
}

/// Notes the start of an incident: the first red seen sets `since` and the first red SHA;
/// later reds of the same incident (another failing commit) keep them.
pub fn observe(memory: &mut Memory, signal: &Signal) {
    if let Signal::Red(facts) = signal
        && memory.since.is_none()
    {
        memory.since = Some(facts.since);
        memory.sha = Some(facts.sha.clone());
    }
}

/// The decision for `signal` given what the watch remembers (after [`observe`]).
pub fn decide(
    signal: &Signal,
    memory: &Memory,
    now: DateTime<Utc>,
    red_for: TimeDelta,
) -> Decision {
    match signal {
        Signal::Red(facts) => {
            let since = memory.since.unwrap_or(facts.since);
            if memory.issue.is_none() && now - since > red_for {
                Decision::Open {
                    what: facts.clone(),
                    since,
                }
            } else {
                Decision::Nothing
            }
        }
        Signal::Green if memory.issue.is_some() || memory.notified => Decision::Close {
            since: memory.since,
            green_at: now,
        },
        Signal::Green if memory.since.is_some() => Decision::Forget,
        Signal::Green | Signal::Unknown => Decision::Nothing,
    }
}

/// Reads an environment's CI and deploy signals from its snapshot.
pub fn view_of(env: &EnvironmentSnapshot) -> EnvView {
    EnvView {
        environment: env.name.as_str().to_string(),
        branch: env.branch.as_str().to_string(),
        ci: ci_signal(env),
        deploy: deploy_signal(env),
    }
}

fn ci_signal(env: &EnvironmentSnapshot) -> Signal {
    let Some(pipeline) = env.pipeline.as_ref() else {
        return Signal::Unknown;
    };
    let failed_stage = pipeline
        .stages
        .iter()
        .find(|stage| stage.status == RunStatus::Failed);
    if pipeline.status != RunStatus::Failed && failed_stage.is_none() {
        let green = pipeline.status == RunStatus::Passed;
        return if green {
            Signal::Green
        } else {
            Signal::Unknown
        };
    }
    let Some(since) = pipeline.red_since() else {
        return Signal::Unknown;
    };
    let diagnosis = env
        .triage
        .as_ref()
        .filter(|triage| triage.sha == pipeline.sha)
        .and_then(|triage| triage.worst());
    Signal::Red(RedFacts {
        since,
        sha: sanitize(&pipeline.sha, TEXT_MAX),
        stage: failed_stage.map(|stage| stage.name.as_str().to_string()),
        diagnosis: diagnosis.map(|d| d.headline.as_str().to_string()),
        next_step: diagnosis.map(|d| d.action.as_str().to_string()),
    })
}

fn deploy_signal(env: &EnvironmentSnapshot) -> Signal {
    let latest: Vec<_> = env
        .services
        .iter()
        .filter_map(|service| service.latest.as_ref().map(|l| (service, l)))
        .collect();
    let failed = latest
        .iter()
        .filter(|(_, deploy)| matches!(deploy.status, DeployStatus::Failure | DeployStatus::Error))
        .filter_map(|(service, deploy)| deploy.at.map(|at| (at, service, deploy)))
        .min_by_key(|(at, _, _)| *at);
    if let Some((since, service, deploy)) = failed {
        return Signal::Red(RedFacts {
            since,
            sha: sanitize(&deploy.sha, TEXT_MAX),
            stage: Some(service.name.as_str().to_string()),
            diagnosis: deploy
                .description
                .as_ref()
                .map(|d| d.as_str().to_string())
                .filter(|d| !d.is_empty()),
            next_step: None,
        });
    }
    let all_green = !latest.is_empty()
        && latest
            .iter()
            .all(|(_, deploy)| deploy.status == DeployStatus::Success);
    if all_green {
        Signal::Green
    } else {
        Signal::Unknown
    }
}

/// The incident's issue title: the environment and the kind, so the open one is found again.
pub fn issue_title(kind: IncidentKind, view: &EnvView) -> String {
    match kind {
        IncidentKind::CiRed => format!("Red pipeline on {} ({})", view.branch, view.environment),
        IncidentKind::DeployFailed => format!("Failed deploy in {}", view.environment),
    }
}

/// `10:04 UTC` with its date.
fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `34 min`, `2 h 5 min`.
pub fn minutes(duration: TimeDelta) -> String {
    let total = duration.num_minutes().max(0);
    if total < 60 {
        format!("{total} min")
    } else {
        format!("{} h {} min", total / 60, total % 60)
    }
}

fn what_is_red(kind: IncidentKind, view: &EnvView) -> String {
    match kind {
        IncidentKind::CiRed => format!("CI on `{}` ({})", view.branch, view.environment),
        IncidentKind::DeployFailed => format!("the latest deploy of {}", view.environment),
    }
}

/// The issue's body: what is red, since when, the failing stage, the diagnosis and next step
/// when known, the links.
pub fn issue_body(
    kind: IncidentKind,
    view: &EnvView,
    what: &RedFacts,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    first_sha: Option<&str>,
    links: &[(String, String)],
) -> String {
    let mut body = format!(
        "**{}** has been red since {} ({} so far).\n\n",
        what_is_red(kind, view),
        when(since),
        minutes(now - since)
    );
    let first = first_sha.unwrap_or(&what.sha);
    body.push_str(&format!("- First red commit: `{first}`\n"));
    if first != what.sha {
        body.push_str(&format!("- Red now: `{}`\n", what.sha));
    }
    if let Some(stage) = &what.stage {
        let word = match kind {
            IncidentKind::CiRed => "Failing stage",
            IncidentKind::DeployFailed => "Failing service",
        };
        body.push_str(&format!("- {word}: {stage}\n"));
    }
    if let Some(diagnosis) = &what.diagnosis {
        body.push_str(&format!("- Diagnosis: {diagnosis}\n"));
    }
    if let Some(next) = &what.next_step {
        body.push_str(&format!("- Next step: {next}\n"));
    }
    for (label, url) in links {
        body.push_str(&format!("- {label}: {url}\n"));
    }
    body.push_str("\nshipdeck comments and closes this issue once it is green again.\n");
    body.push_str(&format!("\n{}\n", incident_marker(since, first)));
    body
}

/// The comment that closes the issue.
pub fn green_comment(green_at: DateTime<Utc>, since: Option<DateTime<Utc>>) -> String {
    match since {
        Some(since) => format!(
            "Green again at {}, after {}.",
            when(green_at),
            minutes(green_at - since)
        ),
        None => format!("Green again at {}.", when(green_at)),
    }
}

/// Everything the red watch task needs.
pub(crate) struct RedWatchContext {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub writers: Vec<Arc<GithubWriter>>,
    pub notifiers: Vec<Vec<NotifierTarget>>,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
}

/// Runs until shutdown: one pass over the environments for every published snapshot.
pub(crate) async fn red_watch_loop(
    ctx: RedWatchContext,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let policy = ctx.config.red_watch.clone();
    let red_for = TimeDelta::from_std(policy.red_for.get()).unwrap_or(TimeDelta::MAX);
    let ctx = Arc::new(ctx);
    let mut memories: HashMap<(usize, IncidentKind), Memory> = HashMap::new();
    let mut looked_up: HashSet<(usize, IncidentKind)> = HashSet::new();
    loop {
        let snapshot = Arc::clone(&snapshots.borrow_and_update());
        for (index, env) in snapshot.environments.iter().enumerate() {
            let Some(writer) = ctx.writers.get(index) else {
                continue;
            };
            let view = view_of(env);
            for kind in IncidentKind::ALL {
                let key = (index, kind);
                let title = issue_title(kind, &view);
                let memory = memories.entry(key).or_default();
                if !looked_up.contains(&key) {
                    // After a restart the incident's issue may still be open.
                    match writer
                        .open_issue_titled(&title, policy.labels.first())
                        .await
                    {
                        Ok(found) => {
                            looked_up.insert(key);
                            if let Some(found) = found {
                                *memory = Memory::with_open_issue(
                                    OpenIssue {
                                        number: found.number,
                                        url: found.url,
                                    },
                                    found.body.as_deref(),
                                );
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not look for an open red-pipeline issue");
                        }
                    }
                }
                let signal = view.signal(kind);
                observe(memory, signal);
                let now = ctx.clock.now();
                match decide(signal, memory, now, red_for) {
                    Decision::Nothing => {}
                    Decision::Forget => *memory = Memory::default(),
                    Decision::Open { what, since } => {
                        let links = incident::links(&ctx.config, index, &snapshot, &what.sha);
                        let body = issue_body(
                            kind,
                            &view,
                            &what,
                            since,
                            now,
                            memory.sha.as_deref(),
                            &links,
                        );
                        match writer.file_issue_once(&title, &body, &policy.labels).await {
                            Ok(issue) => {
                                memory.issue = Some(OpenIssue {
                                    number: issue.number,
                                    url: issue.url,
                                });
                            }
                            // Tried again on the next snapshot; the notice goes out once.
                            Err(error) => {
                                tracing::warn!(%error, "could not file the red-pipeline issue");
                            }
                        }
                        if !memory.notified {
                            memory.notified = true;
                            let notice = open_notice(kind, &view, &what, since, now, memory, links);
                            tokio::spawn(tell(Arc::clone(&ctx), index, notice));
                        }
                    }
                    Decision::Close { since, green_at } => {
                        if let Some(issue) = memory.issue.clone() {
                            let comment = green_comment(green_at, since);
                            let closed = match writer.comment_on_issue(issue.number, &comment).await
                            {
                                Ok(()) => writer.close_issue(issue.number).await,
                                Err(error) => Err(error),
                            };
                            match closed {
                                Ok(()) => {}
                                // Deleted or moved away by someone: nothing is left to close.
                                Err(WriteError::Rejected {
                                    status: 404 | 410, ..
                                }) => {}
                                // Tried again on the next snapshot.
                                Err(error) => {
                                    tracing::warn!(%error, "could not close the red-pipeline issue");
                                    continue;
                                }
                            }
                        }
                        if memory.notified {
                            let notice = resolve_notice(kind, &view, memory, green_at, since);
                            tokio::spawn(tell(Arc::clone(&ctx), index, notice));
                        }
                        *memory = Memory::default();
                    }
                }
            }
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// The same for every notice about one incident; one incident of a kind is open at a time.
fn dedup_key(kind: IncidentKind, view: &EnvView) -> String {
    format!("shipdeck/{}/{}", view.environment, kind.as_str())
}

fn open_notice(
    kind: IncidentKind,
    view: &EnvView,
    what: &RedFacts,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    memory: &Memory,
    links: Vec<(String, String)>,
) -> Notice {
    let mut reason = format!(
        "{} red for {}",
        what_is_red(kind, view).replace('`', ""),
        minutes(now - since)
    );
    if let Some(stage) = &what.stage {
        reason.push_str(&format!(": {stage} failed"));
    }
    let mut figures = vec![("red since".to_string(), when(since))];
    if let Some(issue) = &memory.issue {
        figures.push(("issue".to_string(), issue.url.clone()));
    }
    Notice {
        environment: view.environment.clone(),
        sha: memory.sha.clone().unwrap_or_else(|| what.sha.clone()),
        event: match kind {
            IncidentKind::CiRed => NoticeEvent::PipelineRed,
            IncidentKind::DeployFailed => NoticeEvent::DeployFailed,
        },
        reason,
        figures,
        log_excerpt: what.diagnosis.clone(),
        links,
        dedup_key: dedup_key(kind, view),
        at: now,
    }
}

fn resolve_notice(
    kind: IncidentKind,
    view: &EnvView,
    memory: &Memory,
    green_at: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Notice {
    Notice {
        environment: view.environment.clone(),
        sha: memory.sha.clone().unwrap_or_default(),
        event: NoticeEvent::Resolved,
        reason: format!(
            "{} {}",
            what_is_red(kind, view).replace('`', ""),
            green_comment(green_at, since).to_lowercase()
        ),
        figures: Vec::new(),
        log_excerpt: None,
        links: memory
            .issue
            .iter()
            .map(|issue| ("Issue".to_string(), issue.url.clone()))
            .collect(),
        dedup_key: dedup_key(kind, view),
        at: green_at,
    }
}

/// Sends `notice` to the environment's notifiers. Never fails: a notifier that cannot be
/// reached is logged.
async fn tell(ctx: Arc<RedWatchContext>, index: usize, notice: Notice) {
    let Some(targets) = ctx.notifiers.get(index).filter(|t| !t.is_empty()) else {
        return;
    };
    for delivery in notify::deliver_all(&ctx.http, targets, &notice, ctx.retry).await {
        if !delivery.ok {
            tracing::warn!(target = %delivery.target, error = ?delivery.last_error, "a notifier failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_789) + TimeDelta::minutes(minute)
    }

    const RED_FOR: TimeDelta = TimeDelta::minutes(30);

    fn red(minute: i64, sha: &str) -> Signal {
        Signal::Red(RedFacts {
            since: at(minute),
            sha: sha.to_string(),
            stage: Some("lint".to_string()),
            diagnosis: Some("eslint: no-unused-vars (src/cart.ts:3)".to_string()),
            next_step: Some("Fix the lint error and push.".to_string()),
        })
    }

    fn issue(number: u64) -> OpenIssue {
        OpenIssue {
            number,
            url: format!("https://github.com/acme/shop/issues/{number}"),
        }
    }

    /// Observes and decides, then applies what the task does on success.
    fn step(memory: &mut Memory, signal: &Signal, now: DateTime<Utc>) -> Decision {
        observe(memory, signal);
        let decision = decide(signal, memory, now, RED_FOR);
        match &decision {
            Decision::Open { .. } => {
                memory.issue = Some(issue(7));
                memory.notified = true;
            }
            Decision::Close { .. } | Decision::Forget => *memory = Memory::default(),
            Decision::Nothing => {}
        }
        decision
    }

    #[test]
    fn red_opens_once_after_red_for_and_green_closes() {
        let mut memory = Memory::default();
        let signal = red(0, "a1");
        assert_eq!(step(&mut memory, &signal, at(10)), Decision::Nothing);
        assert_eq!(memory.since, Some(at(0)));
        assert_eq!(
            step(&mut memory, &signal, at(30)),
            Decision::Nothing,
            "exactly red_for is not longer than red_for"
        );
        assert!(matches!(
            step(&mut memory, &signal, at(31)),
            Decision::Open { since, .. } if since == at(0)
        ));
        assert_eq!(step(&mut memory, &signal, at(45)), Decision::Nothing);
        assert_eq!(
            step(&mut memory, &Signal::Unknown, at(50)),
            Decision::Nothing
        );
        assert_eq!(
            step(&mut memory, &Signal::Green, at(52)),
            Decision::Close {
                since: Some(at(0)),
                green_at: at(52)
            }
        );
        assert_eq!(memory, Memory::default());
    }

    #[test]
    fn another_red_commit_continues_the_incident_from_the_first() {
        let mut memory = Memory::default();
        step(&mut memory, &red(0, "a1"), at(5));
        step(&mut memory, &Signal::Unknown, at(12));
        let decision = step(&mut memory, &red(20, "b2"), at(31));
        assert!(
            matches!(&decision, Decision::Open { since, what } if *since == at(0) && what.sha == "b2"),
            "{decision:?}"
        );
        assert_eq!(memory.sha.as_deref(), Some("a1"));
    }

    #[test]
    fn green_before_red_for_forgets_and_flapping_is_a_new_incident() {
        let mut memory = Memory::default();
        step(&mut memory, &red(0, "a1"), at(5));
        assert_eq!(step(&mut memory, &Signal::Green, at(10)), Decision::Forget);
        assert_eq!(memory, Memory::default());
        // Red again at 20: counted from 20, not from 0.
        assert_eq!(step(&mut memory, &red(20, "c3"), at(45)), Decision::Nothing);
        assert!(matches!(
            step(&mut memory, &red(20, "c3"), at(51)),
            Decision::Open { since, .. } if since == at(20)
        ));
        assert!(matches!(
            step(&mut memory, &Signal::Green, at(60)),
            Decision::Close { .. }
        ));
        // And once more after it was closed: a third incident, opened again.
        assert!(matches!(
            step(&mut memory, &red(70, "d4"), at(101)),
            Decision::Open { since, .. } if since == at(70)
        ));
    }

    #[test]
    fn after_a_restart_an_open_issue_is_not_filed_again_and_green_closes_it() {
        let mut memory = Memory::with_open_issue(issue(12), Some("edited away"));
        assert_eq!(step(&mut memory, &red(0, "a1"), at(90)), Decision::Nothing);
        assert_eq!(memory.since, Some(at(0)));
        assert_eq!(
            step(&mut memory, &Signal::Green, at(95)),
            Decision::Close {
                since: Some(at(0)),
                green_at: at(95)
            }
        );

        let mut green_at_start = Memory::with_open_issue(issue(13), None);
        assert_eq!(
            decide(&Signal::Green, &green_at_start, at(1), RED_FOR),
            Decision::Close {
                since: None,
                green_at: at(1)
            }
        );
        observe(&mut green_at_start, &Signal::Green);
        assert_eq!(green_at_start.since, None);
    }

    #[test]
    fn after_a_restart_the_incident_keeps_its_first_red_time_and_commit() {
        let body = format!("**CI** has been red.\n\n{}\n", incident_marker(at(3), "a1"));
        let mut memory = Memory::with_open_issue(issue(12), Some(&body));
        assert_eq!(memory.since, Some(at(3)));
        // The commit red now went red later; the incident still began at minute 3.
        assert_eq!(step(&mut memory, &red(50, "b2"), at(90)), Decision::Nothing);
        assert_eq!(
            (memory.since, memory.sha.as_deref()),
            (Some(at(3)), Some("a1"))
        );
        assert_eq!(
            step(&mut memory, &Signal::Green, at(95)),
            Decision::Close {
                since: Some(at(3)),
                green_at: at(95)
            }
        );
    }

    #[test]
    fn an_incident_marker_reads_back_and_an_edited_one_is_ignored() {
        let marker = incident_marker(at(3), "0123abc");
        assert_eq!(
            marker,
            "<!-- shipdeck-incident since=2026-12-02T00:03:00Z sha=0123abc -->"
        );
        assert_eq!(
            parse_incident_marker(&format!("text\n{marker}\n")),
            Some((at(3), "0123abc".to_string()))
        );
        for edited in [
            "no marker",
            "<!-- shipdeck-incident since=yesterday sha=0123abc -->",
            "<!-- shipdeck-incident since=2026-12-02T00:03:00Z sha=\u{1b}[31m -->",
            "<!-- shipdeck-incident since=2026-12-02T00:03:00Z sha=0123abc",
            "<!-- shipdeck-incident sha=0123abc -->",
        ] {
            assert_eq!(parse_incident_marker(edited), None, "{edited:?}");
        }
    }

    #[test]
    fn a_notice_without_an_issue_is_still_resolved() {
        let memory = Memory {
            since: Some(at(0)),
            sha: Some("a1".into()),
            issue: None,
            notified: true,
        };
        assert!(matches!(
            decide(&Signal::Green, &memory, at(40), RED_FOR),
            Decision::Close { .. }
        ));
        assert!(matches!(
            decide(&red(0, "a1"), &memory, at(40), RED_FOR),
            Decision::Open { .. }
        ));
    }

    #[test]
    fn green_and_unknown_with_nothing_remembered_need_nothing() {
        for signal in [Signal::Green, Signal::Unknown] {
            assert_eq!(
                decide(&signal, &Memory::default(), at(0), RED_FOR),
                Decision::Nothing
            );
        }
    }

    fn sample_env() -> EnvironmentSnapshot {
        crate::ui::sample::SampleBuilder::new(at(0))
            .build()
            .environments[0]
            .clone()
    }

    #[test]
    fn signals_from_a_snapshot() {
        use crate::model::{DeployState, SafeText};
        let mut env = sample_env();
        let pipeline = env.pipeline.as_mut().expect("the sample has a pipeline");
        pipeline.status = RunStatus::Failed;
        let stage = &mut pipeline.stages[0];
        stage.status = RunStatus::Failed;
        stage.completed_at = Some(at(3));
        let name = stage.name.as_str().to_string();
        let view = view_of(&env);
        match &view.ci {
            Signal::Red(facts) => {
                assert_eq!(facts.since, at(3));
                assert_eq!(facts.stage.as_deref(), Some(name.as_str()));
            }
            other => panic!("{other:?}"),
        }

        let pipeline = env.pipeline.as_mut().expect("present");
        for stage in &mut pipeline.stages {
            stage.status = RunStatus::Passed;
        }
        pipeline.status = RunStatus::Running;
        assert_eq!(view_of(&env).ci, Signal::Unknown);
        env.pipeline.as_mut().expect("present").status = RunStatus::Passed;
        assert_eq!(view_of(&env).ci, Signal::Green);

        let failed = DeployState {
            deployment_id: 4,
            sha: "f".repeat(40),
            status: DeployStatus::Failure,
            at: Some(at(8)),
            creator: None,
            description: Some(SafeText::new("migration 42 failed")),
        };
        env.services[0].latest = Some(failed.clone());
        match view_of(&env).deploy {
            Signal::Red(facts) => {
                assert_eq!(facts.since, at(8));
                assert_eq!(facts.diagnosis.as_deref(), Some("migration 42 failed"));
            }
            other => panic!("{other:?}"),
        }
        for service in &mut env.services {
            service.latest = Some(DeployState {
                status: DeployStatus::Success,
                ..failed.clone()
            });
        }
        assert_eq!(view_of(&env).deploy, Signal::Green);
    }

    #[test]
    fn title_body_and_comment() {
        let view = EnvView {
            environment: "dev".into(),
            branch: "main".into(),
            ci: red(0, "a1"),
            deploy: Signal::Unknown,
        };
        assert_eq!(
            issue_title(IncidentKind::CiRed, &view),
            "Red pipeline on main (dev)"
        );
        assert_eq!(
            issue_title(IncidentKind::DeployFailed, &view),
            "Failed deploy in dev"
        );
        let Signal::Red(facts) = red(0, "b2") else {
            unreachable!()
        };
        let body = issue_body(
            IncidentKind::CiRed,
            &view,
            &facts,
            at(0),
            at(34),
            Some("a1"),
            &[("CI run".into(), "https://x/run/1".into())],
        );
        assert!(
            body.starts_with(
                "**CI on `main` (dev)** has been red since 2026-12-02 00:00 UTC (34 min so far)."
            ),
            "{body}"
        );
        for line in [
            "- First red commit: `a1`",
            "- Red now: `b2`",
            "- Failing stage: lint",
            "- Diagnosis: eslint: no-unused-vars (src/cart.ts:3)",
            "- Next step: Fix the lint error and push.",
            "- CI run: https://x/run/1",
        ] {
            assert!(body.contains(line), "{line} in {body}");
        }
        assert_eq!(
            parse_incident_marker(&body),
            Some((at(0), "a1".to_string()))
        );
        assert_eq!(
            green_comment(at(125), Some(at(0))),
            "Green again at 2026-12-02 02:05 UTC, after 2 h 5 min."
        );
        assert_eq!(
            green_comment(at(5), None),
            "Green again at 2026-12-02 00:05 UTC."
        );
    }
}
