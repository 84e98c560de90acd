//! Where each node and cluster serves its client API, from `[mesh]`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use omnirelay_core::registry::Registry;
use omnirelay_core::{ClusterId, NodeId};

use crate::config::MeshSettings;

/// The client endpoints of the mesh: each node's `http` address (to forward a write to its
/// cluster's leader) and each cluster's, for redirects.
#[derive(Debug, Default)]
pub struct EndpointDirectory {
    nodes: BTreeMap<NodeId, String>,
    /// Spreads redirects over a cluster's nodes, so one dead node does not catch them all.
    next: AtomicUsize,
}

impl EndpointDirectory {
    /// The directory of `mesh`.
    pub fn new(mesh: &MeshSettings) -> EndpointDirectory {
        EndpointDirectory {
            nodes: mesh
                .clusters
                .iter()
                .flat_map(|c| c.nodes.iter().map(|n| (n.id, n.http.to_string())))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Node `id`'s client API as `host:port`.
    pub fn node(&self, id: NodeId) -> Option<&str> {
        self.nodes.get(&id).map(String::as_str)
    }

    /// One client endpoint of `cluster` as the registry lists them, as `https://host:port`
    /// (the API is served over TLS only); successive calls take the next one.
    pub fn cluster_endpoint(&self, registry: &Registry, cluster: &ClusterId) -> Option<String> {
        let endpoints = &registry.cluster(cluster)?.value.endpoints;
        self.pick(endpoints)
    }

    /// One of `endpoints` (as the registry or a redirect lists them) as `https://host:port`.
    pub fn pick(&self, endpoints: &[String]) -> Option<String> {
        if endpoints.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len();
        endpoints.get(i).map(|e| https(e))
    }
}

/// `endpoint` (`http://host:port`, `https://host:port` or `host:port`) as `https://host:port`.
pub fn https(endpoint: &str) -> String {
    let host_port = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    format!("https://{host_port}")
}
