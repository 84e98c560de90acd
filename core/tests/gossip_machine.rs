//! Properties of one SWIM/Lifeguard member driven by hand-made inputs.
//!
//! SWIM = Das et al., DSN 2002; Lifeguard = Dadgar et al., 2018.

mod gossip_support;

use std::sync::Arc;
use std::time::Duration;

use gossip_support::*;
use omnirelay_core::gossip::{
    DropReason, GossipMessage, MemberRecord, MembershipEvent, Status, Update,
};
use omnirelay_core::{Instant, Machine, NodeId};

fn gossip(updates: Vec<Update>) -> GossipMessage {
    GossipMessage::Gossip { updates }
}

fn alive_updates(msgs: &[GossipMessage], member: u64) -> Vec<u64> {
    msgs.iter()
        .flat_map(|m| match m {
            GossipMessage::Ping { updates, .. }
            | GossipMessage::Ack { updates, .. }
            | GossipMessage::Gossip { updates } => updates.clone(),
            _ => Vec::new(),
        })
        .filter_map(|u| match u {
            Update::Alive {
                member: m,
                incarnation,
                ..
            } if m == NodeId(member) => Some(incarnation),
            _ => None,
        })
        .collect()
}

/// SWIM §4.2: a member that hears itself suspected at its own incarnation refutes by
/// gossiping alive at a higher one; Lifeguard §4.1: having to refute raises local health.
#[test]
fn suspected_member_refutes_with_a_higher_incarnation() {
    let mut a = member_knowing(1, 2..=5);
    let now = secs(0.1);
    a.handle_message(
        now,
        NodeId(2),
        gossip(vec![Update::Suspect {
            member: NodeId(1),
            incarnation: 0,
            from: NodeId(2),
        }]),
    );
    assert_eq!(a.incarnation(), 1);
    assert_eq!(a.health().score(), 1);
    let sent: Vec<GossipMessage> = run_until(&mut a, secs(1.5))
        .into_iter()
        .map(|(_, t)| t.msg)
        .collect();
    assert!(alive_updates(&sent, 1).contains(&1), "refutation gossiped");

    // A suspicion of an older incarnation is stale: no second bump.
    a.handle_message(
        secs(1.6),
        NodeId(3),
        gossip(vec![Update::Suspect {
            member: NodeId(1),
            incarnation: 0,
            from: NodeId(3),
        }]),
    );
    assert_eq!(a.incarnation(), 1);
    // Dead about us at our incarnation is refuted too.
    a.handle_message(
        secs(1.7),
        NodeId(3),
        gossip(vec![Update::Dead {
            member: NodeId(1),
            incarnation: 1,
            from: NodeId(3),
        }]),
    );
    assert_eq!(a.incarnation(), 2);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Alive,
    Suspect,
    Dead,
    Left,
}

fn update(kind: Kind, member: u64, incarnation: u64, meta_of: u64) -> Update {
    let member = NodeId(member);
    match kind {
        Kind::Alive => Update::Alive {
            member,
            incarnation,
            meta: Arc::new(meta(meta_of)),
        },
        Kind::Suspect => Update::Suspect {
            member,
            incarnation,
            from: NodeId(3),
        },
        Kind::Dead => Update::Dead {
            member,
            incarnation,
            from: NodeId(3),
        },
        Kind::Left => Update::Left {
            member,
            incarnation,
        },
    }
}

/// The precedence rules as SWIM §4.2 and memberlist state them, as a reference.
fn expected(state: Status, j: u64, kind: Kind, i: u64) -> (Status, u64) {
    match kind {
        Kind::Alive if i > j => (Status::Alive, i),
        Kind::Suspect if state.is_live() && i >= j => (Status::Suspect, i),
        Kind::Dead if state.is_live() && i >= j => (Status::Dead, i),
        Kind::Left if state.is_live() && i >= j => (Status::Left, i),
        _ => (state, j),
    }
}

