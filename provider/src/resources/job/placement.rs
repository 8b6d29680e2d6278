//! Where the job's pods run and what they carry: `node_selector`, `tolerations`, extra `labels`
//! and `annotations`, each set for the driver and for the executors separately.
//!
//! The driver pod is the provider's own, so it gets these fields directly. Executors are made
//! by Spark in the driver: node selectors, labels and annotations go through Spark's settings
//! (`spark.kubernetes.executor.{node.selector,label,annotation}.*`); Spark has none for
//! tolerations, so they go into an executor pod template, a ConfigMap the provider owns (owned
//! in turn by the driver pod, so it goes with the job), mounted in the driver and named by
//! `spark.kubernetes.executor.podTemplateFile`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Pod, Toleration, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::spec::{string_map, JobSpec};
use crate::core::schema::Validator;
use crate::core::validators::{k8s_labels, one_of};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Type, Value};

/// Toleration operators Kubernetes defines.
pub(super) const OPERATORS: &[&str] = &["Equal", "Exists"];
/// Taint effects Kubernetes defines; empty tolerates every effect.
pub(super) const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute", ""];

/// Label keys sparkoss sets itself and selects by (logs, metering, the driver's service); a
/// user label with one of these would change what the job's pods are counted as.
pub(super) const RESERVED_LABELS: &[&str] = &["spark-role", "app.kubernetes.io/managed-by"];
/// The prefix of every sparkoss label and annotation.
pub(super) const RESERVED_PREFIX: &str = "sparkoss.io/";

/// Where the executor pod template is mounted in the driver.
pub(super) const TEMPLATE_DIR: &str = "/opt/sparkoss/pod-template";
/// The template's file name in [`TEMPLATE_DIR`] (and its key in the ConfigMap).
pub(super) const TEMPLATE_FILE: &str = "executor.json";

/// Spark settings the placement attributes own: exact keys, then prefixes.
pub(super) const MANAGED_CONF: &[(&str, &str)] = &[
    ("spark.kubernetes.executor.podTemplateFile", "executor.tolerations (sparkoss writes the executors' pod template)"),
    ("spark.kubernetes.driver.podTemplateFile", "the driver block (the provider creates the driver pod itself)"),
];
/// Prefixes of Spark settings the placement attributes own.
pub(super) const MANAGED_PREFIXES: &[(&str, &str)] = &[
    ("spark.kubernetes.node.selector.", "driver.node_selector and executor.node_selector"),
    ("spark.kubernetes.driver.node.selector.", "driver.node_selector"),
    ("spark.kubernetes.executor.node.selector.", "executor.node_selector"),
    ("spark.kubernetes.executor.label.", "executor.labels"),
    ("spark.kubernetes.executor.annotation.", "executor.annotations"),
];

/// The placement of one role's pods, as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Placement {
    pub(super) node_selector: BTreeMap<String, String>,
    pub(super) tolerations: Vec<Toleration>,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
}

/// The placement of a `driver` or `executor` block (state or plan).
pub(super) fn placement(block: &Value) -> Placement {
    let tolerations = block
        .attr("tolerations")
        .elements()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let s = |n: &str| t.attr(n).as_str().map(str::to_owned);
            Toleration {
                key: s("key").filter(|k| !k.is_empty()),
                operator: Some(s("operator").unwrap_or_else(|| "Equal".into())),
                value: s("value").filter(|v| !v.is_empty()),
                effect: s("effect").filter(|e| !e.is_empty()),
                toleration_seconds: None,
            }
        })
        .collect();
    Placement {
        node_selector: string_map(block.attr("node_selector")),
        tolerations,
        labels: string_map(block.attr("labels")),
        annotations: string_map(block.attr("annotations")),
    }
}

/// Annotation keys: qualified names like label keys; values are free.
fn annotation_keys() -> Validator {
    let labels = k8s_labels();
    Validator {
        description: "Kubernetes annotation keys".into(),
        check: Arc::new(move |v, p, d| {
            // Reuse the label-key check on the keys alone (annotation values are free text).
            let keys_only = v.entries().map(|m| Value::Map(m.keys().map(|k| (k.clone(), Value::string(""))).collect()));
            if let Some(keys) = keys_only {
                (labels.check)(&keys, p, d);
            }
        }),
    }
}

