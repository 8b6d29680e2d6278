//! A real local Spark base image that looks like `apache/spark:3.5.x-python3`, made without
//! pulling anything: a minimal Debian root filesystem made by `debootstrap` from Debian's packages
//! (`scripts/install-debian-rootfs`, cached as a tarball under `.tools/debian-rootfs`), with the JRE
//! and Spark laid over it, streamed as one tar into `docker import`.
//!
//! What goes in (the layout `image-builder` and Spark on Kubernetes expect):
//!
//! | path | from |
//! |---|---|
//! | `/` (`/usr`, `/etc`, `/bin/bash`, coreutils, `/usr/bin/python3`, ...) | Debian `bookworm` `minbase` + `python3`, `procps`, `ca-certificates` (debootstrap) |
//! | `/opt/java/openjdk` | the Debian JRE (`/usr/lib/jvm/java-17-openjdk-amd64`, symlinks resolved, no GUI libraries) |
//! | `/usr/lib/...` | the shared libraries the JRE needs that the Debian root filesystem lacks (`ldd`) |
//! | `/opt/spark/{bin,sbin,jars}` | the pinned PyPI `pyspark` (`scripts/install-pyspark`): Spark's own scripts and jars |
//! | `/opt/spark/python/lib/{pyspark.zip,py4j-*-src.zip}` | the same `pyspark`: Spark's Python package, as a Spark distribution ships it |
//! | `/opt/spark/work-dir` | empty, owned by uid 185 (the working directory) |
//! | `/opt/entrypoint.sh` | a `driver` / `executor` / pass-through entrypoint like Spark's Kubernetes one |
//! | `/etc/{passwd,group}` | Debian's, plus uid 185 `spark` |
//!
//! `PYSPARK_PYTHON=/usr/bin/python3` and a `PYTHONPATH` with Spark's Python package are set, as in
//! the `apache/spark:*-python3` images, so drivers and executors run PySpark.
//!
//! The image carries the label [`CONTENT_LABEL`]: a hash of the recipe, of the Debian tarball and of
//! every input file's path, mode, size and modification time. [`ensure_spark_base_image`] skips the
//! build when the reference already exists with the same label, so the image is a cache across test runs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::{io_error as io, repo_root, Error};

/// The image label holding the hash of everything the image was built from.
pub const CONTENT_LABEL: &str = "io.sparkoss.base.content";

/// Bumped when the recipe below changes in a way the input files do not show.
const RECIPE_VERSION: &str = "spark-base-2-debian-python3";

/// Where the JRE lives in the image (as in the `apache/spark` images, whose base is Temurin).
const IMAGE_JAVA_HOME: &str = "/opt/java/openjdk";

/// The JRE taken from the host when `SPARKOSS_BASE_JAVA_HOME` is not set.
const DEFAULT_HOST_JAVA_HOME: &str = "/usr/lib/jvm/java-17-openjdk-amd64";

