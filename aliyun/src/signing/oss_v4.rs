//! OSS signature V4 (`OSS4-HMAC-SHA256`): `Authorization` header signing and presigned URLs.
//!
//! The canonical request is
//! `METHOD \n /bucket/key (encoded, '/' kept) \n sorted encoded query \n signed headers \n
//! additional header names \n UNSIGNED-PAYLOAD`, where the signed headers are `x-oss-*`,
//! `content-type`, `content-md5` and the requested additional headers that are present. The
//! signing key is `HMAC-SHA256` chained from `"aliyun_v4" + secret` over the date, region,
//! product (`oss`) and `aliyun_v4_request`.
//!
//! Two SDKs are matched byte for byte; they differ only in presentation, chosen with
//! [`Style`]: `alibabacloud-oss-v2` ([`Style::OssV2`], the default) and `oss2` ([`Style::Oss2`]).

use time::OffsetDateTime;

use super::{check_header, hmac_sha256, http_date, iso8601_basic, sha256_hex, Credentials};
use crate::encode::percent_encode;
use crate::{Error, Result};

/// The algorithm name.
pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// The payload hash OSS V4 uses: the body is not hashed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The longest lifetime OSS accepts for a V4 presigned URL: 7 days.
pub const MAX_EXPIRES_SECONDS: u64 = 7 * 24 * 3600;

/// Query parameters that presigning sets itself.
const RESERVED_QUERY: &[&str] = &[
    "x-oss-signature-version",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-credential",
    "x-oss-security-token",
    "x-oss-additional-headers",
    "x-oss-signature",
];

/// Which SDK's presentation to reproduce; the signature itself is the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Style {
    /// `alibabacloud-oss-v2`: a `Date` header is sent too; `Authorization` is
    /// `Credential=…,AdditionalHeaders=…,Signature=…`; presigned parameters follow
    /// signature-version, date, expires, credential, security-token, additional-headers.
    #[default]
    OssV2,
    /// `oss2`: no `Date` header; `Authorization` is `Credential=…, Signature=…, AdditionalHeaders=…`;
    /// presigned parameters follow security-token, date, expires, signature-version, credential,
    /// additional-headers.
    Oss2,
}

/// One OSS request to sign.
#[derive(Debug, Clone, Copy)]
pub struct OssRequest<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The bucket, or `None` for service-level requests such as ListBuckets.
    pub bucket: Option<&'a str>,
    /// The object key, unencoded, or `None` for bucket-level requests.
    pub key: Option<&'a str>,
    /// Query parameters, unencoded; an empty value is a valueless parameter such as `uploads`.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers that will be sent (those OSS signs are picked out by name).
    pub headers: &'a [(&'a str, &'a str)],
}

/// Signing inputs besides the request and the credentials.
#[derive(Debug, Clone, Copy)]
pub struct V4Params<'a> {
    /// The region id, e.g. `cn-hangzhou`.
    pub region: &'a str,
    /// The product, `oss`.
    pub product: &'a str,
    /// The signing time.
    pub time: OffsetDateTime,
    /// Further header names to sign (e.g. `range`); only those present are signed, and the
    /// always-signed ones are ignored here.
    pub additional_headers: &'a [&'a str],
    /// Which SDK's presentation to reproduce.
    pub style: Style,
}

impl<'a> V4Params<'a> {
    /// Parameters for `oss` in `region` at `time`, no additional headers, default style.
    pub fn new(region: &'a str, time: OffsetDateTime) -> Self {
        V4Params { region, product: "oss", time, additional_headers: &[], style: Style::default() }
    }
}

/// The outcome of [`sign_headers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Signed {
    /// Headers to add to the request (lower-case names), `authorization` last.
    pub headers: Vec<(String, String)>,
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// The string that was signed.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
}

impl V4Signed {
    /// The value of the `authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.as_str())
    }
}

/// The outcome of [`presign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Presigned {
    /// The URL path for a virtual-hosted endpoint (`/` + encoded key).
    pub path: String,
    /// The query string, encoded, with the signature last.
    pub query_string: String,
    /// The canonical request that was hashed.
    pub canonical_request: String,
    /// The string that was signed.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
}

