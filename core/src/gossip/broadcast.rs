//! The queue of updates still to be retransmitted (memberlist's transmit-limited queue).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::NodeId;

use super::message::Update;

/// The smallest update there is; below this much room nothing more can fit.
const MIN_UPDATE_BYTES: usize = 6;
/// Entries looked at past the first that did not fit, so a send never scans the queue.
const MAX_MISSES: usize = 16;

#[derive(Debug)]
struct Pending {
    update: Update,
    transmits: u32,
    order: u64,
    size: usize,
}

/// Updates waiting to be piggybacked, at most one per member (a newer update about a
/// member replaces the older one, which it overrides anyway).
///
/// Sends take the least-transmitted first and, among equals, the most recent: a fresh
/// update spreads fastest while old ones finish their budget. Only updates of at most
/// `max_update_bytes` are queued, and every send offers at least that much room, so the
/// first update looked at always goes: nothing can sit at the head untransmitted.
#[derive(Debug)]
pub(crate) struct BroadcastQueue {
    by_member: BTreeMap<NodeId, Pending>,
    order: BTreeSet<(u32, Reverse<u64>, NodeId)>,
    next_order: u64,
    max_update_bytes: usize,
}

impl BroadcastQueue {
    /// An empty queue for updates of at most `max_update_bytes`.
    pub(crate) fn new(max_update_bytes: usize) -> Self {
        BroadcastQueue {
            by_member: BTreeMap::new(),
            order: BTreeSet::new(),
            next_order: 0,
            max_update_bytes,
        }
    }

    /// Queues `update`, replacing any pending update about the same member. An update
    /// larger than `max_update_bytes` is not queued (callers refuse oversized metadata
    /// first, so this is a backstop): it would never fit, never count a transmission and
    /// never leave.
    pub(crate) fn push(&mut self, update: Update) {
        let size = update.wire_size();
        if size > self.max_update_bytes {
            return;
        }
        let member = update.member();
        self.forget(member);
        let order = self.next_order;
        self.next_order += 1;
        self.order.insert((0, Reverse(order), member));
        self.by_member.insert(
            member,
            Pending {
                size,
                update,
                transmits: 0,
                order,
            },
        );
    }

    /// Drops any pending update about `member`.
    pub(crate) fn forget(&mut self, member: NodeId) {
        if let Some(old) = self.by_member.remove(&member) {
            self.order
                .remove(&(old.transmits, Reverse(old.order), member));
        }
    }

    /// Updates that fit in `budget` bytes; each counts one transmission, and an update that
    /// reached `limit` transmissions leaves the queue.
    pub(crate) fn take(&mut self, budget: usize, limit: u32) -> Vec<Update> {
        let mut room = budget;
        let mut chosen = Vec::new();
        let mut misses = 0;
        for &(transmits, order, member) in &self.order {
            if room < MIN_UPDATE_BYTES || misses > MAX_MISSES {
                break;
            }
            let Some(p) = self.by_member.get(&member) else {
                continue;
            };
            if p.size <= room {
                room -= p.size;
                chosen.push((transmits, order, member));
            } else {
                misses += 1;
            }
        }
        let mut out = Vec::with_capacity(chosen.len());
        for key in chosen {
            self.order.remove(&key);
            let (_, order, member) = key;
            let Some(p) = self.by_member.get_mut(&member) else {
                continue;
            };
            out.push(p.update.clone());
            p.transmits += 1;
            if p.transmits >= limit {
                self.by_member.remove(&member);
            } else {
                self.order.insert((p.transmits, order, member));
            }
        }
        out
    }

    /// Updates still queued.
    pub(crate) fn len(&self) -> usize {
        self.by_member.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suspect(member: u64, incarnation: u64) -> Update {
        Update::Suspect {
            member: NodeId(member),
            incarnation,
            from: NodeId(99),
        }
    }

    #[test]
    fn each_update_is_sent_exactly_its_retransmit_limit() {
        let mut q = BroadcastQueue::new(1400);
        q.push(suspect(1, 0));
        let sent: usize = (0..10).map(|_| q.take(1400, 3).len()).sum();
        assert_eq!(sent, 3);
        assert_eq!(q.len(), 0);
    }

    /// memberlist's queue assumes every update fits a packet. One that cannot is refused,
    /// or a pile of them (newest first, unsendable) would stop each scan after
    /// `MAX_MISSES` before the older updates behind them, which would then barely spread.
    #[test]
    fn oversized_updates_are_never_queued_so_older_ones_keep_going_out() {
        let budget = suspect(1, 0).wire_size();
        let mut q = BroadcastQueue::new(budget);
        q.push(suspect(1, 0));
        for member in 2..40 {
            q.push(suspect(member, u64::MAX - 1));
        }
        assert_eq!(q.len(), 1);
        let sent: usize = (0..5).map(|_| q.take(budget, 3).len()).sum();
        assert_eq!(sent, 3, "the old update gets its whole retransmit budget");
    }

    #[test]
    fn newer_update_about_a_member_replaces_the_older() {
        let mut q = BroadcastQueue::new(1400);
        q.push(suspect(1, 0));
        q.push(suspect(1, 5));
        assert_eq!(q.take(1400, 3), vec![suspect(1, 5)]);
    }

    #[test]
    fn least_transmitted_then_newest_goes_first_within_the_budget() {
        let mut q = BroadcastQueue::new(1400);
        q.push(suspect(1, 0));
        let _ = q.take(1400, 10);
        q.push(suspect(2, 0));
        q.push(suspect(3, 0));
        let one = suspect(3, 0).wire_size();
        assert_eq!(q.take(one, 10), vec![suspect(3, 0)]);
        assert_eq!(q.take(one, 10), vec![suspect(2, 0)]);
    }
}
