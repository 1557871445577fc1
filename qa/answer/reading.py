"""A follow-up read in its conversation's context: what the earlier turns change in how sentences are scored.

The conversation decides where to look (``qa.retrieve.context``); the current question decides what to
quote. Sentences are scored as for a single question (``qa.answer.sentences``), with a share of the earlier
questions' vector in the cosine and their content words counting a little in the coverage, so "who said
so?" finds what "so" was without the earlier question taking the answer over; a sentence just after the
last quote gets a small bonus. An unrelated follow-up ("And who won the 2018 World Cup?"), whose own words
the documents lack, is still refused: the evidence is compared with a threshold calibrated for follow-ups.
Recent turns that all went unanswered still count, at their share: their questions' vector joins the cosine
and the threshold is lowered by ``unanswered`` as much (``Reading.threshold``); their words are not carried.
The weights were chosen on half of doc2dial-dev's dialogues (docs/conversations.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.answer.scoring import QuestionTerms, term_weights
from qa.answer.sentences import Candidate, candidates
from qa.retrieve.context import DEFAULT_WEIGHTS, Context, ContextWeights
from qa.retrieve.hits import Hit
from qa.retrieve.passages import Passages
from qa.retrieve.ranking import unit


@dataclass(frozen=True)
class Interpretation:
    """How a question was read in its conversation: what the earlier turns contributed."""

    turns_used: int  # earlier answered turns taken into account
    questions: tuple[str, ...]  # their questions, most recent first
    carried_terms: tuple[str, ...]  # stemmed terms of theirs that the current question lacks
    documents: tuple[str, ...]  # documents quoted last, favoured when ranking passages
    skipped_abstained: int = 0  # recent turns the assistant did not answer: no quotes or terms of theirs count

    @classmethod
    def of(cls, context: Context, carried: tuple[str, ...] = ()) -> Interpretation:
        documents = tuple(dict.fromkeys(doc for doc, _, _ in context.last_quotes))
        return cls(len(context.used), tuple(t.question for t in context.used), carried, documents, context.skipped)

    @property
    def in_context(self) -> bool:
        """Whether any earlier turn counted: one was used, or unanswered ones were skipped."""
        return bool(self.turns_used or self.skipped_abstained)

    def describe(self) -> str:
        """One sentence saying what the earlier turns contributed to reading the question."""
        n, skipped = self.turns_used, self.skipped_abstained
        if not n:
            return (f"Read with {skipped} unanswered earlier turn{'s' * (skipped > 1)}, at a lesser weight: "
                    "no terms carried over.")
        also = f" ({skipped} unanswered one{'s' * (skipped > 1)} also guided the search)" if skipped else ""
        terms = ", ".join(self.carried_terms) or "none"
        return f"Read with {n} earlier turn{'s' * (n > 1)}{also}; terms carried over: {terms}."


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
        """The evidence a follow-up needs: a share of ``min_score``, calibrated like it (docs/conversations.md)
        so that follow-ups of the tuning dialogues are answered as often as off-topic follow-ups are refused.

        After only unanswered turns the threshold is lowered by ``unanswered`` of that much (0.825 x
        ``min_score`` by default), as such a turn counts in the search at that share of an answered one. On
        doc2dial-dev's follow-ups after a first answer from the wrong document (or none) it cut abstentions from
        0.117 to 0.087 and kept unrelated questions asked after an unanswered one refused 0.983 of the time (the
        full 0.65: 0.071 and 0.919; docs/conversations.md).
        """
        w = self.weights
        lowered = 1.0 - w.threshold_ratio
        return min_score * (1.0 - lowered * (1.0 if self.interpretation.turns_used else w.unanswered))

    def candidates(self, passages: Passages, hits: list[Hit]) -> list[Candidate]:
        """Every sentence of ``hits`` scored in context (``qa.answer.sentences``). Sentences quoted before may be
        quoted again: on the tuning dialogues, leaving them out lowered the first quotes in the gold span."""
        return candidates(passages, hits, self.sentence_vector, self.terms, self.question, self.bonus)

    def bonus(self, doc_id: str, start: int) -> float:
        """Extra score for a sentence that continues from the last quote in the same document."""
        if self.last_quote is None:
            return 0.0
        last_doc, _, last_end = self.last_quote
        if doc_id == last_doc and 0 <= start - last_end <= self.weights.near_chars:
            return self.weights.after_quote
        return 0.0


def read_in_context(passages: Passages, question: str, qvec: np.ndarray, context: Context) -> Reading:
    """How to score sentences: the question's own terms in full, the answered earlier questions' content words
    it lacks at ``carried_terms``; its vector with ``sentence_vector`` of the earlier questions' (unanswered ones
    included, at their share)."""
    w, bm25 = context.weights, passages.bm25
    assert context.history is not None, "a reading in context needs earlier questions"
    own = set(bm25.tokenize([question])[0])
    carried = sorted(set(bm25.content_terms([t.question for t in context.used])) - own)
    idf = term_weights(bm25.document_frequencies(sorted(own | set(carried))), bm25.size)
    weights = {t: idf[t] * (1.0 if t in own else w.carried_terms) for t in idf}
    last_quotes = context.last_quotes
    last = max(last_quotes, key=lambda q: q[2]) if last_quotes else None
    vector = unit(qvec + w.sentence_vector * context.history)
    terms = QuestionTerms(weights, bm25, passages.settings.evidence_terms)
    return Reading(question, terms, vector, Interpretation.of(context, tuple(carried)), last, w)
