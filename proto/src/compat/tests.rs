//! Each test mutates today's descriptors in memory the way a careless edit of a `.proto`
//! file would, and checks that the checker reports exactly that break (buf's FILE/WIRE
//! rules), and nothing for the edits the rules allow.

use prost_types::descriptor_proto::ReservedRange;
use prost_types::enum_descriptor_proto::EnumReservedRange;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorSet, ServiceDescriptorProto,
};

use super::*;

fn today() -> FileDescriptorSet {
    without_source_info(current_descriptor_set().expect("the build embeds a valid set"))
}

fn message<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut DescriptorProto {
    set.file
        .iter_mut()
        .flat_map(|f| f.message_type.iter_mut())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("message {name} exists"))
}

fn field<'a>(
    set: &'a mut FileDescriptorSet,
    msg: &str,
    name: &str,
) -> &'a mut FieldDescriptorProto {
    message(set, msg)
        .field
        .iter_mut()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("field {msg}.{name} exists"))
}

fn remove_field(set: &mut FileDescriptorSet, msg: &str, name: &str) -> FieldDescriptorProto {
    let fields = &mut message(set, msg).field;
    let at = fields
        .iter()
        .position(|f| f.name() == name)
        .unwrap_or_else(|| panic!("field {msg}.{name} exists"));
    fields.remove(at)
}

fn enumeration<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut EnumDescriptorProto {
    set.file
        .iter_mut()
        .flat_map(|f| f.enum_type.iter_mut())
        .find(|e| e.name() == name)
        .unwrap_or_else(|| panic!("enum {name} exists"))
}

fn service<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut ServiceDescriptorProto {
    set.file
        .iter_mut()
        .flat_map(|f| f.service.iter_mut())
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("service {name} exists"))
}

fn one(path: &str, change: Change) -> Vec<Violation> {
    vec![Violation {
        path: path.to_owned(),
        change,
    }]
}

#[test]
fn unchanged_descriptors_have_no_breaking_change() {
    assert_eq!(breaking_changes(&today(), &today()), vec![]);
}

#[test]
fn renumbering_a_field_is_breaking() {
    let mut new = today();
    field(&mut new, "Event", "origin_seq").number = Some(30);
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.origin_seq (3)",
            Change::FieldRenumbered { new_number: 30 }
        )
    );
}

#[test]
fn deleting_a_field_without_reserving_it_is_breaking() {
    let mut new = today();
    remove_field(&mut new, "Event", "failover_version");
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.failover_version (4)",
            Change::FieldRemoved
        )
    );
}

#[test]
fn deleting_a_field_with_its_number_reserved_is_compatible() {
    let mut new = today();
    remove_field(&mut new, "Event", "failover_version");
    message(&mut new, "Event")
        .reserved_range
        .push(ReservedRange {
            start: Some(4),
            end: Some(5),
        });
    assert_eq!(breaking_changes(&today(), &new), vec![]);
}

#[test]
fn deleting_a_field_with_its_name_reserved_is_compatible() {
    let mut new = today();
    remove_field(&mut new, "Event", "failover_version");
    message(&mut new, "Event")
        .reserved_name
        .push("failover_version".to_owned());
    assert_eq!(breaking_changes(&today(), &new), vec![]);
}

#[test]
fn a_reserved_range_ending_just_before_the_number_does_not_cover_it() {
    // Message ranges are half-open: [3, 4) reserves 3 only.
    let mut new = today();
    remove_field(&mut new, "Event", "failover_version");
    message(&mut new, "Event")
        .reserved_range
        .push(ReservedRange {
            start: Some(3),
            end: Some(4),
        });
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.failover_version (4)",
            Change::FieldRemoved
        )
    );
}

