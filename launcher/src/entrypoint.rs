//! `sparkoss-launcher entrypoint <mode> [args...]`: the image's ENTRYPOINT, in front of Spark's
//! own (`/opt/entrypoint.sh`, or `$SPARKOSS_BASE_ENTRYPOINT`).
//!
//! Spark's cluster mode starts the driver pod as `<entrypoint> driver --properties-file F
//! --class C <primary resource> <app args>`. When the primary resource, `--jars`, or
//! `spark.jars` / `spark.files` in the properties name `oss://` objects, Spark would need the
//! Hadoop OSS connector just to fetch the application. This entrypoint fetches those objects
//! into the working directory first (with the launcher's verified downloads and credential
//! chain), writes a copy of the properties with local paths, and then hands the rewritten
//! command to Spark's entrypoint. Executors and anything else pass through unchanged. The
//! application's own arguments are never touched: they are the application's to read.
//! `$SPARKOSS_FILES` (set with `spark.kubernetes.driverEnv.SPARKOSS_FILES`) names objects to
//! fetch into the driver's working directory besides those.
//!
//! A PySpark application (`spark-submit ... oss://bucket/job.py`) reaches the driver the same way,
//! with its `.py` as the primary resource and its Python files in `spark.submit.pyFiles` (or
//! `--py-files`): those are fetched and rewritten too. `spark-submit` on the submitting machine
//! refuses `--py-files oss://...` (it resolves them through Hadoop there, as it does `--files`), so
//! `$SPARKOSS_PY_FILES` (`spark.kubernetes.driverEnv.SPARKOSS_PY_FILES`, comma-separated, in order)
//! names Python files to fetch and append to the driver's `spark.submit.pyFiles`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fetch::Source;
use crate::LauncherError;

/// spark-submit options that take a value (so the value is not the primary resource).
const WITH_VALUE: &[&str] = &[
    "--master",
    "--deploy-mode",
    "--class",
    "--name",
    "--jars",
    "--packages",
    "--exclude-packages",
    "--repositories",
    "--py-files",
    "--files",
    "--archives",
    "--conf",
    "-c",
    "--properties-file",
    "--driver-memory",
    "--driver-java-options",
    "--driver-library-path",
    "--driver-class-path",
    "--executor-memory",
    "--proxy-user",
    "--driver-cores",
    "--total-executor-cores",
    "--executor-cores",
    "--num-executors",
    "--principal",
    "--keytab",
    "--queue",
];

/// Properties whose comma-separated URIs Spark itself would fetch on the driver.
const FETCHED_PROPERTIES: &[&str] = &["spark.jars", "spark.files", PY_FILES_PROPERTY];

/// The property that holds a PySpark application's Python files (what `--py-files` sets).
const PY_FILES_PROPERTY: &str = "spark.submit.pyFiles";

/// What the entrypoint will do: fetch these objects, write this properties file, exec this.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// (`oss://` URI, local destination).
    pub fetches: Vec<(String, PathBuf)>,
    /// A rewritten copy of the properties file: (path, content).
    pub properties: Option<(PathBuf, String)>,
    /// The command for Spark's entrypoint (its path first).
    pub argv: Vec<String>,
}

/// Java properties unescaping of a value (`\:` → `:`, `\=` → `=`, `\\` → `\`), enough for
/// what `Properties.store` writes for URIs and class names.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(match n {
                    't' => '\t',
                    'n' => '\n',
                    other => other,
                });
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace(':', "\\:").replace('=', "\\=")
}

/// Where the jars and files Spark is told about are fetched to. Not the working directory itself:
/// Spark's driver copies `spark.jars` and `spark.files` into its working directory, and a copy
/// onto itself would delete the file.
pub const FETCHED_DIR: &str = "sparkoss-fetched";

