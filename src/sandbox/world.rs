//! The sandbox world's state and how it moves: commits, workflow runs with planned jobs and
//! steps, deployments with their statuses, refs, annotated tag objects and pull requests, the
//! scheduled events that change them, and the rules GitHub's write endpoints apply
//! (fast-forward only unless forced, refs created once, a success retiring earlier ones, when
//! a pull request merges). A deployment a client created through the API is the platform's
//! record of that deploy: while it has no final status, the deploy bot adds none of its own
//! for the same service and commit.
//!
//! Commits created after the start may be defective (scenario-driven); what ran in an
//! environment at any moment is read back from the deployments' success times
//! ([`World::running_history`]), so a defect's effects follow the commit, end with its
//! rollback, and stay in the past. The world's own promotions never bring a replaced commit
//! back. The apps' background jobs live here too.
//!
//! The world advances lazily: every request first calls [`World::advance_to`] with the clock's
//! time, which applies every scheduled event up to then in time order. A run's jobs are
//! planned in full when the run is created (durations and outcomes drawn from the seed), and
//! their status at any moment is computed from that plan, so a manual clock in a test sees a
//! run go queued -> in_progress -> completed with no background task.
//!
//! Every `lint_fails_every`-th commit fails CI in one job, with a [`CiFailure`] kind; later
//! stages are skipped. A finished run can be re-run (failed jobs, or all): a new attempt
//! whose re-run jobs get new ids and a fresh plan from the moment of the re-run, while jobs
//! that passed keep their result. A flaky failure passes on re-run; the others fail again.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::scenario::{CiFailure, DefectKind, Scenario};
use super::topology::{Role, Topology};

/// The repository the world serves.
pub const OWNER: &str = "acme";
pub const REPO_NAME: &str = "shop";
/// The one workflow: file name, numeric id, display name.
pub const WORKFLOW_FILE: &str = "ci.yml";
pub const WORKFLOW_ID: u64 = 61_024_817;
pub const WORKFLOW_NAME: &str = "CI";
/// The deploy workflow a client may dispatch with inputs `environment` and `sha`.
pub const DEPLOY_WORKFLOW_FILE: &str = "deploy.yml";
pub const DEPLOY_WORKFLOW_ID: u64 = 61_024_818;
pub const DEPLOY_WORKFLOW_NAME: &str = "Deploy";

/// The CI stages in order: the jobs of each (name, target seconds, what its main step runs).
const STAGES: [&[(&str, i64, &str)]; 7] = [
    &[("install", 20, "npm ci")],
    &[
        ("lint", 12, "npm run lint"),
        ("format", 12, "prettier --check ."),
    ],
    &[("typecheck", 30, "tsc --noEmit")],
    &[
        ("unit (1/2)", 45, "vitest --shard=1/2"),
        ("unit (2/2)", 45, "vitest --shard=2/2"),
    ],
    &[("integration", 70, "npm run test:integration")],
    &[("e2e", 100, "playwright test")],
    &[
        ("security", 40, "npm audit --audit-level=high"),
        ("performance", 40, "npm run bench:ci"),
    ],
];

/// A person or bot acting in the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub is_bot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub sha: String,
    pub tree_sha: String,
    pub parent: Option<String>,
    pub message: String,
    pub author: Actor,
    pub time: DateTime<Utc>,
    pub files: Vec<String>,
    /// How the commit fails CI (every run of it fails in that kind's job).
    pub ci_failure: Option<CiFailure>,
    /// How the commit misbehaves once it runs where defects show (set when it lands).
    pub defect: Option<DefectKind>,
}

impl CommitRecord {
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }

    /// Whether the commit's CI fails (at least on its first attempt).
    pub fn fails_ci(&self) -> bool {
        self.ci_failure.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Where a job, step or run stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Queued,
    InProgress,
    Completed(Outcome),
}

impl Progress {
    pub fn status(self) -> &'static str {
        match self {
            Progress::Queued => "queued",
            Progress::InProgress => "in_progress",
            Progress::Completed(_) => "completed",
        }
    }

    pub fn conclusion(self) -> Option<&'static str> {
        match self {
            Progress::Completed(outcome) => Some(outcome.as_str()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    pub number: u32,
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: u64,
    pub name: String,
    /// The attempt of the run this job ran in (a job that passed keeps its attempt when the
    /// run's failed jobs are re-run).
    pub run_attempt: u32,
    /// Why the job fails (`None` unless `outcome` is a failure): what its log shows.
    pub failure: Option<CiFailure>,
    pub stage: usize,
    pub created_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub steps: Vec<StepPlan>,
    pub runner_id: u32,
}

impl JobRecord {
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        progress_between(self.started_at, self.completed_at, self.outcome, now)
    }
}

impl StepPlan {
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        progress_between(self.started_at, self.completed_at, self.outcome, now)
    }
}

