//! The go-plugin layer: handshake, AutoMTLS, and serving tfplugin6 with the side services
//! Terraform expects (health, controller, stdio, broker).

pub mod conn;
pub mod handshake;
pub mod services;
pub mod tls;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sparkoss_proto::plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer, grpc_stdio_server::GrpcStdioServer,
};
use sparkoss_proto::tfplugin6::provider_server::ProviderServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::grpc::GrpcProvider;
use crate::provider::Provider;
use conn::Conn;
use handshake::HandshakeRequest;

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight calls get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Errors that stop the plugin server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Handshake environment problems.
    #[error(transparent)]
    Handshake(#[from] handshake::HandshakeError),
    /// TLS setup problems.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// No port could be bound.
    #[error("could not listen on 127.0.0.1 ({range}): {source}")]
    Listen {
        /// The port range tried.
        range: String,
        /// The last bind error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the handshake line failed.
    #[error("could not write the handshake to stdout: {0}")]
    Stdout(std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds the first free port of the range on 127.0.0.1 (any free port when there is no range).
pub async fn listen(range: Option<(u16, u16)>) -> Result<TcpListener, ServeError> {
    let Some((min, max)) = range else {
        return TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(|source| ServeError::Listen { range: "any port".into(), source });
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::AddrInUse, "no port in range");
    for port in min..=max {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(ServeError::Listen { range: format!("ports {min}-{max}"), source: last })
}

/// Accepts connections, completing TLS handshakes off the accept loop so a slow or refused
/// client cannot stall the others.
fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    tx: mpsc::Sender<std::io::Result<Conn>>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let (stream, peer): (TcpStream, SocketAddr) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => { tracing::warn!("accept failed: {e}"); continue; }
                },
                _ = shutdown.wait_for(|d| *d) => return,
            };
            let _ = stream.set_nodelay(true);
            match &acceptor {
                None => {
                    if tx.send(Ok(Conn::Plain(stream))).await.is_err() {
                        return;
                    }
                }
                Some(acc) => {
                    let acc = acc.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(Conn::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => tracing::warn!(%peer, "refused a client without Terraform's certificate: {e}"),
                            Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
}

/// Serves until shutdown; `ready` receives the bound address and our certificate (DER).
async fn serve_on(
    listener: TcpListener,
    client_cert_pem: Option<&str>,
    ignore_shutdown: bool,
    ready: impl FnOnce(SocketAddr, Option<&[u8]>) -> Result<(), ServeError>,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Listen { range: "bound port".into(), source })?;
    let (acceptor, cert) = match client_cert_pem {
        Some(pem) => {
            let client = tls::parse_client_cert(pem)?;
            let identity = tls::generate_identity()?;
            let cfg = tls::server_config(&identity, client)?;
            (Some(TlsAcceptor::from(Arc::new(cfg))), Some(identity.cert_der.to_vec()))
        }
        None => (None, None),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (tx, rx) = mpsc::channel(16);
    accept_loop(listener, acceptor, tx, shutdown_rx.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;

    let core = Arc::new(Provider::standard());
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(
            ProviderServer::new(GrpcProvider::new(core.clone())).max_decoding_message_size(256 << 20).max_encoding_message_size(256 << 20),
        )
        .add_service(GrpcControllerServer::new(services::Controller { shutdown: shutdown_tx.clone(), ignore_shutdown }))
        .add_service(GrpcStdioServer::new(services::Stdio { shutdown: shutdown_rx.clone() }))
        .add_service(GrpcBrokerServer::new(services::Broker { shutdown: shutdown_rx.clone() }));

    // Signal handlers before the handshake line: whoever reads it may signal us at once.
    let signals = Signals::install();
    ready(addr, cert.as_deref())?;

    let signal_tx = shutdown_tx.clone();
    tokio::spawn(async move {
        signals.wait().await;
        let _ = signal_tx.send(true);
    });

    let mut down = shutdown_rx.clone();
    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    let server = router.serve_with_incoming_shutdown(incoming, async move {
        let _ = down.wait_for(|d| *d).await;
    });
    tokio::pin!(server);
    let mut down = shutdown_rx;
    tokio::select! {
        r = &mut server => r?,
        _ = async { let _ = down.wait_for(|d| *d).await; tokio::time::sleep(SHUTDOWN_GRACE).await; } => {
            tracing::debug!("connections still open after the grace period; exiting");
        }
    }
    // Anything still running is interrupted rather than left behind.
    core.stop();
    Ok(())
}

/// SIGTERM and SIGINT, registered up front.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
    }

    async fn wait(mut self) {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.term) => {}
            _ = recv(&mut self.int) => {}
        }
    }
}

/// Serves as a plugin started by Terraform: prints the handshake line on stdout first.
pub async fn serve(req: HandshakeRequest) -> Result<(), ServeError> {
    let listener = listen(req.port_range).await?;
    serve_on(listener, req.client_cert_pem.as_deref(), false, |addr, cert| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", handshake::line(&addr, cert)).and_then(|_| out.flush()).map_err(ServeError::Stdout)
    })
    .await
}

/// The `TF_REATTACH_PROVIDERS` value for a provider listening on `addr`.
pub fn reattach_json(addr: &SocketAddr) -> String {
    serde_json::json!({
        crate::PROVIDER_ADDRESS: {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "tcp", "String": addr.to_string() }
        }
    })
    .to_string()
}

/// `--debug`: listens without TLS and prints the reattach configuration, so a developer can
/// run the provider under a debugger and point Terraform at it. Serves until Ctrl-C.
pub async fn serve_debug() -> Result<(), ServeError> {
    let listener = listen(None).await?;
    serve_on(listener, None, true, |addr, _| {
        let json = reattach_json(&addr);
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Provider started. To attach Terraform, set this in the shell that runs terraform:\n\n\tTF_REATTACH_PROVIDERS='{json}'\n\nStop the provider with Ctrl-C."
        )
        .and_then(|_| out.flush())
        .map_err(ServeError::Stdout)
    })
    .await
}
