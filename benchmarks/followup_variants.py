"""Follow-up retrieval variants that were tried and not kept, against the default, on doc2dial-dev.

    python benchmarks/followup_variants.py [--data ../shared/eval/doc2dial-dev] [--cache DIR] [--only NAME ...]

Each variant is a ``Retriever`` that changes one thing in how a follow-up's earlier questions and prior are
turned into a ranking (a single question is ranked as by the default in every variant). Every dialogue is
replayed with each variant, then the unrelated SQuAD questions are asked as follow-ups of an answered first
turn (``benchmarks/conversation.py``'s check). Prints a table of the follow-ups' figures (all, each domain,
and by where the last answer quoted) and writes benchmarks/results/followup_variants.json.

The variants (docs/conversations.md, "Tried and not kept"):

- ``decay``: the earlier version: answered questions only, each older one at half the weight of the next;
- ``equal``: the questions alike but their vectors not weighted by length;
- ``joint``: the earlier questions embedded together as one text (one more model call a follow-up);
- ``rrf``: reciprocal rank fusion of three rankings: the question alone, with its context, and with the prior;
- ``reserve``: the best passage of the question alone and of the context without the prior kept in the top k;
- ``gate``: the prior only when the last answer's document is among the top k passages without it;
- ``specific``: the context weighed by how much the question says, ``context`` x 2s / (s + content words);
- ``together``, ``together2``: a third query, the recent questions and the current one read as one text (their
  BM25 scores summed, their vectors' length-weighted mean, as the earlier questions are), at weight 1 or 2;
- ``document``: that text's best fused score in each document, above the lowest in its top 100, added to every
  chunk of the document (x ``DOCUMENT_WEIGHT``): the conversation picks the document, the question the passage.

The follow-ups are also split by domain and by whether the dialogue's first question was answered from its
document (``qa.eval.conversations.by_first_answer``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402
from conversation import off_topic_refusals  # noqa: E402

from qa import Settings  # noqa: E402
from qa.eval.conversations import (  # noqa: E402
    by_first_answer, by_last_answer, load_conversations, replay, tables)
from qa.eval.evaluation import prepare_index  # noqa: E402
from qa.index.index import Index  # noqa: E402
from qa.retrieve import context as ctx  # noqa: E402
from qa.retrieve.fusion import top_fused  # noqa: E402
from qa.retrieve.ranking import Query, rank_queries, unit  # noqa: E402
from qa.retrieve.retriever import Retrieval, Retriever  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "doc2dial-dev"
METRICS = ("doc@5", "first_quote_in_gold", "any_quote_in_gold", "abstained")
SPECIFIC_S = 3.0
RRF_K = 60
DOCUMENT_WEIGHT = 0.5
Ranked = list[tuple[int, float]]


class Variant(Retriever):
    """The default retriever with ``earlier`` (the earlier-question query) and ``final`` (the ranking) swapped."""

    name = "default"

    def retrieve(self, query: str, k: int | None = None, turns: Sequence[ctx.Turn] = (),
                 weights: ctx.ContextWeights = ctx.DEFAULT_WEIGHTS, qvec: np.ndarray | None = None) -> Retrieval:
        if not turns:
            return super().retrieve(query, k, qvec=qvec)
        passages, k = self.passages, k or self.passages.settings.k
        context = self.context_of(turns, weights)
        qvec = self.question_vector(query) if qvec is None else qvec
        earlier = self.earlier(query, turns, context)
        if earlier is None or not query.strip() or not passages.chunks:
            return Retrieval(self._hits(*_ranked(passages, [Query.of(query, qvec)], k), qvec), qvec, context)
        settings = passages.settings.replace(title_weight=weights.title_weight,
                                             agreement_weight=weights.agreement_weight)
        extra, prior = ctx.quote_prior(passages, context) if context.used else ([], None)
        queries = [Query.of(query, qvec), earlier]
        ranked, first = self.final(queries, k, extra, prior, settings, context)
        return Retrieval(self._hits(ranked, first, qvec), qvec, context)

    def context_of(self, turns: Sequence[ctx.Turn], weights: ctx.ContextWeights) -> ctx.Context:
        return ctx.read_context(turns, weights, self.question_vector)

    def earlier(self, query: str, turns: Sequence[ctx.Turn], context: ctx.Context) -> Query | None:
        return ctx.earlier_query(context) if context.questions else None

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        ranked, first = rank_queries(self.passages, queries, k, extra, prior, settings)
        return ranked, first[0]


def _ranked(passages: Any, queries: list[Query], k: int) -> tuple[Ranked, Any]:
    ranked, first = rank_queries(passages, queries, k)
    return ranked, first[0]


class Decay(Variant):
    """The context as it was (fbafb06): its figures reproduce that version's, a check on this harness."""

    name = "decay"

    def context_of(self, turns: Sequence[ctx.Turn], weights: ctx.ContextWeights) -> ctx.Context:
        recent = list(turns)[-ctx.MAX_TURNS:]
        used = tuple(t for t in reversed(recent) if t.answered)
        if not used:
            return ctx.Context((), len(recent), None, weights)
        vectors = np.stack([self.question_vector(t.question) for t in used])
        mixed = ((0.5 ** np.arange(len(used)))[:, None] * vectors).sum(axis=0)
        questions = tuple((t.question, 0.5 ** i) for i, t in enumerate(used))
        return ctx.Context(used, len(recent) - len(used), mixed / max(float(np.linalg.norm(mixed)), 1e-9),
                           weights, questions)


