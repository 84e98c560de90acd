//! The receiving side of replication: exactly once, in `origin_seq` order, per origin.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::{ClusterId, Instant};

use super::conflict::Verdict;
use super::{
    ClusterVersionVector, Event, FailoverHistory, Placement, PlacementError, Quarantine,
    QuarantinedEvent,
};

/// Limits and timers of an [`Applier`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplierConfig {
    /// The cluster this applier runs in. Its own events come back only as echoes.
    pub local_cluster: ClusterId,
    /// Most out-of-order events held across all origins.
    pub max_buffered_total: usize,
    /// Most out-of-order events held for any one origin, so one noisy origin cannot take
    /// the whole window from the others.
    pub max_buffered_per_origin: usize,
    /// How long a resend request stays outstanding before it is asked again.
    pub resend_retry: Duration,
    /// Most quarantine records held (see [`Quarantine`]).
    pub quarantine_capacity: usize,
}

impl ApplierConfig {
    /// Defaults sized for batches of a few thousand events and 50-200 ms WAN round trips.
    pub fn new(local_cluster: ClusterId) -> Self {
        ApplierConfig {
            local_cluster,
            max_buffered_total: 65_536,
            max_buffered_per_origin: 16_384,
            resend_retry: Duration::from_secs(1),
            quarantine_capacity: 100_000,
        }
    }
}

/// Ask a source to stream `origin`'s events again, starting at `from_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResendRequest {
    /// Whose events are missing.
    pub origin: ClusterId,
    /// The first missing sequence number: the applier's `VV[origin] + 1`.
    pub from_seq: u64,
    /// The cluster whose stream revealed the gap: the natural one to ask.
    pub source: ClusterId,
}

/// An event the shell must append to its log, in the order polled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppliedEvent {
    /// The event.
    pub event: Event,
    /// When the applier released it.
    pub applied_at: Instant,
}

/// What happened to one accepted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// It was next in its origin's order: it and any buffered successors were applied or
    /// quarantined, and `VV[origin]` advanced.
    InOrder,
    /// It is ahead of a gap and waits in the window; a resend was requested if none was
    /// outstanding.
    Buffered,
    /// Already applied, already buffered, or an echo of our own write: dropped and counted.
    Duplicate,
}

/// Why an event was refused. State is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The out-of-order window is full: the event is neither applied nor buffered. State
    /// unchanged except the `refused` counter and, if none is outstanding for the origin, a
    /// resend request from its first missing `origin_seq` (without it an origin whose first
    /// out-of-order event was refused would never be asked again).
    #[error(
        "window full: refused {origin} seq {origin_seq} ({buffered_for_origin} buffered for it, {buffered_total} in total)"
    )]
    WindowFull {
        /// The refused event's origin.
        origin: ClusterId,
        /// The refused event's sequence number.
        origin_seq: u64,
        /// Events buffered for that origin.
        buffered_for_origin: usize,
        /// Events buffered over all origins.
        buffered_total: usize,
    },
}

/// What a batch did, event by event summed up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BatchReport {
    /// Events that were next in order (each may have released buffered successors).
    pub in_order: usize,
    /// Events now waiting in the window.
    pub buffered: usize,
    /// Events dropped as duplicates.
    pub duplicates: usize,
    /// `(origin, origin_seq)` of events refused because the window was full.
    pub refused: Vec<(ClusterId, u64)>,
}

/// Counters for metrics (`mesh_replication_events_total`, `..._duplicates_total`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ApplierCounters {
    /// Events released to the shell through `poll_applied`.
    pub applied: u64,
    /// Events dropped: already applied, already buffered, or echoes of our own writes.
    pub duplicates: u64,
    /// Events that consumed their sequence number without being applied.
    pub quarantined: u64,
    /// Events refused because the window was full.
    pub refused: u64,
    /// Resend requests issued, retries included.
    pub resend_requests: u64,
}

/// A resend asked for and not yet answered by progress.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OutstandingResend {
    from_seq: u64,
    source: ClusterId,
    retry_at: Instant,
}

