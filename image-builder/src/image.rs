//! The image's config and manifest for the daemonless path, derived from the base image's the way
//! the engine's classic builder derives them from the generated Dockerfile: the base's env, user,
//! working directory, labels and the rest kept; the launcher's `ENTRYPOINT` in front (which, as in
//! Docker, clears an inherited `CMD`); our labels added; our layers appended to `rootfs.diff_ids`.
//!
//! No IO here: the registry side is [`crate::registry`], the orchestration [`crate::daemonless`].
//! Nothing of the build's time or machine goes in: no `created` unless `SOURCE_DATE_EPOCH` says
//! which one, so the same inputs give the same config digest.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::context::LAUNCHER_PATH;
use crate::error::{Error, Result};
use crate::layer::{sha256_digest, Layer};

/// Docker's image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker's gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Every manifest type the base may be served as.
pub const ACCEPTED_MANIFESTS: &[&str] = &[DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX];

/// The `PATH` Docker's builder adds to an image whose base sets none (moby's default).
const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The two manifest families; the new image is written in its base's, so that its base layers'
/// media types stay valid in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker schema 2.
    Docker,
    /// OCI image spec.
    Oci,
}

impl Format {
    /// The manifest media type.
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST,
            Format::Oci => OCI_MANIFEST,
        }
    }
    fn config_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_CONFIG,
            Format::Oci => OCI_CONFIG,
        }
    }
    fn layer_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_LAYER_GZIP,
            Format::Oci => OCI_LAYER_GZIP,
        }
    }
}

/// What a manifest body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// A multi-platform index (or Docker manifest list).
    Index(Value),
    /// A single image manifest.
    Image {
        /// Its family.
        format: Format,
        /// The parsed body.
        body: Value,
    },
}

/// Parses a manifest body, telling index from image by `mediaType` (or, when a registry leaves it
/// out, by the presence of `manifests`).
pub fn parse_manifest(image: &str, bytes: &[u8]) -> Result<Manifest> {
    let bad = |message: String| Error::Registry { image: image.to_string(), message };
    let body: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("the manifest is not JSON: {e}")))?;
    let media_type = body["mediaType"].as_str().unwrap_or_default();
    match media_type {
        DOCKER_MANIFEST_LIST | OCI_INDEX => Ok(Manifest::Index(body)),
        DOCKER_MANIFEST => Ok(Manifest::Image { format: Format::Docker, body }),
        OCI_MANIFEST => Ok(Manifest::Image { format: Format::Oci, body }),
        "" if body.get("manifests").is_some() => Ok(Manifest::Index(body)),
        "" if body.get("layers").is_some() => Ok(Manifest::Image { format: Format::Oci, body }),
        other => Err(bad(format!("unsupported manifest type {other:?} (schema 1 images are not supported)"))),
    }
}

/// `os/arch[/variant]` split.
fn platform_parts(platform: &str) -> (&str, &str, Option<&str>) {
    let mut it = platform.splitn(3, '/');
    (it.next().unwrap_or_default(), it.next().unwrap_or_default(), it.next())
}

/// The digest of the index entry for `platform` (`linux/amd64`, `linux/arm64`), if there is one.
/// `linux/arm64` also matches an entry with variant `v8`, as Docker does.
pub fn select_platform(index: &Value, platform: &str) -> Option<String> {
    let (os, arch, variant) = platform_parts(platform);
    index["manifests"].as_array()?.iter().find_map(|m| {
        let p = &m["platform"];
        let v = p["variant"].as_str();
        let variant_ok = match variant {
            Some(want) => v == Some(want),
            None => v.is_none() || (arch == "arm64" && v == Some("v8")),
        };
        (p["os"] == os && p["architecture"] == arch && variant_ok).then(|| m["digest"].as_str().map(str::to_string)).flatten()
    })
}

