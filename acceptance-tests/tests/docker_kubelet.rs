//! The local cloud's Docker kubelet (`localcloud --kubelet docker`) against the real Docker
//! Engine: pods run as containers with their command, args, environment (values, fieldRef,
//! secretKeyRef, envFrom) and limits; output becomes the pod log (`kubectl logs` reads it); exit
//! codes and `FallbackToLogsOnError` messages land in the pod status; a missing image is
//! `ImagePullBackOff`, a missing secret `CreateContainerConfigError`, a pod too big for the node
//! `Unschedulable`; a pod deleted while running loses its container; nothing is left at stop.
//!
//! The image is a one-file busybox root filesystem imported on the engine (nothing is pulled).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkoss_acceptance_tests::LocalCloudProcess;
use sparkoss_localcloud::kube::docker_kubelet::containers_started_by;
use sparkoss_localcloud::kube::{kubeconfig_for, request};

const IMAGE: &str = "sparkoss-test/busybox:kubelet";

/// Imports `/bin/busybox` (Debian's busybox-static) as a one-layer image, once.
fn ensure_busybox_image() {
    let exists = Command::new("docker").args(["image", "inspect", IMAGE]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if exists.is_ok_and(|s| s.success()) {
        return;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox-static)");
    let mut h = tar::Header::new_gnu();
    h.set_size(busybox.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(1_704_067_200);
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice()).expect("tar busybox");
    for applet in ["sh", "echo", "sleep", "cat", "env", "true"] {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        l.set_mode(0o777);
        l.set_mtime(1_704_067_200);
        tar.append_link(&mut l, format!("bin/{applet}"), "busybox").expect("tar link");
    }
    let bytes = tar.into_inner().expect("tar");
    let mut child = Command::new("docker")
        .args(["import", "--change", "ENV PATH=/bin", "-", IMAGE])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker import");
    child.stdin.take().expect("stdin").write_all(&bytes).expect("write tar");
    let out = child.wait_with_output().expect("docker import ends");
    assert!(out.status.success(), "docker import: {}", String::from_utf8_lossy(&out.stderr));
}

fn api(ep: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    request(ep, method, path, body).expect("kube API answers")
}

fn create_pod(ep: &str, ns: &str, pod: Value) {
    let (code, body) = api(ep, "POST", &format!("/api/v1/namespaces/{ns}/pods"), Some(&pod));
    assert_eq!(code, 201, "{body}");
}

fn pod(ep: &str, ns: &str, name: &str) -> Value {
    api(ep, "GET", &format!("/api/v1/namespaces/{ns}/pods/{name}"), None).1
}

/// Polls (bounded) until `done` holds for the pod; returns it.
fn wait_pod(ep: &str, ns: &str, name: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let p = pod(ep, ns, name);
        if done(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "pod {ns}/{name} did not get there within {limit:?}: {p}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

#[test]
fn pods_run_as_docker_containers() {
    ensure_busybox_image();
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let ns = "kubelet";
    let (code, body) = api(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": ns}})));
    assert_eq!(code, 201, "{body}");
    let secret = json!({"metadata": {"name": "creds"}, "type": "Opaque",
        "data": {"TOKEN": "czNjcjN0", "USER": "YWxpY2U="}}); // s3cr3t, alice
    assert_eq!(api(&ep, "POST", &format!("/api/v1/namespaces/{ns}/secrets"), Some(&secret)).0, 201);

    // 1. A pod that prints its environment and fails with code 3.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "env-and-fail", "labels": {"app": "kubelet-test"}},
        "spec": {"restartPolicy": "Never", "containers": [{
          "name": "main", "image": IMAGE,
          "command": ["sh", "-c"],
          "args": ["echo \"user=$USER token=$TOKEN greeting=$GREETING pod=$POD_NAME ns=$POD_NS ip=$POD_IP\"; echo second line; exit 3"],
          "env": [
            {"name": "GREETING", "value": "hello"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}}
          ],
          "envFrom": [{"secretRef": {"name": "creds"}}],
          "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "32Mi"}},
          "terminationMessagePolicy": "FallbackToLogsOnError"
        }]}}),
    );
    let p = wait_pod(&ep, ns, "env-and-fail", Duration::from_secs(60), |p| phase(p) == "Failed");
    let term = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["exitCode"], 3, "{p}");
    assert_eq!(term["reason"], "Error", "{p}");
    let msg = term["message"].as_str().unwrap_or_default();
    assert!(msg.ends_with("second line"), "termination message is the log tail: {msg:?}");
    assert!(p["status"]["containerStatuses"][0]["containerID"].as_str().is_some_and(|c| c.starts_with("docker://")), "{p}");

    // The log, through the API and through kubectl with a label selector.
    let kc_dir = tempfile::tempdir().expect("tempdir");
    let kc = kc_dir.path().join("kubeconfig");
    std::fs::write(&kc, kubeconfig_for(&ep)).expect("kubeconfig");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["logs", "-n", ns, "-l", "app=kubelet-test"])
        .output()
        .expect("kubectl runs");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kubectl logs: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        log.contains("user=alice token=s3cr3t greeting=hello pod=env-and-fail ns=kubelet ip=127.0.0.1"),
        "environment resolved as on a node:\n{log}"
    );
    assert!(log.contains("second line"), "{log}");

    // 2. A pod that succeeds, with the image's entrypoint replaced by `command` only.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "ok"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["echo", "done"]}]}}),
    );
    let p = wait_pod(&ep, ns, "ok", Duration::from_secs(60), |p| phase(p) == "Succeeded");
    assert_eq!(p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed", "{p}");

    // 3. An image no registry has: ImagePullBackOff, with the pull's events.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "no-image"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "127.0.0.1:9/none/such:1"}]}}),
    );
    let p = wait_pod(&ep, ns, "no-image", Duration::from_secs(60), |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    });
    assert_eq!(phase(&p), "Pending", "{p}");
    let (_, events) = api(&ep, "GET", &format!("/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3Dno-image"), None);
    let reasons: Vec<&str> = events["items"].as_array().into_iter().flatten().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"Failed") && reasons.contains(&"BackOff"), "pull events: {reasons:?}");

    // 4. A missing secret: CreateContainerConfigError, no container.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "no-secret"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["true"], "envFrom": [{"secretRef": {"name": "absent"}}]}]}}),
    );
    let p = wait_pod(&ep, ns, "no-secret", Duration::from_secs(30), |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    });
    assert!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("secret \"absent\" not found")),
        "{p}"
    );

    // 5. More CPU than the node has: Unschedulable with the scheduler's message.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "too-big"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["true"], "resources": {"requests": {"cpu": "4096"}}}]}}),
    );
    let p = wait_pod(&ep, ns, "too-big", Duration::from_secs(30), |p| {
        p["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["reason"] == "Unschedulable"))
    });
    let cond = &p["status"]["conditions"][0];
    assert!(cond["message"].as_str().is_some_and(|m| m.contains("Insufficient cpu")), "{p}");

    // 6. A running pod deleted: its container goes.
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "sleeper"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["sleep", "300"]}]}}),
    );
    wait_pod(&ep, ns, "sleeper", Duration::from_secs(60), |p| phase(p) == "Running");
    assert!(containers_started_by(lc.pid()).iter().any(|c| c.contains("sleeper")), "{:?}", containers_started_by(lc.pid()));
    assert_eq!(api(&ep, "DELETE", &format!("/api/v1/namespaces/{ns}/pods/sleeper"), None).0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while containers_started_by(lc.pid()).iter().any(|c| c.contains("sleeper")) {
        assert!(Instant::now() < deadline, "the deleted pod's container is still there: {:?}", containers_started_by(lc.pid()));
        std::thread::sleep(Duration::from_millis(200));
    }

    // Finished pods keep no container; a stop leaves none at all.
    assert!(
        !containers_started_by(lc.pid()).iter().any(|c| c.contains("env-and-fail") || c.contains("-ok-")),
        "{:?}",
        containers_started_by(lc.pid())
    );
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "left-running"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["sleep", "300"]}]}}),
    );
    wait_pod(&ep, ns, "left-running", Duration::from_secs(60), |p| phase(p) == "Running");
    let pid = lc.pid();
    assert!(lc.stop(), "the local cloud stops on SIGTERM");
    assert!(containers_started_by(pid).is_empty(), "containers left after stop: {:?}", containers_started_by(pid));
}
