//! The API server's front door: authentication, the fixed paths (discovery, health, the local
//! cloud's control paths), resource paths parsed into a [`Target`], RBAC, `dryRun`,
//! `fieldValidation` and protobuf bodies; then one handler per verb and subresource.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::discovery::api_group;
use super::field_validation::{strict_message, unknown_fields, warning_header, FieldValidation};
use super::kubelet::{Rule, OUTCOMES};
use super::query::{query_param, truthy};
use super::rbac::{authenticate, authorize, Attributes, UserInfo};
use super::store::{kind, ApiError};
use super::tables::{table, wants_table};
use super::{discovery, error_response, json_response, metrics, not_found_path, protobuf, Api, Target};
use crate::serve::Transport;

/// The verb RBAC checks for a request.
pub(super) fn verb(method: &Method, named: bool, watch: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// Who wrote an object, for `managedFields`: the `fieldManager` parameter, else the client's
/// name from its user agent (`kubectl/v1.34 ...` → `kubectl`), as the API server derives it.
pub(super) fn field_manager(uri: &Uri, headers: &HeaderMap) -> String {
    query_param(uri, "fieldManager").filter(|m| !m.is_empty()).unwrap_or_else(|| {
        let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        ua.split(['/', ' ']).next().filter(|s| !s.is_empty()).unwrap_or("unknown").to_owned()
    })
}

pub(super) fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest): (&str, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", g, "v1", rest @ ..] => (api_group(g)?, rest),
        _ => return None,
    };
    let owned = |s: &&str| Some((*s).to_owned());
    match rest {
        ["namespaces", ns, plural, tail @ ..] if kind(group, plural).is_some_and(|k| k.namespaced) => {
            let k = kind(group, plural)?;
            match tail {
                [] => Some(Target { kind: k, namespace: Some((*ns).into()), name: None, sub: None }),
                [name] => Some(Target { kind: k, namespace: Some((*ns).into()), name: owned(name), sub: None }),
                [name, sub] => Some(Target { kind: k, namespace: Some((*ns).into()), name: owned(name), sub: owned(sub) }),
                _ => None,
            }
        }
        [plural, tail @ ..] => {
            let k = kind(group, plural)?;
            match tail {
                [] => Some(Target { kind: k, namespace: None, name: None, sub: None }),
                [name] if !k.namespaced => Some(Target { kind: k, namespace: None, name: owned(name), sub: None }),
                [name, sub] if !k.namespaced => Some(Target { kind: k, namespace: None, name: owned(name), sub: owned(sub) }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `fieldValidation` of a write: the unknown fields of the body (a whole object, or a patch of
/// one) against the kind's OpenAPI schema. `Strict` refuses them with the API server's message;
/// `Warn` (also when the parameter is absent) answers them to be sent as `Warning` headers;
/// `Ignore` answers none. A body that is not JSON is left to the handler, which refuses it.
pub(super) fn check_fields(t: &Target, method: &Method, uri: &Uri, body: &[u8]) -> Result<Vec<String>, ApiError> {
    // The body of a token request is a TokenRequest, not the service account the path names.
    if t.sub.as_deref() == Some("token") {
        return Ok(Vec::new());
    }
    let directive = FieldValidation::parse(query_param(uri, "fieldValidation").as_deref()).map_err(ApiError::bad_request)?;
    if directive == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let Ok(obj) = serde_json::from_slice::<Json>(body) else { return Ok(Vec::new()) };
    let patch = *method == Method::PATCH;
    let unknown = unknown_fields(t.kind, &obj, patch);
    if unknown.is_empty() || directive == FieldValidation::Warn {
        return Ok(unknown);
    }
    let strict = strict_message(&unknown);
    // Create and update decode the body as the kind and say so; a patch names only the fields.
    let message = match (patch, obj["kind"].as_str()) {
        (true, _) => strict,
        (false, Some(kind)) => {
            let version = obj["apiVersion"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("");
            format!("{kind} in version \"{version}\" cannot be handled as a {}: {strict}", t.kind.kind)
        }
        (false, None) => format!("the object provided is unrecognized (must be of type {}): {strict}", t.kind.kind),
    };
    Err(ApiError::bad_request(message))
}

impl Api {
    pub(super) async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes, transport: Option<Transport>) -> Response {
        let path = uri.path().to_owned();
        let user = if transport == Some(Transport::LoopbackPlain) {
            UserInfo::admin()
        } else {
            let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let s = self.lock();
            match authenticate(&s, &self.shared.pki, auth) {
                Ok(u) => u,
                Err(e) => return error_response(&e),
            }
        };
        if path.starts_with("/_localcloud/") && user != UserInfo::admin() {
            return error_response(&ApiError {
                code: 403,
                reason: "Forbidden",
                message: "the local cloud's control paths are for its administrator".into(),
                details: json!({}),
            });
        }
        if method == Method::GET {
            if let Some(answer) = discovery::answer(&self.shared, &path, &uri) {
                return answer;
            }
        }
        match (method.clone(), path.as_str()) {
            (Method::GET, p) if p.starts_with(&format!("/apis/{}/{}/", metrics::GROUP, metrics::VERSION)) => return self.metrics(p, &user),
            (Method::GET, "/healthz" | "/readyz" | "/livez") => return (StatusCode::OK, "ok").into_response(),
            (Method::POST, "/_localcloud/kubelet-rule") => return self.set_rule(&body),
            (Method::GET, "/_localcloud/kubeconfig") => {
                return (StatusCode::OK, [(header::CONTENT_TYPE, "application/yaml")], self.shared.admin_kubeconfig()).into_response()
            }
            _ => {}
        }
        let Some(t) = parse_path(&path) else {
            // What a client asked that this API server does not serve: the list of what to add.
            tracing::warn!("kube api: unhandled request {method} {uri}");
            return not_found_path();
        };
        let watching = truthy(query_param(&uri, "watch"));
        let attrs = Attributes {
            verb: verb(&method, t.name.is_some(), watching),
            group: t.kind.group,
            resource: t.kind.plural,
            subresource: t.sub.as_deref(),
            namespace: t.namespace.as_deref(),
            name: t.name.as_deref(),
        };
        if let Err(e) = authorize(&self.lock(), &user, &attrs) {
            return error_response(&e);
        }
        let manager = field_manager(&uri, &headers);
        let dry_run = match query_param(&uri, "dryRun").as_deref() {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return error_response(&ApiError::bad_request(format!("dryRun: invalid value {other:?}: the only valid value is All")))
            }
        };
        let mut warnings = Vec::new();
        // Objects are kept as JSON. kubectl's typed commands create some objects in protobuf:
        // those are decoded; any other protobuf body is refused as a media type not served.
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let body = if matches!(method, Method::POST | Method::PUT | Method::PATCH) && ct.starts_with("application/vnd.kubernetes.protobuf")
        {
            match (method == Method::POST).then(|| protobuf::decode(&body)) {
                Some(Ok(obj)) => Bytes::from(obj.to_string()),
                refused => {
                    let why = match refused {
                        Some(Err(e)) => e.0,
                        _ => "protobuf updates are not served".into(),
                    };
                    return error_response(&ApiError {
                        code: 415,
                        reason: "UnsupportedMediaType",
                        message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/merge-patch+json, application/strategic-merge-patch+json ({why})"),
                        details: json!({}),
                    });
                }
            }
        } else {
            body
        };
        if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            match check_fields(&t, &method, &uri, &body) {
                Ok(w) => warnings = w,
                Err(e) => return error_response(&e),
            }
        }
        let result = match (method.clone(), &t.name, t.sub.as_deref()) {
            (Method::GET, None, None) => {
                if watching {
                    return self.watch(&t, &uri);
                }
                self.list(&t, &uri, &headers)
            }
            (Method::GET, Some(name), Some("log")) if t.kind.plural == "pods" => return self.logs(&t, name, &uri),
            (Method::GET, Some(name), None | Some("status")) => {
                let s = self.lock();
                s.get(t.kind, t.namespace.as_deref().unwrap_or(""), name)
                    .map(|o| (200, if wants_table(&headers) { table(t.kind, &[o], s.resource_version()) } else { o }))
            }
            (Method::POST, None, None) => self.create(&t, &body, dry_run, &manager),
            (Method::POST, Some(name), Some("token")) if t.kind.plural == "serviceaccounts" => self.create_token(&t, name, &body),
            (Method::PUT, Some(name), sub) => self.put(&t, name, sub, &body, dry_run, &manager),
            (Method::PATCH, Some(name), sub) => self.patch(&t, name, sub, &headers, &body, dry_run, &uri),
            // A dry-run delete answers what would be deleted and leaves it in place.
            (Method::DELETE, Some(name), None) if dry_run => self.lock().get(t.kind, t.namespace.as_deref().unwrap_or(""), name).map(|o| (200, o)),
            (Method::DELETE, Some(name), None) => self.delete(&t, name),
            (Method::DELETE, None, None) if dry_run => self.matching(&t, &uri).map(|(items, rv)| {
                (200, json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}))
            }),
            (Method::DELETE, None, None) => self.delete_collection(&t, &uri),
            _ => Err({
                tracing::warn!("kube api: unhandled method {method} {uri}");
                ApiError {
                code: 405,
                reason: "MethodNotAllowed",
                message: "the server does not allow this method on the requested resource".into(),
                details: json!({}),
            }}),
        };
        match result {
            Ok((code, body)) => {
                let mut r = json_response(code, &body);
                for w in warnings {
                    if let Ok(v) = header::HeaderValue::from_str(&warning_header(&w)) {
                        r.headers_mut().append(header::WARNING, v);
                    }
                }
                r
            }
            Err(e) => error_response(&e),
        }
    }

    pub(super) fn set_rule(&self, body: &[u8]) -> Response {
        let rule: Rule = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return error_response(&ApiError::bad_request(format!("kubelet rule: {e}"))),
        };
        if !OUTCOMES.contains(&rule.outcome.as_str()) {
            return error_response(&ApiError::bad_request(format!("kubelet rule: outcome {:?} is not one of {OUTCOMES:?}", rule.outcome)));
        }
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).set(rule);
        json_response(200, &json!({"ok": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_kinds() {
        let t = parse_path("/api/v1/namespaces/a/pods/p/log").expect("pod log");
        assert_eq!(
            (t.kind.plural, t.namespace.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("pods", Some("a"), Some("p"), Some("log"))
        );
        let t = parse_path("/api/v1/namespaces/a").expect("namespace");
        assert_eq!((t.kind.plural, t.name.as_deref()), ("namespaces", Some("a")));
        let t = parse_path("/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles").expect("roles");
        assert_eq!((t.kind.plural, t.namespace.as_deref()), ("roles", Some("a")));
        let t = parse_path("/apis/apps/v1/namespaces/a/deployments/d/status").expect("deployment status");
        assert_eq!(
            (t.kind.kind, t.namespace.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("Deployment", Some("a"), Some("d"), Some("status"))
        );
        assert!(parse_path("/apis/apps/v1/deployments").is_some_and(|t| t.namespace.is_none()), "deployments of all namespaces");
        assert!(parse_path("/apis/batch/v1/jobs").is_none());
        assert!(parse_path("/apis/apps/v1beta1/deployments").is_none());
    }
}
