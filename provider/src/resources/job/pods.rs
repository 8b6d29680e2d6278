//! What the job creates: the driver pod running the launcher, its headless service, and the
//! launcher's arguments.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec, ResourceRequirements, SecretEnvSource, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;

use super::spec::{spec_json, string_map, strings, JobSpec};
use crate::core::Value;

/// Pod annotation holding the job's configuration (connection excluded), so import can
/// rebuild the whole state from the cluster.
pub const SPEC_ANNOTATION: &str = "sparkoss.io/job-spec";

/// The launcher's arguments: `run --` and the job description flags of the launcher contract
/// (`sparkoss-launcher run -- --main-application URI --main-class C --arg A ... --conf K=V ...`).
pub(super) fn launcher_args(v: &Value, spec: &JobSpec, app_id: &str, executor_conf: BTreeMap<String, String>) -> Vec<String> {
    let mut conf: BTreeMap<String, String> = string_map(v.attr("spark_conf"));
    // The job's own spark_conf wins over what sparkoss gives executors by default.
    for (k, val) in executor_conf {
        conf.entry(k).or_insert(val);
    }
    if let Some(a) = &spec.allocation {
        for (k, val) in super::allocation::Allocation::default_conf() {
            conf.entry(k).or_insert(val);
        }
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
    for (k, val) in conf {
        flag("--conf", format!("{k}={val}"));
    }
    for a in strings(v.attr("args")) {
        flag("--arg", a);
    }
    out
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

/// The driver pod. `extra_env` (from [`provider_env`]) is added after the user's `env`, which
/// wins on a shared name: a job may deliberately point its launcher elsewhere.
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
