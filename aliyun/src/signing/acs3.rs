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
use subtle::ConstantTimeEq;

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
    let (canonical_request, string_to_sign, signature) = signature_of(
        &Canonical {
            method: req.method,
            path: req.path,
            query: &query_string,
            headers: &canonical_headers,
            signed: &signed_headers,
            payload_hash: &payload_hash,
        },
        &creds.access_key_secret,
    );
    headers.push((
        "authorization".into(),
        format!("{ALGORITHM} Credential={},SignedHeaders={signed_headers},Signature={signature}", creds.access_key_id),
    ));
    Ok(Acs3Signed { headers, query_string, canonical_request, string_to_sign, signature })
}

/// The parts of a canonical request, each already canonicalised.
struct Canonical<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    /// `name:value\n` per signed header.
    headers: &'a str,
    /// `SignedHeaders`: the names joined by `;`.
    signed: &'a str,
    payload_hash: &'a str,
}

/// The canonical request, the string to sign and the hex signature: the one computation that
/// [`sign`] (the client) and [`verify`] (the server side) must agree on.
fn signature_of(c: &Canonical<'_>, secret: &str) -> (String, String, String) {
    let canonical_request = format!("{}\n{}\n{}\n{}\n{}\n{}", c.method, c.path, c.query, c.headers, c.signed, c.payload_hash);
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let signature = hex::encode(hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()));
    (canonical_request, string_to_sign, signature)
}

/// A request as a server received it, for [`verify`].
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The path as it arrived (still percent-encoded).
    pub path: &'a str,
    /// The query string as it arrived (after `?`, still encoded; empty when there is none).
    pub raw_query: &'a str,
    /// Every header as received; names in any case, a name may repeat.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body as received.
    pub body: &'a [u8],
}

/// Why [`verify`] refused a request: the gateway's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status to answer with.
    pub status: u16,
    /// `MissingAuthorization`, `IncompleteSignature`, `InvalidAccessKeyId.NotFound` or
    /// `SignatureDoesNotMatch`.
    pub code: &'static str,
    /// What the gateway would say.
    pub message: String,
}

