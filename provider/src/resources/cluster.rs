//! `sparkoss_cluster`: an ACK managed Kubernetes cluster with elastic worker pools.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::core::validators::{
    cidr_v4, cidrs_overlap, cluster_name, each, int_between, k8s_label_value, k8s_labels, not_empty, one_of, parse_cidr_v4, parse_duration,
    price, taint_key,
};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use crate::resource::{CreateFailure, OpContext, Plan, Resource};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sparkoss_aliyun::ack::model::{
    Addon, AutoScaling, ClusterDetail, CreateClusterRequest, KubernetesConfig, NodePool, NodePoolInfo, ScalingGroup, SpotPriceLimit, Tag,
    Taint,
};
use sparkoss_aliyun::ack::{AckClient, AckError};

use super::common::timeouts;

/// Cluster specifications ACK offers for managed clusters.
pub const CLUSTER_SPECS: &[&str] = &["ack.pro.small", "ack.standard"];
/// System disk categories of worker nodes.
pub const DISK_CATEGORIES: &[&str] = &["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud_auto"];

/// The `sparkoss_cluster` resource.
pub struct Cluster {
    schema: Schema,
    /// The ACK client of the current provider configuration (keyed by its address).
    client: Mutex<Option<(usize, Arc<AckClient>)>>,
}

impl Cluster {
    /// Builds the resource and its schema.
    pub fn new() -> Self {
        let pool = Block::new(
            "An elastic worker pool (an ACK node pool with auto scaling). Pools are known by name: adding, removing, renaming or \
             resizing pools changes the running cluster in place (each change waits until ACK reports the pool `active`, or gone); \
             changing a pool's disks or vSwitches replaces the cluster.",
        )
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
        .attr(Attribute::optional("labels", Type::map(Type::String), "Kubernetes labels put on the pool's nodes.").validate(k8s_labels()))
        .attr(
            Attribute::with_default(
                "spot_strategy",
                Type::String,
                Value::string("NoSpot"),
                "How the pool's nodes are bought: `NoSpot` (pay-as-you-go, the default), `SpotAsPriceGo` (spot instances at the \
                 market price) or `SpotWithPriceLimit` (spot instances up to `spot_price_limit`). Updated in place.",
            )
            .validate(one_of(SPOT_STRATEGIES)),
        )
        .attr(Attribute::computed("id", Type::String, "Node pool id."))
        .block(NestedBlock::list(
            "taints",
            Block::new(
                "A Kubernetes taint put on the pool's nodes (ACK's `kubernetes_config.taints`); pods without a matching toleration \
                 are not scheduled there. Updated in place, existing nodes included.",
            )
            .attr(Attribute::required("key", Type::String, "Taint key, e.g. `workload`.").validate(taint_key()))
            .attr(Attribute::optional("value", Type::String, "Taint value (default: none).").validate(k8s_label_value()))
            .attr(
                Attribute::with_default(
                    "effect",
                    Type::String,
                    Value::string("NoSchedule"),
                    "`NoSchedule` (the default), `PreferNoSchedule` or `NoExecute`.",
                )
                .validate(one_of(TAINT_EFFECTS)),
            ),
            0,
            20,
        ))
        .block(NestedBlock::list(
            "spot_price_limit",
            Block::new("The highest hourly price of one instance type, with `spot_strategy = \"SpotWithPriceLimit\"`.")
                .attr(
                    Attribute::required("instance_type", Type::String, "The instance type, one of `instance_types`.").validate(not_empty()),
                )
                .attr(
                    Attribute::required("price_limit", Type::String, "Highest price per instance and hour, a decimal like `\"0.62\"`.")
                        .validate(price()),
                ),
            0,
            10,
        ));
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
                .attr(
                    Attribute::optional("vpc_id", Type::String, "VPC to create the cluster in (default: ACK creates one).")
                        .validate(not_empty())
                        .also_computed()
                        .force_new(),
                )
                .attr(
                    Attribute::optional(
                        "vswitch_ids",
                        Type::list(Type::String),
                        "vSwitches of the control plane ENIs and default worker placement (default: ACK's choice).",
                    )
                    .validate(each(not_empty()))
                    .also_computed()
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
                .attr(Attribute::with_default(
                    "virtual_nodes",
                    Type::Bool,
                    Value::Bool(false),
                    "Install ACK's `ack-virtual-node` add-on: a virtual node backed by ECI, labelled `type=virtual-kubelet` and \
                     tainted `virtual-kubelet.io/provider=alibabacloud:NoSchedule`, for pods that select and tolerate it \
                     (updated in place; default false).",
                ))
                .attr(Attribute::computed("cluster_id", Type::String, "The ACK cluster id."))
                .attr(Attribute::computed("state", Type::String, "ACK cluster state, e.g. `running`."))
                .attr(Attribute::computed("api_server_endpoint", Type::String, "The Kubernetes API server URL."))
                .attr(Attribute::computed("kubeconfig", Type::String, "Kubeconfig for the cluster's API server.").sensitive())
                .block(NestedBlock::list("worker_pool", pool, 1, 10))
                .block(timeouts(&[("create", "60m"), ("update", "30m"), ("delete", "60m")]));
        Cluster { schema: Schema { version: 0, block }, client: Mutex::new(None) }
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
            let limits = pool.attr("spot_price_limit").elements().map_or(0, <[Value]>::len);
            let strategy = pool.attr("spot_strategy").as_str().unwrap_or("NoSpot");
            if limits > 0 && !pool.attr("spot_strategy").is_unknown() && strategy != "SpotWithPriceLimit" {
                diags.attr_error(
                    &p.attr("spot_price_limit"),
                    "Price limit without SpotWithPriceLimit",
                    format!("spot_price_limit applies only with spot_strategy = \"SpotWithPriceLimit\" (this pool's is {strategy:?})"),
                );
            }
            if let Some(name) = pool.attr("name").as_str() {
                if !names.insert(name.to_owned()) {
                    diags.attr_error(&p.attr("name"), "Duplicate pool name", format!("another worker_pool is already named {name:?}"));
                }
            }
        }
    }

