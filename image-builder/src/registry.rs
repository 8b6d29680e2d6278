//! The registry side of the daemonless path, through `oci-client` (the OCI distribution API):
//! manifests and configs read, blobs checked (`HEAD`), mounted across repositories, copied as a
//! stream between registries, pushed; the manifest put last.
//!
//! Credentials are those of [`crate::auth`] (`--registry-username` or the Docker CLI's
//! `config.json` and its helpers), kept in the client and never in an error. Registries on a
//! loopback address are spoken to over plain HTTP, as the Docker Engine treats `127.0.0.0/8`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use futures_util::{Stream, StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::error::{Error, Result};
use crate::image::ACCEPTED_MANIFESTS;

/// What a registry stream is cut into before it is sent on: one `PUT` body streams through, but
/// the pieces are kept at this size so that memory stays bounded whatever the blob's size.
const COPY_PIECE: usize = 1024 * 1024;

/// Whether `registry` (`host[:port]`) is on a loopback address (spoken to over HTTP).
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses an image reference for the registry client, naming the flag on error.
pub fn reference(flag: &'static str, s: &str) -> Result<Reference> {
    s.parse::<Reference>().map_err(|e| Error::InvalidArgument { flag, message: format!("{s:?} is not an image reference: {e}") })
}

/// The `host[:port]` a reference is served from (`docker.io` as `index.docker.io`).
pub fn registry_host(r: &Reference) -> String {
    r.resolve_registry().to_string()
}

/// A registry client for the daemonless path.
pub struct Registries {
    client: Client,
    http: reqwest::Client,
    /// registry host → credentials given (for the refusal message's probe).
    auths: HashMap<String, RegistryAuth>,
    plain_http: Vec<String>,
}

/// How a blob got into the target repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The repository had it already (`HEAD` answered 200).
    Existing,
    /// Mounted from the base's repository in the same registry (no bytes sent).
    Mounted,
    /// Uploaded; this many bytes.
    Uploaded(u64),
}

