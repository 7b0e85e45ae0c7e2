//! Promotion, rollback and freeze settings: what a valid file reads as, and the exact
//! one-line message (with `LINE:COL`) for each mistake validation catches.

use std::time::Duration;

use shipdeck::config::{
    FreezeWindow, MergeMethod, PromotionStrategy, RollbackStrategy, check_str, parse_str,
};

/// Lines 1-2.
const GITHUB: &str = "[github]\nrepo = \"acme/shop\"\n";

/// Four lines: header, name (value at column 8), branch, url.
fn env(name: &str) -> String {
    format!(
        "[[environment]]\nname = \"{name}\"\nbranch = \"{name}\"\nurl = \"https://{name}.example\"\n"
    )
}

/// GITHUB, dev (lines 3-6), staging (7-10), prod (11-14); `prod_extra` follows prod's keys.
fn three(prod_extra: &str) -> String {
    format!(
        "{GITHUB}{}{}{}{prod_extra}",
        env("dev"),
        env("staging"),
        env("prod")
    )
}

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

#[test]
fn promotion_rollback_and_freezes_parse_with_defaults() {
    let text = three(
        "[environment.promotion]\nstrategy = \"pull-request\"\nhigh_risk = [\"migrations/**\"]\nrequire_review = true\n\
         [environment.rollback]\nstrategy = \"workflow-dispatch\"\nworkflow = \"rollback.yml\"\n\
         [[freeze]]\nweekly = \"Fri 17:00 - Mon 09:00\"\ntime_zone = \"Europe/Berlin\"\n\
         environments = [\"prod\"]\nreason = \"weekend\"\n\
         [[freeze]]\ndate = \"2026-11-27\"\nreason = \"Black Friday\"\n",
    );
    let config = match parse_str(&text, "shipdeck.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    assert!(config.environments[0].promotion.is_none());
    let prod = &config.environments[2];
    let promotion = prod.promotion.as_ref().expect("prod promotion");
    assert_eq!(promotion.from, None);
    assert_eq!(promotion.strategy, PromotionStrategy::PullRequest);
    assert_eq!(promotion.soak.get(), Duration::from_secs(30 * 60));
    assert!(promotion.required_checks.is_empty());
    assert_eq!(promotion.high_risk, vec!["migrations/**".to_string()]);
    assert!(promotion.require_review);
    assert_eq!(promotion.merge_method, None);
    let rollback = prod.rollback.as_ref().expect("prod rollback");
    assert_eq!(rollback.strategy, RollbackStrategy::WorkflowDispatch);
    assert_eq!(rollback.workflow.as_deref(), Some("rollback.yml"));

    assert_eq!(config.freezes.len(), 2);
    let weekend = &config.freezes[0];
    assert!(weekend.applies_to("prod"));
    assert!(!weekend.applies_to("staging"));
    assert!(matches!(weekend.window(), Ok(FreezeWindow::Weekly(_))));
    assert_eq!(weekend.tz().map(|tz| tz.name()), Ok("Europe/Berlin"));
    let black_friday = &config.freezes[1];
    assert!(black_friday.applies_to("staging"));
    assert_eq!(black_friday.time_zone.get_ref(), "UTC");
    assert!(matches!(black_friday.window(), Ok(FreezeWindow::Date(_))));
}

#[test]
fn strategies_and_their_settings_parse() {
    let text = three(
        "[environment.promotion]\nfrom = \"dev\"\nstrategy = \"pull-request\"\n\
         merge_method = \"squash\"\nsoak = \"15m\"\nrequired_checks = [\"codeql\"]\n\
         [environment.rollback]\nstrategy = \"command\"\ncommand = [\"./rollback.sh\", \"prod\"]\n",
    );
    let config = match parse_str(&text, "shipdeck.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    let prod = &config.environments[2];
    let promotion = prod.promotion.as_ref().expect("promotion");
    assert_eq!(
        promotion.from.as_ref().map(|f| f.get_ref().as_str()),
        Some("dev")
    );
    assert_eq!(promotion.strategy, PromotionStrategy::PullRequest);
    assert_eq!(promotion.merge_method, Some(MergeMethod::Squash));
    assert_eq!(promotion.soak.get(), Duration::from_secs(15 * 60));
    let rollback = prod.rollback.as_ref().expect("rollback");
    assert_eq!(rollback.strategy, RollbackStrategy::Command);
    assert_eq!(rollback.command, vec!["./rollback.sh", "prod"]);
}

fn cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "from names no environment",
            three("[environment.promotion]\nfrom = \"qa\"\n"),
            "16:8: [environment.promotion] from (environment \"prod\"): no environment is named \
             \"qa\"; environments: dev, staging, prod",
        ),
        (
            "from names itself",
            three("[environment.promotion]\nfrom = \"prod\"\n"),
            "16:8: [environment.promotion] from (environment \"prod\"): an environment cannot \
             promote from itself",
        ),
        (
            "first environment without from",
            format!(
                "{GITHUB}{}[environment.promotion]\n{}",
                env("dev"),
                env("prod")
            ),
            "7:1: [environment.promotion] (environment \"dev\"): the first environment has none \
             before it to promote from; set from = \"<environment>\"",
        ),
        (
            "promotion cycle",
            format!(
                "{GITHUB}{}[environment.promotion]\nfrom = \"prod\"\n{}[environment.promotion]\n\
                 from = \"dev\"\n",
                env("dev"),
                env("prod")
            ),
            "8:8: [environment.promotion] from (environment \"dev\"): promotions go round in a \
             circle: dev <- prod <- dev",
        ),
        (
            "bad glob",
            three("[environment.promotion]\nhigh_risk = [\"migrations/**\", \"src/{a,b\"]\n"),
            "16:31: [environment.promotion] high_risk #2 (environment \"prod\"): \"src/{a,b\" is \
             not a valid glob pattern (unclosed alternate group; missing '}' (maybe escape '{' \
             with '[{]'?)); e.g. \"migrations/**\"",
        ),
        (
            "workflow-dispatch without workflow",
            three("[environment.promotion]\nstrategy = \"workflow-dispatch\"\n"),
            "15:1: [environment.promotion] workflow (environment \"prod\"): strategy \
             \"workflow-dispatch\" needs workflow = \"<file>.yml\"",
        ),
        (
            "command strategy with an empty command",
            three("[environment.promotion]\nstrategy = \"command\"\ncommand = []\n"),
            "17:11: [environment.promotion] command (environment \"prod\"): strategy \"command\" \
             needs command = [\"program\", \"argument\", ...]",
        ),
        (
            "unknown strategy",
            three("[environment.promotion]\nstrategy = \"yolo\"\n"),
            "16:12: [environment.promotion] strategy: unknown value `yolo`, expected one of \
             `fast-forward`, `pull-request`, `workflow-dispatch`, `command`",
        ),
        (
            "a review without a pull request",
            three("[environment.promotion]\nrequire_review = true\n"),
            "16:18: [environment.promotion] require_review (environment \"prod\"): a review is \
             given on a pull request: set strategy = \"pull-request\" to require one",
        ),
        (
            "zero soak",
            three("[environment.promotion]\nsoak = \"0s\"\n"),
            "16:8: [environment.promotion] soak (environment \"prod\"): must be longer than zero",
        ),
        (
            "typo in a promotion key",
            three("[environment.promotion]\nfrm = \"dev\"\n"),
            "16:1: unknown key `frm` in [environment.promotion]; did you mean `from`?",
        ),
        (
            "rollback by workflow without workflow",
            three("[environment.rollback]\nstrategy = \"workflow-dispatch\"\n"),
            "15:1: [environment.rollback] workflow (environment \"prod\"): strategy \
             \"workflow-dispatch\" needs workflow = \"<file>.yml\"",
        ),
        (
            "a threshold under the tolerated drift",
            three("[environment.verify]\nmax_increase = 0.05\n"),
            "16:16: [environment.verify] max_increase (environment \"prod\"): must be more than 0.1 \
             (+10%, the drift never rolled back) and at most 100; 0.5 means +50%",
        ),
        (
            "an availability written as a percentage",
            three("[environment.verify]\navailability = 99.9\n"),
            "16:16: [environment.verify] availability (environment \"prod\"): must be between 0 and \
             1, e.g. 0.999 for 99.9%",
        ),
        (
            "a window under a minute",
            three("[environment.verify]\nwindow = \"30s\"\n"),
            "16:10: [environment.verify] window (environment \"prod\"): must be at least 1 minute",
        ),
        (
            "a window longer than the error history",
            three("[environment.verify]\nwindow = \"48h\"\n"),
            "16:10: [environment.verify] window (environment \"prod\"): window and baseline \
             together must fit in the 6 hours of per-minute errors shipdeck keeps",
        ),
        (
            "a watch no longer than the window",
            three("[environment.verify]\nwindow = \"20m\"\nwatch = \"20m\"\n"),
            "17:9: [environment.verify] watch (environment \"prod\"): must be longer than the \
             window (20m) and at most 14 days",
        ),
        (
            "a watch over two weeks",
            three("[environment.verify]\nwatch = \"15days\"\n"),
            "16:9: [environment.verify] watch (environment \"prod\"): must be longer than the \
             window (15m) and at most 14 days",
        ),
        (
            "a watch that is not a duration",
            three("[environment.verify]\nwatch = \"two days\"\n"),
            "16:9: [environment.verify] watch: invalid duration \"two days\": expected number at 0 \
             (write it like \"30s\", \"1m 30s\" or \"2h\")",
        ),
        (
            "a typo in the verify table",
            three("[environment.verify]\nauto_rolback = false\n"),
            "16:1: unknown key `auto_rolback` in [environment.verify]; did you mean `auto_rollback`?",
        ),
        (
            "a slack notifier without a url",
            three("[[environment.notify]]\nkind = \"slack\"\n"),
            "15:1: [[environment.notify]] #1 (environment \"prod\"): needs url, or url_env naming the \
             variable that holds it",
        ),
        (
            "a pagerduty notifier without its key",
            three("[[environment.notify]]\nkind = \"pagerduty\"\n"),
            "15:1: [[environment.notify]] #1 (environment \"prod\"): a pagerduty notifier needs \
             routing_key_env, the variable holding the integration key",
        ),
        (
            "a webhook url that is a token",
            three(
                "[[environment.notify]]\nkind = \"webhook\"\nurl_env = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"\n",
            ),
            "17:11: [[environment.notify]] #1 url_env: looks like a token; put the token in an \
             environment variable and name the variable here",
        ),
        (
            "weekly window in other words",
            three("[[freeze]]\nweekly = \"Friday 5pm - Monday 9am\"\n"),
            "16:10: [[freeze]] #1 weekly: \"Friday 5pm - Monday 9am\" is not a weekly window; \
             write it like \"Fri 17:00 - Mon 09:00\" (days Mon, Tue, Wed, Thu, Fri, Sat, Sun; \
             24-hour times)",
        ),
        (
            "weekly window with an impossible time",
            three("[[freeze]]\nweekly = \"Fri 25:00 - Mon 09:00\"\n"),
            "16:10: [[freeze]] #1 weekly: \"Fri 25:00 - Mon 09:00\" is not a weekly window; \
             write it like \"Fri 17:00 - Mon 09:00\" (days Mon, Tue, Wed, Thu, Fri, Sat, Sun; \
             24-hour times)",
        ),
        (
            "unknown time zone",
            three(
                "[[freeze]]\nweekly = \"Fri 17:00 - Mon 09:00\"\ntime_zone = \"Europe/Berlln\"\n",
            ),
            "17:13: [[freeze]] #1 time_zone: unknown time zone \"Europe/Berlln\" (use an IANA \
             name such as \"Europe/Berlin\" or \"UTC\")",
        ),
        (
            "freeze with neither weekly nor date",
            three("[[freeze]]\nreason = \"nothing\"\n"),
            "15:1: [[freeze]] #1: needs weekly = \"Fri 17:00 - Mon 09:00\" or date = \
             \"2026-11-27\"",
        ),
        (
            "freeze with both weekly and date",
            three("[[freeze]]\nweekly = \"Fri 17:00 - Mon 09:00\"\ndate = \"2026-11-27\"\n"),
            "15:1: [[freeze]] #1: has both weekly and date; a freeze is one or the other (write \
             two [[freeze]] tables)",
        ),
        (
            "date that does not exist",
            three("[[freeze]]\ndate = \"2026-02-30\"\n"),
            "16:8: [[freeze]] #1 date: \"2026-02-30\" is not a date; write it like \"2026-11-27\"",
        ),
        (
            "freeze for an unknown environment",
            three("[[freeze]]\ndate = \"2026-11-27\"\nenvironments = [\"prod\", \"prd\"]\n"),
            "17:25: [[freeze]] #1 environments #2: no environment is named \"prd\"; \
             environments: dev, staging, prod",
        ),
        (
            "too many re-runs",
            three("[diagnosis]\nmax_reruns = 20\n"),
            "16:14: [diagnosis] max_reruns: must be at most 10; a job that fails ten times is not flaky",
        ),
        (
            "assistant over plain http to another host",
            three(
                "[diagnosis.assistant]\nurl = \"http://llm.example/v1/chat/completions\"\nmodel = \"m\"\n",
            ),
            "16:7: [diagnosis.assistant] url: plain http:// is only allowed for loopback hosts (localhost, 127.0.0.0/8, [::1]), since a token would travel in clear; use https://, found \"http://llm.example/v1/chat/completions\"",
        ),
        (
            "assistant without a model",
            three("[diagnosis.assistant]\nurl = \"https://llm.example/v1\"\nmodel = \" \"\n"),
            "17:9: [diagnosis.assistant] model: must name a model, e.g. \"gpt-4o-mini\"",
        ),
        (
            "assistant key given as a token",
            three(
                "[diagnosis.assistant]\nurl = \"https://llm.example/v1\"\nmodel = \"m\"\napi_key_env = \"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\"\n",
            ),
            "18:15: [diagnosis.assistant] api_key_env: looks like a token; put the token in an environment variable and name the variable here",
        ),
        (
            "a kiosk quit chord without a modifier",
            three(
                "[ui]
kiosk = true
quit_chord = \"q\"
",
            ),
            "17:14: [ui] quit_chord: q needs ctrl or alt (or a function key): a single key is too easy to press by accident on a wall display",
        ),
        (
            "a kiosk quit chord with an unknown key",
            three(
                "[ui]
quit_chord = \"ctrl+pgdn\"
",
            ),
            "16:14: [ui] quit_chord: has an unknown key \"pgdn\"",
        ),
        (
            "a wall cycle too fast to read",
            three(
                "[ui]
wall = true
cycle = \"500ms\"
",
            ),
            "17:9: [ui] cycle: must be at least 2s; a panel that changes faster cannot be read",
        ),
    ]
}

