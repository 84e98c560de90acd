//! The simulated network: latency, loss, duplication, reordering, partitions, slow nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use omnirelay_core::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How long one message takes on a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// `base` plus an exponential tail with the given mean: most messages are fast, a few
    /// are very late, as on a congested WAN link.
    LongTail {
        /// The floor (propagation delay).
        base: Duration,
        /// Mean of the exponential part.
        mean_extra: Duration,
    },
}

impl Latency {
    fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                if max <= min {
                    min
                } else {
                    let span = (max - min).as_nanos() as u64;
                    min + Duration::from_nanos(rng.random_range(0..=span))
                }
            }
            Latency::LongTail { base, mean_extra } => {
                let u: f64 = rng.random();
                let extra = -omnirelay_core::math::ln(1.0 - u) * mean_extra.as_secs_f64();
                // Cap the tail at 100 means so one draw cannot stall a run.
                base + Duration::from_secs_f64(extra.min(mean_extra.as_secs_f64() * 100.0))
            }
        }
    }
}

/// The behaviour of one direction of a link between two nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkModel {
    /// Delay of each message.
    pub latency: Latency,
    /// Probability that a message is dropped.
    pub loss: f64,
    /// Probability that a message is delivered twice (the copy has its own delay).
    pub duplicate: f64,
    /// Probability that a message is held back by up to `reorder_window` extra, so that
    /// later messages overtake it.
    pub reorder: f64,
    /// How far a reordered message may be held back.
    pub reorder_window: Duration,
}

impl LinkModel {
    /// A perfect link with a fixed delay.
    pub fn fixed(delay: Duration) -> Self {
        LinkModel {
            latency: Latency::Fixed(delay),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window: Duration::ZERO,
        }
    }

    /// A link whose delay is uniform in `[min, max]`, otherwise perfect.
    pub fn uniform(min: Duration, max: Duration) -> Self {
        LinkModel {
            latency: Latency::Uniform { min, max },
            ..LinkModel::fixed(min)
        }
    }

    /// The same link, losing messages with probability `loss`.
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// The same link, duplicating messages with probability `p`.
    pub fn with_duplication(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// The same link, holding back messages with probability `p` by up to `window`.
    pub fn with_reordering(mut self, p: f64, window: Duration) -> Self {
        self.reorder = p;
        self.reorder_window = window;
        self
    }
}

impl Default for LinkModel {
    /// A LAN link: 0.5–1.5 ms, no loss.
    fn default() -> Self {
        LinkModel::uniform(Duration::from_micros(500), Duration::from_micros(1500))
    }
}

/// What the network decided for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered after the first delay, and again after the second if duplicated.
    Deliver(Duration, Option<Duration>),
    /// Dropped by loss.
    Lost,
    /// Dropped because the link is cut.
    Partitioned,
}

/// The whole network: a default link, zones with their own links (regions), cut links and
/// slow nodes. Changeable at any point of a run.
#[derive(Clone, Debug, Default)]
pub struct NetworkModel {
    /// The link used between nodes of the same zone, and between zones with no override.
    pub default_link: LinkModel,
    zone_of: BTreeMap<NodeId, u32>,
    zone_links: BTreeMap<(u32, u32), LinkModel>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    slow: BTreeMap<NodeId, Duration>,
}

impl NetworkModel {
    /// A network where every link behaves like `link`.
    pub fn uniform(link: LinkModel) -> Self {
        NetworkModel {
            default_link: link,
            ..NetworkModel::default()
        }
    }

    /// Puts `node` in `zone` (a region): links between zones use `set_zone_link`.
    pub fn set_zone(&mut self, node: NodeId, zone: u32) {
        self.zone_of.insert(node, zone);
    }

    /// The link between two zones, both directions.
    pub fn set_zone_link(&mut self, a: u32, b: u32, link: LinkModel) {
        self.zone_links.insert((a, b), link);
        self.zone_links.insert((b, a), link);
    }

