"""``lookalike serve``: the web app and its matching workers.

The web stack (uvicorn, FastAPI) is imported when the command runs, so that the rest of the CLI stays
fast to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from lookalike.cli.output import console, friendly_errors, settings_from
from lookalike.errors import GalleryError
from lookalike.settings import Settings

if TYPE_CHECKING:
    from lookalike.gallery.store import Gallery


@click.command("serve")
@click.option(
    "--gallery",
    type=click.Path(path_type=Path),
    default=None,
    help="Gallery directory [default: $LOOKALIKE_GALLERY or <home>/gallery].",
)
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory for uploads, queue and jobs [default: $LOOKALIKE_HOME].",
)
@click.option("--host", default=None, help="Address to listen on [default: $LOOKALIKE_HOST or 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: $LOOKALIKE_PORT or 8000].")
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Matching processes; 0: none (API only, workers run as `lookalike worker`) "
    "[default: $LOOKALIKE_WORKERS or one per core].",
)
@click.pass_context
@friendly_errors
def serve(
    ctx: click.Context, gallery: Path | None, home: Path | None, host: str | None, port: int | None, workers: int | None
) -> None:
    """Run the web app: the page at /, the API (docs at /docs), and the matching workers."""
    import uvicorn

    from lookalike.gallery.store import Gallery
    from lookalike.web.app import create_app, server_config
    from lookalike.wiring import worker_count

    settings = settings_from(ctx, gallery=gallery, home=home, host=host, port=port, workers=workers)
    with Gallery.open(settings.gallery_path()) as opened:  # a clear error now rather than in every worker
        _say_what_is_shown(opened, settings)
    app = create_app(settings)
    console.print(
        f"lookalike on http://{settings.host}:{settings.port}/  ({worker_count(settings)} workers, "
        f"gallery {settings.gallery_path()}, data in {settings.home})",
        highlight=False,
    )
    uvicorn.Server(server_config(app, settings, log_level="info")).run()


def _say_what_is_shown(gallery: Gallery, settings: Settings) -> None:
    """Which photos the searches will show: licences, the removal list (``gallery/search.py``'s ``Shown``)."""
    from lookalike.gallery.search import shown_faces

    _, _, persons = gallery.vectors()
    shown = shown_faces(gallery, settings, persons)
    if shown.hidden:
        console.print(f"Left out of every search: {shown.hidden} of {len(persons)} faces ({shown.describe()}).")
    if persons and shown.hidden == len(persons):
        raise GalleryError(
            f"None of the gallery's {len(persons)} faces may be shown ({shown.describe()}).", code="empty_gallery"
        )
    summary = gallery.summary()
    if not settings.require_reusable and summary.reusable < summary.photos:
        licences = ", ".join(f"{name} {n}" for name, n in summary.per_licence.items())
        console.print(
            f"{summary.photos - summary.reusable} of the gallery's {summary.photos} photos have no reuse licence "
            f"({licences}) and will be shown. A public deployment sets LOOKALIKE_REQUIRE_REUSABLE=1 to leave them out.",
            highlight=False,
        )
