//! ACK (Container Service, CS API 2015-12-15, ROA style) client over the ACS3 signer.
//!
//! Each operation is one signed HTTP call; throttling, 5xx answers and connections that never
//! reached ACK are retried with [`RetryPolicy`] (jittered, bounded in count and time). A POST
//! whose answer was lost is *not* retried blindly: the caller gets [`AckError::Transport`] with
//! `maybe_applied = true` and looks the result up (see [`AckClient::find_cluster_by_name`]).

pub mod model;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::credentials::{CredentialsError, CredentialsProvider};
use crate::retry::RetryPolicy;
use crate::signing::acs3;
use model::*;

/// The CS API version.
pub const API_VERSION: &str = "2015-12-15";

/// ACK error codes that mean "slow down".
const THROTTLING: &[&str] = &["Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable"];

/// What went wrong calling ACK. Never includes secrets (no keys, tokens or kubeconfigs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// ACK answered with an error.
    #[error("ACK {action}: HTTP {status} {code}: {message} (request id {request_id})")]
    Api {
        /// The operation, e.g. `CreateCluster`.
        action: &'static str,
        /// HTTP status.
        status: u16,
        /// ACK error code, e.g. `ErrorClusterNotFound`.
        code: String,
        /// ACK's message.
        message: String,
        /// Request id, for support tickets.
        request_id: String,
    },
    /// No answer: the connection failed or broke.
    #[error("ACK {action}: {detail}")]
    Transport {
        /// The operation.
        action: &'static str,
        /// What failed.
        detail: String,
        /// True when the request may have reached ACK (the answer was lost).
        maybe_applied: bool,
    },
    /// Credentials could not be obtained.
    #[error("ACK {action}: {source}")]
    Credentials {
        /// The operation.
        action: &'static str,
        /// Why.
        #[source]
        source: CredentialsError,
    },
    /// The request could not be signed.
    #[error("ACK {action}: cannot sign the request: {source}")]
    Signing {
        /// The operation.
        action: &'static str,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// ACK answered 2xx with a body we cannot read.
    #[error("ACK {action}: unexpected answer: {detail}")]
    Decode {
        /// The operation.
        action: &'static str,
        /// Why.
        detail: String,
    },
    /// The client cannot be built (bad endpoint, no region).
    #[error("ACK client: {0}")]
    Config(String),
}

impl AckError {
    /// True when ACK says the cluster (or task, pool) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, AckError::Api { status: 404, .. })
            || matches!(self, AckError::Api { code, .. } if code.contains("NotFound") || code == "ErrorClusterNotFound")
    }

    /// True when ACK refuses a node pool change because the pool is busy with another operation
    /// (creating, scaling, updating, removing nodes, deleting).
    ///
    /// ACK's public documentation does not list the error codes of ModifyClusterNodePool and
    /// DeleteClusterNodepool (their pages point to the generic error center), and no public SDK
    /// or provider names one for this case. So this does not depend on a code: it matches the
    /// class, a client error (400, 403 or 409) whose code or message says the pool is busy or not
    /// in a state that allows the change. The local cloud's own answer (`ErrorNodePoolState`)
    /// is one such answer, not a reference.
    pub fn is_pool_busy(&self) -> bool {
        const WORDING: &[&str] = &[
            "busy",
            "in progress",
            "is updating",
            "is scaling",
            "is removing",
            "is deleting",
            "is initial",
            "not active",
            "wait until",
            "current state",
            "current status",
            "invalid state",
            "invalid status",
        ];
        self.is_client_error_saying(WORDING)
    }

    /// True when ACK refuses to delete a node pool that still has nodes (a delete without
    /// `force`). As for [`AckError::is_pool_busy`], the code is not published: this matches the
    /// class, a client error (400, 403 or 409) whose code or message says the pool is not empty
    /// or still has nodes. The local cloud answers `ErrorNodePoolNotEmpty`, its own code.
    pub fn is_pool_not_empty(&self) -> bool {
        self.is_client_error_saying(&["not empty", "notempty", "still has", "has nodes", "nodes exist", "existing nodes"])
    }

    /// A 400, 403 or 409 answer whose code or message contains one of `wording` (lower case).
    fn is_client_error_saying(&self, wording: &[&str]) -> bool {
        let AckError::Api { status: 400 | 403 | 409, code, message, .. } = self else { return false };
        let text = format!("{code} {message}").to_lowercase();
        wording.iter().any(|w| text.contains(w))
    }

    /// True for throttling answers.
    pub fn is_throttling(&self) -> bool {
        matches!(self, AckError::Api { status, code, .. } if *status == 429 || THROTTLING.contains(&code.as_str()))
    }

    /// True when retrying the same request may succeed.
    fn retryable(&self, idempotent: bool) -> bool {
        match self {
            AckError::Api { status, .. } => self.is_throttling() || *status >= 500,
            AckError::Transport { maybe_applied, .. } => idempotent || !maybe_applied,
            _ => false,
        }
    }
}

