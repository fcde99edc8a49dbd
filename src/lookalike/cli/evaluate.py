"""``lookalike eval``: accuracy on LFW's standard protocol, and gallery identification."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

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
from lookalike.documents import to_json
from lookalike.engine.explain import SHIFT_SETS
from lookalike.evaluation.variants import EVALUATED_MODELS

if TYPE_CHECKING:
    import numpy as np

    from lookalike.evaluation.identify import SeveralPhotosReport


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


MODEL_NAMES = tuple(EVALUATED_MODELS)


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
@click.option(
    "--model",
    "model_names",
    multiple=True,
    type=click.Choice(MODEL_NAMES),
    help="Compare embedding models instead (repeatable; cached vectors, cosine distance, all 10 folds).",
)
@click.option(
    "--weight",
    "fusion_weight",
    type=float,
    default=None,
    help="With --model: a fusion's share of its first model's cosine, fixed [default: chosen on the other folds].",
)
@click.option(
    "--strangers-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the distances of the pairs of different people, the model's stranger table, to this file "
    "(a directory: <embedding id>.json in it; the package's tables are in src/lookalike/engine/embedding/strangers/).",
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
    model_names: tuple[str, ...],
    fusion_weight: float | None,
    strangers_out: Path | None,
    as_json: bool,
) -> None:
    """LFW verification accuracy (pairs.txt, 10-fold cross-validated threshold)."""
    from lookalike.evaluation.lfw import evaluate

    if strangers_out is not None and (model_names or folds or limit or pipeline != "lookalike"):
        raise click.UsageError(
            "--strangers-out measures the engine on all of pairs.txt: no --model, --folds, "
            "--limit or --pipeline with it."
        )
    if model_names:
        _eval_lfw_models(ctx, lfw_dir, list(model_names), workers, as_json, fusion_weight)
        return

    if pipeline == "face_recognition":
        from lookalike.bench.peers import FaceRecognition

        FaceRecognition()  # a clear message now if it is not installed

    settings = settings_from(ctx, detector=detector)
    lfw_dir = lfw_dir or settings.data_dir / "lfw"
    kept: list[Path] = []

    def keep_strangers(dist: np.ndarray, same: np.ndarray) -> None:
        from lookalike.evaluation.strangers import stranger_table_of, write_stranger_table

        assert strangers_out is not None
        kept.append(write_stranger_table(stranger_table_of(dist, same, settings), strangers_out))

    on_distances = keep_strangers if strangers_out is not None else None
    with progress_bar("embedding", enabled=not as_json) as update:
        report = evaluate(lfw_dir, settings, _folds(folds), limit, workers, update, pipeline, on_distances)
    if kept:
        report["strangers_table"] = str(kept[0])
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
        f"{report['images_missed']} of {report['images']} images without a face. Median distance: same person "
        f"{report['median_distance_same']:.3f}, different people {report['median_distance_different']:.3f}; "
        f"similarity curve slope {report['similarity_slope']} (folds {report['similarity_slope_folds']})."
    )
    if kept:
        console.print(f"stranger table: {kept[0]}", highlight=False)


def _eval_lfw_models(
    ctx: click.Context,
    lfw_dir: Path | None,
    model_names: list[str],
    workers: int | None,
    as_json: bool,
    weight: float | None = None,
) -> None:
    from lookalike.evaluation.lfw import evaluate_models

    settings = settings_from(ctx)
    lfw_dir = lfw_dir or settings.data_dir / "lfw"
    with progress_bar("embedding", enabled=not as_json) as update:
        report = evaluate_models(lfw_dir, settings, model_names, workers, update, weight)
    if as_json:
        print_json(report)
        return
    chosen = "threshold and weight" if weight is None else f"threshold (weight fixed at {weight})"
    table = Table(title=f"LFW pairs.txt ({report['pairs']} pairs, {chosen} from the other folds)")
    for col in ("model", "accuracy", "± (folds)", "acc. found pairs", "missed pairs", "threshold", "weight"):
        table.add_column(col, justify="right")
    for name, r in report["models"].items():  # type: ignore[union-attr]
        table.add_row(
            name,
            f"{r['accuracy']:.2%}",
            f"{r['accuracy_std']:.2%}",
            f"{r['accuracy_found_pairs']:.2%}",
            str(r["missed_pairs"]),
            f"{r['threshold_mean']:.3f}",
            f"{r['weight_mean']:.2f}" if len(r["parts"]) == 2 else "-",
        )
    console.print(table)
    console.print("distance = 1 - cosine; weight = share of the first model's cosine in a fusion.")


@eval_group.command("models")
@click.option(
    "--model",
    "model_names",
    multiple=True,
    required=True,
    type=click.Choice(MODEL_NAMES),
    help="Model(s) to measure (repeatable).",
)
@click.option(
    "--lfw",
    "lfw_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The gallery: every photo of this LFW folder [default: DATA_DIR/lfw].",
)
@click.option(
    "--queries",
    "queries",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder(s) of <Person>/<photos> from other sources; people not in LFW are the strangers.",
)
@click.option("--max-strangers", type=float, default=0.01, show_default=True, help="Strangers named at most.")
@click.option(
    "--weight",
    type=float,
    default=0.5,
    show_default=True,
    help="A fusion's share of its first model's cosine (take it from `eval lfw --model fused`).",
)
@workers_option
@json_option
@click.pass_context
@friendly_errors
def eval_models(
    ctx: click.Context,
    model_names: tuple[str, ...],
    lfw_dir: Path | None,
    queries: tuple[Path, ...],
    max_strangers: float,
    weight: float,
    workers: int | None,
    as_json: bool,
) -> None:
    """Cross-source identification per model against all of LFW; identity rule chosen by cross-validation."""
    from lookalike.evaluation.crossid import evaluate

    settings = settings_from(ctx)
    lfw_dir = lfw_dir or settings.data_dir / "lfw"
    reports = []
    for name in model_names:
        with progress_bar(name, enabled=not as_json) as update:
            reports.append(evaluate(name, lfw_dir, list(queries), settings, workers, update, max_strangers, weight))
    if as_json:
        print_json(reports)
        return
    table = Table(title="identification against all of LFW (held-out: rule chosen on the other half of the people)")
    cols = ("model", "rank-1", "rank-5", "identified", "wrong id.", "strangers named", "threshold", "margin", "no face")
    for col in cols:
        table.add_column(col, justify="right")
    for r in reports:
        table.add_row(
            str(r["model"]),
            f"{r['rank1']:.2%}",
            f"{r['rank5']:.2%}",
            f"{r['held_out_identified']:.2%}",
            f"{r['held_out_wrong_identity']:.2%}",
            f"{r['held_out_strangers_named']:.2%}",
            f"{r['identity_threshold']:.3f}",
            f"{r['identity_margin']:.3f}",
            str(r["no_face"]),
        )
    console.print(table)
    for r in reports:
        for source, numbers in r["by_source"].items():  # type: ignore[union-attr]
            console.print(
                f"{r['model']}: {source}: rank-1 {numbers['rank1']:.2%}, rank-5 {numbers['rank5']:.2%} "
                f"of {numbers['queries_in_gallery']} queries of LFW people"
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
@click.option(
    "--several",
    type=click.IntRange(2, 5),
    default=None,
    help="Instead: rank-1 of one photo against N photos of a person combined (people with more than N photos).",
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
    several: int | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Rank-1 and rank-5 identification of QUERIES against a gallery."""
    from lookalike.evaluation.identify import evaluate, evaluate_several
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
            if several:
                _print_several(evaluate_several(g, queries, settings, several, workers, update), as_json)
                return
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


