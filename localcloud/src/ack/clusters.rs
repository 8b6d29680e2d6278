//! Clusters: create, describe, list, delete, modify, tags, and the admin kubeconfig.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};

use super::dispatch::Call;
use super::openapi::{self, CreateCluster, ModifyCluster, Tag};
use super::{error, not_found, ok, random_hex, rfc3339, Cluster, Pool, SPECS};

/// CreateCluster: checks the request as ACK does, then records a cluster that turns `running` after `create_delay` (or `failed` half-way, under a `fail_create` fault).
pub(super) fn create(call: &mut Call<'_>) -> Response {
    let app = call.app;
    let now = call.now;
    let body = call.body;
    let fail = call.fail.take();
    let inner = &mut *call.inner;
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
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "the local cloud has no random source for the cluster's token.");
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

/// DescribeClusterDetail; the first answer that shows it `running` is noted (the control path reports when a client saw it).
pub(super) fn describe(call: &mut Call<'_>) -> Response {
    let (now, kube) = (call.now, call.kube.clone());
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    if c.state(now) == "running" && c.noticed_running.is_none() {
        c.noticed_running = Some(now);
    }
    ok(c.detail(now, &kube))
}

/// DeleteCluster: refused under deletion protection; a second delete answers the same task.
pub(super) fn delete(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let (id, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
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

/// DescribeClusterUserKubeconfig: the admin kubeconfig of a running cluster.
pub(super) fn user_kubeconfig(call: &mut Call<'_>) -> Response {
    let app = call.app;
    let now = call.now;
    let segs = call.segs;
    let kube = call.kube.as_str();
    let inner = &mut *call.inner;
    let id = segs[1];
    match inner.clusters.get(id) {
        Some(c) if c.state(now) == "running" => {
            ok(json!({"config": kubeconfig(c, kube, &app.shared.pki), "expiration": rfc3339(now + Duration::from_secs(3 * 365 * 86400))}))
        }
        Some(c) if c.state(now) != "deleted" => error(
            StatusCode::BAD_REQUEST,
            "ErrorClusterState",
            format!("The cluster is in state {}; a kubeconfig is available once it is running.", c.state(now)),
        ),
        _ => not_found(id),
    }
}

/// DescribeClustersV1: the live clusters, filtered by name and type, paged.
pub(super) fn list(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let query = call.query;
    let kube = call.kube.as_str();
    let inner = &mut *call.inner;
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let size = get("page_size").and_then(|v| v.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let page = get("page_number").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
    let name = get("name").unwrap_or("");
    let all: Vec<Json> = inner
        .clusters
        .values()
        .filter(|c| c.state(now) != "deleted" && c.req.name.contains(name))
        .filter(|c| get("cluster_type").is_none_or(|t| t.is_empty() || c.req.cluster_type == t))
        .map(|c| c.detail(now, kube))
        .collect();
    let total = all.len();
    let items: Vec<Json> = all.into_iter().skip((page - 1) * size).take(size).collect();
    ok(json!({"clusters": items, "page_info": {"page_number": page, "page_size": size, "total_count": total}}))
}

/// ModifyCluster: deletion protection and name.
pub(super) fn modify(call: &mut Call<'_>) -> Response {
    let body = call.body;
    let (id, c) = match call.cluster(3) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let change: ModifyCluster = match openapi::read(body, Some(&openapi::MODIFY_CLUSTER)) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
    if let Some(b) = change.deletion_protection {
        c.req.deletion_protection = b;
    }
    if let Some(name) = change.cluster_name.filter(|n| !n.is_empty()) {
        c.req.name = name;
    }
    ok(json!({"cluster_id": id, "task_id": ""}))
}

/// ModifyClusterTags: the tags replaced.
pub(super) fn modify_tags(call: &mut Call<'_>) -> Response {
    let body = call.body;
    let (_, c) = match call.cluster(1) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let tags: Vec<Tag> = match openapi::read(body, None) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, "ErrorParam", e),
    };
    c.req.tags = tags;
    ok(json!({}))
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
