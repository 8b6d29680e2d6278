//! Dynamic allocation: executors that Spark adds while tasks wait and releases when idle,
//! between `executor.min_instances` and `executor.max_instances`.
//!
//! Kubernetes has no external shuffle service, so Spark must track which executors hold shuffle
//! data before it releases them (`spark.dynamicAllocation.shuffleTracking.enabled`).

use std::collections::BTreeMap;

use crate::core::validators::int_between;
use crate::core::{AttrPath, Attribute, Block, Diagnostics, Type, Value};

/// Spark settings these attributes own; `spark_conf` may not set them.
pub(super) const MANAGED_CONF: &[(&str, &str)] = &[
    ("spark.dynamicAllocation.enabled", "executor.max_instances (set, it turns dynamic allocation on)"),
    ("spark.dynamicAllocation.minExecutors", "executor.min_instances"),
    ("spark.dynamicAllocation.maxExecutors", "executor.max_instances"),
    ("spark.dynamicAllocation.initialExecutors", "executor.initial_instances"),
];

/// The bounds of a job with dynamic allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Allocation {
    /// Fewest executors Spark keeps (Spark's default 0).
    pub(super) min: u64,
    /// Most executors Spark asks for; the quota pre-flight counts these.
    pub(super) max: u64,
    /// Executors at start (default `min`).
    pub(super) initial: Option<u64>,
}

impl Allocation {
    /// What the launcher passes as `--executor-instances`: the initial count, at least 1,
    /// because 0 makes the launcher run Spark locally in the driver. Spark starts with
    /// max(min, initial, this), so the number it starts with is the one configured, or 1.
    pub(super) fn submit_instances(&self) -> u64 {
        self.initial.unwrap_or(self.min).max(1)
    }

    /// The Spark configuration that turns dynamic allocation on with these bounds.
    pub(super) fn spark_conf(&self) -> BTreeMap<String, String> {
        let mut conf = BTreeMap::new();
        conf.insert("spark.dynamicAllocation.enabled".to_owned(), "true".to_owned());
        conf.insert("spark.dynamicAllocation.minExecutors".to_owned(), self.min.to_string());
        conf.insert("spark.dynamicAllocation.maxExecutors".to_owned(), self.max.to_string());
        conf.insert("spark.dynamicAllocation.initialExecutors".to_owned(), self.submit_instances().to_string());
        conf
    }

    /// Defaults that `spark_conf` may override: shuffle tracking (without it Spark refuses
    /// dynamic allocation on Kubernetes, which has no external shuffle service).
    pub(super) fn default_conf() -> BTreeMap<String, String> {
        let mut conf = BTreeMap::new();
        conf.insert("spark.dynamicAllocation.shuffleTracking.enabled".to_owned(), "true".to_owned());
        conf
    }
}

fn int(v: &Value) -> Option<u64> {
    v.as_number().and_then(|n| n.as_i64()).and_then(|n| u64::try_from(n).ok())
}

/// The allocation of an `executor` block (state or plan): `Some` when `max_instances` is set.
pub(super) fn allocation(executor: &Value) -> Option<Allocation> {
    let max = int(executor.attr("max_instances"))?;
    Some(Allocation { min: int(executor.attr("min_instances")).unwrap_or(0), max, initial: int(executor.attr("initial_instances")) })
}

