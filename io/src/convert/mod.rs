//! Conversions between core's domain types and proto's wire types, one file per service
//! (ARCHITECTURE.md, "Layers and crates": `io` converts in one place per service).
//!
//! - domain to wire never fails: [`ToWire`];
//! - wire to domain is checked field by field and fails with a [`ConvertError`] naming the
//!   message and field at fault: [`FromWire`]. Bad input never panics.
//!
//! Where the wire lacks something core holds (or the other way round), the conversion
//! takes it as an argument, keeps it in a small io-side record, or documents the loss at
//! the function; io/README.md ("Wire conversions") lists every such gap.
//!
//! Time: core `Instant`s that cross the wire as `*_unix_nanos` are counted from the Unix
//! epoch (UTC) by the io layer, so the mapping is the identity on nanoseconds; see
//! [`replication`] for events' `written_at`.

mod error;
pub mod failover;
mod fields;
pub mod gossip;
pub mod node;
pub mod registry;
pub mod replication;

pub use error::{ConvertError, FieldDefect};

/// A domain value that has a wire form. Infallible: every valid domain value has one.
pub trait ToWire {
    /// The generated protobuf message.
    type Wire;

    /// The wire form of `self`.
    fn to_wire(&self) -> Self::Wire;
}

/// A domain value that can be read from its wire form, after checking every field.
pub trait FromWire: Sized {
    /// The generated protobuf message.
    type Wire;

    /// Checks `wire` and converts it; the error names the offending message and field.
    fn from_wire(wire: Self::Wire) -> Result<Self, ConvertError>;
}
