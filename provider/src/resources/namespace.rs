//! `sparkoss_namespace`: a namespace per team or user, with its quota, default limits and the
//! driver service account Spark needs to manage executors.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace as K8sNamespace, ResourceQuota, ResourceQuotaSpec, Secret, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, PostParams};
use sparkoss_quantity::Quantity as Amount;

use crate::core::validators::{count_quantity, cpu_quantity, k8s_label_value, k8s_labels, k8s_name, memory_quantity, not_empty};
use crate::core::{AttrPath, Attribute, Block, Diagnostics, NestedBlock, Schema, Type, Value};
use crate::kube_conn::{is_not_found, parse_duration, poll, Connection, KubeError};
use crate::resource::{OpContext, Plan, Resource};

use super::common::{schema_plan, timeouts, validate_kube_connection, with_kube_connection};

/// The `sparkoss_namespace` resource.
pub struct Namespace {
    schema: Schema,
}

impl Namespace {
    /// Builds the resource and its schema.
    pub fn new() -> Self {
        let quota = Block::new("A ResourceQuota on the namespace: the most its jobs may request together.")
            .attr(Attribute::optional("cpu", Type::String, "Total CPU requests, e.g. `64` or `500m`.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory", Type::String, "Total memory requests, e.g. `256Gi`.").validate(memory_quantity()))
            .attr(Attribute::optional("limits_cpu", Type::String, "Total CPU limits.").validate(cpu_quantity()))
            .attr(Attribute::optional("limits_memory", Type::String, "Total memory limits.").validate(memory_quantity()))
            .attr(Attribute::optional("pods", Type::String, "Most pods at once, e.g. `100`.").validate(count_quantity()));
        let defaults = Block::new("A LimitRange: requests and limits given to containers that do not set their own.")
            .attr(Attribute::optional("cpu_request", Type::String, "Default CPU request.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory_request", Type::String, "Default memory request.").validate(memory_quantity()))
            .attr(Attribute::optional("cpu_limit", Type::String, "Default CPU limit.").validate(cpu_quantity()))
            .attr(Attribute::optional("memory_limit", Type::String, "Default memory limit.").validate(memory_quantity()));
        let oss = Block::new(&format!("OSS credentials for the namespace's jobs, kept in the Secret `{OSS_SECRET}` (type Opaque, keys `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and, when given, `ALIBABA_CLOUD_SECURITY_TOKEN`, each also under the name Hadoop's OSS connector reads: `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`); a job uses it with `oss_credentials_secret = sparkoss_namespace.<name>.oss_credentials_secret`. Changes update the Secret in place; removing the block deletes it."))
            .attr(Attribute::required("access_key_id", Type::String, "AccessKey ID.").sensitive().validate(not_empty()))
            .attr(Attribute::required("access_key_secret", Type::String, "AccessKey secret.").sensitive().validate(not_empty()))
            .attr(Attribute::optional("security_token", Type::String, "STS security token, for temporary credentials.").sensitive());
        let block = with_kube_connection(Block::new(
            "A Kubernetes namespace for a team or user, with a ResourceQuota, default limits and the service account Spark drivers run as.",
        ))
        .attr(Attribute::computed("id", Type::String, "The namespace name."))
        .attr(Attribute::required("name", Type::String, "Namespace name (RFC 1123 label).").validate(k8s_name()).force_new())
        .attr(
            Attribute::optional("user", Type::String, "Team or user owning the namespace; labelled `sparkoss.io/user` for metering.")
                .validate(k8s_label_value()),
        )
        .attr(Attribute::optional("labels", Type::map(Type::String), "Extra labels on the namespace.").validate(k8s_labels()))
        .attr(
            Attribute::with_default(
                "service_account",
                Type::String,
                Value::string("spark-driver"),
                "Service account created for Spark drivers, with the Role to manage executor pods (default `spark-driver`).",
            )
            .validate(k8s_name())
            .force_new(),
        )
        .attr(Attribute::computed(
            "oss_credentials_secret",
            Type::String,
            &format!("Name of the Secret holding `oss_credentials` (`{OSS_SECRET}`), null without the block: what a job's `oss_credentials_secret` takes."),
        ))
        .block(NestedBlock::single("quota", quota))
        .block(NestedBlock::single("container_defaults", defaults))
        .block(NestedBlock::single("oss_credentials", oss))
        .block(timeouts(&[("delete", "10m")]));
        Namespace { schema: Schema { version: 0, block } }
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Resource for Namespace {
    fn type_name(&self) -> &'static str {
        "sparkoss_namespace"
    }

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_kube_connection(config, diags);
    }

