"""qa.Retriever: one ranking for a question alone and for a follow-up (the follow-up adds its context to it)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import SEED_ID, SEED_QUESTION

import qa
from qa.retrieve.context import ContextWeights, Turn, read_context

WHO = "Who said so?"


def plain_context(settings: qa.Settings) -> ContextWeights:
    """A conversation that adds nothing: no weight for the earlier questions or the places quoted last, and the
    question's own refinements as set for questions alone."""
    return ContextWeights(context=0.0, same_document=0.0, near_quote=0.0, title_weight=settings.title_weight,
                          agreement_weight=settings.agreement_weight)


def test_index_search_is_its_retriever(seed_index):
    assert qa.Retriever(seed_index).search(SEED_QUESTION, 5) == seed_index.search(SEED_QUESTION, 5)


def test_a_follow_up_whose_context_weighs_nothing_ranks_as_the_question_alone(seed_index):
    retriever = qa.Retriever(seed_index)
    turns = [Turn(SEED_QUESTION, True, ((SEED_ID, 0, 40),))]

    alone = retriever.retrieve(WHO, 5)
    follow_up = retriever.retrieve(WHO, 5, turns, plain_context(seed_index.settings))

    assert [h.chunk_id for h in follow_up.hits] == [h.chunk_id for h in alone.hits]
    assert [h.score for h in follow_up.hits] == pytest.approx([h.score for h in alone.hits])
    assert follow_up.context.used == tuple(turns)


def test_the_context_brings_the_earlier_questions_document_to_a_vague_follow_up(seed_index):
    retriever = qa.Retriever(seed_index)
    turns = [Turn(SEED_QUESTION, True, ((SEED_ID, 0, 40),))]

    alone = retriever.retrieve(WHO, 5)
    follow_up = retriever.retrieve(WHO, 5, turns)

    assert follow_up.hits[0].doc_id == SEED_ID
    assert follow_up.hits[0].score > next((h.score for h in alone.hits if h.doc_id == SEED_ID), 0.0)


def test_an_unanswered_question_still_says_where_to_look(seed_index):
    retriever = qa.Retriever(seed_index)

    found = retriever.retrieve(WHO, 5, [Turn(SEED_QUESTION, False)])
    alone = retriever.retrieve(WHO, 5)

    assert found.context.used == () and found.context.skipped == 1
    assert found.context.questions == ((SEED_QUESTION, ContextWeights().unanswered),)
    assert found.hits[0].score > alone.hits[0].score


def test_earlier_questions_mix_their_vectors_by_length_in_words():
    axes = {"one two": np.array([1.0, 0.0], np.float32),
            "one two three four five six": np.array([0.0, 1.0], np.float32)}
    turns = [Turn("one two", True), Turn("one two three four five six", False)]

    context = read_context(turns, ContextWeights(unanswered=0.5), axes.__getitem__)

    assert context.questions == (("one two three four five six", 0.5), ("one two", 1.0))
    assert context.history == pytest.approx(np.array([2.0, 3.0]) / np.hypot(2.0, 3.0))
