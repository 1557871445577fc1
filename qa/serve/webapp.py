"""The Gradio chat page: the chat, its sources, uploads and the documents panel; all answering is done by
``qa.Assistant`` and all formatting by ``qa.serve.formatting``."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer.answers import Answer
from qa.answer.assistant import Assistant
from qa.answer.language import question_language
from qa.answer.ranker import ranker_for
from qa.errors import QAError
from qa.index.index import Index
from qa.library.live import IndexFollower, LiveAssistant
from qa.library.manager import DocumentLibrary
from qa.library.uploads import MB, Progress, UploadLimits
from qa.serve.feedback import FeedbackLog
from qa.serve.formatting import WARNING, format_index_info, format_sources, format_upload_results, literal

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

EXAMPLES = [
    "What is China's position on Kosovo?",
    "What does China urge Belgrade and Pristina to do?",
    "Who won the 2018 World Cup?",
]


# Passed to launch() or mount_gradio_app() with the page (Gradio 6 takes CSS there, not in Blocks).
PAGE_CSS = """
/* Gradio's "Source Sans Pro" SemiBold is a few-glyph subset, so bold text mixed it with a fallback font letter by
   letter (the heading's "A"). The same family, complete, under a name of its own: Regular and Bold ship with Gradio
   and are served with the page. */
@font-face { font-family: "QA Sans"; font-weight: 100 500; font-style: normal;
             src: url("static/fonts/SourceSansPro/SourceSansPro-Regular.woff2") format("woff2"); }
@font-face { font-family: "QA Sans"; font-weight: 600 900; font-style: normal;
             src: url("static/fonts/SourceSansPro/SourceSansPro-Bold.woff2") format("woff2"); }
.gradio-container { --font: "QA Sans", ui-sans-serif, system-ui, sans-serif; }
/* The chat's toolbar takes its own line instead of floating over the top message as the chat scrolls. */
#chat .top-panel { position: static; align-self: flex-end; width: fit-content; margin: 2px 4px 0 auto; }
#chat .bubble-wrap { height: auto; flex: 1 1 auto; min-height: 0; }
/* Thumbs up/down are for answers: a message alone in its bubble is an error (answers come with their sources). */
#chat .bot-row:not(:has(.message + .message)) + .message-buttons :is(button[aria-label="Like"],
  button[aria-label="Dislike"]) { display: none; }
"""
# The chat fills the window's height beside the title and the question box, and never gets too small to read.
CHAT_HEIGHT = "calc(100vh - 260px)"


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
        yield [{"role": "assistant", "content": f"{WARNING} {literal(str(exc))}"}]
        return
    except Exception:  # the chat must never show a traceback; the server log keeps it
        log.exception("failed to answer %r", message[:200])
        yield [{"role": "assistant", "content": f"{WARNING} Something went wrong while answering; the server log "
                                                "has the details."}]
        return
    # Messages are Markdown in which a document's text is literal (backslash escapes where Markdown would read
    # markup, no HTML entities): the page shows the document's characters and API clients can read them back.
    # Quotes are shown reflowed (Quote.shown). The Chatbot also sanitises (sanitize_html): nothing can run.
    if answer.abstained:
        shown = literal(answer.text)
    else:
        shown = ""
        for quote in answer.quotes:
            shown += f"\u201c{literal(quote.shown)}\u201d [{quote.citation}] "
            yield [{"role": "assistant", "content": shown.strip()}]
    if on_answer:
        on_answer(answer, shown.strip())
    yield [{"role": "assistant", "content": shown.strip()},
           {"role": "assistant", "content": format_sources(answer)}]


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
        yield f"{WARNING} {literal(str(exc))}"
        return
    except Exception:  # the page must never show a traceback; the server log keeps it
        log.exception("failed to add uploaded files")
        yield f"{WARNING} Something went wrong while adding the files; the server log has the details."
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

    from qa.serve.web_documents import documents_panel, feedback_events

    library = None if read_only else library or document_library(assistant, source_dir, limits)
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
                chatbot = gr.Chatbot(height=CHAT_HEIGHT, min_height=420, sanitize_html=True, render_markdown=True,
                                     latex_delimiters=[], show_label=False, elem_id="chat")
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


def document_library(assistant: Assistant, source_dir: str | Path | None, limits: UploadLimits | None
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
    """Load the embedding model, the quote ranker and the language identifier, and run each once, so the first
    question does not wait for them (the language identifier takes about a second, on a first abstention); a
    failure is left for the first question to report."""
    try:
        index.embedder.encode_query("warm up")
        question_language("Which language is this question in?")
        ranker = ranker_for(index.settings)
        if ranker is not None:
            ranker.logits("warm up", ["Warm up."])
    except QAError as exc:
        log.warning("could not load a model yet: %s", exc)


