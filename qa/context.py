"""Follow-up questions read in context: the conversation decides where to look, the current question what to quote.

No language model rewrites the question. What the dialogue gives is used directly:

- **where to look**: a passage's score is the current question's fused score (BM25 and dense by plain score
  fusion: the title weighting and agreement-adaptive weight of ``qa.ranking`` do not apply here) plus that of the earlier questions (historical query expansion), plus a bonus if it is
  in the document quoted last, more if near the last quotes (a dialogue usually moves on through its
  document);
- **what to quote**: sentences are scored as for a single question (``qa.sentences``: the evidence, and the
  choice score that orders the quotes), with a share of the earlier questions' vector in the cosine and
  their content words counting a little in the coverage, so "who said so?" finds what "so" was without the
  earlier question taking the answer over; a sentence just after the last quote gets a small bonus;
- **abstention**: the evidence is that sentence score against a threshold calibrated for follow-ups, so an
  unrelated follow-up ("And who won the 2018 World Cup?"), whose own words the documents lack, is still
  refused. Turns the assistant abstained on are left out, so they neither help nor hurt the next question.

Only the answered turns among the last ``MAX_TURNS`` count. ``qa.conversation`` turns chat messages or the
``Answer`` objects a ``Conversation`` keeps into ``Turn``s. The weights were chosen on half of doc2dial-dev's
dialogues (README, "Conversations").
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qa.retrieval import Hit, score_fusion, top_fused
from qa.scoring import QuestionTerms, term_weights
from qa.sentences import Candidate, candidates

if TYPE_CHECKING:
    from qa.answer import Answer, Assistant
    from qa.chunking import Chunk
    from qa.index import Index

log = logging.getLogger(__name__)

MAX_TURNS = 3  # earlier answered turns that count; older ones are left out


@dataclass(frozen=True)
class ContextWeights:
    """How much the conversation counts against the current question (chosen on the tuning dialogues)."""

    context: float = 1.0  # weight of the earlier questions' fused score (dense + BM25) in ranking passages
    decay: float = 0.5  # each older turn counts this much of the next newer one
    same_document: float = 0.3  # fused-score bonus for passages of the document quoted last
    near_quote: float = 0.2  # and for passages within ``near_chars`` of a last quote
    sentence_vector: float = 0.3  # earlier questions' vector in the sentence cosine
    carried_terms: float = 0.1  # weight of earlier questions' terms in sentence coverage
    after_quote: float = 0.1  # sentence bonus: in the last quoted document, just after the last quote
    near_chars: int = 1500
    threshold_ratio: float = 0.65  # abstain below this share of ``min_score`` (see ``Reading.threshold``)


DEFAULT_WEIGHTS = ContextWeights()


@dataclass(frozen=True)
class Turn:
    """An earlier turn: the user's question and where the assistant's answer quoted (doc_id, start, end)."""

    question: str
    answered: bool
    quotes: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class Interpretation:
    """How a question was read in its conversation: what the earlier turns contributed."""

    turns_used: int  # earlier answered turns taken into account
    questions: tuple[str, ...]  # their questions, most recent first
    carried_terms: tuple[str, ...]  # stemmed terms of theirs that the current question lacks
    documents: tuple[str, ...]  # documents quoted last, favoured when ranking passages
    skipped_abstained: int = 0  # recent turns left out because the assistant did not answer them


@dataclass
class Reading:
    """What sentence selection needs from the conversation (see ``Assistant.answer``)."""

    question: str
    terms: QuestionTerms
    sentence_vector: np.ndarray
    interpretation: Interpretation
    last_quote: tuple[str, int, int] | None = None
    weights: ContextWeights = DEFAULT_WEIGHTS

    def threshold(self, min_score: float) -> float:
        """The evidence a follow-up needs: a share of ``min_score``, calibrated like it (README, "Conversations")
        so that follow-ups of the tuning dialogues are answered as often as off-topic follow-ups are refused."""
        return min_score * self.weights.threshold_ratio

    def candidates(self, index: Index, hits: list[Hit]) -> list[Candidate]:
        """Every sentence of ``hits`` scored in context (``qa.sentences``). Sentences quoted before may be quoted
        again: on the tuning dialogues, leaving them out lowered the first quotes in the gold span."""
        return candidates(index, hits, self.sentence_vector, self.terms, self.question, self.bonus)

    def bonus(self, doc_id: str, start: int) -> float:
        """Extra score for a sentence that continues from the last quote in the same document."""
        if self.last_quote is None:
            return 0.0
        last_doc, _, last_end = self.last_quote
        if doc_id == last_doc and 0 <= start - last_end <= self.weights.near_chars:
            return self.weights.after_quote
        return 0.0


def ask_in_context(assistant: Assistant, question: str, turns: Sequence[Turn],
                   weights: ContextWeights = DEFAULT_WEIGHTS) -> Answer:
    """Answer ``question`` (already checked) after ``turns``; as ``assistant.ask`` alone if none was answered."""
    recent = list(turns)[-MAX_TURNS:]
    used = [t for t in reversed(recent) if t.answered]  # most recent first
    skipped = len(recent) - len(used)
    if not used:
        answer = assistant.answer(question, *_retrieve_alone(assistant, question))
        answer.interpretation = Interpretation(0, (), (), (), skipped)
        return answer
    index = assistant.index
    qvec = question_vector(index, question)
    history = _history_vector(index, [t.question for t in used], weights.decay)
    last = used[0].quotes
    hits = _retrieve(assistant, question, qvec, history, used, last, weights)
    reading = _reading(index, question, qvec, history, used, skipped, weights)
    return assistant.answer(question, hits, qvec, reading)


def _retrieve_alone(assistant: Assistant, question: str) -> tuple[list[Hit], np.ndarray]:
    hits, qvec = assistant.index.retrieve(question, assistant.k)
    return hits[:assistant.k], qvec


def _history_vector(index: Index, questions: list[str], decay: float) -> np.ndarray:
    """The earlier questions' vectors, most recent weighing most, normalised."""
    vectors = np.stack([question_vector(index, q) for q in questions])
    mixed = (decay ** np.arange(len(questions)))[:, None] * vectors
    total = mixed.sum(axis=0)
    return total / max(float(np.linalg.norm(total)), 1e-9)


