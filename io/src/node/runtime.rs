//! Starting and stopping a node: logs, machine, writers, peer transport, driver.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use omnirelay_core::NodeId;
use omnirelay_core::node::{Group, Node, NodeError, Restored};
use omnirelay_proto::v1::node_transport_server::NodeTransportServer;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::clock::NodeClock;
use super::driver::{Driver, GroupWriter};
use super::group_log::{self, FsyncDelay, OnFatal, RestoreError, WriterJoin, WriterMode};
use super::handle::NodeHandle;
use super::peer::{DEFAULT_PEER_QUEUE, PeerOutbox, TransportService};
use crate::config::{ConfigError, LoadedConfig};
use crate::storage::{Disk, DiskError, DiskOp, FsDisk, RecoveryReport, StorageError};
use crate::transport::{
    ClientSettings, Dialer, MeshListener, MeshRoutes, Network, ServerSettings, TokioNetwork,
    TransportError,
};

/// Why a node did not start. Nothing keeps running when this is returned (logs opened so
/// far are closed; nothing was acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot run a node (names the key).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A log could not be opened or read back.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The core refused to build the node from its configuration and logs.
    #[error("node: {0}")]
    Node(#[from] NodeError),
    /// The peer listener could not be bound, or the TLS material is unusable.
    #[error("peer transport: {0}")]
    Transport(#[from] TransportError),
}

/// Knobs of the runtime that are not in the configuration file.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Seed of the core machine's random choices (`None`: from the clock and node id).
    pub seed: Option<u64>,
    /// Envelopes queued per peer before the oldest are dropped.
    pub peer_queue: usize,
    /// API commands queued before callers wait.
    pub command_queue: usize,
    /// Inbound peer messages queued before the transport applies backpressure.
    pub inbound_queue: usize,
    /// What a log writer does when the disk fails (default: log and exit the process).
    pub on_fatal: OnFatal,
    /// Where the log writers run (default: a thread per group).
    pub writer: WriterMode,
    /// The node clock's reading at start, in Unix nanoseconds (default: the wall clock).
    /// A simulator pins it, since its clock is not the process's.
    pub clock_anchor_unix_nanos: Option<u64>,
    /// Events a cluster leader streams ahead of a target's acknowledgement, per origin
    /// (default: the core's `NodeLimits::stream_window`). The core refills streams once per
    /// tick, so this over the tick bounds replication throughput.
    pub stream_window: Option<u64>,
    /// Latency added to each group commit of a task writer (a simulated slow disk).
    pub fsync_delay: Option<FsyncDelay>,
}

impl std::fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field("seed", &self.seed)
            .field("peer_queue", &self.peer_queue)
            .field("stream_window", &self.stream_window)
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            seed: None,
            peer_queue: DEFAULT_PEER_QUEUE,
            command_queue: 4096,
            inbound_queue: 8192,
            on_fatal: group_log::exit_on_fatal(),
            writer: WriterMode::Thread,
            clock_anchor_unix_nanos: None,
            stream_window: None,
            fsync_delay: None,
        }
    }
}

/// A running node: its driver task, its log writers and its peer listener.
///
/// Start it with [`NodeRuntime::start`], hand [`NodeRuntime::handle`] to the client and
/// control APIs (which serve `listen.http` / `listen.control` themselves), and end it with
/// [`NodeRuntime::shutdown`], which stops the driver, flushes and fsyncs both logs and
/// closes the listener.
#[derive(Debug)]
pub struct NodeRuntime {
    handle: NodeHandle,
    grpc_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    driver: JoinHandle<Node>,
    server: JoinHandle<Result<(), TransportError>>,
    writers: Vec<WriterJoin>,
    recovery: Vec<(Group, RecoveryReport)>,
}

impl NodeRuntime {
    /// Starts the node of `loaded` on tokio's sockets.
    pub async fn start(loaded: LoadedConfig) -> Result<NodeRuntime, StartError> {
        NodeRuntime::start_on(TokioNetwork, loaded, RuntimeOptions::default()).await
    }

    /// Starts the node of `loaded` on `network` with `options`, its logs in real
    /// directories under `node.data_dir`.
    pub async fn start_on<N: Network>(
        network: N,
        loaded: LoadedConfig,
        options: RuntimeOptions,
    ) -> Result<NodeRuntime, StartError> {
        NodeRuntime::start_with_disks(network, loaded, options, |_, dir| FsDisk::new(dir)).await
    }

