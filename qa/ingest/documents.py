"""Documents, where an offset is in one (page, slide, section), and loading them from files.

Plain text and PDF are read here; HTML and EPUB in ``qa.ingest.webpages``; Word, PowerPoint and OpenDocument text in
``qa.ingest.office``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import DocumentError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".pptx", ".odt", ".epub")

# The seed articles start with "date 2017-08-17 Title of the article".
_HEADER = re.compile(r"\A\s*date[ \t]+(\d{4}-\d{2}-\d{2})(?:[ \t]+([^\n]*\S))?[ \t]*(?:\n|\Z)")
SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: not text, cannot be encoded as UTF-8


@dataclass
class Document:
    """A text with an id, a title and free metadata (date, source, pages...)."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise DocumentError(f"a document id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str):
            raise DocumentError(f"document {self.id!r}: text must be a string, got {type(self.text).__name__}")
        # An unpaired surrogate cannot be encoded as UTF-8: it would break sentence splitting and saving.
        for name, value in (("id", self.id), ("title", self.title), ("text", self.text)):
            bad = SURROGATE.search(value) if isinstance(value, str) else None
            if bad:
                raise DocumentError(f"document {self.id!r}: the {name} holds an unpaired surrogate {bad.group()!r} at "
                                    f"offset {bad.start()}, which is not valid Unicode; decode the text with "
                                    "errors='replace'")

    @property
    def content_hash(self) -> str:
        """Hash of what gets indexed; a file's hash is of its bytes (set in metadata by the loader)."""
        stored = self.metadata.get("content_hash")
        if stored:
            return str(stored)
        return hashlib.sha256(f"{self.title}\x00{self.text}".encode("utf-8", "surrogatepass")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(id=data["id"], text=data["text"], title=data.get("title", ""), metadata=data.get("metadata", {}))


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Location:
    """Where an offset lies in its document: a PDF page, a slide, or a section (a heading or an EPUB chapter).

    ``str()`` gives what citations show: "page 3", "slide 3" or "section: Heading".
    """

    kind: str  # "page", "slide" or "section"
    number: int  # the page or slide number (1-based); for a section, its position among the sections
    heading: str = ""

    def __str__(self) -> str:
        return f"section: {self.heading}" if self.kind == "section" else f"{self.kind} {self.number}"


def locate(doc: Document, offset: int) -> Location | None:
    """The page, slide or section of ``doc`` holding ``offset``, from the ranges its loader kept in metadata.

    ``pages`` (PDF) is a list of [start, end), page n at position n - 1; ``slides`` (PowerPoint) holds
    [start, end, slide number] (an empty slide has no range); ``sections`` holds [start, end, heading].
    """
    for number, (start, end) in enumerate(doc.metadata.get("pages") or [], start=1):
        if start <= offset <= end:
            return Location("page", number)
    for start, end, number in doc.metadata.get("slides") or []:
        if start <= offset <= end:
            return Location("slide", int(number))
    for number, (start, end, heading) in enumerate(doc.metadata.get("sections") or [], start=1):
        if start <= offset <= end:
            return Location("section", number, str(heading))
    return None


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def list_files(folder: Path) -> list[Path]:
    """All regular files below ``folder``, sorted, hidden ones left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DocumentError(f"document folder {str(folder)!r} does not exist or is not a folder")
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def load_folder(folder: Path) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file below ``folder``; report the others by name instead of failing."""
    folder = Path(folder)
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for path in list_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            if SURROGATE.search(rel):  # bytes that are not UTF-8 in the name, e.g. a Latin-1 "café.txt"
                raise DocumentError(f"{os.fsencode(rel)!r}: the file name is not valid UTF-8; rename it")
            docs.append(load_file(path, doc_id=rel))
        except (DocumentError, OSError) as exc:
            reason = str(exc) if isinstance(exc, DocumentError) else f"cannot be read ({exc.strerror or exc})"
            log.warning("skipped %s: %s", rel, reason)
            skipped.append(Skipped(rel, reason))
    return docs, skipped


def load_file(path: Path, doc_id: str | None = None) -> Document:
    """Read one file into a Document; raise DocumentError saying why it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
                            f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    data = path.read_bytes()
    meta: dict[str, Any] = {"source": str(path), "content_hash": hashlib.sha256(data).hexdigest()}
    text, title, found = _read(path, suffix, data)
    meta.update({key: value for key, value in found.items() if value})  # date, pages, slides, sections
    if not text.strip():
        raise DocumentError(f"{path.name}: the file holds no text")
    return Document(id=doc_id or path.name, text=text, title=title or path.stem, metadata=meta)


def _read(path: Path, suffix: str, data: bytes) -> tuple[str, str, dict[str, Any]]:
    """Text, title and metadata (date, page/slide/section ranges) of a file of a supported type."""
    from qa.ingest import office, webpages

    if suffix == ".pdf":
        text, title, pages = _read_pdf(path, data)
        return text, title, {"pages": pages}
    if suffix in (".html", ".htm"):
        return webpages.read_html(path, _decode(path, data))
    if suffix == ".epub":
        return webpages.read_epub(path, data)
    if suffix in office.READERS:
        return office.READERS[suffix](path, data)
    text, title, date = _read_text(_decode(path, data))
    return text, title, {"date": date}


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{path.name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path.name}: is not valid UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _read_text(raw: str) -> tuple[str, str, str]:
    """Split off a ``date YYYY-MM-DD Title`` header line if there is one."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    match = _HEADER.match(text)
    if not match:
        return text, "", ""
    return text[match.end():].lstrip("\n"), (match.group(2) or "").strip(), match.group(1)


def _read_pdf(path: Path, data: bytes) -> tuple[str, str, list[list[int]]]:
    """Text of every page, joined by blank lines; ``pages`` holds each page's [start, end) offsets."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(f"{path.name}: the PDF is encrypted; save an unencrypted copy to index it")
        texts = [(page.extract_text() or "").strip() for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "")
    except DocumentError:
        raise
    except PdfReadError as exc:
        raise DocumentError(f"{path.name}: not a readable PDF ({exc})") from None
    except Exception as exc:  # pypdf on a damaged file: NotImplementedError, IndexError, RecursionError...
        raise DocumentError(f"{path.name}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    parts, pages, pos = [], [], 0
    for page_text in texts:
        pages.append([pos, pos + len(page_text)])
        parts.append(page_text)
        pos += len(page_text) + 2
    return "\n\n".join(parts), title, pages


def iter_documents(items: Iterable[Document | dict[str, Any]]) -> Iterator[Document]:
    """Accept Documents or plain dicts, checking ids are unique."""
    seen: set[str] = set()
    for item in items:
        doc = item if isinstance(item, Document) else Document.from_dict(item)
        if doc.id in seen:
            raise DocumentError(f"duplicate document id {doc.id!r}: ids must be unique")
        seen.add(doc.id)
        yield doc


def page_of(doc: Document, offset: int) -> int | None:
    """1-based PDF page holding ``offset``, if the document has pages."""
    for number, (start, end) in enumerate(doc.metadata.get("pages") or [], start=1):
        if start <= offset <= end:
            return number
    return None
