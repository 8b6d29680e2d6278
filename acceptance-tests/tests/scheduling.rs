//! The local cloud schedules as Kubernetes does, with real pods (Docker kubelet), real
//! Terraform and kubectl: a `sparkoss_cluster` with a regular pool, a tainted spot pool and
//! `virtual_nodes = true` gets one Node per pool node plus the virtual node; a pod that selects
//! `type=virtual-kubelet` and tolerates its taint runs there (`kubectl get pods -o wide` shows
//! the node), pods without tolerations run on the regular pool and never on the virtual node, a
//! pod tolerating the spot taint and selecting its pool runs on it, and a pod selecting a label
//! no node has stays `Pending` with kube-scheduler's message and a `FailedScheduling` event.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use sparkoss_acceptance_tests::{busybox_image, fixtures, provider_bin, LocalCloudProcess, Terraform, Workdir};

const IMAGE: &str = "sparkoss-test/busybox:scheduling";
const VIRTUAL_NODE: &str = "virtual-kubelet-cn-local-a";

fn main_tf(ack: &str) -> String {
    let body = r#"  virtual_nodes = true

  worker_pool {
    name           = "system"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = 1
    max_size       = 2
  }

  worker_pool {
    name           = "spot"
    instance_types = ["ecs.c7.large"]
    min_size       = 1
    max_size       = 3
    spot_strategy  = "SpotAsPriceGo"

    taints {
      key    = "workload"
      value  = "spot"
      effect = "NoSchedule"
    }
  }
"#;
    fixtures::cluster_config(ack, "sched", body)
}

fn kubectl_json(kubeconfig: &std::path::Path, args: &[&str]) -> Json {
    let out = fixtures::kubectl(kubeconfig, args, None).expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

fn kubectl_text(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let out = fixtures::kubectl(kubeconfig, args, None).expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pod that prints and sleeps, with `spec` merged in.
fn pod(name: &str, spec: Json) -> Json {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "sched"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", "echo placed; sleep 60"], "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}});
    for (k, v) in spec.as_object().into_iter().flatten() {
        p["spec"][k] = v.clone();
    }
    p
}

