//! `sparkoss_namespace` with real Terraform (1.15 and 1.0) against the local cloud's Kubernetes
//! API: create → no-op plan → drift detected and repaired → import-verify → destroy.

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{provider_bin, KubeconfigFile, LocalCloudProcess, Terraform, Workdir, TERRAFORM_HEADER};
use sparkoss_testkit::kube_client::request;

/// `terraform plan` shows the drift: changes pending (exit code 2), with `needle` in the plan.
fn assert_drift_planned(wd: &Workdir, tf: &Terraform, needle: &str) {
    let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan runs");
    assert!(!plan.success && plan.stdout.contains(needle), "terraform {}: drift not planned: {}\n{}", tf.label, plan.stdout, plan.stderr);
}

fn config(name: &str, connection: &str) -> String {
    format!(
        r#"{TERRAFORM_HEADER}
provider "sparkoss" {{}}
resource "sparkoss_namespace" "team" {{
  {connection}
  name   = "{name}"
  user   = "team-a"
  labels = {{ cost-center = "42" }}
  quota {{
    cpu    = "4"
    memory = "8Gi"
    pods   = "10"
  }}
  container_defaults {{
    cpu_request    = "250m"
    memory_request = "512Mi"
  }}
}}
"#
    )
}

fn get(endpoint: &str, path: &str) -> (u16, Value) {
    request(endpoint, "GET", path, None).expect("kube API answers")
}

#[test]
fn namespace_create_drift_import_destroy() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    for tf in Terraform::all().expect("terraform") {
        let name = format!("team-{}", tf.label.replace('.', "-"));
        let conn = kc.argument();
        let wd = Workdir::new(&tf, &provider, &config(&name, &conn)).expect("workdir");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);

        let (code, ns) = get(&ep, &format!("/api/v1/namespaces/{name}"));
        assert_eq!(code, 200, "{ns}");
        assert_eq!(ns["metadata"]["labels"]["sparkoss.io/user"], "team-a");
        assert_eq!(ns["metadata"]["labels"]["cost-center"], "42");
        assert_eq!(ns["metadata"]["labels"]["app.kubernetes.io/managed-by"], "sparkoss");
        let (_, q) = get(&ep, &format!("/api/v1/namespaces/{name}/resourcequotas/sparkoss-quota"));
        assert_eq!(q["spec"]["hard"], json!({"requests.cpu": "4", "requests.memory": "8Gi", "pods": "10"}));
        let (_, lr) = get(&ep, &format!("/api/v1/namespaces/{name}/limitranges/sparkoss-defaults"));
        assert_eq!(lr["spec"]["limits"][0]["defaultRequest"], json!({"cpu": "250m", "memory": "512Mi"}));
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{name}/serviceaccounts/spark-driver")).0, 200);
        let (_, rb) = get(&ep, &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings/sparkoss-spark-driver"));
        assert_eq!(rb["subjects"][0]["name"], "spark-driver");
        let (_, role) = get(&ep, &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/roles/sparkoss-spark-driver"));
        assert!(role["rules"][0]["resources"].as_array().expect("rules").contains(&json!("pods")), "{role}");

        let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan runs");
        assert!(plan.success, "terraform {}: a fresh apply must plan no changes: {}\n{}", tf.label, plan.stdout, plan.stderr);

        // Drift: someone raises the quota by hand; plan sees it, apply puts it back.
        let (code, _) = request(
            &ep,
            "PATCH",
            &format!("/api/v1/namespaces/{name}/resourcequotas/sparkoss-quota"),
            Some(&json!({"spec": {"hard": {"requests.cpu": "40"}}})),
        )
        .expect("patch");
        assert_eq!(code, 200);
        assert_drift_planned(&wd, &tf, "\"40\" -> \"4\"");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}", out.stderr);
        let (_, q) = get(&ep, &format!("/api/v1/namespaces/{name}/resourcequotas/sparkoss-quota"));
        assert_eq!(q["spec"]["hard"]["requests.cpu"], "4");

        // Import-verify: a configuration without connection attributes reaches the cluster through
        // KUBECONFIG, as import does; the imported state then plans no changes.
        let mut imp = Workdir::new(&tf, &provider, &config(&name, "")).expect("workdir");
        imp.set_env("KUBECONFIG", &kc.path.display().to_string());
        let out = imp.import("sparkoss_namespace.team", &name).expect("import runs");
        assert!(out.success, "terraform {} import: {}\n{}", tf.label, out.stdout, out.stderr);
        let state = imp.state_resources();
        let attrs = &state[0]["instances"][0]["attributes"];
        assert_eq!(attrs["quota"]["memory"], "8Gi", "{attrs}");
        assert_eq!(attrs["user"], "team-a");
        let plan = imp.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan runs");
        assert!(plan.success, "terraform {}: import must reproduce the state: {}\n{}", tf.label, plan.stdout, plan.stderr);

        // Destroy returns once the namespace is really gone.
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "{}", out.stderr);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{name}")).0, 404);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{name}/serviceaccounts/spark-driver")).0, 404);

        // Out-of-band deletion: refresh drops it and plan creates it again.
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}", out.stderr);
        request(&ep, "DELETE", &format!("/api/v1/namespaces/{name}"), None).expect("delete");
        let gone = std::time::Instant::now();
        while get(&ep, &format!("/api/v1/namespaces/{name}")).0 != 404 {
            assert!(gone.elapsed() < std::time::Duration::from_secs(10), "namespace not deleted");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let plan = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan runs");
        assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "{}", out.stderr);
    }
}

