//! Job logs as GitHub Actions serves them raw (`GET .../actions/jobs/{id}/logs`, then the
//! blob URL it redirects to): one line per output line, each prefixed with the time it was
//! written (RFC 3339, seven fractional digits), the runner's setup lines, `##[group]Run ...`
//! headers, the tool's own output, `##[error]Process completed with exit code 1.` for the
//! failed step, and the clean-up lines.
//!
//! A failing job shows its [`CiFailure`]'s key lines verbatim, as the shared spec
//! (`ci-failures.md`) lists them, so the classifier can be tested on them; a passing job
//! shows a plausible passing run of its tool. Line times come from the job's planned step
//! times, and every varying detail is drawn from the job's id and attempt: the same world
//! gives the same log. A few passing lines carry ANSI colours, as vitest's do on Actions.

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::scenario::CiFailure;
use super::world::{
    CHECKOUT_ACTION, CommitRecord, JobRecord, OWNER, Outcome, REPO_NAME, RunRecord,
    SETUP_NODE_ACTION, StepPlan,
};

/// The line that ends a failed step.
pub const EXIT_CODE_LINE: &str = "##[error]Process completed with exit code 1.";

const WORKSPACE: &str = "/home/runner/work/shop/shop";
const GREEN_CHECK: &str = "\u{1b}[32m✓\u{1b}[39m";

/// The whole log of a job that ran in attempt `attempt` of `run` (normally
/// `job.run_attempt`), as it reads once the job has finished. A skipped job never ran and
/// has no log: the empty string.
pub fn job_log(
    run: &RunRecord,
    job: &JobRecord,
    commit: Option<&CommitRecord>,
    attempt: u32,
) -> String {
    render(timed_lines(run, job, commit, attempt), None)
}

/// The log as far as it was written at `now`: what GitHub serves for a job still running.
pub fn job_log_until(
    run: &RunRecord,
    job: &JobRecord,
    commit: Option<&CommitRecord>,
    now: DateTime<Utc>,
) -> String {
    render(timed_lines(run, job, commit, job.run_attempt), Some(now))
}

/// `2026-12-01T10:00:01.1234567Z`: GitHub's log timestamps carry seven fractional digits.
pub fn log_timestamp(at: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        at.format("%Y-%m-%dT%H:%M:%S"),
        at.timestamp_subsec_nanos() / 100
    )
}

fn render(lines: Vec<(DateTime<Utc>, String)>, until: Option<DateTime<Utc>>) -> String {
    let mut text = String::new();
    for (at, line) in lines {
        if until.is_some_and(|now| at > now) {
            break;
        }
        text.push_str(&log_timestamp(at));
        text.push(' ');
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Every line of the log with the time it was written, in order.
fn timed_lines(
    run: &RunRecord,
    job: &JobRecord,
    commit: Option<&CommitRecord>,
    attempt: u32,
) -> Vec<(DateTime<Utc>, String)> {
    let seed = job.id ^ (u64::from(attempt) << 56) ^ 0x5eed_1065;
    let mut rng = SmallRng::seed_from_u64(seed);
    let context = Context {
        run,
        job,
        vulnerable: commit.is_some_and(|c| c.ci_failure == Some(CiFailure::Security)),
    };
    // The step that runs the job's command comes right before the checkout's post step.
    let command_step = job.steps.len().checked_sub(3);
    let mut out = Vec::new();
    for (position, step) in job.steps.iter().enumerate() {
        let lines = if Some(position) == command_step {
            command_lines(&context, step, &mut rng)
        } else {
            step_lines(&context, step, &mut rng)
        };
        spread(step, lines, &mut rng, &mut out);
    }
    out
}

/// What the lines are about.
struct Context<'a> {
    run: &'a RunRecord,
    job: &'a JobRecord,
    /// The commit brings in a vulnerable package (npm ci's audit summary says so).
    vulnerable: bool,
}

/// Gives a step's lines times within the step, in order: line k of n at a random point of
/// the k-th of n equal slices, the first right as the step starts (a job that has started
/// has written its first line).
fn spread(
    step: &StepPlan,
    lines: Vec<String>,
    rng: &mut SmallRng,
    out: &mut Vec<(DateTime<Utc>, String)>,
) {
    let span = (step.completed_at - step.started_at)
        .num_nanoseconds()
        .unwrap_or(0)
        .max(0);
    let count = lines.len().max(1) as i64;
    let slice = span / count;
    for (k, line) in lines.into_iter().enumerate() {
        let jitter = if slice > 0 && k > 0 {
            rng.random_range(0..slice)
        } else {
            0
        };
        let offset = slice * k as i64 + jitter;
        out.push((step.started_at + TimeDelta::nanoseconds(offset), line));
    }
}

fn owned(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|line| line.to_string()).collect()
}

