//! One boot of a node's turmoil host: the shipped node runtime over turmoil's network and
//! the node's simulated disks (held by the run, so a restart reopens what the last crash
//! left durable), its client API, and a listener that records its leadership notices.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use omnirelay_core::node::Group;
use omnirelay_io::api::ClientApi;
use omnirelay_io::node::{LeadershipChangeKind, NodeRuntime, RuntimeOptions, WriterMode};
use omnirelay_io::storage::SimDisk;
use omnirelay_io::transport::Network;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checker::LeaderRecord;
use super::deployment::{Deployment, HTTP_PORT};
use super::harness::{EPOCH_UNIX_SECONDS, sim_now};
use super::net::TurmoilNetwork;
use super::runner::{RunState, lock};
use super::timeline::LeaderChange;

/// One boot of a node's host: its disks as the last crash left them, the node runtime,
/// its client API, and a listener for its leadership notices.
pub(crate) async fn boot(
    run: Arc<RunState>,
    deployment: Arc<Deployment>,
    host: String,
    seed: u64,
) -> turmoil::Result {
    let node = deployment
        .node(&host)
        .ok_or_else(|| format!("no node {host} in the deployment"))?;
    let boot = {
        let mut boots = lock(&run.boots);
        let n = boots.entry(host.clone()).or_default();
        *n += 1;
        *n
    };
    let elapsed = sim_now().unwrap_or_default();
    let anchor = EPOCH_UNIX_SECONDS
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    let fatal_run = Arc::clone(&run);
    let fatal_host = host.clone();
    let options = RuntimeOptions {
        seed: Some(seed ^ node.id.0.rotate_left(17) ^ boot.rotate_left(40)),
        writer: WriterMode::Task,
        clock_anchor_unix_nanos: Some(anchor),
        on_fatal: Arc::new(move |group, error| {
            fatal_run.trace.record(
                &fatal_host,
                format!("fatal storage error in {group:?} log: {error}"),
            );
            lock(&fatal_run.fatal).push(fatal_host.clone());
        }),
        fsync_delay: Some({
            let run = Arc::clone(&run);
            let host = host.clone();
            Arc::new(move |_| {
                lock(&run.slow_disks)
                    .get(&host)
                    .copied()
                    .unwrap_or_default()
            })
        }),
        ..RuntimeOptions::default()
    };
    let disk_run = Arc::clone(&run);
    let disk_host = host.clone();
    let disk_seed = seed ^ node.id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let open_disk = move |group: Group, dir: &std::path::Path| {
        let mut disks = lock(&disk_run.disks);
        let disk = disks.entry((disk_host.clone(), group)).or_insert_with(|| {
            let salt = match group {
                Group::Cluster => 1,
                Group::Control => 2,
            };
            SimDisk::new(dir, ChaCha8Rng::seed_from_u64(disk_seed ^ salt))
        });
        Ok::<_, omnirelay_io::storage::DiskError>(disk.clone())
    };
    let runtime = match NodeRuntime::start_with_disks(
        TurmoilNetwork,
        node.loaded.clone(),
        options,
        open_disk,
    )
    .await
    {
        Ok(runtime) => runtime,
        Err(e) => {
            // A node that cannot recover stays down, as a real one would, and says why.
            run.trace.record(&host, format!("did not start: {e}"));
            std::future::pending::<()>().await;
            return Ok(());
        }
    };
    run.trace.record(&host, format!("started (boot {boot})"));
    let handle = runtime.handle();
    lock(&run.handles).insert(host.clone(), handle.clone());

    let mut notices = handle.leadership_events();
    let watch_run = Arc::clone(&run);
    let cluster = node.cluster.clone();
    let names: BTreeMap<u64, String> = deployment
        .nodes
        .iter()
        .map(|n| (n.id.0, n.host.clone()))
        .collect();
    let me = host.clone();
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            let at = sim_now().unwrap_or_default();
            let group = match notice.group {
                Group::Cluster => cluster.clone().unwrap_or_else(|| "witness".into()),
                Group::Control => "control".into(),
            };
            match notice.change {
                LeadershipChangeKind::Elected { leader, term, .. } => {
                    let leader = names
                        .get(&leader.0)
                        .cloned()
                        .unwrap_or_else(|| leader.to_string());
                    lock(&watch_run.leaders).push(LeaderRecord {
                        at,
                        group: group.clone(),
                        term: term.0,
                        leader: leader.clone(),
                    });
                    if leader == me {
                        watch_run
                            .trace
                            .record(&me, format!("leads {group} in term {}", term.0));
                        if notice.group == Group::Cluster {
                            lock(&watch_run.leader_changes).push(LeaderChange {
                                at_s: at.as_secs_f64(),
                                cluster: group,
                                leader,
                            });
                        }
                    }
                }
                LeadershipChangeKind::SteppedDown { term, reason } => {
                    watch_run.trace.record(
                        &me,
                        format!("stepped down from {group} term {}: {reason:?}", term.0),
                    );
                }
                LeadershipChangeKind::SplitBrain {
                    term,
                    first,
                    second,
                } => {
                    let what = format!("{group} term {}: {first} and {second}", term.0);
                    watch_run.trace.record(&me, format!("split brain {what}"));
                    lock(&watch_run.split_brains).push(what);
                }
            }
        }
    });

    if node.cluster.is_some() {
        let api = ClientApi::new_on(
            TurmoilNetwork,
            handle,
            &node.loaded.config,
            &node.loaded.tls,
        )?;
        let listener = TurmoilNetwork
            .bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, HTTP_PORT)))
            .await?;
        tokio::spawn(api.serve_on(TurmoilNetwork, listener, std::future::pending()));
    }
    // The host runs until turmoil crashes it; the runtime lives as long as the host.
    std::future::pending::<()>().await;
    drop(runtime);
    Ok(())
}
