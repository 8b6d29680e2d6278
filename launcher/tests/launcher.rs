//! The `sparkoss-launcher` binary against the local cloud's OSS emulator: fetch with resume
//! after a dropped connection, checksum and OSS errors as one clear line, the exact
//! `spark-submit` command (`--dry-run`, and a stand-in `spark-submit` that records its argv and
//! pid to prove the launcher `exec`s it), and credentials from the metadata service.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};
use sparkoss_aliyun::oss::{Client, ClientConfig, Endpoint};
use sparkoss_aliyun::signing::Credentials;
use sparkoss_localcloud::oss::testing::start_local;
use sparkoss_localcloud::oss::AccessEntry;
use sparkoss_localcloud::LocalCloud;

const AK: &str = "LTAIlauncher-test";
const SK: &str = "launcher-secret-value-9f8e7d";
const LAUNCHER: &str = env!("CARGO_BIN_EXE_sparkoss-launcher");

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 11) as u8).collect()
}

async fn cloud_with(dir: &Path, objects: &[(&str, &[u8])]) -> LocalCloud {
    let cloud = start_local(&dir.join("cloud"), AK, SK).await.unwrap();
    let cfg = ClientConfig::new(Endpoint::parse(&cloud.endpoints.oss_endpoint).unwrap(), "cn-local");
    let c = Client::new(cfg, Credentials::new(AK, SK)).unwrap();
    c.create_bucket("jobs").await.unwrap();
    for (k, v) in objects {
        c.put_object("jobs", k, v, None).await.unwrap();
    }
    cloud
}

/// Runs the launcher with a clean environment plus `vars`.
async fn launcher(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(LAUNCHER);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn oss_env(cloud: &LocalCloud, secret: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("SPARKOSS_OSS_ENDPOINT", cloud.endpoints.oss_endpoint.clone()),
        ("ALIBABA_CLOUD_REGION", "cn-local".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK.into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret.into()),
    ]
}

fn borrowed<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

fn stderr_line(out: &Output) -> String {
    let s = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = s.lines().filter(|l| l.starts_with("sparkoss-launcher: error: ")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line expected:\n{s}");
    errors[0].to_owned()
}

async fn control(cloud: &LocalCloud, method: reqwest::Method, path: &str, body: Option<Value>) -> String {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut rb = http.request(method, format!("{}{path}", cloud.endpoints.oss_endpoint));
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_string());
    }
    let resp = rb.send().await.unwrap();
    assert!(resp.status().is_success());
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_resumes_after_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(2 << 20);
    let cloud = cloud_with(dir.path(), &[("etl/app.jar", &data)]).await;
    control(
        &cloud,
        reqwest::Method::POST,
        "/_localcloud/faults",
        Some(json!({"kind": "drop", "after_bytes": 700_000, "key": "etl/app.jar"})),
    )
    .await;
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
    let dest = dir.path().join("app.jar");
    let env = oss_env(&cloud, SK);
    let out = launcher(&["fetch", "oss://jobs/etl/app.jar", dest.to_str().unwrap()], &borrowed(&env)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(stderr.contains("CRC-64 verified") && stderr.contains("resumed 1 times"), "{stderr}");
    assert!(!stderr.contains(SK));
    let log: Vec<AccessEntry> =
        serde_json::from_str(&control(&cloud, reqwest::Method::GET, "/_localcloud/access-log", None).await).unwrap();
    let gets: Vec<&AccessEntry> = log.iter().filter(|e| e.method == "GET").collect();
    assert_eq!(gets.len(), 2, "{log:?}");
    assert_eq!(gets[0].fault.as_deref(), Some("drop"));
    assert!(gets[1].range.as_deref().is_some_and(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")), "{:?}", gets[1]);
    assert!(gets.iter().all(|e| e.auth == "v4"));
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(300_000);
    let cloud = cloud_with(dir.path(), &[("app.jar", &data)]).await;
    let dest = dir.path().join("out.jar");
    let d = dest.to_str().unwrap();
    let env = oss_env(&cloud, SK);

    control(&cloud, reqwest::Method::POST, "/_localcloud/faults", Some(json!({"kind": "corrupt", "key": "app.jar"}))).await;
    let out = launcher(&["fetch", "oss://jobs/app.jar", d], &borrowed(&env)).await;
    assert_eq!(out.status.code(), Some(3));
    let line = stderr_line(&out);
    assert!(line.contains("cannot fetch oss://jobs/app.jar") && line.contains("checksum mismatch"), "{line}");
    assert!(!dest.exists());

    let out = launcher(&["fetch", "oss://jobs/missing.jar", d], &borrowed(&env)).await;
    let line = stderr_line(&out);
    assert!(line.contains("oss://jobs/missing.jar") && line.contains("NoSuchKey (HTTP 404, request id "), "{line}");

    control(
        &cloud,
        reqwest::Method::POST,
        "/_localcloud/faults",
        Some(json!({"kind": "status", "status": 403, "code": "AccessDenied", "key": "app.jar"})),
    )
    .await;
    let out = launcher(&["fetch", "oss://jobs/app.jar", d], &borrowed(&env)).await;
    let line = stderr_line(&out);
    assert!(line.contains("oss://jobs/app.jar") && line.contains("AccessDenied (HTTP 403"), "{line}");

    let wrong = oss_env(&cloud, "not-the-right-secret");
    let out = launcher(&["fetch", "oss://jobs/app.jar", d], &borrowed(&wrong)).await;
    let line = stderr_line(&out);
    assert!(line.contains("SignatureDoesNotMatch"), "{line}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-the-right-secret"));

    let out = launcher(&["fetch", "oss://Bad_Bucket/k", d], &borrowed(&env)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("bucket name"));

    // No credentials anywhere: one line saying so, exit 4.
    let out = launcher(
        &["fetch", "oss://jobs/app.jar", d],
        &[("SPARKOSS_OSS_ENDPOINT", cloud.endpoints.oss_endpoint.as_str()), ("ALIBABA_CLOUD_REGION", "cn-local")],
    )
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr_line(&out).contains("credentials"));
    cloud.stop().await;
}

