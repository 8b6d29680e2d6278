//! The ACK emulator's own reading of ACK's OpenAPI (CS 2015-12-15) request bodies and its own
//! node pool records: written from ACK's field names, independent of the client crate's types, so
//! a field misspelled in the client is refused here rather than round-tripping.
//!
//! The field names are those of the official Python SDK's models (`alibabacloud-cs20151215`
//! 7.2.3, generated from ACK's OpenAPI metadata): `CreateClusterRequest`, `Nodepool`,
//! `CreateClusterNodePoolRequest`, `ModifyClusterNodePoolRequest` and their nested objects,
//! `ModifyClusterRequest`, `Tag`. A body is checked against them before it is read ([`check`]):
//! a name ACK does not define is a 400 `ErrorParam` naming the field's path; a name ACK defines
//! that the emulator does not model is accepted and ignored. Nested objects are checked the same
//! way at every depth (`management.upgrade_config`, `scaling_group.data_disks[]`,
//! `kubernetes_config.taints[]`, CreateCluster's `addons[]`, ...); the few objects left out are
//! named at [`NODEPOOL`] and [`CREATE_CLUSTER`].

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The names ACK defines for one JSON object, and the members that are objects (or lists of
/// objects) whose names are checked too.
pub(crate) struct Fields {
    /// Every member name.
    names: &'static [&'static str],
    /// (member, its fields, whether the member is a list of such objects).
    nested: &'static [(&'static str, &'static Fields, bool)],
}

/// `Tag` (cluster tags, node labels).
pub(crate) const TAG: Fields = Fields { names: &["key", "value"], nested: &[] };

/// `Taint` (`kubernetes_config.taints[]`, CreateCluster's `taints[]`).
const TAINT: Fields = Fields { names: &["effect", "key", "value"], nested: &[] };

/// `DataDisk` (`scaling_group.data_disks[]`).
const DATA_DISK: Fields = Fields {
    names: &[
        "auto_format",
        "auto_snapshot_policy_id",
        "bursting_enabled",
        "category",
        "device",
        "disk_name",
        "encrypted",
        "file_system",
        "kms_key_id",
        "mount_target",
        "performance_level",
        "provisioned_iops",
        "size",
        "snapshot_id",
    ],
    nested: &[],
};

/// `spot_price_limit[]` of `scaling_group`.
const SPOT_PRICE_LIMIT: Fields = Fields { names: &["instance_type", "price_limit"], nested: &[] };

/// `Addon` (CreateCluster's `addons[]`).
const ADDON: Fields = Fields { names: &["config", "disabled", "name", "version"], nested: &[] };

/// `management.auto_repair_policy` (ModifyClusterNodePool's, a superset of the others).
const AUTO_REPAIR_POLICY: Fields = Fields {
    names: &["approval_required", "auto_repair_policy_id", "max_parallel_repairing_nodes", "max_unhealthy_nodes_threshold", "restart_node"],
    nested: &[],
};

/// `management.auto_upgrade_policy`.
const AUTO_UPGRADE_POLICY: Fields = Fields { names: &["auto_upgrade_kubelet", "auto_upgrade_os", "auto_upgrade_runtime"], nested: &[] };

/// `management.auto_vul_fix_policy`.
const AUTO_VUL_FIX_POLICY: Fields = Fields { names: &["exclude_packages", "restart_node", "vul_level"], nested: &[] };

/// `management.upgrade_config`.
const UPGRADE_CONFIG: Fields = Fields { names: &["auto_upgrade", "max_unavailable", "surge", "surge_percentage"], nested: &[] };

/// `management` (the same names in CreateClusterNodePool, ModifyClusterNodePool and `Nodepool`).
const MANAGEMENT: Fields = Fields {
    names: &[
        "auto_fault_diagnosis",
        "auto_repair",
        "auto_repair_policy",
        "auto_upgrade",
        "auto_upgrade_policy",
        "auto_vul_fix",
        "auto_vul_fix_policy",
        "drift_enabled",
        "enable",
        "upgrade_config",
    ],
    nested: &[
        ("auto_repair_policy", &AUTO_REPAIR_POLICY, false),
        ("auto_upgrade_policy", &AUTO_UPGRADE_POLICY, false),
        ("auto_vul_fix_policy", &AUTO_VUL_FIX_POLICY, false),
        ("upgrade_config", &UPGRADE_CONFIG, false),
    ],
};

