//! The Docker kubelet: runs pods as containers on the machine's Docker Engine, so a pod's image,
//! command, environment and resources are really used, and its log and exit code are really its
//! own. Started with `localcloud --kubelet docker`.
//!
//! What it does, the way a node does it:
//! - runs the pods the scheduler ([`super::scheduler`]) bound to a node, whichever node: every
//!   node's pods run on this machine;
//! - uses the image when the engine has it, else pulls it (a registry on 127.0.0.1 works; nothing
//!   else is reachable) and, when that fails, reports `ErrImagePull` / `ImagePullBackOff` and
//!   retries with a bounded back-off;
//! - resolves the environment (`value`, `fieldRef`, `secretKeyRef`, `configMapKeyRef`, `envFrom`);
//!   a missing secret is `CreateContainerConfigError`, as on a node;
//! - runs the first container on the pod network ([`crate::network`]) with an IP of its own,
//!   known before the container starts (so the downward API's `status.podIP` is right), the
//!   cluster DNS as its resolver with a pod's search path, `command` as entrypoint and `args` as
//!   cmd, memory and CPU limits applied; streams its output into the pod log, and writes the exit
//!   code, reason (`Completed`, `Error`, `OOMKilled`) and, under `FallbackToLogsOnError`, the log
//!   tail as termination message into the pod status;
//! - mounts the service account's token, `ca.crt` and `namespace` at
//!   `/var/run/secrets/kubernetes.io/serviceaccount` (unless `automountServiceAccountToken` is
//!   false on the pod or its service account) and sets `KUBERNETES_SERVICE_HOST`/`PORT`, so
//!   in-cluster clients reach the API as on a real node; `emptyDir`, `configMap` and `secret`
//!   volumes are folders under the data dir, bound where the container mounts them;
//! - removes the container when the pod ends or is deleted, and every container of its own at
//!   shutdown. Containers left by a local cloud that was killed are removed at the next start.
//!
//! Only `restartPolicy: Never` pods are run as such (the driver pods sparkoss makes); a pod that
//! names a kubelet rule ([`super::kubelet::RULE_ANNOTATION`]) is left to the rule-based kubelet.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use serde_json::{json, Value as Json};
use sparkoss_quantity::Quantity;

use super::dns::search_domains;
use super::kubelet::{event, mark_completed, running_conditions, RULE_ANNOTATION};
use super::store::{kind, now_rfc3339, Store};
use crate::shared::Shared;

/// Where a pod finds its service account's credentials, as on every node.
const SA_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Label on every container the kubelet starts: the pod's uid.
pub const POD_UID_LABEL: &str = "io.sparkoss.localcloud.pod-uid";
/// Label: `namespace/name` of the pod.
pub const POD_LABEL: &str = "io.sparkoss.localcloud.pod";
/// Label: pid of the local cloud that started the container (to clean up after a killed one).
pub const OWNER_PID_LABEL: &str = "io.sparkoss.localcloud.pid";

/// Most log lines kept per pod; the rest is dropped with one marker line (a node rotates logs).
const MAX_LOG_LINES: usize = 200_000;
/// The termination message under `FallbackToLogsOnError`: the smaller of these, as on a node.
const TERMINATION_LINES: usize = 80;
const TERMINATION_BYTES: usize = 2048;
/// Image pull back-off: first wait, and the cap (a node caps at five minutes; tests need less).
const PULL_BACKOFF_FIRST: Duration = Duration::from_secs(2);
const PULL_BACKOFF_MAX: Duration = Duration::from_secs(20);
/// How often pods are looked at.
const TICK: Duration = Duration::from_millis(200);

/// Connects to the engine (`DOCKER_HOST` or the default socket) and checks it answers within
/// 5 s; the error names the engine. There is no fallback: `--kubelet docker` asked for real
/// containers.
pub async fn connect() -> Result<Docker, String> {
    let engine = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let fail = |why: String| {
        format!("--kubelet docker: the Docker Engine at {engine} does not answer ({why}); start it, point DOCKER_HOST at it, or use --kubelet rules")
    };
    let docker = Docker::connect_with_local_defaults().map_err(|e| fail(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail("no answer within 5 s".into())),
    }
}

/// Shared between the loop and the per-pod tasks.
struct Node {
    docker: Docker,
    store: Arc<Mutex<Store>>,
    shared: Arc<Shared>,
    /// Pods (by uid) a task is running, and their container names once created.
    running: Mutex<HashMap<String, Option<String>>>,
}

