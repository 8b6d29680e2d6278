//! A local stand-in for `apache/spark`: a root filesystem with busybox and Spark's layout,
//! imported into the Docker Engine (and pushed to a [`Registry`]), and a cleanup of the images
//! a test made.

use std::process::{Command, Stdio};
use std::sync::Mutex;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use sparkoss_image_builder::context::FIXED_MTIME;
use sparkoss_image_builder::engine::{split_reference, Engine};

use crate::error::{fail, Result};
use crate::registry::Registry;

/// A root filesystem that looks like `apache/spark` to the builder: busybox as `/bin/sh`,
/// `/opt/spark/{jars,bin,conf}`, `/opt/entrypoint.sh`, and a `spark` user (uid 185).
pub fn spark_like_rootfs(spark_version: &str) -> Result<Vec<u8>> {
    spark_like_rootfs_padded(spark_version, 0)
}

/// Bytes that do not compress (xorshift), so a padded base image weighs what it says.
fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// [`spark_like_rootfs`] plus `/opt/spark/jars/padding-<n>.jar` files of incompressible bytes
/// adding up to `padding` bytes (64 MiB each at most), for a base image of a realistic weight.
pub fn spark_like_rootfs_padded(spark_version: &str, padding: usize) -> Result<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox").map_err(|e| fail(format!("/bin/busybox (Debian package busybox-static): {e}")))?;
    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        ("bin/busybox".into(), 0o755, busybox),
        ("etc/passwd".into(), 0o644, b"root:x:0:0:root:/root:/bin/sh\nspark:x:185:185::/opt/spark:/bin/sh\n".to_vec()),
        ("etc/group".into(), 0o644, b"root:x:0:\nspark:x:185:\n".to_vec()),
        ("opt/entrypoint.sh".into(), 0o755, b"#!/bin/sh\n# stand-in for Spark's entrypoint\necho \"entrypoint $*\"\n".to_vec()),
        ("opt/spark/bin/spark-submit".into(), 0o755, b"#!/bin/sh\necho \"spark-submit $*\"\n".to_vec()),
        (format!("opt/spark/jars/spark-core_2.12-{spark_version}.jar"), 0o644, b"stand-in spark core".to_vec()),
    ];
    let piece = 64 * 1024 * 1024;
    let mut left = padding;
    let mut n = 0u64;
    while left > 0 {
        let len = left.min(piece);
        files.push((format!("opt/spark/jars/padding-{n}.jar"), 0o644, incompressible(len, 0x9e37_79b9_7f4a_7c15 ^ n)));
        left -= len;
        n += 1;
    }
    files.sort();
    let dirs = ["bin", "etc", "opt", "opt/spark", "opt/spark/bin", "opt/spark/conf", "opt/spark/jars", "tmp"];
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if d == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_mtime(FIXED_MTIME);
        b.append_data(&mut h, format!("{d}/"), std::io::empty()).map_err(fail)?;
    }
    for (path, mode, data) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        h.set_mtime(FIXED_MTIME);
        b.append_data(&mut h, path, data.as_slice()).map_err(fail)?;
    }
    for applet in ["sh", "cat", "ls", "sha256sum", "echo", "test", "id"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(FIXED_MTIME);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox").map_err(fail)?;
    }
    b.into_inner().map_err(fail)
}

/// Imports [`spark_like_rootfs`] as `reference` (`repo:tag`) with Spark's entrypoint and user.
pub async fn import_base_image(docker: &bollard::Docker, reference: &str, spark_version: &str) -> Result<()> {
    import_padded_base_image(docker, reference, spark_version, 0).await
}

/// Like [`import_base_image`], with `padding` bytes of incompressible jars in the root filesystem.
pub async fn import_padded_base_image(docker: &bollard::Docker, reference: &str, spark_version: &str, padding: usize) -> Result<()> {
    let (repo, tag) = split_reference(reference);
    let rootfs = spark_like_rootfs_padded(spark_version, padding)?;
    let mut opts = CreateImageOptionsBuilder::new().from_src("-").repo(&repo).tag(&tag).build();
    opts.changes =
        vec![r#"ENTRYPOINT ["/opt/entrypoint.sh"]"#.to_string(), "ENV SPARK_HOME=/opt/spark".to_string(), "USER 185".to_string()];
    let mut s = docker.create_image(Some(opts), Some(bollard::body_full(rootfs.into())), None);
    while let Some(item) = s.next().await {
        item.map_err(|e| fail(format!("import {reference}: {e}")))?;
    }
    Ok(())
}

/// Imports the stand-in base as `<registry.host>/<repo>:3.5.3` and pushes it there through the
/// engine (a fixture: the daemonless path then reads it from the registry). Returns the reference.
pub async fn push_base_image(engine: &Engine, registry: &Registry, repo: &str, padding: usize) -> Result<String> {
    let reference = format!("{}/{repo}:3.5.3", registry.host);
    import_padded_base_image(engine.docker(), &reference, "3.5.3", padding).await?;
    let creds = sparkoss_image_builder::auth::explicit(&registry.host, &registry.username, registry.password.clone());
    engine.push(&reference, Some(creds), &mut |_| {}).await.map_err(|e| fail(format!("push {reference}: {e}")))?;
    Ok(reference)
}

/// Removes the named local images when dropped (through the `docker` CLI, so it works in `Drop`).
#[derive(Debug, Default)]
pub struct ImageCleanup {
    refs: Mutex<Vec<String>>,
}

impl ImageCleanup {
    /// Remembers a reference to remove.
    pub fn add(&self, reference: impl Into<String>) {
        if let Ok(mut r) = self.refs.lock() {
            r.push(reference.into());
        }
    }
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let refs = self.refs.lock().map(|r| r.clone()).unwrap_or_default();
        if !refs.is_empty() {
            let _ = Command::new("docker").arg("rmi").arg("-f").args(&refs).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}
