//! The local cloud starts as the agreed contract says: one JSON line, loopback endpoints, and a
//! clean exit on SIGTERM.

use sparkoss_acceptance_tests::LocalCloudProcess;

#[test]
fn starts_reports_endpoints_and_stops_on_sigterm() {
    let mut cloud = LocalCloudProcess::start_with_keys(&["--no-kubelet"], Some(("LTAItest", "s3cr3t"))).expect("starts");
    let e = cloud.endpoints.clone();
    assert_eq!(e.region, "cn-local");
    assert_eq!((e.access_key_id.as_str(), e.access_key_secret.as_str()), ("LTAItest", "s3cr3t"));
    for url in [&e.ack_endpoint, &e.oss_endpoint] {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        std::net::TcpStream::connect(url.trim_start_matches("http://")).expect("listening");
    }
    // The Kubernetes API is HTTPS, and the admin kubeconfig the line names carries its CA.
    assert!(e.kubernetes_endpoint.starts_with("https://127.0.0.1:"), "{}", e.kubernetes_endpoint);
    std::net::TcpStream::connect(e.kubernetes_endpoint.trim_start_matches("https://")).expect("listening");
    let kubeconfig = std::fs::read_to_string(&e.kubeconfig).expect("the admin kubeconfig exists");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&e.kubeconfig).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the admin kubeconfig carries a token: owner-only");
    assert!(kubeconfig.contains(&format!("server: {}", e.kubernetes_endpoint)), "{kubeconfig}");
    assert!(kubeconfig.contains("certificate-authority-data: ") && kubeconfig.contains("token: "), "CA and token");
    assert!(cloud.stop(), "exits 0 on SIGTERM");
}

#[test]
fn refuses_non_loopback_addresses_and_bad_flags() {
    let bin = sparkoss_acceptance_tests::localcloud_bin().expect("builds");
    for args in [&["--listen", "0.0.0.0"][..], &["--create-delay", "soon"][..], &["--access-key-id", "x"][..], &["--bogus"][..]] {
        let out = std::process::Command::new(&bin).args(args).env_remove("LOCALCLOUD_ACCESS_KEY_SECRET").output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("localcloud: "), "{args:?}");
    }
    // A secret is never taken from the command line, where every local user sees it.
    let out = std::process::Command::new(&bin).args(["--access-key-id", "x", "--access-key-secret", "y"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--access-key-secret is not taken on the command line") && err.contains("LOCALCLOUD_ACCESS_KEY_SECRET"), "{err}");
}

#[test]
fn the_docker_kubelet_without_an_engine_refuses_to_start_naming_it() {
    let bin = sparkoss_acceptance_tests::localcloud_bin().expect("builds");
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = format!("unix://{}/no-docker.sock", dir.path().display());
    let started = std::time::Instant::now();
    let out = std::process::Command::new(&bin).args(["--kubelet", "docker"]).env("DOCKER_HOST", &nowhere).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "no fallback to the rule kubelet: {err}");
    assert!(out.stdout.is_empty(), "no endpoints line: {}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains("the Docker Engine at") && err.contains(&nowhere), "the error names the engine: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "bounded: {:?}", started.elapsed());
}
