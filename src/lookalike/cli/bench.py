"""``lookalike bench``: speed measurements that print numbers (not tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from lookalike.cli.bench_aws import aws
from lookalike.cli.bench_web import abuse, load
from lookalike.cli.output import console, friendly_errors, gallery_option, json_option, print_json, settings_from


@click.group("bench")
def bench_group() -> None:
    """Measure speed."""


@bench_group.command("photos")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write into.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--classes", default="1MP,12MP,24MP", show_default=True, help="Synthetic canvas sizes to make (comma-separated)."
)
@click.pass_context
@friendly_errors
def bench_photos(ctx: click.Context, out: Path, seed: int, classes: str) -> None:
    """Make the standard benchmark set from the data folder ($LOOKALIKE_DATA_DIR): pasted people at
    1/12/24 MP with ground-truth boxes, dlib's detection examples, the group photos; and manifest.json."""
    from lookalike.bench import photos

    settings = settings_from(ctx)
    manifest = photos.build(settings.data_dir, out, seed, tuple(c for c in classes.split(",") if c))
    faces = sum(len(p["faces"] or []) for p in manifest["photos"])
    console.print(f"{len(manifest['photos'])} photos, {faces} ground-truth faces: {out / 'manifest.json'}")


@bench_group.command("engine")
@click.argument("photos", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "photo_set",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A standard set made by `lookalike bench photos` (ground truth is then counted too).",
)
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
    type=click.Choice(["face_recognition", "insightface"]),
    multiple=True,
    help="Also run this peer's pipeline on the same photos (repeatable; `make bench-env` installs both).",
)
@gallery_option
@json_option
@click.pass_context
@friendly_errors
def bench_engine(
    ctx: click.Context,
    photos: tuple[Path, ...],
    photo_set: Path | None,
    sizes: str,
    repeat: int,
    versus: tuple[str, ...],
    gallery: Path | None,
    as_json: bool,
) -> None:
    """Per-photo latency (median ms) and faces found, optionally vs face_recognition (HOG, upsample 1)
    and InsightFace (buffalo_s, det_size 1280).

    A speed-up is printed only beside the faces both found and the count of photos where ours found fewer."""
    from lookalike.bench import engine as bench
    from lookalike.gallery.store import Gallery

    if not photos and photo_set is None:
        raise click.UsageError("give PHOTOS or --set DIR")
    settings = settings_from(ctx, gallery=gallery)
    vectors = None
    if gallery is not None:
        with Gallery.open(settings.gallery_path()) as g:
            vectors = g.vectors()[0]
    cases = bench.make_cases(list(photos), [float(s) for s in sizes.split(",")]) if photos else []
    if photo_set is not None:
        cases += bench.cases_from_set(photo_set)
    results = bench.run(cases, settings, repeat, vectors, tuple(dict.fromkeys(versus)))
    rows = [r.as_dict() for r in results]
    summary = bench.summary(results)
    if as_json:
        print_json(
            {
                "repeat": repeat,
                "detector": settings.detector,
                "gallery_faces": None if vectors is None else len(vectors),
                "photos": rows,
                "summary": summary,
            }
        )
        return
    _print_engine(rows, summary, repeat)


#: Short names of the peers for table headers.
PEER_LABELS = {"face_recognition": "fr", "insightface": "if"}


