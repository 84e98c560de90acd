//! Timing and sizing knobs, with the memberlist profiles this mesh starts from.

use std::time::Duration;

use crate::math;

use super::message::{GossipMessage, Update};

/// How often and how hard a member probes, gossips and suspects.
///
/// `lan` and `wan` carry hashicorp/memberlist's `DefaultLANConfig` / `DefaultWANConfig`
/// values verbatim; `mesh` is this project's faster profile for a cluster's own members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// One protocol period: how often a member probes the next member on its list.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` members for help.
    pub probe_timeout: Duration,
    /// How many members are asked to probe indirectly (SWIM's k).
    pub indirect_checks: usize,
    /// How often queued updates are pushed to random members, besides piggybacking.
    pub gossip_interval: Duration,
    /// To how many random members each gossip round goes.
    pub gossip_nodes: usize,
    /// How long dead and left members keep receiving gossip, so a wrongly declared member
    /// hears about it and refutes.
    pub gossip_to_the_dead: Duration,
    /// Suspicion lasts `suspicion_mult * max(1, log10(n)) * probe_interval` at least.
    pub suspicion_mult: u32,
    /// Lifeguard: a suspicion nobody confirms lasts this multiple of the minimum.
    pub suspicion_max_timeout_mult: u32,
    /// Each update is retransmitted `retransmit_mult * ceil(log10(n + 1))` times.
    pub retransmit_mult: u32,
    /// How often a full-state exchange runs with one random member (scaled up above 32
    /// members, as memberlist does).
    pub push_pull_interval: Duration,
    /// Lifeguard local health: probe interval and timeout are scaled by up to this factor.
    pub awareness_max_multiplier: u32,
    /// Largest datagram (ping, ack, gossip) a member sends or accepts. It also bounds a
    /// member's metadata: see [`GossipConfig::max_meta_bytes`].
    pub max_packet_bytes: usize,
    /// Largest full-state exchange a member accepts (a stream, so much larger).
    pub max_push_pull_bytes: usize,
    /// How long a dead or left member's tombstone is kept before it is forgotten.
    pub tombstone_ttl: Duration,
    /// Cap on indirect probes this member runs for others at once.
    pub max_pending_relays: usize,
    /// Start the first probe at a random offset inside the first period (memberlist does).
    /// Off only to reproduce SWIM's analysis, which assumes aligned protocol periods.
    pub stagger_start: bool,
}

impl GossipConfig {
    /// memberlist `DefaultLANConfig`: probe 1 s / 500 ms, 3 indirect checks, gossip every
    /// 200 ms to 3 members, suspicion mult 4 (max 6x), retransmit mult 4, push-pull 30 s,
    /// gossip to the dead 30 s, awareness up to 8x, 1400-byte datagrams.
    pub fn lan() -> Self {
        GossipConfig {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead: Duration::from_secs(30),
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            push_pull_interval: Duration::from_secs(30),
            awareness_max_multiplier: 8,
            max_packet_bytes: 1400,
            max_push_pull_bytes: 16 << 20,
            tombstone_ttl: Duration::from_secs(120),
            max_pending_relays: 1024,
            stagger_start: true,
        }
    }

    /// memberlist `DefaultWANConfig`: the LAN values with probe 5 s / 3 s, gossip every
    /// 500 ms to 4 members, suspicion mult 6, push-pull 60 s, gossip to the dead 60 s.
    pub fn wan() -> Self {
        GossipConfig {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            gossip_to_the_dead: Duration::from_secs(60),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            tombstone_ttl: Duration::from_secs(300),
            ..GossipConfig::lan()
        }
    }

    /// This mesh's profile for the members of one cluster on a fast network: probe every
    /// 500 ms (200 ms timeout), gossip every 50 ms to 4 members, push-pull 15 s. Aimed at a
    /// join known by 95 % of 200 members within 1 s.
    pub fn mesh() -> Self {
        GossipConfig {
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(200),
            gossip_interval: Duration::from_millis(50),
            gossip_nodes: 4,
            gossip_to_the_dead: Duration::from_secs(15),
            push_pull_interval: Duration::from_secs(15),
            tombstone_ttl: Duration::from_secs(60),
            ..GossipConfig::lan()
        }
    }

    /// The profile called `name` (`lan`, `wan` or `mesh`).
    pub fn profile(name: &str) -> Option<Self> {
        match name {
            "lan" => Some(Self::lan()),
            "wan" => Some(Self::wan()),
            "mesh" => Some(Self::mesh()),
            _ => None,
        }
    }

    /// The largest metadata (`MemberMeta::wire_size`) a member may announce or accept:
    /// `max_packet_bytes` less the largest probe header, a buddy suspicion and the framing
    /// of the alive update carrying it, so a member's refutation always fits in one
    /// datagram (1,303 bytes with 1,400-byte datagrams). Larger metadata could only spread
    /// by push-pull, slower than a suspicion times out.
    pub fn max_meta_bytes(&self) -> usize {
        let room = GossipMessage::update_room(self.max_packet_bytes);
        // The framing takes at most 30 bytes, so this looks at no more than 31 sizes.
        (0..=room)
            .rev()
            .find(|&meta| Update::largest_alive_size(meta) <= room)
            .unwrap_or(0)
    }

