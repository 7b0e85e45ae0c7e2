//! The checks serde cannot express: names unique, URLs safe to send a token to, token
//! variables that are names and not tokens, durations that make sense, smoke checks that can
//! be run. Each problem points at the offending value (or, for a value left to its default,
//! the nearest table that exists) and names the place (`[[environment]] #2 (prod) url`).

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::Range;
use std::time::Duration;

use reqwest::Url;
use serde_spanned::Spanned;

use crate::config::doc_map::{DocumentMap, Seg, index, key};
use crate::config::error::{ConfigError, Position};
use crate::config::load::NO_ENVIRONMENTS;
use crate::config::token_shape::{is_variable_name, looks_like_token, redact_tokens};
use crate::config::types::{
    Config, FREEZE_BOTH, FREEZE_NEITHER, FlowStepConfig, HumanDuration, NotifierKindConfig,
    PollConfig, PromotionStrategy, RollbackStrategy, SmokeCheckConfig,
};
use crate::config::{URL_PLACEHOLDER, is_value_name, placeholders};
use crate::model::errors::ERROR_HISTORY_MINUTES;
use crate::model::sanitize;

mod checklist;

/// The rise in errors the verification always tolerates (its null hypothesis): a threshold
/// must lie above it.
const TOLERATED_DRIFT: f64 = 0.1;
/// The longest `[environment.verify] watch`: two weeks, past which a new error type is
/// the next release's business rather than this deploy's.
const MAX_WATCH: Duration = Duration::from_secs(14 * 86_400);

/// Longest user value quoted back in a message.
const QUOTE_MAX_CHARS: usize = 100;

/// A smoke check's keys that describe its one request: a flow has them on its steps.
const REQUEST_ONLY_KEYS: [&str; 6] = [
    "method",
    "body",
    "status",
    "body_contains",
    "json_pointer",
    "json_equals",
];

/// Every problem in `config`, in file order.
pub(crate) fn validate(
    config: &Config,
    map: &DocumentMap<'_>,
    text: &str,
    file: &str,
) -> Vec<ConfigError> {
    let mut checker = Checker {
        map,
        text,
        problems: Vec::new(),
    };
    checker.github(config);
    checker.sentry(config);
    checker.pipeline(config);
    checker.environments(config);
    checker.smoke_checks(&config.smoke);
    checker.promotions(config);
    checker.checklists(config);
    checker.verification(config);
    checker.diagnosis(config);
    checker.freezes(config);
    checker.simulated_clock(config);
    checker.ui(config);
    checker.red_watch(config);
    for (path, problem) in crate::config::daemon::problems(&config.daemon) {
        checker.report(&path, problem);
    }
    let mut problems = checker.problems;
    problems.sort_by_key(|(span, _)| span.start);
    problems
        .into_iter()
        .map(|(span, message)| ConfigError::at(file, text, span.start, message))
        .collect()
}

/// `"value"`, made safe to print: control characters and token-shaped words removed.
fn quote(value: &str) -> String {
    format!("\"{}\"", sanitize(&redact_tokens(value), QUOTE_MAX_CHARS))
}

fn with(path: &[Seg], more: &[Seg]) -> Vec<Seg> {
    [path, more].concat()
}

struct Checker<'m, 'a> {
    map: &'m DocumentMap<'a>,
    text: &'m str,
    problems: Vec<(Range<usize>, String)>,
}

impl Checker<'_, '_> {
    fn report(&mut self, path: &[Seg], problem: impl Display) {
        let span = self.map.nearest_span(path);
        let place = self.map.describe(path);
        let message = if place.is_empty() {
            problem.to_string()
        } else {
            format!("{place}: {problem}")
        };
        self.problems.push((span, message));
    }

    fn simulated_clock(&mut self, config: &Config) {
        if let Some(clock) = &config.simulated_clock
            && !(clock.speed.is_finite() && (0.1..=1000.0).contains(&clock.speed))
        {
            self.report(
                &[key("simulated_clock"), key("speed")],
                format!("must be between 0.1 and 1000, found {}", clock.speed),
            );
        }
    }

    fn github(&mut self, config: &Config) {
        let github = &config.github;
        let base = [key("github")];
        self.url(&with(&base, &[key("api_url")]), github.api_url.get_ref());
        let repo = github.repo.get_ref();
        if !is_owner_and_name(repo) {
            self.report(
                &with(&base, &[key("repo")]),
                format!("must be \"owner/name\", found {}", quote(repo)),
            );
        }
        self.token_env(&with(&base, &[key("token_env")]), github.token_env.as_ref());
    }

