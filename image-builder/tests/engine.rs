//! The engine path (`--engine`) against the real Docker Engine and a real registry (Debian's docker-registry with htpasswd):
//! build → push → read back through the registry API; inspect; cached rebuild with the same id and a
//! push that uploads no layer; wrong password; a corrupted jar pushes nothing.

mod support;

use base64::Engine as _;
use sparkoss_image_builder::engine::Engine;
use sparkoss_testkit::base_image::{import_base_image, ImageCleanup};
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::registry::Registry;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_push_read_back_rebuild_and_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cleanup = ImageCleanup::default();
    let engine = Engine::connect().await.expect("docker engine at DOCKER_HOST or /var/run/docker.sock");
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis()
    );
    let base = format!("sparkoss-test/spark:3.5.3-{unique}");
    cleanup.add(&base);
    import_base_image(engine.docker(), &base, "3.5.3").await.expect("import base image");

    let registry = Registry::start("release", "s3cret-pw").expect("docker-registry");
    let jars = test_jars();
    let maven = maven_with(&jars);
    let catalog = write_catalog(dir.path(), &jars);
    let launcher = stand_in_launcher(dir.path());
    let launcher_sha = sha256_hex(&std::fs::read(&launcher).expect("launcher"));
    let cache = dir.path().join("cache");
    let lockfile = dir.path().join("sparkoss-image.lock");
    let repo = format!("sparkoss/spark-oss-{unique}");
    let tag = format!("{}/{repo}:3.5.3", registry.host);
    cleanup.add(&tag);

    // Credentials from a Docker CLI config.json (`auths`), as a release pipeline after `docker login`.
    let docker_config = dir.path().join("docker");
    std::fs::create_dir_all(&docker_config).expect("mkdir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", registry.username, registry.password));
    std::fs::write(
        docker_config.join("config.json"),
        serde_json::json!({ "auths": { registry.host.clone(): { "auth": auth } } }).to_string(),
    )
    .expect("config.json");
    let dc = docker_config.to_str().expect("utf8").to_string();

    let lock_arg = lockfile.to_str().expect("utf8").to_owned();
    let build_args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["--tag", tag.as_str(), "--label", "team=data-platform", "--lockfile", lock_arg.as_str()];
        v.extend_from_slice(extra);
        build_args(&catalog, &launcher, &maven.url, &cache, &base, &v)
    };
    let run = |args: &[String], env: &[(&str, &str)], stdin: Option<&str>| {
        image_builder(&args.iter().map(String::as_str).collect::<Vec<_>>(), env, stdin)
    };

    // 1. Build and push.
    let first = run(&build_args(&["--push", "--engine", "--output", "json"]), &[("DOCKER_CONFIG", &dc)], None);
    assert_eq!(first.code, 0, "first build failed: {}\n{}", first.stderr, first.stdout);
    let doc = first.json();
    let image_id = doc["image_id"].as_str().expect("image id").to_string();
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    let pushed = &doc["pushed"][0];
    let digest = pushed["digest"].as_str().expect("pushed digest").to_string();
    assert!(pushed["layers_pushed"].as_u64().expect("count") >= 4, "{pushed}");

    // 2. Read the image back through the registry API.
    let manifest = registry.manifest(&repo, "3.5.3").expect("manifest");
    let (config, files) = registry.image_files(&repo, "3.5.3").expect("layers");
    for (jar, bytes) in &jars {
        let path = format!("/opt/spark/jars/{}", jar.file_name());
        let (mode, sha) = files.get(&path).unwrap_or_else(|| panic!("{path} missing from the pushed layers"));
        assert_eq!(sha, jar.sha256.as_deref().expect("pin"));
        assert_eq!(*sha, sha256_hex(bytes));
        assert_eq!(mode & 0o777, 0o644, "{path}");
    }
    assert!(files.contains_key("/opt/spark/jars/spark-core_2.12-3.5.3.jar"), "base image jars are kept");
    let (mode, sha) = files.get("/opt/sparkoss/bin/sparkoss-launcher").expect("launcher in image");
    assert_eq!(*sha, launcher_sha);
    assert_eq!(mode & 0o111, 0o111, "launcher is executable: {mode:o}");
    let (_, conf_sha) = files.get("/opt/spark/conf/spark-defaults.conf").expect("spark-defaults");
    assert_eq!(*conf_sha, sha256_hex(sparkoss_image_builder::context::SPARK_DEFAULTS.as_bytes()));
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["io.sparkoss.spark.version"], "3.5.3");
    assert_eq!(labels["io.sparkoss.hadoop.version"], "3.3.4");
    assert_eq!(labels["io.sparkoss.launcher.sha256"], launcher_sha.as_str());
    assert_eq!(labels["org.opencontainers.image.version"], "3.5.3");
    assert_eq!(labels["org.opencontainers.image.base.name"], base.as_str());
    assert_eq!(labels["team"], "data-platform");
    let aliyun = &jars[0].0;
    assert_eq!(
        labels["io.sparkoss.jar.hadoop-aliyun"],
        format!("{} sha256:{}", aliyun.coordinate(), aliyun.sha256.as_deref().expect("pin")).as_str()
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/opt/sparkoss/bin/sparkoss-launcher", "entrypoint"]),
        "the launcher fronts Spark's entrypoint"
    );
    assert_eq!(config["config"]["User"], "185", "the base image's user stays in force");
    // The layer order is least to most often changing: the launcher's layer is the last one.
    let layers = manifest["layers"].as_array().expect("layers");
    let last = layers.last().expect("a layer")["digest"].as_str().expect("digest");
    let gz = registry.blob(&repo, last).expect("last layer");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let names: Vec<String> =
        archive.entries().expect("entries").map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with("sparkoss-launcher")), "last layer holds the launcher: {names:?}");

    // 3. `inspect` reports what is in the image.
    let ins = image_builder(&["inspect", &tag, "--output", "json"], &[], None);
    assert_eq!(ins.code, 0, "{}", ins.stderr);
    let ins = ins.json();
    assert_eq!(ins["image_id"], image_id.as_str());
    assert_eq!(ins["spark_version"], "3.5.3");
    assert_eq!(ins["launcher"]["sha256"], launcher_sha.as_str());
    let reported = ins["jars"].as_array().expect("jars");
    assert_eq!(reported.len(), jars.len());
    for j in reported {
        let path = j["path"].as_str().expect("path");
        assert_eq!(j["sha256"].as_str(), files.get(path).map(|(_, s)| s.as_str()), "{path}");
        assert_eq!(j["trust"], "catalog-pin", "every jar of this catalog is pinned: {j}");
    }
    assert!(lockfile.exists(), "the first build wrote the lock file it was given");

    // 3b. Run the image: every mode goes through the launcher's entrypoint (which hands executors
    // to Spark's), drivers made by sparkoss_job run the launcher as their command, and the jars
    // are readable by the image's (non-root) user with the pinned content.
    let docker_run = |args: &[&str]| {
        let out = std::process::Command::new("docker").args(["run", "--rm"]).args(args).output().expect("docker run");
        assert!(out.status.success(), "docker run {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(docker_run(&[&tag, "executor"]).trim(), "sparkoss-launcher stand-in entrypoint executor");
    let driver = docker_run(&["--entrypoint", "/opt/sparkoss/bin/sparkoss-launcher", &tag, "run", "--dry-run"]);
    assert_eq!(driver.trim(), "sparkoss-launcher stand-in run --dry-run");
    let jdom = format!("/opt/spark/jars/{}", jars[2].0.file_name());
    let sums = docker_run(&["--entrypoint", "/bin/sha256sum", &tag, &jdom]);
    assert_eq!(sums.split_whitespace().next(), jars[2].0.sha256.as_deref());

    // The explicit platform (the host's) must not change the cache key either.
    let host_platform = if std::env::consts::ARCH == "aarch64" { "linux/arm64" } else { "linux/amd64" };
    // 4. No change: fully cached, same id; the push uploads no layer. Password from stdin this time.
    let uploads_before = registry.blob_upload_requests();
    assert!(uploads_before >= 4, "the first push's blob uploads are visible in the registry log");
    let bytes_before = registry.bytes_received();
    let second = run(
        &build_args(&["--push", "--engine", "--platform", host_platform, "--registry-username", "release", "--registry-password-stdin"]),
        &[("DOCKER_CONFIG", dir.path().join("empty").to_str().expect("utf8"))],
        Some("s3cret-pw\n"),
    );
    assert_eq!(second.code, 0, "second build: {}", second.stderr);
    let steps = second.stderr.matches("Step ").count();
    assert_eq!(steps, 6, "FROM, three COPY layers, ENTRYPOINT, one LABEL:\n{}", second.stderr);
    assert_eq!(second.stderr.matches("Using cache").count(), steps - 1, "every step after FROM is cached:\n{}", second.stderr);
    assert!(!second.stderr.contains("Running in"), "{}", second.stderr);
    assert!(second.stderr.contains("(cache)"), "jars come from the download cache: {}", second.stderr);
    assert_eq!(engine.image_id(&tag).await.expect("id"), image_id, "identical image id");
    assert!(second.stdout.contains(&format!("{tag}@{digest}")), "same digest pushed: {}", second.stdout);
    assert_eq!(registry.blob_upload_requests(), uploads_before, "second push started blob uploads");
    let second_push_bytes = registry.bytes_received() - bytes_before;
    assert!(second_push_bytes < 64 * 1024, "second push sent {second_push_bytes} bytes");
    assert!(second.stderr.contains("0 layers uploaded"), "{}", second.stderr);

    // 4b. `--no-cache`: the engine rebuilds every step (as `docker build --no-cache`); the verified
    // jars still come from the download cache, which is content-addressed and checked.
    // The image it replaces under the tag keeps its pushed digest: removed at the end by id.
    cleanup.add(&image_id);
    let fresh = run(&build_args(&["--no-cache"]), &[], None);
    assert_eq!(fresh.code, 0, "--no-cache build: {}", fresh.stderr);
    assert_eq!(fresh.stderr.matches("Step ").count(), 6, "{}", fresh.stderr);
    assert_eq!(fresh.stderr.matches("Using cache").count(), 0, "--no-cache used the build cache:\n{}", fresh.stderr);
    assert!(fresh.stderr.contains("(cache)"), "jars come from the download cache: {}", fresh.stderr);

    // 5. Wrong password: clear failure, non-zero exit, the secret not echoed.
    let wrong = run(
        &build_args(&["--push", "--engine", "--registry-username", "release", "--registry-password-stdin"]),
        &[("DOCKER_CONFIG", dir.path().join("empty").to_str().expect("utf8"))],
        Some("not-the-password"),
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    let msg = wrong.stderr.to_lowercase();
    assert!(
        msg.contains("push")
            && (msg.contains("unauthorized") || msg.contains("authentication required"))
            && msg.contains("refused the credentials"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("not-the-password") && !wrong.stdout.contains("not-the-password"));

    // 5b. Credentials from a credential helper named in config.json (`credHelpers`).
    let creds = CredentialHelper::new(dir.path(), &registry, "sparkoss-test");
    let via_helper =
        run(&build_args(&["--push", "--engine"]), &[("DOCKER_CONFIG", creds.config.to_str().expect("utf8")), ("PATH", &creds.path)], None);
    assert_eq!(via_helper.code, 0, "push with a credential helper: {}", via_helper.stderr);
    assert_eq!(std::fs::read_to_string(&creds.asked).expect("helper was asked").trim(), registry.host);

    // 6. A corrupted jar: the build stops before Docker and nothing is pushed.
    let bad_repo = format!("sparkoss/corrupt-{unique}");
    let bad_tag = format!("{}/{bad_repo}:3.5.3", registry.host);
    cleanup.add(&bad_tag);
    let (jar, bytes) = &jars[2];
    let mut bad = bytes.clone();
    bad[10] ^= 1;
    maven.put_jar(jar, &bad);
    let mut args = build_args(&["--push", "--engine"]);
    let fresh_cache = dir.path().join("fresh-cache");
    for i in 0..args.len() {
        if args[i] == "--tag" {
            args[i + 1] = bad_tag.clone();
        }
        if args[i] == "--cache-dir" {
            args[i + 1] = fresh_cache.to_str().expect("utf8").to_string();
        }
    }
    let corrupt = run(&args, &[("DOCKER_CONFIG", &dc)], None);
    assert_eq!(corrupt.code, 1);
    assert!(corrupt.stderr.contains("sha256 mismatch") && corrupt.stderr.contains("jdom2"), "{}", corrupt.stderr);
    assert!(!corrupt.stderr.contains("Step "), "no build step ran: {}", corrupt.stderr);
    assert!(engine.inspect(&bad_tag).await.is_err(), "no image was built");
    let repos = registry.repositories().expect("catalog");
    assert!(repos.contains(&repo) && !repos.contains(&bad_repo), "{repos:?}");
}
