//! The triage task: when a job of an environment's CI run fails, it reads the job's log,
//! classifies it ([`super::diagnosis::classify`]), asks the optional outside assistant for a
//! second opinion, and publishes a [`TriageView`]. With a write side it also files one GitHub
//! issue per commit and kind for a tier-3 failure and serves `R`: re-running the failed jobs,
//! which [`super::diagnosis::rerun_decision`] allows only for tier-1 failures and at most
//! `max_reruns` times.
//!
//! What is shown is [`view_of`], a plain function over the pipeline and what the task learned;
//! the task itself only fetches, asks and writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::diagnosis::{RerunDecision, classify, flaky, outside_prompt, rerun_decision};
use super::executor::Recorder;
use super::store::{ReleaseUpdate, StoreInput};
use crate::actions::github::GithubWriter;
use crate::clock::Clock;
use crate::config::{AssistantConfig, Config, Secret};
use crate::model::diagnosis::{Diagnosis, Tier};
use crate::model::{
    AuditEntry, JobState, LogLine, PipelineState, RerunOffer, RunStatus, SafeText, Snapshot,
    TriageView,
};
use crate::sources::github::GithubClient;

/// Longest outside answer kept.
const ASSISTANT_ANSWER_CHARS: usize = 1200;
/// Tries at reading one job's log before the triage shows the error and stops asking.
const LOG_TRIES: u32 = 3;

/// A request to re-run the failed jobs of an environment's latest run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunRequest {
    pub environment: String,
    pub actor: String,
}

/// A re-run request with the channel its answer goes back on.
pub type RerunEnvelope = (RerunRequest, oneshot::Sender<Result<String, String>>);

/// Sends `R` to the triage task. Exists only beside a write side.
#[derive(Debug, Clone)]
pub struct RerunSender {
    tx: mpsc::Sender<RerunEnvelope>,
}

impl RerunSender {
    /// Asks for the re-run; `Ok(what happened)` or `Err(why not)`.
    pub async fn rerun(&self, request: RerunRequest) -> Result<String, String> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send((request, reply_tx))
            .await
            .map_err(|_| "the engine has stopped".to_string())?;
        reply_rx
            .await
            .map_err(|_| "the engine has stopped".to_string())?
    }
}

/// What the task learned about one environment's current run.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    pub run_id: u64,
    /// Diagnoses by job id (a re-run gives the job a new id).
    pub diagnoses: HashMap<u64, Diagnosis>,
    /// The latest attempt in which a job failed, by name: a later pass makes it flaky, a
    /// later failure makes a suspected flake a real failure.
    pub failed_in: HashMap<String, u32>,
    /// Failed reads of a job's log: how many, and the last reason.
    pub log_errors: HashMap<u64, (u32, String)>,
    /// The attempt at which a re-run was asked for (until the run shows a newer one).
    pub rerun_requested_at: Option<u32>,
    pub issue: Option<String>,
}

/// The failed, finished jobs of the run's latest attempt.
pub fn failed_jobs(pipeline: &PipelineState) -> Vec<&JobState> {
    pipeline
        .jobs()
        .filter(|job| job.status == RunStatus::Failed && job.completed_at.is_some())
        .collect()
}