    /// Cuts every link between different groups, both ways. Nodes in no group keep
    /// their links. Replaces any earlier cut.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        self.blocked.clear();
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.blocked.insert((x, y));
                        self.blocked.insert((y, x));
                    }
                }
            }
        }
    }

    /// Cuts one direction only: `from` can no longer reach `to`.
    pub fn block_one_way(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
    }

    /// Cuts both directions between `a` and `b`, leaving other cuts in place.
    pub fn block(&mut self, a: NodeId, b: NodeId) {
        self.blocked.insert((a, b));
        self.blocked.insert((b, a));
    }

    /// Isolates `node` from every node in `others`, both ways.
    pub fn isolate(&mut self, node: NodeId, others: impl IntoIterator<Item = NodeId>) {
        for other in others {
            if other != node {
                self.block(node, other);
            }
        }
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Whether `from` can currently reach `to`.
    pub fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.contains(&(from, to))
    }

    /// Makes `node` slow: every message it receives and every timer it sets fire `extra`
    /// later (a struggling process). Zero makes it normal again.
    pub fn set_slow(&mut self, node: NodeId, extra: Duration) {
        if extra.is_zero() {
            self.slow.remove(&node);
        } else {
            self.slow.insert(node, extra);
        }
    }

    /// The extra delay of a slow node.
    pub fn slowness(&self, node: NodeId) -> Duration {
        self.slow.get(&node).copied().unwrap_or_default()
    }

    /// The link a message from `from` to `to` uses.
    pub fn link(&self, from: NodeId, to: NodeId) -> &LinkModel {
        match (self.zone_of.get(&from), self.zone_of.get(&to)) {
            (Some(a), Some(b)) if a != b => {
                self.zone_links.get(&(*a, *b)).unwrap_or(&self.default_link)
            }
            _ => &self.default_link,
        }
    }

    /// Decides what happens to one message, drawing from the simulation's RNG.
    pub fn fate(&self, from: NodeId, to: NodeId, rng: &mut ChaCha8Rng) -> Fate {
        if !self.reachable(from, to) {
            return Fate::Partitioned;
        }
        let link = self.link(from, to);
        if link.loss > 0.0 && rng.random_bool(link.loss.min(1.0)) {
            return Fate::Lost;
        }
        let slow = self.slowness(to);
        let delay = |rng: &mut ChaCha8Rng| {
            let mut d = link.latency.sample(rng) + slow;
            if link.reorder > 0.0 && rng.random_bool(link.reorder.min(1.0)) {
                let window = link.reorder_window.as_nanos() as u64;
                d += Duration::from_nanos(rng.random_range(0..=window));
            }
            d
        };
        let first = delay(rng);
        let second = if link.duplicate > 0.0 && rng.random_bool(link.duplicate.min(1.0)) {
            Some(delay(rng))
        } else {
            None
        };
        Fate::Deliver(first, second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_partition_cuts_only_links_between_groups() {
        let mut net = NetworkModel::default();
        let (a, b, c) = (NodeId(1), NodeId(2), NodeId(3));
        net.partition(&[&[a, b], &[c]]);
        assert!(net.reachable(a, b));
        assert!(!net.reachable(a, c) && !net.reachable(c, a));
        net.heal();
        assert!(net.reachable(a, c));
    }

    #[test]
    fn a_one_way_block_leaves_the_reverse_direction_open() {
        let mut net = NetworkModel::default();
        net.block_one_way(NodeId(1), NodeId(2));
        assert!(!net.reachable(NodeId(1), NodeId(2)));
        assert!(net.reachable(NodeId(2), NodeId(1)));
    }

    #[test]
    fn loss_drops_about_the_configured_fraction() {
        let net = NetworkModel::uniform(LinkModel::default().with_loss(0.2));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let lost = (0..10_000)
            .filter(|_| net.fate(NodeId(1), NodeId(2), &mut rng) == Fate::Lost)
            .count();
        assert!(
            (1_800..2_200).contains(&lost),
            "lost {lost} of 10000 at 20 %"
        );
    }

    #[test]
    fn zone_links_apply_between_zones_and_the_default_inside_one() {
        let mut net = NetworkModel::uniform(LinkModel::fixed(Duration::from_millis(1)));
        net.set_zone(NodeId(1), 0);
        net.set_zone(NodeId(2), 0);
        net.set_zone(NodeId(3), 1);
        net.set_zone_link(0, 1, LinkModel::fixed(Duration::from_millis(25)));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ms = Duration::from_millis;
        assert_eq!(
            net.fate(NodeId(1), NodeId(2), &mut rng),
            Fate::Deliver(ms(1), None)
        );
        assert_eq!(
            net.fate(NodeId(1), NodeId(3), &mut rng),
            Fate::Deliver(ms(25), None)
        );
        assert_eq!(
            net.fate(NodeId(3), NodeId(2), &mut rng),
            Fate::Deliver(ms(25), None)
        );
    }

    #[test]
    fn a_slow_node_receives_every_message_later() {
        let mut net = NetworkModel::uniform(LinkModel::fixed(Duration::from_millis(1)));
        net.set_slow(NodeId(2), Duration::from_millis(40));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            net.fate(NodeId(1), NodeId(2), &mut rng),
            Fate::Deliver(Duration::from_millis(41), None)
        );
    }
}
