//! Helpers shared by the image-builder integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sparkoss_image_builder::catalog::Jar;
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::file_server::FileServer;
use sparkoss_testkit::registry::Registry;

/// The real coordinates the built-in catalog pins, with test bytes (and so test digests).
pub fn test_jars() -> Vec<(Jar, Vec<u8>)> {
    [("org.apache.hadoop", "hadoop-aliyun", "3.3.4"), ("com.aliyun.oss", "aliyun-sdk-oss", "3.17.4"), ("org.jdom", "jdom2", "2.0.6.1")]
        .into_iter()
        .map(|(g, a, v)| {
            // Distinct, non-trivial content per jar (a few hundred KB, like a small real jar).
            let mut bytes = format!("PK\u{3}\u{4} sparkoss test jar {g}:{a}:{v}\n").into_bytes();
            let seed = sha256_hex(a.as_bytes());
            for i in 0..4000 {
                bytes.extend_from_slice(format!("{seed}{i:08}\n").as_bytes());
            }
            let jar = Jar { group: g.into(), artifact: a.into(), version: v.into(), sha256: Some(sha256_hex(&bytes)) };
            (jar, bytes)
        })
        .collect()
}

/// Writes a catalog whose 3.5 line uses `jars`, every one pinned, and returns its path.
pub fn write_catalog(dir: &Path, jars: &[(Jar, Vec<u8>)]) -> PathBuf {
    let all: Vec<&str> = jars.iter().map(|(j, _)| j.artifact.as_str()).collect();
    write_catalog_pinning(dir, "catalog.toml", jars, &all)
}

/// Writes `dir/name`, a catalog whose 3.5 line uses `jars` and pins the sha256 of the `pinned`
/// artifacts only, and returns its path.
pub fn write_catalog_pinning(dir: &Path, name: &str, jars: &[(Jar, Vec<u8>)], pinned: &[&str]) -> PathBuf {
    let mut toml = String::from(
        "[[line]]\nspark = \"3.5\"\ndefault_version = \"3.5.3\"\nbase_image = \"apache/spark:{version}\"\nhadoop = \"3.3.4\"\njars = [\n",
    );
    for (j, _) in jars {
        let pin = match j.sha256.as_deref() {
            Some(sha) if pinned.contains(&j.artifact.as_str()) => format!(", sha256 = \"{sha}\""),
            _ => String::new(),
        };
        toml.push_str(&format!("  {{ group = \"{}\", artifact = \"{}\", version = \"{}\"{pin} }},\n", j.group, j.artifact, j.version));
    }
    toml.push_str("]\n");
    let p = dir.join(name);
    std::fs::write(&p, toml).expect("write catalog");
    p
}

/// A Maven repository serving `jars` (with `.sha1` files).
pub fn maven_with(jars: &[(Jar, Vec<u8>)]) -> FileServer {
    let server = FileServer::start().expect("maven server");
    for (j, b) in jars {
        server.put_jar(j, b);
    }
    server
}

/// A stand-in launcher script (the real `sparkoss-launcher` is another package's binary).
pub fn stand_in_launcher(dir: &Path) -> PathBuf {
    let p = dir.join("sparkoss-launcher");
    std::fs::write(&p, b"#!/bin/sh\necho \"sparkoss-launcher stand-in $*\"\n").expect("write launcher");
    p
}

/// The result of one CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `image-builder` with `args`, extra environment and optional stdin, in a fresh empty working
/// directory (so a lock file it writes by default lands nowhere that matters).
pub fn image_builder(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let cwd = tempfile::tempdir().expect("tempdir");
    image_builder_in(cwd.path(), args, env, stdin)
}

/// Runs `image-builder` in `cwd` with `args`, extra environment and optional stdin. `HOME` is `cwd`
/// unless `env` sets it, so a developer's own `~/.netrc` never takes part; the Maven credential
/// env vars are cleared unless `env` sets them.
pub fn image_builder_in(cwd: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-builder"));
    cmd.current_dir(cwd).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env("HOME", cwd).env_remove("NETRC").env_remove("SPARKOSS_MAVEN_USERNAME").env_remove("SPARKOSS_MAVEN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn image-builder");
    {
        let mut i = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("wait image-builder");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `image-builder build` for Spark 3.5.3 from `catalog` with `launcher`, resolving from `repo`
/// into `cache`, on `base`, followed by `extra`.
pub fn build_args(catalog: &Path, launcher: &Path, repo: &str, cache: &Path, base: &str, extra: &[&str]) -> Vec<String> {
    let path = |p: &Path| p.to_str().expect("utf8").to_owned();
    let mut v: Vec<String> = vec![
        "build".into(),
        "--spark".into(),
        "3.5.3".into(),
        "--catalog".into(),
        path(catalog),
        "--launcher".into(),
        path(launcher),
        "--maven-repo".into(),
        repo.into(),
        "--cache-dir".into(),
        path(cache),
        "--base-image".into(),
        base.into(),
    ];
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

/// A Docker credential helper `docker-credential-<name>` in `dir/helper-bin` that answers `get`
/// with `registry`'s credentials and records the server it was asked for in `dir/helper-asked`,
/// and a Docker config folder `dir/docker-helper` whose `credHelpers` names it for the registry.
pub struct CredentialHelper {
    /// The `DOCKER_CONFIG` folder.
    pub config: PathBuf,
    /// `PATH` with the helper's folder first.
    pub path: String,
    /// The file the helper writes the asked server into.
    pub asked: PathBuf,
}

impl CredentialHelper {
    pub fn new(dir: &Path, registry: &Registry, name: &str) -> CredentialHelper {
        let helper_dir = dir.join("helper-bin");
        std::fs::create_dir_all(&helper_dir).expect("mkdir");
        let asked = dir.join("helper-asked");
        let helper = helper_dir.join(format!("docker-credential-{name}"));
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > '{}'\nprintf '{{\"ServerURL\":\"{}\",\"Username\":\"{}\",\"Secret\":\"{}\"}}'\n",
                asked.display(),
                registry.host,
                registry.username,
                registry.password
            ),
        )
        .expect("helper");
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let config = dir.join("docker-helper");
        std::fs::create_dir_all(&config).expect("mkdir");
        std::fs::write(config.join("config.json"), serde_json::json!({ "credHelpers": { registry.host.clone(): name } }).to_string())
            .expect("config.json");
        let path = format!("{}:{}", helper_dir.display(), std::env::var("PATH").unwrap_or_default());
        CredentialHelper { config, path, asked }
    }
}
