//! Fixtures shared by the integration tests and the benchmark: a local stand-in for `apache/spark`
//! imported from a root filesystem, a Maven repository over HTTP, and Debian's `docker-registry`
//! with htpasswd auth behind a byte-counting proxy, plus a small registry API client.
//!
//! Everything listens on 127.0.0.1 and is stopped when its handle is dropped.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Errors of the fixtures (tests turn them into panics with context).
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A fixture could not start or answered unexpectedly.
    #[error("{0}")]
    Failed(String),
}

type R<T> = std::result::Result<T, FixtureError>;

/// Files of an image: path → (mode, sha256 hex).
pub type ImageFiles = BTreeMap<String, (u32, String)>;

fn fail(msg: impl std::fmt::Display) -> FixtureError {
    FixtureError::Failed(msg.to_string())
}

/// Hex sha256.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A root filesystem that looks like `apache/spark` to the builder: busybox as `/bin/sh`,
/// `/opt/spark/{jars,bin,conf}`, `/opt/entrypoint.sh`, and a `spark` user (uid 185).
pub fn spark_like_rootfs(spark_version: &str) -> R<Vec<u8>> {
    spark_like_rootfs_padded(spark_version, 0)
}

/// Bytes that do not compress (xorshift), so a padded base image weighs what it says.
fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// [`spark_like_rootfs`] plus `/opt/spark/jars/padding-<n>.jar` files of incompressible bytes
/// adding up to `padding` bytes (64 MiB each at most), for a base image of a realistic weight.
pub fn spark_like_rootfs_padded(spark_version: &str, padding: usize) -> R<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox").map_err(|e| fail(format!("/bin/busybox (Debian package busybox-static): {e}")))?;
    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        ("bin/busybox".into(), 0o755, busybox),
        ("etc/passwd".into(), 0o644, b"root:x:0:0:root:/root:/bin/sh\nspark:x:185:185::/opt/spark:/bin/sh\n".to_vec()),
        ("etc/group".into(), 0o644, b"root:x:0:\nspark:x:185:\n".to_vec()),
        ("opt/entrypoint.sh".into(), 0o755, b"#!/bin/sh\n# stand-in for Spark's entrypoint\necho \"entrypoint $*\"\n".to_vec()),
        ("opt/spark/bin/spark-submit".into(), 0o755, b"#!/bin/sh\necho \"spark-submit $*\"\n".to_vec()),
        (format!("opt/spark/jars/spark-core_2.12-{spark_version}.jar"), 0o644, b"stand-in spark core".to_vec()),
    ];
    let piece = 64 * 1024 * 1024;
    let mut left = padding;
    let mut n = 0u64;
    while left > 0 {
        let len = left.min(piece);
        files.push((format!("opt/spark/jars/padding-{n}.jar"), 0o644, incompressible(len, 0x9e37_79b9_7f4a_7c15 ^ n)));
        left -= len;
        n += 1;
    }
    files.sort();
    let dirs = ["bin", "etc", "opt", "opt/spark", "opt/spark/bin", "opt/spark/conf", "opt/spark/jars", "tmp"];
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if d == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_mtime(crate::context::FIXED_MTIME);
        b.append_data(&mut h, format!("{d}/"), std::io::empty()).map_err(fail)?;
    }
    for (path, mode, data) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        h.set_mtime(crate::context::FIXED_MTIME);
        b.append_data(&mut h, path, data.as_slice()).map_err(fail)?;
    }
    for applet in ["sh", "cat", "ls", "sha256sum", "echo", "test", "id"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(crate::context::FIXED_MTIME);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox").map_err(fail)?;
    }
    b.into_inner().map_err(fail)
}

/// Imports [`spark_like_rootfs`] as `reference` (`repo:tag`) with Spark's entrypoint and user.
pub async fn import_base_image(docker: &bollard::Docker, reference: &str, spark_version: &str) -> R<()> {
    import_padded_base_image(docker, reference, spark_version, 0).await
}

