//! The ACK gateway's check of a call: the ACS3-HMAC-SHA256 signature, the API version, the
//! clock skew and nonce reuse.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use sparkoss_aliyun::signing::acs3;

use super::{error, App};

/// Largest clock skew accepted on `x-acs-date`.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Verifies the ACS3-HMAC-SHA256 signature the way the gateway does (the shared server-side
/// check in `sparkoss_aliyun::signing::acs3::verify`), then what ACK adds: the API version, the
/// clock skew and nonce reuse.
pub(super) fn verify(
    app: &App,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Box<Response>> {
    let bad = |code: &str, msg: String| Err(Box::new(error(StatusCode::BAD_REQUEST, code, msg)));
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let received_headers: Vec<(&str, &str)> = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    let received = acs3::Received { method: method.as_str(), path, raw_query, headers: &received_headers, body };
    let cfg = &app.shared.config;
    let secret_of = |ak: &str| (ak == cfg.access_key_id).then(|| cfg.access_key_secret.clone());
    if let Err(refusal) = acs3::verify(&received, &secret_of) {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(Box::new(error(status, refusal.code, refusal.message)));
    }
    if h("x-acs-version") != Some("2015-12-15") {
        return bad("InvalidVersion", format!("Specified parameter Version is not valid: {:?}.", h("x-acs-version")));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let date = h("x-acs-date").and_then(|d| time::PrimitiveDateTime::parse(d, &fmt).ok()).map(|d| d.assume_utc());
    let Some(date) = date else {
        return bad("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.".into());
    };
    let skew = (time::OffsetDateTime::now_utc() - date).abs();
    if skew > MAX_SKEW {
        return bad("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.".into());
    }
    let nonce = h("x-acs-signature-nonce").unwrap_or_default().to_owned();
    if !app.lock().nonces.insert(nonce) {
        return bad("SignatureNonceUsed", "Specified signature nonce was used already.".into());
    }
    Ok(())
}