const K8S_FLAGS: &[&str] = &[
    "--main-application",
    "oss://jobs/etl/etl-1.4.jar",
    "--main-class",
    "com.acme.Etl",
    "--name",
    "etl",
    "--arg",
    "--date",
    "--arg",
    "2026-11-23",
    "--arg",
    "two words",
    "--jar",
    "oss://jobs/lib/dep.jar",
    "--jar",
    "local:///opt/spark/examples/jars/extra.jar",
    "--conf",
    "spark.sql.shuffle.partitions=64",
    "--conf",
    "spark.executor.memory=99g",
    "--driver-cores",
    "1",
    "--driver-memory",
    "2g",
    "--executor-instances",
    "4",
    "--executor-cores",
    "2",
    "--executor-memory",
    "4g",
    "--image",
    "registry.example/acme/spark-oss:3.5.3",
];

fn expected_k8s(spark_home: &str, work: &str) -> Vec<String> {
    [
        format!("{spark_home}/bin/spark-submit"),
        "--master".into(),
        "k8s://https://kubernetes.default.svc".into(),
        "--deploy-mode".into(),
        "client".into(),
        "--name".into(),
        "etl".into(),
        "--class".into(),
        "com.acme.Etl".into(),
        "--driver-memory".into(),
        "2g".into(),
        "--jars".into(),
        format!("{work}/dep.jar,/opt/spark/examples/jars/extra.jar"),
        "--conf".into(),
        "spark.driver.bindAddress=0.0.0.0".into(),
        "--conf".into(),
        "spark.driver.cores=1".into(),
        "--conf".into(),
        "spark.driver.host=10.1.2.3".into(),
        "--conf".into(),
        "spark.executor.cores=2".into(),
        "--conf".into(),
        "spark.executor.instances=4".into(),
        "--conf".into(),
        "spark.executor.memory=4g".into(),
        "--conf".into(),
        "spark.kubernetes.container.image=registry.example/acme/spark-oss:3.5.3".into(),
        "--conf".into(),
        "spark.kubernetes.driver.pod.name=etl-driver".into(),
        "--conf".into(),
        "spark.kubernetes.namespace=team-a".into(),
        "--conf".into(),
        "spark.sql.shuffle.partitions=64".into(),
        format!("{work}/etl-1.4.jar"),
        "--date".into(),
        "2026-11-23".into(),
        "two words".into(),
    ]
    .to_vec()
}

