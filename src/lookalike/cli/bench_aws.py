"""``lookalike bench aws``: throughput of the AWS profile with 1, 2, 3 ... workers, on an emulated AWS
(the benchmark itself is ``lookalike.bench.aws``)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lookalike.cli.output import (
    bench_errors,
    console,
    err_console,
    friendly_errors,
    json_option,
    print_json,
    progress_bar,
    settings_from,
)
from lookalike.documents import to_json

if TYPE_CHECKING:
    from lookalike.bench.aws import AwsReport


@click.command("aws")
@click.option(
    "--endpoint",
    default=None,
    help="URL of a running AWS emulator (ministack with AUTH=true, root keys test/test); "
    "default: start ministack on a free loopback port.",
)
@click.option("--region", default="us-east-1", show_default=True, help="Region, with --endpoint.")
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    default=None,
    help="Gallery to push [default: $LOOKALIKE_GALLERY or <home>/gallery].",
)
@click.option("--workers", "worker_counts", default="1,2,3", show_default=True, help="Worker counts, one run each.")
@click.option("--jobs", type=click.IntRange(1), default=200, show_default=True, help="Jobs per run.")
@click.option("--clients", type=click.IntRange(1), default=20, show_default=True, help="Concurrent clients.")
@click.option(
    "--photos",
    "photo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of photos, cycled [default: group photos and small single-face crops from LOOKALIKE_DATA_DIR].",
)
@click.option(
    "--warmup",
    type=click.IntRange(0),
    default=None,
    help="Unmeasured jobs before each run, so every Lambda and worker is warm [default: --clients].",
)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for one result.")
@json_option
@click.pass_context
@friendly_errors
@bench_errors
def aws(
    ctx: click.Context,
    endpoint: str | None,
    region: str,
    gallery: Path | None,
    worker_counts: str,
    jobs: int,
    clients: int,
    photo_dir: Path | None,
    warmup: int | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Throughput of the AWS profile with 1, 2, 3 ... workers, on an emulated AWS.

    Provisions a fresh stack from the deployment spec, pushes the gallery, then for each worker count
    starts that many `lookalike worker` processes and runs JOBS jobs (upload, match, wait for the
    result) from CLIENTS concurrent clients. Exits 1 if a job went unanswered, failed or was answered
    twice, or if a photo or a queue message was left behind.
    """
    from lookalike.bench.aws import Unavailable, default_photos, photos_under, read_photos, run_benchmark

    counts = _worker_counts(worker_counts)
    settings = settings_from(ctx, gallery=gallery)
    paths = photos_under(photo_dir) if photo_dir else default_photos(settings.data_dir)
    if not paths:
        raise click.UsageError(f"no photos found (looked in {photo_dir or settings.data_dir}); pass --photos DIR")
    photos = read_photos(paths)
    try:
        report = run_benchmark(
            photos,
            counts,
            settings.gallery_path(),
            endpoint=endpoint,
            region=region,
            jobs=jobs,
            clients=clients,
            warmup=warmup,
            timeout=timeout,
            note=note,
            progress=progress_for,
        )
    except Unavailable as exc:
        err_console.print(exc.message, highlight=False)
        sys.exit(2)
    if as_json:
        print_json(to_json(report))
    else:
        print_table(report)
    sys.exit(1 if report.bad else 0)


def _worker_counts(value: str) -> list[int]:
    try:
        counts = [int(c) for c in value.split(",") if c.strip()]
    except ValueError:
        raise click.BadParameter("a list of worker counts, e.g. 1,2,3", param_hint="--workers") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("a list of worker counts, each at least 1", param_hint="--workers")
    return counts


def note(message: str) -> None:
    err_console.print(message, highlight=False)


@contextlib.contextmanager
def progress_for(description: str, total: int, every: float = 10.0) -> Iterator[Callable[[int], None]]:
    """A bar on a terminal; otherwise a line every ``every`` seconds and one at the end."""
    if err_console.is_terminal:
        with progress_bar(description) as update:
            yield lambda done: update(done, total)
        return
    begin = last = time.monotonic()
    state = {"done": 0}

    def update(done: int) -> None:
        nonlocal last
        state["done"] = done
        now = time.monotonic()
        if now - last >= every:
            last = now
            err_console.print(f"{description}: {done}/{total} jobs, {now - begin:.0f} s", highlight=False)

    yield update
    err_console.print(
        f"{description}: {state['done']}/{total} jobs in {time.monotonic() - begin:.0f} s", highlight=False
    )


def print_table(report: AwsReport) -> None:
    from rich.table import Table

    runs = report.runs
    table = Table(title=f"AWS profile on {report.emulator}: {report.jobs} jobs from {report.clients} clients")
    columns = ["workers", "results", "dup", "errors", "photos left", "msgs left", "jobs/s", "x 1st"]
    columns += ["p50 ms", "p95 ms", "max ms", "faces", "CPU s w/e/c", "load avg"]
    for col in columns:
        table.add_column(col, justify="right")
    first = runs[0].throughput_per_s if runs else None
    for run in runs:
        lat, rate = run.latency_ms, run.throughput_per_s
        table.add_row(
            str(run.workers),
            f"{run.results}/{run.jobs}",
            str(run.duplicates),
            str(run.errors + run.failed),
            str(run.photos_left),
            str(run.messages_left + run.dead_letters),
            "-" if rate is None else f"{rate:.2f}",
            "-" if not (rate and first) else f"{rate / first:.2f}",
            str(lat["p50"]),
            str(lat["p95"]),
            str(lat["max"]),
            str(run.faces),
            " / ".join("-" if v is None else f"{v:.0f}" for v in run.cpu_seconds.values()),
            " / ".join(f"{v:.2f}" for v in run.load_average),
        )
    console.print(table)
    console.print(
        f"gallery {report.gallery['faces']} faces ({report.gallery['people']} people); "
        f"{report.photos} photos cycled; CPU s w/e/c = CPU time of the workers / the emulator (with its Lambda "
        f"functions) / the clients during the run; load avg = 1-minute load at the run's start / end "
        f"on {report.cpus} CPUs",
        highlight=False,
    )
    for run in runs:
        if run.error_kinds:
            kinds = ", ".join(f"{k} x{v}" for k, v in run.error_kinds.items())
            console.print(f"{run.workers} workers: errors: {kinds}", highlight=False)