    /// The default plan, with worker pools compared by identity instead of by position: a
    /// configured pool is the prior pool of the same name (or, when renamed, the one it
    /// replaces at the same position). Adding, removing or resizing pools is an in-place update
    /// (new pools get an unknown `id`, kept pools keep theirs); changing a force-new attribute of
    /// a kept pool (disks, vSwitches) still replaces the cluster.
    fn plan(&self, prior: &Value, proposed: &Value, config: &Value) -> Plan {
        let block = &self.schema.block;
        if proposed.is_null() {
            return Plan { planned: Value::Null, requires_replace: Vec::new() };
        }
        if prior.is_null() {
            return Plan { planned: block.plan(proposed, None, false), requires_replace: Vec::new() };
        }
        let matches = proposed.attr("worker_pool").elements().map(|new| match_pools(pool_slice(prior), new));
        let aligned = |fill: &dyn Fn(usize) -> Value| -> Value {
            let mut p = prior.clone();
            if let (Some(m), Some(obj)) = (&matches, p.attrs_mut()) {
                let old = pool_slice(prior);
                let items = m.iter().enumerate().map(|(i, j)| j.and_then(|j| old.get(j).cloned()).unwrap_or_else(|| fill(i))).collect();
                obj.insert("worker_pool".into(), Value::List(items));
            }
            p
        };
        let mut kept = block.plan(proposed, Some(&aligned(&|_| Value::Null)), false);
        // Terraform proposes the prior value for an optional+computed attribute that left the
        // configuration; an attribute with a default goes back to its default instead.
        block.restore_defaults(config, &mut kept);
        // Terraform proposes computed attributes of nested blocks by position, so a pool added
        // before another would inherit its id: ids come from the matched prior pool instead.
        if let (Some(m), Some(Value::List(pools))) = (&matches, kept.attrs_mut().and_then(|o| o.get_mut("worker_pool"))) {
            for (item, j) in pools.iter_mut().zip(m) {
                let id = j.and_then(|j| pool_slice(prior).get(j)).map(|p| p.attr("id").clone()).filter(|v| !v.is_null());
                if let Some(o) = item.attrs_mut() {
                    o.insert("id".into(), id.unwrap_or(Value::Unknown));
                }
            }
        }
        // A new pool is compared with itself: only kept pools can force a replacement.
        let kept_pools = pool_slice(&kept).to_vec();
        let baseline = aligned(&|i| kept_pools.get(i).cloned().unwrap_or(Value::Null));
        let mut requires_replace = Vec::new();
        block.replace_paths(&baseline, &kept, &AttrPath::root(), &mut requires_replace);
        if requires_replace.is_empty() {
            Plan { planned: kept, requires_replace }
        } else {
            Plan { planned: block.plan(config, None, true), requires_replace }
        }
    }

    async fn create(&self, ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        self.create_or_partial(ctx, planned).await.map_err(|f| f.diags)
    }

    async fn create_or_partial(&self, ctx: &OpContext, planned: &Value) -> Result<Value, CreateFailure> {
        let fail = |diags: Diagnostics| CreateFailure { state: Value::Null, diags };
        let m: Model = decode(planned).map_err(fail)?;
        let limit = op_timeout(&m, "create", 3600.0);
        let c = self.client(ctx).map_err(fail)?;
        let started = Instant::now();
        // The wait loop stops at the deadline itself and reports the cluster it made (so it is
        // recorded as tainted); the outer limit, a little later, only bounds calls that hang.
        let created = tokio::time::timeout(limit + GRACE, self.create_and_wait(&c, &m, started + limit)).await;
        match created {
            Ok(Ok(state)) => Ok(state),
            Ok(Err((partial, diags))) => Err(CreateFailure { state: partial.map(|p| self.encode(&p)).unwrap_or(Value::Null), diags }),
            Err(_) => Err(fail(error(
                "Timed out creating the cluster",
                format!(
                    "cluster {:?} was not running after {}; raise timeouts.create or check the cluster in the ACK console",
                    m.name,
                    human(limit)
                ),
            ))),
        }
    }

    async fn read(&self, ctx: &OpContext, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let prior: Model = decode(state)?;
        let Some(id) = prior.cluster_id.clone().or_else(|| prior.id.clone()) else { return Ok(None) };
        let c = self.client(ctx)?;
        self.fetch(&c, &id, Some(&prior)).await
    }

    async fn update(&self, ctx: &OpContext, prior: &Value, planned: &Value) -> Result<Value, Diagnostics> {
        let old: Model = decode(prior)?;
        let new: Model = decode(planned)?;
        let id = old.cluster_id.clone().ok_or_else(|| error("Missing cluster id", "the prior state has no cluster_id"))?;
        let limit = op_timeout(&new, "update", 1800.0);
        let deadline = Instant::now() + limit;
        let c = self.client(ctx)?;
        let work = async {
            if old.tags != new.tags {
                c.modify_cluster_tags(&id, &tags_with_owner(new.tags.as_ref())).await.map_err(|e| ack_error("Updating tags", &e))?;
            }
            if old.deletion_protection != new.deletion_protection {
                c.modify_deletion_protection(&id, new.deletion_protection.unwrap_or(false))
                    .await
                    .map_err(|e| ack_error("Updating deletion protection", &e))?;
            }
            let want_vn = new.virtual_nodes.unwrap_or(false);
            if old.virtual_nodes.unwrap_or(false) != want_vn {
                let done = if want_vn {
                    c.install_addons(&id, &[virtual_node_addon()]).await
                } else {
                    c.uninstall_addons(&id, &[VIRTUAL_NODE_ADDON]).await
                };
                done.map_err(|e| ack_error(if want_vn { "Installing ack-virtual-node" } else { "Removing ack-virtual-node" }, &e))?;
            }
            let new = self.update_pools(&c, &id, &old, new.clone(), deadline).await?;
            let mut merged = new.clone();
            merged.cluster_id = Some(id.clone());
            self.fetch(&c, &id, Some(&merged))
                .await?
                .ok_or_else(|| error("Cluster disappeared", format!("cluster {id} vanished during the update")))
        };
        // The pool waits stop at the deadline with a precise error; this only bounds a call that hangs.
        match tokio::time::timeout(limit + GRACE, work).await {
            Ok(r) => r,
            Err(_) => {
                Err(error("Timed out updating the cluster", format!("cluster {id}: the update did not finish within {}", human(limit))))
            }
        }
    }

