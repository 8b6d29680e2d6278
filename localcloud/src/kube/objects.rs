//! Writes of whole objects: create (with the API server's admission), update (`PUT`, also of
//! `status` and a namespace's `finalize`), delete (a namespace through its controller's
//! `Terminating` phase) and delete of a collection; and the TokenRequest subresource.

use std::time::Duration;

use axum::http::Uri;
use serde_json::{json, Value as Json};

use super::store::{self, admit_pod, admit_service_account, apply_limit_ranges, ApiError, Kind, Store};
use super::{apply, token, Api, Target};

impl Api {
    pub(super) fn create(&self, t: &Target, body: &[u8], dry_run: bool, manager: &str) -> Result<(u16, Json), ApiError> {
        let mut obj = Self::parse_body(body)?;
        if obj.is_object() {
            obj["apiVersion"] = json!(t.kind.api_version());
            apply::record_update(&mut obj, None, manager, &store::now_rfc3339());
        }
        let ns = t.namespace.clone().unwrap_or_default();
        if t.kind.namespaced {
            if let Some(in_body) = obj["metadata"]["namespace"].as_str() {
                if in_body != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
            if t.namespace.is_none() {
                return Err(ApiError {
                    code: 405,
                    reason: "MethodNotAllowed",
                    message: "create needs a namespace".into(),
                    details: json!({}),
                });
            }
        }
        self.with_store(dry_run, |s| Self::create_in(s, t.kind, &ns, obj))
    }

    /// `serviceaccounts/{name}/token`: a TokenRequest answered with a signed token ([`token`]).
    pub(super) fn create_token(&self, t: &Target, name: &str, body: &[u8]) -> Result<(u16, Json), ApiError> {
        let req = Self::parse_body(body)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        token::create(&self.lock(), &self.shared.pki, t.namespace.as_deref().unwrap_or(""), name, &req, now).map(|o| (201, o))
    }

    /// Creates an object with the API server's admission: limit-range defaults and quota for
    /// pods, quota status refreshed.
    pub(super) fn create_in(s: &mut Store, k: &'static Kind, ns: &str, mut obj: Json) -> Result<(u16, Json), ApiError> {
        if k.plural == "pods" {
            admit_service_account(s, ns, &mut obj)?;
            apply_limit_ranges(s, ns, &mut obj);
            admit_pod(s, ns, &obj)?;
        }
        let created = s.create(k, ns, obj)?;
        if k.plural == "pods" || k.plural == "resourcequotas" {
            s.refresh_quotas(ns);
        }
        let created = s.get(k, ns, created["metadata"]["name"].as_str().unwrap_or("")).unwrap_or(created);
        Ok((201, created))
    }

    pub(super) fn put(
        &self,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        body: &[u8],
        dry_run: bool,
        manager: &str,
    ) -> Result<(u16, Json), ApiError> {
        let mut obj = Self::parse_body(body)?;
        let ns = t.namespace.clone().unwrap_or_default();
        self.with_store(dry_run, |s| {
            match sub {
                None => {
                    let old = s.get(t.kind, &ns, name)?;
                    obj["apiVersion"] = json!(t.kind.api_version());
                    apply::record_update(&mut obj, Some(&old), manager, &store::now_rfc3339());
                    s.replace(t.kind, &ns, name, obj, false).map(|o| (200, o))
                }
                Some("status") => s.replace(t.kind, &ns, name, obj, true).map(|o| (200, o)),
                Some("finalize") if t.kind.plural == "namespaces" => s.get(t.kind, "", name).map(|o| (200, o)),
                Some(other) => Err(ApiError::bad_request(format!("unknown subresource {other}"))),
            }
            .inspect(|_| {
                if t.kind.plural == "resourcequotas" {
                    s.refresh_quotas(&ns);
                }
            })
        })
    }
    pub(super) fn delete(&self, t: &Target, name: &str) -> Result<(u16, Json), ApiError> {
        let ns = t.namespace.clone().unwrap_or_default();
        if t.kind.plural == "namespaces" {
            if ["default", "kube-system", "kube-public"].contains(&name) {
                return Err(ApiError {
                    code: 403,
                    reason: "Forbidden",
                    message: format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
                    details: json!({"name": name, "kind": "namespaces"}),
                });
            }
            let mut s = self.lock();
            let now = store::now_rfc3339();
            s.get(t.kind, "", name)?;
            let obj = s
                .update_with(t.kind, "", name, |o| {
                    if o["metadata"]["deletionTimestamp"].is_null() {
                        o["metadata"]["deletionTimestamp"] = json!(now);
                    }
                    o["status"]["phase"] = json!("Terminating");
                })
                .ok_or_else(|| ApiError::not_found(t.kind, name))?;
            // The namespace controller empties the namespace a moment later, then removes it.
            let store = self.store.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                store.lock().unwrap_or_else(|p| p.into_inner()).finish_namespace(&name);
            });
            return Ok((200, obj));
        }
        let mut s = self.lock();
        let mut obj = s.delete(t.kind, &ns, name)?;
        obj["metadata"]["deletionTimestamp"] = json!(store::now_rfc3339());
        Ok((200, obj))
    }

    pub(super) fn delete_collection(&self, t: &Target, uri: &Uri) -> Result<(u16, Json), ApiError> {
        let (items, _) = self.matching(t, uri)?;
        let mut s = self.lock();
        let mut deleted = Vec::new();
        for o in items {
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
            if let Ok(d) = s.delete(t.kind, &ns, o["metadata"]["name"].as_str().unwrap_or("")) {
                deleted.push(d);
            }
        }
        Ok((
            200,
            json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": {"resourceVersion": s.resource_version().to_string()}, "items": deleted}),
        ))
    }
}