/// The platforms an index offers, for an error message.
pub fn platforms_of(index: &Value) -> String {
    let list: Vec<String> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let p = &m["platform"];
            let (os, arch) = (p["os"].as_str()?, p["architecture"].as_str()?);
            Some(match p["variant"].as_str() {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            })
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Checks that a single-platform base config is for `platform`.
pub fn check_platform(image: &str, config: &Value, platform: &str) -> Result<()> {
    let (os, arch, _) = platform_parts(platform);
    let (have_os, have_arch) = (config["os"].as_str().unwrap_or("linux"), config["architecture"].as_str().unwrap_or_default());
    if have_os != os || have_arch != arch {
        return Err(Error::Registry {
            image: image.to_string(),
            message: format!("the base image is {have_os}/{have_arch}, not {platform} (--platform)"),
        });
    }
    Ok(())
}

/// The new image's config, as bytes: the base's, with the launcher entrypoint, `labels` merged
/// over the base's and `layers` appended. `created` is `SOURCE_DATE_EPOCH` (seconds) when given,
/// else absent.
pub fn derive_config(base: &Value, labels: &BTreeMap<String, String>, layers: &[Layer], source_date_epoch: Option<i64>) -> Result<Vec<u8>> {
    let mut cfg = base.clone();
    let obj = cfg.as_object_mut().ok_or_else(|| Error::Registry { image: "base".into(), message: "the config is not an object".into() })?;
    // What describes the base's own build, not this image.
    for k in ["created", "container", "container_config", "docker_version", "author"] {
        obj.remove(k);
    }
    let created = source_date_epoch.map(rfc3339);
    if let Some(c) = &created {
        obj.insert("created".into(), json!(c));
    }
    let config = obj.entry("config").or_insert_with(|| json!({}));
    if !config.is_object() {
        *config = json!({});
    }
    // The engine's builder appends its default PATH when the base sets none; so do we.
    let mut env: Vec<Value> = config["Env"].as_array().cloned().unwrap_or_default();
    if !env.iter().any(|e| e.as_str().is_some_and(|s| s.starts_with("PATH="))) {
        env.push(json!(DEFAULT_PATH_ENV));
    }
    config["Env"] = Value::Array(env);
    config["Entrypoint"] = json!([LAUNCHER_PATH, "entrypoint"]);
    // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
    config["Cmd"] = Value::Null;
    let mut merged: serde_json::Map<String, Value> = config["Labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in labels {
        merged.insert(k.clone(), json!(v));
    }
    config["Labels"] = Value::Object(merged);

    let rootfs = obj.entry("rootfs").or_insert_with(|| json!({ "type": "layers", "diff_ids": [] }));
    let diff_ids = rootfs["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| Error::Registry { image: "base".into(), message: "the config has no rootfs.diff_ids".into() })?;
    diff_ids.extend(layers.iter().map(|l| json!(l.diff_id)));

    let history = obj.entry("history").or_insert_with(|| json!([]));
    if let Some(h) = history.as_array_mut() {
        let mut entry = |created_by: String, empty: bool| {
            let mut e = json!({ "created_by": created_by, "comment": "sparkoss image-builder" });
            if let Some(c) = &created {
                e["created"] = json!(c);
            }
            if empty {
                e["empty_layer"] = json!(true);
            }
            h.push(e);
        };
        for l in layers {
            entry(l.created_by.clone(), false);
        }
        entry(format!("ENTRYPOINT [\"{LAUNCHER_PATH}\", \"entrypoint\"]"), true);
        entry("LABEL (sparkoss and --label labels)".into(), true);
    }
    serde_json::to_vec(&cfg).map_err(|e| Error::Registry { image: "config".into(), message: e.to_string() })
}

/// The new image's manifest: the base's layer descriptors as they are, then `layers`.
pub fn derive_manifest(format: Format, config: &[u8], base_layers: &[Value], layers: &[Layer]) -> Result<Vec<u8>> {
    let mut all: Vec<Value> = base_layers.to_vec();
    all.extend(layers.iter().map(|l| json!({ "mediaType": format.layer_type(), "size": l.size(), "digest": l.digest })));
    let m = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_type(),
        "config": { "mediaType": format.config_type(), "size": config.len(), "digest": sha256_digest(config) },
        "layers": all,
    });
    serde_json::to_vec(&m).map_err(|e| Error::Registry { image: "manifest".into(), message: e.to_string() })
}

