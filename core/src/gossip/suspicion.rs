//! Lifeguard's suspicion timer: it starts long and shrinks as other members confirm.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::{Instant, NodeId, math};

/// A running suspicion of one member at one incarnation (Lifeguard §4.2).
///
/// With `c` independent confirmations out of the `k` expected, the timeout is
/// `max(min, max - (max - min) * log(c + 1) / log(k + 1))`: a lone suspicion waits `max`,
/// which leaves a slow-but-alive member time to refute, and agreement speeds detection up.
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    started: Instant,
    min: Duration,
    max: Duration,
    expected: u32,
    /// Who suspected it, the first suspecter included (it is not a confirmation).
    suspecters: BTreeSet<NodeId>,
    deadline: Instant,
}

impl Suspicion {
    /// A suspicion raised by `from` at `now`, expecting `expected` confirmations.
    pub(crate) fn new(
        now: Instant,
        from: NodeId,
        expected: u32,
        min: Duration,
        max: Duration,
    ) -> Self {
        let max = max.max(min);
        let mut s = Suspicion {
            started: now,
            min,
            max,
            expected,
            suspecters: BTreeSet::from([from]),
            deadline: now,
        };
        s.deadline = now + s.timeout();
        s
    }

    /// Confirmations so far.
    pub(crate) fn confirmations(&self) -> u32 {
        u32::try_from(self.suspecters.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// The timeout for the confirmations so far.
    pub(crate) fn timeout(&self) -> Duration {
        if self.expected == 0 {
            return self.min;
        }
        let c = f64::from(self.confirmations().min(self.expected));
        // The portable ln: a libm's last bit would move the deadline between platforms.
        let frac = math::ln(c + 1.0) / math::ln(f64::from(self.expected) + 1.0);
        let span = self.max.saturating_sub(self.min);
        self.max.saturating_sub(span.mul_f64(frac)).max(self.min)
    }

    /// When the member is declared dead unless it refutes.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Records `from`'s suspicion; true iff it is a new, independent confirmation (the
    /// deadline then moved earlier and the update is worth re-gossiping).
    pub(crate) fn confirm(&mut self, from: NodeId) -> bool {
        if self.confirmations() >= self.expected || !self.suspecters.insert(from) {
            return false;
        }
        self.deadline = self.started + self.timeout();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_or_excess_confirmations_do_not_shorten_the_timeout() {
        let mut s = Suspicion::new(
            Instant::ZERO,
            NodeId(1),
            2,
            Duration::from_secs(1),
            Duration::from_secs(6),
        );
        assert!(!s.confirm(NodeId(1)));
        assert!(s.confirm(NodeId(2)));
        assert!(!s.confirm(NodeId(2)));
        assert!(s.confirm(NodeId(3)));
        assert_eq!(s.deadline(), Instant::from_secs(1));
        assert!(!s.confirm(NodeId(4)));
    }

    /// Lifeguard §4.2's timeout is computed with the portable `math::ln` bit for bit, so a
    /// deadline replays on every platform. A span of 2^40 s magnifies a one-ulp difference
    /// in the logarithm ratio into whole nanoseconds.
    #[test]
    fn suspicion_timeout_uses_the_portable_logarithm_bit_for_bit() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(1 << 40));
        for expected in 1..=64u32 {
            let mut s = Suspicion::new(Instant::ZERO, NodeId(0), expected, min, max);
            for c in 0..=expected {
                let frac = math::ln(f64::from(c) + 1.0) / math::ln(f64::from(expected) + 1.0);
                let want = max.saturating_sub((max - min).mul_f64(frac)).max(min);
                assert_eq!(s.timeout(), want, "c = {c} of {expected}");
                s.confirm(NodeId(u64::from(c) + 1));
            }
        }
    }
}
