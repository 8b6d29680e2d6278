//! OSS signature V1: `Authorization: OSS <AccessKeyId>:<base64(HMAC-SHA1(secret, string to sign))>`
//! and presigned URLs with `OSSAccessKeyId`, `Expires` and `Signature`.
//!
//! String to sign: `METHOD \n Content-MD5 \n Content-Type \n Date \n` + the `x-oss-*` headers
//! (lower-case names, sorted, `name:value\n`) + the canonicalized resource
//! `/bucket/key[?sub-resources]` with the key and sub-resource values unencoded. Only the
//! sub-resources in [`SUBRESOURCES`] are signed (the list `oss2` uses).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use super::oss_v4::OssRequest;
use super::{check_header, http_date, utc, Credentials};
use crate::encode::percent_encode;
use crate::{Error, Result};

/// The scheme name used in error messages.
const SCHEME: &str = "OSS V1";

/// Query parameters that OSS V1 signs as sub-resources (from `oss2`).
pub const SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
];

/// The outcome of [`sign_headers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Signed {
    /// Headers to add (lower-case names): `x-oss-security-token` for STS, `date`, and
    /// `authorization`.
    pub headers: Vec<(String, String)>,
    /// The string that was signed.
    pub string_to_sign: String,
    /// The base64 signature.
    pub signature: String,
}

impl V1Signed {
    /// The value of the `authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.as_str())
    }
}

/// The outcome of [`presign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Presigned {
    /// The URL path for a virtual-hosted endpoint (`/` + encoded key).
    pub path: String,
    /// The query string, encoded: the request's parameters, `security-token` for STS,
    /// `OSSAccessKeyId`, `Expires`, `Signature`.
    pub query_string: String,
    /// The string that was signed.
    pub string_to_sign: String,
    /// The base64 signature.
    pub signature: String,
}

impl V1Presigned {
    /// The full URL for `scheme://host` (host being the virtual-hosted `bucket.endpoint`).
    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}{}?{}", self.path, self.query_string)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
}

/// The canonicalized resource: `/bucket/key` plus the signed sub-resources, sorted.
pub fn canonical_resource(bucket: Option<&str>, key: Option<&str>, query: &[(&str, &str)]) -> String {
    let mut subs: Vec<(&str, &str)> = query.iter().copied().filter(|(k, _)| SUBRESOURCES.contains(k)).collect();
    subs.sort();
    let mut out = match bucket {
        Some(b) => format!("/{b}/{}", key.unwrap_or("")),
        None => "/".to_owned(),
    };
    if !subs.is_empty() {
        out.push('?');
        let parts: Vec<String> = subs.iter().map(|(k, v)| if v.is_empty() { (*k).to_owned() } else { format!("{k}={v}") }).collect();
        out.push_str(&parts.join("&"));
    }
    out
}

fn string_to_sign(method: &str, headers: &[(String, String)], date: &str, resource: &str) -> Result<String> {
    let mut oss: Vec<(String, &str)> =
        headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.as_str())).filter(|(n, _)| n.starts_with("x-oss-")).collect();
    oss.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = oss.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::InvalidHeader { name: w[0].0.clone(), reason: "a signed header may be given only once" });
    }
    let canon: String = oss.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    Ok(format!("{method}\n{}\n{}\n{date}\n{canon}{resource}", header(headers, "content-md5"), header(headers, "content-type"),))
}

fn hmac_sha1_b64(secret: &str, data: &str) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA1 takes keys of any length"),
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn check(req: &OssRequest<'_>, creds: &Credentials) -> Result<()> {
    creds.check(SCHEME)?;
    if req.method.is_empty() {
        return Err(Error::MissingField { scheme: SCHEME, field: "method" });
    }
    if req.bucket.is_some_and(str::is_empty) {
        return Err(Error::MissingField { scheme: SCHEME, field: "bucket" });
    }
    for (n, v) in req.headers {
        check_header(n, v)?;
    }
    Ok(())
}

