//! The error watch after a deploy's window (`[environment.verify] watch`): which of the
//! watch's findings to tell the notifiers now. Each new error type is told once per deploy,
//! only while the watch is on and only about a deploy its window verified. The watch never
//! rolls back by itself: the window is for that, and hours later the captain decides.
//!
//! [`to_tell`] is a plain function over the view, what was told and the time; the guard
//! carries its answer out. What was told is kept in the state directory as JSON lines
//! ([`WATCH_FILE`]), so a restart within the watch does not tell a finding again.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{VerificationPhase, VerificationView, WatchFinding};

/// What the watch told about one environment's running deploy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchMemory {
    /// The commit the told ids belong to; a different commit starts afresh.
    pub sha: Option<String>,
    /// The Sentry issue ids already told about that commit.
    pub told: BTreeSet<String>,
}

/// The findings to tell now: those of a verified deploy whose watch is on and that were
/// not told before.
pub fn to_tell<'a>(
    view: &'a VerificationView,
    memory: &WatchMemory,
    now: DateTime<Utc>,
) -> Vec<&'a WatchFinding> {
    let Some(watch) = view.watch.as_ref() else {
        return Vec::new();
    };
    if view.phase != VerificationPhase::Verified || !watch.is_on(view.window_ends, now) {
        return Vec::new();
    }
    let same_deploy = memory.sha.as_deref() == Some(view.sha.as_str());
    watch
        .findings
        .iter()
        .filter(|finding| !(same_deploy && memory.told.contains(finding.id.as_str())))
        .collect()
}

/// Records that `told` were told about `view`'s deploy (before they are sent: a finding is
/// told once, whether or not a notifier took it).
pub fn remember(memory: &mut WatchMemory, view: &VerificationView, told: &[&WatchFinding]) {
    if memory.sha.as_deref() != Some(view.sha.as_str()) {
        memory.sha = Some(view.sha.clone());
        memory.told.clear();
    }
    memory
        .told
        .extend(told.iter().map(|finding| finding.id.as_str().to_string()));
}

/// The file in the state directory that lists the findings told, one JSON line each.
pub const WATCH_FILE: &str = "error-watch.jsonl";

/// Lines read back on start: far more findings than two weeks of deploys bring.
const LINES_KEPT: usize = 2_000;

/// One finding told, as the file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToldRecord {
    pub environment: String,
    pub sha: String,
    pub issue_id: String,
    pub at: DateTime<Utc>,
}

pub fn watch_path(state_dir: &Path) -> PathBuf {
    state_dir.join(WATCH_FILE)
}

/// What was told per environment name, from the file at `path`: for each environment the
/// newest commit's findings. A missing file or a line that does not parse tells nothing.
pub fn load_told(path: &Path) -> HashMap<String, WatchMemory> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut memories: HashMap<String, WatchMemory> = HashMap::new();
    for line in &lines[lines.len().saturating_sub(LINES_KEPT)..] {
        let Ok(record) = serde_json::from_str::<ToldRecord>(line) else {
            continue;
        };
        let memory = memories.entry(record.environment).or_default();
        if memory.sha.as_deref() != Some(record.sha.as_str()) {
            memory.sha = Some(record.sha);
            memory.told.clear();
        }
        memory.told.insert(record.issue_id);
    }
    memories
}

/// Appends `records` to the file at `path` (created with mode 0600 if missing) and makes
/// them durable.
pub fn record_told(path: &Path, records: &[ToldRecord]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = Vec::new();
    for record in records {
        serde_json::to_writer(&mut text, record)?;
        text.push(b'\n');
    }
    file.write_all(&text)?;
    file.sync_data()
}

