//! The version catalog: which connector jars go into the image for each Spark line.
//!
//! The built-in catalog is TOML in this file so that `--catalog FILE` takes exactly the same shape
//! (documented in the README). A jar with a `sha256` is checked against it whatever the repository
//! says; a jar without one is verified against the repository's checksum file when it is first
//! locked (see `lock.rs`). We only pin digests we could verify: an unverified pin would be worse
//! than none.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The catalog shipped in the binary.
///
/// Coordinates follow what Alibaba Cloud documents for Spark on ACK (hadoop-aliyun of the image's
/// Hadoop, aliyun-sdk-oss 3.17.4 and its jdom2). jdom2 2.0.6.1 is pinned: three independent public
/// records of the Maven Central artifact agree on its sha256. The others could not be checked from
/// this build machine (Maven Central is unreachable here), so they are verified against the
/// repository's checksum files when first locked and against `sparkoss-image.lock` afterwards.
///
/// The base is the Python variant of `apache/spark` (`apache/spark:<version>-python3`: Debian's
/// python3 with `PYSPARK_PYTHON` set and Spark's Python package in `/opt/spark/python`), so one
/// image runs both JVM and PySpark jobs.
pub const BUILTIN: &str = r#"
[[line]]
spark = "3.5"
default_version = "3.5.3"
base_image = "apache/spark:{version}-python3"
hadoop = "3.3.4"
jars = [
  { group = "org.apache.hadoop", artifact = "hadoop-aliyun", version = "3.3.4" },
  { group = "com.aliyun.oss", artifact = "aliyun-sdk-oss", version = "3.17.4" },
  { group = "org.jdom", artifact = "jdom2", version = "2.0.6.1", sha256 = "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c" },
]

[[line]]
spark = "3.4"
default_version = "3.4.4"
base_image = "apache/spark:{version}-python3"
hadoop = "3.3.4"
jars = [
  { group = "org.apache.hadoop", artifact = "hadoop-aliyun", version = "3.3.4" },
  { group = "com.aliyun.oss", artifact = "aliyun-sdk-oss", version = "3.17.4" },
  { group = "org.jdom", artifact = "jdom2", version = "2.0.6.1", sha256 = "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c" },
]

[[line]]
spark = "3.3"
default_version = "3.3.3"
base_image = "apache/spark:{version}-python3"
hadoop = "3.3.2"
jars = [
  { group = "org.apache.hadoop", artifact = "hadoop-aliyun", version = "3.3.2" },
  { group = "com.aliyun.oss", artifact = "aliyun-sdk-oss", version = "3.17.4" },
  { group = "org.jdom", artifact = "jdom2", version = "2.0.6.1", sha256 = "0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c" },
]
"#;

/// A catalog: one entry per supported Spark line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The Spark lines, e.g. `3.5`.
    #[serde(rename = "line")]
    pub lines: Vec<Line>,
}

/// One Spark line (`major.minor`) and what its images get.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// `major.minor`, matched against `--spark`.
    pub spark: String,
    /// The full version used when `--spark` gives only `major.minor`.
    pub default_version: String,
    /// Base image reference; `{version}` is replaced by the full Spark version.
    pub base_image: String,
    /// The Hadoop version bundled by this line's Spark images.
    pub hadoop: String,
    /// The connector jars, in the order they are listed in labels.
    pub jars: Vec<Jar>,
}

/// One Maven artifact pinned by version and (ideally) sha256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Jar {
    /// Maven group id.
    pub group: String,
    /// Maven artifact id.
    pub artifact: String,
    /// Version.
    pub version: String,
    /// Lower-case hex sha256 of the jar: checked whatever the repository or the lock says. Absent: the
    /// repository's checksum file vouches for the jar when it is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Jar {
    /// `group:artifact:version`.
    pub fn coordinate(&self) -> String {
        format!("{}:{}:{}", self.group, self.artifact, self.version)
    }

    /// The jar's file name in the Maven layout and in `/opt/spark/jars`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.jar", self.artifact, self.version)
    }

    /// The path below a Maven repository root.
    pub fn repo_path(&self) -> String {
        format!("{}/{}/{}/{}", self.group.replace('.', "/"), self.artifact, self.version, self.file_name())
    }
}

