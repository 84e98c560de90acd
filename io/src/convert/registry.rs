//! Registry records: cluster descriptors and namespace placements (`registry.proto`).
//!
//! Gaps between core and the contract, and how they are bridged:
//!
//! - The record version (core's [`Versioned::version`], the compare-and-set token) travels
//!   in `ChangeMetadata.version`.
//! - A change ticket travels in `ChangeMetadata.ticket`; empty reads as `None` (proto3
//!   cannot tell an empty ticket from none). `changed_at_unix_nanos` has no core field:
//!   sent as 0 ("unknown"), ignored when read.
//! - `ClusterDescriptor.initial_failover_version` travels as is. Core never uses 0 (its
//!   scheme hands out `1..increment`), so 0, which is what descriptors from writers before
//!   the field carry, is refused as missing rather than guessed.
//! - Core's descriptor endpoints are bare `host:port` strings: sent as
//!   `ENDPOINT_KIND_CLIENT_GRPC`; read back from every endpoint of a known kind, skipping
//!   `ENDPOINT_KIND_UNSPECIFIED` ones as the contract says.
//! - `NamespacePlacement.auto_failover` is not part of core's placement (the failover
//!   policy holds it): [`PlacementRecord`] pairs the two.

use omnirelay_core::registry::{
    ChangeMetadata, ClusterDescriptor, ClusterState, NamespacePlacement, PlacementState, Versioned,
};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_proto::v1;

use super::error::{ConvertError, FieldDefect};
use super::fields::{self, nth};
use super::{FromWire, ToWire};

fn cluster_state_to_wire(state: ClusterState) -> v1::ClusterState {
    match state {
        ClusterState::Online => v1::ClusterState::Online,
        ClusterState::Draining => v1::ClusterState::Draining,
        ClusterState::Fenced => v1::ClusterState::Fenced,
        ClusterState::Offline => v1::ClusterState::Offline,
    }
}

fn cluster_state_from_wire(value: i32) -> Result<ClusterState, ConvertError> {
    const FIELD: &str = "ClusterDescriptor.state";
    Ok(
        match fields::required_enum::<v1::ClusterState>(FIELD, value)? {
            v1::ClusterState::Online => ClusterState::Online,
            v1::ClusterState::Draining => ClusterState::Draining,
            v1::ClusterState::Fenced => ClusterState::Fenced,
            v1::ClusterState::Offline => ClusterState::Offline,
            v1::ClusterState::Unspecified => {
                return Err(ConvertError::new(FIELD, FieldDefect::Unspecified));
            }
        },
    )
}

fn placement_state_to_wire(state: PlacementState) -> v1::NamespaceState {
    match state {
        PlacementState::Active => v1::NamespaceState::Active,
        PlacementState::Draining => v1::NamespaceState::Draining,
        PlacementState::Fenced => v1::NamespaceState::Fenced,
    }
}

fn placement_state_from_wire(value: i32) -> Result<PlacementState, ConvertError> {
    const FIELD: &str = "NamespacePlacement.state";
    Ok(
        match fields::required_enum::<v1::NamespaceState>(FIELD, value)? {
            v1::NamespaceState::Active => PlacementState::Active,
            v1::NamespaceState::Draining => PlacementState::Draining,
            v1::NamespaceState::Fenced => PlacementState::Fenced,
            v1::NamespaceState::Unspecified => {
                return Err(ConvertError::new(FIELD, FieldDefect::Unspecified));
            }
        },
    )
}

/// The wire form of a record's change metadata at registry version `version`.
pub fn change_metadata_to_wire(change: &ChangeMetadata, version: u64) -> v1::ChangeMetadata {
    v1::ChangeMetadata {
        version,
        changed_by: change.changed_by.clone(),
        changed_at_unix_nanos: 0,
        reason: change.reason.clone(),
        ticket: fields::text_or_empty(change.ticket.as_ref()),
    }
}

/// Reads change metadata and the record version it carries (an empty ticket is `None`).
pub fn change_metadata_from_wire(wire: v1::ChangeMetadata) -> (ChangeMetadata, u64) {
    let change = ChangeMetadata {
        changed_by: wire.changed_by,
        ticket: fields::optional_text(wire.ticket),
        reason: wire.reason,
    };
    (change, wire.version)
}

impl ToWire for Versioned<ClusterDescriptor> {
    type Wire = v1::ClusterDescriptor;

