//! Who is calling, and may they: the API server's authentication (bearer tokens: the admin
//! token the kubeconfigs carry, or a service-account token a pod has mounted) and RBAC
//! authorization (Roles, ClusterRoles and their bindings from the store, with the default
//! cluster roles every cluster has). Refusals are Kubernetes' own 401 and 403 `Status`es, with
//! the 403 message naming the user, verb, resource, group and namespace as the real one does.

use serde_json::{json, Value as Json};

use super::store::{kind, ApiError, Store, APPS, RBAC};
use crate::pki::{Pki, TOKEN_ISSUER};

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// `system:admin`, or `system:serviceaccount:<ns>:<name>`.
    pub name: String,
    /// Its groups (`system:masters` for the admin).
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The cluster administrator (admin token, or plain HTTP on loopback as through
    /// `kubectl proxy`).
    pub fn admin() -> UserInfo {
        UserInfo { name: "system:admin".into(), groups: vec!["system:masters".into(), "system:authenticated".into()] }
    }

    fn service_account(ns: &str, name: &str) -> UserInfo {
        UserInfo {
            name: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}"), "system:authenticated".into()],
        }
    }

    fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// `401 Unauthorized`, as the API server answers a missing or invalid token.
pub fn unauthorized() -> ApiError {
    ApiError { code: 401, reason: "Unauthorized", message: "Unauthorized".into(), details: json!({}) }
}

/// The user a bearer token names: the admin token, or a service-account token signed by this
/// cluster for the API server's audience whose service account (and pod, when bound to one)
/// still exists. Checking the uids, not only the names, is what revokes a token when its service
/// account or pod is deleted, even if a namesake is created later.
pub fn authenticate(store: &Store, pki: &Pki, authorization: Option<&str>) -> Result<UserInfo, ApiError> {
    let token = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).ok_or_else(unauthorized)?;
    if pki.is_admin_token(token) {
        return Ok(UserInfo::admin());
    }
    let claims = pki.verify_token(token).ok_or_else(unauthorized)?;
    // A token requested for another audience (`kubectl create token --audience vault`) is for
    // that service; the API server refuses it, as the real one does.
    if !claims["aud"].as_array().is_some_and(|a| a.iter().any(|x| x == TOKEN_ISSUER)) {
        return Err(unauthorized());
    }
    let k8s = &claims["kubernetes.io"];
    let ns = k8s["namespace"].as_str().ok_or_else(unauthorized)?;
    let sa = k8s["serviceaccount"]["name"].as_str().ok_or_else(unauthorized)?;
    let sa_obj = kind("", "serviceaccounts").and_then(|k| store.get(k, ns, sa).ok()).ok_or_else(unauthorized)?;
    if sa_obj["metadata"]["uid"] != k8s["serviceaccount"]["uid"] {
        return Err(unauthorized());
    }
    if let Some(pod) = k8s["pod"]["name"].as_str() {
        let live = kind("", "pods").and_then(|k| store.get(k, ns, pod).ok());
        if live.is_none_or(|p| p["metadata"]["uid"] != k8s["pod"]["uid"]) {
            return Err(unauthorized());
        }
    }
    Ok(UserInfo::service_account(ns, sa))
}

/// What a resource request asks to do.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: &'a str,
    /// API group (`""` for core).
    pub group: &'a str,
    /// Plural resource.
    pub resource: &'a str,
    /// Subresource (`log`, `status`).
    pub subresource: Option<&'a str>,
    /// Namespace, for namespaced requests.
    pub namespace: Option<&'a str>,
    /// Object name, when the request names one.
    pub name: Option<&'a str>,
}

fn list_has(list: &Json, want: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|v| v == "*" || v == want))
}

fn rule_allows(rule: &Json, a: &Attributes) -> bool {
    let resource = match a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.to_owned(),
    };
    let resource_ok = rule["resources"].as_array().is_some_and(|rs| {
        rs.iter().filter_map(Json::as_str).any(|r| {
            r == "*" || r == resource || (a.subresource.is_some() && r.strip_prefix("*/").is_some_and(|s| Some(s) == a.subresource))
        })
    });
    let names_ok = match rule["resourceNames"].as_array() {
        Some(names) if !names.is_empty() => a.name.is_some_and(|n| names.iter().any(|v| v == n)),
        _ => true,
    };
    list_has(&rule["verbs"], a.verb) && list_has(&rule["apiGroups"], a.group) && resource_ok && names_ok
}

