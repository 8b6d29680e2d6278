"""Uses the local OSS emulator through the official SDKs: oss2 (signature V1 and V4) and
alibabacloud-oss-v2 (V4).

Reads OSS_ENDPOINT, OSS_REGION, OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET from the environment
(keys never go on a command line). Run by acceptance-tests/tests/oss_sdk_fidelity.rs. Prints one
JSON document with what each SDK saw, so the Rust test asserts on it: create bucket, PutObject,
GetObject (whole and a range), HeadObject (size, ETag, CRC-64), multipart upload, ListObjectsV2,
a presigned GET, NoSuchKey, and a wrong secret (its error code). Both SDKs check CRC-64 of
uploads and downloads themselves, so a wrong checksum in the emulator fails the calls.
"""

import json
import os
import sys
import urllib.request

import alibabacloud_oss_v2 as ossv2
import oss2

ENDPOINT = os.environ["OSS_ENDPOINT"]
REGION = os.environ["OSS_REGION"]
AK = os.environ["OSS_ACCESS_KEY_ID"]
SK = os.environ["OSS_ACCESS_KEY_SECRET"]

KEY = "dir/odd key+~é.bin"
DATA = bytes((i * 31 + 7) % 251 for i in range(300 * 1024))
PART = 100 * 1024


def oss2_round(auth_name):
    auth = oss2.Auth(AK, SK) if auth_name == "v1" else oss2.AuthV4(AK, SK)
    name = "fidelity-oss2-" + auth_name
    bucket = oss2.Bucket(auth, ENDPOINT, name, region=REGION)
    bucket.create_bucket()
    put = bucket.put_object(KEY, DATA)
    got = bucket.get_object(KEY).read()
    part = bucket.get_object(KEY, byte_range=(10, 19)).read()
    head = bucket.head_object(KEY)
    upload = bucket.init_multipart_upload("multi.bin").upload_id
    parts = []
    for n, start in enumerate(range(0, len(DATA), PART), 1):
        r = bucket.upload_part("multi.bin", upload, n, DATA[start:start + PART])
        parts.append(oss2.models.PartInfo(n, r.etag))
    bucket.complete_multipart_upload("multi.bin", upload, parts)
    multi = bucket.get_object("multi.bin").read()
    listed = sorted(o.key for o in oss2.ObjectIteratorV2(bucket, max_keys=1))
    url = bucket.sign_url("GET", KEY, 300)
    presigned = urllib.request.urlopen(url).read()
    try:
        bucket.get_object("missing.bin")
        missing = None
    except oss2.exceptions.NoSuchKey as e:
        missing = {"status": e.status, "code": e.code, "request_id": e.request_id}
    wrong_auth = oss2.Auth(AK, "wrong-secret") if auth_name == "v1" else oss2.AuthV4(AK, "wrong-secret")
    try:
        oss2.Bucket(wrong_auth, ENDPOINT, name, region=REGION).get_object(KEY).read()
        wrong = None
    except oss2.exceptions.OssError as e:
        wrong = {"status": e.status, "code": e.code}
    return {
        "put_etag": put.etag,
        "put_crc": put.crc,
        "get_ok": got == DATA,
        "range": list(part),
        "expected_range": list(DATA[10:20]),
        "head_size": head.content_length,
        "head_etag": head.etag,
        "head_crc": head.server_crc,
        "multipart_ok": multi == DATA,
        "listed": listed,
        "presigned_ok": presigned == DATA,
        "missing": missing,
        "wrong_secret": wrong,
    }


def v2_client(secret):
    cfg = ossv2.config.load_default()
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(AK, secret)
    cfg.region = REGION
    cfg.endpoint = ENDPOINT
    cfg.use_path_style = True
    return ossv2.Client(cfg)


def v2_error(e):
    inner = e.unwrap() if hasattr(e, "unwrap") else e
    return {"status": getattr(inner, "status_code", None), "code": getattr(inner, "code", None), "request_id": getattr(inner, "request_id", None)}


def v2_round():
    name = "fidelity-ossv2"
    c = v2_client(SK)
    c.put_bucket(ossv2.PutBucketRequest(bucket=name))
    put = c.put_object(ossv2.PutObjectRequest(bucket=name, key=KEY, body=DATA))
    got = c.get_object(ossv2.GetObjectRequest(bucket=name, key=KEY)).body.read()
    part = c.get_object(ossv2.GetObjectRequest(bucket=name, key=KEY, range_header="bytes=10-19")).body.read()
    head = c.head_object(ossv2.HeadObjectRequest(bucket=name, key=KEY))
    listed = sorted(o.key for o in (c.list_objects_v2(ossv2.ListObjectsV2Request(bucket=name)).contents or []))
    try:
        c.head_object(ossv2.HeadObjectRequest(bucket=name, key="missing.bin"))
        missing = None
    except Exception as e:  # the SDK wraps service errors in OperationError
        missing = v2_error(e)
    try:
        v2_client("wrong-secret").get_object(ossv2.GetObjectRequest(bucket=name, key=KEY)).body.read()
        wrong = None
    except Exception as e:
        wrong = v2_error(e)
    return {
        "put_etag": put.etag,
        "put_crc": put.hash_crc64,
        "get_ok": got == DATA,
        "range": list(part),
        "expected_range": list(DATA[10:20]),
        "head_size": head.content_length,
        "head_etag": head.etag,
        "head_crc": head.hash_crc64,
        "listed": listed,
        "missing": missing,
        "wrong_secret": wrong,
    }


def main():
    out = {"oss2_version": oss2.__version__, "ossv2_version": ossv2.__version__ if hasattr(ossv2, "__version__") else None}
    out["oss2_v1"] = oss2_round("v1")
    out["oss2_v4"] = oss2_round("v4")
    out["ossv2"] = v2_round()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
