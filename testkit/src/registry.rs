//! Debian's `docker-registry` on 127.0.0.1 with htpasswd auth, behind a proxy that counts the
//! bytes clients send, and a small client of its API.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::digest::sha256_hex;
use crate::error::{fail, Result};

/// Files of an image: path → (mode, sha256 hex).
pub type ImageFiles = BTreeMap<String, (u32, String)>;

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
    Ok(l.local_addr().map_err(fail)?.port())
}

/// Debian's `docker-registry` on 127.0.0.1 with htpasswd auth, reached through a proxy that counts
/// the bytes clients send (`host` is the proxy's address).
pub struct Registry {
    /// `127.0.0.1:PORT` (the proxy) — use it in image references.
    pub host: String,
    /// The user.
    pub username: String,
    /// The password.
    pub password: String,
    child: Child,
    log: PathBuf,
    sent: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with one user; waits (bounded) until `/v2/` answers 401.
    pub fn start(username: &str, password: &str) -> Result<Self> {
        Self::start_with_storage(username, password, None)
    }

    /// Like [`Registry::start`], keeping blobs and manifests in `storage` when given (so a later
    /// registry on the same folder already has the layers: a second push uploads none).
    pub fn start_with_storage(username: &str, password: &str, storage: Option<&std::path::Path>) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(fail)?;
        // htpasswd reads the password from stdin (-i) so it never shows in a process list.
        let mut hp = Command::new("htpasswd")
            .args(["-iBn", username])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("htpasswd (Debian package apache2-utils): {e}")))?;
        if let Some(mut i) = hp.stdin.take() {
            i.write_all(password.as_bytes()).map_err(fail)?;
        }
        let out = hp.wait_with_output().map_err(fail)?;
        if !out.status.success() {
            return Err(fail(format!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr))));
        }
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, &out.stdout).map_err(fail)?;
        let port = free_port()?;
        let config = dir.path().join("config.yml");
        let storage = match storage {
            Some(s) => {
                std::fs::create_dir_all(s).map_err(fail)?;
                s.to_path_buf()
            }
            None => dir.path().join("data"),
        };
        let yml = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: sparkoss-test\n    path: {}\n",
            storage.display(),
            htpasswd.display()
        );
        std::fs::write(&config, yml).map_err(fail)?;
        let log = dir.path().join("registry.log");
        let logf = std::fs::File::create(&log).map_err(fail)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(logf.try_clone().map_err(fail)?)
            .stderr(logf)
            .spawn()
            .map_err(|e| fail(format!("docker-registry (Debian package docker-registry): {e}")))?;
        let sent = Arc::new(AtomicU64::new(0));
        let proxy_port = start_proxy(port, sent.clone())?;
        let reg = Self {
            host: format!("127.0.0.1:{proxy_port}"),
            username: username.into(),
            password: password.into(),
            child,
            log,
            sent,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(status) = reg.status("/v2/", false) {
                if status == 401 {
                    return Ok(reg);
                }
            }
            if Instant::now() > deadline {
                return Err(fail(format!("registry did not start; log:\n{}", reg.log_text())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Bytes clients sent to the registry so far.
    pub fn bytes_received(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// The registry's log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Blob upload requests (POST/PATCH/PUT on `/blobs/uploads/`) in the access log so far.
    pub fn blob_upload_requests(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("/blobs/uploads/") && (l.contains("\"POST ") || l.contains("\"PATCH ") || l.contains("\"PUT ")))
            .count()
    }

    fn basic(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password));
        format!("Basic {token}")
    }

    fn request(&self, path: &str, accept: &str, auth: bool) -> Result<(u16, Vec<u8>)> {
        self.send(reqwest::Method::GET, path, accept, auth, None)
    }

    /// One request through the proxy; `body` is `(content type, bytes)`.
    fn send(&self, method: reqwest::Method, path: &str, accept: &str, auth: bool, body: Option<(&str, &[u8])>) -> Result<(u16, Vec<u8>)> {
        let basic = self.basic();
        let mut headers = vec![("Accept", accept)];
        if auth {
            headers.push(("Authorization", basic.as_str()));
        }
        if let Some((content_type, _)) = body {
            headers.push(("Content-Type", content_type));
        }
        crate::http::send(method, &format!("http://{}{path}", self.host), &headers, body.map(|(_, b)| b))
    }

    fn status(&self, path: &str, auth: bool) -> Result<u16> {
        Ok(self.request(path, "*/*", auth)?.0)
    }

    /// GET with the registry credentials; fails on a non-200 answer.
    pub fn get(&self, path: &str, accept: &str) -> Result<Vec<u8>> {
        let (status, body) = self.request(path, accept, true)?;
        if status != 200 {
            return Err(fail(format!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body))));
        }
        Ok(body)
    }

    /// Puts a manifest (or index) under `repo:reference` with the registry credentials; fails on a
    /// non-201 answer.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Result<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let (status, answer) = self.send(reqwest::Method::PUT, &path, "*/*", true, Some((media_type, body)))?;
        if status != 201 {
            return Err(fail(format!("PUT {path}: HTTP {status}: {}", String::from_utf8_lossy(&answer))));
        }
        Ok(())
    }

    /// Repositories in the registry (`/v2/_catalog`).
    pub fn repositories(&self) -> Result<Vec<String>> {
        let v: serde_json::Value = serde_json::from_slice(&self.get("/v2/_catalog", "application/json")?).map_err(fail)?;
        Ok(v["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect())
    }

    /// The image manifest (Docker v2 schema 2) of `repo:tag`.
    pub fn manifest(&self, repo: &str, tag: &str) -> Result<serde_json::Value> {
        let body = self.get(&format!("/v2/{repo}/manifests/{tag}"), "application/vnd.docker.distribution.manifest.v2+json")?;
        serde_json::from_slice(&body).map_err(fail)
    }

    /// A blob, checked against its digest.
    pub fn blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let body = self.get(&format!("/v2/{repo}/blobs/{digest}"), "*/*")?;
        let actual = format!("sha256:{}", sha256_hex(&body));
        if actual != digest {
            return Err(fail(format!("blob {digest} came back as {actual}")));
        }
        Ok(body)
    }

    /// Every file of an image as the registry serves it: path → (mode, sha256), later layers win.
    pub fn image_files(&self, repo: &str, tag: &str) -> Result<(serde_json::Value, ImageFiles)> {
        let manifest = self.manifest(repo, tag)?;
        let config_digest = manifest["config"]["digest"].as_str().ok_or_else(|| fail("manifest has no config"))?;
        let config: serde_json::Value = serde_json::from_slice(&self.blob(repo, config_digest)?).map_err(fail)?;
        let mut files = BTreeMap::new();
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            let digest = layer["digest"].as_str().ok_or_else(|| fail("layer without digest"))?;
            let gz = self.blob(repo, digest)?;
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
            for entry in archive.entries().map_err(fail)? {
                let mut e = entry.map_err(fail)?;
                if e.header().entry_type() != tar::EntryType::Regular {
                    continue;
                }
                let path = format!("/{}", e.path().map_err(fail)?.to_string_lossy().trim_start_matches("./"));
                let mode = e.header().mode().map_err(fail)?;
                let mut data = Vec::new();
                e.read_to_end(&mut data).map_err(fail)?;
                files.insert(path, (mode, sha256_hex(&data)));
            }
        }
        Ok((config, files))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards 127.0.0.1:<new port> to 127.0.0.1:`upstream`, adding client→server bytes to `sent`.
fn start_proxy(upstream: u16, sent: Arc<AtomicU64>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
    let port = listener.local_addr().map_err(fail)?.port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
            let counter = sent.clone();
            std::thread::spawn(move || pipe(client, server, Some(counter)));
            std::thread::spawn(move || pipe(s2, c2, None));
        }
    });
    Ok(port)
}

fn pipe(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(c) = &counter {
                    c.fetch_add(n as u64, Ordering::SeqCst);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