/// "new error type 36h after deploy a1b2c3d: TypeError: ... (42 events)".
pub fn headline(view: &VerificationView, finding: &WatchFinding) -> String {
    finding.headline(view.deployed_at, &view.sha)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::model::{SafeText, WatchView};

    fn deployed_at() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000)
    }

    fn finding(id: &str, hours_after_deploy: i64) -> WatchFinding {
        WatchFinding {
            id: SafeText::new(id),
            title: SafeText::new("TypeError: order.items.map is not a function"),
            first_seen: deployed_at() + TimeDelta::hours(hours_after_deploy),
            count: 12,
        }
    }

    fn view(sha: &str, phase: VerificationPhase, findings: Vec<WatchFinding>) -> VerificationView {
        VerificationView {
            sha: sha.to_string(),
            deployment_id: 7,
            deployed_at: deployed_at(),
            window_ends: deployed_at() + TimeDelta::minutes(15),
            phase,
            signals: Vec::new(),
            reason: SafeText::new("verified: nothing failed in the window"),
            auto_rollback: true,
            baseline_per_minute: None,
            watch: Some(WatchView {
                ends: deployed_at() + TimeDelta::hours(48),
                findings,
            }),
        }
    }

    fn hours(h: i64) -> DateTime<Utc> {
        deployed_at() + TimeDelta::hours(h)
    }

    const SHA: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

    #[test]
    fn each_finding_is_told_once_per_deploy() {
        let mut memory = WatchMemory::default();
        let first = view(SHA, VerificationPhase::Verified, vec![finding("11", 36)]);
        let told = to_tell(&first, &memory, hours(36));
        assert_eq!(told.len(), 1);
        remember(&mut memory, &first, &told);
        assert!(to_tell(&first, &memory, hours(37)).is_empty());

        // A second type later: only it is told.
        let both = view(
            SHA,
            VerificationPhase::Verified,
            vec![finding("11", 36), finding("12", 40)],
        );
        let told = to_tell(&both, &memory, hours(40));
        assert_eq!(
            told.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["12"]
        );
        remember(&mut memory, &both, &told);
        assert!(to_tell(&both, &memory, hours(41)).is_empty());
    }

    #[test]
    fn a_new_deploy_starts_afresh() {
        let mut memory = WatchMemory::default();
        let first = view(SHA, VerificationPhase::Verified, vec![finding("11", 36)]);
        let told = to_tell(&first, &memory, hours(36));
        remember(&mut memory, &first, &told);
        let next = view(
            "0000000000000000000000000000000000000abc",
            VerificationPhase::Verified,
            vec![finding("11", 36)],
        );
        assert_eq!(to_tell(&next, &memory, hours(36)).len(), 1);
    }

    #[test]
    fn nothing_is_told_outside_the_watch_or_about_a_deploy_not_verified() {
        let memory = WatchMemory::default();
        let findings = || vec![finding("11", 1)];
        let verified = view(SHA, VerificationPhase::Verified, findings());
        assert!(to_tell(&verified, &memory, hours(48)).is_empty(), "ended");
        assert!(to_tell(&verified, &memory, hours(60)).is_empty(), "ended");
        assert!(
            to_tell(&verified, &memory, deployed_at() + TimeDelta::minutes(10)).is_empty(),
            "still in the window"
        );
        for phase in [
            VerificationPhase::Failed,
            VerificationPhase::Verifying,
            VerificationPhase::Deploying,
            VerificationPhase::NotEnoughData,
        ] {
            let other = view(SHA, phase, findings());
            assert!(to_tell(&other, &memory, hours(2)).is_empty(), "{phase:?}");
        }
        let mut without = view(SHA, VerificationPhase::Verified, findings());
        without.watch = None;
        assert!(to_tell(&without, &memory, hours(2)).is_empty());
    }

    #[test]
    fn the_headline_names_the_hours_the_commit_the_type_and_its_count() {
        let v = view(SHA, VerificationPhase::Verified, Vec::new());
        assert_eq!(
            headline(&v, &finding("11", 36)),
            "new error type 36h after deploy a1b2c3d: TypeError: order.items.map is not a \
             function (12 events)"
        );
        let mut soon = finding("12", 0);
        soon.first_seen += TimeDelta::minutes(40);
        soon.count = 1;
        assert!(headline(&v, &soon).starts_with("new error type 40m after"));
        assert!(headline(&v, &soon).ends_with("(1 event)"));
    }

    #[test]
    fn what_was_told_survives_a_restart_per_environment_and_commit() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = watch_path(dir.path());
        assert!(load_told(&path).is_empty(), "no file, nothing told");
        let record = |environment: &str, sha: &str, id: &str| ToldRecord {
            environment: environment.to_string(),
            sha: sha.to_string(),
            issue_id: id.to_string(),
            at: hours(36),
        };
        record_told(
            &path,
            &[record("prod", "old", "1"), record("prod", SHA, "11")],
        )
        .unwrap();
        record_told(
            &path,
            &[record("prod", SHA, "12"), record("staging", SHA, "13")],
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{torn"))
            .unwrap();
        let told = load_told(&path);
        let prod = &told["prod"];
        assert_eq!(prod.sha.as_deref(), Some(SHA));
        assert_eq!(
            prod.told.iter().map(String::as_str).collect::<Vec<_>>(),
            ["11", "12"]
        );
        let v = view(
            SHA,
            VerificationPhase::Verified,
            vec![finding("11", 36), finding("12", 37), finding("14", 38)],
        );
        let again = to_tell(&v, prod, hours(38));
        assert_eq!(
            again.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["14"]
        );
        assert_eq!(told["staging"].told.len(), 1);
    }

    #[test]
    fn time_left_reads_in_hours_and_minutes() {
        let watch = WatchView {
            ends: hours(48),
            findings: Vec::new(),
        };
        let at = |secs: i64| watch.ends - TimeDelta::seconds(secs);
        assert_eq!(watch.left_words(at(35 * 3600 + 12 * 60 + 30)), "35h 12m");
        assert_eq!(watch.left_words(at(3600 + 60)), "1h 01m");
        assert_eq!(watch.left_words(at(59 * 60)), "59m");
        assert_eq!(watch.left_words(hours(50)), "0m");
    }
}
