"""The Documents panel and the thumbs up/down: formatting in-process, the real app through real clients."""
from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest
from helpers import (
    PENGUINS,
    RENDERER,
    SEED_ID,
    SEED_QUESTION,
    SEED_TITLE,
    copy_seeds,
    launched,
    make_corpus,
    rendered_text,
)

import qa
from qa.library.manager import INDEXED, MISSING, DocumentInfo, DocumentLibrary
from qa.serve.feedback import FEEDBACK_FILE, FeedbackLog, answer_turn, append_feedback, make_entry, read_feedback
from qa.serve.web_documents import confirmation, format_document, remove_messages
from qa.serve.webapp import answer_messages, create_demo

PENGUIN_QUESTION = "Where do emperor penguins breed?"


@pytest.fixture
def library(tmp_path) -> DocumentLibrary:
    docs = make_corpus(tmp_path / "docs")
    return DocumentLibrary(qa.Assistant(qa.build_index(docs, tmp_path / "index")), docs)


# --- formatting ----------------------------------------------------------------------------------------------

def test_a_document_shows_title_date_file_size_passages_and_when_added():
    info = DocumentInfo("news/a.txt", "news/a.txt", "Kosovo talks", "2017-08-17", 2215, 3,
                        "2026-01-02T03:04:05+00:00", INDEXED)

    assert format_document(info) == ("**Kosovo talks** · 2017-08-17  \n"
                                     "news/a.txt · 2.2 kB · 3 passages · added 2026-01-02 03:04")


def test_a_document_with_a_problem_says_what_it_is():
    info = DocumentInfo("a.txt", "a.txt", "A", "", None, 1, None, MISSING, "the file is gone")

    assert format_document(info).endswith("size unknown · 1 passage · added unknown  \n⚠️ missing: the file is gone")


def test_names_and_titles_are_shown_as_text():
    info = DocumentInfo("<img src=x onerror=alert(1)>.txt", "x", "<b>*Bold*</b>", "", 1, 1, None, INDEXED)

    text = format_document(info)

    assert rendered_text(text).startswith("<b>*Bold*</b> · no date")  # shown as text, character for character
    assert "<img src=x onerror=alert(1)>.txt ·" in rendered_text(text)
    assert "<img" not in RENDERER.render(text) and "<b>" not in RENDERER.render(text)  # no element made


def test_the_confirmation_says_where_the_files_go():
    assert confirmation(["a.txt"], False) == ("Remove **a.txt** from the index? The file will be moved to the "
                                              ".trash folder inside the document folder.")
    assert confirmation(["a.txt", "b.md"], True).endswith("The files will be deleted for good.")


def test_remove_messages_say_what_is_happening_then_each_document(library):
    updates = list(remove_messages(library, ["penguins.txt", "nothing.txt"]))

    assert updates[0] == "⏳ Removing 2 documents…"
    assert "- **penguins.txt**: moved to .trash/penguins.txt" in updates[-1]
    assert "- **nothing.txt**: no document named 'nothing.txt'" in updates[-1]
    assert updates[-1].endswith("Index: 2 documents, 4 passages.")


def test_remove_messages_without_a_choice_ask_for_one(library):
    assert list(remove_messages(library, [])) == ["Choose the documents to remove first."]


# --- feedback, in-process ------------------------------------------------------------------------------------

def test_a_vote_finds_the_question_and_the_answer_of_its_turn():
    history = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
               {"role": "assistant", "content": "sources 1"}, {"role": "user", "content": [{"type": "text",
                                                                                           "text": "q2"}]},
               {"role": "assistant", "content": [{"type": "text", "text": "a2"}]}]

    assert answer_turn(history, 1) == answer_turn(history, 2) == ("q1", "a1")
    assert answer_turn(history, 4) == ("q2", "a2")
    assert answer_turn(history, 0) is None and answer_turn(history, 9) is None


def test_a_vote_is_recorded_with_the_quotes_and_their_offsets(assistant, tmp_path):
    log = FeedbackLog(tmp_path)
    *_, (answer_message, sources) = answer_messages(assistant, SEED_QUESTION, on_answer=log.remember)
    history = [{"role": "user", "content": SEED_QUESTION}, answer_message, sources]

    log.vote(history, 2, False)

    [entry] = read_feedback(tmp_path)
    document = assistant.index.documents[SEED_ID].text
    assert (entry["question"], entry["vote"], entry["abstained"]) == (SEED_QUESTION, "down", False)
    assert entry["answer"] == assistant.ask(SEED_QUESTION).text
    assert entry["quotes"] and all(document[q["start"]:q["end"]] == q["text"] and q["doc_id"] == SEED_ID
                                   for q in entry["quotes"])
    assert entry["time"].endswith("+00:00")