/// What the JNI libraries inside Spark's jars need besides libc: zstd-jni (shuffle and
/// map-status compression) needs libpthread, snappy-java the C++ runtime.
const JNI_DEPENDENCIES: &[&str] = &["libpthread.so.0", "libdl.so.2", "librt.so.1", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"];

/// The Python interpreter drivers and executors run (Debian's `python3`).
pub const IMAGE_PYTHON: &str = "/usr/bin/python3";

/// py4j's source zip in pyspark 3.5 (what Spark's `PythonUtils.sparkPythonPath` names).
const PY4J_ZIP: &str = "py4j-0.10.9.7-src.zip";

/// Libraries of the JRE that only a desktop needs (X11, sound, accessibility); leaving them out
/// keeps the image headless and avoids pulling their X11 dependencies in.
const GUI_LIBS: &[&str] = &["libawt_xawt.so", "libsplashscreen.so", "libatk-wrapper.so", "libjsound.so", "libjawt.so"];

/// Parts of the JDK folder a runtime does not need.
const JDK_SKIP: &[&str] = &["docs", "man", "include", "jmods", "lib/src.zip", "lib/ct.sym"];

/// Fixed modification time of generated entries (2024-01-01), so nothing depends on the clock.
const FIXED_MTIME: u64 = 1_704_067_200;

type Result<T> = std::result::Result<T, Error>;

/// The image [`ensure_spark_base_image`] made or found.
#[derive(Debug, Clone)]
pub struct SparkBaseImage {
    /// The image reference (`repo:tag`).
    pub reference: String,
    /// The Spark version inside (from the `spark-core` jar's name).
    pub spark_version: String,
    /// The value of [`CONTENT_LABEL`].
    pub content: String,
    /// Whether this call built it (false: an image with the same content label was reused).
    pub built: bool,
}

/// Runs a repository script that prints a path on its last stdout line; its progress goes to stderr.
fn script_path(script: &str) -> Result<PathBuf> {
    let path = repo_root().join("scripts").join(script);
    let out = Command::new(&path).stderr(Stdio::inherit()).output().map_err(io(format!("running {}", path.display())))?;
    if !out.status.success() {
        return Err(Error::Command { what: format!("scripts/{script}"), detail: format!("{}", out.status) });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().map(str::trim).unwrap_or_default();
    if last.is_empty() {
        return Err(Error::Input(format!("scripts/{script} printed no path")));
    }
    Ok(PathBuf::from(last))
}

/// The Spark distribution of the pinned `pyspark` (installed once into `.tools/pyspark`).
pub fn spark_home() -> Result<PathBuf> {
    script_path("install-pyspark")
}

/// The Debian root filesystem tarball (made once by `scripts/install-debian-rootfs`).
pub fn debian_rootfs() -> Result<PathBuf> {
    script_path("install-debian-rootfs")
}

/// The Debian root filesystem the image starts from: its tarball, and what it holds.
#[derive(Debug)]
struct BaseTar {
    path: PathBuf,
    /// Every path in it (no leading `./` or `/`), with whether it is a directory.
    paths: BTreeMap<String, bool>,
    passwd: String,
    group: String,
}

impl BaseTar {
    fn open(path: &Path) -> Result<BaseTar> {
        let what = || format!("reading {}", path.display());
        let f = File::open(path).map_err(io(what()))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(f));
        let mut paths = BTreeMap::new();
        let (mut passwd, mut group) = (String::new(), String::new());
        for entry in archive.entries().map_err(io(what()))? {
            let mut entry = entry.map_err(io(what()))?;
            let name = normalize(&entry.path().map_err(io(what()))?.to_string_lossy());
            if name.is_empty() {
                continue;
            }
            let slot = match name.as_str() {
                "etc/passwd" => Some(&mut passwd),
                "etc/group" => Some(&mut group),
                _ => None,
            };
            if let Some(text) = slot {
                std::io::Read::read_to_string(&mut entry, text).map_err(io(what()))?;
            }
            paths.insert(name, entry.header().entry_type().is_dir());
        }
        if !paths.contains_key("usr/bin/python3") {
            return Err(Error::Input(format!("{} has no usr/bin/python3: not the Debian root filesystem", path.display())));
        }
        Ok(BaseTar { path: path.to_path_buf(), paths, passwd, group })
    }

    /// Whether the root filesystem has `path` (absolute or not), following Debian's merged `/usr`
    /// (`/lib` → `/usr/lib`, `/lib64` → `/usr/lib64`, `/bin` → `/usr/bin`).
    fn has(&self, path: &str) -> bool {
        self.paths.contains_key(&merged_usr(path))
    }
}

/// A tar member name without `./` or `/` in front or `/` behind.
fn normalize(name: &str) -> String {
    name.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_string()
}

/// `path` as it lives in a merged-`/usr` root filesystem.
fn merged_usr(path: &str) -> String {
    let p = normalize(path);
    for top in ["lib", "lib64", "bin", "sbin"] {
        if let Some(rest) = p.strip_prefix(top).filter(|r| r.starts_with('/')) {
            return format!("usr/{top}{rest}");
        }
    }
    p
}

/// Builds (or reuses) the example job `target/examples/wordcount.jar` through
/// `scripts/build-example-job` and returns its path.
pub fn example_job_jar() -> Result<PathBuf> {
    script_path("build-example-job")
}

/// One entry of the root filesystem.
#[derive(Debug)]
enum Entry {
    Dir {
        mode: u32,
        uid: u64,
    },
    /// A host file copied as a regular file (symlinks resolved).
    HostFile {
        src: PathBuf,
        mode: u32,
    },
    Bytes {
        data: Vec<u8>,
        mode: u32,
    },
}

/// The root filesystem being assembled: the Debian base, then image path (no leading `/`) →
/// entry, sorted, laid over it.
#[derive(Debug)]
struct Rootfs {
    base: BaseTar,
    entries: BTreeMap<String, Entry>,
}

impl Rootfs {
    fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').trim_end_matches('/').to_string();
        // Every parent directory gets its own entry, so the tar does not depend on the importer
        // inventing them.
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent {
            let s = p.to_string_lossy().to_string();
            // The base's own directories (and its merged-/usr symlinks) stay as they are.
            if s.is_empty() || self.base.paths.contains_key(&s) {
                break;
            }
            self.entries.entry(s).or_insert(Entry::Dir { mode: 0o755, uid: 0 });
            parent = p.parent();
        }
        self.entries.insert(path, entry);
    }

    fn host_file(&mut self, image_path: &str, src: &Path) -> Result<()> {
        let meta = std::fs::metadata(src).map_err(io(format!("reading {}", src.display())))?;
        self.add(image_path, Entry::HostFile { src: src.to_path_buf(), mode: meta.permissions().mode() & 0o7777 });
        Ok(())
    }

    /// Copies a host folder, resolving symlinks; `skip` holds paths relative to `src` to leave out;
    /// dangling symlinks are left out too (Debian's JDK links to optional packages).
    fn host_tree(&mut self, image_dir: &str, src: &Path, rel: &str, skip: &dyn Fn(&str) -> bool) -> Result<()> {
        let dir = if rel.is_empty() { src.to_path_buf() } else { src.join(rel) };
        let read = std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))?;
        for item in read {
            let item = item.map_err(io(format!("listing {}", dir.display())))?;
            let name = item.file_name().to_string_lossy().to_string();
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if skip(&child_rel) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(item.path()) else { continue };
            let image_path = format!("{image_dir}/{child_rel}");
            if meta.is_dir() {
                self.add(&image_path, Entry::Dir { mode: meta.permissions().mode() & 0o7777, uid: 0 });
                self.host_tree(image_dir, src, &child_rel, skip)?;
            } else if meta.is_file() {
                self.add(&image_path, Entry::HostFile { src: item.path(), mode: meta.permissions().mode() & 0o7777 });
            }
        }
        Ok(())
    }

    /// The content hash: the recipe version and every entry's path, kind, mode, owner and, for
    /// host files, the source's path, size and modification time (cheap: nothing is read).
    fn content_hash(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(RECIPE_VERSION.as_bytes());
        // The tarball's name carries the hash of its recipe; size and time say it is the same file.
        let base = &self.base.path;
        let m = std::fs::metadata(base).map_err(io(format!("reading {}", base.display())))?;
        h.update(format!("|base|{}|{}|{}", base.display(), m.size(), m.mtime()).as_bytes());
        for (path, entry) in &self.entries {
            h.update(b"\0");
            h.update(path.as_bytes());
            match entry {
                Entry::Dir { mode, uid } => h.update(format!("|d|{mode:o}|{uid}").as_bytes()),
                Entry::HostFile { src, mode } => {
                    let m = std::fs::metadata(src).map_err(io(format!("reading {}", src.display())))?;
                    h.update(format!("|f|{mode:o}|{}|{}|{}.{}", src.display(), m.size(), m.mtime(), m.mtime_nsec()).as_bytes());
                }
                Entry::Bytes { data, mode } => {
                    h.update(format!("|b|{mode:o}|").as_bytes());
                    h.update(Sha256::digest(data));
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Writes the tar: the Debian base's members (those the overlay replaces left out), then the
    /// overlay's (sorted entries, uid/gid as recorded, fixed mtime for generated entries).
    fn write_tar(&self, out: impl Write) -> Result<()> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        let base = &self.base.path;
        let what = || format!("copying {} into the image", base.display());
        let f = File::open(base).map_err(io(what()))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(f));
        for entry in archive.entries().map_err(io(what()))? {
            let mut entry = entry.map_err(io(what()))?;
            let name = normalize(&entry.path().map_err(io(what()))?.to_string_lossy());
            if name.is_empty() || self.entries.contains_key(&name) {
                continue;
            }
            let mut h = entry.header().clone();
            let kind = h.entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name().map_err(io(what()))?.map(|t| t.into_owned()).unwrap_or_default();
                // A hard link names a member by its path in the tar: the same normalized form.
                let target = if kind.is_hard_link() { PathBuf::from(normalize(&target.to_string_lossy())) } else { target };
                b.append_link(&mut h, &name, &target).map_err(io(what()))?;
            } else if kind.is_dir() {
                b.append_data(&mut h, format!("{name}/"), std::io::empty()).map_err(io(what()))?;
            } else {
                b.append_data(&mut h, &name, &mut entry).map_err(io(what()))?;
            }
        }
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(FIXED_MTIME);
            h.set_uid(0);
            h.set_gid(0);
            let what = format!("adding /{path} to the image");
            match entry {
                Entry::Dir { mode, uid } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_uid(*uid);
                    h.set_gid(*uid);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(io(what))?;
                }
                Entry::HostFile { src, mode } => {
                    let f = File::open(src).map_err(io(format!("opening {}", src.display())))?;
                    let size = f.metadata().map_err(io(format!("reading {}", src.display())))?.len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(size);
                    b.append_data(&mut h, path, f).map_err(io(what))?;
                }
                Entry::Bytes { data, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice()).map_err(io(what))?;
                }
            }
        }
        b.into_inner().map_err(io("finishing the image tar"))?.flush().map_err(io("finishing the image tar"))
    }
}

