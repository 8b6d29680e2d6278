//! Fidelity of the ACK emulator, proven by the official Python SDK (`alibabacloud-cs20151215`):
//! a full create → describe → list → kubeconfig → task → node pools → delete round trip
//! succeeds, and the same SDK with a wrong secret is refused as ACK refuses it; every node pool
//! and cluster change the provider makes is made by the SDK, with the SDK's own request models
//! (a partial ModifyClusterNodePool body among them). Every call the provider makes is also made
//! by our client for the same inputs, against a recorder on 127.0.0.1, and what went on the wire
//! is compared with what the SDK sent: method, path, query, and the JSON body.

use std::process::Command;

use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use sparkoss_acceptance_tests::{cluster_config, provider_bin, repo_root, LocalCloudProcess, Terraform, Workdir};
use sparkoss_aliyun::ack::model::{
    AutoScaling, CreateClusterRequest, KubernetesConfig, NodePool, NodePoolCreated, NodePoolInfo, NodePools, ScalingGroup, Tag, TaskInfo,
    TaskStarted,
};
use sparkoss_aliyun::ack::AckClient;
use sparkoss_aliyun::credentials::CredentialsProvider;
use sparkoss_aliyun::signing::Credentials;

/// Starts a local cloud and runs `acceptance-tests/python/<script>` against its ACK endpoint;
/// returns the cloud and the one JSON document the script printed.
fn run_sdk_script(script: &str) -> (LocalCloudProcess, Json) {
    let python = repo_root().join(".tools/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-tools", python.display());
    let cloud = LocalCloudProcess::start_with_keys(&["--create-delay", "1s", "--no-kubelet"], Some(("LTAIsdk", "sdk-secret")))
        .expect("localcloud starts");
    let e = &cloud.endpoints;
    let out = Command::new(&python)
        .arg(repo_root().join("acceptance-tests/python").join(script))
        .args([&e.ack_endpoint, &e.region])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &e.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &e.access_key_secret)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK script {script} failed: {stderr}");
    let doc: Json = serde_json::from_slice(&out.stdout).expect("one JSON document");
    (cloud, doc)
}

#[test]
fn official_sdk_round_trip_and_wrong_secret_refused() {
    let (cloud, doc) = run_sdk_script("ack_sdk_fidelity.py");
    let e = &cloud.endpoints;
    let id = doc["created"]["cluster_id"].as_str().expect("cluster id");
    assert!(!id.is_empty());
    let states: Vec<&str> = doc["states"].as_array().expect("states").iter().filter_map(|s| s.as_str()).collect();
    assert_eq!(states.first(), Some(&"initial"), "a new cluster starts initial: {states:?}");
    assert_eq!(states.last(), Some(&"running"), "and becomes running: {states:?}");
    assert_eq!(doc["detail"]["name"], "sdk-fidelity");
    assert_eq!(doc["detail"]["tags"][0]["value"], "data");
    assert_eq!(doc["list"], json!([id]));
    assert_eq!(doc["kubeconfig_server"], e.kubernetes_endpoint.as_str());
    assert_eq!(doc["task_state"], "success");
    assert_eq!(doc["pools"], json!([["workers", 1, 3]]));
    assert_eq!(doc["deleted"], "ErrorClusterNotFound", "deleted clusters disappear");
    assert_eq!(doc["wrong_secret"]["code"], "SignatureDoesNotMatch", "{doc}");
    assert_eq!(doc["wrong_secret"]["status"], 400);

    // Our client's CreateCluster for the same cluster (one worker pool) puts on the wire what the
    // SDK put there; so do the reads, the lookup by name and DeleteCluster.
    let pool = NodePool {
        nodepool_info: NodePoolInfo { name: "workers".into(), nodepool_id: None },
        scaling_group: ScalingGroup { instance_types: vec!["ecs.g7.xlarge".into()], system_disk_size: 120, ..Default::default() },
        auto_scaling: AutoScaling { enable: true, min_instances: 1, max_instances: 3 },
        ..Default::default()
    };
    let req = CreateClusterRequest {
        name: "sdk-fidelity".into(),
        region_id: e.region.clone(),
        cluster_type: "ManagedKubernetes".into(),
        cluster_spec: "ack.pro.small".into(),
        kubernetes_version: Some("1.31.1-aliyun.1".into()),
        container_cidr: "172.20.0.0/16".into(),
        service_cidr: "172.21.0.0/20".into(),
        tags: vec![Tag { key: "team".into(), value: "data".into() }],
        deletion_protection: false,
        nodepools: vec![pool],
        ..Default::default()
    };
    let task = doc["created"]["task_id"].as_str().expect("task id").to_owned();
    let (cid, region) = (id.to_owned(), e.region.clone());
    let ours = our_wire(&region, move |c| {
        Box::pin(async move {
            let _ = c.create_cluster(&req).await;
            let _ = c.describe_cluster_detail(&cid).await;
            let _ = c.describe_clusters_v1(Some("sdk-fidelity"), 1).await;
            let _ = c.describe_user_kubeconfig(&cid).await;
            let _ = c.describe_task_info(&task).await;
            let _ = c.describe_node_pools(&cid).await;
            let _ = c.delete_cluster(&cid).await;
        })
    });
    let every = [
        "CreateCluster",
        "DescribeClusterDetail",
        "DescribeClustersV1",
        "DescribeClusterUserKubeconfig",
        "DescribeTaskInfo",
        "DescribeClusterNodePools",
        "DeleteCluster",
    ];
    assert_same_wire(&ours, &doc["wire"], &every);
}

