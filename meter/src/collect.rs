//! `sparkoss-meter run`: watches the sparkoss pods of every namespace, or of the namespaces it is
//! given (one kube-rs runtime watcher per namespace, merged: what a Role in each namespace allows
//! when no ClusterRole does), records them, samples their real usage from `metrics.k8s.io`,
//! archives driver logs, and serves the numbers over HTTP.
//!
//! What it keeps in memory is a small record per live pod (uid, name, a fingerprint of what was
//! last written, the latest sample time), never the pod objects, so memory grows with the number
//! of pods by a few hundred bytes each. Restarts and watch disconnects are safe: every write is
//! idempotent by pod uid, the watcher relists on (re)start, and a pod the database holds as
//! running but that the relist does not return ends at that moment (it was deleted while the
//! meter was away or the watch was down). Each watch relists on its own, so a relist ends only
//! pods of the namespace it lists. A 403 on the watch is not an outage: `run` fails at once and
//! says which permission is missing.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::archive::LogArchive;
use crate::db::{Change, Db, OpenPod, Sample};
use crate::error::MeterError;
use crate::metrics_api::Sampled;
use crate::owners::{Owners, FIRST_LISTING_WITHIN};
use crate::pod::{PodRecord, Role, MANAGED_BY};

/// How long the Kubernetes API may stay unreachable before `run` gives up (and its supervisor,
/// e.g. the Deployment, restarts it).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// Most watch events recorded in one transaction.
const BATCH: usize = 512;

/// What the meter watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace, with one watch (the meter needs a ClusterRole for it).
    Cluster,
    /// These namespaces, one watch each (a Role in each is enough).
    Namespaces(Vec<String>),
}

/// One watch: a namespace, or `None` for the whole cluster.
type Watch = Option<String>;

impl Scope {
    /// Its watches.
    fn watches(&self) -> Vec<Watch> {
        match self {
            Scope::Cluster => vec![None],
            Scope::Namespaces(list) => list.iter().cloned().map(Some).collect(),
        }
    }
}

/// The error for a watch the API refused (403), quoting the API server's `message`.
fn refused_watch(watch: &Watch, message: &str) -> MeterError {
    let (action, advice) = match watch {
        None => (
            "list and watch pods in every namespace".to_owned(),
            "Without --namespace the meter needs a ClusterRole that allows get, list and watch on pods in every namespace \
             (bound to its user or service account by a ClusterRoleBinding); otherwise give --namespace for each namespace \
             it may read, where a Role allowing the same is enough"
                .to_owned(),
        ),
        Some(ns) => (
            format!("list and watch pods in namespace \"{ns}\""),
            format!(
                "Give the meter a Role in \"{ns}\" that allows get, list and watch on pods (and get on pods/log for \
                 --log-archive), bound to its user or service account, or leave \"{ns}\" out of --namespace"
            ),
        ),
    };
    MeterError::Forbidden { action, message: message.to_owned(), advice }
}

/// Whether a pod of `namespace` is in what `watch` lists.
fn in_watch(watch: &Watch, namespace: &str) -> bool {
    watch.as_deref().is_none_or(|w| w == namespace)
}

/// The API server's message when it refused a watch or its list with 403 Forbidden (RBAC):
/// retrying will not help, unlike an outage.
pub(crate) fn forbidden(e: &watcher::Error) -> Option<&str> {
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s,
        _ => return None,
    };
    (status.code == 403).then_some(status.message.as_str())
}

/// What `/healthz` and `/metrics` report about the collector itself.
#[derive(Debug, Default)]
pub struct Health {
    /// The first listing of every watch is recorded.
    pub synced: AtomicBool,
    /// Pods currently tracked (not ended).
    pub pods_watched: AtomicU64,
    /// Watch events handled.
    pub events: AtomicU64,
    /// Samples recorded.
    pub samples: AtomicU64,
    /// Sampling rounds finished since start (after the first sync; with or without
    /// `metrics.k8s.io`): what a test waits for instead of sleeping.
    pub sample_rounds: AtomicU64,
    /// Whether the cluster serves `metrics.k8s.io` and lets the meter read it (as of the last
    /// attempt).
    pub metrics_served: AtomicBool,
    /// The last watch or database error, while it lasts.
    pub last_error: Mutex<Option<String>>,
}

