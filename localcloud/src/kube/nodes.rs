//! Node objects: what the scheduler places pods on and `kubectl get nodes` lists.
//!
//! The node set comes from the ACK emulator: one node per node of each worker pool of each
//! cluster it runs (labels, taints and allocatable capacity from the pool and its instance type),
//! plus the virtual node of a cluster with the `ack-virtual-node` add-on. The ACK emulator hands
//! its nodes over through [`crate::shared::NodeSource`]. While no emulated cluster has a node,
//! the API server has the one default node [`DEFAULT_NODE`] (the machine's capacity under the
//! Docker kubelet), so the Kubernetes API keeps working on its own, as tests use it.
//!
//! Every node is a fiction of scheduling: all pods still run on this machine, whichever node
//! they are bound to. The controller here ([`NodeController`]) writes the objects into the store;
//! what it last applied to a node is re-applied only when the pool changes, so a `kubectl taint`
//! or `kubectl cordon` stays until then, as on a real node.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value as Json};

use super::store::{kind, Store};

/// Name of the default node (no emulated cluster has nodes).
pub const DEFAULT_NODE: &str = "localcloud-node";

/// The label ACK puts on every node of a pool: the pool's id.
pub const NODEPOOL_LABEL: &str = "alibabacloud.com/nodepool-id";
/// The label of the virtual node (`type=virtual-kubelet`), which pods select it by.
pub const VIRTUAL_NODE_TYPE: (&str, &str) = ("type", "virtual-kubelet");
/// The virtual node's taint: `virtual-kubelet.io/provider=alibabacloud:NoSchedule`.
pub const VIRTUAL_NODE_TAINT: (&str, &str, &str) = ("virtual-kubelet.io/provider", "alibabacloud", "NoSchedule");

/// Kubelet version the nodes report.
const KUBELET_VERSION: &str = "v1.34.0-localcloud";

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// A taint from its parts.
    pub fn new(key: &str, value: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.into(), effect: effect.into() }
    }
}

/// What a node is: the part of a Node object its pool decides.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Node name (also `kubernetes.io/hostname`).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable CPUs.
    pub cpu: f64,
    /// Allocatable memory, bytes.
    pub memory: f64,
    /// Allocatable pod count.
    pub pods: u32,
    /// The node's `InternalIP`.
    pub internal_ip: String,
    /// `status.nodeInfo.osImage`.
    pub os_image: String,
    /// `status.nodeInfo.containerRuntimeVersion`.
    pub runtime: String,
    /// `spec.providerID` (ECS instance, or the virtual node's).
    pub provider_id: Option<String>,
}

impl NodeSpec {
    /// A node with the labels every node has (`kubernetes.io/hostname`, os, arch).
    pub fn new(name: &str, cpu: f64, memory: f64, pods: u32, internal_ip: &str) -> NodeSpec {
        let mut labels = BTreeMap::new();
        for (k, v) in [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
        ] {
            labels.insert(k.to_owned(), v.to_owned());
        }
        NodeSpec {
            name: name.into(),
            labels,
            taints: Vec::new(),
            cpu,
            memory,
            pods,
            internal_ip: internal_ip.into(),
            os_image: "Alibaba Cloud Linux 3.2104 U11 (OpenAnolis Edition)".into(),
            runtime: "containerd://1.6.36".into(),
            provider_id: None,
        }
    }

    /// Sets a label.
    pub fn label(mut self, k: &str, v: &str) -> NodeSpec {
        self.labels.insert(k.into(), v.into());
        self
    }

    /// The Node object as the API serves it (metadata the store fills is left out).
    pub fn object(&self) -> Json {
        let taints: Vec<Json> = self.taints.iter().map(taint_json).collect();
        let quantities = json!({
            "cpu": super::store::format_quantity("cpu", self.cpu),
            "memory": super::store::format_quantity("memory", self.memory),
            "pods": self.pods.to_string(),
            "ephemeral-storage": "100Gi",
        });
        let mut spec = json!({});
        if !taints.is_empty() {
            spec["taints"] = json!(taints);
        }
        if let Some(p) = &self.provider_id {
            spec["providerID"] = json!(p);
        }
        let now = super::store::now_rfc3339();
        json!({
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": spec,
            "status": {
                "capacity": quantities,
                "allocatable": quantities,
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
                ],
                "addresses": [{"type": "InternalIP", "address": self.internal_ip}, {"type": "Hostname", "address": self.name}],
                "nodeInfo": {
                    "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION, "osImage": self.os_image,
                    "kernelVersion": kernel_version(), "containerRuntimeVersion": self.runtime,
                    "operatingSystem": "linux", "architecture": "amd64",
                    "machineID": "", "systemUUID": "", "bootID": "",
                },
            },
        })
    }
}