impl V4Presigned {
    /// The full URL for `scheme://host` (host being the virtual-hosted `bucket.endpoint`).
    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}{}?{}", self.path, self.query_string)
    }
}

/// The scope `yyyymmdd/region/product/aliyun_v4_request`.
pub fn scope(date: &str, region: &str, product: &str) -> String {
    format!("{date}/{region}/{product}/aliyun_v4_request")
}

/// The signing key: HMAC-SHA256 chained from `"aliyun_v4" + secret` over `date`, `region`,
/// `product` and `aliyun_v4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, product: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, product.as_bytes());
    hmac_sha256(&k, b"aliyun_v4_request")
}

fn is_default_signed(lower: &str) -> bool {
    lower.starts_with("x-oss-") || lower == "content-type" || lower == "content-md5"
}

/// Lower-cased, sorted, de-duplicated additional headers that are present with a value.
fn effective_additional(req: &OssRequest<'_>, additional: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = additional
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !is_default_signed(h))
        .filter(|h| req.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(h) && !v.is_empty()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn canonical_uri(req: &OssRequest<'_>) -> String {
    let raw = match req.bucket {
        Some(bucket) => format!("/{bucket}/{}", req.key.unwrap_or("")),
        None => "/".to_owned(),
    };
    percent_encode(&raw, true)
}

fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs.iter().map(|(k, v)| (percent_encode(k, false), percent_encode(v, false))).collect();
    encoded.sort();
    join_query(&encoded)
}

fn join_query(encoded: &[(String, String)]) -> String {
    encoded.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect::<Vec<_>>().join("&")
}

/// Canonical headers (`name:value\n`, sorted) over the signed ones among `headers`.
fn canonical_headers(headers: &[(String, String)], additional: &[String]) -> Result<String> {
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
        .filter(|(n, _)| is_default_signed(n) || additional.contains(n))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = signed.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::InvalidHeader { name: w[0].0.clone(), reason: "a signed header may be given only once" });
    }
    Ok(signed.iter().map(|(n, v)| format!("{n}:{v}\n")).collect())
}

struct Prepared {
    date_time: String,
    scope: String,
    additional: Vec<String>,
}

fn prepare(req: &OssRequest<'_>, creds: &Credentials, p: &V4Params<'_>) -> Result<Prepared> {
    creds.check(ALGORITHM)?;
    if req.method.is_empty() {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "method" });
    }
    if p.region.is_empty() {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "region" });
    }
    if req.bucket.is_some_and(str::is_empty) {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "bucket" });
    }
    for (n, v) in req.headers {
        check_header(n, v)?;
    }
    let date_time = iso8601_basic(p.time);
    let scope = scope(&date_time[..8], p.region, p.product);
    Ok(Prepared { date_time, scope, additional: effective_additional(req, p.additional_headers) })
}

fn finish(
    req: &OssRequest<'_>,
    creds: &Credentials,
    p: &V4Params<'_>,
    prep: &Prepared,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> Result<(String, String, String)> {
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{UNSIGNED_PAYLOAD}",
        req.method,
        canonical_uri(req),
        canonical_query(query),
        canonical_headers(headers, &prep.additional)?,
        prep.additional.join(";"),
    );
    let string_to_sign = format!("{ALGORITHM}\n{}\n{}\n{}", prep.date_time, prep.scope, sha256_hex(canonical_request.as_bytes()));
    let key = signing_key(&creds.access_key_secret, &prep.date_time[..8], p.region, p.product);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    Ok((canonical_request, string_to_sign, signature))
}

