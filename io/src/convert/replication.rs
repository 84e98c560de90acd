//! Replication: events, batches, version vectors and the frames and acks that carry them
//! (`replication.proto`, `event.proto`, `version_vector.proto`).
//!
//! `Event.written_at` (a core [`Instant`](omnirelay_core::Instant)) travels as
//! `written_at_unix_nanos`: for events the io layer counts core instants from the Unix
//! epoch (UTC) on the origin's wall clock, so the nanoseconds are copied unchanged. Lag in
//! seconds is read on the source's own clock from those values, never used for ordering.
//! Instants past `i64::MAX` ns (year 2262) saturate there; negative wire values are refused.

use omnirelay_core::replication::{ClusterVersionVector, Event, FailoverVersion, ResendRequest};
use omnirelay_core::{ClusterId, NodeId};
use omnirelay_proto::v1;

use super::error::{ConvertError, FieldDefect};
use super::fields::{self, nth};
use super::{FromWire, ToWire};

impl ToWire for Event {
    type Wire = v1::Event;

    fn to_wire(&self) -> v1::Event {
        v1::Event {
            namespace: self.namespace.as_str().to_owned(),
            origin_cluster: self.origin_cluster.as_str().to_owned(),
            origin_seq: self.origin_seq,
            failover_version: self.failover_version.0,
            key: self.key.clone(),
            payload: self.payload.clone(),
            written_at_unix_nanos: fields::unix_nanos(self.written_at),
        }
    }
}

/// [`ToWire`] for an event the caller no longer needs: moves the key and payload instead
/// of copying them (the replication sender's hot path).
pub fn event_into_wire(event: Event) -> v1::Event {
    v1::Event {
        namespace: event.namespace.as_str().to_owned(),
        origin_cluster: event.origin_cluster.as_str().to_owned(),
        origin_seq: event.origin_seq,
        failover_version: event.failover_version.0,
        written_at_unix_nanos: fields::unix_nanos(event.written_at),
        key: event.key,
        payload: event.payload,
    }
}

impl FromWire for Event {
    type Wire = v1::Event;

    /// Takes the key and payload buffers without copying them.
    fn from_wire(wire: v1::Event) -> Result<Event, ConvertError> {
        Ok(Event {
            namespace: fields::namespace_id("Event.namespace", &wire.namespace)?,
            origin_cluster: fields::cluster_id("Event.origin_cluster", &wire.origin_cluster)?,
            origin_seq: fields::origin_seq("Event.origin_seq", wire.origin_seq)?,
            failover_version: FailoverVersion(wire.failover_version),
            key: wire.key,
            payload: wire.payload,
            written_at: fields::instant_from_unix_nanos(
                "Event.written_at_unix_nanos",
                wire.written_at_unix_nanos,
            )?,
        })
    }
}

impl ToWire for ClusterVersionVector {
    type Wire = v1::ClusterVersionVector;

    /// Entries sorted by origin, zero entries omitted: the deterministic bytes the contract
    /// asks writers for.
    fn to_wire(&self) -> v1::ClusterVersionVector {
        v1::ClusterVersionVector {
            entries: self
                .iter()
                .map(|(origin, seq)| v1::VersionVectorEntry {
                    origin_cluster: origin.as_str().to_owned(),
                    applied_origin_seq: seq,
                })
                .collect(),
        }
    }
}

impl FromWire for ClusterVersionVector {
    type Wire = v1::ClusterVersionVector;

    /// An origin listed twice is refused (which one would count?); entries in any order
    /// and zero entries (read as absent) are accepted, as the contract's readers must.
    fn from_wire(wire: v1::ClusterVersionVector) -> Result<ClusterVersionVector, ConvertError> {
        let mut vv = ClusterVersionVector::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, entry) in wire.entries.into_iter().enumerate() {
            let origin =
                fields::cluster_id("VersionVectorEntry.origin_cluster", &entry.origin_cluster)
                    .map_err(|e| e.within(nth("ClusterVersionVector.entries", i)))?;
            if !seen.insert(origin.clone()) {
                return Err(ConvertError::new(
                    "ClusterVersionVector.entries",
                    FieldDefect::Duplicate(entry.origin_cluster),
                ));
            }
            vv.set(&origin, entry.applied_origin_seq);
        }
        Ok(vv)
    }
}

