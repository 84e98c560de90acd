//! Shared helpers for the gossip tests: a member, its metadata, and a clock to run it by.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use omnirelay_core::gossip::{
    Endpoint, GossipConfig, GossipMessage, MemberMeta, Membership, MembershipEvent, MeshVersion,
    ProtocolRange, Role,
};
use omnirelay_core::{ClusterId, Instant, Machine, NodeId, Transmit};

pub fn meta(id: u64) -> MemberMeta {
    MemberMeta {
        role: Role::Voter,
        cluster: ClusterId::new("us-east").unwrap(),
        region: Arc::from("us-east-1"),
        mesh_version: MeshVersion {
            major: 0,
            minor: 1,
            patch: 0,
        },
        endpoints: vec![Endpoint {
            name: Arc::from("gossip"),
            address: Arc::from(format!("10.0.0.{id}:7946").as_str()),
        }],
        protocols: ProtocolRange { min: 1, max: 1 },
    }
}

/// The LAN profile with aligned periods, so tests can name the instant of each probe.
pub fn config() -> GossipConfig {
    GossipConfig {
        stagger_start: false,
        ..GossipConfig::lan()
    }
}

/// Member `id` that already knows members `others` as alive.
pub fn member_knowing(id: u64, others: impl IntoIterator<Item = u64>) -> Membership {
    let mut m = Membership::new(NodeId(id), meta(id), config(), id, Instant::ZERO).unwrap();
    m.bootstrap_members(
        Instant::ZERO,
        others.into_iter().map(|o| (NodeId(o), Arc::new(meta(o)))),
    );
    m
}

pub fn transmits(m: &mut Membership) -> Vec<Transmit<GossipMessage>> {
    std::iter::from_fn(|| m.poll_transmit()).collect()
}

pub fn events(m: &mut Membership) -> Vec<MembershipEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Fires every timer due up to `until`, returning what was sent, with the send instant.
pub fn run_until(m: &mut Membership, until: Instant) -> Vec<(Instant, Transmit<GossipMessage>)> {
    let mut out = Vec::new();
    while let Some(at) = m.poll_timeout().filter(|at| *at <= until) {
        m.handle_timeout(at);
        out.extend(transmits(m).into_iter().map(|t| (at, t)));
    }
    out
}

pub fn secs(s: f64) -> Instant {
    Instant::ZERO + Duration::from_secs_f64(s)
}

/// A handful of members delivering every message after a fixed one-way delay, dropping
/// whatever `blocked(from, to)` refuses: enough for small cluster properties in core.
#[derive(Debug)]
pub struct Net {
    pub members: Vec<Membership>,
    pub now: Instant,
    pub delay: Duration,
    in_flight: std::collections::BTreeMap<(Instant, u64), (NodeId, NodeId, GossipMessage)>,
    next: u64,
    pub events: Vec<(Instant, NodeId, MembershipEvent)>,
}

impl Net {
    pub fn new(members: Vec<Membership>) -> Self {
        Net {
            members,
            now: Instant::ZERO,
            delay: Duration::from_millis(2),
            in_flight: Default::default(),
            next: 0,
            events: Vec::new(),
        }
    }

    fn index(&self, id: NodeId) -> Option<usize> {
        self.members.iter().position(|m| m.id() == id)
    }

    pub fn get(&self, id: u64) -> &Membership {
        &self.members[self.index(NodeId(id)).unwrap()]
    }

    pub fn get_mut(&mut self, id: u64) -> &mut Membership {
        let i = self.index(NodeId(id)).unwrap();
        &mut self.members[i]
    }

    /// Collects outputs of every member (after inputs given directly to one).
    pub fn flush(&mut self) {
        for i in 0..self.members.len() {
            let from = self.members[i].id();
            while let Some(t) = self.members[i].poll_transmit() {
                self.in_flight
                    .insert((self.now + self.delay, self.next), (from, t.to, t.msg));
                self.next += 1;
            }
            while let Some(e) = self.members[i].poll_event() {
                self.events.push((self.now, from, e));
            }
        }
    }

    pub fn run_until(&mut self, until: Instant, blocked: impl Fn(NodeId, NodeId) -> bool) {
        self.flush();
        loop {
            let next_msg = self.in_flight.keys().next().map(|k| k.0);
            let next_timer = self.members.iter().filter_map(|m| m.poll_timeout()).min();
            let Some(at) = [next_msg, next_timer].into_iter().flatten().min() else {
                break;
            };
            if at > until {
                break;
            }
            self.now = at;
            if next_msg == Some(at) {
                let (&key, _) = self.in_flight.iter().next().unwrap();
                let (from, to, msg) = self.in_flight.remove(&key).unwrap();
                if !blocked(from, to)
                    && let Some(i) = self.index(to)
                {
                    self.members[i].handle_message(at, from, msg);
                }
            } else {
                for m in &mut self.members {
                    if m.poll_timeout().is_some_and(|t| t <= at) {
                        m.handle_timeout(at);
                    }
                }
            }
            self.flush();
        }
        self.now = until;
    }
}

/// Like `run_until`, but every ping this member sends is acked at once by its target.
pub fn run_acking(m: &mut Membership, until: Instant) -> Vec<(Instant, Transmit<GossipMessage>)> {
    let mut out = Vec::new();
    while let Some(at) = m.poll_timeout().filter(|at| *at <= until) {
        m.handle_timeout(at);
        for t in transmits(m) {
            if let GossipMessage::Ping { seq, .. } = t.msg {
                let ack = GossipMessage::Ack {
                    seq,
                    updates: Vec::new(),
                };
                m.handle_message(at, t.to, ack);
            }
            out.push((at, t));
        }
    }
    out
}
