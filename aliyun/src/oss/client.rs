//! The OSS client: signed requests, errors, and the single-object operations.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};
use time::OffsetDateTime;

use super::endpoint::{Addressing, Endpoint};
use super::{xml, OssError};
use crate::checksum::crc64::Crc64;
use crate::encode::percent_encode;
use crate::percent_decode;
use crate::retry::RetryPolicy;
use crate::signing::oss_v4::{OssRequest, Style, V4Params};
use crate::signing::{oss_v1, oss_v4, Credentials};

/// Which OSS signature to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `OSS4-HMAC-SHA256` (the default; required by new regions).
    #[default]
    V4,
    /// `OSS AK:signature`, for old endpoints and emulators that only know V1.
    V1,
}

/// How a [`Client`] reaches OSS.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The region id, signed into V4 requests (e.g. `cn-hangzhou`).
    pub region: String,
    /// Virtual-hosted or path-style bucket addressing.
    pub addressing: Addressing,
    /// V4 or V1.
    pub signature: SignatureVersion,
    /// Retries of throttled, failed and unreachable requests.
    pub retry: RetryPolicy,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Connect to this address whatever the host name (virtual-hosted bucket names included),
    /// instead of resolving it: for emulators and tests; `None` in production.
    pub connect_to: Option<std::net::SocketAddr>,
}

impl ClientConfig {
    /// V4, default retries, and the addressing the endpoint calls for.
    pub fn new(endpoint: Endpoint, region: impl Into<String>) -> Self {
        ClientConfig {
            addressing: endpoint.default_addressing(),
            endpoint,
            region: region.into(),
            signature: SignatureVersion::V4,
            // Five tries within a minute: a `503 SlowDown` burst on a busy bucket outlasts ACK's 30 s.
            retry: RetryPolicy { max_attempts: 5, max_elapsed: Duration::from_secs(60), ..RetryPolicy::default() },
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            connect_to: None,
        }
    }
}

/// A request ready to send: what [`Client::signed_request`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The HTTP method.
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Every header to send, signing headers included.
    pub headers: Vec<(String, String)>,
}

/// What HeadObject reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadObject {
    /// Size in bytes.
    pub size: u64,
    /// The ETag, quotes removed.
    pub etag: String,
    /// `x-oss-hash-crc64ecma`, when OSS sent it.
    pub crc64: Option<u64>,
    /// `Last-Modified` as sent.
    pub last_modified: Option<String>,
    /// `Content-Type` as sent.
    pub content_type: Option<String>,
}

/// What PutObject and CompleteMultipartUpload report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The new object's ETag, quotes removed.
    pub etag: String,
    /// Its CRC-64, checked against what was sent.
    pub crc64: u64,
}

/// One object in a [`ListPage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag, quotes removed.
    pub etag: String,
    /// `LastModified` as sent (ISO 8601).
    pub last_modified: String,
}

/// One page of ListObjectsV2.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// Objects, in key order.
    pub objects: Vec<ObjectSummary>,
    /// Prefixes rolled up by the delimiter.
    pub common_prefixes: Vec<String>,
    /// Pass to the next call to continue; `None` on the last page.
    pub next_continuation_token: Option<String>,
}

/// An OSS client for one endpoint and one set of credentials. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub(super) cfg: Arc<ClientConfig>,
    creds: Credentials,
    pub(super) http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("cfg", &self.cfg).field("creds", &self.creds).finish()
    }
}

/// `oss://bucket/key` (or `oss://bucket`) for messages.
pub(super) fn target(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("oss://{bucket}/{k}"),
        None => format!("oss://{bucket}"),
    }
}

/// Resolves every name to one address (see [`ClientConfig::connect_to`]).
struct FixedResolver(std::net::SocketAddr);

impl reqwest::dns::Resolve for FixedResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
}