impl Node {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs until shutdown. `active` is set once the engine answered, so the rule-based kubelet
/// leaves pods without a rule to this one; without an engine it stays unset and returns.
pub async fn run(store: Arc<Mutex<Store>>, shared: Arc<Shared>, active: Arc<AtomicBool>) {
    let Some(docker) = shared.docker.clone() else {
        tracing::warn!("kubelet: no Docker Engine answers; pods follow the kubelet rules instead");
        return;
    };
    let mut shutdown = shared.shutdown.clone();
    remove_orphans(&docker).await;
    active.store(true, Ordering::SeqCst);
    tracing::info!("kubelet: running pods as Docker containers");
    let node = Arc::new(Node { docker, store, shared, running: Mutex::new(HashMap::new()) });
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.wait_for(|d| *d) => break,
        }
        while tasks.try_join_next().is_some() {}
        let (starts, live) = pending_pods(&node);
        // Pods deleted while their container runs: the container goes (the log stream then ends
        // and the task finds no pod to update).
        let gone: Vec<String> = {
            let running = node.running.lock().unwrap_or_else(|p| p.into_inner());
            running.iter().filter(|(uid, _)| !live.contains(*uid)).filter_map(|(_, c)| c.clone()).collect()
        };
        for c in gone {
            remove_container(&node.docker, &c).await;
        }
        for pod in starts {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
            node.running.lock().unwrap_or_else(|p| p.into_inner()).insert(uid.clone(), None);
            let node = node.clone();
            let down = shutdown.clone();
            tasks.spawn(async move {
                run_pod(&node, pod, down).await;
                node.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
            });
        }
    }
    // Shutdown: every container of ours goes, then the tasks (their streams end with them).
    let names: Vec<String> = node.running.lock().unwrap_or_else(|p| p.into_inner()).values().flatten().cloned().collect();
    for c in names {
        remove_container(&node.docker, &c).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async { while tasks.join_next().await.is_some() {} }).await;
    remove_own(&node.docker).await;
    // The network goes last: the engine refuses to remove one that containers still use.
    if let Some(net) = &node.shared.network {
        net.remove(&node.docker).await;
    }
    let _ = std::fs::remove_dir_all(node.shared.config.data_dir.join("kube").join("pods"));
}

/// Pods to start (bound to a node by the scheduler, pending, not yet handled, no rule of their
/// own) and the uids of all live pods. Every node's pods run here: the nodes are the scheduler's.
fn pending_pods(node: &Node) -> (Vec<Json>, HashSet<String>) {
    let Some(pods) = kind("", "pods") else { return (Vec::new(), HashSet::new()) };
    let s = node.lock();
    let all = s.list(pods, None);
    drop(s);
    let running = node.running.lock().unwrap_or_else(|p| p.into_inner());
    let live: HashSet<String> = all.iter().filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_owned)).collect();
    let starts = all
        .into_iter()
        .filter(|p| p["status"]["phase"].as_str().unwrap_or("Pending") == "Pending")
        .filter(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()))
        .filter(|p| p["metadata"]["annotations"][RULE_ANNOTATION].is_null())
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["uid"].as_str().is_some_and(|u| !running.contains_key(u)))
        .collect();
    (starts, live)
}

fn pod_key(pod: &Json) -> (String, String) {
    (pod["metadata"]["namespace"].as_str().unwrap_or("default").to_owned(), pod["metadata"]["name"].as_str().unwrap_or("").to_owned())
}

/// Updates the pod if it still exists with the same uid; false when it is gone.
fn update_pod(node: &Node, pod: &Json, f: impl FnOnce(&mut Json)) -> bool {
    let Some(pods) = kind("", "pods") else { return false };
    let (ns, name) = pod_key(pod);
    let mut s = node.lock();
    match s.get(pods, &ns, &name) {
        Ok(current) if current["metadata"]["uid"] == pod["metadata"]["uid"] => s.update_with(pods, &ns, &name, f).is_some(),
        _ => false,
    }
}

fn alive(node: &Node, pod: &Json) -> bool {
    update_pod(node, pod, |_| {})
}

fn container_status(c: &Json, state: Json, ready: bool, id: Option<&str>, image_id: Option<&str>) -> Json {
    let mut st = json!({"name": c["name"], "image": c["image"], "imageID": image_id.unwrap_or(""), "ready": ready,
                        "restartCount": 0, "started": ready, "state": state, "lastState": {}});
    if let Some(id) = id {
        st["containerID"] = json!(format!("docker://{id}"));
    }
    st
}

