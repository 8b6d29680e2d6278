//! OSS emulator: buckets and objects on disk under `<data-dir>/oss/`, V1 and V4 signatures
//! (header and presigned URL) verified against the local cloud's one AccessKey, path-style and
//! virtual-hosted addressing, GetObject with `Range`, HeadObject with ETag and
//! `x-oss-hash-crc64ecma`, PutObject, multipart upload, ListObjects (V1 and V2), CopyObject and
//! UploadPartCopy (`oss/copy.rs`), DeleteMultipleObjects (`oss/batch_delete.rs`), GetBucketAcl, OSS-shaped
//! XML errors. Bodies are streamed in both directions: a GiB object never sits in memory.
//!
//! Two unsigned control paths, answered only when the local cloud listens on loopback:
//! - `POST /_localcloud/faults` with a [`FaultRule`] as JSON adds a fault (`DELETE` clears all):
//!   `{"kind":"drop","after_bytes":1000}` cuts the next GetObject body after 1000 bytes,
//!   `{"kind":"status","status":503,"code":"SlowDown"}` answers the next request with that error,
//!   `{"kind":"latency","ms":300}` delays it, `{"kind":"corrupt"}` flips a byte of the next body.
//!   Optional `method`, `key` and `times` (default 1) narrow and repeat a rule.
//! - `GET /_localcloud/access-log` lists the requests served as [`AccessEntry`] JSON
//!   (`DELETE` clears it).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_aliyun::oss::xml;
use sparkoss_aliyun::percent_decode;
use sparkoss_aliyun::signing::oss_v4::OssRequest;
use sparkoss_aliyun::signing::{oss_v1, oss_v4};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::shared::Shared;

mod batch_delete;
mod copy;

/// Multipart parts other than the last must be at least this large (OSS's 100 KB).
const MIN_PART: u64 = 100 * 1024;
/// The one owner of every bucket and object (the local cloud has one account).
const OWNER: &str = "<Owner><ID>localcloud</ID><DisplayName>localcloud</DisplayName></Owner>";
/// CopyObject's and UploadPartCopy's source, `/bucket/url-encoded-key`.
const COPY_SOURCE: &str = "x-oss-copy-source";
/// At most this many keys in one DeleteMultipleObjects request (OSS's limit).
const MAX_DELETE_KEYS: usize = 1000;
/// The largest clock difference accepted for signed requests (OSS: 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// One fault, as posted to `/_localcloud/faults`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FaultRule {
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only requests with this method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests for this object key (any when absent).
    #[serde(default)]
    pub key: Option<String>,
    /// How many matching requests it applies to (default 1).
    #[serde(default)]
    pub times: Option<u32>,
}

/// The kinds of fault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Cut a GetObject body after this many bytes (the connection is closed mid-body).
    Drop {
        /// Bytes sent before the cut.
        after_bytes: u64,
    },
    /// Answer with an OSS error instead of serving the request.
    Status {
        /// HTTP status, e.g. 503.
        status: u16,
        /// OSS error code, e.g. `SlowDown`.
        code: String,
    },
    /// Wait before serving.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Flip the first byte of a GetObject body (the stored object is untouched).
    Corrupt,
}

/// One served request, as listed by `/_localcloud/access-log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessEntry {
    /// HTTP method.
    pub method: String,
    /// Bucket, when addressed.
    pub bucket: Option<String>,
    /// Object key, decoded.
    pub key: Option<String>,
    /// The raw query string.
    pub query: String,
    /// `Range` header, when sent.
    pub range: Option<String>,
    /// How the request was authenticated: `v4`, `v1`, `v4-presigned`, `v1-presigned`, `none`.
    pub auth: String,
    /// The status answered.
    pub status: u16,
    /// The fault applied, if any (`drop`, `status`, `latency`, `corrupt`).
    pub fault: Option<String>,
}

struct Oss {
    shared: Arc<Shared>,
    root: PathBuf,
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<AccessEntry>>,
    counter: AtomicU64,
}

/// An OSS error answer.
#[derive(Debug)]
struct OssErr {
    status: StatusCode,
    code: String,
    message: String,
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> OssErr {
    OssErr { status, code: code.to_owned(), message: message.into() }
}

fn internal(e: impl std::fmt::Display) -> OssErr {
    err(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", format!("emulator storage error: {e}"))
}

/// Stored object metadata (`<sha256(key)>.json` beside the data file).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    key: String,
    size: u64,
    etag: String,
    crc64: u64,
    content_type: String,
    last_modified: i64,
    object_type: String,
    #[serde(default)]
    user_meta: BTreeMap<String, String>,
}

/// The emulator's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let root = shared.config.data_dir.join("oss");
    let state = Arc::new(Oss { shared, root, faults: Mutex::new(Vec::new()), log: Mutex::new(Vec::new()), counter: AtomicU64::new(1) });
    Router::new()
        .route("/_localcloud/faults", post(add_fault).delete(clear_faults).get(list_faults))
        .route("/_localcloud/access-log", axum::routing::get(access_log).delete(clear_log))
        .fallback(handle)
        .with_state(state)
}

/// The refusal to send when control paths are not allowed (the local cloud is not on loopback).
fn refuse_control(oss: &Oss) -> Option<Response> {
    (!oss.shared.config.listen.is_loopback()).then(|| (StatusCode::FORBIDDEN, "control paths are served on loopback only").into_response())
}

