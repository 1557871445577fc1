"""Which sentence should be quoted first? Candidate scoring rules measured on the same retrieved passages.

    python benchmarks/sentence_choice.py [--squad-sample N] [--cache /tmp/qa-quality-multi]

Measurement only: ``qa/answer.py`` is not changed. For each question the default retrieval gives the k
passages ``Assistant.answer`` sees; every sentence in them gets the features the rules use: its cosine with
the question, its share of the question's idf-weighted terms (the current score is their sum), its passage's
rank and fused score, and its position in its document. Abstention is left as it is (the current evidence);
a rule only changes which sentence comes first. Measured: SQuAD dev, the first quote holds a gold answer
("tune" / "held-out" articles); doc2dial-dev first turns, the first quote overlaps the gold span.

Uses the indexes and query vectors benchmarks/quality_multi.py saves in ``--cache``.
Prints a table and writes benchmarks/results/sentence_choice.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402
from quality_multi import EVAL, Doc2dial, Squad, normalise  # noqa: E402

import numpy as np  # noqa: E402

from qa.evaluation import contains_answer  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.scoring import QuestionTerms  # noqa: E402

# Each rule maps the features (arrays over one question's candidate sentences) to a score; highest goes first.
RULES: dict[str, Any] = {
    "current: cosine + coverage": lambda f: f["cos"] + f["cov"],
    "cosine only": lambda f: f["cos"],
    "coverage only": lambda f: f["cov"],
    "+ 0.1 x passage score share": lambda f: f["cos"] + f["cov"] + 0.1 * f["passage"],
    "+ 0.3 x passage score share": lambda f: f["cos"] + f["cov"] + 0.3 * f["passage"],
    "+ 0.05 lead (first sentence of its document)": lambda f: f["cos"] + f["cov"] + 0.05 * f["lead"],
    "+ 0.15 lead": lambda f: f["cos"] + f["cov"] + 0.15 * f["lead"],
    "+ 0.1 / (1 + sentence position)": lambda f: f["cos"] + f["cov"] + 0.1 / (1 + f["position"]),
    "+ 0.2 x min(cosine, coverage) (agreement)": lambda f: f["cos"] + f["cov"] + 0.2 * np.minimum(f["cos"], f["cov"]),
    "cosine x coverage": lambda f: f["cos"] * f["cov"],
    "+ 0.1 x passage + 0.05 lead": lambda f: f["cos"] + f["cov"] + 0.1 * f["passage"] + 0.05 * f["lead"],
}


def candidates(index: Index, question: str, qvec: np.ndarray) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Features of every sentence of the question's k passages, and each one's (doc_id, start, end, text)."""
    hits, qvec = index.retrieve(question, index.settings.k, qvec)
    terms = QuestionTerms.from_question(question, index.bm25)
    best = hits[0].score if hits else 1.0
    rows, where = [], []
    seen: set[tuple[str, int, int]] = set()
    for hit in hits:
        chunk = index.chunk(hit.chunk_id)
        sims = index.sentence_similarities(hit.chunk_id, qvec)
        starts = _document_starts(index, hit.doc_id)
        for (start, end), sim in zip(chunk.sentences, sims.tolist(), strict=True):
            if (hit.doc_id, start, end) in seen:
                continue
            seen.add((hit.doc_id, start, end))
            position = int(np.searchsorted(starts, start))
            rows.append((sim, hit.score / best if best else 0.0, position, hit.rank))
            where.append((hit.doc_id, start, end, hit.text[start - hit.start:end - hit.start]))
    cov = terms.coverage([w[3] for w in where]) if where else []
    arr = np.array(rows, dtype=float).reshape(-1, 4)
    return {"cos": arr[:, 0], "cov": np.array(cov, dtype=float), "passage": arr[:, 1], "position": arr[:, 2],
            "lead": (arr[:, 2] == 0).astype(float), "rank": arr[:, 3]}, where


_starts: dict[int, dict[str, np.ndarray]] = {}


def _document_starts(index: Index, doc_id: str) -> np.ndarray:
    """Sorted start offsets of every sentence of a document (overlapping chunks share sentences)."""
    if id(index) not in _starts:
        by_doc: dict[str, set[int]] = {}
        for chunk in index.chunks:
            by_doc.setdefault(chunk.doc_id, set()).update(s for s, _ in chunk.sentences)
        _starts[id(index)] = {d: np.array(sorted(s)) for d, s in by_doc.items()}
    return _starts[id(index)][doc_id]


def measure(collection: Any, judge: Any, text: Any) -> dict[str, dict[str, float]]:
    """Share of questions, per part and rule, whose top-scored sentence ``judge`` accepts (abstained: no)."""
    index = collection.index
    min_score = index.settings.min_score
    out: dict[str, dict[str, float]] = {rule: {} for rule in RULES}
    for part, questions in collection.parts.items():
        good = {rule: 0 for rule in RULES}
        for q in questions:
            features, where = candidates(index, normalise(text(q)), collection.vectors[id(q)])
            if not where or (features["cos"] + features["cov"]).max() < min_score:
                continue  # abstained under the current evidence: counted as a miss for every rule
            for rule, score in RULES.items():
                good[rule] += bool(judge(q, where[int(np.argmax(score(features)))]))
        for rule in RULES:
            out[rule][part] = good[rule] / max(len(questions), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--doc2dial", type=Path, default=EVAL / "doc2dial-dev")
    parser.add_argument("--squad-sample", type=int, default=2000, help="about N SQuAD questions (0: all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-quality-multi"))
    parser.add_argument("--out", type=Path, default=RESULTS / "sentence_choice.json")
    parser.add_argument("--collections", default="squad,doc2dial")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"squad_sample": args.squad_sample, "rules": {rule: {} for rule in RULES}}
    if "squad" in args.collections:
        squad = Squad.load(args.squad, args.squad_sample, args.cache)
        scores = measure(squad, lambda q, w: contains_answer(w[3], q.answers), lambda q: q.text)
        for rule in RULES:
            report["rules"][rule]["squad"] = scores[rule]
    if "doc2dial" in args.collections:
        dial = Doc2dial.load(args.doc2dial, args.cache)
        scores = measure(dial, lambda t, w: w[0] == t["doc_id"] and w[1] < t["answer_end"] and w[2] > t["answer_start"],
                         lambda t: t["question"])
        for rule in RULES:
            report["rules"][rule]["doc2dial"] = scores[rule]
    print("| rule | SQuAD tune | SQuAD held-out | doc2dial first turns |\n|---|---|---|---|")
    for rule, row in report["rules"].items():
        cells = [f"{row[c][p]:.4f}" if c in row else "" for c, p in (("squad", "tune"), ("squad", "held-out"),
                                                                     ("doc2dial", "all"))]
        print(f"| {rule} | " + " | ".join(cells) + " |")
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
