//! What the compatibility check reports.

use std::fmt;

/// One breaking change between a descriptor snapshot and today's descriptors.
///
/// Displays as `path: change`, e.g.
/// `omnirelay.v1.Event.origin_seq (3): type changed uint64 -> string`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Full name of the element in the *old* descriptors: a file name, a fully qualified
    /// type, service or method name, or `Type.member (number)` for fields and enum values.
    pub path: String,
    /// What changed.
    pub change: Change,
}

/// The kinds of breaking change the check knows, after buf's FILE and WIRE rule sets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A file kept its name but moved to another package.
    PackageChanged {
        /// Package in the snapshot.
        old: String,
        /// Package today.
        new: String,
    },
    /// A message no longer exists under its full name.
    MessageRemoved,
    /// An enum no longer exists under its full name.
    EnumRemoved,
    /// A field's number is gone and neither the number nor the name is reserved.
    FieldRemoved,
    /// A field's name now sits on another number, and the old number is not reserved.
    FieldRenumbered {
        /// The field's number today.
        new_number: i32,
    },
    /// The field with this number has another scalar type or message/enum type.
    FieldTypeChanged {
        /// Type in the snapshot (`uint64`, or a full type name).
        old: String,
        /// Type today.
        new: String,
    },
    /// The field with this number moved between singular, optional and repeated.
    FieldCardinalityChanged {
        /// Cardinality in the snapshot.
        old: Cardinality,
        /// Cardinality today.
        new: Cardinality,
    },
    /// The field with this number has another name: breaks JSON and text formats.
    FieldRenamed {
        /// Name in the snapshot.
        old: String,
        /// Name today.
        new: String,
    },
    /// The field with this number has another JSON name.
    FieldJsonNameChanged {
        /// JSON name in the snapshot.
        old: String,
        /// JSON name today.
        new: String,
    },
    /// The field with this number moved into, out of, or between oneofs.
    FieldOneofChanged {
        /// Oneof in the snapshot, if any.
        old: Option<String>,
        /// Oneof today, if any.
        new: Option<String>,
    },
    /// An enum value's number is gone and neither the number nor the name is reserved.
    EnumValueRemoved,
    /// The enum value with this number has another name: breaks JSON and text formats.
    EnumValueRenamed {
        /// Name in the snapshot.
        old: String,
        /// Name today.
        new: String,
    },
    /// A service no longer exists under its full name.
    ServiceRemoved,
    /// A method no longer exists in its service.
    MethodRemoved,
    /// A method takes another request type.
    MethodRequestTypeChanged {
        /// Request type in the snapshot.
        old: String,
        /// Request type today.
        new: String,
    },
    /// A method returns another response type.
    MethodResponseTypeChanged {
        /// Response type in the snapshot.
        old: String,
        /// Response type today.
        new: String,
    },
    /// A method's request or response switched between a single message and a stream.
    MethodStreamingChanged {
        /// Which side of the call changed.
        side: CallSide,
        /// Whether that side streamed in the snapshot.
        old_streaming: bool,
        /// Whether it streams today.
        new_streaming: bool,
    },
}

/// How many values a field holds, as it affects the wire and generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cardinality {
    /// proto3 implicit presence: one value, default not distinguished from absent.
    Singular,
    /// Explicit presence: `optional` in proto3, or proto2 optional.
    Optional,
    /// proto2 `required`.
    Required,
    /// `repeated` (maps included).
    Repeated,
}

/// One side of an RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallSide {
    /// What the client sends.
    Request,
    /// What the server returns.
    Response,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.change)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PackageChanged { old, new } => write!(f, "package changed {old} -> {new}"),
            Self::MessageRemoved => f.write_str("message removed"),
            Self::EnumRemoved => f.write_str("enum removed"),
            Self::FieldRemoved => f.write_str("field removed without reserving its number or name"),
            Self::FieldRenumbered { new_number } => write!(
                f,
                "field renumbered to {new_number} without reserving the old number"
            ),
            Self::FieldTypeChanged { old, new } => write!(f, "type changed {old} -> {new}"),
            Self::FieldCardinalityChanged { old, new } => {
                write!(f, "cardinality changed {old} -> {new}")
            }
            Self::FieldRenamed { old, new } => {
                write!(f, "name changed {old} -> {new} (breaks JSON)")
            }
            Self::FieldJsonNameChanged { old, new } => {
                write!(f, "JSON name changed {old} -> {new}")
            }
            Self::FieldOneofChanged { old, new } => write!(
                f,
                "oneof changed {} -> {}",
                old.as_deref().unwrap_or("(none)"),
                new.as_deref().unwrap_or("(none)")
            ),
            Self::EnumValueRemoved => {
                f.write_str("enum value removed without reserving its number or name")
            }
            Self::EnumValueRenamed { old, new } => {
                write!(f, "enum value name changed {old} -> {new} (breaks JSON)")
            }
            Self::ServiceRemoved => f.write_str("service removed"),
            Self::MethodRemoved => f.write_str("method removed"),
            Self::MethodRequestTypeChanged { old, new } => {
                write!(f, "request type changed {old} -> {new}")
            }
            Self::MethodResponseTypeChanged { old, new } => {
                write!(f, "response type changed {old} -> {new}")
            }
            Self::MethodStreamingChanged {
                side,
                old_streaming,
                new_streaming,
            } => write!(
                f,
                "{side} changed {} -> {}",
                streaming_word(*old_streaming),
                streaming_word(*new_streaming)
            ),
        }
    }
}

fn streaming_word(streaming: bool) -> &'static str {
    if streaming {
        "stream"
    } else {
        "single message"
    }
}

impl fmt::Display for Cardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Singular => "singular",
            Self::Optional => "optional",
            Self::Required => "required",
            Self::Repeated => "repeated",
        })
    }
}

impl fmt::Display for CallSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Response => "response",
        })
    }
}
