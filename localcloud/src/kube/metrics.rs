//! The resource metrics API (`metrics.k8s.io/v1beta1`), as metrics-server serves it: discovery,
//! `PodMetrics` and `NodeMetrics`. The Docker kubelet samples its containers' real CPU and memory
//! through the engine's stats ([`usage_from_stats`]) every few seconds and keeps the latest
//! sample per pod in the store; pods without a sample (the rule-based kubelet's) are not listed,
//! as metrics-server leaves out pods it has not scraped. The node's usage is the sum of its pods'.

use axum::response::Response;
use serde_json::{json, Value as Json};

use super::rbac::{authorize, Attributes, UserInfo};
use super::store::{ApiError, Store};
use super::{error_response, json_response, not_found_path};

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// Its one version.
pub const VERSION: &str = "v1beta1";

/// One container's usage in a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// CPU in nanocores (cores × 10⁹), averaged over the window.
    pub nanocores: u64,
    /// Working-set memory in bytes.
    pub bytes: u64,
}

/// The latest sample of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSample {
    /// When it was taken (RFC 3339).
    pub timestamp: String,
    /// Over how long the CPU was averaged, in seconds.
    pub window_secs: f64,
    /// Per container.
    pub containers: Vec<ContainerUsage>,
}

/// CPU (nanocores, over the engine's own interval between `precpu_stats` and `cpu_stats`) and
/// working-set memory (usage less inactive file pages, as the kubelet counts it) of one stats
/// answer; `None` when the engine gave no CPU figures yet.
pub fn usage_from_stats(s: &bollard::models::ContainerStatsResponse) -> Option<(u64, u64)> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref()?;
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0);
    let system = cpu.system_cpu_usage?;
    let pre_system = pre.system_cpu_usage.unwrap_or(0);
    let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
    let nanocores = if system > pre_system && total >= pre_total {
        ((total - pre_total) as f64 / (system - pre_system) as f64 * cpus * 1e9) as u64
    } else {
        0
    };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let inactive = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| st.get("inactive_file").or_else(|| st.get("total_inactive_file")).copied())
        .unwrap_or(0);
    Some((nanocores, usage.saturating_sub(inactive)))
}

fn cpu_quantity(nanocores: u64) -> String {
    format!("{nanocores}n")
}

fn memory_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// Discovery: `/apis/metrics.k8s.io/v1beta1`.
pub fn resources() -> Json {
    let verbs = json!(["get", "list"]);
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{VERSION}"), "resources": [
        {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": verbs},
        {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": verbs},
    ]})
}

/// Discovery: the group as `/apis` lists it.
pub fn group() -> Json {
    let gv = json!({"groupVersion": format!("{GROUP}/{VERSION}"), "version": VERSION});
    json!({"name": GROUP, "versions": [gv], "preferredVersion": gv})
}

fn pod_metrics(ns: &str, name: &str, s: &PodSample) -> Json {
    let containers: Vec<Json> = s
        .containers
        .iter()
        .map(|c| json!({"name": c.name, "usage": {"cpu": cpu_quantity(c.nanocores), "memory": memory_quantity(c.bytes)}}))
        .collect();
    json!({"kind": "PodMetrics", "apiVersion": format!("{GROUP}/{VERSION}"),
           "metadata": {"name": name, "namespace": ns, "creationTimestamp": s.timestamp},
           "timestamp": s.timestamp, "window": format!("{}s", s.window_secs.round() as u64), "containers": containers})
}

/// `PodMetrics` of one pod, or the list of a namespace (`None`: every namespace).
pub fn pods(store: &Store, ns: Option<&str>, name: Option<&str>) -> Result<Json, ApiError> {
    if let (Some(ns), Some(name)) = (ns, name) {
        return store.metrics.get(&(ns.to_owned(), name.to_owned())).map(|s| pod_metrics(ns, name, s)).ok_or_else(|| ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("podmetrics.metrics.k8s.io \"{ns}/{name}\" not found"),
            details: json!({"name": name, "group": GROUP, "kind": "pods"}),
        });
    }
    let items: Vec<Json> = store
        .metrics
        .iter()
        .filter(|((pns, _), _)| ns.is_none_or(|n| n == pns))
        .map(|((pns, pname), s)| pod_metrics(pns, pname, s))
        .collect();
    Ok(json!({"kind": "PodMetricsList", "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": items}))
}

