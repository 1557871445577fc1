"""Evaluation: the library's own retrieval and answers measured on a BEIR folder or a SQuAD v1.1 file.

Documents are ranked whole: a document's rank is that of its best chunk among the top ``DEPTH`` chunks.
Ranking metrics come from ranx; a query with nothing retrieved counts as 0, never as missing. nDCG uses
the graded relevance of the qrels as gains (2 counts twice 1), as trec_eval and BEIR do.
"""
from __future__ import annotations

import csv
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa.answer.answers import Answer
from qa.answer.assistant import Assistant
from qa.errors import ConfigError, DocumentError, QAError
from qa.index import store
from qa.index.build import build_index
from qa.index.index import Index, load_index
from qa.ingest.documents import Document
from qa.retrieve.hits import Hit
from qa.settings import Settings

log = logging.getLogger(__name__)

DEPTH = 100  # chunks retrieved per question for the ranking metrics
RANKING_METRICS = ("ndcg@10", "recall@1", "recall@5", "recall@20", "recall@100", "mrr@10")
UNREPORTED_SETTINGS = ("index_dir", "source_dir", "batch_size", "max_question_chars")  # no effect on the figures
FORMATS = ('a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) or a SQuAD v1.1 .json file '
           '(an object with "data")')
SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_SPLIT = "test"  # the qrels file of a BEIR folder that is evaluated unless told otherwise


@dataclass(frozen=True)
class EvalQuestion:
    """A question, its relevant documents (id -> graded relevance > 0) and, for SQuAD, its gold answers."""

    id: str
    text: str
    relevant: dict[str, int]
    answers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QuestionResult:
    """How one question fared: the ranks of the relevant documents retrieved (first is None if there are none)."""

    id: str
    first_relevant_rank: int | None
    relevant_ranks: list[int]
    latency_ms: float
    abstained: bool
    first_quote_has_answer: bool | None = None  # None when the question has no gold answers (BEIR)
    answer_has_answer: bool | None = None


