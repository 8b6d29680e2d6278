//! Unit tests of elastic jobs: dynamic allocation, placement, retries and usage, without a
//! cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::pods::{build_pod, launcher_args, secret_flags};
use super::quota::quota_fits;
use super::spec::JobSpec;
use super::usage::{attempt_usage, ExecutorRuns};
use super::*;

/// A job configuration: the base, with `executor` and other keys replaced by `extra`'s.
fn config(extra: serde_json::Value) -> Value {
    let job = Job::new();
    let mut j = serde_json::json!({
        "name": "etl", "namespace": "team-a", "user": "ana", "image": "reg/spark-oss:3.5.3",
        "main_application": "oss://jobs/etl.jar", "wait_for_completion": true, "pending_timeout": "5m",
        "driver": {"cores": 1, "memory": "2g"},
        "executor": {"cores": 2, "memory": "4g", "memory_overhead": "1g", "min_instances": 1, "max_instances": 4},
    });
    if let (Some(m), Some(e)) = (j.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    Value::from_json(&j, &job.schema.block.implied_type()).expect("fits the schema")
}

/// What validation (attribute validators, then the resource's checks) says: path and detail.
fn problems(v: &Value) -> Vec<(Option<AttrPath>, String)> {
    let job = Job::new();
    let mut d = Diagnostics::new();
    job.schema.block.validate(v, &AttrPath::root(), &mut d);
    job.validate(v, &mut d);
    d.0.into_iter().map(|x| (x.path, x.detail)).collect()
}

fn paths(v: &Value) -> Vec<AttrPath> {
    problems(v).into_iter().filter_map(|(p, _)| p).collect()
}

fn executor_attr(name: &str) -> AttrPath {
    AttrPath::root().attr("executor").attr(name)
}

fn conf_of(args: &[String]) -> BTreeMap<String, String> {
    args.windows(2).filter(|w| w[0] == "--conf").filter_map(|w| w[1].split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].as_str())
}

#[test]
fn dynamic_allocation_bounds_are_checked_naming_the_attribute() {
    assert!(problems(&config(serde_json::json!({}))).is_empty(), "{:?}", problems(&config(serde_json::json!({}))));
    let exec = |e: serde_json::Value| {
        let mut base = serde_json::json!({"cores": 2, "memory": "4g"});
        if let (Some(m), Some(x)) = (base.as_object_mut(), e.as_object()) {
            m.extend(x.clone());
        }
        config(serde_json::json!({ "executor": base }))
    };
    let got = problems(&exec(serde_json::json!({"instances": 3, "max_instances": 4})));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Some(executor_attr("instances")));
    assert!(got[0].1.contains("executor.max_instances turns on dynamic allocation"), "{got:?}");

    assert_eq!(paths(&exec(serde_json::json!({"min_instances": 5, "max_instances": 4}))), [executor_attr("min_instances")]);
    let got = problems(&exec(serde_json::json!({"min_instances": 5, "max_instances": 4})));
    assert!(got[0].1.contains("min_instances (5) is greater than executor.max_instances (4)"), "{got:?}");

    let got = problems(&exec(serde_json::json!({"min_instances": 2, "max_instances": 4, "initial_instances": 5})));
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [Some(executor_attr("initial_instances"))]);
    assert!(got[0].1.contains("(5) is outside [min_instances, max_instances] = [2, 4]"), "{got:?}");
    assert_eq!(
        paths(&exec(serde_json::json!({"min_instances": 2, "max_instances": 4, "initial_instances": 1}))),
        [executor_attr("initial_instances")]
    );

    assert_eq!(paths(&exec(serde_json::json!({"min_instances": 1}))), [executor_attr("min_instances")]);
    assert!(problems(&exec(serde_json::json!({"initial_instances": 2})))[0].1.contains("needs executor.max_instances"));
    assert!(problems(&exec(serde_json::json!({"max_instances": 4}))).is_empty(), "min defaults to 0");
    assert_eq!(paths(&exec(serde_json::json!({"max_instances": 0}))), [executor_attr("max_instances")], "at least one");

    // Spark's own settings for it are refused in spark_conf, naming the attribute to use.
    let got = problems(&config(serde_json::json!({"spark_conf": {"spark.dynamicAllocation.maxExecutors": "9"}})));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Some(AttrPath::root().attr("spark_conf").key("spark.dynamicAllocation.maxExecutors")));
    assert!(got[0].1.contains("executor.max_instances"), "{got:?}");
}

