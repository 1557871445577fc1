"""`qa eval` on a conversation folder (doc2dial's form): replay, the judging of each turn, the report."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import LIGHTHOUSE, PENGUINS, SEED_FILE, SEED_QUESTION

from qa.answer.answers import Answer
from qa.answer.sentences import Quote
from qa.cli import main
from qa.errors import DocumentError
from qa.eval.conversations import (
    ConversationTurn,
    _judge,
    by_first_answer,
    by_last_answer,
    evaluate_conversations,
    format_conversation_report,
    is_conversation_folder,
    load_conversations,
    tuning_half,
)
from qa.retrieve.hits import Hit

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8").split("\n", 1)[1]


def span(text: str, sentence: str) -> dict[str, int]:
    start = text.index(sentence)
    return {"answer_start": start, "answer_end": start + len(sentence)}


def write_folder(folder, dialogues: list[tuple[str, str, list[tuple[str, str]]]]):
    docs = {"kosovo": ("China calls for dialogue on Kosovo issue", SEED_TEXT), "penguins": ("Penguins", PENGUINS),
            "lighthouse": ("The northern lighthouse", LIGHTHOUSE)}
    folder.mkdir()
    (folder / "docs.jsonl").write_text("".join(json.dumps({"doc_id": d, "doc_title": t, "doc_text": x}) + "\n"
                                               for d, (t, x) in docs.items()))
    rows = [{"dial_id": dial, "turn_id": 2 * n + 1, "doc_id": doc, "question": q, **span(docs[doc][1], gold)}
            for dial, doc, turns in dialogues for n, (q, gold) in enumerate(turns)]
    rows.reverse()  # the replay orders turns by turn_id, not by file position
    (folder / "turns.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


DIALOGUES = [
    ("d-kosovo", "kosovo", [(SEED_QUESTION, "China respects the sovereignty and territorial integrity of Serbia"),
                            ("What did it urge Belgrade and Pristina to do?",
                             "China urges the two sides to implement agreements")]),
    ("d-penguins", "penguins", [("Where do emperor penguins breed?",
                                 "Emperor penguins breed during the Antarctic winter"),
                                ("And what does the female do with the egg?",
                                 "The female lays a single egg and passes it to the male")]),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("conv") / "dialogues", DIALOGUES)


@pytest.fixture(scope="module")
def report(folder):
    return evaluate_conversations(folder)


def test_a_conversation_folder_is_recognised(folder, tmp_path):
    assert is_conversation_folder(folder)
    assert not is_conversation_folder(tmp_path)


def test_turns_are_replayed_in_turn_order(folder):
    _, dialogues = load_conversations(folder)

    assert [t.turn_id for t in dialogues["d-kosovo"]] == [1, 3]


def test_report_splits_first_turns_and_follow_ups(report):
    table = report.tables["all"]

    assert (report.dialogues, report.turns, report.documents) == (2, 4, 3)
    assert table["first turns"]["turns"] == 2 and table["follow-ups"]["turns"] == 2
    assert table["follow-ups"]["doc@5"] == 1.0
    assert table["follow-ups"]["abstained"] == 0.0


def test_report_counts_each_turn_once_across_the_halves(report):
    halves = [report.tables[p]["follow-ups"]["turns"] + report.tables[p]["first turns"]["turns"]
              for p in ("tuning", "held-out")]
    assert sum(halves) == report.turns


def test_report_prints_a_table_per_part(report):
    text = format_conversation_report(report)

    assert "| follow-ups | 2 |" in text
    assert "held-out:" in text and "tuning:" in text


def test_first_turns_fare_the_same_with_history_on_and_off(folder, report):
    off = evaluate_conversations(folder, history="off")

    assert off.history == "off"
    drop = ("latency_p50_ms", "latency_p95_ms")
    on_first = {k: v for k, v in report.tables["all"]["first turns"].items() if k not in drop}
    assert {k: v for k, v in off.tables["all"]["first turns"].items() if k not in drop} == on_first


def test_a_turn_is_judged_by_overlap_with_the_gold_span():
    turn = ConversationTurn("d", 1, "q", "doc", 100, 200)
    hit = Hit("c", "other", "t", 1.0, "", "", "", 0, 10, 1, 0.5, 1.0)
    quotes = [Quote("a", "doc", 50, 100, 1.0), Quote("b", "doc", 199, 250, 1.0)]
    answer = Answer("q", "text", False, 1.0, quotes, [], [hit, Hit("c2", "doc", "t", 0.9, "", "", "", 0, 10, 2,
                                                                    0.5, 1.0)])

    result = _judge(turn, answer, True, 1.0)

    assert (result.doc1, result.doc5, result.first_in_gold, result.any_in_gold) == (False, True, False, True)


def test_follow_ups_are_split_by_where_the_last_answer_quoted(report):
    firsts = [r for r in report.per_turn if not r.follow_up]
    follow_ups = [r for r in report.per_turn if r.follow_up]
    split = by_last_answer(report.per_turn)

    assert {r.last_answer for r in firsts} == {"none"}
    assert {r.last_answer for r in follow_ups} == {"gold document"}  # both first turns quoted their document
    assert split["gold document"]["turns"] == 2 and split["other document"]["turns"] == 0


def test_follow_ups_are_split_by_whether_the_first_question_was_answered_from_its_document(tmp_path):
    # The second dialogue's gold document is the lighthouse, but its first question is about Kosovo: the
    # assistant answers it from the seed article, so that dialogue starts wrong.
    wrong = ("d-wrong", "lighthouse", [(SEED_QUESTION, "The lighthouse keeper counted the passing ships"),
                                        ("And in winter?", "In winter the storms were so strong")])
    found = evaluate_conversations(write_folder(tmp_path / "dialogues", [DIALOGUES[1], wrong]))
    split = by_first_answer(found.per_turn)

    assert {(r.dial_id, r.first_answer) for r in found.per_turn if r.follow_up} == {("d-penguins", "right"),
                                                                                     ("d-wrong", "wrong")}
    assert {r.first_answer for r in found.per_turn if not r.follow_up} == {""}
    assert split["all, first answer right"]["turns"] == 1 and split["all, first answer wrong"]["turns"] == 1


def test_the_halves_are_fixed_by_the_dialogue_id():
    ids = [f"dialogue-{n}" for n in range(200)]

    assert [tuning_half(i) for i in ids] == [tuning_half(i) for i in ids]
    assert 60 < sum(map(tuning_half, ids)) < 140


def test_a_turn_line_without_its_fields_is_refused_by_line(tmp_path):
    folder = write_folder(tmp_path / "bad", DIALOGUES)
    (folder / "turns.jsonl").write_text('{"dial_id": "x"}\n')

    with pytest.raises(DocumentError, match=r"turns.jsonl:1: lacks turn_id"):
        load_conversations(folder)


def test_eval_command_reports_conversations_as_json(folder):
    result = CliRunner().invoke(main, ["eval", str(folder), "--history", "off", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["history"] == "off"
    assert set(data["tables"]) == {"all", "tuning", "held-out"}


def test_history_is_refused_for_a_dataset_that_is_not_a_conversation(tmp_path):
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": []}))

    result = CliRunner().invoke(main, ["eval", str(squad), "--history", "off"])

    assert result.exit_code != 0
    assert "--history applies to a conversation folder" in result.output
