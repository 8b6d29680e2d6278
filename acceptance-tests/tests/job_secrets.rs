//! The secrets of a `sparkoss_job` stay secret, end to end: real Terraform (with `TF_LOG=trace`)
//! runs two jobs of the quick start image on the local cloud's Docker kubelet, each with a marker
//! in its `spark_conf`, `env` and `args`, one with a presigned `https://` URL in `files` whose
//! query string carries the marker. One job runs to spark-submit and fails (its log tail becomes
//! a Terraform error); the other fails fetching the presigned file. The marker is then in no pod
//! log, no annotation, nothing `kubectl get pods -o yaml` shows, no Terraform output or error,
//! no trace log and no non-sensitive attribute of the state, while the job's own Secret holds it
//! (so the values did reach the cluster) and the launcher's logged command shows the masked flags.

use std::time::{Duration, Instant};

use serde_json::Value;
use sparkoss_acceptance_tests::fixtures::kubectl;
use sparkoss_acceptance_tests::{input_text, oss_put, quickstart_workdir, LocalCloudProcess, Terraform};
use sparkoss_quickstart::image::build_quickstart_image;
use sparkoss_quickstart::spark_base::example_job_jar;

const MARK: &str = "mk7q2Zsecret";

/// A job of the quick start's shape in local mode (no executors), the marker in every sensitive
/// attribute; `extra` adds attributes.
fn job(name: &str, files: &str, args: &str, extra: &str) -> String {
    format!(
        r#"
resource "sparkoss_job" "{name}" {{
  kubeconfig             = sparkoss_cluster.demo.kubeconfig
  name                   = "{name}"
  namespace              = sparkoss_namespace.team_a.name
  image                  = var.image
  main_application       = "oss://sparkoss-demo/jobs/wordcount.jar"
  main_class             = "io.sparkoss.examples.WordCount"
  files                  = {files}
  args                   = {args}
  spark_conf             = {{ "spark.sparkoss.test" = "conf-{MARK}" }}
  env                    = {{ SPARKOSS_TEST_SECRET = "env-{MARK}" }}
  oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret
  {extra}
  driver {{
    cores  = 1
    memory = "512m"
  }}
  executor {{
    instances = 0
  }}
}}
"#
    )
}

/// A Docker tag removed when dropped.
struct ImageTag(String);

impl ImageTag {
    fn new(image_id: &str, tag: &str) -> ImageTag {
        let out = std::process::Command::new("docker").args(["tag", image_id, tag]).output().expect("docker runs");
        assert!(out.status.success(), "docker tag: {}", String::from_utf8_lossy(&out.stderr));
        ImageTag(tag.to_owned())
    }
}

impl Drop for ImageTag {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["image", "rm", &self.0]).output();
    }
}

