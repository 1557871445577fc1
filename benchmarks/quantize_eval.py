"""What int8 quantisation costs in retrieval and answer quality: `qa eval` on SQuAD v1.1 dev, with and without.

    python benchmarks/quantize_eval.py [--limit N]

Runs ``qa.eval.evaluation.evaluate`` (what `qa eval DATASET --json [--quantize]` runs) twice in this process,
plain then with ``Settings(quantize=True)``, each building its own in-memory index of the 2,067 paragraphs,
over the first ``--limit`` questions (all 10,570 by default). Speed is measured by benchmarks/build.py.

Prints a table and writes benchmarks/results/quantize_eval.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, write_report  # noqa: E402

from qa import Settings  # noqa: E402
from qa.eval.evaluation import evaluate  # noqa: E402

METRICS = ("recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quantize_eval.json")
    args = parser.parse_args()
    reports = {}
    for name, quantize in (("plain", False), ("int8", True)):
        report = evaluate(args.squad, Settings(quantize=quantize), args.limit, show_progress=True)
        reports[name] = {"questions": report.questions, "retrieval": report.retrieval, "answers": report.answers}
    print(f"\nSQuAD v1.1 dev, {reports['plain']['questions']:,} questions\n")
    print("| metric | plain | int8 | difference (points) |")
    print("|---|---|---|---|")
    for metric in METRICS:
        a, b = reports["plain"]["retrieval"][metric], reports["int8"]["retrieval"][metric]
        print(f"| {metric} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} |")
    for metric in ("first_quote_has_answer", "abstained"):
        a, b = reports["plain"]["answers"][metric], reports["int8"]["answers"][metric]
        print(f"| {metric} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} |")
    delta = reports["int8"]["retrieval"]["recall@5"] - reports["plain"]["retrieval"]["recall@5"]
    result = {"command": f"python benchmarks/quantize_eval.py{f' --limit {args.limit}' if args.limit else ''}",
              **reports, "recall@5_difference_points": 100 * delta}
    write_report(result, args.out)


if __name__ == "__main__":
    main()
