//! A scenario's fault schedule injected into turmoil (`sim::chaos::faults`), observed by a
//! client calling a server over the real mesh transport across the faulted link.

mod chaos_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos_support::{EchoGossip, PORT, envelope, material, node, serve_gossip};
use omnirelay_io::tls::MeshCa;
use omnirelay_io::transport::{ClientSettings, Dialer};
use omnirelay_proto::v1::gossip_client::GossipClient;
use omnirelay_sim::chaos::faults::FaultSchedule;
use omnirelay_sim::chaos::harness::{SimSettings, TraceRecorder};
use omnirelay_sim::chaos::net::TurmoilNetwork;
use omnirelay_sim::chaos::scenario::{Fault, Scenario};

const SCENARIO: &str = r#"
name = "two-regions"
duration_s = 30

[topology]
rtt_inside_ms = 1
rtt_between_ms = 50

[[topology.clusters]]
id = "east"
nodes = 1

[[topology.clusters]]
id = "west"
nodes = 1

[workload]
writes_per_s = 2
namespaces = ["orders"]
payload_bytes = 64

[[faults]]
at_s = 3
kind = "partition"
a = "east"
b = "west"

[[faults]]
at_s = 6
kind = "heal"

[[faults]]
at_s = 12
kind = "region_kill"
cluster = "east"

[[faults]]
at_s = 15
kind = "region_restart"
cluster = "east"

[[faults]]
at_s = 22
kind = "failover"
namespace = "orders"
to = "west"
mode = "planned"
"#;

