"""An AWS emulator on this machine: ministack, started as a subprocess on 127.0.0.1 and stopped after.

``lookalike bench aws`` and the tests run the AWS profile on it.  ``ministack(tmp)`` runs ministack
(one ASGI server emulating S3, SQS, DynamoDB, Lambda, IAM, STS, API Gateway v2 HTTP and WebSocket
APIs, ...) on one port, with ``AUTH=true`` so that IAM policies and signatures are enforced, and
yields an :class:`Emulator` (endpoint, region, root keys).  ``aws_env`` and ``client`` point boto3 at
it; ``ApiUrls.emulator(endpoint)`` (``Emulator.api_urls()``), ``websocket_url``,
``management_endpoint`` and ``http_api_url`` address API Gateway there.  ministack is in the ``dev``
extra (``pip install -e '.[dev]'``); ``find_program("ministack")`` says whether it is installed.

What ministack does, read from its source (1.5.x) and checked against a running server:

Credentials (``AUTH=true``)
    Root keys are ``test`` (always), the ``AWS_ACCESS_KEY_ID`` ministack itself was started with,
    and any 12-digit account id (that account's root). Their secret is ministack's own
    ``AWS_SECRET_ACCESS_KEY`` (default ``test``). Requests signed with a root key are allowed
    everything and their signature is *not* checked (key ``test`` with any secret works), except
    presigned POSTs, whose policy signature is verified with the root secret. Keys of IAM users
    (``iam.create_access_key``) and of STS sessions are signature-checked and their identity
    policies enforced (S3, SQS, DynamoDB, ``execute-api:ManageConnections`` ...): use them to test
    a refusal. Unknown keys get ``InvalidAccessKeyId`` / ``UnrecognizedClientException``.

Lambda
    Under AUTH ``create_function`` refuses a ``Role`` that does not exist, so create the IAM role
    first (any trust policy for ``lambda.amazonaws.com``; see ``lambda_role``). The function runs
    with STS session credentials of that role (``AWS_ACCESS_KEY_ID=ASIA...`` plus a session token),
    so the role's policies are enforced on every call it makes, presigned POSTs included (the POST
    is refused with 403 AccessDenied unless the role may ``s3:PutObject`` the key). Observed: a
    later ``update_function_configuration(Role=...)`` did not change the permissions the function
    ran with; give the role its policies before ``create_function``. ``create_function`` answers
    ``State: Pending`` but the function can be invoked at once.

    Python functions (any ``python3.x`` runtime) run locally, not in a container: a persistent
    worker subprocess per function, started with ministack's own interpreter (``sys.executable``,
    i.e. this virtualenv's Python, whatever the ``Runtime`` says), cwd = the unpacked code zip in
    ``$TMPDIR/ministack-lambda-<name>-*/code``. ``sys.path`` is that code dir first, then the
    virtualenv's site-packages, so boto3 *and every package installed in this virtualenv*
    (lookalike itself, editable) import even when the zip does not contain them: a missing
    dependency in a deployment zip is not caught here; a module in the zip shadows the installed
    one (check ``module.__file__`` to know which ran). Its environment is ministack's environment
    (everything passed to ``ministack``: PATH, HOME, TMPDIR, AUTH, GATEWAY_PORT, ...), plus the
    function's ``Environment.Variables``, plus ``AWS_REGION``/``AWS_DEFAULT_REGION``, the role
    session credentials, ``AWS_ENDPOINT_URL=http://127.0.0.1:<port>`` (unless the function sets
    one), ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME`` ... So boto3 clients made inside the
    function reach ministack with no configuration. Warm workers are reused across invocations.

HTTP APIs (apigatewayv2, ``ProtocolType="HTTP"``)
    ``http://127.0.0.1:<port>/_aws/execute-api/<apiId>/<stage>/<path>``; with a ``$default`` stage
    the stage segment may be ``$default`` or left out (``.../_aws/execute-api/<apiId>/api/uploads``);
    a route not defined answers 404 ``{"message":"Not Found"}``. Payload format
    2.0 events (``routeKey``, ``rawPath`` ...). ``IntegrationUri`` may be the function ARN.
    The ``ApiEndpoint`` it reports (``http://<apiId>.execute-api.localhost:<port>``) does not
    resolve here: use ``http_api_url``.

WebSocket APIs (apigatewayv2, ``ProtocolType="WEBSOCKET"``)
    Clients connect to ``ws://127.0.0.1:<port>/_aws/execute-api/<apiId>/<stage>`` (query string
    passed to ``$connect`` as ``queryStringParameters``). Routes are chosen by the API's
    ``RouteSelectionExpression`` (``$request.body.action``), falling back to ``$default``; a frame
    with no matching route and no ``$default`` is dropped silently. ``$connect`` answering a
    non-2xx ``statusCode`` (or raising) refuses the handshake. Events carry ``requestContext``
    (``routeKey``, ``eventType``, ``connectionId``, ``stage``, ``apiId``, ``domainName``), ``body``
    and ``isBase64Encoded``; ``$disconnect`` runs after the socket closed (asynchronously: poll for
    its effect). Frames of one connection are handled one at a time, each awaiting its function.
    Quirks, unlike AWS: the ``body`` of whatever dict a route's function returns is sent back to
    the client as a frame (AWS does that only with a route response configured), and when the
    function raises, the *exception message* is sent to the client as a frame; a function that
    returns something other than a dict or None (e.g. a string) makes ministack close the
    connection. So route handlers should return ``{"statusCode": 200}`` with no body.
    ``requestContext.connectedAt`` is the time of the event, not of the connection.

@connections (``apigatewaymanagementapi``)
    The ``domainName`` in events (``<apiId>.execute-api.localhost``, no port) does not resolve:
    the management endpoint must come from configuration, ``management_endpoint(endpoint, api_id,
    stage)`` = ``http://127.0.0.1:<port>/_aws/execute-api/<apiId>/<stage>``. ``post_to_connection``
    there delivers the data as a text frame to the connected client (also from inside the
    function handling that client's own message); for an unknown or closed connection it answers
    410 and boto3 raises ``GoneException``, but only once ministack has dropped the connection: for
    up to about half a second after the client closed, posts still answer 200 (and are lost), so a
    test expecting ``GoneException`` must retry for a moment. Under AUTH the caller needs
    ``execute-api:ManageConnections`` (root keys pass).

S3
    Presigned POSTs are checked in full when signed (SigV4 or SigV2): signature, expiry, every
    policy condition, no extra fields; the credential scope's region must be the bucket's region.
    Address buckets by path (``client`` does); ``<bucket>.localhost`` names do not resolve here.

Ports: ministack listens on GATEWAY_PORT only once ``IOT_MTLS_ENABLED=0`` (else an MQTT listener
binds 0.0.0.0:8883) and ``SFTP_ENABLED=0``; its pid file and Lambda code dirs go to ``$TMPDIR``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lookalike.bench.emulated_aws.provision import ApiUrls
from lookalike.bench.server import free_port

REGION = "us-east-1"
ROOT_KEY = ROOT_SECRET = "test"  # ministack's root credentials (see the module docstring)
LOOPBACK = "127.0.0.1"
#: What to tell a person who has no ministack.
MISSING = "ministack is not installed: pip install -e '.[dev]' (the dev extra), or pip install ministack"


@dataclass(frozen=True)
class Emulator:
    """A running emulator: where it listens, the credentials it accepts, where it keeps its files."""

    name: str
    endpoint: str  # http://127.0.0.1:<port>, the one URL for every service it emulates
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        return aws_env(self.endpoint, self.access_key, self.secret_key, self.region)

    def client(self, service: str, **kwargs: Any) -> Any:
        return client(self.endpoint, service, self.access_key, self.secret_key, self.region, **kwargs)

    def api_urls(self) -> ApiUrls:
        """How API Gateway APIs are addressed here (for ``provision``)."""
        return ApiUrls.emulator(self.endpoint)


def aws_env(
    endpoint: str, access_key: str = ROOT_KEY, secret_key: str = ROOT_SECRET, region: str = REGION
) -> dict[str, str]:
    """boto3's own variables pointing every client at ``endpoint`` (for subprocesses or monkeypatch)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def client(
    endpoint: str,
    service: str,
    access_key: str = ROOT_KEY,
    secret_key: str = ROOT_SECRET,
    region: str = REGION,
    **kwargs: Any,
) -> Any:
    """A boto3 client for ``service`` at ``endpoint``; S3 ones sign with SigV4 and address buckets by path.

    ``endpoint_url=`` overrides the endpoint (``management_endpoint`` for ``apigatewaymanagementapi``).
    """
    import boto3
    from botocore.config import Config

    if service == "s3" and "config" not in kwargs:
        kwargs["config"] = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client(
        service,
        endpoint_url=kwargs.pop("endpoint_url", endpoint),
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        **kwargs,
    )


