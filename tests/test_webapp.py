"""The Gradio chat: message formatting in-process, and the real server driven through gradio_client."""
from __future__ import annotations

import re

import pytest
from helpers import SEED_DATE, SEED_QUESTION, SEED_TITLE, URGE_QUESTION, URGED, from_markdown, launched

import qa
from qa.serve.webapp import answer_messages, chat_history, create_demo

BAD_QUESTIONS = {"empty": "", "whitespace": "  \n\t  ", "too-long": ("What about Kosovo? " * 6000)[:100_000]}


@pytest.mark.parametrize("question", BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
def test_bad_question_gives_one_short_warning_message(assistant, question):
    updates = list(answer_messages(assistant, question))

    assert len(updates) == 1
    [message] = updates[0]
    assert message["role"] == "assistant"
    assert message["content"].startswith("⚠️ ")
    assert len(message["content"]) < 200
    assert "Traceback" not in message["content"]


def test_too_long_question_warning_names_the_limit(assistant):
    [[message]] = list(answer_messages(assistant, BAD_QUESTIONS["too-long"]))

    assert f"{qa.Settings().max_question_chars:,}" in message["content"]


def test_answer_streams_quote_by_quote_then_adds_sources(assistant, seed_answer):
    updates = list(answer_messages(assistant, SEED_QUESTION))

    assert len(updates) == len(seed_answer.quotes) + 1
    streamed = [u[0]["content"] for u in updates[:-1]]
    assert all(later.startswith(earlier) for earlier, later in zip(streamed, streamed[1:]))
    answer_message, sources_message = updates[-1]
    assert answer_message["content"] == seed_answer.text
    assert sources_message["content"].startswith("**Sources**")


def test_abstained_answer_shows_the_closest_passages(assistant):
    answer_message, sources_message = list(answer_messages(assistant, "Who won the 2018 World Cup?"))[-1]

    assert "documents don't answer" in answer_message["content"]
    assert "do not answer the question" in sources_message["content"]
    assert SEED_TITLE in sources_message["content"]


def test_document_markup_is_literal_markdown_in_sources():
    text = "The harbour master wrote <script>alert('boats')</script> in the log about the harbour boats."
    index = qa.build_index([qa.Document("xss", text, title="<b>Harbour</b> log")])

    _, sources = list(answer_messages(qa.Assistant(index, min_score=0.0), "What did the harbour master write?"))[-1]

    content = sources["content"]
    assert re.search(r"(?<!\\)<(script|b)\b", content) is None  # every tag from the document is escaped text
    assert "&lt;" not in content and "&#" not in content  # with Markdown's backslash, not HTML entities
    assert text in from_markdown(content.replace("<mark>", "").replace("</mark>", ""))
    assert "<b>Harbour</b> log" in from_markdown(content)


def test_chat_history_keeps_questions_and_answers_not_sources(seed_answer):
    history = [{"role": "user", "content": [{"type": "text", "text": SEED_QUESTION}]},
               {"role": "assistant", "content": [{"type": "text", "text": seed_answer.text}]},
               {"role": "assistant", "content": "**Sources**\n\n> an excerpt"},
               {"role": "user", "content": [{"type": "file", "file": {"path": "x.png"}}]}]

    assert chat_history(history) == [{"role": "user", "content": SEED_QUESTION},
                                     {"role": "assistant", "content": seed_answer.text}]


def test_a_follow_up_in_the_chat_is_answered_from_its_history(assistant):
    first = list(answer_messages(assistant, SEED_QUESTION))[-1]
    history = [{"role": "user", "content": SEED_QUESTION}, *first]

    answer, sources = list(answer_messages(assistant, URGE_QUESTION, history))[-1]

    assert any(sentence in answer["content"] for sentence in URGED)
    reading, rest = sources["content"].split("\n\n", 1)  # how the follow-up was read, quietly, then the sources
    assert reading.startswith("<small>Read with 1 earlier turn; terms carried over:") and reading.endswith("</small>")
    assert rest.startswith("**Sources**")


@pytest.fixture(scope="module")
def chat_client(assistant):
    from gradio_client import Client

    with launched(create_demo(assistant)) as url:
        yield Client(url, verbose=False, download_files=False)


@pytest.mark.slow
def test_chat_endpoint_answers_with_quotes_and_a_marker(chat_client, seed_answer):
    messages = chat_client.predict(SEED_QUESTION, api_name="/chat")

    answer = messages[0]
    assert answer["role"] == "assistant"
    assert "[1]" in answer["content"]
    assert answer["content"] == seed_answer.text  # Belgrade's, not Belgrade&#x27;s


@pytest.mark.slow
def test_chat_endpoint_sends_sources_naming_the_seed_article(chat_client):
    messages = chat_client.predict(SEED_QUESTION, api_name="/chat")

    assert len(messages) == 2
    sources = messages[1]["content"]
    # The client's session keeps the conversation: an earlier test's turn may be named first, in small type.
    assert re.match(r"(<small>Read [^\n]*</small>\n\n)?\*\*Sources\*\*", sources)
    assert f"[1] {SEED_TITLE}" in sources
    assert SEED_DATE in sources


@pytest.mark.slow
def test_chat_endpoint_answers_an_empty_question_with_a_warning(chat_client):
    messages = chat_client.predict("", api_name="/chat")

    assert len(messages) == 1
    assert messages[0]["content"].startswith("⚠️ the question is empty")


SYMBOLS = ("The harbour master's ledger says imports & exports rose, while <b>fees</b> stayed > 2% and < 5%. "
           "Nobody else keeps a ledger like it.\n")


@pytest.mark.slow
def test_api_clients_receive_quotes_exactly_as_the_document_has_them(tmp_path):
    from gradio_client import Client

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ledger.txt").write_text(SYMBOLS, encoding="utf-8")
    assistant = qa.Assistant(qa.build_index(tmp_path / "docs", tmp_path / "index"))
    expected = assistant.ask("What does the harbour master's ledger say about imports and fees?")
    with launched(create_demo(assistant)) as url:
        messages = Client(url, verbose=False, download_files=False).predict(
            "What does the harbour master's ledger say about imports and fees?", api_name="/chat")

    quoted = SYMBOLS.split(" Nobody")[0]
    assert not expected.abstained and expected.quotes[0].text == quoted
    assert from_markdown(messages[0]["content"]) == expected.text
    assert f"\u201c{quoted}\u201d [1]" in from_markdown(messages[0]["content"])
    assert quoted in from_markdown(messages[1]["content"].replace("<mark>", "").replace("</mark>", ""))
    assert not any(re.search(r"&(#?\w+);", m["content"]) for m in messages)  # no HTML entities to decode
