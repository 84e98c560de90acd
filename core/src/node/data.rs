//! The state machine of a cluster's own log: the events it holds, the placements it obeys.
//!
//! Every replica of a cluster applies the same committed [`ClusterCommand`]s in the same
//! order, so they agree on which writes were accepted, which `origin_seq` each got, which
//! remote events were applied or quarantined. The leader's extra duties (answering
//! clients, streaming, reporting) live in the node; nothing here depends on being leader.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::registry::{NamespacePlacement, PlacementState};
use crate::replication::{
    Applier, ApplierConfig, ClusterVersionVector, Event, FailoverVersion, QuarantineReason,
    QuarantinedEvent,
};
use crate::routing::{DEFAULT_RETRY_AFTER, RetryReason};
use crate::{ClusterId, Instant, NamespaceId};

use super::command::{ClusterCommand, WriteCommand};
use super::message::WriteOutcome;

/// Most quarantined events kept for the state-diff report.
const STATE_DIFF_CAPACITY: usize = 100_000;

/// A cluster's applied state.
#[derive(Debug)]
pub struct ClusterData {
    local: ClusterId,
    applier: Applier,
    placements: BTreeMap<NamespaceId, (NamespacePlacement, u64)>,
    /// Every event applied or quarantined here, per origin, indexed by `origin_seq - 1`:
    /// contiguous, so streams can relay from any position.
    by_origin: BTreeMap<ClusterId, Vec<Arc<Event>>>,
    quarantined: BTreeSet<(ClusterId, u64)>,
    /// Applied (not quarantined) events per namespace, in local apply order.
    by_namespace: BTreeMap<NamespaceId, Vec<(ClusterId, u64)>>,
    /// Per namespace, the wrapping sum of [`event_digest`] over `by_namespace`: kept as
    /// events come and go so a status report can carry it every tick.
    digests: BTreeMap<NamespaceId, u64>,
    state_diff: Vec<QuarantinedEvent>,
    state_diff_evicted: u64,
    /// Per namespace an emergency promotion took from this cluster (the latest such
    /// promotion): the version this cluster was active at and its last own origin_seq when
    /// it applied the promotion. No write at that version commits after it, so this is the
    /// exact end of what the promotion may lose.
    superseded: BTreeMap<NamespaceId, (FailoverVersion, u64)>,
    /// Events refused by `store` for arriving out of order since the last
    /// [`ClusterData::take_non_contiguous`].
    non_contiguous: u64,
}

impl ClusterData {
    /// An empty cluster state for `local`.
    pub fn new(local: ClusterId) -> Self {
        ClusterData {
            applier: Applier::new(ApplierConfig::new(local.clone())),
            local,
            placements: BTreeMap::new(),
            by_origin: BTreeMap::new(),
            quarantined: BTreeSet::new(),
            by_namespace: BTreeMap::new(),
            digests: BTreeMap::new(),
            state_diff: Vec::new(),
            state_diff_evicted: 0,
            superseded: BTreeMap::new(),
            non_contiguous: 0,
        }
    }

    /// The cluster.
    pub fn cluster(&self) -> &ClusterId {
        &self.local
    }

    /// What has been applied (or quarantined) per origin.
    pub fn vv(&self) -> &ClusterVersionVector {
        self.applier.vv()
    }

    /// The last `origin_seq` this cluster assigned to its own writes.
    pub fn last_local_seq(&self) -> u64 {
        self.applier.vv().get(&self.local)
    }

    /// The placement this cluster obeys for `namespace`, with its registry version.
    pub fn placement(&self, namespace: &NamespaceId) -> Option<(&NamespacePlacement, u64)> {
        self.placements.get(namespace).map(|(p, r)| (p, *r))
    }