class Equal(Variant):
    name = "equal"

    def earlier(self, query: str, turns: Sequence[ctx.Turn], context: ctx.Context) -> Query | None:
        if not context.questions:
            return None
        mixed = sum(share * self.question_vector(text) for text, share in context.questions)
        return Query(context.questions, unit(mixed), context.weights.context)


class Joint(Variant):
    name = "joint"

    def earlier(self, query: str, turns: Sequence[ctx.Turn], context: ctx.Context) -> Query | None:
        if not context.questions:
            return None
        text = " ".join(t for t, _ in reversed(context.questions))
        return Query(((text, 1.0),), self.passages.embedder.encode_query(text), context.weights.context)


class Specific(Variant):
    name = "specific"

    def earlier(self, query: str, turns: Sequence[ctx.Turn], context: ctx.Context) -> Query | None:
        found = super().earlier(query, turns, context)
        if found is None:
            return None
        words = len(self.passages.bm25.content_terms([query]))
        return dataclasses.replace(found, weight=found.weight * 2 * SPECIFIC_S / (SPECIFIC_S + words))


class Fused(Variant):
    """``rrf``, ``reserve`` and ``gate`` rank the question alone, the context without the prior and with it."""

    def rankings(self, queries: list[Query], extra: list[int], prior: ctx.Prior | None, settings: Settings,
                 depth: int) -> tuple[Ranked, Ranked, Ranked, Any]:
        alone, _ = rank_queries(self.passages, queries[:1], depth, (), None, settings)
        free, _ = rank_queries(self.passages, queries, depth, extra, None, settings)
        with_prior, first = rank_queries(self.passages, queries, depth, extra, prior, settings)
        return alone, free, with_prior, first[0]


class Rrf(Fused):
    name = "rrf"

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        *rankings, first = self.rankings(queries, extra, prior, settings, 50)
        fused: dict[int, float] = {}
        for ranking in rankings:
            for position, (i, _) in enumerate(ranking, start=1):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + position)
        return top_fused(fused, k), first


class Reserve(Fused):
    name = "reserve"

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        alone, free, with_prior, first = self.rankings(queries, extra, prior, settings, k)
        kept = list(dict.fromkeys(r[0][0] for r in (alone, free) if r))
        top = [i for i, _ in with_prior if i not in kept][:k - len(kept)]
        scores = dict(with_prior)
        return [(i, scores.get(i, 0.0)) for i in top + kept], first


class Gate(Fused):
    name = "gate"

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        _, free, with_prior, first = self.rankings(queries, extra, prior, settings, k)
        last = {doc for doc, _, _ in context.last_quotes}
        found = {self.passages.chunks[i].doc_id for i, _ in free}
        return (with_prior if found & last else free), first


def together_query(self: Variant, queries: list[Query], context: ctx.Context, weight: float = 1.0) -> Query:
    """The current question (``queries[0]``) and the earlier ones as one text."""
    texts = queries[0].texts + context.questions
    mixed = sum(share * len(text.split()) * self.question_vector(text) for text, share in texts)
    return Query(texts, unit(mixed), weight)


