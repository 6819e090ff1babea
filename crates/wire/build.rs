//! Compiles `proto/*.proto` with protox (pure Rust), so a build needs no system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        root.join("controller/api/resources/targets/v1/authorization.proto"),
        root.join("worker/proxy/v1/proxy.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    // Messages holding secrets get a hand-written Debug that masks them (see lib.rs).
    prost_build::Config::new()
        .skip_debug([
            "controller.api.resources.targets.v1.SessionAuthorizationData",
            "worker.proxy.v1.ClientHandshake",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