    /// The schema's plan, with `oss_credentials_secret` known from the configuration: a job
    /// referring to it then plans against the real name, and adding or removing the block is an
    /// in-place update whose result matches the plan.
    fn plan(&self, prior: &Value, proposed: &Value, config: &Value) -> Plan {
        let mut plan = schema_plan(&self.schema, prior, proposed, config);
        if !plan.planned.is_null() {
            let creds = plan.planned.attr("oss_credentials");
            let name = if creds.is_unknown() {
                Value::Unknown
            } else if creds.is_null() {
                Value::Null
            } else {
                Value::string(OSS_SECRET)
            };
            set(&mut plan.planned, "oss_credentials_secret", name);
        }
        plan
    }

    async fn create(&self, _ctx: &OpContext, planned: &Value) -> Result<Value, Diagnostics> {
        let client = connect(planned).await?;
        let spec = Spec::from_value(planned);
        let ns_api: Api<K8sNamespace> = Api::all(client.clone());
        ns_api
            .create(&PostParams::default(), &spec.namespace())
            .await
            .map_err(KubeError::api(format!("creating namespace {}", spec.name)))
            .map_err(|e| e.diag("Cannot create the namespace", Some(&AttrPath::root().attr("name"))))?;
        apply_children(&client, &spec, true).await.map_err(|e| e.diag("Cannot set up the namespace", None))?;
        let mut state = planned.clone();
        set(&mut state, "id", Value::string(&spec.name));
        set(&mut state, "oss_credentials_secret", spec.oss_secret_name());
        Ok(state)
    }

    async fn read(&self, _ctx: &OpContext, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let client = connect(state).await?;
        let name = state.attr("name").as_str().unwrap_or_default().to_owned();
        observe(&client, &name, state).await.map_err(|e| e.diag("Cannot read the namespace", None))
    }

    async fn update(&self, _ctx: &OpContext, _prior: &Value, planned: &Value) -> Result<Value, Diagnostics> {
        let client = connect(planned).await?;
        let spec = Spec::from_value(planned);
        let ns_api: Api<K8sNamespace> = Api::all(client.clone());
        let mut current = ns_api
            .get(&spec.name)
            .await
            .map_err(KubeError::api(format!("reading namespace {}", spec.name)))
            .map_err(|e| e.diag("Cannot update the namespace", None))?;
        current.metadata.labels = Some(spec.labels());
        ns_api
            .replace(&spec.name, &PostParams::default(), &current)
            .await
            .map_err(KubeError::api(format!("updating namespace {}", spec.name)))
            .map_err(|e| e.diag("Cannot update the namespace", None))?;
        apply_children(&client, &spec, false).await.map_err(|e| e.diag("Cannot update the namespace", None))?;
        let mut state = planned.clone();
        set(&mut state, "id", Value::string(&spec.name));
        set(&mut state, "oss_credentials_secret", spec.oss_secret_name());
        Ok(state)
    }

