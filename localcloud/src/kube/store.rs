//! The Kubernetes emulator's object store: typed only as far as the API server itself looks
//! into objects (metadata, pod resources, quotas, limit ranges); everything else is kept as the
//! client sent it, like etcd would.
//!
//! This root keeps the objects, resource versions and the change history; what the API server
//! does to an object on its way in is beside it: `defaulting`, `validation`, `admission`
//! (with the quota arithmetic of `quota`) and the `selectors` reads use.

mod admission;
mod defaulting;
mod quota;
mod selectors;
mod validation;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value as Json};
use tokio::sync::broadcast;

pub use self::admission::{admit_pod, admit_service_account, apply_limit_ranges};
use self::defaulting::default_object;
pub use self::quota::{format_amount, format_quantity, parse_quantity, pod_usage, usage, Amount};
pub use self::selectors::{fields_match, labels_match, parse_label_selector, Requirement};
use self::validation::{valid_name, validate};

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
