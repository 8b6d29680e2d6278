//! The scheduler: binds each new pod to a node the way kube-scheduler's default profile does,
//! as far as pods here ask for it, and keeps the Node objects ([`super::nodes`]) in step with the
//! node set.
//!
//! A pod without `spec.nodeName` (and with the default scheduler, no scheduling gates) is
//! filtered against every node in kube-scheduler's order, each node stopping at its first
//! failing filter:
//! 1. `NodeUnschedulable`: a cordoned node (`spec.unschedulable`) unless the pod tolerates
//!    `node.kubernetes.io/unschedulable:NoSchedule`: "node(s) were unschedulable";
//! 2. `TaintToleration`: every `NoSchedule`/`NoExecute` taint must be tolerated
//!    (`PreferNoSchedule` only lowers the node's score): "node(s) had untolerated taint(s)";
//! 3. `NodeAffinity`: `nodeSelector` and the required node-affinity terms (`In`, `NotIn`,
//!    `Exists`, `DoesNotExist`, `Gt`, `Lt`; `matchFields` on `metadata.name`):
//!    "node(s) didn't match Pod's node affinity/selector";
//! 4. `NodeResourcesFit`: the node's allocatable less the requests of the pods bound to it that
//!    have not finished: "Too many pods", "Insufficient cpu", "Insufficient memory".
//!
//! Of the nodes that pass, the one with the fewest untolerated `PreferNoSchedule` taints and
//! then the most room left (least allocated) wins; ties go to the first by name. The pod gets
//! `spec.nodeName`, a `PodScheduled` condition and a `Scheduled` event from `default-scheduler`.
//!
//! A pod that fits nowhere stays `Pending` with `PodScheduled=False`, reason `Unschedulable`
//! and kube-scheduler's (v1.34) message, which is also the `FailedScheduling` event:
//! `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). no new
//! claims to deallocate, preemption: 0/3 nodes are available: 1 No preemption victims found for
//! incoming pod, 2 Preemption is not helpful for scheduling.` (a histogram of the nodes' reasons,
//! sorted as strings; the `DynamicResources` and `DefaultPreemption` post-filters' words after
//! it: a resource shortfall could be solved by preemption but no pod here has a lower priority,
//! the other filters cannot be). With no node at all: `no nodes available to schedule pods`.
//! It is tried again at every change of a pod or a node (capacity freed, a node added), and the
//! event is written again only when the message changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::kubelet::{fakes_scheduling, Rules};
use super::nodes::{self, NodeController, NodeSpec};
use super::store::{kind, now_rfc3339, parse_quantity, pod_usage, Store};
use crate::shared::Shared;

/// How often the node set is looked at when nothing else changes (clusters turn `running` with
/// time, not with a write).
const RESYNC: Duration = Duration::from_millis(500);

/// The scheduler's name, as pods name it (`spec.schedulerName`) and events report it.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Why a node does not take a pod: the filter's reasons, and whether preemption could help
/// (only a resource shortfall could: kube-scheduler's `Unschedulable` against
/// `UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The filter's reasons, as kube-scheduler words them.
    pub reasons: Vec<&'static str>,
    /// Whether evicting lower-priority pods could make room.
    pub resolvable: bool,
}

impl Refusal {
    fn unresolvable(reason: &'static str) -> Refusal {
        Refusal { reasons: vec![reason], resolvable: false }
    }
}

/// Requests of the pods bound to a node (not finished): cpu in cores, memory in bytes, pods.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Requested {
    /// CPU cores.
    pub cpu: f64,
    /// Memory bytes.
    pub memory: f64,
    /// Pod count.
    pub pods: f64,
}

impl Requested {
    fn of(pod: &Json) -> Requested {
        let u = pod_usage(pod);
        Requested {
            cpu: u.get("requests.cpu").map_or(0.0, |a| a.as_f64()),
            memory: u.get("requests.memory").map_or(0.0, |a| a.as_f64()),
            pods: 1.0,
        }
    }