    /// Starts the node with each group's log on the disk `open_disk` returns for it (the
    /// chaos simulator passes `SimDisk`s; `dir` is `data_dir/cluster` or `data_dir/control`).
    pub async fn start_with_disks<N, D, F>(
        network: N,
        loaded: LoadedConfig,
        options: RuntimeOptions,
        mut open_disk: F,
    ) -> Result<NodeRuntime, StartError>
    where
        N: Network,
        D: Disk + Send + 'static,
        F: FnMut(Group, &Path) -> Result<D, DiskError>,
    {
        let LoadedConfig { config, tls } = loaded;
        let mut core = config.core_config()?;
        if let Some(window) = options.stream_window {
            core.limits.stream_window = window.max(1);
        }
        let id = core.id;
        let mesh = config
            .mesh
            .as_ref()
            .ok_or_else(|| ConfigError::Missing { key: "mesh".into() })?;
        let topology = Arc::clone(&core.topology);
        let is_control_voter = topology.is_control_voter(id);
        let has_cluster = topology.cluster_of(id).is_some();

        // Logs first: a node that cannot read its past must not say anything to anyone.
        let (persisted_tx, persisted_rx) = mpsc::unbounded_channel();
        let mut restored = Restored::default();
        let mut writers = BTreeMap::new();
        let mut threads = Vec::new();
        let mut recovery = Vec::new();
        let groups = [
            (Group::Cluster, "cluster", has_cluster),
            (Group::Control, "control", is_control_voter),
        ];
        for (group, dir_name, wanted) in groups {
            if !wanted {
                continue;
            }
            let dir: PathBuf = config.node.data_dir.join(dir_name);
            let disk = open_disk(group, &dir).map_err(|e: DiskError| RestoreError::Storage {
                group,
                dir: dir.clone(),
                source: StorageError::disk(DiskOp::Write, dir.clone(), e),
            })?;
            let opened = group_log::open(group, &dir, disk, config.storage)?;
            match group {
                Group::Cluster => restored.cluster = opened.state,
                Group::Control => restored.control = opened.state,
            }
            recovery.push((group, opened.report));
            let position = Arc::new(Mutex::new(opened.position));
            let (requests, thread) = group_log::spawn_writer(
                group,
                opened.wal,
                Arc::clone(&position),
                persisted_tx.clone(),
                Arc::clone(&options.on_fatal),
                options.writer,
                options.fsync_delay.clone(),
            );
            threads.push(thread);
            writers.insert(group, GroupWriter { requests, position });
        }
        drop(persisted_tx);

        let clock = options
            .clock_anchor_unix_nanos
            .map_or_else(NodeClock::from_wall_clock, NodeClock::anchored);
        let seed = options
            .seed
            .unwrap_or_else(|| clock.unix_nanos() ^ id.0.rotate_left(32));
        let node = Node::new(core, restored, seed, clock.now())?;

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (inbound_tx, inbound_rx) = mpsc::channel(options.inbound_queue.max(1));
        let listener = MeshListener::bind(
            network.clone(),
            config.listen.grpc,
            &tls,
            ServerSettings::default(),
        )
        .await?;
        let grpc_addr = listener.local_addr();
        let service = NodeTransportServer::new(TransportService::new(id, inbound_tx))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let mut server_shutdown = shutdown_rx.clone();
        let server = tokio::spawn(listener.serve(
            MeshRoutes::new().add_service(service),
            async move {
                let _ = server_shutdown.wait_for(|stop| *stop).await;
            },
        ));

        let dialer = Arc::new(Dialer::new(network, &tls, ClientSettings::default())?);
        let addresses: BTreeMap<NodeId, String> = mesh
            .peer_addresses()
            .into_iter()
            .map(|(id, address)| (id, address.to_string()))
            .collect();
        let outbox = PeerOutbox::start(
            id,
            &addresses,
            dialer,
            options.peer_queue,
            shutdown_rx.clone(),
        );

        let (commands_tx, commands_rx) = mpsc::channel(options.command_queue.max(1));
        let (registry_tx, registry_rx) = watch::channel(Arc::clone(node.registry()));
        let (applied_tx, applied_rx) =
            watch::channel(node.data().map(|d| d.vv().clone()).unwrap_or_default());
        let (leadership_tx, _) = broadcast::channel(256);
        let (audit_tx, _) = broadcast::channel(256);
        let handle = NodeHandle {
            id,
            cluster: node.cluster().cloned(),
            commands: commands_tx,
            registry: registry_rx,
            applied: applied_rx,
            leadership: leadership_tx.clone(),
            audit: audit_tx.clone(),
        };
        let driver = Driver::new(
            node,
            clock,
            commands_rx,
            inbound_rx,
            persisted_rx,
            writers,
            outbox,
            registry_tx,
            applied_tx,
            leadership_tx,
            audit_tx,
            shutdown_rx,
        );
        tracing::info!(node = %id, grpc = %grpc_addr, "node started");
        Ok(NodeRuntime {
            handle,
            grpc_addr,
            shutdown: shutdown_tx,
            driver: tokio::spawn(driver.run()),
            server,
            writers: threads,
            recovery,
        })
    }

    /// The API of this node (cheap to clone).
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// The address the peer transport listens on (resolves port 0).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// What opening each log found and repaired (a torn tail cut off, leftovers removed).
    pub fn recovery(&self) -> &[(Group, RecoveryReport)] {
        &self.recovery
    }

    /// Stops the node abruptly, as near to `kill -9` as a process can do to itself: the
    /// driver is aborted with whatever it held and task writers stop where they are (a
    /// thread writer finishes the batch it holds). Nothing is flushed on purpose; for tests
    /// and simulators, which then crash the disks underneath. The listener still closes
    /// its port, so the node can be started again at the same address.
    pub async fn kill(self) {
        let _ = self.shutdown.send(true);
        self.driver.abort();
        for w in self.writers {
            if let WriterJoin::Task(task) = w {
                task.abort();
                let _ = task.await;
            }
        }
        let _ = self.driver.await;
        let _ = self.server.await;
    }

    /// Stops the node: the driver ends (pending API calls get `NodeStopped`), both logs
    /// flush what was queued and fsync, the listener closes. Returns when all of that is
    /// done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let node = self.driver.await;
        // The driver (and with it every writer's sender) is gone: writers drain and exit.
        drop(node);
        let writers = self.writers;
        for w in writers {
            match w {
                WriterJoin::Thread(thread) => {
                    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
                }
                WriterJoin::Task(task) => {
                    let _ = task.await;
                }
            }
        }
        if let Ok(Err(e)) = self.server.await {
            tracing::warn!(error = %e, "peer listener ended with an error");
        }
        tracing::info!("node stopped");
    }
}
