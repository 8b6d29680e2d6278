//! CLI behaviour that must hold before (or without) the Docker Engine: version errors, missing
//! launcher, and a corrupted jar stopping the build before the engine is contacted.

mod support;

use std::path::Path;

use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::tripwire::Tripwire;
use support::*;

#[test]
fn unknown_spark_lists_supported_versions() {
    let r = image_builder(&["build", "--spark", "2.4.8"], &[], None);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    for v in ["3.3.x", "3.4.x", "3.5.x"] {
        assert!(r.stderr.contains(v), "missing {v} in: {}", r.stderr);
    }
    assert!(r.stderr.contains("2.4.8"), "{}", r.stderr);
    let j = image_builder(&["build", "--spark", "9.9", "--output", "json"], &[], None);
    assert_eq!(j.code, 1);
    assert!(j.json()["error"].as_str().expect("error text").contains("3.5.x"));
}

#[test]
fn versions_lists_the_catalog() {
    let r = image_builder(&["versions", "--output", "json"], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.json()["line"].as_array().expect("lines").clone();
    let spark: Vec<&str> = lines.iter().filter_map(|l| l["spark"].as_str()).collect();
    assert_eq!(spark, ["3.5", "3.4", "3.3"]);
    let t = image_builder(&["versions"], &[], None);
    assert!(t.stdout.contains("org.apache.hadoop:hadoop-aliyun:3.3.2"), "{}", t.stdout);
}

#[test]
fn versions_shows_where_each_jars_trust_comes_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jars = test_jars();
    // hadoop-aliyun is pinned; aliyun-sdk-oss and jdom2 are not, and only aliyun-sdk-oss is locked.
    let catalog_path = write_catalog_pinning(dir.path(), "partly-pinned.toml", &jars, &["hadoop-aliyun"]);
    let locked = &jars[1].0;
    let lock_sha = sha256_hex(b"locked bytes");
    let lock = format!(
        "version = 1\nspark = \"3.5.3\"\nhadoop = \"3.3.4\"\nbase_image = \"apache/spark:3.5.3\"\n\n[[jar]]\n\
         coordinate = \"{}\"\nsha256 = \"{lock_sha}\"\nsize = 12\nsource = \"https://mirror.example.com/m2/x.jar\"\nverified_by = \"repository-sha512\"\n",
        locked.coordinate()
    );
    let lockfile = dir.path().join("ci.lock");
    std::fs::write(&lockfile, lock).expect("lock");
    let args = ["versions", "--catalog", catalog_path.to_str().expect("utf8"), "--lockfile", lockfile.to_str().expect("utf8")];
    let j = image_builder(&[&args[..], &["--output", "json"]].concat(), &[], None);
    assert_eq!(j.code, 0, "{}", j.stderr);
    let doc = j.json();
    let trust: Vec<(String, String)> = doc["line"][0]["jars"]
        .as_array()
        .expect("jars")
        .iter()
        .map(|j| (j["artifact"].as_str().unwrap_or_default().to_string(), j["trust"]["trust"].as_str().unwrap_or_default().to_string()))
        .collect();
    let expected: Vec<(String, String)> = [("hadoop-aliyun", "catalog-pin"), ("aliyun-sdk-oss", "lock"), ("jdom2", "repository-checksum")]
        .into_iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect();
    assert_eq!(trust, expected);
    assert_eq!(doc["line"][0]["jars"][1]["trust"]["sha256"], lock_sha.as_str());
    assert_eq!(doc["lockfile"]["present"], true);
    let t = image_builder(&args, &[], None);
    assert_eq!(t.code, 0, "{}", t.stderr);
    for expect in [
        "pinned in the catalog",
        &format!("{} sha256:{lock_sha}  trust: locked (first verified by its repository checksum (.sha512))", locked.coordinate()),
        "org.jdom:jdom2:2.0.6.1 sha256:-  trust: repository checksum",
    ] {
        assert!(t.stdout.contains(expect), "missing {expect:?} in:\n{}", t.stdout);
    }
}

