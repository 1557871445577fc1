"""A retrieved passage: where it comes from and why it ranked."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with where it comes from and why it ranked."""

    chunk_id: str
    doc_id: str
    text: str
    score: float  # fused score used for ranking
    title: str
    date: str
    source: str
    start: int  # character offsets of ``text`` in the document's text
    end: int
    rank: int
    dense_score: float  # cosine similarity to the question
    bm25_score: float
    page: int | None = None  # the PDF page of ``start``
    location: str = ""  # where ``start`` is, as citations show it: "page 2", "slide 3", "section: Heading"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
