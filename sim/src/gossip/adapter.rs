//! `Membership` as a simulated machine: operator actions arrive as local inputs.

use omnirelay_core::gossip::{MemberMeta, Membership};
use omnirelay_core::{Instant, NodeId};

use crate::model::SimMachine;

/// What an operator (or a test) asks a member to do, delivered in queue order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipInput {
    /// `join(seeds)`.
    Join(Vec<NodeId>),
    /// `leave()`.
    Leave,
    /// `set_metadata(meta)`.
    SetMetadata(MemberMeta),
}

impl SimMachine for Membership {
    type Local = GossipInput;

    fn handle_local(&mut self, now: Instant, input: GossipInput) {
        // A member that already left refuses all three, and `set_metadata` refuses
        // metadata over `max_meta_bytes`; a refusal changes nothing and the test or
        // experiment that sent it inspects the machine, not this result.
        let _ = match input {
            GossipInput::Join(seeds) => self.join(now, &seeds),
            GossipInput::Leave => self.leave(now),
            GossipInput::SetMetadata(meta) => self.set_metadata(now, meta),
        };
    }
}
