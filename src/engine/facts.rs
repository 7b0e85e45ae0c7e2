//! Gathers what the gates need (from the published snapshot where it already is, from GitHub
//! where it is not) and turns it into the previews the screen shows: what the next promotion
//! into an environment would move and whether its gates allow it, and where a rollback would
//! go. The gate decisions themselves are the pure functions in [`super::gates`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::gates::{self, ForwardCheck, LockHolder, PromotionFacts, RollbackFacts, SourceDeploy};
use super::plan::{self, short_sha};
use super::pollers::pipeline_at;
use crate::config::{Config, EnvironmentConfig, PromotionStrategy};
use crate::model::{
    ActionKind, ActionPreview, CommitLine, EnvironmentSnapshot, GateReport, LockView,
    PipelineState, SafeText, Snapshot,
};
use crate::sources::SourceError;
use crate::sources::github::GithubClient;

/// How many commits a preview lists.
const COMMITS_LISTED: usize = 20;
/// How many deployments of an environment are read to find the previous good one.
pub const HISTORY_DEPTH: usize = 30;
/// Smoke results older than this are not "passing now".
const SMOKE_FRESH_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What a preview costs to recompute, remembered between rounds so an idle screen does not
/// spend the rate limit: comparisons and pipelines of a commit pair don't change once
/// finished.
#[derive(Debug, Default)]
pub struct FactsCache {
    comparisons: BTreeMap<(String, String), Comparison>,
    pipelines: BTreeMap<String, PipelineState>,
    /// The rollback preview's inputs (latest deployment id, the commit running) and its
    /// target. Both count: a deployment's id stays while its status moves on to success,
    /// and with it what runs, and so what "the previous good one" is.
    history: BTreeMap<String, (HistoryStamp, Option<String>)>,
}

/// What a rollback target was worked out from: the latest deployment's id and what runs.
type HistoryStamp = (u64, Option<String>);

/// The part of a comparison a preview uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub status: String,
    pub commits: Vec<CommitLine>,
    pub total_commits: usize,
    pub files: Vec<String>,
}

impl FactsCache {
    fn remember_comparison(&mut self, key: (String, String), value: Comparison) {
        if self.comparisons.len() > 64 {
            self.comparisons.clear();
        }
        self.comparisons.insert(key, value);
    }
}

async fn compare(
    github: &GithubClient,
    cache: &mut FactsCache,
    base: &str,
    head: &str,
) -> Result<Comparison, SourceError> {
    let key = (base.to_string(), head.to_string());
    if let Some(found) = cache.comparisons.get(&key) {
        return Ok(found.clone());
    }
    let raw = github.compare(base, head).await?;
    let comparison = Comparison {
        status: raw.status.as_str().to_string(),
        total_commits: raw.total_commits,
        commits: raw.commits,
        files: raw.files,
    };
    cache.remember_comparison(key, comparison.clone());
    Ok(comparison)
}

/// The commit a promotion into `target` would move: the one the source runs (its first
/// service's last success), or the source branch's head when the source has no deploy record.
pub fn candidate_of(source: &EnvironmentSnapshot) -> Option<String> {
    let has_deploy_record = source.services.iter().any(|s| s.latest.is_some());
    if has_deploy_record {
        source
            .services
            .first()
            .and_then(|s| s.running_sha())
            .map(str::to_string)
    } else {
        source.head.as_ref().map(|h| h.sha.clone())
    }
}

/// A lock as the gates see it.
pub fn lock_holder(lock: Option<&LockView>, now: DateTime<Utc>) -> Option<LockHolder> {
    lock.map(|lock| LockHolder {
        holder: lock.holder.as_str().to_string(),
        age: lock
            .since
            .and_then(|since| (now - since).to_std().ok())
            .unwrap_or(Duration::ZERO),
    })
}

