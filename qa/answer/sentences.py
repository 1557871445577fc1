"""Which sentences of the retrieved passages answer a question, and which one is quoted first.

Every sentence of the passages is a candidate, and two scores are kept apart:

- its **evidence**, the cosine with the question plus its share of the question's idf-weighted terms (of the
  ``evidence_terms`` heaviest; ``qa.answer.scoring.sentence_score``), decides whether the documents answer at
  all: ``Assistant.min_score`` is calibrated on it (docs/quality.md, "Abstention"), so changing how quotes are
  ordered does not move abstention;
- its **choice** score orders the quotes. It reads the question more closely than the evidence can afford
  to (the evidence must stay comparable between questions; the choice only compares one question's
  sentences): the cosine, plus ``quote_coverage_weight`` times the question's terms the sentence holds,
  each weighted by its idf and by how few of the candidate sentences hold it (``Focus.coverage``: a term in
  all of them, the topic, cannot tell them apart; "what", "who", ... never appear in an answer and are left
  out); plus ``quote_context_weight`` times what the sentence before it adds to that (the answer sentence
  often says "he" where the one before names him); ``quote_phrase_weight`` times the share of the
  question's adjacent term pairs it holds; ``quote_type_weight`` if the question asks when or how many
  and the sentence holds a date or a number the question does not; ``quote_passage_weight`` times its
  passage's fused score as a share of the best passage's.

With ``Settings.quote_handover`` (the default), a sentence that only introduces an answer, a question ("How do I avoid an insurance lapse?") or a heading
(a line of its own without closing punctuation), hands its place to the sentence that follows it in its
passage: FAQs, manuals and help pages put the answer under the question or heading that matches the user's
words. docs/quality.md has the figures each rule was chosen by (``benchmarks/sentence_choice.py``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.scoring import QuestionTerms, sentence_score
from qa.retrieve.hits import Hit

if TYPE_CHECKING:
    from qa.retrieve.passages import Passages
    from qa.settings import Settings

MAX_HANDOVERS = 3  # a heading followed by a sub-heading and a question still reaches the answer under them
LINE_WINDOW = 200  # characters looked at around a sentence to tell whether it is a line of its own
CLOSING = ".!?:;\"'\u201d\u2019)]"  # characters a sentence (not a heading) ends with
WH_WORDS = "what which who whom whose when where why how"  # question words: never in an answer's words
ASKS_DATE = re.compile(r"\b(when|what (year|century|decade|date)|which (year|century|decade))\b", re.IGNORECASE)
ASKS_NUMBER = re.compile(r"\bhow (many|much|long|old|far|large|big|tall|high|often)\b"
                         r"|\bwhat (percentage|percent|number|amount)\b", re.IGNORECASE)
DATE = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b|\b(January|February|March|April|May|June|July|August|September"
                  r"|October|November|December)\b|\bcentury\b")
NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred"
                    r"|thousand|million|billion|dozen)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Quote:
    """A sentence copied verbatim from a document: ``document.text[start:end] == text``. ``shown`` is how it is
    displayed, set when the assistant cites it: ``text`` reflowed (``qa.answer.reflow``), the words its document
    hyphenated across lines mended (empty on the candidates before that: most are never shown)."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float
    citation: int = 0  # the [n] marker it is shown with
    shown: str = ""


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage and what is known of it."""

    text: str
    doc_id: str
    start: int
    end: int
    evidence: float  # cosine + coverage (+ a conversation's bonus): what abstention compares to min_score
    choice: float  # what orders the quotes (module docstring)


@dataclass(frozen=True)
class Focus:
    """What the choice score reads in a question: its terms without question words, their adjacent pairs,
    and the kind of value it asks for."""

    weights: dict[str, float]  # stemmed term -> idf (wh-words left out)
    pairs: frozenset[tuple[str, str]]
    asks: re.Pattern[str] | None  # DATE or NUMBER when the question asks when / how many
    question: str  # lower case: a date or number already in the question is no answer

    @classmethod
    def of(cls, question: str, terms: QuestionTerms) -> Focus:
        bm25 = terms.bm25
        tokens, wh_terms = bm25.tokenize([question, WH_WORDS])
        wh = set(wh_terms)
        asks = DATE if ASKS_DATE.search(question) else NUMBER if ASKS_NUMBER.search(question) else None
        return cls({t: w for t, w in terms.weights.items() if t not in wh}, frozenset(pairwise(tokens)),
                   asks, question.lower())

    def coverage(self, tokens: list[set[str]]) -> np.ndarray:
        """Share of the question's term weight each sentence holds, a term weighing its idf times its
        rarity among these sentences (log(1 + (n + 1) / (held by + 0.5)))."""
        n = len(tokens)
        local = {t: w * math.log(1 + (n + 1) / (sum(t in s for s in tokens) + 0.5)) for t, w in self.weights.items()}
        total = sum(local.values())
        return np.array([sum(w for t, w in local.items() if t in s) / total if total else 0.0 for s in tokens])

    def context_gain(self, tokens: list[set[str]], before: list[set[str]]) -> np.ndarray:
        """What the sentence before adds to each sentence's share of the question's (idf-weighted) terms."""
        total = sum(self.weights.values()) or 1.0
        return np.array([sum(w for t, w in self.weights.items() if t in b and t not in s) / total
                         for s, b in zip(tokens, before, strict=True)])

    def phrases(self, ordered: list[list[str]]) -> np.ndarray:
        """Share of the question's adjacent term pairs each sentence holds."""
        if not self.pairs:
            return np.zeros(len(ordered))
        return np.array([len(self.pairs & set(pairwise(t))) / len(self.pairs) for t in ordered])

    def typed(self, texts: list[str]) -> np.ndarray:
        """1 for a sentence holding the kind of value the question asks for (not one the question holds)."""
        if self.asks is None:
            return np.zeros(len(texts))
        return np.array([any(m.group(0).lower() not in self.question for m in self.asks.finditer(t))
                         for t in texts], dtype=float)


