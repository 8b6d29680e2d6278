//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): field ownership recorded in
//! `metadata.managedFields` as `FieldsV1`, the applied configuration merged in (lists by their
//! merge keys, through the strategic merge the emulator already does), fields the manager applied
//! before and no longer applies removed when nobody else owns them, and conflicts with other
//! managers refused with the API server's 409 unless `force=true` takes the fields over.
//!
//! Field paths follow the applied object: maps field by field, lists of objects that carry a
//! `name` by that key (`k:{"name":"..."}`, as containers, env, ports and volumes are keyed), any
//! other list as one value.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value as Json};

use super::store::{ApiError, Kind};
use super::strategic_merge::strategic_merge;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    /// A map field.
    Field(String),
    /// A list element, by its `name`.
    Key(String),
}

type Path = Vec<Seg>;

/// The leaf paths a configuration sets. Identity fields (`apiVersion`, `kind`, name, namespace)
/// belong to nobody, as on the real server.
fn leaf_paths(v: &Json) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out.retain(|p| {
        !matches!(p.as_slice(), [Seg::Field(f)] if f == "apiVersion" || f == "kind")
            && !matches!(p.as_slice(), [Seg::Field(m), Seg::Field(f)] if m == "metadata" && (f == "name" || f == "namespace" || f == "managedFields" || f == "resourceVersion"))
    });
    out
}

fn walk(v: &Json, at: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                at.push(Seg::Field(k.clone()));
                walk(child, at, out);
                at.pop();
            }
        }
        Json::Array(items) if !items.is_empty() && items.iter().all(|i| i["name"].is_string()) => {
            for i in items {
                at.push(Seg::Key(i["name"].as_str().unwrap_or("").to_owned()));
                walk(i, at, out);
                at.pop();
            }
        }
        _ => {
            out.insert(at.clone());
        }
    }
}

fn get<'a>(v: &'a Json, path: &[Seg]) -> Option<&'a Json> {
    let Some((first, rest)) = path.split_first() else { return Some(v) };
    let next = match first {
        Seg::Field(f) => v.get(f)?,
        Seg::Key(k) => v.as_array()?.iter().find(|i| i["name"] == *k)?,
    };
    get(next, rest)
}

fn remove(v: &mut Json, path: &[Seg]) {
    match path {
        [] => {}
        [Seg::Field(f)] => {
            if let Some(m) = v.as_object_mut() {
                m.remove(f);
            }
        }
        [Seg::Key(k)] => {
            if let Some(a) = v.as_array_mut() {
                a.retain(|i| i["name"] != *k);
            }
        }
        [first, rest @ ..] => {
            let next = match first {
                Seg::Field(f) => v.get_mut(f),
                Seg::Key(k) => v.as_array_mut().and_then(|a| a.iter_mut().find(|i| i["name"] == *k)),
            };
            if let Some(n) = next {
                remove(n, rest);
            }
        }
    }
}

/// `FieldsV1` of a path set.
fn fields_v1(paths: &BTreeSet<Path>) -> Json {
    let mut root = Map::new();
    for p in paths {
        let mut node = &mut root;
        for (i, seg) in p.iter().enumerate() {
            let key = match seg {
                Seg::Field(f) => format!("f:{f}"),
                Seg::Key(k) => format!("k:{}", json!({"name": k})),
            };
            let entry = node.entry(key).or_insert_with(|| json!({}));
            if matches!(seg, Seg::Key(_)) && i + 1 < p.len() {
                if let Some(m) = entry.as_object_mut() {
                    m.entry(".").or_insert_with(|| json!({}));
                }
            }
            let Some(m) = entry.as_object_mut() else { break };
            node = m;
        }
    }
    Json::Object(root)
}

