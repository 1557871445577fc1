"""Incremental update versus full build: change one document out of N and time `update_index`.

    python benchmarks/update.py [--docs 200] [--squad ../shared/eval/squad-v1.1/dev-v1.1.json]

The first N SQuAD dev paragraphs are written as .txt files (``date 2000-01-01 <article title>`` then the
paragraph) into a temporary folder. One run: a full ``build_index`` of the folder saved to an index folder,
then one file gets a sentence appended and ``update_index`` brings the index up to date. The model is
loaded (and warmed up) once before both timings, so neither includes it. Both builds report the seconds
of each stage (BuildReport.stages), which is what the fixed overhead of an update is made of. Finally the
updated index is compared with a fresh full build of the changed folder: the same hits for every query.

Prints a table and writes benchmarks/results/update.json.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, write_report  # noqa: E402

from qa import Settings, build_index, update_index  # noqa: E402
from qa.eval.evaluation import load_squad  # noqa: E402
from qa.retrieve.embedding import Embedder  # noqa: E402

ADDED = " A sentence added for the update benchmark mentions a lighthouse keeper and his notebook."


def write_corpus(squad: Path, n: int, folder: Path) -> tuple[list[Path], list[str]]:
    """The first ``n`` paragraphs as .txt files, and the questions asked about them."""
    docs, questions = load_squad(squad)
    docs = docs[:n]
    keep = {d.id for d in docs}
    folder.mkdir(parents=True)
    paths = []
    for doc in docs:
        path = folder / f"{doc.id}.txt"
        path.write_text(f"date 2000-01-01 {doc.title}\n\n{doc.text}\n", encoding="utf-8")
        paths.append(path)
    asked = [q.text for q in questions if next(iter(q.relevant)) in keep]
    return paths, asked


def hits(index: Any, queries: list[str]) -> list[list[tuple[str, int, int]]]:
    return [[(h.doc_id, h.start, h.end) for h in index.search(q, k=5)] for q in queries]


def run(squad: Path, n: int, n_queries: int) -> dict[str, Any]:
    settings = Settings()
    Embedder(settings.model, settings.batch_size).encode(["warm up the model once"])  # excluded from both timings
    with tempfile.TemporaryDirectory() as tmp:
        source, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        paths, questions = write_corpus(squad, n, source)
        queries = [*questions[:n_queries - 1], "lighthouse keeper notebook"]

        started = time.perf_counter()
        full = build_index(source, index_dir, settings)
        full_seconds = time.perf_counter() - started

        changed = paths[len(paths) // 2]
        changed.write_text(changed.read_text(encoding="utf-8").rstrip("\n") + ADDED + "\n", encoding="utf-8")
        started = time.perf_counter()
        updated = update_index(source, index_dir, settings)
        update_seconds = time.perf_counter() - started

        rebuilt = build_index(source, None, settings)
        same = hits(updated, queries) == hits(rebuilt, queries)
    embed_share = full.report.stages["embed"] / n  # one document's share of the full build's embedding
    fixed = update_seconds - updated.report.stages["embed"]
    return {
        "documents": n, "chunks": full.report.chunks, "sentences": int(len(full.vectors)),
        "full_build_seconds": full_seconds, "update_seconds": update_seconds,
        "ratio_update_to_full": update_seconds / full_seconds,
        "one_document_share_of_full_seconds": full_seconds / n,
        "update_embedded_chunks": updated.report.embedded, "update_reused_chunks": updated.report.reused,
        "update_embed_seconds": updated.report.stages["embed"], "embed_seconds_per_document": embed_share,
        "update_fixed_overhead_seconds": fixed,
        "stages": {"full build": full.report.stages, "update": updated.report.stages},
        "queries": len(queries), "same_hits_as_full_rebuild": same,
        "model_load": "excluded from both (model loaded and warmed before the first timing)",
        "machine": f"{platform.machine()}, {platform.python_version()}; shared, noisy (one run)",
    }


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{r['documents']} documents, {r['chunks']} chunks, {r['sentences']} sentence vectors (one run)\n")
    print("| | seconds |")
    print("|---|---|")
    print(f"| full build (saved) | {r['full_build_seconds']:.2f} |")
    print(f"| update, 1 document changed | {r['update_seconds']:.2f} |")
    print(f"| update / full | {r['ratio_update_to_full']:.3f} (1/N = {1 / r['documents']:.3f}) |")
    print(f"| update: embedding {r['update_embedded_chunks']} chunk(s) | {r['update_embed_seconds']:.3f} |")
    print(f"| update: fixed overhead (all but embedding) | {r['update_fixed_overhead_seconds']:.3f} |")
    stages = sorted({*r["stages"]["full build"], *r["stages"]["update"]})
    print("\n| stage | full build s | update s |")
    print("|---|---|---|")
    for name in stages:
        full, upd = r["stages"]["full build"].get(name, 0.0), r["stages"]["update"].get(name, 0.0)
        print(f"| {name} | {full:.3f} | {upd:.3f} |")
    print(f"\nsame hits as a full rebuild on {r['queries']} queries: {r['same_hits_as_full_rebuild']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--docs", type=int, default=200, help="number of SQuAD paragraphs (documents)")
    parser.add_argument("--queries", type=int, default=50, help="queries compared with a full rebuild")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "update.json")
    args = parser.parse_args()
    report = run(args.squad, args.docs, args.queries)
    print_table(report)
    write_report(report, args.out)
    if not report["same_hits_as_full_rebuild"]:
        sys.exit("the updated index does not give the same hits as a full rebuild")


if __name__ == "__main__":
    main()
