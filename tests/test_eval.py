"""`qa eval` and qa.eval.evaluation: datasets, ranx metrics, answer checks, index reuse, the command."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SEEDS_DIR

import qa
from qa.cli import main
from qa.errors import ConfigError, DocumentError
from qa.eval.evaluation import (
    RANKING_METRICS,
    EvalReport,
    contains_answer,
    detect,
    evaluate,
    load_beir,
    load_squad,
    ranking_metrics,
)

BEIR_CORPUS = [
    {"_id": "penguins", "title": "Emperor penguins",
     "text": "Emperor penguins breed during the Antarctic winter on sea ice. The male keeps the egg warm on his feet "
             "while the female hunts fish at sea."},
    {"_id": "iceland", "title": "Eruption in Iceland",
     "text": "The volcano in Iceland erupted and lava flowed from a long fissure toward the fishing town."},
    {"_id": "etna", "title": "Mount Etna",
     "text": "Mount Etna, the volcano on Sicily, erupted again and sent lava and ash over the villages."},
    {"_id": "bread", "title": "Sourdough bread",
     "text": "Sourdough bread is leavened with a starter of wild yeast and flour, and the dough rises slowly "
             "overnight before baking."},
    {"_id": "chess", "title": "Chess openings",
     "text": "In chess, the Sicilian Defence answers the king's pawn opening with the c-pawn and leads to sharp "
             "games."},
]
BEIR_QUERIES = [
    {"_id": "q1", "text": "How do emperor penguins breed in the Antarctic winter?"},
    {"_id": "q2", "text": "volcano erupted lava"},
    {"_id": "q3", "text": "How is sourdough bread leavened with wild yeast?"},
    {"_id": "q4", "text": "A query without judgements is not evaluated"},
]
BEIR_QRELS = [("q1", "penguins", 1), ("q2", "iceland", 1), ("q2", "etna", 1), ("q3", "bread", 1),
              ("q3", "chess", 0)]  # relevance 0: judged not relevant

SQUAD = {"version": "1.1", "data": [
    {"title": "Emperor_penguin", "paragraphs": [
        {"context": "The emperor penguin is the tallest and heaviest of all living penguin species. It stands about "
                    "one metre tall.",
         "qas": [{"id": "s1", "question": "What is the tallest living penguin species?",
                  "answers": [{"answer_start": 4, "text": "emperor penguin"}]}]},
        {"context": "Emperor penguins eat mainly fish, but also krill and squid, which they catch by diving up to "
                    "five hundred metres deep.",
         "qas": [{"id": "s2", "question": "How deep do emperor penguins dive to catch fish and squid?",
                  "answers": [{"answer_start": 91, "text": "five hundred metres"}]}]},
    ]},
    {"title": "Sourdough", "paragraphs": [
        {"context": "Sourdough is bread made with a starter of wild yeast and lactic acid bacteria.",
         "qas": [{"id": "s3", "question": "What does a sourdough starter contain?",
                  "answers": [{"answer_start": 33, "text": "wild yeast and lactic acid bacteria"},
                              {"answer_start": 33, "text": "wild yeast"}]}]},
        {"context": "The oldest recorded sourdough dates from ancient Egypt, around 1500 BC. Bakers in the California "
                    "Gold Rush made it famous in San Francisco.",
         "qas": [{"id": "s4", "question": "Where does the oldest recorded sourdough come from?",
                  "answers": [{"answer_start": 41, "text": "ancient Egypt"}]},
                 {"id": "s5", "question": "In which city did the Gold Rush make sourdough famous?",
                  "answers": [{"answer_start": 123, "text": "San Francisco"}]}]},
    ]},
]}


def write_beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "qrels").mkdir()
    for name, rows in (("corpus.jsonl", BEIR_CORPUS), ("queries.jsonl", BEIR_QUERIES)):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in BEIR_QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_squad(path: Path) -> Path:
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return path


def expected_metrics(report: EvalReport, relevant_counts: dict[str, int]) -> dict[str, float]:
    """nDCG@10, Recall@k and MRR@10 by hand from the ranks of the relevant documents (binary relevance)."""
    per_query: dict[str, list[float]] = {m: [] for m in RANKING_METRICS}
    for result in report.per_question:
        ranks, n = result.relevant_ranks, relevant_counts[result.id]
        ideal = sum(1 / math.log2(i + 1) for i in range(1, min(n, 10) + 1))
        per_query["ndcg@10"].append(sum(1 / math.log2(r + 1) for r in ranks if r <= 10) / ideal)
        for k in (1, 5, 20, 100):
            per_query[f"recall@{k}"].append(sum(r <= k for r in ranks) / n)
        first = result.first_relevant_rank
        per_query["mrr@10"].append(1 / first if first is not None and first <= 10 else 0.0)
    return {m: sum(values) / len(values) for m, values in per_query.items()}


@pytest.fixture(scope="module")
def beir_report(tmp_path_factory) -> EvalReport:
    return evaluate(write_beir(tmp_path_factory.mktemp("beir") / "tiny"))


@pytest.fixture(scope="module")
def squad_report(tmp_path_factory) -> EvalReport:
    return evaluate(write_squad(tmp_path_factory.mktemp("squad") / "tiny-squad.json"))


# Metric plumbing, without the model

def test_ranking_metrics_of_a_relevant_document_at_rank_two():
    scores = ranking_metrics({"q1": {"d1": 1}}, {"q1": ["d0", "d1", "d2"]})

    assert scores["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert scores["mrr@10"] == pytest.approx(0.5)
    assert scores["recall@1"] == 0.0
    assert scores["recall@5"] == scores["recall@100"] == 1.0


def test_ndcg_uses_graded_relevance_as_gains():
    qrels = {"q": {"high": 2, "some": 1}}
    ideal = 2 + 1 / math.log2(3)

    assert ranking_metrics(qrels, {"q": ["high", "some"]})["ndcg@10"] == pytest.approx(1.0)
    assert ranking_metrics(qrels, {"q": ["some", "high"]})["ndcg@10"] == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    assert ranking_metrics(qrels, {"q": ["x", "high"]})["ndcg@10"] == pytest.approx(2 / math.log2(3) / ideal)


def test_ranking_metrics_count_a_query_with_nothing_retrieved_as_zero():
    scores = ranking_metrics({"q1": {"d1": 1}, "q2": {"d2": 1}}, {"q1": ["d1"], "q2": []})

    assert scores["mrr@10"] == pytest.approx(0.5)
    assert scores["ndcg@10"] == pytest.approx(0.5)


def test_ranking_metrics_count_a_missing_query_as_zero():
    scores = ranking_metrics({"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}, {"q1": ["d1"]})

    assert scores["recall@1"] == pytest.approx(1 / 3)


def test_ranking_metrics_with_nothing_retrieved_at_all_are_zero():
    assert ranking_metrics({"q1": {"d1": 1}}, {"q1": []}) == {m: 0.0 for m in RANKING_METRICS}


def test_ranking_metrics_keep_the_given_order_and_ignore_repeats():
    scores = ranking_metrics({"q1": {"d1": 1, "d3": 1}}, {"q1": ["d0", "d0", "d1", "d2", "d3"]})

    ideal = 1 + 1 / math.log2(3)
    assert scores["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert scores["recall@1"] == 0.0
    assert scores["recall@5"] == 1.0


# Answer check

@pytest.mark.parametrize("text", ["It was in ANCIENT Egypt.", "ancient\n  egypt, around 1500 BC", "Ancient\tEgypt"])
def test_contains_answer_ignores_case_and_whitespace(text):
    assert contains_answer(text, ["Ancient  Egypt"])


def test_contains_answer_needs_the_whole_answer():
    assert not contains_answer("Egypt, around 1500 BC", ["ancient Egypt"])
    assert not contains_answer("anything at all", [""])
    assert contains_answer("around 1500 BC", ["ancient Egypt", "1500 bc"])


# Datasets

def test_load_beir_keeps_judged_queries_and_positive_qrels(tmp_path):
    documents, questions = load_beir(write_beir(tmp_path / "beir"))

    assert [d.id for d in documents] == ["penguins", "iceland", "etna", "bread", "chess"]
    assert documents[0].title == "Emperor penguins"
    assert [(q.id, q.relevant) for q in questions] == [
        ("q1", {"penguins": 1}), ("q2", {"iceland": 1, "etna": 1}), ("q3", {"bread": 1})]


def test_load_beir_reads_the_split_it_is_given(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\r\nq2\tetna\t2\r\n", encoding="utf-8")

    _, questions = load_beir(folder, "dev")

    assert [(q.id, q.relevant) for q in questions] == [("q2", {"etna": 2})]


def test_a_missing_split_is_refused_naming_the_splits_there(tmp_path):
    with pytest.raises(DocumentError, match=r"has no qrels/dev.tsv \(its splits: test\)"):
        load_beir(write_beir(tmp_path / "beir"), "dev")


def test_a_split_that_is_not_a_file_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"split must be a qrels file name .* got '../test'"):
        load_beir(write_beir(tmp_path / "beir"), "../test")


def test_a_split_for_a_squad_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="split 'dev' is for BEIR folders"):
        evaluate(write_squad(tmp_path / "squad.json"), split="dev")


def test_load_squad_makes_a_document_per_paragraph(tmp_path):
    documents, questions = load_squad(write_squad(tmp_path / "squad.json"))

    assert [d.id for d in documents] == ["a0-p0", "a0-p1", "a1-p0", "a1-p1"]
    assert documents[0].title == "Emperor penguin"
    assert documents[3].text == SQUAD["data"][1]["paragraphs"][1]["context"]
    assert [(q.id, q.relevant) for q in questions][-2:] == [("s4", {"a1-p1": 1}), ("s5", {"a1-p1": 1})]
    assert questions[2].answers == ["wild yeast and lactic acid bacteria", "wild yeast"]


def test_detect_tells_the_formats_apart(tmp_path):
    assert detect(write_beir(tmp_path / "beir")) == "beir"
    assert detect(write_squad(tmp_path / "squad.json")) == "squad"


def test_detect_a_missing_path_names_it_and_the_formats(tmp_path):
    with pytest.raises(DocumentError, match="does not exist") as caught:
        detect(tmp_path / "nowhere")
    assert "nowhere" in str(caught.value)
    assert "BEIR folder" in str(caught.value) and "SQuAD" in str(caught.value)


@pytest.mark.parametrize("name, content", [("notes.txt", "hello"), ("other.json", '{"rows": []}'),
                                           ("broken.json", "{not json")])
def test_detect_refuses_other_files(tmp_path, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")

    with pytest.raises(DocumentError, match="expected a BEIR folder") as caught:
        detect(tmp_path / name)
    assert name in str(caught.value)


def test_a_beir_folder_without_qrels_is_refused_by_name(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").unlink()

    with pytest.raises(DocumentError, match="qrels/test.tsv"):
        evaluate(folder)


def test_a_bad_limit_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="limit must be at least 1, got 0"):
        evaluate(write_squad(tmp_path / "squad.json"), limit=0)


# Evaluation with the real model

def test_beir_evaluates_only_queries_in_qrels(beir_report):
    assert (beir_report.kind, beir_report.split, beir_report.questions, beir_report.documents) == ("beir", "test", 3, 5)
    assert [r.id for r in beir_report.per_question] == ["q1", "q2", "q3"]
    assert beir_report.answers is None


def test_beir_metrics_match_the_hand_computed_ranks(beir_report):
    expected = expected_metrics(beir_report, {"q1": 1, "q2": 2, "q3": 1})

    assert beir_report.retrieval == pytest.approx(expected)


def test_beir_distinct_topics_are_found_first(beir_report):
    assert [r.first_relevant_rank for r in beir_report.per_question] == [1, 1, 1]
    assert beir_report.retrieval["mrr@10"] == 1.0
    assert beir_report.retrieval["recall@5"] == 1.0  # q2's two volcano documents are both in the top five
    assert beir_report.retrieval["recall@1"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_squad_metrics_match_the_hand_computed_ranks(squad_report):
    assert (squad_report.kind, squad_report.questions, squad_report.documents) == ("squad", 5, 4)
    assert squad_report.retrieval == pytest.approx(expected_metrics(squad_report, dict.fromkeys("s1 s2 s3 s4 s5"
                                                                                                 .split(), 1)))
    assert squad_report.retrieval["mrr@10"] == 1.0


def test_squad_answer_shares_add_up_from_the_questions(squad_report):
    results, n = squad_report.per_question, squad_report.questions
    answers = squad_report.answers

    assert answers == {"first_quote_has_answer": sum(r.first_quote_has_answer for r in results) / n,
                       "answer_has_answer": sum(r.answer_has_answer for r in results) / n,
                       "abstained": sum(r.abstained for r in results) / n}
    assert answers["first_quote_has_answer"] <= answers["answer_has_answer"]
    assert not any(r.abstained and r.answer_has_answer for r in results)
    assert answers["answer_has_answer"] > 0  # the questions reuse their paragraph's words


def test_report_times_questions_and_the_build(squad_report):
    assert 0 < squad_report.latency_ms["p50"] <= squad_report.latency_ms["p95"]
    assert squad_report.build_seconds > 0
    assert squad_report.index == "built"
    assert squad_report.settings["retrieval"] == "hybrid"


def test_limit_keeps_the_whole_corpus(tmp_path):
    report = evaluate(write_squad(tmp_path / "squad.json"), limit=2)

    assert (report.questions, report.documents) == (2, 4)
    assert [r.id for r in report.per_question] == ["s1", "s2"]


def test_an_index_dir_is_reused_for_the_same_dataset_and_settings(tmp_path):
    dataset = write_squad(tmp_path / "squad.json")

    first = evaluate(dataset, limit=2, index_dir=tmp_path / "eval-index")
    again = evaluate(dataset, limit=2, index_dir=tmp_path / "eval-index")
    other = evaluate(dataset, qa.Settings(chunk_size=500), limit=2, index_dir=tmp_path / "eval-index")

    assert (first.index, again.index, other.index) == ("built", "loaded", "built")
    assert again.retrieval == first.retrieval


def test_an_index_of_a_document_folder_is_never_replaced(tmp_path):
    qa.build_index(SEEDS_DIR, tmp_path / "index")

    with pytest.raises(ConfigError, match="holds the index of"):
        evaluate(write_squad(tmp_path / "squad.json"), index_dir=tmp_path / "index")
    assert qa.load_index(tmp_path / "index").manifest["source"] == str(SEEDS_DIR.resolve())


# The command

def test_eval_command_prints_the_report_as_json(tmp_path):
    dataset = write_beir(tmp_path / "beir")

    result = CliRunner().invoke(main, ["eval", str(dataset), "--json", "--limit", "2", "--retrieval", "bm25"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["kind"], report["questions"], report["documents"]) == ("beir", 2, 5)
    assert set(report["retrieval"]) == set(RANKING_METRICS)
    assert report["settings"]["retrieval"] == "bm25"
    assert [q["id"] for q in report["per_question"]] == ["q1", "q2"]


def test_eval_command_evaluates_the_split_it_is_given(tmp_path):
    dataset = write_beir(tmp_path / "beir")
    (dataset / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tpenguins\t2\nq3\tbread\t1\n",
                                               encoding="utf-8")

    result = CliRunner().invoke(main, ["eval", str(dataset), "--json", "--split", "dev", "--retrieval", "bm25"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["split"], report["questions"]) == ("dev", 2)
    assert [q["id"] for q in report["per_question"]] == ["q1", "q3"]


def test_eval_command_prints_a_table(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(write_squad(tmp_path / "squad.json")), "--limit", "1"])

    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.stdout and "MRR@10" in result.stdout and "first quote has answer" in result.stdout
    assert "latency per question: p50 " in result.stdout
    assert "index built in " in result.stdout


def test_eval_command_on_a_bad_path_fails_with_one_line(tmp_path):
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "missing.json")])

    assert result.exit_code == 1
    assert "Error: evaluation dataset" in result.output and "does not exist" in result.output
