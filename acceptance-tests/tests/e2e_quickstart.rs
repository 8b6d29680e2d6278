//! End to end, as the README's main command runs it: the quick start image is built with
//! `image-builder` on the local Spark base image and pushed to a real `docker-registry`; the local
//! cloud runs with its Docker kubelet; real Terraform applies `examples/quickstart` (an ACK
//! cluster, a namespace with a quota and OSS credentials, a `sparkoss_job`); the driver pod runs
//! as a container, its launcher fetches the jar and the input from the local OSS, and Spark
//! counts the words. The test checks the job's state, the counts in the driver log (computed here
//! independently), the labels, the OSS accesses, and that destroy leaves nothing: no pods, no
//! clusters, no containers. Terraform 1.15 applies; Terraform 1.0.3 plans the same example first.
//!
//! Needs Docker, the Debian JDK and pyspark (scripts/install-tools). Takes about a minute warm.

use std::time::Instant;

use serde_json::Value;
use sparkoss_acceptance_tests::{
    expected_counts, get_text, input_text, oss_put, quickstart_workdir, seen_pods, watch_pods, LocalCloudProcess, Terraform,
};
use sparkoss_localcloud::ack::Control;
use sparkoss_localcloud::kube::docker_kubelet::containers_started_by;
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;
use sparkoss_testkit::kube_client::request;

