//! STS requests built without IO (kube-core style), so the bytes we send can be compared with
//! what the official `alibabacloud-sts20150401` SDK sends (`testdata/vectors/sts.json`).
//!
//! The SDK (on tea-openapi 0.4) sends the two calls differently, and we follow it:
//! - `AssumeRole` goes through the ACS3 path: `POST /` with the parameters in the query, an
//!   empty body, and an `ACS3-HMAC-SHA256` signature over every header sent.
//! - `AssumeRoleWithOIDC` is anonymous and goes through the older RPC path: `POST /` with
//!   `Action`, `Format`, `Version`, `Timestamp`, `SignatureNonce` and the parameters in the query,
//!   no body, no signature (the OIDC token is the proof).

use time::OffsetDateTime;

use crate::encode::percent_encode;
use crate::signing::acs3::{self, Refusal};
use crate::signing::{iso8601_extended, Credentials};

/// The STS API version both calls use.
pub const VERSION: &str = "2015-04-01";

/// What our client sends besides the call's own fields (the SDK sends its own user agent).
pub const USER_AGENT: &str = concat!("sparkoss/", env!("CARGO_PKG_VERSION"));

/// One STS request, ready to send to `https://<host><path_and_query>`.
#[derive(Debug, Clone)]
pub struct StsRequest {
    /// Always `POST` for these two calls.
    pub method: &'static str,
    /// `/?` and the encoded query.
    pub path_and_query: String,
    /// The query parameters, decoded, in the order they are sent.
    pub query: Vec<(String, String)>,
    /// Every header to send, `host` included, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The ACS3 canonical request (`AssumeRole` only).
    pub canonical_request: Option<String>,
    /// The ACS3 string to sign (`AssumeRole` only).
    pub string_to_sign: Option<String>,
}

/// `AssumeRole`'s parameters.
#[derive(Debug, Clone, Copy)]
pub struct AssumeRole<'a> {
    /// The RAM role to assume.
    pub role_arn: &'a str,
    /// Shown in ActionTrail.
    pub role_session_name: &'a str,
    /// Requested lifetime (900 to the role's maximum).
    pub duration_seconds: i64,
}

/// `AssumeRoleWithOIDC`'s parameters.
#[derive(Debug, Clone, Copy)]
pub struct AssumeRoleWithOidc<'a> {
    /// The RAM role to assume.
    pub role_arn: &'a str,
    /// The cluster's OIDC provider in RAM.
    pub oidc_provider_arn: &'a str,
    /// The service account token.
    pub oidc_token: &'a str,
    /// Shown in ActionTrail.
    pub role_session_name: &'a str,
    /// Requested lifetime.
    pub duration_seconds: i64,
}

/// `AssumeRole` to `host`, signed with `base` at `date` with `nonce`. `extra_headers` are sent
/// and signed as they are (our client passes its user agent; the vector test the SDK's).
pub fn assume_role(
    host: &str,
    base: &Credentials,
    p: &AssumeRole<'_>,
    extra_headers: &[(&str, &str)],
    date: OffsetDateTime,
    nonce: &str,
) -> crate::Result<StsRequest> {
    let secs = p.duration_seconds.to_string();
    // Alphabetical, as the SDK fills its query.
    let query = [("DurationSeconds", secs.as_str()), ("RoleArn", p.role_arn), ("RoleSessionName", p.role_session_name)];
    let mut headers = vec![("accept", "application/json")];
    headers.extend_from_slice(extra_headers);
    let req = acs3::Acs3Request {
        method: "POST",
        host,
        path: "/",
        query: &query,
        action: "AssumeRole",
        version: VERSION,
        headers: &headers,
        body: &[],
        content_type: None,
    };
    let signed = acs3::sign(&req, base, date, nonce)?;
    Ok(StsRequest {
        method: "POST",
        path_and_query: signed.path_and_query("/"),
        query: owned(&query),
        headers: signed.headers,
        canonical_request: Some(signed.canonical_request),
        string_to_sign: Some(signed.string_to_sign),
    })
}

