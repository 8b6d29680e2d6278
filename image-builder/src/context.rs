//! The build context: a generated Dockerfile plus the files it copies, as a reproducible tar.
//!
//! Same inputs give byte-identical tars: entries sorted by path, fixed mtime, uid/gid 0, explicit
//! modes, relative paths only. That is what lets the engine's cache (and the registry) see "no change".

use std::collections::BTreeMap;

use crate::catalog::Selection;
use crate::error::{Error, Result};
use crate::maven::VerifiedJar;

/// Where the launcher lives in the image.
pub const LAUNCHER_PATH: &str = "/opt/sparkoss/bin/sparkoss-launcher";
/// Where the jars go.
pub const JARS_DIR: &str = "/opt/spark/jars";
/// Where the spark-defaults fragment goes.
pub const SPARK_DEFAULTS_PATH: &str = "/opt/spark/conf/spark-defaults.conf";
/// Fixed mtime for every entry (2000-01-01T00:00:00Z): reproducible, and not 0, which some tools treat as unset.
pub const FIXED_MTIME: u64 = 946_684_800;
/// Label prefix for each connector jar: `io.sparkoss.jar.<artifact>` = `<group>:<artifact>:<version> sha256:<hex>`.
pub const JAR_LABEL_PREFIX: &str = "io.sparkoss.jar.";
/// Label prefix for what each jar's sha256 rests on: `io.sparkoss.trust.<artifact>` = `catalog-pin`,
/// `repository-sha512`, `repository-sha256` or `repository-sha1` (the checksum file it was locked
/// against; every build's jars are locked).
pub const TRUST_LABEL_PREFIX: &str = "io.sparkoss.trust.";

/// The Spark configuration the image ships: OSS as a Hadoop filesystem, credentials and endpoint
/// from the environment (Hadoop's Configuration expands `${env.NAME}`), so no secret is baked in.
pub const SPARK_DEFAULTS: &str = "\
# Written by sparkoss image-builder: OSS through hadoop-aliyun.
spark.hadoop.fs.oss.impl=org.apache.hadoop.fs.aliyun.oss.AliyunOSSFileSystem
spark.hadoop.fs.oss.credentials.provider=com.aliyun.oss.common.auth.EnvironmentVariableCredentialsProvider
spark.hadoop.fs.oss.endpoint=${env.SPARKOSS_OSS_ENDPOINT}
";

/// Everything that goes into one image.
#[derive(Debug, Clone)]
pub struct ContextInput {
    /// What the catalog resolved.
    pub selection: Selection,
    /// The verified jars, in catalog order.
    pub jars: Vec<VerifiedJar>,
    /// The launcher executable's bytes.
    pub launcher: Vec<u8>,
    /// Extra `--label k=v` entries (they override generated ones of the same key).
    pub extra_labels: BTreeMap<String, String>,
}

/// The generated context.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The Dockerfile text (also inside `tar`).
    pub dockerfile: String,
    /// The labels the image gets.
    pub labels: BTreeMap<String, String>,
    /// The tar archive to send to the engine.
    pub tar: Vec<u8>,
}

