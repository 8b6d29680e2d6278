//! The OSS client (`sparkoss_aliyun::oss`) against the local cloud's OSS emulator: signatures,
//! addressing, errors, ranges, multipart, listing, and downloads that survive injected faults.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sparkoss_aliyun::checksum::crc64::Crc64;
use sparkoss_aliyun::oss::{Client, ClientConfig, DownloadOptions, Endpoint, OssError, RetryPolicy, SignatureVersion, Split};
use sparkoss_aliyun::signing::Credentials;
use sparkoss_localcloud::oss::testing::start_local;
use sparkoss_localcloud::oss::AccessEntry;
use sparkoss_localcloud::LocalCloud;

const AK: &str = "LTAIoss-test-key";
const SK: &str = "oss-test-secret-0123456789";

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect()
}

fn client(cloud: &LocalCloud, sig: SignatureVersion, secret: &str) -> Client {
    let mut cfg = ClientConfig::new(Endpoint::parse(&cloud.endpoints.oss_endpoint).unwrap(), "cn-local");
    cfg.signature = sig;
    cfg.retry = RetryPolicy { initial_delay: Duration::from_millis(20), ..RetryPolicy::default() };
    Client::new(cfg, Credentials::new(AK, secret)).unwrap()
}

async fn control(cloud: &LocalCloud, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut rb = http.request(method, format!("{}{path}", cloud.endpoints.oss_endpoint));
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_string());
    }
    let resp = rb.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp
}

async fn fault(cloud: &LocalCloud, rule: Value) {
    control(cloud, reqwest::Method::POST, "/_localcloud/faults", Some(rule)).await;
}

async fn access_log(cloud: &LocalCloud) -> Vec<AccessEntry> {
    let resp = control(cloud, reqwest::Method::GET, "/_localcloud/access-log", None).await;
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

async fn start(dir: &Path) -> LocalCloud {
    start_local(dir, AK, SK).await.unwrap()
}

#[tokio::test]
async fn put_get_head_with_v4_and_v1() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let data = pattern(300_000, 7);
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let c = client(&cloud, sig, SK);
        c.create_bucket("jobs").await.unwrap();
        let key = format!("dir/odd key+{sig:?}~é.jar");
        let put = c.put_object("jobs", &key, &data, Some("application/java-archive")).await.unwrap();
        assert_eq!(put.crc64, Crc64::checksum(&data));
        let head = c.head_object("jobs", &key).await.unwrap();
        assert_eq!(head.size, data.len() as u64);
        assert_eq!(head.crc64, Some(Crc64::checksum(&data)));
        assert_eq!(head.etag, put.etag);
        assert_eq!(head.etag.len(), 32, "an MD5 ETag: {}", head.etag);
        assert_eq!(head.content_type.as_deref(), Some("application/java-archive"));
        assert_eq!(c.get_object_bytes("jobs", &key).await.unwrap(), data);

        let resp = c.get_object("jobs", &key, Some((10, Some(19))), None).await.unwrap();
        assert_eq!(resp.status().as_u16(), 206);
        assert_eq!(resp.headers()["content-range"], format!("bytes 10-19/{}", data.len()).as_str());
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[10..20]);
        let past = c.get_object("jobs", &key, Some((data.len() as u64, None)), None).await.unwrap_err();
        assert_eq!((past.code(), past.status()), (Some("InvalidRange"), Some(416)), "{past}");
        let changed = c.get_object("jobs", &key, None, Some("0000")).await.unwrap_err();
        assert_eq!(changed.code(), Some("PreconditionFailed"), "{changed}");
    }
    let auth: Vec<String> = access_log(&cloud).await.into_iter().map(|e| e.auth).collect();
    assert!(auth.contains(&"v4".to_owned()) && auth.contains(&"v1".to_owned()), "{auth:?}");
    cloud.stop().await;
}

