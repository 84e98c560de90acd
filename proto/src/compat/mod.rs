//! Breaking-change check between two descriptor sets, after `buf breaking`'s FILE and WIRE
//! rules: what was published must stay decodable, and JSON names must stay stable.
//!
//! Types are matched by fully qualified name across all files (so moving a message to
//! another file of the same package is not a break), fields and enum values by number,
//! methods by name. Additions are never violations.

mod violation;

use std::collections::BTreeMap;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    ServiceDescriptorProto,
};

pub use violation::{CallSide, Cardinality, Change, Violation};

/// Decodes this crate's own descriptor set ([`crate::FILE_DESCRIPTOR_SET`]).
///
/// # Errors
/// Only if the bytes embedded at build time are not a `FileDescriptorSet`, which the
/// build never produces.
pub fn current_descriptor_set() -> Result<FileDescriptorSet, prost::DecodeError> {
    FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET)
}

/// Drops source locations and comments, which change with every edit of a comment and
/// mean nothing on the wire: what a committed snapshot should hold.
#[must_use]
pub fn without_source_info(mut set: FileDescriptorSet) -> FileDescriptorSet {
    for file in &mut set.file {
        file.source_code_info = None;
    }
    set
}

/// Every breaking change from `old` (the committed snapshot) to `new` (today), sorted by
/// path. Empty means `new` can replace `old` on the wire and in JSON.
#[must_use]
pub fn breaking_changes(old: &FileDescriptorSet, new: &FileDescriptorSet) -> Vec<Violation> {
    let mut out = Vec::new();
    check_packages(old, new, &mut out);

    let old_types = TypeIndex::of(old);
    let new_types = TypeIndex::of(new);
    for (name, old_message) in &old_types.messages {
        match new_types.messages.get(name) {
            None => out.push(violation(name.clone(), Change::MessageRemoved)),
            Some(new_message) => check_message(name, old_message, new_message, &mut out),
        }
    }
    for (name, old_enum) in &old_types.enums {
        match new_types.enums.get(name) {
            None => out.push(violation(name.clone(), Change::EnumRemoved)),
            Some(new_enum) => check_enum(name, old_enum, new_enum, &mut out),
        }
    }
    for (name, old_service) in &old_types.services {
        match new_types.services.get(name) {
            None => out.push(violation(name.clone(), Change::ServiceRemoved)),
            Some(new_service) => check_service(name, old_service, new_service, &mut out),
        }
    }
    out.sort();
    out
}

fn violation(path: String, change: Change) -> Violation {
    Violation { path, change }
}

fn check_packages(old: &FileDescriptorSet, new: &FileDescriptorSet, out: &mut Vec<Violation>) {
    for old_file in &old.file {
        let Some(new_file) = new.file.iter().find(|f| f.name == old_file.name) else {
            // A deleted file is reported through the types it held.
            continue;
        };
        if old_file.package() != new_file.package() {
            out.push(violation(
                old_file.name().to_owned(),
                Change::PackageChanged {
                    old: old_file.package().to_owned(),
                    new: new_file.package().to_owned(),
                },
            ));
        }
    }
}

/// Messages, enums and services of a descriptor set by fully qualified name (no leading
/// dot), nested types included.
struct TypeIndex<'a> {
    messages: BTreeMap<String, &'a DescriptorProto>,
    enums: BTreeMap<String, &'a EnumDescriptorProto>,
    services: BTreeMap<String, &'a ServiceDescriptorProto>,
}

impl<'a> TypeIndex<'a> {
    fn of(set: &'a FileDescriptorSet) -> Self {
        let mut index = Self {
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            services: BTreeMap::new(),
        };
        for file in &set.file {
            let package = file.package();
            for message in &file.message_type {
                index.add_message(package, message);
            }
            for enumeration in &file.enum_type {
                index
                    .enums
                    .insert(qualify(package, enumeration.name()), enumeration);
            }
            for service in &file.service {
                index
                    .services
                    .insert(qualify(package, service.name()), service);
            }
        }
        index
    }

