//! `image-builder`: builds the OSS-enabled Spark image through the Docker Engine API.
//!
//! Not built yet (see the image-builder issue); this placeholder says so rather than pretend.

fn main() -> std::process::ExitCode {
    eprintln!("image-builder: not implemented yet in this version of sparkoss");
    std::process::ExitCode::from(2)
}
