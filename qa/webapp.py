"""The Gradio chat: formatting answers and sources for display; all answering is done by qa.Assistant."""
from __future__ import annotations

import html
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer import Answer, Assistant, Citation
from qa.errors import ConfigError, PortBusyError, QAError
from qa.feedback import FeedbackLog
from qa.index import Index
from qa.library import DocumentLibrary
from qa.live import IndexFollower, LiveAssistant
from qa.retrieval import Hit
from qa.settings import Settings
from qa.uploads import MB, Progress, UploadLimits, UploadResult

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


def chat_history(history: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The conversation in a Gradio chat history: each user message and the answer after it (not the sources
    message that follows each answer, nor files). Gradio 6 gives a message's content as a list of parts."""
    turns: list[dict[str, str]] = []
    for message in history or []:
        role, content = message.get("role"), _text(message.get("content"))
        if content is None:
            continue
        if role == "user":
            turns.append({"role": "user", "content": content})
        elif role == "assistant" and turns and turns[-1]["role"] == "user":
            turns.append({"role": "assistant", "content": content})
    return turns


def _text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "".join(p for p in parts if isinstance(p, str)) if parts else None
    return None


def answer_messages(assistant: Assistant, message: str, history: list[dict[str, Any]] | None = None,
                    on_answer: Callable[[Answer, str], object] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Stream the answer quote by quote, then add the sources as a second message. ``history`` (Gradio's, of
    this browser session) makes follow-up questions read in the conversation's context; ``on_answer(answer,
    shown)`` is called with each answer and the text shown for it (for feedback)."""
    try:
        answer = assistant.ask(message, history=chat_history(history))
    except QAError as exc:
        yield [{"role": "assistant", "content": f"⚠️ {exc}"}]
        return
    except Exception:  # the chat must never show a traceback; the server log keeps it
        log.exception("failed to answer %r", message[:200])
        yield [{"role": "assistant", "content": "⚠️ Something went wrong while answering; the server log has "
                                                "the details."}]
        return
    # The answer goes out as the document's own text: API clients must see exactly what was quoted. The
    # Chatbot sanitises it (sanitize_html), so markup in a document cannot run in the page; the Sources
    # message below shows the same text HTML-escaped, character for character.
    if answer.abstained:
        shown = answer.text
    else:
        shown = ""
        for quote in answer.quotes:
            shown += f"\u201c{quote.text}\u201d [{quote.citation}] "
            yield [{"role": "assistant", "content": shown.strip()}]
    if on_answer:
        on_answer(answer, shown.strip())
    yield [{"role": "assistant", "content": shown.strip()},
           {"role": "assistant", "content": format_sources(answer)}]


def format_upload_results(results: list[UploadResult]) -> str:
    """One line per file: what was added, what was already there, what was refused and why."""
    return "\n".join(f"- **{_plain(r.name)}**: {_plain(r.message)}" for r in results)


def format_index_info(index: Index) -> str:
    docs, passages = len(index.documents), len(index.chunks)
    return f"Index: {docs} document{'s' * (docs != 1)}, {passages} passage{'s' * (passages != 1)}."


def _plain(text: str) -> str:
    """``text`` shown literally in Markdown: markup characters escaped, HTML escaped."""
    return html.escape(re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text), quote=False)


def upload_messages(library: DocumentLibrary, paths: list[str] | None, progress: Progress | None = None
                    ) -> Iterator[str]:
    """Status text while files are added and indexed, then one line per file."""
    if not paths:
        yield format_index_info(library.assistant.index)
        return
    yield f"⏳ Adding {len(paths)} file{'s' if len(paths) > 1 else ''}…"
    try:
        results = library.add_files(paths, progress)
    except QAError as exc:
        yield f"⚠️ {_plain(str(exc))}"
        return
    except Exception:  # the page must never show a traceback; the server log keeps it
        log.exception("failed to add uploaded files")
        yield "⚠️ Something went wrong while adding the files; the server log has the details."
        return
    yield f"{format_upload_results(results)}\n\n{format_index_info(library.assistant.index)}"


def create_demo(assistant: Assistant, source_dir: str | Path | None = None, limits: UploadLimits | None = None,
                library: DocumentLibrary | None = None, read_only: bool = False,
                live: LiveAssistant | None = None) -> gr.Blocks:
    """The chat page; with a document folder (``source_dir``, else the one the index was built from) and an
    index saved in a folder, files dropped beside the chat are added to the folder and indexed (through
    ``library`` when given, e.g. shared with the HTTP API); ``read_only`` turns uploads off. Questions are
    answered by ``live`` when given (e.g. followed by ``follow_index``), else by the library's Assistant."""
    import gradio as gr

    from qa.web_documents import documents_panel, feedback_events

    library = None if read_only else library or _library(assistant, source_dir, limits)
    feedback = FeedbackLog(assistant.index.path) if assistant.index.path else None
    live = live or library or LiveAssistant(assistant)

    def chat(message: str, history: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        # Read the live assistant once: an upload or a new generation may swap it while this answer is written.
        # Gradio keeps the history per browser session; clearing the chat starts a new conversation.
        yield from answer_messages(live.assistant, message, history, feedback.remember if feedback else None)

    # Uploads are copied into the document folder at once; Gradio's cached copies can go after an hour.
    with gr.Blocks(title="Ask your documents", fill_height=True, delete_cache=(3600, 3600)) as demo:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(height=560, sanitize_html=True, render_markdown=True, elem_id="chat")
                gr.ChatInterface(
                    chat,
                    title="Ask your documents",
                    description="Answers quote the documents verbatim and cite them.",
                    examples=EXAMPLES,
                    chatbot=chatbot,
                    api_name="chat",
                    concurrency_limit=4,
                    fill_height=True,
                )
                if feedback:
                    feedback_events(chatbot, feedback)
            with gr.Column(scale=1, min_width=260):
                if library is None:
                    gr.Markdown(format_index_info(assistant.index))
                else:
                    documents_panel(demo, library, *_upload_panel(library))
    return demo


def _upload_panel(library: DocumentLibrary) -> tuple[Any, Any]:
    """The file box and its status; returns the upload event, for others to follow, and the status."""
    import gradio as gr

    limits = library.limits
    # No file_types here: Gradio would refuse the whole upload for one wrong file; the library says which.
    files = gr.File(label=f"Add documents ({', '.join(limits.suffixes)}; up to {limits.max_bytes / MB:g} MB each, "
                          f"{limits.max_files} at a time)", file_count="multiple", elem_id="upload")
    status = gr.Markdown(format_index_info(library.assistant.index), elem_id="upload-status")

    def upload(paths: list[str] | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> Iterator[Any]:
        for text in upload_messages(library, paths, progress):
            yield None, text  # clearing the file box lets the next drop start a new upload

    uploaded = files.upload(upload, files, [files, status], api_name="upload", concurrency_limit=1,
                            show_progress="full")
    return uploaded, status


def _library(assistant: Assistant, source_dir: str | Path | None, limits: UploadLimits | None
             ) -> DocumentLibrary | None:
    """The DocumentLibrary for uploads, or None when the index is in memory or its folder is unknown."""
    source = source_dir or assistant.index.manifest.get("source")
    if assistant.index.path is None or not source or not Path(source).is_dir():
        log.info("uploads are off: the index has no folder or no document folder")
        return None
    return DocumentLibrary(assistant, source, assistant.index.path, limits)


def follow_index(live: LiveAssistant) -> IndexFollower | None:
    """Poll the index folder every ``reload_interval`` seconds (its settings) and swap in new generations."""
    index = live.assistant.index
    if index.path is None or index.settings.reload_interval <= 0:
        return None
    return IndexFollower(live, index.path, index.settings, index.settings.reload_interval).start()


def warm_up(index: Index) -> None:
    """Load the embedding model and run it once; a failure is left for the first question to report."""
    try:
        index.embedder.encode_query("warm up")
    except QAError as exc:
        log.warning("could not load the embedding model yet: %s", exc)


DEFAULT_PORT = 7860


def env_port(environ: Mapping[str, str] | None = None) -> int:
    """The port to serve on: ``QA_PORT``, else ``GRADIO_SERVER_PORT`` (what Gradio users try), else 7860."""
    environ = os.environ if environ is None else environ
    for name in ("QA_PORT", "GRADIO_SERVER_PORT"):
        value = environ.get(name, "").strip()
        if value:
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise ConfigError(f"{name} must be a port number between 1 and 65535, got {value!r}")
            return int(value)
    return DEFAULT_PORT


def check_port(host: str, port: int) -> None:
    """Raise PortBusyError, saying how to choose another port, if ``host:port`` cannot be listened on."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            sock.bind((host, port))
    except OSError as exc:
        raise _port_busy(host, port, exc) from None


def _port_busy(host: str, port: int, exc: BaseException) -> PortBusyError:
    other = port + 1 if port < 65535 else 7861
    return PortBusyError(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}): another program "
                         f"(another Gradio app?) is using the port. Choose another one: `QA_PORT={other} make run` "
                         f"or `qa serve --port {other}`")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Build or refresh the index if needed, then serve the chat, the HTTP API and MCP on one port (blocking).

    A busy port is reported (PortBusyError) before any work, and again if it was taken while the index built.
    """
    from qa.server import build_app, run_app

    check_port(host, port)
    app = build_app(settings, host, port)
    check_port(host, port)
    run_app(app, host, port, settings.shutdown_grace_s)