fn progress_between(
    started: DateTime<Utc>,
    completed: DateTime<Utc>,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Progress {
    if now < started {
        Progress::Queued
    } else if now < completed {
        Progress::InProgress
    } else {
        Progress::Completed(outcome)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: u64,
    pub run_number: u64,
    pub branch: String,
    pub head_sha: String,
    pub event: String,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    /// The latest attempt (1, then one more per re-run).
    pub run_attempt: u32,
    /// When each attempt began, oldest first (the first is `created_at`).
    pub attempt_started: Vec<DateTime<Utc>>,
    /// The latest attempt's jobs: the re-run ones and those carried over from earlier
    /// attempts because they passed.
    pub jobs: Vec<JobRecord>,
    /// Jobs of earlier attempts that a re-run replaced, oldest first.
    pub replaced_jobs: Vec<JobRecord>,
    /// A run of the deploy workflow: the environment it deploys when it passes (CI runs:
    /// none).
    pub deploys_to: Option<String>,
}

impl RunRecord {
    pub fn started_at(&self) -> DateTime<Utc> {
        self.jobs
            .iter()
            .map(|job| job.started_at)
            .min()
            .unwrap_or(self.created_at)
    }

    /// When the latest attempt began: the run's creation, or the re-run request.
    pub fn attempt_started_at(&self) -> DateTime<Utc> {
        self.attempt_started
            .last()
            .copied()
            .unwrap_or(self.created_at)
    }

    /// Every job record of every attempt, ordered by id (attempt by attempt, in stage order).
    pub fn all_jobs(&self) -> Vec<&JobRecord> {
        let mut jobs: Vec<&JobRecord> = self.replaced_jobs.iter().chain(&self.jobs).collect();
        jobs.sort_by_key(|job| job.id);
        jobs
    }

    /// The run as it stood once attempt `attempt` was planned: for each job, its newest
    /// record from that attempt or before. `None` for an attempt that never was.
    pub fn at_attempt(&self, attempt: u32) -> Option<RunRecord> {
        if attempt == 0 || attempt > self.run_attempt {
            return None;
        }
        if attempt == self.run_attempt {
            return Some(self.clone());
        }
        let mut jobs: Vec<JobRecord> = Vec::new();
        for job in self.all_jobs() {
            if job.run_attempt > attempt {
                continue;
            }
            match jobs.iter_mut().find(|kept| kept.name == job.name) {
                Some(kept) if kept.run_attempt <= job.run_attempt => *kept = job.clone(),
                Some(_) => {}
                None => jobs.push(job.clone()),
            }
        }
        jobs.sort_by_key(|job| (job.stage, job.id));
        Some(RunRecord {
            run_attempt: attempt,
            attempt_started: self
                .attempt_started
                .iter()
                .take(attempt as usize)
                .copied()
                .collect(),
            jobs,
            replaced_jobs: Vec::new(),
            ..self.clone()
        })
    }

    pub fn completed_at(&self) -> DateTime<Utc> {
        self.jobs
            .iter()
            .map(|job| job.completed_at)
            .max()
            .unwrap_or(self.created_at)
    }

    pub fn outcome(&self) -> Outcome {
        if self.jobs.iter().any(|job| job.outcome == Outcome::Failure) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// Queued until its first job starts; a re-run attempt is in progress from the moment it
    /// was asked for (its earlier jobs have run).
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        let started = if self.run_attempt > 1 {
            self.attempt_started_at().min(self.started_at())
        } else {
            self.started_at()
        };
        progress_between(started, self.completed_at(), self.outcome(), now)
    }

    /// The last moment, up to `now`, at which something about the run changed.
    pub fn updated_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.jobs
            .iter()
            .flat_map(|job| [job.started_at, job.completed_at])
            .chain(self.attempt_started.iter().copied())
            .filter(|t| *t <= now)
            .max()
            .unwrap_or(self.created_at)
            .max(self.created_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployState {
    Pending,
    Error,
    Queued,
    InProgress,
    Success,
    Failure,
    Inactive,
}

impl DeployState {
    /// Parses GitHub's deployment status `state`.
    pub fn parse(text: &str) -> Option<DeployState> {
        Some(match text {
            "pending" => DeployState::Pending,
            "error" => DeployState::Error,
            "queued" => DeployState::Queued,
            "in_progress" => DeployState::InProgress,
            "success" => DeployState::Success,
            "failure" => DeployState::Failure,
            "inactive" => DeployState::Inactive,
            _ => return None,
        })
    }

    /// Whether the state ends a deployment (success, failure, error, inactive).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeployState::Success
                | DeployState::Failure
                | DeployState::Error
                | DeployState::Inactive
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Pending => "pending",
            DeployState::Error => "error",
            DeployState::Queued => "queued",
            DeployState::InProgress => "in_progress",
            DeployState::Success => "success",
            DeployState::Failure => "failure",
            DeployState::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatusRecord {
    pub id: u64,
    pub state: DeployState,
    pub created_at: DateTime<Utc>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    pub creator: Actor,
    pub created_at: DateTime<Utc>,
    pub description: String,
    pub production: bool,
    /// The `payload` a client sent, as JSON text (`{}` for the world's own deployments).
    pub payload: String,
    /// Oldest first.
    pub statuses: Vec<DeploymentStatusRecord>,
}

impl DeploymentRecord {
    pub fn latest_state(&self) -> Option<DeployState> {
        self.statuses.last().map(|status| status.state)
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        self.statuses
            .last()
            .map(|status| status.created_at)
            .unwrap_or(self.created_at)
    }
}

/// A change the world makes at a given time.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// A commit lands on `main`; `subject` pins its subject, `periodic` schedules the next.
    Commit {
        subject: Option<String>,
        periodic: bool,
    },
    /// A workflow run has finished: deploy when it passed on an environment's branch.
    RunFinished { run_id: u64 },
    /// Deploy `sha` to one GitHub environment.
    Deploy {
        environment: String,
        sha: String,
        succeeds: bool,
    },
    DeployStatus {
        deployment_id: u64,
        state: DeployState,
    },
    /// Fast-forward an environment's branch: to `sha`, or to the source environment's
    /// deployed commit; `periodic` schedules the next one.
    Promote {
        environment: String,
        sha: Option<String>,
        deploy_succeeds: bool,
        periodic: bool,
    },
}

/// GitHub's primary rate limit, counted in world time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub used: u64,
    pub reset_at: DateTime<Utc>,
}

impl RateLimit {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Starts a new hourly window once the old one is over.
    pub fn roll_window(&mut self, now: DateTime<Utc>) {
        while now >= self.reset_at {
            self.used = 0;
            self.reset_at += TimeDelta::hours(1);
        }
    }
}

/// Workflow runs kept by default (a day and more of world time at the demo's pace, see
/// `Scenario::runs_kept`); older ones answer 404, as runs past GitHub's retention do. Keeps a
/// demo left running for weeks from growing without bound.
pub const MAX_RUNS: usize = 500;
/// Deployments kept by default, across all environments: half a day of the demo's pace,
/// enough for the delivery figures and every rollback target.
pub const MAX_DEPLOYMENTS: usize = 300;
/// Commits kept by default: about four days of the demo's pace, more than the runs and
/// deployments kept reach back to.
pub const MAX_COMMITS: usize = 1_500;

/// Drops the oldest entries of an oldest-first list beyond `max`.
fn keep_newest<T>(items: &mut Vec<T>, max: usize) {
    if items.len() > max {
        let excess = items.len() - max;
        items.drain(..excess);
    }
}

/// How many records the world holds, collection by collection: what a long demo or soak
/// watches to tell a bounded history from one that grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorldSizes {
    pub commits: usize,
    pub runs: usize,
    pub deployments: usize,
    /// Statuses of the deployments kept, all together.
    pub statuses: usize,
    pub pulls: usize,
    pub tags: usize,
    pub other_refs: usize,
    pub issues: usize,
    /// Comments on the issues kept, all together.
    pub comments: usize,
    pub queued_events: usize,
    pub app_jobs: usize,
    /// Requests in the transport's log (filled in by the sandbox, not the world).
    pub requests: usize,
    /// Hooks the receivers keep (filled in by the sandbox, not the world).
    pub received: usize,
}

/// The whole state of the sandbox world.
#[derive(Debug)]
pub struct World {
    pub scenario: Scenario,
    /// The chain of environments the scenario names (the demo's by default).
    pub topology: Topology,
    pub start: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The commits kept (`Scenario::commits_kept`), oldest first; history is linear
    /// (branches are fast-forwarded). The first is at position `commits_forgotten`.
    pub commits: Vec<CommitRecord>,
    /// Position in the whole history, by sha, of every commit kept.
    commit_index: HashMap<String, usize>,
    /// Commits dropped from the front of `commits`: positions stay those of the whole
    /// history, so shas, pull numbers and CI failures drawn from them never shift.
    commits_forgotten: usize,
    /// Branch name -> head sha.
    pub branches: BTreeMap<String, String>,
    /// Refs outside `refs/heads/` (e.g. `shipdeck/locks/prod`, without `refs/`) -> sha.
    pub other_refs: BTreeMap<String, String>,
    /// Oldest first.
    pub runs: Vec<RunRecord>,
    /// Oldest first.
    pub deployments: Vec<DeploymentRecord>,
    pub rate_limit: RateLimit,
    queue: BTreeMap<(DateTime<Utc>, u64), Event>,
    next_event_seq: u64,
    next_run_id: u64,
    next_run_number: u64,
    next_job_id: u64,
    next_deployment_id: u64,
    next_status_id: u64,
    deploy_bot: Actor,
    /// Deploy outcomes pinned by a promotion, keyed by (branch, sha).
    pending_deploy_outcome: HashMap<(String, String), bool>,
    /// Runs started by a forced branch move: they deploy even an older commit.
    deploy_even_if_older: std::collections::HashSet<u64>,
    /// Pull requests opened through the API, oldest first.
    pub pulls: Vec<PullRecord>,
    /// Labels of pull requests (those carrying commits included), by number.
    pub pull_labels: super::carrying::PullLabels,
    /// Annotated tag objects created through the API, by sha.
    pub tags: BTreeMap<String, TagRecord>,
    /// Background jobs of the apps, oldest first, at most [`MAX_APP_JOBS`].
    app_jobs: std::collections::VecDeque<AppJob>,
    /// Background jobs created ever: ids keep counting after old jobs are forgotten.
    app_jobs_created: u64,
    /// Issues filed through the API, oldest first, at most [`MAX_ISSUES`].
    pub issues: std::collections::VecDeque<IssueRecord>,
    /// Issues filed ever: numbers keep counting after old ones fall off.
    issues_filed: u64,
}

impl World {
    /// The sizes of the world's collections.
    pub fn sizes(&self) -> WorldSizes {
        WorldSizes {
            commits: self.commits.len(),
            runs: self.runs.len(),
            deployments: self.deployments.len(),
            statuses: self.deployments.iter().map(|d| d.statuses.len()).sum(),
            pulls: self.pulls.len(),
            tags: self.tags.len(),
            other_refs: self.other_refs.len(),
            issues: self.issues.len(),
            comments: self.issues.iter().map(|i| i.comments.len()).sum(),
            queued_events: self.queue.len(),
            app_jobs: self.app_jobs.len(),
            requests: 0,
            received: 0,
        }
    }

    /// Builds the world with its history up to `start`.
    pub fn new(scenario: Scenario, start: DateTime<Utc>) -> World {
        let history = scenario.history_commits as usize;
        let spacing = 240;
        let origin = start - TimeDelta::seconds(spacing * history as i64 + 60);
        let mut world = World {
            // A scenario is validated before a world is made from it.
            topology: scenario.topology().unwrap_or_default(),
            start,
            now: origin,
            commits: Vec::new(),
            commit_index: HashMap::new(),
            commits_forgotten: 0,
            branches: BTreeMap::new(),
            other_refs: BTreeMap::new(),
            runs: Vec::new(),
            deployments: Vec::new(),
            rate_limit: RateLimit {
                limit: 5000,
                used: 0,
                reset_at: start + TimeDelta::hours(1),
            },
            queue: BTreeMap::new(),
            next_event_seq: 0,
            next_run_id: 9_400_000_000 + scenario.seed % 1_000_000,
            next_run_number: 812,
            next_job_id: 26_000_000_000,
            next_deployment_id: 1_960_000_000,
            next_status_id: 3_900_000_000,
            deploy_bot: Actor {
                id: 41_898_282,
                login: "github-actions[bot]".to_string(),
                name: "github-actions[bot]".to_string(),
                email: "41898282+github-actions[bot]@users.noreply.github.com".to_string(),
                is_bot: true,
            },
            pending_deploy_outcome: HashMap::new(),
            deploy_even_if_older: std::collections::HashSet::new(),
            pulls: Vec::new(),
            pull_labels: BTreeMap::new(),
            tags: BTreeMap::new(),
            app_jobs: std::collections::VecDeque::new(),
            app_jobs_created: 0,
            issues: std::collections::VecDeque::new(),
            issues_filed: 0,
            scenario,
        };
        world.schedule_history(origin, spacing);
        world.advance_to(start);
        world.schedule_periodic();
        world
    }

    fn schedule_history(&mut self, origin: DateTime<Utc>, spacing: i64) {
        let history = self.scenario.history_commits as usize;
        let mut rng = self.rng(b"history", 0);
        let pick = |fraction: f64| self.passing_history_index(fraction, history);
        let old_prod = pick(0.2);
        let prod = pick(0.4);
        let failed_staging = pick(0.6);
        let staging = pick(0.75);
        let commit_time = |i: usize| origin + TimeDelta::seconds(spacing * (i as i64 + 1));
        for i in 0..history {
            let jitter = TimeDelta::seconds(rng.random_range(-40..=40));
            let subject = (i == staging).then(|| self.scenario.staging_head_subject.clone());
            self.schedule(
                commit_time(i) + jitter,
                Event::Commit {
                    subject,
                    periodic: false,
                },
            );
        }
        // Promotions start once a commit's CI (about 6 min) has run on main.
        let ci = TimeDelta::seconds(420);
        // Every environment between the entry and production plays staging's part.
        let middles: Vec<String> = self
            .topology
            .names_in(Role::Middle)
            .into_iter()
            .map(str::to_string)
            .collect();
        let production = self.topology.production().name.clone();
        let mut promotions: Vec<(String, usize, TimeDelta, bool)> = Vec::new();
        let mut both = |index: usize, to_production: TimeDelta| {
            for middle in &middles {
                promotions.push((middle.clone(), index, ci, true));
            }
            promotions.push((production.clone(), index, to_production, true));
        };
        both(old_prod, ci * 2);
        both(prod, ci * 2 + TimeDelta::seconds(120));
        for middle in &middles {
            promotions.push((middle.clone(), failed_staging, ci, false));
            promotions.push((middle.clone(), staging, ci, true));
        }
        for (environment, index, delay, deploy_succeeds) in promotions {
            self.schedule(
                commit_time(index) + delay,
                Event::Promote {
                    environment,
                    sha: Some(self.commit_sha(index)),
                    deploy_succeeds,
                    periodic: false,
                },
            );
        }
    }

    /// How often the world's own captain promotes into `environment`: production at
    /// prod's pace, everything before it at staging's.
    fn promote_every(&self, environment: &str) -> u64 {
        match self.topology.role(environment) {
            Some(Role::Production) => self.scenario.promote_prod_every_secs,
            _ => self.scenario.promote_staging_every_secs,
        }
    }

    /// The history commit near `fraction` of the way whose CI passes.
    fn passing_history_index(&self, fraction: f64, history: usize) -> usize {
        let mut index = ((history as f64) * fraction) as usize;
        while index > 0 && self.ci_failure_at(index).is_some() {
            index -= 1;
        }
        index.min(history.saturating_sub(1))
    }

    fn schedule_periodic(&mut self) {
        let first_commit = self.commit_interval(self.next_commit_position());
        self.schedule(
            self.start + first_commit,
            Event::Commit {
                subject: None,
                periodic: true,
            },
        );
        let promoted: Vec<(String, u64)> = self.topology.environments()[1..]
            .iter()
            .filter(|environment| !environment.auto_promoted)
            .map(|environment| {
                let every = self.promote_every(&environment.name);
                (environment.name.clone(), every)
            })
            .collect();
        for (environment, every) in promoted {
            self.schedule(
                self.start + TimeDelta::seconds(every as i64),
                Event::Promote {
                    environment,
                    sha: None,
                    deploy_succeeds: true,
                    periodic: true,
                },
            );
        }
    }

    /// Applies every event scheduled up to `now`, in time order. Time never runs backwards.
    pub fn advance_to(&mut self, now: DateTime<Utc>) {
        while let Some(entry) = self.queue.first_entry() {
            let (at, _) = *entry.key();
            if at > now {
                break;
            }
            let event = entry.remove();
            self.now = self.now.max(at);
            self.apply(at, event);
        }
        self.now = self.now.max(now);
        self.rate_limit.roll_window(self.now);
    }

    fn schedule(&mut self, at: DateTime<Utc>, event: Event) {
        self.next_event_seq += 1;
        self.queue.insert((at, self.next_event_seq), event);
    }

    fn apply(&mut self, at: DateTime<Utc>, event: Event) {
        match event {
            Event::Commit { subject, periodic } => {
                self.land_commit(at, subject);
                if periodic {
                    let next = self.commit_interval(self.next_commit_position());
                    self.schedule(
                        at + next,
                        Event::Commit {
                            subject: None,
                            periodic: true,
                        },
                    );
                }
            }
            Event::RunFinished { run_id } => self.run_finished(at, run_id),
            Event::Deploy {
                environment,
                sha,
                succeeds,
            } => self.start_deployment(at, &environment, &sha, succeeds),
            Event::DeployStatus {
                deployment_id,
                state,
            } => self.add_deployment_status(at, deployment_id, state),
            Event::Promote {
                environment,
                sha,
                deploy_succeeds,
                periodic,
            } => {
                let every = self.promote_every(&environment);
                if !(periodic && self.captain_is_active(&environment, at, every)) {
                    self.promote(at, &environment, sha, deploy_succeeds);
                }
                if periodic {
                    self.schedule(
                        at + TimeDelta::seconds(every as i64),
                        Event::Promote {
                            environment,
                            sha: None,
                            deploy_succeeds,
                            periodic,
                        },
                    );
                }
            }
        }
    }

    fn commit_interval(&self, index: usize) -> TimeDelta {
        let mut rng = self.rng(b"commit-interval", index as u64);
        let secs = rng.random_range(
            self.scenario.commit_every_min_secs..=self.scenario.commit_every_max_secs,
        );
        TimeDelta::seconds(secs as i64)
    }

    /// How the commit at `index` (from 0) fails CI, if it does.
    fn ci_failure_at(&self, index: usize) -> Option<CiFailure> {
        u32::try_from(index + 1)
            .ok()
            .and_then(|ordinal| self.scenario.ci_failure_for(ordinal))
    }

    fn commit_sha(&self, index: usize) -> String {
        self.hash_hex(b"commit", index as u64)
    }

    /// Where the next commit lands in the whole history.
    fn next_commit_position(&self) -> usize {
        self.commits_forgotten + self.commits.len()
    }

    /// The commit at `position` in the whole history, if it is still kept.
    pub fn commit_at(&self, position: usize) -> Option<&CommitRecord> {
        self.commits
            .get(position.checked_sub(self.commits_forgotten)?)
    }

    /// The kept commits after position `after`, up to and including `through`, oldest first.
    pub fn commits_between(&self, after: usize, through: usize) -> Vec<&CommitRecord> {
        let first = (after + 1).saturating_sub(self.commits_forgotten);
        let end = (through + 1)
            .saturating_sub(self.commits_forgotten)
            .min(self.commits.len());
        self.commits
            .get(first..end)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// Forgets the oldest commits beyond `Scenario::commits_kept`, but none at or after the
    /// oldest one something still points at: a branch, a lock ref, a kept run or a kept
    /// deployment.
    fn forget_old_commits(&mut self) {
        let Some(excess) = self
            .commits
            .len()
            .checked_sub(self.scenario.commits_kept)
            .filter(|excess| *excess > 0)
        else {
            return;
        };
        // Release tags stay however old, like GitHub's, so they pin nothing: an old one
        // points at a forgotten commit. Other refs (the engine's locks) point at the present.
        let live_refs = self
            .other_refs
            .iter()
            .filter(|(name, _)| !name.starts_with("tags/"))
            .map(|(_, sha)| self.tags.get(sha).map_or(sha, |tag| &tag.object_sha));
        let pointed_at = self
            .branches
            .values()
            .chain(live_refs)
            .chain(self.runs.iter().map(|run| &run.head_sha))
            .chain(self.deployments.iter().map(|deployment| &deployment.sha))
            .filter_map(|sha| self.commit_index.get(sha).copied())
            .min()
            .unwrap_or(usize::MAX);
        let forget = excess.min(pointed_at.saturating_sub(self.commits_forgotten));
        for commit in self.commits.drain(..forget) {
            self.commit_index.remove(&commit.sha);
        }
        self.commits_forgotten += forget;
    }

    fn land_commit(&mut self, at: DateTime<Utc>, subject: Option<String>) {
        let index = self.next_commit_position();
        let mut rng = self.rng(b"commit", index as u64);
        let subject = subject.unwrap_or_else(|| {
            let pool = &self.scenario.subjects;
            pool[rng.random_range(0..pool.len())].clone()
        });
        let authors = &self.scenario.authors;
        let author = &authors[rng.random_range(0..authors.len())];
        let author = Actor {
            id: 7_000_000
                + u64::from(
                    author
                        .login
                        .bytes()
                        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))),
                ) % 1_000_000,
            login: author.login.clone(),
            name: author.name.clone(),
            email: format!("{}@acme.example", author.login),
            is_bot: false,
        };
        let message = if rng.random_bool(0.4) {
            format!(
                "{subject}\n\nReviewed-in: #{}\nCo-authored-by: {} <{}>",
                1200 + index,
                author.name,
                author.email
            )
        } else {
            subject
        };
        let file_pool = [
            "src/cart/service.ts",
            "src/checkout/page.tsx",
            "src/payments/webhook.ts",
            "src/search/suggest.ts",
            "db/migrations/20261101_orders_index.sql",
            "package.json",
            "README.md",
            ".github/workflows/ci.yml",
            "src/i18n/ja.json",
            "migrations/0042_refund_state.sql",
            "infra/iam/deploy-role.json",
            "src/payments/refunds.ts",
        ];
        let file_count = rng.random_range(1..=3);
        let mut files: Vec<String> = (0..file_count)
            .map(|_| file_pool[rng.random_range(0..file_pool.len())].to_string())
            .collect();
        files.sort();
        files.dedup();
        let commit = CommitRecord {
            sha: self.commit_sha(index),
            tree_sha: self.hash_hex(b"tree", index as u64),
            parent: self.commits.last().map(|c| c.sha.clone()),
            message,
            author: author.clone(),
            time: at,
            files,
            ci_failure: self.ci_failure_at(index),
            // History commits (landed before the start) are never defective.
            defect: index
                .checked_sub(self.scenario.history_commits as usize)
                .and_then(|after_start| u32::try_from(after_start + 1).ok())
                .and_then(|ordinal| self.scenario.defect_for(ordinal)),
        };
        let sha = commit.sha.clone();
        self.commit_index.insert(sha.clone(), index);
        self.commits.push(commit);
        let trunk = self.topology.trunk().to_string();
        self.branches.insert(trunk.clone(), sha.clone());
        // The first commit is where every branch begins.
        if index == 0 {
            let branches: Vec<String> = self
                .topology
                .environments()
                .iter()
                .map(|e| e.branch.clone())
                .collect();
            for branch in branches {
                self.branches.insert(branch, sha.clone());
            }
        }
        let flaky = self.scenario.e2e_flake_probability;
        self.start_run(
            at + TimeDelta::seconds(2),
            &trunk,
            &sha,
            author,
            flaky,
            None,
        );
        self.forget_old_commits();
    }

    /// Creates a push-triggered run with its whole job plan and schedules its end.
    fn start_run(
        &mut self,
        at: DateTime<Utc>,
        branch: &str,
        sha: &str,
        actor: Actor,
        e2e_flake_probability: f64,
        forced_failure: Option<CiFailure>,
    ) {
        let id = self.next_run_id;
        self.next_run_id += 1 + (id % 7);
        let run_number = self.next_run_number;
        self.next_run_number += 1;
        let commit_failure = forced_failure.or_else(|| self.commit(sha).and_then(|c| c.ci_failure));
        let mut rng = self.rng(b"run", id);
        let jobs = self.plan_attempt(&mut rng, at, 1, &[], |name, rng: &mut SmallRng| {
            // Drawn for every e2e job, so a commit's kind never shifts the draws after.
            let flakes = name.starts_with("e2e") && rng.random_bool(e2e_flake_probability);
            match commit_failure {
                Some(kind) => (kind.job() == name).then_some(kind),
                None => flakes.then_some(CiFailure::Flaky),
            }
        });
        let run = RunRecord {
            id,
            run_number,
            branch: branch.to_string(),
            head_sha: sha.to_string(),
            event: "push".to_string(),
            actor,
            created_at: at,
            run_attempt: 1,
            attempt_started: vec![at],
            jobs,
            replaced_jobs: Vec::new(),
            deploys_to: None,
        };
        let finished = run.completed_at();
        self.runs.push(run);
        keep_newest(&mut self.runs, self.scenario.runs_kept);
        let runs = &self.runs;
        self.deploy_even_if_older
            .retain(|id| runs.iter().any(|run| run.id == *id));
        self.schedule(finished, Event::RunFinished { run_id: id });
    }

    /// Plans one attempt's jobs, stage after stage from `at`. A job in `carried` (same name)
    /// keeps its record; every other job runs, failing with what `failure_of` says (given
    /// the job's name and the attempt's generator), and once a stage has a failure the later
    /// stages are skipped.
    fn plan_attempt(
        &mut self,
        rng: &mut SmallRng,
        at: DateTime<Utc>,
        attempt: u32,
        carried: &[JobRecord],
        mut failure_of: impl FnMut(&str, &mut SmallRng) -> Option<CiFailure>,
    ) -> Vec<JobRecord> {
        let mut jobs: Vec<JobRecord> = Vec::new();
        let mut stage_start = at + TimeDelta::seconds(rng.random_range(3..=9));
        let mut failed_at: Option<DateTime<Utc>> = None;
        for (stage, stage_jobs) in STAGES.iter().enumerate() {
            let mut stage_end = stage_start;
            for (name, target, command) in stage_jobs.iter() {
                if let Some(kept) = carried.iter().find(|job| job.name == *name) {
                    jobs.push(kept.clone());
                    continue;
                }
                let job_id = self.next_job_id;
                self.next_job_id += 1 + rng.random_range(0..3);
                if let Some(skipped_at) = failed_at {
                    jobs.push(JobRecord {
                        id: job_id,
                        name: name.to_string(),
                        run_attempt: attempt,
                        failure: None,
                        stage,
                        created_at: at,
                        started_at: skipped_at,
                        completed_at: skipped_at,
                        outcome: Outcome::Skipped,
                        steps: Vec::new(),
                        runner_id: 0,
                    });
                    continue;
                }
                let failure = failure_of(name, rng);
                let fails = failure.is_some();
                let mut seconds = (*target as f64 * rng.random_range(0.75..1.12)).round() as i64;
                if name.starts_with("e2e") && rng.random_bool(self.scenario.e2e_slow_probability) {
                    seconds = rng.random_range(130..=165);
                }
                if fails {
                    seconds = (seconds * 2 / 3).max(6);
                }
                let started_at = stage_start + TimeDelta::seconds(rng.random_range(0..=3));
                let completed_at = started_at + TimeDelta::seconds(seconds.max(6));
                let outcome = if fails {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                let steps = plan_steps(started_at, completed_at, name, command, outcome);
                stage_end = stage_end.max(completed_at);
                jobs.push(JobRecord {
                    id: job_id,
                    name: name.to_string(),
                    run_attempt: attempt,
                    failure,
                    stage,
                    created_at: at,
                    started_at,
                    completed_at,
                    outcome,
                    steps,
                    runner_id: rng.random_range(1..=40),
                });
            }
            if failed_at.is_none()
                && jobs
                    .iter()
                    .any(|j| j.stage == stage && j.outcome == Outcome::Failure)
            {
                failed_at = Some(stage_end);
            }
            // Drawn for every stage so the draws after do not depend on what was carried.
            let gap = TimeDelta::seconds(rng.random_range(2..=6));
            if stage_end > stage_start {
                stage_start = stage_end + gap;
            }
        }
        jobs
    }

    /// `POST .../runs/{id}/rerun-failed-jobs`: a new attempt re-runs the failed and skipped
    /// jobs (new ids, planned from now); the jobs that passed keep their result. Returns the
    /// new attempt number.
    pub fn rerun_failed_jobs(&mut self, run_id: u64) -> Result<u32, RerunError> {
        self.rerun(run_id, true)
    }

    /// `POST .../runs/{id}/rerun`: a new attempt re-runs every job. Returns its number.
    pub fn rerun_all_jobs(&mut self, run_id: u64) -> Result<u32, RerunError> {
        self.rerun(run_id, false)
    }

    fn rerun(&mut self, run_id: u64, only_failed: bool) -> Result<u32, RerunError> {
        let now = self.now;
        let run = self.run(run_id).ok_or(RerunError::NotFound)?;
        if now < run.completed_at() {
            return Err(RerunError::AlreadyRunning);
        }
        if run.run_attempt >= MAX_RUN_ATTEMPTS {
            return Err(RerunError::TooManyAttempts);
        }
        if only_failed && run.outcome() == Outcome::Success {
            return Err(RerunError::NothingFailed);
        }
        let attempt = run.run_attempt + 1;
        let previous = run.jobs.clone();
        let carried: Vec<JobRecord> = previous
            .iter()
            .filter(|job| only_failed && job.outcome == Outcome::Success)
            .cloned()
            .collect();
        // The commit's own failure comes back unless it was a flake; a random e2e flake
        // does not strike twice.
        let again = self
            .commit(&run.head_sha)
            .and_then(|c| c.ci_failure)
            .filter(|kind| !kind.passes_on_rerun());
        let mut rng = self.rng(
            b"rerun",
            run_id.wrapping_mul(64).wrapping_add(u64::from(attempt)),
        );
        let jobs = self.plan_attempt(
            &mut rng,
            now + TimeDelta::seconds(2),
            attempt,
            &carried,
            |name, _| again.filter(|kind| kind.job() == name),
        );
        let Some(run) = self.runs.iter_mut().find(|run| run.id == run_id) else {
            return Err(RerunError::NotFound);
        };
        let replaced = previous
            .into_iter()
            .filter(|job| !jobs.iter().any(|kept| kept.id == job.id));
        run.replaced_jobs.extend(replaced);
        run.jobs = jobs;
        run.run_attempt = attempt;
        run.attempt_started.push(now);
        let finished = run.completed_at();
        self.schedule(finished, Event::RunFinished { run_id });
        Ok(attempt)
    }

    fn run_finished(&mut self, at: DateTime<Utc>, run_id: u64) {
        let Some(dispatched_to) = self.run(run_id).map(|run| run.deploys_to.clone()) else {
            return;
        };
        let Some(run) = self.run(run_id) else { return };
        if run.outcome() != Outcome::Success {
            // A failed run may still pass on a re-run: it keeps its claim to deploy.
            return;
        }
        let (branch, sha) = (run.branch.clone(), run.head_sha.clone());
        // A forced move or a dispatched deploy may deploy an older commit (a rollback).
        let forced = self.deploy_even_if_older.remove(&run_id) || dispatched_to.is_some();
        let target = match &dispatched_to {
            Some(target) => self.topology.find(target),
            None => self.topology.by_branch(&branch),
        };
        let Some((environment, services)) = target.map(|e| (e.name.clone(), e.services.clone()))
        else {
            return;
        };
        let environment = environment.as_str();
        // Never deploy a commit older than what the environment already runs.
        let index_of = |sha: &str| self.commit_index.get(sha).copied();
        if !forced
            && let (Some(deployed), Some(this)) = (
                self.deployed_sha(environment).and_then(|d| index_of(&d)),
                index_of(&sha),
            )
            && deployed >= this
        {
            return;
        }
        let succeeds = self
            .pending_deploy_outcome
            .remove(&(branch.clone(), sha.clone()))
            .unwrap_or(true);
        for (position, service) in services.iter().enumerate() {
            let lag =
                TimeDelta::seconds(2 + position as i64 * self.scenario.worker_lag_secs as i64);
            self.schedule(
                at + lag,
                Event::Deploy {
                    environment: service.to_string(),
                    sha: sha.clone(),
                    succeeds,
                },
            );
        }
    }

    fn start_deployment(
        &mut self,
        at: DateTime<Utc>,
        environment: &str,
        sha: &str,
        succeeds: bool,
    ) {
        if self.has_open_api_deployment(environment, sha) {
            // The client that created it reports the outcome itself.
            return;
        }
        let id = self.next_deployment_id;
        self.next_deployment_id += 1 + (id % 5);
        let owner = self.topology.by_service(environment);
        let git_ref = owner
            .map(|e| e.branch.clone())
            .unwrap_or_else(|| sha.to_string());
        let production = owner.is_some_and(|e| e.name == self.topology.production().name);
        self.deployments.push(DeploymentRecord {
            id,
            sha: sha.to_string(),
            git_ref,
            environment: environment.to_string(),
            creator: self.deploy_bot.clone(),
            created_at: at,
            description: format!("Deploy {} to {environment}", short_sha(sha)),
            production,
            payload: "{}".to_string(),
            statuses: Vec::new(),
        });
        keep_newest(&mut self.deployments, self.scenario.deployments_kept);
        self.add_deployment_status(at, id, DeployState::Queued);
        let mut rng = self.rng(b"deploy", id);
        let started = at + TimeDelta::seconds(rng.random_range(3..=8));
        let finished = at + TimeDelta::seconds(rng.random_range(20..=40));
        self.schedule(
            started,
            Event::DeployStatus {
                deployment_id: id,
                state: DeployState::InProgress,
            },
        );
        let state = if succeeds {
            DeployState::Success
        } else {
            DeployState::Failure
        };
        self.schedule(
            finished,
            Event::DeployStatus {
                deployment_id: id,
                state,
            },
        );
    }

    fn add_deployment_status(&mut self, at: DateTime<Utc>, deployment_id: u64, state: DeployState) {
        self.add_status_marking(at, deployment_id, state, true, None);
    }

    /// Adds a status; a `success` marks the environment's earlier successes inactive unless
    /// `auto_inactive` is false. `description` replaces the default text for the state.
    fn add_status_marking(
        &mut self,
        at: DateTime<Utc>,
        deployment_id: u64,
        state: DeployState,
        auto_inactive: bool,
        description: Option<String>,
    ) {
        let Some(position) = self.deployments.iter().position(|d| d.id == deployment_id) else {
            return;
        };
        if state == DeployState::Success && auto_inactive {
            // GitHub marks the environment's earlier successful deployments inactive.
            let environment = self.deployments[position].environment.clone();
            let earlier: Vec<u64> = self
                .deployments
                .iter()
                .filter(|d| {
                    d.id != deployment_id
                        && d.environment == environment
                        && d.latest_state() == Some(DeployState::Success)
                })
                .map(|d| d.id)
                .collect();
            for id in earlier {
                self.push_status(at, id, DeployState::Inactive, None);
            }
        }
        self.push_status(at, deployment_id, state, description);
    }

    fn push_status(
        &mut self,
        at: DateTime<Utc>,
        deployment_id: u64,
        state: DeployState,
        description: Option<String>,
    ) {
        let id = self.next_status_id;
        self.next_status_id += 1 + (id % 3);
        let Some(deployment) = self.deployments.iter_mut().find(|d| d.id == deployment_id) else {
            return;
        };
        let description_override = description;
        let default_description = match state {
            DeployState::Pending => "Deployment pending",
            DeployState::Error => "Deployment errored",
            DeployState::Queued => "Deployment queued",
            DeployState::InProgress => "Deployment in progress",
            DeployState::Success => "Deployment finished successfully.",
            DeployState::Failure => "Deployment failed: health check did not pass",
            DeployState::Inactive => "Superseded by a newer deployment",
        };
        deployment.statuses.push(DeploymentStatusRecord {
            id,
            state,
            created_at: at,
            description: description_override.unwrap_or_else(|| default_description.to_string()),
        });
    }

    fn promote(
        &mut self,
        at: DateTime<Utc>,
        environment: &str,
        sha: Option<String>,
        deploy_succeeds: bool,
    ) {
        let Some(branch) = self.topology.find(environment).map(|e| e.branch.clone()) else {
            return;
        };
        let source = self.topology.source_of(environment).map(|e| e.name.clone());
        let Some(sha) = sha.or_else(|| source.and_then(|source| self.deployed_sha(&source))) else {
            return;
        };
        let current = self.branches.get(&branch).cloned();
        let (Some(target), Some(current_index)) = (
            self.commit_index.get(&sha).copied(),
            current
                .as_ref()
                .and_then(|c| self.commit_index.get(c).copied()),
        ) else {
            return;
        };
        // Only ever fast-forward.
        if target <= current_index {
            return;
        }
        // A commit that ran here and was replaced (rolled back) is not brought back: the
        // world would undo the captain's rollback.
        if self.was_replaced_in(environment, &sha) {
            return;
        }
        let Some(actor) = self.commit_at(target).map(|commit| commit.author.clone()) else {
            return;
        };
        self.branches.insert(branch.to_string(), sha.clone());
        if !deploy_succeeds {
            self.pending_deploy_outcome
                .insert((branch.to_string(), sha.clone()), false);
        }
        self.start_run(at + TimeDelta::seconds(2), &branch, &sha, actor, 0.0, None);
    }

    /// Whether someone acts on `environment` through the API: its lock ref is held, or a
    /// client deployed there within the last `every` seconds. The world's own scheduled
    /// promotions then stand back, as a second release captain would, so they never race
    /// the one at the keyboard.
    fn captain_is_active(&self, environment: &str, at: DateTime<Utc>, every: u64) -> bool {
        if self
            .other_refs
            .contains_key(&format!("shipdeck/locks/{environment}"))
        {
            return true;
        }
        let Some(services) = self.topology.find(environment).map(|e| &e.services) else {
            return false;
        };
        let client = api_client_actor();
        let since = at - TimeDelta::seconds(every as i64);
        self.deployments.iter().rev().any(|d| {
            d.creator.id == client.id && d.created_at > since && services.contains(&d.environment)
        })
    }

    /// Whether a client created a deployment of `sha` to this service (GitHub environment)
    /// through the API that has no final status yet: that record is the deployment.
    ///
    /// Also when the client's record of `sha` already says success and is still the
    /// environment's latest: a client that reports success as soon as the run ends may do so before the
    /// platform gets round to deploying, and that record stays the deployment.
    fn has_open_api_deployment(&self, environment: &str, sha: &str) -> bool {
        let client = api_client_actor();
        let is_ours = |d: &&DeploymentRecord| d.sha == sha && d.creator.id == client.id;
        let mut to_environment = self
            .deployments
            .iter()
            .filter(|d| d.environment == environment);
        let open = to_environment
            .clone()
            .filter(is_ours)
            .any(|d| !d.statuses.iter().any(|s| s.state.is_final()));
        open || to_environment.next_back().is_some_and(|latest| {
            is_ours(&latest) && latest.latest_state() == Some(DeployState::Success)
        })
    }

    /// The commit of an environment's latest successful deployment (its first service).
    pub fn deployed_sha(&self, environment: &str) -> Option<String> {
        let service = self.topology.find(environment)?.services.first()?;
        self.deployments
            .iter()
            .rev()
            .find(|d| {
                d.environment == *service && matches!(d.latest_state(), Some(DeployState::Success))
            })
            .map(|d| d.sha.clone())
    }

    /// A commit by full sha, unambiguous prefix (7+ characters) or branch name.
    pub fn commit(&self, reference: &str) -> Option<&CommitRecord> {
        let reference = reference.strip_prefix("refs/heads/").unwrap_or(reference);
        if let Some(head) = self.branches.get(reference) {
            return self.commit_index.get(head).and_then(|i| self.commit_at(*i));
        }
        if let Some(index) = self.commit_index.get(reference) {
            return self.commit_at(*index);
        }
        if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut matching = self.commits.iter().filter(|c| c.sha.starts_with(reference));
            let first = matching.next()?;
            return matching.next().is_none().then_some(first);
        }
        None
    }

    /// The commits reachable from `reference`, newest first.
    /// Position of a commit in the (linear) history.
    pub fn commit_position(&self, sha: &str) -> Option<usize> {
        self.commit_index.get(sha).copied()
    }

    pub fn history(&self, reference: &str) -> Vec<&CommitRecord> {
        let Some(head) = self.commit(reference) else {
            return Vec::new();
        };
        let Some(index) = self.commit_index.get(&head.sha) else {
            return Vec::new();
        };
        let kept_through = (*index + 1).saturating_sub(self.commits_forgotten);
        self.commits[..kept_through].iter().rev().collect()
    }

    pub fn run(&self, id: u64) -> Option<&RunRecord> {
        self.runs.iter().find(|run| run.id == id)
    }

    /// A job of any attempt, with its run.
    pub fn job(&self, id: u64) -> Option<(&RunRecord, &JobRecord)> {
        self.runs.iter().find_map(|run| {
            run.jobs
                .iter()
                .chain(&run.replaced_jobs)
                .find(|job| job.id == id)
                .map(|job| (run, job))
        })
    }

    /// Every job, of any attempt of any run kept, that failed with `kind`, newest first.
    pub fn jobs_failing_with(&self, kind: CiFailure) -> Vec<(&RunRecord, &JobRecord)> {
        let mut found: Vec<(&RunRecord, &JobRecord)> = self
            .runs
            .iter()
            .flat_map(|run| {
                run.jobs
                    .iter()
                    .chain(&run.replaced_jobs)
                    .filter(|job| job.failure == Some(kind))
                    .map(move |job| (run, job))
            })
            .collect();
        found.sort_by_key(|(_, job)| std::cmp::Reverse(job.id));
        found
    }

    pub fn deployment(&self, id: u64) -> Option<&DeploymentRecord> {
        self.deployments.iter().find(|d| d.id == id)
    }

    /// Whether staging's e-mail health is degraded at `now`.
    pub fn email_degraded(&self, environment: &str, now: DateTime<Utc>) -> bool {
        let every = self.scenario.email_degraded_every_secs as i64;
        let lasts = self.scenario.email_degraded_for_secs as i64;
        if environment != self.topology.pre_production().name || every <= 0 {
            return false;
        }
        let since_start = (now - self.start).num_seconds();
        // The first window opens a few minutes in, so the demo starts healthy.
        let phase = (since_start - every / 3).rem_euclid(every);
        since_start >= every / 3 && phase < lasts
    }

    /// A random generator for one entity, independent of the order events happen in.
    pub fn rng(&self, kind: &[u8], n: u64) -> SmallRng {
        let digest = self.digest(kind, n);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        SmallRng::seed_from_u64(u64::from_le_bytes(seed))
    }

    fn digest(&self, kind: &[u8], n: u64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.scenario.seed.to_le_bytes());
        hasher.update(kind);
        hasher.update(n.to_le_bytes());
        hasher.finalize().into()
    }

    fn hash_hex(&self, kind: &[u8], n: u64) -> String {
        hex::encode(&self.digest(kind, n)[..20])
    }
}

