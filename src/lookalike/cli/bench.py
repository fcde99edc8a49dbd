"""``lookalike bench``: speed measurements that print numbers (not tests)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from lookalike.cli.output import console, friendly_errors, gallery_option, json_option, print_json, settings_from


@click.group("bench")
def bench_group() -> None:
    """Measure speed."""


@bench_group.command("engine")
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--sizes",
    default="0",
    show_default=True,
    help="Re-encode each photo at these megapixels, e.g. 1,12 (0 = as it is).",
)
@click.option("--repeat", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option(
    "--vs",
    "versus",
    type=click.Choice(["face_recognition"]),
    default=None,
    help="Also run face_recognition's pipeline on the same photos.",
)
@gallery_option
@json_option
@click.pass_context
@friendly_errors
def bench_engine(
    ctx: click.Context,
    photos: tuple[Path, ...],
    sizes: str,
    repeat: int,
    versus: str | None,
    gallery: Path | None,
    as_json: bool,
) -> None:
    """Per-stage median latency (ms) of the engine on PHOTOS, optionally vs face_recognition."""
    from lookalike.bench import engine as bench
    from lookalike.gallery.store import Gallery

    settings = settings_from(ctx, gallery=gallery)
    vectors = None
    if gallery is not None:
        with Gallery.open(settings.gallery_path()) as g:
            vectors = g.vectors()[0]
    cases = bench.make_cases(list(photos), [float(s) for s in sizes.split(",")])
    results = bench.run(cases, settings, repeat, vectors, versus is not None)
    rows = [r.as_dict() for r in results]
    summary = bench.summary(results)
    if as_json:
        print_json(
            {
                "repeat": repeat,
                "gallery_faces": None if vectors is None else len(vectors),
                "photos": rows,
                "summary": summary,
            }
        )
        return
    table = Table(title=f"engine latency, median of {repeat} runs (ms)")
    columns = ["photo", "MP", "faces", "decode", "detect", "landmarks", "embed", "search", "total"]
    if versus:
        columns += ["face_recognition", "fr faces", "same faces", "speed-up"]
    for col in columns:
        table.add_column(col, justify="left" if col == "photo" else "right")
    for row in rows:
        ms = row["ours_ms"]
        cells = [
            row["photo"],
            f"{row['megapixels']:.1f}",
            str(row["faces"]),
            str(ms["decode"]),
            f"{ms['resize'] + ms['detect'] + ms['detect_cnn']:.1f}",
            str(ms["landmarks"]),
            str(ms["embed"]),
            str(ms["search"]),
            str(ms["total"]),
        ]
        if versus:
            cells += [
                str(row["face_recognition_ms"]),
                str(row["face_recognition_faces"]),
                "yes" if row["same_faces"] else "no",
                f"{row['speedup']}x",
            ]
        table.add_row(*cells)
    console.print(table)
    for s in summary:
        line = f"{s['megapixels']} MP ({s['photos']} photos): ours {s['ours_ms']} ms"
        if "speedup" in s:
            line += f", face_recognition {s['face_recognition_ms']} ms, speed-up {s['speedup']}x"
        console.print(line)


@bench_group.command("search")
@click.option("--sizes", default="10000,100000,1000000", show_default=True, help="Gallery sizes (faces).")
@click.option("--queries", type=int, default=200, show_default=True)
@gallery_option
@json_option
@click.pass_context
@friendly_errors
def bench_search(ctx: click.Context, sizes: str, queries: int, gallery: Path | None, as_json: bool) -> None:
    """Exact vs HNSW search on face-like synthetic galleries (seeded by a real gallery if given)."""
    from lookalike.bench import search as bench
    from lookalike.gallery.store import Gallery

    seeds = None
    if gallery is not None:
        with Gallery.open(settings_from(ctx, gallery=gallery).gallery_path()) as g:
            seeds = g.vectors()[0]
    rows = bench.run([int(s) for s in sizes.split(",")], queries, seeds)
    if as_json:
        print_json({"queries": queries, "seeded_by_gallery": seeds is not None, "results": rows})
        return
    table = Table(title="search: exact (NumPy) vs HNSW (FAISS, M=32, efSearch=128)")
    for col in rows[0]:
        table.add_column(col.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
