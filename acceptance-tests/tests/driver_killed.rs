//! A driver killed mid-job leaves no executor behind: the quick start's job runs on the local
//! cloud's Docker kubelet; as soon as Spark has created its first executor pod, the driver's
//! container is killed (`docker kill`). Terraform reports the failed driver, and the executor
//! pods and their containers are gone (the driver pod is deleted, and its executors go with it
//! through their owner references).

use std::process::Command;
use std::time::{Duration, Instant};

use sparkoss_acceptance_tests::{input_text, oss_put, quickstart_workdir, seen_pods, watch_pods, LocalCloudProcess, Terraform};
use sparkoss_localcloud::kube::docker_kubelet::{containers_started_by, POD_LABEL};
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;
use sparkoss_testkit::kube_client::request;

#[test]
fn a_driver_killed_mid_job_leaves_no_executor_behind() {
    let jar = example_job_jar().expect("the example job builds");
    let image = build_quickstart_image(&mut |l| eprintln!("driver-killed: {l}")).expect("the quick start image");
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "1s", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("words.txt");
    std::fs::write(&input, input_text()).expect("input");
    oss_put(&ep, "sparkoss-demo", &[("jobs/wordcount.jar", &jar), ("input/words.txt", &input)]);
    let tf = Terraform::all().expect("terraform").into_iter().next().expect("terraform 1.15");
    let wd = quickstart_workdir(&tf, &ep, &image.reference).expect("workdir");

    // The killer: waits (bounded) for Spark's first executor pod, then kills the driver's container.
    let executors = watch_pods(&ep.kubernetes_endpoint, "team-a", "spark-role=executor");
    let watched = executors.clone();
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen_pods(&watched).is_empty() {
            if Instant::now() > deadline {
                return Err("no executor pod within 300 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let label = format!("label={POD_LABEL}=team-a/wordcount-driver");
        let ids = Command::new("docker").args(["ps", "-q", "--filter", &label]).output().map_err(|e| e.to_string())?;
        let id = String::from_utf8_lossy(&ids.stdout).trim().to_owned();
        if id.is_empty() {
            return Err("no running driver container".to_owned());
        }
        let killed = Command::new("docker").args(["kill", &id]).output().map_err(|e| e.to_string())?;
        if killed.status.success() {
            Ok(id)
        } else {
            Err(String::from_utf8_lossy(&killed.stderr).into_owned())
        }
    });

    let out = wd.apply(&[]).expect("apply runs");
    let killed = killer.join().expect("killer thread");
    assert!(killed.is_ok(), "the driver was killed mid-job: {killed:?}");
    assert!(!out.success, "the job cannot succeed without its driver");
    let errors = out.json_errors();
    let failed = errors.iter().find(|(s, _)| s == "Spark job failed").map(|(_, d)| d.clone());
    assert!(
        failed.as_deref().is_some_and(|d| d.contains("driver pod team-a/wordcount-driver failed with exit code 137")),
        "the failure names the killed driver: {errors:#?}"
    );

    // No executor pod and no executor container is left.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, left) =
            request(&ep.kubernetes_endpoint, "GET", "/api/v1/namespaces/team-a/pods?labelSelector=spark-role%3Dexecutor", None)
                .expect("pods");
        assert_eq!(code, 200, "{left}");
        let containers = containers_started_by(lc.pid()).expect("docker ps runs");
        let pods_left = left["items"].as_array().map_or(0, Vec::len);
        if pods_left == 0 && containers.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {pods_left} executor pods, containers {containers:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!seen_pods(&executors).is_empty(), "executors existed before the kill");
    assert!(wd.destroy().expect("destroy runs").success);
    assert!(lc.stop(), "the local cloud stops");
}
