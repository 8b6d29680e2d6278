//! Following the driver pod: its observed state, stuck executors, the computed attributes, and
//! removal.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};

use super::failure::{failure_detail, log_tail};
use super::spec::JobSpec;
use super::usage::ExecutorRuns;
use super::{err, Job};
use crate::core::{Diagnostics, Number, Value};
use crate::kube_conn::{is_not_found, KubeError};

/// Image problems a pod does not recover from by waiting.
pub(super) const FATAL_WAITING: &[&str] =
    &["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"];

/// An executor pod of the job that cannot start: its image cannot be had, or it has waited
/// longer than `pending_timeout` (unschedulable, say). Spark's driver would wait for it forever.
pub(super) async fn stuck_executor(pods: &Api<Pod>, spec: &JobSpec) -> Option<(String, String)> {
    let lp = ListParams::default().labels(&format!("sparkoss.io/job={},spark-role=executor", spec.name));
    let list = pods.list(&lp).await.ok()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    list.items.iter().find_map(|p| {
        let o = observe(p);
        if o.state != "PENDING" {
            return None;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        let waited = p.metadata.creation_timestamp.as_ref().map_or(0, |t| now - t.0.as_second());
        let fatal = o.waiting.clone().filter(|(r, _)| FATAL_WAITING.contains(&r.as_str()));
        let too_long = u64::try_from(waited).unwrap_or(0) >= spec.pending_timeout.as_secs();
        if fatal.is_none() && !too_long {
            return None;
        }
        let reason =
            fatal.or(o.waiting.clone()).map(|(r, m)| format!("{r}: {m}")).or(o.unschedulable).unwrap_or_else(|| "still Pending".into());
        Some((name, reason))
    })
}

/// State of a driver pod: `state`, `started_at`, `finished_at`, `exit_code`, termination message.
pub(super) struct Observed {
    pub(super) state: &'static str,
    pub(super) started_at: Option<String>,
    pub(super) finished_at: Option<String>,
    pub(super) exit_code: Option<i64>,
    pub(super) message: Option<String>,
    pub(super) waiting: Option<(String, String)>,
    pub(super) unschedulable: Option<String>,
}

pub(super) fn observe(pod: &Pod) -> Observed {
    let status = pod.status.clone().unwrap_or_default();
    let cs = status.container_statuses.clone().unwrap_or_default();
    let first = cs.first().and_then(|c| c.state.clone()).unwrap_or_default();
    let term = first.terminated.clone();
    let state = match status.phase.as_deref() {
        Some("Running") => "RUNNING",
        Some("Succeeded") => "SUCCEEDED",
        Some("Failed") => "FAILED",
        _ => "PENDING",
    };
    let ts = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| t.0.to_string();
    let started_at = term
        .as_ref()
        .and_then(|t| t.started_at.as_ref().map(ts))
        .or_else(|| first.running.as_ref().and_then(|r| r.started_at.as_ref().map(ts)))
        .or_else(|| status.start_time.as_ref().map(ts))
        .filter(|_| state != "PENDING");
    Observed {
        state,
        started_at,
        finished_at: term.as_ref().and_then(|t| t.finished_at.as_ref().map(ts)),
        exit_code: term.as_ref().map(|t| i64::from(t.exit_code)),
        message: term.and_then(|t| t.message),
        waiting: first.waiting.map(|w| (w.reason.unwrap_or_default(), w.message.unwrap_or_default())),
        unschedulable: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| format!("{}: {}", c.reason.unwrap_or_default(), c.message.unwrap_or_default())),
    }
}

