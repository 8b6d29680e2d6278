//! Request and response shapes of the ACK (CS 2015-12-15) operations we use, as ACK's JSON
//! spells them. Unknown fields are ignored; absent ones default, because ACK omits many.

use serde::{Deserialize, Serialize};

/// A `{key, value}` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[serde(default)]
    pub value: String,
}

/// `nodepools[].nodepool_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodePoolInfo {
    /// Pool name.
    pub name: String,
    /// Pool id (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodepool_id: Option<String>,
}

/// `nodepools[].scaling_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScalingGroup {
    /// ECS instance types.
    #[serde(default)]
    pub instance_types: Vec<String>,
    /// vSwitches of the nodes.
    #[serde(default)]
    pub vswitch_ids: Vec<String>,
    /// System disk size (GiB).
    #[serde(default)]
    pub system_disk_size: i64,
    /// System disk category.
    #[serde(default)]
    pub system_disk_category: String,
    /// `NoSpot` (pay-as-you-go), `SpotAsPriceGo` (the market price) or `SpotWithPriceLimit`
    /// (at most `spot_price_limit`). Not sent when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_strategy: Option<String>,
    /// The highest price per instance type, with `SpotWithPriceLimit`. Sent (`[]` too) whenever
    /// `spot_strategy` is, so a modify that leaves `SpotWithPriceLimit` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_price_limit: Option<Vec<SpotPriceLimit>>,
}

/// `scaling_group.spot_price_limit[]`: the highest hourly price of one spot instance type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SpotPriceLimit {
    /// The instance type.
    pub instance_type: String,
    /// The highest price per instance and hour, as a decimal string (`"0.5"`).
    pub price_limit: String,
}

/// A node taint (`kubernetes_config.taints[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    #[serde(default)]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
}

/// A cluster add-on (CreateCluster's `addons[]`, InstallClusterAddons' body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Addon {
    /// Add-on name, e.g. `ack-virtual-node`.
    pub name: String,
    /// Version (ACK's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Configuration, a JSON document as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// One installed add-on (ListClusterAddonInstances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AddonInstance {
    /// Add-on name.
    pub name: String,
    /// Installed version.
    #[serde(default)]
    pub version: String,
    /// State, e.g. `active`.
    #[serde(default)]
    pub state: String,
}

/// ListClusterAddonInstances' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AddonInstances {
    /// The installed add-ons.
    #[serde(default)]
    pub addons: Vec<AddonInstance>,
}

/// `nodepools[].auto_scaling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AutoScaling {
    /// Whether the autoscaler manages the pool.
    #[serde(default)]
    pub enable: bool,
    /// Fewest nodes.
    #[serde(default)]
    pub min_instances: i64,
    /// Most nodes.
    #[serde(default)]
    pub max_instances: i64,
}

/// `nodepools[].kubernetes_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KubernetesConfig {
    /// Node labels.
    #[serde(default)]
    pub labels: Vec<Tag>,
    /// Node taints; `Some(vec![])` sends `[]`, which clears them in a modify. Not sent when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
}

/// `nodepools[].status` (answers only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodePoolStatus {
    /// `initial`, `active`, `scaling`, `removing`, `deleting`, `updating` or `failed`.
    #[serde(default)]
    pub state: String,
    /// Nodes in the pool.
    #[serde(default)]
    pub total_nodes: i64,
    /// Healthy nodes.
    #[serde(default)]
    pub healthy_nodes: i64,
}

impl NodePoolStatus {
    /// True when the pool is settled: no operation of its own is under way.
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }

    /// True when the pool's own operation has failed.
    pub fn is_failed(&self) -> bool {
        self.state == "failed"
    }
}

/// A node pool, as created, described and modified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodePool {
    /// Name and id.
    pub nodepool_info: NodePoolInfo,
    /// Instances and disks.
    #[serde(default)]
    pub scaling_group: ScalingGroup,
    /// Autoscaler bounds.
    #[serde(default)]
    pub auto_scaling: AutoScaling,
    /// Node labels.
    #[serde(default)]
    pub kubernetes_config: KubernetesConfig,
    /// Where the pool is in its life (answers only; never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodePoolStatus>,
    /// ModifyClusterNodePool only: whether the nodes the pool already has get the new labels
    /// and taints too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_nodes: Option<bool>,
}

impl NodePool {
    /// The pool's state, `""` when ACK gave none.
    pub fn state(&self) -> &str {
        self.status.as_ref().map(|s| s.state.as_str()).unwrap_or_default()
    }
}