/// SWIM §4.2: alive(i) overrides suspect(j) iff i > j, suspect(i) overrides alive(j) iff
/// i >= j, dead and left override anything of incarnation <= theirs; checked for every
/// (state, update) pair against the reference above.
#[test]
fn incarnation_precedence_matches_swim_for_every_pair() {
    let states = [
        (Status::Alive, Kind::Alive),
        (Status::Suspect, Kind::Suspect),
        (Status::Dead, Kind::Dead),
        (Status::Left, Kind::Left),
    ];
    for (state, setter) in states {
        for j in 0..3u64 {
            for kind in [Kind::Alive, Kind::Suspect, Kind::Dead, Kind::Left] {
                for i in 0..4u64 {
                    let mut a = member_knowing(1, [2, 3, 4, 5]);
                    let t = secs(0.01);
                    if j > 0 {
                        a.handle_message(t, NodeId(3), gossip(vec![update(Kind::Alive, 2, j, 2)]));
                    }
                    if setter != Kind::Alive {
                        a.handle_message(t, NodeId(3), gossip(vec![update(setter, 2, j, 2)]));
                    }
                    let before = a.member(NodeId(2)).unwrap();
                    assert_eq!((before.status, before.incarnation), (state, j));
                    a.handle_message(t, NodeId(4), gossip(vec![update(kind, 2, i, 2)]));
                    let after = a.member(NodeId(2)).unwrap();
                    assert_eq!(
                        (after.status, after.incarnation),
                        expected(state, j, kind, i),
                        "{state:?}({j}) then {kind:?}({i})"
                    );
                }
            }
        }
    }
}

/// Lifeguard §4.2: each independent confirmation of a suspicion shortens its timeout
/// (log-scaled from max down to min); repeats from the same member do not.
#[test]
fn independent_confirmations_shorten_the_suspicion_timeout() {
    let mut a = member_knowing(1, 2..=20);
    let suspect = |from: u64| {
        gossip(vec![Update::Suspect {
            member: NodeId(2),
            incarnation: 0,
            from: NodeId(from),
        }])
    };
    let t0 = secs(0.1);
    a.handle_message(t0, NodeId(3), suspect(3));
    let lone = a.suspicion_deadline(NodeId(2)).unwrap();
    a.handle_message(t0, NodeId(4), suspect(4));
    let once = a.suspicion_deadline(NodeId(2)).unwrap();
    a.handle_message(t0, NodeId(4), suspect(4));
    assert_eq!(
        a.suspicion_deadline(NodeId(2)),
        Some(once),
        "repeat is no confirmation"
    );
    a.handle_message(t0, NodeId(5), suspect(5));
    let twice = a.suspicion_deadline(NodeId(2)).unwrap();
    assert!(lone > once && once > twice, "{lone} > {once} > {twice}");

    // 20 live members: min = 4 * log10(20) s, max = 6 * min; k = 4 - 2 = 2 confirmations.
    let min = Duration::from_secs_f64(4.0 * 20f64.log10());
    let close = |a: Instant, b: Instant| (a - b).max(b - a) < Duration::from_millis(1);
    assert!(close(lone, t0 + min * 6));
    assert!(close(twice, t0 + min));

    // Declared dead at the shortened deadline, not the original one.
    let _ = events(&mut a);
    run_until(&mut a, twice);
    let dead: Vec<_> = events(&mut a)
        .into_iter()
        .filter(|e| matches!(e, MembershipEvent::Dead { member, .. } if *member == NodeId(2)))
        .collect();
    assert_eq!(dead.len(), 1);
}

/// A suspicion refuted before it runs out leaves a timer that fires as a no-op.
#[test]
fn refuted_suspicion_timer_fires_as_a_no_op() {
    let mut a = member_knowing(1, 2..=5);
    a.handle_message(
        secs(0.1),
        NodeId(3),
        gossip(vec![update(Kind::Suspect, 2, 0, 2)]),
    );
    let deadline = a.suspicion_deadline(NodeId(2)).unwrap();
    a.handle_message(
        secs(0.2),
        NodeId(2),
        gossip(vec![update(Kind::Alive, 2, 1, 2)]),
    );
    let evs = events(&mut a);
    assert!(evs.contains(&MembershipEvent::Alive {
        member: NodeId(2),
        incarnation: 1
    }));
    run_acking(&mut a, deadline + Duration::from_secs(1));
    assert_eq!(a.member(NodeId(2)).unwrap().status, Status::Alive);
    assert!(
        !events(&mut a)
            .iter()
            .any(|e| matches!(e, MembershipEvent::Dead { .. }))
    );
}

