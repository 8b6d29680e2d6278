//! The TokenRequest API: `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with an
//! `authentication.k8s.io/v1` `TokenRequest`, what `kubectl create token` and client-go's
//! `CreateToken` call. It answers `201` with the request, its status holding a signed token and
//! when it expires. As the real API server: the service account must exist (else its `404`),
//! `spec.expirationSeconds` defaults to an hour and may not be under ten minutes (`422 Invalid`,
//! the validation's own words), unset audiences become the API server's own, and a token may be
//! bound to a pod. RBAC checks the verb `create` on `serviceaccounts/token` before this runs.
//!
//! Revocation needs no list of issued tokens: [`super::rbac::authenticate`] accepts a token only
//! while its service account (and bound pod) exists with the uid the token names.

use serde_json::{json, Value as Json};

use super::store::{self, kind, ApiError, Store};
use crate::pki::{Pki, TokenGrant, TOKEN_ISSUER};

/// The API group of `TokenRequest`.
pub const GROUP: &str = "authentication.k8s.io";
/// The kind the subresource takes and answers.
pub const KIND: &str = "TokenRequest";
/// `spec.expirationSeconds` when the request leaves it out (the API's default).
const DEFAULT_EXPIRATION_SECS: i64 = 3600;
/// The shortest validity the API server grants.
const MIN_EXPIRATION_SECS: i64 = 10 * 60;
/// The longest validity the API server's validation allows.
const MAX_EXPIRATION_SECS: i64 = 1 << 32;

/// `422 Invalid` for one field of a TokenRequest, worded as the API server's field errors
/// (`TokenRequest.authentication.k8s.io "NAME" is invalid: FIELD: Invalid value: V: DETAIL`).
fn invalid(object_name: &str, field: &str, value: &Json, detail: &str) -> ApiError {
    let cause = format!("Invalid value: {value}: {detail}");
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{KIND}.{GROUP} \"{object_name}\" is invalid: {field}: {cause}"),
        details: json!({"name": object_name, "group": GROUP, "kind": KIND,
                        "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]}),
    }
}

/// The pod a token is to be bound to (`spec.boundObjectRef`): its name and uid, checked against
/// the store. Only pods are bound here; the real server also binds to secrets and nodes.
fn bound_pod(store: &Store, ns: &str, sa: &str, r: &Json) -> Result<Option<(String, String)>, ApiError> {
    if r.is_null() {
        return Ok(None);
    }
    let kind_name = r["kind"].as_str().unwrap_or("");
    let api_version = r["apiVersion"].as_str().unwrap_or("v1");
    if kind_name != "Pod" || api_version != "v1" {
        return Err(ApiError::bad_request(format!(
            "cannot bind token for serviceaccount \"{sa}\" to object of kind \"{api_version}, Kind={kind_name}\" (the local cloud binds tokens to pods only)"
        )));
    }
    let name = r["name"].as_str().unwrap_or("");
    let pod = kind("", "pods")
        .and_then(|k| store.get(k, ns, name).ok())
        .ok_or_else(|| ApiError::bad_request(format!("cannot find Pod \"{name}\": pods \"{name}\" not found")))?;
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    if let Some(want) = r["uid"].as_str().filter(|u| !u.is_empty() && *u != uid) {
        return Err(ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on Pod \"{name}\": the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
            details: json!({"name": name, "kind": "Pod"}),
        });
    }
    Ok(Some((name.to_owned(), uid)))
}

/// Answers a TokenRequest for the service account `ns/name` at `now` (seconds since the epoch):
/// the request as the API server returns it, with `status.token` and
/// `status.expirationTimestamp`.
pub fn create(store: &Store, pki: &Pki, ns: &str, name: &str, req: &Json, now: i64) -> Result<Json, ApiError> {
    if !req.is_object() {
        return Err(ApiError::bad_request("the body of a token request must be a TokenRequest object"));
    }
    // Name and namespace in the body may be left out, but may not differ from the URL's.
    for (field, url_value, what) in [("name", name, "name"), ("namespace", ns, "namespace")] {
        if let Some(v) = req["metadata"][field].as_str().filter(|v| !v.is_empty() && *v != url_value) {
            return Err(invalid(
                name,
                &format!("metadata.{field}"),
                &json!(v),
                &format!("must match the service account {what} if specified"),
            ));
        }
    }
    let sa_kind = kind("", "serviceaccounts").ok_or_else(|| ApiError::bad_request("serviceaccounts are not served"))?;
    let sa = store.get(sa_kind, ns, name)?;
    let spec = &req["spec"];
    let expiration = match &spec["expirationSeconds"] {
        Json::Null => DEFAULT_EXPIRATION_SECS,
        v => v.as_i64().ok_or_else(|| ApiError::bad_request(format!("spec.expirationSeconds: {v} is not a whole number of seconds")))?,
    };
    // The validation names no object: it runs on the request, whose name is not part of it.
    if expiration < MIN_EXPIRATION_SECS {
        return Err(invalid("", "spec.expirationSeconds", &json!(expiration), "may not specify a duration less than 10 minutes"));
    }
    if expiration > MAX_EXPIRATION_SECS {
        return Err(invalid("", "spec.expirationSeconds", &json!(expiration), "may not specify a duration larger than 2^32 seconds"));
    }
    let mut audiences: Vec<String> =
        spec["audiences"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)).collect();
    if audiences.is_empty() {
        audiences.push(TOKEN_ISSUER.to_owned());
    }
    let pod = bound_pod(store, ns, name, &spec["boundObjectRef"])?;
    let sa_uid = sa["metadata"]["uid"].as_str().unwrap_or("");
    let expires_at = now + expiration;
    let token = pki.issue_token(&TokenGrant {
        namespace: ns,
        name,
        sa_uid,
        pod: pod.as_ref().map(|(n, u)| (n.as_str(), u.as_str())),
        audiences: &audiences,
        issued_at: now,
        expires_at,
    });
    let mut spec_out = json!({"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null});
    if !spec["boundObjectRef"].is_null() {
        spec_out["boundObjectRef"] = spec["boundObjectRef"].clone();
    }
    Ok(json!({
        "kind": KIND, "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": rfc3339(now)},
        "spec": spec_out,
        "status": {"token": token, "expirationTimestamp": rfc3339(expires_at)},
    }))
}