/// Adds the placement attributes to a `driver` or `executor` block (`what` names it in docs).
pub(super) fn attributes(block: Block, what: &str) -> Block {
    let toleration = Block::new(&format!("A toleration of the {what}' pods for a node taint (Kubernetes' `tolerations`)."))
        .attr(Attribute::optional(
            "key",
            Type::String,
            "Taint key, e.g. `virtual-kubelet.io/provider`; empty with `operator = \"Exists\"` tolerates every taint.",
        ))
        .attr(
            Attribute::with_default(
                "operator",
                Type::String,
                Value::string("Equal"),
                "`Equal` (the taint's value must be `value`) or `Exists` (any value), default `Equal`.",
            )
            .validate(one_of(OPERATORS)),
        )
        .attr(Attribute::optional("value", Type::String, "Taint value to match with `Equal`; must be empty with `Exists`."))
        .attr(
            Attribute::optional(
                "effect",
                Type::String,
                "Taint effect tolerated: `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty or unset tolerates every effect.",
            )
            .validate(one_of(EFFECTS)),
        );
    block
        .attr(
            Attribute::optional(
                "node_selector",
                Type::map(Type::String),
                &format!("Node labels the {what}' pods must run on, e.g. `{{ type = \"virtual-kubelet\" }}` for ACK's virtual node (ECI)."),
            )
            .validate(k8s_labels()),
        )
        .attr(
            Attribute::optional(
                "labels",
                Type::map(Type::String),
                &format!("Extra labels of the {what}' pods. Keys under `sparkoss.io/`, `spark-role` and `app.kubernetes.io/managed-by` are sparkoss's own and refused."),
            )
            .validate(k8s_labels()),
        )
        .attr(
            Attribute::optional(
                "annotations",
                Type::map(Type::String),
                &format!("Extra annotations of the {what}' pods, e.g. ECI's `k8s.aliyun.com/eci-use-specs`. Keys under `sparkoss.io/` are refused."),
            )
            .validate(annotation_keys()),
        )
        .block(NestedBlock::list("tolerations", toleration, 0, 0))
}

/// Cross-attribute checks of both blocks: no reserved label or annotation, tolerations that
/// Kubernetes would accept, no placement set through `spark_conf`.
pub(super) fn validate(config: &Value, diags: &mut Diagnostics) {
    for role in ["driver", "executor"] {
        let b = config.attr(role);
        let path = AttrPath::root().attr(role);
        for key in string_map_keys(b.attr("labels")) {
            if key.starts_with(RESERVED_PREFIX) || RESERVED_LABELS.contains(&key.as_str()) {
                diags.attr_error(
                    &path.attr("labels").key(&key),
                    "Label reserved by sparkoss",
                    format!("{role}.labels[{key:?}]: sparkoss sets `sparkoss.io/*`, `spark-role` and `app.kubernetes.io/managed-by` itself (logs and metering select by them); use another key"),
                );
            }
        }
        for key in string_map_keys(b.attr("annotations")) {
            if key.starts_with(RESERVED_PREFIX) {
                diags.attr_error(
                    &path.attr("annotations").key(&key),
                    "Annotation reserved by sparkoss",
                    format!("{role}.annotations[{key:?}]: keys under `sparkoss.io/` are sparkoss's own; use another key"),
                );
            }
        }
        for (i, t) in b.attr("tolerations").elements().unwrap_or_default().iter().enumerate() {
            let tp = path.attr("tolerations").index(i);
            let op = t.attr("operator").as_str().unwrap_or("Equal");
            let has = |n: &str| t.attr(n).as_str().is_some_and(|s| !s.is_empty());
            if op == "Exists" && has("value") {
                diags.attr_error(
                    &tp.attr("value"),
                    "Invalid toleration",
                    format!("{role}.tolerations[{i}]: operator \"Exists\" matches any value, so value must be empty"),
                );
            }
            if op == "Equal" && !has("key") && !t.attr("key").is_unknown() {
                diags.attr_error(
                    &tp.attr("key"),
                    "Invalid toleration",
                    format!("{role}.tolerations[{i}]: operator \"Equal\" needs a key (an empty key tolerates every taint only with operator \"Exists\")"),
                );
            }
        }
    }
    if let Some(conf) = config.attr("spark_conf").entries() {
        for key in conf.keys() {
            let instead = MANAGED_CONF
                .iter()
                .find(|(k, _)| k == key)
                .or_else(|| MANAGED_PREFIXES.iter().find(|(p, _)| key.starts_with(p)))
                .map(|(_, i)| *i);
            if let Some(instead) = instead {
                diags.attr_error(
                    &AttrPath::root().attr("spark_conf").key(key),
                    "Setting managed by sparkoss",
                    format!("{key:?} is set by sparkoss; use {instead}"),
                );
            }
        }
    }
}

