//! Downloads catalog jars from Maven repositories, verifies them and caches them by content.
//!
//! A jar not yet in the lock file is taken from the first repository that has it and checked
//! against that repository's strongest checksum file (`.sha512`, `.sha256`, `.sha1`) and against
//! the catalog's pin when there is one; with neither it is refused. A jar in the lock file is
//! checked against the lock's sha256 (and the pin). Cached files are named by their sha256 and
//! re-hashed on use, so a tampered cache is caught like a tampered download.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::catalog::Jar;
use crate::error::{Error, Result};
use crate::repo::{Fetched, Repository};

/// Maven Central, the default repository.
pub const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

/// Checksum files a repository may publish beside a jar, strongest first (`.md5` is not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// `.sha512`.
    Sha512,
    /// `.sha256`.
    Sha256,
    /// `.sha1`.
    Sha1,
}

impl ChecksumAlgorithm {
    /// Strongest first: the order in which checksum files are looked for.
    pub const ALL: [ChecksumAlgorithm; 3] = [ChecksumAlgorithm::Sha512, ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Sha1];

    /// `sha512`, `sha256` or `sha1`: the name and the file extension.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha512 => "sha512",
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha1 => "sha1",
        }
    }

    /// Lower-case hex digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> String {
        match self {
            ChecksumAlgorithm::Sha512 => hex::encode(Sha512::digest(bytes)),
            ChecksumAlgorithm::Sha256 => sha256_hex(bytes),
            ChecksumAlgorithm::Sha1 => hex::encode(Sha1::digest(bytes)),
        }
    }

    pub(crate) fn hex_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Sha512 => 128,
            ChecksumAlgorithm::Sha256 => 64,
            ChecksumAlgorithm::Sha1 => 40,
        }
    }

    /// The digest in a checksum file: the hex digest, sometimes with a file name before or after it.
    pub fn parse_file(self, text: &str) -> Option<String> {
        text.split_whitespace()
            .map(|w| w.trim_start_matches('*'))
            .find(|w| w.len() == self.hex_len() && w.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
    }
}

impl std::fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a jar's sha256 rests on: the first check that vouched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The catalog pins the sha256.
    CatalogPin,
    /// The repository's `.sha512` when the jar was locked.
    RepositorySha512,
    /// The repository's `.sha256` when the jar was locked.
    RepositorySha256,
    /// The repository's `.sha1` when the jar was locked.
    RepositorySha1,
}

impl Anchor {
    /// The anchor for a repository checksum file.
    pub fn repository(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha512 => Anchor::RepositorySha512,
            ChecksumAlgorithm::Sha256 => Anchor::RepositorySha256,
            ChecksumAlgorithm::Sha1 => Anchor::RepositorySha1,
        }
    }

    /// The short form used in labels and the lock file: `catalog-pin`, `repository-sha512`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::CatalogPin => "catalog-pin",
            Anchor::RepositorySha512 => "repository-sha512",
            Anchor::RepositorySha256 => "repository-sha256",
            Anchor::RepositorySha1 => "repository-sha1",
        }
    }

    /// Parses [`Anchor::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Anchor::CatalogPin, Anchor::RepositorySha512, Anchor::RepositorySha256, Anchor::RepositorySha1]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// For people: `pinned in the catalog`, `repository checksum (.sha512)`.
    pub fn describe(self) -> &'static str {
        match self {
            Anchor::CatalogPin => "pinned in the catalog",
            Anchor::RepositorySha512 => "repository checksum (.sha512)",
            Anchor::RepositorySha256 => "repository checksum (.sha256)",
            Anchor::RepositorySha1 => "repository checksum (.sha1)",
        }
    }
}

