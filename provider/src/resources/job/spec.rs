//! The job as configured, in the terms the cluster needs: pod sizes, totals, labels.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::Value;
use crate::kube_conn::parse_duration;

/// JVM memory (`4g`, `512m`, `1024k`, bytes) in MiB.
pub(super) fn jvm_mib(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (n, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1.0 / 1024.0),
        'm' => (&s[..s.len() - 1], 1.0),
        'g' => (&s[..s.len() - 1], 1024.0),
        't' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        _ => (s.as_str(), 1.0 / 1048576.0),
    };
    n.parse::<f64>().ok().map(|v| (v * mul).ceil() as u64)
}

/// Requests of one pod: cores and MiB (heap + overhead, Spark's 10% with a 384 MiB floor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PodSize {
    pub(super) cores: u64,
    pub(super) mib: u64,
}

pub(super) fn pod_size(block: &Value) -> PodSize {
    let cores = block.attr("cores").as_number().and_then(|n| n.as_i64()).unwrap_or(1).max(1) as u64;
    let heap = block.attr("memory").as_str().and_then(jvm_mib).unwrap_or(1024);
    let overhead = block.attr("memory_overhead").as_str().and_then(jvm_mib).unwrap_or_else(|| (heap / 10).max(384));
    PodSize { cores, mib: heap + overhead }
}

/// The job as configured, in the terms the cluster needs.
pub(super) struct JobSpec {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) user: Option<String>,
    pub(super) image: String,
    pub(super) main_application: String,
    pub(super) driver: PodSize,
    pub(super) executor: PodSize,
    /// Executors counted by the quota: `executor.instances`, or `max_instances` with dynamic
    /// allocation.
    pub(super) instances: u64,
    /// Dynamic allocation's bounds, when `executor.max_instances` is set.
    pub(super) allocation: Option<super::allocation::Allocation>,
    /// Which submission this is (1 first; a retry after a failed driver adds one).
    pub(super) attempt: u32,
    pub(super) wait: bool,
    pub(super) pending_timeout: Duration,
    pub(super) create_timeout: Duration,
    pub(super) delete_timeout: Duration,
}

impl JobSpec {
    pub(super) fn from_value(v: &Value) -> JobSpec {
        let t =
            |op: &str, default: u64| v.attr("timeouts").attr(op).as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(default));
        JobSpec {
            name: v.attr("name").as_str().unwrap_or_default().to_owned(),
            namespace: v.attr("namespace").as_str().unwrap_or_default().to_owned(),
            user: v.attr("user").as_str().map(str::to_owned),
            image: v.attr("image").as_str().unwrap_or_default().to_owned(),
            main_application: v.attr("main_application").as_str().unwrap_or_default().to_owned(),
            driver: pod_size(v.attr("driver")),
            executor: pod_size(v.attr("executor")),
            instances: super::allocation::allocation(v.attr("executor"))
                .map(|a| a.max)
                .unwrap_or_else(|| v.attr("executor").attr("instances").as_number().and_then(|n| n.as_i64()).unwrap_or(2).max(0) as u64),
            allocation: super::allocation::allocation(v.attr("executor")),
            attempt: super::retry::attempt_of(v),
            wait: v.attr("wait_for_completion").as_bool().unwrap_or(true),
            pending_timeout: v.attr("pending_timeout").as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(300)),
            create_timeout: t("create", 3600),
            delete_timeout: t("delete", 600),
        }
    }

    /// The driver pod of this attempt: `<name>-driver` first, then `<name>-driver-<attempt>`.
    pub(super) fn driver_pod(&self) -> String {
        super::retry::driver_pod_name(&self.name, self.attempt)
    }

    /// The ConfigMap holding the executor pod template (see `placement`).
    pub(super) fn template_config_map(&self) -> String {
        format!("{}-executor-template", self.name)
    }

    pub(super) fn service(&self) -> String {
        format!("{}-driver-svc", self.name)
    }

    /// The Secret holding the job's sensitive attributes (see [`SENSITIVE`]).
    pub(super) fn secret(&self) -> String {
        format!("{}-job-spec", self.name)
    }

    pub(super) fn labels(&self, role: &str) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("app.kubernetes.io/managed-by".to_owned(), "sparkoss".to_owned());
        l.insert("sparkoss.io/job".to_owned(), self.name.clone());
        if let Some(u) = &self.user {
            l.insert("sparkoss.io/user".to_owned(), u.clone());
        }
        l.insert("spark-role".to_owned(), role.to_owned());
        l.insert(super::retry::ATTEMPT_LABEL.to_owned(), self.attempt.to_string());
        l
    }

    /// Total requests of driver + executors: cores, MiB, pods.
    pub(super) fn total(&self) -> (u64, u64, u64) {
        (self.driver.cores + self.instances * self.executor.cores, self.driver.mib + self.instances * self.executor.mib, 1 + self.instances)
    }
}

/// The sensitive attributes: they reach the driver through the job's Secret and are left out of
/// the spec annotation.
pub(super) const SENSITIVE: &[&str] = &["args", "jars", "py_files", "files", "spark_conf", "env"];

/// The key of the spec annotation holding the SHA-256 of the whole [`spec_json`].
pub(super) const SPEC_HASH_KEY: &str = "spec_sha256";

/// The configured (non-computed, non-connection) attributes: what import rebuilds.
pub(super) fn spec_json(v: &Value) -> serde_json::Value {
    let keep = [
        "name",
        "namespace",
        "user",
        "image",
        "main_application",
        "main_class",
        "args",
        "jars",
        "py_files",
        "files",
        "spark_conf",
        "env",
        "service_account",
        "oss_credentials_secret",
        "wait_for_completion",
        "pending_timeout",
        "retries",
        "retry_interval",
        "driver",
        "executor",
        "timeouts",
    ];
    let mut m = serde_json::Map::new();
    for k in keep {
        if let Ok(j) = v.attr(k).to_json() {
            m.insert(k.to_owned(), j);
        }
    }
    serde_json::Value::Object(m)
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    v.elements().map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

pub(super) fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.entries().map(|m| m.iter().filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_owned()))).collect()).unwrap_or_default()
}

/// The SHA-256 (hex) of the whole configuration ([`spec_json`], sensitive attributes included),
/// so a change to a sensitive attribute is visible without its value.
pub(super) fn spec_hash(v: &Value) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(spec_json(v).to_string().as_bytes()))
}

/// What the spec annotation holds: [`spec_json`] without the [`SENSITIVE`] attributes, plus the
/// hash of the whole of it ([`SPEC_HASH_KEY`]). Anyone who may `get pods` can read it.
pub(super) fn public_spec_json(v: &Value) -> serde_json::Value {
    let mut j = spec_json(v);
    if let Some(m) = j.as_object_mut() {
        for k in SENSITIVE {
            m.remove(*k);
        }
        m.insert(SPEC_HASH_KEY.to_owned(), serde_json::Value::String(spec_hash(v)));
    }
    j
}
