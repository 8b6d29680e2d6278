//! Kubernetes API emulator: discovery, core/v1, rbac/v1 and apps/v1 (Deployments, stored but not
//! run: see [`store::KINDS`]) objects with resourceVersion, label
//! and field selectors, watch, quota admission, limit-range defaults, owner-reference garbage
//! collection, namespace deletion, pod logs, and a rule-based kubelet ([`kubelet`]); OpenAPI v3
//! documents and `fieldValidation` on writes ([`openapi`]), and `dryRun=All`.
//!
//! Served over HTTPS with the cluster CA's certificate ([`crate::serve`]); callers authenticate
//! with a bearer token and RBAC decides ([`rbac`]); service-account tokens come from the
//! TokenRequest API ([`token`]). On loopback, plain HTTP is served too, as
//! the administrator, like an API server behind `kubectl proxy`. Server-side apply ([`apply`])
//! records field managers. Pods on the pod network find services through the cluster DNS
//! ([`dns`]). Tests steer the kubelet through `POST /_localcloud/kubelet-rule` (a
//! [`kubelet::Rule`] as JSON) or the pod annotation [`kubelet::RULE_ANNOTATION`].

pub mod apply;
pub mod dns;
pub mod docker_kubelet;
pub mod kubelet;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod protobuf;
pub mod rbac;
pub mod scheduler;
pub mod store;
pub mod token;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value as Json};

use self::kubelet::{Rule, Rules, OUTCOMES};
use self::openapi::FieldValidation;
use self::rbac::{authenticate, authorize, Attributes, UserInfo};
use self::store::{
    admit_pod, apply_limit_ranges, fields_match, kind, labels_match, parse_label_selector, ApiError, Kind, Store, KINDS, RBAC,
};
use crate::serve::Transport;
use crate::shared::Shared;

/// Largest request body the API server reads (the real one allows 3 MiB objects; more room for
/// lists of them).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// A watch that saw no change for this long sends a bookmark, when the client allows them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// Kubernetes version the emulator reports.
pub const VERSION_MINOR: &str = "34";

/// Longest a watch or a followed log stays open when the client sets no timeout.
const MAX_STREAM: Duration = Duration::from_secs(600);

#[derive(Clone)]
struct Api {
    store: Arc<Mutex<Store>>,
    rules: Arc<Mutex<Rules>>,
    shared: Arc<Shared>,
}

/// The emulator's routes, over a store that starts with the default cluster roles; starts the
/// kubelets (the rule-based one always, the Docker one when the local cloud runs pods as
/// containers: it then runs every pod that names no rule) and, on the pod network, the cluster
/// DNS on `dns`.
pub fn router(shared: Arc<Shared>, dns: Option<tokio::net::UdpSocket>) -> Router {
    let mut store = Store::new();
    for (plural, obj) in rbac::default_cluster_roles() {
        if let Some(k) = kind(RBAC, plural) {
            let _ = store.create(k, "", obj);
        }
    }
    let api = Api { store: Arc::new(Mutex::new(store)), rules: Arc::new(Mutex::new(Rules::default())), shared: shared.clone() };
    let docker_active = Arc::new(AtomicBool::new(false));
    let rule_kubelet = tokio::spawn(kubelet::run(api.store.clone(), api.rules.clone(), docker_active.clone(), shared.shutdown.clone()));
    shared.keep(rule_kubelet);
    shared.keep(tokio::spawn(scheduler::run(api.store.clone(), shared.clone(), api.rules.clone(), docker_active.clone())));
    if let (Some(socket), Some(net)) = (dns, &shared.network) {
        shared.keep(tokio::spawn(dns::serve(socket, api.store.clone(), net.gateway, shared.shutdown.clone())));
    }
    if shared.docker.is_some() {
        shared.keep(tokio::spawn(docker_kubelet::run(api.store.clone(), shared.clone(), docker_active)));
    }
    Router::new().fallback(move |req: axum::extract::Request| {
        let api = api.clone();
        async move {
            let (parts, body) = req.into_parts();
            let transport = parts.extensions.get::<Transport>().copied();
            let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
                return error_response(&ApiError {
                    code: 413,
                    reason: "RequestEntityTooLarge",
                    message: "the request body is too large".into(),
                    details: json!({}),
                });
            };
            api.handle(parts.method, parts.uri, parts.headers, body, transport).await
        }
    })
}