    fn add(&mut self, o: Requested) {
        self.cpu += o.cpu;
        self.memory += o.memory;
        self.pods += o.pods;
    }
}

/// A node's allocatable, read from its object.
fn allocatable(node: &Json) -> Requested {
    let q = |r: &str| node["status"]["allocatable"][r].as_str().and_then(parse_quantity).unwrap_or(0.0);
    Requested { cpu: q("cpu"), memory: q("memory"), pods: q("pods") }
}

fn taints(node: &Json) -> impl Iterator<Item = &Json> {
    node["spec"]["taints"].as_array().into_iter().flatten()
}

/// Whether a toleration tolerates a taint (core/v1 `Toleration.ToleratesTaint`): the effect is
/// empty or the same; an empty key with `Exists` matches every key; `Exists` ignores the value,
/// `Equal` (the default) needs the same value.
pub fn tolerates(toleration: &Json, taint: &Json) -> bool {
    let s = |v: &Json| v.as_str().unwrap_or("").to_owned();
    let effect = s(&toleration["effect"]);
    if !effect.is_empty() && effect != s(&taint["effect"]) {
        return false;
    }
    let key = s(&toleration["key"]);
    if !key.is_empty() && key != s(&taint["key"]) {
        return false;
    }
    match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => !key.is_empty() && s(&toleration["value"]) == s(&taint["value"]),
        _ => false,
    }
}

fn tolerated(pod: &Json, taint: &Json) -> bool {
    pod["spec"]["tolerations"].as_array().into_iter().flatten().any(|t| tolerates(t, taint))
}

/// One `nodeSelectorRequirement` against the node's labels (or, for `matchFields`, its name).
fn requirement_matches(req: &Json, value: Option<&str>) -> bool {
    let values: Vec<&str> = req["values"].as_array().into_iter().flatten().filter_map(Json::as_str).collect();
    let number = |v: &str| v.parse::<i64>().ok();
    match req["operator"].as_str().unwrap_or("") {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(have), Some(want)) if have > want),
        "Lt" => matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(have), Some(want)) if have < want),
        _ => false,
    }
}

/// Whether a node satisfies the pod's `nodeSelector` and required node affinity: every
/// selector label, and at least one term (a term with no requirement matches nothing), whose
/// expressions and fields all match.
pub fn affinity_matches(pod: &Json, node: &Json) -> bool {
    let labels = &node["metadata"]["labels"];
    let selector_ok = pod["spec"]["nodeSelector"].as_object().into_iter().flatten().all(|(k, v)| labels[k].as_str() == v.as_str());
    if !selector_ok {
        return false;
    }
    let required = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let Some(terms) = required["nodeSelectorTerms"].as_array() else { return true };
    terms.iter().any(|term| {
        let exprs = term["matchExpressions"].as_array().map(Vec::as_slice).unwrap_or_default();
        let fields = term["matchFields"].as_array().map(Vec::as_slice).unwrap_or_default();
        if exprs.is_empty() && fields.is_empty() {
            return false;
        }
        exprs.iter().all(|r| requirement_matches(r, r["key"].as_str().and_then(|k| labels[k].as_str())))
            && fields.iter().all(|r| r["key"] == "metadata.name" && requirement_matches(r, node["metadata"]["name"].as_str()))
    })
}

/// Runs the filters for one node; `used` is what the pods bound to it request.
pub fn filter(pod: &Json, node: &Json, used: Requested) -> Result<(), Refusal> {
    if node["spec"]["unschedulable"] == true && !tolerated(pod, &json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}))
    {
        return Err(Refusal::unresolvable("node(s) were unschedulable"));
    }
    let untolerated = taints(node).any(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")) && !tolerated(pod, t));
    if untolerated {
        return Err(Refusal::unresolvable("node(s) had untolerated taint(s)"));
    }
    if !affinity_matches(pod, node) {
        return Err(Refusal::unresolvable("node(s) didn't match Pod's node affinity/selector"));
    }
    let alloc = allocatable(node);
    let ask = Requested::of(pod);
    let mut reasons = Vec::new();
    if used.pods + 1.0 > alloc.pods {
        reasons.push("Too many pods");
    }
    // As NodeResourcesFit: a resource the pod does not ask for is no reason, even on a node
    // already full.
    if ask.cpu > 0.0 && ask.cpu > alloc.cpu - used.cpu + 1e-9 {
        reasons.push("Insufficient cpu");
    }
    if ask.memory > 0.0 && ask.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory");
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Refusal { reasons, resolvable: true })
    }
}

