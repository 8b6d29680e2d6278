//! What every emulator may read: the start-up configuration, everyone's endpoints (the ACK
//! emulator hands out kubeconfigs that point at the Kubernetes emulator) and the shutdown signal.
//! Its own module so that the services depend on it and not on the root that mounts them.
//! Also the query-string reading the Alibaba Cloud emulators (ACK and OSS) share.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;
use tokio::sync::watch;

use crate::kube::nodes::NodeSpec;
use crate::network::PodNetwork;
use crate::pki::Pki;

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
    /// CPUs the default node (`localcloud-node`, while no emulated cluster has nodes) offers
    /// the scheduler (`--node-cpus`); `None`: the host's under the Docker kubelet, 64 otherwise. Requests are what the scheduler counts, as on a real node; limits are enforced.
    pub node_cpus: Option<f64>,
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
    /// An admin kubeconfig for the Kubernetes API (CA and token), written into the data dir.
    pub kubeconfig: String,
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
    /// The cluster CA, admin token and service-account token key.
    pub pki: Pki,
    /// The Docker Engine, when pods run as containers.
    pub docker: Option<Docker>,
    /// The pod network, when pods run as containers on it.
    pub network: Option<PodNetwork>,
    /// The nodes of the emulated clusters (the ACK emulator provides them, the scheduler reads).
    pub nodes: NodeSource,
    /// Background work the emulators started; [`crate::LocalCloud::stop`] waits for it (the Docker
    /// kubelet removes its containers before it ends).
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// State for emulators started with `config` at `endpoints`; `shutdown` turns true at stop.
    pub fn new(
        config: Config,
        endpoints: Endpoints,
        shutdown: watch::Receiver<bool>,
        pki: Pki,
        pods: Option<(Docker, PodNetwork)>,
    ) -> Shared {
        let (docker, network) = match pods {
            Some((d, n)) => (Some(d), Some(n)),
            None => (None, None),
        };
        Shared {
            config,
            endpoints,
            shutdown,
            pki,
            docker,
            network,
            nodes: NodeSource::default(),
            background: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// An admin kubeconfig for the API server as this machine reaches it.
    pub fn admin_kubeconfig(&self) -> String {
        self.pki.admin_kubeconfig(&self.endpoints.kubernetes_endpoint)
    }

    /// Hands background work to the local cloud, which waits for it at stop.
    pub fn keep(&self, task: tokio::task::JoinHandle<()>) {
        self.background.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// The background work handed over so far, for [`crate::LocalCloud::stop`] to wait on.
    pub(crate) fn take_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Computes the emulated clusters' nodes as of now.
type NodeFn = Box<dyn Fn() -> Vec<NodeSpec> + Send + Sync>;

/// Where the Kubernetes emulator learns the nodes of the clusters the ACK emulator runs: the ACK
/// emulator registers a function over its records (states move with time, so the set is
/// computed when asked), the scheduler calls it.
#[derive(Default)]
pub struct NodeSource(std::sync::OnceLock<NodeFn>);

impl std::fmt::Debug for NodeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "NodeSource(provided)" } else { "NodeSource(none)" })
    }
}

impl NodeSource {
    /// Registers the provider (the first one registered stays).
    pub fn provide(&self, f: impl Fn() -> Vec<NodeSpec> + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(f));
    }

    /// The nodes now (none when nothing was registered).
    pub fn current(&self) -> Vec<NodeSpec> {
        self.0.get().map(|f| f()).unwrap_or_default()
    }
}

/// The parameters of a raw query string as Alibaba Cloud's SDKs write them, decoded in order
/// (a name without `=` has an empty value). Their signers percent-encode every reserved
/// character, a space included (`%20`), so a literal `+` is a plus, not a form-encoded space:
/// it is escaped before `form_urlencoded` (which would read it as a space) decodes the rest.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.replace('+', "%2B").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    #[test]
    fn queries_decode_as_the_alibaba_cloud_sdks_encode_them() {
        assert_eq!(
            parse_query("a=%20b&uploads&c=&&d=1+2%2B3&e=%zz=x"),
            vec![
                ("a".into(), " b".into()),
                ("uploads".into(), String::new()),
                ("c".into(), String::new()),
                ("d".into(), "1+2+3".into()),
                ("e".into(), "%zz=x".into())
            ]
        );
        assert_eq!(parse_query("k%C3%A9y=v%C3%A9"), vec![("kéy".into(), "vé".into())]);
    }
}
