"""``lookalike bench aws``: throughput of the AWS profile with 1, 2, 3 ... workers, on an emulated AWS.

Everything but the cloud is the product's own: the stack is made from the deployment spec
(``bench.emulated_aws.provision``: the same buckets, queue, table, IAM policies, Lambda handlers and APIs), the
gallery is published as ``lookalike gallery push`` publishes it, and ``lookalike worker`` processes run
as the container runs them (profile ``aws``, the stack's settings, the worker's own IAM keys, one BLAS
thread, a home of their own).  Each job is the page's flow: ``POST /api/uploads`` on the HTTP API, the
presigned POST to S3, ``match`` on the WebSocket, events until ``matched`` or ``failed``.  After each
run it checks what a user never sees: a job answered twice, photos left in the uploads bucket,
messages left in the queue.

Latency is from a job's first request (``POST /api/uploads``) to its ``matched``/``failed`` event
(``after_match_ms``: from the ``match`` message); throughput is results over the time from the first
job's start to the last result.  Before each run, ``--warmup`` unmeasured jobs (default: one per
client) warm the Lambda functions (the emulator starts an execution environment per concurrent call)
and the fresh workers.

The emulator (ministack), its Lambda functions and the clients share the machine's cores with the
workers: the numbers say how the system scales on this machine, not what AWS would do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lookalike.bench import BenchError
from lookalike.bench.load import percentile
from lookalike.bench.server import tree_cpu_seconds
from lookalike.errors import LookalikeError
from lookalike.media import CONTENT_TYPES, PHOTO_SUFFIXES
from lookalike.service.events import TERMINAL_EVENTS

#: Seconds to wait, after the last result, for the queue and the bucket to empty.
SETTLE_SECONDS = 15.0
#: ... and then for a late second answer to a job already answered.
DUPLICATE_GRACE_SECONDS = 2.0

#: ``progress(description, total)``: a context around one run of jobs that yields ``update(done)``.
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


class Unavailable(LookalikeError):
    """What the benchmark needs is not installed (boto3, the emulator)."""

    code = "unavailable"


class EmulatorError(LookalikeError):
    """The emulator refused or failed a call."""

    code = "emulator_failed"


@dataclass(frozen=True)
class Target:
    """An AWS-compatible endpoint and the admin keys that provision on it."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str

    def client(self, service: str) -> Any:
        from lookalike.bench.emulated_aws.emulator import client

        return client(self.endpoint, service, self.access_key, self.secret_key, self.region)


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    content_type: str


def default_photos(data_dir: Path, singles: int = 9) -> list[Path]:
    """The group photos (several faces, up to 3 MP) and the first photo of the first ``singles`` people
    of ``celeb_mini`` (small single-face crops): heavy and light jobs mixed, the same in every run."""
    group = sorted((data_dir / "group").glob("*.jpg"))
    people = data_dir / "celeb_mini"
    single: list[Path] = []
    if people.is_dir():
        for person in sorted(p for p in people.iterdir() if p.is_dir()):
            files = sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
            single.extend(files[:1])
            if len(single) >= singles:
                break
    return group + single


def read_photos(paths: list[Path]) -> list[Photo]:
    return [Photo(p.name, p.read_bytes(), CONTENT_TYPES[p.suffix.lower()]) for p in paths]


def photos_under(folder: Path, limit: int = 200) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())[:limit]


# -- the workers --------------------------------------------------------------------------------