impl Registries {
    /// A client for images in `registries` (hosts), with their credentials (`None`: anonymous).
    pub fn new(registries: &[(String, Option<DockerCredentials>)]) -> Result<Self> {
        let plain_http: Vec<String> = registries.iter().map(|(r, _)| r.clone()).filter(|r| is_loopback(r)).collect();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain_http.clone()),
            // One streamed PUT per blob: a chunked upload would cost a request per piece.
            use_monolithic_push: true,
            // An index is resolved here (by --platform), never by the client's guess.
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(300)),
            user_agent: concat!("sparkoss-image-builder/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let mut auths = HashMap::new();
        for (registry, creds) in registries {
            let auth = match creds {
                None => RegistryAuth::Anonymous,
                Some(c) if c.identitytoken.is_some() => {
                    return Err(Error::Credentials {
                        registry: registry.clone(),
                        message: "an identity token (from `docker login` with OAuth) is not supported by the daemonless \
                                  path; give --registry-username with --registry-password-stdin, or use --engine"
                            .into(),
                    })
                }
                Some(c) => RegistryAuth::Basic(c.username.clone().unwrap_or_default(), c.password.clone().unwrap_or_default()),
            };
            let host = if registry == "docker.io" { "index.docker.io".to_string() } else { registry.clone() };
            auths.insert(host, auth);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Registry { image: "-".into(), message: format!("cannot create the HTTP client: {e}") })?;
        // oci-client's reqwest takes rustls's process-wide back-end (`rustls-tls-no-provider`: its
        // own choice would compile aws-lc-rs in beside ring). Err: one was installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self { client: Client::new(config), http, auths, plain_http })
    }

    fn auth_for(&self, r: &Reference) -> RegistryAuth {
        self.auths.get(r.resolve_registry()).cloned().unwrap_or(RegistryAuth::Anonymous)
    }

    async fn store_auth(&self, r: &Reference) {
        self.client.store_auth_if_needed(r.resolve_registry(), &self.auth_for(r)).await;
    }

    /// Turns a client error into one naming `image` and what was being done; a refusal of the
    /// credentials carries the registry's own answer (probed with the same credentials on `/v2/`,
    /// since the client's error keeps only the URL).
    async fn fail(&self, image: &Reference, doing: &str, e: OciDistributionError) -> Error {
        let status = match &e {
            OciDistributionError::UnauthorizedError { .. } => Some(401),
            OciDistributionError::ServerError { code, .. } => Some(*code),
            OciDistributionError::RegistryError { envelope, .. } => {
                envelope.errors.iter().any(|x| format!("{:?}", x.code).to_ascii_uppercase().contains("UNAUTHORIZED")).then_some(401)
            }
            OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
            OciDistributionError::AuthenticationFailure(_) => Some(401),
            _ => None,
        };
        let message = match status {
            Some(401) | Some(403) => {
                let answer = self.probe(image).await;
                let given = match self.auth_for(image) {
                    RegistryAuth::Anonymous => {
                        "no credentials were found for it (give --registry-username with \
                                                --registry-password-stdin, or `docker login`)"
                    }
                    _ => {
                        "check --registry-username with --registry-password-stdin, or the registry's entry in the \
                          Docker config.json"
                    }
                };
                format!("{doing}: the registry {} refused the credentials ({answer}); {given}", image.resolve_registry())
            }
            _ => format!("{doing}: {}", redact(&chain(&e))),
        };
        Error::Registry { image: image.whole(), message }
    }

    /// `GET /v2/` with the credentials given for `image`'s registry: the registry's answer, as
    /// `HTTP <status>: <body>`.
    async fn probe(&self, image: &Reference) -> String {
        let host = image.resolve_registry();
        let scheme = if self.plain_http.iter().any(|h| h == host) { "http" } else { "https" };
        let mut req = self.http.get(format!("{scheme}://{host}/v2/"));
        if let RegistryAuth::Basic(u, p) = self.auth_for(image) {
            req = req.basic_auth(u, Some(p));
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let body: String = body.trim().chars().take(300).collect();
                format!("HTTP {status}: {body}")
            }
            Err(e) => format!("no answer: {}", e.without_url()),
        }
    }

    /// The manifest of `image` as served (bytes) and its digest; `Ok(None)` when the registry
    /// says it has no such manifest or repository.
    pub async fn manifest(&self, image: &Reference) -> Result<Option<(bytes::Bytes, String)>> {
        self.store_auth(image).await;
        match self.client.pull_manifest_raw(image, &self.auth_for(image), ACCEPTED_MANIFESTS).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.fail(image, "reading the manifest", e).await),
        }
    }

    /// A small blob (a config) in memory, checked against its digest by the client.
    pub async fn small_blob(&self, image: &Reference, digest: &str, limit: u64) -> Result<Vec<u8>> {
        self.store_auth(image).await;
        let desc = OciDescriptor { digest: digest.to_string(), ..Default::default() };
        let mut s = match self.client.pull_blob_stream(image, &desc).await {
            Ok(s) => s,
            Err(e) => return Err(self.fail(image, &format!("reading blob {digest}"), e).await),
        };
        let mut out = Vec::new();
        while let Some(piece) = s.next().await {
            let piece = piece.map_err(|e| Error::Registry { image: image.whole(), message: format!("reading blob {digest}: {e}") })?;
            out.extend_from_slice(&piece);
            if out.len() as u64 > limit {
                return Err(Error::Registry { image: image.whole(), message: format!("blob {digest} is over {limit} bytes") });
            }
        }
        Ok(out)
    }

    /// Whether the target repository already has `digest` (`HEAD`).
    pub async fn has_blob(&self, target: &Reference, digest: &str) -> Result<bool> {
        self.store_auth(target).await;
        match self.client.blob_exists(target, digest).await {
            Ok(b) => Ok(b),
            Err(e) => Err(self.fail(target, &format!("checking blob {digest}"), e).await),
        }
    }

    /// Mounts `digest` from `source`'s repository into `target`'s (same registry). `false` when
    /// the registry would not (it then expects an upload; the caller copies instead).
    pub async fn mount(&self, target: &Reference, source: &Reference, digest: &str) -> bool {
        self.store_auth(target).await;
        self.client.mount_blob(target, source, digest).await.is_ok()
    }

    /// Copies one blob from `source` to `target` as a stream (never whole in memory): the bytes
    /// are checked against `desc`'s digest as they pass (a mismatch aborts the upload, and the
    /// registry checks the digest again before it keeps the blob). `sent` counts the bytes.
    pub async fn copy_blob(&self, source: &Reference, target: &Reference, desc: &OciDescriptor, sent: Arc<AtomicU64>) -> Result<u64> {
        self.store_auth(source).await;
        self.store_auth(target).await;
        let pulled = match self.client.pull_blob_stream(source, desc).await {
            Ok(s) => s,
            Err(e) => return Err(self.fail(source, &format!("reading blob {}", desc.digest), e).await),
        };
        let size = pulled.content_length.or(u64::try_from(desc.size).ok()).unwrap_or(0);
        let counter = sent.clone();
        let stream = repiece(pulled.stream.map_err(OciDistributionError::IoError)).inspect_ok(move |b| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        });
        match self.client.push_blob_stream(target, stream, &desc.digest, Some(size)).await {
            Ok(_) => Ok(size),
            Err(e) => {
                let text = chain(&e);
                if text.to_ascii_lowercase().contains("digest") {
                    return Err(Error::Registry {
                        image: source.whole(),
                        message: format!("blob {} does not match its digest, refused: {}", desc.digest, redact(&text)),
                    });
                }
                Err(self.fail(target, &format!("uploading blob {}", desc.digest), e).await)
            }
        }
    }

    /// Uploads an in-memory blob.
    pub async fn push_blob(&self, target: &Reference, data: bytes::Bytes, digest: &str) -> Result<u64> {
        self.store_auth(target).await;
        let n = data.len() as u64;
        match self.client.push_blob(target, data, digest).await {
            Ok(_) => Ok(n),
            Err(e) => Err(self.fail(target, &format!("uploading blob {digest}"), e).await),
        }
    }

    /// Puts the manifest under `target`'s tag: the last step, so that a failure anywhere before
    /// leaves no tag.
    pub async fn put_manifest(&self, target: &Reference, body: Vec<u8>, media_type: &str) -> Result<()> {
        self.store_auth(target).await;
        let content_type = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|e| Error::Registry { image: target.whole(), message: format!("media type {media_type}: {e}") })?;
        match self.client.push_manifest_raw(target, body, content_type).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(target, "putting the manifest", e).await),
        }
    }
}

