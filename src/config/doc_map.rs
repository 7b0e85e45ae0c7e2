//! A map of where every key and value sits in the TOML text, built from toml's spanned
//! document. Validation asks it for the span of a key path; error translation asks it which
//! key path a byte offset falls in, and how to name that place for a human
//! (`[github] repo`, `[[environment]] #2 (prod) url`).

use std::ops::Range;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::sanitize;

/// Longest element name quoted in a place description.
const NAME_MAX_CHARS: usize = 40;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    /// Position in an array, 0-based.
    Index(usize),
}

/// A key step of a path.
pub(crate) fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// An array step of a path (0-based).
pub(crate) fn index(i: usize) -> Seg {
    Seg::Index(i)
}

/// What the map found at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: Vec<Seg>,
    /// The offset lies in the key itself, not its value.
    pub in_key: bool,
}

pub struct DocumentMap<'a> {
    root: Spanned<DeTable<'a>>,
}

impl<'a> DocumentMap<'a> {
    /// Parses `text` with toml's error-recovering parser (so a map exists even for a file with
    /// syntax errors) and returns the map and the syntax errors.
    pub fn parse(text: &'a str) -> (Self, Vec<toml::de::Error>) {
        let (root, errors) = DeTable::parse_recoverable(text);
        (Self { root }, errors)
    }

