//! The pod network: a private Docker bridge network that the local cloud creates at start and
//! removes at stop, on which every pod gets its own IP (so two drivers can both listen on 7078).
//!
//! The local cloud picks the subnet itself (a `/24`) because pods need their IP before their
//! container starts: Spark reads it from the downward API (`status.podIP`) in the environment.
//! The bridge's gateway address is the node's (and the host's) address on that network; the API
//! server (port 443, as `kubernetes.default.svc`), the cluster DNS (port 53) and the OSS emulator
//! listen there too, so pods reach them as pods on a real cluster reach theirs.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker;

/// Label on the networks the local cloud creates: the pid of the local cloud that owns it.
pub const NETWORK_OWNER_LABEL: &str = "io.sparkoss.localcloud.network-pid";

/// Third octets tried for `172.30.N.0/24`; the first free one is taken.
const SUBNET_TRIES: u8 = 64;

/// A pod network that exists on the engine.
#[derive(Debug)]
pub struct PodNetwork {
    /// The Docker network's name.
    pub name: String,
    /// The gateway: the node's address on the network.
    pub gateway: Ipv4Addr,
    /// First three octets of the `/24`.
    prefix: [u8; 3],
    /// Host parts handed out to pods (2..=254; 1 is the gateway).
    used: Mutex<BTreeSet<u8>>,
}

impl PodNetwork {
    /// Creates the network, trying subnets until the engine accepts one (an address space can be
    /// taken by another network on the machine). `None` when the engine answers none.
    pub async fn create(docker: &Docker) -> Result<PodNetwork, String> {
        remove_orphans(docker).await;
        let pid = std::process::id();
        let name = format!("localcloud-pods-{pid}");
        let start = (pid % u32::from(SUBNET_TRIES)) as u8;
        let mut last = String::new();
        let routes = host_routes();
        for i in 0..SUBNET_TRIES {
            let third = (start + i) % SUBNET_TRIES;
            let net = u32::from(Ipv4Addr::new(172, 30, third, 0));
            // The engine refuses overlaps with its own networks, not with the host's routes.
            if routes.iter().any(|(dest, mask)| mask.count_ones() > 0 && (net & mask) == *dest) {
                continue;
            }
            let prefix = [172, 30, third];
            let gateway = Ipv4Addr::new(172, 30, third, 1);
            let mut labels = HashMap::new();
            labels.insert(NETWORK_OWNER_LABEL.to_owned(), pid.to_string());
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(format!("172.30.{third}.0/24")),
                        gateway: Some(gateway.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(labels),
                ..Default::default()
            };
            match tokio::time::timeout(Duration::from_secs(20), docker.create_network(request)).await {
                Ok(Ok(_)) => return Ok(PodNetwork { name, gateway, prefix, used: Mutex::new(BTreeSet::new()) }),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => return Err("the engine did not create the pod network within 20s".into()),
            }
        }
        Err(format!("no free 172.30.N.0/24 for the pod network after {SUBNET_TRIES} tries: {last}"))
    }

    /// A free pod address, or `None` when all 253 are in use.
    pub fn allocate(&self) -> Option<Ipv4Addr> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let host = (2..=254u8).find(|h| !used.contains(h))?;
        used.insert(host);
        Some(Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], host))
    }

    /// Gives an address back when its pod's container is gone.
    pub fn release(&self, ip: Ipv4Addr) {
        let o = ip.octets();
        if o[..3] == self.prefix {
            self.used.lock().unwrap_or_else(|p| p.into_inner()).remove(&o[3]);
        }
    }

    /// Removes the network (its containers must be gone first).
    pub async fn remove(&self, docker: &Docker) {
        if let Err(e) = docker.remove_network(&self.name).await {
            tracing::warn!("removing pod network {}: {e}", self.name);
        }
    }
}

/// The host's IPv4 routes other than the default one, as (destination, mask).
fn host_routes() -> Vec<(u32, u32)> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else { return Vec::new() };
    // Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; addresses in hex, in
    // the kernel's (little-endian) byte order.
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(|v| u32::from_be_bytes(v.to_le_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((hex(f.get(1)?)?, hex(f.get(7)?)?))
        })
        .filter(|(_, mask)| *mask != 0)
        .collect()
}

/// Networks whose local cloud no longer runs (killed before it could clean up).
async fn remove_orphans(docker: &Docker) {
    let mut filters = HashMap::new();
    filters.insert("label".to_owned(), vec![NETWORK_OWNER_LABEL.to_owned()]);
    let Ok(networks) = docker.list_networks(Some(ListNetworksOptions { filters: Some(filters) })).await else { return };
    for n in networks {
        let owner = n.labels.as_ref().and_then(|l| l.get(NETWORK_OWNER_LABEL)).cloned().unwrap_or_default();
        let alive = owner.parse::<u32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            if let Some(name) = n.name {
                let _ = docker.remove_network(&name).await;
            }
        }
    }
}

/// Names of the networks the local cloud with process id `pid` created (for tests that check
/// nothing is left behind). Uses the `docker` CLI; an error when it cannot run, so that a broken
/// probe never reads as "nothing left".
pub fn networks_created_by(pid: u32) -> std::io::Result<Vec<String>> {
    docker_cli_lines(&["network", "ls", "--format", "{{.Name}}", "--filter", &format!("label={NETWORK_OWNER_LABEL}={pid}")])
}

/// The non-empty lines a `docker` CLI command prints: an error when `docker` cannot be started
/// or exits unsuccessfully (probes for leftovers must not read a failure as "none").
pub(crate) fn docker_cli_lines(args: &[&str]) -> std::io::Result<Vec<String>> {
    cli_lines("docker", args, std::process::Command::new("docker").args(args).output())
}

/// The non-empty stdout lines of a finished command, or an error naming `program` and `args`
/// when it could not run or failed.
fn cli_lines(program: &str, args: &[&str], out: std::io::Result<std::process::Output>) -> std::io::Result<Vec<String>> {
    let out = out.map_err(|e| std::io::Error::new(e.kind(), format!("{program} {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::cli_lines;

    #[test]
    fn a_probe_that_cannot_start_is_an_error_not_an_empty_list() {
        let out = Command::new("/nonexistent/docker").output();
        let err = cli_lines("/nonexistent/docker", &["ps"], out).expect_err("a missing docker is an error");
        assert!(err.to_string().contains("/nonexistent/docker ps"), "{err}");
    }

    #[test]
    fn a_probe_that_exits_unsuccessfully_is_an_error_not_an_empty_list() {
        // What `docker ps` looks like when the daemon is down: nothing on stdout, a failure status.
        let out = Command::new("sh").args(["-c", "echo 'Cannot connect to the Docker daemon' >&2; exit 1"]).output();
        let err = cli_lines("docker", &["ps", "-a"], out).expect_err("a failing docker is an error");
        assert!(err.to_string().contains("Cannot connect to the Docker daemon"), "{err}");
    }

    #[test]
    fn a_probe_that_succeeds_lists_its_non_empty_lines() {
        let out = Command::new("sh").args(["-c", "printf 'a\\n\\nb\\n'"]).output();
        assert_eq!(cli_lines("docker", &["ps"], out).expect("runs"), vec!["a".to_owned(), "b".to_owned()]);
        let none = Command::new("true").output();
        assert_eq!(cli_lines("docker", &["ps"], none).expect("runs"), Vec::<String>::new());
    }
}
