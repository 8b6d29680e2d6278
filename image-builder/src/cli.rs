//! The command line: `image-builder build | lock | inspect | versions`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::catalog::Catalog;
use crate::context::{build_context, ContextInput, JAR_LABEL_PREFIX, TRUST_LABEL_PREFIX};
use crate::engine::{Engine, Event};
use crate::error::{Error, Result};
use crate::lock::{Lock, LockStatus, Mode, Resolution};
use crate::maven::Anchor;
use crate::repo::{CredentialSources, Repository};
use crate::{auth, daemonless, lock, maven};

/// The platform the daemonless path takes from a multi-platform base when --platform is not given.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// Builds the OSS-enabled Spark image and pushes it over the registry API (no Docker Engine
/// needed), or builds it with the Docker Engine (--engine, or without --push).
#[derive(Debug, Parser)]
#[command(name = "image-builder", version, about)]
pub struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// A TOML catalog to use instead of the built-in one (same shape; see the README).
    #[arg(long, global = true)]
    pub catalog: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable lines (progress bars on a terminal).
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build (and optionally push) the image; its jars are checked against the lock file (which is
    /// written first when there is none).
    Build(Box<BuildArgs>),
    /// Resolve the catalog's jars, verify them against the repository's checksum files (or the
    /// catalog's pins) and record them in the lock file, without building.
    Lock(Box<ResolveArgs>),
    /// Show what sparkoss put in a local image: versions, connector jars and their sha256.
    Inspect {
        /// Image reference or id.
        reference: String,
    },
    /// List the catalog: Spark lines, Hadoop versions, connector jars and where each jar's trust comes from.
    Versions {
        /// The lock file to report on.
        #[arg(long, default_value = lock::DEFAULT_LOCKFILE)]
        lockfile: PathBuf,
    },
}

/// What to resolve and where from: shared by `build` and `lock`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Spark version: 3.3.x, 3.4.x or 3.5.x (or just the line, e.g. 3.5, which keeps a locked 3.5.x).
    #[arg(long)]
    pub spark: String,
    /// Hadoop version (must match the Spark line's).
    #[arg(long)]
    pub hadoop: Option<String>,
    /// Base image (default: apache/spark:<version>).
    #[arg(long)]
    pub base_image: Option<String>,
    /// Maven repository root; repeatable, tried in order (the first that has a jar wins). A private
    /// mirror's credentials: https://USER:PASSWORD@host/path, the netrc file ($NETRC, default
    /// ~/.netrc), or the env vars SPARKOSS_MAVEN_USERNAME and SPARKOSS_MAVEN_PASSWORD. They are sent
    /// only to a repository that asks (HTTP 401) and never printed or written to the lock file.
    #[arg(long = "maven-repo", value_name = "URL", default_value = maven::MAVEN_CENTRAL)]
    pub maven_repos: Vec<String>,
    /// Where verified jars are cached by sha256.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// The lock file: read, and written when it is missing or lacks a jar (not with --locked).
    #[arg(long, default_value = lock::DEFAULT_LOCKFILE)]
    pub lockfile: PathBuf,
}

/// `image-builder build` flags.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Spark version, repositories, cache and lock file.
    #[command(flatten)]
    pub resolve: ResolveArgs,
    /// Use only the lock file: refuse to build when it is missing or lacks anything this build needs
    /// (for CI, like `cargo build --locked`).
    #[arg(long)]
    pub locked: bool,
    /// Image reference to tag; repeatable (default: sparkoss/spark-oss:<version>).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Push every tag. Without --engine this needs no Docker Engine: the base image is read from
    /// its registry, the layers are built here (reproducibly: same inputs, same digest) and only
    /// the blobs a registry lacks are sent, the manifest last.
    #[arg(long)]
    pub push: bool,
    /// Build with the Docker Engine even with --push (it then pushes through the engine). Without
    /// --push the engine is always used: the image is loaded into it.
    #[arg(long)]
    pub engine: bool,
    /// Target platform (the daemonless path takes it from a multi-platform base; default
    /// linux/amd64 there, the engine's own platform with the engine).
    #[arg(long, value_parser = ["linux/amd64", "linux/arm64"])]
    pub platform: Option<String>,
    /// Do not use the engine's build cache (engine path; the daemonless path has no build cache).
    #[arg(long)]
    pub no_cache: bool,
    /// Extra image label; repeatable.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// The launcher executable to put in the image (default: `sparkoss-launcher` beside this program).
    #[arg(long)]
    pub launcher: Option<PathBuf>,
    /// Registry user for --push (the password comes from --registry-password-stdin).
    #[arg(long, requires = "registry_password_stdin")]
    pub registry_username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "registry_username")]
    pub registry_password_stdin: bool,
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let output = cli.output;
    let result = match cli.command {
        Command::Build(args) => build(*args, cli.catalog.as_deref(), output).await,
        Command::Lock(args) => lock_command(&args, cli.catalog.as_deref(), output).await,
        Command::Inspect { reference } => inspect(&reference, output).await,
        Command::Versions { lockfile } => versions(cli.catalog.as_deref(), &lockfile, output),
    };
    match result {
        Ok(doc) => {
            if output == Output::Json {
                println!("{doc}");
            }
            0
        }
        Err(e) => {
            eprintln!("image-builder: error: {e}");
            if output == Output::Json {
                println!("{}", json!({ "error": e.to_string() }));
            }
            1
        }
    }
}