def _execute_api(endpoint: str, api_id: str, stage: str) -> str:
    """ministack's path form of an execute-api URL; the stage segment is kept even for ``$default``
    (without it a WebSocket or @connections URL is not recognised)."""
    return f"{endpoint.rstrip('/')}/_aws/execute-api/{api_id}/{stage}"


def websocket_url(endpoint: str, api_id: str, stage: str) -> str:
    """Where WebSocket clients connect to a ministack WebSocket API stage."""
    return _execute_api(endpoint, api_id, stage).replace("http://", "ws://", 1).replace("https://", "wss://", 1)


def management_endpoint(endpoint: str, api_id: str, stage: str) -> str:
    """The ``apigatewaymanagementapi`` endpoint_url for ``post_to_connection`` on ministack."""
    return _execute_api(endpoint, api_id, stage)


def http_api_url(endpoint: str, api_id: str, stage: str = "$default") -> str:
    """Base URL of a ministack HTTP API stage; append the route's path (``/api/uploads``)."""
    return _execute_api(endpoint, api_id, stage)


def find_program(name: str) -> str | None:
    """A console script of this virtualenv (next to its Python), else one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing of ours (AWS_*, LOOKALIKE_*) leaks into the emulator or its Lambdas."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8"}


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log_tail(log)}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise TimeoutError(f"not ready after {timeout:.0f} s: {log_tail(log)}")


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the emulator's own process group (it and the Lambda workers it spawned), then SIGKILL.

    Workers started while it shut down (a ``$disconnect`` handler) outlive it for a moment: the group
    is waited for too, then killed. Its id cannot be reused meanwhile: a pid is not handed out again
    while a process group of that id has members, and not within seconds anyway.
    """
    group = process.pid
    if process.poll() is None:
        os.killpg(group, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            process.wait()
    deadline = time.monotonic() + 5
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(group, 0)  # raises once the group is empty
            time.sleep(0.1)
        os.killpg(group, signal.SIGKILL)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop_group reaches its children too
        )
    try:
        yield process
    finally:
        stop_group(process)


@contextlib.contextmanager
def ministack(tmp_dir: Path, timeout: float = 60.0) -> Iterator[Emulator]:
    """ministack with ``AUTH=true`` on a free loopback port; root credentials ``test``/``test``."""
    program = find_program("ministack")
    if program is None:
        raise FileNotFoundError(MISSING)
    data = Path(tmp_dir) / "ministack"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = base_env(data) | {
        "AUTH": "true",
        "BIND_HOST": LOOPBACK,
        "GATEWAY_PORT": str(port),
        "S3_DATA_DIR": str(data / "s3"),
        "IOT_MTLS_ENABLED": "0",  # else an MQTT listener on 0.0.0.0:8883
        "SFTP_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
    }
    endpoint = f"http://{LOOPBACK}:{port}"
    log = data / "ministack.log"
    with running([program], env, data, log) as process:

        def ready() -> bool:
            response = httpx.get(f"{endpoint}/_ministack/ready", timeout=2)
            return response.status_code == 200 and response.json().get("status") == "completed"

        wait_until(ready, process, log, timeout)
        yield Emulator("ministack", endpoint, ROOT_KEY, ROOT_SECRET, REGION, data, log, process)