/// The labels for an image (OCI + `io.sparkoss.*`).
pub fn labels(input: &ContextInput, launcher_sha256: &str) -> BTreeMap<String, String> {
    let s = &input.selection;
    let mut l = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        l.insert(k.to_string(), v);
    };
    put("org.opencontainers.image.title", "spark-oss".into());
    put(
        "org.opencontainers.image.description",
        format!("Apache Spark {} with the Hadoop OSS connector and the sparkoss launcher", s.spark_version),
    );
    put("org.opencontainers.image.version", s.spark_version.clone());
    put("org.opencontainers.image.base.name", s.base_image.clone());
    put("org.opencontainers.image.licenses", "Apache-2.0".into());
    put("org.opencontainers.image.source", "https://github.com/sparkoss/sparkoss".into());
    put("org.opencontainers.image.vendor", "sparkoss".into());
    put("io.sparkoss.spark.version", s.spark_version.clone());
    put("io.sparkoss.hadoop.version", s.hadoop_version.clone());
    put("io.sparkoss.builder.version", env!("CARGO_PKG_VERSION").into());
    put("io.sparkoss.launcher.path", LAUNCHER_PATH.into());
    put("io.sparkoss.launcher.sha256", launcher_sha256.to_string());
    for j in &input.jars {
        if j.jar.artifact == "hadoop-aliyun" {
            put("io.sparkoss.connector.version", j.jar.version.clone());
        }
        put(&format!("{JAR_LABEL_PREFIX}{}", j.jar.artifact), format!("{} sha256:{}", j.jar.coordinate(), j.sha256));
        put(&format!("{TRUST_LABEL_PREFIX}{}", j.jar.artifact), j.anchor.as_str().to_string());
    }
    for (k, v) in &input.extra_labels {
        l.insert(k.clone(), v.clone());
    }
    l
}

/// Quotes a label value for a Dockerfile `LABEL` (JSON string syntax is accepted there).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Generates the Dockerfile. Layers go from least to most often changing: connector jars, then the
/// spark-defaults fragment, then the launcher; labels last (metadata only, no layer).
///
/// The ENTRYPOINT is `sparkoss-launcher entrypoint`, in front of the base image's own
/// (`/opt/entrypoint.sh`): a driver that Spark's cluster mode starts gets its `oss://` jars and
/// files fetched first, executors and other commands go straight on to Spark's entrypoint.
/// Drivers made by `sparkoss_job` run the launcher as their command (`io.sparkoss.launcher.path`).
pub fn dockerfile(input: &ContextInput, labels: &BTreeMap<String, String>) -> String {
    let mut d = String::new();
    d.push_str("# Generated by sparkoss image-builder; do not edit.\n");
    d.push_str(&format!("FROM {}\n", input.selection.base_image));
    // COPY writes as root:root whatever the base image's USER is, and the base USER (`spark`, 185,
    // in apache/spark) stays in force for the containers, so no USER switching is needed.
    d.push_str(&format!("COPY jars/ {JARS_DIR}/\n"));
    d.push_str(&format!("COPY conf/spark-defaults.conf {SPARK_DEFAULTS_PATH}\n"));
    d.push_str(&format!("COPY sparkoss/bin/sparkoss-launcher {LAUNCHER_PATH}\n"));
    d.push_str(&format!("ENTRYPOINT [\"{LAUNCHER_PATH}\", \"entrypoint\"]\n"));
    // One LABEL instruction: the classic builder commits an image per instruction.
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{}={}", quote(k), quote(v))).collect();
    if !pairs.is_empty() {
        d.push_str(&format!("LABEL {}\n", pairs.join(" \\\n      ")));
    }
    d
}

