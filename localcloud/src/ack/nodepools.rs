//! Node pools: describe, create, modify and delete, with the states they pass through.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

use super::dispatch::Call;
use super::openapi::{self, Nodepool};
use super::{error, ok, random_hex, Pool};

/// DescribeClusterNodePools: the live pools with their state and node counts.
pub(super) fn describe(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
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

/// CreateClusterNodePool: a new pool on a running cluster, `initial` for a while.
pub(super) fn create(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let body = call.body;
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let mut spec: Nodepool = match openapi::read(body, Some(&openapi::NODEPOOL)) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
    if let Err(resp) = check_pool(&spec) {
        return *resp;
    }
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

/// DeleteClusterNodepool: refused while the pool is busy, or has nodes without `force=true`.
pub(super) fn delete(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let query = call.query;
    let np = call.segs[3];
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    // The official Python SDK writes booleans in queries as Python does (`force=True`).
    let force = query.iter().any(|(k, v)| k == "force" && v.eq_ignore_ascii_case("true"));
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

/// ModifyClusterNodePool: a partial change of an active pool, which turns `scaling` or `updating`.
pub(super) fn modify(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let body = call.body;
    let np = call.segs[3];
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    // Every section is optional: ACK takes partial bodies (only `auto_scaling`, say).
    let change: Nodepool = match openapi::read(body, Some(&openapi::NODEPOOL)) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
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
