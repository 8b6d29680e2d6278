//! The running meter's HTTP endpoints: `/healthz`, `/v1/usage` (the report as JSON) and
//! `/metrics` (Prometheus text: per-job usage and state, and the meter's own counters).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::collect::{now_ms, Health};
use crate::db::Db;
use crate::report::{self, By};

/// How far back `/metrics` looks for jobs (a job not seen for a week drops out of the series).
const METRICS_WINDOW_MS: i64 = 7 * 86_400_000;

#[derive(Clone)]
struct Ctx {
    db: Db,
    health: Arc<Health>,
}

/// The router.
pub fn router(db: Db, health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/usage", get(usage))
        .route("/metrics", get(metrics))
        .with_state(Ctx { db, health })
}

async fn healthz(State(c): State<Ctx>) -> Response {
    let db = c.db.ping().await;
    let synced = c.health.synced.load(Ordering::Relaxed);
    let last_error = c.health.last_error.lock().ok().and_then(|g| g.clone());
    let ok = db.is_ok() && synced;
    let body = serde_json::json!({
        "status": if ok { "ok" } else if db.is_err() { "database unavailable" } else { "starting" },
        "database": db.err().map_or_else(|| "ok".to_owned(), |e| e.to_string()),
        "synced": synced,
        "pods_watched": c.health.pods_watched.load(Ordering::Relaxed),
        "sample_rounds": c.health.sample_rounds.load(Ordering::Relaxed),
        "metrics_api": c.health.metrics_served.load(Ordering::Relaxed),
        "last_error": last_error,
    });
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body)).into_response()
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": msg}))).into_response()
}

async fn usage(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let now = now_ms();
    // The same names as `report --by` (clap's mapping of the enum).
    let by = match q.get("by").map(|v| <By as clap::ValueEnum>::from_str(v, false)) {
        None => By::User,
        Some(Ok(by)) => by,
        Some(Err(_)) => return bad_request(format!("by: {:?} is not user, job or namespace", q.get("by").map_or("", String::as_str))),
    };
    let since = match q.get("since").map(|v| report::parse_time("since", v, now)).transpose() {
        Ok(v) => v.unwrap_or(0),
        Err(e) => return bad_request(e.to_string()),
    };
    let until = match q.get("until").map(|v| report::parse_time("until", v, now)).transpose() {
        Ok(v) => v.unwrap_or(now),
        Err(e) => return bad_request(e.to_string()),
    };
    match report::build(&c.db, by, since, until, now).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": e.to_string()}))).into_response(),
    }
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn metrics(State(c): State<Ctx>) -> Response {
    let now = now_ms();
    let r = match report::build(&c.db, By::Job, now - METRICS_WINDOW_MS, now, now).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let mut s = String::new();
    let series: [Series; 5] = [
        ("sparkoss_job_requested_cpu_core_seconds", "CPU cores requested times seconds run, per job (pods of the last 7 days).", |r| {
            Some(r.requested_cpu_core_seconds)
        }),
        ("sparkoss_job_requested_memory_gib_seconds", "Memory GiB requested times seconds run, per job.", |r| {
            Some(r.requested_memory_gib_seconds)
        }),
        ("sparkoss_job_used_cpu_core_seconds", "CPU core-seconds used, from metrics.k8s.io samples, per job.", |r| r.used_cpu_core_seconds),
        ("sparkoss_job_peak_pod_memory_bytes", "Highest memory sample of one pod of the job.", |r| {
            r.peak_pod_memory_bytes.map(|b| b as f64)
        }),
        ("sparkoss_job_pods", "Pods of the job.", |r| Some(r.pods as f64)),
    ];
    for (name, help, value) in series {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for row in &r.rows {
            if let Some(v) = value(row) {
                let _ = writeln!(s, "{name}{{{}}} {v}", job_labels(row));
            }
        }
    }
    let _ = writeln!(s, "# HELP sparkoss_job_state The state of the job's newest run (1 for its state).\n# TYPE sparkoss_job_state gauge");
    for row in &r.rows {
        if let Some(state) = &row.latest_state {
            let _ = writeln!(s, "sparkoss_job_state{{{},state=\"{}\"}} 1", job_labels(row), label(state));
        }
    }
    let h = &c.health;
    let gauges: [(&str, &str, &str, u64); 4] = [
        ("sparkoss_meter_pods_watched", "gauge", "Live sparkoss pods the meter tracks.", h.pods_watched.load(Ordering::Relaxed)),
        ("sparkoss_meter_watch_events_total", "counter", "Pod watch events handled.", h.events.load(Ordering::Relaxed)),
        ("sparkoss_meter_samples_total", "counter", "Usage samples recorded.", h.samples.load(Ordering::Relaxed)),
        (
            "sparkoss_meter_metrics_api_served",
            "gauge",
            "1 when the cluster serves metrics.k8s.io and lets the meter read it.",
            u64::from(h.metrics_served.load(Ordering::Relaxed)),
        ),
    ];
    for (name, kind, help, v) in gauges {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s).into_response()
}

/// A per-job series: name, help, and its value of a row.
type Series = (&'static str, &'static str, fn(&report::Row) -> Option<f64>);

fn job_labels(row: &report::Row) -> String {
    format!(
        "namespace=\"{}\",job=\"{}\",user=\"{}\"",
        label(row.namespace.as_deref().unwrap_or("")),
        label(row.job.as_deref().unwrap_or("")),
        label(row.user.as_deref().unwrap_or(""))
    )
}