/// One pod from scheduling to its end; its address and folders are given back at the end.
async fn run_pod(node: &Node, pod: Json, shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(ip) = schedule(node, &pod) else { return };
    run_scheduled(node, &pod, ip, shutdown).await;
    if let (Some(net), Some(std::net::IpAddr::V4(v4))) = (&node.shared.network, ip) {
        net.release(v4);
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    if !uid.is_empty() {
        let _ = std::fs::remove_dir_all(pod_dir(node, uid));
    }
}

/// The pod's folder on the node: its service-account files and volumes.
fn pod_dir(node: &Node, uid: &str) -> std::path::PathBuf {
    node.shared.config.data_dir.join("kube").join("pods").join(uid)
}

async fn run_scheduled(node: &Node, pod: &Json, ip: Option<std::net::IpAddr>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let pod = pod.clone();
    let container = pod["spec"]["containers"][0].clone();
    let image = container["image"].as_str().unwrap_or("").to_owned();
    let Some(image_id) = ensure_image(node, &pod, &container, &image, &mut shutdown).await else { return };
    let env = match resolve_env(node, &pod, &container) {
        Ok(env) => env,
        Err(message) => {
            // As on a node: the pod waits (the secret may appear); the job fails on its pending timeout.
            update_pod(node, &pod, |p| {
                p["status"]["containerStatuses"] = json!([container_status(
                    &container,
                    json!({"waiting": {"reason": "CreateContainerConfigError", "message": message}}),
                    false,
                    None,
                    None
                )]);
            });
            let mut s = node.lock();
            event(&mut s, &pod, "Warning", "Failed", &format!("Error: {message}"));
            return;
        }
    };
    let (ns, name) = pod_key(&pod);
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let binds = match prepare_mounts(node, &pod, &container) {
        Ok(b) => b,
        Err(message) => {
            update_pod(node, &pod, |p| {
                p["status"]["containerStatuses"] =
                    json!([container_status(&container, json!({"waiting": {"reason": "ContainerCreating"}}), false, None, None)]);
            });
            let mut s = node.lock();
            event(&mut s, &pod, "Warning", "FailedMount", &message);
            return;
        }
    };
    let cname = container_name(&ns, &name, &uid);
    let mut body = container_body(&pod, &container, &image, env, &uid);
    attach(node, &mut body, &pod, ip, binds);
    let opts = CreateContainerOptions { name: Some(cname.clone()), platform: String::new() };
    let created = node.docker.create_container(Some(opts), body).await;
    let id = match created {
        Ok(r) => r.id,
        Err(e) => return fail_before_start(node, &pod, &container, "CreateContainerError", &engine_message(&e)),
    };
    node.running.lock().unwrap_or_else(|p| p.into_inner()).insert(uid.clone(), Some(cname.clone()));
    {
        let mut s = node.lock();
        event(&mut s, &pod, "Normal", "Created", &format!("Created container {}", container["name"].as_str().unwrap_or("")));
    }
    if let Err(e) = node.docker.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>).await {
        remove_container(&node.docker, &cname).await;
        return fail_before_start(node, &pod, &container, "StartError", &engine_message(&e));
    }
    let started_at = now_rfc3339();
    let still_there = update_pod(node, &pod, |p| {
        p["status"]["phase"] = json!("Running");
        p["status"]["startTime"] = json!(started_at);
        p["status"]["conditions"] = running_conditions(&started_at);
        p["status"]["containerStatuses"] =
            json!([container_status(&container, json!({"running": {"startedAt": started_at}}), true, Some(&id), Some(&image_id))]);
    });
    if !still_there {
        remove_container(&node.docker, &cname).await;
        return;
    }
    {
        let mut s = node.lock();
        event(&mut s, &pod, "Normal", "Started", &format!("Started container {}", container["name"].as_str().unwrap_or("")));
    }
    let sampler = tokio::spawn(sample_usage(
        node.docker.clone(),
        node.store.clone(),
        id.clone(),
        (ns.clone(), name.clone()),
        container["name"].as_str().unwrap_or("").to_owned(),
    ));
    stream_logs(node, &id, (ns.clone(), name.clone())).await;
    sampler.abort();
    // A finished pod has no usage any more (metrics-server lists running pods only).
    node.lock().metrics.remove(&(ns.clone(), name.clone()));
    finish(node, &pod, &container, &id, &image_id, &started_at).await;
    remove_container(&node.docker, &cname).await;
}

/// Admits a pod the scheduler bound here: an address on the pod network (`None` inside: no pod
/// network) and the `ContainerCreating` status; `None` when no address is free.
fn schedule(node: &Node, pod: &Json) -> Option<Option<std::net::IpAddr>> {
    let pods = kind("", "pods")?;
    let mut s = node.lock();
    let (ns, name) = pod_key(pod);
    let (host_ip, pod_ip) = match &node.shared.network {
        Some(net) => match net.allocate() {
            Some(ip) => (std::net::IpAddr::V4(net.gateway), Some(std::net::IpAddr::V4(ip))),
            None => {
                event(&mut s, pod, "Warning", "FailedCreatePodSandBox", "no free address on the pod network");
                return None;
            }
        },
        None => (std::net::IpAddr::from([127, 0, 0, 1]), None),
    };
    let shown_ip = pod_ip.unwrap_or(host_ip).to_string();
    s.update_with(pods, &ns, &name, |p| {
        p["status"]["phase"] = json!("Pending");
        p["status"]["hostIP"] = json!(host_ip.to_string());
        p["status"]["podIP"] = json!(shown_ip);
        p["status"]["podIPs"] = json!([{"ip": shown_ip}]);
        p["status"]["containerStatuses"] = json!([container_status(
            &pod["spec"]["containers"][0],
            json!({"waiting": {"reason": "ContainerCreating"}}),
            false,
            None,
            None
        )]);
    });
    Some(pod_ip)
}

