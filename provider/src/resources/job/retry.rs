//! Retries: a driver that fails is submitted again, up to `retries` times, `retry_interval`
//! apart. Each attempt's pods are labelled `sparkoss.io/attempt`; attempt 1's driver is
//! `<name>-driver`, attempt n's `<name>-driver-<n>`, so every attempt keeps its own pod (its log,
//! its meter records) and the state's `attempts` says which is the latest.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};

use crate::core::validators::{duration, int_between};
use crate::core::{Attribute, Block, Number, Type, Value};
use crate::kube_conn::{is_not_found, parse_duration, KubeError};

/// The label giving each pod the attempt it belongs to (1, 2, ...).
pub(super) const ATTEMPT_LABEL: &str = "sparkoss.io/attempt";

/// Most retries a job may ask for.
pub(super) const MAX_RETRIES: i64 = 10;

/// Adds `retries`, `retry_interval` and the computed `attempts`.
pub(super) fn attributes(block: Block) -> Block {
    block
        .attr(
            Attribute::with_default(
                "retries",
                Type::Number,
                Value::Number(Number::Int(0)),
                &format!("How many times a driver that fails is submitted again (default 0, at most {MAX_RETRIES}); needs `wait_for_completion`. Each attempt's pods are labelled `sparkoss.io/attempt`, attempt n's driver is `<name>-driver-<n>` (the first `<name>-driver`). Only a driver that ran and failed is retried; pods that cannot start are not."),
            )
            .validate(int_between(0, Some(MAX_RETRIES))),
        )
        .attr(
            Attribute::with_default("retry_interval", Type::String, Value::string("10s"), "Wait between a failed attempt and the next (default `10s`).")
                .validate(duration()),
        )
        .attr(Attribute::computed("attempts", Type::Number, "Attempts made: 1, plus one per retry."))
}

/// The retry settings of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Retries {
    pub(super) retries: u32,
    pub(super) interval: Duration,
}

pub(super) fn retries(v: &Value) -> Retries {
    Retries {
        retries: v.attr("retries").as_number().and_then(|n| n.as_i64()).map_or(0, |n| n.clamp(0, MAX_RETRIES) as u32),
        interval: v.attr("retry_interval").as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(10)),
    }
}

/// The attempt a state is at (1 when it says none: a plan, or a state from before retries).
pub(super) fn attempt_of(v: &Value) -> u32 {
    v.attr("attempts").as_number().and_then(|n| n.as_i64()).and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1).unwrap_or(1)
}

/// The driver pod name of attempt `attempt`.
pub(super) fn driver_pod_name(name: &str, attempt: u32) -> String {
    if attempt <= 1 {
        format!("{name}-driver")
    } else {
        format!("{name}-driver-{attempt}")
    }
}

/// The attempt a pod belongs to, from its label (1 for a pod from before retries).
pub(super) fn pod_attempt(pod: &Pod) -> u32 {
    pod.metadata.labels.as_ref().and_then(|l| l.get(ATTEMPT_LABEL)).and_then(|a| a.parse().ok()).unwrap_or(1)
}

/// The latest attempt's driver pod of job `name` (import finds the job by it).
pub(super) async fn latest_driver(pods: &Api<Pod>, name: &str) -> Result<Option<Pod>, KubeError> {
    let lp = ListParams::default().labels(&format!("sparkoss.io/job={name},spark-role=driver"));
    let list = pods.list(&lp).await.map_err(KubeError::api(format!("listing driver pods of job {name}")))?;
    Ok(list.items.into_iter().max_by_key(pod_attempt))
}

/// Deletes what is left of a failed attempt that is retried: its executors (a driver that
/// crashed may not have removed them). The failed driver pod itself stays, with its log, until
/// the job is deleted.
pub(super) async fn clear_attempt(pods: &Api<Pod>, name: &str, attempt: u32) -> Result<(), KubeError> {
    let lp = ListParams::default().labels(&format!("sparkoss.io/job={name},spark-role=executor,{ATTEMPT_LABEL}={attempt}"));
    match pods.delete_collection(&DeleteParams::default(), &lp).await {
        Err(e) if !is_not_found(&e) => Err(KubeError::api(format!("deleting executors of attempt {attempt}"))(e)),
        _ => Ok(()),
    }
}

/// The detail of a job whose every attempt failed: the last failure in full, each earlier one
/// by its first line.
pub(super) fn failed_attempts_detail(failures: &[String]) -> String {
    let n = failures.len();
    let mut out = String::new();
    for (i, f) in failures.iter().enumerate().take(n.saturating_sub(1)) {
        out.push_str(&format!("attempt {} of {n} failed: {}\n", i + 1, f.lines().next().unwrap_or_default()));
    }
    if let Some(last) = failures.last() {
        out.push_str(&format!("attempt {n} of {n} failed: {last}"));
    }
    out
}
