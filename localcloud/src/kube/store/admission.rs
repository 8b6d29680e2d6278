//! The admission plugins the emulator runs on a new pod, in the API server's order:
//! ServiceAccount, LimitRanger (defaults) and ResourceQuota (refusal with the API server's own
//! messages; the arithmetic is [`super::quota`]'s, on exact quantities).

use serde_json::{json, Value as Json};

use super::defaulting::requests_default_to_limits;
use super::quota::{canonical, format_amount, hard_amount, pod_usage, usage, Amount};
use super::{kind, ApiError, Store};

/// The ServiceAccount admission plugin: a pod runs as `default` unless it names a service
/// account, and the one it names must exist.
pub fn admit_service_account(s: &Store, ns: &str, pod: &mut Json) -> Result<(), ApiError> {
    if !pod["spec"].is_object() {
        return Ok(());
    }
    let name = pod["spec"]["serviceAccountName"].as_str().or(pod["spec"]["serviceAccount"].as_str()).unwrap_or("default").to_owned();
    pod["spec"]["serviceAccountName"] = json!(name);
    pod["spec"]["serviceAccount"] = json!(name);
    if kind("", "serviceaccounts").is_some_and(|k| s.get(k, ns, &name).is_ok()) {
        return Ok(());
    }
    let pod_name = pod["metadata"]["name"].as_str().or(pod["metadata"]["generateName"].as_str()).unwrap_or("").to_owned();
    Err(ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "pods \"{pod_name}\" is forbidden: error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
        ),
        details: json!({"name": pod_name, "kind": "pods"}),
    })
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
                requests_default_to_limits(c);
            }
        }
    }
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
            let Some((limit, lim)) = hard_amount(&hard[res]) else { continue };
            let a = asked.get(key).copied().unwrap_or_default();
            let u = used.get(key).copied().unwrap_or_default();
            if a > Amount::ZERO && u + a > lim {
                requested.push(format!("{res}={}", format_amount(res, a)));
                used_s.push(format!("{res}={}", format_amount(res, u)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn quota_counts_bytes_exactly() {
        let mut s = Store::new();
        s.create(kind("", "namespaces").expect("ns"), "", json!({"metadata": {"name": "t"}})).expect("ns");
        let rq = kind("", "resourcequotas").expect("kind");
        s.create(rq, "t", json!({"metadata": {"name": "q"}, "spec": {"hard": {"requests.memory": "9007199254740992"}}})).expect("quota");
        let pod = |mem: &str| json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": mem}}}]}});
        admit_pod(&s, "t", &pod("9007199254740992")).expect("exactly the quota fits");
        let e = admit_pod(&s, "t", &pod("9007199254740993")).expect_err("one byte over");
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: exceeded quota: q, requested: requests.memory=9007199254740993, used: requests.memory=0, limited: requests.memory=9007199254740992"
        );
    }
}
