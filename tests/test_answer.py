"""Answers: verbatim quotes with exact offsets, citations, abstention, and question checks."""
from __future__ import annotations

import pytest
from helpers import OFF_TOPIC_QUESTION, REPO_ROOT, SEED_DATE, SEED_ID, SEED_TITLE, make_pdf

import qa
from qa.errors import QuestionError
from qa.ingest.documents import page_of


def test_seed_question_is_answered(seed_answer):
    assert not seed_answer.abstained
    assert seed_answer.quotes
    assert seed_answer.confidence >= qa.Settings().min_score


def test_seed_question_cites_the_seed_article(seed_answer):
    [citation] = seed_answer.citations

    assert (citation.number, citation.doc_id) == (1, SEED_ID)
    assert (citation.title, citation.date) == (SEED_TITLE, SEED_DATE)


def test_seed_question_quotes_serbian_sovereignty_or_belgrade_pristina_dialogue(seed_answer):
    # China's position, as the article states it: it respects Serbia's sovereignty and territorial integrity
    # and calls on Belgrade and Pristina to talk. An answer quoting neither misses the point of the question.
    def states_position(text: str) -> bool:
        return "sovereignty and territorial integrity" in text or all(
            word in text for word in ("Belgrade", "Pristina", "dialogue"))

    assert any(states_position(q.text) for q in seed_answer.quotes), [q.text for q in seed_answer.quotes]


def test_every_quote_is_the_document_text_at_its_offsets(seed_answer, seed_index):
    for quote in seed_answer.quotes:
        assert seed_index.documents[quote.doc_id].text[quote.start:quote.end] == quote.text


def test_every_quote_appears_verbatim_in_the_answer_followed_by_its_marker(seed_answer):
    for quote in seed_answer.quotes:
        assert f"{quote.text}\u201d [{quote.citation}]" in seed_answer.text


def test_every_quote_belongs_to_a_citation_with_its_number(seed_answer):
    by_number = {c.number: c for c in seed_answer.citations}

    for quote in seed_answer.quotes:
        assert quote in by_number[quote.citation].quotes
        assert by_number[quote.citation].doc_id == quote.doc_id


def test_citation_excerpt_contains_its_first_quote(seed_answer):
    for citation in seed_answer.citations:
        first = citation.quotes[0]
        assert citation.excerpt.start <= first.start and first.end <= citation.excerpt.end


@pytest.fixture(scope="module")
def off_topic_answer(assistant) -> qa.Answer:
    return assistant.ask(OFF_TOPIC_QUESTION)


def test_off_topic_question_abstains(off_topic_answer):
    assert off_topic_answer.abstained
    assert off_topic_answer.quotes == [] and off_topic_answer.citations == []


def test_abstained_answer_says_the_documents_do_not_answer(off_topic_answer):
    assert "documents don't answer" in off_topic_answer.text


def test_abstained_answer_still_returns_the_closest_passages(off_topic_answer):
    assert off_topic_answer.passages
    assert off_topic_answer.passages[0].doc_id == SEED_ID


def test_answer_is_deterministic(assistant, seed_answer):
    assert assistant.ask(" What is China's   position on Kosovo? ").text == seed_answer.text


@pytest.mark.parametrize("question", ["", "   \n\t "], ids=["empty", "whitespace"])
def test_blank_question_raises_question_error(assistant, question):
    with pytest.raises(QuestionError, match="the question is empty"):
        assistant.ask(question)


def test_overlong_question_raises_question_error_naming_the_limit(assistant):
    limit = qa.Settings().max_question_chars

    question = ("What about Kosovo? " * 6000)[:100_000]

    with pytest.raises(QuestionError) as info:
        assistant.ask(question)

    assert f"the limit is {limit:,}" in str(info.value)
    assert "100,000" in str(info.value)


def test_question_at_the_limit_is_accepted(assistant):
    limit = qa.Settings().max_question_chars
    question = ("Kosovo dialogue " * limit)[:limit]

    assert isinstance(assistant.ask(question), qa.Answer)


def test_citation_page_is_the_page_of_the_quoted_sentence(tmp_path):
    # Page 1 is long enough that the default chunking (1000 characters, 200 overlap) starts the chunk holding
    # page 2's sentences on page 1. The quote itself is on page 2, so the citation must say page 2.
    page_one = [
        f"Line {i}: the lighthouse keeper on the northern cape counted the passing ships every morning."
        for i in range(10)
    ]
    page_two = [
        "Emperor penguins breed during the Antarctic winter on stable sea ice far from the open water.",
        "The female lays a single egg and passes it to the male, who balances it on his feet.",
        "Males huddle together in large groups to survive temperatures below minus forty degrees.",
    ]
    (tmp_path / "notes.pdf").write_bytes(make_pdf([page_one, page_two]))
    index = qa.build_index(tmp_path)
    doc = index.documents["notes.pdf"]

    answer = qa.Assistant(index).ask("Who balances the penguin egg on his feet?")

    assert not answer.abstained
    quote = answer.quotes[0]
    assert "balances it on his feet" in quote.text
    assert page_of(doc, quote.start) == 2
    assert answer.citations[0].page == 2


def test_quotes_from_a_unicode_document_are_exact():
    text = ("Le café de Zoë sert une crème brûlée célèbre 🍮. "
            "東京の天気は晴れです。\n\n"
            "Ångström measured the spectrum of the northern lights 🌌 in Uppsala. "
            "The naïve tourist ordered crème brûlée twice at Zoë’s café.")
    doc = qa.Document("unicode.txt", text, title="Cafés ✓")
    index = qa.build_index([doc])

    answer = qa.Assistant(index, min_score=0.0).ask("Who measured the spectrum of the northern lights?")

    assert answer.quotes
    assert "Ångström measured the spectrum of the northern lights 🌌 in Uppsala." in [q.text for q in answer.quotes]
    for quote in answer.quotes:
        assert text[quote.start:quote.end] == quote.text


def test_the_readme_shows_what_the_seed_question_answers_today(seed_answer):
    # README, "Which sentence is quoted first", quotes the seed answer verbatim: it must stay true.
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- seed-answer -->\n", 1)[1].split("\n<!-- /seed-answer -->", 1)[0]

    assert shown == f"> {seed_answer.text}"