async fn add_fault(State(oss): State<Arc<Oss>>, Json(rule): Json<FaultRule>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut f) = oss.faults.lock() {
        f.push(rule);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut f) = oss.faults.lock() {
        f.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    let faults = oss.faults.lock().map(|f| f.clone()).unwrap_or_default();
    Json(faults).into_response()
}

async fn access_log(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    let log = oss.log.lock().map(|l| l.clone()).unwrap_or_default();
    Json(log).into_response()
}

async fn clear_log(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut l) = oss.log.lock() {
        l.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn http_date(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    t.format(&f).unwrap_or_default()
}

fn iso_date(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    t.format(&f).unwrap_or_default()
}

/// A parsed request: who it addresses and with which parameters.
struct Req {
    method: Method,
    bucket: Option<String>,
    key: Option<String>,
    raw_query: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    host: String,
}

impl Req {
    fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// The bucket from a virtual-hosted `Host` (`bucket.anything`), unless the host is an IP
/// address or `localhost`, which are path-style.
fn host_bucket(host: &str) -> Option<String> {
    let name = if host.starts_with('[') { return None } else { host.rsplit_once(':').map_or(host, |(h, _)| h) };
    if name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (first, rest) = name.split_once('.')?;
    (!first.is_empty() && !rest.is_empty()).then(|| first.to_owned())
}

async fn handle(State(oss): State<Arc<Oss>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let path = percent_decode(raw_path.trim_start_matches('/'));
    let (bucket, key) = match host_bucket(&host) {
        Some(b) => (Some(b), Some(path).filter(|p| !p.is_empty())),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(b.to_owned()), Some(k.to_owned()).filter(|k| !k.is_empty())),
            None => (Some(path).filter(|p| !p.is_empty()), None),
        },
    };
    let req = Req { method: parts.method, bucket, key, query: parse_query(&raw_query), raw_query, headers: parts.headers, host };
    let request_id = format!("{:016X}{:08X}", now_unix(), oss.counter.fetch_add(1, Ordering::Relaxed));
    let mut entry = AccessEntry {
        method: req.method.to_string(),
        bucket: req.bucket.clone(),
        key: req.key.clone(),
        query: req.raw_query.clone(),
        range: req.header("range"),
        auth: "none".into(),
        status: 0,
        fault: None,
    };
    let (latency, status_fault, body_fault) = oss.take_faults(&req);
    if let Some(ms) = latency {
        entry.fault = Some("latency".into());
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let result = match status_fault {
        Some((status, code)) => {
            entry.fault = Some("status".into());
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Err(err(status, &code, "Fault injected by the local cloud."))
        }
        None => match oss.verify(&req) {
            Ok(auth) => {
                entry.auth = auth.into();
                if body_fault.is_some() {
                    entry.fault = body_fault.as_ref().map(|f| match f {
                        FaultKind::Drop { .. } => "drop".to_owned(),
                        _ => "corrupt".to_owned(),
                    });
                }
                oss.dispatch(&req, body, body_fault).await
            }
            Err((auth, e)) => {
                entry.auth = auth.into();
                drain(body).await;
                Err(e)
            }
        },
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&req, &e, &request_id),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-oss-request-id", v);
    }
    h.insert("server", HeaderValue::from_static("AliyunOSS"));
    if let Ok(v) = HeaderValue::from_str(&http_date(now_unix())) {
        h.insert("date", v);
    }
    entry.status = resp.status().as_u16();
    if let Ok(mut log) = oss.log.lock() {
        log.push(entry);
    }
    resp
}

fn error_response(req: &Req, e: &OssErr, request_id: &str) -> Response {
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>{}</HostId>\n",
        e.code,
        xml::escape(&e.message),
        xml::escape(&req.host)
    );
    if let Some(b) = &req.bucket {
        doc.push_str(&format!("  <BucketName>{}</BucketName>\n", xml::escape(b)));
    }
    if let Some(k) = &req.key {
        doc.push_str(&format!("  <Key>{}</Key>\n", xml::escape(k)));
    }
    doc.push_str("</Error>\n");
    let mut resp = if req.method == Method::HEAD {
        // HEAD has no body; OSS sends the error document base64-encoded in `x-oss-err`.
        let mut r = Response::new(Body::empty());
        if let Ok(v) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(&doc)) {
            r.headers_mut().insert("x-oss-err", v);
        }
        r
    } else {
        let mut r = Response::new(Body::from(doc));
        r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
        r
    };
    *resp.status_mut() = e.status;
    resp
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter().map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

fn forbidden(code: &'static str, message: impl Into<String>) -> OssErr {
    err(StatusCode::FORBIDDEN, code, message)
}