/// The triage to show for `pipeline` given what was learned; `None` when nothing failed and
/// nothing turned out flaky.
pub fn view_of(
    pipeline: &PipelineState,
    learned: &Learned,
    max_reruns: u32,
    can_rerun: bool,
) -> Option<TriageView> {
    let attempt = u32::try_from(pipeline.run_attempt).unwrap_or(u32::MAX);
    let failed = failed_jobs(pipeline);
    let mut failures: Vec<Diagnosis> = failed
        .iter()
        .filter_map(|job| learned.diagnoses.get(&job.id).cloned())
        .collect();
    failures.sort_by_key(|d| std::cmp::Reverse(d.tier));
    let flaky: Vec<SafeText> = pipeline
        .jobs()
        .filter(|job| {
            job.status == RunStatus::Passed && learned.failed_in.contains_key(job.name.as_str())
        })
        .map(|job| job.name.clone())
        .collect();
    // Jobs that failed in an earlier attempt and run again now: the re-run is under way, and
    // the screen says so instead of forgetting the failure until the attempt ends.
    let rerunning: Vec<SafeText> = pipeline
        .jobs()
        .filter(|job| {
            matches!(job.status, RunStatus::Running | RunStatus::Queued)
                && learned
                    .failed_in
                    .get(job.name.as_str())
                    .is_some_and(|failed_at| *failed_at < attempt)
        })
        .map(|job| job.name.clone())
        .collect();
    if failed.is_empty() && flaky.is_empty() && rerunning.is_empty() {
        return None;
    }
    let reading = failed
        .iter()
        .filter(|job| {
            !learned.diagnoses.contains_key(&job.id)
                && learned
                    .log_errors
                    .get(&job.id)
                    .is_none_or(|(tries, _)| *tries < LOG_TRIES)
        })
        .count();
    let log_error = failed
        .iter()
        .find_map(|job| learned.log_errors.get(&job.id))
        .map(|(_, why)| SafeText::with_max(why, 200));
    let rerun = if !rerunning.is_empty() {
        RerunOffer::Rerunning {
            attempt,
            jobs: rerunning,
        }
    } else if failed.is_empty() || reading > 0 {
        RerunOffer::None
    } else if learned.rerun_requested_at == Some(attempt) {
        RerunOffer::Requested
    } else {
        match rerun_decision(&failures, attempt, max_reruns) {
            RerunDecision::Allowed if can_rerun => RerunOffer::Offered {
                left: max_reruns.saturating_sub(attempt.saturating_sub(1)),
            },
            RerunDecision::Allowed => RerunOffer::NotHelpful {
                why: SafeText::new("read-only: re-runs are asked for from an acting shipdeck"),
            },
            RerunDecision::NotTierOne { kind, tier } => RerunOffer::NotHelpful {
                why: SafeText::new(&format!(
                    "{} is {}; a re-run fails the same way",
                    kind.label(),
                    tier.word()
                )),
            },
            RerunDecision::CyclesExhausted { attempts } => RerunOffer::Exhausted { attempts },
            RerunDecision::NothingFailed => RerunOffer::None,
        }
    };
    Some(TriageView {
        run_id: pipeline.run_id,
        run_attempt: attempt,
        sha: pipeline.sha.clone(),
        failures,
        flaky,
        reading: u32::try_from(reading).unwrap_or(u32::MAX),
        log_error,
        rerun,
        issue: learned
            .issue
            .as_deref()
            .map(|url| SafeText::with_max(url, 200)),
    })
}

/// The issue title for a tier-3 failure: one per commit and kind.
pub fn issue_title(diagnosis: &Diagnosis, sha: &str) -> String {
    format!(
        "CI {} at {} ({})",
        diagnosis.kind.label(),
        super::plan::short_sha(sha),
        diagnosis.job_name
    )
}

/// The issue body: the diagnosis, where, the excerpt, the links and the next step.
pub fn issue_body(diagnosis: &Diagnosis, environment: &str, branch: &str, run_url: &str) -> String {
    let mut body = format!(
        "shipdeck classified a failed CI job as a **{}** failure ({}).\n\n\
         - environment: `{environment}` (branch `{branch}`)\n- job: {} (attempt {})\n- run: {run_url}\n\n\
         **{}**\n\n```\n",
        diagnosis.kind.label(),
        diagnosis.tier.word(),
        diagnosis.job_name,
        diagnosis.run_attempt,
        diagnosis.headline,
    );
    for line in &diagnosis.excerpt {
        body.push_str(line.as_str());
        body.push('\n');
    }
    body.push_str("```\n\n**Suggested next step:** ");
    body.push_str(diagnosis.action.as_str());
    body.push('\n');
    if let Some(outside) = &diagnosis.outside {
        body.push_str("\n**Assistant:** ");
        body.push_str(outside.as_str());
        body.push('\n');
    }
    body
}

