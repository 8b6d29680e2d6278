//! `GET` of a collection: selected by labels and fields, paged with `limit` and `continue`,
//! as a typed list or, for `kubectl get`, a Table ([`super::tables`]).

use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value as Json};

use super::query::query_param;
use super::store::{fields_match, labels_match, parse_label_selector, ApiError};
use super::tables::{table, wants_table};
use super::{Api, Target};

impl Api {
    pub(super) fn matching(&self, t: &Target, uri: &Uri) -> Result<(Vec<Json>, u64), ApiError> {
        let labels = query_param(uri, "labelSelector").map(|s| parse_label_selector(&s)).transpose()?.unwrap_or_default();
        let fields = query_param(uri, "fieldSelector").unwrap_or_default();
        let s = self.lock();
        let items = s
            .iter(t.kind, t.namespace.as_deref())
            .filter(|o| labels_match(&o["metadata"]["labels"], &labels) && fields_match(o, &fields))
            .cloned()
            .collect();
        Ok((items, s.resource_version()))
    }

    /// A list, paged as the API server pages it when the client sends `limit` (kube-rs's
    /// watcher asks for 500 at a time, kubectl for 500): `metadata.continue` carries the list's
    /// resource version and the last key served, and the next page starts after that key. Pages
    /// are read from the current store rather than a snapshot at that version (no MVCC here); a
    /// watch from the list's version still replays every change made between the pages, so
    /// watchers end up where a real cluster leaves them.
    pub(super) fn list(&self, t: &Target, uri: &Uri, headers: &HeaderMap) -> Result<(u16, Json), ApiError> {
        let limit = match query_param(uri, "limit") {
            None => None,
            Some(v) => {
                Some(v.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit: invalid value {v:?}")))?).filter(|l| *l > 0)
            }
        };
        let after = query_param(uri, "continue").filter(|c| !c.is_empty()).map(|c| decode_continue(&c)).transpose()?;
        let (mut items, mut rv) = self.matching(t, uri)?;
        if let Some((list_rv, after)) = &after {
            if !self.lock().can_resume_from(*list_rv) {
                return Err(ApiError {
                    code: 410,
                    reason: "Expired",
                    message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
                        .into(),
                    details: json!({}),
                });
            }
            rv = *list_rv;
            items.retain(|o| object_key(o).as_str() > after.as_str());
        }
        let mut page = json!({"resourceVersion": rv.to_string()});
        if let Some(l) = limit.filter(|l| items.len() > *l) {
            let remaining = items.len() - l;
            items.truncate(l);
            let last = items.last().map(object_key).unwrap_or_default();
            page["continue"] = json!(encode_continue(rv, &last));
            page["remainingItemCount"] = json!(remaining);
        }
        if wants_table(headers) {
            let mut tbl = table(t.kind, &items, rv);
            tbl["metadata"] = page;
            return Ok((200, tbl));
        }
        // Items of a typed list carry no kind/apiVersion, as the real server writes them.
        let items: Vec<Json> = items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        Ok((200, json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": page, "items": items})))
    }
}

/// An object's position in a list: `namespace/name`, the store's own order.
fn object_key(o: &Json) -> String {
    format!("{}/{}", o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
}

/// The continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`, the shape the API
/// server uses (clients treat it as opaque).
fn encode_continue(rv: u64, after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": after}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
    let raw = base64::engine::general_purpose::URL_SAFE.decode(token).map_err(|_| bad())?;
    let v: Json = serde_json::from_slice(&raw).map_err(|_| bad())?;
    match (v["v"].as_str(), v["rv"].as_u64(), v["start"].as_str()) {
        (Some("meta.k8s.io/v1"), Some(rv), Some(start)) => Ok((rv, start.to_owned())),
        _ => Err(bad()),
    }
}
