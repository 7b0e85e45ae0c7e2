//! Recognises text that is a token rather than the name of a variable holding one, so that a
//! token pasted into the config is refused without being repeated in the error, and redacts
//! token-shaped words from any text (messages, source excerpts) shown to the user.

/// Prefixes of GitHub and Sentry token formats.
const TOKEN_PREFIXES: [&str; 10] = [
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "sntrys_",
    "sntryu_",
    "sntrya_",
    "glpat-",
];

/// Shortest unbroken run of letters and digits treated as random-looking.
const RANDOM_RUN_MIN: usize = 20;

/// What [`redact_tokens`] puts in place of a token-shaped word.
pub const REDACTED: &str = "***";

/// `[A-Za-z_][A-Za-z0-9_]*`: the shape of an environment variable name.
pub fn is_variable_name(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() || first == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True for a known token prefix, or for a long run of letters and digits that reads like
/// random data (enough digits, or digits with mixed case). Ordinary variable names such as
/// `PROD_GITHUB_TOKEN_2024` are short runs separated by underscores and do not match.
pub fn looks_like_token(text: &str) -> bool {
    let trimmed = text.trim();
    let lowered = trimmed.to_ascii_lowercase();
    if TOKEN_PREFIXES
        .iter()
        .any(|prefix| lowered.starts_with(prefix) && trimmed.len() > prefix.len())
    {
        return true;
    }
    trimmed
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(is_random_run)
}

fn is_random_run(run: &str) -> bool {
    if run.len() < RANDOM_RUN_MIN {
        return false;
    }
    let digits = run.chars().filter(char::is_ascii_digit).count();
    let has_letter = run.chars().any(|c| c.is_ascii_alphabetic());
    let has_upper = run.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = run.chars().any(|c| c.is_ascii_lowercase());
    has_letter && (digits >= 3 || (has_upper && has_lower && digits >= 1))
}

/// Replaces every token-shaped word (a run of letters, digits, `_` and `-`) with `***`.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
            word.push(ch);
        } else {
            flush_word(&mut out, &mut word);
            out.push(ch);
        }
    }
    flush_word(&mut out, &mut word);
    out
}

fn flush_word(out: &mut String, word: &mut String) {
    if looks_like_token(word) {
        out.push_str(REDACTED);
    } else {
        out.push_str(word);
    }
    word.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_the_shell_rule() {
        assert!(is_variable_name("GITHUB_TOKEN"));
        assert!(is_variable_name("_private2"));
        assert!(!is_variable_name("2FAST"));
        assert!(!is_variable_name(""));
        assert!(!is_variable_name("MY-TOKEN"));
        assert!(!is_variable_name("$GITHUB_TOKEN"));
    }

    #[test]
    fn known_prefixes_and_random_runs_look_like_tokens() {
        assert!(looks_like_token("ghp_abc123"));
        assert!(looks_like_token("github_pat_11ABCDEFG0123456789_abcdef"));
        assert!(looks_like_token("sntrys_eyJpYXQiOjE3MDAwMDAwMDB9"));
        assert!(looks_like_token("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"));
        assert!(looks_like_token("Zx9KqLm2PwRt7YvNb4HsJd"));
    }

    #[test]
    fn ordinary_variable_names_do_not_look_like_tokens() {
        for name in [
            "GITHUB_TOKEN",
            "PROD_GITHUB_TOKEN_2024",
            "github_token_prod_2024",
            "ThisIsMyVeryLongVariableName",
            "SENTRY_AUTH_TOKEN",
            "ghp_",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
    }

    #[test]
    fn redaction_replaces_only_token_words() {
        assert_eq!(
            redact_tokens("token_env = \"ghp_abc123XYZ\" # mine"),
            "token_env = \"***\" # mine"
        );
        assert_eq!(
            redact_tokens("url = \"http://127.0.0.1:8080/api\""),
            "url = \"http://127.0.0.1:8080/api\""
        );
    }
}
