//! ACK (Container Service) OpenAPI emulator: CS API 2015-12-15 ROA paths, ACS3-HMAC-SHA256
//! signatures verified against the local cloud's one AccessKey, asynchronous cluster states,
//! Alibaba-shaped JSON errors, and per-test fault injection.
//!
//! Request bodies are read with the emulator's own types, written from ACK's OpenAPI field
//! names (module `openapi`), not with the client crate's: a name ACK does not define is refused
//! (400 `ErrorParam` naming the field), and ModifyClusterNodePool takes partial bodies.
//!
//! Cluster states move with time, evaluated when asked (no background tasks): `initial` until
//! `create_delay` has passed, then `running`; a create marked to fail becomes `failed` half-way;
//! `deleting` for `create_delay`, then the cluster is gone (404 `ErrorClusterNotFound`).
//!
//! Node pools (`status.state` in DescribeClusterNodePools) follow their cluster while it is
//! created (`initial`, then `active`). Pools added to a running cluster (CreateClusterNodePool)
//! are `initial`, a ModifyClusterNodePool makes a pool `scaling` (autoscaler bounds changed) or
//! `updating` (anything else), DeleteClusterNodepool makes it `deleting`; each lasts half of
//! `create_delay`, then the pool is `active` again, or no longer listed. A pool that is busy
//! refuses another change (400 `ErrorNodePoolState`), a pool with nodes refuses a delete without
//! `force=true` (400 `ErrorNodePoolNotEmpty`).
//!
//! Pools carry `kubernetes_config.taints`, `scaling_group.spot_strategy` and `spot_price_limit`
//! (refused: an unknown strategy or taint effect, a price limit without `SpotWithPriceLimit`);
//! add-ons come with CreateCluster's `addons` or InstallClusterAddons, go with
//! UnInstallClusterAddons and are listed by ListClusterAddonInstances (installed at once,
//! `active`). The nodes of running clusters, and the virtual node of one with `ack-virtual-node`,
//! are handed to the Kubernetes emulator ([`crate::kube::nodes`]).
//!
//! Where the error codes come from:
//! - `ErrorClusterNotFound`, `ErrorNodePoolNotFound` (404): the codes terraform-provider-alicloud
//!   treats as "gone" for clusters and node pools (`alicloud/service_alicloud_ack_v2.go`,
//!   `resource_alicloud_cs_kubernetes_node_pool.go`).
//! - `Throttling.User`, `InternalError`, `InvalidAccessKeyId.NotFound`: Alibaba Cloud's common
//!   OpenAPI error codes.
//! - `ErrorNodePoolState`, `ErrorNodePoolNotEmpty`, `ErrorParam`, `ErrorRegionNotSupported`,
//!   `ErrorTaskNotFound`: the emulator's own. ACK's API pages for ModifyClusterNodePool and
//!   DeleteClusterNodepool list no error codes (they point to the generic error center; the
//!   DeleteClusterNodepool page only says a pool with nodes and `force=false` "returns an
//!   error"), and no public SDK or provider names these cases. The messages carry the class
//!   wording ("is scaling; ... once it is active", "still has N nodes") that the client
//!   recognises (`AckError::is_pool_busy`, `is_pool_not_empty`) instead of the code.
//!
//! Cluster records (clusters, pools, their instants) are kept in `<data-dir>/ack/clusters.json`,
//! written after every change, so a restarted local cloud still knows the clusters it made;
//! states keep moving with wall-clock time across the restart.
//!
//! Unsigned control paths for tests, on the same port:
//! - `POST /_localcloud/faults` `{"rules":[{"action":"CreateCluster"|"*","kind":K,"times":N,...}]}`
//!   with K one of `throttle` (429 `Throttling.User`), `server_error` (500 `InternalError`),
//!   `refuse` (the rule's `status`, `code` and `message`; default 400 `ErrorParam`), `drop` (the call is carried out, then the connection is cut before the answer),
//!   `latency` (`latency_ms` before answering), `fail_create` (the next create fails half-way
//!   with `message`); `times` 0 means every matching call. `DELETE` clears the rules.
//! - `GET /_localcloud/calls`: every API call (action, HTTP status, time); `DELETE` clears.
//! - `GET /_localcloud/clusters`: every cluster ever created, with its state and the instants it
//!   turned `running` and a client first saw it `running`. `DELETE /_localcloud/clusters/{id}`
//!   removes one out of band (drift).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use sparkoss_aliyun::percent_decode;
use sparkoss_aliyun::signing::acs3;

use crate::kube::nodes::{self, NodeSpec, PoolNode};
use crate::shared::{parse_query, Shared};
use openapi::{Addon, CreateCluster, ModifyCluster, Nodepool, Tag};

mod openapi;

