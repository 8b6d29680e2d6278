//! Unit tests of `sparkoss_job`: request shapes and plan-time checks, without a cluster.

use super::pods::*;
use super::probe::*;
use super::quota::*;
use super::spec::*;
use super::*;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

fn planned(extra: serde_json::Value) -> Value {
    let job = Job::new();
    let mut j = serde_json::json!({
        "name": "etl", "namespace": "team-a", "user": "ana", "image": "reg/spark-oss:3.5.3",
        "main_application": "oss://jobs/etl.jar", "main_class": "com.acme.Etl", "args": ["--date", "2026-11-23"],
        "spark_conf": {"spark.sql.shuffle.partitions": "64"}, "wait_for_completion": true, "pending_timeout": "5m",
        "driver": {"cores": 1, "memory": "2g", "memory_overhead": null},
        "executor": {"instances": 4, "cores": 2, "memory": "4g", "memory_overhead": "1g"},
    });
    if let (Some(m), Some(e)) = (j.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    Value::from_json(&j, &job.schema.block.implied_type()).expect("fits the schema")
}

#[test]
fn quota_checks_are_exact_and_name_the_attribute() {
    // driver 1 core + 4 executors × 2 = 9 cores; memory 2432Mi + 4 × 5120Mi = 22912Mi.
    let spec = JobSpec::from_value(&planned(serde_json::json!({})));
    let map = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned()))).collect::<BTreeMap<_, _>>();
    let check = |hard: &[(&str, &str)], used: &[(&str, &str)]| quota_fits(&spec, "q", &map(hard), &map(used));
    check(&[("requests.cpu", "9"), ("pods", "5")], &[]).expect("fits exactly, no epsilon needed");
    check(&[("requests.memory", "22912Mi")], &[("requests.memory", "0")]).expect("fits exactly");
    check(&[("cpu", "9000m")], &[("cpu", "0")]).expect("millicores compare with cores");

    let e = check(&[("requests.cpu", "9")], &[("requests.cpu", "1n")]).expect_err("one nanocore over");
    let d = &e.0[0];
    assert_eq!(d.path, Some(AttrPath::root().attr("executor")), "{d:?}");
    assert!(
        d.detail.contains(
            "quota q allows requests.cpu=9 with 0.000000001 in use (8.999999999 free); this job needs 9 (driver 1 + 4 executors × 2)"
        ),
        "{}",
        d.detail
    );

    let e = check(&[("requests.cpu", "1500m")], &[("requests.cpu", "600m")]).expect_err("driver alone is over");
    assert_eq!(e.0[0].path, Some(AttrPath::root().attr("driver")));
    assert!(check(&[("pods", "4")], &[]).is_err(), "5 pods");

    // The old parser knew no E or Ei suffix and silently skipped such a quota: 1e10 bytes is 9.31Gi.
    let e = check(&[("limits.memory", "0.00000001E")], &[]).expect_err("22.38Gi does not fit 9.31Gi");
    assert!(
        e.0[0].detail.contains("allows limits.memory=0.00000001E with 0.00Gi in use (9.31Gi free); this job needs 22.38Gi"),
        "{}",
        e.0[0].detail
    );
    // A quantity that is not one is left to the server.
    check(&[("requests.cpu", "lots")], &[]).expect("unchecked");
}

#[test]
fn memory_sizes_follow_spark_overhead_rules() {
    assert_eq!(jvm_mib("4g"), Some(4096));
    assert_eq!(jvm_mib("512m"), Some(512));
    assert_eq!(jvm_mib("2048k"), Some(2));
    let v = planned(serde_json::json!({}));
    let spec = JobSpec::from_value(&v);
    // Driver: 2g + max(384m, 10%) = 2048 + 384; executors: 4g + 1g explicit.
    assert_eq!(spec.driver, PodSize { cores: 1, mib: 2432 });
    assert_eq!(spec.executor, PodSize { cores: 2, mib: 5120 });
    assert_eq!(spec.total(), (9, 2432 + 4 * 5120, 5));
}

