//! The invariants of ARCHITECTURE.md, checked at the end of every seed.

use std::collections::{BTreeMap, BTreeSet};

use omnirelay_core::node::Node;
use omnirelay_core::replication::QuarantineReason;
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use serde::Serialize;

use super::client::Ack;
use super::participant::Participant;
use super::run::Recorder;
use super::scenario::{Expectation, MOVED, Scenario};
use crate::model::Simulation;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Its number in ARCHITECTURE.md (0: a scenario expectation).
    pub invariant: u8,
    /// What was seen.
    pub detail: String,
}

fn violation(invariant: u8, detail: String) -> Violation {
    Violation { invariant, detail }
}

fn live_nodes(sim: &Simulation<Participant>) -> Vec<(NodeId, &Node)> {
    sim.machines()
        .filter_map(|(id, p)| p.as_node().map(|n| (id, n.node())))
        .filter(|(_, n)| n.data().is_some())
        .collect()
}

fn covered(recorder: &Recorder, ack: &Ack) -> bool {
    recorder.losses.values().any(|l| {
        l.old_active == ack.origin_cluster && l.covers(ack.failover_version, ack.origin_seq)
    })
}

/// Acknowledged writes that are gone but were reported at risk.
pub fn reported_lost(sim: &Simulation<Participant>, recorder: &Recorder) -> usize {
    let nodes = live_nodes(sim);
    recorder
        .acks
        .iter()
        .filter(|ack| {
            nodes.iter().any(|(_, n)| {
                n.data().is_some_and(|d| {
                    d.is_quarantined(&ack.origin_cluster, ack.origin_seq)
                        || d.event(&ack.origin_cluster, ack.origin_seq).is_none()
                })
            }) && covered(recorder, ack)
        })
        .count()
}

