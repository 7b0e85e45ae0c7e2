//! Themes: the screen's background and the colour for each meaning on it (ok, warn, fail,
//! stale, ...), read from TOML. The built-in themes in `themes/` are compiled in; users add or
//! override themes with files in their config directory. [`resolve`] picks a theme by name and
//! never fails: a broken or unknown theme becomes a [`ThemeWarning`] and a built-in theme.
//! [`Theme::adapted`] fits a theme to what the terminal can show.
//!
//! A theme file has an optional `name`, an optional `extends` (a built-in theme whose colours
//! fill in every key the file leaves out) and a `[colors]` table keyed by [`COLOR_KEYS`].

mod user;

use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::sanitize;
use crate::ui::palette::{self, ColorSupport};

pub use user::{
    THEMES_DIR_NAME, ThemeWarning, available, next_theme_name, resolve, user_themes_dir,
};

/// Names of the themes compiled into the binary, in the order the theme key cycles through.
pub const BUILTIN_THEMES: [&str; 5] = [
    "default",
    "light",
    "high-contrast",
    "deuteranopia",
    "tritanopia",
];

/// Every key of a theme's `[colors]` table.
pub const COLOR_KEYS: [&str; 14] = [
    "background",
    "surface",
    "text",
    "muted",
    "accent",
    "focus",
    "ok",
    "warn",
    "fail",
    "alarm",
    "running",
    "stale",
    "bar",
    "baseline",
];

/// Keys a theme file may have outside `[colors]`.
const TOP_LEVEL_KEYS: [&str; 3] = ["name", "extends", "colors"];

/// Longest theme name kept from a file.
const NAME_MAX_CHARS: usize = 64;

/// Longest piece of a file quoted in an error.
const QUOTE_MAX_CHARS: usize = 40;

fn builtin_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "default" => include_str!("../../themes/default.toml"),
        "light" => include_str!("../../themes/light.toml"),
        "high-contrast" => include_str!("../../themes/high-contrast.toml"),
        "deuteranopia" => include_str!("../../themes/deuteranopia.toml"),
        "tritanopia" => include_str!("../../themes/tritanopia.toml"),
        _ => return None,
    })
}

/// Why a theme could not be read. [`ThemeError::offset`] is the byte in the text it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    #[error("not valid TOML: {message}")]
    Toml { message: String, offset: usize },
    #[error("unknown key `{key}`{}", allowed_keys(.in_colors))]
    UnknownKey {
        key: String,
        in_colors: bool,
        offset: usize,
    },
    #[error("{key} must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
        offset: usize,
    },
    #[error("colour {value:?} for key {key} is not a name, #rrggbb or 0-255")]
    InvalidColor {
        key: &'static str,
        value: String,
        offset: usize,
    },
    #[error(
        "extends {name:?}, which is not a built-in theme (the built-ins are {})",
        BUILTIN_THEMES.join(", ")
    )]
    UnknownBase { name: String, offset: usize },
    #[error("colour key {key} is missing (a theme without `extends` sets every colour)")]
    MissingColor { key: &'static str, offset: usize },
}

/// Where an unknown key was found and what is allowed there, for its message.
fn allowed_keys(in_colors: &bool) -> String {
    if *in_colors {
        format!(" in [colors]; the keys are {}", COLOR_KEYS.join(", "))
    } else {
        format!("; the keys are {}", TOP_LEVEL_KEYS.join(", "))
    }
}

impl ThemeError {
    /// The byte offset in the theme text the error is about.
    pub fn offset(&self) -> usize {
        match self {
            Self::Toml { offset, .. }
            | Self::UnknownKey { offset, .. }
            | Self::WrongType { offset, .. }
            | Self::InvalidColor { offset, .. }
            | Self::UnknownBase { offset, .. }
            | Self::MissingColor { offset, .. } => *offset,
        }
    }
}

/// The background and the colour for each meaning on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    /// The whole screen's background; the UI paints it (see [`Theme::screen_style`]).
    pub background: Color,
    /// The background of popups and panels, such as the confirmation box.
    pub surface: Color,
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

