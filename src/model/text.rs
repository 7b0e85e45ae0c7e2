//! The one sanitizer for text that comes from outside (commit subjects, branch names, job
//! names, Sentry titles, response bodies, error messages), and [`SafeText`], the only string
//! type that the UI, `status --json` and printed errors accept for such text.
//!
//! Sanitizing strips control characters (Unicode Cc: ESC, BEL, C1 bytes, ...) and format
//! characters (Cf: bidi overrides, zero-width joiners, BOMs), expands tabs, folds line breaks
//! into spaces, and caps the length with an ellipsis. Terminal widgets filter some control
//! characters themselves, but not format characters, the window title, or what is printed
//! after the terminal is restored; one function applied where text enters covers all of them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_general_category::{GeneralCategory, get_general_category};

/// Default cap, in characters, for a single line of outside text.
pub const DEFAULT_MAX_CHARS: usize = 512;

const TAB_WIDTH: usize = 4;

/// Returns `raw` made safe to draw in a terminal or print: no control or format characters,
/// tabs expanded to spaces, line breaks folded to single spaces, at most `max_chars`
/// characters (the last one an ellipsis when cut).
pub fn sanitize(raw: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max_chars * 4));
    let mut count = 0usize;
    let mut truncated = false;
    let mut last_was_space = false;
    for ch in raw.chars() {
        let mut buf = [0u8; 4];
        let piece: &str = match ch {
            '\t' => "    ",
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => {
                if last_was_space || count == 0 {
                    continue;
                }
                " "
            }
            c if is_unsafe(c) => continue,
            c => c.encode_utf8(&mut buf),
        };
        let width = if piece == "    " { TAB_WIDTH } else { 1 };
        if count + width > max_chars {
            truncated = true;
            break;
        }
        out.push_str(piece);
        count += width;
        last_was_space = piece.ends_with(' ');
    }
    if truncated && max_chars > 0 {
        while count + 1 > max_chars {
            if out.pop().is_none() {
                break;
            }
            count -= 1;
        }
        out.push('…');
    }
    out
}

fn is_unsafe(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Text from outside that has been through [`sanitize`]. It can only be built by sanitizing,
/// so holding one proves the text is safe to draw or print.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeText(String);

impl SafeText {
    /// Sanitizes `raw` with the default length cap.
    pub fn new(raw: &str) -> Self {
        Self(sanitize(raw, DEFAULT_MAX_CHARS))
    }

    /// Sanitizes `raw` with an explicit length cap (in characters).
    pub fn with_max(raw: &str, max_chars: usize) -> Self {
        Self(sanitize(raw, max_chars))
    }

    /// The first line of a commit message, sanitized: what the UI calls the subject.
    pub fn subject_of(message: &str) -> Self {
        Self::new(message.lines().next().unwrap_or(""))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for SafeText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SafeText {
    fn from(raw: &str) -> Self {
        Self::new(raw)
    }
}

impl From<String> for SafeText {
    fn from(raw: String) -> Self {
        Self::new(&raw)
    }
}

impl Serialize for SafeText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SafeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(Self::new(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_escape_sequences_and_bell() {
        assert_eq!(
            sanitize("fix \x1b[31mred\x1b[0m\x07 now", 100),
            "fix [31mred[0m now"
        );
    }

    #[test]
    fn strips_c1_controls_and_bidi_overrides() {
        let raw = "pay\u{9b}31m \u{202e}evil\u{202c} \u{200b}zero";
        assert_eq!(sanitize(raw, 100), "pay31m evil zero");
    }

    #[test]
    fn expands_tabs_and_folds_newlines() {
        assert_eq!(sanitize("a\tb\r\n\nc", 100), "a    b c");
    }

    #[test]
    fn keeps_emoji_and_wide_characters() {
        assert_eq!(sanitize("🚀 発射 ünïcode", 100), "🚀 発射 ünïcode");
    }

    #[test]
    fn caps_length_with_ellipsis() {
        assert_eq!(sanitize("abcdefghij", 5), "abcd…");
        assert_eq!(sanitize("abcde", 5), "abcde");
        assert_eq!(sanitize("abc", 0), "");
    }

    #[test]
    fn subject_is_first_line() {
        assert_eq!(SafeText::subject_of("title\n\nbody").as_str(), "title");
    }

    #[test]
    fn deserializing_sanitizes() {
        let t: SafeText = serde_json::from_str("\"a\\u001b]0;owned\\u0007b\"").unwrap();
        assert_eq!(t.as_str(), "a]0;ownedb");
    }

    proptest! {
        #[test]
        fn output_never_holds_control_or_format_chars(raw in any::<String>(), max in 0usize..64) {
            let out = sanitize(&raw, max);
            prop_assert!(out.chars().all(|c| !is_unsafe(c)));
            prop_assert!(out.chars().count() <= max);
        }

        #[test]
        fn sanitizing_is_idempotent(raw in any::<String>()) {
            let once = sanitize(&raw, 200);
            prop_assert_eq!(sanitize(&once, 200), once.clone());
        }
    }
}
