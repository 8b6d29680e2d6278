//! Server-side printing for `kubectl get`: a `meta.k8s.io/v1` Table when the client asks for
//! one (`Accept: ...;as=Table`), with the columns `kubectl` prints per kind.

use axum::http::{header, HeaderMap};
use serde_json::{json, Value as Json};

use super::nodes;
use super::store::Kind;

pub(super) fn age(ts: &str) -> String {
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
pub(super) fn table(k: &Kind, items: &[Json], rv: u64) -> Json {
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

pub(super) fn wants_table(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}