/// `nodepool_info` (the union of CreateClusterNodePool's, ModifyClusterNodePool's and
/// CreateCluster's `nodepools[]`).
const NODEPOOL_INFO: Fields = Fields { names: &["name", "resource_group_id", "type"], nested: &[] };

/// `scaling_group` (CreateClusterNodePool's, a superset of the other two).
const SCALING_GROUP: Fields = Fields {
    names: &[
        "auto_renew",
        "auto_renew_period",
        "cis_enabled",
        "compensate_with_on_demand",
        "cpu_options",
        "data_disks",
        "deploymentset_id",
        "desired_size",
        "disk_init",
        "enable_high_density_mode",
        "image_id",
        "image_type",
        "instance_charge_type",
        "instance_metadata_options",
        "instance_patterns",
        "instance_types",
        "internet_charge_type",
        "internet_max_bandwidth_out",
        "key_pair",
        "login_as_non_root",
        "login_password",
        "multi_az_policy",
        "on_demand_base_capacity",
        "on_demand_percentage_above_base_capacity",
        "period",
        "period_unit",
        "platform",
        "private_pool_options",
        "ram_role_name",
        "rds_instances",
        "resource_pool_options",
        "scaling_policy",
        "security_group_id",
        "security_group_ids",
        "security_hardening_os",
        "soc_enabled",
        "spot_instance_pools",
        "spot_instance_remedy",
        "spot_price_limit",
        "spot_strategy",
        "system_disk_bursting_enabled",
        "system_disk_categories",
        "system_disk_category",
        "system_disk_encrypt_algorithm",
        "system_disk_encrypted",
        "system_disk_kms_key_id",
        "system_disk_performance_level",
        "system_disk_provisioned_iops",
        "system_disk_size",
        "system_disk_snapshot_policy_id",
        "tags",
        "vswitch_ids",
    ],
    nested: &[("tags", &TAG, true), ("data_disks", &DATA_DISK, true), ("spot_price_limit", &SPOT_PRICE_LIMIT, true)],
};

/// `auto_scaling`.
const AUTO_SCALING: Fields = Fields {
    names: &["eip_bandwidth", "eip_internet_charge_type", "enable", "is_bond_eip", "max_instances", "min_instances", "type"],
    nested: &[],
};

/// `kubernetes_config`.
const KUBERNETES_CONFIG: Fields = Fields {
    names: &[
        "cms_enabled",
        "cpu_policy",
        "labels",
        "node_name_mode",
        "pre_user_data",
        "runtime",
        "runtime_version",
        "taints",
        "unschedulable",
        "user_data",
    ],
    nested: &[("labels", &TAG, true), ("taints", &TAINT, true)],
};

/// A node pool body: CreateClusterNodePool's, ModifyClusterNodePool's and CreateCluster's
/// `nodepools[]` (their union). Not looked into: the objects for other node kinds (`auto_mode`,
/// `eflo_node_group`, `interconnect_config`, `node_components`, `node_config`, `tee_config`).
pub(crate) const NODEPOOL: Fields = Fields {
    names: &[
        "auto_mode",
        "auto_scaling",
        "concurrency",
        "count",
        "eflo_node_group",
        "host_network",
        "interconnect_config",
        "interconnect_mode",
        "intranet",
        "kubernetes_config",
        "management",
        "max_nodes",
        "node_components",
        "node_config",
        "nodepool_info",
        "scaling_group",
        "tee_config",
        "update_nodes",
    ],
    nested: &[
        ("nodepool_info", &NODEPOOL_INFO, false),
        ("scaling_group", &SCALING_GROUP, false),
        ("auto_scaling", &AUTO_SCALING, false),
        ("kubernetes_config", &KUBERNETES_CONFIG, false),
        ("management", &MANAGEMENT, false),
    ],
};