    async fn delete(&self, ctx: &OpContext, state: &Value) -> Result<(), Diagnostics> {
        let m: Model = decode(state)?;
        let Some(id) = m.cluster_id.clone().or_else(|| m.id.clone()) else { return Ok(()) };
        let limit = op_timeout(&m, "delete", 3600.0);
        let c = self.client(ctx)?;
        let work = async {
            match c.delete_cluster(&id).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(ack_error(&format!("Deleting cluster {id}"), &e)),
            }
            tracing::info!(cluster = %id, "deleting cluster");
            let mut poll = Poll::new();
            let mut transient = 0;
            loop {
                tokio::time::sleep(poll.next()).await;
                match c.describe_cluster_detail(&id).await {
                    Err(e) if e.is_not_found() => return Ok(()),
                    Ok(d) if d.state == "deleted" => return Ok(()),
                    Ok(d) if d.state == "delete_failed" => {
                        return Err(error(
                            "Cluster deletion failed",
                            format!("ACK reports cluster {id} as delete_failed; see the ACK console for the cause"),
                        ))
                    }
                    Ok(_) => transient = 0,
                    Err(e) => {
                        transient += 1;
                        if transient > MAX_TRANSIENT {
                            return Err(ack_error(&format!("Waiting for cluster {id} to be deleted"), &e));
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(error("Timed out deleting the cluster", format!("cluster {id} was still there after {}", human(limit)))),
        }
    }

    async fn import(&self, ctx: &OpContext, id: &str) -> Result<Value, Diagnostics> {
        let c = self.client(ctx)?;
        self.fetch(&c, id, None)
            .await?
            .ok_or_else(|| error("Cannot import the cluster", format!("ACK has no cluster with id {id:?} in this region")))
    }
}

/// Tag marking clusters this provider created: a create that is retried or interrupted finds
/// its cluster by name and this tag instead of making a second one.
pub const OWNER_TAG: &str = "sparkoss.io/managed-by";
const OWNER_VALUE: &str = "terraform-provider-sparkoss";
/// Extra time past a create's own deadline before the whole operation is abandoned.
const GRACE: Duration = Duration::from_secs(30);
/// Consecutive failed polls (after the client's own retries) before giving up.
const MAX_TRANSIENT: u32 = 10;
/// How many times a node pool change that ACK refused because the pool was busy is tried again
/// (each time after the pool settled), within the operation's deadline.
const MAX_BUSY_RETRIES: u32 = 5;

/// What a pool wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolGoal {
    /// `active` (a `failed` pool is an error).
    Active,
    /// `active` or `failed`: no operation of the pool's own under way.
    Settled,
    /// Settled, or no longer listed.
    SettledOrGone,
    /// No longer listed.
    Gone,
}

/// The configured pools of a state or plan value (empty when unknown or null).
/// The add-on behind `virtual_nodes`.
const VIRTUAL_NODE_ADDON: &str = "ack-virtual-node";

/// The spot strategies of `spot_strategy` (ACK's `scaling_group.spot_strategy`).
const SPOT_STRATEGIES: &[&str] = &["NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"];

/// The taint effects of `taints[].effect`.
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn virtual_node_addon() -> Addon {
    Addon { name: VIRTUAL_NODE_ADDON.into(), version: None, config: None }
}

fn pool_slice(v: &Value) -> &[Value] {
    v.attr("worker_pool").elements().unwrap_or(&[])
}

/// For each new pool, the index of the prior pool it continues, if any: the prior pool of the
/// same name, else (a rename) the prior pool at the same position when its name is no longer
/// configured. Every prior pool is matched at most once.
fn match_pools(prior: &[Value], new: &[Value]) -> Vec<Option<usize>> {
    let name = |v: &Value| v.attr("name").as_str().map(str::to_owned);
    let mut used = vec![false; prior.len()];
    let mut out: Vec<Option<usize>> = new
        .iter()
        .map(|n| {
            let j = name(n).and_then(|nm| (0..prior.len()).find(|&j| !used[j] && name(&prior[j]).as_deref() == Some(nm.as_str())));
            if let Some(j) = j {
                used[j] = true;
            }
            j
        })
        .collect();
    let new_names: BTreeSet<String> = new.iter().filter_map(name).collect();
    for (i, slot) in out.iter_mut().enumerate() {
        if slot.is_none() && i < prior.len() && !used[i] && name(&prior[i]).is_none_or(|nm| !new_names.contains(&nm)) {
            used[i] = true;
            *slot = Some(i);
        }
    }
    out
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Timeouts {
    create: Option<String>,
    update: Option<String>,
    delete: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PoolModel {
    name: String,
    instance_types: Vec<String>,
    min_size: i64,
    max_size: i64,
    system_disk_size: Option<i64>,
    system_disk_category: Option<String>,
    vswitch_ids: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    spot_strategy: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    taints: Vec<TaintModel>,
    #[serde(default, deserialize_with = "null_as_empty")]
    spot_price_limit: Vec<PriceLimitModel>,
    id: Option<String>,
}

/// A `taints` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct TaintModel {
    key: String,
    value: Option<String>,
    effect: Option<String>,
}

/// A `spot_price_limit` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PriceLimitModel {
    instance_type: String,
    price_limit: String,
}

/// A list of blocks: Terraform sends none as an empty list, a plan may hold null.
fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl PoolModel {
    fn spot(&self) -> &str {
        self.spot_strategy.as_deref().unwrap_or("NoSpot")
    }

    /// True when ModifyClusterNodePool has something to change (the attributes it can change).
    fn differs_from(&self, other: &PoolModel) -> bool {
        self.name != other.name
            || self.instance_types != other.instance_types
            || self.min_size != other.min_size
            || self.max_size != other.max_size
            || self.labels.clone().unwrap_or_default() != other.labels.clone().unwrap_or_default()
            || self.taints != other.taints
            || self.spot() != other.spot()
            || self.spot_price_limit != other.spot_price_limit
    }

    fn to_ack(&self) -> NodePool {
        NodePool {
            nodepool_info: NodePoolInfo { name: self.name.clone(), nodepool_id: None },
            scaling_group: ScalingGroup {
                instance_types: self.instance_types.clone(),
                vswitch_ids: self.vswitch_ids.clone().unwrap_or_default(),
                system_disk_size: self.system_disk_size.unwrap_or(120),
                system_disk_category: self.system_disk_category.clone().unwrap_or_else(|| "cloud_essd".into()),
                spot_strategy: Some(self.spot().to_owned()),
                spot_price_limit: Some(
                    self.spot_price_limit
                        .iter()
                        .map(|l| SpotPriceLimit { instance_type: l.instance_type.clone(), price_limit: l.price_limit.clone() })
                        .collect(),
                ),
            },
            auto_scaling: AutoScaling { enable: true, min_instances: self.min_size, max_instances: self.max_size },
            kubernetes_config: KubernetesConfig {
                labels: self.labels.iter().flatten().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect(),
                taints: Some(
                    self.taints
                        .iter()
                        .map(|t| Taint {
                            key: t.key.clone(),
                            value: t.value.clone().unwrap_or_default(),
                            effect: t.effect.clone().unwrap_or_else(|| "NoSchedule".into()),
                        })
                        .collect(),
                ),
            },
            status: None,
            update_nodes: None,
        }
    }

    fn from_ack(p: &NodePool, prior: Option<&PoolModel>) -> PoolModel {
        let labels: BTreeMap<String, String> = p.kubernetes_config.labels.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
        PoolModel {
            name: p.nodepool_info.name.clone(),
            instance_types: p.scaling_group.instance_types.clone(),
            min_size: p.auto_scaling.min_instances,
            max_size: p.auto_scaling.max_instances,
            system_disk_size: Some(p.scaling_group.system_disk_size),
            system_disk_category: Some(p.scaling_group.system_disk_category.clone()),
            vswitch_ids: empty_as_null(p.scaling_group.vswitch_ids.clone(), prior.and_then(|m| m.vswitch_ids.as_ref())),
            labels: empty_as_null(labels, prior.and_then(|m| m.labels.as_ref())),
            spot_strategy: Some(p.scaling_group.spot_strategy.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "NoSpot".into())),
            taints: p
                .kubernetes_config
                .taints
                .iter()
                .flatten()
                .map(|t| TaintModel {
                    key: t.key.clone(),
                    value: Some(t.value.clone()).filter(|v| !v.is_empty()),
                    effect: Some(if t.effect.is_empty() { "NoSchedule".to_owned() } else { t.effect.clone() }),
                })
                .collect(),
            spot_price_limit: p
                .scaling_group
                .spot_price_limit
                .iter()
                .flatten()
                .map(|l| PriceLimitModel { instance_type: l.instance_type.clone(), price_limit: l.price_limit.clone() })
                .collect(),
            id: p.nodepool_info.nodepool_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Model {
    id: Option<String>,
    name: String,
    cluster_spec: Option<String>,
    kubernetes_version: Option<String>,
    vpc_id: Option<String>,
    vswitch_ids: Option<Vec<String>>,
    pod_cidr: Option<String>,
    service_cidr: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    deletion_protection: Option<bool>,
    virtual_nodes: Option<bool>,
    cluster_id: Option<String>,
    state: Option<String>,
    api_server_endpoint: Option<String>,
    kubeconfig: Option<String>,
    worker_pool: Vec<PoolModel>,
    timeouts: Option<Timeouts>,
}

/// Empty collections read back as null unless the prior state had them empty, so an unset
/// optional attribute does not show a diff.
fn empty_as_null<T: Default + PartialEq>(v: T, prior: Option<&T>) -> Option<T> {
    if v == T::default() && prior.is_none() {
        None
    } else {
        Some(v)
    }
}

fn error(summary: &str, detail: impl Into<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(summary, detail);
    d
}

fn ack_error(what: &str, e: &AckError) -> Diagnostics {
    error(&format!("{what} failed"), e.to_string())
}

/// Unknown values (computed, decided at apply) as null, so a plan decodes into the model.
fn known_or_null(v: &Value) -> Value {
    match v {
        Value::Unknown => Value::Null,
        Value::List(x) => Value::List(x.iter().map(known_or_null).collect()),
        Value::Set(x) => Value::Set(x.iter().map(known_or_null).collect()),
        Value::Tuple(x) => Value::Tuple(x.iter().map(known_or_null).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), known_or_null(v))).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), known_or_null(v))).collect()),
        other => other.clone(),
    }
}

