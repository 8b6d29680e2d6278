//! The manifests of `examples/metering` against the local cloud's Kubernetes API, with kubectl:
//! a server-side dry run accepts every object and stores none, the server's strict field
//! validation refuses a misspelled field, and the Deployment goes through apply, get and delete
//! (the emulator stores Deployments but runs no controller: no pod ever appears).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use serde_json::Value;
use sparkoss_acceptance_tests::{fixtures, repo_root, KubeconfigFile, LocalCloudProcess};

const NS: &str = "sparkoss-meter";

fn example(file: &str) -> PathBuf {
    repo_root().join("examples/metering").join(file)
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    fixtures::kubectl(kubeconfig, args, stdin).expect("kubectl runs (scripts/install-tools installs it)")
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what} failed: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lines kubectl printed, sorted (it applies a file's documents in their order, but the
/// assertions are about which objects, not which order).
fn lines(out: &str) -> Vec<String> {
    let mut l: Vec<String> = out.lines().map(str::to_owned).collect();
    l.sort();
    l
}

/// `kubectl apply --dry-run=server -f <file>` must report exactly `objects`, each as a server
/// dry run.
fn dry_run(kc: &Path, file: &str, objects: &[&str]) {
    let path = example(file);
    let out = ok(&kubectl(kc, &["apply", "--dry-run=server", "-f", &path.display().to_string()], None), &format!("dry run of {file}"));
    let mut want: Vec<String> = objects.iter().map(|o| format!("{o} created (server dry run)")).collect();
    want.sort();
    assert_eq!(lines(&out), want, "{file}");
}

fn stored_names(kc: &Path, what: &str) -> Vec<String> {
    let out = ok(&kubectl(kc, &["get", what, "-n", NS, "-o", "name"], None), &format!("get {what}"));
    lines(&out)
}

#[test]
fn a_server_dry_run_accepts_every_manifest_and_stores_nothing() {
    let started = Instant::now();
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    let kubeconfig = KubeconfigFile::new(&lc.endpoints.kubernetes_endpoint).expect("admin kubeconfig");
    let kc = kubeconfig.path.clone();

    dry_run(&kc, "namespace.yaml", &["namespace/sparkoss-meter"]);
    let gone = kubectl(&kc, &["get", "namespace", NS], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"), "a dry run must not create the namespace");
    // The other objects live in the namespace: a dry run of them needs it to exist.
    let out = ok(&kubectl(&kc, &["apply", "-f", &example("namespace.yaml").display().to_string()], None), "apply namespace");
    assert_eq!(out.trim(), "namespace/sparkoss-meter created");

    dry_run(
        &kc,
        "rbac.yaml",
        &[
            "serviceaccount/sparkoss-meter",
            "clusterrole.rbac.authorization.k8s.io/sparkoss-meter",
            "clusterrolebinding.rbac.authorization.k8s.io/sparkoss-meter",
        ],
    );
    dry_run(&kc, "sqlite.yaml", &["persistentvolumeclaim/sparkoss-meter-data", "deployment.apps/sparkoss-meter"]);
    dry_run(&kc, "postgres.yaml", &["deployment.apps/sparkoss-meter"]);

    // Nothing of it was stored.
    let none = kubectl(&kc, &["get", "deployments", "-n", NS], None);
    ok(&none, "get deployments");
    assert!(none.stdout.is_empty(), "{}", String::from_utf8_lossy(&none.stdout));
    assert_eq!(String::from_utf8_lossy(&none.stderr).trim(), "No resources found in sparkoss-meter namespace.");
    assert!(stored_names(&kc, "persistentvolumeclaims").is_empty());
    assert_eq!(stored_names(&kc, "serviceaccounts"), ["serviceaccount/default"], "only the namespace's own");
    let role = kubectl(&kc, &["get", "clusterrole", "sparkoss-meter"], None);
    assert!(String::from_utf8_lossy(&role.stderr).contains("not found"), "a dry run must not create the cluster role");

    // A misspelled field is refused by the server's strict field validation, which names it.
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(example("sqlite.yaml")).expect("sqlite.yaml");
    assert!(original.contains("\n  replicas: 1\n"), "the manifest sets spec.replicas");
    let typo = dir.path().join("sqlite.yaml");
    std::fs::write(&typo, original.replace("\n  replicas: 1\n", "\n  replicaz: 1\n")).expect("write the copy");
    let refused = kubectl(&kc, &["apply", "--dry-run=server", "--validate=strict", "-f", &typo.display().to_string()], None);
    assert!(!refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz""#
        ),
        "{err}"
    );
    assert!(none_stored(&kc), "a refused dry run stores nothing either");
    eprintln!("metering manifests dry run: {:?}", started.elapsed());
}

fn none_stored(kc: &Path) -> bool {
    stored_names(kc, "deployments").is_empty() && stored_names(kc, "persistentvolumeclaims").is_empty()
}

#[test]
fn kubectl_discovers_applies_gets_and_deletes_the_meters_deployment() {
    let started = Instant::now();
    let lc = LocalCloudProcess::start(&["--no-kubelet"]).expect("localcloud starts");
    // The TLS kubeconfig the local cloud itself wrote into its data dir.
    let kc = PathBuf::from(&lc.endpoints.kubeconfig);
    let path = |f: &str| example(f).display().to_string();

    let resources = ok(&kubectl(&kc, &["api-resources", "--api-group=apps", "--no-headers"], None), "api-resources");
    let row: Vec<&str> =
        resources.lines().find(|l| l.starts_with("deployments ")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    assert_eq!(row, ["deployments", "deploy", "apps/v1", "true", "Deployment"], "{resources}");
    let explained = ok(&kubectl(&kc, &["explain", "deployment.spec.template.spec.containers"], None), "explain");
    assert!(explained.contains("GROUP:      apps") && explained.contains("FIELD: containers <[]Container>"), "{explained}");

    let out =
        ok(&kubectl(&kc, &["apply", "-f", &path("namespace.yaml"), "-f", &path("rbac.yaml"), "-f", &path("sqlite.yaml")], None), "apply");
    for object in
        ["namespace/sparkoss-meter", "clusterrolebinding.rbac.authorization.k8s.io/sparkoss-meter", "deployment.apps/sparkoss-meter"]
    {
        assert!(out.contains(&format!("{object} created")), "{out}");
    }
    let again = ok(&kubectl(&kc, &["apply", "-f", &path("sqlite.yaml")], None), "apply again");
    assert!(again.contains("deployment.apps/sparkoss-meter unchanged"), "{again}");

    let table = ok(&kubectl(&kc, &["get", "deployments", "-n", NS], None), "get deployments");
    let header: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{table}");
    let row: Vec<&str> = table.lines().nth(1).unwrap_or("").split_whitespace().collect();
    assert_eq!(row.get(..4), Some(&["sparkoss-meter", "0/1", "0", "0"][..]), "no controller: nothing ready\n{table}");
    let d: Value =
        serde_json::from_str(&ok(&kubectl(&kc, &["get", "deploy", "sparkoss-meter", "-n", NS, "-o", "json"], None), "get -o json"))
            .expect("json");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["spec"]["strategy"], serde_json::json!({"type": "Recreate"}));
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"][3], "sqlite:///var/lib/sparkoss-meter/meter.db", "{c}");
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(stored_names(&kc, "pods").is_empty(), "the emulator runs no Deployment controller");

    // The Secret the PostgreSQL variant reads, made as the README says: the URL on stdin, never
    // in kubectl's arguments.
    let url = "postgres://meter:not-a-real-password@127.0.0.1:5432/meter";
    ok(
        &kubectl(
            &kc,
            &["create", "secret", "generic", "sparkoss-meter-database", "-n", NS, "--from-file=url=/dev/stdin"],
            Some(url.as_bytes()),
        ),
        "create secret",
    );
    let stored =
        ok(&kubectl(&kc, &["get", "secret", "sparkoss-meter-database", "-n", NS, "-o", "jsonpath={.data.url}"], None), "get secret");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(stored.trim()).expect("base64");
    assert_eq!(String::from_utf8_lossy(&decoded), url);

    // Switching to PostgreSQL is a strategic-merge patch of the same Deployment.
    let out = ok(&kubectl(&kc, &["apply", "-f", &path("postgres.yaml")], None), "apply postgres");
    assert!(out.contains("deployment.apps/sparkoss-meter configured"), "{out}");
    let d: Value =
        serde_json::from_str(&ok(&kubectl(&kc, &["get", "deploy", "sparkoss-meter", "-n", NS, "-o", "json"], None), "get -o json"))
            .expect("json");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["env"][0]["valueFrom"]["secretKeyRef"], serde_json::json!({"name": "sparkoss-meter-database", "key": "url"}), "{c}");
    assert!(!c["command"].to_string().contains("--database"), "the URL comes from the environment: {c}");
    assert_eq!(d["metadata"]["generation"], 2, "{d}");

    let out = ok(&kubectl(&kc, &["delete", "-f", &path("postgres.yaml")], None), "delete");
    assert!(out.contains("deployment.apps \"sparkoss-meter\" deleted"), "{out}");
    assert!(stored_names(&kc, "deployments").is_empty());
    eprintln!("metering deployment lifecycle: {:?}", started.elapsed());
}
