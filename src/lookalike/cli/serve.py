"""``lookalike serve``: the web app and its matching workers.

The web stack (uvicorn, FastAPI) is imported when the command runs, so that the rest of the CLI stays
fast to start.
"""

from __future__ import annotations

from pathlib import Path

import click

from lookalike.cli.output import console, friendly_errors, settings_from


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
    Gallery.open(settings.gallery_path()).close()  # a clear error now rather than in every worker
    app = create_app(settings)
    console.print(
        f"lookalike on http://{settings.host}:{settings.port}/  ({worker_count(settings)} workers, "
        f"gallery {settings.gallery_path()}, data in {settings.home})",
        highlight=False,
    )
    uvicorn.Server(server_config(app, settings, log_level="info")).run()
