"""Shared test data and small builders (imported by the test modules; fixtures live in conftest.py)."""
from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "seeds"
SEED_FILE = SEEDS_DIR / "000_ffd60b6d5eaa8da2.txt"
SEED_ID = SEED_FILE.name  # documents loaded from a folder are named by their path relative to it
SEED_TITLE = "China calls for dialogue on Kosovo issue"
SEED_DATE = "2017-08-17"
SEED_QUESTION = "What is China's position on Kosovo?"
OFF_TOPIC_QUESTION = "Who won the 2018 World Cup?"
# The follow-ups on the seed article, and what answers the first: either sentence saying what China urged.
URGE_QUESTION = "What did it urge Belgrade and Pristina to do?"
URGED = ("China urges the two sides to implement agreements", "called on Belgrade and Pristina to engage in dialogue")
WHO_QUESTION = "Who said so?"

PENGUINS = (
    "Emperor penguins breed during the Antarctic winter on stable sea ice far from the open water. "
    "The female lays a single egg and passes it to the male, who balances it on his feet. "
    "Males huddle together in large groups to survive temperatures below minus forty degrees.\n"
)
LIGHTHOUSE = (
    "# The northern lighthouse\n\n"
    "The lighthouse keeper counted the passing ships every morning and wrote their names in a notebook. "
    "In winter the storms were so strong that the lamp had to be cleaned twice every night.\n"
)


# A man page as `man` prints it: hard-wrapped, indented, a word hyphenated across lines ("compres-⏎sion").
MAN_PAGE = ("GZIP(1)\n\nDESCRIPTION\n       Gzip  reduces  the size of the named files using Lempel-Ziv\n"
            "       coding (LZ77), a method of compres-\n       sion that finds repeated strings.\n\n"
            "       The  amount  of  compression  obtained  depends  on the size of the input.\n")
MAN_QUESTION = "What compression method does gzip use?"
MAN_QUOTE = "Gzip reduces the size of the named files using Lempel-Ziv coding (LZ77), a method of compression that finds"


def copy_seeds(dest: Path) -> Path:
    """A private copy of the seed folder that a test may change."""
    shutil.copytree(SEEDS_DIR, dest)
    return dest


def make_corpus(dest: Path) -> Path:
    """The seed article plus two short unrelated documents (.txt and .md)."""
    copy_seeds(dest)
    (dest / "penguins.txt").write_text(PENGUINS, encoding="utf-8")
    (dest / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    return dest


def hit_keys(hits: list) -> list[tuple[str, int, int]]:
    """What identifies a search result, independent of floating-point noise."""
    return [(h.doc_id, h.start, h.end) for h in hits]


def gen_folders(index_dir: Path) -> list[str]:
    return sorted(p.name for p in Path(index_dir).glob("gen-*"))


@contextlib.contextmanager
def launched(demo: Any) -> Iterator[str]:
    """``demo`` (a Gradio Blocks) served in this process on a free loopback port; yields its URL."""
    port = free_port()
    from qa.serve.webapp import PAGE_CSS

    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                        css=PAGE_CSS)  # as qa.serve.server mounts the page
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


# CommonMark with GitHub's strikethrough: what the page's Markdown renderer (marked, GFM) reads as markup.
RENDERER = MarkdownIt("commonmark").enable("strikethrough")


def rendered_text(markdown: str) -> str:
    """The characters a reader sees: the rendered HTML's text, entities decoded, whitespace normalised."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", RENDERER.render(markdown))).split())


def from_markdown(text: str) -> str:
    """``text`` with Markdown's backslash escapes undone: the characters a chat message renders as."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qa_command() -> str:
    """The installed `qa` console script of the interpreter running the tests."""
    return shutil.which("qa", path=str(Path(sys.executable).parent)) or str(Path(sys.executable).parent / "qa")


def subprocess_env() -> dict[str, str]:
    """The current environment without QA_* settings, offline, so a command sees only its options."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONIOENCODING="utf-8")
    return env


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF: each page one Helvetica text stream, one line per string (Latin-1 text)."""
    n = len(pages)
    page_ids = [3 + i for i in range(n)]
    font_id = 3 + n
    content_ids = [4 + n + i for i in range(n)]
    info_id = 4 + 2 * n if title else None
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids) + b"] /Count %d >>" % n,
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for page_id, content_id, lines in zip(page_ids, content_ids, pages, strict=True):
        objects[page_id] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font_id, content_id))
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 740 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    if info_id:
        objects[info_id] = b"<< /Title (" + title.encode("latin-1") + b") >>"

    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    info = b" /Info %d 0 R" % info_id if info_id else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, info, xref)
    return bytes(out)
