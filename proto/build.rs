//! Compiles `proto/omnirelay/v1/*.proto` without `protoc`: protox parses them into a
//! FileDescriptorSet, which is written to OUT_DIR (for reflection and the compatibility
//! check) and handed to tonic-prost-build for code generation.

use std::path::{Path, PathBuf};

const PROTO_ROOT: &str = "proto";
const PROTO_DIR: &str = "proto/omnirelay/v1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(PROTO_DIR)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    // Sorted so the descriptor set's bytes do not depend on directory order.
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        Path::new(&out_dir).join("omnirelay_descriptor.binpb"),
        prost::Message::encode_to_vec(&fds),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
