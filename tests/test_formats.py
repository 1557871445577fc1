"""Word, PowerPoint, OpenDocument, EPUB and saved web pages: text, metadata, and the slide or section a hit is in.

Every file is written by the library made for its format (tests/format_files.py).
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from format_files import (
    ARTICLE,
    BOILERPLATE,
    CURRENTS,
    GANNETS,
    INTRO,
    PUBLISHED,
    PUFFINS,
    SLIDES,
    WAVES,
    make_docx,
    make_epub,
    make_odt,
    make_pptx,
    make_pptx_with_table_group_and_notes,
    saved_article_html,
)
from helpers import PENGUINS

import qa
from qa.cli import main
from qa.errors import DocumentError
from qa.ingest import extract
from qa.ingest.documents import load_file, load_folder, locate
from qa.serve.formatting import format_citation

SMALL_CHUNKS = qa.Settings(chunk_size=80, chunk_overlap=0)  # about a sentence a chunk: a hit is in one place
SMALL_CHUNK_OPTIONS = ["--chunk-size", "80", "--chunk-overlap", "0"]
NEW_TYPES = [".docx", ".pptx", ".odt", ".epub"]
MAKERS = {".docx": make_docx, ".pptx": make_pptx, ".odt": make_odt, ".epub": make_epub}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A folder with one file of each new type and a saved web page, and its index (small chunks)."""
    folder = tmp_path_factory.mktemp("formats")
    make_docx(folder / "report.docx")
    make_pptx(folder / "tides.pptx")
    make_odt(folder / "notes.odt")
    make_epub(folder / "sea.epub")
    (folder / "glaciers.html").write_text(saved_article_html(), encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("formats-index")
    return folder, qa.build_index(folder, index_dir, SMALL_CHUNKS)


def hit_in(index: qa.Index, question: str, doc_id: str) -> qa.Hit:
    return next(h for h in index.search(question, k=10) if h.doc_id == doc_id)


# Word

def test_docx_text_holds_its_paragraphs_headings_and_table_rows(tmp_path):
    doc = load_file(make_docx(tmp_path / "report.docx"))

    for text in (INTRO, "Puffins", PUFFINS, "Colony | Pairs", "North cliff | 4200", "Gannets", GANNETS):
        assert text in doc.text
    assert doc.text.index(PUFFINS) < doc.text.index("North cliff | 4200") < doc.text.index(GANNETS)


def test_docx_title_is_its_title_property_else_its_title_paragraph(tmp_path):
    assert load_file(make_docx(tmp_path / "a.docx")).title == "Seabird report"
    assert load_file(make_docx(tmp_path / "b.docx", title=None)).title == "Seabirds of the island"


def test_docx_headings_start_sections_that_run_to_the_next_heading(tmp_path):
    doc = load_file(make_docx(tmp_path / "report.docx"))

    (p_start, p_end, p_heading), (g_start, g_end, g_heading) = doc.metadata["sections"]

    assert (p_heading, g_heading) == ("Puffins", "Gannets")
    assert PUFFINS in doc.text[p_start:p_end] and "North cliff | 4200" in doc.text[p_start:p_end]
    assert doc.text[g_start:g_end] == f"Gannets\n\n{GANNETS}"
    assert locate(doc, doc.text.index(INTRO)) is None  # text before the first heading is in no section


# PowerPoint

def test_pptx_keeps_one_range_per_slide_numbered_as_in_the_deck(tmp_path):
    doc = load_file(make_pptx(tmp_path / "tides.pptx"))

    slides = {number: doc.text[start:end] for start, end, number in doc.metadata["slides"]}

    assert sorted(slides) == [1, 2, 4]  # slide 3 is blank
    for number, (title, bullets) in enumerate(SLIDES, start=1):
        if title:
            assert slides[number] == "\n\n".join([title, *bullets])


def test_pptx_slide_text_holds_tables_grouped_shapes_and_speaker_notes(tmp_path):
    doc = load_file(make_pptx_with_table_group_and_notes(tmp_path / "colonies.pptx"))

    assert doc.text == ("Colonies\n\nColony | Pairs\n\nNorth cliff | 4200\n\nCounted in June.\n\n"
                        "Counted again in July.\n\nMention the storm\nthat delayed the count.")
    assert doc.metadata["slides"] == [[0, len(doc.text), 1]]


def test_pptx_title_is_the_first_slide_title(tmp_path):
    assert load_file(make_pptx(tmp_path / "tides.pptx")).title == "Tides"


def test_a_hit_on_a_slide_reports_its_slide_number(library):
    _, index = library

    hit = hit_in(index, "What does the pull of the moon cause?", "tides.pptx")

    assert (hit.location, hit.page) == ("slide 4", None)


def test_a_citation_of_a_slide_names_the_slide_in_the_chat(library):
    _, index = library

    answer = qa.Assistant(index).ask("What does the pull of the moon on the oceans cause?")

    [citation] = [c for c in answer.citations if c.doc_id == "tides.pptx"]
    assert citation.location == "slide 4"
    assert " · slide 4" in format_citation(citation).splitlines()[0]


# OpenDocument text and EPUB

def test_odt_text_title_and_headed_sections(tmp_path):
    doc = load_file(make_odt(tmp_path / "notes.odt"))

    assert doc.title == "Seabird notes"
    assert all(text in doc.text for text in (INTRO, PUFFINS, "Colony | Pairs", "North cliff | 4200", GANNETS))
    assert [heading for _, _, heading in doc.metadata["sections"]] == ["Puffins", "Gannets"]
    assert str(locate(doc, doc.text.index(GANNETS))) == "section: Gannets"


def test_epub_chapters_are_sections_named_by_its_table_of_contents(tmp_path):
    doc = load_file(make_epub(tmp_path / "sea.epub"))

    sections = {heading: doc.text[start:end] for start, end, heading in doc.metadata["sections"]}

    assert (doc.title, doc.metadata["date"]) == ("The sea", "2020-05-01")
    assert list(sections) == ["Wind and waves", "Currents"]
    assert WAVES in sections["Wind and waves"] and CURRENTS in sections["Currents"]
    assert "Table of contents" not in doc.text.title()  # the navigation document is not a chapter


@pytest.mark.parametrize(("doc_id", "question", "where"), [
    ("report.docx", "How high do gannets dive from?", "section: Gannets"),
    ("notes.odt", "Where do puffins dig their burrows?", "section: Puffins"),
    ("sea.epub", "What carries warm water towards the poles?", "section: Currents"),
])
def test_a_hit_in_a_section_reports_its_heading(library, doc_id, question, where):
    _, index = library

    assert hit_in(index, question, doc_id).location == where


def test_qa_ask_prints_the_slide_or_section_of_each_citation(library):
    folder, index = library

    result = CliRunner().invoke(main, ["ask", "What carries warm water from the tropics towards the poles?",
                                       "--index", str(index.path), *SMALL_CHUNK_OPTIONS])

    assert result.exit_code == 0, result.output
    assert f"The sea (2020-05-01) {folder / 'sea.epub'}, section: Currents" in result.output


# Saved web pages

def test_a_saved_page_keeps_the_article_and_drops_navigation_banner_and_footer(tmp_path):
    (tmp_path / "glaciers.html").write_text(saved_article_html(), encoding="utf-8")

    doc = load_file(tmp_path / "glaciers.html")

    assert all(paragraph in doc.text for paragraph in ARTICLE)
    assert [junk for junk in BOILERPLATE if junk in doc.text] == []


def test_a_saved_page_title_and_date_come_from_its_metadata(tmp_path):
    (tmp_path / "glaciers.html").write_text(saved_article_html(), encoding="utf-8")

    doc = load_file(tmp_path / "glaciers.html")

    assert (doc.title, doc.metadata["date"]) == ("Glaciers retreat faster in the Alps", "2021-06-14")


def test_a_page_without_a_date_in_its_metadata_gets_none_from_its_text(tmp_path):
    page = saved_article_html().replace(PUBLISHED, "")
    (tmp_path / "glaciers.html").write_text(page.replace("in a single summer", "in the summer of 2019"),
                                             encoding="utf-8")

    doc = load_file(tmp_path / "glaciers.html")

    assert "© 2021" in page and "summer of 2019" in doc.text
    assert "date" not in doc.metadata


def test_a_page_without_main_content_keeps_all_its_visible_text(tmp_path):
    # Main-content extraction drops footers, which is where this page has all its text.
    (tmp_path / "hours.html").write_text("<html><head><title>Opening hours</title></head><body><footer>"
                                         "<p>The museum opens at nine.</p><p>It closes at five.</p></footer>"
                                         "<script>var tracking = 1;</script></body></html>", encoding="utf-8")

    doc = load_file(tmp_path / "hours.html")

    assert doc.text == "The museum opens at nine.\n\nIt closes at five."
    assert doc.title == "Opening hours"
    assert "date" not in doc.metadata


# Damaged files

def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def damaged_files(suffix: str, tmp_path) -> dict[str, bytes]:
    real = MAKERS[suffix](tmp_path / f"real{suffix}").read_bytes()
    return {"not a zip": b"This is plain text, not an archive.", "an unrelated zip": zip_of({"a.txt": b"hello"}),
            "truncated": real[: len(real) // 2],
            "broken XML": zip_of({name: b"<broken" for name in zipfile.ZipFile(io.BytesIO(real)).namelist()})}


@pytest.mark.parametrize("suffix", NEW_TYPES)
def test_a_damaged_file_of_each_type_is_refused_naming_it(tmp_path, suffix):
    for damage, data in damaged_files(suffix, tmp_path).items():
        (tmp_path / f"bad{suffix}").write_bytes(data)

        with pytest.raises(DocumentError) as info:
            load_file(tmp_path / f"bad{suffix}")

        assert str(info.value).startswith(f"bad{suffix}: "), damage


def test_a_folder_with_damaged_files_of_every_type_loads_the_rest(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "penguins.txt").write_text(PENGUINS, encoding="utf-8")
    make_pptx(folder / "good.pptx")
    for suffix in NEW_TYPES:
        (folder / f"bad{suffix}").write_bytes(damaged_files(suffix, tmp_path)["truncated"])

    docs, skipped = load_folder(folder)

    assert [d.id for d in docs] == ["good.pptx", "penguins.txt"]
    assert sorted(s.path for s in skipped) == sorted(f"bad{suffix}" for suffix in NEW_TYPES)
    assert all("not a readable" in s.reason for s in skipped)


def test_an_archive_that_would_unpack_too_large_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(extract, "MAX_UNZIPPED_BYTES", 1024 * 1024)
    path = make_docx(tmp_path / "report.docx")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("word/media/huge.bin", b"\0" * 2 * 1024 * 1024, zipfile.ZIP_DEFLATED)

    with pytest.raises(DocumentError, match="report.docx: unpacks to 2 MB, more than the 1 MB"):
        load_file(path)


# Indexes built before a loader changed

def test_an_update_re_embeds_a_file_whose_text_the_loader_now_reads_differently(tmp_path, monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "glaciers.html").write_text(saved_article_html(), encoding="utf-8")
    (folder / "penguins.txt").write_text(PENGUINS, encoding="utf-8")
    with monkeypatch.context() as patch:  # as before main-content extraction: every visible line
        patch.setattr("qa.ingest.webpages.read_html", lambda path, raw: qa.ingest.webpages._visible_text(raw, None))
        old = qa.build_index(folder, tmp_path / "index", SMALL_CHUNKS)
    assert "Accept all cookies" in old.documents["glaciers.html"].text

    updated = qa.update_index(folder, tmp_path / "index", SMALL_CHUNKS)
    rebuilt = qa.build_index(folder, settings=SMALL_CHUNKS)

    assert "Accept all cookies" not in updated.documents["glaciers.html"].text
    assert updated.report.reused == sum(c.doc_id == "penguins.txt" for c in updated.chunks)
    np.testing.assert_allclose(updated.vectors, rebuilt.vectors, atol=1e-5)
