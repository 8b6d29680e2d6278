//! The Kubernetes emulator's object store: typed only as far as the API server itself looks
//! into objects (metadata, pod resources, quotas, limit ranges); everything else is kept as the
//! client sent it, like etcd would.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Map, Value as Json};
use sparkoss_quantity::Quantity;
use tokio::sync::broadcast;

/// One served resource type.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Plural resource name used in paths.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts.
    pub short: &'static [&'static str],
}

impl Kind {
    /// `v1` or `group/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".into()
        } else {
            format!("{}/v1", self.group)
        }
    }
}

/// RBAC API group.
pub const RBAC: &str = "rbac.authorization.k8s.io";

/// The `apps` API group (Deployments).
pub const APPS: &str = "apps";

/// Every resource type the emulator serves (all at version v1).
///
/// Deployments (`apps/v1`) are kept like every other kind: stored, defaulted, validated and
/// watched, but no controller acts on them. No ReplicaSet or pod is created for a Deployment, and
/// its `status` stays as the client sent it; the emulator serves them so that manifests can be
/// applied and checked (`kubectl apply --dry-run=server`), not to run them.
pub const KINDS: &[Kind] = &[
    Kind { group: "", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, short: &["ns"] },
    Kind { group: "", plural: "nodes", singular: "node", kind: "Node", namespaced: false, short: &["no"] },
    Kind { group: "", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, short: &["po"] },
    Kind { group: "", plural: "services", singular: "service", kind: "Service", namespaced: true, short: &["svc"] },
    Kind { group: "", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, short: &["sa"] },
    Kind { group: "", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true, short: &[] },
    Kind { group: "", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, short: &["cm"] },
    Kind {
        group: "",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        short: &["pvc"],
    },
    Kind { group: "", plural: "events", singular: "event", kind: "Event", namespaced: true, short: &["ev"] },
    Kind { group: "", plural: "resourcequotas", singular: "resourcequota", kind: "ResourceQuota", namespaced: true, short: &["quota"] },
    Kind { group: "", plural: "limitranges", singular: "limitrange", kind: "LimitRange", namespaced: true, short: &["limits"] },
    Kind { group: RBAC, plural: "roles", singular: "role", kind: "Role", namespaced: true, short: &[] },
    Kind { group: RBAC, plural: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true, short: &[] },
    Kind { group: RBAC, plural: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false, short: &[] },
    Kind {
        group: RBAC,
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
    },
    Kind { group: APPS, plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, short: &["deploy"] },
];

/// Finds a kind by group and plural.
pub fn kind(group: &str, plural: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.plural == plural)
}

/// A failed API call, rendered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason` (`NotFound`, `AlreadyExists`, `Forbidden`, ...).
    pub reason: &'static str,
    /// Human message, worded like the real API server's.
    pub message: String,
    /// `details` (name, kind, group).
    pub details: Json,
}

impl ApiError {
    /// The `Status` body.
    pub fn status(&self) -> Json {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
               "reason": self.reason, "details": self.details, "code": self.code})
    }

    /// `404 NotFound` for a named object.
    pub fn not_found(k: &Kind, name: &str) -> ApiError {
        let what = if k.group.is_empty() { k.plural.to_owned() } else { format!("{}.{}", k.plural, k.group) };
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{what} \"{name}\" not found"),
            details: json!({"name": name, "group": k.group, "kind": k.plural}),
        }
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { code: 400, reason: "BadRequest", message: message.into(), details: json!({}) }
    }
}

/// A change, as watchers see it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Resource version of the change.
    pub rv: u64,
    /// Group and plural of the object.
    pub kind: &'static Kind,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind_of_change: &'static str,
    /// The object after the change (before, for deletes).
    pub object: Json,
}

/// Object key: kind index, namespace (empty for cluster-scoped), name.
type Key = (usize, String, String);

/// How many past changes watches may resume from.
const HISTORY: usize = 20_000;

/// The store: objects, a resource-version counter, change history and a broadcast of changes.
#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<Key, Json>,
    rv: u64,
    history: VecDeque<Change>,
    /// Live changes for watches.
    pub changes: broadcast::Sender<Change>,
    /// Container logs per `(namespace, pod)`.
    pub logs: HashMap<(String, String), Vec<String>>,
    /// The latest resource sample per `(namespace, pod)` (the metrics API).
    pub metrics: HashMap<(String, String), super::metrics::PodSample>,
}

fn kind_index(k: &Kind) -> usize {
    KINDS.iter().position(|x| x.group == k.group && x.plural == k.plural).unwrap_or(0)
}

/// Now as RFC 3339 (seconds), the form the API server writes timestamps in.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// A time as the API's timestamps write it: UTC, whole seconds (`2026-11-27T18:00:00Z`).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

