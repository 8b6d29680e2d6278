//! The Alibaba Cloud credentials chain, the first source that yields wins:
//! static keys (provider arguments) → `ALIBABA_CLOUD_*` / `ALICLOUD_*` environment →
//! `~/.aliyun/config.json` profile (`AK`, `StsToken`, `RamRoleArn`, `EcsRamRole`, `OIDC`) →
//! RRSA (`AssumeRoleWithOIDC`) → the ECS RAM role from the instance metadata service.
//!
//! [`Source::chain_from_env`] builds that chain from the environment restricted to the sources
//! a caller allows ([`ChainSources`]): the provider takes them all, the in-image launcher only
//! what a workload may use ([`ChainSources::WORKLOAD`]: `ALIBABA_CLOUD_*` keys, RRSA, the ECS
//! RAM role). `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true` leaves the metadata service out, as
//! in the official SDKs.
//!
//! Temporary credentials are cached and refreshed when 180 s or less remain. The metadata and
//! STS endpoints are parameters ([`Endpoints`]) so tests serve them on 127.0.0.1.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::signing::Credentials;

pub mod sts;

/// Refresh temporary credentials when this little of their lifetime remains.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(180);

/// Why no credentials could be obtained. Messages never include secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No source in the chain yielded credentials.
    #[error("no Alibaba Cloud credentials found: {tried}")]
    NotFound {
        /// What was tried, in order, and why each was skipped.
        tried: String,
    },
    /// The CLI configuration file is unreadable or malformed.
    #[error("CLI configuration {path}: {detail}")]
    Profile {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A call to STS or the metadata service failed.
    #[error("{service} at {endpoint}: {detail}")]
    Remote {
        /// `STS AssumeRole`, `ECS metadata`, ...
        service: &'static str,
        /// The endpoint called.
        endpoint: String,
        /// What went wrong (HTTP status and the service's error code when there is one).
        detail: String,
    },
    /// The OIDC token file cannot be read.
    #[error("OIDC token file {path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Where temporary credentials are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// ECS instance metadata service base URL (default `http://100.100.100.200`).
    pub metadata: String,
    /// STS base URL (default `https://sts.aliyuncs.com`).
    pub sts: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints { metadata: "http://100.100.100.200".into(), sts: "https://sts.aliyuncs.com".into() }
    }
}

/// RRSA parameters: an OIDC token exchanged for STS credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRole {
    /// The RAM role to assume.
    pub role_arn: String,
    /// The cluster's OIDC provider.
    pub oidc_provider_arn: String,
    /// File holding the projected service account token (re-read at every refresh).
    pub oidc_token_file: String,
    /// Session name.
    pub session_name: String,
    /// Requested lifetime in seconds.
    pub duration_seconds: i64,
}

/// One place credentials can come from.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// Fixed keys (provider arguments).
    Static(Credentials),
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `_SECURITY_TOKEN`, then the `ALICLOUD_*` names,
    /// read from the snapshot given to [`Source::env`].
    Environment(Option<Credentials>),
    /// A profile of the Alibaba Cloud CLI configuration.
    Profile {
        /// Profile name (`None`: the file's `current`).
        name: Option<String>,
        /// The file (`None`: `~/.aliyun/config.json`).
        file: Option<PathBuf>,
    },
    /// RRSA.
    Oidc(OidcRole),
    /// The ECS RAM role (`None`: ask the metadata service for the role name).
    EcsRamRole(Option<String>),
    /// Each source in order; the first that yields wins.
    Chain(Vec<Source>),
    /// A source left out on purpose; yields nothing and says why when nothing else yields.
    Skipped(String),
}

/// Which sources [`Source::chain_from_env`] may put in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSources {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_ACCESS_KEY_SECRET` / `_SECURITY_TOKEN`.
    pub environment: bool,
    /// Also the older `ALICLOUD_ACCESS_KEY` / `ALICLOUD_SECRET_KEY` / `ALICLOUD_SECURITY_TOKEN`.
    pub legacy_names: bool,
    /// The Alibaba Cloud CLI profile (`ALIBABA_CLOUD_PROFILE`, `~/.aliyun/config.json`).
    pub cli_profile: bool,
    /// RRSA: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
    /// `ALIBABA_CLOUD_OIDC_TOKEN_FILE` → STS `AssumeRoleWithOIDC`.
    pub rrsa: bool,
    /// The ECS RAM role from the metadata service.
    pub ecs_ram_role: bool,
    /// The RRSA session name when `ALIBABA_CLOUD_ROLE_SESSION_NAME` is not set (it shows in
    /// ActionTrail, so each program names itself).
    pub session_name: &'static str,
}

