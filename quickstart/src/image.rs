//! The quick start's Spark image, made the way a release pipeline makes it, with nothing pulled
//! from outside: the local Spark base image ([`crate::spark_base`]) pushed into Debian's
//! `docker-registry` (htpasswd auth), then `image-builder lock` and `build --locked --push`, the
//! daemonless path (no Docker Engine: base read from the registry, layers built by image-builder),
//! against a Maven repository and that registry, both on 127.0.0.1.
//!
//! The connector jars are stand-ins: Maven Central is out of reach here, so the catalog names
//! valid, empty jars under the group `io.sparkoss.standin` (with their real artifact names and a
//! `-standin` version), pinned by the sha256 of the bytes made here. The pipeline is the real one
//! (download, sha256 and `.sha1` checks, layers, labels, push); only the connector classes are
//! missing, so the job's input is fetched by the launcher (`sparkoss_job.files`) rather than read
//! through `oss://` by Hadoop.
//!
//! The image is pushed as `<registry>/sparkoss/spark-oss:<version>`, pulled by the engine by its
//! digest and tagged [`IMAGE`]`:<version>` there (the registry is gone after the build; the local
//! cloud's kubelet finds the image on the engine).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sparkoss_image_builder::catalog::Jar;
use sparkoss_testkit::digest::sha256_hex;
use sparkoss_testkit::file_server::FileServer;
use sparkoss_testkit::registry::Registry;

use crate::spark_base::ensure_spark_base_image;
use crate::{cargo_bin, io_error as io, repo_root, Error};

/// Repository of the quick start image on the engine.
pub const IMAGE: &str = "sparkoss/spark-oss";

/// Fixed date inside the stand-in jars, so their bytes (and digests, and the image layers) are
/// the same on every run and the build cache holds.
const JAR_DATE: &str = "2024-01-01T00:00:00Z";

/// The connector jars the built-in 3.5 line names, as stand-ins.
const STANDINS: &[(&str, &str)] = &[("hadoop-aliyun", "3.3.4"), ("aliyun-sdk-oss", "3.17.4"), ("jdom2", "2.0.6.1")];

/// What [`build_quickstart_image`] made.
#[derive(Debug, Clone)]
pub struct QuickstartImage {
    /// The reference jobs use (`sparkoss/spark-oss:3.5.3`).
    pub reference: String,
    /// The image id.
    pub image_id: String,
    /// `registry/repo:tag@sha256:...` as pushed.
    pub pushed: String,
    /// Layers the push uploaded (0 when the registry already had them all).
    pub layers_pushed: u64,
    /// Seconds the base image took (0 when reused).
    pub base_seconds: f64,
    /// Seconds `image-builder build --push` took.
    pub build_seconds: f64,
}

fn failed(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Command { what: what.to_owned(), detail: detail.to_string() }
}

/// Makes one valid, empty stand-in jar with the JDK's `jar` tool.
fn standin_jar(dir: &Path, artifact: &str, version: &str) -> Result<Vec<u8>, Error> {
    let content = dir.join(format!("{artifact}-content"));
    let meta = content.join("META-INF");
    std::fs::create_dir_all(&meta).map_err(io("creating a stand-in jar's folder"))?;
    std::fs::write(
        meta.join("sparkoss-standin.txt"),
        format!("Stand-in for {artifact} {version}: Maven Central is out of reach in sparkoss's tests.\n"),
    )
    .map_err(io("writing a stand-in jar's marker"))?;
    let jar = dir.join(format!("{artifact}.jar"));
    let out = Command::new("jar")
        .arg("--create")
        .arg("--file")
        .arg(&jar)
        .arg(format!("--date={JAR_DATE}"))
        .arg("-C")
        .arg(&content)
        .arg(".")
        .output()
        .map_err(io("running jar (Debian package openjdk-17-jdk-headless; scripts/install-tools installs it)"))?;
    if !out.status.success() {
        return Err(failed("jar --create", String::from_utf8_lossy(&out.stderr)));
    }
    std::fs::read(&jar).map_err(io(format!("reading {}", jar.display())))
}

/// The stand-in connector jars with their pins.
pub fn standin_jars(dir: &Path) -> Result<Vec<(Jar, Vec<u8>)>, Error> {
    STANDINS
        .iter()
        .map(|(artifact, version)| {
            let bytes = standin_jar(dir, artifact, version)?;
            let jar = Jar {
                group: "io.sparkoss.standin".into(),
                artifact: (*artifact).into(),
                version: format!("{version}-standin"),
                sha256: Some(sha256_hex(&bytes)),
            };
            Ok((jar, bytes))
        })
        .collect()
}