fn probe_times(sent: &[(Instant, omnirelay_core::Transmit<GossipMessage>)]) -> Vec<Instant> {
    sent.iter()
        .filter(|(_, t)| matches!(t.msg, GossipMessage::Ping { .. }))
        .map(|(at, _)| *at)
        .collect()
}

/// Lifeguard §4.1/§4.3: a member whose probes go unanswered and whose ping-reqs bring no
/// nacks raises its local health score, which stretches its probe interval (up to
/// `awareness_max_multiplier`); timely acks bring it back down.
#[test]
fn missed_acks_and_nacks_slow_probing_and_acks_restore_it() {
    let mut deaf = member_knowing(1, 2..=40);
    let sent = run_until(&mut deaf, secs(30.0));
    let pings = probe_times(&sent);
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.first(), Some(&Duration::from_secs(1)));
    assert_eq!(deaf.health().score(), 7, "saturates at multiplier 8");
    assert_eq!(gaps.last(), Some(&Duration::from_secs(8)));

    // Now every probe is acked at once: the score falls back to 0, the interval to 1 s.
    let sent = run_acking(&mut deaf, secs(90.0));
    assert_eq!(deaf.health().score(), 0);
    let pings = probe_times(&sent);
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.last(), Some(&Duration::from_secs(1)));
}

/// SWIM §3.1: a missed direct ack makes the prober ask `indirect_checks` other members to
/// probe (ping-req); a relay answers with the target's ack, or a nack on its own timeout
/// (Lifeguard §4.3), and a relay's late timer after it answered sends nothing.
#[test]
fn missed_ack_asks_k_members_and_relays_answer_ack_or_nack() {
    let mut a = member_knowing(1, 2..=10);
    let sent = run_until(&mut a, secs(1.6));
    let ping_reqs: Vec<_> = sent
        .iter()
        .filter(|(_, t)| matches!(t.msg, GossipMessage::PingReq { .. }))
        .collect();
    assert_eq!(ping_reqs.len(), 3);
    assert!(ping_reqs.iter().all(|(at, _)| *at == secs(1.5)));

    // Relay side: forward the ack...
    let mut r = member_knowing(7, 1..=6);
    r.handle_message(
        secs(0.1),
        NodeId(1),
        GossipMessage::PingReq {
            seq: 42,
            target: NodeId(2),
        },
    );
    let out = transmits(&mut r);
    let relay_seq = match &out[..] {
        [t] if t.to == NodeId(2) => match t.msg {
            GossipMessage::Ping { seq, .. } => seq,
            _ => panic!("expected a ping"),
        },
        _ => panic!("expected one ping, got {out:?}"),
    };
    r.handle_message(
        secs(0.11),
        NodeId(2),
        GossipMessage::Ack {
            seq: relay_seq,
            updates: Vec::new(),
        },
    );
    let out = transmits(&mut r);
    assert!(matches!(
        &out[..],
        [t] if t.to == NodeId(1) && matches!(t.msg, GossipMessage::Ack { seq: 42, .. })
    ));
    let late = run_until(&mut r, secs(0.9));
    assert!(
        !late
            .iter()
            .any(|(_, t)| matches!(t.msg, GossipMessage::Nack { .. }))
    );

    // ...or nack when the target stays silent.
    r.handle_message(
        secs(0.95),
        NodeId(1),
        GossipMessage::PingReq {
            seq: 43,
            target: NodeId(3),
        },
    );
    let _ = transmits(&mut r);
    let later = run_until(&mut r, secs(1.6));
    assert!(
        later
            .iter()
            .any(|(_, t)| t.to == NodeId(1) && matches!(t.msg, GossipMessage::Nack { seq: 43 }))
    );
}

