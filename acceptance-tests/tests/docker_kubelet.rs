//! The local cloud's Docker kubelet (`localcloud --kubelet docker`) against the real Docker
//! Engine: pods run as containers with their command, args, environment (values, fieldRef,
//! secretKeyRef, envFrom) and limits; output becomes the pod log (`kubectl logs` reads it); exit
//! codes and `FallbackToLogsOnError` messages land in the pod status; a missing image is
//! `ImagePullBackOff`, a missing secret `CreateContainerConfigError`, a pod too big for the node
//! `Unschedulable`; a pod deleted while running loses its container; nothing is left at stop.
//!
//! The image is a one-file busybox root filesystem imported on the engine (nothing is pulled).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{busybox_image, fixtures, KubeconfigFile, LocalCloudProcess};
use sparkoss_localcloud::kube::docker_kubelet::containers_started_by;
use sparkoss_testkit::kube_client::request;

const IMAGE: &str = "sparkoss-test/busybox:kubelet";

/// A busybox image with the applets this test runs.
fn ensure_busybox_image() {
    busybox_image(IMAGE, &["sh", "echo", "sleep", "cat", "env", "true"]);
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
    let kc = KubeconfigFile::new(&ep).expect("admin kubeconfig");
    let out = fixtures::kubectl(&kc.path, &["logs", "-n", ns, "-l", "app=kubelet-test"], None).expect("kubectl runs");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kubectl logs: {}", String::from_utf8_lossy(&out.stderr));
    // The pod's own address on the pod network, as the downward API and the status say.
    let ip = p["status"]["podIP"].as_str().expect("podIP");
    assert!(ip.starts_with("172.30.") && ip != p["status"]["hostIP"], "a pod IP of its own: {p}");
    assert!(
        log.contains(&format!("user=alice token=s3cr3t greeting=hello pod=env-and-fail ns=kubelet ip={ip}")),
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
    let running = containers_started_by(lc.pid()).expect("docker ps runs");
    assert!(running.iter().any(|c| c.contains("sleeper")), "{running:?}");
    assert_eq!(api(&ep, "DELETE", &format!("/api/v1/namespaces/{ns}/pods/sleeper"), None).0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while containers_started_by(lc.pid()).expect("docker ps runs").iter().any(|c| c.contains("sleeper")) {
        assert!(
            Instant::now() < deadline,
            "the deleted pod's container is still there: {:?}",
            containers_started_by(lc.pid()).expect("docker ps runs")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Finished pods keep no container; a stop leaves none at all.
    let left = containers_started_by(lc.pid()).expect("docker ps runs");
    assert!(!left.iter().any(|c| c.contains("env-and-fail") || c.contains("-ok-")), "{left:?}");
    create_pod(
        &ep,
        ns,
        json!({"metadata": {"name": "left-running"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": IMAGE, "command": ["sleep", "300"]}]}}),
    );
    wait_pod(&ep, ns, "left-running", Duration::from_secs(60), |p| phase(p) == "Running");
    let pid = lc.pid();
    assert!(lc.stop(), "the local cloud stops on SIGTERM");
    let left = containers_started_by(pid).expect("docker ps runs");
    assert!(left.is_empty(), "containers left after stop: {left:?}");
}

const NET_IMAGE: &str = "sparkoss-test/busybox:net";

/// `kubectl` against the local cloud's HTTPS API as the holder of `token`: the token goes into a
/// kubeconfig file (with the cluster's CA), never into kubectl's arguments.
fn kubectl_as(server: &str, token: &str, args: &[&str]) -> std::process::Output {
    let kc = KubeconfigFile::with_token(server, token).expect("kubeconfig with the token");
    fixtures::kubectl(&kc.path, args, None).expect("kubectl runs")
}

#[test]
fn pods_get_their_own_ips_cluster_dns_and_in_cluster_api_access() {
    busybox_image(NET_IMAGE, &["sh", "echo", "sleep", "cat", "nc", "nslookup", "hostname", "test", "ls", "printf", "head", "sed"]);
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let pid = lc.pid();
    let networks = sparkoss_localcloud::network::networks_created_by(pid).expect("docker network ls runs");
    assert_eq!(networks.len(), 1, "one pod network of its own: {networks:?}");

    // Two servers on the same port in two namespaces, each behind a headless service.
    for ns in ["net-a", "net-b"] {
        assert_eq!(api(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": ns}}))).0, 201);
        create_pod(
            &ep,
            ns,
            json!({"metadata": {"name": "server", "labels": {"app": "server"}}, "spec": {"restartPolicy": "Never", "containers": [{
                "name": "main", "image": NET_IMAGE, "command": ["sh", "-c", "while true; do echo \"hello from $(hostname) in $NS\" | nc -l -p 7078; done"],
                "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]}]}}),
        );
        let svc = json!({"metadata": {"name": "server"}, "spec": {"clusterIP": "None", "selector": {"app": "server"}, "ports": [{"port": 7078}]}});
        assert_eq!(api(&ep, "POST", &format!("/api/v1/namespaces/{ns}/services"), Some(&svc)).0, 201);
    }
    let a = wait_pod(&ep, "net-a", "server", Duration::from_secs(60), |p| phase(p) == "Running");
    let b = wait_pod(&ep, "net-b", "server", Duration::from_secs(60), |p| phase(p) == "Running");
    let (ip_a, ip_b) = (a["status"]["podIP"].as_str().unwrap_or(""), b["status"]["podIP"].as_str().unwrap_or(""));
    assert!(ip_a.starts_with("172.30.") && ip_b.starts_with("172.30.") && ip_a != ip_b, "own IPs: {ip_a} {ip_b}");
    let gateway = a["status"]["hostIP"].as_str().unwrap_or("").to_owned();

    // The metrics API, as metrics-server serves it: `kubectl top` shows the running servers'
    // real usage, sampled from the engine (bounded wait for the first sample).
    let admin = KubeconfigFile::new(&ep).expect("admin kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(30);
    let top = loop {
        let out = fixtures::kubectl(&admin.path, &["top", "pods", "-n", "net-a", "--no-headers"], None).expect("kubectl top");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("server") {
            break text;
        }
        assert!(Instant::now() < deadline, "kubectl top pods: {}{}", text, String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(500));
    };
    let cols: Vec<&str> = top.split_whitespace().collect();
    assert_eq!(cols.first(), Some(&"server"), "{top}");
    let mem = cols.get(2).and_then(|m| m.strip_suffix("Mi")).and_then(|m| m.parse::<u64>().ok()).expect("memory in Mi");
    assert!(cols.get(1).is_some_and(|c| c.ends_with('m')) && mem > 0, "real usage: {top}");
    let (code, node) = api(&ep, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", None);
    assert_eq!(code, 200, "{node}");
    assert_eq!(node["items"][0]["metadata"]["name"], "localcloud-node", "{node}");

    // A client in net-a: the cluster DNS, both servers by service name, its service account's
    // files, the API's address, and the local OSS at the endpoint the local cloud hands out.
    let oss = lc.endpoints.oss_endpoint.trim_start_matches("http://").to_owned();
    let (oss_host, oss_port) = oss.split_once(':').expect("host:port");
    assert_eq!(oss_host, gateway, "the OSS endpoint is on the pod network's gateway");
    let script = "nslookup kubernetes.default.svc.cluster.local; \
        for svc in server server.net-b.svc.cluster.local; do r=''; for i in 1 2 3 4 5 6 7 8 9 10; do r=$(nc -w 2 $svc 7078 </dev/null) && [ -n \"$r\" ] && break; sleep 1; done; echo \"$svc says: $r\"; done; \
        d=/var/run/secrets/kubernetes.io/serviceaccount; echo \"ns=$(cat $d/namespace)\"; echo \"token=$(cat $d/token)\"; \
        test -s $d/ca.crt && echo ca=present; \
        o=''; for i in 1 2 3 4 5; do o=$( (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 $OSS_HOST $OSS_PORT | head -n 1) && [ -n \"$o\" ] && break; sleep 1; done; \
        echo \"oss answered: $o\"; echo \"api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT\"";
    create_pod(
        &ep,
        "net-a",
        json!({"metadata": {"name": "client"}, "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": NET_IMAGE, "command": ["sh", "-c", script],
            "env": [{"name": "OSS_HOST", "value": oss_host}, {"name": "OSS_PORT", "value": oss_port}]}]}}),
    );
    wait_pod(&ep, "net-a", "client", Duration::from_secs(90), |p| matches!(phase(p), "Succeeded" | "Failed"));
    let log = api_text(&ep, "/api/v1/namespaces/net-a/pods/client/log");
    assert!(log.contains("server says: hello from server in net-a"), "the headless service resolves to its pod:\n{log}");
    assert!(log.contains("server.net-b.svc.cluster.local says: hello from server in net-b"), "and across namespaces:\n{log}");
    assert!(log.contains(&gateway), "kubernetes.default.svc resolves to the API server's address {gateway}:\n{log}");
    assert!(log.contains(&format!("api={gateway}:443")), "{log}");
    assert!(log.contains("ns=net-a") && log.contains("ca=present"), "{log}");
    assert!(log.contains("oss answered: HTTP/1.0 403"), "the local OSS answers pods:\n{log}");
    let token = log.lines().find_map(|l| l.strip_prefix("token=")).filter(|t| t.len() > 20).expect("a mounted token").to_owned();

    // The token authenticates as the pod's service account, and RBAC decides what it may do:
    // nothing at first (Kubernetes' 403), then what Spark's documented set-up grants.
    let denied = kubectl_as(&ep, &token, &["get", "pods", "-n", "net-a"]);
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(!denied.status.success(), "no right yet");
    assert!(
        err.contains("pods is forbidden: User \"system:serviceaccount:net-a:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"net-a\""),
        "{err}"
    );
    let grant = fixtures::kubectl(
        &admin.path,
        &["create", "rolebinding", "spark-edit", "--clusterrole=edit", "--serviceaccount=net-a:default", "-n", "net-a"],
        None,
    )
    .expect("kubectl runs");
    assert!(grant.status.success(), "{}", String::from_utf8_lossy(&grant.stderr));
    let allowed = kubectl_as(&ep, &token, &["get", "pods", "-n", "net-a", "-o", "name"]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("pod/client"));
    let other_ns = kubectl_as(&ep, &token, &["get", "pods", "-n", "net-b"]);
    assert!(!other_ns.status.success(), "a RoleBinding grants one namespace only");
    let forged = kubectl_as(&ep, &format!("{token}x"), &["get", "pods", "-n", "net-a"]);
    assert!(String::from_utf8_lossy(&forged.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&forged.stderr));
    // The token is bound to its pod: deleting the pod ends it.
    assert_eq!(api(&ep, "DELETE", "/api/v1/namespaces/net-a/pods/client", None).0, 200);
    let after = kubectl_as(&ep, &token, &["get", "pods", "-n", "net-a"]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&after.stderr));

    // automountServiceAccountToken: false mounts nothing.
    create_pod(
        &ep,
        "net-a",
        json!({"metadata": {"name": "no-token"}, "spec": {"restartPolicy": "Never", "automountServiceAccountToken": false, "containers": [{
            "name": "main", "image": NET_IMAGE, "command": ["sh", "-c", "test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo mounted || echo absent"]}]}}),
    );
    wait_pod(&ep, "net-a", "no-token", Duration::from_secs(60), |p| phase(p) == "Succeeded");
    assert_eq!(api_text(&ep, "/api/v1/namespaces/net-a/pods/no-token/log").trim(), "absent");

    assert!(lc.stop(), "exits 0 on SIGTERM");
    assert_eq!(containers_started_by(pid).expect("docker ps runs"), Vec::<String>::new(), "no container left");
    let left = sparkoss_localcloud::network::networks_created_by(pid).expect("docker network ls runs");
    assert!(left.is_empty(), "the pod network is removed at stop: {left:?}");
}

/// A plain-text answer (pod logs) over the loopback listener.
fn api_text(ep: &str, path: &str) -> String {
    let out = Command::new("kubectl")
        .args(["--server", &ep.replace("https://", "http://"), "get", "--raw", path])
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "GET {path}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
