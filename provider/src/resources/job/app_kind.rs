//! The kind of application a job runs, from the name of its main application (`.jar`: a JVM
//! application; `.py`: a PySpark application, as `spark-submit` decides it), and the plan-time
//! checks that follow from it: `main_class` only with a jar, `py_files` only with a `.py`, and each
//! Python file something Python can import from.

use std::collections::BTreeMap;

use super::schema::{base_name, redact_uri};
use crate::core::{AttrPath, Diagnostics, Value};

/// What `main_application` may end with, for messages.
pub(super) const ACCEPTED_APPLICATIONS: &str =
    "`.jar` (a JVM application, with `main_class` or the jar's manifest) or `.py` (a PySpark application)";

/// What a `py_files` entry may end with.
pub(super) const PY_FILE_EXTENSIONS: &[&str] = &[".py", ".zip", ".egg"];

/// The kind of a Spark application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AppKind {
    /// A jar run by the JVM.
    Jvm,
    /// A `.py` file run by Python, with Spark's JVM behind it.
    Python,
}

/// The path of a URI without query or fragment. Extensions compare exactly, as `spark-submit`
/// compares them (`job.PY` is not a Python application to Spark).
fn path_of(uri: &str) -> String {
    redact_uri(uri).to_owned()
}

/// The kind of application `uri` names, `None` when its name ends in neither `.jar` nor `.py`.
pub(super) fn app_kind(uri: &str) -> Option<AppKind> {
    let path = path_of(uri);
    if path.ends_with(".jar") {
        Some(AppKind::Jvm)
    } else if path.ends_with(".py") {
        Some(AppKind::Python)
    } else {
        None
    }
}

/// The plan-time checks of the application kind, each on the attribute at fault. Values known
/// only at apply are not judged.
pub(super) fn validate_app_kind(config: &Value, diags: &mut Diagnostics) {
    let root = AttrPath::root();
    let py_files = config.attr("py_files").elements().unwrap_or_default();
    for (i, f) in py_files.iter().enumerate() {
        let Some(uri) = f.as_str() else { continue };
        let path = path_of(uri);
        if !PY_FILE_EXTENSIONS.iter().any(|ext| path.ends_with(ext)) {
            diags.attr_error(
                &root.attr("py_files").index(i),
                "Not a Python file",
                format!("{:?} is not a `.py`, `.zip` or `.egg`: py_files are what Python imports from", redact_uri(uri)),
            );
        }
    }
    validate_py_file_names(config, diags);
    let Some(main) = config.attr("main_application").as_str() else { return };
    match app_kind(main) {
        None => diags.attr_error(
            &root.attr("main_application"),
            "Unknown application kind",
            format!("{:?}: the kind of application follows from its name, which must end in {ACCEPTED_APPLICATIONS}", redact_uri(main)),
        ),
        Some(AppKind::Python) => {
            if let Some(class) = config.attr("main_class").as_str() {
                diags.attr_error(
                    &root.attr("main_class"),
                    "Main class with a Python application",
                    format!(
                        "main_class {class:?} is set, but main_application is a `.py`: Spark runs a Python file itself; remove main_class"
                    ),
                );
            }
        }
        Some(AppKind::Jvm) => {
            if !py_files.is_empty() {
                diags.attr_error(
                    &root.attr("py_files"),
                    "Python files with a JVM application",
                    "py_files are for a PySpark application (main_application ending in `.py`); a jar's libraries go in `jars`",
                );
            }
        }
    }
}