/// How many attempts GitHub allows a run (the first and 49 re-runs).
pub const MAX_RUN_ATTEMPTS: u32 = 50;

/// Why a re-run was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RerunError {
    #[error("Not Found")]
    NotFound,
    /// GitHub's answer to re-running a run that has not finished.
    #[error("This workflow is already running")]
    AlreadyRunning,
    /// Re-running the failed jobs of a run that has none.
    #[error("This workflow run cannot be rerun: it has no failed jobs")]
    NothingFailed,
    #[error(
        "This workflow run cannot be rerun: it has reached the maximum of {MAX_RUN_ATTEMPTS} attempts"
    )]
    TooManyAttempts,
}

/// Why a write to the world was refused (the routes turn these into GitHub's answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("Object does not exist")]
    UnknownSha,
    #[error("Update is not a fast forward")]
    NotFastForward,
    #[error("Reference already exists")]
    RefExists,
    #[error("Reference does not exist")]
    RefMissing,
    #[error("No ref found for: {0}")]
    UnknownRef(String),
    #[error("Unknown environment: {0}")]
    UnknownEnvironment(String),
    #[error("No commits between {0} and {1}")]
    NoCommitsBetween(String, String),
}

/// Who the sandbox says made a write through the API (the token's owner).
pub fn api_client_actor() -> Actor {
    Actor {
        id: 88_061_204,
        login: "shipdeck-bot".to_string(),
        name: "shipdeck".to_string(),
        email: "shipdeck-bot@acme.example".to_string(),
        is_bot: false,
    }
}