/// Everything about a promotion into `target_index`: the facts, the gates, the preview.
pub struct PromotionView {
    pub preview: ActionPreview,
    pub facts: Option<PromotionFacts>,
}

/// Evaluates the promotion into the environment at `target_index` (which must have a
/// promotion). `requested_sha` replaces the candidate (a full SHA, already resolved).
#[allow(clippy::too_many_arguments)]
pub async fn promotion_view(
    config: &Config,
    target_index: usize,
    snapshot: &Snapshot,
    github: &GithubClient,
    lock: Option<&LockView>,
    cache: &mut FactsCache,
    now: DateTime<Utc>,
    requested_sha: Option<&str>,
    override_freeze: Option<&str>,
) -> Option<PromotionView> {
    let target_config = config.environments.get(target_index)?;
    let policy = target_config.promotion.as_ref()?;
    let target = snapshot.environments.get(target_index)?;
    let source_config = plan::source_of(config, target_config)?;
    let source_index = config
        .environments
        .iter()
        .position(|e| e.name.get_ref() == source_config.name.get_ref())?;
    let source = snapshot.environments.get(source_index)?;
    let target_name = target_config.name.get_ref().as_str();

    let candidate = requested_sha
        .map(str::to_string)
        .or_else(|| candidate_of(source));
    let freeze = gates::freeze_state(&config.freezes, target_name, now);
    let freeze_note = freeze_note(&freeze);
    let mut preview = ActionPreview {
        kind: ActionKind::Promote,
        target: SafeText::with_max(target_name, 40),
        source: Some(SafeText::with_max(source_config.name.get_ref(), 40)),
        sha: candidate.clone(),
        subject: None,
        from_sha: target.deployed().map(|c| c.sha.clone()),
        commits: Vec::new(),
        more_commits: 0,
        high_risk_files: Vec::new(),
        checklist: Vec::new(),
        gates: GateReport::default(),
        freeze_note,
        evaluated_at: now,
        snapshot_version: snapshot.version,
    };
    let Some(candidate) = candidate else {
        preview.gates = GateReport {
            gates: vec![crate::model::Gate::new(
                crate::model::GateKind::SourceDeployed,
                crate::model::GateState::Unknown,
                "nothing deployed",
                "a deployed commit to promote",
                &format!(
                    "{} has no deployed commit to promote yet",
                    source_config.name.get_ref()
                ),
            )],
        };
        return Some(PromotionView {
            preview,
            facts: None,
        });
    };

    // The candidate's own pipeline, on the source branch.
    let pipeline = match source.pipeline.as_ref().filter(|p| p.sha == candidate) {
        Some(p) if p.status.is_finished() => Some(p.clone()),
        _ => match cache.pipelines.get(&candidate) {
            Some(p) => Some(p.clone()),
            None => {
                let fetched =
                    pipeline_at(github, &config.pipeline, &source_config.branch, &candidate)
                        .await
                        .ok()
                        .flatten();
                if let Some(p) = fetched.as_ref().filter(|p| p.status.is_finished()) {
                    if cache.pipelines.len() > 64 {
                        cache.pipelines.clear();
                    }
                    cache.pipelines.insert(candidate.clone(), p.clone());
                }
                fetched
            }
        },
    };

    let mut required_checks = BTreeMap::new();
    if !policy.required_checks.is_empty() {
        if let Ok(runs) = github.check_runs(&candidate).await {
            required_checks.extend(
                runs.into_iter()
                    .map(|(name, status)| (name.as_str().to_string(), status)),
            );
        }
        if let Ok(statuses) = github.commit_statuses(&candidate).await {
            for (name, status) in statuses {
                required_checks
                    .entry(name.as_str().to_string())
                    .or_insert(status);
            }
        }
        required_checks.retain(|name, _| policy.required_checks.contains(name));
    }

    let first_source_service = source.services.first();
    let source_deploy = first_source_service
        .and_then(|s| s.latest.as_ref())
        .map(|d| SourceDeploy {
            sha: d.sha.clone(),
            status: d.status,
        });
    let running_since = first_source_service
        .and_then(|s| s.last_success.as_ref())
        .filter(|d| d.sha == candidate)
        .and_then(|d| d.at);
    let smoke_fresh = source
        .health
        .smoke
        .last_success
        .is_some_and(|at| now - at <= SMOKE_FRESH_FOR);
    let source_smoke = (smoke_fresh && !source.smoke.is_empty()).then(|| source.smoke.clone());

    // What changes: from the target's deployed commit (or its branch head) to the candidate.
    let base = target
        .deployed()
        .map(|c| c.sha.clone())
        .or_else(|| target.head.as_ref().map(|h| h.sha.clone()));
    let mut changed_files = None;
    if let Some(base) = &base {
        if *base == candidate {
            changed_files = Some(Vec::new());
        } else if let Ok(comparison) = compare(github, cache, base, &candidate).await {
            preview.more_commits = comparison.total_commits.saturating_sub(COMMITS_LISTED);
            preview.commits = comparison
                .commits
                .iter()
                .take(COMMITS_LISTED)
                .cloned()
                .collect();
            changed_files = Some(comparison.files.clone());
        }
    }
    if let Some(files) = &changed_files {
        preview.high_risk_files = gates::high_risk_files(&policy.high_risk, files)
            .iter()
            .map(|f| SafeText::with_max(f, 200))
            .collect();
    }
    preview.subject = match github.commit(&candidate).await {
        Ok(commit) => Some(commit.subject),
        Err(_) => preview
            .commits
            .iter()
            .find(|c| c.sha == candidate)
            .map(|c| c.subject.clone()),
    };

    let forward = match policy.strategy {
        PromotionStrategy::FastForward | PromotionStrategy::PullRequest => {
            forward_check(github, cache, target, &target_config.branch, &candidate).await
        }
        _ => ForwardCheck::NotNeeded,
    };

    preview.checklist = super::checklist::items_of(&policy.checklist);
    // Only a label can satisfy an item without a captain: ask GitHub only when one is named.
    let pr_labels = if policy.checklist.iter().any(|item| item.label.is_some()) {
        match github.carrying_pull(&candidate).await {
            Ok(pull) => Some(pull.map(|p| p.labels).unwrap_or_default()),
            Err(_) => None,
        }
    } else {
        None
    };

    let facts = PromotionFacts {
        candidate_sha: candidate.clone(),
        pipeline,
        required_checks,
        source_deploy,
        running_since,
        source_smoke,
        changed_files,
        approving_reviewers: Vec::new(),
        pr_author: None,
        pr_labels,
        lock: lock_holder(lock, now),
        forward,
        now,
    };
    preview.gates = gates::evaluate_promotion(
        policy,
        &config.freezes,
        target_name,
        &facts,
        override_freeze,
    );
    Some(PromotionView {
        preview,
        facts: Some(facts),
    })
}

