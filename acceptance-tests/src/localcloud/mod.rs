//! The local cloud: protocol-faithful emulators of ACK, OSS and the Kubernetes API, one process,
//! each on its own 127.0.0.1 port. Tests, the demo and anyone else start it as the `localcloud`
//! binary (see [`crate::LocalCloudProcess`]); in-process use goes through [`start`].

pub mod ack;
pub mod kube;
pub mod oss;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How the local cloud was started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (a loopback address).
    pub listen: IpAddr,
    /// Where buckets, objects and cluster records are kept.
    pub data_dir: PathBuf,
    /// The one AccessKey the emulators accept.
    pub access_key_id: String,
    /// Its secret.
    pub access_key_secret: String,
    /// How long an emulated cluster takes to become `running` (and to be deleted).
    pub create_delay: Duration,
    /// Run pods as Docker containers when an engine is reachable (`--kubelet docker`); otherwise
    /// the rule-based kubelet moves every pod.
    pub kubelet: bool,
}

/// Where each emulator listens; printed as one JSON line when the local cloud is ready.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Endpoints {
    /// Region id the emulators answer for.
    pub region: String,
    /// ACK OpenAPI base URL.
    pub ack_endpoint: String,
    /// OSS base URL.
    pub oss_endpoint: String,
    /// Kubernetes API server base URL.
    pub kubernetes_endpoint: String,
    /// AccessKey ID to use.
    pub access_key_id: String,
    /// AccessKey secret to use.
    pub access_key_secret: String,
}

/// What every emulator may read: the configuration and everyone's endpoints (the ACK emulator
/// hands out kubeconfigs that point at the Kubernetes emulator).
#[derive(Debug)]
pub struct Shared {
    /// Start-up configuration.
    pub config: Config,
    /// All endpoints.
    pub endpoints: Endpoints,
    /// Becomes true at shutdown (emulators stop background work, the kubelet its containers).
    pub shutdown: watch::Receiver<bool>,
    /// Background work the emulators started; [`LocalCloud::stop`] waits for it (the Docker
    /// kubelet removes its containers before it ends).
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// Hands background work to the local cloud, which waits for it at stop.
    pub fn keep(&self, task: tokio::task::JoinHandle<()>) {
        self.background.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }
}

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
        let background: Vec<_> = std::mem::take(&mut *self.shared.background.lock().unwrap_or_else(|p| p.into_inner()));
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
    let shared = Arc::new(Shared { config, endpoints: endpoints.clone(), shutdown: rx, background: std::sync::Mutex::new(Vec::new()) });
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
