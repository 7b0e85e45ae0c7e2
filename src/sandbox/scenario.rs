//! The scenario: the knobs that script the sandbox world (seed, pace of commits, which commits
//! fail CI and how, which commits go bad once they reach an environment, how often
//! environments are promoted, error rates, commit subjects). Loadable from a TOML file; every
//! field has a default, so an empty file is the default demo.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::faults::FaultRule;
use super::topology::{Role, SandboxEnvironment, Topology, TopologyError};

/// A commit author in the scenario's pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioAuthor {
    pub name: String,
    pub login: String,
}

/// How a defective commit misbehaves while it runs in one of `defect_environments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// The environment's error rate rises by `error_spike_factor`.
    ErrorSpike,
    /// A Sentry issue never seen before appears, tagged with the commit's release.
    NewErrorType,
    /// `POST /api/auth/session` answers far over its latency budget.
    SlowEndpoint,
    /// Background jobs stay queued: the worker is broken.
    FailingFlow,
}

/// How a commit fails CI: the kinds of the shared spec (`ci-failures.md`), each failing one
/// job with its tool's output in the job log (see `logs.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiFailure {
    /// eslint finds an unused variable (job `lint`).
    Lint,
    /// prettier finds unformatted code (job `format`).
    Format,
    /// tsc: a type is not assignable (job `typecheck`).
    TypeMismatch,
    /// tsc: a module cannot be found (job `typecheck`).
    MissingImport,
    /// A playwright test times out once and passes on re-run (job `e2e`).
    Flaky,
    /// A vitest unit test fails (job `unit (1/2)`).
    TestFailure,
    /// An API answer breaks its OpenAPI contract (job `integration`).
    ApiContract,
    /// A migration test hits a column that does not exist (job `integration`).
    Schema,
    /// npm cannot resolve the dependency tree (job `install`).
    Dependency,
    /// npm audit reports a critical vulnerability (job `security`).
    Security,
    /// A migration loses rows (job `integration`).
    DataIntegrity,
    /// Three services cannot reach the database in the e2e environment (job `e2e`).
    SeveralServices,
}

impl CiFailure {
    /// Every kind, in the order of the spec's table (and of the default `ci_failures`).
    pub const ALL: [CiFailure; 12] = [
        CiFailure::Lint,
        CiFailure::Format,
        CiFailure::TypeMismatch,
        CiFailure::MissingImport,
        CiFailure::Flaky,
        CiFailure::TestFailure,
        CiFailure::ApiContract,
        CiFailure::Schema,
        CiFailure::Dependency,
        CiFailure::Security,
        CiFailure::DataIntegrity,
        CiFailure::SeveralServices,
    ];

    /// The name of the CI job it fails (a job of the sandbox's CI workflow).
    pub fn job(self) -> &'static str {
        match self {
            CiFailure::Lint => "lint",
            CiFailure::Format => "format",
            CiFailure::TypeMismatch | CiFailure::MissingImport => "typecheck",
            CiFailure::Flaky | CiFailure::SeveralServices => "e2e",
            CiFailure::TestFailure => "unit (1/2)",
            CiFailure::ApiContract | CiFailure::Schema | CiFailure::DataIntegrity => "integration",
            CiFailure::Dependency => "install",
            CiFailure::Security => "security",
        }
    }

    /// The snake_case name, as in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            CiFailure::Lint => "lint",
            CiFailure::Format => "format",
            CiFailure::TypeMismatch => "type_mismatch",
            CiFailure::MissingImport => "missing_import",
            CiFailure::Flaky => "flaky",
            CiFailure::TestFailure => "test_failure",
            CiFailure::ApiContract => "api_contract",
            CiFailure::Schema => "schema",
            CiFailure::Dependency => "dependency",
            CiFailure::Security => "security",
            CiFailure::DataIntegrity => "data_integrity",
            CiFailure::SeveralServices => "several_services",
        }
    }

    /// Whether a re-run of the failed job passes (only a flaky test does; the others are
    /// real defects of the commit and fail again).
    pub fn passes_on_rerun(self) -> bool {
        self == CiFailure::Flaky
    }
}

