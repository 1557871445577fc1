"""Follow-up questions: `Assistant.ask(question, history)`, `qa.Conversation`, and what history may not do."""
from __future__ import annotations

import json

import pytest
from helpers import OFF_TOPIC_QUESTION, SEED_ID, SEED_QUESTION, URGE_QUESTION, URGED, WHO_QUESTION

import qa
from qa.answer.answers import NO_ANSWER
from qa.answer.conversation import Conversation
from qa.answer.reading import read_in_context
from qa.answer.turns import locate_quotes, turns_from_answers, turns_from_messages
from qa.errors import QuestionError
from qa.retrieve.context import ContextWeights, Turn


@pytest.fixture(scope="module")
def conversation(assistant) -> Conversation:
    """The issue's three turns on the seed article, asked once for the module."""
    conv = Conversation(assistant)
    for question in (SEED_QUESTION, URGE_QUESTION, WHO_QUESTION):
        conv.ask(question)
    return conv


def test_no_history_none_and_empty_history_give_the_same_answer(assistant):
    for question in (SEED_QUESTION, URGE_QUESTION, OFF_TOPIC_QUESTION):
        alone = assistant.ask(question).to_dict()
        assert assistant.ask(question, history=None).to_dict() == alone
        assert assistant.ask(question, history=[]).to_dict() == alone
        assert alone["interpretation"] is None


def test_a_follow_up_finds_what_it_refers_to(conversation):
    follow_up = conversation.answers[1]

    assert not follow_up.abstained
    assert any(sentence in follow_up.text for sentence in URGED)


def test_a_follow_up_says_what_it_carried_over(conversation):
    it = conversation.answers[1].interpretation

    assert it.turns_used == 1
    assert it.questions == (SEED_QUESTION,)
    assert "kosovo" in it.carried_terms
    assert it.documents == (SEED_ID,)
    as_json = json.loads(json.dumps(conversation.answers[1].to_dict()))
    assert as_json["interpretation"]["carried_terms"] == list(it.carried_terms)


def test_who_said_so_is_answered_with_the_speaker(conversation):
    who = conversation.answers[2]

    assert not who.abstained
    assert "said Wu" in who.quotes[0].text or "Wu told" in who.quotes[0].text


def test_the_earlier_question_does_not_take_the_answer_over(conversation, seed_answer):
    assert conversation.answers[1].quotes[0].text != seed_answer.quotes[0].text


def test_an_off_topic_follow_up_is_still_refused(conversation, assistant):
    answer = assistant.ask("And who won the 2018 World Cup?", history=conversation.messages)

    assert answer.abstained
    assert answer.text == NO_ANSWER


UNANSWERED_QUESTION = "What does Beijing think about the Balkans?"  # on the seed's topic, but refused
HOPE_QUESTION = "What does it hope for?"


def unanswered_history(assistant) -> list[dict[str, str]]:
    first = assistant.ask(UNANSWERED_QUESTION)
    assert first.abstained
    return [{"role": "user", "content": UNANSWERED_QUESTION}, {"role": "assistant", "content": first.text}]


def test_a_follow_up_after_an_unanswered_turn_is_read_in_its_context(assistant):
    # Alone, "What does it hope for?" is too vague to reach min_score; after a question on the same topic that
    # went unanswered, that question still says what "it" is, and the threshold is lowered by its share.
    after = assistant.ask(HOPE_QUESTION, history=unanswered_history(assistant))

    assert assistant.ask(HOPE_QUESTION).abstained
    assert not after.abstained
    assert after.quotes[0].doc_id == SEED_ID and "hopes" in after.quotes[0].text
    assert after.interpretation.turns_used == 0
    assert after.interpretation.skipped_abstained == 1
    assert after.interpretation.carried_terms == ()  # an unanswered question's words are not carried


def test_an_off_topic_follow_up_after_an_unanswered_turn_is_still_refused(assistant):
    answer = assistant.ask("And who won the 2018 World Cup?", history=unanswered_history(assistant))

    assert answer.abstained
    assert answer.text == NO_ANSWER


def test_after_only_unanswered_turns_the_threshold_is_lowered_by_their_share(seed_index):
    w = ContextWeights()

    def threshold(turn: Turn) -> float:
        found = seed_index.retriever.retrieve(HOPE_QUESTION, 5, [turn])
        return read_in_context(seed_index, HOPE_QUESTION, found.vector, found.context).threshold(1.0)

    assert threshold(Turn(SEED_QUESTION, True, ((SEED_ID, 0, 40),))) == pytest.approx(w.threshold_ratio)
    assert threshold(Turn(UNANSWERED_QUESTION, False)) == pytest.approx(1 - (1 - w.threshold_ratio) * w.unanswered)


def test_messages_and_kept_answers_read_a_follow_up_the_same_way(conversation, assistant):
    from_messages = assistant.ask(WHO_QUESTION, history=conversation.messages[:4])

    assert from_messages.text == conversation.answers[2].text
    assert from_messages.interpretation == conversation.answers[2].interpretation


def test_quotes_in_an_answer_text_are_found_again_in_the_documents(conversation, seed_index):
    answer = conversation.answers[0]

    assert locate_quotes(seed_index, [q.text for q in answer.quotes]) == \
        tuple((q.doc_id, q.start, q.end) for q in answer.quotes)


def test_turns_from_messages_pair_questions_with_their_answers(seed_index, seed_answer):
    turns = turns_from_messages(seed_index, [
        {"role": "user", "content": OFF_TOPIC_QUESTION}, {"role": "assistant", "content": NO_ANSWER},
        {"role": "user", "content": SEED_QUESTION}, {"role": "assistant", "content": seed_answer.text}])

    assert [t.answered for t in turns] == [False, True]
    assert turns[1].quotes == turns_from_answers([seed_answer])[0].quotes


@pytest.mark.parametrize("message", [{"role": "system", "content": "hi"}, "hello", {"content": "no role"}])
def test_a_malformed_history_message_is_refused_by_name(assistant, message):
    with pytest.raises(QuestionError, match="history message 0"):
        assistant.ask(URGE_QUESTION, history=[message])


def test_reset_starts_a_new_conversation(assistant):
    conv = Conversation(assistant)
    conv.ask(SEED_QUESTION)
    conv.reset()
    answer = conv.ask(URGE_QUESTION)

    assert conv.answers == [answer]
    assert answer.interpretation is None
    assert answer.text == assistant.ask(URGE_QUESTION).text


def test_conversation_is_exported_from_the_package():
    assert qa.Conversation is Conversation