def _normalised(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)


def _retrieve(assistant: Assistant, question: str, qvec: np.ndarray, history: np.ndarray, used: list[Turn],
              last: tuple[tuple[str, int, int], ...], w: ContextWeights) -> list[Hit]:
    """The ``k`` best passages: the question's own fused score, plus ``w.context`` times the earlier questions'
    fused score, plus bonuses for the document quoted last and the passages around its last quotes."""
    from qa.ranking import CANDIDATES, rankings, top_rows

    index, k = assistant.index, assistant.k
    if not index.chunks:
        return []
    own_bm25 = index.bm25.scores(question)
    earlier_bm25 = sum((w.decay ** i) * index.bm25.scores(turn.question) for i, turn in enumerate(used))
    n = min(max(CANDIDATES, k), len(index.chunks))
    rows = _near_rows(index, last, w.near_chars)
    # One dense search, for both vectors at once (a search costs as much as the rest of a question); the
    # candidates are then scored exactly against each.
    found = [*rankings(index, _normalised(qvec + w.context * history), own_bm25, n)]
    if index.settings.retrieval != "dense":
        found.append(top_rows(earlier_bm25, n))
    for ranking in found:
        rows.update(ranking.tolist())
    own_cos, earlier_cos = _chunk_similarities(index, sorted(rows), qvec, history)
    own = score_fusion(own_cos, own_bm25, index.settings.dense_weight)
    earlier = score_fusion(earlier_cos, earlier_bm25, index.settings.dense_weight)
    fused = {i: own[i] + w.context * earlier[i] + _prior(index.chunks[i], last, w) for i in rows}
    return [index._hit(i, score, rank, own_cos[i], float(own_bm25[i]))
            for rank, (i, score) in enumerate(top_fused(fused, k), start=1)]


