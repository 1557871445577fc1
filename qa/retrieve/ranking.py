"""Ranking chunks for a query: both retrievers' candidates, their fusion, and the optional refinements.

A first pass takes the ``CANDIDATES`` best chunks of each retriever and fuses them (``qa.retrieve.fusion``).
Refinements, each off at 0; ``title_weight`` and ``agreement_weight`` are on by default, the others are off
(docs/quality.md: what each one measured and why). Rocchio feedback is ready to turn on with
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

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.retrieve.fusion import rrf, score_fusion, top_fused
from qa.retrieve.passages import Passages, similarities
from qa.settings import Settings

CANDIDATES = 100  # per retriever, before fusion; evaluation ranks 100 deep, so answers see the same pool
AGREEMENT_DEPTH = 10  # top chunks of each retriever compared by agreement_weight


@dataclass(frozen=True)
class Query:
    """One thing searched for: texts whose BM25 scores add up (each with its weight), the vector the dense side
    scores with, and this query's weight in the sum of fused scores. A question alone is one ``Query``; a
    follow-up adds the conversation's earlier questions as a second (``qa.retrieve.context``)."""

    texts: tuple[tuple[str, float], ...]
    vector: np.ndarray
    weight: float = 1.0

    @classmethod
    def of(cls, text: str, vector: np.ndarray) -> Query:
        return cls(((text, 1.0),), vector)


@dataclass(frozen=True)
class Candidates:
    """One pass of both retrievers: chunk rows best first, BM25 scores of every chunk, cosines by row, and the
    candidates' sentence vectors by row (read once, so a feedback pass can score them again)."""

    dense: np.ndarray
    bm25: np.ndarray
    bm25_scores: np.ndarray
    cosines: dict[int, float]
    blocks: dict[int, np.ndarray] = field(default_factory=dict)


Prior = Callable[[int], float]  # a bonus by chunk row, added to the fused score (a conversation's documents)


def rank(passages: Passages, query: str, qvec: np.ndarray, k: int) -> tuple[list[tuple[int, float]], Candidates]:
    """The ``k`` best chunk rows for one question with their ranking scores, and its first pass."""
    ranked, first = rank_queries(passages, [Query.of(query, qvec)], k)
    return ranked, first[0]


def rank_queries(passages: Passages, queries: Sequence[Query], k: int, extra: Sequence[int] = (),
                 prior: Prior | None = None, settings: Settings | None = None
                 ) -> tuple[list[tuple[int, float]], list[Candidates]]:
    """The ``k`` best chunk rows for the weighted sum of each query's fused score (plus ``prior``), and each
    query's first pass. ``extra`` rows are candidates even if neither retriever ranks them.

    Every query is fused the same way (``fuse``: title weighting and the agreement weight included), and
    feedback, when on, moves every query's vector and BM25 terms by the same feedback chunks. ``settings``
    (default: the passages') may set the refinements' weights for this ranking, as a conversation does.
    """
    settings = settings or passages.settings
    n = min(max(CANDIDATES, k), len(passages.chunks))
    bm25 = [lexical(passages, q.texts, settings.title_weight) for q in queries]
    first = first_pass(passages, queries, [q.vector for q in queries], bm25, n, extra)
    fused = combined(first, queries, settings, prior)
    if settings.retrieval == "hybrid" and fused and settings.prf_chunks and \
            (settings.rm3_weight > 0 or settings.rocchio_weight > 0):
        feedback = top_fused(fused, settings.prf_chunks)
        if settings.rm3_weight > 0:
            bm25 = [sum(w * rm3_scores(passages, text, feedback, settings) for text, w in q.texts) for q in queries]
        shares = feedback_shares(fused, settings.prf_chunks, settings.rocchio_feedback)
        vectors = [rocchio(passages, q.vector, shares, settings.rocchio_weight) if settings.rocchio_weight > 0
                   else q.vector for q in queries]
        second = first_pass(passages, queries, vectors, bm25, n, extra) if settings.prf_search \
            else [rescored(passages, f, v, b) for f, v, b in zip(first, vectors, bm25, strict=True)]
        fused = combined(second, queries, settings, prior)
    if settings.doc_weight > 0 and settings.retrieval == "hybrid":
        fused = by_document(passages, fused, settings.doc_weight)
    return top_fused(fused, k), first