    fn to_wire(&self) -> v1::ClusterDescriptor {
        let d = &self.value;
        v1::ClusterDescriptor {
            cluster_id: d.id.as_str().to_owned(),
            region: d.region.clone(),
            priority: d.priority,
            state: cluster_state_to_wire(d.state) as i32,
            endpoints: d
                .endpoints
                .iter()
                .map(|address| v1::Endpoint {
                    kind: v1::EndpointKind::ClientGrpc as i32,
                    address: address.clone(),
                })
                .collect(),
            replication_endpoints: d.replication_endpoints.clone(),
            owners: d.owners.clone(),
            change: Some(change_metadata_to_wire(&d.change, self.version)),
            initial_failover_version: d.initial_failover_version,
        }
    }
}

impl FromWire for Versioned<ClusterDescriptor> {
    type Wire = v1::ClusterDescriptor;

    /// Whether the initial failover version fits the mesh's scheme is the registry's check
    /// (it knows the increment); here only 0, which no scheme allows, is refused.
    fn from_wire(
        wire: v1::ClusterDescriptor,
    ) -> Result<Versioned<ClusterDescriptor>, ConvertError> {
        let id = fields::cluster_id("ClusterDescriptor.cluster_id", &wire.cluster_id)?;
        let state = cluster_state_from_wire(wire.state)?;
        let mut endpoints = Vec::with_capacity(wire.endpoints.len());
        for (i, endpoint) in wire.endpoints.into_iter().enumerate() {
            if endpoint.kind == v1::EndpointKind::Unspecified as i32 {
                continue;
            }
            fields::required_enum::<v1::EndpointKind>("Endpoint.kind", endpoint.kind)
                .map_err(|e| e.within(nth("ClusterDescriptor.endpoints", i)))?;
            endpoints.push(endpoint.address);
        }
        let initial_failover_version = match wire.initial_failover_version {
            0 => {
                return Err(ConvertError::new(
                    "ClusterDescriptor.initial_failover_version",
                    FieldDefect::Missing,
                ));
            }
            initial => initial,
        };
        let change = fields::required("ClusterDescriptor.change", wire.change)?;
        let (change, version) = change_metadata_from_wire(change);
        Ok(Versioned {
            value: ClusterDescriptor {
                id,
                region: wire.region,
                priority: wire.priority,
                state,
                endpoints,
                replication_endpoints: wire.replication_endpoints,
                owners: wire.owners,
                initial_failover_version,
                change,
            },
            version,
        })
    }
}

/// A namespace placement with the automatic-failover switch the wire record carries next
/// to it (core keeps that switch in its failover policy, not in the placement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementRecord {
    /// The placement and its registry version.
    pub placement: Versioned<NamespacePlacement>,
    /// Whether the automatic failover policy may move the namespace.
    pub auto_failover: bool,
}

impl ToWire for PlacementRecord {
    type Wire = v1::NamespacePlacement;

    fn to_wire(&self) -> v1::NamespacePlacement {
        let p = &self.placement.value;
        v1::NamespacePlacement {
            namespace: p.namespace.as_str().to_owned(),
            active_cluster: p.active_cluster.as_str().to_owned(),
            failover_version: p.failover_version.0,
            state: placement_state_to_wire(p.state) as i32,
            auto_failover: self.auto_failover,
            change: Some(change_metadata_to_wire(&p.change, self.placement.version)),
        }
    }
}

impl FromWire for PlacementRecord {
    type Wire = v1::NamespacePlacement;

    fn from_wire(wire: v1::NamespacePlacement) -> Result<PlacementRecord, ConvertError> {
        let namespace = fields::namespace_id("NamespacePlacement.namespace", &wire.namespace)?;
        let active_cluster =
            fields::cluster_id("NamespacePlacement.active_cluster", &wire.active_cluster)?;
        let state = placement_state_from_wire(wire.state)?;
        let change = fields::required("NamespacePlacement.change", wire.change)?;
        let (change, version) = change_metadata_from_wire(change);
        Ok(PlacementRecord {
            placement: Versioned {
                value: NamespacePlacement {
                    namespace,
                    active_cluster,
                    failover_version: FailoverVersion(wire.failover_version),
                    state,
                    change,
                },
                version,
            },
            auto_failover: wire.auto_failover,
        })
    }
}
