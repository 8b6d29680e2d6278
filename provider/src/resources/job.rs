//! `sparkoss_job`: a Spark application run on any Kubernetes cluster, its main jar fetched from
//! OSS at start-up by the sparkoss image.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec, ResourceQuota, ResourceRequirements,
    SecretEnvSource, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use sparkoss_quantity::Quantity as Amount;

use super::driver_log;
use crate::core::validators::{
    app_uri, container_image, duration, each, env_names, int_between, java_class, jvm_memory, k8s_label_value, k8s_name, spark_conf_keys,
};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Number, Schema, Type, Value};
use crate::kube_conn::{is_not_found, parse_duration, Connection, KubeError};
use crate::resource::{OpContext, Resource};

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
    ("spark.files", "files"),
];

/// The `sparkoss_job` resource.
pub struct Job {
    schema: Schema,
    probe: Option<Arc<dyn JarProbe>>,
    /// The OSS probe built from the provider configuration it was built for: one client (and
    /// its connection pool) per provider process instead of one per job and call.
    oss_probe: std::sync::Mutex<Option<ProbeFor>>,
    /// ETags read by refreshes, briefly remembered per object (see [`ETAG_TTL`]).
    etags: std::sync::Mutex<std::collections::HashMap<(String, String), Arc<EtagCell>>>,
    /// [`ETAG_TTL`], shorter in tests.
    etag_ttl: Duration,
}

/// A probe from a provider configuration (`None`: that configuration has no usable OSS credentials).
type ProbeFor = (crate::config::ProviderConfig, Option<Arc<dyn JarProbe>>);

/// One object's ETag lookup, shared by the refreshes that ask for it at the same time.
type EtagCell = tokio::sync::OnceCell<(tokio::time::Instant, Result<Option<String>, String>)>;

/// How long a refresh reuses an ETag another refresh read: long enough to cover one
/// `terraform plan` over many jobs sharing a jar (Terraform refreshes them together in one
/// provider process), short enough that a jar uploaded between two commands is always seen.
const ETAG_TTL: Duration = Duration::from_secs(5);

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
            .attr(Attribute::optional("files", Type::list(Type::String), "Files the launcher downloads into the driver's working directory before Spark starts (and passes to spark-submit `--files`), so `args` can name them by their base name. Same URI forms as `jars`; base names must be unique among `files` and differ from those of `main_application` and `jars`.").validate(each(app_uri())).force_new())
            .attr(Attribute::optional("spark_conf", Type::map(Type::String), "Extra Spark configuration (`spark.*` keys).").validate(spark_conf_keys()).force_new())
            .attr(Attribute::optional("env", Type::map(Type::String), "Environment variables of the driver and executors.").validate(env_names()).force_new())
            .attr(Attribute::optional("service_account", Type::String, "Service account of the driver (default: the namespace's `spark-driver`).").validate(k8s_name()).force_new())
            .attr(Attribute::optional("oss_credentials_secret", Type::String, "Secret with `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (and `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` for Hadoop's OSS connector) for OSS access from the pods, e.g. `sparkoss_namespace.team_a.oss_credentials_secret` (default: RRSA or the node's RAM role). The driver loads it whole; executors get its credential keys as secret references.").validate(k8s_name()).force_new())
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
        Job {
            schema: Schema { version: 0, block },
            probe: None,
            oss_probe: Default::default(),
            etags: Default::default(),
            etag_ttl: ETAG_TTL,
        }
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
        validate_file_names(config, diags);
    }

    async fn create(&self, ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        self.create_job(ctx, planned).await
    }

    async fn read(&self, ctx: &OpContext, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = JobSpec::from_value(state);
        let client = connect(state).await?;
        let pods: Api<Pod> = Api::namespaced(client, &spec.namespace);
        match pods.get_opt(&spec.driver_pod()).await {
            // Gone out of band: drop it from state, so the plan runs the job again.
            Ok(None) => Ok(None),
            Ok(Some(pod)) => {
                let mut s = state.clone();
                fill_computed(&mut s, &spec, &pod);
                self.mark_changed_jar(ctx, &mut s).await;
                Ok(Some(s))
            }
            Err(e) => Err(KubeError::api(format!("reading pod {}", spec.driver_pod()))(e).diag("Cannot read the Spark job", None)),
        }
    }

    async fn update(&self, _ctx: &OpContext, _prior: &Value, planned: &Value) -> Result<Value, Diagnostics> {
        // Everything that shapes the run forces a replacement; what is left (waiting, timeouts)
        // only matters while applying, so an update just records it.
        Ok(planned.clone())
    }

    async fn delete(&self, _ctx: &OpContext, state: &Value) -> Result<(), Diagnostics> {
        let spec = JobSpec::from_value(state);
        let client = connect(state).await?;
        remove(&client, &spec).await.map_err(|e| e.diag("Cannot delete the Spark job", None))
    }

    async fn import(&self, _ctx: &OpContext, id: &str) -> Result<Value, Diagnostics> {
        let Some((ns, name)) = id.split_once('/').filter(|(a, b)| !a.is_empty() && !b.is_empty()) else {
            return Err(err("Invalid import id", None, format!("{id:?}: import a job as namespace/name")));
        };
        // The connection comes from KUBECONFIG or ~/.kube/config (import only has the id).
        let client = connect(&Value::Null).await?;
        let pods: Api<Pod> = Api::namespaced(client, ns);
        let pod_name = format!("{name}-driver");
        let pod = pods
            .get_opt(&pod_name)
            .await
            .map_err(|e| KubeError::api(format!("reading pod {pod_name}"))(e).diag("Cannot import the Spark job", None))?
            .ok_or_else(|| err("Cannot import the Spark job", None, format!("no driver pod {ns}/{pod_name}")))?;
        let annotation = pod.metadata.annotations.as_ref().and_then(|a| a.get(SPEC_ANNOTATION)).cloned().ok_or_else(|| {
            err(
                "Cannot import the Spark job",
                None,
                format!("pod {ns}/{pod_name} was not created by sparkoss (no {SPEC_ANNOTATION} annotation)"),
            )
        })?;
        let j: serde_json::Value =
            serde_json::from_str(&annotation).map_err(|e| err("Cannot import the Spark job", None, format!("{SPEC_ANNOTATION}: {e}")))?;
        let mut state =
            Value::from_json(&j, &self.schema.block.implied_type()).map_err(|e| err("Cannot import the Spark job", None, e.to_string()))?;
        let spec = JobSpec::from_value(&state);
        fill_computed(&mut state, &spec, &pod);
        Ok(state)
    }
}

/// Looks the main application up on OSS before anything is created: the pre-flight seam, so the
/// job logic is tested without OSS and the OSS client can change behind it.
#[async_trait]
pub trait JarProbe: Send + Sync {
    /// The object's ETag; `Ok(None)` when it does not exist; `Err` with a reason otherwise.
    async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, String>;
}

/// [`JarProbe`] over the OSS client of `sparkoss-aliyun`, with the provider's credentials.
pub struct OssJarProbe(sparkoss_aliyun::oss::Client);

