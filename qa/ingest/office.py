"""Word (.docx), PowerPoint (.pptx) and OpenDocument text (.odt) files as text with slide or section ranges.

Word and OpenDocument headings start sections ("section: Heading" in citations); each PowerPoint slide is a
range of its own ("slide 3"). Tables become one line per row, cells separated by " | ".
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.ingest.extract import TextBlocks, check_zip, reading

Read = tuple[str, str, dict[str, Any]]  # text, title, metadata (slides, sections)
_HEADING_STYLE = re.compile(r"^Heading \d$")


def read_docx(path: Path, data: bytes) -> Read:
    """Paragraphs and tables in document order (python-docx); a paragraph in a Heading style starts a section.

    The title is the file's title property, else its first paragraph in the Title style."""
    import docx
    from docx.table import Table

    check_zip(path, data, "Word document")
    out = TextBlocks()
    with reading(path, "Word document"):
        document = docx.Document(io.BytesIO(data))
        first_title = ""
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in _docx_rows(block):
                    out.add(row)
                continue
            text, style = block.text.strip(), (block.style.name if block.style is not None else "") or ""
            first_title = first_title or (text if style == "Title" else "")
            if text and _HEADING_STYLE.match(style):
                out.start("sections", text)
            out.add(text)
        title = (document.core_properties.title or "").strip() or first_title
    text, ranges = out.finish()
    return text, title, ranges


def _docx_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[Any] = []
        for cell in row.cells:  # a merged cell is repeated once per grid column it spans
            if not cells or cell._tc is not cells[-1]._tc:
                cells.append(cell)
        yield " | ".join(" ".join(cell.text.split()) for cell in cells)


def read_pptx(path: Path, data: bytes) -> Read:
    """Each slide's title, then the text of its shapes and tables, then its speaker notes (python-pptx)."""
    from pptx import Presentation

    check_zip(path, data, "PowerPoint file")
    out = TextBlocks()
    with reading(path, "PowerPoint file"):
        presentation = Presentation(io.BytesIO(data))
        first_title = ""
        for number, slide in enumerate(presentation.slides, start=1):
            out.start("slides", number)
            title_shape = slide.shapes.title
            if title_shape is not None and title_shape.has_text_frame:
                first_title = first_title or " ".join(title_shape.text_frame.text.split())
            shapes = [title_shape] if title_shape is not None else []
            shapes += [s for s in slide.shapes if title_shape is None or s.shape_id != title_shape.shape_id]
            for shape in shapes:
                for block in _shape_blocks(shape):
                    out.add(block)
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                out.add(slide.notes_slide.notes_text_frame.text.replace("\v", "\n"))
        title = (presentation.core_properties.title or "").strip() or first_title
    text, ranges = out.finish()
    return text, title, ranges


def _shape_blocks(shape: Any) -> Iterator[str]:
    """A shape's paragraphs (one block each: a bullet is a line of its own), table rows, grouped shapes."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for child in shape.shapes:
            yield from _shape_blocks(child)
    elif getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            yield " | ".join(" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned)
    elif shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            yield paragraph.text.replace("\v", "\n")  # python-pptx gives a line break as a vertical tab


def read_odt(path: Path, data: bytes) -> Read:
    """Headings, paragraphs, lists and tables of an OpenDocument text in order (odfpy); a heading starts a section."""
    from odf import dc
    from odf.opendocument import load

    check_zip(path, data, "OpenDocument text")
    out = TextBlocks()
    with reading(path, "OpenDocument text"):
        document = load(io.BytesIO(data))
        _odt_walk(document.text, out)
        titles = document.meta.getElementsByType(dc.Title) if document.meta is not None else []
        title = _odt_text(titles[0]).strip() if titles else ""
    text, ranges = out.finish()
    return text, title, ranges


_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def _odt_walk(node: Any, out: TextBlocks) -> None:
    for child in node.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        if child.qname == (_TEXT_NS, "h"):
            heading = " ".join(_odt_text(child).split())
            if heading:
                out.start("sections", heading)
            out.add(heading)
        elif child.qname == (_TEXT_NS, "p"):
            out.add(_odt_text(child))
        elif child.qname == (_TABLE_NS, "table-row"):
            cells = [c for c in child.childNodes
                     if c.nodeType == c.ELEMENT_NODE and c.qname == (_TABLE_NS, "table-cell")]
            out.add(" | ".join(" ".join(_odt_text(cell).split()) for cell in cells))
        else:  # lists, list items, sections, tables, frames: look inside
            _odt_walk(child, out)


def _odt_text(node: Any) -> str:
    from odf import teletype

    return str(teletype.extractText(node))


READERS: dict[str, Callable[[Path, bytes], Read]] = {".docx": read_docx, ".pptx": read_pptx, ".odt": read_odt}
