//! `sparkoss_cluster`: an ACK managed Kubernetes cluster with elastic worker pools.

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::core::validators::{cidr_v4, cidrs_overlap, cluster_name, each, int_between, k8s_labels, not_empty, one_of, parse_cidr_v4};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use crate::resource::Resource;

use super::common::timeouts;

/// Cluster specifications ACK offers for managed clusters.
pub const CLUSTER_SPECS: &[&str] = &["ack.pro.small", "ack.standard"];
/// System disk categories of worker nodes.
pub const DISK_CATEGORIES: &[&str] = &["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud_auto"];

/// The `sparkoss_cluster` resource.
pub struct Cluster {
    schema: Schema,
}

impl Cluster {
    /// Builds the resource and its schema.
    pub fn new() -> Self {
        let pool = Block::new("An elastic worker pool (an ACK node pool with auto scaling).")
            .attr(Attribute::required("name", Type::String, "Pool name, unique within the cluster.").validate(cluster_name()))
            .attr(
                Attribute::required(
                    "instance_types",
                    Type::list(Type::String),
                    "ECS instance types, in order of preference, e.g. `[\"ecs.g7.2xlarge\"]`.",
                )
                .validate(each(not_empty())),
            )
            .attr(
                Attribute::required("min_size", Type::Number, "Fewest nodes the autoscaler keeps (0 or more).")
                    .validate(int_between(0, Some(1000))),
            )
            .attr(
                Attribute::required("max_size", Type::Number, "Most nodes the autoscaler may add (1 or more, at least `min_size`).")
                    .validate(int_between(1, Some(1000))),
            )
            .attr(
                Attribute::with_default(
                    "system_disk_size",
                    Type::Number,
                    Value::Number(crate::core::Number::Int(120)),
                    "System disk size in GiB, 40 to 2048 (default 120).",
                )
                .validate(int_between(40, Some(2048)))
                .force_new(),
            )
            .attr(
                Attribute::with_default(
                    "system_disk_category",
                    Type::String,
                    Value::string("cloud_essd"),
                    "System disk category (default `cloud_essd`).",
                )
                .validate(one_of(DISK_CATEGORIES))
                .force_new(),
            )
            .attr(
                Attribute::optional("vswitch_ids", Type::list(Type::String), "vSwitches for the pool's nodes (default: the cluster's).")
                    .validate(each(not_empty()))
                    .force_new(),
            )
            .attr(
                Attribute::optional("labels", Type::map(Type::String), "Kubernetes labels put on the pool's nodes.").validate(k8s_labels()),
            )
            .attr(Attribute::computed("id", Type::String, "Node pool id."));
        let block =
            Block::new("An ACK managed Kubernetes cluster, created and destroyed through the ACK OpenAPI, with elastic worker pools.")
                .attr(Attribute::computed("id", Type::String, "The cluster id."))
                .attr(
                    Attribute::required("name", Type::String, "Cluster name: 1-63 letters, digits, Chinese characters, '_' or '-'.")
                        .validate(cluster_name())
                        .force_new(),
                )
                .attr(
                    Attribute::with_default(
                        "cluster_spec",
                        Type::String,
                        Value::string("ack.pro.small"),
                        "Managed cluster specification: `ack.pro.small` (default) or `ack.standard`.",
                    )
                    .validate(one_of(CLUSTER_SPECS))
                    .force_new(),
                )
                .attr(
                    Attribute::optional(
                        "kubernetes_version",
                        Type::String,
                        "Kubernetes version, e.g. `1.31.1-aliyun.1` (default: ACK's latest).",
                    )
                    .validate(not_empty())
                    .also_computed()
                    .force_new(),
                )
                .attr(Attribute::optional("vpc_id", Type::String, "VPC to create the cluster in.").validate(not_empty()).force_new())
                .attr(
                    Attribute::optional(
                        "vswitch_ids",
                        Type::list(Type::String),
                        "vSwitches of the control plane ENIs and default worker placement.",
                    )
                    .validate(each(not_empty()))
                    .force_new(),
                )
                .attr(
                    Attribute::with_default(
                        "pod_cidr",
                        Type::String,
                        Value::string("172.20.0.0/16"),
                        "Pod network CIDR (default `172.20.0.0/16`).",
                    )
                    .validate(cidr_v4())
                    .force_new(),
                )
                .attr(
                    Attribute::with_default(
                        "service_cidr",
                        Type::String,
                        Value::string("172.21.0.0/20"),
                        "Service network CIDR (default `172.21.0.0/20`); must not overlap `pod_cidr`.",
                    )
                    .validate(cidr_v4())
                    .force_new(),
                )
                .attr(Attribute::optional("tags", Type::map(Type::String), "Tags on the cluster (updated in place)."))
                .attr(Attribute::with_default(
                    "deletion_protection",
                    Type::Bool,
                    Value::Bool(false),
                    "Refuse deletion while true (updated in place; default false).",
                ))
                .attr(Attribute::computed("cluster_id", Type::String, "The ACK cluster id."))
                .attr(Attribute::computed("state", Type::String, "ACK cluster state, e.g. `running`."))
                .attr(Attribute::computed("api_server_endpoint", Type::String, "The Kubernetes API server URL."))
                .attr(Attribute::computed("kubeconfig", Type::String, "Kubeconfig for the cluster's API server.").sensitive())
                .block(NestedBlock::list("worker_pool", pool, 1, 10))
                .block(timeouts(&[("create", "60m"), ("update", "30m"), ("delete", "60m")]));
        Cluster { schema: Schema { version: 0, block } }
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Resource for Cluster {
    fn type_name(&self) -> &'static str {
        "sparkoss_cluster"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let root = AttrPath::root();
        let pod = config.attr("pod_cidr").as_str().and_then(|s| parse_cidr_v4(s).ok());
        let svc = config.attr("service_cidr").as_str().and_then(|s| parse_cidr_v4(s).ok());
        // Defaults apply when unset, so check the pair the cluster would really get.
        let pod = pod.or_else(|| config.attr("pod_cidr").is_null().then(|| parse_cidr_v4("172.20.0.0/16").ok()).flatten());
        let svc = svc.or_else(|| config.attr("service_cidr").is_null().then(|| parse_cidr_v4("172.21.0.0/20").ok()).flatten());
        if let (Some(p), Some(s)) = (pod, svc) {
            if cidrs_overlap(p, s) {
                diags.attr_error(
                    &root.attr("service_cidr"),
                    "Overlapping CIDR blocks",
                    "service_cidr overlaps pod_cidr: pods and services need separate address ranges",
                );
            }
        }
        let mut names = BTreeSet::new();
        for (i, pool) in config.attr("worker_pool").elements().unwrap_or(&[]).iter().enumerate() {
            let p = root.attr("worker_pool").index(i);
            let min = pool.attr("min_size").as_number().and_then(|n| n.as_i64());
            let max = pool.attr("max_size").as_number().and_then(|n| n.as_i64());
            if let (Some(min), Some(max)) = (min, max) {
                if min > max {
                    diags.attr_error(
                        &p.attr("min_size"),
                        "Invalid pool size",
                        format!("min_size ({min}) is greater than max_size ({max})"),
                    );
                }
            }
            if let Some(name) = pool.attr("name").as_str() {
                if !names.insert(name.to_owned()) {
                    diags.attr_error(&p.attr("name"), "Duplicate pool name", format!("another worker_pool is already named {name:?}"));
                }
            }
        }
    }
}
