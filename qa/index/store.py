"""The on-disk layout of an index folder, and its atomic replacement.

An index folder holds generations ``gen-<time>-<random>/`` and a one-line file ``CURRENT`` naming the live one.
A new generation is written completely, flushed, then ``CURRENT`` is swapped with ``os.replace`` (atomic on
POSIX). A build that fails or is killed leaves at most an unused generation folder, never a broken index.
"""
from __future__ import annotations

import contextlib
import fcntl
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
LOCK = ".lock"  # held while a generation is written and published (flock)
_PREFIX = "gen-"
_TMP_POINTER = f".{POINTER}."  # the new pointer is written here, then renamed over CURRENT


def current_generation(index_dir: Path) -> Path:
    """The folder of the live generation, or IndexNotFoundError saying how to build one."""
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.exists():
        raise IndexNotFoundError(
            f"no index at {str(index_dir)!r}: build one with `qa index build SOURCE --index {index_dir}`"
        )
    rebuild = f"rebuild it with `qa index build SOURCE --index {index_dir}`"
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"index at {str(index_dir)!r} is damaged ({POINTER} cannot be read: {exc}): "
                                f"{rebuild}") from None
    folder = index_dir / name
    if not _is_generation_name(name) or not (folder / MANIFEST).is_file():
        raise IndexCorruptError(
            f"index at {str(index_dir)!r} is damaged ({POINTER} points to {name!r}, which has no manifest): {rebuild}"
        )
    return folder


def _is_generation_name(name: str) -> bool:
    """A plain folder name made by ``new_generation``: nothing that could lead outside the index folder."""
    return name.startswith(_PREFIX) and name.isprintable() and not any(c in name for c in "/\\") and ".." not in name


@contextlib.contextmanager
def new_generation(index_dir: Path, grace_s: float = 0.0) -> Iterator[Path]:
    """Yield an empty folder to write a generation into; publish it only if the block succeeds.

    Generations it replaces are deleted once they have been replaced for ``grace_s`` seconds (see
    ``remove_stale_generations``).

    Killed at any point, this leaves either the old generation live (plus an unused folder and perhaps
    a temporary pointer, both removed by the next successful build) or the new one live.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _writer_lock(index_dir):
        folder = index_dir / f"{_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        folder.mkdir()
        try:
            yield folder
            _fsync_tree(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _publish(index_dir, folder)
        remove_stale_generations(index_dir, keep=folder.name, grace_s=grace_s)


@contextlib.contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder, across processes: otherwise each writer's clean-up would
    delete the generation another is writing. A second writer waits; the lock dies with its process."""
    with open(index_dir / LOCK, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another process is saving an index to %s: waiting for it to finish", index_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _publish(index_dir: Path, folder: Path) -> None:
    """Point ``CURRENT`` at ``folder`` with an atomic rename; on failure before the rename, undo everything."""
    tmp = index_dir / f"{_TMP_POINTER}{secrets.token_hex(4)}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(folder.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, index_dir / POINTER)
    except BaseException:
        # The rename either happened entirely or not at all: only delete the folder if CURRENT is not ours.
        tmp.unlink(missing_ok=True)
        if _pointer_name(index_dir) != folder.name:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    # From here on the new generation is live: a failure or an interrupt must not remove it.
    _fsync_dir(index_dir)


def _pointer_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / POINTER).read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def remove_stale_generations(index_dir: Path, keep: str, grace_s: float = 0.0) -> None:
    """Delete generation folders other than ``keep`` that were replaced over ``grace_s`` seconds ago, and temporary
    pointers (left by failed or killed builds).

    A generation counts as replaced when the next one was finished (its folder's last change). The grace is for
    readers on other machines of a network folder: there a file deleted by one client is gone for the others
    even while they have it open, so a replica must have moved to the new generation before the old one goes.
    """
    now = time.time()
    generations = sorted((p.stat().st_mtime, p.name, p) for p in Path(index_dir).iterdir()
                         if p.name.startswith(_PREFIX) and p.is_dir())
    for (_, name, path), (replaced_at, _, _) in zip(generations, generations[1:]):
        if name != keep and now - replaced_at >= grace_s:
            shutil.rmtree(path, ignore_errors=True)
    for path in Path(index_dir).iterdir():
        if path.name.startswith(_TMP_POINTER) and path.is_file():
            path.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    # ASCII escapes keep file names that are not valid UTF-8 (skipped, but recorded) round-tripping.
    path.write_text(json.dumps(data, ensure_ascii=True, indent=1), encoding="utf-8")


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
    """Flush every file and every folder's entries (bm25/ too) so the generation survives a power cut."""
    for path in sorted(folder.rglob("*"), reverse=True):  # deepest first: a folder after its contents
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
