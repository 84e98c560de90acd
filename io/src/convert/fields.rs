//! Field-level checks shared by every service's conversions.

use omnirelay_core::{ClusterId, IdError, Instant, NamespaceId, NodeId};

use super::error::{ConvertError, FieldDefect};

fn invalid_id(field: &'static str, value: &str, source: IdError) -> ConvertError {
    let kind = match &source {
        IdError::BadName { kind, .. } => *kind,
        IdError::BadNodeId(_) => "node",
    };
    ConvertError::new(
        field,
        FieldDefect::InvalidId {
            kind,
            value: value.to_owned(),
            source,
        },
    )
}

/// A required cluster id.
pub(crate) fn cluster_id(field: &'static str, value: &str) -> Result<ClusterId, ConvertError> {
    ClusterId::new(value).map_err(|e| invalid_id(field, value, e))
}

/// A cluster id where the empty string means "none".
pub(crate) fn optional_cluster_id(
    field: &'static str,
    value: &str,
) -> Result<Option<ClusterId>, ConvertError> {
    if value.is_empty() {
        Ok(None)
    } else {
        cluster_id(field, value).map(Some)
    }
}

/// A required namespace id.
pub(crate) fn namespace_id(field: &'static str, value: &str) -> Result<NamespaceId, ConvertError> {
    NamespaceId::new(value).map_err(|e| invalid_id(field, value, e))
}

/// A required node id: the contract reserves 0 for "unset".
pub(crate) fn node_id(field: &'static str, value: u64) -> Result<NodeId, ConvertError> {
    if value == 0 {
        Err(ConvertError::new(field, FieldDefect::Missing))
    } else {
        Ok(NodeId(value))
    }
}

/// Text where the empty string means "none" (proto3 cannot tell empty from absent).
pub(crate) fn optional_text(value: String) -> Option<String> {
    if value.is_empty() { None } else { Some(value) }
}

/// The wire form of [`optional_text`].
pub(crate) fn text_or_empty(value: Option<&String>) -> String {
    value.cloned().unwrap_or_default()
}

/// A required enum: an unknown number and `_UNSPECIFIED` (always 0) are both refused.
pub(crate) fn required_enum<E: TryFrom<i32>>(
    field: &'static str,
    value: i32,
) -> Result<E, ConvertError> {
    if value == 0 {
        return Err(ConvertError::new(field, FieldDefect::Unspecified));
    }
    E::try_from(value).map_err(|_| ConvertError::new(field, FieldDefect::UnknownEnumValue(value)))
}

/// A required submessage.
pub(crate) fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ConvertError> {
    value.ok_or_else(|| ConvertError::new(field, FieldDefect::Missing))
}

/// An origin sequence number: they count from 1.
pub(crate) fn origin_seq(field: &'static str, value: u64) -> Result<u64, ConvertError> {
    if value == 0 {
        Err(ConvertError::new(
            field,
            FieldDefect::OutOfRange {
                value: "0".to_owned(),
                allowed: "origin_seq counts from 1",
            },
        ))
    } else {
        Ok(value)
    }
}

/// A core instant leaving the node as wall-clock time.
///
/// Where an instant crosses the wire as `*_unix_nanos`, the io layer feeds core instants
/// counted from the Unix epoch (UTC), so the mapping is the identity on nanoseconds. Core
/// instants past `i64::MAX` ns (the year 2262) saturate there: the wire field is signed.
pub(crate) fn unix_nanos(at: Instant) -> i64 {
    i64::try_from(at.as_nanos()).unwrap_or(i64::MAX)
}

/// The inverse of [`unix_nanos`]: instants before the epoch do not exist on core's clock.
pub(crate) fn instant_from_unix_nanos(
    field: &'static str,
    value: i64,
) -> Result<Instant, ConvertError> {
    u64::try_from(value).map(Instant::from_nanos).map_err(|_| {
        ConvertError::new(
            field,
            FieldDefect::OutOfRange {
                value: value.to_string(),
                allowed: "nanoseconds since the Unix epoch, not before it",
            },
        )
    })
}

/// The element `i` of a repeated field, for error context: `EventBatch.events[2]`.
pub(crate) fn nth(field: &'static str, i: usize) -> String {
    format!("{field}[{i}]")
}