/// Applies the events of every other cluster exactly once and in `origin_seq` order
/// (invariant 4), buffering a bounded window of out-of-order ones and quarantining the
/// ones the failover history forbids.
///
/// Calling order for a driver:
///
/// 1. feed the namespace failover history with [`handle_placement`](Self::handle_placement)
///    (whole history at start, then every promotion), and the local cluster's own commits
///    with [`handle_local_commit`](Self::handle_local_commit);
/// 2. feed arrived events with [`handle_batch`](Self::handle_batch) or
///    [`handle_event`](Self::handle_event), and [`handle_timeout`](Self::handle_timeout)
///    once the instant from [`poll_timeout`](Self::poll_timeout) has passed;
/// 3. drain [`poll_applied`](Self::poll_applied) (append each to the log, in order) and
///    [`poll_resend`](Self::poll_resend) (send each), then acknowledge [`vv`](Self::vv)
///    once the appended events are durable. Outputs queue until polled, so a driver
///    drains them after every input.
///
/// Decisions:
///
/// - an event whose origin is the local cluster is an echo of our own write, already in our
///   log: it is dropped and counted as a duplicate;
/// - a quarantined event still consumes its `origin_seq`, otherwise its origin's stream
///   would stall behind it; it never reaches `poll_applied`;
/// - the conflict rule is evaluated when an event becomes next in order, so a placement
///   learned while an event waits in the window applies to it.
#[derive(Debug)]
pub struct Applier {
    config: ApplierConfig,
    vv: ClusterVersionVector,
    buffered: BTreeMap<ClusterId, BTreeMap<u64, Event>>,
    buffered_total: usize,
    /// Origins whose events are held in the window instead of applied (see `hold_origin`).
    held: BTreeSet<ClusterId>,
    outstanding: BTreeMap<ClusterId, OutstandingResend>,
    history: FailoverHistory,
    quarantine: Quarantine,
    applied_out: VecDeque<AppliedEvent>,
    resend_out: VecDeque<ResendRequest>,
    counters: ApplierCounters,
}

impl Applier {
    /// An applier that has applied nothing.
    pub fn new(config: ApplierConfig) -> Self {
        Self::resume(config, ClusterVersionVector::new())
    }

    /// An applier restarting from a durable log whose applied events reach `vv`.
    pub fn resume(config: ApplierConfig, vv: ClusterVersionVector) -> Self {
        let quarantine = Quarantine::new(config.quarantine_capacity);
        Applier {
            config,
            vv,
            buffered: BTreeMap::new(),
            buffered_total: 0,
            held: BTreeSet::new(),
            outstanding: BTreeMap::new(),
            history: FailoverHistory::new(),
            quarantine,
            applied_out: VecDeque::new(),
            resend_out: VecDeque::new(),
            counters: ApplierCounters::default(),
        }
    }

    /// Records a promotion from the registry (see [`FailoverHistory`]).
    pub fn handle_placement(&mut self, placement: Placement) -> Result<bool, PlacementError> {
        self.history.handle_placement(placement)
    }

    /// The local cluster committed its own event `origin_seq`: our VV entry follows it.
    pub fn handle_local_commit(&mut self, origin_seq: u64) {
        let local = self.config.local_cluster.clone();
        self.vv.advance(&local, origin_seq);
    }

    /// A batch of events arrived on `source`'s stream, possibly relaying other origins.
    /// Each event is handled as by [`handle_event`](Self::handle_event); refusals do not
    /// stop the batch, because a later event may be the one that closes a gap.
    pub fn handle_batch(
        &mut self,
        now: Instant,
        source: &ClusterId,
        events: impl IntoIterator<Item = Event>,
    ) -> BatchReport {
        let mut report = BatchReport::default();
        for event in events {
            match self.handle_event(now, source, event) {
                Ok(Delivery::InOrder) => report.in_order += 1,
                Ok(Delivery::Buffered) => report.buffered += 1,
                Ok(Delivery::Duplicate) => report.duplicates += 1,
                Err(ApplyError::WindowFull {
                    origin, origin_seq, ..
                }) => report.refused.push((origin, origin_seq)),
            }
        }
        report
    }

