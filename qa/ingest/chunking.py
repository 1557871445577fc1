"""Sentence-aware chunking that keeps every chunk's character offsets into its document."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qa.ingest.documents import Document
from qa.settings import Settings

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Span:
    """A [start, end) range of characters in a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``text == document.text[start:end]``.

    ``sentences`` are the [start, end) document offsets of the sentences the chunk is made of.
    """

    id: str
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "doc_id": self.doc_id, "position": self.position, "start": self.start,
                "end": self.end, "text": self.text, "sentences": [list(s) for s in self.sentences]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        sentences = tuple((int(a), int(b)) for a, b in data.get("sentences", ()))
        return cls(**{**data, "sentences": sentences})


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of ``text`` (shifted by ``offset``); paragraphs never share a sentence.

    Every character that is not whitespace lies in exactly one span.
    """
    spans: list[Span] = []
    pos = 0
    for block in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = block.start() if block else len(text)
        spans.extend(Span(offset + pos + s, offset + pos + e) for s, e in _paragraph_sentences(text[pos:end]))
        pos = block.end() if block else len(text)
    return spans


def _paragraph_sentences(para: str) -> list[tuple[int, int]]:
    """blingfire's sentences of one paragraph, widened over the characters it leaves out between them.

    blingfire drops control and zero-width characters (and the symbols \u2420 \u2424, which it uses
    internally) at sentence edges; they stay text of the document, so they join the sentence before.
    """
    import blingfire

    first, last = _lstrip_at(para, 0, len(para)), _rstrip_at(para, 0, len(para))
    if first >= last:
        return []
    # blingfire returns character (not byte) offsets into the string it was given.
    _, offsets = blingfire.text_to_sentences_and_offsets(para)
    found = [(s, e) for s, e in offsets if para[s:e].strip()] or [(first, last)]
    widened = []
    for i, (start, end) in enumerate(found):
        following = found[i + 1][0] if i + 1 < len(found) else last
        widened.append((first if i == 0 else start, max(end, _rstrip_at(para, end, following))))
    return widened


def _lstrip_at(text: str, lo: int, hi: int) -> int:
    """Where ``text[lo:hi]`` starts once leading whitespace is skipped (``hi`` if it is all whitespace)."""
    while lo < hi and text[lo].isspace():
        lo += 1
    return lo


def _rstrip_at(text: str, lo: int, hi: int) -> int:
    """Where ``text[lo:hi]`` ends once trailing whitespace is dropped (``lo`` if it is all whitespace)."""
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return hi


def _split_long(span: Span, text: str, size: int) -> list[Span]:
    """Cut a sentence longer than ``size`` at whitespace so no chunk outgrows the limit."""
    pieces, start = [], span.start
    while span.end - start > size:
        cut = text.rfind(" ", start + size // 2, start + size)
        cut = cut if cut > start else start + size
        pieces.append(Span(start, cut))
        start = cut + 1 if text[cut:cut + 1] == " " else cut
    if start < span.end:
        pieces.append(Span(start, span.end))
    return pieces


def chunk_document(doc: Document, size: int, overlap: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``size`` characters, repeating up to ``overlap``."""
    sentences = [piece for s in split_sentences(doc.text) for piece in _split_long(s, doc.text, size)]
    groups: list[list[Span]] = []
    current: list[Span] = []
    for sent in sentences:
        if current and sent.end - current[0].start > size:
            groups.append(current)
            current = _overlap_tail(current, overlap, sent, size)
        current.append(sent)
    if current:
        groups.append(current)
    return [_make_chunk(doc, i, g) for i, g in enumerate(groups)]


def _overlap_tail(previous: list[Span], overlap: int, nxt: Span, size: int) -> list[Span]:
    """The last sentences of ``previous`` that fit in ``overlap`` and leave room for ``nxt``."""
    tail: list[Span] = []
    for sent in reversed(previous[1:]):
        if previous[-1].end - sent.start > overlap or nxt.end - sent.start > size:
            break
        tail.insert(0, sent)
    return tail


def _make_chunk(doc: Document, position: int, group: list[Span]) -> Chunk:
    start, end = group[0].start, group[-1].end
    digest = hashlib.sha1(f"{doc.id}\x00{start}\x00{end}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Chunk(id=digest, doc_id=doc.id, position=position, start=start, end=end, text=doc.text[start:end],
                 sentences=tuple((s.start, s.end) for s in group))


def chunk_documents(docs: Iterable[Document], size: int, overlap: int) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_document(doc, size, overlap)]


def chunk_input(chunk: Chunk, doc: Document, settings: Settings) -> tuple[str, list[tuple[int, int]]]:
    """The text embedded and BM25-indexed for a chunk (the title helps both retrievers), and where its
    sentences are in that text."""
    prefix = f"{doc.title}\n" if settings.title_in_chunk and doc.title else ""
    shift = len(prefix) - chunk.start
    return prefix + chunk.text, [(a + shift, b + shift) for a, b in chunk.sentences]
