"""Measuring a stranger table (``lookalike eval lfw --strangers-out``): how far apart LFW's pairs of
different people are in the engine's embedding space (``engine/embedding/strangers.py`` reads it)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from lookalike.engine.embedding import embedding_id
from lookalike.engine.embedding.strangers import StrangerTable, table_name
from lookalike.settings import Settings

#: Where the package's tables are, in the repository (the default ``--strangers-out``).
TABLES_IN_REPOSITORY = "src/lookalike/engine/embedding/strangers/"


def measuring_command(settings: Settings) -> str:
    """The command that measures the settings' table (recorded in the table)."""
    env = [f"LOOKALIKE_EMBEDDING={settings.embedding}"]
    if settings.embed_flip:
        env.append("LOOKALIKE_EMBED_FLIP=1")
    if settings.detector != "auto":
        env.append(f"LOOKALIKE_DETECTOR={settings.detector}")
    return " ".join(
        [*env, "OPENBLAS_NUM_THREADS=1 lookalike eval lfw --workers 2 --strangers-out", TABLES_IN_REPOSITORY]
    )


def stranger_table_of(
    dist: np.ndarray, same: np.ndarray, settings: Settings, today: datetime.date | None = None
) -> StrangerTable:
    """The table of the different-person pairs of ``dist`` (NaN: a face missed; left out and counted)."""
    strangers = dist[~same]
    measured = ~np.isnan(strangers)
    return StrangerTable(
        embedding_id=embedding_id(settings),
        distances=np.sort(np.round(strangers[measured].astype(np.float64), 4)),
        pairs_missed=int((~measured).sum()),
        command=measuring_command(settings),
        measured=(today or datetime.datetime.now(datetime.UTC).date()).isoformat(),
    )


def write_stranger_table(table: StrangerTable, out: Path) -> Path:
    """Write ``table`` to ``out`` (a directory: ``<embedding id>.json`` in it); returns the file written."""
    path = out / table_name(table.embedding_id) if out.is_dir() else out
    path.write_text(json.dumps(table.document(), separators=(",", ":")) + "\n", encoding="utf-8")
    return path
