//! The audit log: who promoted or rolled back what, when, with which result and overrides.
//! Append-only JSON lines of [`AuditEntry`], each fsynced, never rewritten. Entries hold only
//! sanitized text, and tokens never reach them. [`read_tail`] reads the newest entries
//! backwards from the end, so the log may grow large without slowing the cockpit.
//! The calls block on disk I/O; async callers use `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::model::AuditEntry;

/// The first block read from the end; each further read doubles, up to [`MAX_BLOCK`].
const FIRST_BLOCK: u64 = 16 * 1024;
const MAX_BLOCK: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode an audit entry: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open audit log, appending.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    /// The file ends without a newline (a crash mid-append): the next entry starts a new line.
    needs_newline: bool,
}

impl AuditLog {
    /// Opens (or creates, with its parent directories and mode 0600) the log at `path`.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_error(path))?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_error(path))?;
        let needs_newline = ends_without_newline(&mut file).map_err(io_error(path))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file,
            needs_newline,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line and makes it durable before returning.
    pub fn append(&mut self, entry: &AuditEntry) -> Result<(), AuditError> {
        let mut line = Vec::new();
        if self.needs_newline {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, entry)?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_error(&self.path))?;
        self.file.flush().map_err(io_error(&self.path))?;
        self.file.sync_data().map_err(io_error(&self.path))?;
        self.needs_newline = false;
        Ok(())
    }
}

fn ends_without_newline(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The newest `n` readable entries of the log at `path`, oldest first. Lines that do not
/// parse are skipped; a missing log has no entries. Reads backwards from the end in growing
/// blocks and stops as soon as it has `n` entries.
pub fn read_tail(path: &Path, n: usize) -> Result<Vec<AuditEntry>, AuditError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut start = file.metadata().map_err(io_error(path))?.len();
    // Bytes from `start` to the end of the file, minus the lines already parsed.
    let mut pending: Vec<u8> = Vec::new();
    // Newest first while collecting.
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut block = FIRST_BLOCK;
    while entries.len() < n && start > 0 {
        let read_from = start.saturating_sub(block);
        let mut chunk = vec![0u8; usize::try_from(start - read_from).unwrap_or(0)];
        file.seek(SeekFrom::Start(read_from))
            .map_err(io_error(path))?;
        file.read_exact(&mut chunk).map_err(io_error(path))?;
        chunk.extend_from_slice(&pending);
        start = read_from;
        // Unless the read reached the start of the file, the first line may be cut: keep it
        // for the next round.
        let complete_from = if start == 0 {
            0
        } else {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => at + 1,
                None => {
                    pending = chunk;
                    block = (block * 2).min(MAX_BLOCK);
                    continue;
                }
            }
        };
        for line in chunk[complete_from..].rsplit(|&b| b == b'\n') {
            if entries.len() == n {
                break;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Ok(entry) = serde_json::from_slice::<AuditEntry>(line) {
                entries.push(entry);
            }
        }
        chunk.truncate(complete_from);
        pending = chunk;
        block = (block * 2).min(MAX_BLOCK);
    }
    entries.reverse();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SafeText;
    use chrono::{DateTime, TimeDelta};
    use tempfile::TempDir;

    fn entry(index: usize) -> AuditEntry {
        let start = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .to_utc();
        AuditEntry {
            at: start + TimeDelta::seconds(index as i64),
            action_id: SafeText::new(&format!("act-{index}")),
            event: SafeText::new("promote"),
            actor: SafeText::new("octocat"),
            environment: SafeText::new("prod"),
            from_sha: Some("1".repeat(40)),
            to_sha: Some("2".repeat(40)),
            result: SafeText::new("succeeded"),
            reason: None,
            overrides: if index.is_multiple_of(3) {
                vec![SafeText::new("freeze: \"hotfix for INC-42\"")]
            } else {
                Vec::new()
            },
        }
    }

    fn ids(entries: &[AuditEntry]) -> Vec<String> {
        entries.iter().map(|e| e.action_id.to_string()).collect()
    }

    #[test]
    fn appended_entries_come_back_in_order() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("logs/audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for i in 0..5 {
            log.append(&entry(i)).unwrap();
        }
        assert_eq!(
            read_tail(&path, 100).unwrap(),
            (0..5).map(entry).collect::<Vec<_>>()
        );
        assert_eq!(ids(&read_tail(&path, 2).unwrap()), vec!["act-3", "act-4"]);
        assert!(read_tail(&path, 0).unwrap().is_empty());

        // Reopening appends after what is there; nothing is rewritten.
        let before = fs::read(&path).unwrap();
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&entry(5)).unwrap();
        let after = fs::read(&path).unwrap();
        assert_eq!(&after[..before.len()], &before[..]);
        assert_eq!(ids(&read_tail(&path, 1).unwrap()), vec!["act-5"]);
    }

    #[test]
    fn the_tail_of_a_big_log_is_the_last_entries() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        // Written in one go: 10k fsyncs would only slow the test down.
        let mut text = Vec::new();
        for i in 0..10_000 {
            serde_json::to_writer(&mut text, &entry(i)).unwrap();
            text.push(b'\n');
        }
        fs::write(&path, &text).unwrap();
        assert!(text.len() as u64 > 2 * MAX_BLOCK);

        let tail = read_tail(&path, 25).unwrap();
        assert_eq!(tail, (9_975..10_000).map(entry).collect::<Vec<_>>());
        let many = read_tail(&path, 4_000).unwrap();
        assert_eq!(many.len(), 4_000);
        assert_eq!(many[0], entry(6_000));
        assert_eq!(many[3_999], entry(9_999));
        assert_eq!(read_tail(&path, 20_000).unwrap().len(), 10_000);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&entry(0)).unwrap();
        log.append(&entry(1)).unwrap();
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"\x1b]0;not an entry\x07\n{\"at\": 12}\n")
            .unwrap();
        file.write_all(br#"{"torn":"#).unwrap();
        drop(file);
        // The torn tail gets a newline of its own before the next entry.
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&entry(2)).unwrap();
        assert_eq!(
            ids(&read_tail(&path, 3).unwrap()),
            vec!["act-0", "act-1", "act-2"]
        );
    }

    #[test]
    fn a_missing_log_has_no_entries() {
        let dir = TempDir::new().unwrap();
        assert!(
            read_tail(&dir.path().join("none.jsonl"), 10)
                .unwrap()
                .is_empty()
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_log_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
