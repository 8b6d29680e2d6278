//! `fieldValidation` of writes: the fields of a body its kind's schema (the table of
//! [`super::openapi`]) does not know, named as the API server names them, and the messages and
//! `Warning` headers it answers with.

use serde_json::Value as Json;

use super::openapi::{def, kind_schema_name, Def, Ty};
use super::store::Kind;
use Ty::{Bool, Bytes, Int, IntOrStr, Keyed, List, Map as MapOf, Open, Quantity, Ref, Set, Str, Time};

/// How a write treats fields its kind's schema does not know (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Accept silently.
    Ignore,
    /// Accept, with one `Warning` header per unknown field (the default when absent).
    Warn,
    /// Refuse with 400 BadRequest naming every unknown field.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; `None` (absent) is `Warn`, the API server's default since v1.27.
    pub fn parse(v: Option<&str>) -> Result<FieldValidation, String> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(format!("fieldValidation parameter has an invalid value {other:?}: must be one of Ignore, Warn, Strict")),
        }
    }
}

/// The unknown fields of `obj` (a whole object of kind `k`, or with `patch` a merge or
/// strategic-merge patch of one), as the API server names them: `spec.containers[0].foo`.
/// Kinds the table does not describe have none.
pub fn unknown_fields(k: &Kind, obj: &Json, patch: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = def(&kind_schema_name(k)) {
        walk_def(d, obj, "", patch, &mut out);
    }
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn walk_def(d: &Def, v: &Json, path: &str, patch: bool, out: &mut Vec<String>) {
    let Some(o) = v.as_object() else { return };
    for (name, value) in o {
        // Strategic-merge directives (`$patch`, `$setElementOrder/containers`, ...) and merge-patch
        // deletions are not fields of the object.
        if patch && (name.starts_with('$') || value.is_null()) {
            continue;
        }
        match d.fields.iter().find(|(f, _)| f == name) {
            Some((_, t)) => walk_ty(*t, value, &join(path, name), patch, out),
            None => out.push(join(path, name)),
        }
    }
}

fn walk_ty(t: Ty, v: &Json, path: &str, patch: bool, out: &mut Vec<String>) {
    match t {
        Ref(name) => {
            if let Some(d) = def(name) {
                walk_def(d, v, path, patch, out);
            }
        }
        List(item) | Keyed(item, _) | Set(item) => {
            for (i, e) in v.as_array().into_iter().flatten().enumerate() {
                walk_ty(*item, e, &format!("{path}[{i}]"), patch, out);
            }
        }
        MapOf(item) => {
            for (key, e) in v.as_object().into_iter().flatten() {
                walk_ty(*item, e, &join(path, key), patch, out);
            }
        }
        Str | Int | Bool | Time | Quantity | IntOrStr | Bytes | Open => {}
    }
}

/// The API server's message for unknown fields under `Strict`.
pub fn strict_message(unknown: &[String]) -> String {
    let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    format!("strict decoding error: {}", fields.join(", "))
}

/// The `Warning` header value for one unknown field under `Warn` (RFC 7234 code 299).
pub fn warning_header(field: &str) -> String {
    let text = format!("unknown field \"{field}\"");
    format!("299 - {}", Json::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::store::kind;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named_like_the_api_server() {
        let pods = kind("", "pods").expect("pods");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1},
                         "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}},
                                                 {"name": "d", "imagePullPolicy": "x", "foo": true}],
                                  "affinity": {"anything": {"goes": 1}}, "foo": 1},
                         "extra": {}});
        assert_eq!(unknown_fields(pods, &pod, false), ["extra", "metadata.bogus", "spec.containers[1].foo", "spec.foo"]);
        assert_eq!(
            strict_message(&unknown_fields(pods, &pod, false)[..2]),
            "strict decoding error: unknown field \"extra\", unknown field \"metadata.bogus\""
        );
        let patch =
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}], "containers": [{"name": "c", "bar": 1}], "gone": null}});
        assert_eq!(unknown_fields(pods, &patch, true), ["spec.containers[0].bar"]);
        let quota = kind("", "resourcequotas").expect("quota");
        assert!(unknown_fields(quota, &json!({"spec": {"hard": {"requests.cpu": "2"}}}), false).is_empty());
        let deployments = kind(crate::kube::store::APPS, "deployments").expect("deployments");
        let d = json!({"spec": {"replicaz": 1, "selector": {"matchLabels": {"a": "b"}},
                                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "imagee": "i"}]}}}});
        assert_eq!(unknown_fields(deployments, &d, false), ["spec.replicaz", "spec.template.spec.containers[0].imagee"]);
        assert_eq!(warning_header("spec.foo"), r#"299 - "unknown field \"spec.foo\"""#);
        assert_eq!(FieldValidation::parse(None), Ok(FieldValidation::Warn));
        assert!(FieldValidation::parse(Some("strict")).is_err());
    }
}
