//! Cluster add-ons: install, uninstall, list.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

use super::dispatch::Call;
use super::openapi::{self, Addon};
use super::{error, ok, random_hex};

/// InstallClusterAddons: installed at once on a running cluster (a re-install replaces).
pub(super) fn install(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let body = call.body;
    let (id, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let addons: Vec<Addon> = match openapi::read_addons(body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
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

/// UnInstallClusterAddons.
pub(super) fn uninstall(call: &mut Call<'_>) -> Response {
    let body = call.body;
    let (id, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let names = match openapi::read_uninstall(body) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
    c.req.addons.retain(|a| !names.contains(&a.name));
    ok(json!({"cluster_id": id, "task_id": format!("T-{}", random_hex(10)), "request_id": random_hex(16)}))
}

/// ListClusterAddonInstances: the enabled add-ons, `active`.
pub(super) fn list(call: &mut Call<'_>) -> Response {
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let addons: Vec<Json> = c
        .req
        .addons
        .iter()
        .filter(|a| a.disabled != Some(true))
        .map(|a| json!({"name": a.name, "version": a.version.clone().unwrap_or_else(|| "v2.13.0".into()), "state": "active"}))
        .collect();
    ok(json!({"addons": addons}))
}
