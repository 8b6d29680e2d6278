//! The Docker Engine side: build, tag, push and inspect through bollard.
//!
//! Every long call reports progress as [`Event`]s; an error frame inside a stream ends the call with
//! [`Error::Engine`] carrying the engine's own message.

use std::collections::{BTreeMap, HashMap};

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion, PushImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use crate::context::BuildContext;
use crate::error::{Error, Result};

/// One progress item from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line of build output (`Step 2/9 : COPY ...`, ` ---> Using cache`).
    Build(String),
    /// A push status for one layer (`id` empty for whole-image lines).
    Push {
        /// The layer id when known (bollard's push frames do not carry it), else empty.
        id: String,
        /// `Preparing`, `Pushing`, `Pushed`, `Layer already exists`, ...
        status: String,
        /// Bytes sent so far for this layer, when the engine says.
        current: Option<i64>,
        /// Layer size, when the engine says.
        total: Option<i64>,
    },
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushOutcome {
    /// The reference pushed.
    pub reference: String,
    /// The manifest digest the registry returned.
    pub digest: Option<String>,
    /// Layers uploaded.
    pub layers_pushed: usize,
    /// Layers the registry already had.
    pub layers_existing: usize,
    /// Layers mounted from the base image's repository in the same registry (daemonless path).
    pub layers_mounted: usize,
    /// Bytes sent for uploaded layers (as the engine reports them, on the engine path).
    pub bytes_uploaded: u64,
    /// Bytes sent for the image config (daemonless path; the engine does not say).
    pub config_bytes_uploaded: u64,
}

/// A connection to the Docker Engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
}

/// Splits `repo[:tag]` (a digest reference is not pushable) into repository and tag (`latest` when absent).
pub fn split_reference(reference: &str) -> (String, String) {
    let last_slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[last_slash..].rfind(':') {
        Some(i) => (reference[..last_slash + i].to_string(), reference[last_slash + i + 1..].to_string()),
        None => (reference.to_string(), "latest".to_string()),
    }
}

