//! Compiles the protocol definitions with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["tfplugin6.proto", "grpc_controller.proto", "grpc_stdio.proto", "grpc_broker.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Newer RPCs we do not serve answer Unimplemented, which Terraform tolerates for them.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