pub(super) fn rfc3339_seconds(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// Writes the computed attributes of `state` from the pod.
pub(super) fn fill_computed(state: &mut Value, spec: &JobSpec, pod: &Pod) {
    let o = observe(pod);
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let Some(m) = state.attrs_mut() else { return };
    m.insert("id".into(), Value::string(format!("{}/{}", spec.namespace, spec.name)));
    m.insert("driver_pod".into(), Value::string(spec.driver_pod()));
    m.insert("attempts".into(), Value::Number(Number::Int(i64::from(super::retry::pod_attempt(pod)))));
    m.insert("state".into(), Value::string(o.state));
    m.insert("started_at".into(), opt(o.started_at.clone()));
    m.insert("finished_at".into(), opt(o.finished_at.clone()));
    m.insert("exit_code".into(), o.exit_code.map_or(Value::Null, |c| Value::Number(Number::Int(c))));
    let app_id = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.args.as_ref())
        .and_then(|a| a.iter().find_map(|x| x.strip_prefix("spark.app.id=").map(str::to_owned)));
    m.insert("spark_app_id".into(), opt(app_id));
    // A finished job's usage was counted while it ran (every attempt, executors as they came
    // and went); a refresh keeps it.
    if matches!(o.state, "SUCCEEDED" | "FAILED") && m.get("cpu_core_seconds").and_then(Value::as_number).is_some() {
        return;
    }
    // Usage: requests × run time (until now while running).
    let start = o.started_at.as_deref().and_then(rfc3339_seconds);
    let end =
        o.finished_at.as_deref().and_then(rfc3339_seconds).or_else(|| start.map(|_| time::OffsetDateTime::now_utc().unix_timestamp()));
    let secs = match (start, end) {
        (Some(s), Some(e)) => (e - s).max(0),
        _ => 0,
    };
    let (cores, mib, _) = spec.total();
    m.insert("cpu_core_seconds".into(), Value::Number(Number::Int(cores as i64 * secs)));
    m.insert("memory_gib_seconds".into(), Value::Number(Number::Float((mib as f64 / 1024.0) * secs as f64)));
}

/// Deletes the driver pod (executors and the service go with it through owner references), the
/// service and any executor left; already gone is fine.
pub(super) async fn remove(client: &kube::Client, spec: &JobSpec) -> Result<(), KubeError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &spec.namespace);
    let ignore_404 = |r: Result<(), kube::Error>, what: String| match r {
        Err(e) if !is_not_found(&e) => Err(KubeError::api(what)(e)),
        _ => Ok(()),
    };
    ignore_404(pods.delete(&spec.driver_pod(), &DeleteParams::default()).await.map(|_| ()), format!("deleting pod {}", spec.driver_pod()))?;
    ignore_404(svcs.delete(&spec.service(), &DeleteParams::default()).await.map(|_| ()), format!("deleting service {}", spec.service()))?;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &spec.namespace);
    ignore_404(secrets.delete(&spec.secret(), &DeleteParams::default()).await.map(|_| ()), format!("deleting secret {}", spec.secret()))?;
    let executors = ListParams::default().labels(&format!("sparkoss.io/job={},spark-role=executor", spec.name));
    ignore_404(pods.delete_collection(&DeleteParams::default(), &executors).await.map(|_| ()), "deleting executors".into())?;
    // Earlier attempts' drivers (kept with their logs while the job was retried), and the
    // executor pod template, which would otherwise wait for the garbage collector.
    let drivers = ListParams::default().labels(&format!("sparkoss.io/job={},spark-role=driver", spec.name));
    ignore_404(pods.delete_collection(&DeleteParams::default(), &drivers).await.map(|_| ()), "deleting earlier attempts".into())?;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &spec.namespace);
    ignore_404(
        cms.delete(&spec.template_config_map(), &DeleteParams::default()).await.map(|_| ()),
        format!("deleting config map {}", spec.template_config_map()),
    )?;
    crate::kube_conn::poll(&format!("pod {} to be deleted", spec.driver_pod()), spec.delete_timeout, Duration::from_millis(500), || {
        let pods = pods.clone();
        let name = spec.driver_pod();
        async move { pods.get_opt(&name).await.map(|p| p.is_none().then_some(())).map_err(KubeError::api(format!("reading pod {name}"))) }
    })
    .await
}

/// Why an attempt ended without success.
pub(super) enum Stop {
    /// The driver ran and failed: `detail` says why (root cause first). Nothing was removed, so
    /// the caller may retry.
    DriverFailed(String),
    /// The job cannot go on (did not start, timed out, lost); what it made was removed.
    Fatal(Diagnostics),
}