    fn add_message(&mut self, scope: &str, message: &'a DescriptorProto) {
        let name = qualify(scope, message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            self.enums
                .insert(qualify(&name, enumeration.name()), enumeration);
        }
        self.messages.insert(name, message);
    }
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

fn check_message(
    message_name: &str,
    old: &DescriptorProto,
    new: &DescriptorProto,
    out: &mut Vec<Violation>,
) {
    for old_field in &old.field {
        let number = old_field.number();
        let path = format!("{message_name}.{} ({number})", old_field.name());
        match new.field.iter().find(|f| f.number() == number) {
            Some(new_field) => check_field(&path, old, old_field, new, new_field, out),
            None if field_number_reserved(new, number)
                || name_reserved(&new.reserved_name, old_field.name()) => {}
            None => {
                let change = match new.field.iter().find(|f| f.name() == old_field.name()) {
                    Some(moved) => Change::FieldRenumbered {
                        new_number: moved.number(),
                    },
                    None => Change::FieldRemoved,
                };
                out.push(violation(path, change));
            }
        }
    }
}

fn check_field(
    path: &str,
    old_message: &DescriptorProto,
    old: &FieldDescriptorProto,
    new_message: &DescriptorProto,
    new: &FieldDescriptorProto,
    out: &mut Vec<Violation>,
) {
    if old.name() != new.name() {
        out.push(violation(
            path.to_owned(),
            Change::FieldRenamed {
                old: old.name().to_owned(),
                new: new.name().to_owned(),
            },
        ));
    } else if old.json_name() != new.json_name() {
        out.push(violation(
            path.to_owned(),
            Change::FieldJsonNameChanged {
                old: old.json_name().to_owned(),
                new: new.json_name().to_owned(),
            },
        ));
    }
    let (old_type, new_type) = (type_label(old), type_label(new));
    if old_type != new_type {
        out.push(violation(
            path.to_owned(),
            Change::FieldTypeChanged {
                old: old_type,
                new: new_type,
            },
        ));
    }
    let (old_card, new_card) = (cardinality(old), cardinality(new));
    if old_card != new_card {
        out.push(violation(
            path.to_owned(),
            Change::FieldCardinalityChanged {
                old: old_card,
                new: new_card,
            },
        ));
    }
    let (old_oneof, new_oneof) = (oneof_name(old_message, old), oneof_name(new_message, new));
    if old_oneof != new_oneof {
        out.push(violation(
            path.to_owned(),
            Change::FieldOneofChanged {
                old: old_oneof,
                new: new_oneof,
            },
        ));
    }
}

/// The field's type as a reader would name it: `uint64`, or the full name of its message
/// or enum type.
fn type_label(field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Message | Type::Enum | Type::Group => {
            field.type_name().trim_start_matches('.').to_owned()
        }
        scalar => scalar
            .as_str_name()
            .trim_start_matches("TYPE_")
            .to_ascii_lowercase(),
    }
}

fn cardinality(field: &FieldDescriptorProto) -> Cardinality {
    match field.label() {
        Label::Repeated => Cardinality::Repeated,
        Label::Required => Cardinality::Required,
        Label::Optional if field.proto3_optional() => Cardinality::Optional,
        // Without a oneof or `optional` keyword a proto3 field has implicit presence;
        // protox marks proto2 files with syntax "proto2" or none.
        Label::Optional => Cardinality::Singular,
    }
}

/// The real oneof a field belongs to; the synthetic oneof of a proto3 `optional` field
/// is covered by its cardinality instead.
fn oneof_name(message: &DescriptorProto, field: &FieldDescriptorProto) -> Option<String> {
    if field.proto3_optional() {
        return None;
    }
    let index = usize::try_from(field.oneof_index?).ok()?;
    message.oneof_decl.get(index).map(|o| o.name().to_owned())
}

/// Message reserved ranges are half-open: `end` is exclusive.
fn field_number_reserved(message: &DescriptorProto, number: i32) -> bool {
    message
        .reserved_range
        .iter()
        .any(|r| r.start() <= number && number < r.end())
}

fn name_reserved(reserved: &[String], name: &str) -> bool {
    reserved.iter().any(|r| r == name)
}

fn check_enum(
    enum_name: &str,
    old: &EnumDescriptorProto,
    new: &EnumDescriptorProto,
    out: &mut Vec<Violation>,
) {
    for old_value in &old.value {
        let number = old_value.number();
        let path = format!("{enum_name}.{} ({number})", old_value.name());
        let mut same_number = new.value.iter().filter(|v| v.number() == number).peekable();
        match same_number.peek() {
            Some(first) => {
                // With `allow_alias` a number may have several names; any may keep the old one.
                let first_name = first.name().to_owned();
                if !same_number.any(|v| v.name() == old_value.name()) {
                    out.push(violation(
                        path,
                        Change::EnumValueRenamed {
                            old: old_value.name().to_owned(),
                            new: first_name,
                        },
                    ));
                }
            }
            None if enum_number_reserved(new, number)
                || name_reserved(&new.reserved_name, old_value.name()) => {}
            None => out.push(violation(path, Change::EnumValueRemoved)),
        }
    }
}

/// Enum reserved ranges are closed: `end` is inclusive.
fn enum_number_reserved(enumeration: &EnumDescriptorProto, number: i32) -> bool {
    enumeration
        .reserved_range
        .iter()
        .any(|r| r.start() <= number && number <= r.end())
}

fn check_service(
    service_name: &str,
    old: &ServiceDescriptorProto,
    new: &ServiceDescriptorProto,
    out: &mut Vec<Violation>,
) {
    for old_method in &old.method {
        let path = format!("{service_name}.{}", old_method.name());
        let Some(new_method) = new.method.iter().find(|m| m.name() == old_method.name()) else {
            out.push(violation(path, Change::MethodRemoved));
            continue;
        };
        let strip = |t: &str| t.trim_start_matches('.').to_owned();
        if old_method.input_type() != new_method.input_type() {
            out.push(violation(
                path.clone(),
                Change::MethodRequestTypeChanged {
                    old: strip(old_method.input_type()),
                    new: strip(new_method.input_type()),
                },
            ));
        }
        if old_method.output_type() != new_method.output_type() {
            out.push(violation(
                path.clone(),
                Change::MethodResponseTypeChanged {
                    old: strip(old_method.output_type()),
                    new: strip(new_method.output_type()),
                },
            ));
        }
        for (side, old_streaming, new_streaming) in [
            (
                CallSide::Request,
                old_method.client_streaming(),
                new_method.client_streaming(),
            ),
            (
                CallSide::Response,
                old_method.server_streaming(),
                new_method.server_streaming(),
            ),
        ] {
            if old_streaming != new_streaming {
                out.push(violation(
                    path.clone(),
                    Change::MethodStreamingChanged {
                        side,
                        old_streaming,
                        new_streaming,
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
