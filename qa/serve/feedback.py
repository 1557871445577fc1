"""Thumbs up/down on answers, appended to ``feedback.jsonl`` in the index folder: an evaluation set of your own.

The file sits beside the index's generation folders, not inside one, so rebuilds and updates keep it. Each line
is one JSON object (``FeedbackEntry.to_dict``). A line is written with a single append under an exclusive
``flock`` and flushed to disk, so several writers (threads or processes) never interleave or lose lines.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qa.answer.answers import Answer
from qa.serve.formatting import WARNING

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.jsonl"
REMEMBERED = 1000  # answers kept in memory to find the quotes of the one voted on


@dataclass(frozen=True)
class FeedbackEntry:
    """One vote on one answer."""

    question: str
    answer: str  # the answer's text as the assistant gave it
    vote: str  # "up" or "down" (or another feedback option's name)
    quotes: list[dict[str, Any]] = field(default_factory=list)  # doc_id, start, end, text: text[start:end] == text
    abstained: bool = False  # the assistant said the documents do not answer
    time: str = ""  # ISO-8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feedback_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / FEEDBACK_FILE


def append_feedback(index_dir: str | Path, entry: FeedbackEntry) -> Path:
    """Append ``entry`` as one line of ``feedback.jsonl`` in ``index_dir``; returns the file's path."""
    path = feedback_path(index_dir)
    line = json.dumps(entry.to_dict(), ensure_ascii=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # one writer at a time, across processes too
        try:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return path


def read_feedback(index_dir: str | Path) -> list[dict[str, Any]]:
    """Every entry in ``feedback.jsonl`` (none if there is no file); a damaged line is skipped with a warning."""
    path = feedback_path(index_dir)
    if not path.exists():
        return []
    entries = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                log.warning("%s line %d is not JSON: skipped", path, number)
    return entries


def vote_name(liked: bool | str) -> str:
    """What a Gradio like event means: True is "up", False is "down", another option keeps its name."""
    if isinstance(liked, bool):
        return "up" if liked else "down"
    return str(liked)


class FeedbackLog:
    """Records votes on answers shown in the chat, with their quotes and offsets.

    The chat calls ``remember`` with each answer and the text it showed; a vote names a message of the chat
    history, which is matched back to its answer by that text. An answer no longer remembered (e.g. after a
    restart) is recorded with its shown text and no quotes.
    """

    def __init__(self, index_dir: str | Path, size: int = REMEMBERED) -> None:
        self.index_dir = Path(index_dir)
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return feedback_path(self.index_dir)

    def remember(self, answer: Answer, shown: str) -> None:
        with self._lock:
            self._answers[shown] = answer
            self._answers.move_to_end(shown)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)

    def vote(self, history: list[Any], index: int, liked: bool | str) -> FeedbackEntry | None:
        """Record a vote on message ``index`` of the chat ``history``; None if it is not an answer."""
        found = answer_turn(history, index)
        if found is None:
            log.warning("a vote on message %s, which is not an answer, was ignored", index)
            return None
        question, shown = found
        with self._lock:
            answer = self._answers.get(shown)
        entry = make_entry(question, shown, answer, vote_name(liked))
        append_feedback(self.index_dir, entry)
        log.info("feedback %s on %r", entry.vote, question[:80])
        return entry


def make_entry(question: str, shown: str, answer: Answer | None, vote: str) -> FeedbackEntry:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if answer is None:
        return FeedbackEntry(question, shown, vote, time=now)  # the chat shows the answer's own text (unescaped)
    quotes = [{"doc_id": q.doc_id, "start": q.start, "end": q.end, "text": q.text} for q in answer.quotes]
    return FeedbackEntry(question, answer.text, vote, quotes, answer.abstained, now)


def answer_turn(history: list[Any], index: int) -> tuple[str, str] | None:
    """The question and the shown answer (the first assistant message after it) of the turn holding message
    ``index``, which may be the answer or the sources message after it."""
    if not isinstance(index, int) or not 0 <= index < len(history) or _role(history[index]) != "assistant":
        return None
    start = index
    while start > 0 and _role(history[start - 1]) == "assistant":
        start -= 1
    if start == 0 or _role(history[start - 1]) != "user":
        return None
    shown = message_text(history[start])
    if shown.startswith(WARNING):  # an error message, not an answer (the page shows it no thumbs)
        return None
    return message_text(history[start - 1]), shown


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, dict) else str(getattr(message, "role", ""))


def message_text(message: Any) -> str:
    """The text of a chat message, whether its content is a string or a list of content blocks."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, list):
        return "".join(message_text({"content": part}) for part in content)
    return "" if content is None else str(content)
