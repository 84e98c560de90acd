//! The real io node under turmoil (issue #8): every node of a scenario is a turmoil host
//! running the shipped `NodeRuntime` and client API; the client writes through gRPC.

use std::path::Path;
use std::time::Duration;

use omnirelay_sim::chaos::runner::{RunOptions, run_seed_with};
use omnirelay_sim::chaos::scenario::Scenario;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smoke_region_kill() {
    let s = scenario("region-kill");
    let opts = RunOptions {
        tick: Duration::from_millis(1),
        time_scale: 0.5,
        rate_scale: 0.2,
    };
    let t = std::time::Instant::now();
    let out = run_seed_with(&s, 1, opts).unwrap();
    eprintln!(
        "real {:?} simulated {} hash {}",
        t.elapsed(),
        out.simulated_s,
        out.trace_hash
    );
    eprintln!("violations {:#?}", out.violations);
    eprintln!("slo {:?}", out.slo_samples);
    eprintln!("counters {:?}", out.counters);
    for r in out.trace.iter().filter(|r| r.source != "client").take(200) {
        eprintln!("{:.3} {} {}", r.at_ns as f64 / 1e9, r.source, r.what);
    }
}