/// Everything that scripts the world. Times are world time, read from the shared clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Seed of every random choice: same seed and same clock give the same answers.
    pub seed: u64,
    /// World time at which the scenario "starts" (history lies before it). Absent: the
    /// clock's time when the sandbox starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Commits on `main` before the start time.
    pub history_commits: u32,
    /// A new commit lands on `main` every `commit_every_min_secs..=commit_every_max_secs`.
    pub commit_every_min_secs: u64,
    pub commit_every_max_secs: u64,
    /// Every Nth commit fails CI (0: never), in the way `ci_failures` says. Named for its
    /// first use (lint failures); `ci_fails_every` is accepted too.
    #[serde(alias = "ci_fails_every")]
    pub lint_fails_every: u32,
    /// How the failing commits fail, taken in turn: the first failing commit after the start
    /// takes the first kind (history commits take the kinds before it, counting back from
    /// the end of the list).
    pub ci_failures: Vec<CiFailure>,
    /// Runs of the deploy workflow into these environments fail in the given way (a
    /// deploy runs the same checks as CI, so its log reads like one), e.g.
    /// `deploy_failures = { staging = "schema" }`. Empty by default.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deploy_failures: BTreeMap<String, CiFailure>,
    /// Every Nth commit created after the start is defective (0: never). History commits
    /// never are, so a rollback always has a good commit to go back to.
    pub defect_every: u32,
    /// The kinds of the defective commits, taken in turn.
    pub defects: Vec<DefectKind>,
    /// The environments in which a defect shows (bugs that only show under prod traffic).
    pub defect_environments: Vec<String>,
    /// How much an `error_spike` commit multiplies its environment's error rate.
    pub error_spike_factor: f64,
    /// How long after a `new_error_type` commit goes live its first error reaches Sentry
    /// (hours, to show an error that comes out long after the deploy's window).
    pub new_error_type_after_secs: u64,
    /// Chance that E2E fails on a push to `main` (a flaky test).
    pub e2e_flake_probability: f64,
    /// Chance that E2E runs long (130 s and more, over its target).
    pub e2e_slow_probability: f64,
    /// Staging fast-forwards to dev's deployed commit this often.
    pub promote_staging_every_secs: u64,
    /// Prod fast-forwards to staging's deployed commit this often.
    pub promote_prod_every_secs: u64,
    /// How long after the prod web deployment the worker follows.
    pub worker_lag_secs: u64,
    /// Staging's e-mail health is degraded for `email_degraded_for_secs` every
    /// `email_degraded_every_secs` (0: never).
    pub email_degraded_every_secs: u64,
    pub email_degraded_for_secs: u64,
    /// Workflow runs the world keeps (older ones answer 404, as runs past GitHub's
    /// retention do), at least 20.
    pub runs_kept: usize,
    /// Deployments the world keeps, across all environments, at least 20.
    pub deployments_kept: usize,
    /// Commits the world keeps, at least 50. An older one is forgotten (answers 404) once
    /// no branch, lock ref, kept run or kept deployment points at it or at an older commit;
    /// release tags pin nothing, so an old one may point at a forgotten commit.
    pub commits_kept: usize,
    /// Requests the sandbox's log keeps for `Sandbox::requests`, at least 1. Tests count a
    /// scenario's writes across the whole log, so the default is generous; a soak or a demo
    /// left on a wall keeps a short one, which fills within minutes instead of reading as
    /// growth through the first day.
    pub requests_kept: usize,
    /// Sentry errors per minute, per environment.
    pub error_rates: BTreeMap<String, f64>,
    /// Subject of the commit staging runs when the scenario starts. Hostile by default, so
    /// the sanitizer has work to do from the very first frame.
    pub staging_head_subject: String,
    /// Commit subjects, picked with the seed.
    pub subjects: Vec<String>,
    pub authors: Vec<ScenarioAuthor>,
    /// The fault plan the sandbox starts with (`[[faults]]` tables); empty by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
    /// The chain of environments, in promotion order (`[[environments]]` tables with
    /// `name`, `branch`, `services`); empty: the demo's dev, staging and prod.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<SandboxEnvironment>,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario file is not valid TOML for a scenario: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("scenario setting `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("scenario could not be written as TOML: {0}")]
    Write(#[from] toml::ser::Error),
}

impl Default for Scenario {
    fn default() -> Self {
        Self::default_demo()
    }
}

