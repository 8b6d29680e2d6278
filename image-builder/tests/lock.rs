//! The lock file, repository checksums and private mirrors, against the real Docker Engine and a
//! real registry (Debian's docker-registry with htpasswd), with Maven repositories served on
//! 127.0.0.1 by the test from jars it makes.
//!
//! Every refused case runs with `--push` to a registry that works (the happy paths here push to it),
//! and asserts that the engine has no image under the tag and the registry no repository.

mod support;

use std::path::{Path, PathBuf};

use sparkoss_image_builder::engine::Engine;
use sparkoss_image_builder::lock::Lock;
use sparkoss_image_builder::maven::ChecksumAlgorithm;
use sparkoss_testkit::base_image::{import_base_image, ImageCleanup};
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::file_server::FileServer;
use sparkoss_testkit::registry::Registry;
use support::*;

/// The built-in catalog's pin for `org.jdom:jdom2:2.0.6.1`.
const JDOM2_PIN: &str = "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c";

/// An image reference in the fixture's registry.
struct Target {
    repo: String,
    tag: String,
}

/// A base image, a registry with a password, a launcher, and a temporary folder.
struct Fixture {
    dir: tempfile::TempDir,
    engine: Engine,
    base: String,
    registry: Registry,
    launcher: PathBuf,
    docker_config: String,
    unique: String,
    // Dropped last: removes the images after the registry and folder are gone.
    cleanup: ImageCleanup,
}

impl Fixture {
    async fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cleanup = ImageCleanup::default();
        let engine = Engine::connect().await.expect("docker engine at DOCKER_HOST or /var/run/docker.sock");
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
        let unique = format!("{name}-{}-{}", std::process::id(), since_epoch.as_millis());
        let base = format!("sparkoss-test/spark:3.5.3-{unique}");
        cleanup.add(&base);
        import_base_image(engine.docker(), &base, "3.5.3").await.expect("import base image");
        let registry = Registry::start("release", "registry-pw").expect("docker-registry");
        let docker_config = dir.path().join("docker");
        std::fs::create_dir_all(&docker_config).expect("mkdir");
        let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "release:registry-pw");
        std::fs::write(
            docker_config.join("config.json"),
            serde_json::json!({ "auths": { registry.host.clone(): { "auth": auth } } }).to_string(),
        )
        .expect("config.json");
        let launcher = stand_in_launcher(dir.path());
        let docker_config = docker_config.to_str().expect("utf8").to_string();
        Self { dir, engine, base, registry, launcher, docker_config, unique, cleanup }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh, empty folder to run image-builder in (its default lock file lands there).
    fn workdir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    fn target(&self, name: &str) -> Target {
        let repo = format!("sparkoss/{name}-{}", self.unique);
        let tag = format!("{}/{repo}:3.5.3", self.registry.host);
        self.cleanup.add(&tag);
        Target { repo, tag }
    }

    /// `--spark 3.5`, the catalog (built-in when `None`), the repositories in order, the cache and the base image.
    fn resolve_args(&self, catalog: Option<&Path>, repos: &[&str], cache: &str) -> Vec<String> {
        let mut a = vec!["--spark".to_string(), "3.5".into()];
        if let Some(c) = catalog {
            a.extend(["--catalog".into(), c.to_str().expect("utf8").into()]);
        }
        for r in repos {
            a.extend(["--maven-repo".into(), r.to_string()]);
        }
        a.extend(["--cache-dir".into(), self.path(cache).to_str().expect("utf8").into(), "--base-image".into(), self.base.clone()]);
        a
    }

    /// `image-builder lock` in `cwd`.
    fn lock(&self, cwd: &Path, resolve: &[String], extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut args: Vec<&str> = vec!["lock"];
        args.extend(resolve.iter().map(String::as_str));
        args.extend(extra);
        image_builder_in(cwd, &args, env, None)
    }

    /// `image-builder build --push --engine` to `target` in `cwd` (the engine keeps the image, which
    /// the assertions below inspect).
    fn build(&self, cwd: &Path, resolve: &[String], target: &Target, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let launcher = self.launcher.to_str().expect("utf8");
        let mut args: Vec<&str> = vec!["build"];
        args.extend(resolve.iter().map(String::as_str));
        args.extend(["--launcher", launcher, "--tag", &target.tag, "--push", "--engine"]);
        args.extend(extra);
        let mut env = env.to_vec();
        env.push(("DOCKER_CONFIG", &self.docker_config));
        image_builder_in(cwd, &args, &env, None)
    }

    /// The engine has no image under the tag and the registry has no such repository.
    async fn assert_nothing_built(&self, target: &Target) {
        assert!(self.engine.inspect(&target.tag).await.is_err(), "an image {} was built", target.tag);
        let repos = self.registry.repositories().expect("registry catalog");
        assert!(!repos.contains(&target.repo), "{} was pushed: {repos:?}", target.repo);
    }

    /// The engine has the image and the registry the repository; returns the image id.
    async fn assert_built(&self, target: &Target) -> String {
        let id = self.engine.image_id(&target.tag).await.unwrap_or_else(|e| panic!("no image {}: {e}", target.tag));
        let repos = self.registry.repositories().expect("registry catalog");
        assert!(repos.contains(&target.repo), "{} was not pushed: {repos:?}", target.repo);
        id
    }
}