/// The lines of the steps around the command: setup, checkout, setup-node, npm ci, post
/// checkout, complete.
fn step_lines(context: &Context, step: &StepPlan, rng: &mut SmallRng) -> Vec<String> {
    let name = step.name.as_str();
    if name == "Set up job" {
        setup_lines(context, rng)
    } else if name == format!("Run {CHECKOUT_ACTION}") {
        checkout_lines(context.run)
    } else if name == format!("Run {SETUP_NODE_ACTION}") {
        setup_node_lines()
    } else if name == "Run npm ci" {
        let mut lines = run_group("npm ci");
        lines.extend(npm_ci_lines(context, rng));
        lines
    } else if name.starts_with("Post ") {
        post_checkout_lines()
    } else if name == "Complete job" {
        owned(&["Cleaning up orphan processes"])
    } else {
        Vec::new()
    }
}

fn setup_lines(context: &Context, rng: &mut SmallRng) -> Vec<String> {
    let runner = context.job.runner_id;
    let mut lines = vec![
        "Current runner version: '2.321.0'".to_string(),
        format!("Runner name: 'GitHub Actions {runner}'"),
        "Runner group name: 'GitHub Actions'".to_string(),
        format!(
            "Machine name: 'fv-az{}-{}'",
            rng.random_range(100..999),
            runner
        ),
    ];
    lines.extend(owned(&[
        "##[group]Operating System",
        "Ubuntu",
        "24.04.1",
        "LTS",
        "##[endgroup]",
        "##[group]Runner Image",
        "Image: ubuntu-24.04",
        "Version: 20241201.1.0",
        "Included Software: https://github.com/actions/runner-images/blob/ubuntu24/20241201.1/images/ubuntu/Ubuntu2404-Readme.md",
        "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu24%2F20241201.1",
        "##[endgroup]",
        "##[group]Runner Image Provisioner",
        "2.0.384.1",
        "##[endgroup]",
        "##[group]GITHUB_TOKEN Permissions",
        "Contents: read",
        "Metadata: read",
        "##[endgroup]",
        "Secret source: Actions",
        "Prepare workflow directory",
        "Prepare all required actions",
        "Getting action download info",
        "Download action repository 'actions/checkout@v4' (SHA:11bd71901bbe5b1630ceea73d27597364c9af683)",
        "Download action repository 'actions/setup-node@v4' (SHA:39370e3970a6d050c480ffad4ff0ed4d3fdee5af)",
    ]));
    lines.push(format!("Complete job name: {}", context.job.name));
    lines
}

fn checkout_lines(run: &RunRecord) -> Vec<String> {
    let (sha, branch) = (&run.head_sha, &run.branch);
    let mut lines = owned(&["##[group]Run actions/checkout@v4", "with:"]);
    lines.push(format!("  repository: {OWNER}/{REPO_NAME}"));
    lines.extend(owned(&[
        "  token: ***",
        "  ssh-strict: true",
        "  ssh-user: git",
        "  persist-credentials: true",
        "  clean: true",
        "  fetch-depth: 1",
        "##[endgroup]",
    ]));
    lines.push(format!("Syncing repository: {OWNER}/{REPO_NAME}"));
    lines.extend(owned(&[
        "##[group]Getting Git version info",
        "Working directory is '/home/runner/work/shop/shop'",
        "[command]/usr/bin/git version",
        "git version 2.47.1",
        "##[endgroup]",
        "Adding repository directory to the temporary git global config as a safe directory",
        "[command]/usr/bin/git config --global --add safe.directory /home/runner/work/shop/shop",
        "Deleting the contents of '/home/runner/work/shop/shop'",
        "##[group]Fetching the repository",
    ]));
    lines.push(format!(
        "[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules --depth=1 origin +{sha}:refs/remotes/origin/{branch}"
    ));
    lines.push(format!(" * [new ref]         {sha} -> origin/{branch}"));
    lines.push("##[endgroup]".to_string());
    lines.push("##[group]Checking out the ref".to_string());
    lines.push(format!(
        "[command]/usr/bin/git checkout --progress --force -B {branch} refs/remotes/origin/{branch}"
    ));
    lines.push(format!("Switched to a new branch '{branch}'"));
    lines.push(format!(
        "branch '{branch}' set up to track 'origin/{branch}'."
    ));
    lines.push("##[endgroup]".to_string());
    lines.push("[command]/usr/bin/git log -1 --format=%H".to_string());
    lines.push(sha.clone());
    lines
}