#[test]
fn dynamic_allocation_reaches_spark_with_shuffle_tracking_and_the_quota_counts_the_maximum() {
    let v = config(serde_json::json!({"spark_conf": {"spark.dynamicAllocation.executorIdleTimeout": "5s"}}));
    let spec = JobSpec::from_value(&v);
    // What the launcher runs: the pod's arguments and the flags it reads from the job's Secret.
    let mut args = launcher_args(&v, &spec, "spark-1", BTreeMap::new());
    args.extend(secret_flags(&v, &spec, "spark-1"));
    let conf = conf_of(&args);
    let get = |k: &str| conf.get(k).map(String::as_str);
    assert_eq!(get("spark.dynamicAllocation.enabled"), Some("true"));
    assert_eq!(get("spark.dynamicAllocation.shuffleTracking.enabled"), Some("true"));
    assert_eq!(get("spark.dynamicAllocation.minExecutors"), Some("1"));
    assert_eq!(get("spark.dynamicAllocation.maxExecutors"), Some("4"));
    assert_eq!(get("spark.dynamicAllocation.initialExecutors"), Some("1"));
    assert_eq!(get("spark.dynamicAllocation.executorIdleTimeout"), Some("5s"), "the job's own tuning passes");
    // The launcher starts with the initial count (never 0, which would mean local mode).
    assert_eq!(flag(&args, "--executor-instances"), Some("1"));
    let zero = config(serde_json::json!({"executor": {"cores": 2, "memory": "4g", "max_instances": 3}}));
    let zspec = JobSpec::from_value(&zero);
    assert_eq!(flag(&launcher_args(&zero, &zspec, "s", BTreeMap::new()), "--executor-instances"), Some("1"));
    // Shuffle tracking is a default the job may turn off.
    let off = config(serde_json::json!({"spark_conf": {"spark.dynamicAllocation.shuffleTracking.enabled": "false"}}));
    let ospec = JobSpec::from_value(&off);
    assert_eq!(
        conf_of(&[launcher_args(&off, &ospec, "s", BTreeMap::new()), secret_flags(&off, &ospec, "s")].concat())
            .get("spark.dynamicAllocation.shuffleTracking.enabled")
            .map(String::as_str),
        Some("false")
    );

    // The quota counts driver + max_instances executors: 1 + 4 × 2 cores, 2432 + 4 × 5120 MiB.
    assert_eq!(spec.total(), (9, 2432 + 4 * 5120, 5));
    let hard: BTreeMap<String, Quantity> = [("requests.memory".to_owned(), Quantity("20Gi".into()))].into();
    let e = quota_fits(&spec, "team-a-quota", &hard, &BTreeMap::new()).expect_err("22.38Gi does not fit 20Gi");
    assert_eq!(e.0[0].path, Some(AttrPath::root().attr("executor")));
    assert!(
        e.0[0].detail.contains("quota team-a-quota allows requests.memory=20Gi with 0.00Gi in use (20.00Gi free); this job needs 22.38Gi (driver 2.38Gi + 4 executors × 5.00Gi)"),
        "{}",
        e.0[0].detail
    );
}

#[test]
fn with_dynamic_allocation_instances_is_planned_null_and_stays_so() {
    let job = Job::new();
    let cfg = config(serde_json::json!({}));
    let first = job.plan(&Value::Null, &cfg, &cfg);
    assert_eq!(first.planned.attr("executor").attr("instances"), &Value::Null, "no fixed count claimed");
    assert_eq!(first.planned.attr("executor").attr("max_instances"), &Value::Number(crate::core::Number::Int(4)));
    // The state is the plan with computed values filled in; planning again changes nothing.
    let mut prior = first.planned.clone();
    if let Some(m) = prior.attrs_mut() {
        for (k, v) in m.iter_mut() {
            if v.is_unknown() {
                *v = if k == "attempts" { Value::Number(crate::core::Number::Int(1)) } else { Value::string("x") };
            }
        }
    }
    let again = job.plan(&prior, &prior, &cfg);
    assert!(again.requires_replace.is_empty(), "{:?}", again.requires_replace);
    assert_eq!(again.planned.attr("executor").attr("instances"), &Value::Null);
    // Without dynamic allocation the default of 2 stays.
    let fixed = config(serde_json::json!({"executor": {"cores": 1, "memory": "1g"}}));
    assert_eq!(
        job.plan(&Value::Null, &fixed, &fixed).planned.attr("executor").attr("instances"),
        &Value::Number(crate::core::Number::Int(2))
    );
}