fn load_catalog(path: Option<&Path>) -> Result<Catalog> {
    match path {
        Some(p) => Catalog::load(p),
        None => Catalog::builtin(),
    }
}

/// The default launcher: `sparkoss-launcher` in the same directory as this executable.
pub fn default_launcher() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::InvalidArgument { flag: "--launcher", message: "cannot tell the directory of this executable".into() })?;
    Ok(dir.join("sparkoss-launcher"))
}

/// Renders progress: on a terminal a spinner plus one bar per blob being pushed, plain lines on
/// stderr otherwise, nothing for JSON.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    multi: Option<indicatif::MultiProgress>,
    blobs: std::sync::Mutex<BTreeMap<String, indicatif::ProgressBar>>,
    quiet: bool,
}

impl Progress {
    fn new(output: Output) -> Self {
        let quiet = output == Output::Json;
        let multi = (!quiet && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
        let bar = multi.as_ref().map(|m| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Self { bar, multi, blobs: std::sync::Mutex::new(BTreeMap::new()), quiet }
    }

    fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => eprintln!("{s}"),
        }
    }

    /// The bar of blob `id` (made on first use), on a terminal.
    fn blob_bar(&self, id: &str, total: u64) -> Option<indicatif::ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut blobs = self.blobs.lock().ok()?;
        let bar = blobs.entry(id.to_string()).or_insert_with(|| {
            let b = multi.add(indicatif::ProgressBar::new(total));
            if let Ok(style) = indicatif::ProgressStyle::with_template("{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {msg}") {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(id.to_string());
            b
        });
        Some(bar.clone())
    }