/// `SOURCE_DATE_EPOCH` from the environment: `None` when unset or empty; an error when it is not a
/// whole number of seconds.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<i64>().map(Some).map_err(|_| Error::InvalidArgument {
            flag: "SOURCE_DATE_EPOCH",
            message: format!("{v:?} is not a number of seconds since 1970-01-01"),
        }),
        _ => Ok(None),
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`), without a date library.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> Layer {
        Layer {
            created_by: format!("COPY {n}"),
            gz: vec![n].into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            diff_id: format!("sha256:{n:064}"),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(946_684_800), "2000-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn platform_selection() {
        let index = json!({ "mediaType": OCI_INDEX, "manifests": [
            { "digest": "sha256:arm", "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" } },
            { "digest": "sha256:amd", "platform": { "os": "linux", "architecture": "amd64" } },
            { "digest": "sha256:att", "platform": { "os": "unknown", "architecture": "unknown" } } ] });
        assert_eq!(select_platform(&index, "linux/amd64").as_deref(), Some("sha256:amd"));
        assert_eq!(select_platform(&index, "linux/arm64").as_deref(), Some("sha256:arm"));
        assert_eq!(select_platform(&index, "linux/s390x"), None);
        assert!(platforms_of(&index).contains("linux/arm64/v8"));
        assert!(matches!(parse_manifest("x", index.to_string().as_bytes()), Ok(Manifest::Index(_))));
    }

    #[test]
    fn config_keeps_the_base_and_fronts_the_launcher() {
        let base = json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "container_config": { "Cmd": ["build"] },
            "config": { "Env": ["SPARK_HOME=/opt/spark"], "User": "185", "WorkingDir": "/opt/spark/work-dir",
                        "Entrypoint": ["/opt/entrypoint.sh"], "Cmd": ["bash"], "Labels": { "base": "yes", "team": "old" } },
            "rootfs": { "type": "layers", "diff_ids": ["sha256:base"] },
            "history": [ { "created_by": "base" } ] });
        let labels = BTreeMap::from([("team".to_string(), "new".to_string())]);
        let bytes = derive_config(&base, &labels, &[layer(1), layer(2)], None).expect("config");
        assert_eq!(bytes, derive_config(&base, &labels, &[layer(1), layer(2)], None).expect("config"), "deterministic");
        let c: Value = serde_json::from_slice(&bytes).expect("json");
        assert!(c.get("created").is_none() && c.get("container_config").is_none(), "{c}");
        assert_eq!(c["config"]["Entrypoint"], json!([LAUNCHER_PATH, "entrypoint"]));
        assert_eq!(c["config"]["Cmd"], Value::Null, "ENTRYPOINT clears the inherited CMD");
        assert_eq!((c["config"]["User"].as_str(), c["config"]["WorkingDir"].as_str()), (Some("185"), Some("/opt/spark/work-dir")));
        assert_eq!(c["config"]["Env"], json!(["SPARK_HOME=/opt/spark", DEFAULT_PATH_ENV]), "the engine's default PATH added");
        assert_eq!(c["config"]["Labels"], json!({ "base": "yes", "team": "new" }));
        assert_eq!(c["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(3));
        assert_eq!(c["history"].as_array().map(Vec::len), Some(5));

        let dated: Value = serde_json::from_slice(&derive_config(&base, &labels, &[], Some(0)).expect("config")).expect("json");
        assert_eq!(dated["created"], "1970-01-01T00:00:00Z");
        let bare: Value =
            serde_json::from_slice(&derive_config(&json!({ "rootfs": { "diff_ids": [] } }), &labels, &[], None).expect("c")).expect("j");
        assert_eq!(bare["config"]["Env"], json!([DEFAULT_PATH_ENV]), "Docker's default PATH when the base sets no env");
        let with_path = json!({ "config": { "Env": ["PATH=/x"] }, "rootfs": { "diff_ids": [] } });
        let kept: Value = serde_json::from_slice(&derive_config(&with_path, &labels, &[], None).expect("c")).expect("j");
        assert_eq!(kept["config"]["Env"], json!(["PATH=/x"]), "a base PATH is kept as it is");

        let m: Value = serde_json::from_slice(
            &derive_manifest(
                Format::Docker,
                &bytes,
                &[json!({ "mediaType": DOCKER_LAYER_GZIP, "digest": "sha256:b", "size": 1 })],
                &[layer(1)],
            )
            .expect("manifest"),
        )
        .expect("json");
        assert_eq!(m["mediaType"], DOCKER_MANIFEST);
        assert_eq!(m["config"]["digest"], sha256_digest(&bytes).as_str());
        assert_eq!(m["layers"][1]["mediaType"], DOCKER_LAYER_GZIP);
    }
}