fn placed() -> Value {
    config(serde_json::json!({
        "driver": {"cores": 1, "memory": "2g", "node_selector": {"alibabacloud.com/nodepool-id": "np-regular"},
                   "labels": {"team": "data"}, "annotations": {"example.com/owner": "ana"}},
        "executor": {"cores": 2, "memory": "4g", "max_instances": 4,
                     "node_selector": {"type": "virtual-kubelet"},
                     "labels": {"tier": "elastic"}, "annotations": {"k8s.aliyun.com/eci-use-specs": "2-4Gi"},
                     "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Equal", "value": "alibabacloud", "effect": "NoSchedule"},
                                     {"key": "spot", "operator": "Exists", "value": null, "effect": null}]},
    }))
}

#[test]
fn the_driver_pod_carries_its_own_placement_and_mounts_the_executor_template() {
    let v = placed();
    assert!(problems(&v).is_empty(), "{:?}", problems(&v));
    let spec = JobSpec::from_value(&v);
    let pod = build_pod(&v, &spec, "spark-1", &[], &[], false);
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("data"));
    assert_eq!(labels.get("spark-role").map(String::as_str), Some("driver"), "sparkoss's labels stay");
    assert_eq!(labels.get("sparkoss.io/attempt").map(String::as_str), Some("1"));
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(ann.get("example.com/owner").map(String::as_str), Some("ana"));
    assert!(ann.contains_key(SPEC_ANNOTATION));
    let ps = pod.spec.clone().expect("spec");
    assert_eq!(ps.node_selector.unwrap_or_default().get("alibabacloud.com/nodepool-id").map(String::as_str), Some("np-regular"));
    assert!(ps.tolerations.is_none(), "the driver tolerates nothing it was not given");
    let vol = ps.volumes.unwrap_or_default().into_iter().find(|v| v.config_map.is_some()).expect("template volume");
    assert_eq!(vol.config_map.map(|c| c.name), Some("etl-executor-template".to_owned()));
    let mount = ps.containers[0].volume_mounts.clone().unwrap_or_default();
    assert_eq!(mount.iter().map(|m| m.mount_path.as_str()).collect::<Vec<_>>(), ["/opt/sparkoss/pod-template"]);

    // Executors: Spark's own settings, and the template for the tolerations.
    let conf = conf_of(pod.spec.as_ref().and_then(|s| s.containers[0].args.as_deref()).unwrap_or_default());
    let get = |k: &str| conf.get(k).map(String::as_str);
    assert_eq!(get("spark.kubernetes.executor.node.selector.type"), Some("virtual-kubelet"));
    assert_eq!(get("spark.kubernetes.executor.label.tier"), Some("elastic"));
    assert_eq!(get("spark.kubernetes.executor.label.sparkoss.io/attempt"), Some("1"));
    assert_eq!(get("spark.kubernetes.executor.annotation.k8s.aliyun.com/eci-use-specs"), Some("2-4Gi"));
    assert_eq!(get("spark.kubernetes.executor.podTemplateFile"), Some("/opt/sparkoss/pod-template/executor.json"));
    assert!(get("spark.kubernetes.driver.node.selector.alibabacloud.com/nodepool-id").is_none(), "the driver pod has its selector itself");

    let p = placement::placement(v.attr("executor"));
    let template: serde_json::Value = serde_json::from_str(&placement::executor_template(&p).expect("a template")).expect("JSON");
    assert_eq!(template["kind"], "Pod");
    assert_eq!(
        template["spec"]["tolerations"],
        serde_json::json!([
            {"key": "virtual-kubelet.io/provider", "operator": "Equal", "value": "alibabacloud", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists"}
        ])
    );
    let cm = placement::template_config_map(
        &spec,
        "{}",
        Some(&Pod {
            metadata: ObjectMeta { name: Some("etl-driver".into()), uid: Some("u1".into()), ..Default::default() },
            ..Default::default()
        }),
    );
    let owner = &cm.metadata.owner_references.expect("owned")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Pod", "etl-driver", "u1"));
    assert!(cm.data.unwrap_or_default().contains_key("executor.json"));

    // No tolerations: no template, no volume.
    let plain = config(serde_json::json!({}));
    let pspec = JobSpec::from_value(&plain);
    let pod = build_pod(&plain, &pspec, "s", &[], &[], false);
    assert!(pod.spec.expect("spec").volumes.is_none());
}

