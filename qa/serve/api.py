"""The HTTP JSON API, served under /api beside the chat: ask, search, documents, health; docs at /api/docs.

Every route answers from the live Assistant (``AppState.live``): after an upload, from the new index. Errors are
JSON ``{"error": code, "message": sentence}`` with the status that fits: 400 a bad request, 403 writes while
read-only, 404 an unknown document, 413 a file over the upload limit, 503 an index or model that cannot be used
(or a write sent while the server stops).
"""
from __future__ import annotations

import copy
import logging
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.answer.answers import Answer
from qa.answer.assistant import Assistant
from qa.errors import (
    EmptyCorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    ModelLoadError,
    QAError,
    QuestionError,
)
from qa.library.live import LiveAssistant
from qa.library.manager import DocumentLibrary
from qa.library.uploads import ADDED, MB, REJECTED
from qa.retrieve.hits import Hit
from qa.serve.api_models import (
    AskRequest,
    AskResponse,
    DocumentsResponse,
    ErrorResponse,
    HealthResponse,
    RemoveResponse,
    SearchRequest,
    SearchResponse,
    StoppingResponse,
    Timing,
    UploadResponse,
    ask_response,
    document_out,
    hit_out,
    indexed_documents,
    upload_out,
)

log = logging.getLogger(__name__)

ASKS_AT_ONCE = 4  # like the chat's concurrency limit: more would only make each answer wait for the CPU
NOT_READY = (IndexNotFoundError, IndexCorruptError, IndexMismatchError, EmptyCorpusError)
FORM_OVERHEAD = 1 * MB  # multipart boundaries and headers, on top of the files themselves


@dataclass
class AppState:
    """What the server answers from: an Assistant, the DocumentLibrary that swaps it after uploads, and the
    LiveAssistant that swaps it when a new index generation is published (``qa.library.live``)."""

    assistant: Assistant
    library: DocumentLibrary | None = None  # None: uploads and removal are off (no document folder)
    read_only: bool = False
    follow: LiveAssistant | None = None  # without a library, what follows the index folder
    # Questions answered at once over the API and MCP together: more would only make each wait for the CPU.
    asks: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(ASKS_AT_ONCE))
    # Set when the server is asked to stop (qa.serve.shutdown): /api/health then answers 503, so a load balancer takes
    # this replica out while the requests already running finish.
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def live(self) -> Assistant:
        """The Assistant to use for one request; read once, as an upload or a new generation may swap it."""
        source = self.library or self.follow
        return source.assistant if source is not None else self.assistant

    def writable(self) -> DocumentLibrary:
        """The library, for adding or removing documents; ApiError 403 when that is turned off, 503 while stopping."""
        if self.read_only:
            raise ApiError(403, "read_only", "this server is read-only (--read-only or QA_READ_ONLY): documents "
                                             "cannot be added or removed")
        if self.library is None:
            raise ApiError(403, "uploads_off", "this server has no document folder to add documents to: serve an "
                                               "index built from a folder")
        if self.stopping.is_set():
            # Started now, a write could outlast the shutdown grace period; refused, it can be sent elsewhere.
            raise ApiError(503, "stopping", "the server is stopping: send this to another replica, or again once "
                                            "the server is back")
        return self.library


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``extra`` fields are added to the body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message, **self.extra}, status_code=self.status)


def ask_with(assistant: Assistant, request: AskRequest) -> Answer:
    """Ask the live assistant, with the request's k, reading the question in its conversation (``history``)."""
    history = [m.model_dump() for m in request.history]
    if request.k is not None and request.k != assistant.k:
        assistant = copy.copy(assistant)  # the shared one keeps its k; a shallow copy shares index and model
        assistant.k = request.k
    return assistant.ask(request.question, history=history)


def search_with(assistant: Assistant, query: str, k: int | None) -> list[Hit]:
    """The best passages for ``query``; QuestionError for a blank one (the index would just find nothing)."""
    if isinstance(query, str) and not query.strip():
        raise QuestionError("the query is empty: give some words to search for")
    return assistant.index.search(query, k or assistant.k)