/// SWIM §4.3: round-robin probing over a shuffled list probes every member exactly once
/// per round of n - 1 periods, in an order that changes between rounds.
#[test]
fn round_robin_probes_every_member_once_per_round() {
    let n = 12u64;
    let mut a = member_knowing(1, 2..=n);
    let mut rounds: Vec<Vec<NodeId>> = Vec::new();
    let mut current = Vec::new();
    let mut now = Instant::ZERO;
    while rounds.len() < 3 {
        let at = a.poll_timeout().unwrap();
        now = now.max(at);
        a.handle_timeout(at);
        for t in transmits(&mut a) {
            if let GossipMessage::Ping { seq, target, .. } = t.msg {
                current.push(target);
                let ack = GossipMessage::Ack {
                    seq,
                    updates: Vec::new(),
                };
                a.handle_message(at, target, ack);
                if current.len() == (n - 1) as usize {
                    rounds.push(std::mem::take(&mut current));
                }
            }
        }
    }
    for round in &rounds {
        let mut sorted = round.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            (n - 1) as usize,
            "each member once: {round:?}"
        );
    }
    assert!(
        rounds[0] != rounds[1] || rounds[1] != rounds[2],
        "reshuffled"
    );
}

/// ARCHITECTURE invariant 8 ("dead members are removed"): a tombstone is kept for the GC
/// window, so late gossip cannot resurrect the member, then forgotten.
#[test]
fn tombstones_are_forgotten_after_the_gc_window() {
    let mut a = member_knowing(1, 2..=5);
    let t0 = secs(0.5);
    a.handle_message(t0, NodeId(3), gossip(vec![update(Kind::Dead, 2, 0, 2)]));
    assert_eq!(a.member(NodeId(2)).unwrap().status, Status::Dead);
    let ttl = a.config().tombstone_ttl;

    // A stale alive during the window is refused.
    a.handle_message(
        secs(1.0),
        NodeId(4),
        gossip(vec![update(Kind::Alive, 2, 0, 2)]),
    );
    assert_eq!(a.member(NodeId(2)).unwrap().status, Status::Dead);
    run_until(&mut a, t0 + (ttl - Duration::from_nanos(1)));
    assert!(a.member(NodeId(2)).is_some());
    run_until(&mut a, t0 + ttl);
    assert!(a.member(NodeId(2)).is_none());
    assert_eq!(a.known_members(), 3);
    // Forgotten members are never probed again, and suspicion about them is counted.
    let sent = run_until(&mut a, t0 + ttl + Duration::from_secs(10));
    assert!(!sent.iter().any(|(_, t)| t.to == NodeId(2)));
    a.handle_message(
        t0 + ttl + Duration::from_secs(11),
        NodeId(4),
        gossip(vec![update(Kind::Suspect, 2, 0, 2)]),
    );
    assert_eq!(a.drops().get(DropReason::UnknownMember), 1);
}

/// Graceful leave (memberlist Leave): the leaver disseminates Left at a higher incarnation,
/// stops probing, refuses further changes; a receiver records Left, never Dead.
#[test]
fn graceful_leave_spreads_left_with_a_higher_incarnation() {
    let mut a = member_knowing(1, 2..=5);
    a.leave(secs(0.1)).unwrap();
    assert_eq!(a.incarnation(), 1);
    assert!(a.set_metadata(secs(0.1), meta(1)).is_err());
    assert!(a.leave(secs(0.1)).is_err());
    let sent = run_until(&mut a, secs(5.0));
    assert!(
        !sent
            .iter()
            .any(|(_, t)| matches!(t.msg, GossipMessage::Ping { .. }))
    );
    let left = sent.iter().find_map(|(_, t)| match &t.msg {
        GossipMessage::Gossip { updates } => updates
            .iter()
            .find(|u| matches!(u, Update::Left { .. }))
            .cloned(),
        _ => None,
    });
    assert_eq!(
        left,
        Some(Update::Left {
            member: NodeId(1),
            incarnation: 1
        })
    );
    // A leaver does not refute its own departure.
    a.handle_message(
        secs(5.0),
        NodeId(2),
        gossip(vec![update(Kind::Dead, 1, 1, 1)]),
    );
    assert_eq!(a.incarnation(), 1);

    let mut b = member_knowing(2, [1, 3, 4, 5]);
    b.handle_message(secs(0.2), NodeId(1), gossip(vec![left.unwrap()]));
    assert_eq!(
        events(&mut b),
        vec![MembershipEvent::Left {
            member: NodeId(1),
            incarnation: 1
        }]
    );
}