/// Like [`import_base_image`], with `padding` bytes of incompressible jars in the root filesystem.
pub async fn import_padded_base_image(docker: &bollard::Docker, reference: &str, spark_version: &str, padding: usize) -> R<()> {
    let (repo, tag) = crate::engine::split_reference(reference);
    let rootfs = spark_like_rootfs_padded(spark_version, padding)?;
    let mut opts = CreateImageOptionsBuilder::new().from_src("-").repo(&repo).tag(&tag).build();
    opts.changes =
        vec![r#"ENTRYPOINT ["/opt/entrypoint.sh"]"#.to_string(), "ENV SPARK_HOME=/opt/spark".to_string(), "USER 185".to_string()];
    let mut s = docker.create_image(Some(opts), Some(bollard::body_full(rootfs.into())), None);
    while let Some(item) = s.next().await {
        item.map_err(|e| fail(format!("import {reference}: {e}")))?;
    }
    Ok(())
}

/// Imports the stand-in base as `<registry.host>/<repo>:3.5.3` and pushes it there through the
/// engine (a fixture: the daemonless path then reads it from the registry). Returns the reference.
pub async fn push_base_image(engine: &crate::engine::Engine, registry: &Registry, repo: &str, padding: usize) -> R<String> {
    let reference = format!("{}/{repo}:3.5.3", registry.host);
    import_padded_base_image(engine.docker(), &reference, "3.5.3", padding).await?;
    let creds = crate::auth::explicit(&registry.host, &registry.username, registry.password.clone());
    engine.push(&reference, Some(creds), &mut |_| {}).await.map_err(|e| fail(format!("push {reference}: {e}")))?;
    Ok(reference)
}

/// Removes the named local images when dropped (through the `docker` CLI, so it works in `Drop`).
#[derive(Debug, Default)]
pub struct ImageCleanup {
    refs: Mutex<Vec<String>>,
}

impl ImageCleanup {
    /// Remembers a reference to remove.
    pub fn add(&self, reference: impl Into<String>) {
        if let Ok(mut r) = self.refs.lock() {
            r.push(reference.into());
        }
    }
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let refs = self.refs.lock().map(|r| r.clone()).unwrap_or_default();
        if !refs.is_empty() {
            let _ = Command::new("docker").arg("rmi").arg("-f").args(&refs).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

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
    pub fn start() -> R<Self> {
        Self::serve(ServerState::default())
    }

    /// Starts serving an empty tree to clients that give this user and password (HTTP basic);
    /// others get 401 with a `WWW-Authenticate` challenge.
    pub fn start_with_basic_auth(username: &str, password: &str) -> R<Self> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Self::serve(ServerState { required: Some(format!("Basic {token}")), ..Default::default() })
    }

    fn serve(state: ServerState) -> R<Self> {
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
    pub fn put_jar_with_checksums(&self, jar: &crate::catalog::Jar, bytes: &[u8], checksums: &[&str]) {
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
    pub fn put_jar(&self, jar: &crate::catalog::Jar, bytes: &[u8]) {
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

/// A TCP listener that counts connections and never answers: stands in for a Docker Engine that
/// must not be contacted.
pub struct Tripwire {
    /// `tcp://127.0.0.1:PORT`, for `DOCKER_HOST`.
    pub docker_host: String,
    hits: Arc<AtomicU64>,
}

impl Tripwire {
    /// Starts listening.
    pub fn start() -> R<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        let port = listener.local_addr().map_err(fail)?.port();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                drop(c);
            }
        });
        Ok(Self { docker_host: format!("tcp://127.0.0.1:{port}"), hits })
    }

    /// Connections received.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn free_port() -> R<u16> {
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
    pub fn start(username: &str, password: &str) -> R<Self> {
        Self::start_with_storage(username, password, None)
    }

    /// Like [`Registry::start`], keeping blobs and manifests in `storage` when given (so a later
    /// registry on the same folder already has the layers: a second push uploads none).
    pub fn start_with_storage(username: &str, password: &str, storage: Option<&std::path::Path>) -> R<Self> {
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

    fn request(&self, path: &str, accept: &str, auth: bool) -> R<(u16, Vec<u8>)> {
        self.send("GET", path, accept, auth, None)
    }

    /// One HTTP/1.1 request; `body` is `(content type, bytes)`.
    fn send(&self, method: &str, path: &str, accept: &str, auth: bool, body: Option<(&str, &[u8])>) -> R<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(&self.host).map_err(fail)?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(fail)?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: {accept}\r\n", self.host);
        if auth {
            req.push_str(&format!("Authorization: {}\r\n", self.basic()));
        }
        if let Some((content_type, b)) = body {
            req.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).map_err(fail)?;
        if let Some((_, b)) = body {
            s.write_all(b).map_err(fail)?;
        }
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(fail)?;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| fail("no HTTP header end"))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| fail(&head))?;
        let mut body = raw[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body)?;
        }
        Ok((status, body))
    }

    fn status(&self, path: &str, auth: bool) -> R<u16> {
        Ok(self.request(path, "*/*", auth)?.0)
    }

    /// GET with the registry credentials; fails on a non-200 answer.
    pub fn get(&self, path: &str, accept: &str) -> R<Vec<u8>> {
        let (status, body) = self.request(path, accept, true)?;
        if status != 200 {
            return Err(fail(format!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body))));
        }
        Ok(body)
    }

    /// Puts a manifest (or index) under `repo:reference` with the registry credentials; fails on a
    /// non-201 answer.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> R<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let (status, answer) = self.send("PUT", &path, "*/*", true, Some((media_type, body)))?;
        if status != 201 {
            return Err(fail(format!("PUT {path}: HTTP {status}: {}", String::from_utf8_lossy(&answer))));
        }
        Ok(())
    }

    /// Repositories in the registry (`/v2/_catalog`).
    pub fn repositories(&self) -> R<Vec<String>> {
        let v: serde_json::Value = serde_json::from_slice(&self.get("/v2/_catalog", "application/json")?).map_err(fail)?;
        Ok(v["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect())
    }

    /// The image manifest (Docker v2 schema 2) of `repo:tag`.
    pub fn manifest(&self, repo: &str, tag: &str) -> R<serde_json::Value> {
        let body = self.get(&format!("/v2/{repo}/manifests/{tag}"), "application/vnd.docker.distribution.manifest.v2+json")?;
        serde_json::from_slice(&body).map_err(fail)
    }

    /// A blob, checked against its digest.
    pub fn blob(&self, repo: &str, digest: &str) -> R<Vec<u8>> {
        let body = self.get(&format!("/v2/{repo}/blobs/{digest}"), "*/*")?;
        let actual = format!("sha256:{}", sha256_hex(&body));
        if actual != digest {
            return Err(fail(format!("blob {digest} came back as {actual}")));
        }
        Ok(body)
    }

    /// Every file of an image as the registry serves it: path → (mode, sha256), later layers win.
    pub fn image_files(&self, repo: &str, tag: &str) -> R<(serde_json::Value, ImageFiles)> {
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

fn dechunk(mut b: &[u8]) -> R<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").ok_or_else(|| fail("bad chunk"))?;
        let size_text = String::from_utf8_lossy(&b[..end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(fail)?;
        b = &b[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err(fail("short chunk"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Forwards 127.0.0.1:<new port> to 127.0.0.1:`upstream`, adding client→server bytes to `sent`.
fn start_proxy(upstream: u16, sent: Arc<AtomicU64>) -> R<u16> {
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
