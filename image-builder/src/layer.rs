//! The image's own layers, built in Rust for the daemonless path: the same files, modes and
//! layer order as the engine path's `COPY` steps (connector jars, then the spark-defaults
//! fragment, then the launcher), as reproducible gzip tars.
//!
//! Reproducible means byte-identical for the same inputs on any machine at any time: entries
//! sorted by path, mtime [`FIXED_MTIME`], uid/gid 0 with empty owner names, explicit modes, ustar
//! headers, and gzip at a fixed level with no file name and mtime 0 in its header.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::context::{ContextInput, FIXED_MTIME, JARS_DIR, LAUNCHER_PATH, SPARK_DEFAULTS, SPARK_DEFAULTS_PATH};
use crate::error::{Error, Result};

/// The gzip level every layer is compressed with (part of the digest: never change it lightly).
pub const GZIP_LEVEL: u32 = 6;

/// One gzip-compressed layer and its two digests.
#[derive(Debug, Clone)]
pub struct Layer {
    /// What the layer holds, for progress and history (`COPY jars/ /opt/spark/jars/`).
    pub created_by: String,
    /// The compressed bytes (what the registry stores).
    pub gz: bytes::Bytes,
    /// `sha256:<hex>` of [`Layer::gz`]: the blob digest in the manifest.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar: the `diff_id` in the image config.
    pub diff_id: String,
}

impl Layer {
    /// The compressed size in bytes.
    pub fn size(&self) -> u64 {
        self.gz.len() as u64
    }
}

/// One file of a layer: absolute path in the image, mode, contents.
struct File<'a> {
    path: String,
    mode: u32,
    data: &'a [u8],
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Builds one reproducible layer from `files` (sorted here) and the new directories it creates.
///
/// Directories the base image already has (`/opt/spark/jars`, `/opt/spark/conf`) get no entry, so
/// their owner and mode stay the base image's, as with the engine's `COPY`.
fn layer(created_by: String, mut files: Vec<File<'_>>, new_dirs: &[&str]) -> Result<Layer> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let io = |e| Error::io(format!("layer {created_by}"), e);
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        h.set_size(size);
        h
    };
    let mut dirs: Vec<&str> = new_dirs.to_vec();
    dirs.sort_unstable();
    for d in dirs {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut h, format!("{}/", d.trim_matches('/')), std::io::empty()).map_err(io)?;
    }
    for f in &files {
        let mut h = header(tar::EntryType::Regular, f.mode, f.data.len() as u64);
        builder.append_data(&mut h, f.path.trim_start_matches('/'), f.data).map_err(io)?;
    }
    let tar = builder.into_inner().map_err(io)?;
    let diff_id = sha256_digest(&tar);
    // GzBuilder writes mtime 0, no name and OS "unknown" unless told otherwise: nothing of the
    // build machine or the clock gets into the bytes.
    let mut gz = flate2::GzBuilder::new().write(Vec::with_capacity(tar.len() / 2), flate2::Compression::new(GZIP_LEVEL));
    gz.write_all(&tar).map_err(io)?;
    let gz = gz.finish().map_err(io)?;
    Ok(Layer { created_by, digest: sha256_digest(&gz), diff_id, gz: gz.into() })
}

