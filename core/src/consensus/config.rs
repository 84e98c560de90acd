//! Static settings of a replica and the voter set it replicates among.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::NodeId;

/// How strongly a voter wants to lead. Among equally up-to-date candidates the one with
/// the highest priority wins; priority 0 means "votes, never leads" (a witness).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

impl Priority {
    /// A voter that never campaigns.
    pub const NEVER_LEADS: Priority = Priority(0);

    /// Whether a voter with this priority may campaign or receive a leadership transfer.
    pub fn may_lead(self) -> bool {
        self.0 > 0
    }
}

/// The voters of a cluster and their priorities. Changes one server at a time
/// (thesis §4.1), through `VoterChange` log entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VoterSet {
    voters: BTreeMap<NodeId, Priority>,
}

impl VoterSet {
    /// A voter set from `(id, priority)` pairs; a repeated id keeps its last priority.
    pub fn new(voters: impl IntoIterator<Item = (NodeId, Priority)>) -> Self {
        VoterSet {
            voters: voters.into_iter().collect(),
        }
    }

    /// `ids`, all with the same priority 1.
    pub fn uniform(ids: impl IntoIterator<Item = NodeId>) -> Self {
        Self::new(ids.into_iter().map(|id| (id, Priority(1))))
    }

    /// Whether `id` votes.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id)
    }

    /// The priority of `id`, if it votes.
    pub fn priority(&self, id: NodeId) -> Option<Priority> {
        self.voters.get(&id).copied()
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.voters.len()
    }

    /// Whether there are no voters.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// Votes needed for a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Voter ids in ascending order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.keys().copied()
    }

    /// A copy with `id` added (or its priority replaced).
    #[must_use]
    pub fn with_voter(&self, id: NodeId, priority: Priority) -> VoterSet {
        let mut next = self.clone();
        next.voters.insert(id, priority);
        next
    }

    /// A copy without `id`.
    #[must_use]
    pub fn without_voter(&self, id: NodeId) -> VoterSet {
        let mut next = self.clone();
        next.voters.remove(&id);
        next
    }

    /// How many servers differ (joined, left or changed priority) between the two sets.
    pub fn changed_servers(&self, other: &VoterSet) -> usize {
        let mut changed = 0;
        for (id, p) in &self.voters {
            if other.voters.get(id) != Some(p) {
                changed += 1;
            }
        }
        changed
            + other
                .voters
                .keys()
                .filter(|id| !self.voters.contains_key(id))
                .count()
    }
}

/// The range election timeouts are drawn from, uniformly, by the replica's own RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElectionTimeout {
    min: Duration,
    max: Duration,
}

impl ElectionTimeout {
    /// `min..=max`; `None` when `min` is zero or above `max`.
    pub fn new(min: Duration, max: Duration) -> Option<Self> {
        (!min.is_zero() && min <= max).then_some(ElectionTimeout { min, max })
    }

    /// The lower bound: also the leader lease followers grant.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The upper bound: also the check-quorum window and how long a transfer may take.
    pub fn max(&self) -> Duration {
        self.max
    }
}

/// Settings of one replica. Every voter of a cluster should use the same values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// This node.
    pub id: NodeId,
    /// Range the randomized election timeout is drawn from.
    pub election_timeout: ElectionTimeout,
    /// How often a leader sends AppendEntries when it has nothing new (must be well
    /// under `election_timeout.min()`).
    pub heartbeat_interval: Duration,
    /// Run a pre-vote round before raising the term (thesis §9.6).
    pub pre_vote: bool,
    /// Leader steps down without a majority's contact within `election_timeout.max()`,
    /// and followers that heard a live leader within `election_timeout.min()` reject
    /// (pre)votes (§4.2.3).
    pub check_quorum: bool,
    /// Most entries one AppendEntries carries.
    pub max_entries_per_append: usize,
}

impl ReplicaConfig {
    /// Defaults: 150–300 ms election timeouts, 50 ms heartbeats, pre-vote and check-quorum on.
    pub fn new(id: NodeId) -> Self {
        ReplicaConfig {
            id,
            election_timeout: ElectionTimeout {
                min: Duration::from_millis(150),
                max: Duration::from_millis(300),
            },
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: true,
            check_quorum: true,
            max_entries_per_append: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priority_change_counts_as_one_changed_server() {
        let a = VoterSet::uniform([NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(a.changed_servers(&a), 0);
        assert_eq!(a.changed_servers(&a.with_voter(NodeId(2), Priority(5))), 1);
        assert_eq!(a.changed_servers(&a.without_voter(NodeId(3))), 1);
        let two = a
            .without_voter(NodeId(3))
            .with_voter(NodeId(4), Priority(1));
        assert_eq!(a.changed_servers(&two), 2);
    }

    #[test]
    fn election_timeout_refuses_an_empty_or_inverted_range() {
        let ms = Duration::from_millis;
        assert!(ElectionTimeout::new(ms(0), ms(10)).is_none());
        assert!(ElectionTimeout::new(ms(20), ms(10)).is_none());
        assert!(ElectionTimeout::new(ms(150), ms(150)).is_some());
    }
}
