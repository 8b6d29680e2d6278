//! `sparkoss_job`: a Spark application run on any Kubernetes cluster, its main jar fetched from
//! OSS at start-up by the sparkoss image.
//!
//! One responsibility per module: [`schema`] (attributes and plan-time checks), [`spec`] (the
//! configuration in the cluster's terms), [`pods`] (driver pod, service, launcher arguments),
//! [`quota`] (the pre-flight against ResourceQuotas), [`probe`] (the main application on OSS and
//! its ETag), [`wait`] (following the driver to its end) and [`failure`] (why a driver failed);
//! [`allocation`] (dynamic allocation), [`placement`] (node selectors, tolerations, labels and
//! annotations of driver and executors), [`retry`] (attempts), [`usage`] (what really ran) and
//! [`plan_quota`] (the quota checked at `terraform plan`).
//! [`app_kind`] tells a JVM application from a PySpark one and checks what follows from that;
//! [`py_files`] does for a PySpark job's Python files what [`probe`] does for the main application.

mod allocation;
mod app_kind;
mod failure;
mod placement;
mod plan_quota;
mod pods;
mod probe;
mod py_files;
mod quota;
mod retry;
mod schema;
mod spec;
mod usage;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::core::{AttrPath, Diagnostics, Schema, Value};
use crate::kube_conn::{Connection, KubeError};
use crate::resource::{OpContext, Plan, Resource};

use super::common::validate_kube_connection;

use self::pods::{build_pod, build_secret, build_service, provider_env, secret_keys, sensitive_from_secret, JOB_FLAGS_ENV};
use self::probe::{EtagCell, ProbeFor};
use self::quota::check_quota;
use self::schema::{validate_file_names, MANAGED_CONF};
use self::spec::{spec_hash, JobSpec, SPEC_HASH_KEY};
use self::usage::{attempt_usage, set_usage, ExecutorRuns, Usage};
use self::wait::{fill_computed, remove, Stop};

