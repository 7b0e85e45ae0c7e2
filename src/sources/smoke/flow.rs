//! Smoke flows: the steps of one `[[smoke]]` check run in order (create a job, wait for a
//! worker to finish it, delete it), each step's answer judged like a single check's, values
//! taken from it with JSON pointers and filled into later requests (`{job_id}`: URL-encoded
//! in paths, raw in headers and bodies). A polling step repeats its request on the world
//! clock ([`Clock::sleep_until`]) until its condition holds or its time is up. Cleanup steps
//! run last, after a failure too when the values they use exist; a cleanup failure is
//! reported after the first failure, never instead of it.
//!
//! The sequencing is generic over a [`Transport`], so it is unit-tested without a network;
//! filling in values, extracting them and the wait condition are plain functions.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::{
    DETAIL_CHARS, Expectations, PreparedRequest, SmokeAnswer, check_url, json_equal, judge_answer,
    millis, toml_to_json,
};
use crate::clock::Clock;
use crate::config::{FlowStepConfig, SmokeCheckConfig, TemplatePart, UntilConfig, template_parts};
use crate::model::{SafeText, SmokeResult, sanitize};

/// Longest extracted value quoted back in a reason.
const VALUE_CHARS: usize = 40;

/// How a flow's requests are sent: over HTTP in the engine, scripted in tests.
pub trait Transport: Sync {
    fn send(
        &self,
        request: &PreparedRequest,
    ) -> impl Future<Output = Result<SmokeAnswer, String>> + Send;
}

/// Sends with a `reqwest` client.
pub struct HttpTransport<'a>(pub &'a reqwest::Client);

impl Transport for HttpTransport<'_> {
    fn send(
        &self,
        request: &PreparedRequest,
    ) -> impl Future<Output = Result<SmokeAnswer, String>> + Send {
        super::send(self.0, request)
    }
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Passed,
    Failed(String),
    /// A cleanup step whose value never came to exist (the step that extracts it failed).
    Skipped {
        missing: String,
    },
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub name: String,
    pub cleanup: bool,
    pub outcome: StepOutcome,
    /// Requests sent (more than one for a polling step).
    pub requests: u32,
    /// Requests that got an answer.
    pub answered: u32,
    /// Real time the step took, waits included.
    pub elapsed: Duration,
}

/// A whole flow as it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowReport {
    pub steps: Vec<StepReport>,
    /// Real time from the first request to the end of the last step.
    pub elapsed: Duration,
    /// World time the flow took (the clock's; equal to `elapsed` on the system clock).
    pub world_elapsed: Duration,
    /// The first failure of a step that is not cleanup: `"wait: still \"queued\" after 60s"`.
    pub failure: Option<String>,
    /// The first failure of a cleanup step.
    pub cleanup_failure: Option<String>,
}

impl FlowReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.cleanup_failure.is_none()
    }

    /// What the screen says: the first failure (then a cleanup failure), or on success how
    /// many steps took how long, and how often a polling step asked.
    pub fn detail(&self) -> String {
        match (&self.failure, &self.cleanup_failure) {
            (Some(first), Some(cleanup)) => format!("{first}; then {cleanup}"),
            (Some(first), None) => first.clone(),
            (None, Some(cleanup)) => cleanup.clone(),
            (None, None) => {
                let ran = self
                    .steps
                    .iter()
                    .filter(|s| s.outcome == StepOutcome::Passed)
                    .count();
                let mut text = format!(
                    "{ran} step{} in {} ms",
                    if ran == 1 { "" } else { "s" },
                    millis(self.elapsed)
                );
                for step in self.steps.iter().filter(|s| s.requests > 1) {
                    text.push_str(&format!("; {}: {} polls", step.name, step.requests));
                }
                text
            }
        }
    }

    /// The flow as one smoke result: latency is the whole flow's (when any request was
    /// answered), the detail what happened.
    pub fn to_result(&self, check: &SmokeCheckConfig, checked_at: DateTime<Utc>) -> SmokeResult {
        let answered = self.steps.iter().any(|s| s.answered > 0);
        SmokeResult {
            name: SafeText::with_max(check.name.get_ref(), 60),
            ok: self.ok(),
            latency_ms: answered.then(|| millis(self.elapsed)),
            detail: SafeText::with_max(&self.detail(), DETAIL_CHARS),
            checked_at,
        }
    }
}