def test_a_vote_on_a_forgotten_answer_keeps_the_shown_text(tmp_path):
    shown = "\u201cprofits &amp; losses & <5%\u201d [1]"  # the chat shows the document's own text, entities too
    FeedbackLog(tmp_path).vote([{"role": "user", "content": "q"}, {"role": "assistant", "content": shown}], 1, True)

    [entry] = read_feedback(tmp_path)
    assert (entry["answer"], entry["vote"], entry["quotes"]) == (shown, "up", [])


def test_concurrent_votes_each_write_one_whole_line(tmp_path):
    entries = [make_entry(f"question {i} " + "x" * 5000, "answer", None, "up") for i in range(40)]
    threads = [threading.Thread(target=append_feedback, args=(tmp_path, e)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    lines = (tmp_path / FEEDBACK_FILE).read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["question"] for line in lines) == sorted(e.question for e in entries)


def test_feedback_survives_an_index_rebuild(tmp_path):
    docs = copy_seeds(tmp_path / "docs")
    qa.build_index(docs, tmp_path / "index")
    append_feedback(tmp_path / "index", make_entry("q", "a", None, "up"))

    qa.build_index(docs, tmp_path / "index")

    assert [e["question"] for e in read_feedback(tmp_path / "index")] == ["q"]


# --- the real app --------------------------------------------------------------------------------------------

@pytest.fixture
def app(tmp_path):
    """The app served on a private folder of three documents; yields (url, folder, index folder)."""
    docs = make_corpus(tmp_path / "docs")
    with launched(create_demo(qa.Assistant(qa.build_index(docs, tmp_path / "index")))) as url:
        yield url, docs, tmp_path / "index"


@pytest.mark.slow
def test_documents_endpoint_lists_then_removes_and_the_chat_stops_answering(app, tmp_path):
    from gradio_client import Client, handle_file

    url, docs, _ = app
    client = Client(url, verbose=False, download_files=False)
    rivers = tmp_path / "rivers.txt"
    rivers.write_text("The Danube flows into the Black Sea after crossing ten countries.", encoding="utf-8")

    listing, choices = client.predict(api_name="/documents")
    assert not client.predict(PENGUIN_QUESTION, api_name="/chat")[0]["content"].startswith("The documents don")
    client.predict([handle_file(str(rivers))], api_name="/upload")
    after_upload, _ = client.predict(api_name="/documents")
    status, after_removal, _ = client.predict(["penguins.txt"], False, api_name="/remove_documents")
    answer = client.predict(PENGUIN_QUESTION, api_name="/chat")[0]["content"]

    assert f"**{SEED_TITLE}** · 2017-08-17" in listing and "penguins.txt · 268 B · 1 passage" in listing
    assert "rivers.txt" in after_upload
    assert "- **penguins.txt**: moved to .trash/penguins.txt" in status
    assert "penguins" not in after_removal and (docs / ".trash" / "penguins.txt").is_file()
    assert answer == "The documents don't answer this question."


def like(url: str, history: list, index: int, liked: bool) -> None:
    """Click a thumb as the page does: the like event with its event data, through Gradio's queue over HTTP.

    gradio_client cannot send event data, so this speaks the page's own protocol with httpx.
    """
    config = httpx.get(f"{url}config").json()
    [dep] = [d for d in config["dependencies"] if d.get("api_name") == "feedback"]
    session = uuid.uuid4().hex
    body = {"data": [history], "event_data": {"index": index, "value": history[index]["content"], "liked": liked},
            "fn_index": dep["id"], "trigger_id": dep["targets"][0][0], "session_hash": session}
    httpx.post(f"{url}gradio_api/queue/join", json=body).raise_for_status()
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                assert json.loads(line[5:])["success"], line
                return


@pytest.mark.slow
def test_a_thumb_on_an_answer_is_appended_to_feedback_jsonl(app):
    from gradio_client import Client

    url, _, index_dir = app
    messages = Client(url, verbose=False, download_files=False).predict(PENGUIN_QUESTION, api_name="/chat")
    # As the page sends the chat: each message's content a list of blocks.
    history = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
               for m in [{"role": "user", "content": PENGUIN_QUESTION}, *messages]]

    like(url, history, 1, True)
    like(url, history, 2, False)

    entries = read_feedback(index_dir)
    assert [e["vote"] for e in entries] == ["up", "down"]
    assert entries[0]["question"] == PENGUIN_QUESTION and "Emperor penguins breed" in entries[0]["answer"]
    quote = entries[0]["quotes"][0]
    assert quote["doc_id"] == "penguins.txt" and PENGUINS[quote["start"]:quote["end"]] == quote["text"]
