//! The schema of `sparkoss_job` and the checks that need more than one attribute.

use std::collections::BTreeMap;

use super::super::common::{timeouts, with_kube_connection};
use super::probe::ETAG_TTL;
use super::Job;
use crate::core::validators::{
    app_uri, container_image, duration, each, env_names, int_between, java_class, jvm_memory, k8s_label_value, k8s_name, spark_conf_keys,
};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Number, Schema, Type, Value};

/// Longest job name: pod and service names derived from it must stay within 63 characters.
pub const MAX_JOB_NAME: usize = 50;

/// Spark settings sparkoss sets from attributes; configuring them through `spark_conf` would
/// silently fight the attribute, so it is refused with the attribute to use instead.
pub(super) const MANAGED_CONF: &[(&str, &str)] = &[
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
    ("spark.files", "files"),
    ("spark.submit.pyFiles", "py_files"),
];

pub(super) fn resources_block(what: &str, with_instances: bool) -> Block {
    let mut b = Block::new(&format!("Resources of the {what}."));
    if with_instances {
        b = b.attr(
            Attribute::with_default(
                "instances",
                Type::Number,
                Value::Number(Number::Int(2)),
                "Number of executors; 0 runs Spark in local mode inside the driver (default 2). Conflicts with `min_instances`, `max_instances` and `initial_instances` (dynamic allocation), with which it is planned null.",
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
        let block = super::retry::attributes(with_kube_connection(Block::new("A Spark application run on Kubernetes: a driver pod running the sparkoss image, which fetches the main application (a jar, or a `.py` for PySpark) from OSS and starts Spark; executors are created by Spark with the same image. Any change to the job re-runs it."))
            .attr(Attribute::computed("id", Type::String, "`namespace/name`."))
            .attr(Attribute::required("name", Type::String, &format!("Job name: a Kubernetes name of at most {MAX_JOB_NAME} characters starting with a letter; pods are named after it and labelled `sparkoss.io/job`.")).validate(k8s_name()).force_new())
            .attr(Attribute::required("namespace", Type::String, "Namespace to run in, e.g. `sparkoss_namespace.team_a.name`.").validate(k8s_name()).force_new())
            .attr(Attribute::optional("user", Type::String, "Team or user the job runs for; labelled `sparkoss.io/user` on every pod.").validate(k8s_label_value()).force_new())
            .attr(Attribute::required("image", Type::String, "The sparkoss Spark image (built once by `image-builder`).").validate(container_image()).force_new())
            .attr(Attribute::required("main_application", Type::String, "The application: `oss://bucket/key`, `https://...` (without a query string: this attribute is not sensitive, so a presigned URL belongs in `jars`) or `local:///path` in the image. Its name decides the kind: `.jar` runs on the JVM (with `main_class`), `.py` is a PySpark application run with the image's Python (`py_files` for its modules).").validate(app_uri()).force_new())
            .attr(Attribute::optional("main_class", Type::String, "Main class of a `.jar` application, e.g. `com.acme.Etl` (default: the jar's manifest); refused with a `.py`.").validate(java_class()).force_new())
            .attr(Attribute::optional("args", Type::list(Type::String), "Arguments passed to the application (the main class, or the `.py` as `sys.argv[1:]`). Sensitive: they reach the driver through the job's Secret, never the pod spec, the pod's annotations or the launcher's log.").sensitive().force_new())
            .attr(Attribute::optional("jars", Type::list(Type::String), "Extra jars for the classpath (also the JVM libraries a PySpark job uses), same URI forms as `main_application`, and presigned `https://` URLs. Sensitive (a presigned URL's query string is a credential): passed through the job's Secret.").validate(each(app_uri())).sensitive().force_new())
            .attr(Attribute::optional("py_files", Type::list(Type::String), "Python modules of a `.py` application: `.py`, `.zip` or `.egg` files, same URI forms as `jars`, fetched into the driver before Spark starts and passed to spark-submit `--py-files` in this order (on the Python path of the driver and of the executors' Python workers). Refused with a `.jar` application. A file replaced on OSS re-runs the job, as for `main_application`. Sensitive (a presigned URL's query string is a credential): passed through the job's Secret.").validate(each(app_uri())).sensitive().force_new())
            .attr(Attribute::optional("files", Type::list(Type::String), "Files the launcher downloads into the driver's working directory before Spark starts (and passes to spark-submit `--files`), so `args` can name them by their base name. Same URI forms as `jars`; base names must be unique among `files` and differ from those of `main_application` and `jars`. Sensitive (a presigned URL's query string is a credential): passed through the job's Secret.").validate(each(app_uri())).sensitive().force_new())
            .attr(Attribute::optional("spark_conf", Type::map(Type::String), "Extra Spark configuration (`spark.*` keys). Sensitive: passed through the job's Secret; the launcher logs the keys, never the values.").validate(spark_conf_keys()).sensitive().force_new())
            .attr(Attribute::optional("env", Type::map(Type::String), "Environment variables of the driver and executors. Sensitive: the driver loads them from the job's Secret (`envFrom`), so no value is in the pod spec.").validate(env_names()).sensitive().force_new())
            .attr(Attribute::optional("service_account", Type::String, "Service account of the driver (default: the namespace's `spark-driver`).").validate(k8s_name()).force_new())
            .attr(Attribute::optional("oss_credentials_secret", Type::String, "Secret with `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (and `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` for Hadoop's OSS connector) for OSS access from the pods, e.g. `sparkoss_namespace.team_a.oss_credentials_secret` (default: RRSA or the node's RAM role). The driver loads it whole; executors get its credential keys as secret references.").validate(k8s_name()).force_new())
            .attr(Attribute::with_default("wait_for_completion", Type::Bool, Value::Bool(true), "Wait for the job to finish during apply, failing the apply when the job fails (default true)."))
            .attr(Attribute::with_default("pending_timeout", Type::String, Value::string("5m"), "Fail when the driver is not running after this long (image pull errors, unschedulable, quota), default `5m`.").validate(duration()))
            .attr(Attribute::computed("driver_pod", Type::String, "Name of the driver pod (of the latest attempt)."))
            .attr(Attribute::computed("spark_app_id", Type::String, "Spark application id."))
            .attr(Attribute::computed("state", Type::String, "`PENDING`, `RUNNING`, `SUCCEEDED` or `FAILED`."))
            .attr(Attribute::computed("started_at", Type::String, "When the driver started (RFC 3339)."))
            .attr(Attribute::computed("finished_at", Type::String, "When the driver finished (RFC 3339)."))
            .attr(Attribute::computed("exit_code", Type::Number, "The driver's exit code."))
            .attr(Attribute::computed("main_application_etag", Type::String, "ETag of the OSS object at submission; a new upload re-runs the job."))
            .attr(Attribute::computed("py_files_etags", Type::list(Type::String), "ETags of the `py_files` at submission, in order (empty for those not on OSS); a new upload of one re-runs the job."))
            .attr(Attribute::computed("cpu_core_seconds", Type::Number, "CPU cores requested × seconds run, driver and executors."))
            .attr(Attribute::computed("memory_gib_seconds", Type::Number, "GiB of memory requested × seconds run, driver and executors."))
            .block(NestedBlock::single("driver", super::placement::attributes(resources_block("driver", false), "driver")).force_new())
            .block(
                NestedBlock::single(
                    "executor",
                    super::allocation::attributes(super::placement::attributes(resources_block("executors (each)", true), "executors")),
                )
                .force_new(),
            )
            .block(timeouts(&[("create", "60m"), ("delete", "10m")])));
        Job {
            schema: Schema { version: 0, block },
            probe: None,
            oss_probe: Default::default(),
            etags: Default::default(),
            etag_ttl: ETAG_TTL,
        }
    }
}

/// The last path segment of a job file URI: the name the launcher gives it in the driver's
/// working directory (the key's for `oss://`, the path's without query and fragment for
/// `https://`, the path's for `local:///`). `None` for a URI the attribute validators reject.
pub(super) fn base_name(uri: &str) -> Option<String> {
    let path = if uri.starts_with("oss://") {
        sparkoss_aliyun::oss_uri::OssUri::parse(uri).ok()?.key().to_owned()
    } else if let Some(rest) = uri.strip_prefix("https://") {
        redact_uri(rest).to_owned()
    } else {
        uri.strip_prefix("local://")?.to_owned()
    };
    Some(path.rsplit('/').next().unwrap_or_default().to_owned())
}

/// A URI without query or fragment: a presigned URL's signature stays out of diagnostics.
pub(super) fn redact_uri(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// `args` name `files` by base name in one working directory, so two files (or a file and a
/// jar) with the same base name would overwrite each other or be renamed by the launcher
/// behind the user's back: refuse that at plan, on the element at fault.
pub(super) fn validate_file_names(config: &Value, diags: &mut Diagnostics) {
    let Some(files) = config.attr("files").elements() else { return };
    let mut jars: Vec<(String, String)> = Vec::new();
    if let Some(name) = config.attr("main_application").as_str().and_then(base_name) {
        jars.push((name, "main_application".into()));
    }
    for (i, j) in config.attr("jars").elements().unwrap_or_default().iter().enumerate() {
        if let Some(name) = j.as_str().and_then(base_name) {
            jars.push((name, format!("jars[{i}]")));
        }
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        // An element known only at apply cannot be judged here.
        let Some(uri) = f.as_str() else { continue };
        let Some(name) = base_name(uri) else { continue };
        let path = AttrPath::root().attr("files").index(i);
        if name.is_empty() || name == "." || name == ".." {
            diags.attr_error(
                &path,
                "File without a name",
                format!("{:?} does not end with a file name, so `args` cannot refer to it; name the file itself", redact_uri(uri)),
            );
            continue;
        }
        if let Some(first) = seen.get(&name) {
            diags.attr_error(
                &path,
                "Duplicate file name",
                format!("files[{i}] and files[{first}] are both downloaded as {name:?} into the driver's working directory; give them different base names"),
            );
            continue;
        }
        if let Some((_, jar)) = jars.iter().find(|(j, _)| *j == name) {
            diags.attr_error(
                &path,
                "File name clashes with a jar",
                format!("files[{i}] and {jar} both have the base name {name:?} in the driver's working directory; rename one of them"),
            );
        }
        seen.insert(name, i);
    }
}
