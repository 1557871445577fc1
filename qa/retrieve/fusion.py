"""Fusing the two retrievers' scores: score fusion (the default) or reciprocal rank fusion."""
from __future__ import annotations

import numpy as np


def rrf(rankings: list[np.ndarray], rrf_k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion: sum of weight / (rrf_k + rank) over the rankings a candidate appears in."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, idx in enumerate(ranking.tolist(), start=1):
            fused[idx] = fused.get(idx, 0.0) + weight / (rrf_k + rank)
    return fused


def score_fusion(cosines: dict[int, float], bm25_scores: np.ndarray, dense_weight: float) -> dict[int, float]:
    """BM25 relative to the query's best BM25 score, plus ``dense_weight`` times the cosine.

    Dividing by the best score puts BM25 on a 0..1 scale whatever the query's length, so one weight
    works for every query. On SQuAD dev this beat reciprocal rank fusion (MRR@10 0.875 vs 0.857 at
    rrf_k=60 on the tuning articles).
    """
    best = float(bm25_scores.max()) if len(bm25_scores) else 0.0
    scale = 1.0 / best if best > 0 else 0.0
    return {i: float(bm25_scores[i]) * scale + dense_weight * cos for i, cos in cosines.items()}


def top_fused(fused: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The ``k`` best candidates, ties broken by candidate position for determinism."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]

