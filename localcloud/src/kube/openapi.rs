//! OpenAPI v3 for the emulator: the `/openapi/v3` index and one document per served
//! group-version, generated from [`KINDS`] and the schema table below, and the `fieldValidation`
//! check, which walks the same table, so what kubectl reads and what the server refuses agree.
//!
//! kubectl (`--validate=strict`, its default) reads these documents to learn whether a kind's
//! PATCH operation takes `fieldValidation`; when it does, kubectl sends `fieldValidation=Strict`
//! and leaves the check to the server. `kubectl explain` renders the component schemas.
//!
//! The table describes the fields of every served kind as the real API (v1.34) names them, down to
//! the parts the emulator or its tests look into (pod spec and containers, quotas, limit ranges,
//! RBAC rules). Deeper structures the emulator keeps as sent (probes, affinity, volumes, status
//! of pods and services) are open objects (`x-kubernetes-preserve-unknown-fields`): anything is
//! accepted there, as the brief of an emulator allows, rather than refused for want of a schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha512};

use super::discovery::subresources;
use super::store::{Kind, KINDS};
use super::VERSION_MINOR;

/// The type of one field in the schema table.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ty {
    Str,
    Int,
    Bool,
    /// RFC 3339 timestamp (`meta/v1.Time`).
    Time,
    /// Resource quantity (`500m`, `2Gi`).
    Quantity,
    /// `int-or-string` (service target ports).
    IntOrStr,
    /// Base64 bytes (secret data).
    Bytes,
    /// Another definition of the table, by its full name.
    Ref(&'static str),
    List(&'static Ty),
    /// A list a strategic-merge patch merges element by element, matched on the key field
    /// (`x-kubernetes-patch-merge-key`, e.g. containers by `name`).
    Keyed(&'static Ty, &'static str),
    /// A list of scalars a strategic-merge patch merges as a set (`metadata.finalizers`).
    Set(&'static Ty),
    Map(&'static Ty),
    /// An object the emulator does not describe: any content is accepted.
    Open,
}

use Ty::{Bool, Bytes, Int, IntOrStr, Keyed, List, Map as MapOf, Open, Quantity, Ref, Set, Str, Time};

/// One named schema (`components.schemas` entry).
#[derive(Debug)]
pub(super) struct Def {
    name: &'static str,
    description: &'static str,
    pub(super) fields: &'static [(&'static str, Ty)],
    /// Fields the real API requires (shown by `kubectl explain`).
    required: &'static [&'static str],
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const LABEL_SELECTOR: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";

const STRINGS: Ty = List(&Str);
const STRING_MAP: Ty = MapOf(&Str);
const QUANTITIES: Ty = MapOf(&Quantity);

/// The fields every top-level object starts with.
macro_rules! object {
    ($($f:expr),* $(,)?) => {
        &[("apiVersion", Str), ("kind", Str), ("metadata", Ref(OBJECT_META)), $($f),*]
    };
}

/// Every definition the documents carry. Kinds are found by name: `io.k8s.api.<pkg>.v1.<Kind>`
/// (see [`kind_schema_name`]).
const DEFS: &[Def] = &[
    Def {
        name: OBJECT_META,
        description: "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        fields: &[
            ("annotations", STRING_MAP),
            ("creationTimestamp", Time),
            ("deletionGracePeriodSeconds", Int),
            ("deletionTimestamp", Time),
            ("finalizers", Set(&Str)),
            ("generateName", Str),
            ("generation", Int),
            ("labels", STRING_MAP),
            ("managedFields", List(&Ref("io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"))),
            ("name", Str),
            ("namespace", Str),
            ("ownerReferences", Keyed(&Ref("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"), "uid")),
            ("resourceVersion", Str),
            ("selfLink", Str),
            ("uid", Str),
        ],
        required: &[],
    },
    Def {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
        description: "OwnerReference contains enough information to let you identify an owning object.",
        fields: &[("apiVersion", Str), ("blockOwnerDeletion", Bool), ("controller", Bool), ("kind", Str), ("name", Str), ("uid", Str)],
        required: &["apiVersion", "kind", "name", "uid"],
    },
    Def {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
        description: "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
        fields: &[
            ("apiVersion", Str),
            ("fieldsType", Str),
            ("fieldsV1", Open),
            ("manager", Str),
            ("operation", Str),
            ("subresource", Str),
            ("time", Time),
        ],
        required: &[],
    },
    Def {
        name: LIST_META,
        description: "ListMeta describes metadata that synthetic resources must have, including lists.",
        fields: &[("continue", Str), ("remainingItemCount", Int), ("resourceVersion", Str), ("selfLink", Str)],
        required: &[],
    },
    Def {
        name: STATUS,
        description: "Status is a return value for calls that don't return other objects.",
        fields: &[
            ("apiVersion", Str),
            ("code", Int),
            ("details", Open),
            ("kind", Str),
            ("message", Str),
            ("metadata", Ref(LIST_META)),
            ("reason", Str),
            ("status", Str),
        ],
        required: &[],
    },
    Def {
        name: DELETE_OPTIONS,
        description: "DeleteOptions may be provided when deleting an API object.",
        fields: &[
            ("apiVersion", Str),
            ("dryRun", STRINGS),
            ("gracePeriodSeconds", Int),
            ("kind", Str),
            ("orphanDependents", Bool),
            ("preconditions", Open),
            ("propagationPolicy", Str),
        ],
        required: &[],
    },
    Def { name: PATCH, description: "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", fields: &[], required: &[] },
    // core/v1
    Def {
        name: "io.k8s.api.core.v1.Namespace",
        description: "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        fields: object![("spec", Ref("io.k8s.api.core.v1.NamespaceSpec")), ("status", Ref("io.k8s.api.core.v1.NamespaceStatus"))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.NamespaceSpec",
        description: "NamespaceSpec describes the attributes on a Namespace.",
        fields: &[("finalizers", STRINGS)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.NamespaceStatus",
        description: "NamespaceStatus is information about the current status of a Namespace.",
        fields: &[("conditions", List(&Open)), ("phase", Str)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.Node",
        description: "Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache (i.e. in etcd).",
        fields: object![("spec", Ref("io.k8s.api.core.v1.NodeSpec")), ("status", Open)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.NodeSpec",
        description: "NodeSpec describes the attributes that a node is created with.",
        fields: &[
            ("configSource", Open),
            ("externalID", Str),
            ("podCIDR", Str),
            ("podCIDRs", Set(&Str)),
            ("providerID", Str),
            ("taints", List(&Ref("io.k8s.api.core.v1.Taint"))),
            ("unschedulable", Bool),
        ],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.Taint",
        description: "The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint.",
        fields: &[("effect", Str), ("key", Str), ("timeAdded", Time), ("value", Str)],
        required: &["key", "effect"],
    },
    Def {
        name: "io.k8s.api.core.v1.Pod",
        description: "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.",
        fields: object![("spec", Ref("io.k8s.api.core.v1.PodSpec")), ("status", Open)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.PodSpec",
        description: "PodSpec is a description of a pod.",
        fields: &[
            ("activeDeadlineSeconds", Int),
            ("affinity", Open),
            ("automountServiceAccountToken", Bool),
            ("containers", Keyed(&Ref("io.k8s.api.core.v1.Container"), "name")),
            ("dnsConfig", Open),
            ("dnsPolicy", Str),
            ("enableServiceLinks", Bool),
            ("ephemeralContainers", Keyed(&Open, "name")),
            ("hostAliases", Keyed(&Open, "ip")),
            ("hostIPC", Bool),
            ("hostNetwork", Bool),
            ("hostPID", Bool),
            ("hostUsers", Bool),
            ("hostname", Str),
            ("hostnameOverride", Str),
            ("imagePullSecrets", Keyed(&Ref("io.k8s.api.core.v1.LocalObjectReference"), "name")),
            ("initContainers", Keyed(&Ref("io.k8s.api.core.v1.Container"), "name")),
            ("nodeName", Str),
            ("nodeSelector", STRING_MAP),
            ("os", Open),
            ("overhead", QUANTITIES),
            ("preemptionPolicy", Str),
            ("priority", Int),
            ("priorityClassName", Str),
            ("readinessGates", List(&Open)),
            ("resourceClaims", Keyed(&Open, "name")),
            ("resources", Ref("io.k8s.api.core.v1.ResourceRequirements")),
            ("restartPolicy", Str),
            ("runtimeClassName", Str),
            ("schedulerName", Str),
            ("schedulingGates", Keyed(&Open, "name")),
            ("securityContext", Open),
            ("serviceAccount", Str),
            ("serviceAccountName", Str),
            ("setHostnameAsFQDN", Bool),
            ("shareProcessNamespace", Bool),
            ("subdomain", Str),
            ("terminationGracePeriodSeconds", Int),
            ("tolerations", List(&Open)),
            ("topologySpreadConstraints", Keyed(&Open, "topologyKey")),
            ("volumes", Keyed(&Open, "name")),
        ],
        required: &["containers"],
    },
    Def {
        name: "io.k8s.api.core.v1.Container",
        description: "A single application container that you want to run within a pod.",
        fields: &[
            ("args", STRINGS),
            ("command", STRINGS),
            ("env", Keyed(&Ref("io.k8s.api.core.v1.EnvVar"), "name")),
            ("envFrom", List(&Open)),
            ("image", Str),
            ("imagePullPolicy", Str),
            ("lifecycle", Open),
            ("livenessProbe", Open),
            ("name", Str),
            ("ports", Keyed(&Ref("io.k8s.api.core.v1.ContainerPort"), "containerPort")),
            ("readinessProbe", Open),
            ("resizePolicy", List(&Open)),
            ("resources", Ref("io.k8s.api.core.v1.ResourceRequirements")),
            ("restartPolicy", Str),
            ("restartPolicyRules", List(&Open)),
            ("securityContext", Open),
            ("startupProbe", Open),
            ("stdin", Bool),
            ("stdinOnce", Bool),
            ("terminationMessagePath", Str),
            ("terminationMessagePolicy", Str),
            ("tty", Bool),
            ("volumeDevices", Keyed(&Open, "devicePath")),
            ("volumeMounts", Keyed(&Ref("io.k8s.api.core.v1.VolumeMount"), "mountPath")),
            ("workingDir", Str),
        ],
        required: &["name"],
    },
    Def {
        name: "io.k8s.api.core.v1.EnvVar",
        description: "EnvVar represents an environment variable present in a Container.",
        fields: &[("name", Str), ("value", Str), ("valueFrom", Open)],
        required: &["name"],
    },
    Def {
        name: "io.k8s.api.core.v1.ContainerPort",
        description: "ContainerPort represents a network port in a single container.",
        fields: &[("containerPort", Int), ("hostIP", Str), ("hostPort", Int), ("name", Str), ("protocol", Str)],
        required: &["containerPort"],
    },
    Def {
        name: "io.k8s.api.core.v1.VolumeMount",
        description: "VolumeMount describes a mounting of a Volume within a container.",
        fields: &[
            ("mountPath", Str),
            ("mountPropagation", Str),
            ("name", Str),
            ("readOnly", Bool),
            ("recursiveReadOnly", Str),
            ("subPath", Str),
            ("subPathExpr", Str),
        ],
        required: &["name", "mountPath"],
    },
    Def {
        name: "io.k8s.api.core.v1.ResourceRequirements",
        description: "ResourceRequirements describes the compute resource requirements.",
        fields: &[("claims", List(&Open)), ("limits", QUANTITIES), ("requests", QUANTITIES)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.LocalObjectReference",
        description: "LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.",
        fields: &[("name", Str)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.Service",
        description: "Service is a named abstraction of software service (for example, mysql) consisting of local port that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.",
        fields: object![("spec", Ref("io.k8s.api.core.v1.ServiceSpec")), ("status", Open)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.ServiceSpec",
        description: "ServiceSpec describes the attributes that a user creates on a service.",
        fields: &[
            ("allocateLoadBalancerNodePorts", Bool),
            ("clusterIP", Str),
            ("clusterIPs", STRINGS),
            ("externalIPs", STRINGS),
            ("externalName", Str),
            ("externalTrafficPolicy", Str),
            ("healthCheckNodePort", Int),
            ("internalTrafficPolicy", Str),
            ("ipFamilies", STRINGS),
            ("ipFamilyPolicy", Str),
            ("loadBalancerClass", Str),
            ("loadBalancerIP", Str),
            ("loadBalancerSourceRanges", STRINGS),
            ("ports", Keyed(&Ref("io.k8s.api.core.v1.ServicePort"), "port")),
            ("publishNotReadyAddresses", Bool),
            ("selector", STRING_MAP),
            ("sessionAffinity", Str),
            ("sessionAffinityConfig", Open),
            ("trafficDistribution", Str),
            ("type", Str),
        ],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.ServicePort",
        description: "ServicePort contains information on service's port.",
        fields: &[("appProtocol", Str), ("name", Str), ("nodePort", Int), ("port", Int), ("protocol", Str), ("targetPort", IntOrStr)],
        required: &["port"],
    },
    Def {
        name: "io.k8s.api.core.v1.ServiceAccount",
        description: "ServiceAccount binds together: a name, understood by users, and perhaps by peripheral systems, for an identity; a principal that can be authenticated and authorized; a set of secrets.",
        fields: object![
            ("automountServiceAccountToken", Bool),
            ("imagePullSecrets", List(&Ref("io.k8s.api.core.v1.LocalObjectReference"))),
            ("secrets", Keyed(&Open, "name")),
        ],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.Secret",
        description: "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
        fields: object![("data", MapOf(&Bytes)), ("immutable", Bool), ("stringData", STRING_MAP), ("type", Str)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.ConfigMap",
        description: "ConfigMap holds configuration data for pods to consume.",
        fields: object![("binaryData", MapOf(&Bytes)), ("data", STRING_MAP), ("immutable", Bool)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.PersistentVolumeClaim",
        description: "PersistentVolumeClaim is a user's request for and claim to a persistent volume",
        fields: object![("spec", Open), ("status", Open)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.Event",
        description: "Event is a report of an event somewhere in the cluster.",
        fields: object![
            ("action", Str),
            ("count", Int),
            ("eventTime", Str),
            ("firstTimestamp", Time),
            ("involvedObject", Open),
            ("lastTimestamp", Time),
            ("message", Str),
            ("reason", Str),
            ("related", Open),
            ("reportingComponent", Str),
            ("reportingInstance", Str),
            ("series", Open),
            ("source", Open),
            ("type", Str),
        ],
        required: &["metadata", "involvedObject"],
    },
    Def {
        name: "io.k8s.api.core.v1.ResourceQuota",
        description: "ResourceQuota sets aggregate quota restrictions enforced per namespace",
        fields: object![("spec", Ref("io.k8s.api.core.v1.ResourceQuotaSpec")), ("status", Ref("io.k8s.api.core.v1.ResourceQuotaStatus"))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.ResourceQuotaSpec",
        description: "ResourceQuotaSpec defines the desired hard limits to enforce for Quota.",
        fields: &[("hard", QUANTITIES), ("scopeSelector", Open), ("scopes", STRINGS)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.ResourceQuotaStatus",
        description: "ResourceQuotaStatus defines the enforced hard limits and observed use.",
        fields: &[("hard", QUANTITIES), ("used", QUANTITIES)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.LimitRange",
        description: "LimitRange sets resource usage limits for each kind of resource in a Namespace.",
        fields: object![("spec", Ref("io.k8s.api.core.v1.LimitRangeSpec"))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.core.v1.LimitRangeSpec",
        description: "LimitRangeSpec defines a min/max usage limit for resources that match on kind.",
        fields: &[("limits", List(&Ref("io.k8s.api.core.v1.LimitRangeItem")))],
        required: &["limits"],
    },
    Def {
        name: "io.k8s.api.core.v1.LimitRangeItem",
        description: "LimitRangeItem defines a min/max usage limit for any resource that matches on kind.",
        fields: &[
            ("default", QUANTITIES),
            ("defaultRequest", QUANTITIES),
            ("max", QUANTITIES),
            ("maxLimitRequestRatio", QUANTITIES),
            ("min", QUANTITIES),
            ("type", Str),
        ],
        required: &["type"],
    },
    Def {
        name: "io.k8s.api.core.v1.PodTemplateSpec",
        description: "PodTemplateSpec describes the data a pod should have when created from a template",
        fields: &[("metadata", Ref(OBJECT_META)), ("spec", Ref("io.k8s.api.core.v1.PodSpec"))],
        required: &[],
    },
    Def {
        name: LABEL_SELECTOR,
        description: "A label selector is a label query over a set of resources. The result of matchLabels and matchExpressions are ANDed. An empty label selector matches all objects. A null label selector matches no objects.",
        fields: &[("matchExpressions", List(&Ref("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement"))), ("matchLabels", STRING_MAP)],
        required: &[],
    },
    Def {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        description: "A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values.",
        fields: &[("key", Str), ("operator", Str), ("values", STRINGS)],
        required: &["key", "operator"],
    },
    // apps/v1
    Def {
        name: "io.k8s.api.apps.v1.Deployment",
        description: "Deployment enables declarative updates for Pods and ReplicaSets.",
        fields: object![("spec", Ref("io.k8s.api.apps.v1.DeploymentSpec")), ("status", Ref("io.k8s.api.apps.v1.DeploymentStatus"))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.apps.v1.DeploymentSpec",
        description: "DeploymentSpec is the specification of the desired behavior of the Deployment.",
        fields: &[
            ("minReadySeconds", Int),
            ("paused", Bool),
            ("progressDeadlineSeconds", Int),
            ("replicas", Int),
            ("revisionHistoryLimit", Int),
            ("selector", Ref(LABEL_SELECTOR)),
            ("strategy", Ref("io.k8s.api.apps.v1.DeploymentStrategy")),
            ("template", Ref("io.k8s.api.core.v1.PodTemplateSpec")),
        ],
        required: &["selector", "template"],
    },
    Def {
        name: "io.k8s.api.apps.v1.DeploymentStrategy",
        description: "DeploymentStrategy describes how to replace existing pods with new ones.",
        fields: &[("rollingUpdate", Ref("io.k8s.api.apps.v1.RollingUpdateDeployment")), ("type", Str)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.apps.v1.RollingUpdateDeployment",
        description: "Spec to control the desired behavior of rolling update.",
        fields: &[("maxSurge", IntOrStr), ("maxUnavailable", IntOrStr)],
        required: &[],
    },
    Def {
        name: "io.k8s.api.apps.v1.DeploymentStatus",
        description: "DeploymentStatus is the most recently observed status of the Deployment.",
        fields: &[
            ("availableReplicas", Int),
            ("collisionCount", Int),
            ("conditions", Keyed(&Open, "type")),
            ("observedGeneration", Int),
            ("readyReplicas", Int),
            ("replicas", Int),
            ("terminatingReplicas", Int),
            ("unavailableReplicas", Int),
            ("updatedReplicas", Int),
        ],
        required: &[],
    },
    // rbac.authorization.k8s.io/v1
    Def {
        name: "io.k8s.api.rbac.v1.Role",
        description: "Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding.",
        fields: object![("rules", List(&Ref("io.k8s.api.rbac.v1.PolicyRule")))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.rbac.v1.ClusterRole",
        description: "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding or ClusterRoleBinding.",
        fields: object![("aggregationRule", Open), ("rules", List(&Ref("io.k8s.api.rbac.v1.PolicyRule")))],
        required: &[],
    },
    Def {
        name: "io.k8s.api.rbac.v1.PolicyRule",
        description: "PolicyRule holds information that describes a policy rule, but does not contain information about who the rule applies to or which namespace the rule applies to.",
        fields: &[("apiGroups", STRINGS), ("nonResourceURLs", STRINGS), ("resourceNames", STRINGS), ("resources", STRINGS), ("verbs", STRINGS)],
        required: &["verbs"],
    },
    Def {
        name: "io.k8s.api.rbac.v1.RoleBinding",
        description: "RoleBinding references a role, but does not contain it.",
        fields: object![("roleRef", Ref("io.k8s.api.rbac.v1.RoleRef")), ("subjects", List(&Ref("io.k8s.api.rbac.v1.Subject")))],
        required: &["roleRef"],
    },
    Def {
        name: "io.k8s.api.rbac.v1.ClusterRoleBinding",
        description: "ClusterRoleBinding references a ClusterRole, but not contain it.",
        fields: object![("roleRef", Ref("io.k8s.api.rbac.v1.RoleRef")), ("subjects", List(&Ref("io.k8s.api.rbac.v1.Subject")))],
        required: &["roleRef"],
    },
    Def {
        name: "io.k8s.api.rbac.v1.RoleRef",
        description: "RoleRef contains information that points to the role being used",
        fields: &[("apiGroup", Str), ("kind", Str), ("name", Str)],
        required: &["apiGroup", "kind", "name"],
    },
    Def {
        name: "io.k8s.api.rbac.v1.Subject",
        description: "Subject contains a reference to the object or user identities a role binding applies to.",
        fields: &[("apiGroup", Str), ("kind", Str), ("name", Str), ("namespace", Str)],
        required: &["kind", "name"],
    },
];

pub(super) fn def(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// `core` for the core group, else the group's first label (`rbac` for `rbac.authorization.k8s.io`),
/// as the Go packages the real schemas are named after.
fn package(k: &Kind) -> &'static str {
    if k.group.is_empty() {
        "core"
    } else {
        k.group.split('.').next().unwrap_or(k.group)
    }
}

/// The component schema name of a kind (`io.k8s.api.core.v1.Pod`).
pub fn kind_schema_name(k: &Kind) -> String {
    format!("io.k8s.api.{}.v1.{}", package(k), k.kind)
}

fn list_schema_name(k: &Kind) -> String {
    format!("{}List", kind_schema_name(k))
}

fn reference(name: &str) -> Json {
    json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "default": {}})
}

fn ty_schema(t: Ty) -> Json {
    match t {
        Str => json!({"type": "string"}),
        Int => json!({"type": "integer", "format": "int64"}),
        Bool => json!({"type": "boolean"}),
        Time => reference(TIME),
        Quantity => reference(QUANTITY),
        IntOrStr => reference(INT_OR_STRING),
        Bytes => json!({"type": "string", "format": "byte"}),
        Ref(name) => reference(name),
        List(item) => json!({"type": "array", "items": ty_schema(*item)}),
        Keyed(item, key) => {
            json!({"type": "array", "items": ty_schema(*item), "x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": "merge"})
        }
        Set(item) => json!({"type": "array", "items": ty_schema(*item), "x-kubernetes-patch-strategy": "merge"}),
        MapOf(item) => json!({"type": "object", "additionalProperties": ty_schema(*item)}),
        Open => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    }
}

fn gvk(k: &Kind) -> Json {
    json!({"group": k.group, "version": "v1", "kind": k.kind})
}

fn def_schema(d: &Def) -> Json {
    let mut props = Map::new();
    for (name, t) in d.fields {
        props.insert((*name).to_owned(), ty_schema(*t));
    }
    let mut s = json!({"description": d.description, "type": "object"});
    if !d.fields.is_empty() {
        s["properties"] = Json::Object(props);
    }
    if !d.required.is_empty() {
        s["required"] = json!(d.required);
    }
    if let Some(k) = KINDS.iter().find(|k| kind_schema_name(k) == d.name) {
        s["x-kubernetes-group-version-kind"] = json!([gvk(k)]);
    }
    s
}

/// Names a type refers to (for the closure of a document's schemas).
fn refs(t: Ty, out: &mut Vec<&'static str>) {
    match t {
        Time => out.push(TIME),
        Quantity => out.push(QUANTITY),
        IntOrStr => out.push(INT_OR_STRING),
        Ref(n) => out.push(n),
        List(i) | Keyed(i, _) | Set(i) | MapOf(i) => refs(*i, out),
        Str | Int | Bool | Bytes | Open => {}
    }
}

/// `components.schemas` of one group: its kinds, their lists, everything they refer to, and the
/// meta types the operations name.
fn schemas(group: &str) -> Map<String, Json> {
    let mut out = Map::new();
    let mut todo: Vec<&'static str> = vec![STATUS, DELETE_OPTIONS, PATCH];
    let mut seen = BTreeSet::new();
    for k in KINDS.iter().filter(|k| k.group == group) {
        let name = kind_schema_name(k);
        if let Some(d) = def(&name) {
            todo.push(d.name);
        }
        out.insert(
            list_schema_name(k),
            json!({
                "description": format!("{}List is a list of {} objects.", k.kind, k.kind),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": ty_schema(Str),
                    "items": {"type": "array", "items": reference(&name)},
                    "kind": ty_schema(Str),
                    "metadata": reference(LIST_META),
                },
                "x-kubernetes-group-version-kind": [{"group": k.group, "version": "v1", "kind": format!("{}List", k.kind)}],
            }),
        );
    }
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        match name {
            TIME => {
                out.insert(
                    TIME.into(),
                    json!({"description": "Time is a wrapper around time.Time (RFC 3339).", "type": "string", "format": "date-time"}),
                );
            }
            QUANTITY => {
                out.insert(
                    QUANTITY.into(),
                    json!({"description": "Quantity is a fixed-point representation of a number (`500m`, `2Gi`).", "type": "string"}),
                );
            }
            INT_OR_STRING => {
                out.insert(
                    INT_OR_STRING.into(),
                    json!({"description": "IntOrString holds an int or a string.", "type": "string", "format": "int-or-string"}),
                );
            }
            _ => {
                let Some(d) = def(name) else { continue };
                out.insert(d.name.to_owned(), def_schema(d));
                for (_, t) in d.fields {
                    refs(*t, &mut todo);
                }
            }
        }
    }
    out
}

fn query(name: &str, description: &str, ty: &str) -> Json {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": ty, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Json {
    json!({"name": name, "in": "path", "description": description, "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

/// The query parameters a write honours: `fieldValidation` is what kubectl looks for.
fn write_params(patch: bool) -> Vec<Json> {
    let mut p = vec![
        query("dryRun", "When present, indicates that modifications should not be persisted. The only valid value is All.", "string"),
        query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes.", "string"),
        query(
            "fieldValidation",
            "How the server treats unknown fields in the body: Ignore drops them silently, Warn (the default) drops them with a Warning header per field, Strict fails the request with a BadRequest naming them.",
            "string",
        ),
    ];
    if patch {
        p.push(query("force", "Force is going to \"force\" Apply requests.", "boolean"));
    }
    p
}

fn list_params() -> Vec<Json> {
    vec![
        query("fieldSelector", "A selector to restrict the list of returned objects by their fields.", "string"),
        query("labelSelector", "A selector to restrict the list of returned objects by their labels.", "string"),
        query("resourceVersion", "Where a watch starts.", "string"),
        query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
    ]
}

fn delete_params() -> Vec<Json> {
    vec![
        query("dryRun", "When present, indicates that modifications should not be persisted. The only valid value is All.", "string"),
        query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
        query("propagationPolicy", "Whether and how garbage collection will be performed.", "string"),
    ]
}

fn json_content(schema_name: &str) -> Json {
    let r = json!({"schema": {"$ref": format!("#/components/schemas/{schema_name}")}});
    json!({"application/json": r, "application/yaml": r})
}

/// One operation. `action` is `x-kubernetes-action`; `id` the operationId verb (`create`).
fn operation(k: &Kind, action: &str, id: &str, scope: &str, params: Vec<Json>, body: Option<Json>, answer: &str) -> Json {
    let group = if k.group.is_empty() { "Core".to_owned() } else { camel(k.group) };
    let tag = if k.group.is_empty() { "core_v1".to_owned() } else { format!("{}_v1", k.group.split('.').next().unwrap_or(k.group)) };
    let mut op = json!({
        "operationId": format!("{id}{group}V1{scope}"),
        "description": format!("{id} {}", k.kind),
        "tags": [tag],
        "responses": {"200": {"description": "OK", "content": json_content(answer)}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(k),
    });
    if !params.is_empty() {
        op["parameters"] = Json::Array(params);
    }
    if let Some(b) = body {
        op["requestBody"] = json!({"content": b, "required": true});
    }
    if action == "post" {
        op["responses"]["201"] = json!({"description": "Created", "content": json_content(answer)});
    }
    op
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization` (the operationId group form).
fn camel(group: &str) -> String {
    group
        .split('.')
        .filter(|s| !matches!(*s, "k8s" | "io"))
        .map(|s| {
            let mut c = s.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The paths of one group: collection and item of every kind, namespaced or cluster-scoped as
/// the emulator routes them, with the subresources discovery lists.
fn paths(group: &str) -> Map<String, Json> {
    let prefix = if group.is_empty() { "/api/v1".to_owned() } else { format!("/apis/{group}/v1") };
    let mut out = Map::new();
    for k in KINDS.iter().filter(|k| k.group == group) {
        let kind_name = kind_schema_name(k);
        let list_name = list_schema_name(k);
        let (base, scope) = if k.namespaced {
            (format!("{prefix}/namespaces/{{namespace}}/{}", k.plural), format!("Namespaced{}", k.kind))
        } else {
            (format!("{prefix}/{}", k.plural), k.kind.to_owned())
        };
        let ns_param = k.namespaced.then(|| path_param("namespace", "object name and auth scope, such as for teams and projects"));
        let pretty = query("pretty", "If 'true', then the output is pretty printed.", "string");
        let mut collection_params: Vec<Json> = ns_param.iter().cloned().collect();
        collection_params.push(pretty.clone());
        out.insert(
            base.clone(),
            json!({
                "parameters": collection_params,
                "get": operation(k, "list", "list", &scope, list_params(), None, &list_name),
                "post": operation(k, "post", "create", &scope, write_params(false), Some(json_content(&kind_name)), &kind_name),
                "delete": operation(k, "deletecollection", "deleteCollection", &scope, list_params(), Some(json_content(DELETE_OPTIONS)), STATUS),
            }),
        );
        let mut item_params = vec![path_param("name", &format!("name of the {}", k.kind))];
        item_params.extend(ns_param.iter().cloned());
        item_params.push(pretty.clone());
        let patch_body = json!({
            "application/merge-patch+json": {"schema": {"$ref": format!("#/components/schemas/{PATCH}")}},
            "application/strategic-merge-patch+json": {"schema": {"$ref": format!("#/components/schemas/{PATCH}")}},
        });
        out.insert(
            format!("{base}/{{name}}"),
            json!({
                "parameters": item_params.clone(),
                "get": operation(k, "get", "read", &scope, vec![], None, &kind_name),
                "put": operation(k, "put", "replace", &scope, write_params(false), Some(json_content(&kind_name)), &kind_name),
                "patch": operation(k, "patch", "patch", &scope, write_params(true), Some(patch_body.clone()), &kind_name),
                "delete": operation(k, "delete", "delete", &scope, delete_params(), Some(json_content(DELETE_OPTIONS)), STATUS),
            }),
        );
        for (sub, verbs) in subresources(k) {
            let sub_scope = format!("{scope}{}", camel(sub));
            let mut item = json!({"parameters": item_params.clone()});
            for v in *verbs {
                let op = match *v {
                    "get" if *sub == "log" => {
                        let mut op = operation(k, "connect", "read", &sub_scope, vec![], None, &kind_name);
                        op["responses"]["200"] = json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}});
                        op
                    }
                    "get" => operation(k, "get", "read", &sub_scope, vec![], None, &kind_name),
                    "update" => operation(k, "put", "replace", &sub_scope, write_params(false), Some(json_content(&kind_name)), &kind_name),
                    "patch" => operation(k, "patch", "patch", &sub_scope, write_params(true), Some(patch_body.clone()), &kind_name),
                    _ => continue,
                };
                let method = match *v {
                    "update" => "put",
                    other => other,
                };
                item[method] = op;
            }
            // Only paths with an operation: `serviceaccounts/token` takes a TokenRequest, a kind
            // these documents do not describe.
            if item.as_object().is_some_and(|o| o.len() > 1) {
                out.insert(format!("{base}/{{name}}/{sub}"), item);
            }
        }
        if k.namespaced {
            out.insert(
                format!("{prefix}/{}", k.plural),
                json!({"parameters": [pretty], "get": operation(k, "list", "list", &format!("{}ForAllNamespaces", k.kind), list_params(), None, &list_name)}),
            );
        }
    }
    out
}

/// The OpenAPI document of one group (`""` for core) at version v1.
fn document(group: &str) -> Json {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{VERSION_MINOR}.0-localcloud")},
        "paths": paths(group),
        "components": {"schemas": schemas(group)},
    })
}

/// A served document: its body and the hash its URL carries.
struct Served {
    body: String,
    hash: String,
}

/// `api/v1` / `apis/<group>/v1` → document, built once (the kind table does not change).
fn served() -> &'static BTreeMap<String, Served> {
    static DOCS: OnceLock<BTreeMap<String, Served>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let groups: BTreeSet<&str> = KINDS.iter().map(|k| k.group).collect();
        groups
            .into_iter()
            .map(|g| {
                let key = if g.is_empty() { "api/v1".to_owned() } else { format!("apis/{g}/v1") };
                let body = document(g).to_string();
                // The real server names each document by the SHA-512 of its content, so clients
                // may cache it for good.
                let hash = hex::encode_upper(Sha512::digest(body.as_bytes()));
                (key, Served { body, hash })
            })
            .collect()
    })
}

/// The `/openapi/v3` index: each group-version's document, by relative URL.
pub fn index() -> Json {
    let paths: Map<String, Json> =
        served().iter().map(|(k, s)| (k.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", s.hash)}))).collect();
    json!({"paths": paths})
}

/// The document at `/openapi/v3/<key>` (`key` = `api/v1`), with whether `hash` names it (the
/// answer may then be cached for good).
pub fn document_at(key: &str, hash: Option<&str>) -> Option<(&'static str, bool)> {
    served().get(key).map(|s| (s.body.as_str(), hash == Some(s.hash.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::store::kind;
    use crate::kube::strategic_merge::strategic_merge;

    #[test]
    fn every_served_kind_has_a_schema_and_every_reference_resolves() {
        for k in KINDS {
            assert!(def(&kind_schema_name(k)).is_some(), "no schema for {}", k.kind);
        }
        for g in ["", crate::kube::store::RBAC, crate::kube::store::APPS] {
            let doc = document(g);
            let text = doc.to_string();
            let schemas = doc["components"]["schemas"].as_object().expect("schemas");
            for part in text.split("#/components/schemas/").skip(1) {
                let name = part.split('"').next().unwrap_or("");
                assert!(schemas.contains_key(name), "{g}: {name} is referenced but not defined");
            }
        }
    }

    #[test]
    fn patch_operations_carry_the_kind_and_field_validation() {
        let doc = document("");
        let item = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
        assert_eq!(item["patch"]["x-kubernetes-group-version-kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
        assert_eq!(item["patch"]["x-kubernetes-action"], "patch");
        let names: Vec<&str> = item["patch"]["parameters"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
        assert!(names.contains(&"fieldValidation") && names.contains(&"dryRun") && names.contains(&"fieldManager"), "{names:?}");
        assert!(doc["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object(), "cluster-scoped item path");
        let rbac = document(crate::kube::store::RBAC);
        assert_eq!(
            rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["post"]["operationId"],
            "createRbacAuthorizationV1ClusterRole"
        );
        let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["properties"]["metadata"]["allOf"][0]["$ref"], format!("#/components/schemas/{OBJECT_META}"));
        let url = index()["paths"]["api/v1"]["serverRelativeURL"].as_str().expect("url").to_owned();
        let hash = url.split("hash=").nth(1).expect("hash");
        assert_eq!(document_at("api/v1", Some(hash)).map(|(_, fresh)| fresh), Some(true));
    }

    #[test]
    fn the_apps_document_describes_deployments_and_their_pod_template() {
        let doc = document(crate::kube::store::APPS);
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(patch["x-kubernetes-group-version-kind"], json!({"group": "apps", "version": "v1", "kind": "Deployment"}));
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"], json!(["selector", "template"]));
        assert!(
            schemas["io.k8s.api.core.v1.PodSpec"].is_object() && schemas["io.k8s.api.core.v1.Container"].is_object(),
            "core types referenced from apps"
        );
        let deployments = kind(crate::kube::store::APPS, "deployments").expect("deployments");
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "meter", "image": "m:1", "env": [{"name": "A", "value": "1"}]}]}}}});
        strategic_merge(deployments, &mut d, &json!({"spec": {"template": {"spec": {"containers": [{"name": "meter", "image": "m:2"}]}}}}));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "meter", "image": "m:2", "env": [{"name": "A", "value": "1"}]}])
        );
    }
}
