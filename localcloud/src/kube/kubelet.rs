//! The rule-based kubelet: moves pods through their phases the way a node would, following a
//! rule chosen per test (`POST /_localcloud/kubelet-rule`) or per pod (annotation
//! [`RULE_ANNOTATION`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::store::{kind, now_rfc3339, Store};

/// Pod annotation naming the rule for that pod (`succeed`, `fail`, `image-pull-backoff`, `unschedulable`).
pub const RULE_ANNOTATION: &str = "localcloud.sparkoss.io/kubelet-rule";

/// What happens to a pod.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Rule {
    /// `succeed` (default), `fail`, `image-pull-backoff` or `unschedulable`.
    #[serde(default = "default_outcome")]
    pub outcome: String,
    /// How long the container runs before it ends, in milliseconds (default 300).
    #[serde(default = "default_run_ms")]
    pub run_ms: u64,
    /// Lines the container writes to its log while running (default 3).
    #[serde(default = "default_lines")]
    pub log_lines: u32,
    /// Termination message of a failed container.
    #[serde(default)]
    pub message: Option<String>,
    /// Exit code of a failed container (default 1).
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// Only pods in this namespace follow the rule (default: every namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Lines a failing container writes last, as a program writes its stack trace.
    #[serde(default)]
    pub last_lines: Vec<String>,
}

fn default_outcome() -> String {
    "succeed".into()
}
fn default_run_ms() -> u64 {
    300
}
fn default_lines() -> u32 {
    3
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            outcome: default_outcome(),
            run_ms: default_run_ms(),
            log_lines: default_lines(),
            message: None,
            exit_code: None,
            namespace: None,
            last_lines: Vec::new(),
        }
    }
}

/// The outcomes a rule may name.
pub const OUTCOMES: &[&str] = &["succeed", "fail", "image-pull-backoff", "unschedulable"];

/// Rules in force: the latest one for a namespace wins over the latest global one.
#[derive(Debug, Default)]
pub struct Rules {
    global: Rule,
    per_namespace: HashMap<String, Rule>,
}

impl Rules {
    /// Records a rule.
    pub fn set(&mut self, r: Rule) {
        match r.namespace.clone() {
            Some(ns) => {
                self.per_namespace.insert(ns, r);
            }
            None => self.global = r,
        }
    }

    pub(super) fn for_pod(&self, pod: &Json) -> Rule {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
        let mut r = self.per_namespace.get(ns).cloned().unwrap_or_else(|| self.global.clone());
        if let Some(o) = pod["metadata"]["annotations"][RULE_ANNOTATION].as_str() {
            r.outcome = o.to_owned();
        }
        r
    }
}

/// Whether this kubelet fakes the pod's scheduling (the rule `unschedulable`): the scheduler
/// then leaves the pod alone. While the Docker kubelet runs (`docker`), only pods naming a rule
/// in [`RULE_ANNOTATION`] follow rules.
pub fn fakes_scheduling(rules: &Rules, pod: &Json, docker: bool) -> bool {
    if docker && pod["metadata"]["annotations"][RULE_ANNOTATION].is_null() {
        return false;
    }
    rules.for_pod(pod).outcome == "unschedulable"
}

/// Runs until shutdown: every 100 ms, advances each pod one step. While `docker` is set (the
/// Docker kubelet runs), only pods that name a rule in [`RULE_ANNOTATION`] are this kubelet's.
pub async fn run(
    store: Arc<Mutex<Store>>,
    rules: Arc<Mutex<Rules>>,
    docker: Arc<AtomicBool>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut started: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.wait_for(|d| *d) => return,
        }
        let (Ok(mut s), Ok(r)) = (store.lock(), rules.lock()) else { return };
        step(&mut s, &r, docker.load(Ordering::SeqCst), &mut started);
    }
}

/// The conditions of a pod whose containers run and are ready (both kubelets write them).
pub(super) fn running_conditions(now: &str) -> Json {
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
    ])
}

/// A finished pod is no longer ready: `Ready` and `ContainersReady` turn false (`PodCompleted`).
pub(super) fn mark_completed(pod: &mut Json) {
    if let Some(conds) = pod["status"]["conditions"].as_array_mut() {
        for c in conds {
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!("False");
                c["reason"] = json!("PodCompleted");
            }
        }
    }
}

/// Records a kubelet event about `pod` (both kubelets report the same way).
pub(super) fn event(s: &mut Store, pod: &Json, kind_: &str, reason: &str, message: &str) {
    pod_event(s, pod, kind_, reason, message, json!({"component": "kubelet", "host": pod["spec"]["nodeName"]}), None);
}

/// Records an event about `pod` from `source` (an EventSource); `reporting`, when given, is the
/// event's `reportingComponent`. The kubelets and the scheduler write their events through it.
pub(super) fn pod_event(s: &mut Store, pod: &Json, kind_: &str, reason: &str, message: &str, source: Json, reporting: Option<&str>) {
    let Some(ev) = kind("", "events") else { return };
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default").to_owned();
    let name = pod["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let now = now_rfc3339();
    let mut event = json!({
        "metadata": {"generateName": format!("{name}.")},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
        "reason": reason, "message": message, "type": kind_, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now, "source": source,
    });
    if let Some(r) = reporting {
        event["reportingComponent"] = json!(r);
    }
    let _ = s.create(ev, &ns, event);
}

/// Whether a pod has nothing due this tick (so it is not copied out of the store): another
/// kubelet's, finished, already marked by its rule, or running with time left.
fn settled(pod: &Json, rules: &Rules, docker: bool, started: &HashMap<String, Instant>) -> bool {
    if docker && pod["metadata"]["annotations"][RULE_ANNOTATION].is_null() {
        return true;
    }
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return true;
    }
    let rule = rules.for_pod(pod);
    // Pods of the other outcomes are this kubelet's once the scheduler bound them.
    let unbound = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
    match rule.outcome.as_str() {
        "unschedulable" => pod["status"]["conditions"].is_array(),
        "image-pull-backoff" => unbound || pod["status"]["containerStatuses"].is_array(),
        _ if unbound => true,
        _ => {
            phase == "Running"
                && pod["metadata"]["uid"]
                    .as_str()
                    .and_then(|u| started.get(u))
                    .is_some_and(|since| since.elapsed() < Duration::from_millis(rule.run_ms))
        }
    }
}

