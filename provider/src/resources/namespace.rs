//! `sparkoss_namespace`: a namespace per team or user, with its quota, default limits and the
//! driver service account Spark needs to manage executors.

use async_trait::async_trait;

use crate::core::validators::{count_quantity, cpu_quantity, k8s_label_value, k8s_labels, k8s_name, memory_quantity};
use crate::core::{Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use crate::resource::Resource;

use super::common::{timeouts, validate_kube_connection, with_kube_connection};

/// The `sparkoss_namespace` resource.
pub struct Namespace {
    schema: Schema,
}

impl Namespace {
    /// Builds the resource and its schema.
    pub fn new() -> Self {
        let quota = Block::new("A ResourceQuota on the namespace: the most its jobs may request together.")
            .attr(Attribute::optional("cpu", Type::String, "Total CPU requests, e.g. `64` or `500m`.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory", Type::String, "Total memory requests, e.g. `256Gi`.").validate(memory_quantity()))
            .attr(Attribute::optional("limits_cpu", Type::String, "Total CPU limits.").validate(cpu_quantity()))
            .attr(Attribute::optional("limits_memory", Type::String, "Total memory limits.").validate(memory_quantity()))
            .attr(Attribute::optional("pods", Type::String, "Most pods at once, e.g. `100`.").validate(count_quantity()));
        let defaults = Block::new("A LimitRange: requests and limits given to containers that do not set their own.")
            .attr(Attribute::optional("cpu_request", Type::String, "Default CPU request.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory_request", Type::String, "Default memory request.").validate(memory_quantity()))
            .attr(Attribute::optional("cpu_limit", Type::String, "Default CPU limit.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory_limit", Type::String, "Default memory limit.").validate(memory_quantity()));
        let block = with_kube_connection(Block::new(
            "A Kubernetes namespace for a team or user, with a ResourceQuota, default limits and the service account Spark drivers run as.",
        ))
        .attr(Attribute::computed("id", Type::String, "The namespace name."))
        .attr(Attribute::required("name", Type::String, "Namespace name (RFC 1123 label).").validate(k8s_name()).force_new())
        .attr(
            Attribute::optional("user", Type::String, "Team or user owning the namespace; labelled `sparkoss.io/user` for metering.")
                .validate(k8s_label_value()),
        )
        .attr(Attribute::optional("labels", Type::map(Type::String), "Extra labels on the namespace.").validate(k8s_labels()))
        .attr(
            Attribute::with_default(
                "service_account",
                Type::String,
                Value::string("spark-driver"),
                "Service account created for Spark drivers, with the Role to manage executor pods (default `spark-driver`).",
            )
            .validate(k8s_name())
            .force_new(),
        )
        .block(NestedBlock::single("quota", quota))
        .block(NestedBlock::single("container_defaults", defaults))
        .block(timeouts(&[("delete", "10m")]));
        Namespace { schema: Schema { version: 0, block } }
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Resource for Namespace {
    fn type_name(&self) -> &'static str {
        "sparkoss_namespace"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_kube_connection(config, diags);
    }
}
