"""Calls the local ACK emulator with the official SDK (alibabacloud-cs20151215) for every node pool
and cluster change the provider makes.

Usage: ack_sdk_node_pools.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION

Run by acceptance-tests/tests/cluster_sdk_fidelity.rs. Creates a cluster, then, each with the
SDK's own request models: CreateClusterNodePool, DescribeTaskInfo, DescribeClusterNodePools (the
status fields), ModifyClusterNodePool with a partial body (only `auto_scaling`) and with a
misspelled field (through the SDK's generic call_api),
a ModifyClusterNodePool with the whole pool (as the provider sends it), DeleteClusterNodepool,
ModifyCluster and ModifyClusterTags. Prints one JSON document on stdout with what the SDK saw, the
request models it sent (`to_map()`, the tea library's own serialisation) and every request as it
went on the wire (`wire`: method, path, query, body), which the Rust test compares with what our
client sends for the same calls.
"""

import json
import os
import sys
import time

from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_tea_openapi import utils_models as open_api_util_models

from ack_sdk_common import client, cluster_request, record_wire, runtime as sdk_runtime

DEADLINE_S = 20


def poll(what, fn, done):
    """Calls fn until done(result) or DEADLINE_S pass; returns every result seen."""
    seen = []
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        r = fn()
        seen.append(r)
        if done(r):
            return seen
        time.sleep(0.2)
    raise SystemExit(f"{what}: not done after {DEADLINE_S}s: {seen[-3:]}")


def pool_view(p):
    s = p.status
    return {
        "id": p.nodepool_info.nodepool_id,
        "name": p.nodepool_info.name,
        "min": p.auto_scaling.min_instances if p.auto_scaling else None,
        "max": p.auto_scaling.max_instances if p.auto_scaling else None,
        "instance_types": p.scaling_group.instance_types if p.scaling_group else None,
        "state": s.state if s else None,
        "total_nodes": s.total_nodes if s else None,
        "healthy_nodes": s.healthy_nodes if s else None,
    }


def spark_pool(model, lo, hi):
    """The "spark" pool as the SDK model MODEL (CreateClusterNodePoolRequest or
    ModifyClusterNodePoolRequest, whose nested models are named after it), autoscaling LO..HI."""
    m = lambda suffix: getattr(cs_models, model + suffix)  # noqa: E731
    return m("")(
        nodepool_info=m("NodepoolInfo")(name="spark"),
        scaling_group=m("ScalingGroup")(instance_types=["ecs.g7.xlarge"], system_disk_size=120),
        auto_scaling=m("AutoScaling")(enable=True, min_instances=lo, max_instances=hi),
        kubernetes_config=m("KubernetesConfig")(labels=[cs_models.Tag(key="sparkoss.io/pool", value="spark")]),
    )


