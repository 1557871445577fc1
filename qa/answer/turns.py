"""A conversation's history as ``Turn``s (``qa.retrieve.context``): from chat messages, whose quotes are found
again in the documents by their text, or from the ``Answer`` objects a ``Conversation`` keeps."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.answer.answers import NO_ANSWER, Answer
from qa.answer.reflow import reflow_map
from qa.errors import QuestionError
from qa.retrieve.context import Turn
from qa.retrieve.passages import Passages

_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation
_QUOTE = re.compile(r"\u201c(.+?)\u201d\s*\[\d+\]", re.DOTALL)


def turns_from_messages(index: Passages, history: Sequence[dict[str, Any]]) -> list[Turn]:
    """Turns from ``[{"role": "user"|"assistant", "content": str}, ...]``; each user message with the
    assistant's messages after it. Quotes are found again in the documents by their text."""
    pairs: list[tuple[str, list[str]]] = []
    for number, message in enumerate(history):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise QuestionError(f"history message {number} is {str(message)[:80]!r}: expected "
                                '{"role": "user" or "assistant", "content": text}')
        content = message.get("content")
        if not isinstance(content, str):  # e.g. a file in a Gradio chat: not part of the conversation's text
            continue
        if message["role"] == "user":
            pairs.append((content, []))
        elif pairs:
            pairs[-1][1].append(content)
    turns = []
    for question, replies in pairs:
        quotes = [m.group(1) for reply in replies for m in _QUOTE.finditer(reply)]
        answered = bool(quotes) and not any(r.strip().startswith(NO_ANSWER) for r in replies)
        turns.append(Turn(" ".join(question.split()), answered, ()))
    if turns and turns[-1].answered:  # only the last answer's places are used: find just those
        replies = pairs[-1][1]
        found = locate_quotes(index, [m.group(1) for r in replies for m in _QUOTE.finditer(r)])
        turns[-1] = Turn(turns[-1].question, True, found)
    return turns


def turns_from_answers(answers: Sequence[Answer]) -> list[Turn]:
    """Turns from the assistant's own ``Answer`` objects, with their quotes' exact places."""
    return [Turn(a.question, not a.abstained, tuple((q.doc_id, q.start, q.end) for q in a.quotes)) for a in answers]


def locate_quotes(index: Passages, quotes: list[str]) -> tuple[tuple[str, int, int], ...]:
    """(doc_id, start, end) of each quoted sentence, found among the passages that best match it. A quote may
    come as the chat showed it: reflowed, in Markdown (backslash escapes) or, from older pages, HTML-escaped."""
    found = []
    for quote in quotes:
        for text in dict.fromkeys((quote, _MARKDOWN_ESCAPE.sub(r"\1", quote), html.unescape(quote))):
            place = _find(index, text)
            if place:
                found.append(place)
                break
    return tuple(found)


def _find(index: Passages, text: str) -> tuple[str, int, int] | None:
    scores = index.bm25.scores(text)
    if not len(scores) or float(scores.max()) <= 0:
        return None
    for i in np.argsort(-scores)[:3].tolist():
        chunk = index.chunks[i]
        at = chunk.text.find(text)
        if at >= 0:
            return chunk.doc_id, chunk.start + at, chunk.start + at + len(text)
        shown, where = reflow_map(chunk.text, index.documents[chunk.doc_id].text)
        at = shown.find(text)
        if at >= 0 and text:
            return chunk.doc_id, chunk.start + where[at], chunk.start + where[at + len(text) - 1] + 1
    return None
