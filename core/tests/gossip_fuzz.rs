//! Arbitrary input never panics a member and never breaks its bookkeeping
//! (ARCHITECTURE "bad input is a typed error or a counted drop, never a panic").

mod gossip_support;

use std::sync::Arc;
use std::time::Duration;

use gossip_support::*;
use omnirelay_core::gossip::{GossipMessage, MemberRecord, Status, Update};
use omnirelay_core::{Machine, NodeId};
use proptest::prelude::*;

fn node() -> impl Strategy<Value = NodeId> {
    (0u64..8).prop_map(NodeId)
}

fn incarnation() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        (node(), incarnation(), 0u64..3).prop_map(|(member, incarnation, m)| Update::Alive {
            member,
            incarnation,
            meta: Arc::new(meta(m)),
        }),
        (node(), incarnation(), node()).prop_map(|(member, incarnation, from)| {
            Update::Suspect {
                member,
                incarnation,
                from,
            }
        }),
        (node(), incarnation(), node()).prop_map(|(member, incarnation, from)| Update::Dead {
            member,
            incarnation,
            from,
        }),
        (node(), incarnation()).prop_map(|(member, incarnation)| Update::Left {
            member,
            incarnation
        }),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Alive),
        Just(Status::Suspect),
        Just(Status::Dead),
        Just(Status::Left)
    ]
}

fn record() -> impl Strategy<Value = MemberRecord> {
    (node(), incarnation(), status()).prop_map(|(member, incarnation, status)| MemberRecord {
        member,
        incarnation,
        status,
        meta: Arc::new(meta(member.0)),
    })
}

fn message() -> impl Strategy<Value = GossipMessage> {
    let seq = prop_oneof![0u64..8, any::<u64>()];
    prop_oneof![
        (seq.clone(), node(), prop::collection::vec(update(), 0..6)).prop_map(
            |(seq, target, updates)| GossipMessage::Ping {
                seq,
                target,
                updates
            }
        ),
        (seq.clone(), prop::collection::vec(update(), 0..6))
            .prop_map(|(seq, updates)| GossipMessage::Ack { seq, updates }),
        (seq.clone(), node()).prop_map(|(seq, target)| GossipMessage::PingReq { seq, target }),
        seq.prop_map(|seq| GossipMessage::Nack { seq }),
        prop::collection::vec(update(), 0..40)
            .prop_map(|updates| GossipMessage::Gossip { updates }),
        (any::<bool>(), prop::collection::vec(record(), 0..8)).prop_map(|(join, mut members)| {
            members.sort_by_key(|r| r.member);
            GossipMessage::PushPull { join, members }
        }),
        prop::collection::vec(record(), 0..8)
            .prop_map(|members| GossipMessage::PushPullReply { members }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_messages_never_panic_and_keep_counts_consistent(
        steps in prop::collection::vec((node(), message(), 0u64..3_000), 1..60)
    ) {
        let mut a = member_knowing(1, [2, 3, 4]);
        let mut now = secs(0.0);
        let mut incarnation = a.incarnation();
        for (from, msg, advance_ms) in steps {
            now += Duration::from_millis(advance_ms);
            a.handle_message(now, from, msg);
            a.handle_timeout(now);
            let _ = transmits(&mut a);
            let _ = events(&mut a);
            prop_assert!(a.incarnation() >= incarnation, "own incarnation never goes back");
            incarnation = a.incarnation();
            let live = 1 + a.members().filter(|m| m.status.is_live()).count();
            prop_assert_eq!(a.live_members(), live);
            prop_assert!(a.poll_timeout().is_some());
        }
    }
}