fn header(resp: &HeaderMap, name: &str) -> Option<String> {
    resp.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

impl Client {
    /// A client for `cfg` signing with `creds`.
    pub fn new(cfg: ClientConfig, creds: Credentials) -> Result<Client, OssError> {
        let mut builder = reqwest::Client::builder().connect_timeout(cfg.connect_timeout).read_timeout(cfg.read_timeout);
        if cfg.endpoint.is_loopback() {
            // A proxy from the environment must not capture loopback traffic to an emulator.
            builder = builder.no_proxy();
        }
        if let Some(addr) = cfg.connect_to {
            builder = builder.no_proxy().dns_resolver(Arc::new(FixedResolver(addr)));
        }
        let http =
            builder.build().map_err(|source| OssError::Transport { target: cfg.endpoint.to_string(), what: "setting up HTTP", source })?;
        Ok(Client { cfg: Arc::new(cfg), creds, http })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Whether requests go to this machine (a loopback endpoint, or `connect_to` a loopback
    /// address): an emulator, where one stream is limited by CPU, not by the network.
    pub fn is_loopback(&self) -> bool {
        self.cfg.connect_to.map_or_else(|| self.cfg.endpoint.is_loopback(), |a| a.ip().is_loopback())
    }

    fn url(&self, bucket: Option<&str>, key: Option<&str>, query: &[(&str, &str)]) -> String {
        let ep = &self.cfg.endpoint;
        let key = percent_encode(key.unwrap_or(""), true);
        let mut url = match (bucket, self.cfg.addressing) {
            (Some(b), Addressing::VirtualHosted) => format!("{}://{b}.{}/{key}", ep.scheme(), ep.authority()),
            (Some(b), Addressing::PathStyle) => format!("{}://{}/{b}/{key}", ep.scheme(), ep.authority()),
            (None, _) => format!("{}://{}/", ep.scheme(), ep.authority()),
        };
        if !query.is_empty() {
            url.push('?');
            let parts: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        percent_encode(k, false)
                    } else {
                        format!("{}={}", percent_encode(k, false), percent_encode(v, false))
                    }
                })
                .collect();
            url.push_str(&parts.join("&"));
        }
        url
    }

    /// Builds and signs a request at `time` (pure: no IO).
    pub fn signed_request(
        &self,
        method: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        time: OffsetDateTime,
    ) -> Result<SignedRequest, OssError> {
        let req = OssRequest { method, bucket, key, query, headers };
        let sign_err = |source| OssError::Signing { target: target(bucket.unwrap_or(""), key), source };
        let added = match self.cfg.signature {
            SignatureVersion::V4 => {
                let p = V4Params { style: Style::OssV2, ..V4Params::new(&self.cfg.region, time) };
                oss_v4::sign_headers(&req, &self.creds, &p).map_err(sign_err)?.headers
            }
            SignatureVersion::V1 => oss_v1::sign_headers(&req, &self.creds, time).map_err(sign_err)?.headers,
        };
        let mut all: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        all.extend(added);
        Ok(SignedRequest { method: method.to_owned(), url: self.url(bucket, key, query), headers: all })
    }

    /// A V4 presigned GET URL valid for `expires` (V1 when the client signs V1).
    pub fn presign_get(&self, bucket: &str, key: &str, expires: Duration) -> Result<String, OssError> {
        let req = OssRequest { method: "GET", bucket: Some(bucket), key: Some(key), query: &[], headers: &[] };
        let sign_err = |source| OssError::Signing { target: target(bucket, Some(key)), source };
        let now = OffsetDateTime::now_utc();
        let (path, query) = match self.cfg.signature {
            SignatureVersion::V4 => {
                let p = V4Params::new(&self.cfg.region, now);
                let s = oss_v4::presign(&req, &self.creds, &p, expires.as_secs()).map_err(sign_err)?;
                (s.path, s.query_string)
            }
            SignatureVersion::V1 => {
                let s = oss_v1::presign(&req, &self.creds, now, expires.as_secs()).map_err(sign_err)?;
                (s.path, s.query_string)
            }
        };
        let ep = &self.cfg.endpoint;
        Ok(match self.cfg.addressing {
            Addressing::VirtualHosted => format!("{}://{bucket}.{}{path}?{query}", ep.scheme(), ep.authority()),
            Addressing::PathStyle => format!("{}://{}/{bucket}{path}?{query}", ep.scheme(), ep.authority()),
        })
    }

    /// Sends one request with bounded retries of throttling, 5xx and transport failures;
    /// answers other than 2xx become [`OssError::Service`].
    pub(super) async fn send(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, OssError> {
        let policy = self.cfg.retry;
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // The backoff before another try, `None` once the policy's count or time is spent.
            let next = || policy.next_delay(attempt, started);
            let signed = self.signed_request(method.as_str(), Some(bucket), key, query, headers, OffsetDateTime::now_utc())?;
            let mut hm = HeaderMap::new();
            for (n, v) in &signed.headers {
                let name = HeaderName::from_bytes(n.as_bytes());
                let value = HeaderValue::from_str(v);
                if let (Ok(name), Ok(value)) = (name, value) {
                    hm.append(name, value);
                }
            }
            let mut rb = self.http.request(method.clone(), &signed.url).headers(hm);
            if let Some(b) = body {
                rb = rb.body(b.to_vec());
            }
            let delay = match rb.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let err = service_error(resp, &method, bucket, key).await;
                    let retry = match &err {
                        OssError::Service { status, code, .. } => retryable_status(*status, code),
                        _ => true,
                    };
                    match next().filter(|_| retry) {
                        Some(d) => {
                            tracing::debug!("retrying after {err}");
                            d
                        }
                        None => return Err(err),
                    }
                }
                Err(source) => match next().filter(|_| !source.is_builder()) {
                    Some(d) => {
                        tracing::debug!("retrying after transport error: {source}");
                        d
                    }
                    None => return Err(OssError::Transport { target: target(bucket, key), what: "sending the request", source }),
                },
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// HeadObject: size, ETag, CRC-64.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<HeadObject, OssError> {
        let resp = self.send(Method::HEAD, bucket, Some(key), &[], &[], None).await?;
        let h = resp.headers();
        let t = target(bucket, Some(key));
        let size = header(h, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| OssError::InvalidResponse { target: t.clone(), detail: "HeadObject without a Content-Length".into() })?;
        let crc64 = match header(h, "x-oss-hash-crc64ecma") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| OssError::InvalidResponse {
                target: t.clone(),
                detail: format!("x-oss-hash-crc64ecma {v:?} is not a number"),
            })?),
            None => None,
        };
        Ok(HeadObject {
            size,
            etag: header(h, "etag").map(|e| unquote(&e)).unwrap_or_default(),
            crc64,
            last_modified: header(h, "last-modified"),
            content_type: header(h, "content-type"),
        })
    }

    /// GetObject, optionally of the byte range `start..=end` (`end` `None`: to the end), only
    /// while the ETag is still `if_match`. The body is streamed by the caller.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, Option<u64>)>,
        if_match: Option<&str>,
    ) -> Result<Response, OssError> {
        let range = range.map(|(s, e)| match e {
            Some(e) => format!("bytes={s}-{e}"),
            None => format!("bytes={s}-"),
        });
        let quoted = if_match.map(|e| format!("\"{e}\""));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(r) = &range {
            headers.push(("Range", r));
        }
        if let Some(e) = &quoted {
            headers.push(("If-Match", e));
        }
        self.send(Method::GET, bucket, Some(key), &[], &headers, None).await
    }

    /// The whole object in memory: for small objects (tests, manifests).
    pub async fn get_object_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, OssError> {
        let resp = self.get_object(bucket, key, None, None).await?;
        let bytes = resp.bytes().await.map_err(|source| OssError::Transport {
            target: target(bucket, Some(key)),
            what: "reading the body",
            source,
        })?;
        Ok(bytes.to_vec())
    }

    /// PutObject from memory; the CRC-64 OSS reports is checked against the bytes sent.
    pub async fn put_object(&self, bucket: &str, key: &str, data: &[u8], content_type: Option<&str>) -> Result<PutResult, OssError> {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        let resp = self.send(Method::PUT, bucket, Some(key), &[], &headers, Some(data)).await?;
        let crc = Crc64::checksum(data);
        check_put(resp.headers(), bucket, key, crc, data.len() as u64)
    }

    /// PutBucket (creates the bucket; used by tests and examples).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), OssError> {
        self.send(Method::PUT, bucket, None, &[], &[], None).await.map(drop)
    }

    /// DeleteObject (succeeds when the object is already gone, as OSS does).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        self.send(Method::DELETE, bucket, Some(key), &[], &[], None).await.map(drop)
    }

    /// InitiateMultipartUpload; returns the upload id.
    pub async fn initiate_multipart(&self, bucket: &str, key: &str) -> Result<String, OssError> {
        let resp = self.send(Method::POST, bucket, Some(key), &[("uploads", "")], &[], None).await?;
        let body = read_text(resp, bucket, Some(key)).await?;
        xml::text(&body, "UploadId").filter(|id| !id.is_empty()).ok_or_else(|| OssError::InvalidResponse {
            target: target(bucket, Some(key)),
            detail: "InitiateMultipartUpload without an UploadId".into(),
        })
    }

    /// UploadPart; returns the part's ETag (quotes removed).
    pub async fn upload_part(&self, bucket: &str, key: &str, upload_id: &str, part_number: u32, data: &[u8]) -> Result<String, OssError> {
        let n = part_number.to_string();
        let resp = self.send(Method::PUT, bucket, Some(key), &[("partNumber", &n), ("uploadId", upload_id)], &[], Some(data)).await?;
        if let Some(sent) = header(resp.headers(), "x-oss-hash-crc64ecma") {
            let ours = Crc64::checksum(data);
            if sent.parse::<u64>().ok() != Some(ours) {
                return Err(OssError::ChecksumMismatch {
                    target: format!("{} part {part_number}", target(bucket, Some(key))),
                    expected: ours,
                    actual: sent.parse().unwrap_or(0),
                    size: data.len() as u64,
                });
            }
        }
        header(resp.headers(), "etag").map(|e| unquote(&e)).ok_or_else(|| OssError::InvalidResponse {
            target: target(bucket, Some(key)),
            detail: format!("UploadPart {part_number} without an ETag"),
        })
    }

    /// CompleteMultipartUpload with `(part number, ETag)` in order.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Response, OssError> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            body.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag></Part>", xml::escape(etag)));
        }
        body.push_str("</CompleteMultipartUpload>");
        self.send(Method::POST, bucket, Some(key), &[("uploadId", upload_id)], &[], Some(body.as_bytes())).await
    }

    /// AbortMultipartUpload.
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), OssError> {
        self.send(Method::DELETE, bucket, Some(key), &[("uploadId", upload_id)], &[], None).await.map(drop)
    }

    /// Uploads a file: PutObject up to `part_size` bytes, multipart (parts of `part_size`,
    /// read one at a time) beyond. The CRC-64 OSS reports is checked against the file's.
    pub async fn upload_file(&self, bucket: &str, key: &str, path: &Path, part_size: u64) -> Result<PutResult, OssError> {
        use tokio::io::AsyncReadExt;
        let io = |what| move |source| OssError::Io { path: path.to_owned(), what, source };
        let mut file = tokio::fs::File::open(path).await.map_err(io("opening"))?;
        let size = file.metadata().await.map_err(io("reading metadata"))?.len();
        let part_size = part_size.max(100 * 1024);
        if size <= part_size {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut data).await.map_err(io("reading"))?;
            return self.put_object(bucket, key, &data, None).await;
        }
        let upload_id = self.initiate_multipart(bucket, key).await?;
        let result = async {
            let mut crc = Crc64::new();
            let mut parts = Vec::new();
            let mut buf = vec![0u8; usize::try_from(part_size).unwrap_or(8 << 20)];
            let mut number = 0u32;
            loop {
                let mut filled = 0;
                while filled < buf.len() {
                    let n = file.read(&mut buf[filled..]).await.map_err(io("reading"))?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    break;
                }
                number += 1;
                crc.update(&buf[..filled]);
                let etag = self.upload_part(bucket, key, &upload_id, number, &buf[..filled]).await?;
                parts.push((number, etag));
            }
            let resp = self.complete_multipart(bucket, key, &upload_id, &parts).await?;
            let h = resp.headers().clone();
            let body = read_text(resp, bucket, Some(key)).await?;
            let mut result = check_put(&h, bucket, key, crc.finish(), size)?;
            if let Some(etag) = xml::text(&body, "ETag") {
                result.etag = unquote(&etag);
            }
            Ok(result)
        }
        .await;
        if result.is_err() {
            // Best effort: do not leave parts behind (they are billed); the first error is what matters.
            let _ = self.abort_multipart(bucket, key, &upload_id).await;
        }
        result
    }

    /// One page of ListObjectsV2.
    pub async fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        continuation_token: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage, OssError> {
        let max = max_keys.clamp(1, 1000).to_string();
        let mut query: Vec<(&str, &str)> = vec![("list-type", "2"), ("max-keys", &max), ("prefix", prefix), ("encoding-type", "url")];
        if let Some(d) = delimiter {
            query.push(("delimiter", d));
        }
        if let Some(t) = continuation_token {
            query.push(("continuation-token", t));
        }
        let resp = self.send(Method::GET, bucket, None, &query, &[], None).await?;
        let body = read_text(resp, bucket, None).await?;
        let url_encoded = xml::text(&body, "EncodingType").is_some_and(|e| e == "url");
        let decode = |s: String| if url_encoded { percent_decode(&s) } else { s };
        let mut page = ListPage::default();
        for c in xml::elements(&body, "Contents") {
            let t = |tag| xml::text(c, tag).unwrap_or_default();
            page.objects.push(ObjectSummary {
                key: decode(t("Key")),
                size: t("Size").parse().map_err(|_| OssError::InvalidResponse {
                    target: target(bucket, None),
                    detail: "a listed Size is not a number".into(),
                })?,
                etag: unquote(&t("ETag")),
                last_modified: t("LastModified"),
            });
        }
        for p in xml::elements(&body, "CommonPrefixes") {
            if let Some(prefix) = xml::text(p, "Prefix") {
                page.common_prefixes.push(decode(prefix));
            }
        }
        if xml::text(&body, "IsTruncated").is_some_and(|t| t == "true") {
            page.next_continuation_token = xml::text(&body, "NextContinuationToken").filter(|t| !t.is_empty());
        }
        Ok(page)
    }
}

