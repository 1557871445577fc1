"""BM25 over chunks with the bm25s library: English stop words and Snowball stemming."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _stemmer():  # noqa: ANN202 - PyStemmer has no type hints
    import Stemmer

    return Stemmer.Stemmer("english")


class BM25Index:
    """A bm25s retriever plus the tokenisation its queries must share."""

    def __init__(self, retriever: object) -> None:
        self._retriever = retriever
        self._stem = _stemmer()

    @classmethod
    def build(cls, texts: list[str]) -> BM25Index:
        import bm25s

        index = cls(bm25s.BM25())
        tokens = index.tokenize(texts)
        # bm25s cannot index an empty corpus entry list; a placeholder token keeps rows aligned.
        index._retriever.index([t or ["\x00"] for t in tokens], show_progress=False)
        return index

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False)
        if not _arrays_fit(retriever.scores):
            raise ValueError(f"the BM25 arrays in {str(folder)!r} do not fit together")
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), allow_pickle=False)

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, return_ids=False,
                              show_progress=False)

    def content_terms(self, texts: list[str]) -> list[str]:
        """The stemmed terms of ``texts`` without function words ("what", "did", "do"...), which ``tokenize``
        keeps but which carry no topic from one question to the next."""
        import bm25s
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        tokens = bm25s.tokenize(texts, stopwords=list(STOPWORDS_EN_PLUS), stemmer=self._stem, return_ids=False,
                                show_progress=False)
        return [t for row in tokens for t in row]

    @property
    def size(self) -> int:
        return int(self._retriever.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no query term is indexed)."""
        tokens = self.tokenize([query])[0]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    def weighted_scores(self, weights: dict[str, float]) -> np.ndarray:
        """Sum over (already tokenised) terms of weight x the term's BM25 score of every chunk; unknown terms add 0."""
        vocab = self._retriever.vocab_dict
        total = np.zeros(self.size, dtype=np.float32)
        for term, weight in weights.items():
            if vocab.get(term) is not None and weight:
                total += weight * np.asarray(self._retriever.get_scores_from_ids([vocab[term]]), dtype=np.float32)
        return total

    def document_frequencies(self, tokens: list[str]) -> dict[str, int]:
        """How many chunks contain each (already tokenised) term; 0 for terms never seen."""
        vocab = self._retriever.vocab_dict
        indptr = self._retriever.scores["indptr"]
        return {t: 0 if vocab.get(t) is None else int(indptr[vocab[t] + 1] - indptr[vocab[t]]) for t in tokens}


def _arrays_fit(scores: dict) -> bool:
    """Whether a loaded score matrix is whole: a document count, and postings that agree with it."""
    n, indptr, indices = scores.get("num_docs"), scores["indptr"], scores["indices"]
    if not isinstance(n, int) or n < 0 or indptr.ndim != 1 or not len(indptr):
        return False
    in_range = not len(indices) or (int(indices.min()) >= 0 and int(indices.max()) < n)
    return int(indptr[-1]) == len(scores["data"]) == len(indices) and in_range
