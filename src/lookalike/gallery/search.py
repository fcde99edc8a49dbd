"""Matching: for a face embedding, the top-k *distinct* people of the gallery, and who it is.

Distances are Euclidean between embeddings scaled so that two photos of one person are
usually < 0.6 apart, whatever the model (the verification threshold; ``engine/embedding/``).
For people we also show a *similarity*, a logistic mapping of the distance:

    similarity = 1 / (1 + exp(slope * (distance - threshold)))

so it is 50% exactly at the threshold; the slope is the model's, fitted on LFW pairs (for dlib,
10: ~88% at 0.4, a clear match of the same person, ~27% at 0.7 and ~12% at 0.8, strangers).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.engine.embedding import calibration, embedding_id, identity_rule
from lookalike.engine.embedding.strangers import stranger_table
from lookalike.errors import GalleryError
from lookalike.gallery.index import ExactIndex, HnswIndex, RowSelector, VectorIndex
from lookalike.gallery.removals import RemovalList
from lookalike.gallery.store import Gallery, display_name
from lookalike.person_filter import Facts, PersonFilter
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
    #: Percent of LFW's pairs of different people farther apart (None: the model has no stranger table).
    percentile: float | None
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


@dataclass(frozen=True)
class Shown:
    """Which of a gallery's faces a search may show: a public deployment (``require_reusable``) leaves out
    photos without a reuse licence, and everyone leaves out the people on the removal list."""

    keep: np.ndarray  # bool[N] over the gallery's face rows
    not_reusable: int  # faces left out for their photo's licence
    removed: int  # faces left out for the removal list

    @property
    def hidden(self) -> int:
        return int(len(self.keep) - self.keep.sum())

    def describe(self) -> str:
        parts = [f"{self.not_reusable} without a reuse licence"] if self.not_reusable else []
        parts += [f"{self.removed} of people on the removal list"] if self.removed else []
        return ", ".join(parts) or "none left out"

    def cache_suffix(self, ids: np.ndarray) -> str:
        """Tells apart the index of a subset from the whole gallery's (and from another subset's)."""
        if not self.hidden:
            return ""
        return "-" + hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:12]


def shown_faces(gallery: Gallery, settings: Settings, persons: list[str]) -> Shown:
    """The faces a search may show (see :class:`Shown`), over the rows of ``gallery.vectors()``."""
    keep = np.ones(len(persons), dtype=bool)
    not_reusable = removed = 0
    if settings.require_reusable:
        reusable = gallery.reusable_mask()
        not_reusable = int(len(keep) - reusable.sum())
        keep &= reusable
    removals = RemovalList.of(settings)
    if removals:
        facts = gallery.person_facts()
        people, inverse = np.unique(np.asarray(persons, dtype=object), return_inverse=True)
        listed = np.fromiter(
            (removals.removes(str(p), facts[p].wikidata if p in facts else None) for p in people),
            dtype=bool,
            count=len(people),
        )[inverse]
        removed = int((listed & keep).sum())
        keep &= ~listed
    return Shown(keep, not_reusable, removed)


def _forget_older_indexes(cache: Path, generation: int) -> None:
    """Delete the saved HNSW indexes of older generations (each is as large as the gallery's vectors)."""
    for path in cache.glob("hnsw-*.faiss"):
        found = re.fullmatch(r"hnsw-(\d+)(-[0-9a-f]+)?\.faiss", path.name)
        if found and int(found.group(1)) < generation:
            path.unlink(missing_ok=True)


RESTRICTIONS_CACHED = 64  # filters whose masks a matcher keeps


class Matcher:
    """Searches one gallery.  Builds its index once; cheap to query many times."""

    def __init__(
        self, gallery: Gallery, settings: Settings | None = None, facts: Mapping[str, Facts] | None = None
    ) -> None:
        """``facts``: the people's facts for filtered search; by default the gallery's own, read at the first
        filtered search (a person without facts fails every filter but the empty one)."""
        self.settings = settings or Settings()
        self.gallery = gallery
        gallery.check_embedding(embedding_id(self.settings))
        self.identity_threshold, self.identity_margin = identity_rule(self.settings)
        self.similarity_slope = calibration(self.settings).similarity_slope
        self.strangers = stranger_table(embedding_id(self.settings))  # for each match's percentile
        vectors, ids, persons = gallery.vectors()
        if len(vectors) == 0:
            raise GalleryError(f"The gallery at {gallery.path} has no faces yet.", code="empty_gallery")
        self.shown = shown_faces(gallery, self.settings, persons)
        if self.shown.hidden:
            keep = self.shown.keep
            vectors, ids, persons = vectors[keep], ids[keep], [p for p, k in zip(persons, keep, strict=True) if k]
            if len(vectors) == 0:
                raise GalleryError(
                    f"None of the {len(keep)} faces of the gallery at {gallery.path} may be shown "
                    f"({self.shown.describe()}).",
                    code="empty_gallery",
                )
        self.ids = ids
        self.persons = np.asarray(persons, dtype=object)
        # People as integer labels, and the rows of each person, for per-person minima.
        self.people, self.labels = np.unique(self.persons, return_inverse=True)
        self._order = np.argsort(self.labels, kind="stable")
        self._starts = np.searchsorted(self.labels[self._order], np.arange(len(self.people)))
        self.exact = ExactIndex(vectors)
        self.index: VectorIndex = self.exact
        if len(vectors) >= self.settings.ann_min_faces:
            name = f"hnsw-{gallery.generation}{self.shown.cache_suffix(ids)}.faiss"
            self.index = HnswIndex.load_or_build(vectors, gallery.cache_dir() / name)
            _forget_older_indexes(gallery.cache_dir(), gallery.generation)
        # Filtered search on an HNSW gallery goes exact when fewer rows than this pass: a gallery of that
        # size would be searched exactly too (faster there, and exact).
        self.filter_exact_below = self.settings.ann_min_faces
        self._facts: dict[str, Facts] | None = dict(facts) if facts is not None else None
        self._restrictions: OrderedDict[PersonFilter, _Restriction] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.ids)

    def match_many(
        self,
        embeddings: np.ndarray,
        k: int | None = None,
        watch: list[str] | None = None,
        person_filter: PersonFilter | None = None,
    ) -> list[MatchResult]:
        """The top-k people for each embedding; with ``person_filter``, the true top-k of the people who pass
        (the filter is applied inside the search).  ``identity`` and ``watch`` are about who the face *is*, so
        they are answered from the whole gallery whatever the filter."""
        k = self.settings.top_k if k is None else k
        queries = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if len(queries) == 0:
            return []
        wanted = max(k, 2)  # the runner-up decides whether the best match is unambiguous
        if person_filter is None or person_filter.empty:
            people = whole = self._people(queries, wanted)
        else:
            people, whole = self._filtered_people(queries, wanted, self._restriction(person_filter))
        watch_rows = self._watch_rows(watch or [])
        results = []
        for qi, top in enumerate(people):
            near = whole[qi]
            identity = self.identify([dist for _, dist in near], [int(self.labels[row]) for row, _ in near])
            matches = [self._match(row, dist) for row, dist in top[:k]]
            flags = {}
            for person, rows in watch_rows.items():
                d = np.linalg.norm(self.exact.vectors[rows] - queries[qi], axis=1) if len(rows) else np.array([np.inf])
                flags[person] = bool(d.min() <= self.settings.threshold)
            results.append(MatchResult(matches, identity, flags))
        return results

    def match(
        self,
        embedding: np.ndarray,
        k: int | None = None,
        watch: list[str] | None = None,
        person_filter: PersonFilter | None = None,
    ) -> MatchResult:
        return self.match_many(np.asarray(embedding)[None, :], k, watch, person_filter)[0]

    def people_passing(self, person_filter: PersonFilter | None) -> int:
        """How many of the gallery's people pass the filter (0: a filtered search answers no matches)."""
        if person_filter is None or person_filter.empty:
            return len(self.people)
        return self._restriction(person_filter).people_count

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

    def _people(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        if self.index is self.exact:
            return self._exact_people(queries, k)
        return self._approx_people(queries, k)

    def _exact_people(
        self, queries: np.ndarray, k: int, excluded: np.ndarray | None = None
    ) -> list[list[tuple[int, float]]]:
        dist = self.exact.distances(queries)  # [m, N]
        return [_top_groups(row, self._order, self._starts, k, excluded) for row in dist]

    def _approx_people(
        self, queries: np.ndarray, k: int, restriction: _Restriction | None = None
    ) -> list[list[tuple[int, float]]]:
        n = max(10 * k, 50)
        allowed = None if restriction is None else restriction.selector()
        people = len(self.people) if restriction is None else restriction.people_count
        size = self.size if restriction is None else restriction.rows_count
        while True:
            if allowed is None:
                dist, rows = self.index.search(queries, min(n, self.size))
            else:
                dist, rows = self.index.search(queries, min(n, size), allowed=allowed)  # type: ignore[call-arg]
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
                short = short or (len(seen) < min(k, people))
                out.append(list(seen.values()))
            if not short or n >= size:
                return out
            n *= 4

    def _filtered_people(
        self, queries: np.ndarray, k: int, restriction: _Restriction
    ) -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        """(top-k of the people who pass, top-2 of everyone for the identity), by the cheapest exact route:

        - an exact gallery: one distance matrix, the excluded people's minima set to infinity;
        - an HNSW gallery where few rows pass (under ``filter_exact_below``): exact over those rows only;
        - otherwise HNSW with the allowed rows as a FAISS selector inside the graph search.
        """
        if restriction.people_count == 0:
            return [[] for _ in queries], self._people(queries, 2)
        if self.index is self.exact:
            dist = self.exact.distances(queries)
            people = [_top_groups(row, self._order, self._starts, k, restriction.excluded) for row in dist]
            return people, [_top_groups(row, self._order, self._starts, 2, None) for row in dist]
        whole = self._approx_people(queries, 2)
        if restriction.rows_count < self.filter_exact_below:
            sub = restriction.subset(self)
            dist = sub.exact.distances(queries)
            people = [[(int(sub.rows[r]), d) for r, d in _top_groups(row, None, sub.starts, k, None)] for row in dist]
            return people, whole
        return self._approx_people(queries, k, restriction), whole

    def _restriction(self, person_filter: PersonFilter) -> _Restriction:
        """What a filter means for this gallery, computed once per filter (filters repeat)."""
        with self._lock:
            cached = self._restrictions.get(person_filter)
            if cached is not None:
                self._restrictions.move_to_end(person_filter)
                return cached
        if self._facts is None:
            source = getattr(self.gallery, "person_facts", None)
            self._facts = dict(source()) if callable(source) else {}
        facts = self._facts
        allowed_people = np.fromiter(
            (person_filter.allows(facts.get(str(p))) for p in self.people), dtype=bool, count=len(self.people)
        )
        restriction = _Restriction(allowed_people, allowed_people[self.labels])
        with self._lock:
            self._restrictions[person_filter] = restriction
            while len(self._restrictions) > RESTRICTIONS_CACHED:
                self._restrictions.popitem(last=False)
        return restriction

    def _watch_rows(self, watch: list[str]) -> dict[str, np.ndarray]:
        return {person: np.flatnonzero(self.persons == person) for person in watch}

    def _match(self, row: int, dist: float) -> Match:
        face_id = int(self.ids[row])
        info = self.gallery.face_info(face_id)
        return Match(
            info.person,
            dist,
            similarity(dist, self.settings.threshold, self.similarity_slope),
            None if self.strangers is None else self.strangers.percentile(dist),
            face_id,
            info.photo,
        )


def _top_groups(
    row: np.ndarray, order: np.ndarray | None, starts: np.ndarray, k: int, excluded: np.ndarray | None
) -> list[tuple[int, float]]:
    """(row, distance) of the nearest row of each of the ``k`` nearest groups (people), nearest first.

    ``row``: distances by row; ``order``: the rows sorted by group (``None``: already sorted); ``starts``:
    where each group begins in that order; ``excluded``: bool per group, groups never returned."""
    by_group = np.minimum.reduceat(row if order is None else row[order], starts)
    available = len(by_group)
    if excluded is not None:
        by_group[excluded] = np.inf
        available -= int(excluded.sum())
    n = min(k, available)
    if n <= 0:
        return []
    top = np.argpartition(by_group, n - 1)[:n]
    top = top[np.argsort(by_group[top], kind="stable")]
    total = len(row)
    picks = []
    for p in top:
        start = int(starts[p])
        end = int(starts[p + 1]) if p + 1 < len(starts) else total
        if order is None:
            best_row = start + int(np.argmin(row[start:end]))
        else:
            rows = order[start:end]
            best_row = int(rows[np.argmin(row[rows])])
        picks.append((best_row, float(by_group[p])))
    return picks


@dataclass
class _Subset:
    """The rows that pass a filter, sorted by person, with their own exact index."""

    rows: np.ndarray  # gallery row of each subset row
    starts: np.ndarray  # where each person's rows begin
    exact: ExactIndex


class _Restriction:
    """One filter applied to one gallery: who passes, and the search structures derived from it (lazily)."""

    def __init__(self, people: np.ndarray, rows: np.ndarray) -> None:
        self.people = people  # bool per person label
        self.excluded = ~people
        self.rows = rows  # bool per gallery row
        self.people_count = int(people.sum())
        self.rows_count = int(rows.sum())
        self._selector: RowSelector | None = None
        self._subset: _Subset | None = None

    def selector(self) -> RowSelector:
        if self._selector is None:
            self._selector = RowSelector(self.rows)
        return self._selector

    def subset(self, matcher: Matcher) -> _Subset:
        if self._subset is None:
            order = matcher._order[self.rows[matcher._order]]  # the allowed rows, grouped by person
            labels = matcher.labels[order]
            starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if len(order) else np.zeros(0, np.int64)
            self._subset = _Subset(order, starts, ExactIndex(matcher.exact.vectors[order]))
        return self._subset
