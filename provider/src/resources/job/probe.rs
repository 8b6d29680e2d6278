//! The main application on OSS: the pre-flight HEAD, and its ETag at refresh, so a new upload
//! re-runs the job.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{err, Job};
use crate::core::{Diagnostics, Value};
use crate::resource::OpContext;

/// A probe from a provider configuration (`None`: that configuration has no usable OSS credentials).
pub(super) type ProbeFor = (crate::config::ProviderConfig, Option<Arc<dyn JarProbe>>);

/// One object's ETag lookup, shared by the refreshes that ask for it at the same time.
pub(super) type EtagCell = tokio::sync::OnceCell<(tokio::time::Instant, Result<Option<String>, String>)>;

/// How long a refresh reuses an ETag another refresh read: long enough to cover one
/// `terraform plan` over many jobs sharing a jar (Terraform refreshes them together in one
/// provider process), short enough that a jar uploaded between two commands is always seen.
pub(super) const ETAG_TTL: Duration = Duration::from_secs(5);

/// Looks the main application up on OSS before anything is created: the pre-flight seam, so the
/// job logic is tested without OSS and the OSS client can change behind it.
#[async_trait]
pub trait JarProbe: Send + Sync {
    /// The object's ETag; `Ok(None)` when it does not exist; `Err` with a reason otherwise.
    async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, String>;
}

/// [`JarProbe`] over the OSS client of `sparkoss-aliyun`, with the provider's credentials.
pub struct OssJarProbe(sparkoss_aliyun::oss::Client);

impl OssJarProbe {
    /// A probe when the provider has static credentials (AccessKey, optionally STS); `None` for
    /// the other credential sources, which the OSS client cannot resolve on its own yet.
    pub fn from_config(cfg: &crate::config::ProviderConfig) -> Option<OssJarProbe> {
        use sparkoss_aliyun::oss::{Client, ClientConfig, Endpoint};
        let crate::config::CredentialSource::Static { access_key_id, access_key_secret, security_token } = &cfg.credentials else {
            return None;
        };
        let region = cfg.region.clone().unwrap_or_else(|| "cn-hangzhou".into());
        let endpoint = match &cfg.endpoints.oss {
            Some(e) => Endpoint::parse(e).ok()?,
            None => Endpoint::public(&region),
        };
        let creds = sparkoss_aliyun::signing::Credentials {
            access_key_id: access_key_id.expose().to_owned(),
            access_key_secret: access_key_secret.expose().to_owned(),
            security_token: security_token.as_ref().map(|t| t.expose().to_owned()),
        };
        Client::new(ClientConfig::new(endpoint, region), creds).ok().map(OssJarProbe)
    }
}

#[async_trait]
impl JarProbe for OssJarProbe {
    async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, String> {
        match self.0.head_object(bucket, key).await {
            Ok(h) => Ok(Some(h.etag)),
            Err(sparkoss_aliyun::oss::OssError::Service { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Job {
    /// The resource with a given jar pre-flight (tests use a fake; `None` means the provider's
    /// OSS credentials through [`OssJarProbe`]).
    pub fn with_probe(probe: Option<Arc<dyn JarProbe>>) -> Self {
        let mut j = Job::new();
        j.probe = probe;
        j
    }

    /// The jar probe: the one given to [`Job::with_probe`], else the OSS client of the provider's
    /// configuration, built once per configuration; `None` without usable OSS credentials.
    pub(super) fn jar_probe(&self, ctx: &OpContext) -> Option<Arc<dyn JarProbe>> {
        if let Some(p) = &self.probe {
            return Some(p.clone());
        }
        let mut slot = self.oss_probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cfg, probe)) = slot.as_ref() {
            if cfg == ctx.config.as_ref() {
                return probe.clone();
            }
        }
        let probe = OssJarProbe::from_config(&ctx.config).map(|p| Arc::new(p) as Arc<dyn JarProbe>);
        *slot = Some((ctx.config.as_ref().clone(), probe.clone()));
        probe
    }

    /// The ETag of an object for a refresh: jobs refreshed together that share a jar ask OSS
    /// once (concurrent asks wait for the first), and an answer is reused for [`ETAG_TTL`].
    /// Failures are not remembered: the next refresh asks again.
    pub(super) async fn refresh_etag(&self, probe: &Arc<dyn JarProbe>, bucket: &str, key: &str) -> Result<Option<String>, String> {
        let id = (bucket.to_owned(), key.to_owned());
        let cell = {
            let mut etags = self.etags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            etags.retain(|_, c| c.get().is_none_or(|(at, _)| now.duration_since(*at) < self.etag_ttl));
            etags.entry(id.clone()).or_default().clone()
        };
        let (_, answer) = cell.get_or_init(|| async { (tokio::time::Instant::now(), probe.etag(bucket, key).await) }).await;
        if answer.is_err() {
            let mut etags = self.etags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if etags.get(&id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                etags.remove(&id);
            }
        }
        answer.clone()
    }

    pub(super) async fn preflight_jar(&self, ctx: &OpContext, uri: &str) -> Result<Option<String>, Diagnostics> {
        let Ok(parsed) = sparkoss_aliyun::oss_uri::OssUri::parse(uri) else { return Ok(None) };
        // No usable OSS credentials in the provider: the launcher will find out in the pod.
        let Some(probe) = self.jar_probe(ctx) else { return Ok(None) };
        // A fresh answer, never a remembered one: this decides what is created.
        match probe.etag(parsed.bucket(), parsed.key()).await {
            Ok(Some(etag)) => Ok(Some(etag)),
            Ok(None) => Err(err(
                "Main application not found",
                Some("main_application"),
                format!("{uri} does not exist on OSS. Nothing was created."),
            )),
            Err(reason) => Err(err("Cannot check the main application", Some("main_application"), format!("HEAD {uri}: {reason}"))),
        }
    }

    /// A jar replaced on OSS since submission re-runs the job: the state's `main_application`
    /// then records the change, which differs from the configuration and so plans a
    /// replacement, with the reason in the diff.
    pub(super) async fn mark_changed_jar(&self, ctx: &OpContext, state: &mut Value) {
        let (Some(uri), Some(old)) =
            (state.attr("main_application").as_str().map(str::to_owned), state.attr("main_application_etag").as_str().map(str::to_owned))
        else {
            return;
        };
        let Ok(parsed) = sparkoss_aliyun::oss_uri::OssUri::parse(&uri) else { return };
        let Some(probe) = self.jar_probe(ctx) else { return };
        let now = match self.refresh_etag(&probe, parsed.bucket(), parsed.key()).await {
            Ok(Some(e)) if e == old => return,
            Ok(Some(e)) => format!("ETag {e}"),
            Ok(None) => "deleted".to_owned(),
            // Unreachable OSS says nothing about the jar; keep the state as it is.
            Err(_) => return,
        };
        if let Some(m) = state.attrs_mut() {
            m.insert("main_application".into(), Value::string(format!("{uri} (changed on OSS since the run: ETag {old} -> {now})")));
        }
    }
}
