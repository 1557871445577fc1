"""Evaluation on document-grounded conversations (doc2dial's reading-comprehension form, as JSON lines).

A folder holds ``docs.jsonl`` (``doc_id, doc_title, doc_text``) and ``turns.jsonl`` (one user turn a line:
``dial_id, turn_id, doc_id, question, answer_start, answer_end``). Every dialogue is replayed in ``turn_id``
order as a chat user would: the history given is the user's earlier questions and the assistant's *own*
earlier answers. Each turn records whether the gold document is the first / among the first five passages,
whether the first / any quote overlaps the gold span, whether the assistant abstained, and the latency.
First turns and follow-ups are reported apart, and so are the two halves of the dialogues (by the parity of
the dialogue id's hash: "tuning" for even, "held-out" for odd), so methods can be chosen on one half. Follow-ups
can also be split by where the last answer quoted (``by_last_answer``) and by whether the dialogue's first
question was answered from its gold document (``by_first_answer``), where a conversation can mislead.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa.answer.answers import NO_ANSWER, Answer
from qa.answer.assistant import Assistant
from qa.answer.turns import turns_from_answers
from qa.errors import QAError
from qa.eval.evaluation import read_jsonl_rows
from qa.index.index import Index
from qa.ingest.documents import Document
from qa.retrieve.context import DEFAULT_WEIGHTS, ContextWeights

log = logging.getLogger(__name__)

HISTORY_MODES = ("on", "off", "naive")  # the conversation, each question alone, previous 3 questions prepended
NAIVE_TURNS = 3
METRICS = ("doc@1", "doc@5", "first_quote_in_gold", "any_quote_in_gold", "abstained")


@dataclass(frozen=True)
class ConversationTurn:
    """One user turn with its gold document and answer span."""

    dial_id: str
    turn_id: int
    question: str
    doc_id: str
    start: int
    end: int
    domain: str = ""  # the kind of documents (doc2dial: "dmv", "studentaid", ...), for per-domain tables


@dataclass(frozen=True)
class TurnResult:
    dial_id: str
    turn_id: int
    follow_up: bool
    tuning: bool  # in the tuning half of the dialogues
    doc1: bool
    doc5: bool
    first_in_gold: bool
    any_in_gold: bool
    abstained: bool
    latency_ms: float
    confidence: float = 0.0  # the best sentence's score
    domain: str = ""
    # where the last answered turn's first quote was: "gold document", "other document", or "none" (no earlier
    # answer among the dialogue's turns so far); a follow-up after a wrong document is where context misleads
    last_answer: str = ""
    # whether the dialogue's first question was answered from its gold document ("right"; "wrong" when it quoted
    # another document or abstained; "" on a first turn): after a wrong first answer, the conversation misleads
    first_answer: str = ""


@dataclass
class ConversationReport:
    """What ``evaluate_conversations`` measured: a table per part ("all", "tuning", "held-out")."""

    dataset: str
    history: str
    dialogues: int
    turns: int
    documents: int
    tables: dict[str, dict[str, dict[str, float]]]
    build_seconds: float
    index: str
    per_turn: list[TurnResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_conversation_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "turns.jsonl").is_file() and (path / "docs.jsonl").is_file()


def load_conversations(folder: str | Path) -> tuple[list[Document], dict[str, list[ConversationTurn]]]:
    """The documents, and each dialogue's turns in ``turn_id`` order (dialogues in file order)."""
    folder = Path(folder)
    documents = [Document(id=str(d["doc_id"]), text=str(d["doc_text"]), title=str(d.get("doc_title") or ""))
                 for d in _jsonl(folder / "docs.jsonl", ("doc_id", "doc_text"))]
    dialogues: dict[str, list[ConversationTurn]] = {}
    for row in _jsonl(folder / "turns.jsonl", ("dial_id", "turn_id", "doc_id", "question", "answer_start",
                                                "answer_end")):
        dialogues.setdefault(str(row["dial_id"]), []).append(ConversationTurn(
            str(row["dial_id"]), int(row["turn_id"]), str(row["question"]), str(row["doc_id"]),
            int(row["answer_start"]), int(row["answer_end"]), str(row.get("domain") or "")))
    return documents, {d: sorted(turns, key=lambda t: t.turn_id) for d, turns in dialogues.items()}


