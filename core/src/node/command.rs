//! What the node writes into its two consensus logs, and their byte encoding.
//!
//! Both logs carry opaque bytes; the node encodes its commands with postcard (a compact,
//! deterministic serde format), so the WAL stores exactly what every replica applies.

use serde::{Deserialize, Serialize};

use crate::failover::FailoverId;
use crate::registry::{ClusterDescriptor, NamespacePlacement, RegistryCommand};
use crate::replication::{Event, FailoverVersion, Placement};
use crate::{ClusterId, Instant, NamespaceId};

/// One client write as the cluster leader proposed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteCommand {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The key (encoded as one byte string, not byte by byte).
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The value.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// The failover version the leader accepted it under; applied only if still current.
    pub token: FailoverVersion,
    /// The leader's clock when it accepted the write.
    pub written_at: Instant,
}

/// An entry of a cluster's own log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// Client writes, applied in order; each gets the next `origin_seq` if still allowed.
    Writes(Vec<WriteCommand>),
    /// Events received from another cluster's stream.
    Remote {
        /// The sending cluster.
        source: ClusterId,
        /// The events, in order per origin.
        events: Vec<Event>,
    },
    /// The registry's placement of a namespace, as the cluster learned it.
    Placement {
        /// The placement.
        placement: NamespacePlacement,
        /// Its registry version (a lower or equal one is ignored).
        revision: u64,
        /// The namespace's promotion history, so the applier can judge any old event.
        history: Vec<Placement>,
    },
    /// Hold `origin`'s events (emergency freeze) until a placement supersedes it.
    Hold {
        /// The frozen origin.
        origin: ClusterId,
    },
    /// Release a hold whose failover was abandoned.
    Release {
        /// The origin.
        origin: ClusterId,
    },
}

/// An entry of the control group's log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ControlCommand {
    /// Seeds an empty registry with the configured clusters and namespaces (ignored when the
    /// registry is not empty, so two leaders racing to bootstrap cannot both apply).
    Bootstrap {
        /// The clusters.
        clusters: Vec<ClusterDescriptor>,
        /// The namespaces and their first active cluster.
        namespaces: Vec<(NamespaceId, ClusterId)>,
    },
    /// A registry change, on behalf of a failover when `failover` is set.
    Registry {
        /// The failover it serves.
        failover: Option<FailoverId>,
        /// The change.
        command: RegistryCommand,
    },
}

/// A log entry that does not decode: the log is corrupt or written by another version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("undecodable log command: {0}")]
pub struct DecodeError(pub String);

/// Encodes a command for the log.
pub fn encode<T: Serialize>(command: &T) -> Vec<u8> {
    // Serializing these plain types into a Vec cannot fail; an empty entry would be refused
    // at decode time rather than misapplied.
    postcard::to_allocvec(command).unwrap_or_default()
}

/// Decodes a command from the log.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
}
