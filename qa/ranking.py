"""Ranking chunks for a query: both retrievers' candidates, their fusion, and the optional refinements.

A first pass takes the ``CANDIDATES`` best chunks of each retriever and fuses them (``qa.retrieval``).
Refinements, each off at 0; ``title_weight`` and ``agreement_weight`` are on by default, the others are off
(README, "Quality": what each one measured and why). Rocchio feedback is ready to turn on with
``rocchio_weight`` alone (``prf_chunks`` 3, margin-weighted, re-scoring the first pass's candidates): it helps
collections with many relevant documents a question (NFCorpus) and costs those with one (SQuAD):

- pseudo-relevance feedback: the first pass's ``prf_chunks`` best chunks expand the query, for BM25
  with RM3 (their most probable terms join the query, weighted ``rm3_weight`` in all) and for the dense
  side with Rocchio (their mean sentence vector is added to the query vector, weighted ``rocchio_weight``;
  ``rocchio_feedback`` "margin" weighs each chunk by how far its first-pass score stands above the best
  chunk left out, "uniform" weighs them alike); a second pass then ranks with the expanded queries: it
  re-scores the first pass's candidates, or with ``prf_search`` searches both retrievers again;
- ``title_weight``: BM25 over the document titles alone (one row per chunk, built in memory on an index's
  first query), added to the BM25 score;
- ``sentence_mean_weight``: a chunk's dense score is its best sentence's cosine plus this times the mean
  cosine of its sentences;
- ``doc_weight``: a chunk gains this times the best score of another chunk of its document;
- ``agreement_weight``: the dense weight grows by this times (0.5 - the share of the two retrievers' top 10
  they have in common), so the dense side counts more when BM25 finds other chunks than it does.
"""
from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from qa.bm25 import BM25Index
from qa.retrieval import rrf, score_fusion, top_fused

if TYPE_CHECKING:
    from qa.index import Index
    from qa.settings import Settings

CANDIDATES = 100  # per retriever, before fusion; evaluation ranks 100 deep, so answers see the same pool
AGREEMENT_DEPTH = 10  # top chunks of each retriever compared by agreement_weight

_title_indexes: weakref.WeakKeyDictionary[Index, BM25Index] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Candidates:
    """One pass of both retrievers: chunk rows best first, BM25 scores of every chunk, cosines by row, and the
    candidates' sentence vectors by row (read once, so a feedback pass can score them again)."""

    dense: np.ndarray
    bm25: np.ndarray
    bm25_scores: np.ndarray
    cosines: dict[int, float]
    blocks: dict[int, np.ndarray] = field(default_factory=dict)


def rank(index: Index, query: str, qvec: np.ndarray, k: int) -> tuple[list[tuple[int, float]], Candidates]:
    """The ``k`` best chunk rows with their ranking scores, and the first pass (scored with ``qvec``/``query``)."""
    settings = index.settings
    n = min(max(CANDIDATES, k), len(index.chunks))
    bm25_scores = bm25_with_title(index, query)
    first = candidates(index, qvec, bm25_scores, n)
    fused = fuse(first, settings)
    if settings.retrieval == "hybrid" and fused and settings.prf_chunks and \
            (settings.rm3_weight > 0 or settings.rocchio_weight > 0):
        feedback = top_fused(fused, settings.prf_chunks)
        if settings.rm3_weight > 0:
            bm25_scores = rm3_scores(index, query, feedback, settings)
        fb_qvec = rocchio(index, qvec, feedback_shares(fused, settings.prf_chunks, settings.rocchio_feedback),
                          settings.rocchio_weight) if settings.rocchio_weight > 0 else qvec
        second = candidates(index, fb_qvec, bm25_scores, n) if settings.prf_search \
            else rescored(index, first, fb_qvec, bm25_scores)
        fused = fuse(second, settings)
    if settings.doc_weight > 0 and settings.retrieval == "hybrid":
        fused = by_document(index, fused, settings.doc_weight)
    return top_fused(fused, k), first


