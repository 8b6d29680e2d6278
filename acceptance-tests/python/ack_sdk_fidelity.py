"""Calls the local ACK emulator with the official SDK (alibabacloud-cs20151215).

Usage: ack_sdk_fidelity.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION

Run by acceptance-tests/tests/cluster_sdk_fidelity.rs. Prints one JSON document on stdout with
what the SDK saw, so the Rust test asserts on it: a create/describe/list/kubeconfig/task/delete
round trip with the right keys, then the same SDK with a wrong secret (its error code); `wire` is
every request as the SDK sent it (method, path, query, body).
"""

import json
import os
import sys
import time

from alibabacloud_cs20151215 import models as cs_models

from ack_sdk_common import client, cluster_request, record_wire, runtime as sdk_runtime


def main():
    # The keys come through the environment, never the arguments (visible to every local user).
    endpoint, region = sys.argv[1:3]
    ak, sk = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    runtime = sdk_runtime()
    out = {"wire": record_wire()}
    c = client(endpoint, ak, sk, region)

    req = cluster_request(
        "sdk-fidelity",
        region,
        kubernetes_version="1.31.1-aliyun.1",
        deletion_protection=False,
        nodepools=[
            cs_models.Nodepool(
                nodepool_info=cs_models.NodepoolNodepoolInfo(name="workers"),
                scaling_group=cs_models.NodepoolScalingGroup(instance_types=["ecs.g7.xlarge"], system_disk_size=120),
                auto_scaling=cs_models.NodepoolAutoScaling(enable=True, min_instances=1, max_instances=3),
            )
        ],
    )
    created = c.create_cluster_with_options(req, {}, runtime).body
    cid = created.cluster_id
    out["created"] = {"cluster_id": cid, "task_id": created.task_id}

    states = []
    deadline = time.time() + 20
    while time.time() < deadline:
        d = c.describe_cluster_detail_with_options(cid, {}, runtime).body
        states.append(d.state)
        if d.state == "running":
            out["detail"] = {"name": d.name, "cluster_spec": d.cluster_spec, "current_version": d.current_version,
                             "tags": [{"key": t.key, "value": t.value} for t in (d.tags or [])]}
            break
        time.sleep(0.2)
    out["states"] = states

    # The query the provider's lookup by name sends.
    lst = c.describe_clusters_v1with_options(
        cs_models.DescribeClustersV1Request(name="sdk-fidelity", page_size=100, page_number=1, region_id=region), {}, runtime).body
    out["list"] = [x.cluster_id for x in (lst.clusters or [])]

    kc = c.describe_cluster_user_kubeconfig_with_options(
        cid, cs_models.DescribeClusterUserKubeconfigRequest(private_ip_address=False), {}, runtime).body
    server = [line.split("server:", 1)[1].strip() for line in kc.config.splitlines() if "server:" in line]
    out["kubeconfig_server"] = server[0] if server else None

    task = c.describe_task_info_with_options(created.task_id, {}, runtime).body
    out["task_state"] = task.state

    pools = c.describe_cluster_node_pools_with_options(cid, cs_models.DescribeClusterNodePoolsRequest(), {}, runtime).body
    out["pools"] = [(p.nodepool_info.name, p.auto_scaling.min_instances, p.auto_scaling.max_instances) for p in pools.nodepools]

    c.delete_cluster_with_options(cid, cs_models.DeleteClusterRequest(retain_all_resources=False), {}, runtime)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            c.describe_cluster_detail_with_options(cid, {}, runtime)
            time.sleep(0.2)
        out["deleted"] = "timeout"
    except Exception as e:  # the SDK raises TeaException with code and status
        out["deleted"] = getattr(e, "code", str(e))

    bad = client(endpoint, ak, sk + "x", region)
    try:
        bad.describe_clusters_v1with_options(cs_models.DescribeClustersV1Request(), {}, runtime)
        out["wrong_secret"] = "accepted"
    except Exception as e:
        out["wrong_secret"] = {"code": getattr(e, "code", None), "status": (getattr(e, "data", None) or {}).get("statusCode")}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