/// A metadata change bumps the incarnation and spreads as an alive update; the receiver
/// reports MetadataChanged with the new value.
#[test]
fn metadata_change_bumps_incarnation_and_is_reported_by_receivers() {
    let mut a = member_knowing(1, [2]);
    let mut new_meta = meta(1);
    new_meta.mesh_version.minor = 2;
    a.set_metadata(secs(0.1), new_meta.clone()).unwrap();
    assert_eq!(a.incarnation(), 1);
    let sent = run_until(&mut a, secs(1.0));
    let mut b = member_knowing(2, [1]);
    for (at, t) in sent {
        b.handle_message(at, NodeId(1), t.msg);
    }
    assert!(events(&mut b).contains(&MembershipEvent::MetadataChanged {
        member: NodeId(1),
        incarnation: 1,
        meta: Arc::new(new_meta.clone()),
    }));
    assert_eq!(*b.member(NodeId(1)).unwrap().meta, new_meta);
}

/// Malformed, stale and impossible inputs are counted by kind and change nothing.
#[test]
fn malformed_and_stale_inputs_are_counted_by_kind() {
    let mut a = member_knowing(1, 2..=5);
    let t = secs(0.1);
    let ack = |seq| GossipMessage::Ack {
        seq,
        updates: Vec::new(),
    };
    a.handle_message(t, NodeId(1), gossip(vec![]));
    a.handle_message(t, NodeId(2), ack(999));
    a.handle_message(
        t,
        NodeId(2),
        GossipMessage::Ping {
            seq: 1,
            target: NodeId(9),
            updates: Vec::new(),
        },
    );
    a.handle_message(
        t,
        NodeId(2),
        GossipMessage::PingReq {
            seq: 1,
            target: NodeId(1),
        },
    );
    let huge = (0..200)
        .map(|i| update(Kind::Alive, 100 + i, 0, i))
        .collect::<Vec<_>>();
    a.handle_message(t, NodeId(2), gossip(huge));
    a.handle_message(
        t,
        NodeId(2),
        gossip(vec![update(Kind::Alive, 3, u64::MAX, 3)]),
    );
    a.handle_message(
        t,
        NodeId(2),
        gossip(vec![update(Kind::Suspect, 1, 1 << 40, 1)]),
    );
    a.handle_message(t, NodeId(2), gossip(vec![update(Kind::Alive, 3, 0, 3)]));
    let record = |m: u64| MemberRecord {
        member: NodeId(m),
        incarnation: 0,
        status: Status::Alive,
        meta: Arc::new(meta(m)),
    };
    a.handle_message(
        t,
        NodeId(2),
        GossipMessage::PushPullReply {
            members: vec![record(3), record(2)],
        },
    );
    let d = a.drops();
    for (reason, n) in [
        (DropReason::FromSelf, 1),
        (DropReason::UnknownSequence, 1),
        (DropReason::MisdirectedPing, 1),
        (DropReason::Malformed, 2),
        (DropReason::Oversized, 1),
        (DropReason::ImpossibleIncarnation, 2),
        (DropReason::StaleUpdate, 1),
    ] {
        assert_eq!(d.get(reason), n, "{reason:?}");
    }
    assert_eq!(a.incarnation(), 0);
    assert_eq!(a.known_members(), 4);
    assert!(transmits(&mut a).is_empty());

    // A late ack for a finished probe is counted as such.
    let sent = run_until(&mut a, secs(2.1));
    let first_seq = sent
        .iter()
        .find_map(|(_, t)| match t.msg {
            GossipMessage::Ping { seq, .. } => Some(seq),
            _ => None,
        })
        .unwrap();
    a.handle_message(secs(2.2), NodeId(2), ack(first_seq));
    assert_eq!(a.drops().get(DropReason::LateAnswer), 1);
}