class Together(Variant):
    name = "together"
    weight = 1.0

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        return super().final([*queries, together_query(self, queries, context, self.weight)], k, extra, prior,
                             settings, context)


class Together2(Together):
    name = "together2"
    weight = 2.0


class Document(Variant):
    name = "document"

    def final(self, queries: list[Query], k: int, extra: list[int], prior: ctx.Prior | None, settings: Settings,
              context: ctx.Context) -> tuple[Ranked, Any]:
        ranked, _ = rank_queries(self.passages, [together_query(self, queries, context)], 100, (), None, settings)
        best: dict[str, float] = {}
        for i, score in ranked:
            doc = self.passages.chunks[i].doc_id
            best[doc] = max(best.get(doc, score), score)
        floor = min(best.values(), default=0.0)

        def with_document(row: int) -> float:
            bonus = DOCUMENT_WEIGHT * (best.get(self.passages.chunks[row].doc_id, floor) - floor)
            return bonus + (prior(row) if prior else 0.0)

        return super().final(queries, k, extra, with_document, settings, context)


VARIANTS: dict[str, type[Variant]] = {v.name: v for v in (Variant, Decay, Equal, Joint, Rrf, Reserve, Gate, Specific,
                                                           Together, Together2, Document)}


def measure(index: Index, dialogues: list[Any], squad: Path, variant: type[Variant]) -> dict[str, Any]:
    """The follow-up figures and the unrelated-question refusals with ``variant`` as the index's retriever."""
    original = Index.retriever
    Index.retriever = property(lambda self: variant(self))  # type: ignore[method-assign,assignment]
    try:
        results = replay(index, dialogues, "on")
        refused = off_topic_refusals(index, dialogues, squad)["refused_as_follow_up"]
    finally:
        Index.retriever = original  # type: ignore[method-assign]
    found = tables(results)
    parts = {part: {m: found[part]["follow-ups"][m] for m in METRICS} for part in found if part == "all"
             or part.startswith("domain ")}
    last = {kind: {"turns": t["turns"], "doc@5": t["doc@5"]} for kind, t in by_last_answer(results).items()}
    first = {part: {m: t[m] for m in ("turns", *METRICS)} for part, t in by_first_answer(results).items()}
    return {"follow_ups": parts, "by_last_answer": last, "by_first_answer": first, "unrelated_refused": refused}


def cells(figures: dict[str, float]) -> str:
    return " / ".join(f"{figures[m]:.3f}" for m in METRICS)


def row(name: str, found: dict[str, Any]) -> str:
    parts = found["follow_ups"]
    last = found["by_last_answer"]
    domains = " | ".join(cells(parts[p]) for p in sorted(parts) if p != "all")
    return (f"| {name} | {cells(parts['all'])} | {domains} | {last['other document']['doc@5']:.3f} "
            f"| {last['none']['doc@5']:.3f} | {found['unrelated_refused']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench-doc2dial-index")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="these variants (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS / "followup_variants.json")
    args = parser.parse_args()
    documents, dialogues = load_conversations(args.data)
    index, _, _ = prepare_index(documents, Settings(), args.cache, True)
    chosen = list(dialogues.values())
    report: dict[str, Any] = {"data": str(args.data), "variants": {}}
    for name in args.only or VARIANTS:
        report["variants"][name] = found = measure(index, chosen, args.squad, VARIANTS[name])
        print(name, found, flush=True)
    domains = sorted(p for p in next(iter(report["variants"].values()))["follow_ups"] if p != "all")
    print(f"\nfollow-ups: doc@5 / first quote in gold / any quote in gold / abstained\n\n| variant | all | "
          f"{' | '.join(domains)} | doc@5 after another document | doc@5 after no answer | unrelated refused |")
    print("|---" * (5 + len(domains)) + "|")
    for name, found in report["variants"].items():
        print(row(name, found))
    parts = [p for p in next(iter(report["variants"].values()))["by_first_answer"] if not p.startswith("all")]
    print(f"\nfollow-ups by first answer: doc@5 / first quote in gold / any quote in gold / abstained\n\n"
          f"| variant | {' | '.join(parts)} |\n" + "|---" * (1 + len(parts)) + "|")
    for name, found in report["variants"].items():
        print(f"| {name} | {' | '.join(cells(found['by_first_answer'][p]) for p in parts)} |")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