fn kubectl_text(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args, None).expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_secret_of_a_job_reaches_logs_annotations_pod_specs_errors_or_plain_state() {
    let jar = example_job_jar().expect("the example job builds");
    let image = build_quickstart_image(&mut |l| eprintln!("job-secrets: {l}")).expect("the quick start image");
    // A tag of this test's own: tests running at the same time re-tag the quick start's tag to
    // images with their own launcher.
    let tag = ImageTag::new(&image.image_id, &format!("sparkoss-test/job-secrets:{}", std::process::id()));
    let mut lc = LocalCloudProcess::start(&["--kubelet", "docker", "--create-delay", "1s", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("words.txt");
    std::fs::write(&input, input_text()).expect("input");
    oss_put(&ep, "sparkoss-demo", &[("jobs/wordcount.jar", &jar), ("input/words.txt", &input)]);

    let tf = Terraform::all().expect("terraform").into_iter().next().expect("terraform 1.15");
    let mut wd = quickstart_workdir(&tf, &ep, &tag.0).expect("workdir");
    // The quick start's own job and outputs give way to the two jobs here.
    let main = std::fs::read_to_string(wd.file("main.tf")).expect("main.tf");
    let head = &main[..main.find("resource \"sparkoss_job\"").expect("the quick start has a job")];
    let words = r#"["oss://sparkoss-demo/input/words.txt"]"#;
    // Three arguments: WordCount prints its usage (not its arguments) and exits 2.
    let spark = job("leak", words, &format!(r#"["words.txt", "out", "arg-{MARK}"]"#), "");
    // Nothing listens on port 9: the fetch of the presigned file fails, naming it without its query.
    let presigned =
        format!(r#"["oss://sparkoss-demo/input/words.txt", "https://127.0.0.1:9/data/lookup.csv?Expires=1&Signature=sig-{MARK}"]"#);
    let fetch = job("presigned", &presigned, &format!(r#"["words.txt", "arg-{MARK}"]"#), "wait_for_completion = false");
    std::fs::write(wd.file("main.tf"), format!("{head}{spark}{fetch}")).expect("main.tf");
    wd.set_env("TF_LOG", "trace");

    let out = wd.apply(&[]).expect("apply runs");
    assert!(!out.success, "the job with three arguments fails");
    let errors = out.json_errors();
    let failed = errors.iter().find(|(s, _)| s == "Spark job failed").map(|(_, d)| d.clone()).unwrap_or_default();
    assert!(failed.contains("usage: WordCount"), "the error quotes the driver's log tail: {errors:#?}");
    assert!(failed.contains("--conf spark.sparkoss.test=*** "), "the logged command names the conf key, masked: {failed}");
    assert!(!out.stdout.contains(MARK), "the marker in Terraform's output:\n{}", out.stdout);
    let leaked: Vec<&str> = out.stderr.lines().filter(|l| l.contains(MARK)).collect();
    assert!(leaked.is_empty(), "the marker in TF_LOG=trace output: {leaked:#?}");
    assert!(out.stderr.contains("terraform-provider-sparkoss"), "the trace log holds the provider's lines");

    // The presigned job's driver fails fetching the file (bounded wait).
    let kc = std::path::Path::new(&ep.kubeconfig);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let phase = kubectl_text(kc, &["get", "pod", "-n", "team-a", "presigned-driver", "-o", "jsonpath={.status.phase}"]);
        if phase == "Failed" {
            break;
        }
        assert!(phase != "Succeeded", "the presigned file cannot be fetched");
        assert!(Instant::now() < deadline, "the presigned job's driver is still {phase:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = kubectl_text(kc, &["logs", "-n", "team-a", "presigned-driver"]);
    assert!(log.contains("cannot fetch https://127.0.0.1:9/data/lookup.csv"), "the failed fetch names the URL: {log}");
    assert!(!log.contains(MARK), "the marker in the presigned driver's log: {log}");

    // Nothing `get pods` shows holds it: annotations, args, env of every pod in the namespace.
    let pods = kubectl_text(kc, &["get", "pods", "-n", "team-a", "-o", "yaml"]);
    assert!(pods.contains("presigned-driver") && pods.contains("sparkoss.io/job-spec"), "{pods}");
    assert!(!pods.contains(MARK), "the marker in `kubectl get pods -o yaml`:\n{pods}");
    // The job's Secret holds the values (the driver loads it): they did reach the cluster.
    let secret: Value = serde_json::from_str(&kubectl_text(kc, &["get", "secret", "-n", "team-a", "presigned-job-spec", "-o", "json"]))
        .expect("secret JSON");
    let flags = secret["data"]["SPARKOSS_JOB_FLAGS"].as_str().expect("the job's flags");
    use base64::Engine as _;
    let flags = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(flags).expect("base64")).expect("utf-8");
    assert!(flags.contains(&format!("sig-{MARK}")) && flags.contains(&format!("conf-{MARK}")), "{flags}");
    assert!(secret["data"]["SPARKOSS_TEST_SECRET"].is_string(), "{secret}");

    // The state: the marker only in attributes Terraform knows as sensitive.
    let state = wd.state_resources();
    let job = state.iter().find(|r| r["type"] == "sparkoss_job" && r["name"] == "presigned").expect("the presigned job in state");
    let instance = &job["instances"][0];
    let mut attrs = instance["attributes"].as_object().cloned().expect("attributes");
    assert!(attrs["files"].to_string().contains(MARK), "the state keeps the configuration: {attrs:?}");
    let sensitive = instance["sensitive_attributes"].to_string();
    for name in ["args", "files", "jars", "spark_conf", "env"] {
        assert!(sensitive.contains(&format!("\"{name}\"")), "{name} is sensitive in state: {sensitive}");
        attrs.remove(name);
    }
    assert!(!Value::Object(attrs).to_string().contains(MARK), "the marker in a non-sensitive attribute");
    let shown = wd.run(&["show", "-no-color"]).expect("terraform show");
    assert!(!shown.stdout.contains(MARK), "the marker in `terraform show`: {}", shown.stdout);

    let out = wd.destroy().expect("destroy runs");
    assert!(out.success, "{}", out.stderr);
    let gone = kubectl(kc, &["get", "secret", "-n", "team-a", "presigned-job-spec"], None).expect("kubectl runs");
    assert!(!gone.status.success(), "the job's Secret goes with the job");
    assert!(lc.stop(), "the local cloud stops");
}
