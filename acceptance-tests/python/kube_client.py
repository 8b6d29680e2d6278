"""Drives the local cloud's Kubernetes API with the official Python client.

Usage: kube_client.py KUBECONFIG NAMESPACE
Creates NAMESPACE and two labelled pods, watches pods in it until both have ended (bounded by a
watch timeout), lists them by label selector, and prints one JSON document describing what it saw.
"""
import json
import sys

from kubernetes import client, config, watch


def main():
    kubeconfig, ns = sys.argv[1], sys.argv[2]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    start = v1.list_namespaced_pod(ns)
    for name in ("py-a", "py-b"):
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"sparkoss.io/job": "py", "spark-role": "driver"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox:1.36")], restart_policy="Never"),
        )
        v1.create_namespaced_pod(ns, pod)
    events = []
    ended = set()
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, ns, resource_version=start.metadata.resource_version, timeout_seconds=20):
        pod = ev["object"]
        events.append({"type": ev["type"], "name": pod.metadata.name, "phase": pod.status.phase})
        if pod.status.phase in ("Succeeded", "Failed"):
            ended.add(pod.metadata.name)
        if len(ended) == 2:
            w.stop()
    listed = v1.list_namespaced_pod(ns, label_selector="sparkoss.io/job=py,spark-role in (driver)")
    none = v1.list_namespaced_pod(ns, label_selector="sparkoss.io/job!=py")
    log = v1.read_namespaced_pod_log("py-a", ns, tail_lines=2)
    print(json.dumps({
        "events": events,
        "listed": sorted(p.metadata.name for p in listed.items),
        "phases": sorted(p.status.phase for p in listed.items),
        "not_matching": len(none.items),
        "log_tail": log.splitlines(),
    }))


if __name__ == "__main__":
    main()
