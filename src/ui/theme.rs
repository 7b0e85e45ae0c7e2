//! Themes: the colours the screen uses for each meaning (ok, warn, fail, stale, ...), read from
//! TOML. The built-in themes in `themes/` are compiled in; users may load their own text.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const DEFAULT_THEME: &str = include_str!("../../themes/default.toml");
const HIGH_CONTRAST_THEME: &str = include_str!("../../themes/high-contrast.toml");

/// Names of the themes compiled into the binary.
pub const BUILTIN_THEMES: [&str; 2] = ["default", "high-contrast"];

/// Why a theme could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("theme colour `{key}` has an unknown value `{value}` (use a name, #rrggbb or 0-255)")]
    InvalidColor { key: &'static str, value: String },
}

/// The colour for each meaning on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub focus: Color,
    pub ok: Color,
    pub warn: Color,
    pub fail: Color,
    pub alarm: Color,
    pub running: Color,
    pub stale: Color,
    pub bar: Color,
    pub baseline: Color,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    colors: ColorsFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColorsFile {
    text: String,
    muted: String,
    accent: String,
    focus: String,
    ok: String,
    warn: String,
    fail: String,
    alarm: String,
    running: String,
    stale: String,
    bar: String,
    baseline: String,
}

fn parse_color(key: &'static str, value: &str) -> Result<Color, ThemeError> {
    value
        .parse::<Color>()
        .map_err(|_| ThemeError::InvalidColor {
            key,
            value: crate::model::sanitize(value, 40),
        })
}

impl Theme {
    /// A theme compiled into the binary, by name ("default", "high-contrast").
    pub fn builtin(name: &str) -> Option<Theme> {
        let text = match name {
            "default" => DEFAULT_THEME,
            "high-contrast" => HIGH_CONTRAST_THEME,
            _ => return None,
        };
        Theme::from_toml_str(text).ok()
    }

    /// Reads a theme from TOML text (see `themes/default.toml` for the keys).
    pub fn from_toml_str(text: &str) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text)?;
        let c = &file.colors;
        Ok(Theme {
            name: crate::model::sanitize(&file.name, 64),
            text: parse_color("text", &c.text)?,
            muted: parse_color("muted", &c.muted)?,
            accent: parse_color("accent", &c.accent)?,
            focus: parse_color("focus", &c.focus)?,
            ok: parse_color("ok", &c.ok)?,
            warn: parse_color("warn", &c.warn)?,
            fail: parse_color("fail", &c.fail)?,
            alarm: parse_color("alarm", &c.alarm)?,
            running: parse_color("running", &c.running)?,
            stale: parse_color("stale", &c.stale)?,
            bar: parse_color("bar", &c.bar)?,
            baseline: parse_color("baseline", &c.baseline)?,
        })
    }

    pub(crate) fn style(&self, color: Color) -> Style {
        Style::new().fg(color)
    }

    pub(crate) fn muted(&self) -> Style {
        Style::new().fg(self.muted)
    }

    pub(crate) fn heading(&self) -> Style {
        Style::new().fg(self.accent).add_modifier(Modifier::BOLD)
    }

    pub(crate) fn stale(&self) -> Style {
        Style::new().fg(self.stale).add_modifier(Modifier::BOLD)
    }
}

impl Default for Theme {
    fn default() -> Self {
        // The compiled-in default is checked by a unit test, so this fallback never shows; it
        // keeps the program drawing even if the embedded file were broken.
        Theme::builtin("default").unwrap_or(Theme {
            name: "fallback".to_string(),
            text: Color::Reset,
            muted: Color::DarkGray,
            accent: Color::Cyan,
            focus: Color::LightCyan,
            ok: Color::Green,
            warn: Color::Yellow,
            fail: Color::Red,
            alarm: Color::LightRed,
            running: Color::Blue,
            stale: Color::Magenta,
            bar: Color::Blue,
            baseline: Color::Yellow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse() {
        for name in BUILTIN_THEMES {
            let theme = Theme::builtin(name).unwrap_or_else(|| panic!("theme {name} broken"));
            assert_eq!(theme.name, name);
        }
        assert_eq!(Theme::builtin("default").map(|t| t.fail), Some(Color::Red));
        assert!(Theme::builtin("nope").is_none());
    }

    #[test]
    fn hex_and_indexed_colours_are_read() {
        let text = DEFAULT_THEME
            .replace("fail = \"red\"", "fail = \"#ff0010\"")
            .replace("ok = \"green\"", "ok = \"34\"");
        let theme = Theme::from_toml_str(&text).unwrap();
        assert_eq!(theme.fail, Color::Rgb(0xff, 0, 0x10));
        assert_eq!(theme.ok, Color::Indexed(34));
    }

    #[test]
    fn unknown_colour_names_the_key() {
        let text = DEFAULT_THEME.replace("warn = \"yellow\"", "warn = \"mauve\"");
        let err = Theme::from_toml_str(&text).unwrap_err();
        assert!(err.to_string().contains("`warn`"), "{err}");
        assert!(err.to_string().contains("mauve"), "{err}");
    }

    #[test]
    fn unknown_keys_and_missing_keys_are_refused() {
        let extra = format!("{DEFAULT_THEME}\nsparkle = \"pink\"\n");
        assert!(matches!(
            Theme::from_toml_str(&extra),
            Err(ThemeError::Toml(_))
        ));
        let missing = DEFAULT_THEME.replace("bar = \"blue\"", "");
        assert!(Theme::from_toml_str(&missing).is_err());
    }
}
