//! `sparkoss-image.lock`: what a build resolved, recorded so that every later build gets the same
//! bytes (like `Cargo.lock`, Gradle's verification metadata or Bazel's `maven_install.json`).
//!
//! The first resolution of a jar is checked against the repository's checksum file (or the catalog's
//! pin) and recorded here; later builds check the jar against the record and never re-resolve it.
//! A recorded digest is never changed by a build: a contradiction is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Selection};
use crate::error::{Error, Result};
use crate::maven::{self, Anchor, Cache, LockedDigest, VerifiedJar};
use crate::repo::Repository;

/// The lock file's default name (in the current directory).
pub const DEFAULT_LOCKFILE: &str = "sparkoss-image.lock";

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const HEADER: &str = "\
# sparkoss-image.lock: written by `image-builder lock` (or a `build` that found no lock).
# Commit it next to your pipeline: every build checks each jar against the sha256 recorded here,
# and `image-builder build --locked` refuses to resolve anything this file does not list.
";

/// The lock file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The full Spark version.
    pub spark: String,
    /// The Hadoop version of that Spark line.
    pub hadoop: String,
    /// The base image reference.
    pub base_image: String,
    /// One entry per connector jar, in catalog order.
    #[serde(rename = "jar", default)]
    pub jars: Vec<LockedJar>,
}

/// One locked jar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedJar {
    /// `group:artifact:version`.
    pub coordinate: String,
    /// Lower-case hex sha256 of the jar.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The URL it was downloaded from (never with credentials).
    pub source: String,
    /// What the sha256 was checked against when it was locked.
    pub verified_by: Anchor,
}

impl Lock {
    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(&text, path).map(Some)
    }

    /// Parses and checks lock file text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Lock { path: path.to_path_buf(), message };
        let lock: Lock = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if lock.version != FORMAT_VERSION {
            return Err(bad(format!("version {} is not {FORMAT_VERSION}, the format this image-builder reads", lock.version)));
        }
        for j in &lock.jars {
            if j.sha256.len() != 64 || !j.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
                return Err(bad(format!("{}: sha256 must be 64 lower-case hex digits", j.coordinate)));
            }
            if lock.jars.iter().filter(|o| o.coordinate == j.coordinate).count() > 1 {
                return Err(bad(format!("{} is listed twice", j.coordinate)));
            }
        }
        Ok(lock)
    }

    /// The TOML text, with a header comment.
    pub fn render(&self) -> Result<String> {
        let body = toml::to_string(self).map_err(|e| Error::Lock { path: DEFAULT_LOCKFILE.into(), message: e.to_string() })?;
        Ok(format!("{HEADER}\n{body}"))
    }

    /// The entry for `coordinate`.
    pub fn jar(&self, coordinate: &str) -> Option<&LockedJar> {
        self.jars.iter().find(|j| j.coordinate == coordinate)
    }

    /// Where this lock and `selection` disagree on the Spark version, Hadoop or base image.
    fn header_differences(&self, selection: &Selection) -> Vec<String> {
        let mut d = Vec::new();
        for (what, locked, wanted) in [
            ("Spark", &self.spark, &selection.spark_version),
            ("Hadoop", &self.hadoop, &selection.hadoop_version),
            ("base image", &self.base_image, &selection.base_image),
        ] {
            if locked != wanted {
                d.push(format!("{what} is {locked} in the lock, {wanted} in this build"));
            }
        }
        d
    }
}

/// Writes `text` to `path` through a temporary file in the same directory, so a reader never sees half.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| DEFAULT_LOCKFILE.into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// What `--spark`, `--hadoop` and `--base-image` asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `--spark`: a full version or a line.
    pub spark: &'a str,
    /// `--hadoop`.
    pub hadoop: Option<&'a str>,
    /// `--base-image`.
    pub base_image: Option<&'a str>,
}

/// Whether resolution may add to the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Verify what the lock has, resolve and record what it lacks (`lock`, `build`).
    Update,
    /// Use only the lock: refuse when it is missing or lacks anything (`build --locked`).
    Locked,
}

/// What happened to the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockStatus {
    /// There was none; it was written.
    Created,
    /// It lacked something or had something no longer used; it was rewritten.
    Updated,
    /// It already said exactly this.
    Unchanged,
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone)]
pub struct Resolution {
    /// What the build uses.
    pub selection: Selection,
    /// The verified jars, in catalog order.
    pub jars: Vec<VerifiedJar>,
    /// The lock as it now is on disk.
    pub lock: Lock,
    /// What happened to the lock file.
    pub status: LockStatus,
}

/// Where the lock file and the jars come from.
#[derive(Debug)]
pub struct Sources<'a> {
    /// The repositories, in `--maven-repo` order.
    pub repos: &'a [Repository],
    /// The jar cache.
    pub cache: &'a Cache,
    /// The lock file.
    pub lockfile: &'a Path,
}