/// The ServiceAccount admission plugin: a pod runs as `default` unless it names a service
/// account, and the one it names must exist.
fn admit_service_account(s: &Store, ns: &str, pod: &mut Json) -> Result<(), ApiError> {
    if !pod["spec"].is_object() {
        return Ok(());
    }
    let name = pod["spec"]["serviceAccountName"].as_str().or(pod["spec"]["serviceAccount"].as_str()).unwrap_or("default").to_owned();
    pod["spec"]["serviceAccountName"] = json!(name);
    pod["spec"]["serviceAccount"] = json!(name);
    if kind("", "serviceaccounts").is_some_and(|k| s.get(k, ns, &name).is_ok()) {
        return Ok(());
    }
    let pod_name = pod["metadata"]["name"].as_str().or(pod["metadata"]["generateName"].as_str()).unwrap_or("").to_owned();
    Err(ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "pods \"{pod_name}\" is forbidden: error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
        ),
        details: json!({"name": pod_name, "kind": "pods"}),
    })
}

/// The verb RBAC checks for a request.
fn verb(method: &Method, named: bool, watch: bool) -> &'static str {
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
fn field_manager(uri: &Uri, headers: &HeaderMap) -> String {
    query_param(uri, "fieldManager").filter(|m| !m.is_empty()).unwrap_or_else(|| {
        let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        ua.split(['/', ' ']).next().filter(|s| !s.is_empty()).unwrap_or("unknown").to_owned()
    })
}

fn json_response(code: u16, body: &Json) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status())
}

fn not_found_path() -> Response {
    error_response(&ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: json!({}),
    })
}

/// Decodes a query-string value. Unlike `sparkoss_aliyun::percent_decode` (whose clients encode
/// spaces as `%20`), form encoding, which Go's `url.Values` and so kubectl use, writes a space as `+`.
fn percent_decode(s: &str) -> String {
    sparkoss_aliyun::percent_decode(&s.replace('+', " "))
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').filter_map(|kv| kv.split_once('=').or(Some((kv, "")))).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
}

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A parsed resource path.
struct Target {
    kind: &'static Kind,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// The named API groups the store serves at v1 (`rbac.authorization.k8s.io`, `apps`), in the
/// order of [`KINDS`].
fn api_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if !groups.contains(&k.group) {
            groups.push(k.group);
        }
    }
    groups
}

/// `g` as the `'static` name of a served group.
fn api_group(g: &str) -> Option<&'static str> {
    api_groups().into_iter().find(|x| *x == g)
}

/// `/apis/<group>` and `/apis` describe a group by its one version and that it prefers it.
fn group_discovery(group: &str) -> Json {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [gv], "preferredVersion": gv})
}