/// Cluster specifications the emulator accepts, as ACK does for managed clusters.
const SPECS: &[&str] = &["ack.pro.small", "ack.standard"];
/// Operations that change cluster records (saved to the data dir after each).
const MUTATING: &[&str] = &[
    "CreateCluster",
    "DeleteCluster",
    "CreateClusterNodePool",
    "DeleteClusterNodepool",
    "ModifyClusterNodePool",
    "ModifyCluster",
    "ModifyClusterTags",
    "InstallClusterAddons",
    "UnInstallClusterAddons",
];
/// Largest clock skew accepted on `x-acs-date`.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// One fault-injection rule.
#[derive(Debug, Clone, Deserialize)]
struct FaultRule {
    #[serde(default = "any")]
    action: String,
    kind: String,
    #[serde(default)]
    times: u32,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    message: Option<String>,
    /// For `refuse`: the HTTP status (default 400) and error code (default `ErrorParam`) to answer.
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    code: Option<String>,
    /// Calls this rule still affects (`None`: unlimited).
    #[serde(skip)]
    left: Option<u32>,
}

fn any() -> String {
    "*".into()
}

/// A node pool and the operation under way on it, if any.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pool {
    spec: Nodepool,
    /// (`initial` | `scaling` | `updating` | `deleting`, since when): the pool's own operation.
    /// `None` for pools made with the cluster, which follow the cluster's state.
    busy: Option<(String, SystemTime)>,
    /// The task of the last operation (DescribeTaskInfo).
    task_id: String,
    /// Its type, as DescribeTaskInfo reports it.
    task_type: String,
}

impl Pool {
    fn id(&self) -> &str {
        self.spec.nodepool_info.nodepool_id.as_deref().unwrap_or_default()
    }

    /// Nodes the pool has: the autoscaler's lower bound, or `desired_size` for a pool without
    /// autoscaling.
    fn nodes(&self) -> i64 {
        let fixed = self.spec.scaling_group.desired_size.filter(|_| self.spec.auto_scaling.enable != Some(true));
        fixed.unwrap_or_else(|| self.spec.min_instances()).max(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cluster {
    id: String,
    req: CreateCluster,
    pools: Vec<Pool>,
    task_id: String,
    created: SystemTime,
    delay: Duration,
    fail: Option<String>,
    deleting_since: Option<SystemTime>,
    removed: bool,
    token: String,
    noticed_running: Option<SystemTime>,
}

impl Cluster {
    /// How long a node pool operation takes.
    fn pool_delay(&self) -> Duration {
        self.delay / 2
    }

    /// A pool's `status.state`; `None` once a delete has finished (the pool is gone).
    fn pool_state(&self, p: &Pool, now: SystemTime) -> Option<&'static str> {
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        if let Some((kind, at)) = &p.busy {
            let done = since(*at) >= self.pool_delay();
            match (kind.as_str(), done) {
                ("deleting", true) => return None,
                ("deleting", false) => return Some("deleting"),
                ("initial", false) => return Some("initial"),
                ("scaling", false) => return Some("scaling"),
                ("updating", false) => return Some("updating"),
                _ => {}
            }
        }
        Some(match self.state(now) {
            "running" => "active",
            "failed" => "failed",
            "deleting" | "deleted" => "deleting",
            _ => "initial",
        })
    }

    /// The pools that still exist, with their state.
    fn live_pools(&self, now: SystemTime) -> Vec<(&Pool, &'static str)> {
        self.pools.iter().filter_map(|p| self.pool_state(p, now).map(|s| (p, s))).collect()
    }

    fn state(&self, now: SystemTime) -> &'static str {
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        if self.removed {
            return "deleted";
        }
        if let Some(d) = self.deleting_since {
            return if since(d) >= self.delay { "deleted" } else { "deleting" };
        }
        if self.fail.is_some() {
            return if since(self.created) >= self.delay / 2 { "failed" } else { "initial" };
        }
        if since(self.created) >= self.delay {
            "running"
        } else {
            "initial"
        }
    }

    /// The cluster's sequence number (the hex digits after `c` in its id).
    fn seq(&self) -> u32 {
        self.id.get(1..9).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0)
    }

    /// Whether the `ack-virtual-node` add-on is installed.
    fn has_virtual_node(&self) -> bool {
        self.req.addons.iter().any(|a| a.name == openapi::VIRTUAL_NODE_ADDON && a.disabled != Some(true))
    }

    /// The Kubernetes nodes of a running cluster: each node of each pool that is up (not being
    /// created), named `<region>.10.<cluster>.<pool>.<n>` as ACK names nodes by their private
    /// address, and the virtual node when the add-on is installed.
    fn kube_nodes(&self, now: SystemTime, region: &str) -> Vec<NodeSpec> {
        if self.state(now) != "running" {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, p) in self.pools.iter().enumerate() {
            if !matches!(self.pool_state(p, now), Some("active" | "scaling" | "updating" | "deleting")) {
                continue;
            }
            let labels: Vec<(String, String)> =
                p.spec.kubernetes_config.labels.iter().flatten().map(|t| (t.key.clone(), t.value.clone())).collect();
            let taints: Vec<nodes::Taint> =
                p.spec.kubernetes_config.taints.iter().flatten().map(|t| nodes::Taint::new(&t.key, &t.value, &t.effect)).collect();
            let instance_type = p.spec.scaling_group.instance_types.as_ref().and_then(|t| t.first()).map_or("", String::as_str);
            for n in 0..p.nodes().clamp(0, 254) {
                let address = format!("10.{}.{}.{}", self.seq() % 256, i % 256, n + 1);
                let node =
                    PoolNode { region, cluster_id: &self.id, pool_id: p.id(), instance_type, address, labels: &labels, taints: &taints };
                out.push(node.spec());
            }
        }
        if self.has_virtual_node() {
            out.push(nodes::virtual_node(region, &self.id, self.seq().saturating_sub(1)));
        }
        out
    }