def _chunk_similarities(index: Index, rows: list[int], a: np.ndarray, b: np.ndarray
                        ) -> tuple[dict[int, float], dict[int, float]]:
    """``Index.chunk_similarities`` for two vectors, reading each chunk's sentence vectors once."""
    blocks = index.chunk_vectors(rows)
    both = np.stack([a, b], axis=1)
    best = [(block @ both).max(axis=0) if len(block) else np.zeros(2) for block in blocks]
    return ({i: float(m[0]) for i, m in zip(rows, best, strict=True)},
            {i: float(m[1]) for i, m in zip(rows, best, strict=True)})


def _prior(chunk: Chunk, last: tuple[tuple[str, int, int], ...], w: ContextWeights) -> float:
    """Bonus for a passage of the document quoted last, more if it is near one of the last quotes."""
    mine = [(start, end) for doc, start, end in last if doc == chunk.doc_id]
    if not mine:
        return 0.0
    near = any(chunk.start - w.near_chars <= end and start <= chunk.end + w.near_chars for start, end in mine)
    return w.same_document + (w.near_quote if near else 0.0)


def _near_rows(index: Index, last: tuple[tuple[str, int, int], ...], near: int) -> set[int]:
    """Rows of the chunks around the last quotes: candidates even if neither retriever ranked them."""
    by_doc = _rows_by_document(index)
    return {i for doc, start, end in last for i in by_doc.get(doc, ())
            if index.chunks[i].start - near <= end and start <= index.chunks[i].end + near}


_ROWS: weakref.WeakKeyDictionary[Index, dict[str, list[int]]] = weakref.WeakKeyDictionary()


def _rows_by_document(index: Index) -> dict[str, list[int]]:
    """Chunk rows of each document (computed once per index)."""
    rows = _ROWS.get(index)
    if rows is None:
        rows = {}
        for i, chunk in enumerate(index.chunks):
            rows.setdefault(chunk.doc_id, []).append(i)
        _ROWS[index] = rows
    return rows


def _reading(index: Index, question: str, qvec: np.ndarray, history: np.ndarray, used: list[Turn],
             skipped: int, w: ContextWeights) -> Reading:
    """How to score sentences: the question's own terms in full, the earlier questions' content words it
    lacks at ``w.carried_terms``; its vector with a share of the earlier questions'."""
    own = set(index.bm25.tokenize([question])[0])
    carried = sorted(set(content_terms(index, [t.question for t in used])) - own)
    freqs = index.bm25.document_frequencies(sorted(own | set(carried)))
    idf = term_weights(freqs, index.bm25.size)
    weights = {t: idf[t] * (1.0 if t in own else w.carried_terms) for t in idf}
    last = max(used[0].quotes, key=lambda q: q[2]) if used[0].quotes else None
    documents = tuple(dict.fromkeys(doc for doc, _, _ in used[0].quotes))
    interpretation = Interpretation(len(used), tuple(t.question for t in used), tuple(carried), documents, skipped)
    return Reading(question, QuestionTerms(weights, index.bm25), _normalised(qvec + w.sentence_vector * history),
                   interpretation, last, w)


def content_terms(index: Index, texts: list[str]) -> list[str]:
    """The stemmed terms of ``texts`` without function words ("what", "did", "do"...), which the index keeps
    as terms but which carry no topic from one question to the next."""
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    tokens = bm25s.tokenize(texts, stopwords=list(STOPWORDS_EN_PLUS), stemmer=index.bm25._stem, return_ids=False,
                            show_progress=False)
    return [t for row in tokens for t in row]


# Query vectors of earlier questions are looked up, not recomputed: in a conversation each was embedded
# when it was asked. Keyed by the model settings, so indexes built with the same model share entries.
_VECTORS: OrderedDict[tuple[str, bool, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()
VECTOR_CACHE_SIZE = 2048


def question_vector(index: Index, text: str) -> np.ndarray:
    """The query vector of ``text`` (cached)."""
    key = (index.embedder.model_name, index.embedder.quantize, text)
    with _VECTORS_LOCK:
        vector = _VECTORS.get(key)
        if vector is not None:
            _VECTORS.move_to_end(key)
            return vector
    vector = index.embedder.encode_query(text)
    with _VECTORS_LOCK:
        _VECTORS[key] = vector
        while len(_VECTORS) > VECTOR_CACHE_SIZE:
            _VECTORS.popitem(last=False)
    return vector
