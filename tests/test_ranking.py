"""qa.retrieve.ranking: the optional refinements of the fused ranking (feedback, titles, documents, agreement)."""
from __future__ import annotations

import numpy as np
import pytest

import qa
from qa.errors import ConfigError
from qa.retrieve.fusion import top_fused
from qa.retrieve.ranking import (
    agreement,
    bm25_with_title,
    by_document,
    candidates,
    feedback_shares,
    fuse,
    rank,
    rescored,
    rm3_scores,
    rocchio,
)

DOCUMENTS = [
    qa.Document("penguins", "Emperor penguins keep the egg warm on their feet through the Antarctic winter. "
                            "The males huddle on the sea ice while the females hunt fish.", title="Emperor penguins"),
    qa.Document("huddle", "Through the Antarctic winter the males huddle on the sea ice for months.",
                title="Life on the ice"),
    qa.Document("volcano", "Lava flowed from a long fissure toward the fishing town after the eruption.",
                title="Volcano in Iceland"),
    qa.Document("trip", "On our trip we saw a volcano, then another volcano, and a third volcano by the sea.",
                title="Holiday notes"),
    qa.Document("bread", "Sourdough bread is leavened with wild yeast. " * 12 + "The crust of sourdough bread is dark.",
                title="Sourdough bread"),
]


@pytest.fixture(scope="module")
def index() -> qa.Index:
    return qa.build_index(DOCUMENTS, settings=qa.Settings(chunk_size=200, chunk_overlap=0))


def with_settings(index: qa.Index, **changes) -> qa.Index:
    index.settings = qa.Settings(chunk_size=200, chunk_overlap=0, **changes)
    return index


def row_of(index: qa.Index, doc_id: str) -> int:
    return next(i for i, c in enumerate(index.chunks) if c.doc_id == doc_id)


def test_rm3_finds_a_chunk_sharing_no_query_term_with_the_prf_chunks_words(index):
    with_settings(index, prf_chunks=1, prf_terms=10, rm3_weight=0.5)
    penguins, huddle = row_of(index, "penguins"), row_of(index, "huddle")

    plain = index.bm25.scores("emperor penguin egg")
    expanded = rm3_scores(index, "emperor penguin egg", [(penguins, 1.0)], index.settings)

    assert plain[huddle] == 0  # it holds none of the question's words
    assert expanded[huddle] > 0  # but "huddle", "Antarctic", "winter" came from the feedback chunk
    assert expanded[penguins] == max(expanded)


def test_rm3_with_no_weight_on_expansion_ranks_as_the_plain_query(index):
    with_settings(index, prf_chunks=1, rm3_weight=0.0)
    plain = index.bm25.scores("sea ice winter")
    same = rm3_scores(index, "sea ice winter", [(row_of(index, "penguins"), 1.0)], index.settings)

    assert np.argsort(-plain, kind="stable").tolist() == np.argsort(-same, kind="stable").tolist()
    assert same == pytest.approx(plain / 3, rel=1e-5)  # each of the three terms weighs a third


def test_rocchio_moves_the_query_vector_toward_the_prf_chunks(index):
    qvec = index.embedder.encode_query("cold weather")
    row = row_of(index, "penguins")
    centroid = index.vectors[index.sentence_ptr[row]:index.sentence_ptr[row + 1]].mean(axis=0)

    moved = rocchio(index, qvec, [(row, 1.0)], 0.5)

    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-5)
    assert moved @ centroid > qvec @ centroid


