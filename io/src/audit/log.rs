//! The append-only file behind the audit log.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::record::AuditRecord;

/// Why the audit log could not be opened, appended to or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The OS refused a read, write or fsync. After a failed append the record may or may
    /// not be on disk (a torn tail that later reads skip); nothing else changed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The record could not be encoded. Nothing was written.
    #[error("audit record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A slice of the log, as served by `GET /control/audit`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditPage {
    /// Records in append order, starting at index `from`.
    pub records: Vec<AuditRecord>,
    /// The index to ask for next; equals the number of readable records when at the end.
    pub next: u64,
    /// Lines that could not be read as records (a write torn by a crash) and were skipped.
    pub skipped_lines: u64,
}

/// An append-only JSON-lines file. Appends are serialised by a mutex and fsynced one by
/// one; the calls block, so async callers run them on a blocking thread.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens `path` for appending, creating it if needed. A last line torn by a crash is
    /// closed with a newline first, so the next record starts on a line of its own and
    /// the torn bytes stay (skipped by reads) instead of swallowing it.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io_err = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(io_err)?;
            file.read_exact(&mut last).map_err(io_err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io_err)?;
                file.sync_data().map_err(io_err)?;
            }
        }
        Ok(AuditLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and fsyncs it before returning, so an acknowledged call is
    /// never missing from the log after a crash.
    pub fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // A poisoned lock only means another append panicked; the file handle is fine.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Up to `limit` records starting at record index `from` (0 is the oldest).
    /// Unreadable lines are skipped and counted, never an error.
    pub fn read(&self, from: u64, limit: usize) -> Result<AuditPage, AuditError> {
        let io_err = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        // A separate handle: reads do not wait behind an fsync.
        let reader = BufReader::new(File::open(&self.path).map_err(io_err)?);
        let mut page = AuditPage {
            records: Vec::new(),
            next: from,
            skipped_lines: 0,
        };
        let mut index = 0u64;
        for line in reader.split(b'\n') {
            let line = line.map_err(io_err)?;
            if line.is_empty() {
                continue;
            }
            let Ok(record) = serde_json::from_slice::<AuditRecord>(&line) else {
                page.skipped_lines += 1;
                continue;
            };
            if index >= from && page.records.len() < limit {
                page.records.push(record);
                page.next = index + 1;
            }
            index += 1;
        }
        if page.records.is_empty() {
            page.next = from.min(index);
        }
        Ok(page)
    }
}