/// How long GitHub takes to work out whether a new pull request can merge (`mergeable`
/// is null until then).
pub const MERGEABILITY_DELAY_SECS: i64 = 3;
/// When a pull request's approving review arrives, after it is opened.
pub const REVIEW_DELAY_SECS: i64 = 60;

/// A pull request between two branches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRecord {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub author: Actor,
    /// An approving reviewer other than the author (from the scenario's authors).
    pub reviewer: Actor,
    pub created_at: DateTime<Utc>,
    pub merged_at: Option<DateTime<Utc>>,
    /// The commit the base moved to on merge.
    pub merge_commit_sha: Option<String>,
    /// Head and base shas when merged (afterwards the branches move on).
    pub merged_heads: Option<(String, String)>,
}

/// Why a merge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("Pull Request is not mergeable")]
    NotMergeable,
    #[error("Head branch was modified. Review and try the merge again.")]
    HeadMoved,
}

/// An annotated tag a client asks for (`POST /repos/{o}/{r}/git/tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTag {
    pub tag: String,
    pub message: String,
    pub object_sha: String,
    pub tagger_name: String,
    pub tagger_email: String,
    pub tagger_date: DateTime<Utc>,
}

/// A git tag object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub sha: String,
    pub tag: String,
    pub message: String,
    /// The commit it points at.
    pub object_sha: String,
    pub tagger_name: String,
    pub tagger_email: String,
    pub tagger_date: DateTime<Utc>,
}

/// A deployment a client asks for (`POST /repos/{o}/{r}/deployments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    pub production: Option<bool>,
    /// JSON text.
    pub payload: String,
    pub creator: Actor,
}

/// The write side: what GitHub's write endpoints do to the world.
impl World {
    /// The sha a full ref name (`refs/heads/main`, `refs/shipdeck/locks/prod`) points at.
    pub fn ref_sha(&self, full_ref: &str) -> Option<&String> {
        let name = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        match name.strip_prefix("heads/") {
            Some(branch) => self.branches.get(branch),
            None => self.other_refs.get(name),
        }
    }

    /// Moves a branch. Without `force` only a fast-forward is allowed. Moving an
    /// environment's branch starts its CI run, which deploys the environment when it passes
    /// (the same path the scenario's own promotions take).
    pub fn update_branch(
        &mut self,
        branch: &str,
        sha: &str,
        force: bool,
    ) -> Result<(), WriteError> {
        let target = *self.commit_index.get(sha).ok_or(WriteError::UnknownSha)?;
        let actor = self
            .commit_at(target)
            .map(|commit| commit.author.clone())
            .ok_or(WriteError::UnknownSha)?;
        let current = self.branches.get(branch).ok_or(WriteError::RefMissing)?;
        let current_index = self.commit_index.get(current).copied();
        // History is linear: a fast-forward never goes back.
        if !force && current_index.is_some_and(|c| target < c) {
            return Err(WriteError::NotFastForward);
        }
        if current_index == Some(target) {
            return Ok(());
        }
        self.branches.insert(branch.to_string(), sha.to_string());
        if self.topology.by_branch(branch).is_some() {
            self.start_run(
                self.now + TimeDelta::seconds(2),
                branch,
                sha,
                actor,
                0.0,
                None,
            );
            if force && let Some(run) = self.runs.last() {
                // A forced move is a rollback: deploy it even though it is older.
                self.deploy_even_if_older.insert(run.id);
            }
        }
        Ok(())
    }

