//! The Kubernetes API emulator against the official clients: `kubectl` (get, describe, logs -l,
//! apply -f with its default strict validation, explain, delete) and the Python `kubernetes`
//! client (list, watch, logs).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sparkoss_acceptance_tests::{fixtures, repo_root, KubeconfigFile, LocalCloudProcess};
use sparkoss_testkit::kube_client::set_kubelet_rule;

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    fixtures::kubectl(kubeconfig, args, stdin.map(str::as_bytes)).expect("kubectl runs (scripts/install-tools installs it)")
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what} failed: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const NAMESPACE_WITH_QUOTA: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    sparkoss.io/user: team-a
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: team-a
spec:
  hard:
    requests.cpu: "2"
    requests.memory: 4Gi
    pods: "5"
---
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
  namespace: team-a
spec:
  limits:
  - type: Container
    defaultRequest: {cpu: 500m, memory: 512Mi}
    default: {cpu: "1", memory: 1Gi}
"#;

fn pod(name: &str, cpu: Option<&str>) -> String {
    let resources = cpu.map(|c| format!("    resources: {{requests: {{cpu: {c}, memory: 256Mi}}}}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: team-a\n  labels:\n    sparkoss.io/job: etl\n    spark-role: driver\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox:1.36\n{resources}"
    )
}

#[test]
fn kubectl_get_describe_logs_apply_delete() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let kubeconfig = KubeconfigFile::new(&lc.endpoints.kubernetes_endpoint).expect("admin kubeconfig");
    let kc = kubeconfig.path.clone();
    // The driver runs long enough to still count against the quota when the next pod is created.
    set_kubelet_rule(&lc.endpoints.kubernetes_endpoint, &json!({"outcome": "succeed", "run_ms": 3000, "log_lines": 4})).expect("rule");

    // kubectl validates strictly by default: it finds `fieldValidation` in the emulator's OpenAPI
    // v3 documents and leaves the check to the server.
    let out = ok(&kubectl(&kc, &["apply", "-f", "-"], Some(NAMESPACE_WITH_QUOTA)), "kubectl apply");
    assert!(out.contains("namespace/team-a created") && out.contains("resourcequota/compute created"), "{out}");
    // A second apply of the same document changes nothing.
    let again = ok(&kubectl(&kc, &["apply", "-f", "-"], Some(NAMESPACE_WITH_QUOTA)), "kubectl apply again");
    assert!(again.contains("namespace/team-a unchanged") && again.contains("limitrange/defaults unchanged"), "{again}");

    let ns: Value = serde_json::from_str(&ok(&kubectl(&kc, &["get", "namespace", "team-a", "-o", "json"], None), "get ns")).expect("json");
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["metadata"]["labels"]["sparkoss.io/user"], "team-a");

    // A pod without requests gets the LimitRange defaults; the quota admits it.
    ok(&kubectl(&kc, &["create", "-f", "-"], Some(&pod("etl-driver", None))), "create pod");
    let p: Value = serde_json::from_str(&ok(&kubectl(&kc, &["get", "pod", "-n", "team-a", "etl-driver", "-o", "json"], None), "get pod"))
        .expect("json");
    assert_eq!(p["spec"]["containers"][0]["resources"]["requests"]["cpu"], "500m");
    assert_eq!(p["spec"]["containers"][0]["resources"]["limits"]["memory"], "1Gi");

    // Over quota: the API server's own 403 message.
    let refused = kubectl(&kc, &["create", "-f", "-"], Some(&pod("too-big", Some("1800m"))));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("pods \"too-big\" is forbidden: exceeded quota: compute, requested: requests.cpu=1800m, used: requests.cpu=500m, limited: requests.cpu=2"),
        "{err}"
    );

    wait_for("the pod to complete", Duration::from_secs(20), || {
        let o = kubectl(&kc, &["get", "pod", "-n", "team-a", "etl-driver", "-o", "jsonpath={.status.phase}"], None);
        (String::from_utf8_lossy(&o.stdout) == "Succeeded").then_some(())
    });
    let table = ok(&kubectl(&kc, &["get", "pods", "-n", "team-a", "-l", "spark-role=driver"], None), "get pods");
    assert!(table.contains("etl-driver") && table.contains("Completed"), "{table}");
    let none = kubectl(&kc, &["get", "pods", "-n", "team-a", "-l", "spark-role=executor"], None);
    assert!(!String::from_utf8_lossy(&none.stdout).contains("etl-driver"));

    let logs = ok(&kubectl(&kc, &["logs", "-n", "team-a", "-l", "sparkoss.io/job=etl", "--tail=2"], None), "logs -l");
    assert_eq!(logs.lines().collect::<Vec<_>>(), vec!["etl-driver log line 3", "etl-driver log line 4"], "{logs}");

    let described = ok(&kubectl(&kc, &["describe", "pod", "-n", "team-a", "etl-driver"], None), "describe pod");
    assert!(described.contains("Successfully assigned team-a/etl-driver"), "{described}");
    assert!(described.contains("busybox:1.36"), "{described}");
    let quota = ok(&kubectl(&kc, &["describe", "quota", "-n", "team-a", "compute"], None), "describe quota");
    // The finished pod no longer counts against the quota.
    assert!(quota.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.cpu", "0", "2"]), "{quota}");

    // logs -f follows a running pod until it ends (the failure line is written at the end).
    let follow = r#"{"outcome": "fail", "namespace": "team-a", "message": "bye", "run_ms": 1500, "log_lines": 2}"#;
    set_kubelet_rule(&lc.endpoints.kubernetes_endpoint, &serde_json::from_str(follow).expect("json")).expect("rule");
    ok(&kubectl(&kc, &["create", "-f", "-"], Some(&pod("follower", Some("100m")))), "create follower");
    wait_for("the follower to run", Duration::from_secs(20), || {
        let o = kubectl(&kc, &["get", "pod", "-n", "team-a", "follower", "-o", "jsonpath={.status.phase}"], None);
        (String::from_utf8_lossy(&o.stdout) == "Running").then_some(())
    });
    let started = Instant::now();
    let followed = ok(&kubectl(&kc, &["logs", "-f", "-n", "team-a", "follower"], None), "logs -f");
    assert_eq!(followed.lines().collect::<Vec<_>>(), ["follower log line 1", "follower log line 2", "ERROR bye"], "{followed}");
    assert!(started.elapsed() < Duration::from_secs(15), "logs -f must end with the pod");

    // Deleting the namespace waits until it and its contents are gone.
    ok(&kubectl(&kc, &["delete", "namespace", "team-a", "--timeout=30s"], None), "delete ns");
    let gone = kubectl(&kc, &["get", "namespace", "team-a"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"), "{}", String::from_utf8_lossy(&gone.stderr));
    let pods = ok(&kubectl(&kc, &["get", "pods", "-A", "-o", "json"], None), "get pods -A");
    assert!(!pods.contains("etl-driver"), "pods survived their namespace: {pods}");
}

#[test]
fn python_client_lists_and_watches_pods() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let kubeconfig = KubeconfigFile::new(&lc.endpoints.kubernetes_endpoint).expect("admin kubeconfig");
    let kc = kubeconfig.path.clone();
    set_kubelet_rule(&lc.endpoints.kubernetes_endpoint, &json!({"outcome": "succeed", "run_ms": 300, "log_lines": 5})).expect("rule");
    let py = repo_root().join(".tools/venv/bin/python");
    let out = Command::new(py)
        .arg(repo_root().join("acceptance-tests/python/kube_client.py"))
        .arg(&kc)
        .arg("py-watch")
        .output()
        .expect("python runs (scripts/install-tools)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["listed"], json!(["py-a", "py-b"]));
    assert_eq!(r["phases"], json!(["Succeeded", "Succeeded"]));
    assert_eq!(r["not_matching"], 0);
    assert_eq!(r["log_tail"], json!(["py-a log line 4", "py-a log line 5"]));
    let events = r["events"].as_array().expect("events");
    for name in ["py-a", "py-b"] {
        let seen: Vec<&str> = events.iter().filter(|e| e["name"] == name).filter_map(|e| e["phase"].as_str()).collect();
        assert_eq!(seen.first(), Some(&"Pending"), "{name}: {seen:?}");
        assert!(seen.contains(&"Running") && seen.last() == Some(&"Succeeded"), "{name}: {seen:?}");
        assert_eq!(events.iter().find(|e| e["name"] == name).map(|e| e["type"].clone()), Some(json!("ADDED")));
    }
}

/// A config map and a pod with fields their kinds do not have.
const UNKNOWN_FIELDS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data: {mode: fast}
---
apiVersion: v1
kind: Pod
metadata:
  name: typo
  namespace: default
spec:
  restartPolicy: Never
  foo: 1
  containers:
  - name: main
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    resources: {requests: {cpu: 100m}}
    bogus: true
"#;

#[test]
fn kubectl_validation_uses_the_servers_openapi_and_field_validation() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let kubeconfig = KubeconfigFile::new(&lc.endpoints.kubernetes_endpoint).expect("admin kubeconfig");
    let kc = kubeconfig.path.clone();

    // Strict (kubectl's default): the server refuses the pod and names both unknown fields.
    let refused = kubectl(&kc, &["apply", "-f", "-"], Some(UNKNOWN_FIELDS));
    assert!(!refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(r#"Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus", unknown field "spec.foo""#),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&refused.stdout).contains("configmap/settings created"), "the valid document is still applied");
    let gone = kubectl(&kc, &["get", "pod", "typo"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"), "a refused pod must not be stored");

    // Warn: accepted, with one warning per unknown field.
    let warned = kubectl(&kc, &["apply", "--validate=warn", "-f", "-"], Some(UNKNOWN_FIELDS));
    let out = ok(&warned, "apply --validate=warn");
    assert!(out.contains("pod/typo created") && out.contains("configmap/settings unchanged"), "{out}");
    let err = String::from_utf8_lossy(&warned.stderr);
    assert!(
        err.contains(r#"Warning: unknown field "spec.foo""#) && err.contains(r#"Warning: unknown field "spec.containers[0].bogus""#),
        "{err}"
    );

    // An update goes through a strategic-merge patch, checked the same way.
    let changed = UNKNOWN_FIELDS.replace("data: {mode: fast}", "data: {mode: slow}\nbinaryDatum: {}");
    let refused = kubectl(&kc, &["apply", "-f", "-"], Some(&changed));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(r#"strict decoding error: unknown field "binaryDatum""#), "{err}");
    let mode = ok(&kubectl(&kc, &["get", "configmap", "settings", "-o", "jsonpath={.data.mode}"], None), "get configmap");
    assert_eq!(mode, "fast", "a refused patch changes nothing");

    // Containers and their env are merged by name: re-applying changes nothing, and a change keeps
    // what the server defaulted.
    let app = |env: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: default}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox:1.36\n    env: [{env}]\n")
    };
    let first = app(r#"{name: A, value: "1"}, {name: B, value: "1"}"#);
    ok(&kubectl(&kc, &["apply", "-f", "-"], Some(&first)), "apply app");
    let out = ok(&kubectl(&kc, &["apply", "-f", "-"], Some(&first)), "apply app again");
    assert!(out.contains("pod/app unchanged"), "{out}");
    let out = ok(&kubectl(&kc, &["apply", "-f", "-"], Some(&app(r#"{name: A, value: "2"}"#))), "apply changed app");
    assert!(out.contains("pod/app configured"), "{out}");
    let p: Value = serde_json::from_str(&ok(&kubectl(&kc, &["get", "pod", "app", "-o", "json"], None), "get app")).expect("json");
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["env"], json!([{"name": "A", "value": "2"}]), "{c}");
    assert_eq!((c["image"].as_str(), c["terminationMessagePath"].as_str()), (Some("busybox:1.36"), Some("/dev/termination-log")), "{c}");

    // Server-side dry run checks and answers without storing.
    let dry = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: default}\ndata: {a: b}\n";
    let out = ok(&kubectl(&kc, &["apply", "--dry-run=server", "-f", "-"], Some(dry)), "apply --dry-run=server");
    assert!(out.contains("configmap/dry created (server dry run)"), "{out}");
    let gone = kubectl(&kc, &["get", "configmap", "dry"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"), "a dry run must not be stored");

    // kubectl explain renders the same schemas.
    let explained = ok(&kubectl(&kc, &["explain", "pod.spec.containers"], None), "explain");
    assert!(explained.contains("FIELD: containers <[]Container>"), "{explained}");
    assert!(explained.contains("volumeMounts\t<[]VolumeMount>") && explained.contains("resources\t<ResourceRequirements>"), "{explained}");
    let explained = ok(&kubectl(&kc, &["explain", "rolebinding.roleRef"], None), "explain rbac");
    assert!(explained.contains("GROUP:      rbac.authorization.k8s.io") && explained.contains("name\t<string> -required-"), "{explained}");
}

#[test]
fn kubectl_server_side_apply_owns_fields_and_reports_conflicts() {
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let kubeconfig = KubeconfigFile::new(&lc.endpoints.kubernetes_endpoint).expect("admin kubeconfig");
    let kc = kubeconfig.path.clone();
    let cm = |data: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n{data}");

    // Created by the first apply (kubectl sends application/apply-patch+yaml with its field manager).
    let out = ok(
        &kubectl(&kc, &["apply", "--server-side", "--field-manager=team-a", "-f", "-"], Some(&cm("  alpha: \"1\"\n  beta: \"2\"\n"))),
        "ssa",
    );
    assert!(out.contains("configmap/settings serverside-applied"), "{out}");
    let got: Value =
        serde_json::from_str(&ok(&kubectl(&kc, &["get", "configmap", "settings", "-o", "json", "--show-managed-fields"], None), "get"))
            .expect("json");
    assert_eq!(got["data"], json!({"alpha": "1", "beta": "2"}));
    let mf = &got["metadata"]["managedFields"][0];
    assert_eq!((mf["manager"].as_str(), mf["operation"].as_str()), (Some("team-a"), Some("Apply")), "{got}");

    // Another manager setting alpha to another value conflicts, in kubectl's words;
    // --force-conflicts takes it. (Keys like `y` would be booleans to kubectl's YAML 1.1 reader.)
    let conflict = kubectl(&kc, &["apply", "--server-side", "--field-manager=team-b", "-f", "-"], Some(&cm("  alpha: \"9\"\n")));
    assert!(!conflict.status.success());
    let err = String::from_utf8_lossy(&conflict.stderr);
    assert!(err.contains("conflict") && err.contains("team-a") && err.contains(".data.alpha"), "{err}");
    ok(
        &kubectl(&kc, &["apply", "--server-side", "--field-manager=team-b", "--force-conflicts", "-f", "-"], Some(&cm("  alpha: \"9\"\n"))),
        "force",
    );
    // team-a re-applies without alpha: beta stays (team-a's), alpha stays (now team-b's).
    ok(&kubectl(&kc, &["apply", "--server-side", "--field-manager=team-a", "-f", "-"], Some(&cm("  beta: \"2\"\n"))), "reapply");
    let got: Value = serde_json::from_str(&ok(&kubectl(&kc, &["get", "configmap", "settings", "-o", "json"], None), "get")).expect("json");
    assert_eq!(got["data"], json!({"alpha": "9", "beta": "2"}));
}

/// Lists are paged as the API server pages them (`limit`, `metadata.continue`,
/// `remainingItemCount`): kubectl's `--chunk-size` follows the pages, and a bad token is refused.
#[test]
fn lists_are_paged_with_continue_tokens() {
    use sparkoss_testkit::kube_client::request;
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = &lc.endpoints.kubernetes_endpoint;
    let kubeconfig = KubeconfigFile::new(ep).expect("admin kubeconfig");
    assert_eq!(request(ep, "POST", "/api/v1/namespaces", Some(&json!({"metadata": {"name": "pages"}}))).expect("ns").0, 201);
    for i in 0..5 {
        let cm = json!({"metadata": {"name": format!("cm-{i}")}, "data": {"i": i.to_string()}});
        assert_eq!(request(ep, "POST", "/api/v1/namespaces/pages/configmaps", Some(&cm)).expect("cm").0, 201);
    }
    let mut names = Vec::new();
    let mut path = "/api/v1/namespaces/pages/configmaps?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (code, page) = request(ep, "GET", &path, None).expect("list");
        assert_eq!(code, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2, "{page}");
        names.extend(items.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned()));
        match page["metadata"]["continue"].as_str() {
            Some(token) => {
                assert_eq!(page["metadata"]["remainingItemCount"], 5 - names.len(), "{page}");
                path = format!("/api/v1/namespaces/pages/configmaps?limit=2&continue={token}");
            }
            None => break,
        }
        assert!(pages < 10, "pages never end");
    }
    assert_eq!((pages, names), (3, (0..5).map(|i| format!("cm-{i}")).collect::<Vec<_>>()));
    let (code, body) = request(ep, "GET", "/api/v1/namespaces/pages/configmaps?limit=2&continue=bm9wZQ", None).expect("list");
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.starts_with("continue key is not valid")), "{body}");

    let out = ok(
        &kubectl(&kubeconfig.path, &["get", "configmaps", "-n", "pages", "--chunk-size=2", "-o", "name"], None),
        "kubectl get --chunk-size=2",
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("configmap/cm-")).count(), 5, "{out}");
}

/// `kubectl create token` against the TokenRequest API: the lifetime asked is the one granted,
/// under ten minutes is refused in the API server's words, a missing service account is named,
/// the token authenticates as its service account (RBAC then decides), and it stops working
/// when the service account is deleted. Discovery lists the subresource as the real /api/v1 does.
#[test]
fn kubectl_create_token_issues_tokens_that_end_with_their_service_account() {
    use sparkoss_testkit::kube_client::request;
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let ep = &lc.endpoints.kubernetes_endpoint;
    let admin = KubeconfigFile::new(ep).expect("admin kubeconfig");
    let kc = admin.path.as_path();
    ok(&kubectl(kc, &["create", "namespace", "tokens"], None), "create namespace");
    ok(&kubectl(kc, &["create", "serviceaccount", "robot", "-n", "tokens"], None), "create serviceaccount");

    let (_, discovery) = request(ep, "GET", "/api/v1", None).expect("discovery");
    let sub = discovery["resources"].as_array().and_then(|rs| rs.iter().find(|r| r["name"] == "serviceaccounts/token")).cloned();
    assert_eq!(
        sub,
        Some(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io",
                    "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})),
        "{discovery}"
    );

    let asked = Instant::now();
    let answer = ok(&kubectl(kc, &["create", "token", "robot", "-n", "tokens", "--duration", "20m", "-o", "json"], None), "create token");
    let answer: Value = serde_json::from_str(&answer).expect("a TokenRequest as JSON");
    assert_eq!(answer["kind"], "TokenRequest", "{answer}");
    assert_eq!(answer["spec"]["expirationSeconds"], 1200, "{answer}");
    let expires = answer["status"]["expirationTimestamp"].as_str().expect("expirationTimestamp");
    let expires = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    let left = (expires - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((1195 - asked.elapsed().as_secs() as i64..=1200).contains(&left), "expires in {left} s: {answer}");

    let short = kubectl(kc, &["create", "token", "robot", "-n", "tokens", "--duration", "5m"], None);
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(!short.status.success(), "a 5 minute token was granted");
    assert!(
        err.contains("TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let missing = kubectl(kc, &["create", "token", "nobody", "-n", "tokens"], None);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && err.contains("serviceaccounts \"nobody\" not found"), "{err}");

    // The plain form prints the token alone; it goes into a kubeconfig file, never an argument.
    let token = ok(&kubectl(kc, &["create", "token", "robot", "-n", "tokens"], None), "create token").trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let robot = KubeconfigFile::with_token(ep, &token).expect("robot kubeconfig");
    let refused = kubectl(&robot.path, &["get", "pods", "-n", "tokens"], None);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("User \"system:serviceaccount:tokens:robot\" cannot list resource \"pods\""),
        "authenticated as the service account, then RBAC refuses: {err}"
    );
    ok(
        &kubectl(kc, &["create", "rolebinding", "robot-view", "-n", "tokens", "--clusterrole=view", "--serviceaccount=tokens:robot"], None),
        "bind view",
    );
    ok(&kubectl(&robot.path, &["get", "pods", "-n", "tokens"], None), "get pods as the robot");
    // Only the admin (or a role that grants create on serviceaccounts/token) may mint tokens.
    let minted = kubectl(&robot.path, &["create", "token", "robot", "-n", "tokens"], None);
    let err = String::from_utf8_lossy(&minted.stderr);
    assert!(!minted.status.success() && err.contains("cannot create resource \"serviceaccounts/token\""), "{err}");

    ok(&kubectl(kc, &["delete", "serviceaccount", "robot", "-n", "tokens"], None), "delete serviceaccount");
    let revoked = kubectl(&robot.path, &["get", "pods", "-n", "tokens"], None);
    let err = String::from_utf8_lossy(&revoked.stderr);
    assert!(!revoked.status.success() && err.contains("Unauthorized"), "{err}");
}
