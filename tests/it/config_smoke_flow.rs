//! Smoke flows in the config: what a valid `[[smoke.step]]` list reads as, and the exact
//! one-line message (with `LINE:COL`) for each mistake validation catches in one.

use std::time::Duration;

use shipdeck::config::{HttpMethod, check_str, parse_str};

/// Lines 1-6: [github] and one environment.
const HEAD: &str = "[github]\nrepo = \"acme/shop\"\n\
    [[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n";

/// The flow of the README, from line 7.
const JOB_FLOW: &str = r#"[[smoke]]
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

fn messages(text: &str) -> Vec<String> {
    match check_str(text, "shipdeck.toml") {
        Ok(config) => panic!("expected errors, parsed {config:?}\n--- input ---\n{text}"),
        Err(errors) => errors
            .iter()
            .map(|e| {
                e.to_string()
                    .trim_start_matches("shipdeck.toml:")
                    .to_string()
            })
            .collect(),
    }
}

/// A check named "flow" (line 7) with `check_keys` (from line 9), then `steps`.
fn flow(check_keys: &str, steps: &str) -> String {
    format!("{HEAD}[[smoke]]\nname = \"flow\"\n{check_keys}{steps}")
}

/// A step table named `name` with `keys`.
fn step(name: &str, keys: &str) -> String {
    format!("[[smoke.step]]\nname = \"{name}\"\n{keys}")
}

#[test]
fn a_flow_parses_into_its_steps() {
    let config = match parse_str(&format!("{HEAD}{JOB_FLOW}"), "shipdeck.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    assert_eq!(
        config.smoke.len(),
        1,
        "a [[smoke]] list replaces the defaults"
    );
    let check = &config.smoke[0];
    assert!(check.is_flow());
    assert_eq!(check.path, None);
    assert_eq!(check.timeout.get(), Duration::from_secs(60));
    let steps = check.steps.as_ref().expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s.name.get_ref().as_str()).collect();
    assert_eq!(names, ["create", "wait", "clean up"]);
    assert_eq!(steps[0].method, HttpMethod::Post);
    assert_eq!(steps[0].extract["job_id"], "/id");
    let poll = steps[1].poll.as_ref().expect("poll");
    assert_eq!(poll.every.get(), Duration::from_secs(2));
    assert_eq!(poll.timeout.map(|t| t.get()), Some(Duration::from_secs(60)));
    let until = poll.until.as_ref().expect("until");
    assert_eq!(until.pointer.as_deref(), Some("/status"));
    assert_eq!(until.equals, Some(toml::Value::String("done".to_string())));
    assert!(steps[2].cleanup && !steps[1].cleanup);
    assert_eq!(
        steps[1].timeout.get(),
        Duration::from_secs(5),
        "one request's default"
    );
}

#[test]
fn inline_steps_an_empty_pointer_and_one_of_are_fine() {
    let text = flow(
        "timeout = \"30s\"\nheaders = { accept = \"application/json\" }\n",
        "step = [\n  { name = \"get\", path = \"/a\", extract = { all = \"\" } },\n  \
         { name = \"post\", method = \"POST\", path = \"/b/{all}\", body = '{\"x\":\"{all}\"}', \
         poll = { until = { status = 200, pointer = \"/s\", one_of = [\"done\", \"failed\"] } }, \
         json_pointer = \"/s\", json_equals = \"done\" },\n]\n",
    );
    if let Err(err) = parse_str(&text, "shipdeck.toml") {
        panic!("{}", err.report());
    }
}