/// A node joining through a seed learns the seed's full state in one exchange, and the
/// seed learns (and will gossip) the newcomer.
#[test]
fn join_through_a_seed_exchanges_full_state() {
    let seed = member_knowing(2, [3, 4, 5]);
    let newcomer = member_knowing(1, []);
    let mut net = Net::new(vec![newcomer, seed]);
    net.get_mut(1).join(Instant::ZERO, &[NodeId(2)]).unwrap();
    net.run_until(secs(0.1), |_, _| false);
    let ids: Vec<_> = net.get(1).members().map(|m| m.id.0).collect();
    assert_eq!(ids, vec![2, 3, 4, 5]);
    assert_eq!(
        net.get(2).member(NodeId(1)).map(|m| m.status),
        Some(Status::Alive)
    );
}

/// A join whose first request is lost is retried until a seed answers.
#[test]
fn lost_join_request_is_retried() {
    let seed = member_knowing(2, []);
    let newcomer = member_knowing(1, []);
    let mut net = Net::new(vec![newcomer, seed]);
    net.get_mut(1).join(Instant::ZERO, &[NodeId(2)]).unwrap();
    net.run_until(secs(0.5), |_, _| true);
    assert_eq!(net.get(1).live_members(), 1);
    net.run_until(secs(5.0), |_, _| false);
    assert_eq!(net.get(1).live_members(), 2);
}

/// Lifeguard §IV-C (buddy system): a ping to a member we suspect carries the suspicion, so
/// the suspect can refute on the spot instead of waiting for gossip to reach it.
#[test]
fn probing_a_suspect_tells_it_of_the_suspicion() {
    let mut a = member_knowing(1, [2]);
    a.handle_message(
        secs(0.1),
        NodeId(3),
        gossip(vec![update(Kind::Alive, 3, 0, 3)]),
    );
    a.handle_message(
        secs(0.1),
        NodeId(3),
        gossip(vec![update(Kind::Suspect, 2, 0, 2)]),
    );
    let sent = run_until(&mut a, secs(3.0));
    let ping_to_suspect = sent.iter().find_map(|(_, t)| match &t.msg {
        GossipMessage::Ping {
            target, updates, ..
        } if *target == NodeId(2) => Some(updates.clone()),
        _ => None,
    });
    let updates = ping_to_suspect.expect("the suspect is probed");
    assert_eq!(
        updates.first(),
        Some(&Update::Suspect {
            member: NodeId(2),
            incarnation: 0,
            from: NodeId(1)
        })
    );
}

/// A member that gossips a suspicion older than a refutation we hold missed that
/// refutation; it is sent the newer alive at once, so its suspicion cannot time out into
/// a false death (regression: `gossip --nodes 200 --profile lan --loss 0.05 --seed 3`).
#[test]
fn stale_suspicion_is_answered_with_the_newer_alive() {
    let mut a = member_knowing(1, 2..=5);
    a.handle_message(
        secs(0.1),
        NodeId(2),
        gossip(vec![update(Kind::Alive, 2, 3, 2)]),
    );
    let _ = transmits(&mut a);
    a.handle_message(
        secs(0.2),
        NodeId(4),
        gossip(vec![update(Kind::Suspect, 2, 1, 2)]),
    );
    let out = transmits(&mut a);
    assert!(
        matches!(
            &out[..],
            [t] if t.to == NodeId(4) && matches!(&t.msg, GossipMessage::Gossip { updates }
                if matches!(updates[..], [Update::Alive { member: NodeId(2), incarnation: 3, .. }]))
        ),
        "{out:?}"
    );
    // A current suspicion is applied, not answered.
    a.handle_message(
        secs(0.3),
        NodeId(4),
        gossip(vec![update(Kind::Suspect, 2, 3, 2)]),
    );
    assert!(transmits(&mut a).is_empty());
    assert_eq!(a.member(NodeId(2)).unwrap().status, Status::Suspect);
}

