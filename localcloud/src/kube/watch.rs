//! `?watch=true`: a stream of change events from a resource version (or the current state),
//! filtered by namespace and selectors, with bookmarks when the client allows them, ended by the
//! client's timeout, the local cloud's shutdown or a `410 Expired` when it falls behind.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::query::{query_param, truthy};
use super::store::{fields_match, labels_match, parse_label_selector, ApiError, Kind};
use super::{error_response, Api, Target, MAX_STREAM};

/// A watch that saw no change for this long sends a bookmark, when the client allows them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// A BOOKMARK event's object as the API server writes it: the kind's empty typed object with only
/// the resource version set. Go serializes a pod's `spec` and `status` (structs, not pointers) even
/// when empty, and clients read them unguarded: Spark's spark-submit watcher formats `spec.nodeName`
/// of every event and died on a pod bookmark without `spec`.
fn bookmark(kind: &str, api_version: &str, resource_version: impl std::fmt::Display) -> serde_json::Value {
    let mut mark = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": resource_version.to_string(), "creationTimestamp": null}});
    if kind == "Pod" {
        mark["spec"] = json!({"containers": null});
        mark["status"] = json!({});
    }
    mark
}

impl Api {
    pub(super) fn watch(&self, t: &Target, uri: &Uri) -> Response {
        let labels = match query_param(uri, "labelSelector").map(|s| parse_label_selector(&s)).transpose() {
            Ok(l) => l.unwrap_or_default(),
            Err(e) => return error_response(&e),
        };
        let fields = query_param(uri, "fieldSelector").unwrap_or_default();
        let timeout = query_param(uri, "timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(MAX_STREAM)
            .min(MAX_STREAM);
        let from: Option<u64> = query_param(uri, "resourceVersion").and_then(|s| s.parse().ok()).filter(|v| *v > 0);
        let kind_ = t.kind;
        let ns = t.namespace.clone();
        let matches = move |k: &Kind, o: &Json| {
            k.plural == kind_.plural
                && k.group == kind_.group
                && ns.as_deref().is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n))
                && labels_match(&o["metadata"]["labels"], &labels)
                && fields_match(o, &fields)
        };
        // Snapshot and subscription under one lock, so no change falls between them.
        let (initial, rx) = {
            let s = self.lock();
            let rx = s.changes.subscribe();
            let initial: Vec<(String, Json)> = match from {
                Some(rv) => match s.changes_since(rv) {
                    Some(cs) => {
                        cs.into_iter().filter(|c| matches(c.kind, &c.object)).map(|c| (c.kind_of_change.to_owned(), c.object)).collect()
                    }
                    None => {
                        let gone = ApiError {
                            code: 410,
                            reason: "Expired",
                            message: format!("too old resource version: {rv} ({})", s.resource_version()),
                            details: json!({}),
                        };
                        vec![("ERROR".to_owned(), gone.status())]
                    }
                },
                None => s
                    .list(kind_, t.namespace.as_deref())
                    .into_iter()
                    .filter(|o| matches(kind_, o))
                    .map(|o| ("ADDED".to_owned(), o))
                    .collect(),
            };
            (initial, rx)
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let shutdown = self.shared.shutdown.clone();
        let bookmarks = truthy(query_param(uri, "allowWatchBookmarks"));
        let store = self.store.clone();
        let state = (std::collections::VecDeque::from(initial), rx, false);
        let stream = futures_util::stream::unfold(state, move |(mut pending, mut rx, done)| {
            let matches = matches.clone();
            let mut shutdown = shutdown.clone();
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    if let Some((ty, obj)) = pending.pop_front() {
                        let stop = ty == "ERROR";
                        let line = format!("{}\n", json!({"type": ty, "object": obj}));
                        return Some((Ok::<_, std::io::Error>(Bytes::from(line)), (pending, rx, stop)));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => return None,
                        _ = shutdown.wait_for(|d| *d) => return None,
                        // A quiet watch tells the client how far it has seen, so a reconnect resumes there.
                        _ = tokio::time::sleep(BOOKMARK_EVERY), if bookmarks => {
                            let rv = store.lock().unwrap_or_else(|p| p.into_inner()).resource_version();
                            let mark = bookmark(kind_.kind, &kind_.api_version(), rv);
                            pending.push_back(("BOOKMARK".to_owned(), mark));
                        }
                        c = rx.recv() => match c {
                            Ok(c) => if matches(c.kind, &c.object) { pending.push_back((c.kind_of_change.to_owned(), c.object)); },
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                let e = ApiError { code: 410, reason: "Expired", message: "watch fell behind; relist".into(), details: json!({}) };
                                pending.push_back(("ERROR".to_owned(), e.status()));
                            }
                            Err(_) => return None,
                        }
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::TRANSFER_ENCODING, "chunked")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pod_bookmark_carries_the_empty_spec_and_status_the_api_server_writes() {
        let pod = super::bookmark("Pod", "v1", 42);
        assert_eq!(pod["metadata"]["resourceVersion"], "42");
        assert!(pod["spec"].is_object() && pod["status"].is_object(), "{pod}");
        let cm = super::bookmark("ConfigMap", "v1", 7);
        assert!(cm.get("spec").is_none(), "a ConfigMap has no spec: {cm}");
    }
}
