"""Stopping the server on SIGTERM or Ctrl-C (SIGINT) within seconds, whatever clients are connected.

uvicorn alone waits for every open connection to end, and a browser tab or a gradio_client keeps one open for as
long as it is connected (Gradio's heartbeat stream), so stopping a used server ended in a kill. Here the first
signal marks the server as stopping (``/api/health`` answers 503, new uploads and removals are refused) and keeps
serving while the requests at work finish, for up to ``grace_s`` seconds (an upload or removal being indexed is
always finished: cut, its files would be in the folder but not in the index); then Gradio's heartbeat streams are
ended and uvicorn closes the port and the connections, cutting what is still open after ``CLOSE_S`` seconds. A
second signal exits at once. docs/shutdown.md says what users see.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Generator
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
CLOSE_S = 2.0  # once the grace period is over: how long a connection may take to finish its response
MCP_PATH = "/mcp"


def is_idle_stream(scope: Scope) -> bool:
    """Whether a request stays open without doing any work, so a stop need not wait for it: Gradio's heartbeat
    (one per browser tab or gradio_client, open while it is connected) and MCP's GET stream (server-initiated
    messages, of which this server sends none)."""
    path = str(scope.get("path", ""))
    return "/heartbeat/" in path or (scope.get("method") == "GET" and path.rstrip("/") == MCP_PATH)


class Drain:
    """What a stop needs from the app: the flag it sets, the requests at work, and the writes it must not cut."""

    def __init__(self, stopping: threading.Event | None = None) -> None:
        self.stopping = stopping or threading.Event()  # set by the first signal
        self.working = 0  # requests at work, idle streams left out; changed only on the event loop's thread
        self.closed = asyncio.Event()  # set on the event loop when the grace period ends: idle streams then end
        self._writes: list[Callable[[], bool]] = []

    def always_finish(self, writing: Callable[[], bool]) -> None:
        """Wait past the grace period while ``writing()`` is true: an upload or removal cut while it indexes would
        leave its files in the folder but not in the index until the next start."""
        self._writes.append(writing)

    @property
    def writing(self) -> bool:
        return any(writing() for writing in self._writes)


class TrackRequests:
    """ASGI middleware: counts the HTTP requests at work in ``drain.working``, and tells idle streams that their
    client left once ``drain.closed`` is set (Starlette's and sse-starlette's streams then end, as on a real
    disconnect); uvicorn would otherwise wait for them for good."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app, self.drain = app, drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif is_idle_stream(scope):
            await self._idle_stream(scope, receive, send)
        else:
            self.drain.working += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.drain.working -= 1

    async def _idle_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = ended = False

        async def watch(message: Message) -> None:
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            ended = ended or message["type"] == "http.response.body" and not message.get("more_body", False)
            await send(message)

        await self.app(scope, self._until_closed(receive), watch)
        if started and not ended and self.drain.closed.is_set():
            # A stream told that its client left stops without a last chunk (sse-starlette); send it, so the
            # client sees the stream end and uvicorn does not log a response left incomplete.
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _until_closed(self, receive: Receive) -> Receive:
        async def receive_or_disconnect() -> Message:
            if self.drain.closed.is_set():
                return {"type": "http.disconnect"}
            message, closed = asyncio.ensure_future(receive()), asyncio.ensure_future(self.drain.closed.wait())
            await asyncio.wait({message, closed}, return_when=asyncio.FIRST_COMPLETED)
            for task in (message, closed):
                task.cancel()
            return message.result() if message.done() and not message.cancelled() else {"type": "http.disconnect"}

        return receive_or_disconnect


class GracefulServer(uvicorn.Server):
    """uvicorn's Server, stopped by SIGTERM or SIGINT as this module describes."""

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_s: float) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be 0 or more seconds, got {grace_s}")
        super().__init__(config)
        self.drain, self.grace_s = drain, grace_s
        self.signal: signal.Signals | None = None  # the first signal received
        self.signalled_at = 0.0  # time.monotonic() when it came
        self._waiting_logged = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Replaces uvicorn's, which raises the signal again once it has served: the process would then die of it
        # (SIGTERM: exit 143; SIGINT: a KeyboardInterrupt traceback) instead of exiting 0.
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (e.g. a test serving from a thread stops by should_exit)
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: only flags are set (logging here could wait for a lock the interrupted code holds).
        if self.signal is not None:
            # The user will not wait. A write cut here never corrupts the index (generations are published
            # atomically); files it had copied are indexed by the next start's refresh.
            os.write(2, f"* Stopped at once by a second {signal.Signals(sig).name}\n".encode())
            os._exit(128 + sig)
        self.signal, self.signalled_at = signal.Signals(sig), time.monotonic()
        self.drain.stopping.set()

    async def on_tick(self, counter: int) -> bool:
        done = await super().on_tick(counter) or self._grace_over()
        if done:
            self.drain.closed.set()  # idle streams end now; uvicorn would wait for them for good
        return done

    def _grace_over(self) -> bool:
        if self.signal is None:
            return False
        left = self.signalled_at + self.grace_s - time.monotonic()
        if self.drain.writing or (self.drain.working and left > 0):
            if not self._waiting_logged:
                log.info("stopping (%s): waiting up to %.0f s for %d request(s) at work%s", self.signal.name,
                         max(left, 0), self.drain.working, ", and for the upload or removal being indexed to "
                         "finish" if self.drain.writing else "")
                self._waiting_logged = True
            return False
        if self.drain.working:
            log.warning("stopping: %d request(s) still at work after %g s; closing", self.drain.working, self.grace_s)
        return True

    def run_until_stopped(self) -> None:
        """Serve until a signal (or ``should_exit``) stops the server; a further signal then exits at once."""
        self.run()
        if self.signal is not None and threading.current_thread() is threading.main_thread():
            # What is left (threads finishing a write, the interpreter's exit) must not outlive a second Ctrl-C.
            for sig in SIGNALS:
                signal.signal(sig, self.handle_exit)
