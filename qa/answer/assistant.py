"""Extractive answers: the retrieved sentences that best answer a question, quoted verbatim and cited.

A question flows top-down once: ``Assistant.ask`` checks it, the index's ``Retriever`` ranks passages (with
the conversation's context for a follow-up), ``qa.answer.sentences`` scores their sentences (in that
context, ``qa.answer.reading``; reordered by a quote ranker if one is set, ``qa.answer.ranker``), and the best are
quoted, verified against the documents and cited, or the assistant abstains.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from qa.answer.answers import Answer, Citation, abstention
from qa.answer.ranker import Reranked, ranker_for, ranker_query, rerank
from qa.answer.reading import Interpretation, Reading, read_in_context
from qa.answer.reflow import reflow
from qa.answer.scoring import QuestionTerms
from qa.answer.sentences import Candidate, Quote, candidates, evidence, ranked
from qa.answer.turns import turns_from_messages
from qa.errors import QuestionError
from qa.index.index import Index
from qa.ingest.documents import locate, page_of
from qa.retrieve.context import DEFAULT_WEIGHTS, ContextWeights, Turn
from qa.retrieve.hits import Hit
from qa.retrieve.retriever import check_query

log = logging.getLogger(__name__)

MAX_QUOTES = 3
MAX_ANSWER_CHARS = 700
KEEP_RATIO = 0.6  # a further quote must score at least this share of the best one


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
        are then read in their context (``follow_up``). Without history, or an empty one, the question
        is answered alone.
        """
        question = self.check_question(question)
        if history:
            return self.follow_up(question, turns_from_messages(self.index, history))
        found = self.index.retriever.retrieve(question, self.k)
        return self.answer(question, found.hits[:self.k], found.vector)

    def follow_up(self, question: str, turns: Sequence[Turn], weights: ContextWeights = DEFAULT_WEIGHTS) -> Answer:
        """Answer ``question`` (already checked) after the conversation's ``turns``, oldest first.

        The same retriever ranks it, with the earlier questions and the places last quoted as context
        (``qa.retrieve.context``); its sentences are read in that context (``qa.answer.reading``), even when the
        recent turns all went unanswered: their questions still say what the conversation is about.
        """
        found = self.index.retriever.retrieve(question, self.k, turns, weights)
        context = found.context
        reading = read_in_context(self.index, question, found.vector, context) if context.questions else None
        answer = self.answer(question, found.hits[:self.k], found.vector, reading)
        answer.interpretation = reading.interpretation if reading else Interpretation.of(context)
        return answer

    def answer(self, question: str, hits: list[Hit], qvec: np.ndarray, reading: Reading | None = None) -> Answer:
        """Answer from passages already retrieved (``Index.retrieve``), e.g. when evaluating.

        The evidence is the best sentence's score (cosine with the question plus the share of the
        question's idf-weighted terms it holds, of its ``evidence_terms`` heaviest ones). Calibrated on SQuAD dev,
        it tells answerable from unanswerable questions better than the best cosine alone (docs/quality.md,
        "Abstention"). The quotes are
        ordered by ``qa.answer.sentences`` (choice score; questions and headings hand over to what follows them),
        then, with a quote ranker set (``Settings.ranker``), the best of them by ``qa.answer.ranker``, whose
        probability for the first quote must also reach ``ranker_floor``.
        A ``reading`` (``qa.retrieve.context``) scores sentences in a conversation's context instead of the question's alone.
        """
        found = self._candidates(question, hits, qvec, reading)
        confidence = evidence(found)
        threshold = self.min_score if reading is None else reading.threshold(self.min_score)
        quotes: list[Quote] = []
        if confidence >= threshold:
            order = self._order(question, hits, found, reading)
            if order.belief is None or order.belief >= self.index.settings.ranker_floor:
                quotes = self._verified(_take(order.quotes))
        context = reading.interpretation if reading else None
        if not quotes:
            # NO_ANSWER, or why the bundled English model cannot tell, for a question in another language
            text = abstention(question, self.index.settings.model)
            return Answer(question, text, True, confidence, passages=hits, interpretation=context)
        quotes, citations = self._cite(quotes, hits)
        text = " ".join(f"\u201c{q.shown}\u201d [{q.citation}]" for q in quotes)
        return Answer(question, text, False, confidence, quotes, citations, hits, context)

    def check_question(self, question: str) -> str:
        """``question`` with its whitespace normalised, or a ``QuestionError`` saying what is wrong with it."""
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
        terms = QuestionTerms.from_question(question, self.index.bm25, self.index.settings.evidence_terms)
        return candidates(self.index, hits, qvec, terms, question)

    def _order(self, question: str, hits: list[Hit], found: list[Candidate], reading: Reading | None) -> Reranked:
        """The candidates as quotes, best first: by the choice score, then the best of them by the ranker."""
        quotes = ranked(self.index, hits, found)
        ranker = ranker_for(self.index.settings)
        if ranker is None:
            return Reranked(quotes)
        earlier = reading.interpretation.questions if reading else ()
        return rerank(ranker, ranker_query(question, earlier), quotes, self.index.settings)

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
        # Shown reflowed, with the words the document hyphenated across lines mended (qa.answer.reflow).
        numbered = [replace(q, citation=numbers[q.doc_id], shown=reflow(q.text, self.index.documents[q.doc_id].text))
                    for q in quotes]
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