class EmulatedWorkers:
    """The ECS worker service, emulated: ``lookalike worker`` processes as the container runs them, each
    with a fresh home of its own."""

    def __init__(self, target: Target, stack: Any, root: Path) -> None:
        self.target, self.stack, self.root = target, stack, root
        self.processes: list[tuple[subprocess.Popen[bytes], dict[str, str], Path]] = []
        self.started = 0

    def env(self, home: Path) -> dict[str, str]:
        """The image's environment, the stack's settings, the worker's IAM user; nothing of ours."""
        key, secret = self.stack.worker_access_key
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
        return {
            "PATH": path,
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.stack.environment(),
            "LOOKALIKE_HOME": str(home),
            "AWS_ENDPOINT_URL": self.target.endpoint,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": self.target.region,
            "AWS_DEFAULT_REGION": self.target.region,
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def start(self, count: int, timeout: float) -> float:
        """Start ``count`` workers; returns the seconds until every one passed ``lookalike worker --check``."""
        begin = time.perf_counter()
        for _ in range(count):
            self.started += 1
            home = self.root / f"worker-{self.started}"
            home.mkdir(parents=True)
            env = self.env(home)
            log = home / "worker.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "lookalike", "worker"],
                    env=env,
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C reaches us, and we stop them with SIGTERM as ECS does
                )
            self.processes.append((process, env, log))
        deadline = time.monotonic() + timeout
        for process, env, log in self.processes:
            while True:
                if process.poll() is not None:
                    raise BenchError(f"a worker exited with {process.returncode}:\n{_tail(log)}")
                check = subprocess.run(
                    [sys.executable, "-m", "lookalike", "worker", "--check"], env=env, capture_output=True
                )
                if check.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"a worker was not healthy after {timeout:.0f} s:\n{_tail(log)}")
                time.sleep(0.5)
        return time.perf_counter() - begin

    def pids(self) -> list[int]:
        return [process.pid for process, _, _ in self.processes]

    def stop(self, grace: float = 60.0) -> None:
        """SIGTERM to every worker (each finishes its job), SIGKILL to any still running after ``grace``."""
        for process, _, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process, _, _ in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()


def _minus(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 1)


def _own_cpu_seconds() -> float:
    """This process's CPU time: the clients, their event loop and the leftover checks."""
    times = os.times()
    return times.user + times.system


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# -- the stack ----------------------------------------------------------------------------------


