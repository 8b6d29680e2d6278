//! Reaching a Kubernetes cluster from a resource's own connection attributes (`kubeconfig` text,
//! or `kubeconfig_path` + `context`), through kube-rs. Errors never carry the kubeconfig's text:
//! it holds credentials.

use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::core::{AttrPath, Diagnostics, Value};

/// Errors reaching or talking to a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// The kubeconfig could not be read or used (the text itself is never included).
    #[error("kubeconfig ({origin}): {detail}")]
    Kubeconfig {
        /// Where it came from: `kubeconfig attribute`, a path, or the default location.
        origin: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The connection attributes are not known yet (they come from a resource not yet created).
    #[error("the Kubernetes connection is not known until apply")]
    Unknown,
    /// A Kubernetes API call failed.
    #[error("{what}: {source}")]
    Api {
        /// The call, e.g. `creating namespace team-a`.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Waiting took longer than allowed.
    #[error("{what}: still not done after {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        after: Duration,
    },
}

impl KubeError {
    /// Wraps a kube-rs error with what was being done.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> KubeError {
        let what = what.into();
        move |source| KubeError::Api { what, source }
    }

    /// The HTTP status of an API error answered by the server, if that is what this is.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            KubeError::Api { source: kube::Error::Api(s), .. } => Some(s.code),
            _ => None,
        }
    }

    /// The server's message for an API error (e.g. a quota denial), or the whole error.
    pub fn message(&self) -> String {
        match self {
            KubeError::Api { source: kube::Error::Api(s), .. } => s.message.clone(),
            other => other.to_string(),
        }
    }

    /// As a diagnostic on `path` (or the whole resource) with a summary.
    pub fn diag(&self, summary: &str, path: Option<&AttrPath>) -> Diagnostics {
        let mut d = Diagnostics::new();
        match path {
            Some(p) => d.attr_error(p, summary, self.to_string()),
            None => d.error(summary, self.to_string()),
        }
        d
    }
}

/// Whether a kube-rs error is the server's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Clients built so far in this process (the cache's effect, observable by tests).
static CLIENTS_BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A resource's connection attributes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Connection {
    /// Kubeconfig document (sensitive).
    pub kubeconfig: Option<String>,
    /// Kubeconfig file path.
    pub kubeconfig_path: Option<String>,
    /// Context name.
    pub context: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("kubeconfig", &self.kubeconfig.as_ref().map(|_| "<sensitive>"))
            .field("kubeconfig_path", &self.kubeconfig_path)
            .field("context", &self.context)
            .finish()
    }
}

impl Connection {
    /// Reads the connection attributes of a state, plan or configuration; `Err(Unknown)` when
    /// any of them is not known yet.
    pub fn from_value(v: &Value) -> Result<Connection, KubeError> {
        let get = |name: &str| match v.attr(name) {
            Value::Unknown => Err(KubeError::Unknown),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Ok(None),
        };
        Ok(Connection { kubeconfig: get("kubeconfig")?, kubeconfig_path: get("kubeconfig_path")?, context: get("context")? })
    }

    fn load(&self) -> Result<(Kubeconfig, String), KubeError> {
        let fail = |origin: &str| {
            let origin = origin.to_owned();
            move |e: kube::config::KubeconfigError| KubeError::Kubeconfig { origin, detail: e.to_string() }
        };
        match (&self.kubeconfig, &self.kubeconfig_path) {
            (Some(text), _) => Ok((
                Kubeconfig::from_yaml(text).map_err(|_| KubeError::Kubeconfig {
                    origin: "kubeconfig attribute".into(),
                    // The parser's message may quote the document; say only that it is not YAML.
                    detail: "not a kubeconfig YAML document".into(),
                })?,
                "kubeconfig attribute".into(),
            )),
            (None, Some(path)) => Ok((Kubeconfig::read_from(path).map_err(fail(path))?, path.clone())),
            (None, None) => Ok((Kubeconfig::read().map_err(fail("KUBECONFIG or ~/.kube/config"))?, "KUBECONFIG or ~/.kube/config".into())),
        }
    }

    /// A client for the cluster; one per connection and provider process, because building one
    /// (kubeconfig parsing, TLS set-up, a fresh connection pool) costs more than the requests a
    /// refresh makes with it. Terraform refreshes ten resources at once: the first calls for a
    /// connection share one build instead of each making its own. A failed build is not kept, so
    /// the next call tries again.
    pub async fn client(&self) -> Result<Client, KubeError> {
        type Cells = std::collections::HashMap<Connection, Arc<tokio::sync::OnceCell<Client>>>;
        static CLIENTS: std::sync::OnceLock<std::sync::Mutex<Cells>> = std::sync::OnceLock::new();
        let cell = {
            let mut cells = CLIENTS.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match cells.get(self) {
                Some(c) => c.clone(),
                None => cells.entry(self.clone()).or_default().clone(),
            }
        };
        cell.get_or_try_init(|| self.build_client()).await.cloned()
    }

    async fn build_client(&self) -> Result<Client, KubeError> {
        let (kc, origin) = self.load()?;
        let opts = KubeConfigOptions { context: self.context.clone(), cluster: None, user: None };
        let mut config = Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| KubeError::Kubeconfig { origin: origin.clone(), detail: e.to_string() })?;
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let client = Client::try_from(config).map_err(|e| KubeError::Kubeconfig { origin, detail: e.to_string() })?;
        CLIENTS_BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(client)
    }
}

/// Polls `f` every `every` until it answers `Some`, for at most `limit`.
pub async fn poll<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut f: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, KubeError>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if start.elapsed() >= limit {
            return Err(KubeError::Timeout { what: what.into(), after: limit });
        }
        tokio::time::sleep(every).await;
    }
}

/// Parses a Terraform-style duration (`90s`, `5m`, `1h30m`); `None` when malformed.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return None,
            }
        };
        total += num.parse::<f64>().ok()? * unit;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn unknown_connection_is_reported_as_unknown() {
        let mut m = BTreeMap::new();
        m.insert("kubeconfig".to_owned(), Value::Unknown);
        assert!(matches!(Connection::from_value(&Value::Object(m)), Err(KubeError::Unknown)));
    }

    #[tokio::test]
    async fn bad_kubeconfig_text_is_not_echoed() {
        let secret = "token: s3cr3t-value [";
        let c = Connection { kubeconfig: Some(secret.into()), ..Default::default() };
        let Err(e) = c.client().await else { panic!("not a kubeconfig, yet a client was made") };
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_one_client_per_connection() {
        use std::sync::atomic::Ordering;
        // Building connects nowhere: the server is only contacted by requests.
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n";
        let conn = Connection { kubeconfig: Some(kc.into()), ..Default::default() };
        let before = CLIENTS_BUILT.load(Ordering::Relaxed);
        let calls: Vec<_> = (0..10)
            .map(|_| {
                tokio::spawn({
                    let c = conn.clone();
                    async move { c.client().await.map(|_| ()) }
                })
            })
            .collect();
        for c in calls {
            assert!(c.await.expect("joins").is_ok());
        }
        assert_eq!(CLIENTS_BUILT.load(Ordering::Relaxed) - before, 1, "ten concurrent calls, one build");
        // Another context is another cluster: its own client.
        let other = Connection { context: Some("c".into()), ..conn };
        other.client().await.expect("client");
        assert_eq!(CLIENTS_BUILT.load(Ordering::Relaxed) - before, 2);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }
}
