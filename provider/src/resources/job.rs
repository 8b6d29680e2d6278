//! `sparkoss_job`: a Spark application run on any Kubernetes cluster, its main jar fetched from
//! OSS at start-up by the sparkoss image.

use async_trait::async_trait;

use crate::core::validators::{
    app_uri, container_image, duration, each, env_names, int_between, java_class, jvm_memory, k8s_label_value, k8s_name, spark_conf_keys,
};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Number, Schema, Type, Value};
use crate::resource::Resource;

use super::common::{timeouts, validate_kube_connection, with_kube_connection};

/// Longest job name: pod and service names derived from it must stay within 63 characters.
pub const MAX_JOB_NAME: usize = 50;

/// Spark settings sparkoss sets from attributes; configuring them through `spark_conf` would
/// silently fight the attribute, so it is refused with the attribute to use instead.
const MANAGED_CONF: &[(&str, &str)] = &[
    ("spark.master", "executor.instances (0 runs Spark locally in the driver)"),
    ("spark.submit.deployMode", "nothing: drivers always run in client mode inside their pod"),
    ("spark.kubernetes.namespace", "namespace"),
    ("spark.kubernetes.container.image", "image"),
    ("spark.driver.cores", "driver.cores"),
    ("spark.driver.memory", "driver.memory"),
    ("spark.driver.memoryOverhead", "driver.memory_overhead"),
    ("spark.executor.instances", "executor.instances"),
    ("spark.executor.cores", "executor.cores"),
    ("spark.executor.memory", "executor.memory"),
    ("spark.executor.memoryOverhead", "executor.memory_overhead"),
    ("spark.jars", "jars"),
];

/// The `sparkoss_job` resource.
pub struct Job {
    schema: Schema,
}

fn resources_block(what: &str, with_instances: bool) -> Block {
    let mut b = Block::new(&format!("Resources of the {what}."));
    if with_instances {
        b = b.attr(
            Attribute::with_default(
                "instances",
                Type::Number,
                Value::Number(Number::Int(2)),
                "Number of executors; 0 runs Spark in local mode inside the driver (default 2).",
            )
            .validate(int_between(0, Some(10_000))),
        );
    }
    b.attr(
        Attribute::with_default("cores", Type::Number, Value::Number(Number::Int(1)), &format!("CPU cores of the {what} (default 1)."))
            .validate(int_between(1, Some(256))),
    )
    .attr(
        Attribute::with_default(
            "memory",
            Type::String,
            Value::string(if with_instances { "2g" } else { "1g" }),
            &format!("JVM heap of the {what}, e.g. `4g`."),
        )
        .validate(jvm_memory()),
    )
    .attr(
        Attribute::optional(
            "memory_overhead",
            Type::String,
            &format!("Non-heap memory of the {what} (default: Spark's, 10% with a 384m floor)."),
        )
        .validate(jvm_memory()),
    )
}

