//! Malformed configurations and the exact one-line message each produces, `LINE:COL`
//! included (1-based, columns in characters).

use std::path::{Path, PathBuf};

use shipdeck::config::{ConfigError, Position, check_str, load_file, parse_str};

/// Lines 1-2.
const GITHUB: &str = "[github]\nrepo = \"acme/shop\"\n";
/// Four lines: header, name (value at column 8), branch, url.
const DEV: &str =
    "[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"https://dev.example\"\n";
/// Lines 7-11: an environment promoted into from dev, its promotion table last.
const STAGING: &str = "[[environment]]\nname = \"staging\"\nbranch = \"staging\"\n\
                       url = \"https://staging.example\"\n[environment.promotion]\n";
/// A token-shaped value (GitHub's documented example format).
const TOKEN: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";

fn error_of(text: &str) -> ConfigError {
    match parse_str(text, "shipdeck.toml") {
        Ok(config) => panic!("expected an error, parsed {config:?}\n--- input ---\n{text}"),
        Err(err) => err,
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(name)
}

fn cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "unknown key close to an allowed one",
            format!("[github]\nrepo = \"acme/shop\"\ntokn_env = \"GITHUB_TOKEN\"\n{DEV}"),
            "3:1: unknown key `tokn_env` in [github]; did you mean `token_env`?",
        ),
        (
            "unknown key far from any allowed one",
            format!("{GITHUB}colour = \"red\"\n{DEV}"),
            "3:1: unknown key `colour` in [github]; allowed keys: api_url, repo, token_env",
        ),
        (
            "unknown top-level table",
            format!("{GITHUB}{DEV}[sentri]\norg = \"acme\"\n"),
            "7:2: unknown top-level key `sentri`; did you mean `sentry`?",
        ),
        (
            "wrong type",
            format!("[github]\nrepo = 42\n{DEV}"),
            "2:8: [github] repo: expected a string, found integer `42`",
        ),
        (
            "wrong type for a whole table",
            format!("github = \"acme/shop\"\n{DEV}"),
            "1:10: github: expected a table, found string \"acme/shop\"",
        ),
        (
            "bad duration",
            format!("{GITHUB}[pipeline]\ntotal_target = \"7 fortnights\"\n{DEV}"),
            "4:16: [pipeline] total_target: invalid duration \"7 fortnights\": unknown time unit \
             \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, \
             months, years (and few variations) (write it like \"30s\", \"1m 30s\" or \"2h\")",
        ),
        (
            "missing required key",
            format!("{GITHUB}[[environment]]\nname = \"dev\"\nurl = \"https://dev.example\"\n"),
            "3:1: missing required key `branch` in [[environment]] #1 (dev)",
        ),
        (
            "missing [github]",
            DEV.to_string(),
            "1:1: missing [github] table (it needs at least repo = \"owner/name\")",
        ),
        (
            "no environments",
            GITHUB.to_string(),
            "1:1: no environments: add at least one [[environment]] table with name, branch \
             and url",
        ),
        (
            "empty environment list",
            format!("environment = []\n{GITHUB}"),
            "1:15: no environments: add at least one [[environment]] table with name, branch \
             and url",
        ),
        (
            "duplicate environment",
            format!("{GITHUB}{DEV}{DEV}"),
            "8:8: [[environment]] #2 (dev) name: duplicate environment name \"dev\" (first used \
             by [[environment]] #1 (dev) at 4:8)",
        ),
        (
            "duplicate stage",
            format!(
                "{GITHUB}[[pipeline.stage]]\nname = \"Unit\"\njobs = [\"unit\"]\ntarget = \"1m\"\n\
                 [[pipeline.stage]]\nname = \"Unit\"\njobs = [\"unit2\"]\ntarget = \"1m\"\n{DEV}"
            ),
            "8:8: [[pipeline.stage]] #2 (Unit) name: duplicate stage name \"Unit\" (first used \
             by [[pipeline.stage]] #1 (Unit) at 4:8)",
        ),
        (
            "duplicate smoke check",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/a\"\n\
                 [[smoke]]\nname = \"health\"\npath = \"/b\"\n"
            ),
            "11:8: [[smoke]] #2 (health) name: duplicate smoke check name \"health\" (first \
             used by [[smoke]] #1 (health) at 8:8)",
        ),
        (
            "duplicate service within an environment",
            format!(
                "{GITHUB}{DEV}[[environment.service]]\nname = \"web\"\ngithub_environment = \"a\"\n\
                 [[environment.service]]\nname = \"web\"\ngithub_environment = \"b\"\n"
            ),
            "11:8: [[environment.service]] #2 (web) name: duplicate service name \"web\" (first \
             used by [[environment.service]] #1 (web) at 8:8)",
        ),
        (
            "repo not owner/name",
            format!("[github]\nrepo = \"acme\"\n{DEV}"),
            "2:8: [github] repo: must be \"owner/name\", found \"acme\"",
        ),
        (
            "plain http api_url to a remote host",
            format!(
                "[github]\napi_url = \"http://github.example.com/api/v3\"\nrepo = \"acme/shop\"\n{DEV}"
            ),
            "2:11: [github] api_url: plain http:// is only allowed for loopback hosts \
             (localhost, 127.0.0.0/8, [::1]), since a token would travel in clear; use \
             https://, found \"http://github.example.com/api/v3\"",
        ),
        (
            "plain http sentry url to a remote host",
            format!(
                "{GITHUB}[sentry]\nurl = \"http://sentry.example.com\"\norg = \"acme\"\n\
                 project_ids = [1]\n{DEV}"
            ),
            "4:7: [sentry] url: plain http:// is only allowed for loopback hosts (localhost, \
             127.0.0.0/8, [::1]), since a token would travel in clear; use https://, found \
             \"http://sentry.example.com\"",
        ),
        (
            "environment url that is not a URL",
            format!(
                "{GITHUB}[[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"dev.example\"\n"
            ),
            "6:7: [[environment]] #1 (dev) url: not a valid URL (relative URL without a base): \
             \"dev.example\"",
        ),
        (
            "url with credentials in it",
            format!(
                "[github]\napi_url = \"https://me:secret@github.example.com\"\nrepo = \"a/b\"\n{DEV}"
            ),
            "2:11: [github] api_url: must not contain a user name or password; name an \
             environment variable in token_env instead",
        ),
        (
            "column counted in characters, not bytes",
            format!(
                "environment = [{{ name = \"dév\", branch = \"main\", url = \"ftp://x\" }}]\n{GITHUB}"
            ),
            "1:55: [[environment]] #1 (dév) url: must be an http:// or https:// URL, found \
             \"ftp://x\"",
        ),
        (
            "token pasted into token_env",
            format!("[github]\nrepo = \"acme/shop\"\ntoken_env = \"{TOKEN}\"\n{DEV}"),
            "3:13: [github] token_env: looks like a token; put the token in an environment \
             variable and name the variable here",
        ),
        (
            "token_env that is not a variable name",
            format!("[github]\nrepo = \"acme/shop\"\ntoken_env = \"GITHUB-TOKEN\"\n{DEV}"),
            "3:13: [github] token_env: \"GITHUB-TOKEN\" is not an environment variable name \
             (letters, digits and _, not starting with a digit)",
        ),
        (
            "token_env written like a shell expansion",
            format!("[github]\nrepo = \"acme/shop\"\ntoken_env = \"$GITHUB_TOKEN\"\n{DEV}"),
            "3:13: [github] token_env: write the variable name without \"$\": \"GITHUB_TOKEN\"",
        ),
        (
            "sentry_token_env without [sentry]",
            format!("{GITHUB}{DEV}sentry_token_env = \"DEV_SENTRY\"\n"),
            "7:20: [[environment]] #1 (dev) sentry_token_env: there is no [sentry] table for \
             this token to be used with",
        ),
        (
            "stage without jobs",
            format!(
                "{GITHUB}[[pipeline.stage]]\nname = \"Lint\"\njobs = []\ntarget = \"20s\"\n{DEV}"
            ),
            "5:8: [[pipeline.stage]] #1 (Lint) jobs: list at least one job name pattern (e.g. \
             jobs = [\"lint*\"])",
        ),
        (
            "zero stage target",
            format!(
                "{GITHUB}[[pipeline.stage]]\nname = \"Lint\"\njobs = [\"lint\"]\ntarget = \"0s\"\n{DEV}"
            ),
            "6:10: [[pipeline.stage]] #1 (Lint) target: must be longer than zero",
        ),
        (
            "alarm_after shorter than total_target",
            format!("{GITHUB}[pipeline]\ntotal_target = \"7m\"\nalarm_after = \"5m\"\n{DEV}"),
            "5:15: [pipeline] alarm_after: must not be shorter than total_target (7m); it is 5m",
        ),
        (
            "daemon listening beyond loopback",
            format!("{GITHUB}{DEV}[daemon]\nlisten = \"0.0.0.0:9464\"\n"),
            "8:10: [daemon] listen: must be a loopback address (127.0.0.1 or ::1), found \
             0.0.0.0: the endpoint answers anyone who can reach it; put a proxy in front to \
             publish it",
        ),
        (
            "daemon listen without a port",
            format!("{GITHUB}{DEV}[daemon]\nlisten = \"127.0.0.1\"\n"),
            "8:10: [daemon] listen: must be IP:PORT, e.g. \"127.0.0.1:9464\" or \
             \"[::1]:9464\", found \"127.0.0.1\"",
        ),
        (
            "total_target past the default alarm_after",
            format!("{GITHUB}[pipeline]\ntotal_target = \"15m\"\n{DEV}"),
            "4:16: [pipeline] total_target: must not be longer than alarm_after (10m, the \
             default); it is 15m",
        ),
        (
            "smoke path without a leading slash",
            format!("{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"healthz\"\n"),
            "9:8: [[smoke]] #1 (health) path: must start with \"/\" or \"{url}\", found \"healthz\"",
        ),
        (
            "json_equals without json_pointer",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/healthz\"\njson_equals = \"ok\"\n"
            ),
            "10:15: [[smoke]] #1 (health) json_equals: needs json_pointer, the place in the \
             JSON body to compare (e.g. json_pointer = \"/status\")",
        ),
        (
            "json_pointer not starting with a slash",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/healthz\"\n\
                 json_pointer = \"status\"\njson_equals = \"ok\"\n"
            ),
            "10:16: [[smoke]] #1 (health) json_pointer: a JSON pointer starts with \"/\" (e.g. \
             \"/status\") or is empty for the whole body, found \"status\"",
        ),
        (
            "status outside 100..=599",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/healthz\"\nstatus = 700\n"
            ),
            "10:10: [[smoke]] #1 (health) status: 700 is not an HTTP status code (100 to 599)",
        ),
        (
            "status that does not fit at all",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/healthz\"\nstatus = -1\n"
            ),
            "10:10: [[smoke]] #1 (health) status: expected an HTTP status code (100 to 599), \
             found integer `-1`",
        ),
        (
            "unknown method",
            format!(
                "{GITHUB}{DEV}[[smoke]]\nname = \"health\"\npath = \"/a\"\nmethod = \"FETCH\"\n"
            ),
            "10:10: [[smoke]] #1 (health) method: unknown value `FETCH`, expected one of `GET`, \
             `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`",
        ),
        (
            "sentry without project ids",
            format!("{GITHUB}[sentry]\norg = \"acme\"\nproject_ids = []\n{DEV}"),
            "5:15: [sentry] project_ids: list at least one numeric Sentry project id",
        ),
        (
            "sentry project id given as a slug",
            format!("{GITHUB}[sentry]\norg = \"acme\"\nproject_ids = [\"shop\"]\n{DEV}"),
            "5:16: [sentry] project_ids #1: expected a whole number (0 or more), found string \
             \"shop\"",
        ),
        (
            "duplicate checklist item id",
            format!(
                "{GITHUB}{DEV}{STAGING}[[environment.promotion.checklist]]\nid = \"migrations\"\n\
                 text = \"Migrations are backward-compatible\"\n\
                 [[environment.promotion.checklist]]\nid = \"migrations\"\ntext = \"Again\"\n"
            ),
            "16:6: [[environment.promotion.checklist]] #2 id (environment \"staging\"): duplicate \
             checklist item id \"migrations\" (first used by item #1 at 13:6)",
        ),
        (
            "empty checklist item text",
            format!(
                "{GITHUB}{DEV}{STAGING}[[environment.promotion.checklist]]\nid = \"flags\"\n\
                 text = \" \"\n"
            ),
            "14:8: [[environment.promotion.checklist]] #1 text (environment \"staging\"): must not \
             be empty",
        ),
        (
            "checklist item id that is not one word",
            format!(
                "{GITHUB}{DEV}{STAGING}[[environment.promotion.checklist]]\nid = \"rollback plan\"\n\
                 text = \"Rollback plan written\"\n"
            ),
            "13:6: [[environment.promotion.checklist]] #1 id (environment \"staging\"): must be at \
             most 40 letters, digits, \"-\" or \"_\" (e.g. \"rollback-plan\"), found \"rollback plan\"",
        ),
        (
            "TOML syntax error",
            format!("[github\nrepo = \"acme/shop\"\n{DEV}"),
            "1:8: invalid TOML: unclosed table, expected `]`",
        ),
        (
            "duplicate key",
            format!("[github]\nrepo = \"acme/shop\"\nrepo = \"acme/web\"\n{DEV}"),
            "3:1: duplicate key `repo` in [github] (first set at 2:1)",
        ),
        (
            "escape sequence in an echoed value is stripped",
            format!("[github]\nrepo = \"ac\\u001b[31mme\"\n{DEV}"),
            "2:8: [github] repo: must be \"owner/name\", found \"ac[31mme\"",
        ),
    ]
}