    /// Retransmissions per update for a cluster of `n` live members.
    pub fn retransmit_limit(&self, n: usize) -> u32 {
        let scale = ceil_log10(n.saturating_add(1));
        self.retransmit_mult.saturating_mul(scale.max(1))
    }

    /// Lifeguard's suspicion bounds `(min, max)` for a cluster of `n` live members.
    pub fn suspicion_bounds(&self, n: usize) -> (Duration, Duration) {
        // The portable log10: a libm's last bit would move every suspicion deadline.
        let scale = math::log10(n.max(1) as f64).max(1.0);
        let min = self
            .probe_interval
            .mul_f64(f64::from(self.suspicion_mult) * scale);
        let max = min.saturating_mul(self.suspicion_max_timeout_mult.max(1));
        (min, max)
    }

    /// The push-pull period for `n` members: memberlist stretches it above 32 members so
    /// full-state traffic grows like log(n), not n.
    pub fn push_pull_period(&self, n: usize) -> Duration {
        if n <= 32 {
            return self.push_pull_interval;
        }
        let extra = ceil_log2(n).saturating_sub(5);
        self.push_pull_interval.saturating_mul(extra + 1)
    }
}

/// `ceil(log2(v))` on integers (0 for `v <= 1`), so no float feeds the push-pull period.
fn ceil_log2(v: usize) -> u32 {
    match v {
        0 | 1 => 0,
        _ => (v - 1).ilog2() + 1,
    }
}

/// `ceil(log10(v))` on integers, so retransmit counts do not wobble with float rounding.
fn ceil_log10(v: usize) -> u32 {
    let mut digits = 0;
    let mut bound: usize = 1;
    while bound < v {
        digits += 1;
        match bound.checked_mul(10) {
            Some(b) => bound = b,
            None => break,
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmit_limit_matches_memberlist_formula() {
        let c = GossipConfig::lan();
        // 4 * ceil(log10(n + 1))
        assert_eq!(c.retransmit_limit(1), 4);
        assert_eq!(c.retransmit_limit(9), 4);
        assert_eq!(c.retransmit_limit(10), 8);
        assert_eq!(c.retransmit_limit(200), 12);
        assert_eq!(c.retransmit_limit(1000), 16);
    }

    #[test]
    fn push_pull_stretches_above_32_members() {
        let c = GossipConfig::lan();
        assert_eq!(c.push_pull_period(32), Duration::from_secs(30));
        assert_eq!(c.push_pull_period(64), Duration::from_secs(60));
        assert_eq!(c.push_pull_period(1000), Duration::from_secs(180));
    }

    #[test]
    fn metadata_limit_leaves_room_for_the_largest_alive_in_the_tightest_datagram() {
        for max_packet_bytes in [0, 60, 99, 100, 200, 512, 1400, 9000, 65_507] {
            let c = GossipConfig {
                max_packet_bytes,
                ..GossipConfig::lan()
            };
            let room = GossipMessage::update_room(max_packet_bytes);
            let limit = c.max_meta_bytes();
            if room > 0 && limit > 0 {
                assert!(
                    Update::largest_alive_size(limit) <= room,
                    "{max_packet_bytes}"
                );
                assert!(
                    Update::largest_alive_size(limit + 1) > room,
                    "{max_packet_bytes}"
                );
            }
        }
        assert_eq!(GossipConfig::lan().max_meta_bytes(), 1303);
    }

    /// The push-pull period is integer arithmetic: `1 + ceil(log2(n)) - 5` intervals above
    /// 32 members, checked against the smallest power of two that holds `n`.
    #[test]
    fn push_pull_period_is_integer_ceil_log2() {
        let c = GossipConfig::lan();
        for n in 33..5000usize {
            let k = (0..64).find(|k| (1usize << k) >= n).unwrap_or(64);
            assert_eq!(
                c.push_pull_period(n),
                c.push_pull_interval * (k - 4),
                "n = {n}"
            );
        }
    }

    /// Suspicion bounds come from the portable `math::log10` bit for bit, so a deadline is
    /// the same on every platform and a recorded seed replays anywhere. A probe interval of
    /// 2^30 s magnifies a one-ulp difference in the logarithm into whole nanoseconds.
    #[test]
    fn suspicion_bounds_use_the_portable_logarithm_bit_for_bit() {
        let c = GossipConfig {
            probe_interval: Duration::from_secs(1 << 30),
            ..GossipConfig::lan()
        };
        for n in 1..5000usize {
            let scale = math::log10(n as f64).max(1.0);
            let min = c
                .probe_interval
                .mul_f64(f64::from(c.suspicion_mult) * scale);
            assert_eq!(c.suspicion_bounds(n).0, min, "n = {n}");
        }
    }
}
