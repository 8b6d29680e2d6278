//! The API server's defaulting of the kinds the emulator looks into (namespaces, pods, services,
//! secrets, deployments), applied when an object is created.

use serde_json::{json, Value as Json};

use super::Kind;

/// API-server defaulting for the kinds the emulator looks into.
pub(super) fn default_object(k: &Kind, obj: &mut Json, name: &str) {
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
                    requests_default_to_limits(c);
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

/// The pod's QoS class, from its containers' requests and limits.
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

/// A container's limits without requests: the requests default to the limits (for pods as
/// created, and after LimitRange defaults).
pub(super) fn requests_default_to_limits(c: &mut Json) {
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