fn creds_config(name: &str, connection: &str, creds: &str) -> String {
    format!(
        r#"{TERRAFORM_HEADER}
provider "sparkoss" {{}}
resource "sparkoss_namespace" "team" {{
  {connection}
  name = "{name}"
  {creds}
}}
output "secret" {{
  value = sparkoss_namespace.team.oss_credentials_secret
}}
"#
    )
}

/// The Secret's data, decoded; `None` when it does not exist.
fn secret_data(ep: &str, ns: &str) -> Option<std::collections::BTreeMap<String, String>> {
    use base64::Engine as _;
    let (code, s) = get(ep, &format!("/api/v1/namespaces/{ns}/secrets/sparkoss-oss-credentials"));
    if code == 404 {
        return None;
    }
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["type"], "Opaque", "{s}");
    let data = s["data"].as_object().expect("data");
    Some(
        data.iter()
            .map(|(k, v)| {
                let raw = base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64 text")).expect("base64");
                (k.clone(), String::from_utf8(raw).expect("utf-8"))
            })
            .collect(),
    )
}

fn output_secret(wd: &Workdir) -> Value {
    let out = wd.run(&["output", "-json", "secret"]).expect("output runs");
    serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null)
}

#[test]
fn namespace_oss_credentials_secret_lifecycle() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = lc.endpoints.kubernetes_endpoint.clone();
    let provider = provider_bin().expect("provider builds");
    let kc = KubeconfigFile::new(&ep).expect("kubeconfig");
    let conn = kc.argument();
    let block = |secret: &str, token: Option<&str>| {
        let token = token.map(|t| format!("    security_token    = {t:?}\n")).unwrap_or_default();
        format!("oss_credentials {{\n    access_key_id     = \"AKID-team\"\n    access_key_secret = {secret:?}\n{token}  }}")
    };
    for tf in Terraform::all().expect("terraform") {
        let name = format!("creds-{}", tf.label.replace('.', "-"));
        let wd = Workdir::new(&tf, &provider, &creds_config(&name, &conn, &block("first-s3cr3t", None))).expect("workdir");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "terraform {} apply: {}\n{}", tf.label, out.stdout, out.stderr);
        assert!(!out.stdout.contains("first-s3cr3t") && !out.stderr.contains("first-s3cr3t"), "secret printed: {}", out.stdout);
        let data = secret_data(&ep, &name).expect("secret created");
        assert_eq!(data.get("ALIBABA_CLOUD_ACCESS_KEY_ID").map(String::as_str), Some("AKID-team"));
        assert_eq!(data.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").map(String::as_str), Some("first-s3cr3t"));
        assert!(!data.contains_key("ALIBABA_CLOUD_SECURITY_TOKEN"), "no token configured: {data:?}");
        // Also under the names Hadoop's OSS connector reads (aliyun-sdk-oss's EnvironmentVariableCredentialsProvider).
        assert_eq!(data.get("OSS_ACCESS_KEY_ID").map(String::as_str), Some("AKID-team"));
        assert_eq!(data.get("OSS_ACCESS_KEY_SECRET").map(String::as_str), Some("first-s3cr3t"));
        assert!(!data.contains_key("OSS_SESSION_TOKEN"), "no token configured: {data:?}");
        assert_eq!(output_secret(&wd), json!("sparkoss-oss-credentials"));
        let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan runs");
        assert!(plan.success, "terraform {}: a fresh apply must plan no changes: {}\n{}", tf.label, plan.stdout, plan.stderr);

        // Rotating the key (and adding a token) updates the Secret in place: same namespace.
        let uid = get(&ep, &format!("/api/v1/namespaces/{name}")).1["metadata"]["uid"].clone();
        std::fs::write(wd.file("main.tf"), creds_config(&name, &conn, &block("second-s3cr3t", Some("sts-token")))).expect("main.tf");
        let plan = wd.run(&["plan", "-input=false", "-no-color"]).expect("plan runs");
        assert!(plan.stdout.contains("updated in-place") && !plan.stdout.contains("second-s3cr3t"), "{}", plan.stdout);
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{name}")).1["metadata"]["uid"], uid, "namespace must not be replaced");
        let data = secret_data(&ep, &name).expect("secret kept");
        assert_eq!(data.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").map(String::as_str), Some("second-s3cr3t"));
        assert_eq!(data.get("ALIBABA_CLOUD_SECURITY_TOKEN").map(String::as_str), Some("sts-token"));
        assert_eq!(data.get("OSS_SESSION_TOKEN").map(String::as_str), Some("sts-token"));
        assert_eq!(data.get("OSS_ACCESS_KEY_SECRET").map(String::as_str), Some("second-s3cr3t"));

        // Drift: the Secret deleted out of band is noticed by refresh and recreated by apply.
        let (code, _) =
            request(&ep, "DELETE", &format!("/api/v1/namespaces/{name}/secrets/sparkoss-oss-credentials"), None).expect("delete");
        assert_eq!(code, 200);
        assert_drift_planned(&wd, &tf, "updated in-place");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(
            secret_data(&ep, &name).and_then(|d| d.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").cloned()).as_deref(),
            Some("second-s3cr3t")
        );

        // Removing the block deletes the Secret; the name output becomes null.
        std::fs::write(wd.file("main.tf"), creds_config(&name, &conn, "")).expect("main.tf");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert!(secret_data(&ep, &name).is_none(), "secret must be deleted with the block");
        assert_eq!(output_secret(&wd), Value::Null);
        let plan = wd.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]).expect("plan runs");
        assert!(plan.success, "no changes after removing the block: {}\n{}", plan.stdout, plan.stderr);

        // Back again, then destroy: the Secret goes with the namespace.
        std::fs::write(wd.file("main.tf"), creds_config(&name, &conn, &block("third-s3cr3t", None))).expect("main.tf");
        let out = wd.apply(&[]).expect("apply runs");
        assert!(out.success, "{}\n{}", out.stdout, out.stderr);
        assert!(secret_data(&ep, &name).is_some());
        let out = wd.destroy().expect("destroy runs");
        assert!(out.success, "{}", out.stderr);
        assert_eq!(get(&ep, &format!("/api/v1/namespaces/{name}")).0, 404);
        assert!(secret_data(&ep, &name).is_none());
    }
}
