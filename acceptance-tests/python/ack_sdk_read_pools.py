"""Reads a cluster's node pools and add-ons back with the official SDK (alibabacloud-cs20151215),
through the SDK's own response models: DescribeClusterNodePools (each pool's taints, spot
strategy and spot price limits) and ListClusterAddonInstances.

Usage: ack_sdk_read_pools.py ENDPOINT REGION CLUSTER_ID (keys from ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)

Run by acceptance-tests/tests/cluster_sdk_fidelity.rs after Terraform applied a cluster. Prints
one JSON document: {"pools": [{name, taints, spot_strategy, spot_price_limit}], "addons": [names]}.
"""

import json
import os
import sys

from alibabacloud_cs20151215 import models as cs_models

from ack_sdk_common import client, runtime


def main():
    endpoint, region, cluster_id = sys.argv[1], sys.argv[2], sys.argv[3]
    c = client(endpoint, os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], region)
    pools = c.describe_cluster_node_pools_with_options(cluster_id, cs_models.DescribeClusterNodePoolsRequest(), {}, runtime()).body
    out = []
    for p in pools.nodepools:
        k8s = p.kubernetes_config
        sg = p.scaling_group
        out.append({
            "name": p.nodepool_info.name,
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in (k8s.taints or [])],
            "spot_strategy": sg.spot_strategy,
            "spot_price_limit": [{"instance_type": l.instance_type, "price_limit": l.price_limit} for l in (sg.spot_price_limit or [])],
        })
    addons = c.list_cluster_addon_instances_with_options(cluster_id, {}, runtime()).body
    print(json.dumps({"pools": out, "addons": [a.name for a in (addons.addons or [])]}))


if __name__ == "__main__":
    main()