async fn forward_check(
    github: &GithubClient,
    cache: &mut FactsCache,
    target: &EnvironmentSnapshot,
    branch: &str,
    candidate: &str,
) -> ForwardCheck {
    let Some(head) = target.head.as_ref().map(|h| h.sha.clone()) else {
        return ForwardCheck::Unknown;
    };
    if head == candidate {
        return ForwardCheck::NotForward(format!(
            "{branch} is already at {}: nothing to promote",
            short_sha(candidate)
        ));
    }
    match compare(github, cache, &head, candidate).await {
        Ok(c) if c.status == "ahead" => ForwardCheck::Forward,
        Ok(c) if c.status == "behind" => ForwardCheck::NotForward(format!(
            "{branch} is already past {}: it would move backwards",
            short_sha(candidate)
        )),
        Ok(c) if c.status == "identical" => ForwardCheck::NotForward(format!(
            "{branch} is already at {}: nothing to promote",
            short_sha(candidate)
        )),
        Ok(_) => ForwardCheck::NotForward(format!(
            "{branch} has commits that {} lacks: not a fast-forward",
            short_sha(candidate)
        )),
        Err(_) => ForwardCheck::Unknown,
    }
}

fn freeze_note(freeze: &gates::FreezeState) -> Option<SafeText> {
    if let Some(active) = &freeze.active {
        let opens = freeze.next_open.unwrap_or(active.ends_at);
        let local = opens.with_timezone(&active.time_zone);
        return Some(SafeText::with_max(
            &format!(
                "frozen: {}; opens {} {}",
                active.reason,
                local.format("%a %d %b %H:%M"),
                active.time_zone.name()
            ),
            160,
        ));
    }
    freeze.next_freeze.as_ref().map(|(reason, at)| {
        SafeText::with_max(
            &format!(
                "next freeze: {reason} from {}",
                at.format("%a %d %b %H:%M UTC")
            ),
            160,
        )
    })
}

