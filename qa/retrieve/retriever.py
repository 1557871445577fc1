"""The one way a question becomes ranked passages, whether it is asked alone or as a follow-up."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.errors import QuestionError
from qa.ingest.documents import SURROGATE
from qa.retrieve.context import DEFAULT_WEIGHTS, Context, ContextWeights, Turn, earlier_query, quote_prior, read_context
from qa.retrieve.hits import Hit
from qa.retrieve.passages import Passages
from qa.retrieve.ranking import Candidates, Query, rank_queries

VECTOR_CACHE_SIZE = 2048


@dataclass
class Retrieval:
    """What a search found: the passages best first, the question's own vector (sentences are scored with it),
    and the conversation's context (empty for a question alone)."""

    hits: list[Hit]
    vector: np.ndarray
    context: Context = field(default_factory=Context)


class Retriever:
    """Ranks the passages of an index (any ``Passages``) for a question and, optionally, its conversation.

    It reads the passages' settings at each search, so a changed ``settings`` takes effect at once.
    """

    def __init__(self, passages: Passages) -> None:
        self.passages = passages

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (default ``settings.k``)."""
        return self.retrieve(query, k).hits

    def retrieve(self, query: str, k: int | None = None, turns: Sequence[Turn] = (),
                 weights: ContextWeights = DEFAULT_WEIGHTS, qvec: np.ndarray | None = None) -> Retrieval:
        """The ``k`` best passages for ``query`` after the conversation's ``turns`` (oldest first; none for a
        question alone), with the question's vector. ``qvec`` is that vector if already computed (e.g. a batch
        of questions encoded at once)."""
        passages = self.passages
        k = k or passages.settings.k
        check_query(query)
        context = read_context(turns, weights, self.question_vector) if turns else Context(weights=weights)
        if qvec is None and not query.strip():
            qvec = np.zeros(passages.vectors.shape[1], np.float32)
        elif qvec is None:  # in a conversation, this question is the next one's context: keep its vector
            qvec = self.question_vector(query) if turns else passages.embedder.encode_query(query)
        if not query.strip() or not passages.chunks:
            return Retrieval([], qvec, context)
        queries, extra, prior, settings = [Query.of(query, qvec)], [], None, None
        if context.questions:
            queries.append(earlier_query(context))
            extra, prior = quote_prior(passages, context) if context.used else ([], None)
            settings = passages.settings.replace(title_weight=weights.title_weight,
                                                 agreement_weight=weights.agreement_weight)
        ranked, first = rank_queries(passages, queries, k, extra, prior, settings)
        return Retrieval(self._hits(ranked, first[0], qvec), qvec, context)

    def _hits(self, ranked: list[tuple[int, float]], first: Candidates, qvec: np.ndarray) -> list[Hit]:
        """Hits carry the question's plain best-sentence cosine and its BM25 score (titles included)."""
        cosines = self.passages.chunk_similarities([i for i, _ in ranked], qvec)
        return [self.passages.hit(i, score, position, cosines[i], float(first.bm25_scores[i]))
                for position, (i, score) in enumerate(ranked, start=1)]

    def question_vector(self, text: str) -> np.ndarray:
        """The query vector of ``text``; cached, as a conversation embeds each question once and reads it again
        as the next follow-ups' context. Keyed by the model, so indexes built with one model share entries."""
        embedder = self.passages.embedder
        key = (embedder.model_name, embedder.quantize, text)
        with _VECTORS_LOCK:
            vector = _VECTORS.get(key)
            if vector is not None:
                _VECTORS.move_to_end(key)
                return vector
        vector = embedder.encode_query(text)
        with _VECTORS_LOCK:
            _VECTORS[key] = vector
            while len(_VECTORS) > VECTOR_CACHE_SIZE:
                _VECTORS.popitem(last=False)
        return vector


_VECTORS: OrderedDict[tuple[str, bool, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()


def check_query(query: str) -> None:
    """Refuse a query the tokenizer cannot take: not a string, or holding half of a UTF-16 pair (what a
    terminal argument that is not UTF-8 decodes to), which is not text."""
    if not isinstance(query, str):
        raise QuestionError(f"a question must be text, got {type(query).__name__}")
    bad = SURROGATE.search(query)
    if bad:
        raise QuestionError(f"the question holds {bad.group()!r} at position {bad.start()}, which is not valid text "
                            "(bytes that are not UTF-8?): retype it, or set your terminal to UTF-8")
