//! Lifeguard's local health multiplier: a member that misses acks and nacks, or has to
//! refute suspicions of itself, is probably the slow one, so it probes less eagerly.

use std::time::Duration;

/// The local health score (Lifeguard §4.1 "LHM"): 0 is healthy, `max - 1` is the worst.
/// Probe interval and probe timeout are multiplied by `score + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalHealth {
    score: u32,
    max: u32,
}

impl LocalHealth {
    /// Healthy, saturating at `max_multiplier`.
    pub fn new(max_multiplier: u32) -> Self {
        LocalHealth {
            score: 0,
            max: max_multiplier.max(1),
        }
    }

    /// The current score.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// Moves the score by `delta`, within `0..max`.
    pub fn apply(&mut self, delta: i64) {
        let next = (i64::from(self.score) + delta).clamp(0, i64::from(self.max) - 1);
        self.score = u32::try_from(next).unwrap_or(0);
    }

    /// `d` scaled by `score + 1`.
    pub fn scale(&self, d: Duration) -> Duration {
        d.saturating_mul(self.score + 1)
    }
}