    /// Every placement this cluster obeys.
    pub fn placements(&self) -> impl Iterator<Item = &NamespacePlacement> + '_ {
        self.placements.values().map(|(p, _)| p)
    }

    /// Whether `origin`'s events are held by an emergency freeze.
    pub fn is_held(&self, origin: &ClusterId) -> bool {
        self.applier.is_held(origin)
    }

    /// The event `origin_seq` of `origin`, if held here (quarantined ones included).
    pub fn event(&self, origin: &ClusterId, origin_seq: u64) -> Option<&Arc<Event>> {
        let index = usize::try_from(origin_seq.checked_sub(1)?).ok()?;
        self.by_origin.get(origin)?.get(index)
    }

    /// Whether `origin`'s event `origin_seq` was quarantined here instead of applied.
    pub fn is_quarantined(&self, origin: &ClusterId, origin_seq: u64) -> bool {
        self.quarantined.contains(&(origin.clone(), origin_seq))
    }

    /// Events of `origin` from `from_seq` on, at most `limit` (for streams).
    pub fn events_from(&self, origin: &ClusterId, from_seq: u64, limit: usize) -> &[Arc<Event>] {
        let Some(events) = self.by_origin.get(origin) else {
            return &[];
        };
        let start = usize::try_from(from_seq.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(events.len());
        let end = start.saturating_add(limit).min(events.len());
        &events[start..end]
    }

    /// Origins with events here.
    pub fn origins(&self) -> impl Iterator<Item = &ClusterId> + '_ {
        self.by_origin.keys()
    }

    /// Applied events of `namespace` that `after` has not seen, in local apply order.
    pub fn read(
        &self,
        namespace: &NamespaceId,
        after: &ClusterVersionVector,
        limit: usize,
    ) -> Vec<Arc<Event>> {
        let Some(keys) = self.by_namespace.get(namespace) else {
            return Vec::new();
        };
        keys.iter()
            .filter(|(origin, seq)| *seq > after.get(origin))
            .filter_map(|(origin, seq)| self.event(origin, *seq).cloned())
            .take(limit)
            .collect()
    }

    /// Number of applied events of `namespace`.
    pub fn namespace_len(&self, namespace: &NamespaceId) -> usize {
        self.by_namespace.get(namespace).map_or(0, Vec::len)
    }

    /// An order-independent digest of `namespace`'s applied events: equal on two clusters
    /// exactly when they applied the same events (invariant 7), up to a 64-bit collision.
    /// 0 for a namespace with nothing applied.
    pub fn namespace_digest(&self, namespace: &NamespaceId) -> u64 {
        self.digests.get(namespace).copied().unwrap_or(0)
    }

    /// [`ClusterData::namespace_digest`] of every namespace with an applied event, with the
    /// failover version of the placement this cluster obeys for it (a placement change can
    /// take events back without moving the version vector).
    pub fn namespace_digests(&self) -> Vec<(NamespaceId, FailoverVersion, u64)> {
        self.digests
            .iter()
            .filter(|(ns, _)| self.by_namespace.get(*ns).is_some_and(|k| !k.is_empty()))
            .map(|(ns, d)| {
                let version = self
                    .placement(ns)
                    .map_or(FailoverVersion(0), |(p, _)| p.failover_version);
                (ns.clone(), version, *d)
            })
            .collect()
    }

    /// Namespaces emergency promotions took from this cluster: (namespace, the version it
    /// was active at, its last own origin_seq when it applied the promotion).
    pub fn superseded(&self) -> Vec<(NamespaceId, FailoverVersion, u64)> {
        self.superseded
            .iter()
            .map(|(ns, (version, last))| (ns.clone(), *version, *last))
            .collect()
    }

    /// How many events were refused for arriving out of order since the last call.
    pub fn take_non_contiguous(&mut self) -> u64 {
        std::mem::take(&mut self.non_contiguous)
    }

    /// Events quarantined here: never applied, kept for reconciliation.
    pub fn state_diff(&self) -> &[QuarantinedEvent] {
        &self.state_diff
    }

    /// Quarantine records dropped because the report was full.
    pub fn state_diff_evicted(&self) -> u64 {
        self.state_diff_evicted
    }

    /// Applies one committed command. Writes get one outcome each, in order.
    pub fn apply(&mut self, now: Instant, command: ClusterCommand) -> Vec<WriteOutcome> {
        match command {
            ClusterCommand::Writes(writes) => {
                return writes.into_iter().map(|w| self.apply_write(w)).collect();
            }
            ClusterCommand::Remote { source, events } => {
                let _report = self.applier.handle_batch(now, &source, events);
                self.settle_applier();
            }
            ClusterCommand::Placement {
                placement,
                revision,
                history,
            } => self.apply_placement(now, placement, revision, history),
            ClusterCommand::Hold { origin } => {
                self.applier.hold_origin(&origin);
            }
            ClusterCommand::Release { origin } => {
                self.applier.release_origin(now, &origin);
                self.settle_applier();
            }
        }
        Vec::new()
    }

    fn apply_write(&mut self, w: WriteCommand) -> WriteOutcome {
        let retry = |reason| WriteOutcome::RetryLater {
            reason,
            retry_after: DEFAULT_RETRY_AFTER,
        };
        let Some((placement, _)) = self.placements.get(&w.namespace) else {
            return retry(RetryReason::RegistryBehind);
        };
        if placement.active_cluster != self.local || placement.failover_version != w.token {
            // The placement moved between proposal and commit: the fencing token decides.
            return retry(RetryReason::Fenced);
        }
        match placement.state {
            PlacementState::Active => {}
            PlacementState::Draining => return retry(RetryReason::Draining),
            PlacementState::Fenced => return retry(RetryReason::Fenced),
        }
        let seq = self.last_local_seq() + 1;
        let event = Event {
            namespace: w.namespace,
            origin_cluster: self.local.clone(),
            origin_seq: seq,
            failover_version: w.token,
            key: w.key,
            payload: w.payload,
            written_at: w.written_at,
        };
        self.store(event, false);
        self.applier.handle_local_commit(seq);
        WriteOutcome::Accepted {
            origin_cluster: self.local.clone(),
            origin_seq: seq,
            failover_version: w.token,
        }
    }

    fn apply_placement(
        &mut self,
        now: Instant,
        placement: NamespacePlacement,
        revision: u64,
        history: Vec<crate::replication::Placement>,
    ) {
        let namespace = placement.namespace.clone();
        if self
            .placements
            .get(&namespace)
            .is_some_and(|(_, known)| *known >= revision)
        {
            return;
        }
        for step in &history {
            // Errors are placements older than what the applier knows: nothing to learn.
            let _ = self.applier.handle_placement(step.clone());
        }
        // Writes of a superseded active after an emergency cutoff are exactly the reported
        // possible loss. The applier quarantines those that arrive from now on; those this
        // cluster applied already (its own, or ones it received before the new active did)
        // are taken back here, so every cluster ends with the same applied set.
        for pair in history.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            if old.active_cluster != new.active_cluster
                && let Some(cutoff) = new.superseded_cutoff
            {
                self.quarantine_superseded(now, &namespace, old, new, cutoff);
                if old.active_cluster == self.local {
                    self.record_superseded(&namespace, old.failover_version);
                }
            }
        }
        let released = history.windows(2).last().and_then(|pair| {
            (pair[1].active_cluster == self.local
                && pair[1].failover_version == placement.failover_version)
                .then(|| pair[0].active_cluster.clone())
        });
        self.placements.insert(namespace, (placement, revision));
        if let Some(old_active) = released
            && self.applier.release_origin(now, &old_active)
        {
            self.settle_applier();
        }
    }

    /// Every later placement repeats the history, so only a newer supersession counts:
    /// the first time this cluster applies one is when its writes at that version ended.
    fn record_superseded(&mut self, namespace: &NamespaceId, version: FailoverVersion) {
        let last = self.last_local_seq();
        let known = self.superseded.get(namespace).map(|(v, _)| *v);
        if known.is_none_or(|v| v < version) {
            self.superseded.insert(namespace.clone(), (version, last));
        }
    }

    fn quarantine_superseded(
        &mut self,
        now: Instant,
        namespace: &NamespaceId,
        old: &crate::replication::Placement,
        new: &crate::replication::Placement,
        cutoff: u64,
    ) {
        let superseded = old.active_cluster.clone();
        let Some(keys) = self.by_namespace.get(namespace) else {
            return;
        };
        let doomed: BTreeSet<(ClusterId, u64)> = keys
            .iter()
            .filter(|(origin, seq)| *origin == superseded && *seq > cutoff)
            .filter(|(origin, seq)| {
                self.event(origin, *seq)
                    .is_some_and(|e| e.failover_version == old.failover_version)
            })
            .cloned()
            .collect();
        if doomed.is_empty() {
            return;
        }
        if let Some(keys) = self.by_namespace.get_mut(namespace) {
            keys.retain(|k| !doomed.contains(k));
        }
        let removed = doomed
            .iter()
            .filter_map(|(origin, seq)| self.event(origin, *seq))
            .fold(0u64, |sum, e| sum.wrapping_add(event_digest(e)));
        if let Some(digest) = self.digests.get_mut(namespace) {
            *digest = digest.wrapping_sub(removed);
        }
        for (origin, seq) in doomed {
            if let Some(event) = self.event(&origin, seq).cloned() {
                self.record_diff(QuarantinedEvent {
                    event: (*event).clone(),
                    reason: QuarantineReason::WrittenAfterSupersession {
                        superseded_by: new.failover_version,
                        new_active: new.active_cluster.clone(),
                        cutoff,
                    },
                    quarantined_at: now,
                });
            }
            self.quarantined.insert((origin, seq));
        }
    }

    /// Moves what the applier released (applied and quarantined) into the store, in
    /// `origin_seq` order per origin, so the per-origin index stays contiguous.
    fn settle_applier(&mut self) {
        let mut settled: Vec<(Event, bool)> = Vec::new();
        while let Some(applied) = self.applier.poll_applied() {
            settled.push((applied.event, false));
        }
        for q in self.applier.take_quarantined() {
            settled.push((q.event.clone(), true));
            self.record_diff(q);
        }
        settled.sort_by(|a, b| {
            (&a.0.origin_cluster, a.0.origin_seq).cmp(&(&b.0.origin_cluster, b.0.origin_seq))
        });
        for (event, quarantined) in settled {
            self.store(event, quarantined);
        }
    }

    fn store(&mut self, event: Event, quarantined: bool) {
        let key = (event.origin_cluster.clone(), event.origin_seq);
        let namespace = event.namespace.clone();
        let events = self.by_origin.entry(key.0.clone()).or_default();
        if u64::try_from(events.len()).ok() != Some(key.1.saturating_sub(1)) {
            // The applier releases each origin contiguously, so this is a bug: count it
            // (NodeDrop::NonContiguousEvent) rather than corrupt the index.
            self.non_contiguous += 1;
            return;
        }
        let digest = event_digest(&event);
        events.push(Arc::new(event));
        if quarantined {
            self.quarantined.insert(key);
        } else {
            let sum = self.digests.entry(namespace.clone()).or_insert(0);
            *sum = sum.wrapping_add(digest);
            self.by_namespace.entry(namespace).or_default().push(key);
        }
    }

    fn record_diff(&mut self, record: QuarantinedEvent) {
        if self.state_diff.len() >= STATE_DIFF_CAPACITY {
            self.state_diff.remove(0);
            self.state_diff_evicted += 1;
        }
        self.state_diff.push(record);
    }

    /// How long ago, on this cluster's clock, `origin`'s event `seq` was written (the lag
    /// in seconds of a target that acknowledged `seq - 1`).
    pub fn age_of(&self, origin: &ClusterId, seq: u64, now: Instant) -> Duration {
        self.event(origin, seq).map_or(Duration::ZERO, |e| {
            now.saturating_duration_since(e.written_at)
        })
    }
}

/// One event's share of a namespace digest: FNV-1a over its identity and content. Summed
/// (wrapping) over a namespace, the order events were applied in does not matter.
fn event_digest(e: &Event) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(e.origin_cluster.as_str().as_bytes());
    feed(&e.origin_seq.to_le_bytes());
    feed(&e.failover_version.0.to_le_bytes());
    // Lengths first, so that ("ab", "c") and ("a", "bc") differ.
    feed(&(e.key.len() as u64).to_le_bytes());
    feed(&e.key);
    feed(&(e.payload.len() as u64).to_le_bytes());
    feed(&e.payload);
    hash
}
