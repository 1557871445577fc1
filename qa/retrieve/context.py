"""A conversation's context for retrieval: what the earlier turns add to a follow-up question's search.

No language model rewrites the question. A follow-up is ranked by the same ranking as a question alone
(``qa.retrieve.ranking``), over two queries and a prior:

- the question itself, at weight 1;
- the earlier questions (historical query expansion), at weight ``context``: their BM25 scores summed and
  their vectors averaged, each vector weighted by its question's length in words, as embedding the questions
  together would weigh them (without the cost of embedding them again). A question the assistant did not
  answer still says what the conversation is about, so it counts, at ``unanswered`` of an answered one's
  weight;
- a bonus for passages of the document quoted last, more if near the last quotes (a dialogue usually moves
  on through its document); the passages around the last quotes are candidates even if neither retriever
  ranked them.

The refinements that help single questions (title weighting, the agreement weight) are weights of this
ranking like any other; ``ContextWeights`` sets them for follow-ups. Only the last ``MAX_TURNS`` turns count;
the quotes of the last answered one give the prior. How the answer then reads the context (sentence scores,
abstention) is ``qa.answer.reading``; only the answered turns' words are carried into it, and after only
unanswered turns the abstention threshold is lowered by their ``unanswered`` share.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.retrieve.passages import Passages
from qa.retrieve.ranking import Prior, Query, unit

MAX_TURNS = 3  # earlier turns that count; older ones are left out


@dataclass(frozen=True)
class ContextWeights:
    """How much the conversation counts against the current question (chosen on the tuning dialogues)."""

    context: float = 1.0  # weight of the earlier questions' fused score (dense + BM25) in ranking passages
    # an earlier question the assistant abstained on, against an answered one: in the search, and in how far the
    # abstention threshold is lowered when all recent turns went unanswered (``qa.answer.reading``)
    unanswered: float = 0.5
    same_document: float = 0.3  # fused-score bonus for passages of the document quoted last
    near_quote: float = 0.2  # and for passages within ``near_chars`` of a last quote
    sentence_vector: float = 0.3  # earlier questions' vector in the sentence cosine
    carried_terms: float = 0.1  # weight of earlier questions' terms in sentence coverage
    after_quote: float = 0.1  # sentence bonus: in the last quoted document, just after the last quote
    near_chars: int = 1500
    threshold_ratio: float = 0.65  # abstain below this share of ``min_score`` (``qa.answer.reading``)
    # The ranking's refinements for a follow-up (``title_weight``, ``agreement_weight`` of the settings, chosen for
    # single questions): measured on the follow-ups of doc2dial-dev, each cost both finding the document and
    # refusing unrelated follow-ups (docs/conversations.md), so a conversation's ranking sets them to 0.
    title_weight: float = 0.0
    agreement_weight: float = 0.0


DEFAULT_WEIGHTS = ContextWeights()


@dataclass(frozen=True)
class Turn:
    """An earlier turn: the user's question and where the assistant's answer quoted (doc_id, start, end)."""

    question: str
    answered: bool
    quotes: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class Context:
    """What a conversation gives a question: its recent answered turns, most recent first; how many recent turns
    the assistant did not answer; the recent questions with their weights in the earlier query, most recent
    first; and their mixed vector (None without turns)."""

    used: tuple[Turn, ...] = ()
    skipped: int = 0
    history: np.ndarray | None = None
    weights: ContextWeights = field(default=DEFAULT_WEIGHTS)
    questions: tuple[tuple[str, float], ...] = ()

    @property
    def last_quotes(self) -> tuple[tuple[str, int, int], ...]:
        return self.used[0].quotes if self.used else ()


def read_context(turns: Sequence[Turn], weights: ContextWeights,
                 vector_of: Callable[[str], np.ndarray]) -> Context:
    """The context of the last ``MAX_TURNS`` turns; ``vector_of`` embeds a question (cached by the caller).

    The earlier questions' vector is their mean weighted by length in words (and ``unanswered``): mean pooling
    weighs each token alike, so this stands in for embedding them as one text. On doc2dial-dev's follow-ups it
    found the document as often as that embedding (doc@5 0.961 either way) at none of its cost, and more often
    than weighting the latest question most (docs/conversations.md).
    """
    recent = [t for t in reversed(list(turns)[-MAX_TURNS:]) if t.question.strip()]
    used = tuple(t for t in recent if t.answered)
    skipped = len(recent) - len(used)
    if not recent:
        return Context((), skipped, None, weights)
    questions = tuple((t.question, 1.0 if t.answered else weights.unanswered) for t in recent)
    mixed = sum(share * len(text.split()) * vector_of(text) for text, share in questions)
    return Context(used, skipped, unit(mixed), weights, questions)


def earlier_query(context: Context) -> Query:
    """The earlier questions as one query, weighted ``context`` against the question's own."""
    assert context.history is not None, "a context without turns has no earlier query"
    return Query(context.questions, context.history, context.weights.context)


def quote_prior(passages: Passages, context: Context) -> tuple[list[int], Prior]:
    """The chunk rows around the last quotes (candidates whatever the retrievers say), and the bonus of each row:
    ``same_document`` for the document quoted last, plus ``near_quote`` within ``near_chars`` of a quote."""
    w, last = context.weights, context.last_quotes
    near = [i for doc, start, end in last for i in passages.rows_of(doc)
            if _near(passages, i, start, end, w.near_chars)]

    def prior(row: int) -> float:
        mine = [(start, end) for doc, start, end in last if doc == passages.chunks[row].doc_id]
        if not mine:
            return 0.0
        close = any(_near(passages, row, start, end, w.near_chars) for start, end in mine)
        return w.same_document + (w.near_quote if close else 0.0)

    return sorted(set(near)), prior


def _near(passages: Passages, row: int, start: int, end: int, near_chars: int) -> bool:
    chunk = passages.chunks[row]
    return chunk.start - near_chars <= end and start <= chunk.end + near_chars
