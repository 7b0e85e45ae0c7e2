//! Small derived views of configuration values that several modules need the same way.

use crate::config::types::{Config, GithubConfig, SmokeCheckConfig, VerifyConfig};

/// The placeholder for the environment's base URL in a smoke check path.
pub const URL_PLACEHOLDER: &str = "{url}";

impl SmokeCheckConfig {
    /// The full URL of this check against an environment whose app lives at `base_url`:
    /// `{url}` in the path is replaced by the base URL, otherwise the path is appended to it;
    /// either way with exactly one `/` at the seam.
    pub fn url_for(&self, base_url: &str) -> String {
        let base = base_url.trim_end_matches('/');
        if self.path.contains(URL_PLACEHOLDER) {
            let mut out = String::with_capacity(self.path.len() + base.len());
            let mut rest = self.path.as_str();
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
            format!("{base}/{}", self.path.trim_start_matches('/'))
        }
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
        check.path = path.to_string();
        check
    }

    #[test]
    fn joins_path_and_base_with_one_slash() {
        for base in ["https://app.example", "https://app.example/"] {
            assert_eq!(
                check_with_path("/healthz").url_for(base),
                "https://app.example/healthz"
            );
            assert_eq!(
                check_with_path("//healthz").url_for(base),
                "https://app.example/healthz"
            );
        }
        assert_eq!(
            check_with_path("/").url_for("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn keeps_a_base_path_prefix() {
        assert_eq!(
            check_with_path("/healthz").url_for("https://example.com/shop/"),
            "https://example.com/shop/healthz"
        );
    }

    #[test]
    fn replaces_the_url_placeholder() {
        assert_eq!(
            check_with_path("{url}/api/ping?x=1").url_for("https://a.example/"),
            "https://a.example/api/ping?x=1"
        );
        assert_eq!(
            check_with_path("{url}//api").url_for("https://a.example"),
            "https://a.example/api"
        );
        assert_eq!(
            check_with_path("{url}").url_for("https://a.example/"),
            "https://a.example"
        );
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