/// Result of an ACK call.
pub type AckResult<T> = std::result::Result<T, AckError>;

/// An ACK OpenAPI client for one region.
pub struct AckClient {
    http: reqwest::Client,
    base: String,
    host: String,
    region: String,
    creds: Arc<CredentialsProvider>,
    retry: RetryPolicy,
    calls: AtomicU64,
}

impl std::fmt::Debug for AckClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckClient").field("base", &self.base).field("region", &self.region).finish()
    }
}

impl AckClient {
    /// A client for `region`, calling `endpoint` (default `https://cs.<region>.aliyuncs.com`).
    pub fn new(region: &str, endpoint: Option<&str>, creds: Arc<CredentialsProvider>) -> AckResult<Self> {
        if region.is_empty() {
            return Err(AckError::Config("no region: set the provider's region or ALIBABA_CLOUD_REGION".into()));
        }
        let base = endpoint.map(|e| e.trim_end_matches('/').to_owned()).unwrap_or_else(|| format!("https://cs.{region}.aliyuncs.com"));
        let base = if base.contains("://") { base } else { format!("https://{base}") };
        let host = base.split("://").nth(1).unwrap_or_default().split('/').next().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(AckError::Config(format!("endpoint {base:?} has no host")));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AckError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(AckClient { http, base, host, region: region.to_owned(), creds, retry: RetryPolicy::default(), calls: AtomicU64::new(0) })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// HTTP requests sent so far (retries included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// One signed request, retried per the policy. `path` is already encoded.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        action: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> AckResult<T> {
        let idempotent = method != "POST";
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r = self.once(method, action, path, query, body.as_deref()).await;
            match r {
                Ok(bytes) => {
                    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".to_vec() } else { bytes };
                    return serde_json::from_slice(&bytes).map_err(|e| AckError::Decode { action, detail: e.to_string() });
                }
                Err(e) if e.retryable(idempotent) => match self.retry.next_delay(attempt, started) {
                    Some(d) => {
                        tracing::debug!(action, attempt, delay_ms = d.as_millis() as u64, error = %e, "retrying ACK call");
                        tokio::time::sleep(d).await;
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }

    async fn once(
        &self,
        method: &'static str,
        action: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> AckResult<Vec<u8>> {
        let creds = self.creds.get().await.map_err(|source| AckError::Credentials { action, source })?;
        let body = body.unwrap_or_default();
        let req = acs3::Acs3Request {
            method,
            host: &self.host,
            path,
            query,
            action,
            version: API_VERSION,
            headers: &[("accept", "application/json")],
            body,
            content_type: (!body.is_empty()).then_some(acs3::JSON_CONTENT_TYPE),
        };
        let signed = acs3::sign(&req, &creds, OffsetDateTime::now_utc(), &crate::retry::nonce())
            .map_err(|source| AckError::Signing { action, source })?;
        let url = format!("{}{}", self.base, signed.path_and_query(path));
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| AckError::Config(e.to_string()))?;
        let mut rb = self.http.request(m, url);
        for (k, v) in &signed.headers {
            // reqwest derives Host from the URL (the same value that was signed).
            if k != "host" {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        if !body.is_empty() {
            rb = rb.body(body.to_vec());
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let resp = rb.send().await.map_err(|e| AckError::Transport {
            action,
            maybe_applied: !e.is_connect(),
            detail: format!("request failed: {}", describe(&e)),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| AckError::Transport {
            action,
            maybe_applied: true,
            detail: format!("answer lost (HTTP {status}): {}", describe(&e)),
        })?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let field = |names: &[&str]| names.iter().find_map(|n| doc[*n].as_str().map(str::to_owned)).unwrap_or_default();
        let code = field(&["code", "Code"]);
        let mut message = field(&["message", "Message"]);
        if code.is_empty() && message.is_empty() {
            message = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        }
        Err(AckError::Api { action, status, code, message, request_id: field(&["requestId", "RequestId", "request_id"]) })
    }

    /// CreateCluster (`POST /clusters`).
    pub async fn create_cluster(&self, req: &CreateClusterRequest) -> AckResult<CreateClusterResponse> {
        let body = serde_json::to_vec(req).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("POST", "CreateCluster", "/clusters", &[], Some(body)).await
    }

    /// DescribeClusterDetail (`GET /clusters/{id}`).
    pub async fn describe_cluster_detail(&self, cluster_id: &str) -> AckResult<ClusterDetail> {
        let path = format!("/clusters/{}", acs3::encode_path_segment(cluster_id));
        self.call("GET", "DescribeClusterDetail", &path, &[], None).await
    }

    /// DescribeClusterUserKubeconfig (`GET /k8s/{id}/user_config`), public endpoint.
    pub async fn describe_user_kubeconfig(&self, cluster_id: &str) -> AckResult<UserKubeconfig> {
        let path = format!("/k8s/{}/user_config", acs3::encode_path_segment(cluster_id));
        self.call("GET", "DescribeClusterUserKubeconfig", &path, &[("PrivateIpAddress", "false")], None).await
    }

    /// DeleteCluster (`DELETE /clusters/{id}`), releasing the resources ACK created.
    pub async fn delete_cluster(&self, cluster_id: &str) -> AckResult<TaskStarted> {
        let path = format!("/clusters/{}", acs3::encode_path_segment(cluster_id));
        self.call("DELETE", "DeleteCluster", &path, &[("retain_all_resources", "false")], None).await
    }

    /// DescribeTaskInfo (`GET /tasks/{id}`).
    pub async fn describe_task_info(&self, task_id: &str) -> AckResult<TaskInfo> {
        let path = format!("/tasks/{}", acs3::encode_path_segment(task_id));
        self.call("GET", "DescribeTaskInfo", &path, &[], None).await
    }

    /// DescribeClustersV1 (`GET /api/v1/clusters`), one page, filtered by name.
    pub async fn describe_clusters_v1(&self, name: Option<&str>, page_number: u32) -> AckResult<ClustersPage> {
        let page = page_number.to_string();
        let mut q = vec![("page_size", "100"), ("page_number", page.as_str()), ("region_id", self.region.as_str())];
        if let Some(n) = name {
            q.push(("name", n));
        }
        self.call("GET", "DescribeClustersV1", "/api/v1/clusters", &q, None).await
    }

    /// The live (not deleted) cluster named exactly `name` carrying tag `tag_key`, if any
    /// (ACK's `name` filter is a fuzzy match, so names are compared again here).
    pub async fn find_cluster_by_name(&self, name: &str, tag_key: &str) -> AckResult<Option<ClusterDetail>> {
        for page in 1..=20u32 {
            let p = self.describe_clusters_v1(Some(name), page).await?;
            if let Some(c) = p.clusters.iter().find(|c| c.name == name && c.state != "deleted" && c.tag(tag_key).is_some()) {
                return Ok(Some(c.clone()));
            }
            if p.clusters.is_empty() || i64::from(page) * p.page_info.page_size.max(1) >= p.page_info.total_count {
                break;
            }
        }
        Ok(None)
    }

    /// DescribeClusterNodePools (`GET /clusters/{id}/nodepools`).
    pub async fn describe_node_pools(&self, cluster_id: &str) -> AckResult<NodePools> {
        let path = format!("/clusters/{}/nodepools", acs3::encode_path_segment(cluster_id));
        self.call("GET", "DescribeClusterNodePools", &path, &[], None).await
    }

    /// ModifyClusterNodePool (`PUT /clusters/{id}/nodepools/{np}`): name, instance types,
    /// autoscaler bounds and labels. Asynchronous: the pool is `updating` or `scaling`, then
    /// `active` again.
    pub async fn modify_node_pool(&self, cluster_id: &str, pool: &NodePool) -> AckResult<TaskStarted> {
        let np = pool.nodepool_info.nodepool_id.clone().unwrap_or_default();
        if np.is_empty() {
            return Err(AckError::Config("ModifyClusterNodePool needs the pool's nodepool_id".into()));
        }
        let path = format!("/clusters/{}/nodepools/{}", acs3::encode_path_segment(cluster_id), acs3::encode_path_segment(&np));
        let mut pool = pool.clone();
        // The id is in the path; ACK's ModifyClusterNodePool body has no `nodepool_info.nodepool_id`.
        pool.nodepool_info.nodepool_id = None;
        pool.status = None;
        let body = serde_json::to_vec(&pool).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("PUT", "ModifyClusterNodePool", &path, &[], Some(body)).await
    }

    /// CreateClusterNodePool (`POST /clusters/{id}/nodepools`): a pool added to a running
    /// cluster. Asynchronous: the pool is `initial` until its nodes have joined, then `active`.
    /// A lost answer is not retried (the caller looks the pool up by name instead).
    pub async fn create_node_pool(&self, cluster_id: &str, pool: &NodePool) -> AckResult<NodePoolCreated> {
        let path = format!("/clusters/{}/nodepools", acs3::encode_path_segment(cluster_id));
        let mut pool = pool.clone();
        // ACK assigns the id and reports the status; neither belongs in a create.
        pool.nodepool_info.nodepool_id = None;
        pool.status = None;
        let body = serde_json::to_vec(&pool).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("POST", "CreateClusterNodePool", &path, &[], Some(body)).await
    }

    /// DeleteClusterNodepool (`DELETE /clusters/{id}/nodepools/{np}`). With `force`, a pool that
    /// still has nodes is drained and its nodes released; without it ACK refuses such a pool.
    /// Asynchronous: the pool is `deleting`, then no longer listed.
    pub async fn delete_node_pool(&self, cluster_id: &str, nodepool_id: &str, force: bool) -> AckResult<TaskStarted> {
        let path = format!("/clusters/{}/nodepools/{}", acs3::encode_path_segment(cluster_id), acs3::encode_path_segment(nodepool_id));
        let force = if force { "true" } else { "false" };
        self.call("DELETE", "DeleteClusterNodepool", &path, &[("force", force)], None).await
    }

    /// ModifyCluster (`PUT /api/v2/clusters/{id}`): deletion protection.
    pub async fn modify_deletion_protection(&self, cluster_id: &str, on: bool) -> AckResult<TaskStarted> {
        let path = format!("/api/v2/clusters/{}", acs3::encode_path_segment(cluster_id));
        let body = serde_json::to_vec(&serde_json::json!({ "deletion_protection": on })).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("PUT", "ModifyCluster", &path, &[], Some(body)).await
    }

    /// InstallClusterAddons (`POST /clusters/{id}/components/install`).
    pub async fn install_addons(&self, cluster_id: &str, addons: &[Addon]) -> AckResult<serde_json::Value> {
        let path = format!("/clusters/{}/components/install", acs3::encode_path_segment(cluster_id));
        let body = serde_json::to_vec(addons).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("POST", "InstallClusterAddons", &path, &[], Some(body)).await
    }

    /// UnInstallClusterAddons (`POST /clusters/{id}/components/uninstall`).
    pub async fn uninstall_addons(&self, cluster_id: &str, names: &[&str]) -> AckResult<serde_json::Value> {
        let path = format!("/clusters/{}/components/uninstall", acs3::encode_path_segment(cluster_id));
        let items: Vec<serde_json::Value> = names.iter().map(|n| serde_json::json!({ "name": n })).collect();
        let body = serde_json::to_vec(&items).map_err(|e| AckError::Config(e.to_string()))?;
        self.call("POST", "UnInstallClusterAddons", &path, &[], Some(body)).await
    }

    /// ListClusterAddonInstances (`GET /clusters/{id}/addon_instances`): the installed add-ons.
    pub async fn list_addon_instances(&self, cluster_id: &str) -> AckResult<AddonInstances> {
        let path = format!("/clusters/{}/addon_instances", acs3::encode_path_segment(cluster_id));
        self.call("GET", "ListClusterAddonInstances", &path, &[], None).await
    }

    /// ModifyClusterTags (`POST /clusters/{id}/tags`): the cluster's tags become `tags`.
    pub async fn modify_cluster_tags(&self, cluster_id: &str, tags: &[Tag]) -> AckResult<serde_json::Value> {
        let path = format!("/clusters/{}/tags", acs3::encode_path_segment(cluster_id));
        let body = serde_json::to_vec(tags).map_err(|e| AckError::Config(e.to_string()))?;
        // Setting the same tags twice is harmless, so a lost answer may be retried.
        self.call("POST", "ModifyClusterTags", &path, &[], Some(body)).await
    }
}

/// An error's chain as one line, without the URL (which carries nothing secret, but is long).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> AckError {
        AckError::Api { action: "X", status, code: code.into(), message: String::new(), request_id: String::new() }
    }

    #[test]
    fn classifies_errors() {
        assert!(api(404, "ErrorClusterNotFound").is_not_found());
        assert!(api(400, "Throttling.User").is_throttling() && api(400, "Throttling.User").retryable(false));
        assert!(api(503, "ServiceUnavailable").retryable(false));
        assert!(!api(400, "ErrorParam").retryable(true));
        let lost = AckError::Transport { action: "CreateCluster", detail: String::new(), maybe_applied: true };
        assert!(!lost.retryable(false) && lost.retryable(true));
    }

    fn api_saying(status: u16, code: &str, message: &str) -> AckError {
        AckError::Api { action: "X", status, code: code.into(), message: message.into(), request_id: String::new() }
    }

    #[test]
    fn busy_and_not_empty_pools_are_recognised_by_class_not_by_code() {
        // The local cloud's answers.
        assert!(api_saying(400, "ErrorNodePoolState", "The node pool np1 is scaling; it can be modified once it is active.").is_pool_busy());
        assert!(api_saying(400, "ErrorNodePoolNotEmpty", "The node pool np1 still has 2 nodes; remove them first or set force=true.")
            .is_pool_not_empty());
        // Other codes with the same meaning, as ACK might word them.
        assert!(api_saying(409, "Conflict", "Another operation is in progress on this node pool.").is_pool_busy());
        assert!(api_saying(400, "NodePool.Busy", "").is_pool_busy());
        assert!(api_saying(400, "ErrorDeleteNodePool", "The node pool is not empty.").is_pool_not_empty());
        // Not the class: other statuses, other meanings.
        assert!(!api_saying(500, "InternalError", "The node pool is busy.").is_pool_busy());
        assert!(!api_saying(404, "ErrorNodePoolNotFound", "The node pool np1 does not exist.").is_pool_busy());
        assert!(!api_saying(400, "ErrorParam", "auto_scaling.min_instances is greater than max_instances.").is_pool_busy());
        assert!(!api_saying(400, "ErrorParam", "auto_scaling.min_instances is greater than max_instances.").is_pool_not_empty());
        let lost = AckError::Transport { action: "DeleteClusterNodepool", detail: "busy".into(), maybe_applied: true };
        assert!(!lost.is_pool_busy() && !lost.is_pool_not_empty());
    }

    #[test]
    fn master_url_gives_the_endpoint() {
        let d = ClusterDetail {
            master_url: r#"{"api_server_endpoint":"https://1.2.3.4:6443","intranet_api_server_endpoint":""}"#.into(),
            ..Default::default()
        };
        assert_eq!(d.api_server_endpoint().as_deref(), Some("https://1.2.3.4:6443"));
        assert_eq!(ClusterDetail::default().api_server_endpoint(), None);
    }

    #[test]
    fn default_endpoint_is_regional() {
        let c =
            AckClient::new("cn-hangzhou", None, CredentialsProvider::fixed(crate::signing::Credentials::new("a", "b"))).expect("builds");
        assert_eq!(c.base, "https://cs.cn-hangzhou.aliyuncs.com");
        assert!(AckClient::new("", None, CredentialsProvider::fixed(crate::signing::Credentials::new("a", "b"))).is_err());
    }
}
