"""`qa chat`: a conversation in the terminal, one ``Conversation`` for the whole session (the model loads once).

At a terminal the line is read with readline editing and history; ``/new`` starts a new conversation,
``/sources`` shows the last answer's sources, ``/help`` lists the commands, Ctrl-D (or ``/quit``) leaves.
From a pipe, each line is a question (or a command) and each answer is printed followed by a blank line.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TextIO

from qa.answer.answers import Answer
from qa.answer.conversation import Conversation
from qa.errors import QAError

log = logging.getLogger(__name__)

PROMPT = "you> "
HELP = ("Ask about the documents; follow-up questions are read in the conversation's context.\n"
        "  /new      start a new conversation\n"
        "  /sources  show the sources of the last answer\n"
        "  /help     this text\n"
        "  Ctrl-D    leave (or /quit)")
SOURCE_CHARS = 300


def format_answer(answer: Answer) -> str:
    """The answer's text, then one line per cited document (``/sources`` shows more)."""
    cited = [f"  [{c.number}] {c.title or c.doc_id} ({c.date or 'no date'}) {c.source}" for c in answer.citations]
    return "\n".join([answer.text, *cited])


def format_sources(answer: Answer | None) -> str:
    """The last answer's sources with the quoted sentences, or the closest passages if it abstained."""
    if answer is None:
        return "No answer yet in this conversation."
    it = answer.interpretation
    lines = [describe_context(answer)] if it and it.in_context else []
    if answer.abstained:
        if not answer.passages:
            return "\n".join([*lines, "No passage is close to the last question."])
        heading = "Closest passages (they do not answer the question):" if answer.searched_in_vain else \
            "Closest passages:"
        return "\n".join([*lines, heading, *(
            f"  - {h.title or h.doc_id} ({h.source}): {_short(h.text)}" for h in answer.passages[:3])])
    for c in answer.citations:
        page = f", page {c.page}" if c.page else ""
        lines.append(f"[{c.number}] {c.title or c.doc_id} ({c.date or 'no date'}) {c.source}{page}")
        lines += [f"    \u201c{_short(q.shown)}\u201d (characters {q.start}-{q.end})" for q in c.quotes]
    return "\n".join(lines)


def describe_context(answer: Answer) -> str:
    """One line saying what the earlier turns contributed to reading the question."""
    it = answer.interpretation
    return "Read alone (no earlier turn)." if it is None else it.describe()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SOURCE_CHARS else text[:SOURCE_CHARS] + "…"


def run_chat(conversation: Conversation, read: Callable[[], str], out: TextIO, err: TextIO) -> int:
    """Answer lines from ``read`` (which raises EOFError at the end) until the end; returns how many were
    answered. A question the assistant cannot take is reported on ``err`` and the chat goes on."""
    answered = 0
    while True:
        try:
            line = read().strip()
        except EOFError:
            return answered
        except KeyboardInterrupt:  # Ctrl-C at the prompt drops the line, as a shell does
            out.write("\n")
            continue
        if not line:
            continue
        if line.startswith("/"):
            if not _command(line, conversation, out, err):
                return answered
            continue
        try:
            answer = conversation.ask(line)
        except QAError as exc:
            err.write(f"error: {exc}\n")
            continue
        out.write(format_answer(answer) + "\n\n")
        out.flush()
        answered += 1


def _command(line: str, conversation: Conversation, out: TextIO, err: TextIO) -> bool:
    """Run a /command; False when the chat should end."""
    name = line.split()[0].lower()
    if name in ("/quit", "/exit"):
        return False
    if name in ("/new", "/reset", "/clear"):
        conversation.reset()
        out.write("New conversation.\n\n")
    elif name == "/sources":
        out.write(format_sources(conversation.last) + "\n\n")
    elif name == "/help":
        out.write(HELP + "\n\n")
    else:
        err.write(f"unknown command {name!r}: /new, /sources, /help or /quit\n")
    out.flush()
    return True


def terminal_reader(interactive: bool, stdin: TextIO) -> Callable[[], str]:
    """``input`` with readline editing at a terminal; plain line reading from a pipe."""
    if interactive:
        try:
            import readline  # noqa: F401 - importing it gives input() line editing and history
        except ImportError:  # not on every platform; input() still works
            log.info("readline is not available: no line editing")
        return lambda: input(PROMPT)

    def read_line() -> str:
        line = stdin.readline()
        if not line:
            raise EOFError
        return line

    return read_line
