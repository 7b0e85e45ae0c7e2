//! Reading a configuration: TOML text to a validated [`Config`], with every problem reported
//! as one clear `FILE:LINE:COL: message` line. toml's own errors (syntax, unknown keys, wrong
//! types, missing keys) are reworded here with the place they occur (`[github] repo`) and,
//! for an unknown key, the closest allowed one.

use std::path::Path;

use serde::Deserialize;

use crate::config::doc_map::{DocumentMap, Seg};
use crate::config::error::{ConfigError, Position};
use crate::config::token_shape::redact_tokens;
use crate::config::types::Config;
use crate::config::validate::validate;
use crate::model::sanitize;

/// Longest toml message reproduced in an error.
const MESSAGE_MAX_CHARS: usize = 300;

/// Said when the file names no environment at all.
pub(crate) const NO_ENVIRONMENTS: &str =
    "no environments: add at least one [[environment]] table with name, branch and url";

/// Parses and validates; `file_label` is the path shown in messages. On error, the first
/// problem in file order.
pub fn parse_str(text: &str, file_label: &str) -> Result<Config, ConfigError> {
    check_str(text, file_label).map_err(|errors| {
        errors.into_iter().next().unwrap_or_else(|| {
            ConfigError::at(file_label, text, 0, "invalid configuration".to_string())
        })
    })
}

/// Like [`parse_str`], but returns every validation problem (in file order) instead of the
/// first, for `shipdeck check-config`. Syntax and shape errors stop at the first one, since
/// what follows them cannot be trusted. The error list is never empty.
pub fn check_str(text: &str, file_label: &str) -> Result<Config, Vec<ConfigError>> {
    let (map, syntax_errors) = DocumentMap::parse(text);
    if !syntax_errors.is_empty() {
        let mut errors: Vec<ConfigError> = syntax_errors
            .iter()
            .map(|err| translate_syntax_error(err, &map, text, file_label))
            .collect();
        errors.sort_by_key(|e| e.position());
        return Err(errors);
    }
    let deserializer = toml::de::Deserializer::from(map.root_for_serde());
    let config = Config::deserialize(deserializer)
        .map_err(|err| vec![translate_shape_error(&err, &map, text, file_label)])?;
    let problems = validate(&config, &map, text, file_label);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Reads and parses the file at `path`; I/O errors name the file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_with_text(path).map(|(config, _)| config)
}

/// [`load_file`], also giving back the text it parsed (read once).
pub fn load_file_with_text(path: &Path) -> Result<(Config, String), ConfigError> {
    let (label, text) = read_text_file(path)?;
    Ok((parse_str(&text, &label)?, text))
}

/// Reads a UTF-8 file to parse: the label that names it in messages (its path, sanitized) and
/// its text. I/O errors name the file; bytes that are not UTF-8 are reported where they start.
pub(crate) fn read_text_file(path: &Path) -> Result<(String, String), ConfigError> {
    let label = sanitize(&path.display().to_string(), 300);
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        file: label.clone(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            return Err(ConfigError::at(
                &label,
                &prefix,
                valid,
                "the file is not valid UTF-8".to_string(),
            ));
        }
    };
    Ok((label, text))
}

fn clean(message: &str) -> String {
    sanitize(&redact_tokens(message), MESSAGE_MAX_CHARS)
}

fn translate_syntax_error(
    err: &toml::de::Error,
    map: &DocumentMap<'_>,
    text: &str,
    file: &str,
) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let message = if err.message() == "duplicate key" {
        duplicate_key_message(map, text, span.clone())
    } else {
        format!("invalid TOML: {}", clean(err.message()))
    };
    ConfigError::at(file, text, span.start, message)
}

fn duplicate_key_message(
    map: &DocumentMap<'_>,
    text: &str,
    span: std::ops::Range<usize>,
) -> String {
    let written = text.get(span.clone()).unwrap_or_default();
    let name = written.trim_matches(|c| c == '"' || c == '\'');
    let first = map
        .keys_named(name)
        .into_iter()
        .filter(|(_, key_span)| key_span.start < span.start)
        .max_by_key(|(_, key_span)| key_span.start);
    let shown = clean(name);
    match first {
        Some((path, key_span)) => {
            let table = map.describe_table(&path[..path.len().saturating_sub(1)]);
            let place = if table.is_empty() {
                String::new()
            } else {
                format!(" in {table}")
            };
            format!(
                "duplicate key `{shown}`{place} (first set at {})",
                Position::of_offset(text, key_span.start)
            )
        }
        None => format!("duplicate key `{shown}`"),
    }
}

