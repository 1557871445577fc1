"""Which sentence is quoted first? Every sentence-choice variant side by side, through the real ``Assistant``.

    python benchmarks/sentence_choice.py [--squad-sample N] [--cache /tmp/qa-quality-multi]

Each question is retrieved once with the default ranking; then every variant (a change to the ``quote_*``
settings, ``qa/answer/sentences.py``) answers from the same passages. Abstention does not depend on these settings
(the evidence is the same), so a variant only changes which sentences are quoted and in what order.

- SQuAD v1.1 dev: the first quote / any quote holds a gold answer; "tune" = even-numbered articles (the
  defaults were chosen there), "held-out" = odd; ``--squad-sample N`` asks about N questions (0: all 10,570);
- doc2dial-dev first turns: the first / any quote overlaps the gold span; "tune" = dialogues whose id's
  SHA-256 starts with an even byte (as ``qa eval`` on doc2dial splits them), "held-out" = the others.

Uses the indexes and query vectors benchmarks/quality_multi.py saves in ``--cache``.
Prints a table and writes benchmarks/results/sentence_choice.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402
from quality_multi import EVAL, Collection, Doc2dial, Squad, normalise  # noqa: E402

from qa import Settings  # noqa: E402
from qa.answer.answers import Answer
from qa.answer.assistant import Assistant
from qa.eval.conversations import tuning_half  # noqa: E402
from qa.eval.evaluation import contains_answer  # noqa: E402

# Each variant changes the default Settings; "before" is the order quotes had before qa/answer/sentences.py.
EVIDENCE = {"quote_order": "evidence", "quote_handover": False}
VARIANTS: dict[str, dict[str, Any]] = {
    "before: by the evidence (cosine + coverage)": EVIDENCE,
    "choice: local-idf coverage 1.0 + passage 0.3": {**EVIDENCE, "quote_order": "choice", "quote_coverage_weight": 1.0,
                               "quote_context_weight": 0.0, "quote_phrase_weight": 0.0, "quote_type_weight": 0.0},
    "choice, local idf only (no context, phrase, type, passage)": {
        "quote_handover": False, "quote_context_weight": 0.0, "quote_phrase_weight": 0.0,
        "quote_type_weight": 0.0, "quote_passage_weight": 0.0},
    "choice without context": {"quote_handover": False, "quote_context_weight": 0.0},
    "choice without phrases": {"quote_handover": False, "quote_phrase_weight": 0.0},
    "choice without answer type": {"quote_handover": False, "quote_type_weight": 0.0},
    "choice without passage": {"quote_handover": False, "quote_passage_weight": 0.0},
    "choice, coverage weight 1.0": {"quote_handover": False, "quote_coverage_weight": 1.0},
    "choice (no handover)": {"quote_handover": False},
    "evidence + handover": {"quote_order": "evidence"},
    "defaults (Settings(): choice + handover)": {},
}


def asked(collection: Collection, text: Any) -> list[tuple[Any, str, list, Any]]:
    """Every question of the collection retrieved once: (question, text, hits, query vector)."""
    index = collection.index
    out = []
    for questions in collection.parts.values():
        for q in questions:
            question = normalise(text(q))
            hits, qvec = index.retrieve(question, index.settings.k, collection.vectors[id(q)])
            out.append((q, question, hits, qvec))
    return out


def measure(collection: Collection, retrieved: list[tuple[Any, str, list, Any]], split: Any, judge: Any,
            change: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Shares of questions per part whose first / any quote ``judge`` accepts, answered with ``change``."""
    index = collection.index
    index.settings = dataclasses.replace(Settings(), **change)
    assistant = Assistant(index)
    counts: dict[str, list[int]] = {}
    for q, question, hits, qvec in retrieved:
        answer: Answer = assistant.answer(question, hits, qvec)
        good = [bool(judge(q, quote)) for quote in answer.quotes]
        row = counts.setdefault(split(q), [0, 0, 0, 0])
        row[0] += 1
        row[1] += bool(good) and good[0]
        row[2] += any(good)
        row[3] += answer.abstained
    index.settings = Settings()
    return {part: {"first_quote": f / n, "any_quote": a / n, "abstained": ab / n, "questions": n}
            for part, (n, f, a, ab) in sorted(counts.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--squad-sample", type=int, default=0, help="about N SQuAD questions (0: all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"))
    parser.add_argument("--out", type=Path, default=RESULTS / "sentence_choice.json")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"squad_sample": args.squad_sample, "variants": {name: {} for name in VARIANTS}}
    squad = Squad.load(args.squad, args.squad_sample, args.cache)
    squad_parts = {id(q): part for part, qs in squad.parts.items() for q in qs}
    retrieved = asked(squad, lambda q: q.text)
    for name, change in VARIANTS.items():
        report["variants"][name]["squad"] = measure(
            squad, retrieved, lambda q: squad_parts[id(q)], lambda q, quote: contains_answer(quote.text, q.answers),
            change)
    dial = Doc2dial.load(args.doc2dial, args.cache)
    retrieved = asked(dial, lambda t: t["question"])
    for name, change in VARIANTS.items():
        report["variants"][name]["doc2dial"] = measure(
            dial, retrieved, lambda t: "tune" if tuning_half(t["dial_id"]) else "held-out",
            lambda t, quote: quote.doc_id == t["doc_id"] and quote.start < t["answer_end"]
            and quote.end > t["answer_start"], change)
    print(table(report))
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_report(report, args.out)


def table(report: dict[str, Any]) -> str:
    columns = [(c, p, m) for c in ("squad", "doc2dial") for p in ("tune", "held-out")
               for m in ("first_quote", "any_quote")]
    lines = ["| variant | " + " | ".join(f"{c} {p} {m.replace('_', ' ')}" for c, p, m in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name, row in report["variants"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c][p][m]:.4f}" for c, p, m in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
