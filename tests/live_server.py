"""A real server for tests: the app `qa serve` builds (chat, /api, /mcp), run by uvicorn on 127.0.0.1 in a thread."""
from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from helpers import free_port

import qa
from qa.serve.server import build_app


@dataclass(frozen=True)
class Live:
    url: str  # http://127.0.0.1:PORT (no trailing slash)
    docs: Path
    index_dir: Path


def basic(user: str, password: str) -> dict[str, str]:
    """The Authorization header for HTTP Basic sign-in."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.contextmanager
def serving(docs: Path, index_dir: Path, **settings: object) -> Iterator[Live]:
    """Build the whole app as `qa serve` does, for the documents in ``docs``, and serve it until the block ends."""
    port = free_port()
    config = qa.Settings(source_dir=docs, index_dir=index_dir, **settings)  # type: ignore[arg-type]
    app = build_app(config, "127.0.0.1", port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", docs, index_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
