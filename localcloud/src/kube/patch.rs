//! `PATCH`: JSON merge patches, strategic merge patches (merge keys from the OpenAPI schemas,
//! [`super::strategic_merge`]) and server-side apply ([`super::apply`]).

use axum::http::{header, HeaderMap, Uri};
use serde_json::{json, Value as Json};

use super::dispatch::field_manager;
use super::query::{query_param, truthy};
use super::store::{self, ApiError};
use super::strategic_merge::strategic_merge;
use super::{apply, Api, Target};

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
pub(super) fn merge_patch(target: &mut Json, patch: &Json) {
    match patch {
        Json::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in p {
                if v.is_null() {
                    if let Some(o) = target.as_object_mut() {
                        o.remove(k);
                    }
                } else {
                    merge_patch(&mut target[k], v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl Api {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn patch(
        &self,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        dry_run: bool,
        uri: &Uri,
    ) -> Result<(u16, Json), ApiError> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.starts_with("application/apply-patch+yaml") {
            return self.server_side_apply(t, name, sub, body, dry_run, uri);
        }
        if !(ct.starts_with("application/merge-patch+json") || ct.starts_with("application/strategic-merge-patch+json")) {
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!("the emulator supports apply, merge and strategic-merge patches, not {ct:?}"),
                details: json!({}),
            });
        }
        let patch = Self::parse_body(body)?;
        let ns = t.namespace.clone().unwrap_or_default();
        let manager = field_manager(uri, headers);
        self.with_store(dry_run, |s| {
            let old = s.get(t.kind, &ns, name)?;
            let mut obj = old.clone();
            if ct.starts_with("application/strategic-merge-patch+json") {
                strategic_merge(t.kind, &mut obj, &patch);
            } else {
                merge_patch(&mut obj, &patch);
            }
            if let Some(m) = obj["metadata"].as_object_mut() {
                // A patch is applied to the current version; a stale one in the patch is ignored.
                if patch["metadata"]["resourceVersion"].is_null() {
                    m.remove("resourceVersion");
                }
            }
            if sub.is_none() {
                apply::record_update(&mut obj, Some(&old), &manager, &store::now_rfc3339());
            }
            let r = s.replace(t.kind, &ns, name, obj, sub == Some("status"));
            if t.kind.plural == "resourcequotas" {
                s.refresh_quotas(&ns);
            }
            r.map(|o| (200, o))
        })
    }

    /// Server-side apply: creates the object when absent (201), else merges the configuration
    /// with field ownership (200). `fieldManager` is required, `force=true` takes over fields.
    pub(super) fn server_side_apply(
        &self,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        body: &[u8],
        dry_run: bool,
        uri: &Uri,
    ) -> Result<(u16, Json), ApiError> {
        if sub.is_some() {
            return Err(ApiError::bad_request("server-side apply of a subresource is not served"));
        }
        let manager = query_param(uri, "fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| ApiError {
            code: 422,
            reason: "Invalid",
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            details: json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
        })?;
        let force = truthy(query_param(uri, "force"));
        // YAML is JSON's superset; clients (fabric8, kubectl, client-go) send JSON documents.
        let applied = serde_json::from_slice::<Json>(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML: the emulator reads apply configurations written as JSON: {e}"))
        })?;
        if applied["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
        }
        let ns = t.namespace.clone().unwrap_or_default();
        let now = store::now_rfc3339();
        self.with_store(dry_run, |s| match s.get(t.kind, &ns, name) {
            Ok(current) => {
                let mut obj = apply::apply(t.kind, Some(&current), &applied, &manager, force, &now)?;
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                let r = s.replace(t.kind, &ns, name, obj, false);
                if t.kind.plural == "resourcequotas" {
                    s.refresh_quotas(&ns);
                }
                r.map(|o| (200, o))
            }
            Err(e) if e.code == 404 => {
                let mut obj = apply::apply(t.kind, None, &applied, &manager, force, &now)?;
                obj["metadata"]["name"] = json!(name);
                Self::create_in(s, t.kind, &ns, obj)
            }
            Err(e) => Err(e),
        })
    }
}
