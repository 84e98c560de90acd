//! The discrete-event loop: a virtual clock, one queue, one RNG.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use omnirelay_core::machine::WireMessage as _;
use omnirelay_core::{Instant, Machine, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::network::{Fate, NetworkModel};
use super::trace::TraceHasher;

/// A core machine as the simulator drives it: `Machine` plus local inputs that do not come
/// from the network (fsync completions, client proposals, operator commands).
pub trait SimMachine: Machine {
    /// A local input. Machines without any use `std::convert::Infallible`.
    type Local: Clone + Debug + Hash;

    /// A local input arrived at `now`.
    fn handle_local(&mut self, now: Instant, input: Self::Local);
}

/// Callbacks the simulation makes while it runs: where invariant checkers and workloads
/// live. Every method has a no-op default.
pub trait Observer<M: SimMachine> {
    /// `node` emitted `event` at `sim.now()`. The observer may act on the simulation:
    /// schedule local inputs (the way to drive a machine from here: they run in queue
    /// order and their outputs are observed), crash nodes, change the network.
    fn on_event(&mut self, sim: &mut Simulation<M>, node: NodeId, event: &M::Event) {
        let _ = (sim, node, event);
    }

    /// A message was handed to `to` at `now`.
    fn on_deliver(&mut self, now: Instant, from: NodeId, to: NodeId, msg: &M::Message) {
        let _ = (now, from, to, msg);
    }

    /// One queue entry was processed; `sim` is quiescent (all outputs drained).
    fn after_step(&mut self, sim: &Simulation<M>) {
        let _ = sim;
    }
}

/// An observer that observes nothing.
impl<M: SimMachine> Observer<M> for () {}

/// Counters of one node's traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeTraffic {
    /// Messages the node sent (including lost ones).
    pub messages_sent: u64,
    /// Bytes the node sent, by `WireMessage::wire_size`.
    pub bytes_sent: u64,
    /// Messages delivered to the node.
    pub messages_received: u64,
}

/// Counters of the whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Queue entries processed.
    pub steps: u64,
    /// Messages handed to a machine.
    pub delivered: u64,
    /// Messages dropped by link loss.
    pub lost: u64,
    /// Messages dropped by a cut link.
    pub partitioned: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Messages that found their target crashed, restarted, or unknown.
    pub undeliverable: u64,
}

enum Work<M: SimMachine> {
    Deliver {
        from: NodeId,
        to: NodeId,
        epoch: u32,
        msg: M::Message,
    },
    Timeout {
        node: NodeId,
        epoch: u32,
        generation: u64,
    },
    Local {
        node: NodeId,
        epoch: u32,
        input: M::Local,
    },
}

struct Scheduled<M: SimMachine> {
    at: Instant,
    seq: u64,
    work: Work<M>,
}

impl<M: SimMachine> PartialEq for Scheduled<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<M: SimMachine> Eq for Scheduled<M> {}
impl<M: SimMachine> PartialOrd for Scheduled<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M: SimMachine> Ord for Scheduled<M> {
    // (time, insertion number) is a total order: nothing else decides what runs first.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Slot<M> {
    machine: Option<M>,
    /// Bumped on every crash and restart: work addressed to an older epoch is dropped, as a
    /// restarted process never sees its predecessor's timers or connections.
    epoch: u32,
    /// The deadline currently queued for this node, and its generation.
    timer: Option<(Instant, u64)>,
    traffic: NodeTraffic,
}

/// Trace records: what was delivered or emitted, and what the harness did.
enum Record<'a, M: SimMachine> {
    Deliver(Instant, NodeId, NodeId, &'a M::Message),
    Event(Instant, NodeId, &'a M::Event),
    Local(Instant, NodeId, &'a M::Local),
    Crash(Instant, NodeId),
    Restart(Instant, NodeId),
}

// By hand: a derive would demand `M: Hash` of the machine itself.
impl<M: SimMachine> Hash for Record<'_, M> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            Record::Deliver(t, from, to, msg) => (0u8, t, from, to, msg).hash(h),
            Record::Event(t, node, event) => (1u8, t, node, event).hash(h),
            Record::Local(t, node, input) => (2u8, t, node, input).hash(h),
            Record::Crash(t, node) => (3u8, t, node).hash(h),
            Record::Restart(t, node) => (4u8, t, node).hash(h),
        }
    }
}

/// A deterministic simulation of machines of type `M` over a modelled network.
///
/// Call order inside: an entry is popped from the queue (ordered by time, then insertion),
/// the clock jumps to its time, the target machine handles it, then all of that machine's
/// transmits and events are drained, transmits are given a fate by the network model, events
/// are passed to the observer, and the machine's next deadline is queued.
pub struct Simulation<M: SimMachine> {
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled<M>>>,
    nodes: BTreeMap<NodeId, Slot<M>>,
    network: NetworkModel,
    rng: ChaCha8Rng,
    seed: u64,
    trace: TraceHasher,
    stats: RunStats,
    events: Vec<M::Event>,
}

