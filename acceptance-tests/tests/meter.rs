//! `sparkoss-meter` against the local cloud with the Docker kubelet (real containers, real CPU
//! and memory through the engine's stats), on SQLite and on a real PostgreSQL server:
//!
//! - the per-user report's requested totals equal the pods' requests × run times read from the
//!   Kubernetes API, although the meter was killed (SIGKILL) mid-job and restarted;
//! - used CPU and peak memory come from metrics samples, above zero and no more than the pods
//!   could have used (no sample counted twice);
//! - a pod deleted while it runs ends its row, and its job counts as `Deleted`;
//! - `/v1/usage`, `/metrics` and `/healthz` serve the same numbers; table, CSV and HTML render;
//! - the driver's log is archived to OSS and `sparkoss-meter logs` prints it after the pod is gone;
//! - a bad or unreachable `--database` is named in a clear error that prints no password;
//! - where RBAC lets it read one namespace only (a Role, a token from `kubectl create token`), the
//!   meter without `--namespace` stops at once and says why, and with `--namespace` records that
//!   namespace's pods and no other's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{
    busybox_image, fixtures, meter_bin, meter_command_output, meter_run_to_exit, oss_put, KubeconfigFile, LocalCloudProcess, MeterProcess,
    PostgresServer,
};
use sparkoss_localcloud::Endpoints;
use sparkoss_testkit::kube_client::request;

const IMAGE: &str = "sparkoss-test/busybox:meter";
const NS: &str = "meter-a";
const BUCKET: &str = "meter-logs";

fn api(ep: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    request(ep, method, path, body).expect("kube API answers")
}