    async fn delete(&self, _ctx: &OpContext, state: &Value) -> Result<(), Diagnostics> {
        let client = connect(state).await?;
        let name = state.attr("name").as_str().unwrap_or_default().to_owned();
        let limit = state.attr("timeouts").attr("delete").as_str().and_then(parse_duration).unwrap_or(Duration::from_secs(600));
        let ns_api: Api<K8sNamespace> = Api::all(client);
        match ns_api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(KubeError::api(format!("deleting namespace {name}"))(e).diag("Cannot delete the namespace", None)),
        }
        // The namespace lingers in Terminating while its contents are removed; wait until it is gone.
        poll(&format!("namespace {name} to be deleted"), limit, Duration::from_millis(500), || {
            let ns_api = ns_api.clone();
            let name = name.clone();
            async move {
                match ns_api.get_opt(&name).await {
                    Ok(None) => Ok(Some(())),
                    Ok(Some(_)) => Ok(None),
                    Err(e) => Err(KubeError::api(format!("reading namespace {name}"))(e)),
                }
            }
        })
        .await
        .map_err(|e| e.diag("Namespace not deleted", None))
    }

    async fn import(&self, _ctx: &OpContext, id: &str) -> Result<Value, Diagnostics> {
        // Import has only the id: the connection comes from KUBECONFIG or ~/.kube/config, which is
        // what a configuration without connection attributes uses too.
        let mut skeleton = BTreeMap::new();
        skeleton.insert("name".to_owned(), Value::string(id));
        let skeleton = Value::Object(skeleton);
        let client = connect(&skeleton).await?;
        match observe(&client, id, &skeleton).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let mut d = Diagnostics::new();
                d.error("Cannot import the namespace", format!("namespace {id:?} does not exist"));
                Err(d)
            }
            Err(e) => Err(e.diag("Cannot import the namespace", None)),
        }
    }
}

/// Name of the ResourceQuota sparkoss manages in each namespace.
pub const QUOTA_NAME: &str = "sparkoss-quota";
/// Name of the LimitRange sparkoss manages.
pub const LIMIT_RANGE_NAME: &str = "sparkoss-defaults";
/// Name of the Role (and RoleBinding) that lets the driver manage executors.
pub const DRIVER_ROLE: &str = "sparkoss-spark-driver";
/// Name of the Secret holding `oss_credentials`.
pub const OSS_SECRET: &str = "sparkoss-oss-credentials";

/// `oss_credentials` attributes and the Secret keys each is stored under: the environment
/// variables the launcher (and the Alibaba Cloud SDKs' credential chain) read, and those that
/// aliyun-sdk-oss's `EnvironmentVariableCredentialsProvider` reads (the provider class the
/// image's `spark-defaults.conf` names for Hadoop's OSS connector). A job loads the Secret into
/// the driver with `envFrom`, and into executors with `secretKeyRef`s.
pub const OSS_SECRET_KEYS: &[(&str, &str, &str)] = &[
    ("access_key_id", "ALIBABA_CLOUD_ACCESS_KEY_ID", "OSS_ACCESS_KEY_ID"),
    ("access_key_secret", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "OSS_ACCESS_KEY_SECRET"),
    ("security_token", "ALIBABA_CLOUD_SECURITY_TOKEN", "OSS_SESSION_TOKEN"),
];

/// Quota attributes and the ResourceQuota keys they map to.
const QUOTA_KEYS: &[(&str, &str)] = &[
    ("cpu", "requests.cpu"),
    ("memory", "requests.memory"),
    ("limits_cpu", "limits.cpu"),
    ("limits_memory", "limits.memory"),
    ("pods", "pods"),
];

/// Labels sparkoss sets itself (not part of the `labels` attribute).
const OWN_LABELS: &[&str] = &["app.kubernetes.io/managed-by", "sparkoss.io/user", "kubernetes.io/metadata.name"];

async fn connect(v: &Value) -> Result<kube::Client, Diagnostics> {
    let conn = Connection::from_value(v).map_err(|e| e.diag("Kubernetes connection", None))?;
    conn.client().await.map_err(|e| e.diag("Kubernetes connection", Some(&AttrPath::root().attr("kubeconfig"))))
}

fn set(v: &mut Value, k: &str, val: Value) {
    if let Some(m) = v.attrs_mut() {
        m.insert(k.to_owned(), val);
    }
}

fn strings(v: &Value) -> BTreeMap<String, String> {
    v.entries().map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect()).unwrap_or_default()
}

/// What the configuration asks for. Not `Debug`: it holds the OSS credentials.
struct Spec {
    name: String,
    user: Option<String>,
    labels: BTreeMap<String, String>,
    service_account: String,
    quota: Option<BTreeMap<String, String>>,
    defaults: Option<BTreeMap<String, String>>,
    oss_credentials: Option<BTreeMap<String, String>>,
}