/// The launcher puts every input in one folder by base name: a Python file may not share its name
/// with the main application, a jar, a file, or another Python file.
fn validate_py_file_names(config: &Value, diags: &mut Diagnostics) {
    let Some(py_files) = config.attr("py_files").elements() else { return };
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    let claim = |name: Option<String>, who: String, taken: &mut BTreeMap<String, String>| {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            taken.entry(n).or_insert(who);
        }
    };
    claim(config.attr("main_application").as_str().and_then(base_name), "main_application".into(), &mut taken);
    for attr in ["jars", "files"] {
        for (i, v) in config.attr(attr).elements().unwrap_or_default().iter().enumerate() {
            claim(v.as_str().and_then(base_name), format!("{attr}[{i}]"), &mut taken);
        }
    }
    for (i, f) in py_files.iter().enumerate() {
        let Some(name) = f.as_str().and_then(base_name).filter(|n| !n.is_empty()) else { continue };
        if let Some(other) = taken.get(&name) {
            diags.attr_error(
                &AttrPath::root().attr("py_files").index(i),
                "Python file name clashes",
                format!("py_files[{i}] and {other} both have the base name {name:?} in the driver's working directory; rename one of them"),
            );
            continue;
        }
        taken.insert(name, format!("py_files[{i}]"));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::super::pods::{launcher_args, secret_flags};
    use super::super::probe::JarProbe;
    use super::super::spec::{spec_json, JobSpec};
    use super::super::Job;
    use super::*;
    use crate::resource::{OpContext, Resource};

    fn config(extra: serde_json::Value) -> Value {
        let mut j = serde_json::json!({
            "name": "wc", "namespace": "team-a", "image": "reg/spark-oss:3.5.3",
            "main_application": "oss://jobs/py/wc.py", "args": ["words.txt"],
            "executor": {"instances": 2, "cores": 1, "memory": "1g", "memory_overhead": null},
        });
        if let (Some(m), Some(e)) = (j.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        Value::from_json(&j, &Job::new().schema().block.implied_type()).expect("fits the schema")
    }

    fn validation(extra: serde_json::Value) -> Vec<(Option<AttrPath>, String)> {
        let mut d = Diagnostics::new();
        Job::new().validate(&config(extra), &mut d);
        d.0.into_iter().map(|x| (x.path, x.detail)).collect()
    }

    #[test]
    fn the_kind_follows_from_the_name() {
        assert_eq!(app_kind("oss://b/etl/app.jar"), Some(AppKind::Jvm));
        assert_eq!(app_kind("https://h/x/job.py?sig=abc.jar"), Some(AppKind::Python));
        assert_eq!(app_kind("oss://b/x/job.PY"), None, "spark-submit would not run it as Python");
        assert_eq!(app_kind("local:///opt/app.R"), None);
    }

    #[test]
    fn python_jobs_are_checked_at_plan_naming_the_attribute() {
        let at = |p: &str| Some(AttrPath::root().attr(p));
        let py = |i: usize| Some(AttrPath::root().attr("py_files").index(i));
        assert!(
            validation(serde_json::json!({"py_files": ["oss://jobs/py/lib.zip", "https://h/x/util.py", "local:///opt/e.egg"]})).is_empty()
        );

        let got = validation(serde_json::json!({"main_class": "com.acme.Wc"}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, at("main_class"));
        assert!(got[0].1.contains("main_application is a `.py`"), "{got:?}");

        let got = validation(serde_json::json!({"main_application": "oss://jobs/etl.jar", "py_files": ["oss://jobs/py/lib.zip"]}));
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [at("py_files")], "{got:?}");

        let got = validation(serde_json::json!({"main_application": "oss://jobs/etl.scala"}));
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [at("main_application")], "{got:?}");
        assert!(got[0].1.contains("`.jar`") && got[0].1.contains("`.py`"), "the accepted kinds are listed: {got:?}");

        let got = validation(serde_json::json!({"py_files": ["oss://jobs/py/lib.zip", "oss://jobs/py/lib.tar.gz"]}));
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [py(1)], "{got:?}");
        assert!(got[0].1.contains("not a `.py`, `.zip` or `.egg`"), "{got:?}");

        let got = validation(serde_json::json!({"py_files": ["oss://other/wc.py"]}));
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [py(0)], "{got:?}");
        assert!(got[0].1.contains("main_application"), "{got:?}");

        // Spark's own setting for Python files would fight the attribute.
        let got = validation(serde_json::json!({"spark_conf": {"spark.submit.pyFiles": "x.zip"}}));
        assert!(got.iter().any(|g| g.1.contains("py_files")), "{got:?}");
    }

    #[test]
    fn the_launcher_gets_the_py_and_each_python_file_in_order_and_no_class() {
        let v = config(serde_json::json!({"py_files": ["oss://jobs/py/b.zip", "oss://jobs/py/a.py"], "jars": ["oss://jobs/lib/udf.jar"]}));
        let spec = JobSpec::from_value(&v);
        // What the launcher runs: the pod's arguments and the flags it reads from the job's Secret.
        let mut args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
        args.extend(secret_flags(&v, &spec, "spark-1"));
        assert_eq!(&args[..4], ["run", "--", "--main-application", "oss://jobs/py/wc.py"]);
        let py: Vec<&str> = args.windows(2).filter(|w| w[0] == "--py-file").map(|w| w[1].as_str()).collect();
        assert_eq!(py, ["oss://jobs/py/b.zip", "oss://jobs/py/a.py"]);
        assert!(!args.iter().any(|a| a == "--main-class"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--jar", "oss://jobs/lib/udf.jar"]), "{args:?}");
        // Import rebuilds py_files from the annotation.
        let back = Value::from_json(&spec_json(&v), &Job::new().schema().block.implied_type()).expect("fits");
        assert_eq!(back.attr("py_files"), v.attr("py_files"));
    }

    /// ETags by key; a missing key is a missing object.
    struct Etags(std::sync::Mutex<BTreeMap<String, String>>);

    #[async_trait]
    impl JarProbe for Etags {
        async fn etag(&self, _bucket: &str, key: &str) -> Result<Option<String>, String> {
            Ok(self.0.lock().expect("lock").get(key).cloned())
        }
    }

    #[tokio::test]
    async fn python_files_are_checked_before_the_run_and_a_new_upload_re_runs_the_job() {
        let etags = BTreeMap::from([("py/lib.zip".to_owned(), "\"z1\"".to_owned())]);
        let probe = Arc::new(Etags(std::sync::Mutex::new(etags)));
        let mut job = Job::with_probe(Some(probe.clone()));
        job.etag_ttl = std::time::Duration::ZERO;
        let ctx = OpContext { config: Arc::new(crate::config::ProviderConfig::default()) };
        let files = ["oss://jobs/py/lib.zip".to_owned(), "https://h/x/util.py".to_owned()];
        assert_eq!(job.preflight_py_files(&ctx, &files).await.expect("found"), ["\"z1\"", ""]);
        let missing = job.preflight_py_files(&ctx, &["oss://jobs/py/gone.zip".to_owned()]).await.expect_err("missing");
        assert_eq!(missing.0[0].path, Some(AttrPath::root().attr("py_files").index(0)));
        assert!(missing.0[0].detail.contains("oss://jobs/py/gone.zip does not exist on OSS. Nothing was created."), "{missing:?}");

        let mut state = config(serde_json::json!({"py_files": files, "py_files_etags": ["\"z1\"", ""]}));
        job.mark_changed_py_files(&ctx, &mut state).await;
        assert_eq!(state.attr("py_files").elements().map(<[Value]>::len), Some(2));
        assert_eq!(state.attr("py_files").elements().and_then(|e| e[0].as_str()), Some("oss://jobs/py/lib.zip"), "unchanged");

        probe.0.lock().expect("lock").insert("py/lib.zip".into(), "\"z2\"".into());
        job.mark_changed_py_files(&ctx, &mut state).await;
        let marked = state.attr("py_files").elements().and_then(|e| e[0].as_str()).expect("string").to_owned();
        assert_eq!(marked, "oss://jobs/py/lib.zip (changed on OSS since the run: ETag \"z1\" -> ETag \"z2\")");
        assert_eq!(state.attr("py_files").elements().and_then(|e| e[1].as_str()), Some("https://h/x/util.py"), "not on OSS: untouched");
    }
}
