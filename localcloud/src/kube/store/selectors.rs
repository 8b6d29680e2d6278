//! Label and field selectors: the query parameters' syntax (`labelSelector`, `fieldSelector`)
//! and `metav1.LabelSelector` objects, and how they match.

use serde_json::Value as Json;

use super::ApiError;

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

/// Whether a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`) selects `labels`.
pub(super) fn selector_matches(selector: &Json, labels: &Json) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
