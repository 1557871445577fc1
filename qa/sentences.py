"""Which sentences of the retrieved passages answer a question, and which one is quoted first.

Every sentence of the passages is a candidate, and two scores are kept apart:

- its **evidence**, the cosine with the question plus its share of the question's idf-weighted terms
  (``qa.scoring.sentence_score``), decides whether the documents answer at all: ``Assistant.min_score`` is
  calibrated on it (README, "Abstention"), so changing how quotes are ordered does not move abstention;
- its **choice** score orders the quotes: the evidence plus ``Settings.quote_passage_weight`` times its
  passage's fused score as a share of the best passage's, so between two sentences that match the question alike, the one
  from the passage both retrievers rank higher is quoted first.

With ``Settings.quote_handover`` (the default), a sentence that only introduces an answer, a question ("How do I avoid an insurance lapse?") or a heading
(a line of its own without closing punctuation), hands its place to the sentence that follows it in its
passage: FAQs, manuals and help pages put the answer under the question or heading that matches the user's
words. README, "Quality", has the figures each rule was chosen by (``benchmarks/sentence_choice.py``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from qa.retrieval import Hit
from qa.scoring import QuestionTerms, sentence_score

if TYPE_CHECKING:
    from qa.index import Index

MAX_HANDOVERS = 3  # a heading followed by a sub-heading and a question still reaches the answer under them
CLOSING = ".!?:;\"'\u201d\u2019)]"  # characters a sentence (not a heading) ends with


@dataclass(frozen=True)
class Quote:
    """A sentence copied verbatim from a document: ``document.text[start:end] == text``."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float
    citation: int = 0  # the [n] marker it is shown with


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage and what is known of it."""

    text: str
    doc_id: str
    start: int
    end: int
    evidence: float  # cosine + coverage (+ a conversation's bonus): what abstention compares to min_score
    passage: float  # its passage's fused score / the best passage's (0..1)


Bonus = Callable[[str, int], float]  # (doc_id, start) -> extra evidence, e.g. near a conversation's last quote


def candidates(index: Index, hits: list[Hit], vector: np.ndarray, terms: QuestionTerms,
               bonus: Bonus | None = None) -> list[Candidate]:
    """Every sentence of ``hits`` once (overlapping chunks share sentences), scored against ``vector``/``terms``."""
    best = max((h.score for h in hits), default=0.0)
    found: dict[tuple[str, int, int], tuple[str, float, float]] = {}
    for hit in hits:
        chunk = index.chunk(hit.chunk_id)
        sims = index.sentence_similarities(hit.chunk_id, vector)
        share = hit.score / best if best > 0 else 0.0
        for (start, end), sim in zip(chunk.sentences, sims.tolist(), strict=True):
            found.setdefault((hit.doc_id, start, end), (hit.text[start - hit.start:end - hit.start], sim, share))
    coverage = terms.coverage([text for text, _, _ in found.values()])
    return [Candidate(text, doc, start, end, sentence_score(sim, cov) + (bonus(doc, start) if bonus else 0.0), share)
            for ((doc, start, end), (text, sim, share)), cov in zip(found.items(), coverage, strict=True)]


def ranked(index: Index, hits: list[Hit], found: list[Candidate]) -> list[Quote]:
    """The candidates as quotes, best choice first, introductions handed over to what follows them.

    A quote's ``score`` is its choice score; the evidence stays with ``evidence(found)``.
    """
    weight, handover = index.settings.quote_passage_weight, index.settings.quote_handover
    best: dict[tuple[str, int, int], Quote] = {}
    for cand in found:
        if handover:
            cand = answer_under(index, hits, cand)
        quote = Quote(cand.text, cand.doc_id, cand.start, cand.end, cand.evidence + weight * cand.passage)
        key = (quote.doc_id, quote.start, quote.end)
        if key not in best or quote.score > best[key].score:
            best[key] = quote
    return sorted(best.values(), key=lambda q: -q.score)


def evidence(found: list[Candidate]) -> float:
    """How well the documents answer: the best candidate's evidence (0 without candidates)."""
    return max((c.evidence for c in found), default=0.0)


def answer_under(index: Index, hits: list[Hit], cand: Candidate) -> Candidate:
    """``cand``, or, if it is a question or a heading, the sentence after it in its passage (with its scores)."""
    for _ in range(MAX_HANDOVERS):
        doc = index.documents[cand.doc_id]
        if not introduces(doc.text, cand.start, cand.end):
            return cand
        span = following(index, hits, cand)
        if span is None:
            return cand
        cand = replace(cand, text=doc.text[span[0]:span[1]], start=span[0], end=span[1])
    return cand


def introduces(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a question, or a heading: a line of its own without closing punctuation."""
    sentence = text[start:end].rstrip()
    if not sentence:
        return False
    if sentence.endswith("?"):
        return True
    if sentence[-1] in CLOSING:
        return False
    before = text[:start].rstrip(" \t")
    after = text[end:].lstrip(" \t")
    return (not before or before.endswith("\n")) and (not after or after.startswith("\n"))


def following(index: Index, hits: list[Hit], cand: Candidate) -> tuple[int, int] | None:
    """The span of the sentence after ``cand`` in a retrieved passage holding both (None if there is none).

    Only retrieved passages are looked in, so the quote stays inside an excerpt the answer can show.
    """
    for hit in hits:
        if hit.doc_id == cand.doc_id and hit.start <= cand.start < hit.end:
            spans = index.chunk(hit.chunk_id).sentences
            later = [span for span in spans if span[0] >= cand.end]
            if later:
                return min(later)
    return None
