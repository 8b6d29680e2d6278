//! The API server's validation of names and of the kinds the emulator checks, as `422 Invalid`.

use serde_json::{json, Map, Value as Json};

use super::selectors::selector_matches;
use super::{ApiError, Kind};

/// Whether `n` is a DNS subdomain name (RFC 1123), as object names must be.
pub(super) fn valid_name(n: &str) -> bool {
    n.len() <= 253
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The API server's validation of the kinds the emulator checks (so far Deployments: a selector
/// that selects the pods of its own template, and a strategy that is consistent), as `422
/// Invalid` with one cause per field, which kubectl lists.
pub(super) fn validate(k: &Kind, obj: &Json, name: &str) -> Result<(), ApiError> {
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
