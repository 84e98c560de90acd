//! Cluster-level gossip properties on the model simulator.
//!
//! SWIM = Das et al., DSN 2002; Lifeguard = Dadgar et al., 2018; invariant numbers are
//! ARCHITECTURE.md's.

use std::time::Duration;

use omnirelay_core::gossip::{GossipConfig, Membership, MembershipEvent, Status};
use omnirelay_core::{Instant, NodeId};
use omnirelay_sim::gossip::GossipInput;
use omnirelay_sim::gossip::cluster::{
    bootstrapped, check_membership_converged, joining_through_first, node_meta,
};
use omnirelay_sim::gossip::experiment::network;
use omnirelay_sim::model::{Observer, Simulation};

fn lan() -> GossipConfig {
    GossipConfig::lan()
}

/// Records every event, by node.
#[derive(Default)]
struct Log(Vec<(Instant, NodeId, MembershipEvent)>);

impl Observer<Membership> for Log {
    fn on_event(&mut self, sim: &mut Simulation<Membership>, node: NodeId, e: &MembershipEvent) {
        self.0.push((sim.now(), node, e.clone()));
    }
}

/// Runs until invariant 8 holds (checked every simulated second) or `limit` passes.
fn run_until_converged(
    sim: &mut Simulation<Membership>,
    gone: &[NodeId],
    limit: Duration,
    log: &mut Log,
) -> Result<Instant, String> {
    let end = sim.now() + limit;
    let mut last = Err("not checked".to_string());
    while sim.now() < end {
        sim.run_for(Duration::from_secs(1), log);
        last = check_membership_converged(sim, gone);
        if last.is_ok() {
            return Ok(sim.now());
        }
    }
    last.map(|_| sim.now())
}

/// Invariant 8 (SWIM §4 dissemination + memberlist join): 40 members that each know only
/// the first one converge to every member known alive by every other.
#[test]
fn forty_members_joining_through_one_seed_all_know_each_other_alive() {
    let mut sim = joining_through_first(7, 40, &lan(), network(0.0));
    let mut log = Log::default();
    let converged = run_until_converged(&mut sim, &[], Duration::from_secs(30), &mut log);
    assert!(converged.is_ok(), "{converged:?}");
    // And it stays converged: no healthy member is ever suspected on a lossless network.
    sim.run_for(Duration::from_secs(60), &mut log);
    check_membership_converged(&sim, &[]).unwrap();
    assert!(
        !log.0
            .iter()
            .any(|(_, _, e)| matches!(e, MembershipEvent::Suspect { .. })),
        "no suspicion without faults"
    );
}

/// Invariant 8, second half (SWIM §4.2, Lifeguard §4.2): a crashed member is suspected,
/// declared dead by every other member, and its tombstone is later forgotten everywhere.
#[test]
fn crashed_member_is_declared_dead_by_all_then_forgotten() {
    let config = lan();
    let mut sim = bootstrapped(3, 25, &config, network(0.0));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(5), &mut log);
    sim.crash(NodeId(9));
    let converged = run_until_converged(&mut sim, &[NodeId(9)], Duration::from_secs(60), &mut log);
    assert!(converged.is_ok(), "{converged:?}");
    let dead_reports = log
        .0
        .iter()
        .filter(
            |(_, _, e)| matches!(e, MembershipEvent::Dead { member, .. } if *member == NodeId(9)),
        )
        .count();
    assert_eq!(dead_reports, 24, "every survivor declares it dead once");
    sim.run_for(config.tombstone_ttl + Duration::from_secs(5), &mut log);
    for (id, m) in sim.machines() {
        assert!(
            m.member(NodeId(9)).is_none(),
            "{id} still holds the tombstone"
        );
    }
}

/// SWIM §4.2 + Serf reconnect: two halves cut off long enough to declare each other dead
/// reunite after the partition heals, with every member alive everywhere (invariant 8).
#[test]
fn partitioned_halves_heal_to_every_member_alive_everywhere() {
    let mut sim = bootstrapped(11, 20, &lan(), network(0.0));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(2), &mut log);
    let left: Vec<NodeId> = (1..=10).map(NodeId).collect();
    let right: Vec<NodeId> = (11..=20).map(NodeId).collect();
    sim.network_mut().partition(&[&left, &right]);
    sim.run_for(Duration::from_secs(60), &mut log);
    // Each side declared the other dead.
    let a = sim.machine(NodeId(1)).unwrap();
    assert_eq!(a.member(NodeId(15)).unwrap().status, Status::Dead);
    assert!(check_membership_converged(&sim, &[]).is_err());

    sim.network_mut().heal();
    let healed = run_until_converged(&mut sim, &[], Duration::from_secs(100), &mut log);
    assert!(healed.is_ok(), "{healed:?}");
}