def _print_engine(rows: list[dict[str, Any]], summary: list[dict[str, Any]], repeat: int) -> None:
    table = Table(title=f"engine latency, median of {repeat} runs (ms; sums of the best runs below); faces found")
    columns = ["photo", "MP", "faces", "truth", "decode", "detect", "landm.", "embed", "total"]
    peers = list(rows[0]["peers"]) if rows else []
    for name in peers:
        label = PEER_LABELS.get(name, name)
        columns += [f"{label} ms", f"{label} faces", f"{label} truth", f"{label} found by us", f"vs {label}"]
    for col in columns:
        table.add_column(col, justify="left" if col == "photo" else "right")
    for row in rows:
        ms = row["ours_ms"]
        truth = "" if row["truth_faces"] is None else f"{row['truth_found']}/{row['truth_faces']}"
        cells = [
            str(row["photo"]),
            f"{row['megapixels']:.1f}",
            str(row["faces"]),
            truth,
            str(ms["decode"]),
            f"{ms['resize'] + ms['detect'] + ms['detect_cnn']:.1f}",
            str(ms["landmarks"]),
            str(ms["embed"]),
            str(ms["total"]),
        ]
        for name in peers:
            peer = row["peers"][name]
            cells += [
                str(peer["ms"]),
                str(peer["faces"]),
                "" if peer["truth_found"] is None else str(peer["truth_found"]),
                f"{peer['matched']}/{peer['faces']}"
                + (f" ({peer['missed_outside_truth']} not true)" if peer["missed_outside_truth"] else "")
                + (" WORSE" if peer["worse"] else ""),
                f"{peer['speedup']}x",
            ]
        table.add_row(*cells)
    console.print(table)
    _print_engine_summary(summary)


def _print_engine_summary(summary: list[dict[str, Any]]) -> None:
    for s in summary:
        line = f"{s['size_class']} ({s['photos']} photos): ours {s['ours_ms']} ms for {s['faces']} faces"
        line += f" (best runs {s['ours_best_ms']} ms; slowest photo {s['ours_slowest_ms']} ms)"
        if "truth_faces" in s:
            line += f" ({s['truth_found']}/{s['truth_faces']} true faces)"
        for name, peer in s["peers"].items():
            line += f"; {name} {peer['ms']} ms (best runs {peer['best_ms']} ms) for {peer['faces']} faces"
            if "truth_found" in peer:
                line += f" ({peer['truth_found']}/{s['truth_faces']} true faces)"
            line += (
                f", we found {peer['matched']}/{peer['faces']} of theirs"
                f" (missed, not in the ground truth: {peer['missed_outside_truth']}),"
                f" photos where ours found fewer: {peer['worse']}, speed-up (sum of times) {peer['speedup']}x"
            )
        console.print(line)


@bench_group.command("search")
@click.option("--sizes", default="10000,100000,1000000", show_default=True, help="Gallery sizes (faces).")
@click.option("--queries", type=int, default=200, show_default=True)
@click.option(
    "--filtered",
    is_flag=True,
    help="Also filtered search: a filter keeping 10%% of the people, HNSW (selector) vs exact, through the matcher.",
)
@gallery_option
@json_option
@click.pass_context
@friendly_errors
def bench_search(
    ctx: click.Context, sizes: str, queries: int, filtered: bool, gallery: Path | None, as_json: bool
) -> None:
    """Exact vs HNSW search on face-like synthetic galleries (seeded by a real gallery if given)."""
    from lookalike.bench import search as bench
    from lookalike.gallery.store import Gallery

    seeds = None
    if gallery is not None:
        with Gallery.open(settings_from(ctx, gallery=gallery).gallery_path()) as g:
            seeds = g.vectors()[0]
    size_list = [int(s) for s in sizes.split(",")]
    rows = bench.run(size_list, queries, seeds)
    filtered_rows = bench.run_filtered(size_list, queries, 0.1, seeds) if filtered else None
    if as_json:
        out: dict[str, Any] = {"queries": queries, "seeded_by_gallery": seeds is not None, "results": rows}
        if filtered_rows is not None:
            out["filtered"] = {"filter": "sex=female", "keeps_people": 0.1, "top_k": 5, "results": filtered_rows}
        print_json(out)
        return
    _print_rows("search: exact (NumPy) vs HNSW (FAISS, M=32, efSearch=128)", rows)
    if filtered_rows is not None:
        _print_rows("filtered search (10% of the people pass), per query through the matcher, top-5", filtered_rows)


def _print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


bench_group.add_command(load)
bench_group.add_command(abuse)
bench_group.add_command(aws)
