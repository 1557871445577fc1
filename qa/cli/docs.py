"""``qa docs``: list, add and remove the documents of the library (a thin shell over ``qa.library.manager``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from qa.cli.options import handle_errors, make_settings, settings_options
from qa.errors import ConfigError
from qa.library.manager import INDEXED, DocumentInfo, DocumentLibrary, human_size
from qa.library.uploads import REJECTED

_source_option = click.option(
    "--source", "source_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Document folder. [default: the folder the index was built from, else QA_SOURCE_DIR or seeds]")


def _open(source_dir: Path | None, opts: dict[str, Any], write: bool = False) -> DocumentLibrary:
    """The library; for ``write``, refuse a read-only setting, which turns off adding and removing everywhere."""
    settings = make_settings(**opts)
    if write and settings.read_only:
        raise ConfigError("documents cannot be added or removed: QA_READ_ONLY is set (the library is read-only); "
                          "unset it, or run with QA_READ_ONLY=0, to change the library")
    return DocumentLibrary.open(settings, source_dir)


def _summary(library: DocumentLibrary) -> str:
    index = library.assistant.index
    return f"Index: {len(index.documents)} documents, {len(index.chunks)} passages."


def _line(info: DocumentInfo) -> str:
    added = (info.added or "?")[:16].replace("T", " ")
    head = f"{info.name}  {info.title!r} {info.date or 'no date'}  {human_size(info.size_bytes)}  " \
           f"{info.passages} passage{'s' * (info.passages != 1)}  added {added}"
    return head if info.status == INDEXED else f"{head}\n    {info.status}: {info.message}"


@click.group()
def docs() -> None:
    """List, add and remove the documents of the index."""


@docs.command("list")
@_source_option
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
@settings_options
@handle_errors
def docs_list(source_dir: Path | None, as_json: bool, **opts: Any) -> None:
    """List every document: title, date, file size, passages, when it was added, and any problem with it."""
    library = _open(source_dir, opts)
    infos = library.list_documents()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], ensure_ascii=False, indent=1))
        return
    for info in infos:
        click.echo(_line(info))
    click.echo(_summary(library))


@docs.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_source_option
@settings_options
@handle_errors
def docs_add(files: tuple[Path, ...], source_dir: Path | None, **opts: Any) -> None:
    """Copy FILES into the document folder and index them, with the checks and messages of web uploads
    (at most QA_UPLOAD_MAX_FILES files of QA_UPLOAD_MAX_MB each)."""
    library = _open(source_dir, opts, write=True)
    results = library.add_files(list(files), progress=_progress)
    for result in results:
        click.echo(f"{result.name}: {result.message}")
    click.echo(_summary(library))
    if any(r.status == REJECTED for r in results):
        click.get_current_context().exit(1)


@docs.command("remove")
@click.argument("names", nargs=-1, required=True)
@click.option("--delete", is_flag=True, help="Delete the files instead of moving them to the folder's .trash/.")
@_source_option
@settings_options
@handle_errors
def docs_remove(names: tuple[str, ...], delete: bool, source_dir: Path | None, **opts: Any) -> None:
    """Take NAMES (as `qa docs list` shows them) out of the index; their files go to .trash/ in the folder."""
    library = _open(source_dir, opts, write=True)
    results = library.remove(list(names), delete=delete, progress=_progress)
    for result in results:
        click.echo(f"{result.name}: {result.message}")
    click.echo(_summary(library))
    if not all(r.removed for r in results):
        click.get_current_context().exit(1)


def _progress(fraction: float | None, text: str) -> None:
    if fraction is None:  # the long step (indexing); tqdm shows the embedding's own bar
        click.echo(f"{text}…", err=True)