    /// Creates a ref; fails when it exists (an atomic lock primitive).
    /// A ref outside `refs/heads/` may point at a tag object (the engine's lock refs do).
    pub fn create_ref(&mut self, full_ref: &str, sha: &str) -> Result<(), WriteError> {
        let name = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        let is_branch = name.starts_with("heads/");
        let known =
            self.commit_index.contains_key(sha) || (!is_branch && self.tags.contains_key(sha));
        if !known {
            return Err(WriteError::UnknownSha);
        }
        if self.ref_sha(full_ref).is_some() {
            return Err(WriteError::RefExists);
        }
        match name.strip_prefix("heads/") {
            Some(branch) => self.branches.insert(branch.to_string(), sha.to_string()),
            None => self.other_refs.insert(name.to_string(), sha.to_string()),
        };
        Ok(())
    }

    /// `tag` for an annotated tag object's sha, else `commit`.
    pub fn object_type(&self, sha: &str) -> &'static str {
        if self.tags.contains_key(sha) {
            "tag"
        } else {
            "commit"
        }
    }

    /// Creates an annotated tag object pointing at a commit; returns its sha, a hash of its
    /// content (as git's is: the same tag twice is the same object).
    pub fn create_tag(&mut self, request: NewTag) -> Result<String, WriteError> {
        if !self.commit_index.contains_key(&request.object_sha) {
            return Err(WriteError::UnknownSha);
        }
        let mut hasher = Sha256::new();
        for part in [
            "tag",
            &request.tag,
            &request.message,
            &request.object_sha,
            &request.tagger_name,
            &request.tagger_email,
            &request.tagger_date.to_rfc3339(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let sha = hex::encode(&digest[..20]);
        self.tags.insert(
            sha.clone(),
            TagRecord {
                sha: sha.clone(),
                tag: request.tag,
                message: request.message,
                object_sha: request.object_sha,
                tagger_name: request.tagger_name,
                tagger_email: request.tagger_email,
                tagger_date: request.tagger_date,
            },
        );
        Ok(sha)
    }

    pub fn delete_ref(&mut self, full_ref: &str) -> Result<(), WriteError> {
        let name = full_ref.strip_prefix("refs/").unwrap_or(full_ref);
        let removed = match name.strip_prefix("heads/") {
            Some(branch) => self.branches.remove(branch),
            None => self.other_refs.remove(name),
        };
        removed.map(|_| ()).ok_or(WriteError::RefMissing)
    }

    /// Creates a deployment a client asked for; it has no status until the client adds one.
    pub fn create_deployment(&mut self, request: NewDeployment) -> Result<u64, WriteError> {
        let sha = self
            .commit(&request.git_ref)
            .map(|c| c.sha.clone())
            .ok_or_else(|| WriteError::UnknownRef(request.git_ref.clone()))?;
        let id = self.next_deployment_id;
        self.next_deployment_id += 1 + (id % 5);
        let production = request.production.unwrap_or_else(|| {
            self.topology
                .by_service(&request.environment)
                .is_some_and(|e| e.name == self.topology.production().name)
        });
        self.deployments.push(DeploymentRecord {
            id,
            sha,
            git_ref: request.git_ref,
            environment: request.environment,
            creator: request.creator,
            created_at: self.now,
            description: request.description,
            production,
            payload: request.payload,
            statuses: Vec::new(),
        });
        keep_newest(&mut self.deployments, self.scenario.deployments_kept);
        Ok(id)
    }

    /// Dispatches a workflow on `branch` at `sha`: CI, or the deploy workflow, whose run
    /// deploys `deploy_to` when it passes. Returns the run id.
    pub fn dispatch_workflow(
        &mut self,
        branch: &str,
        sha: &str,
        deploy_to: Option<&str>,
    ) -> Result<u64, WriteError> {
        if !self.commit_index.contains_key(sha) {
            return Err(WriteError::UnknownSha);
        }
        if let Some(environment) = deploy_to
            && !self.topology.contains(environment)
        {
            return Err(WriteError::UnknownEnvironment(environment.to_string()));
        }
        let actor = api_client_actor();
        let failure = deploy_to.and_then(|env| self.scenario.deploy_failures.get(env).copied());
        self.start_run(
            self.now + TimeDelta::seconds(2),
            branch,
            sha,
            actor,
            0.0,
            failure,
        );
        let run = self.runs.last_mut().ok_or(WriteError::UnknownSha)?;
        run.event = "workflow_dispatch".to_string();
        run.deploys_to = deploy_to.map(str::to_string);
        Ok(run.id)
    }

    /// Opens a pull request from `head` into `base`; refused when base already has every
    /// commit of head. Returns its number.
    pub fn create_pull(
        &mut self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, WriteError> {
        let head_sha = self
            .branches
            .get(head)
            .ok_or_else(|| WriteError::UnknownRef(head.to_string()))?;
        let base_sha = self
            .branches
            .get(base)
            .ok_or_else(|| WriteError::UnknownRef(base.to_string()))?;
        let (head_at, base_at) = (
            self.commit_position(head_sha),
            self.commit_position(base_sha),
        );
        if head_at <= base_at {
            return Err(WriteError::NoCommitsBetween(
                base.to_string(),
                head.to_string(),
            ));
        }
        let number = 1500 + self.pulls.len() as u64 + 1;
        let author = api_client_actor();
        let reviewer = {
            let pool = &self.scenario.authors;
            let pick = &pool[(number as usize) % pool.len().max(1)];
            Actor {
                id: 7_100_000 + number,
                login: pick.login.clone(),
                name: pick.name.clone(),
                email: format!("{}@acme.example", pick.login),
                is_bot: false,
            }
        };
        self.pulls.push(PullRecord {
            number,
            id: 2_100_000_000 + number * 13,
            title: title.to_string(),
            body: body.to_string(),
            head: head.to_string(),
            base: base.to_string(),
            author,
            reviewer,
            created_at: self.now,
            merged_at: None,
            merge_commit_sha: None,
            merged_heads: None,
        });
        Ok(number)
    }

    pub fn pull(&self, number: u64) -> Option<&PullRecord> {
        self.pulls.iter().find(|p| p.number == number)
    }

    /// The (head, base) shas of a pull request now: live branch heads while open.
    pub fn pull_shas(&self, pull: &PullRecord) -> (String, String) {
        if let Some(heads) = &pull.merged_heads {
            return heads.clone();
        }
        let head = self.branches.get(&pull.head).cloned().unwrap_or_default();
        let base = self.branches.get(&pull.base).cloned().unwrap_or_default();
        (head, base)
    }

    /// `None` while GitHub is still computing; then whether base can take head (with linear
    /// history: head is strictly ahead of base).
    pub fn pull_mergeable(&self, pull: &PullRecord) -> Option<bool> {
        if pull.merged_at.is_some() {
            return Some(false);
        }
        if self.now < pull.created_at + TimeDelta::seconds(MERGEABILITY_DELAY_SECS) {
            return None;
        }
        let (head, base) = self.pull_shas(pull);
        Some(self.commit_position(&head) > self.commit_position(&base))
    }

    /// Merges by moving base to head (a fast-forward, which deploys an environment branch).
    /// `expected_head` must still be the head when given.
    pub fn merge_pull(
        &mut self,
        number: u64,
        expected_head: Option<&str>,
    ) -> Result<String, MergeError> {
        let pull = self.pull(number).ok_or(MergeError::NotMergeable)?.clone();
        let (head, base) = self.pull_shas(&pull);
        if self.pull_mergeable(&pull) != Some(true) {
            return Err(MergeError::NotMergeable);
        }
        if expected_head.is_some_and(|sha| sha != head) {
            return Err(MergeError::HeadMoved);
        }
        self.update_branch(&pull.base, &head, false)
            .map_err(|_| MergeError::NotMergeable)?;
        let now = self.now;
        if let Some(record) = self.pulls.iter_mut().find(|p| p.number == number) {
            record.merged_at = Some(now);
            record.merge_commit_sha = Some(head.clone());
            record.merged_heads = Some((head.clone(), base));
        }
        Ok(head)
    }

    /// Adds a status to a deployment; returns the new status id.
    pub fn create_deployment_status(
        &mut self,
        deployment_id: u64,
        state: DeployState,
        description: Option<String>,
        auto_inactive: bool,
    ) -> Option<u64> {
        self.deployment(deployment_id)?;
        self.add_status_marking(self.now, deployment_id, state, auto_inactive, description);
        self.deployment(deployment_id)
            .and_then(|d| d.statuses.last())
            .map(|s| s.id)
    }
}

/// One stretch of time during which one commit ran in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningPeriod {
    pub sha: String,
    /// The deployment that brought it in.
    pub deployment_id: u64,
    /// When that deployment reached success.
    pub from: DateTime<Utc>,
    /// When a deployment of another commit reached success (`None`: still running).
    pub until: Option<DateTime<Utc>>,
    /// The commit's defect, when defects show in this environment.
    pub defect: Option<DefectKind>,
}

/// What ran in one environment over time, oldest first, computed once from the deployments
/// so that per-minute questions over hours of history cost a binary search each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningHistory {
    pub environment: String,
    pub periods: Vec<RunningPeriod>,
}

impl RunningHistory {
    /// The period running at `at` (a deployment that reached success exactly then counts).
    pub fn period_at(&self, at: DateTime<Utc>) -> Option<&RunningPeriod> {
        let after = self.periods.partition_point(|period| period.from <= at);
        after
            .checked_sub(1)
            .and_then(|index| self.periods.get(index))
    }

    pub fn sha_at(&self, at: DateTime<Utc>) -> Option<&str> {
        self.period_at(at).map(|period| period.sha.as_str())
    }

    pub fn defect_at(&self, at: DateTime<Utc>) -> Option<DefectKind> {
        self.period_at(at).and_then(|period| period.defect)
    }
}

/// How long after it was queued a background job of the apps is done (world time).
pub const APP_JOB_SECS: i64 = 2;
/// Background jobs kept per world; the oldest are forgotten first.
pub const MAX_APP_JOBS: usize = 1000;

/// A background job queued through an app's `POST /{environment}/api/jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppJob {
    /// `job-<n>`.
    pub id: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    /// Queued while a `failing_flow` commit ran: the broken worker never picks it up.
    pub stuck: bool,
}

/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppJobStatus {
    Queued,
    Running,
    Done,
}

impl AppJobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppJobStatus::Queued => "queued",
            AppJobStatus::Running => "running",
            AppJobStatus::Done => "done",
        }
    }
}

impl AppJob {
    /// Queued for the first second, running for the next, done after [`APP_JOB_SECS`];
    /// queued for good when stuck.
    pub fn status(&self, now: DateTime<Utc>) -> AppJobStatus {
        let age = now - self.created_at;
        if self.stuck || age < TimeDelta::seconds(1) {
            AppJobStatus::Queued
        } else if age < TimeDelta::seconds(APP_JOB_SECS) {
            AppJobStatus::Running
        } else {
            AppJobStatus::Done
        }
    }
}

/// Defective commits and what the apps run: which commit ran where and when, and the
/// background jobs of the apps' job API.
impl World {
    /// The defect of a commit (full sha or unambiguous prefix); `None` for a good or unknown
    /// commit.
    pub fn defect_of(&self, sha: &str) -> Option<DefectKind> {
        self.commit(sha).and_then(|commit| commit.defect)
    }

    /// What ran in `environment` over time: the commit of the deployment that last reached
    /// success, over the environment's first service (prod: the web service, not the worker).
    /// Consecutive deployments of one commit make one period.
    pub fn running_history(&self, environment: &str) -> RunningHistory {
        let service = self
            .topology
            .find(environment)
            .and_then(|e| e.services.first());
        let mut live: Vec<(DateTime<Utc>, &DeploymentRecord)> = self
            .deployments
            .iter()
            .filter(|d| service.is_some_and(|service| d.environment == *service))
            .filter_map(|d| {
                d.statuses
                    .iter()
                    .find(|status| status.state == DeployState::Success)
                    .map(|status| (status.created_at, d))
            })
            .collect();
        // Stable: of two that went live at the same moment, the one created later wins.
        live.sort_by_key(|(at, _)| *at);
        let shows = self.scenario.defects_show_in(environment);
        let mut periods: Vec<RunningPeriod> = Vec::new();
        for (at, deployment) in live {
            if periods
                .last()
                .is_some_and(|last| last.sha == deployment.sha)
            {
                continue;
            }
            if let Some(last) = periods.last_mut() {
                last.until = Some(at);
            }
            periods.push(RunningPeriod {
                sha: deployment.sha.clone(),
                deployment_id: deployment.id,
                from: at,
                until: None,
                defect: if shows {
                    self.defect_of(&deployment.sha)
                } else {
                    None
                },
            });
        }
        RunningHistory {
            environment: environment.to_string(),
            periods,
        }
    }

    /// The defect of the commit running in `environment` at `at`, when defects show there.
    pub fn defect_showing(&self, environment: &str, at: DateTime<Utc>) -> Option<DefectKind> {
        self.running_history(environment).defect_at(at)
    }

    /// Whether `sha` was deployed to `environment` (any of its services) and something else
    /// runs there now: a commit that was rolled back, or replaced before it went live.
    fn was_replaced_in(&self, environment: &str, sha: &str) -> bool {
        let Some(services) = self.topology.find(environment).map(|e| &e.services) else {
            return false;
        };
        let deployed_before = self
            .deployments
            .iter()
            .any(|d| d.sha == sha && services.contains(&d.environment));
        deployed_before && self.deployed_sha(environment).as_deref() != Some(sha)
    }

