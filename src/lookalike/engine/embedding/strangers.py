"""How far apart strangers are, per embedding space: what a lookalike's ``percentile`` is measured against.

For each embedding id (``EmbeddingModel.embedding_id``) a table in ``strangers/<embedding id>.json``
(package data) holds the distances of LFW ``pairs.txt``'s 3,000 pairs of *different* people, sorted,
as the engine measured them (``lookalike eval lfw --strangers-out``; the file records the command
and the date).  A match's percentile is the share of those pairs that are farther apart than the
match: "more alike than 98% of pairs of strangers".  It is a rank among strangers' distances, not a
probability of being the same person.  A space without a table has no percentile (``None``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

#: The package folder of the tables (``lookalike/engine/embedding/strangers/``).
TABLES = "strangers"
FORMAT = 1


def table_name(embedding_id: str) -> str:
    """The file name of an embedding space's table."""
    return f"{embedding_id}.json"


@dataclass(frozen=True)
class StrangerTable:
    """The sorted distances of pairs of different people in one embedding space, and how they were measured."""

    embedding_id: str
    distances: np.ndarray  # float64, sorted ascending
    #: Different-person pairs of pairs.txt left out because a face of the pair was not found.
    pairs_missed: int
    command: str
    measured: str  # ISO date
    source: str = "LFW pairs.txt, the pairs of different people"

    @property
    def pairs(self) -> int:
        return len(self.distances)

    def percentile(self, distance: float) -> float:
        """Percent (0..100, rounded down to one decimal) of the pairs strictly farther apart than ``distance``.

        Rounded down so it never claims more than was measured: 100.0 only when every pair is farther."""
        if self.pairs == 0 or math.isnan(distance):
            return 0.0
        farther = self.pairs - int(np.searchsorted(self.distances, distance, side="right"))
        return math.floor(1000 * farther / self.pairs) / 10

    def distance_at(self, percentile: float) -> float:
        """The distance below which a match is more alike than ``percentile``% of the pairs (for the docs)."""
        return float(np.quantile(self.distances, 1 - percentile / 100))

    def document(self) -> dict[str, Any]:
        """The table as its JSON file holds it (distances rounded to 4 decimals)."""
        return {
            "format": FORMAT,
            "embedding_id": self.embedding_id,
            "source": self.source,
            "pairs": self.pairs,
            "pairs_missed": self.pairs_missed,
            "command": self.command,
            "measured": self.measured,
            "distances": [round(float(d), 4) for d in self.distances],
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StrangerTable:
        distances = np.sort(np.asarray(doc["distances"], dtype=np.float64))
        if len(distances) != doc["pairs"]:
            raise ValueError(f"stranger table {doc['embedding_id']}: {len(distances)} distances, {doc['pairs']} said")
        return cls(
            embedding_id=str(doc["embedding_id"]),
            distances=distances,
            pairs_missed=int(doc["pairs_missed"]),
            command=str(doc["command"]),
            measured=str(doc["measured"]),
            source=str(doc.get("source", cls.source)),
        )


@lru_cache(maxsize=16)
def stranger_table(embedding_id: str) -> StrangerTable | None:
    """The table measured for this embedding space, or None if it has none."""
    path = resources.files(__package__).joinpath(TABLES, table_name(embedding_id))
    if not path.is_file():
        return None
    return StrangerTable.from_document(json.loads(path.read_text(encoding="utf-8")))


def percentile(embedding_id: str, distance: float) -> float | None:
    """The percentile of a distance among the space's stranger pairs; None where no table was measured."""
    table = stranger_table(embedding_id)
    return None if table is None else table.percentile(distance)
