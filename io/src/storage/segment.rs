//! A segment file: a run of contiguous records named after its first index, so listing the
//! directory gives the log's layout and an empty segment still says where the log goes on.

/// Default size at which the log starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The largest log index: half the u64 range, so `index + 1` and batch arithmetic can never
/// overflow, whatever a caller or a file name says.
pub const MAX_INDEX: u64 = u64::MAX / 2;

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";

/// `wal-<first index, 20 digits>.log`: sorts by name in index order.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{PREFIX}{first:020}{SUFFIX}")
}

/// The first index a segment file's name declares, if it is a segment file.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the log keeps in memory about one segment file.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// Index of its first record (or of the next record, while it is empty).
    pub first: u64,
    pub name: String,
    /// Byte offset of each record, in index order.
    pub offsets: Vec<u64>,
    /// Bytes of valid records in the file.
    pub len: u64,
}

impl Segment {
    pub fn empty(first: u64) -> Self {
        Segment {
            first,
            name: segment_name(first),
            offsets: Vec::new(),
            len: 0,
        }
    }

    /// The index the next record appended here would take.
    pub fn next_index(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }

    /// Byte range `[start, end)` of records `[lo, hi)`, which must lie in this segment.
    pub fn byte_range(&self, lo: u64, hi: u64) -> Option<(u64, u64)> {
        let start = *self
            .offsets
            .get(usize::try_from(lo.checked_sub(self.first)?).ok()?)?;
        let hi_at = usize::try_from(hi.checked_sub(self.first)?).ok()?;
        let end = match self.offsets.get(hi_at) {
            Some(offset) => *offset,
            None if hi_at == self.offsets.len() => self.len,
            None => return None,
        };
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_index_order_and_parse_back() {
        let firsts = [1u64, 9, 10, 12_345, u64::MAX];
        let names: Vec<String> = firsts.iter().map(|f| segment_name(*f)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for (first, name) in firsts.iter().zip(&names) {
            assert_eq!(parse_segment_name(name), Some(*first));
        }
        assert_eq!(parse_segment_name("wal-1.log"), None);
        assert_eq!(parse_segment_name("hardstate"), None);
        assert_eq!(parse_segment_name("wal-0000000000000000000x.log"), None);
    }
}