/// What the triage task needs.
pub struct TriageContext {
    pub config: Arc<Config>,
    pub clock: Clock,
    pub readers: Vec<Arc<GithubClient>>,
    /// The write side's writers, recorder and the `R` requests; `None` for a read-only engine.
    pub write: Option<TriageWrite>,
    pub assistant_key: Option<Secret>,
    pub assistant_key_problem: Option<String>,
    pub http: reqwest::Client,
    pub store: mpsc::Sender<StoreInput>,
}

/// The acting half of the triage.
pub struct TriageWrite {
    pub writers: Vec<Arc<GithubWriter>>,
    pub recorder: Arc<Recorder>,
    pub requests: mpsc::Receiver<RerunEnvelope>,
}

/// A sender and the receiving end for the triage task.
pub fn rerun_channel() -> (RerunSender, mpsc::Receiver<RerunEnvelope>) {
    let (tx, rx) = mpsc::channel(8);
    (RerunSender { tx }, rx)
}

type AssistantAnswer = (usize, u64, String);

/// Titles of issues filed that the loop remembers, to skip the search before filing again.
const FILED_TITLES_KEPT: usize = 256;

/// Runs until shutdown: follows the snapshots, reads failed jobs' logs, answers `R`.
pub async fn triage_loop(
    mut ctx: TriageContext,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let count = ctx.config.environments.len();
    let mut learned: Vec<Learned> = vec![Learned::default(); count];
    let mut shown: Vec<Option<TriageView>> = vec![None; count];
    let mut filed: HashSet<String> = HashSet::new();
    let (answers_tx, mut answers) = mpsc::channel::<AssistantAnswer>(16);
    let mut requests = ctx
        .write
        .as_mut()
        .map(|w| std::mem::replace(&mut w.requests, mpsc::channel(1).1));
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for index in 0..count {
            let Some(env) = snapshot.environments.get(index) else {
                continue;
            };
            let Some(pipeline) = env.pipeline.as_ref() else {
                continue;
            };
            let memory = &mut learned[index];
            if memory.run_id != pipeline.run_id {
                *memory = Learned {
                    run_id: pipeline.run_id,
                    ..Learned::default()
                };
            }
            read_new_failures(&ctx, index, pipeline, memory, &answers_tx).await;
            file_tier_three(
                &ctx,
                index,
                env.name.as_str(),
                env.branch.as_str(),
                pipeline,
                memory,
                &mut filed,
            )
            .await;
            publish(&ctx, index, pipeline, memory, &mut shown[index]).await;
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
            Some((index, job_id, answer)) = answers.recv() => {
                if let Some(diagnosis) = learned
                    .get_mut(index)
                    .and_then(|memory| memory.diagnoses.get_mut(&job_id))
                {
                    diagnosis.outside = Some(SafeText::with_max(&answer, ASSISTANT_ANSWER_CHARS));
                }
            }
            Some((request, reply)) = async {
                match requests.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let answer = rerun(&ctx, &snapshot, &mut learned, &shown, request).await;
                let _ = reply.send(answer);
            }
        }
    }
}