fn catalog_toml(spark_version: &str, base: &str, jars: &[(Jar, Vec<u8>)]) -> String {
    let line = spark_version.rsplit_once('.').map_or(spark_version, |(l, _)| l);
    let mut toml = format!(
        "# The quick start's catalog: stand-in connector jars (see quickstart/src/image.rs).\n\
         [[line]]\nspark = \"{line}\"\ndefault_version = \"{spark_version}\"\nbase_image = \"{base}\"\nhadoop = \"3.3.4\"\njars = [\n"
    );
    for (j, _) in jars {
        let sha = j.sha256.as_deref().unwrap_or_default();
        toml.push_str(&format!(
            "  {{ group = \"{}\", artifact = \"{}\", version = \"{}\", sha256 = \"{sha}\" }},\n",
            j.group, j.artifact, j.version
        ));
    }
    toml.push_str("]\n");
    toml
}

fn docker(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("docker").args(args).output().map_err(io("running docker"))?;
    if !out.status.success() {
        return Err(failed(&format!("docker {}", args.join(" ")), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// `docker` with the client configuration in `config` (the registry's credentials).
fn docker_with(config: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("docker").env("DOCKER_CONFIG", config).args(args).output().map_err(io("running docker"))?;
    if !out.status.success() {
        return Err(failed(&format!("docker {}", args.join(" ")), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// A Docker CLI configuration folder with the registry's credentials (`auths`), readable by the
/// owner only.
fn write_docker_config(dir: &Path, registry: &Registry) -> Result<(), Error> {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(io("creating the docker client folder"))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io("protecting the docker client folder"))?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", registry.username, registry.password));
    let config = serde_json::json!({ "auths": { registry.host.clone(): { "auth": auth } } });
    std::fs::write(dir.join("config.json"), config.to_string()).map_err(io("writing the docker client config"))
}

/// The id of the image `reference` names on the engine, if any.
fn image_id_of(reference: &str) -> Option<String> {
    let out = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", reference]).output().ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !id.is_empty()).then_some(id)
}

/// Builds (or reuses, through the caches) the quick start image. `progress` receives one line per step.
pub fn build_quickstart_image(progress: &mut dyn FnMut(&str)) -> Result<QuickstartImage, Error> {
    let t = Instant::now();
    let base = ensure_spark_base_image(None)?;
    let base_seconds = if base.built { t.elapsed().as_secs_f64() } else { 0.0 };
    progress(&format!("base image {} (Spark {}, {})", base.reference, base.spark_version, if base.built { "built" } else { "reused" }));

    let builder = cargo_bin("sparkoss-image-builder", "image-builder")?;
    let launcher = cargo_bin("sparkoss-launcher", "sparkoss-launcher")?;
    let dir = tempfile::tempdir().map_err(io("creating a temporary folder"))?;
    let jars = standin_jars(dir.path())?;
    let maven = FileServer::start().map_err(|e| failed("the local Maven repository", e))?;
    for (j, bytes) in &jars {
        maven.put_jar(j, bytes);
    }
    let catalog = dir.path().join("catalog.toml");

    // A fresh password per run; it reaches image-builder on stdin only (and the docker CLI, which
    // pushes the base and pulls the result, through a config.json in the temporary folder).
    let password = sha256_hex(format!("{}-{:?}", std::process::id(), Instant::now()).as_bytes())[..24].to_owned();
    // The registry's storage outlives it, so the next run's push finds every layer there.
    let storage = repo_root().join("target").join("quickstart").join("registry");
    let registry = Registry::start_with_storage("sparkoss", &password, Some(&storage)).map_err(|e| failed("docker-registry", e))?;
    progress(&format!("Maven repository {} and docker-registry {} (htpasswd) on 127.0.0.1", maven.url, registry.host));
    let client_config = dir.path().join("docker-config");
    write_docker_config(&client_config, &registry)?;

    // The daemonless build reads its base from the registry: the local base goes there first
    // (layers already in the kept storage are not sent again).
    let registry_base = format!("{}/sparkoss/spark-base:{}", registry.host, base.spark_version);
    docker(&["tag", &base.reference, &registry_base])?;
    let pushed_base = docker_with(&client_config, &["push", "-q", &registry_base]);
    docker(&["image", "rm", &registry_base])?;
    pushed_base?;
    progress(&format!("pushed the base image as {registry_base}"));
    std::fs::write(&catalog, catalog_toml(&base.spark_version, &registry_base, &jars)).map_err(io("writing the catalog"))?;

    let pushed_tag = format!("{}/{IMAGE}:{}", registry.host, base.spark_version);
    let cache = repo_root().join("target").join("quickstart").join("maven-cache");
    let path = |p: &Path| p.to_string_lossy().into_owned();
    // As a release pipeline does: `lock` resolves and verifies the jars into a lock file, then
    // `build --locked` builds from the lock alone.
    let lockfile = dir.path().join("sparkoss-image.lock");
    let resolve: Vec<String> = vec![
        "--spark".into(),
        base.spark_version.clone(),
        "--catalog".into(),
        path(&catalog),
        "--maven-repo".into(),
        maven.url.clone(),
        "--cache-dir".into(),
        path(&cache),
        "--lockfile".into(),
        path(&lockfile),
    ];
    let lock = Command::new(&builder).arg("lock").args(&resolve).output().map_err(io(format!("running {}", builder.display())))?;
    if !lock.status.success() {
        return Err(failed("image-builder lock", String::from_utf8_lossy(&lock.stderr)));
    }
    progress(&format!("image-builder lock wrote {}", lockfile.display()));
    let mut args: Vec<String> = vec!["build".into(), "--locked".into()];
    args.extend(resolve);
    args.extend([
        "--launcher".into(),
        path(&launcher),
        "--tag".into(),
        pushed_tag.clone(),
        "--push".into(),
        "--registry-username".into(),
        "sparkoss".into(),
        "--registry-password-stdin".into(),
        "--output".into(),
        "json".into(),
    ]);
    let t = Instant::now();
    let mut child = Command::new(&builder)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("running {}", builder.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(password.as_bytes()).map_err(io("writing the registry password to image-builder"))?;
    }
    let out = child.wait_with_output().map_err(io("waiting for image-builder"))?;
    let build_seconds = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(failed("image-builder build --push", String::from_utf8_lossy(&out.stderr)));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Output { what: "image-builder --output json".into(), detail: e.to_string() })?;
    let image_id = doc["image_id"].as_str().unwrap_or_default().to_owned();
    let digest = doc["digest"].as_str().unwrap_or_default().to_owned();
    let layers_pushed = doc["pushed"][0]["layers_pushed"].as_u64().unwrap_or(0);
    if image_id.is_empty() || digest.is_empty() {
        return Err(Error::Output { what: "image-builder --output json".into(), detail: format!("no image id or digest in {doc}") });
    }
    progress(&format!(
        "image-builder built {image_id} and pushed {pushed_tag}@{digest} ({layers_pushed} layers uploaded) in {build_seconds:.1}s"
    ));

    // The engine pulls what image-builder pushed without it (only the new layers travel: the base's
    // are on the engine already); the registry stops with this function, so jobs use a tag that
    // does not name it.
    let by_digest = format!("{}/{IMAGE}@{digest}", registry.host);
    docker_with(&client_config, &["pull", "-q", &by_digest])?;
    let pulled = image_id_of(&by_digest);
    if pulled.as_deref() != Some(image_id.as_str()) {
        return Err(Error::Output {
            what: "docker pull of the pushed image".into(),
            detail: format!("{by_digest} is {pulled:?} on the engine, image-builder said {image_id}"),
        });
    }
    let reference = format!("{IMAGE}:{}", base.spark_version);
    let previous = image_id_of(&reference);
    docker(&["tag", &image_id, &reference])?;
    docker(&["image", "rm", &by_digest])?;
    // The image this tag named before (an older launcher, say) would linger untagged.
    if let Some(old) = previous.filter(|old| *old != image_id) {
        let _ = docker(&["image", "rm", &old]);
    }
    progress(&format!("tagged {reference}"));
    Ok(QuickstartImage { reference, image_id, pushed: format!("{pushed_tag}@{digest}"), layers_pushed, base_seconds, build_seconds })
}

/// Where the quick start's Terraform configuration lives.
pub fn quickstart_dir() -> PathBuf {
    repo_root().join("examples").join("quickstart")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_the_line_and_every_pin() {
        let jars =
            vec![(Jar { group: "g".into(), artifact: "a".into(), version: "1-standin".into(), sha256: Some("ab".repeat(32)) }, Vec::new())];
        let toml = catalog_toml("3.5.3", "sparkoss/spark-base:3.5.3", &jars);
        assert!(toml.contains("spark = \"3.5\"\ndefault_version = \"3.5.3\""), "{toml}");
        assert!(toml.contains("base_image = \"sparkoss/spark-base:3.5.3\""), "{toml}");
        assert!(toml.contains(&format!("sha256 = \"{}\"", "ab".repeat(32))), "{toml}");
    }
}
