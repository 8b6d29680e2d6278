//! Downloads catalog jars from a Maven repository, verifies them and caches them by content.
//!
//! Order of checks: the repository's `.sha1` (catches a broken transfer or mirror) and the catalog's
//! pinned sha256 (the real trust anchor). Cached files are named by their sha256 and re-hashed on use,
//! so a tampered cache is caught like a tampered download.

use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::catalog::Jar;
use crate::error::{Error, Result};

/// Maven Central, the default repository.
pub const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

/// A jar whose bytes match its pinned digest.
#[derive(Debug, Clone)]
pub struct VerifiedJar {
    /// The catalog entry.
    pub jar: Jar,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
    /// The jar itself.
    pub bytes: Vec<u8>,
    /// True when it came from the cache rather than the network.
    pub cached: bool,
}

/// The default cache directory: `$XDG_CACHE_HOME/sparkoss/image-builder` or `~/.cache/...`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("sparkoss/image-builder");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/sparkoss/image-builder"),
        None => std::env::temp_dir().join("sparkoss-image-builder-cache"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Resolves every jar: from the cache when present and intact, else from `repo`.
///
/// Every jar must be pinned; this is checked before any network traffic.
pub async fn fetch_all(jars: &[Jar], repo: &str, cache_dir: &Path) -> Result<Vec<VerifiedJar>> {
    let mut pins = Vec::with_capacity(jars.len());
    for jar in jars {
        let pin = jar.sha256.clone().ok_or_else(|| Error::Unpinned { coordinate: jar.coordinate() })?;
        pins.push(pin);
    }
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|e| Error::Download { url: repo.to_string(), message: e.to_string() })?;
    let store = cache_dir.join("sha256");
    let mut out = Vec::with_capacity(jars.len());
    for (jar, pin) in jars.iter().zip(pins) {
        let cached_path = store.join(&pin);
        if let Ok(bytes) = std::fs::read(&cached_path) {
            if sha256_hex(&bytes) == pin {
                out.push(VerifiedJar { jar: jar.clone(), sha256: pin, bytes, cached: true });
                continue;
            }
            // A corrupted cache entry is dropped and fetched again, never used.
            let _ = std::fs::remove_file(&cached_path);
        }
        let url = format!("{}/{}", repo.trim_end_matches('/'), jar.repo_path());
        let bytes = get(&client, &url).await?;
        let sha1_url = format!("{url}.sha1");
        let sha1_text = String::from_utf8_lossy(&get(&client, &sha1_url).await?).to_string();
        // `.sha1` files hold the hex digest, sometimes followed by a file name.
        let expected_sha1 = sha1_text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
        let actual_sha1 = hex::encode(Sha1::digest(&bytes));
        if expected_sha1 != actual_sha1 {
            return Err(Error::DigestMismatch {
                coordinate: jar.coordinate(),
                url,
                algorithm: "sha1",
                expected: expected_sha1,
                actual: actual_sha1,
            });
        }
        let actual = sha256_hex(&bytes);
        if actual != pin {
            return Err(Error::DigestMismatch { coordinate: jar.coordinate(), url, algorithm: "sha256", expected: pin, actual });
        }
        std::fs::create_dir_all(&store).map_err(|e| Error::io(&store, e))?;
        // Write then rename so a concurrent or interrupted build never sees half a file.
        let tmp = store.join(format!(".{pin}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &cached_path).map_err(|e| Error::io(&cached_path, e))?;
        out.push(VerifiedJar { jar: jar.clone(), sha256: pin, bytes, cached: false });
    }
    Ok(out)
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let err = |message: String| Error::Download { url: url.to_string(), message };
    let resp = client.get(url).send().await.map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(err(format!("HTTP {status}")));
    }
    Ok(resp.bytes().await.map_err(|e| err(e.to_string()))?.to_vec())
}
