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
//! P8 (the daemonless path, `build --push` without `--engine`): a base image of about 300 MiB
//! (8 MiB with `--quick`) in a source registry; cold build + push into an empty registry (every
//! base blob copied as a stream) against `docker build` + `docker push` of the same context into
//! another empty registry, warm rebuild + push for both, bytes sent to the registry, and the
//! peak RSS of image-builder (VmHWM, polled). Also the cold build + push into the base's own
//! registry, where the base layers are mounted instead of copied.
//!
//! `cargo bench -p sparkoss-image-builder --bench bench-image-builder [-- RUNS | --quick]`
//! (`--quick`, for CI: one run, small base.)

use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::Digest;
use sparkoss_image_builder::catalog::Jar;
use sparkoss_image_builder::context::{build_context, ContextInput};
use sparkoss_image_builder::engine::Engine;
use sparkoss_image_builder::maven::VerifiedJar;
use sparkoss_testkit::base_image::{import_base_image, push_base_image, ImageCleanup};
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::file_server::FileServer;
use sparkoss_testkit::registry::Registry;

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

/// Runs `cmd` (with `stdin` written to it) to completion: seconds, peak RSS in KiB (VmHWM of
/// /proc/PID/status, read every 10 ms until it exits) and stdout.
fn run_measured(cmd: &mut Command, stdin: &[u8]) -> Result<(f64, u64, String), BoxError> {
    let t = Instant::now();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    if let Some(mut i) = child.stdin.take() {
        std::io::Write::write_all(&mut i, stdin)?;
    }
    let status_path = format!("/proc/{}/status", child.id());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop2, path2) = (stop.clone(), status_path.clone());
    let poller = std::thread::spawn(move || {
        let mut peak = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(text) = std::fs::read_to_string(&path2) {
                let hwm =
                    text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                peak = peak.max(hwm.unwrap_or(0));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        peak
    });
    let out = child.wait_with_output()?;
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = poller.join().map_err(|_| "RSS poller panicked")?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok((secs, peak, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// A Docker CLI config directory holding `auths` for `registries` (the docker CLI's push reads it).
fn docker_config(dir: &std::path::Path, registries: &[&Registry]) -> Result<std::path::PathBuf, BoxError> {
    use base64::Engine as _;
    std::fs::create_dir_all(dir)?;
    let mut auths = serde_json::Map::new();
    for r in registries {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", r.username, r.password));
        auths.insert(r.host.clone(), serde_json::json!({ "auth": auth }));
    }
    std::fs::write(dir.join("config.json"), serde_json::json!({ "auths": auths }).to_string())?;
    Ok(dir.to_path_buf())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo bench` adds `--bench` after the arguments given: options are not the run count.
    let runs: usize =
        std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(if quick { 1 } else { 5 });
    // Cargo builds the package's binaries for a benchmark, with the same profile.
    let image_builder = std::path::PathBuf::from(env!("CARGO_BIN_EXE_image-builder"));
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
    let ctx = build_context(&ContextInput {
        selection,
        jars: jars.clone(),
        launcher: std::fs::read(&launcher)?,
        extra_labels: Default::default(),
    })?;
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

    let shared = Shared {
        engine: &engine,
        image_builder: &image_builder,
        catalog: &catalog_path,
        launcher: &launcher,
        maven: &maven,
        jars: &jars,
        cleanup: &cleanup,
        dir: dir.path(),
    };
    p6(&shared, quick).await
}

/// What P8 shares with P3/P4: the binaries, the catalog and its Maven repository, the jars.
struct Shared<'a> {
    engine: &'a Engine,
    image_builder: &'a std::path::Path,
    catalog: &'a std::path::Path,
    launcher: &'a std::path::Path,
    maven: &'a FileServer,
    jars: &'a [VerifiedJar],
    cleanup: &'a ImageCleanup,
    dir: &'a std::path::Path,
}

/// P8: the daemonless path against `docker build` + `docker push` (see the module docs).
async fn p6(sh: &Shared<'_>, quick: bool) -> Result<(), BoxError> {
    let Shared { engine, image_builder, catalog, launcher, maven, jars, cleanup, dir } = *sh;
    let padding: usize = if quick { 8 << 20 } else { 300 << 20 };
    let unique = std::process::id();
    let source = Registry::start("source", "source-pw")?;
    let base = push_base_image(engine, &source, &format!("sparkoss-bench/base-{unique}"), padding).await?;
    cleanup.add(&base);
    let base_id = engine.image_id(&base).await?;
    let base_bytes = engine.inspect(&base).await?.size.unwrap_or(0);
    let ib_target = Registry::start("target", "target-pw")?;
    let db_target = Registry::start("target", "target-pw")?;
    let config = docker_config(&dir.join("docker-config"), &[&source, &ib_target, &db_target])?;

    // The same context for docker build: the Dockerfile names the same base reference.
    let selection = sparkoss_image_builder::catalog::Catalog::load(catalog)?.select("3.5.3", None, Some(&base))?;
    let cache = dir.join("p6-cache");
    let lockfile = dir.join("p6.lock");
    let ib = |tag: &str, folder: &str| {
        let mut c = Command::new(image_builder);
        c.args(["build", "--spark", "3.5.3", "--catalog"])
            .arg(catalog)
            .arg("--launcher")
            .arg(launcher)
            .args(["--maven-repo", &maven.url, "--base-image", &base, "--tag", tag, "--cache-dir"])
            .arg(cache.join(folder))
            .arg("--lockfile")
            .arg(&lockfile)
            .args(["--push", "--output", "json"])
            .env("DOCKER_CONFIG", &config)
            // No engine: anything that tried to reach one would fail.
            .env("DOCKER_HOST", "tcp://127.0.0.1:9");
        c
    };
    let ctx = build_context(&ContextInput {
        selection,
        jars: jars.to_vec(),
        launcher: std::fs::read(launcher)?,
        extra_labels: Default::default(),
    })?;
    let ctx_dir = dir.join("p6-context");
    tar::Archive::new(ctx.tar.as_slice()).unpack(&ctx_dir)?;
    let db_tag = format!("{}/sparkoss/bench-docker-{unique}:3.5.3", db_target.host);
    cleanup.add(&db_tag);
    let docker_build_push = || -> Result<f64, BoxError> {
        let t = Instant::now();
        run(Command::new("docker").env("DOCKER_BUILDKIT", "0").args(["build", "-q", "-t", &db_tag]).arg(&ctx_dir))?;
        run(Command::new("docker").env("DOCKER_CONFIG", &config).args(["push", "-q", &db_tag]))?;
        Ok(t.elapsed().as_secs_f64())
    };

    let ib_tag = format!("{}/sparkoss/bench-ib-{unique}:3.5.3", ib_target.host);
    clear_builds(&base_id)?;
    let b0 = ib_target.bytes_received();
    let (ib_cold, ib_cold_rss, cold_out) = run_measured(&mut ib(&ib_tag, "cold"), b"")?;
    let b1 = ib_target.bytes_received();
    let (ib_warm, ib_warm_rss, warm_out) = run_measured(&mut ib(&ib_tag, "cold"), b"")?;
    let b2 = ib_target.bytes_received();
    let d0 = db_target.bytes_received();
    let db_cold = docker_build_push()?;
    let d1 = db_target.bytes_received();
    let db_warm = docker_build_push()?;
    let d2 = db_target.bytes_received();
    // Into the base's own registry: base layers mounted.
    let mount_tag = format!("{}/sparkoss/bench-mount-{unique}:3.5.3", source.host);
    let s0 = source.bytes_received();
    let (ib_mount, ib_mount_rss, _) = run_measured(&mut ib(&mount_tag, "mount"), b"")?;
    let s1 = source.bytes_received();
    let cold_doc: serde_json::Value = serde_json::from_str(cold_out.trim())?;
    let warm_doc: serde_json::Value = serde_json::from_str(warm_out.trim())?;
    if cold_doc["digest"] != warm_doc["digest"] {
        return Err(format!("the warm rebuild changed the digest: {} then {}", cold_doc["digest"], warm_doc["digest"]).into());
    }
    let layer_bytes = |d: &serde_json::Value| d["pushed"][0]["bytes_uploaded"].as_u64().unwrap_or(0);

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "P8 daemonless build+push vs docker build + docker push (base image {:.1} MiB, in another registry)",
        mib(base_bytes.max(0) as u64)
    );
    println!("{:<34} {:>10} {:>14} {:>14}", "", "seconds", "bytes sent", "peak RSS MiB");
    println!("{:<34} {:>10.3} {:>14} {:>14.1}", "image-builder cold (copy base)", ib_cold, b1 - b0, ib_cold_rss as f64 / 1024.0);
    println!("{:<34} {:>10.3} {:>14} {:>14}", "docker build + push cold", db_cold, d1 - d0, "-");
    println!("{:<34} {:>10.3} {:>14} {:>14.1}", "image-builder warm", ib_warm, b2 - b1, ib_warm_rss as f64 / 1024.0);
    println!("{:<34} {:>10.3} {:>14} {:>14}", "docker build + push warm", db_warm, d2 - d1, "-");
    println!("{:<34} {:>10.3} {:>14} {:>14.1}", "image-builder cold (mount base)", ib_mount, s1 - s0, ib_mount_rss as f64 / 1024.0);
    println!("  cold ratio image-builder/docker: {:.2}x (goal <= 0.3x); warm ratio {:.2}x", ib_cold / db_cold, ib_warm / db_warm);
    println!(
        "  layer bytes uploaded by image-builder: cold {}, warm {}; digest {} both times",
        layer_bytes(&cold_doc),
        layer_bytes(&warm_doc),
        cold_doc["digest"].as_str().unwrap_or("?")
    );
    println!("  peak RSS goal <= 100 MiB: {:.1} MiB", ib_cold_rss.max(ib_warm_rss).max(ib_mount_rss) as f64 / 1024.0);
    Ok(())
}
