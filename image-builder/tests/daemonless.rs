//! `build --push` without a Docker Engine, against Debian's docker-registry with htpasswd
//! (the engine only makes the stand-in base image, pushes it as a fixture, and judges):
//! the image pulls and runs; same inputs in fresh folders give the same digest and push 0 layer
//! bytes; it matches the engine-built image file for file; a base in another registry is copied
//! (and a corrupted blob there refused); a missing base, a wrong password and a corrupted jar are
//! refused with no tag written.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sparkoss_image_builder::engine::Engine;
use sparkoss_testkit::base_image::{push_base_image, ImageCleanup};
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::registry::{ImageFiles, Registry};
use sparkoss_testkit::tripwire::Tripwire;
use support::*;

fn docker_config(dir: &Path, registries: &[&Registry]) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut auths = serde_json::Map::new();
    for r in registries {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", r.username, r.password));
        auths.insert(r.host.clone(), serde_json::json!({ "auth": auth }));
    }
    std::fs::write(dir.join("config.json"), serde_json::json!({ "auths": auths }).to_string()).expect("config.json");
    dir.to_str().expect("utf8").to_string()
}

/// `docker` with a private client config (never the user's ~/.docker).
fn docker(config: &str, args: &[&str]) -> String {
    let out = Command::new("docker").env("DOCKER_CONFIG", config).args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo_and_tag(reference: &str, host: &str) -> (String, String) {
    let rest = reference.strip_prefix(&format!("{host}/")).expect("in registry");
    let (repo, tag) = rest.rsplit_once(':').expect("tag");
    (repo.to_string(), tag.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonless_push_runs_is_reproducible_matches_the_engine_and_refuses_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cleanup = ImageCleanup::default();
    let engine = Engine::connect().await.expect("docker engine (fixture and judge)");
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis()
    );
    let registry = Registry::start("release", "s3cret-pw").expect("docker-registry");
    let base = push_base_image(&engine, &registry, &format!("sparkoss-base/spark-{unique}"), 0).await.expect("base in registry");
    cleanup.add(&base);

    let jars = test_jars();
    let maven = maven_with(&jars);
    let catalog = write_catalog(dir.path(), &jars);
    let launcher = stand_in_launcher(dir.path());
    let launcher_sha = sha256_hex(&std::fs::read(&launcher).expect("launcher"));
    let dc = docker_config(&dir.path().join("docker"), &[&registry]);
    let tripwire = Tripwire::start().expect("tripwire");
    let no_engine = [("DOCKER_CONFIG", dc.as_str()), ("DOCKER_HOST", tripwire.docker_host.as_str())];
    let repo = format!("sparkoss/spark-oss-dl-{unique}");
    let tag = format!("{}/{repo}:3.5.3", registry.host);
    cleanup.add(&tag);

    // Each build in its own fresh folder: its own download cache and lock file.
    let build_in = |folder: &str, tag: &str, base: &str, extra: &[&str], env: &[(&str, &str)], stdin: Option<&str>| {
        let f = dir.path().join(folder);
        std::fs::create_dir_all(&f).expect("mkdir");
        let lock = f.join("sparkoss-image.lock");
        let mut v = vec!["--tag", tag, "--label", "team=data-platform", "--lockfile", lock.to_str().expect("utf8")];
        v.extend_from_slice(extra);
        let args = build_args(&catalog, &launcher, &maven.url, &f.join("cache"), base, &v);
        image_builder_in(&f, &args.iter().map(String::as_str).collect::<Vec<_>>(), env, stdin)
    };

    // 1. Daemonless build + push with the engine unreachable.
    let first = build_in("a", &tag, &base, &["--push", "--output", "json"], &no_engine, None);
    assert_eq!(first.code, 0, "daemonless build failed: {}\n{}", first.stderr, first.stdout);
    assert_eq!(tripwire.hits(), 0, "the Docker Engine was contacted");
    let doc = first.json();
    assert_eq!(doc["builder"], "daemonless");
    let digest = doc["digest"].as_str().expect("digest").to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let pushed = &doc["pushed"][0];
    assert_eq!(pushed["digest"], digest.as_str());
    assert_eq!(pushed["layers_pushed"], 3, "our three layers: {pushed}");
    assert_eq!(pushed["layers_mounted"], 1, "the base layer is mounted from the base's repository: {pushed}");
    assert!(pushed["bytes_uploaded"].as_u64().expect("bytes") > 0);
    let raw = registry.get(&format!("/v2/{repo}/manifests/3.5.3"), "application/vnd.docker.distribution.manifest.v2+json").expect("tag");
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest, "the tag serves the manifest of the printed digest");

    // 2. The engine pulls and runs it: the launcher answers, the jars are where Spark finds them,
    // readable by the image's (non-root) user, with the pinned content.
    let by_digest = format!("{}/{repo}@{digest}", registry.host);
    cleanup.add(&by_digest);
    docker(&dc, &["pull", "-q", &by_digest]);
    assert_eq!(docker(&dc, &["run", "--rm", &by_digest, "executor"]).trim(), "sparkoss-launcher stand-in entrypoint executor");
    let driver = docker(&dc, &["run", "--rm", "--entrypoint", "/opt/sparkoss/bin/sparkoss-launcher", &by_digest, "run", "--dry-run"]);
    assert_eq!(driver.trim(), "sparkoss-launcher stand-in run --dry-run");
    for (jar, _) in &jars {
        let path = format!("/opt/spark/jars/{}", jar.file_name());
        let sum = docker(&dc, &["run", "--rm", "--entrypoint", "/bin/sha256sum", &by_digest, &path]);
        assert_eq!(sum.split_whitespace().next(), jar.sha256.as_deref(), "{path}");
    }
    let listing = docker(&dc, &["run", "--rm", "--entrypoint", "/bin/ls", &by_digest, "/opt/spark/jars"]);
    assert!(listing.contains("spark-core_2.12-3.5.3.jar") && listing.contains("hadoop-aliyun-3.3.4.jar"), "{listing}");
    let user = docker(&dc, &["run", "--rm", "--entrypoint", "/bin/id", &by_digest, "-u"]);
    assert_eq!(user.trim(), "185");

    // 3. Same inputs in another fresh folder, later: same digest, and nothing but HEADs to send.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let uploads_before = registry.blob_upload_requests();
    let bytes_before = registry.bytes_received();
    let second = build_in("b", &tag, &base, &["--push", "--output", "json"], &no_engine, None);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let doc2 = second.json();
    assert_eq!(doc2["digest"], digest.as_str(), "same inputs, same digest");
    assert_eq!(doc2["image_id"], doc["image_id"]);
    let p2 = &doc2["pushed"][0];
    assert_eq!((p2["layers_pushed"].as_u64(), p2["bytes_uploaded"].as_u64()), (Some(0), Some(0)), "{p2}");
    assert_eq!(p2["layers_existing"], 4, "{p2}");
    assert_eq!(registry.blob_upload_requests(), uploads_before, "no blob upload was started");
    let sent = registry.bytes_received() - bytes_before;
    assert!(sent < 64 * 1024, "second push sent {sent} bytes");
    // Text output prints the digest; credentials from a credential helper this time (`credHelpers`).
    let creds = CredentialHelper::new(dir.path(), &registry, "sparkoss-dl-test");
    let with_helper = [
        ("DOCKER_CONFIG", creds.config.to_str().expect("utf8")),
        ("DOCKER_HOST", tripwire.docker_host.as_str()),
        ("PATH", creds.path.as_str()),
    ];
    let text = build_in("c", &tag, &base, &["--push"], &with_helper, None);
    assert_eq!(std::fs::read_to_string(&creds.asked).expect("the helper was asked").trim(), registry.host);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stdout.trim(), format!("{tag}@{digest}"));
    assert_eq!(text.stderr.matches("Layer already exists").count(), 5, "one progress line per blob (4 layers, config): {}", text.stderr);
    // SOURCE_DATE_EPOCH is the one clock that gets in.
    let dated = build_in(
        "d",
        &format!("{}/{repo}:dated", registry.host),
        &base,
        &["--push", "--output", "json"],
        &[no_engine[0], no_engine[1], ("SOURCE_DATE_EPOCH", "0")],
        None,
    );
    assert_eq!(dated.code, 0, "{}", dated.stderr);
    let dated_digest = dated.json()["digest"].as_str().expect("digest").to_string();
    assert_ne!(dated_digest, digest);
    let (dated_config, _) = registry.image_files(&repo, &dated_digest).expect("dated image");
    assert_eq!(dated_config["created"], "1970-01-01T00:00:00Z");

    // 4. The engine-built image of the same inputs has the same files, env, entrypoint, user,
    // labels and working directory (both read from the registry).
    let engine_repo = format!("sparkoss/spark-oss-engine-{unique}");
    let engine_tag = format!("{}/{engine_repo}:3.5.3", registry.host);
    cleanup.add(&engine_tag);
    let built = build_in("e", &engine_tag, &base, &["--push", "--engine", "--output", "json"], &[("DOCKER_CONFIG", dc.as_str())], None);
    assert_eq!(built.code, 0, "engine build: {}", built.stderr);
    assert_eq!(built.json()["builder"], "engine");
    let (dl_config, dl_files) = registry.image_files(&repo, &digest).expect("daemonless image");
    let (en_config, en_files) = registry.image_files(&engine_repo, "3.5.3").expect("engine image");
    // Permission bits: the engine's tar headers also carry the file-type bits (0o100644, as Go's
    // archive/tar writes them), ours leave them to the entry type, as ko and the tar crate do.
    let perms =
        |f: &ImageFiles| f.iter().map(|(p, (m, s))| (p.clone(), (m & 0o7777, s.clone()))).collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(perms(&dl_files), perms(&en_files), "same files, permissions and contents");
    assert_eq!(dl_files.get("/opt/sparkoss/bin/sparkoss-launcher").map(|(m, s)| (m & 0o777, s.clone())), Some((0o755, launcher_sha)));
    for key in ["Env", "Entrypoint", "Cmd", "User", "Labels", "WorkingDir"] {
        let norm = |v: &Value| if v.is_null() || v == &Value::String(String::new()) { Value::Null } else { v.clone() };
        assert_eq!(norm(&dl_config["config"][key]), norm(&en_config["config"][key]), "config.{key}");
    }
    assert_eq!(dl_config["architecture"], en_config["architecture"]);
    assert_eq!(dl_config["config"]["Labels"]["org.opencontainers.image.base.name"], base.as_str());

    // 4b. A multi-platform base: the --platform image (default linux/amd64) is taken from the
    // index; a platform it lacks is refused, listing those it has.
    let (base_repo, _) = repo_and_tag(&base, &registry.host);
    let base_manifest = registry
        .get(&format!("/v2/{base_repo}/manifests/3.5.3"), "application/vnd.docker.distribution.manifest.v2+json")
        .expect("base manifest");
    let base_manifest_digest = format!("sha256:{}", sha256_hex(&base_manifest));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{ "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": base_manifest.len(),
                        "digest": base_manifest_digest, "platform": { "os": "linux", "architecture": "amd64" } }],
    });
    registry.put_manifest(&base_repo, "multi", "application/vnd.oci.image.index.v1+json", index.to_string().as_bytes()).expect("index");
    let multi_base = format!("{}/{base_repo}:multi", registry.host);
    let multi_repo = format!("sparkoss/spark-oss-multi-{unique}");
    let multi_tag = format!("{}/{multi_repo}:3.5.3", registry.host);
    let multi = build_in("m", &multi_tag, &multi_base, &["--push", "--output", "json"], &no_engine, None);
    assert_eq!(multi.code, 0, "index base: {}", multi.stderr);
    let md = multi.json();
    assert_eq!((md["platform"].as_str(), md["base_digest"].as_str()), (Some("linux/amd64"), Some(base_manifest_digest.as_str())));
    let (_, multi_files) = registry.image_files(&multi_repo, "3.5.3").expect("multi image");
    assert_eq!(multi_files, dl_files, "same base image, same files");
    let arm_repo = format!("sparkoss/spark-oss-arm-{unique}");
    let arm = build_in(
        "n",
        &format!("{}/{arm_repo}:3.5.3", registry.host),
        &multi_base,
        &["--push", "--platform", "linux/arm64"],
        &no_engine,
        None,
    );
    assert_eq!(arm.code, 1);
    assert!(
        arm.stderr.contains(&multi_base) && arm.stderr.contains("no linux/arm64 image") && arm.stderr.contains("linux/amd64"),
        "{}",
        arm.stderr
    );

    // 5. A base in another registry: copied blob by blob (its own credentials from config.json).
    let source = Registry::start_with_storage("mirror", "m1rror-pw", Some(&dir.path().join("source-storage"))).expect("registry");
    let far_base = push_base_image(&engine, &source, &format!("mirror/spark-{unique}"), 0).await.expect("far base");
    cleanup.add(&far_base);
    let dc2 = docker_config(&dir.path().join("docker2"), &[&registry, &source]);
    let two = [("DOCKER_CONFIG", dc2.as_str()), ("DOCKER_HOST", tripwire.docker_host.as_str())];
    let far_repo = format!("sparkoss/spark-oss-far-{unique}");
    let far_tag = format!("{}/{far_repo}:3.5.3", registry.host);
    let far = build_in("f", &far_tag, &far_base, &["--push", "--output", "json"], &two, None);
    assert_eq!(far.code, 0, "cross-registry build: {}", far.stderr);
    let pf = &far.json()["pushed"][0];
    assert_eq!((pf["layers_pushed"].as_u64(), pf["layers_mounted"].as_u64()), (Some(4), Some(0)), "base layer copied: {pf}");
    let (_, far_files) = registry.image_files(&far_repo, "3.5.3").expect("far image");
    assert_eq!(far_files.get("/bin/busybox"), dl_files.get("/bin/busybox"));
    //    ... and a base blob that does not match its digest there is refused, naming the image.
    let far_manifest = source.manifest(&repo_and_tag(&far_base, &source.host).0, "3.5.3").expect("source manifest");
    let base_layer = far_manifest["layers"][0]["digest"].as_str().expect("layer").trim_start_matches("sha256:").to_string();
    let data = dir.path().join("source-storage/docker/registry/v2/blobs/sha256").join(&base_layer[..2]).join(&base_layer).join("data");
    let mut bytes = std::fs::read(&data).expect("stored blob");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&data, &bytes).expect("corrupt the stored blob");
    let bad_repo = format!("sparkoss/spark-oss-badblob-{unique}");
    let bad = build_in("g", &format!("{}/{bad_repo}:3.5.3", registry.host), &far_base, &["--push"], &two, None);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains(&far_base) && bad.stderr.contains("does not match its digest"), "{}", bad.stderr);

    // 6. Refusals leave no tag: a missing base, a wrong password, a corrupted jar.
    let missing_repo = format!("sparkoss/spark-oss-nobase-{unique}");
    let missing_base = format!("{}/sparkoss-base/absent-{unique}:3.5.3", registry.host);
    let missing = build_in("h", &format!("{}/{missing_repo}:3.5.3", registry.host), &missing_base, &["--push"], &no_engine, None);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains(&missing_base) && missing.stderr.contains("base image not found"), "{}", missing.stderr);

    let wrong_repo = format!("sparkoss/spark-oss-wrongpw-{unique}");
    let empty = dir.path().join("empty-docker-config");
    let wrong = build_in(
        "i",
        &format!("{}/{wrong_repo}:3.5.3", registry.host),
        &base,
        &["--push", "--registry-username", "release", "--registry-password-stdin"],
        &[("DOCKER_CONFIG", empty.to_str().expect("utf8")), ("DOCKER_HOST", tripwire.docker_host.as_str())],
        Some("not-the-password\n"),
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("refused the credentials") && wrong.stderr.contains("HTTP 401"), "{}", wrong.stderr);
    assert!(wrong.stderr.to_lowercase().contains("unauthorized"), "the registry's answer is quoted: {}", wrong.stderr);
    assert!(!wrong.stderr.contains("not-the-password") && !wrong.stdout.contains("not-the-password"));

    let corrupt_repo = format!("sparkoss/spark-oss-corrupt-{unique}");
    let (jar, good) = &jars[2];
    let mut bad_jar = good.clone();
    bad_jar[10] ^= 1;
    maven.put_jar(jar, &bad_jar);
    let corrupt = build_in("j", &format!("{}/{corrupt_repo}:3.5.3", registry.host), &base, &["--push"], &no_engine, None);
    assert_eq!(corrupt.code, 1);
    assert!(corrupt.stderr.contains("sha256 mismatch") && corrupt.stderr.contains("jdom2"), "{}", corrupt.stderr);

    let repos = registry.repositories().expect("catalog");
    for r in [&bad_repo, &missing_repo, &wrong_repo, &corrupt_repo, &arm_repo] {
        // A refused build may leave blobs (unreferenced, collectable) but never a tag.
        let tags = registry.get(&format!("/v2/{r}/tags/list"), "application/json").ok();
        let has_tag = tags
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["tags"].as_array().is_some_and(|t| !t.is_empty()));
        assert!(!has_tag, "{r} got a tag ({repos:?})");
    }
    assert!(!repos.contains(&missing_repo) && !repos.contains(&wrong_repo) && !repos.contains(&corrupt_repo), "{repos:?}");
    assert_eq!(tripwire.hits(), 0, "the Docker Engine was contacted by a daemonless build");
}