/// foca-style typed timers: the probe timeout of a probe that was already acked fires as a
/// no-op (no ping-req), and a probe answered in time lowers nothing below healthy.
#[test]
fn probe_timeout_after_an_ack_is_a_no_op() {
    let mut a = member_knowing(1, 2..=10);
    let sent = run_acking(&mut a, secs(10.5));
    assert!(
        !sent
            .iter()
            .any(|(_, t)| matches!(t.msg, GossipMessage::PingReq { .. })),
        "acked probes never escalate to indirect probes"
    );
    assert_eq!(a.health().score(), 0);
    assert!(a.members().all(|m| m.status == Status::Alive));
    assert_eq!(a.drops().total(), 0);
}

/// Each suspect keeps one pending suspicion timer however many newer suspicions of it
/// arrive (foca-style typed timers: the replaced one could only have fired as a no-op),
/// so a peer cannot grow the timer queue update by update; the one left still declares
/// the suspect dead at its deadline, at the newest incarnation suspected (Lifeguard §4.2).
#[test]
fn newer_suspicions_of_one_suspect_keep_one_pending_timer() {
    let mut a = member_knowing(1, 2..=5);
    let t = secs(0.1);
    a.handle_message(t, NodeId(3), gossip(vec![update(Kind::Suspect, 2, 0, 2)]));
    let deadline = a.suspicion_deadline(NodeId(2)).unwrap();
    let timers = a.pending_timers();
    for incarnation in 1..=1000 {
        a.handle_message(
            t,
            NodeId(3),
            gossip(vec![update(Kind::Suspect, 2, incarnation, 2)]),
        );
        assert!(
            a.pending_timers() <= timers,
            "after incarnation {incarnation}"
        );
    }
    assert_eq!(a.suspicion_deadline(NodeId(2)), Some(deadline));
    let _ = events(&mut a);
    run_acking(&mut a, deadline);
    assert!(events(&mut a).contains(&MembershipEvent::Dead {
        member: NodeId(2),
        incarnation: 1000
    }));
}

/// SWIM §4.2 refutation only works if the suspect accepts every suspicion its peers
/// accept. A forged suspicion far above the known incarnation (`2^33`, beyond the 2^32
/// plausibility bound) is refused and counted by every member, not only by its subject, so
/// nobody declares the subject dead for a suspicion it could never refute.
#[test]
fn implausible_incarnation_jump_is_refused_by_every_member_alike() {
    let mut net = Net::new(
        (1..=5)
            .map(|i| member_knowing(i, (1..=5).filter(|o| *o != i)))
            .collect(),
    );
    net.run_until(secs(2.0), |_, _| false);
    let forged = Update::Suspect {
        member: NodeId(1),
        incarnation: 1 << 33,
        from: NodeId(3),
    };
    for target in [1, 2, 4] {
        let now = net.now;
        net.get_mut(target)
            .handle_message(now, NodeId(3), gossip(vec![forged.clone()]));
    }
    net.run_until(secs(60.0), |_, _| false);
    assert!(
        !net.events.iter().any(|(_, _, e)| matches!(
            e,
            MembershipEvent::Suspect { .. } | MembershipEvent::Dead { .. }
        )),
        "{:?}",
        net.events
    );
    for i in 2..=5 {
        let view = net.get(i).member(NodeId(1)).unwrap();
        assert_eq!(
            (view.status, view.incarnation),
            (Status::Alive, 0),
            "at {i}"
        );
    }
    for target in [1, 2, 4] {
        let drops = net.get(target).drops();
        assert_eq!(
            drops.get(DropReason::ImpossibleIncarnation),
            1,
            "at {target}"
        );
    }
}