#[test]
fn placement_refuses_reserved_labels_and_impossible_tolerations() {
    let with = |role: &str, block: serde_json::Value| {
        let mut base = serde_json::json!({"cores": 1, "memory": "1g"});
        if role == "executor" {
            base["max_instances"] = 2.into();
        }
        if let (Some(m), Some(x)) = (base.as_object_mut(), block.as_object()) {
            m.extend(x.clone());
        }
        config(serde_json::json!({ role: base }))
    };
    for key in ["sparkoss.io/job", "spark-role", "app.kubernetes.io/managed-by"] {
        let got = problems(&with("executor", serde_json::json!({"labels": {key: "x"}})));
        assert_eq!(got.len(), 1, "{key}: {got:?}");
        assert_eq!(got[0].0, Some(executor_attr("labels").key(key)));
        assert!(got[0].1.contains("sparkoss sets"), "{got:?}");
    }
    let got = problems(&with("driver", serde_json::json!({"annotations": {"sparkoss.io/job-spec": "{}"}})));
    assert_eq!(got[0].0, Some(AttrPath::root().attr("driver").attr("annotations").key("sparkoss.io/job-spec")));

    let tol = |t: serde_json::Value| with("executor", serde_json::json!({"tolerations": [t]}));
    let tpath = |n: &str| executor_attr("tolerations").index(0).attr(n);
    let got = problems(&tol(serde_json::json!({"key": "k", "operator": "Sometimes"})));
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [Some(tpath("operator"))], "{got:?}");
    assert!(got[0].1.contains("use one of Equal, Exists"), "{got:?}");
    let got = problems(&tol(serde_json::json!({"key": "k", "effect": "NoRun"})));
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [Some(tpath("effect"))], "{got:?}");
    assert_eq!(paths(&tol(serde_json::json!({"key": "k", "operator": "Exists", "value": "v"}))), [tpath("value")]);
    assert_eq!(paths(&tol(serde_json::json!({"operator": "Equal", "value": "v"}))), [tpath("key")]);
    assert!(problems(&tol(serde_json::json!({"operator": "Exists"}))).is_empty(), "tolerates everything");
    assert!(problems(&tol(serde_json::json!({"key": "k", "effect": ""}))).is_empty(), "an empty effect is every effect");

    assert_eq!(
        paths(&with("driver", serde_json::json!({"node_selector": {"bad key!": "x"}}))),
        [AttrPath::root().attr("driver").attr("node_selector").key("bad key!")]
    );
    let got = problems(&config(serde_json::json!({"spark_conf": {"spark.kubernetes.executor.node.selector.type": "x"}})));
    assert!(got.len() == 1 && got[0].1.contains("executor.node_selector"), "{got:?}");
}

