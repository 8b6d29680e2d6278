//! The OSS emulator's control paths for tests: fault injection (`/_localcloud/faults`) and the
//! access log (`/_localcloud/access-log`), answered on loopback only; and how a request picks
//! up the faults that match it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{Oss, Req};

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

/// The refusal to send when control paths are not allowed (the local cloud is not on loopback).
fn refuse_control(oss: &Oss) -> Option<Response> {
    (!oss.shared.config.listen.is_loopback()).then(|| (StatusCode::FORBIDDEN, "control paths are served on loopback only").into_response())
}

pub(super) async fn add_fault(State(oss): State<Arc<Oss>>, Json(rule): Json<FaultRule>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut f) = oss.faults.lock() {
        f.push(rule);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn clear_faults(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut f) = oss.faults.lock() {
        f.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn list_faults(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    let faults = oss.faults.lock().map(|f| f.clone()).unwrap_or_default();
    Json(faults).into_response()
}

pub(super) async fn access_log(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    let log = oss.log.lock().map(|l| l.clone()).unwrap_or_default();
    Json(log).into_response()
}

pub(super) async fn clear_log(State(oss): State<Arc<Oss>>) -> Response {
    if let Some(r) = refuse_control(&oss) {
        return r;
    }
    if let Ok(mut l) = oss.log.lock() {
        l.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}

impl Oss {
    /// The faults that apply to `req` (latency, an error status, a body fault), each rule used
    /// up as many times as it allows.
    pub(super) fn take_faults(&self, req: &Req) -> (Option<u64>, Option<(u16, String)>, Option<FaultKind>) {
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
}
