//! Builds (or reuses, through the caches) the quick start's Spark image the way a release
//! pipeline does: the local Spark base image, then `image-builder build --push` to a local
//! `docker-registry`; prints the image reference on stdout (progress on stderr). See
//! [`sparkoss_quickstart::image`].
//!
//! Run: `cargo run -p sparkoss-quickstart --bin quickstart-image`

use sparkoss_quickstart::image::build_quickstart_image;

fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: quickstart-image\nbuilds the quick start image and prints its reference");
        return std::process::ExitCode::SUCCESS;
    }
    match build_quickstart_image(&mut |line| eprintln!("    {line}")) {
        Ok(image) => {
            eprintln!("    base image {:.1}s, image-builder build --push {:.1}s", image.base_seconds, image.build_seconds);
            println!("{}", image.reference);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("quickstart-image: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