def rankings(index: Index, qvec: np.ndarray, bm25_scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each retriever's ``n`` best chunk rows, best first (empty for the one the retrieval mode leaves out)."""
    mode = index.settings.retrieval
    dense_idx = index._dense_ranking(qvec, n) if mode != "bm25" else np.zeros(0, np.int64)
    bm25_idx = top_rows(bm25_scores, n) if mode != "dense" else np.zeros(0, np.int64)
    return dense_idx, bm25_idx


def candidates(index: Index, qvec: np.ndarray, bm25_scores: np.ndarray, n: int) -> Candidates:
    """Each retriever's ``n`` best chunks (per the retrieval mode) and the dense score of all of them."""
    dense_idx, bm25_idx = rankings(index, qvec, bm25_scores, n)
    rows = sorted({*dense_idx.tolist(), *bm25_idx.tolist()})
    blocks = dict(zip(rows, index.chunk_vectors(rows), strict=True))
    return Candidates(dense_idx, bm25_idx, bm25_scores,
                      similarities(blocks, qvec, index.settings.sentence_mean_weight), blocks)


def similarities(blocks: dict[int, np.ndarray], qvec: np.ndarray, mean_weight: float) -> dict[int, float]:
    """Each chunk's dense score, as ``Index.chunk_similarities``, from its sentence vectors already read."""
    sims = {i: block @ qvec for i, block in blocks.items()}
    return {i: float(s.max() + mean_weight * s.mean()) if len(s) else 0.0 for i, s in sims.items()}


def rescored(index: Index, first: Candidates, qvec: np.ndarray, bm25_scores: np.ndarray) -> Candidates:
    """The first pass's candidates scored again with the expanded queries, without searching again.

    Each retriever's ranking is rebuilt among those candidates (as deep as the first pass's), so fusion and
    the agreement weight see the new scores; a chunk outside the first pass cannot enter.
    """
    rows = np.array(sorted(first.cosines), dtype=np.int64)
    cosines = similarities(first.blocks, qvec, index.settings.sentence_mean_weight)
    dense = rows[np.lexsort((rows, -np.array([cosines[i] for i in rows.tolist()])))][:len(first.dense)]
    bm25 = rows[np.lexsort((rows, -bm25_scores[rows]))]
    return Candidates(dense, bm25[bm25_scores[bm25] > 0][:len(first.bm25)], bm25_scores, cosines, first.blocks)


def fuse(found: Candidates, settings: Settings) -> dict[int, float]:
    """Every candidate's ranking score, by the configured mode and fusion."""
    if settings.retrieval == "dense":
        return {i: found.cosines[i] for i in found.dense.tolist()}
    if settings.retrieval == "bm25":
        return {i: float(found.bm25_scores[i]) for i in found.bm25.tolist()}
    if settings.fusion == "rrf":
        return rrf([found.dense, found.bm25], settings.rrf_k)
    weight = settings.dense_weight
    if settings.agreement_weight:
        weight = max(0.0, weight + settings.agreement_weight * (0.5 - agreement(found.dense, found.bm25)))
    return score_fusion(found.cosines, found.bm25_scores, weight)


def agreement(dense: np.ndarray, bm25: np.ndarray, depth: int = AGREEMENT_DEPTH) -> float:
    """Share of the two rankings' top ``depth`` chunks they have in common (0..1)."""
    return len(set(dense[:depth].tolist()) & set(bm25[:depth].tolist())) / depth


def bm25_with_title(index: Index, query: str) -> np.ndarray:
    """BM25 of every chunk, plus ``title_weight`` times BM25 over its document's title alone."""
    scores = index.bm25.scores(query)
    weight = index.settings.title_weight
    if weight <= 0 or index.settings.retrieval == "dense" or not len(scores):
        return scores
    titles = _title_indexes.get(index)
    if titles is None:  # built once per loaded index, on first use (titles are short: fast)
        titles = BM25Index.build([index.documents[c.doc_id].title for c in index.chunks])
        _title_indexes[index] = titles
    return scores + weight * titles.scores(query)


def rm3_scores(index: Index, query: str, feedback: list[tuple[int, float]], settings: Settings) -> np.ndarray:
    """BM25 of every chunk for the query expanded by RM3 over the ``feedback`` chunks (row, first-pass score).

    Each feedback chunk's term distribution, weighted by its share of the feedback scores, gives a relevance
    model; its ``prf_terms`` most probable terms, normalised, take ``rm3_weight`` of the query's weight
    and the original terms (uniform) the rest. bm25s has no query expansion, so this is the textbook RM3.
    """
    from qa.index import chunk_input

    texts = [chunk_input(index.chunks[i], index.documents[index.chunks[i].doc_id], settings)[0] for i, _ in feedback]
    weights = np.maximum(np.array([score for _, score in feedback], dtype=np.float64), 0.0)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(feedback), 1.0 / len(feedback))
    model: Counter[str] = Counter()
    for tokens, weight in zip(index.bm25.tokenize(texts), weights.tolist(), strict=True):
        for term, count in Counter(tokens).items():
            model[term] += weight * count / len(tokens)
    expansion = dict(model.most_common(settings.prf_terms))
    total = sum(expansion.values()) or 1.0
    original = index.bm25.tokenize([query])[0]
    terms: Counter[str] = Counter({t: (1 - settings.rm3_weight) / len(original) for t in original} if original else {})
    for term, p in expansion.items():
        terms[term] += settings.rm3_weight * p / total
    return index.bm25.weighted_scores(dict(terms))


