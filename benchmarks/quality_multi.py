"""Retrieval and answer quality on three collections, every ranking variant side by side on the same indexes.

    python benchmarks/quality_multi.py [--squad-sample N] [--only REGEX] [--cache /tmp/qa-quality-multi]

Each collection has a part that settings are chosen on and a part that no choice looked at:
- SQuAD v1.1 dev (paragraphs are documents): "tune" = questions of even-numbered articles, "held-out" = odd;
  ``--squad-sample N`` asks every m-th question of each part, about N in all (0: all 10,570);
- NFCorpus (BEIR): "dev" = qrels/dev.tsv (choose), "test" = qrels/test.tsv (held out, the published figure);
  nDCG@10 with graded relevance (2 = highly, 1 = somewhat relevant), Recall@100;
- doc2dial-dev first turns, each question asked alone (protocol in its README): doc@1, doc@5, the first /
  any quote overlapping the gold span; "all" plus each domain. Nothing was chosen on it.

Each collection's index is built once with the default index settings and saved under ``--cache`` (reused
by later runs while the documents and settings are the same); the questions are encoded once, in one batch.
The variants differ only at query time (``Settings`` fields read by ``qa.retrieve.ranking``), so they rank exactly the
same chunks. Latencies leave the query encoding out.

Prints one table and writes benchmarks/results/quality_multi.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402

from qa import Settings  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.eval.evaluation import (  # noqa: E402
    answer_metrics,
    load_beir,
    load_squad,
    prepare_index,
    ranking_metrics,
    run_questions,
    squad_article,
)
from qa.index.index import Index  # noqa: E402
from qa.ingest.documents import Document  # noqa: E402

EVAL = DEFAULT_SQUAD.parent.parent  # ../shared/eval beside the project
RM3 = {"prf_chunks": 10, "prf_terms": 10, "rm3_weight": 0.3}
ROCCHIO = {"prf_chunks": 5, "rocchio_weight": 0.5}
# Every variant is a change to BASE, the ranking before this comparison (score fusion, dense weight 2, no
# refinement), so its row does not move when a default changes; "defaults" is Settings() as it is today.
BASE = {"fusion": "score", "dense_weight": 2.0, "prf_chunks": 0, "rm3_weight": 0.0, "rocchio_weight": 0.0,
        "rocchio_feedback": "uniform", "prf_search": True, "title_weight": 0.0, "sentence_mean_weight": 0.0,
        "doc_weight": 0.0, "agreement_weight": 0.0}
TITLE_AGREEMENT = {"title_weight": 0.5, "agreement_weight": 2.0}  # the defaults before margin Rocchio


def margin_rocchio(chunks: int, weight: float, **more: Any) -> dict[str, Any]:
    """Title weight 0.5 + agreement +2 + Rocchio over ``chunks`` feedback chunks weighed by their lead."""
    return {**TITLE_AGREEMENT, "prf_chunks": chunks, "rocchio_weight": weight, "rocchio_feedback": "margin", **more}


VARIANTS: dict[str, dict[str, Any] | None] = {
    "bm25 only": {"retrieval": "bm25"},
    "dense only": {"retrieval": "dense"},
    "plain RRF k=60": {"fusion": "rrf", "rrf_k": 60},
    "before (score fusion, dense weight 2)": {},
    "defaults (Settings())": None,
    "RM3 (10 chunks, 10 terms, 0.3)": RM3,
    "RM3 (10 chunks, 20 terms, 0.5)": {**RM3, "prf_terms": 20, "rm3_weight": 0.5},
    "Rocchio (5 chunks, 0.5)": ROCCHIO,
    "Rocchio (10 chunks, 1.0)": {"prf_chunks": 10, "rocchio_weight": 1.0},
    "RM3 + Rocchio": {**RM3, "rocchio_weight": 0.5},
    "title weight 0.5": {"title_weight": 0.5},
    "title weight 1": {"title_weight": 1.0},
    "sentence mean 0.5": {"sentence_mean_weight": 0.5},
    "sentence mean 1": {"sentence_mean_weight": 1.0},
    "document 0.1": {"doc_weight": 0.1},
    "document 0.3": {"doc_weight": 0.3},
    "agreement +2": {"agreement_weight": 2.0},
    "agreement -2": {"agreement_weight": -2.0},
    "RM3 light (3 chunks, 10 terms, 0.2)": {"prf_chunks": 3, "prf_terms": 10, "rm3_weight": 0.2},
    "Rocchio light (3 chunks, 0.2)": {"prf_chunks": 3, "rocchio_weight": 0.2},
    "title weight 0.25": {"title_weight": 0.25},
    "title 0.5 + agreement +2": {"title_weight": 0.5, "agreement_weight": 2.0},
    "dense weight 1.5": {"dense_weight": 1.5},
    "dense weight 3": {"dense_weight": 3.0},
    "title 0.5 + agreement +2 + Rocchio light": {"title_weight": 0.5, "agreement_weight": 2.0, "prf_chunks": 3,
                                                 "rocchio_weight": 0.2},
    # Issue 11: Rocchio variants on top of title 0.5 + agreement +2 (each feedback chunk alike, or by its lead)
    "t+a + Rocchio (5 chunks, 0.3)": {**TITLE_AGREEMENT, "prf_chunks": 5, "rocchio_weight": 0.3},
    "t+a + Rocchio (1 chunk, 0.5)": {**TITLE_AGREEMENT, "prf_chunks": 1, "rocchio_weight": 0.5},
    "t+a + Rocchio (1 chunk, 1.0)": {**TITLE_AGREEMENT, "prf_chunks": 1, "rocchio_weight": 1.0},
    "t+a + margin Rocchio (3 chunks, 0.3)": margin_rocchio(3, 0.3),
    "t+a + margin Rocchio (3 chunks, 0.4)": margin_rocchio(3, 0.4),
    "t+a + margin Rocchio (3 chunks, 0.6)": margin_rocchio(3, 0.6),
    "t+a + margin Rocchio (5 chunks, 0.5)": margin_rocchio(5, 0.5),
    "t+a + margin Rocchio (5 chunks, 1.0)": margin_rocchio(5, 1.0),
    "t+a + dense weight 2.5": {**TITLE_AGREEMENT, "dense_weight": 2.5},
    "t+a + margin Rocchio (5 chunks, 0.5) + dense weight 2.5": margin_rocchio(5, 0.5, dense_weight=2.5),
    "t+a + margin Rocchio (3 chunks, 0.6) + dense weight 2.5": margin_rocchio(3, 0.6, dense_weight=2.5),
    # the same, the second pass re-scoring the first pass's candidates instead of searching again (faster)
    "t+a + margin Rocchio (3 chunks, 0.4), re-scored": margin_rocchio(3, 0.4, prf_search=False),
    "t+a + margin Rocchio (3 chunks, 0.6), re-scored": margin_rocchio(3, 0.6, prf_search=False),
    "t+a + margin Rocchio (5 chunks, 0.5), re-scored": margin_rocchio(5, 0.5, prf_search=False),
}


def cached_vectors(index: Index, texts: list[str], path: Path) -> np.ndarray:
    """The texts' query vectors, encoded in one batch, or read from ``path`` if encoded before."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    stamp = path.with_suffix(".sha256")
    if path.exists() and stamp.exists() and stamp.read_text() == digest:
        return np.load(path)
    vectors = index.embedder.encode(texts, show_progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    stamp.write_text(digest)
    return vectors


def normalise(text: str) -> str:
    return " ".join(text.split())


class Collection:
    """An evaluation collection: its index (built once), its questions by part, and how to score a variant."""

    name = ""

    def __init__(self, documents: list[Document], parts: dict[str, list[Any]], cache: Path) -> None:
        self.parts = parts
        started = time.perf_counter()
        self.index, _, how = prepare_index(documents, Settings(), cache / self.name, show_progress=True)
        self.info = {"documents": len(documents), "chunks": len(self.index.chunks), "index": how,
                     "index_seconds": round(time.perf_counter() - started, 1),
                     "questions": {part: len(qs) for part, qs in parts.items()}}
        asked = [q for qs in parts.values() for q in qs]
        vectors = cached_vectors(self.index, [normalise(self.text(q)) for q in asked],
                                 cache / f"{self.name}-queries.npy")
        self.vectors = {id(q): v for q, v in zip(asked, vectors, strict=True)}

    def text(self, question: Any) -> str:
        return question.text

    def measure(self, settings: Settings) -> dict[str, dict[str, float]]:
        self.index.settings = settings
        return {part: self.score(qs) for part, qs in self.parts.items()}

    def score(self, questions: list[Any]) -> dict[str, float]:
        vectors = np.stack([self.vectors[id(q)] for q in questions])
        results, rankings = run_questions(self.index, questions, query_vectors=vectors)
        lat = np.array([r.latency_ms for r in results])
        out = {**ranking_metrics({q.id: q.relevant for q in questions}, rankings),
               "latency_p50_ms": float(np.percentile(lat, 50))}
        if questions[0].answers:
            out.update(answer_metrics(results))
        return out


class Squad(Collection):
    name = "squad"

    @classmethod
    def load(cls, path: Path, sample: int, cache: Path) -> Squad:
        documents, questions = load_squad(path)
        step = max(1, len(questions) // sample) if sample else 1
        parts = {"tune": [q for q in questions if squad_article(q) % 2 == 0][::step],
                 "held-out": [q for q in questions if squad_article(q) % 2 == 1][::step]}
        return cls(documents, parts, cache)


class NFCorpus(Collection):
    name = "nfcorpus"

    @classmethod
    def load(cls, folder: Path, cache: Path) -> NFCorpus:
        documents, dev = load_beir(folder, "dev")
        _, test = load_beir(folder, "test")
        return cls(documents, {"dev": dev, "test": test}, cache)


class Doc2dial(Collection):
    """First turns of doc2dial-dev, each question asked alone; the gold is a document and a character span."""

    name = "doc2dial"

    @classmethod
    def load(cls, folder: Path, cache: Path) -> Doc2dial:
        docs = [json.loads(line) for line in (folder / "docs.jsonl").open(encoding="utf-8")]
        turns = [json.loads(line) for line in (folder / "turns.jsonl").open(encoding="utf-8")]
        firsts = [t for t in turns if not t["history"]]
        documents = [Document(id=d["doc_id"], text=d["doc_text"], title=d["doc_title"]) for d in docs]
        parts = {"all": firsts, **{domain: [t for t in firsts if t["domain"] == domain]
                                   for domain in sorted({t["domain"] for t in firsts})}}
        return cls(documents, parts, cache)

    def text(self, question: Any) -> str:
        return question["question"]

    def score(self, turns: list[Any]) -> dict[str, float]:
        assistant = Assistant(self.index)
        rows = []
        for turn in turns:
            text = normalise(turn["question"])
            hits, qvec = self.index.retrieve(text, self.index.settings.k, self.vectors[id(turn)])
            answer = assistant.answer(text, hits, qvec)
            docs = [h.doc_id for h in hits]
            inside = [q.doc_id == turn["doc_id"] and q.start < turn["answer_end"] and q.end > turn["answer_start"]
                      for q in answer.quotes]
            rows.append((docs[:1] == [turn["doc_id"]], turn["doc_id"] in docs[:5], bool(inside) and inside[0],
                         any(inside), answer.abstained))
        shares = np.mean(np.array(rows, dtype=float), axis=0)
        return dict(zip(("doc@1", "doc@5", "first_quote_in_gold", "any_quote_in_gold", "abstained"),
                        map(float, shares), strict=True))


COLUMNS = [("squad", "tune", "recall@5", "R@5"), ("squad", "tune", "mrr@10", "MRR"),
           ("squad", "tune", "first_quote_has_answer", "1st q"),
           ("squad", "held-out", "recall@5", "R@5"), ("squad", "held-out", "mrr@10", "MRR"),
           ("squad", "held-out", "first_quote_has_answer", "1st q"),
           ("nfcorpus", "dev", "ndcg@10", "nDCG"), ("nfcorpus", "dev", "recall@100", "R@100"),
           ("nfcorpus", "test", "ndcg@10", "nDCG"), ("nfcorpus", "test", "recall@100", "R@100"),
           ("doc2dial", "all", "doc@5", "doc@5"), ("doc2dial", "all", "first_quote_in_gold", "1st q")]


def table(report: dict[str, Any]) -> str:
    head = "| variant | " + " | ".join(f"{c} {p} {label}" for c, p, _, label in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in report["variants"].items():
        cells = [f"{row[c][p][m]:.4f}" if c in row and p in row[c] else "" for c, p, m, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--nfcorpus", type=Path, default=EVAL / "nfcorpus")
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--squad-sample", type=int, default=2000, help="about N SQuAD questions (0: all)")
    parser.add_argument("--collections", default="squad,nfcorpus,doc2dial")
    parser.add_argument("--only", default="", help="run only the variants whose name matches this regex")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"),
                        help="folder for the saved indexes and query vectors")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality_multi.json")
    args = parser.parse_args()
    started = time.perf_counter()
    wanted = args.collections.split(",")
    loaders = {"squad": lambda: Squad.load(args.squad, args.squad_sample, args.cache),
               "nfcorpus": lambda: NFCorpus.load(args.nfcorpus, args.cache),
               "doc2dial": lambda: Doc2dial.load(args.doc2dial, args.cache)}
    collections = {name: loaders[name]() for name in wanted}
    report: dict[str, Any] = {"squad_sample": args.squad_sample,
                              "collections": {n: c.info for n, c in collections.items()}, "variants": {}}
    for name, change in VARIANTS.items():
        if args.only and not re.search(args.only, name):
            continue
        settings = Settings() if change is None else Settings(**{**BASE, **change})
        report["variants"][name] = {"settings": change if change is not None else "defaults",
                                    **{n: c.measure(settings) for n, c in collections.items()}}
        print(table({"variants": {name: report["variants"][name]}}).splitlines()[-1], flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print("\n" + table(report))
    write_report(report, args.out)


if __name__ == "__main__":
    main()