    /// One event arrived on `source`'s stream.
    pub fn handle_event(
        &mut self,
        now: Instant,
        source: &ClusterId,
        event: Event,
    ) -> Result<Delivery, ApplyError> {
        let origin = event.origin_cluster.clone();
        let seq = event.origin_seq;
        let applied_through = self.vv.get(&origin);
        let already_buffered = self
            .buffered
            .get(&origin)
            .is_some_and(|b| b.contains_key(&seq));
        if origin == self.config.local_cluster || seq <= applied_through || already_buffered {
            self.counters.duplicates += 1;
            return Ok(Delivery::Duplicate);
        }
        let held = self.held.contains(&origin);
        if seq == applied_through.saturating_add(1) && !held {
            self.settle(now, event);
            self.release_buffered(now, &origin);
            self.after_progress(now, &origin, source);
            return Ok(Delivery::InOrder);
        }
        let buffered_for_origin = self.buffered.get(&origin).map_or(0, BTreeMap::len);
        if buffered_for_origin >= self.config.max_buffered_per_origin
            || self.buffered_total >= self.config.max_buffered_total
        {
            self.counters.refused += 1;
            self.request_resend(now, &origin, source);
            return Err(ApplyError::WindowFull {
                origin,
                origin_seq: seq,
                buffered_for_origin,
                buffered_total: self.buffered_total,
            });
        }
        self.buffered
            .entry(origin.clone())
            .or_default()
            .insert(seq, event);
        self.buffered_total += 1;
        if self.has_gap(&origin) {
            self.request_resend(now, &origin, source);
        }
        Ok(Delivery::Buffered)
    }

    /// Stops applying `origin`'s events: they wait in the window (its bounds still apply)
    /// and `VV[origin]` stays put. An emergency promotion needs this: the target freezes the
    /// old active's stream, reports exactly what it applied as the promotion's cutoff, and
    /// releases the stream once it knows the new placement, so the cutoff it reported is the
    /// cutoff it holds. Returns whether the origin was not held before.
    pub fn hold_origin(&mut self, origin: &ClusterId) -> bool {
        self.held.insert(origin.clone())
    }

    /// Resumes applying `origin`'s events, settling those that are now contiguous under the
    /// failover history as it stands (feed the promotion's placement first).
    pub fn release_origin(&mut self, now: Instant, origin: &ClusterId) -> bool {
        if !self.held.remove(origin) {
            return false;
        }
        self.release_buffered(now, origin);
        if !self.has_gap(origin) {
            self.outstanding.remove(origin);
        }
        true
    }

    /// Whether `origin`'s events are held.
    pub fn is_held(&self, origin: &ClusterId) -> bool {
        self.held.contains(origin)
    }