/// What one build uses, after `--spark`/`--hadoop`/`--base-image` were resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The full Spark version.
    pub spark_version: String,
    /// The Hadoop version.
    pub hadoop_version: String,
    /// The base image reference.
    pub base_image: String,
    /// The jars to add.
    pub jars: Vec<Jar>,
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> Result<Self> {
        Self::parse(BUILTIN, "built-in")
    }

    /// Reads a TOML catalog file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a TOML catalog; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| Error::Catalog { path: origin.to_string(), message: e.to_string() })?;
        let bad = |message: String| Error::Catalog { path: origin.to_string(), message };
        if catalog.lines.is_empty() {
            return Err(bad("no [[line]] entries".into()));
        }
        for line in &catalog.lines {
            if !is_line(&line.spark) {
                return Err(bad(format!("spark = {:?} is not major.minor", line.spark)));
            }
            if !line.default_version.starts_with(&format!("{}.", line.spark)) {
                return Err(bad(format!("default_version {:?} is not in line {}", line.default_version, line.spark)));
            }
            for jar in &line.jars {
                for (name, value) in [("group", &jar.group), ("artifact", &jar.artifact), ("version", &jar.version)] {
                    // These become URL and file-name parts: keep them to plain Maven characters.
                    let ok =
                        !value.is_empty() && !value.contains("..") && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if !ok {
                        return Err(bad(format!("{name} {value:?} has characters Maven does not use")));
                    }
                }
                if let Some(sha) = &jar.sha256 {
                    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
                        return Err(bad(format!("{}: sha256 must be 64 lower-case hex digits", jar.coordinate())));
                    }
                }
            }
        }
        Ok(catalog)
    }

    /// The supported lines as users type them: `3.5.x, 3.4.x, 3.3.x`.
    pub fn supported(&self) -> String {
        self.lines.iter().map(|l| format!("{}.x", l.spark)).collect::<Vec<_>>().join(", ")
    }

    /// Resolves `--spark`, `--hadoop` and `--base-image` against the catalog.
    pub fn select(&self, spark: &str, hadoop: Option<&str>, base_image: Option<&str>) -> Result<Selection> {
        let unsupported = || Error::UnsupportedVersion { what: "Spark", requested: spark.to_string(), supported: self.supported() };
        let parts: Vec<&str> = spark.split('.').collect();
        let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !(parts.len() == 2 || parts.len() == 3) || !parts.iter().all(|p| numeric(p)) {
            return Err(unsupported());
        }
        let key = format!("{}.{}", parts[0], parts[1]);
        let line = self.lines.iter().find(|l| l.spark == key).ok_or_else(unsupported)?;
        let spark_version = if parts.len() == 3 { spark.to_string() } else { line.default_version.clone() };
        if let Some(h) = hadoop {
            if h != line.hadoop {
                return Err(Error::UnsupportedVersion {
                    what: "Hadoop",
                    requested: h.to_string(),
                    supported: format!("{} (the Hadoop of Spark {}.x images)", line.hadoop, line.spark),
                });
            }
        }
        let base_image = match base_image {
            Some(b) => b.to_string(),
            None => line.base_image.replace("{version}", &spark_version),
        };
        Ok(Selection { spark_version, hadoop_version: line.hadoop.clone(), base_image, jars: line.jars.clone() })
    }
}

fn is_line(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_selects() {
        let c = Catalog::builtin().expect("built-in catalog");
        let s = c.select("3.5.3", None, None).expect("3.5.3");
        assert_eq!(s.base_image, "apache/spark:3.5.3-python3", "the Python variant: PySpark jobs need python3 and pyspark in the image");
        assert_eq!(s.hadoop_version, "3.3.4");
        assert!(s.jars.iter().any(|j| j.artifact == "hadoop-aliyun" && j.version == "3.3.4"));
        let s33 = c.select("3.3", None, None).expect("3.3");
        assert_eq!(s33.spark_version, "3.3.3");
        assert!(s33.jars.iter().any(|j| j.artifact == "hadoop-aliyun" && j.version == "3.3.2"));
    }

    #[test]
    fn builtin_pins_the_verified_jdom2_digest() {
        let c = Catalog::builtin().expect("built-in catalog");
        for line in &c.lines {
            let jdom = line.jars.iter().find(|j| j.coordinate() == "org.jdom:jdom2:2.0.6.1").expect("jdom2 in every line");
            assert_eq!(jdom.sha256.as_deref(), Some("0b20f45e3a0fd8f0d12cdc5316b06776e902b1365db00118876f9175c60f302c"));
        }
    }

    #[test]
    fn unknown_versions_list_supported() {
        let c = Catalog::builtin().expect("built-in catalog");
        let e = c.select("2.4.8", None, None).expect_err("2.4 is not supported").to_string();
        assert!(e.contains("3.5.x") && e.contains("3.4.x") && e.contains("3.3.x"), "{e}");
        assert!(c.select("3.5.x", None, None).is_err());
        let e = c.select("3.5.3", Some("3.2.0"), None).expect_err("hadoop mismatch").to_string();
        assert!(e.contains("3.3.4"), "{e}");
    }

    #[test]
    fn rejects_bad_catalogs() {
        let bad_sha = r#"[[line]]
spark = "3.5"
default_version = "3.5.3"
base_image = "x"
hadoop = "3.3.4"
jars = [{ group = "g", artifact = "a", version = "1", sha256 = "ABC" }]"#;
        assert!(Catalog::parse(bad_sha, "t").is_err());
        let traversal = bad_sha.replace("sha256 = \"ABC\"", "sha256 = \"0\"").replace("\"a\"", "\"..\"");
        assert!(Catalog::parse(&traversal, "t").is_err());
        assert!(Catalog::parse("[[line]]\nspark = 3", "t").is_err());
    }
}
