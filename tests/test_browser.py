"""The chat page in a real browser: headless Chromium (Debian's package, driven by playwright) asks, reads the
answer and its sources, uploads documents, and shows document markup as text without running it."""
from __future__ import annotations

import os
import shutil

import pytest
from helpers import (
    PENGUINS,
    SEED_DATE,
    SEED_FILE,
    SEED_QUESTION,
    SEED_TITLE,
    URGE_QUESTION,
    URGED,
    WHO_QUESTION,
    copy_seeds,
    launched,
)

import qa

# Only the system browser: `playwright install` would download one, which this project never does.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 180_000  # two shared cores: an answer or an upload can take a while


def find_chromium() -> str | None:
    found = [c for c in CHROMIUM_CANDIDATES if os.access(c, os.X_OK)]
    return found[0] if found else shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable found (looked for /usr/bin/chromium and "
                                                "chromium on PATH): `make test` installs Debian's chromium package"),
]

HARBOUR_QUESTION = "What did the harbour master write in the harbour log?"
# Each piece would leave a trace if the page ran it: a global, a new title, an alert.
HARBOUR = (
    "The harbour master wrote <script>window.__pwned = 'script'; document.title = 'pwned'; alert('script')</script> "
    "in the harbour log. "
    "The harbour cat <img src=x onerror=\"window.__pwned = 'img'; document.title = 'pwned'; alert('img')\"> "
    "slept on the harbour boats.\n"
)
MARKUP_NAME = "harbour <img src=x onerror=alert(1)>.txt"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app served in-process on a private copy of the seeds and its own index."""
    from qa.serve.webapp import create_demo

    root = tmp_path_factory.mktemp("browser-app")
    docs = copy_seeds(root / "docs")
    with launched(create_demo(qa.Assistant(qa.build_index(docs, root / "index")))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of the dialogs (alert, confirm...) the page opened; each is dismissed."""
    return []


@pytest.fixture
def page(browser, app_url, dialogs):
    """A fresh page on the app, in its own browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(WAIT_MS)
    page.goto(app_url)
    page.locator("#chat").wait_for()
    try:
        yield page
    finally:
        context.close()


def ask(page, question: str) -> None:
    box = page.locator("textarea").first
    box.fill(question)
    box.press("Enter")


def last_bot_message(page):
    return page.locator("#chat .bot").last


def answers_shown(page) -> list[str]:
    """The texts of the answer messages in the chat (not the sources under them), oldest first."""
    texts = page.locator("#chat .bot").all_inner_texts()
    return list(dict.fromkeys(t.strip() for t in texts if t.strip().startswith(("\u201c", "The documents"))))


def upload(page, *files) -> None:
    page.locator("#upload input[type=file]").set_input_files(list(files))


def test_seed_question_shows_the_answer_and_its_sources(page, seed_answer, tmp_path):
    from playwright.sync_api import expect

    ask(page, SEED_QUESTION)

    chat = page.locator("#chat")
    expect(chat).to_contain_text("Sources", timeout=WAIT_MS)
    expect(chat).to_contain_text(f"\u201c{seed_answer.quotes[0].text}\u201d [1]")
    expect(chat.get_by_text(f"[1] {SEED_TITLE}")).to_be_visible()
    expect(chat).to_contain_text(SEED_DATE)
    expect(chat.locator("mark").first).to_be_visible()  # the quoted sentences are highlighted in the excerpt
    page.screenshot(path=tmp_path / "seed-answer.png", full_page=True)
    assert (tmp_path / "seed-answer.png").stat().st_size > 10_000


def test_a_three_turn_conversation_then_a_new_one(page, tmp_path):
    from playwright.sync_api import expect

    chat = page.locator("#chat")
    sources = chat.get_by_text("Sources", exact=True)
    ask(page, SEED_QUESTION)
    expect(sources).to_have_count(1, timeout=WAIT_MS)
    ask(page, URGE_QUESTION)
    expect(sources).to_have_count(2, timeout=WAIT_MS)
    assert any(sentence in answers_shown(page)[-1] for sentence in URGED)
    ask(page, WHO_QUESTION)
    expect(sources).to_have_count(3, timeout=WAIT_MS)
    assert "said Wu" in answers_shown(page)[-1]
    expect(last_bot_message(page)).to_contain_text(SEED_TITLE)  # the sources of this answer, under it
    page.screenshot(path=tmp_path / "conversation.png", full_page=True)

    page.get_by_role("button", name="Clear").click()  # Gradio's clear: a new conversation
    expect(sources).to_have_count(0, timeout=WAIT_MS)
    ask(page, WHO_QUESTION)
    expect(last_bot_message(page)).to_contain_text("documents don't answer", timeout=WAIT_MS)
    assert len(answers_shown(page)) == 1


def test_uploaded_document_is_answered_right_after(page, tmp_path):
    from playwright.sync_api import expect

    upload(page, {"name": "penguins.md", "mimeType": "text/markdown", "buffer": PENGUINS.encode()})
    expect(page.locator("#upload-status")).to_contain_text("penguins.md: added", timeout=WAIT_MS)
    ask(page, "Where do emperor penguins breed?")

    chat = page.locator("#chat")
    expect(chat).to_contain_text("Sources", timeout=WAIT_MS)
    expect(chat).to_contain_text("Emperor penguins breed during the Antarctic winter")
    expect(chat).to_contain_text("penguins.md")
    page.screenshot(path=tmp_path / "uploaded-answer.png", full_page=True)


def test_upload_reports_each_file(page, tmp_path):
    from playwright.sync_api import expect

    upload(page, {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"},
           {"name": "copy.txt", "mimeType": "text/plain", "buffer": SEED_FILE.read_bytes()},
           {"name": "rivers.txt", "mimeType": "text/plain", "buffer": b"The Danube flows into the Black Sea."})

    status = page.locator("#upload-status")
    expect(status).to_contain_text("rivers.txt: added", timeout=WAIT_MS)
    expect(status).to_contain_text("tool.exe: not added: unsupported file type '.exe'")
    expect(status).to_contain_text("copy.txt: already present as")


def test_document_markup_is_shown_as_text_and_never_runs(page, dialogs, tmp_path):
    from playwright.sync_api import expect

    title = page.title()
    upload(page, {"name": MARKUP_NAME, "mimeType": "text/plain", "buffer": HARBOUR.encode()})
    status = page.locator("#upload-status")
    expect(status).to_contain_text(": added", timeout=WAIT_MS)
    ask(page, HARBOUR_QUESTION)

    chat = page.locator("#chat")
    expect(chat).to_contain_text("Sources", timeout=WAIT_MS)
    expect(last_bot_message(page)).to_contain_text("Sources")
    text = chat.inner_text()
    assert "<script>window.__pwned = 'script'" in text  # shown to the reader as the document's text
    assert "<img src=x onerror=\"window.__pwned = 'img'" in text
    page.screenshot(path=tmp_path / "markup-as-text.png", full_page=True)
    assert page.evaluate("window.__pwned") is None
    assert page.title() == title
    assert dialogs == []
    assert page.locator("#chat script, #chat img[onerror], #upload-status img").count() == 0
    assert "onerror=alert(1).txt: added" in status.inner_text()  # the name, shown as text
