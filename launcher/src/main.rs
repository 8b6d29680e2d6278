//! `sparkoss-launcher`: fetch the job's jars from OSS, then become `spark-submit`.
//! See the library documentation (`sparkoss_launcher`) for the contract.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use sparkoss_launcher::entrypoint;
use sparkoss_launcher::fetch::{self, Source};
use sparkoss_launcher::job::{self, shell_line, JobSpec};
use sparkoss_launcher::LauncherError;

/// The launcher's command line (the job flags after `run --` are [`JobSpec::parse`]'s).
#[derive(Debug, Parser)]
#[command(
    name = "sparkoss-launcher",
    version,
    about = "Fetches a Spark job's jars and files from OSS, then becomes spark-submit (or Spark's entrypoint).",
    after_help = "Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN, RRSA variables, or the ECS metadata \
                  service; never arguments."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Downloads one object (streamed, resumed after dropped connections, CRC-64 checked), then exits.
    Fetch {
        /// oss://bucket/key, https://... or local:///...
        uri: String,
        /// The file to write.
        dest: PathBuf,
    },
    /// Fetches the main application, jars and files into the work dir, then execs spark-submit.
    #[command(after_help = "Job flags: --main-application URI [--main-class C] [--name N] [--arg A]... [--jar URI]... \
                            [--py-file URI]... [--file URI]... [--conf K=V]... [--driver-cores N] [--driver-memory M] \
                            [--executor-instances N] [--executor-cores N] [--executor-memory M] [--namespace NS] \
                            [--image IMG] [--driver-pod-name P] [--driver-host H] [--master URL]; more may come from \
                            $SPARKOSS_JOB_FLAGS, a JSON array of strings appended to them.")]
    Run {
        /// Prints the spark-submit command line instead of fetching and running it.
        #[arg(long)]
        dry_run: bool,
        /// The job flags, after `--`.
        #[arg(last = true, required = true, value_name = "JOB_FLAGS")]
        flags: Vec<String>,
    },
    /// The image's ENTRYPOINT: fetches a cluster-mode driver's oss:// jars, .py and files (plus
    /// $SPARKOSS_FILES and $SPARKOSS_PY_FILES), then runs $SPARKOSS_BASE_ENTRYPOINT
    /// (default /opt/entrypoint.sh).
    Entrypoint {
        /// driver|executor and Spark's own arguments, passed through.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "driver|executor [ARGS]")]
        args: Vec<String>,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn runtime() -> Result<tokio::runtime::Runtime, LauncherError> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|source| LauncherError::Io {
        path: PathBuf::from("."),
        what: "starting the async runtime",
        source,
    })
}