def lexical(passages: Passages, texts: tuple[tuple[str, float], ...], title_weight: float) -> np.ndarray:
    """The weighted sum of each text's BM25 scores (titles included, ``bm25_with_title``)."""
    return sum(w * bm25_with_title(passages, text, title_weight) for text, w in texts)


def first_pass(passages: Passages, queries: Sequence[Query], vectors: list[np.ndarray], bm25: list[np.ndarray],
               n: int, extra: Sequence[int] = ()) -> list[Candidates]:
    """Each query's candidates over one shared pool: the dense search's ``n`` best (one search, for the queries'
    weighted vectors together), each query's ``n`` best by BM25, and ``extra``; every row scored against each.

    A single query keeps the dense search's own order; with several, each query's dense ranking is the pool
    ordered by its exact cosines (a search costs as much as the rest of a question, so it is done once).
    """
    if len(vectors) == 1 and not extra:
        return [candidates(passages, vectors[0], bm25[0], n)]
    settings = passages.settings
    searched = unit(sum(q.weight * v for q, v in zip(queries, vectors, strict=True)))
    dense_idx = passages.dense_ranking(searched, n) if settings.retrieval != "bm25" else np.zeros(0, np.int64)
    bm25_idx = [top_rows(b, n) if settings.retrieval != "dense" else np.zeros(0, np.int64) for b in bm25]
    rows = sorted({*dense_idx.tolist(), *(i for ranking in bm25_idx for i in ranking.tolist()), *extra})
    blocks = dict(zip(rows, passages.chunk_vectors(rows), strict=True))
    found = []
    for vector, scores, ranking in zip(vectors, bm25, bm25_idx, strict=True):
        cosines = similarities(blocks, vector, settings.sentence_mean_weight)
        found.append(Candidates(_by_score(rows, cosines)[:len(dense_idx)], ranking, scores, cosines, blocks))
    return found


def combined(found: list[Candidates], queries: Sequence[Query], settings: Settings,
             prior: Prior | None = None) -> dict[int, float]:
    """The weighted sum of each query's fused scores, plus ``prior``."""
    total: dict[int, float] = {}
    for candidates_, query in zip(found, queries, strict=True):
        for i, score in fuse(candidates_, settings).items():
            total[i] = total.get(i, 0.0) + query.weight * score
    return {i: score + prior(i) for i, score in total.items()} if prior else total


def _by_score(rows: list[int], scores: dict[int, float]) -> np.ndarray:
    """``rows`` best score first, ties by row."""
    order = np.array(rows, dtype=np.int64)
    return order[np.lexsort((order, -np.array([scores[i] for i in rows])))] if rows else order


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to length 1, as float32 (the type of the index's vectors)."""
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)