class Leftovers:
    """What a finished run should have left nowhere: photos in the uploads bucket, messages in the queues."""

    def __init__(self, target: Target, stack: Any) -> None:
        self.s3, self.sqs, self.stack = target.client("s3"), target.client("sqs"), stack

    def _messages(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def count(self) -> dict[str, int]:
        from lookalike.aws.spec import UPLOADS_PREFIX

        photos = self.s3.list_objects_v2(Bucket=self.stack.uploads_bucket, Prefix=UPLOADS_PREFIX).get("KeyCount", 0)
        return {
            "photos": int(photos),
            "messages": self._messages(self.stack.queue_url),
            "dead_letters": self._messages(self.stack.dead_letter_queue_url),
        }


def remove_stack(target: Target, stack: Any) -> None:
    """Delete what ``provision`` made (on an emulator that outlives this command); best effort."""
    s3, iam = target.client("s3"), target.client("iam")
    steps: list[Callable[[], object]] = []
    for name in stack.functions.values():
        steps.append(lambda name=name: target.client("lambda").delete_function(FunctionName=name))
        steps.append(lambda name=name: iam.delete_role_policy(RoleName=name, PolicyName="grants"))
        steps.append(lambda name=name: iam.delete_role(RoleName=name))
    for api in (stack.http_api_id, stack.websocket_api_id):
        steps.append(lambda api=api: target.client("apigatewayv2").delete_api(ApiId=api))
    for url in (stack.queue_url, stack.dead_letter_queue_url):
        steps.append(lambda url=url: target.client("sqs").delete_queue(QueueUrl=url))
    steps.append(lambda: target.client("dynamodb").delete_table(TableName=stack.jobs_table))
    for bucket in (stack.uploads_bucket, stack.gallery_bucket):
        steps.append(lambda bucket=bucket: _empty_bucket(s3, bucket))
        steps.append(lambda bucket=bucket: s3.delete_bucket(Bucket=bucket))
    user = f"{stack.prefix}-worker"
    steps.append(lambda: iam.delete_access_key(UserName=user, AccessKeyId=stack.worker_access_key[0]))
    steps.append(lambda: iam.delete_user_policy(UserName=user, PolicyName="grants"))
    steps.append(lambda: iam.delete_user(UserName=user))
    for step in steps:
        with contextlib.suppress(Exception):
            step()


def _empty_bucket(s3: Any, bucket: str) -> None:
    while True:
        keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if not keys:
            return
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


# -- the clients ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One job as its client saw it; times are ``perf_counter`` seconds."""

    start: float
    end: float = 0.0
    sent: float = 0.0  # when ``match`` was sent
    state: str = "error"  # matched, failed or error
    error: str = ""
    faces: int = 0


@dataclass
class Phase:
    """``jobs`` jobs shared out among the clients as they become free."""

    jobs: int
    taken: int = 0
    sent: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    terminals: Counter[str] = field(default_factory=Counter)  # job id -> terminal events received

    def take(self) -> int | None:
        if self.taken >= self.jobs:
            return None
        self.taken += 1
        return self.taken - 1


async def one_client(
    phase: Phase,
    photos: list[Photo],
    http_url: str,
    websocket_url: str,
    timeout: float,
    settled: asyncio.Event,
    progress: Callable[[int], None],
) -> None:
    """Jobs one after another on one WebSocket, as a page does; then listen on until the run settles,
    so that a second answer to a job already answered is seen."""
    import httpx
    from websockets.asyncio.client import ClientConnection, connect

    ws: ClientConnection | None = None
    async with httpx.AsyncClient(timeout=timeout) as http:
        while (index := phase.take()) is not None:
            photo = photos[index % len(photos)]
            outcome = Outcome(start=time.perf_counter())
            try:
                if ws is None:  # a page opens its socket when it loads, before a photo is chosen
                    ws = await asyncio.wait_for(connect(websocket_url, max_size=2**24), timeout)
                    outcome.start = time.perf_counter()
                async with asyncio.timeout(timeout):
                    r = await http.post(f"{http_url}/api/uploads", json={"content_type": photo.content_type})
                    if r.status_code != 201:
                        raise RuntimeError(f"presign {r.status_code}")
                    presigned = r.json()
                    files = {"file": (photo.name, photo.data, photo.content_type)}
                    r = await http.post(presigned["url"], data=presigned["fields"], files=files)
                    if r.status_code not in (200, 201, 204):
                        raise RuntimeError(f"upload {r.status_code}")
                    await ws.send(json.dumps({"action": "match", "key": presigned["key"]}))
                    outcome.sent = time.perf_counter()
                    phase.sent += 1
                    job_id = None
                    while outcome.end == 0.0:
                        event = json.loads(await ws.recv())
                        name = event.get("event")
                        if name == "queued" and event.get("key") == presigned["key"]:
                            job_id = event.get("job")
                        elif name in TERMINAL_EVENTS:
                            phase.terminals[str(event.get("job"))] += 1
                            if job_id is not None and event.get("job") == job_id:
                                outcome.end, outcome.state = time.perf_counter(), name
                                outcome.faces = int((event.get("result") or {}).get("faces_found", 0))
                        elif name == "error":
                            raise RuntimeError(f"error event {(event.get('error') or {}).get('code')}")
            except Exception as exc:  # counted, not raised: a benchmark reports failures
                outcome.state, outcome.end = "error", time.perf_counter()
                outcome.error = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                ws = None
            phase.outcomes.append(outcome)
            progress(len(phase.outcomes))
        if ws is None:
            return
        while not settled.is_set():
            try:
                event = json.loads(await asyncio.wait_for(ws.recv(), 0.25))
            except TimeoutError:
                continue
            except Exception:
                break
            if event.get("event") in TERMINAL_EVENTS:
                phase.terminals[str(event.get("job"))] += 1
        with contextlib.suppress(Exception):
            await ws.close()


async def run_phase(
    stack: Any,
    photos: list[Photo],
    jobs: int,
    clients: int,
    timeout: float,
    settle: Callable[[], Awaitable[dict[str, int]]],
    progress: Callable[[int], None],
) -> tuple[Phase, float, dict[str, int]]:
    """(the jobs' outcomes, seconds from the first job's start to the last one's end, what was left)."""
    phase = Phase(jobs)
    settled = asyncio.Event()
    tasks = [
        asyncio.create_task(one_client(phase, photos, stack.http_url, stack.websocket_url, timeout, settled, progress))
        for _ in range(min(clients, jobs))
    ]
    while len(phase.outcomes) < jobs and not all(t.done() for t in tasks):
        await asyncio.sleep(0.1)
    left = await settle()
    await asyncio.sleep(DUPLICATE_GRACE_SECONDS)
    settled.set()
    await asyncio.gather(*tasks)
    starts = [o.start for o in phase.outcomes]
    ends = [o.end for o in phase.outcomes if o.state in TERMINAL_EVENTS]
    wall = (max(ends) - min(starts)) if ends else 0.0
    return phase, wall, left


@dataclass(frozen=True)
class RunReport:
    """One run (one worker count) as ``--json`` shows it."""

    workers: int
    jobs: int
    sent: int
    results: int
    matched: int
    failed: int
    errors: int
    error_kinds: dict[str, int]
    duplicates: int
    photos_left: int
    messages_left: int
    dead_letters: int
    seconds: float
    throughput_per_s: float | None
    latency_ms: dict[str, float | None]  # p50, p95, max
    after_match_ms: dict[str, float | None]  # p50, p95
    faces: int
    cpu_seconds: dict[str, float | None] = field(default_factory=dict)  # workers, emulator, clients
    load_average: list[float] = field(default_factory=list)  # 1-minute load at the start and at the end
    startup_seconds: float | None = None
    warmup: dict[str, int] | None = None  # jobs, results, errors, duplicates of the warm-up

    def counts(self) -> dict[str, int]:
        """What a warm-up run is reported by."""
        return {"jobs": self.jobs, "results": self.results, "errors": self.errors, "duplicates": self.duplicates}

    @property
    def bad(self) -> bool:
        """A job unanswered, failed or answered twice, or a photo or a message left behind."""
        return bool(
            self.errors or self.failed or self.duplicates or self.photos_left or self.messages_left or self.dead_letters
        )


@dataclass(frozen=True)
class AwsReport:
    """The whole benchmark; its ``to_json`` is the ``--json`` document."""

    emulator: str
    endpoint: str
    jobs: int
    clients: int
    photos: int
    cpus: int | None
    stack: str
    gallery: dict[str, Any]  # version, faces, people
    runs: list[RunReport]

    @property
    def bad(self) -> bool:
        return any(run.bad for run in self.runs)


def summarize(workers: int, phase: Phase, wall: float, left: dict[str, int]) -> RunReport:
    answered = [o for o in phase.outcomes if o.state in TERMINAL_EVENTS]
    latency = [(o.end - o.start) * 1000 for o in answered]
    after_match = [(o.end - o.sent) * 1000 for o in answered]
    ms = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return RunReport(
        workers=workers,
        jobs=phase.jobs,
        sent=phase.sent,
        results=len(answered),
        matched=sum(o.state == "matched" for o in answered),
        failed=sum(o.state == "failed" for o in answered),
        errors=sum(o.state == "error" for o in phase.outcomes),
        error_kinds=dict(Counter(o.error for o in phase.outcomes if o.state == "error")),
        duplicates=sum(1 for n in phase.terminals.values() if n > 1),
        photos_left=left["photos"],
        messages_left=left["messages"],
        dead_letters=left["dead_letters"],
        seconds=round(wall, 2),
        throughput_per_s=round(len(answered) / wall, 2) if wall else None,
        latency_ms={
            "p50": ms(percentile(latency, 50)),
            "p95": ms(percentile(latency, 95)),
            "max": ms(max(latency, default=None)),
        },
        after_match_ms={"p50": ms(percentile(after_match, 50)), "p95": ms(percentile(after_match, 95))},
        faces=sum(o.faces for o in answered),
    )


def _quiet(message: str) -> None:
    pass


@contextlib.contextmanager
def no_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# -- the benchmark --------------------------------------------------------------------------------


def provision_stack(target: Target, gallery: Path, note: Callable[[str], None] = _quiet) -> tuple[Any, Any]:
    """A fresh stack under a unique prefix, with ``gallery`` published to it: (Provisioned, PushReport)."""
    from lookalike.aws.spec import GALLERIES_PREFIX
    from lookalike.bench.emulated_aws.provision import ApiUrls, provision
    from lookalike.gallery.artifact import push_gallery

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    note(f"provisioning stack {prefix} on {target.endpoint}")
    stack = provision(target.client, prefix, ApiUrls.emulator(target.endpoint))
    try:
        pushed = push_gallery(gallery, f"s3://{stack.gallery_bucket}/{GALLERIES_PREFIX}", client=target.client("s3"))
    except BaseException:
        remove_stack(target, stack)
        raise
    note(f"gallery {pushed.version} pushed: {pushed.faces} faces, {pushed.people} people")
    return stack, pushed


def measure(
    target: Target,
    stack: Any,
    root: Path,
    photos: list[Photo],
    counts: list[int],
    jobs: int,
    clients: int,
    warmup: int,
    timeout: float,
    emulator_pid: int | None = None,
    note: Callable[[str], None] = _quiet,
    progress: Progress = no_progress,
) -> list[RunReport]:
    """One run per worker count: start the workers, warm up, run the jobs, count, stop the workers.

    ``emulator_pid``: the emulator's process, whose CPU time (with its Lambda processes) is reported."""
    leftovers = Leftovers(target, stack)

    async def settle() -> dict[str, int]:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            left = await asyncio.to_thread(leftovers.count)
            if not any(left.values()) or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)

    runs = []
    pool = EmulatedWorkers(target, stack, root / stack.prefix)
    try:
        for count in counts:
            note(f"{count} workers: starting")
            startup = pool.start(count, timeout=max(180.0, timeout))
            note(f"{count} workers: healthy after {startup:.1f} s")
            warm: RunReport | None = None
            if warmup:
                with progress(f"{count} workers, warm-up", warmup) as update:
                    phase, wall, left = asyncio.run(run_phase(stack, photos, warmup, clients, timeout, settle, update))
                warm = summarize(count, phase, wall, left)
            load_before = os.getloadavg()[0]
            pids = {"workers": pool.pids(), "emulator": [emulator_pid] if emulator_pid else []}
            cpu_before, clients_before = {k: tree_cpu_seconds(v) for k, v in pids.items()}, _own_cpu_seconds()
            with progress(f"{count} workers", jobs) as update:
                phase, wall, left = asyncio.run(run_phase(stack, photos, jobs, clients, timeout, settle, update))
            cpu = {k: _minus(tree_cpu_seconds(v), cpu_before[k]) for k, v in pids.items()}
            cpu["clients"] = round(_own_cpu_seconds() - clients_before, 1)
            run = replace(
                summarize(count, phase, wall, left),
                cpu_seconds=cpu,  # from the first job's start until the run settled (a few s after)
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                startup_seconds=round(startup, 1),
                warmup=None if warm is None else warm.counts(),
            )
            runs.append(run)
            note(f"{count} workers: {run.results}/{jobs} results, {run.throughput_per_s} jobs/s; stopping them")
            pool.stop()
    finally:
        pool.stop()
    return runs


