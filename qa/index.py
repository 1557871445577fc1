"""The searchable index: chunks, their vectors in FAISS, BM25, and the manifest that describes them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import store
from qa.bm25 import BM25Index
from qa.chunking import Chunk
from qa.dense import VectorFile, build_dense, rank_chunks, read_ranges
from qa.documents import SURROGATE, Document, file_hash, list_files, locate
from qa.embedding import Embedder
from qa.errors import IndexCorruptError, IndexMismatchError, QAError, QuestionError
from qa.ranking import rank
from qa.retrieval import Hit
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


def chunk_input(chunk: Chunk, doc: Document, settings: Settings) -> tuple[str, list[tuple[int, int]]]:
    """The text embedded and BM25-indexed for a chunk (the title helps both retrievers), and where its
    sentences are in that text."""
    prefix = f"{doc.title}\n" if settings.title_in_chunk and doc.title else ""
    shift = len(prefix) - chunk.start
    return prefix + chunk.text, [(a + shift, b + shift) for a, b in chunk.sentences]


class Index:
    """Documents, chunks and both retrievers over them. Build with ``qa.build_index``.

    Dense search runs over sentence vectors (``vectors``: one row per sentence of each chunk, in chunk
    order); a chunk's dense score is its best sentence's cosine. BM25 runs over whole chunks.
    """

    def __init__(self, settings: Settings, documents: list[Document], chunks: list[Chunk],
                 vectors: np.ndarray | VectorFile, manifest: dict[str, Any], bm25: BM25Index | None = None,
                 dense: Any = None, path: Path | None = None) -> None:
        self.settings = settings
        self.documents = {doc.id: doc for doc in documents}
        self.chunks = chunks
        # A loaded index holds its vectors file open: it keeps answering after an update deletes its folder.
        self._vector_file = vectors if isinstance(vectors, VectorFile) else None
        self.vectors = self._vector_file.array if self._vector_file else vectors
        counts = np.array([len(c.sentences) for c in chunks], dtype=np.int64)
        self.sentence_ptr = np.concatenate([[0], np.cumsum(counts)])
        self.sentence_chunk = np.repeat(np.arange(len(chunks)), counts)
        self._chunk_row = {c.id: i for i, c in enumerate(chunks)}
        self.manifest = manifest
        self.path = path
        self.report: Any = None  # the BuildReport when this index was just built
        self.generation: str | None = None  # the generation folder it was loaded from or saved as (qa.store)
        self.embedder = Embedder(settings.model, settings.batch_size, settings.quantize)
        if dense is None:
            dense, _ = build_dense(self.vectors, settings)
        self.dense = dense
        if bm25 is None:
            bm25 = BM25Index.build([chunk_input(c, self.documents[c.doc_id], settings)[0] for c in chunks])
        self.bm25 = bm25

    def __len__(self) -> int:
        return len(self.chunks)

    def __repr__(self) -> str:
        return f"Index({len(self.documents)} documents, {len(self.chunks)} chunks, path={str(self.path)!r})"

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``: dense and BM25 candidates fused (``settings.fusion``: score
        fusion by default, or reciprocal rank fusion), with the refinements of ``qa.ranking``."""
        return self.retrieve(query, k)[0]

    def retrieve(self, query: str, k: int | None = None,
                 qvec: np.ndarray | None = None) -> tuple[list[Hit], np.ndarray]:
        """Like ``search``, also returning the query vector for scoring sentences.

        ``qvec`` is the query's embedding if already computed (e.g. a batch of questions encoded at once).
        """
        k = k or self.settings.k
        check_query(query)
        if qvec is None:
            qvec = self.embedder.encode_query(query) if query.strip() else np.zeros(self.vectors.shape[1], np.float32)
        if not query.strip() or not self.chunks:
            return [], qvec
        ranked, first = rank(self, query, qvec, k)
        cosines = self.chunk_similarities([i for i, _ in ranked], qvec)  # the plain best-sentence cosine
        return [self._hit(i, score, position, cosines[i], float(first.bm25_scores[i]))
                for position, (i, score) in enumerate(ranked, start=1)], qvec

    def _dense_ranking(self, qvec: np.ndarray, n: int) -> np.ndarray:
        """Chunks ordered by their best sentence's similarity (see ``qa.dense.rank_chunks``)."""
        return rank_chunks(self.dense, self.vectors, self.sentence_chunk, qvec, n, self.settings, self._vector_fd())

    def sentence_similarities(self, chunk_id: str, qvec: np.ndarray) -> np.ndarray:
        """Cosine of ``qvec`` with each sentence of a chunk, in ``chunk.sentences`` order."""
        return self.chunk_vectors([self._chunk_row[chunk_id]])[0] @ qvec

    def _vector_fd(self) -> int | None:
        """The descriptor of the loaded vectors file (None for an index built in memory)."""
        return self._vector_file.fd if self._vector_file else None

    def chunk_vectors(self, rows: list[int]) -> list[np.ndarray]:
        """The sentence vectors of each chunk (by row), read from this index's own generation: use this, not
        ``self.vectors`` directly, so a search keeps working after an update removed the files' names."""
        ranges = [(self.sentence_ptr[i], self.sentence_ptr[i + 1]) for i in rows]
        return read_ranges(self.vectors, ranges, self._vector_fd())

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self._chunk_row[chunk_id]]

    def chunk_similarities(self, rows: list[int], qvec: np.ndarray, mean_weight: float = 0.0) -> dict[int, float]:
        """Each chunk's (by row) dense score: its best sentence's cosine with ``qvec`` (plus ``mean_weight``
        times the mean cosine of its sentences)."""
        sims = [block @ qvec for block in self.chunk_vectors(rows)]
        return {i: float(s.max() + mean_weight * s.mean()) if len(s) else 0.0 for i, s in zip(rows, sims, strict=True)}

    def _hit(self, i: int, score: float, rank: int, cosine: float, bm25: float) -> Hit:
        chunk = self.chunks[i]
        doc = self.documents[chunk.doc_id]
        return Hit(chunk_id=chunk.id, doc_id=doc.id, text=chunk.text, score=score, title=doc.title,
                   date=str(doc.metadata.get("date", "")), source=str(doc.metadata.get("source", doc.id)),
                   start=chunk.start, end=chunk.end, rank=rank, dense_score=cosine, bm25_score=bm25,
                   page=page_of(doc, chunk.start), location=str(locate(doc, chunk.start) or ""))

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


def check_query(query: str) -> None:
    """Refuse a query the tokenizer cannot take: not a string, or holding half of a UTF-16 pair (what a
    terminal argument that is not UTF-8 decodes to), which is not text."""
    if not isinstance(query, str):
        raise QuestionError(f"a question must be text, got {type(query).__name__}")
    bad = SURROGATE.search(query)
    if bad:
        raise QuestionError(f"the question holds {bad.group()!r} at position {bad.start()}, which is not valid text "
                            "(bytes that are not UTF-8?): retype it, or set your terminal to UTF-8")


def page_of(doc: Document, offset: int) -> int | None:
    """1-based PDF page holding ``offset``, if the document has pages."""
    for number, (start, end) in enumerate(doc.metadata.get("pages") or [], start=1):
        if start <= offset <= end:
            return number
    return None


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
        # (qa.dense.read_ranges) and an update reads whole ranges. FAISS keeps its own copy.
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
