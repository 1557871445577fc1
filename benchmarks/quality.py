"""Retrieval and answer quality on SQuAD v1.1 dev, every variant side by side on the same chunks.

    python benchmarks/quality.py [--squad ../shared/eval/squad-v1.1/dev-v1.1.json] [--limit N] [--part P]

Paragraphs are documents (2,067), every question (10,570) is asked. One index is built; the variants
differ only at query time (retrieval mode, fusion, weights), so they rank exactly the same chunks.
Settings were chosen on questions from even-numbered articles ("tune"); the table also reports the
odd-numbered articles ("held-out"), which no choice looked at.

Abstention: a second index holds articles 0-23 only. Questions from those articles should be answered,
questions from articles 24-47 should get "the documents don't answer". The threshold is calibrated on
articles 0-11 / 24-35 and reported on 12-23 / 36-47 as well.

Prints tables and writes benchmarks/results/quality.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, write_report  # noqa: E402

from qa import Settings, build_index  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.eval.evaluation import answer_metrics, load_squad, ranking_metrics, run_questions, squad_article  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "bm25 only": {"retrieval": "bm25"},
    "dense only (best sentence)": {"retrieval": "dense"},
    "plain RRF k=60": {"retrieval": "hybrid", "fusion": "rrf", "rrf_k": 60},
    "RRF k=5": {"retrieval": "hybrid", "fusion": "rrf", "rrf_k": 5},
    "score fusion w=1": {"retrieval": "hybrid", "fusion": "score", "dense_weight": 1.0},
    "default (score fusion w=2)": {},
}


def summarise(results: list, rankings: dict, questions: list) -> dict[str, Any]:
    qrels = {q.id: q.relevant for q in questions}
    keep = {q.id for q in questions}
    mine = [r for r in results if r.id in keep]
    lat = np.array([r.latency_ms for r in mine])
    return {**ranking_metrics(qrels, {k: v for k, v in rankings.items() if k in keep}),
            **answer_metrics(mine), "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p95_ms": float(np.percentile(lat, 95)), "questions": len(mine)}


def retrieval_table(docs: list, questions: list, limit: int | None) -> dict[str, Any]:
    base = Settings()
    started = time.perf_counter()
    index = build_index(docs, None, base, show_progress=True)
    build_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"build_seconds": build_seconds, "chunks": len(index.chunks),
                           "sentences": int(len(index.vectors)), "variants": {}}
    asked = questions[:limit] if limit else questions
    # One batch encode serves every variant (they differ after the query vector); per-question latency
    # here therefore leaves out the ~12 ms query encode: `qa eval` reports the full latency.
    vectors = index.embedder.encode([" ".join(q.text.split()) for q in asked], show_progress=True)
    for name, change in VARIANTS.items():
        index.settings = base.replace(**change)
        results, rankings = run_questions(index, asked, show_progress=True, query_vectors=vectors)
        splits = {"all": asked, "tune": [q for q in asked if squad_article(q) % 2 == 0],
                  "held-out": [q for q in asked if squad_article(q) % 2 == 1]}
        out["variants"][name] = {"settings": change, **{s: summarise(results, rankings, qs)
                                                          for s, qs in splits.items() if qs}}
        row = out["variants"][name]["all"]
        print(f"{name:28s} R@1 {row['recall@1']:.4f} R@5 {row['recall@5']:.4f} MRR@10 {row['mrr@10']:.4f} "
              f"first-quote {row['first_quote_has_answer']:.4f}", flush=True)
    index.settings = base
    return out


def abstention_table(docs: list, questions: list, limit: int | None) -> dict[str, Any]:
    """Answer rate inside articles 0-23 and abstention rate on 24-47, by split."""
    inside_docs = [d for d in docs if squad_article(d.id) < 24]
    index = build_index(inside_docs, None, Settings(), show_progress=True)
    asked = questions[:limit] if limit else questions
    if limit:  # a quick run still needs questions from both halves
        asked = questions[:limit // 2] + [q for q in questions if squad_article(q) >= 24][:limit // 2]
    assistant = Assistant(index)
    texts = [" ".join(q.text.split()) for q in asked]
    vectors = index.embedder.encode(texts, show_progress=True)
    rows = []
    for q, text, qvec in zip(asked, texts, vectors, strict=True):
        hits, _ = index.retrieve(text, index.settings.k, qvec)
        answer = assistant.answer(text, hits, qvec)
        rows.append((squad_article(q), answer.abstained, answer.confidence))
    groups = {"tune": (range(0, 12), range(24, 36)), "held-out": (range(12, 24), range(36, 48)),
              "all": (range(0, 24), range(24, 48))}
    out: dict[str, Any] = {"min_score": index.settings.min_score}
    for split, (ins, outs) in groups.items():
        answered = [not a for art, a, _ in rows if art in ins]
        abstained = [a for art, a, _ in rows if art in outs]
        out[split] = {"answered_inside": float(np.mean(answered)) if answered else None,
                      "abstained_outside": float(np.mean(abstained)) if abstained else None,
                      "questions_inside": len(answered), "questions_outside": len(abstained)}
    return out


def print_tables(report: dict[str, Any]) -> None:
    print("\n| variant | split | R@1 | R@5 | R@20 | MRR@10 | nDCG@10 | first quote has answer | answer has answer "
          "| p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, v in report["retrieval"]["variants"].items():
        for split in ("all", "tune", "held-out"):
            if split in v:
                r = v[split]
                print(f"| {name} | {split} | {r['recall@1']:.4f} | {r['recall@5']:.4f} | {r['recall@20']:.4f} | "
                      f"{r['mrr@10']:.4f} | {r['ndcg@10']:.4f} | {r['first_quote_has_answer']:.4f} | "
                      f"{r['answer_has_answer']:.4f} | {r['latency_p50_ms']:.1f} |")
    a = report["abstention"]
    print(f"\nAbstention (min_score {a['min_score']}): | split | answered, articles inside | abstained, outside |")
    for split in ("tune", "held-out", "all"):
        s = a[split]
        print(f"| {split} | {s['answered_inside']} ({s['questions_inside']} q) | {s['abstained_outside']} "
              f"({s['questions_outside']} q) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions (quick check)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.json")
    parser.add_argument("--part", choices=("all", "retrieval", "abstention"), default="all",
                        help="run one part only; its section of --out is replaced, the other kept")
    args = parser.parse_args()
    docs, questions = load_squad(args.squad)
    started = time.perf_counter()
    report = json.loads(args.out.read_text()) if args.part != "all" and args.out.exists() else {}
    report.update({"dataset": str(args.squad), "documents": len(docs), "questions": len(questions),
                   "limit": args.limit})
    if args.part in ("all", "retrieval"):
        report["retrieval"] = retrieval_table(docs, questions, args.limit)
    if args.part in ("all", "abstention"):
        report["abstention"] = abstention_table(docs, questions, args.limit)
    report[f"seconds_{args.part}"] = time.perf_counter() - started
    if "retrieval" in report and "abstention" in report:
        print_tables(report)
    write_report(report, args.out)

if __name__ == "__main__":
    main()
