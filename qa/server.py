"""One port for everything: the chat page at /, the HTTP API at /api, MCP at /mcp, behind one sign-in.

The FastAPI app is built here and the Gradio page is mounted into it (``gr.mount_gradio_app``), so the page,
the API and MCP run in one process over the same live Assistant.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from qa.api import AppState, create_api
from qa.auth import BasicAuthMiddleware, Users

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"


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
    if mcp is not None:
        # Stateless: each MCP request stands alone, so nothing is kept per client between calls.
        mcp_app = mcp.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
                                          host=host)
        app.router.routes.extend(mcp_app.routes)
    gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port, max_file_size=max_file_size)
    if users is not None:
        app.add_middleware(BasicAuthMiddleware, users=users)
    return app


def _mcp_server(state: AppState) -> Any:
    try:
        from qa.mcp_server import create_mcp

        return create_mcp(state)
    except ImportError as exc:
        log.warning("MCP is off: the mcp package is missing (%s); install it with pip install 'qa[mcp]'", exc)
        return None


def run_app(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until interrupted (blocking)."""
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    print(f"* Serving on http://{shown}:{port}/  (chat; HTTP API docs at /api/docs; MCP at {MCP_PATH})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