#[test]
fn quickstart_runs_a_real_spark_job_from_terraform_apply() {
    let t0 = Instant::now();
    let jar = example_job_jar().expect("the example job builds");
    let image = build_quickstart_image(&mut |l| eprintln!("e2e: {l}")).expect("the quick start image builds and pushes");
    let t_image = t0.elapsed();
    assert!(image.pushed.contains("@sha256:"), "{}", image.pushed);

    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "2s", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = input_text();
    let input = dir.path().join("words.txt");
    std::fs::write(&input, &text).expect("input");
    oss_put(&ep, "sparkoss-demo", &[("jobs/wordcount.jar", &jar), ("input/words.txt", &input)]);
    let counts = expected_counts(&text);
    let total: u64 = counts.values().sum();
    let summary = format!("sparkoss-wordcount: total={total} distinct={}", counts.len());

    // One Terraform applies here (a real Spark run is the slow part, and both versions drive the
    // same provider calls in the lifecycle tests); Terraform 1.0.3 plans the same example, so the
    // quick start is known to work with it up to the apply.
    let mut versions = Terraform::all().expect("terraform").into_iter();
    let tf = versions.next().expect("terraform 1.15");
    let tf10 = versions.next().expect("terraform 1.0");
    let t10 = Instant::now();
    let plan = quickstart_workdir(&tf10, &ep, &image.reference).expect("workdir").plan_json().expect("terraform 1.0 plans the quick start");
    let mut planned: Vec<(String, String)> = plan["resource_changes"]
        .as_array()
        .expect("resource changes")
        .iter()
        .map(|rc| (rc["address"].as_str().unwrap_or("?").to_owned(), rc["change"]["actions"].to_string()))
        .collect();
    planned.sort();
    let create = |a: &str| (a.to_owned(), r#"["create"]"#.to_owned());
    assert_eq!(
        planned,
        [create("sparkoss_cluster.demo"), create("sparkoss_job.wordcount"), create("sparkoss_namespace.team_a")],
        "terraform 1.0 plan"
    );
    let t_plan10 = t10.elapsed();
    let wd = quickstart_workdir(&tf, &ep, &image.reference).expect("workdir");

    // Executor pods come and go during the apply; a watch sees every one of them.
    let executors = watch_pods(&ep.kubernetes_endpoint, "team-a", "spark-role=executor");
    let t1 = Instant::now();
    let out = wd.apply(&[]).expect("apply runs");
    let t_apply = t1.elapsed();
    assert!(out.success, "terraform apply:\n{}\n{}", out.stdout, out.stderr);
    let secret = ep.access_key_secret.as_str();
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "a secret reached Terraform's output");

    let outputs = wd.run(&["output", "-json"]).expect("output runs");
    assert!(outputs.success, "{}", outputs.stderr);
    let outputs: Value = serde_json::from_str(&outputs.stdout).expect("outputs JSON");
    assert_eq!(outputs["job_state"]["value"], "SUCCEEDED", "{outputs}");
    assert_eq!(outputs["exit_code"]["value"], 0, "{outputs}");
    assert!(outputs["cpu_core_seconds"]["value"].as_f64().is_some_and(|v| v > 0.0), "usage: {outputs}");

    // The driver pod, selected by the labels logs and metrics use.
    let (code, pods) = request(
        &ep.kubernetes_endpoint,
        "GET",
        "/api/v1/namespaces/team-a/pods?labelSelector=sparkoss.io%2Fjob%3Dwordcount%2Cspark-role%3Ddriver",
        None,
    )
    .expect("list pods");
    assert_eq!(code, 200, "{pods}");
    let items = pods["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one driver pod: {pods}");
    let pod = &items[0];
    assert_eq!(pod["metadata"]["labels"]["sparkoss.io/user"], "alice", "{pod}");
    assert_eq!(pod["status"]["phase"], "Succeeded", "{pod}");
    let cid = pod["status"]["containerStatuses"][0]["containerID"].as_str().unwrap_or_default();
    assert!(cid.starts_with("docker://"), "the pod ran as a Docker container: {cid}");
    let name = pod["metadata"]["name"].as_str().expect("pod name");
    let log = get_text(&ep.kubernetes_endpoint, &format!("/api/v1/namespaces/team-a/pods/{name}/log"));
    assert!(log.contains("sparkoss-launcher: exec "), "the launcher started Spark:\n{log}");
    assert!(log.contains(&summary), "Spark's result `{summary}` in the driver log:\n{log}");

    // Two executor pods ran, made by Spark's scheduler in the driver with the sparkoss labels,
    // registered with the driver and ran its tasks; none is left.
    let seen = seen_pods(&executors);
    let names: std::collections::BTreeSet<String> = seen.iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned)).collect();
    assert_eq!(names.len(), 2, "two executor pods: {names:?}");
    for p in &seen {
        let labels = &p["metadata"]["labels"];
        assert_eq!((labels["sparkoss.io/job"].as_str(), labels["sparkoss.io/user"].as_str()), (Some("wordcount"), Some("alice")), "{p}");
        assert_eq!(p["spec"]["containers"][0]["image"], image.reference.as_str(), "executors run the job's image: {p}");
        assert_eq!(p["metadata"]["ownerReferences"][0]["name"], name, "owned by the driver pod: {p}");
    }
    assert!(
        seen.iter().any(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].as_str().is_some_and(|ip| ip.starts_with("172.30."))),
        "executors ran on the pod network: {seen:?}"
    );
    let registered = log.lines().filter(|l| l.contains("Registered executor") && l.contains("with ID")).count();
    assert_eq!(registered, 2, "both executors registered with the driver:\n{log}");
    for id in ["(executor 1)", "(executor 2)"] {
        assert!(log.lines().any(|l| l.contains("Finished task") && l.contains(id)), "tasks ran on {id}:\n{log}");
    }
    let (_, left) = request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/team-a/pods?labelSelector=spark-role%3Dexecutor", None)
        .expect("list executors");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "no executor left after the job: {left}");
    // OSS credentials reach driver and executors under the names the image's Hadoop OSS
    // credentials provider (aliyun-sdk-oss's EnvironmentVariableCredentialsProvider) reads, as
    // references to the namespace's Secret: no value in any pod spec. So does the OSS endpoint.
    let secret_name = "sparkoss-oss-credentials";
    let (_, secret) =
        request(&ep.kubernetes_endpoint, "GET", &format!("/api/v1/namespaces/team-a/secrets/{secret_name}"), None).expect("secret");
    for key in ["OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"] {
        assert!(
            secret["data"][key].is_string(),
            "the Secret holds {key}: {:?}",
            secret["data"].as_object().map(|m| m.keys().collect::<Vec<_>>())
        );
    }
    assert_eq!(pod["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"], secret_name, "the driver loads the Secret: {pod}");
    for p in seen.iter().chain([pod]) {
        assert!(!p.to_string().contains(&ep.access_key_secret), "a secret value in a pod spec: {p}");
    }
    for p in &seen {
        let env = p["spec"]["containers"][0]["env"].as_array().cloned().unwrap_or_default();
        let var = |n: &str| env.iter().find(|e| e["name"] == n).cloned().unwrap_or(Value::Null);
        for key in ["OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"] {
            let r = &var(key)["valueFrom"]["secretKeyRef"];
            assert_eq!((r["name"].as_str(), r["key"].as_str()), (Some(secret_name), Some(key)), "executor {key}: {p}");
        }
        assert_eq!(var("SPARKOSS_OSS_ENDPOINT")["value"], ep.oss_endpoint.as_str(), "executors reach the same OSS: {p}");
    }

    // Usage counts the driver (1 core) and both executors (1 core each).
    let cores = outputs["cpu_core_seconds"]["value"].as_i64().unwrap_or(0);
    assert!(cores > 0 && cores % 3 == 0, "3 cores × seconds: {outputs}");
    let (top_word, top_count) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).expect("words");
    assert!(log.contains(&format!("sparkoss-wordcount: {top_word}\t{top_count}")), "top word {top_word} {top_count}:\n{log}");

    // The jar and the input were read from the local OSS by the launcher.
    let (_, access) = request(&ep.oss_endpoint, "GET", "/_localcloud/access-log", None).expect("access log");
    let entries = access.as_array().cloned().or_else(|| access["entries"].as_array().cloned()).unwrap_or_default();
    for key in ["jobs/wordcount.jar", "input/words.txt"] {
        assert!(
            entries.iter().any(|e| e["method"] == "GET" && e["key"] == key && e["status"].as_u64().is_some_and(|s| s < 300)),
            "GET {key} in the OSS access log: {access}"
        );
    }
    // The kubelet removes the container right after it records the pod's end; allow it a moment.
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    while !containers_started_by(lc.pid()).expect("docker ps runs").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the finished pod's container is removed: {:?}",
            containers_started_by(lc.pid()).expect("docker ps runs")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let t2 = Instant::now();
    let out = wd.destroy().expect("destroy runs");
    let t_destroy = t2.elapsed();
    assert!(out.success, "terraform destroy:\n{}\n{}", out.stdout, out.stderr);
    let (_, pods) = request(&ep.kubernetes_endpoint, "GET", "/api/v1/pods", None).expect("pods");
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(0), "no pods after destroy: {pods}");
    // Control::live_clusters fails on a non-2xx answer or a body without a cluster list, so a
    // broken probe cannot read as "no cluster".
    let live = Control::new(&ep.ack_endpoint).live_clusters().expect("the emulator lists its clusters");
    assert!(live.is_empty(), "no cluster after destroy: {live:?}");
    let pid = lc.pid();
    assert!(lc.stop(), "the local cloud stops on SIGTERM");
    let left = containers_started_by(pid).expect("docker ps runs");
    assert!(left.is_empty(), "no container left: {left:?}");
    eprintln!(
        "e2e timings: image {:.1}s (base {:.1}s, image-builder {:.1}s), terraform 1.0 plan {:.1}s, apply {:.1}s, destroy {:.1}s",
        t_image.as_secs_f64(),
        image.base_seconds,
        image.build_seconds,
        t_plan10.as_secs_f64(),
        t_apply.as_secs_f64(),
        t_destroy.as_secs_f64()
    );
}
