//! `sparkoss_job`: a Spark application run on any Kubernetes cluster, its main jar fetched from
//! OSS at start-up by the sparkoss image.
//!
//! One responsibility per module: [`schema`] (attributes and plan-time checks), [`spec`] (the
//! configuration in the cluster's terms), [`pods`] (driver pod, service, launcher arguments),
//! [`quota`] (the pre-flight against ResourceQuotas), [`probe`] (the main application on OSS and
//! its ETag), [`wait`] (following the driver to its end) and [`failure`] (why a driver failed).

mod failure;
mod pods;
mod probe;
mod quota;
mod schema;
mod spec;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::core::{AttrPath, Diagnostics, Schema, Value};
use crate::kube_conn::{Connection, KubeError};
use crate::resource::{OpContext, Resource};

use super::common::validate_kube_connection;

use self::pods::{build_pod, build_secret, build_service, provider_env, secret_keys, sensitive_from_secret, JOB_FLAGS_ENV};
use self::probe::{EtagCell, ProbeFor};
use self::quota::check_quota;
use self::schema::{validate_file_names, MANAGED_CONF};
use self::spec::{spec_hash, JobSpec, SPEC_HASH_KEY};
use self::wait::{fill_computed, remove};

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
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
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
        // The Secret first, so the driver finds it when it starts; one left by an earlier run goes.
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
        let secret_err = |e: kube::Error| {
            KubeError::api(format!("creating secret {}/{}", spec.namespace, spec.secret()))(e).diag("Cannot start the Spark job", None)
        };
        match secrets.delete(&spec.secret(), &DeleteParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(secret_err(e)),
            Ok(_) => {}
        }
        secrets.create(&PostParams::default(), &build_secret(planned, &spec, &app_id)).await.map_err(secret_err)?;
        let pod = match pods
            .create(&PostParams::default(), &build_pod(planned, &spec, &app_id, &provider_env(&ctx.config), &keys, cpu_limits))
            .await
        {
            Ok(pod) => pod,
            Err(e) => {
                // Nothing half-created: the Secret goes with the pod that could not be made.
                let _ = secrets.delete(&spec.secret(), &DeleteParams::default()).await;
                let e = KubeError::api(format!("creating driver pod {}/{}", spec.namespace, spec.driver_pod()))(e);
                let path = if e.status_code() == Some(403) { "executor" } else { "name" };
                return Err(err("Cannot start the Spark job", Some(path), e.message()));
            }
        };
        // Owned by the driver pod: deleting the pod (even out of band) deletes the Secret.
        let owner = serde_json::json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": spec.driver_pod(), "uid": pod.metadata.uid.clone().unwrap_or_default(),
        }]}});
        if let Err(e) = secrets.patch(&spec.secret(), &PatchParams::default(), &Patch::Merge(&owner)).await {
            let _ = remove(&client, &spec).await;
            return Err(
                KubeError::api(format!("setting the owner of secret {}", spec.secret()))(e).diag("Cannot start the Spark job", None)
            );
        }
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
mod tests;