type Calls = Box<dyn FnOnce(AckClient) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// What our client puts on the wire for the calls `calls` makes: each request's action, method,
/// path, query and JSON body, as a recorder on 127.0.0.1 received them. The recorder answers
/// every request with an empty JSON object: the answers do not matter here (they are checked
/// against the emulator elsewhere), only what was sent.
fn our_wire(
    region: &str,
    calls: impl FnOnce(AckClient) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static,
) -> Vec<Json> {
    let calls: Calls = Box::new(calls);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let seen: Arc<Mutex<Vec<Json>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let query: serde_json::Map<String, Json> = parts
                    .uri
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split_once('=').unwrap_or((p, "")))
                    .map(|(k, v)| (sparkoss_aliyun::percent_decode(k), Json::String(sparkoss_aliyun::percent_decode(v))))
                    .collect();
                let action = parts.headers.get("x-acs-action").and_then(|v| v.to_str().ok()).unwrap_or("?");
                log.lock().expect("lock").push(json!({
                    "action": action,
                    "method": parts.method.as_str(),
                    "path": parts.uri.path(),
                    "query": query,
                    "body": if body.is_empty() { Json::Null } else { serde_json::from_slice(&body).unwrap_or(Json::String("not JSON".into())) },
                }));
                "{}"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let creds = CredentialsProvider::fixed(Credentials::new("LTAIours", "our-secret"));
        let client = AckClient::new(region, Some(&endpoint), creds).expect("client");
        calls(client).await;
        let out = seen.lock().expect("lock").clone();
        out
    })
}

/// Each of `actions` that our client sent matches a request the SDK sent for that action: same
/// method, path and query, and the same body once the members that say "not set" are left out.
fn assert_same_wire(ours: &[Json], sdk: &Json, actions: &[&str]) {
    let sdk = sdk.as_array().expect("the SDK's wire record");
    for action in actions {
        let mine: Vec<&Json> = ours.iter().filter(|r| r["action"] == *action).collect();
        assert_eq!(mine.len(), 1, "{action}: our client sent it once: {ours:#?}");
        let normal =
            |r: &Json| json!({"method": r["method"], "path": r["path"], "query": r["query"], "body": without_unset(r["body"].clone())});
        // The Python SDK writes a boolean query value with Python's str(): `force=True`, where ACK
        // documents (and the Go and Java SDKs send) `true`; ACK reads both.
        let python_bools = |mut r: Json| {
            if let Some(q) = r["query"].as_object_mut() {
                for v in q.values_mut() {
                    if *v == "True" || *v == "False" {
                        *v = Json::String(v.as_str().unwrap_or_default().to_ascii_lowercase());
                    }
                }
            }
            r
        };
        let theirs: Vec<Json> = sdk.iter().filter(|r| r["action"] == *action).map(normal).map(python_bools).collect();
        assert!(!theirs.is_empty(), "{action}: the SDK never sent it");
        let mine = normal(mine[0]);
        assert!(theirs.contains(&mine), "{action}: ours\n{mine:#}\nis none of the SDK's\n{theirs:#?}");
    }
}

