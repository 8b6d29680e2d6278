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

use clap::{Parser, ValueEnum};
use sparkoss_localcloud::{self as localcloud, Config};
use tokio::signal::unix::{signal, SignalKind};

/// The local cloud's command line.
#[derive(Debug, Parser)]
#[command(name = "localcloud", version, about = "The local emulation of ACK, OSS and the Kubernetes API.")]
struct Cli {
    /// The loopback address every service listens on.
    #[arg(long, default_value = "127.0.0.1", value_parser = loopback)]
    listen: IpAddr,
    /// Where buckets, clusters and keys live (default: a temporary directory, removed at exit).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The access key id; its secret comes from LOCALCLOUD_ACCESS_KEY_SECRET (default: both generated).
    #[arg(long, value_name = "ID")]
    access_key_id: Option<String>,
    /// Refused after parsing (without echoing the value): a secret on the command line is visible
    /// to every local user.
    #[arg(long, hide = true)]
    access_key_secret: Option<String>,
    /// How long an ACK cluster takes to become running (2s, 500ms, 1m).
    // A leading `-` reaches the parser, which names the flag, rather than reading as a flag.
    #[arg(long, default_value = "2s", value_parser = parse_delay, allow_hyphen_values = true)]
    create_delay: Duration,
    /// How pods run: `rules` (they move through their phases by rule) or `docker` (as containers).
    #[arg(long, value_enum, default_value_t = Kubelet::Rules, overrides_with = "no_kubelet")]
    kubelet: Kubelet,
    /// Kept for scripts written before `--kubelet`: the rule-based kubelet.
    #[arg(long, hide = true, overrides_with = "kubelet")]
    no_kubelet: bool,
    /// The CPUs the default node offers (default: the host's under Docker, 64 under rules).
    #[arg(long, value_name = "N", value_parser = parse_cpus, allow_hyphen_values = true)]
    node_cpus: Option<f64>,
}

impl Cli {
    /// Whether pods run on Docker: `--kubelet docker` not overridden by a later `--no-kubelet`.
    fn docker_kubelet(&self) -> bool {
        self.kubelet == Kubelet::Docker && !self.no_kubelet
    }
}

/// `--kubelet`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kubelet {
    /// Pods move through their phases by rule.
    Rules,
    /// Pods run as containers on the Docker Engine.
    Docker,
}

fn loopback(v: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = v.parse().map_err(|_| "not an IP address".to_owned())?;
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err("the local cloud only listens on loopback addresses".into())
    }
}

fn parse_delay(s: &str) -> Result<Duration, String> {
    let (n, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(sec) = s.strip_suffix('s') {
        (sec, 1.0)
    } else if let Some(m) = s.strip_suffix('m') {
        (m, 60.0)
    } else {
        (s, 1.0)
    };
    let secs = n.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v * scale);
    secs.and_then(|v| Duration::try_from_secs_f64(v).ok()).ok_or_else(|| "not a duration like 2s or 500ms".into())
}

fn parse_cpus(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0 && *n <= 1024.0)
        .ok_or_else(|| "not a CPU count above 0 (like 4 or 2.5)".into())
}

/// A usage error (exit 2), on one `localcloud: ` line as every error of the binary.
fn usage(msg: &str) -> ExitCode {
    eprintln!("localcloud: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: clap prints them on stdout and exits 0.
        Err(e) if !e.use_stderr() => e.exit(),
        // clap's message names the flag and its problem; the value of --access-key-secret is
        // never reached here (it takes any value, refused below without echoing it).
        Err(e) => return usage(e.render().to_string().trim_end()),
    };
    if cli.access_key_secret.is_some() {
        return usage(
            "--access-key-secret is not taken on the command line, where every local user sees it: set LOCALCLOUD_ACCESS_KEY_SECRET",
        );
    }
    let kubelet = cli.docker_kubelet();
    let listen = cli.listen;
    let data_dir = cli.data_dir;
    let delay = cli.create_delay;
    let node_cpus = cli.node_cpus;
    let ak = cli.access_key_id;
    let mut sk = None;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("localcloud").chain(args.iter().copied())).map_err(|e| e.render().to_string())
    }

    #[test]
    fn bad_flags_are_errors_naming_the_flag() {
        for (args, flag) in [
            (&["--listen", "0.0.0.0"][..], "--listen"),
            (&["--listen", "localhost"][..], "--listen"),
            (&["--create-delay", "soon"][..], "--create-delay"),
            (&["--create-delay", "-1s"][..], "--create-delay"),
            (&["--kubelet", "podman"][..], "--kubelet"),
            (&["--node-cpus", "0"][..], "--node-cpus"),
            (&["--node-cpus", "NaN"][..], "--node-cpus"),
            (&["--node-cpus", "-2"][..], "--node-cpus"),
            (&["--data-dir"][..], "--data-dir"),
            (&["--bogus"][..], "--bogus"),
        ] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} parsed"));
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        assert!(parse(&["--listen", "0.0.0.0"]).err().unwrap().contains("loopback"));
    }

    #[test]
    fn defaults_and_values() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, IpAddr::from([127, 0, 0, 1]));
        assert_eq!((c.create_delay, c.kubelet, c.node_cpus), (Duration::from_secs(2), Kubelet::Rules, None));
        let c = parse(&["--listen", "::1", "--create-delay", "500ms", "--kubelet", "docker", "--node-cpus", "2.5"]).unwrap();
        assert_eq!(
            (c.listen, c.create_delay, c.kubelet, c.node_cpus),
            ("::1".parse().unwrap(), Duration::from_millis(500), Kubelet::Docker, Some(2.5))
        );
        assert_eq!(parse(&["--create-delay", "1m"]).unwrap().create_delay, Duration::from_secs(60));
        // The secret flag parses, so main can refuse it without echoing the value.
        assert_eq!(parse(&["--access-key-secret", "s"]).unwrap().access_key_secret.as_deref(), Some("s"));
    }

    #[test]
    fn the_last_of_kubelet_and_no_kubelet_wins() {
        let docker = |args: &[&str]| parse(args).unwrap().docker_kubelet();
        assert!(docker(&["--kubelet", "docker"]));
        assert!(!docker(&["--kubelet", "docker", "--no-kubelet"]));
        assert!(docker(&["--no-kubelet", "--kubelet", "docker"]));
    }
}
