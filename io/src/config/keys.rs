//! Every key the file may hold, with the kind of value it takes. One list serves three
//! purposes: refusing unknown keys (all of them, not just the first), splitting
//! `OMNIRELAY_<SECTION>_<KEY>` at the right underscore, and typing an environment value.

use toml::{Table, Value};

use super::error::ConfigError;

/// The kind of value a key takes, for reading it from an environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string (names, addresses, paths, enumerations).
    Text,
    /// A non-negative integer (counts, sizes, durations in the unit of the key's suffix).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A node id, `n7` or `7`.
    NodeId,
    /// A list of strings; from the environment, comma-separated.
    TextList,
    /// `consensus.voters`; from the environment, `n1=host:port,n2=host:port`.
    Voters,
    /// A list of node ids; from the environment, comma-separated.
    NodeIdList,
    /// `mesh.witnesses`; from the environment, `w1=host:port,w2=host:port`.
    Witnesses,
    /// `mesh.namespaces`; from the environment, `orders=us-east,billing=eu-west`.
    Namespaces,
    /// `mesh.clusters`: nested tables, settable only in the file.
    Clusters,
}

/// One section of the file and its keys.
#[derive(Debug)]
pub(crate) struct Section {
    pub name: &'static str,
    pub keys: &'static [(&'static str, Kind)],
}

use Kind::{
    Boolean, Clusters, Integer, Namespaces, NodeId, NodeIdList, Text, TextList, Voters, Witnesses,
};

/// The schema, in the order the example file presents it.
pub(crate) const SECTIONS: &[Section] = &[
    Section {
        name: "node",
        keys: &[
            ("id", NodeId),
            ("cluster", Text),
            ("region", Text),
            ("role", Text),
            ("data_dir", Text),
        ],
    },
    Section {
        name: "listen",
        keys: &[
            ("grpc", Text),
            ("http", Text),
            ("control", Text),
            ("advertise_grpc", Text),
        ],
    },
    Section {
        name: "tls",
        keys: &[("ca", Text), ("cert", Text), ("key", Text)],
    },
    Section {
        name: "gossip",
        keys: &[
            ("profile", Text),
            ("seeds", TextList),
            ("probe_interval_ms", Integer),
            ("probe_timeout_ms", Integer),
            ("indirect_checks", Integer),
            ("gossip_interval_ms", Integer),
            ("gossip_nodes", Integer),
            ("gossip_to_the_dead_s", Integer),
            ("suspicion_mult", Integer),
            ("suspicion_max_timeout_mult", Integer),
            ("retransmit_mult", Integer),
            ("push_pull_interval_s", Integer),
            ("awareness_max_multiplier", Integer),
            ("max_packet_bytes", Integer),
            ("max_push_pull_bytes", Integer),
            ("tombstone_ttl_s", Integer),
        ],
    },
    Section {
        name: "consensus",
        keys: &[
            ("election_timeout_min_ms", Integer),
            ("election_timeout_max_ms", Integer),
            ("heartbeat_ms", Integer),
            ("priority", Integer),
            ("voters", Voters),
        ],
    },
    Section {
        name: "replication",
        keys: &[
            ("batch_max_events", Integer),
            ("batch_max_bytes", Integer),
            ("max_in_flight_batches", Integer),
            ("resend_retry_ms", Integer),
            ("reorder_window_events", Integer),
            ("reorder_window_events_per_origin", Integer),
            ("quarantine_capacity", Integer),
        ],
    },
    Section {
        name: "failover",
        keys: &[
            ("max_lag_entries", Integer),
            ("max_lag_s", Integer),
            ("cooldown_s", Integer),
            ("catch_up_timeout_s", Integer),
            ("require_ticket", Boolean),
            ("require_approval", Boolean),
        ],
    },
    Section {
        name: "auto_failover",
        keys: &[
            ("enabled", Boolean),
            ("detection_window_ms", Integer),
            ("inhibit_window_s", Integer),
            ("lag_ceiling_entries", Integer),
        ],
    },
    Section {
        name: "storage",
        keys: &[("segment_bytes", Integer)],
    },
    Section {
        name: "api",
        keys: &[("max_body_bytes", Integer), ("max_payload_bytes", Integer)],
    },
    Section {
        name: "control",
        keys: &[
            ("tokens", TextList),
            ("operators", TextList),
            ("node_role", Text),
        ],
    },
    Section {
        name: "mesh",
        keys: &[
            ("failover_version_increment", Integer),
            ("clusters", Clusters),
            ("witnesses", Witnesses),
            ("control_voters", NodeIdList),
            ("namespaces", Namespaces),
        ],
    },
];

/// The keys of one `mesh.clusters` entry.
pub(crate) const MESH_CLUSTER_KEYS: &[&str] = &[
    "id",
    "region",
    "priority",
    "initial_failover_version",
    "nodes",
];

/// The keys of one `mesh.clusters[i].nodes` entry.
pub(crate) const MESH_NODE_KEYS: &[&str] = &["id", "grpc", "http"];

/// The keys of one `mesh.witnesses` entry.
pub(crate) const MESH_WITNESS_KEYS: &[&str] = &["id", "grpc"];

/// The keys of one `mesh.namespaces` entry.
pub(crate) const MESH_NAMESPACE_KEYS: &[&str] = &["name", "active"];

/// The keys of one `consensus.voters` entry.
pub(crate) const VOTER_KEYS: &[&str] = &["id", "grpc"];

/// The section called `name`.
pub(crate) fn section(name: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.name == name)
}

