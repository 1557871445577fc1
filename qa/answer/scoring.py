"""How well a sentence answers a question: idf-weighted coverage of the question's terms."""
from __future__ import annotations

import math
from dataclasses import dataclass

from qa.retrieve.bm25 import BM25Index

# Pseudo-documents added to the collection when weighting terms: in a small collection every word looks
# rare or common by accident (in a 3-chunk index "Kosovo" is in all chunks and weighs nothing); the prior
# keeps weights, and so the abstention threshold, comparable between a 3-chunk and a 3-million-chunk index.
PRIOR_DOCUMENTS = 1000


def term_weights(doc_freqs: dict[str, int], n_docs: int) -> dict[str, float]:
    """idf of each term over the collection plus PRIOR_DOCUMENTS; a term no chunk holds weighs most.

    Unseen terms count in full: a question about a name the documents never mention should not look
    well covered by a sentence that matches its other words.
    """
    n = n_docs + PRIOR_DOCUMENTS
    return {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in doc_freqs.items()}


@dataclass(frozen=True)
class QuestionTerms:
    """The question's stemmed terms with their idf in the index (and, in a conversation, the earlier questions'
    terms at a share of theirs, ``qa.answer.reading``).

    ``limit`` caps how many of them a sentence is judged against: the share it holds is of the ``limit``
    heaviest terms' weight (0: of all of them). One sentence cannot hold a long question's every word: "Is
    there an income limit to qualify for help? I worry my mom might make too much but she can't afford to help
    me with college..." has 21 terms, and the sentence that answers it holds a few of them, so without a cap
    a verbose question needs a closer sentence than a terse one to be answered (docs/quality.md, "Long
    questions").
    """

    weights: dict[str, float]
    bm25: BM25Index
    limit: int = 0

    @classmethod
    def from_question(cls, question: str, bm25: BM25Index, limit: int = 0) -> QuestionTerms:
        tokens = sorted(set(bm25.tokenize([question])[0]))
        return cls(term_weights(bm25.document_frequencies(tokens), bm25.size), bm25, limit)

    @property
    def mass(self) -> float:
        """The weight a sentence holding every counted term holds: of all terms, or of the ``limit`` heaviest."""
        weights = sorted(self.weights.values(), reverse=True)
        return sum(weights[:self.limit] if self.limit else weights)

    def coverage(self, texts: list[str]) -> list[float]:
        """Share of the question's idf mass (``mass``) that each text contains (0..1)."""
        return self.coverage_of([set(tokens) for tokens in self.bm25.tokenize(texts)])

    def coverage_of(self, token_sets: list[set[str]]) -> list[float]:
        """``coverage`` of texts already tokenized (``bm25.tokenize``), as sets of terms."""
        total = self.mass
        if not total:
            return [0.0] * len(token_sets)
        return [min(1.0, sum(self.weights.get(t, 0.0) for t in tokens) / total) for tokens in token_sets]


def sentence_score(similarity: float, coverage: float) -> float:
    """How well a sentence answers: its cosine with the question plus its share of the question's terms.

    Measured on 2,063 SQuAD questions, picking the gold paragraph's best sentence: cosine alone 0.79,
    term coverage alone 0.86, the sum 0.87.
    """
    return similarity + coverage
