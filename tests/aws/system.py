"""The whole AWS profile on the emulator: resources from the deployment spec, real Lambda handlers,
``lookalike worker`` processes started exactly as the container image starts them, and a stand-in
for CloudFront that serves the page as the CDK stack lays it out.

What CloudFront does on AWS (``deploy/aws/stack.py``), the stand-in does here: ``/`` and ``/static/*``
from the page's files, ``/config.json`` with the WebSocket API's URL, ``/api/*`` passed to the HTTP
API, the gallery's faces (``DEPLOYMENT.gallery_public_pattern``: thumbnails and aligned faces) read from the
gallery bucket.  It is the only part that is not
the product's own code or the emulator.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lookalike.aws.spec import DEPLOYMENT, Deployment
from lookalike.bench.emulated_aws.provision import ApiUrls, Provisioned, provision
from tests.aws.dockerfile_spec import image_command_and_env
from tests.aws.emulators import Emulator, free_port

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "lookalike" / "web" / "static"


@dataclass
class System:
    emulator: Emulator
    stack: Provisioned
    home: Path
    gallery_version: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    page_url: str = ""

    def admin(self, service: str) -> Any:
        return self.emulator.client(service)

    # -- workers ------------------------------------------------------------------------------

    def worker_env(self, **settings: str) -> dict[str, str]:
        """The image's environment, the stack's settings, and the worker's own IAM identity."""
        command, env = image_command_and_env(ROOT / "Dockerfile")
        key, secret = self.stack.worker_access_key
        env = {
            **env,
            **self.stack.environment(),
            "AWS_ENDPOINT_URL": self.emulator.endpoint,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": self.emulator.region,
            "AWS_DEFAULT_REGION": self.emulator.region,
            "HOME": str(self.home),
            "LOOKALIKE_HOME": str(self.home / f"worker-{uuid.uuid4().hex[:8]}"),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT / "src"),  # this checkout's code, whichever checkout the venv installed
        }
        env.update({f"LOOKALIKE_{k.upper()}": v for k, v in settings.items()})
        return env

    def start_worker(self, wait_ready: bool = True, **settings: str) -> subprocess.Popen[bytes]:
        """``lookalike worker`` as the container runs it; ready once its health check passes."""
        command, _ = image_command_and_env(ROOT / "Dockerfile")
        env = self.worker_env(**settings)
        log = open(self.home / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.env = env  # type: ignore[attr-defined]
        process.log_path = log.name  # type: ignore[attr-defined]
        self.workers.append(process)
        if wait_ready:
            self.wait_healthy(process)
        return process

    def wait_healthy(self, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
        command, _ = image_command_and_env(ROOT / "Dockerfile")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited with {process.returncode}: {self.worker_log(process)}")
            check = subprocess.run([*command, "--check"], env=process.env, capture_output=True)  # type: ignore[attr-defined]
            if check.returncode == 0:
                return
            time.sleep(0.3)
        raise TimeoutError(f"worker not healthy after {timeout} s: {self.worker_log(process)}")

    @staticmethod
    def worker_log(process: subprocess.Popen[bytes]) -> str:
        try:
            return Path(process.log_path).read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]
        except OSError:
            return ""

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.workers.clear()

    # -- a client's side ----------------------------------------------------------------------

    def presign(self, content_type: str = "image/jpeg") -> dict[str, Any]:
        r = httpx.post(f"{self.stack.http_url}/api/uploads", json={"content_type": content_type}, timeout=30)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def upload(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Presign through the HTTP API, POST the photo straight to S3; returns the key."""
        p = self.presign(content_type)
        r = httpx.post(p["url"], data=p["fields"], files={"file": ("photo.jpg", data, content_type)}, timeout=30)
        assert r.status_code in (200, 201, 204), r.text
        return str(p["key"])

    def job(self, job_id: str) -> httpx.Response:
        return httpx.get(f"{self.stack.http_url}/api/jobs/{job_id}", timeout=30)

    def object_exists(self, key: str) -> bool:
        try:
            self.admin("s3").head_object(Bucket=self.stack.uploads_bucket, Key=key)
        except Exception:
            return False
        return True


class Client:
    """A page's WebSocket, as the browser opens it on the WebSocket API; ``recv`` raises TimeoutError."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        from websockets.sync.client import connect

        self.conn = connect(url, open_timeout=10, max_size=2**24).__enter__()
        self.timeout = timeout

    def send(self, message: Any) -> None:
        self.conn.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        return dict(json.loads(self.conn.recv(timeout=timeout or self.timeout)))

    def until(self, *names: str, timeout: float | None = None) -> list[dict[str, Any]]:
        seen = []
        while True:
            seen.append(self.recv(timeout))
            if seen[-1]["event"] in names:
                return seen

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def running_system(
    emulator: Emulator,
    home: Path,
    gallery: Path,
    spec: Deployment = DEPLOYMENT,
    page: bool = False,
) -> Iterator[System]:
    """Provision the stack on the emulator under a fresh prefix, publish ``gallery`` to its bucket with
    ``lookalike gallery push``, and (``page``) serve the page; workers are started by the caller."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    stack = provision(emulator.client, prefix, ApiUrls.emulator(emulator.endpoint), spec=spec, page_origin=page_origin)
    system = System(emulator, stack, home)
    push = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "gallery",
            "push",
            "--gallery",
            str(gallery),
            "--json",
            f"s3://{stack.gallery_bucket}/galleries/",
        ],
        env={**os.environ, **emulator.env()},
        capture_output=True,
        text=True,
    )
    assert push.returncode == 0, push.stderr
    system.gallery_version = json.loads(push.stdout)["version"]
    server = None
    try:
        if page:
            server, thread = serve_page(system, page_port)
            system.page_url = page_origin + "/"
        yield system
    finally:
        system.stop_workers()
        if server is not None:
            server.should_exit = True
            thread.join(10)


# -- the CloudFront stand-in ----------------------------------------------------------------------


def page_app(system: System) -> Any:
    """CloudFront's behaviours for this stack, as a tiny ASGI app."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    api = httpx.AsyncClient(base_url=system.stack.http_url, timeout=30)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def config(request: Request) -> Response:  # written by the deploy next to the page
        return JSONResponse({"websocket": system.stack.websocket_url, "api": ""})

    async def to_api(request: Request) -> Response:
        upstream = await api.request(
            request.method,
            request.url.path,
            content=await request.body(),
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        return Response(upstream.content, upstream.status_code, media_type=upstream.headers.get("content-type"))

    async def thumbnail(request: Request) -> Response:
        key = request.url.path.lstrip("/")
        if not fnmatch.fnmatchcase(key, DEPLOYMENT.gallery_public_pattern):  # CloudFront's * spans / too
            return Response(status_code=404)
        try:
            body = system.admin("s3").get_object(Bucket=system.stack.gallery_bucket, Key=key)["Body"].read()
        except Exception:
            return Response(status_code=404)
        return Response(body, media_type="image/jpeg")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/config.json", config),
            Route("/api/{path:path}", to_api, methods=["GET", "POST"]),
            Route("/galleries/{path:path}", thumbnail),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )


def serve_page(system: System, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(page_app(system), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the page server did not start")
        time.sleep(0.05)
    return server, thread
