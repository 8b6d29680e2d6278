//! A static HTTP file server on 127.0.0.1 (a Maven repository for the builder, the demo's
//! downloads), optionally behind basic authentication, logging what it answered.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha1::Sha1;
use sha2::Digest;
use sparkoss_image_builder::catalog::Jar;

use crate::digest::sha256_hex;
use crate::error::{fail, Result};

/// One request a [`FileServer`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The request path.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The `Authorization` header the client sent, if any.
    pub authorization: Option<String>,
}

/// The state a [`FileServer`]'s connection threads share.
#[derive(Default)]
struct ServerState {
    files: Mutex<HashMap<String, Vec<u8>>>,
    log: Mutex<Vec<Served>>,
    /// The `Authorization` value required, if the server needs a password.
    required: Option<String>,
}

/// A static HTTP file server on 127.0.0.1 (one thread per connection, HTTP/1.1, `Connection: close`),
/// optionally behind HTTP basic authentication, keeping a log of what it answered.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<ServerState>,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FileServer {
    /// Starts serving an empty tree.
    pub fn start() -> Result<Self> {
        Self::serve(ServerState::default())
    }

    /// Starts serving an empty tree to clients that give this user and password (HTTP basic);
    /// others get 401 with a `WWW-Authenticate` challenge.
    pub fn start_with_basic_auth(username: &str, password: &str) -> Result<Self> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Self::serve(ServerState { required: Some(format!("Basic {token}")), ..Default::default() })
    }

    fn serve(state: ServerState) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        let port = listener.local_addr().map_err(fail)?.port();
        let state = Arc::new(state);
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let (f, st, rq) = (state.clone(), stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                rq.fetch_add(1, Ordering::SeqCst);
                let f = f.clone();
                std::thread::spawn(move || serve_file(conn, &f));
            }
        });
        Ok(Self { url: format!("http://127.0.0.1:{port}"), state, requests, stop, port })
    }

    /// Stops serving `/path` (404 from now on).
    pub fn remove(&self, path: &str) {
        if let Ok(mut f) = self.state.files.lock() {
            f.remove(&format!("/{}", path.trim_start_matches('/')));
        }
    }

    /// Serves a jar in the Maven layout with exactly the checksum files named (`sha512`, `sha256`,
    /// `sha1`, `md5`), each `<hex>  <file name>` as some repositories write them; any other checksum
    /// file of the jar is removed.
    pub fn put_jar_with_checksums(&self, jar: &Jar, bytes: &[u8], checksums: &[&str]) {
        let path = jar.repo_path();
        for ext in ["sha512", "sha256", "sha1", "md5"] {
            self.remove(&format!("{path}.{ext}"));
        }
        for ext in checksums {
            let digest = match *ext {
                "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
                "sha256" => sha256_hex(bytes),
                "sha1" => hex::encode(Sha1::digest(bytes)),
                // md5 is not used by the builder: any 32 hex digits do.
                _ => "0".repeat(32),
            };
            self.put(&format!("{path}.{ext}"), format!("{digest}  {}\n", jar.file_name()).into_bytes());
        }
        self.put(&path, bytes.to_vec());
    }

    /// Every request answered so far, in order.
    pub fn log(&self) -> Vec<Served> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many times `path` was answered with 200.
    pub fn downloads(&self, path: &str) -> usize {
        let path = format!("/{}", path.trim_start_matches('/'));
        self.log().iter().filter(|s| s.path == path && s.status == 200).count()
    }

    /// Serves `bytes` at `/path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        if let Ok(mut f) = self.state.files.lock() {
            f.insert(format!("/{}", path.trim_start_matches('/')), bytes);
        }
    }

    /// Serves a jar in the Maven layout with its `.sha1`.
    pub fn put_jar(&self, jar: &Jar, bytes: &[u8]) {
        let path = jar.repo_path();
        self.put(&format!("{path}.sha1"), hex::encode(Sha1::digest(bytes)).into_bytes());
        self.put(&path, bytes.to_vec());
    }

    /// Connections accepted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_file(conn: TcpStream, state: &ServerState) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut l = String::new();
        match reader.read_line(&mut l) {
            Ok(0) | Err(_) => break,
            Ok(_) if l == "\r\n" || l == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = l.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        authorization = Some(value.trim().to_string());
                    }
                }
            }
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
    let allowed = state.required.is_none() || state.required == authorization;
    let body = if allowed { state.files.lock().ok().and_then(|f| f.get(&path).cloned()) } else { None };
    let status = match (&body, allowed) {
        (_, false) => 401,
        (Some(_), true) => 200,
        (None, true) => 404,
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(Served { path, status, authorization });
    }
    let mut conn = conn;
    let _ = match body {
        _ if !allowed => conn.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"maven\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        Some(b) => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len());
            conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&b))
        }
        None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}
