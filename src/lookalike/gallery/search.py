"""Matching: for a face embedding, the top-k *distinct* people of the gallery, and who it is.

Distances are Euclidean between embeddings scaled so that two photos of one person are
usually < 0.6 apart, whatever the model (the verification threshold; ``engine/embedding/``).
For people we also show a *similarity*, a logistic mapping of the distance:

    similarity = 1 / (1 + exp(slope * (distance - threshold)))

so it is 50% exactly at the threshold; the slope is the model's, fitted on LFW pairs (for dlib,
10: ~88% at 0.4, a clear match of the same person, ~27% at 0.7 and ~12% at 0.8, strangers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lookalike.engine.embedding import calibration, embedding_id, identity_rule
from lookalike.errors import GalleryError
from lookalike.gallery.index import ExactIndex, HnswIndex, VectorIndex
from lookalike.gallery.store import Gallery, display_name
from lookalike.settings import Settings


def similarity(distance: float, threshold: float = 0.6, slope: float = 10.0) -> float:
    """Distance -> 0..1 (see module docstring)."""
    x = slope * (distance - threshold)
    return 0.0 if x > 700 else 1.0 / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Match:
    person: str
    distance: float
    similarity: float
    face_id: int  # the person's nearest gallery face (its photo and thumbnail)
    photo: str

    @property
    def name(self) -> str:
        return display_name(self.person)


@dataclass(frozen=True)
class MatchResult:
    matches: list[Match]
    identity: str | None  # the best match's person when close and unambiguous (see Matcher.identify)
    watch: dict[str, bool] = field(default_factory=dict)

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


class Matcher:
    """Searches one gallery.  Builds its index once; cheap to query many times."""

    def __init__(self, gallery: Gallery, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.gallery = gallery
        gallery.check_embedding(embedding_id(self.settings))
        self.identity_threshold, self.identity_margin = identity_rule(self.settings)
        self.similarity_slope = calibration(self.settings).similarity_slope
        vectors, ids, persons = gallery.vectors()
        if len(vectors) == 0:
            raise GalleryError(f"The gallery at {gallery.path} has no faces yet.", code="empty_gallery")
        self.ids = ids
        self.persons = np.asarray(persons, dtype=object)
        # People as integer labels, and the rows of each person, for per-person minima.
        self.people, self.labels = np.unique(self.persons, return_inverse=True)
        self._order = np.argsort(self.labels, kind="stable")
        self._starts = np.searchsorted(self.labels[self._order], np.arange(len(self.people)))
        self.exact = ExactIndex(vectors)
        self.index: VectorIndex = self.exact
        if len(vectors) >= self.settings.ann_min_faces:
            self.index = HnswIndex.load_or_build(vectors, gallery.cache_dir() / f"hnsw-{gallery.generation}.faiss")

    @property
    def size(self) -> int:
        return len(self.ids)

    def match_many(
        self, embeddings: np.ndarray, k: int | None = None, watch: list[str] | None = None
    ) -> list[MatchResult]:
        k = self.settings.top_k if k is None else k
        queries = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if len(queries) == 0:
            return []
        wanted = max(k, 2)  # the runner-up decides whether the best match is unambiguous
        if self.index is self.exact:
            people = self._exact_people(queries, wanted)
        else:
            people = self._approx_people(queries, wanted)
        watch_rows = self._watch_rows(watch or [])
        results = []
        for qi, top in enumerate(people):
            identity = self.identify([dist for _, dist in top], [int(self.labels[row]) for row, _ in top])
            matches = [self._match(row, dist) for row, dist in top[:k]]
            flags = {}
            for person, rows in watch_rows.items():
                d = np.linalg.norm(self.exact.vectors[rows] - queries[qi], axis=1) if len(rows) else np.array([np.inf])
                flags[person] = bool(d.min() <= self.settings.threshold)
            results.append(MatchResult(matches, identity, flags))
        return results

    def match(self, embedding: np.ndarray, k: int | None = None, watch: list[str] | None = None) -> MatchResult:
        return self.match_many(np.asarray(embedding)[None, :], k, watch)[0]

    def identify(self, distances: list[float], labels: list[int]) -> str | None:
        """Who the face *is*: the nearest person, if close enough and clearly closer than the next one.

        One gallery person within the verification threshold is not enough evidence in a gallery of
        thousands: a stranger's nearest of 5,749 LFW people is under 0.6 almost always (see
        docs/gallery.md).  So an identity needs ``identity_threshold`` and ``identity_margin``.
        """
        if not distances or distances[0] > self.identity_threshold:
            return None
        if len(distances) > 1 and distances[1] - distances[0] < self.identity_margin:
            return None
        return str(self.people[labels[0]])

    def check_watch(self, watch: list[str]) -> None:
        """Refuse watch names the gallery does not have (a typo would silently answer 'no')."""
        known = set(self.people.tolist())
        missing = [w for w in watch if w not in known]
        if missing:
            import difflib

            hints = [difflib.get_close_matches(m, known, n=1) for m in missing]
            text = ", ".join(f"{m!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for m, h in zip(missing, hints))
            raise GalleryError(f"Not in the gallery: {text}.", code="unknown_person")

    # -- internals --------------------------------------------------------------------------

    def _exact_people(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        dist = self.exact.distances(queries)  # [m, N]
        out = []
        for row in dist:
            by_person = np.minimum.reduceat(row[self._order], self._starts)
            n = min(k, len(by_person))
            top = np.argpartition(by_person, n - 1)[:n]
            top = top[np.argsort(by_person[top], kind="stable")]
            picks = []
            for p in top:
                start = self._starts[p]
                end = self._starts[p + 1] if p + 1 < len(self._starts) else len(self._order)
                rows = self._order[start:end]
                best_row = int(rows[np.argmin(row[rows])])
                picks.append((best_row, float(by_person[p])))
            out.append(picks)
        return out

    def _approx_people(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        n = max(10 * k, 50)
        while True:
            dist, rows = self.index.search(queries, min(n, self.size))
            out, short = [], False
            for drow, rrow in zip(dist, rows):
                seen: dict[int, tuple[int, float]] = {}
                for d, r in zip(drow.tolist(), rrow.tolist()):
                    if r < 0:
                        continue
                    label = int(self.labels[r])
                    if label not in seen:
                        seen[label] = (r, d)
                        if len(seen) == k:
                            break
                short = short or (len(seen) < min(k, len(self.people)))
                out.append(list(seen.values()))
            if not short or n >= self.size:
                return out
            n *= 4

    def _watch_rows(self, watch: list[str]) -> dict[str, np.ndarray]:
        return {person: np.flatnonzero(self.persons == person) for person in watch}

    def _match(self, row: int, dist: float) -> Match:
        face_id = int(self.ids[row])
        info = self.gallery.face_info(face_id)
        return Match(
            info.person, dist, similarity(dist, self.settings.threshold, self.similarity_slope), face_id, info.photo
        )
