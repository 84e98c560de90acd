//! Small files replaced atomically: the Raft hard state and the latest snapshot. Each is
//! written to `<name>.tmp`, synced, renamed over `<name>` and the directory synced, so a
//! crash leaves either the old file or the new one, never a mix; a stray `.tmp` is ignored.

use omnirelay_core::NodeId;

use super::disk::Disk;
use super::error::{CorruptionReason, DiskError, DiskOp, StorageError};

pub(crate) const HARD_STATE_FILE: &str = "hardstate";
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

const HARD_STATE_TAG: u32 = u32::from_le_bytes(*b"ORHS");
const SNAPSHOT_TAG: u32 = u32::from_le_bytes(*b"ORSN");
/// tag u32, crc u32.
const PREAMBLE: usize = 8;

/// What Raft must remember across restarts besides the log: the current term, the vote
/// cast in it and the highest index known committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: u64,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest log index known to be committed.
    pub commit: u64,
}

/// A snapshot of the applied state up to and including `index`, as an opaque blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Last log index the snapshot covers.
    pub index: u64,
    /// Term of the entry at `index`.
    pub term: u64,
    /// The serialized state.
    pub data: Vec<u8>,
}

fn seal(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREAMBLE + body.len());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn half_word(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

/// Checks tag and CRC; returns the body.
fn unseal(tag: u32, bytes: &[u8], min_body: usize) -> Result<&[u8], CorruptionReason> {
    if bytes.len() < PREAMBLE + min_body {
        return Err(CorruptionReason::TruncatedHeader {
            available: bytes.len() as u64,
        });
    }
    let found = half_word(bytes, 0);
    if found != tag {
        return Err(CorruptionReason::UnknownFormat { found });
    }
    let stored = half_word(bytes, 4);
    let body = &bytes[PREAMBLE..];
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(CorruptionReason::ChecksumMismatch { stored, computed });
    }
    Ok(body)
}

impl HardState {
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&self.term.to_le_bytes());
        body.extend_from_slice(&u64::from(self.vote.is_some()).to_le_bytes());
        body.extend_from_slice(&self.vote.map_or(0, |v| v.0).to_le_bytes());
        body.extend_from_slice(&self.commit.to_le_bytes());
        seal(HARD_STATE_TAG, &body)
    }

    fn decode(bytes: &[u8]) -> Result<Self, CorruptionReason> {
        let body = unseal(HARD_STATE_TAG, bytes, 32)?;
        Ok(HardState {
            term: word(body, 0),
            vote: (word(body, 8) != 0).then(|| NodeId(word(body, 16))),
            commit: word(body, 24),
        })
    }
}

impl Snapshot {
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(16 + self.data.len());
        body.extend_from_slice(&self.index.to_le_bytes());
        body.extend_from_slice(&self.term.to_le_bytes());
        body.extend_from_slice(&self.data);
        seal(SNAPSHOT_TAG, &body)
    }

    fn decode(bytes: &[u8]) -> Result<Self, CorruptionReason> {
        let body = unseal(SNAPSHOT_TAG, bytes, 16)?;
        Ok(Snapshot {
            index: word(body, 0),
            term: word(body, 8),
            data: body[16..].to_vec(),
        })
    }
}

/// Durable when it returns: temp file, sync, rename, directory sync.
fn replace<D: Disk>(disk: &mut D, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
    let temp = format!("{name}{TEMP_SUFFIX}");
    let fail = |disk: &D, op, at: &str| {
        let path = disk.path(at);
        move |e| StorageError::disk(op, path, e)
    };
    disk.create(&temp)
        .map_err(fail(disk, DiskOp::Write, &temp))?;
    disk.append(&temp, bytes)
        .map_err(fail(disk, DiskOp::Write, &temp))?;
    disk.sync(&temp).map_err(fail(disk, DiskOp::Sync, &temp))?;
    disk.rename(&temp, name)
        .map_err(fail(disk, DiskOp::Write, name))?;
    disk.sync_dir().map_err(fail(disk, DiskOp::Sync, name))
}

fn load<D: Disk, T>(
    disk: &mut D,
    name: &str,
    decode: impl FnOnce(&[u8]) -> Result<T, CorruptionReason>,
) -> Result<Option<T>, StorageError> {
    let bytes = match disk.read_all(name) {
        Ok(bytes) => bytes,
        Err(DiskError::NotFound) => return Ok(None),
        Err(e) => return Err(StorageError::disk(DiskOp::Read, disk.path(name), e)),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|reason| StorageError::Corruption {
            path: disk.path(name),
            offset: 0,
            reason,
        })
}

pub(crate) fn save_hard_state<D: Disk>(
    disk: &mut D,
    state: &HardState,
) -> Result<(), StorageError> {
    replace(disk, HARD_STATE_FILE, &state.encode())
}

pub(crate) fn load_hard_state<D: Disk>(disk: &mut D) -> Result<Option<HardState>, StorageError> {
    load(disk, HARD_STATE_FILE, HardState::decode)
}

pub(crate) fn save_snapshot<D: Disk>(
    disk: &mut D,
    snapshot: &Snapshot,
) -> Result<(), StorageError> {
    replace(disk, SNAPSHOT_FILE, &snapshot.encode())
}

pub(crate) fn load_snapshot<D: Disk>(disk: &mut D) -> Result<Option<Snapshot>, StorageError> {
    load(disk, SNAPSHOT_FILE, Snapshot::decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_state_encoding_round_trips_with_and_without_vote() {
        for state in [
            HardState::default(),
            HardState {
                term: 9,
                vote: Some(NodeId(0)),
                commit: 77,
            },
        ] {
            assert_eq!(HardState::decode(&state.encode()), Ok(state));
        }
    }

    #[test]
    fn damaged_state_files_are_rejected_not_misread() {
        let bytes = Snapshot {
            index: 5,
            term: 2,
            data: b"state".to_vec(),
        }
        .encode();
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(Snapshot::decode(&damaged).is_err(), "flip at {at} accepted");
        }
        for cut in 0..bytes.len() {
            // A cut inside the data still fails the CRC; a cut in the header is too short.
            assert!(
                Snapshot::decode(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
    }
}
