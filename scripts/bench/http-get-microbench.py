# The Python side of http-get-microbench.mjs: GETs the same objects the same way the reference's
# backends do (boto3 get_object().read() for S3, requests.get(...).content for rclone's file
# serving) plus plain urllib on a presigned URL, and prints one JSON line per case with the wall
# time and the CPU time (this process only) per GET.
# argv[1]: JSON {"s3": {endpoint, key, secret, bucket, keys: {label: key}} | null,
#                "rclone": {urls: {label: url}} | null, "count": {label: n}}
import json
import sys
import time
import urllib.request


def timed(label, fn, count):
    fn()  # warm: connection, imports
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(count):
        fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps({"case": label, "wallMs": wall / count * 1000, "cpuMs": cpu / count * 1000}), flush=True)


cfg = json.loads(sys.argv[1])
counts = cfg["count"]
if cfg.get("s3"):
    import boto3
    from botocore.client import Config

    s3cfg = cfg["s3"]
    client = boto3.client(
        "s3",
        endpoint_url=s3cfg["endpoint"],
        aws_access_key_id=s3cfg["key"],
        aws_secret_access_key=s3cfg["secret"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    for size, key in s3cfg["keys"].items():
        n = counts[size]
        timed(f"s3 {size} python boto3 get_object().read()", lambda: client.get_object(Bucket=s3cfg["bucket"], Key=key)["Body"].read(), n)
        url = client.generate_presigned_url("get_object", Params={"Bucket": s3cfg["bucket"], "Key": key}, ExpiresIn=3600)
        timed(f"s3 {size} python urllib presigned", lambda: urllib.request.urlopen(url).read(), n)
if cfg.get("rclone"):
    import requests

    for size, url in cfg["rclone"]["urls"].items():
        n = counts[size]
        timed(f"rclone {size} python requests.get (reference's way)", lambda: requests.get(url).content, n)
        timed(f"rclone {size} python urllib", lambda: urllib.request.urlopen(url).read(), n)