/// Fetches every URI to its destination, making the OSS client only when needed.
async fn fetch_all(uris: &[&str], dests: &[PathBuf]) -> Result<(), LauncherError> {
    let needs_oss = uris.iter().any(|u| matches!(Source::parse(u), Ok(Source::Oss(_))));
    let client = if needs_oss {
        let cfg = fetch::oss_config(&env)?;
        let creds = fetch::credentials_provider(&env).get().await?;
        Some(
            sparkoss_aliyun::oss::Client::new(cfg, creds)
                .map_err(|source| LauncherError::Oss { uri: "oss://".into(), source: Box::new(source) })?,
        )
    } else {
        None
    };
    let opts = fetch::download_options(&env)?;
    for (uri, dest) in uris.iter().zip(dests) {
        let started = Instant::now();
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LauncherError::Io { path: dir.to_owned(), what: "creating", source })?;
        }
        let r = fetch::fetch(uri, dest, client.as_ref(), &opts).await?;
        eprintln!(
            "sparkoss-launcher: fetched {} to {} ({} bytes{}{}{}) in {:.1}s",
            fetch::redact(uri),
            dest.display(),
            r.size,
            if r.verified { ", CRC-64 verified" } else { "" },
            if r.streams > 1 { format!(", {} parallel streams", r.streams) } else { String::new() },
            if r.resumes > 0 { format!(", resumed {} times", r.resumes) } else { String::new() },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn cmd_fetch(uri: &str, dest: PathBuf) -> Result<(), LauncherError> {
    runtime()?.block_on(fetch_all(&[uri], &[dest]))
}

fn cmd_run(dry_run: bool, mut flags: Vec<String>) -> Result<(), LauncherError> {
    flags.extend(job::flags_from_env(&env)?);
    let spec = JobSpec::parse(&flags, &env)?;
    let spark_home = env("SPARK_HOME").filter(|s| !s.is_empty()).unwrap_or_else(|| "/opt/spark".into());
    let work_dir = work_dir()?;
    let inputs = spec.inputs();
    let dests = fetch::destinations(&inputs, &work_dir)?;
    let argv = spec.spark_submit_argv(Path::new(&spark_home), &dests);
    if dry_run {
        println!("{}", shell_line(&argv));
        return Ok(());
    }
    // Also when nothing is downloaded: it becomes spark-submit's working directory.
    std::fs::create_dir_all(&work_dir).map_err(|source| LauncherError::Io { path: work_dir.clone(), what: "creating", source })?;
    let uris: Vec<&str> = inputs.iter().map(|i| i.uri).collect();
    let rt = runtime()?;
    rt.block_on(fetch_all(&uris, &dests))?;
    // No threads may linger into spark-submit: the runtime goes before exec.
    drop(rt);
    exec(&argv, &spec.masked_line(&argv), &work_dir)
}

/// `$SPARKOSS_WORK_DIR`, else the current directory (the image's `/opt/spark/work-dir`).
fn work_dir() -> Result<PathBuf, LauncherError> {
    match env("SPARKOSS_WORK_DIR").filter(|s| !s.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => {
            std::env::current_dir().map_err(|source| LauncherError::Io { path: PathBuf::from("."), what: "finding the work dir", source })
        }
    }
}

/// The image's ENTRYPOINT: fetches a cluster-mode driver's `oss://` jars, `.py` and files, then runs
/// Spark's own entrypoint (see `sparkoss_launcher::entrypoint`).
fn cmd_entrypoint(args: &[String]) -> Result<(), LauncherError> {
    let base = env("SPARKOSS_BASE_ENTRYPOINT").filter(|s| !s.is_empty()).unwrap_or_else(|| "/opt/entrypoint.sh".into());
    let work_dir = work_dir()?;
    let files = env("SPARKOSS_FILES").filter(|s| !s.is_empty());
    let py_files = env("SPARKOSS_PY_FILES").filter(|s| !s.is_empty());
    let extras = entrypoint::DriverExtras { files: files.as_deref(), py_files: py_files.as_deref() };
    let plan = entrypoint::plan_with(args, &base, &work_dir, extras, &|p: &Path| std::fs::read_to_string(p))?;
    if !plan.fetches.is_empty() || plan.properties.is_some() {
        std::fs::create_dir_all(&work_dir).map_err(|source| LauncherError::Io { path: work_dir.clone(), what: "creating", source })?;
    }
    if !plan.fetches.is_empty() {
        let uris: Vec<&str> = plan.fetches.iter().map(|(u, _)| u.as_str()).collect();
        let dests: Vec<PathBuf> = plan.fetches.iter().map(|(_, d)| d.clone()).collect();
        let rt = runtime()?;
        rt.block_on(fetch_all(&uris, &dests))?;
        drop(rt);
    }
    if let Some((path, text)) = &plan.properties {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| LauncherError::Io { path: dir.to_owned(), what: "creating", source })?;
        }
        std::fs::write(path, text).map_err(|source| LauncherError::Io { path: path.clone(), what: "writing", source })?;
    }
    // Spark's own arguments may carry the application's: only their count is logged.
    let shown = match plan.argv.split_first() {
        Some((program, rest)) => format!("{} ({} arguments not shown)", shell_line(std::slice::from_ref(program)), rest.len()),
        None => String::new(),
    };
    exec(&plan.argv, &shown, &work_dir)
}

/// Replaces this process with `argv`, in `work_dir` so `--file`s open by their base names;
/// `shown` is what the pod log gets (secrets masked).
fn exec(argv: &[String], shown: &str, work_dir: &Path) -> Result<(), LauncherError> {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = argv.split_first() else {
        return Err(LauncherError::Usage("empty command".into()));
    };
    eprintln!("sparkoss-launcher: exec {shown} (in {})", work_dir.display());
    let source = std::process::Command::new(program).args(args).current_dir(work_dir).exec();
    Err(LauncherError::Exec { program: PathBuf::from(program), source })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: clap prints them on stdout and exits 0.
        Err(e) if !e.use_stderr() => e.exit(),
        // clap's message names the flag; exit 2 as every usage error.
        Err(e) => {
            eprintln!("sparkoss-launcher: {}", e.render().to_string().trim_end());
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Fetch { uri, dest } => cmd_fetch(&uri, dest),
        Command::Run { dry_run, flags } => cmd_run(dry_run, flags),
        Command::Entrypoint { args } => cmd_entrypoint(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            // One line for the pod log (usage text excepted, which is meant for a terminal).
            let line = if matches!(e, LauncherError::Usage(_)) { text } else { text.replace(['\n', '\r'], " ") };
            eprintln!("sparkoss-launcher: error: {line}");
            ExitCode::from(e.exit_code())
        }
    }
}
