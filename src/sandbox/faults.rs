//! The sandbox's fault plans: rules that make GitHub or Sentry requests fail on purpose
//! (server errors, rate limits, a write that is applied but never answered, a garbled body, a
//! 409 race), so tests can prove shipdeck survives them. Rules match on method and path
//! pattern, optionally only the nth matching request; the first matching rule wins.
//! Deterministic: no randomness.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::http::lock;

/// What a matching request gets instead of its normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum FaultEffect {
    /// A 5xx with GitHub's error JSON; nothing is applied.
    ServerError { status: u16 },
    /// Primary rate limit: 403 with `x-ratelimit-remaining: 0` and a reset time.
    RateLimited,
    /// Secondary rate limit: 429 with `retry-after`.
    RetryAfter { seconds: u64 },
    /// The write is applied, then no answer ever comes: the client times out.
    TimeoutAfterApply,
    /// The request is lost on the way: nothing is applied and no answer ever comes.
    TimeoutBeforeApply,
    /// 200 with a body that is not JSON; nothing is applied.
    MalformedBody,
    /// 409 Conflict before anything is applied (someone else raced us).
    #[serde(rename = "conflict_409")]
    Conflict409,
}

/// One rule of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method (`PATCH`, `POST`, ...); `WRITE` matches every method but GET and HEAD;
    /// absent matches any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path pattern: segments separated by `/`; `*` matches one segment, a trailing `**`
    /// matches the rest (e.g. `/repos/*/*/git/refs/**`).
    pub path: String,
    /// Only the nth matching request (1-based); absent: every matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    pub effect: FaultEffect,
}

impl FaultRule {
    pub fn new(method: &str, path: &str, effect: FaultEffect) -> FaultRule {
        FaultRule {
            method: Some(method.to_ascii_uppercase()),
            path: path.to_string(),
            nth: None,
            effect,
        }
    }

    /// Applies only to the nth matching request (1-based).
    pub fn nth(mut self, n: u64) -> FaultRule {
        self.nth = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let is_write = !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD");
        self.method.as_deref().is_none_or(|m| {
            m.eq_ignore_ascii_case(method) || (m.eq_ignore_ascii_case("WRITE") && is_write)
        }) && path_matches(&self.path, path)
    }
}

/// Whether `path` fits `pattern` (`*` one segment, trailing `**` the rest).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut i = 0;
    for (position, part) in pattern.iter().enumerate() {
        if *part == "**" && position + 1 == pattern.len() {
            return true;
        }
        match path.get(i) {
            Some(segment) if *part == "*" || part == segment => i += 1,
            _ => return false,
        }
    }
    i == path.len()
}

#[derive(Debug, Default)]
struct PlanState {
    rules: Vec<FaultRule>,
    /// How many requests each rule has matched so far (for `nth`).
    seen: Vec<u64>,
}

/// The live plan, shared by the servers and the test that steers it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<PlanState>>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Faults {
        let faults = Faults::default();
        for rule in rules {
            faults.add(rule);
        }
        faults
    }

    pub fn add(&self, rule: FaultRule) {
        let mut state = lock(&self.state);
        state.rules.push(rule);
        state.seen.push(0);
    }

    pub fn clear(&self) {
        let mut state = lock(&self.state);
        state.rules.clear();
        state.seen.clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.state).rules.clone()
    }

    /// The effect for this request, if a rule fires. Counts the request for every rule it
    /// matches, so `nth` means "the nth request this rule's pattern saw".
    pub fn effect_for(&self, method: &str, path: &str) -> Option<FaultEffect> {
        let mut state = lock(&self.state);
        let PlanState { rules, seen } = &mut *state;
        let mut fired = None;
        for (rule, count) in rules.iter().zip(seen.iter_mut()) {
            if !rule.matches(method, path) {
                continue;
            }
            *count += 1;
            if fired.is_none() && rule.nth.is_none_or(|n| n == *count) {
                fired = Some(rule.effect.clone());
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments_and_rest() {
        assert!(path_matches(
            "/repos/*/*/git/refs/**",
            "/repos/acme/shop/git/refs/heads/prod"
        ));
        assert!(path_matches(
            "/repos/*/*/pulls/*/merge",
            "/repos/a/b/pulls/7/merge"
        ));
        assert!(!path_matches(
            "/repos/*/*/pulls/*/merge",
            "/repos/a/b/pulls/7"
        ));
        assert!(!path_matches("/repos/*/*/pulls", "/repos/a/b/pulls/7"));
        assert!(path_matches("/rate_limit", "/rate_limit"));
    }

    #[test]
    fn nth_fires_once_and_method_must_match() {
        let faults = Faults::new(vec![
            FaultRule::new("POST", "/repos/*/*/deployments", FaultEffect::Conflict409).nth(2),
        ]);
        let path = "/repos/acme/shop/deployments";
        assert_eq!(faults.effect_for("GET", path), None);
        assert_eq!(faults.effect_for("POST", path), None);
        assert_eq!(
            faults.effect_for("post", path),
            Some(FaultEffect::Conflict409)
        );
        assert_eq!(faults.effect_for("POST", path), None);
        faults.clear();
        faults.add(FaultRule::new("WRITE", "/repos/**", FaultEffect::TimeoutBeforeApply).nth(2));
        assert_eq!(faults.effect_for("GET", path), None);
        assert_eq!(faults.effect_for("PATCH", path), None);
        assert_eq!(
            faults.effect_for("DELETE", path),
            Some(FaultEffect::TimeoutBeforeApply)
        );
        faults.clear();
        assert!(faults.rules().is_empty());
    }

    #[test]
    fn rules_load_from_toml() {
        #[derive(Deserialize)]
        struct Holder {
            faults: Vec<FaultRule>,
        }
        let text = r#"
            [[faults]]
            method = "PATCH"
            path = "/repos/*/*/git/refs/**"
            nth = 1
            effect = { kind = "server_error", status = 502 }

            [[faults]]
            path = "/repos/*/*/actions/**"
            effect = { kind = "retry_after", seconds = 30 }

            [[faults]]
            path = "/repos/*/*/pulls/*/merge"
            effect = { kind = "conflict_409" }

            [[faults]]
            path = "/repos/*/*/git/refs"
            effect = { kind = "timeout_after_apply" }
        "#;
        let holder: Holder = toml::from_str(text).unwrap();
        assert_eq!(
            holder.faults[0].effect,
            FaultEffect::ServerError { status: 502 }
        );
        assert_eq!(holder.faults[1].method, None);
        assert_eq!(holder.faults[2].effect, FaultEffect::Conflict409);
        assert_eq!(holder.faults[3].effect, FaultEffect::TimeoutAfterApply);
    }
}
