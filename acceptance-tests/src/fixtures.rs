//! Set-ups the Terraform tests and benchmarks share: the `required_providers` header, a
//! `provider "sparkoss"` block aimed at the local cloud, and a kubeconfig file for its Kubernetes
//! API.

use std::path::PathBuf;

use sparkoss_localcloud::Endpoints;
use sparkoss_testkit::kube_client::kubeconfig_for;

/// The `terraform { required_providers { ... } }` block every configuration starts with.
pub const TERRAFORM_HEADER: &str = r#"
terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss" }
  }
}
"#;

/// `provider "sparkoss"` for the local cloud at `ep`: region `cn-local`, the local cloud's keys as
/// arguments, and `endpoints` naming each of `services` (`"ack"`, `"oss"`).
pub fn local_provider(ep: &Endpoints, services: &[&str]) -> String {
    let endpoints: String = services
        .iter()
        .map(|s| {
            let url = if *s == "ack" { &ep.ack_endpoint } else { &ep.oss_endpoint };
            format!("    {s} = {url:?}\n")
        })
        .collect();
    format!(
        "provider \"sparkoss\" {{\n  region     = \"cn-local\"\n  access_key = {:?}\n  secret_key = {:?}\n  endpoints {{\n{endpoints}  }}\n}}\n",
        ep.access_key_id, ep.access_key_secret
    )
}

/// An admin kubeconfig for the local cloud's Kubernetes API, in a temporary folder that lives as
/// long as this value.
pub struct KubeconfigFile {
    _dir: tempfile::TempDir,
    /// The file.
    pub path: PathBuf,
}

impl KubeconfigFile {
    /// Writes the kubeconfig for the API server at `kubernetes_endpoint`.
    pub fn new(kubernetes_endpoint: &str) -> std::io::Result<KubeconfigFile> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig_for(kubernetes_endpoint)?)?;
        Ok(KubeconfigFile { _dir: dir, path })
    }

    /// A kubeconfig for the API server at `kubernetes_endpoint` (its CA from the admin one) that
    /// authenticates with `token`, a service account's: the token stays in the file (mode 0600),
    /// never in a process's arguments.
    pub fn with_token(kubernetes_endpoint: &str, token: &str) -> std::io::Result<KubeconfigFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let admin = kubeconfig_for(kubernetes_endpoint)?;
        let mut replaced = 0;
        let text: String = admin
            .lines()
            .map(|l| match l.trim_start().strip_prefix("token: ") {
                Some(_) => {
                    replaced += 1;
                    format!("{}token: {token}\n", &l[..l.len() - l.trim_start().len()])
                }
                None => format!("{l}\n"),
            })
            .collect();
        if replaced != 1 {
            return Err(std::io::Error::other(format!("the admin kubeconfig has {replaced} token lines, not one")));
        }
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kubeconfig");
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        Ok(KubeconfigFile { _dir: dir, path })
    }

    /// The resource argument that connects through this file: `kubeconfig_path = "..."`.
    pub fn argument(&self) -> String {
        format!("kubeconfig_path = {:?}", self.path.display().to_string())
    }
}

/// A configuration with one `sparkoss_cluster.c` named `name` (resource arguments in `body`) on
/// the local cloud's ACK at `ack_endpoint`. The provider block names no keys: cluster tests pass
/// them through the environment, the way most users do.
pub fn cluster_config(ack_endpoint: &str, name: &str, body: &str) -> String {
    format!(
        "{TERRAFORM_HEADER}provider \"sparkoss\" {{\n  region = \"cn-local\"\n  endpoints {{\n    ack = {ack_endpoint:?}\n  }}\n}}\nresource \"sparkoss_cluster\" \"c\" {{\n  name = {name:?}\n{body}\n}}\n"
    )
}

/// Runs `kubectl --kubeconfig KUBECONFIG ARGS...` (Debian's kubectl, or the one
/// `scripts/install-tools` installs), with `stdin` written to it when given; answers its output.
pub fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&[u8]>) -> std::io::Result<std::process::Output> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(input) = stdin {
        child.stdin.take().ok_or_else(|| std::io::Error::other("kubectl's stdin"))?.write_all(input)?;
    }
    drop(child.stdin.take());
    child.wait_with_output()
}