async fn read_new_failures(
    ctx: &TriageContext,
    index: usize,
    pipeline: &PipelineState,
    memory: &mut Learned,
    answers: &mpsc::Sender<AssistantAnswer>,
) {
    let attempt = u32::try_from(pipeline.run_attempt).unwrap_or(u32::MAX);
    let Some(reader) = ctx.readers.get(index) else {
        return;
    };
    for job in failed_jobs(pipeline) {
        let failed_before = memory
            .failed_in
            .insert(job.name.as_str().to_string(), attempt)
            .filter(|earlier| *earlier < attempt);
        if memory.diagnoses.contains_key(&job.id)
            || memory
                .log_errors
                .get(&job.id)
                .is_some_and(|(tries, _)| *tries >= LOG_TRIES)
        {
            continue;
        }
        match reader.job_log(job.id).await {
            Ok(log) => {
                let mut diagnosis = classify(job.name.as_str(), attempt, job.id, &log);
                if failed_before.is_some() {
                    // Failed on re-run too: a suspected flake is a real failure after all.
                    diagnosis = flaky(&diagnosis, false);
                }
                memory.log_errors.remove(&job.id);
                let assistant = ctx.config.diagnosis.assistant.as_ref();
                if let (Some(_), Some(problem)) = (assistant, &ctx.assistant_key_problem) {
                    diagnosis.outside =
                        Some(SafeText::new(&format!("(assistant not asked: {problem})")));
                } else if let Some(assistant) = assistant {
                    let (system, user) = outside_prompt(&diagnosis, &log);
                    tokio::spawn(ask_assistant(
                        ctx.http.clone(),
                        assistant.clone(),
                        ctx.assistant_key.clone(),
                        (system, user),
                        (index, job.id),
                        answers.clone(),
                    ));
                }
                memory.diagnoses.insert(job.id, diagnosis);
            }
            Err(error) => {
                let entry = memory
                    .log_errors
                    .entry(job.id)
                    .or_insert((0, String::new()));
                entry.0 += 1;
                entry.1 = format!("could not read the log of {}: {error}", job.name);
            }
        }
    }
}

async fn publish(
    ctx: &TriageContext,
    index: usize,
    pipeline: &PipelineState,
    memory: &Learned,
    shown: &mut Option<TriageView>,
) {
    let view = view_of(
        pipeline,
        memory,
        ctx.config.diagnosis.max_reruns,
        ctx.write.is_some(),
    );
    if *shown != view {
        *shown = view.clone();
        let _ = ctx
            .store
            .send(
                ReleaseUpdate::Triage {
                    env: index,
                    triage: view,
                }
                .into(),
            )
            .await;
    }
}

async fn file_tier_three(
    ctx: &TriageContext,
    index: usize,
    environment: &str,
    branch: &str,
    pipeline: &PipelineState,
    memory: &mut Learned,
    filed: &mut HashSet<String>,
) {
    let Some(write) = &ctx.write else { return };
    if !ctx.config.diagnosis.open_issue {
        return;
    }
    let Some(writer) = write.writers.get(index) else {
        return;
    };
    let worst = failed_jobs(pipeline)
        .iter()
        .filter_map(|job| memory.diagnoses.get(&job.id))
        .find(|d| d.tier == Tier::Three)
        .cloned();
    let Some(diagnosis) = worst else { return };
    let title = issue_title(&diagnosis, &pipeline.sha);
    if filed.contains(&title) {
        return;
    }
    let run_url = pipeline
        .html_url
        .as_ref()
        .map(|u| u.as_str().to_string())
        .unwrap_or_default();
    let body = issue_body(&diagnosis, environment, branch, &run_url);
    match writer
        .file_issue_once(&title, &body, &ctx.config.diagnosis.issue_labels)
        .await
    {
        Ok(issue) => {
            // Forgetting is safe (`file_issue_once` finds an issue already filed, at the cost
            // of a search), so an instance running for weeks keeps only recent titles.
            if filed.len() >= FILED_TITLES_KEPT {
                filed.clear();
            }
            filed.insert(title);
            memory.issue = Some(issue.url.clone());
            if issue.created {
                log(
                    ctx,
                    environment,
                    &format!(
                        "{} at {}: filed issue #{} ({})",
                        diagnosis.kind.label(),
                        super::plan::short_sha(&pipeline.sha),
                        issue.number,
                        issue.url
                    ),
                    false,
                )
                .await;
            }
        }
        Err(error) => {
            // Tried again on the next snapshot; `file_issue_once` finds one that was filed.
            log(
                ctx,
                environment,
                &format!(
                    "could not file the issue for {}: {error}",
                    diagnosis.kind.label()
                ),
                true,
            )
            .await;
        }
    }
}

