//! The few file operations the log needs, on one flat directory, behind a trait so the same
//! log code runs on a real directory ([`FsDisk`]) and on a simulated disk
//! ([`SimDisk`](super::SimDisk)) that can lose unsynced writes.
//!
//! Durability contract every implementation keeps: file contents written by `append` or
//! `truncate` are durable only after `sync` of that file; `create`, `rename` and `remove`
//! are durable only after `sync_dir`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::DiskError;

/// A flat directory of files addressed by name.
pub trait Disk {
    /// Full path of `name`, for error messages and reports.
    fn path(&self, name: &str) -> PathBuf;
    /// Names of the files present, sorted.
    fn list(&mut self) -> Result<Vec<String>, DiskError>;
    /// Current length of a file.
    fn len(&mut self, name: &str) -> Result<u64, DiskError>;
    /// Fills `buf` from `offset`; fails if the file is shorter.
    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError>;
    /// Creates an empty file, replacing any file of that name.
    fn create(&mut self, name: &str) -> Result<(), DiskError>;
    /// Appends bytes at the end of an existing file.
    fn append(&mut self, name: &str, data: &[u8]) -> Result<(), DiskError>;
    /// Cuts a file to `len` bytes.
    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError>;
    /// Makes a file's contents (and length) durable.
    fn sync(&mut self, name: &str) -> Result<(), DiskError>;
    /// Renames a file, replacing `to` atomically.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError>;
    /// Removes a file.
    fn remove(&mut self, name: &str) -> Result<(), DiskError>;
    /// Makes creations, renames and removals durable.
    fn sync_dir(&mut self) -> Result<(), DiskError>;

    /// Reads a whole file.
    fn read_all(&mut self, name: &str) -> Result<Vec<u8>, DiskError> {
        let len = self.len(name)?;
        let len = usize::try_from(len)
            .map_err(|_| DiskError::Io(std::io::Error::other("file larger than memory")))?;
        let mut buf = vec![0u8; len];
        self.read_at(name, 0, &mut buf)?;
        Ok(buf)
    }
}

/// A real directory. Keeps files open by name so appends and syncs cost no `open`.
#[derive(Debug)]
pub struct FsDisk {
    dir: PathBuf,
    // BTreeMap rather than HashMap: nothing here iterates it, but the workspace keeps to
    // ordered maps so no behaviour can come to depend on hasher order.
    open: BTreeMap<String, File>,
}

impl FsDisk {
    /// Uses `dir` (created if missing) as the log directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, DiskError> {
        let dir = dir.into();
        if !dir.is_dir() {
            fs::create_dir_all(&dir)?;
            // The new directory's own entry must be durable too, or a power loss after the
            // first acknowledged sync could lose the whole log with it.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(FsDisk {
            dir,
            open: BTreeMap::new(),
        })
    }

    /// The directory this disk works in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&mut self, name: &str) -> Result<&mut File, DiskError> {
        if !self.open.contains_key(name) {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(self.dir.join(name))
                .map_err(not_found)?;
            self.open.insert(name.to_owned(), file);
            self.close_surplus(name);
        }
        self.open
            .get_mut(name)
            .ok_or_else(|| DiskError::Io(std::io::Error::other("open file vanished")))
    }
}

impl FsDisk {
    /// Keeps the descriptor count bounded on a long log: closes the first-named handles,
    /// which are the oldest segments. Closing loses nothing: an fsync through a later
    /// handle flushes the file's pages all the same.
    fn close_surplus(&mut self, keep: &str) {
        while self.open.len() > MAX_OPEN_FILES {
            let Some(oldest) = self.open.keys().find(|n| n.as_str() != keep).cloned() else {
                break;
            };
            self.open.remove(&oldest);
        }
    }
}

/// Open handles an [`FsDisk`] keeps at most.
const MAX_OPEN_FILES: usize = 16;

fn not_found(err: std::io::Error) -> DiskError {
    if err.kind() == std::io::ErrorKind::NotFound {
        DiskError::NotFound
    } else {
        DiskError::Io(err)
    }
}

impl Disk for FsDisk {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn list(&mut self) -> Result<Vec<String>, DiskError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn len(&mut self, name: &str) -> Result<u64, DiskError> {
        Ok(self.file(name)?.metadata()?.len())
    }

    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.file(name)?.read_exact_at(buf, offset)?;
        Ok(())
    }

    fn create(&mut self, name: &str) -> Result<(), DiskError> {
        self.open.remove(name);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(name))?;
        file.set_len(0)?;
        self.open.insert(name.to_owned(), file);
        self.close_surplus(name);
        Ok(())
    }

    fn append(&mut self, name: &str, data: &[u8]) -> Result<(), DiskError> {
        self.file(name)?.write_all(data)?;
        Ok(())
    }

    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        self.file(name)?.set_len(len)?;
        Ok(())
    }

    fn sync(&mut self, name: &str) -> Result<(), DiskError> {
        // fdatasync also flushes a changed file length, which is all the metadata we need.
        self.file(name)?.sync_data()?;
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        fs::rename(self.dir.join(from), self.dir.join(to)).map_err(not_found)?;
        self.open.remove(to);
        if let Some(file) = self.open.remove(from) {
            self.open.insert(to.to_owned(), file);
        }
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), DiskError> {
        self.open.remove(name);
        fs::remove_file(self.dir.join(name)).map_err(not_found)?;
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), DiskError> {
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