/// Builds the context tar.
pub fn build_context(input: &ContextInput) -> Result<BuildContext> {
    for k in input.extra_labels.keys() {
        if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c == '=') {
            return Err(Error::InvalidArgument { flag: "--label", message: format!("bad label key {k:?}") });
        }
    }
    let launcher_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input.launcher));
    let labels = labels(input, &launcher_sha);
    let dockerfile = dockerfile(input, &labels);

    // path -> (mode, contents); None contents = directory. BTreeMap keeps entries sorted.
    let mut entries: BTreeMap<String, (u32, Option<&[u8]>)> = BTreeMap::new();
    entries.insert("Dockerfile".into(), (0o644, Some(dockerfile.as_bytes())));
    entries.insert("conf/".into(), (0o755, None));
    entries.insert("conf/spark-defaults.conf".into(), (0o644, Some(SPARK_DEFAULTS.as_bytes())));
    entries.insert("jars/".into(), (0o755, None));
    for j in &input.jars {
        entries.insert(format!("jars/{}", j.jar.file_name()), (0o644, Some(&j.bytes)));
    }
    entries.insert("sparkoss/".into(), (0o755, None));
    entries.insert("sparkoss/bin/".into(), (0o755, None));
    entries.insert("sparkoss/bin/sparkoss-launcher".into(), (0o755, Some(&input.launcher)));

    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, (mode, contents)) in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        let io = |e| Error::io(path.as_str(), e);
        match contents {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder.append_data(&mut h, path, std::io::empty()).map_err(io)?;
            }
            Some(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(bytes.len() as u64);
                builder.append_data(&mut h, path, *bytes).map_err(io)?;
            }
        }
    }
    let tar = builder.into_inner().map_err(|e| Error::io("build context", e))?;
    Ok(BuildContext { dockerfile, labels, tar })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Jar;

    fn input(launcher: &[u8]) -> ContextInput {
        let jar = Jar { group: "org.example".into(), artifact: "demo".into(), version: "1.0".into(), sha256: None };
        ContextInput {
            selection: Selection {
                spark_version: "3.5.3".into(),
                hadoop_version: "3.3.4".into(),
                base_image: "apache/spark:3.5.3".into(),
                jars: vec![jar.clone()],
            },
            jars: vec![VerifiedJar {
                jar,
                sha256: "ab".repeat(32),
                bytes: b"PK-demo".to_vec(),
                cached: false,
                anchor: crate::maven::Anchor::RepositorySha512,
                source: "http://127.0.0.1:1/org/example/demo/1.0/demo-1.0.jar".into(),
            }],
            launcher: launcher.to_vec(),
            extra_labels: BTreeMap::from([("team".to_string(), "a b".to_string())]),
        }
    }

    #[test]
    fn context_is_reproducible_and_clean() {
        let a = build_context(&input(b"#!/bin/sh\n")).expect("context");
        let b = build_context(&input(b"#!/bin/sh\n")).expect("context");
        assert_eq!(a.tar, b.tar, "same input must give the same bytes");
        let c = build_context(&input(b"#!/bin/sh\necho changed\n")).expect("context");
        assert_ne!(a.tar, c.tar);

        let mut archive = tar::Archive::new(a.tar.as_slice());
        let mut paths = Vec::new();
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            assert_eq!(h.mtime().expect("mtime"), FIXED_MTIME);
            assert_eq!((h.uid().expect("uid"), h.gid().expect("gid")), (0, 0));
            let p = e.path().expect("path").to_string_lossy().to_string();
            assert!(!p.starts_with('/') && !p.contains(".."), "{p}");
            if p == "sparkoss/bin/sparkoss-launcher" {
                assert_eq!(h.mode().expect("mode"), 0o755);
            }
            paths.push(p);
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert!(paths.contains(&"jars/demo-1.0.jar".to_string()));
    }

    #[test]
    fn dockerfile_orders_layers_and_labels() {
        let ctx = build_context(&input(b"x")).expect("context");
        let d = &ctx.dockerfile;
        let pos = |s: &str| d.find(s).unwrap_or_else(|| panic!("{s} missing in\n{d}"));
        assert!(pos("COPY jars/") < pos("COPY conf/") && pos("COPY conf/") < pos("COPY sparkoss/"));
        assert!(pos("COPY sparkoss/") < pos("LABEL"));
        assert!(d.contains("ENTRYPOINT [\"/opt/sparkoss/bin/sparkoss-launcher\", \"entrypoint\"]\n"), "{d}");
        assert_eq!(
            ctx.labels.get("io.sparkoss.jar.demo").map(String::as_str),
            Some(format!("org.example:demo:1.0 sha256:{}", "ab".repeat(32)).as_str())
        );
        assert_eq!(ctx.labels.get("io.sparkoss.trust.demo").map(String::as_str), Some("repository-sha512"));
        assert!(!d.contains("127.0.0.1:1"), "the download URL is not part of the image");
        assert!(d.contains(r#""team"="a b""#) && d.matches("LABEL").count() == 1, "{d}");
    }
}