impl Spec {
    fn from_value(v: &Value) -> Spec {
        let block = |name: &str| {
            let b = v.attr(name);
            (!b.is_null()).then(|| strings(b))
        };
        Spec {
            name: v.attr("name").as_str().unwrap_or_default().to_owned(),
            user: v.attr("user").as_str().map(str::to_owned),
            labels: strings(v.attr("labels")),
            service_account: v.attr("service_account").as_str().unwrap_or("spark-driver").to_owned(),
            quota: block("quota"),
            defaults: block("container_defaults"),
            oss_credentials: block("oss_credentials"),
        }
    }

    fn oss_secret_name(&self) -> Value {
        if self.oss_credentials.is_some() {
            Value::string(OSS_SECRET)
        } else {
            Value::Null
        }
    }

    fn oss_secret(&self) -> Option<Secret> {
        let c = self.oss_credentials.as_ref()?;
        let data: BTreeMap<String, ByteString> = OSS_SECRET_KEYS
            .iter()
            .filter_map(|(attr, sdk, oss)| c.get(*attr).map(|v| [*sdk, *oss].map(|k| (k.to_owned(), ByteString(v.as_bytes().to_vec())))))
            .flatten()
            .collect();
        Some(Secret { metadata: self.meta(OSS_SECRET), type_: Some("Opaque".into()), data: Some(data), ..Default::default() })
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.insert("app.kubernetes.io/managed-by".into(), "sparkoss".into());
        if let Some(u) = &self.user {
            l.insert("sparkoss.io/user".into(), u.clone());
        }
        l
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        let mut labels = BTreeMap::new();
        labels.insert("app.kubernetes.io/managed-by".to_owned(), "sparkoss".to_owned());
        ObjectMeta { name: Some(name.into()), namespace: Some(self.name.clone()), labels: Some(labels), ..Default::default() }
    }

    fn namespace(&self) -> K8sNamespace {
        K8sNamespace {
            metadata: ObjectMeta { name: Some(self.name.clone()), labels: Some(self.labels()), ..Default::default() },
            ..Default::default()
        }
    }

    fn quota(&self) -> Option<ResourceQuota> {
        let q = self.quota.as_ref()?;
        let hard: BTreeMap<String, Quantity> =
            QUOTA_KEYS.iter().filter_map(|(attr, key)| q.get(*attr).map(|v| ((*key).to_owned(), Quantity(v.clone())))).collect();
        Some(ResourceQuota {
            metadata: self.meta(QUOTA_NAME),
            spec: Some(ResourceQuotaSpec { hard: Some(hard), ..Default::default() }),
            status: None,
        })
    }

    fn limit_range(&self) -> Option<LimitRange> {
        let d = self.defaults.as_ref()?;
        let pick = |pairs: &[(&str, &str)]| {
            let m: BTreeMap<String, Quantity> =
                pairs.iter().filter_map(|(attr, res)| d.get(*attr).map(|v| ((*res).to_owned(), Quantity(v.clone())))).collect();
            (!m.is_empty()).then_some(m)
        };
        Some(LimitRange {
            metadata: self.meta(LIMIT_RANGE_NAME),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".into(),
                    default: pick(&[("cpu_limit", "cpu"), ("memory_limit", "memory")]),
                    default_request: pick(&[("cpu_request", "cpu"), ("memory_request", "memory")]),
                    ..Default::default()
                }],
            }),
        })
    }
}

/// Creates or replaces one namespaced object; deletes it when `want` is `None`.
async fn converge<K>(api: &Api<K>, name: &str, want: Option<K>) -> Result<(), KubeError>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let kind = K::kind(&());
    let existing = api.get_opt(name).await.map_err(KubeError::api(format!("reading {kind} {name}")))?;
    match (existing, want) {
        (None, Some(w)) => {
            api.create(&PostParams::default(), &w).await.map_err(KubeError::api(format!("creating {kind} {name}")))?;
        }
        (Some(old), Some(mut w)) => {
            w.meta_mut().resource_version = old.meta().resource_version.clone();
            api.replace(name, &PostParams::default(), &w).await.map_err(KubeError::api(format!("updating {kind} {name}")))?;
        }
        (Some(_), None) => match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(KubeError::api(format!("deleting {kind} {name}"))(e)),
        },
        (None, None) => {}
    }
    Ok(())
}