/// An error and its sources, `: `-joined (reqwest hides the cause, a digest mismatch of the
/// stream it was sending, in its source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = s.source();
    }
    text
}

/// Whether a client error means "no such manifest/repository".
fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            let c = format!("{:?}", x.code).to_ascii_uppercase();
            c.contains("MANIFEST_UNKNOWN") || c.contains("MANIFESTUNKNOWN") || c.contains("NAME_UNKNOWN") || c.contains("NAMEUNKNOWN")
        }),
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()) == Some(404),
        _ => false,
    }
}

/// Drops any query string from URLs in a message (upload URLs carry session state, never a
/// secret, but they are long and say nothing to a user).
fn redact(message: &str) -> String {
    message.split_whitespace().map(|w| if w.contains("://") { w.split('?').next().unwrap_or(w) } else { w }).collect::<Vec<_>>().join(" ")
}

/// Regroups a byte stream into pieces of about [`COPY_PIECE`] bytes (HTTP bodies arrive in
/// pieces of a few KiB; each is sent on as it is filled, so at most one piece is held).
fn repiece<S>(inner: S) -> impl Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>> + Send + 'static
where
    S: Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>> + Send + 'static,
{
    futures_util::stream::unfold((Box::pin(inner), false), |(mut inner, done)| async move {
        if done {
            return None;
        }
        let mut buf = bytes::BytesMut::with_capacity(COPY_PIECE);
        loop {
            match inner.next().await {
                Some(Ok(b)) => {
                    buf.extend_from_slice(&b);
                    if buf.len() >= COPY_PIECE {
                        return Some((Ok(buf.freeze()), (inner, false)));
                    }
                }
                Some(Err(e)) => return Some((Err(e), (inner, true))),
                None if buf.is_empty() => return None,
                None => return Some((Ok(buf.freeze()), (inner, true))),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost:5000") && is_loopback("[::1]:5000"));
        assert!(is_loopback("127.3.4.5"));
        assert!(!is_loopback("registry.cn-hangzhou.aliyuncs.com") && !is_loopback("10.0.0.1:5000"));
    }

    #[tokio::test]
    async fn repiece_keeps_bytes_and_bounds_pieces() {
        let input: Vec<std::result::Result<bytes::Bytes, OciDistributionError>> =
            (0..3000).map(|i| Ok(bytes::Bytes::from(vec![(i % 251) as u8; 1000]))).collect();
        let out: Vec<bytes::Bytes> = repiece(futures_util::stream::iter(input)).try_collect().await.expect("pieces");
        assert_eq!(out.iter().map(|b| b.len()).sum::<usize>(), 3_000_000);
        assert!(out.iter().all(|b| b.len() < COPY_PIECE + 1000), "pieces stay bounded");
        assert_eq!(out.len(), 3);
    }
}
