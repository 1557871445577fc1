"""Extractive answers: the retrieved sentences that best answer a question, quoted verbatim and cited."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.documents import locate
from qa.errors import QuestionError
from qa.index import Index, check_query, page_of
from qa.retrieval import Hit
from qa.scoring import QuestionTerms
from qa.sentences import Candidate, Quote, candidates, evidence, ranked

if TYPE_CHECKING:
    from qa.context import Interpretation, Reading

log = logging.getLogger(__name__)

NO_ANSWER = "The documents don't answer this question."
MAX_QUOTES = 3
MAX_ANSWER_CHARS = 700
KEEP_RATIO = 0.6  # a further quote must score at least this share of the best one


@dataclass(frozen=True)
class Citation:
    """A cited document and the quotes taken from it."""

    number: int
    doc_id: str
    title: str
    date: str
    source: str
    quotes: tuple[Quote, ...]
    excerpt: Hit  # the passage the first quote came from, for showing context
    page: int | None = None  # the PDF page of the first quote
    location: str = ""  # where the first quote is: "page 2", "slide 3", "section: Heading" (qa.documents.locate)


@dataclass
class Answer:
    """What ``Assistant.ask`` returns. ``abstained`` means the documents do not answer the question."""

    question: str
    text: str
    abstained: bool
    confidence: float
    quotes: list[Quote] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    interpretation: Interpretation | None = None  # with a history: what the earlier turns contributed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Assistant:
    """Answers questions from an Index by quoting its documents."""

    def __init__(self, index: Index, k: int | None = None, min_score: float | None = None) -> None:
        self.index = index
        self.k = k or index.settings.k
        self.min_score = index.settings.min_score if min_score is None else min_score

    def ask(self, question: str, history: Sequence[dict[str, Any]] | None = None) -> Answer:
        """Answer ``question``; abstain when the best evidence scores below ``min_score``.

        ``history`` is the conversation so far as chat messages (``{"role": "user" | "assistant", "content":
        text}``, oldest first, the assistant's messages being its own earlier answers): follow-up questions
        are then read in their context (``qa.context``). Without history, or an empty one, the question
        is answered alone.
        """
        question = self._check(question)
        if history:
            from qa.context import ask_in_context
            from qa.conversation import turns_from_messages

            return ask_in_context(self, question, turns_from_messages(self.index, history))
        hits, qvec = self.index.retrieve(question, self.k)
        return self.answer(question, hits[:self.k], qvec)

    def answer(self, question: str, hits: list[Hit], qvec: np.ndarray, reading: Reading | None = None) -> Answer:
        """Answer from passages already retrieved (``Index.retrieve``), e.g. when evaluating.

        The evidence is the best sentence's score (cosine with the question plus the share of the
        question's idf-weighted terms it holds). Calibrated on SQuAD dev, it tells answerable from
        unanswerable questions better than the best cosine alone (README, "Abstention"). The quotes are
        ordered by ``qa.sentences`` (choice score; questions and headings hand over to what follows them).
        A ``reading`` (``qa.context``) scores sentences in a conversation's context instead of the question's alone.
        """
        found = self._candidates(question, hits, qvec, reading)
        confidence = evidence(found)
        threshold = self.min_score if reading is None else reading.threshold(self.min_score)
        quotes = self._verified(_take(ranked(self.index, hits, found))) if confidence >= threshold else []
        context = reading.interpretation if reading else None
        if not quotes:
            return Answer(question, NO_ANSWER, True, confidence, passages=hits, interpretation=context)
        quotes, citations = self._cite(quotes, hits)
        text = " ".join(f"\u201c{q.text}\u201d [{q.citation}]" for q in quotes)
        return Answer(question, text, False, confidence, quotes, citations, hits, context)

    def _check(self, question: str) -> str:
        check_query(question)
        if not question.strip():
            raise QuestionError("the question is empty: type a question about the documents")
        limit = self.index.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question):,} characters long; the limit is {limit:,}: "
                                "ask something shorter")
        return " ".join(question.split())

    def _candidates(self, question: str, hits: list[Hit], qvec: np.ndarray, reading: Reading | None
                    ) -> list[Candidate]:
        """Every sentence of the retrieved passages, scored against the question (or its reading in context)."""
        if reading is not None:
            return reading.candidates(self.index, hits)
        return candidates(self.index, hits, qvec, QuestionTerms.from_question(question, self.index.bm25), question)

    def _verified(self, quotes: list[Quote]) -> list[Quote]:
        """Drop any quote that is not, character for character, in its document at its offsets."""
        good = []
        for quote in quotes:
            doc = self.index.documents.get(quote.doc_id)
            if doc is not None and doc.text[quote.start:quote.end] == quote.text:
                good.append(quote)
            else:
                log.warning("dropped a quote that does not match %s[%d:%d]", quote.doc_id, quote.start, quote.end)
        return good

    def _cite(self, quotes: list[Quote], hits: list[Hit]) -> tuple[list[Quote], list[Citation]]:
        numbers: dict[str, int] = {}
        for quote in quotes:
            numbers.setdefault(quote.doc_id, len(numbers) + 1)
        numbered = [Quote(q.text, q.doc_id, q.start, q.end, q.score, numbers[q.doc_id]) for q in quotes]
        citations = []
        for doc_id, number in numbers.items():
            mine = tuple(q for q in numbered if q.doc_id == doc_id)
            hit = next(h for h in hits if h.doc_id == doc_id and h.start <= mine[0].start < h.end)
            doc = self.index.documents[doc_id]
            where = str(locate(doc, mine[0].start) or "")
            citations.append(Citation(number, doc_id, hit.title, hit.date, hit.source, mine, hit,
                                      page_of(doc, mine[0].start), where))
        return numbered, citations


def _take(scored: list[Quote]) -> list[Quote]:
    if not scored:
        return []
    best = scored[0].score
    chosen = [scored[0]]
    length = len(scored[0].text)
    for quote in scored[1:]:
        if len(chosen) == MAX_QUOTES or quote.score < KEEP_RATIO * best:
            break
        if length + len(quote.text) > MAX_ANSWER_CHARS:
            continue
        chosen.append(quote)
        length += len(quote.text)
    return chosen