    fn detail(&self, now: SystemTime, kube: &str) -> Json {
        let r = &self.req;
        let master = json!({"api_server_endpoint": kube, "intranet_api_server_endpoint": kube}).to_string();
        json!({
            "cluster_id": self.id,
            "name": r.name,
            "state": self.state(now),
            "region_id": r.region_id,
            "cluster_type": r.cluster_type,
            "cluster_spec": r.cluster_spec,
            "current_version": r.kubernetes_version.clone().unwrap_or_else(|| "1.31.1-aliyun.1".into()),
            "vpc_id": r.vpcid.clone().unwrap_or_else(|| format!("vpc-local{}", &self.id[1..9])),
            "vswitch_ids": r.vswitch_ids,
            "container_cidr": r.container_cidr,
            "service_cidr": r.service_cidr,
            "tags": r.tags,
            "deletion_protection": r.deletion_protection,
            "master_url": master,
            "size": self.live_pools(now).iter().map(|(p, _)| p.nodes()).sum::<i64>(),
            "created": rfc3339(self.created),
        })
    }
}

#[derive(Debug, Default)]
struct Inner {
    clusters: BTreeMap<String, Cluster>,
    nonces: HashSet<String>,
    faults: Vec<FaultRule>,
    calls: Vec<Json>,
    seq: u64,
}

/// What `<data-dir>/ack/clusters.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    seq: u64,
    clusters: BTreeMap<String, Cluster>,
}

struct App {
    shared: Arc<Shared>,
    inner: Mutex<Inner>,
}

impl App {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one statement).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn records_path(&self) -> std::path::PathBuf {
        self.shared.config.data_dir.join("ack").join("clusters.json")
    }

    /// Writes the cluster records (temp file + rename, so a crash never leaves half a file).
    fn save(&self, inner: &Inner) {
        let path = self.records_path();
        let saved = Saved { seq: inner.seq, clusters: inner.clusters.clone() };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), "cannot save the ACK emulator's cluster records: {e}");
        }
    }
}

/// The cluster records a previous run left in `data_dir`, if any.
fn load(path: &std::path::Path) -> Saved {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), "ignoring unreadable ACK emulator records: {e}");
            Saved::default()
        }),
        Err(_) => Saved::default(),
    }
}

/// The emulator's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let saved = load(&shared.config.data_dir.join("ack").join("clusters.json"));
    let inner = Inner { clusters: saved.clusters, seq: saved.seq, ..Inner::default() };
    let app = Arc::new(App { shared: shared.clone(), inner: Mutex::new(inner) });
    // Weak: the shared state must not keep the emulator alive (it holds the shared state).
    let weak = Arc::downgrade(&app);
    shared.nodes.provide(move || {
        let Some(app) = weak.upgrade() else { return Vec::new() };
        let now = SystemTime::now();
        let region = app.shared.endpoints.region.clone();
        let inner = app.lock();
        inner.clusters.values().flat_map(|c| c.kube_nodes(now, &region)).collect()
    });
    Router::new().fallback(handle).with_state(app)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn rfc3339(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    dt.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Random hex for ids (clusters, tasks, requests), which need to be unique, not secret: should
/// the OS generator fail after the start-up check, a process-wide counter keeps them unique.
fn random_hex(n: usize) -> String {
    static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    crate::random::hex(n).unwrap_or_else(|_| {
        let k = FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{k:0width$x}", width = 2 * n)
    })
}

/// An Alibaba-shaped error answer.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let request_id = random_hex(16).to_uppercase();
    let body = json!({"code": code, "message": message.into(), "requestId": request_id, "status": status.as_u16()});
    (status, [("content-type", "application/json;charset=utf-8"), ("x-acs-request-id", request_id.as_str())], body.to_string())
        .into_response()
}

fn ok(body: Json) -> Response {
    let mut body = body;
    let request_id = random_hex(16).to_uppercase();
    if let Some(o) = body.as_object_mut() {
        o.insert("request_id".into(), Json::String(request_id.clone()));
    }
    (StatusCode::OK, [("content-type", "application/json;charset=utf-8"), ("x-acs-request-id", request_id.as_str())], body.to_string())
        .into_response()
}

