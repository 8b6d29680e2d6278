//! The quota checked at `terraform plan`: where the connection is known and the namespace
//! exists, a job whose driver plus (maximum) executors cannot fit the namespace's
//! ResourceQuotas is refused before anything is created. The same check runs again at apply
//! (other jobs may have started in between).

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, ListParams};

use super::quota::quota_fits;
use super::spec::JobSpec;
use crate::core::{Diagnostics, Value};
use crate::kube_conn::Connection;

/// The values the check needs, all known at plan (none is when the cluster or the namespace is
/// created by the same apply).
fn known(planned: &Value) -> bool {
    let sizes = ["cores", "memory", "memory_overhead"];
    let executor = planned.attr("executor");
    let driver = planned.attr("driver");
    !planned.attr("namespace").is_unknown()
        && planned.attr("namespace").as_str().is_some()
        && !driver.is_unknown()
        && !executor.is_unknown()
        && sizes.iter().all(|a| !driver.attr(a).is_unknown() && !executor.attr(a).is_unknown())
        && ["instances", "max_instances"].iter().all(|a| !executor.attr(a).is_unknown())
}

/// Checks `planned` against the quotas of its namespace. Says nothing when it cannot judge:
/// the connection or the sizes are unknown, the cluster cannot be reached, or the namespace
/// does not exist yet (apply checks again then).
pub(super) async fn check(planned: &Value) -> Diagnostics {
    if !known(planned) {
        return Diagnostics::new();
    }
    let Ok(conn) = Connection::from_value(planned) else { return Diagnostics::new() };
    let Ok(client) = conn.client().await else { return Diagnostics::new() };
    let spec = JobSpec::from_value(planned);
    let api: Api<ResourceQuota> = Api::namespaced(client, &spec.namespace);
    // A plan must not hang on a cluster that does not answer: the check is advice, apply decides.
    let listed = tokio::time::timeout(std::time::Duration::from_secs(15), api.list(&ListParams::default())).await;
    let Ok(Ok(quotas)) = listed else { return Diagnostics::new() };
    for q in quotas {
        let qname = q.metadata.name.clone().unwrap_or_default();
        let hard = q.spec.and_then(|s| s.hard).unwrap_or_default();
        let used = q.status.and_then(|s| s.used).unwrap_or_default();
        if let Err(d) = quota_fits(&spec, &qname, &hard, &used) {
            return d;
        }
    }
    Diagnostics::new()
}