/// A jar whose bytes match its pinned, locked or published digest.
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
    /// What its sha256 rests on.
    pub anchor: Anchor,
    /// The URL it was downloaded from (without credentials); for a cached jar, where it was locked from.
    pub source: String,
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

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content-addressed jar cache: `<dir>/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct Cache {
    store: PathBuf,
}

impl Cache {
    /// The cache below `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { store: dir.join("sha256") }
    }

    /// The cached bytes whose sha256 is `sha256`, re-hashed; a corrupted entry is dropped.
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.store.join(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if sha256_hex(&bytes) == sha256 {
            return Some(bytes);
        }
        // A corrupted cache entry is dropped and fetched again, never used.
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Stores verified bytes under their sha256.
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.store).map_err(|e| Error::io(&self.store, e))?;
        // Write then rename so a concurrent or interrupted build never sees half a file.
        let tmp = self.store.join(format!(".{sha256}.{}.tmp", std::process::id()));
        let path = self.store.join(sha256);
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
}

/// Downloads `jar` from the first repository that has it: (bytes, repository, URL).
async fn download<'r>(client: &reqwest::Client, repos: &'r [Repository], jar: &Jar) -> Result<(Vec<u8>, &'r Repository, String)> {
    let path = jar.repo_path();
    for repo in repos {
        if let Fetched::Found(bytes) = repo.get(client, &path).await? {
            return Ok((bytes, repo, repo.url_of(&path)));
        }
    }
    let tried = repos.iter().map(|r| r.url_of(&path)).collect::<Vec<_>>().join(", ");
    Err(Error::NotFound { coordinate: jar.coordinate(), tried })
}

/// The strongest checksum file the repository publishes beside `path`: (algorithm, digest, URL).
async fn published_checksum(
    client: &reqwest::Client,
    repo: &Repository,
    path: &str,
) -> Result<Option<(ChecksumAlgorithm, String, String)>> {
    for algorithm in ChecksumAlgorithm::ALL {
        let file = format!("{path}.{}", algorithm.name());
        if let Fetched::Found(body) = repo.get(client, &file).await? {
            let url = repo.url_of(&file);
            let text = String::from_utf8_lossy(&body);
            let digest = algorithm.parse_file(&text).ok_or_else(|| Error::Download {
                url: url.clone(),
                message: format!("not a {} checksum file (no {}-digit hex digest in it)", algorithm.name(), algorithm.hex_len()),
            })?;
            return Ok(Some((algorithm, digest, url)));
        }
    }
    Ok(None)
}

fn check(jar: &Jar, url: &str, algorithm: ChecksumAlgorithm, expected_from: String, expected: &str, actual: String) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::DigestMismatch {
        coordinate: jar.coordinate(),
        url: url.to_string(),
        algorithm,
        expected_from,
        expected: expected.to_string(),
        actual,
    })
}

/// Resolves a jar the lock does not have yet: downloads it from the first repository that has it,
/// checks it against that repository's strongest checksum file and the catalog's pin, and caches it.
pub async fn resolve_new(client: &reqwest::Client, repos: &[Repository], cache: &Cache, jar: &Jar) -> Result<VerifiedJar> {
    let (bytes, repo, url) = download(client, repos, jar).await?;
    let published = published_checksum(client, repo, &jar.repo_path()).await?;
    if let Some((algorithm, expected, checksum_url)) = &published {
        check(jar, &url, *algorithm, format!("the repository's {checksum_url}"), expected, algorithm.digest(&bytes))?;
    }
    let sha256 = sha256_hex(&bytes);
    let anchor = match (&jar.sha256, &published) {
        (Some(pin), _) => {
            check(jar, &url, ChecksumAlgorithm::Sha256, "the catalog's pin".into(), pin, sha256.clone())?;
            Anchor::CatalogPin
        }
        (None, Some((algorithm, _, _))) => Anchor::repository(*algorithm),
        (None, None) => return Err(Error::NoChecksum { coordinate: jar.coordinate(), url }),
    };
    cache.put(&sha256, &bytes)?;
    Ok(VerifiedJar { jar: jar.clone(), sha256, bytes, cached: false, anchor, source: url })
}

