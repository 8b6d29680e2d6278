//! Fetching job files: `oss://` (signed, resumed, CRC-64 checked), `https://` (streamed,
//! resumed with `Range` when the server allows) and `local:///` (already in the image).
//!
//! OSS settings come from the environment: `SPARKOSS_OSS_ENDPOINT` (a URL or host), else the
//! region's endpoint from `ALIBABA_CLOUD_REGION` (internal when running in Kubernetes, since
//! drivers run inside Alibaba Cloud, public otherwise); `SPARKOSS_OSS_SIGNATURE=v1` for old
//! endpoints (default V4); `SPARKOSS_DOWNLOAD_PARALLELISM`, the most parallel streams (default 4,
//! `1` for one stream); `SPARKOSS_DOWNLOAD_SPLIT` = `auto` (default: one stream that is joined by
//! the others when its first part proves slow; parallel from the start on a loopback emulator),
//! `if-slow` (what `auto` does for a remote endpoint, on any endpoint: one stream, joined by the
//! others when its first part arrived slower than 256 MiB/s; lets a benchmark on loopback measure
//! the path users get), `always` or `never` (see `sparkoss_aliyun::oss::Split`).
//!
//! Credentials ([`credentials_provider`]) come from `sparkoss_aliyun::credentials` restricted to
//! what a workload may use: the `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_ACCESS_KEY_SECRET` /
//! `_SECURITY_TOKEN` environment, RRSA (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//! `ALIBABA_CLOUD_OIDC_TOKEN_FILE` → STS `AssumeRoleWithOIDC` at `ALIBABA_CLOUD_STS_ENDPOINT`, else
//! the region's VPC STS endpoint), then the ECS metadata service (`SPARKOSS_METADATA_ENDPOINT`,
//! default `http://100.100.100.200`; off with `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`). Never
//! from arguments, never printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sparkoss_aliyun::credentials::{ChainSources, CredentialsProvider, Endpoints, Source as CredentialSource};
use sparkoss_aliyun::oss::{Client, ClientConfig, DownloadOptions, Endpoint, SignatureVersion, Split, DEFAULT_SPLIT_BELOW};
use sparkoss_aliyun::oss_uri::OssUri;
use sparkoss_aliyun::retry::RetryPolicy;

use crate::job::Input;
use crate::LauncherError;

/// Tries of an `https://` download (the crate's one policy): four, backing off from 500 ms to
/// 2 s. Each try resumes where the last stopped, so a long transfer that was cut is still
/// worth resuming: the time bound is wide and the count does the bounding.
const HTTPS_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(2),
    max_elapsed: Duration::from_secs(30 * 60),
};

/// The default ECS metadata service.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";

/// Where a job file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `oss://bucket/key`.
    Oss(OssUri),
    /// An `https://` (or `http://`) URL.
    Https(String),
    /// `local:///path`: a file already in the image.
    Local(PathBuf),
}