/// The image's id once the engine has it; `None` when the pod went away or the kubelet stops.
async fn ensure_image(
    node: &Node,
    pod: &Json,
    container: &Json,
    image: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<String> {
    let mut wait = PULL_BACKOFF_FIRST;
    let mut first = true;
    loop {
        if let Ok(img) = node.docker.inspect_image(image).await {
            if !first {
                let mut s = node.lock();
                event(&mut s, pod, "Normal", "Pulled", &format!("Successfully pulled image \"{image}\""));
            }
            return Some(img.id.unwrap_or_default());
        }
        if first {
            let mut s = node.lock();
            event(&mut s, pod, "Normal", "Pulling", &format!("Pulling image \"{image}\""));
        }
        first = false;
        let reason = match pull(&node.docker, image).await {
            Ok(()) => continue,
            Err(reason) => reason,
        };
        let message = format!("Failed to pull image \"{image}\": {reason}");
        let backoff = format!("Back-off pulling image \"{image}\"");
        if !update_pod(node, pod, |p| {
            p["status"]["containerStatuses"] = json!([container_status(
                container,
                json!({"waiting": {"reason": "ImagePullBackOff", "message": backoff}}),
                false,
                None,
                None
            )]);
        }) {
            return None;
        }
        {
            let mut s = node.lock();
            event(&mut s, pod, "Warning", "Failed", &message);
            event(&mut s, pod, "Warning", "Failed", "Error: ErrImagePull");
            event(&mut s, pod, "Normal", "BackOff", &backoff);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|d| *d) => return None,
        }
        if !alive(node, pod) {
            return None;
        }
        wait = (wait * 2).min(PULL_BACKOFF_MAX);
    }
}

/// Pulls an image, bounded in time (the engine's own resolver fails fast without a network).
async fn pull(docker: &Docker, image: &str) -> Result<(), String> {
    let (repo, tag) = split_reference(image);
    let opts = CreateImageOptions { from_image: Some(repo), tag: Some(tag), ..Default::default() };
    let fut = async {
        let mut s = docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            if let Err(e) = item {
                return Err(engine_message(&e));
            }
        }
        Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(120), fut).await {
        Ok(r) => r,
        Err(_) => Err("pull timed out after 120s".into()),
    }
}

/// `registry:5000/repo:tag` → (`registry:5000/repo`, `tag`); a digest reference keeps its digest.
fn split_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_owned(), digest.to_owned());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (image[..last_slash + i].to_owned(), image[last_slash + i + 1..].to_owned()),
        None => (image.to_owned(), "latest".to_owned()),
    }
}

fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// The container's environment, resolved as a node does; `Err` names what is missing.
fn resolve_env(node: &Node, pod: &Json, container: &Json) -> Result<Vec<String>, String> {
    let s = node.lock();
    let (ns, name) = pod_key(pod);
    // The pod as it is now (bound, with its IP), for fieldRef.
    let current = kind("", "pods").and_then(|k| s.get(k, &ns, &name).ok()).unwrap_or_else(|| pod.clone());
    // The `kubernetes` service, as a node's environment names it: the API server on the pod
    // network's gateway, port 443.
    let api = node.shared.network.as_ref().map(|n| n.gateway.to_string()).unwrap_or_else(|| "127.0.0.1".into());
    let mut env: Vec<(String, String)> = vec![
        ("HOSTNAME".into(), name.clone()),
        ("KUBERNETES_SERVICE_HOST".into(), api.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), "443".into()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), "443".into()),
        ("KUBERNETES_PORT".into(), format!("tcp://{api}:443")),
        ("KUBERNETES_PORT_443_TCP".into(), format!("tcp://{api}:443")),
        ("KUBERNETES_PORT_443_TCP_PROTO".into(), "tcp".into()),
        ("KUBERNETES_PORT_443_TCP_PORT".into(), "443".into()),
        ("KUBERNETES_PORT_443_TCP_ADDR".into(), api),
    ];
    let data_of = |plural: &str, obj: &str| -> Option<HashMap<String, String>> {
        let k = kind("", plural)?;
        let o = s.get(k, &ns, obj).ok()?;
        let mut out = HashMap::new();
        if let Some(data) = o["data"].as_object() {
            for (key, v) in data {
                let raw = v.as_str().unwrap_or("");
                let value = if plural == "secrets" {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    raw.to_owned()
                };
                out.insert(key.clone(), value);
            }
        }
        if let Some(data) = o["stringData"].as_object() {
            for (key, v) in data {
                out.insert(key.clone(), v.as_str().unwrap_or("").to_owned());
            }
        }
        Some(out)
    };
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        for (field, plural, what) in [("secretRef", "secrets", "secret"), ("configMapRef", "configmaps", "configmap")] {
            let r = &from[field];
            let Some(obj) = r["name"].as_str() else { continue };
            match data_of(plural, obj) {
                Some(data) => {
                    let mut keys: Vec<_> = data.into_iter().collect();
                    keys.sort();
                    env.extend(keys.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
                }
                None if r["optional"] == true => {}
                None => return Err(format!("{what} \"{obj}\" not found")),
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(key) = e["name"].as_str() else { continue };
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_value(&current, path)
        } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object().or(e["valueFrom"]["configMapKeyRef"].as_object()) {
            let (plural, what) =
                if e["valueFrom"]["secretKeyRef"].is_object() { ("secrets", "secret") } else { ("configmaps", "configmap") };
            let obj = r.get("name").and_then(Json::as_str).unwrap_or("");
            let k = r.get("key").and_then(Json::as_str).unwrap_or("");
            let optional = r.get("optional").and_then(Json::as_bool).unwrap_or(false);
            match data_of(plural, obj).map(|d| d.get(k).cloned()) {
                Some(Some(v)) => v,
                _ if optional => continue,
                None => return Err(format!("{what} \"{obj}\" not found")),
                Some(None) => return Err(format!("couldn't find key {k} in {what} {ns}/{obj}")),
            }
        } else {
            String::new()
        };
        env.push((key.to_owned(), value));
    }
    // Later entries win, as in a pod spec.
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for (k, v) in env.into_iter().rev() {
        if seen.insert(k.clone()) {
            out.push(format!("{k}={v}"));
        }
    }
    out.reverse();
    Ok(out)
}

