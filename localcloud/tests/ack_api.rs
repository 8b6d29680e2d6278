//! The ACK client (`sparkoss_aliyun::ack`) against the ACK emulator: typed answers and errors,
//! asynchronous states, deletion protection, bounded retries under throttling and 5xx storms,
//! lost answers, and a create that fails half-way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sparkoss_aliyun::ack::model::*;
use sparkoss_aliyun::ack::{AckClient, AckError};
use sparkoss_aliyun::credentials::CredentialsProvider;
use sparkoss_aliyun::retry::RetryPolicy;
use sparkoss_aliyun::signing::Credentials;
use sparkoss_localcloud::{self as localcloud, ack::Control, Config, LocalCloud};

const AK: &str = "LTAIapi";
const SK: &str = "api-secret";

async fn cloud(delay: Duration) -> (LocalCloud, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        listen: [127, 0, 0, 1].into(),
        data_dir: dir.path().to_path_buf(),
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
        create_delay: delay,
        kubelet: false,
        node_cpus: None,
    };
    (localcloud::start(config).await.expect("starts"), dir)
}

fn client(c: &LocalCloud, secret: &str) -> AckClient {
    let fast = RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_elapsed: Duration::from_secs(5),
    };
    AckClient::new(&c.endpoints.region, Some(&c.endpoints.ack_endpoint), CredentialsProvider::fixed(Credentials::new(AK, secret)))
        .expect("client")
        .with_retry(fast)
}

