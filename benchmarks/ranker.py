"""The quote ranker on data it was not trained on: today's scorer, the model alone and the combination, in one run.

    python benchmarks/ranker.py [--ranker bundled|FOLDER] [--trained-domain dmv] [--cache DIR] [--squad-step 1]
                                [--abstention-step 3] [--parts squad,doc2dial,nfcorpus,abstention]

Rows are ``Settings`` changes answered from the same retrieved passages: today's scorer (``ranker = "none"``),
the model alone (its probability decides the order of the quotes it scores, ``ranker_weight`` 100) and the
combination (the setting's ``ranker_weight``, or ``--weight``). Columns:

- SQuAD v1.1 dev, the first / any quote holds a gold answer, on the articles the ranker was not trained on:
  "choose" (article 1 mod 4: where the combination was chosen) and "report" (3 mod 4: no choice looked at it);
  "train" (even articles) for reference;
- doc2dial-dev replayed as a chat user would (``qa.eval.conversations.replay``, follow-ups in context), the
  domain not trained on (``--trained-domain`` names the other) and, for reference, the trained one: first
  quote in gold, any quote in gold, abstained, for first turns and follow-ups;
- NFCorpus test nDCG@10 (the ranker orders quotes, not passages: it must not move);
- abstention on SQuAD: an index of articles 0-23, every ``--abstention-step``-th question asked; answered
  (articles inside) and refused (outside), for all articles and for the articles not trained on.

Indexes are built once under ``--cache`` (shared with benchmarks/quality_multi.py and training/train_ranker.py).
Prints a table and writes benchmarks/results/ranker.json (``--out``).
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
sys.path.insert(0, str(ROOT / "training"))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402
from quality_multi import EVAL, cached_vectors, normalise  # noqa: E402
from ranker_data import squad_part  # noqa: E402

from qa import Settings  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.eval.conversations import load_conversations, replay, tables  # noqa: E402
from qa.eval.evaluation import (  # noqa: E402
    contains_answer,
    load_beir,
    load_squad,
    prepare_index,
    ranking_metrics,
    run_questions,
    squad_article,
)
from qa.index.index import Index  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "today's scorer (ranker none)": {"ranker": "none"},
    "the model alone": {"ranker_weight": 100.0},
    "combination (default)": {},
}
COMBINATION = "combination (default)"


def settings_for(change: dict[str, Any], ranker: str) -> Settings:
    return dataclasses.replace(Settings(), **{"ranker": ranker, **change})


def squad_quotes(index: Index, questions: list[Any], vectors: np.ndarray, rows: dict[str, Settings]
                 ) -> dict[str, dict[str, dict[str, float]]]:
    """First / any quote holds a gold answer, by part of the articles, for each row's settings."""
    retrieved = [(q, normalise(q.text), *index.retrieve(normalise(q.text), index.settings.k, v))
                 for q, v in zip(questions, vectors, strict=True)]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, settings in rows.items():
        index.settings = settings
        assistant = Assistant(index)
        counts: dict[str, list[int]] = {}
        for q, text, hits, qvec in retrieved:
            quotes = assistant.answer(text, hits, qvec).quotes
            good = [contains_answer(quote.text, q.answers) for quote in quotes]
            row = counts.setdefault(squad_part(squad_article(q)), [0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += bool(good) and good[0]
            row[2] += any(good)
            # Would leading the passages with the first quote's document find the paragraph more often?
            row[3] += hits[0].doc_id in q.relevant
            row[4] += (quotes[0].doc_id if quotes else hits[0].doc_id) in q.relevant
        out[name] = {part: {"first_quote": f / n, "any_quote": a / n, "R@1": r / n,
                            "R@1 led by the first quote": lq / n, "questions": n}
                     for part, (n, f, a, r, lq) in counts.items()}
        print(f"SQuAD {name}: " + ", ".join(f"{p} {v['first_quote']:.4f}" for p, v in sorted(out[name].items())),
              flush=True)
    return out


def conversations(index: Index, dialogues: list[Any], rows: dict[str, Settings]) -> dict[str, Any]:
    """doc2dial-dev replayed with each row's settings: ``qa.eval.conversations.tables`` (per domain)."""
    out = {}
    for name, settings in rows.items():
        index.settings = settings
        out[name] = tables(replay(index, dialogues, "on", show_progress=True))
    return out


def nfcorpus(index: Index, questions: list[Any], rows: dict[str, Settings]) -> dict[str, float]:
    """NFCorpus test nDCG@10 with each row's settings."""
    out = {}
    for name, settings in rows.items():
        index.settings = settings
        _, rankings = run_questions(index, questions)
        out[name] = ranking_metrics({q.id: q.relevant for q in questions}, rankings)["ndcg@10"]
    return out


def abstention(index: Index, questions: list[Any], rows: dict[str, Settings]) -> dict[str, Any]:
    """Answered (articles 0-23, inside the index) and refused (24-47), all and on articles not trained on."""
    retrieved = [(q, normalise(q.text), *index.retrieve(normalise(q.text), index.settings.k)) for q in questions]
    out = {}
    for name, settings in rows.items():
        index.settings = settings
        assistant = Assistant(index)
        flags = [(squad_article(q), assistant.answer(text, hits, qvec).abstained) for q, text, hits, qvec in retrieved]
        part: dict[str, Any] = {}
        for label, keep in (("all", lambda a: True), ("not trained on", lambda a: squad_part(a) != "train")):
            inside = [not ab for a, ab in flags if a < 24 and keep(a)]
            outside = [ab for a, ab in flags if a >= 24 and keep(a)]
            part[label] = {"answered": float(np.mean(inside)), "refused": float(np.mean(outside)),
                           "questions": len(inside) + len(outside)}
        out[name] = part
        print(f"abstention {name}: {part}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranker", default="bundled", help="the ranker measured (bundled, or a CrossEncoder folder)")
    parser.add_argument("--trained-domain", default="dmv", help="the doc2dial-dev domain the ranker was trained on")
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--nfcorpus", type=Path, default=EVAL / "nfcorpus")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"))
    parser.add_argument("--squad-step", type=int, default=1, help="ask every N-th question of SQuAD's choose and "
                        "report articles (and every 4N-th of the train articles)")
    parser.add_argument("--abstention-step", type=int, default=3, help="ask every N-th SQuAD question (1: all)")
    parser.add_argument("--parts", default="squad,doc2dial,nfcorpus,abstention")
    parser.add_argument("--weight", type=float, help="the combination's ranker_weight (default: the setting's), as "
                        "chosen for this ranker on SQuAD's choose articles (benchmarks/ranker_probe.py)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ranker.json")
    args = parser.parse_args()
    started = time.perf_counter()
    variants = {**VARIANTS, COMBINATION: {"ranker_weight": args.weight}} if args.weight is not None else VARIANTS
    rows = {name: settings_for(change, args.ranker) for name, change in variants.items()}
    report: dict[str, Any] = {"ranker": args.ranker, "weight": rows[COMBINATION].ranker_weight,
                              "trained_domain": args.trained_domain,
                              "variants": {n: dataclasses.asdict(s) | {"index_dir": "", "source_dir": ""}
                                           for n, s in rows.items()}}
    parts = args.parts.split(",")
    docs, questions = load_squad(args.squad)
    if "squad" in parts:
        index, _, _ = prepare_index(docs, Settings(), args.cache / "squad", show_progress=True)
        asked = [q for q in questions if squad_part(squad_article(q)) != "train"][::args.squad_step] + \
            [q for q in questions if squad_part(squad_article(q)) == "train"][::4 * args.squad_step]
        vectors = cached_vectors(index, [normalise(q.text) for q in asked], args.cache / "ranker-squad-queries.npy")
        report["squad"] = squad_quotes(index, asked, vectors, rows)
    if "doc2dial" in parts:
        dial_docs, dialogues = load_conversations(args.doc2dial)
        index, _, _ = prepare_index(dial_docs, Settings(), args.cache / "doc2dial", show_progress=True)
        report["doc2dial"] = conversations(index, list(dialogues.values()), rows)
    if "nfcorpus" in parts:
        nfc_docs, test = load_beir(args.nfcorpus, "test")
        index, _, _ = prepare_index(nfc_docs, Settings(), args.cache / "nfcorpus", show_progress=True)
        report["nfcorpus_test_ndcg@10"] = nfcorpus(index, test, rows)
    if "abstention" in parts:
        inside = [d for d in docs if squad_article(d.id) < 24]
        index, _, _ = prepare_index(inside, Settings(), args.cache / "squad-abstention", show_progress=True)
        report["abstention"] = abstention(index, questions[::args.abstention_step], rows)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print("\n" + table(report))
    write_report(report, args.out)