/// Where a rollback of `env_index` goes: `requested_sha`, or the newest deployment that once
/// succeeded with another commit than the one running now.
#[allow(clippy::too_many_arguments)]
pub async fn rollback_view(
    config: &Config,
    env_index: usize,
    snapshot: &Snapshot,
    github: &GithubClient,
    lock: Option<&LockView>,
    cache: &mut FactsCache,
    now: DateTime<Utc>,
    requested_sha: Option<&str>,
) -> Option<ActionPreview> {
    let env_config: &EnvironmentConfig = config.environments.get(env_index)?;
    let env = snapshot.environments.get(env_index)?;
    let service = env_config.effective_services().into_iter().next()?;
    let running = env.deployed().map(|c| c.sha.clone());
    let latest_id = env
        .services
        .first()
        .and_then(|s| s.latest.as_ref())
        .map(|d| d.deployment_id)
        .unwrap_or(0);

    let (target_sha, exists, once_succeeded) = match requested_sha {
        Some(sha) => {
            let exists = match github.commit(sha).await {
                Ok(_) => Some(true),
                Err(SourceError::Status { status: 404, .. })
                | Err(SourceError::Status { status: 422, .. }) => Some(false),
                Err(_) => None,
            };
            let once = match github
                .deployment_history(&service.github_environment, HISTORY_DEPTH)
                .await
            {
                Ok(history) => {
                    let found = history.iter().any(|d| {
                        d.sha == sha && d.states.iter().any(|(state, _)| state == "success")
                    });
                    if found || history.len() < HISTORY_DEPTH {
                        Some(found)
                    } else {
                        None
                    }
                }
                Err(_) => None,
            };
            (Some(sha.to_string()), exists, once)
        }
        None => {
            let key = service.github_environment.clone();
            let stamp = (latest_id, running.clone());
            let target = match cache.history.get(&key) {
                Some((seen, target)) if *seen == stamp => target.clone(),
                _ => {
                    let history = github
                        .deployment_history(&service.github_environment, HISTORY_DEPTH)
                        .await
                        .ok()?;
                    let target = rollback_target(&history, running.as_deref());
                    cache.history.insert(key, (stamp, target.clone()));
                    target
                }
            };
            let known = target.is_some();
            (target, Some(known), Some(known))
        }
    };
    let mut preview = ActionPreview {
        kind: ActionKind::Rollback,
        target: SafeText::with_max(env_config.name.get_ref(), 40),
        source: None,
        sha: target_sha.clone(),
        subject: None,
        from_sha: running.clone(),
        commits: Vec::new(),
        more_commits: 0,
        high_risk_files: Vec::new(),
        checklist: Vec::new(),
        gates: GateReport::default(),
        freeze_note: None,
        evaluated_at: now,
        snapshot_version: snapshot.version,
    };
    let Some(target_sha) = target_sha else {
        preview.gates = GateReport {
            gates: vec![crate::model::Gate::new(
                crate::model::GateKind::RollbackTarget,
                crate::model::GateState::Fail,
                "no earlier good deployment",
                "a commit once deployed successfully",
                "no earlier successful deployment with another commit was found",
            )],
        };
        return Some(preview);
    };
    if let Ok(commit) = github.commit(&target_sha).await {
        preview.subject = Some(commit.subject);
    }
    // The commits that leave (newest first): from the target up to what runs now.
    if let Some(running) = &running
        && *running != target_sha
        && let Ok(comparison) = compare(github, cache, &target_sha, running).await
    {
        preview.more_commits = comparison.total_commits.saturating_sub(COMMITS_LISTED);
        preview.commits = comparison
            .commits
            .into_iter()
            .take(COMMITS_LISTED)
            .collect();
    }
    let facts = RollbackFacts {
        target_sha,
        target_exists: exists,
        target_once_succeeded: once_succeeded,
        lock: lock_holder(lock, now),
    };
    preview.gates = gates::evaluate_rollback(&facts);
    Some(preview)
}