/// A client call: simulated start, simulated duration, success.
#[derive(Clone, Copy, Debug)]
struct Call {
    start: Duration,
    took: Duration,
    ok: bool,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs the scenario with `seed`; returns the client's calls and what the schedule handed
/// back for the node.
fn run(seed: u64) -> (Vec<Call>, Vec<Fault>, TraceRecorder) {
    run_scenario(SCENARIO, seed)
}

/// [`run`] with another scenario text.
fn run_scenario(text: &str, seed: u64) -> (Vec<Call>, Vec<Fault>, TraceRecorder) {
    let scenario = Scenario::parse(text, Path::new("two-regions.toml")).unwrap();
    let ca = MeshCa::generate("chaos-faults").unwrap();
    let server = material(&ca, &node(1, "east"), "east-1");
    let client = material(&ca, &node(2, "west"), "west-1");
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let log = calls.clone();

    let mut settings = SimSettings::new(seed);
    settings.duration = secs(40.0);
    let mut sim = settings.build();
    let gossip = EchoGossip::default();
    sim.host("east-1", move || {
        serve_gossip(server.clone(), gossip.clone(), None)
    });
    sim.client("west-1", async move {
        let dialer = Dialer::new(TurmoilNetwork, &client, ClientSettings::default())?;
        let mut gossip = GossipClient::new(dialer.connect_lazy(&format!("east-1:{PORT}"))?);
        // A call every 250 ms until 26 s, each given 1 s.
        let mut n = 0;
        while turmoil::sim_elapsed().unwrap_or_default() < secs(26.0) {
            let start = turmoil::sim_elapsed().unwrap_or_default();
            let reply = tokio::time::timeout(secs(1.0), gossip.exchange(envelope(n))).await;
            let took = turmoil::sim_elapsed().unwrap_or_default() - start;
            log.lock().unwrap().push(Call {
                start,
                took,
                ok: matches!(reply, Ok(Ok(_))),
            });
            n += 1;
            tokio::time::sleep(secs(0.25)).await;
        }
        Ok(())
    });

    let trace = TraceRecorder::new();
    let mut schedule = FaultSchedule::new(&scenario);
    schedule.set_link_latencies(&sim, &scenario);
    let mut for_the_node = Vec::new();
    loop {
        let now = sim.elapsed();
        for_the_node.extend(schedule.handle_due(&mut sim, now, &trace));
        if sim.step().unwrap() {
            break;
        }
    }
    let calls = calls.lock().unwrap().clone();
    (calls, for_the_node, trace)
}

fn ok_between(calls: &[Call], from: f64, to: f64) -> Vec<bool> {
    calls
        .iter()
        .filter(|c| c.start >= secs(from) && c.start + c.took <= secs(to))
        .map(|c| c.ok)
        .collect()
}

#[test]
fn scheduled_partition_and_region_kill_stop_calls_and_heal_and_restart_bring_them_back() {
    let (calls, _, _) = run(11);
    let before = ok_between(&calls, 0.0, 3.0);
    assert!(
        !before.is_empty() && before.iter().all(|ok| *ok),
        "healthy at first: {calls:?}"
    );
    let cut = ok_between(&calls, 3.0, 6.0);
    assert!(
        !cut.is_empty() && cut.iter().all(|ok| !ok),
        "nothing crosses the partition"
    );
    assert!(
        ok_between(&calls, 6.0, 12.0).contains(&true),
        "calls succeed again after the heal: {calls:?}"
    );
    let down = ok_between(&calls, 12.0, 15.0);
    assert!(
        !down.is_empty() && down.iter().all(|ok| !ok),
        "nothing reaches a killed region"
    );
    assert!(
        ok_between(&calls, 15.0, 26.0).contains(&true),
        "the restarted region serves again: {calls:?}"
    );
}

#[test]
fn a_node_restarted_inside_a_partition_stays_cut_off_until_the_heal() {
    // east-1 crashes at 4 s and restarts at 5 s while east | west is cut (3 s to 8 s).
    let text = SCENARIO.replace(
        "[[faults]]\nat_s = 6\nkind = \"heal\"",
        "[[faults]]\nat_s = 4\nkind = \"crash\"\nnode = \"east-1\"\n\n\
         [[faults]]\nat_s = 5\nkind = \"restart\"\nnode = \"east-1\"\n\n\
         [[faults]]\nat_s = 8\nkind = \"heal\"",
    );
    assert_ne!(text, SCENARIO);
    let (calls, _, _) = run_scenario(&text, 14);
    let cut = ok_between(&calls, 3.0, 8.0);
    assert!(
        !cut.is_empty() && cut.iter().all(|ok| !ok),
        "the restart does not lift the partition: {calls:?}"
    );
    assert!(
        ok_between(&calls, 8.0, 12.0).contains(&true),
        "the heal does: {calls:?}"
    );
}

#[test]
fn topology_round_trip_time_is_applied_to_the_link() {
    let (calls, _, _) = run(12);
    // One unary call on an open connection is one round trip between the regions.
    let fastest = calls.iter().filter(|c| c.ok).map(|c| c.took).min().unwrap();
    println!("fastest successful call: {fastest:?}");
    assert!(fastest >= secs(0.050), "50 ms between regions: {fastest:?}");
}

#[test]
fn node_level_steps_are_handed_back_in_order_and_network_ones_are_not() {
    let (_, for_the_node, trace) = run(13);
    assert_eq!(for_the_node.len(), 1);
    assert!(matches!(&for_the_node[0], Fault::Failover { namespace, .. } if namespace == "orders"));
    // Every step was recorded, at its time.
    let steps: Vec<_> = trace
        .records()
        .into_iter()
        .filter(|r| r.source == "sim")
        .collect();
    assert_eq!(steps.len(), 5);
    assert!(
        steps
            .iter()
            .zip([3.0, 6.0, 12.0, 15.0, 22.0])
            .all(|(r, at)| {
                let at = secs(at);
                let recorded = Duration::from_nanos(r.at_ns);
                recorded >= at && recorded < at + secs(0.002)
            })
    );
}

#[test]
fn a_held_link_delivers_its_backlog_on_release() {
    let text = SCENARIO.replace(
        "[[faults]]\nat_s = 3\nkind = \"partition\"\na = \"east\"\nb = \"west\"",
        "[[faults]]\nat_s = 3\nkind = \"hold_link\"\na = \"east\"\nb = \"west\"\nfor_s = 0.6",
    );
    assert_ne!(text, SCENARIO);
    let scenario = Scenario::parse(&text, Path::new("held.toml")).unwrap();
    let mut sim = SimSettings::new(5).build();
    let arrived: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let log = arrived.clone();
    sim.host("east-1", move || {
        let log = log.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
            let (mut stream, _) = listener.accept().await?;
            let mut byte = [0u8; 1];
            while tokio::io::AsyncReadExt::read_exact(&mut stream, &mut byte)
                .await
                .is_ok()
            {
                log.lock()
                    .unwrap()
                    .push(turmoil::sim_elapsed().unwrap_or_default());
            }
            Ok(())
        }
    });
    sim.client("west-1", async move {
        let mut stream = turmoil::net::TcpStream::connect(("east-1", PORT)).await?;
        // One byte every 100 ms from 2.5 s to 4.5 s, across the hold (3 s to 3.6 s).
        tokio::time::sleep(secs(2.5)).await;
        for _ in 0..20 {
            tokio::io::AsyncWriteExt::write_all(&mut stream, &[1]).await?;
            tokio::time::sleep(secs(0.1)).await;
        }
        tokio::time::sleep(secs(1.0)).await;
        Ok(())
    });
    let trace = TraceRecorder::new();
    let mut schedule = FaultSchedule::new(&scenario);
    while !sim.step().unwrap() {
        let now = sim.elapsed();
        let _ = schedule.handle_due(&mut sim, now, &trace);
        if now > secs(8.0) {
            break;
        }
    }
    let arrived = arrived.lock().unwrap().clone();
    assert_eq!(arrived.len(), 20, "nothing held is lost");
    let during = arrived
        .iter()
        .filter(|t| **t > secs(3.1) && **t < secs(3.6))
        .count();
    assert_eq!(
        during, 0,
        "nothing arrives while the link is held: {arrived:?}"
    );
    let burst = arrived
        .iter()
        .filter(|t| **t >= secs(3.6) && **t < secs(3.61))
        .count();
    assert!(
        burst >= 5,
        "the backlog arrives as one burst at release: {arrived:?}"
    );
}
