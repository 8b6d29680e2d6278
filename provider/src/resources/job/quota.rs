//! The pre-flight against the namespace's ResourceQuotas.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams};
use sparkoss_quantity::Quantity as Amount;

use super::err;
use super::spec::JobSpec;
use crate::core::{AttrPath, Diagnostics};
use crate::kube_conn::KubeError;

/// Checks that the job fits every quota of its namespace; answers whether a quota constrains
/// `limits.cpu` (pods must then declare CPU limits).
pub(super) async fn check_quota(client: &kube::Client, spec: &JobSpec) -> Result<bool, Diagnostics> {
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), &spec.namespace);
    let quotas = api.list(&ListParams::default()).await.map_err(|e| {
        KubeError::api(format!("listing quotas of namespace {}", spec.namespace))(e)
            .diag("Pre-flight failed", Some(&AttrPath::root().attr("namespace")))
    })?;
    let mut cpu_limits = false;
    for q in quotas {
        let qname = q.metadata.name.clone().unwrap_or_default();
        let hard = q.spec.and_then(|s| s.hard).unwrap_or_default();
        cpu_limits |= hard.contains_key("limits.cpu");
        let used = q.status.and_then(|s| s.used).unwrap_or_default();
        quota_fits(spec, &qname, &hard, &used)?;
    }
    Ok(cpu_limits)
}

/// Checks the job against one quota (`hard` and `used` as the server reports them), naming the
/// attribute, `driver` or `executor`, whose size does not fit. Amounts are compared exactly, in
/// nano-units. A quota quantity that does not parse (the server validates them, so not in
/// practice) leaves that resource unchecked here: the server still enforces it at creation.
pub(super) fn quota_fits(
    spec: &JobSpec,
    qname: &str,
    hard: &BTreeMap<String, Quantity>,
    used: &BTreeMap<String, Quantity>,
) -> Result<(), Diagnostics> {
    const UNIT: i128 = 1_000_000_000;
    const MIB: i128 = 1_048_576 * UNIT;
    let (cores, mib, pods) = spec.total();
    let (cores, mem, pods) = (i128::from(cores) * UNIT, i128::from(mib) * MIB, i128::from(pods) * UNIT);
    let (driver_cores, driver_mem) = (i128::from(spec.driver.cores) * UNIT, i128::from(spec.driver.mib) * MIB);
    let nanos = |q: &Quantity| Amount::parse_trimmed(&q.0).ok().map(|a| a.nanos());
    let checks: [(&str, &str, i128, i128); 7] = [
        ("requests.cpu", "cpu", cores, driver_cores),
        ("cpu", "cpu", cores, driver_cores),
        ("limits.cpu", "cpu", cores, driver_cores),
        ("requests.memory", "memory", mem, driver_mem),
        ("memory", "memory", mem, driver_mem),
        ("limits.memory", "memory", mem, driver_mem),
        ("pods", "pods", pods, UNIT),
    ];
    for (key, what, need, driver_need) in checks {
        let Some(limit) = hard.get(key).and_then(nanos) else { continue };
        let in_use = used.get(key).and_then(nanos).unwrap_or(0);
        if in_use.saturating_add(need) <= limit {
            continue;
        }
        let fmt = |x: i128| {
            let x = Amount::from_nanos(x).as_f64();
            if what == "memory" {
                format!("{:.2}Gi", x / 1073741824.0)
            } else {
                format!("{x}")
            }
        };
        let attr = if in_use.saturating_add(driver_need) > limit { "driver" } else { "executor" };
        // With dynamic allocation the executors counted are the most Spark may ask for.
        let per_executor = if spec.instances == 0 { 0 } else { (need - driver_need) / i128::from(spec.instances) };
        return Err(err(
            "Job does not fit the namespace quota",
            Some(attr),
            format!(
                "namespace {} quota {qname} allows {key}={} with {} in use ({} free); this job needs {} (driver {} + {} executors × {}). Nothing was created.",
                spec.namespace,
                hard.get(key).map(|h| h.0.clone()).unwrap_or_default(),
                fmt(in_use),
                fmt((limit - in_use).max(0)),
                fmt(need),
                fmt(driver_need),
                spec.instances,
                fmt(per_executor),
            ),
        ));
    }
    Ok(())
}