def feedback_shares(fused: dict[int, float], n: int, how: str) -> list[tuple[int, float]]:
    """The ``n`` best candidates, each with its share of the feedback (shares sum to 1).

    ``"uniform"``: equal shares. ``"margin"``: shares in proportion to how far each score stands above the
    best candidate left out (the ``n+1``-th), so a chunk far ahead of the rest dominates the feedback and a
    flat top spreads it; equal shares when there is no such candidate or no margin.
    """
    ranked = top_fused(fused, n + 1)
    chosen = ranked[:n]
    margins = [score - ranked[n][1] for _, score in chosen] if how == "margin" and len(ranked) > n else []
    total = sum(margins)
    if total <= 0:
        return [(i, 1.0 / len(chosen)) for i, _ in chosen]
    return [(i, m / total) for (i, _), m in zip(chosen, margins, strict=True)]


def rocchio(index: Index, qvec: np.ndarray, feedback: list[tuple[int, float]], weight: float) -> np.ndarray:
    """The query vector plus ``weight`` times the feedback chunks' mean sentence vector, unit length again.

    ``feedback`` holds (chunk row, share): the centroid weighs each chunk's mean sentence vector by its share.
    """
    blocks = index.chunk_vectors([i for i, _ in feedback])
    pairs = [(block.mean(axis=0), share) for block, (_, share) in zip(blocks, feedback, strict=True) if len(block)]
    if not pairs:
        return qvec
    centroid = np.sum([mean * share for mean, share in pairs], axis=0)
    moved = qvec + weight * centroid / (np.linalg.norm(centroid) or 1.0)
    return (moved / (np.linalg.norm(moved) or 1.0)).astype(qvec.dtype)


def by_document(index: Index, fused: dict[int, float], weight: float) -> dict[int, float]:
    """Each chunk's score plus ``weight`` times the best score of another candidate chunk of its document."""
    scores: dict[str, list[float]] = {}
    for i, score in fused.items():
        scores.setdefault(index.chunks[i].doc_id, []).append(score)
    best_two = {doc_id: sorted(values, reverse=True)[:2] for doc_id, values in scores.items()}
    out = {}
    for i, score in fused.items():
        top = best_two[index.chunks[i].doc_id]
        out[i] = score if len(top) < 2 else score + weight * (top[1] if score >= top[0] else top[0])
    return out


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows of the ``n`` highest positive scores, best first (ties by row)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, np.int64)
    idx = np.argpartition(-scores, n - 1)[:n]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx[scores[idx] > 0]