#[test]
fn built_in_catalog_pins_jdom2_and_reports_it() {
    let r = image_builder(&["versions", "--output", "json"], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    for line in doc["line"].as_array().expect("lines") {
        let jdom = line["jars"].as_array().expect("jars").iter().find(|j| j["artifact"] == "jdom2").expect("jdom2");
        assert_eq!(jdom["trust"]["trust"], "catalog-pin");
        assert_eq!(jdom["sha256"], "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c");
        let aliyun = line["jars"].as_array().expect("jars").iter().find(|j| j["artifact"] == "hadoop-aliyun").expect("hadoop-aliyun");
        assert_eq!(aliyun["trust"]["trust"], "repository-checksum", "no lock file in a fresh directory");
    }
}

#[test]
fn help_names_the_credential_sources() {
    for cmd in ["build", "lock"] {
        let r = image_builder(&[cmd, "--help"], &[], None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        for needle in ["SPARKOSS_MAVEN_USERNAME", "SPARKOSS_MAVEN_PASSWORD", "netrc", "--lockfile"] {
            assert!(r.stdout.contains(needle), "`{cmd} --help` lacks {needle}:\n{}", r.stdout);
        }
    }
    let b = image_builder(&["build", "--help"], &[], None);
    assert!(b.stdout.contains("--locked"), "{}", b.stdout);
}

#[test]
fn missing_launcher_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope/sparkoss-launcher");
    let r = image_builder(&["build", "--spark", "3.5", "--launcher", missing.to_str().expect("utf8")], &[], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("launcher binary") && r.stderr.contains("--launcher"), "{}", r.stderr);
}

#[test]
fn corrupted_jar_fails_before_docker_is_contacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jars = test_jars();
    let catalog = write_catalog(dir.path(), &jars);
    let launcher = stand_in_launcher(dir.path());
    let tripwire = Tripwire::start().expect("tripwire");
    let env = [("DOCKER_HOST", tripwire.docker_host.as_str())];

    // 1. Bytes changed in transit: the repository's .sha1 no longer matches.
    let maven = maven_with(&jars);
    let (jar, bytes) = &jars[1];
    let mut bad = bytes.clone();
    bad[100] ^= 0xff;
    maven.put(&jar.repo_path(), bad.clone());
    let cache = dir.path().join("cache1");
    let args = |repo: &str, cache: &str| build_args(&catalog, &launcher, repo, Path::new(cache), "x/y:z", &[]);
    let a1 = args(&maven.url, cache.to_str().expect("utf8"));
    let r = image_builder(&a1.iter().map(String::as_str).collect::<Vec<_>>(), &env, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("sha1 mismatch") && r.stderr.contains("aliyun-sdk-oss"), "{}", r.stderr);

    // 2. A consistent but wrong jar (mirror serves other bytes with a matching .sha1): the pin catches it.
    maven.put_jar(jar, &bad);
    let cache2 = dir.path().join("cache2");
    let a2 = args(&maven.url, cache2.to_str().expect("utf8"));
    let r = image_builder(&a2.iter().map(String::as_str).collect::<Vec<_>>(), &env, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("sha256 mismatch"), "{}", r.stderr);
    assert!(r.stderr.contains(jar.sha256.as_deref().expect("pin")), "{}", r.stderr);
    // The bad jar is not cached.
    let cached: Vec<_> = std::fs::read_dir(cache2.join("sha256")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(!cached.iter().any(|n| n.to_string_lossy() == sha256_hex(&bad)));
    assert_eq!(tripwire.hits(), 0, "the engine must not be contacted when a jar fails verification");

    // 3. Control: with good jars the same command gets as far as the engine (the tripwire).
    maven.put_jar(jar, bytes);
    let r = image_builder(&a2.iter().map(String::as_str).collect::<Vec<_>>(), &env, None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("docker engine"), "{}", r.stderr);
    assert!(tripwire.hits() > 0, "good jars reach the engine step");
}

#[test]
fn a_line_keeps_the_locked_version_and_lock_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jars = test_jars();
    let catalog = write_catalog(dir.path(), &jars);
    let launcher = stand_in_launcher(dir.path());
    let maven = maven_with(&jars);
    let tripwire = Tripwire::start().expect("tripwire");
    let cache = dir.path().join("cache");
    let run = |sub: &str, spark: &str, extra: &[&str]| {
        let mut args = vec![sub, "--spark", spark, "--catalog", catalog.to_str().expect("utf8"), "--maven-repo", &maven.url];
        args.extend(["--cache-dir", cache.to_str().expect("utf8")]);
        args.extend(extra);
        image_builder_in(dir.path(), &args, &[("DOCKER_HOST", &tripwire.docker_host)], None)
    };

    // Locked at 3.5.1 although the catalog's default for 3.5 is 3.5.3.
    let first = run("lock", "3.5.1", &["--output", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json()["lockfile"]["status"], "created");
    let lockfile = dir.path().join("sparkoss-image.lock");
    let text = std::fs::read_to_string(&lockfile).expect("lock");
    assert!(text.contains("spark = \"3.5.1\"") && text.contains("base_image = \"apache/spark:3.5.1\""), "{text}");

    // `lock --spark 3.5` again: the locked 3.5.1 stays, nothing changes.
    let again = run("lock", "3.5", &["--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["lockfile"]["status"], "unchanged");
    assert_eq!(again.json()["spark_version"], "3.5.1");
    assert_eq!(std::fs::read_to_string(&lockfile).expect("lock"), text);

    // `build --spark 3.5 --locked` accepts the lock and gets as far as the engine (the tripwire).
    let launcher = launcher.to_str().expect("utf8");
    let build = run("build", "3.5", &["--locked", "--launcher", launcher]);
    assert_eq!(build.code, 1, "{}", build.stderr);
    assert!(build.stderr.contains("Spark 3.5.1 / Hadoop 3.3.4 on apache/spark:3.5.1"), "{}", build.stderr);
    assert!(build.stderr.contains("docker engine"), "{}", build.stderr);
    assert!(tripwire.hits() > 0);

    // An explicit other version is a different build: --locked refuses it, naming the difference.
    let other = run("build", "3.5.3", &["--locked", "--launcher", launcher]);
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(other.stderr.contains("Spark is 3.5.1 in the lock, 3.5.3 in this build"), "{}", other.stderr);
}
