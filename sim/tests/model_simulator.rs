//! Properties of the model simulator itself, over a toy machine.

use std::collections::VecDeque;
use std::time::Duration;

use omnirelay_core::machine::WireMessage;
use omnirelay_core::{Instant, Machine, NodeId, Transmit};
use omnirelay_sim::model::{LinkModel, NetworkModel, Observer, SimMachine, Simulation};

/// Every `period` sends `Ping(n)` to each peer; emits `Got(from, n)` for every message.
#[derive(Debug)]
struct Pinger {
    peers: Vec<NodeId>,
    period: Duration,
    next: Instant,
    counter: u64,
    outbox: VecDeque<Transmit<Ping>>,
    events: VecDeque<Got>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Ping(u64);

impl WireMessage for Ping {
    fn wire_size(&self) -> usize {
        8
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Got {
    Ping { from: NodeId, n: u64 },
    Local(u64),
}

impl Pinger {
    fn new(peers: Vec<NodeId>, period: Duration, start: Instant) -> Self {
        Pinger {
            peers,
            period,
            next: start + period,
            counter: 0,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
}

impl Machine for Pinger {
    type Message = Ping;
    type Event = Got;

    fn handle_message(&mut self, _now: Instant, from: NodeId, msg: Ping) {
        self.events.push_back(Got::Ping { from, n: msg.0 });
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + self.period;
        self.counter += 1;
        for &to in &self.peers {
            self.outbox.push_back(Transmit {
                to,
                msg: Ping(self.counter),
            });
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit<Ping>> {
        self.outbox.pop_front()
    }

    fn poll_event(&mut self) -> Option<Got> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
}

impl SimMachine for Pinger {
    type Local = u64;
    fn handle_local(&mut self, _now: Instant, input: u64) {
        self.events.push_back(Got::Local(input));
    }
}

/// Records every event with its time and node.
#[derive(Default)]
struct Log(Vec<(Instant, NodeId, Got)>);

impl Observer<Pinger> for Log {
    fn on_event(&mut self, sim: &mut Simulation<Pinger>, node: NodeId, event: &Got) {
        self.0.push((sim.now(), node, event.clone()));
    }
}

const MS: Duration = Duration::from_millis(1);

fn mesh(seed: u64, n: u64, link: LinkModel) -> Simulation<Pinger> {
    let mut sim = Simulation::new(seed, NetworkModel::uniform(link));
    let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
    for &id in &ids {
        let peers = ids.iter().copied().filter(|p| *p != id).collect();
        sim.add_node(id, Pinger::new(peers, 10 * MS, Instant::ZERO));
    }
    sim
}

fn noisy() -> LinkModel {
    LinkModel::uniform(MS, 5 * MS)
        .with_loss(0.1)
        .with_duplication(0.05)
        .with_reordering(0.1, 20 * MS)
}

#[test]
fn the_same_seed_replays_the_same_trace_and_another_seed_does_not() {
    let run = |seed| {
        let mut sim = mesh(seed, 5, noisy());
        sim.run_until(Instant::from_secs(2), &mut ());
        (sim.trace_hash(), sim.stats())
    };
    let (a, stats_a) = run(42);
    let (b, stats_b) = run(42);
    assert_eq!(a, b);
    assert_eq!(stats_a, stats_b);
    assert!(stats_a.lost > 0 && stats_a.duplicated > 0, "{stats_a:?}");
    assert_ne!(a, run(43).0);
}

#[test]
fn work_at_the_same_instant_runs_in_insertion_order() {
    let mut sim = mesh(1, 3, LinkModel::fixed(MS));
    let t = Instant::from_millis(5);
    for (node, input) in [(3, 30), (1, 10), (2, 20), (1, 11)] {
        sim.schedule_local(t, NodeId(node), input);
    }
    let mut log = Log::default();
    sim.run_until(t, &mut log);
    let order: Vec<Got> = log.0.into_iter().map(|(_, _, e)| e).collect();
    assert_eq!(
        order,
        vec![
            Got::Local(30),
            Got::Local(10),
            Got::Local(20),
            Got::Local(11)
        ]
    );
}

#[test]
fn a_crashed_node_receives_nothing_and_fires_no_timer_until_restarted() {
    let mut sim = mesh(7, 3, LinkModel::fixed(MS));
    sim.run_until(Instant::from_millis(25), &mut ());
    let crashed = NodeId(2);
    assert!(sim.crash(crashed).is_some());
    sim.schedule_local(Instant::from_millis(30), crashed, 99);
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(200), &mut log);
    assert!(log.0.iter().all(|(_, node, _)| *node != crashed));
    assert!(sim.stats().undeliverable > 0);
    // Node 2 sent nothing while down: the others only hear from each other.
    assert!(log.0.iter().all(|(_, _, e)| *e
        != Got::Ping {
            from: crashed,
            n: 3
        }));

    let peers = vec![NodeId(1), NodeId(3)];
    sim.restart(crashed, Pinger::new(peers, 10 * MS, sim.now()));
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(260), &mut log);
    // The fresh machine counts from 1 again and hears its peers.
    assert!(log.0.contains(&(
        Instant::from_millis(211),
        NodeId(1),
        Got::Ping {
            from: crashed,
            n: 1
        }
    )));
    assert!(log.0.iter().any(|(_, node, _)| *node == crashed));
}

#[test]
fn messages_in_flight_to_a_node_die_with_its_process() {
    let mut sim = mesh(3, 2, LinkModel::fixed(50 * MS));
    // Node 1 pings at 10 ms; the message would land at 60 ms.
    sim.run_until(Instant::from_millis(11), &mut ());
    let two = sim.crash(NodeId(2)).expect("node 2 runs");
    sim.restart(NodeId(2), two);
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(61), &mut log);
    assert!(!log.0.iter().any(|(_, node, _)| *node == NodeId(2)));
}

#[test]
fn a_partition_stops_traffic_between_groups_until_healed() {
    let mut sim = mesh(5, 4, LinkModel::fixed(MS));
    let (left, right) = ([NodeId(1), NodeId(2)], [NodeId(3), NodeId(4)]);
    sim.network_mut().partition(&[&left, &right]);
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(500), &mut log);
    let crosses = |from: NodeId, to: NodeId| left.contains(&from) != left.contains(&to);
    assert!(
        !log.0
            .iter()
            .any(|(_, to, e)| matches!(e, Got::Ping { from, .. } if crosses(*from, *to)))
    );
    assert!(sim.stats().partitioned > 0);
    sim.network_mut().heal();
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(600), &mut log);
    assert!(
        log.0
            .iter()
            .any(|(_, to, e)| matches!(e, Got::Ping { from, .. } if crosses(*from, *to)))
    );
}

#[test]
fn a_one_way_partition_blocks_only_one_direction() {
    let mut sim = mesh(5, 2, LinkModel::fixed(MS));
    sim.network_mut().block_one_way(NodeId(1), NodeId(2));
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(200), &mut log);
    assert!(!log.0.iter().any(|(_, to, _)| *to == NodeId(2)));
    assert!(log.0.iter().any(|(_, to, _)| *to == NodeId(1)));
}

#[test]
fn reordering_lets_later_messages_overtake_earlier_ones() {
    let link = LinkModel::fixed(MS).with_reordering(0.5, 50 * MS);
    let mut sim = mesh(11, 2, link);
    let mut log = Log::default();
    sim.run_until(Instant::from_secs(1), &mut log);
    let seen: Vec<u64> = log
        .0
        .iter()
        .filter_map(|(_, to, e)| match e {
            Got::Ping { n, .. } if *to == NodeId(2) => Some(*n),
            _ => None,
        })
        .collect();
    assert!(
        seen.windows(2).any(|w| w[1] < w[0]),
        "never reordered: {seen:?}"
    );
}

#[test]
fn a_slow_node_fires_its_timers_late() {
    let mut sim = mesh(5, 2, LinkModel::fixed(MS));
    sim.network_mut().set_slow(NodeId(1), 7 * MS);
    sim.run_until(Instant::from_millis(9), &mut ());
    let mut log = Log::default();
    sim.run_until(Instant::from_millis(30), &mut log);
    // Node 2's first ping leaves on time (10 ms) and lands 1 + 7 ms later. Node 1's timer
    // queued before it turned slow fires at 10 ms; the next one, due at 20 ms, fires at 27.
    let got = |at, node, from, n| {
        (
            Instant::from_millis(at),
            NodeId(node),
            Got::Ping {
                from: NodeId(from),
                n,
            },
        )
    };
    assert!(log.0.contains(&got(18, 1, 2, 1)), "{:?}", log.0);
    assert!(log.0.contains(&got(28, 2, 1, 2)), "{:?}", log.0);
}

#[test]
fn traffic_counters_add_up_to_what_the_network_did() {
    let mut sim = mesh(9, 4, noisy());
    sim.run_until(Instant::from_secs(1), &mut ());
    let sent: u64 = sim.node_ids().map(|id| sim.traffic(id).messages_sent).sum();
    let received: u64 = sim
        .node_ids()
        .map(|id| sim.traffic(id).messages_received)
        .sum();
    let stats = sim.stats();
    assert_eq!(received, stats.delivered);
    let in_flight = sent + stats.duplicated
        - stats.lost
        - stats.partitioned
        - stats.delivered
        - stats.undeliverable;
    // Whatever was not delivered is still on the wire: at most a few periods' worth.
    assert!(in_flight < 4 * 3 * 10, "{stats:?}, sent {sent}");
    assert_eq!(
        sim.traffic(NodeId(1)).bytes_sent,
        8 * sim.traffic(NodeId(1)).messages_sent
    );
}