fn check_put(h: &HeaderMap, bucket: &str, key: &str, ours: u64, size: u64) -> Result<PutResult, OssError> {
    let etag = header(h, "etag").map(|e| unquote(&e)).unwrap_or_default();
    match header(h, "x-oss-hash-crc64ecma") {
        Some(v) => {
            let theirs: u64 = v.parse().map_err(|_| OssError::InvalidResponse {
                target: target(bucket, Some(key)),
                detail: format!("x-oss-hash-crc64ecma {v:?} is not a number"),
            })?;
            if theirs != ours {
                return Err(OssError::ChecksumMismatch { target: target(bucket, Some(key)), expected: theirs, actual: ours, size });
            }
            Ok(PutResult { etag, crc64: theirs })
        }
        None => Ok(PutResult { etag, crc64: ours }),
    }
}

async fn read_text(resp: Response, bucket: &str, key: Option<&str>) -> Result<String, OssError> {
    resp.text().await.map_err(|source| OssError::Transport { target: target(bucket, key), what: "reading the body", source })
}

/// Turns an error answer into [`OssError::Service`]: the XML body, or for HEAD (no body) the
/// base64 XML in `x-oss-err` when sent, else a code derived from the status.
pub(super) async fn service_error(resp: Response, method: &Method, bucket: &str, key: Option<&str>) -> OssError {
    let status = resp.status().as_u16();
    let request_id = header(resp.headers(), "x-oss-request-id").unwrap_or_default();
    let from_header = header(resp.headers(), "x-oss-err")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let body = if *method == Method::HEAD { String::new() } else { resp.text().await.unwrap_or_default() };
    let doc = from_header.unwrap_or(body);
    let fallback = match (status, key) {
        (404, Some(_)) => "NoSuchKey",
        (404, None) => "NoSuchBucket",
        (403, _) => "AccessDenied",
        (412, _) => "PreconditionFailed",
        (416, _) => "InvalidRange",
        _ => "UnknownError",
    };
    let code = xml::text(&doc, "Code").filter(|c| !c.is_empty()).unwrap_or_else(|| fallback.to_owned());
    let message = xml::text(&doc, "Message").unwrap_or_else(|| format!("{method} answered HTTP {status}"));
    let request_id = xml::text(&doc, "RequestId").filter(|r| !r.is_empty()).unwrap_or(request_id);
    OssError::Service { target: target(bucket, key), status, code, message, request_id }
}

