"""Dense and BM25 search at 10k, 100k and 1M chunks, on synthetic data, each size in fresh processes.

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--kind auto] [--queries 200]

What a chunk is here: as in a real index, SEVERAL sentence vectors and ONE BM25 document. qa searches
sentence vectors and ranks a chunk by its best sentence; the SQuAD dev index has 4.26 sentences a chunk, so
each synthetic chunk gets 1 + Poisson(3.3) vectors (4.3 on average): 1M chunks is ~4.3M vectors. The data:

- vectors: 384-dimensional unit vectors with two levels of cluster structure, like topics and sub-topics:
  ``normalize(topic + 0.7 * subtopic + 0.5 * noise)`` with 1,000 topics, 20 consecutive vectors (~5 chunks)
  a sub-topic, every direction a random unit vector (seeded). Queries are new vectors drawn the same way,
  so each has a handful of close neighbours in its sub-topic and many looser ones in its topic;
- texts: 60-100 content words a chunk (what is left of ~1000 characters after stop words), drawn from a
  100,000-word vocabulary with a Zipf (s = 1.0) distribution; queries have 5 words drawn the same way.
  The words are made-up strings the stemmer leaves alone. The BM25 arrays are computed with numpy using
  bm25s's own formulas (method "lucene"), because tokenising 1M texts through bm25s would take most of
  the run; at the smallest size they are checked against an index built by bm25s itself. Queries go
  through qa.retrieve.bm25.BM25Index (tokenise, stem, score every chunk), then the top 100 are selected as
  Index.retrieve does.

For each size a first subprocess generates the data, writes vectors.npy, builds the FAISS structure with
qa.retrieve.dense.build_dense (timed; the kind "auto" picks for that many vectors) and BM25, saves them as an index
does, and computes the exact top 10 chunks of each query (brute force over every vector, best sentence a
chunk). A second, fresh subprocess loads them as load_index does (vectors memory-mapped), then times dense
search through qa.retrieve.dense.rank_chunks (FAISS search for 400 sentences, exact re-scoring, best sentence a
chunk) and BM25, and reports recall@10 of chunks against the exact top 10 and its peak RSS (ru_maxrss):
the cost of serving. Not included: the chunk and document texts a real Index also holds in memory.

Prints a table and writes benchmarks/results/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import write_report  # noqa: E402

DIM = 384
TOPICS = 1000
PER_SUBTOPIC = 20
SENTENCES_MEAN = 4.3  # sentence vectors a chunk, on average
VOCAB = 100_000
BLOCK = 100_000


# Synthetic data

def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_vectors(n: int, rows: np.ndarray, seed: int) -> np.ndarray:
    """Vectors for the given sub-topic ``rows``; topic and sub-topic directions come from fixed seeds."""
    n_sub = max(1, -(-n // PER_SUBTOPIC))  # rounded up: the last sub-topic may be partial
    topics = unit(np.random.default_rng(1), TOPICS)
    subtopics = unit(np.random.default_rng(2), n_sub)
    topic_of = np.random.default_rng(3).integers(0, TOPICS, n_sub)
    x = topics[topic_of[rows]] + 0.7 * subtopics[rows] + 0.5 * unit(np.random.default_rng(seed), len(rows))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def vocabulary() -> list[str]:
    """VOCAB made-up lower-case words that the stemmer leaves as they are (none is an English stop word)."""
    from qa.retrieve.bm25 import _stemmer

    rng = np.random.default_rng(4)
    n = 3 * VOCAB
    consonants = np.array(list("bdfgklmnprtvz"))[rng.integers(0, 13, (n, 5))]
    vowels = np.array(list("aiou"))[rng.integers(0, 4, (n, 4))]
    syllables = np.char.add(consonants[:, :4], vowels)
    candidates = ["".join(row[:length]) + last for row, length, last in
                  zip(syllables.tolist(), rng.integers(2, 5, n).tolist(), consonants[:, 4].tolist(), strict=True)]
    stems = _stemmer().stemWords(candidates)
    words = list(dict.fromkeys(w for w, stem in zip(candidates, stems, strict=True) if w == stem))
    assert len(words) >= VOCAB, len(words)
    return words[:VOCAB]


def zipf_terms(rng: np.random.Generator, n: int) -> np.ndarray:
    cdf = np.cumsum(1.0 / np.arange(1, VOCAB + 1))
    return np.searchsorted(cdf / cdf[-1], rng.random(n)).astype(np.int32)


def bm25_arrays(n: int, k1: float = 1.5, b: float = 0.75) -> dict[str, Any]:
    """The arrays bm25s stores for ``n`` synthetic chunks (CSC: one column of chunk scores per term)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(5)
    lengths = rng.integers(60, 101, n)
    docs, terms, tfs = [], [], []
    for start in range(0, n, BLOCK):
        lens = lengths[start:start + BLOCK]
        doc = np.repeat(np.arange(start, start + len(lens), dtype=np.int64), lens)
        pairs, tf = np.unique(doc * VOCAB + zipf_terms(rng, int(lens.sum())), return_counts=True)
        docs.append((pairs // VOCAB).astype(np.int32))
        terms.append((pairs % VOCAB).astype(np.int32))
        tfs.append(tf.astype(np.float32))
    doc, term, tf = np.concatenate(docs), np.concatenate(terms), np.concatenate(tfs)
    df = np.bincount(term, minlength=VOCAB)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)  # bm25s idf "lucene"
    l_d = lengths[doc].astype(np.float32)
    score = idf[term] * tf / (k1 * ((1 - b) + b * l_d / lengths.mean()) + tf)  # bm25s tfc "lucene"
    matrix = sp.csc_matrix((score, (doc, term)), shape=(n, VOCAB), dtype=np.float32)
    return {"data": matrix.data, "indices": matrix.indices.astype(np.int32), "indptr": matrix.indptr,
            "num_docs": n, "lengths": lengths, "doc": doc, "term": term, "tf": tf}


def save_bm25(arrays: dict[str, Any], words: list[str], folder: Path) -> None:
    _bm25_from(arrays, words)._retriever.save(str(folder), allow_pickle=False)


def check_bm25_against_bm25s(arrays: dict[str, Any], words: list[str], queries: list[str]) -> float:
    """Largest score difference between our arrays and an index bm25s builds from the same texts."""
    from qa.retrieve.bm25 import BM25Index

    n = arrays["num_docs"]
    texts = [[] for _ in range(n)]
    for d, t, f in zip(arrays["doc"].tolist(), arrays["term"].tolist(), arrays["tf"].tolist(), strict=True):
        texts[d] += [words[t]] * int(f)
    pad = arrays["lengths"] - np.array([len(t) for t in texts])
    assert not pad.any(), "every drawn term is counted"
    real = BM25Index.build([" ".join(t) for t in texts])
    ours = _bm25_from(arrays, words)
    return max(float(np.abs(real.scores(q) - ours.scores(q)).max()) for q in queries)


def _bm25_from(arrays: dict[str, Any], words: list[str]) -> Any:
    import bm25s

    from qa.retrieve.bm25 import BM25Index

    retriever = bm25s.BM25()
    retriever.scores = {k: arrays[k] for k in ("data", "indices", "indptr", "num_docs")}
    retriever.vocab_dict = {w: i for i, w in enumerate(words)}
    retriever.unique_token_ids_set = set(retriever.vocab_dict.values())
    retriever.nonoccurrence_array = None  # method "lucene" has none
    return BM25Index(retriever)


def query_texts(words: list[str], n: int) -> list[str]:
    rng = np.random.default_rng(6)
    return [" ".join(words[t] for t in zipf_terms(rng, 5)) for _ in range(n)]


def sentence_counts(n_chunks: int) -> np.ndarray:
    """Sentence vectors of each chunk: 1 + Poisson(SENTENCES_MEAN - 1), seeded."""
    return 1 + np.random.default_rng(9).poisson(SENTENCES_MEAN - 1, n_chunks)


def query_vectors(n_vectors: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return make_vectors(n_vectors, rng.integers(0, max(1, -(-n_vectors // PER_SUBTOPIC)), n), seed=8)


# The two subprocesses

def child_build(n: int, kind: str, folder: Path, n_queries: int) -> dict[str, Any]:
    import faiss

    from qa.retrieve.dense import build_dense
    from qa.settings import Settings

    started = time.perf_counter()
    counts = sentence_counts(n)
    n_vectors = int(counts.sum())
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(n_vectors, DIM))
    rows = np.arange(n_vectors) // PER_SUBTOPIC
    for start in range(0, n_vectors, BLOCK):
        vectors[start:start + BLOCK] = make_vectors(n_vectors, rows[start:start + BLOCK], seed=10 + start // BLOCK)
    vectors.flush()
    np.save(folder / "counts.npy", counts)
    queries = query_vectors(n_vectors, n_queries)
    generate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    dense, info = build_dense(vectors, Settings(faiss_index=kind))
    faiss_seconds = time.perf_counter() - started
    faiss.write_index(dense, str(folder / "dense.faiss"))
    del dense

    np.save(folder / "queries.npy", queries)
    np.save(folder / "exact.npy", exact_top_chunks(vectors, counts, queries))
    flat = faiss.IndexFlatIP(DIM)
    for start in range(0, n_vectors, BLOCK):
        flat.add(np.ascontiguousarray(vectors[start:start + BLOCK]))
    flat_ms = [_ms(lambda q=q: flat.search(q[None, :], 400)) for q in queries[:30]]
    del flat

    started = time.perf_counter()
    words = vocabulary()
    arrays = bm25_arrays(n)
    save_bm25(arrays, words, folder / "bm25")
    bm25_seconds = time.perf_counter() - started
    texts = query_texts(words, n_queries)
    (folder / "bm25_queries.json").write_text(json.dumps(texts))
    check = check_bm25_against_bm25s(arrays, words, texts[:20]) if n <= 10_000 else None
    return {"vectors": n_vectors, "faiss": info, "generate_seconds": generate_seconds,
            "faiss_build_seconds": faiss_seconds, "bm25_build_seconds": bm25_seconds,
            "bm25_max_score_difference_vs_bm25s": check, "flat_exact_search_p50_ms": float(np.percentile(flat_ms, 50)),
            "build_peak_rss_mb": _peak_rss_mb()}


def exact_top_chunks(vectors: np.ndarray, counts: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """The ``k`` best chunks of each query by brute force: every sentence's cosine, best sentence a chunk."""
    starts = np.concatenate([[0], np.cumsum(counts)])
    best_ids = np.zeros((len(queries), 0), np.int64)
    best = np.zeros((len(queries), 0), np.float32)
    per_block = max(1, BLOCK // int(np.ceil(SENTENCES_MEAN)))
    for first in range(0, len(counts), per_block):  # blocks of whole chunks
        last = min(len(counts), first + per_block)
        block = np.asarray(vectors[starts[first]:starts[last]])
        scores = np.maximum.reduceat(queries @ block.T, starts[first:last] - starts[first], axis=1)
        top = np.argsort(-scores, axis=1)[:, :k]
        ids = np.concatenate([best_ids, top + first], axis=1)
        sims = np.concatenate([best, np.take_along_axis(scores, top, axis=1)], axis=1)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        best_ids, best = np.take_along_axis(ids, order, axis=1), np.take_along_axis(sims, order, axis=1)
    return best_ids


def child_serve(folder: Path) -> dict[str, Any]:
    import bm25s  # noqa: F401 - imported before the clock starts, as faiss is
    import faiss

    from qa.retrieve.bm25 import BM25Index
    from qa.retrieve.dense import rank_chunks
    from qa.retrieve.ranking import top_rows as _top
    from qa.settings import Settings
    started = time.perf_counter()
    vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
    dense = faiss.read_index(str(folder / "dense.faiss"))
    bm25 = BM25Index.load(folder / "bm25")
    load_seconds = time.perf_counter() - started
    counts = np.load(folder / "counts.npy")
    sentence_chunk = np.repeat(np.arange(len(counts)), counts)  # as Index holds it
    settings = Settings()
    queries, exact = np.load(folder / "queries.npy"), np.load(folder / "exact.npy")
    texts = json.loads((folder / "bm25_queries.json").read_text())
    rank_chunks(dense, vectors, sentence_chunk, queries[0], 100, settings)
    bm25.scores(texts[0])  # first calls warm caches
    ms: dict[str, list[float]] = {"dense": [], "dense_cpu": [], "bm25": [], "bm25_cpu": []}
    recalls = []
    for q, truth, text in zip(queries, exact, texts, strict=True):
        wall, cpu = time.perf_counter(), time.thread_time()  # thread CPU: the search runs on this thread
        ranked = rank_chunks(dense, vectors, sentence_chunk, q, 100, settings)
        ms["dense"].append(1000 * (time.perf_counter() - wall))
        ms["dense_cpu"].append(1000 * (time.thread_time() - cpu))
        recalls.append(len(set(ranked[:10].tolist()) & set(truth.tolist())) / 10)
        wall, cpu = time.perf_counter(), time.thread_time()
        _top(bm25.scores(text), 100)
        ms["bm25"].append(1000 * (time.perf_counter() - wall))
        ms["bm25_cpu"].append(1000 * (time.thread_time() - cpu))
    pct = {f"{name}_p{p}_ms": float(np.percentile(xs, p)) for name, xs in ms.items() for p in (50, 95)}
    return {"load_seconds": load_seconds, "recall@10": float(np.mean(recalls)), **pct,
            "serve_peak_rss_mb": _peak_rss_mb(), **_rss_now_mb(), "queries": len(queries),
            "load_average": os.getloadavg()[0]}


def _ms(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - started)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _rss_now_mb() -> dict[str, float]:
    """Resident memory at the end, split: anonymous (the process's own) and file-backed (pages of memory-mapped
    files such as vectors.npy, which the kernel can drop and read again)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {f"serve_{key.lower()}_mb": int(fields[key].split()[0]) / 1024 for key in ("RssAnon", "RssFile")
            if key in fields}


def _size_mb(folder: Path) -> dict[str, float]:
    sizes = {"vectors.npy": (folder / "vectors.npy").stat().st_size, "dense.faiss": (folder / "dense.faiss").stat().st_size,
             "bm25": sum(p.stat().st_size for p in (folder / "bm25").rglob("*") if p.is_file())}
    return {k: v / 2**20 for k, v in sizes.items()}


# The parent

def run_size(n: int, kind: str, n_queries: int, root: Path, keep: bool) -> dict[str, Any]:
    """Build (unless ``keep`` and a build of this size is already in ``root``), then serve, in fresh processes."""
    folder = root / f"n{n}"
    built_file = folder / "built.json"
    me = [sys.executable, __file__]
    if keep and built_file.is_file():
        built = json.loads(built_file.read_text())
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        built = _child([*me, "--child", "build", "--size", str(n), "--kind", kind, "--dir", str(folder),
                        "--queries", str(n_queries)])
        built_file.write_text(json.dumps(built))
    served = _child([*me, "--child", "serve", "--dir", str(folder)])
    result = {"chunks": n, **built, **served, "disk_mb": _size_mb(folder)}
    if not keep:
        shutil.rmtree(folder)
    return result


def _child(cmd: list[str]) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| chunks | sentence vectors | FAISS | FAISS build s | recall@10 | dense p50 / p95 ms (thread CPU p50) "
          "| exact flat p50 ms | BM25 p50 / p95 ms (thread CPU p50) | disk MB (vectors, faiss, bm25) | load s "
          "| serving peak RSS MB (anonymous at the end) | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f, d = r["faiss"], r["disk_mb"]
        params = f" {f['quantizer']}, nlist {f['nlist']}, nprobe {f['nprobe']}" if f["kind"] in ("ivf", "ivfpq") else \
            f", M {f['M']}, efSearch {f['efSearch']}" if f["kind"] == "hnsw" else ""
        print(f"| {r['chunks']:,} | {r['vectors']:,} | {f['type']}{params} | {r['faiss_build_seconds']:.1f} | {r['recall@10']:.3f} | "
              f"{r['dense_p50_ms']:.1f} / {r['dense_p95_ms']:.1f} ({r.get('dense_cpu_p50_ms', float('nan')):.1f}) | "
              f"{r['flat_exact_search_p50_ms']:.1f} | {r['bm25_p50_ms']:.1f} / {r['bm25_p95_ms']:.1f} "
              f"({r.get('bm25_cpu_p50_ms', float('nan')):.1f}) | {d['vectors.npy']:.0f}, {d['dense.faiss']:.0f}, "
              f"{d['bm25']:.0f} | {r['load_seconds']:.2f} | {r['serve_peak_rss_mb']:.0f} ({r.get('serve_rssanon_mb', float('nan')):.0f}) | "
              f"{r.get('load_average', float('nan')):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kind", default="auto", help="Settings.faiss_index for every size")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--keep", type=Path, help="keep each size's data in this folder, and reuse a build found "
                        "there (only the serving half runs again)")
    parser.add_argument("--child", choices=["build", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        print(json.dumps(child_build(args.size, args.kind, args.dir, args.queries)))
        return
    if args.child == "serve":
        print(json.dumps(child_serve(args.dir)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            started = time.perf_counter()
            rows.append(run_size(n, args.kind, args.queries, args.keep or Path(tmp), keep=args.keep is not None))
            print(f"{n:,} chunks done in {time.perf_counter() - started:.0f} s", flush=True)
    print_table(rows)
    report = {"sizes": rows, "kind": args.kind, "what_a_chunk_is": f"1 + Poisson({SENTENCES_MEAN - 1:g}) sentence vectors and one BM25 document",
              "data": "synthetic: see the docstring of benchmarks/scale.py"}
    write_report(report, args.out)


if __name__ == "__main__":
    main()
