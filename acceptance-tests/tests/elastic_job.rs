//! Elastic `sparkoss_job`s with real Terraform:
//!
//! - the quota at plan: with the namespace in place, `terraform plan` refuses a job whose driver
//!   plus `max_instances` executors cannot fit the namespace's ResourceQuota, naming the quota,
//!   the resource, what is asked and what is free; nothing is created (1.15 and 1.0); bad elastic
//!   input is refused at `terraform validate`, naming the attribute;
//! - a real Spark job on the Docker kubelet with dynamic allocation (`min_instances = 1`,
//!   `max_instances = 4`) and `retries = 1`: its first attempt fails on purpose (it leaves a
//!   marker ConfigMap), the second finds the marker and runs a narrow stage, a wide one and an
//!   idle spell: more executor pods run during the wide stage than at its start, and they are
//!   released before the driver ends; the result is right; both attempts are labelled, kept as
//!   pods and metered by `sparkoss-meter` (Terraform 1.15 applies, 1.0 plans the same).
//!
//! Needs Docker, the Debian JDK and pyspark (scripts/install-tools) for the Spark test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{
    local_provider, meter_command_output, oss_put, provider_bin, KubeconfigFile, LocalCloudProcess, MeterProcess, Terraform, Workdir,
    TERRAFORM_HEADER,
};
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;
use sparkoss_testkit::kube_client::request;

fn get(ep: &str, path: &str) -> (u16, Value) {
    request(ep, "GET", path, None).expect("kube API answers")
}

fn namespace(conn: &str, ns: &str) -> String {
    format!(
        r#"
resource "sparkoss_namespace" "team" {{
  {conn}
  name = "{ns}"
  quota {{
    cpu    = "4"
    memory = "8Gi"
  }}
}}
"#
    )
}

fn elastic_job(conn: &str, ns: &str, executor: &str, extra: &str) -> String {
    format!(
        r#"
resource "sparkoss_job" "elastic" {{
  {conn}
  namespace        = "{ns}"
  name             = "elastic"
  image            = "registry.example.com/acme/spark-oss:3.5.3"
  main_application = "local:///opt/spark/examples/jars/spark-examples.jar"
  main_class       = "org.apache.spark.examples.SparkPi"
  driver {{
    cores  = 1
    memory = "1g"
  }}
  executor {{
    cores  = 1
    memory = "1g"
    {executor}
  }}
  {extra}
}}
"#
    )
}

