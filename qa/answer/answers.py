"""What an answer is made of: the answer itself, its citations and quotes; the words said when abstaining."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qa.answer.reading import Interpretation
from qa.answer.sentences import Quote
from qa.retrieve.hits import Hit

NO_ANSWER = "The documents don't answer this question."


@dataclass(frozen=True)
class Citation:
    """A cited document and the quotes taken from it."""

    number: int
    doc_id: str
    title: str
    date: str
    source: str
    quotes: tuple[Quote, ...]
    excerpt: Hit  # the passage the first quote came from, for showing context
    page: int | None = None  # the PDF page of the first quote
    location: str = ""  # where the first quote is: "page 2", "slide 3", "section: Heading" (qa.ingest.documents.locate)


@dataclass
class Answer:
    """What ``Assistant.ask`` returns. ``abstained`` means the documents do not answer the question."""

    question: str
    text: str
    abstained: bool
    confidence: float
    quotes: list[Quote] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    passages: list[Hit] = field(default_factory=list)
    interpretation: Interpretation | None = None  # with a history: what the earlier turns contributed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
