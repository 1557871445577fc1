"""Building and updating an index from a folder or from in-memory documents."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import (
    ConfigError,
    DocumentError,
    EmptyCorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    QAError,
)
from qa.index import store
from qa.index.index import FORMAT_VERSION, Index, load_index
from qa.ingest.chunking import Chunk, chunk_documents, chunk_input
from qa.ingest.documents import (
    SUPPORTED_SUFFIXES,
    Document,
    Skipped,
    file_hash,
    iter_documents,
    list_files,
    load_folder,
)
from qa.retrieve.bm25 import BM25Index
from qa.retrieve.dense import build_dense
from qa.retrieve.embedding import build_embedder, resolve_device
from qa.settings import Settings

log = logging.getLogger(__name__)

Source = str | Path | Iterable[Document | dict[str, Any]]


@dataclass
class BuildReport:
    """What a build or update did."""

    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks sent to the model
    reused: int = 0  # chunks whose vectors came from the previous index
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, in the order they ran


class _Clock:
    """Seconds spent in each stage of a build, for the report and the benchmarks."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self._last
        self._last = now


@dataclass(frozen=True)
class RayTarget:
    """Embed on Ray (``qa.index.ray_embed``): the cluster's address ("" for ``ray.init()``'s default, "local" for a new
    local Ray) and the number of workers (None: one per GPU, else one per CPU)."""

    address: str = ""
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"ray_workers must be at least 1, got {self.workers}")


def build_index(source: Source, index_dir: str | Path | None = None, settings: Settings | None = None,
                show_progress: bool = False, reuse: bool = False, ray_address: str | None = None,
                ray_workers: int | None = None) -> Index:
    """Index a folder (or Documents) and save it to ``index_dir`` atomically, if given.

    With ``reuse``, vectors of unchanged chunks are taken from the index already in ``index_dir``
    so only new or changed documents are embedded (an incremental update). With ``ray_address`` (see
    ``RayTarget``), the chunks to embed are embedded by ``ray_workers`` workers of that Ray cluster; the rest of
    the build runs here, as a local one does.
    """
    started = time.perf_counter()
    clock = _Clock()
    settings = settings or Settings.from_env()
    ray = RayTarget(ray_address, ray_workers) if ray_address is not None else None
    docs, skipped, folder = _gather(source)
    if not docs:
        where = f"in {str(folder)!r}" if folder else "in the given documents"
        detail = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5])
        raise EmptyCorpusError(f"no usable documents {where}" + (f" ({detail})" if detail else "")
                               + f": add files with text ({', '.join(SUPPORTED_SUFFIXES)})")
    clock.lap("read documents")
    chunks = chunk_documents(docs, settings.chunk_size, settings.chunk_overlap)
    if not chunks:  # every document is blank: nothing to embed, and bm25s cannot index nothing
        raise EmptyCorpusError(f"the {len(docs)} document(s) given hold only whitespace: add documents with text")
    by_id = {d.id: d for d in docs}
    clock.lap("chunk")
    previous = _previous(index_dir, settings) if reuse else None
    clock.lap("load previous index")
    vectors, reused = _embed(chunks, by_id, settings, previous, show_progress, ray)
    clock.lap("embed")
    index = _assemble(docs, chunks, vectors, skipped, folder, settings, clock)
    index.manifest["added"] = _added_times(docs, index.manifest["created"], index_dir)
    # Information only, never checked on load. A Ray build's driver may have no GPU at all: the workers
    # resolved the device, so resolving it here could refuse a build whose embedding is done.
    index.manifest["device"] = f"ray ({settings.device})" if ray else resolve_device(settings.device, settings.quantize)
    if index_dir is not None:
        index.save(index_dir)
        clock.lap("save")
    report = BuildReport(len(docs), len(chunks), len(chunks) - reused, reused, skipped,
                         time.perf_counter() - started, clock.stages)
    index.report = report
    log.info("indexed %d documents, %d chunks (%d embedded) in %.1fs", report.documents, report.chunks,
             report.embedded, report.seconds)
    return index