impl Engine {
    /// Connects through `DOCKER_HOST` or the default socket and agrees on an API version.
    pub async fn connect() -> Result<Self> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| Error::engine("connect", e))?
            // Builds and pushes of large images outlast bollard's 2-minute default.
            .with_timeout(std::time::Duration::from_secs(3600));
        let docker = docker.negotiate_version().await.map_err(|e| Error::engine("connect", e))?;
        Ok(Self { docker })
    }

    /// The underlying client (tests and tools use it for fixtures).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Builds the context and tags the result with every `tags` entry; returns the image id.
    pub async fn build(
        &self,
        ctx: &BuildContext,
        tags: &[String],
        platform: Option<&str>,
        no_cache: bool,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<String> {
        let options = BuildImageOptions {
            dockerfile: "Dockerfile".into(),
            t: tags.first().cloned(),
            nocache: no_cache,
            rm: true,
            forcerm: true,
            platform: platform.unwrap_or_default().to_string(),
            // The classic builder, said rather than left to the default: its progress comes as
            // the JSON lines read below (BuildKit's needs a session), and bench-image-builder
            // compares it with `DOCKER_BUILDKIT=0 docker build`.
            version: BuilderVersion::BuilderV1,
            ..Default::default()
        };
        let body = bollard::body_full(ctx.tar.clone().into());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut id = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::engine("build", stream_message(e)))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::engine("build", detail));
            }
            if let Some(line) = info.stream {
                let line = line.trim_end();
                if !line.is_empty() {
                    on_event(Event::Build(line.to_string()));
                }
            }
            if let Some(aux_id) = info.aux.and_then(|a| a.id) {
                id = Some(aux_id);
            }
        }
        let id = match id {
            Some(id) => id,
            // Older engines do not send the aux frame; the tag tells us.
            None => {
                let first = tags.first().ok_or_else(|| Error::engine("build", "the engine reported no image id"))?;
                self.image_id(first).await?
            }
        };
        for tag in tags.iter().skip(1) {
            let (repo, t) = split_reference(tag);
            let opts = TagImageOptionsBuilder::new().repo(&repo).tag(&t).build();
            self.docker.tag_image(&id, Some(opts)).await.map_err(|e| Error::engine(format!("tag {tag}"), e))?;
        }
        Ok(id)
    }

    /// The id of a local image.
    pub async fn image_id(&self, reference: &str) -> Result<String> {
        let i = self.inspect(reference).await?;
        i.id.ok_or_else(|| Error::engine(format!("inspect {reference}"), "no id in the answer"))
    }

    /// Inspects a local image.
    pub async fn inspect(&self, reference: &str) -> Result<bollard::models::ImageInspect> {
        self.docker.inspect_image(reference).await.map_err(|e| Error::engine(format!("inspect {reference}"), e))
    }

    /// The labels of a local image.
    pub async fn labels(&self, reference: &str) -> Result<BTreeMap<String, String>> {
        let i = self.inspect(reference).await?;
        Ok(i.config.and_then(|c| c.labels).unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>())
    }

    /// Pushes `reference`; `credentials` go only into the `X-Registry-Auth` header.
    pub async fn push(
        &self,
        reference: &str,
        credentials: Option<DockerCredentials>,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<PushOutcome> {
        let (repo, tag) = split_reference(reference);
        let opts = PushImageOptionsBuilder::new().tag(&tag).build();
        let mut stream = self.docker.push_image(&repo, Some(opts), credentials);
        let ctx = format!("push {reference}");
        let mut outcome = PushOutcome { reference: reference.to_string(), ..Default::default() };
        let mut sent: HashMap<i64, i64> = HashMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::engine(&ctx, with_auth_hint(stream_message(e))))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::engine(&ctx, with_auth_hint(detail)));
            }
            let status = info.status.unwrap_or_default();
            // bollard's push frame type drops the layer id; the layer size stands in as a key.
            let id = String::new();
            let (current, total) = info.progress_detail.map(|p| (p.current, p.total)).unwrap_or((None, None));
            match status.as_str() {
                "Pushed" => outcome.layers_pushed += 1,
                "Layer already exists" => outcome.layers_existing += 1,
                "Pushing" => {
                    if let (Some(c), Some(t)) = (current, total) {
                        let e = sent.entry(t).or_insert(0);
                        *e = (*e).max(c);
                    }
                }
                _ => {}
            }
            // The closing line reads "<tag>: digest: sha256:... size: N".
            if let Some(rest) = status.split("digest: ").nth(1) {
                outcome.digest = rest.split_whitespace().next().map(str::to_string);
            }
            on_event(Event::Push { id, status, current, total });
        }
        outcome.bytes_uploaded = sent.values().map(|v| (*v).max(0) as u64).sum();
        if outcome.digest.is_none() {
            return Err(Error::engine(&ctx, "the push ended without a manifest digest"));
        }
        Ok(outcome)
    }
}

/// Adds what to do when the registry refused the credentials (the engine's text stays first).
fn with_auth_hint(message: String) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("unauthorized") || m.contains("authentication required") || m.contains("denied") {
        format!(
            "{message} (the registry refused the credentials: check --registry-username with \
             --registry-password-stdin, or the registry's entry in the Docker config.json)"
        )
    } else {
        message
    }
}

/// The engine's own message, without bollard's wrapping where it adds nothing.
fn stream_message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerStreamError { error } => error,
        bollard::errors::Error::DockerResponseServerError { message, status_code } => {
            format!("{message} (HTTP {status_code})")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn splits_references() {
        assert_eq!(split_reference("a/b:1"), ("a/b".into(), "1".into()));
        assert_eq!(split_reference("127.0.0.1:5000/x/y"), ("127.0.0.1:5000/x/y".into(), "latest".into()));
        assert_eq!(split_reference("127.0.0.1:5000/x:3.5.3"), ("127.0.0.1:5000/x".into(), "3.5.3".into()));
    }
}
