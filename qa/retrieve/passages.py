"""What ranking reads: the chunks and their documents, BM25 over the chunks, and the sentence vectors in FAISS.

``qa.index.Index`` is a ``Passages`` that is also stored on disk; the retriever and the answer read only this.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from qa.ingest.chunking import Chunk, chunk_input
from qa.ingest.documents import Document, locate, page_of
from qa.retrieve.bm25 import BM25Index
from qa.retrieve.dense import VectorFile, build_dense, rank_chunks, read_ranges
from qa.retrieve.embedding import Embedder
from qa.retrieve.hits import Hit
from qa.settings import Settings


class Passages:
    """Documents, chunks and both retrievers' data over them.

    Dense search runs over sentence vectors (``vectors``: one row per sentence of each chunk, in chunk
    order); a chunk's dense score is its best sentence's cosine. BM25 runs over whole chunks (title first).
    """

    def __init__(self, settings: Settings, documents: list[Document], chunks: list[Chunk],
                 vectors: np.ndarray | VectorFile, bm25: BM25Index | None = None, dense: Any = None) -> None:
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
        self.embedder = Embedder(settings.model, settings.batch_size, settings.quantize)
        if dense is None:
            dense, _ = build_dense(self.vectors, settings)
        self.dense = dense
        if bm25 is None:
            bm25 = BM25Index.build([self.indexed_text(i) for i in range(len(chunks))])
        self.bm25 = bm25
        self._titles: BM25Index | None = None
        self._by_document: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.chunks)

    def indexed_text(self, row: int) -> str:
        """The text embedded and BM25-indexed for the chunk in ``row`` (its document's title first)."""
        chunk = self.chunks[row]
        return chunk_input(chunk, self.documents[chunk.doc_id], self.settings)[0]

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self._chunk_row[chunk_id]]

    def dense_ranking(self, qvec: np.ndarray, n: int) -> np.ndarray:
        """Chunk rows ordered by their best sentence's similarity (see ``qa.retrieve.dense.rank_chunks``)."""
        return rank_chunks(self.dense, self.vectors, self.sentence_chunk, qvec, n, self.settings, self._vector_fd())

    def chunk_vectors(self, rows: list[int]) -> list[np.ndarray]:
        """The sentence vectors of each chunk (by row), read from this index's own generation: use this, not
        ``self.vectors`` directly, so a search keeps working after an update removed the files' names."""
        ranges = [(self.sentence_ptr[i], self.sentence_ptr[i + 1]) for i in rows]
        return read_ranges(self.vectors, ranges, self._vector_fd())

    def chunk_similarities(self, rows: list[int], qvec: np.ndarray, mean_weight: float = 0.0) -> dict[int, float]:
        """Each chunk's (by row) dense score: its best sentence's cosine with ``qvec`` (plus ``mean_weight``
        times the mean cosine of its sentences)."""
        return similarities(dict(zip(rows, self.chunk_vectors(rows), strict=True)), qvec, mean_weight)

    def sentence_similarities(self, chunk_id: str, qvec: np.ndarray) -> np.ndarray:
        """Cosine of ``qvec`` with each sentence of a chunk, in ``chunk.sentences`` order."""
        return self.chunk_vectors([self._chunk_row[chunk_id]])[0] @ qvec

    def title_scores(self, query: str) -> np.ndarray:
        """BM25 of ``query`` over the document titles alone, one row per chunk (built on first use: titles are
        short, so this is fast)."""
        if self._titles is None:
            self._titles = BM25Index.build([self.documents[c.doc_id].title for c in self.chunks])
        return self._titles.scores(query)

    def rows_of(self, doc_id: str) -> list[int]:
        """The chunk rows of a document, in order (grouped once per index)."""
        if self._by_document is None:
            grouped: dict[str, list[int]] = {}
            for i, chunk in enumerate(self.chunks):
                grouped.setdefault(chunk.doc_id, []).append(i)
            self._by_document = grouped
        return self._by_document.get(doc_id, [])

    def hit(self, row: int, score: float, rank: int, cosine: float, bm25: float) -> Hit:
        """The chunk in ``row`` as a ranked ``Hit``, with where it is in its document."""
        chunk = self.chunks[row]
        doc = self.documents[chunk.doc_id]
        return Hit(chunk_id=chunk.id, doc_id=doc.id, text=chunk.text, score=score, title=doc.title,
                   date=str(doc.metadata.get("date", "")), source=str(doc.metadata.get("source", doc.id)),
                   start=chunk.start, end=chunk.end, rank=rank, dense_score=cosine, bm25_score=bm25,
                   page=page_of(doc, chunk.start), location=str(locate(doc, chunk.start) or ""))

    def _vector_fd(self) -> int | None:
        """The descriptor of the loaded vectors file (None for an index built in memory)."""
        return self._vector_file.fd if self._vector_file else None


def similarities(blocks: dict[int, np.ndarray], qvec: np.ndarray, mean_weight: float) -> dict[int, float]:
    """Each chunk's dense score from its sentence vectors (by row): its best sentence's cosine with ``qvec``,
    plus ``mean_weight`` times their mean cosine (not computed at 0, the default: it cost a third of a search)."""
    sims = {i: block @ qvec for i, block in blocks.items()}
    if not mean_weight:
        return {i: float(s.max()) if len(s) else 0.0 for i, s in sims.items()}
    return {i: float(s.max() + mean_weight * s.mean()) if len(s) else 0.0 for i, s in sims.items()}