    /// Queues a background job in an environment's app, now.
    pub fn create_app_job(&mut self, environment: &str) -> AppJob {
        self.app_jobs_created += 1;
        let job = AppJob {
            id: format!("job-{}", self.app_jobs_created),
            environment: environment.to_string(),
            created_at: self.now,
            stuck: self.defect_showing(environment, self.now) == Some(DefectKind::FailingFlow),
        };
        if self.app_jobs.len() >= MAX_APP_JOBS {
            self.app_jobs.pop_front();
        }
        self.app_jobs.push_back(job.clone());
        job
    }

    /// A background job of an environment's app (another environment's job is not found).
    pub fn app_job(&self, environment: &str, id: &str) -> Option<&AppJob> {
        self.app_jobs
            .iter()
            .find(|job| job.id == id && job.environment == environment)
    }

    /// Forgets a background job; `false` when there was none.
    pub fn delete_app_job(&mut self, environment: &str, id: &str) -> bool {
        let Some(position) = self
            .app_jobs
            .iter()
            .position(|job| job.id == id && job.environment == environment)
        else {
            return false;
        };
        self.app_jobs.remove(position);
        true
    }
}

/// Worlds with a defective commit running, for the sandbox's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap()
    }

    /// Every new commit has `kind`; the world never promotes by itself.
    pub fn defect_scenario(kind: DefectKind) -> Scenario {
        let mut scenario = Scenario::default_demo();
        scenario.defect_every = 1;
        scenario.defects = vec![kind];
        scenario.promote_staging_every_secs = 10 * 365 * 86_400;
        scenario.promote_prod_every_secs = 10 * 365 * 86_400;
        scenario
    }

    /// Deploys `sha` to an environment's first service through the API, live right now.
    pub fn deploy_now(world: &mut World, environment: &str, sha: &str) -> u64 {
        let id = world
            .create_deployment(NewDeployment {
                git_ref: sha.to_string(),
                environment: environment.to_string(),
                description: "test deploy".to_string(),
                production: None,
                payload: "{}".to_string(),
                creator: api_client_actor(),
            })
            .unwrap();
        world.create_deployment_status(id, DeployState::Success, None, true);
        id
    }

    /// Ten minutes in, prod runs a fresh commit of `kind`: (world, prod's good commit
    /// before it, the defective commit). It went live at `world.now`.
    pub fn prod_running(kind: DefectKind) -> (World, String, String) {
        let mut world = World::new(defect_scenario(kind), start());
        world.advance_to(start() + TimeDelta::minutes(10));
        let good = world.deployed_sha("prod").unwrap();
        let bad = world.branches["main"].clone();
        assert_eq!(world.defect_of(&bad), Some(kind));
        assert_eq!(world.defect_of(&good), None);
        deploy_now(&mut world, "prod", &bad);
        (world, good, bad)
    }
}

/// A planned step: its name, (start, end), outcome.
type StepSpan = (String, (DateTime<Utc>, DateTime<Utc>), Outcome);

/// The steps of a job, as GitHub names them for the workflow: set up, checkout, setup-node,
/// `npm ci` (the `install` job's own command), the job's command, the checkout's post step,
/// complete. A failing job fails in its command step; the rest still completes.
fn plan_steps(
    started: DateTime<Utc>,
    completed: DateTime<Utc>,
    job_name: &str,
    command: &str,
    outcome: Outcome,
) -> Vec<StepPlan> {
    let total = (completed - started).num_seconds().max(6);
    let second = TimeDelta::seconds(1);
    let command_end = completed - second;
    // The steps before the command take what they need, leaving the command two seconds
    // at least (a job lasts six at least).
    let limit = (command_end - TimeDelta::seconds(2)).max(started);
    let mut boundary = started;
    let mut span = |seconds: i64| {
        let from = boundary;
        boundary = (boundary + TimeDelta::seconds(seconds)).min(limit);
        (from, boundary)
    };
    let mut spans: Vec<StepSpan> = vec![
        ("Set up job".to_string(), span(1), Outcome::Success),
        (
            format!("Run {CHECKOUT_ACTION}"),
            span((total / 10).clamp(1, 3)),
            Outcome::Success,
        ),
        (
            format!("Run {SETUP_NODE_ACTION}"),
            span(1),
            Outcome::Success,
        ),
    ];
    if job_name != "install" {
        spans.push((
            "Run npm ci".to_string(),
            span((total / 6).clamp(1, 10)),
            Outcome::Success,
        ));
    }
    let command_start = boundary;
    spans.extend([
        (
            format!("Run {command}"),
            (command_start, command_end),
            outcome,
        ),
        (
            format!("Post Run {CHECKOUT_ACTION}"),
            (command_end, command_end),
            Outcome::Success,
        ),
        (
            "Complete job".to_string(),
            (command_end, completed),
            Outcome::Success,
        ),
    ]);
    spans
        .into_iter()
        .enumerate()
        .map(
            |(i, (name, (started_at, completed_at), outcome))| StepPlan {
                number: i as u32 + 1,
                name,
                started_at,
                completed_at: completed_at.max(started_at),
                outcome,
            },
        )
        .collect()
}

/// The actions every CI job uses (named in step names and logs).
pub const CHECKOUT_ACTION: &str = "actions/checkout@v4";
pub const SETUP_NODE_ACTION: &str = "actions/setup-node@v4";

pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Issues kept; older ones fall off so a long demo does not grow.
pub const MAX_ISSUES: usize = 500;
/// Issue numbers start above this: a range of their own, so the numbers of pull requests
/// (from 1501) never collide with them.
pub const ISSUE_NUMBER_BASE: u64 = 4000;

/// An issue filed through `POST /repos/{o}/{r}/issues`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRecord {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    /// Label names, in the order given, without repeats.
    pub labels: Vec<String>,
    pub author: Actor,
    pub created_at: DateTime<Utc>,
    /// Set when it was closed; `None` while it is open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Changed by every comment and state change.
    pub updated_at: DateTime<Utc>,
    pub comments: Vec<IssueCommentRecord>,
}

/// A comment on an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCommentRecord {
    pub id: u64,
    pub body: String,
    pub author: Actor,
    pub created_at: DateTime<Utc>,
}

/// Issue filing: what `POST` and `GET /repos/{o}/{r}/issues` do to and read from the world.
impl World {
    /// Files an open issue by the API client; returns its number.
    pub fn create_issue(&mut self, title: &str, body: Option<&str>, labels: &[String]) -> u64 {
        self.issues_filed += 1;
        let number = ISSUE_NUMBER_BASE + self.issues_filed;
        let mut names: Vec<String> = Vec::new();
        for label in labels {
            if !label.is_empty() && !names.contains(label) {
                names.push(label.clone());
            }
        }
        if self.issues.len() == MAX_ISSUES {
            self.issues.pop_front();
        }
        self.issues.push_back(IssueRecord {
            number,
            id: 2_900_000_000 + number * 17,
            title: title.to_string(),
            body: body.map(str::to_string),
            labels: names,
            author: api_client_actor(),
            created_at: self.now,
            closed_at: None,
            updated_at: self.now,
            comments: Vec::new(),
        });
        number
    }

    pub fn issue(&self, number: u64) -> Option<&IssueRecord> {
        self.issues.iter().find(|issue| issue.number == number)
    }

    /// Comments on issue `number` by the API client; returns the comment, or `None` when
    /// there is no such issue.
    pub fn comment_on_issue(&mut self, number: u64, body: &str) -> Option<IssueCommentRecord> {
        let now = self.now;
        let issue = self
            .issues
            .iter_mut()
            .find(|issue| issue.number == number)?;
        let comment = IssueCommentRecord {
            id: 3_100_000_000 + number * 1_000 + issue.comments.len() as u64,
            body: body.to_string(),
            author: api_client_actor(),
            created_at: now,
        };
        issue.comments.push(comment.clone());
        issue.updated_at = now;
        Some(comment)
    }

    /// Opens or closes issue `number`; `false` when there is no such issue. Setting the
    /// state it already has changes nothing, as on GitHub.
    pub fn set_issue_open(&mut self, number: u64, open: bool) -> bool {
        let now = self.now;
        let Some(issue) = self.issues.iter_mut().find(|issue| issue.number == number) else {
            return false;
        };
        if open == issue.closed_at.is_none() {
            return true;
        }
        issue.closed_at = if open { None } else { Some(now) };
        issue.updated_at = now;
        true
    }
}

#[cfg(test)]
mod tests {

    /// How many of staging's deployments still stand at `success`.
    fn staging_successes(world: &World) -> usize {
        world
            .deployments
            .iter()
            .filter(|d| d.environment == "staging")
            .filter(|d| d.latest_state() == Some(DeployState::Success))
            .count()
    }
    #[test]
    fn history_is_bounded_however_long_the_world_runs() {
        let start = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut world = World::new(Scenario::default_demo(), start);
        // Three weeks of world time.
        world.advance_to(start + TimeDelta::days(21));
        assert!(world.runs.len() <= MAX_RUNS, "{} runs", world.runs.len());
        assert!(world.deployments.len() <= MAX_DEPLOYMENTS);
        assert_eq!(world.runs.len(), MAX_RUNS, "the world kept moving");
        assert!(
            world.commits.len() <= MAX_COMMITS,
            "{} commits",
            world.commits.len()
        );
        assert!(
            world.commits_forgotten > 0,
            "three weeks outgrow the commits kept"
        );
        // The newest state is intact: every branch head still has its run and its commit,
        // and every deployment kept its commit.
        for sha in world.branches.values() {
            assert!(
                world.runs.iter().any(|r| &r.head_sha == sha),
                "run for {sha}"
            );
            assert!(world.commit(sha).is_some(), "commit {sha}");
        }
        for deployment in &world.deployments {
            assert!(
                world.commit(&deployment.sha).is_some(),
                "{}",
                deployment.sha
            );
        }
    }

