//! Wire contracts of OmniRelay Mesh: the protobuf messages and gRPC services that nodes,
//! clusters and operators exchange.
//!
//! The `.proto` files under `proto/omnirelay/v1/` are the source of truth; this crate
//! compiles them at build time with `protox` (no `protoc` needed) and generates the
//! prost messages and tonic clients/servers into [`v1`]. Nothing else lives here: the
//! domain types are in `omnirelay-core`, and `omnirelay-io` converts between the two.
//!
//! Compatibility is guarded twice (see `proto/README.md`): golden encoded messages under
//! `tests/fixtures/` must still decode to the same values, and [`compat`] compares today's
//! descriptors with a committed snapshot the way `buf breaking` does.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod compat;

/// Generated messages and services of package `omnirelay.v1`.
///
/// Each message and field carries the comment of its `.proto` definition.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    rust_2018_idioms
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/omnirelay.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every `.proto` file in this crate, with source
/// info (comments): for gRPC reflection and for the compatibility check.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/omnirelay_descriptor.binpb"));