impl Job {
    /// Follows the driver of `spec`'s attempt to its end, following its executors in `runs`.
    pub(super) async fn wait(&self, client: &kube::Client, spec: &JobSpec, runs: &mut ExecutorRuns) -> Result<Pod, Stop> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
        let name = spec.driver_pod();
        let start = tokio::time::Instant::now();
        let mut running = false;
        let mut executor_check = start;
        let mut executor_count = start;
        let executors = ListParams::default().labels(&format!(
            "sparkoss.io/job={},spark-role=executor,{}={}",
            spec.name,
            super::retry::ATTEMPT_LABEL,
            spec.attempt
        ));
        let follow = |runs: &mut ExecutorRuns, list: Option<Vec<Pod>>| {
            if let Some(list) = list {
                runs.observe(&list, time::OffsetDateTime::now_utc().unix_timestamp());
            }
        };
        loop {
            let pod = pods
                .get_opt(&name)
                .await
                .map_err(|e| Stop::Fatal(KubeError::api(format!("reading pod {name}"))(e).diag("Cannot follow the job", None)))?
                .ok_or_else(|| {
                    Stop::Fatal(err("Spark job lost", None, format!("driver pod {}/{name} was deleted while the job ran", spec.namespace)))
                })?;
            let o = observe(&pod);
            if spec.allocation.is_some()
                && (o.state != "PENDING" && o.state != "RUNNING" || executor_count.elapsed() >= Duration::from_secs(1))
            {
                // Dynamic allocation: executors come and go; each listing records who ran.
                executor_count = tokio::time::Instant::now();
                follow(runs, pods.list(&executors).await.ok().map(|l| l.items));
            }
            match o.state {
                "SUCCEEDED" => {
                    runs.finish(time::OffsetDateTime::now_utc().unix_timestamp());
                    return Ok(pod);
                }
                "FAILED" => {
                    runs.finish(time::OffsetDateTime::now_utc().unix_timestamp());
                    // Enough of the log to hold the whole stack trace of the failure.
                    let logs = log_tail(&pods, &name, 400).await;
                    return Err(Stop::DriverFailed(failure_detail(&spec.namespace, &name, o.exit_code.unwrap_or(-1), o.message, &logs)));
                }
                "RUNNING" => running = true,
                _ => {}
            }
            if running && executor_check.elapsed() >= Duration::from_secs(2) {
                executor_check = tokio::time::Instant::now();
                if let Some((pod_name, reason)) = stuck_executor(&pods, spec).await {
                    let _ = remove(client, spec).await;
                    return Err(Stop::Fatal(err(
                        "Spark job's executors did not start",
                        Some("pending_timeout"),
                        format!(
                            "executor pod {}/{pod_name} did not start within {:?}: {reason}. The driver was stopped and its executors removed.",
                            spec.namespace, spec.pending_timeout
                        ),
                    )));
                }
            }
            if !running {
                let fatal = o.waiting.clone().filter(|(r, _)| FATAL_WAITING.contains(&r.as_str()));
                let pending_too_long = start.elapsed() >= spec.pending_timeout;
                if fatal.is_some() || pending_too_long {
                    let reason = fatal
                        .map(|(r, m)| format!("{r}: {m}"))
                        .or(o.unschedulable)
                        .or(o.waiting.map(|(r, m)| format!("{r}: {m}")))
                        .unwrap_or_else(|| "still Pending".into());
                    let _ = remove(client, spec).await;
                    return Err(Stop::Fatal(err(
                        "Spark job did not start",
                        Some(if pending_too_long { "pending_timeout" } else { "image" }),
                        format!(
                            "driver pod {}/{name} did not start within {:?}: {reason}. The pod was removed.",
                            spec.namespace, spec.pending_timeout
                        ),
                    )));
                }
            }
            if start.elapsed() >= spec.create_timeout {
                let _ = remove(client, spec).await;
                return Err(Stop::Fatal(err(
                    "Spark job timed out",
                    Some("timeouts"),
                    format!("driver pod {}/{name} still running after {:?}; it was removed", spec.namespace, spec.create_timeout),
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