impl Oss {
    fn take_faults(&self, req: &Req) -> (Option<u64>, Option<(u16, String)>, Option<FaultKind>) {
        let (mut latency, mut status, mut body) = (None, None, None);
        let Ok(mut faults) = self.faults.lock() else { return (None, None, None) };
        for rule in faults.iter_mut() {
            if rule.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case(req.method.as_str())) {
                continue;
            }
            if rule.key.is_some() && rule.key != req.key {
                continue;
            }
            let is_get_object = req.method == Method::GET && req.key.is_some();
            let applies = match &rule.kind {
                FaultKind::Latency { ms } if latency.is_none() => {
                    latency = Some(*ms);
                    true
                }
                FaultKind::Status { status: s, code } if status.is_none() && body.is_none() => {
                    status = Some((*s, code.clone()));
                    true
                }
                FaultKind::Drop { .. } | FaultKind::Corrupt if is_get_object && body.is_none() && status.is_none() => {
                    body = Some(rule.kind.clone());
                    true
                }
                _ => false,
            };
            if applies {
                rule.times = Some(rule.times.unwrap_or(1).saturating_sub(1));
            }
        }
        faults.retain(|r| r.times != Some(0));
        (latency, status, body)
    }

    /// Checks the signature; returns how the request was authenticated.
    fn verify(&self, req: &Req) -> Result<&'static str, (&'static str, OssErr)> {
        let auth = req.header("authorization").unwrap_or_default();
        let ak = &self.shared.config.access_key_id;
        let secret = &self.shared.config.access_key_secret;
        let headers = header_pairs(&req.headers);
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256 ") {
            let fields: BTreeMap<&str, &str> = rest.split(',').filter_map(|f| f.trim().split_once('=')).collect();
            let credential = fields.get("Credential").copied().unwrap_or("");
            let additional: Vec<&str> =
                fields.get("AdditionalHeaders").map(|a| a.split(';').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
            let date = req.header("x-oss-date").unwrap_or_default();
            let sig = fields.get("Signature").copied().unwrap_or("");
            self.check_v4(req, credential, &date, &additional, sig, &borrowed, &[]).map_err(|e| ("v4", e))?;
            return Ok("v4");
        }
        if let Some(rest) = auth.strip_prefix("OSS ") {
            let (id, sig) = rest.split_once(':').unwrap_or((rest, ""));
            if id != ak {
                return Err(("v1", forbidden("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")));
            }
            let date = req.header("x-oss-date").or_else(|| req.header("date")).unwrap_or_default();
            let query: Vec<(&str, &str)> = req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let expected =
                oss_v1::signature_for(req.method.as_str(), &headers, &date, req.bucket.as_deref(), req.key.as_deref(), &query, secret)
                    .map_err(|e| ("v1", err(StatusCode::BAD_REQUEST, "InvalidArgument", e.to_string())))?;
            if expected != sig {
                return Err((
                    "v1",
                    forbidden(
                        "SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                    ),
                ));
            }
            return Ok("v1");
        }
        if let Some(sig) = req.q("x-oss-signature") {
            let credential = req.q("x-oss-credential").unwrap_or("");
            let date = req.q("x-oss-date").unwrap_or("").to_owned();
            let expires: i64 = req.q("x-oss-expires").and_then(|e| e.parse().ok()).unwrap_or(0);
            let additional: Vec<&str> =
                req.q("x-oss-additional-headers").map(|a| a.split(';').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
            let signed_at =
                time::PrimitiveDateTime::parse(&date, time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
                    .map(|t| t.assume_utc().unix_timestamp())
                    .map_err(|_| ("v4-presigned", err(StatusCode::BAD_REQUEST, "InvalidArgument", "x-oss-date is not YYYYMMDDTHHMMSSZ")))?;
            if signed_at + expires < now_unix() {
                return Err(("v4-presigned", forbidden("AccessDenied", "Request has expired.")));
            }
            let query: Vec<(&str, &str)> =
                req.query.iter().filter(|(k, _)| k != "x-oss-signature").map(|(k, v)| (k.as_str(), v.as_str())).collect();
            self.check_v4(req, credential, &date, &additional, sig, &borrowed, &query).map_err(|e| ("v4-presigned", e))?;
            return Ok("v4-presigned");
        }
        if let (Some(id), Some(expires), Some(sig)) = (req.q("OSSAccessKeyId"), req.q("Expires"), req.q("Signature")) {
            if id != ak {
                return Err((
                    "v1-presigned",
                    forbidden("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."),
                ));
            }
            if expires.parse::<i64>().map_or(true, |e| e < now_unix()) {
                return Err(("v1-presigned", forbidden("AccessDenied", "Request has expired.")));
            }
            let query: Vec<(&str, &str)> = req
                .query
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "OSSAccessKeyId" | "Expires" | "Signature"))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let expected =
                oss_v1::signature_for(req.method.as_str(), &headers, expires, req.bucket.as_deref(), req.key.as_deref(), &query, secret)
                    .map_err(|e| ("v1-presigned", err(StatusCode::BAD_REQUEST, "InvalidArgument", e.to_string())))?;
            if expected != sig {
                return Err((
                    "v1-presigned",
                    forbidden(
                        "SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                    ),
                ));
            }
            return Ok("v1-presigned");
        }
        Err(("none", forbidden("AccessDenied", "You have no right to access this object because of bucket acl.")))
    }

    #[allow(clippy::too_many_arguments)] // one call per signature placement; a struct would only rename them
    fn check_v4(
        &self,
        req: &Req,
        credential: &str,
        date: &str,
        additional: &[&str],
        sig: &str,
        headers: &[(&str, &str)],
        presigned_query: &[(&str, &str)],
    ) -> Result<(), OssErr> {
        let mut parts = credential.split('/');
        let (id, day, region, product, terminator) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
        if id != Some(self.shared.config.access_key_id.as_str()) {
            return Err(forbidden("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."));
        }
        let (Some(day), Some(region), Some(product), Some("aliyun_v4_request")) = (day, region, product, terminator) else {
            return Err(err(StatusCode::BAD_REQUEST, "InvalidArgument", "The Credential of the V4 signature is malformed."));
        };
        if !date.starts_with(day) {
            return Err(forbidden("SignatureDoesNotMatch", "The date of the credential scope does not match x-oss-date."));
        }
        if presigned_query.is_empty() {
            let signed_at =
                time::PrimitiveDateTime::parse(date, time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
                    .map(|t| t.assume_utc().unix_timestamp())
                    .map_err(|_| err(StatusCode::BAD_REQUEST, "InvalidArgument", "x-oss-date is not YYYYMMDDTHHMMSSZ"))?;
            if (signed_at - now_unix()).unsigned_abs() > MAX_SKEW.as_secs() {
                return Err(forbidden(
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                ));
            }
        }
        let query: Vec<(&str, &str)> = if presigned_query.is_empty() {
            req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
        } else {
            presigned_query.to_vec()
        };
        // Presigned URLs sign only what the client sends; the canonical headers are picked by name.
        let r = OssRequest { method: req.method.as_str(), bucket: req.bucket.as_deref(), key: req.key.as_deref(), query: &query, headers };
        let expected = oss_v4::signature_for(&r, &self.shared.config.access_key_secret, region, product, date, additional)
            .map_err(|e| err(StatusCode::BAD_REQUEST, "InvalidArgument", e.to_string()))?;
        if expected != sig {
            return Err(forbidden(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ));
        }
        Ok(())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    fn object_paths(&self, bucket: &str, key: &str) -> (PathBuf, PathBuf) {
        let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
        let dir = self.bucket_dir(bucket).join("objects");
        (dir.join(&name), dir.join(format!("{name}.json")))
    }

    fn require_bucket(&self, bucket: &str) -> Result<PathBuf, OssErr> {
        let dir = self.bucket_dir(bucket);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(err(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist."))
        }
    }

    fn read_meta(&self, bucket: &str, key: &str) -> Result<(PathBuf, Meta), OssErr> {
        self.require_bucket(bucket)?;
        let (data, meta) = self.object_paths(bucket, key);
        let text =
            std::fs::read_to_string(&meta).map_err(|_| err(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."))?;
        let meta: Meta = serde_json::from_str(&text).map_err(internal)?;
        Ok((data, meta))
    }

    async fn dispatch(&self, req: &Req, body: Body, fault: Option<FaultKind>) -> Result<Response, OssErr> {
        let Some(bucket) = req.bucket.clone() else {
            return if req.method == Method::GET {
                self.list_buckets()
            } else {
                Err(err(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", ""))
            };
        };
        if !sparkoss_aliyun::oss_uri::is_valid_bucket_name(&bucket) {
            return Err(err(StatusCode::BAD_REQUEST, "InvalidBucketName", "The specified bucket is not valid."));
        }
        let Some(key) = req.key.clone() else {
            return match req.method {
                Method::PUT => {
                    std::fs::create_dir_all(self.bucket_dir(&bucket).join("objects")).map_err(internal)?;
                    Ok(StatusCode::OK.into_response())
                }
                // The Java SDK's doesBucketExist asks for the ACL: answer it, not with a listing.
                Method::GET if req.q("acl").is_some() => self.bucket_acl(&bucket),
                Method::GET => self.list_objects(req, &bucket),
                Method::POST if req.q("delete").is_some() => self.delete_objects(req, &bucket, body).await,
                Method::HEAD => self.require_bucket(&bucket).map(|_| StatusCode::OK.into_response()),
                Method::DELETE => {
                    let dir = self.require_bucket(&bucket)?;
                    let empty = std::fs::read_dir(dir.join("objects")).map(|mut d| d.next().is_none()).unwrap_or(true);
                    if !empty {
                        return Err(err(StatusCode::CONFLICT, "BucketNotEmpty", "The bucket you tried to delete is not empty."));
                    }
                    std::fs::remove_dir_all(&dir).map_err(internal)?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(err(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                )),
            };
        };
        match (&req.method, req.q("uploadId"), req.q("uploads").is_some()) {
            (&Method::GET, _, _) => self.get_object(req, &bucket, &key, fault).await,
            (&Method::HEAD, _, _) => self.head_object(&bucket, &key),
            (&Method::PUT, Some(upload), _) if req.headers.contains_key(COPY_SOURCE) => {
                self.upload_part_copy(req, &bucket, &key, upload).await
            }
            (&Method::PUT, Some(upload), _) => self.upload_part(req, &bucket, &key, upload, body).await,
            (&Method::PUT, None, _) if req.headers.contains_key(COPY_SOURCE) => self.copy_object(req, &bucket, &key).await,
            (&Method::PUT, None, _) => self.put_object(req, &bucket, &key, body).await,
            (&Method::POST, None, true) => self.initiate(&bucket, &key),
            (&Method::POST, Some(upload), _) => self.complete(&bucket, &key, upload, body).await,
            (&Method::DELETE, Some(upload), _) => {
                let dir = self.upload_dir(&bucket, upload, &key)?;
                std::fs::remove_dir_all(dir).map_err(internal)?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            (&Method::DELETE, None, _) => {
                self.require_bucket(&bucket)?;
                let (data, meta) = self.object_paths(&bucket, &key);
                let _ = std::fs::remove_file(meta);
                let _ = std::fs::remove_file(data);
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(err(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed against this resource.")),
        }
    }

    fn list_buckets(&self) -> Result<Response, OssErr> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).filter_map(|e| e.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.sort();
        let mut doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult>{OWNER}<Buckets>");
        for n in names {
            doc.push_str(&format!(
                "<Bucket><Name>{n}</Name><Location>oss-{r}</Location><Region>{r}</Region><CreationDate>{}</CreationDate><StorageClass>Standard</StorageClass></Bucket>",
                iso_date(0),
                r = self.shared.endpoints.region
            ));
        }
        doc.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(xml_response(doc))
    }

    fn object_headers(meta: &Meta, h: &mut HeaderMap) {
        let mut set = |n: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(n, v);
            }
        };
        set("etag", &format!("\"{}\"", meta.etag));
        set("x-oss-hash-crc64ecma", &meta.crc64.to_string());
        set("last-modified", &http_date(meta.last_modified));
        set("content-type", &meta.content_type);
        set("x-oss-object-type", &meta.object_type);
        set("x-oss-storage-class", "Standard");
        set("accept-ranges", "bytes");
        for (k, v) in &meta.user_meta {
            if let (Ok(n), Ok(v)) = (axum::http::HeaderName::from_bytes(format!("x-oss-meta-{k}").as_bytes()), HeaderValue::from_str(v)) {
                h.insert(n, v);
            }
        }
    }

    fn head_object(&self, bucket: &str, key: &str) -> Result<Response, OssErr> {
        let (_, meta) = self.read_meta(bucket, key)?;
        let mut resp = Response::new(Body::empty());
        Self::object_headers(&meta, resp.headers_mut());
        if let Ok(v) = HeaderValue::from_str(&meta.size.to_string()) {
            resp.headers_mut().insert("content-length", v);
        }
        Ok(resp)
    }

    async fn get_object(&self, req: &Req, bucket: &str, key: &str, fault: Option<FaultKind>) -> Result<Response, OssErr> {
        let (data, meta) = self.read_meta(bucket, key)?;
        if let Some(want) = req.header("if-match") {
            if want.trim_matches('"') != meta.etag && want != "*" {
                return Err(err(
                    StatusCode::PRECONDITION_FAILED,
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold.",
                ));
            }
        }
        let size = meta.size;
        let range = match req.header("range") {
            Some(r) => parse_range(&r, size)?,
            None => None,
        };
        let (start, len) = range.map_or((0, size), |(s, e)| (s, e - s + 1));
        let mut file = tokio::fs::File::open(&data).await.map_err(internal)?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await.map_err(internal)?;
        }
        let (drop_after, corrupt) = match fault {
            Some(FaultKind::Drop { after_bytes }) => (Some(after_bytes), false),
            Some(FaultKind::Corrupt) => (None, true),
            _ => (None, false),
        };
        let body = Body::from_stream(file_stream(file, len, drop_after, corrupt));
        let mut resp = Response::new(body);
        Self::object_headers(&meta, resp.headers_mut());
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            h.insert("content-length", v);
        }
        if let Some((s, e)) = range {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{size}")) {
                resp.headers_mut().insert("content-range", v);
            }
        }
        Ok(resp)
    }

    /// Streams `body` into a temporary file in the bucket; returns its path, size, MD5 and CRC-64.
    async fn receive(&self, bucket: &str, body: Body) -> Result<(PathBuf, u64, [u8; 16], u64), OssErr> {
        let dir = match self.require_bucket(bucket) {
            Ok(d) => d.join("tmp"),
            Err(e) => {
                drain(body).await;
                return Err(e);
            }
        };
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let tmp = dir.join(format!("{}-{}", now_unix(), self.counter.fetch_add(1, Ordering::Relaxed)));
        let file = tokio::fs::File::create(&tmp).await.map_err(internal)?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut md5 = Md5::new();
        let mut crc = Crc64::new();
        let mut size = 0u64;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(err(StatusCode::BAD_REQUEST, "IncompleteBody", format!("The request body was cut: {e}")));
                }
            };
            md5.update(&chunk);
            crc.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(internal)?;
        }
        out.flush().await.map_err(internal)?;
        Ok((tmp, size, md5.finalize().into(), crc.finish()))
    }

    async fn put_object(&self, req: &Req, bucket: &str, key: &str, body: Body) -> Result<Response, OssErr> {
        let (tmp, size, md5, crc) = self.receive(bucket, body).await?;
        if let Some(want) = req.header("content-md5") {
            if want != base64::engine::general_purpose::STANDARD.encode(md5) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(StatusCode::BAD_REQUEST, "InvalidDigest", "The Content-MD5 you specified was invalid."));
            }
        }
        let user_meta = user_meta(req);
        let meta = Meta {
            key: key.to_owned(),
            size,
            etag: hex::encode_upper(md5),
            crc64: crc,
            content_type: req.header("content-type").unwrap_or_else(|| "application/octet-stream".into()),
            last_modified: now_unix(),
            object_type: "Normal".into(),
            user_meta,
        };
        self.store(bucket, &tmp, &meta)?;
        let mut resp = StatusCode::OK.into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
            h.insert("etag", v);
        }
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            h.insert("x-oss-hash-crc64ecma", v);
        }
        if let Ok(v) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(md5)) {
            h.insert("content-md5", v);
        }
        Ok(resp)
    }

    fn store(&self, bucket: &str, data_tmp: &Path, meta: &Meta) -> Result<(), OssErr> {
        let (data, meta_path) = self.object_paths(bucket, &meta.key);
        if let Some(dir) = data.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        std::fs::rename(data_tmp, &data).map_err(internal)?;
        let tmp_meta = meta_path.with_extension("json.tmp");
        std::fs::write(&tmp_meta, serde_json::to_vec(meta).map_err(internal)?).map_err(internal)?;
        std::fs::rename(&tmp_meta, &meta_path).map_err(internal)
    }

    fn upload_dir(&self, bucket: &str, upload: &str, key: &str) -> Result<PathBuf, OssErr> {
        let dir = self.require_bucket(bucket)?.join("uploads").join(upload);
        let no_upload = || {
            err(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
        };
        if !upload.bytes().all(|b| b.is_ascii_hexdigit()) || upload.is_empty() {
            return Err(no_upload());
        }
        let owner = std::fs::read_to_string(dir.join("key")).map_err(|_| no_upload())?;
        if owner != key {
            return Err(no_upload());
        }
        Ok(dir)
    }

    fn initiate(&self, bucket: &str, key: &str) -> Result<Response, OssErr> {
        let upload = hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{key}/{}/{}", now_unix(), self.counter.fetch_add(1, Ordering::Relaxed)).as_bytes(),
        ));
        let upload = &upload[..32];
        let dir = self.require_bucket(bucket)?.join("uploads").join(upload);
        std::fs::create_dir_all(&dir).map_err(internal)?;
        std::fs::write(dir.join("key"), key).map_err(internal)?;
        Ok(xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>",
            xml::escape(bucket),
            xml::escape(key)
        )))
    }

    async fn upload_part(&self, req: &Req, bucket: &str, key: &str, upload: &str, body: Body) -> Result<Response, OssErr> {
        let checked = self.upload_dir(bucket, upload, key).and_then(|dir| Ok((dir, part_number(req)?)));
        let (dir, number) = match checked {
            Ok(c) => c,
            Err(e) => {
                drain(body).await;
                return Err(e);
            }
        };
        let (tmp, size, md5, crc) = self.receive(bucket, body).await?;
        let etag = Self::record_part(&dir, number, &tmp, size, md5, crc)?;
        let mut resp = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            resp.headers_mut().insert("etag", v);
        }
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        Ok(resp)
    }

    /// Moves a received part (`tmp`) into its upload's folder with its ETag, size and CRC-64;
    /// returns the ETag.
    fn record_part(dir: &Path, number: u32, tmp: &Path, size: u64, md5: [u8; 16], crc: u64) -> Result<String, OssErr> {
        std::fs::rename(tmp, dir.join(format!("{number}"))).map_err(internal)?;
        let etag = hex::encode_upper(md5);
        std::fs::write(dir.join(format!("{number}.json")), serde_json::json!({"etag": etag, "size": size, "crc64": crc}).to_string())
            .map_err(internal)?;
        Ok(etag)
    }

    /// GetBucketAcl: the emulator keeps no ACLs, every bucket is `private` to the one AccessKey.
    fn bucket_acl(&self, bucket: &str) -> Result<Response, OssErr> {
        self.require_bucket(bucket)?;
        Ok(xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy>{OWNER}<AccessControlList><Grant>private</Grant></AccessControlList></AccessControlPolicy>"
        )))
    }

    async fn complete(&self, bucket: &str, key: &str, upload: &str, body: Body) -> Result<Response, OssErr> {
        let dir = self.upload_dir(bucket, upload, key)?;
        let bytes = axum::body::to_bytes(body, 4 << 20).await.map_err(|e| err(StatusCode::BAD_REQUEST, "MalformedXML", e.to_string()))?;
        let doc = String::from_utf8_lossy(&bytes).into_owned();
        let mut parts: Vec<(u32, String)> = Vec::new();
        for p in xml::elements(&doc, "Part") {
            let n = xml::text(p, "PartNumber").and_then(|n| n.trim().parse().ok());
            let e = xml::text(p, "ETag").map(|e| e.trim().trim_matches('"').to_ascii_uppercase());
            match (n, e) {
                (Some(n), Some(e)) => parts.push((n, e)),
                _ => return Err(err(StatusCode::BAD_REQUEST, "MalformedXML", "The XML you provided was not well-formed.")),
            }
        }
        if parts.is_empty() || parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(err(StatusCode::BAD_REQUEST, "InvalidPartOrder", "The list of parts was not in ascending order or was empty."));
        }
        let mut infos = Vec::new();
        for (i, (n, etag)) in parts.iter().enumerate() {
            let info: serde_json::Value = std::fs::read_to_string(dir.join(format!("{n}.json")))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, "InvalidPart", format!("Part {n} was not uploaded.")))?;
            if info["etag"].as_str() != Some(etag.as_str()) {
                return Err(err(StatusCode::BAD_REQUEST, "InvalidPart", format!("The ETag of part {n} does not match.")));
            }
            let size = info["size"].as_u64().unwrap_or(0);
            if i + 1 < parts.len() && size < MIN_PART {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                ));
            }
            infos.push((*n, etag.clone()));
        }
        let tmp = self.require_bucket(bucket)?.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(internal)?;
        let out_path = tmp.join(format!("complete-{upload}"));
        let dir2 = dir.clone();
        let out2 = out_path.clone();
        let numbers: Vec<u32> = infos.iter().map(|(n, _)| *n).collect();
        // Concatenating a GiB is blocking file IO: keep it off the async workers.
        let (size, crc) = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, u64)> {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out2)?);
            let mut crc = Crc64::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 1 << 20];
            for n in numbers {
                let mut f = std::fs::File::open(dir2.join(format!("{n}")))?;
                loop {
                    let r = f.read(&mut buf)?;
                    if r == 0 {
                        break;
                    }
                    crc.update(&buf[..r]);
                    out.write_all(&buf[..r])?;
                    size += r as u64;
                }
            }
            out.flush()?;
            Ok((size, crc.finish()))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let mut md5 = Md5::new();
        for (_, etag) in &infos {
            md5.update(hex::decode(etag).unwrap_or_default());
        }
        let etag = format!("{}-{}", hex::encode_upper(md5.finalize()), infos.len());
        let meta = Meta {
            key: key.to_owned(),
            size,
            etag: etag.clone(),
            crc64: crc,
            content_type: "application/octet-stream".into(),
            last_modified: now_unix(),
            object_type: "Multipart".into(),
            user_meta: BTreeMap::new(),
        };
        self.store(bucket, &out_path, &meta)?;
        let _ = std::fs::remove_dir_all(&dir);
        let mut resp = xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>http://{b}.localcloud/{k}</Location><Bucket>{b}</Bucket><Key>{k}</Key><ETag>\"{etag}\"</ETag></CompleteMultipartUploadResult>",
            b = xml::escape(bucket),
            k = xml::escape(key)
        ));
        if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
            resp.headers_mut().insert("x-oss-hash-crc64ecma", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            resp.headers_mut().insert("etag", v);
        }
        Ok(resp)
    }

    /// ListObjects (V1, `marker`) and ListObjectsV2 (`list-type=2`, `continuation-token`).
    fn list_objects(&self, req: &Req, bucket: &str) -> Result<Response, OssErr> {
        let dir = self.require_bucket(bucket)?.join("objects");
        let v2 = req.q("list-type") == Some("2");
        let prefix = req.q("prefix").unwrap_or("").to_owned();
        let delimiter = req.q("delimiter").unwrap_or("").to_owned();
        let max_keys: usize = req.q("max-keys").and_then(|m| m.parse().ok()).unwrap_or(100).clamp(1, 1000);
        let url = req.q("encoding-type") == Some("url");
        let after = if v2 {
            match req.q("continuation-token") {
                Some(t) => String::from_utf8(
                    hex::decode(t).map_err(|_| err(StatusCode::BAD_REQUEST, "InvalidArgument", "The continuation token is not valid."))?,
                )
                .map_err(|_| err(StatusCode::BAD_REQUEST, "InvalidArgument", "The continuation token is not valid."))?,
                None => req.q("start-after").unwrap_or("").to_owned(),
            }
        } else {
            req.q("marker").unwrap_or("").to_owned()
        };
        let mut metas: Vec<Meta> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") {
                    if let Ok(m) =
                        std::fs::read_to_string(&p).map_err(internal).and_then(|t| serde_json::from_str::<Meta>(&t).map_err(internal))
                    {
                        if m.key.starts_with(&prefix) && m.key > after {
                            metas.push(m);
                        }
                    }
                }
            }
        }
        metas.sort_by(|a, b| a.key.cmp(&b.key));
        let enc = |s: &str| if url { percent_encode(s) } else { xml::escape(s) };
        // ListObjects (V1) names each object's owner; V2 only with `fetch-owner=true`. The Java
        // SDK's V1 parser reads `Owner` unconditionally.
        let owner = if !v2 || req.q("fetch-owner") == Some("true") { OWNER } else { "" };
        let mut contents = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut last = String::new();
        let mut truncated = false;
        for m in &metas {
            let rolled = if delimiter.is_empty() {
                None
            } else {
                m.key[prefix.len()..].find(&delimiter).map(|i| m.key[..prefix.len() + i + delimiter.len()].to_owned())
            };
            if let Some(p) = &rolled {
                if prefixes.last() == Some(p) {
                    continue;
                }
            }
            if count == max_keys {
                truncated = true;
                break;
            }
            count += 1;
            match rolled {
                Some(p) => {
                    last = p.clone();
                    prefixes.push(p);
                }
                None => {
                    last = m.key.clone();
                    contents.push_str(&format!(
                        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Type>{}</Type><Size>{}</Size><StorageClass>Standard</StorageClass>{owner}</Contents>",
                        enc(&m.key),
                        iso_date(m.last_modified),
                        m.etag,
                        m.object_type,
                        m.size
                    ));
                }
            }
        }
        // A rolled-up prefix is listed once: continue after everything under it.
        if truncated && last.ends_with(&delimiter) && !delimiter.is_empty() {
            last.push(char::MAX);
        }
        let mut doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>{}</Name><Prefix>{}</Prefix>",
            xml::escape(bucket),
            enc(&prefix)
        );
        if v2 {
            doc.push_str(&format!("<MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter>", enc(&delimiter)));
            if url {
                doc.push_str("<EncodingType>url</EncodingType>");
            }
            doc.push_str(&format!("<IsTruncated>{truncated}</IsTruncated><KeyCount>{count}</KeyCount>"));
            if let Some(t) = req.q("continuation-token") {
                doc.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", xml::escape(t)));
            }
            if truncated {
                doc.push_str(&format!("<NextContinuationToken>{}</NextContinuationToken>", hex::encode(last.as_bytes())));
            }
        } else {
            doc.push_str(&format!(
                "<Marker>{}</Marker><MaxKeys>{max_keys}</MaxKeys><Delimiter>{}</Delimiter>",
                enc(&after),
                enc(&delimiter)
            ));
            if url {
                doc.push_str("<EncodingType>url</EncodingType>");
            }
            doc.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
            if truncated {
                doc.push_str(&format!("<NextMarker>{}</NextMarker>", enc(&last)));
            }
        }
        doc.push_str(&contents);
        for p in prefixes {
            doc.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(&p)));
        }
        doc.push_str("</ListBucketResult>");
        Ok(xml_response(doc))
    }
}

