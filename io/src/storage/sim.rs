//! A simulated disk for the simulators: in memory, deterministic (every random choice comes
//! from a seeded `ChaCha8Rng` handed in by the caller, no clock), and honest about
//! durability. It remembers, per file, what was synced and the writes since, and per
//! directory the creations, renames and removals since the last directory sync, so that
//! [`SimDisk::crash`] can lose exactly what a real crash may lose.
//!
//! Handles are cheap clones sharing one disk: the simulator keeps one, the log owns
//! another. A crash makes every other handle stale (its operations fail with
//! [`DiskError::Crashed`]), so a log that "died" in the crash cannot write on; reopen the log
//! with a clone of the handle that crashed the disk.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::disk::Disk;
use super::error::{DiskError, DiskOp};

/// What a crash keeps of the writes that were not yet synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write is lost: the disk holds exactly what was synced.
    LoseUnsynced,
    /// Per file (and for the directory) a random prefix of the unsynced operations reaches
    /// the disk, the last of them possibly torn (only a prefix of its bytes).
    KeepRandomPrefix,
}

#[derive(Debug, Clone)]
enum FileWrite {
    Append(Vec<u8>),
    Truncate(u64),
}

#[derive(Debug, Clone, Default)]
struct SimFile {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<FileWrite>,
}

type FileId = u64;

#[derive(Debug, Clone)]
enum DirChange {
    Create { name: String, id: FileId },
    Rename { from: String, to: String },
    Remove { name: String },
}

#[derive(Debug)]
struct SimState {
    rng: ChaCha8Rng,
    epoch: u64,
    next_id: FileId,
    files: BTreeMap<FileId, SimFile>,
    names: BTreeMap<String, FileId>,
    durable_names: BTreeMap<String, FileId>,
    unsynced_dir: Vec<DirChange>,
    forced_faults: BTreeMap<DiskOp, u32>,
    fault_probability: BTreeMap<DiskOp, f64>,
    syncs: u64,
}

impl SimState {
    fn fault(&mut self, op: DiskOp) -> Result<(), DiskError> {
        if let Some(left) = self.forced_faults.get_mut(&op)
            && *left > 0
        {
            *left -= 1;
            return Err(DiskError::Injected(op));
        }
        let p = self.fault_probability.get(&op).copied().unwrap_or(0.0);
        if p > 0.0 && self.rng.random_bool(p.min(1.0)) {
            return Err(DiskError::Injected(op));
        }
        Ok(())
    }

    fn file_mut(&mut self, name: &str) -> Result<&mut SimFile, DiskError> {
        let id = *self.names.get(name).ok_or(DiskError::NotFound)?;
        self.files.get_mut(&id).ok_or(DiskError::NotFound)
    }

    fn file(&self, name: &str) -> Result<&SimFile, DiskError> {
        let id = self.names.get(name).ok_or(DiskError::NotFound)?;
        self.files.get(id).ok_or(DiskError::NotFound)
    }

    /// How many of `n` unsynced operations survive, and whether the next one is torn.
    fn surviving(&mut self, n: usize, mode: CrashMode) -> (usize, bool) {
        match mode {
            CrashMode::LoseUnsynced => (0, false),
            CrashMode::KeepRandomPrefix => {
                let kept = self.rng.random_range(0..=n);
                (kept, kept < n && self.rng.random_bool(0.5))
            }
        }
    }

    fn crash(&mut self, mode: CrashMode) {
        let dir_changes = std::mem::take(&mut self.unsynced_dir);
        let (kept, _) = self.surviving(dir_changes.len(), mode);
        let mut names = self.durable_names.clone();
        for change in dir_changes.into_iter().take(kept) {
            match change {
                DirChange::Create { name, id } => {
                    names.insert(name, id);
                }
                DirChange::Rename { from, to } => {
                    if let Some(id) = names.remove(&from) {
                        names.insert(to, id);
                    }
                }
                DirChange::Remove { name } => {
                    names.remove(&name);
                }
            }
        }
        let mut files = BTreeMap::new();
        for id in names.values() {
            let Some(mut file) = self.files.remove(id) else {
                continue;
            };
            let writes = std::mem::take(&mut file.unsynced);
            let (kept, torn) = self.surviving(writes.len(), mode);
            let mut contents = std::mem::take(&mut file.durable);
            for write in writes.iter().take(kept) {
                apply(&mut contents, write);
            }
            if torn && let Some(FileWrite::Append(bytes)) = writes.get(kept) {
                let cut = self.rng.random_range(0..bytes.len().max(1));
                contents.extend_from_slice(bytes.get(..cut).unwrap_or_default());
            }
            file.current = contents.clone();
            file.durable = contents;
            files.insert(*id, file);
        }
        self.files = files;
        self.durable_names = names.clone();
        self.names = names;
        self.epoch += 1;
    }
}

