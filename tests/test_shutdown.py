"""Stopping a used server: SIGTERM and Ctrl-C stop `python app.py` and `qa serve` within seconds whatever clients
are connected (a gradio_client, a browser page, an MCP client), let running work finish, and lose nothing.

Each test runs a real server process and measures how long it takes to exit after the signal; docker stop,
systemd and Kubernetes kill a process that is still running after 10 s, so that is the bound checked.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import qa
from helpers import SEED_QUESTION, copy_seeds
from qa.errors import ConfigError
from server_process import COMMANDS, ServerProcess, server_process

STOP_BOUND_S = 10  # what docker stop and systemd wait before SIGKILL (Kubernetes: 30)
SIGNALS = [signal.SIGTERM, signal.SIGINT]


def test_the_grace_period_is_a_setting_read_from_the_environment():
    assert qa.Settings().shutdown_grace_s == 5
    assert qa.Settings.from_env({"QA_SHUTDOWN_GRACE_S": "12.5"}).shutdown_grace_s == 12.5


def test_a_negative_grace_period_is_refused_with_its_value():
    with pytest.raises(ConfigError, match="shutdown_grace_s must be 0 or more seconds, got -1"):
        qa.Settings(shutdown_grace_s=-1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the seeds, indexed, so a server starts without building (and loads the model lazily)."""
    qa.build_index(copy_seeds(tmp_path / "docs"), tmp_path / "index")
    return tmp_path


def stopped(server: ServerProcess, sig: signal.Signals, who: str, record: Any) -> float:
    """Stop ``server`` with ``sig``, check that it stopped as it should, and report how long that took."""
    seconds = server.stop(sig)
    print(f"\n{who}: exited {seconds:.1f} s after {sig.name}")
    record(f"exit_seconds_{sig.name}", round(seconds, 2))
    assert server.process.returncode == 0, server.output()
    assert seconds < STOP_BOUND_S, server.output()
    assert f"* Stopped ({sig.name})" in server.output()
    assert "Traceback" not in server.output()
    return seconds


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_connected_gradio_client_does_not_keep_the_server_running(root, command, sig, record_property):
    from gradio_client import Client

    with server_process(command, root) as server:
        client = Client(server.url + "/", verbose=False)
        answer = client.predict(SEED_QUESTION, api_name="/chat")
        assert "Sources" in answer[-1]["content"]

        stopped(server, sig, f"{command} with a gradio_client", record_property)


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_an_open_browser_page_does_not_keep_the_server_running(root, sig, record_property):
    browser = pytest.importorskip("test_browser", reason="the browser tests' module")
    if browser.CHROMIUM is None:
        pytest.skip("no Chromium executable found (looked for /usr/bin/chromium and chromium on PATH)")
    from playwright.sync_api import expect, sync_playwright

    with server_process("app.py", root) as server, sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=browser.CHROMIUM, headless=True, args=browser.CHROMIUM_FLAGS)
        try:
            page = chromium.new_page()
            page.goto(server.url + "/")
            browser.ask(page, SEED_QUESTION)
            expect(page.locator("#chat")).to_contain_text("Sources", timeout=browser.WAIT_MS)

            stopped(server, sig, "app.py with a browser page open", record_property)
        finally:
            chromium.close()


@pytest.mark.slow
def test_an_mcp_client_does_not_keep_the_server_running(root, record_property):
    import asyncio

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with server_process("qa serve", root) as server:
        connected, release = threading.Event(), threading.Event()

        async def hold_a_session() -> None:
            async with httpx2.AsyncClient(timeout=60) as http, \
                    Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
                await client.list_tools()
                connected.set()
                await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)

        holder = threading.Thread(target=lambda: _quietly(asyncio.run, hold_a_session()), daemon=True)
        holder.start()
        assert connected.wait(60), server.output()
        try:
            stopped(server, signal.SIGTERM, "qa serve with an MCP client", record_property)
        finally:
            release.set()
            holder.join(30)


def _quietly(fn: Any, *args: Any) -> None:
    """Run ``fn(*args)``; a client whose server went away may raise, which is not what these tests check."""
    with contextlib.suppress(Exception):
        fn(*args)


