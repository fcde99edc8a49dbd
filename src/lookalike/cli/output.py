"""Shared CLI plumbing: settings from flags, errors without tracebacks, tables, JSON, progress bars."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lookalike.bench import BenchError
from lookalike.errors import LookalikeError
from lookalike.settings import Settings


def _width(stream: object) -> int | None:
    """Terminals report their width; for pipes and files, do not squeeze tables into 80 columns."""
    if getattr(stream, "isatty", lambda: False)():
        return None
    return int(os.environ.get("COLUMNS", "200"))


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))
F = TypeVar("F", bound=Callable[..., Any])


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    base: Settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()
    return base.replace(**overrides)


def friendly_errors(fn: F) -> F:
    """Turn LookalikeError into 'error: …' and exit status 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LookalikeError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            sys.exit(2)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def bench_errors(fn: F) -> F:
    """A benchmark that could not run (its server or a worker did not start): click's own ``Error: …``
    and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BenchError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper  # type: ignore[return-value]


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields ``update(done, total)``.  Where stderr is not a terminal
    (a log file, CI, ``make run > log``) a plain line is printed every 10 s instead."""
    if not enabled:
        yield lambda done, total: None
        return
    if not err_console.is_terminal:
        import time

        start = last = time.monotonic()

        def line(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 10 or (total and done >= total):
                last = now
                share = f" ({100 * done / total:.0f}%)" if total else ""
                err_console.print(f"{description}: {done}/{total or '?'}{share}, {now - start:.0f} s", highlight=False)

        yield line
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


gallery_option = click.option(
    "--gallery",
    "gallery",
    type=click.Path(path_type=Path),
    default=None,
    help="Gallery directory [default: $LOOKALIKE_GALLERY or <home>/gallery].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")

workers_option = click.option("--workers", type=int, default=None, help="Processes [default: all cores].")
detector_option = click.option(
    "--detector",
    type=click.Choice(["auto", "yunet", "hog", "cnn"]),
    default=None,
    help="Face detector [default: $LOOKALIKE_DETECTOR or auto: YuNet (else HOG, then CNN when HOG finds nothing)].",
)