    fn event(&self, e: &Event) {
        match e {
            Event::Build(l) => {
                if let Some(b) = &self.bar {
                    b.set_message(l.clone());
                }
                if l.starts_with("Step ") || self.bar.is_none() {
                    self.line(l);
                }
            }
            Event::Push { id, status, current, total } => {
                let sized = matches!(total, Some(t) if *t > 0);
                let bar = if sized && !id.is_empty() { self.blob_bar(id, total.unwrap_or(0).max(0) as u64) } else { None };
                match bar {
                    Some(b) => {
                        b.set_position(current.unwrap_or(0).max(0) as u64);
                        if status == "Pushing" || status == "Preparing" {
                            b.set_message(status.clone());
                        } else {
                            b.finish_with_message(status.clone());
                        }
                    }
                    None => {
                        if let Some(b) = &self.bar {
                            b.set_message(format!("{id} {status}"));
                        }
                    }
                }
                // Per-chunk "Pushing" lines would flood a log; the rest are one line per layer.
                if status != "Pushing" && !self.quiet && self.bar.is_none() {
                    let sep = if id.is_empty() { "" } else { ": " };
                    eprintln!("{id}{sep}{status}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Resolves the jars through the lock file (see [`lock::resolve`]) and reports what happened to it.
async fn resolve(args: &ResolveArgs, catalog: &Catalog, mode: Mode, progress: &Progress) -> Result<Resolution> {
    // Repositories (and their credentials) are checked before anything is read or downloaded.
    let repos = Repository::parse_all(&args.maven_repos, &CredentialSources::from_env()?)?;
    let cache_dir = args.cache_dir.clone().unwrap_or_else(maven::default_cache_dir);
    let cache = maven::Cache::new(&cache_dir);
    let request = lock::Request { spark: &args.spark, hadoop: args.hadoop.as_deref(), base_image: args.base_image.as_deref() };
    let sources = lock::Sources { repos: &repos, cache: &cache, lockfile: &args.lockfile };
    let resolution = lock::resolve(catalog, request, &sources, mode).await?;
    for j in &resolution.jars {
        let from = if j.cached { "cache" } else { "downloaded" };
        progress.line(&format!("verified {} sha256:{} ({from}) trust: {}", j.jar.coordinate(), j.sha256, trust_text(j.anchor)));
    }
    // Said even with --output json: the lock is a file to commit, not a detail of this run.
    let path = args.lockfile.display();
    match resolution.status {
        LockStatus::Created => {
            eprintln!("wrote {path}: commit it next to your pipeline; later builds check every jar against it")
        }
        LockStatus::Updated => eprintln!("updated {path}: commit the change"),
        LockStatus::Unchanged => {}
    }
    Ok(resolution)
}

/// How the trust of a locked jar reads for people (every jar a build uses is locked).
fn trust_text(anchor: Anchor) -> String {
    match anchor {
        Anchor::CatalogPin => anchor.describe().to_string(),
        _ => format!("locked (first verified by its {})", anchor.describe()),
    }
}

fn jars_json(resolution: &Resolution) -> Vec<serde_json::Value> {
    resolution
        .jars
        .iter()
        .map(|j| {
            json!({
                "coordinate": j.jar.coordinate(),
                "file": j.jar.file_name(),
                "sha256": j.sha256,
                "size": j.bytes.len(),
                "source": j.source,
                "cached": j.cached,
                "trust": j.anchor.as_str(),
            })
        })
        .collect()
}

fn lockfile_json(args: &ResolveArgs, status: LockStatus) -> serde_json::Value {
    json!({ "path": args.lockfile.display().to_string(), "status": status })
}

async fn lock_command(args: &ResolveArgs, catalog: Option<&Path>, output: Output) -> Result<serde_json::Value> {
    let catalog = load_catalog(catalog)?;
    let progress = Progress::new(output);
    let resolution = resolve(args, &catalog, Mode::Update, &progress).await?;
    progress.finish();
    if output == Output::Text && resolution.status == LockStatus::Unchanged {
        println!("{} is up to date ({} jars)", args.lockfile.display(), resolution.jars.len());
    } else if output == Output::Text {
        println!("{}", args.lockfile.display());
    }
    let s = &resolution.selection;
    Ok(json!({
        "lockfile": lockfile_json(args, resolution.status),
        "spark_version": s.spark_version,
        "hadoop_version": s.hadoop_version,
        "base_image": s.base_image,
        "jars": jars_json(&resolution),
    }))
}

async fn build(args: BuildArgs, catalog: Option<&Path>, output: Output) -> Result<serde_json::Value> {
    let started = Instant::now();
    let catalog = load_catalog(catalog)?;
    // An unsupported version is reported before anything else is looked at.
    catalog.select(&args.resolve.spark, args.resolve.hadoop.as_deref(), args.resolve.base_image.as_deref())?;
    let mut extra_labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').ok_or_else(|| Error::InvalidArgument { flag: "--label", message: format!("{l:?} is not K=V") })?;
        extra_labels.insert(k.to_string(), v.to_string());
    }
    if args.registry_username.is_some() && !args.push {
        return Err(Error::InvalidArgument { flag: "--registry-username", message: "only used with --push".into() });
    }
    let password = if args.registry_password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::io("standard input", e))?;
        let s = s.trim_end_matches(['\n', '\r']).to_string();
        if s.is_empty() {
            return Err(Error::InvalidArgument { flag: "--registry-password-stdin", message: "standard input was empty".into() });
        }
        Some(s)
    } else {
        None
    };
    let launcher_path = match &args.launcher {
        Some(p) => p.clone(),
        None => default_launcher()?,
    };
    let launcher = match std::fs::read(&launcher_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::LauncherMissing { path: launcher_path }),
        Err(e) => return Err(Error::io(&launcher_path, e)),
    };

    let progress = Progress::new(output);
    // Jars are resolved and verified before the engine is contacted: a bad jar never reaches Docker.
    let mode = if args.locked { Mode::Locked } else { Mode::Update };
    let resolution = resolve(&args.resolve, &catalog, mode, &progress).await?;
    let selection = resolution.selection.clone();
    let jars = resolution.jars.clone();
    let tags = if args.tags.is_empty() { vec![format!("sparkoss/spark-oss:{}", selection.spark_version)] } else { args.tags.clone() };
    progress.line(&format!(
        "Spark {} / Hadoop {} on {}; launcher {}",
        selection.spark_version,
        selection.hadoop_version,
        selection.base_image,
        launcher_path.display()
    ));
    let input = ContextInput { selection: selection.clone(), jars: jars.clone(), launcher, extra_labels };
    let ctx = build_context(&input)?;
    let explicit = args.registry_username.as_deref().zip(password.clone());
    let summary = json!({
        "tags": tags,
        "spark_version": selection.spark_version,
        "hadoop_version": selection.hadoop_version,
        "base_image": selection.base_image,
        "jars": jars_json(&resolution),
        "lockfile": lockfile_json(&args.resolve, resolution.status),
        "launcher": { "source": launcher_path.display().to_string(), "path": crate::context::LAUNCHER_PATH,
                      "sha256": ctx.labels.get("io.sparkoss.launcher.sha256") },
        "labels": ctx.labels,
    });

    if args.push && !args.engine {
        let platform = args.platform.as_deref().unwrap_or(DEFAULT_PLATFORM);
        let target_hosts: Vec<String> = tags.iter().map(|t| auth::registry_of(t)).collect();
        // Explicit credentials are for the registries pushed to; a base elsewhere uses config.json.
        let credentials = |host: &str| match &explicit {
            Some((u, p)) if target_hosts.iter().any(|h| h == host) => Ok(Some(auth::explicit(host, u, p.clone()))),
            _ => auth::from_docker_config(host),
        };
        let mut on_event = |e: Event| progress.event(&e);
        let push_started = Instant::now();
        let request = daemonless::Request { input: &input, labels: &ctx.labels, tags: &tags, platform };
        let built = daemonless::build_and_push(&request, &credentials, &mut on_event).await?;
        for o in &built.pushed {
            progress.line(&format!(
                "pushed {} digest {} ({} layers uploaded, {} bytes; {} mounted, {} already there)",
                o.reference, built.digest, o.layers_pushed, o.bytes_uploaded, o.layers_mounted, o.layers_existing
            ));
        }
        progress.finish();
        if output == Output::Text {
            for t in &tags {
                println!("{t}@{}", built.digest);
            }
        }
        let mut doc = summary;
        doc["builder"] = json!("daemonless");
        doc["platform"] = json!(platform);
        doc["digest"] = json!(built.digest);
        doc["image_id"] = json!(built.config_digest);
        doc["base_digest"] = json!(built.base_digest);
        doc["layers"] = json!(built.layers);
        doc["pushed"] = json!(built.pushed);
        doc["push_seconds"] = json!(push_started.elapsed().as_secs_f64());
        doc["total_seconds"] = json!(started.elapsed().as_secs_f64());
        return Ok(doc);
    }

    let engine = Engine::connect().await?;
    let mut on_event = |e: Event| progress.event(&e);
    let build_started = Instant::now();
    let image_id = engine.build(&ctx, &tags, args.platform.as_deref(), args.no_cache, &mut on_event).await?;
    let build_secs = build_started.elapsed().as_secs_f64();
    progress.line(&format!("built {image_id} as {}", tags.join(", ")));

    let mut pushed = Vec::new();
    if args.push {
        for tag in &tags {
            let registry = auth::registry_of(tag);
            let creds = match &explicit {
                Some((u, p)) => Some(auth::explicit(&registry, u, p.clone())),
                None => auth::from_docker_config(&registry)?,
            };
            let outcome = engine.push(tag, creds, &mut on_event).await?;
            progress.line(&format!(
                "pushed {tag} digest {} ({} layers uploaded, {} already there)",
                outcome.digest.as_deref().unwrap_or("?"),
                outcome.layers_pushed,
                outcome.layers_existing
            ));
            if output == Output::Text {
                if let Some(d) = &outcome.digest {
                    println!("{tag}@{d}");
                }
            }
            pushed.push(outcome);
        }
    } else if output == Output::Text {
        println!("{image_id}");
    }
    progress.finish();
    let mut doc = summary;
    doc["builder"] = json!("engine");
    doc["image_id"] = json!(image_id);
    doc["digest"] = json!(pushed.first().and_then(|o: &crate::engine::PushOutcome| o.digest.clone()));
    doc["pushed"] = json!(pushed);
    doc["build_seconds"] = json!(build_secs);
    doc["total_seconds"] = json!(started.elapsed().as_secs_f64());
    Ok(doc)
}

/// What `inspect` reports, from an image's labels.
pub fn describe(labels: &BTreeMap<String, String>) -> serde_json::Value {
    let jars: Vec<serde_json::Value> = labels
        .iter()
        .filter_map(|(k, v)| {
            let artifact = k.strip_prefix(JAR_LABEL_PREFIX)?;
            let (coordinate, digest) = v.split_once(' ')?;
            let sha256 = digest.strip_prefix("sha256:")?;
            let version = coordinate.rsplit(':').next().unwrap_or_default();
            // Images built before trust labels existed have none: `null`.
            let trust = labels.get(&format!("{TRUST_LABEL_PREFIX}{artifact}")).and_then(|t| Anchor::parse(t));
            Some(json!({ "artifact": artifact, "coordinate": coordinate, "sha256": sha256,
                         "path": format!("{}/{artifact}-{version}.jar", crate::context::JARS_DIR),
                         "trust": trust.map(Anchor::as_str),
                         "trust_text": trust.map(trust_text) }))
        })
        .collect();
    let get = |k: &str| labels.get(k).cloned();
    json!({
        "spark_version": get("io.sparkoss.spark.version"),
        "hadoop_version": get("io.sparkoss.hadoop.version"),
        "connector_version": get("io.sparkoss.connector.version"),
        "builder_version": get("io.sparkoss.builder.version"),
        "base_image": get("org.opencontainers.image.base.name"),
        "launcher": { "path": get("io.sparkoss.launcher.path"), "sha256": get("io.sparkoss.launcher.sha256") },
        "jars": jars,
    })
}

async fn inspect(reference: &str, output: Output) -> Result<serde_json::Value> {
    let engine = Engine::connect().await?;
    let id = engine.image_id(reference).await?;
    let labels = engine.labels(reference).await?;
    if !labels.contains_key("io.sparkoss.spark.version") {
        return Err(Error::InvalidArgument {
            flag: "inspect",
            message: format!("{reference} was not built by sparkoss image-builder (no io.sparkoss.* labels)"),
        });
    }
    let mut doc = describe(&labels);
    doc["image_id"] = json!(id);
    doc["reference"] = json!(reference);
    if output == Output::Text {
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
        println!("image      {id}");
        println!("spark      {}", s(&doc["spark_version"]));
        println!("hadoop     {}", s(&doc["hadoop_version"]));
        println!("base       {}", s(&doc["base_image"]));
        println!("launcher   {} sha256:{}", s(&doc["launcher"]["path"]), s(&doc["launcher"]["sha256"]));
        for j in doc["jars"].as_array().into_iter().flatten() {
            println!("jar        {} {} sha256:{} trust: {}", s(&j["path"]), s(&j["coordinate"]), s(&j["sha256"]), s(&j["trust_text"]));
        }
    }
    Ok(doc)
}

/// Where a catalog jar's trust comes from, given the lock file (if any): the catalog's pin, the
/// lock's record, or (not locked yet) the repository's checksum file at the first lock.
pub fn jar_trust(jar: &crate::catalog::Jar, lock: Option<&Lock>) -> serde_json::Value {
    let locked = lock.and_then(|l| l.jar(&jar.coordinate()));
    match (&jar.sha256, locked) {
        (Some(pin), _) => json!({ "trust": "catalog-pin", "sha256": pin, "text": Anchor::CatalogPin.describe() }),
        (None, Some(e)) => json!({ "trust": "lock", "sha256": e.sha256, "verified_by": e.verified_by.as_str(),
                                   "text": trust_text(e.verified_by) }),
        (None, None) => json!({ "trust": "repository-checksum", "sha256": null,
                                "text": "repository checksum (.sha512, .sha256 or .sha1) when first locked; not locked yet" }),
    }
}

fn versions(catalog: Option<&Path>, lockfile: &Path, output: Output) -> Result<serde_json::Value> {
    let catalog = load_catalog(catalog)?;
    let lock = Lock::load(lockfile)?;
    let mut doc = serde_json::to_value(&catalog).map_err(|e| Error::Catalog { path: "catalog".into(), message: e.to_string() })?;
    if output == Output::Text {
        match &lock {
            Some(l) => println!("lock file {} (Spark {}, {} jars)", lockfile.display(), l.spark, l.jars.len()),
            None => println!("lock file {}: none", lockfile.display()),
        }
    }
    for (line, line_doc) in catalog.lines.iter().zip(doc["line"].as_array_mut().into_iter().flatten()) {
        if output == Output::Text {
            println!("spark {}.x (default {})  hadoop {}  base {}", line.spark, line.default_version, line.hadoop, line.base_image);
        }
        for (j, jar_doc) in line.jars.iter().zip(line_doc["jars"].as_array_mut().into_iter().flatten()) {
            let trust = jar_trust(j, lock.as_ref());
            if output == Output::Text {
                let sha = trust["sha256"].as_str().map(|s| format!("sha256:{s}")).unwrap_or_else(|| "sha256:-".into());
                println!("  {} {sha}  trust: {}", j.coordinate(), trust["text"].as_str().unwrap_or_default());
            }
            jar_doc["trust"] = trust;
        }
    }
    doc["lockfile"] = json!({ "path": lockfile.display().to_string(), "present": lock.is_some() });
    Ok(doc)
}
