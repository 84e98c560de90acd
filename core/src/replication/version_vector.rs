//! `ClusterVersionVector`: per origin cluster, the highest contiguous `origin_seq` applied.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::{ClusterId, IdError};

/// How two version vectors relate in the partial order of pointwise `<=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersionOrdering {
    /// `self` is strictly behind `other`: every entry `<=`, at least one `<`.
    Before,
    /// `self` is strictly ahead of `other`.
    After,
    /// Every entry is equal.
    Equal,
    /// Each is ahead of the other somewhere: neither dominates.
    Concurrent,
}

/// `origin_cluster -> highest contiguous origin_seq applied` (ARCHITECTURE.md, vocabulary).
///
/// An absent cluster reads as 0. Zero entries are never stored, so two vectors that read
/// the same everywhere are equal as values too (derived `Eq` and `Hash` are the
/// mathematical ones).
///
/// Text form (for headers and logs): `eu-west=7,us-east=12` — entries sorted by cluster
/// id, zero entries omitted, separated by `,` without spaces. The empty vector is the
/// empty string. Cluster ids cannot contain `=` or `,`, so no escaping is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClusterVersionVector {
    entries: BTreeMap<ClusterId, u64>,
}

impl ClusterVersionVector {
    /// The empty vector: nothing applied from anyone.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous `origin_seq` applied from `origin` (0 when none).
    pub fn get(&self, origin: &ClusterId) -> u64 {
        self.entries.get(origin).copied().unwrap_or(0)
    }

    /// Records the next sequence number of `origin` and returns it.
    ///
    /// Saturates at `u64::MAX` rather than wrapping: a vector never moves backwards.
    pub fn increment(&mut self, origin: &ClusterId) -> u64 {
        let next = self.get(origin).saturating_add(1);
        self.entries.insert(origin.clone(), next);
        next
    }

    /// Sets `origin`'s entry to exactly `seq`, even lower than before (for rebuilding a
    /// vector from a snapshot; replication uses [`advance`](Self::advance)).
    pub fn set(&mut self, origin: &ClusterId, seq: u64) {
        if seq == 0 {
            self.entries.remove(origin);
        } else {
            self.entries.insert(origin.clone(), seq);
        }
    }

    /// Raises `origin`'s entry to `seq` if it is higher; returns whether it moved.
    pub fn advance(&mut self, origin: &ClusterId, seq: u64) -> bool {
        if seq > self.get(origin) {
            self.entries.insert(origin.clone(), seq);
            true
        } else {
            false
        }
    }

    /// Pointwise maximum with `other`, in place.
    pub fn merge(&mut self, other: &ClusterVersionVector) {
        for (origin, &seq) in &other.entries {
            self.advance(origin, seq);
        }
    }

    /// Pointwise maximum of `self` and `other`, as a new vector.
    #[must_use]
    pub fn merged(&self, other: &ClusterVersionVector) -> ClusterVersionVector {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// Whether `self >= other` at every cluster.
    pub fn dominates(&self, other: &ClusterVersionVector) -> bool {
        other
            .entries
            .iter()
            .all(|(origin, &seq)| self.get(origin) >= seq)
    }

    /// Where `self` stands relative to `other` in the partial order.
    pub fn compare(&self, other: &ClusterVersionVector) -> VersionOrdering {
        let mut ahead = false;
        let mut behind = false;
        let clusters = self.entries.keys().chain(other.entries.keys());
        for origin in clusters {
            match self.get(origin).cmp(&other.get(origin)) {
                Ordering::Greater => ahead = true,
                Ordering::Less => behind = true,
                Ordering::Equal => {}
            }
        }
        match (ahead, behind) {
            (false, false) => VersionOrdering::Equal,
            (true, false) => VersionOrdering::After,
            (false, true) => VersionOrdering::Before,
            (true, true) => VersionOrdering::Concurrent,
        }
    }

    /// The non-zero entries, sorted by cluster id.
    pub fn iter(&self) -> impl Iterator<Item = (&ClusterId, u64)> + '_ {
        self.entries.iter().map(|(origin, &seq)| (origin, seq))
    }

    /// Whether every entry is zero.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for ClusterVersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (origin, seq)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{origin}={seq}")?;
        }
        Ok(())
    }
}

/// Why the text form of a version vector was refused. Parsing has no state to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionVectorParseError {
    /// An entry is not `<cluster>=<number>` (missing or extra `=`, or empty).
    #[error("version vector entry {entry:?} is not of the form <cluster>=<number>")]
    MalformedEntry {
        /// The refused entry.
        entry: String,
    },
    /// The cluster part is not a valid cluster id.
    #[error("version vector entry {entry:?} has a bad cluster id")]
    BadClusterId {
        /// The refused entry.
        entry: String,
        /// Why the id was refused.
        #[source]
        source: IdError,
    },
    /// The number part is not a decimal `u64`.
    #[error("version vector entry {entry:?} has a bad sequence number")]
    BadNumber {
        /// The refused entry.
        entry: String,
    },
    /// The same cluster appears twice.
    #[error("version vector names cluster {cluster} twice")]
    DuplicateCluster {
        /// The repeated cluster.
        cluster: ClusterId,
    },
}