/// The three layers the image adds on its base, least to most often changing (as the engine
/// path's Dockerfile): the connector jars, the spark-defaults fragment, the launcher.
pub fn image_layers(input: &ContextInput) -> Result<Vec<Layer>> {
    let jars: Vec<File<'_>> =
        input.jars.iter().map(|j| File { path: format!("{JARS_DIR}/{}", j.jar.file_name()), mode: 0o644, data: &j.bytes }).collect();
    let launcher_dirs: Vec<&str> = ["/opt/sparkoss", "/opt/sparkoss/bin"].to_vec();
    Ok(vec![
        layer(format!("COPY jars/ {JARS_DIR}/"), jars, &[])?,
        layer(
            format!("COPY conf/spark-defaults.conf {SPARK_DEFAULTS_PATH}"),
            vec![File { path: SPARK_DEFAULTS_PATH.into(), mode: 0o644, data: SPARK_DEFAULTS.as_bytes() }],
            &[],
        )?,
        layer(
            format!("COPY sparkoss/bin/sparkoss-launcher {LAUNCHER_PATH}"),
            vec![File { path: LAUNCHER_PATH.into(), mode: 0o755, data: &input.launcher }],
            &launcher_dirs,
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;
    use crate::catalog::{Jar, Selection};
    use crate::maven::VerifiedJar;

    fn input(launcher: &[u8], jar_names: &[&str]) -> ContextInput {
        let jars: Vec<VerifiedJar> = jar_names
            .iter()
            .map(|a| VerifiedJar {
                jar: Jar { group: "org.example".into(), artifact: (*a).into(), version: "1.0".into(), sha256: None },
                sha256: "ab".repeat(32),
                bytes: format!("PK {a}").into_bytes(),
                cached: false,
                anchor: crate::maven::Anchor::CatalogPin,
                source: "http://127.0.0.1:1/x.jar".into(),
            })
            .collect();
        ContextInput {
            selection: Selection {
                spark_version: "3.5.3".into(),
                hadoop_version: "3.3.4".into(),
                base_image: "apache/spark:3.5.3".into(),
                jars: jars.iter().map(|j| j.jar.clone()).collect(),
            },
            jars,
            launcher: launcher.to_vec(),
            extra_labels: BTreeMap::new(),
        }
    }

    fn entries(l: &Layer) -> Vec<(String, u32, u64, u64, u64)> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(&l.gz[..]));
        a.entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("read");
                let path = e.path().expect("path").to_string_lossy().into_owned();
                (path, h.mode().expect("mode"), h.mtime().expect("mtime"), h.uid().expect("uid"), h.gid().expect("gid"))
            })
            .collect()
    }

    #[test]
    fn layers_are_reproducible_sorted_and_owned_by_root() {
        let a = image_layers(&input(b"#!/bin/sh\n", &["zeta", "alpha"])).expect("layers");
        let b = image_layers(&input(b"#!/bin/sh\n", &["zeta", "alpha"])).expect("layers");
        let digests = |v: &[Layer]| v.iter().map(|l| (l.digest.clone(), l.diff_id.clone())).collect::<Vec<_>>();
        assert_eq!(digests(&a), digests(&b), "same input, same digests");
        let c = image_layers(&input(b"#!/bin/sh\necho 2\n", &["zeta", "alpha"])).expect("layers");
        assert_eq!(a[0].digest, c[0].digest, "the jar layer does not depend on the launcher");
        assert_ne!(a[2].digest, c[2].digest);

        let jars = entries(&a[0]);
        let paths: Vec<&str> = jars.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(paths, ["opt/spark/jars/alpha-1.0.jar", "opt/spark/jars/zeta-1.0.jar"], "sorted, no base dirs");
        for (path, mode, mtime, uid, gid) in entries(&a[0]).into_iter().chain(entries(&a[1])).chain(entries(&a[2])) {
            assert_eq!((mtime, uid, gid), (FIXED_MTIME, 0, 0), "{path}");
            let want = if path.ends_with('/') || path.ends_with("sparkoss-launcher") { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "{path}");
        }
        let launcher: Vec<String> = entries(&a[2]).into_iter().map(|e| e.0).collect();
        assert_eq!(launcher, ["opt/sparkoss/", "opt/sparkoss/bin/", "opt/sparkoss/bin/sparkoss-launcher"]);
        // gzip header: no mtime (bytes 4..8), no file name flag.
        assert_eq!(&a[2].gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[2].gz[3] & 0x08, 0);
        assert_eq!(a[1].digest, sha256_digest(&a[1].gz));
    }
}