fn uid(n: u64) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mix = (t ^ n.rotate_left(32) ^ u64::from(std::process::id())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", mix >> 32, n & 0xffff, (mix >> 4) & 0xfff, (t >> 8) & 0xfff, mix & 0xffff_ffff_ffff)
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store with the namespaces every cluster has.
    pub fn new() -> Store {
        let (changes, _) = broadcast::channel(4096);
        let mut s =
            Store { objects: BTreeMap::new(), rv: 1, history: VecDeque::new(), changes, logs: HashMap::new(), metrics: HashMap::new() };
        let ns = kind("", "namespaces").unwrap_or(&KINDS[0]);
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = s.create(ns, "", json!({"metadata": {"name": name}}));
        }
        s
    }

    /// A copy of the objects for a `dryRun=All` write: the write runs there with every check
    /// and default of a real one, and neither the store nor its watchers see it.
    pub fn dry_run_copy(&self) -> Store {
        let (changes, _) = broadcast::channel(1);
        Store {
            objects: self.objects.clone(),
            rv: self.rv,
            history: VecDeque::new(),
            changes,
            logs: HashMap::new(),
            metrics: HashMap::new(),
        }
    }

    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn record(&mut self, kind: &'static Kind, what: &'static str, object: Json) {
        let c = Change { rv: self.rv, kind, kind_of_change: what, object };
        self.history.push_back(c.clone());
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.changes.send(c);
    }

    /// Changes after `rv` (`None` when that is older than the kept history: the client must relist).
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if !self.can_resume_from(rv) {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// Whether the change history still reaches back to `rv` (a watch or a paged list may
    /// resume from it), as etcd's compaction decides on a real cluster.
    pub fn can_resume_from(&self, rv: u64) -> bool {
        self.history.front().is_none_or(|first| rv + 1 >= first.rv || rv >= self.rv)
    }

    /// One object.
    pub fn get(&self, k: &'static Kind, ns: &str, name: &str) -> Result<Json, ApiError> {
        self.objects.get(&(kind_index(k), ns.to_owned(), name.to_owned())).cloned().ok_or_else(|| ApiError::not_found(k, name))
    }

    /// Objects of a kind, in one namespace or (`None`) all.
    pub fn list(&self, k: &'static Kind, ns: Option<&str>) -> Vec<Json> {
        self.iter(k, ns).cloned().collect()
    }

    /// The objects of a kind (in `ns` when given), borrowed: for scans that look at every pod
    /// on each write or tick, where copying them all would make the work grow with the square of
    /// the pod count.
    pub fn iter<'a>(&'a self, k: &'static Kind, ns: Option<&'a str>) -> impl Iterator<Item = &'a Json> + 'a {
        let i = kind_index(k);
        self.objects.iter().filter(move |((ki, n, _), _)| *ki == i && ns.is_none_or(|want| want == n)).map(|(_, v)| v)
    }

    /// Creates an object, filling server-side metadata and defaults.
    pub fn create(&mut self, k: &'static Kind, ns: &str, mut obj: Json) -> Result<Json, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        if obj.get("metadata").is_none_or(Json::is_null) {
            obj["metadata"] = json!({});
        }
        if !obj["metadata"].is_object() {
            return Err(ApiError::bad_request("metadata is not an object"));
        }
        let mut name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        if name.is_empty() {
            if let Some(g) = obj["metadata"]["generateName"].as_str() {
                name = format!("{g}{}", &uid(self.rv + 7)[31..36]);
            }
        }
        if name.is_empty() {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: format!("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", k.kind),
                details: json!({"kind": k.plural, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]}),
            });
        }
        if !valid_name(&name) {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: format!("{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", k.kind),
                details: json!({"name": name, "kind": k.plural}),
            });
        }
        if k.namespaced {
            let nsk = kind("", "namespaces").unwrap_or(&KINDS[0]);
            match self.get(nsk, "", ns) {
                Err(_) => return Err(ApiError::not_found(nsk, ns)),
                Ok(n) if n["status"]["phase"] == "Terminating" => {
                    return Err(ApiError {
                        code: 403,
                        reason: "Forbidden",
                        message: format!(
                            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            k.plural
                        ),
                        details: json!({"name": name, "kind": k.plural}),
                    })
                }
                Ok(_) => {}
            }
        }
        validate(k, &obj, &name)?;
        let key = (kind_index(k), ns.to_owned(), name.clone());
        if self.objects.contains_key(&key) {
            let what = if k.group.is_empty() { k.plural.to_owned() } else { format!("{}.{}", k.plural, k.group) };
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{what} \"{name}\" already exists"),
                details: json!({"name": name, "group": k.group, "kind": k.plural}),
            });
        }
        self.rv += 1;
        let rv = self.rv;
        {
            let o = obj.as_object_mut().ok_or_else(|| ApiError::bad_request("not an object"))?;
            o.insert("kind".into(), json!(k.kind));
            o.insert("apiVersion".into(), json!(k.api_version()));
            let m = o.get_mut("metadata").and_then(Json::as_object_mut).ok_or_else(|| ApiError::bad_request("metadata"))?;
            m.insert("name".into(), json!(name));
            if k.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uid(rv)));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            m.remove("deletionTimestamp");
        }
        default_object(k, &mut obj, &name);
        self.objects.insert(key, obj.clone());
        self.record(k, "ADDED", obj.clone());
        if k.plural == "namespaces" {
            let sa = kind("", "serviceaccounts").unwrap_or(&KINDS[0]);
            let _ = self.create(sa, &name, json!({"metadata": {"name": "default"}}));
        }
        Ok(obj)
    }

    /// Replaces an object (PUT, or the result of a PATCH); keeps server-owned metadata. A
    /// `resourceVersion` in the body must match (optimistic concurrency).
    pub fn replace(&mut self, k: &'static Kind, ns: &str, name: &str, mut obj: Json, status_only: bool) -> Result<Json, ApiError> {
        let key = (kind_index(k), ns.to_owned(), name.to_owned());
        let old = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(k, name))?;
        if let Some(want) = obj["metadata"]["resourceVersion"].as_str() {
            if !want.is_empty() && want != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
                return Err(ApiError {
                    code: 409,
                    reason: "Conflict",
                    message: format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        k.plural
                    ),
                    details: json!({"name": name, "kind": k.plural}),
                });
            }
        }
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        if status_only {
            let mut merged = old.clone();
            merged["status"] = obj["status"].clone();
            obj = merged;
        } else if k.plural == "pods" || k.plural == "namespaces" {
            // Status is written through the status subresource (or by the emulator itself).
            obj["status"] = old["status"].clone();
        }
        validate(k, &obj, name)?;
        self.rv += 1;
        for f in ["uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"] {
            if old["metadata"].get(f).is_some() {
                obj["metadata"][f] = old["metadata"][f].clone();
            }
        }
        // Like the API server, a workload's generation counts the changes of its spec.
        if let Some(g) = old["metadata"]["generation"].as_i64().filter(|_| k.plural == "deployments") {
            obj["metadata"]["generation"] = json!(if obj["spec"] != old["spec"] { g + 1 } else { g });
        }
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        obj["kind"] = json!(k.kind);
        obj["apiVersion"] = json!(k.api_version());
        self.objects.insert(key, obj.clone());
        self.record(k, "MODIFIED", obj.clone());
        Ok(obj)
    }

    /// Updates an object in place through a closure (the emulator's own writes: kubelet, quota
    /// status); no-op when it is gone.
    pub fn update_with(&mut self, k: &'static Kind, ns: &str, name: &str, f: impl FnOnce(&mut Json)) -> Option<Json> {
        let key = (kind_index(k), ns.to_owned(), name.to_owned());
        let mut obj = self.objects.get(&key)?.clone();
        let before = obj.clone();
        f(&mut obj);
        if obj == before {
            return Some(obj);
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key, obj.clone());
        self.record(k, "MODIFIED", obj.clone());
        Some(obj)
    }

    /// Deletes an object and, through owner references, its dependents (background propagation).
    pub fn delete(&mut self, k: &'static Kind, ns: &str, name: &str) -> Result<Json, ApiError> {
        let key = (kind_index(k), ns.to_owned(), name.to_owned());
        let mut obj = self.objects.remove(&key).ok_or_else(|| ApiError::not_found(k, name))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(k, "DELETED", obj.clone());
        if k.plural == "pods" {
            self.logs.remove(&(ns.to_owned(), name.to_owned()));
            self.metrics.remove(&(ns.to_owned(), name.to_owned()));
        }
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        let dependents: Vec<Key> = self
            .objects
            .iter()
            .filter(|(_, v)| {
                v["metadata"]["ownerReferences"].as_array().is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for (ki, dns, dname) in dependents {
            let _ = self.delete(&KINDS[ki], &dns, &dname);
        }
        if k.plural == "pods" {
            self.refresh_quotas(ns);
        }
        Ok(obj)
    }

    /// Deletes every object in a namespace (the namespace controller's job), then the namespace.
    pub fn finish_namespace(&mut self, ns: &str) {
        let keys: Vec<Key> = self.objects.keys().filter(|(ki, n, _)| KINDS[*ki].namespaced && n == ns).cloned().collect();
        for (ki, n, name) in keys {
            let _ = self.delete(&KINDS[ki], &n, &name);
        }
        if let Some(nsk) = kind("", "namespaces") {
            let _ = self.delete(nsk, "", ns);
        }
    }

    /// Writes `status.hard` / `status.used` of every quota in the namespace from its pods.
    pub fn refresh_quotas(&mut self, ns: &str) {
        let (Some(rq), Some(pods)) = (kind("", "resourcequotas"), kind("", "pods")) else { return };
        let quotas = self.list(rq, Some(ns));
        if quotas.is_empty() {
            return;
        }
        let used = usage(self.iter(pods, Some(ns)));
        for q in quotas {
            let name = q["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let hard = q["spec"]["hard"].as_object().cloned().unwrap_or_default();
            let mut hard_out = Map::new();
            let mut used_out = Map::new();
            for (res, v) in &hard {
                hard_out.insert(res.clone(), v.clone());
                used_out.insert(res.clone(), json!(format_quantity(res, used.get(canonical(res)).copied().unwrap_or(0.0))));
            }
            self.update_with(rq, ns, &name, |o| {
                o["status"] = json!({"hard": hard_out, "used": used_out});
            });
        }
    }
}

fn valid_name(n: &str) -> bool {
    n.len() <= 253
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// API-server defaulting for the kinds the emulator looks into.
fn default_object(k: &Kind, obj: &mut Json, name: &str) {
    match k.plural {
        "namespaces" => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        "pods" => {
            let spec = &mut obj["spec"];
            default_pod_spec(spec);
            if spec["serviceAccountName"].is_null() {
                spec["serviceAccountName"] = json!("default");
            }
            if let Some(cs) = spec["containers"].as_array_mut() {
                for c in cs {
                    // Limits without requests: requests default to the limits.
                    if let Some(lim) = c["resources"]["limits"].as_object().cloned() {
                        for (r, v) in lim {
                            if c["resources"]["requests"][&r].is_null() {
                                if !c["resources"]["requests"].is_object() {
                                    c["resources"]["requests"] = json!({});
                                }
                                c["resources"]["requests"][&r] = v;
                            }
                        }
                    }
                }
            }
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "services" => {
            let spec = &mut obj["spec"];
            if spec["type"].is_null() {
                spec["type"] = json!("ClusterIP");
            }
            if spec["clusterIP"].is_null() {
                let n = name.bytes().fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
                spec["clusterIP"] = json!(format!("10.96.{}.{}", (n >> 8) % 250 + 1, n % 250 + 1));
            }
            if spec["sessionAffinity"].is_null() {
                spec["sessionAffinity"] = json!("None");
            }
            if let Some(ports) = spec["ports"].as_array_mut() {
                for p in ports {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                    if p["targetPort"].is_null() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        "secrets" if obj["type"].is_null() => {
            obj["type"] = json!("Opaque");
        }
        "deployments" => {
            if !obj["spec"].is_object() {
                return;
            }
            let spec = &mut obj["spec"];
            for (field, value) in [("replicas", json!(1)), ("revisionHistoryLimit", json!(10)), ("progressDeadlineSeconds", json!(600))] {
                if spec[field].is_null() {
                    spec[field] = value;
                }
            }
            if spec["strategy"]["type"].is_null() {
                if !spec["strategy"].is_object() {
                    spec["strategy"] = json!({});
                }
                spec["strategy"]["type"] = json!("RollingUpdate");
            }
            if spec["strategy"]["type"] == "RollingUpdate" {
                for field in ["maxSurge", "maxUnavailable"] {
                    if spec["strategy"]["rollingUpdate"][field].is_null() {
                        if !spec["strategy"]["rollingUpdate"].is_object() {
                            spec["strategy"]["rollingUpdate"] = json!({});
                        }
                        spec["strategy"]["rollingUpdate"][field] = json!("25%");
                    }
                }
            }
            if spec["template"]["spec"].is_object() {
                default_pod_spec(&mut spec["template"]["spec"]);
            }
            obj["metadata"]["generation"] = json!(1);
        }
        _ => {}
    }
}

/// The defaults of a pod spec, for pods and for the pod templates of workloads alike.
fn default_pod_spec(spec: &mut Json) {
    if spec["restartPolicy"].is_null() {
        spec["restartPolicy"] = json!("Always");
    }
    if spec["dnsPolicy"].is_null() {
        spec["dnsPolicy"] = json!("ClusterFirst");
    }
    if spec["schedulerName"].is_null() {
        spec["schedulerName"] = json!("default-scheduler");
    }
    for c in spec["containers"].as_array_mut().into_iter().flatten() {
        if c["terminationMessagePath"].is_null() {
            c["terminationMessagePath"] = json!("/dev/termination-log");
        }
        if c["terminationMessagePolicy"].is_null() {
            c["terminationMessagePolicy"] = json!("File");
        }
        if c["imagePullPolicy"].is_null() {
            let latest = c["image"].as_str().is_none_or(|i| i.ends_with(":latest") || !i.rsplit('/').next().unwrap_or("").contains(':'));
            c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
        }
    }
}

/// The API server's validation of the kinds the emulator checks (so far Deployments: a selector
/// that selects the pods of its own template, and a strategy that is consistent), as `422
/// Invalid` with one cause per field, which kubectl lists.
fn validate(k: &Kind, obj: &Json, name: &str) -> Result<(), ApiError> {
    if k.plural != "deployments" {
        return Ok(());
    }
    let spec = &obj["spec"];
    let mut causes: Vec<(&str, &str, String)> = Vec::new();
    let selector = &spec["selector"];
    let labels = &spec["template"]["metadata"]["labels"];
    if !selector.is_object() {
        causes.push(("FieldValueRequired", "spec.selector", "Required value".into()));
    } else if selector["matchLabels"].as_object().is_none_or(Map::is_empty)
        && selector["matchExpressions"].as_array().is_none_or(Vec::is_empty)
    {
        causes.push(("FieldValueInvalid", "spec.selector", "Invalid value: {}: empty selector is invalid for deployment".into()));
    } else if !selector_matches(selector, labels) {
        causes.push((
            "FieldValueInvalid",
            "spec.template.metadata.labels",
            format!("Invalid value: {labels}: `selector` does not match template `labels`"),
        ));
    }
    if spec["template"]["spec"]["containers"].as_array().is_none_or(Vec::is_empty) {
        causes.push(("FieldValueRequired", "spec.template.spec.containers", "Required value".into()));
    }
    if spec["strategy"]["type"] == "Recreate" && !spec["strategy"]["rollingUpdate"].is_null() {
        causes.push((
            "FieldValueForbidden",
            "spec.strategy.rollingUpdate",
            "Forbidden: may not be specified when strategy `type` is 'Recreate'".into(),
        ));
    }
    if let Some(n) = spec["replicas"].as_i64().filter(|n| *n < 0) {
        causes.push(("FieldValueInvalid", "spec.replicas", format!("Invalid value: {n}: must be greater than or equal to 0")));
    }
    if causes.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = causes.iter().map(|(_, field, message)| format!("{field}: {message}")).collect();
    // One error stands alone; several are an aggregate, which the API server writes in brackets.
    let what = if what.len() == 1 { what.join("") } else { format!("[{}]", what.join(", ")) };
    let causes: Vec<Json> =
        causes.into_iter().map(|(reason, field, message)| json!({"reason": reason, "message": message, "field": field})).collect();
    Err(ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{}.{} \"{name}\" is invalid: {what}", k.kind, k.group),
        details: json!({"name": name, "group": k.group, "kind": k.kind, "causes": causes}),
    })
}

/// Whether a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`) selects `labels`.
fn selector_matches(selector: &Json, labels: &Json) -> bool {
    let mut reqs = Vec::new();
    for (k, v) in selector["matchLabels"].as_object().into_iter().flatten() {
        reqs.push(Requirement::Eq(k.clone(), v.as_str().unwrap_or("").to_owned()));
    }
    for e in selector["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("").to_owned();
        let values: Vec<String> = e["values"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        reqs.push(match e["operator"].as_str() {
            Some("In") => Requirement::In(key, values),
            Some("NotIn") => Requirement::NotIn(key, values),
            Some("Exists") => Requirement::Exists(key),
            Some("DoesNotExist") => Requirement::NotExists(key),
            // An unknown operator selects nothing (the real server refuses it as invalid).
            _ => return false,
        });
    }
    labels_match(labels, &reqs)
}

fn qos_class(spec: &Json) -> &'static str {
    let cs = spec["containers"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !cs.is_empty();
    for c in &cs {
        let r = &c["resources"];
        for res in ["cpu", "memory"] {
            let (req, lim) = (&r["requests"][res], &r["limits"][res]);
            if !req.is_null() || !lim.is_null() {
                any = true;
            }
            if lim.is_null() || req != lim {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// A quantity field (`500m`, `2`, `1.5`, `2Gi`, `512M`, `1e3`) in base units, for the quota
/// arithmetic; `None` when it is not a quantity, or is negative: the API server refuses negative
/// requests and quotas, so they never count.
pub fn parse_quantity(s: &str) -> Option<f64> {
    Quantity::parse_trimmed(s).ok().filter(|q| !q.is_negative()).map(|q| q.as_f64())
}

/// The quota resource name the usage map is keyed by (`cpu` is `requests.cpu`).
fn canonical(res: &str) -> &str {
    match res {
        "cpu" => "requests.cpu",
        "memory" => "requests.memory",
        other => other,
    }
}

/// Formats a quantity the way the API server prints it for that resource.
pub fn format_quantity(res: &str, v: f64) -> String {
    if res.ends_with("cpu") {
        let milli = (v * 1000.0).round() as i64;
        if milli % 1000 == 0 {
            format!("{}", milli / 1000)
        } else {
            format!("{milli}m")
        }
    } else if res.ends_with("memory") {
        let b = v.round() as i64;
        for (suf, m) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if b != 0 && b % m == 0 {
                return format!("{}{suf}", b / m);
            }
        }
        format!("{b}")
    } else {
        format!("{}", v.round() as i64)
    }
}

/// What a pod asks of a quota: `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory`, `pods`.
pub fn pod_usage(pod: &Json) -> BTreeMap<&'static str, f64> {
    let mut u = BTreeMap::new();
    u.insert("pods", 1.0);
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (kind, res, key) in [
            ("requests", "cpu", "requests.cpu"),
            ("requests", "memory", "requests.memory"),
            ("limits", "cpu", "limits.cpu"),
            ("limits", "memory", "limits.memory"),
        ] {
            if let Some(q) = c["resources"][kind][res].as_str().and_then(parse_quantity) {
                *u.entry(key).or_insert(0.0) += q;
            } else if let Some(q) = c["resources"][kind][res].as_f64() {
                *u.entry(key).or_insert(0.0) += q;
            }
        }
    }
    u
}

/// Usage of the pods that still count against quota (not finished).
pub fn usage<'a>(pods: impl IntoIterator<Item = &'a Json>) -> BTreeMap<&'static str, f64> {
    let mut total = BTreeMap::new();
    for p in pods {
        let phase = p["status"]["phase"].as_str().unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        for (k, v) in pod_usage(p) {
            *total.entry(k).or_insert(0.0) += v;
        }
    }
    total
}

/// Quota admission of a new pod, with the API server's own messages.
pub fn admit_pod(store: &Store, ns: &str, pod: &Json) -> Result<(), ApiError> {
    let (Some(rq), Some(pods)) = (kind("", "resourcequotas"), kind("", "pods")) else { return Ok(()) };
    let name = pod["metadata"]["name"].as_str().or(pod["metadata"]["generateName"].as_str()).unwrap_or("").to_owned();
    let forbidden = |message: String| ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!("pods \"{name}\" is forbidden: {message}"),
        details: json!({"name": name, "kind": "pods"}),
    };
    let quotas = store.list(rq, Some(ns));
    if quotas.is_empty() {
        return Ok(());
    }
    let used = usage(store.iter(pods, Some(ns)));
    let asked = pod_usage(pod);
    for q in quotas {
        let qname = q["metadata"]["name"].as_str().unwrap_or("");
        let hard = q["spec"]["hard"].as_object().cloned().unwrap_or_default();
        // Resources the quota limits must be set on every container, or the pod is refused.
        let mut missing = Vec::new();
        for res in hard.keys() {
            let key = canonical(res);
            if key == "pods" || !(key.starts_with("requests.") || key.starts_with("limits.")) {
                continue;
            }
            let (kind, r) = key.split_once('.').unwrap_or(("", ""));
            let unset = pod["spec"]["containers"].as_array().into_iter().flatten().any(|c| c["resources"][kind][r].is_null());
            if unset {
                missing.push(key.to_owned());
            }
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            return Err(forbidden(format!("failed quota: {qname}: must specify {}", missing.join(","))));
        }
        let mut requested = Vec::new();
        let mut used_s = Vec::new();
        let mut limited = Vec::new();
        let mut keys: Vec<&String> = hard.keys().collect();
        keys.sort();
        for res in keys {
            let key = canonical(res);
            let Some(limit) = hard[res].as_str().map(str::to_owned).or_else(|| hard[res].as_f64().map(|v| v.to_string())) else { continue };
            let Some(lim) = parse_quantity(&limit) else { continue };
            let a = asked.get(key).copied().unwrap_or(0.0);
            let u = used.get(key).copied().unwrap_or(0.0);
            if a > 0.0 && u + a > lim + 1e-9 {
                requested.push(format!("{res}={}", format_quantity(res, a)));
                used_s.push(format!("{res}={}", format_quantity(res, u)));
                limited.push(format!("{res}={limit}"));
            }
        }
        if !requested.is_empty() {
            return Err(forbidden(format!(
                "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                requested.join(","),
                used_s.join(","),
                limited.join(",")
            )));
        }
    }
    Ok(())
}

/// LimitRange defaulting: containers without requests/limits get the namespace's defaults.
pub fn apply_limit_ranges(store: &Store, ns: &str, pod: &mut Json) {
    let Some(lr) = kind("", "limitranges") else { return };
    for range in store.list(lr, Some(ns)) {
        for item in range["spec"]["limits"].as_array().into_iter().flatten() {
            if item["type"] != "Container" {
                continue;
            }
            let Some(cs) = pod["spec"]["containers"].as_array_mut() else { continue };
            for c in cs {
                for (field, target) in [("default", "limits"), ("defaultRequest", "requests")] {
                    for (res, v) in item[field].as_object().into_iter().flatten() {
                        if c["resources"][target][res].is_null() {
                            if !c["resources"].is_object() {
                                c["resources"] = json!({});
                            }
                            if !c["resources"][target].is_object() {
                                c["resources"][target] = json!({});
                            }
                            c["resources"][target][res] = v.clone();
                        }
                    }
                }
                // A default limit without a default request makes the request equal the limit.
                if let Some(lim) = c["resources"]["limits"].as_object().cloned() {
                    for (res, v) in lim {
                        if c["resources"]["requests"][&res].is_null() {
                            if !c["resources"]["requests"].is_object() {
                                c["resources"]["requests"] = json!({});
                            }
                            c["resources"]["requests"][&res] = v;
                        }
                    }
                }
            }
        }
    }
}

/// A parsed label selector requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `k=v` / `k==v`.
    Eq(String, String),
    /// `k!=v`.
    Ne(String, String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

/// Parses a label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).
pub fn parse_label_selector(s: &str) -> Result<Vec<Requirement>, ApiError> {
    let mut reqs = Vec::new();
    for part in split_top(s) {
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
        };
        if let Some((k, v)) = part.split_once("!=") {
            reqs.push(Requirement::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            reqs.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            reqs.push(Requirement::NotIn(
                k.trim().into(),
                set(rest).ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {part}")))?,
            ));
        } else if let Some((k, rest)) = part.split_once(" in ") {
            reqs.push(Requirement::In(
                k.trim().into(),
                set(rest).ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {part}")))?,
            ));
        } else if let Some(k) = part.strip_prefix('!') {
            reqs.push(Requirement::NotExists(k.trim().into()));
        } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            reqs.push(Requirement::Exists(part));
        } else {
            return Err(ApiError::bad_request(format!("unable to parse requirement: {part}")));
        }
    }
    Ok(reqs)
}

/// Whether labels satisfy every requirement.
pub fn labels_match(labels: &Json, reqs: &[Requirement]) -> bool {
    let get = |k: &str| labels.get(k).and_then(Json::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
        Requirement::Ne(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

/// Whether an object satisfies a field selector (`metadata.name=x,status.phase!=Running`).
pub fn fields_match(obj: &Json, selector: &str) -> bool {
    split_top(selector).iter().all(|part| {
        let (path, want, negate) = if let Some((p, v)) = part.split_once("!=") {
            (p, v, true)
        } else if let Some((p, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (p, v, false)
        } else {
            return true;
        };
        let mut cur = obj;
        for seg in path.trim().split('.') {
            cur = &cur[seg];
        }
        let have = match cur {
            Json::String(s) => s.clone(),
            Json::Null => String::new(),
            other => other.to_string(),
        };
        (have == want.trim()) != negate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_match() {
        let r = parse_label_selector("app=x,tier!=db,env in (prod, dev),!gone,role").expect("parses");
        assert_eq!(r.len(), 5);
        let yes = json!({"app": "x", "env": "dev", "role": "driver"});
        assert!(labels_match(&yes, &r));
        let no = json!({"app": "x", "env": "qa", "role": "driver"});
        assert!(!labels_match(&no, &r));
        assert!(fields_match(&json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}}), "metadata.name=a,status.phase!=Failed"));
        assert!(!fields_match(&json!({"metadata": {"name": "a"}}), "metadata.name=b"));
    }

    #[test]
    fn quantities_round_trip() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2Gi"), Some(2147483648.0));
        assert_eq!(format_quantity("requests.cpu", 1.5), "1500m");
        assert_eq!(format_quantity("limits.memory", 3.0 * 1073741824.0), "3Gi");
        assert_eq!(parse_quantity("x"), None);
        assert_eq!(parse_quantity(" 1Ei "), Some(1152921504606846976.0), "white space is trimmed, as the API server's decoder does");
        assert_eq!(parse_quantity("-1"), None, "negative amounts never count");
        // The float parser took any float before a suffix, which Kubernetes refuses.
        assert_eq!(parse_quantity("1e3Gi"), None);
        assert_eq!(parse_quantity("1.5e3m"), None);
        assert_eq!(parse_quantity("0.07"), Some(0.07));
    }

    #[test]
    fn deployments_are_defaulted_validated_and_left_alone() {
        let mut s = Store::new();
        let deployments = kind(APPS, "deployments").expect("deployments");
        assert_eq!(deployments.api_version(), "apps/v1");
        let d = |selector: Json, labels: Json| {
            json!({"metadata": {"name": "meter"}, "spec": {"selector": selector, "strategy": {"type": "Recreate"},
                   "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "meter", "image": "sparkoss-meter:0.1.0"}]}}}})
        };
        let created = s
            .create(deployments, "default", d(json!({"matchLabels": {"app": "meter"}}), json!({"app": "meter", "tier": "x"})))
            .expect("created");
        assert_eq!((created["apiVersion"].as_str(), created["metadata"]["generation"].as_i64()), (Some("apps/v1"), Some(1)));
        assert_eq!((created["spec"]["replicas"].as_i64(), created["spec"]["revisionHistoryLimit"].as_i64()), (Some(1), Some(10)));
        assert_eq!(created["spec"]["strategy"], json!({"type": "Recreate"}), "Recreate takes no rollingUpdate defaults");
        let c = &created["spec"]["template"]["spec"]["containers"][0];
        assert_eq!((c["imagePullPolicy"].as_str(), c["terminationMessagePolicy"].as_str()), (Some("IfNotPresent"), Some("File")));
        assert!(created.get("status").is_none(), "no controller writes a status");
        assert!(s.list(kind("", "pods").expect("pods"), Some("default")).is_empty(), "no controller creates pods");

        let e =
            s.create(deployments, "default", d(json!({"matchLabels": {"app": "meter"}}), json!({"app": "other"}))).expect_err("mismatch");
        assert_eq!(
            (e.code, e.message.as_str()),
            (422, "Deployment.apps \"meter\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`")
        );
        let mut two = d(Json::Null, json!({"app": "meter"}));
        two["metadata"]["name"] = json!("two");
        two["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 1});
        let e = s.create(deployments, "default", two).expect_err("two errors");
        let fields: Vec<&str> = e.details["causes"].as_array().expect("causes").iter().filter_map(|c| c["field"].as_str()).collect();
        assert_eq!(fields, ["spec.selector", "spec.strategy.rollingUpdate"]);
        assert!(e.message.contains(": [spec.selector: Required value, spec.strategy.rollingUpdate: Forbidden"), "{}", e.message);
        let expressions = json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["meter", "m"]}, {"key": "gone", "operator": "DoesNotExist"}]});
        let mut e3 = d(expressions, json!({"app": "m"}));
        e3["metadata"]["name"] = json!("exprs");
        s.create(deployments, "default", e3).expect("matchExpressions select the template");

        let mut changed = created.clone();
        changed["spec"]["replicas"] = json!(0);
        changed["status"] = json!({"readyReplicas": 7});
        let replaced = s.replace(deployments, "default", "meter", changed.clone(), false).expect("replaced");
        assert_eq!((replaced["metadata"]["generation"].as_i64(), replaced["status"]["readyReplicas"].as_i64()), (Some(2), Some(7)));
        let same = s.replace(deployments, "default", "meter", replaced.clone(), false).expect("replaced again");
        assert_eq!(same["metadata"]["generation"].as_i64(), Some(2), "the generation counts spec changes only");
    }

    #[test]
    fn quota_refuses_with_the_api_servers_message() {
        let mut s = Store::new();
        let rq = kind("", "resourcequotas").expect("kind");
        s.create(kind("", "namespaces").expect("ns"), "", json!({"metadata": {"name": "t"}})).expect("ns");
        s.create(rq, "t", json!({"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "2", "pods": "5"}}})).expect("quota");
        let pod = |n: &str, cpu: &str| json!({"metadata": {"name": n}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}});
        let p1 = pod("a", "1500m");
        admit_pod(&s, "t", &p1).expect("fits");
        s.create(kind("", "pods").expect("pods"), "t", p1).expect("created");
        let e = admit_pod(&s, "t", &pod("b", "1")).expect_err("over quota");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"b\" is forbidden: exceeded quota: q, requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2"
        );
        let e = admit_pod(&s, "t", &json!({"metadata": {"name": "c"}, "spec": {"containers": [{"name": "c"}]}})).expect_err("no requests");
        assert!(e.message.contains("failed quota: q: must specify requests.cpu"), "{}", e.message);
    }
}
