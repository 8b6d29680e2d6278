//! Reading `metrics.k8s.io/v1beta1` PodMetrics (what metrics-server, and ACK, serve): the
//! sparkoss pods' CPU and working-set memory, summed over their containers.

use kube::Client;
use serde::Deserialize;
use sparkoss_quantity::{Quantity, QuantityError};

use crate::error::MeterError;
use crate::pod::MANAGED_BY;

/// One pod's usage at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The sample's timestamp (ms since the epoch).
    pub at_ms: i64,
    /// CPU, nanocores.
    pub cpu_nanocores: i64,
    /// Working-set memory, bytes.
    pub memory_bytes: i64,
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    metadata: Meta,
    timestamp: String,
    #[serde(default)]
    containers: Vec<ContainerMetrics>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize)]
struct ContainerMetrics {
    #[serde(default)]
    name: String,
    usage: std::collections::BTreeMap<String, String>,
}

/// What one read of `metrics.k8s.io` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampled {
    /// The pods' usage.
    Served(Vec<PodUsage>),
    /// The cluster does not serve the API (no metrics-server).
    NotServed,
    /// The API refused the meter's credentials (403); the API server's message. Metering goes
    /// on from requests: usage samples are a refinement, not a need.
    Forbidden(String),
}

/// The path of the sparkoss pods' metrics: of one namespace (what a Role there may read), or of
/// every namespace.
fn pods_path(namespace: Option<&str>) -> String {
    let selector = format!("{}%3D{}", MANAGED_BY.0.replace('/', "%2F"), MANAGED_BY.1);
    match namespace {
        Some(ns) => format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector={selector}"),
        None => format!("/apis/metrics.k8s.io/v1beta1/pods?labelSelector={selector}"),
    }
}

/// The sparkoss pods' metrics in `namespace`, or in every namespace when `None`.
pub async fn pod_metrics(client: &Client, namespace: Option<&str>) -> Result<Sampled, MeterError> {
    let req = http::Request::get(pods_path(namespace))
        .body(Vec::new())
        .map_err(|e| MeterError::Kube(format!("building the metrics request: {e}")))?;
    let list: List = match client.request(req).await {
        Ok(l) => l,
        // No metrics-server: the group is not served at all.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 503 => return Ok(Sampled::NotServed),
        Err(kube::Error::Api(s)) if s.code == 403 => return Ok(Sampled::Forbidden(s.message)),
        Err(e) => return Err(MeterError::Kube(format!("reading metrics.k8s.io pods: {e}"))),
    };
    Ok(Sampled::Served(list.items.into_iter().filter_map(usage).collect()))
}

fn usage(i: Item) -> Option<PodUsage> {
    let at = time::OffsetDateTime::parse(&i.timestamp, &time::format_description::well_known::Rfc3339).ok()?;
    let at_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    let (mut cpu, mut mem) = (0i64, 0i64);
    for c in &i.containers {
        let read = |resource: &str, unit: fn(&Quantity) -> Result<i64, QuantityError>| {
            let q = c.usage.get(resource)?;
            match Quantity::parse_trimmed(q).and_then(|q| unit(&q)) {
                Ok(v) => Some(v),
                Err(e) => {
                    // One bad sample field should not lose the pod's other containers: say which, count it as 0.
                    tracing::warn!(
                        "metrics of pod {}/{}: containers[{}].usage.{resource}: {e}",
                        i.metadata.namespace,
                        i.metadata.name,
                        c.name
                    );
                    None
                }
            }
        };
        // metrics-server writes CPU in nanocores ("12345678n"), memory in Ki.
        cpu = cpu.saturating_add(read("cpu", Quantity::nano_value).unwrap_or(0));
        mem = mem.saturating_add(read("memory", Quantity::value).unwrap_or(0));
    }
    Some(PodUsage { namespace: i.metadata.namespace, name: i.metadata.name, at_ms, cpu_nanocores: cpu, memory_bytes: mem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_read_at_its_own_path() {
        let selector = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsparkoss";
        assert_eq!(pods_path(None), format!("/apis/metrics.k8s.io/v1beta1/pods?{selector}"));
        assert_eq!(pods_path(Some("team-a")), format!("/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods?{selector}"));
    }

    #[test]
    fn containers_add_up() {
        let list: List = serde_json::from_value(serde_json::json!({"items": [{
            "metadata": {"name": "p", "namespace": "n"}, "timestamp": "2026-11-27T10:00:00Z", "window": "10s",
            "containers": [{"name": "a", "usage": {"cpu": "250m", "memory": "100Mi"}}, {"name": "b", "usage": {"cpu": "5000000n", "memory": "1Ki"}}]}]}))
        .expect("list");
        let u = list.items.into_iter().filter_map(usage).collect::<Vec<_>>();
        assert_eq!(u.len(), 1);
        assert_eq!((u[0].cpu_nanocores, u[0].memory_bytes), (255_000_000, 100 * 1024 * 1024 + 1024));
        assert_eq!(u[0].at_ms, 1_795_773_600_000);
    }

    #[test]
    fn usage_is_exact_and_a_bad_field_counts_as_zero() {
        let list: List = serde_json::from_value(serde_json::json!({"items": [{
            "metadata": {"name": "p", "namespace": "n"}, "timestamp": "2026-11-27T10:00:00Z",
            "containers": [{"name": "a", "usage": {"cpu": "0.3", "memory": "1.5Ki"}}, {"name": "b", "usage": {"cpu": "1k", "memory": "lots"}},
                           {"name": "c", "usage": {"cpu": "0.5n", "memory": "1M"}}]}]}))
        .expect("list");
        let u = list.items.into_iter().filter_map(usage).collect::<Vec<_>>();
        // 0.3 cores is 300000000n exactly; "1k" cores was unknown to the old nanocore table;
        // "0.5n" rounds up to 1n as Kubernetes parses it.
        assert_eq!((u[0].cpu_nanocores, u[0].memory_bytes), (300_000_000 + 1_000_000_000_000 + 1, 1536 + 1_000_000));
    }
}
