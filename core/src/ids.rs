//! Identifiers shared by every protocol.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A node of the mesh. Numeric, like Raft's server ids, so that the simulators can run
/// thousands of them cheaply; operators see it as `n<id>` next to the node's name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = IdError;
    /// Accepts `n7` and `7`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let digits = s.strip_prefix('n').unwrap_or(s);
        digits
            .parse::<u64>()
            .map(NodeId)
            .map_err(|_| IdError::BadNodeId(s.to_owned()))
    }
}

/// Why a textual identifier was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not `n<digits>` or `<digits>`.
    #[error("node id {0:?} is not of the form n<number>")]
    BadNodeId(String),
    /// Empty, longer than 63 bytes, or holding a character outside `[a-z0-9-_.]`.
    #[error(
        "{kind} id {value:?} must be 1-63 characters of lowercase letters, digits, '-', '_' or '.'"
    )]
    BadName {
        /// `cluster` or `namespace`.
        kind: &'static str,
        /// The refused text.
        value: String,
    },
}

fn validate_name(kind: &'static str, value: &str) -> Result<(), IdError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(IdError::BadName {
            kind,
            value: value.to_owned(),
        })
    }
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// 1-63 characters of `[a-z0-9-_.]`, so it fits a DNS label, a metric label and the
        /// compact version-vector text form without escaping. Cheap to clone.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: &str) -> Result<Self, IdError> {
                validate_name($kind, value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The textual form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        // Decoding validates like `new`: a stored or received name is input like any other.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_id!(
    /// A cluster: the nodes of one region, e.g. `us-east`.
    ClusterId,
    "cluster"
);
name_id!(
    /// A namespace: one tenant's slice of the log, e.g. `orders`.
    NamespaceId,
    "namespace"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_refuse_characters_that_need_escaping() {
        assert!(ClusterId::new("us-east-1").is_ok());
        for bad in ["", "US", "a=b", "a,b", "a b", &"x".repeat(64)] {
            assert!(matches!(
                ClusterId::new(bad),
                Err(IdError::BadName {
                    kind: "cluster",
                    ..
                })
            ));
        }
    }

    #[test]
    fn node_ids_parse_with_or_without_prefix() {
        assert_eq!("n7".parse::<NodeId>(), Ok(NodeId(7)));
        assert_eq!("7".parse::<NodeId>(), Ok(NodeId(7)));
        assert!("nx".parse::<NodeId>().is_err());
        assert_eq!(NodeId(7).to_string(), "n7");
    }
}