    #[test]
    fn forgotten_commits_keep_the_positions_of_the_rest_and_spare_what_is_pointed_at() {
        let start = start();
        let scenario = Scenario {
            commits_kept: 50,
            runs_kept: 20,
            deployments_kept: 20,
            ..Scenario::default_demo()
        };
        let mut world = World::new(scenario, start);
        world.advance_to(start + TimeDelta::hours(12));
        assert_eq!(
            world.commits.len(),
            50,
            "kept exactly what the scenario says"
        );
        let forgotten = world.commits_forgotten;
        assert!(forgotten > 100, "{forgotten} forgotten in 12 hours");
        // Shas are drawn from positions in the whole history, which do not shift.
        let oldest = &world.commits[0];
        assert_eq!(world.commit_position(&oldest.sha), Some(forgotten));
        assert_eq!(oldest.sha, world.commit_sha(forgotten));
        assert_eq!(
            world.commit_at(forgotten).map(|c| &c.sha),
            Some(&oldest.sha)
        );
        assert!(world.commit_at(forgotten - 1).is_none());
        assert!(world.commit(&world.commit_sha(forgotten - 1)).is_none());
        let head = world.commit_position(&world.branches["main"]).unwrap();
        assert_eq!(head, forgotten + 49);
        assert_eq!(world.history("main").len(), 50);
        let between = world.commits_between(head - 3, head);
        let between: Vec<usize> = between
            .iter()
            .filter_map(|c| world.commit_position(&c.sha))
            .collect();
        assert_eq!(between, [head - 2, head - 1, head]);
        assert_eq!(world.commits_between(0, forgotten).len(), 1);

        // A branch left behind pins its commit and everything after it.
        let pinned = world.commits[10].sha.clone();
        world.create_ref("refs/heads/hotfix", &pinned).unwrap();
        world.advance_to(start + TimeDelta::hours(24));
        assert_eq!(world.commits[0].sha, pinned);
        assert!(world.commits.len() > 50);
        // Once it moves on, the old commits go.
        let main_head = world.branches["main"].clone();
        world.update_branch("hotfix", &main_head, false).unwrap();
        world.advance_to(start + TimeDelta::hours(25));
        assert_eq!(world.commits.len(), 50);
        assert!(world.commit(&pinned).is_none());
    }

    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap()
    }

    #[test]
    fn history_leaves_three_branches_in_order_with_hostile_staging_head() {
        let world = World::new(Scenario::default_demo(), start());
        assert_eq!(world.commits.len(), 20);
        let index = |branch: &str| world.commit_index[&world.branches[branch]];
        assert!(index("prod") < index("staging"));
        assert!(index("staging") < index("main"));
        let staging = world.commit("staging").unwrap();
        assert!(staging.subject().contains('\u{1b}'));
        assert_eq!(world.deployed_sha("staging"), Some(staging.sha.clone()));
        assert!(world.deployed_sha("prod").is_some());
        assert!(world.deployed_sha("dev").is_some());
    }

    #[test]
    fn history_has_failed_and_inactive_deployments() {
        let world = World::new(Scenario::default_demo(), start());
        let states: Vec<_> = world
            .deployments
            .iter()
            .filter_map(|d| d.latest_state())
            .collect();
        assert!(states.contains(&DeployState::Failure));
        assert!(states.contains(&DeployState::Inactive));
        assert!(
            world
                .deployments
                .iter()
                .any(|d| d.environment == "prod-worker")
        );
    }

    /// Every commit fails CI, the kinds in turn; the world never promotes by itself.
    fn every_commit_fails() -> Scenario {
        let mut scenario = Scenario::default_demo();
        scenario.lint_fails_every = 1;
        scenario.promote_staging_every_secs = 10 * 365 * 86_400;
        scenario.promote_prod_every_secs = 10 * 365 * 86_400;
        scenario
    }

    /// The first-attempt run on main of the oldest commit failing with `kind`.
    fn first_run_failing_with(world: &World, kind: CiFailure) -> RunRecord {
        let commit = world
            .commits
            .iter()
            .find(|c| c.ci_failure == Some(kind))
            .unwrap_or_else(|| panic!("a commit failing with {kind:?}"));
        world
            .runs
            .iter()
            .find(|r| r.head_sha == commit.sha && r.branch == "main")
            .cloned()
            .unwrap()
    }

    #[test]
    fn lint_failure_skips_later_stages() {
        let mut world = World::new(Scenario::default_demo(), start());
        world.advance_to(start() + TimeDelta::minutes(20));
        let first_new = &world.commits[Scenario::default_demo().history_commits as usize];
        assert_eq!(first_new.ci_failure, Some(CiFailure::Lint));
        let run = first_run_failing_with(&world, CiFailure::Lint);
        assert_eq!(run.outcome(), Outcome::Failure);
        let lint = run.jobs.iter().find(|j| j.name == "lint").unwrap();
        assert_eq!(lint.outcome, Outcome::Failure);
        assert!(
            run.jobs
                .iter()
                .filter(|j| j.stage > lint.stage)
                .all(|j| j.outcome == Outcome::Skipped)
        );
    }

    #[test]
    fn each_kind_fails_its_job_and_skips_the_later_stages() {
        let world = World::new(every_commit_fails(), start());
        for kind in CiFailure::ALL {
            let run = first_run_failing_with(&world, kind);
            let failed: Vec<&JobRecord> = run
                .jobs
                .iter()
                .filter(|j| j.outcome == Outcome::Failure)
                .collect();
            assert_eq!(failed.len(), 1, "{kind:?}: {failed:?}");
            let job = failed[0];
            assert_eq!((job.name.as_str(), job.failure), (kind.job(), Some(kind)));
            for other in &run.jobs {
                let expected = if other.stage > job.stage {
                    Outcome::Skipped
                } else if other.id == job.id {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                assert_eq!(other.outcome, expected, "{kind:?}: {}", other.name);
            }
            let command = job.steps.iter().find(|s| s.outcome == Outcome::Failure);
            let command = command.expect("a failed step");
            assert!(command.name.starts_with("Run "), "{}", command.name);
            assert_ne!(command.name, "Run actions/checkout@v4");
        }
    }

    #[test]
    fn steps_follow_each_other_within_the_job() {
        let world = World::new(Scenario::default_demo(), start());
        for job in world.runs.iter().flat_map(|r| &r.jobs) {
            if job.outcome == Outcome::Skipped {
                assert!(job.steps.is_empty());
                continue;
            }
            let names: Vec<&str> = job.steps.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names.first(), Some(&"Set up job"));
            assert_eq!(names.last(), Some(&"Complete job"));
            assert!(names.contains(&"Run npm ci"), "{names:?}");
            assert_eq!(job.steps[0].started_at, job.started_at);
            assert_eq!(job.steps.last().unwrap().completed_at, job.completed_at);
            for pair in job.steps.windows(2) {
                assert_eq!(pair[0].completed_at, pair[1].started_at, "{names:?}");
            }
            let command = &job.steps[names.len() - 3];
            assert!(command.completed_at - command.started_at >= TimeDelta::seconds(2));
        }
    }

    /// Advances the world until `run_id` has finished, and returns it.
    fn finish(world: &mut World, run_id: u64) -> RunRecord {
        let end = world.run(run_id).unwrap().completed_at();
        world.advance_to(end.max(world.now));
        world.run(run_id).unwrap().clone()
    }

    #[test]
    fn a_flaky_failure_passes_on_rerun_and_the_commit_then_deploys() {
        let mut scenario = every_commit_fails();
        scenario.ci_failures = vec![CiFailure::Flaky];
        let mut world = World::new(scenario, start());
        world.advance_to(start() + TimeDelta::minutes(3));
        let sha = world.commits.last().unwrap().sha.clone();
        let run_id = world
            .runs
            .iter()
            .rev()
            .find(|r| r.head_sha == sha)
            .unwrap()
            .id;
        let first = finish(&mut world, run_id);
        assert_eq!(first.outcome(), Outcome::Failure);
        let e2e = first.jobs.iter().find(|j| j.name == "e2e").unwrap().clone();
        assert_eq!(e2e.failure, Some(CiFailure::Flaky));
        assert_ne!(world.deployed_sha("dev"), Some(sha.clone()));

        world.advance_to(world.now + TimeDelta::seconds(30));
        let asked = world.now;
        assert_eq!(world.rerun_failed_jobs(run_id), Ok(2));
        let run = world.run(run_id).unwrap().clone();
        assert_eq!(run.run_attempt, 2);
        assert_eq!(run.attempt_started_at(), asked);
        assert_eq!(run.progress(asked), Progress::InProgress);
        assert_eq!(
            world.rerun_failed_jobs(run_id),
            Err(RerunError::AlreadyRunning)
        );
        // Jobs that passed are carried over untouched; e2e and the skipped ones re-run.
        for job in &run.jobs {
            let before = first.jobs.iter().find(|j| j.name == job.name).unwrap();
            if before.outcome == Outcome::Success {
                assert_eq!(job, before);
            } else {
                assert_ne!(job.id, before.id, "{} gets a new id", job.name);
                assert_eq!(job.run_attempt, 2);
                assert!(job.created_at >= asked && job.started_at > asked);
                assert!(world.job(before.id).is_some(), "attempt 1 stays readable");
            }
        }
        assert_eq!(run.replaced_jobs.len(), 3, "e2e, security, performance");
        assert_eq!(run.all_jobs().len(), run.jobs.len() + 3);

        let second = finish(&mut world, run_id);
        assert_eq!(second.outcome(), Outcome::Success);
        assert_eq!(
            second.progress(world.now),
            Progress::Completed(Outcome::Success)
        );
        world.advance_to(world.now + TimeDelta::minutes(2));
        assert_eq!(
            world.deployed_sha("dev"),
            Some(sha),
            "the passing re-run deploys"
        );
        assert_eq!(
            world.rerun_failed_jobs(run_id),
            Err(RerunError::NothingFailed)
        );

        let earlier = second.at_attempt(1).unwrap();
        assert_eq!(earlier.outcome(), Outcome::Failure);
        assert_eq!(earlier.jobs.iter().find(|j| j.name == "e2e"), Some(&e2e));
        assert!(second.at_attempt(3).is_none());
    }

    #[test]
    fn every_other_kind_fails_again_on_rerun() {
        let mut world = World::new(every_commit_fails(), start());
        world.advance_to(start() + TimeDelta::minutes(10));
        for kind in CiFailure::ALL {
            if kind.passes_on_rerun() {
                continue;
            }
            let run_id = first_run_failing_with(&world, kind).id;
            finish(&mut world, run_id);
            assert_eq!(world.rerun_failed_jobs(run_id), Ok(2), "{kind:?}");
            let run = finish(&mut world, run_id);
            assert_eq!(run.outcome(), Outcome::Failure, "{kind:?}");
            let failed: Vec<&JobRecord> = run
                .jobs
                .iter()
                .filter(|j| j.outcome == Outcome::Failure)
                .collect();
            assert_eq!(failed.len(), 1);
            assert_eq!((failed[0].failure, failed[0].run_attempt), (Some(kind), 2));
            assert_eq!(world.jobs_failing_with(kind)[0].1.id, failed[0].id);
            // A full re-run fails the same way.
            assert_eq!(world.rerun_all_jobs(run_id), Ok(3));
            let run = finish(&mut world, run_id);
            assert!(run.jobs.iter().all(|j| j.run_attempt == 3));
            assert_eq!(run.outcome(), Outcome::Failure);
        }
        assert_eq!(world.rerun_failed_jobs(1), Err(RerunError::NotFound));
    }

    #[test]
    fn a_random_e2e_flake_is_flaky_and_passes_on_rerun() {
        let mut scenario = Scenario::default_demo();
        scenario.lint_fails_every = 0;
        scenario.e2e_flake_probability = 1.0;
        let mut world = World::new(scenario, start());
        world.advance_to(start() + TimeDelta::minutes(10));
        let (run, job) = world.jobs_failing_with(CiFailure::Flaky)[0];
        let (run_id, job_name) = (run.id, job.name.clone());
        assert_eq!(job_name, "e2e");
        finish(&mut world, run_id);
        world.rerun_failed_jobs(run_id).unwrap();
        assert_eq!(finish(&mut world, run_id).outcome(), Outcome::Success);
    }

    #[test]
    fn same_seed_same_world() {
        let a = World::new(Scenario::default_demo(), start());
        let b = World::new(Scenario::default_demo(), start());
        assert_eq!(a.commits, b.commits);
        assert_eq!(a.runs, b.runs);
        assert_eq!(a.deployments, b.deployments);
    }

    #[test]
    fn scheduled_promotions_stand_back_while_a_captain_acts() {
        let every = Scenario::default_demo().promote_staging_every_secs as i64;
        // Just before the first scheduled promotion of staging.
        let before = start() + TimeDelta::seconds(every - 5);
        let after = start() + TimeDelta::seconds(every + 5);

        let mut free = World::new(Scenario::default_demo(), start());
        free.advance_to(before);
        let staging_before = free.branches["staging"].clone();
        free.advance_to(after);
        assert_ne!(
            free.branches["staging"], staging_before,
            "with nobody acting, the scenario promotes staging on schedule"
        );

        let mut locked = World::new(Scenario::default_demo(), start());
        locked.advance_to(before);
        let staging_before = locked.branches["staging"].clone();
        locked
            .create_ref("refs/shipdeck/locks/staging", &staging_before)
            .unwrap();
        locked.advance_to(after);
        assert_eq!(
            locked.branches["staging"], staging_before,
            "a held lock keeps the scenario's hands off"
        );

        let mut deployed = World::new(Scenario::default_demo(), start());
        deployed.advance_to(before);
        let staging_before = deployed.branches["staging"].clone();
        deployed
            .create_deployment(NewDeployment {
                git_ref: staging_before.clone(),
                environment: "staging".to_string(),
                description: "a captain's deploy".to_string(),
                production: Some(false),
                payload: "{}".to_string(),
                creator: api_client_actor(),
            })
            .unwrap();
        deployed.advance_to(after);
        assert_eq!(
            deployed.branches["staging"], staging_before,
            "a recent deploy through the API keeps the scenario's hands off"
        );
    }

    #[test]
    fn the_worlds_captain_leaves_an_auto_promoted_environment_to_shipdeck() {
        let every = Scenario::default_demo().promote_staging_every_secs as i64;
        let before = start() + TimeDelta::seconds(every - 5);
        let after = start() + TimeDelta::seconds(3 * every + 5);
        let mut environments = super::super::topology::Topology::demo()
            .environments()
            .to_vec();
        environments[1].auto_promoted = true;
        let scenario = Scenario::default_demo()
            .for_environments(environments)
            .unwrap();
        let mut world = World::new(scenario, start());
        world.advance_to(before);
        let (staging_before, prod_before) = (
            world.branches["staging"].clone(),
            world.branches["prod"].clone(),
        );
        world.advance_to(after);
        assert_eq!(
            world.branches["staging"], staging_before,
            "three scheduled promotions of staging went by untaken"
        );
        let prod_every = Scenario::default_demo().promote_prod_every_secs as i64;
        world.advance_to(start() + TimeDelta::seconds(prod_every + 5));
        assert_ne!(
            world.branches["prod"], prod_before,
            "prod, not auto-promoted, is still promoted on schedule"
        );
    }

    #[test]
    fn a_client_that_reports_success_before_the_platform_deploys_is_not_duplicated() {
        let mut world = World::new(Scenario::default_demo(), start());
        let sha = world.deployed_sha("dev").unwrap();
        let id = world
            .create_deployment(NewDeployment {
                git_ref: sha.clone(),
                environment: "staging".to_string(),
                description: "promote".to_string(),
                production: Some(false),
                payload: "{}".to_string(),
                creator: api_client_actor(),
            })
            .unwrap();
        world.update_branch("staging", &sha, false).unwrap();
        let run_end = world
            .runs
            .iter()
            .rev()
            .find(|r| r.branch == "staging" && r.head_sha == sha)
            .map(|r| r.completed_at())
            .unwrap();
        // The run has ended; the platform deploys two seconds later, but the client has
        // already said success.
        world.advance_to(run_end);
        world.create_deployment_status(id, DeployState::Success, None, true);
        world.advance_to(run_end + TimeDelta::minutes(5));
        let of_sha: Vec<_> = world
            .deployments
            .iter()
            .filter(|d| d.environment == "staging" && d.sha == sha)
            .collect();
        assert_eq!(of_sha.len(), 1, "{of_sha:#?}");
        assert_eq!(of_sha[0].id, id);
    }

    #[test]
    fn branch_moves_only_forward_unless_forced() {
        let mut world = World::new(Scenario::default_demo(), start());
        let prod = world.branches["prod"].clone();
        let staging = world.branches["staging"].clone();
        assert_eq!(
            world.update_branch("staging", &prod, false),
            Err(WriteError::NotFastForward)
        );
        assert_eq!(
            world.update_branch("staging", &"f".repeat(40), true),
            Err(WriteError::UnknownSha)
        );
        assert_eq!(world.branches["staging"], staging);
        let runs = world.runs.len();
        world.update_branch("prod", &staging, false).unwrap();
        assert_eq!(world.branches["prod"], staging);
        assert_eq!(world.runs.len(), runs + 1, "the move starts CI");
        world.update_branch("staging", &prod, true).unwrap();
        assert_eq!(world.branches["staging"], prod);
    }

    #[test]
    fn refs_are_created_once_and_deleted_once() {
        let mut world = World::new(Scenario::default_demo(), start());
        let sha = world.branches["main"].clone();
        let lock = "refs/shipdeck/locks/prod";
        world.create_ref(lock, &sha).unwrap();
        assert_eq!(world.create_ref(lock, &sha), Err(WriteError::RefExists));
        assert_eq!(world.ref_sha(lock), Some(&sha));
        world.delete_ref(lock).unwrap();
        assert_eq!(world.delete_ref(lock), Err(WriteError::RefMissing));
        assert_eq!(
            world.create_ref("refs/heads/main", &sha),
            Err(WriteError::RefExists)
        );
    }

    #[test]
    fn success_status_retires_earlier_successes_unless_told_not_to() {
        let mut world = World::new(Scenario::default_demo(), start());
        let before = world.deployed_sha("staging").unwrap();
        let sha = world.branches["main"].clone();
        let new = |git_ref: &str| NewDeployment {
            git_ref: git_ref.to_string(),
            environment: "staging".to_string(),
            description: String::new(),
            production: None,
            payload: "{}".to_string(),
            creator: api_client_actor(),
        };
        let id = world.create_deployment(new(&sha)).unwrap();
        assert_eq!(world.deployed_sha("staging"), Some(before.clone()));
        world.create_deployment_status(id, DeployState::Success, None, false);
        assert_eq!(world.deployed_sha("staging"), Some(sha.clone()));
        let still_success = staging_successes(&world);
        assert_eq!(
            still_success, 2,
            "auto_inactive false keeps the earlier one"
        );
        let second = world.create_deployment(new("main")).unwrap();
        world.create_deployment_status(second, DeployState::Success, None, true);
        let still_success = staging_successes(&world);
        assert_eq!(still_success, 1);
        assert!(matches!(
            world.create_deployment(new("no-such-ref")),
            Err(WriteError::UnknownRef(_))
        ));
    }

    #[test]
    fn pull_mergeability_and_merge_rules() {
        let mut world = World::new(Scenario::default_demo(), start());
        assert!(matches!(
            world.create_pull("prod", "staging", "t", ""),
            Err(WriteError::NoCommitsBetween(_, _))
        ));
        let number = world.create_pull("main", "staging", "t", "").unwrap();
        let pull = world.pull(number).unwrap().clone();
        assert_eq!(world.pull_mergeable(&pull), None, "still computing");
        assert_eq!(
            world.merge_pull(number, None),
            Err(MergeError::NotMergeable)
        );
        world.advance_to(start() + TimeDelta::seconds(MERGEABILITY_DELAY_SECS));
        assert_eq!(world.pull_mergeable(&pull), Some(true));
        let head = world.branches["main"].clone();
        let staging = world.branches["staging"].clone();
        assert_eq!(
            world.merge_pull(number, Some(&staging)),
            Err(MergeError::HeadMoved)
        );
        assert_eq!(world.merge_pull(number, Some(&head)), Ok(head.clone()));
        assert_eq!(world.branches["staging"], head);
        assert_eq!(
            world.merge_pull(number, None),
            Err(MergeError::NotMergeable)
        );
    }

    #[test]
    fn dispatched_deploy_deploys_even_an_older_commit() {
        let mut world = World::new(Scenario::default_demo(), start());
        let prod = world.branches["prod"].clone();
        assert_ne!(world.deployed_sha("staging"), Some(prod.clone()));
        world
            .dispatch_workflow("staging", &prod, Some("staging"))
            .unwrap();
        assert_eq!(
            world.dispatch_workflow("staging", &prod, Some("qa")),
            Err(WriteError::UnknownEnvironment("qa".to_string()))
        );
        world.advance_to(start() + TimeDelta::minutes(9));
        assert_eq!(world.deployed_sha("staging"), Some(prod));
    }

    /// The newest commit on main whose CI passes, newer than staging's head.
    fn deployable_sha(world: &World) -> String {
        let staging = world.commit_position(&world.branches["staging"]).unwrap();
        let main = world.commit_position(&world.branches["main"]).unwrap();
        world.commits[staging + 1..=main]
            .iter()
            .rev()
            .find(|c| !c.fails_ci())
            .map(|c| c.sha.clone())
            .expect("a passing commit ahead of staging")
    }

    fn deployments_of(world: &World, environment: &str, sha: &str) -> Vec<DeploymentRecord> {
        world
            .deployments
            .iter()
            .filter(|d| d.environment == environment && d.sha == sha)
            .cloned()
            .collect()
    }

    fn new_tag(world: &World, message: &str) -> NewTag {
        NewTag {
            tag: "shipdeck-lock-prod".to_string(),
            message: message.to_string(),
            object_sha: world.branches["main"].clone(),
            tagger_name: "shipdeck".to_string(),
            tagger_email: "shipdeck@acme.example".to_string(),
            tagger_date: start(),
        }
    }

    #[test]
    fn tag_objects_are_content_addressed_and_lock_refs_may_point_at_them() {
        let mut world = World::new(Scenario::default_demo(), start());
        let first = world.create_tag(new_tag(&world, "held by a@host")).unwrap();
        let again = world.create_tag(new_tag(&world, "held by a@host")).unwrap();
        let other = world.create_tag(new_tag(&world, "held by b@host")).unwrap();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(first.len(), 40);
        let mut bad = new_tag(&world, "x");
        bad.object_sha = "f".repeat(40);
        assert_eq!(world.create_tag(bad), Err(WriteError::UnknownSha));

        world
            .create_ref("refs/shipdeck/locks/prod", &first)
            .unwrap();
        assert_eq!(world.object_type(&first), "tag");
        assert_eq!(world.object_type(&world.branches["main"].clone()), "commit");
        assert_eq!(
            world.create_ref("refs/heads/locked", &first),
            Err(WriteError::UnknownSha),
            "a branch points at commits only"
        );
    }

    #[test]
    fn api_created_deployment_replaces_the_bots_after_a_branch_move() {
        let mut world = World::new(Scenario::default_demo(), start());
        let sha = deployable_sha(&world);
        let id = world
            .create_deployment(NewDeployment {
                git_ref: sha.clone(),
                environment: "staging".to_string(),
                description: "promote".to_string(),
                production: None,
                payload: "{}".to_string(),
                creator: api_client_actor(),
            })
            .unwrap();
        world.create_deployment_status(id, DeployState::InProgress, None, true);
        world.update_branch("staging", &sha, false).unwrap();
        world.advance_to(start() + TimeDelta::minutes(15));
        let deployments = deployments_of(&world, "staging", &sha);
        assert_eq!(deployments.len(), 1, "{deployments:?}");
        assert_eq!(deployments[0].id, id);
    }

    #[test]
    fn bot_still_deploys_when_the_api_deployment_is_finished_or_absent() {
        let mut world = World::new(Scenario::default_demo(), start());
        let sha = deployable_sha(&world);
        let id = world
            .create_deployment(NewDeployment {
                git_ref: sha.clone(),
                environment: "staging".to_string(),
                description: String::new(),
                production: None,
                payload: "{}".to_string(),
                creator: api_client_actor(),
            })
            .unwrap();
        world.create_deployment_status(id, DeployState::Failure, None, true);
        world.update_branch("staging", &sha, false).unwrap();
        world.advance_to(start() + TimeDelta::minutes(15));
        let deployments = deployments_of(&world, "staging", &sha);
        assert_eq!(deployments.len(), 2, "{deployments:?}");
        assert_eq!(deployments[1].creator.login, "github-actions[bot]");
        assert_eq!(world.deployed_sha("staging"), Some(sha));
    }

    #[test]
    fn email_health_degrades_only_in_staging_windows() {
        let world = World::new(Scenario::default_demo(), start());
        let at = |secs: i64| start() + TimeDelta::seconds(secs);
        assert!(!world.email_degraded("staging", at(0)));
        assert!(world.email_degraded("staging", at(300 + 10)));
        assert!(!world.email_degraded("staging", at(300 + 130)));
        assert!(!world.email_degraded("prod", at(310)));
    }

    #[test]
    fn defects_cycle_over_the_new_commits_and_never_touch_history() {
        let scenario = Scenario {
            defect_every: 5,
            ..Scenario::default_demo()
        };
        let mut world = World::new(scenario, start());
        world.advance_to(start() + TimeDelta::hours(3));
        let history = Scenario::default_demo().history_commits as usize;
        assert!(world.commits[..history].iter().all(|c| c.defect.is_none()));
        let new = &world.commits[history..];
        assert!(new.len() >= 30, "{} new commits", new.len());
        let defective: Vec<(usize, DefectKind)> = new
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.defect.map(|kind| (i + 1, kind)))
            .collect();
        assert_eq!(
            defective[..5],
            [
                (5, DefectKind::ErrorSpike),
                (10, DefectKind::NewErrorType),
                (15, DefectKind::SlowEndpoint),
                (20, DefectKind::FailingFlow),
                (25, DefectKind::ErrorSpike),
            ]
        );
        assert_eq!(defective.len(), new.len() / 5);
        let fifth = &new[4];
        assert_eq!(world.defect_of(&fifth.sha), Some(DefectKind::ErrorSpike));
        assert_eq!(
            world.defect_of(short_sha(&fifth.sha)),
            Some(DefectKind::ErrorSpike)
        );
        assert_eq!(world.defect_of(&new[0].sha), None);
    }

    #[test]
    fn a_defect_shows_while_its_commit_runs_and_only_where_defects_show() {
        let (mut world, good, bad) = testing::prod_running(DefectKind::ErrorSpike);
        let live = world.now;
        assert_eq!(
            world.defect_showing("prod", live),
            Some(DefectKind::ErrorSpike)
        );
        assert_eq!(
            world.defect_showing("prod", live - TimeDelta::seconds(1)),
            None
        );
        testing::deploy_now(&mut world, "staging", &bad);
        assert_eq!(
            world.defect_showing("staging", world.now),
            None,
            "only prod shows"
        );

        world.advance_to(live + TimeDelta::minutes(20));
        // A second deployment of the same commit: still one stretch of time.
        testing::deploy_now(&mut world, "prod", &bad);
        world.advance_to(live + TimeDelta::minutes(30));
        testing::deploy_now(&mut world, "prod", &good);
        let rolled_back = world.now;
        world.advance_to(rolled_back + TimeDelta::minutes(5));
        assert_eq!(world.defect_showing("prod", world.now), None);
        assert_eq!(
            world.defect_showing("prod", rolled_back - TimeDelta::seconds(1)),
            Some(DefectKind::ErrorSpike),
            "the past keeps what ran then"
        );
        let history = world.running_history("prod");
        let ran = history
            .periods
            .iter()
            .find(|p| p.sha == bad)
            .expect("a period of the bad commit");
        assert_eq!((ran.from, ran.until), (live, Some(rolled_back)));
        assert_eq!(history.sha_at(world.now), Some(good.as_str()));
        assert_eq!(history.periods.iter().filter(|p| p.sha == bad).count(), 1);
    }

    #[test]
    fn scheduled_promotion_never_brings_back_a_rolled_back_commit() {
        let mut scenario = Scenario::default_demo();
        scenario.promote_staging_every_secs = 10 * 365 * 86_400;
        let every = scenario.promote_prod_every_secs as i64;
        let at = |secs: i64| start() + TimeDelta::seconds(secs);

        // Nobody acting: the scheduled promotion takes staging's commit to prod.
        let mut free = World::new(scenario.clone(), start());
        let staging = free.deployed_sha("staging").unwrap();
        let old_prod = free.deployed_sha("prod").unwrap();
        free.advance_to(at(every + 900));
        assert_eq!(free.branches["prod"], staging);
        assert_eq!(free.deployed_sha("prod"), Some(staging.clone()));

        // Staging's commit reached prod and was rolled back before the schedule came round.
        let mut world = World::new(scenario, start());
        world.update_branch("prod", &staging, false).unwrap();
        world.advance_to(at(600));
        assert_eq!(world.deployed_sha("prod"), Some(staging.clone()));
        world.update_branch("prod", &old_prod, true).unwrap();
        world.advance_to(at(every - 60));
        assert_eq!(
            world.deployed_sha("prod"),
            Some(old_prod.clone()),
            "rolled back"
        );
        assert!(!world.captain_is_active("prod", at(every), every as u64));
        world.advance_to(at(every * 2 + 900));
        assert_eq!(world.branches["prod"], old_prod, "no re-promotion");
        assert_eq!(world.deployed_sha("prod"), Some(old_prod));
    }

    #[test]
    fn app_jobs_are_kept_up_to_a_bound_and_belong_to_their_environment() {
        let mut world = World::new(Scenario::default_demo(), start());
        for _ in 0..MAX_APP_JOBS + 5 {
            world.create_app_job("dev");
        }
        assert!(
            world.app_job("dev", "job-5").is_none(),
            "the oldest are dropped"
        );
        assert!(world.app_job("dev", "job-6").is_some());
        let newest = format!("job-{}", MAX_APP_JOBS + 5);
        assert!(world.app_job("dev", &newest).is_some());
        assert!(world.app_job("prod", &newest).is_none());
        assert!(world.delete_app_job("dev", &newest));
        assert!(!world.delete_app_job("dev", &newest));
        assert_eq!(
            world.create_app_job("dev").id,
            format!("job-{}", MAX_APP_JOBS + 6)
        );
    }
}
