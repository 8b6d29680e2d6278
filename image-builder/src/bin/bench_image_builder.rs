//! Benchmark P3 and P4 (run by hand, not part of `cargo test`):
//!
//! P3: `image-builder build` vs `docker build` of the same generated context on the same engine
//! and the same builder, cold (the image and its build cache removed before each run) and warm
//! (unchanged rebuild), medians of several interleaved runs side by side. Both use the engine's
//! classic builder: image-builder asks for it in the build API (`version=1`), the docker CLI is
//! run with `DOCKER_BUILDKIT=0`, so neither gets BuildKit's cache. The classic builder's cache
//! is the intermediate images under the base image; "cold" removes every image descending from
//! the bench's own freshly imported base (tags and cache layers, only what the bench made; no
//! `docker builder prune`, which would empty other users' BuildKit cache and that neither build
//! uses).
//! P4: bytes sent to the registry by a second, unchanged push (measured by a counting proxy in
//! front of Debian's docker-registry, plus the number of blob upload requests in its log).
//!
//! `cargo run --release -p sparkoss-image-builder --bin bench-image-builder [-- RUNS | --quick]`
//! (`--quick`, for CI: one run.)

use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::Digest;
use sparkoss_image_builder::catalog::Jar;
use sparkoss_image_builder::context::{build_context, ContextInput};
use sparkoss_image_builder::engine::Engine;
use sparkoss_image_builder::maven::VerifiedJar;
use sparkoss_image_builder::testkit::{import_base_image, sha256_hex, FileServer, ImageCleanup, Registry};

type BoxError = Box<dyn std::error::Error>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn run(cmd: &mut Command) -> Result<f64, BoxError> {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(secs)
}

/// Every image (tagged or a classic-builder cache layer) whose parent chain reaches `base_id`,
/// parents before children.
fn descendants(base_id: &str) -> Result<Vec<String>, BoxError> {
    let out = Command::new("docker").args(["images", "-a", "-q", "--no-trunc"]).output()?;
    if !out.status.success() {
        return Err(format!("docker images: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}} {{.Parent}}"]).args(&ids).output()?;
    // An image removed between the two calls makes inspect fail for it alone: use what it printed.
    let pairs: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(id, parent)| (id.to_owned(), parent.to_owned())))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![base_id.to_owned()];
    while let Some(parent) = frontier.pop() {
        for (id, _) in pairs.iter().filter(|(_, p)| *p == parent) {
            found.push(id.clone());
            frontier.push(id.clone());
        }
    }
    Ok(found)
}

