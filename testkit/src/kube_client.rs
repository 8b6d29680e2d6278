//! A blocking client of the local cloud's Kubernetes API emulator, for tests and benchmarks.
//!
//! It speaks plain HTTP to the emulator's loopback listener, which serves such requests as the
//! administrator (as an API server behind `kubectl proxy` does), so it needs no token or CA.
//! Requests go through [`crate::http::send`], usable from plain `#[test]` functions and from
//! inside async tests alike.

use serde_json::Value as Json;

use crate::error::FixtureError;

/// The emulator answered, but not with success.
#[derive(Debug, thiserror::Error)]
#[error("{what} answered {code}: {body}")]
pub struct Refused {
    /// What was asked.
    pub what: String,
    /// The status code.
    pub code: u16,
    /// The answer's body.
    pub body: String,
}

fn io(e: FixtureError) -> std::io::Error {
    std::io::Error::other(e)
}

/// The base URL of an endpoint (`https://127.0.0.1:6443`, `127.0.0.1:6443`, with or without a
/// trailing slash) as plain HTTP: the emulator serves both on the same loopback port.
fn base_url(endpoint: &str) -> String {
    let host_port = endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    format!("http://{host_port}")
}

/// One request to the emulator's loopback listener; answers the status code and the body as
/// text (chunked answers are read whole).
fn raw_request(endpoint: &str, method: &str, path: &str, body: String, content_type: &str) -> std::io::Result<(u16, String)> {
    let url = format!("{}{path}", base_url(endpoint));
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{method} {url}: {e}")))?;
    let headers = [("accept", "application/json"), ("content-type", content_type)];
    let (code, bytes) = crate::http::send(m, &url, &headers, Some(body.as_bytes())).map_err(io)?;
    Ok((code, String::from_utf8_lossy(&bytes).into_owned()))
}

/// The admin kubeconfig (cluster CA and admin token) of the emulator at `endpoint`, as the local
/// cloud wrote it into its data dir.
pub fn kubeconfig_for(endpoint: &str) -> std::io::Result<String> {
    let path = "/_localcloud/kubeconfig";
    let (code, text) = raw_request(endpoint, "GET", path, String::new(), "application/json")?;
    if code != 200 {
        return Err(std::io::Error::other(Refused { what: format!("GET {path}"), code, body: text }));
    }
    Ok(text)
}

/// Sets the kubelet rule of the emulator at `endpoint`. `rule` is a kubelet rule as JSON
/// (`sparkoss_localcloud::kube::kubelet::Rule`), e.g. `{"outcome": "fail", "message": "boom"}`.
pub fn set_kubelet_rule(endpoint: &str, rule: &Json) -> std::io::Result<()> {
    let path = "/_localcloud/kubelet-rule";
    let (code, answer) = raw_request(endpoint, "POST", path, rule.to_string(), "application/json")?;
    if code == 200 {
        Ok(())
    } else {
        Err(std::io::Error::other(Refused { what: format!("kubelet rule (POST {path})"), code, body: answer }))
    }
}

/// One request to the emulator at `endpoint`: answers the status code and the body parsed as
/// JSON (`Null` when it is not JSON). `body` is sent as a merge patch for PATCH and as JSON
/// otherwise.
pub fn request(endpoint: &str, method: &str, path: &str, body: Option<&Json>) -> std::io::Result<(u16, Json)> {
    let body = body.map(Json::to_string).unwrap_or_default();
    let ct = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
    let (code, payload) = raw_request(endpoint, method, path, body, ct)?;
    Ok((code, serde_json::from_str(&payload).unwrap_or(Json::Null)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn endpoints_of_any_scheme_become_plain_http() {
        assert_eq!(base_url("https://127.0.0.1:6443/"), "http://127.0.0.1:6443");
        assert_eq!(base_url("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(base_url("127.0.0.1:2"), "http://127.0.0.1:2");
    }

    /// A one-shot server that answers `answer` (a whole HTTP/1.1 response) and hands back the
    /// request it read.
    fn canned(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let served = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body its Content-Length announces.
            loop {
                let n = conn.read(&mut buf).expect("read");
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            conn.write_all(answer.as_bytes()).expect("write");
            String::from_utf8_lossy(&seen).into_owned()
        });
        (addr, served)
    }

    #[test]
    fn a_chunked_json_answer_is_read_whole_and_patches_are_merge_patches() {
        let (addr, served) = canned(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        );
        let (code, body) =
            request(&format!("https://{addr}"), "PATCH", "/api/v1/namespaces/x", Some(&serde_json::json!({"b": 2}))).expect("answer");
        assert_eq!((code, body), (200, serde_json::json!({"a": 1})));
        let seen = served.join().expect("server");
        assert!(seen.starts_with("PATCH /api/v1/namespaces/x HTTP/1.1\r\n"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("content-type: application/merge-patch+json"), "{seen}");
        assert!(seen.ends_with("{\"b\":2}"), "{seen}");
    }

    #[test]
    fn a_refused_kubelet_rule_is_an_error_naming_the_answer() {
        let (addr, served) = canned("HTTP/1.1 400 Bad Request\r\ncontent-length: 8\r\nconnection: close\r\n\r\nno good.");
        let e = set_kubelet_rule(&addr, &serde_json::json!({"outcome": "nope"})).expect_err("refused");
        assert!(e.to_string().contains("400") && e.to_string().contains("no good."), "{e}");
        served.join().expect("server");
    }

    #[test]
    fn a_body_that_is_not_json_reads_as_null() {
        let (addr, served) = canned("HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!");
        assert_eq!(request(&addr, "GET", "/nope", None).expect("answer"), (404, Json::Null));
        served.join().expect("server");
    }
}