fn not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, "ErrorClusterNotFound", format!("The specified cluster {id} does not exist."))
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 4 << 20).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::BAD_REQUEST, "InvalidBody", "The request body could not be read."),
    };
    let path = parts.uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/_localcloud/") {
        return control(&app, &parts.method, rest, &body);
    }
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let segs: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let action = route(&parts.method, &segs);

    if let Err(resp) = verify(&app, &parts.method, &path, &raw_query, &parts.headers, &body) {
        record(&app, action, resp.status());
        return *resp;
    }

    // Fault injection, per matching rule in order.
    let mut drop_answer = false;
    let mut latency = Duration::ZERO;
    let mut fail_create: Option<String> = None;
    let injected = {
        let mut inner = app.lock();
        let mut out = None;
        for rule in inner.faults.iter_mut() {
            if !(rule.action == "*" || rule.action == action) || rule.left == Some(0) {
                continue;
            }
            if rule.kind == "fail_create" && action != "CreateCluster" {
                continue;
            }
            if let Some(n) = rule.left.as_mut() {
                *n -= 1;
            }
            match rule.kind.as_str() {
                "throttle" => {
                    out = Some(error(StatusCode::TOO_MANY_REQUESTS, "Throttling.User", "Request was denied due to user flow control."));
                }
                "server_error" => {
                    out = Some(error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "The request processing has failed due to some unknown error.",
                    ));
                }
                "refuse" => {
                    let status = rule.status.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::BAD_REQUEST);
                    let code = rule.code.as_deref().unwrap_or("ErrorParam");
                    out = Some(error(status, code, rule.message.clone().unwrap_or_else(|| "The request was refused (injected).".into())));
                }
                "drop" => drop_answer = true,
                "latency" => latency = Duration::from_millis(rule.latency_ms),
                "fail_create" => {
                    fail_create = Some(rule.message.clone().unwrap_or_else(|| "The cluster failed to be created (injected).".into()))
                }
                _ => {}
            }
            break;
        }
        out
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(resp) = injected {
        record(&app, action, resp.status());
        return resp;
    }
    let query = parse_query(&raw_query);
    let resp = dispatch(&app, action, &segs, &query, &body, fail_create);
    if resp.status().is_success() && MUTATING.contains(&action) {
        let inner = app.lock();
        app.save(&inner);
    }
    record(&app, action, resp.status());
    if drop_answer {
        // Headers go out, then the body fails: the connection is cut with the answer lost.
        let stream =
            futures_util::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped (injected)")) });
        return Response::builder().status(resp.status()).body(Body::from_stream(stream)).unwrap_or(resp);
    }
    resp
}

fn record(app: &App, action: &str, status: StatusCode) {
    let mut inner = app.lock();
    inner.calls.push(json!({"action": action, "status": status.as_u16(), "at_ms": unix_ms(SystemTime::now())}));
}

fn route(method: &Method, segs: &[&str]) -> &'static str {
    match (method.as_str(), segs) {
        ("POST", ["clusters"]) => "CreateCluster",
        ("GET", ["clusters", _]) => "DescribeClusterDetail",
        ("DELETE", ["clusters", _]) => "DeleteCluster",
        ("GET", ["k8s", _, "user_config"]) => "DescribeClusterUserKubeconfig",
        ("GET", ["api", "v1", "clusters"]) => "DescribeClustersV1",
        ("GET", ["tasks", _]) => "DescribeTaskInfo",
        ("GET", ["clusters", _, "nodepools"]) => "DescribeClusterNodePools",
        ("PUT", ["clusters", _, "nodepools", _]) => "ModifyClusterNodePool",
        ("POST", ["clusters", _, "nodepools"]) => "CreateClusterNodePool",
        ("DELETE", ["clusters", _, "nodepools", _]) => "DeleteClusterNodepool",
        ("PUT", ["api", "v2", "clusters", _]) => "ModifyCluster",
        ("POST", ["clusters", _, "tags"]) => "ModifyClusterTags",
        ("POST", ["clusters", _, "components", "install"]) => "InstallClusterAddons",
        ("POST", ["clusters", _, "components", "uninstall"]) => "UnInstallClusterAddons",
        ("GET", ["clusters", _, "addon_instances"]) => "ListClusterAddonInstances",
        _ => "Unknown",
    }
}

/// Verifies the ACS3-HMAC-SHA256 signature the way the gateway does (the shared server-side
/// check in `sparkoss_aliyun::signing::acs3::verify`), then what ACK adds: the API version, the
/// clock skew and nonce reuse.
fn verify(app: &App, method: &Method, path: &str, raw_query: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), Box<Response>> {
    let bad = |code: &str, msg: String| Err(Box::new(error(StatusCode::BAD_REQUEST, code, msg)));
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let received_headers: Vec<(&str, &str)> = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    let received = acs3::Received { method: method.as_str(), path, raw_query, headers: &received_headers, body };
    let cfg = &app.shared.config;
    let secret_of = |ak: &str| (ak == cfg.access_key_id).then(|| cfg.access_key_secret.clone());
    if let Err(refusal) = acs3::verify(&received, &secret_of) {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(Box::new(error(status, refusal.code, refusal.message)));
    }
    if h("x-acs-version") != Some("2015-12-15") {
        return bad("InvalidVersion", format!("Specified parameter Version is not valid: {:?}.", h("x-acs-version")));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let date = h("x-acs-date").and_then(|d| time::PrimitiveDateTime::parse(d, &fmt).ok()).map(|d| d.assume_utc());
    let Some(date) = date else {
        return bad("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.".into());
    };
    let skew = (time::OffsetDateTime::now_utc() - date).abs();
    if skew > MAX_SKEW {
        return bad("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.".into());
    }
    let nonce = h("x-acs-signature-nonce").unwrap_or_default().to_owned();
    if !app.lock().nonces.insert(nonce) {
        return bad("SignatureNonceUsed", "Specified signature nonce was used already.".into());
    }
    Ok(())
}

/// The kubeconfig DescribeClusterUserKubeconfig hands out: the cluster's API server with its CA,
/// and the cluster administrator's token (every emulated cluster is served by the one Kubernetes
/// emulator).
fn kubeconfig(c: &Cluster, server: &str, pki: &crate::pki::Pki) -> String {
    let id = &c.id;
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {server}\n    certificate-authority-data: {}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: \"{id}-admin\"\n  name: {id}-admin-context\ncurrent-context: {id}-admin-context\npreferences: {{}}\nusers:\n- name: \"{id}-admin\"\n  user:\n    token: {}\n",
        pki.ca_data(),
        pki.admin_token()
    )
}