fn decode(v: &Value) -> Result<Model, Diagnostics> {
    known_or_null(v).decode().map_err(|e| error("Invalid sparkoss_cluster value", e.to_string()))
}

fn op_timeout(m: &Model, op: &str, default_secs: f64) -> Duration {
    let t = m.timeouts.as_ref().and_then(|t| match op {
        "create" => t.create.as_deref(),
        "update" => t.update.as_deref(),
        _ => t.delete.as_deref(),
    });
    let secs = t.and_then(|s| parse_duration(s).ok()).unwrap_or(default_secs);
    Duration::from_secs_f64(secs.max(1.0))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (minutes, rest) = (s / 60, s % 60);
    if minutes > 0 && rest == 0 {
        format!("{minutes}m")
    } else {
        format!("{s}s")
    }
}

fn tags_with_owner(tags: Option<&BTreeMap<String, String>>) -> Vec<Tag> {
    let mut out = vec![Tag { key: OWNER_TAG.into(), value: OWNER_VALUE.into() }];
    out.extend(
        tags.iter().flat_map(|m| m.iter()).filter(|(k, _)| k.as_str() != OWNER_TAG).map(|(k, v)| Tag { key: k.clone(), value: v.clone() }),
    );
    out
}

/// The wait between two polls of a long operation: 5 s growing by half up to 45 s, so a
/// 15-minute create costs about 24 polls (28 ACK calls with the lookup, the create and the final
/// read). `SPARKOSS_POLL_SCALE` (0 < s ≤ 1) shrinks the schedule for emulated clouds whose
/// operations are scaled down the same way.
///
/// Why not poll faster near the end: ACK gives no signal of when a create will finish (the
/// cluster's state is `initial` throughout; DescribeTaskInfo's stages carry no names, progress
/// or estimate; ACK documents 10-20 minutes), so the moment the cluster turns `running` is
/// unknown to the poller and the delay in noticing it is up to one full interval, half of it on
/// average. Noticing within 2 s at any moment of a 15-minute create needs a poll every 2 s,
/// about 450 calls; 30 calls allow an interval of about 36 s. The schedule keeps the call
/// budget and accepts a delay of up to 45 s (about 22 s on average); the early short waits find
/// fast failures and fast (emulated) creates quickly.
struct Poll {
    next: Duration,
    max: Duration,
}

impl Poll {
    fn new() -> Self {
        let scale =
            std::env::var("SPARKOSS_POLL_SCALE").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0 && *s <= 1.0).unwrap_or(1.0);
        Poll { next: Duration::from_secs_f64(5.0 * scale), max: Duration::from_secs_f64(45.0 * scale) }
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.mul_f64(1.5).min(self.max);
        d
    }
}

impl Cluster {
    fn encode(&self, m: &Model) -> Value {
        Value::encode(m, &self.schema.block.implied_type()).unwrap_or(Value::Null)
    }

    /// The ACK client for the provider configuration (built once per configuration).
    fn client(&self, ctx: &OpContext) -> Result<Arc<AckClient>, Diagnostics> {
        let key = Arc::as_ptr(&ctx.config) as usize;
        if let Ok(slot) = self.client.lock() {
            if let Some((k, c)) = slot.as_ref() {
                if *k == key {
                    return Ok(c.clone());
                }
            }
        }
        let cfg = &ctx.config;
        let region = cfg.region.clone().ok_or_else(|| {
            error("No region", "sparkoss_cluster needs a region: set region in the provider block, or ALIBABA_CLOUD_REGION")
        })?;
        let creds = cfg.credentials_provider(&|k: &str| std::env::var(k).ok());
        let c =
            Arc::new(AckClient::new(&region, cfg.endpoints.ack.as_deref(), creds).map_err(|e| error("Cannot reach ACK", e.to_string()))?);
        if let Ok(mut slot) = self.client.lock() {
            *slot = Some((key, c.clone()));
        }
        Ok(c)
    }