/// CreateCluster's body. Not looked into: the control plane, logging, RRSA and maintenance
/// objects and `worker_data_disks[]` (the provider sends none of them).
pub(crate) const CREATE_CLUSTER: Fields = Fields {
    names: &[
        "access_control_list",
        "addons",
        "api_audiences",
        "audit_log_config",
        "auto_mode",
        "auto_renew",
        "auto_renew_period",
        "charge_type",
        "cis_enabled",
        "client_token",
        "cloud_monitor_flags",
        "cluster_domain",
        "cluster_spec",
        "cluster_type",
        "container_cidr",
        "control_plane_config",
        "control_plane_endpoints_config",
        "controlplane_log_components",
        "controlplane_log_project",
        "controlplane_log_ttl",
        "cpu_policy",
        "custom_san",
        "deletion_protection",
        "disable_rollback",
        "enable_rrsa",
        "encryption_provider_key",
        "endpoint_public_access",
        "extra_sans",
        "format_disk",
        "image_id",
        "image_type",
        "instances",
        "ip_stack",
        "is_enterprise_security_group",
        "keep_instance_name",
        "key_pair",
        "kubernetes_version",
        "load_balancer_id",
        "load_balancer_spec",
        "logging_type",
        "login_password",
        "maintenance_window",
        "master_auto_renew",
        "master_auto_renew_period",
        "master_count",
        "master_instance_charge_type",
        "master_instance_types",
        "master_period",
        "master_period_unit",
        "master_system_disk_category",
        "master_system_disk_performance_level",
        "master_system_disk_size",
        "master_system_disk_snapshot_policy_id",
        "master_vswitch_ids",
        "name",
        "nat_gateway",
        "node_cidr_mask",
        "node_name_mode",
        "node_port_range",
        "nodepools",
        "num_of_nodes",
        "operation_policy",
        "os_type",
        "period",
        "period_unit",
        "platform",
        "pod_vswitch_ids",
        "profile",
        "proxy_mode",
        "rds_instances",
        "region_id",
        "resource_group_id",
        "rrsa_config",
        "runtime",
        "security_group_id",
        "security_hardening_os",
        "service_account_issuer",
        "service_cidr",
        "service_discovery_types",
        "snat_entry",
        "soc_enabled",
        "ssh_flags",
        "tags",
        "taints",
        "timeout_mins",
        "timezone",
        "user_ca",
        "user_data",
        "vpcid",
        "vswitch_ids",
        "worker_auto_renew",
        "worker_auto_renew_period",
        "worker_data_disks",
        "worker_instance_charge_type",
        "worker_instance_types",
        "worker_period",
        "worker_period_unit",
        "worker_system_disk_category",
        "worker_system_disk_performance_level",
        "worker_system_disk_size",
        "worker_system_disk_snapshot_policy_id",
        "worker_vswitch_ids",
        "zone_id",
        "zone_ids",
    ],
    nested: &[("tags", &TAG, true), ("nodepools", &NODEPOOL, true), ("taints", &TAINT, true), ("addons", &ADDON, true)],
};

/// ModifyCluster's body.
pub(crate) const MODIFY_CLUSTER: Fields = Fields {
    names: &[
        "access_control_list",
        "api_server_custom_cert_sans",
        "api_server_eip",
        "api_server_eip_id",
        "client_token",
        "cluster_name",
        "cluster_spec",
        "control_plane_config",
        "control_plane_endpoints_config",
        "deletion_protection",
        "enable_rrsa",
        "ingress_domain_rebinding",
        "ingress_loadbalancer_id",
        "instance_deletion_protection",
        "maintenance_window",
        "operation_policy",
        "resource_group_id",
        "security_group_id",
        "system_events_logging",
        "timezone",
        "vswitch_ids",
    ],
    nested: &[],
};