/// Signs `req` for sending with an `Authorization` header; returns the headers to add
/// (`x-oss-date`, `x-oss-content-sha256`, `x-oss-security-token` for STS, `date` in the
/// [`Style::OssV2`] style, and `authorization`).
pub fn sign_headers(req: &OssRequest<'_>, creds: &Credentials, p: &V4Params<'_>) -> Result<V4Signed> {
    let prep = prepare(req, creds, p)?;
    for (n, _) in req.headers {
        let lower = n.to_ascii_lowercase();
        if matches!(lower.as_str(), "x-oss-date" | "x-oss-content-sha256" | "x-oss-security-token" | "authorization") {
            return Err(Error::InvalidHeader { name: (*n).to_owned(), reason: "this header is set by OSS V4 signing" });
        }
    }
    let mut added: Vec<(String, String)> = vec![("x-oss-date".into(), prep.date_time.clone())];
    if p.style == Style::OssV2 {
        added.push(("date".into(), http_date(p.time)));
    }
    if let Some(token) = creds.token() {
        added.push(("x-oss-security-token".into(), token.to_owned()));
    }
    added.push(("x-oss-content-sha256".into(), UNSIGNED_PAYLOAD.into()));

    let mut all: Vec<(String, String)> = req.headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    all.extend(added.iter().cloned());
    let query: Vec<(String, String)> = req.query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let (canonical_request, string_to_sign, signature) = finish(req, creds, p, &prep, &query, &all)?;

    let credential = format!("{}/{}", creds.access_key_id, prep.scope);
    let additional = prep.additional.join(";");
    let authorization = match p.style {
        Style::OssV2 if additional.is_empty() => {
            format!("{ALGORITHM} Credential={credential},Signature={signature}")
        }
        Style::OssV2 => format!("{ALGORITHM} Credential={credential},AdditionalHeaders={additional},Signature={signature}"),
        Style::Oss2 if additional.is_empty() => {
            format!("{ALGORITHM} Credential={credential}, Signature={signature}")
        }
        Style::Oss2 => format!("{ALGORITHM} Credential={credential}, Signature={signature}, AdditionalHeaders={additional}"),
    };
    added.push(("authorization".into(), authorization));
    Ok(V4Signed { headers: added, canonical_request, string_to_sign, signature })
}

/// Presigns `req` for `expires_seconds` (1 s to 7 days) from `p.time`. The client must still
/// send the signed headers (`content-type`, `content-md5`, `x-oss-*`, additional ones) given in
/// `req.headers`.
pub fn presign(req: &OssRequest<'_>, creds: &Credentials, p: &V4Params<'_>, expires_seconds: u64) -> Result<V4Presigned> {
    let prep = prepare(req, creds, p)?;
    if expires_seconds == 0 || expires_seconds > MAX_EXPIRES_SECONDS {
        return Err(Error::InvalidExpiry { seconds: expires_seconds, max: MAX_EXPIRES_SECONDS, scheme: ALGORITHM });
    }
    if req.bucket.is_none() {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "bucket (for a presigned URL)" });
    }
    for (k, _) in req.query {
        if RESERVED_QUERY.contains(k) {
            return Err(Error::ReservedQueryParameter { name: (*k).to_owned(), scheme: ALGORITHM });
        }
    }
    let credential = format!("{}/{}", creds.access_key_id, prep.scope);
    let token = creds.token().map(|t| ("x-oss-security-token".to_owned(), t.to_owned()));
    let additional = (!prep.additional.is_empty()).then(|| ("x-oss-additional-headers".to_owned(), prep.additional.join(";")));
    let version = ("x-oss-signature-version".to_owned(), ALGORITHM.to_owned());
    let date = ("x-oss-date".to_owned(), prep.date_time.clone());
    let expires = ("x-oss-expires".to_owned(), expires_seconds.to_string());
    let cred = ("x-oss-credential".to_owned(), credential);

    let mut query: Vec<(String, String)> = req.query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    match p.style {
        Style::OssV2 => {
            query.extend([version, date, expires, cred]);
            query.extend(token);
            query.extend(additional);
        }
        Style::Oss2 => {
            query.extend(token);
            query.extend([date, expires, version, cred]);
            query.extend(additional);
        }
    }
    let headers: Vec<(String, String)> = req.headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let (canonical_request, string_to_sign, signature) = finish(req, creds, p, &prep, &query, &headers)?;

    let mut encoded: Vec<(String, String)> = query.iter().map(|(k, v)| (percent_encode(k, false), percent_encode(v, false))).collect();
    encoded.push(("x-oss-signature".into(), signature.clone()));
    Ok(V4Presigned {
        path: format!("/{}", percent_encode(req.key.unwrap_or(""), true)),
        query_string: join_query(&encoded),
        canonical_request,
        string_to_sign,
        signature,
    })
}