/// CreateCluster's body for a managed cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateClusterRequest {
    /// Cluster name.
    pub name: String,
    /// Region id.
    pub region_id: String,
    /// Always `ManagedKubernetes` here.
    pub cluster_type: String,
    /// `ack.pro.small` or `ack.standard`.
    pub cluster_spec: String,
    /// Kubernetes version (ACK's latest when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// VPC id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpcid: Option<String>,
    /// Control-plane vSwitches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vswitch_ids: Vec<String>,
    /// Pod CIDR.
    pub container_cidr: String,
    /// Service CIDR.
    pub service_cidr: String,
    /// Cluster tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Refuse DeleteCluster while true.
    #[serde(default)]
    pub deletion_protection: bool,
    /// Node pools created with the cluster.
    #[serde(default)]
    pub nodepools: Vec<NodePool>,
    /// Add-ons installed with the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<Addon>,
}

/// CreateCluster's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct CreateClusterResponse {
    /// The new cluster's id.
    pub cluster_id: String,
    /// The creation task.
    #[serde(default)]
    pub task_id: String,
    /// Request id.
    #[serde(default)]
    pub request_id: String,
}

/// DescribeClusterDetail (and DescribeClustersV1 items).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ClusterDetail {
    /// Cluster id.
    pub cluster_id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// State: `initial`, `running`, `failed`, `deleting`, `deleted`, ...
    #[serde(default)]
    pub state: String,
    /// Region id.
    #[serde(default)]
    pub region_id: String,
    /// `ManagedKubernetes`, ...
    #[serde(default)]
    pub cluster_type: String,
    /// Managed cluster specification.
    #[serde(default)]
    pub cluster_spec: String,
    /// Kubernetes version.
    #[serde(default)]
    pub current_version: String,
    /// VPC id.
    #[serde(default)]
    pub vpc_id: String,
    /// vSwitch ids.
    #[serde(default)]
    pub vswitch_ids: Vec<String>,
    /// Pod CIDR.
    #[serde(default)]
    pub container_cidr: String,
    /// Service CIDR.
    #[serde(default)]
    pub service_cidr: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Deletion protection.
    #[serde(default)]
    pub deletion_protection: bool,
    /// A JSON document in a string: `{"api_server_endpoint": ..., "intranet_api_server_endpoint": ...}`.
    #[serde(default)]
    pub master_url: String,
}

impl ClusterDetail {
    /// The public API server endpoint from `master_url`, else the intranet one.
    pub fn api_server_endpoint(&self) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_str(&self.master_url).ok()?;
        ["api_server_endpoint", "intranet_api_server_endpoint"]
            .iter()
            .find_map(|k| doc[*k].as_str().filter(|s| !s.is_empty()).map(str::to_owned))
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
    }
}

/// DescribeClustersV1's paging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct PageInfo {
    /// 1-based page.
    #[serde(default)]
    pub page_number: i64,
    /// Page size.
    #[serde(default)]
    pub page_size: i64,
    /// Clusters in all pages.
    #[serde(default)]
    pub total_count: i64,
}

/// DescribeClustersV1's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ClustersPage {
    /// The clusters of this page.
    #[serde(default)]
    pub clusters: Vec<ClusterDetail>,
    /// Paging.
    #[serde(default)]
    pub page_info: PageInfo,
}

/// DescribeClusterUserKubeconfig's answer.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct UserKubeconfig {
    /// The kubeconfig document (a secret).
    pub config: String,
    /// When its credentials expire.
    #[serde(default)]
    pub expiration: String,
}

impl std::fmt::Debug for UserKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKubeconfig").field("config", &"<redacted>").field("expiration", &self.expiration).finish()
    }
}

/// A task's error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct TaskError {
    /// Error code.
    #[serde(default)]
    pub code: String,
    /// Human-readable reason.
    #[serde(default)]
    pub message: String,
}

/// DescribeTaskInfo's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct TaskInfo {
    /// Task id.
    pub task_id: String,
    /// Cluster id.
    #[serde(default)]
    pub cluster_id: String,
    /// `running`, `success` or `fail` (as ACK spells it).
    #[serde(default)]
    pub state: String,
    /// What the task does, e.g. `cluster_create`.
    #[serde(default)]
    pub task_type: String,
    /// Set when the task failed.
    #[serde(default)]
    pub error: Option<TaskError>,
}

/// DescribeClusterNodePools' answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct NodePools {
    /// The pools.
    #[serde(default)]
    pub nodepools: Vec<NodePool>,
}

/// CreateClusterNodePool's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct NodePoolCreated {
    /// The new pool's id.
    pub nodepool_id: String,
    /// The task that builds it.
    #[serde(default)]
    pub task_id: String,
    /// Request id.
    #[serde(default)]
    pub request_id: String,
}

/// An answer that starts a task (ModifyCluster, ModifyClusterNodePool, DeleteCluster).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct TaskStarted {
    /// Task id (absent for synchronous changes).
    #[serde(default)]
    pub task_id: String,
    /// Request id.
    #[serde(default)]
    pub request_id: String,
}
