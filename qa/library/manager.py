"""The document library: a document folder, its index and the Assistant over it, kept in step.

``DocumentLibrary`` lists what is indexed (``list_documents``), adds files (``add_files``: checked and copied by
``qa.library.uploads``) and removes them (``remove``); both update the index incrementally and then swap in a new
Assistant, so a question already running finishes on the index it started with. A removed file is moved to
``TRASH`` inside the document folder (a hidden folder, which indexing skips) unless the caller asks to delete it.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from qa.answer.assistant import Assistant
from qa.errors import ConfigError, DocumentError, QAError
from qa.index.build import update_index
from qa.index.index import Index, load_index
from qa.ingest.documents import list_files
from qa.library.live import LiveAssistant
from qa.library.uploads import ADDED, Progress, Upload, UploadLimits, UploadResult, rejected, save_uploads, unique_name
from qa.settings import Settings

log = logging.getLogger(__name__)

TRASH = ".trash"  # inside the document folder; hidden, so never indexed
INDEXED, MISSING, UNREADABLE, NOT_INDEXED = "indexed", "missing", "unreadable", "not indexed"


@dataclass(frozen=True)
class DocumentInfo:
    """One document of the library: what the index holds about it, and the state of its file.

    ``added`` is when the document first entered the index (recorded in the index manifest); for a file the
    index does not hold, and for indexes built before that was recorded, it is the file's modification time.
    """

    name: str  # path relative to the document folder, posix: the name ``remove`` takes
    doc_id: str
    title: str
    date: str
    size_bytes: int | None  # None when the file is missing or cannot be read
    passages: int  # chunks in the index
    added: str | None  # ISO-8601, UTC
    status: str  # INDEXED, MISSING (the file is gone), UNREADABLE (skipped when indexing), NOT_INDEXED (new)
    message: str = ""  # why, for a status other than INDEXED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RemoveResult:
    """What happened to one document asked to be removed."""

    name: str
    removed: bool
    message: str  # where the file went ("moved to .trash/…" or "deleted"), or why it was not removed
    trash_path: str | None = None  # relative to the document folder, when moved to the trash

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DocumentLibrary(LiveAssistant):
    """A document folder, its index and the Assistant over it; adding or removing documents updates all three.

    Questions use ``library.assistant`` (read once per question); a change builds the new index fully, then
    swaps in a new Assistant. Changes are serialised by a lock. An ``IndexFollower`` may also swap in
    generations that other processes publish in the index folder.
    """

    def __init__(self, assistant: Assistant, source_dir: str | Path, index_dir: str | Path | None = None,
                 limits: UploadLimits | None = None) -> None:
        index_dir = index_dir or assistant.index.path
        if index_dir is None:
            raise ConfigError("a document library needs an index saved in a folder: build it with an index_dir")
        self.source_dir = Path(source_dir)
        self.index_dir = Path(index_dir)
        self.settings = assistant.index.settings
        self.limits = limits or UploadLimits.from_settings(self.settings)
        super().__init__(assistant)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, source_dir: str | Path | None = None) -> DocumentLibrary:
        """The library over the index in ``settings.index_dir``; its folder is ``source_dir``, else the one the
        index was built from, else ``settings.source_dir``."""
        index = load_index(settings.index_dir, settings)
        source = Path(source_dir or index.manifest.get("source") or settings.source_dir)
        if not source.is_dir():
            raise DocumentError(f"document folder {str(source)!r} does not exist: give the folder the index was built "
                                "from (--source in the CLI)")
        return cls(Assistant(index), source, settings.index_dir)

    @property
    def writing(self) -> bool:
        """Whether files are being added or removed right now (a server stopping waits for them: qa.serve.shutdown)."""
        return self._lock.locked()

    @property
    def trash_dir(self) -> Path:
        return self.source_dir / TRASH

    def add_files(self, files: Iterable[Upload], progress: Progress | None = None) -> list[UploadResult]:
        """Save the acceptable files into the folder, index them, and answer from them from now on."""
        with self._lock:
            results = save_uploads(files, self.source_dir, self.limits, progress)
            if any(r.status == ADDED for r in results):
                if progress:
                    progress(None, "Indexing")
                try:
                    self._reindex(show_progress=progress is not None)
                except (QAError, OSError) as exc:
                    log.exception("indexing added files failed; removing them")
                    results = [self._undo_add(r, exc) if r.status == ADDED else r for r in results]
        return results

    def _undo_add(self, result: UploadResult, exc: Exception) -> UploadResult:
        (self.source_dir / str(result.saved_as)).unlink(missing_ok=True)
        return rejected(result.name, f"could not be indexed ({exc})")

    def _reindex(self, show_progress: bool) -> Index:
        index = update_index(self.source_dir, self.index_dir, self.settings, show_progress=show_progress)
        self.use_index(index)
        return index

    def list_documents(self) -> list[DocumentInfo]:
        """Every document the index holds or the folder has, sorted by name; never fails on a bad file."""
        index = self._assistant.index
        files = self._files()
        passages = Counter(chunk.doc_id for chunk in index.chunks)
        added = index.manifest.get("added") if isinstance(index.manifest.get("added"), dict) else {}
        infos = {doc_id: self._indexed_info(doc_id, index, files, passages[doc_id], added.get(doc_id))
                 for doc_id in index.documents}
        reasons = index.manifest.get("skipped_reasons") or {}
        for name in sorted(set(files) - set(infos)):
            if name in (index.manifest.get("skipped") or {}):
                why = reasons.get(name) or "it could not be read when the index was built"
                infos[name] = self._file_info(name, files[name], UNREADABLE, f"not indexed: {why}")
            else:
                infos[name] = self._file_info(name, files[name], NOT_INDEXED, "added to the folder after the index "
                                              "was last updated: `qa index update` indexes it")
        return [infos[name] for name in sorted(infos)]

    def _files(self) -> dict[str, Path]:
        try:
            return {p.relative_to(self.source_dir).as_posix(): p for p in list_files(self.source_dir)}
        except (DocumentError, OSError) as exc:
            log.warning("cannot list the document folder: %s", exc)
            return {}

    def _indexed_info(self, doc_id: str, index: Index, files: dict[str, Path], passages: int,
                      added: Any) -> DocumentInfo:
        doc = index.documents[doc_id]
        path = files.get(doc_id)
        size, mtime = _stat(path) if path else (None, None)
        if path is None:
            status, message = MISSING, "the file is no longer in the document folder; removing it updates the index"
        elif size is None:
            status, message = UNREADABLE, "the file cannot be read any more"
        else:
            status, message = INDEXED, ""
        return DocumentInfo(doc_id, doc_id, doc.title, str(doc.metadata.get("date", "")), size, passages,
                            added if isinstance(added, str) else mtime, status, message)

    def _file_info(self, name: str, path: Path, status: str, message: str) -> DocumentInfo:
        size, mtime = _stat(path)
        return DocumentInfo(name, name, Path(name).stem, "", size, 0, mtime, status, message)

    def remove(self, names: list[str], delete: bool = False, progress: Progress | None = None) -> list[RemoveResult]:
        """Take documents out of the folder and the index; each file goes to the trash unless ``delete``.

        Files are moved to the trash first, the index is updated, and only then are they deleted (``delete``):
        if the update fails, every file is put back and nothing is removed.
        """
        names = [names] if isinstance(names, str) else list(names)  # one name given alone is one name, not letters
        with self._lock:
            known = set(self._assistant.index.documents) | set(self._files())
            results: list[RemoveResult] = []
            moved: dict[str, Path] = {}  # name -> its place in the trash
            for i, name in enumerate(dict.fromkeys(names)):
                if progress:
                    progress(i / max(len(names), 1), f"Removing {name}")
                results.append(self._take_out(name, known, moved))
            if any(r.removed for r in results):
                results = self._commit_removal(results, moved, delete, progress)
        return results

    def _take_out(self, name: str, known: set[str], moved: dict[str, Path]) -> RemoveResult:
        """Move one document's file to the trash (nothing is indexed yet)."""
        if name not in known or not _inside_folder(name):
            return RemoveResult(name, False, f"no document named {name!r}")
        path = self.source_dir / name
        if not os.path.lexists(path):
            return RemoveResult(name, True, "the file was already gone; taken out of the index")
        target_dir = (self.trash_dir / name).parent
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / unique_name(target_dir, path.name)
            os.replace(path, target)
        except OSError as exc:
            return RemoveResult(name, False, f"not removed: the file could not be moved ({exc.strerror or exc})")
        moved[name] = target
        trash = target.relative_to(self.source_dir).as_posix()
        return RemoveResult(name, True, f"moved to {trash}", trash_path=trash)

    def _commit_removal(self, results: list[RemoveResult], moved: dict[str, Path], delete: bool,
                        progress: Progress | None) -> list[RemoveResult]:
        if progress:
            progress(None, "Updating the index")
        try:
            self._reindex(show_progress=progress is not None)
        except (QAError, OSError) as exc:
            log.exception("updating the index after removing documents failed; putting the files back")
            for name, target in moved.items():
                os.replace(target, self.source_dir / name)
            return [RemoveResult(r.name, False, f"not removed: the index could not be updated ({exc})")
                    if r.removed else r for r in results]
        if not delete:
            return results
        for name, target in moved.items():
            target.unlink(missing_ok=True)
        return [RemoveResult(r.name, True, "deleted") if r.name in moved else r for r in results]


def human_size(n: int | None) -> str:
    """A file size for people: 812 B, 2.2 kB, 3.4 MB; "size unknown" for None."""
    if n is None:
        return "size unknown"
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _inside_folder(name: str) -> bool:
    """Whether ``name`` is a plain relative path below the folder: no '..', not absolute, not hidden (the trash)."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and "\\" not in name and \
        not any(part in ("", ".", "..") or part.startswith(".") for part in parts)


def _stat(path: Path) -> tuple[int | None, str | None]:
    """Size in bytes and modification time (ISO-8601, UTC) of a file, or Nones when it cannot be read."""
    try:
        st = path.stat()
        if not os.access(path, os.R_OK):
            return None, _iso(st.st_mtime)
        return st.st_size, _iso(st.st_mtime)
    except OSError:
        return None, None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
