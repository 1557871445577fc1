"""The ``qa`` command: a thin shell over the library. Domain errors become one-line messages here."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qa.errors import QAError
from qa.settings import Settings

F = Callable[..., Any]


def _handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QAError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # e.g. a full disk while saving: the previous index is intact
            raise click.ClickException(f"{exc.strerror or exc} ({exc.filename or 'no file'}); "
                                       "nothing was changed") from exc

    return wrapper


def settings_options(fn: F) -> F:
    """Options shared by every command; each falls back to its QA_* environment variable, then a default."""
    options = [
        click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Index folder. [env QA_INDEX_DIR; default: index]"),
        click.option("--model", help="Sentence-transformers model name or folder. [env QA_MODEL; default: the "
                                     "bundled all-MiniLM-L6-v2]"),
        click.option("--chunk-size", type=int, help="Chunk size in characters. [env QA_CHUNK_SIZE; default 1000]"),
        click.option("--chunk-overlap", type=int, help="Characters of sentences repeated between chunks. "
                                                       "[env QA_CHUNK_OVERLAP; default 200]"),
        click.option("-k", "k", type=int, help="Passages to retrieve. [env QA_K; default 5]"),
        click.option("--min-score", type=float, help="Abstain when the best sentence's score (cosine + term "
                                                     "coverage) is below this. [env QA_MIN_SCORE; default 0.80]"),
        click.option("--quantize/--no-quantize", default=None,
                     help="Embed with int8 weights: about 2x faster indexing, slightly different vectors; an index built "
                          "one way is refused the other way. [env QA_QUANTIZE; default off]"),
        click.option("--device", help="Where documents are embedded: auto (CUDA, then Apple MPS, then CPU), cpu, "
                                      "cuda, cuda:N or mps. [env QA_DEVICE; default auto]"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# Loggers of the libraries qa uses; below -v only their errors are shown.
LIBRARY_LOGGERS = ("bm25s", "faiss", "httpx", "sentence_transformers", "transformers", "huggingface_hub", "pypdf",
                   "trafilatura", "htmldate", "courlan", "justext", "py.warnings")


def configure_logging(level: int) -> None:
    """Set log levels at the edge. At WARNING (no -v) the libraries are quiet: only their errors are logged,
    Python warnings too (they are routed to logging), and their own progress bars (transformers' "Loading
    weights") are off. qa's own warnings and progress bars (embedding a build) are shown at every level.
    """
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # bm25s sets its own logger to DEBUG when imported (later, lazily), so filter at the handlers too.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    quiet = level >= logging.WARNING
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if quiet else logging.WARNING)
    if quiet:
        quiet_library_output()


def quiet_library_output() -> None:
    """Turn off Hugging Face progress bars and transformers' warnings: through the environment for libraries
    not imported yet (the CLI imports them lazily), directly for those already imported."""
    import os
    import sys

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers resets its logger's level from this variable when it is first imported.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    elif "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def make_settings(**kwargs: Any) -> Settings:
    return Settings.from_env(**kwargs)


@click.group()
@click.option("-v", "--verbose", count=True, help="Show log messages (-vv for debug).")
@click.version_option(package_name="qa", prog_name="qa")
def main(verbose: int) -> None:
    """Ask questions of a folder of documents; answers quote the documents and cite them."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    configure_logging(level)


@main.group()
def index() -> None:
    """Build, update and inspect the index."""


def _source_arg(fn: F) -> F:
    return click.argument("source", required=False, type=click.Path(path_type=Path))(fn)


def _print_report(verb: str, idx: Any) -> None:
    r = idx.report
    click.echo(f"{verb} {r.documents} documents, {r.chunks} chunks in {r.seconds:.1f} s "
               f"({r.embedded} chunks embedded, {r.reused} reused) -> {idx.path}")
    for skipped in r.skipped:
        click.echo(f"skipped {skipped.path}: {skipped.reason}", err=True)


def ray_options(fn: F) -> F:
    """--ray [ADDRESS] and --ray-workers N: embed on a Ray cluster (the `ray` extra)."""
    fn = click.option("--ray-workers", type=click.IntRange(min=1),
                      help="Embedding workers on Ray. [default: one per GPU, else one per CPU of the cluster]")(fn)
    return click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
                        help="Embed on a Ray cluster: its address (e.g. ray://HOST:10001), `local` for a new local "
                             "Ray, or nothing for Ray's default (RAY_ADDRESS, a cluster started here, else local). "
                             "Needs pip install 'qa[ray]'.")(fn)