#[test]
fn pods_land_where_their_selectors_and_tolerations_allow() {
    busybox_image(IMAGE, &["sh", "echo", "sleep"]);
    let lc = LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "1s"]).expect("localcloud starts");
    // One Terraform is enough here (cluster_lifecycle runs the pool attributes on both).
    let tf = Terraform::all().expect("terraform").remove(0);
    let mut wd = Workdir::new(&tf, &provider_bin().expect("provider builds"), &main_tf(&lc.endpoints.ack_endpoint)).expect("workdir");
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", &lc.endpoints.access_key_id);
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &lc.endpoints.access_key_secret);
    wd.set_env("SPARKOSS_POLL_SCALE", "0.02");
    let out = wd.apply(&[]).expect("apply runs");
    assert!(out.success, "apply: {}\n{}", out.stdout, out.stderr);
    let state = wd.state_resources();
    let cluster = &state.iter().find(|r| r["type"] == "sparkoss_cluster").expect("cluster in state")["instances"][0]["attributes"];
    assert_eq!(cluster["virtual_nodes"], true, "{cluster}");
    let spot_pool = cluster["worker_pool"][1]["id"].as_str().expect("spot pool id").to_owned();
    let kubeconfig = wd.file("kubeconfig.yaml");
    std::fs::write(&kubeconfig, cluster["kubeconfig"].as_str().expect("kubeconfig")).expect("writes kubeconfig");

    // The nodes: one per pool node, and the virtual node (bounded wait: they appear with the
    // cluster, which the apply already saw running).
    let deadline = Instant::now() + Duration::from_secs(20);
    let nodes = loop {
        let n = kubectl_json(&kubeconfig, &["get", "nodes", "-o", "json"]);
        if n["items"].as_array().is_some_and(|i| i.len() == 3) {
            break n;
        }
        assert!(Instant::now() < deadline, "three nodes expected: {n}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let by_name = |name: &str| nodes["items"].as_array().and_then(|i| i.iter().find(|n| n["metadata"]["name"] == name)).cloned();
    let vk = by_name(VIRTUAL_NODE).expect("the virtual node");
    assert_eq!(vk["metadata"]["labels"]["type"], "virtual-kubelet");
    assert_eq!(vk["spec"]["taints"], json!([{"key": "virtual-kubelet.io/provider", "value": "alibabacloud", "effect": "NoSchedule"}]));
    let spot = nodes["items"]
        .as_array()
        .and_then(|i| i.iter().find(|n| n["metadata"]["labels"]["alibabacloud.com/nodepool-id"] == spot_pool.as_str()))
        .cloned()
        .expect("a node of the spot pool");
    assert_eq!(spot["spec"]["taints"], json!([{"key": "workload", "value": "spot", "effect": "NoSchedule"}]));
    assert_eq!(spot["metadata"]["labels"]["node.kubernetes.io/instance-type"], "ecs.c7.large");
    assert_eq!(spot["status"]["allocatable"]["cpu"], "2");
    let system = nodes["items"]
        .as_array()
        .and_then(|i| i.iter().find(|n| n["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "ecs.g7.xlarge"))
        .cloned()
        .expect("a node of the system pool");
    let system_name = system["metadata"]["name"].as_str().expect("name").to_owned();
    assert_eq!(system["status"]["allocatable"]["memory"], "16Gi");
    let wide = kubectl_text(&kubeconfig, &["get", "nodes", "-o", "wide"]);
    assert!(wide.contains("INTERNAL-IP") && wide.contains(VIRTUAL_NODE) && wide.contains(&system_name), "{wide}");

    // Pods: on the virtual node, on the spot pool, on the regular pool, and nowhere.
    let vk_toleration = json!([{"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}]);
    let mut pods = vec![
        pod("eci", json!({"nodeSelector": {"type": "virtual-kubelet"}, "tolerations": vk_toleration})),
        pod(
            "spot",
            json!({"nodeSelector": {"alibabacloud.com/nodepool-id": spot_pool},
                   "tolerations": [{"key": "workload", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]}),
        ),
        pod("greedy", json!({"nodeSelector": {"type": "virtual-kubelet"}})),
        pod("nowhere", json!({"nodeSelector": {"disk": "nvme"}})),
    ];
    for i in 0..3 {
        pods.push(pod(&format!("plain-{i}"), json!({})));
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sched"}});
    for obj in std::iter::once(&ns).chain(pods.iter()) {
        let out = fixtures::kubectl(&kubeconfig, &["apply", "-f", "-"], Some(obj.to_string().as_bytes())).expect("kubectl runs");
        assert!(out.status.success(), "kubectl apply {}: {}", obj["metadata"]["name"], String::from_utf8_lossy(&out.stderr));
    }

    let running = ["eci", "spot", "plain-0", "plain-1", "plain-2"];
    let deadline = Instant::now() + Duration::from_secs(60);
    let all = loop {
        let all = kubectl_json(&kubeconfig, &["get", "pods", "-n", "sched", "-o", "json"]);
        let phase = |n: &str| {
            all["items"].as_array().and_then(|i| i.iter().find(|p| p["metadata"]["name"] == n)).map(|p| p["status"]["phase"].clone())
        };
        if running.iter().all(|n| phase(n) == Some(json!("Running"))) {
            break all;
        }
        assert!(Instant::now() < deadline, "pods did not all run: {all}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let get = |n: &str| all["items"].as_array().and_then(|i| i.iter().find(|p| p["metadata"]["name"] == n)).cloned().expect(n);
    assert_eq!(get("eci")["spec"]["nodeName"], VIRTUAL_NODE);
    assert_eq!(get("spot")["spec"]["nodeName"], spot["metadata"]["name"]);
    for i in 0..3 {
        assert_eq!(get(&format!("plain-{i}"))["spec"]["nodeName"], system_name.as_str(), "untolerating pods run on the regular pool");
    }
    // What kubectl shows: the NODE column of -o wide.
    let wide = kubectl_text(&kubeconfig, &["get", "pods", "-n", "sched", "-o", "wide", "--no-headers"]);
    let node_of = |pod: &str| {
        wide.lines()
            .find(|l| l.split_whitespace().next() == Some(pod))
            .and_then(|l| l.split_whitespace().nth(6).map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(node_of("eci"), VIRTUAL_NODE, "{wide}");
    assert_eq!(node_of("plain-0"), system_name, "{wide}");
    assert_eq!(node_of("nowhere"), "<none>", "{wide}");

    // The pods that fit nowhere: Pending with the scheduler's reason, and its event.
    let expected = "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint(s). \
                    no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    for name in ["nowhere", "greedy"] {
        let p = get(name);
        assert_eq!(p["status"]["phase"], "Pending", "{p}");
        assert!(p["spec"]["nodeName"].is_null(), "{name} is never bound: {p}");
        let cond = &p["status"]["conditions"][0];
        assert_eq!(
            (cond["type"].as_str(), cond["status"].as_str(), cond["reason"].as_str()),
            (Some("PodScheduled"), Some("False"), Some("Unschedulable"))
        );
        assert_eq!(cond["message"], expected, "{name}");
    }
    let events =
        kubectl_json(&kubeconfig, &["get", "events", "-n", "sched", "--field-selector", "involvedObject.name=nowhere", "-o", "json"]);
    let failed: Vec<&Json> = events["items"].as_array().into_iter().flatten().filter(|e| e["reason"] == "FailedScheduling").collect();
    assert_eq!(failed.len(), 1, "one event per distinct message: {events}");
    assert_eq!(failed[0]["message"], expected);
    assert_eq!(failed[0]["source"]["component"], "default-scheduler");

    // The pool gains a node with the label: the pending pod is placed without being recreated.
    let relabelled = main_tf(&lc.endpoints.ack_endpoint)
        .replace("    max_size       = 2\n", "    max_size       = 2\n    labels         = { disk = \"nvme\" }\n");
    std::fs::write(wd.file("main.tf"), relabelled).expect("writes main.tf");
    let out = wd.apply(&[]).expect("apply runs");
    assert!(out.success, "apply: {}\n{}", out.stdout, out.stderr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = kubectl_json(&kubeconfig, &["get", "pod", "nowhere", "-n", "sched", "-o", "json"]);
        if p["spec"]["nodeName"] == system_name.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "the pod was not placed once a node had its label: {p}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let greedy = kubectl_json(&kubeconfig, &["get", "pod", "greedy", "-n", "sched", "-o", "json"]);
    assert!(greedy["spec"]["nodeName"].is_null(), "a pod without the toleration never lands on the virtual node: {greedy}");
}