/// Signs `req` at `time` for sending with an `Authorization` header. A `date` header is always
/// added; when `req.headers` has `x-oss-date`, that value is the date that is signed.
pub fn sign_headers(req: &OssRequest<'_>, creds: &Credentials, time: OffsetDateTime) -> Result<V1Signed> {
    check(req, creds)?;
    for (n, _) in req.headers {
        if n.eq_ignore_ascii_case("authorization") || n.eq_ignore_ascii_case("date") || n.eq_ignore_ascii_case("x-oss-security-token") {
            return Err(Error::InvalidHeader { name: (*n).to_owned(), reason: "this header is set by OSS V1 signing" });
        }
    }
    let mut all: Vec<(String, String)> = req.headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let mut added: Vec<(String, String)> = Vec::new();
    if let Some(token) = creds.token() {
        added.push(("x-oss-security-token".into(), token.to_owned()));
    }
    let oss_date = header(&all, "x-oss-date").to_owned();
    let date = if oss_date.is_empty() { http_date(time) } else { oss_date };
    added.push(("date".into(), http_date(time)));
    all.extend(added.iter().cloned());
    let resource = canonical_resource(req.bucket, req.key, req.query);
    let sts = string_to_sign(req.method, &all, &date, &resource)?;
    let signature = hmac_sha1_b64(&creds.access_key_secret, &sts);
    added.push(("authorization".into(), format!("OSS {}:{signature}", creds.access_key_id)));
    Ok(V1Signed { headers: added, string_to_sign: sts, signature })
}

/// Presigns `req` to expire `expires_seconds` after `time`. Signed headers given in
/// `req.headers` (`content-type`, `content-md5`, `x-oss-*`) must be sent by the client.
pub fn presign(req: &OssRequest<'_>, creds: &Credentials, time: OffsetDateTime, expires_seconds: u64) -> Result<V1Presigned> {
    check(req, creds)?;
    if req.bucket.is_none() {
        return Err(Error::MissingField { scheme: SCHEME, field: "bucket (for a presigned URL)" });
    }
    for (k, _) in req.query {
        if matches!(*k, "OSSAccessKeyId" | "Expires" | "Signature" | "security-token") {
            return Err(Error::ReservedQueryParameter { name: (*k).to_owned(), scheme: SCHEME });
        }
    }
    let now = utc(time).unix_timestamp();
    let expires = u64::try_from(now)
        .ok()
        .and_then(|n| n.checked_add(expires_seconds))
        .ok_or_else(|| Error::InvalidTime { time: format!("{time}"), scheme: SCHEME })?
        .to_string();
    let mut query: Vec<(&str, &str)> = req.query.to_vec();
    if let Some(token) = creds.token() {
        query.push(("security-token", token));
    }
    let headers: Vec<(String, String)> = req.headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let resource = canonical_resource(req.bucket, req.key, &query);
    let sts = string_to_sign(req.method, &headers, &expires, &resource)?;
    let signature = hmac_sha1_b64(&creds.access_key_secret, &sts);
    query.push(("OSSAccessKeyId", &creds.access_key_id));
    query.push(("Expires", &expires));
    query.push(("Signature", &signature));
    let query_string = query
        .iter()
        .map(
            |(k, v)| {
                if v.is_empty() {
                    percent_encode(k, false)
                } else {
                    format!("{}={}", percent_encode(k, false), percent_encode(v, false))
                }
            },
        )
        .collect::<Vec<_>>()
        .join("&");
    Ok(V1Presigned { path: format!("/{}", percent_encode(req.key.unwrap_or(""), true)), query_string, string_to_sign: sts, signature })
}

/// Recomputes the V1 signature of a request as received, for servers that verify V1 requests
/// (the local cloud's OSS emulator). `headers` are all the headers that arrived; `date` is the
/// `Date` header (or `x-oss-date` when sent), or the `Expires` value of a presigned URL; `query`
/// holds the decoded query parameters (only sub-resources are signed).
pub fn signature_for(
    method: &str,
    headers: &[(String, String)],
    date: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(&str, &str)],
    secret: &str,
) -> Result<String> {
    let resource = canonical_resource(bucket, key, query);
    let sts = string_to_sign(method, headers, date, &resource)?;
    Ok(hmac_sha1_b64(secret, &sts))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resource_keeps_only_subresources_sorted() {
        let q = [("prefix", "a"), ("uploadId", "u"), ("partNumber", "3"), ("uploads", "")];
        assert_eq!(canonical_resource(Some("b"), Some("k k"), &q), "/b/k k?partNumber=3&uploadId=u&uploads");
        assert_eq!(canonical_resource(Some("b"), None, &[("acl", "")]), "/b/?acl");
        assert_eq!(canonical_resource(None, None, &[]), "/");
    }

    #[test]
    fn refuses_reserved() {
        let req = OssRequest { method: "GET", bucket: Some("b"), key: Some("k"), query: &[("Signature", "x")], headers: &[] };
        let t = time::macros::datetime!(2026-11-23 10:20:30 UTC);
        assert!(matches!(presign(&req, &Credentials::new("a", "s"), t, 60), Err(Error::ReservedQueryParameter { .. })));
    }
}