@index.command("build")
@_source_arg
@ray_options
@settings_options
@_handle_errors
def index_build(source: Path | None, ray_address: str | None, ray_workers: int | None, **opts: Any) -> None:
    """Index every document in SOURCE (default: seeds/ or QA_SOURCE_DIR) from scratch."""
    from qa.build import build_index

    settings = make_settings(**opts)
    idx = build_index(source or settings.source_dir, settings.index_dir, settings, show_progress=True,
                      ray_address=ray_address, ray_workers=ray_workers)
    _print_report("Indexed", idx)


@index.command("update")
@_source_arg
@ray_options
@settings_options
@_handle_errors
def index_update(source: Path | None, ray_address: str | None, ray_workers: int | None, **opts: Any) -> None:
    """Re-embed only new or changed documents in SOURCE and drop removed ones."""
    from qa.build import update_index

    settings = make_settings(**opts)
    idx = update_index(source or settings.source_dir, settings.index_dir, settings, show_progress=True,
                       ray_address=ray_address, ray_workers=ray_workers)
    _print_report("Updated", idx)


@index.command("info")
@_source_arg
@settings_options
@_handle_errors
def index_info(source: Path | None, **opts: Any) -> None:
    """Describe the index and list documents changed since it was built."""
    from qa.index import load_index

    settings = make_settings(**opts)
    idx = load_index(settings.index_dir, settings)
    m = idx.manifest
    click.echo(f"index:      {idx.path}")
    click.echo(f"documents:  {m['counts']['documents']}   chunks: {m['counts']['chunks']}")
    click.echo(f"model:      {m['settings']['model']} (dimension {m['dimension']})")
    click.echo(f"chunking:   {m['settings']['chunk_size']} characters, overlap {m['settings']['chunk_overlap']}")
    click.echo(f"built:      {m['created']} from {m.get('source') or 'in-memory documents'}"
               + (f", embedded on {m['device']}" if m.get("device") else ""))
    click.echo("versions:   " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    changes = idx.changes(source)
    if not changes.stale:
        click.echo("status:     up to date")
        return
    click.echo("status:     stale; run `qa index update` to catch up")
    for label, names in (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed)):
        for name in names:
            click.echo(f"  {label}: {name}")


@main.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@settings_options
@_handle_errors
def search(text: str, as_json: bool, **opts: Any) -> None:
    """Show the passages that best match TEXT."""
    from qa.index import load_index

    settings = make_settings(**opts)
    hits = load_index(settings.index_dir, settings).search(text, settings.k)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return
    for hit in hits:
        where = f", {hit.location}" if hit.location else ""
        click.echo(f"[{hit.rank}] {hit.score:.4f}  {hit.title} ({hit.date or 'no date'}) {hit.doc_id} "
                   f"{hit.start}-{hit.end}{where}")
        click.echo("    " + " ".join(hit.text.split())[:300])


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@settings_options
@_handle_errors
def ask(question: str, as_json: bool, **opts: Any) -> None:
    """Answer QUESTION by quoting the documents."""
    from qa.answer import Assistant
    from qa.index import load_index

    settings = make_settings(**opts)
    answer = Assistant(load_index(settings.index_dir, settings)).ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(answer.text)
    heading = "Closest passages (they do not answer the question):" if answer.abstained else "Sources:"
    click.echo("\n" + heading)
    if answer.abstained:
        for hit in answer.passages[:3]:
            click.echo(f"  - {hit.title} ({hit.doc_id}): {' '.join(hit.text.split())[:200]}")
    for c in answer.citations:
        where = f", {c.location}" if c.location else ""
        click.echo(f"  [{c.number}] {c.title} ({c.date or 'no date'}) {c.source}{where}")


@main.command()
@settings_options
@_handle_errors
def chat(**opts: Any) -> None:
    """Hold a conversation with the documents in the terminal; follow-up questions are read in context.

    /new starts a new conversation, /sources shows the last answer's sources, Ctrl-D leaves. With a
    pipe on stdin, each line is a question and each answer is printed followed by a blank line.
    """
    import sys

    from qa.answer import Assistant
    from qa.chat import HELP, run_chat, terminal_reader
    from qa.conversation import Conversation
    from qa.index import load_index

    settings = make_settings(**opts)
    conversation = Conversation(Assistant(load_index(settings.index_dir, settings)))
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(HELP + "\n")
    run_chat(conversation, terminal_reader(interactive, sys.stdin), sys.stdout, sys.stderr)