#[test]
fn a_watch_after_the_window_parses_and_is_absent_by_default() {
    let text = three("[environment.verify]\nwatch = \"48h\"\n");
    let config = match parse_str(&text, "shipdeck.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    let verify = config.environments[2].verify.as_ref().expect("verify");
    assert_eq!(
        verify.watch.map(|w| w.get()),
        Some(Duration::from_secs(48 * 3600))
    );
    let plain = match parse_str(&three(""), "shipdeck.toml") {
        Ok(config) => config,
        Err(err) => panic!("{}", err.report()),
    };
    assert_eq!(plain.verification(2).and_then(|v| v.watch), None);
    let longest = three("[environment.verify]\nwatch = \"14days\"\n");
    assert!(parse_str(&longest, "shipdeck.toml").is_ok());
}

#[test]
fn each_mistake_has_its_exact_message_and_position() {
    for (what, text, expected) in cases() {
        assert_eq!(messages(&text), vec![expected.to_string()], "case: {what}");
    }
}

#[test]
fn parse_str_reports_the_first_problem_with_the_file_name() {
    let text = three("[[freeze]]\ndate = \"2026-02-30\"\n");
    let err = parse_str(&text, "shipdeck.toml").expect_err("invalid date");
    assert_eq!(
        err.to_string(),
        "shipdeck.toml:16:8: [[freeze]] #1 date: \"2026-02-30\" is not a date; write it like \
         \"2026-11-27\""
    );
}

#[test]
fn weekly_windows_parse_and_wrap() {
    use chrono::{TimeDelta, Weekday};
    use shipdeck::config::WeeklyWindow;
    let weekend = WeeklyWindow::parse("Fri 17:00 - Mon 09:00").expect("valid");
    assert_eq!(weekend.start_day, Weekday::Fri);
    assert_eq!(weekend.end_day, Weekday::Mon);
    assert_eq!(weekend.length(), TimeDelta::hours(64));
    let evening = WeeklyWindow::parse("wed 18:00-wed 20:30").expect("valid");
    assert_eq!(evening.length(), TimeDelta::minutes(150));
    let whole_week = WeeklyWindow::parse("Mon 00:00 - Mon 00:00").expect("valid");
    assert_eq!(whole_week.length(), TimeDelta::days(7));
    assert!(WeeklyWindow::parse("Fri 17:00").is_err());
    assert!(WeeklyWindow::parse("Fri 17:00 - Mon 09:00 extra").is_err());
    assert!(WeeklyWindow::parse("Fri 5:00pm - Mon 09:00").is_err());
}
