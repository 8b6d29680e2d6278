//! The provider binary as go-plugin's client sees it: handshake line, AutoMTLS that admits only
//! the announced client certificate, health, schema over gRPC, graceful Shutdown; and `--debug`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sparkoss_proto::plugin::grpc_controller_client::GrpcControllerClient;
use sparkoss_proto::tfplugin6::provider_client::ProviderClient;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-sparkoss");
const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

struct ClientIdentity {
    pem: String,
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn client_identity() -> ClientIdentity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    // Like Terraform's: a self-signed CA certificate used as the client's own certificate.
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth, rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).expect("cert");
    ClientIdentity { pem: cert.pem(), der: cert.der().clone(), key: PrivatePkcs8KeyDer::from(key.serialize_der()) }
}

struct Plugin {
    child: Child,
    addr: String,
    server_cert: Option<CertificateDer<'static>>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(client_cert_pem: Option<&str>, extra_env: &[(&str, &str)]) -> Plugin {
    let mut cmd = Command::new(BIN);
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", COOKIE).env("PLUGIN_PROTOCOL_VERSIONS", "5,6").stdout(Stdio::piped()).stderr(Stdio::null());
    if let Some(pem) = client_cert_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("handshake line");
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "{line:?}");
    assert_eq!(&fields[..3], ["1", "6", "tcp"]);
    assert_eq!(fields[4], "grpc");
    assert!(fields[3].starts_with("127.0.0.1:"), "{line}");
    let server_cert = (!fields[5].is_empty()).then(|| {
        assert!(!fields[5].contains('='), "certificate must be unpadded base64");
        CertificateDer::from(base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("base64 DER"))
    });
    Plugin { child, addr: fields[3].to_owned(), server_cert }
}

async fn tls_channel(p: &Plugin, identity: Option<&ClientIdentity>) -> Result<Channel, tonic::transport::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.server_cert.clone().expect("TLS mode")).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut cfg = match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.der.clone()], PrivateKeyDer::Pkcs8(id.key.clone_key())).expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let addr = p.addr.clone();
    Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, addr) = (connector.clone(), addr.clone());
            async move {
                let tcp = TcpStream::connect(addr).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn mtls_admits_terraforms_certificate_serves_and_shuts_down() {
    let id = client_identity();
    let mut p = start(Some(&id.pem), &[]);
    let ch = tls_channel(&p, Some(&id)).await.expect("connects with the announced certificate");

    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let status = health.check(tonic_health::pb::HealthCheckRequest { service: "plugin".into() }).await.expect("health").into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    let mut provider = ProviderClient::new(ch.clone());
    let schema =
        provider.get_provider_schema(sparkoss_proto::tfplugin6::get_provider_schema::Request {}).await.expect("schema").into_inner();
    let mut names: Vec<_> = schema.resource_schemas.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["sparkoss_cluster", "sparkoss_job", "sparkoss_namespace"]);
    assert!(schema.diagnostics.is_empty());
    provider.stop_provider(sparkoss_proto::tfplugin6::stop_provider::Request {}).await.expect("stop provider");

    GrpcControllerClient::new(ch).shutdown(sparkoss_proto::plugin::Empty {}).await.expect("shutdown");
    let status = wait_exit(&mut p.child, Duration::from_secs(5)).expect("exits after Shutdown");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn clients_without_the_announced_certificate_are_refused() {
    let announced = client_identity();
    let p = start(Some(&announced.pem), &[]);
    let stranger = client_identity();
    for who in [Some(&stranger), None] {
        let refused = match tls_channel(&p, who).await {
            Err(_) => true,
            // With TLS 1.3 the server's verdict on the client certificate can arrive after the
            // client thinks the handshake is done: the first call then fails.
            Ok(ch) => {
                let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
                health.check(tonic_health::pb::HealthCheckRequest { service: "plugin".into() }).await.is_err()
            }
        };
        assert!(refused, "a client with {} was admitted", if who.is_some() { "another certificate" } else { "no certificate" });
    }
}

#[test]
fn port_range_is_honoured() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let ports = port.to_string();
    let p = start(None, &[("PLUGIN_MIN_PORT", &ports), ("PLUGIN_MAX_PORT", &ports)]);
    assert_eq!(p.addr, format!("127.0.0.1:{port}"));
    assert!(p.server_cert.is_none(), "no client certificate, no TLS");
}

#[test]
fn refuses_when_terraform_offers_no_common_protocol() {
    let out = Command::new(BIN).env("TF_PLUGIN_MAGIC_COOKIE", COOKIE).env("PLUGIN_PROTOCOL_VERSIONS", "4,5").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks version 6"));
    assert!(out.stdout.is_empty(), "nothing on stdout: Terraform reads it as the handshake");
}

#[tokio::test]
async fn debug_mode_prints_a_reattach_configuration_that_works() {
    let mut child = Command::new(BIN)
        .arg("--debug")
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut rd = BufReader::new(child.stdout.take().expect("stdout"));
    let mut reattach = None;
    for _ in 0..10 {
        let mut line = String::new();
        if rd.read_line(&mut line).expect("reads") == 0 {
            break;
        }
        if let Some(v) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(v.trim_end_matches('\'').to_owned());
            break;
        }
    }
    let reattach: serde_json::Value = serde_json::from_str(&reattach.expect("a TF_REATTACH_PROVIDERS line")).expect("JSON");
    let entry = &reattach["registry.terraform.io/sparkoss/sparkoss"];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], child.id());
    assert_eq!(entry["Addr"]["Network"], "tcp");
    let addr = entry["Addr"]["String"].as_str().expect("address").to_owned();

    // Plain gRPC, as Terraform speaks to a reattached provider; Shutdown is ignored so the
    // developer's process outlives each Terraform run.
    let ch = Endpoint::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connects");
    GrpcControllerClient::new(ch.clone()).shutdown(sparkoss_proto::plugin::Empty {}).await.expect("shutdown call");
    let mut provider = ProviderClient::new(ch);
    let schema = provider.get_provider_schema(sparkoss_proto::tfplugin6::get_provider_schema::Request {}).await.expect("still serving");
    assert_eq!(schema.into_inner().resource_schemas.len(), 3);

    #[allow(unsafe_code)]
    // SAFETY: kill(2) on our own child has no memory effects.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits on SIGINT");
    assert!(status.success());
}
