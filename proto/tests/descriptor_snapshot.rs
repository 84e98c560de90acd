//! Today's descriptors against the committed snapshot `tests/fixtures/descriptors.binpb`,
//! with the rules of `compat` (buf breaking, FILE/WIRE). Updating the snapshot is an
//! explicit act: `OMNIRELAY_UPDATE_PROTO_SNAPSHOT=1 cargo test -p omnirelay-proto`.

use std::path::PathBuf;

use omnirelay_proto::compat::{breaking_changes, current_descriptor_set, without_source_info};
use prost::Message;
use prost_types::FileDescriptorSet;

const UPDATE_ENV: &str = "OMNIRELAY_UPDATE_PROTO_SNAPSHOT";

#[test]
fn todays_descriptors_break_nothing_in_the_committed_snapshot() {
    let today = without_source_info(current_descriptor_set().expect("embedded set decodes"));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/descriptors.binpb");
    let updating = std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1");

    let snapshot = match std::fs::read(&path) {
        Ok(bytes) => FileDescriptorSet::decode(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{} is not a FileDescriptorSet: {e}", path.display())),
        Err(_) if updating => FileDescriptorSet::default(),
        Err(e) => panic!(
            "cannot read the descriptor snapshot {}: {e}; create it with {UPDATE_ENV}=1",
            path.display()
        ),
    };
    let violations = breaking_changes(&snapshot, &today);
    let listing: String = violations.iter().map(|v| format!("  {v}\n")).collect();

    if updating {
        if !violations.is_empty() {
            eprintln!("{UPDATE_ENV}=1: recording these breaking changes:\n{listing}");
        }
        std::fs::write(&path, today.encode_to_vec())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }

    assert!(
        violations.is_empty(),
        "{} breaking change(s) against {}:\n{listing}\
         Removed fields and enum values must be `reserved` (number and name). If the break \
         is intended, record it with {UPDATE_ENV}=1 cargo test -p omnirelay-proto",
        violations.len(),
        path.display()
    );
    // Additions must be recorded too, or a later removal of them would go unnoticed.
    assert!(
        snapshot == today,
        "the .proto files changed compatibly but {} does not record it yet: run \
         {UPDATE_ENV}=1 cargo test -p omnirelay-proto and commit the snapshot",
        path.display()
    );
}