fn apply(contents: &mut Vec<u8>, write: &FileWrite) {
    match write {
        FileWrite::Append(bytes) => contents.extend_from_slice(bytes),
        FileWrite::Truncate(len) => contents.truncate(usize::try_from(*len).unwrap_or(usize::MAX)),
    }
}

/// An in-memory disk with crash, torn-write and fault injection. See the module docs.
#[derive(Debug, Clone)]
pub struct SimDisk {
    root: PathBuf,
    epoch: u64,
    state: Arc<Mutex<SimState>>,
}

impl SimDisk {
    /// An empty disk whose paths read as `root/<name>`; `rng` decides every random
    /// outcome (crash survivors, torn lengths, probabilistic faults).
    pub fn new(root: impl Into<PathBuf>, rng: ChaCha8Rng) -> Self {
        SimDisk {
            root: root.into(),
            epoch: 0,
            state: Arc::new(Mutex::new(SimState {
                rng,
                epoch: 0,
                next_id: 0,
                files: BTreeMap::new(),
                names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                unsynced_dir: Vec::new(),
                forced_faults: BTreeMap::new(),
                fault_probability: BTreeMap::new(),
                syncs: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A panic elsewhere while holding the lock leaves plain data behind; carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self) -> Result<std::sync::MutexGuard<'_, SimState>, DiskError> {
        let state = self.lock();
        if state.epoch == self.epoch {
            Ok(state)
        } else {
            Err(DiskError::Crashed)
        }
    }

    /// Crashes the machine: what was not synced is lost as `mode` says. Every other handle
    /// becomes stale; this one stays usable (clone it to reopen the log).
    pub fn crash(&mut self, mode: CrashMode) {
        let epoch = {
            let mut state = self.lock();
            state.crash(mode);
            state.epoch
        };
        self.epoch = epoch;
    }

    /// Makes the next `count` operations of kind `op` fail.
    pub fn fail_next(&self, op: DiskOp, count: u32) {
        *self.lock().forced_faults.entry(op).or_default() += count;
    }

    /// Disarms every fault set by [`SimDisk::fail_next`] and
    /// [`SimDisk::set_fault_probability`].
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        state.forced_faults.clear();
        state.fault_probability.clear();
    }

    /// Makes each operation of kind `op` fail with probability `p` (drawn from the disk's
    /// rng). 0 turns it off.
    pub fn set_fault_probability(&self, op: DiskOp, p: f64) {
        self.lock().fault_probability.insert(op, p);
    }

    /// Flips bits of one stored byte (both the durable and the cached copy), like a bad
    /// sector. Returns false if the file or offset does not exist.
    pub fn corrupt(&self, name: &str, offset: u64, xor: u8) -> bool {
        let mut state = self.lock();
        let Ok(file) = state.file_mut(name) else {
            return false;
        };
        let Ok(at) = usize::try_from(offset) else {
            return false;
        };
        let mut hit = false;
        for copy in [&mut file.durable, &mut file.current] {
            if let Some(byte) = copy.get_mut(at) {
                *byte ^= xor;
                hit = true;
            }
        }
        hit
    }

    /// The bytes a crash with [`CrashMode::LoseUnsynced`] would leave in `name`, if the
    /// file's creation is durable.
    #[must_use]
    pub fn durable_contents(&self, name: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let id = state.durable_names.get(name)?;
        state.files.get(id).map(|f| f.durable.clone())
    }

    /// How many file and directory syncs have completed, to check group commit.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }
}

impl Disk for SimDisk {
    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn list(&mut self) -> Result<Vec<String>, DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::List)?;
        Ok(state.names.keys().cloned().collect())
    }

