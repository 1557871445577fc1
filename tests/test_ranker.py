"""The quote ranker: ``none`` keeps the choice score's order, a CrossEncoder folder loads offline and reorders the quotes
it scores, and a ranker that cannot be loaded is one clear error.

No trained ranker ships yet (docs/ranker.md), so the CrossEncoder here is one made from the bundled MiniLM with a new
classification head: real weights, real loading and scoring, an order that means nothing.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SEED_QUESTION

import qa
from qa.answer.ranker import Ranker, ranker_query, rerank
from qa.answer.sentences import Quote, ranked
from qa.cli import main
from qa.errors import ModelLoadError


@pytest.fixture(scope="session")
def ranker_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers CrossEncoder saved to a folder: the bundled MiniLM with a new scoring head."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from qa.models.loading import bundled_model_path

    folder = tmp_path_factory.mktemp("ranker")
    torch.manual_seed(0)
    CrossEncoder(str(bundled_model_path()), num_labels=1, max_length=96, device="cpu").save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def cosine_ranker_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CrossEncoder scored by the joint encoding's segment cosine (``qa.models.segment_cosine``), untrained."""
    from qa.models.loading import bundled_model_path
    from qa.models.segment_cosine import cosine_cross_encoder

    folder = tmp_path_factory.mktemp("cosine-ranker")
    cosine_cross_encoder(str(bundled_model_path())).save_pretrained(str(folder))
    return folder


def test_the_segment_cosine_ranker_prefers_the_answering_sentence_before_any_training(cosine_ranker_folder):
    # The questions a new user asked (issue 25), each with the sentence that answers and the one quoted instead.
    pairs = [("Who wrote the Zen of Python?", "The Zen of Python, by Tim Peters", "Beautiful is better than ugly."),
             ("What compression method does gzip use?", "Gzip reduces the size of the named files using "
              "Lempel-Ziv coding (LZ77).", "-# --fast --best Regulate the speed of compression using the "
              "specified digit #.")]
    ranker = Ranker(str(cosine_ranker_folder))

    for question, answering, other in pairs:
        scores = ranker.logits(question, [answering, other])
        assert scores[0] > scores[1], (question, scores)