/// Checks that `body` (an object) uses only names ACK defines, recursively through the members
/// `fields` lists as nested; `path` prefixes the field named in the error (empty at the top).
pub(crate) fn check(body: &Json, fields: &Fields, path: &str) -> Result<(), String> {
    let Some(members) = body.as_object() else {
        return Err(format!("{} must be a JSON object.", if path.is_empty() { "The request body" } else { path }));
    };
    for (name, value) in members {
        let at = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        if !fields.names.contains(&name.as_str()) {
            return Err(format!("The parameter {at} is not valid."));
        }
        let Some((_, inner, list)) = fields.nested.iter().find(|(n, _, _)| n == name) else { continue };
        match (value, list) {
            (Json::Null, _) => {}
            (Json::Array(items), true) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, inner, &format!("{at}[{i}]"))?;
                }
            }
            (_, true) => return Err(format!("{at} must be a list.")),
            (v, false) => check(v, inner, &at)?,
        }
    }
    Ok(())
}

/// A list of `{key, value}` (ModifyClusterTags' body) checked against [`TAG`].
pub(crate) fn check_tags(body: &Json) -> Result<(), String> {
    let Some(items) = body.as_array() else { return Err("The request body must be a list of tags.".into()) };
    items.iter().enumerate().try_for_each(|(i, t)| check(t, &TAG, &format!("[{i}]")))
}

/// `{key, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `nodepool_info` as the emulator keeps it: `nodepool_id` is the emulator's (a body naming it is
/// refused by [`check`]: ACK defines no such request field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct NodepoolInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodepool_id: Option<String>,
}

/// A node taint (`kubernetes_config.taints[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub effect: String,
}

/// The taint effects ACK (and Kubernetes) know.
pub(crate) const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// The spot strategies of `scaling_group.spot_strategy`.
pub(crate) const SPOT_STRATEGIES: &[&str] = &["NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"];

/// `scaling_group.spot_price_limit[]`: the highest price per hour for one instance type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct SpotPriceLimit {
    #[serde(default)]
    pub instance_type: String,
    #[serde(default)]
    pub price_limit: String,
}

/// An add-on of CreateCluster's `addons[]` or InstallClusterAddons' body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Addon {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// The name of the add-on that gives a cluster its virtual node.
pub(crate) const VIRTUAL_NODE_ADDON: &str = "ack-virtual-node";

/// The modelled part of `scaling_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct ScalingGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vswitch_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_disk_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_disk_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_price_limit: Option<Vec<SpotPriceLimit>>,
}

/// The modelled part of `auto_scaling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct AutoScaling {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
}

/// The modelled part of `kubernetes_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct KubernetesConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
}

/// A node pool: a body (CreateClusterNodePool, ModifyClusterNodePool, CreateCluster's
/// `nodepools[]`; every section optional, as ModifyClusterNodePool's partial bodies need) and,
/// with its id, the record the emulator keeps and describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Nodepool {
    #[serde(default)]
    pub nodepool_info: NodepoolInfo,
    #[serde(default)]
    pub scaling_group: ScalingGroup,
    #[serde(default)]
    pub auto_scaling: AutoScaling,
    #[serde(default)]
    pub kubernetes_config: KubernetesConfig,
}

impl Nodepool {
    /// The pool's name (`""` when none was given).
    pub fn name(&self) -> &str {
        self.nodepool_info.name.as_deref().unwrap_or_default()
    }

    /// The autoscaler's lower bound (0 when none was given).
    pub fn min_instances(&self) -> i64 {
        self.auto_scaling.min_instances.unwrap_or(0)
    }

