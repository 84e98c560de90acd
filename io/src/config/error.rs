//! Everything wrong with a configuration, each problem naming the key (or environment
//! variable) an operator has to fix.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::tls::TlsError;

/// One problem found in a configuration. Loading is all-or-nothing: when any problem is
/// found nothing is returned, so no variant leaves anything half-applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not valid TOML; `origin` is the file name.
    #[error("{origin}:{line}:{column}: invalid TOML: {message}")]
    Syntax {
        /// The file (or `<text>` when parsed from a string).
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A key that no section has (typos are errors, not silently ignored settings).
    #[error("{key}: unknown key (expected one of: {expected})")]
    UnknownKey {
        /// The full key path, e.g. `consensus.heartbeat`.
        key: String,
        /// The keys allowed at that place.
        expected: String,
    },
    /// A value of the wrong TOML type or out of its type's range.
    #[error("{key}: {message}")]
    WrongType {
        /// The full key path.
        key: String,
        /// serde's description, e.g. `invalid type: string "x", expected u64`.
        message: String,
    },
    /// A required key is absent.
    #[error("{key}: missing")]
    Missing {
        /// The full key path.
        key: String,
    },
    /// A value of the right type that means nothing sensible.
    #[error("{key}: {reason}")]
    Invalid {
        /// The full key path.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two listeners share a port.
    #[error("{key}: port {port} is also used by {other}")]
    DuplicatePort {
        /// The later listener.
        key: String,
        /// The shared port.
        port: u16,
        /// The earlier listener.
        other: String,
    },
    /// An `OMNIRELAY_*` variable that names no key.
    #[error(
        "{variable}: no such configuration key (OMNIRELAY_<SECTION>_<KEY>, e.g. OMNIRELAY_NODE_ID)"
    )]
    UnknownVariable {
        /// The environment variable.
        variable: String,
    },
    /// An `OMNIRELAY_*` variable whose value cannot be a value of its key.
    #[error("{variable}: {reason} (overrides {key})")]
    BadVariable {
        /// The environment variable.
        variable: String,
        /// The key it overrides.
        key: String,
        /// Why the value was refused.
        reason: String,
    },
    /// A TLS file is missing or unusable.
    #[error("{key}: {source}")]
    Tls {
        /// `tls.ca`, `tls.cert` or `tls.key`.
        key: String,
        /// What loading it said.
        source: TlsError,
    },
    /// The certificate's identity is not the node this file describes.
    #[error("tls.cert: certificate is for {field} {certificate}, but {field} is {configured}")]
    IdentityMismatch {
        /// The configuration key the certificate disagrees with: `node.id`, `node.cluster`
        /// or `node.role`.
        field: &'static str,
        /// What the certificate says.
        certificate: String,
        /// What the configuration says.
        configured: String,
    },
}

impl ConfigError {
    /// The key or environment variable the problem is about, as printed first on its line.
    pub fn key(&self) -> String {
        match self {
            ConfigError::Read { path, .. } => path.display().to_string(),
            ConfigError::Syntax { origin, .. } => origin.clone(),
            ConfigError::UnknownKey { key, .. }
            | ConfigError::WrongType { key, .. }
            | ConfigError::Missing { key }
            | ConfigError::Invalid { key, .. }
            | ConfigError::DuplicatePort { key, .. }
            | ConfigError::Tls { key, .. } => key.clone(),
            ConfigError::UnknownVariable { variable }
            | ConfigError::BadVariable { variable, .. } => variable.clone(),
            ConfigError::IdentityMismatch { .. } => "tls.cert".to_owned(),
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Every problem found in a configuration, in file order then environment then meaning.
/// Displayed one problem per line, key first.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    /// The problems; never empty.
    pub problems: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Whether some problem is about `key` (or the environment variable `key`).
    pub fn names(&self, key: &str) -> bool {
        self.problems.iter().any(|p| p.key() == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