impl<M: SimMachine> Debug for Simulation<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<M: SimMachine> Simulation<M> {
    /// A simulation at time zero whose every random choice comes from `seed`.
    pub fn new(seed: u64, network: NetworkModel) -> Self {
        Simulation {
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            network,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            trace: TraceHasher::default(),
            stats: RunStats::default(),
            events: Vec::new(),
        }
    }

    /// The seed this run was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The run's RNG, for workload and fault draws. Machines get their own seeds from it.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// The network model, to inspect.
    pub fn network(&self) -> &NetworkModel {
        &self.network
    }

    /// The network model, to change mid-run (partition, heal, loss ...).
    pub fn network_mut(&mut self) -> &mut NetworkModel {
        &mut self.network
    }

    /// Adds a running node. Replaces nothing: adding an existing id is a restart.
    pub fn add_node(&mut self, id: NodeId, machine: M) {
        if self.nodes.contains_key(&id) {
            self.restart(id, machine);
            return;
        }
        self.nodes.insert(
            id,
            Slot {
                machine: Some(machine),
                epoch: 0,
                timer: None,
                traffic: NodeTraffic::default(),
            },
        );
        self.arm_timer(id);
    }

    /// Every node id, running or crashed, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.keys().copied()
    }

    /// Whether `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|s| s.machine.is_some())
    }

    /// The machine of a running node.
    pub fn machine(&self, id: NodeId) -> Option<&M> {
        self.nodes.get(&id).and_then(|s| s.machine.as_ref())
    }

    /// The machine of a running node, to call its own API (`propose`, `leave` ...). Call
    /// [`Simulation::flush`] afterwards so that its outputs leave.
    pub fn machine_mut(&mut self, id: NodeId) -> Option<&mut M> {
        self.nodes.get_mut(&id).and_then(|s| s.machine.as_mut())
    }

    /// Every running machine, in id order.
    pub fn machines(&self) -> impl Iterator<Item = (NodeId, &M)> + '_ {
        self.nodes
            .iter()
            .filter_map(|(id, s)| s.machine.as_ref().map(|m| (*id, m)))
    }

    /// Traffic counters of one node.
    pub fn traffic(&self, id: NodeId) -> NodeTraffic {
        self.nodes.get(&id).map(|s| s.traffic).unwrap_or_default()
    }

    /// Counters of the whole run.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// The fingerprint of everything delivered and emitted so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.value()
    }

    /// The fingerprint as 16 hex digits.
    pub fn trace_hex(&self) -> String {
        self.trace.hex()
    }

    /// Crashes `id`: its machine is dropped (and returned), queued work for it is void.
    /// Messages it already sent stay on the wire.
    pub fn crash(&mut self, id: NodeId) -> Option<M> {
        let now = self.now;
        let slot = self.nodes.get_mut(&id)?;
        let machine = slot.machine.take()?;
        slot.epoch += 1;
        slot.timer = None;
        self.trace.record(&Record::<M>::Crash(now, id));
        Some(machine)
    }

    /// Starts `id` again with `machine`, which the caller rebuilt from whatever the node had
    /// persisted.
    pub fn restart(&mut self, id: NodeId, machine: M) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(&id) else {
            self.add_node(id, machine);
            return;
        };
        slot.machine = Some(machine);
        slot.epoch += 1;
        slot.timer = None;
        self.trace.record(&Record::<M>::Restart(now, id));
        self.arm_timer(id);
    }

    /// Queues a local input for `id` at `at` (not before now). Dropped if the node crashes
    /// first, as an fsync completion dies with its process.
    pub fn schedule_local(&mut self, at: Instant, id: NodeId, input: M::Local) {
        let Some(slot) = self.nodes.get(&id) else {
            return;
        };
        let epoch = slot.epoch;
        let at = at.max(self.now);
        self.push(
            at,
            Work::Local {
                node: id,
                epoch,
                input,
            },
        );
    }

    /// Drains the outputs of `id` after the caller drove it through `machine_mut`.
    pub fn flush(&mut self, id: NodeId, observer: &mut impl Observer<M>) {
        self.drain(id, observer);
    }

    /// Processes queue entries up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant, observer: &mut impl Observer<M>) {
        while self
            .queue
            .peek()
            .is_some_and(|Reverse(head)| head.at <= until)
        {
            self.step(observer);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration, observer: &mut impl Observer<M>) {
        let until = self.now + d;
        self.run_until(until, observer);
    }

    /// Processes the next queue entry. Returns false when the queue is empty.
    pub fn step(&mut self, observer: &mut impl Observer<M>) -> bool {
        let Some(Reverse(next)) = self.queue.pop() else {
            return false;
        };
        self.now = next.at;
        self.stats.steps += 1;
        let now = self.now;
        let touched = match next.work {
            Work::Deliver {
                from,
                to,
                epoch,
                msg,
            } => {
                let Some(slot) = Self::live(&mut self.nodes, to, epoch) else {
                    self.stats.undeliverable += 1;
                    return true;
                };
                self.trace
                    .record(&Record::<M>::Deliver(now, from, to, &msg));
                observer.on_deliver(now, from, to, &msg);
                slot.traffic.messages_received += 1;
                if let Some(machine) = slot.machine.as_mut() {
                    machine.handle_message(now, from, msg);
                }
                self.stats.delivered += 1;
                to
            }
            Work::Timeout {
                node,
                epoch,
                generation,
            } => {
                let current = self
                    .nodes
                    .get(&node)
                    .and_then(|s| s.timer)
                    .is_some_and(|(_, g)| g == generation);
                if !current {
                    return true;
                }
                let Some(slot) = Self::live(&mut self.nodes, node, epoch) else {
                    return true;
                };
                slot.timer = None;
                if let Some(machine) = slot.machine.as_mut() {
                    machine.handle_timeout(now);
                }
                node
            }
            Work::Local { node, epoch, input } => {
                let Some(slot) = Self::live(&mut self.nodes, node, epoch) else {
                    return true;
                };
                self.trace.record(&Record::<M>::Local(now, node, &input));
                if let Some(machine) = slot.machine.as_mut() {
                    machine.handle_local(now, input);
                }
                node
            }
        };
        self.drain(touched, observer);
        observer.after_step(self);
        true
    }

    /// The slot of `id` if it still runs the epoch that work was queued for. An associated
    /// function so that callers can borrow other fields (the trace) at the same time.
    fn live(nodes: &mut BTreeMap<NodeId, Slot<M>>, id: NodeId, epoch: u32) -> Option<&mut Slot<M>> {
        let slot = nodes.get_mut(&id)?;
        (slot.epoch == epoch && slot.machine.is_some()).then_some(slot)
    }

    fn push(&mut self, at: Instant, work: Work<M>) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            work,
        }));
    }

    /// Sends everything `id` wants to send, hands its events to the observer, and queues its
    /// next deadline.
    fn drain(&mut self, id: NodeId, observer: &mut impl Observer<M>) {
        let now = self.now;
        let mut events = std::mem::take(&mut self.events);
        while let Some(slot) = self.nodes.get_mut(&id) {
            let Some(machine) = slot.machine.as_mut() else {
                break;
            };
            let Some(transmit) = machine.poll_transmit() else {
                while let Some(event) = machine.poll_event() {
                    events.push(event);
                }
                break;
            };
            slot.traffic.messages_sent += 1;
            slot.traffic.bytes_sent += transmit.msg.wire_size() as u64;
            self.send(id, transmit.to, transmit.msg);
        }
        for event in events.drain(..) {
            self.trace.record(&Record::<M>::Event(now, id, &event));
            observer.on_event(self, id, &event);
        }
        self.events = events;
        self.arm_timer(id);
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: M::Message) {
        let Some(epoch) = self.nodes.get(&to).map(|s| s.epoch) else {
            self.stats.undeliverable += 1;
            return;
        };
        match self.network.fate(from, to, &mut self.rng) {
            Fate::Lost => self.stats.lost += 1,
            Fate::Partitioned => self.stats.partitioned += 1,
            Fate::Deliver(first, second) => {
                if let Some(again) = second {
                    self.stats.duplicated += 1;
                    let copy = msg.clone();
                    self.push(
                        self.now + again,
                        Work::Deliver {
                            from,
                            to,
                            epoch,
                            msg: copy,
                        },
                    );
                }
                self.push(
                    self.now + first,
                    Work::Deliver {
                        from,
                        to,
                        epoch,
                        msg,
                    },
                );
            }
        }
    }

    fn arm_timer(&mut self, id: NodeId) {
        let slow = self.network.slowness(id);
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(machine) = slot.machine.as_ref() else {
            return;
        };
        let Some(deadline) = machine.poll_timeout() else {
            slot.timer = None;
            return;
        };
        let at = deadline.max(now) + slow;
        if slot.timer.is_some_and(|(queued, _)| queued == at) {
            return;
        }
        let generation = self.seq + 1;
        slot.timer = Some((at, generation));
        let epoch = slot.epoch;
        self.push(
            at,
            Work::Timeout {
                node: id,
                epoch,
                generation,
            },
        );
    }
}
