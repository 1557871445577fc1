"""The on-disk layout of an index folder, and its atomic replacement.

An index folder holds generations ``gen-<time>-<random>/`` and a one-line file ``CURRENT`` naming the live one.
A new generation is written completely, flushed, then ``CURRENT`` is swapped with ``os.replace`` (atomic on
POSIX). A build that fails or is killed leaves at most an unused generation folder, never a broken index.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.errors import IndexCorruptError, IndexNotFoundError

log = logging.getLogger(__name__)

POINTER = "CURRENT"
MANIFEST = "manifest.json"
_PREFIX = "gen-"


def current_generation(index_dir: Path) -> Path:
    """The folder of the live generation, or IndexNotFoundError saying how to build one."""
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.exists():
        raise IndexNotFoundError(
            f"no index at {str(index_dir)!r}: build one with `qa index build SOURCE --index {index_dir}`"
        )
    name = pointer.read_text(encoding="utf-8").strip()
    folder = index_dir / name
    if not name.startswith(_PREFIX) or not (folder / MANIFEST).is_file():
        raise IndexCorruptError(
            f"index at {str(index_dir)!r} is damaged ({POINTER} points to {name!r}, which has no manifest): "
            f"rebuild it with `qa index build SOURCE --index {index_dir}`"
        )
    return folder


@contextlib.contextmanager
def new_generation(index_dir: Path) -> Iterator[Path]:
    """Yield an empty folder to write a generation into; publish it only if the block succeeds."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    folder = index_dir / f"{_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir()
    try:
        yield folder
        _fsync_tree(folder)
        tmp = index_dir / f".{POINTER}.{secrets.token_hex(4)}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(folder.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, index_dir / POINTER)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    remove_stale_generations(index_dir, keep=folder.name)


def remove_stale_generations(index_dir: Path, keep: str) -> None:
    """Delete generation folders other than ``keep`` (left by earlier builds or killed ones)."""
    for path in Path(index_dir).glob(f"{_PREFIX}*"):
        if path.is_dir() and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read {path.name} in {str(path.parent)!r} ({exc}): rebuild the index "
                                "with `qa index build`") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"cannot read {path.name} in {str(path.parent)!r} ({exc}): rebuild the index "
                                "with `qa index build`") from None


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
