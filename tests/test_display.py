"""How document text is displayed: literal Markdown (the page renders exactly the document's characters, with no
HTML entities for API clients) and quotes reflowed from hard-wrapped text, with offsets that stay exact."""
from __future__ import annotations

import re

import pytest
from helpers import from_markdown, rendered_text
from hypothesis import given, settings
from hypothesis import strategies as st

import qa
from qa.answer.reflow import reflow, reflow_map
from qa.serve.formatting import format_excerpt, literal
from qa.serve.webapp import answer_messages, chat_history

MARKUP = ["*", "_", "**", "__", "`", "``", "~~", "~", "[", "]", "(", ")", "<", ">", "&", "&amp;", "&#39;", "<b>",
          "</p>", "<!--", "\\", "\\*", "# ", "- ", "+ ", "1. ", "2) ", "> ", "!", "|", "$$", "http://x.org", "a_b"]
TEXT = st.lists(st.one_of(st.sampled_from(MARKUP), st.text(alphabet="ab .,'\"é中", max_size=6)), max_size=14).map(
    "".join)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_literal_markdown_renders_as_exactly_the_text(text):
    shown = literal(" ".join(text.split()))

    assert rendered_text(shown) == " ".join(text.split())
    assert from_markdown(shown) == " ".join(text.split())  # what an API client reads back
    assert re.search(r"&#?\w+;", shown) is None or re.search(r"\\&#?\w+;", shown)  # no entity left to decode


def test_literal_leaves_ordinary_text_alone():
    text = "China's envoy said imports & exports rose > 2% and < 5% under QA_MODEL."

    assert literal(text) == text


def test_an_excerpt_renders_as_the_document_with_its_quote_marked():
    text = "1. The *right* <b>fees</b> & [notes]_\n   stay. Nothing else."
    shown = format_excerpt(text, 100, [(100 + text.index("The"), 100 + text.index(" Nothing"))])

    assert "<mark>" in shown and rendered_text(shown) == " ".join(text.split())


def test_an_excerpt_of_a_man_page_mends_the_words_it_broke_and_marks_the_quote():
    start = WRAPPED.index("Regulate")
    shown = format_excerpt(WRAPPED, 0, [(start, WRAPPED.index("slowest.") + 8)])

    assert "fastest compression method" in shown and "\n" not in shown
    assert shown.count("<mark>") == 1 and rendered_text(shown.split("<mark>")[1]).startswith("Regulate the speed")


WRAPPED = ("OPTIONS\n       -# --fast --best\n              Regulate  the  speed  of  compression  using  the\n"
            "              specified digit #, where -1 indicates the fastest compres-\n"
            "              sion method and -9 the slowest.\n       A self-\n       contained archive.\n")


def test_reflow_joins_lines_and_mends_only_words_the_document_has():
    assert reflow(WRAPPED, WRAPPED) == ("OPTIONS -# --fast --best Regulate the speed of compression using the "
                                          "specified digit #, where -1 indicates the fastest compression method "
                                          "and -9 the slowest. A self-contained archive.")
    assert "compres-sion" in reflow(WRAPPED)  # without the document, a hyphen is never dropped
    assert reflow("soft\u00ad\n  ware") == "software"


@given(st.text(alphabet="ab-\u2010\u00ad \n\t", max_size=40))
def test_reflow_map_points_every_shown_character_at_its_source(text):
    shown, where = reflow_map(text, "abab ab")

    assert reflow(text, "abab ab") == shown  # the fast path shows the same text
    assert len(where) == len(shown) and where == sorted(set(where))
    assert all(c == " " and text[w].isspace() or text[w] == c for c, w in zip(shown, where, strict=True))
    assert "\n" not in shown and "  " not in shown


@pytest.fixture(scope="module")
def man_assistant():
    return qa.Assistant(qa.build_index([qa.Document("gzip.1", WRAPPED, title="gzip")]), min_score=0.0)


def test_seed_quotes_are_shown_as_they_are(seed_answer):
    assert all(q.shown == q.text for q in seed_answer.quotes)  # news text has no line breaks to join


def test_a_quote_from_a_man_page_is_shown_reflowed_with_exact_offsets(man_assistant):
    answer = man_assistant.ask("Which method is the fastest compression?")

    quote = next(q for q in answer.quotes if "fastest" in q.text)
    assert WRAPPED[quote.start:quote.end] == quote.text and "\n" in quote.text
    assert "compression method" in quote.shown and "\n" not in quote.shown and "  " not in quote.shown
    assert f"\u201c{quote.shown}\u201d" in answer.text and "\n" not in answer.text


def test_a_follow_up_in_the_chat_finds_the_reflowed_quote_it_follows(man_assistant):
    question = "Which method is the fastest compression?"
    *_, shown = answer_messages(man_assistant, question)  # the chat's messages: Markdown, quotes reflowed
    history = chat_history([{"role": "user", "content": question}, *shown])

    follow_up = man_assistant.ask("And the slowest?", history=history)

    assert follow_up.interpretation is not None and follow_up.interpretation.documents == ("gzip.1",)