/// `"<count> <text>"` for each distinct text, sorted as strings (kube-scheduler's
/// `sortReasonsHistogram`), joined with `", "`.
fn histogram<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_insert(0) += 1;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(k, v)| format!("{v} {k}")).collect();
    lines.sort();
    lines.join(", ")
}

/// kube-scheduler's `FitError` message for a pod refused by every one of `total` nodes.
pub fn fit_error(total: usize, refusals: &[Refusal]) -> String {
    if total == 0 {
        return "no nodes available to schedule pods".into();
    }
    let filters = histogram(refusals.iter().flat_map(|r| r.reasons.iter().copied()));
    let preemption = histogram(refusals.iter().map(|r| {
        if r.resolvable {
            "No preemption victims found for incoming pod"
        } else {
            "Preemption is not helpful for scheduling"
        }
    }));
    format!(
        "0/{total} nodes are available: {filters}. no new claims to deallocate, preemption: 0/{total} nodes are available: {preemption}."
    )
}

/// The number of untolerated `PreferNoSchedule` taints (lower is better).
fn prefer_no_schedule(pod: &Json, node: &Json) -> usize {
    taints(node).filter(|t| t["effect"] == "PreferNoSchedule" && !tolerated(pod, t)).count()
}

/// Least-allocated score after placing the pod: the mean share of cpu and memory left.
fn room_left(pod: &Json, node: &Json, used: Requested) -> f64 {
    let alloc = allocatable(node);
    let ask = Requested::of(pod);
    let share = |a: f64, u: f64| if a > 0.0 { (a - u).max(0.0) / a } else { 0.0 };
    (share(alloc.cpu, used.cpu + ask.cpu) + share(alloc.memory, used.memory + ask.memory)) / 2.0
}

/// Picks a node for `pod` among `nodes` (with what their pods request), or answers the
/// unschedulable message.
pub fn place<'a>(pod: &Json, nodes: &'a [Json], used: &HashMap<String, Requested>) -> Result<&'a str, String> {
    let mut refusals = Vec::new();
    let mut best: Option<(&str, usize, f64)> = None;
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or("");
        let u = used.get(name).copied().unwrap_or_default();
        match filter(pod, node, u) {
            Err(r) => refusals.push(r),
            Ok(()) => {
                let (taints, room) = (prefer_no_schedule(pod, node), room_left(pod, node, u));
                let better = best.is_none_or(|(_, bt, br)| taints < bt || (taints == bt && room > br + 1e-12));
                if better {
                    best = Some((name, taints, room));
                }
            }
        }
    }
    best.map(|(n, _, _)| n).ok_or_else(|| fit_error(nodes.len(), &refusals))
}

/// Records an event from the scheduler about `pod`.
fn event(s: &mut Store, pod: &Json, kind_: &str, reason: &str, message: &str) {
    super::kubelet::pod_event(s, pod, kind_, reason, message, json!({"component": SCHEDULER_NAME}), Some(SCHEDULER_NAME));
}

/// Whether the pod waits for this scheduler.
fn wants_scheduling(pod: &Json) -> bool {
    pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
        && pod["status"]["phase"].as_str().unwrap_or("Pending") == "Pending"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["spec"]["schedulerName"].as_str().is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME)
        && pod["spec"]["schedulingGates"].as_array().is_none_or(Vec::is_empty)
}