/// The URI without query or fragment (a presigned URL's signature stays out of messages).
pub fn redact(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

impl Source {
    /// Parses a job file URI.
    pub fn parse(uri: &str) -> Result<Source, LauncherError> {
        if uri.starts_with("oss://") {
            return OssUri::parse(uri).map(Source::Oss).map_err(|e| LauncherError::Usage(e.to_string()));
        }
        if uri.starts_with("https://") || uri.starts_with("http://") {
            return Ok(Source::Https(uri.to_owned()));
        }
        if let Some(path) = uri.strip_prefix("local://") {
            if path.starts_with('/') && path.len() > 1 {
                return Ok(Source::Local(PathBuf::from(path)));
            }
            return Err(LauncherError::Usage(format!("{uri:?}: a local URI is local:///absolute/path")));
        }
        Err(LauncherError::Usage(format!("{:?}: only oss://, https:// and local:/// URIs are supported", redact(uri))))
    }

    /// The base name a download of this source is stored under.
    pub fn file_name(&self) -> String {
        let raw = match self {
            Source::Oss(u) => u.key().to_owned(),
            Source::Https(u) => redact(u).to_owned(),
            Source::Local(p) => p.display().to_string(),
        };
        let name = raw.rsplit('/').next().unwrap_or("").to_owned();
        if name.is_empty() || name == "." || name == ".." {
            "download".to_owned()
        } else {
            name
        }
    }
}

/// Where each input will be on disk: `local:///` jars where they are, everything else in
/// `work_dir` under its base name. Two inputs with the same base name are a usage error naming
/// both flags: Spark serves jars and files by name, and the application opens files by name.
pub fn destinations(inputs: &[Input<'_>], work_dir: &Path) -> Result<Vec<PathBuf>, LauncherError> {
    let mut taken: HashMap<String, &Input<'_>> = HashMap::new();
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let source = Source::parse(input.uri).map_err(|e| LauncherError::Usage(format!("{} {e}", input.flag)))?;
        let name = source.file_name();
        if let Some(first) = taken.get(&name) {
            return Err(LauncherError::Usage(format!(
                "{} {:?}: its file name {name:?} is already used by {} {:?}: Spark and the application find them by name, so names must differ",
                input.flag,
                redact(input.uri),
                first.flag,
                redact(first.uri)
            )));
        }
        taken.insert(name.clone(), input);
        out.push(match source {
            Source::Local(p) if !input.in_work_dir => p,
            _ => work_dir.join(name),
        });
    }
    Ok(out)
}

/// The OSS client configuration from the environment (see the module docs).
pub fn oss_config(env: &dyn Fn(&str) -> Option<String>) -> Result<ClientConfig, LauncherError> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let region = get("ALIBABA_CLOUD_REGION");
    let endpoint = match get("SPARKOSS_OSS_ENDPOINT") {
        Some(e) => Endpoint::parse(&e).map_err(|e| LauncherError::Usage(e.to_string()))?,
        None => match &region {
            Some(r) if get("KUBERNETES_SERVICE_HOST").is_some() => Endpoint::internal(r),
            Some(r) => Endpoint::public(r),
            None => return Err(LauncherError::Usage("set SPARKOSS_OSS_ENDPOINT or ALIBABA_CLOUD_REGION to reach OSS".into())),
        },
    };
    // V4 signs the region: take it from the environment, else from an `oss-<region>[-internal]` host.
    let region = match region {
        Some(r) => r,
        None => endpoint
            .host()
            .split('.')
            .find_map(|label| label.strip_prefix("oss-"))
            .map(|r| r.trim_end_matches("-internal").to_owned())
            .ok_or_else(|| LauncherError::Usage(format!("set ALIBABA_CLOUD_REGION: it cannot be derived from the endpoint {endpoint}")))?,
    };
    let mut cfg = ClientConfig::new(endpoint, region);
    cfg.signature = match get("SPARKOSS_OSS_SIGNATURE").as_deref() {
        None | Some("v4") | Some("V4") => SignatureVersion::V4,
        Some("v1") | Some("V1") => SignatureVersion::V1,
        Some(other) => return Err(LauncherError::Usage(format!("SPARKOSS_OSS_SIGNATURE {other:?} is not v1 or v4"))),
    };
    Ok(cfg)
}

/// Download settings from the environment (see the module docs).
pub fn download_options(env: &dyn Fn(&str) -> Option<String>) -> Result<DownloadOptions, LauncherError> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut o = DownloadOptions::default();
    if let Some(v) = get("SPARKOSS_DOWNLOAD_PARALLELISM") {
        let p = v
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| LauncherError::Usage(format!("SPARKOSS_DOWNLOAD_PARALLELISM {v:?} is not a number from 1 to 32")))?;
        o.parallelism = p;
    }
    match get("SPARKOSS_DOWNLOAD_SPLIT").as_deref() {
        None | Some("auto") => {}
        Some("if-slow") => o.split = Split::IfSlowerThan(DEFAULT_SPLIT_BELOW),
        Some("always") => o.split = Split::Always,
        Some("never") => o.split = Split::Never,
        Some(other) => {
            return Err(LauncherError::Usage(format!("SPARKOSS_DOWNLOAD_SPLIT {other:?} is not auto, if-slow, always or never")))
        }
    }
    Ok(o)
}

/// Where the credentials chain fetches temporary credentials (see the module docs).
pub fn credential_endpoints(env: &dyn Fn(&str) -> Option<String>) -> Endpoints {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let sts = match get("ALIBABA_CLOUD_STS_ENDPOINT") {
        Some(e) if e.contains("://") => e,
        Some(e) => format!("https://{e}"),
        // Drivers run inside the region's VPC: its STS endpoint needs no internet access.
        None => match get("ALIBABA_CLOUD_REGION") {
            Some(r) => format!("https://sts-vpc.{r}.aliyuncs.com"),
            None => Endpoints::default().sts,
        },
    };
    let metadata = get("SPARKOSS_METADATA_ENDPOINT").unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_owned());
    Endpoints { metadata, sts }
}

/// The launcher's credentials chain (see the module docs).
pub fn credentials_provider(env: &dyn Fn(&str) -> Option<String>) -> Arc<CredentialsProvider> {
    let allowed = ChainSources { session_name: "sparkoss-launcher", ..ChainSources::WORKLOAD };
    CredentialsProvider::new(CredentialSource::chain_from_env(env, &allowed), credential_endpoints(env))
}