@dataclass
class EvalReport:
    """What ``evaluate`` measured. ``index`` says whether the index was "built" or "loaded"."""

    dataset: str
    kind: str  # "beir" or "squad"
    split: str | None  # the qrels file of a BEIR folder ("test", "dev", ...); None for SQuAD
    questions: int
    documents: int
    retrieval: dict[str, float]
    answers: dict[str, float] | None
    latency_ms: dict[str, float]
    build_seconds: float
    index: str
    settings: dict[str, Any]
    per_question: list[QuestionResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(path: str | Path, settings: Settings | None = None, limit: int | None = None,
             index_dir: str | Path | None = None, show_progress: bool = False,
             split: str = DEFAULT_SPLIT) -> EvalReport:
    """Index the dataset's corpus, then retrieve and answer its first ``limit`` questions (all if None).

    ``split`` names the qrels file of a BEIR folder (``qrels/{split}.tsv``: choose settings on "dev",
    report "test"); a SQuAD file has one split and refuses any other name.

    With ``index_dir``, an index there built from the same documents and settings is reused; otherwise
    the index is built and saved there. Without it, the index lives in memory only.
    """
    settings = settings or Settings.from_env()
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    kind = detect(path)
    if kind == "squad" and split != DEFAULT_SPLIT:
        raise ConfigError(f"split {split!r} is for BEIR folders (qrels/{split}.tsv); a SQuAD file has one split: "
                          "leave --split out")
    documents, questions = load_beir(path, split) if kind == "beir" else load_squad(path)
    questions = questions[:limit] if limit is not None else questions
    if not questions:
        raise DocumentError(f"{str(path)!r} has no questions to evaluate (none with relevant documents)")
    index, seconds, how = prepare_index(documents, settings, index_dir, show_progress)
    results, rankings = run_questions(index, questions, show_progress)
    latencies = np.array([r.latency_ms for r in results])
    return EvalReport(
        dataset=str(path), kind=kind, split=split if kind == "beir" else None, questions=len(questions),
        documents=len(documents),
        retrieval=ranking_metrics({q.id: q.relevant for q in questions}, rankings),
        answers=answer_metrics(results) if kind == "squad" else None,
        latency_ms={"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                    "mean": float(latencies.mean())},
        build_seconds=seconds, index=how, per_question=results,
        settings={f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in UNREPORTED_SETTINGS})


# Datasets

def detect(path: str | Path) -> str:
    """Which format ``path`` holds, "beir" or "squad"; DocumentError naming it and the formats otherwise."""
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"evaluation dataset {str(path)!r} does not exist: expected {FORMATS}")
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return "beir"
    if path.is_file() and path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DocumentError(f"{str(path)!r} is not readable JSON ({exc}): expected {FORMATS}") from None
        if isinstance(data, dict) and "data" in data:
            return "squad"
    raise DocumentError(f"cannot evaluate on {str(path)!r}: expected {FORMATS}")


def load_beir(folder: str | Path, split: str = DEFAULT_SPLIT) -> tuple[list[Document], list[EvalQuestion]]:
    """Corpus documents, and the queries that have relevant documents in ``qrels/{split}.tsv``, in file order."""
    if not SPLIT_NAME.fullmatch(split):
        raise ConfigError(f"split must be a qrels file name such as dev or test (letters, digits, - and _), "
                          f"got {split!r}")
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file() and (folder / "corpus.jsonl").is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DocumentError(f"BEIR folder {str(folder)!r} has no qrels/{split}.tsv (its splits: "
                            f"{', '.join(have) or 'none'}): pick one of those, or add the file")
    documents = [Document(id=str(row["_id"]), text=str(row.get("text") or ""), title=str(row.get("title") or ""))
                 for row in _read_jsonl(folder / "corpus.jsonl")]
    texts = {str(row["_id"]): str(row.get("text") or "") for row in _read_jsonl(folder / "queries.jsonl")}
    qrels = _read_qrels(qrels_path)
    missing = sorted(set(qrels) - set(texts))
    if missing:
        log.warning("%d queries in qrels are not in queries.jsonl (e.g. %r): left out", len(missing), missing[0])
    return documents, [EvalQuestion(qid, text, qrels[qid]) for qid, text in texts.items() if qid in qrels]


def load_squad(path: str | Path) -> tuple[list[Document], list[EvalQuestion]]:
    """Each paragraph a document ``a{article}-p{paragraph}``; each question relevant to its own paragraph."""
    path = Path(path)
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    try:
        for a, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
            title = str(article.get("title", "")).replace("_", " ")
            for p, paragraph in enumerate(article["paragraphs"]):
                doc_id = f"a{a}-p{p}"
                documents.append(Document(id=doc_id, text=paragraph["context"], title=title))
                for item in paragraph["qas"]:
                    answers = [str(answer["text"]) for answer in item.get("answers", [])]
                    if answers:  # SQuAD v2's unanswerable questions have none
                        questions.append(EvalQuestion(str(item["id"]), item["question"], {doc_id: 1}, answers))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DocumentError(f"{str(path)!r} is not readable JSON ({exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise DocumentError(f"{str(path)!r} is not SQuAD v1.1 JSON ({type(exc).__name__}: {exc})") from None
    return documents, questions


def squad_article(item: EvalQuestion | str) -> int:
    """The article a SQuAD paragraph id (``a{article}-p{paragraph}``, as ``load_squad`` names them) or a question
    about that paragraph comes from."""
    doc_id = item if isinstance(item, str) else next(iter(item.relevant))
    return int(doc_id.split("-")[0][1:])


def read_jsonl_rows(path: Path, keys: tuple[str, ...], folder_kind: str, expected: str = ""
                    ) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, each holding ``keys``; DocumentError naming the line otherwise."""
    if not path.is_file():
        raise DocumentError(f"{folder_kind} {str(path.parent)!r} has no {path.name}{expected}")
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DocumentError(f"{path}:{number}: not valid JSON ({exc})") from None
            missing = [k for k in keys if not isinstance(row, dict) or k not in row]
            if missing:
                raise DocumentError(f"{path}:{number}: lacks {', '.join(missing)}, got {line[:80]!r}")
            yield row


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return list(read_jsonl_rows(path, ("_id",), "BEIR folder", f": expected {FORMATS}"))


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {document id: relevance}, keeping relevance > 0 only (0 means judged not relevant)."""
    if not path.is_file():
        raise DocumentError(f"BEIR folder {str(path.parent.parent)!r} has no qrels/{path.name}: expected {FORMATS}")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for number, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (number == 1 and row[0] == "query-id"):
                continue
            try:
                qid, doc_id, score = row[0], row[1], int(row[-1])
            except (IndexError, ValueError):
                raise DocumentError(f"{path}:{number}: expected 'query-id corpus-id score', got {row!r}") from None
            if score > 0:
                qrels.setdefault(qid, {})[doc_id] = score
    return qrels


# Running

def prepare_index(documents: list[Document], settings: Settings, index_dir: str | Path | None,
                  show_progress: bool) -> tuple[Index, float, str]:
    """The index to evaluate, the seconds it took to build or load, and "built" or "loaded"."""
    started = time.perf_counter()
    if index_dir is not None:
        index = _reusable(Path(index_dir), documents, settings)
        if index is not None:
            return index, time.perf_counter() - started, "loaded"
        _refuse_foreign(Path(index_dir))
    index = build_index(documents, index_dir, settings, show_progress=show_progress)
    return index, time.perf_counter() - started, "built"


def _reusable(index_dir: Path, documents: list[Document], settings: Settings) -> Index | None:
    try:
        index = load_index(index_dir, settings)
    except QAError as exc:
        log.info("not reusing the index in %s (%s): building it", index_dir, exc)
        return None
    if index.manifest.get("documents") != {d.id: d.content_hash for d in documents}:
        log.info("the index in %s holds other documents: building it", index_dir)
        return None
    return index


def _refuse_foreign(index_dir: Path) -> None:
    """Never overwrite an index built from a document folder (someone's real index) with an evaluation one."""
    try:
        source = store.read_json(store.current_generation(index_dir) / store.MANIFEST)["source"]
    except (QAError, KeyError, TypeError):
        source = None
    if source:
        raise ConfigError(f"{str(index_dir)!r} holds the index of {source!r}; evaluating would replace it: "
                          "pass another --index folder, or none to build in memory")


def run_questions(index: Index, questions: list[EvalQuestion], show_progress: bool = False,
                  query_vectors: np.ndarray | None = None) -> tuple[list[QuestionResult], dict[str, list[str]]]:
    """Retrieve and answer every question (timed together); also return each one's document ranking.

    ``query_vectors`` (one row per question) skips encoding, for comparing many variants quickly;
    latencies then leave the query encoding out.
    """
    assistant = Assistant(index)
    results: list[QuestionResult] = []
    rankings: dict[str, list[str]] = {}
    for i, question in enumerate(tqdm(questions, desc="questions", unit="q", disable=not show_progress)):
        text = " ".join(question.text.split())
        started = time.perf_counter()
        hits, qvec = index.retrieve(text, DEPTH, None if query_vectors is None else query_vectors[i])
        answer = assistant.answer(text, hits[:index.settings.k], qvec)
        latency = (time.perf_counter() - started) * 1000
        rankings[question.id] = doc_ranking(hits)
        results.append(_result(question, rankings[question.id], latency, answer))
    return results, rankings


def doc_ranking(hits: list[Hit]) -> list[str]:
    """Document ids best first, each at the rank of its best chunk."""
    return list(dict.fromkeys(hit.doc_id for hit in sorted(hits, key=lambda h: h.rank)))


def _result(question: EvalQuestion, ranking: list[str], latency_ms: float, answer: Answer) -> QuestionResult:
    ranks = [r for r, doc_id in enumerate(ranking, start=1) if doc_id in question.relevant]
    first = ranks[0] if ranks else None
    if not question.answers:
        return QuestionResult(question.id, first, ranks, latency_ms, answer.abstained)
    quotes = [] if answer.abstained else [q.text for q in answer.quotes]
    return QuestionResult(question.id, first, ranks, latency_ms, answer.abstained,
                          bool(quotes) and contains_answer(quotes[0], question.answers),
                          contains_answer(" ".join(quotes), question.answers))


# Metrics

def ranking_metrics(qrels: dict[str, dict[str, int]], rankings: dict[str, list[str]]) -> dict[str, float]:
    """ranx's RANKING_METRICS, averaged over every query in ``qrels``; missing or empty rankings score 0."""
    import ranx  # slow to import (numba)

    # ranx stores document ids as fixed-width strings and numba compiles anew (~40 s) for every width:
    # same-width stand-ins let every evaluation reuse the cached compilation.
    codes: dict[str, str] = {}
    judged = {qid: {codes.setdefault(d, f"{len(codes):012d}"): rel for d, rel in docs.items()}
              for qid, docs in qrels.items()}
    # Scores 1/rank keep the given order exactly: ranx sorts by score, and ties could reorder.
    run = {qid: {codes.setdefault(d, f"{len(codes):012d}"): 1.0 / r
                 for r, d in enumerate(dict.fromkeys(rankings.get(qid, [])), start=1)} for qid in qrels}
    if not any(run.values()):  # ranx.Run cannot be built without a single document
        return {metric: 0.0 for metric in RANKING_METRICS}
    scores = ranx.evaluate(ranx.Qrels(judged), ranx.Run(run), list(RANKING_METRICS))
    return {metric: float(scores[metric]) for metric in RANKING_METRICS}


def answer_metrics(results: list[QuestionResult]) -> dict[str, float]:
    """Shares of questions whose first quote / whole answer holds a gold answer, and that abstained."""
    n = max(len(results), 1)
    return {"first_quote_has_answer": sum(bool(r.first_quote_has_answer) for r in results) / n,
            "answer_has_answer": sum(bool(r.answer_has_answer) for r in results) / n,
            "abstained": sum(r.abstained for r in results) / n}


def contains_answer(text: str, answers: list[str]) -> bool:
    """Whether ``text`` contains any non-empty gold answer, ignoring case and runs of whitespace."""
    haystack = _fold(text)
    return any(needle and needle in haystack for needle in map(_fold, answers))


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def format_report(report: EvalReport) -> str:
    """The report as a small plain-text table."""
    names = {"ndcg": "nDCG", "recall": "Recall", "mrr": "MRR"}
    split = f", qrels/{report.split}.tsv" if report.split else ""
    lines = [f"{report.dataset} ({report.kind}{split}): {report.questions} questions, {report.documents} documents",
             "settings: " + ", ".join(f"{name}={value}" for name, value in report.settings.items()), "",
             f"{'metric':<24}{'value':>8}"]
    for key, value in {**report.retrieval, **(report.answers or {})}.items():
        name, at, cutoff = key.partition("@")
        lines.append(f"{names.get(name, name.replace('_', ' ')) + at + cutoff:<24}{value:>8.4f}")
    lat = report.latency_ms
    lines += ["", f"latency per question: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                  f"mean {lat['mean']:.1f} ms",
              f"index {report.index} in {report.build_seconds:.1f} s"]
    return "\n".join(lines)