fn subject_matches(subject: &Json, user: &UserInfo, binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str() {
        Some("ServiceAccount") => {
            let ns = subject["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        _ => false,
    }
}

/// The rules of the role a binding refers to (a Role in the binding's namespace, or a
/// ClusterRole).
fn role_rules(store: &Store, role_ref: &Json, binding_ns: &str) -> Vec<Json> {
    let name = role_ref["name"].as_str().unwrap_or("");
    let role = match role_ref["kind"].as_str() {
        Some("Role") => kind(RBAC, "roles").and_then(|k| store.get(k, binding_ns, name).ok()),
        Some("ClusterRole") => kind(RBAC, "clusterroles").and_then(|k| store.get(k, "", name).ok()),
        _ => None,
    };
    role.and_then(|r| r["rules"].as_array().cloned()).unwrap_or_default()
}

/// Allows the request when a binding of the user grants it, else Kubernetes' 403.
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> Result<(), ApiError> {
    if user.is_admin() {
        return Ok(());
    }
    let mut bindings: Vec<(Json, String)> = Vec::new();
    if let Some(k) = kind(RBAC, "clusterrolebindings") {
        bindings.extend(store.list(k, None).into_iter().map(|b| (b, String::new())));
    }
    if let (Some(ns), Some(k)) = (a.namespace, kind(RBAC, "rolebindings")) {
        bindings.extend(store.list(k, Some(ns)).into_iter().map(|b| (b, ns.to_owned())));
    }
    for (b, ns) in &bindings {
        let bound = b["subjects"].as_array().is_some_and(|subs| subs.iter().any(|s| subject_matches(s, user, ns)));
        if bound && role_rules(store, &b["roleRef"], ns).iter().any(|r| rule_allows(r, a)) {
            return Ok(());
        }
    }
    Err(forbidden(user, a))
}

fn forbidden(user: &UserInfo, a: &Attributes) -> ApiError {
    let resource = match a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.to_owned(),
    };
    let what = match a.name {
        Some(n) => format!("{resource} \"{n}\""),
        None => resource.clone(),
    };
    let scope = match a.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    let mut details = json!({"kind": a.resource});
    if let Some(n) = a.name {
        details["name"] = json!(n);
    }
    if !a.group.is_empty() {
        details["group"] = json!(a.group);
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{what} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            user.name, a.verb, a.group
        ),
        details,
    }
}

