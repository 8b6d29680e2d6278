//! The job description (`run -- <flags>`) and the `spark-submit` command line built from it.
//!
//! Flags (each value flag takes the next argument):
//!
//! | flag | meaning | default |
//! |---|---|---|
//! | `--main-application URI` | `oss://`, `https://` or `local:///` jar, or a `.py` file for a PySpark application (required) | |
//! | `--main-class CLASS` | `--class` for spark-submit (a jar's only: refused with a `.py`) | none |
//! | `--name NAME` | application name | `sparkoss-job` |
//! | `--arg VALUE` | one application argument (repeat, in order) | |
//! | `--jar URI` | an extra jar (repeat) | |
//! | `--py-file URI` | a `.py`, `.zip` or `.egg` for a `.py` application's Python path (repeat, in order): passed as `--py-files` | |
//! | `--file URI` | a data or config file (repeat): put in the work dir under its base name (`local:///` ones copied there too) and passed as `--files`, so the application opens it by that name relative to its working directory, and executors get it through Spark | |
//! | `--conf KEY=VALUE` | Spark configuration (repeat) | |
//! | `--driver-cores N` / `--driver-memory SIZE` | driver resources | `1` / `1g` |
//! | `--executor-instances N` | executors; `0` runs `local[driver-cores]` | `0` |
//! | `--executor-cores N` / `--executor-memory SIZE` | executor resources | `1` / `1g` |
//! | `--namespace NS` | namespace executors are created in | `$SPARKOSS_NAMESPACE`, else the service account's |
//! | `--image IMAGE` | executor image | `$SPARKOSS_IMAGE` |
//! | `--driver-pod-name NAME` | owner of the executors | `$SPARKOSS_POD_NAME`, else `$HOSTNAME` |
//! | `--driver-host HOST` | address executors reach the driver at | `$SPARKOSS_DRIVER_HOST`, else `$SPARKOSS_POD_IP` |
//! | `--master URL` | Kubernetes API for executors | `k8s://https://kubernetes.default.svc` |
//!
//! URIs are `oss://bucket/key`, `https://...` or `local:///path`. Downloads land in the work dir
//! (`$SPARKOSS_WORK_DIR`, else the current directory), which is also `spark-submit`'s working
//! directory, under their base names: two inputs with the same base name (main application, jars
//! and files together, since Spark serves them by name) are a usage error naming the flag.
//!
//! The command is `$SPARK_HOME/bin/spark-submit --master M --deploy-mode client --name N
//! [--class C] --driver-memory D [--jars J1,J2] [--py-files P1,P2] [--files F1,F2] --conf K=V...
//! <main jar or .py> <args...>`, with the `--conf` pairs sorted by key. Settings given by flags win
//! over the same keys in `--conf`. A main application whose name ends in `.py` is a PySpark
//! application (as `spark-submit` decides it): Spark runs it with the image's Python
//! (`PYSPARK_PYTHON`), and its executors start Python workers for its Python functions.
//!
//! `$SPARKOSS_JOB_FLAGS`, when set, is a JSON array of more flags, appended to those after
//! `run --`: the provider passes the job's secret-bearing flags (`--conf`, `--arg`, presigned
//! `--jar`/`--file` URLs) that way, from a Secret, so they are not in the pod spec. The pod log
//! gets the command with every `--conf` value and application argument masked
//! ([`JobSpec::masked_line`]) and URIs without their query strings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::LauncherError;

/// The default Kubernetes master for drivers running inside the cluster.
pub const IN_CLUSTER_MASTER: &str = "k8s://https://kubernetes.default.svc";

/// One URI the job needs, with the flag that named it (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<'a> {
    /// `--main-application`, `--jar` or `--file`.
    pub flag: &'static str,
    /// The URI as given.
    pub uri: &'a str,
    /// Whether a `local:///` URI is copied into the work dir (downloads always land there).
    pub in_work_dir: bool,
}

