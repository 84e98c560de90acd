//! Building simulated gossip clusters and checking ARCHITECTURE invariant 8 on them.

use std::sync::Arc;

use omnirelay_core::gossip::{
    Endpoint, GossipConfig, MemberMeta, Membership, MeshVersion, ProtocolRange, Role, Status,
};
use omnirelay_core::{ClusterId, Instant, NodeId};
use rand::Rng;

use crate::model::{NetworkModel, Simulation};

/// Metadata of simulated node `id`: a voter of cluster `c1` in region `r1`.
pub fn node_meta(id: u64) -> MemberMeta {
    MemberMeta {
        role: Role::Voter,
        cluster: ClusterId::new("c1").unwrap_or_else(|_| unreachable!("a valid literal")),
        region: Arc::from("r1"),
        mesh_version: MeshVersion {
            major: 0,
            minor: 1,
            patch: 0,
        },
        endpoints: vec![
            Endpoint {
                name: Arc::from("gossip"),
                address: Arc::from(
                    format!("10.{}.{}.{}:7946", id >> 16, (id >> 8) & 255, id & 255).as_str(),
                ),
            },
            Endpoint {
                name: Arc::from("grpc"),
                address: Arc::from(
                    format!("10.{}.{}.{}:7070", id >> 16, (id >> 8) & 255, id & 255).as_str(),
                ),
            },
        ],
        protocols: ProtocolRange { min: 1, max: 1 },
    }
}

/// A fresh member `id` created at the simulation's current time, seeded from its RNG.
///
/// # Panics
/// If `config.max_meta_bytes()` is smaller than [`node_meta`] (about 70 bytes): a
/// configuration no simulated cluster can run with.
pub fn new_member(
    sim: &mut Simulation<Membership>,
    id: NodeId,
    config: &GossipConfig,
) -> Membership {
    let seed = sim.rng().random::<u64>();
    Membership::new(id, node_meta(id.0), config.clone(), seed, sim.now())
        .unwrap_or_else(|e| panic!("simulated member {id}: {e}"))
}

/// Nodes `1..=n` that all start out knowing each other alive (a converged cluster).
pub fn bootstrapped(
    seed: u64,
    n: u64,
    config: &GossipConfig,
    network: NetworkModel,
) -> Simulation<Membership> {
    let mut sim = Simulation::new(seed, network);
    let metas: Vec<(NodeId, Arc<MemberMeta>)> = (1..=n)
        .map(|i| (NodeId(i), Arc::new(node_meta(i))))
        .collect();
    for i in 1..=n {
        let mut m = new_member(&mut sim, NodeId(i), config);
        m.bootstrap_members(Instant::ZERO, metas.iter().cloned());
        sim.add_node(NodeId(i), m);
    }
    sim
}

/// Nodes `1..=n` that each know nobody and join through node 1, all at time zero.
pub fn joining_through_first(
    seed: u64,
    n: u64,
    config: &GossipConfig,
    network: NetworkModel,
) -> Simulation<Membership> {
    let mut sim = Simulation::new(seed, network);
    for i in 1..=n {
        let m = new_member(&mut sim, NodeId(i), config);
        sim.add_node(NodeId(i), m);
    }
    for i in 2..=n {
        if let Some(m) = sim.machine_mut(NodeId(i)) {
            let _ = m.join(Instant::ZERO, &[NodeId(1)]);
        }
        sim.flush(NodeId(i), &mut ());
    }
    sim
}

/// ARCHITECTURE invariant 8: every running member that has not left is known alive by
/// every other running member, and every member in `gone` (crashed or left) is known by
/// nobody as alive or suspect. Returns the first violation found.
pub fn check_membership_converged(
    sim: &Simulation<Membership>,
    gone: &[NodeId],
) -> Result<(), String> {
    let live: Vec<NodeId> = sim
        .machines()
        .filter(|(_, m)| !m.has_left())
        .map(|(id, _)| id)
        .collect();
    for (viewer, m) in sim.machines() {
        if m.has_left() {
            continue;
        }
        for &other in &live {
            if other == viewer {
                continue;
            }
            let status = m.member(other).map(|v| v.status);
            if status != Some(Status::Alive) {
                return Err(format!("{viewer} sees live {other} as {status:?}"));
            }
        }
        for &g in gone {
            if let Some(v) = m.member(g).filter(|v| v.status.is_live()) {
                return Err(format!("{viewer} still sees gone {g} as {:?}", v.status));
            }
        }
    }
    Ok(())
}