/// Resolves the selection's jars through the lock file: locked jars are checked against the lock,
/// the others (in [`Mode::Update`]) against the repository's checksum files or the catalog's pins
/// and then recorded. The lock file is written only when every jar was verified, and only when its
/// text changes.
pub async fn resolve(catalog: &Catalog, request: Request<'_>, sources: &Sources<'_>, mode: Mode) -> Result<Resolution> {
    let lockfile = sources.lockfile;
    let existing = Lock::load(lockfile)?;
    let locked_fail = |message: String| Error::Locked { path: lockfile.to_path_buf(), message };
    if mode == Mode::Locked && existing.is_none() {
        return Err(locked_fail(format!("there is no lock file {}", lockfile.display())));
    }
    // `--spark 3.5` keeps the locked 3.5.x (the point of a lock), unless the catalog lacks it.
    let spark = match &existing {
        Some(l) if request.spark.split('.').count() == 2 && l.spark.starts_with(&format!("{}.", request.spark)) => l.spark.as_str(),
        _ => request.spark,
    };
    let selection = catalog.select(spark, request.hadoop, request.base_image)?;
    if let (Mode::Locked, Some(lock)) = (mode, &existing) {
        let mut problems = lock.header_differences(&selection);
        problems.extend(
            selection.jars.iter().filter(|j| lock.jar(&j.coordinate()).is_none()).map(|j| format!("{} is not locked", j.coordinate())),
        );
        if !problems.is_empty() {
            return Err(locked_fail(format!("{} is incomplete or stale: {}", lockfile.display(), problems.join("; "))));
        }
    }
    let client = crate::repo::http_client()?;
    let mut jars = Vec::with_capacity(selection.jars.len());
    for jar in &selection.jars {
        let entry = existing.as_ref().and_then(|l| l.jar(&jar.coordinate()));
        let verified = match entry {
            Some(e) => {
                let digest = LockedDigest { sha256: &e.sha256, source: &e.source, anchor: e.verified_by, lockfile };
                let v = maven::resolve_locked(&client, sources.repos, sources.cache, jar, digest).await?;
                if v.bytes.len() as u64 != e.size {
                    return Err(Error::Lock {
                        path: lockfile.to_path_buf(),
                        message: format!(
                            "{}: size {} recorded, but the jar with that sha256 has {} bytes",
                            e.coordinate,
                            e.size,
                            v.bytes.len()
                        ),
                    });
                }
                v
            }
            None => maven::resolve_new(&client, sources.repos, sources.cache, jar).await?,
        };
        jars.push(verified);
    }
    let lock = Lock {
        version: FORMAT_VERSION,
        spark: selection.spark_version.clone(),
        hadoop: selection.hadoop_version.clone(),
        base_image: selection.base_image.clone(),
        jars: jars
            .iter()
            .map(|v| match existing.as_ref().and_then(|l| l.jar(&v.jar.coordinate())) {
                // A locked entry is kept as it was recorded (its source and first anchor).
                Some(e) => e.clone(),
                None => LockedJar {
                    coordinate: v.jar.coordinate(),
                    sha256: v.sha256.clone(),
                    size: v.bytes.len() as u64,
                    source: v.source.clone(),
                    verified_by: v.anchor,
                },
            })
            .collect(),
    };
    let status = match (&existing, mode) {
        (_, Mode::Locked) => LockStatus::Unchanged,
        (Some(old), Mode::Update) if *old == lock => LockStatus::Unchanged,
        (old, Mode::Update) => {
            write_atomically(lockfile, &lock.render()?)?;
            if old.is_some() {
                LockStatus::Updated
            } else {
                LockStatus::Created
            }
        }
    };
    // Under --locked the lock on disk stays as it is (it may list more than this build uses).
    let lock = match (mode, existing) {
        (Mode::Locked, Some(old)) => old,
        _ => lock,
    };
    Ok(Resolution { selection, jars, lock, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        Lock {
            version: FORMAT_VERSION,
            spark: "3.5.3".into(),
            hadoop: "3.3.4".into(),
            base_image: "apache/spark:3.5.3".into(),
            jars: vec![LockedJar {
                coordinate: "org.jdom:jdom2:2.0.6.1".into(),
                sha256: "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c".into(),
                size: 1234,
                source: "https://repo1.maven.org/maven2/org/jdom/jdom2/2.0.6.1/jdom2-2.0.6.1.jar".into(),
                verified_by: Anchor::CatalogPin,
            }],
        }
    }

    #[test]
    fn renders_and_parses_back() {
        let text = sample().render().expect("render");
        assert!(text.starts_with("# sparkoss-image.lock"), "{text}");
        assert!(text.contains("[[jar]]") && text.contains("verified_by = \"catalog-pin\""), "{text}");
        assert_eq!(Lock::parse(&text, Path::new("l")).expect("parse"), sample());
    }

    #[test]
    fn rejects_malformed_locks() {
        let text = sample().render().expect("render");
        let upper = text.replace("0b20f45e", "0B20F45E");
        assert!(Lock::parse(&upper, Path::new("l")).expect_err("upper-case").to_string().contains("lower-case"));
        let v2 = text.replace("version = 1", "version = 2");
        assert!(Lock::parse(&v2, Path::new("l")).is_err());
        let mut twice = sample();
        twice.jars.push(twice.jars[0].clone());
        assert!(Lock::parse(&twice.render().expect("render"), Path::new("l")).expect_err("twice").to_string().contains("twice"));
        let unknown = format!("{text}\n[extra]\nx = 1\n");
        assert!(Lock::parse(&unknown, Path::new("l")).is_err());
    }
}