/// A job as described on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The main application URI.
    pub main_application: String,
    /// The main class, if any.
    pub main_class: Option<String>,
    /// The application name.
    pub name: String,
    /// Application arguments.
    pub args: Vec<String>,
    /// Extra jar URIs.
    pub jars: Vec<String>,
    /// Python file URIs (`--py-files`, in order), for a `.py` application only.
    pub py_files: Vec<String>,
    /// File URIs (`--files`).
    pub files: Vec<String>,
    /// Spark configuration, in the order given (later duplicates win).
    pub conf: Vec<(String, String)>,
    /// Driver cores.
    pub driver_cores: u32,
    /// Driver memory (`2g`, `512m`).
    pub driver_memory: String,
    /// Executor count; 0 runs Spark locally in the driver.
    pub executor_instances: u32,
    /// Executor cores.
    pub executor_cores: u32,
    /// Executor memory.
    pub executor_memory: String,
    /// Namespace for executors.
    pub namespace: Option<String>,
    /// Executor image.
    pub image: Option<String>,
    /// The driver pod's name.
    pub driver_pod_name: Option<String>,
    /// The driver's address for executors.
    pub driver_host: Option<String>,
    /// The Kubernetes master URL.
    pub master: String,
}

fn memory_ok(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'b'));
    !digits.is_empty() && digits.len() + 2 >= s.len() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl JobSpec {
    /// Parses the flags after `run --`, filling defaults from `env` (a variable lookup).
    pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<JobSpec, LauncherError> {
        let usage = |m: String| LauncherError::Usage(m);
        let mut spec = JobSpec {
            main_application: String::new(),
            main_class: None,
            name: "sparkoss-job".into(),
            args: Vec::new(),
            jars: Vec::new(),
            py_files: Vec::new(),
            files: Vec::new(),
            conf: Vec::new(),
            driver_cores: 1,
            driver_memory: "1g".into(),
            executor_instances: 0,
            executor_cores: 1,
            executor_memory: "1g".into(),
            namespace: None,
            image: None,
            driver_pod_name: None,
            driver_host: None,
            master: IN_CLUSTER_MASTER.into(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().ok_or_else(|| usage(format!("{flag} needs a value")));
            let number = |v: String, name: &str| v.parse::<u32>().map_err(|_| usage(format!("{name} {v:?} is not a whole number")));
            match flag.as_str() {
                "--main-application" => spec.main_application = value()?,
                "--main-class" => spec.main_class = Some(value()?),
                "--name" => spec.name = value()?,
                "--arg" => spec.args.push(value()?),
                "--jar" => spec.jars.push(value()?),
                "--py-file" => spec.py_files.push(value()?),
                "--file" => spec.files.push(value()?),
                "--conf" => {
                    let v = value()?;
                    // The value is not quoted back: it may be a secret.
                    let (k, val) = v
                        .split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| usage("a --conf is not KEY=VALUE (no '=' or no key)".to_owned()))?;
                    spec.conf.push((k.to_owned(), val.to_owned()));
                }
                "--driver-cores" => spec.driver_cores = number(value()?, "--driver-cores")?,
                "--driver-memory" => spec.driver_memory = value()?,
                "--executor-instances" => spec.executor_instances = number(value()?, "--executor-instances")?,
                "--executor-cores" => spec.executor_cores = number(value()?, "--executor-cores")?,
                "--executor-memory" => spec.executor_memory = value()?,
                "--namespace" => spec.namespace = Some(value()?),
                "--image" => spec.image = Some(value()?),
                "--driver-pod-name" => spec.driver_pod_name = Some(value()?),
                "--driver-host" => spec.driver_host = Some(value()?),
                "--master" => spec.master = value()?,
                other => {
                    return Err(usage(format!(
                        "unknown job flag {other:?} (credentials are never passed as arguments; see `sparkoss-launcher --help`)"
                    )))
                }
            }
        }
        if spec.main_application.is_empty() {
            return Err(usage("--main-application is required".into()));
        }
        spec.check_application_kind()?;
        if spec.driver_cores == 0 || spec.executor_cores == 0 {
            return Err(usage("--driver-cores and --executor-cores must be at least 1".into()));
        }
        for (flag, m) in [("--driver-memory", &spec.driver_memory), ("--executor-memory", &spec.executor_memory)] {
            if !memory_ok(m) {
                return Err(usage(format!("{flag} {m:?} is not a size like 512m or 2g")));
            }
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        spec.namespace = nonempty(spec.namespace.take()).or_else(|| nonempty(env("SPARKOSS_NAMESPACE")));
        spec.image = nonempty(spec.image.take()).or_else(|| nonempty(env("SPARKOSS_IMAGE")));
        spec.driver_pod_name =
            nonempty(spec.driver_pod_name.take()).or_else(|| nonempty(env("SPARKOSS_POD_NAME"))).or_else(|| nonempty(env("HOSTNAME")));
        spec.driver_host = nonempty(spec.driver_host.take())
            .or_else(|| nonempty(env("SPARKOSS_DRIVER_HOST")))
            .or_else(|| nonempty(env("SPARKOSS_POD_IP")));
        if spec.executor_instances > 0 {
            let missing: Vec<&str> = [
                ("--namespace (or SPARKOSS_NAMESPACE)", spec.namespace.is_none()),
                ("--image (or SPARKOSS_IMAGE)", spec.image.is_none()),
                ("--driver-host (or SPARKOSS_POD_IP)", spec.driver_host.is_none()),
            ]
            .into_iter()
            .filter_map(|(n, m)| m.then_some(n))
            .collect();
            if !missing.is_empty() {
                return Err(usage(format!("executors need {}", missing.join(", "))));
            }
        }
        Ok(spec)
    }

    /// Whether the main application is a Python file (`spark-submit`'s own rule: the name ends in `.py`).
    pub fn is_python(&self) -> bool {
        is_python_application(&self.main_application)
    }

    /// A `.py` application takes no main class; Python files need a `.py` application and must be
    /// `.py`, `.zip` or `.egg` (what Python can import from).
    fn check_application_kind(&self) -> Result<(), LauncherError> {
        let usage = |m: String| Err(LauncherError::Usage(m));
        if self.is_python() {
            if let Some(class) = &self.main_class {
                return usage(format!("--main-class {class:?} given, but --main-application is a Python file: Spark runs a .py itself"));
            }
        } else if let Some(first) = self.py_files.first() {
            return usage(format!(
                "--py-file {first:?} given, but --main-application is not a .py: Python files are for PySpark applications"
            ));
        }
        if let Some(bad) = self.py_files.iter().find(|u| !is_python_library(u)) {
            return usage(format!("--py-file {bad:?} is not a .py, .zip or .egg"));
        }
        Ok(())
    }

    /// Everything to fetch, in order: the main application, the extra jars, the Python files, then the files.
    pub fn inputs(&self) -> Vec<Input<'_>> {
        let main = Input { flag: "--main-application", uri: &self.main_application, in_work_dir: false };
        let jars = self.jars.iter().map(|uri| Input { flag: "--jar", uri, in_work_dir: false });
        let py_files = self.py_files.iter().map(|uri| Input { flag: "--py-file", uri, in_work_dir: false });
        // Files are opened by base name relative to the working directory: even one already in
        // the image must be there.
        let files = self.files.iter().map(|uri| Input { flag: "--file", uri, in_work_dir: true });
        std::iter::once(main).chain(jars).chain(py_files).chain(files).collect()
    }

    /// The `spark-submit` argv (program first) given where each of [`JobSpec::inputs`] is on disk.
    pub fn spark_submit_argv(&self, spark_home: &Path, local: &[PathBuf]) -> Vec<String> {
        let program = spark_home.join("bin/spark-submit");
        let mut conf: BTreeMap<String, String> = self.conf.iter().cloned().collect();
        let mut set = |k: &str, v: String| {
            conf.insert(k.to_owned(), v);
        };
        set("spark.driver.cores", self.driver_cores.to_string());
        let master = if self.executor_instances == 0 {
            format!("local[{}]", self.driver_cores)
        } else {
            set("spark.executor.instances", self.executor_instances.to_string());
            set("spark.executor.cores", self.executor_cores.to_string());
            set("spark.executor.memory", self.executor_memory.clone());
            if let Some(ns) = &self.namespace {
                set("spark.kubernetes.namespace", ns.clone());
            }
            if let Some(img) = &self.image {
                set("spark.kubernetes.container.image", img.clone());
            }
            if let Some(pod) = &self.driver_pod_name {
                // Executors get the driver pod as owner, so deleting the driver deletes them.
                set("spark.kubernetes.driver.pod.name", pod.clone());
            }
            if let Some(host) = &self.driver_host {
                set("spark.driver.host", host.clone());
            }
            set("spark.driver.bindAddress", "0.0.0.0".into());
            self.master.clone()
        };
        let mut argv = vec![
            program.display().to_string(),
            "--master".into(),
            master,
            "--deploy-mode".into(),
            "client".into(),
            "--name".into(),
            self.name.clone(),
        ];
        if let Some(class) = &self.main_class {
            argv.extend(["--class".into(), class.clone()]);
        }
        argv.extend(["--driver-memory".into(), self.driver_memory.clone()]);
        let joined = |paths: &[PathBuf]| paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
        let rest = local.get(1..).unwrap_or_default();
        let (jars, rest) = rest.split_at(self.jars.len().min(rest.len()));
        let (py_files, files) = rest.split_at(self.py_files.len().min(rest.len()));
        if !jars.is_empty() {
            argv.extend(["--jars".into(), joined(jars)]);
        }
        if !py_files.is_empty() {
            argv.extend(["--py-files".into(), joined(py_files)]);
        }
        if !files.is_empty() {
            argv.extend(["--files".into(), joined(files)]);
        }
        for (k, v) in conf {
            argv.extend(["--conf".into(), format!("{k}={v}")]);
        }
        if let Some(main) = local.first() {
            argv.push(main.display().to_string());
        }
        argv.extend(self.args.iter().cloned());
        argv
    }
}

