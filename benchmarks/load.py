"""Load: 20 simulated users asking real questions of the web chat for 60 seconds, on loopback only.

    python benchmarks/load.py [--users 20] [--seconds 60] [--index DIR]

Starts the app in this process on 127.0.0.1 (a free port) over the seed documents, then runs one
gradio_client per user in threads, each asking questions in a loop until the time is up (bounded: no
request starts after the deadline). Reports requests served, errors, latency p50/p95 and this process's
peak RSS (server and clients together: one model, one index, shared). Writes benchmarks/results/load.json.
"""
from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from common import write_report  # noqa: E402

from qa import Assistant, Settings, open_index  # noqa: E402
from qa.serve.webapp import create_demo  # noqa: E402

QUESTIONS = [
    "What is China's position on Kosovo?",
    "What does China urge Belgrade and Pristina to do?",
    "Which resolution is a legal basis for settling the Kosovo issue?",
    "Who is Wu Haitao?",
    "What does China hope the UN mission in Kosovo will do?",
    "Who won the 2018 World Cup?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user(url: str, deadline: float, latencies: list[float], errors: list[str], seed: int) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    i = seed
    while time.perf_counter() < deadline:
        question = QUESTIONS[i % len(QUESTIONS)]
        i += 1
        started = time.perf_counter()
        try:
            result = client.predict(question, api_name="/chat")
            if not result or "⚠" in str(result)[:200]:
                errors.append(f"bad answer to {question!r}: {str(result)[:120]}")
            else:
                latencies.append(time.perf_counter() - started)
        except Exception as exc:  # every failure counts; the benchmark reports them
            errors.append(f"{type(exc).__name__}: {exc}"[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args()
    index_dir = args.index or Path(tempfile.mkdtemp()) / "index"
    settings = Settings.from_env(index_dir=index_dir, source_dir=ROOT / "seeds")
    index = open_index(settings.source_dir, settings.index_dir, settings)
    demo = create_demo(Assistant(index))
    port = free_port()
    demo.queue(default_concurrency_limit=4).launch(server_name="127.0.0.1", server_port=port,
                                                   prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + args.seconds
    threads = [threading.Thread(target=user, args=(url, deadline, latencies, errors, i)) for i in range(args.users)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 120)
    elapsed = time.perf_counter() - started
    demo.close()
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    report = {"users": args.users, "seconds": elapsed, "served": len(latencies), "errors": len(errors),
              "error_samples": errors[:5], "requests_per_second": len(latencies) / elapsed,
              "latency_p50_ms": float(np.percentile(lat, 50)), "latency_p95_ms": float(np.percentile(lat, 95)),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print("| users | seconds | served | errors | req/s | p50 ms | p95 ms | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.users} | {elapsed:.0f} | {report['served']} | {report['errors']} | "
          f"{report['requests_per_second']:.1f} | {report['latency_p50_ms']:.0f} | {report['latency_p95_ms']:.0f} | "
          f"{report['peak_rss_mb']:.0f} |")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