async fn rerun(
    ctx: &TriageContext,
    snapshot: &Snapshot,
    learned: &mut [Learned],
    shown: &[Option<TriageView>],
    request: RerunRequest,
) -> Result<String, String> {
    let Some(write) = &ctx.write else {
        return Err("read-only: nothing can be re-run".to_string());
    };
    let index = snapshot
        .environments
        .iter()
        .position(|env| env.name.as_str() == request.environment)
        .ok_or_else(|| format!("unknown environment {:?}", request.environment))?;
    let view = shown
        .get(index)
        .and_then(Option::as_ref)
        .ok_or_else(|| "nothing failed in this environment's CI run".to_string())?;
    if !matches!(view.rerun, RerunOffer::Offered { .. }) {
        let why = view.rerun.describe();
        return Err(if why.is_empty() {
            "the failed jobs' logs are still being read".to_string()
        } else {
            why
        });
    }
    let writer = write
        .writers
        .get(index)
        .ok_or_else(|| "no writer for this environment".to_string())?;
    let reason = view
        .worst()
        .map(|d| d.headline.as_str().to_string())
        .unwrap_or_default();
    let result = writer.rerun_failed_jobs(view.run_id).await;
    let now = ctx.clock.now();
    let entry = AuditEntry {
        at: now,
        action_id: SafeText::new(&format!("rerun-{}-{}", view.run_id, view.run_attempt)),
        event: SafeText::new("rerun"),
        actor: SafeText::with_max(&request.actor, 80),
        environment: SafeText::with_max(&request.environment, 60),
        from_sha: Some(view.sha.clone()),
        to_sha: Some(view.sha.clone()),
        result: SafeText::new(if result.is_ok() {
            "succeeded"
        } else {
            "failed"
        }),
        reason: Some(SafeText::with_max(&reason, 200)),
        overrides: Vec::new(),
    };
    write.recorder.audit(entry).await;
    match result {
        Ok(()) => {
            if let Some(memory) = learned.get_mut(index) {
                memory.rerun_requested_at = Some(view.run_attempt);
            }
            let text = format!(
                "re-running the failed jobs of run {} (attempt {})",
                view.run_id,
                view.run_attempt + 1
            );
            log(ctx, &request.environment, &text, false).await;
            Ok(text)
        }
        Err(error) => {
            let text = format!("GitHub refused the re-run: {error}");
            log(ctx, &request.environment, &text, true).await;
            Err(text)
        }
    }
}

async fn log(ctx: &TriageContext, environment: &str, text: &str, error: bool) {
    let line = LogLine {
        at: ctx.clock.now(),
        environment: Some(SafeText::with_max(environment, 60)),
        text: SafeText::new(text),
        error,
    };
    let _ = ctx.store.send(ReleaseUpdate::Log(line).into()).await;
}

