//! The write-ahead journal: before the engine changes anything outside (a ref, a deployment,
//! a command), it records its intent here and makes it durable, and afterwards records how
//! the step ended. After a crash, [`replay`] tells which actions never reached their end, so
//! the engine can report or finish them instead of guessing.
//!
//! The file holds JSON lines, one [`JournalRecord`] each. Every append is flushed and
//! fsynced before it returns. A crash can tear only the line being written, which is always
//! the last one: replay ignores it (and says so); anything unreadable before it is corruption
//! and an error. [`Journal::compact`] runs on start and keeps only unfinished actions, so the
//! file stays small. The calls block on disk I/O; async callers use `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an action's step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// First record of an action; `data` holds the whole plan.
    Begin,
    /// About to make an outside change.
    Intent,
    Done,
    Failed,
    /// Last record of an action: nothing more will happen for it.
    End,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub action_id: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub step: String,
    pub phase: Phase,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl JournalRecord {
    pub fn new(
        action_id: &str,
        seq: u64,
        at: DateTime<Utc>,
        step: &str,
        phase: Phase,
        data: serde_json::Value,
    ) -> Self {
        Self {
            action_id: action_id.to_string(),
            seq,
            at,
            step: step.to_string(),
            phase,
            data,
        }
    }
}

/// Every record of one action, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionHistory {
    pub action_id: String,
    pub records: Vec<JournalRecord>,
}

impl ActionHistory {
    /// Whether the action reached its `end` record.
    pub fn finished(&self) -> bool {
        self.records.iter().any(|r| r.phase == Phase::End)
    }

    /// The plan stored with the `begin` record.
    pub fn plan(&self) -> Option<&serde_json::Value> {
        self.records
            .iter()
            .find(|r| r.phase == Phase::Begin)
            .map(|r| &r.data)
    }

    /// The latest record (what the action was doing when it stopped).
    pub fn last(&self) -> Option<&JournalRecord> {
        self.records.last()
    }
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replay {
    pub actions: Vec<ActionHistory>,
    /// The 1-based number of a torn last line that was ignored.
    pub torn_line: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {} is corrupt at line {line}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot encode a journal record: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (or creates, with its parent directories and mode 0600) the journal at `path`.
    /// A torn last line left by a crash is cut off, so new records start on a line of their
    /// own.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let mut file = open_private(path, true).map_err(io_error(path))?;
        cut_torn_tail(&mut file).map_err(io_error(path))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and makes it durable (written and fsynced) before returning.
    pub fn append(&mut self, record: &JournalRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_error(&self.path))?;
        self.file.flush().map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))
    }

    /// Rewrites the journal at `path` keeping only unfinished actions (through a fsynced
    /// temporary file renamed over it, then a fsync of the directory), and returns them. A
    /// missing journal stays missing.
    pub fn compact(path: &Path) -> Result<Vec<ActionHistory>, JournalError> {
        let replayed = replay_detailed(path)?;
        if !path.exists() {
            return Ok(Vec::new());
        }
        let unfinished: Vec<ActionHistory> =
            unfinished(&replayed.actions).into_iter().cloned().collect();
        let dir = parent_dir(path);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "journal".to_string());
        let temp = dir.join(format!(".{file_name}.compact-{}", std::process::id()));
        let mut out = Vec::new();
        for record in unfinished.iter().flat_map(|a| &a.records) {
            serde_json::to_writer(&mut out, record)?;
            out.push(b'\n');
        }
        let written = (|| {
            let mut file = open_private(&temp, false)?;
            file.set_len(0)?;
            file.write_all(&out)?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            sync_dir(&dir)
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(unfinished)
    }
}

/// The actions recorded at `path`, grouped by action id in order of their first record. A
/// torn last line is ignored (and logged); a missing file has no actions.
pub fn replay(path: &Path) -> Result<Vec<ActionHistory>, JournalError> {
    let replayed = replay_detailed(path)?;
    if let Some(line) = replayed.torn_line {
        tracing::warn!(
            journal = %path.display(),
            line,
            "ignoring a torn last journal line (a write interrupted by a crash)"
        );
    }
    Ok(replayed.actions)
}

/// Like [`replay`], also telling which torn line was ignored.
pub fn replay_detailed(path: &Path) -> Result<Replay, JournalError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut lines: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut reader = BufReader::new(file);
    let mut number = 0;
    loop {
        let mut line = Vec::new();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.push((number, line));
    }
    let mut replayed = Replay::default();
    let count = lines.len();
    for (index, (number, line)) in lines.into_iter().enumerate() {
        let record = match serde_json::from_slice::<JournalRecord>(&line) {
            Ok(record) => record,
            Err(_) if index + 1 == count => {
                replayed.torn_line = Some(number);
                break;
            }
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: number,
                    reason: crate::model::sanitize(&e.to_string(), 200),
                });
            }
        };
        match replayed
            .actions
            .iter_mut()
            .find(|a| a.action_id == record.action_id)
        {
            Some(action) => action.records.push(record),
            None => replayed.actions.push(ActionHistory {
                action_id: record.action_id.clone(),
                records: vec![record],
            }),
        }
    }
    Ok(replayed)
}

/// The actions that never reached their `end` record.
pub fn unfinished(actions: &[ActionHistory]) -> Vec<&ActionHistory> {
    actions.iter().filter(|a| !a.finished()).collect()
}

fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).create(true);
    if append {
        options.append(true);
    } else {
        options.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Drops bytes after the last newline: an append interrupted before its newline.
fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut keep = 0u64;
    let mut position = 0u64;
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&*file);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer)?;
        if read == 0 {
            break;
        }
        position += read as u64;
        if buffer.last() == Some(&b'\n') {
            keep = position;
        }
    }
    tracing::warn!(
        bytes = len - keep,
        "cutting a torn last journal line (a write interrupted by a crash)"
    );
    file.set_len(keep)?;
    file.sync_data()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename durable: the directory entry itself must reach the disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tempfile::TempDir;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-20T10:{minute:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    fn record(action: &str, seq: u64, step: &str, phase: Phase) -> JournalRecord {
        JournalRecord::new(
            action,
            seq,
            at(seq as u32),
            step,
            phase,
            json!({"seq": seq}),
        )
    }

    fn whole_action(journal: &mut Journal, action: &str, first_seq: u64, end: bool) {
        let plan = JournalRecord::new(
            action,
            first_seq,
            at(0),
            "plan",
            Phase::Begin,
            json!({"target": "prod", "steps": ["lock", "move-ref", "unlock"]}),
        );
        journal.append(&plan).unwrap();
        journal
            .append(&record(action, first_seq + 1, "move-ref", Phase::Intent))
            .unwrap();
        journal
            .append(&record(action, first_seq + 2, "move-ref", Phase::Done))
            .unwrap();
        if end {
            journal
                .append(&record(action, first_seq + 3, "end", Phase::End))
                .unwrap();
        }
    }

    #[test]
    fn records_round_trip_grouped_by_action() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("state/deep/journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("a1", 1, "plan", Phase::Begin))
            .unwrap();
        journal
            .append(&record("a2", 2, "plan", Phase::Begin))
            .unwrap();
        journal
            .append(&record("a1", 3, "lock", Phase::Intent))
            .unwrap();
        journal
            .append(&record("a1", 4, "lock", Phase::Failed))
            .unwrap();
        journal.append(&record("a2", 5, "end", Phase::End)).unwrap();

        let actions = replay(&path).unwrap();
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].action_id, "a1");
        let seqs: Vec<u64> = actions[0].records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![1, 3, 4]);
        assert_eq!(
            actions[0].records[2],
            record("a1", 4, "lock", Phase::Failed)
        );
        assert!(!actions[0].finished());
        assert!(actions[1].finished());
        let open: Vec<&str> = unfinished(&actions)
            .iter()
            .map(|a| a.action_id.as_str())
            .collect();
        assert_eq!(open, vec!["a1"]);

        let line = fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert_eq!(first["phase"], "begin");
        assert_eq!(first["at"], "2026-11-20T10:01:00Z");
        assert_eq!(first["action_id"], "a1");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        Journal::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn every_append_is_on_disk_before_it_returns() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        for seq in 1..=3 {
            journal
                .append(&record("a1", seq, "step", Phase::Intent))
                .unwrap();
            // Read through another handle while the journal stays open.
            let on_disk = fs::read_to_string(&path).unwrap();
            assert_eq!(on_disk.lines().count(), seq as usize);
            assert!(on_disk.ends_with('\n'));
        }
        drop(journal);
        let mut reopened = Journal::open(&path).unwrap();
        reopened
            .append(&record("a1", 4, "end", Phase::End))
            .unwrap();
        assert_eq!(replay(&path).unwrap()[0].records.len(), 4);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_reported() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("a1", 1, "plan", Phase::Begin))
            .unwrap();
        journal
            .append(&record("a1", 2, "lock", Phase::Intent))
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"action_id":"a1","seq":3,"at":"2026-11"#)
            .unwrap();
        drop(file);

        let replayed = replay_detailed(&path).unwrap();
        assert_eq!(replayed.torn_line, Some(3));
        assert_eq!(replayed.actions[0].records.len(), 2);
        assert_eq!(replay(&path).unwrap(), replayed.actions);

        // Reopening cuts the torn bytes, so the next record gets a line of its own.
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("a1", 3, "lock", Phase::Done))
            .unwrap();
        let replayed = replay_detailed(&path).unwrap();
        assert_eq!(replayed.torn_line, None);
        assert_eq!(replayed.actions[0].records.len(), 3);
    }

    #[test]
    fn a_corrupt_middle_line_names_the_file_and_line() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("a1", 1, "plan", Phase::Begin))
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"\n{not json}\n").unwrap();
        drop(file);
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("a1", 2, "lock", Phase::Intent))
            .unwrap();

        let error = replay(&path).unwrap_err();
        match &error {
            JournalError::Corrupt { path: p, line, .. } => {
                assert_eq!(p, &path);
                assert_eq!(*line, 3);
            }
            other => panic!("expected a corrupt journal, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("journal.jsonl"), "{message}");
    }

    #[test]
    fn compaction_keeps_only_unfinished_actions() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        whole_action(&mut journal, "done-1", 1, true);
        whole_action(&mut journal, "open-1", 10, false);
        whole_action(&mut journal, "done-2", 20, true);
        drop(journal);
        let before = fs::metadata(&path).unwrap().len();

        let kept = Journal::compact(&path).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].action_id, "open-1");
        assert!(fs::metadata(&path).unwrap().len() < before);
        let actions = replay(&path).unwrap();
        assert_eq!(actions, kept);
        assert_eq!(
            actions[0].plan().unwrap()["steps"],
            json!(["lock", "move-ref", "unlock"])
        );
        // No temporary file is left beside it.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["journal.jsonl"]);

        // The compacted journal keeps taking appends, and compacting again changes nothing.
        let mut journal = Journal::open(&path).unwrap();
        journal
            .append(&record("open-1", 14, "end", Phase::End))
            .unwrap();
        drop(journal);
        assert!(Journal::compact(&path).unwrap().is_empty());
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn a_missing_journal_has_nothing_to_replay_or_compact() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("never.jsonl");
        assert!(replay(&path).unwrap().is_empty());
        assert!(Journal::compact(&path).unwrap().is_empty());
        assert!(!path.exists());
    }
}
