//! Discovery: `/version`, `/api`, `/apis`, each group's and version's resource list (with the
//! subresources served), and the OpenAPI v3 documents ([`super::openapi`]).

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::query::query_param;
use super::store::{Kind, KINDS};
use super::{json_response, metrics, not_found_path, openapi, token, VERSION_MINOR};
use crate::shared::Shared;

/// The named API groups the store serves at v1 (`rbac.authorization.k8s.io`, `apps`), in the
/// order of [`KINDS`].
pub(super) fn api_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if !groups.contains(&k.group) {
            groups.push(k.group);
        }
    }
    groups
}

/// `g` as the `'static` name of a served group.
pub(super) fn api_group(g: &str) -> Option<&'static str> {
    api_groups().into_iter().find(|x| *x == g)
}

/// `/apis/<group>` and `/apis` describe a group by its one version and that it prefers it.
pub(super) fn group_discovery(group: &str) -> Json {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [gv], "preferredVersion": gv})
}

/// The subresources the emulator serves per kind, with their discovery verbs (also the paths of
/// the OpenAPI documents).
pub(super) fn subresources(k: &Kind) -> &'static [(&'static str, &'static [&'static str])] {
    match k.plural {
        "pods" => &[("log", &["get"]), ("status", &["get", "patch", "update"])],
        "namespaces" => &[("status", &["get", "patch", "update"]), ("finalize", &["update"])],
        "services" | "resourcequotas" | "deployments" | "nodes" => &[("status", &["get", "patch", "update"])],
        "serviceaccounts" => &[("token", &["create"])],
        _ => &[],
    }
}

pub(super) fn discovery_resources(group: &str) -> Json {
    let verbs = json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
    let mut out = Vec::new();
    for k in KINDS.iter().filter(|k| k.group == group) {
        out.push(json!({"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind, "verbs": verbs, "shortNames": k.short}));
        for (sub, v) in subresources(k) {
            let mut r = json!({"name": format!("{}/{sub}", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": if *sub == "log" { "Pod" } else { k.kind }, "verbs": v});
            // A subresource of another group's kind names that group and version, as /api/v1 lists
            // `serviceaccounts/token`.
            if *sub == "token" {
                r["group"] = json!(token::GROUP);
                r["version"] = json!("v1");
                r["kind"] = json!(token::KIND);
            }
            out.push(r);
        }
    }
    let gv = if group.is_empty() { "v1".to_owned() } else { format!("{group}/v1") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})
}

/// `/openapi/v3/<key>`: one group-version's document; cacheable for good when the URL names its
/// current hash, as the real server answers.
pub(super) fn openapi_document(key: &str, uri: &Uri) -> Response {
    let Some((body, fresh)) = openapi::document_at(key, query_param(uri, "hash").as_deref()) else { return not_found_path() };
    let cache = if fresh { "public, immutable" } else { "no-cache, private" };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache)], body).into_response()
}

/// The answer to a `GET` of a discovery path (`/version`, `/api`, `/apis`, a group, a group
/// version, the OpenAPI index and documents, the `metrics.k8s.io` group and version); `None` for
/// any other path.
pub(super) fn answer(shared: &Shared, path: &str, uri: &Uri) -> Option<Response> {
    let as_group = |mut g: Json| {
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        json_response(200, &g)
    };
    let answer = match path {
        "/version" => json_response(
            200,
            &json!({"major": "1", "minor": VERSION_MINOR, "gitVersion": format!("v1.{VERSION_MINOR}.0-localcloud"), "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        "/api" => {
            let addr = shared.endpoints.kubernetes_endpoint.trim_start_matches("https://").to_owned();
            json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
            )
        }
        "/apis" => {
            let mut groups: Vec<Json> = api_groups().into_iter().map(group_discovery).collect();
            groups.push(metrics::group());
            json_response(200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        p if p == format!("/apis/{}", metrics::GROUP) => as_group(metrics::group()),
        p if p == format!("/apis/{}/{}", metrics::GROUP, metrics::VERSION) => json_response(200, &metrics::resources()),
        "/api/v1" => json_response(200, &discovery_resources("")),
        p if p.strip_prefix("/apis/").and_then(|g| g.strip_suffix("/v1")).and_then(api_group).is_some() => {
            let group = p.trim_start_matches("/apis/").trim_end_matches("/v1");
            json_response(200, &discovery_resources(group))
        }
        p if p.strip_prefix("/apis/").and_then(api_group).is_some() => as_group(group_discovery(&p["/apis/".len()..])),
        "/openapi/v3" => json_response(200, &openapi::index()),
        p if p.starts_with("/openapi/v3/") => openapi_document(&p["/openapi/v3/".len()..], uri),
        _ => return None,
    };
    Some(answer)
}
