//! The node's configuration: one TOML file, `OMNIRELAY_<SECTION>_<KEY>` environment
//! overrides on top, then validation that reports every problem at once, each naming its
//! key.
//!
//! Conventions:
//! - Durations are integers whose unit is the key's suffix: `_ms` milliseconds, `_s`
//!   seconds (`heartbeat_ms = 50`, `cooldown_s = 60`). No unit strings to misparse.
//! - Sizes are integers in bytes (`segment_bytes`), counts are plain integers.
//! - Relative paths (`node.data_dir`, `tls.*`) are relative to the config file's directory.
//! - Unknown keys are errors, in the file and in the environment.
//! - Every key has a default except `node.id`, `node.cluster`, `node.region`, `tls.*` and
//!   `consensus.voters`. `omnirelay config example` prints them all with their defaults.
//!
//! Pipeline: [`load`] reads the file, then [`parse`] parses the TOML, refuses unknown keys,
//! applies the environment, types each section with serde (type errors name the full key
//! path), and validates meaning (ids, addresses, ports, timing relations, TLS files and the
//! certificate's identity). The result is a [`NodeConfig`] whose sections convert to the
//! core's own types: `gossip.timing` is a `GossipConfig`, `failover` a `FailoverPolicy`,
//! `auto_failover` an `AutoFailoverPolicy`, `replication.applier` an `ApplierConfig`,
//! `storage` a `WalConfig`.

mod address;
mod env;
mod error;
mod keys;
mod mesh;
mod node;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

pub use address::HostPort;
pub use env::ENV_PREFIX;
pub use error::{ConfigError, ConfigErrors};
pub use mesh::{MeshCluster, MeshNode, MeshSettings, MeshWitness};
pub use node::{
    ApiLimits, ConsensusSettings, ControlAccess, GossipProfile, GossipSettings, ListenSettings,
    NodeConfig, NodeSettings, ReplicationSettings, Summary, TlsFiles,
};

use crate::tls::TlsMaterial;

/// A complete, commented configuration with every key at its default (`io/node.example.toml`).
pub const EXAMPLE: &str = include_str!("../../node.example.toml");

/// A validated configuration and the TLS material validation loaded from its files.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: NodeConfig,
    /// The CA, certificate and key named by `[tls]`, loaded and checked against `[node]`.
    pub tls: TlsMaterial,
}

/// Reads and validates the file at `path`, with `env`'s `OMNIRELAY_*` overrides applied.
/// Pass `std::env::vars()` collected for the real environment.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigErrors {
        problems: vec![ConfigError::Read {
            path: path.to_owned(),
            source,
        }],
    })?;
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => Path::new(".").to_owned(),
    };
    let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
    parse(&text, &path.display().to_string(), &base_dir, env)
}

/// Parses and validates TOML `text`. `origin` names it in syntax errors; relative paths
/// are taken relative to `base_dir`.
pub fn parse(
    text: &str,
    origin: &str,
    base_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let fail = |problems: Vec<ConfigError>| Err(ConfigErrors { problems });
    let mut table: Table = match text.parse() {
        Ok(table) => table,
        Err(e) => return fail(vec![syntax(text, origin, &e)]),
    };
    let mut problems = keys::unknown_keys(&table);
    problems.extend(env::apply(&mut table, env));
    let raw = typed(table, &mut problems);
    if !problems.is_empty() {
        // Meaning is checked only on a file whose every key was read as written.
        return fail(problems);
    }
    match validate::validate(&raw, base_dir) {
        Ok((config, tls)) => Ok(LoadedConfig { config, tls }),
        Err(problems) => fail(problems),
    }
}

fn syntax(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

/// Types each section on its own, so that every bad value is reported rather than only the
/// file's first. Unknown keys were reported already.
fn typed(mut table: Table, problems: &mut Vec<ConfigError>) -> raw::RawConfig {
    let mut config = raw::RawConfig::default();
    macro_rules! section {
        ($name:ident) => {
            if let Some(value) = table.remove(stringify!($name)) {
                if let Some(section) = typed_section(stringify!($name), value, problems) {
                    config.$name = section;
                }
            }
        };
    }
    section!(node);
    section!(listen);
    section!(tls);
    section!(gossip);
    section!(consensus);
    section!(replication);
    section!(failover);
    section!(auto_failover);
    section!(storage);
    section!(api);
    section!(control);
    if let Some(value) = table.remove("mesh") {
        config.mesh = typed_section("mesh", value, problems);
    }
    config
}

fn typed_section<T: DeserializeOwned>(
    name: &str,
    value: Value,
    problems: &mut Vec<ConfigError>,
) -> Option<T> {
    let Value::Table(mut keys) = value else {
        problems.push(ConfigError::WrongType {
            key: name.to_owned(),
            message: format!("expected a table [{name}], found a {}", value.type_str()),
        });
        return None;
    };
    // Unknown keys were reported with the whole list; drop them so serde reports types.
    if let Some(section) = keys::section(name) {
        keys.retain(|k, _| section.kind(k).is_some());
    }
    if let Some(Value::Array(voters)) = keys.get_mut("voters") {
        for voter in voters.iter_mut() {
            if let Value::Table(fields) = voter {
                fields.retain(|f, _| keys::VOTER_KEYS.contains(&f));
            }
        }
    }
    // serde stops at the first bad value; drop that key and go on, so every bad value of
    // the section is reported in one pass (a dropped key cannot succeed anyway).
    let mut complete = true;
    loop {
        let error = match serde_path_to_error::deserialize(Value::Table(keys.clone())) {
            Ok(section) => return complete.then_some(section),
            Err(error) => error,
        };
        complete = false;
        let path = error.path().to_string();
        let first = match error.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let key = if path == "." {
            name.to_owned()
        } else {
            format!("{name}.{path}")
        };
        let message = error.into_inner().message().to_owned();
        problems.push(match message.strip_prefix("missing field `") {
            Some(field) => ConfigError::Missing {
                key: format!("{key}.{}", field.trim_end_matches('`')),
            },
            None => ConfigError::WrongType { key, message },
        });
        match first {
            Some(first) if keys.remove(&first).is_some() => continue,
            _ => return None,
        }
    }
}