fn dispatch(app: &App, action: &str, segs: &[&str], query: &[(String, String)], body: &[u8], fail: Option<String>) -> Response {
    let now = SystemTime::now();
    let kube = app.shared.endpoints.kubernetes_endpoint.clone();
    let mut inner = app.lock();
    let live = |inner: &Inner, id: &str| inner.clusters.get(id).filter(|c| c.state(now) != "deleted").is_some();
    match action {
        "CreateCluster" => {
            let req: CreateCluster = match openapi::read(body, Some(&openapi::CREATE_CLUSTER)) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            if req.name.is_empty() || req.name.len() > 63 {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", "name must be 1-63 characters.");
            }
            if req.cluster_type != "ManagedKubernetes" {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", format!("cluster_type {:?} is not supported here.", req.cluster_type));
            }
            if !SPECS.contains(&req.cluster_spec.as_str()) {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", format!("cluster_spec {:?} is not valid.", req.cluster_spec));
            }
            if req.region_id != app.shared.endpoints.region {
                return error(StatusCode::BAD_REQUEST, "ErrorRegionNotSupported", format!("region {:?} is not available.", req.region_id));
            }
            for p in &req.nodepools {
                if p.min_instances() > p.max_instances() {
                    return error(StatusCode::BAD_REQUEST, "ErrorParam", "auto_scaling.min_instances is greater than max_instances.");
                }
                if let Err(e) = p.check_scheduling() {
                    return error(StatusCode::BAD_REQUEST, "ErrorParam", e);
                }
            }
            // The cluster's token is a secret: no random source, no cluster.
            let Ok(token) = crate::random::hex(16) else {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "the local cloud has no random source for the cluster's token.",
                );
            };
            inner.seq += 1;
            let id = format!("c{:08x}{}", inner.seq, random_hex(12));
            let pools = req
                .nodepools
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut p = p.clone();
                    p.nodepool_info.nodepool_id = Some(format!("np{}{:02}", &id[1..9], i));
                    Pool { spec: p, busy: None, task_id: String::new(), task_type: String::new() }
                })
                .collect();
            let c = Cluster {
                id: id.clone(),
                req,
                pools,
                task_id: format!("T-{}", random_hex(10)),
                created: now,
                delay: app.shared.config.create_delay,
                fail,
                deleting_since: None,
                removed: false,
                token,
                noticed_running: None,
            };
            let task = c.task_id.clone();
            inner.clusters.insert(id.clone(), c);
            ok(json!({"cluster_id": id, "task_id": task}))
        }
        "DescribeClusterDetail" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            if c.state(now) == "running" && c.noticed_running.is_none() {
                c.noticed_running = Some(now);
            }
            ok(c.detail(now, &kube))
        }
        "DeleteCluster" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            if c.req.deletion_protection {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorDeletionProtection",
                    "The cluster has deletion protection enabled; disable it before deleting the cluster.",
                );
            }
            if c.deleting_since.is_none() {
                c.deleting_since = Some(now);
                c.task_id = format!("T-{}", random_hex(10));
            }
            ok(json!({"cluster_id": id, "task_id": c.task_id}))
        }
        "DescribeClusterUserKubeconfig" => {
            let id = segs[1];
            match inner.clusters.get(id) {
                Some(c) if c.state(now) == "running" => ok(
                    json!({"config": kubeconfig(c, &kube, &app.shared.pki), "expiration": rfc3339(now + Duration::from_secs(3 * 365 * 86400))}),
                ),
                Some(c) if c.state(now) != "deleted" => error(
                    StatusCode::BAD_REQUEST,
                    "ErrorClusterState",
                    format!("The cluster is in state {}; a kubeconfig is available once it is running.", c.state(now)),
                ),
                _ => not_found(id),
            }
        }
        "DescribeClustersV1" => {
            let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let size = get("page_size").and_then(|v| v.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
            let page = get("page_number").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
            let name = get("name").unwrap_or("");
            let all: Vec<Json> = inner
                .clusters
                .values()
                .filter(|c| c.state(now) != "deleted" && c.req.name.contains(name))
                .filter(|c| get("cluster_type").is_none_or(|t| t.is_empty() || c.req.cluster_type == t))
                .map(|c| c.detail(now, &kube))
                .collect();
            let total = all.len();
            let items: Vec<Json> = all.into_iter().skip((page - 1) * size).take(size).collect();
            ok(json!({"clusters": items, "page_info": {"page_number": page, "page_size": size, "total_count": total}}))
        }
        "DescribeTaskInfo" => {
            let id = segs[1];
            let pool_task = inner.clusters.values().find_map(|c| c.pools.iter().find(|p| p.task_id == id).map(|p| (c, p)));
            if let Some((c, p)) = pool_task {
                let state = match c.pool_state(p, now) {
                    None | Some("active") => "success",
                    Some("failed") => "fail",
                    _ => "running",
                };
                let created = p.busy.as_ref().map(|(_, at)| rfc3339(*at)).unwrap_or_default();
                return ok(json!({
                    "task_id": id, "cluster_id": c.id, "task_type": p.task_type, "state": state, "created": created,
                    "target": {"id": p.id(), "type": "nodepool"},
                }));
            }
            let Some(c) = inner.clusters.values().find(|c| c.task_id == id) else {
                return error(StatusCode::NOT_FOUND, "ErrorTaskNotFound", format!("The task {id} does not exist."));
            };
            let (kind, state) = match (c.deleting_since.is_some(), c.state(now)) {
                (true, "deleted") => ("cluster_delete", "success"),
                (true, _) => ("cluster_delete", "running"),
                (false, "running") => ("cluster_create", "success"),
                (false, "failed") => ("cluster_create", "fail"),
                _ => ("cluster_create", "running"),
            };
            let err = (state == "fail").then(|| json!({"code": "ClusterCreateFailed", "message": c.fail.clone().unwrap_or_default()}));
            ok(json!({"task_id": id, "cluster_id": c.id, "task_type": kind, "state": state, "error": err, "created": rfc3339(c.created)}))
        }
        "DescribeClusterNodePools" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let Some(c) = inner.clusters.get(id) else { return not_found(id) };
            let pools: Vec<Json> = c
                .live_pools(now)
                .into_iter()
                .map(|(p, state)| {
                    let mut v = serde_json::to_value(&p.spec).unwrap_or_default();
                    let nodes = if state == "initial" { 0 } else { p.nodes() };
                    v["status"] = json!({"state": state, "total_nodes": nodes, "healthy_nodes": nodes, "serving_nodes": nodes});
                    v
                })
                .collect();
            ok(json!({"nodepools": pools}))
        }
        "CreateClusterNodePool" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let mut spec: Nodepool = match openapi::read(body, Some(&openapi::NODEPOOL)) {
                Ok(p) => p,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            if let Err(resp) = check_pool(&spec) {
                return *resp;
            }
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            if c.state(now) != "running" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorClusterState",
                    format!("The cluster is in state {}; node pools can be added once it is running.", c.state(now)),
                );
            }
            let name = spec.name().to_owned();
            if c.live_pools(now).iter().any(|(p, _)| p.spec.name() == name) {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", format!("A node pool named {name} already exists in the cluster."));
            }
            let np = format!("np{}", random_hex(15));
            spec.nodepool_info.nodepool_id = Some(np.clone());
            let task = format!("T-{}", random_hex(10));
            c.pools.push(Pool { spec, busy: Some(("initial".into(), now)), task_id: task.clone(), task_type: "nodepool_create".into() });
            ok(json!({"nodepool_id": np, "task_id": task}))
        }
        "DeleteClusterNodepool" => {
            let (id, np) = (segs[1], segs[3]);
            if !live(&inner, id) {
                return not_found(id);
            }
            // The official Python SDK writes booleans in queries as Python does (`force=True`).
            let force = query.iter().any(|(k, v)| k == "force" && v.eq_ignore_ascii_case("true"));
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            let state = c.pools.iter().find(|p| p.id() == np).and_then(|p| c.pool_state(p, now));
            let Some(state) = state else {
                return error(StatusCode::NOT_FOUND, "ErrorNodePoolNotFound", format!("The node pool {np} does not exist."));
            };
            let Some(p) = c.pools.iter_mut().find(|p| p.id() == np) else {
                return error(StatusCode::NOT_FOUND, "ErrorNodePoolNotFound", format!("The node pool {np} does not exist."));
            };
            match state {
                // A delete already under way: the same task, as a retried request would get.
                "deleting" => return ok(json!({"task_id": p.task_id})),
                "active" | "failed" => {}
                busy => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ErrorNodePoolState",
                        format!("The node pool {np} is {busy}; wait until it is active before deleting it."),
                    )
                }
            }
            if p.nodes() > 0 && !force {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorNodePoolNotEmpty",
                    format!("The node pool {np} still has {} nodes; remove them first or set force=true.", p.nodes()),
                );
            }
            p.busy = Some(("deleting".into(), now));
            p.task_id = format!("T-{}", random_hex(10));
            p.task_type = "nodepool_delete".into();
            ok(json!({"task_id": p.task_id}))
        }
        "ModifyClusterNodePool" => {
            let (id, np) = (segs[1], segs[3]);
            if !live(&inner, id) {
                return not_found(id);
            }
            // Every section is optional: ACK takes partial bodies (only `auto_scaling`, say).
            let change: Nodepool = match openapi::read(body, Some(&openapi::NODEPOOL)) {
                Ok(p) => p,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            let state = c.pools.iter().find(|p| p.id() == np).and_then(|p| c.pool_state(p, now));
            let Some(state) = state else {
                return error(StatusCode::NOT_FOUND, "ErrorNodePoolNotFound", format!("The node pool {np} does not exist."));
            };
            if state != "active" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorNodePoolState",
                    format!("The node pool {np} is {state}; it can be modified once it is active."),
                );
            }
            let Some(p) = c.pools.iter_mut().find(|p| p.id() == np) else {
                return error(StatusCode::NOT_FOUND, "ErrorNodePoolNotFound", format!("The node pool {np} does not exist."));
            };
            let mut changed = p.spec.clone();
            changed.apply(change);
            if changed.min_instances() > changed.max_instances() {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", "auto_scaling.min_instances is greater than max_instances.");
            }
            if changed.scaling_group.instance_types.as_ref().is_some_and(Vec::is_empty) {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", "scaling_group.instance_types must name at least one instance type.");
            }
            if let Err(e) = changed.check_scheduling() {
                return error(StatusCode::BAD_REQUEST, "ErrorParam", e);
            }
            let kind = if p.spec.auto_scaling != changed.auto_scaling { "scaling" } else { "updating" };
            p.spec = changed;
            p.busy = Some((kind.into(), now));
            p.task_id = format!("T-{}", random_hex(10));
            p.task_type = "nodepool_update".into();
            ok(json!({"task_id": p.task_id, "nodepool_id": np}))
        }
        "ModifyCluster" => {
            let id = segs[3];
            if !live(&inner, id) {
                return not_found(id);
            }
            let change: ModifyCluster = match openapi::read(body, Some(&openapi::MODIFY_CLUSTER)) {
                Ok(m) => m,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            if let Some(b) = change.deletion_protection {
                c.req.deletion_protection = b;
            }
            if let Some(name) = change.cluster_name.filter(|n| !n.is_empty()) {
                c.req.name = name;
            }
            ok(json!({"cluster_id": id, "task_id": ""}))
        }
        "ModifyClusterTags" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let tags: Vec<Tag> = match openapi::read(body, None) {
                Ok(t) => t,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            c.req.tags = tags;
            ok(json!({}))
        }
        "InstallClusterAddons" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let addons: Vec<Addon> = match openapi::read_addons(body) {
                Ok(a) => a,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            if c.state(now) != "running" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ErrorClusterState",
                    format!("The cluster is in state {}; add-ons can be installed once it is running.", c.state(now)),
                );
            }
            for a in addons {
                c.req.addons.retain(|have| have.name != a.name);
                c.req.addons.push(a);
            }
            let task = format!("T-{}", random_hex(10));
            ok(json!({"cluster_id": id, "task_id": task, "request_id": random_hex(16)}))
        }
        "UnInstallClusterAddons" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let names = match openapi::read_uninstall(body) {
                Ok(n) => n,
                Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
            };
            let Some(c) = inner.clusters.get_mut(id) else { return not_found(id) };
            c.req.addons.retain(|a| !names.contains(&a.name));
            ok(json!({"cluster_id": id, "task_id": format!("T-{}", random_hex(10)), "request_id": random_hex(16)}))
        }
        "ListClusterAddonInstances" => {
            let id = segs[1];
            if !live(&inner, id) {
                return not_found(id);
            }
            let Some(c) = inner.clusters.get(id) else { return not_found(id) };
            let addons: Vec<Json> = c
                .req
                .addons
                .iter()
                .filter(|a| a.disabled != Some(true))
                .map(|a| json!({"name": a.name, "version": a.version.clone().unwrap_or_else(|| "v2.13.0".into()), "state": "active"}))
                .collect();
            ok(json!({"addons": addons}))
        }
        _ => error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."),
    }
}