fn taint_json(t: &Taint) -> Json {
    let mut j = json!({"key": t.key, "effect": t.effect});
    if !t.value.is_empty() {
        j["value"] = json!(t.value);
    }
    j
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "5.10.134-18.al8.x86_64".into())
}

/// CPUs and memory (bytes) of this machine; `cpus` overrides the CPU count (`--node-cpus`).
pub fn host_capacity(cpus: Option<f64>) -> (f64, f64) {
    let cpu = cpus.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(8.0 * GIB, |kb| kb * 1024.0);
    (cpu, memory)
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The default node. Under the Docker kubelet it offers this machine's CPUs (or `--node-cpus`)
/// and memory, as the pods really run here. The rule-based kubelet runs nothing, so its node is
/// sized like a large instance (64 CPUs, 256 GiB) unless `--node-cpus` says otherwise: what
/// tests steer by rules is the pod's life, not capacity.
pub fn default_node(node_cpus: Option<f64>, runs_containers: bool, internal_ip: &str) -> NodeSpec {
    let (cpu, memory) = if runs_containers { host_capacity(node_cpus) } else { (node_cpus.unwrap_or(64.0), 256.0 * GIB) };
    let mut n = NodeSpec::new(DEFAULT_NODE, cpu, memory, 110, internal_ip);
    n.os_image = "localcloud".into();
    n.runtime = if runs_containers { "docker://localcloud".into() } else { "localcloud://rules".into() };
    n
}

/// vCPUs and memory (GiB) of an ECS instance type, from its name: `ecs.<family>.<size>` with
/// the size `large` (2 vCPUs), `xlarge` (4), `<n>xlarge` (4n), `medium` (1), `small` (1) and the
/// family's memory per vCPU: `c*` 2 GiB, `g*` 4 GiB, `r*` 8 GiB (ECS's compute, general and
/// memory families), `hf*`/`t*`/others 4 GiB. `None` when the name has no size.
pub fn instance_capacity(instance_type: &str) -> Option<(f64, f64)> {
    let mut parts = instance_type.split('.');
    let (Some("ecs"), Some(family), Some(size)) = (parts.next(), parts.next(), parts.next()) else { return None };
    let vcpus = match size {
        "small" | "medium" => 1.0,
        "large" => 2.0,
        "xlarge" => 4.0,
        s => 4.0 * s.strip_suffix("xlarge")?.parse::<f64>().ok().filter(|n| *n > 0.0)?,
    };
    let per_cpu = match family.chars().next() {
        Some('c') => 2.0,
        Some('r') => 8.0,
        _ => 4.0,
    };
    let memory = if size == "small" { 1.0 } else { vcpus * per_cpu };
    Some((vcpus, memory))
}

/// One node of a worker pool, the way ACK labels it.
pub struct PoolNode<'a> {
    /// Region id.
    pub region: &'a str,
    /// Cluster id.
    pub cluster_id: &'a str,
    /// Pool id (`alibabacloud.com/nodepool-id`).
    pub pool_id: &'a str,
    /// The pool's first instance type.
    pub instance_type: &'a str,
    /// The node's private address (its name is `<region>.<address>`, ACK's default naming).
    pub address: String,
    /// The pool's node labels.
    pub labels: &'a [(String, String)],
    /// The pool's taints.
    pub taints: &'a [Taint],
}

impl PoolNode<'_> {
    /// The node.
    pub fn spec(&self) -> NodeSpec {
        let (cpu, mem) = instance_capacity(self.instance_type).unwrap_or((2.0, 8.0));
        let name = format!("{}.{}", self.region, self.address);
        let zone = format!("{}-a", self.region);
        let mut n = NodeSpec::new(&name, cpu, mem * GIB, 64, &self.address)
            .label(NODEPOOL_LABEL, self.pool_id)
            .label("ack.aliyun.com", self.cluster_id)
            .label("node.kubernetes.io/instance-type", self.instance_type)
            .label("beta.kubernetes.io/instance-type", self.instance_type)
            .label("topology.kubernetes.io/region", self.region)
            .label("topology.kubernetes.io/zone", &zone)
            .label("failure-domain.beta.kubernetes.io/region", self.region)
            .label("failure-domain.beta.kubernetes.io/zone", &zone);
        for (k, v) in self.labels {
            n.labels.insert(k.clone(), v.clone());
        }
        n.taints = self.taints.to_vec();
        n.provider_id = Some(format!("{}.i-{}", self.region, self.address.replace('.', "")));
        n
    }
}