fn setup_node_lines() -> Vec<String> {
    owned(&[
        "##[group]Run actions/setup-node@v4",
        "with:",
        "  node-version: 20",
        "  cache: npm",
        "  always-auth: false",
        "  check-latest: false",
        "  token: ***",
        "##[endgroup]",
        "Found in cache @ /opt/hostedtoolcache/node/20.18.1/x64",
        "##[group]Environment details",
        "node: v20.18.1",
        "npm: 10.8.2",
        "yarn: 1.22.22",
        "##[endgroup]",
        "[command]/opt/hostedtoolcache/node/20.18.1/x64/bin/npm config get cache",
        "/home/runner/.npm",
        "Cache restored successfully",
        "Cache restored from key: node-cache-Linux-x64-npm-5c1b3f0e8a2d4c6b9e7f1a3d5c7e9b2f4a6c8e0d",
    ])
}

fn post_checkout_lines() -> Vec<String> {
    owned(&[
        "Post job cleanup.",
        "[command]/usr/bin/git version",
        "git version 2.47.1",
        "Adding repository directory to the temporary git global config as a safe directory",
        "[command]/usr/bin/git config --global --add safe.directory /home/runner/work/shop/shop",
        "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
        "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader",
        "http.https://github.com/.extraheader",
        "[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader",
    ])
}

/// `##[group]Run <command>` as the runner prints a `run:` step.
fn run_group(command: &str) -> Vec<String> {
    vec![
        format!("##[group]Run {command}"),
        command.to_string(),
        "shell: /usr/bin/bash -e {0}".to_string(),
        "##[endgroup]".to_string(),
    ]
}

/// npm's banner for `npm run <script>`.
fn npm_script(script: &str, runs: &str) -> Vec<String> {
    vec![
        String::new(),
        format!("> shop@1.0.0 {script}"),
        format!("> {runs}"),
        String::new(),
    ]
}

fn npm_ci_lines(context: &Context, rng: &mut SmallRng) -> Vec<String> {
    let packages = 812;
    let mut lines = owned(&[
        "npm warn deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it. Check out lru-cache if you want a good and tested way to coalesce async requests by a key value, which is much more comprehensive and powerful.",
        "npm warn deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported",
        "",
    ]);
    lines.push(format!(
        "added {packages} packages, and audited {} packages in {}s",
        packages + 1,
        rng.random_range(9..=19)
    ));
    lines.extend(owned(&[
        "",
        "143 packages are looking for funding",
        "  run `npm fund` for details",
        "",
    ]));
    if context.vulnerable {
        lines.extend(owned(&[
            "1 critical severity vulnerability",
            "",
            "To address all issues, run:",
            "  npm audit fix",
            "",
            "Run `npm audit` for details.",
        ]));
    } else {
        lines.push("found 0 vulnerabilities".to_string());
    }
    lines
}

/// The command step: its group header, the tool's output, and the exit code line when the
/// step failed.
fn command_lines(context: &Context, step: &StepPlan, rng: &mut SmallRng) -> Vec<String> {
    let command = step.name.strip_prefix("Run ").unwrap_or(&step.name);
    let mut lines = run_group(command);
    let failed = step.outcome == Outcome::Failure;
    let output = match context.job.failure.filter(|_| failed) {
        Some(kind) => failing_output(kind, step, rng),
        None => passing_output(context, step, rng),
    };
    lines.extend(output);
    if failed {
        lines.push(EXIT_CODE_LINE.to_string());
    }
    lines
}

/// vitest's summary block.
fn vitest_summary(
    files: (u32, u32),
    tests: (u32, u32),
    step: &StepPlan,
    rng: &mut SmallRng,
) -> Vec<String> {
    let count = |(failed, passed): (u32, u32)| {
        if failed > 0 {
            format!("{failed} failed | {passed} passed ({})", failed + passed)
        } else {
            format!("{passed} passed ({passed})")
        }
    };
    vec![
        String::new(),
        format!(" Test Files  {}", count(files)),
        format!("      Tests  {}", count(tests)),
        format!("   Start at  {}", step.started_at.format("%H:%M:%S")),
        format!(
            "   Duration  {}.{:02}s (transform {}ms, setup 0ms, collect {}ms, tests {}ms, environment 2ms, prepare {}ms)",
            rng.random_range(5..=11),
            rng.random_range(0..100),
            rng.random_range(800..1600),
            rng.random_range(2000..4500),
            rng.random_range(1500..4000),
            rng.random_range(3000..6000),
        ),
    ]
}

fn vitest_header() -> Vec<String> {
    vec![
        String::new(),
        format!(" RUN  v2.1.8 {WORKSPACE}"),
        String::new(),
    ]
}

