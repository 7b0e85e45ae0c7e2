//! The checks of `[[environment.promotion.checklist]]`: ids short, usable on a command line
//! and unique within their environment; texts and labels not empty.

use std::collections::HashMap;

use super::{Checker, quote, with};
use crate::config::doc_map::{index, key};
use crate::config::error::Position;
use crate::config::types::Config;

/// Longest checklist item id: it is typed after `--tick` and shown in gate reasons.
const ID_MAX_CHARS: usize = 40;

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= ID_MAX_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Checker<'_, '_> {
    pub(super) fn checklists(&mut self, config: &Config) {
        for (i, env) in config.environments.iter().enumerate() {
            let Some(promotion) = &env.promotion else {
                continue;
            };
            let env_name = env.name.get_ref().as_str();
            let list = [
                key("environment"),
                index(i),
                key("promotion"),
                key("checklist"),
            ];
            let mut first_seen: HashMap<&str, usize> = HashMap::new();
            for (j, item) in promotion.checklist.iter().enumerate() {
                let element = with(&list, &[index(j)]);
                let id = item.id.get_ref().as_str();
                let id_path = with(&element, &[key("id")]);
                if id.trim().is_empty() {
                    self.report_in(env_name, &id_path, "must not be empty");
                } else if !is_id(id) {
                    self.report_in(
                        env_name,
                        &id_path,
                        format!(
                            "must be at most {ID_MAX_CHARS} letters, digits, \"-\" or \"_\" \
                             (e.g. \"rollback-plan\"), found {}",
                            quote(id)
                        ),
                    );
                } else if let Some(&first) = first_seen.get(id) {
                    let first_path = with(&list, &[index(first), key("id")]);
                    let first_position =
                        Position::of_offset(self.text, self.map.nearest_span(&first_path).start);
                    self.report_in(
                        env_name,
                        &id_path,
                        format!(
                            "duplicate checklist item id {} (first used by item #{} at \
                             {first_position})",
                            quote(id),
                            first + 1
                        ),
                    );
                } else {
                    first_seen.insert(id, j);
                }
                if item.text.get_ref().trim().is_empty() {
                    self.report_in(
                        env_name,
                        &with(&element, &[key("text")]),
                        "must not be empty",
                    );
                }
                if let Some(label) = &item.label
                    && label.get_ref().trim().is_empty()
                {
                    self.report_in(
                        env_name,
                        &with(&element, &[key("label")]),
                        "must not be empty; leave label out for an item only a captain ticks",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_command_line_words() {
        assert!(is_id("rollback-plan"));
        assert!(is_id("flags_2"));
        assert!(!is_id(""));
        assert!(!is_id("rollback plan"));
        assert!(!is_id("a,b"));
        assert!(!is_id(&"x".repeat(ID_MAX_CHARS + 1)));
    }
}
