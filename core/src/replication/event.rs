//! The replicated event and the fencing token it carries.

use std::fmt;

use crate::{ClusterId, Instant, NamespaceId};

/// Per namespace, strictly increasing; every promotion raises it. It is the fencing token
/// of the active role: a cluster that learns of a higher one for a namespace stops
/// accepting that namespace's writes.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct FailoverVersion(pub u64);

impl fmt::Display for FailoverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fv{}", self.0)
    }
}

/// One client write, as committed by its origin cluster (ARCHITECTURE.md, vocabulary).
///
/// Core's own type, not the protobuf message: the io layer converts at the edge and maps
/// `written_at` to unix nanoseconds on the origin's wall clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The tenant whose log this belongs to.
    pub namespace: NamespaceId,
    /// The cluster that accepted the write.
    pub origin_cluster: ClusterId,
    /// Per origin cluster, contiguous and strictly increasing from 1.
    pub origin_seq: u64,
    /// The namespace's failover version at the origin when it accepted the write.
    pub failover_version: FailoverVersion,
    /// The written key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The written value.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// When the origin committed it, on the origin's clock.
    pub written_at: Instant,
}