/// Where the text of a value goes: a URL path (percent-encoded) or anywhere else (as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Path,
    Raw,
}

/// `template` with each `{name}` replaced by its value; `Err(name)` for the first value
/// that does not exist.
pub fn fill(
    template: &str,
    values: &BTreeMap<String, String>,
    how: Fill,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for part in template_parts(template) {
        match part {
            TemplatePart::Text(text) => out.push_str(text),
            TemplatePart::Value(name) => {
                let value = values.get(name).ok_or_else(|| name.to_string())?;
                match how {
                    Fill::Path => out.push_str(&percent_encode(value)),
                    Fill::Raw => out.push_str(value),
                }
            }
        }
    }
    Ok(out)
}

/// Every byte but RFC 3986's unreserved characters as `%XX`, so a value stays one path
/// segment (or one query value) whatever it holds.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The values `extract` names, read from a JSON body: a string as it is, a number or
/// boolean as written, an object or array as JSON text. `Err` says what is missing.
pub fn extract_values(
    extract: &BTreeMap<String, String>,
    body: &str,
) -> Result<Vec<(String, String)>, String> {
    if extract.is_empty() {
        return Ok(Vec::new());
    }
    let json: Value = serde_json::from_str(body).map_err(|_| {
        let names: Vec<&str> = extract.keys().map(String::as_str).collect();
        format!("body is not JSON, cannot extract {}", names.join(", "))
    })?;
    extract
        .iter()
        .map(|(name, pointer)| {
            let value = match json.pointer(pointer) {
                None => return Err(format!("{pointer} missing")),
                Some(Value::Null) => return Err(format!("{pointer} is null")),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// A polling step's end condition with its values filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Until {
    pub status: Option<u16>,
    pub pointer: Option<String>,
    /// The values that end the wait (one for `equals`, several for `one_of`).
    pub wanted: Vec<Value>,
}

impl Until {
    fn from_config(
        until: &UntilConfig,
        values: &BTreeMap<String, String>,
    ) -> Result<Until, String> {
        let filled = |value: &toml::Value| -> Result<Value, String> {
            match value {
                toml::Value::String(text) => Ok(Value::String(fill(text, values, Fill::Raw)?)),
                other => Ok(toml_to_json(other)),
            }
        };
        let wanted = until
            .equals
            .iter()
            .chain(until.one_of.iter().flatten())
            .map(filled)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Until {
            status: until.status,
            pointer: until.pointer.clone(),
            wanted,
        })
    }

    /// `Ok` when `answer` ends the wait, else `Err(where it stands)`, said so that "still
    /// {it}" reads: `"queued"`, `status 404`, `no /status`, `not JSON`. Without a status
    /// condition an answer must have the step's expected status before its body counts.
    pub fn holds(&self, expected_status: u16, answer: &SmokeAnswer) -> Result<(), String> {
        let wanted_status = self.status.unwrap_or(expected_status);
        if answer.status != wanted_status {
            return Err(format!("status {}", answer.status));
        }
        let Some(pointer) = &self.pointer else {
            return Ok(());
        };
        let body: Value = serde_json::from_str(&answer.body).map_err(|_| "not JSON".to_string())?;
        match body.pointer(pointer) {
            None => Err(format!("no {pointer}")),
            Some(actual) if self.wanted.iter().any(|w| json_equal(actual, w)) => Ok(()),
            Some(actual) => Err(sanitize(&actual.to_string(), VALUE_CHARS)),
        }
    }
}

/// A step's request, expectations and condition with the values filled in.
struct PreparedStep {
    request: PreparedRequest,
    expect: Expectations,
    until: Option<Until>,
}

fn prepare(
    check: &SmokeCheckConfig,
    step: &FlowStepConfig,
    base_url: &str,
    values: &BTreeMap<String, String>,
) -> Result<PreparedStep, String> {
    let mut headers: Vec<(String, String)> = check
        .headers
        .iter()
        .filter(|(name, _)| {
            !step
                .headers
                .keys()
                .any(|own| own.eq_ignore_ascii_case(name))
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, value) in &step.headers {
        headers.push((name.clone(), fill(value, values, Fill::Raw)?));
    }
    let json = match (&step.json_pointer, &step.json_equals) {
        (Some(pointer), Some(toml::Value::String(text))) => Some((
            pointer.clone(),
            Value::String(fill(text, values, Fill::Raw)?),
        )),
        (Some(pointer), Some(other)) => Some((pointer.clone(), toml_to_json(other))),
        _ => None,
    };
    Ok(PreparedStep {
        request: PreparedRequest {
            method: step.method,
            url: check_url(base_url, &fill(&step.path, values, Fill::Path)?),
            headers,
            body: step
                .body
                .as_deref()
                .map(|body| fill(body, values, Fill::Raw))
                .transpose()?,
            timeout: step.timeout.get(),
        },
        expect: Expectations {
            status: step.status,
            body_contains: step
                .body_contains
                .as_deref()
                .map(|needle| fill(needle, values, Fill::Raw))
                .transpose()?,
            json,
            max_latency: step.latency_budget(check),
        },
        until: step
            .poll
            .as_ref()
            .and_then(|poll| poll.until.as_ref())
            .map(|until| Until::from_config(until, values))
            .transpose()?,
    })
}

/// When a step must be done: a world time, and a real-time bound so that a clock that
/// stands still (a test that never steps it) cannot hold the flow forever.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    world: DateTime<Utc>,
    wall: tokio::time::Instant,
}

impl Deadline {
    fn after(clock: &Clock, world: Duration) -> Deadline {
        // World time runs at least as fast as the wall on every clock shipdeck runs (the
        // system clock, the demo's faster one), so the world bound comes first; the real one
        // only catches a clock that does not move.
        let speed = clock.speed();
        let real = if speed.is_finite() && speed > 0.0 && speed < 1.0 {
            world.div_f64(speed)
        } else {
            world
        };
        Deadline {
            world: clock.now() + delta(world),
            wall: tokio::time::Instant::now() + real,
        }
    }

    fn passed(&self, clock: &Clock) -> bool {
        clock.now() >= self.world || tokio::time::Instant::now() >= self.wall
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// A world time span for a reason: "200ms", "60s", "90s"; from ten minutes on "12m 30s".
fn span_text(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let millis = u64::try_from((to - from).num_milliseconds()).unwrap_or(0);
    let secs = (millis + 500) / 1000;
    match millis {
        0..1000 => format!("{millis}ms"),
        _ if secs < 600 => format!("{secs}s"),
        _ => humantime::format_duration(Duration::from_secs(secs)).to_string(),
    }
}

/// Runs the flow of `check` against `base_url`. A check without steps runs nothing and
/// passes; validation never lets one through.
pub async fn run_flow<T: Transport>(
    transport: &T,
    base_url: &str,
    check: &SmokeCheckConfig,
    clock: &Clock,
) -> FlowReport {
    let steps = check.steps.as_deref().unwrap_or_default();
    let started = tokio::time::Instant::now();
    let world_started = clock.now();
    let deadline = Deadline::after(clock, check.timeout.get());
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut reports = Vec::new();
    let mut failure: Option<String> = None;
    for step in steps.iter().filter(|step| !step.cleanup) {
        let name = step.name.get_ref().as_str();
        if deadline.passed(clock) {
            failure = Some(format!(
                "{name}: not started, the flow's {} deadline passed",
                humantime::format_duration(check.timeout.get())
            ));
            break;
        }
        let report = run_step(
            transport,
            base_url,
            check,
            step,
            &mut values,
            clock,
            deadline,
        )
        .await;
        if let StepOutcome::Failed(why) = &report.outcome {
            failure = Some(format!("{name}: {why}"));
        }
        reports.push(report);
        if failure.is_some() {
            break;
        }
    }
    let mut cleanup_failure: Option<String> = None;
    for step in steps.iter().filter(|step| step.cleanup) {
        let missing = step
            .used_values()
            .into_iter()
            .map(|(_, name)| name)
            .find(|name| !values.contains_key(*name));
        if let Some(missing) = missing {
            reports.push(StepReport {
                name: step.name.get_ref().clone(),
                cleanup: true,
                outcome: StepOutcome::Skipped {
                    missing: missing.to_string(),
                },
                requests: 0,
                answered: 0,
                elapsed: Duration::ZERO,
            });
            continue;
        }
        // Cleanup is owed whatever the flow's deadline says: it gets a time of its own.
        let own = step
            .poll
            .as_ref()
            .and_then(|poll| poll.timeout)
            .unwrap_or(check.timeout)
            .get();
        let own_deadline = Deadline::after(clock, own);
        let report = run_step(
            transport,
            base_url,
            check,
            step,
            &mut values,
            clock,
            own_deadline,
        )
        .await;
        if let StepOutcome::Failed(why) = &report.outcome
            && cleanup_failure.is_none()
        {
            cleanup_failure = Some(format!("{}: {why}", report.name));
        }
        reports.push(report);
    }
    FlowReport {
        steps: reports,
        elapsed: started.elapsed(),
        world_elapsed: (clock.now() - world_started).to_std().unwrap_or_default(),
        failure,
        cleanup_failure,
    }
}

/// One step: its request (repeated while polling), judged, its values extracted into
/// `values`.
async fn run_step<T: Transport>(
    transport: &T,
    base_url: &str,
    check: &SmokeCheckConfig,
    step: &FlowStepConfig,
    values: &mut BTreeMap<String, String>,
    clock: &Clock,
    flow_deadline: Deadline,
) -> StepReport {
    let started = tokio::time::Instant::now();
    let mut report = StepReport {
        name: step.name.get_ref().clone(),
        cleanup: step.cleanup,
        outcome: StepOutcome::Passed,
        requests: 0,
        answered: 0,
        elapsed: Duration::ZERO,
    };
    let prepared = match prepare(check, step, base_url, values) {
        Ok(prepared) => prepared,
        Err(missing) => {
            report.outcome = StepOutcome::Failed(format!("no value for {{{missing}}}"));
            return report;
        }
    };
    let answer = match (&step.poll, &prepared.until) {
        (Some(poll), Some(until)) => {
            let poll_started = clock.now();
            let deadline = match poll.timeout {
                Some(timeout) => {
                    let own = Deadline::after(clock, timeout.get());
                    Deadline {
                        world: own.world.min(flow_deadline.world),
                        wall: own.wall.min(flow_deadline.wall),
                    }
                }
                None => flow_deadline,
            };
            let mut last_state;
            loop {
                let asked_at = clock.now();
                report.requests += 1;
                let result = transport.send(&prepared.request).await;
                let state = match &result {
                    Ok(answer) => {
                        report.answered += 1;
                        until.holds(step.status, answer)
                    }
                    Err(why) => Err(format!("failing ({why})")),
                };
                match (state, result) {
                    (Ok(()), Ok(answer)) => break Ok(answer),
                    (Err(state), _) => last_state = state,
                    (Ok(()), Err(why)) => break Err(why),
                }
                let give_up = || {
                    Err(format!(
                        "still {last_state} after {}",
                        span_text(poll_started, deadline.world)
                    ))
                };
                if deadline.passed(clock) {
                    break give_up();
                }
                let next = (asked_at + delta(poll.every.get())).min(deadline.world);
                if tokio::time::timeout_at(deadline.wall, clock.sleep_until(next))
                    .await
                    .is_err()
                {
                    break give_up();
                }
            }
        }
        _ => {
            report.requests += 1;
            let result = transport.send(&prepared.request).await;
            if result.is_ok() {
                report.answered += 1;
            }
            result
        }
    };
    let outcome = answer
        .and_then(|answer| judge_answer(&prepared.expect, &answer).map(|_| answer))
        .and_then(|answer| extract_values(&step.extract, &answer.body));
    match outcome {
        Ok(extracted) => values.extend(extracted),
        Err(why) => report.outcome = StepOutcome::Failed(why),
    }
    report.elapsed = started.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::parse_str;

    const HEAD: &str = "[github]\nrepo = \"acme/shop\"\n\
        [[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n";

    /// The demo's flow, with a shorter deadline.
    const JOB_FLOW: &str = r#"
[[smoke]]
name = "worker runs a job"
timeout = "60s"

[[smoke.step]]
name = "create"
method = "POST"
path = "/api/jobs"
status = 201
extract = { job_id = "/id" }

[[smoke.step]]
name = "wait"
path = "/api/jobs/{job_id}"
poll = { every = "2s", until = { pointer = "/status", equals = "done" }, timeout = "60s" }

[[smoke.step]]
name = "clean up"
method = "DELETE"
path = "/api/jobs/{job_id}"
status = 204
cleanup = true
"#;

    fn flow_check(text: &str) -> SmokeCheckConfig {
        match parse_str(&format!("{HEAD}{text}"), "test.toml") {
            Ok(mut config) => config.smoke.remove(0),
            Err(err) => panic!("{}", err.report()),
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc()
    }

    /// Answers by a script: `(method, url)` to a function of the request count and world
    /// time; records what it was sent.
    struct Scripted<F> {
        answer: F,
        sent: Mutex<Vec<PreparedRequest>>,
        clock: Clock,
    }

    impl<F> Scripted<F>
    where
        F: Fn(&PreparedRequest, DateTime<Utc>) -> Result<(u16, String), String> + Sync,
    {
        fn new(clock: &Clock, answer: F) -> Self {
            Self {
                answer,
                sent: Mutex::new(Vec::new()),
                clock: clock.clone(),
            }
        }

        fn sent(&self) -> Vec<String> {
            self.sent
                .lock()
                .unwrap()
                .iter()
                .map(|r| format!("{} {}", r.method.as_str(), r.url))
                .collect()
        }
    }

    impl<F> Transport for Scripted<F>
    where
        F: Fn(&PreparedRequest, DateTime<Utc>) -> Result<(u16, String), String> + Sync,
    {
        fn send(
            &self,
            request: &PreparedRequest,
        ) -> impl Future<Output = Result<SmokeAnswer, String>> + Send {
            self.sent.lock().unwrap().push(request.clone());
            let result =
                (self.answer)(request, self.clock.now()).map(|(status, body)| SmokeAnswer {
                    status,
                    body,
                    latency: Duration::from_millis(3),
                });
            std::future::ready(result)
        }
    }

    /// A job API whose job is done `done_after` after it was created (never: `None`).
    fn job_api(
        done_after: Option<i64>,
        delete_status: u16,
    ) -> impl Fn(&PreparedRequest, DateTime<Utc>) -> Result<(u16, String), String> + Sync {
        let created = Mutex::new(None::<DateTime<Utc>>);
        move |request, now| match (request.method.as_str(), request.url.as_str()) {
            ("POST", "https://dev.example/api/jobs") => {
                *created.lock().unwrap() = Some(now);
                Ok((201, r#"{"id":"job 1/a","status":"queued"}"#.to_string()))
            }
            ("GET", "https://dev.example/api/jobs/job%201%2Fa") => {
                let age = created.lock().unwrap().map(|at| (now - at).num_seconds());
                let done = matches!((age, done_after), (Some(age), Some(after)) if age >= after);
                let status = if done { "done" } else { "queued" };
                Ok((200, format!(r#"{{"id":"job 1/a","status":"{status}"}}"#)))
            }
            ("DELETE", "https://dev.example/api/jobs/job%201%2Fa") => {
                Ok((delete_status, String::new()))
            }
            other => Err(format!("unexpected request {other:?}")),
        }
    }

    /// Moves the manual clock `step` every millisecond while the flow runs.
    async fn with_running_clock<R>(
        clock: &Clock,
        step: Duration,
        work: impl Future<Output = R>,
    ) -> R {
        let mover = clock.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                mover.advance(step);
            }
        });
        let result = tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .expect("the flow ends");
        task.abort();
        result
    }

    #[test]
    fn values_are_encoded_in_paths_and_raw_elsewhere() {
        let values = BTreeMap::from([("id".to_string(), "a b/c?d".to_string())]);
        assert_eq!(
            fill("/jobs/{id}?x={id}", &values, Fill::Path),
            Ok("/jobs/a%20b%2Fc%3Fd?x=a%20b%2Fc%3Fd".to_string())
        );
        assert_eq!(
            fill(r#"{"id":"{id}"}"#, &values, Fill::Raw),
            Ok(r#"{"id":"a b/c?d"}"#.to_string())
        );
        assert_eq!(fill("/{nope}", &values, Fill::Raw), Err("nope".to_string()));
        assert_eq!(percent_encode("é~-._"), "%C3%A9~-._");
    }

    #[test]
    fn extraction_takes_strings_numbers_and_says_what_is_missing() {
        let extract = BTreeMap::from([
            ("id".to_string(), "/id".to_string()),
            ("n".to_string(), "/n".to_string()),
        ]);
        assert_eq!(
            extract_values(&extract, r#"{"id":"job-1","n":3}"#),
            Ok(vec![
                ("id".to_string(), "job-1".to_string()),
                ("n".to_string(), "3".to_string())
            ])
        );
        assert_eq!(
            extract_values(&extract, r#"{"n":3}"#),
            Err("/id missing".to_string())
        );
        assert_eq!(
            extract_values(&extract, r#"{"id":null,"n":3}"#),
            Err("/id is null".to_string())
        );
        assert_eq!(
            extract_values(&extract, "<html>"),
            Err("body is not JSON, cannot extract id, n".to_string())
        );
        assert_eq!(extract_values(&BTreeMap::new(), "<html>"), Ok(Vec::new()));
    }

    #[test]
    fn a_wait_condition_says_where_the_answer_stands() {
        let until = Until {
            status: None,
            pointer: Some("/status".to_string()),
            wanted: vec![Value::from("done"), Value::from("failed")],
        };
        let answer = |status, body: &str| SmokeAnswer {
            status,
            body: body.to_string(),
            latency: Duration::ZERO,
        };
        assert_eq!(
            until.holds(200, &answer(200, r#"{"status":"done"}"#)),
            Ok(())
        );
        assert_eq!(
            until.holds(200, &answer(200, r#"{"status":"failed"}"#)),
            Ok(())
        );
        assert_eq!(
            until.holds(200, &answer(200, r#"{"status":"queued"}"#)),
            Err(r#""queued""#.to_string())
        );
        assert_eq!(
            until.holds(200, &answer(404, "{}")),
            Err("status 404".to_string())
        );
        assert_eq!(
            until.holds(200, &answer(200, "{}")),
            Err("no /status".to_string())
        );
        assert_eq!(
            until.holds(200, &answer(200, "x")),
            Err("not JSON".to_string())
        );
        let gone = Until {
            status: Some(404),
            pointer: None,
            wanted: Vec::new(),
        };
        assert_eq!(gone.holds(204, &answer(404, "")), Ok(()));
        assert_eq!(
            gone.holds(204, &answer(200, "")),
            Err("status 200".to_string())
        );
    }

    #[tokio::test]
    async fn a_healthy_flow_passes_and_cleans_up() {
        let clock = Clock::manual(start());
        let api = Scripted::new(&clock, job_api(Some(2), 204));
        let check = flow_check(JOB_FLOW);
        let report = with_running_clock(
            &clock,
            Duration::from_millis(500),
            run_flow(&api, "https://dev.example/", &check, &clock),
        )
        .await;
        assert!(report.ok(), "{report:#?}");
        let sent = api.sent();
        assert_eq!(sent.first().unwrap(), "POST https://dev.example/api/jobs");
        assert_eq!(
            sent.last().unwrap(),
            "DELETE https://dev.example/api/jobs/job%201%2Fa"
        );
        let polls = report.steps[1].requests;
        assert!((2..=3).contains(&polls), "{sent:?}");
        assert!(report.world_elapsed >= Duration::from_secs(2));
        assert!(
            report.detail().starts_with("3 steps in ")
                && report.detail().ends_with(&format!("; wait: {polls} polls")),
            "{}",
            report.detail()
        );
        let result = report.to_result(&check, clock.now());
        assert!(result.ok && result.latency_ms.is_some());
    }

    #[tokio::test]
    async fn a_stuck_job_fails_by_its_wait_and_is_still_cleaned_up() {
        let clock = Clock::manual(start());
        let api = Scripted::new(&clock, job_api(None, 204));
        let check = flow_check(JOB_FLOW);
        let report = with_running_clock(
            &clock,
            Duration::from_secs(1),
            run_flow(&api, "https://dev.example", &check, &clock),
        )
        .await;
        assert_eq!(
            report.failure.as_deref(),
            Some(r#"wait: still "queued" after 60s"#)
        );
        assert_eq!(report.cleanup_failure, None);
        assert_eq!(report.detail(), r#"wait: still "queued" after 60s"#);
        assert!(report.steps[1].requests >= 20, "{:?}", report.steps[1]);
        assert_eq!(report.steps[2].outcome, StepOutcome::Passed);
        assert!(api.sent().last().unwrap().starts_with("DELETE "));
    }

    #[tokio::test]
    async fn a_cleanup_failure_is_reported_after_the_first_failure() {
        let clock = Clock::manual(start());
        let api = Scripted::new(&clock, job_api(None, 500));
        let report = with_running_clock(
            &clock,
            Duration::from_secs(2),
            run_flow(&api, "https://dev.example", &flow_check(JOB_FLOW), &clock),
        )
        .await;
        assert_eq!(
            report.detail(),
            r#"wait: still "queued" after 60s; then clean up: status 500, expected 204"#
        );

        // A passing flow whose cleanup fails fails by its cleanup.
        let api = Scripted::new(&clock, job_api(Some(0), 500));
        let report = run_flow(&api, "https://dev.example", &flow_check(JOB_FLOW), &clock).await;
        assert!(!report.ok());
        assert_eq!(report.detail(), "clean up: status 500, expected 204");
    }

    #[tokio::test]
    async fn cleanup_is_skipped_when_its_value_never_came() {
        let clock = Clock::manual(start());
        let refused = Scripted::new(&clock, |_: &PreparedRequest, _| {
            Err("connection refused".to_string())
        });
        let check = flow_check(JOB_FLOW);
        let report = run_flow(&refused, "https://dev.example", &check, &clock).await;
        assert_eq!(report.detail(), "create: connection refused");
        assert_eq!(
            refused.sent().len(),
            1,
            "neither the wait nor the cleanup ran"
        );
        assert_eq!(
            report.steps[1].outcome,
            StepOutcome::Skipped {
                missing: "job_id".to_string()
            }
        );
        let result = report.to_result(&check, clock.now());
        assert_eq!(result.latency_ms, None, "nothing answered");

        let broken = Scripted::new(&clock, |_: &PreparedRequest, _| Ok((500, "{}".to_string())));
        let report = run_flow(&broken, "https://dev.example", &check, &clock).await;
        assert_eq!(report.detail(), "create: status 500, expected 201");

        let no_id = Scripted::new(&clock, |_: &PreparedRequest, _| Ok((201, "{}".to_string())));
        let report = run_flow(&no_id, "https://dev.example", &check, &clock).await;
        assert_eq!(report.detail(), "create: /id missing");
    }

    #[tokio::test]
    async fn a_clock_that_stands_still_cannot_hold_a_flow_forever() {
        let clock = Clock::manual(start());
        let api = Scripted::new(&clock, job_api(None, 204));
        let check = flow_check(
            &JOB_FLOW
                .replace("\"60s\"", "\"200ms\"")
                .replace("\"2s\"", "\"100ms\""),
        );
        let report = tokio::time::timeout(
            Duration::from_secs(5),
            run_flow(&api, "https://dev.example", &check, &clock),
        )
        .await
        .expect("bounded in real time too");
        assert_eq!(
            report.failure.as_deref(),
            Some(r#"wait: still "queued" after 200ms"#)
        );
        assert_eq!(
            report.steps[1].requests, 1,
            "the clock never said it was time again"
        );
    }

    #[tokio::test]
    async fn headers_and_bodies_carry_values_and_check_headers_go_with_every_step() {
        let clock = Clock::manual(start());
        let api = Scripted::new(&clock, |request: &PreparedRequest, _| {
            Ok(match request.url.as_str() {
                "https://dev.example/login" => (200, r#"{"token":"t0k","n":7}"#.to_string()),
                _ => (200, r#"{"echo":"7"}"#.to_string()),
            })
        });
        let check = flow_check(
            r#"
[[smoke]]
name = "login then use"
headers = { accept = "application/json", x-trace = "smoke" }

[[smoke.step]]
name = "login"
method = "POST"
path = "/login"
extract = { token = "/token", n = "/n" }

[[smoke.step]]
name = "use"
method = "PUT"
path = "/things/{n}"
headers = { authorization = "Bearer {token}", X-Trace = "again" }
body = '{"n":{n}}'
json_pointer = "/echo"
json_equals = "{n}"
"#,
        );
        let report = run_flow(&api, "https://dev.example", &check, &clock).await;
        assert!(report.ok(), "{}", report.detail());
        let sent = api.sent.lock().unwrap().clone();
        assert_eq!(sent[1].url, "https://dev.example/things/7");
        assert_eq!(sent[1].body.as_deref(), Some(r#"{"n":7}"#));
        assert_eq!(
            sent[1].headers,
            [
                ("accept".to_string(), "application/json".to_string()),
                ("X-Trace".to_string(), "again".to_string()),
                ("authorization".to_string(), "Bearer t0k".to_string()),
            ]
        );
        assert_eq!(sent[0].headers.len(), 2);
    }
}
