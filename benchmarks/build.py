"""Full index build against the model's limit, with and without int8 quantisation, in one run.

    python benchmarks/build.py [--docs N] [--rounds 2] [--profile] [--device auto|cpu|cuda|cuda:N|mps]

Corpus: the SQuAD v1.1 dev paragraphs (2,067 documents; ``--docs N`` takes the first N). Four things are
timed, interleaved in each round and in reverse order in the next round so that drift in the machine's
load hits them alike:

- "build": ``qa.build_index(docs, <temp dir>)``: chunking, one forward pass per chunk with sentence
  pooling, FAISS, BM25 and saving the index;
- "encode": the limit, a bare ``SentenceTransformer.encode`` of exactly the texts the build embeds
  (``chunk_input``: title-prefixed chunks from the same chunking), same model, same batch size;
- "encode, build's batches": the same bare encode called on build_index's batches (texts sorted by token
  count, ``Embedder.batch_order``) one at a time: the limit for that batching, which pads less than
  ``encode``'s own (it sorts by characters), so the build can beat plain "encode";
- the same two with ``Settings(quantize=True)`` (int8 Linear layers), always on the CPU.

``--device`` runs the plain variants on that device (default cpu, the figures in the README); int8 stays on
the CPU, where it is meant to run. The device used is in the report.

Model loading is excluded from every timing: both models are loaded and warmed up first, and a tiny build
runs first so that imports (faiss, bm25s, blingfire) are not counted either. Wall-clock and
process CPU seconds are both reported; on a shared machine CPU seconds are the steadier of the two.
``--profile`` adds a cProfile of one plain build: the share of time spent outside the model's forward pass.

Prints a table and writes benchmarks/results/build.json.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, write_report  # noqa: E402

from qa import Settings, build_index  # noqa: E402
from qa.eval.evaluation import load_squad  # noqa: E402
from qa.ingest.chunking import (
    chunk_documents,  # noqa: E402
    chunk_input,
)
from qa.retrieve.embedding import Embedder, resolve_device  # noqa: E402

VARIANTS = ("build", "encode", "encode, build's batches", "build int8", "encode int8")


def chunk_texts(docs: list, settings: Settings) -> list[str]:
    """The exact texts build_index sends to the model."""
    by_id = {d.id: d for d in docs}
    return [chunk_input(c, by_id[c.doc_id], settings)[0]
            for c in chunk_documents(docs, settings.chunk_size, settings.chunk_overlap)]


def timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run(docs: list, rounds: int, tmp: Path, device: str = "cpu") -> dict[str, Any]:
    plain, quant = Settings(device=device), Settings(quantize=True, device="cpu")
    texts = chunk_texts(docs, plain)
    models = {s.quantize: Embedder(s.model, s.batch_size, s.quantize, resolve_device(s.device, s.quantize)).model
              for s in (plain, quant)}
    for model in models.values():  # load and warm up outside the timings
        model.encode(texts[:plain.batch_size], batch_size=plain.batch_size)
    build_index(docs[:3], None, plain)  # imports faiss, bm25s, blingfire... outside the timings, like the model
    order = Embedder(plain.model, plain.batch_size).batch_order(texts)  # how build_index batches them
    batches = [[texts[i] for i in order[b:b + plain.batch_size]] for b in range(0, len(order), plain.batch_size)]
    jobs = {
        "build": lambda: build_index(docs, tmp / "plain", plain),
        # The same bare encode, given build_index's batches one at a time: the limit for its batching.
        "encode, build's batches": lambda: [models[False].encode(batch, batch_size=plain.batch_size,
                                                                 normalize_embeddings=True, convert_to_numpy=True)
                                            for batch in batches],
        "encode": lambda: models[False].encode(texts, batch_size=plain.batch_size, normalize_embeddings=True,
                                               convert_to_numpy=True),
        "build int8": lambda: build_index(docs, tmp / "int8", quant),
        "encode int8": lambda: models[True].encode(texts, batch_size=quant.batch_size, normalize_embeddings=True,
                                                   convert_to_numpy=True),
    }
    times: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    stages: dict[str, dict[str, float]] = {}
    for r in range(rounds):
        for name in (VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))):
            wall, cpu, result = timed(jobs[name])
            times[name].append({"wall": wall, "cpu": cpu})
            if name.startswith("build"):
                stages[name] = result.report.stages
            print(f"round {r + 1} {name:12s} wall {wall:7.1f} s  cpu {cpu:7.1f} s", flush=True)
    total = {name: {k: sum(t[k] for t in ts) for k in ("wall", "cpu")} for name, ts in times.items()}
    ratio = {k: {"plain": total["encode"][k] / total["build"][k],
                 "plain, build's batches": total["encode, build's batches"][k] / total["build"][k],
                 "int8": total["encode int8"][k] / total["build int8"][k]} for k in ("wall", "cpu")}
    speedup = {k: {"build": total["build"][k] / total["build int8"][k],
                   "encode": total["encode"][k] / total["encode int8"][k]} for k in ("wall", "cpu")}
    return {"documents": len(docs), "chunks": len(texts), "rounds": rounds, "batch_size": plain.batch_size,
            "device": resolve_device(device),
            "times": times, "total": total, "limit_over_build": ratio, "int8_speedup": speedup,
            "build_stages_last_round": stages,
            "model_load": "excluded from all timings (both models loaded and warmed up first)"}


def profile_build(docs: list, tmp: Path) -> dict[str, Any]:
    """Where a plain build spends its time: the model's forward pass against everything else."""
    profiler = cProfile.Profile()
    profiler.enable()
    build_index(docs, tmp / "profiled", Settings())
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    # cumulative seconds of the SentenceTransformer forward pass (what the bare encode also runs)
    model = sum(v[3] for k, v in stats.stats.items() if k[2] == "forward" and k[0].endswith("base/model.py"))
    stats.sort_stats("tottime").print_stats(12)
    return {"profiled_seconds": total, "model_call_seconds": model,
            "share_outside_model": 1 - model / total}


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{r['documents']} documents, {r['chunks']} chunks, batch size {r['batch_size']}, {r['rounds']} "
          f"rounds interleaved (model load excluded), plain variants on {r.get('device', 'cpu')}\n")
    print("| variant | wall s (sum) | CPU s (sum) |")
    print("|---|---|---|")
    for name in VARIANTS:
        print(f"| {name} | {r['total'][name]['wall']:.1f} | {r['total'][name]['cpu']:.1f} |")
    print("\n| ratio | wall | CPU |")
    print("|---|---|---|")
    for label, key, sub in (("limit / build (plain)", "limit_over_build", "plain"),
                            ("limit with build's batches / build (plain)", "limit_over_build", "plain, build's batches"),
                            ("limit / build (int8)", "limit_over_build", "int8"),
                            ("int8 speed-up, build", "int8_speedup", "build"),
                            ("int8 speed-up, bare encode", "int8_speedup", "encode")):
        print(f"| {label} | {r[key]['wall'][sub]:.3f} | {r[key]['cpu'][sub]:.3f} |")
    stages = r["build_stages_last_round"].get("build", {})
    if stages:
        print("\nplain build stages (last round): " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    if "profile" in r:
        p = r["profile"]
        print(f"profile: {p['profiled_seconds']:.1f} s, model forward {p['model_call_seconds']:.1f} s, "
              f"outside the model {100 * p['share_outside_model']:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--docs", type=int, default=None, help="only the first N paragraphs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also profile one plain build with cProfile")
    parser.add_argument("--device", default="cpu", help="where the plain variants embed (int8 stays on the CPU)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build.json")
    args = parser.parse_args()
    docs, _ = load_squad(args.squad)
    docs = docs[:args.docs] if args.docs else docs
    with tempfile.TemporaryDirectory() as tmp:
        report = run(docs, args.rounds, Path(tmp), args.device)
        if args.profile:
            report["profile"] = profile_build(docs, Path(tmp))
    print_table(report)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
