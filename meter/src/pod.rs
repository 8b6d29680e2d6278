//! What the meter records of a pod: its job, user and role from the sparkoss labels, what it
//! requested, and when it ran. Read from the pod object alone, so a relist after a restart
//! yields the same record as the events did.

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sparkoss_quantity::{Quantity as Amount, QuantityError};

/// The label that selects the pods the meter watches (and its value).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "sparkoss");
/// The job label.
pub const JOB_LABEL: &str = "sparkoss.io/job";
/// The user (or team) label.
pub const USER_LABEL: &str = "sparkoss.io/user";
/// Spark's role label.
pub const ROLE_LABEL: &str = "spark-role";

/// A pod's role in its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Spark driver: one per job run.
    Driver,
    /// A Spark executor.
    Executor,
    /// Anything else the sparkoss labels select.
    Other,
}

impl Role {
    /// As stored: `driver`, `executor`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Driver => "driver",
            Role::Executor => "executor",
            Role::Other => "other",
        }
    }
}

/// A pod as the meter records it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecord {
    /// Pod uid (the row key).
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Job (`sparkoss.io/job`; Spark's `spark-app-name` or the pod name when absent).
    pub job: String,
    /// User or team (`sparkoss.io/user`), empty when unlabelled.
    pub user: String,
    /// Role.
    pub role: Role,
    /// CPU requested, millicores: the larger of the containers' sum and the largest init
    /// container, as the scheduler counts it.
    pub cpu_request_millis: i64,
    /// Memory requested, bytes (same rule).
    pub memory_request_bytes: i64,
    /// CPU limit, millicores, when every container sets one.
    pub cpu_limit_millis: Option<i64>,
    /// Memory limit, bytes, when every container sets one.
    pub memory_limit_bytes: Option<i64>,
    /// `metadata.creationTimestamp` (ms).
    pub created_ms: i64,
    /// `status.startTime` (ms).
    pub started_ms: Option<i64>,
    /// When it ended: the last container's `finishedAt` once the phase is final.
    pub ended_ms: Option<i64>,
    /// `status.phase`.
    pub phase: String,
    /// Exit code of the first container, once terminated.
    pub exit_code: Option<i64>,
    /// When the meter saw this state (ms).
    pub observed_ms: i64,
}

impl PodRecord {
    /// Reads a pod; `None` when it has no uid or namespace (not a stored object).
    pub fn from_pod(pod: &Pod, now_ms: i64) -> Option<PodRecord> {
        let meta = &pod.metadata;
        let uid = meta.uid.clone()?;
        let namespace = meta.namespace.clone()?;
        let name = meta.name.clone().unwrap_or_default();
        let key = format!("{namespace}/{name}");
        let label = |k: &str| meta.labels.as_ref().and_then(|l| l.get(k)).cloned();
        let job = label(JOB_LABEL).or_else(|| label("spark-app-name")).unwrap_or_else(|| name.clone());
        let role = match label(ROLE_LABEL).as_deref() {
            Some("driver") => Role::Driver,
            Some("executor") => Role::Executor,
            _ => Role::Other,
        };
        let spec = pod.spec.as_ref();
        let containers: &[Container] = spec.map_or(&[], |s| s.containers.as_slice());
        let init: &[Container] = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or(&[]);
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".to_owned());
        let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[]);
        let terminated: Vec<_> = statuses.iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref()).collect();
        let final_phase = phase == "Succeeded" || phase == "Failed";
        let ended_ms = final_phase.then(|| terminated.iter().filter_map(|t| t.finished_at.as_ref()).map(millis).max()).flatten();
        // A final phase without a finish time (never started, evicted) ends when it is seen.
        let ended_ms = if final_phase { Some(ended_ms.unwrap_or(now_ms)) } else { None };
        let first = containers.first().map(|c| c.name.as_str());
        let exit_code = statuses
            .iter()
            .find(|c| Some(c.name.as_str()) == first)
            .and_then(|c| c.state.as_ref()?.terminated.as_ref())
            .map(|t| i64::from(t.exit_code));
        Some(PodRecord {
            uid,
            namespace,
            name,
            job,
            user: label(USER_LABEL).unwrap_or_default(),
            role,
            cpu_request_millis: effective(&key, containers, init, "cpu", true, Amount::milli_value).unwrap_or(0),
            memory_request_bytes: effective(&key, containers, init, "memory", true, Amount::value).unwrap_or(0),
            cpu_limit_millis: effective(&key, containers, init, "cpu", false, Amount::milli_value),
            memory_limit_bytes: effective(&key, containers, init, "memory", false, Amount::value),
            created_ms: meta.creation_timestamp.as_ref().map_or(now_ms, millis),
            started_ms: status.and_then(|s| s.start_time.as_ref()).map(millis),
            ended_ms,
            phase,
            exit_code,
            observed_ms: now_ms,
        })
    }

    /// Whether the pod has ended (its phase is final).
    pub fn ended(&self) -> bool {
        self.ended_ms.is_some()
    }
}

/// A Kubernetes timestamp as milliseconds since the epoch.
pub fn millis(t: &Time) -> i64 {
    t.0.as_millisecond()
}

