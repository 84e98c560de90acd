//! The replicated cluster log: entries, terms, and the in-memory view of a replica's log
//! (a compacted prefix summarised by a snapshot, then contiguous entries).

use std::fmt;

use super::config::VoterSet;

/// A Raft term: strictly increasing per cluster, and the fencing token of its leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

impl Term {
    /// The term after this one.
    #[must_use]
    pub fn next(self) -> Term {
        Term(self.0.saturating_add(1))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// Where an entry sits: its index and the term that created it. Two logs holding the same
/// position hold the same entry and the same prefix (Log Matching, §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The leader term that appended it.
    pub term: Term,
    /// 1-based index in the log.
    pub index: u64,
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryPayload {
    /// Appended by every new leader so it can commit entries of earlier terms (§5.4.2).
    Noop,
    /// A client proposal, opaque to consensus.
    Command(Vec<u8>),
    /// The whole new voter set; takes effect as soon as it is appended (thesis §4.1).
    VoterChange(VoterSet),
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The leader term that appended it.
    pub term: Term,
    /// 1-based index in the log.
    pub index: u64,
    /// What it carries.
    pub payload: EntryPayload,
}

impl Entry {
    /// Its position.
    pub fn position(&self) -> LogPosition {
        LogPosition {
            term: self.term,
            index: self.index,
        }
    }
}

/// The log as a replica holds it in memory: `entries[i].index == snapshot_index + 1 + i`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplicatedLog {
    snapshot_index: u64,
    snapshot_term: Term,
    entries: Vec<Entry>,
}

impl ReplicatedLog {
    /// A log whose prefix up to `snapshot_index` is compacted, followed by `entries`,
    /// or `None` when the entries are not contiguous after the snapshot.
    pub(crate) fn restore(
        snapshot_index: u64,
        snapshot_term: Term,
        entries: Vec<Entry>,
    ) -> Option<Self> {
        let contiguous = entries
            .iter()
            .zip(snapshot_index + 1..)
            .all(|(e, expected)| e.index == expected);
        let terms_monotone = entries.windows(2).all(|w| match w {
            [a, b] => a.term <= b.term,
            _ => true,
        });
        let after_snapshot = entries.first().is_none_or(|e| e.term >= snapshot_term);
        (contiguous && terms_monotone && after_snapshot).then_some(ReplicatedLog {
            snapshot_index,
            snapshot_term,
            entries,
        })
    }

    pub(crate) fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    pub(crate) fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`; `None` when compacted away (below the snapshot)
    /// or beyond the end.
    pub(crate) fn term_at(&self, index: u64) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub(crate) fn entry(&self, index: u64) -> Option<&Entry> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Up to `max` entries starting at `start` (clones, for a message).
    pub(crate) fn entries_from(&self, start: u64, max: usize) -> Vec<Entry> {
        let Some(offset) = start.checked_sub(self.snapshot_index + 1) else {
            return Vec::new();
        };
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .skip(offset)
            .take(max)
            .cloned()
            .collect()
    }

    /// Entries at or after `start` that are still held (for scans, no clones).
    pub(crate) fn iter_from(&self, start: u64) -> impl DoubleEndedIterator<Item = &Entry> {
        let offset = start.saturating_sub(self.snapshot_index + 1);
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.entries.iter().skip(offset)
    }

    /// Appends an entry that must be the next index (callers check).
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Removes every entry at or after `index`.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        let keep = index.saturating_sub(self.snapshot_index + 1);
        self.entries
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    /// Forgets entries up to `upto` (which held `term`): they live in a snapshot now.
    /// Entries after `upto` are kept only when `upto` is still in the log with that term.
    pub(crate) fn compact(&mut self, upto: u64, term: Term) {
        if self.term_at(upto) == Some(term) && upto <= self.last_index() {
            let drop = upto.saturating_sub(self.snapshot_index);
            self.entries.drain(
                ..usize::try_from(drop)
                    .unwrap_or(usize::MAX)
                    .min(self.entries.len()),
            );
        } else {
            self.entries.clear();
        }
        self.snapshot_index = upto;
        self.snapshot_term = term;
    }

    /// Whether a candidate whose log ends at (`last_term`, `last_index`) is at least as
    /// up to date as this one (§5.4.1).
    pub(crate) fn candidate_is_up_to_date(&self, last_term: Term, last_index: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// For a rejected AppendEntries at `prev_index`/`prev_term`: the highest index the
    /// leader should retry from, skipping our entries whose term is above `prev_term`
    /// (they cannot match), but never below `floor` (our commit index).
    pub(crate) fn rejection_hint(&self, prev_index: u64, prev_term: Term, floor: u64) -> u64 {
        let mut hint = prev_index.saturating_sub(1).min(self.last_index());
        while hint > floor && self.term_at(hint).is_some_and(|t| t > prev_term) {
            hint -= 1;
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[u64]) -> ReplicatedLog {
        let entries = terms
            .iter()
            .zip(1..)
            .map(|(&t, index)| Entry {
                term: Term(t),
                index,
                payload: EntryPayload::Noop,
            })
            .collect();
        ReplicatedLog::restore(0, Term(0), entries).unwrap_or_default()
    }

    #[test]
    fn restore_refuses_a_log_with_a_gap_or_decreasing_terms() {
        let e = |term, index| Entry {
            term: Term(term),
            index,
            payload: EntryPayload::Noop,
        };
        assert!(ReplicatedLog::restore(0, Term(0), vec![e(1, 1), e(1, 3)]).is_none());
        assert!(ReplicatedLog::restore(0, Term(0), vec![e(2, 1), e(1, 2)]).is_none());
        assert!(ReplicatedLog::restore(5, Term(3), vec![e(2, 6)]).is_none());
        assert!(ReplicatedLog::restore(5, Term(3), vec![e(3, 6), e(4, 7)]).is_some());
    }

    #[test]
    fn compaction_keeps_the_suffix_only_when_the_boundary_matches() {
        let mut log = log_of(&[1, 1, 2, 2]);
        log.compact(2, Term(1));
        assert_eq!((log.snapshot_index(), log.last_index()), (2, 4));
        assert_eq!(log.term_at(2), Some(Term(1)));
        assert_eq!(log.term_at(1), None);
        assert_eq!(log.entry(3).map(|e| e.term), Some(Term(2)));

        let mut log = log_of(&[1, 1, 2, 2]);
        log.compact(3, Term(3));
        assert_eq!((log.snapshot_index(), log.last_index()), (3, 3));
    }

    #[test]
    fn rejection_hint_skips_entries_of_terms_the_leader_cannot_have() {
        let log = log_of(&[1, 1, 4, 4, 4]);
        // Leader's prev entry is (5, t2): our t4 entries cannot match, retry after index 2.
        assert_eq!(log.rejection_hint(5, Term(2), 0), 2);
        // A prev beyond our end: retry right after our last entry.
        assert_eq!(log.rejection_hint(9, Term(4), 0), 5);
        // Never below the commit index.
        assert_eq!(log.rejection_hint(5, Term(2), 4), 4);
    }

    #[test]
    fn truncation_and_out_of_range_reads_never_panic() {
        let mut log = log_of(&[1, 2, 3]);
        assert!(log.entry(0).is_none());
        assert!(log.entry(u64::MAX).is_none());
        assert!(log.entries_from(u64::MAX, 10).is_empty());
        log.truncate_from(2);
        assert_eq!(log.last_index(), 1);
        log.truncate_from(0);
        assert_eq!(log.last_index(), 0);
    }
}