def rankings(passages: Passages, qvec: np.ndarray, bm25_scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each retriever's ``n`` best chunk rows, best first (empty for the one the retrieval mode leaves out)."""
    mode = passages.settings.retrieval
    dense_idx = passages.dense_ranking(qvec, n) if mode != "bm25" else np.zeros(0, np.int64)
    bm25_idx = top_rows(bm25_scores, n) if mode != "dense" else np.zeros(0, np.int64)
    return dense_idx, bm25_idx


def candidates(passages: Passages, qvec: np.ndarray, bm25_scores: np.ndarray, n: int) -> Candidates:
    """Each retriever's ``n`` best chunks (per the retrieval mode) and the dense score of all of them."""
    dense_idx, bm25_idx = rankings(passages, qvec, bm25_scores, n)
    rows = sorted({*dense_idx.tolist(), *bm25_idx.tolist()})
    blocks = dict(zip(rows, passages.chunk_vectors(rows), strict=True))
    return Candidates(dense_idx, bm25_idx, bm25_scores,
                      similarities(blocks, qvec, passages.settings.sentence_mean_weight), blocks)


def rescored(passages: Passages, first: Candidates, qvec: np.ndarray, bm25_scores: np.ndarray) -> Candidates:
    """The first pass's candidates scored again with the expanded queries, without searching again.

    Each retriever's ranking is rebuilt among those candidates (as deep as the first pass's), so fusion and
    the agreement weight see the new scores; a chunk outside the first pass cannot enter.
    """
    rows = np.array(sorted(first.cosines), dtype=np.int64)
    cosines = similarities(first.blocks, qvec, passages.settings.sentence_mean_weight)
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


def bm25_with_title(passages: Passages, query: str, weight: float | None = None) -> np.ndarray:
    """BM25 of every chunk, plus ``weight`` (default ``title_weight``) times BM25 over its document's title alone."""
    scores = passages.bm25.scores(query)
    weight = passages.settings.title_weight if weight is None else weight
    if weight <= 0 or passages.settings.retrieval == "dense" or not len(scores):
        return scores
    return scores + weight * passages.title_scores(query)


def rm3_scores(passages: Passages, query: str, feedback: list[tuple[int, float]], settings: Settings) -> np.ndarray:
    """BM25 of every chunk for the query expanded by RM3 over the ``feedback`` chunks (row, first-pass score).

    Each feedback chunk's term distribution, weighted by its share of the feedback scores, gives a relevance
    model; its ``prf_terms`` most probable terms, normalised, take ``rm3_weight`` of the query's weight
    and the original terms (uniform) the rest. bm25s has no query expansion, so this is the textbook RM3.
    """
    texts = [passages.indexed_text(i) for i, _ in feedback]
    weights = np.maximum(np.array([score for _, score in feedback], dtype=np.float64), 0.0)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(feedback), 1.0 / len(feedback))
    model: Counter[str] = Counter()
    for tokens, weight in zip(passages.bm25.tokenize(texts), weights.tolist(), strict=True):
        for term, count in Counter(tokens).items():
            model[term] += weight * count / len(tokens)
    expansion = dict(model.most_common(settings.prf_terms))
    total = sum(expansion.values()) or 1.0
    original = passages.bm25.tokenize([query])[0]
    terms: Counter[str] = Counter({t: (1 - settings.rm3_weight) / len(original) for t in original} if original else {})
    for term, p in expansion.items():
        terms[term] += settings.rm3_weight * p / total
    return passages.bm25.weighted_scores(dict(terms))


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


def rocchio(passages: Passages, qvec: np.ndarray, feedback: list[tuple[int, float]], weight: float) -> np.ndarray:
    """The query vector plus ``weight`` times the feedback chunks' mean sentence vector, unit length again.

    ``feedback`` holds (chunk row, share): the centroid weighs each chunk's mean sentence vector by its share.
    """
    blocks = passages.chunk_vectors([i for i, _ in feedback])
    pairs = [(block.mean(axis=0), share) for block, (_, share) in zip(blocks, feedback, strict=True) if len(block)]
    if not pairs:
        return qvec
    centroid = np.sum([mean * share for mean, share in pairs], axis=0)
    moved = qvec + weight * centroid / (np.linalg.norm(centroid) or 1.0)
    return (moved / (np.linalg.norm(moved) or 1.0)).astype(qvec.dtype)


def by_document(passages: Passages, fused: dict[int, float], weight: float) -> dict[int, float]:
    """Each chunk's score plus ``weight`` times the best score of another candidate chunk of its document."""
    scores: dict[str, list[float]] = {}
    for i, score in fused.items():
        scores.setdefault(passages.chunks[i].doc_id, []).append(score)
    best_two = {doc_id: sorted(values, reverse=True)[:2] for doc_id, values in scores.items()}
    out = {}
    for i, score in fused.items():
        top = best_two[passages.chunks[i].doc_id]
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
