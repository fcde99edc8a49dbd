"""``lookalike bench load`` and ``lookalike bench abuse``: the web app under load and under attack, each
against a ``lookalike serve`` of its own (the measuring is in ``lookalike.bench.load`` and ``.abuse``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lookalike.cli.output import bench_errors, console
from lookalike.documents import to_json

if TYPE_CHECKING:
    from lookalike.bench.abuse import Outcome
    from lookalike.bench.load import LoadReport


@click.command("load")
@click.option("--clients", type=click.IntRange(1), default=50, show_default=True, help="Concurrent clients.")
@click.option(
    "--photos",
    "photo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of photos to send (searched recursively).",
)
@click.option(
    "--requests",
    "per_client",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Photos each client sends, one after another.",
)
@click.option(
    "--max-photos",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Read at most this many photos from the folder.",
)
@click.option("--url", default=None, help="Use a running server instead of starting one (memory is then not measured).")
@click.option("--gallery", type=click.Path(path_type=Path), default=None, help="Gallery for the server it starts.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Workers of the server it starts.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for one result.")
@click.option("--explain", is_flag=True, help="Ask, as the page does, which parts agree (and time it).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@bench_errors
def load(
    clients: int,
    photo_dir: Path,
    per_client: int,
    max_photos: int,
    url: str | None,
    gallery: Path | None,
    workers: int | None,
    timeout: float,
    explain: bool,
    as_json: bool,
) -> None:
    """Load-test the web app: CLIENTS concurrent users each matching photos through the WebSocket flow."""
    from lookalike.bench.load import load_photos, load_test

    photos = load_photos(photo_dir, max_photos)
    if not photos:
        raise click.UsageError(f"no photos under {photo_dir}")
    report = load_test(photos, clients, per_client, timeout, url=url, gallery=gallery, workers=workers, explain=explain)
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2))
        return
    print_load(report)


def print_load(report: LoadReport) -> None:
    lat, over = report.latency_ms, report.overhead_ms
    click.echo(
        f"{report.ok}/{report.requests} matched by {report.clients} clients in {report.seconds} s: "
        f"{report.throughput_per_s} photos/s"
    )
    click.echo(f"end-to-end ms  p50 {lat.p50}  p95 {lat.p95}  p99 {lat.p99}")
    click.echo(f"overhead ms    p50 {over.p50}  p95 {over.p95}  p99 {over.p99}  (beyond engine time)")
    b = report.breakdown
    click.echo("p50 ms: " + ", ".join(f"{k.removesuffix('_ms').replace('_', ' ')} {v.p50}" for k, v in b.items()))
    if report.errors:
        click.echo("errors: " + ", ".join(f"{k} x{v}" for k, v in report.errors.items()))
    if report.server_memory_mb is not None:
        click.echo(f"server memory (peak, server + workers): {report.server_memory_mb} MB")


@click.command("abuse")
@click.option("--gallery", type=click.Path(path_type=Path), default=None, help="Gallery [default: a small one, built].")
@click.option(
    "--photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The normal photo [default: one from the data folder].",
)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="Workers of the server.")
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    default=300,
    show_default=True,
    help="The server's requests per minute per client.",
)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for one answer.")
@click.option("--only", multiple=True, help="Run only these scenarios (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@bench_errors
def abuse(
    gallery: Path | None,
    photo: Path | None,
    workers: int,
    rate_limit: int,
    timeout: float,
    only: tuple[str, ...],
    as_json: bool,
) -> None:
    """Play what attackers and careless users do against a server of its own, and print what happened."""
    from lookalike.bench.abuse import default_photo, play
    from lookalike.settings import Settings

    data_dir = Settings.from_env().data_dir
    if photo is None:
        photo = default_photo(data_dir)
        if photo is None:
            raise click.UsageError(f"no photo given and none under {data_dir} (set LOOKALIKE_DATA_DIR or --photo)")
    outcomes = play(
        photo, data_dir, gallery=gallery, workers=workers, rate_limit=rate_limit, timeout=timeout, only=set(only)
    )
    if as_json:
        click.echo(json.dumps(to_json(outcomes), indent=2))
    else:
        print_abuse(outcomes)
    if any(o.met is False for o in outcomes):
        raise SystemExit(1)


def print_abuse(outcomes: list[Outcome]) -> None:
    from rich.table import Table

    table = Table(title="lookalike bench abuse")
    for column in ("scenario", "what happened", "measured", "target", "met"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        measured = "" if o.measured is None else f"{o.measured:g} {o.unit}"
        met = {True: "yes", False: "NO", None: ""}[o.met]
        table.add_row(o.scenario, o.happened, measured, o.target, met)
    console.print(table)