/// `NodeMetrics` of each node (the sum of the latest samples of the pods bound to it), one or as
/// a list.
pub fn nodes(store: &Store, name: Option<&str>) -> Result<Json, ApiError> {
    let (Some(pods), Some(nodes)) = (super::store::kind("", "pods"), super::store::kind("", "nodes")) else {
        return Ok(json!({"kind": "NodeMetricsList", "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": []}));
    };
    let item = |node: &str| {
        let on_node = |(ns, pod): &(String, String)| store.get(pods, ns, pod).is_ok_and(|p| p["spec"]["nodeName"] == node);
        let samples: Vec<&PodSample> = store.metrics.iter().filter(|(k, _)| on_node(k)).map(|(_, s)| s).collect();
        let (cpu, mem) = samples.iter().flat_map(|s| s.containers.iter()).fold((0u64, 0u64), |(c, m), u| (c + u.nanocores, m + u.bytes));
        let ts = samples.iter().map(|s| s.timestamp.clone()).max().unwrap_or_else(super::store::now_rfc3339);
        json!({"kind": "NodeMetrics", "apiVersion": format!("{GROUP}/{VERSION}"),
               "metadata": {"name": node, "creationTimestamp": ts}, "timestamp": ts, "window": "10s",
               "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(mem)}})
    };
    let names: Vec<String> = store.iter(nodes, None).filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned)).collect();
    match name {
        Some(n) if names.iter().any(|x| x == n) => Ok(item(n)),
        Some(n) => Err(ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("nodemetrics.metrics.k8s.io \"{n}\" not found"),
            details: json!({"name": n, "group": GROUP, "kind": "nodes"}),
        }),
        None => Ok(json!({"kind": "NodeMetricsList", "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {},
                          "items": names.iter().map(|n| item(n)).collect::<Vec<_>>()})),
    }
}

impl super::Api {
    /// `metrics.k8s.io/v1beta1`: `pods` (all, a namespace's, one) and `nodes` (all, one).
    pub(super) fn metrics(&self, path: &str, user: &UserInfo) -> Response {
        let rest = path.trim_start_matches(&format!("/apis/{}/{}/", GROUP, VERSION));
        let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let (resource, ns, name) = match segs.as_slice() {
            ["pods"] => ("pods", None, None),
            ["nodes"] => ("nodes", None, None),
            ["nodes", n] => ("nodes", None, Some(*n)),
            ["namespaces", ns, "pods"] => ("pods", Some(*ns), None),
            ["namespaces", ns, "pods", n] => ("pods", Some(*ns), Some(*n)),
            _ => return not_found_path(),
        };
        let attrs = Attributes {
            verb: if name.is_some() { "get" } else { "list" },
            group: GROUP,
            resource,
            subresource: None,
            namespace: ns,
            name,
        };
        let s = self.lock();
        if let Err(e) = authorize(&s, user, &attrs) {
            return error_response(&e);
        }
        let answer = if resource == "pods" { pods(&s, ns, name) } else { nodes(&s, name) };
        match answer {
            Ok(body) => json_response(200, &body),
            Err(e) => error_response(&e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats, ContainerStatsResponse};

    use super::*;

    #[test]
    fn stats_become_nanocores_and_working_set() {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), ..Default::default() }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        };
        let mut stats = std::collections::HashMap::new();
        stats.insert("inactive_file".to_owned(), 1024 * 1024);
        let s = ContainerStatsResponse {
            // Half a core: 0.25 of the machine's two CPUs' time.
            cpu_stats: Some(cpu(1_500_000_000, 10_000_000_000)),
            precpu_stats: Some(cpu(1_000_000_000, 8_000_000_000)),
            memory_stats: Some(ContainerMemoryStats { usage: Some(5 * 1024 * 1024), stats: Some(stats), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(usage_from_stats(&s), Some((500_000_000, 4 * 1024 * 1024)));
        let mut store = Store::new();
        let sample = PodSample {
            timestamp: "2026-11-27T12:00:00Z".into(),
            window_secs: 1.0,
            containers: vec![ContainerUsage { name: "main".into(), nanocores: 500_000_000, bytes: 4 * 1024 * 1024 }],
        };
        store.metrics.insert(("team".into(), "driver".into()), sample);
        let k = |p: &str| crate::kube::store::kind("", p).unwrap();
        store.create(k("namespaces"), "", json!({"metadata": {"name": "team"}})).unwrap();
        store.create(k("nodes"), "", json!({"metadata": {"name": "n1"}})).unwrap();
        store
            .create(
                k("pods"),
                "team",
                json!({"metadata": {"name": "driver"}, "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "i"}]}}),
            )
            .unwrap();
        let one = pods(&store, Some("team"), Some("driver")).unwrap();
        assert_eq!(one["containers"][0]["usage"], json!({"cpu": "500000000n", "memory": "4096Ki"}));
        assert_eq!(pods(&store, Some("other"), None).unwrap()["items"], json!([]));
        assert_eq!(pods(&store, Some("team"), Some("nope")).unwrap_err().code, 404);
        assert_eq!(nodes(&store, None).unwrap()["items"][0]["usage"]["cpu"], "500000000n");
        assert_eq!(nodes(&store, Some("n2")).unwrap_err().code, 404);
    }
}