/// The default cluster roles and the one binding every cluster has, as created at start:
/// `cluster-admin` (everything, bound to `system:masters`), `admin`, `edit` and `view` (the
/// aggregated roles, written out for the resources this API server serves).
pub fn default_cluster_roles() -> Vec<(&'static str, Json)> {
    const READ: &[&str] = &["get", "list", "watch"];
    const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
    let all: Vec<&str> = READ.iter().chain(WRITE).copied().collect();
    let workloads =
        json!(["pods", "pods/log", "pods/status", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "events"]);
    let view_rules = json!([
        {"apiGroups": [""], "resources": workloads, "verbs": READ},
        {"apiGroups": [super::metrics::GROUP], "resources": ["pods", "nodes"], "verbs": READ},
        {"apiGroups": [""], "resources": ["resourcequotas", "resourcequotas/status", "limitranges", "namespaces", "namespaces/status"], "verbs": READ},
        {"apiGroups": [APPS], "resources": ["deployments", "deployments/status"], "verbs": READ},
    ]);
    let edit_rules = json!([
        {"apiGroups": [""], "resources": workloads, "verbs": all},
        {"apiGroups": [super::metrics::GROUP], "resources": ["pods", "nodes"], "verbs": READ},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": all},
        {"apiGroups": [""], "resources": ["resourcequotas", "limitranges", "namespaces"], "verbs": READ},
        // As the real `edit`: workloads are written, their status (the controllers') only read.
        {"apiGroups": [APPS], "resources": ["deployments"], "verbs": all},
        {"apiGroups": [APPS], "resources": ["deployments/status"], "verbs": READ},
    ]);
    let mut admin_rules = edit_rules.as_array().cloned().unwrap_or_default();
    admin_rules.push(json!({"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": all}));
    let labels = |aggregate: bool| {
        let mut l = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
        if aggregate {
            l["rbac.authorization.k8s.io/aggregate-to-edit"] = json!("true");
        }
        l
    };
    vec![
        (
            "clusterroles",
            json!({"metadata": {"name": "cluster-admin", "labels": labels(false)},
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        ),
        ("clusterroles", json!({"metadata": {"name": "admin", "labels": labels(false)}, "rules": admin_rules})),
        ("clusterroles", json!({"metadata": {"name": "edit", "labels": labels(false)}, "rules": edit_rules})),
        ("clusterroles", json!({"metadata": {"name": "view", "labels": labels(true)}, "rules": view_rules})),
        (
            "clusterrolebindings",
            json!({"metadata": {"name": "cluster-admin", "labels": labels(false)},
                   "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}]}),
        ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn store_with_defaults() -> Store {
        let mut s = Store::new();
        for (plural, obj) in default_cluster_roles() {
            s.create(kind(RBAC, plural).unwrap(), "", obj).unwrap();
        }
        s.create(kind("", "namespaces").unwrap(), "", json!({"metadata": {"name": "team"}})).unwrap();
        s
    }

    fn attrs<'a>(verb: &'a str, resource: &'a str, name: Option<&'a str>) -> Attributes<'a> {
        Attributes { verb, group: "", resource, subresource: None, namespace: Some("team"), name }
    }

    #[test]
    fn role_bindings_grant_what_their_roles_say_and_nothing_else() {
        let mut s = store_with_defaults();
        let spark = UserInfo::service_account("team", "spark");
        let e = authorize(&s, &spark, &attrs("create", "pods", None)).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods is forbidden: User \"system:serviceaccount:team:spark\" cannot create resource \"pods\" in API group \"\" in the namespace \"team\""
        );
        // Spark's documented set-up: `kubectl create rolebinding ... --clusterrole=edit --serviceaccount=team:spark`.
        s.create(
            kind(RBAC, "rolebindings").unwrap(),
            "team",
            json!({"metadata": {"name": "spark-edit"}, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"},
                   "subjects": [{"kind": "ServiceAccount", "name": "spark", "namespace": "team"}]}),
        )
        .unwrap();
        authorize(&s, &spark, &attrs("create", "pods", None)).unwrap();
        authorize(&s, &spark, &attrs("deletecollection", "configmaps", None)).unwrap();
        let other_ns = Attributes { namespace: Some("default"), ..attrs("create", "pods", None) };
        assert_eq!(authorize(&s, &spark, &other_ns).unwrap_err().code, 403, "a RoleBinding is namespaced");
        let e = authorize(&s, &spark, &Attributes { group: RBAC, ..attrs("create", "roles", Some("r")) }).unwrap_err();
        assert!(e.message.starts_with("roles \"r\" is forbidden"), "{}", e.message);

        // A Role with resourceNames and a subresource.
        s.create(
            kind(RBAC, "roles").unwrap(),
            "team",
            json!({"metadata": {"name": "logs"}, "rules": [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"], "resourceNames": ["driver"]}]}),
        )
        .unwrap();
        s.create(
            kind(RBAC, "rolebindings").unwrap(),
            "team",
            json!({"metadata": {"name": "logs"}, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "logs"},
                   "subjects": [{"kind": "ServiceAccount", "name": "reader"}]}),
        )
        .unwrap();
        let reader = UserInfo::service_account("team", "reader");
        let log = |name| Attributes { subresource: Some("log"), ..attrs("get", "pods", Some(name)) };
        authorize(&s, &reader, &log("driver")).unwrap();
        assert_eq!(authorize(&s, &reader, &log("other")).unwrap_err().code, 403);
        assert_eq!(authorize(&s, &reader, &attrs("get", "pods", Some("driver"))).unwrap_err().code, 403);
        authorize(&s, &UserInfo::admin(), &attrs("delete", "namespaces", Some("team"))).unwrap();
    }

    #[test]
    fn view_reads_deployments_and_edit_writes_them() {
        let mut s = store_with_defaults();
        for (sa, role) in [("viewer", "view"), ("editor", "edit"), ("boss", "admin")] {
            s.create(
                kind(RBAC, "rolebindings").unwrap(),
                "team",
                json!({"metadata": {"name": sa}, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
                       "subjects": [{"kind": "ServiceAccount", "name": sa}]}),
            )
            .unwrap();
        }
        let deploy = |verb| Attributes { group: APPS, ..attrs(verb, "deployments", Some("meter")) };
        let viewer = UserInfo::service_account("team", "viewer");
        authorize(&s, &viewer, &deploy("get")).unwrap();
        authorize(&s, &viewer, &Attributes { name: None, ..deploy("watch") }).unwrap();
        let e = authorize(&s, &viewer, &deploy("patch")).unwrap_err();
        assert_eq!(
            e.message,
            "deployments \"meter\" is forbidden: User \"system:serviceaccount:team:viewer\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"team\""
        );
        for sa in ["editor", "boss"] {
            let user = UserInfo::service_account("team", sa);
            for verb in ["create", "update", "patch", "delete", "get"] {
                authorize(&s, &user, &deploy(verb)).unwrap();
            }
            let status = Attributes { subresource: Some("status"), ..deploy("update") };
            assert_eq!(authorize(&s, &user, &status).unwrap_err().code, 403, "{sa}: a deployment's status is its controller's");
        }
        let core = Attributes { group: "", ..deploy("get") };
        assert_eq!(authorize(&s, &viewer, &core).unwrap_err().code, 403, "deployments are in apps, not core");
    }
}
