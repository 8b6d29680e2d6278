//! The ACK client on the wire and the credentials chain behind it, against small HTTP servers on
//! 127.0.0.1: what the client sends (paths, query, body field names as the official SDK's
//! committed vectors have them; a signature the receiver can recompute), and the credentials
//! sources: ECS RAM role (with the IMDSv2 token), RRSA (AssumeRoleWithOIDC), CLI profiles (AK,
//! StsToken, RamRoleArn through a signed AssumeRole), chain order, caching and refresh.

use std::sync::{Arc, Mutex};

use sparkoss_aliyun::ack::model::{AutoScaling, CreateClusterRequest, NodePool, NodePoolInfo, NodePoolStatus, Tag};
use sparkoss_aliyun::ack::AckClient;
use sparkoss_aliyun::credentials::sts;
use sparkoss_aliyun::credentials::{CredentialsError, CredentialsProvider, Endpoints, OidcRole, Source};
use sparkoss_aliyun::signing::acs3::{self, Refusal};
use sparkoss_aliyun::signing::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Seen = Arc<Mutex<Vec<Req>>>;

/// A one-purpose HTTP/1.1 server: `answer` maps each request to (status, body).
async fn serve(answer: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen2.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or("").split(' ');
                let req = Req {
                    method: first.next().unwrap_or("").into(),
                    target: first.next().unwrap_or("").into(),
                    headers: lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect(),
                    body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
                };
                let (status, body) = answer(&req);
                seen.lock().expect("lock").push(req);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

fn expiring_in(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339).expect("formats")
}

fn sts_body(id: &str, secs: i64) -> String {
    serde_json::json!({"RequestId": "R1", "Credentials": {"AccessKeyId": id, "AccessKeySecret": "tmp-secret", "SecurityToken": "tmp-token", "Expiration": expiring_in(secs)}}).to_string()
}

fn endpoints(metadata: &str, sts: &str) -> Endpoints {
    Endpoints { metadata: metadata.into(), sts: sts.into() }
}

/// An address nothing listens on.
fn closed() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    format!("http://{}", l.local_addr().expect("addr"))
}

#[tokio::test]
async fn ecs_ram_role_with_imds_token_is_cached_then_refreshed_near_expiry() {
    let lifetime = Arc::new(Mutex::new(3600i64));
    let l2 = lifetime.clone();
    let (meta, seen) = serve(move |r| match (r.method.as_str(), r.target.as_str()) {
        ("PUT", "/latest/api/token") => (200, "imds-token".into()),
        (_, _) if r.header("x-aliyun-ecs-metadata-token") != Some("imds-token") => (401, "{}".into()),
        ("GET", "/latest/meta-data/ram/security-credentials/") => (200, "spark-role".into()),
        ("GET", "/latest/meta-data/ram/security-credentials/spark-role") => {
            let secs = *l2.lock().expect("lock");
            (200, serde_json::json!({"Code": "Success", "AccessKeyId": "STS.ecs", "AccessKeySecret": "s", "SecurityToken": "t", "Expiration": expiring_in(secs)}).to_string())
        }
        _ => (404, "{}".into()),
    })
    .await;
    let p = CredentialsProvider::new(Source::EcsRamRole(None), endpoints(&meta, &closed()));
    let c = p.get().await.expect("credentials");
    assert_eq!((c.access_key_id.as_str(), c.security_token.as_deref()), ("STS.ecs", Some("t")));
    let n = seen.lock().expect("lock").len();
    assert_eq!(n, 3, "token, role name, credentials");
    p.get().await.expect("cached");
    assert_eq!(seen.lock().expect("lock").len(), n, "an hour of life left: served from cache");

    // Credentials with less than 180 s left are fetched again on every use.
    *lifetime.lock().expect("lock") = 100;
    let p = CredentialsProvider::new(Source::EcsRamRole(Some("spark-role".into())), endpoints(&meta, &closed()));
    p.get().await.expect("credentials");
    let before = seen.lock().expect("lock").len();
    p.get().await.expect("refreshed");
    assert!(seen.lock().expect("lock").len() > before, "near expiry means refresh");
}