/// Seconds since the epoch as the API's timestamps write them.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs).map(store::rfc3339).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kube::rbac::{authenticate, UserInfo};

    const NOW: i64 = 1_795_773_600; // 2026-11-27T10:00:00Z

    fn store_with_sa() -> Store {
        let mut s = Store::new();
        s.create(kind("", "namespaces").unwrap(), "", json!({"metadata": {"name": "team"}})).unwrap();
        s.create(kind("", "serviceaccounts").unwrap(), "team", json!({"metadata": {"name": "meter"}})).unwrap();
        s
    }

    fn bearer(answer: &Json) -> String {
        format!("Bearer {}", answer["status"]["token"].as_str().unwrap())
    }

    #[test]
    fn a_token_lasts_what_was_asked_and_names_its_service_account() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path()).unwrap();
        let s = store_with_sa();
        let answer =
            create(&s, &pki, "team", "meter", &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}), NOW)
                .unwrap();
        assert_eq!(answer["kind"], "TokenRequest");
        assert_eq!(answer["spec"]["expirationSeconds"], 3600, "an hour by default");
        assert_eq!(answer["spec"]["audiences"], json!([TOKEN_ISSUER]));
        assert_eq!(answer["status"]["expirationTimestamp"], "2026-11-27T11:00:00Z");
        assert_eq!(answer["metadata"], json!({"name": "meter", "namespace": "team", "creationTimestamp": "2026-11-27T10:00:00Z"}));
        // Signed for NOW, so expired by the time the test runs: the claims are read unverified.
        let token = answer["status"]["token"].as_str().unwrap();
        let claims: Json = {
            use base64::Engine as _;
            let part = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        assert_eq!((claims["exp"].as_i64(), claims["iat"].as_i64()), (Some(NOW + 3600), Some(NOW)));
        assert_eq!(claims["sub"], "system:serviceaccount:team:meter");
        assert!(pki.verify_token(token).is_none(), "a token past its exp is refused");

        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let fresh = create(&s, &pki, "team", "meter", &json!({"spec": {"expirationSeconds": 600}}), now).unwrap();
        assert_eq!(pki.verify_token(fresh["status"]["token"].as_str().unwrap()).unwrap()["exp"].as_i64(), Some(now + 600));
    }

    #[test]
    fn short_lifetimes_missing_accounts_and_mismatched_names_are_refused_as_the_api_server_does() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path()).unwrap();
        let s = store_with_sa();
        let e = create(&s, &pki, "team", "meter", &json!({"spec": {"expirationSeconds": 599}}), NOW).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert_eq!(
            e.message,
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
        );
        assert_eq!(e.details["causes"][0]["field"], "spec.expirationSeconds");
        let e = create(&s, &pki, "team", "meter", &json!({"spec": {"expirationSeconds": (1_i64 << 32) + 1}}), NOW).unwrap_err();
        assert!(e.message.ends_with("may not specify a duration larger than 2^32 seconds"), "{}", e.message);

        let e = create(&s, &pki, "team", "nobody", &json!({"spec": {}}), NOW).unwrap_err();
        assert_eq!((e.code, e.reason, e.message.as_str()), (404, "NotFound", "serviceaccounts \"nobody\" not found"));
        assert_eq!(e.status()["kind"], "Status");

        let e = create(&s, &pki, "team", "meter", &json!({"metadata": {"name": "other"}}), NOW).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("metadata.name: Invalid value: \"other\": must match the service account name if specified"),
            "{}",
            e.message
        );
        let e = create(
            &s,
            &pki,
            "team",
            "meter",
            &json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "gone"}}}),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code, 400, "{}", e.message);
    }

    #[test]
    fn a_token_stops_working_when_its_service_account_is_deleted_or_it_is_for_another_audience() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path()).unwrap();
        let mut s = store_with_sa();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let answer = create(&s, &pki, "team", "meter", &json!({"spec": {}}), now).unwrap();
        let user = authenticate(&s, &pki, Some(&bearer(&answer))).unwrap();
        assert_eq!(user.name, "system:serviceaccount:team:meter");
        assert_ne!(user, UserInfo::admin());

        let vault = create(&s, &pki, "team", "meter", &json!({"spec": {"audiences": ["vault"]}}), now).unwrap();
        assert_eq!(vault["spec"]["audiences"], json!(["vault"]));
        assert_eq!(authenticate(&s, &pki, Some(&bearer(&vault))).unwrap_err().code, 401, "not for the API server");

        let sa = kind("", "serviceaccounts").unwrap();
        s.delete(sa, "team", "meter").unwrap();
        assert_eq!(authenticate(&s, &pki, Some(&bearer(&answer))).unwrap_err().code, 401);
        // A namesake has another uid: the old token stays revoked.
        s.create(sa, "team", json!({"metadata": {"name": "meter"}})).unwrap();
        assert_eq!(authenticate(&s, &pki, Some(&bearer(&answer))).unwrap_err().code, 401);
    }
}
