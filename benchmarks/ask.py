"""`Assistant.ask` latency at 10k chunks, stage by stage, and the cold start of `python app.py`.

    python benchmarks/ask.py [--chunks 10000] [--questions 200] [--cache DIR] [--no-cold-start] [--ranker FOLDER]
                              [--ranker-weights W ...]

The index: SQuAD v1.1 dev (2,067 paragraphs, ~2,300 chunks with the default settings) is built once (kept
in ``--cache`` for later runs), then its documents are repeated under new ids until there are ``--chunks``
chunks. The copies reuse the vectors of their originals (embedding the same text again would give the
same vectors), so FAISS holds ~4.4x the sentence vectors and BM25 ~4.4x the chunks; the copy is saved and
loaded back as ``qa.load_index`` does (vectors memory-mapped), default settings throughout.

Each of the first ``--questions`` SQuAD questions is asked twice, alternately: once through ``ask()``
(end to end), once stage by stage calling the same steps ``Index.retrieve`` and ``Assistant.ask`` run:
embed the query, dense search (FAISS + best sentence per chunk), BM25 (score every chunk, top 100),
fusion (exact cosines of the candidates, score fusion, hits), answer (sentence scoring, quotes, citations).

With history: the questions are asked in order as one conversation, each with the last ``--turns`` (10)
earlier turns as chat messages (questions and the assistant's own answers, as the web chat passes them), and
alone, alternately; p50 of both and their ratio, counted once the history is full. Consecutive SQuAD
questions are about the same article, like a conversation.

Variants: ``ask()`` with the defaults and with each of ``VARIANTS`` (the quotes ordered by the evidence alone;
Rocchio feedback on; with ``--ranker``, a quote ranker), round-robin on the same index; p50 of each and its
ratio to the defaults'.

Cold start: ``python app.py`` with the seed index already built, timed from the spawn until the port
answers HTTP, then until the first answer comes back through the chat API (gradio_client).

Prints tables and writes benchmarks/results/ask.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from common import DEFAULT_SQUAD, write_report  # noqa: E402

from qa import Settings, build_index, load_index  # noqa: E402
from qa.answer.assistant import Assistant  # noqa: E402
from qa.eval.evaluation import load_squad  # noqa: E402
from qa.index.index import Index  # noqa: E402
from qa.retrieve.dense import build_dense  # noqa: E402
from qa.retrieve.fusion import top_fused
from qa.retrieve.ranking import CANDIDATES, Candidates, bm25_with_title, fuse, top_rows  # noqa: E402

STAGES = ("embed query", "dense search", "bm25", "fusion", "answer")


def base_index(squad: Path, cache: Path) -> Index:
    settings = Settings()
    try:
        return load_index(cache, settings)
    except Exception:  # noqa: BLE001 - missing or stale cache: build it
        docs, _ = load_squad(squad)
        return build_index(docs, cache, settings, show_progress=True)


def repeated(base: Index, n_chunks: int, folder: Path) -> Index:
    """``base`` with its documents repeated under new ids until it has ``n_chunks`` chunks; vectors reused."""
    docs, chunks, parts = [], [], []
    copy = 0
    while len(chunks) < n_chunks:
        for i, chunk in enumerate(base.chunks):
            if len(chunks) == n_chunks:
                break
            doc_id = f"{chunk.doc_id}#{copy}"
            if not chunks or chunks[-1].doc_id != doc_id:
                doc = base.documents[chunk.doc_id]
                docs.append(dataclasses.replace(doc, id=doc_id, metadata=dict(doc.metadata)))
            chunks.append(dataclasses.replace(chunk, id=f"{chunk.id}-{copy}", doc_id=doc_id))
            parts.append(base.vectors[base.sentence_ptr[i]:base.sentence_ptr[i + 1]])
        copy += 1
    docs = list({d.id: d for d in docs}.values())
    vectors = np.ascontiguousarray(np.concatenate(parts))
    dense, info = build_dense(vectors, base.settings)
    manifest = {**base.manifest, "documents": {d.id: d.content_hash for d in docs}, "faiss": info,
                "counts": {"documents": len(docs), "chunks": len(chunks)}}
    index = Index(base.settings, docs, chunks, vectors, manifest, dense=dense)
    index.save(folder)
    return load_index(folder, base.settings)


def staged(index: Index, assistant: Assistant, question: str) -> dict[str, tuple[float, float]]:
    """The steps of ``Assistant.ask`` (via ``Index.retrieve``), timed one by one: (wall ms, thread CPU ms)."""
    k = assistant.k
    times: dict[str, tuple[float, float]] = {}
    clock = time.perf_counter(), time.thread_time()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter(), time.thread_time()
        times[stage] = 1000 * (now[0] - clock[0]), 1000 * (now[1] - clock[1])
        clock = now

    question = assistant.check_question(question)
    qvec = index.embedder.encode_query(question)
    lap("embed query")
    n = min(max(CANDIDATES, k), len(index.chunks))
    dense_idx = index.dense_ranking(qvec, n)
    lap("dense search")
    bm25_scores = bm25_with_title(index, question)
    bm25_idx = top_rows(bm25_scores, n)
    lap("bm25")
    cosines = index.chunk_similarities(sorted({*dense_idx.tolist(), *bm25_idx.tolist()}), qvec)
    fused = top_fused(fuse(Candidates(dense_idx, bm25_idx, bm25_scores, cosines), index.settings), k)
    hits = [index.hit(i, score, rank, cosines[i], float(bm25_scores[i]))
            for rank, (i, score) in enumerate(fused, start=1)]
    lap("fusion")
    assistant.answer(question, hits[:k], qvec)
    lap("answer")
    return times


def latency(index: Index, questions: list[str]) -> dict[str, Any]:
    assistant = Assistant(index)
    for q in questions[:5]:  # warm up: first calls pay for lazy imports and caches
        assistant.ask(q)
        staged(index, assistant, q)
    total: dict[str, list[float]] = {"wall": [], "cpu": []}
    stages: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in STAGES}
    for q in questions:
        wall, cpu = time.perf_counter(), time.thread_time()
        assistant.ask(q)
        total["wall"].append(1000 * (time.perf_counter() - wall))
        total["cpu"].append(1000 * (time.thread_time() - cpu))
        for stage, (ms, cpu_ms) in staged(index, assistant, q).items():
            stages[stage]["wall"].append(ms)
            stages[stage]["cpu"].append(cpu_ms)

    def summary(xs: list[float]) -> dict[str, float]:
        return {"p50": float(np.percentile(xs, 50)), "p95": float(np.percentile(xs, 95)), "mean": float(np.mean(xs))}

    return {"ask": {kind: summary(xs) for kind, xs in total.items()},
            "stages_ms": {s: {kind: summary(xs) for kind, xs in v.items()} for s, v in stages.items()},
            "questions": len(questions)}


def history_latency(index: Index, questions: list[str], turns: int = 10) -> dict[str, Any]:
    """``ask(q)`` and ``ask(q, history=<last `turns` turns>)`` timed alternately, once the history is full."""
    assistant = Assistant(index)
    messages: list[dict[str, str]] = []
    alone: list[float] = []
    with_history: list[float] = []
    for n, q in enumerate(questions):
        history = messages[-2 * turns:]
        timed = []
        for use in ((True, False) if n % 2 else (False, True)):
            started = time.perf_counter()
            answer = assistant.ask(q, history=history if use else None)
            timed.append((use, 1000 * (time.perf_counter() - started), answer))
        if len(history) == 2 * turns:
            for use, ms, _ in timed:
                (with_history if use else alone).append(ms)
        answer = next(a for use, _, a in timed if use)
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": answer.text}]
    p50 = {"alone": float(np.percentile(alone, 50)), "history": float(np.percentile(with_history, 50))}
    return {"turns": turns, "questions": len(alone), "p50_ms": p50, "ratio": p50["history"] / p50["alone"],
            "p95_ms": {"alone": float(np.percentile(alone, 95)), "history": float(np.percentile(with_history, 95))}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cold_start(tmp: Path, timeout: float = 180) -> dict[str, Any]:
    """Seconds from spawning ``python app.py`` (seed index built) to the port answering, and to a first answer."""
    settings = Settings(index_dir=tmp / "seed-index")
    build_index(ROOT / "seeds", settings.index_dir, settings)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_INDEX_DIR=str(settings.index_dir), QA_SOURCE_DIR=str(ROOT / "seeds"), QA_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            if time.perf_counter() - started > timeout or proc.poll() is not None:
                raise RuntimeError(f"app.py did not answer on {url} within {timeout:.0f} s")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        serving = time.perf_counter() - started
        from gradio_client import Client

        client = Client(url, verbose=False)
        client.predict("What is China's position on Kosovo?", api_name="/chat")
        first_answer = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"port_answers_seconds": serving, "first_answer_seconds": first_answer}


def print_tables(r: dict[str, Any]) -> None:
    if "ask" in r:
        print_stages(r)
    if r.get("history"):
        h = r["history"]
        print(f"\nask() with a {h['turns']}-turn history vs alone ({h['questions']} questions): p50 "
              f"{h['p50_ms']['history']:.1f} ms vs {h['p50_ms']['alone']:.1f} ms (ratio {h['ratio']:.2f}); p95 "
              f"{h['p95_ms']['history']:.1f} ms vs {h['p95_ms']['alone']:.1f} ms")
    if r.get("variants"):
        v = r["variants"]
        print(f"\nask() p50 with the defaults and variants, asked round-robin ({v['questions']} questions each):\n")
        print("| settings | p50 ms | ratio to the defaults |\n|---|---|---|")
        for name, ms in v["p50_ms"].items():
            print(f"| {name} | {ms:.1f} | {v['ratio_to_defaults'][name]:.2f} |")
    if r.get("cold_start"):
        c = r["cold_start"]
        print(f"\ncold start of `python app.py` (seed index built): port answers after {c['port_answers_seconds']:.1f} s, "
              f"first answer after {c['first_answer_seconds']:.1f} s")


def print_stages(r: dict[str, Any]) -> None:
    a = r["ask"]
    print(f"\nask() at {r['chunks']:,} chunks ({r['sentence_vectors']:,} sentence vectors, FAISS "
          f"{r['faiss']}), {a['questions']} SQuAD questions, one process; load average {r['load_average'][0]:.1f} "
          f"on {r['cores']} cores. Thread CPU = CPU time of the asking thread (torch and FAISS run on it).\n")
    print("| stage | wall p50 ms | wall p95 ms | thread CPU p50 ms | thread CPU p95 ms |")
    print("|---|---|---|---|---|")
    rows = [*a["stages_ms"].items(), ("ask() end to end", a["ask"])]
    for stage, s in rows:
        print(f"| {stage} | {s['wall']['p50']:.2f} | {s['wall']['p95']:.2f} | {s['cpu']['p50']:.2f} | "
              f"{s['cpu']['p95']:.2f} |")


# Compared with the defaults in one run, asked alternately (the machine's speed drifts between runs).
VARIANTS: dict[str, dict[str, Any]] = {
    "quotes by the evidence alone (no choice score, no handover)": {"quote_order": "evidence",
                                                                    "quote_handover": False},
    "with Rocchio feedback (QA_ROCCHIO_WEIGHT=0.4, off by default)": {"rocchio_weight": 0.4},
}


def variant_latency(index: Index, questions: list[str]) -> dict[str, Any]:
    """``ask(q)`` with the defaults and with each of ``VARIANTS``, round-robin on the same index: p50 of each
    and its ratio to the defaults'."""
    default = index.settings
    settings = {"defaults": default, **{name: dataclasses.replace(default, **change)
                                        for name, change in VARIANTS.items()}}
    times: dict[str, list[float]] = {name: [] for name in settings}
    assistant = Assistant(index)
    names = list(settings)
    for n, q in enumerate(questions):
        for name in names[n % len(names):] + names[:n % len(names)]:
            index.settings = settings[name]
            started = time.perf_counter()
            assistant.ask(q)
            times[name].append(1000 * (time.perf_counter() - started))
    index.settings = default
    p50 = {name: float(np.percentile(xs, 50)) for name, xs in times.items()}
    return {"questions": len(questions), "p50_ms": p50,
            "ratio_to_defaults": {name: p50[name] / p50["defaults"] for name in p50}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench-squad-index",
                        help="where the SQuAD index is kept between runs")
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--history-only", action="store_true", help="only the history comparison (no stages)")
    parser.add_argument("--ranker", help="also time ask() with this quote ranker (a CrossEncoder folder, or bundled)")
    parser.add_argument("--ranker-weights", type=float, nargs="+", help="its ranker_weight (several: a row each; "
                        "a larger weight leaves fewer candidates unscored)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ask.json")
    args = parser.parse_args()
    for weight in (args.ranker_weights or [Settings().ranker_weight]) if args.ranker else ():
        VARIANTS[f"quote ranker {args.ranker} (QA_RANKER), weight {weight:g}"] = {"ranker": args.ranker,
                                                                                 "ranker_weight": weight}
    _, questions = load_squad(args.squad)
    with tempfile.TemporaryDirectory() as tmp:
        index = repeated(base_index(args.squad, args.cache), args.chunks, Path(tmp) / "index")
        if args.history_only:  # keep the other figures of the last full run
            report = json.loads(args.out.read_text()) if args.out.is_file() else {}
            report["history"] = history_latency(index, [q.text for q in questions[:args.questions]])
            report["history"]["load_average"] = os.getloadavg()
            print_tables({"history": report["history"]})
            write_report(report, args.out)
            return
        report: dict[str, Any] = {"chunks": len(index.chunks), "sentence_vectors": int(len(index.vectors)),
                                  "faiss": index.manifest["faiss"]["type"],
                                  "ask": latency(index, [q.text for q in questions[:args.questions]]),
                                  "cores": os.cpu_count()}
        report["history"] = history_latency(index, [q.text for q in questions[:args.questions]])
        report["variants"] = variant_latency(index, [q.text for q in questions[:args.questions]])
        report["load_average"] = os.getloadavg()
        if not args.no_cold_start:
            report["cold_start"] = cold_start(Path(tmp))
    print_tables(report)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