/// The decoded query of a request target.
fn query_of(target: &str) -> Vec<(String, String)> {
    let raw = target.split_once('?').map_or("", |(_, q)| q);
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (sparkoss_aliyun::percent_decode(k), sparkoss_aliyun::percent_decode(v)))
        .collect()
}

/// An STS error answer in STS's shape.
fn sts_refusal(r: &Refusal) -> (u16, String) {
    (
        r.status,
        serde_json::json!({"RequestId": "R-REFUSED", "HostId": "sts.aliyuncs.com", "Code": r.code, "Message": r.message}).to_string(),
    )
}

/// A local STS for AssumeRoleWithOIDC: the request must carry every parameter STS requires
/// (`check_oidc_request`), and the token must be `token` for `role`.
async fn oidc_sts(role: &'static str, token: &'static str) -> (String, Seen) {
    serve(move |r| {
        let q = query_of(&r.target);
        if r.method != "POST" || !r.body.is_empty() {
            return (400, r#"{"Code":"InvalidParameter","Message":"POST / with the parameters in the query","RequestId":"R"}"#.into());
        }
        if let Err(refusal) = sts::check_oidc_request(&q) {
            return sts_refusal(&refusal);
        }
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("RoleArn") != Some(role) || get("OIDCToken") != Some(token) {
            return (401, r#"{"Code":"AuthenticationFail.NoPermission","Message":"There is no permission","RequestId":"R"}"#.into());
        }
        (200, sts_body("STS.oidc", 3600))
    })
    .await
}

fn oidc_role(token_file: &std::path::Path) -> OidcRole {
    OidcRole {
        role_arn: "acs:ram::1:role/spark".into(),
        oidc_provider_arn: "acs:ram::1:oidc-provider/ack".into(),
        oidc_token_file: token_file.display().to_string(),
        session_name: "sparkoss-workload".into(),
        duration_seconds: 3600,
    }
}

#[tokio::test]
async fn rrsa_exchanges_the_oidc_token_file() {
    let (sts, seen) = oidc_sts("acs:ram::1:role/spark", "eyJ.oidc.token").await;
    let dir = tempfile_dir();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "eyJ.oidc.token\n").expect("writes");
    let p = CredentialsProvider::new(Source::Oidc(oidc_role(&token_file)), endpoints(&closed(), &sts));
    assert_eq!(p.get().await.expect("credentials").access_key_id, "STS.oidc");
    let req = seen.lock().expect("lock")[0].clone();
    assert!(req.target.contains("OIDCToken=eyJ.oidc.token&"), "the token is sent trimmed: {}", req.target);
    assert!(req.target.contains("RoleArn=acs%3Aram%3A%3A1%3Arole%2Fspark"), "{}", req.target);
    assert_eq!(req.header("x-acs-action"), Some("AssumeRoleWithOIDC"));
    assert!(req.header("authorization").is_none(), "AssumeRoleWithOIDC is anonymous");
}

#[tokio::test]
async fn rrsa_with_an_empty_token_is_refused_by_sts_and_reported() {
    let (sts, seen) = oidc_sts("acs:ram::1:role/spark", "eyJ.oidc.token").await;
    let dir = tempfile_dir();
    let token_file = dir.join("empty-token");
    std::fs::write(&token_file, "\n").expect("writes");
    let p = CredentialsProvider::new(Source::Oidc(oidc_role(&token_file)), endpoints(&closed(), &sts));
    let msg = p.get().await.expect_err("refused").to_string();
    assert!(msg.contains("STS AssumeRoleWithOIDC") && msg.contains("401") && msg.contains("AuthenticationFail.OIDCToken.Invalid"), "{msg}");
    assert_eq!(seen.lock().expect("lock").len(), 1, "one call, no retry of a refused token");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sparkoss-creds-{}-{}", std::process::id(), sparkoss_aliyun::retry::jitter_unit().to_bits()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// A local STS for AssumeRole that knows two RAM users' keys: it recomputes the ACS3 signature
/// from what arrived (`acs3::verify`), needs the call's parameters, and lets only `base-ak` assume
/// `acs:ram::1:role/admin`.
async fn assume_role_sts() -> (String, Seen) {
    serve(|r| {
        let (path, raw_query) = r.target.split_once('?').unwrap_or((r.target.as_str(), ""));
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let received = acs3::Received { method: &r.method, path, raw_query, headers: &headers, body: r.body.as_bytes() };
        let secret_of = |ak: &str| match ak {
            "base-ak" => Some("base-sk".to_owned()),
            "other" => Some("very-secret-value".to_owned()),
            _ => None,
        };
        let signer = match acs3::verify(&received, &secret_of) {
            Ok(ak) => ak,
            Err(refusal) => return sts_refusal(&refusal),
        };
        let q = query_of(&r.target);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if r.header("x-acs-action") != Some("AssumeRole") || r.header("x-acs-version") != Some(sts::VERSION) {
            return (400, r#"{"Code":"InvalidAction.NotFound","RequestId":"R"}"#.into());
        }
        for name in ["RoleArn", "RoleSessionName"] {
            if get(name).is_none_or(str::is_empty) {
                return (400, format!(r#"{{"Code":"MissingParameter","Message":"{name}","RequestId":"R"}}"#));
            }
        }
        if signer == "base-ak" && get("RoleArn") == Some("acs:ram::1:role/admin") {
            (200, sts_body("STS.assumed", 3600))
        } else {
            (403, r#"{"Code":"NoPermission","Message":"denied","RequestId":"R2"}"#.into())
        }
    })
    .await
}

#[tokio::test]
async fn cli_profiles_ak_sts_token_and_ram_role_arn() {
    let (sts, seen) = assume_role_sts().await;
    let dir = tempfile_dir();
    let file = dir.join("config.json");
    std::fs::write(
        &file,
        serde_json::json!({"current": "ak", "profiles": [
            {"name": "ak", "mode": "AK", "access_key_id": "prof-ak", "access_key_secret": "prof-sk"},
            {"name": "sts", "mode": "StsToken", "access_key_id": "STS.p", "access_key_secret": "s", "sts_token": "tok"},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": "base-ak", "access_key_secret": "base-sk", "ram_role_arn": "acs:ram::1:role/admin", "ram_session_name": "tf"},
            {"name": "denied", "mode": "RamRoleArn", "access_key_id": "other", "access_key_secret": "very-secret-value", "ram_role_arn": "acs:ram::1:role/admin"},
            {"name": "wrong-secret", "mode": "RamRoleArn", "access_key_id": "base-ak", "access_key_secret": "not-base-sk", "ram_role_arn": "acs:ram::1:role/admin"}
        ]})
        .to_string(),
    )
    .expect("writes");
    let get = |name: Option<&str>| {
        let p = CredentialsProvider::new(
            Source::Profile { name: name.map(str::to_owned), file: Some(file.clone()) },
            endpoints(&closed(), &sts),
        );
        async move { p.get().await }
    };
    assert_eq!(get(None).await.expect("current profile").access_key_id, "prof-ak");
    assert_eq!(get(Some("sts")).await.expect("sts").security_token.as_deref(), Some("tok"));
    let assumed = get(Some("role")).await.expect("assumed");
    assert_eq!((assumed.access_key_id.as_str(), assumed.security_token.as_deref()), ("STS.assumed", Some("tmp-token")));
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let err = get(Some("denied")).await.expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("NoPermission") && msg.contains("R2"), "{msg}");
    assert!(!msg.contains("very-secret-value"), "no secret in errors: {msg}");
    // A wrong secret: STS recomputes the signature, refuses it, and the error says so plainly.
    let msg = get(Some("wrong-secret")).await.expect_err("bad signature").to_string();
    assert!(msg.contains("STS AssumeRole") && msg.contains("400") && msg.contains("SignatureDoesNotMatch"), "{msg}");
    assert!(!msg.contains("not-base-sk"), "no secret in errors: {msg}");
    assert!(matches!(get(Some("nope")).await, Err(CredentialsError::Profile { .. })), "a named profile that does not exist is an error");
}

#[tokio::test]
async fn chain_takes_the_first_source_that_yields_and_explains_when_none_does() {
    let env = |k: &str| match k {
        "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("env-ak".to_owned()),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some("env-sk".to_owned()),
        _ => None,
    };
    let chain = Source::Chain(vec![Source::env(&env), Source::Static(Credentials::new("static", "s"))]);
    let p = CredentialsProvider::new(chain, endpoints(&closed(), &closed()));
    assert_eq!(p.get().await.expect("env wins").access_key_id, "env-ak");

    let chain = Source::Chain(vec![Source::env(&|_| None), Source::Profile { name: None, file: None }, Source::EcsRamRole(None)]);
    let p = CredentialsProvider::new(chain, endpoints(&closed(), &closed()));
    match p.get().await {
        Err(CredentialsError::NotFound { tried }) => {
            assert!(tried.contains("environment") && tried.contains("ECS RAM role"), "{tried}");
        }
        Ok(c) => {
            // A developer machine may have a real ~/.aliyun/config.json: then the profile wins.
            assert!(!c.access_key_id.is_empty());
        }
        Err(e) => panic!("{e}"),
    }
}

fn sdk_vector(name: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/vectors/acs3.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json");
    doc["vectors"].as_array().expect("vectors").iter().find(|v| v["name"] == name).cloned().expect("vector")
}

#[test]
fn create_cluster_body_uses_the_sdk_field_names() {
    let v = sdk_vector("create_cluster");
    let sdk: serde_json::Value = serde_json::from_str(v["body"].as_str().expect("body")).expect("json body");
    let ours = CreateClusterRequest {
        name: "analytics".into(),
        region_id: "cn-hangzhou".into(),
        cluster_type: "ManagedKubernetes".into(),
        cluster_spec: "ack.pro.small".into(),
        kubernetes_version: Some("1.31.1-aliyun.1".into()),
        vpcid: Some("vpc-abc".into()),
        vswitch_ids: vec!["vsw-1".into(), "vsw-2".into()],
        container_cidr: "172.20.0.0/16".into(),
        service_cidr: "172.21.0.0/20".into(),
        tags: vec![Tag { key: "app.kubernetes.io/managed-by".into(), value: "sparkoss".into() }],
        deletion_protection: false,
        nodepools: vec![],
        addons: vec![],
    };
    let mut ours = serde_json::to_value(&ours).expect("serialises");
    ours.as_object_mut().expect("object").remove("nodepools");
    assert_eq!(ours, sdk);
}

#[tokio::test]
async fn the_client_sends_sdk_paths_and_a_signature_the_receiver_can_recompute() {
    let (base, seen) = serve(|_| (200, r#"{"cluster_id":"x","clusters":[],"page_info":{"total_count":0}}"#.into())).await;
    let creds = Credentials::with_security_token("STS.ak", "sts-secret", "sts-token");
    let c = AckClient::new("cn-local", Some(&base), CredentialsProvider::fixed(creds.clone())).expect("client");
    let odd = sdk_vector("describe_cluster_detail_odd_id");
    let id = odd["path_params"][0].as_str().expect("id");
    let _ = c.describe_cluster_detail(id).await;
    c.describe_clusters_v1(Some("analytics team*~"), 1).await.expect("lists");
    let reqs = seen.lock().expect("lock").clone();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].target, odd["path"].as_str().expect("path"), "the id is encoded as the SDK encodes it");
    assert!(reqs[1].target.contains("name=analytics%20team%2A~"), "{}", reqs[1].target);
    for r in &reqs {
        // Re-sign from what arrived: same date, nonce and headers must give the same signature.
        let h = |n: &str| r.header(n).expect(n).to_owned();
        let (path, query) = r.target.split_once('?').unwrap_or((r.target.as_str(), ""));
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        let q: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let date = time::OffsetDateTime::parse(&h("x-acs-date"), &time::format_description::well_known::Rfc3339).expect("date");
        let req = sparkoss_aliyun::signing::acs3::Acs3Request {
            method: &r.method,
            host: &h("host"),
            path,
            query: &q,
            action: &h("x-acs-action"),
            version: &h("x-acs-version"),
            headers: &[("accept", &h("accept"))],
            body: r.body.as_bytes(),
            content_type: None,
        };
        let again = sparkoss_aliyun::signing::acs3::sign(&req, &creds, date, &h("x-acs-signature-nonce")).expect("signs");
        assert_eq!(again.authorization(), r.header("authorization"), "{}", r.target);
        assert_eq!(h("x-acs-security-token"), "sts-token");
    }
    assert_ne!(reqs[0].header("x-acs-signature-nonce"), reqs[1].header("x-acs-signature-nonce"), "a fresh nonce per request");
}

#[tokio::test]
async fn node_pool_operations_use_the_sdk_paths_and_read_pool_states() {
    let (base, seen) = serve(|r| match (r.method.as_str(), r.target.as_str()) {
        ("POST", "/clusters/c1/nodepools") => (200, r#"{"nodepool_id":"np-new","task_id":"T-1","request_id":"R"}"#.into()),
        ("GET", "/clusters/c1/nodepools") => (
            200,
            r#"{"nodepools":[{"nodepool_info":{"name":"a","nodepool_id":"np-a"},"auto_scaling":{"enable":true,"min_instances":1,"max_instances":3},"status":{"state":"scaling","total_nodes":2,"healthy_nodes":1}}]}"#.into(),
        ),
        ("DELETE", t) if t.starts_with("/clusters/c1/nodepools/np-a") => (200, r#"{"task_id":"T-2","request_id":"R"}"#.into()),
        ("PUT", "/clusters/c1/nodepools/np-a") => (200, r#"{"nodepool_id":"np-a","task_id":"T-3","request_id":"R"}"#.into()),
        _ => (404, r#"{"code":"ErrorNodePoolNotFound","message":"no such pool","requestId":"R404"}"#.into()),
    })
    .await;
    let c = AckClient::new("cn-local", Some(&base), CredentialsProvider::fixed(Credentials::new("ak", "sk"))).expect("client");
    let pool = NodePool {
        nodepool_info: NodePoolInfo { name: "b".into(), nodepool_id: Some("stale".into()) },
        auto_scaling: AutoScaling { enable: true, min_instances: 0, max_instances: 4 },
        status: Some(NodePoolStatus { state: "active".into(), ..Default::default() }),
        ..Default::default()
    };
    let created = c.create_node_pool("c1", &pool).await.expect("creates");
    assert_eq!((created.nodepool_id.as_str(), created.task_id.as_str()), ("np-new", "T-1"));
    let listed = c.describe_node_pools("c1").await.expect("lists").nodepools;
    assert_eq!(listed[0].state(), "scaling");
    assert!(!listed[0].status.as_ref().expect("status").is_active());
    let mut scaled = listed[0].clone();
    scaled.auto_scaling.max_instances = 9;
    assert_eq!(c.modify_node_pool("c1", &scaled).await.expect("modifies").task_id, "T-3");
    assert_eq!(c.delete_node_pool("c1", "np-a", true).await.expect("deletes").task_id, "T-2");
    let gone = c.delete_node_pool("c1", "np-zz", true).await.expect_err("404");
    assert!(gone.is_not_found(), "{gone}");
    let mut unnamed = scaled.clone();
    unnamed.nodepool_info.nodepool_id = None;
    assert!(c.modify_node_pool("c1", &unnamed).await.is_err(), "a modify without a pool id is refused before sending");

    let reqs = seen.lock().expect("lock").clone();
    let body: serde_json::Value = serde_json::from_str(&reqs[0].body).expect("json body");
    assert_eq!(body["nodepool_info"], serde_json::json!({"name": "b"}), "ACK assigns the id: none is sent");
    assert!(body.get("status").is_none(), "the status is ACK's answer, never sent");
    assert_eq!(body["auto_scaling"]["max_instances"], 4);
    assert_eq!(reqs[0].header("x-acs-action"), Some("CreateClusterNodePool"));
    let put: serde_json::Value = serde_json::from_str(&reqs[2].body).expect("json body");
    assert_eq!((put["auto_scaling"]["max_instances"].as_i64(), put.get("status")), (Some(9), None));
    assert_eq!(reqs[2].header("x-acs-action"), Some("ModifyClusterNodePool"));
    assert_eq!(reqs[3].target, "/clusters/c1/nodepools/np-a?force=true");
    assert_eq!(reqs[3].header("x-acs-action"), Some("DeleteClusterNodepool"));
    assert_eq!(reqs.len(), 5, "the 404 is not retried and the id-less modify never sent");
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}
