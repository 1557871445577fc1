"""The same corpus built locally and on a local Ray with 1 and 2 embedding workers, side by side in one run.

    python benchmarks/ray_build.py [--docs 400] [--rounds 1] [--cpus 2] [--device cpu]

Corpus: the first ``--docs`` SQuAD v1.1 dev paragraphs. Variants, interleaved (reversed in every other round):

- "local": ``qa.build_index(docs)``, the model already loaded and warmed up in this process;
- "ray, N workers": ``qa.build_index(docs, ray_address="local", ray_workers=N)`` on a local Ray of ``--cpus``
  CPUs started once before the timings (its start-up is reported on its own). Each build starts its own actor
  pool, so every Ray timing includes the workers loading the model (torch, sentence-transformers): the fixed
  cost a cluster pays once per build. CPUs are shared out among the workers (2 CPUs: one worker with 2 torch
  threads, or two with one each).

On a 2-core machine Ray cannot be faster than a local build, which already uses both cores: this measures
its overhead (start-up, model loading per worker, moving batches through the object store), not a speed-up.
The speed-up comes from more machines (or GPUs), each running one worker. On a shared machine wall time
depends on the CPU share each process gets (two worker processes get a bigger share of a busy machine than
one), so CPU seconds are reported too: this process's, plus the embedding workers' (sampled from ``ps``
every 0.2 s in whole seconds, less what workers of an earlier build still shutting down had used before). Also checks that every Ray build's
vectors equal the local build's to 1e-5. Prints a table and writes benchmarks/results/ray_build.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DEFAULT_SQUAD, RESULTS, write_report  # noqa: E402

from qa import Settings, build_index  # noqa: E402
from qa.eval.evaluation import load_squad  # noqa: E402
from qa.index.ray_embed import LOCAL_OBJECT_STORE, import_ray  # noqa: E402
from qa.retrieve.embedding import build_embedder  # noqa: E402


class WorkerCPU:
    """CPU seconds used by Ray's embedding worker processes while the block runs, sampled from ``ps``."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.before: dict[int, float] = {}  # workers of an earlier build still shutting down: not counted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _workers() -> dict[int, float]:
        out = subprocess.run(["ps", "-eo", "pid,cputimes,args"], capture_output=True, text=True).stdout
        return {int(line.split()[0]): float(line.split()[1]) for line in out.splitlines()
                if "ray::MapWorker(MapBatches(EmbedBatches))" in line}

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for pid, cpu in self._workers().items():
                self.seen[pid] = max(self.seen.get(pid, 0.0), cpu)

    def __enter__(self) -> WorkerCPU:
        self.before = self._workers()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def run(docs: list, rounds: int, cpus: int, settings: Settings) -> dict[str, Any]:
    ray = import_ray()
    build_embedder(settings).encode_passages(["warm up"], [[(0, 4)]])  # the local model loaded outside timings
    build_index(docs[:3], None, settings)  # imports faiss, bm25s, blingfire outside the timings
    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE, log_to_driver=False)
    ray_start = time.perf_counter() - started
    variants = {"local": None, "ray, 1 worker": 1, "ray, 2 workers": 2}
    times: dict[str, list[float]] = {name: [] for name in variants}
    embed: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    max_diff: dict[str, float] = {}
    reference = None
    try:
        for r in range(rounds):
            for name in (list(variants) if r % 2 == 0 else list(reversed(variants))):
                workers = variants[name]
                t, c = time.perf_counter(), time.process_time()
                with WorkerCPU() as workers_cpu:
                    index = build_index(docs, None, settings, ray_address=None if workers is None else "local",
                                        ray_workers=workers)
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c + workers_cpu.seconds)
                embed[name].append(index.report.stages["embed"])
                if workers is None:
                    reference = index.vectors
                else:
                    max_diff[name] = float(np.abs(index.vectors - reference).max()) if reference is not None else -1
                print(f"round {r + 1} {name:15s} {times[name][-1]:7.1f} s (embedding {embed[name][-1]:.1f} s), "
                      f"CPU {cpu[name][-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
    total = {name: sum(ts) for name, ts in times.items()}
    return {"documents": len(docs), "chunks": len(index.chunks), "sentences": int(index.vectors.shape[0]),
            "rounds": rounds, "ray_cpus": cpus, "device": settings.device, "ray_start_s": ray_start,
            "seconds": times, "embed_seconds": embed, "cpu_seconds": cpu, "total_s": total,
            "ratio_to_local": {name: total[name] / total["local"] for name in variants},
            "cpu_ratio_to_local": {name: sum(cpu[name]) / sum(cpu["local"]) for name in variants},
            "load_average_after": list(os.getloadavg()),
            "max_abs_vector_difference_to_local": max_diff, "ray_version": ray.__version__}


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{r['documents']} documents, {r['chunks']} chunks, {r['sentences']} sentence vectors; local Ray of "
          f"{r['ray_cpus']} CPUs started in {r['ray_start_s']:.1f} s (not in the builds' times)\n")
    print("| variant | build s (sum of rounds) | of which embedding s | build time / local | CPU s | CPU / local |")
    print("|---|---|---|---|---|---|")
    for name, total in r["total_s"].items():
        print(f"| {name} | {total:.1f} | {sum(r['embed_seconds'][name]):.1f} | {r['ratio_to_local'][name]:.2f} | "
              f"{sum(r['cpu_seconds'][name]):.1f} | {r['cpu_ratio_to_local'][name]:.2f} |")
    print(f"\nload average after the run: {', '.join(f'{x:.1f}' for x in r['load_average_after'])}")
    print("\nlargest difference from the local vectors: "
          + ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_vector_difference_to_local"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--docs", type=int, default=400, help="the first N paragraphs")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--device", default="cpu", help="where the local build and the workers embed")
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_build.json")
    args = parser.parse_args()
    docs, _ = load_squad(args.squad)
    report = run(docs[:args.docs], args.rounds, args.cpus, Settings(device=args.device))
    print_table(report)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
