//! ACK (Container Service) OpenAPI emulator: CS API 2015-12-15 ROA paths, ACS3-HMAC-SHA256
//! signatures verified against the local cloud's one AccessKey, asynchronous cluster states,
//! Alibaba-shaped JSON errors, and per-test fault injection.
//!
//! This root holds the records (clusters, pools, their states over time) and the request's way in
//! (signature in `auth`, faults); `dispatch` routes each action to its handler in
//! `clusters`, `nodepools`, `addons` or `tasks`; `control` serves the test paths.
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
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use sparkoss_aliyun::percent_decode;

use crate::kube::nodes::{self, NodeSpec, PoolNode};
use crate::shared::{parse_query, Shared};
use dispatch::Call;
use openapi::{CreateCluster, Nodepool};

mod addons;
mod auth;
mod clusters;
mod control;
mod dispatch;
mod nodepools;
mod openapi;
mod tasks;

pub use control::Control;

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
        return control::serve(&app, &parts.method, rest, &body);
    }
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let segs: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let route = dispatch::route(&parts.method, &segs);
    let action = route.map_or("Unknown", |a| a.name);

    if let Err(resp) = auth::verify(&app, &parts.method, &path, &raw_query, &parts.headers, &body) {
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
    let resp = {
        let mut inner = app.lock();
        let kube = app.shared.endpoints.kubernetes_endpoint.clone();
        let mut call =
            Call { app: &app, inner: &mut inner, now: SystemTime::now(), kube, segs: &segs, query: &query, body: &body, fail: fail_create };
        dispatch::dispatch(route, &mut call)
    };
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