fn parse_path(path: &str) -> Option<Target> {
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

fn merge_patch(target: &mut Json, patch: &Json) {
    match patch {
        Json::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in p {
                if v.is_null() {
                    if let Some(o) = target.as_object_mut() {
                        o.remove(k);
                    }
                } else {
                    merge_patch(&mut target[k], v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn age(ts: &str) -> String {
    let f = time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(ts, &f) else { return "<unknown>".into() };
    let s = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Computes a table row's cells from an object.
type Cells = Box<dyn Fn(&Json) -> Vec<Json>>;

/// Server-side printing for `kubectl get` (a `meta.k8s.io/v1` Table).
fn table(k: &Kind, items: &[Json], rv: u64) -> Json {
    let col_at = |n: &str, t: &str, priority: u8| json!({"name": n, "type": t, "format": if n == "Name" { "name" } else { "" }, "description": n, "priority": priority});
    // Priority 0: what `kubectl get` prints; 1: what `-o wide` adds.
    let col = |n: &str, t: &str| col_at(n, t, 0);
    let (cols, cells): (Vec<Json>, Cells) = match k.plural {
        "pods" => (
            vec![
                col("Name", "string"),
                col("Ready", "string"),
                col("Status", "string"),
                col("Restarts", "integer"),
                col("Age", "string"),
                col_at("IP", "string", 1),
                col_at("Node", "string", 1),
                col_at("Nominated Node", "string", 1),
                col_at("Readiness Gates", "string", 1),
            ],
            Box::new(|o: &Json| {
                let cs = o["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
                let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
                let ready = cs.iter().filter(|c| c["ready"] == true).count();
                let waiting = cs.iter().find_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_owned));
                let status = waiting.unwrap_or_else(|| match o["status"]["phase"].as_str() {
                    Some("Succeeded") => "Completed".into(),
                    Some("Failed") => "Error".into(),
                    Some(p) => p.into(),
                    None => "Unknown".into(),
                });
                vec![
                    o["metadata"]["name"].clone(),
                    json!(format!("{ready}/{total}")),
                    json!(status),
                    json!(0),
                    json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))),
                    json!(o["status"]["podIP"].as_str().unwrap_or("<none>")),
                    json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")),
                    json!(o["status"]["nominatedNodeName"].as_str().unwrap_or("<none>")),
                    json!("<none>"),
                ]
            }),
        ),
        "nodes" => (
            nodes::table_columns().into_iter().map(|(n, t, p)| col_at(n, t, p)).collect(),
            Box::new(|o: &Json| nodes::table_row(o, age(o["metadata"]["creationTimestamp"].as_str().unwrap_or("")))),
        ),
        "namespaces" => (
            vec![col("Name", "string"), col("Status", "string"), col("Age", "string")],
            Box::new(|o: &Json| {
                vec![
                    o["metadata"]["name"].clone(),
                    o["status"]["phase"].clone(),
                    json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))),
                ]
            }),
        ),
        "services" => (
            vec![
                col("Name", "string"),
                col("Type", "string"),
                col("Cluster-IP", "string"),
                col("External-IP", "string"),
                col("Port(s)", "string"),
                col("Age", "string"),
            ],
            Box::new(|o: &Json| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                vec![
                    o["metadata"]["name"].clone(),
                    o["spec"]["type"].clone(),
                    o["spec"]["clusterIP"].clone(),
                    json!("<none>"),
                    json!(if ports.is_empty() { "<none>".to_owned() } else { ports.join(",") }),
                    json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))),
                ]
            }),
        ),
        // The emulator runs no Deployment controller: the counts are whatever the status says.
        "deployments" => (
            vec![
                col("Name", "string"),
                col("Ready", "string"),
                col("Up-to-date", "integer"),
                col("Available", "integer"),
                col("Age", "string"),
            ],
            Box::new(|o: &Json| {
                let count = |field: &str| o["status"][field].as_i64().unwrap_or(0);
                vec![
                    o["metadata"]["name"].clone(),
                    json!(format!("{}/{}", count("readyReplicas"), o["spec"]["replicas"].as_i64().unwrap_or(0))),
                    json!(count("updatedReplicas")),
                    json!(count("availableReplicas")),
                    json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))),
                ]
            }),
        ),
        "resourcequotas" => (
            vec![col("Name", "string"), col("Age", "string"), col("Request", "string"), col("Limit", "string")],
            Box::new(|o: &Json| {
                let mut req = Vec::new();
                let mut lim = Vec::new();
                for (r, h) in o["status"]["hard"].as_object().into_iter().flatten() {
                    let used = o["status"]["used"][r].as_str().unwrap_or("0");
                    let s = format!("{r}: {used}/{}", h.as_str().unwrap_or(""));
                    if r.starts_with("limits.") {
                        lim.push(s);
                    } else {
                        req.push(s);
                    }
                }
                vec![
                    o["metadata"]["name"].clone(),
                    json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""))),
                    json!(req.join(", ")),
                    json!(lim.join(", ")),
                ]
            }),
        ),
        _ => (
            vec![col("Name", "string"), col("Age", "string")],
            Box::new(|o: &Json| vec![o["metadata"]["name"].clone(), json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or("")))]),
        ),
    };
    let rows: Vec<Json> = items.iter().map(|o| json!({"cells": cells(o), "object": o})).collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()}, "columnDefinitions": cols, "rows": rows})
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}

/// The subresources the emulator serves per kind, with their discovery verbs (also the paths of
/// the OpenAPI documents).
fn subresources(k: &Kind) -> &'static [(&'static str, &'static [&'static str])] {
    match k.plural {
        "pods" => &[("log", &["get"]), ("status", &["get", "patch", "update"])],
        "namespaces" => &[("status", &["get", "patch", "update"]), ("finalize", &["update"])],
        "services" | "resourcequotas" | "deployments" | "nodes" => &[("status", &["get", "patch", "update"])],
        "serviceaccounts" => &[("token", &["create"])],
        _ => &[],
    }
}

fn discovery_resources(group: &str) -> Json {
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
fn openapi_document(key: &str, uri: &Uri) -> Response {
    let Some((body, fresh)) = openapi::document_at(key, query_param(uri, "hash").as_deref()) else { return not_found_path() };
    let cache = if fresh { "public, immutable" } else { "no-cache, private" };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache)], body).into_response()
}

