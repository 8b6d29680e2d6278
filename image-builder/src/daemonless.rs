//! `build --push` without a Docker Engine: read the base image from its registry, build the
//! layers in Rust ([`crate::layer`]), derive config and manifest ([`crate::image`]), and push only
//! what each target repository lacks ([`crate::registry`]), the manifest last.
//!
//! Order of the push, for every tag: each base layer is checked (`HEAD`), then mounted from the
//! base's repository when the base lives in the same registry, else copied blob by blob as a
//! stream; our layers and the config are checked and uploaded when missing. Only when every tag's
//! blobs are in place are the manifests put, so a refusal anywhere leaves no tag written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bollard::auth::DockerCredentials;
use oci_client::manifest::OciDescriptor;
use oci_client::Reference;
use serde_json::Value;

use crate::context::ContextInput;
use crate::engine::{Event, PushOutcome};
use crate::error::{Error, Result};
use crate::image::{self, Format, Manifest};
use crate::layer::{self, Layer};
use crate::registry::{self, Placed, Registries};

/// The most a base config may weigh (they are a few KiB).
const CONFIG_LIMIT: u64 = 8 * 1024 * 1024;

/// What [`build_and_push`] needs.
pub struct Request<'a> {
    /// The image's content.
    pub input: &'a ContextInput,
    /// The image's labels (as [`crate::context::labels`] makes them).
    pub labels: &'a BTreeMap<String, String>,
    /// The references to push (every one gets the same manifest).
    pub tags: &'a [String],
    /// `os/arch` to take from a multi-platform base.
    pub platform: &'a str,
}

/// What a daemonless build made and pushed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    /// `sha256:` of the manifest: the image digest.
    pub digest: String,
    /// `sha256:` of the config: what the engine shows as the image id once pulled.
    pub config_digest: String,
    /// The base manifest's digest (for a multi-platform base, the chosen platform's).
    pub base_digest: String,
    /// Digests of the layers made here, bottom first.
    pub layers: Vec<String>,
    /// One outcome per tag.
    pub pushed: Vec<PushOutcome>,
}

/// The short form of a digest shown in progress (`sha256:0123456789ab` → `0123456789ab`).
fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The base image: its manifest family, layer descriptors, config and manifest digest.
struct Base {
    reference: Reference,
    format: Format,
    layers: Vec<Value>,
    config: Value,
    digest: String,
}

/// Reads the base's manifest (choosing `platform` in an index) and config.
async fn read_base(regs: &Registries, base: &Reference, platform: &str) -> Result<Base> {
    let name = base.whole();
    let not_found = || Error::Registry {
        image: name.clone(),
        message: format!("base image not found in {} (push it there first, or name another with --base-image)", base.resolve_registry()),
    };
    let (bytes, digest) = regs.manifest(base).await?.ok_or_else(not_found)?;
    let (reference, manifest, digest) = match image::parse_manifest(&name, &bytes)? {
        Manifest::Index(index) => {
            let chosen = image::select_platform(&index, platform).ok_or_else(|| Error::Registry {
                image: name.clone(),
                message: format!("the base image has no {platform} image (--platform); it has: {}", image::platforms_of(&index)),
            })?;
            let r = base.clone_with_digest(chosen);
            let (bytes, digest) = regs.manifest(&r).await?.ok_or_else(not_found)?;
            (r, image::parse_manifest(&name, &bytes)?, digest)
        }
        m => (base.clone(), m, digest),
    };
    let Manifest::Image { format, body } = manifest else {
        return Err(Error::Registry { image: name, message: "an index inside an index is not supported".into() });
    };
    let config_digest = body["config"]["digest"]
        .as_str()
        .ok_or_else(|| Error::Registry { image: name.clone(), message: "the manifest has no config digest".into() })?;
    let config_bytes = regs.small_blob(&reference, config_digest, CONFIG_LIMIT).await?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::Registry { image: name.clone(), message: format!("the config is not JSON: {e}") })?;
    image::check_platform(&name, &config, platform)?;
    let layers = body["layers"].as_array().cloned().unwrap_or_default();
    for l in &layers {
        let mt = l["mediaType"].as_str().unwrap_or_default();
        if !mt.contains("tar") || l["digest"].as_str().is_none() {
            return Err(Error::Registry { image: name, message: format!("unsupported base layer {l}") });
        }
    }
    Ok(Base { reference, format, layers, config, digest })
}

/// Runs `fut` while reporting `counter`'s bytes as `Pushing` events for `id` every 200 ms.
async fn with_ticks<F: std::future::Future>(
    fut: F,
    id: &str,
    total: i64,
    counter: &AtomicU64,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> F::Output {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tick.tick() => {
                let c = counter.load(Ordering::Relaxed) as i64;
                on_event(Event::Push { id: id.to_string(), status: "Pushing".into(), current: Some(c), total: Some(total) });
            }
        }
    }
}