fn step(s: &mut Store, rules: &Rules, docker: bool, started: &mut HashMap<String, Instant>) {
    let Some(pods) = kind("", "pods") else { return };
    let due: Vec<Json> = s.iter(pods, None).filter(|p| !settled(p, rules, docker, started)).cloned().collect();
    for pod in due {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        let name = pod["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        let phase = pod["status"]["phase"].as_str().unwrap_or("").to_owned();
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let rule = rules.for_pod(&pod);
        let containers: Vec<Json> = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
        let image = containers.first().and_then(|c| c["image"].as_str()).unwrap_or("").to_owned();
        let now = now_rfc3339();
        match rule.outcome.as_str() {
            "unschedulable" => {
                if pod["status"]["conditions"].is_array() {
                    continue;
                }
                let short = super::scheduler::Refusal { reasons: vec!["Insufficient cpu"], resolvable: true };
                let msg = super::scheduler::fit_error(1, &[short]);
                let msg = msg.as_str();
                s.update_with(pods, &ns, &name, |p| {
                    p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg, "lastTransitionTime": now}]);
                });
                event(s, &pod, "Warning", "FailedScheduling", msg);
            }
            "image-pull-backoff" => {
                if pod["status"]["containerStatuses"].is_array() {
                    continue;
                }
                let msg = format!("Back-off pulling image \"{image}\"");
                let statuses: Vec<Json> = containers
                    .iter()
                    .map(|c| {
                        json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "restartCount": 0, "started": false,
                                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": msg}}, "lastState": {}})
                    })
                    .collect();
                s.update_with(pods, &ns, &name, |p| {
                    p["status"]["containerStatuses"] = json!(statuses);
                    p["status"]["hostIP"] = json!("127.0.0.1");
                    p["status"]["startTime"] = json!(now);
                });
                event(s, &pod, "Warning", "Failed", &format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"));
                event(s, &pod, "Normal", "BackOff", &msg);
            }
            _ => {
                if phase == "Pending" {
                    let statuses: Vec<Json> = containers
                        .iter()
                        .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": format!("{}@sha256:0", c["image"].as_str().unwrap_or("")),
                                        "containerID": format!("localcloud://{uid}"), "ready": true, "restartCount": 0, "started": true,
                                        "state": {"running": {"startedAt": now}}, "lastState": {}}))
                        .collect();
                    s.update_with(pods, &ns, &name, |p| {
                        p["status"]["phase"] = json!("Running");
                        p["status"]["hostIP"] = json!("127.0.0.1");
                        p["status"]["podIP"] = json!("127.0.0.1");
                        p["status"]["startTime"] = json!(now);
                        p["status"]["conditions"] = running_conditions(&now);
                        p["status"]["containerStatuses"] = json!(statuses);
                    });
                    event(s, &pod, "Normal", "Started", "Started container");
                    let lines: Vec<String> = (1..=rule.log_lines).map(|i| format!("{name} log line {i}")).collect();
                    s.logs.entry((ns.clone(), name.clone())).or_default().extend(lines);
                    started.insert(uid.clone(), Instant::now());
                    continue;
                }
                let since = *started.entry(uid.clone()).or_insert_with(Instant::now);
                if since.elapsed() < Duration::from_millis(rule.run_ms) {
                    continue;
                }
                started.remove(&uid);
                let failed = rule.outcome == "fail";
                let code = if failed { rule.exit_code.unwrap_or(1) } else { 0 };
                let message = if failed { rule.message.clone().unwrap_or_else(|| "container failed".into()) } else { String::new() };
                if failed {
                    let log = s.logs.entry((ns.clone(), name.clone())).or_default();
                    log.extend(rule.last_lines.iter().cloned());
                    log.push(format!("ERROR {message}"));
                }
                let statuses: Vec<Json> = containers
                    .iter()
                    .map(|c| {
                        let mut term = json!({"exitCode": code, "reason": if failed { "Error" } else { "Completed" }, "startedAt": pod["status"]["startTime"], "finishedAt": now,
                                              "containerID": format!("localcloud://{uid}")});
                        if failed {
                            term["message"] = json!(message);
                        }
                        json!({"name": c["name"], "image": c["image"], "imageID": format!("{}@sha256:0", c["image"].as_str().unwrap_or("")),
                               "containerID": format!("localcloud://{uid}"), "ready": false, "restartCount": 0, "started": false,
                               "state": {"terminated": term}, "lastState": {}})
                    })
                    .collect();
                s.update_with(pods, &ns, &name, |p| {
                    p["status"]["phase"] = json!(if failed { "Failed" } else { "Succeeded" });
                    p["status"]["containerStatuses"] = json!(statuses);
                    mark_completed(p);
                });
                s.refresh_quotas(&ns);
            }
        }
    }
}