/// Passing vitest file lines, the check mark in green.
fn vitest_passes(files: &[&str], rng: &mut SmallRng) -> Vec<String> {
    files
        .iter()
        .map(|file| {
            format!(
                " {GREEN_CHECK} {file} ({} tests) {}ms",
                rng.random_range(3..=18),
                rng.random_range(8..400)
            )
        })
        .collect()
}

const UNIT_FILES: [&str; 6] = [
    "src/cart/price.test.ts",
    "src/cart/total.test.ts",
    "src/orders/refund.test.ts",
    "src/search/suggest.test.ts",
    "src/payments/webhook.test.ts",
    "src/i18n/format.test.ts",
];

const INTEGRATION_FILES: [&str; 5] = [
    "tests/contract/cart.contract.test.ts",
    "tests/contract/orders.contract.test.ts",
    "tests/db/orders.repository.test.ts",
    "tests/migrations/0042_refund_state.test.ts",
    "tests/payments/stripe.webhook.test.ts",
];

const E2E_PASSES: [&str; 4] = [
    "[chromium] › cart.spec.ts:8:5 › cart › adds an item",
    "[chromium] › cart.spec.ts:21:5 › cart › removes the last item",
    "[chromium] › search.spec.ts:12:5 › search › suggests products",
    "[chromium] › account.spec.ts:9:5 › account › signs in with a passkey",
];

fn passing_output(context: &Context, step: &StepPlan, rng: &mut SmallRng) -> Vec<String> {
    let name = context.job.name.as_str();
    let mut lines = Vec::new();
    match name {
        "install" => lines.extend(npm_ci_lines(context, rng)),
        "lint" => lines.extend(npm_script("lint", "eslint .")),
        "format" => lines.extend(owned(&[
            "Checking formatting...",
            "All matched files use Prettier code style!",
        ])),
        // tsc says nothing when the types check.
        "typecheck" => {}
        "integration" => {
            lines.extend(npm_script(
                "test:integration",
                "vitest run --config vitest.integration.config.ts",
            ));
            lines.extend(vitest_header());
            lines.extend(vitest_passes(&INTEGRATION_FILES, rng));
            lines.extend(vitest_summary((0, 24), (0, 131), step, rng));
        }
        "e2e" => {
            lines.push("Running 42 tests using 2 workers".to_string());
            lines.push(String::new());
            for (n, test) in E2E_PASSES.iter().enumerate() {
                lines.push(format!(
                    "  {GREEN_CHECK}  {} {test} ({}.{}s)",
                    n + 1,
                    rng.random_range(1..=4),
                    rng.random_range(0..10)
                ));
            }
            lines.push(String::new());
            lines.push(format!("  42 passed ({}.{}m)", 1, rng.random_range(3..=9)));
        }
        "security" => lines.push("found 0 vulnerabilities".to_string()),
        "performance" => {
            lines.extend(npm_script("bench:ci", "vitest bench --run"));
            lines.extend(vitest_header());
            lines.push(format!(
                " {GREEN_CHECK} src/cart/total.bench.ts > cart total {}ms",
                rng.random_range(900..1500)
            ));
            lines.push(
                "     name              hz     min     max    mean     p75     p99     rme  samples"
                    .to_string(),
            );
            lines.push(format!(
                "   · 100 items  {},{:03}.{:02}  0.0712  0.4120  0.0810  0.0821  0.1201  ±0.42%     6173",
                rng.random_range(10..15),
                rng.random_range(0..1000),
                rng.random_range(0..100),
            ));
        }
        // The unit shards (and any other job): vitest.
        _ => {
            lines.extend(vitest_header());
            lines.extend(vitest_passes(&UNIT_FILES, rng));
            lines.extend(vitest_summary((0, 38), (0, 412), step, rng));
        }
    }
    lines
}

