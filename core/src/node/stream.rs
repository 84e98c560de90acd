//! Leader-to-leader event streams between clusters, both ends.

use std::sync::Arc;

use crate::replication::{ClusterVersionVector, Event, Lag};
use crate::{ClusterId, Instant, NodeId};

use super::command::{self, ClusterCommand};
use super::data::ClusterData;
use super::event::NodeDrop;
use super::message::{NodeMessage, ReplicationMessage};
use super::node::Node;

/// The sending end of one stream, kept by a cluster leader per other cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stream {
    /// What the target acknowledged as durably applied.
    pub(crate) acked: ClusterVersionVector,
    /// Next `origin_seq` to send per origin; empty until the first acknowledgement tells
    /// where the target stands (a new leader probes instead of resending everything).
    next: std::collections::BTreeMap<ClusterId, u64>,
    synced: bool,
    /// When the target last applied more of each origin we stream (or we rewound it).
    progress: std::collections::BTreeMap<ClusterId, Instant>,
    last_progress: Instant,
    leader: Option<NodeId>,
    rotation: usize,
}

impl Stream {
    pub(crate) fn new(now: Instant) -> Self {
        Stream {
            acked: ClusterVersionVector::new(),
            next: std::collections::BTreeMap::new(),
            synced: false,
            progress: std::collections::BTreeMap::new(),
            last_progress: now,
            leader: None,
            rotation: 0,
        }
    }

    /// How far the target is behind our own writes, on our clock; `None` until the target
    /// has acknowledged something to this leader. A new leader does not know where the
    /// target stands, and counting every event since seq 1 as missing would report a lag
    /// of the log's whole age until the first acknowledgement.
    pub(crate) fn lag(&self, data: &ClusterData, now: Instant) -> Option<Lag> {
        if !self.synced {
            return None;
        }
        let local = data.cluster();
        let acked = self.acked.get(local);
        let last = data.last_local_seq();
        Some(Lag {
            entries: last.saturating_sub(acked),
            seconds: if last > acked {
                data.age_of(local, acked.saturating_add(1), now)
            } else {
                std::time::Duration::ZERO
            },
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "acked {} next {:?} synced {} leader {:?} rotation {}",
            self.acked, self.next, self.synced, self.leader, self.rotation
        )
    }

    fn rewind(&mut self) {
        self.next.clear();
    }
}

pub(crate) fn ack_message(data: &ClusterData) -> NodeMessage {
    NodeMessage::Replication(ReplicationMessage::Ack {
        cluster: data.cluster().clone(),
        vv: data.vv().clone(),
    })
}

impl Node {
    pub(crate) fn on_replication(&mut self, now: Instant, from: NodeId, msg: ReplicationMessage) {
        match msg {
            ReplicationMessage::Batch { source, events } => {
                self.on_batch(now, from, source, events)
            }
            ReplicationMessage::Ack { cluster, vv } => {
                let Some(stream) = self.data.as_mut().and_then(|d| d.streams.get_mut(&cluster))
                else {
                    return self.count_drop(NodeDrop::NotForThisNode);
                };
                // Progress is judged per origin: the target's own writes, or another
                // cluster's relay of some origin, say nothing about what we stream.
                for (origin, seq) in vv.iter() {
                    if *origin != cluster && seq > stream.acked.get(origin) {
                        stream.progress.insert(origin.clone(), now);
                    }
                }
                stream.last_progress = now;
                stream.acked.merge(&vv);
                stream.leader = Some(from);
                stream.synced = true;
                // The window moved: refill it now rather than at the next tick, or throughput
                // is capped at one window per tick.
                self.pump_stream_to(now, &cluster);
            }
            ReplicationMessage::NotLeader { cluster, leader } => {
                let Some(stream) = self.data.as_mut().and_then(|d| d.streams.get_mut(&cluster))
                else {
                    return self.count_drop(NodeDrop::NotForThisNode);
                };
                stream.leader = leader;
                if leader.is_none() {
                    stream.rotation += 1;
                }
                stream.rewind();
            }
        }
    }

