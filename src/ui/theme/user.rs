//! Picking a theme by name from the built-ins and the user's theme files
//! (`<config dir>/themes/NAME.toml`), without ever stopping a start: a broken file or an
//! unknown name is a [`ThemeWarning`] and a built-in theme. Also the list of themes the
//! theme key cycles through.
//!
//! A user file may set only some colours. What it leaves out comes from the built-in theme it
//! `extends`, else from the built-in of the same name (so `themes/light.toml` adjusts the
//! built-in light theme), else from the default theme. `extends` names a built-in only, so
//! files cannot form cycles.

use std::path::{Path, PathBuf};

use super::{BUILTIN_THEMES, Theme};
use crate::config::{ConfigError, read_text_file};
use crate::model::sanitize;

/// The folder of user themes inside the config directory.
pub const THEMES_DIR_NAME: &str = "themes";

/// The extension of a theme file.
const THEME_FILE_EXTENSION: &str = "toml";

/// Longest theme name accepted (and quoted in a warning).
const NAME_MAX_CHARS: usize = 64;

/// The theme used when the one asked for cannot be had.
const FALLBACK_THEME: &str = "default";

/// Where user themes are looked for: the `themes/` folder of the same config directory the
/// configuration file is looked for in. `None` without a home directory.
pub fn user_themes_dir() -> Option<PathBuf> {
    crate::config::locate::config_dir().map(|dir| dir.join(THEMES_DIR_NAME))
}

/// Why the theme in use is not the one asked for. `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ThemeWarning {
    /// The user's theme file could not be used: `FILE:LINE:COL: message; using ...`.
    #[error("{error}; using the built-in {fallback} theme")]
    BadFile {
        error: ConfigError,
        fallback: String,
    },
    #[error(
        "unknown theme {name:?}; the themes are {}; using the built-in {fallback} theme",
        .available.join(", "),
        fallback = FALLBACK_THEME
    )]
    UnknownName {
        name: String,
        available: Vec<String>,
    },
}

impl ThemeWarning {
    /// The warning as `rustc` prints an error: the `Display` line, then for a bad file the
    /// offending source line with a caret under the column.
    pub fn report(&self) -> String {
        let Self::BadFile { error, .. } = self else {
            return self.to_string();
        };
        match error.report().split_once('\n') {
            Some((_, excerpt)) => format!("{self}\n{excerpt}"),
            None => self.to_string(),
        }
    }
}

/// Whether `name` can be a theme: letters, digits, `-` and `_`, so it is always a plain file
/// name and never a path out of the themes folder.
fn is_theme_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= NAME_MAX_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// The theme called `name`: the user's `user_dir/NAME.toml` if there is one (laid over a
/// built-in, see the module docs), else the built-in theme of that name. Never fails: a file
/// that cannot be used gives the built-in of the same name (or the default) and a warning
/// naming the file, line and column; an unknown name gives the default theme and a warning
/// listing the themes there are. `user_dir` is normally [`user_themes_dir`].
pub fn resolve(name: &str, user_dir: Option<&Path>) -> (Theme, Option<ThemeWarning>) {
    if is_theme_name(name) {
        let user_file = user_dir
            .map(|dir| dir.join(format!("{name}.{THEME_FILE_EXTENSION}")))
            .filter(|path| path.is_file());
        if let Some(path) = user_file {
            return match load_user_theme(&path, name) {
                Ok(theme) => (theme, None),
                Err(error) => {
                    let fallback = Theme::builtin(name).unwrap_or_default();
                    let warning = ThemeWarning::BadFile {
                        error,
                        fallback: fallback.name.clone(),
                    };
                    (fallback, Some(warning))
                }
            };
        }
        if let Some(theme) = Theme::builtin(name) {
            return (theme, None);
        }
    }
    let warning = ThemeWarning::UnknownName {
        name: sanitize(name, NAME_MAX_CHARS),
        available: available(user_dir),
    };
    (Theme::default(), Some(warning))
}

fn load_user_theme(path: &Path, name: &str) -> Result<Theme, ConfigError> {
    let (label, text) = read_text_file(path)?;
    let implicit_base = Theme::builtin(name).unwrap_or_default();
    Theme::from_toml_over(&text, &implicit_base, name)
        .map_err(|error| ConfigError::at(&label, &text, error.offset(), error.to_string()))
}

/// Every theme name there is, in the order the theme key cycles through them: the built-ins,
/// then the user's themes in `user_dir` sorted by name. A user file named like a built-in
/// adjusts that built-in and is not listed twice. Files that are not `NAME.toml` with a
/// usable name are left out; an unreadable folder lists the built-ins only.
pub fn available(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_THEMES.iter().map(|name| name.to_string()).collect();
    let mut user_names: Vec<String> = user_dir
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != THEME_FILE_EXTENSION || !path.is_file() {
                return None;
            }
            let stem = path.file_stem()?.to_str()?;
            (is_theme_name(stem) && !BUILTIN_THEMES.contains(&stem)).then(|| stem.to_string())
        })
        .collect();
    user_names.sort();
    names.extend(user_names);
    names
}