@main.command()
@_source_arg
@click.option("--host", default="127.0.0.1", show_default=True, envvar="QA_HOST", help="Address to listen on. [env QA_HOST]")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on. [env QA_PORT, else GRADIO_SERVER_PORT; default 7860]")
@click.option("--auth", "auth", multiple=True, metavar="USER:PASS",
              help="Sign-in for the page, the HTTP API and MCP (HTTP Basic); repeat for several users. "
                   "[env QA_AUTH: USER:PASS, several separated by commas]")
@click.option("--auth-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of users, one USER:PASS a line. [env QA_AUTH_FILE]")
@click.option("--no-auth", is_flag=True, default=None,
              help="Serve without sign-in on an address other than loopback, on purpose. [env QA_NO_AUTH]")
@click.option("--read-only/--writable", "read_only", default=None,
              help="Turn off adding and removing documents on the page, the HTTP API and MCP. [env QA_READ_ONLY; "
                   "default writable]")
@settings_options
@_handle_errors
def serve(source: Path | None, host: str, port: int | None, auth: tuple[str, ...], auth_file: Path | None,
          **opts: Any) -> None:
    """Serve the web chat, the HTTP API (/api, docs at /api/docs) and MCP (/mcp) on one port, building or
    updating the index from SOURCE first if needed. Beyond loopback, sign-in (--auth) is required unless
    --no-auth is given."""
    from qa.webapp import env_port
    from qa.webapp import serve as serve_app

    if any("," in entry for entry in auth):
        raise click.BadParameter("a comma cannot be given in --auth; put such a user in --auth-file",
                                 param_hint="--auth")
    settings = make_settings(auth=",".join(auth) or None, auth_file=str(auth_file) if auth_file else None, **opts)
    serve_app(settings.replace(source_dir=source), host=host, port=port or env_port())


@main.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--retrieval", type=click.Choice(["hybrid", "dense", "bm25"]),
              help="Rank by both retrievers fused, or by one alone. [env QA_RETRIEVAL; default hybrid]")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions (the corpus stays whole); "
                                                           "for conversations, the first N dialogues.")
@click.option("--split", default="test", show_default=True,
              help="BEIR folders: the relevance judgements to use, qrels/SPLIT.tsv (choose settings on dev, "
                   "report test).")
@click.option("--history", type=click.Choice(["on", "off", "naive"]),
              help="Conversations only: follow-ups read in context (on, the default), each question alone (off), or "
                   "the previous 3 questions prepended (naive).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@settings_options
@_handle_errors
def eval_command(dataset: Path, retrieval: str | None, limit: int | None, split: str, history: str | None,
                 as_json: bool, index_dir: Path | None, **opts: Any) -> None:
    """Measure retrieval and answers on DATASET: a BEIR folder, a SQuAD v1.1 JSON file, or a conversation folder
    (docs.jsonl and turns.jsonl, doc2dial's form).

    Reports nDCG@10, Recall@1/5/20/100 and MRR@10 over whole documents, for SQuAD also how often the
    first quote and the whole answer contain a gold answer and how often it abstained, and the latency per
    question. Conversations are replayed turn by turn; first turns and follow-ups are reported apart (doc@1,
    doc@5, first / any quote in the gold span, abstained, latency), for all dialogues and for each half. With
    --index, the evaluation index is saved in that folder and reused by later runs on the same dataset with the
    same settings; without it, the index is built in memory (QA_INDEX_DIR is not used).
    """
    from qa.conversation_eval import evaluate_conversations, format_conversation_report, is_conversation_folder
    from qa.evaluation import evaluate, format_report

    settings = make_settings(retrieval=retrieval, index_dir=index_dir, **opts)
    if is_conversation_folder(dataset):
        if split != "test":
            raise click.UsageError("--split applies to a BEIR folder (qrels/SPLIT.tsv)")
        conv = evaluate_conversations(dataset, settings, limit, index_dir, history or "on", show_progress=True)
        click.echo(json.dumps(conv.to_dict(), ensure_ascii=False, indent=1) if as_json
                   else format_conversation_report(conv))
        return
    if history is not None:
        raise click.UsageError("--history applies to a conversation folder (docs.jsonl and turns.jsonl)")
    report = evaluate(dataset, settings, limit, index_dir, show_progress=True, split=split)
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if as_json else format_report(report))


# The `qa docs` commands live in their own module; it imports the helpers above, so it is loaded last.
from qa.cli_docs import docs  # noqa: E402

main.add_command(docs)
