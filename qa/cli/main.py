"""The ``qa`` command: a thin shell over the library. Domain errors become one-line messages here."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from qa.cli.docs import docs
from qa.cli.options import F, configure_logging, handle_errors, make_settings, settings_options

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
@handle_errors
def index_build(source: Path | None, ray_address: str | None, ray_workers: int | None, **opts: Any) -> None:
    """Index every document in SOURCE (default: seeds/ or QA_SOURCE_DIR) from scratch."""
    from qa.index.build import build_index

    settings = make_settings(**opts)
    idx = build_index(source or settings.source_dir, settings.index_dir, settings, show_progress=True,
                      ray_address=ray_address, ray_workers=ray_workers)
    _print_report("Indexed", idx)


@index.command("update")
@_source_arg
@ray_options
@settings_options
@handle_errors
def index_update(source: Path | None, ray_address: str | None, ray_workers: int | None, **opts: Any) -> None:
    """Re-embed only new or changed documents in SOURCE and drop removed ones."""
    from qa.index.build import update_index

    settings = make_settings(**opts)
    idx = update_index(source or settings.source_dir, settings.index_dir, settings, show_progress=True,
                       ray_address=ray_address, ray_workers=ray_workers)
    _print_report("Updated", idx)


@index.command("info")
@_source_arg
@settings_options
@handle_errors
def index_info(source: Path | None, **opts: Any) -> None:
    """Describe the index and list documents changed since it was built."""
    from qa.index.index import load_index

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
@handle_errors
def search(text: str, as_json: bool, **opts: Any) -> None:
    """Show the passages that best match TEXT."""
    from qa.index.index import load_index

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
@handle_errors
def ask(question: str, as_json: bool, **opts: Any) -> None:
    """Answer QUESTION by quoting the documents."""
    from qa.answer.assistant import Assistant
    from qa.index.index import load_index

    settings = make_settings(**opts)
    answer = Assistant(load_index(settings.index_dir, settings)).ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(answer.text)
    heading = "Closest passages (they do not answer the question):" if answer.searched_in_vain else \
        "Closest passages:" if answer.abstained else "Sources:"
    click.echo("\n" + heading)
    if answer.abstained:
        for hit in answer.passages[:3]:
            click.echo(f"  - {hit.title} ({hit.doc_id}): {' '.join(hit.text.split())[:200]}")
    for c in answer.citations:
        where = f", {c.location}" if c.location else ""
        click.echo(f"  [{c.number}] {c.title} ({c.date or 'no date'}) {c.source}{where}")


@main.command()
@settings_options
@handle_errors
def chat(**opts: Any) -> None:
    """Hold a conversation with the documents in the terminal; follow-up questions are read in context.

    /new starts a new conversation, /sources shows the last answer's sources, Ctrl-D leaves. With a
    pipe on stdin, each line is a question and each answer is printed followed by a blank line.
    """
    import sys

    from qa.answer.assistant import Assistant
    from qa.answer.conversation import Conversation
    from qa.cli.chat import HELP, run_chat, terminal_reader
    from qa.index.index import load_index

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
@handle_errors
def serve(source: Path | None, host: str, port: int | None, auth: tuple[str, ...], auth_file: Path | None,
          **opts: Any) -> None:
    """Serve the web chat, the HTTP API (/api, docs at /api/docs) and MCP (/mcp) on one port, building or
    updating the index from SOURCE first if needed. Beyond loopback, sign-in (--auth) is required unless
    --no-auth is given."""
    from qa.serve.server import env_port
    from qa.serve.server import serve as serve_app

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
@handle_errors
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
    from qa.eval.conversations import evaluate_conversations, format_conversation_report, is_conversation_folder
    from qa.eval.evaluation import evaluate, format_report

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


main.add_command(docs)
