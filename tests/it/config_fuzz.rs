//! Random and garbled TOML never panics `parse_str`, and every error it returns is one line
//! whose position lies inside the text.

use proptest::prelude::*;
use shipdeck::config::parse_str;

const EXAMPLE: &str = include_str!("../../config.toml.example");

/// Pieces that make up plausible (and implausible) config files.
const FRAGMENTS: &[&str] = &[
    "[github]",
    "[sentry]",
    "[pipeline]",
    "[[pipeline.stage]]",
    "[[environment]]",
    "[[environment.service]]",
    "[[smoke]]",
    "[[smoke.step]]",
    "extract",
    "poll",
    "until",
    "cleanup",
    "{job_id}",
    "{url}",
    "[ui]",
    "repo",
    "name",
    "url",
    "jobs",
    "target",
    "path",
    "status",
    "token_env",
    "json_equals",
    "json_pointer",
    "project_ids",
    "=",
    " = ",
    "\"",
    "'",
    "\"\"\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "\r\n",
    "\t",
    " ",
    "#",
    "\\",
    "\\u001b",
    "\u{1b}",
    "é",
    "\u{202e}",
    "\0",
    "0",
    "-1",
    "99999999999999999999",
    "1e400",
    "\"30s\"",
    "\"0s\"",
    "\"http://x\"",
    "\"https://127.0.0.1\"",
    "\"a/b\"",
    "\"/\"",
    "\"{url}\"",
    "true",
    "1979-05-27T07:32:00Z",
    "ghp_0123456789abcdefABCDEF",
    "[]",
    "[[]]",
];

fn check(text: &str) {
    if let Err(err) = parse_str(text, "fuzz.toml") {
        let line = err.to_string();
        assert!(!line.contains('\n'), "multi-line message: {line:?}");
        assert!(line.starts_with("fuzz.toml:"), "{line:?}");
        if let Some(position) = err.position() {
            assert!(position.line >= 1 && position.column >= 1, "{line:?}");
            assert!(
                position.line <= text.split('\n').count(),
                "line past the end: {line:?}"
            );
        }
        let _ = err.report();
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn fragment_soup_never_panics(
        pieces in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..60)
    ) {
        check(&pieces.concat());
    }

    #[test]
    fn garbled_example_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, "\\PC{0,8}"), 1..6)
    ) {
        let mut chars: Vec<char> = EXAMPLE.chars().collect();
        for (at, remove, insert) in edits {
            let start = at.index(chars.len() + 1);
            let end = (start + remove).min(chars.len());
            chars.splice(start..end, insert.chars());
        }
        let text: String = chars.into_iter().collect();
        check(&text);
    }
}
