//! `sparkoss_job` with real Terraform against the local cloud's Kubernetes API and its
//! rule-based kubelet: run (with `files` and the namespace's OSS credentials Secret) →
//! import-verify → pod deleted out of band → re-run → destroy (1.15 and 1.0); the failures (job
//! fails with its log tail, quota too small, missing jar on OSS, ImagePullBackOff within
//! `pending_timeout`, clashing file names at plan); the provider's OSS endpoint and region in the
//! driver's environment. Every scenario runs with both Terraform versions.

use std::time::Instant;

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{local_provider, provider_bin, KubeconfigFile, LocalCloudProcess, Terraform, Workdir, TERRAFORM_HEADER};
use sparkoss_testkit::kube_client::{request, set_kubelet_rule};

const HEADER: &str = TERRAFORM_HEADER;

fn job(label: &str, conn: &str, ns: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
resource "sparkoss_job" "{label}" {{
  {conn}
  namespace        = {ns}
  name             = "{name}"
  user             = "team-a"
  image            = "registry.example.com/acme/spark-oss:3.5.3"
  main_application = "local:///opt/spark/examples/jars/spark-examples.jar"
  main_class       = "org.apache.spark.examples.SparkPi"
  args             = ["100"]
  driver {{
    cores  = 1
    memory = "1g"
  }}
  executor {{
    instances = 2
    cores     = 1
    memory    = "1g"
  }}
  {extra}
}}
"#
    )
}

/// Two files the launcher fetches next to the job: one from the image, one from the web.
const FILES: &str = r#"files = ["local:///opt/spark/examples/src/main/resources/people.txt", "https://example.com/data/lookup.csv"]"#;

fn get(ep: &str, path: &str) -> (u16, Value) {
    request(ep, "GET", path, None).expect("kube API answers")
}