/// The path set of a `FieldsV1` document.
fn parse_fields_v1(v: &Json) -> BTreeSet<Path> {
    fn go(v: &Json, at: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<_> = m.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if children.is_empty() {
            if !at.is_empty() {
                out.insert(at.clone());
            }
            return;
        }
        for (k, child) in children {
            let seg = if let Some(f) = k.strip_prefix("f:") {
                Seg::Field(f.to_owned())
            } else if let Some(key) = k.strip_prefix("k:") {
                match serde_json::from_str::<Json>(key).ok().and_then(|o| o["name"].as_str().map(str::to_owned)) {
                    Some(n) => Seg::Key(n),
                    None => continue,
                }
            } else {
                continue;
            };
            at.push(seg);
            go(child, at, out);
            at.pop();
        }
    }
    let mut out = BTreeSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

fn path_text(p: &[Seg]) -> String {
    p.iter()
        .map(|s| match s {
            Seg::Field(f) => format!(".{f}"),
            Seg::Key(k) => format!("[name=\"{k}\"]"),
        })
        .collect()
}

/// A `managedFields` entry.
fn entry(manager: &str, operation: &str, api_version: &str, now: &str, paths: &BTreeSet<Path>) -> Json {
    json!({"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
           "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)})
}

/// The object a create or update by `manager` leaves, with its `Update` entry in
/// `managedFields` (what a plain write records on the real server).
pub fn record_update(obj: &mut Json, old: Option<&Json>, manager: &str, now: &str) {
    let api_version = obj["apiVersion"].as_str().unwrap_or("v1").to_owned();
    let mut entries: Vec<Json> = old.and_then(|o| o["metadata"]["managedFields"].as_array().cloned()).unwrap_or_default();
    let mut changed: BTreeSet<Path> = leaf_paths(&strip_status(obj));
    if let Some(o) = old {
        let before = strip_status(o);
        changed.retain(|p| get(&before, p) != get(obj, p));
        // The writer now owns what it changed; others lose those fields.
        for e in &mut entries {
            let mut owned = parse_fields_v1(&e["fieldsV1"]);
            owned.retain(|p| !changed.contains(p));
            e["fieldsV1"] = fields_v1(&owned);
        }
    }
    if changed.is_empty() && old.is_some() {
        obj["metadata"]["managedFields"] = Json::Array(entries);
        return;
    }
    match entries.iter_mut().find(|e| e["manager"] == manager && e["operation"] == "Update") {
        Some(e) => {
            let mut owned = parse_fields_v1(&e["fieldsV1"]);
            owned.extend(changed);
            *e = entry(manager, "Update", &api_version, now, &owned);
        }
        None => entries.push(entry(manager, "Update", &api_version, now, &changed)),
    }
    obj["metadata"]["managedFields"] = Json::Array(entries);
}

fn strip_status(o: &Json) -> Json {
    let mut c = o.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("status");
        if let Some(md) = m.get_mut("metadata").and_then(Json::as_object_mut) {
            for f in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "deletionTimestamp"] {
                md.remove(f);
            }
        }
    }
    c
}

/// Applies `applied` by `manager` onto `current` (`None`: the object does not exist yet and is
/// created from the configuration). Returns the object to store.
pub fn apply(k: &Kind, current: Option<&Json>, applied: &Json, manager: &str, force: bool, now: &str) -> Result<Json, ApiError> {
    if !applied.is_object() {
        return Err(ApiError::bad_request("the apply configuration is not an object"));
    }
    let api_version = applied["apiVersion"].as_str().unwrap_or("").to_owned();
    let want = applied["kind"].as_str().unwrap_or("");
    if api_version.is_empty() || want.is_empty() {
        return Err(ApiError::bad_request("apiVersion and kind must be set in an apply configuration"));
    }
    if want != k.kind {
        return Err(ApiError::bad_request(format!("the apply configuration is a {want}, not a {}", k.kind)));
    }
    let mut config = applied.clone();
    if let Some(m) = config["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    let new_paths = leaf_paths(&config);
    let Some(current) = current else {
        let mut obj = config;
        obj["metadata"]["managedFields"] = json!([entry(manager, "Apply", &api_version, now, &new_paths)]);
        return Ok(obj);
    };
    let mut entries: Vec<Json> = current["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    // Conflicts: a field another manager owns that this configuration sets to another value.
    let mut conflicts = Vec::new();
    for e in &entries {
        let other = e["manager"].as_str().unwrap_or("");
        if other == manager && e["operation"] == "Apply" {
            continue;
        }
        for p in parse_fields_v1(&e["fieldsV1"]).intersection(&new_paths) {
            if get(current, p) != get(&config, p) {
                conflicts.push((other.to_owned(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let causes: Vec<Json> = conflicts
            .iter()
            .map(|(m, p)| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": path_text(p)}))
            .collect();
        // The API server's wording: one conflict inline, several as a list.
        let message = match conflicts.as_slice() {
            [(m, p)] => format!("Apply failed with 1 conflict: conflict with \"{m}\": {}", path_text(p)),
            many => {
                let listed: Vec<String> = many.iter().map(|(m, p)| format!("conflict with \"{m}\": {}", path_text(p))).collect();
                format!("Apply failed with {} conflicts: {}", many.len(), listed.join("\n"))
            }
        };
        return Err(ApiError { code: 409, reason: "Conflict", message, details: json!({"causes": causes}) });
    }
    // Taking over: other managers lose the fields this configuration sets.
    let previous: BTreeSet<Path> = entries
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == "Apply")
        .map(|e| parse_fields_v1(&e["fieldsV1"]))
        .unwrap_or_default();
    for e in &mut entries {
        if e["manager"] == manager && e["operation"] == "Apply" {
            continue;
        }
        let mut owned = parse_fields_v1(&e["fieldsV1"]);
        owned.retain(|p| !new_paths.contains(p));
        e["fieldsV1"] = fields_v1(&owned);
    }
    let mut obj = current.clone();
    strategic_merge(k, &mut obj, &config);
    // Fields this manager applied before and no longer applies go, unless someone else owns them.
    let others: BTreeSet<Path> = entries
        .iter()
        .filter(|e| !(e["manager"] == manager && e["operation"] == "Apply"))
        .flat_map(|e| parse_fields_v1(&e["fieldsV1"]))
        .collect();
    for p in previous.difference(&new_paths) {
        if !others.contains(p) {
            remove(&mut obj, p);
        }
    }
    entries.retain(|e| !(e["manager"] == manager && e["operation"] == "Apply"));
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty()));
    entries.push(entry(manager, "Apply", &api_version, now, &new_paths));
    obj["metadata"]["managedFields"] = Json::Array(entries);
    Ok(obj)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kube::store::kind;

    #[test]
    fn apply_creates_merges_conflicts_and_takes_over_with_force() {
        let cm = kind("", "configmaps").unwrap();
        let first =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}});
        let created = apply(cm, None, &first, "fabric8", false, "t0").unwrap();
        let mf = &created["metadata"]["managedFields"][0];
        assert_eq!((mf["manager"].as_str(), mf["operation"].as_str()), (Some("fabric8"), Some("Apply")));
        assert_eq!(mf["fieldsV1"], json!({"f:data": {"f:x": {}, "f:y": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}));

        // Another manager changes x with a plain update: it now owns x.
        let mut updated = created.clone();
        updated["data"]["x"] = json!("changed");
        record_update(&mut updated, Some(&created), "kubectl-edit", "t1");
        let owners: Vec<_> = updated["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].clone()).collect();
        assert_eq!(owners, vec![json!("fabric8"), json!("kubectl-edit")]);

        // Re-applying the old x conflicts with kubectl-edit, in the API server's shape.
        let e = apply(cm, Some(&updated), &first, "fabric8", false, "t2").unwrap_err();
        assert_eq!((e.code, e.reason), (409, "Conflict"));
        assert_eq!(e.details["causes"][0]["type"], "FieldManagerConflict");
        assert_eq!(e.details["causes"][0]["field"], ".data.x");
        assert!(e.message.starts_with("Apply failed with 1 conflict"), "{}", e.message);

        // force=true takes x back; dropping y from the configuration removes it.
        let second =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1", "z": "3"}});
        let forced = apply(cm, Some(&updated), &second, "fabric8", true, "t3").unwrap();
        assert_eq!(forced["data"], json!({"x": "1", "z": "3"}));
        let entries = forced["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "kubectl-edit owned only x and lost it: {entries:?}");
    }

    #[test]
    fn containers_are_owned_by_name() {
        let pods = kind("", "pods").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": [{"name": "spark", "image": "i:1", "args": ["driver"]}]}});
        let p = apply(pods, None, &pod, "m", false, "t").unwrap();
        let f = &p["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:containers"]["k:{\"name\":\"spark\"}"];
        assert_eq!(f, &json!({".": {}, "f:args": {}, "f:image": {}, "f:name": {}}));
        assert!(apply(pods, None, &json!({"kind": "Pod", "metadata": {"name": "p"}}), "m", false, "t").is_err(), "apiVersion required");
    }
}
