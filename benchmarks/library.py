"""The document library on N documents: how long listing takes, and removing one document versus a full build.

    python benchmarks/library.py [--docs 200] [--squad ../shared/eval/squad-v1.1/dev-v1.1.json]

The first N SQuAD dev paragraphs are written as .txt files (as benchmarks/update.py does) and indexed with a
full ``build_index`` (model loaded and warmed before, so no timing includes it). Then a ``DocumentLibrary``
over them lists the documents (median of 5 runs) and removes one (its file moved to .trash/, the index updated
incrementally). Finally the index after the removal is compared with a fresh full build of the remaining
folder: the same hits for every query.

Prints a table and writes benchmarks/results/library.json.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, write_report  # noqa: E402
from update import hits, write_corpus  # noqa: E402

from qa import Assistant, Settings, build_index  # noqa: E402
from qa.library.manager import DocumentLibrary  # noqa: E402
from qa.retrieve.embedding import Embedder  # noqa: E402


def run(squad: Path, n: int, n_queries: int) -> dict[str, Any]:
    settings = Settings()
    Embedder(settings.model, settings.batch_size).encode(["warm up the model once"])  # excluded from the timings
    with tempfile.TemporaryDirectory() as tmp:
        source, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        paths, questions = write_corpus(squad, n, source)
        started = time.perf_counter()
        library = DocumentLibrary(Assistant(build_index(source, index_dir, settings)), source)
        full_seconds = time.perf_counter() - started

        list_seconds = []
        for _ in range(5):
            started = time.perf_counter()
            listed = library.list_documents()
            list_seconds.append(time.perf_counter() - started)

        name = paths[len(paths) // 2].name
        chunks = len(library.assistant.index.chunks)
        started = time.perf_counter()
        [result] = library.remove([name])
        remove_seconds = time.perf_counter() - started

        after = library.assistant.index
        rebuilt = build_index(source, None, settings)
        same = hits(after, questions[:n_queries]) == hits(rebuilt, questions[:n_queries])
    return {
        "documents": n, "chunks": chunks,
        "full_build_seconds": full_seconds, "list_seconds_median": statistics.median(list_seconds),
        "listed": len(listed), "remove_seconds": remove_seconds, "removed": result.removed,
        "remove_message": result.message, "remove_embedded_chunks": after.report.embedded,
        "remove_stages": after.report.stages, "ratio_remove_to_full": remove_seconds / full_seconds,
        "queries": min(n_queries, len(questions)), "same_hits_as_full_rebuild": same,
        "model_load": "excluded (model loaded and warmed before the first timing)",
        "machine": f"{platform.machine()}, {platform.python_version()}; shared, noisy (one run)",
    }


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{r['documents']} documents, {r['chunks']} chunks (one run)\n")
    print("| | seconds |")
    print("|---|---|")
    print(f"| full build (saved) | {r['full_build_seconds']:.2f} |")
    print(f"| list_documents (median of 5) | {r['list_seconds_median']:.3f} |")
    print(f"| remove 1 document (to .trash/, index updated, {r['remove_embedded_chunks']} chunks embedded) "
          f"| {r['remove_seconds']:.2f} |")
    print(f"| remove / full | {r['ratio_remove_to_full']:.3f} |")
    print("\n| stage of the update after the removal | seconds |")
    print("|---|---|")
    for stage, seconds in r["remove_stages"].items():
        print(f"| {stage} | {seconds:.3f} |")
    print(f"\nsame hits as a full rebuild on {r['queries']} queries: {r['same_hits_as_full_rebuild']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--docs", type=int, default=200, help="number of SQuAD paragraphs (documents)")
    parser.add_argument("--queries", type=int, default=50, help="queries compared with a full rebuild")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "library.json")
    args = parser.parse_args()
    report = run(args.squad, args.docs, args.queries)
    print_table(report)
    write_report(report, args.out)
    if not report["same_hits_as_full_rebuild"]:
        sys.exit("the index after the removal does not give the same hits as a full rebuild")


if __name__ == "__main__":
    main()
