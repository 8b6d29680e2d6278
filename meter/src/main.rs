//! The `sparkoss-meter` command (see the library docs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sparkoss_meter::archive::LogArchive;
use sparkoss_meter::collect::{now_ms, Collector, Scope};
use sparkoss_meter::db::{DatabaseUrl, Db};
use sparkoss_meter::report::{self, By, Format};
use sparkoss_meter::MeterError;

/// The default database: a file in the current folder.
const DEFAULT_DATABASE: &str = "sqlite://sparkoss-meter.db";

#[derive(Parser)]
#[command(name = "sparkoss-meter", version, about = "Per-job monitoring and per-user metering of sparkoss Spark jobs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DbArg {
    /// The database: sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB. Prefer the
    /// environment variable for a URL with a password: arguments are visible to every local user.
    #[arg(long, env = "SPARKOSS_METER_DATABASE", hide_env_values = true, default_value = DEFAULT_DATABASE)]
    database: String,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the cluster's sparkoss pods and record their usage until stopped.
    Run {
        /// A kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
        /// How often to sample metrics.k8s.io (e.g. 15s, 1m).
        #[arg(long, default_value = "15s", value_parser = parse_interval)]
        interval: Duration,
        /// Serve /healthz, /v1/usage and /metrics on this address (e.g. 127.0.0.1:9464).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Archive each driver's log to OSS when it ends: oss://BUCKET[/PREFIX].
        #[arg(long)]
        log_archive: Option<String>,
        /// Watch only this namespace (repeat the flag or separate names with commas); a Role in
        /// each is then enough. Default: every namespace, which needs a ClusterRole.
        #[arg(long = "namespace", value_name = "NS", value_delimiter = ',', value_parser = parse_namespace)]
        namespaces: Vec<String>,
    },
    /// Print usage per user, job or namespace.
    Report {
        /// Rows are users, jobs or namespaces.
        #[arg(long, value_enum, default_value = "user")]
        by: By,
        /// Window start: a duration back from now (7d, 12h), an RFC 3339 time or a date (default: all recorded).
        #[arg(long)]
        since: Option<String>,
        /// Window end, written as --since (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print a job's archived driver log (after its pod is gone).
    Logs {
        /// The job (`sparkoss.io/job`).
        #[arg(long)]
        job: String,
        /// Its namespace, when the job name ran in several.
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

/// A namespace name: a DNS label (lowercase letters, digits and `-`, at most 63, starting and
/// ending with a letter or digit), as the API server requires; it becomes part of URL paths.
fn parse_namespace(v: &str) -> Result<String, String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let valid = !v.is_empty() && v.len() <= 63 && v.chars().all(ok_char) && !v.starts_with('-') && !v.ends_with('-');
    if valid {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"))
    }
}

fn parse_interval(v: &str) -> Result<Duration, String> {
    let d = report::parse_time("--interval", v, 0).map_err(|_| format!("{v:?} is not a duration such as 15s or 1m"))?;
    let ms = u64::try_from(-d).map_err(|_| format!("{v:?} is not a duration such as 15s or 1m"))?;
    if ms < 1000 {
        return Err(format!("{v:?} is shorter than 1s"));
    }
    Ok(Duration::from_millis(ms))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SPARKOSS_METER_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sparkoss-meter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sparkoss-meter: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(arg: &DbArg) -> Result<Db, MeterError> {
    Db::connect(&DatabaseUrl::parse(&arg.database)?).await
}

async fn run(cli: Cli) -> Result<(), MeterError> {
    match cli.command {
        Command::Run { kubeconfig, db, interval, listen, log_archive, mut namespaces } => {
            let archive = log_archive.as_deref().map(LogArchive::from_env).transpose()?;
            let db = connect(&db).await?;
            let client = kube_client(kubeconfig).await?;
            namespaces.sort();
            namespaces.dedup();
            let scope = if namespaces.is_empty() { Scope::Cluster } else { Scope::Namespaces(namespaces) };
            let collector = Collector::new(db.clone(), client, scope.clone(), archive).await?;
            if let Some(addr) = listen {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(MeterError::io(format!("--listen {addr}")))?;
                let app = sparkoss_meter::http::router(db.clone(), collector.health.clone());
                tracing::info!("serving /healthz, /v1/usage and /metrics on http://{}", listener.local_addr().map_or(addr, |a| a));
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!("http server: {e}");
                    }
                });
            }
            let place = match &scope {
                Scope::Cluster => "every namespace".to_owned(),
                Scope::Namespaces(list) => format!("namespace(s) {}", list.join(", ")),
            };
            tracing::info!("metering sparkoss pods of {place} into {} (samples every {interval:?})", db.url());
            let sampler = collector.clone();
            tokio::spawn(async move { sampler.sample(interval).await });
            let result = tokio::select! {
                r = collector.watch() => r,
                _ = shutdown() => Ok(()),
            };
            db.close().await;
            result
        }
        Command::Report { by, since, until, format, output, db } => {
            let now = now_ms();
            let since = since.map(|v| report::parse_time("--since", &v, now)).transpose()?.unwrap_or(0);
            let until = until.map(|v| report::parse_time("--until", &v, now)).transpose()?.unwrap_or(now);
            if since >= until {
                return Err(MeterError::Usage { flag: "--since", detail: "is not before --until".into() });
            }
            let db = connect(&db).await?;
            let r = report::build(&db, by, since, until, now).await?;
            let text = report::render(&r, format);
            match output {
                Some(path) => std::fs::write(&path, text).map_err(MeterError::io(format!("--output {}", path.display())))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Logs { job, namespace, db } => {
            let db = connect(&db).await?;
            let mut out = std::io::stdout().lock();
            let a = sparkoss_meter::archive::print_log(&db, &job, namespace.as_deref(), &mut out).await?;
            eprintln!("({} from {}, archived {})", a.pod, a.url, report::rfc3339(a.archived_ms));
            Ok(())
        }
    }
}

/// A client from `--kubeconfig`, else kube-rs's usual inference (KUBECONFIG, ~/.kube/config, in-cluster).
async fn kube_client(path: Option<PathBuf>) -> Result<kube::Client, MeterError> {
    let config = match &path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| MeterError::Usage { flag: "--kubeconfig", detail: format!("{}: {e}", p.display()) })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| MeterError::Usage { flag: "--kubeconfig", detail: format!("{}: {e}", p.display()) })?
        }
        None => kube::Config::infer().await.map_err(|e| MeterError::Kube(format!("no cluster configuration (give --kubeconfig): {e}")))?,
    };
    kube::Client::try_from(config).map_err(|e| MeterError::Kube(e.to_string()))
}

/// Resolves on SIGINT or SIGTERM (a Deployment's stop).
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("stopping");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_repeat_or_come_comma_separated_and_must_be_names() {
        let cli = Cli::try_parse_from(["sparkoss-meter", "run", "--namespace", "team-a,team-b", "--namespace", "team-c"]).expect("parses");
        let Command::Run { namespaces, .. } = cli.command else { panic!("run") };
        assert_eq!(namespaces, ["team-a", "team-b", "team-c"]);
        for bad in ["Team", "a/b", "-a", "", "a_b"] {
            assert!(Cli::try_parse_from(["sparkoss-meter", "run", "--namespace", bad]).is_err(), "{bad:?}");
        }
        let cli = Cli::try_parse_from(["sparkoss-meter", "run"]).expect("parses");
        assert!(matches!(cli.command, Command::Run { namespaces, .. } if namespaces.is_empty()));
    }
}