fn read_lock(path: &Path) -> Lock {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Lock::parse(&text, path).expect("lock parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_build_writes_the_lock_and_a_locked_build_uses_only_the_lock() {
    let fx = Fixture::start("locks").await;
    let jars = test_jars();
    // jdom2 pinned; hadoop-aliyun has a .sha512 (and a .sha1), aliyun-sdk-oss only a .sha1.
    let catalog = write_catalog_pinning(fx.dir.path(), "catalog.toml", &jars, &["jdom2"]);
    let maven = FileServer::start().expect("maven");
    maven.put_jar_with_checksums(&jars[0].0, &jars[0].1, &["sha512", "sha1", "md5"]);
    maven.put_jar_with_checksums(&jars[1].0, &jars[1].1, &["sha1"]);
    maven.put_jar_with_checksums(&jars[2].0, &jars[2].1, &[]);
    let cwd = fx.workdir("pipeline");
    let resolve = fx.resolve_args(Some(&catalog), &[&maven.url], "cache");
    let target = fx.target("locks");

    let first = fx.build(&cwd, &resolve, &target, &[], &[]);
    assert_eq!(first.code, 0, "first build: {}", first.stderr);
    assert!(
        first.stderr.contains("wrote sparkoss-image.lock") && first.stderr.contains("commit it"),
        "the build says it wrote the lock and that it should be committed: {}",
        first.stderr
    );
    let image_id = fx.assert_built(&target).await;
    let lockfile = cwd.join("sparkoss-image.lock");
    let lock = read_lock(&lockfile);
    assert_eq!((lock.spark.as_str(), lock.hadoop.as_str(), lock.base_image.as_str()), ("3.5.3", "3.3.4", fx.base.as_str()));
    let expected_by = ["repository-sha512", "repository-sha1", "catalog-pin"];
    assert_eq!(lock.jars.len(), 3);
    for ((entry, (jar, bytes)), by) in lock.jars.iter().zip(&jars).zip(expected_by) {
        assert_eq!(entry.coordinate, jar.coordinate());
        assert_eq!(entry.sha256, sha256_hex(bytes));
        assert_eq!(entry.size, bytes.len() as u64);
        assert_eq!(entry.source, format!("{}/{}", maven.url, jar.repo_path()));
        assert_eq!(entry.verified_by.as_str(), by, "{}", entry.coordinate);
        // Downloaded once, into the content-addressed cache.
        assert_eq!(maven.downloads(&jar.repo_path()), 1, "{}", jar.coordinate());
        assert_eq!(std::fs::read(fx.path("cache").join("sha256").join(&entry.sha256)).expect("cached"), *bytes);
    }

    // inspect: where each jar's trust comes from.
    let ins = image_builder(&["inspect", &target.tag, "--output", "json"], &[], None);
    assert_eq!(ins.code, 0, "{}", ins.stderr);
    let trust: Vec<String> =
        ins.json()["jars"].as_array().expect("jars").iter().map(|j| format!("{}={}", j["artifact"], j["trust"])).collect();
    for (jar, by) in jars.iter().map(|(j, _)| j).zip(expected_by) {
        assert!(trust.contains(&format!("\"{}\"=\"{by}\"", jar.artifact)), "{trust:?}");
    }
    let text = image_builder(&["inspect", &target.tag], &[], None);
    assert!(text.stdout.contains("trust: locked (first verified by its repository checksum (.sha512))"), "{}", text.stdout);
    assert!(text.stdout.contains("trust: pinned in the catalog"), "{}", text.stdout);

    // `versions` with the lock: the unpinned jars are now locked.
    let v = image_builder_in(&cwd, &["versions", "--catalog", catalog.to_str().expect("utf8"), "--output", "json"], &[], None);
    let v = v.json();
    let kinds: Vec<&str> = v["line"][0]["jars"].as_array().expect("jars").iter().filter_map(|j| j["trust"]["trust"].as_str()).collect();
    assert_eq!(kinds, ["lock", "lock", "catalog-pin"]);

    // A second build with --locked uses only the lock and the cache: the repository is gone.
    let lock_text = std::fs::read_to_string(&lockfile).expect("lock");
    drop(maven);
    let offline = fx.resolve_args(Some(&catalog), &["http://127.0.0.1:9"], "cache");
    let second = fx.build(&cwd, &offline, &target, &["--locked", "--output", "json"], &[]);
    assert_eq!(second.code, 0, "locked build: {}", second.stderr);
    let doc = second.json();
    assert_eq!(doc["image_id"], image_id.as_str(), "same jars, same image");
    assert_eq!(doc["lockfile"]["status"], "unchanged");
    assert!(doc["jars"].as_array().expect("jars").iter().all(|j| j["cached"] == true), "{doc}");
    assert!(!second.stderr.contains("wrote"), "{}", second.stderr);
    assert_eq!(std::fs::read_to_string(&lockfile).expect("lock"), lock_text, "--locked never rewrites the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_file_that_disagrees_is_refused() {
    let fx = Fixture::start("sha-disagrees").await;
    let jars = test_jars();
    let catalog = write_catalog_pinning(fx.dir.path(), "catalog.toml", &jars, &[]);
    let maven = FileServer::start().expect("maven");
    for (j, b) in &jars {
        maven.put_jar_with_checksums(j, b, &["sha512", "sha256", "sha1"]);
    }
    // The .sha512 (the strongest, so the one used) says other bytes; the .sha256 and .sha1 agree.
    let (jar, bytes) = &jars[1];
    let other = ChecksumAlgorithm::Sha512.digest(b"other bytes");
    maven.put(&format!("{}.sha512", jar.repo_path()), format!("{other}  {}\n", jar.file_name()).into_bytes());
    let cwd = fx.workdir("pipeline");
    let target = fx.target("sha-disagrees");
    let resolve = fx.resolve_args(Some(&catalog), &[&maven.url], "cache");

    let r = fx.build(&cwd, &resolve, &target, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let actual = ChecksumAlgorithm::Sha512.digest(bytes);
    for needle in ["sha512 mismatch", &jar.coordinate(), &other, &actual] {
        assert!(r.stderr.contains(needle), "missing {needle} in {}", r.stderr);
    }
    assert!(!cwd.join("sparkoss-image.lock").exists(), "no lock is written when a jar fails");
    assert!(!fx.path("cache").join("sha256").join(sha256_hex(bytes)).exists(), "the refused jar is not cached");
    fx.assert_nothing_built(&target).await;

    // Control: with a right .sha512 the same command builds and pushes.
    maven.put_jar_with_checksums(jar, bytes, &["sha512", "sha256", "sha1"]);
    let ok = fx.build(&cwd, &resolve, &target, &[], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    fx.assert_built(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jar_without_checksum_file_is_refused_unless_pinned() {
    let fx = Fixture::start("no-checksum").await;
    let jars = test_jars();
    let unpinned = write_catalog_pinning(fx.dir.path(), "unpinned.toml", &jars, &[]);
    let maven = FileServer::start().expect("maven");
    maven.put_jar_with_checksums(&jars[0].0, &jars[0].1, &["sha256"]);
    maven.put_jar_with_checksums(&jars[1].0, &jars[1].1, &["sha1"]);
    // jdom2: only an .md5, which proves nothing.
    maven.put_jar_with_checksums(&jars[2].0, &jars[2].1, &["md5"]);
    let cwd = fx.workdir("pipeline");
    let target = fx.target("no-checksum");

    let r = fx.build(&cwd, &fx.resolve_args(Some(&unpinned), &[&maven.url], "cache"), &target, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("org.jdom:jdom2:2.0.6.1") && r.stderr.contains("no .sha512, .sha256 or .sha1"), "{}", r.stderr);
    assert!(!cwd.join("sparkoss-image.lock").exists());
    fx.assert_nothing_built(&target).await;
    // `lock` refuses it the same way.
    let l = fx.lock(&cwd, &fx.resolve_args(Some(&unpinned), &[&maven.url], "cache"), &[], &[]);
    assert_eq!(l.code, 1, "{}", l.stderr);
    assert!(l.stderr.contains("no .sha512, .sha256 or .sha1"), "{}", l.stderr);
    assert!(!cwd.join("sparkoss-image.lock").exists());

    // Pinned in the catalog, the same jar (still without a checksum file) is accepted.
    let pinned = write_catalog_pinning(fx.dir.path(), "pinned.toml", &jars, &["jdom2"]);
    let ok = fx.build(&cwd, &fx.resolve_args(Some(&pinned), &[&maven.url], "cache"), &target, &[], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    fx.assert_built(&target).await;
    let lock = read_lock(&cwd.join("sparkoss-image.lock"));
    let by: Vec<&str> = lock.jars.iter().map(|j| j.verified_by.as_str()).collect();
    assert_eq!(by, ["repository-sha256", "repository-sha1", "catalog-pin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_jar_is_checked_against_its_pin_when_the_repository_vouches_for_other_bytes() {
    // The built-in catalog (no --catalog): jdom2 is pinned to Maven Central's digest. This mirror
    // serves other bytes under jdom2's coordinate, with checksum files that agree with them.
    let fx = Fixture::start("pin").await;
    let jars = test_jars();
    let maven = FileServer::start().expect("maven");
    for (j, b) in &jars {
        maven.put_jar_with_checksums(j, b, &["sha512", "sha256", "sha1"]);
    }
    let cwd = fx.workdir("pipeline");
    let target = fx.target("pin");
    let resolve = fx.resolve_args(None, &[&maven.url], "cache");

    let r = fx.build(&cwd, &resolve, &target, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let served = sha256_hex(&jars[2].1);
    for needle in ["org.jdom:jdom2:2.0.6.1", "sha256 mismatch", "the catalog's pin", JDOM2_PIN, &served] {
        assert!(r.stderr.contains(needle), "missing {needle} in {}", r.stderr);
    }
    assert!(!cwd.join("sparkoss-image.lock").exists(), "the other jars verified, but no lock is written");
    fx.assert_nothing_built(&target).await;
    let l = fx.lock(&cwd, &resolve, &[], &[]);
    assert_eq!(l.code, 1, "{}", l.stderr);
    assert!(l.stderr.contains(JDOM2_PIN), "{}", l.stderr);
    assert!(!cwd.join("sparkoss-image.lock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_that_a_later_build_contradicts_is_refused() {
    let fx = Fixture::start("contradicted").await;
    let jars = test_jars();
    let catalog = write_catalog_pinning(fx.dir.path(), "catalog.toml", &jars, &[]);
    let maven = FileServer::start().expect("maven");
    for (j, b) in &jars {
        maven.put_jar_with_checksums(j, b, &["sha512"]);
    }
    let cwd = fx.workdir("pipeline");
    let target = fx.target("contradicted");

    let locked = fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&maven.url], "cache"), &["--output", "json"], &[]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    assert_eq!(locked.json()["lockfile"]["status"], "created");
    assert!(locked.stderr.contains("wrote sparkoss-image.lock"), "{}", locked.stderr);
    fx.assert_nothing_built(&target).await;
    let lockfile = cwd.join("sparkoss-image.lock");
    let lock_text = std::fs::read_to_string(&lockfile).expect("lock");

    // The mirror now serves other bytes for aliyun-sdk-oss, with checksum files that agree with them.
    let (jar, bytes) = &jars[1];
    let mut republished = bytes.clone();
    republished.extend_from_slice(b"\nsomething else\n");
    maven.put_jar_with_checksums(jar, &republished, &["sha512", "sha256", "sha1"]);
    let r = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&maven.url], "fresh-cache"), &target, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for needle in
        [jar.coordinate(), "sha256 mismatch".into(), "recorded in sparkoss-image.lock".into(), sha256_hex(bytes), sha256_hex(&republished)]
    {
        assert!(r.stderr.contains(&needle), "missing {needle} in {}", r.stderr);
    }
    fx.assert_nothing_built(&target).await;
    assert_eq!(std::fs::read_to_string(&lockfile).expect("lock"), lock_text, "a refused build leaves the lock alone");
    // Without --locked too: a build never replaces a recorded digest. Same with `lock`.
    let l = fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&maven.url], "fresh-cache"), &[], &[]);
    assert_eq!(l.code, 1, "{}", l.stderr);
    assert_eq!(std::fs::read_to_string(&lockfile).expect("lock"), lock_text);

    // A catalog that now pins a digest the lock contradicts is refused as well, naming both.
    let repinned = fx.path("repinned.toml");
    let mut text = std::fs::read_to_string(&catalog).expect("catalog");
    let new_pin = sha256_hex(&republished);
    text = text.replace("version = \"3.17.4\" }", &format!("version = \"3.17.4\", sha256 = \"{new_pin}\" }}"));
    std::fs::write(&repinned, text).expect("catalog");
    let p = fx.build(&cwd, &fx.resolve_args(Some(&repinned), &[&maven.url], "cache"), &target, &[], &[]);
    assert_eq!(p.code, 1, "{}", p.stderr);
    assert!(p.stderr.contains(&new_pin) && p.stderr.contains(&sha256_hex(bytes)) && p.stderr.contains("the catalog pins"), "{}", p.stderr);
    fx.assert_nothing_built(&target).await;

    // Control: the jar locked earlier is still in the first cache, so the build goes through with it.
    let ok = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&maven.url], "cache"), &target, &["--locked"], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    fx.assert_built(&target).await;
    let ins = image_builder(&["inspect", &target.tag, "--output", "json"], &[], None).json();
    let sdk = ins["jars"].as_array().expect("jars").iter().find(|j| j["artifact"] == "aliyun-sdk-oss").cloned().expect("sdk");
    assert_eq!(sdk["sha256"], sha256_hex(bytes).as_str(), "the locked bytes, not the republished ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_refuses_a_missing_or_incomplete_lock() {
    let fx = Fixture::start("locked").await;
    let jars = test_jars();
    let catalog = write_catalog(fx.dir.path(), &jars);
    let maven = maven_with(&jars);
    let cwd = fx.workdir("pipeline");
    let target = fx.target("locked");
    let resolve = fx.resolve_args(Some(&catalog), &[&maven.url], "cache");

    let r = fx.build(&cwd, &resolve, &target, &["--locked"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--locked") && r.stderr.contains("no lock file sparkoss-image.lock"), "{}", r.stderr);
    assert_eq!(maven.requests(), 0, "--locked resolves nothing without a lock");
    assert!(!cwd.join("sparkoss-image.lock").exists(), "--locked writes no lock");
    fx.assert_nothing_built(&target).await;

    // A lock made from a catalog without jdom2 is incomplete for the full catalog.
    let two = write_catalog(&fx.workdir("two"), &jars[..2]);
    let l = fx.lock(&cwd, &fx.resolve_args(Some(&two), &[&maven.url], "cache"), &[], &[]);
    assert_eq!(l.code, 0, "{}", l.stderr);
    let lock_text = std::fs::read_to_string(cwd.join("sparkoss-image.lock")).expect("lock");
    let before = maven.requests();
    let r = fx.build(&cwd, &resolve, &target, &["--locked"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("org.jdom:jdom2:2.0.6.1 is not locked"), "{}", r.stderr);
    assert_eq!(maven.requests(), before, "nothing is downloaded for an incomplete lock");
    assert_eq!(std::fs::read_to_string(cwd.join("sparkoss-image.lock")).expect("lock"), lock_text);
    fx.assert_nothing_built(&target).await;

    // Without --locked the build adds jdom2 to the lock and says so; then --locked builds.
    let u = fx.build(&cwd, &resolve, &target, &[], &[]);
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert!(u.stderr.contains("updated sparkoss-image.lock"), "{}", u.stderr);
    assert_eq!(read_lock(&cwd.join("sparkoss-image.lock")).jars.len(), 3);
    let ok = fx.build(&cwd, &resolve, &target, &["--locked"], &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    fx.assert_built(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_needs_a_password() {
    const USER: &str = "ci-bot";
    const PASSWORD: &str = "mirror-s3cret-Pw";
    let fx = Fixture::start("password").await;
    let jars = test_jars();
    let catalog = write_catalog_pinning(fx.dir.path(), "catalog.toml", &jars, &[]);
    let mirror = FileServer::start_with_basic_auth(USER, PASSWORD).expect("mirror");
    for (j, b) in &jars {
        mirror.put_jar_with_checksums(j, b, &["sha512"]);
    }
    let port = mirror.url.trim_start_matches("http://127.0.0.1:").to_string();
    let with_user_info = |password: &str| format!("http://{USER}:{password}@127.0.0.1:{port}");
    let target = fx.target("password");
    let no_secret = |run: &Run, what: &str| {
        assert!(
            !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
            "{what} printed the password: {}{}",
            run.stdout,
            run.stderr
        );
    };

    // No credentials: refused, saying where they can come from; nothing built, no lock.
    let cwd = fx.workdir("anonymous");
    let r = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&mirror.url], "cache-a"), &target, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for needle in ["401", "SPARKOSS_MAVEN_USERNAME", "SPARKOSS_MAVEN_PASSWORD", "netrc"] {
        assert!(r.stderr.contains(needle), "missing {needle} in {}", r.stderr);
    }
    assert!(!cwd.join("sparkoss-image.lock").exists());
    fx.assert_nothing_built(&target).await;

    // A wrong password: refused, and neither it nor the URL's user info is echoed.
    let cwd = fx.workdir("wrong");
    let wrong = "wrong-Pw-123";
    let r = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&with_user_info(wrong)], "cache-w"), &target, &["--output", "json"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("refused the credentials from the --maven-repo URL"), "{}", r.stderr);
    assert!(!r.stderr.contains(wrong) && !r.stdout.contains(wrong), "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains(&format!("{USER}:")), "{}", r.stderr);
    fx.assert_nothing_built(&target).await;

    // The right password in the URL's user info: builds and pushes.
    let cwd = fx.workdir("url");
    let before = mirror.log().len();
    let r = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&with_user_info(PASSWORD)], "cache-u"), &target, &["--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    no_secret(&r, "build with user info");
    fx.assert_built(&target).await;
    let lock_text = std::fs::read_to_string(cwd.join("sparkoss-image.lock")).expect("lock");
    assert!(!lock_text.contains(PASSWORD) && !lock_text.contains(USER), "credentials in the lock:\n{lock_text}");
    assert!(read_lock(&cwd.join("sparkoss-image.lock")).jars.iter().all(|j| j.source.starts_with(&mirror.url)));
    // The password went to the mirror only after it asked (401), then with every request.
    let served = &mirror.log()[before..];
    assert_eq!((served[0].status, served[0].authorization.is_some()), (401, false), "{served:?}");
    assert!(served[1..].iter().all(|s| s.authorization.is_some()), "{served:?}");
    assert_eq!(served.iter().filter(|s| s.status == 200).count(), 6, "three jars and three .sha512: {served:?}");

    // From the env vars the help names.
    let cwd = fx.workdir("env");
    let env = [("SPARKOSS_MAVEN_USERNAME", USER), ("SPARKOSS_MAVEN_PASSWORD", PASSWORD)];
    let r = fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&mirror.url], "cache-e"), &[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    no_secret(&r, "lock with env vars");
    assert_eq!(read_lock(&cwd.join("sparkoss-image.lock")).jars.len(), 3);

    // From a netrc file ($NETRC).
    let cwd = fx.workdir("netrc");
    let netrc = fx.path("netrc-file");
    std::fs::write(&netrc, format!("machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n")).expect("netrc");
    let r = fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&mirror.url], "cache-n"), &[], &[("NETRC", netrc.to_str().expect("utf8"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    no_secret(&r, "lock with netrc");
    let bad_netrc = fx.path("bad-netrc");
    std::fs::write(&bad_netrc, format!("machine 127.0.0.1 login {USER} password not-{PASSWORD}\n")).expect("netrc");
    let cwd = fx.workdir("bad-netrc-run");
    let r =
        fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&mirror.url], "cache-b"), &[], &[("NETRC", bad_netrc.to_str().expect("utf8"))]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("refused the credentials from {}", bad_netrc.display())), "{}", r.stderr);
    assert!(!r.stderr.contains("not-mirror"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_repository_that_has_a_jar_wins() {
    let fx = Fixture::start("order").await;
    let jars = test_jars();
    let catalog = write_catalog_pinning(fx.dir.path(), "catalog.toml", &jars, &[]);
    // `first` has hadoop-aliyun and aliyun-sdk-oss; `second` has all three, hadoop-aliyun with other bytes.
    let first = FileServer::start().expect("first");
    let second = FileServer::start().expect("second");
    for (j, b) in &jars[..2] {
        first.put_jar_with_checksums(j, b, &["sha256"]);
    }
    let (aliyun, aliyun_bytes) = &jars[0];
    let mut other = aliyun_bytes.clone();
    other.extend_from_slice(b"\nsecond repository's build\n");
    second.put_jar_with_checksums(aliyun, &other, &["sha256"]);
    for (j, b) in &jars[1..] {
        second.put_jar_with_checksums(j, b, &["sha256"]);
    }
    let target = fx.target("order");

    let cwd = fx.workdir("first-then-second");
    let r = fx.build(&cwd, &fx.resolve_args(Some(&catalog), &[&first.url, &second.url], "cache"), &target, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = read_lock(&cwd.join("sparkoss-image.lock"));
    let source = |coordinate: &str| lock.jar(coordinate).map(|j| (j.source.clone(), j.sha256.clone())).expect("locked");
    assert_eq!(source(&aliyun.coordinate()), (format!("{}/{}", first.url, aliyun.repo_path()), sha256_hex(aliyun_bytes)));
    assert_eq!(source(&jars[2].0.coordinate()).0, format!("{}/{}", second.url, jars[2].0.repo_path()), "only the second has jdom2");
    let asked_second: Vec<String> = second.log().into_iter().map(|s| s.path).collect();
    assert!(!asked_second.iter().any(|p| p.contains("hadoop-aliyun") || p.contains("aliyun-sdk-oss")), "{asked_second:?}");
    assert!(first.log().iter().any(|s| s.path.contains("jdom2") && s.status == 404), "the first was asked for jdom2 first");
    fx.assert_built(&target).await;
    let ins = image_builder(&["inspect", &target.tag, "--output", "json"], &[], None).json();
    let in_image = ins["jars"].as_array().expect("jars").iter().find(|j| j["artifact"] == "hadoop-aliyun").cloned().expect("jar");
    assert_eq!(in_image["sha256"], sha256_hex(aliyun_bytes).as_str());

    // In the other order the second repository's hadoop-aliyun wins.
    let cwd = fx.workdir("second-then-first");
    let r = fx.lock(&cwd, &fx.resolve_args(Some(&catalog), &[&second.url, &first.url], "cache"), &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lock = read_lock(&cwd.join("sparkoss-image.lock"));
    assert_eq!(lock.jar(&aliyun.coordinate()).map(|j| j.sha256.clone()), Some(sha256_hex(&other)));
}