pub use self::pods::SPEC_ANNOTATION;
pub use self::probe::{JarProbe, OssJarProbe};
pub use self::schema::MAX_JOB_NAME;

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
        if let Some(uri) = config.attr("main_application").as_str().filter(|u| u.contains(['?', '#'])) {
            diags.attr_error(
                &root.attr("main_application"),
                "Query string in main_application",
                format!(
                    "{:?} has a query string (a presigned URL?); main_application is not sensitive, so it would be kept in plain state and in the pod spec: use oss:// (the launcher signs its own requests) or list the presigned URL in jars (sensitive) with a local:/// or oss:// main application",
                    self::schema::redact_uri(uri)
                ),
            );
        }
        if config.attr("env").entries().is_some_and(|m| m.contains_key(JOB_FLAGS_ENV)) {
            diags.attr_error(
                &root.attr("env").key(JOB_FLAGS_ENV),
                "Reserved environment variable",
                format!("{JOB_FLAGS_ENV} carries the job's flags to the launcher; use another name"),
            );
        }
        validate_file_names(config, diags);
        app_kind::validate_app_kind(config, diags);
        allocation::validate(config, diags);
        placement::validate(config, diags);
        if let Some(conf) = config.attr("spark_conf").entries() {
            for key in conf.keys() {
                if let Some((_, instead)) = allocation::MANAGED_CONF.iter().find(|(k, _)| k == key) {
                    diags.attr_error(
                        &root.attr("spark_conf").key(key),
                        "Setting managed by sparkoss",
                        format!("{key:?} is set by sparkoss; use {instead}"),
                    );
                }
            }
        }
        if config.attr("retries").as_number().and_then(|n| n.as_i64()).is_some_and(|n| n > 0)
            && config.attr("wait_for_completion").as_bool() == Some(false)
        {
            diags.attr_error(
                &root.attr("retries"),
                "Retries need wait_for_completion",
                "a failed driver is submitted again only while the apply waits for the job; set wait_for_completion = true or retries = 0",
            );
        }
    }

    fn plan(&self, prior: &Value, proposed: &Value, config: &Value) -> Plan {
        allocation::plan(&self.schema, prior, proposed, config)
    }

    async fn check_plan(&self, _ctx: &OpContext, planned: &Value) -> Diagnostics {
        plan_quota::check(planned).await
    }

    async fn create(&self, ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        self.create_job(ctx, planned).await
    }

    async fn read(&self, ctx: &OpContext, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = JobSpec::from_value(state);
        let client = connect(state).await?;
        let pods: Api<Pod> = Api::namespaced(client, &spec.namespace);
        // The state's `attempts` names the latest attempt's driver.
        match pods.get_opt(&spec.driver_pod()).await {
            // Gone out of band: drop it from state, so the plan runs the job again.
            Ok(None) => Ok(None),
            Ok(Some(pod)) => {
                let mut s = state.clone();
                fill_computed(&mut s, &spec, &pod);
                self.mark_changed_jar(ctx, &mut s).await;
                self.mark_changed_py_files(ctx, &mut s).await;
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
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        // The latest attempt's driver: `<name>-driver`, or `<name>-driver-<n>` after retries.
        let pod = retry::latest_driver(&pods, name)
            .await
            .map_err(|e| e.diag("Cannot import the Spark job", None))?
            .ok_or_else(|| err("Cannot import the Spark job", None, format!("no driver pod of job {name} in namespace {ns}")))?;
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let annotation = pod.metadata.annotations.as_ref().and_then(|a| a.get(SPEC_ANNOTATION)).cloned().ok_or_else(|| {
            err(
                "Cannot import the Spark job",
                None,
                format!("pod {ns}/{pod_name} was not created by sparkoss (no {SPEC_ANNOTATION} annotation)"),
            )
        })?;
        let mut j: serde_json::Value =
            serde_json::from_str(&annotation).map_err(|e| err("Cannot import the Spark job", None, format!("{SPEC_ANNOTATION}: {e}")))?;
        // The sensitive attributes are not in the annotation: they come from the job's Secret,
        // and the annotation's hash of the whole configuration proves they are the ones it ran with.
        let hash = j.as_object_mut().and_then(|m| m.remove(SPEC_HASH_KEY));
        if let Some(hash) = hash.as_ref().and_then(|h| h.as_str()) {
            let secret_name = format!("{name}-job-spec");
            let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
            let secret = secrets
                .get_opt(&secret_name)
                .await
                .map_err(|e| KubeError::api(format!("reading secret {secret_name}"))(e).diag("Cannot import the Spark job", None))?
                .ok_or_else(|| {
                    err(
                        "Cannot import the Spark job",
                        None,
                        format!(
                            "the job's Secret {ns}/{secret_name} is gone, so its args, jars, files, spark_conf and env cannot be read back"
                        ),
                    )
                })?;
            let sensitive = sensitive_from_secret(&secret).ok_or_else(|| {
                err(
                    "Cannot import the Spark job",
                    None,
                    format!("the Secret {ns}/{secret_name} does not hold a {JOB_FLAGS_ENV} list written by sparkoss"),
                )
            })?;
            if let Some(m) = j.as_object_mut() {
                m.extend(sensitive);
            }
            let rebuilt = Value::from_json(&j, &self.schema.block.implied_type())
                .map_err(|e| err("Cannot import the Spark job", None, e.to_string()))?;
            if spec_hash(&rebuilt) != hash {
                return Err(err(
                    "Cannot import the Spark job",
                    None,
                    format!("the Secret {ns}/{secret_name} does not match the configuration pod {ns}/{pod_name} ran with (its {SPEC_ANNOTATION} hash differs): it was changed out of band"),
                ));
            }
        }
        let mut state =
            Value::from_json(&j, &self.schema.block.implied_type()).map_err(|e| err("Cannot import the Spark job", None, e.to_string()))?;
        if let Some(m) = state.attrs_mut() {
            m.insert("attempts".into(), Value::Number(crate::core::Number::Int(i64::from(retry::pod_attempt(&pod)))));
        }
        let spec = JobSpec::from_value(&state);
        fill_computed(&mut state, &spec, &pod);
        Ok(state)
    }
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

fn err(summary: &str, path: Option<&str>, detail: impl AsRef<str>) -> Diagnostics {
    let mut d = Diagnostics::new();
    match path {
        Some(p) => d.attr_error(&AttrPath::root().attr(p), summary, detail),
        None => d.error(summary, detail.as_ref()),
    }
    d
}

impl Job {
    async fn create_job(&self, ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        let first = JobSpec::from_value(planned);
        let client = connect(planned).await?;
        // Pre-flight: nothing is created unless the jar exists and the job fits the quota.
        let etag = self.preflight_jar(ctx, &first.main_application).await?;
        let py_etags = self.preflight_py_files(ctx, &spec::strings(planned.attr("py_files"))).await?;
        let cpu_limits = check_quota(&client, &first).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &first.namespace);
        let keys = match planned.attr("oss_credentials_secret").as_str() {
            Some(secret) => secret_keys(&client, &first.namespace, secret).await,
            None => Vec::new(),
        };
        let template = placement::executor_template(&placement::placement(planned.attr("executor")));
        if let Some(t) = &template {
            create_template(&client, &first, t).await?;
        }
        let retries = retry::retries(planned);
        let mut usage = Usage::default();
        let mut failures: Vec<String> = Vec::new();
        let mut attempt: u32 = 1;
        loop {
            let mut state = planned.clone();
            if let Some(m) = state.attrs_mut() {
                m.insert("attempts".into(), Value::Number(crate::core::Number::Int(i64::from(attempt))));
                m.insert("main_application_etag".into(), etag.clone().map_or(Value::Null, Value::String));
                let py_etags = py_etags.iter().cloned().map(Value::String).collect::<Vec<_>>();
                m.insert("py_files_etags".into(), if py_etags.is_empty() { Value::Null } else { Value::List(py_etags) });
            }
            let spec = JobSpec::from_value(&state);
            // Each attempt is its own Spark application: executors of an earlier one never
            // register with a later driver.
            let app_id = new_app_id(&format!("{}-{attempt}", spec.name));
            // The Secret first, so the driver finds it when it starts; one left by an earlier run
            // or attempt (its flags carry that attempt's application id) goes.
            let secrets: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
            let secret_err = |e: kube::Error| {
                KubeError::api(format!("creating secret {}/{}", spec.namespace, spec.secret()))(e).diag("Cannot start the Spark job", None)
            };
            let put_secret = async {
                match secrets.delete(&spec.secret(), &DeleteParams::default()).await {
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(secret_err(e)),
                    Ok(_) => {}
                }
                secrets.create(&PostParams::default(), &build_secret(&state, &spec, &app_id)).await.map(|_| ()).map_err(secret_err)
            };
            if let Err(d) = put_secret.await {
                if attempt == 1 {
                    let _ = remove(&client, &spec).await;
                }
                return Err(d);
            }
            let pod = match pods
                .create(&PostParams::default(), &build_pod(&state, &spec, &app_id, &provider_env(&ctx.config), &keys, cpu_limits))
                .await
            {
                Ok(pod) => pod,
                Err(e) => {
                    let e = KubeError::api(format!("creating driver pod {}/{}", spec.namespace, spec.driver_pod()))(e);
                    // Nothing half-created: the Secret (and on the first attempt the template)
                    // made for this pod go too.
                    let _ = secrets.delete(&spec.secret(), &DeleteParams::default()).await;
                    if attempt == 1 {
                        let _ = remove(&client, &spec).await;
                    }
                    let path = if e.status_code() == Some(403) { "executor" } else { "name" };
                    return Err(err("Cannot start the Spark job", Some(path), e.message()));
                }
            };
            // Owned by this attempt's driver pod: deleting the pod (even out of band) deletes the Secret.
            let owner = serde_json::json!({"metadata": {"ownerReferences": [{
                "apiVersion": "v1", "kind": "Pod", "name": spec.driver_pod(), "uid": pod.metadata.uid.clone().unwrap_or_default(),
            }]}});
            if let Err(e) = secrets.patch(&spec.secret(), &PatchParams::default(), &Patch::Merge(&owner)).await {
                let _ = remove(&client, &spec).await;
                return Err(
                    KubeError::api(format!("setting the owner of secret {}", spec.secret()))(e).diag("Cannot start the Spark job", None)
                );
            }
            if attempt == 1 {
                // The service (and the template) belong to the first driver, which stays while
                // later attempts run; all go with the job.
                let svcs: Api<Service> = Api::namespaced(client.clone(), &spec.namespace);
                let owned = match &template {
                    Some(t) => own_template(&client, &spec, t, &pod).await,
                    None => Ok(()),
                };
                let created = match owned {
                    Ok(()) => svcs
                        .create(&PostParams::default(), &build_service(&spec, &pod))
                        .await
                        .map(|_| ())
                        .map_err(|e| KubeError::api(format!("creating service {}", spec.service()))(e)),
                    Err(e) => Err(e),
                };
                if let Err(e) = created {
                    let _ = remove(&client, &spec).await;
                    return Err(e.diag("Cannot start the Spark job", None));
                }
            }
            if !spec.wait {
                fill_computed(&mut state, &spec, &pod);
                return Ok(state);
            }
            let mut runs = ExecutorRuns::default();
            let outcome = self.wait(&client, &spec, &mut runs).await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            match outcome {
                Ok(pod) => {
                    usage += attempt_usage(&spec, &pod, &runs, now);
                    fill_computed(&mut state, &spec, &pod);
                    set_usage(&mut state, usage);
                    return Ok(state);
                }
                Err(Stop::Fatal(d)) => return Err(d),
                Err(Stop::DriverFailed(detail)) => {
                    if let Ok(Some(p)) = pods.get_opt(&spec.driver_pod()).await {
                        usage += attempt_usage(&spec, &p, &runs, now);
                    }
                    failures.push(detail);
                    if attempt > retries.retries {
                        let _ = remove(&client, &spec).await;
                        let detail = if failures.len() == 1 && retries.retries == 0 {
                            failures.remove(0)
                        } else {
                            retry::failed_attempts_detail(&failures)
                        };
                        return Err(err("Spark job failed", None, detail));
                    }
                    if let Err(e) = retry::clear_attempt(&pods, &spec.name, attempt).await {
                        let _ = remove(&client, &spec).await;
                        return Err(e.diag("Cannot retry the Spark job", None));
                    }
                    tokio::time::sleep(retries.interval).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// Creates the executor pod template's ConfigMap, replacing one a crashed provider left.
async fn create_template(client: &kube::Client, spec: &JobSpec, template: &str) -> Result<(), Diagnostics> {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &spec.namespace);
    let name = spec.template_config_map();
    let _ = cms.delete(&name, &Default::default()).await;
    cms.create(&PostParams::default(), &placement::template_config_map(spec, template, None))
        .await
        .map(|_| ())
        .map_err(|e| KubeError::api(format!("creating config map {}/{name}", spec.namespace))(e).diag("Cannot start the Spark job", None))
}

/// Makes the driver pod the owner of the template's ConfigMap, so it goes with the job.
async fn own_template(client: &kube::Client, spec: &JobSpec, template: &str, pod: &Pod) -> Result<(), KubeError> {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &spec.namespace);
    let owned = placement::template_config_map(spec, template, Some(pod));
    let patch = serde_json::json!({"metadata": {"ownerReferences": owned.metadata.owner_references}});
    cms.patch(&spec.template_config_map(), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(KubeError::api(format!("setting the owner of config map {}", spec.template_config_map())))
}

#[cfg(test)]
mod elastic_tests;
#[cfg(test)]
mod tests;