/// One scheduling pass over the pods waiting; answers how many were bound.
pub fn schedule_pending(s: &mut Store, rules: &Rules, docker: bool) -> usize {
    let (Some(pods), Some(nodes_kind)) = (kind("", "pods"), kind("", "nodes")) else { return 0 };
    let nodes: Vec<Json> = s.list(nodes_kind, None);
    let mut used: HashMap<String, Requested> = HashMap::new();
    let mut waiting: Vec<Json> = Vec::new();
    for p in s.iter(pods, None) {
        match p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            Some(node) if !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) => {
                used.entry(node.to_owned()).or_default().add(Requested::of(p));
            }
            Some(_) => {}
            None if wants_scheduling(p) && !fakes_scheduling(rules, p, docker) => waiting.push(p.clone()),
            None => {}
        }
    }
    // Higher priority first, then the oldest (the scheduling queue's order).
    waiting.sort_by(|a, b| {
        let prio = |p: &Json| p["spec"]["priority"].as_i64().unwrap_or(0);
        let created = |p: &Json| p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_owned();
        prio(b)
            .cmp(&prio(a))
            .then_with(|| created(a).cmp(&created(b)))
            .then_with(|| a["metadata"]["name"].as_str().cmp(&b["metadata"]["name"].as_str()))
    });
    let mut bound = 0;
    for pod in waiting {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        let name = pod["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let now = now_rfc3339();
        match place(&pod, &nodes, &used) {
            Ok(node) => {
                let node = node.to_owned();
                used.entry(node.clone()).or_default().add(Requested::of(&pod));
                s.update_with(pods, &ns, &name, |p| {
                    p["spec"]["nodeName"] = json!(node);
                    p["status"]["conditions"] =
                        json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}]);
                });
                event(s, &pod, "Normal", "Scheduled", &format!("Successfully assigned {ns}/{name} to {node}"));
                bound += 1;
            }
            Err(message) => {
                let same = pod["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable" && c["message"] == message.as_str())
                });
                if same {
                    continue;
                }
                s.update_with(pods, &ns, &name, |p| {
                    p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                        "message": message, "lastProbeTime": null, "lastTransitionTime": now}]);
                });
                event(s, &pod, "Warning", "FailedScheduling", &message);
            }
        }
    }
    bound
}

/// The node set now: the emulated clusters' nodes, or the default node while they have none.
pub fn node_set(shared: &Shared) -> Vec<NodeSpec> {
    let from_clusters = shared.nodes.current();
    if !from_clusters.is_empty() {
        return from_clusters;
    }
    let ip = shared.network.as_ref().map_or_else(|| shared.config.listen.to_string(), |n| n.gateway.to_string());
    vec![nodes::default_node(shared.config.node_cpus, shared.docker.is_some(), &ip)]
}