/// Checks an ACS3 signature the way the gateway does, for the local cloud and test stand-ins:
/// the canonical request is rebuilt from what arrived (the headers the client names in
/// `SignedHeaders`, the query decoded and canonicalised again, the SHA-256 of the body received)
/// and the HMAC compared. `secret_of` maps an AccessKeyId to its secret (`None`: unknown key).
/// Returns the AccessKeyId that signed. Clock skew, nonce reuse and the API version are the
/// caller's to check, as they differ per service.
pub fn verify(req: &Received<'_>, secret_of: &dyn Fn(&str) -> Option<String>) -> std::result::Result<String, Refusal> {
    let refuse = |code: &'static str, message: String| {
        // An unknown key is "not found"; everything else is a bad request.
        let status = if code == "InvalidAccessKeyId.NotFound" { 404 } else { 400 };
        Err(Refusal { status, code, message })
    };
    let values =
        |name: &str| -> Vec<&str> { req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).collect() };
    let first = |name: &str| values(name).first().copied();
    let Some(auth) = first("authorization") else {
        return refuse("MissingAuthorization", "The request is not signed: the Authorization header is missing.".into());
    };
    let Some(rest) = auth.strip_prefix("ACS3-HMAC-SHA256 ") else {
        return refuse("IncompleteSignature", "The Authorization header does not use ACS3-HMAC-SHA256.".into());
    };
    let fields: BTreeMap<&str, &str> = rest.split(',').filter_map(|kv| kv.trim().split_once('=')).collect();
    let (Some(ak), Some(signed), Some(sig)) = (fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature")) else {
        return refuse("IncompleteSignature", "The Authorization header lacks Credential, SignedHeaders or Signature.".into());
    };
    let Some(secret) = secret_of(ak) else {
        return refuse("InvalidAccessKeyId.NotFound", "Specified access key is not found.".into());
    };
    let names: Vec<&str> = signed.split(';').collect();
    let mut required = vec!["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"];
    // A security token that is sent must be signed, or it could be swapped in transit.
    if first("x-acs-security-token").is_some() {
        required.push("x-acs-security-token");
    }
    for name in required {
        if !names.contains(&name) || first(name).is_none() {
            return refuse("IncompleteSignature", format!("The header {name} must be sent and signed."));
        }
    }
    let payload_hash = sha256_hex(req.body);
    if first("x-acs-content-sha256") != Some(payload_hash.as_str()) {
        return refuse("SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body.".into());
    }
    let mut canonical_headers = String::new();
    for name in &names {
        canonical_headers.push_str(&format!("{name}:{}\n", values(name).join(",")));
    }
    let query: Vec<(String, String)> = req
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (crate::percent_decode(k), crate::percent_decode(v)))
        .collect();
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let query_string = canonical_query(&pairs);
    let (_, string_to_sign, expected) = signature_of(
        &Canonical {
            method: req.method,
            path: req.path,
            query: &query_string,
            headers: &canonical_headers,
            signed,
            payload_hash: &payload_hash,
        },
        &secret,
    );
    // Constant time: the comparison must not tell how much of a guess was right.
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return refuse(
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
        );
    }
    Ok((*ak).to_owned())
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

    /// Signs a POST with a query and a body, then hands it to [`verify`] after `tamper`.
    fn verified(
        creds: &Credentials,
        tamper: impl Fn(&mut Vec<(String, String)>, &mut String, &mut Vec<u8>),
    ) -> std::result::Result<String, Refusal> {
        let body = br#"{"a":1}"#;
        let r = Acs3Request {
            method: "POST",
            host: "sts.aliyuncs.com",
            path: "/",
            query: &[("RoleArn", "acs:ram::1:role/x y"), ("DurationSeconds", "900")],
            action: "AssumeRole",
            version: "2015-04-01",
            headers: &[("accept", "application/json")],
            body,
            content_type: Some(JSON_CONTENT_TYPE),
        };
        let signed = sign(&r, creds, datetime!(2026-11-23 10:20:30 UTC), "n1").unwrap();
        let (mut headers, mut query, mut body) = (signed.headers.clone(), signed.query_string.clone(), body.to_vec());
        tamper(&mut headers, &mut query, &mut body);
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let received = Received { method: "POST", path: "/", raw_query: &query, headers: &h, body: &body };
        verify(&received, &|ak| (ak == "AK1").then(|| "right-secret".to_owned()))
    }

    fn code(r: std::result::Result<String, Refusal>) -> &'static str {
        r.map(|_| "OK").unwrap_or_else(|e| e.code)
    }

    #[test]
    fn verify_accepts_what_sign_makes_and_refuses_any_change() {
        let good = Credentials::new("AK1", "right-secret");
        assert_eq!(verified(&good, |_, _, _| {}), Ok("AK1".to_owned()));
        assert_eq!(code(verified(&Credentials::new("AK1", "wrong-secret"), |_, _, _| {})), "SignatureDoesNotMatch");
        assert_eq!(code(verified(&Credentials::new("AK2", "right-secret"), |_, _, _| {})), "InvalidAccessKeyId.NotFound");
        // The body differs from the hashed payload.
        assert_eq!(code(verified(&good, |_, _, b| b.push(b' '))), "SignatureDoesNotMatch");
        // A signed header's value changed on the way.
        let set = |name: &'static str, value: &'static str| {
            move |h: &mut Vec<(String, String)>, _: &mut String, _: &mut Vec<u8>| {
                h.iter_mut().filter(|(n, _)| n == name).for_each(|(_, v)| *v = value.to_owned())
            }
        };
        assert_eq!(code(verified(&good, set("accept", "text/html"))), "SignatureDoesNotMatch");
        // The query changed on the way.
        assert_eq!(code(verified(&good, |_, q, _| q.push_str("&Extra=1"))), "SignatureDoesNotMatch");
        // A header the gateway needs signed is left out of SignedHeaders.
        let drop_nonce = |h: &mut Vec<(String, String)>, _: &mut String, _: &mut Vec<u8>| {
            for (n, v) in h.iter_mut() {
                if n == "authorization" {
                    *v = v.replace("x-acs-signature-nonce;", "");
                }
            }
        };
        assert_eq!(code(verified(&good, drop_nonce)), "IncompleteSignature");
        assert_eq!(code(verified(&good, |h, _, _| h.retain(|(n, _)| n != "authorization"))), "MissingAuthorization");
        // A security token sent beside a signature that does not cover it.
        assert_eq!(code(verified(&good, |h, _, _| h.push(("x-acs-security-token".into(), "t".into())))), "IncompleteSignature");
    }

    #[test]
    fn empty_query_value_is_written_with_equals() {
        assert_eq!(canonical_query(&[("b", ""), ("a", "x y")]), "a=x%20y&b=");
    }
}