    /// Creates (or adopts) the cluster and waits until it runs. On failure, the partial model
    /// when a cluster exists.
    async fn create_and_wait(&self, c: &AckClient, m: &Model, deadline: Instant) -> Result<Value, (Option<Model>, Diagnostics)> {
        let none = |d: Diagnostics| (None, d);
        let adopt = |found: Option<ClusterDetail>| {
            found.filter(|d| !matches!(d.state.as_str(), "failed" | "deleting" | "deleted" | "delete_failed"))
        };
        let existing =
            adopt(c.find_cluster_by_name(&m.name, OWNER_TAG).await.map_err(|e| none(ack_error("Looking up existing clusters", &e)))?);
        let (id, task) = match existing {
            Some(d) => {
                tracing::info!(cluster = %d.cluster_id, name = %m.name, "adopting a cluster an interrupted create left behind");
                (d.cluster_id, None)
            }
            None => match c.create_cluster(&self.request(c, m)).await {
                Ok(r) => (r.cluster_id, Some(r.task_id)),
                Err(AckError::Transport { maybe_applied: true, .. }) => {
                    // The answer was lost; the cluster may exist. Look, don't create again.
                    let found = adopt(
                        c.find_cluster_by_name(&m.name, OWNER_TAG)
                            .await
                            .map_err(|e| none(ack_error("Looking up the cluster after a lost answer", &e)))?,
                    );
                    match found {
                        Some(d) => (d.cluster_id, None),
                        None => {
                            return Err(none(error(
                                "Creating the cluster failed",
                                "ACK's answer to CreateCluster was lost and no cluster was made; apply again",
                            )))
                        }
                    }
                }
                Err(e) => return Err(none(ack_error("Creating the cluster", &e))),
            },
        };
        tracing::info!(cluster = %id, "waiting for the cluster to run");
        let partial = |state: &str| {
            let mut p = m.clone();
            p.id = Some(id.clone());
            p.cluster_id = Some(id.clone());
            p.state = Some(state.into());
            p
        };
        let mut poll = Poll::new();
        let mut transient = 0;
        let started_wait = Instant::now();
        let running = loop {
            let wait = poll.next().min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(wait).await;
            match c.describe_cluster_detail(&id).await {
                Ok(d) if d.state == "running" => break d,
                Ok(d) if d.state == "failed" => {
                    let reason = match &task {
                        Some(t) => c.describe_task_info(t).await.ok().and_then(|t| t.error).map(|e| e.message).filter(|m| !m.is_empty()),
                        None => None,
                    };
                    let reason = reason.unwrap_or_else(|| "ACK gave no reason; see the cluster's events in the ACK console".into());
                    return Err((
                        Some(partial("failed")),
                        error(
                            "ACK cluster creation failed",
                            format!("cluster {id} ({:?}) failed: {reason}. It is recorded as tainted: terraform destroy removes it, the next apply replaces it.", m.name),
                        ),
                    ));
                }
                Ok(d) if matches!(d.state.as_str(), "deleting" | "deleted") => {
                    return Err((
                        None,
                        error("Cluster deleted during creation", format!("cluster {id} is {} (deleted out of band?)", d.state)),
                    ))
                }
                Ok(_) => transient = 0,
                Err(e) if e.is_not_found() => return Err((None, error("Cluster vanished during creation", format!("cluster {id}: {e}")))),
                Err(e) => {
                    transient += 1;
                    if transient > MAX_TRANSIENT {
                        return Err((Some(partial("unknown")), ack_error(&format!("Waiting for cluster {id}"), &e)));
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err((
                    Some(partial("initial")),
                    error(
                        "Timed out creating the cluster",
                        format!(
                            "cluster {id} was not running after {}; it is recorded as tainted: terraform destroy removes it, \
                             or raise timeouts.create and apply again",
                            human(deadline.saturating_duration_since(started_wait))
                        ),
                    ),
                ));
            }
        };
        let mut full = m.clone();
        full.cluster_id = Some(id.clone());
        // The poll that saw `running` already read the cluster: one ACK call less per create.
        match self.state_from(c, running, Some(&full)).await {
            Ok(v) => Ok(v),
            Err(d) => Err((Some(partial("running")), d)),
        }
    }

    /// Brings the cluster's node pools to `new.worker_pool`: creates the pools without an id,
    /// modifies kept pools that changed, deletes pools no longer configured, one at a time (ACK
    /// runs one task per cluster at a time), each waited for until `active` or gone. Creates go
    /// first so capacity is added before any is taken away. Returns `new` with the ids of the
    /// pools it created or adopted.
    async fn update_pools(&self, c: &AckClient, id: &str, old: &Model, mut new: Model, deadline: Instant) -> Result<Model, Diagnostics> {
        let current = c.describe_node_pools(id).await.map_err(|e| ack_error(&format!("Reading the pools of cluster {id}"), &e))?.nodepools;
        let claimed: BTreeSet<String> = new.worker_pool.iter().filter_map(|p| p.id.clone()).collect();
        for n in new.worker_pool.iter_mut().filter(|p| p.id.is_none()) {
            let what = format!("Adding worker pool {:?}", n.name);
            // A pool of that name that no configured pool claims was left by an interrupted
            // apply: adopt it (and bring it to the configuration) instead of making a second.
            let orphan = current.iter().find(|a| {
                a.nodepool_info.name == n.name
                    && a.nodepool_info.nodepool_id.as_ref().is_some_and(|i| !claimed.contains(i))
                    && !matches!(a.state(), "deleting" | "failed")
            });
            if let Some(a) = orphan {
                let np = a.nodepool_info.nodepool_id.clone().unwrap_or_default();
                tracing::info!(cluster = %id, pool = %np, name = %n.name, "adopting a node pool an interrupted apply left behind");
                self.wait_pool(c, id, &np, &n.name, PoolGoal::Active, deadline).await?;
                if PoolModel::from_ack(a, Some(n)).differs_from(n) {
                    let mut pool = n.to_ack();
                    pool.nodepool_info.nodepool_id = Some(np.clone());
                    self.retry_while_pool_busy(c, (id, &np, &n.name), PoolGoal::Settled, deadline, || c.modify_node_pool(id, &pool))
                        .await?
                        .map_err(|e| ack_error(&what, &e))?;
                    self.wait_pool(c, id, &np, &n.name, PoolGoal::Active, deadline).await?;
                }
                n.id = Some(np);
                continue;
            }
            tracing::info!(cluster = %id, name = %n.name, min = n.min_size, max = n.max_size, "adding node pool");
            let np = match c.create_node_pool(id, &n.to_ack()).await {
                Ok(r) => r.nodepool_id,
                Err(AckError::Transport { maybe_applied: true, .. }) => {
                    // The answer was lost; the pool may exist. Look, don't create again.
                    let pools = c.describe_node_pools(id).await.map_err(|e| ack_error(&what, &e))?.nodepools;
                    let found = pools.into_iter().find(|a| a.nodepool_info.name == n.name && !matches!(a.state(), "deleting"));
                    match found.and_then(|a| a.nodepool_info.nodepool_id) {
                        Some(np) => np,
                        None => {
                            return Err(error(
                                &format!("{what} failed"),
                                "ACK's answer to CreateClusterNodePool was lost and no pool was made; apply again",
                            ))
                        }
                    }
                }
                Err(e) => return Err(ack_error(&what, &e)),
            };
            n.id = Some(np.clone());
            self.wait_pool(c, id, &np, &n.name, PoolGoal::Active, deadline).await?;
        }
        for n in &new.worker_pool {
            let Some(np) = n.id.as_deref() else { continue };
            let Some(o) = old.worker_pool.iter().find(|o| o.id.as_deref() == Some(np)) else { continue };
            if !o.differs_from(n) {
                continue;
            }
            // ACK refuses to change a pool while one of its own operations (an autoscaler
            // scale-out, say) runs: wait for that to end first.
            self.wait_pool(c, id, np, &n.name, PoolGoal::Settled, deadline).await?;
            let mut pool = n.to_ack();
            pool.nodepool_info.nodepool_id = Some(np.to_owned());
            // The nodes the pool has get its new labels and taints too, not only new nodes.
            pool.update_nodes = Some(true);
            tracing::info!(cluster = %id, pool = %np, min = n.min_size, max = n.max_size, "modifying node pool");
            self.retry_while_pool_busy(c, (id, np, &n.name), PoolGoal::Settled, deadline, || c.modify_node_pool(id, &pool))
                .await?
                .map_err(|e| ack_error(&format!("Updating worker pool {:?}", n.name), &e))?;
            self.wait_pool(c, id, np, &n.name, PoolGoal::Active, deadline).await?;
        }
        let keep: BTreeSet<&str> = new.worker_pool.iter().filter_map(|p| p.id.as_deref()).collect();
        for o in old.worker_pool.iter().filter(|o| o.id.as_deref().is_some_and(|i| !keep.contains(i))) {
            let np = o.id.as_deref().unwrap_or_default();
            // A pool already gone is fine: the delete below then answers 404 and is skipped.
            self.wait_pool(c, id, np, &o.name, PoolGoal::SettledOrGone, deadline).await?;
            tracing::info!(cluster = %id, pool = %np, name = %o.name, "removing node pool");
            // The pool's nodes go with it: that is what removing the block asks for.
            let deleted = self
                .retry_while_pool_busy(c, (id, np, &o.name), PoolGoal::SettledOrGone, deadline, || c.delete_node_pool(id, np, true))
                .await?;
            match deleted {
                Ok(_) => {}
                Err(e) if e.is_not_found() => continue,
                // Recognised by class (see AckError::is_pool_not_empty): ACK publishes no code.
                Err(e) if e.is_pool_not_empty() => {
                    return Err(error(
                        &format!("Removing worker pool {:?} failed", o.name),
                        format!("ACK refused to delete a pool that still has nodes although force=true was sent: {e}"),
                    ))
                }
                Err(e) => return Err(ack_error(&format!("Removing worker pool {:?}", o.name), &e)),
            }
            self.wait_pool(c, id, np, &o.name, PoolGoal::Gone, deadline).await?;
        }
        Ok(new)
    }

    /// Runs a node pool change (`call`); when ACK refuses it because the pool is busy with an
    /// operation of its own (say an autoscaler scale-out that began after the provider looked),
    /// waits for the pool to reach `goal` and tries again, at most [`MAX_BUSY_RETRIES`] times and
    /// within `deadline`. `pool` is (cluster id, pool id, pool name). "Busy" is recognised by its
    /// class, HTTP status and wording ([`AckError::is_pool_busy`]), not by an error code: ACK
    /// publishes none for it. The outer error is the wait's; the inner one the call's last.
    async fn retry_while_pool_busy<T, F, Fut>(
        &self,
        c: &AckClient,
        pool: (&str, &str, &str),
        goal: PoolGoal,
        deadline: Instant,
        mut call: F,
    ) -> Result<Result<T, AckError>, Diagnostics>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AckError>>,
    {
        let (id, np, name) = pool;
        let mut retries = 0;
        loop {
            match call().await {
                Err(e) if e.is_pool_busy() && retries < MAX_BUSY_RETRIES && Instant::now() < deadline => {
                    retries += 1;
                    tracing::info!(cluster = %id, pool = %np, error = %e, retries, "node pool busy; waiting for it to settle");
                    tokio::time::sleep(Duration::from_secs(retries.into()).min(deadline.saturating_duration_since(Instant::now()))).await;
                    self.wait_pool(c, id, np, name, goal, deadline).await?;
                }
                other => return Ok(other),
            }
        }
    }

    /// Polls DescribeClusterNodePools until pool `np` is `active` (or gone), bounded by
    /// `deadline` and by [`MAX_TRANSIENT`] consecutive failed polls.
    async fn wait_pool(&self, c: &AckClient, id: &str, np: &str, name: &str, goal: PoolGoal, deadline: Instant) -> Result<(), Diagnostics> {
        let started = Instant::now();
        let mut poll = Poll::new();
        let mut transient = 0;
        let mut first = true;
        loop {
            // An adopted pool may already be settled: look once before the first wait.
            if !first {
                tokio::time::sleep(poll.next().min(deadline.saturating_duration_since(Instant::now()))).await;
            }
            first = false;
            match c.describe_node_pools(id).await {
                Ok(r) => {
                    transient = 0;
                    let pool = r.nodepools.into_iter().find(|p| p.nodepool_info.nodepool_id.as_deref() == Some(np));
                    match (goal, pool.as_ref().map(|p| p.state())) {
                        (PoolGoal::Gone | PoolGoal::SettledOrGone, None)
                        | (PoolGoal::Active | PoolGoal::Settled | PoolGoal::SettledOrGone, Some("active"))
                        | (PoolGoal::Settled | PoolGoal::SettledOrGone, Some("failed")) => return Ok(()),
                        (PoolGoal::Active | PoolGoal::Settled, None) => {
                            return Err(error(
                                "Worker pool vanished",
                                format!("worker pool {name:?} ({np}) of cluster {id} disappeared while it was being changed"),
                            ))
                        }
                        (_, Some("failed")) => {
                            return Err(error(
                                "Worker pool operation failed",
                                format!("ACK reports worker pool {name:?} ({np}) of cluster {id} as failed; see the node pool's events in the ACK console"),
                            ))
                        }
                        _ => {}
                    }
                }
                Err(e) if e.is_not_found() => {
                    return Err(error("Cluster vanished", format!("cluster {id} disappeared while worker pool {name:?} was being changed")))
                }
                Err(e) => {
                    transient += 1;
                    if transient > MAX_TRANSIENT {
                        return Err(ack_error(&format!("Waiting for worker pool {name:?}"), &e));
                    }
                }
            }
            if Instant::now() >= deadline {
                let want = match goal {
                    PoolGoal::Active => "active",
                    PoolGoal::Settled | PoolGoal::SettledOrGone => "done with its current operation",
                    PoolGoal::Gone => "deleted",
                };
                return Err(error(
                    "Timed out updating the cluster",
                    format!(
                        "worker pool {name:?} ({np}) of cluster {id} was not {want} after {}; raise timeouts.update and apply again",
                        human(Instant::now().saturating_duration_since(started))
                    ),
                ));
            }
        }
    }

    fn request(&self, c: &AckClient, m: &Model) -> CreateClusterRequest {
        CreateClusterRequest {
            name: m.name.clone(),
            region_id: c.region().to_owned(),
            cluster_type: "ManagedKubernetes".into(),
            cluster_spec: m.cluster_spec.clone().unwrap_or_else(|| "ack.pro.small".into()),
            kubernetes_version: m.kubernetes_version.clone(),
            vpcid: m.vpc_id.clone(),
            vswitch_ids: m.vswitch_ids.clone().unwrap_or_default(),
            container_cidr: m.pod_cidr.clone().unwrap_or_else(|| "172.20.0.0/16".into()),
            service_cidr: m.service_cidr.clone().unwrap_or_else(|| "172.21.0.0/20".into()),
            tags: tags_with_owner(m.tags.as_ref()),
            deletion_protection: m.deletion_protection.unwrap_or(false),
            nodepools: m.worker_pool.iter().map(PoolModel::to_ack).collect(),
            addons: if m.virtual_nodes == Some(true) { vec![virtual_node_addon()] } else { Vec::new() },
        }
    }

    /// Reads the cluster into a whole state; `prior` supplies what ACK does not keep
    /// (timeouts) and pool order. `None` when the cluster is gone.
    async fn fetch(&self, c: &AckClient, id: &str, prior: Option<&Model>) -> Result<Option<Value>, Diagnostics> {
        let d = match c.describe_cluster_detail(id).await {
            Ok(d) if d.state == "deleted" => return Ok(None),
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(ack_error(&format!("Reading cluster {id}"), &e)),
        };
        self.state_from(c, d, prior).await.map(Some)
    }

    /// The whole state from the cluster's detail `d` (its pools and kubeconfig are read here).
    async fn state_from(&self, c: &AckClient, d: ClusterDetail, prior: Option<&Model>) -> Result<Value, Diagnostics> {
        let id = d.cluster_id.as_str();
        let pools = c.describe_node_pools(id).await.map_err(|e| ack_error(&format!("Reading the pools of cluster {id}"), &e))?.nodepools;
        let kubeconfig = if d.state == "running" || d.state == "updating" || d.state == "scaling" {
            Some(
                c.describe_user_kubeconfig(id).await.map_err(|e| ack_error(&format!("Reading the kubeconfig of cluster {id}"), &e))?.config,
            )
        } else {
            prior.and_then(|p| p.kubeconfig.clone())
        };
        let addons = c.list_addon_instances(id).await.map_err(|e| ack_error(&format!("Reading the add-ons of cluster {id}"), &e))?.addons;
        let virtual_nodes = addons.iter().any(|a| a.name == VIRTUAL_NODE_ADDON);
        let user_tags: BTreeMap<String, String> =
            d.tags.iter().filter(|t| t.key != OWNER_TAG).map(|t| (t.key.clone(), t.value.clone())).collect();
        // Pools in the prior order (matched by id, then name); new ones after.
        let mut ordered = Vec::new();
        let mut rest: Vec<&NodePool> = pools.iter().collect();
        for p in prior.map(|p| p.worker_pool.as_slice()).unwrap_or(&[]) {
            let pos = rest
                .iter()
                .position(|a| a.nodepool_info.nodepool_id.is_some() && a.nodepool_info.nodepool_id == p.id)
                .or_else(|| rest.iter().position(|a| a.nodepool_info.name == p.name));
            if let Some(i) = pos {
                ordered.push(PoolModel::from_ack(rest.remove(i), Some(p)));
            }
        }
        ordered.extend(rest.into_iter().map(|a| PoolModel::from_ack(a, None)));
        let m = Model {
            id: Some(d.cluster_id.clone()),
            name: d.name.clone(),
            cluster_spec: Some(d.cluster_spec.clone()),
            kubernetes_version: Some(d.current_version.clone()).filter(|v| !v.is_empty()),
            vpc_id: Some(d.vpc_id.clone()).filter(|v| !v.is_empty()),
            vswitch_ids: Some(d.vswitch_ids.clone()),
            pod_cidr: Some(d.container_cidr.clone()),
            service_cidr: Some(d.service_cidr.clone()),
            tags: empty_as_null(user_tags, prior.and_then(|p| p.tags.as_ref())),
            deletion_protection: Some(d.deletion_protection),
            virtual_nodes: Some(virtual_nodes),
            cluster_id: Some(d.cluster_id.clone()),
            state: Some(d.state.clone()),
            api_server_endpoint: d.api_server_endpoint(),
            kubeconfig,
            worker_pool: ordered,
            timeouts: prior.and_then(|p| p.timeouts.clone()),
        };
        Ok(self.encode(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Number;

    fn pool(max: i64) -> Value {
        Value::Object(
            [
                ("name", Value::string("workers")),
                ("instance_types", Value::List(vec![Value::string("ecs.g7.xlarge")])),
                ("min_size", Value::Number(Number::Int(1))),
                ("max_size", Value::Number(Number::Int(max))),
                ("system_disk_size", Value::Null),
                ("system_disk_category", Value::Null),
                ("vswitch_ids", Value::Null),
                ("labels", Value::Null),
                ("id", Value::Null),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        )
    }

    fn config(pools: Vec<Value>, protection: Value) -> Value {
        let r = Cluster::new();
        let crate::core::Type::Object { attrs, .. } = r.schema().block.implied_type() else { unreachable!() };
        let mut m: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
        m.insert("name".into(), Value::string("analytics"));
        m.insert("worker_pool".into(), Value::List(pools));
        m.insert("deletion_protection".into(), protection);
        Value::Object(m)
    }

    /// A prior state: the planned create with the computed values filled in.
    fn applied(config: &Value) -> Value {
        let r = Cluster::new();
        let mut v = known_or_null(&r.plan(&Value::Null, config, config).planned);
        let m = v.attrs_mut().expect("object");
        for k in ["id", "cluster_id", "state", "kubeconfig", "api_server_endpoint", "kubernetes_version", "vpc_id"] {
            m.insert(k.into(), Value::string("x"));
        }
        v
    }

    fn named(name: &str, max: i64) -> Value {
        let mut p = pool(max);
        p.attrs_mut().expect("object").insert("name".into(), Value::string(name));
        p
    }

    /// `applied`, with each pool's id set to `np-<name>`.
    fn applied_with_ids(config: &Value) -> Value {
        let mut v = applied(config);
        if let Some(Value::List(pools)) = v.attrs_mut().and_then(|o| o.get_mut("worker_pool")) {
            for p in pools {
                let id = format!("np-{}", p.attr("name").as_str().unwrap_or_default());
                p.attrs_mut().expect("object").insert("id".into(), Value::string(id));
            }
        }
        v
    }

    /// Terraform's proposed new state: the configuration with computed attributes of nested
    /// blocks copied from the prior state *by position*.
    fn proposed(prior: &Value, config: &Value) -> Value {
        let mut v = config.clone();
        if let Some(Value::List(pools)) = v.attrs_mut().and_then(|o| o.get_mut("worker_pool")) {
            for (i, p) in pools.iter_mut().enumerate() {
                let id = pool_slice(prior).get(i).map(|x| x.attr("id").clone()).unwrap_or(Value::Null);
                p.attrs_mut().expect("object").insert("id".into(), id);
            }
        }
        v
    }

    fn pool_ids(plan: &Plan) -> Vec<Value> {
        pool_slice(&plan.planned).iter().map(|p| p.attr("id").clone()).collect()
    }

    #[test]
    fn scaling_adding_and_removing_pools_are_updates_that_keep_pool_ids() {
        let r = Cluster::new();
        let prior = applied_with_ids(&config(vec![named("a", 3), named("b", 3)], Value::Null));
        let plan_for = |pools: Vec<Value>| {
            let cfg = config(pools, Value::Null);
            r.plan(&prior, &proposed(&prior, &cfg), &cfg)
        };

        let scaled = plan_for(vec![named("a", 9), named("b", 3)]);
        assert!(scaled.requires_replace.is_empty(), "{:?}", scaled.requires_replace);
        assert_eq!(scaled.planned.attr("cluster_id"), &Value::string("x"), "computed values are kept on update");
        assert_eq!(pool_ids(&scaled), [Value::string("np-a"), Value::string("np-b")]);

        // A pool added in front: the others keep their ids (not their positions' ids).
        let added = plan_for(vec![named("c", 2), named("a", 3), named("b", 3)]);
        assert!(added.requires_replace.is_empty(), "{:?}", added.requires_replace);
        assert_eq!(pool_ids(&added), [Value::Unknown, Value::string("np-a"), Value::string("np-b")]);
        assert_eq!(added.planned.attr("cluster_id"), &Value::string("x"), "same cluster");

        // The first pool removed: the second keeps its id.
        let removed = plan_for(vec![named("b", 3)]);
        assert!(removed.requires_replace.is_empty(), "{:?}", removed.requires_replace);
        assert_eq!(pool_ids(&removed), [Value::string("np-b")]);

        // A rename in place keeps the pool (ModifyClusterNodePool renames it).
        let renamed = plan_for(vec![named("a", 3), named("b2", 3)]);
        assert!(renamed.requires_replace.is_empty());
        assert_eq!(pool_ids(&renamed), [Value::string("np-a"), Value::string("np-b")]);
    }

    #[test]
    fn a_force_new_change_of_a_kept_pool_still_replaces_the_cluster() {
        let r = Cluster::new();
        let prior = applied_with_ids(&config(vec![named("a", 3), named("b", 3)], Value::Null));
        let mut bigger = named("b", 3);
        bigger.attrs_mut().expect("object").insert("system_disk_size".into(), Value::Number(Number::Int(200)));
        // b moved to the front *and* got a bigger disk: the change is found on b, not on a.
        let cfg = config(vec![bigger, named("a", 3)], Value::Null);
        let plan = r.plan(&prior, &proposed(&prior, &cfg), &cfg);
        assert_eq!(plan.requires_replace, vec![AttrPath::root().attr("worker_pool").index(0).attr("system_disk_size")]);
        assert!(plan.planned.attr("cluster_id").is_unknown());
        // A new pool with a non-default disk is no replacement: it is made as configured.
        let mut fresh = named("c", 3);
        fresh.attrs_mut().expect("object").insert("system_disk_size".into(), Value::Number(Number::Int(200)));
        let cfg = config(vec![named("a", 3), named("b", 3), fresh], Value::Null);
        let plan = r.plan(&prior, &proposed(&prior, &cfg), &cfg);
        assert!(plan.requires_replace.is_empty(), "{:?}", plan.requires_replace);
    }

    #[test]
    fn pools_match_by_name_then_by_position_for_renames() {
        let v = |names: &[&str]| names.iter().map(|n| named(n, 1)).collect::<Vec<_>>();
        assert_eq!(match_pools(&v(&["a", "b"]), &v(&["b", "a"])), [Some(1), Some(0)]);
        assert_eq!(match_pools(&v(&["a", "b"]), &v(&["c", "a", "b"])), [None, Some(0), Some(1)]);
        assert_eq!(match_pools(&v(&["a", "b"]), &v(&["a", "c"])), [Some(0), Some(1)], "b renamed to c");
        assert_eq!(match_pools(&v(&["a", "b"]), &v(&["c", "a"])), [None, Some(0)], "a's slot is not taken by a new name");
        assert_eq!(match_pools(&v(&["a"]), &v(&[])), Vec::<Option<usize>>::new());
    }

    #[test]
    fn removing_an_attribute_with_a_default_plans_the_default() {
        let r = Cluster::new();
        let prior = applied(&config(vec![pool(3)], Value::Bool(true)));
        // Terraform proposes the prior value for an optional+computed attribute left unset.
        let config = config(vec![pool(3)], Value::Null);
        let mut proposed = config.clone();
        proposed.attrs_mut().expect("object").insert("deletion_protection".into(), Value::Bool(true));
        let plan = r.plan(&prior, &proposed, &config);
        assert_eq!(plan.planned.attr("deletion_protection"), &Value::Bool(false));
    }

    #[test]
    fn poll_schedule_grows_and_is_capped() {
        let mut p = Poll { next: Duration::from_secs(5), max: Duration::from_secs(45) };
        let waits: Vec<u64> = (0..8).map(|_| p.next().as_millis() as u64).collect();
        assert_eq!(waits[..3], [5000, 7500, 11250]);
        assert_eq!(*waits.last().expect("waits"), 45000);
    }

    #[test]
    fn owner_tag_is_added_once_and_never_shown() {
        let user: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned()), (OWNER_TAG.to_owned(), "spoof".to_owned())].into();
        let tags = tags_with_owner(Some(&user));
        assert_eq!(tags.iter().filter(|t| t.key == OWNER_TAG).count(), 1);
        assert_eq!(tags[0].value, OWNER_VALUE);
    }
}