/// `fieldValidation` of a write: the unknown fields of the body (a whole object, or a patch of
/// one) against the kind's OpenAPI schema. `Strict` refuses them with the API server's message;
/// `Warn` (also when the parameter is absent) answers them to be sent as `Warning` headers;
/// `Ignore` answers none. A body that is not JSON is left to the handler, which refuses it.
fn check_fields(t: &Target, method: &Method, uri: &Uri, body: &[u8]) -> Result<Vec<String>, ApiError> {
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
    let unknown = openapi::unknown_fields(t.kind, &obj, patch);
    if unknown.is_empty() || directive == FieldValidation::Warn {
        return Ok(unknown);
    }
    let strict = openapi::strict_message(&unknown);
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
    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes, transport: Option<Transport>) -> Response {
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
        match (method.clone(), path.as_str()) {
            (Method::GET, "/version") => {
                return json_response(
                    200,
                    &json!({"major": "1", "minor": VERSION_MINOR, "gitVersion": format!("v1.{VERSION_MINOR}.0-localcloud"), "gitCommit": "0000000000000000000000000000000000000000",
                            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}),
                )
            }
            (Method::GET, "/api") => {
                let addr = self.shared.endpoints.kubernetes_endpoint.trim_start_matches("https://").to_owned();
                return json_response(
                    200,
                    &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
                );
            }
            (Method::GET, "/apis") => {
                let mut groups: Vec<Json> = api_groups().into_iter().map(group_discovery).collect();
                groups.push(metrics::group());
                return json_response(200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
            }
            (Method::GET, p) if p == format!("/apis/{}", metrics::GROUP) => {
                let mut g = metrics::group();
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                return json_response(200, &g);
            }
            (Method::GET, p) if p == format!("/apis/{}/{}", metrics::GROUP, metrics::VERSION) => {
                return json_response(200, &metrics::resources())
            }
            (Method::GET, p) if p.starts_with(&format!("/apis/{}/{}/", metrics::GROUP, metrics::VERSION)) => return self.metrics(p, &user),
            (Method::GET, "/api/v1") => return json_response(200, &discovery_resources("")),
            (Method::GET, p) if p.strip_prefix("/apis/").and_then(|g| g.strip_suffix("/v1")).and_then(api_group).is_some() => {
                let group = p.trim_start_matches("/apis/").trim_end_matches("/v1");
                return json_response(200, &discovery_resources(group));
            }
            (Method::GET, p) if p.strip_prefix("/apis/").and_then(api_group).is_some() => {
                let mut g = group_discovery(&p["/apis/".len()..]);
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                return json_response(200, &g);
            }
            (Method::GET, "/openapi/v3") => return json_response(200, &openapi::index()),
            (Method::GET, p) if p.starts_with("/openapi/v3/") => return openapi_document(&p["/openapi/v3/".len()..], &uri),
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
                    if let Ok(v) = header::HeaderValue::from_str(&openapi::warning_header(&w)) {
                        r.headers_mut().append(header::WARNING, v);
                    }
                }
                r
            }
            Err(e) => error_response(&e),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `metrics.k8s.io/v1beta1`: `pods` (all, a namespace's, one) and `nodes` (all, one).
    fn metrics(&self, path: &str, user: &UserInfo) -> Response {
        let rest = path.trim_start_matches(&format!("/apis/{}/{}/", metrics::GROUP, metrics::VERSION));
        let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let (resource, ns, name) = match segs.as_slice() {
            ["pods"] => ("pods", None, None),
            ["nodes"] => ("nodes", None, None),
            ["nodes", n] => ("nodes", None, Some(*n)),
            ["namespaces", ns, "pods"] => ("pods", Some(*ns), None),
            ["namespaces", ns, "pods", n] => ("pods", Some(*ns), Some(*n)),
            _ => return not_found_path(),
        };
        let attrs = Attributes {
            verb: if name.is_some() { "get" } else { "list" },
            group: metrics::GROUP,
            resource,
            subresource: None,
            namespace: ns,
            name,
        };
        let s = self.lock();
        if let Err(e) = authorize(&s, user, &attrs) {
            return error_response(&e);
        }
        let answer = if resource == "pods" { metrics::pods(&s, ns, name) } else { metrics::nodes(&s, name) };
        match answer {
            Ok(body) => json_response(200, &body),
            Err(e) => error_response(&e),
        }
    }

    fn set_rule(&self, body: &[u8]) -> Response {
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

    fn matching(&self, t: &Target, uri: &Uri) -> Result<(Vec<Json>, u64), ApiError> {
        let labels = query_param(uri, "labelSelector").map(|s| parse_label_selector(&s)).transpose()?.unwrap_or_default();
        let fields = query_param(uri, "fieldSelector").unwrap_or_default();
        let s = self.lock();
        let items = s
            .iter(t.kind, t.namespace.as_deref())
            .filter(|o| labels_match(&o["metadata"]["labels"], &labels) && fields_match(o, &fields))
            .cloned()
            .collect();
        Ok((items, s.resource_version()))
    }

    /// A list, paged as the API server pages it when the client sends `limit` (kube-rs's
    /// watcher asks for 500 at a time, kubectl for 500): `metadata.continue` carries the list's
    /// resource version and the last key served, and the next page starts after that key. Pages
    /// are read from the current store rather than a snapshot at that version (no MVCC here); a
    /// watch from the list's version still replays every change made between the pages, so
    /// watchers end up where a real cluster leaves them.
    fn list(&self, t: &Target, uri: &Uri, headers: &HeaderMap) -> Result<(u16, Json), ApiError> {
        let limit = match query_param(uri, "limit") {
            None => None,
            Some(v) => {
                Some(v.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit: invalid value {v:?}")))?).filter(|l| *l > 0)
            }
        };
        let after = query_param(uri, "continue").filter(|c| !c.is_empty()).map(|c| decode_continue(&c)).transpose()?;
        let (mut items, mut rv) = self.matching(t, uri)?;
        if let Some((list_rv, after)) = &after {
            if !self.lock().can_resume_from(*list_rv) {
                return Err(ApiError {
                    code: 410,
                    reason: "Expired",
                    message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
                        .into(),
                    details: json!({}),
                });
            }
            rv = *list_rv;
            items.retain(|o| object_key(o).as_str() > after.as_str());
        }
        let mut page = json!({"resourceVersion": rv.to_string()});
        if let Some(l) = limit.filter(|l| items.len() > *l) {
            let remaining = items.len() - l;
            items.truncate(l);
            let last = items.last().map(object_key).unwrap_or_default();
            page["continue"] = json!(encode_continue(rv, &last));
            page["remainingItemCount"] = json!(remaining);
        }
        if wants_table(headers) {
            let mut tbl = table(t.kind, &items, rv);
            tbl["metadata"] = page;
            return Ok((200, tbl));
        }
        // Items of a typed list carry no kind/apiVersion, as the real server writes them.
        let items: Vec<Json> = items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        Ok((200, json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": page, "items": items})))
    }

    fn watch(&self, t: &Target, uri: &Uri) -> Response {
        let labels = match query_param(uri, "labelSelector").map(|s| parse_label_selector(&s)).transpose() {
            Ok(l) => l.unwrap_or_default(),
            Err(e) => return error_response(&e),
        };
        let fields = query_param(uri, "fieldSelector").unwrap_or_default();
        let timeout = query_param(uri, "timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(MAX_STREAM)
            .min(MAX_STREAM);
        let from: Option<u64> = query_param(uri, "resourceVersion").and_then(|s| s.parse().ok()).filter(|v| *v > 0);
        let kind_ = t.kind;
        let ns = t.namespace.clone();
        let matches = move |k: &Kind, o: &Json| {
            k.plural == kind_.plural
                && k.group == kind_.group
                && ns.as_deref().is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n))
                && labels_match(&o["metadata"]["labels"], &labels)
                && fields_match(o, &fields)
        };
        // Snapshot and subscription under one lock, so no change falls between them.
        let (initial, rx) = {
            let s = self.lock();
            let rx = s.changes.subscribe();
            let initial: Vec<(String, Json)> = match from {
                Some(rv) => match s.changes_since(rv) {
                    Some(cs) => {
                        cs.into_iter().filter(|c| matches(c.kind, &c.object)).map(|c| (c.kind_of_change.to_owned(), c.object)).collect()
                    }
                    None => {
                        let gone = ApiError {
                            code: 410,
                            reason: "Expired",
                            message: format!("too old resource version: {rv} ({})", s.resource_version()),
                            details: json!({}),
                        };
                        vec![("ERROR".to_owned(), gone.status())]
                    }
                },
                None => s
                    .list(kind_, t.namespace.as_deref())
                    .into_iter()
                    .filter(|o| matches(kind_, o))
                    .map(|o| ("ADDED".to_owned(), o))
                    .collect(),
            };
            (initial, rx)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let shutdown = self.shared.shutdown.clone();
        let bookmarks = truthy(query_param(uri, "allowWatchBookmarks"));
        let store = self.store.clone();
        let state = (std::collections::VecDeque::from(initial), rx, false);
        let stream = futures_util::stream::unfold(state, move |(mut pending, mut rx, done)| {
            let matches = matches.clone();
            let mut shutdown = shutdown.clone();
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    if let Some((ty, obj)) = pending.pop_front() {
                        let stop = ty == "ERROR";
                        let line = format!("{}\n", json!({"type": ty, "object": obj}));
                        return Some((Ok::<_, std::io::Error>(Bytes::from(line)), (pending, rx, stop)));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => return None,
                        _ = shutdown.wait_for(|d| *d) => return None,
                        // A quiet watch tells the client how far it has seen, so a reconnect resumes there.
                        _ = tokio::time::sleep(BOOKMARK_EVERY), if bookmarks => {
                            let rv = store.lock().unwrap_or_else(|p| p.into_inner()).resource_version();
                            let mark = json!({"kind": kind_.kind, "apiVersion": kind_.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
                            pending.push_back(("BOOKMARK".to_owned(), mark));
                        }
                        c = rx.recv() => match c {
                            Ok(c) => if matches(c.kind, &c.object) { pending.push_back((c.kind_of_change.to_owned(), c.object)); },
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                let e = ApiError { code: 410, reason: "Expired", message: "watch fell behind; relist".into(), details: json!({}) };
                                pending.push_back(("ERROR".to_owned(), e.status()));
                            }
                            Err(_) => return None,
                        }
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::TRANSFER_ENCODING, "chunked")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }

    fn parse_body(body: &[u8]) -> Result<Json, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
    }

    fn create(&self, t: &Target, body: &[u8], dry_run: bool, manager: &str) -> Result<(u16, Json), ApiError> {
        let mut obj = Self::parse_body(body)?;
        if obj.is_object() {
            obj["apiVersion"] = json!(t.kind.api_version());
            apply::record_update(&mut obj, None, manager, &store::now_rfc3339());
        }
        let ns = t.namespace.clone().unwrap_or_default();
        if t.kind.namespaced {
            if let Some(in_body) = obj["metadata"]["namespace"].as_str() {
                if in_body != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
            if t.namespace.is_none() {
                return Err(ApiError {
                    code: 405,
                    reason: "MethodNotAllowed",
                    message: "create needs a namespace".into(),
                    details: json!({}),
                });
            }
        }
        self.with_store(dry_run, |s| Self::create_in(s, t.kind, &ns, obj))
    }

    /// `serviceaccounts/{name}/token`: a TokenRequest answered with a signed token ([`token`]).
    fn create_token(&self, t: &Target, name: &str, body: &[u8]) -> Result<(u16, Json), ApiError> {
        let req = Self::parse_body(body)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        token::create(&self.lock(), &self.shared.pki, t.namespace.as_deref().unwrap_or(""), name, &req, now).map(|o| (201, o))
    }

    /// Creates an object with the API server's admission: limit-range defaults and quota for
    /// pods, quota status refreshed.
    fn create_in(s: &mut Store, k: &'static Kind, ns: &str, mut obj: Json) -> Result<(u16, Json), ApiError> {
        if k.plural == "pods" {
            admit_service_account(s, ns, &mut obj)?;
            apply_limit_ranges(s, ns, &mut obj);
            admit_pod(s, ns, &obj)?;
        }
        let created = s.create(k, ns, obj)?;
        if k.plural == "pods" || k.plural == "resourcequotas" {
            s.refresh_quotas(ns);
        }
        let created = s.get(k, ns, created["metadata"]["name"].as_str().unwrap_or("")).unwrap_or(created);
        Ok((201, created))
    }

    /// Runs `f` on the store, or, for `dryRun=All`, on a throwaway copy of it that watchers
    /// never see (create, update and patch are checked and answered as if they happened).
    fn with_store<R>(&self, dry_run: bool, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut guard = self.lock();
        if dry_run {
            f(&mut guard.dry_run_copy())
        } else {
            f(&mut guard)
        }
    }

    fn put(&self, t: &Target, name: &str, sub: Option<&str>, body: &[u8], dry_run: bool, manager: &str) -> Result<(u16, Json), ApiError> {
        let mut obj = Self::parse_body(body)?;
        let ns = t.namespace.clone().unwrap_or_default();
        self.with_store(dry_run, |s| {
            match sub {
                None => {
                    let old = s.get(t.kind, &ns, name)?;
                    obj["apiVersion"] = json!(t.kind.api_version());
                    apply::record_update(&mut obj, Some(&old), manager, &store::now_rfc3339());
                    s.replace(t.kind, &ns, name, obj, false).map(|o| (200, o))
                }
                Some("status") => s.replace(t.kind, &ns, name, obj, true).map(|o| (200, o)),
                Some("finalize") if t.kind.plural == "namespaces" => s.get(t.kind, "", name).map(|o| (200, o)),
                Some(other) => Err(ApiError::bad_request(format!("unknown subresource {other}"))),
            }
            .inspect(|_| {
                if t.kind.plural == "resourcequotas" {
                    s.refresh_quotas(&ns);
                }
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &self,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        dry_run: bool,
        uri: &Uri,
    ) -> Result<(u16, Json), ApiError> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.starts_with("application/apply-patch+yaml") {
            return self.server_side_apply(t, name, sub, body, dry_run, uri);
        }
        if !(ct.starts_with("application/merge-patch+json") || ct.starts_with("application/strategic-merge-patch+json")) {
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!("the emulator supports apply, merge and strategic-merge patches, not {ct:?}"),
                details: json!({}),
            });
        }
        let patch = Self::parse_body(body)?;
        let ns = t.namespace.clone().unwrap_or_default();
        let manager = field_manager(uri, headers);
        self.with_store(dry_run, |s| {
            let old = s.get(t.kind, &ns, name)?;
            let mut obj = old.clone();
            if ct.starts_with("application/strategic-merge-patch+json") {
                openapi::strategic_merge(t.kind, &mut obj, &patch);
            } else {
                merge_patch(&mut obj, &patch);
            }
            if let Some(m) = obj["metadata"].as_object_mut() {
                // A patch is applied to the current version; a stale one in the patch is ignored.
                if patch["metadata"]["resourceVersion"].is_null() {
                    m.remove("resourceVersion");
                }
            }
            if sub.is_none() {
                apply::record_update(&mut obj, Some(&old), &manager, &store::now_rfc3339());
            }
            let r = s.replace(t.kind, &ns, name, obj, sub == Some("status"));
            if t.kind.plural == "resourcequotas" {
                s.refresh_quotas(&ns);
            }
            r.map(|o| (200, o))
        })
    }

    /// Server-side apply: creates the object when absent (201), else merges the configuration
    /// with field ownership (200). `fieldManager` is required, `force=true` takes over fields.
    fn server_side_apply(
        &self,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        body: &[u8],
        dry_run: bool,
        uri: &Uri,
    ) -> Result<(u16, Json), ApiError> {
        if sub.is_some() {
            return Err(ApiError::bad_request("server-side apply of a subresource is not served"));
        }
        let manager = query_param(uri, "fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| ApiError {
            code: 422,
            reason: "Invalid",
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            details: json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
        })?;
        let force = truthy(query_param(uri, "force"));
        // YAML is JSON's superset; clients (fabric8, kubectl, client-go) send JSON documents.
        let applied = serde_json::from_slice::<Json>(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML: the emulator reads apply configurations written as JSON: {e}"))
        })?;
        if applied["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
        }
        let ns = t.namespace.clone().unwrap_or_default();
        let now = store::now_rfc3339();
        self.with_store(dry_run, |s| match s.get(t.kind, &ns, name) {
            Ok(current) => {
                let mut obj = apply::apply(t.kind, Some(&current), &applied, &manager, force, &now)?;
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                let r = s.replace(t.kind, &ns, name, obj, false);
                if t.kind.plural == "resourcequotas" {
                    s.refresh_quotas(&ns);
                }
                r.map(|o| (200, o))
            }
            Err(e) if e.code == 404 => {
                let mut obj = apply::apply(t.kind, None, &applied, &manager, force, &now)?;
                obj["metadata"]["name"] = json!(name);
                Self::create_in(s, t.kind, &ns, obj)
            }
            Err(e) => Err(e),
        })
    }

    fn delete(&self, t: &Target, name: &str) -> Result<(u16, Json), ApiError> {
        let ns = t.namespace.clone().unwrap_or_default();
        if t.kind.plural == "namespaces" {
            if ["default", "kube-system", "kube-public"].contains(&name) {
                return Err(ApiError {
                    code: 403,
                    reason: "Forbidden",
                    message: format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
                    details: json!({"name": name, "kind": "namespaces"}),
                });
            }
            let mut s = self.lock();
            let now = store::now_rfc3339();
            s.get(t.kind, "", name)?;
            let obj = s
                .update_with(t.kind, "", name, |o| {
                    if o["metadata"]["deletionTimestamp"].is_null() {
                        o["metadata"]["deletionTimestamp"] = json!(now);
                    }
                    o["status"]["phase"] = json!("Terminating");
                })
                .ok_or_else(|| ApiError::not_found(t.kind, name))?;
            // The namespace controller empties the namespace a moment later, then removes it.
            let store = self.store.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                store.lock().unwrap_or_else(|p| p.into_inner()).finish_namespace(&name);
            });
            return Ok((200, obj));
        }
        let mut s = self.lock();
        let mut obj = s.delete(t.kind, &ns, name)?;
        obj["metadata"]["deletionTimestamp"] = json!(store::now_rfc3339());
        Ok((200, obj))
    }

    fn delete_collection(&self, t: &Target, uri: &Uri) -> Result<(u16, Json), ApiError> {
        let (items, _) = self.matching(t, uri)?;
        let mut s = self.lock();
        let mut deleted = Vec::new();
        for o in items {
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
            if let Ok(d) = s.delete(t.kind, &ns, o["metadata"]["name"].as_str().unwrap_or("")) {
                deleted.push(d);
            }
        }
        Ok((
            200,
            json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": {"resourceVersion": s.resource_version().to_string()}, "items": deleted}),
        ))
    }

    fn logs(&self, t: &Target, name: &str, uri: &Uri) -> Response {
        let ns = t.namespace.clone().unwrap_or_default();
        let tail = query_param(uri, "tailLines").and_then(|s| s.parse::<usize>().ok());
        let follow = truthy(query_param(uri, "follow"));
        let key = (ns.clone(), name.to_owned());
        let (lines, phase, container) = {
            let s = self.lock();
            let pod = match s.get(t.kind, &ns, name) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let container = pod["spec"]["containers"][0]["name"].as_str().unwrap_or("").to_owned();
            (s.logs.get(&key).cloned(), pod["status"]["phase"].as_str().unwrap_or("").to_owned(), container)
        };
        if let Some(c) = query_param(uri, "container") {
            if c != container {
                return error_response(&ApiError::bad_request(format!("container {c} is not valid for pod {name}")));
            }
        }
        let Some(lines) = lines else {
            if phase == "Pending" {
                return error_response(&ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                )));
            }
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], String::new()).into_response();
        };
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        let first: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
        if !follow {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], first).into_response();
        }
        let store = self.store.clone();
        let deadline = tokio::time::Instant::now() + MAX_STREAM;
        let kind_ = t.kind;
        let stream = futures_util::stream::unfold((Some(first), lines.len(), false), move |(first, mut sent, done)| {
            let store = store.clone();
            let key = key.clone();
            async move {
                if let Some(f) = first {
                    return Some((Ok::<_, std::io::Error>(Bytes::from(f)), (None, sent, false)));
                }
                if done {
                    return None;
                }
                loop {
                    if tokio::time::Instant::now() >= deadline {
                        return None;
                    }
                    let (new, finished) = {
                        let s = store.lock().unwrap_or_else(|p| p.into_inner());
                        let all = s.logs.get(&key).cloned().unwrap_or_default();
                        let phase = s.get(kind_, &key.0, &key.1).ok().and_then(|p| p["status"]["phase"].as_str().map(str::to_owned));
                        let finished = !matches!(phase.as_deref(), Some("Pending" | "Running"));
                        (all.get(sent..).map(|l| l.to_vec()).unwrap_or_default(), finished)
                    };
                    if !new.is_empty() {
                        sent += new.len();
                        let chunk: String = new.iter().map(|l| format!("{l}\n")).collect();
                        return Some((Ok(Bytes::from(chunk)), (None, sent, finished)));
                    }
                    if finished {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The admin kubeconfig (cluster CA and admin token) of the emulator at `endpoint`, as the local
/// cloud wrote it into its data dir; asked over loopback (blocking; for tests and benchmarks).
pub fn kubeconfig_for(endpoint: &str) -> std::io::Result<String> {
    let (code, text) = raw_request(endpoint, "GET", "/_localcloud/kubeconfig", "", "application/json")?;
    if code != 200 {
        return Err(std::io::Error::other(format!("GET /_localcloud/kubeconfig answered {code}: {text}")));
    }
    Ok(text)
}

/// `host:port` of an endpoint URL, whatever its scheme.
fn host_port(endpoint: &str) -> &str {
    endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/')
}

/// One blocking plain-HTTP request to the emulator's loopback listener, which serves it as the
/// administrator (as through `kubectl proxy`); answers the status code and the body.
fn raw_request(endpoint: &str, method: &str, path: &str, body: &str, content_type: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let addr = host_port(endpoint);
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_owned() };
    Ok((code, payload))
}

/// Sets the kubelet rule of the emulator at `endpoint` (blocking; for tests). `rule` is a
/// [`kubelet::Rule`] as JSON, e.g. `{"outcome": "fail", "message": "boom"}`.
pub fn set_kubelet_rule(endpoint: &str, rule: &Json) -> std::io::Result<()> {
    let (code, answer) = raw_request(endpoint, "POST", "/_localcloud/kubelet-rule", &rule.to_string(), "application/json")?;
    if code == 200 {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("kubelet rule refused: {code} {answer}")))
    }
}

/// An object's position in a list: `namespace/name`, the store's own order.
fn object_key(o: &Json) -> String {
    format!("{}/{}", o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
}

/// The continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`, the shape the API
/// server uses (clients treat it as opaque).
fn encode_continue(rv: u64, after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": after}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
    let raw = base64::engine::general_purpose::URL_SAFE.decode(token).map_err(|_| bad())?;
    let v: Json = serde_json::from_slice(&raw).map_err(|_| bad())?;
    match (v["v"].as_str(), v["rv"].as_u64(), v["start"].as_str()) {
        (Some("meta.k8s.io/v1"), Some(rv), Some(start)) => Ok((rv, start.to_owned())),
        _ => Err(bad()),
    }
}

/// One blocking request to the emulator at `endpoint` (for tests): answers the status code and
/// the body parsed as JSON (`Null` when it is not JSON). `body` is sent as a merge patch for
/// PATCH and as JSON otherwise.
pub fn request(endpoint: &str, method: &str, path: &str, body: Option<&Json>) -> std::io::Result<(u16, Json)> {
    let body = body.map(Json::to_string).unwrap_or_default();
    let ct = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
    let (code, payload) = raw_request(endpoint, method, path, &body, ct)?;
    Ok((code, serde_json::from_str(&payload).unwrap_or(Json::Null)))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let (Some(chunk), Some(after)) = (rest.get(..n), rest.get(n..)) else { break };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        s = after.trim_start_matches("\r\n");
    }
    out
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
        assert_eq!(percent_decode("a%3Db%2Cc+d"), "a=b,c d");
        assert_eq!(percent_decode("a%2Bb+c%zz"), "a+b c%zz");
    }
}