/// Imports `/bin/busybox` (Debian's busybox-static) as a one-layer image named `tag` with the
/// given applets as links, once: the engine here pulls nothing, so test images are made locally.
pub fn busybox_image(tag: &str, applets: &[&str]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let exists = Command::new("docker").args(["image", "inspect", tag]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if exists.is_ok_and(|s| s.success()) {
        return;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox-static)");
    let mut h = tar::Header::new_gnu();
    h.set_size(busybox.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(1_704_067_200);
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice()).expect("tar busybox");
    for applet in applets {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        l.set_mode(0o777);
        l.set_mtime(1_704_067_200);
        tar.append_link(&mut l, format!("bin/{applet}"), "busybox").expect("tar link");
    }
    let bytes = tar.into_inner().expect("tar");
    let mut child = Command::new("docker")
        .args(["import", "--change", "ENV PATH=/bin", "-", tag])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker import");
    child.stdin.take().expect("stdin").write_all(&bytes).expect("write tar");
    let out = child.wait_with_output().expect("docker import ends");
    assert!(out.status.success(), "docker import: {}", String::from_utf8_lossy(&out.stderr));
}

/// Creates `bucket` on the local cloud's OSS and uploads each `(key, file)` with the official
/// `oss2` SDK (the keys reach Python through its environment, never its arguments).
pub fn oss_put(ep: &Endpoints, bucket: &str, objects: &[(&str, &std::path::Path)]) {
    let py = crate::repo_root().join(".tools/venv/bin/python");
    let script = "import os, sys, oss2\n\
auth = oss2.AuthV4(os.environ['AK'], os.environ['SK'])\n\
b = oss2.Bucket(auth, sys.argv[1], sys.argv[2], region='cn-local', is_path_style=True)\n\
b.create_bucket()\n\
for key, path in zip(sys.argv[3::2], sys.argv[4::2]):\n    b.put_object_from_file(key, path)\n";
    let mut cmd = std::process::Command::new(py);
    cmd.arg("-c").arg(script).arg(&ep.oss_endpoint).arg(bucket);
    for (key, path) in objects {
        cmd.arg(key).arg(path);
    }
    let out = cmd.env("AK", &ep.access_key_id).env("SK", &ep.access_key_secret).output().expect("python runs");
    assert!(out.status.success(), "oss2 upload: {}", String::from_utf8_lossy(&out.stderr));
}

/// The word-count jobs' input: a text with repeated words, punctuation and mixed case
/// (tokenising matters).
pub fn input_text() -> String {
    let words = ["spark", "OSS", "kubernetes", "Terraform", "spark", "jar", "driver", "spark", "oss", "pod"];
    let mut text = String::new();
    for line in 0..120usize {
        for i in 0..(1 + line % 7) {
            text.push_str(words[(line * 3 + i * 7) % words.len()]);
            text.push_str(if i % 3 == 0 { ", " } else { " " });
        }
        text.push('\n');
    }
    text
}

/// The counts the word-count job must find, computed here independently of Spark.
pub fn expected_counts(text: &str) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// A GET to the local cloud's Kubernetes API answering the body as text (pod logs are
/// text/plain); the answer must be 200.
pub fn get_text(endpoint: &str, path: &str) -> String {
    let (code, body) = http_get(endpoint, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

/// One plain-HTTP GET on loopback: the status code and the body as text.
pub fn http_get(endpoint: &str, path: &str) -> std::io::Result<(u16, String)> {
    let (code, body) = sparkoss_testkit::http::get(&loopback_http(endpoint, path)).map_err(std::io::Error::other)?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// The plain-HTTP URL of `path` on `endpoint`'s port: the API server serves plain HTTP on
/// loopback as the administrator (like `kubectl proxy`), the other emulators only plain HTTP.
fn loopback_http(endpoint: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    format!("http://{addr}{path}")
}

/// Every version of the watched pods, with when it arrived.
pub type PodWatch = std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, serde_json::Value)>>>;

/// The pod versions a [`watch_pods`] has seen so far.
pub fn seen_pods(watch: &PodWatch) -> Vec<serde_json::Value> {
    watch.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, o)| o.clone()).collect()
}

/// Collects every version of the pods in `ns` matching `selector` that a watch reports, until the
/// test ends (a background thread; plain HTTP on loopback, as the administrator). Returns once the
/// API server has accepted the watch, so nothing after the call is missed.
pub fn watch_pods(endpoint: &str, ns: &str, selector: &str) -> PodWatch {
    use std::io::BufRead;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let path = format!("/api/v1/namespaces/{ns}/pods?watch=true&timeoutSeconds=600&labelSelector={}", selector.replace('=', "%3D"));
    let url = loopback_http(endpoint, &path);
    let (accepted, accepted_rx) = std::sync::mpsc::channel();
    let out = seen.clone();
    std::thread::spawn(move || {
        // No timeout: the server ends the watch (timeoutSeconds) or the test process does.
        let response = sparkoss_testkit::http::client(None).map_err(|e| e.to_string()).and_then(|c| {
            let r = c.get(&url).send().map_err(|e| e.to_string())?;
            if r.status() != 200 {
                return Err(format!("HTTP {}", r.status()));
            }
            Ok(r)
        });
        let response = match response {
            Ok(r) => {
                let _ = accepted.send(Ok(()));
                r
            }
            Err(e) => {
                let _ = accepted.send(Err(e));
                return;
            }
        };
        for line in std::io::BufReader::new(response).lines() {
            let Ok(line) = line else { break };
            // Every event is one JSON line.
            if let Ok(ev) = serde_json::from_str::<serde_json::Value>(line.trim()) {
                if ev["type"].is_string() && ev["object"].is_object() {
                    out.lock().unwrap_or_else(|p| p.into_inner()).push((std::time::Instant::now(), ev["object"].clone()));
                }
            }
        }
    });
    match accepted_rx.recv() {
        Ok(Ok(())) => seen,
        Ok(Err(e)) => panic!("watch {path}: {e}"),
        Err(_) => panic!("watch {path}: the watching thread ended before an answer"),
    }
}

/// A Terraform working directory holding `examples/quickstart`, aimed at the local cloud at `ep`
/// with the job image `image`: everything through the environment (`TF_VAR_*` and the keys), so
/// apply, output and destroy all see the same values.
pub fn quickstart_workdir(tf: &crate::Terraform, ep: &Endpoints, image: &str) -> Result<crate::Workdir, crate::HarnessError> {
    let mut wd = crate::Workdir::new(tf, &crate::provider_bin()?, "")?;
    wd.load_example(&sparkoss_quickstart::image::quickstart_dir())?;
    for (k, v) in [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", ep.access_key_id.as_str()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ep.access_key_secret.as_str()),
        ("TF_VAR_oss_access_key_id", ep.access_key_id.as_str()),
        ("TF_VAR_oss_access_key_secret", ep.access_key_secret.as_str()),
        ("TF_VAR_ack_endpoint", ep.ack_endpoint.as_str()),
        ("TF_VAR_oss_endpoint", ep.oss_endpoint.as_str()),
        ("TF_VAR_image", image),
    ] {
        wd.set_env(k, v);
    }
    Ok(wd)
}

/// Runs `examples/spark-submit/submit.sh` (pyspark's `spark-submit --deploy-mode cluster`)
/// against the local cloud at `ep` with the image `image`, the job jar `jar` and its input
/// `input` (both `oss://`); keys through the environment.
pub fn submit_wordcount(ep: &Endpoints, image: &str, jar: &str, input: &str) -> Result<std::process::Output, crate::HarnessError> {
    spark_submit_script("submit.sh", ep, image)?
        .env("JAR", jar)
        .env("INPUT", input)
        .output()
        .map_err(|source| crate::HarnessError::Io { what: "running examples/spark-submit/submit.sh".into(), source })
}

/// `bash examples/spark-submit/<script>` with what every submit script reads: Spark's home, the
/// local cloud's kubeconfig, master, OSS endpoint and region, the image, and the keys (through
/// the environment, never argv).
fn spark_submit_script(script: &str, ep: &Endpoints, image: &str) -> Result<std::process::Command, crate::HarnessError> {
    let spark_home = sparkoss_quickstart::spark_base::spark_home()?;
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(crate::repo_root().join("examples/spark-submit").join(script))
        .env("SPARK_HOME", spark_home)
        .env("KUBECONFIG", &ep.kubeconfig)
        .env("MASTER", format!("k8s://{}", ep.kubernetes_endpoint))
        .env("IMAGE", image)
        .env("OSS_ENDPOINT", &ep.oss_endpoint)
        .env("REGION", &ep.region)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &ep.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &ep.access_key_secret);
    Ok(cmd)
}

