//! House rules of the `.proto` files that `protox` does not enforce by itself: every
//! element documented (they are the contract later issues implement against), enums that
//! start at `_UNSPECIFIED = 0`, no protobuf maps (their encoding order is unspecified),
//! one package.

use omnirelay_proto::compat::current_descriptor_set;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};

// Field numbers of descriptor.proto used in SourceCodeInfo paths.
const FILE_MESSAGE_TYPE: i32 = 4;
const FILE_ENUM_TYPE: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED_TYPE: i32 = 3;
const MESSAGE_ENUM_TYPE: i32 = 4;
const MESSAGE_ONEOF_DECL: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

fn set() -> FileDescriptorSet {
    current_descriptor_set().expect("embedded set decodes")
}

fn index(i: usize) -> i32 {
    i32::try_from(i).expect("fewer than 2^31 elements")
}

/// Names of elements without a leading or trailing comment.
struct Undocumented<'a> {
    file: &'a FileDescriptorProto,
    missing: Vec<String>,
}

impl Undocumented<'_> {
    fn require(&mut self, path: &[i32], what: String) {
        let documented = self.file.source_code_info.as_ref().is_some_and(|info| {
            info.location.iter().any(|l| {
                l.path == path
                    && (!l.leading_comments().trim().is_empty()
                        || !l.trailing_comments().trim().is_empty())
            })
        });
        if !documented {
            self.missing.push(what);
        }
    }

    fn message(&mut self, path: Vec<i32>, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        self.require(&path, format!("message {name}"));
        for (i, field) in message.field.iter().enumerate() {
            self.require(
                &[path.as_slice(), &[MESSAGE_FIELD, index(i)]].concat(),
                format!("field {name}.{}", field.name()),
            );
        }
        for (i, oneof) in message.oneof_decl.iter().enumerate() {
            self.require(
                &[path.as_slice(), &[MESSAGE_ONEOF_DECL, index(i)]].concat(),
                format!("oneof {name}.{}", oneof.name()),
            );
        }
        for (i, nested) in message.nested_type.iter().enumerate() {
            self.message(
                [path.as_slice(), &[MESSAGE_NESTED_TYPE, index(i)]].concat(),
                &name,
                nested,
            );
        }
        for (i, enumeration) in message.enum_type.iter().enumerate() {
            self.enumeration(
                [path.as_slice(), &[MESSAGE_ENUM_TYPE, index(i)]].concat(),
                &name,
                enumeration,
            );
        }
    }

    fn enumeration(&mut self, path: Vec<i32>, scope: &str, enumeration: &EnumDescriptorProto) {
        let name = format!("{scope}.{}", enumeration.name());
        self.require(&path, format!("enum {name}"));
        for (i, value) in enumeration.value.iter().enumerate() {
            self.require(
                &[path.as_slice(), &[ENUM_VALUE, index(i)]].concat(),
                format!("enum value {name}.{}", value.name()),
            );
        }
    }
}

#[test]
fn every_message_field_enum_value_service_and_method_is_documented() {
    let set = set();
    let mut missing = Vec::new();
    for file in &set.file {
        let mut check = Undocumented {
            file,
            missing: Vec::new(),
        };
        for (i, message) in file.message_type.iter().enumerate() {
            check.message(vec![FILE_MESSAGE_TYPE, index(i)], file.package(), message);
        }
        for (i, enumeration) in file.enum_type.iter().enumerate() {
            check.enumeration(vec![FILE_ENUM_TYPE, index(i)], file.package(), enumeration);
        }
        for (i, service) in file.service.iter().enumerate() {
            let name = format!("{}.{}", file.package(), service.name());
            check.require(&[FILE_SERVICE, index(i)], format!("service {name}"));
            for (j, method) in service.method.iter().enumerate() {
                check.require(
                    &[FILE_SERVICE, index(i), SERVICE_METHOD, index(j)],
                    format!("method {name}.{}", method.name()),
                );
            }
        }
        missing.extend(check.missing);
    }
    assert!(
        missing.is_empty(),
        "undocumented:\n  {}",
        missing.join("\n  ")
    );
}

fn all_enums(set: &FileDescriptorSet) -> Vec<&EnumDescriptorProto> {
    fn nested<'a>(message: &'a DescriptorProto, out: &mut Vec<&'a EnumDescriptorProto>) {
        out.extend(&message.enum_type);
        for inner in &message.nested_type {
            nested(inner, out);
        }
    }
    let mut out = Vec::new();
    for file in &set.file {
        out.extend(&file.enum_type);
        for message in &file.message_type {
            nested(message, &mut out);
        }
    }
    out
}

/// `MemberStatus` -> `MEMBER_STATUS`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn every_enum_starts_with_its_unspecified_value_at_zero() {
    let set = set();
    let enums = all_enums(&set);
    assert!(!enums.is_empty());
    for enumeration in enums {
        let expected = format!("{}_UNSPECIFIED", screaming_snake(enumeration.name()));
        let first = enumeration.value.first().expect("an enum has values");
        assert_eq!(
            (first.name(), first.number()),
            (expected.as_str(), 0),
            "enum {}",
            enumeration.name()
        );
    }
}

#[test]
fn no_message_uses_a_protobuf_map_so_encodings_are_deterministic() {
    fn maps(message: &DescriptorProto, out: &mut Vec<String>) {
        for inner in &message.nested_type {
            if inner.options.as_ref().is_some_and(|o| o.map_entry()) {
                out.push(format!("{}.{}", message.name(), inner.name()));
            }
            maps(inner, out);
        }
    }
    let mut found = Vec::new();
    for file in &set().file {
        for message in &file.message_type {
            maps(message, &mut found);
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn every_file_is_proto3_in_package_omnirelay_v1() {
    let set = set();
    assert!(set.file.len() >= 8, "one file per area");
    for file in &set.file {
        assert_eq!(
            (file.syntax(), file.package()),
            ("proto3", "omnirelay.v1"),
            "{}",
            file.name()
        );
        assert!(file.name().starts_with("omnirelay/v1/"), "{}", file.name());
    }
}

#[test]
fn no_field_uses_the_numbers_protobuf_reserves_for_itself() {
    fn check(message: &DescriptorProto, bad: &mut Vec<String>) {
        for field in &message.field {
            if (19_000..20_000).contains(&field.number()) {
                bad.push(format!("{}.{}", message.name(), field.name()));
            }
        }
        for inner in &message.nested_type {
            check(inner, bad);
        }
    }
    let mut bad = Vec::new();
    for file in &set().file {
        for message in &file.message_type {
            check(message, &mut bad);
        }
    }
    assert_eq!(bad, Vec::<String>::new());
}
