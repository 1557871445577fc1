"""The FAISS structure over sentence vectors: which one an index gets, building it, and ranking chunks with it.

Exact search (IndexFlatIP) while it is fast enough; above that, an inverted file (IVF) whose lists hold
8-bit scalar-quantised vectors (a quarter of float32), and above that, product-quantised codes (1/24 of
float32 with the default 64 bytes): at a million chunks (~4.3 million sentence vectors) the 8-bit codes alone
would take 1.6 GB. Approximate candidates are always re-scored with the exact, memory-mapped vectors,
so quantisation only matters when it pushes a true neighbour out of the candidates (benchmarks/scale.py).
"""
from __future__ import annotations

import logging
import mmap
import os
import weakref
from typing import Any

import numpy as np

from qa.retrieve.threads import one_thread
from qa.settings import Settings

log = logging.getLogger(__name__)

_ADD_BLOCK = 65536  # vectors added at a time: a memory-mapped array is never copied whole


def read_ranges(vectors: np.ndarray, ranges: list[tuple[int, int]], fd: int | None = None) -> list[np.ndarray]:
    """``[vectors[a:b] for a, b in ranges]``, read with ``pread`` when ``vectors`` is a memory-mapped file.

    Touching scattered rows of a mapped file maps the surrounding cached pages too (the kernel's fault-around):
    at 4.3M vectors, 200 queries re-scoring 400 rows each left 2.2 GB of the file resident in the process and
    took 11-14 ms a query in page faults. Reading the rows takes ~1 ms and leaves them in the page cache only.
    ``fd`` is the mapped file, opened when the index was loaded (``VectorFile``): reading through it keeps
    working after the file's generation folder is removed. Without it the file is opened by name.
    """
    if not (isinstance(vectors, np.memmap) and isinstance(vectors.base, mmap.mmap) and vectors.filename):
        return [np.asarray(vectors[a:b]) for a, b in ranges]
    dim, dtype = vectors.shape[1], vectors.dtype
    row_bytes = dim * dtype.itemsize
    own = fd is None
    if own:
        fd = os.open(vectors.filename, os.O_RDONLY)
    try:
        blocks = [os.pread(fd, (b - a) * row_bytes, vectors.offset + a * row_bytes) if b > a else b""
                  for a, b in ranges]
    finally:
        if own:
            os.close(fd)
    if any(len(block) != (b - a) * row_bytes for block, (a, b) in zip(blocks, ranges, strict=True)):
        raise OSError(f"{vectors.filename} is shorter than its header says: rebuild the index")
    return [np.frombuffer(block, dtype=dtype).reshape(-1, dim) for block in blocks]