const POD_ENV: &[(&str, &str)] = &[("SPARKOSS_NAMESPACE", "team-a"), ("SPARKOSS_POD_NAME", "etl-driver"), ("SPARKOSS_POD_IP", "10.1.2.3")];

#[tokio::test]
async fn dry_run_prints_the_exact_command() {
    let mut args = vec!["run", "--dry-run", "--"];
    args.extend_from_slice(K8S_FLAGS);
    let mut env = POD_ENV.to_vec();
    env.extend([("SPARK_HOME", "/opt/spark"), ("SPARKOSS_WORK_DIR", "/opt/spark/work-dir")]);
    let out = launcher(&args, &env).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = expected_k8s("/opt/spark", "/opt/spark/work-dir");
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(line, format!("{}\n", sparkoss_launcher::job::shell_line(&expected)));
    assert!(line.contains(" 'two words'\n"), "{line}");

    // No executors: Spark runs inside the driver with local[driver cores].
    let out = launcher(
        &["run", "--dry-run", "--", "--main-application", "local:///opt/app.jar", "--driver-cores", "3", "--arg", "x"],
        &[("SPARK_HOME", "/s"), ("SPARKOSS_WORK_DIR", "/w")],
    )
    .await;
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "/s/bin/spark-submit --master 'local[3]' --deploy-mode client --name sparkoss-job --driver-memory 1g --conf spark.driver.cores=3 /opt/app.jar x\n"
    );

    let out = launcher(&["run", "--", "--main-application", "oss://jobs/a.jar", "--access-key-secret", "s3cr3t"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown job flag \"--access-key-secret\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_fetches_the_jars_and_execs_spark_submit() {
    let dir = tempfile::tempdir().unwrap();
    let main_jar = pattern(400_000);
    let dep = pattern(1234);
    let cloud = cloud_with(dir.path(), &[("etl/etl-1.4.jar", &main_jar), ("lib/dep.jar", &dep)]).await;
    let spark_home = dir.path().join("spark");
    std::fs::create_dir_all(spark_home.join("bin")).unwrap();
    let recorded = dir.path().join("argv.txt");
    let pid_file = dir.path().join("pid.txt");
    let stand_in = spark_home.join("bin/spark-submit");
    std::fs::write(&stand_in, "#!/bin/sh\necho $$ > \"$PID_FILE\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGV_FILE\"\n")
        .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");

    // The local:/// jar must exist here: put it in the temp dir.
    let extra = dir.path().join("extra.jar");
    std::fs::write(&extra, b"in the image").unwrap();
    let extra_uri = format!("local://{}", extra.display());
    let mut args = vec!["run", "--"];
    args.extend(K8S_FLAGS.iter().map(|a| if a.starts_with("local://") { extra_uri.as_str() } else { a }));
    let mut env = oss_env(&cloud, SK);
    env.extend([
        ("SPARK_HOME", spark_home.display().to_string()),
        ("SPARKOSS_WORK_DIR", work.display().to_string()),
        ("ARGV_FILE", recorded.display().to_string()),
        ("PID_FILE", pid_file.display().to_string()),
    ]);
    env.extend(POD_ENV.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let child = tokio::process::Command::new(LAUNCHER)
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let argv: Vec<String> = std::fs::read_to_string(&recorded).unwrap().lines().map(str::to_owned).collect();
    let mut expected = expected_k8s(&spark_home.display().to_string(), &work.display().to_string());
    expected.remove(0); // $0 is not among "$@"
    for a in &mut expected {
        *a = a.replace("/opt/spark/examples/jars/extra.jar", &extra.display().to_string());
    }
    assert_eq!(argv, expected);
    // The stand-in ran in the launcher's own process: exec, not a child.
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), pid.to_string());
    assert_eq!(std::fs::read(work.join("etl-1.4.jar")).unwrap(), main_jar);
    assert_eq!(std::fs::read(work.join("dep.jar")).unwrap(), dep);
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_metadata_service() {
    use axum::routing::{get, put};
    let dir = tempfile::tempdir().unwrap();
    let cloud = cloud_with(dir.path(), &[("a.jar", b"jar bytes")]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metadata = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/latest/api/token", put(|| async { "session-token" }))
        .route(
            "/latest/meta-data/ram/security-credentials/",
            get(|h: axum::http::HeaderMap| async move {
                assert_eq!(h.get("x-aliyun-ecs-metadata-token").and_then(|v| v.to_str().ok()), Some("session-token"));
                "node-role"
            }),
        )
        .route(
            "/latest/meta-data/ram/security-credentials/node-role",
            get(|| async {
                axum::Json(json!({"Code": "Success", "AccessKeyId": AK, "AccessKeySecret": SK, "SecurityToken": "sts-token", "Expiration": "2099-01-01T00:00:00Z"}))
            }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dest = dir.path().join("a.jar");
    let out = tokio::process::Command::new(LAUNCHER)
        .args(["fetch", "oss://jobs/a.jar", dest.to_str().unwrap()])
        .env_clear()
        .env("SPARKOSS_OSS_ENDPOINT", &cloud.endpoints.oss_endpoint)
        .env("ALIBABA_CLOUD_REGION", "cn-local")
        .env("SPARKOSS_METADATA_ENDPOINT", &metadata)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), b"jar bytes");
    server.abort();
    cloud.stop().await;
}

#[tokio::test]
async fn dry_run_passes_files_and_refuses_clashing_names() {
    let out = launcher(
        &[
            "run",
            "--dry-run",
            "--",
            "--main-application",
            "oss://jobs/etl/app.jar",
            "--jar",
            "oss://jobs/lib/dep.jar",
            "--file",
            "oss://jobs/data/cities.csv",
            "--file",
            "local:///etc/sparkoss/app.conf",
            "--file",
            "https://files.example/ref/rates.json?Signature=abc",
        ],
        &[("SPARK_HOME", "/s"), ("SPARKOSS_WORK_DIR", "/w")],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "/s/bin/spark-submit --master 'local[1]' --deploy-mode client --name sparkoss-job --driver-memory 1g \
         --jars /w/dep.jar --files /w/cities.csv,/w/app.conf,/w/rates.json --conf spark.driver.cores=1 /w/app.jar\n"
    );

    let out = launcher(
        &[
            "run",
            "--dry-run",
            "--",
            "--main-application",
            "oss://jobs/a/app.jar",
            "--jar",
            "oss://jobs/lib/x.jar",
            "--file",
            "oss://jobs/data/x.jar",
        ],
        &[("SPARK_HOME", "/s"), ("SPARKOSS_WORK_DIR", "/w")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let line = stderr_line(&out);
    assert!(
        line.contains("--file \"oss://jobs/data/x.jar\": its file name \"x.jar\" is already used by --jar \"oss://jobs/lib/x.jar\""),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_puts_files_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let csv = pattern(70_000);
    let cloud = cloud_with(dir.path(), &[("etl/app.jar", b"main jar"), ("data/cities.csv", &csv)]).await;
    let spark_home = dir.path().join("spark");
    std::fs::create_dir_all(spark_home.join("bin")).unwrap();
    let stand_in = spark_home.join("bin/spark-submit");
    // What a Spark application in local mode does with a --files entry: open it by base name.
    std::fs::write(
        &stand_in,
        "#!/bin/sh\npwd > \"$OUT/pwd\"\ncat cities.csv > \"$OUT/cities.csv\"\ncat app.conf > \"$OUT/app.conf\"\n\
         for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OUT/argv\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = dir.path().join("app.conf");
    std::fs::write(&conf, b"threshold = 3\n").unwrap();
    let conf_uri = format!("local://{}", conf.display());
    let work = dir.path().join("work");
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut env = oss_env(&cloud, SK);
    env.extend([
        ("SPARK_HOME", spark_home.display().to_string()),
        ("SPARKOSS_WORK_DIR", work.display().to_string()),
        ("OUT", out_dir.display().to_string()),
    ]);
    let out = launcher(
        &["run", "--", "--main-application", "oss://jobs/etl/app.jar", "--file", "oss://jobs/data/cities.csv", "--file", &conf_uri],
        &borrowed(&env),
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let canonical_work = std::fs::canonicalize(&work).unwrap();
    assert_eq!(std::fs::read_to_string(out_dir.join("pwd")).unwrap().trim(), canonical_work.display().to_string());
    assert_eq!(std::fs::read(out_dir.join("cities.csv")).unwrap(), csv);
    assert_eq!(std::fs::read(out_dir.join("app.conf")).unwrap(), b"threshold = 3\n");
    assert_eq!(std::fs::read(work.join("cities.csv")).unwrap(), csv);
    let argv: Vec<String> = std::fs::read_to_string(out_dir.join("argv")).unwrap().lines().map(str::to_owned).collect();
    let files = format!("{w}/cities.csv,{w}/app.conf", w = work.display());
    let at = argv.iter().position(|a| a == "--files").unwrap();
    assert_eq!(argv[at + 1], files);
    assert_eq!(argv.last().unwrap(), &format!("{}/app.jar", work.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fetched oss://jobs/data/cities.csv") && stderr.contains("CRC-64 verified"), "{stderr}");
    cloud.stop().await;
}

/// What the local STS stand-in saw: the parameters of each AssumeRoleWithOIDC call.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<std::collections::HashMap<String, String>>>>;

fn params(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (sparkoss_aliyun::percent_decode(k), sparkoss_aliyun::percent_decode(v)))
        .collect()
}

/// A local STS: AssumeRoleWithOIDC for `role` with `token` yields the given temporary keys. The
/// call must carry every parameter STS requires, in the query as the official SDK sends them.
async fn sts_stand_in(
    role: &'static str,
    provider: &'static str,
    token: &'static str,
    keys: (&'static str, &'static str, &'static str),
) -> (String, Seen) {
    let seen: Seen = Default::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::extract::RawQuery(query): axum::extract::RawQuery| {
            let log = log.clone();
            async move {
                let q = params(query.as_deref().unwrap_or(""));
                log.lock().unwrap().push(q.iter().cloned().collect());
                let refuse = |status: u16, code: &str, message: &str| {
                    let status = axum::http::StatusCode::from_u16(status).unwrap();
                    (status, axum::Json(json!({"RequestId": "STS-REFUSED", "Code": code, "Message": message})))
                };
                if let Err(r) = sparkoss_aliyun::credentials::sts::check_oidc_request(&q) {
                    return refuse(r.status, r.code, &r.message);
                }
                let field = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                if field("RoleArn") != Some(role) || field("OIDCProviderArn") != Some(provider) || field("OIDCToken") != Some(token) {
                    return refuse(401, "AuthenticationFail.OIDCToken.Invalid", "denied");
                }
                let (id, secret, sts_token) = keys;
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"RequestId": "STS-OK", "Credentials": {"AccessKeyId": id, "AccessKeySecret": secret, "SecurityToken": sts_token, "Expiration": "2099-01-01T00:00:00Z"}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A pass-through to `upstream` that records each request's `x-oss-security-token` header.
async fn recording_proxy(upstream: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    let tokens: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>> = Default::default();
    let log = tokens.clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (log, http, upstream) = (log.clone(), http.clone(), upstream.clone());
        async move {
            let (parts, body) = req.into_parts();
            log.lock().unwrap().push(parts.headers.get("x-oss-security-token").map(|v| v.to_str().unwrap().to_owned()));
            let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut rb = http.request(parts.method, format!("{upstream}{path}")).body(body);
            for (k, v) in &parts.headers {
                if k != "host" {
                    rb = rb.header(k, v);
                }
            }
            let resp = rb.send().await.unwrap();
            let mut out = axum::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            out.body(axum::body::Body::from(resp.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_rrsa_through_sts() {
    const ROLE: &str = "acs:ram::1234:role/spark-jobs";
    const PROVIDER: &str = "acs:ram::1234:oidc-provider/ack-rrsa-c1";
    const OIDC: &str = "eyJhbGciOiJSUzI1NiJ9.payload.sig";
    const TEMP: (&str, &str, &str) = ("STS.NTempKeyId", "temp-secret-from-sts", "CAIS-security-token-xyz");
    let dir = tempfile::tempdir().unwrap();
    // The emulator knows only the temporary keys: the download succeeds only with what STS issued.
    let cloud = start_local(&dir.path().join("cloud"), TEMP.0, TEMP.1).await.unwrap();
    let cfg = ClientConfig::new(Endpoint::parse(&cloud.endpoints.oss_endpoint).unwrap(), "cn-local");
    let c = Client::new(cfg, Credentials::new(TEMP.0, TEMP.1)).unwrap();
    c.create_bucket("jobs").await.unwrap();
    let data = pattern(200_000);
    c.put_object("jobs", "etl/app.jar", &data, None).await.unwrap();
    let (sts, seen) = sts_stand_in(ROLE, PROVIDER, OIDC, TEMP).await;
    let (oss, tokens) = recording_proxy(cloud.endpoints.oss_endpoint.clone()).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{OIDC}\n")).unwrap();
    let dest = dir.path().join("app.jar");
    let token_path = token_file.display().to_string();
    let vars = |role: &'static str| {
        vec![
            ("SPARKOSS_OSS_ENDPOINT", oss.clone()),
            ("ALIBABA_CLOUD_REGION", "cn-local".to_owned()),
            ("ALIBABA_CLOUD_ROLE_ARN", role.to_owned()),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER.to_owned()),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_path.clone()),
            ("ALIBABA_CLOUD_STS_ENDPOINT", sts.clone()),
        ]
    };
    let env = vars(ROLE);
    let out = launcher(&["fetch", "oss://jobs/etl/app.jar", dest.to_str().unwrap()], &borrowed(&env)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!stderr.contains(TEMP.1) && !stderr.contains(TEMP.2) && !stderr.contains(OIDC), "{stderr}");
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].get("RoleSessionName").map(String::as_str), Some("sparkoss-launcher"));
    let tokens = tokens.lock().unwrap().clone();
    assert!(tokens.len() >= 2 && tokens.iter().all(|t| t.as_deref() == Some(TEMP.2)), "HEAD and GET carry the STS token: {tokens:?}");

    // STS refusing the exchange: one line naming the call and STS's code, exit 4.
    let env = vars("acs:ram::1234:role/other");
    let out = launcher(&["fetch", "oss://jobs/etl/app.jar", dest.to_str().unwrap()], &borrowed(&env)).await;
    assert_eq!(out.status.code(), Some(4));
    let line = stderr_line(&out);
    assert!(line.contains("STS AssumeRoleWithOIDC") && line.contains("AuthenticationFail.OIDCToken.Invalid"), "{line}");
    assert!(!line.contains(OIDC), "{line}");
    cloud.stop().await;
}

#[tokio::test]
async fn bad_command_lines_name_the_flag_and_exit_2() {
    // (arguments, what the error must name)
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["frobnicate"], "'frobnicate'"),
        (&["fetch"], "<URI>"),
        (&["fetch", "oss://b/k", "/tmp/x", "extra"], "'extra'"),
        (&["fetch", "--resume", "oss://b/k", "/tmp/x"], "'--resume'"),
        (&["run", "--dry-run"], "<JOB_FLAGS>"),
        (&["run", "--bogus", "--", "--main-application", "local:///a.jar"], "'--bogus'"),
        (&["run", "--main-application", "local:///a.jar"], "'--main-application'"),
    ];
    for (args, named) in cases {
        let out = launcher(args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should name {named}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = launcher(&["--help"], &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(["fetch", "run", "entrypoint", "ALIBABA_CLOUD_ACCESS_KEY_ID"].iter().all(|w| help.contains(w)), "{help}");
}

#[tokio::test]
async fn entrypoint_passes_sparks_own_flags_through() {
    // An executor needs no fetch: the launcher becomes the base entrypoint with the same arguments,
    // flags included (they are Spark's, not the launcher's).
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_str().unwrap();
    let out = launcher(
        &["entrypoint", "executor", "--driver-url", "spark://x:7078", "--help"],
        &[("SPARKOSS_BASE_ENTRYPOINT", "/bin/echo"), ("SPARKOSS_WORK_DIR", w)],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "executor --driver-url spark://x:7078 --help\n");
}
