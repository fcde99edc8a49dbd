"""Search at 10k–1M faces: exact NumPy vs FAISS HNSW — build time, query latency, recall@10, memory;
and filtered search (:func:`run_filtered`): a filter keeping 10% of the people, HNSW vs exact.

Vectors are synthetic but shaped like faces: clusters ("people", a few photos
each) around centres that, when a real gallery is given, are real embeddings
moved a little; queries are new photos of known people.  Isotropic random
vectors would make any graph index look worse than it is on real faces.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.gallery.index import ExactIndex, HnswIndex, recall_at
from lookalike.gallery.search import Matcher
from lookalike.person_filter import PersonFilter
from lookalike.settings import Settings

WITHIN_PERSON = 0.022  # per-dimension spread of one person's photos (~0.35 apart, as in LFW)
BETWEEN_PEOPLE = 0.06  # per-dimension spread added to a seed to make a new person


def face_like(n: int, seeds: np.ndarray | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vectors[n,128], centres of the people they belong to)."""
    people = max(1, n // 4)
    if seeds is None or len(seeds) == 0:
        centres = rng.normal(0, 0.09, (people, 128))
    else:
        centres = seeds[rng.integers(0, len(seeds), people)] + rng.normal(0, BETWEEN_PEOPLE, (people, 128))
    owner = rng.integers(0, people, n)
    vectors = centres[owner] + rng.normal(0, WITHIN_PERSON, (n, 128))
    return vectors.astype(np.float32), centres.astype(np.float32)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run(
    sizes: list[int], queries: int = 200, seeds: np.ndarray | None = None, seed: int = 0
) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        vectors, centres = face_like(n, seeds, rng)
        q = (centres[rng.integers(0, len(centres), queries)] + rng.normal(0, WITHIN_PERSON, (queries, 128))).astype(
            np.float32
        )
        before = _rss_mb()
        start = time.perf_counter()
        exact = ExactIndex(vectors)
        exact_build = time.perf_counter() - start
        exact_lat, exact_rows = _latency(exact, q)
        start = time.perf_counter()
        hnsw = HnswIndex.build(vectors)
        hnsw_build = time.perf_counter() - start
        hnsw_lat, hnsw_rows = _latency(hnsw, q)
        after = _rss_mb()
        rows.append(
            {
                "faces": n,
                "vectors_mb": round(vectors.nbytes / 2**20, 1),
                "exact_build_s": round(exact_build, 3),
                "exact_query_ms_p50": round(statistics.median(exact_lat) * 1000, 3),
                "hnsw_build_s": round(hnsw_build, 1),
                "hnsw_query_ms_p50": round(statistics.median(hnsw_lat) * 1000, 3),
                "hnsw_query_ms_p95": round(float(np.percentile(hnsw_lat, 95)) * 1000, 3),
                "hnsw_recall_at_10": round(recall_at(exact_rows, hnsw_rows), 4),
                "memory_growth_mb": round(after - before, 1),
            }
        )
        del exact, hnsw, vectors
    return rows


def _latency(index: ExactIndex | HnswIndex, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _, rows = index.search(q[None, :], 10)
        times.append(time.perf_counter() - start)
        found.append(rows[0])
    return times, np.array(found)


# -- filtered search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    sex: str | None
    birth_year: int | None = None
    death_year: int | None = None
    occupations: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Info:
    id: int
    person: str
    photo: str


class _SyntheticGallery:
    """Just what :class:`Matcher` reads of a gallery, over synthetic vectors (no store on disk)."""

    def __init__(self, vectors: np.ndarray, persons: list[str], facts: dict[str, _Facts], cache: Path) -> None:
        self._vectors, self._persons, self._facts, self._cache = vectors, persons, facts, cache
        self.path = cache
        self.generation = 0

    def check_embedding(self, _embedding: str) -> None:
        return None

    def vectors(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        return self._vectors, np.arange(len(self._vectors), dtype=np.int64), self._persons

    def cache_dir(self) -> Path:
        return self._cache

    def person_facts(self) -> dict[str, _Facts]:
        return self._facts

    def face_info(self, face_id: int) -> _Info:
        return _Info(face_id, self._persons[face_id], f"synthetic/{face_id}.jpg")


def run_filtered(
    sizes: list[int], queries: int = 200, keep: float = 0.1, seeds: np.ndarray | None = None, seed: int = 0
) -> list[dict[str, object]]:
    """Filtered vs unfiltered search through the real :class:`Matcher`, on face-like galleries whose
    synthetic facts make ``sex=female`` keep ``keep`` of the people (one in ``1/keep``).

    Truth is the exact matcher's filtered top-5.  Per query, one at a time (``Matcher.match``): exact,
    HNSW with the filter as a FAISS selector in the graph search, and the HNSW gallery's default route
    (exact over the allowed rows when fewer than ``ann_min_faces`` pass)."""
    rng = np.random.default_rng(seed)
    rows = []
    flt = PersonFilter(sex="female")
    for n in sizes:
        vectors, centres = face_like(n, seeds, rng)
        persons = [f"P{int(i):07d}" for i in _owners(vectors, centres)]
        step = max(1, round(1 / keep))
        facts = {p: _Facts("female" if int(p[1:]) % step == 0 else "male") for p in set(persons)}
        q = (centres[rng.integers(0, len(centres), queries)] + rng.normal(0, WITHIN_PERSON, (queries, 128))).astype(
            np.float32
        )
        with tempfile.TemporaryDirectory() as cache:
            gallery = _SyntheticGallery(vectors, persons, facts, Path(cache))
            exact = Matcher(gallery, Settings(ann_min_faces=n + 1))  # type: ignore[arg-type]
            start = time.perf_counter()
            hnsw = Matcher(gallery, Settings(ann_min_faces=0))  # type: ignore[arg-type]
            build = time.perf_counter() - start
            rows.append(_filtered_row(n, exact, hnsw, flt, q, build))
        del exact, hnsw, vectors
    return rows


def _owners(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each vector's person: the nearest centre (in chunks: 1M x 250k distances do not fit at once)."""
    index = ExactIndex(centres)
    return np.concatenate(
        [np.argmin(index.distances(vectors[i : i + 4096]), axis=1) for i in range(0, len(vectors), 4096)]
    )


def _filtered_row(
    n: int, exact: Matcher, hnsw: Matcher, flt: PersonFilter, q: np.ndarray, build: float
) -> dict[str, object]:
    truth = [[m.person for m in r.matches] for r in exact.match_many(q, k=5, person_filter=flt)]
    exact_plain, _ = _matcher_latency(exact, q, None)
    exact_filtered, _ = _matcher_latency(exact, q, flt)
    hnsw_plain, _ = _matcher_latency(hnsw, q, None)
    hnsw.filter_exact_below = 0  # force the graph search with the selector
    hnsw_filtered, found = _matcher_latency(hnsw, q, flt)
    default_route = hnsw.filter_exact_below = Settings().ann_min_faces  # what a real HNSW gallery does
    fallback, fallback_found = _matcher_latency(hnsw, q, flt)
    restriction = hnsw._restriction(flt)
    return {
        "faces": n,
        "kept_faces": restriction.rows_count,
        "kept_people_share": round(restriction.people_count / len(hnsw.people), 3),
        "hnsw_build_s": round(build, 1),
        "exact_ms_p50": _ms(exact_plain),
        "exact_filtered_ms_p50": _ms(exact_filtered),
        "hnsw_ms_p50": _ms(hnsw_plain),
        "hnsw_filtered_ms_p50": _ms(hnsw_filtered),
        "hnsw_filtered_ms_p95": round(float(np.percentile(hnsw_filtered, 95)) * 1000, 3),
        "hnsw_filtered_ef": hnsw.index.filtered_ef(restriction.rows_count),  # type: ignore[attr-defined]
        "hnsw_filtered_top5_equal": round(float(np.mean([a == b for a, b in zip(found, truth)])), 4),
        "default_route": "exact over kept rows" if restriction.rows_count < default_route else "hnsw + selector",
        "default_route_ms_p50": _ms(fallback),
        "default_route_top5_equal": round(float(np.mean([a == b for a, b in zip(fallback_found, truth)])), 4),
    }


def _matcher_latency(
    matcher: Matcher, queries: np.ndarray, flt: PersonFilter | None
) -> tuple[list[float], list[list[str]]]:
    matcher.match(queries[0], k=5, person_filter=flt)  # masks and selectors are built once per filter
    times, found = [], []
    for x in queries:
        start = time.perf_counter()
        result = matcher.match(x, k=5, person_filter=flt)
        times.append(time.perf_counter() - start)
        found.append([m.person for m in result.matches])
    return times, found


def _ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 3)
