//! `pods/{name}/log`: a pod's log lines as the kubelets recorded them, the last `tailLines`,
//! and with `follow=true` a stream of new lines until the pod finishes.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::query::{query_param, truthy};
use super::store::ApiError;
use super::{error_response, Api, Target, MAX_STREAM};

impl Api {
    pub(super) fn logs(&self, t: &Target, name: &str, uri: &Uri) -> Response {
        let ns = t.namespace.clone().unwrap_or_default();
        let tail = query_param(uri, "tailLines").and_then(|s| s.parse::<usize>().ok());
        let follow = truthy(query_param(uri, "follow"));
        let key = (ns.clone(), name.to_owned());
        let (lines, phase, container) = {
            let s = self.lock();
            let pod = match s.get(t.kind, &ns, name) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let container = pod["spec"]["containers"][0]["name"].as_str().unwrap_or("").to_owned();
            (s.logs.get(&key).cloned(), pod["status"]["phase"].as_str().unwrap_or("").to_owned(), container)
        };
        if let Some(c) = query_param(uri, "container") {
            if c != container {
                return error_response(&ApiError::bad_request(format!("container {c} is not valid for pod {name}")));
            }
        }
        let Some(lines) = lines else {
            if phase == "Pending" {
                return error_response(&ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                )));
            }
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], String::new()).into_response();
        };
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        let first: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
        if !follow {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], first).into_response();
        }
        let store = self.store.clone();
        let deadline = tokio::time::Instant::now() + MAX_STREAM;
        let kind_ = t.kind;
        let stream = futures_util::stream::unfold((Some(first), lines.len(), false), move |(first, mut sent, done)| {
            let store = store.clone();
            let key = key.clone();
            async move {
                if let Some(f) = first {
                    return Some((Ok::<_, std::io::Error>(Bytes::from(f)), (None, sent, false)));
                }
                if done {
                    return None;
                }
                loop {
                    if tokio::time::Instant::now() >= deadline {
                        return None;
                    }
                    let (new, finished) = {
                        let s = store.lock().unwrap_or_else(|p| p.into_inner());
                        let all = s.logs.get(&key).cloned().unwrap_or_default();
                        let phase = s.get(kind_, &key.0, &key.1).ok().and_then(|p| p["status"]["phase"].as_str().map(str::to_owned));
                        let finished = !matches!(phase.as_deref(), Some("Pending" | "Running"));
                        (all.get(sent..).map(|l| l.to_vec()).unwrap_or_default(), finished)
                    };
                    if !new.is_empty() {
                        sent += new.len();
                        let chunk: String = new.iter().map(|l| format!("{l}\n")).collect();
                        return Some((Ok(Bytes::from(chunk)), (None, sent, finished)));
                    }
                    if finished {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}
