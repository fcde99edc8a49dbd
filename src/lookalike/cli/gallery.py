"""``lookalike gallery``: build, inspect, change and publish the gallery of known faces.

What each command does is in ``lookalike.gallery``; these parse the flags, call it and print."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from lookalike.cli.output import (
    console,
    friendly_errors,
    gallery_option,
    json_option,
    print_json,
    progress_bar,
    settings_from,
    workers_option,
)
from lookalike.documents import to_json
from lookalike.settings import Settings


@click.group("gallery")
def gallery_group() -> None:
    """Build and inspect the gallery of known faces."""


@gallery_group.command("build")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=None, help="Gallery directory to create or update."
)
@click.option(
    "--pick",
    type=click.Choice(["centre", "largest"]),
    default="centre",
    show_default=True,
    help="Which face of a photo with several faces: nearest the centre (LFW's rule) or the largest.",
)
@workers_option
@click.option(
    "--log",
    "log_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write why photos were skipped [default: GALLERY/build-log.tsv].",
)
@click.option(
    "--replace-other-model",
    is_flag=True,
    help="If the gallery holds another embedding model's vectors, build a new one beside it and replace it "
    "when done (else: an error that says so).",
)
@click.option(
    "--require-reusable",
    is_flag=True,
    default=None,
    help="Add only photos whose licence allows reuse with credit (a public deployment); the others are skipped "
    "as no_reuse_licence [default: LOOKALIKE_REQUIRE_REUSABLE].",
)
@json_option
@click.pass_context
@friendly_errors
def gallery_build(
    ctx: click.Context,
    sources: tuple[Path, ...],
    out: Path | None,
    pick: str,
    workers: int | None,
    log_path: Path | None,
    replace_other_model: bool,
    require_reusable: bool | None,
    as_json: bool,
) -> None:
    """Build (or update) a gallery from SOURCES folders laid out as <Person_Name>/<photos>.

    Re-running skips photos already embedded, re-embeds changed ones and drops removed ones.
    """
    from lookalike.gallery.build import plan_build, run_build

    settings = settings_from(ctx, gallery=out, require_reusable=require_reusable or None)
    plan = plan_build(sources, settings, replace_other_model=replace_other_model)
    if plan.aside and not as_json:
        console.print(
            f"{plan.target} holds {plan.old_embedding!r} vectors; the engine makes {plan.embedding!r}. Building a "
            f"new gallery at {plan.build_at}; it replaces the old one when done."
        )
    built = run_build(
        plan,
        pick=pick,
        workers=workers,
        log_path=log_path,
        progress=lambda: progress_bar("building", enabled=not as_json),
    )
    summary = built.as_dict()
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"gallery {built.gallery}", show_header=False)
    for key in ("added", "unchanged", "removed", "multi_face_photos", "aligned"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    for reason, n in sorted(built.report.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    for reason, n in sorted(built.report.not_aligned.items()):
        table.add_row(f"not aligned: {reason}", str(n))
    table.add_row("faces / people", f"{built.faces} / {built.people}")
    table.add_row("reusable photos", f"{built.provenance.reusable} of {built.provenance.photos}")
    table.add_row("time", f"{built.seconds:.1f} s")
    console.print(table)
    _left_out(built.report.removed_by_list, settings)
    console.print(
        f"One face per photo, chosen as the face {'nearest the centre' if pick == 'centre' else 'largest'}."
        f" Skipped photos and why: {built.log}"
    )
    if built.not_reusable:
        console.print(
            f"{built.not_reusable} of the gallery's {built.provenance.photos} photos have no reuse licence "
            f"(licences: {_counts(built.provenance.per_licence)}): a public deployment would show them. "
            "Build with --require-reusable (or LOOKALIKE_REQUIRE_REUSABLE=1) to leave them out.",
            highlight=False,
        )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


@gallery_group.command("info")
@gallery_option
@click.option("--skipped", is_flag=True, help="List the photos that gave no face, and why.")
@json_option
@click.pass_context
@friendly_errors
def gallery_info(ctx: click.Context, gallery: Path | None, skipped: bool, as_json: bool) -> None:
    """Show what a gallery holds."""
    from lookalike.gallery.store import Gallery

    settings = settings_from(ctx, gallery=gallery)
    with Gallery.open(settings.gallery_path()) as g:
        info = {"gallery": str(g.path), **g.meta(), **g.counts()}
        summary = g.summary()
        rows = g.skipped() if skipped else []
    if as_json:
        extra = {"skipped": [list(r) for r in rows]} if skipped else {}
        print_json({**info, "provenance": to_json(summary), **extra})
        return
    table = Table(show_header=False, title="gallery")
    for key, value in info.items():
        table.add_row(key, str(value))
    table.add_row("photos per set", _counts(summary.per_set))
    table.add_row("photos per licence", _counts(summary.per_licence))
    table.add_row("reusable photos", f"{summary.reusable} of {summary.photos}")
    table.add_row("with author / credit", f"{summary.with_author} / {summary.with_credit}")
    table.add_row("people with facts", str(summary.people_with_facts))
    console.print(table)
    for path, status, reason in rows:
        console.print(f"{status}\t{reason}\t{path}", highlight=False)


@gallery_group.command("add")
@click.argument("name")
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@gallery_option
@click.option("--pick", type=click.Choice(["centre", "largest"]), default="largest", show_default=True)
@json_option
@click.pass_context
@friendly_errors
def gallery_add(
    ctx: click.Context, name: str, photos: tuple[Path, ...], gallery: Path | None, pick: str, as_json: bool
) -> None:
    """Add PHOTOS of the person NAME (e.g. Ada_Lovelace) to the gallery."""
    from lookalike.errors import GalleryError
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.removals import RemovalList
    from lookalike.gallery.store import Gallery

    settings = settings_from(ctx, gallery=gallery)
    if RemovalList.of(settings).removes(name):
        raise GalleryError(
            f"{name} is on the removal list ({settings.removals_path()}): not added (take the line out to add "
            "them again).",
            code="removed",
        )
    found, _ = scan_sources(photos, person=name)
    with Gallery.create(settings.gallery_path()) as g:
        report = build_gallery(g, found, settings, pick=pick, workers=1, prune=False, align_existing=False)
    if as_json:
        print_json({"name": name, **report.as_dict(), "log": report.log})
        return
    console.print(f"{name}: {report.added} photo(s) added, {report.unchanged} already there.")
    for path, why in report.log:
        console.print(f"  skipped {path}: {why}", highlight=False)


@gallery_group.command("remove")
@click.argument("person")
@gallery_option
@click.option("--reason", default="", help="Why, and who asked: kept in the removal list entry's comment.")
@click.option(
    "--gallery-only",
    is_flag=True,
    help="Only take the faces out of this gallery: no removal list entry, downloads kept (a later build adds "
    "them back).",
)
@json_option
@click.pass_context
@friendly_errors
def gallery_remove(
    ctx: click.Context, person: str, gallery: Path | None, reason: str, gallery_only: bool, as_json: bool
) -> None:
    """Take PERSON out for good: a Wikidata id (Q42) or a gallery person name (Douglas_Adams, "Douglas Adams").

    Adds them to the removal list (LOOKALIKE_REMOVALS, default HOME/removals.txt), which every build and
    download honours, takes their faces out of the gallery and deletes their downloaded photos.
    """
    from lookalike.gallery.take_out import take_out

    settings = settings_from(ctx, gallery=gallery)
    report = take_out(person, settings, reason=reason, for_good=not gallery_only)
    if as_json:
        print_json(to_json(report))
        return
    parts = []
    if report.listed:
        parts.append(f"added {', '.join(report.listed)} to the removal list ({report.removals})")
    if report.already_listed:
        parts.append(f"{', '.join(report.already_listed)} already on the removal list ({report.removals})")
    if report.people:
        parts.append(f"{report.faces} face(s) of {', '.join(report.people)} taken out of the gallery {report.gallery}")
    else:
        parts.append("not in the gallery")
    if report.downloads:
        parts.append(f"{report.photos_deleted} downloaded photo(s) deleted ({', '.join(report.downloads)})")
    console.print(f"{person}: {'; '.join(parts)}.", highlight=False, soft_wrap=True)


@gallery_group.command("removals")
@json_option
@click.pass_context
@friendly_errors
def gallery_removals(ctx: click.Context, as_json: bool) -> None:
    """List the removal list: the people every build and download leaves out."""
    from lookalike.documents import to_json
    from lookalike.gallery.removals import RemovalList, RemovalListing

    removals = RemovalList.of(settings_from(ctx))
    rows = removals.listed()
    if as_json:
        print_json(to_json(RemovalListing(str(removals.path), rows)))
        return
    console.print(f"{len(rows)} on the removal list ({removals.path})", highlight=False)
    for row in rows:
        console.print(f"{row.entry}\t{row.comment}", highlight=False)


def _left_out(n: int, settings: Settings) -> None:
    if n:
        who = "person" if n == 1 else "people"
        console.print(
            f"left out {n} {who} on the removal list ({settings.removals_path()})", highlight=False, soft_wrap=True
        )


@gallery_group.command("download")
@click.argument("dataset", type=click.Choice(["lfw", "lfw-funneled", "wikidata"]))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Gallery directory to build.")
@click.option("--url", default=None, help="lfw: download from this address instead (a mirror).")
@click.option("--sha256", default=None, help="lfw: expected SHA-256 of the archive (with --url).")
@click.option(
    "--top", type=click.IntRange(1), default=2000, show_default=True, help="wikidata: the N most famous people."
)
@click.option("--min-sitelinks", type=click.IntRange(1), default=1, show_default=True, help="wikidata: fame floor.")
@click.option("--occupation", default=None, help="wikidata: only people of this occupation (a label or a Q-id).")
@click.option("--living", is_flag=True, help="wikidata: only living people.")
@click.option("--language", default="en", show_default=True, help="wikidata: language of names and descriptions.")
@click.option("--width", type=click.IntRange(64, 2048), default=800, show_default=True, help="wikidata: photo width.")
@click.option(
    "--contact", default=None, help="wikidata: your e-mail or URL, sent in the User-Agent [$LOOKALIKE_CONTACT]."
)
@workers_option
@click.pass_context
@friendly_errors
def gallery_download(
    ctx: click.Context, dataset: str, out: Path | None, url: str | None, sha256: str | None, workers: int | None,
    **wikidata: object,
) -> None:  # fmt: skip
    """Download DATASET (resumable) and build the gallery from it.

    lfw, lfw-funneled: the LFW archive, checksummed (research use only).  wikidata: the most famous people
    (by Wikipedia sitelinks) with a freely licensed portrait on Wikimedia Commons, each photo credited.
    """
    settings = settings_from(ctx, gallery=out)
    if dataset == "wikidata":
        photos_dir = _download_wikidata(settings, **wikidata)  # type: ignore[arg-type]
    else:
        photos_dir = _download_lfw(settings, dataset, url, sha256)
    _build_downloaded(settings, photos_dir, workers)


def _download_lfw(settings: Settings, dataset: str, url: str | None, sha256: str | None) -> Path:
    from lookalike.gallery.download import DATASETS, download, unpack

    spec = DATASETS[dataset]
    downloads = settings.home / "downloads"
    archive = downloads / f"{spec.name}.tgz"
    with progress_bar(f"downloading {spec.name}") as update:
        download(url or spec.url, archive, sha256 or spec.sha256, update)
    console.print(f"checked SHA-256 of {archive.name}; unpacking")
    return unpack(archive, downloads, spec.folder)


def _download_wikidata(
    settings: Settings,
    top: int,
    min_sitelinks: int,
    occupation: str | None,
    living: bool,
    language: str,
    width: int,
    contact: str | None,
) -> Path:
    from lookalike.gallery.wikidata_download import ProgressEvent, download_wikidata, wikidata_set

    if contact:
        settings = settings.replace(contact=contact)
    out = wikidata_set(settings)  # the set's folder name is its provenance set name
    with progress_bar("downloading portraits") as update:

        def progress(event: ProgressEvent) -> None:
            update(event.kept, event.top)

        report = download_wikidata(
            out,
            top,
            settings,
            min_sitelinks=min_sitelinks,
            occupation=occupation,
            living=living,
            language=language,
            width=width,
            progress=progress,
        )
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped_by_reason.items())) or "none"
    console.print(
        f"{len(report.people)} people: {report.downloaded} photos downloaded, {report.already_had} kept from "
        f"before; skipped: {skipped} (why: {out / 'skipped.jsonl'})",
        highlight=False,
    )
    _left_out(report.removed_by_list, settings)
    return out


def _build_downloaded(settings: Settings, photos_dir: Path, workers: int | None) -> None:
    from lookalike.gallery.build import plan_build, run_build

    built = run_build(plan_build([photos_dir], settings), workers=workers, progress=lambda: progress_bar("building"))
    console.print(
        f"gallery {built.gallery}: {built.faces} faces of {built.people} people ({built.report.added} added, "
        f"{sum(built.report.skipped.values())} skipped; {built.provenance.reusable} of {built.provenance.photos} "
        "photos with a reuse licence).",
        highlight=False,
    )
    _left_out(built.report.removed_by_list, settings)


@gallery_group.command("push")
@click.argument("uri")
@gallery_option
@click.option("--threads", type=click.IntRange(1, 64), default=16, show_default=True, help="Parallel uploads.")
@json_option
@click.pass_context
@friendly_errors
def gallery_push(ctx: click.Context, uri: str, gallery: Path | None, threads: int, as_json: bool) -> None:
    """Publish the gallery to S3 for workers and the CDN: URI is s3://BUCKET/PREFIX/ (galleries/ on AWS).

    Writes PREFIX/VERSION/ (gallery.sqlite, thumbnails/FACE_ID.jpg, aligned/FACE_ID.jpg, manifest.json with
    SHA-256s),
    then points PREFIX/current.json at it. VERSION is a hash of the gallery: pushing an unchanged
    gallery uploads nothing. Credentials and region come from the usual AWS variables.
    """
    from lookalike.cli.output import err_console
    from lookalike.gallery.artifact import push_gallery

    settings = settings_from(ctx, gallery=gallery)
    if as_json or err_console.is_terminal:
        with progress_bar("images", enabled=not as_json) as update:
            report = push_gallery(settings.gallery_path(), uri, threads=threads, progress=update)
    else:  # a log (CI, a container): a line every tenth or every 10 seconds instead of a bar
        last = [-1, 0.0]

        def lines(done: int, total: int) -> None:
            tenth = done * 10 // max(total, 1)
            if tenth > last[0] or time.monotonic() - last[1] >= 10:
                last[:] = [tenth, time.monotonic()]
                err_console.print(f"images {done}/{total}", highlight=False)

        report = push_gallery(settings.gallery_path(), uri, threads=threads, progress=lines)
    if as_json:
        print_json(to_json(report))
        return
    what = "published" if report.uploaded else "already there; current.json points at it again"
    console.print(
        f"{report.uri}: version {report.version}, {report.faces} faces of {report.people} people, "
        f"{report.thumbnails} thumbnails, {report.aligned} aligned faces, {report.bytes / 1e6:.1f} MB database "
        f"({what}, {report.seconds:.1f} s).",
        highlight=False,
    )