Bonus = Callable[[str, int], float]  # (doc_id, start) -> extra evidence, e.g. near a conversation's last quote


def candidates(index: Passages, hits: list[Hit], vector: np.ndarray, terms: QuestionTerms, question: str,
               bonus: Bonus | None = None) -> list[Candidate]:
    """Every sentence of ``hits`` once (overlapping chunks share sentences), scored against ``vector``/``terms``
    (evidence) and ``question`` (choice)."""
    best = max((h.score for h in hits), default=0.0)
    found: dict[tuple[str, int, int], tuple[str, float, float, str]] = {}
    for hit in hits:
        spans = index.chunk(hit.chunk_id).sentences
        sims = index.sentence_similarities(hit.chunk_id, vector)
        share = hit.score / best if best > 0 else 0.0
        for j, ((start, end), sim) in enumerate(zip(spans, sims.tolist(), strict=True)):
            before = hit.text[spans[j - 1][0] - hit.start:spans[j - 1][1] - hit.start] if j else ""
            found.setdefault((hit.doc_id, start, end), (hit.text[start - hit.start:end - hit.start], sim, share, before))
    rows = list(found.values())
    texts = [text for text, _, _, _ in rows]
    # Each distinct text is tokenized once: a sentence is usually also the "sentence before" of the next one.
    distinct = list(dict.fromkeys([*texts, *(before for _, _, _, before in rows)]))
    ordered = dict(zip(distinct, index.bm25.tokenize(distinct), strict=True))
    scores = [sentence_score(sim, cov) for (_, sim, _, _), cov in
              zip(rows, terms.coverage_of([set(ordered[text]) for text in texts]), strict=True)]
    choice = scores if index.settings.quote_order == "evidence" else \
        choice_scores(index.settings, Focus.of(question, terms), ordered, rows).tolist()
    extra = [bonus(doc, start) if bonus else 0.0 for doc, start, _ in found]
    return [Candidate(text, doc, start, end, ev + more, ch + more)
            for (doc, start, end), text, ev, ch, more in zip(found, texts, scores, choice, extra, strict=True)]


def choice_scores(settings: Settings, focus: Focus, ordered: dict[str, list[str]],
                  rows: list[tuple[str, float, float, str]]) -> np.ndarray:
    """The choice score (module docstring) of each (text, cosine, passage share, sentence before); ``ordered``
    holds every text's terms in order (``bm25.tokenize``)."""
    mine = [set(ordered[text]) for text, _, _, _ in rows]
    before = [set(ordered[text]) for _, _, _, text in rows]
    cosine = np.array([sim for _, sim, _, _ in rows])
    passage = np.array([share for _, _, share, _ in rows])
    return (cosine + settings.quote_coverage_weight * focus.coverage(mine)
            + settings.quote_context_weight * focus.context_gain(mine, before)
            + settings.quote_phrase_weight * focus.phrases([ordered[text] for text, _, _, _ in rows])
            + settings.quote_type_weight * focus.typed([text for text, _, _, _ in rows])
            + settings.quote_passage_weight * passage)


def ranked(index: Passages, hits: list[Hit], found: list[Candidate]) -> list[Quote]:
    """The candidates as quotes, best choice first, introductions handed over to what follows them.

    A quote's ``score`` is its choice score (``qa.answer.ranker`` may add to it); the evidence stays with
    ``evidence(found)``.
    """
    best: dict[tuple[str, int, int], Quote] = {}
    for cand in found:
        if index.settings.quote_handover:
            cand = answer_under(index, hits, cand)
        quote = Quote(cand.text, cand.doc_id, cand.start, cand.end, cand.choice)
        key = (quote.doc_id, quote.start, quote.end)
        if key not in best or quote.score > best[key].score:
            best[key] = quote
    return sorted(best.values(), key=lambda q: -q.score)


def evidence(found: list[Candidate]) -> float:
    """How well the documents answer: the best candidate's evidence (0 without candidates)."""
    return max((c.evidence for c in found), default=0.0)


def answer_under(index: Passages, hits: list[Hit], cand: Candidate) -> Candidate:
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
    # Only the few characters around the sentence are looked at: documents can be long.
    before = text[max(0, start - LINE_WINDOW):start].rstrip(" \t")
    after = text[end:end + LINE_WINDOW].lstrip(" \t")
    line_starts = before.endswith("\n") or (not before and start <= LINE_WINDOW)
    line_ends = after.startswith("\n") or (not after and end + LINE_WINDOW >= len(text))
    return line_starts and line_ends


def following(index: Passages, hits: list[Hit], cand: Candidate) -> tuple[int, int] | None:
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
