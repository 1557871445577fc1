"""The JSON shapes of the HTTP API (pydantic models, which also make its OpenAPI schema) and their builders."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.answer.answers import Answer, Citation
from qa.answer.sentences import Quote
from qa.index.index import Index
from qa.library.manager import INDEXED, DocumentInfo
from qa.library.uploads import UploadResult
from qa.retrieve.hits import Hit

MAX_K = 50


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(description="The question, in plain text.", examples=["What is China's position on Kosovo?"])
    history: list[ChatMessage] = Field(default_factory=list, description="Earlier turns of the conversation, oldest "
                                       "first; the assistant's turns are its own earlier answer texts.")
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="Passages to retrieve (default: the server's k).")


class SearchRequest(BaseModel):
    query: str = Field(description="What to look for.", examples=["Kosovo dialogue"])
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="Passages to return (default: the server's k).")


class QuoteOut(BaseModel):
    """A sentence copied verbatim from a document: the document's text[start:end] is exactly ``text``."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float = Field(description="The score quotes are ordered by (qa.answer.sentences' choice score, plus "
                                     "ranker_weight x the quote ranker's probability when a ranker is set); the "
                                     "answer's confidence is the separate evidence abstention is decided on.")
    citation: int = Field(description="The [n] marker it is shown with: the citation's number.")
    shown: str = Field(description="How the answer shows it: ``text`` with its lines joined (one space for each "
                                   "run of whitespace; a word the document hyphenated across lines mended).")


class Excerpt(BaseModel):
    text: str
    start: int
    end: int


class CitationOut(BaseModel):
    number: int
    doc_id: str
    title: str
    date: str
    source: str
    page: int | None
    excerpt: Excerpt = Field(description="The passage the first quote came from, for context.")


class HitOut(BaseModel):
    doc_id: str
    title: str
    date: str
    source: str
    text: str
    start: int
    end: int
    page: int | None
    rank: int
    score: float = Field(description="The fused score the passages are ranked by.")
    dense_score: float = Field(description="Cosine similarity of the passage's best sentence to the query.")
    bm25_score: float


class Timing(BaseModel):
    total_ms: float


class AskResponse(BaseModel):
    question: str
    answer: str = Field(description="The quotes, each followed by its [n] marker; or the abstention sentence.")
    abstained: bool = Field(description="True when the documents do not answer: no quotes, see passages.")
    confidence: float
    quotes: list[QuoteOut]
    citations: list[CitationOut]
    passages: list[HitOut] = Field(description="The passages retrieved; the closest ones when abstained.")
    interpretation: dict[str, Any] | None = Field(
        None, description="With a history: how the question was read (turns_used, questions, carried_terms, "
                          "documents, skipped_abstained).")
    timing: Timing


class SearchResponse(BaseModel):
    query: str
    hits: list[HitOut]
    timing: Timing


class DocumentOut(BaseModel):
    name: str = Field(description="The path relative to the document folder: the name DELETE takes.")
    title: str
    date: str
    size_bytes: int | None = Field(description="The file's size; null when the file is missing or unreadable.")
    passages: int = Field(description="Passages (chunks) of it in the index.")
    added: str | None = Field(description="When it entered the index (ISO-8601, UTC).")
    status: Literal["indexed", "missing", "unreadable", "not indexed"]
    message: str = Field(description="Why, for a status other than indexed.")


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class UploadOut(BaseModel):
    name: str
    status: Literal["added", "duplicate", "rejected"]
    message: str
    saved_as: str | None


class RemoveResponse(BaseModel):
    name: str
    removed: bool
    message: str = Field(description="Where the file went (moved to .trash/... or deleted).")
    trash_path: str | None = Field(description="Its place in the trash, relative to the document folder.")


class UploadResponse(BaseModel):
    results: list[UploadOut]
    documents: int = Field(description="Documents in the index after the upload.")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    documents: int
    passages: int
    model: str
    read_only: bool
    uploads: bool = Field(description="Whether POST and DELETE /api/documents are allowed.")


class StoppingResponse(BaseModel):
    status: Literal["stopping"] = Field(description="Answered with 503 from the moment the server is asked to stop.")


class ErrorResponse(BaseModel):
    error: str = Field(description="A short code, e.g. bad_request, not_found, too_large, index_not_ready, model_not_loaded.")
    message: str = Field(description="What went wrong and what to do, for a person.")


def hit_out(hit: Hit) -> HitOut:
    return HitOut(doc_id=hit.doc_id, title=hit.title, date=hit.date or "", source=hit.source, text=hit.text,
                  start=hit.start, end=hit.end, page=hit.page, rank=hit.rank, score=hit.score,
                  dense_score=hit.dense_score, bm25_score=hit.bm25_score)


def quote_out(quote: Quote) -> QuoteOut:
    return QuoteOut(text=quote.text, doc_id=quote.doc_id, start=quote.start, end=quote.end, score=quote.score,
                    citation=quote.citation, shown=quote.shown)


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(number=c.number, doc_id=c.doc_id, title=c.title, date=c.date or "", source=c.source,
                       page=c.page, excerpt=Excerpt(text=c.excerpt.text, start=c.excerpt.start, end=c.excerpt.end))


def ask_response(answer: Answer, total_ms: float) -> AskResponse:
    return AskResponse(question=answer.question, answer=answer.text, abstained=answer.abstained,
                       confidence=answer.confidence, quotes=[quote_out(q) for q in answer.quotes],
                       citations=[citation_out(c) for c in answer.citations],
                       passages=[hit_out(h) for h in answer.passages], timing=Timing(total_ms=total_ms),
                       interpretation=asdict(answer.interpretation) if answer.interpretation else None)


def document_out(info: DocumentInfo) -> DocumentOut:
    return DocumentOut(name=info.name, title=info.title, date=info.date, size_bytes=info.size_bytes,
                       passages=info.passages, added=info.added, status=info.status,  # type: ignore[arg-type]
                       message=info.message)


def indexed_documents(index: Index) -> list[DocumentInfo]:
    """What an index without a document folder (built in memory) can say about its documents."""
    passages = Counter(chunk.doc_id for chunk in index.chunks)
    return [DocumentInfo(doc.id, doc.id, doc.title, str(doc.metadata.get("date") or ""), None, passages[doc.id],
                         None, INDEXED) for doc in sorted(index.documents.values(), key=lambda d: d.id)]


def upload_out(result: UploadResult) -> UploadOut:
    return UploadOut(name=result.name, status=result.status, message=result.message,  # type: ignore[arg-type]
                     saved_as=result.saved_as)
