//! Serving the Kubernetes API the way clients expect it: HTTPS with a certificate from the
//! cluster CA. On the loopback listener a connection whose first byte is not a TLS handshake is
//! served as plain HTTP too, as the API behind `kubectl proxy`: only processes on this machine
//! reach a loopback address, and they are the cluster's administrators. The listener on the pod
//! network speaks TLS only, so pods always authenticate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How a request reached the API server; the handler reads it from the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS: the caller authenticates with a bearer token.
    Tls,
    /// Plain HTTP on loopback: the caller is the administrator, as through `kubectl proxy`.
    LoopbackPlain,
}

/// A TLS server configuration from PEM (certificate chain, private key), HTTP/1.1 only.
pub fn tls_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| format!("serving certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("serving key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("serving certificate: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `router` on `listener` until `shutdown` turns true. With `plain_on_loopback`, a
/// connection that does not start a TLS handshake is served as plain HTTP.
pub async fn serve_api(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    plain_on_loopback: bool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => { tracing::warn!("kube api accept: {e}"); tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            _ = stopped(&mut shutdown) => break,
        };
        while conns.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let router = router.clone();
        let down = shutdown.clone();
        conns.spawn(async move {
            let mut first = [0u8; 1];
            // A client that connects and sends nothing is dropped after a while, as a server does.
            let peeked = tokio::time::timeout(Duration::from_secs(30), stream.peek(&mut first)).await;
            if !matches!(peeked, Ok(Ok(1))) {
                return;
            }
            // 0x16: a TLS handshake record.
            if first[0] == 0x16 {
                let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)).await else { return };
                serve_connection(TokioIo::new(tls), router, Transport::Tls, down).await;
            } else if plain_on_loopback && peer.ip().is_loopback() {
                serve_connection(TokioIo::new(stream), router, Transport::LoopbackPlain, down).await;
            }
        });
    }
    conns.abort_all();
}

async fn serve_connection<I>(io: TokioIo<I>, router: Router, transport: Transport, mut shutdown: tokio::sync::watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(transport);
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = stopped(&mut shutdown) => {}
    }
}

/// Resolves once shutdown is signalled (the watch's guard is not held across awaits).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|d| *d).await;
}
