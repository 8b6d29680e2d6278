"""What the official-SDK fidelity scripts share: an SDK client for the local ACK endpoint, the
runtime options (no SDK retries, bounded timeouts), a managed-cluster create request, and a
recorder of what the SDK puts on the wire."""

import json

from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models


def client(endpoint, ak, sk, region):
    """The official CS client for the emulator at ENDPOINT (plain HTTP)."""
    host = endpoint.split("://", 1)[-1]
    cfg = open_api_models.Config(access_key_id=ak, access_key_secret=sk, region_id=region, endpoint=host, protocol="http")
    return Client(cfg)


def runtime():
    """Runtime options: the SDK's own retries off, so the emulator's answers are seen as they are."""
    return util_models.RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=5000)


def cluster_request(name, region, **extra):
    """A CreateClusterRequest for a managed Pro cluster named NAME, with EXTRA fields."""
    return cs_models.CreateClusterRequest(
        name=name,
        region_id=region,
        cluster_type="ManagedKubernetes",
        cluster_spec="ack.pro.small",
        container_cidr="172.20.0.0/16",
        service_cidr="172.21.0.0/20",
        tags=[cs_models.Tag(key="team", value="data")],
        **extra,
    )


def record_wire():
    """From now on, every request the SDK sends is also recorded (action, method, path, query,
    JSON body) in the returned list, as the SDK hands it to its HTTP layer (after its models
    were serialised, so this is what ACK receives). The request is still sent."""
    from darabonba.core import DaraCore

    sent = []
    send = DaraCore.do_action

    def recording(request, runtime_option=None):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        sent.append({
            "action": request.headers.get("x-acs-action"),
            "method": request.method,
            "path": request.pathname,
            # compose_url writes each value with str(); so does this.
            "query": {k: str(v) for k, v in (request.query or {}).items() if v is not None},
            "body": json.loads(body) if body else None,
        })
        return send(request, runtime_option)

    DaraCore.do_action = staticmethod(recording)
    return sent