/// Adds `min_instances`, `max_instances` and `initial_instances` to the executor block.
pub(super) fn attributes(block: Block) -> Block {
    block
        .attr(
            Attribute::optional(
                "min_instances",
                Type::Number,
                "Dynamic allocation: fewest executors Spark keeps (default 0). Needs `max_instances`; conflicts with `instances`.",
            )
            .validate(int_between(0, Some(10_000))),
        )
        .attr(
            Attribute::optional(
                "max_instances",
                Type::Number,
                "Dynamic allocation: most executors Spark asks for while tasks wait. Setting it turns on Spark's dynamic allocation with shuffle tracking (executors are added during wide stages and released when idle, after `spark.dynamicAllocation.executorIdleTimeout`, 60s by default); the quota pre-flight counts the driver plus this many executors. Conflicts with `instances`.",
            )
            .validate(int_between(1, Some(10_000))),
        )
        .attr(
            Attribute::optional(
                "initial_instances",
                Type::Number,
                "Dynamic allocation: executors at start, between `min_instances` and `max_instances` (default `min_instances`, at least 1). Needs `max_instances`; conflicts with `instances`.",
            )
            .validate(int_between(1, Some(10_000))),
        )
}

/// Cross-attribute checks of the executor block: dynamic allocation conflicts with a fixed
/// `instances`, needs a maximum, and its bounds must be ordered.
pub(super) fn validate(config: &Value, diags: &mut Diagnostics) {
    let e = config.attr("executor");
    let path = AttrPath::root().attr("executor");
    let known = |n: &str| !e.attr(n).is_null();
    let dynamic: Vec<&str> = ["min_instances", "max_instances", "initial_instances"].into_iter().filter(|n| known(n)).collect();
    if dynamic.is_empty() {
        return;
    }
    if known("instances") {
        diags.attr_error(
            &path.attr("instances"),
            "Conflicting attributes",
            format!(
                "executor.instances fixes the number of executors, executor.{} turns on dynamic allocation; set one or the other",
                dynamic[0]
            ),
        );
    }
    if !known("max_instances") {
        diags.attr_error(
            &path.attr(dynamic[0]),
            "Missing executor.max_instances",
            format!(
                "executor.{} needs executor.max_instances: dynamic allocation needs an upper bound (the quota pre-flight counts it)",
                dynamic[0]
            ),
        );
        return;
    }
    let (min, max, initial) = (int(e.attr("min_instances")), int(e.attr("max_instances")), int(e.attr("initial_instances")));
    let Some(max) = max else { return };
    if let Some(min) = min.filter(|m| *m > max) {
        diags.attr_error(
            &path.attr("min_instances"),
            "Invalid executor bounds",
            format!("executor.min_instances ({min}) is greater than executor.max_instances ({max})"),
        );
        return;
    }
    if let Some(initial) = initial {
        let low = min.unwrap_or(0);
        if initial < low || initial > max {
            diags.attr_error(
                &path.attr("initial_instances"),
                "Invalid executor bounds",
                format!("executor.initial_instances ({initial}) is outside [min_instances, max_instances] = [{low}, {max}]"),
            );
        }
    }
}

/// Plans the job as the schema does, except that with dynamic allocation the fixed `instances`
/// is planned null rather than its default of 2, so the state does not claim two executors. The
/// prior state (which holds that null) is compared as if it held the default, so the null is no
/// change and forces no replacement.
pub(super) fn plan(schema: &crate::core::Schema, prior: &Value, proposed: &Value, config: &Value) -> crate::resource::Plan {
    let mut prior = prior.clone();
    let default = schema
        .block
        .blocks
        .iter()
        .find(|b| b.name == "executor")
        .and_then(|b| b.block.attribute("instances"))
        .and_then(|a| a.default.clone());
    if let (Some(e), Some(default)) = (prior.attrs_mut().and_then(|m| m.get_mut("executor")), default) {
        if !e.attr("max_instances").is_null() && e.attr("instances").is_null() {
            if let Some(m) = e.attrs_mut() {
                m.insert("instances".into(), default);
            }
        }
    }
    let mut p = super::super::common::schema_plan(schema, &prior, proposed, config);
    if let Some(e) = p.planned.attrs_mut().and_then(|m| m.get_mut("executor")) {
        if !e.attr("max_instances").is_null() {
            if let Some(m) = e.attrs_mut() {
                m.insert("instances".into(), Value::Null);
            }
        }
    }
    p
}