fn field_value(pod: &Json, path: &str) -> String {
    let v = match path {
        "metadata.name" => &pod["metadata"]["name"],
        "metadata.namespace" => &pod["metadata"]["namespace"],
        "metadata.uid" => &pod["metadata"]["uid"],
        "spec.nodeName" => &pod["spec"]["nodeName"],
        "spec.serviceAccountName" => &pod["spec"]["serviceAccountName"],
        "status.podIP" => &pod["status"]["podIP"],
        "status.hostIP" => &pod["status"]["hostIP"],
        p => {
            if let Some(label) = p.strip_prefix("metadata.labels['").and_then(|r| r.strip_suffix("']")) {
                &pod["metadata"]["labels"][label]
            } else if let Some(a) = p.strip_prefix("metadata.annotations['").and_then(|r| r.strip_suffix("']")) {
                &pod["metadata"]["annotations"][a]
            } else {
                &Json::Null
            }
        }
    };
    v.as_str().unwrap_or("").to_owned()
}

/// Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; Kubernetes names already fit.
fn container_name(ns: &str, name: &str, uid: &str) -> String {
    format!("localcloud-{ns}-{name}-{}", uid.get(..8).unwrap_or(uid))
}

fn container_body(pod: &Json, container: &Json, image: &str, env: Vec<String>, uid: &str) -> ContainerCreateBody {
    let strings = |v: &Json| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect::<Vec<String>>());
    let command = strings(&container["command"]);
    let mut args = strings(&container["args"]);
    // A pod's `command` replaces the image's entrypoint AND its cmd.
    if command.is_some() && args.is_none() {
        args = Some(Vec::new());
    }
    // Like the kubelet: memory in whole bytes rounded up (Value), CPU in nanocores (exact).
    let limit = |res: &str| {
        container["resources"]["limits"][res].as_str().and_then(|s| Quantity::parse_trimmed(s).ok()).filter(|q| !q.is_negative())
    };
    let (ns, name) = pod_key(pod);
    let mut labels = HashMap::new();
    labels.insert(POD_UID_LABEL.to_owned(), uid.to_owned());
    labels.insert(POD_LABEL.to_owned(), format!("{ns}/{name}"));
    labels.insert(OWNER_PID_LABEL.to_owned(), std::process::id().to_string());
    let user =
        pod["spec"]["securityContext"]["runAsUser"].as_i64().or(container["securityContext"]["runAsUser"].as_i64()).map(|u| u.to_string());
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: command,
        cmd: args,
        env: Some(env),
        working_dir: container["workingDir"].as_str().map(str::to_owned),
        user,
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            memory: limit("memory").and_then(|q| q.value().ok()),
            nano_cpus: limit("cpu").and_then(|q| q.nano_value().ok()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Puts the container on the pod network at its address, with the cluster DNS and a pod's
/// search path and hostname, and binds its mounts.
fn attach(node: &Node, body: &mut ContainerCreateBody, pod: &Json, ip: Option<std::net::IpAddr>, binds: Vec<String>) {
    let hc = body.host_config.get_or_insert_with(HostConfig::default);
    hc.binds = Some(binds);
    let (Some(net), Some(ip)) = (&node.shared.network, ip) else { return };
    let (ns, name) = pod_key(pod);
    hc.network_mode = Some(net.name.clone());
    hc.dns = Some(vec![net.gateway.to_string()]);
    hc.dns_search = Some(search_domains(&ns));
    hc.dns_options = Some(vec!["ndots:5".into()]);
    let mut endpoints = HashMap::new();
    endpoints.insert(
        net.name.clone(),
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(ip.to_string()), ..Default::default() }),
            ..Default::default()
        },
    );
    body.networking_config = Some(NetworkingConfig { endpoints_config: Some(endpoints) });
    let hostname = pod["spec"]["hostname"].as_str().unwrap_or(&name);
    body.hostname = Some(hostname.chars().take(63).collect());
}

