//! Errors of loading a configuration, and the mapping from byte offsets in the file to the
//! `LINE:COL` positions (1-based, columns counted in characters) those errors print.

use std::fmt;
use std::path::PathBuf;

use crate::config::token_shape::redact_tokens;
use crate::model::sanitize;

/// Longest source line reproduced under an error.
const EXCERPT_MAX_CHARS: usize = 120;

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`. Offsets past the end, or inside a multi-byte
    /// character, are moved back to the nearest character start.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a configuration could not be loaded. `Display` is one line: `FILE:LINE:COL: message`,
/// or `FILE: message` for I/O errors. [`ConfigError::report`] adds the source line and a caret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{position}: {message}")]
    Invalid {
        file: String,
        position: Position,
        message: String,
        /// The offending source line (sanitized, tokens redacted) and a caret line under it.
        excerpt: Option<String>,
    },
}

impl ConfigError {
    /// An error at byte `offset` of `text`, with the source excerpt.
    pub(crate) fn at(file: &str, text: &str, offset: usize, message: String) -> Self {
        let position = Position::of_offset(text, offset);
        Self::Invalid {
            file: file.to_string(),
            position,
            message,
            excerpt: excerpt(text, position),
        }
    }

    /// The position, for errors that have one.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Io { .. } => None,
            Self::Invalid { position, .. } => Some(*position),
        }
    }

    /// The one-line message without the file and position.
    pub fn message(&self) -> String {
        match self {
            Self::Io { source, .. } => format!("cannot read the file: {source}"),
            Self::Invalid { message, .. } => message.clone(),
        }
    }

    /// The error as `rustc` prints one: the `Display` line, then the source line and a caret.
    pub fn report(&self) -> String {
        match self {
            Self::Invalid {
                excerpt: Some(excerpt),
                ..
            } => format!("{self}\n{excerpt}"),
            _ => self.to_string(),
        }
    }
}

/// `   |` gutter lines showing source line `position.line` and a caret under the column.
fn excerpt(text: &str, position: Position) -> Option<String> {
    let raw_line = text.split('\n').nth(position.line - 1)?;
    let prefix: String = raw_line.chars().take(position.column - 1).collect();
    // The caret must line up with what is printed, so measure the sanitized prefix.
    let caret_column = sanitize(&redact_tokens(&prefix), EXCERPT_MAX_CHARS)
        .chars()
        .count();
    if caret_column >= EXCERPT_MAX_CHARS {
        return None;
    }
    let shown = sanitize(&redact_tokens(raw_line), EXCERPT_MAX_CHARS);
    let number = position.line.to_string();
    let gutter = " ".repeat(number.len());
    Some(format!(
        "{gutter} |\n{number} | {shown}\n{gutter} | {}^",
        " ".repeat(caret_column)
    ))
}

/// Why no configuration file was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error(
        "no configuration file found (looked at {}); pass --config FILE, set SHIPDECK_CONFIG, \
         or start from config.toml.example",
        list_paths(searched)
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error(
        "no configuration file given and no home directory to look in; pass --config FILE or set \
         SHIPDECK_CONFIG"
    )]
    NoConfigDir,
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| sanitize(&p.display().to_string(), 300))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_character_column() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        let quote = text.find('"').unwrap();
        assert_eq!(
            Position::of_offset(text, quote),
            Position { line: 2, column: 6 }
        );
        assert_eq!(
            Position::of_offset(text, 10_000),
            Position { line: 3, column: 1 }
        );
        // Inside the two-byte `é`: moved back to its start.
        assert_eq!(
            Position::of_offset(text, 8),
            Position { line: 2, column: 2 }
        );
    }

    #[test]
    fn report_puts_a_caret_under_the_column() {
        let text = "[github]\nrepo = 5\n";
        let err = ConfigError::at("c.toml", text, 16, "bad".into());
        assert_eq!(err.to_string(), "c.toml:2:8: bad");
        assert_eq!(
            err.report(),
            "c.toml:2:8: bad\n  |\n2 | repo = 5\n  |        ^"
        );
    }

    #[test]
    fn excerpt_redacts_tokens_and_control_characters() {
        let text = "token_env = \"ghp_abcdef123456\"\x1b[2J\n";
        let err = ConfigError::at("c.toml", text, 12, "looks like a token".into());
        let report = err.report();
        assert!(!report.contains("ghp_abcdef123456"), "{report}");
        assert!(!report.contains('\x1b'), "{report}");
        assert!(report.contains("token_env = \"***\""), "{report}");
    }
}
