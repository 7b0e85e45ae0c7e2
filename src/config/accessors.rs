//! Small derived views of configuration values that several modules need the same way.

use crate::config::types::{
    Config, FlowStepConfig, GithubConfig, SmokeCheckConfig, UntilConfig, VerifyConfig,
};

/// The placeholder for the environment's base URL in a smoke check path.
pub const URL_PLACEHOLDER: &str = "{url}";

/// `path` joined to an environment's `base_url`: `{url}` in the path is replaced by the base
/// URL, otherwise the path is appended to it; either way with exactly one `/` at the seam.
pub fn join_url(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if path.contains(URL_PLACEHOLDER) {
        let mut out = String::with_capacity(path.len() + base.len());
        let mut rest = path;
        while let Some(at) = rest.find(URL_PLACEHOLDER) {
            out.push_str(&rest[..at]);
            out.push_str(base);
            rest = &rest[at + URL_PLACEHOLDER.len()..];
            if rest.starts_with('/') {
                rest = rest.trim_start_matches('/');
                out.push('/');
            }
        }
        out.push_str(rest);
        out
    } else {
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

/// One piece of a text that may hold flow placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    Text(&'a str),
    /// `{name}`: a value extracted by an earlier step (never `{url}`, which is the base URL).
    Value(&'a str),
}

/// Whether `name` may name an extracted value: a letter or `_`, then letters, digits, `_`
/// or `-`; never `url`.
pub fn is_value_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name != "url"
}

/// Splits `text` at its placeholders: `{name}` with a name as [`is_value_name`] allows is a
/// value; every other brace (JSON in a body, `{url}`) is plain text.
pub fn template_parts(text: &str) -> Vec<TemplatePart<'_>> {
    let mut parts = Vec::new();
    let mut plain_from = 0;
    let mut search_from = 0;
    while let Some(open) = text[search_from..].find('{').map(|i| i + search_from) {
        let Some(close) = text[open..].find('}').map(|i| i + open) else {
            break;
        };
        let name = &text[open + 1..close];
        if is_value_name(name) {
            if open > plain_from {
                parts.push(TemplatePart::Text(&text[plain_from..open]));
            }
            parts.push(TemplatePart::Value(name));
            plain_from = close + 1;
            search_from = close + 1;
        } else {
            search_from = open + 1;
        }
    }
    if plain_from < text.len() {
        parts.push(TemplatePart::Text(&text[plain_from..]));
    }
    parts
}

/// The value names `text` uses, in order (repeats included).
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    template_parts(text)
        .into_iter()
        .filter_map(|part| match part {
            TemplatePart::Value(name) => Some(name),
            TemplatePart::Text(_) => None,
        })
}

impl SmokeCheckConfig {
    /// The full URL of this check's request against an environment whose app lives at
    /// `base_url` (see [`join_url`]); `None` for a flow, whose steps have the paths.
    pub fn url_for(&self, base_url: &str) -> Option<String> {
        self.path.as_deref().map(|path| join_url(base_url, path))
    }

    /// Whether this check is a flow of steps rather than one request.
    pub fn is_flow(&self) -> bool {
        self.steps.is_some()
    }
}

impl FlowStepConfig {
    /// Every value name this step uses, with the key path (inside the step) of the text it
    /// was found in, e.g. `(["headers", "authorization"], "token")`, in the order path,
    /// headers, body, body_contains, json_equals, poll.
    pub fn used_values(&self) -> Vec<(Vec<&str>, &str)> {
        let mut texts: Vec<(Vec<&str>, &str)> = vec![(vec!["path"], self.path.as_str())];
        texts.extend(
            self.headers
                .iter()
                .map(|(name, value)| (vec!["headers", name.as_str()], value.as_str())),
        );
        if let Some(body) = &self.body {
            texts.push((vec!["body"], body));
        }
        if let Some(needle) = &self.body_contains {
            texts.push((vec!["body_contains"], needle));
        }
        if let Some(toml::Value::String(expected)) = &self.json_equals {
            texts.push((vec!["json_equals"], expected));
        }
        if let Some(until) = self.poll.as_ref().and_then(|poll| poll.until.as_ref()) {
            texts.extend(until.strings().map(|text| (vec!["poll", "until"], text)));
        }
        texts
            .into_iter()
            .flat_map(|(at, text)| placeholders(text).map(move |name| (at.clone(), name)))
            .collect()
    }

    /// The latency budget of this step's request: its own, else the check's.
    pub fn latency_budget(&self, check: &SmokeCheckConfig) -> std::time::Duration {
        self.max_latency.unwrap_or(check.max_latency).get()
    }
}

impl UntilConfig {
    /// The string values it compares with, where placeholders may stand.
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        self.equals
            .iter()
            .chain(self.one_of.iter().flatten())
            .filter_map(toml::Value::as_str)
    }
}