    fn sentry(&mut self, config: &Config) {
        let Some(sentry) = &config.sentry else {
            return;
        };
        let base = [key("sentry")];
        self.url(&with(&base, &[key("url")]), sentry.url.get_ref());
        if sentry.org.get_ref().trim().is_empty() {
            self.report(&with(&base, &[key("org")]), "must not be empty");
        }
        if sentry.project_ids.is_empty() {
            self.report(
                &with(&base, &[key("project_ids")]),
                "list at least one numeric Sentry project id",
            );
        }
        self.token_env(&with(&base, &[key("token_env")]), sentry.token_env.as_ref());
    }

    fn pipeline(&mut self, config: &Config) {
        let pipeline = &config.pipeline;
        let base = [key("pipeline")];
        if pipeline.workflow.trim().is_empty() {
            self.report(&with(&base, &[key("workflow")]), "must not be empty");
        }
        let total_path = with(&base, &[key("total_target")]);
        let alarm_path = with(&base, &[key("alarm_after")]);
        self.positive(&total_path, pipeline.total_target);
        self.positive(&alarm_path, pipeline.alarm_after);
        if pipeline.alarm_after < pipeline.total_target {
            let alarm = humantime::format_duration(pipeline.alarm_after.get());
            let total = humantime::format_duration(pipeline.total_target.get());
            if self.map.value_span(&alarm_path).is_some() {
                self.report(
                    &alarm_path,
                    format!("must not be shorter than total_target ({total}); it is {alarm}"),
                );
            } else {
                self.report(
                    &total_path,
                    format!(
                        "must not be longer than alarm_after ({alarm}, the default); it is \
                         {total}"
                    ),
                );
            }
        }
        let stages_path = with(&base, &[key("stage")]);
        let names: Vec<&str> = pipeline
            .stages
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        self.unique_names(&stages_path, &names, "stage");
        for (i, stage) in pipeline.stages.iter().enumerate() {
            let path = with(&stages_path, &[index(i)]);
            self.non_empty_name(&path, &stage.name);
            if stage.jobs.is_empty() {
                self.report(
                    &with(&path, &[key("jobs")]),
                    "list at least one job name pattern (e.g. jobs = [\"lint*\"])",
                );
            }
            for (j, pattern) in stage.jobs.iter().enumerate() {
                if pattern.trim().is_empty() {
                    self.report(&with(&path, &[key("jobs"), index(j)]), "must not be empty");
                }
            }
            self.positive(&with(&path, &[key("target")]), stage.target);
        }
    }