impl Health {
    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }
}

/// One live pod, as the collector remembers it.
#[derive(Debug, Clone)]
struct Tracked {
    namespace: String,
    name: String,
    started_ms: Option<i64>,
    fingerprint: u64,
    last_sample_ms: Option<i64>,
}

/// Live pods by uid, plus (namespace, name) → uid for metrics, which name pods but carry no uid.
#[derive(Debug, Default)]
struct Tracker {
    pods: HashMap<String, Tracked>,
    by_name: HashMap<(String, String), String>,
    /// Pods the database holds as open, loaded at start, until a listing of their namespace
    /// accounts for them (a namespace no watch lists keeps them: the meter cannot tell).
    open_in_db: HashMap<String, OpenPod>,
    /// Per watch whose (re)list is under way: the uids it has listed so far.
    relisting: HashMap<Watch, HashSet<String>>,
    /// Watches whose first listing is recorded.
    listed: HashSet<Watch>,
    /// Ended pods that still exist, with their namespace: their later updates (deletion
    /// bookkeeping) change nothing.
    done: HashMap<String, String>,
}

impl Tracker {
    fn forget(&mut self, uid: &str) {
        self.done.remove(uid);
        if let Some(t) = self.pods.remove(uid) {
            self.by_name.remove(&(t.namespace, t.name));
        }
    }
}

/// What a record writes, without the time it was seen: equal fingerprints need no write.
fn fingerprint(r: &PodRecord) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&r.phase, r.started_ms, r.ended_ms, r.exit_code, r.cpu_request_millis, r.memory_request_bytes).hash(&mut h);
    (r.cpu_limit_millis, r.memory_limit_bytes, &r.job, &r.user).hash(&mut h);
    h.finish()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos().div_euclid(1_000_000) as i64
}

/// The collector: database, cluster, and what it remembers.
#[derive(Clone)]
pub struct Collector {
    db: Db,
    client: Client,
    scope: Scope,
    /// Namespace owners, for pods without their own user label.
    owners: Owners,
    tracker: Arc<Mutex<Tracker>>,
    /// Its health, shared with the HTTP server.
    pub health: Arc<Health>,
    archive: Option<Arc<LogArchive>>,
}

