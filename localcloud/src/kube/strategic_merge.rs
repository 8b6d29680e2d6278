//! Strategic merge patch (`application/strategic-merge-patch+json`, and server-side apply's
//! merge): how lists and maps of an object merge, read from the schema table of [`super::openapi`]
//! (`x-kubernetes-patch-merge-key`, list types).

use serde_json::{json, Value as Json};

use super::openapi::{def, kind_schema_name, Def, Ty};
use super::store::Kind;
use Ty::{Keyed, Map as MapOf, Open, Ref, Set};

/// Applies a strategic-merge patch to `target`, an object of kind `k`, by the schema table: lists
/// with a merge key are merged element by element, set lists are unioned, other lists replaced,
/// maps merged (`null` deletes); the `$patch` (`replace`, `delete`), `$retainKeys` and
/// `$deleteFromPrimitiveList/` directives are honoured. `$setElementOrder/` is read as advice
/// and ignored: merged elements keep their place and new ones are appended.
pub fn strategic_merge(k: &Kind, target: &mut Json, patch: &Json) {
    merge_def(def(&kind_schema_name(k)), target, patch);
}

fn directive(v: &Json) -> Option<&str> {
    v.get("$patch").and_then(Json::as_str)
}

/// Merges a patch map into `target`; `d` is its schema (`None`: undescribed, merged field by field).
fn merge_def(d: Option<&Def>, target: &mut Json, patch: &Json) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if directive(patch) == Some("replace") {
        let mut whole = p.clone();
        whole.remove("$patch");
        *target = Json::Object(whole);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    for (key, value) in p {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(gone)) = (target[field].as_array_mut(), value.as_array()) {
                list.retain(|x| !gone.contains(x));
            }
            continue;
        }
        let t = d.and_then(|d| d.fields.iter().find(|(f, _)| f == key)).map(|(_, t)| *t);
        let Some(o) = target.as_object_mut() else { return };
        if value.is_null() || directive(value) == Some("delete") {
            o.remove(key);
            continue;
        }
        merge_ty(t, o.entry(key.clone()).or_insert(Json::Null), value);
    }
    if let (Some(keep), Some(o)) = (p.get("$retainKeys").and_then(Json::as_array), target.as_object_mut()) {
        o.retain(|k, _| keep.iter().any(|x| x == k));
    }
}

fn merge_ty(t: Option<Ty>, slot: &mut Json, value: &Json) {
    match t {
        Some(Ref(name)) => merge_def(def(name), slot, value),
        Some(Keyed(item, key)) => merge_keyed(*item, key, slot, value),
        Some(Set(_)) => match (slot.as_array_mut(), value.as_array()) {
            (Some(list), Some(add)) => {
                for v in add {
                    if !list.contains(v) {
                        list.push(v.clone());
                    }
                }
            }
            _ => *slot = value.clone(),
        },
        Some(MapOf(item)) if value.is_object() => {
            if !slot.is_object() {
                *slot = json!({});
            }
            for (k, v) in value.as_object().into_iter().flatten() {
                let Some(o) = slot.as_object_mut() else { return };
                if v.is_null() {
                    o.remove(k);
                } else {
                    merge_ty(Some(*item), o.entry(k.clone()).or_insert(Json::Null), v);
                }
            }
        }
        None | Some(Open) if value.is_object() => merge_def(None, slot, value),
        _ => *slot = value.clone(),
    }
}

fn merge_keyed(item: Ty, key: &str, slot: &mut Json, value: &Json) {
    let Some(elements) = value.as_array() else {
        *slot = value.clone();
        return;
    };
    if elements.iter().any(|e| directive(e) == Some("replace")) {
        *slot = Json::Array(elements.iter().filter(|e| directive(e).is_none()).cloned().collect());
        return;
    }
    if !slot.is_array() {
        *slot = json!([]);
    }
    let Some(list) = slot.as_array_mut() else { return };
    for e in elements {
        let id = &e[key];
        let at = list.iter().position(|x| !id.is_null() && x[key] == *id);
        match (directive(e), at) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => merge_ty(Some(item), &mut list[i], e),
            (_, None) => {
                let mut fresh = Json::Null;
                merge_ty(Some(item), &mut fresh, e);
                list.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::store::kind;

    #[test]
    fn strategic_merge_follows_the_merge_keys_of_the_schema() {
        let pods = kind("", "pods").expect("pods");
        let mut pod = json!({"metadata": {"name": "p", "finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
                             "spec": {"containers": [{"name": "main", "image": "i:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                                                     {"name": "side", "image": "s:1"}],
                                      "tolerations": [{"key": "k1"}], "affinity": {"nodeAffinity": {"x": 1}, "other": 2}}});
        let patch = json!({"metadata": {"finalizers": ["b"], "labels": {"y": null, "z": "3"}},
                           "spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
                                    "containers": [{"name": "main", "env": [{"name": "A", "value": "9"}, {"$patch": "delete", "name": "B"}]},
                                                   {"name": "new", "image": "n:1"}],
                                    "tolerations": [{"key": "k2"}], "affinity": {"other": null}}});
        strategic_merge(pods, &mut pod, &patch);
        assert_eq!(pod["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(pod["metadata"]["labels"], json!({"x": "1", "z": "3"}));
        let cs = &pod["spec"]["containers"];
        assert_eq!(cs[0], json!({"name": "main", "image": "i:1", "env": [{"name": "A", "value": "9"}]}));
        assert_eq!((cs[1]["name"].as_str(), cs[2]["name"].as_str(), cs.as_array().map(Vec::len)), (Some("side"), Some("new"), Some(3)));
        assert_eq!(pod["spec"]["tolerations"], json!([{"key": "k2"}]), "a list without a merge key is replaced");
        assert_eq!(pod["spec"]["affinity"], json!({"nodeAffinity": {"x": 1}}));
        assert!(pod["spec"].get("$setElementOrder/containers").is_none());
        strategic_merge(pods, &mut pod, &json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}}));
        assert_eq!(pod["spec"]["containers"], json!([{"name": "only"}]));
    }
}