impl FromStr for ClusterVersionVector {
    type Err = VersionVectorParseError;

    /// Parses the text form. Accepts entries in any order and `cluster=0` entries (read
    /// as absent), so that hand-written headers work; refuses spaces and duplicates.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut vv = ClusterVersionVector::new();
        if s.is_empty() {
            return Ok(vv);
        }
        let mut seen = std::collections::BTreeSet::new();
        for entry in s.split(',') {
            let malformed = || VersionVectorParseError::MalformedEntry {
                entry: entry.to_owned(),
            };
            let (name, number) = entry.split_once('=').ok_or_else(malformed)?;
            if name.is_empty() || number.is_empty() || number.contains('=') {
                return Err(malformed());
            }
            let origin =
                ClusterId::new(name).map_err(|source| VersionVectorParseError::BadClusterId {
                    entry: entry.to_owned(),
                    source,
                })?;
            // `u64::from_str` accepts a leading `+`; the text form never writes one.
            let seq = if number.bytes().all(|b| b.is_ascii_digit()) {
                number.parse::<u64>().ok()
            } else {
                None
            };
            let seq = seq.ok_or_else(|| VersionVectorParseError::BadNumber {
                entry: entry.to_owned(),
            })?;
            if !seen.insert(origin.clone()) {
                return Err(VersionVectorParseError::DuplicateCluster { cluster: origin });
            }
            vv.set(&origin, seq);
        }
        Ok(vv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> ClusterId {
        ClusterId::new(s).unwrap()
    }

    #[test]
    fn text_form_is_sorted_and_omits_zero_entries() {
        let mut vv = ClusterVersionVector::new();
        vv.set(&cid("us-east"), 12);
        vv.set(&cid("eu-west"), 7);
        vv.set(&cid("ap-south"), 0);
        assert_eq!(vv.to_string(), "eu-west=7,us-east=12");
        assert_eq!(ClusterVersionVector::new().to_string(), "");
        assert_eq!("".parse(), Ok(ClusterVersionVector::new()));
        assert_eq!("us-east=12,eu-west=7".parse(), Ok(vv));
    }

    #[test]
    fn malformed_entries_are_refused_with_their_text() {
        for bad in ["a", "a=1,", ",a=1", "=1", "a=", "a=1=2", "a=1,,b=2"] {
            assert!(
                matches!(
                    bad.parse::<ClusterVersionVector>(),
                    Err(VersionVectorParseError::MalformedEntry { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_cluster_ids_are_refused() {
        for bad in ["US=1", "a b=1", " a=1"] {
            assert!(
                matches!(
                    bad.parse::<ClusterVersionVector>(),
                    Err(VersionVectorParseError::BadClusterId { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_numbers_are_refused() {
        for bad in ["a=-1", "a=+1", "a=x", "a=1 ", "a=18446744073709551616"] {
            assert!(
                matches!(
                    bad.parse::<ClusterVersionVector>(),
                    Err(VersionVectorParseError::BadNumber { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_cluster_named_twice_is_refused() {
        assert_eq!(
            "a=1,b=2,a=3".parse::<ClusterVersionVector>(),
            Err(VersionVectorParseError::DuplicateCluster { cluster: cid("a") })
        );
        // Even when one of the two is a zero entry.
        assert!("a=0,a=3".parse::<ClusterVersionVector>().is_err());
    }

    #[test]
    fn advance_never_moves_backwards_but_set_does() {
        let mut vv = ClusterVersionVector::new();
        assert!(vv.advance(&cid("a"), 5));
        assert!(!vv.advance(&cid("a"), 3));
        assert_eq!(vv.get(&cid("a")), 5);
        vv.set(&cid("a"), 0);
        assert!(vv.is_empty());
        assert_eq!(vv.increment(&cid("a")), 1);
    }

    #[test]
    fn compare_distinguishes_the_four_orderings() {
        let a: ClusterVersionVector = "x=1,y=2".parse().unwrap();
        let b: ClusterVersionVector = "x=1,y=3".parse().unwrap();
        let c: ClusterVersionVector = "x=2,y=1".parse().unwrap();
        assert_eq!(a.compare(&b), VersionOrdering::Before);
        assert_eq!(b.compare(&a), VersionOrdering::After);
        assert_eq!(a.compare(&a.clone()), VersionOrdering::Equal);
        assert_eq!(b.compare(&c), VersionOrdering::Concurrent);
        assert!(b.dominates(&a) && !a.dominates(&b) && !b.dominates(&c));
    }
}