/// Writes what the pod mounts into its folder and answers the binds: the service account's
/// credentials, then each volume the container mounts (`emptyDir`, `configMap`, `secret`). A
/// missing config map or secret is an error (the pod waits, as on a node: `FailedMount`).
fn prepare_mounts(node: &Node, pod: &Json, container: &Json) -> Result<Vec<String>, String> {
    let (ns, name) = pod_key(pod);
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    let dir = pod_dir(node, uid);
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut binds = Vec::new();
    let mounts: Vec<Json> = container["volumeMounts"].as_array().cloned().unwrap_or_default();
    let s = node.lock();
    let sa_name = pod["spec"]["serviceAccountName"].as_str().or(pod["spec"]["serviceAccount"].as_str()).unwrap_or("default");
    let sa = kind("", "serviceaccounts").and_then(|k| s.get(k, &ns, sa_name).ok());
    let automount = pod["spec"]["automountServiceAccountToken"]
        .as_bool()
        .or(sa.as_ref().and_then(|a| a["automountServiceAccountToken"].as_bool()))
        .unwrap_or(true);
    let explicit = mounts.iter().any(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(SA_MOUNT));
    if automount && !explicit {
        let sa = sa.ok_or_else(|| format!("serviceaccount \"{sa_name}\" not found in namespace {ns}"))?;
        let sa_dir = dir.join("serviceaccount");
        std::fs::create_dir_all(&sa_dir).map_err(|e| io("service account folder", e))?;
        let token = node.shared.pki.service_account_token(&ns, sa_name, sa["metadata"]["uid"].as_str().unwrap_or(""), Some((&name, uid)));
        for (file, text) in [("token", token.as_str()), ("ca.crt", node.shared.pki.ca_pem.as_str()), ("namespace", ns.as_str())] {
            std::fs::write(sa_dir.join(file), text).map_err(|e| io(file, e))?;
        }
        binds.push(format!("{}:{SA_MOUNT}:ro", sa_dir.display()));
    }
    let volumes: Vec<Json> = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
    for m in &mounts {
        let vname = m["name"].as_str().unwrap_or("");
        let Some(path) = m["mountPath"].as_str() else { continue };
        let v = volumes.iter().find(|v| v["name"] == vname).ok_or_else(|| format!("volume \"{vname}\" is mounted but not declared"))?;
        let host = dir.join("volumes").join(vname);
        let mut read_only = m["readOnly"] == true;
        if !host.exists() {
            std::fs::create_dir_all(&host).map_err(|e| io("volume folder", e))?;
            if v["emptyDir"].is_object() {
                // Any uid in the container may write, as on a node (emptyDir is 0777).
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777)).map_err(|e| io("emptyDir", e))?;
            } else if let Some((plural, obj, what)) = v["configMap"]["name"]
                .as_str()
                .map(|n| ("configmaps", n, "configmap"))
                .or(v["secret"]["secretName"].as_str().map(|n| ("secrets", n, "secret")))
            {
                let src = if plural == "configmaps" { &v["configMap"] } else { &v["secret"] };
                let data = kind("", plural).and_then(|k| s.get(k, &ns, obj).ok());
                match data {
                    Some(o) => write_keys(&host, &o, plural == "secrets", src["items"].as_array()).map_err(|e| io(what, e))?,
                    None if src["optional"] == true => {}
                    None => return Err(format!("MountVolume.SetUp failed for volume \"{vname}\" : {what} \"{obj}\" not found")),
                }
                read_only = true;
            } else {
                return Err(format!("volume \"{vname}\": only emptyDir, configMap and secret volumes are served by the local cloud"));
            }
        }
        let source = match m["subPath"].as_str().filter(|p| !p.is_empty()) {
            Some(sub) => host.join(sub),
            None => host,
        };
        binds.push(format!("{}:{path}{}", source.display(), if read_only { ":ro" } else { "" }));
    }
    Ok(binds)
}