#[test]
fn changing_a_scalar_type_is_breaking_and_reads_like_buf() {
    let mut new = today();
    field(&mut new, "Event", "origin_seq").r#type = Some(Type::String.into());
    let found = breaking_changes(&today(), &new);
    assert_eq!(
        found,
        one(
            "omnirelay.v1.Event.origin_seq (3)",
            Change::FieldTypeChanged {
                old: "uint64".to_owned(),
                new: "string".to_owned()
            }
        )
    );
    assert_eq!(
        found[0].to_string(),
        "omnirelay.v1.Event.origin_seq (3): type changed uint64 -> string"
    );
}

#[test]
fn changing_a_message_field_type_name_is_breaking() {
    let mut new = today();
    field(&mut new, "ReplicationAck", "version_vector").type_name =
        Some(".omnirelay.v1.EventBatch".to_owned());
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.ReplicationAck.version_vector (3)",
            Change::FieldTypeChanged {
                old: "omnirelay.v1.ClusterVersionVector".to_owned(),
                new: "omnirelay.v1.EventBatch".to_owned()
            }
        )
    );
}

#[test]
fn making_a_field_repeated_is_breaking() {
    let mut new = today();
    field(&mut new, "Event", "key").label = Some(Label::Repeated.into());
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.key (5)",
            Change::FieldCardinalityChanged {
                old: Cardinality::Singular,
                new: Cardinality::Repeated
            }
        )
    );
}

#[test]
fn renaming_a_field_breaks_json() {
    let mut new = today();
    let renamed = field(&mut new, "Event", "origin_seq");
    renamed.name = Some("seq".to_owned());
    renamed.json_name = Some("seq".to_owned());
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.origin_seq (3)",
            Change::FieldRenamed {
                old: "origin_seq".to_owned(),
                new: "seq".to_owned()
            }
        )
    );
}

#[test]
fn moving_a_field_out_of_its_oneof_is_breaking() {
    let mut new = today();
    field(&mut new, "ReplicationFrame", "batch").oneof_index = None;
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.ReplicationFrame.batch (2)",
            Change::FieldOneofChanged {
                old: Some("body".to_owned()),
                new: None
            }
        )
    );
}

#[test]
fn removing_an_enum_value_without_reserving_it_is_breaking() {
    let mut new = today();
    enumeration(&mut new, "MemberStatus")
        .value
        .retain(|v| v.name() != "MEMBER_STATUS_LEFT");
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.MemberStatus.MEMBER_STATUS_LEFT (4)",
            Change::EnumValueRemoved
        )
    );
}

#[test]
fn removing_an_enum_value_with_its_number_reserved_is_compatible() {
    // Enum ranges are closed: [4, 4] reserves 4.
    let mut new = today();
    let status = enumeration(&mut new, "MemberStatus");
    status.value.retain(|v| v.name() != "MEMBER_STATUS_LEFT");
    status.reserved_range.push(EnumReservedRange {
        start: Some(4),
        end: Some(4),
    });
    assert_eq!(breaking_changes(&today(), &new), vec![]);
}

#[test]
fn renaming_an_enum_value_breaks_json() {
    let mut new = today();
    let status = enumeration(&mut new, "MemberStatus");
    for value in &mut status.value {
        if value.name() == "MEMBER_STATUS_LEFT" {
            value.name = Some("MEMBER_STATUS_DEPARTED".to_owned());
        }
    }
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.MemberStatus.MEMBER_STATUS_LEFT (4)",
            Change::EnumValueRenamed {
                old: "MEMBER_STATUS_LEFT".to_owned(),
                new: "MEMBER_STATUS_DEPARTED".to_owned()
            }
        )
    );
}

#[test]
fn removing_a_message_or_an_enum_is_breaking() {
    let mut new = today();
    for file in &mut new.file {
        file.message_type.retain(|m| m.name() != "Nack");
        file.enum_type.retain(|e| e.name() != "GossipScope");
    }
    let found = breaking_changes(&today(), &new);
    assert_eq!(
        found,
        vec![
            Violation {
                path: "omnirelay.v1.GossipScope".to_owned(),
                change: Change::EnumRemoved
            },
            Violation {
                path: "omnirelay.v1.Nack".to_owned(),
                change: Change::MessageRemoved
            },
        ]
    );
}

