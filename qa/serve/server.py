"""One port for everything: the chat page at /, the HTTP API at /api, MCP at /mcp, behind one sign-in.

The FastAPI app is built here and the Gradio page is mounted into it (``gr.mount_gradio_app``), so the page,
the API and MCP run in one process over the same live Assistant.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from qa.answer.assistant import Assistant
from qa.errors import ConfigError, PortBusyError
from qa.index.build import open_index
from qa.library.live import LiveAssistant
from qa.library.uploads import MB
from qa.serve.api import ApiError, AppState, create_api
from qa.serve.auth import BasicAuthMiddleware, Users, check_exposure
from qa.serve.webapp import PAGE_CSS, create_demo, document_library, follow_index, warm_up
from qa.settings import Settings
from qa.serve.shutdown import CLOSE_S, MCP_PATH, Drain, GracefulServer, TrackRequests

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)


def build_app(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> FastAPI:
    """Check sign-in, build or refresh the index if needed, and make the app that serves it (not yet serving)."""
    users = Users.from_settings(settings)
    check_exposure(host, users, settings.no_auth)  # before any work: a refusal comes at once
    index = open_index(settings.source_dir, settings.index_dir, settings, show_progress=True)
    # The model (torch, sentence-transformers) loads while Gradio starts, not on the first question.
    threading.Thread(target=warm_up, args=(index,), name="qa-warm-up", daemon=True).start()
    assistant = Assistant(index)
    library = document_library(assistant, settings.source_dir, None)  # None without a document folder
    # Every replica follows the index folder: a generation published by a build, an update or an upload on
    # another server is answered from within seconds (qa.library.live).
    live = library or LiveAssistant(assistant)
    follow_index(live)
    demo = create_demo(assistant, settings.source_dir, library=library, read_only=settings.read_only, live=live)
    # Gradio's own cap stops absurd uploads before they reach the disk; files a little over the limit still
    # reach the library, which names them in its per-file message.
    cap = int(4 * settings.upload_max_mb * MB)
    return create_app(demo.queue(default_concurrency_limit=4), AppState(assistant, library, settings.read_only, live),
                      users, host, port, max_file_size=cap)


def create_app(demo: gr.Blocks, state: AppState, users: Users | None = None, host: str = "127.0.0.1",
               port: int = 7860, max_file_size: int | None = None) -> FastAPI:
    """The whole server as one ASGI app; ``demo`` should already be queued (``demo.queue()``)."""
    import gradio as gr

    mcp = _mcp_server(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run() if mcp is not None else contextlib.nullcontext():
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/api", create_api(state))
    if state.read_only:
        # The page has no upload box then; this keeps files out of Gradio's cache too (routes before the mount win).
        app.add_api_route("/gradio_api/upload", _refuse_upload, methods=["POST"], include_in_schema=False)
    if mcp is not None:
        # Stateless: each MCP request stands alone, so nothing is kept per client between calls.
        mcp_app = mcp.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
                                          host=host)
        app.router.routes.extend(mcp_app.routes)
    gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port, max_file_size=max_file_size,
                        css=PAGE_CSS)
    if users is not None:
        app.add_middleware(BasicAuthMiddleware, users=users)
    app.state.drain = _drain(app, state)
    return app


def _drain(app: FastAPI, state: AppState) -> Drain:
    """How a stop sees the app (qa.serve.shutdown): requests at work are counted, and an upload or removal being
    indexed is always finished."""
    drain = Drain(state.stopping)
    app.add_middleware(TrackRequests, drain=drain)
    library = state.library
    if library is not None:
        drain.always_finish(lambda: library.writing)
    return drain


async def _refuse_upload() -> JSONResponse:
    return ApiError(403, "read_only", "this server is read-only (--read-only or QA_READ_ONLY): nothing can be "
                                      "uploaded").response()


def _mcp_server(state: AppState) -> Any:
    try:
        from qa.serve.mcp_server import create_mcp

        return create_mcp(state)
    except ImportError as exc:
        log.warning("MCP is off: the mcp package is missing (%s); install it with pip install 'qa[mcp]'", exc)
        return None


def run_app(app: FastAPI, host: str, port: int, grace_s: float = 5.0) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C (blocking); requests at work then get ``grace_s`` seconds to finish
    (qa.serve.shutdown), and the function returns once the server has stopped."""
    import uvicorn

    drain = getattr(app.state, "drain", None) or Drain()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=CLOSE_S)
    server = GracefulServer(config, drain, grace_s)
    shown = f"[{host}]" if ":" in host else host
    print(f"* Serving on http://{shown}:{port}/  (chat; HTTP API docs at /api/docs; MCP at {MCP_PATH})", flush=True)
    server.run_until_stopped()
    if server.signal is not None:
        took = time.monotonic() - server.signalled_at
        print(f"* Stopped ({server.signal.name}) after {took:.1f} s", flush=True)


DEFAULT_PORT = 7860


def env_port(environ: Mapping[str, str] | None = None) -> int:
    """The port to serve on: ``QA_PORT``, else ``GRADIO_SERVER_PORT`` (what Gradio users try), else 7860."""
    environ = os.environ if environ is None else environ
    for name in ("QA_PORT", "GRADIO_SERVER_PORT"):
        value = environ.get(name, "").strip()
        if value:
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise ConfigError(f"{name} must be a port number between 1 and 65535, got {value!r}")
            return int(value)
    return DEFAULT_PORT


def check_port(host: str, port: int) -> None:
    """Raise PortBusyError, saying how to choose another port, if ``host:port`` cannot be listened on."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            sock.bind((host, port))
    except OSError as exc:
        raise _port_busy(host, port, exc) from None


def _port_busy(host: str, port: int, exc: BaseException) -> PortBusyError:
    other = port + 1 if port < 65535 else 7861
    return PortBusyError(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}): another program "
                         f"(another Gradio app?) is using the port. Choose another one: `QA_PORT={other} make run` "
                         f"or `qa serve --port {other}`")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Build or refresh the index if needed, then serve the chat, the HTTP API and MCP on one port (blocking).

    A busy port is reported (PortBusyError) before any work, and again if it was taken while the index built.
    """
    check_port(host, port)
    app = build_app(settings, host, port)
    check_port(host, port)
    run_app(app, host, port, settings.shutdown_grace_s)