#[test]
fn job_runs_imports_reruns_and_is_destroyed() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    set_kubelet_rule(&ep, &json!({"outcome": "succeed", "run_ms": 1200, "log_lines": 3})).expect("rule");
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let conn = kc.argument();
    for tf in Terraform::all().expect("terraform") {
        let ns = format!("jobs-{}", tf.label.replace('.', "-"));
        let main = format!(
            "{HEADER}provider \"sparkoss\" {{}}\nresource \"sparkoss_namespace\" \"team\" {{\n  {conn}\n  name = \"{ns}\"\n  quota {{\n    cpu = \"8\"\n    memory = \"16Gi\"\n    limits_cpu = \"8\"\n  }}\n  oss_credentials {{\n    access_key_id = \"AKID\"\n    access_key_secret = \"s3cr3t\"\n  }}\n}}\n{}",
            job("etl", &conn, "sparkoss_namespace.team.name", "etl", &format!("{FILES}\n  oss_credentials_secret = sparkoss_namespace.team.oss_credentials_secret"))
        );
        let wd = Workdir::new(&tf, &provider, &main).expect("workdir");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);

        let state = wd.state_resources();
        let attrs = &state.iter().find(|r| r["type"] == "sparkoss_job").expect("job in state")["instances"][0]["attributes"];
        assert_eq!(attrs["state"], "SUCCEEDED", "{attrs}");
        assert_eq!(attrs["exit_code"], 0);
        assert_eq!(attrs["driver_pod"], "etl-driver");
        assert!(attrs["spark_app_id"].as_str().is_some_and(|s| s.starts_with("spark-")), "{attrs}");
        // Requests: driver 1 core + 2 executors × 1 core; memory (1g + 384m overhead) × 3.
        let secs = attrs["cpu_core_seconds"].as_i64().expect("cpu seconds") / 3;
        assert!((0..=5).contains(&secs), "{attrs}");
        assert!((attrs["memory_gib_seconds"].as_f64().expect("gib seconds") - secs as f64 * 3.0 * 1408.0 / 1024.0).abs() < 1e-6, "{attrs}");

        let (code, pod) = get(&ep, &format!("/api/v1/namespaces/{ns}/pods/etl-driver"));
        assert_eq!(code, 200);
        let labels = &pod["metadata"]["labels"];
        assert_eq!(labels["sparkoss.io/job"], "etl");
        assert_eq!(labels["sparkoss.io/user"], "team-a");
        assert_eq!(labels["spark-role"], "driver");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "sparkoss");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"], json!({"cpu": "1", "memory": "1408Mi"}));
        assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
        let args: Vec<&str> = c["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
        assert!(args.contains(&"spark.kubernetes.executor.label.sparkoss.io/job=etl"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--main-application", "local:///opt/spark/examples/jars/spark-examples.jar"]), "{args:?}");
        // args and files are sensitive: the launcher gets them from the job's Secret.
        assert!(!args.contains(&"--arg") && !args.contains(&"--file"), "{args:?}");
        let (code, secret) = get(&ep, &format!("/api/v1/namespaces/{ns}/secrets/etl-job-spec"));
        assert_eq!(code, 200, "{secret}");
        use base64::Engine as _;
        let flags = secret["data"]["SPARKOSS_JOB_FLAGS"].as_str().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        let flags: Vec<String> = flags.and_then(|b| serde_json::from_slice(&b).ok()).expect("the job's flags in its Secret");
        assert_eq!(&flags[flags.len() - 2..], ["--arg", "100"]);
        let files: Vec<&str> = flags.windows(2).filter(|w| w[0] == "--file").map(|w| w[1].as_str()).collect();
        assert_eq!(files, ["local:///opt/spark/examples/src/main/resources/people.txt", "https://example.com/data/lookup.csv"]);
        assert_eq!(secret["metadata"]["ownerReferences"][0]["uid"], pod["metadata"]["uid"], "the Secret is owned by the driver pod");
        assert_eq!(c["envFrom"][0]["secretRef"]["name"], "sparkoss-oss-credentials", "{c}");
        assert_eq!(c["envFrom"][1]["secretRef"]["name"], "etl-job-spec", "{c}");
        let (code, svc) = get(&ep, &format!("/api/v1/namespaces/{ns}/services/etl-driver-svc"));
        assert_eq!(code, 200);
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], pod["metadata"]["uid"]);

        let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan");
        assert!(plan.success, "terraform {}: no changes expected: {}\n{}", tf.label, plan.stdout, plan.stderr);

        // Import by namespace/name, connection from KUBECONFIG: the imported state plans no changes.
        let mut imp = Workdir::new(
            &tf,
            &provider,
            &format!(
                "{HEADER}provider \"sparkoss\" {{}}\n{}",
                job("etl", "", &format!("{ns:?}"), "etl", &format!("{FILES}\n  oss_credentials_secret = \"sparkoss-oss-credentials\""))
            ),
        )
        .expect("workdir");
        imp.set_env("KUBECONFIG", &kc.path.display().to_string());
        let out = imp.import("sparkoss_job.etl", &format!("{ns}/etl")).expect("import runs");
        assert!(out.success, "terraform {} import: {}\n{}", tf.label, out.stdout, out.stderr);
        let plan = imp.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan");
        assert!(plan.success, "terraform {}: import must reproduce the state: {}\n{}", tf.label, plan.stdout, plan.stderr);

        // The driver pod deleted out of band: the next plan runs the job again.
        let (code, _) = request(&ep, "DELETE", &format!("/api/v1/namespaces/{ns}/pods/etl-driver"), None).expect("delete");
        assert_eq!(code, 200);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{ns}/services/etl-driver-svc")).0, 404, "service is owned by the pod");
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{ns}/secrets/etl-job-spec")).0, 404, "the job's Secret is owned by the pod");
        let plan = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan");
        assert!(plan.stdout.contains("sparkoss_job.etl will be created"), "{}", plan.stdout);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}", out.stderr);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{ns}/pods/etl-driver")).1["status"]["phase"], "Succeeded");

        let out = wd.destroy().expect("destroy");
        assert!(out.success, "{}", out.stderr);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{ns}/pods/etl-driver")).0, 404);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{ns}")).0, 404);
    }
}

