"""``lookalike eval``: accuracy on LFW's standard protocol, and gallery identification."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.table import Table

from lookalike.cli.output import (
    console,
    detector_option,
    friendly_errors,
    json_option,
    print_json,
    progress_bar,
    settings_from,
    workers_option,
)


@click.group("eval")
def eval_group() -> None:
    """Measure accuracy."""


def _folds(value: str | None) -> list[int] | None:
    if not value:
        return None
    out: list[int] = []
    for part in value.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


@eval_group.command("lfw")
@click.option(
    "--lfw",
    "lfw_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="LFW folder (with _meta/pairs.txt) [default: DATA_DIR/lfw].",
)
@click.option("--folds", default=None, help="Folds to run, e.g. 1-10 or 1,2 [default: all 10].")
@click.option("--limit", type=int, default=None, help="Only the first N matched and N mismatched pairs per fold.")
@workers_option
@detector_option
@click.option(
    "--pipeline",
    type=click.Choice(["lookalike", "face_recognition"]),
    default="lookalike",
    show_default=True,
    help="Measure face_recognition's pipeline instead (make bench-env installs it).",
)
@json_option
@click.pass_context
@friendly_errors
def eval_lfw(
    ctx: click.Context,
    lfw_dir: Path | None,
    folds: str | None,
    limit: int | None,
    workers: int | None,
    detector: str | None,
    pipeline: str,
    as_json: bool,
) -> None:
    """LFW verification accuracy (pairs.txt, 10-fold cross-validated threshold)."""
    from lookalike.evaluation.lfw import evaluate

    if pipeline == "face_recognition":
        from lookalike.bench.engine import import_face_recognition

        import_face_recognition()  # a clear message now if it is not installed

    settings = settings_from(ctx, detector=detector)
    lfw_dir = lfw_dir or settings.data_dir / "lfw"
    with progress_bar("embedding", enabled=not as_json) as update:
        report = evaluate(lfw_dir, settings, _folds(folds), limit, workers, update, pipeline)
    if as_json:
        print_json(report)
        return
    table = Table(title="LFW pairs.txt")
    for col in ("fold", "pairs", "threshold", "accuracy", "acc. found pairs", "acc. @ setting", "missed pairs"):
        table.add_column(col, justify="right")
    for f in report["per_fold"]:  # type: ignore[union-attr]
        table.add_row(
            str(f["fold"]),
            str(f["pairs"]),
            f"{f['threshold']:.3f}",
            f"{f['accuracy']:.2%}",
            f"{f['accuracy_found']:.2%}",
            f"{f['accuracy_at_setting']:.2%}",
            str(f["missed_pairs"]),
        )
    console.print(table)
    console.print(
        f"accuracy {report['accuracy']:.2%} ± {report['accuracy_std']:.2%} (misses count as errors); "
        f"{report['accuracy_found_pairs']:.2%} on pairs with both faces found; "
        f"{report['accuracy_at_setting']:.2%} at threshold {report['setting_threshold']}. "
        f"{report['images_missed']} of {report['images']} images without a face."
    )


@eval_group.command("identify")
@click.option(
    "--gallery-src",
    "gallery_src",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Folder(s) of <Person>/<photos> to build a temporary gallery from.",
)
@click.option(
    "--gallery",
    "gallery",
    type=click.Path(path_type=Path),
    default=None,
    help="Use this built gallery instead of --gallery-src.",
)
@click.option(
    "--queries",
    "queries",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of <Person>/<photos> to identify.",
)
@workers_option
@json_option
@click.pass_context
@friendly_errors
def eval_identify(
    ctx: click.Context,
    gallery_src: tuple[Path, ...],
    gallery: Path | None,
    queries: Path,
    workers: int | None,
    as_json: bool,
) -> None:
    """Rank-1 and rank-5 identification of QUERIES against a gallery."""
    from lookalike.evaluation.identify import evaluate
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery

    settings = settings_from(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        if gallery_src:
            g = Gallery.create(Path(tmp) / "gallery")
            photos, _ = scan_sources(gallery_src)
            with progress_bar("gallery", enabled=not as_json) as update:
                build_gallery(g, photos, settings, workers=workers, progress=update)
        else:
            g = Gallery.open(settings.replace(gallery=gallery).gallery_path())
        with g, progress_bar("queries", enabled=not as_json) as update:
            report = evaluate(g, queries, settings, workers, update)
    if as_json:
        print_json(report)
        return
    table = Table(title="identification", show_header=False)
    for key, value in report.items():
        table.add_row(
            key.replace("_", " "),
            "-"
            if value is None
            else f"{value:.2%}"
            if isinstance(value, float) and not key.startswith("identity_")
            else str(value),
        )
    console.print(table)