    fn environments(&mut self, config: &Config) {
        let base = [key("environment")];
        if config.environments.is_empty() {
            self.problems
                .push((self.map.nearest_span(&base), NO_ENVIRONMENTS.to_string()));
            return;
        }
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.get_ref().as_str())
            .collect();
        self.unique_names(&base, &names, "environment");
        for (i, env) in config.environments.iter().enumerate() {
            let path = with(&base, &[index(i)]);
            self.non_empty_name(&path, &env.name);
            if env.branch.trim().is_empty() {
                self.report(&with(&path, &[key("branch")]), "must not be empty");
            }
            self.url(&with(&path, &[key("url")]), env.url.get_ref());
            self.token_env(
                &with(&path, &[key("github_token_env")]),
                env.github_token_env.as_ref(),
            );
            let sentry_token_path = with(&path, &[key("sentry_token_env")]);
            self.token_env(&sentry_token_path, env.sentry_token_env.as_ref());
            if env.sentry_token_env.is_some() && config.sentry.is_none() {
                self.report(
                    &sentry_token_path,
                    "there is no [sentry] table for this token to be used with",
                );
            }
            let services_path = with(&path, &[key("service")]);
            let service_names: Vec<&str> = env
                .services
                .iter()
                .map(|s| s.name.get_ref().as_str())
                .collect();
            self.unique_names(&services_path, &service_names, "service");
            for (j, service) in env.services.iter().enumerate() {
                let service_path = with(&services_path, &[index(j)]);
                self.non_empty_name(&service_path, &service.name);
                if service.github_environment.trim().is_empty() {
                    self.report(
                        &with(&service_path, &[key("github_environment")]),
                        "must not be empty",
                    );
                }
            }
        }
    }

    fn smoke_checks(&mut self, checks: &[SmokeCheckConfig]) {
        let base = [key("smoke")];
        let names: Vec<&str> = checks.iter().map(|c| c.name.get_ref().as_str()).collect();
        self.unique_names(&base, &names, "smoke check");
        for (i, check) in checks.iter().enumerate() {
            let path = with(&base, &[index(i)]);
            self.non_empty_name(&path, &check.name);
            match (&check.path, &check.steps) {
                (Some(request_path), None) => self.request_path(&path, request_path),
                (None, None) => self.report(
                    &path,
                    "needs path (one request) or [[smoke.step]] tables (a flow of requests)",
                ),
                (Some(_), Some(_)) => self.report(
                    &with(&path, &[key("path")]),
                    "a check is one request or a flow, not both: move this request into the \
                     flow as its first [[smoke.step]]",
                ),
                (None, Some(steps)) => self.flow(&path, check, steps),
            }
            if !check.is_flow() {
                self.expectations(
                    &path,
                    check.status,
                    check.json_pointer.as_deref(),
                    check.json_equals.is_some(),
                );
            }
            self.positive(&with(&path, &[key("max_latency")]), check.max_latency);
            self.positive(&with(&path, &[key("timeout")]), check.timeout);
        }
    }

    fn request_path(&mut self, element: &[Seg], request_path: &str) {
        if !(request_path.starts_with('/') || request_path.starts_with(URL_PLACEHOLDER)) {
            self.report(
                &with(element, &[key("path")]),
                format!(
                    "must start with \"/\" or \"{{url}}\", found {}",
                    quote(request_path)
                ),
            );
        }
    }

    /// The status and JSON expectations of a request (a check's own, or a flow step's).
    fn expectations(
        &mut self,
        element: &[Seg],
        status: u16,
        json_pointer: Option<&str>,
        has_json_equals: bool,
    ) {
        if !(100..=599).contains(&status) {
            self.report(
                &with(element, &[key("status")]),
                format!("{status} is not an HTTP status code (100 to 599)"),
            );
        }
        if has_json_equals && json_pointer.is_none() {
            self.report(
                &with(element, &[key("json_equals")]),
                "needs json_pointer, the place in the JSON body to compare \
                 (e.g. json_pointer = \"/status\")",
            );
        }
        if let Some(pointer) = json_pointer
            && let Err(problem) = check_json_pointer(pointer)
        {
            self.report(&with(element, &[key("json_pointer")]), problem);
        }
    }

    /// A flow's steps: each a runnable request, values used only after a step extracted
    /// them, polls that can end, cleanup steps last.
    fn flow(&mut self, check_path: &[Seg], check: &SmokeCheckConfig, steps: &[FlowStepConfig]) {
        let check_name = check.name.get_ref().as_str();
        let steps_path = with(check_path, &[key("step")]);
        for name in REQUEST_ONLY_KEYS {
            let at = with(check_path, &[key(name)]);
            if self.map.value_span(&at).is_some() {
                self.report(
                    &at,
                    "belongs to a single request; in a flow, set it on the [[smoke.step]] it \
                     is about",
                );
            }
        }
        for (header, value) in &check.headers {
            if let Some(name) = placeholders(value).next() {
                self.report_step(
                    check_name,
                    &with(check_path, &[key("headers"), key(header)]),
                    format!(
                        "uses {{{name}}}, but the check's headers go with every step, before any \
                         value is extracted; set this header on the steps that use it"
                    ),
                );
            }
        }
        if steps.is_empty() {
            self.report(
                &steps_path,
                "a flow needs at least one step ([[smoke.step]] with name and path)",
            );
            return;
        }
        if steps.iter().all(|step| step.cleanup) {
            self.report(
                &steps_path,
                "a flow needs a step that is not cleanup: cleanup steps only tidy up after the \
                 others",
            );
        }
        let step_names: Vec<&str> = steps.iter().map(|s| s.name.get_ref().as_str()).collect();
        self.unique_names(&steps_path, &step_names, "step");
        let flow_deadline = check.timeout;
        let deadline_written = self
            .map
            .value_span(&with(check_path, &[key("timeout")]))
            .is_some();
        for (j, step) in steps.iter().enumerate() {
            let path = with(&steps_path, &[index(j)]);
            let at = |more: &[&str]| -> Vec<Seg> {
                with(&path, &more.iter().map(|k| key(k)).collect::<Vec<_>>())
            };
            self.non_empty_name(&path, &step.name);
            if !(step.path.starts_with('/') || step.path.starts_with(URL_PLACEHOLDER)) {
                self.report_step(
                    check_name,
                    &at(&["path"]),
                    format!(
                        "must start with \"/\" or \"{{url}}\", found {}",
                        quote(&step.path)
                    ),
                );
            }
            self.expectations(
                &path,
                step.status,
                step.json_pointer.as_deref(),
                step.json_equals.is_some(),
            );
            for (value_name, pointer) in &step.extract {
                let here = at(&["extract", value_name]);
                if !is_value_name(value_name) {
                    self.report_step(
                        check_name,
                        &here,
                        format!(
                            "{} cannot name a value: use a letter or _, then letters, digits, _ \
                             or - (and not \"url\", which is the environment's URL)",
                            quote(value_name)
                        ),
                    );
                }
                if let Err(problem) = check_json_pointer(pointer) {
                    self.report_step(check_name, &here, problem);
                }
            }
            for (field, value_name) in step.used_values() {
                let extracted_before = steps[..j]
                    .iter()
                    .any(|earlier| earlier.extract.contains_key(value_name));
                if extracted_before {
                    continue;
                }
                let later = steps[j..]
                    .iter()
                    .find(|other| other.extract.contains_key(value_name));
                let problem = match later {
                    Some(other) if std::ptr::eq(other, step) => format!(
                        "uses {{{value_name}}}, which this step only extracts from its own \
                         answer; extract it in an earlier step"
                    ),
                    Some(other) => format!(
                        "uses {{{value_name}}} before it is extracted: step {} extracts it, \
                         after this one",
                        quote(other.name.get_ref())
                    ),
                    None => format!(
                        "uses {{{value_name}}}, which no earlier step extracts (e.g. extract = \
                         {{ {value_name} = \"/id\" }})"
                    ),
                };
                self.report_step(check_name, &at(&field), problem);
            }
            if let Some(poll) = &step.poll {
                self.poll(
                    check_name,
                    &at(&["poll"]),
                    poll,
                    step.cleanup,
                    flow_deadline,
                    deadline_written,
                );
            }
            if step.cleanup
                && let Some(later) = steps[j + 1..].iter().find(|other| !other.cleanup)
            {
                self.report_step(
                    check_name,
                    &at(&["cleanup"]),
                    format!(
                        "cleanup steps run after all the others: move it after step {}",
                        quote(later.name.get_ref())
                    ),
                );
            }
            if let Some(budget) = step.max_latency {
                self.positive(&at(&["max_latency"]), budget);
            }
            self.positive(&at(&["timeout"]), step.timeout);
        }
    }

    fn poll(
        &mut self,
        check_name: &str,
        path: &[Seg],
        poll: &PollConfig,
        cleanup: bool,
        flow_deadline: HumanDuration,
        deadline_written: bool,
    ) {
        let at = |name: &str| with(path, &[key(name)]);
        self.positive(&at("every"), poll.every);
        if let Some(timeout) = poll.timeout {
            self.positive(&at("timeout"), timeout);
            if poll.every > timeout && !timeout.get().is_zero() {
                self.report_step(
                    check_name,
                    &at("every"),
                    format!(
                        "{} is longer than the poll's timeout ({}): it would ask only once",
                        humantime::format_duration(poll.every.get()),
                        humantime::format_duration(timeout.get())
                    ),
                );
            }
            if !cleanup && timeout > flow_deadline {
                let default = if deadline_written {
                    ""
                } else {
                    ", the default"
                };
                self.report_step(
                    check_name,
                    &at("timeout"),
                    format!(
                        "{} is longer than the whole flow may take (the check's timeout, {}{default}); \
                         set the check's timeout to at least that",
                        humantime::format_duration(timeout.get()),
                        humantime::format_duration(flow_deadline.get()),
                    ),
                );
            }
        }
        let Some(until) = &poll.until else {
            self.report_step(
                check_name,
                path,
                "needs until, the condition that ends the wait (e.g. until = { pointer = \
                 \"/status\", equals = \"done\" })",
            );
            return;
        };
        let until_path = at("until");
        let until_at = |name: &str| with(&until_path, &[key(name)]);
        let compares = until.equals.is_some() || until.one_of.is_some();
        if until.status.is_none() && until.pointer.is_none() && !compares {
            self.report_step(
                check_name,
                &until_path,
                "needs status, or pointer with equals or one_of (e.g. { pointer = \"/status\", \
                 equals = \"done\" })",
            );
        }
        if let Some(status) = until.status
            && !(100..=599).contains(&status)
        {
            self.report_step(
                check_name,
                &until_at("status"),
                format!("{status} is not an HTTP status code (100 to 599)"),
            );
        }
        match &until.pointer {
            Some(pointer) => {
                if let Err(problem) = check_json_pointer(pointer) {
                    self.report_step(check_name, &until_at("pointer"), problem);
                }
                if !compares {
                    self.report_step(
                        check_name,
                        &until_at("pointer"),
                        "needs equals or one_of, the value to wait for",
                    );
                }
            }
            None if compares => {
                let name = if until.equals.is_some() {
                    "equals"
                } else {
                    "one_of"
                };
                self.report_step(
                    check_name,
                    &until_at(name),
                    "needs pointer, the place in the JSON answer to compare (e.g. pointer = \
                     \"/status\")",
                );
            }
            None => {}
        }
        if until.equals.is_some() && until.one_of.is_some() {
            self.report_step(
                check_name,
                &until_at("one_of"),
                "set equals or one_of, not both",
            );
        }
        if until.one_of.as_ref().is_some_and(Vec::is_empty) {
            self.report_step(check_name, &until_at("one_of"), "list at least one value");
        }
    }

    /// Like [`Self::report`], naming the check after the place: a step's place alone
    /// (`[[smoke.step]] #2 (wait)`) does not say which check it belongs to.
    fn report_step(&mut self, check_name: &str, path: &[Seg], problem: impl Display) {
        let span = self.map.nearest_span(path);
        let place = self.map.describe(path);
        self.problems.push((
            span,
            format!("{place} (check {}): {problem}", quote(check_name)),
        ));
    }

    fn promotions(&mut self, config: &Config) {
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.get_ref().as_str())
            .collect();
        // Index of each environment's source, where it is valid; used for the cycle check.
        let mut source_of: Vec<Option<usize>> = vec![None; names.len()];
        for (i, env) in config.environments.iter().enumerate() {
            let env_name = names[i];
            let path = with(&[key("environment"), index(i)], &[key("promotion")]);
            if let Some(rollback) = &env.rollback {
                let rollback_path = with(&[key("environment"), index(i)], &[key("rollback")]);
                self.strategy_settings(
                    env_name,
                    &rollback_path,
                    rollback.strategy == RollbackStrategy::WorkflowDispatch,
                    rollback.workflow.as_deref(),
                    rollback.strategy == RollbackStrategy::Command,
                    &rollback.command,
                );
            }
            let Some(promotion) = &env.promotion else {
                continue;
            };
            let from_path = with(&path, &[key("from")]);
            match &promotion.from {
                Some(from) => {
                    let from = from.get_ref();
                    match names.iter().position(|n| n == from) {
                        None => self.report_in(
                            env_name,
                            &from_path,
                            format!(
                                "no environment is named {}; environments: {}",
                                quote(from),
                                names.join(", ")
                            ),
                        ),
                        Some(j) if j == i => self.report_in(
                            env_name,
                            &from_path,
                            "an environment cannot promote from itself",
                        ),
                        Some(j) => source_of[i] = Some(j),
                    }
                }
                None if i == 0 => self.report_in(
                    env_name,
                    &path,
                    "the first environment has none before it to promote from; set from = \
                     \"<environment>\"",
                ),
                None => source_of[i] = Some(i - 1),
            }
            if promotion.soak.get() == Duration::ZERO {
                self.report_in(
                    env_name,
                    &with(&path, &[key("soak")]),
                    "must be longer than zero",
                );
            }
            for (j, check) in promotion.required_checks.iter().enumerate() {
                if check.trim().is_empty() {
                    self.report_in(
                        env_name,
                        &with(&path, &[key("required_checks"), index(j)]),
                        "must not be empty",
                    );
                }
            }
            for (j, pattern) in promotion.high_risk.iter().enumerate() {
                if let Err(err) = globset::Glob::new(pattern) {
                    self.report_in(
                        env_name,
                        &with(&path, &[key("high_risk"), index(j)]),
                        format!(
                            "{} is not a valid glob pattern ({}); e.g. \"migrations/**\"",
                            quote(pattern),
                            sanitize(&err.kind().to_string(), QUOTE_MAX_CHARS)
                        ),
                    );
                }
            }
            if promotion.require_review && promotion.strategy != PromotionStrategy::PullRequest {
                self.report_in(
                    env_name,
                    &with(&path, &[key("require_review")]),
                    "a review is given on a pull request: set strategy = \"pull-request\" \
                     to require one",
                );
            }
            self.strategy_settings(
                env_name,
                &path,
                promotion.strategy == PromotionStrategy::WorkflowDispatch,
                promotion.workflow.as_deref(),
                promotion.strategy == PromotionStrategy::Command,
                &promotion.command,
            );
        }
        for i in 0..names.len() {
            if let Some(cycle) = promotion_cycle(&source_of, i) {
                let env_name = names[i];
                let path = with(
                    &[key("environment"), index(i)],
                    &[key("promotion"), key("from")],
                );
                let mut route: Vec<&str> = cycle.iter().map(|&k| names[k]).collect();
                route.push(names[i]);
                self.report_in(
                    env_name,
                    &path,
                    format!("promotions go round in a circle: {}", route.join(" <- ")),
                );
            }
        }
    }

    fn ui(&mut self, config: &Config) {
        let ui = &config.ui;
        if let Err(problem) = crate::config::KeyChord::parse(ui.quit_chord.get_ref()) {
            self.report(&[key("ui"), key("quit_chord")], problem);
        }
        if let Some(cycle) = ui.cycle
            && cycle.get() < Duration::from_secs(2)
        {
            self.report(
                &[key("ui"), key("cycle")],
                "must be at least 2s; a panel that changes faster cannot be read",
            );
        }
        self.positive(
            &[key("ui"), key("red_pipeline_after")],
            ui.red_pipeline_after,
        );
    }

    fn red_watch(&mut self, config: &Config) {
        let red_watch = &config.red_watch;
        self.positive(&[key("red_watch"), key("red_for")], red_watch.red_for);
        for (j, label) in red_watch.labels.iter().enumerate() {
            if label.trim().is_empty() {
                self.report(
                    &[key("red_watch"), key("labels"), index(j)],
                    "must not be empty",
                );
            }
        }
    }

    fn diagnosis(&mut self, config: &Config) {
        let diagnosis = &config.diagnosis;
        let at = |name: &'static str| [key("diagnosis"), key(name)];
        if diagnosis.max_reruns > 10 {
            self.report(
                &at("max_reruns"),
                "must be at most 10; a job that fails ten times is not flaky",
            );
        }
        for (j, label) in diagnosis.issue_labels.iter().enumerate() {
            if label.trim().is_empty() {
                self.report(&with(&at("issue_labels"), &[index(j)]), "must not be empty");
            }
        }
        if let Some(assistant) = &diagnosis.assistant {
            let path = at("assistant");
            let at = |name: &'static str| with(&path, &[key(name)]);
            self.url(&at("url"), assistant.url.get_ref());
            if assistant.model.trim().is_empty() {
                self.report(&at("model"), "must name a model, e.g. \"gpt-4o-mini\"");
            }
            self.token_env(&at("api_key_env"), assistant.api_key_env.as_ref());
            if assistant.timeout.get() < Duration::from_secs(1) {
                self.report(&at("timeout"), "must be at least 1 second");
            }
        }
    }

    fn verification(&mut self, config: &Config) {
        for (i, env) in config.environments.iter().enumerate() {
            let env_name = env.name.get_ref().as_str();
            let env_path = [key("environment"), index(i)];
            if let Some(verify) = &env.verify {
                let path = with(&env_path, &[key("verify")]);
                let at = |name: &'static str| with(&path, &[key(name)]);
                for (name, duration) in [("window", verify.window), ("baseline", verify.baseline)] {
                    if duration.get() < Duration::from_secs(60) {
                        self.report_in(env_name, &at(name), "must be at least 1 minute");
                    }
                }
                // The error rate is judged from the per-minute history the engine keeps; a
                // longer span would lose its baseline partway and judge nothing.
                let kept = Duration::from_secs(ERROR_HISTORY_MINUTES as u64 * 60);
                if verify.window.get() + verify.baseline.get() > kept {
                    self.report_in(
                        env_name,
                        &at("window"),
                        format!(
                            "window and baseline together must fit in the {} hours of \
                             per-minute errors shipdeck keeps",
                            ERROR_HISTORY_MINUTES / 60
                        ),
                    );
                }
                if let Some(watch) = verify.watch {
                    let watch = watch.get();
                    if watch <= verify.window.get() || watch > MAX_WATCH {
                        self.report_in(
                            env_name,
                            &at("watch"),
                            format!(
                                "must be longer than the window ({}) and at most {} days",
                                humantime::format_duration(verify.window.get()),
                                MAX_WATCH.as_secs() / 86_400
                            ),
                        );
                    }
                }
                if !(verify.max_increase.is_finite()
                    && verify.max_increase > TOLERATED_DRIFT
                    && verify.max_increase <= 100.0)
                {
                    self.report_in(
                        env_name,
                        &at("max_increase"),
                        format!(
                            "must be more than {TOLERATED_DRIFT} (+10%, the drift never rolled back) and at most 100; 0.5 means +50%"
                        ),
                    );
                }
                if verify.min_events == 0 {
                    self.report_in(env_name, &at("min_events"), "must be at least 1");
                }
                if verify.new_issue_events == 0 {
                    self.report_in(
                        env_name,
                        &at("new_issue_events"),
                        "must be at least 1 (1: any new error type fails the deploy)",
                    );
                }
                if !(verify.availability > 0.0 && verify.availability < 1.0) {
                    self.report_in(
                        env_name,
                        &at("availability"),
                        "must be between 0 and 1, e.g. 0.999 for 99.9%",
                    );
                }
                if verify.max_auto_rollbacks == 0 {
                    self.report_in(
                        env_name,
                        &at("max_auto_rollbacks"),
                        "must be at least 1; set auto_rollback = false to never roll back by \
                         itself",
                    );
                }
                for (j, label) in verify.issue_labels.iter().enumerate() {
                    if label.trim().is_empty() {
                        self.report_in(
                            env_name,
                            &with(&at("issue_labels"), &[index(j)]),
                            "must not be empty",
                        );
                    }
                }
            }
            for (j, notifier) in env.notifiers.iter().enumerate() {
                let path = with(&env_path, &[key("notify"), index(j)]);
                let at = |name: &'static str| with(&path, &[key(name)]);
                if let Some(url) = &notifier.url {
                    self.url(&at("url"), url.get_ref());
                }
                self.token_env(&at("url_env"), notifier.url_env.as_ref());
                self.token_env(&at("routing_key_env"), notifier.routing_key_env.as_ref());
                let has_url = notifier.url.is_some() || notifier.url_env.is_some();
                if notifier.url.is_some() && notifier.url_env.is_some() {
                    self.report_in(env_name, &at("url_env"), "set url or url_env, not both");
                }
                match notifier.kind {
                    NotifierKindConfig::Pagerduty => {
                        if notifier.routing_key_env.is_none() {
                            self.report_in(
                                env_name,
                                &path,
                                "a pagerduty notifier needs routing_key_env, the variable \
                                 holding the integration key",
                            );
                        }
                    }
                    NotifierKindConfig::Slack | NotifierKindConfig::Webhook => {
                        if !has_url {
                            self.report_in(
                                env_name,
                                &path,
                                "needs url, or url_env naming the variable that holds it",
                            );
                        }
                        if notifier.routing_key_env.is_some() {
                            self.report_in(
                                env_name,
                                &at("routing_key_env"),
                                "only a pagerduty notifier has a routing key",
                            );
                        }
                    }
                }
            }
        }
    }

    fn strategy_settings(
        &mut self,
        env_name: &str,
        path: &[Seg],
        is_dispatch: bool,
        workflow: Option<&str>,
        is_command: bool,
        command: &[String],
    ) {
        if is_dispatch && workflow.is_none_or(|w| w.trim().is_empty()) {
            self.report_in(
                env_name,
                &with(path, &[key("workflow")]),
                "strategy \"workflow-dispatch\" needs workflow = \"<file>.yml\"",
            );
        }
        if is_command && command.first().is_none_or(|c| c.trim().is_empty()) {
            self.report_in(
                env_name,
                &with(path, &[key("command")]),
                "strategy \"command\" needs command = [\"program\", \"argument\", ...]",
            );
        }
    }

    /// Like [`Self::report`], naming the environment after the place, for tables nested in an
    /// `[[environment]]` whose place text alone does not say which one.
    fn report_in(&mut self, env_name: &str, path: &[Seg], problem: impl Display) {
        let span = self.map.nearest_span(path);
        let place = self.map.describe(path);
        self.problems.push((
            span,
            format!("{place} (environment {}): {problem}", quote(env_name)),
        ));
    }

    fn freezes(&mut self, config: &Config) {
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.get_ref().as_str())
            .collect();
        for (i, freeze) in config.freezes.iter().enumerate() {
            let path = [key("freeze"), index(i)];
            if let Err(problem) = freeze.window() {
                let at = if problem == FREEZE_BOTH || problem == FREEZE_NEITHER {
                    path.to_vec()
                } else if freeze.weekly.is_some() {
                    with(&path, &[key("weekly")])
                } else {
                    with(&path, &[key("date")])
                };
                self.report(&at, problem);
            }
            if let Err(problem) = freeze.tz() {
                self.report(&with(&path, &[key("time_zone")]), problem);
            }
            for (j, env) in freeze.environments.iter().flatten().enumerate() {
                if !names.contains(&env.as_str()) {
                    self.report(
                        &with(&path, &[key("environments"), index(j)]),
                        format!(
                            "no environment is named {}; environments: {}",
                            quote(env),
                            names.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn positive(&mut self, path: &[Seg], duration: HumanDuration) {
        if duration.get() == Duration::ZERO {
            self.report(path, "must be longer than zero");
        }
    }

    fn non_empty_name(&mut self, element: &[Seg], name: &Spanned<String>) {
        if name.get_ref().trim().is_empty() {
            self.report(&with(element, &[key("name")]), "must not be empty");
        }
    }

    /// Reports every name already used by an earlier element of the array at `array_path`,
    /// at the later one, saying where the first is.
    fn unique_names(&mut self, array_path: &[Seg], names: &[&str], what: &str) {
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            match first_seen.get(name) {
                None => {
                    first_seen.insert(name, i);
                }
                Some(&first) => {
                    let first_path = with(array_path, &[index(first), key("name")]);
                    let first_position =
                        Position::of_offset(self.text, self.map.nearest_span(&first_path).start);
                    let first_place = self.map.describe_table(&with(array_path, &[index(first)]));
                    self.report(
                        &with(array_path, &[index(i), key("name")]),
                        format!(
                            "duplicate {what} name {} (first used by {first_place} at \
                             {first_position})",
                            quote(name)
                        ),
                    );
                }
            }
        }
    }

    fn url(&mut self, path: &[Seg], raw: &str) {
        if let Err(problem) = check_url(raw) {
            self.report(path, problem);
        }
    }

    fn token_env(&mut self, path: &[Seg], value: Option<&Spanned<String>>) {
        let Some(value) = value else { return };
        let name = value.get_ref();
        if looks_like_token(name) {
            self.report(
                path,
                "looks like a token; put the token in an environment variable and name the \
                 variable here",
            );
        } else if let Some(stripped) = name.strip_prefix('$').filter(|s| is_variable_name(s)) {
            self.report(
                path,
                format!("write the variable name without \"$\": {}", quote(stripped)),
            );
        } else if !is_variable_name(name) {
            self.report(
                path,
                format!(
                    "{} is not an environment variable name (letters, digits and _, not \
                     starting with a digit)",
                    quote(name)
                ),
            );
        }
    }
}

/// The environments on a circle of promotion sources that `start` is the smallest index of,
/// in order from `start`; `None` when `start` is on no circle (or not the first on it, so
/// each circle is reported once).
fn promotion_cycle(source_of: &[Option<usize>], start: usize) -> Option<Vec<usize>> {
    let mut route = vec![start];
    let mut current = start;
    while let Some(next) = source_of.get(current).copied().flatten() {
        if next == start {
            return route.iter().all(|&k| k >= start).then_some(route);
        }
        if route.contains(&next) {
            return None;
        }
        route.push(next);
        current = next;
    }
    None
}

/// `owner/name`: two non-empty parts of letters, digits, `.`, `_` and `-`.
fn is_owner_and_name(repo: &str) -> bool {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    matches!(repo.split_once('/'), Some((owner, name)) if part_ok(owner) && part_ok(name))
}

/// An http(s) URL with a host and no credentials; plain http only to a loopback host, since
/// requests to it may carry a token.
fn check_url(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|err| format!("not a valid URL ({err}): {}", quote(raw)))?;
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "must be an http:// or https:// URL, found {}",
            quote(raw)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain a user name or password; name an environment variable in \
             token_env instead"
                .to_string(),
        );
    }
    let Some(host) = url.host_str() else {
        return Err(format!("must name a host, found {}", quote(raw)));
    };
    if scheme == "http" && !is_loopback_host(host) {
        return Err(format!(
            "plain http:// is only allowed for loopback hosts (localhost, 127.0.0.0/8, [::1]), \
             since a token would travel in clear; use https://, found {}",
            quote(raw)
        ));
    }
    Ok(())
}

