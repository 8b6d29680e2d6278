//! Tasks: what DescribeTaskInfo reports of the asynchronous work of clusters and node pools.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::dispatch::Call;
use super::{error, ok, rfc3339};

/// DescribeTaskInfo: a node pool's task or a cluster's create or delete task, with its state now.
pub(super) fn describe(call: &mut Call<'_>) -> Response {
    let now = call.now;
    let segs = call.segs;
    let inner = &mut *call.inner;
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
