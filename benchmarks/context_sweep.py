"""Follow-up weights tuned on one doc2dial domain and confirmed on the other (leave one domain out).

    python benchmarks/context_sweep.py [--data ../shared/eval/doc2dial-dev] [--cache DIR]

Every dialogue is replayed with history for each ``ContextWeights`` variant of a small grid (the weight of the
earlier questions, ``context``; the bonus for the document quoted last, ``same_document``; the share of an
unanswered earlier question, ``unanswered``). The follow-up figures are split by domain (dmv, studentaid) and
by half (tuning / held-out dialogues). For each direction, the variant with the best doc@5 + first quote in
gold on the tuning part (among those abstaining on at most 10% there) is reported on the other, with the gap.

Prints the tables and writes benchmarks/results/context_sweep.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import RESULTS, write_report  # noqa: E402

from qa import Settings  # noqa: E402
from qa.eval.conversations import load_conversations, replay, tables  # noqa: E402
from qa.eval.evaluation import prepare_index  # noqa: E402
from qa.retrieve.context import DEFAULT_WEIGHTS  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "doc2dial-dev"
GRID = {"context": (0.5, 1.0, 1.5), "same_document": (0.1, 0.3, 0.5), "unanswered": (0.5, 1.0)}
METRICS = ("doc@5", "first_quote_in_gold", "any_quote_in_gold", "abstained")


def sweep(index: Any, dialogues: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for values in itertools.product(*GRID.values()):
        changes = dict(zip(GRID, values, strict=True))
        found = tables(replay(index, dialogues, "on", dataclasses.replace(DEFAULT_WEIGHTS, **changes)))
        domains = {part.removeprefix("domain "): {m: found[part]["follow-ups"][m] for m in METRICS}
                   for part in found if part != "all"}
        rows.append({"weights": changes, "domains": domains})
        print(changes, {d: {m: round(v, 3) for m, v in f.items()} for d, f in domains.items()}, flush=True)
    return rows


def chosen_on(rows: list[dict[str, Any]], domain: str) -> dict[str, Any]:
    """The variant with the best doc@5 + first quote in gold on ``domain``, abstaining on at most 10% there."""
    fit = [r for r in rows if r["domains"][domain]["abstained"] <= 0.10] or rows
    return max(fit, key=lambda r: r["domains"][domain]["doc@5"] + r["domains"][domain]["first_quote_in_gold"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench-doc2dial-index")
    parser.add_argument("--out", type=Path, default=RESULTS / "context_sweep.json")
    args = parser.parse_args()
    documents, dialogues = load_conversations(args.data)
    index, _, _ = prepare_index(documents, Settings(), args.cache, True)
    rows = sweep(index, list(dialogues.values()))
    pairs = [("dmv", "studentaid"), ("studentaid", "dmv"), ("tuning", "held-out"), ("held-out", "tuning")]
    directions = []
    print("\n| tuned on | chosen | tested on | doc@5 | first quote in gold | any quote | abstained | "
          "gap doc@5 | gap first quote |\n|---|---|---|---|---|---|---|---|---|")
    for tune, test in pairs:
        best = chosen_on(rows, tune)
        f, t = best["domains"][test], best["domains"][tune]
        gap = {m: f[m] - t[m] for m in METRICS}
        print(f"| {tune} | {best['weights']} | {test} | {f['doc@5']:.3f} | {f['first_quote_in_gold']:.3f} | "
              f"{f['any_quote_in_gold']:.3f} | {f['abstained']:.3f} | {gap['doc@5']:+.3f} | "
              f"{gap['first_quote_in_gold']:+.3f} |")
        directions.append({"tuned_on": tune, "tested_on": test, "weights": best["weights"], "figures": f,
                           "on_tuning_part": t, "gap": gap})
    write_report({"data": str(args.data), "grid": GRID, "rows": rows, "directions": directions}, args.out)


if __name__ == "__main__":
    main()
