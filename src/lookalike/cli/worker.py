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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lookalike.cli.output import console, err_console, friendly_errors, gallery_option, settings_from
from lookalike.errors import GalleryError
from lookalike.settings import Settings

#: How often a worker started before any gallery was published looks for one again.
GALLERY_WAIT_SECONDS = 15.0


def check_health(settings: Settings) -> tuple[bool, str]:
    path = settings.health_file()
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no health file at {path} (the worker has not started yet)"
    if age > settings.worker_health_seconds:
        return False, f"the worker last reported {age:.0f} s ago (limit {settings.worker_health_seconds:.0f} s)"
    return True, f"healthy ({age:.0f} s ago)"


def fetch_when_published(
    uri: str,
    cache_dir: Path,
    heartbeat: Callable[[], None],
    *,
    wait_seconds: float = GALLERY_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """The gallery at ``uri``; while none is published there yet, wait for one and stay healthy.

    A new stack's first task starts before ``make deploy-aws`` pushes the gallery: crashing would fail
    the deployment (ECS's circuit breaker), so it waits (it takes no job meanwhile).  Any other gallery
    error (damaged, unreachable) is raised."""
    from lookalike.gallery.artifact import fetch_gallery

    told = False
    while True:
        try:
            return fetch_gallery(uri, cache_dir)
        except GalleryError as exc:
            if exc.code != "no_gallery":
                raise
            if not told:
                err_console.print(f"{exc.message} Waiting for one (looking every {wait_seconds:.0f} s).")
                told = True
        heartbeat()
        sleep(wait_seconds)


def prepare_gallery(settings: Settings, heartbeat: Callable[[], None] = lambda: None) -> Settings:
    """A gallery published to S3 (``gallery push``) is fetched once, checked, and used from a local cache;
    results then link its thumbnails and aligned faces by version, where the CDN serves them."""
    if not settings.gallery_uri:
        return settings
    fetched = fetch_when_published(settings.gallery_uri, settings.home / "galleries", heartbeat)
    thumbnails = settings.thumbnail_url
    if thumbnails == Settings().thumbnail_url:
        thumbnails = f"/galleries/{fetched.version}/thumbnails/{{face_id}}.jpg"
    aligned = settings.aligned_url
    if aligned == Settings().aligned_url:
        aligned = f"/galleries/{fetched.version}/aligned/{{face_id}}.jpg"
    return settings.replace(gallery=fetched.path, thumbnail_url=thumbnails, aligned_url=aligned)


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
    from lookalike.wiring import build_worker_loop

    health = settings.health_file()
    health.parent.mkdir(parents=True, exist_ok=True)
    settings = prepare_gallery(settings, heartbeat=health.touch)
    loop = build_worker_loop(settings, heartbeat=health.touch)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    signal.signal(signal.SIGINT, lambda *_: loop.stop())
    console.print(
        f"lookalike worker {os.getpid()}: profile {settings.profile}, gallery {settings.gallery_path()}",
        highlight=False,
    )
    loop.run()
    console.print(f"lookalike worker {os.getpid()}: stopped after {loop.processed} jobs", highlight=False)
