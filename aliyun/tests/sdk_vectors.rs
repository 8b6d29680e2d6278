//! Checks the signers and the CRC against vectors produced by the official SDKs
//! (`testdata/make_vectors.py`): every signature, canonical string, header and URL must be
//! byte-identical to what the SDK computed.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_aliyun::signing::oss_v4::{OssRequest, Style, V4Params};
use sparkoss_aliyun::signing::{acs3, oss_v1, oss_v4, Credentials};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn load(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("vector file is JSON");
    let vectors = doc["vectors"].as_array().expect("vectors array").clone();
    assert!(vectors.len() >= 5, "{name}: too few vectors ({})", vectors.len());
    vectors
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("{}: field {field} is not a string", v["name"]))
}

fn opt<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v[field].as_str()
}

fn pairs(v: &Value, field: &str) -> Vec<(String, String)> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("{}: {field} is not an array", v["name"]))
        .iter()
        .map(|p| (p[0].as_str().unwrap_or("").to_owned(), p[1].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn borrowed(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

fn creds(v: &Value) -> Credentials {
    match opt(v, "security_token") {
        Some(t) => Credentials::with_security_token(s(v, "access_key_id"), s(v, "access_key_secret"), t),
        None => Credentials::new(s(v, "access_key_id"), s(v, "access_key_secret")),
    }
}

/// Lower-cased header map of an `expected.headers` object.
fn header_map(v: &Value) -> BTreeMap<String, String> {
    v["expected"]["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("{}: no expected headers", v["name"]))
        .iter()
        .map(|(k, val)| (k.to_ascii_lowercase(), val.as_str().unwrap_or("").to_owned()))
        .collect()
}

/// `20261123T102030Z` → time.
fn basic_time(s: &str) -> OffsetDateTime {
    let rfc = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    OffsetDateTime::parse(&rfc, &Rfc3339).expect("vector date")
}

#[test]
fn acs3_matches_tea_openapi() {
    for v in load("acs3.json") {
        let name = s(&v, "name");
        // The path the SDK built from its template must be what our segment encoder gives.
        let mut path = s(&v, "path_template").to_owned();
        for p in v["path_params"].as_array().expect("path_params") {
            path = path.replacen("{}", &acs3::encode_path_segment(p.as_str().unwrap_or("")), 1);
        }
        assert_eq!(path, s(&v, "path"), "{name}: path encoding");

        let query = pairs(&v, "query");
        let extra = pairs(&v, "extra_headers");
        let body = opt(&v, "body").unwrap_or("");
        let req = acs3::Acs3Request {
            method: s(&v, "method"),
            host: s(&v, "host"),
            path: &path,
            query: &borrowed(&query),
            action: s(&v, "action"),
            version: s(&v, "version"),
            headers: &borrowed(&extra),
            body: body.as_bytes(),
            content_type: opt(&v, "body").map(|_| acs3::JSON_CONTENT_TYPE),
        };
        let date = OffsetDateTime::parse(s(&v, "date"), &Rfc3339).expect("date");
        let signed = acs3::sign(&req, &creds(&v), date, s(&v, "nonce")).expect(name);
        let exp = &v["expected"];
        assert_eq!(signed.canonical_request, s(exp, "canonical_request"), "{name}: canonical request");
        assert_eq!(signed.string_to_sign, s(exp, "string_to_sign"), "{name}: string to sign");
        assert_eq!(signed.authorization(), Some(s(exp, "authorization")), "{name}: authorization");
        let ours: BTreeMap<String, String> = signed.headers.iter().cloned().collect();
        assert_eq!(ours, header_map(&v), "{name}: the full header set");
    }
}

fn oss_request<'a>(v: &'a Value, query: &'a [(&'a str, &'a str)], headers: &'a [(&'a str, &'a str)]) -> OssRequest<'a> {
    OssRequest { method: s(v, "method"), bucket: opt(v, "bucket"), key: opt(v, "key"), query, headers }
}

/// Our added headers must be exactly the ones the SDK added; the authorization must match.
fn assert_added_headers(v: &Value, added: &[(String, String)]) {
    let name = s(v, "name");
    let expected = header_map(v);
    let input: Vec<String> = pairs(v, "headers").iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    let sdk_added: BTreeMap<&String, &String> = expected.iter().filter(|(n, _)| !input.contains(n)).collect();
    let ours: BTreeMap<&String, &String> = added.iter().map(|(n, v)| (n, v)).collect();
    assert_eq!(ours, sdk_added, "{name}: headers added by signing");
}

fn run_v4(file: &str) -> usize {
    let mut n = 0;
    for v in load(file) {
        let name = s(&v, "name");
        let query = pairs(&v, "query");
        let headers = pairs(&v, "headers");
        let (q, h) = (borrowed(&query), borrowed(&headers));
        let req = oss_request(&v, &q, &h);
        let additional: Vec<&str> = v["additional_headers"].as_array().expect("additional").iter().filter_map(Value::as_str).collect();
        let params = V4Params {
            region: s(&v, "region"),
            product: s(&v, "product"),
            time: basic_time(s(&v, "date")),
            additional_headers: &additional,
            style: if s(&v, "style") == "oss2" { Style::Oss2 } else { Style::OssV2 },
        };
        let exp = &v["expected"];
        let (canonical, sts) = match s(&v, "mode") {
            "header" => {
                let signed = oss_v4::sign_headers(&req, &creds(&v), &params).expect(name);
                assert_eq!(signed.authorization(), Some(s(exp, "authorization")), "{name}: authorization");
                assert_added_headers(&v, &signed.headers);
                (signed.canonical_request, signed.string_to_sign)
            }
            "query" => {
                let expires = v["expires_seconds"].as_u64().expect("expires_seconds");
                let pre = oss_v4::presign(&req, &creds(&v), &params, expires).expect(name);
                assert_eq!(pre.url(s(&v, "scheme"), s(&v, "host")), s(exp, "url"), "{name}: URL");
                (pre.canonical_request, pre.string_to_sign)
            }
            other => panic!("{name}: unknown mode {other}"),
        };
        assert_eq!(canonical, s(exp, "canonical_request"), "{name}: canonical request");
        assert_eq!(sts, s(exp, "string_to_sign"), "{name}: string to sign");
        n += 1;
    }
    n
}

#[test]
fn oss_v4_matches_oss2() {
    assert!(run_v4("oss2_v4.json") >= 10);
}

#[test]
fn oss_v4_matches_alibabacloud_oss_v2() {
    assert!(run_v4("ossv2_v4.json") >= 10);
}

#[test]
fn oss_v1_matches_oss2() {
    for v in load("oss2_v1.json") {
        let name = s(&v, "name");
        let query = pairs(&v, "query");
        let headers = pairs(&v, "headers");
        let (q, h) = (borrowed(&query), borrowed(&headers));
        let req = oss_request(&v, &q, &h);
        let exp = &v["expected"];
        match s(&v, "mode") {
            "header" => {
                let t = OffsetDateTime::parse(s(&v, "date"), &time::format_description::well_known::Rfc2822).expect("date");
                let signed = oss_v1::sign_headers(&req, &creds(&v), t).expect(name);
                assert_eq!(signed.string_to_sign, s(exp, "string_to_sign"), "{name}: string to sign");
                assert_eq!(signed.authorization(), Some(s(exp, "authorization")), "{name}: authorization");
                assert_added_headers(&v, &signed.headers);
            }
            "query" => {
                let expires_unix = v["expires_unix"].as_i64().expect("expires_unix");
                // The vectors were made 3600/600/900 s before expiry; any split of the two works.
                let now = OffsetDateTime::from_unix_timestamp(expires_unix - 100).expect("time");
                let pre = oss_v1::presign(&req, &creds(&v), now, 100).expect(name);
                assert_eq!(pre.string_to_sign, s(exp, "string_to_sign"), "{name}: string to sign");
                assert_eq!(pre.url(s(&v, "scheme"), s(&v, "host")), s(exp, "url"), "{name}: URL");
            }
            other => panic!("{name}: unknown mode {other}"),
        }
    }
}

/// Rebuilds the bytes a CRC vector describes (see `crc_inputs` in make_vectors.py).
fn crc_input(desc: &str) -> Vec<u8> {
    if desc == "empty" {
        Vec::new()
    } else if let Some(text) = desc.strip_prefix("ascii:") {
        text.as_bytes().to_vec()
    } else if let Some(n) = desc.strip_prefix("pattern:") {
        let n: usize = n.parse().expect("pattern length");
        (0..n).map(|i| ((i * 31 + (i >> 8) * 7 + 11) & 0xff) as u8).collect()
    } else {
        panic!("unknown CRC input {desc}")
    }
}

#[test]
fn crc64_matches_oss2() {
    for v in load("crc64.json") {
        let desc = s(&v, "input");
        let data = crc_input(desc);
        assert_eq!(data.len() as u64, v["length"].as_u64().expect("length"), "{desc}: length");
        let expected: u64 = s(&v, "crc64ecma").parse().expect("decimal CRC");
        assert_eq!(Crc64::checksum(&data), expected, "{desc}");
        // Streaming in uneven pieces gives the same value.
        let mut c = Crc64::new();
        for piece in data.chunks(4093) {
            c.update(piece);
        }
        assert_eq!(c.finish(), expected, "{desc}: streamed");
    }
}

/// Our STS client's requests (`credentials::sts`) against what `alibabacloud-sts20150401` sent
/// for the same inputs, nonce and date: method, path, query, every header, the canonical request
/// and the signature.
#[test]
fn sts_requests_match_alibabacloud_sts20150401() {
    use sparkoss_aliyun::credentials::sts;
    let mut seen = BTreeMap::new();
    for v in load("sts.json") {
        let name = s(&v, "name");
        let inp = &v["inputs"];
        let date = OffsetDateTime::parse(s(&v, "date"), &Rfc3339).expect("date");
        let secs = inp["duration_seconds"].as_i64().expect("duration_seconds");
        let extra = pairs(&v, "extra_headers");
        let host = s(&v, "endpoint").trim_start_matches("https://");
        let ours = match s(&v, "action") {
            "AssumeRole" => {
                let p = sts::AssumeRole {
                    role_arn: s(inp, "role_arn"),
                    role_session_name: s(inp, "role_session_name"),
                    duration_seconds: secs,
                };
                sts::assume_role(host, &creds(&v), &p, &borrowed(&extra), date, s(&v, "nonce")).expect(name)
            }
            "AssumeRoleWithOIDC" => {
                let p = sts::AssumeRoleWithOidc {
                    role_arn: s(inp, "role_arn"),
                    oidc_provider_arn: s(inp, "oidc_provider_arn"),
                    oidc_token: s(inp, "oidc_token"),
                    role_session_name: s(inp, "role_session_name"),
                    duration_seconds: secs,
                };
                sts::assume_role_with_oidc(host, &p, &borrowed(&extra), date, s(&v, "nonce"))
            }
            other => panic!("{name}: unknown action {other}"),
        };
        *seen.entry(s(&v, "action").to_owned()).or_insert(0) += 1;
        let exp = &v["expected"];
        assert_eq!(ours.method, s(exp, "method"), "{name}: method");
        assert!(exp["body"].is_null(), "{name}: the SDK sent a body; so must we");
        // The same parameters in the same order, and our encoded URL decodes to them.
        assert_eq!(ours.query, pairs(exp, "query"), "{name}: query");
        let (path, raw) = ours.path_and_query.split_once('?').expect("a query");
        assert_eq!(path, s(exp, "path"), "{name}: path");
        let decoded: Vec<(String, String)> = raw
            .split('&')
            .map(|kv| kv.split_once('=').expect("k=v"))
            .map(|(k, v)| (sparkoss_aliyun::percent_decode(k), sparkoss_aliyun::percent_decode(v)))
            .collect();
        assert_eq!(decoded, ours.query, "{name}: the URL carries the query");
        let ours_headers: BTreeMap<String, String> = ours.headers.iter().cloned().collect();
        assert_eq!(ours_headers, header_map(&v), "{name}: the full header set");
        assert_eq!(ours.canonical_request.as_deref(), exp["canonical_request"].as_str(), "{name}: canonical request");
        assert_eq!(ours.string_to_sign.as_deref(), exp["string_to_sign"].as_str(), "{name}: string to sign");
    }
    assert_eq!(seen.get("AssumeRole").copied(), Some(3), "{seen:?}");
    assert_eq!(seen.get("AssumeRoleWithOIDC").copied(), Some(2), "{seen:?}");
}