impl ChainSources {
    /// Every source: what a user's machine or CI may hold.
    pub const ALL: ChainSources =
        ChainSources { environment: true, legacy_names: true, cli_profile: true, rrsa: true, ecs_ram_role: true, session_name: "sparkoss" };

    /// What a workload in a pod may use: the `ALIBABA_CLOUD_*` keys, RRSA and the node's RAM
    /// role; no CLI profile, no legacy names.
    pub const WORKLOAD: ChainSources = ChainSources {
        environment: true,
        legacy_names: false,
        cli_profile: false,
        rrsa: true,
        ecs_ram_role: true,
        session_name: "sparkoss-workload",
    };
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Static(c) => f.debug_tuple("Static").field(c).finish(),
            Source::Environment(c) => f.debug_tuple("Environment").field(c).finish(),
            Source::Profile { name, file } => f.debug_struct("Profile").field("name", name).field("file", file).finish(),
            Source::Oidc(o) => f.debug_tuple("Oidc").field(o).finish(),
            Source::EcsRamRole(r) => f.debug_tuple("EcsRamRole").field(r).finish(),
            Source::Chain(c) => f.debug_tuple("Chain").field(c).finish(),
            Source::Skipped(why) => f.debug_tuple("Skipped").field(why).finish(),
        }
    }
}

impl Source {
    /// The environment source from an environment reader (injected so tests need not touch
    /// the process environment).
    pub fn env(env: &dyn Fn(&str) -> Option<String>) -> Source {
        Self::env_names(env, true)
    }

    /// [`Source::env`], with or without the `ALICLOUD_*` names.
    fn env_names(env: &dyn Fn(&str) -> Option<String>, legacy: bool) -> Source {
        // Each list is the current name, then the legacy one.
        let first = |names: &[&str]| names.iter().take(if legacy { 2 } else { 1 }).find_map(|n| env(n).filter(|v| !v.is_empty()));
        let ak = first(&["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"]);
        let sk = first(&["ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"]);
        let token = first(&["ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN"]);
        Source::Environment(match (ak, sk) {
            (Some(ak), Some(sk)) => Some(Credentials { access_key_id: ak, access_key_secret: sk, security_token: token }),
            _ => None,
        })
    }

    /// The default chain after explicit arguments: environment, CLI profile, RRSA from the
    /// environment, then the ECS RAM role (its name from `ALIBABA_CLOUD_ECS_METADATA` or
    /// `ALICLOUD_ECS_ROLE_NAME` when set).
    pub fn default_chain(env: &dyn Fn(&str) -> Option<String>) -> Source {
        Self::chain_from_env(env, &ChainSources::ALL)
    }

