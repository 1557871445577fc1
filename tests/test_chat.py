"""`qa chat`: the terminal conversation, in-process with text streams and through the real console script."""
from __future__ import annotations

import io
import subprocess

import pytest
from helpers import OFF_TOPIC_QUESTION, SEED_QUESTION, SEED_TITLE, URGE_QUESTION, URGED, qa_command, subprocess_env

from qa.answer.answers import NO_ANSWER
from qa.answer.conversation import Conversation
from qa.cli.chat import format_sources, run_chat


def chat(assistant, *lines: str) -> tuple[str, str, Conversation]:
    """Run the chat loop over ``lines`` as if typed, and return what it printed and its conversation."""
    conversation = Conversation(assistant)
    queue = list(lines)

    def read() -> str:
        if not queue:
            raise EOFError
        return queue.pop(0)

    out, err = io.StringIO(), io.StringIO()
    run_chat(conversation, read, out, err)
    return out.getvalue(), err.getvalue(), conversation


def test_a_follow_up_in_the_chat_is_read_in_context(assistant):
    out, err, conversation = chat(assistant, SEED_QUESTION, URGE_QUESTION)

    assert err == ""
    assert len(conversation.answers) == 2
    assert any(sentence in out.split("\n\n")[1] for sentence in URGED)
    assert f"[1] {SEED_TITLE}" in out


def test_new_starts_a_new_conversation(assistant):
    _, _, conversation = chat(assistant, SEED_QUESTION, "/new", URGE_QUESTION)

    assert len(conversation.answers) == 1
    assert conversation.answers[0].interpretation is None


def test_sources_shows_the_last_answers_quotes_and_how_it_was_read(assistant):
    out, _, conversation = chat(assistant, SEED_QUESTION, URGE_QUESTION, "/sources")
    last = conversation.answers[-1]

    shown = out.split("\n\n")[2]
    assert shown.startswith("Read with 1 earlier turn; terms carried over:")
    assert f"[1] {SEED_TITLE}" in shown
    assert f"characters {last.quotes[0].start}-{last.quotes[0].end}" in shown


def test_sources_say_when_the_earlier_turns_went_unanswered(assistant):
    out, _, _ = chat(assistant, OFF_TOPIC_QUESTION, SEED_QUESTION, "/sources")

    shown = out.split("\n\n")[2]
    assert shown.startswith("Read with 1 unanswered earlier turn, at a lesser weight: no terms carried over.")


def test_sources_count_the_unanswered_turns_beside_the_answered_ones(assistant):
    out, _, _ = chat(assistant, OFF_TOPIC_QUESTION, SEED_QUESTION, URGE_QUESTION, "/sources")

    shown = out.split("\n\n")[3]
    assert shown.startswith("Read with 1 earlier turn (1 unanswered one also guided the search); terms carried over:")


def test_sources_before_any_question_says_so():
    assert format_sources(None) == "No answer yet in this conversation."


def test_an_error_is_reported_and_the_chat_goes_on(assistant):
    _, err, conversation = chat(assistant, "x" * 200_000, SEED_QUESTION)

    assert err.startswith("error: the question is 200,000 characters long")
    assert len(conversation.answers) == 1


def test_an_unknown_command_is_named(assistant):
    _, err, _ = chat(assistant, "/frobnicate")

    assert "unknown command '/frobnicate'" in err


def test_quit_leaves_before_the_next_line(assistant):
    _, _, conversation = chat(assistant, "/quit", SEED_QUESTION)

    assert conversation.answers == []


@pytest.mark.slow
def test_qa_chat_reads_questions_from_a_pipe(seed_index_dir, tmp_path):
    lines = [SEED_QUESTION, URGE_QUESTION, "And who won the 2018 World Cup?", "/sources", "/new", OFF_TOPIC_QUESTION]
    result = subprocess.run([qa_command(), "chat", "--index", str(seed_index_dir)], input="\n".join(lines) + "\n",
                            cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, encoding="utf-8",
                            timeout=240)

    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert blocks[0].startswith("\u201c") and f"[1] {SEED_TITLE}" in blocks[0]
    assert any(sentence in blocks[1] for sentence in URGED)
    assert blocks[2] == NO_ANSWER
    assert "Closest passages" in blocks[3]
    assert blocks[4] == "New conversation."
    assert blocks[5] == NO_ANSWER
    assert "you>" not in result.stdout  # no prompt when stdin is not a terminal