/// The virtual node of a cluster with the `ack-virtual-node` add-on: labelled
/// `type=virtual-kubelet`, tainted `virtual-kubelet.io/provider=alibabacloud:NoSchedule`, and
/// as large as ECI lets a cluster grow. `ordinal` tells the clusters' virtual nodes apart
/// (`virtual-kubelet-<region>-a`, `-b`, ...; the zone letter, as ACK names them by zone).
pub fn virtual_node(region: &str, cluster_id: &str, ordinal: u32) -> NodeSpec {
    let letter = char::from(b'a' + u8::try_from(ordinal % 26).unwrap_or(0));
    let zone = format!("{region}-{letter}");
    let name = format!("virtual-kubelet-{zone}");
    let mut n = NodeSpec::new(&name, 1000.0, 4096.0 * GIB, 5000, "10.255.255.254")
        .label(VIRTUAL_NODE_TYPE.0, VIRTUAL_NODE_TYPE.1)
        .label("kubernetes.io/role", "agent")
        .label("alibabacloud.com/virtual-node", "true")
        .label("ack.aliyun.com", cluster_id)
        .label("topology.kubernetes.io/region", region)
        .label("topology.kubernetes.io/zone", &zone);
    n.taints = vec![Taint::new(VIRTUAL_NODE_TAINT.0, VIRTUAL_NODE_TAINT.1, VIRTUAL_NODE_TAINT.2)];
    n.os_image = "Elastic Container Instance".into();
    n.runtime = "containerd://1.6.36-eci".into();
    n.provider_id = Some(format!("{region}.virtual-kubelet"));
    n
}

/// Keeps the store's Node objects equal to the node set: creates what is missing (also a node a
/// client deleted: its kubelet registers it again), re-applies labels, taints and capacity when
/// the pool changed them, and deletes nodes no longer in the set.
#[derive(Debug, Default)]
pub struct NodeController {
    applied: HashMap<String, NodeSpec>,
}

impl NodeController {
    /// One pass; answers whether the store changed.
    pub fn sync(&mut self, store: &mut Store, desired: &[NodeSpec]) -> bool {
        let Some(nodes) = kind("", "nodes") else { return false };
        let mut changed = false;
        for d in desired {
            match store.get(nodes, "", &d.name) {
                Err(_) => {
                    if store.create(nodes, "", d.object()).is_ok() {
                        changed = true;
                    }
                }
                Ok(_) if self.applied.get(&d.name) != Some(d) => {
                    let want = d.object();
                    store.update_with(nodes, "", &d.name, |o| {
                        o["metadata"]["labels"] = want["metadata"]["labels"].clone();
                        match want["spec"]["taints"].as_array() {
                            Some(t) => o["spec"]["taints"] = json!(t),
                            None => {
                                if let Some(s) = o["spec"].as_object_mut() {
                                    s.remove("taints");
                                }
                            }
                        }
                        o["status"]["capacity"] = want["status"]["capacity"].clone();
                        o["status"]["allocatable"] = want["status"]["allocatable"].clone();
                    });
                    changed = true;
                }
                Ok(_) => {}
            }
            self.applied.insert(d.name.clone(), d.clone());
        }
        let gone: Vec<String> = store
            .iter(nodes, None)
            .filter_map(|n| n["metadata"]["name"].as_str())
            .filter(|n| !desired.iter().any(|d| d.name == *n))
            .map(str::to_owned)
            .collect();
        for name in gone {
            self.applied.remove(&name);
            changed |= store.delete(nodes, "", &name).is_ok();
        }
        changed
    }
}

/// Columns of `kubectl get nodes` (the API server's printer): name, status, roles, age, version;
/// with `-o wide` also the addresses, OS image, kernel and container runtime.
pub fn table_columns() -> Vec<(&'static str, &'static str, u8)> {
    vec![
        ("Name", "string", 0),
        ("Status", "string", 0),
        ("Roles", "string", 0),
        ("Age", "string", 0),
        ("Version", "string", 0),
        ("Internal-IP", "string", 1),
        ("External-IP", "string", 1),
        ("OS-Image", "string", 1),
        ("Kernel-Version", "string", 1),
        ("Container-Runtime", "string", 1),
    ]
}

