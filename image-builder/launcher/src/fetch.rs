//! Fetching job files: `oss://` (signed, resumed, CRC-64 checked), `https://` (streamed,
//! resumed with `Range` when the server allows) and `local:///` (already in the image).
//!
//! OSS settings come from the environment: `SPARKOSS_OSS_ENDPOINT` (a URL or host), else the
//! region's endpoint from `ALIBABA_CLOUD_REGION` (internal when running in Kubernetes, since
//! drivers run inside Alibaba Cloud, public otherwise); `SPARKOSS_OSS_SIGNATURE=v1` for old
//! endpoints (default V4); `SPARKOSS_DOWNLOAD_PARALLELISM` (default 4).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sparkoss_aliyun::oss::{Client, ClientConfig, DownloadOptions, Endpoint, SignatureVersion};
use sparkoss_aliyun::oss_uri::OssUri;

use crate::LauncherError;

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

    fn file_name(&self) -> String {
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

/// Where each of `uris` will be on disk: `local:///` files where they are, downloads in
/// `work_dir` under their own names (prefixed with their position when two names collide).
pub fn destinations(uris: &[&str], work_dir: &Path) -> Result<Vec<PathBuf>, LauncherError> {
    let sources: Vec<Source> = uris.iter().map(|u| Source::parse(u)).collect::<Result<_, _>>()?;
    let mut used = std::collections::HashSet::new();
    Ok(sources
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Source::Local(p) => p.clone(),
            _ => {
                let mut name = s.file_name();
                if !used.insert(name.clone()) {
                    name = format!("{i}-{name}");
                    used.insert(name.clone());
                }
                work_dir.join(name)
            }
        })
        .collect())
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

/// Download settings from the environment.
pub fn download_options(env: &dyn Fn(&str) -> Option<String>) -> DownloadOptions {
    let mut o = DownloadOptions::default();
    if let Some(p) = env("SPARKOSS_DOWNLOAD_PARALLELISM").and_then(|v| v.parse::<usize>().ok()) {
        o.parallelism = p.clamp(1, 32);
    }
    o
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
            Ok(Fetched { size: r.size, verified: r.crc_verified, resumes: r.resumes })
        }
        Source::Local(p) => {
            if p != dest {
                std::fs::copy(&p, dest).map_err(|source| LauncherError::Io { path: p.clone(), what: "copying", source })?;
            }
            let size =
                std::fs::metadata(dest).map_err(|source| LauncherError::Io { path: dest.to_owned(), what: "reading", source })?.len();
            Ok(Fetched { size, verified: false, resumes: 0 })
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
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
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
                return Ok(Fetched { size: written, verified: false, resumes });
            }
            (Some(e), _) => last = e,
        }
        resumes += 1;
    }
    let _ = std::fs::remove_file(&tmp);
    Err(fail(format!("gave up after 4 attempts: {last}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_destinations() {
        assert!(matches!(Source::parse("oss://b-1/a/x.jar"), Ok(Source::Oss(_))));
        assert!(Source::parse("oss://B/x").unwrap_err().to_string().contains("bucket name"));
        assert!(Source::parse("local://rel.jar").is_err());
        assert!(Source::parse("s3://x/y").unwrap_err().to_string().contains("only oss://"));
        let d = destinations(&["oss://bkt/a/app.jar", "https://h/x/app.jar?sig=secret", "local:///opt/lib.jar"], Path::new("/w")).unwrap();
        assert_eq!(d, [PathBuf::from("/w/app.jar"), PathBuf::from("/w/1-app.jar"), PathBuf::from("/opt/lib.jar")]);
        assert_eq!(redact("https://h/x?Signature=abc"), "https://h/x");
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
