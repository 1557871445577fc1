"""Adding uploaded files to a document folder: checks, safe names, atomic copies.

Each file is checked (type, size, count), given a safe name that never replaces another document and copied in
atomically; ``qa.library.manager.DocumentLibrary.add_files`` then updates the index. Every file gets an
``UploadResult``: one short sentence for the user, never a traceback.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ConfigError, DocumentError
from qa.ingest.documents import SUPPORTED_SUFFIXES, file_hash, list_files, load_file
from qa.settings import Settings

log = logging.getLogger(__name__)

MB = 1024 * 1024
ADDED, DUPLICATE, REJECTED = "added", "duplicate", "rejected"
MAX_NAME_BYTES = 200  # below the usual 255-byte limit, leaving room for " (12)"
# Characters Windows refuses in file names, and the backtick that would end a code span in the chat.
_UNSAFE_CHARS = re.compile(r'[<>:"|?*`]')

Upload = str | Path | tuple[str, str | Path]  # a file (its own name is used) or (name to give it, file)
Progress = Callable[[float | None, str], object]  # e.g. a gr.Progress: progress(fraction, description)


@dataclass(frozen=True)
class UploadResult:
    """What happened to one uploaded file."""

    name: str  # the name it was uploaded with, control characters removed
    status: str  # ADDED, DUPLICATE (the same content is already in the folder) or REJECTED
    message: str  # one short sentence for the user
    saved_as: str | None = None  # its path in the folder when added; the existing copy's when a duplicate

    @property
    def ok(self) -> bool:
        return self.status != REJECTED


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may hold: size of each file, number of files, file types (lower-case suffixes)."""

    max_bytes: int = 20 * MB
    max_files: int = 10
    suffixes: tuple[str, ...] = SUPPORTED_SUFFIXES

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_files < 1:
            raise ConfigError(f"upload limits must be positive, got {self.max_bytes} bytes and {self.max_files} files")
        unknown = [s for s in self.suffixes if s not in SUPPORTED_SUFFIXES]
        if unknown or not self.suffixes:
            raise ConfigError(f"upload types must be some of {', '.join(SUPPORTED_SUFFIXES)}, got {self.suffixes}")

    @classmethod
    def from_settings(cls, settings: Settings, suffixes: Iterable[str] | None = None) -> UploadLimits:
        chosen = SUPPORTED_SUFFIXES if suffixes is None else suffixes
        normalised = tuple(dict.fromkeys(s.lower() if s.startswith(".") else f".{s.lower()}" for s in chosen))
        return cls(int(settings.upload_max_mb * MB), settings.upload_max_files, normalised)


def sanitise_name(name: str) -> str:
    """A safe file name from an uploaded one: its last path component, without control or unsafe characters.

    Raises DocumentError for names that are empty, only dots, or hidden (starting with a dot), which the
    folder loader would ignore.
    """
    name = unicodedata.normalize("NFC", str(name))
    # Category C: control and format characters (e.g. a right-to-left override that disguises a suffix).
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_UNSAFE_CHARS.sub("_", name).split()).rstrip(". ")
    if not name.strip("."):
        raise DocumentError("the file has no usable name")
    if name.startswith("."):
        raise DocumentError(f"hidden file names (starting with '.') are not accepted: {name!r}")
    stem, suffix = _split(name)
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip() + suffix


def unique_name(folder: Path, name: str) -> str:
    """``name``, or ``name (2).ext``, ``name (3).ext``... : the first that is free in ``folder``."""
    stem, suffix = _split(name)
    candidate, n = name, 1
    while os.path.lexists(folder / candidate):
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    return candidate


def _split(name: str) -> tuple[str, str]:
    suffix = Path(name).suffix
    return name[:len(name) - len(suffix)], suffix


def _shown(name: str) -> str:
    return "".join(ch for ch in str(name) if not unicodedata.category(ch).startswith("C")) or "(no name)"


def save_uploads(files: Iterable[Upload], folder: str | Path, limits: UploadLimits,
                 progress: Progress | None = None) -> list[UploadResult]:
    """Check each file and copy the good ones into ``folder``; nothing is indexed here."""
    folder = Path(folder)
    items = [(str(f[0]), Path(f[1])) if isinstance(f, tuple) else (Path(f).name, Path(f)) for f in files]
    known = {file_hash(p): p.relative_to(folder).as_posix() for p in list_files(folder)}  # content -> name
    results = []
    for i, (name, path) in enumerate(items):
        if progress:
            progress(i / max(len(items), 1), f"Checking {_shown(name)}")
        if i >= limits.max_files:
            results.append(rejected(_shown(name), f"at most {limits.max_files} files per upload"))
            continue
        results.append(_save_one(name, path, folder, limits, known))
        log.info("upload %s: %s (%s)", results[-1].name, results[-1].status, results[-1].message)
    return results


def _save_one(name: str, path: Path, folder: Path, limits: UploadLimits, known: dict[str, str]) -> UploadResult:
    shown = _shown(name)
    try:
        safe = sanitise_name(name)
    except DocumentError as exc:
        return rejected(shown, str(exc))
    try:
        _check(safe, path, limits)
        with tempfile.TemporaryDirectory(prefix=".upload-", dir=folder) as staging:
            staged = Path(staging) / safe
            _copy(path, staged, limits.max_bytes)
            digest = file_hash(staged)
            if digest in known:
                return UploadResult(shown, DUPLICATE, f"already present as {known[digest]}; not added again",
                                    saved_as=known[digest])
            load_file(staged)  # refuses empty, binary or unreadable files before they reach the folder
            final = unique_name(folder, safe)
            os.replace(staged, folder / final)
    except DocumentError as exc:
        return rejected(shown, str(exc).removeprefix(f"{safe}: "))
    except OSError as exc:
        return rejected(shown, f"could not be saved ({exc.strerror or exc})")
    known[digest] = final
    if final != safe:
        message = f"added as {final}: a different {safe} is already there"
    else:
        message = "added" if final == shown else f"added as {final}"
    return UploadResult(shown, ADDED, message, saved_as=final)


def rejected(shown: str, reason: str) -> UploadResult:
    return UploadResult(shown, REJECTED, f"not added: {reason}")


def _check(safe: str, path: Path, limits: UploadLimits) -> None:
    suffix = Path(safe).suffix.lower()
    if suffix not in limits.suffixes:
        raise DocumentError(f"unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(limits.suffixes)}")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DocumentError(f"too large ({size / MB:.1f} MB); the limit is {limits.max_bytes / MB:g} MB per file")


def _copy(source: Path, dest: Path, max_bytes: int) -> None:
    """Copy and flush to disk, so the rename that publishes the file never exposes a partial one."""
    with open(source, "rb") as src, open(dest, "xb") as out:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
        if out.tell() > max_bytes:  # the source grew after it was checked
            raise DocumentError(f"too large; the limit is {max_bytes / MB:g} MB per file")
