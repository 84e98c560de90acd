//! Why a wire message could not become a domain value.

use std::fmt;

use omnirelay_core::IdError;

/// A wire message that cannot become a domain value, naming the message and field at fault.
///
/// Converting has no state, so nothing changed when this is returned: the caller drops (and
/// counts) the message, or answers the peer with the text. Displayed as
/// `Event.origin_cluster: "US EAST" is not a valid cluster id (in EventBatch.events[2])`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {defect}{}", Within(within))]
pub struct ConvertError {
    /// `Message.field` of the innermost message at fault, as the `.proto` files spell it.
    pub field: &'static str,
    /// What is wrong with it.
    pub defect: FieldDefect,
    /// The fields that lead to that message, innermost first (`EventBatch.events[2]`).
    pub within: Vec<String>,
}

impl ConvertError {
    /// An error about `field` (`Message.field`).
    pub fn new(field: &'static str, defect: FieldDefect) -> Self {
        ConvertError {
            field,
            defect,
            within: Vec::new(),
        }
    }

    /// The same error, found inside the enclosing field `outer` (e.g. `EventBatch.events[2]`).
    #[must_use]
    pub fn within(mut self, outer: impl Into<String>) -> Self {
        self.within.push(outer.into());
        self
    }
}

struct Within<'a>(&'a [String]);

impl fmt::Display for Within<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " (in {})", self.0.join(", in "))
    }
}

/// What is wrong with one field. Every variant leaves all state unchanged: converting has
/// none.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldDefect {
    /// A cluster or namespace name that core's validation refuses.
    #[error("{value:?} is not a valid {kind} id")]
    InvalidId {
        /// `cluster` or `namespace`.
        kind: &'static str,
        /// The refused text.
        value: String,
        /// Core's reason.
        #[source]
        source: IdError,
    },
    /// An enum number this build does not know (sent by a newer peer, or garbage).
    #[error("unknown enum value {0}")]
    UnknownEnumValue(i32),
    /// The enum's `_UNSPECIFIED` value, where the contract requires a real one.
    #[error("unspecified, but a value is required")]
    Unspecified,
    /// A submessage, oneof or id that is required but absent (or 0 where 0 means unset).
    #[error("missing, but required")]
    Missing,
    /// A number outside what the domain type can hold or the contract allows.
    #[error("{value} is out of range: {allowed}")]
    OutOfRange {
        /// The refused number, as text (it may be signed or unsigned).
        value: String,
        /// What would have been accepted.
        allowed: &'static str,
    },
    /// The same key twice where the contract allows it once.
    #[error("{0:?} appears twice")]
    Duplicate(String),
    /// Well-formed on the wire, but core has no way to represent or act on it yet.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// Text or a combination of fields the contract forbids.
    #[error("{0}")]
    Malformed(String),
}
