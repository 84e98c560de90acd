//! Shared by the config tests: a temporary directory holding a mesh CA, the example config
//! and certificates, and helpers that assert a problem names its key.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::config::{self, ConfigErrors, LoadedConfig};
use omnirelay_io::tls::{Identity, MeshCa, Role};
use tempfile::TempDir;

/// A directory laid out as the example config expects: `tls/ca.pem`, `tls/n1.{pem,key}`
/// (n1, voter of us-east).
pub struct Fixture {
    pub dir: TempDir,
    pub ca: MeshCa,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = MeshCa::generate("test CA").expect("CA");
        ca.write(&dir.path().join("tls")).expect("write CA");
        let fixture = Fixture { dir, ca };
        fixture.issue("n1", "us-east", Role::Voter, "n1");
        fixture
    }

    /// Issues a node certificate into `tls/<stem>.{pem,key}`.
    pub fn issue(&self, node: &str, cluster: &str, role: Role, stem: &str) {
        Fixture::issue_with(&self.ca, &self.tls_dir(), node, cluster, role, stem);
    }

    pub fn issue_with(
        ca: &MeshCa,
        dir: &std::path::Path,
        node: &str,
        cluster: &str,
        role: Role,
        stem: &str,
    ) {
        let identity = Identity::Node {
            node: node.parse::<NodeId>().expect("node id"),
            cluster: ClusterId::new(cluster).expect("cluster"),
            role,
        };
        ca.issue(
            &identity,
            &["localhost".to_owned()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
        .expect("issue")
        .write(dir, stem)
        .expect("write cert");
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// Writes `text` as `node.toml` in the fixture directory.
    pub fn write(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("node.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Loads `text` as the node would, with `env` as the whole environment.
    pub fn load(&self, text: &str, env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigErrors> {
        let path = self.write(text);
        config::load(&path, &env_map(env))
    }
}

pub fn env_map(env: &[(&str, &str)]) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The example config with `from` replaced by `to` (which must occur).
pub fn example_with(from: &str, to: &str) -> String {
    assert!(config::EXAMPLE.contains(from), "example lacks {from:?}");
    config::EXAMPLE.replacen(from, to, 1)
}

/// Asserts loading failed with a problem about `key` whose printed line starts with the
/// key and contains `fragment`.
pub fn assert_problem(result: &Result<LoadedConfig, ConfigErrors>, key: &str, fragment: &str) {
    let errors = match result {
        Ok(_) => panic!("expected a problem with {key}, but the config loaded"),
        Err(errors) => errors,
    };
    let found = errors.problems.iter().any(|p| {
        let line = p.to_string();
        p.key() == key && line.starts_with(&format!("{key}: ")) && line.contains(fragment)
    });
    assert!(
        found,
        "no problem naming {key:?} containing {fragment:?}; got:\n{errors}"
    );
}

pub fn loaded(result: Result<LoadedConfig, ConfigErrors>) -> LoadedConfig {
    match result {
        Ok(loaded) => loaded,
        Err(errors) => panic!("config refused:\n{errors}"),
    }
}
