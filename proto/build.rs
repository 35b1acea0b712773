//! Compiles `schema/*.proto` with protox (pure Rust), so building needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["schema/attestation.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["schema"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
