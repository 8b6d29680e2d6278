//! The ACK API's routing table: each action's method and ROA path (CS API 2015-12-15), its name
//! (for fault rules and the call log) and the one handler that answers it.

use std::time::SystemTime;

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::{addons, clusters, error, nodepools, not_found, tasks, App, Cluster, Inner};

/// What a handler is given: the emulator, its records (locked for the whole call), the time of
/// the call and the request's parts.
pub(super) struct Call<'a> {
    /// The emulator.
    pub app: &'a App,
    /// Its records.
    pub inner: &'a mut Inner,
    /// When the call is served: every state it reads is evaluated at this instant.
    pub now: SystemTime,
    /// The Kubernetes emulator's endpoint, the API server of every emulated cluster.
    pub kube: String,
    /// The path's segments, percent-decoded (`["clusters", "<id>", "nodepools"]`).
    pub segs: &'a [&'a str],
    /// The query's parameters, decoded.
    pub query: &'a [(String, String)],
    /// The request body.
    pub body: &'a [u8],
    /// A `fail_create` fault's message, for CreateCluster.
    pub fail: Option<String>,
}

impl<'a> Call<'a> {
    /// The cluster the path names at segment `at`, with its id, when it exists and is not
    /// deleted; else the answer `ErrorClusterNotFound`.
    pub(super) fn cluster(&mut self, at: usize) -> Result<(&'a str, &mut Cluster), Box<Response>> {
        let id = self.segs[at];
        live_cluster(self.inner, id, self.now).map(|c| (id, c)).ok_or_else(|| Box::new(not_found(id)))
    }
}

/// A handler of one action.
type Handler = fn(&mut Call<'_>) -> Response;

/// One API action.
pub(super) struct Action {
    method: &'static str,
    /// The ROA path by segment, `*` where a parameter (a cluster, pool or task id) goes.
    path: &'static [&'static str],
    /// The action's name in ACK's API reference.
    pub name: &'static str,
    handler: Handler,
}

/// Every action the emulator serves.
const ACTIONS: &[Action] = &[
    Action { method: "POST", path: &["clusters"], name: "CreateCluster", handler: clusters::create },
    Action { method: "GET", path: &["clusters", "*"], name: "DescribeClusterDetail", handler: clusters::describe },
    Action { method: "DELETE", path: &["clusters", "*"], name: "DeleteCluster", handler: clusters::delete },
    Action { method: "GET", path: &["k8s", "*", "user_config"], name: "DescribeClusterUserKubeconfig", handler: clusters::user_kubeconfig },
    Action { method: "GET", path: &["api", "v1", "clusters"], name: "DescribeClustersV1", handler: clusters::list },
    Action { method: "GET", path: &["tasks", "*"], name: "DescribeTaskInfo", handler: tasks::describe },
    Action { method: "GET", path: &["clusters", "*", "nodepools"], name: "DescribeClusterNodePools", handler: nodepools::describe },
    Action { method: "PUT", path: &["clusters", "*", "nodepools", "*"], name: "ModifyClusterNodePool", handler: nodepools::modify },
    Action { method: "POST", path: &["clusters", "*", "nodepools"], name: "CreateClusterNodePool", handler: nodepools::create },
    Action { method: "DELETE", path: &["clusters", "*", "nodepools", "*"], name: "DeleteClusterNodepool", handler: nodepools::delete },
    Action { method: "PUT", path: &["api", "v2", "clusters", "*"], name: "ModifyCluster", handler: clusters::modify },
    Action { method: "POST", path: &["clusters", "*", "tags"], name: "ModifyClusterTags", handler: clusters::modify_tags },
    Action { method: "POST", path: &["clusters", "*", "components", "install"], name: "InstallClusterAddons", handler: addons::install },
    Action {
        method: "POST",
        path: &["clusters", "*", "components", "uninstall"],
        name: "UnInstallClusterAddons",
        handler: addons::uninstall,
    },
    Action { method: "GET", path: &["clusters", "*", "addon_instances"], name: "ListClusterAddonInstances", handler: addons::list },
];

/// The action a request asks for, if the emulator serves it.
pub(super) fn route(method: &Method, segs: &[&str]) -> Option<&'static Action> {
    ACTIONS
        .iter()
        .find(|a| a.method == method.as_str() && a.path.len() == segs.len() && a.path.iter().zip(segs).all(|(p, s)| *p == "*" || p == s))
}

/// Answers a call with its action's handler, or ACK's answer for an API it does not have.
pub(super) fn dispatch(action: Option<&Action>, call: &mut Call<'_>) -> Response {
    match action {
        Some(a) => (a.handler)(call),
        None => error(StatusCode::NOT_FOUND, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."),
    }
}

/// The cluster `id` if it exists and is not deleted at `now` (else the handler answers
/// `ErrorClusterNotFound`).
fn live_cluster<'a>(inner: &'a mut Inner, id: &str, now: SystemTime) -> Option<&'a mut Cluster> {
    inner.clusters.get_mut(id).filter(|c| c.state(now) != "deleted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_route() {
        let name = |m: Method, path: &str| route(&m, &path.split('/').collect::<Vec<_>>()).map(|a| a.name);
        assert_eq!(name(Method::POST, "clusters"), Some("CreateCluster"));
        assert_eq!(name(Method::GET, "clusters/c1"), Some("DescribeClusterDetail"));
        assert_eq!(name(Method::GET, "clusters/c1/nodepools"), Some("DescribeClusterNodePools"));
        assert_eq!(name(Method::PUT, "clusters/c1/nodepools/np1"), Some("ModifyClusterNodePool"));
        assert_eq!(name(Method::POST, "clusters/c1/components/uninstall"), Some("UnInstallClusterAddons"));
        assert_eq!(name(Method::GET, "api/v1/clusters"), Some("DescribeClustersV1"));
        assert_eq!(name(Method::PUT, "clusters/c1"), None);
        assert_eq!(name(Method::GET, "clusters/c1/nodepools/np1/extra"), None);
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len(), "one route per action");
    }
}
