//! Replication lag per (source, target), measured on the source's own clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::{ClusterId, Instant};

use super::ClusterVersionVector;

/// How far a target is behind a source (ARCHITECTURE.md, vocabulary: lag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lag {
    /// The source's last `origin_seq` minus the target's acknowledged `VV[source]`
    /// (`mesh_replication_lag_entries`).
    pub entries: u64,
    /// `now` minus the `written_at` of the oldest event the target has not acknowledged,
    /// zero when caught up (`mesh_replication_lag_seconds`, via `as_secs_f64`).
    pub seconds: Duration,
}

impl Lag {
    /// Whether the target has acknowledged every event of the source.
    pub fn is_caught_up(&self) -> bool {
        self.entries == 0
    }
}

/// Why a lag input was refused. State is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LagError {
    /// The source's own sequence numbers must be recorded contiguously from 1. State
    /// unchanged.
    #[error("local event seq {got} recorded, expected {expected}")]
    NonContiguous {
        /// `last_seq + 1`.
        expected: u64,
        /// The refused sequence number.
        got: u64,
    },
    /// A target acknowledged a sequence number the source has not committed: impossible,
    /// so the ack is not believed. State unchanged.
    #[error("{target} acknowledged seq {acked}, but the last local seq is {last_seq}")]
    AckAhead {
        /// The acknowledging target.
        target: ClusterId,
        /// Its claimed `VV[source]`.
        acked: u64,
        /// The source's last committed seq.
        last_seq: u64,
    },
}

/// Tracks, on a source cluster, how far each target cluster lags behind it.
///
/// Calling order: [`record_local`](Self::record_local) as the source commits each of its own
/// events, [`handle_ack`](Self::handle_ack) as targets acknowledge their VV (in any order,
/// late acks never move a target backwards), [`lag`](Self::lag) whenever metrics or a
/// failover preflight need it. Both ends of every measurement are instants of the source's
/// clock, so clock skew between regions cannot distort it.
///
/// Memory: `written_at` is kept only for sequence numbers some known target has not yet
/// acknowledged (plus the last one), so it is bounded by the slowest target's backlog.
#[derive(Clone, Debug)]
pub struct LagTracker {
    source: ClusterId,
    last_seq: u64,
    /// `written[i]` is the `written_at` of seq `first_kept + i`.
    first_kept: u64,
    written: VecDeque<Instant>,
    acked: BTreeMap<ClusterId, u64>,
}

impl LagTracker {
    /// A tracker for `source`'s events towards `targets`, none of which has acknowledged
    /// anything yet.
    pub fn new(source: ClusterId, targets: impl IntoIterator<Item = ClusterId>) -> Self {
        LagTracker {
            source,
            last_seq: 0,
            first_kept: 1,
            written: VecDeque::new(),
            acked: targets.into_iter().map(|t| (t, 0)).collect(),
        }
    }

    /// Starts tracking `target` (no-op if known). If timestamps it needs were already
    /// forgotten, its `seconds` is measured from the oldest one kept: a lower bound.
    pub fn add_target(&mut self, target: ClusterId) {
        self.acked.entry(target).or_insert(0);
    }

    /// Stops tracking `target` (it left the mesh), releasing what only it held back.
    pub fn remove_target(&mut self, target: &ClusterId) {
        self.acked.remove(target);
        self.forget_acknowledged();
    }

    /// The source committed its own event `seq`, written at `written_at` (its own clock).
    pub fn record_local(&mut self, seq: u64, written_at: Instant) -> Result<(), LagError> {
        let expected = self.last_seq.saturating_add(1);
        if seq != expected {
            return Err(LagError::NonContiguous { expected, got: seq });
        }
        if self.written.is_empty() {
            self.first_kept = seq;
        }
        self.written.push_back(written_at);
        self.last_seq = seq;
        self.forget_acknowledged();
        Ok(())
    }

    /// `target` acknowledged `vv`; only `vv[source]` matters. Unknown targets start being
    /// tracked. Returns whether the target's acknowledged seq moved forward.
    pub fn handle_ack(
        &mut self,
        target: &ClusterId,
        vv: &ClusterVersionVector,
    ) -> Result<bool, LagError> {
        let acked = vv.get(&self.source);
        if acked > self.last_seq {
            return Err(LagError::AckAhead {
                target: target.clone(),
                acked,
                last_seq: self.last_seq,
            });
        }
        let entry = self.acked.entry(target.clone()).or_insert(0);
        let moved = acked > *entry;
        *entry = (*entry).max(acked);
        self.forget_acknowledged();
        Ok(moved)
    }

    /// How far `target` is behind at `now` (source clock). A target never acknowledged,
    /// or unknown, lags by everything.
    pub fn lag(&self, target: &ClusterId, now: Instant) -> Lag {
        let acked = self.acked.get(target).copied().unwrap_or(0);
        let entries = self.last_seq.saturating_sub(acked);
        if entries == 0 {
            return Lag::default();
        }
        let oldest_missing = acked.saturating_add(1);
        let index = oldest_missing.saturating_sub(self.first_kept);
        let written_at = usize::try_from(index)
            .ok()
            .and_then(|i| self.written.get(i))
            .or_else(|| self.written.front())
            .copied()
            .unwrap_or(now);
        Lag {
            entries,
            seconds: now - written_at,
        }
    }

    /// The source's last committed seq.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// `target`'s acknowledged `VV[source]`, if the target is known.
    pub fn acknowledged(&self, target: &ClusterId) -> Option<u64> {
        self.acked.get(target).copied()
    }

    /// How many `written_at` instants are held (for memory tests and metrics).
    pub fn retained(&self) -> usize {
        self.written.len()
    }

    /// Drops `written_at` of seqs every known target acknowledged, keeping the last one so
    /// a late target still gets a lower bound.
    fn forget_acknowledged(&mut self) {
        let everyone_has = self.acked.values().copied().min().unwrap_or(self.last_seq);
        let keep_from = everyone_has.saturating_add(1).min(self.last_seq);
        while self.first_kept < keep_from && self.written.pop_front().is_some() {
            self.first_kept += 1;
        }
    }
}
