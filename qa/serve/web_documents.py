"""The web page's Documents panel and the thumbs up/down on answers: formatting and Gradio wiring.

All the work is done by ``qa.library.manager.DocumentLibrary`` and ``qa.serve.feedback.FeedbackLog``; this module only shows
their results and connects their events.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr  # at module level: Gradio finds gr.LikeData by resolving the handler's annotations

from qa.errors import QAError
from qa.library.manager import INDEXED, TRASH, DocumentInfo, DocumentLibrary, RemoveResult, human_size
from qa.library.uploads import Progress
from qa.serve.feedback import FeedbackLog
from qa.serve.formatting import WARNING, format_index_info, literal

log = logging.getLogger(__name__)


def format_document(info: DocumentInfo) -> str:
    """Two lines of Markdown (three with a problem): title and date; file, size, passages, when added."""
    added = (info.added or "unknown")[:16].replace("T", " ")
    passages = f"{info.passages} passage{'s' * (info.passages != 1)}"
    text = (f"**{literal(info.title)}** · {literal(info.date or 'no date')}  \n"
            f"{literal(info.name)} · {human_size(info.size_bytes)} · {passages} · added {literal(added)}")
    return text if info.status == INDEXED else f"{text}  \n{WARNING} {literal(info.status)}: {literal(info.message)}"


def format_documents(infos: list[DocumentInfo]) -> str:
    if not infos:
        return "*No documents.*"
    return "\n\n".join(format_document(info) for info in infos)


def format_remove_results(results: list[RemoveResult]) -> str:
    return "\n".join(f"- **{literal(r.name)}**: {literal(r.message)}" for r in results)


def remove_messages(library: DocumentLibrary, names: list[str] | None, delete: bool = False,
                    progress: Progress | None = None) -> Iterator[str]:
    """Status text while documents are removed and the index updated, then one line per document."""
    if not names:
        yield "Choose the documents to remove first."
        return
    yield f"⏳ Removing {len(names)} document{'s' * (len(names) != 1)}…"
    try:
        results = library.remove(list(names), delete=delete, progress=progress)
    except QAError as exc:
        yield f"{WARNING} {literal(str(exc))}"
        return
    except Exception:  # the page must never show a traceback; the server log keeps it
        log.exception("failed to remove documents %r", names)
        yield f"{WARNING} Something went wrong while removing the documents; the server log has the details."
        return
    yield f"{format_remove_results(results)}\n\n{format_index_info(library.assistant.index)}"


def confirmation(names: list[str] | None, delete: bool) -> str:
    where = "deleted for good" if delete else f"moved to the {TRASH} folder inside the document folder"
    listed = ", ".join(f"**{literal(n)}**" for n in names or [])
    return f"Remove {listed} from the index? The file{'s' * (len(names or []) != 1)} will be {where}."


def documents_panel(demo: gr.Blocks, library: DocumentLibrary, uploaded: Any = None, index_status: Any = None
                    ) -> None:
    """An accordion listing the documents, with a two-step removal; it refreshes on load and after uploads.

    ``uploaded`` is the upload event to follow; ``index_status`` a Markdown showing the index size, updated
    after a removal."""
    with gr.Accordion("Documents", open=False, elem_id="documents"):
        listing = gr.Markdown(elem_id="documents-list")
        chosen = gr.Dropdown([], multiselect=True, label="Remove documents", elem_id="documents-select")
        delete = gr.Checkbox(False, label=f"Delete the files instead of moving them to {TRASH}/",
                             elem_id="documents-delete")
        ask = gr.Button("Remove…", size="sm", elem_id="documents-remove")
        with gr.Column(visible=False, elem_id="documents-confirm") as confirm_box:
            question = gr.Markdown()
            with gr.Row():
                yes = gr.Button("Yes, remove", variant="stop", size="sm", elem_id="documents-confirm-yes")
                no = gr.Button("Cancel", size="sm", elem_id="documents-confirm-no")
        status = gr.Markdown(elem_id="documents-status")

    def refresh() -> tuple[str, Any]:
        infos = library.list_documents()
        return format_documents(infos), gr.update(choices=[(i.name, i.name) for i in infos], value=[])

    def confirm(names: list[str] | None, delete_files: bool) -> tuple[Any, str, str]:
        if not names:
            return gr.update(visible=False), "", "Choose the documents to remove first."
        return gr.update(visible=True), confirmation(names, delete_files), ""

    def remove(names: list[str] | None, delete_files: bool,
               progress: gr.Progress = gr.Progress(track_tqdm=True)) -> Iterator[Any]:
        messages = remove_messages(library, names, delete_files, progress)
        text = next(messages)
        for following in messages:  # one message behind, so the last one goes out with the new list
            yield gr.update(visible=False), text, gr.update(), gr.update()
            text = following
        yield (gr.update(visible=False), text, *refresh())

    listed = [listing, chosen]
    demo.load(refresh, None, listed, api_name="documents")
    if uploaded is not None:
        uploaded.then(refresh, None, listed, api_visibility="private")
    ask.click(confirm, [chosen, delete], [confirm_box, question, status], api_visibility="private")
    no.click(lambda: gr.update(visible=False), None, confirm_box, api_visibility="private")
    removed = yes.click(remove, [chosen, delete], [confirm_box, status, *listed], api_name="remove_documents",
                        concurrency_limit=1, show_progress="full")
    if index_status is not None:
        removed.then(lambda: format_index_info(library.assistant.index), None, index_status,
                     api_visibility="private")


def feedback_events(chatbot: gr.Chatbot, feedback: FeedbackLog) -> None:
    """Thumbs up/down on each answer; a vote is appended to feedback.jsonl in the index folder."""
    def vote(history: list[Any], data: gr.LikeData) -> None:
        index = data.index if isinstance(data.index, int) else data.index[0]
        try:
            feedback.vote(history, index, data.liked)
        except OSError:
            log.exception("could not record feedback in %s", feedback.path)
            gr.Warning("Your vote could not be saved; the server log has the details.")

    chatbot.like(vote, chatbot, None, api_name="feedback")