/// The quota, default limits and driver service account with its Role and RoleBinding.
async fn apply_children(client: &kube::Client, spec: &Spec, fresh: bool) -> Result<(), KubeError> {
    let ns = spec.name.as_str();
    converge::<ResourceQuota>(&Api::namespaced(client.clone(), ns), QUOTA_NAME, spec.quota()).await?;
    converge::<LimitRange>(&Api::namespaced(client.clone(), ns), LIMIT_RANGE_NAME, spec.limit_range()).await?;
    converge::<Secret>(&Api::namespaced(client.clone(), ns), OSS_SECRET, spec.oss_secret()).await?;
    if !fresh {
        // The service account is force-new: only a fresh namespace needs it and its role.
        return Ok(());
    }
    let sa = ServiceAccount { metadata: spec.meta(&spec.service_account), ..Default::default() };
    converge::<ServiceAccount>(&Api::namespaced(client.clone(), ns), &spec.service_account, Some(sa)).await?;
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| (*s).to_owned()).collect()),
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    let all = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    let role = Role {
        metadata: spec.meta(DRIVER_ROLE),
        rules: Some(vec![
            rule(&[""], &["pods", "services", "configmaps", "persistentvolumeclaims"], &all),
            rule(&[""], &["pods/log", "events"], &["get", "list", "watch"]),
        ]),
    };
    converge::<Role>(&Api::namespaced(client.clone(), ns), DRIVER_ROLE, Some(role)).await?;
    let binding = RoleBinding {
        metadata: spec.meta(DRIVER_ROLE),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: DRIVER_ROLE.into() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: spec.service_account.clone(),
            namespace: Some(ns.into()),
            api_group: None,
        }]),
    };
    converge::<RoleBinding>(&Api::namespaced(client.clone(), ns), DRIVER_ROLE, Some(binding)).await
}

/// Two quantity strings meaning the same amount (`1000m` and `1`, `1Gi` and `1024Mi`) keep the
/// configured spelling; compared exactly, as Kubernetes compares quantities.
fn same_quantity(a: &str, b: &str) -> bool {
    a == b || matches!((Amount::parse_trimmed(a), Amount::parse_trimmed(b)), (Ok(x), Ok(y)) if x == y)
}