/// A pod labelled as the provider labels a job's pods, burning CPU for `secs` then exiting `code`;
/// an empty `user` leaves the user label out, as for a job that names no user.
#[allow(clippy::too_many_arguments)] // one argument per column of the scenario's table of pods
fn job_pod(name: &str, job: &str, user: &str, role: &str, cpu: &str, mem: &str, secs: u32, code: i32) -> Value {
    let script = format!("echo \"{name}: starting {job}\"; end=$(( $(date +%s) + {secs} )); while [ $(date +%s) -lt $end ]; do :; done; echo \"{name}: {job} done\"; exit {code}");
    let mut labels = json!({"app.kubernetes.io/managed-by": "sparkoss", "sparkoss.io/job": job, "spark-role": role});
    if !user.is_empty() {
        labels["sparkoss.io/user"] = json!(user);
    }
    json!({"metadata": {"name": name, "labels": labels},
           "spec": {"restartPolicy": "Never", "containers": [{"name": "spark", "image": IMAGE, "command": ["sh", "-c", script],
                    "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}}}]}})
}

fn pod(ep: &str, name: &str) -> Value {
    api(ep, "GET", &format!("/api/v1/namespaces/{NS}/pods/{name}"), None).1
}

fn phase(p: &Value) -> String {
    p["status"]["phase"].as_str().unwrap_or("").to_owned()
}

/// Polls (bounded) until `done` holds.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn secs(t: &Value) -> i64 {
    let s = t.as_str().expect("a timestamp");
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("RFC 3339").unix_timestamp()
}

/// Requested core-seconds of a finished pod from the API: CPU request × (finish − start).
fn requested_core_seconds(p: &Value) -> f64 {
    let cpu = p["spec"]["containers"][0]["resources"]["requests"]["cpu"].as_str().expect("cpu request");
    let millis: f64 = cpu.strip_suffix('m').map_or_else(|| cpu.parse::<f64>().expect("cores") * 1000.0, |m| m.parse().expect("millicores"));
    let finished = secs(&p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]);
    let started = secs(&p["status"]["startTime"]);
    millis / 1000.0 * (finished - started) as f64
}

fn report_json(db: &str, ep: &Endpoints, by: &str) -> Value {
    let out = meter_command_output(db, ep, &["report", "--by", by, "--format", "json"]).expect("report runs");
    assert!(out.status.success(), "report: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

fn row<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["rows"].as_array().and_then(|rows| rows.iter().find(|x| x["key"] == key)).unwrap_or_else(|| panic!("no row {key} in {r}"))
}

/// The whole scenario on one database.
fn meter_suite(database: &str) {
    busybox_image(IMAGE, &["sh", "date", "echo", "sleep"]);
    let lc = LocalCloudProcess::start(&["--kubelet", "docker", "--node-cpus", "4"]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let k = &ep.kubernetes_endpoint;
    let kc = KubeconfigFile::new(k).expect("kubeconfig");
    oss_put(&ep, BUCKET, &[]);
    let archive = format!("oss://{BUCKET}/drivers");
    let run_args = ["--interval", "1s", "--log-archive", archive.as_str()];
    let mut meter = MeterProcess::start(database, &ep, &kc.path, &run_args).expect("meter starts");

    // The namespace belongs to a team, as `sparkoss_namespace` labels it: a job that names no
    // user is metered against it.
    let namespace = json!({"metadata": {"name": NS, "labels": {"sparkoss.io/user": "team-a"}}});
    assert_eq!(api(k, "POST", "/api/v1/namespaces", Some(&namespace)).0, 201);
    let pods = [
        job_pod("etl-driver", "etl", "ana", "driver", "500m", "64Mi", 10, 0),
        job_pod("etl-exec-1", "etl", "ana", "executor", "250m", "32Mi", 10, 0),
        job_pod("etl-exec-2", "etl", "ana", "executor", "250m", "32Mi", 10, 0),
        job_pod("rep-driver", "rep", "bo", "driver", "300m", "48Mi", 6, 1),
        job_pod("stuck-driver", "stuck", "cy", "driver", "100m", "16Mi", 600, 0),
        job_pod("adhoc-driver", "adhoc", "", "driver", "100m", "16Mi", 2, 0),
    ];
    for p in &pods {
        let (code, body) = api(k, "POST", &format!("/api/v1/namespaces/{NS}/pods"), Some(p));
        assert_eq!(code, 201, "{body}");
    }
    let names: Vec<&str> = pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap_or_default()).collect();
    wait_for("every pod running", Duration::from_secs(90), || names.iter().all(|n| phase(&pod(k, n)) != "Pending").then_some(()));

    // A crash mid-job: SIGKILL, then a new meter on the same database while the pods run on.
    std::thread::sleep(Duration::from_secs(3));
    meter.kill();
    std::thread::sleep(Duration::from_secs(2));
    let meter = MeterProcess::start(database, &ep, &kc.path, &run_args).expect("meter restarts");

    // A pod deleted while it runs: its row ends and its job is Deleted.
    let (code, body) = api(k, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/stuck-driver"), None);
    assert!(code == 200 || code == 202, "{body}");

    let finished: BTreeMap<String, Value> = wait_for("the jobs finish", Duration::from_secs(120), || {
        let ps: BTreeMap<String, Value> = names[..4].iter().map(|n| (n.to_string(), pod(k, n))).collect();
        ps.values().all(|p| ["Succeeded", "Failed"].contains(&phase(p).as_str())).then_some(ps)
    });
    assert_eq!(phase(&finished["rep-driver"]), "Failed");
    // Let the meter see the ends (events) and a last round of samples.
    let by_job = wait_for("the meter records the final states", Duration::from_secs(30), || {
        let r = report_json(database, &ep, "job");
        let state = |key: &str| r["rows"].as_array()?.iter().find(|x| x["key"] == key)?["latest_state"].as_str().map(str::to_owned);
        (state("meter-a/etl").as_deref() == Some("Succeeded")
            && state("meter-a/rep").as_deref() == Some("Failed")
            && state("meter-a/stuck").as_deref() == Some("Deleted")
            && state("meter-a/adhoc").as_deref() == Some("Succeeded"))
        .then_some(r)
    });
    assert_eq!(row(&by_job, "meter-a/stuck")["jobs"], json!({"Deleted": 1}), "{by_job}");
    assert!(row(&by_job, "meter-a/stuck")["requested_cpu_core_seconds"].as_f64().is_some_and(|v| v > 0.0), "{by_job}");

    // Per user: requested totals are requests × run times from the API, to the millisecond.
    let by_user = report_json(database, &ep, "user");
    let expect = |ps: &[&str]| ps.iter().map(|n| requested_core_seconds(&finished[*n])).sum::<f64>();
    let ana = row(&by_user, "ana");
    let ana_expected = expect(&["etl-driver", "etl-exec-1", "etl-exec-2"]);
    let ana_requested = ana["requested_cpu_core_seconds"].as_f64().expect("number");
    assert!((ana_requested - ana_expected).abs() < 1e-6, "ana requested {ana_requested} core-s, pods say {ana_expected}: {by_user}");
    let bo_requested = row(&by_user, "bo")["requested_cpu_core_seconds"].as_f64().expect("number");
    assert!((bo_requested - expect(&["rep-driver"])).abs() < 1e-6, "{by_user}");
    assert_eq!(ana["jobs"], json!({"Succeeded": 1}), "{by_user}");
    assert_eq!(row(&by_user, "team-a")["jobs"], json!({"Succeeded": 1}), "the unlabelled job is its namespace's team's: {by_user}");
    assert_eq!(row(&by_user, "bo")["jobs"], json!({"Failed": 1}), "{by_user}");
    assert_eq!(ana["pods"], 3);
    // Used CPU: above zero, and at most what three single-threaded loops could burn in their
    // run time (a sample counted twice, e.g. after the restart, would break this bound).
    let run_seconds: f64 = ["etl-driver", "etl-exec-1", "etl-exec-2"]
        .iter()
        .map(|n| {
            let p = &finished[*n];
            (secs(&p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]) - secs(&p["status"]["startTime"])) as f64
        })
        .sum();
    let used = ana["used_cpu_core_seconds"].as_f64().expect("used CPU sampled");
    assert!(used > 0.0 && used <= run_seconds * 1.15 + 3.0, "used {used} core-s over {run_seconds} s of three one-thread loops: {by_user}");
    assert!(ana["peak_pod_memory_bytes"].as_i64().is_some_and(|b| b > 0), "{by_user}");
    assert_eq!(by_user["usage_sampled"], true);

    // The running meter serves the same numbers.
    let (code, body) = meter.get("/v1/usage?by=user").expect("usage");
    assert_eq!(code, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("usage JSON");
    assert_eq!(row(&served, "ana")["requested_cpu_core_seconds"], ana["requested_cpu_core_seconds"]);
    let (code, body) = meter.get("/v1/usage?by=team").expect("usage");
    assert!(code == 400 && body.contains("not user, job or namespace"), "{code} {body}");
    let (code, metrics) = meter.get("/metrics").expect("metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("sparkoss_job_requested_cpu_core_seconds{namespace=\"meter-a\",job=\"etl\",user=\"ana\"} "), "{metrics}");
    assert!(metrics.contains("sparkoss_job_state{namespace=\"meter-a\",job=\"rep\",user=\"bo\",state=\"Failed\"} 1"), "{metrics}");
    assert!(metrics.contains("sparkoss_meter_metrics_api_served 1"), "{metrics}");
    let (code, health) = meter.get("/healthz").expect("healthz");
    assert!(code == 200 && health.contains("\"database\":\"ok\""), "{health}");

    // Other formats.
    let out = meter_command_output(database, &ep, &["report", "--by", "namespace", "--since", "1h"]).expect("table");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().any(|l| l.starts_with("meter-a ")) && table.contains("REQ CORE-H"), "{table}");
    let out = meter_command_output(database, &ep, &["report", "--format", "csv"]).expect("csv");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.lines().any(|l| l.starts_with("user,ana,3,1,0,0,0,0,0,")), "{csv}");
    let dir = tempfile::tempdir().expect("tempdir");
    let html = dir.path().join("usage.html");
    let out =
        meter_command_output(database, &ep, &["report", "--format", "html", "--output", html.to_str().expect("utf-8")]).expect("html");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.contains("<svg") && page.contains(">ana<") && !page.contains("<script"), "{page}");

    // The driver's log, archived when it ended, printed after the pod is gone.
    let (code, _) = api(k, "DELETE", &format!("/api/v1/namespaces/{NS}/pods/etl-driver"), None);
    assert!(code == 200 || code == 202);
    let out = wait_for("the archived log", Duration::from_secs(20), || {
        let out = meter_command_output(database, &ep, &["logs", "--job", "etl"]).ok()?;
        out.status.success().then_some(out)
    });
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("etl-driver: starting etl") && log.contains("etl-driver: etl done"), "{log}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("oss://{BUCKET}/drivers/{NS}/etl/etl-driver.log")));
    let out = meter_command_output(database, &ep, &["logs", "--job", "nope"]).expect("logs runs");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no archived driver log for job \"nope\""));

    // A restart after the jobs changes nothing: same totals.
    drop(meter);
    let again = MeterProcess::start(database, &ep, &kc.path, &run_args).expect("meter restarts");
    // Compared only once the restarted meter has relisted every pod and sampled a round:
    // before that, a double count would not show yet.
    wait_for("a round of the restarted meter", Duration::from_secs(30), || {
        let (code, health) = again.get("/healthz").ok()?;
        let h: Value = serde_json::from_str(&health).ok()?;
        (code == 200 && h["synced"] == true && h["sample_rounds"].as_u64().is_some_and(|n| n >= 1)).then_some(())
    });
    let after = report_json(database, &ep, "user");
    assert_eq!(row(&after, "ana")["requested_cpu_core_seconds"], ana["requested_cpu_core_seconds"]);
    assert_eq!(row(&after, "ana")["used_cpu_core_seconds"], ana["used_cpu_core_seconds"]);
    drop(again);
}

