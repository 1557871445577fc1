"""Follow-up questions on doc2dial-dev: each question alone, the naive prepend, the default before, and the default.

    python benchmarks/conversation.py [--data ../shared/eval/doc2dial-dev] [--cache DIR] [--limit N]

All documents of the file are indexed together once (kept in ``--cache`` for later runs). Every dialogue is
replayed in turn order four ways: ``off`` (each question alone, as before conversations), ``naive`` (the
user's previous 3 questions prepended), ``before`` (the default before the evidence counted only the question's
``evidence_terms`` heaviest terms: ``evidence_terms`` 0, every term) and ``on`` (the default:
``qa.retrieve.context``, ``qa.answer.reading``), with the assistant's own earlier answers as the history (the
file's README gives the protocol). First turns and follow-ups are reported apart, for all dialogues, for the
tuning / held-out halves (``qa.eval.conversations.tuning_half``) and for each domain (dmv, studentaid: tune on
one, confirm on the other). The follow-ups are also split by domain and by whether the dialogue's first
question was answered from its gold document (``by_first_answer``): on doc2dial domains not in this file, first
answers are more often wrong, and a conversation that starts wrong is where reading it can mislead.

Abstention check: after the first turn of each dialogue the assistant answered, a SQuAD dev question (about
something else; a fixed random sample) is asked as the follow-up; the share refused is reported, next to the
share refused when the same questions are asked alone, and when asked after the dialogue's first question
taken as unanswered.

Prints the tables and writes benchmarks/results/conversation.json.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402

from qa import Settings  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.answer.turns import turns_from_answers  # noqa: E402
from qa.eval.conversations import (  # noqa: E402
    TurnResult,
    by_first_answer,
    by_last_answer,
    format_table,
    load_conversations,
    replay,
    tables,
    tuning_half,
)
from qa.eval.evaluation import load_squad, prepare_index  # noqa: E402
from qa.index.index import Index  # noqa: E402
from qa.retrieve.context import Turn  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "doc2dial-dev"
BEFORE = {"evidence_terms": 0}  # the settings of the default before this change
MODES = {"off": "asked alone", "naive": "previous 3 questions prepended",
         "before": "default before (evidence of every term)", "on": "default (qa.retrieve.context)"}


@contextmanager
def settings_changed(index: Index, **change: Any) -> Iterator[None]:
    """``index`` answering with ``change`` to its settings for the time of the block (e.g. the default before)."""
    base = index.settings
    index.settings = base.replace(**change)
    try:
        yield
    finally:
        index.settings = base


def off_topic_refusals(index: Index, dialogues: list[list[Any]], squad: Path) -> dict[str, Any]:
    """Share of unrelated SQuAD questions refused as follow-ups of an answered first turn, alone, and as
    follow-ups of the dialogue's first question taken as unanswered."""
    _, questions = load_squad(squad)
    sample = [q.text for q in random.Random(0).sample(questions, len(dialogues))]
    assistant = Assistant(index)
    firsts = [assistant.ask(d[0].question) for d in dialogues]
    pairs = [(q, a, tuning_half(d[0].dial_id)) for q, a, d in zip(sample, firsts, dialogues, strict=True)
             if not a.abstained]
    refused = [(assistant.follow_up(q, turns_from_answers([a])).abstained, tune) for q, a, tune in pairs]
    alone = [assistant.ask(q).abstained for q, _, _ in pairs]
    unanswered = [assistant.follow_up(q, [Turn(d[0].question, False)]).abstained
                  for q, d in zip(sample, dialogues, strict=True)]

    def share(flags: list[bool]) -> float:
        return sum(flags) / max(len(flags), 1)

    return {"questions": len(pairs), "refused_as_follow_up": share([r for r, _ in refused]),
            "refused_as_follow_up_tuning": share([r for r, t in refused if t]),
            "refused_as_follow_up_held_out": share([r for r, t in refused if not t]),
            "refused_alone": share(alone), "after_unanswered": len(unanswered),
            "refused_after_unanswered": share(unanswered)}