#[tokio::test]
async fn errors_carry_code_status_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let c = client(&cloud, SignatureVersion::V4, SK);
    c.create_bucket("jobs").await.unwrap();
    for e in [c.get_object_bytes("jobs", "missing.jar").await.unwrap_err(), c.head_object("jobs", "missing.jar").await.unwrap_err()] {
        match &e {
            OssError::Service { status: 404, code, request_id, target, .. } => {
                assert_eq!(code, "NoSuchKey");
                assert_eq!(request_id.len(), 24, "{e}");
                assert_eq!(target, "oss://jobs/missing.jar");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("oss://jobs/missing.jar: NoSuchKey (HTTP 404, request id "), "{e}");
    }
    let e = c.head_object("nobucket", "k").await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucket"), "{e}");

    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let wrong = client(&cloud, sig, "not-the-secret");
        let e = wrong.get_object_bytes("jobs", "missing.jar").await.unwrap_err();
        assert_eq!((e.code(), e.status()), (Some("SignatureDoesNotMatch"), Some(403)), "{sig:?}: {e}");
        assert!(!e.to_string().contains("not-the-secret"));
    }
    let mut cfg = ClientConfig::new(Endpoint::parse(&cloud.endpoints.oss_endpoint).unwrap(), "cn-local");
    cfg.retry = RetryPolicy::none();
    let other = Client::new(cfg, Credentials::new("LTAIunknown", SK)).unwrap();
    assert_eq!(other.head_object("jobs", "k").await.unwrap_err().code(), Some("InvalidAccessKeyId"));

    let anonymous = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = anonymous.get(format!("{}/jobs/missing.jar", cloud.endpoints.oss_endpoint)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>") && body.contains("<RequestId>"), "{body}");
    cloud.stop().await;
}

#[tokio::test]
async fn virtual_hosted_addressing_and_presigned_urls() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let port = cloud.endpoints.oss_endpoint.rsplit(':').next().unwrap().to_owned();
    let addr: SocketAddr = cloud.endpoints.oss_endpoint.trim_start_matches("http://").parse().unwrap();
    let mut cfg = ClientConfig::new(Endpoint::parse(&format!("http://oss-cn-local.localcloud.test:{port}")).unwrap(), "cn-local");
    cfg.connect_to = Some(addr);
    let vh = Client::new(cfg, Credentials::new(AK, SK)).unwrap();
    vh.create_bucket("vhost").await.unwrap();
    vh.put_object("vhost", "a.txt", b"hello", None).await.unwrap();
    // Stored once, visible through path-style too.
    let ps = client(&cloud, SignatureVersion::V4, SK);
    assert_eq!(ps.get_object_bytes("vhost", "a.txt").await.unwrap(), b"hello");
    let log = access_log(&cloud).await;
    assert!(log.iter().any(|e| e.bucket.as_deref() == Some("vhost") && e.key.as_deref() == Some("a.txt") && e.method == "PUT"));

    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let url = client(&cloud, sig, SK).presign_get("vhost", "a.txt", Duration::from_secs(300)).unwrap();
        let resp = plain.get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        assert_eq!(resp.text().await.unwrap(), "hello");
        let tampered = url.replace("a.txt", "b.txt");
        assert_eq!(plain.get(&tampered).send().await.unwrap().status().as_u16(), 403);
    }
    cloud.stop().await;
}

