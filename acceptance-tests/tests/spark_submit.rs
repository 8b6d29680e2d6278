//! Spark's own client against the local cloud, unchanged: `examples/spark-submit/submit.sh` runs
//! pyspark's `spark-submit --master k8s://https://... --deploy-mode cluster` with the quick start's
//! image and an `oss://` application jar. The submission client (fabric8) creates the driver pod,
//! its config map and service through the HTTPS API with the admin kubeconfig; the image's
//! entrypoint fetches the jar and the input from the local OSS; the driver, with its service
//! account's token and the `edit` role Spark's documentation grants, creates two executor pods;
//! they register and run the word count.

use std::time::Duration;

use sparkoss_acceptance_tests::{
    expected_counts, get_text, input_text, oss_put, seen_pods, submit_wordcount, watch_pods, LocalCloudProcess,
};
use sparkoss_localcloud::kube::docker_kubelet::containers_started_by;
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;
use sparkoss_testkit::kube_client::request;

#[test]
fn spark_submit_cluster_mode_runs_an_oss_jar_with_executors() {
    let jar = example_job_jar().expect("the example job builds");
    let image = build_quickstart_image(&mut |l| eprintln!("spark-submit: {l}")).expect("the quick start image");
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = input_text();
    let input = dir.path().join("words.txt");
    std::fs::write(&input, &text).expect("input");
    oss_put(&ep, "submit-jobs", &[("apps/wordcount.jar", &jar), ("data/words.txt", &input)]);
    let counts = expected_counts(&text);
    let summary = format!("sparkoss-wordcount: total={} distinct={}", counts.values().sum::<u64>(), counts.len());

    let executors = watch_pods(&ep.kubernetes_endpoint, "spark-jobs", "spark-role=executor");
    let out = submit_wordcount(&ep, &image.reference, "oss://submit-jobs/apps/wordcount.jar", "oss://submit-jobs/data/words.txt")
        .expect("submit.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "spark-submit:\n{stderr}");
    assert!(!stderr.contains(&ep.access_key_secret), "the OSS secret reached spark-submit's output");

    // The driver Spark made: labelled, succeeded, fetched the oss:// jar and input, counted.
    let (code, pods) =
        request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/spark-jobs/pods?labelSelector=spark-role%3Ddriver", None)
            .expect("pods");
    assert_eq!(code, 200, "{pods}");
    let driver = &pods["items"][0];
    let name = driver["metadata"]["name"].as_str().expect("driver name");
    let log = get_text(&ep.kubernetes_endpoint, &format!("/api/v1/namespaces/spark-jobs/pods/{name}/log"));
    assert!(stderr.contains("phase: Succeeded"), "the application completed:\n{stderr}\n--- driver log:\n{log}");
    assert_eq!(driver["status"]["phase"], "Succeeded", "{pods}");
    assert_eq!(driver["metadata"]["labels"]["sparkoss.io/job"], "wordcount", "{driver}");
    assert_eq!(driver["spec"]["serviceAccountName"], "spark", "{driver}");
    for object in ["oss://submit-jobs/apps/wordcount.jar", "oss://submit-jobs/data/words.txt"] {
        assert!(log.contains(&format!("sparkoss-launcher: fetched {object}")), "the entrypoint fetched {object}:\n{log}");
    }
    assert!(log.contains(&summary), "Spark's result `{summary}`:\n{log}");
    assert_eq!(log.lines().filter(|l| l.contains("Registered executor") && l.contains("with ID")).count(), 2, "{log}");

    // Spark's config map reached the driver through a volume; its executors were pods of the job.
    let (_, cms) = request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/spark-jobs/configmaps", None).expect("configmaps");
    assert!(cms["items"].as_array().is_some_and(|a| a.iter().any(|c| c["data"]["spark.properties"].is_string())), "{cms}");
    let seen = seen_pods(&executors);
    let names: std::collections::BTreeSet<&str> = seen.iter().filter_map(|p| p["metadata"]["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "two executor pods: {names:?}");
    assert!(seen.iter().all(|p| p["metadata"]["labels"]["sparkoss.io/job"] == "wordcount"), "{seen:?}");
    let (_, left) = request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/spark-jobs/pods?labelSelector=spark-role%3Dexecutor", None)
        .expect("pods");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "no executor left: {left}");

    // Deleting the driver removes what Spark made for it (owner references).
    assert_eq!(
        request(&ep.kubernetes_endpoint, "DELETE", &format!("/api/v1/namespaces/spark-jobs/pods/{name}"), None).expect("delete").0,
        200
    );
    let (_, cms) = request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/spark-jobs/configmaps", None).expect("configmaps");
    assert!(cms["items"].as_array().is_some_and(|a| a.iter().all(|c| c["data"]["spark.properties"].is_null())), "{cms}");
    let pid = lc.pid();
    assert!(lc.stop(), "the local cloud stops");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !containers_started_by(pid).expect("docker ps runs").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = containers_started_by(pid).expect("docker ps runs");
    assert!(left.is_empty(), "no container left: {left:?}");
}
