//! `localcloud`: the local, protocol-faithful emulation of ACK, OSS and the Kubernetes API that
//! the tests and the demo run against.
//!
//! ```text
//! localcloud [--listen 127.0.0.1] [--data-dir DIR] [--access-key-id ID] [--create-delay 2s]
//!            [--kubelet rules|docker] [--node-cpus N]
//! ```
//! With `--access-key-id`, the secret comes from `LOCALCLOUD_ACCESS_KEY_SECRET` (a secret on the
//! command line is visible to every local user); without, both are generated.
//! `--kubelet docker` runs pods as containers on the Docker Engine, each with its own IP on a
//! Docker network the local cloud creates and removes (see `localcloud::kube::docker_kubelet`);
//! the default moves them through their phases by rule. `--node-cpus` sets the CPUs the default
//! node `localcloud-node` offers the scheduler (default: the host's under the Docker kubelet, 64
//! under the rule kubelet); nodes of emulated ACK pools take their instance type's.
//!
//! When ready it prints one JSON line with its endpoints and keys on stdout, then serves until
//! SIGTERM or SIGINT.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sparkoss_localcloud::{self as localcloud, Config};
use tokio::signal::unix::{signal, SignalKind};

fn usage(msg: &str) -> ExitCode {
    eprintln!("localcloud: {msg}\nusage: localcloud [--listen 127.0.0.1] [--data-dir DIR] [--access-key-id ID] [--create-delay 2s] [--kubelet rules|docker] [--node-cpus N]");
    ExitCode::from(2)
}

fn parse_delay(s: &str) -> Option<Duration> {
    let (n, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(sec) = s.strip_suffix('s') {
        (sec, 1.0)
    } else if let Some(m) = s.strip_suffix('m') {
        (m, 60.0)
    } else {
        (s, 1.0)
    };
    n.parse::<f64>().ok().filter(|v| *v >= 0.0).map(|v| Duration::from_secs_f64(v * scale))
}

fn main() -> ExitCode {
    let mut listen: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut data_dir: Option<PathBuf> = None;
    let mut ak: Option<String> = None;
    let mut sk: Option<String> = None;
    let mut delay = Duration::from_secs(2);
    let mut kubelet = false;
    let mut node_cpus: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let r: Result<(), String> = (|| {
            match a.as_str() {
                "--listen" => {
                    let v = value("--listen")?;
                    listen = v.parse().map_err(|_| format!("--listen {v:?} is not an IP address"))?;
                    if !listen.is_loopback() {
                        return Err(format!("--listen {v}: the local cloud only listens on loopback addresses"));
                    }
                }
                "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
                "--access-key-id" => ak = Some(value("--access-key-id")?),
                "--access-key-secret" => {
                    return Err("--access-key-secret is not taken on the command line, where every local user sees it: set LOCALCLOUD_ACCESS_KEY_SECRET".into())
                }
                "--create-delay" => {
                    let v = value("--create-delay")?;
                    delay = parse_delay(&v).ok_or_else(|| format!("--create-delay {v:?} is not a duration like 2s or 500ms"))?;
                }
                "--kubelet" => {
                    kubelet = match value("--kubelet")?.as_str() {
                        "docker" => true,
                        "rules" => false,
                        other => {
                            return Err(format!(
                                "--kubelet {other:?}: expected `rules` (pods move by rule) or `docker` (pods run as containers)"
                            ))
                        }
                    };
                }
                "--node-cpus" => {
                    let v = value("--node-cpus")?;
                    let n = v.parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0 && *n <= 1024.0);
                    node_cpus = Some(n.ok_or_else(|| format!("--node-cpus {v:?} is not a CPU count above 0 (like 4 or 2.5)"))?);
                }
                // Kept for scripts written before `--kubelet`: the rule-based kubelet only.
                "--no-kubelet" => kubelet = false,
                "-h" | "--help" => return Err("help".into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            return usage(&e);
        }
    }
    if ak.is_some() {
        sk = std::env::var("LOCALCLOUD_ACCESS_KEY_SECRET").ok().filter(|v| !v.is_empty());
    }
    if ak.is_some() != sk.is_some() {
        return usage("--access-key-id needs its secret in LOCALCLOUD_ACCESS_KEY_SECRET");
    }
    let tmp;
    let data_dir = match data_dir {
        Some(d) => d,
        None => match tempfile::Builder::new().prefix("localcloud-").tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("localcloud: cannot create a data dir: {e}");
                return ExitCode::from(1);
            }
        },
    };
    // Keys, tokens and the signing key come from the OS generator: without one, no local cloud.
    let random = |n: usize| localcloud::random::hex(n);
    let (ak, sk) = match (ak, sk, localcloud::random::check()) {
        (_, _, Err(e)) => {
            eprintln!("localcloud: cannot start: {e}");
            return ExitCode::from(1);
        }
        (Some(ak), Some(sk), Ok(())) => (ak, sk),
        (_, _, Ok(())) => match (random(10), random(15)) {
            (Ok(id), Ok(secret)) => (format!("LTAI{id}"), secret),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("localcloud: cannot start: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let config = Config { listen, data_dir, access_key_id: ak, access_key_secret: sk, create_delay: delay, kubelet, node_cpus };

    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCALCLOUD_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("localcloud: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        // Signal handlers first: a test may send SIGTERM as soon as it reads the ready line.
        let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("localcloud: cannot watch signals: {e}");
                return ExitCode::from(1);
            }
        };
        let cloud = match localcloud::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("localcloud: cannot start: {e}");
                return ExitCode::from(1);
            }
        };
        let line = serde_json::to_string(&cloud.endpoints).unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return ExitCode::from(1);
        }
        drop(out);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping");
        cloud.stop().await;
        ExitCode::SUCCESS
    })
}
