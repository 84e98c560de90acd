//! Where the driver puts the messages the machine transmits.

use omnirelay_core::NodeId;
use omnirelay_core::node::NodeMessage;

/// The driver's way out to peers. `send` never blocks the driver: an implementation queues,
/// and drops (and counts) when a peer cannot keep up.
pub trait Outbox: Send + Sync + 'static {
    /// Queues `message` for `to`.
    fn send(&self, to: NodeId, message: NodeMessage);

    /// Messages dropped so far, per peer.
    fn drops(&self) -> Vec<(NodeId, u64)>;
}
