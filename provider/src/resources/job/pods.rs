//! What the job creates: the driver pod running the launcher, its headless service, and the
//! launcher's arguments.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec, ResourceRequirements, Secret, SecretEnvSource,
    Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;

use super::spec::{public_spec_json, string_map, strings, JobSpec};
use crate::core::Value;

/// Pod annotation holding the job's non-sensitive configuration and the hash of all of it
/// (connection excluded), so import can rebuild the state from the cluster (the sensitive
/// attributes from the job's Secret, see [`build_secret`]).
pub const SPEC_ANNOTATION: &str = "sparkoss.io/job-spec";

/// The key of the job's Secret the launcher reads its secret-bearing flags from (a JSON array of
/// strings appended to its command line; the driver loads the Secret with `envFrom`).
pub const JOB_FLAGS_ENV: &str = "SPARKOSS_JOB_FLAGS";

/// Spark settings sparkoss always sets itself; the same keys in `spark_conf` lose to them.
fn managed_conf(v: &Value, spec: &JobSpec, app_id: &str) -> BTreeMap<String, String> {
    let mut conf = BTreeMap::new();
    if let Some(a) = &spec.allocation {
        conf.extend(a.spark_conf());
    }
    let executor_placement = super::placement::placement(v.attr("executor"));
    let template = super::placement::executor_template(&executor_placement).map(|_| super::placement::template_path());
    conf.extend(super::placement::executor_conf(&executor_placement, template.as_deref()));
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
    conf
}

/// The launcher's arguments (the container's `args`): `run --` and the job description flags of
/// the launcher contract that carry nothing sensitive (`sparkoss-launcher run -- --main-application
/// URI --main-class C ... --conf K=V ...`, the `--conf`s being sparkoss's own settings). The
/// sensitive ones are in [`secret_flags`].
pub(super) fn launcher_args(v: &Value, spec: &JobSpec, app_id: &str, executor_conf: BTreeMap<String, String>) -> Vec<String> {
    let user = string_map(v.attr("spark_conf"));
    // The job's own spark_conf wins over what sparkoss gives executors by default.
    let mut conf: BTreeMap<String, String> = executor_conf.into_iter().filter(|(k, _)| !user.contains_key(k)).collect();
    // Dynamic allocation's defaults (shuffle tracking) yield to the job's spark_conf too.
    if spec.allocation.is_some() {
        conf.extend(super::allocation::Allocation::default_conf().into_iter().filter(|(k, _)| !user.contains_key(k)));
    }
    conf.extend(managed_conf(v, spec, app_id));
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
    flag("--executor-instances", spec.allocation.map_or(spec.instances, |a| a.submit_instances()).to_string());
    flag("--executor-cores", spec.executor.cores.to_string());
    flag("--executor-memory", v.attr("executor").attr("memory").as_str().unwrap_or("2g").to_owned());
    flag("--namespace", spec.namespace.clone());
    flag("--image", spec.image.clone());
    flag("--driver-pod-name", spec.driver_pod());
    flag("--driver-host", format!("{}.{}.svc", spec.service(), spec.namespace));
    for (k, val) in conf {
        flag("--conf", format!("{k}={val}"));
    }
    out
}

/// The flags carrying the sensitive attributes, in the launcher contract's terms: `--jar` and
/// `--file` (presigned URLs), the job's own `--conf` (those sparkoss does not set itself) and
/// `--arg`, in order. They go into the job's Secret as [`JOB_FLAGS_ENV`], never into the pod spec.
pub(super) fn secret_flags(v: &Value, spec: &JobSpec, app_id: &str) -> Vec<String> {
    let managed = managed_conf(v, spec, app_id);
    let mut out = Vec::new();
    let mut flag = |f: &str, val: String| {
        out.push(f.to_owned());
        out.push(val);
    };
    for j in strings(v.attr("jars")) {
        flag("--jar", j);
    }
    // In order: the launcher passes them to spark-submit `--py-files` as given.
    for p in strings(v.attr("py_files")) {
        flag("--py-file", p);
    }
    for f in strings(v.attr("files")) {
        flag("--file", f);
    }
    for (k, val) in string_map(v.attr("spark_conf")).into_iter().filter(|(k, _)| !managed.contains_key(k)) {
        flag("--conf", format!("{k}={val}"));
    }
    for a in strings(v.attr("args")) {
        flag("--arg", a);
    }
    out
}

/// The Secret the provider owns for one job: the job's `env` (one key per variable) and its
/// [`secret_flags`] under [`JOB_FLAGS_ENV`]; the driver loads it whole (`envFrom`). It is owned by
/// the driver pod once that exists, so it goes with it.
pub(super) fn build_secret(v: &Value, spec: &JobSpec, app_id: &str) -> Secret {
    let mut data: BTreeMap<String, String> = string_map(v.attr("env"));
    let flags = serde_json::Value::from(secret_flags(v, spec, app_id)).to_string();
    data.insert(JOB_FLAGS_ENV.to_owned(), flags);
    let mut labels = spec.labels("driver");
    labels.remove("spark-role");
    Secret {
        metadata: ObjectMeta {
            name: Some(spec.secret()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, x)| (k, k8s_openapi::ByteString(x.into_bytes()))).collect()),
        ..Default::default()
    }
}

