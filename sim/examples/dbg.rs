use omnirelay_core::node::{Group, NodeEvent};
use omnirelay_sim::mesh::participant::MeshEvent;
use omnirelay_sim::mesh::{run, scenario};
use omnirelay_sim::model::{Observer, Simulation};
use omnirelay_sim::mesh::participant::Participant;
use omnirelay_core::NodeId;
struct P;
impl Observer<Participant> for P {
    fn on_event(&mut self, sim: &mut Simulation<Participant>, node: NodeId, e: &MeshEvent) {
        match e {
            MeshEvent::Node(NodeEvent::Audit(a)) => println!("{:.3} {node} audit {} {:?}->{:?} {}", sim.now().as_secs_f64(), a.failover, a.from, a.to, a.reason),
            MeshEvent::Node(NodeEvent::Leadership{group: Group::Control, change}) => println!("{:.3} {node} control leader {} {}", sim.now().as_secs_f64(), change.leader, change.term),
            _ => {}
        }
    }
}
fn main() {
    let name = std::env::args().nth(1).unwrap();
    let seed: u64 = std::env::args().nth(2).unwrap().parse().unwrap();
    let sc = scenario::named(&name).unwrap();
    let _ = run::run_observed(&sc, seed, &mut P);
}
