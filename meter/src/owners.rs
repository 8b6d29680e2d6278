//! Who a namespace belongs to: its `sparkoss.io/user` label, which `sparkoss_namespace` sets on
//! a namespace made per team or user. A job's pods carry `sparkoss.io/user` themselves only when
//! the job names a user; the others are metered against their namespace's owner, so usage in a
//! team's namespace is the team's rather than nobody's. A pod's own label always wins.
//!
//! Namespaces are few and small, so the meter follows all of them with one watch and keeps only
//! the labelled ones' names and owners.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use crate::pod::USER_LABEL;

/// How long `run` waits for the first listing of namespaces before it records pods, so that
/// the first rows already carry their namespace's owner.
pub const FIRST_LISTING_WITHIN: Duration = Duration::from_secs(30);

/// Namespace → owner, as last listed or watched.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    map: Arc<RwLock<HashMap<String, String>>>,
}

impl Owners {
    /// The owner of `namespace`, when it is labelled.
    pub fn of(&self, namespace: &str) -> Option<String> {
        self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(namespace).cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, String>> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one watch event; `relist` collects a listing until it is complete, so that a
    /// namespace deleted while the watch was down disappears at the relist. Returns true when
    /// a listing has just completed.
    pub(crate) fn on_event(&self, ev: Event<Namespace>, relist: &mut Option<HashMap<String, String>>) -> bool {
        let owner = |ns: &Namespace| -> Option<(String, Option<String>)> {
            let name = ns.metadata.name.clone()?;
            let user = ns.metadata.labels.as_ref().and_then(|l| l.get(USER_LABEL)).filter(|u| !u.is_empty()).cloned();
            Some((name, user))
        };
        match ev {
            Event::Init => *relist = Some(HashMap::new()),
            Event::InitApply(ns) => {
                if let (Some((name, Some(user))), Some(r)) = (owner(&ns), relist.as_mut()) {
                    r.insert(name, user);
                }
            }
            Event::InitDone => {
                *self.write() = relist.take().unwrap_or_default();
                return true;
            }
            Event::Apply(ns) => {
                if let Some((name, user)) = owner(&ns) {
                    match user {
                        Some(user) => self.write().insert(name, user),
                        // The label was removed: the namespace has no owner any more.
                        None => self.write().remove(&name),
                    };
                }
            }
            Event::Delete(ns) => {
                if let Some(name) = ns.metadata.name {
                    self.write().remove(&name);
                }
            }
        }
        false
    }

    /// Follows the cluster's namespaces until the process ends, signalling `listed` after the
    /// first complete listing (or when it gives up). Without permission to list namespaces (a
    /// meter limited to Roles in some namespaces) it says once that pods without their own user
    /// label are metered with an empty user, and stops.
    pub async fn follow(self, client: Client, listed: tokio::sync::oneshot::Sender<()>) {
        let api: Api<Namespace> = Api::all(client);
        // The watcher's own backoff spaces out retries while the API is unreachable.
        let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
        let mut listed = Some(listed);
        let mut relist = None;
        let mut said_error = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    said_error = false;
                    if self.on_event(ev, &mut relist) {
                        if let Some(tx) = listed.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                Err(e) => match crate::collect::forbidden(&e) {
                    Some(message) => {
                        tracing::warn!(
                            "cannot list namespaces ({message}): pods without their own {USER_LABEL} label are metered with an empty \
                             user; allow get, list and watch on namespaces (a ClusterRole) to meter them against their namespace's \
                             {USER_LABEL}"
                        );
                        break;
                    }
                    None if !said_error => {
                        tracing::warn!("watching namespaces: {e} (retrying)");
                        said_error = true;
                    }
                    None => {}
                },
            }
        }
        if let Some(tx) = listed.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, user: Option<&str>) -> Namespace {
        let labels = user.map(|u| serde_json::json!({ USER_LABEL: u })).unwrap_or(serde_json::json!({}));
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": labels}})).expect("namespace")
    }

    #[test]
    fn owners_follow_labels_listings_and_deletions() {
        let o = Owners::default();
        let mut relist = None;
        assert!(!o.on_event(Event::Init, &mut relist));
        o.on_event(Event::InitApply(ns("team-a", Some("ana"))), &mut relist);
        o.on_event(Event::InitApply(ns("plain", None)), &mut relist);
        assert_eq!(o.of("team-a"), None, "a listing counts once it is complete");
        assert!(o.on_event(Event::InitDone, &mut relist));
        assert_eq!((o.of("team-a").as_deref(), o.of("plain")), (Some("ana"), None));

        o.on_event(Event::Apply(ns("team-b", Some("bo"))), &mut relist);
        o.on_event(Event::Apply(ns("team-a", None)), &mut relist);
        assert_eq!((o.of("team-a"), o.of("team-b").as_deref()), (None, Some("bo")), "a removed label removes the owner");
        o.on_event(Event::Delete(ns("team-b", Some("bo"))), &mut relist);
        assert_eq!(o.of("team-b"), None);

        // A relist after a disconnect replaces everything: team-c went while nobody watched.
        o.on_event(Event::Apply(ns("team-c", Some("cy"))), &mut relist);
        o.on_event(Event::Init, &mut relist);
        o.on_event(Event::InitApply(ns("team-d", Some("di"))), &mut relist);
        o.on_event(Event::InitDone, &mut relist);
        assert_eq!((o.of("team-c"), o.of("team-d").as_deref()), (None, Some("di")));
    }
}
