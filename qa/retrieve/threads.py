"""Running torch and FAISS on one thread for tiny inputs, such as one query."""
from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_inside = 0  # callers inside one_thread(), across threads
_saved: dict[str, int] = {}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch and FAISS on one thread inside the block.

    Splitting one query's work across threads gains little, and on a busy machine the threads wait for
    each other: one query's embedding took 2.1-3.1 s with two threads and 0.21-0.32 s with one while the
    load was ~12 on 2 cores; exact search over 100k vectors 184-195 ms against 103-119 ms. Thread counts
    are per process, so nested and concurrent blocks share a count and the last one out restores them;
    a passage batch encoded meanwhile also runs on one thread. Only libraries already imported are touched.
    """
    global _inside
    with _lock:
        if _inside == 0:
            _saved.clear()
            _saved.update(_counts())
            _set({name: 1 for name in _saved})
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _set(_saved)


def _counts() -> dict[str, int]:
    counts = {}
    if "torch" in sys.modules:
        counts["torch"] = sys.modules["torch"].get_num_threads()
    if "faiss" in sys.modules:
        counts["faiss"] = sys.modules["faiss"].omp_get_max_threads()
    return counts


def _set(counts: dict[str, int]) -> None:
    if "torch" in counts:
        sys.modules["torch"].set_num_threads(counts["torch"])
    if "faiss" in counts:
        sys.modules["faiss"].omp_set_num_threads(counts["faiss"])
