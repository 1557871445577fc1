"""The quote ranker: a cross-encoder that reads a question and a sentence together and scores whether it answers.

Today's choice score (``qa.answer.sentences``) reads the question's words and the sentence's vector; it cannot
tell a sentence that answers from one that only shares the question's words. A cross-encoder trained for that
(training/train_ranker.py, docs/ranker.md) can. With ``Settings.ranker`` set to a CrossEncoder (``none``, the
default, turns it off: no trained ranker ships yet), it scores the ``ranker_candidates`` quotes the choice score
ranks best (the answer is among them for most questions, and each pair costs model time); a quote's new score
is its choice score plus ``ranker_weight`` times the ranker's probability that it answers. The probability of
the quote placed first also feeds abstention: below ``ranker_floor`` the assistant says the documents don't
answer, however many of the question's words the sentence holds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.answer.sentences import Quote
from qa.models.loading import load_ranker
from qa.settings import NO_RANKER, Settings


def ranker_query(question: str, earlier: Sequence[str] = ()) -> str:
    """What the ranker reads as the question: a follow-up carries the most recent earlier question after its own
    words (training pairs are made the same way, training/ranker_data.py)."""
    return f"{question} {earlier[0]}" if earlier else question


@dataclass(frozen=True)
class Reranked:
    """Quotes in the ranker's order, and its belief that the first one answers (None: no ranker was used)."""

    quotes: list[Quote]
    belief: float | None = None


class Ranker:
    """Scores (question, sentence) pairs with a sentence-transformers CrossEncoder (``qa.models.loading``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logits(self, query: str, texts: list[str]) -> np.ndarray:
        """One score per text, in one batch: the higher, the more the text answers ``query``."""
        import torch

        model = load_ranker(self.name)
        with torch.inference_mode():
            features = model.preprocess([[query, text] for text in texts])
            scores = model(features)["scores"]
        return scores.float().reshape(len(texts), -1)[:, 0].numpy()

    def probabilities(self, query: str, texts: list[str]) -> np.ndarray:
        """The ranker's probability that each text answers ``query``: the logits through a sigmoid."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(query, texts), -60.0, 60.0)))


def ranker_for(settings: Settings) -> Ranker | None:
    """The ranker ``settings`` ask for, or None for ``ranker = "none"``."""
    return None if settings.ranker == NO_RANKER else Ranker(settings.ranker)


def rerank(ranker: Ranker, query: str, quotes: list[Quote], settings: Settings) -> Reranked:
    """``quotes`` (best choice first) with the first ``ranker_candidates`` reordered by choice plus the ranker.

    Only quotes that could still be placed first are scored: one whose choice score is ``ranker_weight`` or more
    below the best one's cannot overtake it (a probability is at most 1), so the model is not run on it. It keeps
    its choice score, below every scored quote's new score.
    """
    if not quotes:
        return Reranked(quotes)
    reach = quotes[0].score - settings.ranker_weight
    top = [q for q in quotes[:settings.ranker_candidates] if q.score > reach]
    probability = ranker.probabilities(query, [q.text for q in top]).tolist()
    scored = [replace(q, score=q.score + settings.ranker_weight * p) for q, p in zip(top, probability, strict=True)]
    order = sorted(range(len(top)), key=lambda i: -scored[i].score)
    return Reranked([scored[i] for i in order] + quotes[len(top):], probability[order[0]])