def own_match_kept(alone: list[TurnResult], other: list[TurnResult]) -> dict[str, float]:
    """Among the follow-ups whose question alone ranks the gold document first (top 5), the share that
    ``other`` (the same turns replayed another way) still has in its top 5: a strong own match not buried."""
    out: dict[str, float] = {}
    for name, strong in (("first", lambda r: r.doc1), ("top5", lambda r: r.doc5)):
        pairs = [(a, o) for a, o in zip(alone, other, strict=True) if a.follow_up and strong(a)]
        out[f"alone_{name}"] = len(pairs)
        out[f"kept_{name}"] = sum(o.doc5 for _, o in pairs) / max(len(pairs), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench-doc2dial-index")
    parser.add_argument("--limit", type=int, help="only the first N dialogues")
    parser.add_argument("--out", type=Path, default=RESULTS / "conversation.json")
    args = parser.parse_args()
    documents, dialogues = load_conversations(args.data)
    chosen = list(dialogues.values())[:args.limit]
    index, seconds, how = prepare_index(documents, Settings(), args.cache, show_progress=True)
    report: dict[str, Any] = {"data": str(args.data), "dialogues": len(chosen), "turns": sum(map(len, chosen)),
                              "documents": len(documents), "index": how, "index_seconds": seconds, "modes": {}}
    per_turn = {}
    for mode, label in MODES.items():
        started = time.perf_counter()
        with settings_changed(index, **(BEFORE if mode == "before" else {})):
            per_turn[mode] = results = replay(index, chosen, "on" if mode == "before" else mode, show_progress=True)
        report["modes"][mode] = {"label": label, "seconds": time.perf_counter() - started, "tables": tables(results),
                                 "by_last_answer": by_last_answer(results), "by_first_answer": by_first_answer(results)}
    for mode in ("naive", "before", "on"):
        report["modes"][mode]["own_match_kept"] = own_match_kept(per_turn["off"], per_turn[mode])
    report["off_topic"] = off_topic_refusals(index, chosen, args.squad)
    with settings_changed(index, **BEFORE):
        report["off_topic_before"] = off_topic_refusals(index, chosen, args.squad)
    print_tables(report)
    write_report(report, args.out)


def print_tables(report: dict[str, Any]) -> None:
    print(f"\ndoc2dial-dev: {report['dialogues']} dialogues, {report['turns']} turns, {report['documents']} documents")
    for part in report["modes"]["on"]["tables"]:  # all, the tuning and held-out halves, then each domain
        print(f"\n{part}:\n")
        rows = {f"{kind}, {report['modes'][mode]['label']}": report["modes"][mode]["tables"][part][kind]
                for kind in ("first turns", "follow-ups") for mode in MODES
                if kind == "follow-ups" or mode == "off"}
        print(format_table(rows))
    print("\nfollow-ups by where the last answer of the dialogue quoted (each mode's own answers):\n")
    print(format_table({f"after {kind}, {report['modes'][mode]['label']}": table
                        for mode in MODES for kind, table in report["modes"][mode]["by_last_answer"].items()}))
    print("\nfollow-ups by domain and by whether the dialogue's first question was answered from its document:\n")
    print(format_table({f"{part}, {report['modes'][mode]['label']}": report["modes"][mode]["by_first_answer"][part]
                        for part in report["modes"]["on"]["by_first_answer"] for mode in ("naive", "before", "on")}))
    for mode in ("naive", "before", "on"):
        kept = report["modes"][mode]["own_match_kept"]
        print(f"\n{report['modes'][mode]['label']}: of the {kept['alone_first']:.0f} follow-ups whose question alone "
              f"ranks the gold document first, {kept['kept_first']:.3f} keep it in the top 5; of the "
              f"{kept['alone_top5']:.0f} it has in its top 5, {kept['kept_top5']:.3f}")
    for key, label in (("off_topic", "default"), ("off_topic_before", "default before")):
        off = report[key]
        print(f"\n{label}: unrelated SQuAD questions as follow-ups ({off['questions']}): refused "
              f"{off['refused_as_follow_up']:.3f} (tuning {off['refused_as_follow_up_tuning']:.3f}, held-out "
              f"{off['refused_as_follow_up_held_out']:.3f}); asked alone: refused {off['refused_alone']:.3f}; after "
              f"an unanswered question ({off['after_unanswered']}): refused {off['refused_after_unanswered']:.3f}")


if __name__ == "__main__":
    main()