impl Scenario {
    /// The world's chain of environments.
    pub fn topology(&self) -> Result<Topology, TopologyError> {
        if self.environments.is_empty() {
            Ok(Topology::demo())
        } else {
            Topology::new(self.environments.clone())
        }
    }

    /// The demo's story on another chain: the same pace and failures, the per-environment
    /// settings carried over by position (the entry gets dev's, production prod's, every
    /// environment between them staging's).
    pub fn for_environments(
        mut self,
        environments: Vec<SandboxEnvironment>,
    ) -> Result<Scenario, TopologyError> {
        let demo = Topology::demo();
        let topology = Topology::new(environments)?;
        let demo_name = |role: Role| match role {
            Role::Entry => demo.entry().name.clone(),
            Role::Middle => demo.pre_production().name.clone(),
            Role::Production => demo.production().name.clone(),
        };
        let mut error_rates = BTreeMap::new();
        let mut defect_environments = Vec::new();
        let mut deploy_failures = BTreeMap::new();
        for environment in topology.environments() {
            let Some(role) = topology.role(&environment.name) else {
                continue;
            };
            let was = demo_name(role);
            if let Some(rate) = self.error_rates.get(&was) {
                error_rates.insert(environment.name.clone(), *rate);
            }
            if self.defect_environments.contains(&was) {
                defect_environments.push(environment.name.clone());
            }
            if let Some(failure) = self.deploy_failures.get(&was) {
                deploy_failures.insert(environment.name.clone(), *failure);
            }
        }
        self.error_rates = error_rates;
        self.defect_environments = defect_environments;
        self.deploy_failures = deploy_failures;
        self.environments = topology.environments().to_vec();
        Ok(self)
    }

    /// The scenario `shipdeck demo` runs.
    pub fn default_demo() -> Scenario {
        Scenario {
            seed: 20_261_120,
            start: None,
            history_commits: 20,
            commit_every_min_secs: 150,
            commit_every_max_secs: 300,
            lint_fails_every: 7,
            // Lint first: the first failure the demo shows is the simplest one.
            ci_failures: CiFailure::ALL.to_vec(),
            deploy_failures: BTreeMap::new(),
            defect_every: 3,
            defects: vec![
                DefectKind::ErrorSpike,
                DefectKind::NewErrorType,
                DefectKind::SlowEndpoint,
                DefectKind::FailingFlow,
            ],
            defect_environments: vec!["prod".to_string()],
            error_spike_factor: 3.0,
            new_error_type_after_secs: 20,
            e2e_flake_probability: 0.12,
            e2e_slow_probability: 0.2,
            promote_staging_every_secs: 600,
            promote_prod_every_secs: 1500,
            worker_lag_secs: 45,
            email_degraded_every_secs: 900,
            email_degraded_for_secs: 120,
            runs_kept: super::world::MAX_RUNS,
            deployments_kept: super::world::MAX_DEPLOYMENTS,
            commits_kept: super::world::MAX_COMMITS,
            requests_kept: super::http::MAX_RECORDED_REQUESTS,
            error_rates: [("dev", 2.0), ("staging", 4.0), ("prod", 15.0)]
                .into_iter()
                .map(|(env, rate)| (env.to_string(), rate))
                .collect(),
            staging_head_subject:
                "Fix cart totals \u{1b}[2J\u{1b}]0;pwned\u{7} for EU \u{202e}sresu\u{200b}"
                    .to_string(),
            subjects: DEFAULT_SUBJECTS.iter().map(|s| s.to_string()).collect(),
            authors: DEFAULT_AUTHORS
                .iter()
                .map(|(name, login)| ScenarioAuthor {
                    name: name.to_string(),
                    login: login.to_string(),
                })
                .collect(),
            faults: Vec::new(),
            environments: Vec::new(),
        }
    }

