"""The chat page behind sign-in, in a real browser (Debian's Chromium through playwright): with credentials the
page works, uploads included, since the browser sends them with every request the page makes; without, 401."""
from __future__ import annotations

import pytest
from helpers import PENGUINS, SEED_QUESTION, copy_seeds
from live_server import serving
from test_browser import CHROMIUM, WAIT_MS, ask, browser, upload  # noqa: F401 - browser is a fixture used here

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable found (looked for /usr/bin/chromium and "
                                                "chromium on PATH): `make test` installs Debian's chromium package"),
]

USER, PASSWORD = "reader", "s3cret pass"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-auth")
    with serving(copy_seeds(root / "docs"), root / "index", auth=f"{USER}:{PASSWORD}") as server:
        yield server


def test_signed_in_browser_asks_and_uploads(browser, live, seed_answer, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                  http_credentials={"username": USER, "password": PASSWORD})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(live.url + "/")
        ask(page, SEED_QUESTION)
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Sources", timeout=WAIT_MS)
        expect(chat).to_contain_text(seed_answer.quotes[0].text)
        upload(page, {"name": "penguins.md", "mimeType": "text/markdown", "buffer": PENGUINS.encode()})
        expect(page.locator("#upload-status")).to_contain_text("penguins.md: added", timeout=WAIT_MS)
        page.screenshot(path=tmp_path / "signed-in.png", full_page=True)
    finally:
        context.close()
    assert (live.docs / "penguins.md").read_text(encoding="utf-8") == PENGUINS


@pytest.mark.parametrize("credentials", [None, {"username": USER, "password": "wrong"}], ids=["none", "wrong"])
def test_browser_without_valid_credentials_gets_no_page(browser, live, credentials):
    from playwright.sync_api import Error

    context = browser.new_context(http_credentials=credentials) if credentials else browser.new_context()
    statuses: list[int] = []
    try:
        page = context.new_page()
        page.on("response", lambda response: statuses.append(response.status))
        try:
            response = page.goto(live.url + "/")
            assert response is not None and response.status == 401  # the 401 page, after the given credentials
        except Error as exc:  # no credentials: headless Chromium cannot show the sign-in dialog, and gives up
            assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
        assert page.locator("#chat").count() == 0
    finally:
        context.close()
    assert statuses and set(statuses) == {401}


def test_api_docs_page_renders_offline_for_a_signed_in_browser(browser, live, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
    elsewhere: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(live.url) else None)
        page.goto(live.url + "/api/docs")
        expect(page.get_by_text("Answer a question by quoting the documents")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("/ask", exact=True)).to_be_visible()
        page.screenshot(path=tmp_path / "api-docs.png", full_page=True)
    finally:
        context.close()
    assert elsewhere == []  # scripts and styles come from this server, not a CDN
