"""Retrieval scores as the Princeton Shape Benchmark defines them (Shilane et al. 2004).

Each query ranks the library by distance (ascending, ties in library order); the query itself is
left out of its own ranking when it is in the library. With R the number of library shapes of the
query's class (the query excluded), the per-query scores are:

* Nearest Neighbour (nn): 1 if the first result is of the query's class;
* First Tier (ft): the share of the R relevant shapes among the first R results (R = |C| - 1 when
  the query is in the library);
* Second Tier (st): the same among the first 2R results;
* E-measure (e): over the first 32 results, 2 / (1/P + 1/R') with P = relevant / 32 and
  R' = relevant / R (0 when none is relevant); a library of fewer than 33 shapes divides P by the
  results it has. E reaches 1 only when R = 32, as in the PSB;
* DCG: G_i = 1 for a relevant i-th result, DCG_1 = G_1, DCG_i = DCG_{i-1} + G_i / log2(i),
  divided by the ideal DCG (all R relevant shapes first).

Scores are micro averages over the queries (every query counts once) and lie in 0..1. Queries
whose class has no other shape in the library have no relevant answer and are left out.
"""

from __future__ import annotations

import numpy as np

__all__ = ["retrieval_scores", "E_MEASURE_TOP"]

E_MEASURE_TOP = 32


def retrieval_scores(distances, labels_q, labels_n, query_in_library=None) -> dict:
    """{"nn", "ft", "st", "e", "dcg"}: micro-averaged PSB scores of a (Q, N) distance matrix.

    `labels_q` (Q,) and `labels_n` (N,) are the class labels (any comparable values) of the queries
    and the library. `query_in_library` (Q,) gives each query's own index in the library, to leave it
    out of its ranking (-1: the query is not in the library); None: no query is in the library.
    """
    d = np.asarray(distances, dtype=np.float64)
    labels_q, labels_n = np.asarray(labels_q), np.asarray(labels_n)
    if d.ndim != 2 or d.shape != (len(labels_q), len(labels_n)):
        raise ValueError(f"distances must be (queries, library) = ({len(labels_q)}, {len(labels_n)}), "
                         f"got {d.shape}")
    if np.isnan(d).any():
        raise ValueError("distances contain NaN; every query-library pair needs a distance")
    q, n = d.shape
    own = np.full(q, -1, dtype=np.int64) if query_in_library is None else \
        np.asarray(query_in_library, dtype=np.int64).reshape(-1)
    if own.shape != (q,) or own.min(initial=0) < -1 or own.max(initial=-1) >= n:
        raise ValueError(f"query_in_library must give one library index in -1..{n - 1} per query")

    excluded = np.zeros((q, n), dtype=bool)
    has_own = own >= 0
    excluded[np.flatnonzero(has_own), own[has_own]] = True
    # The excluded entry sorts last, so the other results keep their ranks 1..N-1.
    order = np.lexsort((d, excluded), axis=1)
    relevant = labels_n[order] == labels_q[:, None]
    relevant &= ~np.take_along_axis(excluded, order, axis=1)
    total = relevant.sum(axis=1)  # R per query
    usable = total > 0
    if not usable.any():
        raise ValueError("no query has another shape of its class in the library; retrieval scores are undefined")
    relevant, total = relevant[usable], total[usable]
    length = n - has_own[usable].astype(np.int64)  # results each query really gets

    hits = np.cumsum(relevant, axis=1)  # hits[:, k-1] = relevant among the first k results
    rows = np.arange(len(total))
    nn = relevant[:, 0].astype(np.float64)
    ft = hits[rows, np.minimum(total, length) - 1] / total
    st = hits[rows, np.minimum(2 * total, length) - 1] / total
    top = np.minimum(E_MEASURE_TOP, length)
    found = hits[rows, top - 1].astype(np.float64)
    precision, recall = found / top, found / total
    e = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(found), where=found > 0)
    discount = np.ones(n)
    discount[1:] = 1.0 / np.log2(np.arange(2, n + 1))
    dcg = (relevant * discount).sum(axis=1)
    ideal = np.cumsum(discount)[total - 1]
    return {"nn": float(nn.mean()), "ft": float(ft.mean()), "st": float(st.mean()), "e": float(e.mean()),
            "dcg": float((dcg / ideal).mean())}
