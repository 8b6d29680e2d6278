//! Plain-HTTP requests to the loopback fixtures from synchronous test code.
//!
//! reqwest's blocking client runs its own runtime and panics when used (or dropped) inside
//! another one, and much synchronous fixture code is called from `#[tokio::test]`s: each request
//! therefore runs on a thread of its own.

use std::time::Duration;

use crate::error::{fail, Result};

/// How long one request may take, connection to last body byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A blocking client for loopback fixtures: no proxy from the environment (the fixtures are on
/// 127.0.0.1), redirects not followed (a test sees what the server answered), `timeout` for a
/// whole request (`None` for a stream such as a watch). Build and use it off any async runtime.
pub fn client(timeout: Option<Duration>) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| fail(format!("HTTP client: {e}")))
}

/// One request: `headers` as given, `body` when there is one; the status and the whole body
/// (de-chunked by reqwest). Fails only when no answer came.
pub fn send(method: reqwest::Method, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
    std::thread::scope(|s| s.spawn(|| send_here(method, url, headers, body)).join())
        .map_err(|_| fail(format!("the HTTP client thread for {url} panicked")))?
}

/// A GET with no header: the status and the body.
pub fn get(url: &str) -> Result<(u16, Vec<u8>)> {
    send(reqwest::Method::GET, url, &[], None)
}

fn send_here(method: reqwest::Method, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
    let what = format!("{method} {url}");
    let mut request = client(Some(TIMEOUT))?.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(b) = body {
        request = request.body(b.to_vec());
    }
    let response = request.send().map_err(|e| fail(format!("{what}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.bytes().map_err(|e| fail(format!("{what}: reading the body: {e}")))?;
    Ok((status, body.to_vec()))
}
