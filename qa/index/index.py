"""The searchable index: chunks, their vectors in FAISS, BM25, and the manifest that describes them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexCorruptError, IndexMismatchError, QAError
from qa.index import store
from qa.ingest.chunking import Chunk
from qa.ingest.documents import Document, file_hash, list_files
from qa.retrieve.bm25 import BM25Index
from qa.retrieve.dense import VectorFile
from qa.retrieve.hits import Hit
from qa.retrieve.passages import Passages
from qa.retrieve.retriever import Retriever
from qa.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: dense vectors are per sentence


@dataclass(frozen=True)
class Changes:
    """How a document folder differs from what an index was built from."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class Index(Passages):
    """The searchable data (``Passages``: documents, chunks, sentence vectors in FAISS, BM25) as stored on
    disk, with the manifest that describes it. Build with ``qa.build_index``, load with ``qa.load_index``.

    ``search`` and ``retrieve`` are its ``Retriever``'s (``qa.retrieve``): the one ranking every question uses.
    """

    def __init__(self, settings: Settings, documents: list[Document], chunks: list[Chunk],
                 vectors: np.ndarray | VectorFile, manifest: dict[str, Any], bm25: BM25Index | None = None,
                 dense: Any = None, path: Path | None = None) -> None:
        super().__init__(settings, documents, chunks, vectors, bm25, dense)
        self.manifest = manifest
        self.path = path
        self.report: Any = None  # the BuildReport when this index was just built
        self.generation: str | None = None  # the generation folder it was loaded from or saved as (qa.index.store)

    @property
    def retriever(self) -> Retriever:
        """Its retriever (made on each use: it holds no state, and keeping one would tie the two in a cycle that
        delays freeing a replaced generation's open files until the garbage collector runs)."""
        return Retriever(self)

    def __repr__(self) -> str:
        return f"Index({len(self.documents)} documents, {len(self.chunks)} chunks, path={str(self.path)!r})"

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``: dense and BM25 candidates fused (``settings.fusion``: score
        fusion by default, or reciprocal rank fusion), with the refinements of ``qa.retrieve.ranking``."""
        return self.retriever.search(query, k)

    def retrieve(self, query: str, k: int | None = None,
                 qvec: np.ndarray | None = None) -> tuple[list[Hit], np.ndarray]:
        """Like ``search``, also returning the query vector for scoring sentences.

        ``qvec`` is the query's embedding if already computed (e.g. a batch of questions encoded at once).
        """
        found = self.retriever.retrieve(query, k, qvec=qvec)
        return found.hits, found.vector

    def changes(self, source: Path | str | None = None) -> Changes:
        """Files added, changed or removed in ``source`` (default: the folder it was built from)."""
        source = source or self.manifest.get("source")
        if not source:
            return Changes()
        folder = Path(source)
        known = {**self.manifest.get("skipped", {}), **self.manifest["documents"]}
        current = {p.relative_to(folder).as_posix(): p for p in list_files(folder)} if folder.is_dir() else {}
        hashes = {name: _hash_or_none(current[name]) for name in set(current) & set(known)}
        gone = {name for name, digest in hashes.items() if digest is None}  # vanished since it was listed
        added = tuple(sorted(set(current) - set(known)))
        removed = tuple(sorted((set(known) - set(current)) | gone))
        changed = tuple(sorted(name for name, digest in hashes.items() if digest not in (None, known[name])))
        return Changes(added, changed, removed)

    def save(self, index_dir: Path | str) -> Path:
        """Write a new generation into ``index_dir`` and switch to it atomically."""
        import faiss

        with store.new_generation(Path(index_dir), self.settings.generation_grace_s) as folder:
            store.write_jsonl(folder / "documents.jsonl", [d.to_dict() for d in self.documents.values()])
            store.write_jsonl(folder / "chunks.jsonl", [c.to_dict() for c in self.chunks])
            np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)
            faiss.write_index(self.dense, str(folder / "dense.faiss"))
            self.bm25.save(folder / "bm25")
            # The manifest goes last: a generation without one is never loaded.
            store.write_json(folder / store.MANIFEST, self.manifest)
        self.path, self.generation = Path(index_dir), folder.name
        return self.path


def _hash_or_none(path: Path) -> str | None:
    try:
        return file_hash(path)
    except FileNotFoundError:
        log.warning("%s disappeared while the index was being checked: counted as removed", path)
        return None


def check_manifest(manifest: Any, settings: Settings, index_dir: Path) -> None:
    """Refuse an index whose format or index settings differ from ``settings``, or whose manifest is damaged."""
    rebuild = f"rebuild it with `qa index build SOURCE --index {index_dir}`"
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"index at {str(index_dir)!r} is damaged (its manifest is not an object): {rebuild}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(f"index at {str(index_dir)!r} has format version {version!r}, this qa reads "
                                 f"version {FORMAT_VERSION}: {rebuild}")
    missing = [key for key in _MANIFEST_KEYS if key not in manifest]
    built = manifest.get("settings")
    if missing or not isinstance(built, dict):
        raise IndexCorruptError(f"index at {str(index_dir)!r} is damaged (its manifest lacks "
                                f"{', '.join(missing) or 'settings'}): {rebuild}")
    wanted = settings.index_fingerprint()
    diffs = [f"{key} {built.get(key)!r} (now {value!r})" for key, value in wanted.items() if built.get(key) != value]
    if diffs:
        raise IndexMismatchError(f"index at {str(index_dir)!r} was built with {', '.join(diffs)}: {rebuild} "
                                 "or use the settings it was built with")


_MANIFEST_KEYS = ("settings", "dimension", "documents", "counts", "versions", "created")


def _default_new_settings(manifest: Any) -> None:
    """Indexes saved before an index setting existed were built with its default: say so in their manifest."""
    if isinstance(manifest, dict) and isinstance(manifest.get("settings"), dict):
        manifest["settings"].setdefault("quantize", False)


def load_index(index_dir: Path | str | None = None, settings: Settings | None = None) -> Index:
    """Load the live generation in ``index_dir``; refuse one built with other settings or a damaged one.

    The loaded index reads only its own generation, and keeps answering from it after a later build or
    update publishes another. A generation replaced while it is being loaded is not damage: the new one
    is loaded instead.
    """
    settings = settings or Settings.from_env()
    index_dir = Path(index_dir or settings.index_dir)
    for attempt in range(3):
        folder = store.current_generation(index_dir)
        try:
            return _load_generation(folder, index_dir, settings)
        except IndexCorruptError:
            if attempt == 2 or store.current_generation(index_dir) == folder:
                raise
            log.info("the index in %s was replaced while loading: loading the new one", index_dir)
    raise AssertionError("unreachable")


def _load_generation(folder: Path, index_dir: Path, settings: Settings) -> Index:
    import faiss

    manifest = store.read_json(folder / store.MANIFEST)
    _default_new_settings(manifest)
    check_manifest(manifest, settings, index_dir)
    damaged = f"rebuild it with `qa index build SOURCE --index {index_dir}`"
    try:
        documents = [Document.from_dict(d) for d in store.read_jsonl(folder / "documents.jsonl")]
        chunks = [Chunk.from_dict(c) for c in store.read_jsonl(folder / "chunks.jsonl")]
        # Memory-mapped: a large index loads at once; searches read the rows they re-score with pread
        # (qa.retrieve.dense.read_ranges) and an update reads whole ranges. FAISS keeps its own copy.
        vector_file = VectorFile(folder / "vectors.npy")
        vectors = vector_file.array
        bm25 = BM25Index.load(folder / "bm25")
        dense = faiss.read_index(str(folder / "dense.faiss"))
    except IndexCorruptError:
        raise
    except (OSError, EOFError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, QAError) as exc:
        raise IndexCorruptError(f"index at {str(index_dir)!r} is damaged ({type(exc).__name__}: {exc}): "
                                f"{damaged}") from None
    problem = _inconsistency(documents, chunks, vectors, bm25, dense, manifest)
    if problem:
        raise IndexCorruptError(f"index at {str(index_dir)!r} is inconsistent ({problem}): {damaged}")
    index = Index(settings.replace(index_dir=index_dir), documents, chunks, vector_file, manifest, bm25, dense,
                  index_dir)
    index.generation = folder.name
    return index


def _inconsistency(documents: list[Document], chunks: list[Chunk], vectors: np.ndarray, bm25: BM25Index,
                   dense: Any, manifest: dict[str, Any]) -> str:
    """What does not add up between the loaded parts of an index ('' when everything does)."""
    n_sentences = sum(len(c.sentences) for c in chunks)
    if not (len(chunks) == bm25.size and n_sentences == len(vectors) == dense.ntotal) or \
            vectors.shape[1:] != (manifest.get("dimension"),):
        return (f"{len(chunks)} chunks with {n_sentences} sentences, {vectors.shape} vectors, "
                f"{bm25.size} BM25 rows, {dense.ntotal} FAISS rows")
    texts = {d.id: d.text for d in documents}
    for chunk in chunks:
        if chunk.doc_id not in texts:
            return f"chunk {chunk.id} belongs to document {chunk.doc_id!r}, which is not in the index"
        if texts[chunk.doc_id][chunk.start:chunk.end] != chunk.text or \
                not all(chunk.start <= a < b <= chunk.end for a, b in chunk.sentences):
            return f"chunk {chunk.id} does not match the text of {chunk.doc_id!r} at {chunk.start}-{chunk.end}"
    return ""
