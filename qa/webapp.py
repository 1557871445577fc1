"""The Gradio chat: formatting answers and sources for display; all answering is done by qa.Assistant."""
from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from qa.answer import Answer, Assistant, Citation
from qa.errors import QAError
from qa.retrieval import Hit
from qa.settings import Settings

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

EXAMPLES = [
    "What is China's position on Kosovo?",
    "What does China urge Belgrade and Pristina to do?",
    "Who won the 2018 World Cup?",
]
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
    where = f" · page {c.page}" if c.page else ""
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


def answer_messages(assistant: Assistant, message: str) -> Iterator[list[dict[str, Any]]]:
    """Stream the answer quote by quote, then add the sources as a second message."""
    try:
        answer = assistant.ask(message)
    except QAError as exc:
        yield [{"role": "assistant", "content": f"⚠️ {exc}"}]
        return
    except Exception:  # the chat must never show a traceback; the server log keeps it
        log.exception("failed to answer %r", message[:200])
        yield [{"role": "assistant", "content": "⚠️ Something went wrong while answering; the server log has "
                                                "the details."}]
        return
    if answer.abstained:
        shown = html.escape(answer.text)
    else:
        shown = ""
        for quote in answer.quotes:
            shown += f"\u201c{html.escape(quote.text)}\u201d [{quote.citation}] "
            yield [{"role": "assistant", "content": shown.strip()}]
    yield [{"role": "assistant", "content": shown.strip()},
           {"role": "assistant", "content": format_sources(answer)}]


def create_demo(assistant: Assistant) -> gr.Blocks:
    import gradio as gr

    def chat(message: str, history: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        yield from answer_messages(assistant, message)

    index = assistant.index
    description = (f"Answers quote the documents verbatim and cite them. Index: {len(index.documents)} documents, "
                   f"{len(index.chunks)} passages.")
    return gr.ChatInterface(
        chat,
        title="Ask your documents",
        description=description,
        examples=EXAMPLES,
        chatbot=gr.Chatbot(height=560, sanitize_html=True, render_markdown=True),
        api_name="chat",
        concurrency_limit=4,
        fill_height=True,
    )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Build or refresh the index if needed, then serve the chat (blocking)."""
    from qa.build import open_index

    index = open_index(settings.source_dir, settings.index_dir, settings, show_progress=True)
    demo = create_demo(Assistant(index))
    demo.queue(default_concurrency_limit=4).launch(server_name=host, server_port=port)
