"""Loading documents from files: the seed header, Markdown, HTML and PDF with page offsets."""
from __future__ import annotations

import pytest
from helpers import SEED_DATE, SEED_FILE, SEED_ID, SEED_TITLE, make_pdf

import qa
from qa.errors import DocumentError
from qa.ingest.documents import load_file, load_folder

PAGE_ONE = [
    "The lighthouse keeper on the northern cape counted the passing ships every morning.",
    "He wrote each name and flag carefully into a blue leather notebook by the window.",
]
PAGE_TWO = [
    "Emperor penguins breed during the Antarctic winter on stable sea ice.",
    "The female lays a single egg and passes it to the male, who balances it on his feet.",
]


@pytest.fixture
def pdf_folder(tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "notes.pdf").write_bytes(make_pdf([PAGE_ONE, PAGE_TWO], title="Cape notes"))
    return folder


def test_seed_header_becomes_date_and_title():
    doc = load_file(SEED_FILE)

    assert doc.metadata["date"] == SEED_DATE
    assert doc.title == SEED_TITLE


def test_seed_header_line_is_not_in_document_text():
    doc = load_file(SEED_FILE)

    assert "2017-08-17" not in doc.text
    assert SEED_TITLE not in doc.text
    assert doc.text.startswith("China on Wednesday called on Belgrade and Pristina")


def test_header_with_a_crlf_and_bom_is_still_recognised(tmp_path):
    path = tmp_path / "news.txt"
    path.write_bytes("\ufeffdate 2019-03-04 Harbour news\r\nThe harbour opened today.\r\n".encode("utf-8"))

    doc = load_file(path)

    assert (doc.title, doc.metadata["date"], doc.text) == ("Harbour news", "2019-03-04", "The harbour opened today.\n")


def test_date_line_without_a_title_keeps_the_next_line_in_the_text(tmp_path):
    path = tmp_path / "news.txt"
    path.write_text("date 2019-03-04\nThe harbour opened today.\nTwelve boats came in.\n", encoding="utf-8")

    doc = load_file(path)

    assert "The harbour opened today." in doc.text
    assert "Twelve boats came in." in doc.text


def test_folder_documents_are_named_by_relative_path(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("A short note about tides.", encoding="utf-8")

    docs, skipped = load_folder(tmp_path)

    assert [d.id for d in docs] == ["sub/a.txt"]
    assert skipped == []


def test_seed_document_id_is_its_file_name(seed_index):
    assert list(seed_index.documents) == [SEED_ID]


def test_markdown_file_is_loaded_with_its_text(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("# Tides\n\nThe tide rises twice a day.\n", encoding="utf-8")

    doc = load_file(path)

    assert "The tide rises twice a day." in doc.text
    assert doc.title == "guide"


def test_html_title_comes_from_the_title_tag(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Harbour news</title></head><body><p>Boats came in.</p></body></html>",
                    encoding="utf-8")

    assert load_file(path).title == "Harbour news"


def test_html_script_and_style_text_is_left_out(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Harbour news</title><style>p { color: red; }</style></head><body>"
        "<script>var secret = 'tracking-code';</script><h1>Harbour</h1><p>Twelve boats came in today.</p>"
        "<style>.hidden { display: none; }</style></body></html>",
        encoding="utf-8",
    )

    text = load_file(path).text

    assert "Twelve boats came in today." in text
    assert "Harbour" in text
    for leaked in ("tracking-code", "color: red", "display: none", "<p>"):
        assert leaked not in text


def test_pdf_text_of_both_pages_is_extracted(pdf_folder):
    doc = load_file(pdf_folder / "notes.pdf")

    for sentence in PAGE_ONE + PAGE_TWO:
        assert sentence in doc.text
    assert doc.title == "Cape notes"


def test_pdf_page_offsets_locate_each_page(pdf_folder):
    doc = load_file(pdf_folder / "notes.pdf")

    (start1, end1), (start2, end2) = doc.metadata["pages"]

    assert start1 == 0 and end1 <= start2
    assert all(s in doc.text[start1:end1] for s in PAGE_ONE)
    assert all(s in doc.text[start2:end2] for s in PAGE_TWO)
    assert not any(s in doc.text[start2:end2] for s in PAGE_ONE)


def test_pdf_hit_reports_the_page_it_was_found_on(pdf_folder):
    # Small chunks without overlap put each page in chunks of its own.
    index = qa.build_index(pdf_folder, settings=qa.Settings(chunk_size=200, chunk_overlap=0))

    best = index.search("Which bird balances an egg on his feet?", k=1)[0]

    assert "penguins" in best.text or "egg" in best.text
    assert (best.page, best.location) == (2, "page 2")


def test_document_without_id_is_refused():
    with pytest.raises(DocumentError, match="id"):
        qa.Document(id="", text="some text")


def test_duplicate_document_ids_are_refused():
    docs = [qa.Document("same", "First text about rivers."), qa.Document("same", "Second text about lakes.")]

    with pytest.raises(DocumentError, match="duplicate document id 'same'"):
        qa.build_index(docs)