def table(report: dict[str, Any]) -> str:
    """One row per variant, every measure of the run."""
    unseen = next((d for d in ("dmv", "studentaid") if d != report["trained_domain"]), "")
    head = ["variant", "SQuAD choose 1st", "SQuAD report 1st", "SQuAD report any"]
    for kind in ("first turns", "follow-ups"):
        head += [f"{unseen} {kind} 1st in gold", "any in gold", "abstained"]
    head += ["NFCorpus nDCG@10", "answered", "refused", "answered (not trained)", "refused (not trained)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name in report["variants"]:
        cells = [name]
        if "squad" in report:
            s = report["squad"][name]
            cells += [f"{s['choose']['first_quote']:.4f}", f"{s['report']['first_quote']:.4f}",
                      f"{s['report']['any_quote']:.4f}"]
        else:
            cells += [""] * 3
        for kind in ("first turns", "follow-ups"):
            d = report.get("doc2dial", {}).get(name, {}).get(f"domain {unseen}", {}).get(kind)
            cells += [f"{d['first_quote_in_gold']:.3f}", f"{d['any_quote_in_gold']:.3f}",
                      f"{d['abstained']:.3f}"] if d else [""] * 3
        n = report.get("nfcorpus_test_ndcg@10", {}).get(name)
        cells.append(f"{n:.4f}" if n is not None else "")
        a = report.get("abstention", {}).get(name)
        cells += [f"{a[p][m]:.3f}" for p in ("all", "not trained on") for m in ("answered", "refused")] if a \
            else [""] * 4
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
