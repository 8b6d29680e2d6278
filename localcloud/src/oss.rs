//! OSS emulator: buckets and objects on disk under `<data-dir>/oss/`, V1 and V4 signatures
//! (header and presigned URL) verified against the local cloud's one AccessKey, path-style and
//! virtual-hosted addressing, GetObject with `Range`, HeadObject with ETag and
//! `x-oss-hash-crc64ecma`, PutObject, multipart upload, ListObjects (V1 and V2), CopyObject and
//! UploadPartCopy (`oss/copy.rs`), DeleteMultipleObjects (`oss/batch_delete.rs`), GetBucketAcl, OSS-shaped
//! XML errors. Bodies are streamed in both directions: a GiB object never sits in memory.
//!
//! This root parses a request (`Req`: path- or virtual-hosted addressing), applies the faults
//! (`faults`), checks the signature (`auth`) and routes it to one operation: `storage`
//! (buckets and objects), `listing`, `multipart`, `copy` or `batch_delete`.
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
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sparkoss_aliyun::oss::xml;
use sparkoss_aliyun::percent_decode;

use crate::shared::{parse_query, Shared};

mod auth;
mod batch_delete;
mod copy;
mod faults;
mod listing;
mod multipart;
mod storage;

pub use faults::{AccessEntry, FaultKind, FaultRule};

/// The one owner of every bucket and object (the local cloud has one account).
const OWNER: &str = "<Owner><ID>localcloud</ID><DisplayName>localcloud</DisplayName></Owner>";
/// CopyObject's and UploadPartCopy's source, `/bucket/url-encoded-key`.
const COPY_SOURCE: &str = "x-oss-copy-source";
/// At most this many keys in one DeleteMultipleObjects request (OSS's limit).
const MAX_DELETE_KEYS: usize = 1000;
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
        .route("/_localcloud/faults", post(faults::add_fault).delete(faults::clear_faults).get(faults::list_faults))
        .route("/_localcloud/access-log", axum::routing::get(faults::access_log).delete(faults::clear_log))
        .fallback(handle)
        .with_state(state)
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

impl Oss {
    /// Routes a verified request to its operation, by what it addresses (the service, a
    /// bucket, an object) and its method and sub-resource parameters.
    async fn dispatch(&self, req: &Req, body: Body, fault: Option<FaultKind>) -> Result<Response, OssErr> {
        let not_allowed =
            || err(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed against this resource.");
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
                Method::PUT => self.create_bucket(&bucket),
                // The Java SDK's doesBucketExist asks for the ACL: answer it, not with a listing.
                Method::GET if req.q("acl").is_some() => self.bucket_acl(&bucket),
                Method::GET => self.list_objects(req, &bucket),
                Method::POST if req.q("delete").is_some() => self.delete_objects(req, &bucket, body).await,
                Method::HEAD => self.require_bucket(&bucket).map(|_| StatusCode::OK.into_response()),
                Method::DELETE => self.delete_bucket(&bucket),
                _ => Err(not_allowed()),
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
            (&Method::DELETE, Some(upload), _) => self.abort(&bucket, &key, upload),
            (&Method::DELETE, None, _) => self.delete_object(&bucket, &key),
            _ => Err(not_allowed()),
        }
    }
}

fn xml_response(doc: String) -> Response {
    let mut r = Response::new(Body::from(doc));
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
    r
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
    fn addressing() {
        assert_eq!(host_bucket("acme.oss-cn-local.localcloud:8080").as_deref(), Some("acme"));
        assert_eq!(host_bucket("127.0.0.1:8080"), None);
        assert_eq!(host_bucket("localhost:8080"), None);
    }
}
