//! Fidelity of the ACK emulator, proven by the official Python SDK (`alibabacloud-cs20151215`):
//! a full create → describe → list → kubeconfig → task → node pools → delete round trip
//! succeeds, and the same SDK with a wrong secret is refused as ACK refuses it.

use std::process::Command;

use sparkoss_acceptance_tests::{repo_root, LocalCloudProcess};

#[test]
fn official_sdk_round_trip_and_wrong_secret_refused() {
    let python = repo_root().join(".tools/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-tools", python.display());
    let cloud = LocalCloudProcess::start(&[
        "--access-key-id",
        "LTAIsdk",
        "--access-key-secret",
        "sdk-secret",
        "--create-delay",
        "1s",
        "--no-kubelet",
    ])
    .expect("localcloud starts");
    let e = &cloud.endpoints;
    let script = repo_root().join("acceptance-tests/python/ack_sdk_fidelity.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([&e.ack_endpoint, &e.access_key_id, &e.access_key_secret, &e.region])
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK script failed: {stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");

    let id = doc["created"]["cluster_id"].as_str().expect("cluster id");
    assert!(!id.is_empty());
    let states: Vec<&str> = doc["states"].as_array().expect("states").iter().filter_map(|s| s.as_str()).collect();
    assert_eq!(states.first(), Some(&"initial"), "a new cluster starts initial: {states:?}");
    assert_eq!(states.last(), Some(&"running"), "and becomes running: {states:?}");
    assert_eq!(doc["detail"]["name"], "sdk-fidelity");
    assert_eq!(doc["detail"]["tags"][0]["value"], "data");
    assert_eq!(doc["list"], serde_json::json!([id]));
    assert_eq!(doc["kubeconfig_server"], e.kubernetes_endpoint.as_str());
    assert_eq!(doc["task_state"], "success");
    assert_eq!(doc["pools"], serde_json::json!([["workers", 1, 3]]));
    assert_eq!(doc["deleted"], "ErrorClusterNotFound", "deleted clusters disappear");
    assert_eq!(doc["wrong_secret"]["code"], "SignatureDoesNotMatch", "{doc}");
    assert_eq!(doc["wrong_secret"]["status"], 400);
}