/// Checks every invariant on the final state and the recorded history.
pub fn check(
    scenario: &Scenario,
    sim: &Simulation<Participant>,
    recorder: &Recorder,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // 1. One leader per term, per cluster and in the control group.
    for sb in &recorder.split_brains {
        out.push(violation(1, format!("two leaders: {sb}")));
    }
    let nodes = live_nodes(sim);
    // 3. One accepting cluster per (namespace, failover version).
    let mut writers: BTreeMap<(NamespaceId, u64), BTreeSet<ClusterId>> = BTreeMap::new();
    for ack in &recorder.acks {
        writers
            .entry((ack.namespace.clone(), ack.failover_version.0))
            .or_default()
            .insert(ack.origin_cluster.clone());
    }
    for (_, node) in &nodes {
        let Some(data) = node.data() else { continue };
        for origin in data.origins() {
            for event in data.events_from(origin, 1, usize::MAX) {
                writers
                    .entry((event.namespace.clone(), event.failover_version.0))
                    .or_default()
                    .insert(event.origin_cluster.clone());
            }
        }
    }
    for ((ns, version), clusters) in &writers {
        if clusters.len() > 1 {
            out.push(violation(
                3,
                format!("{ns} at fv{version} accepted by {clusters:?}"),
            ));
        }
    }
    // 4. Exactly once, in order: each origin's store is contiguous and matches the VV.
    for (id, node) in &nodes {
        let Some(data) = node.data() else { continue };
        for origin in data.origins() {
            let held = data.events_from(origin, 1, usize::MAX);
            let contiguous = held
                .iter()
                .enumerate()
                .all(|(i, e)| e.origin_seq == i as u64 + 1 && e.origin_cluster == *origin);
            if !contiguous || held.len() as u64 != data.vv().get(origin) {
                out.push(violation(
                    4,
                    format!(
                        "{id}: {origin} holds {} events, VV says {}",
                        held.len(),
                        data.vv().get(origin)
                    ),
                ));
            }
        }
    }
    // 5 and 6. Every acknowledged write is everywhere, unless an emergency reported it.
    let mut missing = 0usize;
    let mut first_missing = None;
    for ack in &recorder.acks {
        for (id, node) in &nodes {
            let Some(data) = node.data() else { continue };
            let present = data
                .event(&ack.origin_cluster, ack.origin_seq)
                .is_some_and(|e| e.key == ack.key && e.namespace == ack.namespace);
            let quarantined = data.is_quarantined(&ack.origin_cluster, ack.origin_seq);
            if (!present || quarantined) && !covered(recorder, ack) {
                missing += 1;
                first_missing.get_or_insert_with(|| {
                    format!(
                        "{id}: {} {}#{} (fv{}) {}",
                        ack.namespace,
                        ack.origin_cluster,
                        ack.origin_seq,
                        ack.failover_version.0,
                        if present { "quarantined" } else { "missing" }
                    )
                });
            }
        }
    }
    if let Some(first) = first_missing {
        let invariant = if recorder.losses.is_empty() { 5 } else { 6 };
        out.push(violation(
            invariant,
            format!("{missing} acknowledged copies lost or unreported, first: {first}"),
        ));
    }
    // 6, from the other side: everything quarantined as written after a supersession lies
    // inside a range some emergency promotion reported.
    for (id, node) in &nodes {
        let Some(data) = node.data() else { continue };
        let unreported = data
            .state_diff()
            .iter()
            .filter(|q| matches!(q.reason, QuarantineReason::WrittenAfterSupersession { .. }))
            .filter(|q| {
                !recorder.losses.values().any(|l| {
                    l.old_active == q.event.origin_cluster
                        && l.covers(q.event.failover_version, q.event.origin_seq)
                })
            })
            .count();
        if unreported > 0 {
            out.push(violation(
                6,
                format!("{id} quarantined {unreported} writes no loss report covers"),
            ));
        }
    }
    if scenario.expect_quarantine {
        let old_active = scenario.layout.topology().clusters[0].id.clone();
        let listed = nodes.iter().any(|(_, n)| {
            n.cluster() == Some(&old_active) && n.data().is_some_and(|d| !d.state_diff().is_empty())
        });
        if !listed {
            out.push(violation(
                0,
                format!("the returning old active {old_active} lists no quarantined write"),
            ));
        }
    }
    // 7. Convergence: identical VVs and namespace digests on every live data node.
    if let Some((first_id, first)) = nodes.first() {
        let namespaces: Vec<NamespaceId> = scenario
            .layout
            .topology()
            .namespaces
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        for (id, node) in nodes.iter().skip(1) {
            let (Some(a), Some(b)) = (first.data(), node.data()) else {
                continue;
            };
            if a.vv() != b.vv() {
                out.push(violation(
                    7,
                    format!("{first_id} vv {} but {id} vv {}", a.vv(), b.vv()),
                ));
                break;
            }
            for ns in &namespaces {
                if a.namespace_digest(ns) != b.namespace_digest(ns) {
                    out.push(violation(
                        7,
                        format!("{ns} differs between {first_id} and {id}"),
                    ));
                }
            }
        }
    }
    // The scenario's own expectation about where ns-0 ends up.
    let newest = nodes
        .iter()
        .map(|(_, n)| n.registry())
        .max_by_key(|r| r.revision());
    let active = newest
        .and_then(|r| {
            NamespaceId::new(MOVED)
                .ok()
                .and_then(|ns| r.placement(&ns).cloned())
        })
        .map(|p| p.value.active_cluster);
    let topology = scenario.layout.topology();
    let cluster = |i: usize| topology.clusters.get(i).map(|c| c.id.clone());
    let ok = match &scenario.expect {
        Expectation::ActiveOn(i) => active.is_some() && active == cluster(*i),
        Expectation::MovedAwayFrom(i) => active.is_some() && active != cluster(*i),
    };
    if !ok {
        out.push(violation(
            0,
            format!(
                "{MOVED} ends active on {active:?}, expected {:?}",
                scenario.expect
            ),
        ));
    }
    if recorder.refusals > 0 {
        out.push(violation(
            0,
            format!("{} writes refused", recorder.refusals),
        ));
    }
    out
}