/// The keys of a config map or secret as files (all keys, or the `items` chosen, at their paths).
fn write_keys(dir: &std::path::Path, obj: &Json, base64_values: bool, items: Option<&Vec<Json>>) -> std::io::Result<()> {
    let mut data: Vec<(String, Vec<u8>)> = Vec::new();
    for field in ["data", "binaryData", "stringData"] {
        for (k, v) in obj[field].as_object().into_iter().flatten() {
            let raw = v.as_str().unwrap_or("");
            let decoded = base64_values && field != "stringData" || field == "binaryData";
            let bytes =
                if decoded { base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default() } else { raw.as_bytes().to_vec() };
            data.push((k.clone(), bytes));
        }
    }
    let chosen: Vec<(String, String)> = match items {
        Some(items) => items.iter().filter_map(|i| Some((i["key"].as_str()?.to_owned(), i["path"].as_str()?.to_owned()))).collect(),
        None => data.iter().map(|(k, _)| (k.clone(), k.clone())).collect(),
    };
    for (key, path) in chosen {
        // A path may not leave the volume.
        if path.split('/').any(|p| p == "..") || path.starts_with('/') {
            continue;
        }
        if let Some((_, bytes)) = data.iter().find(|(k, _)| *k == key) {
            let file = dir.join(&path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, bytes)?;
        }
    }
    Ok(())
}

/// How often a running container's usage is sampled for the metrics API (metrics-server scrapes
/// every 15 s by default; shorter here so short jobs have samples).
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples the container's CPU and memory through the engine's stats into the store, until
/// aborted (when the container stops). Each sample is bounded in time.
async fn sample_usage(docker: Docker, store: Arc<Mutex<Store>>, id: String, key: (String, String), container: String) {
    let opts = bollard::query_parameters::StatsOptions { stream: false, one_shot: false };
    loop {
        let started = tokio::time::Instant::now();
        let next = tokio::time::timeout(Duration::from_secs(10), docker.stats(&id, Some(opts.clone())).next()).await;
        if let Ok(Some(Ok(stats))) = next {
            if let Some((nanocores, bytes)) = super::metrics::usage_from_stats(&stats) {
                let sample = super::metrics::PodSample {
                    timestamp: now_rfc3339(),
                    // The engine averages CPU over about a second between its two readings.
                    window_secs: started.elapsed().as_secs_f64().max(1.0),
                    containers: vec![super::metrics::ContainerUsage { name: container.clone(), nanocores, bytes }],
                };
                let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
                // A pod deleted meanwhile gets no sample back.
                if kind("", "pods").is_some_and(|k| s.get(k, &key.0, &key.1).is_ok()) {
                    s.metrics.insert(key.clone(), sample);
                }
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Follows the container's output into the pod log until the container stops.
async fn stream_logs(node: &Node, id: &str, key: (String, String)) {
    let opts = LogsOptions { follow: true, stdout: true, stderr: true, ..Default::default() };
    let mut stream = node.docker.logs(id, Some(opts));
    let mut partial = String::new();
    let push = |lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        let mut s = node.lock();
        let log = s.logs.entry(key.clone()).or_default();
        for l in lines {
            if log.len() < MAX_LOG_LINES {
                log.push(l);
            } else if log.len() == MAX_LOG_LINES {
                log.push(format!("localcloud: log truncated after {MAX_LOG_LINES} lines"));
            }
        }
    };
    while let Some(item) = stream.next().await {
        let Ok(out) = item else { break };
        partial.push_str(&String::from_utf8_lossy(&out.into_bytes()));
        let mut lines = Vec::new();
        while let Some(i) = partial.find('\n') {
            let line: String = partial.drain(..=i).collect();
            lines.push(line.trim_end_matches(['\n', '\r']).to_owned());
        }
        push(lines);
    }
    if !partial.is_empty() {
        push(vec![partial]);
    }
}

/// Writes the container's end into the pod status.
async fn finish(node: &Node, pod: &Json, container: &Json, id: &str, image_id: &str, started_at: &str) {
    // The log stream can end a moment before the engine records the exit; look a few times.
    let mut state = None;
    for _ in 0..50 {
        match node.docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(c) => {
                let st = c.state.unwrap_or_default();
                if st.running != Some(true) {
                    state = Some(st);
                    break;
                }
            }
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(st) = state else { return };
    let code = st.exit_code.unwrap_or(-1);
    let oom = st.oom_killed == Some(true);
    let reason = if oom {
        "OOMKilled"
    } else if code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let finished_at = now_rfc3339();
    let (ns, name) = pod_key(pod);
    let message = if code != 0 && container["terminationMessagePolicy"] == "FallbackToLogsOnError" {
        let s = node.lock();
        let lines = s.logs.get(&(ns, name)).cloned().unwrap_or_default();
        Some(log_tail(&lines))
    } else {
        None
    };
    let mut term = json!({"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at,
                          "containerID": format!("docker://{id}")});
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        term["message"] = json!(m);
    }
    let failed = code != 0;
    let ns = pod_key(pod).0;
    update_pod(node, pod, |p| {
        p["status"]["phase"] = json!(if failed { "Failed" } else { "Succeeded" });
        p["status"]["containerStatuses"] =
            json!([container_status(container, json!({"terminated": term}), false, Some(id), Some(image_id))]);
        mark_completed(p);
    });
    let mut s = node.lock();
    s.refresh_quotas(&ns);
}

/// The last 80 lines or 2048 bytes of the log, whichever is smaller.
fn log_tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(TERMINATION_LINES);
    let text = lines[start..].join("\n");
    if text.len() <= TERMINATION_BYTES {
        return text;
    }
    let mut cut = text.len() - TERMINATION_BYTES;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text[cut..].to_owned()
}

fn fail_before_start(node: &Node, pod: &Json, container: &Json, reason: &str, message: &str) {
    update_pod(node, pod, |p| {
        p["status"]["containerStatuses"] =
            json!([container_status(container, json!({"waiting": {"reason": reason, "message": message}}), false, None, None)]);
    });
    let mut s = node.lock();
    event(&mut s, pod, "Warning", "Failed", &format!("Error: {message}"));
}

async fn remove_container(docker: &Docker, name: &str) {
    let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    let _ = docker.remove_container(name, Some(opts)).await;
}

async fn containers_with_label(docker: &Docker, label: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut filters = HashMap::new();
    filters.insert("label".to_owned(), vec![label.to_owned()]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    docker
        .list_containers(Some(opts))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default())))
        .collect()
}