#[test]
fn executors_get_the_secrets_credential_keys_by_reference_and_the_oss_endpoint() {
    let keys: Vec<String> =
        ["ALIBABA_CLOUD_ACCESS_KEY_ID", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "unrelated"].map(String::from).to_vec();
    let env = [("SPARKOSS_OSS_ENDPOINT", "http://oss.local:80".to_owned())];
    let conf = executor_conf(Some("oss-keys"), &keys, &env);
    assert_eq!(
        conf.get("spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_ID").map(String::as_str),
        Some("oss-keys:OSS_ACCESS_KEY_ID")
    );
    assert_eq!(
        conf.get("spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_SECRET").map(String::as_str),
        Some("oss-keys:OSS_ACCESS_KEY_SECRET")
    );
    assert!(!conf.contains_key("spark.kubernetes.executor.secretKeyRef.OSS_SESSION_TOKEN"), "only keys the Secret holds: {conf:?}");
    assert!(!conf.keys().any(|k| k.ends_with("unrelated")), "only credential keys: {conf:?}");
    assert_eq!(conf.get("spark.executorEnv.SPARKOSS_OSS_ENDPOINT").map(String::as_str), Some("http://oss.local:80"));
    assert!(executor_conf(None, &keys, &[]).is_empty());
    // The job's spark_conf wins over these defaults.
    let v = planned(serde_json::json!({"spark_conf": {"spark.executorEnv.SPARKOSS_OSS_ENDPOINT": "http://mine"}}));
    let spec = JobSpec::from_value(&v);
    let args = launcher_args(&v, &spec, "spark-1", conf);
    assert!(!args.iter().any(|a| a.starts_with("spark.executorEnv.SPARKOSS_OSS_ENDPOINT=")), "{args:?}");
    assert!(secret_flags(&v, &spec, "spark-1").contains(&"spark.executorEnv.SPARKOSS_OSS_ENDPOINT=http://mine".to_owned()));
    assert!(args.contains(&"spark.kubernetes.executor.secretKeyRef.OSS_ACCESS_KEY_ID=oss-keys:OSS_ACCESS_KEY_ID".to_owned()));
}

#[test]
fn driver_pod_carries_labels_limits_and_the_launcher_contract() {
    let v = planned(serde_json::json!({"oss_credentials_secret": "oss-keys"}));
    let spec = JobSpec::from_value(&v);
    let pod = build_pod(&v, &spec, "spark-1", &[], &[], true);
    let labels = pod.metadata.labels.clone().expect("labels");
    assert_eq!(labels.get("sparkoss.io/job").map(String::as_str), Some("etl"));
    assert_eq!(labels.get("sparkoss.io/user").map(String::as_str), Some("ana"));
    assert_eq!(labels.get("spark-role").map(String::as_str), Some("driver"));
    let c = &pod.spec.as_ref().expect("spec").containers[0];
    let r = c.resources.clone().expect("resources");
    assert_eq!(r.limits, r.requests, "a quota on limits.cpu: CPU and memory limits equal requests");
    assert_eq!(r.limits.as_ref().and_then(|l| l.get("memory")).map(|q| q.0.clone()), Some("2432Mi".into()));
    let free = build_pod(&v, &spec, "spark-1", &[], &[], false);
    let free = free.spec.expect("spec").containers[0].resources.clone().expect("resources");
    let limits = free.limits.clone().expect("limits");
    assert!(!limits.contains_key("cpu") && limits.get("memory") == free.requests.as_ref().and_then(|q| q.get("memory")), "{limits:?}");
    let args = c.args.clone().expect("args");
    assert_eq!(&args[..4], ["run", "--", "--main-application", "oss://jobs/etl.jar"]);
    for want in [
        ["--conf", "spark.kubernetes.executor.label.sparkoss.io/user=ana"],
        ["--conf", "spark.executor.memoryOverhead=1g"],
        ["--namespace", "team-a"],
        ["--driver-host", "etl-driver-svc.team-a.svc"],
        ["--executor-instances", "4"],
        ["--main-class", "com.acme.Etl"],
    ] {
        assert!(args.windows(2).any(|w| w == want), "{want:?} missing from {args:?}");
    }
    // The job's own spark_conf and args are sensitive: in the job's Secret, not the pod spec.
    assert!(!args.iter().any(|a| a == "--arg" || a.contains("shuffle.partitions")), "{args:?}");
    let flags = secret_flags(&v, &spec, "spark-1");
    assert_eq!(flags, ["--conf", "spark.sql.shuffle.partitions=64", "--arg", "--date", "--arg", "2026-11-23"]);
    let from: Vec<String> = c.env_from.iter().flatten().filter_map(|e| e.secret_ref.as_ref()).map(|s| s.name.clone()).collect();
    assert_eq!(from, ["oss-keys", "etl-job-spec"], "the job's Secret last, so its env wins");
    let spec_annotation = pod.metadata.annotations.as_ref().and_then(|a| a.get(SPEC_ANNOTATION)).expect("spec annotation");
    assert!(!spec_annotation.contains("kubeconfig"), "connection must not be written to the cluster");
    for secret in ["2026-11-23", "shuffle"] {
        assert!(!spec_annotation.contains(secret), "a sensitive value in the annotation: {spec_annotation}");
    }
    let a: serde_json::Value = serde_json::from_str(spec_annotation).expect("annotation JSON");
    assert_eq!(a["spec_sha256"], spec_hash(&v), "{a}");
    assert_ne!(spec_hash(&v), spec_hash(&planned(serde_json::json!({"args": ["--date", "2026-11-24"]}))), "args change the hash");
}

