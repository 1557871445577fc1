"""`ask()` of this tree and of an earlier commit, side by side in one process, on the same loaded index.

    python benchmarks/before_after.py --before REV --index DIR [--questions 200] [--squad PATH]

The earlier commit's ``qa/`` is taken with ``git archive`` into a temporary folder and imported as
``qa_before`` (its imports renamed), so both versions answer in the same process, round-robin, question by
question: the machine's noise hits both alike. ``--index`` is an index both can load (same format version).
Each question is asked alone, then as a follow-up of the one before it (consecutive SQuAD questions are
about the same article, like a conversation), by each version in turn.

Prints p50 / p95 of each and the ratios, checks that both give the same answers (quotes and abstentions),
and writes benchmarks/results/before_after.json.
"""
from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402

import qa  # noqa: E402
from qa.eval.evaluation import load_squad  # noqa: E402


def import_before(rev: str, folder: Path) -> Any:
    """The package ``qa/`` of commit ``rev`` as the module ``qa_before``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "qa"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "qa").rename(folder / "qa_before")
    for path in (folder / "qa_before").rglob("*.py"):
        text = re.sub(r"\bfrom qa import\b", "from qa_before import", path.read_text())
        path.write_text(re.sub(r"\bqa\.(?=[a-z_])", "qa_before.", text))
    sys.path.insert(0, str(folder))
    return importlib.import_module("qa_before")


def timed(ask: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = ask(*args)
    return (time.perf_counter() - started) * 1000, answer


def history_of(question: str, answer: Any) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def run(versions: dict[str, Any], questions: list[str]) -> dict[str, Any]:
    """Each question alone and as a follow-up, by each version in turn; latencies and whether answers agree."""
    times: dict[str, dict[str, list[float]]] = {name: {"alone": [], "follow-up": []} for name in versions}
    differ = {"alone": 0, "follow-up": 0}
    previous: dict[str, Any] = {}
    for number, question in enumerate(questions):
        answers: dict[str, dict[str, Any]] = {}
        for name, assistant in versions.items():
            ms, alone = timed(assistant.ask, question)
            times[name]["alone"].append(ms)
            answers.setdefault("alone", {})[name] = alone
            if number:
                before_q, before_a = previous[name]
                ms, follow = timed(assistant.ask, question, history_of(before_q, before_a))
                times[name]["follow-up"].append(ms)
                answers.setdefault("follow-up", {})[name] = follow
            previous[name] = (question, alone)
        for kind, by_version in answers.items():
            texts = {(a.text, a.abstained) for a in by_version.values()}
            differ[kind] += len(texts) > 1
    return {"times": times, "answers_differ": differ}


def summary(times: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {name: {kind: {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}
                   for kind, ms in kinds.items()} for name, kinds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "before_after.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = import_before(args.before, Path(tmp))
        versions = {"before": before.Assistant(before.load_index(args.index)),
                    "now": qa.Assistant(qa.load_index(args.index))}
        _, squad = load_squad(args.squad)
        questions = [" ".join(q.text.split()) for q in squad[:args.questions]]
        for assistant in versions.values():  # warm up: lazy imports, the model, caches
            for q in questions[:5]:
                assistant.ask(q)
        result = run(versions, questions)
    stats = summary(result["times"])
    print(f"{len(questions)} SQuAD questions, round-robin, index {args.index}")
    print("| | before p50 | now p50 | now / before | before p95 | now p95 |\n|---|---|---|---|---|---|")
    for kind in ("alone", "follow-up"):
        b, n = stats["before"][kind], stats["now"][kind]
        print(f"| {kind} | {b['p50_ms']:.1f} | {n['p50_ms']:.1f} | {n['p50_ms'] / b['p50_ms']:.2f}x | "
              f"{b['p95_ms']:.1f} | {n['p95_ms']:.1f} |")
    print(f"answers that differ: {result['answers_differ']}")
    write_report({"before": args.before, "questions": len(questions), "index": str(args.index),
                  "latency": stats, "answers_differ": result["answers_differ"]}, args.out)


if __name__ == "__main__":
    main()