def _assemble(docs: list[Document], chunks: list[Chunk], vectors: np.ndarray, skipped: list[Skipped],
              folder: Path | None, settings: Settings, clock: _Clock) -> Index:
    """The Index over embedded chunks: FAISS over the sentence vectors, BM25 over the chunk texts."""
    by_id = {d.id: d for d in docs}
    dense, dense_info = build_dense(vectors, settings)
    clock.lap("faiss")
    bm25 = BM25Index.build([chunk_input(c, by_id[c.doc_id], settings)[0] for c in chunks])
    clock.lap("bm25")
    manifest = _manifest(docs, len(chunks), skipped, folder, settings, vectors.shape[1], dense_info)
    return Index(settings, docs, chunks, vectors, manifest, bm25, dense)


def update_index(source: str | Path, index_dir: str | Path, settings: Settings | None = None,
                 show_progress: bool = False, ray_address: str | None = None, ray_workers: int | None = None) -> Index:
    """Re-embed only documents that are new or changed (on Ray if ``ray_address`` is given); drop removed ones.
    Same result as a full build."""
    return build_index(source, index_dir, settings, show_progress, reuse=True, ray_address=ray_address,
                       ray_workers=ray_workers)


def _gather(source: Source) -> tuple[list[Document], list[Skipped], Path | None]:
    if isinstance(source, (str, Path)):
        folder = Path(source)
        docs, skipped = load_folder(folder)
        return docs, skipped, folder
    return list(iter_documents(source)), [], None


def _previous(index_dir: str | Path | None, settings: Settings) -> Index | None:
    if index_dir is None:
        return None
    try:
        return load_index(index_dir, settings)
    except QAError as exc:
        log.info("not reusing the previous index (%s): embedding everything", exc)
        return None


def _embed(chunks: list[Chunk], docs: dict[str, Document], settings: Settings, previous: Index | None,
           show_progress: bool, ray: RayTarget | None = None) -> tuple[np.ndarray, int]:
    """Sentence vectors for ``chunks`` (in chunk order), taking unchanged chunks' from ``previous``.

    Returns the vectors and how many chunks were reused.
    """
    reusable: dict[str, np.ndarray] = {}
    if previous is not None:
        # The same file can read as other text when a loader changes (e.g. HTML main-content extraction):
        # its vectors are reused only if the text and title embedded are the same too.
        unchanged = {doc_id for doc_id, doc in docs.items() if _same_document(previous.documents.get(doc_id), doc)}
        reusable = {c.id: previous.vectors[previous.sentence_ptr[i]:previous.sentence_ptr[i + 1]]
                    for i, c in enumerate(previous.chunks) if c.doc_id in unchanged}
    todo = [c for c in chunks if c.id not in reusable]
    inputs = [chunk_input(c, docs[c.doc_id], settings) for c in todo]
    texts, spans = [t for t, _ in inputs], [s for _, s in inputs]
    if not texts:  # nothing new, e.g. documents were only removed: no need to even load the model
        fresh = np.zeros((0, previous.vectors.shape[1] if previous is not None else 0), np.float32)
    elif ray is not None:
        from qa.index.ray_embed import embed_on_ray

        fresh = embed_on_ray(texts, spans, settings, ray.address, ray.workers, show_progress)
    else:
        _, fresh = build_embedder(settings).encode_passages(texts, spans, show_progress)
    parts, pos = [], 0
    for chunk in chunks:
        n = len(chunk.sentences)
        if chunk.id in reusable:
            parts.append(reusable[chunk.id])
        else:
            parts.append(fresh[pos:pos + n])
            pos += n
    vectors = np.concatenate(parts)  # never empty: a build without chunks stops with EmptyCorpusError
    return np.ascontiguousarray(vectors, dtype=np.float32), len(chunks) - len(todo)


def _same_document(old: Document | None, new: Document) -> bool:
    return old is not None and (old.content_hash, old.title, old.text) == (new.content_hash, new.title, new.text)