def main():
    # The keys come through the environment, never the arguments (visible to every local user).
    endpoint, region = sys.argv[1:3]
    ak, sk = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    runtime = sdk_runtime()
    c = client(endpoint, ak, sk, region)
    # "requests": the SDK's request models; "responses": the SDK's models of the answers (to_map),
    # which the Rust test parses with our client's types.
    out = {"requests": {}, "responses": {}}
    out["wire"] = record_wire()

    created = c.create_cluster_with_options(cluster_request("sdk-pools", region, deletion_protection=True), {}, runtime).body
    cid = created.cluster_id
    out["cluster_id"] = cid
    poll("cluster running", lambda: c.describe_cluster_detail_with_options(cid, {}, runtime).body.state, lambda s: s == "running")

    def pools():
        body = c.describe_cluster_node_pools_with_options(cid, cs_models.DescribeClusterNodePoolsRequest(), {}, runtime).body
        out["responses"]["DescribeClusterNodePools"] = body.to_map()
        return [pool_view(p) for p in (body.nodepools or [])]

    def task(task_id):
        t = c.describe_task_info_with_options(task_id, {}, runtime).body
        out["responses"]["DescribeTaskInfo"] = t.to_map()
        return {"task_id": t.task_id, "cluster_id": t.cluster_id, "state": t.state, "task_type": t.task_type,
                "target": {"id": t.target.id, "type": t.target.type} if t.target else None}

    create_req = spark_pool("CreateClusterNodePoolRequest", 1, 3)
    out["requests"]["CreateClusterNodePool"] = create_req.to_map()
    np_created = c.create_cluster_node_pool_with_options(cid, create_req, {}, runtime).body
    out["responses"]["CreateClusterNodePool"] = np_created.to_map()
    np = np_created.nodepool_id
    out["created_pool"] = {"nodepool_id": np, "task_id": np_created.task_id}
    out["create_task"] = poll("pool create task", lambda: task(np_created.task_id), lambda t: t["state"] != "running")
    out["pools_after_create"] = pools()

    # A misspelled field, sent through the SDK's generic call (its models cannot misspell).
    misspelled = open_api_util_models.Params(
        action="ModifyClusterNodePool", version="2015-12-15", protocol="HTTP", method="PUT", auth_type="AK", style="ROA",
        pathname=f"/clusters/{cid}/nodepools/{np}", req_body_type="json", body_type="json")
    try:
        c.call_api(misspelled, open_api_util_models.OpenApiRequest(body={"auto_scaling": {"min_instance": 2}}), runtime)
        out["misspelled"] = "accepted"
    except Exception as e:  # the SDK raises with ACK's code, message and HTTP status
        out["misspelled"] = {"code": getattr(e, "code", None), "message": getattr(e, "message", None),
                             "status": (getattr(e, "data", None) or {}).get("statusCode")}

    modify_req = cs_models.ModifyClusterNodePoolRequest(
        auto_scaling=cs_models.ModifyClusterNodePoolRequestAutoScaling(enable=True, min_instances=2, max_instances=5))
    out["requests"]["ModifyClusterNodePool"] = modify_req.to_map()
    modified = c.modify_cluster_node_pool_with_options(cid, np, modify_req, {}, runtime).body
    out["responses"]["ModifyClusterNodePool"] = modified.to_map()
    out["modify_task_id"] = modified.task_id
    out["modify_states"] = [
        [p["state"] for p in ps if p["id"] == np]
        for ps in poll("pool modified", pools, lambda ps: any(p["id"] == np and p["state"] == "active" for p in ps))
    ]
    out["pools_after_modify"] = pools()
    out["responses"]["DescribeClusterNodePools after modify"] = out["responses"]["DescribeClusterNodePools"]

    # The provider's ModifyClusterNodePool: the whole pool as configured (same bounds, so nothing
    # else changes); then wait until the pool is active again.
    full_modify = spark_pool("ModifyClusterNodePoolRequest", 2, 5)
    c.modify_cluster_node_pool_with_options(cid, np, full_modify, {}, runtime)
    poll("pool modified again", pools, lambda ps: any(p["id"] == np and p["state"] == "active" for p in ps))

    delete_req = cs_models.DeleteClusterNodepoolRequest(force=True)
    out["requests"]["DeleteClusterNodepool"] = delete_req.to_map()
    deleted = c.delete_cluster_nodepool_with_options(cid, np, delete_req, {}, runtime).body
    out["delete_task"] = poll("pool delete task", lambda: task(deleted.task_id), lambda t: t["state"] != "running")[-1]
    out["pools_after_delete"] = pools()

    modify_cluster = cs_models.ModifyClusterRequest(deletion_protection=False)
    out["requests"]["ModifyCluster"] = modify_cluster.to_map()
    c.modify_cluster_with_options(cid, modify_cluster, {}, runtime)
    tags_req = cs_models.ModifyClusterTagsRequest(body=[cs_models.Tag(key="team", value="ml"), cs_models.Tag(key="env", value="dev")])
    out["requests"]["ModifyClusterTags"] = tags_req.to_map()
    c.modify_cluster_tags_with_options(cid, tags_req, {}, runtime)
    d = c.describe_cluster_detail_with_options(cid, {}, runtime).body
    out["detail"] = {"deletion_protection": d.deletion_protection, "tags": [{"key": t.key, "value": t.value} for t in (d.tags or [])]}

    c.delete_cluster_with_options(cid, cs_models.DeleteClusterRequest(), {}, runtime)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
