//! Metadata size: every metadata a member announces or learns fits, inside its alive
//! update, in one datagram, so refutations and updates never wait on push-pull and the
//! broadcast queue cannot clog.
//!
//! SWIM = Das et al., DSN 2002 (§4.2 refutation by incarnation); memberlist bounds
//! metadata the same way (`MetaMaxSize`).

mod gossip_support;

use std::sync::Arc;

use gossip_support::*;
use omnirelay_core::gossip::{
    DropReason, GossipError, GossipMessage, MemberMeta, MemberRecord, Membership, Status, Update,
};
use omnirelay_core::{Instant, Machine, NodeId};

/// `meta(1)` with its region padded so it encodes in exactly `bytes`.
fn meta_of_size(bytes: usize) -> MemberMeta {
    let mut m = meta(1);
    for len in 0..4 * bytes {
        m.region = Arc::from("r".repeat(len).as_str());
        if m.wire_size() == bytes {
            return m;
        }
    }
    panic!("no region length gives {bytes} bytes");
}

fn datagram_updates(msg: &GossipMessage) -> &[Update] {
    match msg {
        GossipMessage::Ping { updates, .. }
        | GossipMessage::Ack { updates, .. }
        | GossipMessage::Gossip { updates } => updates,
        _ => &[],
    }
}

/// The limit is a typed error in the constructor and in `set_metadata`, and a refused
/// change leaves the incarnation, the metadata and the broadcast queue as they were.
#[test]
fn metadata_over_the_limit_is_refused_with_a_typed_error_and_changes_nothing() {
    let limit = config().max_meta_bytes();
    let too_large = GossipError::MetadataTooLarge {
        bytes: limit + 1,
        limit,
    };
    let refused = Membership::new(
        NodeId(1),
        meta_of_size(limit + 1),
        config(),
        1,
        Instant::ZERO,
    );
    assert_eq!(refused.err(), Some(too_large.clone()));
    assert!(Membership::new(NodeId(1), meta_of_size(limit), config(), 1, Instant::ZERO).is_ok());

    let mut a = member_knowing(1, 2..=5);
    let queued = a.pending_broadcasts();
    assert_eq!(
        a.set_metadata(secs(0.1), meta_of_size(limit + 1)),
        Err(too_large)
    );
    assert_eq!(a.incarnation(), 0);
    assert_eq!(**a.meta(), meta(1));
    assert_eq!(a.pending_broadcasts(), queued);
    assert_eq!(a.set_metadata(secs(0.2), meta_of_size(limit)), Ok(()));
    assert_eq!(a.incarnation(), 1);
}

/// SWIM §4.2: a suspected member refutes by gossiping alive at a higher incarnation. For
/// every metadata size a member accepts, that refutation goes out in a datagram within
/// one protocol period, not only by push-pull (30 s, longer than a suspicion lasts).
#[test]
fn any_metadata_a_member_accepts_refutes_by_datagram_within_a_period() {
    let limit = config().max_meta_bytes();
    let mut accepted = 0;
    for bytes in (limit - 100..limit + 200).step_by(3) {
        let Ok(mut a) = Membership::new(NodeId(1), meta_of_size(bytes), config(), 1, Instant::ZERO)
        else {
            assert!(bytes > limit, "{bytes} bytes refused below the limit");
            continue;
        };
        accepted += 1;
        a.bootstrap_members(
            Instant::ZERO,
            (2..=5).map(|o| (NodeId(o), Arc::new(meta(o)))),
        );
        let suspicion = Update::Suspect {
            member: NodeId(1),
            incarnation: 0,
            from: NodeId(2),
        };
        a.handle_message(
            secs(0.1),
            NodeId(2),
            GossipMessage::Gossip {
                updates: vec![suspicion],
            },
        );
        assert_eq!(a.incarnation(), 1);
        let sent = run_acking(&mut a, secs(1.1));
        let refuted = sent.iter().any(|(_, t)| {
            datagram_updates(&t.msg).iter().any(|u| {
                matches!(
                    u,
                    Update::Alive {
                        member: NodeId(1),
                        incarnation: 1,
                        ..
                    }
                )
            })
        });
        assert!(
            refuted,
            "metadata of {bytes} bytes: no refutation by datagram"
        );
    }
    assert!(accepted > 30, "sizes up to the limit were tried");
}

/// Alive records whose metadata exceeds the limit, learned by push-pull, are dropped and
/// counted instead of queued; a suspicion queued before them still gets its whole
/// retransmit budget (memberlist's transmit-limited queue, SWIM §4.1 dissemination).
/// Queued, they would never fit a packet and would stop every scan of the queue before
/// the suspicion.
#[test]
fn oversized_alive_records_are_dropped_so_an_older_suspicion_keeps_spreading() {
    let mut a = member_knowing(1, 2..=5);
    let t = secs(0.1);
    a.handle_message(
        t,
        NodeId(3),
        GossipMessage::Gossip {
            updates: vec![Update::Suspect {
                member: NodeId(2),
                incarnation: 0,
                from: NodeId(3),
            }],
        },
    );
    let huge = Arc::new(meta_of_size(a.config().max_meta_bytes() + 500));
    let members = (6..=30)
        .map(|m| MemberRecord {
            member: NodeId(m),
            incarnation: 0,
            status: Status::Alive,
            meta: Arc::clone(&huge),
        })
        .collect();
    a.handle_message(t, NodeId(4), GossipMessage::PushPullReply { members });

    let sent = run_acking(&mut a, secs(10.0));
    let carried = sent
        .iter()
        .flat_map(|(_, t)| datagram_updates(&t.msg))
        .filter(|u| {
            matches!(
                u,
                Update::Suspect {
                    member: NodeId(2),
                    from: NodeId(3),
                    ..
                }
            )
        })
        .count();
    let budget = a.config().retransmit_limit(a.live_members());
    assert_eq!(
        carried, budget as usize,
        "the suspicion is retransmitted in full"
    );
}

/// An alive update received by datagram whose metadata exceeds the limit is a counted
/// drop: the member is not learned, nothing is re-gossiped.
#[test]
fn oversized_alive_update_by_datagram_is_a_counted_drop() {
    let mut a = member_knowing(1, 2..=5);
    let limit = a.config().max_meta_bytes();
    let update = Update::Alive {
        member: NodeId(6),
        incarnation: 0,
        meta: Arc::new(meta_of_size(limit + 20)),
    };
    let queued = a.pending_broadcasts();
    a.handle_message(
        secs(0.1),
        NodeId(2),
        GossipMessage::Gossip {
            updates: vec![update],
        },
    );
    assert_eq!(a.drops().get(DropReason::OversizedMetadata), 1);
    assert!(a.member(NodeId(6)).is_none());
    assert_eq!(a.pending_broadcasts(), queued);
}
