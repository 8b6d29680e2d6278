//! What the meter records of a pod: its job, user and role from the sparkoss labels, what it
//! requested, and when it ran. Read from the pod object alone, so a relist after a restart
//! yields the same record as the events did.

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

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
            cpu_request_millis: effective(containers, init, "cpu", true, cpu_millis).unwrap_or(0),
            memory_request_bytes: effective(containers, init, "memory", true, bytes).unwrap_or(0),
            cpu_limit_millis: effective(containers, init, "cpu", false, cpu_millis),
            memory_limit_bytes: effective(containers, init, "memory", false, bytes),
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

/// The scheduler's view of a resource for a pod: max(Σ containers, max init container).
/// For limits (`requests = false`) the sum is known only when every container sets one.
fn effective(containers: &[Container], init: &[Container], resource: &str, requests: bool, parse: fn(&str) -> Option<i64>) -> Option<i64> {
    let value = |c: &Container| {
        let r = c.resources.as_ref()?;
        let map = if requests { r.requests.as_ref() } else { r.limits.as_ref() };
        // Kubernetes defaults a missing request to the limit.
        let q: Option<&Quantity> =
            map.and_then(|m| m.get(resource)).or_else(|| if requests { r.limits.as_ref()?.get(resource) } else { None });
        q.and_then(|q| parse(&q.0))
    };
    let sum = if requests {
        Some(containers.iter().map(|c| value(c).unwrap_or(0)).sum::<i64>())
    } else {
        containers.iter().map(value).sum::<Option<i64>>()
    };
    let init_max = init.iter().filter_map(value).max();
    match (sum, init_max) {
        (Some(s), Some(i)) => Some(s.max(i)),
        (s, None) => s,
        (None, Some(_)) => None,
    }
}

/// Splits a quantity into its number and suffix.
fn split_quantity(q: &str) -> (f64, &str) {
    let q = q.trim();
    let end = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(q.len());
    // `1e3` is a decimal exponent, not a suffix: keep it in the number.
    let (num, suffix) = if q[end..].starts_with(['e', 'E']) && q[end + 1..].chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+') {
        (q, "")
    } else {
        (&q[..end], &q[end..])
    };
    (num.parse().unwrap_or(f64::NAN), suffix)
}

/// A quantity in the unit a suffix table gives (`None`: unknown suffix or not a number).
fn scaled(q: &str, units: &[(&str, f64)]) -> Option<f64> {
    let (n, suffix) = split_quantity(q);
    let scale = units.iter().find(|(s, _)| *s == suffix)?.1;
    Some(n * scale).filter(|v| v.is_finite())
}

/// CPU suffixes, in millicores.
const CPU_MILLIS: &[(&str, f64)] = &[("", 1000.0), ("m", 1.0), ("u", 0.001), ("n", 0.000_001), ("k", 1_000_000.0)];
/// CPU suffixes, in nanocores (metrics-server writes `12345678n`).
const CPU_NANOS: &[(&str, f64)] = &[("", 1e9), ("m", 1e6), ("u", 1e3), ("n", 1.0)];
/// Memory suffixes, in bytes.
const BYTES: &[(&str, f64)] = &[
    ("", 1.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("m", 0.001),
];

/// CPU quantity (`500m`, `2`, `0.5`) in millicores, rounded up as Kubernetes does.
pub fn cpu_millis(q: &str) -> Option<i64> {
    scaled(q, CPU_MILLIS).map(|v| v.ceil() as i64)
}

/// CPU quantity in nanocores.
pub fn nanocores(q: &str) -> Option<i64> {
    scaled(q, CPU_NANOS).map(|v| v.round() as i64)
}

/// Memory quantity (`512Mi`, `1G`, `1000`) in bytes, rounded up.
pub fn bytes(q: &str) -> Option<i64> {
    scaled(q, BYTES).map(|v| v.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.25"), Some(250));
        assert_eq!(cpu_millis("1500000n"), Some(2));
        assert_eq!(cpu_millis("two"), None);
        assert_eq!(bytes("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("12Qi"), None);
    }

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