/// What a fetch did, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes on disk.
    pub size: u64,
    /// Whether a checksum from the source was verified.
    pub verified: bool,
    /// How many times a cut download was resumed.
    pub resumes: u32,
    /// How many streams fetched it (more than one when it was split into parallel ranges).
    pub streams: usize,
}

/// Fetches `uri` to `dest`. `oss` is the client for `oss://` URIs (made by the caller, which
/// resolves credentials only when some URI needs them).
pub async fn fetch(uri: &str, dest: &Path, oss: Option<&Client>, opts: &DownloadOptions) -> Result<Fetched, LauncherError> {
    match Source::parse(uri)? {
        Source::Oss(u) => {
            let client = oss.ok_or_else(|| LauncherError::Usage("internal: no OSS client for an oss:// URI".into()))?;
            let r = client
                .download_to_file(u.bucket(), u.key(), dest, opts)
                .await
                .map_err(|source| LauncherError::Oss { uri: uri.to_owned(), source: Box::new(source) })?;
            Ok(Fetched { size: r.size, verified: r.crc_verified, resumes: r.resumes, streams: r.streams })
        }
        Source::Local(p) => {
            if p != dest {
                std::fs::copy(&p, dest).map_err(|source| LauncherError::Io { path: p.clone(), what: "copying", source })?;
            }
            let size =
                std::fs::metadata(dest).map_err(|source| LauncherError::Io { path: dest.to_owned(), what: "reading", source })?.len();
            Ok(Fetched { size, verified: false, resumes: 0, streams: 0 })
        }
        Source::Https(url) => https(&url, dest).await,
    }
}