impl OssJarProbe {
    /// A probe when the provider has static credentials (AccessKey, optionally STS); `None` for
    /// the other credential sources, which the OSS client cannot resolve on its own yet.
    pub fn from_config(cfg: &crate::config::ProviderConfig) -> Option<OssJarProbe> {
        use sparkoss_aliyun::oss::{Client, ClientConfig, Endpoint};
        let crate::config::CredentialSource::Static { access_key_id, access_key_secret, security_token } = &cfg.credentials else {
            return None;
        };
        let region = cfg.region.clone().unwrap_or_else(|| "cn-hangzhou".into());
        let endpoint = match &cfg.endpoints.oss {
            Some(e) => Endpoint::parse(e).ok()?,
            None => Endpoint::public(&region),
        };
        let creds = sparkoss_aliyun::signing::Credentials {
            access_key_id: access_key_id.expose().to_owned(),
            access_key_secret: access_key_secret.expose().to_owned(),
            security_token: security_token.as_ref().map(|t| t.expose().to_owned()),
        };
        Client::new(ClientConfig::new(endpoint, region), creds).ok().map(OssJarProbe)
    }
}

#[async_trait]
impl JarProbe for OssJarProbe {
    async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, String> {
        match self.0.head_object(bucket, key).await {
            Ok(h) => Ok(Some(h.etag)),
            Err(sparkoss_aliyun::oss::OssError::Service { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Pod annotation holding the job's configuration (connection excluded), so import can
/// rebuild the whole state from the cluster.
pub const SPEC_ANNOTATION: &str = "sparkoss.io/job-spec";

/// JVM memory (`4g`, `512m`, `1024k`, bytes) in MiB.
fn jvm_mib(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (n, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1.0 / 1024.0),
        'm' => (&s[..s.len() - 1], 1.0),
        'g' => (&s[..s.len() - 1], 1024.0),
        't' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        _ => (s.as_str(), 1.0 / 1048576.0),
    };
    n.parse::<f64>().ok().map(|v| (v * mul).ceil() as u64)
}

/// Requests of one pod: cores and MiB (heap + overhead, Spark's 10% with a 384 MiB floor).
#[derive(Debug, Clone, Copy, PartialEq)]
struct PodSize {
    cores: u64,
    mib: u64,
}

fn pod_size(block: &Value) -> PodSize {
    let cores = block.attr("cores").as_number().and_then(|n| n.as_i64()).unwrap_or(1).max(1) as u64;
    let heap = block.attr("memory").as_str().and_then(jvm_mib).unwrap_or(1024);
    let overhead = block.attr("memory_overhead").as_str().and_then(jvm_mib).unwrap_or_else(|| (heap / 10).max(384));
    PodSize { cores, mib: heap + overhead }
}

/// The job as configured, in the terms the cluster needs.
struct JobSpec {
    name: String,
    namespace: String,
    user: Option<String>,
    image: String,
    main_application: String,
    driver: PodSize,
    executor: PodSize,
    instances: u64,
    wait: bool,
    pending_timeout: Duration,
    create_timeout: Duration,
    delete_timeout: Duration,
}

impl JobSpec {
    fn from_value(v: &Value) -> JobSpec {
        let t =
            |op: &str, default: u64| v.attr("timeouts").attr(op).as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(default));
        JobSpec {
            name: v.attr("name").as_str().unwrap_or_default().to_owned(),
            namespace: v.attr("namespace").as_str().unwrap_or_default().to_owned(),
            user: v.attr("user").as_str().map(str::to_owned),
            image: v.attr("image").as_str().unwrap_or_default().to_owned(),
            main_application: v.attr("main_application").as_str().unwrap_or_default().to_owned(),
            driver: pod_size(v.attr("driver")),
            executor: pod_size(v.attr("executor")),
            instances: v.attr("executor").attr("instances").as_number().and_then(|n| n.as_i64()).unwrap_or(2).max(0) as u64,
            wait: v.attr("wait_for_completion").as_bool().unwrap_or(true),
            pending_timeout: v.attr("pending_timeout").as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(300)),
            create_timeout: t("create", 3600),
            delete_timeout: t("delete", 600),
        }
    }

    fn driver_pod(&self) -> String {
        format!("{}-driver", self.name)
    }

    fn service(&self) -> String {
        format!("{}-driver-svc", self.name)
    }

    fn labels(&self, role: &str) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("app.kubernetes.io/managed-by".to_owned(), "sparkoss".to_owned());
        l.insert("sparkoss.io/job".to_owned(), self.name.clone());
        if let Some(u) = &self.user {
            l.insert("sparkoss.io/user".to_owned(), u.clone());
        }
        l.insert("spark-role".to_owned(), role.to_owned());
        l
    }

    /// Total requests of driver + executors: cores, MiB, pods.
    fn total(&self) -> (u64, u64, u64) {
        (self.driver.cores + self.instances * self.executor.cores, self.driver.mib + self.instances * self.executor.mib, 1 + self.instances)
    }
}

/// The configured (non-computed, non-connection) attributes, for the spec annotation.
fn spec_json(v: &Value) -> serde_json::Value {
    let keep = [
        "name",
        "namespace",
        "user",
        "image",
        "main_application",
        "main_class",
        "args",
        "jars",
        "files",
        "spark_conf",
        "env",
        "service_account",
        "oss_credentials_secret",
        "wait_for_completion",
        "pending_timeout",
        "driver",
        "executor",
        "timeouts",
    ];
    let mut m = serde_json::Map::new();
    for k in keep {
        if let Ok(j) = v.attr(k).to_json() {
            m.insert(k.to_owned(), j);
        }
    }
    serde_json::Value::Object(m)
}

/// The last path segment of a job file URI: the name the launcher gives it in the driver's
/// working directory (the key's for `oss://`, the path's without query and fragment for
/// `https://`, the path's for `local:///`). `None` for a URI the attribute validators reject.
fn base_name(uri: &str) -> Option<String> {
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
fn redact_uri(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// `args` name `files` by base name in one working directory, so two files (or a file and a
/// jar) with the same base name would overwrite each other or be renamed by the launcher
/// behind the user's back: refuse that at plan, on the element at fault.
fn validate_file_names(config: &Value, diags: &mut Diagnostics) {
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

fn strings(v: &Value) -> Vec<String> {
    v.elements().map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.entries().map(|m| m.iter().filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_owned()))).collect()).unwrap_or_default()
}

/// The launcher's arguments: `run --` and the job description flags of the launcher contract
/// (`sparkoss-launcher run -- --main-application URI --main-class C --arg A ... --conf K=V ...`).
fn launcher_args(v: &Value, spec: &JobSpec, app_id: &str, executor_conf: BTreeMap<String, String>) -> Vec<String> {
    let mut conf: BTreeMap<String, String> = string_map(v.attr("spark_conf"));
    // The job's own spark_conf wins over what sparkoss gives executors by default.
    for (k, val) in executor_conf {
        conf.entry(k).or_insert(val);
    }
    conf.insert("spark.app.id".into(), app_id.to_owned());
    conf.insert("spark.driver.port".into(), "7078".into());
    conf.insert("spark.driver.blockManager.port".into(), "7079".into());
    for (block, key) in [("driver", "spark.driver.memoryOverhead"), ("executor", "spark.executor.memoryOverhead")] {
        if let Some(m) = v.attr(block).attr("memory_overhead").as_str() {
            conf.insert(key.into(), m.to_owned());
        }
    }
    // Executors carry the same sparkoss labels as the driver, and die with it.
    for (k, val) in spec.labels("executor") {
        if k != "spark-role" {
            conf.insert(format!("spark.kubernetes.executor.label.{k}"), val);
        }
    }
    let mut out: Vec<String> = vec!["run".into(), "--".into(), "--main-application".into(), spec.main_application.clone()];
    let mut flag = |f: &str, val: String| {
        out.push(f.to_owned());
        out.push(val);
    };
    if let Some(c) = v.attr("main_class").as_str() {
        flag("--main-class", c.to_owned());
    }
    flag("--name", spec.name.clone());
    flag("--driver-cores", spec.driver.cores.to_string());
    flag("--driver-memory", v.attr("driver").attr("memory").as_str().unwrap_or("1g").to_owned());
    flag("--executor-instances", spec.instances.to_string());
    flag("--executor-cores", spec.executor.cores.to_string());
    flag("--executor-memory", v.attr("executor").attr("memory").as_str().unwrap_or("2g").to_owned());
    flag("--namespace", spec.namespace.clone());
    flag("--image", spec.image.clone());
    flag("--driver-pod-name", spec.driver_pod());
    flag("--driver-host", format!("{}.{}.svc", spec.service(), spec.namespace));
    for j in strings(v.attr("jars")) {
        flag("--jar", j);
    }
    for f in strings(v.attr("files")) {
        flag("--file", f);
    }
    for (k, val) in conf {
        flag("--conf", format!("{k}={val}"));
    }
    for a in strings(v.attr("args")) {
        flag("--arg", a);
    }
    out
}

fn quantity(s: String) -> Quantity {
    Quantity(s)
}

/// What executors get besides Spark's own settings, as Spark configuration: the credential keys
/// of the job's OSS Secret (`secret_keys`, those it holds) as `secretKeyRef`s (never values),
/// and the provider's OSS endpoint and region (`extra_env`), so Hadoop's OSS connector in the
/// executors reads what the driver reads.
fn executor_conf(secret: Option<&str>, secret_keys: &[String], extra_env: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut conf = BTreeMap::new();
    if let Some(secret) = secret {
        let credential_keys = crate::resources::namespace::OSS_SECRET_KEYS.iter().flat_map(|(_, sdk, oss)| [*sdk, *oss]);
        for key in credential_keys.filter(|k| secret_keys.iter().any(|s| s == k)) {
            conf.insert(format!("spark.kubernetes.executor.secretKeyRef.{key}"), format!("{secret}:{key}"));
        }
    }
    for (name, value) in extra_env {
        conf.insert(format!("spark.executorEnv.{name}"), value.clone());
    }
    conf
}

/// The keys of the Secret `name` (none when it cannot be read: the driver then reports it).
async fn secret_keys(client: &kube::Client, namespace: &str, name: &str) -> Vec<String> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    match secrets.get_opt(name).await {
        Ok(Some(s)) => s.data.unwrap_or_default().into_keys().chain(s.string_data.unwrap_or_default().into_keys()).collect(),
        _ => Vec::new(),
    }
}

