"""The Documents panel and the thumbs in a real browser (headless Debian Chromium, as tests/test_browser.py):
remove a document through the confirmation and see it gone from the list and the answers; vote on an answer."""
from __future__ import annotations

import pytest
from helpers import SEED_QUESTION, SEED_TITLE, launched, make_corpus
from test_browser import CHROMIUM, WAIT_MS, ask, browser, upload  # noqa: F401 - browser is a fixture used here

import qa
from qa.serve.feedback import read_feedback

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable found (looked for /usr/bin/chromium and "
                                                "chromium on PATH): `make test` installs Debian's chromium package"),
]

PENGUIN_QUESTION = "Where do emperor penguins breed?"


@pytest.fixture
def app(tmp_path):
    """The app on a private folder of three documents; yields (url, folder, index folder)."""
    from qa.serve.webapp import create_demo

    docs = make_corpus(tmp_path / "docs")
    with launched(create_demo(qa.Assistant(qa.build_index(docs, tmp_path / "index")))) as url:
        yield url, docs, tmp_path / "index"


@pytest.fixture
def page(browser, app):  # noqa: F811 - the imported fixture
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(app[0])
    page.locator("#chat").wait_for()
    try:
        yield page
    finally:
        context.close()


def test_removing_a_document_asks_first_then_it_is_gone_and_no_longer_answered(page, app, tmp_path):
    from playwright.sync_api import expect

    _, docs, _ = app
    page.get_by_text("Documents", exact=True).click()
    listing = page.locator("#documents-list")
    expect(listing).to_contain_text(SEED_TITLE)
    expect(listing).to_contain_text("penguins.txt")
    page.locator("#documents-select input").click()
    page.get_by_role("option", name="penguins.txt").click()
    page.locator("#documents-remove").click()

    confirm = page.locator("#documents-confirm")
    expect(confirm).to_contain_text("Remove penguins.txt from the index? The file will be moved to the .trash folder")
    assert (docs / "penguins.txt").is_file()  # nothing happens before the confirmation
    page.screenshot(path=tmp_path / "confirm-removal.png", full_page=True)
    page.locator("#documents-confirm-yes").click()

    expect(page.locator("#documents-status")).to_contain_text("penguins.txt: moved to .trash/penguins.txt",
                                                              timeout=WAIT_MS)
    expect(listing).not_to_contain_text("penguins.txt")
    expect(confirm).to_be_hidden()
    expect(page.locator("#upload-status")).to_contain_text("Index: 2 documents, 4 passages.")
    ask(page, PENGUIN_QUESTION)
    expect(page.locator("#chat")).to_contain_text("The documents don't answer this question.", timeout=WAIT_MS)
    page.screenshot(path=tmp_path / "after-removal.png", full_page=True)
    assert (docs / ".trash" / "penguins.txt").is_file()


def test_the_list_shows_an_upload_when_it_is_indexed(page):
    from playwright.sync_api import expect

    page.get_by_text("Documents", exact=True).click()
    expect(page.locator("#documents-list")).to_contain_text("penguins.txt")

    upload(page, {"name": "rivers.txt", "mimeType": "text/plain", "buffer": b"The Danube flows into the Black Sea."})

    expect(page.locator("#documents-list")).to_contain_text("rivers.txt · 36 B · 1 passage", timeout=WAIT_MS)


def test_cancel_keeps_the_document(page, app):
    from playwright.sync_api import expect

    _, docs, _ = app
    page.get_by_text("Documents", exact=True).click()
    page.locator("#documents-select input").click()
    page.get_by_role("option", name="penguins.txt").click()
    page.locator("#documents-remove").click()
    expect(page.locator("#documents-confirm")).to_be_visible()

    page.locator("#documents-confirm-no").click()

    expect(page.locator("#documents-confirm")).to_be_hidden()
    expect(page.locator("#documents-list")).to_contain_text("penguins.txt")
    assert (docs / "penguins.txt").is_file()


def test_a_thumb_up_on_an_answer_is_saved_with_its_quotes(page, app, assistant):
    from playwright.sync_api import expect

    _, _, index_dir = app
    ask(page, SEED_QUESTION)
    chat = page.locator("#chat")
    expect(chat).to_contain_text("Sources", timeout=WAIT_MS)

    chat.get_by_role("button", name="Like").last.click()

    entries = _wait_for_entries(index_dir)
    assert [e["vote"] for e in entries] == ["up"]
    assert entries[0]["question"] == SEED_QUESTION
    assert [q["text"] for q in entries[0]["quotes"]] == [q.text for q in assistant.ask(SEED_QUESTION).quotes]


def _wait_for_entries(index_dir, seconds: float = 60) -> list[dict]:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        entries = read_feedback(index_dir)
        if entries:
            return entries
        time.sleep(0.2)
    return []