/// What a theme file says, checked but not yet laid over a base theme.
struct ThemeText {
    name: Option<String>,
    /// The built-in theme named by `extends`, and where its value starts.
    extends: Option<(String, usize)>,
    colors: Vec<(&'static str, Color)>,
    /// Where `[colors]` starts (0 without one): where a missing colour is reported.
    colors_offset: usize,
}

impl ThemeText {
    fn parse(text: &str) -> Result<Self, ThemeError> {
        let root = DeTable::parse(text).map_err(|err| ThemeError::Toml {
            message: sanitize(err.message(), 300),
            offset: err.span().map_or(0, |span| span.start),
        })?;
        let mut parsed = ThemeText {
            name: None,
            extends: None,
            colors: Vec::new(),
            colors_offset: 0,
        };
        for (key, value) in in_file_order(root.get_ref()) {
            match key.get_ref().as_ref() {
                "name" => {
                    parsed.name = Some(sanitize(string_value("name", value)?, NAME_MAX_CHARS));
                }
                "extends" => {
                    let base = string_value("extends", value)?;
                    parsed.extends = Some((base.to_string(), value.span().start));
                }
                "colors" => {
                    let DeValue::Table(colors) = value.get_ref() else {
                        return Err(wrong_type("colors", "a table ([colors])", value));
                    };
                    parsed.colors_offset = key.span().start;
                    parsed.colors = read_colors(colors)?;
                }
                other => return Err(unknown_key(other, false, key.span())),
            }
        }
        Ok(parsed)
    }

    /// The built-in theme named by `extends`, if there is one.
    fn base(&self) -> Result<Option<Theme>, ThemeError> {
        let Some((name, offset)) = &self.extends else {
            return Ok(None);
        };
        Theme::builtin(name)
            .map(Some)
            .ok_or_else(|| ThemeError::UnknownBase {
                name: sanitize(name, QUOTE_MAX_CHARS),
                offset: *offset,
            })
    }

    /// `base` with every colour this file sets replaced, named `name`.
    fn over(&self, mut base: Theme, name: String) -> Theme {
        for (key, color) in &self.colors {
            if let Some(slot) = base.color_mut(key) {
                *slot = *color;
            }
        }
        base.name = name;
        base
    }
}

fn read_colors(colors: &DeTable<'_>) -> Result<Vec<(&'static str, Color)>, ThemeError> {
    let mut read = Vec::new();
    for (key, value) in in_file_order(colors) {
        let written_key = key.get_ref().as_ref();
        let Some(known) = COLOR_KEYS.iter().find(|known| **known == written_key) else {
            return Err(unknown_key(written_key, true, key.span()));
        };
        let DeValue::String(written) = value.get_ref() else {
            return Err(wrong_type(
                known,
                "a string such as \"red\", \"#ff8700\" or \"208\"",
                value,
            ));
        };
        let color = written
            .parse::<Color>()
            .map_err(|_| ThemeError::InvalidColor {
                key: known,
                value: sanitize(written, QUOTE_MAX_CHARS),
                offset: value.span().start,
            })?;
        read.push((*known, color));
    }
    Ok(read)
}

type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

/// A table's entries in the order they are written, so the first problem reported is the
/// first in the file whatever order the map keeps.
fn in_file_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

fn string_value<'v>(key: &str, value: &'v Spanned<DeValue<'_>>) -> Result<&'v str, ThemeError> {
    match value.get_ref() {
        DeValue::String(text) => Ok(text),
        _ => Err(wrong_type(key, "a string", value)),
    }
}

fn wrong_type(key: &str, expected: &'static str, value: &Spanned<DeValue<'_>>) -> ThemeError {
    ThemeError::WrongType {
        key: sanitize(key, QUOTE_MAX_CHARS),
        expected,
        found: value.get_ref().type_str(),
        offset: value.span().start,
    }
}

fn unknown_key(key: &str, in_colors: bool, span: Range<usize>) -> ThemeError {
    ThemeError::UnknownKey {
        key: sanitize(key, QUOTE_MAX_CHARS),
        in_colors,
        offset: span.start,
    }
}

impl Theme {
    /// A theme compiled into the binary, by name (one of [`BUILTIN_THEMES`]).
    pub fn builtin(name: &str) -> Option<Theme> {
        Theme::from_toml_str(builtin_source(name)?).ok()
    }