/// What the lock file records for one jar, as [`resolve_locked`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct LockedDigest<'a> {
    /// The recorded sha256.
    pub sha256: &'a str,
    /// The recorded source URL.
    pub source: &'a str,
    /// What the recorded sha256 rested on when it was locked.
    pub anchor: Anchor,
    /// The lock file, named in errors.
    pub lockfile: &'a Path,
}

/// Resolves a jar the lock records: from the cache when it holds the locked sha256, else from the
/// first repository that has it; either way the bytes must have the locked sha256.
pub async fn resolve_locked(
    client: &reqwest::Client,
    repos: &[Repository],
    cache: &Cache,
    jar: &Jar,
    locked: LockedDigest<'_>,
) -> Result<VerifiedJar> {
    if let Some(pin) = &jar.sha256 {
        if pin != locked.sha256 {
            return Err(Error::PinContradictsLock {
                coordinate: jar.coordinate(),
                path: locked.lockfile.to_path_buf(),
                pinned: pin.clone(),
                locked: locked.sha256.to_string(),
            });
        }
    }
    // A pinned jar is anchored by its pin even when the lock recorded it otherwise.
    let anchor = if jar.sha256.is_some() { Anchor::CatalogPin } else { locked.anchor };
    if let Some(bytes) = cache.get(locked.sha256) {
        return Ok(VerifiedJar {
            jar: jar.clone(),
            sha256: locked.sha256.to_string(),
            bytes,
            cached: true,
            anchor,
            source: locked.source.to_string(),
        });
    }
    let (bytes, _, url) = download(client, repos, jar).await?;
    let sha256 = sha256_hex(&bytes);
    check(jar, &url, ChecksumAlgorithm::Sha256, format!("recorded in {}", locked.lockfile.display()), locked.sha256, sha256.clone())?;
    cache.put(&sha256, &bytes)?;
    Ok(VerifiedJar { jar: jar.clone(), sha256, bytes, cached: false, anchor, source: url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files_with_and_without_file_names() {
        let sha1 = ChecksumAlgorithm::Sha1.digest(b"jar");
        assert_eq!(ChecksumAlgorithm::Sha1.parse_file(&format!("{sha1}\n")), Some(sha1.clone()));
        assert_eq!(ChecksumAlgorithm::Sha1.parse_file(&format!("{}  jdom2-2.0.6.1.jar\n", sha1.to_uppercase())), Some(sha1.clone()));
        assert_eq!(ChecksumAlgorithm::Sha1.parse_file(&format!("jdom2-2.0.6.1.jar {sha1}")), Some(sha1));
        let sha512 = ChecksumAlgorithm::Sha512.digest(b"jar");
        assert_eq!(sha512.len(), 128);
        assert_eq!(ChecksumAlgorithm::Sha512.parse_file(&format!("{sha512} *a.jar")), Some(sha512.clone()));
        // A sha1 is not a sha512, and an HTML error page is no checksum.
        assert_eq!(ChecksumAlgorithm::Sha512.parse_file(&ChecksumAlgorithm::Sha1.digest(b"jar")), None);
        assert_eq!(ChecksumAlgorithm::Sha256.parse_file("<html>Not Found</html>"), None);
    }

    #[test]
    fn anchors_round_trip() {
        for a in [Anchor::CatalogPin, Anchor::RepositorySha512, Anchor::RepositorySha256, Anchor::RepositorySha1] {
            assert_eq!(Anchor::parse(a.as_str()), Some(a));
        }
        assert_eq!(Anchor::parse("md5"), None);
    }

    #[test]
    fn corrupted_cache_entries_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path());
        let sha = sha256_hex(b"good");
        cache.put(&sha, b"good").expect("put");
        assert_eq!(cache.get(&sha).as_deref(), Some(&b"good"[..]));
        std::fs::write(dir.path().join("sha256").join(&sha), b"evil").expect("tamper");
        assert_eq!(cache.get(&sha), None);
        assert!(!dir.path().join("sha256").join(&sha).exists());
    }
}