#[test]
fn meter_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    meter_suite(&format!("sqlite://{}/meter.db", dir.path().display()));
}

#[test]
fn meter_on_postgresql() {
    let pg = PostgresServer::start().expect("PostgreSQL starts (Debian's postgresql package, installed by scripts/install-tools)");
    meter_suite(&pg.url());
}

#[test]
fn bad_and_unreachable_databases_are_named_without_their_password() {
    let ep = Endpoints {
        region: "cn-local".into(),
        ack_endpoint: String::new(),
        oss_endpoint: "http://127.0.0.1:9".into(),
        kubernetes_endpoint: String::new(),
        access_key_id: "ak".into(),
        access_key_secret: "sk".into(),
        kubeconfig: String::new(),
    };
    let out = meter_command_output("mysql://root:hunter2@127.0.0.1/meter", &ep, &["report"]).expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--database: mysql://root:***@127.0.0.1/meter: unsupported database \"mysql\""), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let started = Instant::now();
    let out = meter_command_output("postgres://meter:hunter2@127.0.0.1:1/meter", &ep, &["report"]).expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--database postgres://meter:***@127.0.0.1:1/meter: cannot connect"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "gave up in {:?}", started.elapsed());

    // `run` checks the database before it touches a cluster.
    let kc = tempfile::NamedTempFile::new().expect("tempfile");
    let out = meter_command_output(
        "postgresql://meter:hunter2@127.0.0.1:1/meter",
        &ep,
        &["run", "--kubeconfig", kc.path().to_str().unwrap_or("")],
    )
    .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--database postgresql://meter:***@127.0.0.1:1/meter: cannot connect"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// A sparkoss pod of `job` (the rule-based kubelet "runs" it: no image needed).
fn labelled_pod(name: &str, job: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sparkoss", "sparkoss.io/job": job, "sparkoss.io/user": "ana", "spark-role": "driver"}},
           "spec": {"restartPolicy": "Never", "containers": [{"name": "spark", "image": "spark:any", "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}}}]}})
}

#[test]
fn a_meter_that_may_read_one_namespace_watches_it_with_namespace_and_says_why_without() {
    const A: &str = "team-read";
    const B: &str = "team-hidden";
    let lc = LocalCloudProcess::start(&[]).expect("localcloud starts");
    let ep = lc.endpoints.clone();
    let k = &ep.kubernetes_endpoint;
    let admin = KubeconfigFile::new(k).expect("admin kubeconfig");
    for ns in [A, B] {
        assert_eq!(api(k, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": ns}}))).0, 201);
        let (code, body) = api(k, "POST", &format!("/api/v1/namespaces/{ns}/pods"), Some(&labelled_pod(&format!("{ns}-before"), "before")));
        assert_eq!(code, 201, "{body}");
    }
    // The meter's identity: a service account in A whose Role reads pods (and logs) in A only.
    let rbac = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{A}");
    assert_eq!(api(k, "POST", &format!("/api/v1/namespaces/{A}/serviceaccounts"), Some(&json!({"metadata": {"name": "meter"}}))).0, 201);
    let role = json!({"metadata": {"name": "meter"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]});
    assert_eq!(api(k, "POST", &format!("{rbac}/roles"), Some(&role)).0, 201);
    let binding = json!({"metadata": {"name": "meter"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "meter"},
                         "subjects": [{"kind": "ServiceAccount", "name": "meter", "namespace": A}]});
    assert_eq!(api(k, "POST", &format!("{rbac}/rolebindings"), Some(&binding)).0, 201);
    let out = fixtures::kubectl(&admin.path, &["create", "token", "meter", "-n", A], None).expect("kubectl runs");
    assert!(out.status.success(), "kubectl create token: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let kc = KubeconfigFile::with_token(k, &token).expect("the meter's kubeconfig");
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}/meter.db", dir.path().display());

    // (a) Cluster-wide, the list is refused: the meter stops at once and says what to do. (Timed
    // from after the binary is built: the first use builds it.)
    meter_bin().expect("sparkoss-meter builds");
    let started = Instant::now();
    let exit = meter_run_to_exit(&database, &ep, &kc.path, &[], Duration::from_secs(20)).expect("the meter stops by itself");
    assert!(!exit.status.success(), "{}", exit.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?} to give up", started.elapsed());
    let err = exit.stderr;
    assert!(err.contains("kubernetes refused to list and watch pods in every namespace (403 Forbidden: pods is forbidden: User \"system:serviceaccount:team-read:meter\" cannot list resource \"pods\""), "{err}");
    assert!(err.contains("ClusterRole") && err.contains("--namespace"), "{err}");
    assert!(!err.contains(&token), "the token is printed: {err}");

    // (b) With --namespace A: A's pods are recorded, before and after the meter started; B's are not.
    let meter = MeterProcess::start(&database, &ep, &kc.path, &["--namespace", A, "--interval", "1s"]).expect("the meter starts");
    for ns in [A, B] {
        let (code, body) = api(k, "POST", &format!("/api/v1/namespaces/{ns}/pods"), Some(&labelled_pod(&format!("{ns}-after"), "after")));
        assert_eq!(code, 201, "{body}");
    }
    let by_job = wait_for("the meter records A's pods", Duration::from_secs(30), || {
        let r = report_json(&database, &ep, "job");
        let keys: Vec<String> = r["rows"].as_array()?.iter().filter_map(|x| x["key"].as_str().map(str::to_owned)).collect();
        (keys.contains(&format!("{A}/before")) && keys.contains(&format!("{A}/after"))).then_some(r)
    });
    let keys: Vec<&str> = by_job["rows"].as_array().into_iter().flatten().filter_map(|x| x["key"].as_str()).collect();
    assert!(keys.iter().all(|key| key.starts_with(&format!("{A}/"))), "only A's jobs: {by_job}");
    // The Role grants no metrics.k8s.io: a warning, and the meter meters requests on.
    std::thread::sleep(Duration::from_millis(1500));
    let (code, health) = meter.get("/healthz").expect("healthz");
    assert!(code == 200 && health.contains("\"synced\":true"), "{health}");
    let (_, metrics) = meter.get("/metrics").expect("metrics");
    assert!(metrics.contains("sparkoss_meter_metrics_api_served 0"), "{metrics}");
}