#[test]
fn a_job_bigger_than_the_free_quota_is_refused_at_plan_and_bad_input_at_validate() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let conn = kc.argument();
    for tf in Terraform::all().expect("terraform") {
        let ns = format!("quota-{}", tf.label.replace('.', "-"));
        // Namespace and job in one configuration: the namespace does not exist at the first
        // plan, so the plan cannot judge the quota and leaves it to apply; it plans.
        let fits = elastic_job(&conn, &ns, "min_instances = 1\n    max_instances = 2", "wait_for_completion = false");
        let wd = Workdir::new(&tf, &provider, &format!("{TERRAFORM_HEADER}provider \"sparkoss\" {{}}\n{}{fits}", namespace(&conn, &ns)))
            .expect("workdir");
        let out = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan runs");
        assert!(out.success, "terraform {}: a plan before the namespace exists: {}\n{}", tf.label, out.stdout, out.stderr);
        let out = wd.apply(&["-target=sparkoss_namespace.team"]).expect("apply runs");
        assert!(out.success, "terraform {} apply of the namespace: {}\n{}", tf.label, out.stdout, out.stderr);

        // Driver 1 core + 4 executors × 1 core = 5 cores > 4: refused at plan.
        let too_big = elastic_job(&conn, &ns, "min_instances = 1\n    max_instances = 4", "wait_for_completion = false");
        let wd2 = Workdir::new(&tf, &provider, &format!("{TERRAFORM_HEADER}provider \"sparkoss\" {{}}\n{too_big}")).expect("workdir");
        let t0 = Instant::now();
        let out = wd2.run(&["plan", "-input=false", "-no-color"]).expect("plan runs");
        assert!(!out.success, "terraform {}: the plan must fail: {}", tf.label, out.stdout);
        let err = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(err.contains("Job does not fit the namespace quota"), "terraform {}: {}", tf.label, out.stderr);
        assert!(
            err.contains(&format!("namespace {ns} quota "))
                && err.contains("allows requests.cpu=4 with 0 in use (4 free); this job needs 5 (driver 1 + 4 executors × 1)"),
            "terraform {}: quota, resource, asked and free named: {}",
            tf.label,
            out.stderr
        );
        eprintln!("terraform {}: plan refused in {:.1}s", tf.label, t0.elapsed().as_secs_f64());
        // Nothing was created by the refused plan: no pod in the namespace.
        let (code, pods) = get(&ep, &format!("/api/v1/namespaces/{ns}/pods"));
        assert_eq!(code, 200);
        assert_eq!(pods["items"].as_array().map(Vec::len), Some(0), "terraform {}: nothing created: {pods}", tf.label);

        // The job that fits plans (the namespace exists now, so the quota was read).
        let out = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan runs");
        assert!(out.success, "terraform {}: a job that fits plans: {}\n{}", tf.label, out.stdout, out.stderr);

        // Bad elastic input: refused at validate, naming the attribute.
        for (executor, extra, attr, says) in [
            ("instances = 2\n    max_instances = 4", "", "instances", "turns on dynamic allocation"),
            ("min_instances = 5\n    max_instances = 4", "", "min_instances", "is greater than executor.max_instances"),
            (
                "min_instances = 1\n    max_instances = 4\n    initial_instances = 6",
                "",
                "initial_instances",
                "outside [min_instances, max_instances]",
            ),
            (
                "instances = 1\n    tolerations {\n      key = \"k\"\n      operator = \"Sometimes\"\n    }",
                "",
                "operator",
                "use one of Equal, Exists",
            ),
            ("instances = 1\n    tolerations {\n      key = \"k\"\n      effect = \"NoRun\"\n    }", "", "effect", "NoSchedule"),
            ("instances = 1\n    labels = { \"spark-role\" = \"x\" }", "", "labels", "sparkoss sets"),
            ("instances = 1", "retries = 1\n  wait_for_completion = false", "retries", "wait_for_completion"),
        ] {
            let bad = Workdir::new(
                &tf,
                &provider,
                &format!("{TERRAFORM_HEADER}provider \"sparkoss\" {{}}\n{}", elastic_job(&conn, &ns, executor, extra)),
            )
            .expect("workdir");
            let v = bad.validate().expect("validate runs");
            let errors = v.errors();
            assert!(!errors.is_empty(), "terraform {}: {attr} must be refused", tf.label);
            let all = format!("{errors:?}");
            assert!(all.contains(says), "terraform {}: {attr}: {all}", tf.label);
            assert!(all.contains(attr), "terraform {}: the attribute {attr} is named: {all}", tf.label);
        }
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "terraform {} destroy: {}\n{}", tf.label, out.stdout, out.stderr);
    }
}

/// What a poller saw of the job's pods, every half second.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    /// Executors running (phase Running, not being deleted), by attempt label.
    executors: Vec<(String, String)>,
    /// The driver pods and their phases.
    drivers: Vec<(String, String)>,
}