/// The tool's output for each kind, with the spec's key lines verbatim.
fn failing_output(kind: CiFailure, step: &StepPlan, rng: &mut SmallRng) -> Vec<String> {
    let mut lines = Vec::new();
    match kind {
        CiFailure::Lint => {
            lines.extend(npm_script("lint", "eslint ."));
            lines.extend(owned(&[
                "/home/runner/work/shop/shop/src/cart/total.ts",
                "  14:7  error  'discount' is assigned a value but never used  @typescript-eslint/no-unused-vars",
                "",
                "✖ 1 problem (1 error, 0 warnings)",
                "",
            ]));
        }
        CiFailure::Format => lines.extend(owned(&[
            "Checking formatting...",
            "[warn] src/cart/total.ts",
            "[warn] Code style issues found in the above file. Run Prettier with --write to fix.",
        ])),
        CiFailure::TypeMismatch => lines.push(
            "src/cart/total.ts(42,5): error TS2322: Type 'string' is not assignable to type 'number'."
                .to_string(),
        ),
        CiFailure::MissingImport => lines.push(
            "src/orders/refund.ts(3,28): error TS2307: Cannot find module './refund-policy' or its corresponding type declarations."
                .to_string(),
        ),
        CiFailure::Flaky => lines.extend(playwright_timeout(rng)),
        CiFailure::TestFailure => {
            lines.extend(vitest_header());
            lines.extend(vitest_passes(&UNIT_FILES[..1], rng));
            lines.extend(owned(&[
                " ❯ src/cart/total.test.ts (9 tests | 1 failed) 57ms",
                "   × total > applies the member discount 12ms",
                "     → expected 90 to be 81 // Object.is equality",
                "",
                "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
                "",
                " FAIL  src/cart/total.test.ts > total > applies the member discount",
                "AssertionError: expected 90 to be 81 // Object.is equality",
                "",
                "- Expected",
                "+ Received",
                "",
                "- 81",
                "+ 90",
                "",
                " ❯ src/cart/total.test.ts:31:25",
                "     29|   it('applies the member discount', () => {",
                "     30|     const cart = cartWith({ subtotal: 90, member: true });",
                "     31|     expect(total(cart)).toBe(81);",
                "       |                         ^",
                "     32|   });",
                "",
                "⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯[1/1]⎯",
            ]));
            lines.extend(vitest_summary((1, 37), (1, 411), step, rng));
        }
        CiFailure::ApiContract => {
            lines.extend(integration_start(rng));
            lines.extend(owned(&[
                " ❯ tests/contract/orders.contract.test.ts (6 tests | 1 failed) 402ms",
                "   × GET /api/orders/:id > matches the OpenAPI contract 61ms",
                "",
                "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
                "",
                " FAIL  tests/contract/orders.contract.test.ts > GET /api/orders/:id > matches the OpenAPI contract",
                "Error: response does not match the OpenAPI schema for GET /api/orders/{id} 200: /total must be number",
                " ❯ expectContract tests/contract/support.ts:38:11",
                " ❯ tests/contract/orders.contract.test.ts:22:5",
            ]));
            lines.extend(vitest_summary((1, 23), (1, 130), step, rng));
        }
        CiFailure::Schema => {
            lines.extend(integration_start(rng));
            lines.extend(owned(&[
                " ❯ tests/migrations/0042_refund_state.test.ts (3 tests | 1 failed) 1310ms",
                "   × migration 0042 > applies on a copy of the orders table 402ms",
                "",
                "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
                "",
                " FAIL  tests/migrations/0042_refund_state.test.ts > migration 0042 > applies on a copy of the orders table",
                "error: column \"refund_state\" of relation \"orders\" does not exist",
                " ❯ node_modules/pg/lib/client.js:535:17",
                " ❯ runMigration src/db/migrate.ts:48:5",
                " ❯ tests/migrations/0042_refund_state.test.ts:17:5",
                "",
                "{",
                "  length: 131,",
                "  severity: 'ERROR',",
                "  code: '42703',",
                "  file: 'analyze.c',",
                "  routine: 'checkInsertTargets'",
                "}",
            ]));
            lines.extend(vitest_summary((1, 23), (1, 130), step, rng));
        }
        CiFailure::Dependency => lines.extend(owned(&[
            "npm error code ERESOLVE",
            "npm error ERESOLVE unable to resolve dependency tree",
            "npm error",
            "npm error While resolving: shop@1.0.0",
            "npm error Found: react@17.0.2",
            "npm error node_modules/react",
            "npm error   react@\"^17.0.2\" from the root project",
            "npm error",
            "npm error Could not resolve dependency:",
            "npm error peer react@\"^18.2.0\" from react-dom@18.3.1",
            "npm error node_modules/react-dom",
            "npm error   react-dom@\"^18.3.1\" from the root project",
            "npm error",
            "npm error Fix the upstream dependency conflict, or retry",
            "npm error this command with --force or --legacy-peer-deps",
            "npm error to accept an incorrect (and potentially broken) dependency resolution.",
            "npm error",
            "npm error",
            "npm error For a full report see:",
            "npm error /home/runner/.npm/_logs/eresolve-report.txt",
            "npm error A complete log of this run can be found in: /home/runner/.npm/_logs/debug-0.log",
        ])),
        CiFailure::Security => lines.extend(owned(&[
            "# npm audit report",
            "",
            "lodash  <4.17.21",
            "Severity: critical",
            "Prototype Pollution in lodash - https://github.com/advisories/GHSA-jf85-cpcp-j695",
            "Command Injection in lodash - https://github.com/advisories/GHSA-35jh-r3h4-6jhm",
            "fix available via `npm audit fix`",
            "node_modules/lodash",
            "",
            "1 critical severity vulnerability",
            "",
            "To address all issues, run:",
            "  npm audit fix",
        ])),
        CiFailure::DataIntegrity => {
            lines.extend(integration_start(rng));
            lines.extend(owned(&[
                " ❯ tests/migrations/0042_refund_state.test.ts (3 tests | 1 failed) 2204ms",
                "   × migration 0042 > keeps every refund 1190ms",
                "",
                "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
                "",
                " FAIL  tests/migrations/0042_refund_state.test.ts > migration 0042 > keeps every refund",
                "AssertionError: data integrity check failed: 17 of 1204 refunds lost after migration 0042 (row count 1187, expected 1204)",
                " ❯ tests/migrations/0042_refund_state.test.ts:41:30",
            ]));
            lines.extend(vitest_summary((1, 23), (1, 130), step, rng));
        }
        CiFailure::SeveralServices => {
            lines.push("Starting the e2e environment: api, worker, billing".to_string());
            for service in ["api", "worker", "billing"] {
                lines.push(format!("[{service}] Error: connect ECONNREFUSED 10.0.3.12:5432"));
                lines.push(format!(
                    "[{service}]     at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)"
                ));
            }
            lines.push("3 services failed health checks: api, worker, billing".to_string());
        }
    }
    lines
}

