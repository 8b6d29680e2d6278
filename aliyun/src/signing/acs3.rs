//! Alibaba Cloud OpenAPI signature `ACS3-HMAC-SHA256` for ROA requests (ACK / CS 2015-12-15).
//!
//! Matches what `alibabacloud-tea-openapi` (the engine under `alibabacloud-cs20151215`) sends:
//! every header that is sent is signed (lower-cased, values trimmed, sorted), the canonical
//! URI is the already-encoded path, query keys are sorted and values RFC 3986 encoded, and
//! STS credentials add `x-acs-accesskey-id` and `x-acs-security-token`.
//!
//! ```
//! use sparkoss_aliyun::signing::{acs3, Credentials};
//! use time::macros::datetime;
//!
//! let req = acs3::Acs3Request {
//!     method: "GET",
//!     host: "cs.cn-hangzhou.aliyuncs.com",
//!     path: "/api/v1/clusters",
//!     query: &[("page_size", "50")],
//!     action: "DescribeClustersV1",
//!     version: "2015-12-15",
//!     headers: &[("accept", "application/json")],
//!     body: &[],
//!     content_type: None,
//! };
//! let creds = Credentials::new("AKID", "secret");
//! let signed = acs3::sign(&req, &creds, datetime!(2026-11-23 10:20:30 UTC), "nonce-1").unwrap();
//! assert!(signed.authorization().unwrap().starts_with("ACS3-HMAC-SHA256 Credential=AKID,"));
//! ```

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{check_header, hmac_sha256, iso8601_extended, sha256_hex, Credentials};
use crate::encode::percent_encode;
use crate::{Error, Result};

/// The algorithm name, first line of the string to sign and prefix of `Authorization`.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The content type the SDK sends with JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Headers the signer sets itself; callers may not pass them in [`Acs3Request::headers`].
const GENERATED: &[&str] = &[
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-accesskey-id",
    "x-acs-security-token",
    "content-type",
    "authorization",
];

/// One ROA request to sign.
#[derive(Debug, Clone, Copy)]
pub struct Acs3Request<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Endpoint host, e.g. `cs.cn-hangzhou.aliyuncs.com` (sent and signed as `host`).
    pub host: &'a str,
    /// The path as sent, already percent-encoded; build it with [`encode_path_segment`] for
    /// each parameter, e.g. `format!("/clusters/{}", encode_path_segment(id))`.
    pub path: &'a str,
    /// Query parameters, unencoded. Order does not matter.
    pub query: &'a [(&'a str, &'a str)],
    /// API action, e.g. `DescribeClustersV1` (`x-acs-action`).
    pub action: &'a str,
    /// API version, e.g. `2015-12-15` (`x-acs-version`).
    pub version: &'a str,
    /// Further headers to send, all of which are signed (e.g. `accept`, `user-agent`).
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body (empty for none); its SHA-256 is `x-acs-content-sha256`.
    pub body: &'a [u8],
    /// Content type of the body, e.g. [`JSON_CONTENT_TYPE`]; sent and signed when set.
    pub content_type: Option<&'a str>,
}

/// The outcome of [`sign`]: what to send, and how it was derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Signed {
    /// Every header to send, names in lower case, including `authorization`.
    pub headers: Vec<(String, String)>,
    /// The canonical query string, also usable as the URL's query (without `?`).
    pub query_string: String,
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// The string that was signed.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
}

impl Acs3Signed {
    /// The value of the `authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }

    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The request target to send: the path and, when there is one, `?` and the query.
    pub fn path_and_query(&self, path: &str) -> String {
        if self.query_string.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", self.query_string)
        }
    }
}

/// Percent-encodes one ROA path parameter (e.g. a cluster id) as the SDK does: everything
/// but RFC 3986 unreserved characters, `/` included.
pub fn encode_path_segment(segment: &str) -> String {
    percent_encode(segment, false)
}

/// The canonical query string: `key=value` pairs, RFC 3986 encoded, sorted by key then value,
/// joined by `&`; an empty value is written `key=`.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = query.to_vec();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k, false), percent_encode(v, false))).collect::<Vec<_>>().join("&")
}