fn cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let create = step(
        "create",
        "method = \"POST\"\npath = \"/api/jobs\"\nextract = { job_id = \"/id\" }\n",
    );
    vec![
        (
            "neither path nor steps",
            flow("", ""),
            vec![
                "7:1: [[smoke]] #1 (flow): needs path (one request) or [[smoke.step]] tables (a \
                 flow of requests)",
            ],
        ),
        (
            "both path and steps",
            flow("path = \"/healthz\"\n", &create),
            vec![
                "9:8: [[smoke]] #1 (flow) path: a check is one request or a flow, not both: move \
                 this request into the flow as its first [[smoke.step]]",
            ],
        ),
        (
            "empty flow",
            flow("step = []\n", ""),
            vec![
                "9:8: [[smoke]] #1 (flow) step: a flow needs at least one step ([[smoke.step]] \
                 with name and path)",
            ],
        ),
        (
            "only cleanup steps",
            flow("", &step("clean up", "path = \"/x\"\ncleanup = true\n")),
            vec![
                "9:1: [[smoke]] #1 (flow) step: a flow needs a step that is not cleanup: \
                 cleanup steps only tidy up after the others",
            ],
        ),
        (
            "a single request's key on a flow",
            flow("status = 201\n", &create),
            vec![
                "9:10: [[smoke]] #1 (flow) status: belongs to a single request; in a flow, set \
                 it on the [[smoke.step]] it is about",
            ],
        ),
        (
            "a placeholder in the check's headers",
            flow(
                "headers = { authorization = \"Bearer {token}\" }\n",
                &create,
            ),
            vec![
                "9:29: [smoke.headers] authorization (check \"flow\"): uses {token}, but the check's \
                 headers go with every step, before any value is extracted; set this header on \
                 the steps that use it",
            ],
        ),
        (
            "unknown placeholder",
            flow("", &step("wait", "path = \"/api/jobs/{job_id}\"\n")),
            vec![
                "11:8: [[smoke.step]] #1 (wait) path (check \"flow\"): uses {job_id}, which no \
                 earlier step extracts (e.g. extract = { job_id = \"/id\" })",
            ],
        ),
        (
            "placeholder used before it is extracted",
            flow(
                "",
                &format!(
                    "{}{create}",
                    step("wait", "path = \"/a\"\nbody = '{\"id\":\"{job_id}\"}'\n")
                ),
            ),
            vec![
                "12:8: [[smoke.step]] #1 (wait) body (check \"flow\"): uses {job_id} before it \
                 is extracted: step \"create\" extracts it, after this one",
            ],
        ),
        (
            "placeholder from the step's own answer",
            flow(
                "",
                &step(
                    "create",
                    "path = \"/api/jobs/{job_id}\"\nextract = { job_id = \"/id\" }\n",
                ),
            ),
            vec![
                "11:8: [[smoke.step]] #1 (create) path (check \"flow\"): uses {job_id}, which \
                 this step only extracts from its own answer; extract it in an earlier step",
            ],
        ),
        (
            "bad JSON pointer in extract",
            flow(
                "",
                &step("create", "path = \"/a\"\nextract = { job_id = \"id\" }\n"),
            ),
            vec![
                "12:22: [smoke.step.extract] job_id (check \"flow\"): a JSON pointer starts with \
                 \"/\" (e.g. \"/status\") or is empty for the whole body, found \"id\"",
            ],
        ),
        (
            "bad value name in extract",
            flow(
                "",
                &step(
                    "create",
                    "path = \"/a\"\nextract = { \"job id\" = \"/id\", url = \"/u\" }\n",
                ),
            ),
            vec![
                "12:24: [smoke.step.extract] job id (check \"flow\"): \"job id\" cannot name a \
                 value: use a letter or _, then letters, digits, _ or - (and not \"url\", which \
                 is the environment's URL)",
                "12:37: [smoke.step.extract] url (check \"flow\"): \"url\" cannot name a value: \
                 use a letter or _, then letters, digits, _ or - (and not \"url\", which is the \
                 environment's URL)",
            ],
        ),
        (
            "poll without until",
            flow(
                "",
                &format!(
                    "{create}{}",
                    step(
                        "wait",
                        "path = \"/api/jobs/{job_id}\"\npoll = { every = \"2s\" }\n"
                    )
                ),
            ),
            vec![
                "17:8: [smoke.step.poll] (check \"flow\"): needs until, the condition that ends \
                 the wait (e.g. until = { pointer = \"/status\", equals = \"done\" })",
            ],
        ),
        (
            "until with a pointer and nothing to compare",
            flow(
                "",
                &format!(
                    "{create}{}",
                    step(
                        "wait",
                        "path = \"/j/{job_id}\"\npoll = { until = { pointer = \"/status\" } }\n"
                    )
                ),
            ),
            vec![
                "17:30: [smoke.step.poll.until] pointer (check \"flow\"): needs equals or \
                 one_of, the value to wait for",
            ],
        ),
        (
            "until comparing without a pointer, and with both equals and one_of",
            flow(
                "",
                &step(
                    "wait",
                    "path = \"/j\"\npoll = { until = { equals = \"done\", one_of = [\"x\"] } }\n",
                ),
            ),
            vec![
                "12:29: [smoke.step.poll.until] equals (check \"flow\"): needs pointer, the \
                 place in the JSON answer to compare (e.g. pointer = \"/status\")",
                "12:46: [smoke.step.poll.until] one_of (check \"flow\"): set equals or one_of, \
                 not both",
            ],
        ),
        (
            "until without any condition",
            flow("", &step("wait", "path = \"/j\"\npoll = { until = {} }\n")),
            vec![
                "12:18: [smoke.step.poll.until] (check \"flow\"): needs status, or pointer with \
                 equals or one_of (e.g. { pointer = \"/status\", equals = \"done\" })",
            ],
        ),
        (
            "cleanup step before others",
            flow(
                "",
                &format!(
                    "{create}{}{}",
                    step(
                        "clean up",
                        "method = \"DELETE\"\npath = \"/j/{job_id}\"\ncleanup = true\n"
                    ),
                    step("check", "path = \"/j\"\n")
                ),
            ),
            vec![
                "18:11: [[smoke.step]] #2 (clean up) cleanup (check \"flow\"): cleanup steps run \
                 after all the others: move it after step \"check\"",
            ],
        ),
        (
            "a poll longer than the flow's default deadline",
            flow(
                "",
                &format!(
                    "{create}{}",
                    step(
                        "wait",
                        "path = \"/j/{job_id}\"\npoll = { until = { status = 200 }, timeout = \"60s\" }\n"
                    )
                ),
            ),
            vec![
                "17:46: [smoke.step.poll] timeout (check \"flow\"): 1m is longer than the whole \
                 flow may take (the check's timeout, 5s, the default); set the check's timeout \
                 to at least that",
            ],
        ),
        (
            "a poll longer than the flow's written deadline, asking every 0s",
            flow(
                "timeout = \"30s\"\n",
                &step(
                    "wait",
                    "path = \"/j\"\npoll = { every = \"0s\", until = { status = 200 }, timeout = \"1m\" }\n",
                ),
            ),
            vec![
                "13:18: [smoke.step.poll] every: must be longer than zero",
                "13:60: [smoke.step.poll] timeout (check \"flow\"): 1m is longer than the whole \
                 flow may take (the check's timeout, 30s); set the check's timeout to at least \
                 that",
            ],
        ),
        (
            "every longer than the poll's timeout",
            flow(
                "",
                &step(
                    "wait",
                    "path = \"/j\"\npoll = { every = \"5s\", until = { status = 200 }, timeout = \"2s\" }\n",
                ),
            ),
            vec![
                "12:18: [smoke.step.poll] every (check \"flow\"): 5s is longer than the poll's \
                 timeout (2s): it would ask only once",
            ],
        ),
        (
            "step path, status and JSON expectations",
            flow(
                "",
                &step(
                    "get",
                    "path = \"api\"\nstatus = 99\njson_equals = 1\nmax_latency = \"0s\"\n",
                ),
            ),
            vec![
                "11:8: [[smoke.step]] #1 (get) path (check \"flow\"): must start with \"/\" or \
                 \"{url}\", found \"api\"",
                "12:10: [[smoke.step]] #1 (get) status: 99 is not an HTTP status code (100 to \
                 599)",
                "13:15: [[smoke.step]] #1 (get) json_equals: needs json_pointer, the place in \
                 the JSON body to compare (e.g. json_pointer = \"/status\")",
                "14:15: [[smoke.step]] #1 (get) max_latency: must be longer than zero",
            ],
        ),
        (
            "duplicate step names",
            flow(
                "",
                &format!(
                    "{}{}",
                    step("get", "path = \"/a\"\n"),
                    step("get", "path = \"/b\"\n")
                ),
            ),
            vec![
                "13:8: [[smoke.step]] #2 (get) name: duplicate step name \"get\" (first used by \
                 [[smoke.step]] #1 (get) at 10:8)",
            ],
        ),
        (
            "unknown key in a step",
            flow("", &step("get", "path = \"/a\"\npolll = {}\n")),
            vec!["12:1: unknown key `polll` in [[smoke.step]] #1 (get); did you mean `poll`?"],
        ),
        (
            "step without a path",
            flow("", &step("get", "")),
            vec!["9:1: missing required key `path` in [[smoke.step]] #1 (get)"],
        ),
    ]
}

#[test]
fn each_flow_mistake_has_its_exact_message_and_position() {
    let mut failures = Vec::new();
    for (what, text, expected) in cases() {
        let got = messages(&text);
        if got != expected {
            failures.push(format!(
                "{what}:\n  expected {expected:#?}\n  got      {got:#?}\n--- input ---\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