    fn len(&mut self, name: &str) -> Result<u64, DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Read)?;
        Ok(state.file(name)?.current.len() as u64)
    }

    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Read)?;
        let file = state.file(name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| file.current.get(start..end))
            .ok_or_else(|| {
                DiskError::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
            })?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn create(&mut self, name: &str) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Write)?;
        let id = state.next_id;
        state.next_id += 1;
        state.files.insert(id, SimFile::default());
        // A replaced file's bytes stay reachable through the durable names until synced.
        state.names.insert(name.to_owned(), id);
        state.unsynced_dir.push(DirChange::Create {
            name: name.to_owned(),
            id,
        });
        Ok(())
    }

    fn append(&mut self, name: &str, data: &[u8]) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Write)?;
        let file = state.file_mut(name)?;
        file.current.extend_from_slice(data);
        file.unsynced.push(FileWrite::Append(data.to_vec()));
        Ok(())
    }

    fn truncate(&mut self, name: &str, len: u64) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Write)?;
        let file = state.file_mut(name)?;
        let write = FileWrite::Truncate(len);
        apply(&mut file.current, &write);
        file.unsynced.push(write);
        Ok(())
    }

    fn sync(&mut self, name: &str) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Sync)?;
        let file = state.file_mut(name)?;
        // Replay only what is new: copying the whole file on every fsync made a long run
        // quadratic in its log size (durable + unsynced == current by construction).
        for write in std::mem::take(&mut file.unsynced) {
            apply(&mut file.durable, &write);
        }
        debug_assert_eq!(file.durable.len(), file.current.len());
        state.syncs += 1;
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Write)?;
        let id = state.names.remove(from).ok_or(DiskError::NotFound)?;
        state.names.insert(to.to_owned(), id);
        state.unsynced_dir.push(DirChange::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Write)?;
        state.names.remove(name).ok_or(DiskError::NotFound)?;
        state.unsynced_dir.push(DirChange::Remove {
            name: name.to_owned(),
        });
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), DiskError> {
        let mut state = self.live()?;
        state.fault(DiskOp::Sync)?;
        state.unsynced_dir.clear();
        state.durable_names = state.names.clone();
        // Removed or replaced files are now unreachable even after a crash.
        let SimState { files, names, .. } = &mut *state;
        files.retain(|id, _| names.values().any(|live| live == id));
        state.syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn disk() -> SimDisk {
        SimDisk::new("/sim", ChaCha8Rng::seed_from_u64(9))
    }

    #[test]
    fn a_created_file_is_lost_in_a_crash_until_the_directory_is_synced() {
        let mut disk = disk();
        disk.create("a").expect("create");
        disk.append("a", b"data").expect("append");
        disk.sync("a").expect("sync file");
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(disk.list().expect("list"), Vec::<String>::new());

        disk.create("a").expect("create");
        disk.sync_dir().expect("sync dir");
        disk.append("a", b"data").expect("append");
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(disk.read_all("a").expect("read"), b"");
    }

    #[test]
    fn synced_bytes_survive_and_unsynced_truncation_is_undone() {
        let mut disk = disk();
        disk.create("a").expect("create");
        disk.sync_dir().expect("sync dir");
        disk.append("a", b"hello world").expect("append");
        disk.sync("a").expect("sync");
        disk.truncate("a", 5).expect("truncate");
        assert_eq!(disk.read_all("a").expect("read"), b"hello");
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(disk.read_all("a").expect("read"), b"hello world");
    }

    #[test]
    fn a_crash_keeps_a_prefix_of_unsynced_appends_never_a_later_write_alone() {
        for seed in 0..100 {
            let mut disk = SimDisk::new("/sim", ChaCha8Rng::seed_from_u64(seed));
            disk.create("a").expect("create");
            disk.sync_dir().expect("sync dir");
            for chunk in [b"aaaa", b"bbbb", b"cccc"] {
                disk.append("a", chunk).expect("append");
            }
            disk.crash(CrashMode::KeepRandomPrefix);
            let survived = disk.read_all("a").expect("read");
            assert!(
                b"aaaabbbbcccc".starts_with(&survived),
                "seed {seed}: {survived:?} is not a prefix"
            );
        }
    }

    #[test]
    fn a_rename_is_atomic_and_durable_only_after_a_directory_sync() {
        let mut disk = disk();
        for (name, body) in [("state", b"old"), ("state.tmp", b"new")] {
            disk.create(name).expect("create");
            disk.append(name, body).expect("append");
            disk.sync(name).expect("sync");
        }
        disk.sync_dir().expect("sync dir");
        disk.rename("state.tmp", "state").expect("rename");
        assert_eq!(disk.read_all("state").expect("read"), b"new");
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(disk.read_all("state").expect("read"), b"old");
    }
}
