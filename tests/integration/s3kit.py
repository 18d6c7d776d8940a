"""A real S3 API on the loopback for tests: moto's standalone server, with credentials enforced.

moto runs as its own process (``python -m moto.server``) on a free port. Its IAM authentication
is switched on after three unauthenticated calls (INITIAL_NO_AUTH_ACTION_COUNT), which create a
user, its access key and a policy; from then on a wrong secret is refused with
SignatureDoesNotMatch and an unknown key with InvalidAccessKeyId, as AWS does. boto3 (installed
with moto) is the tests' independent observer of what is in a bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tritonctl.endpoints import free_port
from tritonctl.process import stop_child

REGION = "us-east-1"


@dataclass
class S3Server:
    proc: subprocess.Popen
    port: int
    key_id: str
    secret: str
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str, path: str) -> str:
        """Triton's form for an S3-compatible endpoint: s3://host:port/bucket/path."""
        return f"s3://127.0.0.1:{self.port}/{bucket}/{path}"

    def env(self, **overrides: str) -> dict[str, str]:
        """This process's environment with only these credentials (no profile, no instance metadata)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=self.key_id,
            AWS_SECRET_ACCESS_KEY=self.secret,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE="/nonexistent",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        )
        env.update(overrides)
        return env

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret, region_name=REGION,
        )

    def snapshot(self, bucket: str, prefix: str = "") -> dict[str, tuple[str, int, object]]:
        """key -> (ETag, size, LastModified) of every object under prefix: equal snapshots, nothing changed."""
        out = {}
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["ETag"], o["Size"], o["LastModified"])
        return out

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request moto answered so far, in order (its access log)."""
        pat = re.compile(r'"(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP/1\.1"')
        return pat.findall(self.log_path.read_text(errors="replace"))


def start_s3(workdir: Path, timeout: float = 60) -> S3Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "moto.log"
    boot = {"AWS_ACCESS_KEY_ID": "bootstrap", "AWS_SECRET_ACCESS_KEY": "bootstrap", "AWS_DEFAULT_REGION": REGION}
    env = {**os.environ, **boot, "INITIAL_NO_AUTH_ACTION_COUNT": "3", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start on port {port}:\n{log_path.read_text()}")
            time.sleep(0.1)
    import boto3

    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="pusher")
    key = iam.create_access_key(UserName="pusher")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="pusher", PolicyName="all", PolicyDocument=json.dumps(policy))
    return S3Server(proc, port, key["AccessKeyId"], key["SecretAccessKey"], log_path)


def stop_s3(server: S3Server) -> None:
    stop_child(server.proc, timeout=10)


@contextlib.contextmanager
def aws_env(server: S3Server):
    """The process environment with only ``server``'s AWS_* variables (tritonctl push/serve and the
    tritonserver they start read these), restored on the way out."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in server.env().items() if k.startswith("AWS_")})
    try:
        yield server
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)


@contextlib.contextmanager
def s3_with_bucket(workdir: Path, bucket: str):
    """A moto S3 server holding the empty ``bucket``, with the process environment pointing at it
    (``aws_env``); stopped on the way out."""
    server = start_s3(workdir)
    try:
        server.client().create_bucket(Bucket=bucket)
        with aws_env(server):
            yield server
    finally:
        stop_s3(server)