/// Signs `req` with `creds` at `date` with the given `nonce` (`x-acs-signature-nonce`; the
/// SDK uses 32 random hex digits) and returns the headers to send.
pub fn sign(req: &Acs3Request<'_>, creds: &Credentials, date: OffsetDateTime, nonce: &str) -> Result<Acs3Signed> {
    creds.check(ALGORITHM)?;
    for (field, value) in [("method", req.method), ("host", req.host), ("action", req.action), ("version", req.version), ("nonce", nonce)] {
        if value.is_empty() {
            return Err(Error::MissingField { scheme: ALGORITHM, field });
        }
    }
    if !req.path.starts_with('/') {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "path (starting with /)" });
    }

    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), req.host.into()),
        ("x-acs-version".into(), req.version.into()),
        ("x-acs-action".into(), req.action.into()),
        ("x-acs-date".into(), iso8601_extended(date)),
        ("x-acs-signature-nonce".into(), nonce.into()),
    ];
    for (name, value) in req.headers {
        check_header(name, value)?;
        let lower = name.to_ascii_lowercase();
        if GENERATED.contains(&lower.as_str()) {
            return Err(Error::InvalidHeader { name: (*name).to_owned(), reason: "this header is set by ACS3 signing" });
        }
        headers.push((lower, (*value).to_owned()));
    }
    if let Some(ct) = req.content_type {
        headers.push(("content-type".into(), ct.into()));
    }
    let payload_hash = sha256_hex(req.body);
    headers.push(("x-acs-content-sha256".into(), payload_hash.clone()));
    if let Some(token) = creds.token() {
        headers.push(("x-acs-accesskey-id".into(), creds.access_key_id.clone()));
        headers.push(("x-acs-security-token".into(), token.to_owned()));
    }
    for (name, value) in &headers {
        check_header(name, value)?;
    }

    // Canonical headers: lower-case name, trimmed values (repeated names joined by ',').
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &headers {
        grouped.entry(name.as_str()).or_default().push(value.trim());
    }
    let mut canonical_headers = String::new();
    for (name, values) in &mut grouped {
        values.sort_unstable();
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    let signed_headers = grouped.keys().copied().collect::<Vec<_>>().join(";");

    let query_string = canonical_query(req.query);
    let canonical_request =
        format!("{}\n{}\n{}\n{}\n{}\n{}", req.method, req.path, query_string, canonical_headers, signed_headers, payload_hash);
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let signature = hex::encode(hmac_sha256(creds.access_key_secret.as_bytes(), string_to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!("{ALGORITHM} Credential={},SignedHeaders={signed_headers},Signature={signature}", creds.access_key_id),
    ));
    Ok(Acs3Signed { headers, query_string, canonical_request, string_to_sign, signature })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn req<'a>(headers: &'a [(&'a str, &'a str)]) -> Acs3Request<'a> {
        Acs3Request {
            method: "GET",
            host: "cs.cn-hangzhou.aliyuncs.com",
            path: "/clusters",
            query: &[],
            action: "DescribeClusterDetail",
            version: "2015-12-15",
            headers,
            body: b"",
            content_type: None,
        }
    }

    #[test]
    fn refuses_generated_header_and_empty_key() {
        let t = datetime!(2026-11-23 10:20:30 UTC);
        let err = sign(&req(&[("Host", "evil")]), &Credentials::new("a", "b"), t, "n").unwrap_err();
        assert!(matches!(err, Error::InvalidHeader { ref name, .. } if name == "Host"), "{err}");
        let err = sign(&req(&[]), &Credentials::new("", "b"), t, "n").unwrap_err();
        assert_eq!(err.to_string(), "access key id must not be empty for ACS3-HMAC-SHA256 signing");
    }

    #[test]
    fn repeated_headers_are_joined_sorted() {
        let t = datetime!(2026-11-23 10:20:30 UTC);
        let s = sign(&req(&[("x-b", "2"), ("X-B", " 1 ")]), &Credentials::new("a", "b"), t, "n").unwrap();
        assert!(s.canonical_request.contains("\nx-b:1,2\n"), "{}", s.canonical_request);
    }

    #[test]
    fn empty_query_value_is_written_with_equals() {
        assert_eq!(canonical_query(&[("b", ""), ("a", "x y")]), "a=x%20y&b=");
    }
}