def run_benchmark(
    photos: list[Photo],
    counts: list[int],
    gallery: Path,
    *,
    endpoint: str | None = None,
    region: str = "us-east-1",
    jobs: int = 200,
    clients: int = 20,
    warmup: int | None = None,
    timeout: float = 120.0,
    note: Callable[[str], None] = _quiet,
    progress: Progress = no_progress,
) -> AwsReport:
    """Provision a fresh stack on the emulator at ``endpoint`` (default: a ministack started here and
    stopped after), push ``gallery``, and measure a run for each worker count in ``counts``.

    Raises :class:`Unavailable` without boto3 or ministack, :class:`EmulatorError` when the emulator fails
    a call, :class:`~lookalike.bench.BenchError` when a worker does not start."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise Unavailable("boto3 is needed: pip install -e '.[aws]'") from None
    from botocore.exceptions import BotoCoreError, ClientError

    from lookalike.bench.emulated_aws import emulator

    with contextlib.ExitStack() as resources, tempfile.TemporaryDirectory(prefix="lookalike-bench-aws-") as tmp:
        root = Path(tmp)
        if endpoint is None:
            if emulator.find_program("ministack") is None:
                raise Unavailable(emulator.MISSING)
            note("starting ministack")
            emu = resources.enter_context(emulator.ministack(root))
            emulator_pid: int | None = emu.process.pid
            target = Target(emu.endpoint, emu.region, emu.access_key, emu.secret_key)
            where = f"ministack {_version('ministack')} (started here)"
        else:
            target = Target(endpoint.rstrip("/"), region, emulator.ROOT_KEY, emulator.ROOT_SECRET)
            where = target.endpoint
            emulator_pid = None
        try:
            stack, pushed = provision_stack(target, gallery, note)
            try:
                warm = clients if warmup is None else warmup
                runs = measure(
                    target, stack, root, photos, counts, jobs, clients, warm, timeout, emulator_pid, note, progress
                )
            finally:
                if endpoint is not None:  # an emulator that outlives us: leave it as it was
                    remove_stack(target, stack)
        except (BotoCoreError, ClientError) as exc:
            raise EmulatorError(f"the emulator at {target.endpoint}: {exc}") from exc
    return AwsReport(
        emulator=where,
        endpoint=target.endpoint,
        jobs=jobs,
        clients=clients,
        photos=len(photos),
        cpus=os.cpu_count(),
        stack=stack.prefix,
        gallery={"version": pushed.version, "faces": pushed.faces, "people": pushed.people},
        runs=runs,
    )
