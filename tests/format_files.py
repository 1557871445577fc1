"""Real Word, PowerPoint, OpenDocument, EPUB and saved-web-page files, written with the libraries made for them."""
from __future__ import annotations

from pathlib import Path

PUFFINS = "Puffins dig their nesting burrows into the grassy slopes above the cliffs."
GANNETS = "Gannets dive into the sea from thirty metres to catch mackerel."
INTRO = "This report describes the seabird colonies counted on the island last summer."

SLIDES = [  # (title, bullet points); the empty third slide has no text
    ("Tides", ["The tide rises and falls twice a day along the coast."]),
    ("Harbour", ["Fishing boats leave the harbour before dawn."]),
    ("", []),
    ("The moon", ["The pull of the moon on the oceans causes the tides.", "Spring tides follow a full moon."]),
]

WAVES = "Waves are raised by the wind blowing across the open water."
CURRENTS = "Ocean currents carry warm water from the tropics towards the poles."

ARTICLE = [
    "The glaciers of the Swiss Alps lost six percent of their remaining ice volume in a single summer, "
    "according to the national monitoring network.",
    "Researchers measured the thickness of the Rhone glacier with radar every month and found that its tongue "
    "had thinned by more than three metres.",
    "Little snow fell during the winter, so the dark ice was exposed early and absorbed more sunlight than usual.",
]
PUBLISHED = '<meta property="article:published_time" content="2021-06-14T08:30:00+00:00">'
BOILERPLATE = ["We use cookies to improve your experience", "Subscribe to our newsletter",
               "All rights reserved", "Ten best hiking boots", "tracking-code-123"]


def make_docx(path: Path, title: str | None = "Seabird report") -> Path:
    """A title paragraph, an introduction, two headings with a paragraph each, and a table under the first."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_paragraph("Seabirds of the island", style="Title")
    document.add_paragraph(INTRO)
    document.add_heading("Puffins", 1)
    document.add_paragraph(PUFFINS)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Colony", (0, 1): "Pairs", (1, 0): "North cliff", (1, 1): "4200"}.items():
        table.cell(row, col).text = text
    document.add_heading("Gannets", 2)
    document.add_paragraph(GANNETS)
    document.save(path)
    return path


def make_pptx(path: Path) -> Path:
    """One slide per entry of SLIDES (title and bullet points); a blank slide where the title is empty."""
    from pptx import Presentation

    deck = Presentation()
    for title, bullets in SLIDES:
        if not title:
            deck.slides.add_slide(deck.slide_layouts[6])  # the blank layout
            continue
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for bullet in bullets[1:]:
            body.add_paragraph().text = bullet
    deck.save(path)
    return path


def make_pptx_with_table_group_and_notes(path: Path) -> Path:
    """One slide: a title, a 2x2 table, two text boxes in a group, and speaker notes."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "Colonies"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (row, col), text in {(0, 0): "Colony", (0, 1): "Pairs", (1, 0): "North cliff", (1, 1): "4200"}.items():
        table.cell(row, col).text = text
    group = slide.shapes.add_group_shape()
    for i, text in enumerate(["Counted in June.", "Counted again in July."]):
        group.shapes.add_textbox(Inches(1), Inches(4 + i), Inches(4), Inches(1)).text_frame.text = text
    slide.notes_slide.notes_text_frame.text = "Mention the storm\vthat delayed the count."  # \v: a line break
    deck.save(path)
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text with a title, an introduction and two headed sections, a table in the first."""
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Seabird notes"))
    document.text.addElement(P(text=INTRO))
    document.text.addElement(H(outlinelevel=1, text="Puffins"))
    document.text.addElement(P(text=PUFFINS))
    table = Table(name="Colonies")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for row_cells in (["Colony", "Pairs"], ["North cliff", "4200"]):
        row = TableRow()
        for text in row_cells:
            cell = TableCell()
            cell.addElement(P(text=text))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.text.addElement(H(outlinelevel=1, text="Gannets"))
    document.text.addElement(P(text=GANNETS))
    document.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    """A two-chapter book with a table of contents, a title and a publication date."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("qa-test-book")
    book.set_title("The sea")
    book.set_language("en")
    book.add_metadata("DC", "date", "2020-05-01")
    chapters = []
    for number, (name, sentence) in enumerate([("Wind and waves", WAVES), ("Currents", CURRENTS)], start=1):
        chapter = epub.EpubHtml(title=name, file_name=f"chapter{number}.xhtml", lang="en")
        chapter.content = f"<h1>{name}</h1><p>{sentence}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = [epub.Link(c.file_name, c.title, f"c{i}") for i, c in enumerate(chapters)]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def saved_article_html() -> str:
    """A news page as a browser saves it: cookie banner, navigation, the article, a sidebar and a footer."""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in ARTICLE)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Glaciers retreat faster in the Alps | Mountain Gazette</title>
<meta property="og:title" content="Glaciers retreat faster in the Alps">
{PUBLISHED}
<script>window.dataLayer = [{{"id": "tracking-code-123"}}];</script>
<style>.cookie-banner {{ position: fixed; }}</style>
</head><body>
<div id="cookie-banner" class="cookie-banner">We use cookies to improve your experience.
<button>Accept all cookies</button></div>
<header><nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/subscribe">Subscribe to our newsletter</a></li></ul></nav></header>
<main><article>
<h1>Glaciers retreat faster in the Alps</h1>
{paragraphs}
</article></main>
<aside class="related"><h3>Most read</h3><ul><li><a href="/boots">Ten best hiking boots</a></li></ul></aside>
<footer><p>© 2021 Mountain Gazette. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>
"""