/// The path part of a URI (no query string: an `https://` URL may carry a signature after `?`).
fn uri_path(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// Whether `uri` names a Python application (`.py`), as `spark-submit` decides.
pub fn is_python_application(uri: &str) -> bool {
    uri_path(uri).ends_with(".py")
}

/// Whether `uri` names something Python imports from: a `.py`, `.zip` or `.egg`.
pub fn is_python_library(uri: &str) -> bool {
    let path = uri_path(uri);
    [".py", ".zip", ".egg"].iter().any(|ext| path.ends_with(ext))
}

/// The extra flags in `$SPARKOSS_JOB_FLAGS` (a JSON array of strings), none when unset or empty.
pub fn flags_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, LauncherError> {
    match env("SPARKOSS_JOB_FLAGS").filter(|s| !s.trim().is_empty()) {
        None => Ok(Vec::new()),
        // The error does not quote the text: it holds secrets.
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            LauncherError::Usage(format!("SPARKOSS_JOB_FLAGS is not a JSON array of strings (at {}:{})", e.line(), e.column()))
        }),
    }
}

impl JobSpec {
    /// [`shell_line`] of `argv` (from [`JobSpec::spark_submit_argv`]) for the pod log: every
    /// `--conf` value and every application argument becomes `***` (the keys stay), and URIs
    /// lose their query strings.
    pub fn masked_line(&self, argv: &[String]) -> String {
        let args_from = argv.len().saturating_sub(self.args.len());
        let mut shown = Vec::with_capacity(argv.len());
        let mut after_conf = false;
        for (i, a) in argv.iter().enumerate() {
            // `***` is left unquoted: the line is for reading, not for a shell.
            let masked = if i >= args_from {
                "***".to_owned()
            } else if after_conf {
                a.split_once('=').map_or_else(|| "***".to_owned(), |(k, _)| format!("{}=***", shell_line(&[k.to_owned()])))
            } else {
                shell_line(&[crate::fetch::redact(a).to_owned()])
            };
            after_conf = a == "--conf";
            shown.push(masked);
        }
        shown.join(" ")
    }
}

