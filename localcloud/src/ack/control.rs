//! The unsigned control paths for tests (fault rules, the call log, the cluster records, a
//! cluster removed out of band), and [`Control`], a test's client of them.

use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::{error, not_found, ok, unix_ms, App, FaultRule};

/// The unsigned control paths for tests.
pub(super) fn serve(app: &App, method: &Method, rest: &str, body: &[u8]) -> Response {
    let now = SystemTime::now();
    let mut inner = app.lock();
    match (method.as_str(), rest) {
        ("POST", "faults") => {
            #[derive(Deserialize)]
            struct Rules {
                rules: Vec<FaultRule>,
            }
            let rules: Rules = match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidFaults", e.to_string()),
            };
            for mut r in rules.rules {
                if !["throttle", "server_error", "refuse", "drop", "latency", "fail_create"].contains(&r.kind.as_str()) {
                    return error(StatusCode::BAD_REQUEST, "InvalidFaults", format!("unknown fault kind {:?}", r.kind));
                }
                r.left = (r.times > 0).then_some(r.times);
                inner.faults.push(r);
            }
            ok(json!({"rules": inner.faults.len()}))
        }
        ("DELETE", "faults") => {
            inner.faults.clear();
            ok(json!({}))
        }
        ("GET", "calls") => ok(json!({"calls": inner.calls})),
        ("DELETE", "calls") => {
            inner.calls.clear();
            ok(json!({}))
        }
        ("GET", "clusters") => {
            let list: Vec<Json> = inner
                .clusters
                .values()
                .map(|c| {
                    let running_at = (c.fail.is_none()).then(|| unix_ms(c.created + c.delay));
                    json!({
                        "cluster_id": c.id,
                        "name": c.req.name,
                        "state": c.state(now),
                        "created_ms": unix_ms(c.created),
                        "running_at_ms": running_at,
                        "noticed_running_ms": c.noticed_running.map(unix_ms),
                    })
                })
                .collect();
            ok(json!({"clusters": list}))
        }
        ("DELETE", r) if r.starts_with("clusters/") => {
            let id = &r["clusters/".len()..];
            match inner.clusters.get_mut(id) {
                Some(c) => {
                    c.removed = true;
                    app.save(&inner);
                    ok(json!({}))
                }
                None => not_found(id),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", format!("no control path {method} /_localcloud/{rest}")),
    }
}

/// A test's handle on the emulator's control paths (blocking; each call runs a small runtime,
/// so it works from plain `#[test]` functions and from inside async tests alike).
#[derive(Debug, Clone)]
pub struct Control {
    base: String,
}

impl Control {
    /// The control paths of the emulator at `ack_endpoint`.
    pub fn new(ack_endpoint: &str) -> Self {
        Control { base: format!("{}/_localcloud", ack_endpoint.trim_end_matches('/')) }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Result<Json, String> {
        let url = format!("{}/{path}", self.base);
        let run = async move {
            let client = reqwest::Client::new();
            let mut rb = client.request(method, url).timeout(Duration::from_secs(10));
            if let Some(b) = body {
                rb = rb.header("content-type", "application/json").body(b.to_string());
            }
            let resp = rb.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let v: Json = resp.json().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(v)
            } else {
                Err(format!("HTTP {status}: {v}"))
            }
        };
        // A fresh thread keeps this usable from inside a runtime too.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?.block_on(run)
        })
        .join()
        .map_err(|_| "control call panicked".to_owned())?
    }

    /// Adds fault rules (see the module docs for their shape).
    pub fn add_faults(&self, rules: Json) -> Result<(), String> {
        self.call(reqwest::Method::POST, "faults", Some(json!({ "rules": rules }))).map(|_| ())
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "faults", None).map(|_| ())
    }

    /// Every API call so far: `{action, status, at_ms}`.
    pub fn calls(&self) -> Result<Vec<Json>, String> {
        Ok(self.call(reqwest::Method::GET, "calls", None)?["calls"].as_array().cloned().unwrap_or_default())
    }

    /// How many calls of `action` were made.
    pub fn count(&self, action: &str) -> Result<usize, String> {
        Ok(self.calls()?.iter().filter(|c| c["action"] == action).count())
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "calls", None).map(|_| ())
    }

    /// Every cluster ever created: `{cluster_id, name, state, created_ms, running_at_ms, noticed_running_ms}`.
    /// An error when the answer is not a success or has no `clusters` list, so that a broken probe
    /// never reads as "no cluster".
    pub fn clusters(&self) -> Result<Vec<Json>, String> {
        let answer = self.call(reqwest::Method::GET, "clusters", None)?;
        answer["clusters"].as_array().cloned().ok_or_else(|| format!("no clusters list in {answer}"))
    }

    /// Clusters that exist (any state but `deleted`).
    pub fn live_clusters(&self) -> Result<Vec<Json>, String> {
        Ok(self.clusters()?.into_iter().filter(|c| c["state"] != "deleted").collect())
    }

    /// Removes a cluster out of band, at once.
    pub fn remove_cluster(&self, id: &str) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, &format!("clusters/{id}"), None).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every connection on a loopback port with `status` and `body`, for `count` connections.
    fn canned_server(status: &'static str, body: &'static str, count: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(count) {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn the_live_cluster_probe_fails_when_the_emulator_does_not_answer_a_list() {
        let err = Control::new(&canned_server("500 Internal Server Error", r#"{"code":"InternalError"}"#, 1))
            .live_clusters()
            .expect_err("a 500 is not \"no cluster\"");
        assert!(err.contains("500"), "{err}");
        let err = Control::new(&canned_server("200 OK", "{}", 1)).live_clusters().expect_err("a body without a list is not \"no cluster\"");
        assert!(err.contains("no clusters list"), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let closed = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        assert!(Control::new(&closed).live_clusters().is_err(), "nothing listening is not \"no cluster\"");
        let live = Control::new(&canned_server("200 OK", r#"{"clusters":[{"state":"deleted"},{"state":"running"}]}"#, 1))
            .live_clusters()
            .expect("a list");
        assert_eq!(live.len(), 1, "{live:?}");
    }
}