/// Recomputes the signature of a request as received, for servers that verify V4 requests
/// (the local cloud's OSS emulator). `req.headers` are all the headers that arrived (names in
/// any case); `date_time` is the `x-oss-date` value (`YYYYMMDDTHHMMSSZ`); `additional` are the
/// names listed in `AdditionalHeaders` (or `x-oss-additional-headers`). For a presigned URL,
/// `req.query` holds every parameter except `x-oss-signature`. The payload hash is the
/// `x-oss-content-sha256` header when sent, otherwise `UNSIGNED-PAYLOAD`.
pub fn signature_for(
    req: &OssRequest<'_>,
    secret: &str,
    region: &str,
    product: &str,
    date_time: &str,
    additional: &[&str],
) -> Result<String> {
    if date_time.len() < 8 || !date_time.is_char_boundary(8) {
        return Err(Error::MissingField { scheme: ALGORITHM, field: "x-oss-date" });
    }
    let mut names: Vec<String> = additional.iter().map(|h| h.to_ascii_lowercase()).filter(|h| !is_default_signed(h)).collect();
    names.sort();
    names.dedup();
    let headers: Vec<(String, String)> = req.headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let query: Vec<(String, String)> = req.query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let payload = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-oss-content-sha256")).map_or(UNSIGNED_PAYLOAD, |(_, v)| *v);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{payload}",
        req.method,
        canonical_uri(req),
        canonical_query(&query),
        canonical_headers(&headers, &names)?,
        names.join(";"),
    );
    let string_to_sign =
        format!("{ALGORITHM}\n{date_time}\n{}\n{}", scope(&date_time[..8], region, product), sha256_hex(canonical_request.as_bytes()));
    let key = signing_key(secret, &date_time[..8], region, product);
    Ok(hex::encode(hmac_sha256(&key, string_to_sign.as_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const REQ: OssRequest<'static> = OssRequest { method: "GET", bucket: Some("b"), key: Some("k"), query: &[], headers: &[] };

    #[test]
    fn expiry_bounds() {
        let p = V4Params::new("cn-hangzhou", datetime!(2026-11-23 10:20:30 UTC));
        let c = Credentials::new("a", "s");
        assert!(presign(&REQ, &c, &p, MAX_EXPIRES_SECONDS).is_ok());
        let err = presign(&REQ, &c, &p, MAX_EXPIRES_SECONDS + 1).unwrap_err();
        assert!(matches!(err, Error::InvalidExpiry { seconds: 604_801, .. }), "{err}");
        assert!(presign(&REQ, &c, &p, 0).is_err());
    }

    #[test]
    fn reserved_inputs_are_refused() {
        let p = V4Params::new("cn-hangzhou", datetime!(2026-11-23 10:20:30 UTC));
        let c = Credentials::new("a", "s");
        let q = OssRequest { query: &[("x-oss-signature", "x")], ..REQ };
        assert!(matches!(presign(&q, &c, &p, 60), Err(Error::ReservedQueryParameter { .. })));
        let h = OssRequest { headers: &[("X-Oss-Date", "x")], ..REQ };
        assert!(matches!(sign_headers(&h, &c, &p), Err(Error::InvalidHeader { .. })));
        let dup = OssRequest { headers: &[("x-oss-meta-a", "1"), ("X-OSS-META-A", "2")], ..REQ };
        assert!(matches!(sign_headers(&dup, &c, &p), Err(Error::InvalidHeader { .. })));
        let p2 = V4Params::new("", datetime!(2026-11-23 10:20:30 UTC));
        assert!(matches!(sign_headers(&REQ, &c, &p2), Err(Error::MissingField { field: "region", .. })));
    }

    #[test]
    fn additional_headers_only_when_present() {
        let r = OssRequest { headers: &[("Range", "bytes=0-1")], ..REQ };
        assert_eq!(effective_additional(&r, &["range", "accept", "Content-Type"]), vec!["range"]);
    }
}