/// Quotes `argv` for a POSIX shell, one line (what `--dry-run` prints).
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_and_validates() {
        let no_env = |_: &str| None;
        let e = JobSpec::parse(&args(&["--main-class", "X"]), &no_env).unwrap_err();
        assert!(e.to_string().contains("--main-application is required"));
        let e = JobSpec::parse(&args(&["--main-application", "local:///a.jar", "--access-key-secret", "s"]), &no_env).unwrap_err();
        assert!(e.to_string().contains("unknown job flag \"--access-key-secret\""), "{e}");
        let e = JobSpec::parse(&args(&["--main-application", "local:///a.jar", "--executor-instances", "2"]), &no_env).unwrap_err();
        assert!(e.to_string().contains("--namespace") && e.to_string().contains("--image"), "{e}");
        let e = JobSpec::parse(&args(&["--main-application", "local:///a.jar", "--driver-memory", "lots"]), &no_env).unwrap_err();
        assert!(e.to_string().contains("--driver-memory"), "{e}");
        let env = |k: &str| (k == "SPARKOSS_POD_IP").then(|| "10.0.0.7".to_owned());
        let s = JobSpec::parse(&args(&["--main-application", "local:///a.jar", "--conf", "a=b=c"]), &env).unwrap();
        assert_eq!(s.conf, vec![("a".to_owned(), "b=c".to_owned())]);
        assert_eq!(s.driver_host.as_deref(), Some("10.0.0.7"));
    }

    #[test]
    fn a_py_application_gets_its_python_files_as_py_files_and_no_class() {
        let no_env = |_: &str| None;
        let s = JobSpec::parse(
            &args(&[
                "--main-application",
                "oss://b/jobs/wc.py",
                "--py-file",
                "oss://b/lib/helpers.zip",
                "--py-file",
                "local:///opt/extra.py",
                "--jar",
                "oss://b/lib/udf.jar",
                "--file",
                "oss://b/in/words.txt",
                "--arg",
                "words.txt",
            ]),
            &no_env,
        )
        .unwrap();
        assert!(s.is_python());
        let flags: Vec<&str> = s.inputs().iter().map(|i| i.flag).collect();
        assert_eq!(flags, ["--main-application", "--jar", "--py-file", "--py-file", "--file"]);
        let local: Vec<PathBuf> =
            ["/w/wc.py", "/w/udf.jar", "/w/helpers.zip", "/opt/extra.py", "/w/words.txt"].iter().map(PathBuf::from).collect();
        let line = shell_line(&s.spark_submit_argv(Path::new("/opt/spark"), &local));
        assert_eq!(
            line,
            "/opt/spark/bin/spark-submit --master 'local[1]' --deploy-mode client --name sparkoss-job --driver-memory 1g \
             --jars /w/udf.jar --py-files /w/helpers.zip,/opt/extra.py --files /w/words.txt --conf spark.driver.cores=1 /w/wc.py words.txt"
        );
        assert!(!line.contains("--class"));

        let bad = |a: &[&str]| JobSpec::parse(&args(a), &no_env).unwrap_err().to_string();
        let e = bad(&["--main-application", "oss://b/wc.py", "--main-class", "Wc"]);
        assert!(e.contains("--main-class") && e.contains("Python file"), "{e}");
        let e = bad(&["--main-application", "oss://b/wc.jar", "--py-file", "oss://b/h.zip"]);
        assert!(e.contains("--py-file") && e.contains("not a .py"), "{e}");
        let e = bad(&["--main-application", "oss://b/wc.py", "--py-file", "oss://b/h.tar.gz"]);
        assert!(e.contains("--py-file \"oss://b/h.tar.gz\" is not a .py, .zip or .egg"), "{e}");
        assert!(is_python_application("https://h/x/job.py?Signature=abc"));
        assert!(!is_python_application("oss://b/job.py.jar"));
    }

    #[test]
    fn the_logged_command_masks_conf_values_and_arguments() {
        let env = |k: &str| match k {
            "SPARKOSS_JOB_FLAGS" => Some(r#"["--conf","spark.hadoop.fs.oss.accessKeySecret=MARK1","--arg","MARK2"]"#.to_owned()),
            _ => None,
        };
        let mut flags = args(&["--main-application", "local:///a.jar", "--conf", "spark.x=MARK3", "--arg", "plain"]);
        flags.extend(flags_from_env(&env).unwrap());
        let s = JobSpec::parse(&flags, &env).unwrap();
        assert_eq!(s.args, ["plain", "MARK2"]);
        let argv = s.spark_submit_argv(Path::new("/opt/spark"), &[PathBuf::from("/w/a.jar")]);
        let line = s.masked_line(&argv);
        assert!(!line.contains("MARK") && !line.contains("plain"), "{line}");
        assert!(line.contains("--conf spark.hadoop.fs.oss.accessKeySecret=*** ") && line.ends_with("/w/a.jar *** ***"), "{line}");
        assert!(shell_line(&argv).contains("MARK3"), "the real command keeps the values");
        let bad = |k: &str| (k == "SPARKOSS_JOB_FLAGS").then(|| "[\"--arg\", SECRET".to_owned());
        let e = flags_from_env(&bad).unwrap_err().to_string();
        assert!(e.contains("SPARKOSS_JOB_FLAGS") && !e.contains("SECRET"), "{e}");
        let e = JobSpec::parse(&args(&["--main-application", "local:///a.jar", "--conf", "SECRET"]), &env).unwrap_err().to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_line(&args(&["a", "b c", "it's", "", "--conf", "k=v"])), "a 'b c' 'it'\\''s' '' --conf k=v");
    }
}