def create_api(state: AppState) -> FastAPI:
    """The /api application (mount it at /api): its routes, error handlers and OpenAPI docs at /api/docs."""
    # The docs page's scripts and styles are served from the package, not a CDN: the server may be offline.
    api = FastAPIOffline(title="qa", summary="Ask your documents: verbatim quotes with exact citations.",
                         docs_url="/docs", redoc_url="/redoc", openapi_url="/openapi.json",
                         responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
    _add_error_handlers(api)
    api.middleware("http")(_refuse_writes_early(state))
    _add_answer_routes(api, state)
    _add_document_routes(api, state)
    return api


def _add_answer_routes(api: FastAPI, state: AppState) -> None:
    @api.post("/ask", response_model=AskResponse, summary="Answer a question by quoting the documents")
    def ask(request: AskRequest) -> AskResponse:
        started = time.perf_counter()
        with state.asks:
            answer = ask_with(state.live, request)
        return ask_response(answer, _ms(started))

    @api.post("/search", response_model=SearchResponse, summary="The passages that best match a query")
    def search(request: SearchRequest) -> SearchResponse:
        started = time.perf_counter()
        with state.asks:
            hits = search_with(state.live, request.query, request.k)
        return SearchResponse(query=request.query, hits=[hit_out(h) for h in hits],
                              timing=Timing(total_ms=_ms(started)))

    @api.get("/health", response_model=HealthResponse, summary="Whether the index is loaded, and its size",
             responses={503: {"model": StoppingResponse, "description": "The server is stopping (SIGTERM or Ctrl-C)"}})
    def health() -> HealthResponse | JSONResponse:
        if state.stopping.is_set():
            return JSONResponse({"status": "stopping"}, status_code=503)
        index = state.live.index
        return HealthResponse(status="ok", documents=len(index.documents), passages=len(index.chunks),
                              model=index.settings.model, read_only=state.read_only,
                              uploads=state.library is not None and not state.read_only)


def _add_document_routes(api: FastAPI, state: AppState) -> None:
    @api.get("/documents", response_model=DocumentsResponse, summary="The documents, indexed or in the folder")
    def documents() -> DocumentsResponse:
        infos = state.library.list_documents() if state.library else indexed_documents(state.live.index)
        return DocumentsResponse(documents=[document_out(i) for i in infos])

    @api.post("/documents", response_model=UploadResponse, status_code=201,
              responses={200: {"model": UploadResponse, "description": "Nothing new: every file was already there"},
                         403: {"model": ErrorResponse}, 413: {"model": ErrorResponse}},
              summary="Add documents (.txt, .md, .html, .pdf); they are indexed before the answer")
    def upload(files: Annotated[list[UploadFile], File(description="One or more files.")]) -> Response:
        return _upload(state.writable(), files)

    @api.delete("/documents/{name:path}", response_model=RemoveResponse,
                responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
                summary="Remove a document: its file goes to .trash/ in the folder (or is deleted) and the index "
                        "is updated")
    def remove(name: str, delete: bool = False) -> RemoveResponse:
        return _remove(state.writable(), name, delete)


def _upload(library: DocumentLibrary, files: list[UploadFile]) -> Response:
    limits = library.limits
    if len(files) > limits.max_files:
        raise ApiError(400, "bad_request", f"{len(files)} files in one upload; at most {limits.max_files} are accepted")
    big = [f.filename or "(no name)" for f in files if (f.size or 0) > limits.max_bytes]
    if big:
        raise ApiError(413, "too_large", f"{', '.join(big)}: over the limit of {limits.max_bytes / MB:g} MB per file; "
                                         "nothing was added")
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
        staged = []
        for i, f in enumerate(files):
            path = Path(tmp) / str(i)
            with open(path, "wb") as out:
                while chunk := f.file.read(MB):
                    out.write(chunk)
            staged.append((f.filename or "", path))
        results = library.add_files(staged)
    body = UploadResponse(results=[upload_out(r) for r in results], documents=len(library.assistant.index.documents))
    if all(r.status == REJECTED for r in results):
        raise ApiError(400, "bad_request", "; ".join(f"{r.name}: {r.message}" for r in results),
                       results=body.model_dump()["results"])
    status = 201 if any(r.status == ADDED for r in results) else 200
    return JSONResponse(body.model_dump(), status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


def _remove(library: DocumentLibrary, name: str, delete: bool) -> RemoveResponse:
    if name not in {info.name for info in library.list_documents()}:
        raise ApiError(404, "not_found", f"no document named {name!r}: GET /api/documents lists their names")
    [result] = library.remove([name], delete=delete)
    if not result.removed:
        raise ApiError(500, "not_removed", f"{name}: {result.message}")
    return RemoveResponse(**result.to_dict())


def _refuse_writes_early(state: AppState) -> Callable[[Request, Handler], Awaitable[Response]]:
    """Refuse an upload or removal before its body is read: while read-only, or when it is far too large."""

    async def middleware(request: Request, call_next: Handler) -> Response:
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        if request.method in ("POST", "DELETE") and path.startswith("/documents"):
            try:
                library = state.writable()
                if request.method == "POST":
                    _check_length(request, library)
            except ApiError as exc:
                return exc.response()
        return await call_next(request)

    return middleware


def _check_length(request: Request, library: DocumentLibrary) -> None:
    cap = library.limits.max_files * library.limits.max_bytes + FORM_OVERHEAD
    length = request.headers.get("content-length")
    if length is None:
        raise ApiError(411, "length_required", "send the upload with a Content-Length header")
    if not length.isdigit() or int(length) > cap:
        raise ApiError(413, "too_large", f"the upload is {int(length) / MB if length.isdigit() else 0:.1f} MB; at most "
                                         f"{library.limits.max_files} files of {library.limits.max_bytes / MB:g} MB "
                                         "each are accepted; nothing was added")


def _add_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in exc.errors())
        return ApiError(400, "bad_request", f"the request is not valid: {problems}").response()

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such endpoint: {request.url.path}; /api/docs lists them"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; /api/docs lists the methods"
        else:
            message = str(exc.detail)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = ApiError(exc.status_code, code, message).response()
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @api.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        if isinstance(exc, ModelLoadError):  # a setting (QA_MODEL, QA_RANKER) names a model this machine lacks
            log.warning("model not loaded: %s", exc)
            return ApiError(503, "model_not_loaded", str(exc)).response()
        if isinstance(exc, NOT_READY):
            log.warning("index not ready: %s", exc)
            return ApiError(503, "index_not_ready", f"the index cannot be used right now: {exc}").response()
        return ApiError(400, "bad_request", str(exc)).response()

    @api.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        log.exception("reading the index failed")
        return ApiError(503, "index_not_ready", f"the index cannot be read ({exc.strerror or exc}): rebuild it with "
                                                "`qa index build`").response()

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return ApiError(500, "internal", "something went wrong; the server log has the details").response()


def _problem(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