fn poll_pods(ep: String, ns: String, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<Sample>>> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((200, list)) =
                request(&ep, "GET", &format!("/api/v1/namespaces/{ns}/pods?labelSelector=sparkoss.io%2Fjob%3Delastic"), None)
            {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let of = |role: &'static str| items.iter().filter(move |p| p["metadata"]["labels"]["spark-role"] == role);
                let name = |p: &Value| p["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                let executors = of("executor")
                    .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
                    .map(|p| (name(p), p["metadata"]["labels"]["sparkoss.io/attempt"].as_str().unwrap_or("?").to_owned()))
                    .collect();
                let drivers = of("driver").map(|p| (name(p), p["status"]["phase"].as_str().unwrap_or("?").to_owned())).collect();
                out.lock().unwrap_or_else(|p| p.into_inner()).push(Sample { at: Instant::now(), executors, drivers });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    samples
}

#[test]
fn an_elastic_job_grows_shrinks_and_succeeds_on_its_second_attempt() {
    let jar = example_job_jar().expect("the example jobs build");
    let image = build_quickstart_image(&mut |l| eprintln!("elastic: {l}")).expect("the quick start image builds and pushes");
    let lc = LocalCloudProcess::start(&["--kubelet", "docker", "--node-cpus", "8"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let k8s = ep.kubernetes_endpoint.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    oss_put(&ep, "sparkoss-elastic", &[("jobs/examples.jar", &jar)]);
    let kc = KubeconfigFile::new(&k8s).expect("kubeconfig");
    let conn = kc.argument();
    let db = format!("sqlite://{}", dir.path().join("meter.db").display());
    let meter = MeterProcess::start(&db, &ep, &kc.path, &["--interval", "5s"]).expect("the meter starts");

    let ns = "elastic";
    let job = format!(
        r#"
resource "sparkoss_namespace" "team" {{
  {conn}
  name = "{ns}"
  user = "team-e"
  quota {{
    cpu    = "8"
    memory = "16Gi"
  }}
  oss_credentials {{
    access_key_id     = {key:?}
    access_key_secret = {secret:?}
  }}
}}

resource "sparkoss_job" "elastic" {{
  {conn}
  namespace              = sparkoss_namespace.team.name
  name                   = "elastic"
  image                  = {image:?}
  main_application       = "oss://sparkoss-elastic/jobs/examples.jar"
  main_class             = "io.sparkoss.examples.ElasticStages"
  args                   = ["24", "2500", "30", "elastic-marker"]
  oss_credentials_secret = sparkoss_namespace.team.oss_credentials_secret
  retries                = 1
  retry_interval         = "2s"
  driver {{
    cores  = 1
    memory = "512m"
    labels = {{ "example.com/tier" = "stable" }}
  }}
  executor {{
    cores         = 1
    memory        = "512m"
    min_instances = 1
    max_instances = 4
    labels        = {{ "example.com/tier" = "elastic" }}
  }}
  spark_conf = {{
    "spark.dynamicAllocation.schedulerBacklogTimeout"  = "1s"
    "spark.dynamicAllocation.executorIdleTimeout"      = "4s"
    "spark.dynamicAllocation.shuffleTracking.timeout"  = "4s"
    "spark.ui.enabled"                                 = "false"
  }}
}}
"#,
        key = ep.access_key_id,
        secret = ep.access_key_secret,
        image = image.reference,
    );
    let main = format!("{TERRAFORM_HEADER}{}{job}", local_provider(&ep, &["oss"]));
    let mut versions = Terraform::all().expect("terraform").into_iter();
    let tf = versions.next().expect("terraform 1.15");
    let tf10 = versions.next().expect("terraform 1.0");
    let provider = provider_bin().expect("provider builds");
    let plan10 = Workdir::new(&tf10, &provider, &main).expect("workdir").plan_json().expect("terraform 1.0 plans the elastic job");
    let job_plan =
        plan10["resource_changes"].as_array().and_then(|a| a.iter().find(|r| r["type"] == "sparkoss_job")).cloned().expect("job planned");
    // A single nested block is an object in Terraform's JSON.
    let executor = &job_plan["change"]["after"]["executor"];
    assert_eq!(executor["max_instances"], 4, "terraform 1.0: {job_plan}");
    assert!(
        executor.as_object().is_some_and(|e| e.contains_key("instances")) && executor["instances"].is_null(),
        "terraform 1.0: no fixed instances: {job_plan}"
    );

    let wd = Workdir::new(&tf, &provider, &main).expect("workdir");
    let stop = Arc::new(AtomicBool::new(false));
    let samples = poll_pods(k8s.clone(), ns.to_owned(), stop.clone());
    let t0 = Instant::now();
    let out = wd.apply(&[]).expect("apply runs");
    let t_apply = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(out.success, "terraform apply:\n{}\n{}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains(&ep.access_key_secret) && !out.stderr.contains(&ep.access_key_secret),
        "a secret reached Terraform's output"
    );

    let state = wd.state_resources();
    let attrs = &state.iter().find(|r| r["type"] == "sparkoss_job").expect("job in state")["instances"][0]["attributes"];
    assert_eq!(attrs["state"], "SUCCEEDED", "{attrs}");
    assert_eq!(attrs["attempts"], 2, "{attrs}");
    assert_eq!(attrs["driver_pod"], "elastic-driver-2", "{attrs}");
    assert!(attrs["executor"]["max_instances"] == 4 && attrs["executor"]["instances"].is_null(), "{attrs}");

    // Both attempts are pods with their attempt label; the first failed on purpose.
    let (_, first) = get(&k8s, &format!("/api/v1/namespaces/{ns}/pods/elastic-driver"));
    let (_, second) = get(&k8s, &format!("/api/v1/namespaces/{ns}/pods/elastic-driver-2"));
    assert_eq!(
        (first["metadata"]["labels"]["sparkoss.io/attempt"].as_str(), first["status"]["phase"].as_str()),
        (Some("1"), Some("Failed")),
        "{first}"
    );
    assert_eq!(
        (second["metadata"]["labels"]["sparkoss.io/attempt"].as_str(), second["status"]["phase"].as_str()),
        (Some("2"), Some("Succeeded")),
        "{second}"
    );
    assert_eq!(second["metadata"]["labels"]["example.com/tier"], "stable", "{second}");
    let log1 = sparkoss_acceptance_tests::get_text(&k8s, &format!("/api/v1/namespaces/{ns}/pods/elastic-driver/log"));
    assert!(log1.contains("first run fails on purpose (marker elastic/elastic-marker created)"), "attempt 1's log:\n{log1}");
    let log2 = sparkoss_acceptance_tests::get_text(&k8s, &format!("/api/v1/namespaces/{ns}/pods/elastic-driver-2/log"));
    assert!(log2.contains("marker elastic/elastic-marker found, running"), "attempt 2's log:\n{log2}");
    // The result: 240 numbers in 7 keys.
    assert!(log2.contains("sparkoss-elastic: keys=7 total=240"), "the result in attempt 2's log:\n{log2}");
    assert!(log2.contains("sparkoss-elastic: done"), "{log2}");

    // Executors grew during the wide stage and were released before the driver ended.
    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let running2: Vec<(Instant, usize)> = samples
        .iter()
        .filter(|s| s.drivers.iter().any(|(n, p)| n == "elastic-driver-2" && p == "Running"))
        .map(|s| (s.at, s.executors.iter().filter(|(_, a)| a == "2").count()))
        .collect();
    let first_seen = running2.iter().find(|(_, n)| *n > 0).map(|(_, n)| *n).expect("executors of attempt 2 ran");
    let peak = running2.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let peak_at = running2.iter().position(|(_, n)| *n == peak).unwrap_or(0);
    let after_peak_low = running2[peak_at..].iter().map(|(_, n)| *n).min().unwrap_or(peak);
    eprintln!(
        "elastic: executors of attempt 2 at start {first_seen}, peak {peak}, lowest after the peak while the driver ran {after_peak_low}"
    );
    assert!(first_seen <= 1, "the job starts with one executor: {running2:?}");
    assert!(peak > first_seen && peak <= 4, "more executors during the wide stage, at most max_instances: {running2:?}");
    assert!(after_peak_low < peak, "idle executors were released while the driver still ran: {running2:?}");
    let names: std::collections::BTreeSet<&String> = samples.iter().flat_map(|s| s.executors.iter().map(|(n, _)| n)).collect();
    assert!(samples.iter().flat_map(|s| s.executors.iter()).all(|(_, a)| a == "1" || a == "2"), "every executor has its attempt");
    eprintln!("elastic: {} executor pods seen running", names.len());

    // Usage counts what ran: more than the drivers alone, less than five pods for the whole apply.
    let cpu = attrs["cpu_core_seconds"].as_f64().expect("cpu seconds");
    assert!(cpu > 0.0 && cpu < 5.0 * t_apply.as_secs_f64(), "usage {cpu} core-seconds in an apply of {t_apply:?}: {attrs}");

    // The meter kept both attempts: two driver runs of the job, one failed, one succeeded.
    std::thread::sleep(Duration::from_secs(6));
    drop(meter);
    let report = meter_command_output(&db, &ep, &["report", "--by", "job", "--format", "json"]).expect("report runs");
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report: Value = serde_json::from_slice(&report.stdout).expect("report JSON");
    let rows = report["rows"].as_array().cloned().unwrap_or_else(|| report.as_array().cloned().unwrap_or_default());
    let row = rows.iter().find(|r| r["job"] == "elastic").unwrap_or_else(|| panic!("the job in the meter's report: {report}"));
    assert_eq!(row["jobs"], json!({"Failed": 1, "Succeeded": 1}), "two attempts metered: {row}");
    assert!(row["pods"].as_u64().is_some_and(|p| p >= 4), "two drivers and their executors: {row}");

    let out = wd.destroy().expect("destroy runs");
    assert!(out.success, "terraform destroy:\n{}\n{}", out.stdout, out.stderr);
    let (_, pods) = get(&k8s, &format!("/api/v1/namespaces/{ns}/pods"));
    assert_eq!(pods["items"].as_array().map(Vec::len).unwrap_or(0), 0, "no pods after destroy: {pods}");
    eprintln!("elastic timings: apply {:.1}s", t_apply.as_secs_f64());
}

/// The pods a watch saw: name → (role, node name, job) once bound.
fn bound_nodes(samples: &[Value]) -> std::collections::BTreeMap<String, (String, String, String)> {
    let mut out = std::collections::BTreeMap::new();
    for p in samples {
        if let (Some(name), Some(node)) = (p["metadata"]["name"].as_str(), p["spec"]["nodeName"].as_str()) {
            let label = |k: &str| p["metadata"]["labels"][k].as_str().unwrap_or("?").to_owned();
            out.insert(name.to_owned(), (label("spark-role"), node.to_owned(), label("sparkoss.io/job")));
        }
    }
    out
}

#[test]
fn executors_run_on_the_virtual_node_and_an_impossible_selector_fails_with_the_schedulers_reason() {
    let jar = example_job_jar().expect("the example jobs build");
    let image = build_quickstart_image(&mut |l| eprintln!("placement: {l}")).expect("the quick start image builds and pushes");
    let lc = LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "1s"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let k8s = ep.kubernetes_endpoint.clone();
    oss_put(&ep, "sparkoss-placement", &[("jobs/examples.jar", &jar)]);
    let job = |label: &str, executor: &str, extra: &str| {
        format!(
            r#"
resource "sparkoss_job" "{label}" {{
  kubeconfig       = sparkoss_cluster.c.kubeconfig
  namespace        = sparkoss_namespace.team.name
  name             = "{label}"
  image            = {image:?}
  main_application = "oss://sparkoss-placement/jobs/examples.jar"
  main_class       = "io.sparkoss.examples.ElasticStages"
  args             = ["2", "200", "0"]
  oss_credentials_secret = sparkoss_namespace.team.oss_credentials_secret
  {extra}
  driver {{
    cores         = 1
    memory        = "512m"
    node_selector = {{ "alibabacloud.com/nodepool-id" = sparkoss_cluster.c.worker_pool[0].id }}
  }}
  executor {{
    instances = 1
    cores     = 1
    memory    = "512m"
    {executor}
  }}
  spark_conf = {{ "spark.ui.enabled" = "false" }}
}}
"#,
            image = image.reference
        )
    };
    let main = format!(
        r#"{TERRAFORM_HEADER}{provider}
resource "sparkoss_cluster" "c" {{
  name          = "placement"
  virtual_nodes = true
  worker_pool {{
    name           = "system"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = 1
    max_size       = 2
  }}
}}

resource "sparkoss_namespace" "team" {{
  kubeconfig = sparkoss_cluster.c.kubeconfig
  name       = "placement"
  oss_credentials {{
    access_key_id     = {key:?}
    access_key_secret = {secret:?}
  }}
}}
{eci}{nowhere}"#,
        provider = local_provider(&ep, &["ack", "oss"]),
        key = ep.access_key_id,
        secret = ep.access_key_secret,
        eci = job(
            "eci",
            "node_selector = { type = \"virtual-kubelet\" }\n    tolerations {\n      key      = \"virtual-kubelet.io/provider\"\n      operator = \"Exists\"\n      effect   = \"NoSchedule\"\n    }",
            ""
        ),
        nowhere = job("nowhere", "node_selector = { pool = \"nowhere\" }", "pending_timeout = \"20s\""),
    );
    let mut versions = Terraform::all().expect("terraform").into_iter();
    let tf = versions.next().expect("terraform 1.15");
    let tf10 = versions.next().expect("terraform 1.0");
    let provider = provider_bin().expect("provider builds");
    let wd10 = Workdir::new(&tf10, &provider, &main).expect("workdir");
    let v = wd10.validate().expect("terraform 1.0 validates");
    assert!(v.valid, "terraform 1.0: {:?}", v.errors());

    let mut wd = Workdir::new(&tf, &provider, &main).expect("workdir");
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_ID", &ep.access_key_id);
    wd.set_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &ep.access_key_secret);
    let watch = sparkoss_acceptance_tests::watch_pods(&k8s, "placement", "app.kubernetes.io/managed-by=sparkoss");
    let t0 = Instant::now();
    let out = wd.apply(&[]).expect("apply runs");
    let t_apply = t0.elapsed();
    assert!(!out.success, "the job selecting no node must fail the apply: {}", out.stdout);
    let err = out.json_errors().iter().map(|(s, d)| format!("{s}: {d}")).collect::<Vec<_>>().join("\n");
    assert_eq!(out.json_errors().len(), 1, "one job fails: {err}");
    assert!(err.contains("Spark job's executors did not start"), "{err}");
    assert!(
        err.contains("executor pod placement/sparkoss-elastic-") && err.contains("-exec-1 did not start within 20s"),
        "the executor is named: {err}"
    );
    assert!(
        err.contains("Unschedulable: 0/2 nodes are available:") && err.contains("didn't match Pod's node affinity/selector"),
        "the scheduler's reason is quoted: {err}"
    );
    eprintln!("placement: the apply failed with {err}");

    // The other job ran: its driver on the pool's node, its executors on the virtual node.
    let state = wd.state_resources();
    let eci =
        &state.iter().find(|r| r["type"] == "sparkoss_job" && r["name"] == "eci").expect("eci job in state")["instances"][0]["attributes"];
    assert_eq!(eci["state"], "SUCCEEDED", "{eci}");
    let nodes = bound_nodes(&sparkoss_acceptance_tests::seen_pods(&watch));
    let (_, driver_node, _) = nodes.get("eci-driver").cloned().expect("the eci driver was bound");
    assert!(driver_node.starts_with("cn-local.10."), "driver on the pool's node: {nodes:?}");
    let eci_executors: Vec<&String> = nodes.values().filter(|(r, _, j)| r == "executor" && j == "eci").map(|(_, node, _)| node).collect();
    assert!(
        !eci_executors.is_empty() && eci_executors.iter().all(|n| n.starts_with("virtual-kubelet-")),
        "executors on the virtual node: {nodes:?}"
    );
    // kubectl shows it as users look at it.
    let kc = tempfile::NamedTempFile::new().expect("kubeconfig file");
    std::fs::write(kc.path(), eci["kubeconfig"].as_str().unwrap_or_default()).expect("write kubeconfig");
    let wide = sparkoss_acceptance_tests::fixtures::kubectl(
        kc.path(),
        &["-n", "placement", "get", "pods", "-o", "wide", "-l", "sparkoss.io/job=eci"],
        None,
    )
    .expect("kubectl runs");
    let wide = String::from_utf8_lossy(&wide.stdout).into_owned();
    assert!(wide.lines().any(|l| l.starts_with("eci-driver ") && l.contains(&driver_node)), "kubectl -o wide: {wide}");
    // The failing job was removed; it failed within its pending_timeout (plus the run of the other).
    assert!(t_apply < Duration::from_secs(240), "{t_apply:?}");
    let (_, left) = get(&k8s, "/api/v1/namespaces/placement/pods?labelSelector=sparkoss.io%2Fjob%3Dnowhere");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "the failed job left nothing: {left}");

    let out = wd.destroy().expect("destroy runs");
    assert!(out.success, "terraform destroy:\n{}\n{}", out.stdout, out.stderr);
    eprintln!("placement timings: apply {:.1}s", t_apply.as_secs_f64());
}
