//! Compiles `proto/cluster/v1/cluster.proto` with protox (pure Rust), so a build needs no
//! system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let file = root.join("cluster/v1/cluster.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&root])?;
    // Messages holding secrets get a hand-written Debug that masks them (see lib.rs).
    tonic_prost_build::configure()
        .skip_debug([
            "cluster.v1.ActivateRequest",
            "cluster.v1.WorkerSession",
            "cluster.v1.ActivateSessionRequest",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
