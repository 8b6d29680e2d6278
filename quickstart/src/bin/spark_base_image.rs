//! Builds (or reuses) the local Spark base image, an `apache/spark` look-alike with a real JRE and
//! the real Spark jars, and prints its reference on stdout (progress on stderr).
//!
//! Run: `cargo run -p sparkoss-quickstart --bin spark-base-image [-- REFERENCE] [--json]`

use sparkoss_quickstart::spark_base::ensure_spark_base_image;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let reference = args.iter().find(|a| !a.starts_with("--")).map(String::as_str);
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: spark-base-image [REFERENCE] [--json]");
        return std::process::ExitCode::SUCCESS;
    }
    let started = std::time::Instant::now();
    match ensure_spark_base_image(reference) {
        Ok(image) => {
            if json {
                let doc = serde_json::json!({
                    "reference": image.reference,
                    "spark_version": image.spark_version,
                    "content": image.content,
                    "built": image.built,
                    "seconds": started.elapsed().as_secs_f64(),
                });
                println!("{doc}");
            } else {
                eprintln!("==> {} in {:.1}s", if image.built { "built" } else { "reused" }, started.elapsed().as_secs_f64());
                println!("{}", image.reference);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spark-base-image: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