#[test]
fn removing_a_method_is_breaking() {
    let mut new = today();
    service(&mut new, "Consensus")
        .method
        .retain(|m| m.name() != "TimeoutNow");
    assert_eq!(
        breaking_changes(&today(), &new),
        one("omnirelay.v1.Consensus.TimeoutNow", Change::MethodRemoved)
    );
}

#[test]
fn removing_a_service_is_breaking() {
    let mut new = today();
    for file in &mut new.file {
        file.service.retain(|s| s.name() != "Leadership");
    }
    assert_eq!(
        breaking_changes(&today(), &new),
        one("omnirelay.v1.Leadership", Change::ServiceRemoved)
    );
}

#[test]
fn changing_a_method_request_type_or_streaming_is_breaking() {
    let mut new = today();
    let watch = service(&mut new, "Leadership")
        .method
        .iter_mut()
        .find(|m| m.name() == "Watch")
        .expect("Leadership.Watch exists");
    watch.server_streaming = Some(false);
    watch.input_type = Some(".omnirelay.v1.LeadershipEvent".to_owned());
    assert_eq!(
        breaking_changes(&today(), &new),
        vec![
            Violation {
                path: "omnirelay.v1.Leadership.Watch".to_owned(),
                change: Change::MethodRequestTypeChanged {
                    old: "omnirelay.v1.WatchLeadershipRequest".to_owned(),
                    new: "omnirelay.v1.LeadershipEvent".to_owned()
                }
            },
            Violation {
                path: "omnirelay.v1.Leadership.Watch".to_owned(),
                change: Change::MethodStreamingChanged {
                    side: CallSide::Response,
                    old_streaming: true,
                    new_streaming: false
                }
            },
        ]
    );
}

#[test]
fn changing_a_file_package_is_breaking() {
    let mut new = today();
    let file = new
        .file
        .iter_mut()
        .find(|f| f.name() == "omnirelay/v1/leadership.proto")
        .expect("leadership.proto exists");
    file.package = Some("omnirelay.v2".to_owned());
    let found = breaking_changes(&today(), &new);
    assert!(found.contains(&Violation {
        path: "omnirelay/v1/leadership.proto".to_owned(),
        change: Change::PackageChanged {
            old: "omnirelay.v1".to_owned(),
            new: "omnirelay.v2".to_owned()
        }
    }));
    // Its types are gone from omnirelay.v1 too.
    assert!(found.contains(&Violation {
        path: "omnirelay.v1.LeadershipEvent".to_owned(),
        change: Change::MessageRemoved
    }));
}

#[test]
fn additions_are_never_breaking() {
    let mut new = today();
    message(&mut new, "Event").field.push(FieldDescriptorProto {
        name: Some("trace_id".to_owned()),
        json_name: Some("traceId".to_owned()),
        number: Some(8),
        label: Some(Label::Optional.into()),
        r#type: Some(Type::Bytes.into()),
        ..Default::default()
    });
    enumeration(&mut new, "MemberStatus")
        .value
        .push(EnumValueDescriptorProto {
            name: Some("MEMBER_STATUS_QUARANTINED".to_owned()),
            number: Some(5),
            options: None,
        });
    if let Some(file) = new.file.first_mut() {
        file.message_type.push(DescriptorProto {
            name: Some("Brand".to_owned()),
            ..Default::default()
        });
    }
    assert_eq!(breaking_changes(&today(), &new), vec![]);
}

#[test]
fn giving_a_field_explicit_presence_is_a_cardinality_change() {
    // proto3 `optional` changes generated code (Option<T>) and JSON presence: FILE rule.
    let mut new = today();
    field(&mut new, "Event", "key").proto3_optional = Some(true);
    assert_eq!(
        breaking_changes(&today(), &new),
        one(
            "omnirelay.v1.Event.key (5)",
            Change::FieldCardinalityChanged {
                old: Cardinality::Singular,
                new: Cardinality::Optional
            }
        )
    );
}
