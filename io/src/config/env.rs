//! `OMNIRELAY_<SECTION>_<KEY>` overrides, applied to the parsed file before anything is
//! typed or validated, so an overridden value is checked exactly like a written one.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::ConfigError;
use super::keys::{Kind, SECTIONS};

/// The prefix of every override. Any variable carrying it must name a key.
pub const ENV_PREFIX: &str = "OMNIRELAY_";

/// Applies every `OMNIRELAY_*` variable of `env` to `table`; returns the refused ones.
/// Other variables are ignored. `env` is passed in (not read here) so that callers decide
/// what the environment is, and tests never touch the process's own.
pub(crate) fn apply(table: &mut Table, env: &BTreeMap<String, String>) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    for (variable, text) in env {
        let Some(rest) = variable.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, key, kind)) = resolve(rest) else {
            problems.push(ConfigError::UnknownVariable {
                variable: variable.clone(),
            });
            continue;
        };
        match typed(kind, text) {
            Ok(value) => {
                let entry = table
                    .entry(section.to_owned())
                    .or_insert_with(|| Value::Table(Table::new()));
                match entry {
                    Value::Table(keys) => {
                        keys.insert(key.to_owned(), value);
                    }
                    // The file's own type error for the section is reported by the parser.
                    _ => continue,
                }
            }
            Err(reason) => problems.push(ConfigError::BadVariable {
                variable: variable.clone(),
                key: format!("{section}.{key}"),
                reason,
            }),
        }
    }
    problems
}

/// Splits `SECTION_KEY` (upper case) into a known section and key. Section and key names
/// both contain underscores (`AUTO_FAILOVER_ENABLED`), so the schema decides the split.
fn resolve(rest: &str) -> Option<(&'static str, &'static str, Kind)> {
    SECTIONS.iter().find_map(|section| {
        let upper = section.name.to_ascii_uppercase();
        let key = rest.strip_prefix(upper.as_str())?.strip_prefix('_')?;
        section
            .keys
            .iter()
            .find(|(name, _)| name.to_ascii_uppercase() == key)
            .map(|(name, kind)| (section.name, *name, *kind))
    })
}

/// The TOML value an environment string stands for, given the key's kind.
fn typed(kind: Kind, text: &str) -> Result<Value, String> {
    let text = text.trim();
    match kind {
        Kind::Text | Kind::NodeId => Ok(Value::String(text.to_owned())),
        Kind::Integer => text
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("expected an integer, got {text:?}")),
        Kind::Boolean => match text {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        Kind::TextList => Ok(Value::Array(
            list(text).map(|s| Value::String(s.to_owned())).collect(),
        )),
        Kind::Voters => list(text)
            .map(|entry| {
                let (id, grpc) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("expected id=host:port, got {entry:?}"))?;
                let mut voter = Table::new();
                voter.insert("id".into(), Value::String(id.trim().to_owned()));
                voter.insert("grpc".into(), Value::String(grpc.trim().to_owned()));
                Ok(Value::Table(voter))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Value::Array),
        Kind::NodeIdList => Ok(Value::Array(
            list(text).map(|s| Value::String(s.to_owned())).collect(),
        )),
        Kind::Witnesses => pairs(text, "id", "grpc"),
        Kind::Namespaces => pairs(text, "name", "active"),
        Kind::Clusters => Err("mesh.clusters holds nested tables: set it in the file".into()),
    }
}

/// `a=b,c=d` as a list of `{ left = a, right = b }` tables.
fn pairs(text: &str, left: &str, right: &str) -> Result<Value, String> {
    list(text)
        .map(|entry| {
            let (l, r) = entry
                .split_once('=')
                .ok_or_else(|| format!("expected {left}={right}, got {entry:?}"))?;
            let mut table = Table::new();
            table.insert(left.into(), Value::String(l.trim().to_owned()));
            table.insert(right.into(), Value::String(r.trim().to_owned()));
            Ok(Value::Table(table))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Value::Array)
}

/// Comma-separated items; an empty string is an empty list.
fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscored_sections_and_keys_split_where_the_schema_says() {
        assert_eq!(
            resolve("AUTO_FAILOVER_ENABLED").map(|(s, k, _)| (s, k)),
            Some(("auto_failover", "enabled"))
        );
        assert_eq!(
            resolve("CONSENSUS_ELECTION_TIMEOUT_MIN_MS").map(|(s, k, _)| (s, k)),
            Some(("consensus", "election_timeout_min_ms"))
        );
        assert_eq!(resolve("FAILOVER_ENABLED"), None);
        assert_eq!(resolve("NODE"), None);
    }
}