/// The job's sensitive attributes read back from its Secret (for import): `env`, and `jars`,
/// `files`, `spark_conf` and `args` parsed from [`JOB_FLAGS_ENV`]. `None` when the Secret does
/// not hold a flags list.
pub(super) fn sensitive_from_secret(secret: &Secret) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value as J;
    let mut data: BTreeMap<String, String> = secret.string_data.clone().unwrap_or_default();
    for (k, b) in secret.data.iter().flatten() {
        data.insert(k.clone(), String::from_utf8_lossy(&b.0).into_owned());
    }
    let flags: Vec<String> = serde_json::from_str(&data.remove(JOB_FLAGS_ENV)?).ok()?;
    let (mut jars, mut py_files, mut files, mut args, mut conf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), serde_json::Map::new());
    for pair in flags.chunks(2) {
        let [f, val] = pair else { return None };
        match f.as_str() {
            "--jar" => jars.push(J::String(val.clone())),
            "--py-file" => py_files.push(J::String(val.clone())),
            "--file" => files.push(J::String(val.clone())),
            "--arg" => args.push(J::String(val.clone())),
            "--conf" => {
                let (k, x) = val.split_once('=')?;
                conf.insert(k.to_owned(), J::String(x.to_owned()));
            }
            _ => return None,
        }
    }
    let list = |l: Vec<J>| if l.is_empty() { J::Null } else { J::Array(l) };
    let mut out = serde_json::Map::new();
    out.insert("jars".into(), list(jars));
    out.insert("py_files".into(), list(py_files));
    out.insert("files".into(), list(files));
    out.insert("args".into(), list(args));
    out.insert("spark_conf".into(), if conf.is_empty() { J::Null } else { J::Object(conf) });
    let env: serde_json::Map<String, J> = data.into_iter().map(|(k, x)| (k, J::String(x))).collect();
    out.insert("env".into(), if env.is_empty() { J::Null } else { J::Object(env) });
    Some(out)
}

pub(super) fn quantity(s: String) -> Quantity {
    Quantity(s)
}

/// What executors get besides Spark's own settings, as Spark configuration: the credential keys
/// of the job's OSS Secret (`secret_keys`, those it holds) as `secretKeyRef`s (never values),
/// and the provider's OSS endpoint and region (`extra_env`), so Hadoop's OSS connector in the
/// executors reads what the driver reads.
pub(super) fn executor_conf(secret: Option<&str>, secret_keys: &[String], extra_env: &[(&str, String)]) -> BTreeMap<String, String> {
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
pub(super) async fn secret_keys(client: &kube::Client, namespace: &str, name: &str) -> Vec<String> {
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
pub(super) fn provider_env(cfg: &crate::config::ProviderConfig) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(e) = &cfg.endpoints.oss {
        env.push(("SPARKOSS_OSS_ENDPOINT", e.clone()));
    }
    if let Some(r) = &cfg.region {
        env.push(("ALIBABA_CLOUD_REGION", r.clone()));
    }
    env
}

/// The driver pod. `extra_env` (from [`provider_env`]) gives way to the user's `env` (loaded from
/// the job's Secret) on a shared name: a job may deliberately point its launcher elsewhere.
///
/// `cpu_limits`: a quota of the namespace constrains `limits.cpu`, so the driver (and, through
/// Spark's configuration, the executors) declare CPU limits equal to their requests. Otherwise
/// they declare none, as Spark's own pods do: a limit would throttle the JVM to its request.
pub(super) fn build_pod(
    v: &Value,
    spec: &JobSpec,
    app_id: &str,
    extra_env: &[(&str, String)],
    secret_keys: &[String],
    cpu_limits: bool,
) -> Pod {
    let mut res = BTreeMap::new();
    res.insert("cpu".to_owned(), quantity(spec.driver.cores.to_string()));
    res.insert("memory".to_owned(), quantity(format!("{}Mi", spec.driver.mib)));
    // Memory is limited to the request, as Spark limits its pods; CPU only where a quota asks.
    let mut limits = res.clone();
    if !cpu_limits {
        limits.remove("cpu");
    }
    // The user's variables come from the job's Secret (`envFrom`, below), which `env` entries
    // would override: the provider's own give way to them here.
    let user_env = string_map(v.attr("env"));
    let mut env: Vec<EnvVar> = extra_env
        .iter()
        .filter(|(name, _)| !user_env.contains_key(*name))
        .map(|(name, value)| EnvVar { name: (*name).to_owned(), value: Some(value.clone()), value_from: None })
        .collect();
    env.push(EnvVar {
        name: "SPARK_DRIVER_BIND_ADDRESS".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "status.podIP".into(), api_version: None }),
            ..Default::default()
        }),
    });
    let from_secret =
        |name: &str| EnvFromSource { secret_ref: Some(SecretEnvSource { name: name.to_owned(), optional: None }), ..Default::default() };
    // The job's Secret last: on a name in both, the last source wins, and the job's `env` has
    // always won over the credentials Secret.
    let env_from: Vec<EnvFromSource> =
        v.attr("oss_credentials_secret").as_str().map(from_secret).into_iter().chain([from_secret(&spec.secret())]).collect();
    let mut annotations = BTreeMap::new();
    annotations.insert(SPEC_ANNOTATION.to_owned(), public_spec_json(v).to_string());
    let mut pod = Pod {
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
                env_from: Some(env_from),
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
    };
    let executor_placement = super::placement::placement(v.attr("executor"));
    let template = super::placement::executor_template(&executor_placement).map(|_| spec.template_config_map());
    super::placement::place_driver(&mut pod, &super::placement::placement(v.attr("driver")), template.as_deref());
    pod
}

pub(super) fn build_service(spec: &JobSpec, owner: &Pod) -> Service {
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