@pytest.mark.slow
def test_a_question_running_when_sigterm_arrives_gets_its_answer(root, seed_answer, record_property):
    from gradio_client import Client
    from gradio_client.utils import Status

    with server_process("app.py", root) as server:
        client = Client(server.url + "/", verbose=False)
        # The server loads the model after it starts serving, so the first question takes a few seconds.
        job = client.submit(SEED_QUESTION, api_name="/chat")
        while job.status().code not in (Status.PROCESSING, Status.ITERATING, Status.FINISHED) and not job.done():
            time.sleep(0.01)
        if job.done():
            pytest.skip("the answer came before the signal could be sent: nothing was running")
        server.process.send_signal(signal.SIGTERM)

        answer = job.result(timeout=60)
        server.process.wait(60)
        print("\n" + "\n".join(line for line in server.output().splitlines() if "qa.serve.shutdown" in line))

    assert f"\u201c{seed_answer.quotes[0].text}\u201d [1]" in answer[0]["content"]
    assert "Sources" in answer[-1]["content"]
    assert server.process.returncode == 0, server.output()


def big_document(sentences: int) -> str:
    """A text that takes seconds to index: many distinct sentences."""
    words = ["harbour", "lantern", "keeper", "winter", "storm", "notebook", "ships", "island", "tide", "gull"]
    return " ".join(f"On day {i} the {words[i % 10]} near the {words[i * 7 % 10]} was checked by keeper number "
                    f"{i % 97}, who wrote about the {words[i * 3 % 10]}." for i in range(sentences))


def upload_in_thread(server: ServerProcess, name: str, text: str, out: dict[str, Any]) -> threading.Thread:
    """POST ``text`` as the file ``name`` to /api/documents in a thread; ``out`` gets the response or the error."""
    def upload() -> None:
        try:
            out["response"] = httpx.post(f"{server.url}/api/documents", timeout=300,
                                         files=[("files", (name, text.encode(), "text/plain"))])
        except httpx.HTTPError as exc:
            out["error"] = exc

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (server.docs / name).exists():  # the upload is saved first, then indexed (qa.library)
        assert time.monotonic() < deadline and thread.is_alive(), out
        time.sleep(0.02)
    return thread


def folder_and_index(docs: Path, index_dir: Path) -> tuple[set[str], set[str]]:
    folder = {p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file() and ".trash" not in p.parts}
    return folder, set(qa.load_index(index_dir).documents)


@pytest.mark.slow
def test_health_answers_503_stopping_while_running_work_finishes(root):
    with server_process("app.py", root) as server:
        out: dict[str, Any] = {}
        upload = upload_in_thread(server, "log.txt", big_document(1000), out)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the signal is handled on the server's next tick (every 0.1 s)

        health = httpx.get(f"{server.url}/api/health", timeout=30)

        assert (health.status_code, health.json()) == (503, {"status": "stopping"})
        upload.join(300)
        server.process.wait(300)


@pytest.mark.slow
def test_stopping_during_an_upload_keeps_the_folder_and_the_index_in_step(root, record_property):
    before = folder_and_index(root / "docs", root / "index")
    with server_process("app.py", root) as server:
        out: dict[str, Any] = {}
        upload = upload_in_thread(server, "log.txt", big_document(1000), out)

        seconds = server.stop(signal.SIGTERM)
        upload.join(60)
    print(f"\nexited {seconds:.1f} s after SIGTERM, once the upload being indexed had finished")
    record_property("exit_seconds_during_upload", round(seconds, 2))

    folder, indexed = folder_and_index(root / "docs", root / "index")
    assert server.process.returncode == 0, server.output()
    assert folder == indexed  # no file left out of the index, no document without its file
    assert out["response"].status_code == 201, out  # an upload already indexing is finished, and answered
    assert folder == before[0] | {"log.txt"}


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once_and_leaves_the_index_as_it_was(root, record_property):
    _, indexed_before = folder_and_index(root / "docs", root / "index")
    with server_process("app.py", root) as server:
        out: dict[str, Any] = {}
        upload_in_thread(server, "log.txt", big_document(3000), out)
        server.process.send_signal(signal.SIGINT)
        time.sleep(0.5)

        seconds = server.stop(signal.SIGINT)
    print(f"\nexited {seconds:.1f} s after the second SIGINT")
    record_property("exit_seconds_second_sigint", round(seconds, 2))

    assert server.process.returncode == 128 + signal.SIGINT, server.output()
    assert seconds < STOP_BOUND_S
    assert "Stopped at once by a second SIGINT" in server.output()
    # Indexing was cut, and a generation is published only once complete: the index is the one before.
    assert folder_and_index(root / "docs", root / "index")[1] == indexed_before
