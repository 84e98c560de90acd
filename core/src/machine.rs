//! The one contract every protocol machine offers to its driver.
//!
//! A driver (the model simulator, or the io shell) owns a machine and loops:
//!
//! 1. feed inputs: `handle_message` for each arrived message, `handle_timeout` when the
//!    instant returned by `poll_timeout` has been reached;
//! 2. drain outputs: `poll_transmit` until `None` (send each), `poll_event` until `None`
//!    (act on each);
//! 3. ask `poll_timeout` again and sleep until then or until the next message.
//!
//! Outputs are only produced by `handle_*` calls, so draining after each input is enough.

use std::fmt::Debug;
use std::hash::Hash;

use crate::{Instant, NodeId};

/// A message addressed to one node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transmit<M> {
    /// Who must receive it.
    pub to: NodeId,
    /// What to send.
    pub msg: M,
}

/// A message that can cross the wire: its encoded size is known, for bandwidth figures.
pub trait WireMessage: Clone + Debug + Hash {
    /// Bytes this message takes on the wire (its protobuf encoding, or a close estimate).
    fn wire_size(&self) -> usize;
}

/// A sans-IO protocol state machine (see the module docs for the calling order).
pub trait Machine {
    /// What travels between machines.
    type Message: WireMessage;
    /// What the driver must act on or record (leadership changes, members joining ...).
    type Event: Debug + Hash;

    /// A message from `from` arrived at `now`.
    fn handle_message(&mut self, now: Instant, from: NodeId, msg: Self::Message);

    /// The deadline last returned by `poll_timeout` has passed. Calling it early is
    /// harmless: machines check their own deadlines.
    fn handle_timeout(&mut self, now: Instant);

    /// The next message to send.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Transmit<Self::Message>>;

    /// The next event for the driver.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When `handle_timeout` should next be called, if ever.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
}