def _print_several(report: SeveralPhotosReport, as_json: bool) -> None:
    if as_json:
        print_json(to_json(report))
        return
    table = Table(title=f"one photo against {report.per_query} combined", show_header=False)
    for key, value in to_json(report).items():
        shown = "-" if value is None else f"{value:.1%}" if isinstance(value, float) else str(value)
        table.add_row(key.replace("_", " "), shown)
    console.print(table)


@eval_group.command("quality")
@click.option(
    "--people", type=click.IntRange(2), default=150, show_default=True, help="People per set (2 photos each)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which people (a fixed seed: the same every run).")
@workers_option
@json_option
@click.pass_context
@friendly_errors
def eval_quality(ctx: click.Context, people: int, seed: int, workers: int | None, as_json: bool) -> None:
    """The photo quality hints: false hints on faces as they are, misses on blurred, dark and shrunk copies
    (made at run time), LFW (tune) and celeb_mini, small/, group/ (check); "turned" by the photos' own poses."""
    from lookalike.evaluation.quality import evaluate

    settings = settings_from(ctx)
    with progress_bar("measuring", enabled=not as_json) as update:
        report = evaluate(settings, people, seed, workers, update)
    if as_json:
        from lookalike.documents import to_json

        print_json(to_json(report))
        return
    console.print("thresholds: " + ", ".join(f"{k} {v:g}" for k, v in report.thresholds.items()), highlight=False)
    table = Table(title="hints per variant (share of the faces found; the expected hint in bold)")
    for col in ("set", "variant", "faces", "moved (median)", "small", "blurred", "dark", "turned"):
        table.add_column(col, justify="left" if col in ("set", "variant") else "right")
    for row in report.variants:
        shares = [
            f"[bold]{row.hinted[h]:.1%}[/]" if h == row.expected else f"{row.hinted[h]:.1%}"
            for h in ("small", "blurred", "dark", "turned")
        ]
        moved = "-" if row.median_shift is None else f"{row.median_shift:.3f}"
        table.add_row(row.set, row.variant, f"{row.faces}/{row.photos}", moved, *shares)
    console.print(table)
    poses = Table(title="a person's two photos, by the more turned one's |yaw| (estimated)")
    for col in ("set", "|yaw|", "pairs", "distance (median)", "given 'turned'"):
        poses.add_column(col, justify="left" if col == "set" else "right")
    for p in report.poses:
        median = "-" if p.median_distance is None else f"{p.median_distance:.3f}"
        poses.add_row(p.set, f"{p.low:g}–{p.high:g}°", str(p.pairs), median, f"{p.turned:.1%}")
    console.print(poses)
    spread = Table(title="the measures on faces as they are: percentiles")
    for col in ("set", "measure", "p1", "p5", "p50", "p95", "p99"):
        spread.add_column(col, justify="left" if col in ("set", "measure") else "right")
    for q in report.percentiles:
        spread.add_row(q.set, q.measure, *(f"{v:g}" for v in (q.p1, q.p5, q.p50, q.p95, q.p99)))
    console.print(spread)