def test_a_ranker_folder_naming_code_outside_sentence_transformers_and_qa_is_refused(cosine_ranker_folder, tmp_path):
    # Only qa's own module is allowed past sentence-transformers' trust_remote_code guard, not any module a
    # downloaded folder names.
    import json
    import shutil

    folder = tmp_path / "foreign"
    shutil.copytree(cosine_ranker_folder, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "os.system"
    (folder / "modules.json").write_text(json.dumps(modules))

    with pytest.raises(ModelLoadError, match=r"(?s)cannot load quote ranker .*'os.system'.*QA_RANKER"):
        Ranker(str(folder)).logits(SEED_QUESTION, ["China calls for dialogue."])


def test_a_crossencoder_folder_loads_with_the_network_forbidden(ranker_folder, tmp_path):
    # A fresh process, every hub variable saying offline and an empty cache: the folder is all it reads.
    script = (f"from qa.answer.ranker import Ranker; "
              f"print(Ranker({str(ranker_folder)!r}).logits('Who wrote it?', ['Tim Peters wrote it.', 'No.']).shape)")
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                          check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(2,)"


def test_the_ranker_scores_a_question_s_sentences_the_same_every_time(ranker_folder):
    # Dropout off and int8 scales taken from the batch itself: the same candidates get the same scores.
    ranker = Ranker(str(ranker_folder))
    texts = ["China respects the sovereignty of Serbia.", "The weather was fine in Belgrade on Tuesday morning."]

    first, second = ranker.logits(SEED_QUESTION, texts), ranker.logits(SEED_QUESTION, texts)

    assert first.shape == (2,) and first.tolist() == second.tolist()


def test_a_follow_up_is_read_with_the_question_before_it():
    assert ranker_query("And when?", ("Who founded it?",)) == "And when? Who founded it?"
    assert ranker_query("Who founded it?") == "Who founded it?"


def test_no_ranker_by_default_orders_quotes_by_the_choice_score_alone(seed_index):
    assert seed_index.settings.ranker == "none"
    assistant = qa.Assistant(seed_index)
    hits, qvec = seed_index.retrieve(SEED_QUESTION, seed_index.settings.k)
    answer = assistant.answer(SEED_QUESTION, hits, qvec)
    by_choice = ranked(seed_index, hits, assistant._candidates(SEED_QUESTION, hits, qvec, None))

    assert [(q.text, q.score) for q in answer.quotes] == [(q.text, q.score) for q in by_choice[:len(answer.quotes)]]


def test_a_ranker_adds_its_weighted_probability_to_the_choice_score_of_the_quotes_it_scores(seed_index_dir,
                                                                                            ranker_folder):
    index = qa.load_index(seed_index_dir, qa.Settings(ranker=str(ranker_folder)))
    assistant = qa.Assistant(index)
    hits, qvec = index.retrieve(SEED_QUESTION, index.settings.k)
    by_choice = ranked(index, hits, assistant._candidates(SEED_QUESTION, hits, qvec, None))
    choice = {(q.doc_id, q.start): q.score for q in by_choice}
    answer = assistant.answer(SEED_QUESTION, hits, qvec)

    assert answer.quotes
    assert [q.score for q in answer.quotes] == sorted((q.score for q in answer.quotes), reverse=True)
    best = max(choice.values())
    for quote in answer.quotes:
        added = quote.score - choice[(quote.doc_id, quote.start)]
        if choice[(quote.doc_id, quote.start)] > best - index.settings.ranker_weight:  # could be placed first
            assert 0 < added <= index.settings.ranker_weight
        else:
            assert added == 0
        assert index.documents[quote.doc_id].text[quote.start:quote.end] == quote.text


def test_a_quote_that_cannot_overtake_the_best_is_not_scored(ranker_folder):
    # At weight 0.5, a quote 0.5 or more below the best choice score stays below it whatever the ranker says.
    texts = ["China calls for dialogue on Kosovo.", "China respects Serbia's sovereignty.", "It rained in Belgrade."]
    quotes = [Quote(text, "doc", 10 * i, 10 * i + len(text), score) for i, (text, score)
              in enumerate(zip(texts, (2.0, 1.8, 1.5), strict=True))]

    order = rerank(Ranker(str(ranker_folder)), SEED_QUESTION, quotes, qa.Settings(ranker_weight=0.5))

    assert order.quotes[-1] == quotes[2]
    assert all(q.score > 1.5 for q in order.quotes[:2]) and {q.text for q in order.quotes[:2]} == set(texts[:2])
    assert 0 < order.belief < 1


def test_a_ranker_that_cannot_be_loaded_is_one_clear_error(seed_index_dir):
    index = qa.load_index(seed_index_dir, qa.Settings(ranker="/no/such/ranker"))

    with pytest.raises(ModelLoadError, match=r"cannot load quote ranker '/no/such/ranker'.*QA_RANKER"):
        qa.Assistant(index).ask(SEED_QUESTION)


def test_the_bundled_ranker_before_it_ships_is_one_clear_error(seed_index_dir):
    index = qa.load_index(seed_index_dir, qa.Settings(ranker="bundled"))

    with pytest.raises(ModelLoadError, match=r"bundled quote ranker is not in this installation.*QA_RANKER"):
        qa.Assistant(index).ask(SEED_QUESTION)


def test_the_cli_names_a_bad_ranker_in_one_line(seed_index_dir):
    result = CliRunner().invoke(main, ["ask", "--index", str(seed_index_dir), "--ranker", "/no/such/ranker",
                                       SEED_QUESTION])

    assert result.exit_code == 1
    assert "cannot load quote ranker '/no/such/ranker'" in result.output and "--ranker" in result.output
    assert "Traceback" not in result.output
