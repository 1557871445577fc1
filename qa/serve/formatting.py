"""How answers, sources and the index look on the page: Markdown and HTML built from library objects."""
from __future__ import annotations

import html
import re

from qa.answer.answers import Answer, Citation
from qa.index.index import Index
from qa.library.uploads import UploadResult
from qa.retrieve.hits import Hit

EXCERPT_CHARS = 700


def format_excerpt(text: str, text_start: int, marks: list[tuple[int, int]]) -> str:
    """HTML-escaped ``text`` with the document ranges ``marks`` highlighted; documents never inject markup."""
    out, pos = [], 0
    for start, end in sorted(marks):
        a, b = max(start - text_start, pos), min(end - text_start, len(text))
        if a >= b:
            continue
        out += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(text[pos:]))
    return " ".join("".join(out).split())


def format_citation(c: Citation) -> str:
    hit = c.excerpt
    quotes = [(q.start, q.end) for q in c.quotes if hit.start <= q.start and q.end <= hit.end]
    where = f" · {html.escape(c.location)}" if c.location else ""
    head = f"**[{c.number}] {html.escape(c.title)}** · {html.escape(c.date or 'no date')} · `{c.source}`{where}"
    return f"{head}\n\n> {format_excerpt(hit.text, hit.start, quotes)}"


def format_passage(hit: Hit) -> str:
    head = f"**{html.escape(hit.title)}** · {html.escape(hit.date or 'no date')} · `{hit.source}`"
    text = hit.text if len(hit.text) <= EXCERPT_CHARS else hit.text[:EXCERPT_CHARS] + "…"
    return f"{head} · similarity {hit.dense_score:.2f}\n\n> {format_excerpt(text, hit.start, [])}"


def format_sources(answer: Answer) -> str:
    if answer.abstained:
        if not answer.passages:
            return "*No passage in the documents is close to this question.*"
        blocks = [format_passage(h) for h in answer.passages[:3]]
        return "**Closest passages — these do not answer the question:**\n\n" + "\n\n".join(blocks)
    return "**Sources**\n\n" + "\n\n".join(format_citation(c) for c in answer.citations)


def format_upload_results(results: list[UploadResult]) -> str:
    """One line per file: what was added, what was already there, what was refused and why."""
    return "\n".join(f"- **{plain(r.name)}**: {plain(r.message)}" for r in results)


def format_index_info(index: Index) -> str:
    docs, passages = len(index.documents), len(index.chunks)
    return f"Index: {docs} document{'s' * (docs != 1)}, {passages} passage{'s' * (passages != 1)}."


def plain(text: str) -> str:
    """``text`` shown literally in Markdown: markup characters escaped, HTML escaped."""
    return html.escape(re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text), quote=False)