/// `AssumeRoleWithOIDC` to `host` at `date` with `nonce` (anonymous, so nothing is signed).
pub fn assume_role_with_oidc(
    host: &str,
    p: &AssumeRoleWithOidc<'_>,
    extra_headers: &[(&str, &str)],
    date: OffsetDateTime,
    nonce: &str,
) -> StsRequest {
    let secs = p.duration_seconds.to_string();
    let timestamp = iso8601_extended(date);
    // The SDK's order: RPC's common parameters, then the call's, alphabetical.
    let query = [
        ("Action", "AssumeRoleWithOIDC"),
        ("Format", "json"),
        ("Version", VERSION),
        ("Timestamp", timestamp.as_str()),
        ("SignatureNonce", nonce),
        ("DurationSeconds", secs.as_str()),
        ("OIDCProviderArn", p.oidc_provider_arn),
        ("OIDCToken", p.oidc_token),
        ("RoleArn", p.role_arn),
        ("RoleSessionName", p.role_session_name),
    ];
    let encoded = query.iter().map(|(k, v)| format!("{}={}", percent_encode(k, false), percent_encode(v, false))).collect::<Vec<_>>();
    let headers: Vec<(String, String)> = [("host", host), ("x-acs-version", VERSION), ("x-acs-action", "AssumeRoleWithOIDC")]
        .iter()
        .chain(extra_headers)
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    StsRequest {
        method: "POST",
        path_and_query: format!("/?{}", encoded.join("&")),
        query: owned(&query),
        headers,
        canonical_request: None,
        string_to_sign: None,
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// What STS checks of an `AssumeRoleWithOIDC` request before it looks at the token itself, for
/// the local cloud and test stand-ins: RPC's common parameters, and the call's required ones
/// (`RoleArn`, `OIDCProviderArn`, `OIDCToken`, `RoleSessionName`) with their documented limits.
/// `params` are the decoded query (or form) parameters.
pub fn check_oidc_request(params: &[(String, String)]) -> Result<(), Refusal> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let missing = |name: &str| Refusal {
        status: 400,
        code: "MissingParameter",
        message: format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
    };
    for name in ["Action", "Version", "Timestamp", "SignatureNonce", "RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName"] {
        if get(name).is_none() {
            return Err(missing(name));
        }
    }
    if get("Action") != Some("AssumeRoleWithOIDC") {
        return Err(Refusal {
            status: 400,
            code: "InvalidAction.NotFound",
            message: "Specified api is not found, please check your url and method.".into(),
        });
    }
    if get("Version") != Some(VERSION) {
        return Err(Refusal { status: 400, code: "InvalidVersion", message: "Specified parameter Version is not valid.".into() });
    }
    let token = get("OIDCToken").unwrap_or_default();
    if token.is_empty() {
        return Err(Refusal { status: 401, code: "AuthenticationFail.OIDCToken.Invalid", message: "The OIDCToken can not empty.".into() });
    }
    if !(4..=20_000).contains(&token.len()) || token.split('.').count() != 3 {
        return Err(Refusal {
            status: 401,
            code: "AuthenticationFail.OIDCToken.Invalid",
            message: "The number of Jwt field should be divided into 3 parts with '.' .".into(),
        });
    }
    let session = get("RoleSessionName").unwrap_or_default();
    let session_ok = (2..=64).contains(&session.len()) && session.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if !session_ok {
        return Err(Refusal {
            status: 400,
            code: "InvalidParameter.RoleSessionName",
            message: "The parameter RoleSessionName is wrongly formed.".into(),
        });
    }
    if let Some(secs) = get("DurationSeconds") {
        if secs.parse::<i64>().map_or(true, |s| s < 900) {
            return Err(Refusal {
                status: 400,
                code: "InvalidParameter.DurationSeconds",
                message: "The Min/Max value of DurationSeconds is 15min/1hr.".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc_params() -> Vec<(String, String)> {
        let p = AssumeRoleWithOidc {
            role_arn: "acs:ram::1:role/r",
            oidc_provider_arn: "acs:ram::1:oidc-provider/p",
            oidc_token: "h.p.s",
            role_session_name: "sparkoss-workload",
            duration_seconds: 3600,
        };
        assume_role_with_oidc("sts.aliyuncs.com", &p, &[], time::macros::datetime!(2026-11-23 10:20:30 UTC), "n").query
    }

    #[test]
    fn our_oidc_request_passes_and_each_required_parameter_is_checked() {
        assert_eq!(check_oidc_request(&oidc_params()), Ok(()));
        for name in ["Action", "Version", "Timestamp", "SignatureNonce", "RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName"] {
            let mut p = oidc_params();
            p.retain(|(k, _)| k != name);
            let r = check_oidc_request(&p).expect_err(name);
            assert_eq!((r.code, r.status), ("MissingParameter", 400), "{name}");
            assert!(r.message.contains(name), "{}", r.message);
        }
        let with = |k: &str, v: &str| {
            let mut p = oidc_params();
            p.iter_mut().filter(|(n, _)| n == k).for_each(|(_, x)| *x = v.to_owned());
            check_oidc_request(&p).map_err(|r| r.code)
        };
        assert_eq!(with("OIDCToken", ""), Err("AuthenticationFail.OIDCToken.Invalid"));
        assert_eq!(with("OIDCToken", "not-a-jwt"), Err("AuthenticationFail.OIDCToken.Invalid"));
        assert_eq!(with("RoleSessionName", "has space"), Err("InvalidParameter.RoleSessionName"));
        assert_eq!(with("DurationSeconds", "60"), Err("InvalidParameter.DurationSeconds"));
        assert_eq!(with("Action", "AssumeRole"), Err("InvalidAction.NotFound"));
        assert_eq!(with("Version", "2015-12-15"), Err("InvalidVersion"));
    }
}