/// The theme after `current` in `available`, wrapping from the last to the first. A `current`
/// that is not listed starts the cycle from the first; an empty list gives the default.
pub fn next_theme_name(current: &str, available: &[String]) -> String {
    let next = match available.iter().position(|name| name == current) {
        Some(index) => available.get((index + 1) % available.len()),
        None => available.first(),
    };
    next.cloned().unwrap_or_else(|| FALLBACK_THEME.to_string())
}

#[cfg(test)]
mod tests {
    use ratatui::style::Color;

    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn warning_text(warning: Option<ThemeWarning>) -> String {
        warning.expect("a warning").to_string()
    }

    #[test]
    fn a_partial_user_theme_keeps_the_default_for_what_it_leaves_out() {
        let dir = dir_with(&[(
            "mine.toml",
            "[colors]\nfail = \"light_red\"\nok = \"#00aa00\"\n",
        )]);
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert!(warning.is_none(), "{warning:?}");
        let default = Theme::default();
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.fail, Color::LightRed);
        assert_eq!(theme.ok, Color::Rgb(0, 0xaa, 0));
        assert_eq!(theme.warn, default.warn);
        assert_eq!(theme.background, default.background);
    }

    #[test]
    fn a_user_theme_extends_the_built_in_it_names() {
        let dir = dir_with(&[(
            "paper.toml",
            "name = \"Paper\"\nextends = \"light\"\n[colors]\naccent = \"208\"\n",
        )]);
        let (theme, warning) = resolve("paper", Some(dir.path()));
        assert!(warning.is_none(), "{warning:?}");
        let light = Theme::builtin("light").unwrap();
        // Named after the file, so the theme cycle finds it again.
        assert_eq!(theme.name, "paper");
        assert_eq!(theme.accent, Color::Indexed(208));
        assert_eq!(theme.background, light.background);
        assert_eq!(theme.fail, light.fail);
    }

    #[test]
    fn a_user_file_named_like_a_built_in_overrides_its_keys() {
        let dir = dir_with(&[("high-contrast.toml", "[colors]\nwarn = \"yellow\"\n")]);
        let (theme, warning) = resolve("high-contrast", Some(dir.path()));
        assert!(warning.is_none(), "{warning:?}");
        let builtin = Theme::builtin("high-contrast").unwrap();
        assert_eq!(theme.name, "high-contrast");
        assert_eq!(theme.warn, Color::Yellow);
        assert_eq!(theme.fail, builtin.fail);
        assert_eq!(theme.background, builtin.background);
        // Other built-ins are untouched by it.
        assert_eq!(resolve("default", Some(dir.path())).0, Theme::default());
    }

    #[test]
    fn extending_an_unknown_theme_warns_and_falls_back_to_the_default() {
        let dir = dir_with(&[("mine.toml", "# mine\nextends = \"sepia\"\n")]);
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        let file = dir.path().join("mine.toml").display().to_string();
        assert_eq!(
            warning_text(warning),
            format!(
                "{file}:2:11: extends \"sepia\", which is not a built-in theme (the built-ins \
                 are default, light, high-contrast, deuteranopia, tritanopia); using the \
                 built-in default theme"
            )
        );
    }

    #[test]
    fn a_bad_colour_names_the_file_line_and_column() {
        let text = "extends = \"default\"\n\n[colors]\nwarn   = \"mauve\"\n";
        let dir = dir_with(&[("mine.toml", text)]);
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        let file = dir.path().join("mine.toml").display().to_string();
        let warning = warning.expect("a warning");
        assert_eq!(
            warning.to_string(),
            format!(
                "{file}:4:10: colour \"mauve\" for key warn is not a name, #rrggbb or 0-255; \
                 using the built-in default theme"
            )
        );
        assert!(
            warning
                .report()
                .ends_with("\n  |\n4 | warn   = \"mauve\"\n  |          ^"),
            "{}",
            warning.report()
        );
    }

    #[test]
    fn a_broken_override_of_a_built_in_falls_back_to_that_built_in() {
        let dir = dir_with(&[("light.toml", "[colors]\nok = \"verdant\"\n")]);
        let (theme, warning) = resolve("light", Some(dir.path()));
        assert_eq!(Some(theme), Theme::builtin("light"));
        let text = warning_text(warning);
        assert!(
            text.contains("light.toml:2:6: colour \"verdant\""),
            "{text}"
        );
        assert!(text.ends_with("; using the built-in light theme"), "{text}");
    }

    #[test]
    fn bad_toml_names_the_line_and_column() {
        let dir = dir_with(&[("mine.toml", "[colors]\nok = \"#00ff00\nfail = \"red\"\n")]);
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        let text = warning_text(warning);
        let file = dir.path().join("mine.toml").display().to_string();
        // The unclosed string is reported where its closing quote was expected.
        assert!(
            text.starts_with(&format!("{file}:2:14: not valid TOML: ")),
            "{text}"
        );
        assert!(
            text.ends_with("; using the built-in default theme"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_key_names_the_key_and_the_allowed_ones() {
        let dir = dir_with(&[(
            "mine.toml",
            "[colors]\nok = \"green\"\nsparkle = \"pink\"\n",
        )]);
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        let text = warning_text(warning);
        assert!(
            text.contains(
                "mine.toml:3:1: unknown key `sparkle` in [colors]; the keys are background, \
                 surface, text,"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_colour_given_as_a_number_asks_for_a_string() {
        let dir = dir_with(&[("mine.toml", "[colors]\nwarn = 208\n")]);
        let text = warning_text(resolve("mine", Some(dir.path())).1);
        assert!(
            text.contains("mine.toml:2:8: warn must be a string such as \"red\", \"#ff8700\" or \"208\", found integer"),
            "{text}"
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_reported_where_it_breaks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            b"[colors]\nok = \"gr\xffen\"\n",
        )
        .unwrap();
        let (theme, warning) = resolve("mine", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        let text = warning_text(warning);
        assert!(
            text.contains("mine.toml:2:9: the file is not valid UTF-8"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_name_lists_the_built_ins_and_the_user_themes() {
        let dir = dir_with(&[("zebra.toml", "[colors]\n"), ("mine.toml", "[colors]\n")]);
        let (theme, warning) = resolve("sepia", Some(dir.path()));
        assert_eq!(theme, Theme::default());
        assert_eq!(
            warning_text(warning),
            "unknown theme \"sepia\"; the themes are default, light, high-contrast, \
             deuteranopia, tritanopia, mine, zebra; using the built-in default theme"
        );
        let (_, warning) = resolve("sepia", None);
        assert!(
            warning_text(warning).contains(
                "the themes are default, light, high-contrast, deuteranopia, tritanopia;"
            )
        );
    }

    #[test]
    fn names_that_are_paths_are_unknown_themes() {
        let dir = dir_with(&[("mine.toml", "[colors]\nok = \"red\"\n")]);
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        for name in ["../mine", "inner/../mine", "", ".", "mine.toml"] {
            let (theme, warning) = resolve(name, Some(&inner));
            assert_eq!(theme, Theme::default(), "{name:?}");
            assert!(
                matches!(warning, Some(ThemeWarning::UnknownName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn built_ins_resolve_without_a_user_dir() {
        for name in BUILTIN_THEMES {
            let (theme, warning) = resolve(name, None);
            assert!(warning.is_none(), "{name}");
            assert_eq!(Some(theme), Theme::builtin(name));
        }
        let missing = tempfile::tempdir().unwrap().path().join("gone");
        let (theme, warning) = resolve("light", Some(&missing));
        assert!(warning.is_none());
        assert_eq!(theme.name, "light");
    }

    #[test]
    fn available_lists_built_ins_then_user_themes_sorted() {
        let dir = dir_with(&[
            ("zebra.toml", ""),
            ("alpha.toml", ""),
            ("light.toml", ""),
            ("notes.txt", ""),
            ("bad name.toml", ""),
        ]);
        std::fs::create_dir(dir.path().join("folder.toml")).unwrap();
        assert_eq!(
            available(Some(dir.path())),
            [
                "default",
                "light",
                "high-contrast",
                "deuteranopia",
                "tritanopia",
                "alpha",
                "zebra"
            ]
        );
        assert_eq!(available(None), BUILTIN_THEMES);
    }

    #[test]
    fn next_theme_name_wraps_around() {
        let names: Vec<String> = ["default", "light", "mine"].map(String::from).to_vec();
        assert_eq!(next_theme_name("default", &names), "light");
        assert_eq!(next_theme_name("light", &names), "mine");
        assert_eq!(next_theme_name("mine", &names), "default");
        assert_eq!(next_theme_name("gone", &names), "default");
        assert_eq!(next_theme_name("light", &["light".to_string()]), "light");
        assert_eq!(next_theme_name("light", &[]), "default");
    }

    #[test]
    fn cycling_visits_every_available_theme_once() {
        let dir = dir_with(&[("mine.toml", "[colors]\nok = \"green\"\n")]);
        let names = available(Some(dir.path()));
        let mut current = "default".to_string();
        let mut seen = Vec::new();
        for _ in 0..names.len() {
            let (theme, warning) = resolve(&current, Some(dir.path()));
            assert!(warning.is_none(), "{current}");
            seen.push(theme.name.clone());
            current = next_theme_name(&theme.name, &names);
        }
        assert_eq!(seen, names);
        assert_eq!(current, "default");
    }
}