#[test]
fn official_sdk_makes_every_node_pool_and_cluster_change_the_provider_makes() {
    let (_cloud, doc) = run_sdk_script("ack_sdk_node_pools.py");

    // CreateClusterNodePool, then DescribeTaskInfo until the task ends.
    let np = doc["created_pool"]["nodepool_id"].as_str().expect("nodepool id");
    assert!(np.starts_with("np"), "{doc}");
    let create_task = doc["create_task"].as_array().expect("task polls");
    let last = create_task.last().expect("a poll");
    assert_eq!(last["state"], "success", "{last}");
    assert_eq!(last["task_id"], doc["created_pool"]["task_id"]);
    assert_eq!(last["task_type"], "nodepool_create");
    assert_eq!(last["target"], json!({"id": np, "type": "nodepool"}));
    assert!(create_task.iter().take(create_task.len() - 1).all(|t| t["state"] == "running"), "{create_task:?}");

    // DescribeClusterNodePools, with the status fields the provider reads.
    let spark = json!({"id": np, "name": "spark", "min": 1, "max": 3, "instance_types": ["ecs.g7.xlarge"],
        "state": "active", "total_nodes": 1, "healthy_nodes": 1});
    assert_eq!(doc["pools_after_create"], json!([spark]));

    // Our client's CreateClusterNodePool body for the same pool says what the SDK's says (empty
    // strings and lists, which both sides send for "not set", aside).
    let ours = NodePool {
        nodepool_info: NodePoolInfo { name: "spark".into(), nodepool_id: None },
        scaling_group: ScalingGroup { instance_types: vec!["ecs.g7.xlarge".into()], system_disk_size: 120, ..Default::default() },
        auto_scaling: AutoScaling { enable: true, min_instances: 1, max_instances: 3 },
        kubernetes_config: KubernetesConfig { labels: vec![Tag { key: "sparkoss.io/pool".into(), value: "spark".into() }], taints: None },
        status: None,
        update_nodes: None,
    };
    assert_eq!(
        without_unset(serde_json::to_value(&ours).expect("serialises")),
        without_unset(doc["requests"]["CreateClusterNodePool"].clone())
    );

    // Our client's types read the SDK's models of the answers (what the SDK understood) to the
    // same values.
    let r = &doc["responses"];
    let created: NodePoolCreated =
        serde_json::from_value(r["CreateClusterNodePool"].clone()).expect("our CreateClusterNodePool answer type");
    assert_eq!((created.nodepool_id.as_str(), created.task_id.as_str()), (np, doc["created_pool"]["task_id"].as_str().unwrap_or("?")));
    let started: TaskStarted = serde_json::from_value(r["ModifyClusterNodePool"].clone()).expect("our ModifyClusterNodePool answer type");
    assert_eq!(started.task_id, doc["modify_task_id"].as_str().unwrap_or("?"));
    let listed: NodePools =
        serde_json::from_value(r["DescribeClusterNodePools after modify"].clone()).expect("our DescribeClusterNodePools answer type");
    let [pool] = &listed.nodepools[..] else { panic!("one pool: {listed:?}") };
    assert_eq!(pool.nodepool_info.nodepool_id.as_deref(), Some(np));
    assert_eq!(pool.nodepool_info.name, "spark");
    assert_eq!((pool.auto_scaling.min_instances, pool.auto_scaling.max_instances), (2, 5));
    assert_eq!(pool.scaling_group.instance_types, ["ecs.g7.xlarge"]);
    assert_eq!(pool.kubernetes_config.labels, [Tag { key: "sparkoss.io/pool".into(), value: "spark".into() }]);
    let status = pool.status.as_ref().expect("status");
    assert!(status.is_active(), "{status:?}");
    assert_eq!((status.total_nodes, status.healthy_nodes), (2, 2));
    let task: TaskInfo = serde_json::from_value(r["DescribeTaskInfo"].clone()).expect("our DescribeTaskInfo answer type");
    assert_eq!((task.state.as_str(), task.task_type.as_str()), ("success", "nodepool_delete"));
    assert_eq!(task.task_id, doc["delete_task"]["task_id"].as_str().unwrap_or("?"));

    // A field ACK does not define is refused, Alibaba-shaped, naming it.
    assert_eq!(doc["misspelled"]["code"], "ErrorParam", "{doc}");
    assert_eq!(doc["misspelled"]["status"], 400);
    assert!(doc["misspelled"]["message"].as_str().is_some_and(|m| m.contains("auto_scaling.min_instance ")), "{doc}");

    // ModifyClusterNodePool with only `auto_scaling`: accepted, the pool scales, the rest kept.
    assert_eq!(
        doc["requests"]["ModifyClusterNodePool"],
        json!({"auto_scaling": {"enable": true, "min_instances": 2, "max_instances": 5}}),
        "the SDK sends a partial body"
    );
    assert!(doc["modify_task_id"].as_str().is_some_and(|t| !t.is_empty()), "{doc}");
    let states: Vec<&Json> = doc["modify_states"].as_array().expect("states").iter().map(|s| &s[0]).collect();
    assert_eq!(states.first().copied(), Some(&json!("scaling")), "{states:?}");
    assert_eq!(states.last().copied(), Some(&json!("active")), "{states:?}");
    let mut resized = spark.clone();
    resized["min"] = json!(2);
    resized["max"] = json!(5);
    resized["total_nodes"] = json!(2);
    resized["healthy_nodes"] = json!(2);
    assert_eq!(doc["pools_after_modify"], json!([resized]));

    // DeleteClusterNodepool with force: the task ends and the pool is no longer listed.
    assert_eq!(doc["requests"]["DeleteClusterNodepool"], json!({"force": true}));
    assert_eq!(doc["delete_task"]["state"], "success", "{doc}");
    assert_eq!(doc["delete_task"]["task_type"], "nodepool_delete");
    assert_eq!(doc["pools_after_delete"], json!([]));

    // ModifyCluster and ModifyClusterTags.
    assert_eq!(doc["requests"]["ModifyCluster"], json!({"deletion_protection": false}));
    assert_eq!(doc["detail"]["deletion_protection"], false);
    assert_eq!(doc["detail"]["tags"], json!([{"key": "team", "value": "ml"}, {"key": "env", "value": "dev"}]));

    // Our client, making the same calls for the same cluster, pool and tasks, puts on the wire
    // what the SDK put there.
    let cid = doc["cluster_id"].as_str().expect("cluster id").to_owned();
    let (np, delete_task) = (np.to_owned(), doc["delete_task"]["task_id"].as_str().expect("task id").to_owned());
    let ours = our_wire("cn-local", move |c| {
        Box::pin(async move {
            let mut pool = ours;
            let _ = c.create_node_pool(&cid, &pool).await;
            let _ = c.describe_node_pools(&cid).await;
            let _ = c.describe_task_info(&delete_task).await;
            pool.nodepool_info.nodepool_id = Some(np.clone());
            pool.auto_scaling = AutoScaling { enable: true, min_instances: 2, max_instances: 5 };
            let _ = c.modify_node_pool(&cid, &pool).await;
            let _ = c.delete_node_pool(&cid, &np, true).await;
            let _ = c.modify_deletion_protection(&cid, false).await;
            let tags = [Tag { key: "team".into(), value: "ml".into() }, Tag { key: "env".into(), value: "dev".into() }];
            let _ = c.modify_cluster_tags(&cid, &tags).await;
        })
    });
    let every = [
        "CreateClusterNodePool",
        "DescribeClusterNodePools",
        "DescribeTaskInfo",
        "ModifyClusterNodePool",
        "DeleteClusterNodepool",
        "ModifyCluster",
        "ModifyClusterTags",
    ];
    assert_same_wire(&ours, &doc["wire"], &every);
}

