//! `image-builder`: builds the OSS-enabled Spark image and pushes it over the registry API (or through the Docker Engine API).

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = sparkoss_image_builder::cli::Cli::parse();
    let code = sparkoss_image_builder::cli::run(cli).await;
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
