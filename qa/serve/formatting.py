"""How answers, sources and the index look on the page: Markdown and HTML built from library objects."""
from __future__ import annotations

import re
from bisect import bisect_left

from qa.answer.answers import Answer, Citation
from qa.answer.reflow import reflow_map
from qa.index.index import Index
from qa.library.uploads import UploadResult
from qa.retrieve.hits import Hit

EXCERPT_CHARS = 700
WARNING = "⚠️"  # what error messages start with, in the chat and the panels

# What Markdown, or the HTML it lets through, would read as markup in running text. Each is escaped with a
# backslash, which renders as the character itself: the page shows the document's characters and API clients
# get Markdown with no HTML entities to decode. What Markdown reads as text is left as it is: a bare "<" or "&"
# ("< 5%", "imports & exports"), an underscore inside a word (QA_MODEL).
_MARKUP = re.compile(r"[`*~\[\]]|(?<![^\W_])_|_(?![^\W_])|\\(?=[!-/:-@\[-`{-~]|$)|<(?=[A-Za-z/!?])|&(?=#?\w+;)")
_BLOCK_START = re.compile(r"^(\s*)(?:([#>+-])|(\d+)([.)]))", re.MULTILINE)  # a heading, quote or list item


def literal(text: str) -> str:
    """``text`` as Markdown that renders as exactly its characters."""
    return _block_literal(_inline_literal(text))


def _inline_literal(text: str) -> str:
    return _MARKUP.sub(lambda m: "\\" + m.group(), text)


def _block_literal(text: str) -> str:
    return _BLOCK_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(2)
                            else f"{m.group(1)}{m.group(3)}\\{m.group(4)}", text)


def format_excerpt(text: str, text_start: int, marks: list[tuple[int, int]]) -> str:
    """``text`` reflowed as its quotes are (words it hyphenated across lines mended where it has them whole) and
    made literal Markdown on one line, with the document ranges ``marks`` highlighted."""
    shown, where = reflow_map(text, text)
    out, pos = [], 0
    for start, end in sorted(marks):
        a, b = max(bisect_left(where, start - text_start), pos), bisect_left(where, end - text_start)
        if a >= b:
            continue
        out += [_inline_literal(shown[pos:a]), "<mark>", _inline_literal(shown[a:b]), "</mark>"]
        pos = b
    out.append(_inline_literal(shown[pos:]))
    return _block_literal("".join(out))


def format_citation(c: Citation) -> str:
    hit = c.excerpt
    quotes = [(q.start, q.end) for q in c.quotes if hit.start <= q.start and q.end <= hit.end]
    where = f" · {_inline_literal(c.location)}" if c.location else ""
    head = f"**[{c.number}] {_inline_literal(c.title)}** · {_inline_literal(c.date or 'no date')} · {_code(c.source)}{where}"
    return f"{head}\n\n> {format_excerpt(hit.text, hit.start, quotes)}"


def format_passage(hit: Hit) -> str:
    head = f"**{_inline_literal(hit.title)}** · {_inline_literal(hit.date or 'no date')} · {_code(hit.source)}"
    text = hit.text if len(hit.text) <= EXCERPT_CHARS else hit.text[:EXCERPT_CHARS] + "…"
    return f"{head} · similarity {hit.dense_score:.2f}\n\n> {format_excerpt(text, hit.start, [])}"


def format_sources(answer: Answer) -> str:
    """The Sources message under an answer: a follow-up's reading first (in small type), then the cited
    excerpts, or the closest passages when the documents do not answer."""
    it = answer.interpretation
    reading = f"<small>{_inline_literal(it.describe())}</small>\n\n" if it and it.in_context else ""
    if answer.abstained:
        if not answer.passages:
            return f"{reading}*No passage in the documents is close to this question.*"
        blocks = [format_passage(h) for h in answer.passages[:3]]
        heading = "Closest passages — these do not answer the question:" if answer.searched_in_vain else \
            "Closest passages:"
        return f"{reading}**{heading}**\n\n" + "\n\n".join(blocks)
    return f"{reading}**Sources**\n\n" + "\n\n".join(format_citation(c) for c in answer.citations)


def _code(text: str) -> str:
    """``text`` as a Markdown code span, which shows every character as it is (backticks need a longer fence)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if fence != "`" else f"`{text}`"


def format_upload_results(results: list[UploadResult]) -> str:
    """One line per file: what was added, what was already there, what was refused and why."""
    return "\n".join(f"- **{literal(r.name)}**: {literal(r.message)}" for r in results)


def format_index_info(index: Index) -> str:
    docs, passages = len(index.documents), len(index.chunks)
    return f"Index: {docs} document{'s' * (docs != 1)}, {passages} passage{'s' * (passages != 1)}."