impl GithubConfig {
    /// `("owner", "name")` from `repo`. Validation guarantees the `owner/name` shape; an
    /// unvalidated value without a `/` gives `(repo, "")`.
    pub fn owner_and_name(&self) -> (&str, &str) {
        let repo = self.repo.get_ref().as_str();
        repo.split_once('/').unwrap_or((repo, ""))
    }
}

impl Config {
    /// The index of the environment `index` promotes from, when it promotes at all.
    pub fn promotion_source(&self, index: usize) -> Option<usize> {
        let promotion = self.environments.get(index)?.promotion.as_ref()?;
        match &promotion.from {
            Some(from) => self
                .environments
                .iter()
                .position(|e| e.name.get_ref() == from.get_ref()),
            None => index.checked_sub(1),
        }
    }

    /// How deploys into environment `index` are verified, or `None` when they are not. An
    /// environment without a `[environment.verify]` table is verified with the defaults when
    /// nothing promotes from it: the end of the chain, where users are.
    pub fn verification(&self, index: usize) -> Option<VerifyConfig> {
        let env = self.environments.get(index)?;
        let end_of_chain =
            (0..self.environments.len()).all(|other| self.promotion_source(other) != Some(index));
        let verify = env.verify.clone().unwrap_or_else(VerifyConfig::defaults);
        verify
            .enabled
            .unwrap_or(end_of_chain || env.verify.is_some())
            .then_some(verify)
    }
}

impl VerifyConfig {
    /// The table as if written empty.
    pub fn defaults() -> Self {
        use crate::config::defaults as d;
        Self {
            enabled: None,
            window: d::verify_window(),
            baseline: d::verify_baseline(),
            watch: None,
            max_increase: d::max_increase(),
            min_events: d::min_events(),
            new_issue_events: d::new_issue_events(),
            availability: d::availability(),
            auto_rollback: true,
            max_auto_rollbacks: d::max_auto_rollbacks(),
            open_issue: true,
            issue_labels: d::issue_labels(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_spanned::Spanned;

    use super::*;
    use crate::config::defaults::smoke_checks;

    fn check_with_path(path: &str) -> SmokeCheckConfig {
        let mut check = smoke_checks().remove(0);
        check.path = Some(path.to_string());
        check
    }

    fn url(path: &str, base: &str) -> String {
        check_with_path(path).url_for(base).unwrap_or_default()
    }

    #[test]
    fn joins_path_and_base_with_one_slash() {
        for base in ["https://app.example", "https://app.example/"] {
            assert_eq!(url("/healthz", base), "https://app.example/healthz");
            assert_eq!(url("//healthz", base), "https://app.example/healthz");
        }
        assert_eq!(url("/", "http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
    }

    #[test]
    fn keeps_a_base_path_prefix() {
        assert_eq!(
            url("/healthz", "https://example.com/shop/"),
            "https://example.com/shop/healthz"
        );
    }

    #[test]
    fn replaces_the_url_placeholder() {
        assert_eq!(
            url("{url}/api/ping?x=1", "https://a.example/"),
            "https://a.example/api/ping?x=1"
        );
        assert_eq!(
            url("{url}//api", "https://a.example"),
            "https://a.example/api"
        );
        assert_eq!(url("{url}", "https://a.example/"), "https://a.example");
    }

    #[test]
    fn finds_value_placeholders_and_leaves_other_braces() {
        use TemplatePart::{Text, Value};
        assert_eq!(
            template_parts("/api/jobs/{job_id}/x"),
            [Text("/api/jobs/"), Value("job_id"), Text("/x")]
        );
        assert_eq!(
            template_parts(r#"{"id":"{job_id}","n":{n}}"#),
            [
                Text(r#"{"id":""#),
                Value("job_id"),
                Text(r#"","n":"#),
                Value("n"),
                Text("}")
            ]
        );
        assert_eq!(template_parts("{url}/a/{ b }{"), [Text("{url}/a/{ b }{")]);
        assert_eq!(template_parts("{a}{b}"), [Value("a"), Value("b")]);
        assert_eq!(template_parts(""), []);
        assert_eq!(placeholders("é{ä}{x-1}").collect::<Vec<_>>(), ["x-1"]);
        assert!(is_value_name("_a9-b") && !is_value_name("9a") && !is_value_name("url"));
    }

    #[test]
    fn splits_owner_and_name() {
        let github = GithubConfig {
            api_url: crate::config::defaults::github_api_url(),
            repo: Spanned::new(0..0, "acme/shop".to_string()),
            token_env: None,
        };
        assert_eq!(github.owner_and_name(), ("acme", "shop"));
    }
}