fn string_map_keys(v: &Value) -> Vec<String> {
    v.entries().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// The executors' placement as Spark configuration; `template` is the path of the pod
/// template in the driver when the executors have tolerations.
pub(super) fn executor_conf(p: &Placement, template: Option<&str>) -> BTreeMap<String, String> {
    let mut conf = BTreeMap::new();
    for (k, v) in &p.node_selector {
        conf.insert(format!("spark.kubernetes.executor.node.selector.{k}"), v.clone());
    }
    for (k, v) in &p.labels {
        conf.insert(format!("spark.kubernetes.executor.label.{k}"), v.clone());
    }
    for (k, v) in &p.annotations {
        conf.insert(format!("spark.kubernetes.executor.annotation.{k}"), v.clone());
    }
    if let Some(t) = template {
        conf.insert("spark.kubernetes.executor.podTemplateFile".into(), t.to_owned());
    }
    conf
}

/// The path of the executor pod template in the driver.
pub(super) fn template_path() -> String {
    format!("{TEMPLATE_DIR}/{TEMPLATE_FILE}")
}

/// The executor pod template (JSON, which Spark's YAML reader accepts) when the executors have
/// tolerations: the one thing Spark cannot set from its configuration.
pub(super) fn executor_template(p: &Placement) -> Option<String> {
    if p.tolerations.is_empty() {
        return None;
    }
    let pod = Pod {
        metadata: ObjectMeta::default(),
        spec: Some(k8s_openapi::api::core::v1::PodSpec {
            tolerations: Some(p.tolerations.clone()),
            containers: Vec::new(),
            ..Default::default()
        }),
        status: None,
    };
    let mut j = serde_json::to_value(&pod).ok()?;
    if let Some(m) = j.as_object_mut() {
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Pod".into());
    }
    Some(j.to_string())
}

/// The ConfigMap holding the executor pod template; `owner` is the driver pod once it exists.
pub(super) fn template_config_map(spec: &JobSpec, template: &str, owner: Option<&Pod>) -> ConfigMap {
    let mut data = BTreeMap::new();
    data.insert(TEMPLATE_FILE.to_owned(), template.to_owned());
    let mut labels = spec.labels("driver");
    labels.remove("spark-role");
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(spec.template_config_map()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(labels),
            owner_references: owner.map(|pod| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    uid: pod.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]
            }),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Gives the driver pod its own placement, and mounts the executor template when there is one.
pub(super) fn place_driver(pod: &mut Pod, p: &Placement, template_config_map: Option<&str>) {
    let meta = &mut pod.metadata;
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in &p.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in &p.annotations {
        annotations.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let Some(spec) = pod.spec.as_mut() else { return };
    if !p.node_selector.is_empty() {
        spec.node_selector = Some(p.node_selector.clone());
    }
    if !p.tolerations.is_empty() {
        spec.tolerations = Some(p.tolerations.clone());
    }
    if let Some(cm) = template_config_map {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: "sparkoss-pod-template".into(),
            config_map: Some(ConfigMapVolumeSource { name: cm.to_owned(), ..Default::default() }),
            ..Default::default()
        });
        if let Some(c) = spec.containers.first_mut() {
            c.volume_mounts.get_or_insert_with(Vec::new).push(VolumeMount {
                name: "sparkoss-pod-template".into(),
                mount_path: TEMPLATE_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
}