/// `v` without the members that say "not set": empty strings, empty lists, empty objects.
fn without_unset(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .map(|(k, v)| (k, without_unset(v)))
                .filter(|(_, v)| !matches!(v, Json::String(s) if s.is_empty()))
                .filter(|(_, v)| !matches!(v, Json::Array(a) if a.is_empty()))
                .filter(|(_, v)| !matches!(v, Json::Object(o) if o.is_empty()))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.into_iter().map(without_unset).collect()),
        other => other,
    }
}

/// What the official SDK reads back of cluster `id`: its pools' taints and spot settings and the
/// installed add-ons (`acceptance-tests/python/ack_sdk_read_pools.py`).
fn sdk_read_pools(cloud: &LocalCloudProcess, id: &str) -> Json {
    let python = repo_root().join(".tools/venv/bin/python");
    let e = &cloud.endpoints;
    let out = Command::new(&python)
        .arg(repo_root().join("acceptance-tests/python/ack_sdk_read_pools.py"))
        .args([&e.ack_endpoint, &e.region, id])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &e.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &e.access_key_secret)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "SDK read failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

const SPOT_POOL: &str = r#"  virtual_nodes = true

  worker_pool {
    name           = "system"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = 1
    max_size       = 2
  }

  worker_pool {
    name           = "spot"
    instance_types = ["ecs.g7.2xlarge"]
    min_size       = 0
    max_size       = 4
    spot_strategy  = "SpotWithPriceLimit"

    spot_price_limit {
      instance_type = "ecs.g7.2xlarge"
      price_limit   = "0.62"
    }

    taints {
      key    = "workload"
      value  = "spot"
      effect = "NoSchedule"
    }
  }