#[test]
fn files_are_launcher_flags_in_order_and_part_of_the_spec() {
    let v = planned(serde_json::json!({
        "jars": ["oss://jobs/lib/udf.jar"],
        "files": ["oss://jobs/conf/app.conf", "https://example.com/data/lookup.csv?sig=x", "local:///opt/ref.txt"],
    }));
    let spec = JobSpec::from_value(&v);
    let args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
    assert!(!args.iter().any(|a| a == "--file" || a == "--jar"), "presigned URLs stay out of the pod spec: {args:?}");
    let flags = secret_flags(&v, &spec, "spark-1");
    let files: Vec<&str> = flags.windows(2).filter(|w| w[0] == "--file").map(|w| w[1].as_str()).collect();
    assert_eq!(files, ["oss://jobs/conf/app.conf", "https://example.com/data/lookup.csv?sig=x", "local:///opt/ref.txt"]);
    assert!(flags.windows(2).any(|w| w == ["--jar", "oss://jobs/lib/udf.jar"]), "{flags:?}");
    // Job arguments stay last: the launcher reads flags until them.
    assert_eq!(&flags[flags.len() - 4..], ["--arg", "--date", "--arg", "2026-11-23"]);
    let annotation = public_spec_json(&v);
    assert!(annotation.get("files").is_none() && !annotation.to_string().contains("sig=x"), "{annotation}");
    // Import rebuilds the sensitive attributes from the job's Secret (as the API server returns
    // it: `data`, base64), and the whole spec hashes as the annotation says.
    let stored = build_secret(&v, &spec, "spark-1");
    let mut j = annotation.clone();
    let hash = j.as_object_mut().and_then(|m| m.remove(SPEC_HASH_KEY)).expect("hash");
    j.as_object_mut().expect("object").extend(sensitive_from_secret(&stored).expect("flags in the Secret"));
    let back = Value::from_json(&j, &Job::new().schema.block.implied_type()).expect("annotation fits the schema");
    assert_eq!(back.attr("files"), v.attr("files"));
    assert_eq!(back.attr("args"), v.attr("args"));
    assert_eq!(back.attr("spark_conf"), v.attr("spark_conf"));
    assert_eq!(spec_hash(&back), hash.as_str().expect("hex"));
}

fn validation(extra: serde_json::Value) -> Vec<(Option<AttrPath>, String)> {
    let mut d = Diagnostics::new();
    Job::new().validate(&planned(extra), &mut d);
    d.0.into_iter().map(|x| (x.path, x.detail)).collect()
}

#[test]
fn file_base_names_are_unique_and_do_not_shadow_jars() {
    let files = |i: usize| Some(AttrPath::root().attr("files").index(i));
    assert!(validation(serde_json::json!({"files": ["oss://data/x/one.csv", "https://h/one.csv.gz", "local:///two.csv"]})).is_empty());

    let got =
        validation(serde_json::json!({"files": ["oss://data/x/in.csv", "local:///opt/other.txt", "https://h/y/in.csv?token=s3cr3t"]}));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, files(2));
    assert!(got[0].1.contains("files[2] and files[0]") && got[0].1.contains("\"in.csv\""), "{got:?}");

    let got = validation(serde_json::json!({"jars": ["oss://libs/lib/udf.jar"], "files": ["oss://conf/conf.txt", "https://h/udf.jar"]}));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, files(1));
    assert!(got[0].1.contains("jars[0]"), "{got:?}");
    // The main application is a jar in the same directory too.
    let got = validation(serde_json::json!({"files": ["https://h/etl.jar"]}));
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [files(0)]);
    assert!(got[0].1.contains("main_application"), "{got:?}");

    let got = validation(serde_json::json!({"files": ["https://h/dir/?token=s3cr3t"]}));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].1.contains("https://h/dir/") && !got[0].1.contains("s3cr3t"), "a presigned query stays out: {got:?}");
}

#[test]
fn unknown_files_are_not_judged_at_plan() {
    let mut v = planned(serde_json::json!({"files": ["oss://data/in.csv", "oss://more/in.csv"]}));
    if let Some(Value::List(items)) = v.attrs_mut().and_then(|m| m.get_mut("files")) {
        items[1] = Value::Unknown;
    }
    let mut d = Diagnostics::new();
    Job::new().validate(&v, &mut d);
    assert!(!d.has_errors(), "{d:?}");
}