/// Environment the driver gets from the provider's own configuration, so the launcher reaches
/// the OSS the pre-flight checked: `SPARKOSS_OSS_ENDPOINT` when `endpoints.oss` is set, and
/// `ALIBABA_CLOUD_REGION` when a region is known (the launcher derives the endpoint and signs V4
/// requests with it).
fn provider_env(cfg: &crate::config::ProviderConfig) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(e) = &cfg.endpoints.oss {
        env.push(("SPARKOSS_OSS_ENDPOINT", e.clone()));
    }
    if let Some(r) = &cfg.region {
        env.push(("ALIBABA_CLOUD_REGION", r.clone()));
    }
    env
}

/// The driver pod. `extra_env` (from [`provider_env`]) is added after the user's `env`, which
/// wins on a shared name: a job may deliberately point its launcher elsewhere.
///
/// `cpu_limits`: a quota of the namespace constrains `limits.cpu`, so the driver (and, through
/// Spark's configuration, the executors) declare CPU limits equal to their requests. Otherwise
/// they declare none, as Spark's own pods do: a limit would throttle the JVM to its request.
fn build_pod(v: &Value, spec: &JobSpec, app_id: &str, extra_env: &[(&str, String)], secret_keys: &[String], cpu_limits: bool) -> Pod {
    let mut res = BTreeMap::new();
    res.insert("cpu".to_owned(), quantity(spec.driver.cores.to_string()));
    res.insert("memory".to_owned(), quantity(format!("{}Mi", spec.driver.mib)));
    // Memory is limited to the request, as Spark limits its pods; CPU only where a quota asks.
    let mut limits = res.clone();
    if !cpu_limits {
        limits.remove("cpu");
    }
    let user_env = string_map(v.attr("env"));
    let extra: Vec<EnvVar> = extra_env
        .iter()
        .filter(|(name, _)| !user_env.contains_key(*name))
        .map(|(name, value)| EnvVar { name: (*name).to_owned(), value: Some(value.clone()), value_from: None })
        .collect();
    let mut env: Vec<EnvVar> = user_env.into_iter().map(|(name, value)| EnvVar { name, value: Some(value), value_from: None }).collect();
    env.extend(extra);
    env.push(EnvVar {
        name: "SPARK_DRIVER_BIND_ADDRESS".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "status.podIP".into(), api_version: None }),
            ..Default::default()
        }),
    });
    let env_from = v
        .attr("oss_credentials_secret")
        .as_str()
        .map(|s| vec![EnvFromSource { secret_ref: Some(SecretEnvSource { name: s.to_owned(), optional: None }), ..Default::default() }]);
    let mut annotations = BTreeMap::new();
    annotations.insert(SPEC_ANNOTATION.to_owned(), spec_json(v).to_string());
    Pod {
        metadata: ObjectMeta {
            name: Some(spec.driver_pod()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(spec.labels("driver")),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            service_account_name: Some(v.attr("service_account").as_str().unwrap_or("spark-driver").to_owned()),
            containers: vec![Container {
                name: "spark-driver".into(),
                image: Some(spec.image.clone()),
                command: Some(vec!["/opt/sparkoss/bin/sparkoss-launcher".into()]),
                args: Some(launcher_args(v, spec, app_id, {
                    let mut conf = executor_conf(v.attr("oss_credentials_secret").as_str(), secret_keys, extra_env);
                    if cpu_limits {
                        conf.insert("spark.kubernetes.executor.limit.cores".into(), spec.executor.cores.to_string());
                    }
                    conf
                })),
                env: Some(env),
                env_from,
                resources: Some(ResourceRequirements { requests: Some(res.clone()), limits: Some(limits), ..Default::default() }),
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                ports: Some(vec![
                    k8s_openapi::api::core::v1::ContainerPort {
                        name: Some("driver-rpc".into()),
                        container_port: 7078,
                        ..Default::default()
                    },
                    k8s_openapi::api::core::v1::ContainerPort {
                        name: Some("blockmanager".into()),
                        container_port: 7079,
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

fn build_service(spec: &JobSpec, owner: &Pod) -> Service {
    let port = |name: &str, p: i32| ServicePort { name: Some(name.into()), port: p, ..Default::default() };
    let mut selector = BTreeMap::new();
    selector.insert("sparkoss.io/job".to_owned(), spec.name.clone());
    selector.insert("spark-role".to_owned(), "driver".to_owned());
    Service {
        metadata: ObjectMeta {
            name: Some(spec.service()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(spec.labels("driver")),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: spec.driver_pod(),
                uid: owner.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector),
            ports: Some(vec![port("driver-rpc", 7078), port("blockmanager", 7079)]),
            ..Default::default()
        }),
        status: None,
    }
}

fn err(summary: &str, path: Option<&str>, detail: impl AsRef<str>) -> Diagnostics {
    let mut d = Diagnostics::new();
    match path {
        Some(p) => d.attr_error(&AttrPath::root().attr(p), summary, detail),
        None => d.error(summary, detail.as_ref()),
    }
    d
}

/// Checks that the job fits every quota of its namespace; answers whether a quota constrains
/// `limits.cpu` (pods must then declare CPU limits).
async fn check_quota(client: &kube::Client, spec: &JobSpec) -> Result<bool, Diagnostics> {
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), &spec.namespace);
    let quotas = api.list(&ListParams::default()).await.map_err(|e| {
        KubeError::api(format!("listing quotas of namespace {}", spec.namespace))(e)
            .diag("Pre-flight failed", Some(&AttrPath::root().attr("namespace")))
    })?;
    let mut cpu_limits = false;
    for q in quotas {
        let qname = q.metadata.name.clone().unwrap_or_default();
        let hard = q.spec.and_then(|s| s.hard).unwrap_or_default();
        cpu_limits |= hard.contains_key("limits.cpu");
        let used = q.status.and_then(|s| s.used).unwrap_or_default();
        quota_fits(spec, &qname, &hard, &used)?;
    }
    Ok(cpu_limits)
}

/// Checks the job against one quota (`hard` and `used` as the server reports them), naming the
/// attribute, `driver` or `executor`, whose size does not fit. Amounts are compared exactly, in
/// nano-units. A quota quantity that does not parse (the server validates them, so not in
/// practice) leaves that resource unchecked here: the server still enforces it at creation.
fn quota_fits(
    spec: &JobSpec,
    qname: &str,
    hard: &BTreeMap<String, Quantity>,
    used: &BTreeMap<String, Quantity>,
) -> Result<(), Diagnostics> {
    const UNIT: i128 = 1_000_000_000;
    const MIB: i128 = 1_048_576 * UNIT;
    let (cores, mib, pods) = spec.total();
    let (cores, mem, pods) = (i128::from(cores) * UNIT, i128::from(mib) * MIB, i128::from(pods) * UNIT);
    let (driver_cores, driver_mem) = (i128::from(spec.driver.cores) * UNIT, i128::from(spec.driver.mib) * MIB);
    let nanos = |q: &Quantity| Amount::parse_trimmed(&q.0).ok().map(|a| a.nanos());
    let checks: [(&str, &str, i128, i128); 7] = [
        ("requests.cpu", "cpu", cores, driver_cores),
        ("cpu", "cpu", cores, driver_cores),
        ("limits.cpu", "cpu", cores, driver_cores),
        ("requests.memory", "memory", mem, driver_mem),
        ("memory", "memory", mem, driver_mem),
        ("limits.memory", "memory", mem, driver_mem),
        ("pods", "pods", pods, UNIT),
    ];
    for (key, what, need, driver_need) in checks {
        let Some(limit) = hard.get(key).and_then(nanos) else { continue };
        let in_use = used.get(key).and_then(nanos).unwrap_or(0);
        if in_use.saturating_add(need) <= limit {
            continue;
        }
        let fmt = |x: i128| {
            let x = Amount::from_nanos(x).as_f64();
            if what == "memory" {
                format!("{:.2}Gi", x / 1073741824.0)
            } else {
                format!("{x}")
            }
        };
        let attr = if in_use.saturating_add(driver_need) > limit { "driver" } else { "executor" };
        let per_executor = if spec.instances == 0 { 0 } else { (need - driver_need) / i128::from(spec.instances) };
        return Err(err(
            "Job does not fit the namespace quota",
            Some(attr),
            format!(
                "namespace {} quota {qname} allows {key}={} with {} in use; this job needs {} (driver {} + {} executors × {}). Nothing was created.",
                spec.namespace,
                hard.get(key).map(|h| h.0.clone()).unwrap_or_default(),
                fmt(in_use),
                fmt(need),
                fmt(driver_need),
                spec.instances,
                fmt(per_executor),
            ),
        ));
    }
    Ok(())
}

/// Image problems a pod does not recover from by waiting.
const FATAL_WAITING: &[&str] = &["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"];

/// An executor pod of the job that cannot start: its image cannot be had, or it has waited
/// longer than `pending_timeout` (unschedulable, say). Spark's driver would wait for it forever.
async fn stuck_executor(pods: &Api<Pod>, spec: &JobSpec) -> Option<(String, String)> {
    let lp = ListParams::default().labels(&format!("sparkoss.io/job={},spark-role=executor", spec.name));
    let list = pods.list(&lp).await.ok()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    list.items.iter().find_map(|p| {
        let o = observe(p);
        if o.state != "PENDING" {
            return None;
        }
        let name = p.metadata.name.clone().unwrap_or_default();
        let waited = p.metadata.creation_timestamp.as_ref().map_or(0, |t| now - t.0.as_second());
        let fatal = o.waiting.clone().filter(|(r, _)| FATAL_WAITING.contains(&r.as_str()));
        let too_long = u64::try_from(waited).unwrap_or(0) >= spec.pending_timeout.as_secs();
        if fatal.is_none() && !too_long {
            return None;
        }
        let reason =
            fatal.or(o.waiting.clone()).map(|(r, m)| format!("{r}: {m}")).or(o.unschedulable).unwrap_or_else(|| "still Pending".into());
        Some((name, reason))
    })
}

/// State of a driver pod: `state`, `started_at`, `finished_at`, `exit_code`, termination message.
struct Observed {
    state: &'static str,
    started_at: Option<String>,
    finished_at: Option<String>,
    exit_code: Option<i64>,
    message: Option<String>,
    waiting: Option<(String, String)>,
    unschedulable: Option<String>,
}

fn observe(pod: &Pod) -> Observed {
    let status = pod.status.clone().unwrap_or_default();
    let cs = status.container_statuses.clone().unwrap_or_default();
    let first = cs.first().and_then(|c| c.state.clone()).unwrap_or_default();
    let term = first.terminated.clone();
    let state = match status.phase.as_deref() {
        Some("Running") => "RUNNING",
        Some("Succeeded") => "SUCCEEDED",
        Some("Failed") => "FAILED",
        _ => "PENDING",
    };
    let ts = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| t.0.to_string();
    let started_at = term
        .as_ref()
        .and_then(|t| t.started_at.as_ref().map(ts))
        .or_else(|| first.running.as_ref().and_then(|r| r.started_at.as_ref().map(ts)))
        .or_else(|| status.start_time.as_ref().map(ts))
        .filter(|_| state != "PENDING");
    Observed {
        state,
        started_at,
        finished_at: term.as_ref().and_then(|t| t.finished_at.as_ref().map(ts)),
        exit_code: term.as_ref().map(|t| i64::from(t.exit_code)),
        message: term.and_then(|t| t.message),
        waiting: first.waiting.map(|w| (w.reason.unwrap_or_default(), w.message.unwrap_or_default())),
        unschedulable: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| format!("{}: {}", c.reason.unwrap_or_default(), c.message.unwrap_or_default())),
    }
}

fn rfc3339_seconds(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// Writes the computed attributes of `state` from the pod.
fn fill_computed(state: &mut Value, spec: &JobSpec, pod: &Pod) {
    let o = observe(pod);
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let Some(m) = state.attrs_mut() else { return };
    m.insert("id".into(), Value::string(format!("{}/{}", spec.namespace, spec.name)));
    m.insert("driver_pod".into(), Value::string(spec.driver_pod()));
    m.insert("state".into(), Value::string(o.state));
    m.insert("started_at".into(), opt(o.started_at.clone()));
    m.insert("finished_at".into(), opt(o.finished_at.clone()));
    m.insert("exit_code".into(), o.exit_code.map_or(Value::Null, |c| Value::Number(Number::Int(c))));
    let app_id = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.args.as_ref())
        .and_then(|a| a.iter().find_map(|x| x.strip_prefix("spark.app.id=").map(str::to_owned)));
    m.insert("spark_app_id".into(), opt(app_id));
    // Usage: requests × run time (until now while running).
    let start = o.started_at.as_deref().and_then(rfc3339_seconds);
    let end =
        o.finished_at.as_deref().and_then(rfc3339_seconds).or_else(|| start.map(|_| time::OffsetDateTime::now_utc().unix_timestamp()));
    let secs = match (start, end) {
        (Some(s), Some(e)) => (e - s).max(0),
        _ => 0,
    };
    let (cores, mib, _) = spec.total();
    m.insert("cpu_core_seconds".into(), Value::Number(Number::Int(cores as i64 * secs)));
    m.insert("memory_gib_seconds".into(), Value::Number(Number::Float((mib as f64 / 1024.0) * secs as f64)));
}

async fn log_tail(api: &Api<Pod>, name: &str, lines: i64) -> String {
    match api.logs(name, &LogParams { tail_lines: Some(lines), ..Default::default() }).await {
        Ok(l) => l,
        Err(e) => format!("(log not available: {e})"),
    }
}

/// Why a driver failed, root cause first: the exception and its `Caused by` chain from the
/// log, then the log's last lines (or the termination message when the log names no exception).
fn failure_detail(namespace: &str, name: &str, exit_code: i64, message: Option<String>, log: &str) -> String {
    match driver_log::root_cause(log) {
        Some(cause) => format!(
            "driver pod {namespace}/{name} failed with exit code {exit_code}:\n{cause}\n\nLast 20 log lines:\n{}",
            driver_log::tail(log, 20)
        ),
        None => format!(
            "driver pod {namespace}/{name} failed with exit code {exit_code}: {}\n\nLast 50 log lines:\n{}",
            message.unwrap_or_else(|| "(no termination message)".into()),
            driver_log::tail(log, 50)
        ),
    }
}

/// Deletes the driver pod (executors and the service go with it through owner references), the
/// service and any executor left; already gone is fine.
async fn remove(client: &kube::Client, spec: &JobSpec) -> Result<(), KubeError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &spec.namespace);
    let ignore_404 = |r: Result<(), kube::Error>, what: String| match r {
        Err(e) if !is_not_found(&e) => Err(KubeError::api(what)(e)),
        _ => Ok(()),
    };
    ignore_404(pods.delete(&spec.driver_pod(), &DeleteParams::default()).await.map(|_| ()), format!("deleting pod {}", spec.driver_pod()))?;
    ignore_404(svcs.delete(&spec.service(), &DeleteParams::default()).await.map(|_| ()), format!("deleting service {}", spec.service()))?;
    let executors = ListParams::default().labels(&format!("sparkoss.io/job={},spark-role=executor", spec.name));
    ignore_404(pods.delete_collection(&DeleteParams::default(), &executors).await.map(|_| ()), "deleting executors".into())?;
    crate::kube_conn::poll(&format!("pod {} to be deleted", spec.driver_pod()), spec.delete_timeout, Duration::from_millis(500), || {
        let pods = pods.clone();
        let name = spec.driver_pod();
        async move { pods.get_opt(&name).await.map(|p| p.is_none().then_some(())).map_err(KubeError::api(format!("reading pod {name}"))) }
    })
    .await
}

async fn connect(v: &Value) -> Result<kube::Client, Diagnostics> {
    let conn = Connection::from_value(v).map_err(|e| e.diag("Kubernetes connection", None))?;
    conn.client().await.map_err(|e| e.diag("Kubernetes connection", Some(&AttrPath::root().attr("kubeconfig"))))
}

fn new_app_id(name: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let h = name.bytes().fold(t, |a, b| a.wrapping_mul(1_000_003).wrapping_add(u128::from(b)));
    format!("spark-{:032x}", h)
}

impl Job {
    /// The resource with a given jar pre-flight (tests use a fake; `None` means the provider's
    /// OSS credentials through [`OssJarProbe`]).
    pub fn with_probe(probe: Option<Arc<dyn JarProbe>>) -> Self {
        let mut j = Job::new();
        j.probe = probe;
        j
    }

    /// The jar probe: the one given to [`Job::with_probe`], else the OSS client of the provider's
    /// configuration, built once per configuration; `None` without usable OSS credentials.
    fn jar_probe(&self, ctx: &OpContext) -> Option<Arc<dyn JarProbe>> {
        if let Some(p) = &self.probe {
            return Some(p.clone());
        }
        let mut slot = self.oss_probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cfg, probe)) = slot.as_ref() {
            if cfg == ctx.config.as_ref() {
                return probe.clone();
            }
        }
        let probe = OssJarProbe::from_config(&ctx.config).map(|p| Arc::new(p) as Arc<dyn JarProbe>);
        *slot = Some((ctx.config.as_ref().clone(), probe.clone()));
        probe
    }

    /// The ETag of an object for a refresh: jobs refreshed together that share a jar ask OSS
    /// once (concurrent asks wait for the first), and an answer is reused for [`ETAG_TTL`].
    /// Failures are not remembered: the next refresh asks again.
    async fn refresh_etag(&self, probe: &Arc<dyn JarProbe>, bucket: &str, key: &str) -> Result<Option<String>, String> {
        let id = (bucket.to_owned(), key.to_owned());
        let cell = {
            let mut etags = self.etags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            etags.retain(|_, c| c.get().is_none_or(|(at, _)| now.duration_since(*at) < self.etag_ttl));
            etags.entry(id.clone()).or_default().clone()
        };
        let (_, answer) = cell.get_or_init(|| async { (tokio::time::Instant::now(), probe.etag(bucket, key).await) }).await;
        if answer.is_err() {
            let mut etags = self.etags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if etags.get(&id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                etags.remove(&id);
            }
        }
        answer.clone()
    }

    async fn preflight_jar(&self, ctx: &OpContext, uri: &str) -> Result<Option<String>, Diagnostics> {
        let Ok(parsed) = sparkoss_aliyun::oss_uri::OssUri::parse(uri) else { return Ok(None) };
        // No usable OSS credentials in the provider: the launcher will find out in the pod.
        let Some(probe) = self.jar_probe(ctx) else { return Ok(None) };
        // A fresh answer, never a remembered one: this decides what is created.
        match probe.etag(parsed.bucket(), parsed.key()).await {
            Ok(Some(etag)) => Ok(Some(etag)),
            Ok(None) => Err(err(
                "Main application not found",
                Some("main_application"),
                format!("{uri} does not exist on OSS. Nothing was created."),
            )),
            Err(reason) => Err(err("Cannot check the main application", Some("main_application"), format!("HEAD {uri}: {reason}"))),
        }
    }

    /// A jar replaced on OSS since submission re-runs the job: the state's `main_application`
    /// then records the change, which differs from the configuration and so plans a
    /// replacement, with the reason in the diff.
    async fn mark_changed_jar(&self, ctx: &OpContext, state: &mut Value) {
        let (Some(uri), Some(old)) =
            (state.attr("main_application").as_str().map(str::to_owned), state.attr("main_application_etag").as_str().map(str::to_owned))
        else {
            return;
        };
        let Ok(parsed) = sparkoss_aliyun::oss_uri::OssUri::parse(&uri) else { return };
        let Some(probe) = self.jar_probe(ctx) else { return };
        let now = match self.refresh_etag(&probe, parsed.bucket(), parsed.key()).await {
            Ok(Some(e)) if e == old => return,
            Ok(Some(e)) => format!("ETag {e}"),
            Ok(None) => "deleted".to_owned(),
            // Unreachable OSS says nothing about the jar; keep the state as it is.
            Err(_) => return,
        };
        if let Some(m) = state.attrs_mut() {
            m.insert("main_application".into(), Value::string(format!("{uri} (changed on OSS since the run: ETag {old} -> {now})")));
        }
    }

    async fn wait(&self, client: &kube::Client, spec: &JobSpec) -> Result<Pod, Diagnostics> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
        let name = spec.driver_pod();
        let start = tokio::time::Instant::now();
        let mut running = false;
        let mut executor_check = start;
        loop {
            let pod = pods
                .get_opt(&name)
                .await
                .map_err(|e| KubeError::api(format!("reading pod {name}"))(e).diag("Cannot follow the job", None))?
                .ok_or_else(|| {
                    err("Spark job lost", None, format!("driver pod {}/{name} was deleted while the job ran", spec.namespace))
                })?;
            let o = observe(&pod);
            match o.state {
                "SUCCEEDED" => return Ok(pod),
                "FAILED" => {
                    // Enough of the log to hold the whole stack trace of the failure.
                    let logs = log_tail(&pods, &name, 400).await;
                    let _ = remove(client, spec).await;
                    let detail = failure_detail(&spec.namespace, &name, o.exit_code.unwrap_or(-1), o.message, &logs);
                    return Err(err("Spark job failed", None, detail));
                }
                "RUNNING" => running = true,
                _ => {}
            }
            if running && executor_check.elapsed() >= Duration::from_secs(2) {
                executor_check = tokio::time::Instant::now();
                if let Some((pod_name, reason)) = stuck_executor(&pods, spec).await {
                    let _ = remove(client, spec).await;
                    return Err(err(
                        "Spark job's executors did not start",
                        Some("pending_timeout"),
                        format!(
                            "executor pod {}/{pod_name} did not start within {:?}: {reason}. The driver was stopped and its executors removed.",
                            spec.namespace, spec.pending_timeout
                        ),
                    ));
                }
            }
            if !running {
                let fatal = o.waiting.clone().filter(|(r, _)| FATAL_WAITING.contains(&r.as_str()));
                let pending_too_long = start.elapsed() >= spec.pending_timeout;
                if fatal.is_some() || pending_too_long {
                    let reason = fatal
                        .map(|(r, m)| format!("{r}: {m}"))
                        .or(o.unschedulable)
                        .or(o.waiting.map(|(r, m)| format!("{r}: {m}")))
                        .unwrap_or_else(|| "still Pending".into());
                    let _ = remove(client, spec).await;
                    return Err(err(
                        "Spark job did not start",
                        Some(if pending_too_long { "pending_timeout" } else { "image" }),
                        format!(
                            "driver pod {}/{name} did not start within {:?}: {reason}. The pod was removed.",
                            spec.namespace, spec.pending_timeout
                        ),
                    ));
                }
            }
            if start.elapsed() >= spec.create_timeout {
                let _ = remove(client, spec).await;
                return Err(err(
                    "Spark job timed out",
                    Some("timeouts"),
                    format!("driver pod {}/{name} still running after {:?}; it was removed", spec.namespace, spec.create_timeout),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn create_job(&self, ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        let spec = JobSpec::from_value(planned);
        let client = connect(planned).await?;
        // Pre-flight: nothing is created unless the jar exists and the job fits the quota.
        let etag = self.preflight_jar(ctx, &spec.main_application).await?;
        let cpu_limits = check_quota(&client, &spec).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
        let app_id = new_app_id(&spec.name);
        let keys = match planned.attr("oss_credentials_secret").as_str() {
            Some(secret) => secret_keys(&client, &spec.namespace, secret).await,
            None => Vec::new(),
        };
        let pod = pods
            .create(&PostParams::default(), &build_pod(planned, &spec, &app_id, &provider_env(&ctx.config), &keys, cpu_limits))
            .await
            .map_err(|e| {
                let e = KubeError::api(format!("creating driver pod {}/{}", spec.namespace, spec.driver_pod()))(e);
                let path = if e.status_code() == Some(403) { "executor" } else { "name" };
                err("Cannot start the Spark job", Some(path), e.message())
            })?;
        let svcs: Api<Service> = Api::namespaced(client.clone(), &spec.namespace);
        if let Err(e) = svcs.create(&PostParams::default(), &build_service(&spec, &pod)).await {
            let _ = remove(&client, &spec).await;
            return Err(KubeError::api(format!("creating service {}", spec.service()))(e).diag("Cannot start the Spark job", None));
        }
        let pod = if spec.wait { self.wait(&client, &spec).await? } else { pod };
        let mut state = planned.clone();
        if let Some(m) = state.attrs_mut() {
            m.insert("main_application_etag".into(), etag.map_or(Value::Null, Value::String));
        }
        fill_computed(&mut state, &spec, &pod);
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(extra: serde_json::Value) -> Value {
        let job = Job::new();
        let mut j = serde_json::json!({
            "name": "etl", "namespace": "team-a", "user": "ana", "image": "reg/spark-oss:3.5.3",
            "main_application": "oss://jobs/etl.jar", "main_class": "com.acme.Etl", "args": ["--date", "2026-11-23"],
            "spark_conf": {"spark.sql.shuffle.partitions": "64"}, "wait_for_completion": true, "pending_timeout": "5m",
            "driver": {"cores": 1, "memory": "2g", "memory_overhead": null},
            "executor": {"instances": 4, "cores": 2, "memory": "4g", "memory_overhead": "1g"},
        });
        if let (Some(m), Some(e)) = (j.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        Value::from_json(&j, &job.schema.block.implied_type()).expect("fits the schema")
    }

    #[test]
    fn quota_checks_are_exact_and_name_the_attribute() {
        // driver 1 core + 4 executors × 2 = 9 cores; memory 2432Mi + 4 × 5120Mi = 22912Mi.
        let spec = JobSpec::from_value(&planned(serde_json::json!({})));
        let map = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned()))).collect::<BTreeMap<_, _>>();
        let check = |hard: &[(&str, &str)], used: &[(&str, &str)]| quota_fits(&spec, "q", &map(hard), &map(used));
        check(&[("requests.cpu", "9"), ("pods", "5")], &[]).expect("fits exactly, no epsilon needed");
        check(&[("requests.memory", "22912Mi")], &[("requests.memory", "0")]).expect("fits exactly");
        check(&[("cpu", "9000m")], &[("cpu", "0")]).expect("millicores compare with cores");

        let e = check(&[("requests.cpu", "9")], &[("requests.cpu", "1n")]).expect_err("one nanocore over");
        let d = &e.0[0];
        assert_eq!(d.path, Some(AttrPath::root().attr("executor")), "{d:?}");
        assert!(
            d.detail.contains("quota q allows requests.cpu=9 with 0.000000001 in use; this job needs 9 (driver 1 + 4 executors × 2)"),
            "{}",
            d.detail
        );

        let e = check(&[("requests.cpu", "1500m")], &[("requests.cpu", "600m")]).expect_err("driver alone is over");
        assert_eq!(e.0[0].path, Some(AttrPath::root().attr("driver")));
        assert!(check(&[("pods", "4")], &[]).is_err(), "5 pods");

        // The old parser knew no E or Ei suffix and silently skipped such a quota: 1e10 bytes is 9.31Gi.
        let e = check(&[("limits.memory", "0.00000001E")], &[]).expect_err("22.38Gi does not fit 9.31Gi");
        assert!(e.0[0].detail.contains("allows limits.memory=0.00000001E with 0.00Gi in use; this job needs 22.38Gi"), "{}", e.0[0].detail);
        // A quantity that is not one is left to the server.
        check(&[("requests.cpu", "lots")], &[]).expect("unchecked");
    }

    #[test]
    fn memory_sizes_follow_spark_overhead_rules() {
        assert_eq!(jvm_mib("4g"), Some(4096));
        assert_eq!(jvm_mib("512m"), Some(512));
        assert_eq!(jvm_mib("2048k"), Some(2));
        let v = planned(serde_json::json!({}));
        let spec = JobSpec::from_value(&v);
        // Driver: 2g + max(384m, 10%) = 2048 + 384; executors: 4g + 1g explicit.
        assert_eq!(spec.driver, PodSize { cores: 1, mib: 2432 });
        assert_eq!(spec.executor, PodSize { cores: 2, mib: 5120 });
        assert_eq!(spec.total(), (9, 2432 + 4 * 5120, 5));
    }

    #[test]
    fn executors_get_the_secrets_credential_keys_by_reference_and_the_oss_endpoint() {
        let keys: Vec<String> =
            ["ALIBABA_CLOUD_ACCESS_KEY_ID", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "unrelated"].map(String::from).to_vec();
        let env = [("SPARKOSS_OSS_ENDPOINT", "http://oss.local:80".to_owned())];
        let conf = executor_conf(Some("oss-keys"), &keys, &env);
        assert_eq!(
            conf.get("spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_ID").map(String::as_str),
            Some("oss-keys:OSS_ACCESS_KEY_ID")
        );
        assert_eq!(
            conf.get("spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_SECRET").map(String::as_str),
            Some("oss-keys:OSS_ACCESS_KEY_SECRET")
        );
        assert!(!conf.contains_key("spark.kubernetes.executor.secretKeyRef.OSS_SESSION_TOKEN"), "only keys the Secret holds: {conf:?}");
        assert!(!conf.keys().any(|k| k.ends_with("unrelated")), "only credential keys: {conf:?}");
        assert_eq!(conf.get("spark.executorEnv.SPARKOSS_OSS_ENDPOINT").map(String::as_str), Some("http://oss.local:80"));
        assert!(executor_conf(None, &keys, &[]).is_empty());
        // The job's spark_conf wins over these defaults.
        let v = planned(serde_json::json!({"spark_conf": {"spark.executorEnv.SPARKOSS_OSS_ENDPOINT": "http://mine"}}));
        let spec = JobSpec::from_value(&v);
        let args = launcher_args(&v, &spec, "spark-1", conf);
        assert!(args.contains(&"spark.executorEnv.SPARKOSS_OSS_ENDPOINT=http://mine".to_owned()), "{args:?}");
        assert!(args.contains(&"spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_ID=oss-keys:OSS_ACCESS_KEY_ID".to_owned()));
    }

    #[test]
    fn driver_pod_carries_labels_limits_and_the_launcher_contract() {
        let v = planned(serde_json::json!({"oss_credentials_secret": "oss-keys"}));
        let spec = JobSpec::from_value(&v);
        let pod = build_pod(&v, &spec, "spark-1", &[], &[], true);
        let labels = pod.metadata.labels.clone().expect("labels");
        assert_eq!(labels.get("sparkoss.io/job").map(String::as_str), Some("etl"));
        assert_eq!(labels.get("sparkoss.io/user").map(String::as_str), Some("ana"));
        assert_eq!(labels.get("spark-role").map(String::as_str), Some("driver"));
        let c = &pod.spec.as_ref().expect("spec").containers[0];
        let r = c.resources.clone().expect("resources");
        assert_eq!(r.limits, r.requests, "a quota on limits.cpu: CPU and memory limits equal requests");
        assert_eq!(r.limits.as_ref().and_then(|l| l.get("memory")).map(|q| q.0.clone()), Some("2432Mi".into()));
        let free = build_pod(&v, &spec, "spark-1", &[], &[], false);
        let free = free.spec.expect("spec").containers[0].resources.clone().expect("resources");
        let limits = free.limits.clone().expect("limits");
        assert!(!limits.contains_key("cpu") && limits.get("memory") == free.requests.as_ref().and_then(|q| q.get("memory")), "{limits:?}");
        let args = c.args.clone().expect("args");
        assert_eq!(&args[..4], ["run", "--", "--main-application", "oss://jobs/etl.jar"]);
        for want in [
            ["--conf", "spark.kubernetes.executor.label.sparkoss.io/user=ana"],
            ["--conf", "spark.sql.shuffle.partitions=64"],
            ["--conf", "spark.executor.memoryOverhead=1g"],
            ["--namespace", "team-a"],
            ["--driver-host", "etl-driver-svc.team-a.svc"],
            ["--executor-instances", "4"],
            ["--main-class", "com.acme.Etl"],
        ] {
            assert!(args.windows(2).any(|w| w == want), "{want:?} missing from {args:?}");
        }
        assert_eq!(&args[args.len() - 4..], ["--arg", "--date", "--arg", "2026-11-23"]);
        assert_eq!(c.env_from.as_ref().and_then(|e| e[0].secret_ref.as_ref()).map(|s| s.name.clone()), Some("oss-keys".into()));
        let spec_annotation = pod.metadata.annotations.as_ref().and_then(|a| a.get(SPEC_ANNOTATION)).expect("spec annotation");
        assert!(!spec_annotation.contains("kubeconfig"), "connection must not be written to the cluster");
    }

    #[test]
    fn files_are_launcher_flags_in_order_and_part_of_the_spec() {
        let v = planned(serde_json::json!({
            "jars": ["oss://jobs/lib/udf.jar"],
            "files": ["oss://jobs/conf/app.conf", "https://example.com/data/lookup.csv?sig=x", "local:///opt/ref.txt"],
        }));
        let spec = JobSpec::from_value(&v);
        let args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
        let files: Vec<&str> = args.windows(2).filter(|w| w[0] == "--file").map(|w| w[1].as_str()).collect();
        assert_eq!(files, ["oss://jobs/conf/app.conf", "https://example.com/data/lookup.csv?sig=x", "local:///opt/ref.txt"]);
        assert!(args.windows(2).any(|w| w == ["--jar", "oss://jobs/lib/udf.jar"]), "{args:?}");
        // Job arguments stay last: the launcher reads flags until them.
        assert_eq!(&args[args.len() - 4..], ["--arg", "--date", "--arg", "2026-11-23"]);
        let annotation = spec_json(&v);
        assert_eq!(annotation["files"][1], "https://example.com/data/lookup.csv?sig=x");
        // Import rebuilds the files from the annotation.
        let back = Value::from_json(&annotation, &Job::new().schema.block.implied_type()).expect("annotation fits the schema");
        assert_eq!(back.attr("files"), v.attr("files"));
    }

    fn validation(extra: serde_json::Value) -> Vec<(Option<AttrPath>, String)> {
        let mut d = Diagnostics::new();
        Job::new().validate(&planned(extra), &mut d);
        d.0.into_iter().map(|x| (x.path, x.detail)).collect()
    }

    #[test]
    fn file_base_names_are_unique_and_do_not_shadow_jars() {
        let files = |i: usize| Some(AttrPath::root().attr("files").index(i));
        assert!(validation(serde_json::json!({"files": ["oss://data/x/one.csv", "https://h/one.csv.gz", "local:///two.csv"]})).is_empty());

        let got =
            validation(serde_json::json!({"files": ["oss://data/x/in.csv", "local:///opt/other.txt", "https://h/y/in.csv?token=s3cr3t"]}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, files(2));
        assert!(got[0].1.contains("files[2] and files[0]") && got[0].1.contains("\"in.csv\""), "{got:?}");

        let got =
            validation(serde_json::json!({"jars": ["oss://libs/lib/udf.jar"], "files": ["oss://conf/conf.txt", "https://h/udf.jar"]}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, files(1));
        assert!(got[0].1.contains("jars[0]"), "{got:?}");
        // The main application is a jar in the same directory too.
        let got = validation(serde_json::json!({"files": ["https://h/etl.jar"]}));
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [files(0)]);
        assert!(got[0].1.contains("main_application"), "{got:?}");

        let got = validation(serde_json::json!({"files": ["https://h/dir/?token=s3cr3t"]}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1.contains("https://h/dir/") && !got[0].1.contains("s3cr3t"), "a presigned query stays out: {got:?}");
    }

    #[test]
    fn unknown_files_are_not_judged_at_plan() {
        let mut v = planned(serde_json::json!({"files": ["oss://data/in.csv", "oss://more/in.csv"]}));
        if let Some(Value::List(items)) = v.attrs_mut().and_then(|m| m.get_mut("files")) {
            items[1] = Value::Unknown;
        }
        let mut d = Diagnostics::new();
        Job::new().validate(&v, &mut d);
        assert!(!d.has_errors(), "{d:?}");
    }

    #[test]
    fn the_driver_reaches_the_providers_oss_unless_env_says_otherwise() {
        let cfg = crate::config::ProviderConfig {
            region: Some("cn-local".into()),
            endpoints: crate::config::Endpoints { oss: Some("http://127.0.0.1:9000".into()), ..Default::default() },
            ..Default::default()
        };
        let env_of = |pod: &Pod| -> BTreeMap<String, Option<String>> {
            pod.spec.as_ref().expect("spec").containers[0].env.clone().unwrap_or_default().into_iter().map(|e| (e.name, e.value)).collect()
        };
        let v = planned(serde_json::json!({"env": {"LANG": "C.UTF-8"}}));
        let spec = JobSpec::from_value(&v);
        let env = env_of(&build_pod(&v, &spec, "spark-1", &provider_env(&cfg), &[], false));
        assert_eq!(env.get("SPARKOSS_OSS_ENDPOINT"), Some(&Some("http://127.0.0.1:9000".to_owned())));
        assert_eq!(env.get("ALIBABA_CLOUD_REGION"), Some(&Some("cn-local".to_owned())));
        assert_eq!(env.get("LANG"), Some(&Some("C.UTF-8".to_owned())));

        // The user's value wins, and appears once.
        let v = planned(serde_json::json!({"env": {"ALIBABA_CLOUD_REGION": "cn-beijing"}}));
        let pod = build_pod(&v, &spec, "spark-1", &provider_env(&cfg), &[], false);
        let all = pod.spec.as_ref().expect("spec").containers[0].env.clone().unwrap_or_default();
        let regions: Vec<_> = all.iter().filter(|e| e.name == "ALIBABA_CLOUD_REGION").filter_map(|e| e.value.clone()).collect();
        assert_eq!(regions, ["cn-beijing"]);

        // No endpoint override and no region: nothing is added.
        let env = env_of(&build_pod(&v, &spec, "spark-1", &provider_env(&crate::config::ProviderConfig::default()), &[], false));
        assert!(!env.contains_key("SPARKOSS_OSS_ENDPOINT"), "{env:?}");
        assert_eq!(provider_env(&crate::config::ProviderConfig { region: Some("cn-hangzhou".into()), ..Default::default() }).len(), 1);
    }

    /// A probe that counts its calls and answers the ETag it holds.
    struct Counting(std::sync::atomic::AtomicUsize, std::sync::Mutex<String>);

    #[async_trait]
    impl JarProbe for Counting {
        async fn etag(&self, _bucket: &str, _key: &str) -> Result<Option<String>, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Some(self.1.lock().expect("lock").clone()))
        }
    }

    #[tokio::test]
    async fn a_refresh_of_jobs_sharing_a_jar_asks_oss_once_and_still_sees_a_new_upload() {
        let probe = Arc::new(Counting(Default::default(), std::sync::Mutex::new("\"e1\"".into())));
        let mut job = Job::with_probe(Some(probe.clone()));
        job.etag_ttl = Duration::from_millis(300);
        let job = Arc::new(job);
        let ctx = OpContext { config: Arc::new(crate::config::ProviderConfig::default()) };
        let state = |etag: &str| {
            let mut v = planned(serde_json::json!({"main_application": "oss://jars/etl/app.jar"}));
            if let Some(m) = v.attrs_mut() {
                m.insert("main_application_etag".into(), Value::string(etag));
            }
            v
        };
        let reads: Vec<_> = (0..20)
            .map(|_| {
                let (job, ctx, mut s) = (job.clone(), ctx.clone(), state("\"e1\""));
                tokio::spawn(async move {
                    job.mark_changed_jar(&ctx, &mut s).await;
                    s
                })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.expect("joins").attr("main_application"), &Value::string("oss://jars/etl/app.jar"), "unchanged jar");
        }
        assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 1, "twenty refreshes, one HEAD");

        // A new upload is seen once the answer has aged out (the next command, in practice).
        *probe.1.lock().expect("lock") = "\"e2\"".into();
        tokio::time::sleep(job.etag_ttl).await;
        let mut s = state("\"e1\"");
        job.mark_changed_jar(&ctx, &mut s).await;
        assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        let marked = s.attr("main_application").as_str().expect("string");
        assert!(marked.contains("changed on OSS since the run: ETag \"e1\" -> ETag \"e2\""), "{marked}");
    }

    #[test]
    fn local_mode_when_no_executors() {
        let v = planned(serde_json::json!({"executor": {"instances": 0, "cores": 1, "memory": "1g", "memory_overhead": null}}));
        let spec = JobSpec::from_value(&v);
        let args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
        // The launcher runs Spark locally when there are no executors.
        assert!(args.windows(2).any(|w| w == ["--executor-instances", "0"]), "{args:?}");
        assert!(!args.iter().any(|a| a == "--master"), "{args:?}");
        assert_eq!(spec.total().2, 1);
    }
}
