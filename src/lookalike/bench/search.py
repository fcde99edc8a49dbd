"""Search at 10k–1M faces: exact NumPy vs FAISS HNSW — build time, query latency, recall@10, memory.

Vectors are synthetic but shaped like faces: clusters ("people", a few photos
each) around centres that, when a real gallery is given, are real embeddings
moved a little; queries are new photos of known people.  Isotropic random
vectors would make any graph index look worse than it is on real faces.
"""

from __future__ import annotations

import resource
import statistics
import time

import numpy as np

from lookalike.gallery.index import ExactIndex, HnswIndex, recall_at

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