class VectorFile:
    """The memory-mapped sentence vectors of a loaded index and a descriptor of their file, both open for as
    long as this object lives.

    A later build or update publishes a new generation and deletes the old folder; on POSIX an open file
    outlives its name, so an index keeps answering from the generation it was loaded from (its disk space is
    freed when the last reader drops it). Where open files cannot be deleted (Windows), the old folder stays
    until a later publish finds it unused and removes it.
    """

    def __init__(self, path: os.PathLike | str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self.array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        weakref.finalize(self, os.close, fd)


def read_rows(vectors: np.ndarray, rows: np.ndarray, fd: int | None = None) -> np.ndarray:
    """``vectors[rows]`` as a new array, read as ``read_ranges`` does."""
    if not len(rows):
        return np.zeros((0, vectors.shape[1]), vectors.dtype)
    return np.concatenate(read_ranges(vectors, [(r, r + 1) for r in rows.tolist()], fd))


def dense_kind(n_vectors: int, settings: Settings) -> str:
    """Which FAISS structure an index of ``n_vectors`` gets ("auto": the smallest that stays fast)."""
    kind = settings.faiss_index
    if kind == "auto":
        kind = "flat" if n_vectors <= settings.faiss_flat_max else \
            "ivf" if n_vectors <= settings.faiss_sq8_max else "ivfpq"
    return "flat" if n_vectors < 2 else kind  # nothing to cluster or link


def build_dense(vectors: np.ndarray, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The FAISS index over ``vectors`` (inner product), and what the manifest records about it."""
    import faiss

    n, dim = vectors.shape
    kind = dense_kind(n, settings)
    info: dict[str, Any] = {"kind": kind, "metric": "inner_product", "vectors": "sentences", "count": n}
    if kind == "flat":
        dense = faiss.IndexFlatIP(dim)
        info["type"] = "IndexFlatIP"
    elif kind == "hnsw":
        dense = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, settings.faiss_hnsw_m, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = settings.faiss_ef_construction
        dense.train(vectors)  # the 8-bit ranges of each dimension
        info.update(type="IndexHNSWSQ", quantizer="8bit", M=settings.faiss_hnsw_m,
                    efConstruction=settings.faiss_ef_construction, efSearch=settings.faiss_ef_search)
    else:
        dense, details = _build_ivf(kind, vectors, settings)
        info.update(details)
    for start in range(0, n, _ADD_BLOCK):
        dense.add(np.ascontiguousarray(vectors[start:start + _ADD_BLOCK], dtype=np.float32))
    return dense, info


def _build_ivf(kind: str, vectors: np.ndarray, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """A trained, empty IVF index: 8-bit scalar codes ("ivf") or product-quantised codes ("ivfpq")."""
    import faiss

    n, dim = vectors.shape
    nlist = min(settings.faiss_nlist or auto_nlist(n), n)
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "ivfpq":
        m = pq_subquantizers(dim, settings.faiss_pq_m)
        bits = min(8, max(1, int(np.log2(n)) - 2))  # k-means needs more vectors than the 2**bits centroids
        dense = faiss.IndexIVFPQ(quantizer, dim, nlist, m, bits, faiss.METRIC_INNER_PRODUCT)
        dense.pq.cp.min_points_per_centroid = 1  # few vectors give coarse codes, which re-scoring corrects: no warning
        details = {"type": "IndexIVFPQ", "quantizer": f"PQ{m}x{bits}", "code_bytes": (m * bits + 7) // 8}
    else:
        dense = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        details = {"type": "IndexIVFScalarQuantizer", "quantizer": "8bit", "code_bytes": dim}
    dense.cp.seed = 1234  # deterministic clustering: the same vectors give the same index
    dense.cp.min_points_per_centroid = 1  # a tiny index gets one list with a few vectors: no warning
    # k-means cost grows with lists x sample x iterations; 10 iterations place the lists nearly as well as
    # the default 25, and the exact re-scoring makes up the rest (benchmarks/scale.py measures recall).
    dense.cp.niter = 10
    log.info("training FAISS %s with %d lists on %d vectors", details["type"], nlist, n)
    dense.train(_training_sample(vectors, nlist))
    return dense, {**details, "nlist": nlist, "nprobe": settings.faiss_nprobe}


def auto_nlist(n: int) -> int:
    """IVF lists for ``n`` vectors: 4 * sqrt(n), with at least 39 vectors a list for k-means (as txtai does)."""
    return max(1, min(int(4 * np.sqrt(n)), n // 39))


def pq_subquantizers(dim: int, wanted: int) -> int:
    """The largest number of PQ sub-vectors, at most ``wanted``, that divides ``dim`` (FAISS requires it)."""
    return max(m for m in range(1, min(wanted, dim) + 1) if dim % m == 0)


def _training_sample(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """At most 64 vectors per list, evenly spaced: k-means needs no more, and a memory-mapped array stays cold."""
    step = max(1, len(vectors) // (64 * nlist))
    return np.ascontiguousarray(vectors[::step], dtype=np.float32)


def _search_params(dense: Any, settings: Settings, m: int) -> Any:
    """Per-query FAISS parameters from the current settings (None for exact search)."""
    import faiss

    if isinstance(dense, faiss.IndexIVF):
        return faiss.SearchParametersIVF(nprobe=min(settings.faiss_nprobe, dense.nlist))
    if isinstance(dense, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(efSearch=max(settings.faiss_ef_search, m))
    return None


def rank_chunks(dense: Any, vectors: np.ndarray, sentence_chunk: np.ndarray, qvec: np.ndarray, n: int,
                settings: Settings, fd: int | None = None) -> np.ndarray:
    """Chunks ordered by their best sentence's similarity, from the top sentences FAISS returns.

    ``sentence_chunk[row]`` is the chunk of sentence vector ``row``. An approximate FAISS index returns
    candidates with approximate scores: they are re-scored with the exact vectors, so only a sentence
    FAISS misses altogether can change the ranking.
    """
    m = min(len(vectors), max(4 * n, 200))
    params = _search_params(dense, settings, m)
    with one_thread():  # one query: threads would only wait for each other
        _, found = dense.search(qvec[None, :], m, params=params)
    rows = found[0][found[0] >= 0]
    if params is not None and len(rows):
        rows = np.sort(rows)  # in file order
        exact = read_rows(vectors, rows, fd) @ qvec
        rows = rows[np.argsort(-exact, kind="stable")]
    chunks = sentence_chunk[rows]
    _, first = np.unique(chunks, return_index=True)  # rows come best first: first sighting = best
    return chunks[np.sort(first)][:n]
