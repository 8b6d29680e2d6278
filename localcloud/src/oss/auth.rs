//! Who may call: the four ways a request proves the local cloud's AccessKey (V4 and V1, in the
//! `Authorization` header or a presigned URL's query), checked with the shared signers of
//! `sparkoss_aliyun::signing`, with OSS's own refusals (unknown key, bad signature, expiry, skew).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use sparkoss_aliyun::signing::oss_v4::OssRequest;
use sparkoss_aliyun::signing::{oss_v1, oss_v4};
use subtle::ConstantTimeEq;

use super::{err, now_unix, Oss, OssErr, Req};

/// The largest clock difference accepted for signed requests (OSS: 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Whether a computed signature is the one sent, in constant time (a signature is a MAC: an early
/// exit on the first differing byte would tell a caller how much of a forgery is right).
fn signature_matches(expected: &str, sent: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter().map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

fn forbidden(code: &'static str, message: impl Into<String>) -> OssErr {
    err(StatusCode::FORBIDDEN, code, message)
}

impl Oss {
    /// Checks the signature; returns how the request was authenticated.
    pub(super) fn verify(&self, req: &Req) -> Result<&'static str, (&'static str, OssErr)> {
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
            if !signature_matches(&expected, sig) {
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
            if !signature_matches(&expected, sig) {
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
        if !signature_matches(&expected, sig) {
            return Err(forbidden(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ));
        }
        Ok(())
    }
}