    /// The whole document, ready for serde. Cloning keeps the map usable for positions.
    pub fn root_for_serde(&self) -> Spanned<DeTable<'a>> {
        self.root.clone()
    }

    fn value(&self, path: &[Seg]) -> Option<&Spanned<DeValue<'a>>> {
        let (first, rest) = path.split_first()?;
        let Seg::Key(name) = first else { return None };
        let mut current = self.root.get_ref().get(name.as_str())?;
        for seg in rest {
            current = match (seg, current.get_ref()) {
                (Seg::Key(name), DeValue::Table(table)) => table.get(name.as_str())?,
                (Seg::Index(i), DeValue::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The span of the value at `path` (for a table: its header).
    pub fn value_span(&self, path: &[Seg]) -> Option<Range<usize>> {
        if path.is_empty() {
            return Some(self.root.span());
        }
        self.value(path).map(Spanned::span)
    }

    /// The span of the value at `path`, else of the nearest ancestor that exists, else the
    /// start of the file: where to point when a value is missing or came from a default.
    pub fn nearest_span(&self, path: &[Seg]) -> Range<usize> {
        (0..=path.len())
            .rev()
            .find_map(|len| self.value_span(&path[..len]))
            .unwrap_or(0..0)
    }

    /// The deepest key or value whose span contains `offset`.
    pub fn find(&self, offset: usize) -> Option<Found> {
        let mut best: Option<(Found, usize)> = None;
        let mut path = Vec::new();
        walk_table(self.root.get_ref(), offset, &mut path, &mut best);
        best.map(|(found, _)| found)
    }

    /// Every key named `name`, as `(path to it, span of the key)`, in no particular order.
    pub fn keys_named(&self, name: &str) -> Vec<(Vec<Seg>, Range<usize>)> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        collect_keys(self.root.get_ref(), name, &mut path, &mut out);
        out
    }

    /// How to name the table at `path` for a human: `[github]`,
    /// `[[environment]] #2 (prod)`, `[[environment.service]] #1 (web)`; empty for the root.
    pub fn describe_table(&self, path: &[Seg]) -> String {
        let keys: Vec<&str> = path
            .iter()
            .filter_map(|seg| match seg {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .collect();
        if keys.is_empty() {
            return String::new();
        }
        let dotted = sanitize(&keys.join("."), 80);
        match path.last() {
            Some(Seg::Index(i)) => {
                let name = self
                    .value(&[path, &[key("name")]].concat())
                    .and_then(|v| v.get_ref().as_str())
                    .map(|n| format!(" ({})", sanitize(n, NAME_MAX_CHARS)))
                    .unwrap_or_default();
                format!("[[{dotted}]] #{}{name}", i + 1)
            }
            _ => format!("[{dotted}]"),
        }
    }

    /// How to name the key or value at `path`: the innermost table that holds it, then the
    /// rest of the path (`[github] repo`, `[[pipeline.stage]] #3 (Typecheck) jobs #2`,
    /// `read_only`).
    pub fn describe(&self, path: &[Seg]) -> String {
        let table_len = (0..=path.len())
            .rev()
            .find(|&len| {
                len > 0
                    && matches!(
                        self.value(&path[..len]).map(Spanned::get_ref),
                        Some(DeValue::Table(_))
                    )
            })
            .unwrap_or(0);
        let table = self.describe_table(&path[..table_len]);
        let rest: Vec<String> = path[table_len..]
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => sanitize(k, 80),
                Seg::Index(i) => format!("#{}", i + 1),
            })
            .collect();
        let rest = rest.join(" ");
        match (table.is_empty(), rest.is_empty()) {
            (true, _) => rest,
            (false, true) => table,
            (false, false) => format!("{table} {rest}"),
        }
    }
}

fn walk_table(
    table: &DeTable<'_>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(Found, usize)>,
) {
    for (name, value) in table.iter() {
        path.push(Seg::Key(name.get_ref().to_string()));
        consider(name.span(), true, offset, path, best);
        walk_value(value, offset, path, best);
        path.pop();
    }
}

fn walk_value(
    value: &Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(Found, usize)>,
) {
    consider(value.span(), false, offset, path, best);
    match value.get_ref() {
        DeValue::Table(table) => walk_table(table, offset, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk_value(item, offset, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Keeps the candidate with the narrowest span containing `offset` (deeper wins ties).
fn consider(
    span: Range<usize>,
    in_key: bool,
    offset: usize,
    path: &[Seg],
    best: &mut Option<(Found, usize)>,
) {
    let contains = span.contains(&offset) || (span.is_empty() && span.start == offset);
    if !contains {
        return;
    }
    let width = span.len();
    let better = match best {
        None => true,
        Some((found, best_width)) => {
            width < *best_width || (width == *best_width && path.len() >= found.path.len())
        }
    };
    if better {
        *best = Some((
            Found {
                path: path.to_vec(),
                in_key,
            },
            width,
        ));
    }
}

fn collect_keys(
    table: &DeTable<'_>,
    wanted: &str,
    path: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, Range<usize>)>,
) {
    for (name, value) in table.iter() {
        path.push(Seg::Key(name.get_ref().to_string()));
        if name.get_ref() == wanted {
            out.push((path.clone(), name.span()));
        }
        collect_in_value(value.get_ref(), wanted, path, out);
        path.pop();
    }
}

fn collect_in_value(
    value: &DeValue<'_>,
    wanted: &str,
    path: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, Range<usize>)>,
) {
    match value {
        DeValue::Table(table) => collect_keys(table, wanted, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                collect_in_value(item.get_ref(), wanted, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "read_only = true\n[github]\nrepo = \"a/b\"\n\n[[environment]]\nname = \"dev\"\n\n[[environment]]\nname = \"prod\"\nurl = \"https://x\"\n[[environment.service]]\nname = \"web\"\n";

    #[test]
    fn finds_value_spans_by_path() {
        let (map, errors) = DocumentMap::parse(TEXT);
        assert!(errors.is_empty());
        let span = map
            .value_span(&[key("environment"), index(1), key("url")])
            .unwrap();
        assert_eq!(&TEXT[span], "\"https://x\"");
        let missing = map.nearest_span(&[key("environment"), index(0), key("url")]);
        assert_eq!(&TEXT[missing], "[[environment]]");
    }

    #[test]
    fn finds_the_path_at_an_offset() {
        let (map, _) = DocumentMap::parse(TEXT);
        let offset = TEXT.find("https").unwrap();
        let found = map.find(offset).unwrap();
        assert_eq!(found.path, vec![key("environment"), index(1), key("url")]);
        assert!(!found.in_key);
        let found = map.find(TEXT.find("repo").unwrap()).unwrap();
        assert_eq!(found.path, vec![key("github"), key("repo")]);
        assert!(found.in_key);
    }

    #[test]
    fn describes_places_for_humans() {
        let (map, _) = DocumentMap::parse(TEXT);
        assert_eq!(map.describe(&[key("github"), key("repo")]), "[github] repo");
        assert_eq!(map.describe(&[key("read_only")]), "read_only");
        assert_eq!(
            map.describe(&[key("environment"), index(1), key("url")]),
            "[[environment]] #2 (prod) url"
        );
        assert_eq!(
            map.describe(&[key("environment"), index(1), key("service"), index(0)]),
            "[[environment.service]] #1 (web)"
        );
    }
}
