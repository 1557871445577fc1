"""What an answer is made of: the answer itself, its citations and quotes; the words said when abstaining."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qa.answer.language import question_language
from qa.answer.reading import Interpretation
from qa.answer.sentences import Quote
from qa.retrieve.hits import Hit
from qa.settings import BUNDLED_MODEL_NAMES

NO_ANSWER = "The documents don't answer this question."
MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


def abstention(question: str, model: str) -> str:
    """What the assistant says when it abstains: NO_ANSWER, unless the bundled English-only model met a question
    confidently in another language. Then the documents may well answer it: the model cannot tell, and the
    text says so and what to do instead."""
    language = question_language(question) if model in BUNDLED_MODEL_NAMES else None
    if language is None:
        return NO_ANSWER
    return (f"This question seems to be in {language}, but the embedding model, the bundled all-MiniLM-L6-v2, "
            "reads English only, so it cannot tell whether the documents answer it. Ask in English, or set QA_MODEL "
            f"(or --model) to a multilingual sentence-transformers model such as {MULTILINGUAL_MODEL} (a folder, or "
            "a name in the Hugging Face cache: nothing is downloaded) and rebuild the index with it: `qa index "
            "build`, or restart `make run` or `qa serve`, which rebuild it.")


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

    @property
    def searched_in_vain(self) -> bool:
        """Whether it abstained because the documents do not answer (NO_ANSWER), not because the question could
        not be read (e.g. a question in a language the model does not read): its passages are then not answers."""
        return self.abstained and self.text == NO_ANSWER

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