/// Collects fetches for the `oss://` entries of a comma-separated list (into `dir`) and answers
/// the list with local paths in their place.
fn localize(list: &str, dir: &Path, fetches: &mut Vec<(String, PathBuf)>) -> Result<String, LauncherError> {
    let mut out = Vec::new();
    for uri in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if !uri.starts_with("oss://") {
            out.push(uri.to_owned());
            continue;
        }
        let name = Source::parse(uri)?.file_name();
        let dest = dir.join(&name);
        match fetches.iter().find(|(_, d)| *d == dest) {
            Some((other, _)) if other != uri => {
                return Err(LauncherError::Usage(format!(
                    "{uri} and {other} have the same file name {name:?}: Spark finds jars and files by name, so names must differ"
                )))
            }
            Some(_) => {}
            None => fetches.push((uri.to_owned(), dest.clone())),
        }
        out.push(dest.display().to_string());
    }
    Ok(out.join(","))
}

/// What the driver's environment adds to the command Spark gave it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverExtras<'a> {
    /// `$SPARKOSS_FILES`: objects to fetch into the working directory.
    pub files: Option<&'a str>,
    /// `$SPARKOSS_PY_FILES`: Python files to fetch and append to `spark.submit.pyFiles`.
    pub py_files: Option<&'a str>,
}