/// Asks the outside assistant; its answer (or why there is none) goes back to the task.
async fn ask_assistant(
    http: reqwest::Client,
    assistant: AssistantConfig,
    key: Option<Secret>,
    (system, user): (String, String),
    (index, job_id): (usize, u64),
    answers: mpsc::Sender<AssistantAnswer>,
) {
    let body = json!({
        "model": assistant.model,
        "messages": [
            { "role": "system", "content": system },
            { "role": "user", "content": user },
        ],
        "temperature": 0,
    });
    let mut request = http
        .post(assistant.url.get_ref())
        .timeout(assistant.timeout.get().max(Duration::from_secs(1)))
        .json(&body);
    if let Some(key) = &key {
        request = request.bearer_auth(key.expose());
    }
    let answer = match request.send().await {
        Err(error) => format!(
            "(assistant unreachable: {})",
            crate::sources::describe_reqwest_error(&error)
        ),
        Ok(response) if !response.status().is_success() => {
            format!("(assistant answered {})", response.status().as_u16())
        }
        Ok(response) => match response.json::<Value>().await {
            Ok(value) => value
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| "(assistant gave no answer)".to_string()),
            Err(_) => "(assistant's answer is not JSON)".to_string(),
        },
    };
    let _ = answers.send((index, job_id, answer)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobState;

    fn job(id: u64, name: &str, status: RunStatus) -> JobState {
        JobState {
            id,
            name: SafeText::new(name),
            status,
            started_at: None,
            completed_at: status.is_finished().then(chrono::Utc::now),
            html_url: None,
            steps: Vec::new(),
        }
    }

    fn pipeline(attempt: u64, jobs: Vec<JobState>) -> PipelineState {
        PipelineState {
            run_id: 7,
            run_number: 1,
            run_attempt: attempt,
            sha: "a".repeat(40),
            status: RunStatus::Failed,
            html_url: None,
            started_at: None,
            completed_at: None,
            stages: Vec::new(),
            unmapped_jobs: jobs,
            total_target: Duration::ZERO,
            alarm_after: Duration::ZERO,
        }
    }

    const LINT_LOG: &str = "2026-12-01T10:00:01.0000000Z ##[group]Run npm run lint\n\
        2026-12-01T10:00:02.0000000Z /home/runner/work/shop/shop/src/cart/total.ts\n\
        2026-12-01T10:00:02.0000000Z   14:7  error  'discount' is assigned a value but never used  @typescript-eslint/no-unused-vars\n\
        2026-12-01T10:00:02.0000000Z ✖ 1 problem (1 error, 0 warnings)\n\
        2026-12-01T10:00:03.0000000Z ##[error]Process completed with exit code 1.\n";
    const AUDIT_LOG: &str = "2026-12-01T10:00:01.0000000Z ##[group]Run npm audit --audit-level=high\n\
        2026-12-01T10:00:02.0000000Z # npm audit report\n\
        2026-12-01T10:00:02.0000000Z lodash  <4.17.21\n\
        2026-12-01T10:00:02.0000000Z Severity: critical\n\
        2026-12-01T10:00:02.0000000Z Prototype Pollution in lodash - https://github.com/advisories/GHSA-jf85-cpcp-j695\n\
        2026-12-01T10:00:02.0000000Z 1 critical severity vulnerability\n\
        2026-12-01T10:00:03.0000000Z ##[error]Process completed with exit code 1.\n";

    fn learned_with(diagnoses: &[Diagnosis]) -> Learned {
        Learned {
            run_id: 7,
            diagnoses: diagnoses.iter().map(|d| (d.job_id, d.clone())).collect(),
            failed_in: diagnoses
                .iter()
                .map(|d| (d.job_name.as_str().to_string(), d.run_attempt))
                .collect(),
            ..Learned::default()
        }
    }

    #[test]
    fn nothing_failed_shows_nothing() {
        let run = pipeline(1, vec![job(1, "lint", RunStatus::Passed)]);
        assert_eq!(view_of(&run, &Learned::default(), 3, true), None);
    }

    #[test]
    fn a_failure_whose_log_is_unread_offers_nothing_yet() {
        let run = pipeline(1, vec![job(1, "lint", RunStatus::Failed)]);
        let view = view_of(&run, &Learned::default(), 3, true).expect("a view");
        assert_eq!(view.reading, 1);
        assert_eq!(view.rerun, RerunOffer::None);
    }

    #[test]
    fn tier_one_offers_r_with_the_re_runs_left_and_escalates_at_the_cap() {
        let lint = classify("lint", 1, 1, LINT_LOG);
        let run = pipeline(1, vec![job(1, "lint", RunStatus::Failed)]);
        let view =
            view_of(&run, &learned_with(std::slice::from_ref(&lint)), 3, true).expect("a view");
        assert_eq!(view.rerun, RerunOffer::Offered { left: 3 });
        let third_rerun = pipeline(4, vec![job(1, "lint", RunStatus::Failed)]);
        let view = view_of(
            &third_rerun,
            &learned_with(std::slice::from_ref(&lint)),
            3,
            true,
        )
        .expect("a view");
        assert_eq!(view.rerun, RerunOffer::Exhausted { attempts: 4 });
        // Without a write side nothing is offered, and the screen says why.
        let view = view_of(&run, &learned_with(&[lint]), 3, false).expect("a view");
        assert!(matches!(view.rerun, RerunOffer::NotHelpful { .. }));
    }

    #[test]
    fn the_worst_failure_comes_first_and_blocks_the_re_run() {
        let lint = classify("lint", 1, 1, LINT_LOG);
        let audit = classify("security", 1, 2, AUDIT_LOG);
        assert_eq!(audit.tier, Tier::Three);
        let run = pipeline(
            1,
            vec![
                job(1, "lint", RunStatus::Failed),
                job(2, "security", RunStatus::Failed),
            ],
        );
        let view = view_of(&run, &learned_with(&[lint, audit]), 3, true).expect("a view");
        assert_eq!(view.worst().map(|d| d.tier), Some(Tier::Three));
        assert!(
            matches!(&view.rerun, RerunOffer::NotHelpful { why } if why.as_str().contains("tier 3")),
            "{:?}",
            view.rerun
        );
    }

    #[test]
    fn a_job_that_passed_after_failing_is_flaky() {
        let lint = classify("e2e", 1, 1, LINT_LOG);
        let mut learned = learned_with(&[lint]);
        learned.rerun_requested_at = Some(1);
        let rerun = pipeline(2, vec![job(9, "e2e", RunStatus::Passed)]);
        let view = view_of(&rerun, &learned, 3, true).expect("a view");
        assert!(view.failures.is_empty());
        assert_eq!(view.flaky, vec![SafeText::new("e2e")]);
    }

    #[test]
    fn a_re_run_under_way_is_shown_until_it_ends() {
        let lint = classify("e2e", 1, 1, LINT_LOG);
        let mut learned = learned_with(&[lint]);
        learned.rerun_requested_at = Some(1);
        let running = pipeline(
            2,
            vec![
                job(9, "e2e", RunStatus::Running),
                job(10, "build", RunStatus::Passed),
            ],
        );
        let view = view_of(&running, &learned, 3, true).expect("a view while re-running");
        assert_eq!(
            view.rerun,
            RerunOffer::Rerunning {
                attempt: 2,
                jobs: vec![SafeText::new("e2e")]
            }
        );
        assert_eq!(view.rerun.describe(), "re-running (attempt 2): e2e");
        // A job that never failed running again is no re-run of a failure.
        let fresh = pipeline(1, vec![job(9, "e2e", RunStatus::Running)]);
        assert_eq!(view_of(&fresh, &Learned::default(), 3, true), None);
    }

    #[test]
    fn the_issue_names_the_kind_commit_and_job_and_carries_the_excerpt() {
        let audit = classify("security", 1, 2, AUDIT_LOG);
        let title = issue_title(&audit, &"b".repeat(40));
        assert_eq!(title, "CI security finding at bbbbbbb (security)");
        let body = issue_body(
            &audit,
            "staging",
            "staging",
            "https://github.com/acme/shop/actions/runs/7",
        );
        assert!(body.contains("GHSA-jf85-cpcp-j695"), "{body}");
        assert!(body.contains("actions/runs/7"), "{body}");
        assert!(body.contains("Suggested next step"), "{body}");
    }
}