/// A working directory with `examples/pyspark` for the local cloud at `ep` and the image `image`
/// (keys through the environment, as [`quickstart_workdir`]).
pub fn pyspark_workdir(tf: &crate::Terraform, ep: &Endpoints, image: &str) -> Result<crate::Workdir, crate::HarnessError> {
    let wd = quickstart_workdir(tf, ep, image)?;
    wd.load_example(&crate::repo_root().join("examples/pyspark"))?;
    Ok(wd)
}

/// Runs `examples/spark-submit/submit-pyspark.sh` (pyspark's `spark-submit --deploy-mode cluster`
/// of `oss://sparkoss-demo/pyspark/wordcount.py` with its `textutil.zip` and input) against the
/// local cloud at `ep`; keys through the environment. Spark's own watcher follows the driver to
/// its end (`WAIT` defaults to true), so it returns once the driver has ended. `keep_executors`
/// keeps executor pods for their logs.
pub fn submit_pyspark(ep: &Endpoints, image: &str, keep_executors: bool) -> Result<std::process::Output, crate::HarnessError> {
    spark_submit_script("submit-pyspark.sh", ep, image)?
        .env("PY", "oss://sparkoss-demo/pyspark/wordcount.py")
        .env("PY_FILES", "oss://sparkoss-demo/pyspark/textutil.zip")
        .env("INPUT", "oss://sparkoss-demo/input/words.txt")
        .env("KEEP_EXECUTORS", if keep_executors { "true" } else { "false" })
        .output()
        .map_err(|source| crate::HarnessError::Io { what: "running examples/spark-submit/submit-pyspark.sh".into(), source })
}