impl ToWire for ResendRequest {
    type Wire = v1::ResendRequest;

    /// `source` does not travel: the request goes to that cluster on its own stream.
    fn to_wire(&self) -> v1::ResendRequest {
        v1::ResendRequest {
            origin_cluster: self.origin.as_str().to_owned(),
            from_origin_seq: self.from_seq,
        }
    }
}

/// Reads a resend request that arrived on the replication stream whose sending side is
/// `stream_source`: the cluster asked to resend, which the wire leaves implicit.
pub fn resend_request_from_wire(
    wire: v1::ResendRequest,
    stream_source: &ClusterId,
) -> Result<ResendRequest, ConvertError> {
    Ok(ResendRequest {
        origin: fields::cluster_id("ResendRequest.origin_cluster", &wire.origin_cluster)?,
        from_seq: fields::origin_seq("ResendRequest.from_origin_seq", wire.from_origin_seq)?,
        source: stream_source.clone(),
    })
}

/// A run of events cut by a sender, with the sender's own last committed `origin_seq`.
///
/// Core has no batch type (its applier takes a slice of events); this is the wire shape.
/// Per-origin contiguity is the applier's business: it buffers or asks for a resend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    /// The events, in the sender's log order.
    pub events: Vec<Event>,
    /// The sender's highest committed `origin_seq` for its own origin when it cut the batch.
    pub source_last_origin_seq: u64,
}

impl ToWire for EventBatch {
    type Wire = v1::EventBatch;

    fn to_wire(&self) -> v1::EventBatch {
        v1::EventBatch {
            events: self.events.iter().map(Event::to_wire).collect(),
            source_last_origin_seq: self.source_last_origin_seq,
        }
    }
}

impl EventBatch {
    /// [`ToWire`] without copying any event's key or payload.
    pub fn into_wire(self) -> v1::EventBatch {
        v1::EventBatch {
            events: self.events.into_iter().map(event_into_wire).collect(),
            source_last_origin_seq: self.source_last_origin_seq,
        }
    }
}

impl FromWire for EventBatch {
    type Wire = v1::EventBatch;

    /// One bad event refuses the whole batch: applying the others would leave a gap the
    /// receiver then asks to be resent anyway.
    fn from_wire(wire: v1::EventBatch) -> Result<EventBatch, ConvertError> {
        let events = wire
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                Event::from_wire(e).map_err(|err| err.within(nth("EventBatch.events", i)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventBatch {
            events,
            source_last_origin_seq: wire.source_last_origin_seq,
        })
    }
}

/// The opening frame of a replication stream: who sends, under which fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationHello {
    /// Cluster whose leader opened the stream.
    pub source_cluster: ClusterId,
    /// That leader.
    pub source_leader: NodeId,
    /// The leader's term: its fencing token.
    pub term: u64,
    /// Replication protocol version the sender speaks (from 1).
    pub protocol_version: u32,
    /// Cluster the sender believes it is talking to.
    pub target_cluster: ClusterId,
}

impl ToWire for ReplicationHello {
    type Wire = v1::ReplicationHello;

    fn to_wire(&self) -> v1::ReplicationHello {
        v1::ReplicationHello {
            source_cluster: self.source_cluster.as_str().to_owned(),
            source_leader: self.source_leader.0,
            term: self.term,
            protocol_version: self.protocol_version,
            target_cluster: self.target_cluster.as_str().to_owned(),
        }
    }
}

impl FromWire for ReplicationHello {
    type Wire = v1::ReplicationHello;

    fn from_wire(wire: v1::ReplicationHello) -> Result<ReplicationHello, ConvertError> {
        if wire.protocol_version == 0 {
            return Err(ConvertError::new(
                "ReplicationHello.protocol_version",
                FieldDefect::Missing,
            ));
        }
        Ok(ReplicationHello {
            source_cluster: fields::cluster_id(
                "ReplicationHello.source_cluster",
                &wire.source_cluster,
            )?,
            source_leader: fields::node_id("ReplicationHello.source_leader", wire.source_leader)?,
            term: wire.term,
            protocol_version: wire.protocol_version,
            target_cluster: fields::cluster_id(
                "ReplicationHello.target_cluster",
                &wire.target_cluster,
            )?,
        })
    }
}