/// Whether an OSS answer with this status and code is worth another try: throttled (429,
/// `SlowDown`), failed (5xx) or timed out; never a refusal (4xx) that would only repeat.
fn retryable_status(status: u16, code: &str) -> bool {
    status == 429 || status >= 500 || code == "SlowDown" || code == "RequestTimeout"
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn client(endpoint: &str, sig: SignatureVersion) -> Client {
        let mut cfg = ClientConfig::new(Endpoint::parse(endpoint).unwrap(), "cn-hangzhou");
        cfg.signature = sig;
        Client::new(cfg, Credentials::with_security_token("AKID", "s3cr3t-value", "tok")).unwrap()
    }

    #[test]
    fn builds_virtual_hosted_and_path_style_urls() {
        let t = datetime!(2026-11-23 10:20:30 UTC);
        let c = client("https://oss-cn-hangzhou.aliyuncs.com", SignatureVersion::V4);
        let r = c.signed_request("GET", Some("acme"), Some("etl/a b+.jar"), &[("uploads", "")], &[], t).unwrap();
        assert_eq!(r.url, "https://acme.oss-cn-hangzhou.aliyuncs.com/etl/a%20b%2B.jar?uploads");
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"x-oss-security-token") && names.contains(&"x-oss-date"), "{names:?}");
        let auth = &r.headers.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert!(auth.starts_with("OSS4-HMAC-SHA256 Credential=AKID/20261123/cn-hangzhou/oss/aliyun_v4_request,"), "{auth}");

        let c = client("http://127.0.0.1:9000", SignatureVersion::V1);
        let r = c.signed_request("GET", Some("acme"), Some("k"), &[], &[], t).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9000/acme/k");
        let auth = &r.headers.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert!(auth.starts_with("OSS AKID:"), "{auth}");
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn presigned_url_carries_the_bucket_for_path_style() {
        let c = client("http://127.0.0.1:9000", SignatureVersion::V4);
        let url = c.presign_get("acme", "a/b.jar", Duration::from_secs(60)).unwrap();
        assert!(url.starts_with("http://127.0.0.1:9000/acme/a/b.jar?x-oss-signature-version=OSS4-HMAC-SHA256&"), "{url}");
        assert!(url.contains("&x-oss-signature="), "{url}");
    }

    #[test]
    fn only_throttling_failures_and_timeouts_are_retried() {
        assert!(retryable_status(503, "SlowDown"));
        assert!(retryable_status(429, ""));
        assert!(retryable_status(400, "RequestTimeout"));
        assert!(!retryable_status(404, "NoSuchKey"));
        assert!(!retryable_status(403, "AccessDenied"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
    }
}