/// A metadata change (new incarnation) propagates like any update: every member ends up
/// with the new metadata and reports MetadataChanged exactly once.
#[test]
fn metadata_change_reaches_every_member_once() {
    let mut sim = bootstrapped(5, 30, &lan(), network(0.0));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(1), &mut log);
    let mut meta = node_meta(5);
    meta.mesh_version.minor = 2;
    let at = sim.now();
    sim.schedule_local(at, NodeId(5), GossipInput::SetMetadata(meta.clone()));
    sim.run_for(Duration::from_secs(10), &mut log);
    for (id, m) in sim.machines() {
        if id == NodeId(5) {
            assert_eq!(m.incarnation(), 1);
            continue;
        }
        let v = m.member(NodeId(5)).unwrap();
        assert_eq!((v.incarnation, &*v.meta), (1, &meta), "at {id}");
    }
    let changes = log
        .0
        .iter()
        .filter(|(_, _, e)| matches!(e, MembershipEvent::MetadataChanged { member, .. } if *member == NodeId(5)))
        .count();
    assert_eq!(changes, 29);
}

/// Graceful leave (memberlist Leave): every member records Left, none records Dead, and the
/// leaver's tombstone is forgotten after the GC window.
#[test]
fn graceful_leave_is_recorded_as_left_everywhere_never_dead() {
    let config = lan();
    let mut sim = bootstrapped(8, 30, &config, network(0.0));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(1), &mut log);
    let at = sim.now();
    sim.schedule_local(at, NodeId(4), GossipInput::Leave);
    sim.run_for(Duration::from_secs(3), &mut log);
    sim.crash(NodeId(4)); // the process exits after spreading the news
    sim.run_for(Duration::from_secs(30), &mut log);
    let about = |pred: fn(&MembershipEvent) -> bool| {
        log.0
            .iter()
            .filter(|(_, _, e)| e.member() == NodeId(4) && pred(e))
            .count()
    };
    assert_eq!(
        about(|e| matches!(e, MembershipEvent::Left { incarnation: 1, .. })),
        29
    );
    assert_eq!(about(|e| matches!(e, MembershipEvent::Dead { .. })), 0);
    check_membership_converged(&sim, &[NodeId(4)]).unwrap();
    sim.run_for(config.tombstone_ttl, &mut log);
    assert!(sim.machines().all(|(_, m)| m.member(NodeId(4)).is_none()));
}

/// Lifeguard §5 (accuracy under loss): with 5 % of all messages lost, indirect probes and
/// refutation keep every healthy member out of the dead list.
#[test]
fn five_percent_loss_declares_no_healthy_member_dead() {
    let mut sim = bootstrapped(21, 50, &lan(), network(0.05));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(120), &mut log);
    let dead: Vec<_> = log
        .0
        .iter()
        .filter(|(_, _, e)| matches!(e, MembershipEvent::Dead { .. }))
        .collect();
    assert!(dead.is_empty(), "{dead:?}");
}

/// Lifeguard §4.1/§4.2: a member made slow (every input it handles arrives 1.5 s late,
/// longer than a whole probe period) is suspected again and again but never declared dead:
/// it refutes each suspicion before the timeout, and its local health rises.
#[test]
fn slow_member_is_not_declared_dead() {
    let mut sim = bootstrapped(4, 30, &lan(), network(0.0));
    let mut log = Log::default();
    sim.run_for(Duration::from_secs(1), &mut log);
    sim.network_mut()
        .set_slow(NodeId(3), Duration::from_millis(1500));
    sim.run_for(Duration::from_secs(120), &mut log);
    let dead: Vec<_> = log
        .0
        .iter()
        .filter(|(_, _, e)| matches!(e, MembershipEvent::Dead { .. }))
        .collect();
    assert!(dead.is_empty(), "{dead:?}");
    // The scenario really stressed it: it was suspected, refuted, and its health fell.
    let slow = sim.machine(NodeId(3)).unwrap();
    assert!(slow.incarnation() > 0, "it had to refute");
    assert!(
        slow.health().score() > 0,
        "its local health multiplier rose"
    );
}