#[test]
fn each_malformed_config_gives_its_exact_message() {
    let mut failures = Vec::new();
    for (what, text, expected) in cases() {
        let got = error_of(&text).to_string();
        let expected = format!("shipdeck.toml:{expected}");
        if got != expected {
            failures.push(format!("{what}:\n  expected {expected}\n  got      {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_message_is_one_line_without_control_characters() {
    for (what, text, _) in cases() {
        let err = error_of(&text);
        let line = err.to_string();
        assert!(
            !line.chars().any(char::is_control),
            "{what}: {line:?} has control characters"
        );
        let report = err.report();
        assert!(report.starts_with(&line), "{what}: {report}");
        assert!(
            !report.contains('\x1b'),
            "{what}: report has an escape byte: {report:?}"
        );
    }
}

#[test]
fn a_pasted_token_is_never_echoed() {
    let text = format!("[github]\nrepo = \"acme/shop\"\ntoken_env = \"{TOKEN}\"\n{DEV}");
    let err = error_of(&text);
    for shown in [err.to_string(), err.report(), format!("{err:?}")] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
        assert!(!shown.contains("16C7e42F292c6912"), "token leaked: {shown}");
    }
    assert!(
        err.report().contains("token_env = \"***\""),
        "{}",
        err.report()
    );
}

#[test]
fn a_token_in_a_syntax_error_line_is_not_echoed() {
    let text = format!("[github]\nrepo = \"acme/shop\"\ntoken_env = {TOKEN}\n{DEV}");
    let err = error_of(&text);
    assert_eq!(
        err.position(),
        Some(Position {
            line: 3,
            column: 13
        })
    );
    for shown in [err.to_string(), err.report(), format!("{err:?}")] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    }
}

#[test]
fn report_shows_the_line_and_a_caret() {
    let err = error_of(&format!("[github]\nrepo = 42\n{DEV}"));
    assert_eq!(
        err.report(),
        "shipdeck.toml:2:8: [github] repo: expected a string, found integer `42`\n  |\n2 | repo = 42\n  |        ^"
    );
}

#[test]
fn check_str_lists_every_validation_problem_in_file_order() {
    let text = format!(
        "[github]\nrepo = \"acme\"\n{GITHUB_LESS_DEV}[[smoke]]\nname = \"x\"\npath = \"x\"\nstatus = 42\n",
        GITHUB_LESS_DEV = DEV
    );
    let errors = check_str(&text, "c.toml").expect_err("invalid");
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "c.toml:2:8: [github] repo: must be \"owner/name\", found \"acme\"",
            "c.toml:9:8: [[smoke]] #1 (x) path: must start with \"/\" or \"{url}\", found \"x\"",
            "c.toml:10:10: [[smoke]] #1 (x) status: 42 is not an HTTP status code (100 to 599)",
        ]
    );
}