#[test]
fn the_driver_reaches_the_providers_oss_unless_env_says_otherwise() {
    let cfg = crate::config::ProviderConfig {
        region: Some("cn-local".into()),
        endpoints: crate::config::Endpoints { oss: Some("http://127.0.0.1:9000".into()), ..Default::default() },
        ..Default::default()
    };
    let env_of = |pod: &Pod| -> BTreeMap<String, Option<String>> {
        pod.spec.as_ref().expect("spec").containers[0].env.clone().unwrap_or_default().into_iter().map(|e| (e.name, e.value)).collect()
    };
    let v = planned(serde_json::json!({"env": {"LANG": "C.UTF-8"}}));
    let spec = JobSpec::from_value(&v);
    let env = env_of(&build_pod(&v, &spec, "spark-1", &provider_env(&cfg), &[], false));
    assert_eq!(env.get("SPARKOSS_OSS_ENDPOINT"), Some(&Some("http://127.0.0.1:9000".to_owned())));
    assert_eq!(env.get("ALIBABA_CLOUD_REGION"), Some(&Some("cn-local".to_owned())));
    // The user's variables are in the job's Secret, which the driver loads: no value in the pod.
    assert!(!env.contains_key("LANG"), "{env:?}");
    let secret = build_secret(&v, &spec, "spark-1").data.unwrap_or_default();
    assert_eq!(secret.get("LANG").map(|b| b.0.as_slice()), Some(&b"C.UTF-8"[..]));

    // The user's value wins (the pod's own env would override the Secret's), and is not in the pod.
    let v = planned(serde_json::json!({"env": {"ALIBABA_CLOUD_REGION": "cn-beijing"}}));
    let pod = build_pod(&v, &spec, "spark-1", &provider_env(&cfg), &[], false);
    let all = pod.spec.as_ref().expect("spec").containers[0].env.clone().unwrap_or_default();
    assert!(!all.iter().any(|e| e.name == "ALIBABA_CLOUD_REGION"), "{all:?}");

    // No endpoint override and no region: nothing is added.
    let env = env_of(&build_pod(&v, &spec, "spark-1", &provider_env(&crate::config::ProviderConfig::default()), &[], false));
    assert!(!env.contains_key("SPARKOSS_OSS_ENDPOINT"), "{env:?}");
    assert_eq!(provider_env(&crate::config::ProviderConfig { region: Some("cn-hangzhou".into()), ..Default::default() }).len(), 1);
}

/// A probe that counts its calls and answers the ETag it holds.
struct Counting(std::sync::atomic::AtomicUsize, std::sync::Mutex<String>);

#[async_trait]
impl JarProbe for Counting {
    async fn etag(&self, _bucket: &str, _key: &str) -> Result<Option<String>, String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Some(self.1.lock().expect("lock").clone()))
    }
}

// Paused time: the ETag's age moves only when the test advances the clock, never by sleeping.
#[tokio::test(start_paused = true)]
async fn a_refresh_of_jobs_sharing_a_jar_asks_oss_once_and_still_sees_a_new_upload() {
    let probe = Arc::new(Counting(Default::default(), std::sync::Mutex::new("\"e1\"".into())));
    let mut job = Job::with_probe(Some(probe.clone()));
    job.etag_ttl = Duration::from_millis(300);
    let job = Arc::new(job);
    let ctx = OpContext { config: Arc::new(crate::config::ProviderConfig::default()) };
    let state = |etag: &str| {
        let mut v = planned(serde_json::json!({"main_application": "oss://jars/etl/app.jar"}));
        if let Some(m) = v.attrs_mut() {
            m.insert("main_application_etag".into(), Value::string(etag));
        }
        v
    };
    let reads: Vec<_> = (0..20)
        .map(|_| {
            let (job, ctx, mut s) = (job.clone(), ctx.clone(), state("\"e1\""));
            tokio::spawn(async move {
                job.mark_changed_jar(&ctx, &mut s).await;
                s
            })
        })
        .collect();
    for r in reads {
        assert_eq!(r.await.expect("joins").attr("main_application"), &Value::string("oss://jars/etl/app.jar"), "unchanged jar");
    }
    assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 1, "twenty refreshes, one HEAD");

    // A new upload is seen once the answer has aged out (the next command, in practice).
    *probe.1.lock().expect("lock") = "\"e2\"".into();
    tokio::time::advance(job.etag_ttl).await;
    let mut s = state("\"e1\"");
    job.mark_changed_jar(&ctx, &mut s).await;
    assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    let marked = s.attr("main_application").as_str().expect("string");
    assert!(marked.contains("changed on OSS since the run: ETag \"e1\" -> ETag \"e2\""), "{marked}");
}

#[test]
fn local_mode_when_no_executors() {
    let v = planned(serde_json::json!({"executor": {"instances": 0, "cores": 1, "memory": "1g", "memory_overhead": null}}));
    let spec = JobSpec::from_value(&v);
    let args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
    // The launcher runs Spark locally when there are no executors.
    assert!(args.windows(2).any(|w| w == ["--executor-instances", "0"]), "{args:?}");
    assert!(!args.iter().any(|a| a == "--master"), "{args:?}");
    assert_eq!(spec.total().2, 1);
}