    /// Re-asks every resend whose retry instant has passed and whose gap is still open.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ClusterId> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.retry_at <= now)
            .map(|(origin, _)| origin.clone())
            .collect();
        for origin in due {
            if !self.has_gap(&origin) {
                self.outstanding.remove(&origin);
                continue;
            }
            let Some(outstanding) = self.outstanding.get_mut(&origin) else {
                continue;
            };
            outstanding.retry_at = now + self.config.resend_retry;
            let request = ResendRequest {
                origin,
                from_seq: outstanding.from_seq,
                source: outstanding.source.clone(),
            };
            self.counters.resend_requests += 1;
            self.resend_out.push_back(request);
        }
    }

    /// The next event to append to the local log, in apply order.
    #[must_use]
    pub fn poll_applied(&mut self) -> Option<AppliedEvent> {
        self.applied_out.pop_front()
    }

    /// The next resend request to send.
    #[must_use]
    pub fn poll_resend(&mut self) -> Option<ResendRequest> {
        self.resend_out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.values().map(|o| o.retry_at).min()
    }

    /// Per origin, the highest contiguous `origin_seq` applied or quarantined.
    pub fn vv(&self) -> &ClusterVersionVector {
        &self.vv
    }

    /// The counters.
    pub fn counters(&self) -> ApplierCounters {
        self.counters
    }

    /// Events waiting in the out-of-order window, over all origins.
    pub fn buffered(&self) -> usize {
        self.buffered_total
    }

    /// The namespace failover history the conflict rule reads.
    pub fn history(&self) -> &FailoverHistory {
        &self.history
    }

    /// The held quarantine records, oldest first, for the state-diff report.
    pub fn quarantined(&self) -> impl Iterator<Item = &QuarantinedEvent> + '_ {
        self.quarantine.iter()
    }

    /// The quarantine store (how many records it holds, how many it evicted).
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }

    /// Removes and returns the held quarantine records, oldest first, once the shell has
    /// somewhere durable to put them.
    pub fn take_quarantined(&mut self) -> Vec<QuarantinedEvent> {
        self.quarantine.take()
    }

    /// Applies or quarantines `event`, which is next in its origin's order.
    fn settle(&mut self, now: Instant, event: Event) {
        self.vv.advance(&event.origin_cluster, event.origin_seq);
        match self.history.judge(&event) {
            Verdict::Apply => {
                self.counters.applied += 1;
                self.applied_out.push_back(AppliedEvent {
                    event,
                    applied_at: now,
                });
            }
            Verdict::Quarantine(reason) => {
                self.counters.quarantined += 1;
                self.quarantine.push(QuarantinedEvent {
                    event,
                    reason,
                    quarantined_at: now,
                });
            }
        }
    }

    /// Settles the buffered events of `origin` that have become contiguous.
    fn release_buffered(&mut self, now: Instant, origin: &ClusterId) {
        if self.held.contains(origin) {
            return;
        }
        loop {
            let next = self.vv.get(origin).saturating_add(1);
            let Some(buffer) = self.buffered.get_mut(origin) else {
                return;
            };
            let Some(event) = buffer.remove(&next) else {
                return;
            };
            if buffer.is_empty() {
                self.buffered.remove(origin);
            }
            self.buffered_total = self.buffered_total.saturating_sub(1);
            self.settle(now, event);
        }
    }

    /// After `VV[origin]` moved: the gap is closed, or it moved and is asked for afresh.
    fn after_progress(&mut self, now: Instant, origin: &ClusterId, source: &ClusterId) {
        if self.has_gap(origin) {
            self.request_resend(now, origin, source);
        } else {
            self.outstanding.remove(origin);
        }
    }

    /// The first `origin_seq` of `origin` neither applied nor waiting in the window:
    /// `VV[origin] + 1` unless the origin is held (then in-order events wait too).
    fn first_missing(&self, origin: &ClusterId) -> u64 {
        let mut seq = self.vv.get(origin).saturating_add(1);
        if let Some(buffer) = self.buffered.get(origin) {
            while buffer.contains_key(&seq) {
                seq = seq.saturating_add(1);
            }
        }
        seq
    }

    /// Whether an event of `origin` waits beyond its first missing seq.
    fn has_gap(&self, origin: &ClusterId) -> bool {
        let first_missing = self.first_missing(origin);
        self.buffered
            .get(origin)
            .and_then(|b| b.keys().next_back())
            .is_some_and(|last| *last > first_missing)
    }

    /// Asks for the first missing seq unless that exact request is already outstanding.
    fn request_resend(&mut self, now: Instant, origin: &ClusterId, source: &ClusterId) {
        let from_seq = self.first_missing(origin);
        if self
            .outstanding
            .get(origin)
            .is_some_and(|o| o.from_seq == from_seq)
        {
            return;
        }
        self.outstanding.insert(
            origin.clone(),
            OutstandingResend {
                from_seq,
                source: source.clone(),
                retry_at: now + self.config.resend_retry,
            },
        );
        self.counters.resend_requests += 1;
        self.resend_out.push_back(ResendRequest {
            origin: origin.clone(),
            from_seq,
            source: source.clone(),
        });
    }
}