/// What ACK checks in a node pool it is asked to create.
fn check_pool(p: &Nodepool) -> Result<(), Box<Response>> {
    let bad = |msg: String| Err(Box::new(error(StatusCode::BAD_REQUEST, "ErrorParam", msg)));
    if p.name().is_empty() || p.name().len() > 63 {
        return bad("nodepool_info.name must be 1-63 characters.".into());
    }
    if p.scaling_group.instance_types.as_ref().is_none_or(Vec::is_empty) {
        return bad("scaling_group.instance_types must name at least one instance type.".into());
    }
    if p.min_instances() < 0 || p.min_instances() > p.max_instances() {
        return bad("auto_scaling.min_instances must be between 0 and max_instances.".into());
    }
    p.check_scheduling().or_else(bad)
}

/// The unsigned control paths for tests.
fn control(app: &App, method: &Method, rest: &str, body: &[u8]) -> Response {
    let now = SystemTime::now();
    let mut inner = app.lock();
    match (method.as_str(), rest) {
        ("POST", "faults") => {
            #[derive(Deserialize)]
            struct Rules {
                rules: Vec<FaultRule>,
            }
            let rules: Rules = match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidFaults", e.to_string()),
            };
            for mut r in rules.rules {
                if !["throttle", "server_error", "refuse", "drop", "latency", "fail_create"].contains(&r.kind.as_str()) {
                    return error(StatusCode::BAD_REQUEST, "InvalidFaults", format!("unknown fault kind {:?}", r.kind));
                }
                r.left = (r.times > 0).then_some(r.times);
                inner.faults.push(r);
            }
            ok(json!({"rules": inner.faults.len()}))
        }
        ("DELETE", "faults") => {
            inner.faults.clear();
            ok(json!({}))
        }
        ("GET", "calls") => ok(json!({"calls": inner.calls})),
        ("DELETE", "calls") => {
            inner.calls.clear();
            ok(json!({}))
        }
        ("GET", "clusters") => {
            let list: Vec<Json> = inner
                .clusters
                .values()
                .map(|c| {
                    let running_at = (c.fail.is_none()).then(|| unix_ms(c.created + c.delay));
                    json!({
                        "cluster_id": c.id,
                        "name": c.req.name,
                        "state": c.state(now),
                        "created_ms": unix_ms(c.created),
                        "running_at_ms": running_at,
                        "noticed_running_ms": c.noticed_running.map(unix_ms),
                    })
                })
                .collect();
            ok(json!({"clusters": list}))
        }
        ("DELETE", r) if r.starts_with("clusters/") => {
            let id = &r["clusters/".len()..];
            match inner.clusters.get_mut(id) {
                Some(c) => {
                    c.removed = true;
                    app.save(&inner);
                    ok(json!({}))
                }
                None => not_found(id),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", format!("no control path {method} /_localcloud/{rest}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every connection on a loopback port with `status` and `body`, for `count` connections.
    fn canned_server(status: &'static str, body: &'static str, count: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(count) {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn the_live_cluster_probe_fails_when_the_emulator_does_not_answer_a_list() {
        let err = Control::new(&canned_server("500 Internal Server Error", r#"{"code":"InternalError"}"#, 1))
            .live_clusters()
            .expect_err("a 500 is not \"no cluster\"");
        assert!(err.contains("500"), "{err}");
        let err = Control::new(&canned_server("200 OK", "{}", 1)).live_clusters().expect_err("a body without a list is not \"no cluster\"");
        assert!(err.contains("no clusters list"), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let closed = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        assert!(Control::new(&closed).live_clusters().is_err(), "nothing listening is not \"no cluster\"");
        let live = Control::new(&canned_server("200 OK", r#"{"clusters":[{"state":"deleted"},{"state":"running"}]}"#, 1))
            .live_clusters()
            .expect("a list");
        assert_eq!(live.len(), 1, "{live:?}");
    }

    #[test]
    fn decodes_queries() {
        assert_eq!(percent_decode("a%20b%2A~%zz"), "a b*~%zz");
        assert_eq!(parse_query("b=&a=x%2By"), vec![("b".into(), "".into()), ("a".into(), "x+y".into())]);
    }
}

/// A test's handle on the emulator's control paths (blocking; each call runs a small runtime,
/// so it works from plain `#[test]` functions and from inside async tests alike).
#[derive(Debug, Clone)]
pub struct Control {
    base: String,
}

impl Control {
    /// The control paths of the emulator at `ack_endpoint`.
    pub fn new(ack_endpoint: &str) -> Self {
        Control { base: format!("{}/_localcloud", ack_endpoint.trim_end_matches('/')) }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Result<Json, String> {
        let url = format!("{}/{path}", self.base);
        let run = async move {
            let client = reqwest::Client::new();
            let mut rb = client.request(method, url).timeout(Duration::from_secs(10));
            if let Some(b) = body {
                rb = rb.header("content-type", "application/json").body(b.to_string());
            }
            let resp = rb.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let v: Json = resp.json().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(v)
            } else {
                Err(format!("HTTP {status}: {v}"))
            }
        };
        // A fresh thread keeps this usable from inside a runtime too.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?.block_on(run)
        })
        .join()
        .map_err(|_| "control call panicked".to_owned())?
    }

    /// Adds fault rules (see the module docs for their shape).
    pub fn add_faults(&self, rules: Json) -> Result<(), String> {
        self.call(reqwest::Method::POST, "faults", Some(json!({ "rules": rules }))).map(|_| ())
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "faults", None).map(|_| ())
    }

    /// Every API call so far: `{action, status, at_ms}`.
    pub fn calls(&self) -> Result<Vec<Json>, String> {
        Ok(self.call(reqwest::Method::GET, "calls", None)?["calls"].as_array().cloned().unwrap_or_default())
    }

    /// How many calls of `action` were made.
    pub fn count(&self, action: &str) -> Result<usize, String> {
        Ok(self.calls()?.iter().filter(|c| c["action"] == action).count())
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "calls", None).map(|_| ())
    }

    /// Every cluster ever created: `{cluster_id, name, state, created_ms, running_at_ms, noticed_running_ms}`.
    /// An error when the answer is not a success or has no `clusters` list, so that a broken probe
    /// never reads as "no cluster".
    pub fn clusters(&self) -> Result<Vec<Json>, String> {
        let answer = self.call(reqwest::Method::GET, "clusters", None)?;
        answer["clusters"].as_array().cloned().ok_or_else(|| format!("no clusters list in {answer}"))
    }

    /// Clusters that exist (any state but `deleted`).
    pub fn live_clusters(&self) -> Result<Vec<Json>, String> {
        Ok(self.clusters()?.into_iter().filter(|c| c["state"] != "deleted").collect())
    }

    /// Removes a cluster out of band, at once.
    pub fn remove_cluster(&self, id: &str) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, &format!("clusters/{id}"), None).map(|_| ())
    }
}
