"""``lookalike worker``: the matching worker as a process of its own (the AWS container's command).

It long-polls the queue of the chosen profile, matches each photo, pushes events to the job's
connection and stores the result.  SIGTERM (how ECS stops a task) lets the current job finish; a
job received after that is handed back.  While healthy it touches a health file, which
``lookalike worker --check`` (the container's health check) reads.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from lookalike.cli.output import console, err_console, friendly_errors, gallery_option, settings_from
from lookalike.settings import Settings


def check_health(settings: Settings) -> tuple[bool, str]:
    path = settings.health_file()
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no health file at {path} (the worker has not started yet)"
    if age > settings.worker_health_seconds:
        return False, f"the worker last reported {age:.0f} s ago (limit {settings.worker_health_seconds:.0f} s)"
    return True, f"healthy ({age:.0f} s ago)"


def prepare_gallery(settings: Settings) -> Settings:
    """A gallery published to S3 (``gallery push``) is fetched once, checked, and used from a local cache;
    results then link its thumbnails by version, where the CDN serves them."""
    if not settings.gallery_uri:
        return settings
    from lookalike.gallery.artifact import fetch_gallery

    fetched = fetch_gallery(settings.gallery_uri, settings.home / "galleries")
    thumbnails = settings.thumbnail_url
    if thumbnails == Settings().thumbnail_url:
        thumbnails = f"/galleries/{fetched.version}/thumbnails/{{face_id}}.jpg"
    return settings.replace(gallery=fetched.path, thumbnail_url=thumbnails)


def build_loop(settings: Settings) -> tuple[Any, Any]:
    """(worker loop, ports) for the chosen profile."""
    from lookalike.service.jobs import JobProcessor
    from lookalike.service.matching import MatchService
    from lookalike.service.worker import WorkerLoop

    if settings.profile == "aws":
        from lookalike.adapters.aws import AwsPorts

        ports: Any = AwsPorts.from_settings(settings)
        storage, queue, jobs, notifier = ports.storage, ports.queue, ports.jobs, ports.notifier
        wait = 10.0  # SQS long polling; short enough that a stop is not kept waiting long
    elif settings.profile == "embedded":
        from lookalike.adapters.local_storage import load_secret
        from lookalike.adapters.notifiers import HttpNotifier, internal_token
        from lookalike.web.app import api_url_for
        from lookalike.web.runtime import Embedded

        endpoint = api_url_for(settings)  # the `lookalike serve` whose jobs this worker takes
        ports = Embedded.open(settings, channel=endpoint)
        storage, queue, jobs = ports.storage, ports.queue, ports.jobs
        notifier = HttpNotifier(endpoint, internal_token(load_secret(settings.home, settings.upload_secret)))
        wait = 0.5
    else:
        from lookalike.adapters.aws import ConfigurationError

        raise ConfigurationError(f"LOOKALIKE_PROFILE={settings.profile!r}: use 'embedded' or 'aws'.")
    service = MatchService(settings)
    processor = JobProcessor(
        storage,
        queue,
        jobs,
        notifier,
        service.match_bytes,
        pause_seconds=settings.worker_pause_seconds,
        thumbnails=settings.thumbnail_url,
    )
    health = settings.health_file()
    health.parent.mkdir(parents=True, exist_ok=True)

    def heartbeat() -> None:
        health.touch()

    loop = WorkerLoop(
        processor,
        queue,
        visibility_timeout=settings.visibility_timeout_seconds,
        job_timeout=settings.job_timeout_seconds,
        wait_seconds=wait,
        heartbeat=heartbeat,
    )
    return loop, ports


@click.command("worker")
@gallery_option
@click.option("--check", is_flag=True, help="Exit 0 if a worker here is healthy, 1 if not (a health check).")
@click.pass_context
@friendly_errors
def worker(ctx: click.Context, gallery: Path | None, check: bool) -> None:
    """Take jobs from the queue and match them, until SIGTERM (the current job is finished first).

    LOOKALIKE_PROFILE=aws reads SQS, S3 and DynamoDB and answers through API Gateway; the default
    (embedded) profile serves the `lookalike serve` on LOOKALIKE_HOST:LOOKALIKE_PORT with the same home.
    """
    settings = settings_from(ctx, gallery=gallery)
    if check:
        ok, why = check_health(settings)
        (console if ok else err_console).print(why, highlight=False)
        sys.exit(0 if ok else 1)
    settings = prepare_gallery(settings)
    loop, _ = build_loop(settings)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    signal.signal(signal.SIGINT, lambda *_: loop.stop())
    console.print(
        f"lookalike worker {os.getpid()}: profile {settings.profile}, gallery {settings.gallery_path()}",
        highlight=False,
    )
    loop.run()
    console.print(f"lookalike worker {os.getpid()}: stopped after {loop.processed} jobs", highlight=False)