/// The integration job's opening: npm's banner, vitest's header, a few passing files.
fn integration_start(rng: &mut SmallRng) -> Vec<String> {
    let mut lines = npm_script(
        "test:integration",
        "vitest run --config vitest.integration.config.ts",
    );
    lines.extend(vitest_header());
    lines.extend(vitest_passes(&INTEGRATION_FILES[..3], rng));
    lines
}

/// playwright's list reporter with one test timing out.
fn playwright_timeout(rng: &mut SmallRng) -> Vec<String> {
    let mut lines = vec![
        "Running 42 tests using 2 workers".to_string(),
        String::new(),
    ];
    for (n, test) in E2E_PASSES.iter().enumerate() {
        lines.push(format!(
            "  {GREEN_CHECK}  {} {test} ({}.{}s)",
            n + 1,
            rng.random_range(1..=4),
            rng.random_range(0..10)
        ));
    }
    lines.extend(owned(&[
        "  ✘  5 [chromium] › checkout.spec.ts:27:5 › checkout › pays with a saved card (5.2s)",
        "",
        "",
        "  1) [chromium] › checkout.spec.ts:27:5 › checkout › pays with a saved card ──────",
        "",
        "    Error: Timed out 5000ms waiting for expect(locator).toBeVisible()",
        "",
        "    Locator: getByRole('heading', { name: 'Thank you for your order' })",
        "    Expected: visible",
        "    Received: <element(s) not found>",
        "    Call log:",
        "      - expect.toBeVisible with timeout 5000ms",
        "      - waiting for getByRole('heading', { name: 'Thank you for your order' })",
        "",
        "      38 |     await page.getByRole('button', { name: 'Pay now' }).click();",
        "    > 39 |     await expect(page.getByRole('heading', { name: 'Thank you for your order' })).toBeVisible();",
        "         |                                                                                   ^",
        "      40 |   });",
        "",
        "        at /home/runner/work/shop/shop/e2e/checkout.spec.ts:39:83",
        "",
        "  1 failed",
        "    [chromium] › checkout.spec.ts:27:5 › checkout › pays with a saved card ───────────────",
        "  41 passed (1.4m)",
    ]));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::scenario::Scenario;
    use crate::sandbox::world::testing::start;
    use crate::sandbox::world::{Progress, World};

    /// The spec's key lines of each kind (`ci-failures.md`), each to appear verbatim.
    fn key_lines(kind: CiFailure) -> &'static [&'static str] {
        match kind {
            CiFailure::Lint => &[
                "/home/runner/work/shop/shop/src/cart/total.ts",
                "  14:7  error  'discount' is assigned a value but never used  @typescript-eslint/no-unused-vars",
                "✖ 1 problem (1 error, 0 warnings)",
            ],
            CiFailure::Format => &[
                "[warn] src/cart/total.ts",
                "[warn] Code style issues found in the above file. Run Prettier with --write to fix.",
            ],
            CiFailure::TypeMismatch => &[
                "src/cart/total.ts(42,5): error TS2322: Type 'string' is not assignable to type 'number'.",
            ],
            CiFailure::MissingImport => &[
                "src/orders/refund.ts(3,28): error TS2307: Cannot find module './refund-policy' or its corresponding type declarations.",
            ],
            CiFailure::Flaky => &[
                "  1) [chromium] › checkout.spec.ts:27:5 › checkout › pays with a saved card ──────",
                "    Error: Timed out 5000ms waiting for expect(locator).toBeVisible()",
                "  1 failed",
                "  41 passed (1.4m)",
            ],
            CiFailure::TestFailure => &[
                " FAIL  src/cart/total.test.ts > total > applies the member discount",
                "AssertionError: expected 90 to be 81 // Object.is equality",
                " Test Files  1 failed | 37 passed (38)",
            ],
            CiFailure::ApiContract => &[
                " FAIL  tests/contract/orders.contract.test.ts > GET /api/orders/:id > matches the OpenAPI contract",
                "Error: response does not match the OpenAPI schema for GET /api/orders/{id} 200: /total must be number",
            ],
            CiFailure::Schema => {
                &["error: column \"refund_state\" of relation \"orders\" does not exist"]
            }
            CiFailure::Dependency => &[
                "npm error code ERESOLVE",
                "npm error ERESOLVE unable to resolve dependency tree",
                "npm error Could not resolve dependency:",
                "npm error peer react@\"^18.2.0\" from react-dom@18.3.1",
            ],
            CiFailure::Security => &[
                "# npm audit report",
                "lodash  <4.17.21",
                "Severity: critical",
                "Prototype Pollution in lodash - https://github.com/advisories/GHSA-jf85-cpcp-j695",
                "1 critical severity vulnerability",
            ],
            CiFailure::DataIntegrity => &[
                " FAIL  tests/migrations/0042_refund_state.test.ts > migration 0042 > keeps every refund",
                "AssertionError: data integrity check failed: 17 of 1204 refunds lost after migration 0042 (row count 1187, expected 1204)",
            ],
            CiFailure::SeveralServices => &[
                "[api] Error: connect ECONNREFUSED 10.0.3.12:5432",
                "[worker] Error: connect ECONNREFUSED 10.0.3.12:5432",
                "[billing] Error: connect ECONNREFUSED 10.0.3.12:5432",
                "3 services failed health checks: api, worker, billing",
            ],
        }
    }

    /// A world in which every commit fails CI, the kinds in turn (all in the history).
    fn failing_world() -> World {
        let mut scenario = Scenario::default_demo();
        scenario.lint_fails_every = 1;
        World::new(scenario, start())
    }

    fn log_of(world: &World, job_id: u64) -> String {
        let (run, job) = world.job(job_id).unwrap();
        job_log(run, job, world.commit(&run.head_sha), job.run_attempt)
    }

    /// The message part of each line (after the timestamp and its space).
    fn messages(log: &str) -> Vec<&str> {
        log.lines()
            .map(|line| line.split_once(' ').map_or("", |(_, message)| message))
            .collect()
    }

    #[test]
    fn each_kind_shows_its_key_lines_and_ends_its_step_with_the_exit_code() {
        let world = failing_world();
        for kind in CiFailure::ALL {
            let (_, job) = world.jobs_failing_with(kind)[0];
            assert_eq!(job.name, kind.job());
            let log = log_of(&world, job.id);
            let lines = messages(&log);
            let mut from = 0;
            for key in key_lines(kind) {
                let found = lines[from..].iter().position(|line| line == key);
                let found = found.unwrap_or_else(|| panic!("{kind:?}: no line {key:?} in\n{log}"));
                from += found + 1;
            }
            let error = lines.iter().position(|l| *l == EXIT_CODE_LINE);
            let error = error.unwrap_or_else(|| panic!("{kind:?}: no exit code line"));
            assert!(
                error >= from,
                "{kind:?}: the exit code line comes after the output"
            );
            assert_eq!(
                lines.iter().filter(|l| l.starts_with("##[error]")).count(),
                1
            );
            assert!(lines[error..].contains(&"Post job cleanup."));
            assert_eq!(lines.last(), Some(&"Cleaning up orphan processes"));
            // No other kind's key lines leak in.
            for other in CiFailure::ALL.into_iter().filter(|other| *other != kind) {
                let foreign = key_lines(other)
                    .iter()
                    .filter(|key| !key_lines(kind).contains(key))
                    .find(|key| lines.contains(key));
                assert!(
                    foreign.is_none(),
                    "{kind:?} log shows {other:?}'s {foreign:?}"
                );
            }
        }
    }

    #[test]
    fn logs_have_the_runner_frame_and_timestamps_from_the_steps() {
        let world = failing_world();
        let (run, job) = world.jobs_failing_with(CiFailure::Lint)[0];
        let log = log_of(&world, job.id);
        let lines = messages(&log);
        assert_eq!(lines[0], "Current runner version: '2.321.0'");
        for expected in [
            "##[group]Operating System",
            "##[group]Runner Image",
            "Prepare workflow directory",
            "Getting action download info",
            "Download action repository 'actions/checkout@v4' (SHA:11bd71901bbe5b1630ceea73d27597364c9af683)",
            "##[group]Run actions/checkout@v4",
            "##[group]Run actions/setup-node@v4",
            "##[group]Run npm ci",
            "##[group]Run npm run lint",
            "##[endgroup]",
        ] {
            assert!(lines.contains(&expected), "{expected:?} in\n{log}");
        }
        assert!(log.contains(&run.head_sha));
        let mut previous = None;
        for line in log.lines() {
            let (stamp, _) = line.split_once(' ').unwrap();
            assert_eq!(stamp.len(), "2026-12-01T10:00:01.1234567Z".len(), "{line}");
            let (_, fraction) = stamp.trim_end_matches('Z').split_once('.').unwrap();
            assert_eq!(fraction.len(), 7, "{line}");
            let at = DateTime::parse_from_rfc3339(stamp).unwrap().to_utc();
            assert!(at >= job.started_at && at <= job.completed_at, "{line}");
            assert!(previous.is_none_or(|p| p <= at), "in order: {line}");
            previous = Some(at);
        }
    }

    #[test]
    fn passing_jobs_have_passing_logs_and_the_same_world_gives_the_same_log() {
        let world = World::new(Scenario::default_demo(), start());
        let passed: Vec<&JobRecord> = world
            .runs
            .iter()
            .flat_map(|r| &r.jobs)
            .filter(|j| j.outcome == Outcome::Success)
            .collect();
        let names: std::collections::BTreeSet<&str> =
            passed.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names.len(), 10, "every job passes somewhere: {names:?}");
        for job in passed {
            let log = log_of(&world, job.id);
            assert!(!log.contains("##[error]"), "{}:\n{log}", job.name);
            assert!(log.contains(&format!("Complete job name: {}", job.name)));
            assert!(messages(&log).contains(&"Cleaning up orphan processes"));
        }
        let again = World::new(Scenario::default_demo(), start());
        let job = world.runs[3].jobs[4].id;
        assert_eq!(log_of(&world, job), log_of(&again, job));
        let unit = world.runs[3]
            .jobs
            .iter()
            .find(|j| j.name == "unit (2/2)")
            .unwrap();
        assert!(
            log_of(&world, unit.id).contains("\u{1b}[32m✓\u{1b}[39m"),
            "coloured"
        );
        let skipped = failing_world();
        let (run, _) = skipped.jobs_failing_with(CiFailure::Lint)[0];
        let later = run
            .jobs
            .iter()
            .find(|j| j.outcome == Outcome::Skipped)
            .unwrap();
        assert_eq!(log_of(&skipped, later.id), "", "a skipped job has no log");
    }

    #[test]
    fn a_running_job_shows_its_log_so_far() {
        let world = World::new(Scenario::default_demo(), start());
        let (run, job) = world
            .runs
            .iter()
            .flat_map(|r| r.jobs.iter().map(move |j| (r, j)))
            .find(|(_, j)| j.progress(start()) == Progress::InProgress)
            .expect("a job running at the start");
        let commit = world.commit(&run.head_sha);
        let full = job_log(run, job, commit, job.run_attempt);
        let so_far = job_log_until(run, job, commit, start());
        assert!(!so_far.is_empty() && full.starts_with(&so_far));
        assert!(so_far.len() < full.len());
        assert_eq!(job_log_until(run, job, commit, job.completed_at), full);
        let first = job_log_until(run, job, commit, job.started_at);
        assert_eq!(
            first.lines().count(),
            1,
            "the first line is written as the job starts"
        );
        assert_eq!(
            job_log_until(run, job, commit, job.started_at - TimeDelta::seconds(1)),
            ""
        );
    }

    #[test]
    fn a_rerun_flake_shows_a_passing_e2e_log() {
        let mut scenario = Scenario::default_demo();
        scenario.lint_fails_every = 1;
        scenario.ci_failures = vec![CiFailure::Flaky];
        let mut world = World::new(scenario, start());
        let (run, job) = world.jobs_failing_with(CiFailure::Flaky)[0];
        let (run_id, failed_id) = (run.id, job.id);
        world.advance_to(run.completed_at().max(start()));
        world.rerun_failed_jobs(run_id).unwrap();
        let run = world.run(run_id).unwrap().clone();
        world.advance_to(run.completed_at());
        let e2e = run.jobs.iter().find(|j| j.name == "e2e").unwrap();
        assert_eq!(e2e.run_attempt, 2);
        let log = log_of(&world, e2e.id);
        assert!(log.contains("  42 passed ("), "{log}");
        assert!(
            log_of(&world, failed_id).contains(EXIT_CODE_LINE),
            "attempt 1 kept"
        );
    }
}
