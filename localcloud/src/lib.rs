//! The local cloud: protocol-faithful emulators of ACK, OSS and the Kubernetes API, one process,
//! each on its own 127.0.0.1 port. Tests, the demo and anyone else start it as the `localcloud`
//! binary (the acceptance tests through their `LocalCloudProcess`); in-process use goes through
//! [`start`].
//!
//! One module per emulated service ([`ack`], [`oss`], [`kube`]), each with its store beside its
//! handlers. What they all read (configuration, endpoints, the shutdown signal) is [`shared`]:
//! the services import it, and this root only mounts their routers.

pub mod ack;
pub mod kube;
pub mod oss;
pub mod shared;

pub use shared::{Config, Endpoints, Shared};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running local cloud.
pub struct LocalCloud {
    /// Where it listens.
    pub endpoints: Endpoints,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl LocalCloud {
    /// Stops every emulator and waits (bounded) for them to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let background = self.shared.take_background();
        for t in self.tasks.into_iter().chain(background) {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

/// Binds the three listeners, then serves each emulator.
pub async fn start(config: Config) -> std::io::Result<LocalCloud> {
    std::fs::create_dir_all(&config.data_dir)?;
    let ack = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let oss = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let kube = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let url = |l: &TcpListener| l.local_addr().map(|a| format!("http://{a}"));
    let endpoints = Endpoints {
        region: "cn-local".into(),
        ack_endpoint: url(&ack)?,
        oss_endpoint: url(&oss)?,
        kubernetes_endpoint: url(&kube)?,
        access_key_id: config.access_key_id.clone(),
        access_key_secret: config.access_key_secret.clone(),
    };
    let (tx, rx) = watch::channel(false);
    let shared = Arc::new(Shared::new(config, endpoints.clone(), rx));
    let mut tasks = Vec::new();
    for (listener, router) in [(ack, ack::router(shared.clone())), (oss, oss::router(shared.clone())), (kube, kube::router(shared.clone()))]
    {
        let mut down = shared.shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = down.wait_for(|d| *d).await;
            });
            if let Err(e) = serve.await {
                tracing::error!("emulator stopped: {e}");
            }
        }));
    }
    Ok(LocalCloud { endpoints, shutdown: tx, tasks, shared })
}
