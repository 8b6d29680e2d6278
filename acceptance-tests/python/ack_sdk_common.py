"""What the official-SDK fidelity scripts share: an SDK client for the local ACK endpoint, the
runtime options (no SDK retries, bounded timeouts) and a managed-cluster create request."""

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