@eval_group.command("explain")
@click.option(
    "--pairs", type=click.IntRange(2), default=150, show_default=True, help="Same-person pairs, and as many lookalikes."
)
@click.option(
    "--looks",
    type=click.Choice([str(n) for n in sorted(SHIFT_SETS)]),
    default=None,
    help="How many shifted looks at each part [default: the setting LOOKALIKE_EXPLAIN_LOOKS].",
)
@click.option(
    "--mirror/--no-mirror", default=None, help="Explain the mirror images too [default: LOOKALIKE_EXPLAIN_MIRROR]."
)
@json_option
@click.pass_context
@friendly_errors
def eval_explain(ctx: click.Context, pairs: int, looks: str | None, mirror: bool | None, as_json: bool) -> None:
    """Which parts agree: faithful (hiding the first-ranked part, another way, moves the distance more than
    hiding the last), stable (re-encoded and mirrored photos), and the cost of a face's top 3 (LFW)."""
    from lookalike.evaluation.explain import evaluate

    settings = settings_from(ctx)
    shifts = SHIFT_SETS[int(looks) if looks else settings.explain_looks]
    with progress_bar("explaining", enabled=not as_json) as update:
        report = evaluate(settings, pairs, shifts, update, mirror=settings.explain_mirror if mirror is None else mirror)
    if as_json:
        print_json(to_json(report))
        return
    mirrored = ", mirror images too" if report.mirror else ""
    faithful = Table(
        title=f"faithful: hiding the first part moves the faces apart more than the last ({report.model}, "
        f"{report.shifts} look(s) a part{mirrored})"
    )
    for col in ("pairs", "count", "faithful"):
        faithful.add_column(col, justify="left" if col == "pairs" else "right")
    for kind in ("same", "lookalike", "all"):
        count = sum(report.pairs.values()) if kind == "all" else report.pairs[kind]
        faithful.add_row(kind, str(count), f"{report.faithful[kind]:.1%}")
    console.print(faithful)
    stable = Table(title="stable: the left photo changed, found and explained again")
    for col in ("photo", "pairs", "first part kept", "first part in the first two", "rho"):
        stable.add_column(col, justify="left" if col == "photo" else "right")
    for name, st in (("re-encoded (JPEG 60)", report.reencoded), ("mirrored", report.mirrored)):
        stable.add_row(name, str(st.pairs), f"{st.same_first:.1%}", f"{st.first_in_two:.1%}", f"{st.rho:.2f}")
    console.print(stable)
    cost = report.ms_per_face
    console.print(f"a face's top 3 explained in {cost['median']:.0f} ms (median; p90 {cost['p90']:.0f} ms)")
    console.print("ranked first: " + ", ".join(f"{p} {n}" for p, n in report.first_parts.items()), highlight=False)
