//! One log record and its on-disk frame:
//! `[len u32][crc32c u32][index u64][term u64][payload len bytes]`, little endian, the CRC
//! covering `len`, `index`, `term` and the payload.

use super::error::CorruptionReason;

/// Bytes of a record's frame before its payload.
pub const HEADER_LEN: usize = 24;

/// The largest payload one record can carry (the length field is a u32).
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// One log entry as the storage engine sees it: a position, the term that wrote it and
/// opaque bytes. What the bytes mean is the consensus layer's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log, counting from 1; contiguous across appends.
    pub index: u64,
    /// The leader term that created the entry.
    pub term: u64,
    /// Opaque contents.
    pub payload: Vec<u8>,
}

impl LogEntry {
    /// Builds an entry.
    pub fn new(index: u64, term: u64, payload: impl Into<Vec<u8>>) -> Self {
        LogEntry {
            index,
            term,
            payload: payload.into(),
        }
    }

    /// Bytes this entry occupies in a segment file.
    #[must_use]
    pub fn framed_len(&self) -> u64 {
        (HEADER_LEN + self.payload.len()) as u64
    }
}

/// A record that decoded with a valid checksum; its index is not yet checked.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub index: u64,
    pub term: u64,
    pub payload: &'a [u8],
    /// Header plus payload.
    pub framed_len: usize,
}

impl Frame<'_> {
    pub fn to_entry(&self) -> LogEntry {
        LogEntry::new(self.index, self.term, self.payload)
    }
}

fn checksum(header: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    // Skip the CRC field itself (bytes 4..8).
    let crc = crc32c::crc32c(&header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..HEADER_LEN]);
    crc32c::crc32c_append(crc, payload)
}

/// Appends the frame of `entry` to `out`. The caller has checked the payload length.
pub(crate) fn encode(entry: &LogEntry, out: &mut Vec<u8>) {
    debug_assert!(entry.payload.len() <= MAX_PAYLOAD);
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&(entry.payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&entry.index.to_le_bytes());
    header[16..24].copy_from_slice(&entry.term.to_le_bytes());
    let crc = checksum(&header, &entry.payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&entry.payload);
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The index field of a header, read without checking anything (for the search that
/// tells a torn tail from mid-log damage). `None` if `bytes` is shorter than a header.
pub(crate) fn peek_index(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= HEADER_LEN).then(|| u64_at(bytes, 8))
}

/// Decodes the record at the start of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Frame<'_>, CorruptionReason> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(CorruptionReason::TruncatedHeader {
            available: bytes.len() as u64,
        });
    };
    let mut header_arr = [0u8; HEADER_LEN];
    header_arr.copy_from_slice(header);
    let len = u32_at(header, 0) as usize;
    let available = bytes.len() - HEADER_LEN;
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(CorruptionReason::TruncatedPayload {
            declared: len as u64,
            available: available as u64,
        });
    };
    let stored = u32_at(header, 4);
    let computed = checksum(&header_arr, payload);
    if stored != computed {
        return Err(CorruptionReason::ChecksumMismatch { stored, computed });
    }
    Ok(Frame {
        index: u64_at(header, 8),
        term: u64_at(header, 16),
        payload,
        framed_len: HEADER_LEN + len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(entry: &LogEntry) -> Vec<u8> {
        let mut out = Vec::new();
        encode(entry, &mut out);
        out
    }

    #[test]
    fn encoded_record_decodes_to_the_same_entry() {
        let entry = LogEntry::new(7, 3, b"hello".to_vec());
        let bytes = framed(&entry);
        assert_eq!(bytes.len() as u64, entry.framed_len());
        let frame = decode(&bytes).expect("valid frame");
        assert_eq!(frame.to_entry(), entry);
        assert_eq!(frame.framed_len, bytes.len());
    }

    #[test]
    fn any_single_flipped_bit_is_detected() {
        let bytes = framed(&LogEntry::new(42, 9, b"payload bytes".to_vec()));
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                match decode(&damaged) {
                    Ok(frame) => panic!("flip at byte {at} bit {bit} accepted: {frame:?}"),
                    Err(
                        CorruptionReason::ChecksumMismatch { .. }
                        | CorruptionReason::TruncatedPayload { .. },
                    ) => {}
                    Err(other) => panic!("unexpected reason {other:?}"),
                }
            }
        }
    }

    #[test]
    fn every_strict_prefix_of_a_record_is_reported_as_cut_short() {
        let bytes = framed(&LogEntry::new(1, 1, vec![0xab; 40]));
        for cut in 0..bytes.len() {
            let reason = decode(&bytes[..cut]).expect_err("prefix must not decode");
            let expected_header = cut < HEADER_LEN;
            match reason {
                CorruptionReason::TruncatedHeader { .. } => assert!(expected_header),
                CorruptionReason::TruncatedPayload { .. } => assert!(!expected_header),
                other => panic!("unexpected reason {other:?} at cut {cut}"),
            }
        }
    }
}
