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
//!
//! A request goes through `dispatch` (authentication, paths, RBAC, `dryRun`,
//! `fieldValidation`) to one handler: `discovery`, `list` (with `tables` for `kubectl
//! get`), `watch`, `objects` (create, update, delete), `patch` (merge, strategic merge,
//! apply), `logs` or the [`metrics`] API. This root holds what they share: the `Api` state, the
//! parsed `Target` and the JSON answers.

pub mod apply;
mod discovery;
mod dispatch;
pub mod dns;
pub mod docker_kubelet;
pub mod field_validation;
pub mod kubelet;
mod list;
mod logs;
pub mod metrics;
pub mod nodes;
mod objects;
pub mod openapi;
mod patch;
pub mod protobuf;
mod query;
pub mod rbac;
pub mod scheduler;
pub mod store;
pub mod strategic_merge;
mod tables;
pub mod token;
mod watch;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value as Json};

use self::kubelet::Rules;
use self::store::{kind, ApiError, Kind, Store, RBAC};
use crate::serve::Transport;
use crate::shared::Shared;

/// Largest request body the API server reads (the real one allows 3 MiB objects; more room for
/// lists of them).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Kubernetes version the emulator reports.
pub const VERSION_MINOR: &str = "34";

/// Longest a watch or a followed log stays open when the client sets no timeout.
const MAX_STREAM: Duration = Duration::from_secs(600);

/// The API server's state, shared by the handlers.
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

/// A JSON answer with `code`.
fn json_response(code: u16, body: &Json) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// An error as the API server's `Status` object.
fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status())
}

/// What the API server answers for a path it does not serve.
fn not_found_path() -> Response {
    error_response(&ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: json!({}),
    })
}

/// A parsed resource path.
struct Target {
    kind: &'static Kind,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Api {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request body as JSON, refused as the API server refuses it.
    fn parse_body(body: &[u8]) -> Result<Json, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
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
}