impl Job {
    /// Builds the resource and its schema.
    pub fn new() -> Self {
        let block = with_kube_connection(Block::new("A Spark application run on Kubernetes: a driver pod running the sparkoss image, which fetches the main jar from OSS and starts Spark; executors are created by Spark with the same image. Any change to the job re-runs it."))
            .attr(Attribute::computed("id", Type::String, "`namespace/name`."))
            .attr(Attribute::required("name", Type::String, &format!("Job name: a Kubernetes name of at most {MAX_JOB_NAME} characters starting with a letter; pods are named after it and labelled `sparkoss.io/job`.")).validate(k8s_name()).force_new())
            .attr(Attribute::required("namespace", Type::String, "Namespace to run in, e.g. `sparkoss_namespace.team_a.name`.").validate(k8s_name()).force_new())
            .attr(Attribute::optional("user", Type::String, "Team or user the job runs for; labelled `sparkoss.io/user` on every pod.").validate(k8s_label_value()).force_new())
            .attr(Attribute::required("image", Type::String, "The sparkoss Spark image (built once by `image-builder`).").validate(container_image()).force_new())
            .attr(Attribute::required("main_application", Type::String, "The application jar: `oss://bucket/key`, `https://...` or `local:///path` in the image.").validate(app_uri()).force_new())
            .attr(Attribute::optional("main_class", Type::String, "Main class, e.g. `com.acme.Etl` (default: the jar's manifest).").validate(java_class()).force_new())
            .attr(Attribute::optional("args", Type::list(Type::String), "Arguments passed to the main class.").force_new())
            .attr(Attribute::optional("jars", Type::list(Type::String), "Extra jars for the classpath, same URI forms as `main_application`.").validate(each(app_uri())).force_new())
            .attr(Attribute::optional("spark_conf", Type::map(Type::String), "Extra Spark configuration (`spark.*` keys).").validate(spark_conf_keys()).force_new())
            .attr(Attribute::optional("env", Type::map(Type::String), "Environment variables of the driver and executors.").validate(env_names()).force_new())
            .attr(Attribute::optional("service_account", Type::String, "Service account of the driver (default: the namespace's `spark-driver`).").validate(k8s_name()).force_new())
            .attr(Attribute::optional("oss_credentials_secret", Type::String, "Secret with `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` for OSS access from the pods (default: RRSA or the node's RAM role).").validate(k8s_name()).force_new())
            .attr(Attribute::with_default("wait_for_completion", Type::Bool, Value::Bool(true), "Wait for the job to finish during apply, failing the apply when the job fails (default true)."))
            .attr(Attribute::with_default("pending_timeout", Type::String, Value::string("5m"), "Fail when the driver is not running after this long (image pull errors, unschedulable, quota), default `5m`.").validate(duration()))
            .attr(Attribute::computed("driver_pod", Type::String, "Name of the driver pod."))
            .attr(Attribute::computed("spark_app_id", Type::String, "Spark application id."))
            .attr(Attribute::computed("state", Type::String, "`PENDING`, `RUNNING`, `SUCCEEDED` or `FAILED`."))
            .attr(Attribute::computed("started_at", Type::String, "When the driver started (RFC 3339)."))
            .attr(Attribute::computed("finished_at", Type::String, "When the driver finished (RFC 3339)."))
            .attr(Attribute::computed("exit_code", Type::Number, "The driver's exit code."))
            .attr(Attribute::computed("main_application_etag", Type::String, "ETag of the OSS object at submission; a new upload re-runs the job."))
            .attr(Attribute::computed("cpu_core_seconds", Type::Number, "CPU cores requested × seconds run, driver and executors."))
            .attr(Attribute::computed("memory_gib_seconds", Type::Number, "GiB of memory requested × seconds run, driver and executors."))
            .block(NestedBlock::single("driver", resources_block("driver", false)).force_new())
            .block(NestedBlock::single("executor", resources_block("executors (each)", true)).force_new())
            .block(timeouts(&[("create", "60m"), ("delete", "10m")]));
        Job { schema: Schema { version: 0, block } }
    }
}

impl Default for Job {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Resource for Job {
    fn type_name(&self) -> &'static str {
        "sparkoss_job"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let root = AttrPath::root();
        validate_kube_connection(config, diags);
        if let Some(name) = config.attr("name").as_str() {
            if name.len() > MAX_JOB_NAME || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                diags.attr_error(&root.attr("name"), "Invalid job name", format!("{name:?} must start with a lowercase letter and be at most {MAX_JOB_NAME} characters, so the pod and service names derived from it are valid"));
            }
        }
        if let Some(conf) = config.attr("spark_conf").entries() {
            for key in conf.keys() {
                if let Some((_, instead)) = MANAGED_CONF.iter().find(|(k, _)| k == key) {
                    diags.attr_error(
                        &root.attr("spark_conf").key(key),
                        "Setting managed by sparkoss",
                        format!("{key:?} is set by sparkoss; use {instead}"),
                    );
                }
            }
        }
    }
}