    /// Reads a theme from TOML text (see `themes/default.toml` for the keys). Without
    /// `extends` the text must set every colour; with it, the named built-in theme fills in
    /// the rest. The name is the file's `name`, else the extended theme's, else "custom".
    pub fn from_toml_str(text: &str) -> Result<Theme, ThemeError> {
        let parsed = ThemeText::parse(text)?;
        let base = match parsed.base()? {
            Some(base) => base,
            None => {
                let missing = COLOR_KEYS
                    .iter()
                    .find(|key| !parsed.colors.iter().any(|(set, _)| set == *key));
                if let Some(key) = missing {
                    return Err(ThemeError::MissingColor {
                        key,
                        offset: parsed.colors_offset,
                    });
                }
                // Every key is set, so nothing of this base shows through.
                Theme::fallback()
            }
        };
        let name = parsed
            .name
            .clone()
            .unwrap_or_else(|| match &parsed.extends {
                Some(_) => base.name.clone(),
                None => "custom".to_string(),
            });
        Ok(parsed.over(base, name))
    }

    /// Reads a user's theme file: `implicit_base` fills in what the text leaves out unless the
    /// text names its own base with `extends`. The theme is called `name` (the file's name),
    /// whatever its `name` key says, so the theme cycle can find it again.
    pub(crate) fn from_toml_over(
        text: &str,
        implicit_base: &Theme,
        name: &str,
    ) -> Result<Theme, ThemeError> {
        let parsed = ThemeText::parse(text)?;
        let base = parsed.base()?.unwrap_or_else(|| implicit_base.clone());
        Ok(parsed.over(base, name.to_string()))
    }

    /// The colour for one of [`COLOR_KEYS`].
    pub fn color(&self, key: &str) -> Option<Color> {
        Some(match key {
            "background" => self.background,
            "surface" => self.surface,
            "text" => self.text,
            "muted" => self.muted,
            "accent" => self.accent,
            "focus" => self.focus,
            "ok" => self.ok,
            "warn" => self.warn,
            "fail" => self.fail,
            "alarm" => self.alarm,
            "running" => self.running,
            "stale" => self.stale,
            "bar" => self.bar,
            "baseline" => self.baseline,
            _ => return None,
        })
    }

    fn color_mut(&mut self, key: &str) -> Option<&mut Color> {
        Some(match key {
            "background" => &mut self.background,
            "surface" => &mut self.surface,
            "text" => &mut self.text,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "focus" => &mut self.focus,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "fail" => &mut self.fail,
            "alarm" => &mut self.alarm,
            "running" => &mut self.running,
            "stale" => &mut self.stale,
            "bar" => &mut self.bar,
            "baseline" => &mut self.baseline,
            _ => return None,
        })
    }

    /// This theme as a terminal with `support` can show it: `#rrggbb` colours become the
    /// nearest of xterm's 256 or of the 16 ANSI colours; with [`ColorSupport::NoColor`] every
    /// colour becomes `Reset`, and states still read from their words and icons (bold and
    /// reversed text keep working).
    pub fn adapted(&self, support: ColorSupport) -> Theme {
        let mut adapted = self.clone();
        for key in COLOR_KEYS {
            if let Some(color) = adapted.color_mut(key) {
                *color = palette::adapt(*color, support);
            }
        }
        adapted
    }

    /// The whole screen: ordinary text on the background. Paint it over the full frame before
    /// anything else, or the terminal's own background shows and the theme's contrast is lost.
    pub fn screen_style(&self) -> Style {
        Style::new().fg(self.text).bg(self.background)
    }