/// Names of the containers (running or not) that the local cloud with process id `pid` started:
/// for tests that check nothing is left behind. Uses the `docker` CLI; an error when it cannot
/// run or fails, so that a broken probe never reads as "no container left".
pub fn containers_started_by(pid: u32) -> std::io::Result<Vec<String>> {
    crate::network::docker_cli_lines(&["ps", "-a", "--format", "{{.Names}}", "--filter", &format!("label={OWNER_PID_LABEL}={pid}")])
}

/// Containers started by this process.
async fn remove_own(docker: &Docker) {
    for (id, _) in containers_with_label(docker, &format!("{OWNER_PID_LABEL}={}", std::process::id())).await {
        remove_container(docker, &id).await;
    }
}

/// Containers whose local cloud no longer runs (it was killed before it could clean up).
async fn remove_orphans(docker: &Docker) {
    for (id, labels) in containers_with_label(docker, OWNER_PID_LABEL).await {
        let owner = labels.get(OWNER_PID_LABEL).cloned().unwrap_or_default();
        let alive = owner.parse::<u32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            remove_container(docker, &id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_limits_are_exact_and_round_up_like_the_kubelet() {
        let limits = |cpu: &str, memory: &str| {
            let pod = json!({"metadata": {"namespace": "n", "name": "p"}});
            let c = json!({"name": "c", "resources": {"limits": {"cpu": cpu, "memory": memory}}});
            let h = container_body(&pod, &c, "i", Vec::new(), "u").host_config.expect("host config");
            (h.nano_cpus, h.memory)
        };
        assert_eq!(limits("0.3", "512Mi"), (Some(300_000_000), Some(512 << 20)));
        // Through a float, 1.001 × 1e9 truncated to 1000999999 nanocores.
        assert_eq!(limits("1.001", "1Ei"), (Some(1_001_000_000), Some(1 << 60)));
        assert_eq!(limits("250m", "1.5"), (Some(250_000_000), Some(2)), "a fraction of a byte rounds up, as Value() does");
        assert_eq!(limits("-1", "lots"), (None, None), "not limits the API server would take");
    }

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(split_reference("127.0.0.1:5000/sparkoss/spark:3.5.3"), ("127.0.0.1:5000/sparkoss/spark".into(), "3.5.3".into()));
        assert_eq!(split_reference("127.0.0.1:5000/sparkoss/spark"), ("127.0.0.1:5000/sparkoss/spark".into(), "latest".into()));
        assert_eq!(split_reference("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(split_reference("r/x@sha256:ab"), ("r/x".into(), "sha256:ab".into()));
    }

    #[test]
    fn termination_message_is_the_smaller_of_80_lines_and_2048_bytes() {
        let short: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
        let t = log_tail(&short);
        assert!(t.starts_with("l20\n") && t.ends_with("l99"), "{t}");
        let long: Vec<String> = (0..100).map(|i| format!("{i:03}{}", "x".repeat(60))).collect();
        let t = log_tail(&long);
        assert_eq!(t.len(), 2048);
        assert!(t.ends_with(&long[99]));
    }

    #[test]
    fn field_refs_read_the_pod() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "labels": {"a": "b"}}, "status": {"podIP": "127.0.0.1"}});
        assert_eq!(field_value(&pod, "status.podIP"), "127.0.0.1");
        assert_eq!(field_value(&pod, "metadata.labels['a']"), "b");
        assert_eq!(field_value(&pod, "metadata.namespace"), "n");
        assert_eq!(field_value(&pod, "spec.unknown"), "");
    }
}
