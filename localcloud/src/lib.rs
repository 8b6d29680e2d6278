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
pub mod network;
pub mod oss;
pub mod pki;
pub mod random;
pub mod serve;
pub mod shared;

pub use shared::{Config, Endpoints, Shared};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
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

/// Binds the listeners, then serves each emulator. With the Docker kubelet (and an engine that
/// answers) the pod network is created first: the OSS emulator, the API server (port 443) and
/// the cluster DNS (port 53) then listen on its gateway as well, and the OSS endpoint handed out
/// is the gateway's, which this machine and the pods both reach.
pub async fn start(config: Config) -> std::io::Result<LocalCloud> {
    std::fs::create_dir_all(&config.data_dir)?;
    let pki = pki::Pki::load_or_create(&config.data_dir).map_err(std::io::Error::other)?;
    let docker = if config.kubelet { Some(kube::docker_kubelet::connect().await.map_err(std::io::Error::other)?) } else { None };
    let pods = match docker {
        Some(d) => match network::PodNetwork::create(&d).await {
            Ok(n) => Some((d, n)),
            Err(e) => return Err(std::io::Error::other(format!("creating the pod network: {e}"))),
        },
        None => None,
    };
    let gateway = pods.as_ref().map(|(_, n)| IpAddr::V4(n.gateway));
    let bound = bind_all(&config, gateway).await;
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            if let Some((d, n)) = &pods {
                n.remove(d).await;
            }
            return Err(e);
        }
    };
    let url = |scheme: &str, l: &TcpListener| l.local_addr().map(|a| format!("{scheme}://{a}"));
    let kubeconfig_path = config.data_dir.join("kube").join("admin.kubeconfig");
    let endpoints = Endpoints {
        region: "cn-local".into(),
        ack_endpoint: url("http", &listeners.ack)?,
        oss_endpoint: url("http", listeners.pod_oss.as_ref().unwrap_or(&listeners.oss))?,
        kubernetes_endpoint: url("https", &listeners.kube)?,
        access_key_id: config.access_key_id.clone(),
        access_key_secret: config.access_key_secret.clone(),
        kubeconfig: kubeconfig_path.display().to_string(),
    };
    let mut ips = vec![config.listen];
    ips.extend(gateway);
    let (cert, key) = pki.serving_cert(&ips).map_err(std::io::Error::other)?;
    let tls = serve::tls_config(&cert, &key).map_err(std::io::Error::other)?;
    let (tx, rx) = watch::channel(false);
    let shared = Arc::new(Shared::new(config, endpoints.clone(), rx, pki, pods));
    // It carries the admin token: readable by its owner only, like the pki folder's files.
    pki::write_private(&kubeconfig_path, &shared.admin_kubeconfig()).map_err(std::io::Error::other)?;
    let kube_router = kube::router(shared.clone(), listeners.dns);
    let oss_router = oss::router(shared.clone());
    let mut tasks = Vec::new();
    let mut http = vec![(listeners.ack, ack::router(shared.clone())), (listeners.oss, oss_router.clone())];
    if let Some(l) = listeners.pod_oss {
        http.push((l, oss_router));
    }
    for (listener, router) in http {
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
    tasks.push(tokio::spawn(serve::serve_api(listeners.kube, kube_router.clone(), tls.clone(), true, shared.shutdown.clone())));
    if let Some(l) = listeners.pod_kube {
        tasks.push(tokio::spawn(serve::serve_api(l, kube_router, tls, false, shared.shutdown.clone())));
    }
    Ok(LocalCloud { endpoints, shutdown: tx, tasks, shared })
}

/// The sockets of one local cloud.
struct Listeners {
    ack: TcpListener,
    oss: TcpListener,
    kube: TcpListener,
    /// On the pod network's gateway: OSS (same port as on loopback), the API on 443, DNS on 53.
    pod_oss: Option<TcpListener>,
    pod_kube: Option<TcpListener>,
    dns: Option<UdpSocket>,
}

async fn bind_all(config: &Config, gateway: Option<IpAddr>) -> std::io::Result<Listeners> {
    let ack = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let oss = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let kube = TcpListener::bind(SocketAddr::new(config.listen, 0)).await?;
    let (mut pod_oss, mut pod_kube, mut dns) = (None, None, None);
    if let Some(gw) = gateway {
        let what = |e: std::io::Error, port: u16| std::io::Error::new(e.kind(), format!("binding {gw}:{port} on the pod network: {e}"));
        let port = oss.local_addr()?.port();
        pod_oss = Some(TcpListener::bind(SocketAddr::new(gw, port)).await.map_err(|e| what(e, port))?);
        pod_kube = Some(TcpListener::bind(SocketAddr::new(gw, 443)).await.map_err(|e| what(e, 443))?);
        dns = Some(UdpSocket::bind(SocketAddr::new(gw, 53)).await.map_err(|e| what(e, 53))?);
    }
    Ok(Listeners { ack, oss, kube, pod_oss, pod_kube, dns })
}
