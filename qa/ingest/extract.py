"""Helpers shared by the loaders of structured formats: text assembled from blocks with the slide and
section ranges kept, a size check on zipped formats, and one error message for a file a library cannot read."""
from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.errors import DocumentError

# Word, PowerPoint, OpenDocument and EPUB files are zip archives that their libraries unpack in memory.
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024


class TextBlocks:
    """A document's text built from blocks (paragraphs, table rows, headings) joined by blank lines.

    ``start("slides", n)`` or ``start("sections", heading)`` begins a slide or a section at the next block;
    it ends where the next one of its kind begins, or at the end of the text. A slide or section without
    text gets no range. ``finish()`` returns the text and the ranges as [start, end, number or heading].
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.ranges: dict[str, list[list[Any]]] = {}
        self._open: dict[str, tuple[int, Any]] = {}  # kind -> (offset of its first block, its label)

    def add(self, block: str) -> None:
        block = block.strip()
        if not block:
            return
        if self.parts:
            self.length += 2
        self.parts.append(block)
        self.length += len(block)

    def start(self, kind: str, label: Any) -> None:
        self._close(kind)
        self._open[kind] = (self.length + 2 if self.parts else 0, label)

    def _close(self, kind: str) -> None:
        if kind in self._open:
            begin, label = self._open.pop(kind)
            if self.length > begin:
                self.ranges.setdefault(kind, []).append([begin, self.length, label])

    def finish(self) -> tuple[str, dict[str, list[list[Any]]]]:
        for kind in list(self._open):
            self._close(kind)
        return "\n\n".join(self.parts), self.ranges


def check_zip(path: Path, data: bytes, kind: str) -> None:
    """Refuse a file that is not a zip archive, or one that would unpack to more than MAX_UNZIPPED_BYTES."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise DocumentError(f"{path.name}: not a readable {kind} (it is not a zip archive: {exc}); "
                            "save it again from its application") from None
    if unpacked > MAX_UNZIPPED_BYTES:
        raise DocumentError(f"{path.name}: unpacks to {unpacked // 2**20} MB, more than the "
                            f"{MAX_UNZIPPED_BYTES // 2**20} MB a {kind} may hold; split it or remove its media")


@contextlib.contextmanager
def reading(path: Path, kind: str) -> Iterator[None]:
    """Turn whatever a format library raises on a damaged file into a DocumentError naming the file."""
    try:
        yield
    except DocumentError:
        raise
    except Exception as exc:  # libraries raise KeyError, ValueError, lxml errors, AttributeError... on bad files
        raise DocumentError(f"{path.name}: not a readable {kind} ({type(exc).__name__}: {exc})") from None