/// Plans a driver's start; other modes pass through. `read` reads the properties file.
///
/// `driver_files` (`$SPARKOSS_FILES`, comma-separated) names more objects to fetch into a
/// driver's working directory: `spark-submit --files oss://...` would make the submitting
/// machine resolve the URI through Hadoop, which has no OSS connector there.
pub fn plan(
    args: &[String],
    base_entrypoint: &str,
    work_dir: &Path,
    driver_files: Option<&str>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Plan, LauncherError> {
    plan_with(args, base_entrypoint, work_dir, DriverExtras { files: driver_files, py_files: None }, read)
}

/// [`plan`], with the Python files of `$SPARKOSS_PY_FILES` too (see the module documentation).
pub fn plan_with(
    args: &[String],
    base_entrypoint: &str,
    work_dir: &Path,
    extras: DriverExtras<'_>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Plan, LauncherError> {
    let driver_files = extras.files;
    let mut argv = vec![base_entrypoint.to_owned()];
    let mut fetches = Vec::new();
    let mut properties = None;
    let Some((mode, rest)) = args.split_first() else {
        return Ok(Plan { fetches, properties, argv });
    };
    argv.push(mode.clone());
    if mode != "driver" {
        argv.extend(rest.iter().cloned());
        return Ok(Plan { fetches, properties, argv });
    }
    if let Some(files) = driver_files {
        localize(files, work_dir, &mut fetches)?;
    }
    // What Spark is told about goes apart from the working directory (see FETCHED_DIR).
    let fetch_dir = work_dir.join(FETCHED_DIR);
    let extra_py_files = match extras.py_files.filter(|l| !l.trim().is_empty()) {
        Some(list) => {
            if let Some(bad) = list.split(',').map(str::trim).find(|u| !u.is_empty() && !crate::job::is_python_library(u)) {
                return Err(LauncherError::Usage(format!("SPARKOSS_PY_FILES: {bad:?} is not a .py, .zip or .egg")));
            }
            Some(localize(list, &fetch_dir, &mut fetches)?)
        }
        None => None,
    };
    let mut i = 0;
    let mut primary_seen = false;
    while i < rest.len() {
        let a = &rest[i];
        if primary_seen {
            argv.push(a.clone());
        } else if WITH_VALUE.contains(&a.as_str()) {
            let value = rest.get(i + 1).ok_or_else(|| LauncherError::Usage(format!("driver: {a} needs a value")))?;
            let value = match a.as_str() {
                "--jars" | "--files" | "--py-files" => localize(value, &fetch_dir, &mut fetches)?,
                "--conf" | "-c" => match value.split_once('=') {
                    Some((k, v)) if FETCHED_PROPERTIES.contains(&k) => format!("{k}={}", localize(v, &fetch_dir, &mut fetches)?),
                    _ => value.clone(),
                },
                "--properties-file" => {
                    let path = PathBuf::from(value);
                    let text = read(&path).map_err(|source| LauncherError::Io { path: path.clone(), what: "reading", source })?;
                    let rewritten = rewrite_properties(&text, &fetch_dir, &mut fetches, extra_py_files.as_deref())?;
                    let copy = fetch_dir.join("spark.properties");
                    let shown = copy.display().to_string();
                    properties = Some((copy, rewritten));
                    shown
                }
                _ => value.clone(),
            };
            argv.push(a.clone());
            argv.push(value);
            i += 1;
        } else if a.starts_with('-') {
            argv.push(a.clone());
        } else {
            primary_seen = true;
            // Without a properties file (not how Spark starts a driver, but allowed) the extra
            // Python files go on the command line.
            if let (Some(extra), None) = (&extra_py_files, &properties) {
                argv.extend(["--py-files".to_owned(), extra.clone()]);
            }
            argv.push(localize(a, &fetch_dir, &mut fetches)?);
        }
        i += 1;
    }
    Ok(Plan { fetches, properties, argv })
}

/// The properties with the `oss://` URIs of `spark.jars`, `spark.files` and
/// `spark.submit.pyFiles` replaced by local paths, and `extra_py_files` (local paths already)
/// appended to `spark.submit.pyFiles`; every other line as it was.
fn rewrite_properties(
    text: &str,
    fetch_dir: &Path,
    fetches: &mut Vec<(String, PathBuf)>,
    extra_py_files: Option<&str>,
) -> Result<String, LauncherError> {
    let mut out = String::with_capacity(text.len());
    let mut extra = extra_py_files;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let parsed = (!trimmed.starts_with('#') && !trimmed.starts_with('!'))
            .then(|| trimmed.split_once('='))
            .flatten()
            .map(|(k, v)| (unescape(k.trim()), unescape(v.trim())));
        match parsed {
            Some((k, v)) if k == PY_FILES_PROPERTY && extra.is_some() => {
                let mut list = localize(&v, fetch_dir, fetches)?;
                if let Some(more) = extra.take() {
                    list = if list.is_empty() { more.to_owned() } else { format!("{list},{more}") };
                }
                out.push_str(&format!("{k}={}\n", escape(&list)));
            }
            Some((k, v)) if FETCHED_PROPERTIES.contains(&k.as_str()) && v.contains("oss://") => {
                out.push_str(&format!("{k}={}\n", escape(&localize(&v, fetch_dir, fetches)?)));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if let Some(more) = extra {
        out.push_str(&format!("{PY_FILES_PROPERTY}={}\n", escape(more)));
    }
    Ok(out)
}

/// The properties' keys and values (for tests and diagnostics).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (unescape(k.trim()), unescape(v.trim()))))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn a_cluster_mode_driver_gets_local_copies_of_its_oss_jars_and_files() {
        let props = "#Java properties\nspark.app.name=wc\nspark.jars=oss\\://bkt/jobs/app.jar,local\\:///opt/x.jar\nspark.files=oss\\://bkt/in/words.txt\nspark.executor.instances=2\n";
        let read = |p: &Path| {
            assert_eq!(p, Path::new("/opt/spark/conf/spark.properties"));
            Ok(props.to_owned())
        };
        let args = s(&[
            "driver",
            "--properties-file",
            "/opt/spark/conf/spark.properties",
            "--class",
            "Wc",
            "oss://bkt/jobs/app.jar",
            "oss://bkt/in/raw.txt",
            "--x",
        ]);
        let p = plan(&args, "/opt/entrypoint.sh", Path::new("/w"), Some("oss://bkt/in/extra.csv"), &read).unwrap();
        assert_eq!(
            p.argv,
            s(&[
                "/opt/entrypoint.sh",
                "driver",
                "--properties-file",
                "/w/sparkoss-fetched/spark.properties",
                "--class",
                "Wc",
                "/w/sparkoss-fetched/app.jar",
                "oss://bkt/in/raw.txt",
                "--x"
            ]),
            "the application's own arguments stay as they are"
        );
        assert_eq!(
            p.fetches,
            vec![
                ("oss://bkt/in/extra.csv".to_owned(), PathBuf::from("/w/extra.csv")),
                ("oss://bkt/jobs/app.jar".to_owned(), PathBuf::from("/w/sparkoss-fetched/app.jar")),
                ("oss://bkt/in/words.txt".to_owned(), PathBuf::from("/w/sparkoss-fetched/words.txt"))
            ]
        );
        let (path, text) = p.properties.unwrap();
        assert_eq!(path, PathBuf::from("/w/sparkoss-fetched/spark.properties"));
        let parsed = parse_properties(&text);
        assert_eq!(parsed["spark.jars"], "/w/sparkoss-fetched/app.jar,local:///opt/x.jar");
        assert_eq!(parsed["spark.files"], "/w/sparkoss-fetched/words.txt");
        assert_eq!(parsed["spark.executor.instances"], "2");

        let exec = plan(&s(&["executor"]), "/opt/entrypoint.sh", Path::new("/w"), Some("oss://bkt/in/extra.csv"), &read).unwrap();
        assert_eq!((exec.argv, exec.fetches.len()), (s(&["/opt/entrypoint.sh", "executor"]), 0), "executors pass through");
        let clash = plan(
            &s(&["driver", "--jars", "oss://aaa/x/lib.jar,oss://bbb/y/lib.jar", "oss://bbb/app.jar"]),
            "/e",
            Path::new("/w"),
            None,
            &read,
        );
        assert!(matches!(clash, Err(LauncherError::Usage(m)) if m.contains("same file name")));
    }

    #[test]
    fn a_cluster_mode_pyspark_driver_gets_its_py_and_python_files_fetched() {
        // As Spark 3.5's KubernetesClientApplication starts a Python driver: PythonRunner as the
        // class, the .py as the primary resource, Python files in spark.submit.pyFiles.
        let props = "spark.app.name=wc\nspark.submit.pyFiles=oss\\://bkt/lib/a.zip\nspark.executor.instances=2\n";
        let read = |_: &Path| Ok(props.to_owned());
        let args = s(&[
            "driver",
            "--properties-file",
            "/opt/spark/conf/spark.properties",
            "--class",
            "org.apache.spark.deploy.PythonRunner",
            "oss://bkt/jobs/wc.py",
            "in.txt",
        ]);
        let extras = DriverExtras { files: None, py_files: Some("oss://bkt/lib/helpers.zip,local:///opt/x.py") };
        let p = plan_with(&args, "/e", Path::new("/w"), extras, &read).unwrap();
        assert_eq!(
            p.argv,
            s(&[
                "/e",
                "driver",
                "--properties-file",
                "/w/sparkoss-fetched/spark.properties",
                "--class",
                "org.apache.spark.deploy.PythonRunner",
                "/w/sparkoss-fetched/wc.py",
                "in.txt"
            ])
        );
        let fetched: Vec<&str> = p.fetches.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(fetched, ["oss://bkt/lib/helpers.zip", "oss://bkt/lib/a.zip", "oss://bkt/jobs/wc.py"]);
        let parsed = parse_properties(&p.properties.unwrap().1);
        assert_eq!(parsed["spark.submit.pyFiles"], "/w/sparkoss-fetched/a.zip,/w/sparkoss-fetched/helpers.zip,local:///opt/x.py");

        // No pyFiles in the properties: the line is added.
        let read = |_: &Path| Ok("spark.app.name=wc\n".to_owned());
        let p = plan_with(&args, "/e", Path::new("/w"), extras, &read).unwrap();
        assert_eq!(parse_properties(&p.properties.unwrap().1)["spark.submit.pyFiles"], "/w/sparkoss-fetched/helpers.zip,local:///opt/x.py");
        // A --py-files flag is localized like --jars.
        let p = plan(&s(&["driver", "--py-files", "oss://bkt/h.zip", "oss://bkt/wc.py"]), "/e", Path::new("/w"), None, &read).unwrap();
        assert_eq!(p.argv, s(&["/e", "driver", "--py-files", "/w/sparkoss-fetched/h.zip", "/w/sparkoss-fetched/wc.py"]));
        let bad = plan_with(&args, "/e", Path::new("/w"), DriverExtras { files: None, py_files: Some("oss://bkt/x.jar") }, &read);
        assert!(matches!(bad, Err(LauncherError::Usage(m)) if m.contains("SPARKOSS_PY_FILES") && m.contains("x.jar")));
    }
}