    /// The chain of the sources `allowed` permits, in the default order, configured from `env`.
    pub fn chain_from_env(env: &dyn Fn(&str) -> Option<String>, allowed: &ChainSources) -> Source {
        let get = |n: &str| env(n).filter(|v| !v.is_empty());
        let legacy = |n: &str| if allowed.legacy_names { get(n) } else { None };
        let mut chain = Vec::new();
        if allowed.environment {
            chain.push(Self::env_names(env, allowed.legacy_names));
        }
        if allowed.cli_profile {
            chain.push(Source::Profile {
                name: get("ALIBABA_CLOUD_PROFILE").or_else(|| legacy("ALICLOUD_PROFILE")),
                file: get("ALIBABA_CLOUD_CREDENTIALS_FILE").or_else(|| legacy("ALICLOUD_SHARED_CREDENTIALS_FILE")).map(PathBuf::from),
            });
        }
        if allowed.rrsa {
            match (get("ALIBABA_CLOUD_ROLE_ARN"), get("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"), get("ALIBABA_CLOUD_OIDC_TOKEN_FILE")) {
                (Some(role_arn), Some(oidc_provider_arn), Some(oidc_token_file)) => chain.push(Source::Oidc(OidcRole {
                    role_arn,
                    oidc_provider_arn,
                    oidc_token_file,
                    session_name: get("ALIBABA_CLOUD_ROLE_SESSION_NAME").unwrap_or_else(|| allowed.session_name.into()),
                    duration_seconds: 3600,
                })),
                (None, None, None) => {}
                // Half an RRSA setup is a mistake worth naming when nothing else works.
                _ => chain.push(Source::Skipped(
                    "RRSA: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE must all be set"
                        .into(),
                )),
            }
        }
        if allowed.ecs_ram_role {
            if get("ALIBABA_CLOUD_ECS_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                chain.push(Source::Skipped("ECS RAM role: disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED".into()));
            } else {
                chain.push(Source::EcsRamRole(get("ALIBABA_CLOUD_ECS_METADATA").or_else(|| legacy("ALICLOUD_ECS_ROLE_NAME"))));
            }
        }
        Source::Chain(chain)
    }
}

/// Credentials with their expiry (`None` for long-lived keys).
#[derive(Debug, Clone)]
struct Cached {
    creds: Credentials,
    expires: Option<OffsetDateTime>,
}

/// Resolves a [`Source`] into credentials, caching temporary ones until close to expiry.
pub struct CredentialsProvider {
    source: Source,
    endpoints: Endpoints,
    http: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider").field("source", &self.source).field("endpoints", &self.endpoints).finish()
    }
}

/// A step's outcome: credentials, or "not configured here" with the reason (next source).
type Step = Result<Option<Cached>, CredentialsError>;

