"""How well a sentence answers a question: idf-weighted coverage of the question's terms."""
from __future__ import annotations

from dataclasses import dataclass

from qa.bm25 import BM25Index
from qa.retrieval import Hit

PASSAGE_WEIGHT = 0.4  # share of a sentence's score that comes from its passage's similarity to the question


@dataclass(frozen=True)
class QuestionTerms:
    """The question's stemmed terms with their idf in the index."""

    weights: dict[str, float]
    bm25: BM25Index

    @classmethod
    def from_question(cls, question: str, bm25: BM25Index) -> QuestionTerms:
        tokens = bm25.tokenize([question])[0]
        return cls(bm25.idf(sorted(set(tokens))), bm25)

    def coverage(self, texts: list[str]) -> list[float]:
        """Share of the question's idf mass that each text contains (0..1)."""
        total = sum(self.weights.values())
        if not total:
            return [0.0] * len(texts)
        return [sum(self.weights.get(t, 0.0) for t in set(tokens)) / total
                for tokens in self.bm25.tokenize(texts)]

    def sentence_scores(self, texts: list[str], hits: list[Hit]) -> list[float]:
        """Coverage blended with the similarity of the passage each sentence comes from."""
        return [(1 - PASSAGE_WEIGHT) * cov + PASSAGE_WEIGHT * hit.dense_score
                for cov, hit in zip(self.coverage(texts), hits, strict=True)]