def _jsonl(path: Path, keys: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    return read_jsonl_rows(path, keys, "conversation folder")


def tuning_half(dial_id: str) -> bool:
    """Whether a dialogue is in the tuning half: the first byte of the SHA-256 of its id is even."""
    return hashlib.sha256(dial_id.encode()).digest()[0] % 2 == 0


def evaluate_conversations(path: str | Path, settings: Any = None, limit: int | None = None,
                           index_dir: str | Path | None = None, history: str = "on",
                           show_progress: bool = False) -> ConversationReport:
    """Index the folder's documents (reusing ``index_dir`` as ``qa eval`` does), replay its first ``limit``
    dialogues (all if None) with the given ``history`` mode, and report."""
    from qa.eval.evaluation import prepare_index
    from qa.settings import Settings

    settings = settings or Settings.from_env()
    documents, dialogues = load_conversations(path)
    chosen = list(dialogues.values())[:limit] if limit is not None else list(dialogues.values())
    index, seconds, how = prepare_index(documents, settings, index_dir, show_progress)
    results = replay(index, chosen, history, show_progress=show_progress)
    return ConversationReport(str(path), history, len(chosen), len(results), len(documents), tables(results),
                              seconds, how, results)


def replay(index: Index, dialogues: list[list[ConversationTurn]], history: str = "on",
           weights: ContextWeights = DEFAULT_WEIGHTS, show_progress: bool = False,
           assistant: Assistant | None = None) -> list[TurnResult]:
    """Every turn of every dialogue answered in order, with the given ``history`` mode (by ``assistant``, default
    ``Assistant(index)``: a benchmark may pass a variant)."""
    if history not in HISTORY_MODES:
        raise ValueError(f"history must be one of {HISTORY_MODES}, got {history!r}")
    assistant = assistant or Assistant(index)
    ask = _asker(assistant, history, weights)
    results = []
    bar = tqdm(total=sum(map(len, dialogues)), desc="turns", unit="turn", disable=not show_progress)
    for dialogue in dialogues:
        answers: list[Answer] = []
        for turn in dialogue:
            started = time.perf_counter()
            answer = ask(turn.question, answers)
            latency = (time.perf_counter() - started) * 1000
            results.append(_judge(turn, answer, bool(answers), latency, _last_answer(turn, answers),
                                  _first_answer(dialogue[0], answers)))
            answers.append(answer)
            bar.update()
    bar.close()
    return results


def _asker(assistant: Assistant, history: str, weights: ContextWeights) -> Callable[[str, list[Answer]], Answer]:
    def ask(question: str, answers: list[Answer]) -> Answer:
        try:
            text = assistant.check_question(question)
            if history == "naive":
                earlier = [a.question for a in answers[-NAIVE_TURNS:]]
                return assistant.ask(" ".join([*earlier, text]))
            if history == "on" and answers:
                return assistant.follow_up(text, turns_from_answers(answers), weights)
            return assistant.ask(text)
        except QAError as exc:  # e.g. an empty line: the turn counts as abstained
            log.info("turn %r not answered: %s", question[:80], exc)
            return Answer(question, NO_ANSWER, True, 0.0)
    return ask


def _last_answer(turn: ConversationTurn, answers: list[Answer]) -> str:
    last = next((a for a in reversed(answers) if a.quotes), None)
    if last is None:
        return "none"
    return "gold document" if last.quotes[0].doc_id == turn.doc_id else "other document"


def _first_answer(first: ConversationTurn, answers: list[Answer]) -> str:
    if not answers:
        return ""
    quotes = answers[0].quotes
    return "right" if quotes and quotes[0].doc_id == first.doc_id else "wrong"


def _judge(turn: ConversationTurn, answer: Answer, follow_up: bool, latency_ms: float,
           last_answer: str = "", first_answer: str = "") -> TurnResult:
    docs = list(dict.fromkeys(h.doc_id for h in answer.passages))[:5]
    hits = [q.doc_id == turn.doc_id and q.start < turn.end and turn.start < q.end for q in answer.quotes]
    return TurnResult(turn.dial_id, turn.turn_id, follow_up, tuning_half(turn.dial_id),
                      bool(docs) and answer.passages[0].doc_id == turn.doc_id, turn.doc_id in docs,
                      bool(hits) and hits[0], any(hits), answer.abstained, latency_ms,
                      answer.confidence, turn.domain, last_answer, first_answer)


def tables(results: list[TurnResult]) -> dict[str, dict[str, dict[str, float]]]:
    """For each part ("all", "tuning", "held-out", and "domain X" for each domain when there are several), the
    metrics of first turns and of follow-ups."""
    parts = {"all": results, "tuning": [r for r in results if r.tuning],
             "held-out": [r for r in results if not r.tuning]}
    domains = sorted({r.domain for r in results})
    if len(domains) > 1:
        parts |= {f"domain {d}": [r for r in results if r.domain == d] for d in domains}
    return {name: {"first turns": summarise([r for r in rs if not r.follow_up]),
                   "follow-ups": summarise([r for r in rs if r.follow_up])} for name, rs in parts.items()}


def by_last_answer(results: list[TurnResult]) -> dict[str, dict[str, float]]:
    """The follow-ups' metrics by where the last answered turn quoted (``TurnResult.last_answer``)."""
    follow_ups = [r for r in results if r.follow_up]
    return {kind: summarise([r for r in follow_ups if r.last_answer == kind])
            for kind in ("gold document", "other document", "none")}


def by_first_answer(results: list[TurnResult]) -> dict[str, dict[str, float]]:
    """The follow-ups' metrics by domain (and all together) and by whether the dialogue's first question was
    answered from its gold document (``TurnResult.first_answer``): "dmv, first answer wrong", ..."""
    follow_ups = [r for r in results if r.follow_up]
    domains = ["all", *sorted({r.domain for r in follow_ups} - {""})]
    return {f"{domain}, first answer {kind}": summarise([r for r in follow_ups if r.first_answer == kind
                                                          and domain in ("all", r.domain)])
            for domain in domains for kind in ("right", "wrong")}


def summarise(results: list[TurnResult]) -> dict[str, float]:
    n = max(len(results), 1)
    latencies = [r.latency_ms for r in results] or [0.0]
    return {"turns": len(results), "doc@1": sum(r.doc1 for r in results) / n, "doc@5": sum(r.doc5 for r in results) / n,
            "first_quote_in_gold": sum(r.first_in_gold for r in results) / n,
            "any_quote_in_gold": sum(r.any_in_gold for r in results) / n,
            "abstained": sum(r.abstained for r in results) / n,
            "latency_p50_ms": float(np.percentile(latencies, 50)), "latency_p95_ms": float(np.percentile(latencies, 95))}


def format_table(table: dict[str, dict[str, float]], title: str = "") -> str:
    """A Markdown table: one row per kind of turn."""
    head = "| turns | n | doc@1 | doc@5 | first quote in gold | any quote in gold | abstained | p50 ms |"
    lines = [title, head, "|---|---|---|---|---|---|---|---|"] if title else [head, "|---|---|---|---|---|---|---|---|"]
    for kind, m in table.items():
        lines.append(f"| {kind} | {int(m['turns'])} | {m['doc@1']:.3f} | {m['doc@5']:.3f} | "
                     f"{m['first_quote_in_gold']:.3f} | {m['any_quote_in_gold']:.3f} | {m['abstained']:.3f} | "
                     f"{m['latency_p50_ms']:.1f} |")
    return "\n".join(lines)


def format_conversation_report(report: ConversationReport) -> str:
    head = (f"{report.dataset} (conversations): {report.dialogues} dialogues, {report.turns} turns, "
            f"{report.documents} documents; history {report.history}")
    lines = [head, ""]
    for part, table in report.tables.items():
        lines += [format_table(table, f"{part}:"), ""]
    lines.append(f"index {report.index} in {report.build_seconds:.1f} s")
    return "\n".join(lines)
