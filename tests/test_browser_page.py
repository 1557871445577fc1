"""The chat page as a reader sees it, in headless Chromium: excerpts show the document's own characters, quotes from
hard-wrapped text read as prose, and the page's layout (heading font, toolbar, height, thumbs, a follow-up's reading)."""
from __future__ import annotations

import pytest
from helpers import MAN_PAGE, MAN_QUESTION, MAN_QUOTE, SEED_QUESTION, URGE_QUESTION
from test_browser import WAIT_MS, answers_shown, app_url, ask, browser, last_bot_message, upload

__all__ = ["app_url", "browser"]  # fixtures shared with test_browser.py
pytestmark = pytest.mark.slow

# Each character Markdown or HTML would read as markup, in a sentence the question below is answered by.
LEDGER = ("The harbour ledger_book says *imports* & exports rose, while <b>fees</b> stayed > 2% and < 5% &amp; "
          "__dues__ were [kept] under `lock` ~~twice~~.\nNobody else keeps a ledger like it.\n")


def open_page(browser, url: str, height: int = 1000):
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.locator("#chat").wait_for()
    return context, page


@pytest.fixture
def page(browser, app_url):
    context, page = open_page(browser, app_url)
    try:
        yield page
    finally:
        context.close()


def answered(page, question: str) -> None:
    """Ask and wait until the answer's sources (or a warning) are shown."""
    from playwright.sync_api import expect

    before = page.locator("#chat .bot-row").count()
    ask(page, question)
    expect(page.locator("#chat .bot-row")).to_have_count(before + 1, timeout=WAIT_MS)
    expect(last_bot_message(page)).to_contain_text("Sources" if question.strip() else "⚠️", timeout=WAIT_MS)


def test_the_page_shows_the_documents_characters_exactly(page, tmp_path):
    from playwright.sync_api import expect

    upload(page, {"name": "ledger.txt", "mimeType": "text/plain", "buffer": LEDGER.encode()})
    expect(page.locator("#upload-status")).to_contain_text("ledger.txt: added", timeout=WAIT_MS)
    answered(page, "What does the harbour ledger book say about imports and fees?")

    sentence = LEDGER.split("\n")[0]
    assert f"\u201c{sentence}\u201d [1]" in answers_shown(page)[-1]  # *, _, <, &, [, `, ~ as the document has them
    excerpt = last_bot_message(page).locator("blockquote").first.inner_text()
    assert " ".join(excerpt.split()) == " ".join(LEDGER.split())
    assert page.locator("#chat b, #chat em, #chat del, #chat code:has-text('lock')").count() == 0
    page.screenshot(path=tmp_path / "ledger.png", full_page=True)


def test_a_quote_from_hard_wrapped_text_reads_as_one_line_of_prose(page):
    from playwright.sync_api import expect

    upload(page, {"name": "gzip.1.txt", "mimeType": "text/plain", "buffer": MAN_PAGE.encode()})
    expect(page.locator("#upload-status")).to_contain_text("gzip.1.txt: added", timeout=WAIT_MS)
    answered(page, MAN_QUESTION)

    shown = last_bot_message(page).locator(".message").first.inner_text()
    assert MAN_QUOTE in shown
    assert "\n" not in shown.strip() and "  " not in shown


def test_the_heading_is_drawn_in_one_font(page):
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument")["root"]["nodeId"]
    heading = session.send("DOM.querySelector", {"nodeId": root, "selector": "h1"})["nodeId"]
    fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": heading})["fonts"]

    assert len(fonts) == 1, fonts  # Gradio's subset SemiBold face mixed in a fallback font, letter by letter


def test_the_chat_fills_a_tall_window(browser, app_url):
    heights = []
    for window in (900, 1500):
        context, page = open_page(browser, app_url, window)
        heights.append(page.locator("#chat").bounding_box()["height"])
        context.close()

    assert heights[1] - heights[0] >= 500


def test_toolbar_stays_clear_of_the_messages_and_errors_get_no_thumbs(page, tmp_path):
    answered(page, SEED_QUESTION)
    answered(page, " ")
    answered(page, URGE_QUESTION)
    page.evaluate("() => { const w = document.querySelector('#chat .bubble-wrap'); w.scrollTop = w.scrollHeight / 3; }")

    toolbar = page.locator("#chat .top-panel").bounding_box()
    messages = page.locator("#chat .bubble-wrap").bounding_box()
    assert toolbar["y"] + toolbar["height"] <= messages["y"] + 1  # above the scrolled messages, not over them
    assert page.locator("#chat .bot-row").count() == 3
    assert page.locator("#chat button[aria-label='Like']:visible").count() == 2  # the two answers, not the error
    page.screenshot(path=tmp_path / "scrolled.png")


def test_a_follow_up_shows_how_it_was_read_under_its_answer(page):
    answered(page, SEED_QUESTION)
    answered(page, URGE_QUESTION)

    reading = last_bot_message(page).locator("small")
    assert reading.inner_text().startswith("Read with 1 earlier turn; terms carried over:")
    assert page.locator("#chat small").count() == 1  # the first question was read alone: nothing to say
