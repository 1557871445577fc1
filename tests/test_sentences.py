"""Which sentence is quoted first (qa/sentences.py): questions and headings in a document hand over to the
answer under them, the passage's rank counts in the order, and abstention does not move with either."""
from __future__ import annotations

import dataclasses

import pytest

import qa
from helpers import OFF_TOPIC_QUESTION, SEED_QUESTION
from qa.errors import ConfigError
from qa.sentences import introduces

FAQ = """Driving licences: frequently asked questions

How do I renew my driving licence?
Renew it online on the licensing office's website, or send form R1 by post with a recent photograph.

What does a new licence cost?
The renewal fee is 30 euros for ten years; drivers over 70 renew for free.

Lost or stolen licences

Report a stolen licence to the police first, then order a replacement online.
"""
RENEW_ANSWER = "Renew it online on the licensing office's website, or send form R1 by post with a recent photograph."
STOLEN_ANSWER = "Report a stolen licence to the police first, then order a replacement online."


@pytest.fixture(scope="module")
def faq_index_dir(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("faq")
    (folder / "licences.txt").write_text(FAQ, encoding="utf-8")
    index_dir = folder / "index"
    qa.build_index(folder, index_dir)
    return index_dir


def assistant_with(index_dir, **change) -> qa.Assistant:
    return qa.Assistant(qa.load_index(index_dir, dataclasses.replace(qa.Settings(), **change)))


def test_a_question_in_the_document_hands_over_to_the_answer_under_it(faq_index_dir):
    answer = assistant_with(faq_index_dir).ask("How do I renew my driving licence?")

    assert answer.quotes[0].text == RENEW_ANSWER
    assert all(not q.text.endswith("?") for q in answer.quotes)


def test_without_handover_the_matching_question_itself_is_quoted_first(faq_index_dir):
    answer = assistant_with(faq_index_dir, quote_handover=False).ask("How do I renew my driving licence?")

    assert answer.quotes[0].text == "How do I renew my driving licence?"


def test_a_heading_hands_over_to_the_sentence_under_it(faq_index_dir):
    # A heading is a sentence of its own when a blank line follows it (qa.chunking splits paragraphs).
    question = "Lost or stolen licences"
    assert assistant_with(faq_index_dir, quote_handover=False).ask(question).quotes[0].text == question

    answer = assistant_with(faq_index_dir).ask(question)

    assert answer.quotes[0].text == STOLEN_ANSWER


def test_handed_over_quotes_are_verbatim_and_inside_their_excerpt(faq_index_dir):
    assistant = assistant_with(faq_index_dir)
    answer = assistant.ask("What does a new licence cost?")
    doc = assistant.index.documents[answer.quotes[0].doc_id]

    assert answer.quotes[0].text.startswith("The renewal fee is 30 euros")
    for citation in answer.citations:
        for quote in citation.quotes:
            assert doc.text[quote.start:quote.end] == quote.text
        assert citation.excerpt.start <= citation.quotes[0].start < citation.excerpt.end


@pytest.mark.parametrize("question", [SEED_QUESTION, OFF_TOPIC_QUESTION, "How do I renew my driving licence?"])
def test_abstention_does_not_depend_on_how_quotes_are_ordered(seed_index_dir, faq_index_dir, question):
    for index_dir in (seed_index_dir, faq_index_dir):
        answers = [assistant_with(index_dir, **change).ask(question) for change in
                   ({}, {"quote_handover": False, "quote_passage_weight": 0.0}, {"quote_passage_weight": 1.0})]

        assert len({a.confidence for a in answers}) == 1
        assert len({a.abstained for a in answers}) == 1


@pytest.mark.parametrize(("text", "sentence", "expected"), [
    ("Intro.\nHow do I pay?\nBy card.", "How do I pay?", True),  # a question
    ("Fees\nThe fee is 30 euros.", "Fees", True),  # a heading: a line of its own, no closing punctuation
    ("Intro.\nFees \nThe fee is 30 euros.", "Fees", True),  # trailing spaces before the line break
    ("The fee is 30 euros.\nMore text.", "The fee is 30 euros.", False),
    ('He said "no."\nNext.', 'He said "no."', False),  # closing quotation mark after the stop
    ("See the annex for figures and the notes.", "See the annex for figures", False),  # not a line of its own
])
def test_introduces_questions_and_headings_only(text, sentence, expected):
    start = text.index(sentence)

    assert introduces(text, start, start + len(sentence)) is expected


def test_quote_settings_are_checked():
    with pytest.raises(ConfigError, match="quote_passage_weight"):
        qa.Settings(quote_passage_weight=-1)