/// A message from a replication stream's source leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationFrame {
    /// The first frame: identifies the sender.
    Hello(ReplicationHello),
    /// Committed events, numbered for flow control.
    Batch {
        /// Strictly increasing per stream, from 1; acks name it.
        batch_seq: u64,
        /// The events.
        batch: EventBatch,
    },
}

impl ToWire for ReplicationFrame {
    type Wire = v1::ReplicationFrame;

    fn to_wire(&self) -> v1::ReplicationFrame {
        use v1::replication_frame::Body;
        let body = match self {
            ReplicationFrame::Hello(hello) => Body::Hello(hello.to_wire()),
            ReplicationFrame::Batch { batch_seq, batch } => Body::Batch(v1::ReplicationBatch {
                batch_seq: *batch_seq,
                events: Some(batch.to_wire()),
            }),
        };
        v1::ReplicationFrame { body: Some(body) }
    }
}

impl FromWire for ReplicationFrame {
    type Wire = v1::ReplicationFrame;

    fn from_wire(wire: v1::ReplicationFrame) -> Result<ReplicationFrame, ConvertError> {
        use v1::replication_frame::Body;
        match fields::required("ReplicationFrame.body", wire.body)? {
            Body::Hello(hello) => ReplicationHello::from_wire(hello)
                .map(ReplicationFrame::Hello)
                .map_err(|e| e.within("ReplicationFrame.hello")),
            Body::Batch(batch) => {
                let within = |e: ConvertError| e.within("ReplicationFrame.batch");
                if batch.batch_seq == 0 {
                    return Err(within(ConvertError::new(
                        "ReplicationBatch.batch_seq",
                        FieldDefect::OutOfRange {
                            value: "0".to_owned(),
                            allowed: "batch_seq counts from 1",
                        },
                    )));
                }
                let events =
                    fields::required("ReplicationBatch.events", batch.events).map_err(within)?;
                let events = EventBatch::from_wire(events)
                    .map_err(|e| within(e.within("ReplicationBatch.events")))?;
                Ok(ReplicationFrame::Batch {
                    batch_seq: batch.batch_seq,
                    batch: events,
                })
            }
        }
    }
}

/// A message from a replication stream's receiving leader back to the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationAck {
    /// The cluster that received the events and sends this ack.
    pub receiver_cluster: ClusterId,
    /// Highest `batch_seq` durable at the receiver (0: none yet).
    pub acked_batch_seq: u64,
    /// What the receiver holds durably; the source computes lag from it.
    pub version_vector: ClusterVersionVector,
    /// Set when the receiver saw a gap. Its `source` is the stream's source cluster.
    pub resend: Option<ResendRequest>,
    /// The receiver's leader term.
    pub receiver_term: u64,
}

impl ToWire for ReplicationAck {
    type Wire = v1::ReplicationAck;

    fn to_wire(&self) -> v1::ReplicationAck {
        v1::ReplicationAck {
            receiver_cluster: self.receiver_cluster.as_str().to_owned(),
            acked_batch_seq: self.acked_batch_seq,
            version_vector: Some(self.version_vector.to_wire()),
            resend: self.resend.as_ref().map(ResendRequest::to_wire),
            receiver_term: self.receiver_term,
        }
    }
}

impl ReplicationAck {
    /// Reads an ack that arrived on the stream opened by `stream_source` (the cluster a
    /// resend request addresses; the wire leaves it implicit). The version vector is
    /// required: an ack without one would say nothing about lag.
    pub fn from_wire(
        wire: v1::ReplicationAck,
        stream_source: &ClusterId,
    ) -> Result<ReplicationAck, ConvertError> {
        let version_vector =
            fields::required("ReplicationAck.version_vector", wire.version_vector)?;
        Ok(ReplicationAck {
            receiver_cluster: fields::cluster_id(
                "ReplicationAck.receiver_cluster",
                &wire.receiver_cluster,
            )?,
            acked_batch_seq: wire.acked_batch_seq,
            version_vector: ClusterVersionVector::from_wire(version_vector)
                .map_err(|e| e.within("ReplicationAck.version_vector"))?,
            resend: wire
                .resend
                .map(|r| resend_request_from_wire(r, stream_source))
                .transpose()
                .map_err(|e| e.within("ReplicationAck.resend"))?,
            receiver_term: wire.receiver_term,
        })
    }
}