def shares(feedback: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [i for i, _ in feedback], [share for _, share in feedback]


def test_margin_feedback_shares_follow_each_chunks_lead_over_the_first_left_out():
    fused = {7: 3.0, 8: 2.0, 9: 1.5, 4: 1.0}

    assert shares(feedback_shares(fused, 3, "margin")) == ([7, 8, 9], pytest.approx([4 / 7, 2 / 7, 1 / 7]))
    assert shares(feedback_shares(fused, 3, "uniform")) == ([7, 8, 9], pytest.approx([1 / 3, 1 / 3, 1 / 3]))


def test_margin_feedback_falls_back_to_equal_shares_without_a_lead():
    assert shares(feedback_shares({1: 0.5, 2: 0.5, 3: 0.5}, 2, "margin")) == ([1, 2], [0.5, 0.5])  # ties
    assert shares(feedback_shares({1: 0.9, 2: 0.5}, 2, "margin")) == ([1, 2], [0.5, 0.5])  # none left out


def test_margin_feedback_moves_the_query_further_toward_the_leading_chunk(index):
    question = "Where do emperor penguins keep their egg in winter?"
    qvec = index.embedder.encode_query(question)
    with_settings(index)
    fused = fuse(candidates(index, qvec, bm25_with_title(index, question), len(index.chunks)), index.settings)
    lead = top_fused(fused, 1)[0][0]
    centroid = index.vectors[index.sentence_ptr[lead]:index.sentence_ptr[lead + 1]].mean(axis=0)

    margin = rocchio(index, qvec, feedback_shares(fused, 2, "margin"), 0.5)
    uniform = rocchio(index, qvec, feedback_shares(fused, 2, "uniform"), 0.5)

    assert index.chunks[lead].doc_id == "penguins"
    assert margin @ centroid > uniform @ centroid


def test_rank_runs_its_second_pass_with_the_margin_weighted_query(index):
    with_settings(index, prf_chunks=2, rocchio_weight=0.5, rocchio_feedback="margin")
    question = "Where do emperor penguins keep their egg in winter?"
    qvec = index.embedder.encode_query(question)
    bm25 = bm25_with_title(index, question)
    n = len(index.chunks)
    moved = rocchio(index, qvec, feedback_shares(fuse(candidates(index, qvec, bm25, n), index.settings), 2,
                                                 "margin"), 0.5)

    ranked, _ = rank(index, question, qvec, n)

    assert ranked == top_fused(fuse(candidates(index, moved, bm25, n), index.settings), n)


def test_re_scoring_scores_the_first_pass_candidates_with_the_moved_query_and_adds_none(index):
    with_settings(index)
    question = "Where do emperor penguins keep their egg in winter?"
    qvec = index.embedder.encode_query(question)
    bm25 = bm25_with_title(index, question)
    first = candidates(index, qvec, bm25, 2)  # two per retriever: some chunks are left out
    moved = rocchio(index, qvec, [(row_of(index, "volcano"), 1.0)], 1.0)

    again = rescored(index, first, moved, bm25)

    assert set(again.cosines) == set(first.cosines) and len(first.cosines) < len(index.chunks)
    assert again.cosines == pytest.approx(index.chunk_similarities(sorted(first.cosines), moved))
    assert again.cosines != pytest.approx(first.cosines)
    assert [again.cosines[i] for i in again.dense.tolist()] == sorted(again.cosines.values(), reverse=True)[:2]
    assert again.bm25.tolist() == first.bm25.tolist()  # BM25 unchanged without RM3


def test_with_every_chunk_a_candidate_re_scoring_ranks_as_searching_again(index):
    question = "Where do emperor penguins keep their egg in winter?"
    qvec = index.embedder.encode_query(question)
    changes = {"prf_chunks": 2, "rocchio_weight": 0.5, "rocchio_feedback": "margin"}

    searched, _ = rank(with_settings(index, prf_search=True, **changes), question, qvec, len(index.chunks))
    scored, _ = rank(with_settings(index, prf_search=False, **changes), question, qvec, len(index.chunks))

    assert [i for i, _ in scored] == [i for i, _ in searched]
    assert [s for _, s in scored] == pytest.approx([s for _, s in searched])


def test_title_weight_lifts_a_document_whose_title_holds_the_words(index):
    volcano, trip = row_of(index, "volcano"), row_of(index, "trip")
    plain = bm25_with_title(with_settings(index, title_weight=0.0), "volcano")
    titled = bm25_with_title(with_settings(index, title_weight=2.0), "volcano")

    assert plain[trip] > plain[volcano]  # three mentions in the text beat one in the title
    assert titled[volcano] > titled[trip]
    assert titled[trip] == pytest.approx(plain[trip])  # its title does not match: unchanged


def test_document_weight_adds_the_best_other_chunk_of_the_same_document(index):
    bread = [i for i, c in enumerate(index.chunks) if c.doc_id == "bread"]
    other = row_of(index, "trip")
    assert len(bread) >= 2

    fused = {bread[0]: 1.0, bread[1]: 0.5, other: 0.9}
    out = by_document(index, fused, 0.2)

    assert out == pytest.approx({bread[0]: 1.0 + 0.2 * 0.5, bread[1]: 0.5 + 0.2 * 1.0, other: 0.9})


def test_agreement_is_the_shared_share_of_the_top_ten():
    assert agreement(np.arange(10), np.arange(5, 15)) == 0.5
    assert agreement(np.arange(3), np.arange(3, 6)) == 0.0


def test_every_refinement_on_still_ranks_the_answering_document_first(index):
    with_settings(index, prf_chunks=3, rm3_weight=0.3, rocchio_weight=0.5, title_weight=0.5,
                  sentence_mean_weight=0.5, doc_weight=0.2, agreement_weight=1.0)
    question = "What is sourdough bread leavened with?"

    hits, qvec = index.retrieve(question, 3)
    ranked, first = rank(index, question, qvec, 3)

    assert hits[0].doc_id == "bread"
    assert [h.score for h in hits] == pytest.approx([score for _, score in ranked])
    best = ranked[0][0]
    sims = index.vectors[index.sentence_ptr[best]:index.sentence_ptr[best + 1]] @ qvec
    assert hits[0].dense_score == pytest.approx(float(sims.max()))  # the plain cosine, not the mean-weighted one
    assert first.cosines[best] == pytest.approx(float(sims.max() + 0.5 * sims.mean()))


def test_the_defaults_keep_title_weight_and_agreement_and_rocchio_is_one_setting_away():
    settings = qa.Settings()

    assert (settings.title_weight, settings.agreement_weight) == (0.5, 2.0)
    assert settings.rocchio_weight == 0  # off: it costs SQuAD dev R@5 (README, "Margin-weighted Rocchio feedback")
    assert (settings.prf_chunks, settings.rocchio_feedback, settings.prf_search) == (3, "margin", False)
    assert (settings.rm3_weight, settings.sentence_mean_weight, settings.doc_weight) == (0, 0, 0)


@pytest.mark.parametrize("name, value, message", [
    ("rm3_weight", -0.1, "rm3_weight must be 0 or more, got -0.1"),
    ("rm3_weight", 1.5, "rm3_weight is a share of the query (0 to 1), got 1.5"),
    ("prf_terms", 0, "prf_terms must be at least 1, got 0"),
    ("doc_weight", -1.0, "doc_weight must be 0 or more, got -1.0"),
    ("rocchio_feedback", "best", "rocchio_feedback must be one of uniform, margin, got 'best'"),
])
def test_a_bad_refinement_setting_is_refused_naming_it(name, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        qa.Settings(**{name: value})


def test_feedback_settings_read_the_environment_and_refuse_a_bad_value_naming_it():
    settings = qa.Settings.from_env({"QA_ROCCHIO_FEEDBACK": "uniform", "QA_PRF_SEARCH": "yes"})
    assert (settings.rocchio_feedback, settings.prf_search) == ("uniform", True)

    with pytest.raises(ConfigError, match="rocchio_feedback must be one of uniform, margin, got 'lead'"):
        qa.Settings.from_env({"QA_ROCCHIO_FEEDBACK": "lead"})
