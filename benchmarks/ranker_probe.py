"""A quick probe of a quote ranker: which sentence it would quote first among today's candidates, by rule.

    python benchmarks/ranker_probe.py --ranker FOLDER|joint-cosine [--per-part 600] [--candidates 8] [--cache DIR]

Minutes where benchmarks/ranker.py takes a quarter of an hour, for choosing what to train and how to combine it;
the full benchmark then confirms through the real ``Assistant``. Today's scorer's candidates (the sentences of
the passages retrieved, in choice-score order, ``qa.answer.sentences.ranked``) are collected once for the first
``--per-part`` questions of SQuAD dev's "choose" and "report" articles (``training/ranker_data.squad_part``) and
for every doc2dial-dev first turn, and kept under ``--cache``. The ranker (int8, as at run time) scores the best
``--candidates`` of each, and each rule picks the first quote:

- today's order; the ranker alone; choice + w x the ranker's probability, for several w;
- reach: the share of questions whose answer is among the candidates, the most any rule can get.

``--ranker joint-cosine`` needs no training: the score is the cosine between the question's and the sentence's
mean-pooled states when the bundled model encodes them together, as a cross-encoder reads them. A trained ranker
should beat it. Prints a table and writes benchmarks/results/ranker_probe.json (``--out``).
"""
from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402
from quality_multi import EVAL, normalise  # noqa: E402
from ranker_data import squad_part  # noqa: E402
from tqdm import tqdm  # noqa: E402

from qa import Settings  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.answer.sentences import ranked  # noqa: E402
from qa.eval.conversations import load_conversations  # noqa: E402
from qa.eval.evaluation import contains_answer, load_squad, prepare_index, squad_article  # noqa: E402

WEIGHTS = (0.25, 0.5, 1.0, 2.0)
Case = dict[str, Any]  # part, question, candidates: [(text, choice score, answers)]


def collect(squad: Path, doc2dial: Path, cache: Path, per_part: int) -> list[Case]:
    """Today's candidates for each question, made once and kept in ``cache``."""
    path = cache / f"ranker-probe-{per_part}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    cases: list[Case] = []
    docs, questions = load_squad(squad)
    index, _, _ = prepare_index(docs, Settings(), cache / "squad", show_progress=True)
    for part in ("choose", "report"):
        chosen = [q for q in questions if squad_part(squad_article(q)) == part][:per_part]
        for q in tqdm(chosen, desc=f"SQuAD {part}", unit="question"):
            quotes = _candidates(index, normalise(q.text))
            cases.append({"part": f"squad-{part}", "question": normalise(q.text),
                          "candidates": [(x.text, x.score, contains_answer(x.text, q.answers)) for x in quotes]})
    dial_docs, dialogues = load_conversations(doc2dial)
    index, _, _ = prepare_index(dial_docs, Settings(), cache / "doc2dial", show_progress=True)
    for dialogue in tqdm(list(dialogues.values()), desc="doc2dial first turns", unit="turn"):
        turn = dialogue[0]
        quotes = _candidates(index, normalise(turn.question))
        cases.append({"part": f"doc2dial-{turn.domain}", "question": normalise(turn.question),
                      "candidates": [(x.text, x.score, x.doc_id == turn.doc_id and x.start < turn.end
                                      and turn.start < x.end) for x in quotes]})
    path.write_bytes(pickle.dumps(cases))
    return cases


def _candidates(index: Any, question: str) -> list[Any]:
    hits, qvec = index.retrieve(question, index.settings.k)
    return ranked(index, hits, Assistant(index)._candidates(question, hits, qvec, None))


def scorer(name: str) -> Callable[[str, list[str]], np.ndarray]:
    """Scores for a question's candidate texts: the ranker's probability, or the joint encoding's cosine."""
    if name == "joint-cosine":
        return joint_cosine()
    from qa.answer.ranker import Ranker

    return Ranker(name).probabilities


def joint_cosine() -> Callable[[str, list[str]], np.ndarray]:
    """The bundled model's joint-encoding cosine, untrained and in float (``qa.models.segment_cosine``)."""
    import torch

    from qa.models.loading import bundled_model_path
    from qa.models.segment_cosine import cosine_cross_encoder

    model = cosine_cross_encoder(str(bundled_model_path())).eval()

    def score(question: str, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            return model(model.preprocess([[question, text] for text in texts]))["scores"].reshape(-1).numpy()
    return score


def rules(n: int) -> dict[str, Callable[[np.ndarray, np.ndarray], int]]:
    """Each rule: (choice scores, ranker scores of the first ``n``) -> the index of the quote placed first."""
    out: dict[str, Callable[[np.ndarray, np.ndarray], int]] = {
        "today's order": lambda choice, p: 0, f"the ranker alone, {n} candidates": lambda choice, p: int(np.argmax(p))}
    for w in WEIGHTS:
        out[f"choice + {w:g} x ranker, {n} candidates"] = combined(w)
    return out


def combined(weight: float) -> Callable[[np.ndarray, np.ndarray], int]:
    return lambda choice, p: int(np.argmax(choice[:len(p)] + weight * p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranker", required=True, help="a CrossEncoder folder, bundled, or joint-cosine")
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"))
    parser.add_argument("--per-part", type=int, default=600, help="SQuAD questions from each of choose and report")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "ranker_probe.json")
    args = parser.parse_args()
    cases = collect(args.squad, args.doc2dial, args.cache, args.per_part)
    score = scorer(args.ranker)
    by_rule = rules(args.candidates)
    picks: dict[str, dict[str, list[bool]]] = {}
    for case in tqdm(cases, desc="scoring", unit="question"):
        found = case["candidates"]
        row = picks.setdefault(case["part"], {})
        if not found:
            for name in [*by_rule, "reach"]:
                row.setdefault(name, []).append(False)
            continue
        top = found[:args.candidates]
        p = np.asarray(score(case["question"], [text for text, _, _ in top]), dtype=float)
        choice = np.array([s for _, s, _ in top])
        for name, rule in by_rule.items():
            row.setdefault(name, []).append(bool(top[rule(choice, p)][2]))
        row.setdefault("reach", []).append(any(good for _, _, good in top))
    parts = sorted(picks)
    table = {name: {part: float(np.mean(picks[part][name])) for part in parts}
             for name in [*by_rule, "reach"]}
    print(f"\nfirst quote holds the answer ({args.ranker}; questions: "
          + ", ".join(f"{p} {len(picks[p]['reach'])}" for p in parts) + ")\n")
    print("| rule | " + " | ".join(parts) + " |")
    print("|---" * (len(parts) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[p]:.4f}" for p in parts) + " |")
    write_report({"ranker": args.ranker, "per_part": args.per_part, "candidates": args.candidates,
                  "questions": {p: len(picks[p]["reach"]) for p in parts}, "first_quote": table}, args.out)


if __name__ == "__main__":
    main()
