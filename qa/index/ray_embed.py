"""Embedding chunks on a Ray cluster: Ray Data sends batches to an actor pool, one model per worker.

Only the embedding is distributed; reading, chunking, FAISS, BM25 and publishing stay on the driver, so
the index is the one a local build makes. The driver orders the texts by token count and cuts them into the
same batches as ``Embedder.encode_passages``; each batch is one row of a Ray dataset, embedded by an actor
with ``Embedder._forward``, which is why the vectors equal a local build's (to float rounding).

Ray Data's actor fault tolerance restarts a worker process that dies (a crash, a lost node) and retries its
batch on a live one; an exception raised by our code or the model is not retried and fails the build, which
then publishes nothing.
Ray is an optional extra: ``pip install 'qa[ray]'``.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.errors import ConfigError
from qa.retrieve.embedding import build_embedder, progress_bar
from qa.settings import Settings

log = logging.getLogger(__name__)

LOCAL_OBJECT_STORE = 512 * 1024 * 1024  # bytes: a local Ray only holds batches in flight, not the whole corpus


@dataclass(frozen=True)
class Cluster:
    """How the embedding workers are placed: their number, CPUs each, and whether each has a GPU."""

    workers: int
    cpus_per_worker: int
    gpu: bool


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's data part, checked here rather than mid-build
    except ImportError:
        raise ConfigError("building on Ray needs the ray extra: pip install 'qa[ray]' (Ray with Ray Data)") from None
    return ray


@contextmanager
def connected(address: str) -> Iterator[Any]:
    """Ray, connected to ``address``: ``""`` is a running cluster (RAY_ADDRESS, or one started on this machine with
    ``ray start``) if there is one, else a new local Ray; ``"local"`` is always a new local Ray, with this machine's
    CPUs, no dashboard and a small object store. The connection is closed on leaving (a local Ray stops with it);
    a Ray this process was already connected to is used as it is and left connected.
    """
    ray = import_ray()
    if ray.is_initialized():
        log.info("using the Ray this process is already connected to")
        yield ray
        return
    _init(ray, address)
    try:
        yield ray
    finally:
        ray.shutdown()


def _init(ray: Any, address: str) -> None:
    if address == "":
        try:
            ray.init(address="auto", log_to_driver=False)
            return
        except ConnectionError:
            log.info("no running Ray cluster found: starting a local one")
            address = "local"
    local = {"num_cpus": os.cpu_count(), "include_dashboard": False, "object_store_memory": LOCAL_OBJECT_STORE}
    try:
        ray.init(address=address, log_to_driver=False, **(local if address == "local" else {}))
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r} ({exc}): give the address `ray start "
                          "--head` printed (e.g. ray://HOST:10001 or HOST:6379), or --ray alone for a local Ray") \
            from None


def plan(ray: Any, settings: Settings, workers: int | None) -> Cluster:
    """One worker per GPU when the cluster has GPUs (and the device allows one), else one per CPU; ``workers``
    overrides the number, and CPUs are shared out among them."""
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    gpu = gpus > 0 and settings.device != "cpu" and not settings.quantize
    n = workers or (gpus if gpu else cpus)
    return Cluster(n, max(1, cpus // n) if not gpu else 1, gpu)


class EmbedBatches:
    """A Ray Data actor: loads the model once, then embeds batches of (texts, spans) into sentence vectors."""

    def __init__(self, settings: Settings, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.embedder = build_embedder(settings)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for texts, spans in zip(rows["texts"], rows["spans"], strict=True):
            _, vectors = self.embedder._forward(list(texts), [[tuple(s) for s in t] for t in json.loads(spans)])
            out.append(vectors.tobytes())
        return {"batch": rows["batch"], "vectors": np.array(out, dtype=object)}


def embed_on_ray(texts: list[str], spans: list[list[tuple[int, int]]], settings: Settings, address: str,
                 workers: int | None = None, show_progress: bool = False) -> np.ndarray:
    """The sentence vectors of ``texts`` (in text, then span order), as ``Embedder.encode_passages`` returns them,
    computed by Ray workers. Batches are the local build's: ``settings.batch_size`` texts by token count."""
    local = build_embedder(settings.replace(device="cpu"))  # the tokenizer orders the batches; dimension
    dim = local.dimension
    starts = np.cumsum([0] + [len(s) for s in spans])
    vectors = np.zeros((int(starts[-1]), dim), dtype=np.float32)
    if not texts:
        return vectors
    order = local.batch_order(texts)
    batches = [order[b:b + settings.batch_size] for b in range(0, len(order), settings.batch_size)]
    with connected(address) as ray:
        results = _embedded_batches(ray, texts, spans, batches, settings, workers)
        with progress_bar(len(texts), show_progress) as bar:
            for row in results.iter_rows():
                batch = batches[int(row["batch"])]
                rows_of = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
                vectors[rows_of] = np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, dim)
                bar.update(len(batch))
    return vectors


def _embedded_batches(ray: Any, texts: list[str], spans: list[list[tuple[int, int]]], batches: list[list[int]],
                      settings: Settings, workers: int | None) -> Any:
    """The Ray dataset of embedded batches: rows ``{"batch": i, "vectors": float32 bytes}``, computed lazily."""
    cluster = plan(ray, settings, workers)
    log.info("embedding %d texts in %d batches on Ray: %s", len(texts), len(batches), cluster)
    if settings.device not in ("auto", "cpu") and not cluster.gpu:
        log.warning("device %s asked for, but the Ray cluster has no GPU: its workers embed on their CPUs",
                    settings.device)
    # Ray gives each GPU worker one GPU, which it sees as cuda:0.
    worker_settings = settings.replace(device="cuda" if cluster.gpu else "cpu")
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours instead: one bar, like a local build
    rows = ray.data.from_items([{"batch": i, "texts": [texts[j] for j in batch],
                                 "spans": json.dumps([spans[j] for j in batch])} for i, batch in enumerate(batches)],
                               override_num_blocks=min(len(batches), 64 * cluster.workers))
    return rows.map_batches(
        EmbedBatches, fn_constructor_kwargs={"settings": worker_settings, "threads": cluster.cpus_per_worker},
        batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=cluster.workers),
        num_cpus=cluster.cpus_per_worker, num_gpus=1 if cluster.gpu else 0)