async fn https(url: &str, dest: &Path) -> Result<Fetched, LauncherError> {
    use std::io::Write;
    let shown = redact(url).to_owned();
    let fail = |detail: String| LauncherError::Http { uri: shown.clone(), detail };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let tmp = dest.with_file_name(format!("{}.sparkoss-partial", dest.file_name().and_then(|n| n.to_str()).unwrap_or("download")));
    let tmp_path = tmp.clone();
    let io = move |what: &'static str| {
        let path = tmp_path.clone();
        move |source| LauncherError::Io { path, what, source }
    };
    let mut file = std::fs::File::create(&tmp).map_err(io("creating"))?;
    let mut written = 0u64;
    let mut resumes = 0u32;
    let mut last = String::new();
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        if attempt > 0 {
            match HTTPS_RETRY.next_delay(attempt, started) {
                Some(d) => tokio::time::sleep(d).await,
                None => break,
            }
        }
        attempt += 1;
        let mut rb = http.get(url);
        if written > 0 {
            rb = rb.header("range", format!("bytes={written}-"));
        }
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                last = e.without_url().to_string();
                continue;
            }
        };
        let status = resp.status().as_u16();
        if status >= 500 || status == 429 {
            last = format!("HTTP {status}");
            continue;
        }
        if !(status == 200 || (status == 206 && written > 0)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(format!("HTTP {status}")));
        }
        if status == 200 && written > 0 {
            // The server ignored the range: start over.
            file = std::fs::File::create(&tmp).map_err(io("creating"))?;
            written = 0;
        }
        let total = resp.content_length().map(|l| l + written);
        let cut = loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    file.write_all(&c).map_err(io("writing"))?;
                    written += c.len() as u64;
                }
                Ok(None) => break None,
                Err(e) => break Some(e.without_url().to_string()),
            }
        };
        match (cut, total) {
            (None, Some(t)) if t != written => last = format!("the body ended at byte {written} of {t}"),
            (None, _) => {
                std::fs::rename(&tmp, dest).map_err(|source| LauncherError::Io { path: dest.to_owned(), what: "renaming into", source })?;
                return Ok(Fetched { size: written, verified: false, resumes, streams: 1 });
            }
            (Some(e), _) => last = e,
        }
        resumes += 1;
    }
    let _ = std::fs::remove_file(&tmp);
    Err(fail(format!("gave up after {attempt} attempts: {last}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input<'a>(flag: &'static str, uri: &'a str) -> Input<'a> {
        Input { flag, uri, in_work_dir: flag == "--file" }
    }

    #[test]
    fn sources_and_destinations() {
        assert!(matches!(Source::parse("oss://b-1/a/x.jar"), Ok(Source::Oss(_))));
        assert!(Source::parse("oss://B/x").unwrap_err().to_string().contains("bucket name"));
        assert!(Source::parse("local://rel.jar").is_err());
        assert!(Source::parse("s3://x/y").unwrap_err().to_string().contains("only oss://"));
        let d = destinations(
            &[
                input("--main-application", "oss://bkt/a/app.jar"),
                input("--jar", "https://h/x/dep.jar?sig=secret"),
                input("--jar", "local:///opt/lib.jar"),
                input("--file", "local:///opt/conf/app.conf"),
                input("--file", "oss://bkt/data/cities.csv"),
            ],
            Path::new("/w"),
        )
        .unwrap();
        let expected = ["/w/app.jar", "/w/dep.jar", "/opt/lib.jar", "/w/app.conf", "/w/cities.csv"];
        assert_eq!(d, expected.map(PathBuf::from));
        assert_eq!(redact("https://h/x?Signature=abc"), "https://h/x");
    }

    #[test]
    fn clashing_names_are_a_usage_error_naming_the_flags() {
        let e = destinations(
            &[input("--main-application", "oss://bkt/app.jar"), input("--jar", "https://h/x/app.jar?sig=secret")],
            Path::new("/w"),
        )
        .unwrap_err();
        assert!(matches!(e, LauncherError::Usage(_)));
        let text = e.to_string();
        assert!(
            text.starts_with("--jar \"https://h/x/app.jar\": its file name \"app.jar\" is already used by --main-application"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        let e = destinations(
            &[input("--main-application", "oss://bkt/m.jar"), input("--jar", "local:///opt/a.csv"), input("--file", "oss://bkt/d/a.csv")],
            Path::new("/w"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--file \"oss://bkt/d/a.csv\": its file name \"a.csv\" is already used by --jar"), "{e}");
        let e =
            destinations(&[input("--main-application", "oss://bkt/m.jar"), input("--file", "s3://bkt/x")], Path::new("/w")).unwrap_err();
        assert!(e.to_string().starts_with("--file \"s3://bkt/x\": only oss://"), "{e}");
    }

    #[test]
    fn download_settings_and_credential_endpoints() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(download_options(&env(&[])).unwrap(), DownloadOptions::default());
        let o = download_options(&env(&[("SPARKOSS_DOWNLOAD_PARALLELISM", "8"), ("SPARKOSS_DOWNLOAD_SPLIT", "always")])).unwrap();
        assert_eq!((o.parallelism, o.split), (8, Split::Always));
        assert!(download_options(&env(&[("SPARKOSS_DOWNLOAD_PARALLELISM", "0")])).unwrap_err().to_string().contains("PARALLELISM"));
        let o = download_options(&env(&[("SPARKOSS_DOWNLOAD_SPLIT", "if-slow")])).unwrap();
        assert_eq!(o.split, Split::IfSlowerThan(sparkoss_aliyun::oss::DEFAULT_SPLIT_BELOW));
        assert!(download_options(&env(&[("SPARKOSS_DOWNLOAD_SPLIT", "sometimes")])).unwrap_err().to_string().contains("SPLIT"));

        let e = credential_endpoints(&env(&[("ALIBABA_CLOUD_REGION", "cn-beijing")]));
        assert_eq!((e.sts.as_str(), e.metadata.as_str()), ("https://sts-vpc.cn-beijing.aliyuncs.com", DEFAULT_METADATA_ENDPOINT));
        let e = credential_endpoints(&env(&[
            ("ALIBABA_CLOUD_STS_ENDPOINT", "sts.example"),
            ("SPARKOSS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
        ]));
        assert_eq!((e.sts.as_str(), e.metadata.as_str()), ("https://sts.example", "http://127.0.0.1:9"));
        assert_eq!(credential_endpoints(&env(&[])).sts, "https://sts.aliyuncs.com");
    }

    #[test]
    fn endpoint_from_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let c = oss_config(&env(&[("ALIBABA_CLOUD_REGION", "cn-beijing"), ("KUBERNETES_SERVICE_HOST", "10.0.0.1")])).unwrap();
        assert_eq!(c.endpoint.to_string(), "https://oss-cn-beijing-internal.aliyuncs.com");
        let c = oss_config(&env(&[("SPARKOSS_OSS_ENDPOINT", "oss-cn-hangzhou.aliyuncs.com")])).unwrap();
        assert_eq!(c.region, "cn-hangzhou");
        assert!(oss_config(&env(&[("SPARKOSS_OSS_ENDPOINT", "http://127.0.0.1:1")])).is_err());
        assert!(oss_config(&env(&[])).is_err());
        let c = oss_config(&env(&[
            ("SPARKOSS_OSS_ENDPOINT", "http://127.0.0.1:1"),
            ("ALIBABA_CLOUD_REGION", "cn-local"),
            ("SPARKOSS_OSS_SIGNATURE", "v1"),
        ]))
        .unwrap();
        assert_eq!(c.signature, SignatureVersion::V1);
    }
}