/// `localhost`, 127.0.0.0/8 or `[::1]`, as the URL parser writes hosts.
/// Whether `host` (as in a URL: `localhost`, `127.0.0.1`, `[::1]`) never leaves the machine,
/// the one case where a token may travel over plain http.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// RFC 6901, as a smoke check uses it: empty (the whole body), or "/" then reference tokens,
/// `~` only as `~0` or `~1`.
fn check_json_pointer(pointer: &str) -> Result<(), String> {
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!(
            "a JSON pointer starts with \"/\" (e.g. \"/status\") or is empty for the whole \
             body, found {}",
            quote(pointer)
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "\"~\" in a JSON pointer must be followed by 0 or 1 (RFC 6901), found {}",
                quote(pointer)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_name_shape() {
        assert!(is_owner_and_name("acme/shop"));
        assert!(is_owner_and_name("my-org/web.app_2"));
        assert!(!is_owner_and_name("acme"));
        assert!(!is_owner_and_name("acme/"));
        assert!(!is_owner_and_name("/shop"));
        assert!(!is_owner_and_name("a/b/c"));
        assert!(!is_owner_and_name("acme/.."));
        assert!(!is_owner_and_name("ac me/shop"));
    }

    #[test]
    fn urls_need_https_unless_loopback() {
        assert!(check_url("https://api.github.com").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://127.5.4.3").is_ok());
        assert!(check_url("http://localhost:3000/").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        assert!(check_url("http://example.com").is_err());
        assert!(check_url("http://10.0.0.1").is_err());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("example.com").is_err());
        assert!(check_url("https://user:pw@example.com").is_err());
    }

    #[test]
    fn json_pointers_follow_rfc_6901() {
        assert!(check_json_pointer("/status").is_ok());
        assert!(check_json_pointer("/a~1b/~0c").is_ok());
        assert!(check_json_pointer("").is_ok());
        assert!(check_json_pointer("status").is_err());
        assert!(check_json_pointer("/a~2").is_err());
        assert!(check_json_pointer("/a~").is_err());
    }
}