/// Puts every blob the image needs into `target`'s repository; returns what that took.
async fn place_blobs(
    regs: &Registries,
    base: &Base,
    target: &Reference,
    ours: &[Layer],
    config: &bytes::Bytes,
    config_digest: &str,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<PushOutcome> {
    let mut outcome = PushOutcome { reference: target.whole(), ..Default::default() };
    let same_registry = base.reference.resolve_registry() == target.resolve_registry();
    let mut report = |on_event: &mut (dyn FnMut(Event) + Send), id: &str, placed: Placed, size: u64, layer: bool| {
        let status = match placed {
            Placed::Existing => "Layer already exists".to_string(),
            Placed::Mounted => format!("Mounted from {}", base.reference.repository()),
            Placed::Uploaded(n) => format!("Pushed {n} bytes"),
        };
        if layer {
            match placed {
                Placed::Existing => outcome.layers_existing += 1,
                Placed::Mounted => outcome.layers_mounted += 1,
                Placed::Uploaded(n) => {
                    outcome.layers_pushed += 1;
                    outcome.bytes_uploaded += n;
                }
            }
        } else if let Placed::Uploaded(n) = placed {
            outcome.config_bytes_uploaded += n;
        }
        let s = size as i64;
        on_event(Event::Push { id: id.to_string(), status, current: Some(s), total: Some(s) });
    };

    for l in &base.layers {
        let digest = l["digest"].as_str().unwrap_or_default().to_string();
        let size = l["size"].as_u64().unwrap_or(0);
        let id = short(&digest);
        on_event(Event::Push { id: id.clone(), status: "Preparing".into(), current: Some(0), total: Some(size as i64) });
        let placed = if regs.has_blob(target, &digest).await? {
            Placed::Existing
        } else if same_registry && regs.mount(target, &base.reference, &digest).await {
            Placed::Mounted
        } else {
            let desc = OciDescriptor {
                media_type: l["mediaType"].as_str().unwrap_or_default().to_string(),
                digest: digest.clone(),
                size: size as i64,
                ..Default::default()
            };
            let sent = Arc::new(AtomicU64::new(0));
            let n = with_ticks(regs.copy_blob(&base.reference, target, &desc, sent.clone()), &id, size as i64, &sent, on_event).await?;
            Placed::Uploaded(n)
        };
        report(on_event, &id, placed, size, true);
    }
    for l in ours {
        let id = short(&l.digest);
        on_event(Event::Push { id: id.clone(), status: "Preparing".into(), current: Some(0), total: Some(l.size() as i64) });
        let placed = if regs.has_blob(target, &l.digest).await? {
            Placed::Existing
        } else {
            Placed::Uploaded(regs.push_blob(target, l.gz.clone(), &l.digest).await?)
        };
        report(on_event, &id, placed, l.size(), true);
    }
    let placed = if regs.has_blob(target, config_digest).await? {
        Placed::Existing
    } else {
        Placed::Uploaded(regs.push_blob(target, config.clone(), config_digest).await?)
    };
    report(on_event, &format!("config {}", short(config_digest)), placed, config.len() as u64, false);
    Ok(outcome)
}

/// Builds the image from `req` and pushes it to every tag, with credentials from `credentials`
/// (called once per registry host: the base's and the tags').
pub async fn build_and_push(
    req: &Request<'_>,
    credentials: &dyn Fn(&str) -> Result<Option<DockerCredentials>>,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<Built> {
    let base_ref = registry::reference("--base-image", &req.input.selection.base_image)?;
    let targets: Vec<Reference> = req.tags.iter().map(|t| registry::reference("--tag", t)).collect::<Result<_>>()?;
    for (t, r) in req.tags.iter().zip(&targets) {
        if r.digest().is_some() {
            return Err(Error::InvalidArgument { flag: "--tag", message: format!("{t}: a digest reference cannot be pushed to") });
        }
    }
    let mut hosts: Vec<String> = Vec::new();
    for r in std::iter::once(&base_ref).chain(&targets) {
        let h = r.registry().to_string();
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    let with_creds: Vec<(String, Option<DockerCredentials>)> =
        hosts.iter().map(|h| Ok((h.clone(), credentials(h)?))).collect::<Result<_>>()?;
    let regs = Registries::new(&with_creds)?;

    on_event(Event::Build(format!("reading base image {} ({})", base_ref.whole(), req.platform)));
    let base = read_base(&regs, &base_ref, req.platform).await?;
    on_event(Event::Build(format!("base {} {}: {} layers", base_ref.whole(), base.digest, base.layers.len())));

    let ours = layer::image_layers(req.input)?;
    for l in &ours {
        on_event(Event::Build(format!("layer {} {} ({} bytes)", short(&l.digest), l.created_by, l.size())));
    }
    let config = image::derive_config(&base.config, req.labels, &ours, image::source_date_epoch()?)?;
    let manifest = image::derive_manifest(base.format, &config, &base.layers, &ours)?;
    let config_digest = layer::sha256_digest(&config);
    let digest = layer::sha256_digest(&manifest);
    let config = bytes::Bytes::from(config);

    let mut pushed = Vec::new();
    for target in &targets {
        let mut outcome = place_blobs(&regs, &base, target, &ours, &config, &config_digest, on_event).await?;
        outcome.digest = Some(digest.clone());
        pushed.push(outcome);
    }
    // Manifests last: every tag's blobs are in place before any tag is written.
    for target in &targets {
        regs.put_manifest(target, manifest.clone(), base.format.manifest_type()).await?;
        on_event(Event::Push {
            id: String::new(),
            status: format!("{}: digest: {digest} size: {}", target.whole(), manifest.len()),
            current: None,
            total: None,
        });
    }
    Ok(Built { digest, config_digest, base_digest: base.digest, layers: ours.iter().map(|l| l.digest.clone()).collect(), pushed })
}