    /// Reads a scenario from TOML; absent keys take the default demo's values.
    pub fn from_toml_str(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Writes the scenario as TOML that [`Scenario::from_toml_str`] reads back unchanged.
    pub fn to_toml_string(&self) -> Result<String, ScenarioError> {
        Ok(toml::to_string(self)?)
    }

    /// Checks the values that would make the world impossible to run.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |field: &'static str, reason: &str| {
            Err(ScenarioError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.history_commits < 5 {
            return invalid("history_commits", "must be at least 5");
        }
        if self.runs_kept < 20 {
            return invalid("runs_kept", "must be at least 20");
        }
        if self.deployments_kept < 20 {
            return invalid("deployments_kept", "must be at least 20");
        }
        if self.commits_kept < 50 {
            return invalid("commits_kept", "must be at least 50");
        }
        if self.requests_kept == 0 {
            return invalid("requests_kept", "must be at least 1");
        }
        for rule in &self.faults {
            if let super::faults::FaultEffect::ServerError { status } = rule.effect
                && !(500..=599).contains(&status)
            {
                return invalid("faults", "a server_error status must be 500-599");
            }
            if rule.nth == Some(0) {
                return invalid("faults", "nth counts from 1");
            }
        }
        if self.commit_every_min_secs == 0 {
            return invalid("commit_every_min_secs", "must be more than 0");
        }
        if self.commit_every_min_secs > self.commit_every_max_secs {
            return invalid(
                "commit_every_min_secs",
                "must not be more than commit_every_max_secs",
            );
        }
        for (field, p) in [
            ("e2e_flake_probability", self.e2e_flake_probability),
            ("e2e_slow_probability", self.e2e_slow_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return invalid(field, "must be between 0 and 1");
            }
        }
        if self.lint_fails_every > 0 && self.ci_failures.is_empty() {
            return invalid(
                "ci_failures",
                "needs at least one kind when lint_fails_every is set",
            );
        }
        if self.defect_every > 0 && self.defects.is_empty() {
            return invalid(
                "defects",
                "needs at least one kind when defect_every is set",
            );
        }
        let topology = self.topology().map_err(|error| ScenarioError::Invalid {
            field: "environments",
            reason: error.to_string(),
        })?;
        if let Some(unknown) = self
            .defect_environments
            .iter()
            .find(|name| !topology.contains(name))
        {
            let known: Vec<&str> = topology
                .environments()
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            return Err(ScenarioError::Invalid {
                field: "defect_environments",
                reason: format!(
                    "unknown environment {unknown:?} (known: {})",
                    known.join(", ")
                ),
            });
        }
        if !self.error_spike_factor.is_finite() || self.error_spike_factor <= 1.0 {
            return invalid("error_spike_factor", "must be a number above 1");
        }
        if self.promote_staging_every_secs == 0 {
            return invalid("promote_staging_every_secs", "must be more than 0");
        }
        if self.promote_prod_every_secs == 0 {
            return invalid("promote_prod_every_secs", "must be more than 0");
        }
        if self
            .error_rates
            .values()
            .any(|rate| !rate.is_finite() || *rate < 0.0)
        {
            return invalid("error_rates", "every rate must be a number of 0 or more");
        }
        if self.subjects.is_empty() {
            return invalid("subjects", "needs at least one subject");
        }
        if self.authors.is_empty() {
            return invalid("authors", "needs at least one author");
        }
        Ok(())
    }

    /// The defect of the `ordinal`th commit created after the start (counting from 1).
    pub fn defect_for(&self, ordinal: u32) -> Option<DefectKind> {
        let every = self.defect_every;
        if every == 0 || ordinal == 0 || !ordinal.is_multiple_of(every) || self.defects.is_empty() {
            return None;
        }
        let turn = (ordinal / every - 1) as usize;
        self.defects.get(turn % self.defects.len()).copied()
    }

    /// How the `ordinal`th commit of the whole history (counting from 1, history commits
    /// included) fails CI, if it does.
    pub fn ci_failure_for(&self, ordinal: u32) -> Option<CiFailure> {
        let every = self.lint_fails_every;
        if every == 0
            || ordinal == 0
            || !ordinal.is_multiple_of(every)
            || self.ci_failures.is_empty()
        {
            return None;
        }
        // The nth failing commit; the first one after the history takes turn 0.
        let nth = i64::from(ordinal / every);
        let first_after_history = i64::from(self.history_commits / every) + 1;
        let len = self.ci_failures.len() as i64;
        let turn = (nth - first_after_history).rem_euclid(len);
        self.ci_failures.get(turn as usize).copied()
    }

    /// Whether defects show in `environment`.
    pub fn defects_show_in(&self, environment: &str) -> bool {
        self.defect_environments.iter().any(|e| e == environment)
    }

    /// Base errors per minute of an environment (0 when the scenario names none).
    pub fn error_rate(&self, environment: &str) -> f64 {
        self.error_rates.get(environment).copied().unwrap_or(0.0)
    }
}

const DEFAULT_AUTHORS: [(&str, &str); 6] = [
    ("Maya Okafor", "mokafor"),
    ("Lukas Brandt", "lbrandt"),
    ("Sofía Herrera", "sherrera"),
    ("Kenji Watanabe", "kwatanabe"),
    ("Priya Raman", "praman"),
    ("Tom Nguyen", "tnguyen"),
];

const DEFAULT_SUBJECTS: [&str; 30] = [
    "Add retry with jitter to payment webhook handler",
    "Bump axios from 1.6.7 to 1.7.2",
    "Fix off-by-one in order pagination",
    "Refactor cart service into smaller modules",
    "Add index on orders.customer_id",
    "Show estimated delivery date on checkout page",
    "Fix flaky test in inventory sync",
    "Update Stripe API version to 2024-06-20",
    "Cache product images at the edge for 24h",
    "Remove unused feature flag new_header",
    "Handle empty basket in recommendations widget",
    "Log slow queries over 500ms",
    "Translate checkout into Japanese: お支払い方法を選択",
    "✨ New onboarding emails for trial users",
    "🐛 Fix double charge when user double-clicks Pay",
    "Add CSV export of invoices",
    "Tighten CSP for the admin panel",
    "Upgrade Node to 20.14 in CI image",
    "Speed up search suggestions by 40%",
    "Fix timezone bug in weekly report (UTC vs local)",
    "Migrate sessions table to UUID keys",
    "Rename 'wishlist' to 'saved items' everywhere",
    "支付宝 payments: handle callback retries",
    "Drop support for IE11 polyfills",
    "Release \u{1b}[31mred\u{1b}[0m banner for outage notices",
    "Ring the bell\u{7} on failed refunds",
    "Escape C1 \u{9b}6n control in receipt printer",
    "Fix RTL layout \u{202e}txet desrever\u{202c} in Arabic locale",
    "Zero\u{200b}width\u{200d}joiner cleanup in product names",
    "🚀 Enable HTTP/3 on the storefront",
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_example_is_the_built_in_scenario() {
        let example = include_str!("../../scenario.toml.example");
        let parsed = Scenario::from_toml_str(example).expect("scenario.toml.example parses");
        assert_eq!(parsed, Scenario::default_demo());
    }

    use super::*;

    #[test]
    fn default_demo_round_trips_through_toml() {
        let scenario = Scenario::default_demo();
        let text = scenario.to_toml_string().unwrap();
        assert_eq!(Scenario::from_toml_str(&text).unwrap(), scenario);
    }

    #[test]
    fn empty_file_is_the_default_demo() {
        assert_eq!(
            Scenario::from_toml_str("").unwrap(),
            Scenario::default_demo()
        );
    }

    #[test]
    fn unknown_key_and_bad_values_are_clear_errors() {
        let typo = Scenario::from_toml_str("sed = 4\n").unwrap_err();
        assert!(typo.to_string().contains("sed"), "{typo}");
        let range =
            Scenario::from_toml_str("commit_every_min_secs = 500\ncommit_every_max_secs = 100\n")
                .unwrap_err();
        assert!(
            range.to_string().contains("commit_every_min_secs"),
            "{range}"
        );
        for (setting, field) in [
            ("runs_kept = 5", "runs_kept"),
            ("deployments_kept = 19", "deployments_kept"),
            ("commits_kept = 49", "commits_kept"),
            ("requests_kept = 0", "requests_kept"),
        ] {
            let error = Scenario::from_toml_str(setting).unwrap_err();
            assert!(error.to_string().contains(field), "{setting}: {error}");
        }
        let probability = Scenario::from_toml_str("e2e_flake_probability = 1.5\n").unwrap_err();
        assert!(probability.to_string().contains("between 0 and 1"));
    }

    #[test]
    fn defect_kinds_are_taken_in_turn_by_every_nth_commit() {
        let scenario = Scenario {
            defect_every: 5,
            ..Scenario::default_demo()
        };
        let kinds: Vec<(u32, DefectKind)> = (0..=45)
            .filter_map(|n| scenario.defect_for(n).map(|kind| (n, kind)))
            .collect();
        assert_eq!(
            kinds,
            [
                (5, DefectKind::ErrorSpike),
                (10, DefectKind::NewErrorType),
                (15, DefectKind::SlowEndpoint),
                (20, DefectKind::FailingFlow),
                (25, DefectKind::ErrorSpike),
                (30, DefectKind::NewErrorType),
                (35, DefectKind::SlowEndpoint),
                (40, DefectKind::FailingFlow),
                (45, DefectKind::ErrorSpike),
            ]
        );
        let never = Scenario::from_toml_str("defect_every = 0\n").unwrap();
        assert!((0..100).all(|n| never.defect_for(n).is_none()));
        let each =
            Scenario::from_toml_str("defect_every = 1\ndefects = [\"slow_endpoint\"]\n").unwrap();
        assert_eq!(each.defect_for(1), Some(DefectKind::SlowEndpoint));
        assert!(scenario.defects_show_in("prod") && !scenario.defects_show_in("staging"));
    }

    #[test]
    fn ci_failures_are_taken_in_turn_starting_after_the_history() {
        let scenario = Scenario::default_demo();
        let history = scenario.history_commits;
        let failing: Vec<(u32, CiFailure)> = (history + 1..=history + 7 * 13)
            .filter_map(|n| scenario.ci_failure_for(n).map(|kind| (n, kind)))
            .collect();
        assert_eq!(failing.len(), 13);
        assert_eq!(
            failing[0],
            (21, CiFailure::Lint),
            "the first new failure is lint"
        );
        let kinds: Vec<CiFailure> = failing.iter().map(|(_, kind)| *kind).collect();
        assert_eq!(kinds[..12], CiFailure::ALL);
        assert_eq!(kinds[12], CiFailure::Lint, "the list starts over");
        // History commits take the kinds before the first, from the end of the list.
        assert_eq!(
            scenario.ci_failure_for(14),
            Some(CiFailure::SeveralServices)
        );
        assert_eq!(scenario.ci_failure_for(7), Some(CiFailure::DataIntegrity));
        assert_eq!(scenario.ci_failure_for(15), None);
        let never = Scenario::from_toml_str("lint_fails_every = 0\nci_failures = []\n").unwrap();
        assert!((0..200).all(|n| never.ci_failure_for(n).is_none()));
    }

    #[test]
    fn ci_failure_settings_read_from_toml() {
        let scenario =
            Scenario::from_toml_str("ci_fails_every = 2\nci_failures = [\"schema\", \"flaky\"]\n")
                .unwrap();
        assert_eq!(scenario.lint_fails_every, 2);
        assert_eq!(scenario.ci_failures, [CiFailure::Schema, CiFailure::Flaky]);
        let message = |text: &str| Scenario::from_toml_str(text).unwrap_err().to_string();
        assert!(message("ci_failures = [\"segfault\"]\n").contains("segfault"));
        assert!(message("ci_failures = []\n").contains("ci_failures"));
        for kind in CiFailure::ALL {
            let text = format!("ci_failures = [\"{}\"]\n", kind.as_str());
            assert_eq!(Scenario::from_toml_str(&text).unwrap().ci_failures, [kind]);
        }
        assert!(CiFailure::Flaky.passes_on_rerun());
        assert!(!CiFailure::Lint.passes_on_rerun());
    }

    #[test]
    fn bad_defect_settings_are_clear_errors() {
        let message = |text: &str| Scenario::from_toml_str(text).unwrap_err().to_string();
        assert!(message("defects = [\"segfault\"]\n").contains("segfault"));
        assert!(message("error_spike_factor = 1.0\n").contains("error_spike_factor"));
        assert!(message("error_spike_factor = nan\n").contains("error_spike_factor"));
        assert!(message("defect_every = 3\ndefects = []\n").contains("defects"));
        let unknown = message("defect_environments = [\"production\"]\n");
        assert!(
            unknown.contains("production") && unknown.contains("prod"),
            "{unknown}"
        );
        assert!(Scenario::from_toml_str("defect_every = 0\ndefects = []\n").is_ok());
    }
}