    /// Whether the emulated nodes run on spot instances, and what ACK checks of the spot fields
    /// and taints: a known strategy, a price limit only with `SpotWithPriceLimit`, known effects.
    pub fn check_scheduling(&self) -> Result<(), String> {
        let sg = &self.scaling_group;
        if let Some(st) = sg.spot_strategy.as_deref() {
            if !SPOT_STRATEGIES.contains(&st) {
                return Err(format!("scaling_group.spot_strategy {st:?} is not one of {}.", SPOT_STRATEGIES.join(", ")));
            }
        }
        if sg.spot_price_limit.as_ref().is_some_and(|l| !l.is_empty()) && sg.spot_strategy.as_deref() != Some("SpotWithPriceLimit") {
            return Err("scaling_group.spot_price_limit is only valid with spot_strategy SpotWithPriceLimit.".into());
        }
        for (i, t) in self.kubernetes_config.taints.iter().flatten().enumerate() {
            if t.key.is_empty() {
                return Err(format!("kubernetes_config.taints[{i}].key must not be empty."));
            }
            if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
                return Err(format!("kubernetes_config.taints[{i}].effect {:?} is not one of {}.", t.effect, TAINT_EFFECTS.join(", ")));
            }
        }
        Ok(())
    }

    /// The autoscaler's upper bound (the lower bound when none was given).
    pub fn max_instances(&self) -> i64 {
        self.auto_scaling.max_instances.unwrap_or_else(|| self.min_instances())
    }

    /// Applies a ModifyClusterNodePool body: every field it gives replaces the pool's, the rest
    /// is kept.
    pub fn apply(&mut self, change: Nodepool) {
        fn set<T>(to: &mut Option<T>, from: Option<T>) {
            if from.is_some() {
                *to = from;
            }
        }
        set(&mut self.nodepool_info.name, change.nodepool_info.name);
        let (sg, c) = (&mut self.scaling_group, change.scaling_group);
        set(&mut sg.instance_types, c.instance_types);
        set(&mut sg.vswitch_ids, c.vswitch_ids);
        set(&mut sg.system_disk_size, c.system_disk_size);
        set(&mut sg.system_disk_category, c.system_disk_category);
        set(&mut sg.desired_size, c.desired_size);
        set(&mut sg.spot_strategy, c.spot_strategy);
        set(&mut sg.spot_price_limit, c.spot_price_limit);
        let (a, c) = (&mut self.auto_scaling, change.auto_scaling);
        set(&mut a.enable, c.enable);
        set(&mut a.min_instances, c.min_instances);
        set(&mut a.max_instances, c.max_instances);
        set(&mut self.kubernetes_config.labels, change.kubernetes_config.labels);
        set(&mut self.kubernetes_config.taints, change.kubernetes_config.taints);
    }
}

/// The modelled part of CreateCluster's body (what the emulator keeps and describes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct CreateCluster {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub region_id: String,
    #[serde(default)]
    pub cluster_type: String,
    #[serde(default)]
    pub cluster_spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpcid: Option<String>,
    #[serde(default)]
    pub vswitch_ids: Vec<String>,
    #[serde(default)]
    pub container_cidr: String,
    #[serde(default)]
    pub service_cidr: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default)]
    pub nodepools: Vec<Nodepool>,
    /// The add-ons asked at creation, then those InstallClusterAddons added.
    #[serde(default)]
    pub addons: Vec<Addon>,
}

/// The modelled part of ModifyCluster's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct ModifyCluster {
    #[serde(default)]
    pub deletion_protection: Option<bool>,
    #[serde(default)]
    pub cluster_name: Option<String>,
}

/// InstallClusterAddons' body: a list of `{name, version, config}`.
const INSTALL_ADDON: Fields = Fields { names: &["config", "name", "version"], nested: &[] };

/// Reads InstallClusterAddons' body (a list of add-ons, each named).
pub(crate) fn read_addons(body: &[u8]) -> Result<Vec<Addon>, String> {
    let v: Json = serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    let Some(items) = v.as_array() else { return Err("The request body must be a list of add-ons.".into()) };
    for (i, a) in items.iter().enumerate() {
        check(a, &INSTALL_ADDON, &format!("[{i}]"))?;
        if a["name"].as_str().is_none_or(str::is_empty) {
            return Err(format!("[{i}].name must name an add-on."));
        }
    }
    serde_json::from_value(v).map_err(|e| format!("The request body is not valid: {e}"))
}

/// UnInstallClusterAddons' body: a list of `{name, cleanup_cloud_resources}`.
const UNINSTALL_ADDON: Fields = Fields { names: &["cleanup_cloud_resources", "name"], nested: &[] };