#[test]
fn job_failures_are_reported_with_their_reason() {
    for tf in Terraform::all().expect("terraform") {
        // Captured output names the version when an assertion fails.
        eprintln!("== terraform {}", tf.label);
        job_failures_are_reported_with_their_reason_on(&tf);
    }
}

fn job_failures_are_reported_with_their_reason_on(tf: &Terraform) {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let conn = kc.argument();
    for (ns, quota) in [("fails", None), ("small", Some("3")), ("pull", None), ("jar", None), ("trace", None)] {
        let (code, body) = request(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": ns}}))).expect("create ns");
        assert_eq!(code, 201, "{body}");
        // The driver's service account, as sparkoss_namespace would make it (pods naming a
        // missing one are refused at admission).
        let sa = json!({"metadata": {"name": "spark-driver"}});
        assert_eq!(request(&ep, "POST", &format!("/api/v1/namespaces/{ns}/serviceaccounts"), Some(&sa)).expect("sa").0, 201);
        if let Some(cpu) = quota {
            let q = json!({"metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": cpu, "pods": "10"}}});
            assert_eq!(request(&ep, "POST", &format!("/api/v1/namespaces/{ns}/resourcequotas"), Some(&q)).expect("quota").0, 201);
        }
    }
    set_kubelet_rule(&ep, &json!({"outcome": "fail", "namespace": "fails", "message": "java.lang.IllegalStateException: input missing", "log_lines": 80, "run_ms": 200}))
        .expect("rule");
    set_kubelet_rule(&ep, &json!({"outcome": "image-pull-backoff", "namespace": "pull"})).expect("rule");
    // A driver that dies the way Spark does: a log4j line, the exception, its frames and causes.
    let trace = [
        "26/11/27 12:00:05 ERROR SparkContext: Error initializing SparkContext.",
        "org.apache.spark.SparkException: External scheduler cannot be instantiated",
        "\tat org.apache.spark.SparkContext$.createTaskScheduler(SparkContext.scala:3204)",
        "Caused by: io.fabric8.kubernetes.client.KubernetesClientException: Operation: [get]  for kind: [Pod]  with name: [etl-driver]  in namespace: [trace]  failed.",
        "\t... 20 more",
        "Caused by: java.net.ConnectException: Failed to connect to kubernetes.default.svc/10.0.0.1:443",
        "\tat okhttp3.internal.connection.RealConnection.connectSocket(RealConnection.kt:297)",
        "\t... 31 more",
        "26/11/27 12:00:05 INFO ShutdownHookManager: Shutdown hook called",
    ];
    set_kubelet_rule(
        &ep,
        &json!({"outcome": "fail", "namespace": "trace", "log_lines": 80, "run_ms": 200, "last_lines": trace, "message": "see the log"}),
    )
    .expect("rule");

    let provider_block = local_provider(&lc.endpoints, &["oss"]);
    let main = [
        HEADER.to_owned(),
        provider_block,
        job("fails", &conn, "\"fails\"", "etl", ""),
        job("pull", &conn, "\"pull\"", "etl", "pending_timeout = \"2m\""),
        job("jar", &conn, "\"jar\"", "etl", "")
            .replace("local:///opt/spark/examples/jars/spark-examples.jar", "oss://no-such-bucket/jobs/missing.jar"),
        job("trace", &conn, "\"trace\"", "etl", ""),
    ]
    .concat();
    let wd = Workdir::new(tf, &provider, &main).expect("workdir");
    let started = Instant::now();
    let out = wd.apply(&[]).expect("apply runs");
    assert!(!out.success, "every job here fails");
    let errors = out.json_errors();
    let find = |summary: &str| {
        errors
            .iter()
            .find(|(s, _)| s == summary)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no {summary:?} error in {errors:#?}\n{}", out.stderr))
    };

    // The root cause leads: the exception and its `Caused by` chain, then a shortened tail.
    let traced = errors
        .iter()
        .filter(|(s, _)| s == "Spark job failed")
        .map(|(_, d)| d.clone())
        .find(|d| d.contains("pod trace/"))
        .unwrap_or_else(|| panic!("no failure of job trace in {errors:#?}"));
    let cause = "driver pod trace/etl-driver failed with exit code 1:\norg.apache.spark.SparkException: External scheduler cannot be instantiated\n\
        Caused by: io.fabric8.kubernetes.client.KubernetesClientException: Operation: [get]  for kind: [Pod]  with name: [etl-driver]  in namespace: [trace]  failed.\n\
        Caused by: java.net.ConnectException: Failed to connect to kubernetes.default.svc/10.0.0.1:443\n\nLast 20 log lines:\n";
    assert!(traced.starts_with(cause), "{traced}");
    assert!(traced.ends_with("ERROR see the log") && !traced.contains("etl-driver log line 70\n"), "a short tail follows: {traced}");

    let failed = errors
        .iter()
        .filter(|(s, _)| s == "Spark job failed")
        .map(|(_, d)| d.clone())
        .find(|d| d.contains("pod fails/"))
        .expect("fails fails");
    assert!(failed.contains("exit code 1: java.lang.IllegalStateException: input missing"), "{failed}");
    assert!(failed.contains("etl-driver log line 80") && failed.contains("etl-driver log line 32\n"), "{failed}");
    assert!(!failed.contains("etl-driver log line 31\n"), "only the last 50 lines: {failed}");

    // A job over its namespace's quota is refused at plan (the namespace exists), so it gets a
    // configuration of its own: in the one above it would stop every job before apply.
    // 1 + 2 executors × 1 core = 3 cores fit; × 2 cores (5) do not.
    let small_main = [
        HEADER.to_owned(),
        local_provider(&lc.endpoints, &["oss"]),
        job("small", &conn, "\"small\"", "etl", "").replace("instances = 2\n    cores     = 1", "instances = 2\n    cores     = 2"),
    ]
    .concat();
    let small_wd = Workdir::new(tf, &provider, &small_main).expect("workdir");
    let small_out = small_wd.apply(&[]).expect("apply runs");
    assert!(!small_out.success, "the small job does not fit");
    let small = small_out
        .json_errors()
        .into_iter()
        .find(|(s, _)| s == "Job does not fit the namespace quota")
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no quota error in {:#?}", small_out.json_errors()));
    assert!(small.contains("quota compute allows requests.cpu=3") && small.contains("needs 5"), "{small}");
    assert!(small_wd.state_resources().is_empty(), "{:?}", small_wd.state_resources());

    let pull = find("Spark job did not start");
    assert!(pull.contains("ImagePullBackOff"), "{pull}");
    // Fails fast: well within the 2 minute pending_timeout.
    assert!(started.elapsed().as_secs() < 60, "took {:?}", started.elapsed());

    let jar = find("Main application not found");
    assert!(jar.contains("oss://no-such-bucket/jobs/missing.jar"), "{jar}");

    // Nothing is left behind: no state, and no pods in the pre-flight failures' namespaces.
    assert!(wd.state_resources().is_empty(), "{:?}", wd.state_resources());
    for ns in ["small", "jar", "pull", "fails"] {
        let (_, pods) = get(&ep, &format!("/api/v1/namespaces/{ns}/pods"));
        assert_eq!(pods["items"], json!([]), "{ns}: {pods}");
    }
}

fn put_jar(lc: &LocalCloudProcess, content: &str) {
    let py = sparkoss_acceptance_tests::repo_root().join(".tools/venv/bin/python");
    let script = "import oss2, sys\nb = oss2.Bucket(oss2.Auth(sys.argv[1], sys.argv[2]), sys.argv[3], 'jars')\ntry:\n    b.create_bucket()\nexcept oss2.exceptions.ServerError as e:\n    if e.status != 409: raise\nb.put_object('etl/app.jar', sys.argv[4].encode())\n";
    let out = std::process::Command::new(py)
        .args(["-c", script, &lc.endpoints.access_key_id, &lc.endpoints.access_key_secret, &lc.endpoints.oss_endpoint, content])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "uploading the jar with oss2: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_jar_replaced_on_oss_plans_a_rerun() {
    for tf in Terraform::all().expect("terraform") {
        // Captured output names the version when an assertion fails.
        eprintln!("== terraform {}", tf.label);
        a_jar_replaced_on_oss_plans_a_rerun_on(&tf);
    }
}

fn a_jar_replaced_on_oss_plans_a_rerun_on(tf: &Terraform) {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    set_kubelet_rule(&ep, &json!({"outcome": "succeed", "run_ms": 100})).expect("rule");
    assert_eq!(request(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "etag"}}))).expect("ns").0, 201);
    let sa = json!({"metadata": {"name": "spark-driver"}});
    assert_eq!(request(&ep, "POST", "/api/v1/namespaces/etag/serviceaccounts", Some(&sa)).expect("sa").0, 201);
    put_jar(&lc, "first build");
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let conn = kc.argument();
    let provider_block = local_provider(&lc.endpoints, &["oss"]);
    let main = [
        HEADER.to_owned(),
        provider_block,
        job("etl", &conn, "\"etag\"", "etl", "").replace("local:///opt/spark/examples/jars/spark-examples.jar", "oss://jars/etl/app.jar"),
    ]
    .concat();
    let wd = Workdir::new(tf, &provider, &main).expect("workdir");
    let out = wd.apply(&[]).expect("apply runs");
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    // The driver reaches the OSS the provider's pre-flight used.
    let (_, pod) = get(&ep, "/api/v1/namespaces/etag/pods/etl-driver");
    let env: Vec<(&str, &str)> = pod["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    assert!(env.contains(&("SPARKOSS_OSS_ENDPOINT", lc.endpoints.oss_endpoint.as_str())), "{env:?}");
    assert!(env.contains(&("ALIBABA_CLOUD_REGION", "cn-local")), "{env:?}");
    let state = wd.state_resources();
    let etag = state[0]["instances"][0]["attributes"]["main_application_etag"].as_str().expect("etag recorded").to_owned();
    assert!(!etag.is_empty());
    let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan");
    assert!(plan.success, "unchanged jar, no changes: {}\n{}", plan.stdout, plan.stderr);

    put_jar(&lc, "second build");
    let plan = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan");
    assert!(
        plan.stdout.contains("must be replaced") && plan.stdout.contains(&format!("changed on OSS since the run: ETag {etag} -> ETag")),
        "{}",
        plan.stdout
    );
    let out = wd.apply(&[]).expect("apply runs");
    assert!(out.success, "{}", out.stderr);
    let rerun = wd.state_resources()[0]["instances"][0]["attributes"]["main_application_etag"].as_str().map(str::to_owned);
    assert!(rerun.is_some_and(|e| e != etag), "the re-run records the new ETag");
}