    /// Popups and panels: ordinary text on the surface colour.
    pub fn surface_style(&self) -> Style {
        Style::new().fg(self.text).bg(self.surface)
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

    /// Named ANSI colours on the terminal's own background, for when the compiled-in default
    /// cannot be read.
    fn fallback() -> Theme {
        Theme {
            name: "fallback".to_string(),
            background: Color::Reset,
            surface: Color::Reset,
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
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        // The compiled-in default is checked by a unit test, so the fallback never shows; it
        // keeps the program drawing even if the embedded file were broken.
        Theme::builtin("default").unwrap_or_else(Theme::fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::palette::{Deficiency, Rgb, contrast_ratio, delta_e, simulate};

    /// Keys whose colour is drawn as text (or text-sized glyphs) on the background.
    const TEXT_KEYS: [&str; 11] = [
        "text", "muted", "accent", "focus", "ok", "warn", "fail", "alarm", "running", "stale",
        "baseline",
    ];

    /// Smallest CIE76 difference between two of ok, warn and fail. 2.3 is just noticeable
    /// side by side; these marks are one character wide and read at a glance from across a
    /// room, so the bar is ten times that (the closest pair in the built-ins, fail and warn
    /// under simulated deuteranopia, is about 30).
    const MIN_STATE_DELTA_E: f64 = 25.0;

    fn builtins() -> Vec<Theme> {
        BUILTIN_THEMES
            .iter()
            .map(|name| Theme::builtin(name).unwrap_or_else(|| panic!("theme {name} broken")))
            .collect()
    }

    fn rgb_of(theme: &Theme, key: &str) -> Rgb {
        match theme.color(key) {
            Some(Color::Rgb(r, g, b)) => (r, g, b),
            other => panic!("{} {key} is {other:?}, not #rrggbb", theme.name),
        }
    }

    fn min_text_contrast(theme: &Theme) -> f64 {
        if theme.name == "high-contrast" {
            7.0
        } else {
            4.5
        }
    }

    #[test]
    fn builtin_themes_parse_with_their_names_and_hex_colours() {
        for theme in builtins() {
            assert!(BUILTIN_THEMES.contains(&theme.name.as_str()));
            for key in COLOR_KEYS {
                assert!(
                    matches!(theme.color(key), Some(Color::Rgb(..))),
                    "{} {key}: {:?}",
                    theme.name,
                    theme.color(key)
                );
            }
        }
        assert_eq!(builtins()[0].name, "default");
        assert_eq!(Theme::default(), builtins()[0]);
        assert_eq!(
            Theme::builtin("default").map(|t| t.fail),
            Some(Color::Rgb(0xff, 0x7b, 0x7b))
        );
        assert!(Theme::builtin("nope").is_none());
    }

    #[test]
    fn builtin_themes_are_distinct() {
        let themes = builtins();
        for (i, a) in themes.iter().enumerate() {
            for b in &themes[i + 1..] {
                let same = COLOR_KEYS.iter().all(|key| a.color(key) == b.color(key));
                assert!(!same, "{} and {} have the same colours", a.name, b.name);
            }
        }
    }

    fn contrast_failures(theme: &Theme, shown: impl Fn(&str) -> Rgb) -> Vec<String> {
        let minimum = min_text_contrast(theme);
        let mut failures = Vec::new();
        for ground in ["background", "surface"] {
            for key in TEXT_KEYS {
                let ratio = contrast_ratio(shown(key), shown(ground));
                if ratio < minimum {
                    failures.push(format!(
                        "{}: {key} {:?} on {ground} {:?} is {ratio:.2}:1, needs {minimum}:1",
                        theme.name,
                        shown(key),
                        shown(ground)
                    ));
                }
            }
        }
        // Bars are shapes, not text: WCAG's non-text contrast asks 3:1.
        let ratio = contrast_ratio(shown("bar"), shown("background"));
        if ratio < 3.0 {
            failures.push(format!(
                "{}: bar on background is {ratio:.2}:1, needs 3:1",
                theme.name
            ));
        }
        failures
    }

    #[test]
    fn every_builtin_text_colour_has_enough_contrast() {
        let failures: Vec<String> = builtins()
            .iter()
            .flat_map(|theme| contrast_failures(theme, |key| rgb_of(theme, key)))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_contrast_check_names_theme_key_colours_and_ratio() {
        let dim = Theme {
            muted: Color::Rgb(0x44, 0x48, 0x50),
            ..Theme::default()
        };
        let failures = contrast_failures(&dim, |key| rgb_of(&dim, key));
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(
            failures[0]
                .starts_with("default: muted (68, 72, 80) on background (27, 31, 39) is 1.8"),
            "{failures:?}"
        );
        assert!(
            failures[1].contains("muted (68, 72, 80) on surface"),
            "{failures:?}"
        );
    }

    #[test]
    fn contrast_survives_a_256_colour_terminal() {
        let failures: Vec<String> = builtins()
            .iter()
            .flat_map(|theme| {
                let adapted = theme.adapted(ColorSupport::Ansi256);
                contrast_failures(theme, move |key| {
                    let color = adapted.color(key).unwrap_or(Color::Reset);
                    assert!(matches!(color, Color::Indexed(16..)), "{key}: {color:?}");
                    palette::rgb(color, (0, 0, 0))
                })
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn state_colours_too_close(theme: &Theme, vision: Option<Deficiency>) -> Vec<String> {
        let seen = |key| {
            let rgb = rgb_of(theme, key);
            vision.map_or(rgb, |deficiency| simulate(rgb, deficiency))
        };
        let pairs = [("ok", "warn"), ("ok", "fail"), ("warn", "fail")];
        pairs
            .iter()
            .filter_map(|(a, b)| {
                let difference = delta_e(seen(a), seen(b));
                (difference < MIN_STATE_DELTA_E).then(|| {
                    format!(
                        "{} ({vision:?}): {a} {:?} and {b} {:?} differ by {difference:.1}",
                        theme.name,
                        seen(a),
                        seen(b)
                    )
                })
            })
            .collect()
    }

    #[test]
    fn ok_warn_and_fail_are_told_apart_including_by_the_colour_blind_themes_audience() {
        let mut failures = Vec::new();
        for theme in builtins() {
            let visions: &[Deficiency] = match theme.name.as_str() {
                "deuteranopia" => &[Deficiency::Deuteranopia, Deficiency::Protanopia],
                "tritanopia" => &[Deficiency::Tritanopia],
                _ => &[],
            };
            failures.extend(state_colours_too_close(&theme, None));
            for vision in visions {
                failures.extend(state_colours_too_close(&theme, Some(*vision)));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_default_theme_is_not_safe_for_deuteranopia_so_the_check_can_fail() {
        let default = Theme::default();
        assert!(!state_colours_too_close(&default, Some(Deficiency::Deuteranopia)).is_empty());
    }

    #[test]
    fn names_hex_and_indexed_colours_are_read() {
        let text = builtin_source("default")
            .unwrap()
            .replace("fail = \"#ff7b7b\"", "fail = \"light_red\"")
            .replace("ok = \"#5fcf80\"", "ok = \"34\"")
            .replace("warn = \"#e8c25a\"", "warn = \"#FFAA00\"");
        let theme = Theme::from_toml_str(&text).unwrap();
        assert_eq!(theme.fail, Color::LightRed);
        assert_eq!(theme.ok, Color::Indexed(34));
        assert_eq!(theme.warn, Color::Rgb(0xff, 0xaa, 0));
    }

    #[test]
    fn a_theme_without_extends_must_set_every_colour() {
        let missing = builtin_source("default")
            .unwrap()
            .replace("bar = \"#4f8fd6\"", "");
        let err = Theme::from_toml_str(&missing).unwrap_err();
        assert!(
            matches!(err, ThemeError::MissingColor { key: "bar", .. }),
            "{err}"
        );
    }

    #[test]
    fn a_theme_with_extends_fills_in_from_the_built_in() {
        let theme =
            Theme::from_toml_str("extends = \"light\"\n[colors]\nfail = \"#990000\"\n").unwrap();
        let light = Theme::builtin("light").unwrap();
        assert_eq!(theme.name, "light");
        assert_eq!(theme.fail, Color::Rgb(0x99, 0, 0));
        assert_eq!(theme.ok, light.ok);
        assert_eq!(theme.background, light.background);
    }

    #[test]
    fn errors_point_at_the_offending_byte() {
        let text = "name = \"x\"\nextends = \"default\"\n[colors]\nsparkle = \"pink\"\n";
        let err = Theme::from_toml_str(text).unwrap_err();
        assert_eq!(&text[err.offset()..err.offset() + 7], "sparkle");
        assert!(
            err.to_string().starts_with(
                "unknown key `sparkle` in [colors]; the keys are background, surface,"
            ),
            "{err}"
        );

        let text = "extends = \"default\"\n[colors]\nwarn = \"mauve\"\n";
        let err = Theme::from_toml_str(text).unwrap_err();
        assert_eq!(&text[err.offset()..], "\"mauve\"\n");
        assert_eq!(
            err.to_string(),
            "colour \"mauve\" for key warn is not a name, #rrggbb or 0-255"
        );

        let text = "extends = \"default\"\n[colors]\nwarn = 208\n";
        let err = Theme::from_toml_str(text).unwrap_err();
        assert_eq!(&text[err.offset()..], "208\n");
        assert!(err.to_string().contains("found integer"), "{err}");

        let text = "extends = \"sepia\"\n";
        let err = Theme::from_toml_str(text).unwrap_err();
        assert_eq!(&text[err.offset()..], "\"sepia\"\n");
        assert!(
            err.to_string()
                .contains("the built-ins are default, light,"),
            "{err}"
        );

        let text = "colours = 1\n";
        let err = Theme::from_toml_str(text).unwrap_err();
        assert_eq!(err.offset(), 0);
        assert_eq!(
            err.to_string(),
            "unknown key `colours`; the keys are name, extends, colors"
        );
    }

    #[test]
    fn adapted_to_256_colours_uses_the_cube_and_grey_ramp() {
        let theme = Theme {
            text: Color::Rgb(0x80, 0x80, 0x80),
            warn: Color::Rgb(0xff, 0x87, 0x00),
            fail: Color::Red,
            ..Theme::default()
        };
        let adapted = theme.adapted(ColorSupport::Ansi256);
        assert_eq!(adapted.text, Color::Indexed(244));
        assert_eq!(adapted.warn, Color::Indexed(208));
        assert_eq!(adapted.fail, Color::Red);
        assert_eq!(adapted.name, theme.name);
        assert_eq!(theme.adapted(ColorSupport::TrueColor), theme);
    }

    #[test]
    fn adapted_to_16_colours_uses_ansi_names_only() {
        for theme in builtins() {
            let adapted = theme.adapted(ColorSupport::Ansi16);
            for key in COLOR_KEYS {
                let color = adapted.color(key);
                assert!(
                    !matches!(
                        color,
                        Some(Color::Rgb(..) | Color::Indexed(_) | Color::Reset)
                    ),
                    "{} {key}: {color:?}",
                    theme.name
                );
            }
        }
        let dark = Theme::default().adapted(ColorSupport::Ansi16);
        assert_eq!(dark.background, Color::Black);
        let light = Theme::builtin("light")
            .unwrap()
            .adapted(ColorSupport::Ansi16);
        assert_eq!(light.background, Color::White);
        assert_eq!(light.text, Color::Black);
    }

    #[test]
    fn adapted_to_no_colour_resets_every_colour() {
        let adapted = Theme::builtin("high-contrast")
            .unwrap()
            .adapted(ColorSupport::NoColor);
        for key in COLOR_KEYS {
            assert_eq!(adapted.color(key), Some(Color::Reset), "{key}");
        }
        assert_eq!(adapted.name, "high-contrast");
        // Headings stay bold without colour.
        assert!(adapted.heading().add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn screen_and_surface_styles_carry_the_backgrounds() {
        let theme = Theme::builtin("light").unwrap();
        assert_eq!(theme.screen_style().bg, Some(theme.background));
        assert_eq!(theme.screen_style().fg, Some(theme.text));
        assert_eq!(theme.surface_style().bg, Some(theme.surface));
        assert_ne!(theme.background, theme.surface);
    }

    #[test]
    fn color_knows_every_key_and_nothing_else() {
        let theme = Theme::default();
        for key in COLOR_KEYS {
            assert!(theme.color(key).is_some(), "{key}");
        }
        assert_eq!(theme.color("fail"), Some(theme.fail));
        assert_eq!(theme.color("sparkle"), None);
        // Reading and writing agree key by key, and a write touches only its key.
        for (index, key) in COLOR_KEYS.iter().enumerate() {
            let mut changed = theme.clone();
            let marker = Color::Indexed(u8::try_from(index).unwrap());
            *changed.color_mut(key).unwrap() = marker;
            for other in COLOR_KEYS {
                let expected = if other == *key {
                    Some(marker)
                } else {
                    theme.color(other)
                };
                assert_eq!(changed.color(other), expected, "{key} / {other}");
            }
        }
    }
}