/// Reads UnInstallClusterAddons' body: the names of the add-ons to remove.
pub(crate) fn read_uninstall(body: &[u8]) -> Result<Vec<String>, String> {
    let v: Json = serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    let Some(items) = v.as_array() else { return Err("The request body must be a list of add-ons.".into()) };
    let mut names = Vec::new();
    for (i, a) in items.iter().enumerate() {
        check(a, &UNINSTALL_ADDON, &format!("[{i}]"))?;
        match a["name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => names.push(n.to_owned()),
            None => return Err(format!("[{i}].name must name an add-on.")),
        }
    }
    Ok(names)
}

/// Reads a JSON request body: checked against ACK's names ([`check`], or [`check_tags`] when
/// `fields` is `None`), then the modelled part.
pub(crate) fn read<T: serde::de::DeserializeOwned>(body: &[u8], fields: Option<&Fields>) -> Result<T, String> {
    let v: Json = serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    match fields {
        Some(f) => check(&v, f, "")?,
        None => check_tags(&v)?,
    }
    serde_json::from_value(v).map_err(|e| format!("The request body is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `check` of `body` against `fields`: `Ok` or the path it names.
    fn refused(body: Json, fields: &Fields) -> Result<(), String> {
        check(&body, fields, "").map_err(|e| e.trim_start_matches("The parameter ").trim_end_matches(" is not valid.").to_owned())
    }

    #[test]
    fn top_level_names_ack_does_not_define_are_refused() {
        assert_eq!(refused(json!({"nodepool_info": {"name": "a"}, "auto_scaling": {"enable": true}}), &NODEPOOL), Ok(()));
        assert_eq!(
            check(&json!({"nodepol_info": {}}), &NODEPOOL, ""),
            Err("The parameter nodepol_info is not valid.".into()),
            "the message ACK's ErrorParam carries"
        );
        assert_eq!(refused(json!({"name": "c", "vpc_id": "vpc-1"}), &CREATE_CLUSTER), Err("vpc_id".into()));
        assert_eq!(refused(json!({"cluster_name": "c", "deletion_protect": true}), &MODIFY_CLUSTER), Err("deletion_protect".into()));
        assert!(check_tags(&json!([{"key": "a", "value": "b"}])).is_ok());
        assert!(check_tags(&json!({"key": "a"})).is_err());
    }

    #[test]
    fn names_one_level_down_are_refused_with_their_path() {
        for (member, bad) in [
            ("nodepool_info", json!({"nodepool_name": "w"})),
            ("scaling_group", json!({"instance_type": ["ecs.g7.xlarge"]})),
            ("auto_scaling", json!({"min_instance": 1})),
            ("kubernetes_config", json!({"label": []})),
            ("management", json!({"auto_repairs": true})),
        ] {
            let key = bad.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            assert_eq!(refused(json!({ member: bad }), &NODEPOOL), Err(format!("{member}.{key}")), "{member}");
        }
        assert_eq!(refused(json!({"tags": [{"key": "a", "val": "b"}]}), &CREATE_CLUSTER), Err("tags[0].val".into()));
        assert_eq!(refused(json!({"addons": [{"name": "csi-plugin", "configs": "{}"}]}), &CREATE_CLUSTER), Err("addons[0].configs".into()));
        // Names ACK defines but the emulator does not model are accepted (and ignored).
        let known =
            json!({"scaling_group": {"data_disks": [], "spot_strategy": "NoSpot"}, "management": {"enable": true, "auto_repair": true}});
        assert_eq!(refused(known, &NODEPOOL), Ok(()));
    }

    #[test]
    fn names_two_levels_down_are_refused_with_their_path() {
        assert_eq!(
            refused(json!({"kubernetes_config": {"labels": [{"key": "a", "vaule": "b"}]}}), &NODEPOOL),
            Err("kubernetes_config.labels[0].vaule".into())
        );
        assert_eq!(
            refused(
                json!({"kubernetes_config": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "efect": "NoSchedule"}]}}),
                &NODEPOOL
            ),
            Err("kubernetes_config.taints[1].efect".into())
        );
        assert_eq!(
            refused(json!({"scaling_group": {"data_disks": [{"category": "cloud_essd", "sise": 40}]}}), &NODEPOOL),
            Err("scaling_group.data_disks[0].sise".into())
        );
        assert_eq!(
            refused(json!({"management": {"upgrade_config": {"surge": 1, "max_unavailble": 0}}}), &NODEPOOL),
            Err("management.upgrade_config.max_unavailble".into())
        );
        assert_eq!(
            refused(json!({"management": {"auto_repair_policy": {"restart_nodes": true}}}), &NODEPOOL),
            Err("management.auto_repair_policy.restart_nodes".into())
        );
        assert_eq!(
            refused(json!({"name": "c", "nodepools": [{"nodepool_info": {"name": "w"}}, {"nodepol_info": {}}]}), &CREATE_CLUSTER),
            Err("nodepools[1].nodepol_info".into())
        );
        let good =
            json!({"management": {"auto_upgrade_policy": {"auto_upgrade_kubelet": true}, "auto_vul_fix_policy": {"vul_level": "asap"}}});
        assert_eq!(refused(good, &NODEPOOL), Ok(()));
    }

    #[test]
    fn names_three_and_four_levels_down_are_refused_with_their_path() {
        // CreateCluster → nodepools[] → scaling_group / kubernetes_config / management → ...
        let body = |pool: Json| json!({"name": "c", "nodepools": [pool]});
        assert_eq!(
            refused(body(json!({"scaling_group": {"instance_typs": []}})), &CREATE_CLUSTER),
            Err("nodepools[0].scaling_group.instance_typs".into())
        );
        assert_eq!(
            refused(body(json!({"auto_scaling": {"max_instance": 3}})), &CREATE_CLUSTER),
            Err("nodepools[0].auto_scaling.max_instance".into())
        );
        assert_eq!(
            refused(body(json!({"kubernetes_config": {"labels": [{"key": "a", "valu": "b"}]}})), &CREATE_CLUSTER),
            Err("nodepools[0].kubernetes_config.labels[0].valu".into())
        );
        assert_eq!(
            refused(body(json!({"management": {"upgrade_config": {"surge_percent": 10}}})), &CREATE_CLUSTER),
            Err("nodepools[0].management.upgrade_config.surge_percent".into())
        );
        // A member that must be a list or an object and is not.
        assert_eq!(check(&json!({"nodepools": {"a": 1}}), &CREATE_CLUSTER, ""), Err("nodepools must be a list.".into()));
        assert_eq!(check(&json!({"management": [1]}), &NODEPOOL, ""), Err("management must be a JSON object.".into()));
    }

    #[test]
    fn a_partial_modify_keeps_what_it_does_not_name() {
        let mut pool: Nodepool = read(
            br#"{"nodepool_info":{"name":"w"},"scaling_group":{"instance_types":["ecs.g7.xlarge"]},"auto_scaling":{"enable":true,"min_instances":1,"max_instances":3}}"#,
            Some(&NODEPOOL),
        )
        .expect("reads");
        let change: Nodepool = read(br#"{"auto_scaling":{"min_instances":2,"max_instances":5}}"#, Some(&NODEPOOL)).expect("reads");
        pool.apply(change);
        assert_eq!((pool.name(), pool.min_instances(), pool.max_instances()), ("w", 2, 5));
        assert_eq!(pool.auto_scaling.enable, Some(true));
        assert_eq!(pool.scaling_group.instance_types.as_deref(), Some(&["ecs.g7.xlarge".to_owned()][..]));
    }

    #[test]
    fn a_body_cannot_set_the_pool_id() {
        let pool: Nodepool = read(br#"{"nodepool_info":{"name":"w"}}"#, Some(&NODEPOOL)).expect("reads");
        assert_eq!(pool.nodepool_info.nodepool_id, None);
        assert!(read::<Nodepool>(br#"{"nodepool_info":{"nodepool_id":"np1"}}"#, Some(&NODEPOOL)).is_err(), "not an ACK request field");
    }
}