/// A node's row for [`table_columns`]; `age` is the printed age of its creation.
pub fn table_row(o: &Json, age: String) -> Vec<Json> {
    let ready = o["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True");
    let mut status = if ready { "Ready".to_owned() } else { "NotReady".to_owned() };
    if o["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(str::to_owned))
        .collect();
    if roles.is_empty() {
        roles.push("<none>".into());
    }
    let address = |t: &str| {
        o["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == t)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_owned()
    };
    let info = &o["status"]["nodeInfo"];
    vec![
        o["metadata"]["name"].clone(),
        json!(status),
        json!(roles.join(",")),
        json!(age),
        info["kubeletVersion"].clone(),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        info["osImage"].clone(),
        info["kernelVersion"].clone(),
        info["containerRuntimeVersion"].clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_give_their_capacity() {
        assert_eq!(instance_capacity("ecs.g7.xlarge"), Some((4.0, 16.0)));
        assert_eq!(instance_capacity("ecs.g7.2xlarge"), Some((8.0, 32.0)));
        assert_eq!(instance_capacity("ecs.c7.large"), Some((2.0, 4.0)));
        assert_eq!(instance_capacity("ecs.r7.4xlarge"), Some((16.0, 128.0)));
        assert_eq!(instance_capacity("ecs.g7"), None);
        assert_eq!(instance_capacity("ecs.g7.hugexlarge"), None);
    }

    #[test]
    fn pool_nodes_carry_the_pool_and_the_virtual_node_its_taint() {
        let taints = [Taint::new("spot", "true", "NoSchedule")];
        let labels = [("team".to_owned(), "a".to_owned())];
        let n = PoolNode {
            region: "cn-local",
            cluster_id: "c1",
            pool_id: "np1",
            instance_type: "ecs.g7.xlarge",
            address: "10.1.0.1".into(),
            labels: &labels,
            taints: &taints,
        }
        .spec();
        assert_eq!(n.name, "cn-local.10.1.0.1");
        assert_eq!(n.labels[NODEPOOL_LABEL], "np1");
        assert_eq!(n.labels["kubernetes.io/hostname"], n.name);
        assert_eq!(n.labels["node.kubernetes.io/instance-type"], "ecs.g7.xlarge");
        assert_eq!(n.labels["team"], "a");
        let o = n.object();
        assert_eq!(o["status"]["allocatable"], json!({"cpu": "4", "memory": "16Gi", "pods": "64", "ephemeral-storage": "100Gi"}));
        assert_eq!(o["spec"]["taints"], json!([{"key": "spot", "value": "true", "effect": "NoSchedule"}]));
        let v = virtual_node("cn-local", "c1", 0);
        assert_eq!(v.name, "virtual-kubelet-cn-local-a");
        assert_eq!(v.labels["type"], "virtual-kubelet");
        assert_eq!(
            v.object()["spec"]["taints"],
            json!([{"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn the_controller_keeps_what_a_client_changed_until_the_pool_changes() {
        let mut store = Store::new();
        let nodes = kind("", "nodes").expect("nodes are served");
        let mut c = NodeController::default();
        let mut n = NodeSpec::new("n1", 4.0, 16.0 * GIB, 110, "10.0.0.1");
        assert!(c.sync(&mut store, std::slice::from_ref(&n)));
        store.update_with(nodes, "", "n1", |o| o["spec"]["taints"] = json!([{"key": "k", "effect": "NoSchedule"}]));
        assert!(!c.sync(&mut store, std::slice::from_ref(&n)), "nothing to do");
        assert_eq!(store.get(nodes, "", "n1").expect("node")["spec"]["taints"][0]["key"], "k", "kubectl taint stays");
        n.taints = vec![Taint::new("pool", "", "NoExecute")];
        assert!(c.sync(&mut store, std::slice::from_ref(&n)));
        assert_eq!(store.get(nodes, "", "n1").expect("node")["spec"]["taints"], json!([{"key": "pool", "effect": "NoExecute"}]));
        assert!(c.sync(&mut store, &[]));
        assert!(store.get(nodes, "", "n1").is_err(), "gone with its pool");
    }
}