/// Reads and drops what is left of a request body (at most 64 MiB, within 10 s) before an error
/// answers it: a body left unread makes hyper close the connection under a client still
/// sending it, which then sees a broken pipe instead of the error (the Java SDK does).
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut left: u64 = 64 << 20;
    let reading = async {
        while let Some(Ok(chunk)) = stream.next().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), reading).await;
}

/// The `x-oss-meta-*` headers of a request, without the prefix.
fn user_meta(req: &Req) -> BTreeMap<String, String> {
    req.headers
        .iter()
        .filter_map(|(n, v)| {
            n.as_str().strip_prefix("x-oss-meta-").map(|k| (k.to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        })
        .collect()
}

/// The `partNumber` of a part upload, 1 to 10,000.
fn part_number(req: &Req) -> Result<u32, OssErr> {
    req.q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive."))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn xml_response(doc: String) -> Response {
    let mut r = Response::new(Body::from(doc));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// One `bytes=` range as inclusive `(start, end)`. Like OSS, an unparsable range is ignored
/// (the whole object is sent); a range starting past the end is `416 InvalidRange`.
fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, OssErr> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let invalid = || err(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange", "The requested range cannot be satisfied");
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else { return Ok(None) };
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        return Ok(Some((size.saturating_sub(n), size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else { return Ok(None) };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

/// Streams `len` bytes from `file` in 256 KiB chunks; a `drop_after` fault ends the stream with
/// an error (the server then closes the connection mid-body), `corrupt` flips the first byte.
fn file_stream(
    file: tokio::fs::File,
    len: u64,
    drop_after: Option<u64>,
    corrupt: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct St {
        file: tokio::fs::File,
        remaining: u64,
        sent: u64,
        drop_after: Option<u64>,
        corrupt: bool,
    }
    futures_util::stream::unfold(St { file, remaining: len, sent: 0, drop_after, corrupt }, |mut st| async move {
        if st.remaining == 0 {
            return None;
        }
        let mut want = st.remaining.min(256 * 1024);
        if let Some(d) = st.drop_after {
            if st.sent >= d {
                st.remaining = 0;
                // Let the server flush what was sent (it does while the body is pending) so the
                // client really holds the first `d` bytes when the connection drops.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some((Err(std::io::Error::other("fault injected: connection dropped")), st));
            }
            want = want.min(d - st.sent);
        }
        let mut buf = bytes::BytesMut::with_capacity(usize::try_from(want).unwrap_or(256 * 1024));
        while (buf.len() as u64) < want {
            match st.file.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    st.remaining = 0;
                    return Some((Err(e), st));
                }
            }
        }
        if buf.is_empty() {
            st.remaining = 0;
            return Some((Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "object file shorter than its metadata")), st));
        }
        if st.corrupt && st.sent == 0 {
            buf[0] ^= 0xff;
        }
        st.sent += buf.len() as u64;
        st.remaining -= buf.len() as u64;
        Some((Ok(buf.freeze()), st))
    })
}

/// Starting the local cloud from tests with its OSS emulator (the other emulators come along).
pub mod testing {
    use std::path::Path;
    use std::time::Duration;

    use crate::{start, Config, LocalCloud};

    /// Starts the local cloud on 127.0.0.1 with data under `data_dir`, the given keys and no
    /// kubelet.
    pub async fn start_local(data_dir: &Path, access_key_id: &str, access_key_secret: &str) -> std::io::Result<LocalCloud> {
        start(Config {
            listen: std::net::IpAddr::from([127, 0, 0, 1]),
            data_dir: data_dir.to_owned(),
            access_key_id: access_key_id.to_owned(),
            access_key_secret: access_key_secret.to_owned(),
            create_delay: Duration::from_secs(1),
            kubelet: false,
            node_cpus: None,
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 99)));
        assert_eq!(parse_range("bytes=9-1", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=100-", 100).unwrap_err().code, "InvalidRange");
    }

    #[test]
    fn addressing() {
        assert_eq!(host_bucket("acme.oss-cn-local.localcloud:8080").as_deref(), Some("acme"));
        assert_eq!(host_bucket("127.0.0.1:8080"), None);
        assert_eq!(host_bucket("localhost:8080"), None);
        assert_eq!(
            parse_query("a=%20b&uploads&c="),
            vec![("a".into(), " b".into()), ("uploads".into(), String::new()), ("c".into(), String::new())]
        );
    }
}