/// The commit a rollback goes back to: the newest one deployed successfully that is not the
/// running commit and was not itself rolled back. Without the last rule a rollback whose
/// own deploy fails verification would go "back" to the commit it just left, and the guard
/// would swing between the two. `history` is newest first.
pub fn rollback_target(
    history: &[crate::sources::github::DeploymentHistoryEntry],
    running: Option<&str>,
) -> Option<String> {
    let succeeded = |d: &crate::sources::github::DeploymentHistoryEntry| {
        d.states.iter().any(|(s, _)| s == "success")
    };
    let mut left: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (index, deployment) in history.iter().enumerate() {
        if !crate::sources::github::history::marked_rollback(&deployment.payload) {
            continue;
        }
        // What the rollback replaced: the next older successful deployment of another commit.
        if let Some(replaced) = history[index + 1..]
            .iter()
            .find(|d| succeeded(d) && d.sha != deployment.sha)
        {
            left.insert(replaced.sha.as_str());
        }
    }
    history
        .iter()
        .find(|d| succeeded(d) && Some(d.sha.as_str()) != running && !left.contains(d.sha.as_str()))
        .map(|d| d.sha.clone())
}

#[cfg(test)]
mod rollback_target_tests {
    use super::rollback_target;
    use crate::sources::github::DeploymentHistoryEntry;

    fn deployed(id: u64, sha: &str, rollback: bool) -> DeploymentHistoryEntry {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .expect("a time")
            .to_utc()
            + chrono::TimeDelta::minutes(id as i64);
        DeploymentHistoryEntry {
            id,
            sha: sha.to_string(),
            created_at: Some(at),
            creator: None,
            payload: if rollback {
                serde_json::json!({ "kind": "rollback" })
            } else {
                serde_json::json!({})
            },
            states: vec![("success".to_string(), at)],
        }
    }

    #[test]
    fn the_previous_good_commit_and_never_the_one_just_rolled_back() {
        // Newest first: c deployed over b over a.
        let plain = [
            deployed(3, "c", false),
            deployed(2, "b", false),
            deployed(1, "a", false),
        ];
        assert_eq!(rollback_target(&plain, Some("c")).as_deref(), Some("b"));
        // c was rolled back to b; b fails too: back to a, not to c again.
        let after = [
            deployed(4, "b", true),
            deployed(3, "c", false),
            deployed(2, "b", false),
            deployed(1, "a", false),
        ];
        assert_eq!(rollback_target(&after, Some("b")).as_deref(), Some("a"));
        // A string payload counts as well; with nothing left there is no target.
        let mut marked = deployed(2, "a", false);
        marked.payload = serde_json::Value::String(r#"{"kind":"rollback"}"#.into());
        let only = [marked, deployed(1, "b", false)];
        assert_eq!(rollback_target(&only, Some("a")), None);
    }
}