"#;

#[test]
fn the_official_sdk_reads_back_the_taints_spot_strategy_and_virtual_node_terraform_set() {
    let cloud = LocalCloudProcess::start_with_keys(&["--create-delay", "1s", "--no-kubelet"], Some(("LTAIsdk", "sdk-secret")))
        .expect("localcloud starts");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("spot-{}", tf.label.replace('.', "-"));
        let mut wd =
            Workdir::new(&tf, &provider_bin().expect("provider builds"), &cluster_config(&cloud.endpoints.ack_endpoint, &name, SPOT_POOL))
                .expect("workdir");
        wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIsdk");
        wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sdk-secret");
        wd.set_env("SPARKOSS_POLL_SCALE", "0.02");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);
        let res = wd.state_resources();
        let attrs = &res.iter().find(|r| r["type"] == "sparkoss_cluster").expect("cluster")["instances"][0]["attributes"];
        let id = attrs["cluster_id"].as_str().expect("cluster id").to_owned();
        let read = sdk_read_pools(&cloud, &id);
        assert_eq!(read["addons"], json!(["ack-virtual-node"]), "terraform {}: {read}", tf.label);
        assert_eq!(
            read["pools"],
            json!([
                {"name": "system", "taints": [], "spot_strategy": "NoSpot", "spot_price_limit": []},
                {"name": "spot", "taints": [{"key": "workload", "value": "spot", "effect": "NoSchedule"}],
                 "spot_strategy": "SpotWithPriceLimit", "spot_price_limit": [{"instance_type": "ecs.g7.2xlarge", "price_limit": "0.62"}]},
            ]),
            "terraform {}",
            tf.label
        );
        // A second plan is a no-op: what ACK reads back is what was configured.
        let plan = wd.plan_json().expect("plans");
        let changes: Vec<&Json> =
            plan["resource_changes"].as_array().into_iter().flatten().filter(|rc| rc["change"]["actions"] != json!(["no-op"])).collect();
        assert!(changes.is_empty(), "terraform {}: {changes:?}", tf.label);
        // Import into a fresh directory reads the taints, spot settings and virtual node back: no diff.
        let mut wd2 =
            Workdir::new(&tf, &provider_bin().expect("provider builds"), &cluster_config(&cloud.endpoints.ack_endpoint, &name, SPOT_POOL))
                .expect("workdir");
        wd2.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIsdk");
        wd2.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sdk-secret");
        let imp = wd2.import("sparkoss_cluster.c", &id).expect("import runs");
        assert!(imp.success, "terraform {} import: {}", tf.label, imp.stderr);
        let plan = wd2.plan_json().expect("plans");
        let changes: Vec<&Json> =
            plan["resource_changes"].as_array().into_iter().flatten().filter(|rc| rc["change"]["actions"] != json!(["no-op"])).collect();
        assert!(changes.is_empty(), "terraform {} import-verify: {changes:?}", tf.label);

        // In place: the spot pool moves to the market price with another taint, the virtual node goes.
        let changed = SPOT_POOL
            .replace("virtual_nodes = true", "virtual_nodes = false")
            .replace("\"SpotWithPriceLimit\"", "\"SpotAsPriceGo\"")
            .replace("    spot_price_limit {\n      instance_type = \"ecs.g7.2xlarge\"\n      price_limit   = \"0.62\"\n    }\n", "")
            .replace("effect = \"NoSchedule\"", "effect = \"NoExecute\"");
        std::fs::write(wd.file("main.tf"), cluster_config(&cloud.endpoints.ack_endpoint, &name, &changed)).expect("writes main.tf");
        let plan = wd.plan_json().expect("plans");
        let actions: Vec<Json> =
            plan["resource_changes"].as_array().into_iter().flatten().map(|rc| rc["change"]["actions"].clone()).collect();
        assert_eq!(actions, [json!(["update"])], "terraform {}: updated in place", tf.label);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} update: {}\n{}", tf.label, out.stdout, out.stderr);
        let read = sdk_read_pools(&cloud, &id);
        assert_eq!(read["addons"], json!([]), "terraform {}: {read}", tf.label);
        assert_eq!(read["pools"][1]["spot_strategy"], "SpotAsPriceGo", "{read}");
        assert_eq!(read["pools"][1]["spot_price_limit"], json!([]), "{read}");
        assert_eq!(read["pools"][1]["taints"], json!([{"key": "workload", "value": "spot", "effect": "NoExecute"}]), "{read}");
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy: {}", tf.label, out.stderr);
    }
}