/// The scheduler's view of a resource for a pod: max(Σ containers, max init container), in the
/// record's unit (`Amount::milli_value` for CPU, `Amount::value` for memory: both round up, as
/// Kubernetes does). For limits (`requests = false`) the sum is known only when every container
/// sets one. `pod` (`namespace/name`) names the pod in the warning about a field it cannot read.
fn effective(pod: &str, containers: &[Container], init: &[Container], resource: &str, requests: bool, unit: Unit) -> Option<i64> {
    let value = |list: &str, c: &Container| {
        let r = c.resources.as_ref()?;
        let (kind, map) = if requests { ("requests", r.requests.as_ref()) } else { ("limits", r.limits.as_ref()) };
        // Kubernetes defaults a missing request to the limit.
        let (kind, q): (&str, &Quantity) = match map.and_then(|m| m.get(resource)) {
            Some(q) => (kind, q),
            None if requests => ("limits", r.limits.as_ref()?.get(resource)?),
            None => return None,
        };
        match Amount::parse_trimmed(&q.0).and_then(|a| unit(&a)) {
            Ok(v) => Some(v),
            Err(e) => {
                // The API server refuses such a pod, so only a foreign writer makes one: say
                // which field, and count it as unset rather than drop the whole record.
                tracing::warn!("pod {pod}: {list}[{}].resources.{kind}.{resource}: {e}", c.name);
                None
            }
        }
    };
    // Saturating: a sum of huge (valid) quantities must not wrap or panic.
    let sum = if requests {
        Some(containers.iter().map(|c| value("containers", c).unwrap_or(0)).fold(0i64, i64::saturating_add))
    } else {
        containers.iter().map(|c| value("containers", c)).try_fold(0i64, |acc, v| v.map(|v| acc.saturating_add(v)))
    };
    let init_max = init.iter().filter_map(|c| value("initContainers", c)).max();
    match (sum, init_max) {
        (Some(s), Some(i)) => Some(s.max(i)),
        (s, None) => s,
        (None, Some(_)) => None,
    }
}

/// A quantity in the unit a record keeps it in.
type Unit = fn(&Amount) -> Result<i64, QuantityError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("pod json")
    }

    #[test]
    fn a_finished_driver_is_read_from_labels_resources_and_status() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "etl-driver", "namespace": "team-a", "uid": "u1", "creationTimestamp": "2026-11-27T10:00:00Z",
                         "labels": {"app.kubernetes.io/managed-by": "sparkoss", "sparkoss.io/job": "etl", "sparkoss.io/user": "ana", "spark-role": "driver"}},
            "spec": {"containers": [
                {"name": "spark", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}},
                {"name": "side", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}],
                     "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "3"}}}]},
            "status": {"phase": "Succeeded", "startTime": "2026-11-27T10:00:05Z", "containerStatuses": [
                {"name": "spark", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-27T10:01:05Z", "startedAt": "2026-11-27T10:00:05Z"}}},
                {"name": "side", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"terminated": {"exitCode": 137, "finishedAt": "2026-11-27T10:01:07Z"}}}]}
        }));
        let r = PodRecord::from_pod(&p, 42).expect("record");
        assert_eq!((r.job.as_str(), r.user.as_str(), r.role), ("etl", "ana", Role::Driver));
        // Requests: max(1000 + 100 (request defaults to limit), init 3000).
        assert_eq!(r.cpu_request_millis, 3000);
        assert_eq!(r.memory_request_bytes, 1024 * 1024 * 1024 + 64 * 1024 * 1024);
        assert_eq!(r.cpu_limit_millis, Some(2100));
        assert_eq!(r.started_ms, Some(1_795_773_605_000));
        assert_eq!(r.ended_ms, Some(1_795_773_667_000), "the last container's finish");
        assert_eq!(r.exit_code, Some(0), "the first container's exit code");
    }

    #[test]
    fn resources_are_read_exactly_as_kubernetes_rounds_them() {
        let with = |cpu: &str, memory: &str| {
            let p = pod(serde_json::json!({
                "metadata": {"name": "p", "namespace": "n", "uid": "u"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}}]}
            }));
            let r = PodRecord::from_pod(&p, 0).expect("record");
            (r.cpu_request_millis, r.memory_request_bytes, r.cpu_limit_millis, r.memory_limit_bytes)
        };
        // The float parser made 2.007 cores 2008 millicores (2.007 × 1000 = 2007.0000000000002, ceiled).
        assert_eq!(with("2.007", "2.007k"), (2007, 2007, Some(2007), Some(2007)));
        assert_eq!(with("0.07", "1e3"), (70, 1000, Some(70), Some(1000)));
        assert_eq!(with("1500000n", "0.5Ki"), (2, 512, Some(2), Some(512)), "MilliValue rounds up");
        assert_eq!(with("500m", "1.5"), (500, 2, Some(500), Some(2)), "Value rounds up");
        // Suffixes the old tables lacked: M/G for CPU, E/Ei for memory.
        assert_eq!(with("1M", "1Ei"), (1_000_000_000, 1 << 60, Some(1_000_000_000), Some(1 << 60)));
        assert_eq!(with("2", "1E"), (2000, 1_000_000_000_000_000_000, Some(2000), Some(1_000_000_000_000_000_000)));
        // What cannot be read counts as unset: no request, no known limit.
        assert_eq!(with("two", "12Qi"), (0, 0, None, None));
        assert_eq!(with("1e3Gi", "10E"), (0, 0, None, None), "malformed, and beyond an i64 of bytes");
    }

    #[test]
    fn a_running_pod_has_no_end_and_an_unlabelled_one_falls_back() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "x-exec-1", "namespace": "n", "uid": "u2", "labels": {"spark-role": "executor", "spark-app-name": "x"}},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "startTime": "2026-11-27T10:00:05Z"}
        }));
        let r = PodRecord::from_pod(&p, 7).expect("record");
        assert_eq!((r.job.as_str(), r.user.as_str(), r.role), ("x", "", Role::Executor));
        assert_eq!((r.cpu_request_millis, r.cpu_limit_millis, r.ended_ms, r.created_ms), (0, None, None, 7));
    }
}