/// Rewords an error from deserializing the (syntactically valid) document into [`Config`].
fn translate_shape_error(
    err: &toml::de::Error,
    map: &DocumentMap<'_>,
    text: &str,
    file: &str,
) -> ConfigError {
    let raw = err.message();
    let span = err.span().unwrap_or(0..0);
    // An empty span at the very start is toml's way of pointing at the whole document.
    let path = if span.is_empty() && span.start == 0 {
        Vec::new()
    } else {
        map.find(span.start).map(|f| f.path).unwrap_or_default()
    };
    let message = if let Some(rest) = raw.strip_prefix("unknown field `") {
        unknown_key_message(map, &path, rest)
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        missing_key_message(map, &path, rest.trim_end_matches('`'))
    } else if raw.starts_with("invalid type: ") || raw.starts_with("invalid value: ") {
        wrong_value_message(map, &path, raw)
    } else if let Some(rest) = raw.strip_prefix("unknown variant ") {
        with_place(map, &path, &format!("unknown value {}", clean(rest)))
    } else {
        with_place(map, &path, &clean(raw))
    };
    ConfigError::at(file, text, span.start, message)
}

fn with_place(map: &DocumentMap<'_>, path: &[Seg], message: &str) -> String {
    let place = map.describe(path);
    if place.is_empty() {
        message.to_string()
    } else {
        format!("{place}: {message}")
    }
}

/// `rest` is what follows "unknown field `" in serde's message:
/// "foo`, expected one of `a`, `b`" or "foo`, there are no fields".
fn unknown_key_message(map: &DocumentMap<'_>, path: &[Seg], rest: &str) -> String {
    let (name_part, expected_part) = rest.split_once("`, ").unwrap_or((rest, ""));
    let name = match path.last() {
        Some(Seg::Key(k)) => k.clone(),
        _ => name_part.to_string(),
    };
    let allowed: Vec<&str> = expected_part
        .strip_prefix("expected one of ")
        .or_else(|| expected_part.strip_prefix("expected "))
        .map(|list| list.split(", ").map(|k| k.trim_matches('`')).collect())
        .unwrap_or_default();
    let table = map.describe_table(&path[..path.len().saturating_sub(1)]);
    let shown = clean(&name);
    let head = if table.is_empty() {
        format!("unknown top-level key `{shown}`")
    } else {
        format!("unknown key `{shown}` in {table}")
    };
    match closest(&name, &allowed) {
        Some(suggestion) => format!("{head}; did you mean `{suggestion}`?"),
        None if allowed.is_empty() => head,
        None => format!("{head}; allowed keys: {}", allowed.join(", ")),
    }
}

fn missing_key_message(map: &DocumentMap<'_>, path: &[Seg], name: &str) -> String {
    let table = map.describe_table(path);
    match (table.is_empty(), name) {
        (true, "environment") => NO_ENVIRONMENTS.to_string(),
        (true, "github") => {
            "missing [github] table (it needs at least repo = \"owner/name\")".to_string()
        }
        (true, _) => format!("missing required key `{}`", clean(name)),
        (false, _) => format!("missing required key `{}` in {table}", clean(name)),
    }
}

/// "invalid type: integer `5`, expected a string" becomes
/// "[github] repo: expected a string, found integer `5`".
fn wrong_value_message(map: &DocumentMap<'_>, path: &[Seg], raw: &str) -> String {
    let body = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
        .unwrap_or(raw);
    let Some(split) = body.rfind(", expected ") else {
        return with_place(map, path, &clean(raw));
    };
    let found = clean(&body[..split]);
    let expected = &body[split + ", expected ".len()..];
    let is_status = matches!(path.last(), Some(Seg::Key(k)) if k == "status");
    let wanted = if is_status {
        "an HTTP status code (100 to 599)".to_string()
    } else {
        friendly_expectation(expected)
    };
    with_place(map, path, &format!("expected {wanted}, found {found}"))
}

fn friendly_expectation(expected: &str) -> String {
    match expected {
        "u8" => "an integer from 0 to 255".to_string(),
        "u16" => "an integer from 0 to 65535".to_string(),
        "u32" | "u64" | "usize" => "a whole number (0 or more)".to_string(),
        "a sequence" => "an array".to_string(),
        "a map" => "a table".to_string(),
        other if other.starts_with("struct ") => "a table".to_string(),
        other => clean(other),
    }
}

/// The allowed key closest to `name`, if it is close enough to be a likely typo.
fn closest<'k>(name: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let lowered = name.to_lowercase();
    allowed
        .iter()
        .map(|candidate| (edit_distance(&lowered, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= (candidate.chars().count() / 3).max(1)
                || (lowered.len() >= 3 && candidate.contains(lowered.as_str()))
                || (candidate.len() >= 4 && lowered.contains(*candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("tokn_env", "token_env"), 1);
        assert_eq!(edit_distance("repo", "repo"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_suggests_only_likely_typos() {
        let allowed = ["api_url", "repo", "token_env"];
        assert_eq!(closest("tokn_env", &allowed), Some("token_env"));
        assert_eq!(closest("Repo", &allowed), Some("repo"));
        assert_eq!(closest("token", &allowed), Some("token_env"));
        assert_eq!(closest("colour", &allowed), None);
        assert_eq!(
            closest("expect_status", &["path", "status"]),
            Some("status")
        );
    }
}
