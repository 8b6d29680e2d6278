//! Schema pieces several resources share: the Kubernetes connection and the `timeouts` block.

use async_trait::async_trait;

use crate::core::validators::duration;
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use crate::resource::{Plan, Resource};

/// The default, schema-driven plan of [`Resource::plan`], for a resource that overrides `plan`
/// to refine it (Rust has no call to a trait's default from an override). The default plans a
/// single nested block absent from the configuration as absent (Terraform 1.0 proposes it as an
/// object of nulls and then rejects a plan that keeps it).
pub fn schema_plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Plan {
    struct SchemaOnly<'a>(&'a Schema);
    #[async_trait]
    impl Resource for SchemaOnly<'_> {
        fn type_name(&self) -> &'static str {
            "schema_only"
        }
        fn schema(&self) -> &Schema {
            self.0
        }
    }
    SchemaOnly(schema).plan(prior, proposed, config)
}

/// Adds the Kubernetes connection attributes: a resource reaches its cluster through its own
/// kubeconfig, so one apply can create a cluster and use it.
pub fn with_kube_connection(block: Block) -> Block {
    block
        .attr(
            Attribute::optional(
                "kubeconfig",
                Type::String,
                "Kubeconfig document (YAML) of the target cluster, e.g. `sparkoss_cluster.x.kubeconfig`. Conflicts with `kubeconfig_path`.",
            )
            .sensitive()
            .force_new(),
        )
        .attr(
            Attribute::optional(
                "kubeconfig_path",
                Type::String,
                "Path of a kubeconfig file. Conflicts with `kubeconfig`. When neither is set, `KUBECONFIG` or `~/.kube/config` is used.",
            )
            .force_new(),
        )
        .attr(Attribute::optional("context", Type::String, "Kubeconfig context to use (default: the current context).").force_new())
}

/// Checks the connection attributes of a configuration.
pub fn validate_kube_connection(config: &Value, diags: &mut Diagnostics) {
    if !config.attr("kubeconfig").is_null() && !config.attr("kubeconfig_path").is_null() {
        diags.attr_error(
            &AttrPath::root().attr("kubeconfig_path"),
            "Conflicting attributes",
            "set either kubeconfig or kubeconfig_path, not both",
        );
    }
    if let Some(k) = config.attr("kubeconfig").as_str() {
        if k.trim().is_empty() {
            diags.attr_error(&AttrPath::root().attr("kubeconfig"), "Empty kubeconfig", "the kubeconfig document is empty");
        }
    }
}

/// A `timeouts` block with one duration attribute per operation and its default.
pub fn timeouts(ops: &[(&str, &str)]) -> NestedBlock {
    let mut b = Block::new("How long each operation may take before it fails, as durations such as `60m`.");
    for (op, default) in ops {
        b = b.attr(Attribute::optional(op, Type::String, &format!("Time limit for {op} (default `{default}`).")).validate(duration()));
    }
    NestedBlock::single("timeouts", b)
}