#[test]
fn every_attempt_has_its_own_driver_name_and_label() {
    assert_eq!(retry::driver_pod_name("etl", 1), "etl-driver");
    assert_eq!(retry::driver_pod_name("etl", 3), "etl-driver-3");
    let mut v = config(serde_json::json!({"retries": 2}));
    assert_eq!(retry::retries(&v).retries, 2);
    if let Some(m) = v.attrs_mut() {
        m.insert("attempts".into(), Value::Number(crate::core::Number::Int(2)));
    }
    let spec = JobSpec::from_value(&v);
    assert_eq!(spec.driver_pod(), "etl-driver-2");
    let pod = build_pod(&v, &spec, "spark-2", &[], &[], false);
    assert_eq!(pod.metadata.name.as_deref(), Some("etl-driver-2"));
    assert_eq!(retry::pod_attempt(&pod), 2);
    let args = pod.spec.as_ref().and_then(|s| s.containers[0].args.clone()).unwrap_or_default();
    assert_eq!(flag(&args, "--driver-pod-name"), Some("etl-driver-2"), "executors are owned by this attempt's driver");
    assert_eq!(conf_of(&args).get("spark.kubernetes.executor.label.sparkoss.io/attempt").map(String::as_str), Some("2"));
    // The service keeps one name for every attempt.
    assert_eq!(spec.service(), "etl-driver-svc");

    let detail = retry::failed_attempts_detail(&[
        "driver pod x/etl-driver failed with exit code 1:\nBoom".into(),
        "driver pod x/etl-driver-2 failed with exit code 3:\nBang".into(),
    ]);
    assert!(detail.starts_with("attempt 1 of 2 failed: driver pod x/etl-driver failed with exit code 1:\n"), "{detail}");
    assert!(detail.contains("attempt 2 of 2 failed: driver pod x/etl-driver-2 failed with exit code 3:\nBang"), "{detail}");

    // Retries happen while apply waits; without waiting they are refused.
    let got = problems(&config(serde_json::json!({"retries": 1, "wait_for_completion": false})));
    assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), [Some(AttrPath::root().attr("retries"))]);
    assert_eq!(paths(&config(serde_json::json!({"retries": 11}))), [AttrPath::root().attr("retries")]);
    assert_eq!(paths(&config(serde_json::json!({"retry_interval": "soon"}))), [AttrPath::root().attr("retry_interval")]);
}

fn executor_pod(uid: &str, cpu: &str, mem: &str, start: i64, finished: Option<i64>) -> Pod {
    let t = |s: i64| Time(k8s_openapi::jiff::Timestamp::from_second(s).expect("time"));
    Pod {
        metadata: ObjectMeta { uid: Some(uid.into()), name: Some(uid.into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![k8s_openapi::api::core::v1::Container {
                name: "executor".into(),
                resources: Some(ResourceRequirements {
                    requests: Some([("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(mem.into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            start_time: Some(t(start)),
            container_statuses: finished.map(|f| {
                vec![ContainerStatus {
                    name: "executor".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated { finished_at: Some(t(f)), exit_code: 0, ..Default::default() }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
    }
}

#[test]
fn usage_counts_each_executor_for_the_time_it_ran() {
    let mut runs = ExecutorRuns::default();
    // t=100: one executor; t=110: three (a wide stage); t=130: one released (finished at 125),
    // one gone between listings (last seen at 110); t=150: the driver ends.
    runs.observe(&[executor_pod("a", "1", "2Gi", 100, None)], 100);
    runs.observe(
        &[executor_pod("a", "1", "2Gi", 100, None), executor_pod("b", "1", "2Gi", 105, None), executor_pod("c", "500m", "1Gi", 108, None)],
        110,
    );
    runs.observe(&[executor_pod("a", "1", "2Gi", 100, None), executor_pod("b", "1", "2Gi", 105, Some(125))], 130);
    // The same pod listed again does not count twice.
    runs.observe(&[executor_pod("a", "1", "2Gi", 100, None)], 140);
    runs.finish(150);
    assert_eq!(runs.peak, 3);
    let u = runs.usage();
    // a: 50 s × 1 core; b: 20 s × 1; c: 2 s × 0.5 (until last seen at 110).
    assert_eq!(u.core_seconds, 50.0 + 20.0 + 1.0);
    assert_eq!(u.gib_seconds, 50.0 * 2.0 + 20.0 * 2.0 + 2.0);

    // The attempt adds the driver's requests × its run time (1 core, 2432 MiB, 60 s).
    let v = config(serde_json::json!({}));
    let spec = JobSpec::from_value(&v);
    let mut driver = executor_pod("d", "1", "2432Mi", 90, Some(150));
    if let Some(s) = driver.status.as_mut() {
        s.phase = Some("Succeeded".into());
        if let Some(cs) = s.container_statuses.as_mut() {
            if let Some(t) = cs[0].state.as_mut().and_then(|st| st.terminated.as_mut()) {
                t.started_at = s.start_time.clone();
            }
        }
    }
    let a = attempt_usage(&spec, &driver, &runs, 200);
    assert_eq!(a.core_seconds, 60.0 + 71.0);
}