#[test]
fn clashing_file_names_fail_at_plan_on_the_element() {
    for tf in Terraform::all().expect("terraform") {
        // Captured output names the version when an assertion fails.
        eprintln!("== terraform {}", tf.label);
        clashing_file_names_fail_at_plan_on_the_element_on(&tf);
    }
}

fn clashing_file_names_fail_at_plan_on_the_element_on(tf: &Terraform) {
    let provider = provider_bin().expect("provider builds");
    let files = r#"files = ["oss://data/2026/input.csv", "https://example.com/other/input.csv?sig=s3cr3t"]"#;
    let main = [HEADER.to_owned(), "provider \"sparkoss\" {}\n".to_owned(), job("etl", "", "\"team\"", "etl", files)].concat();
    let wd = Workdir::new(tf, &provider, &main).expect("workdir");
    let v = wd.validate().expect("validate runs");
    let errors = v.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].summary, "Duplicate file name");
    assert!(errors[0].detail.contains("files[1] and files[0]") && errors[0].detail.contains("\"input.csv\""), "{}", errors[0].detail);
    assert!(!errors[0].detail.contains("s3cr3t"), "{}", errors[0].detail);
    // The diagnostic points at the `files` line of the configuration.
    let line = main.lines().position(|l| l.trim_start().starts_with("files")).map(|i| i as u64 + 1);
    assert_eq!(errors[0].line(), line, "{:#?}", errors[0]);
}