#[tokio::test]
async fn multipart_upload_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let c = client(&cloud, SignatureVersion::V4, SK);
    c.create_bucket("jobs").await.unwrap();
    let data = pattern(350 * 1024, 3);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let put = c.upload_file("jobs", "big/big.bin", &file, 100 * 1024).await.unwrap();
    assert!(put.etag.ends_with("-4"), "multipart ETag: {}", put.etag);
    assert_eq!(put.crc64, Crc64::checksum(&data));
    assert_eq!(c.head_object("jobs", "big/big.bin").await.unwrap().crc64, Some(Crc64::checksum(&data)));
    assert_eq!(c.get_object_bytes("jobs", "big/big.bin").await.unwrap(), data);

    // A too-small middle part is refused, and the failed upload is aborted.
    let id = c.initiate_multipart("jobs", "small").await.unwrap();
    let e1 = c.upload_part("jobs", "small", &id, 1, b"tiny").await.unwrap();
    let e2 = c.upload_part("jobs", "small", &id, 2, b"tail").await.unwrap();
    let e = c.complete_multipart("jobs", "small", &id, &[(1, e1), (2, e2)]).await.unwrap_err();
    assert_eq!(e.code(), Some("EntityTooSmall"), "{e}");
    c.abort_multipart("jobs", "small", &id).await.unwrap();
    assert_eq!(c.upload_part("jobs", "small", &id, 3, b"x").await.unwrap_err().code(), Some("NoSuchUpload"));

    for k in ["a/1", "a/2", "a/b/3", "c", "d e"] {
        c.put_object("jobs", k, k.as_bytes(), None).await.unwrap();
    }
    let mut keys = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = c.list_objects_v2("jobs", "", None, token.as_deref(), 2).await.unwrap();
        pages += 1;
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        token = page.next_continuation_token;
        if token.is_none() {
            break;
        }
        assert!(pages < 10);
    }
    assert_eq!(keys, ["a/1", "a/2", "a/b/3", "big/big.bin", "c", "d e"]);
    assert_eq!(pages, 3);
    let page = c.list_objects_v2("jobs", "a/", Some("/"), None, 100).await.unwrap();
    assert_eq!(page.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["a/1", "a/2"]);
    assert_eq!(page.common_prefixes, ["a/b/"]);
    assert_eq!(page.objects[0].size, 3);
    cloud.stop().await;
}