fn request(name: &str) -> CreateClusterRequest {
    CreateClusterRequest {
        name: name.into(),
        region_id: "cn-local".into(),
        cluster_type: "ManagedKubernetes".into(),
        cluster_spec: "ack.pro.small".into(),
        container_cidr: "172.20.0.0/16".into(),
        service_cidr: "172.21.0.0/20".into(),
        tags: vec![Tag { key: "sparkoss.io/cluster".into(), value: name.into() }],
        nodepools: vec![NodePool {
            nodepool_info: NodePoolInfo { name: "workers".into(), nodepool_id: None },
            scaling_group: ScalingGroup { instance_types: vec!["ecs.g7.xlarge".into()], system_disk_size: 120, ..Default::default() },
            auto_scaling: AutoScaling { enable: true, min_instances: 1, max_instances: 3 },
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn wait_state(c: &AckClient, id: &str, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let d = c.describe_cluster_detail(id).await.expect("describes");
        seen.push(d.state.clone());
        if d.state == want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cluster {id} never reached {want}: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_with_typed_answers_and_deletion_protection() {
    let (cloud, _dir) = cloud(Duration::from_millis(400)).await;
    let c = client(&cloud, SK);
    let mut req = request("life");
    req.deletion_protection = true;
    let created = c.create_cluster(&req).await.expect("creates");
    let seen = wait_state(&c, &created.cluster_id, "running").await;
    assert_eq!(seen[0], "initial");
    let d = c.describe_cluster_detail(&created.cluster_id).await.expect("detail");
    assert_eq!(d.api_server_endpoint().as_deref(), Some(cloud.endpoints.kubernetes_endpoint.as_str()));
    assert_eq!(c.describe_task_info(&created.task_id).await.expect("task").state, "success");
    let kc = c.describe_user_kubeconfig(&created.cluster_id).await.expect("kubeconfig");
    assert!(
        kc.config.contains(&format!("server: {}", cloud.endpoints.kubernetes_endpoint)),
        "kubeconfig points at the local Kubernetes API"
    );
    assert!(!format!("{kc:?}").contains("token:"), "Debug of a kubeconfig hides it");

    let mut pool = c.describe_node_pools(&created.cluster_id).await.expect("pools").nodepools.remove(0);
    pool.auto_scaling.max_instances = 7;
    c.modify_node_pool(&created.cluster_id, &pool).await.expect("scales");
    assert_eq!(c.describe_node_pools(&created.cluster_id).await.expect("pools").nodepools[0].auto_scaling.max_instances, 7);
    c.modify_cluster_tags(
        &created.cluster_id,
        &[Tag { key: "sparkoss.io/cluster".into(), value: "life".into() }, Tag { key: "team".into(), value: "a".into() }],
    )
    .await
    .expect("tags");
    assert_eq!(c.describe_cluster_detail(&created.cluster_id).await.expect("detail").tag("team"), Some("a"));
    let found = c.find_cluster_by_name("life", "sparkoss.io/cluster").await.expect("lists");
    assert_eq!(found.map(|f| f.cluster_id), Some(created.cluster_id.clone()));
    assert!(c.find_cluster_by_name("lif", "sparkoss.io/cluster").await.expect("lists").is_none(), "names match exactly");

    match c.delete_cluster(&created.cluster_id).await {
        Err(AckError::Api { status: 400, code, request_id, .. }) => {
            assert_eq!(code, "ErrorDeletionProtection");
            assert!(!request_id.is_empty());
        }
        other => panic!("deletion protection must refuse: {other:?}"),
    }
    c.modify_deletion_protection(&created.cluster_id, false).await.expect("unprotects");
    c.delete_cluster(&created.cluster_id).await.expect("deletes");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.describe_cluster_detail(&created.cluster_id).await {
            Ok(d) => assert_eq!(d.state, "deleting"),
            Err(e) => {
                assert!(e.is_not_found(), "{e}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_refused_with_a_typed_error() {
    let (cloud, _dir) = cloud(Duration::from_millis(100)).await;
    let err = client(&cloud, "wrong").describe_clusters_v1(None, 1).await.expect_err("refused");
    match &err {
        AckError::Api { status, code, request_id, message, .. } => {
            assert_eq!((*status, code.as_str()), (400, "SignatureDoesNotMatch"));
            assert!(!request_id.is_empty() && message.contains("string to sign"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("wrong"), "the secret never appears in errors: {err}");
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_5xx_are_retried_within_bounds() {
    let (cloud, _dir) = cloud(Duration::from_millis(100)).await;
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    let c = client(&cloud, SK);
    ctl.add_faults(json!([{"action": "DescribeClustersV1", "kind": "throttle", "times": 2}, {"action": "DescribeClustersV1", "kind": "server_error", "times": 1}]))
        .expect("faults");
    c.describe_clusters_v1(None, 1).await.expect("succeeds after 3 retries");
    assert_eq!(ctl.count("DescribeClustersV1").expect("calls"), 4);
    assert_eq!(c.calls(), 4);

    ctl.add_faults(json!([{"action": "DescribeClustersV1", "kind": "server_error"}])).expect("faults");
    let started = Instant::now();
    let err = c.describe_clusters_v1(None, 1).await.expect_err("a storm outlasts the budget");
    assert!(matches!(err, AckError::Api { status: 500, .. }), "{err}");
    assert_eq!(ctl.count("DescribeClustersV1").expect("calls"), 8, "exactly max_attempts more tries");
    assert!(started.elapsed() < Duration::from_secs(5));
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_not_retried_and_the_cluster_is_found() {
    let (cloud, _dir) = cloud(Duration::from_millis(100)).await;
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    let c = client(&cloud, SK);
    ctl.add_faults(json!([{"action": "CreateCluster", "kind": "drop", "times": 1}])).expect("faults");
    let err = c.create_cluster(&request("lost")).await.expect_err("answer lost");
    assert!(matches!(err, AckError::Transport { maybe_applied: true, .. }), "{err}");
    assert_eq!(ctl.count("CreateCluster").expect("calls"), 1, "a POST whose answer was lost is not resent");
    let found = c.find_cluster_by_name("lost", "sparkoss.io/cluster").await.expect("lists").expect("the cluster exists");
    assert_eq!(ctl.live_clusters().expect("clusters").len(), 1);
    assert_eq!(found.name, "lost");
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_failing_half_way_reports_the_reason() {
    let (cloud, _dir) = cloud(Duration::from_millis(300)).await;
    let ctl = Control::new(&cloud.endpoints.ack_endpoint);
    let c = Arc::new(client(&cloud, SK));
    ctl.add_faults(json!([{"kind": "fail_create", "times": 1, "message": "ECS quota exceeded in cn-local-a"}])).expect("faults");
    let created = c.create_cluster(&request("doomed")).await.expect("accepted");
    let seen = wait_state(&c, &created.cluster_id, "failed").await;
    assert_eq!(seen[0], "initial");
    let task = c.describe_task_info(&created.task_id).await.expect("task");
    assert_eq!(task.state, "fail", "ACK spells a failed task `fail`");
    assert_eq!(task.error.expect("error").message, "ECS quota exceeded in cn-local-a");
    c.delete_cluster(&created.cluster_id).await.expect("a failed cluster can be deleted");
    cloud.stop().await;
}

/// Polls DescribeClusterNodePools until pool `np` is in state `want` (`None`: no longer listed);
/// returns the states seen on the way.
async fn wait_pool(c: &AckClient, cluster: &str, np: &str, want: Option<&str>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let pools = c.describe_node_pools(cluster).await.expect("pools").nodepools;
        let state = pools.iter().find(|p| p.nodepool_info.nodepool_id.as_deref() == Some(np)).map(|p| p.state().to_owned());
        seen.push(state.clone().unwrap_or_else(|| "gone".into()));
        if state.as_deref() == want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("pool {np} never reached {want:?}: {seen:?}");
}

fn api_code(r: Result<impl std::fmt::Debug, AckError>) -> (u16, String) {
    match r {
        Err(AckError::Api { status, code, request_id, .. }) => {
            assert!(!request_id.is_empty(), "ACK-shaped errors carry a request id");
            (status, code)
        }
        other => panic!("expected an ACK error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_pools_are_added_scaled_and_removed_on_a_running_cluster() {
    let (cloud, _dir) = cloud(Duration::from_millis(400)).await;
    let c = client(&cloud, SK);
    let created = c.create_cluster(&request("pools")).await.expect("creates");
    let extra = NodePool {
        nodepool_info: NodePoolInfo { name: "spark".into(), nodepool_id: None },
        scaling_group: ScalingGroup { instance_types: vec!["ecs.g7.2xlarge".into()], system_disk_size: 120, ..Default::default() },
        auto_scaling: AutoScaling { enable: true, min_instances: 2, max_instances: 5 },
        ..Default::default()
    };
    // Pools made with the cluster follow it; new pools wait for a running cluster.
    let first = c.describe_node_pools(&created.cluster_id).await.expect("pools").nodepools.remove(0);
    assert_eq!(first.state(), "initial");
    assert_eq!(api_code(c.create_node_pool(&created.cluster_id, &extra).await), (400, "ErrorClusterState".into()));
    wait_state(&c, &created.cluster_id, "running").await;
    let first_id = first.nodepool_info.nodepool_id.clone().expect("id");
    assert_eq!(wait_pool(&c, &created.cluster_id, &first_id, Some("active")).await.last().map(String::as_str), Some("active"));

    let np = c.create_node_pool(&created.cluster_id, &extra).await.expect("adds a pool");
    assert!(np.nodepool_id.starts_with("np") && !np.task_id.is_empty());
    assert_eq!(api_code(c.create_node_pool(&created.cluster_id, &extra).await), (400, "ErrorParam".into()), "names are unique");
    let seen = wait_pool(&c, &created.cluster_id, &np.nodepool_id, Some("active")).await;
    assert_eq!(seen[0], "initial", "a new pool starts initial: {seen:?}");
    assert_eq!(c.describe_task_info(&np.task_id).await.expect("task").state, "success");

    let mut pool = c
        .describe_node_pools(&created.cluster_id)
        .await
        .expect("pools")
        .nodepools
        .into_iter()
        .find(|p| p.nodepool_info.nodepool_id.as_deref() == Some(np.nodepool_id.as_str()))
        .expect("listed");
    assert_eq!(pool.status.as_ref().map(|s| s.total_nodes), Some(2));
    pool.auto_scaling.max_instances = 8;
    let task = c.modify_node_pool(&created.cluster_id, &pool).await.expect("scales").task_id;
    assert_eq!(c.describe_task_info(&task).await.expect("task").state, "running");
    let busy = c.modify_node_pool(&created.cluster_id, &pool).await.expect_err("busy pools refuse");
    assert!(busy.is_pool_busy(), "the client recognises the refusal by its class: {busy}");
    assert_eq!(api_code(Err::<(), _>(busy)), (400, "ErrorNodePoolState".into()), "busy pools refuse");
    let seen = wait_pool(&c, &created.cluster_id, &np.nodepool_id, Some("active")).await;
    assert_eq!(seen[0], "scaling", "{seen:?}");

    let not_empty = c.delete_node_pool(&created.cluster_id, &np.nodepool_id, false).await.expect_err("a pool with nodes needs force");
    assert!(not_empty.is_pool_not_empty() && !not_empty.is_pool_busy(), "the client recognises the refusal by its class: {not_empty}");
    assert_eq!(api_code(Err::<(), _>(not_empty)), (400, "ErrorNodePoolNotEmpty".into()), "a pool with nodes needs force");
    c.delete_node_pool(&created.cluster_id, &np.nodepool_id, true).await.expect("deletes");
    let seen = wait_pool(&c, &created.cluster_id, &np.nodepool_id, None).await;
    assert_eq!(seen[0], "deleting", "{seen:?}");
    let err = c.delete_node_pool(&created.cluster_id, &np.nodepool_id, true).await.expect_err("gone");
    assert!(err.is_not_found(), "{err}");
    let left = c.describe_node_pools(&created.cluster_id).await.expect("pools").nodepools;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].nodepool_info.nodepool_id.as_deref(), Some(first_id.as_str()));
    cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_records_survive_a_restart_of_the_local_cloud() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || Config {
        listen: [127, 0, 0, 1].into(),
        data_dir: dir.path().to_path_buf(),
        access_key_id: AK.into(),
        access_key_secret: SK.into(),
        create_delay: Duration::from_millis(300),
        kubelet: false,
        node_cpus: None,
    };
    let first = localcloud::start(config()).await.expect("starts");
    let c = client(&first, SK);
    let created = c.create_cluster(&request("kept")).await.expect("creates");
    let gone = c.create_cluster(&request("dropped")).await.expect("creates");
    wait_state(&c, &gone.cluster_id, "running").await;
    c.delete_cluster(&gone.cluster_id).await.expect("deletes");
    first.stop().await;

    let second = localcloud::start(config()).await.expect("restarts");
    let c = client(&second, SK);
    // The create's clock kept running while the cloud was down.
    wait_state(&c, &created.cluster_id, "running").await;
    let d = c.describe_cluster_detail(&created.cluster_id).await.expect("still known");
    assert_eq!(d.name, "kept");
    assert_eq!(c.describe_node_pools(&created.cluster_id).await.expect("pools").nodepools.len(), 1);
    assert!(c.find_cluster_by_name("kept", "sparkoss.io/cluster").await.expect("lists").is_some());
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.describe_cluster_detail(&gone.cluster_id).await.is_ok() {
        assert!(Instant::now() < deadline, "the deletion goes on after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = c.create_cluster(&request("new")).await.expect("creates");
    assert!(![created.cluster_id.as_str(), gone.cluster_id.as_str()].contains(&again.cluster_id.as_str()), "ids are not reused");
    second.stop().await;
}