impl CredentialsProvider {
    /// A provider for `source`, fetching temporary credentials from `endpoints`.
    pub fn new(source: Source, endpoints: Endpoints) -> Arc<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Arc::new(CredentialsProvider { source, endpoints, http, cache: Mutex::new(None) })
    }

    /// Fixed credentials.
    pub fn fixed(creds: Credentials) -> Arc<Self> {
        Self::new(Source::Static(creds), Endpoints::default())
    }

    /// Current credentials: cached while more than [`REFRESH_MARGIN`] of their life remains.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            let fresh = c.expires.is_none_or(|e| e - OffsetDateTime::now_utc() > REFRESH_MARGIN);
            if fresh {
                return Ok(c.creds.clone());
            }
        }
        let mut tried = Vec::new();
        let got = self.resolve(&self.source, &mut tried).await?;
        match got {
            Some(c) => {
                let creds = c.creds.clone();
                *cache = Some(c);
                Ok(creds)
            }
            None => Err(CredentialsError::NotFound { tried: tried.join("; ") }),
        }
    }

    fn resolve<'a>(
        &'a self,
        source: &'a Source,
        tried: &'a mut Vec<String>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Step> + Send + 'a>> {
        Box::pin(async move {
            match source {
                Source::Static(c) => Ok(Some(Cached { creds: c.clone(), expires: None })),
                Source::Environment(Some(c)) => Ok(Some(Cached { creds: c.clone(), expires: None })),
                Source::Environment(None) => {
                    tried.push("environment: ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET not set".into());
                    Ok(None)
                }
                Source::Profile { name, file } => self.profile(name.as_deref(), file.clone(), tried).await,
                Source::Oidc(o) => self.assume_role_with_oidc(o).await.map(Some),
                Source::EcsRamRole(role) => match self.ecs_ram_role(role.as_deref()).await {
                    Ok(c) => Ok(Some(c)),
                    // Off ECS the metadata service is simply absent: the chain ends, explained.
                    Err(e) if role.is_none() => {
                        tried.push(format!("ECS RAM role: {e}"));
                        Ok(None)
                    }
                    Err(e) => Err(e),
                },
                Source::Skipped(why) => {
                    tried.push(why.clone());
                    Ok(None)
                }
                Source::Chain(list) => {
                    for s in list {
                        if let Some(c) = self.resolve(s, tried).await? {
                            return Ok(Some(c));
                        }
                    }
                    Ok(None)
                }
            }
        })
    }

    async fn profile(&self, name: Option<&str>, file: Option<PathBuf>, tried: &mut Vec<String>) -> Step {
        let explicit = name.is_some() || file.is_some();
        let path = match file.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aliyun/config.json"))) {
            Some(p) => p,
            None => {
                tried.push("CLI profile: no home directory".into());
                return Ok(None);
            }
        };
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                tried.push(format!("CLI profile: {shown} does not exist"));
                return Ok(None);
            }
            Err(e) => return Err(CredentialsError::Profile { path: shown, detail: e.to_string() }),
        };
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| CredentialsError::Profile { path: shown.clone(), detail: format!("not JSON: {e}") })?;
        let wanted = name.map(str::to_owned).or_else(|| doc["current"].as_str().map(str::to_owned)).unwrap_or_else(|| "default".into());
        let profiles = doc["profiles"].as_array().cloned().unwrap_or_default();
        let Some(p) = profiles.iter().find(|p| p["name"].as_str() == Some(wanted.as_str())) else {
            if explicit {
                return Err(CredentialsError::Profile { path: shown, detail: format!("no profile named {wanted:?}") });
            }
            tried.push(format!("CLI profile: {shown} has no profile {wanted:?}"));
            return Ok(None);
        };
        let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
        let keys = || Credentials { access_key_id: s("access_key_id"), access_key_secret: s("access_key_secret"), security_token: None };
        let missing = |what: &str| CredentialsError::Profile { path: shown.clone(), detail: format!("profile {wanted:?} lacks {what}") };
        match p["mode"].as_str().unwrap_or("AK") {
            "AK" => {
                let c = keys();
                if c.access_key_id.is_empty() || c.access_key_secret.is_empty() {
                    return Err(missing("access_key_id/access_key_secret"));
                }
                Ok(Some(Cached { creds: c, expires: None }))
            }
            "StsToken" => {
                let c = Credentials { security_token: Some(s("sts_token")), ..keys() };
                if c.access_key_id.is_empty() || c.token().is_none() {
                    return Err(missing("access_key_id/sts_token"));
                }
                Ok(Some(Cached { creds: c, expires: None }))
            }
            "RamRoleArn" => {
                let role = s("ram_role_arn");
                if role.is_empty() {
                    return Err(missing("ram_role_arn"));
                }
                let session = Some(s("ram_session_name")).filter(|n| !n.is_empty()).unwrap_or_else(|| "sparkoss".into());
                let secs = p["expired_seconds"].as_i64().filter(|v| *v > 0).unwrap_or(3600);
                self.assume_role(&keys(), &role, &session, secs).await.map(Some)
            }
            "EcsRamRole" => self.ecs_ram_role(Some(&s("ram_role_name")).filter(|r| !r.is_empty()).map(String::as_str)).await.map(Some),
            "OIDC" => self
                .assume_role_with_oidc(&OidcRole {
                    role_arn: s("ram_role_arn"),
                    oidc_provider_arn: s("oidc_provider_arn"),
                    oidc_token_file: s("oidc_token_file"),
                    session_name: Some(s("ram_session_name")).filter(|n| !n.is_empty()).unwrap_or_else(|| "sparkoss".into()),
                    duration_seconds: 3600,
                })
                .await
                .map(Some),
            other => Err(CredentialsError::Profile { path: shown, detail: format!("profile {wanted:?} has unsupported mode {other:?}") }),
        }
    }

    /// STS `AssumeRole` (RPC style, signed with ACS3 using the base keys).
    async fn assume_role(&self, base: &Credentials, role_arn: &str, session: &str, secs: i64) -> Result<Cached, CredentialsError> {
        let endpoint = self.endpoints.sts.trim_end_matches('/').to_owned();
        let remote = |detail: String| CredentialsError::Remote { service: "STS AssumeRole", endpoint: endpoint.clone(), detail };
        let p = sts::AssumeRole { role_arn, role_session_name: session, duration_seconds: secs };
        let req = sts::assume_role(
            sts_host(&endpoint),
            base,
            &p,
            &[("user-agent", sts::USER_AGENT)],
            OffsetDateTime::now_utc(),
            &crate::retry::nonce(),
        )
        .map_err(|e| remote(e.to_string()))?;
        self.sts_credentials(&endpoint, req, remote).await
    }

    /// STS `AssumeRoleWithOIDC` (anonymous: the OIDC token is the proof).
    async fn assume_role_with_oidc(&self, o: &OidcRole) -> Result<Cached, CredentialsError> {
        let token = std::fs::read_to_string(&o.oidc_token_file)
            .map_err(|source| CredentialsError::TokenFile { path: o.oidc_token_file.clone(), source })?;
        let endpoint = self.endpoints.sts.trim_end_matches('/').to_owned();
        let remote = |detail: String| CredentialsError::Remote { service: "STS AssumeRoleWithOIDC", endpoint: endpoint.clone(), detail };
        let p = sts::AssumeRoleWithOidc {
            role_arn: &o.role_arn,
            oidc_provider_arn: &o.oidc_provider_arn,
            // Token files end with a newline; the token itself has none.
            oidc_token: token.trim(),
            role_session_name: &o.session_name,
            duration_seconds: o.duration_seconds,
        };
        let req = sts::assume_role_with_oidc(
            sts_host(&endpoint),
            &p,
            &[("user-agent", sts::USER_AGENT)],
            OffsetDateTime::now_utc(),
            &crate::retry::nonce(),
        );
        self.sts_credentials(&endpoint, req, remote).await
    }

    async fn sts_credentials(
        &self,
        endpoint: &str,
        req: sts::StsRequest,
        remote: impl Fn(String) -> CredentialsError,
    ) -> Result<Cached, CredentialsError> {
        let mut rb = self.http.post(format!("{endpoint}{}", req.path_and_query));
        for (k, v) in &req.headers {
            // reqwest writes `host` from the URL; the value is the same.
            if k != "host" {
                rb = rb.header(k, v);
            }
        }
        let resp = rb.send().await.map_err(|e| remote(format!("request failed: {}", e.without_url())))?;
        let status = resp.status();
        let body: serde_json::Value =
            resp.json().await.map_err(|e| remote(format!("HTTP {status}: unreadable answer: {}", e.without_url())))?;
        if !status.is_success() {
            let code = body["Code"].as_str().or(body["code"].as_str()).unwrap_or("?");
            let rid = body["RequestId"].as_str().unwrap_or("?");
            return Err(remote(format!("HTTP {status}: {code} (request id {rid})")));
        }
        parse_temporary(&body["Credentials"]).ok_or_else(|| remote("answer lacks Credentials".into()))
    }

    /// The ECS RAM role from the metadata service, with an IMDSv2 token when it hands one out.
    async fn ecs_ram_role(&self, role: Option<&str>) -> Result<Cached, CredentialsError> {
        let base = self.endpoints.metadata.trim_end_matches('/').to_owned();
        let remote = |detail: String| CredentialsError::Remote { service: "ECS metadata", endpoint: base.clone(), detail };
        let token = match self
            .http
            .put(format!("{base}/latest/api/token"))
            .header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        };
        let get = |path: String| {
            let mut rb = self.http.get(format!("{base}{path}")).timeout(Duration::from_secs(3));
            if let Some(t) = &token {
                rb = rb.header("X-aliyun-ecs-metadata-token", t);
            }
            rb
        };
        let role = match role {
            Some(r) => r.to_owned(),
            None => {
                let r = get("/latest/meta-data/ram/security-credentials/".into())
                    .send()
                    .await
                    .map_err(|e| remote(format!("unreachable: {}", e.without_url())))?;
                if !r.status().is_success() {
                    return Err(remote(format!("HTTP {} listing roles", r.status())));
                }
                let text = r.text().await.map_err(|e| remote(e.to_string()))?;
                text.lines()
                    .next()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| remote("no RAM role attached".into()))?
            }
        };
        let r = get(format!("/latest/meta-data/ram/security-credentials/{role}"))
            .send()
            .await
            .map_err(|e| remote(format!("unreachable: {}", e.without_url())))?;
        if !r.status().is_success() {
            return Err(remote(format!("HTTP {} for role {role:?}", r.status())));
        }
        let body: serde_json::Value = r.json().await.map_err(|e| remote(format!("unreadable answer: {}", e.without_url())))?;
        if body["Code"].as_str().is_some_and(|c| c != "Success") {
            return Err(remote(format!("role {role:?}: code {}", body["Code"])));
        }
        parse_temporary(&body).ok_or_else(|| remote("answer lacks AccessKeyId/AccessKeySecret/SecurityToken".into()))
    }
}