impl Section {
    /// The kind of `key` in this section.
    pub fn kind(&self, key: &str) -> Option<Kind> {
        self.keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, kind)| *kind)
    }

    fn expected(&self) -> String {
        join(self.keys.iter().map(|(k, _)| *k))
    }
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// Every key of `table` that the schema does not know, each with its full path. Values of
/// the wrong shape are left to serde, which names them as type errors.
pub(crate) fn unknown_keys(table: &Table) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    for (name, value) in table {
        let Some(section) = section(name) else {
            problems.push(ConfigError::UnknownKey {
                key: name.clone(),
                expected: join(SECTIONS.iter().map(|s| s.name)),
            });
            continue;
        };
        let Value::Table(keys) = value else { continue };
        for (key, value) in keys {
            if section.kind(key).is_none() {
                problems.push(ConfigError::UnknownKey {
                    key: format!("{name}.{key}"),
                    expected: section.expected(),
                });
            } else if let Value::Array(entries) = value {
                let path = format!("{name}.{key}");
                match section.kind(key) {
                    Some(Kind::Voters) => {
                        unknown_in_entries(&path, entries, VOTER_KEYS, &mut problems)
                    }
                    Some(Kind::Witnesses) => {
                        unknown_in_entries(&path, entries, MESH_WITNESS_KEYS, &mut problems);
                    }
                    Some(Kind::Namespaces) => {
                        unknown_in_entries(&path, entries, MESH_NAMESPACE_KEYS, &mut problems);
                    }
                    Some(Kind::Clusters) => {
                        unknown_in_entries(&path, entries, MESH_CLUSTER_KEYS, &mut problems);
                        for (i, cluster) in entries.iter().enumerate() {
                            if let Some(Value::Array(nodes)) =
                                cluster.as_table().and_then(|c| c.get("nodes"))
                            {
                                let path = format!("{path}[{i}].nodes");
                                unknown_in_entries(&path, nodes, MESH_NODE_KEYS, &mut problems);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    problems
}

/// Unknown fields of each table in `entries` (a list of `{ ... }` entries at `path`).
fn unknown_in_entries(
    path: &str,
    entries: &[Value],
    known: &[&str],
    problems: &mut Vec<ConfigError>,
) {
    for (i, entry) in entries.iter().enumerate() {
        let Value::Table(fields) = entry else {
            continue;
        };
        for field in fields.keys().filter(|f| !known.iter().any(|k| k == f)) {
            problems.push(ConfigError::UnknownKey {
                key: format!("{path}[{i}].{field}"),
                expected: join(known.iter().copied()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::raw::*;

    /// A file with every key set, built field by field so that a new field in a raw
    /// section does not compile until it is added here too.
    fn every_key() -> RawConfig {
        RawConfig {
            node: RawNode {
                id: Some(RawNodeId("n1".into())),
                cluster: Some("c".into()),
                region: Some("r".into()),
                role: "voter".into(),
                data_dir: "d".into(),
            },
            listen: RawListen {
                grpc: "a".into(),
                http: "a".into(),
                control: "a".into(),
                advertise_grpc: Some("a".into()),
            },
            tls: RawTls {
                ca: Some("a".into()),
                cert: Some("a".into()),
                key: Some("a".into()),
            },
            gossip: RawGossip {
                profile: "lan".into(),
                seeds: vec!["a".into()],
                probe_interval_ms: Some(1),
                probe_timeout_ms: Some(1),
                indirect_checks: Some(1),
                gossip_interval_ms: Some(1),
                gossip_nodes: Some(1),
                gossip_to_the_dead_s: Some(1),
                suspicion_mult: Some(1),
                suspicion_max_timeout_mult: Some(1),
                retransmit_mult: Some(1),
                push_pull_interval_s: Some(1),
                awareness_max_multiplier: Some(1),
                max_packet_bytes: Some(1),
                max_push_pull_bytes: Some(1),
                tombstone_ttl_s: Some(1),
            },
            consensus: RawConsensus {
                election_timeout_min_ms: 1,
                election_timeout_max_ms: 1,
                heartbeat_ms: 1,
                priority: 1,
                voters: vec![RawVoter {
                    id: RawNodeId("n1".into()),
                    grpc: "a".into(),
                }],
            },
            replication: RawReplication::default(),
            failover: RawFailover::default(),
            auto_failover: RawAutoFailover::default(),
            storage: RawStorage::default(),
            api: RawApi::default(),
            control: RawControl::default(),
            mesh: Some(RawMesh {
                failover_version_increment: 10,
                clusters: vec![RawMeshCluster {
                    id: "c".into(),
                    region: "r".into(),
                    priority: 1,
                    initial_failover_version: 1,
                    nodes: vec![RawMeshNode {
                        id: RawNodeId("n1".into()),
                        grpc: "a".into(),
                        http: "a".into(),
                    }],
                }],
                witnesses: vec![RawMeshWitness {
                    id: RawNodeId("w".into()),
                    grpc: "a".into(),
                }],
                control_voters: vec![RawNodeId("n1".into())],
                namespaces: vec![RawMeshNamespace {
                    name: "ns".into(),
                    active: "c".into(),
                }],
            }),
        }
    }

    #[test]
    fn the_key_schema_lists_exactly_the_fields_serde_reads() {
        let table = Table::try_from(every_key()).expect("every_key serializes");
        let mut from_serde = BTreeSet::new();
        for (name, value) in &table {
            let Value::Table(keys) = value else {
                panic!("{name} is not a section")
            };
            for key in keys.keys() {
                from_serde.insert(format!("{name}.{key}"));
            }
        }
        let from_schema: BTreeSet<String> = SECTIONS
            .iter()
            .flat_map(|s| s.keys.iter().map(move |(k, _)| format!("{}.{k}", s.name)))
            .collect();
        assert_eq!(from_serde, from_schema);
        assert!(unknown_keys(&table).is_empty());
    }
}