/// The state as the cluster has it, keeping `prior`'s connection, timeouts and quantity spellings;
/// `None` when the namespace is gone (or being deleted).
async fn observe(client: &kube::Client, name: &str, prior: &Value) -> Result<Option<Value>, KubeError> {
    let ns_api: Api<K8sNamespace> = Api::all(client.clone());
    let Some(ns) = ns_api.get_opt(name).await.map_err(KubeError::api(format!("reading namespace {name}")))? else { return Ok(None) };
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    let mut state = match prior {
        Value::Object(m) => m.clone(),
        _ => BTreeMap::new(),
    };
    state.insert("id".into(), Value::string(name));
    state.insert("name".into(), Value::string(name));
    state.insert("user".into(), labels.get("sparkoss.io/user").map_or(Value::Null, Value::string));
    let extra: BTreeMap<String, Value> =
        labels.iter().filter(|(k, _)| !OWN_LABELS.contains(&k.as_str())).map(|(k, v)| (k.clone(), Value::string(v))).collect();
    state.insert("labels".into(), if extra.is_empty() && prior.attr("labels").is_null() { Value::Null } else { Value::Map(extra) });
    if !matches!(state.get("service_account"), Some(Value::String(_))) {
        state.insert("service_account".into(), Value::string("spark-driver"));
    }
    let keep = |block: &str, attr: &str, observed: Option<String>| -> Value {
        match (prior.attr(block).attr(attr).as_str(), observed) {
            (Some(p), Some(o)) if same_quantity(p, &o) => Value::string(p),
            (_, Some(o)) => Value::string(o),
            _ => Value::Null,
        }
    };
    let rq: Api<ResourceQuota> = Api::namespaced(client.clone(), name);
    let quota = rq.get_opt(QUOTA_NAME).await.map_err(KubeError::api(format!("reading quota of {name}")))?;
    state.insert(
        "quota".into(),
        match quota.and_then(|q| q.spec).and_then(|s| s.hard) {
            Some(hard) => Value::Object(
                QUOTA_KEYS
                    .iter()
                    .map(|(attr, key)| ((*attr).to_owned(), keep("quota", attr, hard.get(*key).map(|q| q.0.clone()))))
                    .collect(),
            ),
            None => Value::Null,
        },
    );
    let lr: Api<LimitRange> = Api::namespaced(client.clone(), name);
    let range = lr.get_opt(LIMIT_RANGE_NAME).await.map_err(KubeError::api(format!("reading default limits of {name}")))?;
    state.insert(
        "container_defaults".into(),
        match range.and_then(|r| r.spec).and_then(|s| s.limits.into_iter().find(|l| l.type_ == "Container")) {
            Some(item) => {
                let get = |m: &Option<BTreeMap<String, Quantity>>, res: &str| m.as_ref().and_then(|m| m.get(res)).map(|q| q.0.clone());
                let mut b = BTreeMap::new();
                b.insert("cpu_request".into(), keep("container_defaults", "cpu_request", get(&item.default_request, "cpu")));
                b.insert("memory_request".into(), keep("container_defaults", "memory_request", get(&item.default_request, "memory")));
                b.insert("cpu_limit".into(), keep("container_defaults", "cpu_limit", get(&item.default, "cpu")));
                b.insert("memory_limit".into(), keep("container_defaults", "memory_limit", get(&item.default, "memory")));
                Value::Object(b)
            }
            None => Value::Null,
        },
    );
    // Only a Secret sparkoss made is the block's: one of the same name made by hand stays
    // unmanaged (an absent block would otherwise plan its deletion).
    let secrets: Api<Secret> = Api::namespaced(client.clone(), name);
    let secret = secrets.get_opt(OSS_SECRET).await.map_err(KubeError::api(format!("reading secret {OSS_SECRET} of {name}")))?;
    let creds = secret
        .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get("app.kubernetes.io/managed-by")).is_some_and(|v| v == "sparkoss"))
        .map(|s| {
            let data = s.data.unwrap_or_default();
            // A key missing, not UTF-8, or differing between its two names reads as null: the
            // plan then writes the configured value back under both.
            Value::Object(
                OSS_SECRET_KEYS
                    .iter()
                    .map(|(attr, sdk, oss)| {
                        let read = |k: &str| data.get(k).and_then(|b| String::from_utf8(b.0.clone()).ok());
                        let v = read(sdk).filter(|v| read(oss).as_ref() == Some(v));
                        ((*attr).to_owned(), v.map_or(Value::Null, Value::String))
                    })
                    .collect(),
            )
        });
    state.insert("oss_credentials_secret".into(), if creds.is_some() { Value::string(OSS_SECRET) } else { Value::Null });
    state.insert("oss_credentials".into(), creds.unwrap_or(Value::Null));
    for k in ["kubeconfig", "kubeconfig_path", "context", "timeouts"] {
        state.entry(k.to_owned()).or_insert(Value::Null);
    }
    Ok(Some(Value::Object(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_by_amount() {
        assert!(same_quantity("1", "1000m"));
        assert!(same_quantity("1Gi", "1024Mi"));
        assert!(!same_quantity("4", "40"));
        // Suffixes the old float table lacked, and differences below its 1e-9 tolerance.
        assert!(same_quantity("1Pi", "1024Ti"));
        assert!(same_quantity("1E", "1000P"));
        assert!(same_quantity("1k", "1e3"));
        assert!(!same_quantity("1", "1.000000001"));
        assert!(!same_quantity("lots", "1"));
    }

    #[test]
    fn spec_maps_attributes_to_objects() {
        let ns = Namespace::new();
        let j = serde_json::json!({"name": "team-a", "user": "ana", "labels": {"cost": "42"}, "service_account": "spark-driver",
                                   "quota": {"cpu": "4", "memory": "8Gi", "limits_cpu": null, "limits_memory": null, "pods": "10"}});
        let v = Value::from_json(&j, &ns.schema.block.implied_type()).expect("fits");
        let spec = Spec::from_value(&v);
        let labels = spec.labels();
        assert_eq!(labels.get("sparkoss.io/user").map(String::as_str), Some("ana"));
        assert_eq!(labels.get("cost").map(String::as_str), Some("42"));
        let hard = spec.quota().and_then(|q| q.spec).and_then(|s| s.hard).expect("hard");
        assert_eq!(hard.keys().cloned().collect::<Vec<_>>(), ["pods", "requests.cpu", "requests.memory"]);
        assert!(spec.limit_range().is_none());
        assert!(spec.oss_secret().is_none());
        assert_eq!(spec.oss_secret_name(), Value::Null);
    }

    fn value(j: serde_json::Value) -> Value {
        let ty = Namespace::new().schema.block.implied_type();
        let mut full = serde_json::json!({"name": "team-a", "service_account": "spark-driver"});
        if let (Some(m), Some(e)) = (full.as_object_mut(), j.as_object()) {
            m.extend(e.clone());
        }
        Value::from_json(&full, &ty).expect("fits")
    }

    #[test]
    fn oss_credentials_become_an_opaque_secret_of_launcher_variables() {
        let v =
            value(serde_json::json!({"oss_credentials": {"access_key_id": "AKID", "access_key_secret": "s3cr3t", "security_token": null}}));
        let secret = Spec::from_value(&v).oss_secret().expect("a secret");
        assert_eq!(secret.metadata.name.as_deref(), Some(OSS_SECRET));
        assert_eq!(secret.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let data = secret.data.expect("data");
        // No token given: no token key (an empty one would make SDKs send an empty STS token).
        assert_eq!(
            data.keys().map(String::as_str).collect::<Vec<_>>(),
            ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"],
            "each credential under the SDK chain's name and aliyun-sdk-oss's"
        );
        assert_eq!(data["ALIBABA_CLOUD_ACCESS_KEY_SECRET"].0, b"s3cr3t");

        let v = value(serde_json::json!({"oss_credentials": {"access_key_id": "AKID", "access_key_secret": "s", "security_token": "tok"}}));
        let data = Spec::from_value(&v).oss_secret().and_then(|s| s.data).expect("data");
        assert_eq!(data["ALIBABA_CLOUD_SECURITY_TOKEN"].0, b"tok");
    }

    #[test]
    fn the_secret_name_is_planned_from_the_block() {
        let ns = Namespace::new();
        let with =
            value(serde_json::json!({"oss_credentials": {"access_key_id": "AKID", "access_key_secret": "s", "security_token": null}}));
        let without = value(serde_json::json!({}));
        let plan = ns.plan(&Value::Null, &with, &with);
        assert_eq!(plan.planned.attr("oss_credentials_secret"), &Value::string(OSS_SECRET));
        assert!(plan.planned.attr("id").is_unknown(), "the rest of the schema's plan is kept");
        assert_eq!(ns.plan(&Value::Null, &without, &without).planned.attr("oss_credentials_secret"), &Value::Null);

        // Adding and removing the block are in-place updates whose name is known at plan.
        let mut prior = without.clone();
        set(&mut prior, "id", Value::string("team-a"));
        let added = ns.plan(&prior, &with, &with);
        assert!(added.requires_replace.is_empty(), "{:?}", added.requires_replace);
        assert_eq!(added.planned.attr("oss_credentials_secret"), &Value::string(OSS_SECRET));
        let mut prior_with = with.clone();
        set(&mut prior_with, "id", Value::string("team-a"));
        set(&mut prior_with, "oss_credentials_secret", Value::string(OSS_SECRET));
        let removed = ns.plan(&prior_with, &without, &without);
        assert!(removed.requires_replace.is_empty());
        assert_eq!(removed.planned.attr("oss_credentials_secret"), &Value::Null);
        assert!(ns.plan(&prior_with, &Value::Null, &Value::Null).planned.is_null(), "destroy plans null");

        // Terraform 1.0 proposes a removed block as an object of nulls; the configuration decides.
        let mut proposed = without.clone();
        set(
            &mut proposed,
            "oss_credentials",
            value(serde_json::json!({"oss_credentials": {"access_key_id": null, "access_key_secret": null, "security_token": null}}))
                .attr("oss_credentials")
                .clone(),
        );
        let removed = ns.plan(&prior_with, &proposed, &without);
        assert!(removed.planned.attr("oss_credentials").is_null(), "{:?}", removed.planned.attr("oss_credentials"));
        assert_eq!(removed.planned.attr("oss_credentials_secret"), &Value::Null);
    }
}
