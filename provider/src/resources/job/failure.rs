//! Why a driver failed, root cause first.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

use super::super::{driver_log, python_traceback};

pub(super) async fn log_tail(api: &Api<Pod>, name: &str, lines: i64) -> String {
    match api.logs(name, &LogParams { tail_lines: Some(lines), ..Default::default() }).await {
        Ok(l) => l,
        Err(e) => format!("(log not available: {e})"),
    }
}

/// Why a driver failed, root cause first: a PySpark driver's Python exception and the frames of
/// its traceback in the user's files, else the JVM exception and its `Caused by` chain from the
/// log, then the log's last lines (or the termination message when the log names no exception).
pub(super) fn failure_detail(namespace: &str, name: &str, exit_code: i64, message: Option<String>, log: &str) -> String {
    // A Python failure leads with the exception itself: that line is what the user raised.
    if let Some(cause) = python_traceback::python_cause(log) {
        return format!(
            "{cause}\n\ndriver pod {namespace}/{name} failed with exit code {exit_code}. Last 20 log lines:\n{}",
            driver_log::tail(log, 20)
        );
    }
    match driver_log::root_cause(log) {
        Some(cause) => format!(
            "driver pod {namespace}/{name} failed with exit code {exit_code}:\n{cause}\n\nLast 20 log lines:\n{}",
            driver_log::tail(log, 20)
        ),
        None => format!(
            "driver pod {namespace}/{name} failed with exit code {exit_code}: {}\n\nLast 50 log lines:\n{}",
            message.unwrap_or_else(|| "(no termination message)".into()),
            driver_log::tail(log, 50)
        ),
    }
}
