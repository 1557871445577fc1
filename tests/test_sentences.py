"""Which sentence is quoted first (qa/sentences.py): questions and headings in a document hand over to the
answer under them, the passage's rank counts in the order, and abstention does not move with either."""
from __future__ import annotations

import dataclasses

import pytest
from helpers import OFF_TOPIC_QUESTION, SEED_QUESTION

import qa
from qa.answer.scoring import QuestionTerms
from qa.answer.sentences import Focus, introduces
from qa.errors import ConfigError
from qa.retrieve.bm25 import BM25Index

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
    # A heading is a sentence of its own when a blank line follows it (qa.ingest.chunking splits paragraphs).
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


VERBOSE_COST = ("I am turning seventy next year and my daughter says I should check the prices before my "
                "appointment, what does a new licence cost?")
VERBOSE_OFF_TOPIC = ("We are planning a long family holiday in the mountains this summer with the children and the "
                     "dog, which hotels near the lakes allow pets and have a swimming pool?")


def test_a_verbose_question_is_answered_where_counting_all_its_terms_refused_it(faq_index_dir):
    # 18 terms, of which the answering sentence holds few: judged on its 13 heaviest, as a terse question would be.
    answered = assistant_with(faq_index_dir).ask(VERBOSE_COST)
    every_term = assistant_with(faq_index_dir, evidence_terms=0).ask(VERBOSE_COST)

    assert not answered.abstained and answered.quotes[0].text.startswith("The renewal fee is 30 euros")
    assert every_term.abstained and every_term.confidence < answered.confidence


def test_a_verbose_question_the_documents_do_not_answer_is_still_refused(faq_index_dir):
    assert assistant_with(faq_index_dir).ask(VERBOSE_OFF_TOPIC).abstained


def test_the_term_share_is_of_the_heaviest_terms_only(bm25):
    question = "Who sang the anthem at Super Bowl 50 before the kickoff in Santa Clara?"
    terms = QuestionTerms.from_question(question, bm25, limit=3)
    heaviest = sorted(terms.weights, key=terms.weights.get, reverse=True)[:3]

    assert terms.mass == pytest.approx(sum(terms.weights[t] for t in heaviest))
    assert terms.coverage_of([set(heaviest), set(terms.weights)]) == [pytest.approx(1.0), 1.0]
    assert QuestionTerms.from_question(question, bm25).coverage_of([set(heaviest)])[0] < 1.0


def test_evidence_terms_is_checked():
    with pytest.raises(ConfigError, match="evidence_terms must be 0 .* got -1"):
        qa.Settings(evidence_terms=-1)


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


# The choice score's parts (qa.answer.sentences.Focus) over a real BM25 index: arithmetic on its stemmed terms.
TEXTS = ["Super Bowl 50 was played in Santa Clara in February 2016.",
         "The Super Bowl 50 halftime show was headlined by Coldplay.",
         "Super Bowl 50 was the fiftieth Super Bowl.",
         "Lady Gaga sang the national anthem before the kickoff."]


@pytest.fixture(scope="module")
def bm25() -> BM25Index:
    return BM25Index.build(TEXTS)


def focus(question: str, bm25: BM25Index) -> Focus:
    return Focus.of(question, QuestionTerms.from_question(question, bm25))


def token_sets(bm25: BM25Index, texts: list[str]) -> list[set[str]]:
    return [set(t) for t in bm25.tokenize(texts)]


def test_question_words_are_not_terms_an_answer_must_hold(bm25):
    assert set(focus("What Coldplay headline, and when, where and why?", bm25).weights) == {"coldplay", "headlin"}


def test_terms_most_candidates_hold_count_less_than_those_that_tell_them_apart(bm25):
    question = focus("Who sang the anthem at Super Bowl 50?", bm25)
    topic, anthem = "Super Bowl 50 was the fiftieth Super Bowl.", "Lady Gaga sang the anthem."
    plain = QuestionTerms.from_question("Who sang the anthem at Super Bowl 50?", bm25).coverage([topic, anthem])

    local = question.coverage(token_sets(bm25, TEXTS[:3] + [anthem]))

    assert plain[0] > plain[1]  # by idf alone the topic sentence holds more of the question
    assert local[3] > local[2]  # among these candidates, "super bowl 50" is in most: the anthem sentence wins


def test_the_sentence_before_adds_the_terms_it_names(bm25):
    question = focus("Who headlined the halftime show?", bm25)
    mine = token_sets(bm25, ["He was joined by Beyonce.", "Coldplay played."])
    before = token_sets(bm25, ["Coldplay headlined the halftime show.", ""])

    gain = question.context_gain(mine, before)

    assert gain[0] > 0.9 and gain[1] == 0.0


def test_question_phrases_count_in_order(bm25):
    question = focus("Where was the halftime show held?", bm25)

    shares = question.phrases(bm25.tokenize(["The halftime show was held outside.", "The show had no halftime."]))

    assert shares[0] > shares[1] == 0.0


@pytest.mark.parametrize(("question", "texts", "expected"), [
    ("When was Super Bowl 50 played?", ["It was played on February 7, 2016.", "It was played in Santa Clara."],
     [1.0, 0.0]),
    ("How many people watched Super Bowl 50?", ["About 111.9 million people watched.", "Many people watched."],
     [1.0, 0.0]),
    ("When did the 2016 game start?", ["The 2016 game was long.", "It started at 4:30 pm in 2016."], [0.0, 0.0]),
    ("Who sang the anthem?", ["Lady Gaga sang it in 2016."], [0.0]),  # a "who" question asks for no number
])
def test_a_date_or_number_counts_when_the_question_asks_for_one_it_lacks(bm25, question, texts, expected):
    assert focus(question, bm25).typed(texts).tolist() == expected


def test_a_heading_far_into_a_long_document_is_found():
    text = "Intro line.\n" + "Filler sentence here. " * 5000 + "\n\nFees\n\nThe fee is 30 euros."
    start = text.index("Fees")

    assert introduces(text, start, start + 4)
    assert not introduces(text, text.index("Filler"), text.index("Filler") + len("Filler sentence here."))