#[test]
fn executors_that_cannot_start_fail_the_job_naming_the_pod() {
    for tf in Terraform::all().expect("terraform") {
        // Captured output names the version when an assertion fails.
        eprintln!("== terraform {}", tf.label);
        executors_that_cannot_start_fail_the_job_naming_the_pod_on(&tf);
    }
}

fn executors_that_cannot_start_fail_the_job_naming_the_pod_on(tf: &Terraform) {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    // The driver runs (long); the executor Spark would create cannot pull its image.
    set_kubelet_rule(&ep, &json!({"outcome": "succeed", "run_ms": 120_000, "namespace": "stuck"})).expect("rule");
    assert_eq!(request(&ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "stuck"}}))).expect("ns").0, 201);
    let sa = json!({"metadata": {"name": "spark-driver"}});
    assert_eq!(request(&ep, "POST", "/api/v1/namespaces/stuck/serviceaccounts", Some(&sa)).expect("sa").0, 201);
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let main = [
        HEADER.to_owned(),
        "provider \"sparkoss\" {}\n".to_owned(),
        job("stuck", &kc.argument(), "\"stuck\"", "etl", "pending_timeout = \"30s\""),
    ]
    .concat();
    let wd = Workdir::new(tf, &provider_bin().expect("provider builds"), &main).expect("workdir");

    // What Spark's scheduler does once the driver runs: an executor pod owned by the driver.
    let ep2 = ep.clone();
    let executor = std::thread::spawn(move || {
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (code, d) = get(&ep2, "/api/v1/namespaces/stuck/pods/etl-driver");
            if code == 200 && d["status"]["phase"] == "Running" {
                let pod = json!({"metadata": {"name": "etl-exec-1",
                    "labels": {"sparkoss.io/job": "etl", "spark-role": "executor"},
                    "annotations": {"localcloud.sparkoss.io/kubelet-rule": "image-pull-backoff"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "etl-driver", "uid": d["metadata"]["uid"]}]},
                    "spec": {"containers": [{"name": "spark-kubernetes-executor", "image": "registry.example.com/acme/missing:1"}]}});
                return request(&ep2, "POST", "/api/v1/namespaces/stuck/pods", Some(&pod)).expect("executor").0;
            }
            assert!(Instant::now() < deadline, "the driver never ran: {d}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let started = Instant::now();
    let out = wd.apply(&[]).expect("apply runs");
    assert_eq!(executor.join().expect("executor thread"), 201);
    assert!(!out.success, "the job cannot run");
    let errors = out.json_errors();
    let detail = errors
        .iter()
        .find(|(s, _)| s == "Spark job's executors did not start")
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| panic!("no executor error in {errors:#?}"));
    assert!(detail.contains("executor pod stuck/etl-exec-1") && detail.contains("ImagePullBackOff"), "{detail}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "an image that cannot be pulled fails at once, not after the timeout");
    // The driver was stopped, and its executor went with it.
    let (_, pods) = get(&ep, "/api/v1/namespaces/stuck/pods");
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(0), "nothing left: {pods}");
}