#[test]
fn loopback_http_is_allowed() {
    for host in [
        "127.0.0.1:8080",
        "localhost:3000",
        "[::1]:9000",
        "127.9.9.9",
    ] {
        let text = format!(
            "[github]\napi_url = \"http://{host}\"\nrepo = \"acme/shop\"\n\
             [[environment]]\nname = \"dev\"\nbranch = \"main\"\nurl = \"http://{host}/\"\n"
        );
        if let Err(err) = parse_str(&text, "c.toml") {
            panic!("{host}: {err}");
        }
    }
}

#[test]
fn fixture_files_name_the_file_and_position() {
    let path = fixture("duplicate_environment.toml");
    let err = load_file(&path).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:11:8: [[environment]] #2 (staging) name: duplicate environment name \"staging\" \
             (first used by [[environment]] #1 (staging) at 6:8)",
            path.display()
        )
    );

    let path = fixture("unknown_key_in_smoke.toml");
    let err = load_file(&path).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:12:1: unknown key `expect_status` in [[smoke]] #1 (health); did you mean \
             `status`?",
            path.display()
        )
    );

    let path = fixture("token_pasted_into_token_env.toml");
    let err = load_file(&path).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4:13: [github] token_env: looks like a token; put the token in an environment \
             variable and name the variable here",
            path.display()
        )
    );
}

#[test]
fn io_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    let err = load_file(&missing).expect_err("missing");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{shown}"
    );
    assert_eq!(err.position(), None);
}

#[test]
fn invalid_utf8_is_reported_at_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[github]\nrepo = \"caf\xe9/shop\"\n").expect("write");
    let err = load_file(&path).expect_err("not utf-8");
    assert_eq!(
        err.to_string(),
        format!("{}:2:12: the file is not valid UTF-8", path.display())
    );
}