impl Collector {
    /// A collector of `scope` over `db` and `client`; loads the pods the database holds as
    /// running.
    pub async fn new(db: Db, client: Client, scope: Scope, archive: Option<LogArchive>) -> Result<Collector, MeterError> {
        let open = db.open_pods().await?;
        let tracker = Tracker { open_in_db: open.into_iter().map(|o| (o.uid.clone(), o)).collect(), ..Tracker::default() };
        Ok(Collector {
            db,
            client,
            scope,
            owners: Owners::default(),
            tracker: Arc::new(Mutex::new(tracker)),
            health: Arc::new(Health::default()),
            archive: archive.map(Arc::new),
        })
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.tracker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Watches pods until the API has been unreachable for [`GIVE_UP_AFTER`], or at once when
    /// it refuses a watch (403).
    pub async fn watch(&self) -> Result<(), MeterError> {
        let (listed, first_listing) = tokio::sync::oneshot::channel();
        tokio::spawn(self.owners.clone().follow(self.client.clone(), listed));
        // Bounded: an unreachable API must not keep the pod watch from starting (it reports).
        let _ = tokio::time::timeout(FIRST_LISTING_WITHIN, first_listing).await;
        let cfg = watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        let streams = self.scope.watches().into_iter().map(|w| {
            let api: Api<Pod> = match &w {
                Some(ns) => Api::namespaced(self.client.clone(), ns),
                None => Api::all(self.client.clone()),
            };
            watcher::watcher(api, cfg.clone()).map(move |item| (w.clone(), item)).boxed()
        });
        let mut stream = futures_util::stream::select_all(streams).ready_chunks(BATCH);
        // Per watch: since when it fails (an outage of one namespace's watch is its own).
        let mut failing_since: HashMap<Watch, Instant> = HashMap::new();
        let mut backoff = Duration::from_millis(500);
        while let Some(chunk) = stream.next().await {
            let mut changes = Vec::new();
            let mut ended_drivers = Vec::new();
            let mut error = None;
            let mut refused = None;
            for (w, item) in chunk {
                match item {
                    Ok(ev) => {
                        failing_since.remove(&w);
                        self.on_event(&w, ev, &mut changes, &mut ended_drivers);
                    }
                    Err(e) => {
                        if let Some(message) = forbidden(&e) {
                            refused.get_or_insert_with(|| refused_watch(&w, message));
                        }
                        failing_since.entry(w.clone()).or_insert_with(Instant::now);
                        error = Some(e);
                    }
                }
            }
            if let Err(e) = self.db.apply(&changes).await {
                // The rows are idempotent: forget the fingerprints so the next event rewrites them.
                self.health.set_error(Some(e.to_string()));
                tracing::error!("{e}");
                let mut t = self.tracker();
                for c in &changes {
                    if let Change::Upsert(r) = c {
                        if let Some(p) = t.pods.get_mut(&r.uid) {
                            p.fingerprint = 0;
                        }
                    }
                }
            }
            for (uid, ns, job, pod) in ended_drivers {
                if let Some(a) = &self.archive {
                    let (a, db, client) = (a.clone(), self.db.clone(), self.client.clone());
                    tokio::spawn(async move { a.archive_driver(&db, &client, &uid, &ns, &job, &pod).await });
                }
            }
            if let Some(e) = refused {
                self.health.set_error(Some(e.to_string()));
                return Err(e);
            }
            match error {
                None => {
                    backoff = Duration::from_millis(500);
                    if failing_since.is_empty() {
                        self.health.set_error(None);
                    }
                }
                Some(e) => {
                    let msg = format!("watching pods: {e}");
                    tracing::warn!("{msg} (retrying)");
                    self.health.set_error(Some(msg.clone()));
                    if failing_since.values().any(|since| since.elapsed() > GIVE_UP_AFTER) {
                        return Err(MeterError::Kube(format!("{msg}; unreachable for more than {GIVE_UP_AFTER:?}, giving up")));
                    }
                    // The watcher resumes (relisting if needed) on the next poll; space them out.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                }
            }
        }
        Err(MeterError::Kube("the pod watch ended".into()))
    }

    /// Handles one event of the watch `w`.
    fn on_event(&self, w: &Watch, ev: Event<Pod>, changes: &mut Vec<Change>, ended_drivers: &mut Vec<(String, String, String, String)>) {
        self.health.events.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let mut t = self.tracker();
        match ev {
            Event::Init => {
                t.relisting.insert(w.clone(), HashSet::new());
            }
            Event::InitApply(pod) | Event::Apply(pod) => {
                let Some(mut r) = PodRecord::from_pod(&pod, now) else { return };
                if r.user.is_empty() {
                    r.user = self.owners.of(&r.namespace).unwrap_or_default();
                }
                if let Some(seen) = t.relisting.get_mut(w) {
                    seen.insert(r.uid.clone());
                }
                let fp = fingerprint(&r);
                if t.done.contains_key(&r.uid) || t.pods.get(&r.uid).map(|p| p.fingerprint) == Some(fp) {
                    return;
                }
                if r.ended() {
                    // A driver that ended while we watched, or while we were away (the archive
                    // skips one already archived): its log goes to the archive.
                    if r.role == Role::Driver {
                        ended_drivers.push((r.uid.clone(), r.namespace.clone(), r.job.clone(), r.name.clone()));
                    }
                    t.forget(&r.uid);
                    t.open_in_db.remove(&r.uid);
                    t.done.insert(r.uid.clone(), r.namespace.clone());
                } else {
                    let last_sample_ms = t
                        .pods
                        .get(&r.uid)
                        .and_then(|p| p.last_sample_ms)
                        .or_else(|| t.open_in_db.get(&r.uid).and_then(|o| o.last_sample_ms));
                    t.by_name.insert((r.namespace.clone(), r.name.clone()), r.uid.clone());
                    t.pods.insert(
                        r.uid.clone(),
                        Tracked {
                            namespace: r.namespace.clone(),
                            name: r.name.clone(),
                            started_ms: r.started_ms,
                            fingerprint: fp,
                            last_sample_ms,
                        },
                    );
                }
                changes.push(Change::Upsert(Box::new(r)));
            }
            Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid {
                    t.forget(&uid);
                    t.open_in_db.remove(&uid);
                    changes.push(Change::Gone { uid, at_ms: now, live: true });
                }
            }
            Event::InitDone => {
                // Of this watch's namespace(s): open in the database (or tracked before a relist)
                // but not listed, so deleted while nobody watched. They end now. Pods of other
                // watches are theirs to account for.
                let seen = t.relisting.remove(w).unwrap_or_default();
                t.done.retain(|u, ns| !in_watch(w, ns) || seen.contains(u));
                let from_db = t.open_in_db.values().filter(|o| in_watch(w, &o.namespace)).map(|o| &o.uid);
                let tracked = t.pods.iter().filter(|(_, p)| in_watch(w, &p.namespace)).map(|(u, _)| u);
                let gone: std::collections::BTreeSet<String> = from_db.chain(tracked).filter(|u| !seen.contains(*u)).cloned().collect();
                for uid in gone {
                    t.forget(&uid);
                    t.open_in_db.remove(&uid);
                    changes.push(Change::Gone { uid, at_ms: now, live: false });
                }
                t.open_in_db.retain(|_, o| !in_watch(w, &o.namespace));
                t.listed.insert(w.clone());
                if self.scope.watches().iter().all(|x| t.listed.contains(x)) {
                    self.health.synced.store(true, Ordering::Relaxed);
                }
            }
        }
        self.health.pods_watched.store(t.pods.len() as u64, Ordering::Relaxed);
    }

    /// Samples `metrics.k8s.io` every `interval`, forever, at the path of each watch (a
    /// namespace's own path is what a Role there may read). Without the API, or refused it (403),
    /// it says so once per watch and meters requests only (it keeps asking, in case that changes).
    pub async fn sample(&self, interval: Duration) {
        let mut said_missing = false;
        let mut said_forbidden: HashSet<Watch> = HashSet::new();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if !self.health.synced.load(Ordering::Relaxed) {
                continue;
            }
            let mut items = Vec::new();
            let (mut served, mut not_served) = (false, false);
            for w in self.scope.watches() {
                match crate::metrics_api::pod_metrics(&self.client, w.as_deref()).await {
                    Ok(Sampled::Served(found)) => {
                        served = true;
                        said_forbidden.remove(&w);
                        items.extend(found);
                    }
                    Ok(Sampled::NotServed) => not_served = true,
                    Ok(Sampled::Forbidden(message)) => {
                        if said_forbidden.insert(w.clone()) {
                            let place = w.as_deref().map_or_else(|| "in every namespace".to_owned(), |ns| format!("in namespace \"{ns}\""));
                            tracing::warn!(
                                "reading metrics.k8s.io pods {place} was refused (403 Forbidden: {message}): metering requests only there; \
                                 allow get and list on pods in API group metrics.k8s.io to record real usage"
                            );
                        }
                    }
                    Err(e) => tracing::warn!("sampling metrics.k8s.io: {e}"),
                }
            }
            self.health.metrics_served.store(served, Ordering::Relaxed);
            if !served {
                if not_served && !said_missing {
                    tracing::warn!("the cluster does not serve metrics.k8s.io (no metrics-server): metering requests only");
                    said_missing = true;
                }
                self.health.sample_rounds.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            said_missing = false;
            let samples = self.to_samples(items);
            let n = samples.len() as u64;
            match self.db.add_samples(&samples).await {
                Ok(()) => {
                    self.health.samples.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!("{e}");
                    // Let the next round stand for this one's window too.
                    let mut t = self.tracker();
                    for s in &samples {
                        if let Some(p) = t.pods.get_mut(&s.pod_uid) {
                            p.last_sample_ms = Some(s.at_ms - s.window_ms).filter(|v| *v > 0);
                        }
                    }
                }
            }
            self.health.sample_rounds.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Turns metrics items into samples of tracked pods, each standing for the time since that
    /// pod's previous sample (or its start); items already recorded are skipped.
    fn to_samples(&self, items: Vec<crate::metrics_api::PodUsage>) -> Vec<Sample> {
        let mut t = self.tracker();
        let mut out = Vec::new();
        for m in items {
            let Some(uid) = t.by_name.get(&(m.namespace, m.name)).cloned() else { continue };
            let Some(p) = t.pods.get_mut(&uid) else { continue };
            if p.last_sample_ms.is_some_and(|last| m.at_ms <= last) {
                continue;
            }
            // A pod without a start time has not run: its first sample stands for nothing.
            let from = p.last_sample_ms.or(p.started_ms).unwrap_or(m.at_ms);
            let window_ms = (m.at_ms - from).max(0);
            p.last_sample_ms = Some(m.at_ms);
            out.push(Sample { pod_uid: uid, at_ms: m.at_ms, cpu_nanocores: m.cpu_nanocores, memory_bytes: m.memory_bytes, window_ms });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DatabaseUrl;

    fn pod(uid: &str, name: &str, phase: &str) -> Pod {
        pod_in("n", uid, name, phase)
    }

    fn pod_in(namespace: &str, uid: &str, name: &str, phase: &str) -> Pod {
        let finished = if phase == "Succeeded" {
            serde_json::json!([{"name": "spark", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                                "state": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-27T10:01:00Z"}}}])
        } else {
            serde_json::json!([])
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "creationTimestamp": "2026-11-27T10:00:00Z",
                         "labels": {"app.kubernetes.io/managed-by": "sparkoss", "sparkoss.io/job": "j", "spark-role": "driver"}},
            "spec": {"containers": [{"name": "spark", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": phase, "startTime": "2026-11-27T10:00:01Z", "containerStatuses": finished}
        }))
        .expect("pod")
    }

    async fn collector(dir: &std::path::Path) -> Collector {
        collector_of(dir, Scope::Cluster).await
    }

    async fn collector_of(dir: &std::path::Path, scope: Scope) -> Collector {
        let db = Db::connect(&DatabaseUrl::parse(&format!("sqlite://{}/m.db", dir.display())).expect("url")).await.expect("db");
        // The client is never used by event handling; it points nowhere.
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("uri"))).expect("client");
        Collector::new(db, client, scope, None).await.expect("collector")
    }

    fn feed(c: &Collector, events: Vec<Event<Pod>>) -> (Vec<Change>, Vec<String>) {
        feed_from(c, &None, events)
    }

    /// Events of the watch `w`.
    fn feed_from(c: &Collector, w: &Watch, events: Vec<Event<Pod>>) -> (Vec<Change>, Vec<String>) {
        let (mut changes, mut ended) = (Vec::new(), Vec::new());
        for e in events {
            c.on_event(w, e, &mut changes, &mut ended);
        }
        (changes, ended.into_iter().map(|(uid, ..)| uid).collect())
    }

    #[tokio::test]
    async fn a_pod_without_a_user_label_is_its_namespaces_owners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = collector(dir.path()).await;
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n", "labels": {"sparkoss.io/user": "team-n"}}})).expect("ns");
        c.owners.on_event(Event::Apply(ns), &mut None);
        let mut own = pod("b", "pb", "Running");
        own.metadata.labels.get_or_insert_default().insert("sparkoss.io/user".into(), "ana".into());
        let (changes, _) =
            feed(&c, vec![Event::Apply(pod("a", "pa", "Running")), Event::Apply(own), Event::Apply(pod_in("m", "c", "pc", "Running"))]);
        let users: Vec<(String, String)> = changes
            .iter()
            .filter_map(|ch| match ch {
                Change::Upsert(r) => Some((r.uid.clone(), r.user.clone())),
                Change::Gone { .. } => None,
            })
            .collect();
        let want = [("a", "team-n"), ("b", "ana"), ("c", "")].map(|(u, n)| (u.to_owned(), n.to_owned()));
        assert_eq!(users, want, "the namespace's owner; the pod's own label wins; an unlabelled namespace leaves it empty");
    }

    fn kinds(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Upsert(r) => format!("upsert {} {}", r.uid, r.phase),
                Change::Gone { uid, .. } => format!("gone {uid}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn unchanged_pods_are_not_rewritten_and_a_restart_ends_pods_deleted_meanwhile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = collector(dir.path()).await;
        let (changes, _) = feed(
            &c,
            vec![Event::Init, Event::InitApply(pod("a", "pa", "Running")), Event::InitApply(pod("b", "pb", "Running")), Event::InitDone],
        );
        assert_eq!(kinds(&changes), ["upsert a Running", "upsert b Running"]);
        c.db.apply(&changes).await.expect("apply");
        assert!(c.health.synced.load(Ordering::Relaxed));

        // The same state again (a status heartbeat) writes nothing; an end writes once and
        // queues the driver's log; later updates of the ended pod write nothing.
        let (changes, ended) = feed(
            &c,
            vec![
                Event::Apply(pod("a", "pa", "Running")),
                Event::Apply(pod("a", "pa", "Succeeded")),
                Event::Apply(pod("a", "pa", "Succeeded")),
            ],
        );
        assert_eq!(kinds(&changes), ["upsert a Succeeded"]);
        assert_eq!(ended, ["a"]);
        c.db.apply(&changes).await.expect("apply");
        assert_eq!(c.health.pods_watched.load(Ordering::Relaxed), 1);

        // A new meter on the same database: b was deleted while none ran; the relist ends it.
        let c2 = collector(dir.path()).await;
        let (changes, ended) = feed(&c2, vec![Event::Init, Event::InitApply(pod("a", "pa", "Succeeded")), Event::InitDone]);
        assert_eq!(kinds(&changes), ["upsert a Succeeded", "gone b"]);
        assert_eq!(ended, ["a"], "an ended driver seen at start is offered to the archive (which skips one already archived)");
        c2.db.apply(&changes).await.expect("apply");
        let rows = c2.db.pods_between(0, i64::MAX).await.expect("rows");
        let b = rows.iter().find(|r| r.uid == "b").expect("b");
        assert!(b.deleted && b.ended_ms.is_some(), "{b:?}");
        let a = rows.iter().find(|r| r.uid == "a").expect("a");
        assert!(!a.deleted && a.ended_ms == Some(1_795_773_660_000), "{a:?}");
        assert!(c2.db.open_pods().await.expect("open").is_empty());
    }

    #[tokio::test]
    async fn each_namespace_relists_on_its_own_and_ends_only_its_own_pods() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scope = Scope::Namespaces(vec!["a".into(), "b".into()]);
        let (a, b) = (Some("a".to_owned()), Some("b".to_owned()));
        let c = collector_of(dir.path(), scope.clone()).await;
        let (changes, _) = feed_from(&c, &a, vec![Event::Init, Event::InitApply(pod_in("a", "a1", "p", "Running")), Event::InitDone]);
        c.db.apply(&changes).await.expect("apply");
        assert!(!c.health.synced.load(Ordering::Relaxed), "synced only once every namespace is listed");
        let (changes, _) = feed_from(
            &c,
            &b,
            vec![
                Event::Init,
                Event::InitApply(pod_in("b", "b1", "p", "Running")),
                Event::InitApply(pod_in("b", "b2", "q", "Running")),
                Event::InitDone,
            ],
        );
        c.db.apply(&changes).await.expect("apply");
        assert!(c.health.synced.load(Ordering::Relaxed));

        // a's watch relists (a reconnect) while b's does not: an empty relist of a ends a1 only.
        let (changes, _) = feed_from(&c, &a, vec![Event::Init, Event::InitDone]);
        assert_eq!(kinds(&changes), ["gone a1"]);
        c.db.apply(&changes).await.expect("apply");
        assert_eq!(c.health.pods_watched.load(Ordering::Relaxed), 2, "b's pods are still tracked");

        // A new meter on the same database: b2 was deleted while none ran. Each relist ends the
        // missing pods of its own namespace; a relist of a, which lists none of b's, ends none.
        let c2 = collector_of(dir.path(), scope).await;
        let open = c2.db.open_pods().await.expect("open");
        assert_eq!(open.iter().map(|o| (o.uid.as_str(), o.namespace.as_str())).collect::<Vec<_>>().len(), 2, "{open:?}");
        assert!(open.iter().all(|o| o.namespace == "b"), "{open:?}");
        let (changes, _) = feed_from(&c2, &a, vec![Event::Init, Event::InitApply(pod_in("a", "a2", "r", "Running")), Event::InitDone]);
        assert_eq!(kinds(&changes), ["upsert a2 Running"]);
        c2.db.apply(&changes).await.expect("apply");
        let (changes, _) = feed_from(&c2, &b, vec![Event::Init, Event::InitApply(pod_in("b", "b1", "p", "Running")), Event::InitDone]);
        assert_eq!(kinds(&changes), ["upsert b1 Running", "gone b2"]);
        c2.db.apply(&changes).await.expect("apply");
        let mut open: Vec<String> = c2.db.open_pods().await.expect("open").into_iter().map(|o| o.uid).collect();
        open.sort();
        assert_eq!(open, ["a2", "b1"]);

        // A meter that watches only a leaves b's open pods alone: it cannot know about them.
        let c3 = collector_of(dir.path(), Scope::Namespaces(vec!["a".into()])).await;
        let (changes, _) = feed_from(&c3, &a, vec![Event::Init, Event::InitDone]);
        assert_eq!(kinds(&changes), ["gone a2"]);
    }

    #[test]
    fn a_refused_watch_names_the_permission_and_the_way_out() {
        let e = refused_watch(&None, "pods is forbidden: User \"system:serviceaccount:a:meter\" cannot list resource \"pods\"");
        let text = e.to_string();
        assert!(
            text.starts_with("kubernetes refused to list and watch pods in every namespace (403 Forbidden: pods is forbidden: User"),
            "{text}"
        );
        assert!(text.contains("ClusterRole") && text.contains("--namespace"), "{text}");
        let e = refused_watch(&Some("b".into()), "no");
        assert!(e.to_string().contains("in namespace \"b\"") && e.to_string().contains("a Role in \"b\""), "{e}");

        let status = |code| Box::new(kube::core::Status { code, message: "m".into(), ..Default::default() });
        let list_failed = |code| watcher::Error::InitialListFailed(kube::Error::Api(status(code)));
        assert_eq!(forbidden(&list_failed(403)), Some("m"));
        assert_eq!(forbidden(&watcher::Error::WatchError(status(403))), Some("m"));
        assert_eq!(forbidden(&list_failed(500)), None, "an outage is retried");
        assert_eq!(forbidden(&watcher::Error::NoResourceVersion), None);
    }

    #[tokio::test]
    async fn samples_stand_for_the_time_since_the_previous_one_and_are_not_taken_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = collector(dir.path()).await;
        let (changes, _) = feed(&c, vec![Event::Init, Event::InitApply(pod("a", "pa", "Running")), Event::InitDone]);
        c.db.apply(&changes).await.expect("apply");
        let usage = |at_ms| crate::metrics_api::PodUsage {
            namespace: "n".into(),
            name: "pa".into(),
            at_ms,
            cpu_nanocores: 1_000_000_000,
            memory_bytes: 5,
        };
        let started = 1_795_773_601_000;
        let s = c.to_samples(vec![usage(started + 10_000), crate::metrics_api::PodUsage { name: "unknown".into(), ..usage(started) }]);
        assert_eq!(s.iter().map(|s| s.window_ms).collect::<Vec<_>>(), [10_000], "since the start; unknown pods are skipped");
        c.db.add_samples(&s).await.expect("samples");
        assert!(c.to_samples(vec![usage(started + 10_000)]).is_empty(), "the same metrics timestamp again");
        let s = c.to_samples(vec![usage(started + 25_000)]);
        assert_eq!(s[0].window_ms, 15_000);
        c.db.add_samples(&s).await.expect("samples");

        // After a restart the previous sample comes from the database.
        let c2 = collector(dir.path()).await;
        let (changes, _) = feed(&c2, vec![Event::Init, Event::InitApply(pod("a", "pa", "Running")), Event::InitDone]);
        c2.db.apply(&changes).await.expect("apply");
        let s = c2.to_samples(vec![usage(started + 25_000), usage(started + 40_000)]);
        assert_eq!(s.iter().map(|s| (s.at_ms - started, s.window_ms)).collect::<Vec<_>>(), [(40_000, 15_000)]);
    }
}
