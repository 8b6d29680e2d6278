//! The official OSS SDKs (`oss2` with signature V1 and V4, `alibabacloud-oss-v2`) against the
//! local cloud's OSS emulator: uploads, downloads, ranges, HeadObject checksums, multipart,
//! listing and presigned URLs work, and a wrong secret gets `SignatureDoesNotMatch`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Stdio;

use serde_json::Value;
use sparkoss_acceptance_tests::repo_root;
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_localcloud::oss::testing::start_local;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_use_the_emulator() {
    let python = repo_root().join(".tools/venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-tools", python.display());
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = ("LTAIfidelity", "fidelity-secret-42");
    let cloud = start_local(dir.path(), ak, sk).await.unwrap();
    let script = repo_root().join("acceptance-tests/python/oss_sdk_fidelity.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("OSS_ENDPOINT", &cloud.endpoints.oss_endpoint)
        .env("OSS_REGION", &cloud.endpoints.region)
        .env("OSS_ACCESS_KEY_ID", ak)
        .env("OSS_ACCESS_KEY_SECRET", sk)
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "the SDK script failed:\n{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let data: Vec<u8> = (0..300 * 1024u32).map(|i| ((i * 31 + 7) % 251) as u8).collect();
    let crc = Crc64::checksum(&data);
    for round in ["oss2_v1", "oss2_v4", "ossv2"] {
        let r = &doc[round];
        assert_eq!(r["get_ok"], true, "{round}: {r}");
        assert_eq!(r["range"], r["expected_range"], "{round}");
        assert_eq!(r["head_size"], data.len() as u64, "{round}");
        assert_eq!(r["head_crc"].as_u64().or_else(|| r["head_crc"].as_str().and_then(|s| s.parse().ok())), Some(crc), "{round}: {r}");
        assert_eq!(r["head_etag"], r["put_etag"], "{round}");
        assert_eq!(r["head_etag"].as_str().unwrap().trim_matches('"').len(), 32, "{round}");
        assert_eq!(r["missing"]["status"], 404, "{round}: {r}");
        assert_eq!(r["missing"]["code"], "NoSuchKey", "{round}: {r}");
        assert_eq!(r["missing"]["request_id"].as_str().map(str::len), Some(24), "{round}: {r}");
        assert_eq!(r["wrong_secret"]["status"], 403, "{round}: {r}");
        assert_eq!(r["wrong_secret"]["code"], "SignatureDoesNotMatch", "{round}: {r}");
    }
    for round in ["oss2_v1", "oss2_v4"] {
        let r = &doc[round];
        assert_eq!(r["multipart_ok"], true, "{round}");
        assert_eq!(r["presigned_ok"], true, "{round}");
        assert_eq!(r["listed"], serde_json::json!(["dir/odd key+~é.bin", "multi.bin"]), "{round}");
    }
    assert_eq!(doc["ossv2"]["listed"], serde_json::json!(["dir/odd key+~é.bin"]));
    cloud.stop().await;
}