/// The `host` of an STS base URL such as `https://sts.aliyuncs.com` or `http://127.0.0.1:8080`.
fn sts_host(endpoint: &str) -> &str {
    endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest)
}

/// Reads `{AccessKeyId, AccessKeySecret, SecurityToken, Expiration}` (STS and ECS metadata).
fn parse_temporary(v: &serde_json::Value) -> Option<Cached> {
    let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let creds = Credentials {
        access_key_id: s("AccessKeyId")?,
        access_key_secret: s("AccessKeySecret")?,
        security_token: Some(s("SecurityToken")?),
    };
    let expires = s("Expiration").and_then(|e| OffsetDateTime::parse(&e, &time::format_description::well_known::Rfc3339).ok());
    Some(Cached { creds, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_prefers_alibaba_cloud_names_and_needs_both_keys() {
        let env = |k: &str| match k {
            "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("a".to_owned()),
            "ALICLOUD_ACCESS_KEY" => Some("b".to_owned()),
            "ALICLOUD_SECRET_KEY" => Some("s".to_owned()),
            _ => None,
        };
        match Source::env(&env) {
            Source::Environment(Some(c)) => assert_eq!((c.access_key_id.as_str(), c.access_key_secret.as_str()), ("a", "s")),
            other => panic!("{other:?}"),
        }
        assert_eq!(Source::env(&|k: &str| (k == "ALICLOUD_ACCESS_KEY").then(|| "x".to_owned())), Source::Environment(None));
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn workload_chain_leaves_out_profiles_and_legacy_names() {
        let env = vars(&[
            ("ALICLOUD_ACCESS_KEY", "legacy"),
            ("ALICLOUD_SECRET_KEY", "legacy-secret"),
            ("ALIBABA_CLOUD_PROFILE", "dev"),
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/p"),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/token"),
            ("ALIBABA_CLOUD_ECS_METADATA", "node-role"),
        ]);
        let oidc = Source::Oidc(OidcRole {
            role_arn: "acs:ram::1:role/r".into(),
            oidc_provider_arn: "acs:ram::1:oidc-provider/p".into(),
            oidc_token_file: "/var/run/token".into(),
            session_name: "sparkoss-workload".into(),
            duration_seconds: 3600,
        });
        let ecs = Source::EcsRamRole(Some("node-role".into()));
        assert_eq!(Source::chain_from_env(&env, &ChainSources::WORKLOAD), Source::Chain(vec![Source::Environment(None), oidc, ecs]));
        // The full chain still reads the legacy names and the profile.
        let Source::Chain(all) = Source::default_chain(&env) else { panic!("a chain") };
        assert!(matches!(&all[0], Source::Environment(Some(c)) if c.access_key_id == "legacy"), "{all:?}");
        assert_eq!(all[1], Source::Profile { name: Some("dev".into()), file: None });
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn chain_explains_disabled_metadata_and_half_rrsa() {
        let env = vars(&[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "TRUE"), ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r")]);
        let Source::Chain(chain) = Source::chain_from_env(&env, &ChainSources::WORKLOAD) else { panic!("a chain") };
        assert!(!chain.iter().any(|s| matches!(s, Source::EcsRamRole(_))), "{chain:?}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let e = rt.block_on(CredentialsProvider::new(Source::Chain(chain), Endpoints::default()).get()).expect_err("nothing yields");
        let text = e.to_string();
        assert!(text.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE must all be set"), "{text}");
        assert!(text.contains("disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED"), "{text}");
    }

    #[test]
    fn temporary_credentials_parse_with_expiry() {
        let v = serde_json::json!({"AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2026-11-24T06:00:00Z"});
        let c = parse_temporary(&v).expect("parses");
        assert_eq!(c.creds.security_token.as_deref(), Some("t"));
        assert!(c.expires.is_some());
        assert!(parse_temporary(&serde_json::json!({"AccessKeyId":"x"})).is_none());
    }
}