#[tokio::test]
async fn downloads_resume_retry_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let c = client(&cloud, SignatureVersion::V4, SK);
    c.create_bucket("jobs").await.unwrap();
    let data = pattern(3 << 20, 11);
    c.upload_file(
        "jobs",
        "app.jar",
        &{
            let p = dir.path().join("src.jar");
            std::fs::write(&p, &data).unwrap();
            p
        },
        1 << 20,
    )
    .await
    .unwrap();
    let dest = dir.path().join("out.jar");
    let single = DownloadOptions { parallel_threshold: u64::MAX, ..DownloadOptions::default() };

    // A connection cut mid-body is resumed from where it stopped, with If-Match.
    fault(&cloud, json!({"kind": "drop", "after_bytes": 1_000_000, "key": "app.jar"})).await;
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
    let r = c.download_to_file("jobs", "app.jar", &dest, &single).await.unwrap();
    assert_eq!((r.size, r.resumes, r.crc_verified), (data.len() as u64, 1, true));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let gets: Vec<AccessEntry> = access_log(&cloud).await.into_iter().filter(|e| e.method == "GET").collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].fault.as_deref(), Some("drop"));
    let resumed_at = gets[1].range.as_deref().unwrap();
    let start: u64 = resumed_at.trim_start_matches("bytes=").split('-').next().unwrap().parse().unwrap();
    assert!(start > 0 && start <= 1_000_000, "{resumed_at}");

    // Throttling is retried; parallel parts each resume on their own; CRCs are combined.
    fault(&cloud, json!({"kind": "status", "status": 503, "code": "SlowDown", "method": "GET", "times": 2})).await;
    fault(&cloud, json!({"kind": "drop", "after_bytes": 100_000, "key": "app.jar", "times": 2})).await;
    let parallel =
        DownloadOptions { parallel_threshold: 1, part_size: 1 << 20, parallelism: 3, split: Split::Always, ..DownloadOptions::default() };
    std::fs::remove_file(&dest).unwrap();
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
    let r = c.download_to_file("jobs", "app.jar", &dest, &parallel).await.unwrap();
    let log = access_log(&cloud).await;
    assert_eq!((r.parts, r.resumes, r.crc64), (3, 2, Crc64::checksum(&data)), "{log:#?}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);

    // Corrupted bytes are caught by the CRC; nothing is left at the destination.
    std::fs::remove_file(&dest).unwrap();
    fault(&cloud, json!({"kind": "corrupt", "key": "app.jar"})).await;
    let e = c.download_to_file("jobs", "app.jar", &dest, &single).await.unwrap_err();
    assert!(matches!(e, OssError::ChecksumMismatch { .. }), "{e}");
    assert!(!dest.exists() && !dir.path().join("out.jar.sparkoss-partial").exists());

    // A stream that keeps being cut gives up after the resume budget.
    fault(&cloud, json!({"kind": "drop", "after_bytes": 10, "key": "app.jar", "times": 100})).await;
    let stubborn = DownloadOptions { max_resumes: 2, ..single };
    let e = c.download_to_file("jobs", "app.jar", &dest, &stubborn).await.unwrap_err();
    assert!(matches!(e, OssError::Interrupted { attempts: 3, .. }), "{e}");
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/faults", None).await;
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_split_only_when_one_stream_is_slow() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start(dir.path()).await;
    let c = client(&cloud, SignatureVersion::V4, SK);
    c.create_bucket("jobs").await.unwrap();
    let data = pattern(8 << 20, 5);
    c.put_object("jobs", "big.bin", &data, None).await.unwrap();
    let dest = dir.path().join("big.bin");
    let opts = |split| DownloadOptions { parallel_threshold: 1, part_size: 1 << 20, parallelism: 4, split, ..DownloadOptions::default() };
    let gets = |log: Vec<AccessEntry>| log.into_iter().filter(|e| e.method == "GET").collect::<Vec<_>>();

    // Fast enough (every rate is >= 0), or never split: one request for everything.
    for o in [opts(Split::IfSlowerThan(0)), opts(Split::Never)] {
        control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
        let r = c.download_to_file("jobs", "big.bin", &dest, &o).await.unwrap();
        assert_eq!((r.parts, r.streams, r.crc64, r.crc_verified), (1, 1, Crc64::checksum(&data), true), "{o:?}");
        let gets = gets(access_log(&cloud).await);
        assert_eq!(gets.len(), 1, "{gets:?}");
        assert_eq!(gets[0].range, None);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
    }

    // The default (Auto) on loopback splits from the start, whatever the rate: one stream is
    // CPU-bound at both ends there.
    assert!(matches!(DownloadOptions::default().split, Split::Auto(_)));
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
    let r = c.download_to_file("jobs", "big.bin", &dest, &opts(Split::Auto(0))).await.unwrap();
    assert_eq!((r.parts, r.crc64), (8, Crc64::checksum(&data)));
    assert!(r.streams >= 2, "{r:?}");
    let ranges: Vec<String> = gets(access_log(&cloud).await).into_iter().filter_map(|e| e.range).collect();
    assert!(ranges.iter().any(|r| r == "bytes=7340032-8388607"), "a helper took the last part: {ranges:?}");

    // "Slow" (no rate is below u64::MAX): after the first part, helpers take parts from the back
    // while the leader, cut in its second part, resumes its one open-ended request from the front.
    fault(&cloud, json!({"kind": "drop", "after_bytes": 1_500_000, "key": "big.bin"})).await;
    control(&cloud, reqwest::Method::DELETE, "/_localcloud/access-log", None).await;
    std::fs::remove_file(&dest).unwrap();
    let r = c.download_to_file("jobs", "big.bin", &dest, &opts(Split::IfSlowerThan(u64::MAX))).await.unwrap();
    let gets = gets(access_log(&cloud).await);
    assert_eq!((r.parts, r.resumes, r.crc64), (8, 1, Crc64::checksum(&data)), "{gets:#?}");
    assert!(r.streams >= 2 && r.streams <= 4, "{r:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!((gets[0].range.as_deref(), gets[0].fault.as_deref()), (None, Some("drop")), "{gets:#?}");
    let ranges: Vec<&str> = gets.iter().filter_map(|e| e.range.as_deref()).collect();
    assert!(ranges.contains(&"bytes=7340032-8388607"), "a helper took the last part: {ranges:?}");
    let resumed = ranges.iter().find(|r| r.ends_with("-8388607") && !r.starts_with("bytes=7340032")).unwrap();
    let at: u64 = resumed.trim_start_matches("bytes=").split('-').next().unwrap().parse().unwrap();
    assert!(at > 1 << 20 && at <= 1_500_000, "the leader resumed where it was cut: {resumed}");
    cloud.stop().await;
}