/// Runs until shutdown: after every change of the store (and every [`RESYNC`]), syncs the Node
/// objects and schedules the pods waiting.
pub async fn run(store: Arc<Mutex<Store>>, shared: Arc<Shared>, rules: Arc<Mutex<Rules>>, docker: Arc<AtomicBool>) {
    let mut shutdown = shared.shutdown.clone();
    let mut changes = store.lock().unwrap_or_else(|p| p.into_inner()).changes.subscribe();
    let mut controller = NodeController::default();
    loop {
        let desired = node_set(&shared);
        {
            let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
            controller.sync(&mut s, &desired);
            let r = rules.lock().unwrap_or_else(|p| p.into_inner());
            schedule_pending(&mut s, &r, docker.load(Ordering::SeqCst));
        }
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(RESYNC) => {}
            _ = shutdown.wait_for(|d| *d) => return,
        }
        // Our own writes come back as changes: take them all before the next pass.
        while changes.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Json, taints: Json, cpu: &str, memory: &str) -> Json {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints},
               "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}})
    }

    fn pod(spec: Json) -> Json {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]);
        json!({"metadata": {"name": "p", "namespace": "n"}, "spec": spec})
    }

    fn virtual_node() -> Json {
        node(
            "virtual-kubelet-cn-local-a",
            json!({"type": "virtual-kubelet"}),
            json!([{"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}]),
            "1k",
            "4Ti",
        )
    }

    fn vk_toleration() -> Json {
        json!([{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}])
    }

    #[test]
    fn tolerations_match_taints_as_the_api_defines() {
        let taint = json!({"key": "k", "value": "v", "effect": "NoSchedule"});
        assert!(tolerates(&json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}), &taint));
        assert!(tolerates(&json!({"key": "k", "value": "v"}), &taint), "Equal by default, any effect");
        assert!(!tolerates(&json!({"key": "k", "value": "w"}), &taint));
        assert!(tolerates(&json!({"key": "k", "operator": "Exists"}), &taint));
        assert!(tolerates(&json!({"operator": "Exists"}), &taint), "an empty key with Exists tolerates everything");
        assert!(!tolerates(&json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}), &taint));
        assert!(!tolerates(&json!({"key": "other", "operator": "Exists"}), &taint));
    }

    #[test]
    fn taints_block_unless_tolerated_and_prefer_no_schedule_does_not_filter() {
        let used = Requested::default();
        let vk = virtual_node();
        assert_eq!(filter(&pod(json!({})), &vk, used), Err(Refusal::unresolvable("node(s) had untolerated taint(s)")));
        assert_eq!(filter(&pod(json!({"tolerations": vk_toleration()})), &vk, used), Ok(()));
        let soft = node("n", json!({}), json!([{"key": "spot", "effect": "PreferNoSchedule"}]), "4", "16Gi");
        assert_eq!(filter(&pod(json!({})), &soft, used), Ok(()));
        let hard = node("n", json!({}), json!([{"key": "spot", "value": "true", "effect": "NoExecute"}]), "4", "16Gi");
        assert!(filter(&pod(json!({})), &hard, used).is_err());
    }

    #[test]
    fn node_selector_and_required_affinity_select_nodes() {
        let n = node("cn-local.10.1.0.1", json!({"pool": "a", "gen": "7"}), json!([]), "4", "16Gi");
        let expr = |op: &str, values: Json| {
            let key = if op == "Exists" || op == "DoesNotExist" { "pool" } else { "gen" };
            let req = json!({"key": key, "operator": op, "values": values});
            let required = json!({"nodeSelectorTerms": [{"matchExpressions": [req]}]});
            pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}}))
        };
        assert!(affinity_matches(&pod(json!({"nodeSelector": {"pool": "a"}})), &n));
        assert!(!affinity_matches(&pod(json!({"nodeSelector": {"pool": "b"}})), &n));
        assert!(affinity_matches(&expr("In", json!(["6", "7"])), &n));
        assert!(!affinity_matches(&expr("NotIn", json!(["7"])), &n));
        assert!(affinity_matches(&expr("Exists", json!([])), &n));
        assert!(!affinity_matches(&expr("DoesNotExist", json!([])), &n));
        assert!(affinity_matches(&expr("Gt", json!(["6"])), &n));
        assert!(!affinity_matches(&expr("Lt", json!(["7"])), &n));
        let absent = pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["x"]}]}]}}}}));
        assert!(affinity_matches(&absent, &n), "NotIn matches a node without the label");
        let terms_or = pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["b"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["cn-local.10.1.0.1"]}]}]}}}}));
        assert!(affinity_matches(&terms_or, &n), "terms are ORed; matchFields names the node");
        let empty_term =
            pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}}));
        assert!(!affinity_matches(&empty_term, &n), "an empty term matches nothing");
    }

    #[test]
    fn free_capacity_counts_the_pods_bound() {
        let n = node("n", json!({}), json!([]), "2", "4Gi");
        assert_eq!(filter(&pod(json!({})), &n, Requested { cpu: 1.0, memory: 1.0 * (1u64 << 30) as f64, pods: 1.0 }), Ok(()));
        let full = Requested { cpu: 1.5, memory: 3.5 * (1u64 << 30) as f64, pods: 2.0 };
        assert_eq!(
            filter(&pod(json!({})), &n, full),
            Err(Refusal { reasons: vec!["Insufficient cpu", "Insufficient memory"], resolvable: true })
        );
        let no_requests = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(filter(&no_requests, &n, Requested { cpu: 9.0, memory: 0.0, pods: 0.0 }), Ok(()), "asks for nothing");
    }

    #[test]
    fn the_message_is_kube_schedulers() {
        let nodes = vec![
            node("cn-local.10.1.0.1", json!({"pool": "a"}), json!([]), "4", "16Gi"),
            node("cn-local.10.1.0.2", json!({"pool": "a"}), json!([]), "4", "16Gi"),
            virtual_node(),
        ];
        let no_label = pod(json!({"nodeSelector": {"disk": "nvme"}}));
        assert_eq!(
            place(&no_label, &nodes, &HashMap::new()),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector. \
                 no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                .into())
        );
        let mut used = HashMap::new();
        for n in ["cn-local.10.1.0.1", "cn-local.10.1.0.2"] {
            used.insert(n.to_owned(), Requested { cpu: 4.0, memory: 0.0, pods: 1.0 });
        }
        assert_eq!(
            place(&pod(json!({})), &nodes, &used),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. no new claims to deallocate, \
                 preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
                .into())
        );
        assert_eq!(fit_error(0, &[]), "no nodes available to schedule pods");
        // Counts sort as strings, as Go's sort.Strings does: "10 ..." before "2 ...".
        let many: Vec<Refusal> = (0..12)
            .map(|i| {
                if i < 10 {
                    Refusal::unresolvable("node(s) were unschedulable")
                } else {
                    Refusal::unresolvable("node(s) had untolerated taint(s)")
                }
            })
            .collect();
        assert!(fit_error(12, &many)
            .starts_with("0/12 nodes are available: 10 node(s) were unschedulable, 2 node(s) had untolerated taint(s)."));
    }

    #[test]
    fn the_virtual_node_takes_only_pods_that_tolerate_it_and_the_roomiest_node_wins() {
        let nodes = vec![
            node("a", json!({"pool": "a"}), json!([]), "4", "16Gi"),
            node("b", json!({"pool": "a"}), json!([]), "4", "16Gi"),
            virtual_node(),
        ];
        let mut used = HashMap::new();
        used.insert("a".to_owned(), Requested { cpu: 2.0, memory: 0.0, pods: 1.0 });
        assert_eq!(place(&pod(json!({})), &nodes, &used), Ok("b"));
        let eci = pod(json!({"nodeSelector": {"type": "virtual-kubelet"}, "tolerations": vk_toleration()}));
        assert_eq!(place(&eci, &nodes, &used), Ok("virtual-kubelet-cn-local-a"));
    }

    #[test]
    fn a_pass_binds_what_fits_and_marks_the_rest_once() {
        let mut s = Store::new();
        let (pods, nodes_kind) = (kind("", "pods").expect("pods"), kind("", "nodes").expect("nodes"));
        s.create(nodes_kind, "", node("n1", json!({}), json!([]), "1", "4Gi")).expect("node");
        for name in ["first", "second"] {
            let mut p = pod(json!({}));
            p["metadata"]["name"] = json!(name);
            s.create(pods, "default", p).expect("pod");
        }
        let rules = Rules::default();
        assert_eq!(schedule_pending(&mut s, &rules, true), 1);
        let first = s.get(pods, "default", "first").expect("first");
        assert_eq!(first["spec"]["nodeName"], "n1");
        let second = s.get(pods, "default", "second").expect("second");
        assert_eq!(second["status"]["conditions"][0]["reason"], "Unschedulable");
        let events = kind("", "events").expect("events");
        let failed = |s: &Store| s.iter(events, Some("default")).filter(|e| e["reason"] == "FailedScheduling").count();
        assert_eq!(failed(&s), 1);
        schedule_pending(&mut s, &rules, true);
        assert_eq!(failed(&s), 1, "the same message is not written again");
        s.update_with(pods, "default", "first", |p| p["status"]["phase"] = json!("Succeeded"));
        assert_eq!(schedule_pending(&mut s, &rules, true), 1, "capacity freed: the second pod is bound");
        assert_eq!(s.get(pods, "default", "second").expect("second")["spec"]["nodeName"], "n1");
    }
}
