//! Who a certificate says its holder is.
//!
//! A node certificate carries one URI SAN of the form
//! `spiffe://omnirelay.mesh/cluster/<cluster>/node/<node>/role/<role>`; an operator's
//! carries `spiffe://omnirelay.mesh/operator/<name>/role/operator`. The transport reads it
//! after the handshake, and the node checks it against what the peer claims in gossip.

use std::fmt;
use std::str::FromStr;

use omnirelay_core::{ClusterId, NodeId};

/// The trust domain of every OmniRelay identity.
pub const TRUST_DOMAIN: &str = "omnirelay.mesh";

/// What a certificate holder may do in the mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A data node that votes in its cluster.
    Voter,
    /// A witness: votes in the mesh control group, holds no data.
    Witness,
    /// A data node that replicates but does not vote.
    Learner,
    /// A human or tool calling the control API.
    Operator,
}

impl Role {
    /// The name used in certificates, config files and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::Witness => "witness",
            Role::Learner => "learner",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        match s {
            "voter" => Ok(Role::Voter),
            "witness" => Ok(Role::Witness),
            "learner" => Ok(Role::Learner),
            "operator" => Ok(Role::Operator),
            other => Err(IdentityError::UnknownRole(other.to_owned())),
        }
    }
}

/// The identity of a certificate holder.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A node of a cluster (voter, learner or witness).
    Node {
        /// Its node id.
        node: NodeId,
        /// Its cluster.
        cluster: ClusterId,
        /// What it does.
        role: Role,
    },
    /// An operator or tool; `name` is free text checked like a cluster id.
    Operator {
        /// Who.
        name: ClusterId,
    },
}

/// Why a certificate's identity could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The role is not one of voter, witness, learner, operator.
    #[error("unknown role {0:?} (expected voter, witness, learner or operator)")]
    UnknownRole(String),
    /// The URI is not an OmniRelay identity.
    #[error("{0:?} is not an OmniRelay identity URI (spiffe://{TRUST_DOMAIN}/...)")]
    NotAnIdentity(String),
    /// A part of the URI is invalid.
    #[error("identity URI {uri:?}: {reason}")]
    BadPart {
        /// The URI.
        uri: String,
        /// What was wrong.
        reason: String,
    },
    /// The certificate could not be parsed.
    #[error("certificate is not valid X.509: {0}")]
    BadCertificate(String),
    /// The certificate carries no OmniRelay identity URI.
    #[error("certificate carries no spiffe://{TRUST_DOMAIN}/ URI SAN")]
    Missing,
    /// The certificate carries more than one.
    #[error("certificate carries more than one OmniRelay identity")]
    Ambiguous,
}

impl Identity {
    /// The URI SAN that encodes this identity.
    pub fn to_uri(&self) -> String {
        match self {
            Identity::Node {
                node,
                cluster,
                role,
            } => format!("spiffe://{TRUST_DOMAIN}/cluster/{cluster}/node/{node}/role/{role}"),
            Identity::Operator { name } => {
                format!("spiffe://{TRUST_DOMAIN}/operator/{name}/role/operator")
            }
        }
    }

    /// Parses an identity URI; anything else is an error that names the URI.
    pub fn from_uri(uri: &str) -> Result<Identity, IdentityError> {
        let path = uri
            .strip_prefix("spiffe://")
            .and_then(|rest| rest.strip_prefix(TRUST_DOMAIN))
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| IdentityError::NotAnIdentity(uri.to_owned()))?;
        let bad = |reason: String| IdentityError::BadPart {
            uri: uri.to_owned(),
            reason,
        };
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["cluster", cluster, "node", node, "role", role] => {
                let role: Role = role.parse()?;
                if role == Role::Operator {
                    return Err(bad("a node identity cannot have the operator role".into()));
                }
                Ok(Identity::Node {
                    node: node.parse().map_err(|e| bad(format!("{e}")))?,
                    cluster: cluster.parse().map_err(|e| bad(format!("{e}")))?,
                    role,
                })
            }
            ["operator", name, "role", "operator"] => Ok(Identity::Operator {
                name: name.parse().map_err(|e| bad(format!("{e}")))?,
            }),
            _ => Err(bad(
                "expected cluster/<c>/node/<n>/role/<r> or operator/<name>/role/operator".into(),
            )),
        }
    }

    /// Reads the identity from a DER certificate: exactly one OmniRelay URI SAN.
    pub fn from_certificate(der: &[u8]) -> Result<Identity, IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| IdentityError::BadCertificate(e.to_string()))?;
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| IdentityError::BadCertificate(e.to_string()))?;
        let mut found = None;
        for name in sans.iter().flat_map(|ext| ext.value.general_names.iter()) {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && uri.starts_with("spiffe://")
            {
                if found.is_some() {
                    return Err(IdentityError::Ambiguous);
                }
                found = Some(Identity::from_uri(uri)?);
            }
        }
        found.ok_or(IdentityError::Missing)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Node {
                node,
                cluster,
                role,
            } => write!(f, "{node} ({role} of {cluster})"),
            Identity::Operator { name } => write!(f, "operator {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_identities_round_trip_through_their_uri() {
        let id = Identity::Node {
            node: NodeId(7),
            cluster: ClusterId::new("us-east").unwrap(),
            role: Role::Voter,
        };
        assert_eq!(
            id.to_uri(),
            "spiffe://omnirelay.mesh/cluster/us-east/node/n7/role/voter"
        );
        assert_eq!(Identity::from_uri(&id.to_uri()), Ok(id));
    }

    #[test]
    fn foreign_or_malformed_uris_are_refused_with_the_reason() {
        for uri in [
            "spiffe://other.domain/cluster/a/node/n1/role/voter",
            "https://omnirelay.mesh/cluster/a/node/n1/role/voter",
        ] {
            assert!(matches!(
                Identity::from_uri(uri),
                Err(IdentityError::NotAnIdentity(_))
            ));
        }
        assert!(matches!(
            Identity::from_uri("spiffe://omnirelay.mesh/cluster/A B/node/n1/role/voter"),
            Err(IdentityError::BadPart { .. })
        ));
        assert!(matches!(
            Identity::from_uri("spiffe://omnirelay.mesh/cluster/a/node/n1/role/king"),
            Err(IdentityError::UnknownRole(_))
        ));
        assert!(matches!(
            Identity::from_uri("spiffe://omnirelay.mesh/cluster/a/node/n1/role/operator"),
            Err(IdentityError::BadPart { .. })
        ));
    }
}
