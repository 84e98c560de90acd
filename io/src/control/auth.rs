//! Who is calling and what they may do: roles `mesh.read < mesh.operate < mesh.admin`,
//! from a bearer token or from the mTLS client certificate.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A control API role. Ordered: each role may do everything the ones below it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ControlRole {
    /// Read every route.
    #[serde(rename = "mesh.read")]
    Read,
    /// Also create and cancel failovers.
    #[serde(rename = "mesh.operate")]
    Operate,
    /// Also approve failovers and force emergency ones.
    #[serde(rename = "mesh.admin")]
    Admin,
}

impl ControlRole {
    /// The name used in config files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlRole::Read => "mesh.read",
            ControlRole::Operate => "mesh.operate",
            ControlRole::Admin => "mesh.admin",
        }
    }
}

impl fmt::Display for ControlRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of the three.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown control role {0:?}: expected mesh.read, mesh.operate or mesh.admin")]
pub struct UnknownRole(pub String);

impl FromStr for ControlRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "mesh.read" => Ok(ControlRole::Read),
            "mesh.operate" => Ok(ControlRole::Operate),
            "mesh.admin" => Ok(ControlRole::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// An authenticated caller: a name for the audit log and a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who, as the audit log records it (`token:<name>` or `cert:<name>`).
    pub name: String,
    /// What they may do.
    pub role: ControlRole,
}

/// The identity of an mTLS client, inserted as a request extension by the server layer
/// that terminated TLS (after mapping the certificate's identity to a control role).
/// When present it wins over any `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateCaller {
    /// The certificate holder's name.
    pub name: String,
    /// The role granted to that certificate.
    pub role: ControlRole,
}

/// A bearer token's grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// A non-secret name for the token, recorded in the audit log instead of the token.
    pub name: String,
    /// The role it carries.
    pub role: ControlRole,
}

/// The bearer tokens the router accepts. Tokens are compared in constant time with
/// respect to their content, so a timing probe learns nothing about a valid token.
#[derive(Clone, Default)]
pub struct BearerTokens {
    grants: BTreeMap<String, TokenGrant>,
}

impl fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the tokens themselves.
        let names: Vec<&str> = self.grants.values().map(|g| g.name.as_str()).collect();
        f.debug_struct("BearerTokens")
            .field("names", &names)
            .finish()
    }
}

impl BearerTokens {
    /// No tokens: only mTLS callers get in.
    pub fn new() -> BearerTokens {
        BearerTokens::default()
    }

    /// Accepts `token` as `name` with `role`.
    pub fn with(mut self, token: &str, name: &str, role: ControlRole) -> BearerTokens {
        self.grants.insert(
            token.to_owned(),
            TokenGrant {
                name: name.to_owned(),
                role,
            },
        );
        self
    }

    /// The grant of `token`, if any. Every stored token is compared, in full, so the time
    /// taken does not depend on which (if any) matched or how long a prefix agreed.
    pub fn grant(&self, token: &str) -> Option<&TokenGrant> {
        let mut found = None;
        for (candidate, grant) in &self.grants {
            if constant_time_eq(candidate.as_bytes(), token.as_bytes()) {
                found = Some(grant);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_read_operate_admin() {
        assert!(ControlRole::Read < ControlRole::Operate);
        assert!(ControlRole::Operate < ControlRole::Admin);
    }

    #[test]
    fn a_token_matches_only_itself_not_a_prefix_or_extension() {
        let tokens = BearerTokens::new().with("secret-1", "ops", ControlRole::Operate);
        assert_eq!(
            tokens.grant("secret-1").map(|g| g.role),
            Some(ControlRole::Operate)
        );
        for wrong in ["secret-", "secret-12", "", "secret-2"] {
            assert!(tokens.grant(wrong).is_none(), "{wrong:?} matched");
        }
    }
}