/// Shared libraries (absolute host paths) that `ldd` reports for `elf`, including the loader.
fn ldd(elf: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(elf).output().map_err(io("running ldd"))?;
    // ldd fails on files that are not dynamic executables; those need nothing.
    if !out.status.success() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`;
        // `libjvm.so => not found` is the JRE's own library, found at run time through its rpath.
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Spark's Kubernetes entrypoint, re-written for this image: `driver` runs `spark-submit` in client
/// mode bound to the pod address, `executor` starts the executor backend, anything else runs as given.
const ENTRYPOINT: &str = r#"#!/bin/bash
# Entrypoint of the sparkoss local Spark base image; behaves like the one in apache/spark images.
set -eo pipefail

# Spark (through Hadoop) needs a user name for the current uid; add one when the uid is unknown.
if ! whoami >/dev/null 2>&1 && [ -w /etc/passwd ]; then
  echo "${SPARK_USER_NAME:-anonymous uid}:x:$(id -u):$(id -g):${SPARK_USER_NAME:-anonymous uid}:${SPARK_HOME}:/bin/false" >> /etc/passwd
fi

SPARK_CLASSPATH="$SPARK_CLASSPATH:${SPARK_HOME}/jars/*"
# SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in numeric order (the Kubernetes backend sets them).
SPARK_EXECUTOR_JAVA_OPTS=()
for name in $(env | grep '^SPARK_JAVA_OPT_' | cut -d= -f1 | sort -t_ -k4 -n); do
  SPARK_EXECUTOR_JAVA_OPTS+=("${!name}")
done
if [ -n "$SPARK_EXTRA_CLASSPATH" ]; then
  SPARK_CLASSPATH="$SPARK_CLASSPATH:$SPARK_EXTRA_CLASSPATH"
fi
if [ -n "${HADOOP_CONF_DIR}" ]; then
  SPARK_CLASSPATH="$HADOOP_CONF_DIR:$SPARK_CLASSPATH"
fi
if [ -n "${SPARK_CONF_DIR}" ]; then
  SPARK_CLASSPATH="$SPARK_CONF_DIR:$SPARK_CLASSPATH"
elif [ -n "${SPARK_HOME}" ]; then
  SPARK_CLASSPATH="$SPARK_HOME/conf:$SPARK_CLASSPATH"
fi

case "$1" in
  driver)
    shift 1
    exec "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift 1
    exec "${JAVA_HOME}/bin/java" "${SPARK_EXECUTOR_JAVA_OPTS[@]}" \
      -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
      -cp "$SPARK_CLASSPATH:$SPARK_DIST_CLASSPATH" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "$SPARK_EXECUTOR_CORES" --app-id "$SPARK_APPLICATION_ID" \
      --hostname "$SPARK_EXECUTOR_POD_IP" --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
      --podName "$SPARK_EXECUTOR_POD_NAME"
    ;;
  *)
    exec "$@"
    ;;
esac
"#;

/// The Spark version of a distribution, from its `spark-core_<scala>-<version>.jar`.
fn spark_version_of(spark_home: &Path) -> Result<String> {
    let jars = spark_home.join("jars");
    let read = std::fs::read_dir(&jars).map_err(io(format!("listing {}", jars.display())))?;
    for item in read.flatten() {
        let name = item.file_name().to_string_lossy().to_string();
        if let Some(rest) = name.strip_prefix("spark-core_") {
            if let Some((_, version)) = rest.strip_suffix(".jar").and_then(|r| r.split_once('-')) {
                return Ok(version.to_string());
            }
        }
    }
    Err(Error::Input(format!("no spark-core jar in {}", jars.display())))
}

/// Assembles the root filesystem: the Debian base, the host JRE and the Spark distribution.
fn assemble(base: BaseTar, java_home: &Path, spark_home: &Path) -> Result<Rootfs> {
    let mut fs = Rootfs { base, entries: BTreeMap::new() };
    for (dir, mode, uid) in [("opt/spark/work-dir", 0o775, 185), ("opt/spark/conf", 0o755, 0)] {
        fs.add(dir, Entry::Dir { mode, uid });
    }

    // The JRE: java and keytool only from bin/ (the JDK's compilers are not a runtime's).
    if !java_home.join("bin/java").is_file() {
        return Err(Error::Input(format!(
            "no JRE at {} (Debian package openjdk-17-jre-headless; or set SPARKOSS_BASE_JAVA_HOME)",
            java_home.display()
        )));
    }
    let skip = |rel: &str| {
        JDK_SKIP.contains(&rel)
            || (rel.starts_with("bin/") && rel != "bin/java" && rel != "bin/keytool")
            || rel.strip_prefix("lib/").is_some_and(|f| GUI_LIBS.contains(&f))
    };
    fs.host_tree(IMAGE_JAVA_HOME, java_home, "", &skip)?;

    // Spark: its scripts (without the Windows ones) and jars.
    for sub in ["bin", "sbin", "jars"] {
        let src = spark_home.join(sub);
        if !src.is_dir() {
            continue;
        }
        let skip = |rel: &str| rel.ends_with(".cmd") || rel.contains("__pycache__") || rel.ends_with(".py");
        fs.host_tree(&format!("opt/spark/{sub}"), &src, "", &skip)?;
    }
    // Spark's Python package where a Spark distribution has it: Spark puts these two on the
    // Python path of drivers and of executors' Python workers itself (from SPARK_HOME).
    for zip in ["pyspark.zip", PY4J_ZIP] {
        let src = spark_home.join("python/lib").join(zip);
        if !src.is_file() {
            return Err(Error::Input(format!("{} is missing: the pyspark package ships it", src.display())));
        }
        fs.host_file(&format!("opt/spark/python/lib/{zip}"), &src)?;
    }
    fs.add(
        "opt/spark/RELEASE",
        Entry::Bytes { data: format!("Spark {} (from PyPI pyspark)\n", spark_version_of(spark_home)?).into_bytes(), mode: 0o644 },
    );
    fs.add("opt/entrypoint.sh", Entry::Bytes { data: ENTRYPOINT.as_bytes().to_vec(), mode: 0o755 });

    // Libraries the JRE and the native code in Spark's jars (zstd-jni, snappy-java, lz4-java)
    // link against, when Debian's root filesystem lacks them (the JVM unpacks the JNI ones into
    // /tmp at run time, so ldd never sees those here). Same Debian release as this machine's, so
    // the host's copies fit; they go where merged /usr puts them.
    let lib_dirs = [Path::new("/lib/x86_64-linux-gnu"), Path::new("/usr/lib/x86_64-linux-gnu")];
    let mut libs = Vec::new();
    for name in JNI_DEPENDENCIES {
        let lib = lib_dirs.iter().map(|d| d.join(name)).find(|p| p.exists()).ok_or_else(|| {
            Error::Input(format!("{name} not found in {lib_dirs:?}: Spark's compression codecs need it (Debian's libc6 / libstdc++6)"))
        })?;
        libs.push(lib);
    }
    let elves: Vec<PathBuf> = fs
        .entries
        .values()
        .filter_map(|e| match e {
            Entry::HostFile { src, .. } if is_elf(src) => Some(src.clone()),
            _ => None,
        })
        .collect();
    for elf in elves {
        libs.extend(ldd(&elf)?.into_iter().filter(|lib| !lib.starts_with(java_home)));
    }
    for lib in libs {
        let image_path = merged_usr(&lib.to_string_lossy());
        if !fs.base.has(&image_path) && !fs.entries.contains_key(&image_path) {
            fs.host_file(&image_path, &lib)?;
        }
    }

    // Debian's users and groups, and Spark's uid 185.
    let passwd = format!("{}spark:x:185:185:spark:/opt/spark:/bin/false\n", fs.base.passwd);
    let group = format!("{}spark:x:185:\n", fs.base.group);
    fs.add("etc/passwd", Entry::Bytes { data: passwd.into_bytes(), mode: 0o644 });
    fs.add("etc/group", Entry::Bytes { data: group.into_bytes(), mode: 0o644 });
    Ok(fs)
}

/// The content label of a local image, `None` when the image does not exist.
fn existing_content(reference: &str) -> Result<Option<String>> {
    let format = format!("{{{{index .Config.Labels \"{CONTENT_LABEL}\"}}}}");
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", &format, reference])
        .stderr(Stdio::null())
        .output()
        .map_err(io("running docker image inspect"))?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// The default reference: `sparkoss/spark-base:<spark version>-python3` (named like the
/// `apache/spark:<version>-python3` image it stands in for).
pub fn default_reference(spark_version: &str) -> String {
    format!("sparkoss/spark-base:{spark_version}-python3")
}

/// Builds the base image as `reference` (default [`default_reference`]) unless an image with that
/// reference and the same content label exists; progress goes to stderr.
///
/// The root filesystem comes from `scripts/install-debian-rootfs`, the JRE from
/// `SPARKOSS_BASE_JAVA_HOME` or `/usr/lib/jvm/java-17-openjdk-amd64`, Spark from `scripts/install-pyspark`.
pub fn ensure_spark_base_image(reference: Option<&str>) -> Result<SparkBaseImage> {
    let spark_home = spark_home()?;
    let spark_version = spark_version_of(&spark_home)?;
    let java_home = std::env::var_os("SPARKOSS_BASE_JAVA_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_HOST_JAVA_HOME));
    let reference = reference.map(str::to_string).unwrap_or_else(|| default_reference(&spark_version));
    let base = BaseTar::open(&debian_rootfs()?)?;
    let fs = assemble(base, &java_home, &spark_home)?;
    let content = fs.content_hash()?;
    if existing_content(&reference)?.as_deref() == Some(content.as_str()) {
        eprintln!("==> {reference} is up to date ({CONTENT_LABEL}={})", &content[..12]);
        return Ok(SparkBaseImage { reference, spark_version, content, built: false });
    }
    eprintln!("==> importing {reference}: JRE from {}, Spark {spark_version} from {}", java_home.display(), spark_home.display());
    let changes = [
        format!("LABEL {CONTENT_LABEL}={content}"),
        format!("LABEL org.opencontainers.image.version={spark_version}"),
        r#"LABEL org.opencontainers.image.description="sparkoss local Spark base image (apache/spark python3 look-alike, Debian bookworm)""#.to_string(),
        format!("ENV JAVA_HOME={IMAGE_JAVA_HOME}"),
        "ENV SPARK_HOME=/opt/spark".to_string(),
        format!("ENV PATH={IMAGE_JAVA_HOME}/bin:/opt/spark/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "ENV LANG=C.UTF-8".to_string(),
        format!("ENV PYSPARK_PYTHON={IMAGE_PYTHON}"),
        format!("ENV PYTHONPATH=/opt/spark/python/lib/pyspark.zip:/opt/spark/python/lib/{PY4J_ZIP}"),
        "WORKDIR /opt/spark/work-dir".to_string(),
        r#"ENTRYPOINT ["/opt/entrypoint.sh"]"#.to_string(),
        "USER 185".to_string(),
    ];
    let mut cmd = Command::new("docker");
    cmd.arg("import");
    for c in &changes {
        cmd.arg("--change").arg(c);
    }
    let mut child = cmd
        .arg("-")
        .arg(&reference)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("running docker import"))?;
    // Streamed: the tar (~600 MB) is never held in memory or written to disk.
    let written = match child.stdin.take() {
        Some(stdin) => fs.write_tar(BufWriter::with_capacity(1 << 20, stdin)),
        None => Err(Error::Input("docker import has no stdin".into())),
    };
    let out = child.wait_with_output().map_err(io("waiting for docker import"))?;
    if !out.status.success() {
        return Err(Error::Command {
            what: format!("docker import {reference}"),
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    written?;
    Ok(SparkBaseImage { reference, spark_version, content, built: true })
}
