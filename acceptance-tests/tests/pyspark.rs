//! PySpark through `terraform apply` on the local cloud's Docker kubelet: `examples/pyspark`
//! runs `wordcount.py` from the local OSS with 2 executors. Its Python UDF imports `textutil` from
//! the `py_files` zip (also on OSS) and runs in the executors' Python workers: each executor's log
//! shows them, the UDF reports the two executor hosts, and the counts (computed here
//! independently) are right. Then a new upload of the `.py` makes the next plan re-run the job,
//! and a run that raises fails the apply with the Python exception as the error's first line.
//! Terraform 1.15 applies; Terraform 1.0.3 plans the same example first. Last, the same `.py` goes
//! through Spark's own `spark-submit --deploy-mode cluster` (`examples/spark-submit/submit-pyspark.sh`).

use std::path::Path;
use std::process::Command;

use sparkoss_acceptance_tests::{
    expected_counts, get_text, input_text, oss_put, pyspark_workdir, submit_pyspark, LocalCloudProcess, Terraform, Workdir,
};
use sparkoss_localcloud::Endpoints;
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_testkit::kube_client::request;

fn example_dir() -> std::path::PathBuf {
    sparkoss_acceptance_tests::repo_root().join("examples/pyspark")
}

fn workdir(tf: &Terraform, ep: &Endpoints, image: &str) -> Workdir {
    let mut wd = pyspark_workdir(tf, ep, image).expect("workdir");
    // Executor pods stay after the run, so their logs can be read.
    wd.set_env("TF_VAR_spark_conf", r#"{"spark.kubernetes.executor.deleteOnTermination" = "false"}"#);
    wd
}

/// `textutil.zip` made from the example's module with Debian's `zip` (scripts/install-tools).
fn helper_zip(dir: &Path) -> std::path::PathBuf {
    let zip = dir.join("textutil.zip");
    let out = Command::new("zip").arg("-q").arg("-j").arg(&zip).arg(example_dir().join("textutil/textutil.py")).output().expect("zip runs");
    assert!(out.status.success(), "zip: {}", String::from_utf8_lossy(&out.stderr));
    zip
}

fn pods(ep: &Endpoints, selector: &str) -> Vec<serde_json::Value> {
    let (code, list) =
        request(&ep.kubernetes_endpoint, "GET", &format!("/api/v1/namespaces/team-a/pods?labelSelector={selector}"), None).expect("pods");
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_pyspark_job_runs_its_udf_on_two_executors_reruns_on_a_new_upload_and_fails_with_the_python_exception() {
    let image = build_quickstart_image(&mut |l| eprintln!("pyspark: {l}")).expect("the quick start image");
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = input_text();
    let input = dir.path().join("words.txt");
    std::fs::write(&input, &text).expect("input");
    let zip = helper_zip(dir.path());
    let script = example_dir().join("wordcount.py");
    oss_put(&ep, "sparkoss-demo", &[("pyspark/wordcount.py", &script), ("pyspark/textutil.zip", &zip), ("input/words.txt", &input)]);
    let counts = expected_counts(&text);
    let summary = format!("pyspark-wordcount: total={} distinct={}", counts.values().sum::<u64>(), counts.len());

    let mut versions = Terraform::all().expect("terraform").into_iter();
    let tf = versions.next().expect("terraform 1.15");
    let tf10 = versions.next().expect("terraform 1.0");
    let plan = workdir(&tf10, &ep, &image.reference).plan_json().expect("terraform 1.0 plans the PySpark example");
    let job_change = |plan: &serde_json::Value| {
        plan["resource_changes"]
            .as_array()
            .and_then(|a| a.iter().find(|rc| rc["address"] == "sparkoss_job.wordcount"))
            .map(|rc| rc["change"]["actions"].to_string())
    };
    assert_eq!(job_change(&plan).as_deref(), Some(r#"["create"]"#), "terraform 1.0 plan");

    let wd = workdir(&tf, &ep, &image.reference);
    let out = wd.apply(&[]).expect("apply runs");
    assert!(out.success, "terraform apply:\n{}\n{}", out.stdout, out.stderr);

    // The driver ran the .py with Python and printed the right counts.
    let drivers = pods(&ep, "sparkoss.io%2Fjob%3Dpywordcount%2Cspark-role%3Ddriver");
    assert_eq!(drivers.len(), 1, "{drivers:?}");
    let driver = drivers[0]["metadata"]["name"].as_str().expect("name").to_owned();
    assert_eq!(drivers[0]["status"]["phase"], "Succeeded");
    let log = get_text(&ep.kubernetes_endpoint, &format!("/api/v1/namespaces/team-a/pods/{driver}/log"));
    for object in ["oss://sparkoss-demo/pyspark/wordcount.py", "oss://sparkoss-demo/pyspark/textutil.zip"] {
        assert!(log.contains(&format!("sparkoss-launcher: fetched {object}")), "the launcher fetched {object}:\n{log}");
    }
    assert!(log.contains("--py-files") && !log.contains("--class"), "spark-submit got --py-files and no class:\n{log}");
    assert!(log.contains(&summary), "the result `{summary}`:\n{log}");
    for (word, n) in counts.iter().filter(|(w, _)| *w == "spark" || *w == "oss") {
        assert!(log.contains(&format!("pyspark-wordcount: {word}={n}")), "{word}={n}:\n{log}");
    }

    // Two executors ran the UDF in Python workers (each log shows their timings), on two hosts.
    let executors = pods(&ep, "sparkoss.io%2Fjob%3Dpywordcount%2Cspark-role%3Dexecutor");
    assert_eq!(executors.len(), 2, "{executors:?}");
    for e in &executors {
        let name = e["metadata"]["name"].as_str().expect("name");
        let elog = get_text(&ep.kubernetes_endpoint, &format!("/api/v1/namespaces/team-a/pods/{name}/log"));
        assert!(
            elog.lines().any(|l| l.contains("Times: total =") && l.contains("boot =")),
            "executor {name} started Python workers:\n{elog}"
        );
    }
    let hosts_line = log.lines().find(|l| l.contains("pyspark-wordcount: udf ran on")).unwrap_or_default();
    assert!(hosts_line.contains("udf ran on 2 hosts"), "the UDF ran on both executors: {hosts_line:?}\n{log}");

    // A new upload of the .py re-runs the job at the next plan.
    let changed = dir.path().join("wordcount.py");
    let source = std::fs::read_to_string(&script).expect("script");
    std::fs::write(&changed, format!("{source}\n# changed\n")).expect("changed script");
    oss_put(&ep, "sparkoss-demo", &[("pyspark/wordcount.py", &changed)]);
    let plan = wd.plan_json().expect("plan");
    assert_eq!(job_change(&plan).as_deref(), Some(r#"["delete","create"]"#), "a new .py re-runs the job");

    // A run that raises: the apply fails, and the error leads with the Python exception.
    let out = wd.apply(&["-var", r#"args=["missing.txt"]"#]).expect("apply runs");
    assert!(!out.success, "the failing job fails the apply:\n{}", out.stdout);
    let errors = out.json_errors();
    let (error_summary, detail) = errors.iter().find(|(s, _)| s == "Spark job failed").expect("a Spark job failed error");
    let first = detail.lines().next().unwrap_or_default();
    assert_eq!(first, "ValueError: no input file 'missing.txt' in the working directory", "{error_summary}:\n{detail}");
    // Then the frames of the user's file, as Python prints them (outermost first).
    let frames: Vec<&str> = detail.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(frames.first().map(|l| l.trim_start()), Some("File \"/opt/spark/work-dir/wordcount.py\", line 56, in <module>"), "{detail}");
    assert!(frames.iter().any(|l| l.contains("wordcount.py") && l.contains("in main")), "the raising frame:\n{detail}");
    assert!(frames.iter().any(|l| l.contains("raise ValueError")), "its source line:\n{detail}");
    assert!(!detail.lines().take(4).any(|l| l.contains("Py4J") || l.contains("pyspark.zip")), "{detail}");

    let out = wd.destroy().expect("destroy runs");
    assert!(out.success, "terraform destroy:\n{}\n{}", out.stdout, out.stderr);
    assert!(pods(&ep, "sparkoss.io%2Fjob%3Dpywordcount").is_empty(), "nothing left");

    // The same .py through Spark's own `spark-submit --deploy-mode cluster`: the image's
    // entrypoint fetches the .py, the zip ($SPARKOSS_PY_FILES) and the input.
    oss_put(&ep, "sparkoss-demo", &[("pyspark/wordcount.py", &script)]);
    let out = submit_pyspark(&ep, &image.reference, true).expect("submit-pyspark.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "spark-submit:\n{stderr}");
    assert!(!stderr.contains(&ep.access_key_secret), "the OSS secret reached spark-submit's output");
    let ns = "spark-jobs";
    let driver_of = || {
        let (_, list) =
            request(&ep.kubernetes_endpoint, "GET", &format!("/api/v1/namespaces/{ns}/pods?labelSelector=spark-role%3Ddriver"), None)
                .expect("pods");
        list["items"][0].clone()
    };
    // Spark's own watcher (waitAppCompletion) followed the driver to its end before returning.
    let driver = driver_of();
    let name = driver["metadata"]["name"].as_str().expect("driver name").to_owned();
    let log = get_text(&ep.kubernetes_endpoint, &format!("/api/v1/namespaces/{ns}/pods/{name}/log"));
    assert_eq!(driver["status"]["phase"], "Succeeded", "the cluster-mode driver succeeded:\n{log}");
    assert!(stderr.contains("phase: Succeeded"), "spark-submit's watcher saw the end:\n{stderr}");
    for object in
        ["oss://sparkoss-demo/pyspark/wordcount.py", "oss://sparkoss-demo/pyspark/textutil.zip", "oss://sparkoss-demo/input/words.txt"]
    {
        assert!(log.contains(&format!("sparkoss-launcher: fetched {object}")), "the entrypoint fetched {object}:\n{log}");
    }
    assert!(log.contains(&summary), "the result `{summary}`:\n{log}");
    assert!(log.contains("udf ran on 2 hosts"), "the UDF ran on both executors:\n{log}");
    assert!(lc.stop(), "the local cloud stops");
}
