"""Question-sentence pairs for training the quote ranker, from public data, split by source.

Three kinds of questions go in, so the ranker does not learn one data set's habits:

- **SQuAD v1.1 dev** (crowd-written questions on Wikipedia; CC BY-SA 4.0), the articles of ``squad_part`` "train"
  only. A positive is a sentence of the gold paragraph holding a gold answer; the negatives are the sentences
  today's scorer ranks highest among the retrieved passages (hard negatives) and two other sentences of the
  gold paragraph.
- **doc2dial-dev, one domain** (users' questions and follow-ups on government help pages; CC BY 3.0). A
  positive is a sentence of the gold document overlapping the gold span; negatives as for SQuAD. A follow-up's
  query carries the user's previous question (``qa.answer.ranker.ranker_query``), as at run time.
- **The same domain's documents' own structure**: a heading or an FAQ question (``qa.answer.sentences.introduces``)
  is the query, the sentence under it the positive, other sentences of the document the negatives.

The other doc2dial domain and NFCorpus never go in: they show what the ranker does on documents it never saw.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qa.answer.assistant import Assistant
from qa.answer.ranker import ranker_query
from qa.answer.sentences import Quote, introduces, ranked
from qa.eval.evaluation import contains_answer, load_squad, squad_article
from qa.index.index import Index

HARD_NEGATIVES = 6  # the best-scored wrong sentences of the retrieved passages, per question
SQUAD_STEP = 2  # every other question of the "train" articles: the training fits well under half an hour on 2 cores
EASY_NEGATIVES = 2  # other sentences of the gold paragraph or document


@dataclass(frozen=True)
class Pair:
    query: str
    sentence: str
    label: float  # 1: the sentence answers the query
    source: str  # "squad", "doc2dial-DOMAIN" or "headings-DOMAIN"


def squad_part(article: int) -> str:
    """Which part of the SQuAD dev articles an article is in: "train" (even), "choose" (1 mod 4), "report" (3 mod 4).

    Even articles are also where the hand-set quote weights were tuned, so "report" has seen no choice at all.
    """
    return "train" if article % 2 == 0 else "choose" if article % 4 == 1 else "report"


def sentences_of(index: Index, doc_id: str) -> list[tuple[int, int]]:
    """Every sentence span of a document, once, in order (chunks overlap)."""
    spans = {span for row in index.rows_of(doc_id) for span in index.chunks[row].sentences}
    return sorted(spans)


def labelled(quotes: list[Quote], gold: set[tuple[int, int]], doc_id: str, extra: list[tuple[int, int]], text: str,
             query: str, source: str, rng: random.Random) -> Iterator[Pair]:
    """Pairs for one question: each gold sentence (``gold``: spans in ``doc_id``), the best-ranked other quotes,
    and a few other sentences of the gold document (``extra``)."""
    for start, end in sorted(gold):
        yield Pair(query, text[start:end], 1.0, source)
    hard = [q for q in quotes if not (q.doc_id == doc_id and (q.start, q.end) in gold)][:HARD_NEGATIVES]
    for quote in hard:
        yield Pair(query, quote.text, 0.0, source)
    seen = {(q.start, q.end) for q in hard if q.doc_id == doc_id} | gold
    easy = [span for span in extra if span not in seen]
    for start, end in rng.sample(easy, min(EASY_NEGATIVES, len(easy))):
        yield Pair(query, text[start:end], 0.0, source)


def squad_pairs(index: Index, squad: Path, rng: random.Random, step: int = SQUAD_STEP) -> Iterator[Pair]:
    """Pairs from every ``step``-th question of SQuAD's "train" articles (``index`` holds all of SQuAD dev's
    paragraphs)."""
    _, questions = load_squad(squad)
    assistant = Assistant(index)
    chosen = [q for q in questions if squad_part(squad_article(q)) == "train"][::step]
    for question in tqdm(chosen, desc="SQuAD pairs", unit="question"):
        text = " ".join(question.text.split())
        doc_id = next(iter(question.relevant))
        doc = index.documents[doc_id].text
        spans = sentences_of(index, doc_id)
        gold = {s for s in spans if contains_answer(doc[s[0]:s[1]], question.answers)}
        if not gold:
            continue
        quotes = retrieved_quotes(assistant, text, text)
        # A sentence of another paragraph holding the answer string is no clear negative: left out.
        quotes = [q for q in quotes if q.doc_id == doc_id or not contains_answer(q.text, question.answers)]
        yield from labelled(quotes, gold, doc_id, spans, doc, text, "squad", rng)


def retrieved_quotes(assistant: Assistant, search: str, question: str) -> list[Quote]:
    """The sentences of the passages ``search`` retrieves, ordered by today's scorer for ``question``."""
    index = assistant.index
    hits, qvec = index.retrieve(search, index.settings.k)
    if search != question:
        qvec = index.embedder.encode_query(question)
    return ranked(index, hits, assistant._candidates(question, hits, qvec, None))


def doc2dial_pairs(index: Index, turns: list[dict[str, Any]], domain: str, rng: random.Random) -> Iterator[Pair]:
    """Pairs from every turn (rows of doc2dial's turns.jsonl) of one domain; a follow-up is searched with its
    previous question prepended (the passages a conversation finds) and its query carries that question."""
    assistant = Assistant(index)
    domain_docs = {t["doc_id"] for t in turns if t["domain"] == domain}
    for turn in tqdm(turns, desc=f"doc2dial {domain} pairs", unit="turn"):
        if turn["domain"] != domain or not turn["question"].strip():
            continue
        question = " ".join(turn["question"].split())
        earlier = [h["text"] for h in turn["history"] if h["role"] == "user"][-1:]
        doc_id, doc = turn["doc_id"], index.documents[turn["doc_id"]].text
        spans = sentences_of(index, doc_id)
        gold = {s for s in spans if s[0] < turn["answer_end"] and turn["answer_start"] < s[1]}
        if not gold:
            continue
        quotes = retrieved_quotes(assistant, " ".join([*earlier, question]), question)
        # The index holds both domains: sentences of the other domain's documents stay out, even as negatives.
        quotes = [q for q in quotes if q.doc_id in domain_docs]
        query = ranker_query(question, earlier)
        yield from labelled(quotes, gold, doc_id, spans, doc, query, f"doc2dial-{domain}", rng)


def heading_pairs(index: Index, doc_ids: list[str], domain: str, rng: random.Random) -> Iterator[Pair]:
    """A heading or question of a document as the query, the sentence under it as the answer."""
    for doc_id in doc_ids:
        text = index.documents[doc_id].text
        spans = sentences_of(index, doc_id)
        for (start, end), after in pairwise(spans):
            if not introduces(text, start, end) or introduces(text, *after):
                continue
            query = " ".join(text[start:end].split())
            if len(query.split()) < 2:
                continue
            others = [s for s in spans if s not in ((start, end), after)]
            yield Pair(query, text[after[0]:after[1]], 1.0, f"headings-{domain}")
            for s in rng.sample(others, min(3, len(others))):
                yield Pair(query, text[s[0]:s[1]], 0.0, f"headings-{domain}")
