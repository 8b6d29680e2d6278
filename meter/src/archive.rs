//! Durable driver logs: when a driver pod ends, its log is written to OSS at
//! `<prefix>/<namespace>/<job>/<pod>.log` through the project's OSS client, and recorded in the
//! database, so `sparkoss-meter logs` prints it after the pod is gone.
//!
//! OSS settings and credentials come from the environment, as the launcher's do
//! (`SPARKOSS_OSS_ENDPOINT` or `ALIBABA_CLOUD_REGION`; the `ALIBABA_CLOUD_ACCESS_KEY_*` variables,
//! RRSA or the ECS metadata service), never from arguments.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::{Api, Client};
use sparkoss_aliyun::credentials::{ChainSources, CredentialsProvider, Source as CredentialSource};
use sparkoss_aliyun::oss::{self, ClientConfig};
use sparkoss_aliyun::retry::RetryPolicy;

use crate::db::{Archive, Db};
use crate::error::MeterError;

/// Tries per log before giving up (each a log read and an upload): three, 2–4 s then 4–8 s
/// apart (the crate's one jittered policy), within two minutes.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    initial_delay: Duration::from_secs(4),
    max_delay: Duration::from_secs(8),
    max_elapsed: Duration::from_secs(120),
};
/// The longest log archived; a longer one keeps its end (where the error usually is).
const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

/// Where logs go, and how to reach it.
pub struct LogArchive {
    bucket: String,
    prefix: String,
    oss: ClientConfig,
    credentials: Arc<CredentialsProvider>,
}

impl std::fmt::Debug for LogArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogArchive").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Splits `oss://bucket[/prefix]`.
pub fn parse_location(uri: &str, flag: &'static str) -> Result<(String, String), MeterError> {
    let bad = |detail: &str| MeterError::Usage { flag, detail: format!("{uri:?}: {detail}") };
    let rest = uri.strip_prefix("oss://").ok_or_else(|| bad("expected oss://BUCKET[/PREFIX]"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if !sparkoss_aliyun::oss_uri::is_valid_bucket_name(bucket) {
        return Err(bad("not a valid bucket name (3-63 lowercase letters, digits and hyphens)"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// The OSS endpoint and credentials chain from the environment (the launcher's rules).
fn oss_from_env() -> Result<(ClientConfig, Arc<CredentialsProvider>), String> {
    let env = |k: &str| std::env::var(k).ok();
    let oss = sparkoss_launcher::fetch::oss_config(&env).map_err(|e| e.to_string())?;
    let allowed = ChainSources { session_name: "sparkoss-meter", ..ChainSources::WORKLOAD };
    let credentials =
        CredentialsProvider::new(CredentialSource::chain_from_env(&env, &allowed), sparkoss_launcher::fetch::credential_endpoints(&env));
    Ok((oss, credentials))
}

/// An OSS client with credentials resolved now (temporary ones are refreshed by the chain).
async fn oss_client(cfg: &ClientConfig, credentials: &CredentialsProvider) -> Result<oss::Client, String> {
    let creds = credentials.get().await.map_err(|e| format!("credentials: {e}"))?;
    oss::Client::new(cfg.clone(), creds).map_err(|e| e.to_string())
}

impl LogArchive {
    /// The archive at `uri` (`oss://bucket/prefix`), OSS reached as the environment says.
    pub fn from_env(uri: &str) -> Result<LogArchive, MeterError> {
        let (bucket, prefix) = parse_location(uri, "--log-archive")?;
        let (oss, credentials) = oss_from_env().map_err(|detail| MeterError::Usage { flag: "--log-archive", detail })?;
        Ok(LogArchive { bucket, prefix, oss, credentials })
    }

    /// The object key of a driver's log.
    pub fn key(&self, namespace: &str, job: &str, pod: &str) -> String {
        let tail = format!("{namespace}/{job}/{pod}.log");
        if self.prefix.is_empty() {
            tail
        } else {
            format!("{}/{tail}", self.prefix)
        }
    }

    /// Archives an ended driver's log once (a log already archived is left alone). Failures are
    /// logged, not returned: the meter goes on metering.
    pub async fn archive_driver(&self, db: &Db, kube: &Client, uid: &str, namespace: &str, job: &str, pod: &str) {
        match db.is_archived(uid).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => return tracing::error!("{e}"),
        }
        let key = self.key(namespace, job, pod);
        let url = format!("oss://{}/{key}", self.bucket);
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        let last = loop {
            attempt += 1;
            match self.upload(kube, namespace, pod, &key).await {
                Ok(bytes) => {
                    let a = Archive {
                        namespace: namespace.into(),
                        job: job.into(),
                        pod: pod.into(),
                        url: url.clone(),
                        bytes,
                        archived_ms: crate::collect::now_ms(),
                    };
                    match db.add_archive(uid, &a).await {
                        Ok(()) => tracing::info!("archived the log of driver {namespace}/{pod} to {url} ({bytes} bytes)"),
                        Err(e) => tracing::error!("{e}"),
                    }
                    return;
                }
                Err(e) => match RETRY.next_delay(attempt, started) {
                    Some(d) => tokio::time::sleep(d).await,
                    None => break e,
                },
            }
        };
        tracing::error!("log archive {url}: driver {namespace}/{pod}: {last} (gave up after {attempt} attempts)");
    }

    async fn upload(&self, kube: &Client, namespace: &str, pod: &str, key: &str) -> Result<i64, String> {
        let api: Api<Pod> = Api::namespaced(kube.clone(), namespace);
        let log = api.logs(pod, &LogParams::default()).await.map_err(|e| format!("reading the log: {e}"))?;
        let bytes = log.as_bytes();
        let bytes = &bytes[bytes.len().saturating_sub(MAX_LOG_BYTES)..];
        let client = oss_client(&self.oss, &self.credentials).await?;
        client.put_object(&self.bucket, key, bytes, Some("text/plain; charset=utf-8")).await.map_err(|e| format!("writing to OSS: {e}"))?;
        Ok(bytes.len() as i64)
    }
}

/// `sparkoss-meter logs`: the newest archived driver log of `job` (in `namespace` when given).
pub async fn print_log(db: &Db, job: &str, namespace: Option<&str>, out: &mut dyn std::io::Write) -> Result<Archive, MeterError> {
    let archives = db.archives(job, namespace).await?;
    let Some(newest) = archives.first() else {
        let scope = namespace.map(|n| format!(" in namespace {n}")).unwrap_or_default();
        return Err(MeterError::NotFound(format!(
            "no archived driver log for job {job:?}{scope} (was the meter run with --log-archive when it ended?)"
        )));
    };
    if namespace.is_none() {
        let mut namespaces: Vec<&str> = archives.iter().map(|a| a.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        if namespaces.len() > 1 {
            return Err(MeterError::Usage {
                flag: "--namespace",
                detail: format!("job {job:?} ran in several namespaces ({}): name one", namespaces.join(", ")),
            });
        }
    }
    let (bucket, key) = parse_location(&newest.url, "--log-archive")?;
    let archive_err = |detail: String| MeterError::Archive { uri: newest.url.clone(), detail };
    let (cfg, credentials) = oss_from_env().map_err(archive_err)?;
    let client = oss_client(&cfg, &credentials).await.map_err(archive_err)?;
    let body = client.get_object_bytes(&bucket, &key).await.map_err(|e| archive_err(e.to_string()))?;
    out.write_all(&body).map_err(MeterError::io("writing the log"))?;
    Ok(newest.clone())
}
