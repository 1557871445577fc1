"""HTML pages and EPUB books as text.

A saved web page's main content is extracted with trafilatura, which leaves out navigation, cookie banners,
adverts and footers, and reads the title and publication date from the page's metadata (the same
information as the seed files' ``date 2017-08-17 Title`` line). When trafilatura finds no main content (a
very short or unusual page), every visible text of the page is kept (BeautifulSoup, scripts and styles
dropped). An EPUB book's chapters (its spine, in reading order) become sections named by its table of
contents.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.ingest.extract import TextBlocks, check_zip, reading

log = logging.getLogger(__name__)

Read = tuple[str, str, dict[str, Any]]  # text, title, metadata (date, sections)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_INVISIBLE = ["script", "style", "noscript", "template", "head"]
# The publication date from the page's markup only (meta tags, <time>, JSON-LD): htmldate's extensive search
# would also guess from a copyright line or any date in the text.
_DATE_PARAMS = {"original_date": True, "extensive_search": False}


def read_html(path: Path, raw: str) -> Read:
    """The page's main content as paragraphs, its title and publication date (YYYY-MM-DD) if it gives one."""
    import trafilatura

    try:
        found = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, include_tables=True,
                                            date_extraction_params=dict(_DATE_PARAMS))
    except Exception as exc:  # trafilatura on odd markup; the plain path below still reads the page
        log.info("%s: main-content extraction failed (%s: %s); keeping all visible text", path.name,
                 type(exc).__name__, exc)
        found = None
    text = _paragraphs((found.text or "").splitlines()) if found is not None else ""
    if text:
        return text, found.title or "", {"date": _iso_date(found.date)}
    log.info("%s: no main content found; keeping all visible text", path.name)
    return _visible_text(raw, found)


def _visible_text(raw: str, found: Any) -> Read:
    """Every visible line of the page (BeautifulSoup), with the title and date trafilatura read if any."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    date = _iso_date(found.date) if found is not None else ""
    if found is None or not date:
        date = _metadata_date(raw)
    return _paragraphs(_soup_lines(soup)), (found.title if found is not None else "") or title, {"date": date}


def _metadata_date(raw: str) -> str:
    import trafilatura

    try:
        return _iso_date(trafilatura.extract_metadata(raw, date_config=dict(_DATE_PARAMS), extensive=False).date)
    except Exception:  # no metadata is not an error: the page just has no date
        return ""


def _soup_lines(soup: Any) -> Iterator[str]:
    for tag in soup(_INVISIBLE):
        tag.decompose()
    return (line.strip() for line in soup.get_text("\n").splitlines())


def _paragraphs(lines: Any) -> str:
    """Non-empty lines stripped and separated by blank lines, so no sentence runs across two of them."""
    return "\n\n".join(line.strip() for line in lines if line.strip())


def _iso_date(value: str | None) -> str:
    return value[:10] if value and _ISO_DATE.match(value) else ""


def read_epub(path: Path, data: bytes) -> Read:
    """The book's chapters in reading order, each a section named by the table of contents (ebooklib)."""
    import ebooklib
    from bs4 import BeautifulSoup
    from ebooklib import epub

    check_zip(path, data, "EPUB book")
    out = TextBlocks()
    with reading(path, "EPUB book"):
        book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        titles = _toc_titles(book.toc)
        chapters = 0
        for idref, _linear in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
                continue
            soup = BeautifulSoup(item.get_content(), "html.parser")
            heading = soup.find(["h1", "h2", "h3"])
            lines = [line for line in _soup_lines(soup) if line]
            if not lines:
                continue
            chapters += 1
            name = titles.get(item.get_name()) or (heading.get_text(" ", strip=True) if heading else "")
            out.start("sections", " ".join(name.split()) or f"chapter {chapters}")
            for line in lines:
                out.add(line)
        title, date = _dc(book, "title"), _dc(book, "date")
    text, ranges = out.finish()
    return text, title, {**ranges, "date": _iso_date(date)}


def _toc_titles(toc: Any) -> dict[str, str]:
    """File name -> title for every entry of an EPUB table of contents (nested sections included)."""
    titles: dict[str, str] = {}
    for entry in toc:
        children: Any = ()
        if isinstance(entry, tuple):  # (Section, [children])
            entry, children = entry
        href, title = getattr(entry, "href", None) or getattr(entry, "file_name", None), getattr(entry, "title", "")
        if href and title:
            titles.setdefault(str(href).split("#")[0], str(title))
        for name, child_title in _toc_titles(children).items():
            titles.setdefault(name, child_title)
    return titles


def _dc(book: Any, name: str) -> str:
    values = book.get_metadata("DC", name)
    return str(values[0][0]).strip() if values and values[0][0] else ""