    fn on_batch(&mut self, now: Instant, from: NodeId, source: ClusterId, events: Vec<Event>) {
        let leader = self.is_cluster_leader();
        let Some(d) = self.data.as_mut() else {
            return self.count_drop(NodeDrop::NotForThisNode);
        };
        if !leader {
            let msg = NodeMessage::Replication(ReplicationMessage::NotLeader {
                cluster: d.data.cluster().clone(),
                leader: d.replica.leader(),
            });
            return self.send(from, msg);
        }
        d.senders.insert(source.clone(), from);
        let local = d.data.cluster().clone();
        let mut keep = Vec::new();
        for event in events {
            let origin = &event.origin_cluster;
            if *origin == local || d.data.is_held(origin) {
                continue;
            }
            let expected = d.data.vv().get(origin).max(d.proposed.get(origin)) + 1;
            if event.origin_seq == expected {
                d.proposed.set(origin, event.origin_seq);
                keep.push(event);
            }
        }
        if !keep.is_empty() {
            let bytes = command::encode(&ClusterCommand::Remote {
                source,
                events: keep,
            });
            if d.replica.propose(now, bytes).is_err() {
                d.proposed = d.data.vv().clone();
            }
        }
        let ack = ack_message(&d.data);
        self.send(from, ack);
    }

    pub(crate) fn ack_source(&mut self, source: &ClusterId) {
        let Some(d) = self.data.as_ref() else {
            return;
        };
        if let Some(to) = d.senders.get(source).copied() {
            let ack = ack_message(&d.data);
            self.send(to, ack);
        }
    }

    /// Sends what each target has not seen yet, within the window; rewinds streams that
    /// made no progress.
    pub(crate) fn pump_streams(&mut self, now: Instant) {
        self.pump_streams_to(now, None);
    }

    /// Refills the stream to `target` only (its acknowledgement just freed window).
    fn pump_stream_to(&mut self, now: Instant, target: &ClusterId) {
        self.pump_streams_to(now, Some(target));
    }

    fn pump_streams_to(&mut self, now: Instant, only: Option<&ClusterId>) {
        let topology = Arc::clone(&self.config.topology);
        let limits = self.config.limits;
        let retry = self.config.timings.stream_retry;
        let Some(d) = self.data.as_mut() else {
            return;
        };
        // A leader whose proposals were all committed and applied has none in flight.
        if d.replica.commit_index() == d.replica.last_index() {
            d.proposed = d.data.vv().clone();
        }
        let origins: Vec<ClusterId> = d.data.origins().cloned().collect();
        let mut out = Vec::new();
        let streams = d
            .streams
            .iter_mut()
            .filter(|(target, _)| only.is_none_or(|o| o == *target));
        for (target, stream) in streams {
            let Some(spec) = topology.cluster(target) else {
                continue;
            };
            let to = stream
                .leader
                .unwrap_or_else(|| spec.nodes[stream.rotation % spec.nodes.len().max(1)]);
            if !stream.synced {
                if now.saturating_duration_since(stream.last_progress) >= retry {
                    stream.last_progress = now;
                    stream.leader = None;
                    stream.rotation += 1;
                }
                out.push((to, Vec::new()));
                continue;
            }
            // An origin sent ahead whose acknowledgement has not moved for `retry`: what we
            // sent was lost (or refused as a gap), so send again from the acknowledgement.
            let mut stalled = false;
            for origin in &origins {
                let ahead = stream
                    .next
                    .get(origin)
                    .is_some_and(|n| *n > stream.acked.get(origin).saturating_add(1));
                let since = stream
                    .progress
                    .get(origin)
                    .copied()
                    .unwrap_or(stream.last_progress);
                if ahead && now.saturating_duration_since(since) >= retry {
                    stream.next.remove(origin);
                    stream.progress.insert(origin.clone(), now);
                    stalled = true;
                }
            }
            // Silence from the target altogether: try another of its nodes.
            if stalled && now.saturating_duration_since(stream.last_progress) >= retry {
                stream.leader = None;
                stream.rotation += 1;
            }
            for origin in origins.iter().filter(|o| *o != target) {
                let acked = stream.acked.get(origin);
                let mut next = stream
                    .next
                    .get(origin)
                    .copied()
                    .unwrap_or(acked.saturating_add(1))
                    .max(acked.saturating_add(1));
                let last = d.data.vv().get(origin);
                while next <= last && next.saturating_sub(acked) <= limits.stream_window {
                    let batch: Vec<Event> = d
                        .data
                        .events_from(origin, next, limits.max_stream_batch)
                        .iter()
                        .map(|e| (**e).clone())
                        .collect();
                    if batch.is_empty() {
                        break;
                    }
                    next += batch.len() as u64;
                    out.push((to, batch));
                }
                stream.next.insert(origin.clone(), next);
            }
        }
        let source = d.data.cluster().clone();
        for (to, events) in out {
            self.send(
                to,
                NodeMessage::Replication(ReplicationMessage::Batch {
                    source: source.clone(),
                    events,
                }),
            );
        }
    }
}