def _manifest(docs: list[Document], n_chunks: int, skipped: list[Skipped], folder: Path | None, settings: Settings,
              dimension: int, dense_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "settings": settings.index_fingerprint(),
        "dimension": dimension,
        "faiss": dense_info,
        "source": str(folder.resolve()) if folder else None,
        "documents": {d.id: d.content_hash for d in docs},
        "skipped": {s.path: file_hash(folder / s.path) for s in skipped if folder and (folder / s.path).is_file()},
        "skipped_reasons": {s.path: s.reason for s in skipped},
        "counts": {"documents": len(docs), "chunks": n_chunks},
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _added_times(docs: list[Document], now: str, index_dir: str | Path | None) -> dict[str, str]:
    """When each document first entered the index in ``index_dir``: kept from its previous manifest, else now."""
    previous: Any = {}
    if index_dir is not None:
        try:
            previous = store.read_json(store.current_generation(Path(index_dir)) / store.MANIFEST).get("added", {})
        except (QAError, AttributeError):  # no index yet, or a damaged one: every document is new
            previous = {}
    if not isinstance(previous, dict):
        previous = {}
    return {d.id: str(previous.get(d.id) or now) for d in docs}


def _versions() -> dict[str, str]:
    names = ("qa", "sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "numpy")
    found = {}
    for name in names:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def open_index(source: str | Path, index_dir: str | Path, settings: Settings | None = None,
               show_progress: bool = False) -> Index:
    """Load the index, building it if missing, damaged or built with other settings, updating it if stale.

    What it does by itself is logged at INFO; a warning means something to look at. Without a document folder,
    an index that loads is used as it was built, and one that does not is a DocumentError saying what to name.
    """
    settings = settings or Settings.from_env()
    folder = Path(source)
    try:
        index = load_index(index_dir, settings)
    except IndexNotFoundError:
        _check_source(folder, f"no index at {str(index_dir)!r} yet")
        log.info("no index at %r yet: building one from the documents in %r (%s)", str(index_dir), str(folder),
                 _files(folder))
        return build_index(folder, index_dir, settings, show_progress)
    except (IndexMismatchError, IndexCorruptError) as exc:
        reason = _reason(exc)
        _check_source(folder, f"the {reason}")
        # Other settings are the user's choice (a new model, say); damage is worth a look.
        level = logging.WARNING if isinstance(exc, IndexCorruptError) else logging.INFO
        log.log(level, "%s: building a new one from the documents in %r (%s)", reason, str(folder), _files(folder))
        return build_index(folder, index_dir, settings, show_progress)
    if not folder.is_dir():
        log.warning("document folder %r (%s) does not exist: answering from the index in %r as it was built, "
                    "without looking for new or changed documents", str(folder), folder.resolve(), str(index_dir))
        return index
    changes = index.changes(folder)
    if changes.stale:
        log.info("documents changed in %r since the index was built (%d added, %d changed, %d removed): updating "
                 "the index", str(folder), len(changes.added), len(changes.changed), len(changes.removed))
        return update_index(folder, index_dir, settings, show_progress)
    return index


def _check_source(folder: Path, why: str) -> None:
    """Raise DocumentError if ``folder``, needed to build an index because of ``why``, is not there, saying where it
    was looked for and how to name another."""
    if folder.is_dir():
        return
    given = (f"{str(folder)!r} is the default document folder, the source_dir setting" if folder == Settings.source_dir
             else f"the document folder given was {str(folder)!r}")
    raise DocumentError(
        f"{why}, and no document folder to build one from: {folder.resolve()} does not exist ({given}). Name the "
        "folder of your documents: `qa serve FOLDER` or `qa index build FOLDER`, or QA_SOURCE_DIR=FOLDER for `make "
        "run` and `python app.py`; or serve an index already built: --index DIR or QA_INDEX_DIR=DIR"
    )


def _reason(exc: QAError) -> str:
    """An index error's message without its advice to rebuild (this is the rebuild)."""
    return str(exc).split(": rebuild it with")[0]


def _files(folder: Path) -> str:
    count = len(list_files(folder))
    return f"{count} file{'s' * (count != 1)}"