/// Makes the next build cold: removes every image built on the bench's base (children first:
/// the engine refuses to remove an image that has children); returns how many.
fn clear_builds(base_id: &str) -> Result<usize, BoxError> {
    let mut images = descendants(base_id)?;
    images.reverse();
    for id in &images {
        let out = Command::new("docker").args(["rmi", "-f", id]).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !err.contains("No such image") {
            return Err(format!("docker rmi {id}: {err}").into());
        }
    }
    let left = descendants(base_id)?;
    if !left.is_empty() {
        return Err(format!("{} images built on the bench base remain after removal", left.len()).into());
    }
    Ok(images.len())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs: usize = std::env::args().skip(1).find(|a| a != "--quick").and_then(|a| a.parse().ok()).unwrap_or(if quick { 1 } else { 5 });
    let exe = std::env::current_exe()?;
    let image_builder = exe.with_file_name("image-builder");
    if !image_builder.exists() {
        return Err(format!("{} not found: build it with the same profile", image_builder.display()).into());
    }
    let dir = tempfile::tempdir()?;
    let cleanup = ImageCleanup::default();
    let engine = Engine::connect().await?;
    let unique = std::process::id();
    let base = format!("sparkoss-bench/spark:3.5.3-{unique}");
    cleanup.add(&base);
    import_base_image(engine.docker(), &base, "3.5.3").await?;
    let base_id = engine.image_id(&base).await?;

    // Jars about the size of the real ones (hadoop-aliyun ~0.1 MB, aliyun-sdk-oss ~0.6 MB, jdom2 ~0.3 MB).
    let maven = FileServer::start()?;
    let mut jars = Vec::new();
    let mut catalog = String::from(
        "[[line]]\nspark = \"3.5\"\ndefault_version = \"3.5.3\"\nbase_image = \"apache/spark:{version}\"\nhadoop = \"3.3.4\"\njars = [\n",
    );
    for (g, a, v, kb) in [
        ("org.apache.hadoop", "hadoop-aliyun", "3.3.4", 120usize),
        ("com.aliyun.oss", "aliyun-sdk-oss", "3.17.4", 640),
        ("org.jdom", "jdom2", "2.0.6.1", 330),
    ] {
        let mut bytes = Vec::with_capacity(kb * 1024);
        let mut block = sha2::Sha256::digest(a.as_bytes()).to_vec();
        while bytes.len() < kb * 1024 {
            block = sha2::Sha256::digest(&block).to_vec();
            bytes.extend_from_slice(&block);
        }
        let jar = Jar { group: g.into(), artifact: a.into(), version: v.into(), sha256: Some(sha256_hex(&bytes)) };
        maven.put_jar(&jar, &bytes);
        catalog
            .push_str(&format!("  {{ group = \"{g}\", artifact = \"{a}\", version = \"{v}\", sha256 = \"{}\" }},\n", sha256_hex(&bytes)));
        let source = format!("{}/{}", maven.url, jar.repo_path());
        jars.push(VerifiedJar {
            sha256: sha256_hex(&bytes),
            jar,
            bytes,
            cached: false,
            anchor: sparkoss_image_builder::maven::Anchor::CatalogPin,
            source,
        });
    }
    catalog.push_str("]\n");
    let catalog_path = dir.path().join("catalog.toml");
    std::fs::write(&catalog_path, catalog)?;
    let launcher = dir.path().join("sparkoss-launcher");
    std::fs::write(&launcher, b"#!/bin/sh\necho sparkoss-launcher stand-in\n")?;

    // The same generated context, unpacked for `docker build`.
    let selection = sparkoss_image_builder::catalog::Catalog::load(&catalog_path)?.select("3.5.3", None, Some(&base))?;
    let ctx = build_context(&ContextInput { selection, jars, launcher: std::fs::read(&launcher)?, extra_labels: Default::default() })?;
    let ctx_dir = dir.path().join("context");
    tar::Archive::new(ctx.tar.as_slice()).unpack(&ctx_dir)?;

    let ib_tag = format!("sparkoss-bench/ib:{unique}");
    let db_tag = format!("sparkoss-bench/docker:{unique}");
    cleanup.add(&ib_tag);
    cleanup.add(&db_tag);
    let cache_root = dir.path().join("cache");
    // The lock goes beside the catalog, not into the directory the benchmark is run from.
    let lockfile = dir.path().join("sparkoss-image.lock");
    let ib_tagged = |cache: &std::path::Path, tag: &str| {
        let mut c = Command::new(&image_builder);
        c.args(["build", "--spark", "3.5.3", "--catalog"])
            .arg(&catalog_path)
            .arg("--launcher")
            .arg(&launcher)
            .args(["--maven-repo", &maven.url, "--base-image", &base, "--tag", tag, "--cache-dir"])
            .arg(cache)
            .arg("--lockfile")
            .arg(&lockfile);
        c
    };
    let ib = |cache: &std::path::Path| ib_tagged(cache, &ib_tag);
    let db = || {
        let mut c = Command::new("docker");
        // The classic builder, as image-builder's build uses (see the module docs).
        c.env("DOCKER_BUILDKIT", "0").args(["build", "-q", "-t", &db_tag]).arg(&ctx_dir);
        c
    };
    let (mut ib_cold, mut db_cold, mut ib_warm, mut db_warm) = (vec![], vec![], vec![], vec![]);
    let mut cleared = Vec::new();
    for i in 0..runs {
        // Cold: no image, no build cache for these layers, and (for image-builder) no jar cache either.
        cleared.push(clear_builds(&base_id)?);
        ib_cold.push(run(&mut ib(&cache_root.join(format!("cold-{i}"))))?);
        cleared.push(clear_builds(&base_id)?);
        db_cold.push(run(&mut db())?);
        // Warm: unchanged rebuild (jar cache warm too).
        ib_warm.push(run(&mut ib(&cache_root.join(format!("cold-{i}"))))?);
        db_warm.push(run(&mut db())?);
    }
    println!("P3 build time, median of {runs} interleaved runs (seconds), same engine, same builder:");
    println!("  image-builder: classic builder (Engine API POST /build, version=1)");
    println!("  docker build : classic builder (DOCKER_BUILDKIT=0)");
    println!(
        "  cold: the image and its classic-builder cache layers removed before each build ({}-{} images each time)",
        cleared.iter().min().unwrap_or(&0),
        cleared.iter().max().unwrap_or(&0)
    );
    println!("{:<8} {:>14} {:>14} {:>8}", "", "image-builder", "docker build", "ratio");
    for (name, a, b) in [("cold", &ib_cold, &db_cold), ("warm", &ib_warm, &db_warm)] {
        let (ma, mb) = (median(a.clone()), median(b.clone()));
        println!("{name:<8} {ma:>14.3} {mb:>14.3} {:>7.2}x", ma / mb);
    }
    println!("  note: image-builder's cold time includes downloading and verifying the jars from a local HTTP Maven repo;");
    println!("        docker build gets them already on disk in the context directory.");

    // P4: push twice through the counting proxy.
    let registry = Registry::start("bench", "bench-pw")?;
    let push_tag = format!("{}/sparkoss/bench-{unique}:3.5.3", registry.host);
    cleanup.add(&push_tag);
    let push = |cmd: &mut Command| -> Result<f64, BoxError> {
        let t = Instant::now();
        let mut child = cmd
            .args(["--push", "--engine", "--registry-username", "bench", "--registry-password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut i) = child.stdin.take() {
            std::io::Write::write_all(&mut i, b"bench-pw")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("push failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let cache = cache_root.join("push");
    let (b0, u0) = (registry.bytes_received(), registry.blob_upload_requests());
    let t1 = push(&mut ib_tagged(&cache, &push_tag))?;
    let (b1, u1) = (registry.bytes_received(), registry.blob_upload_requests());
    let t2 = push(&mut ib_tagged(&cache, &push_tag))?;
    let (b2, u2) = (registry.bytes_received(), registry.blob_upload_requests());
    println!("P4 push bytes sent to the registry (all HTTP bytes, counted by a proxy)");
    println!("  first push : {:>10} bytes, {:>3} blob upload requests, {t1:.3} s (build+push)", b1 - b0, u1 - u0);
    println!("  second push: {:>10} bytes, {:>3} blob upload requests, {t2:.3} s (build+push)", b2 - b1, u2 - u1);
    println!(
        "  second push layer bytes: {} (requests other than blob uploads: HEAD checks and the manifest PUT)",
        if u2 == u1 { 0 } else { b2 - b1 }
    );
    Ok(())
}
