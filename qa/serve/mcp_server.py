"""The Model Context Protocol server (the official ``mcp`` SDK, Streamable HTTP at /mcp) over the live Assistant.

Two read-only tools let an agent use the library: ``search_documents(query, k)`` returns passages and
``ask_documents(question)`` the verbatim quotes with their sources. Mounted in the same app as the chat and
the HTTP API, behind the same sign-in.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.ingest.documents import locate, page_of
from qa.serve.api import AppState, search_with
from qa.serve.api_models import MAX_K, HitOut, hit_out

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

log = logging.getLogger(__name__)

INSTRUCTIONS = ("Search and question a library of documents. ask_documents answers only with sentences quoted "
                "verbatim from the documents, each with its source; when the documents do not answer, it says so "
                "(abstained) and gives the closest passages. search_documents returns the best-matching passages.")


class SourcedQuote(BaseModel):
    text: str = Field(description="A sentence copied verbatim from the document.")
    citation: int = Field(description="Its [n] marker in the answer.")
    doc_id: str
    title: str
    date: str
    source: str
    page: int | None
    location: str = Field("", description="Where in the document: 'page 2', 'slide 3' or 'section: Heading'.")
    start: int = Field(description="Character offset of the quote in the document's text.")
    end: int


class AskResult(BaseModel):
    answer: str
    abstained: bool = Field(description="True when the documents do not answer the question.")
    quotes: list[SourcedQuote]
    closest_passages: list[HitOut] = Field(description="When abstained: the nearest passages, which do not answer.")


class SearchResult(BaseModel):
    hits: list[HitOut]


def create_mcp(state: AppState) -> MCPServer:
    """An MCP server with the two tools, answering from ``state.live``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations

    server = MCPServer("qa", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

    @server.tool(annotations=read_only)
    def search_documents(query: str, k: int = 5) -> SearchResult:
        """The passages of the documents that best match the query, best first, with their sources."""
        if not 1 <= k <= MAX_K:
            raise ToolError(f"k must be between 1 and {MAX_K}, got {k}")
        try:
            with state.asks:
                hits = search_with(state.live, query, k)
            return SearchResult(hits=[hit_out(h) for h in hits])
        except QAError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(annotations=read_only)
    def ask_documents(question: str) -> AskResult:
        """Answer a question with sentences quoted verbatim from the documents, each with its source."""
        assistant = state.live  # read once: an upload may swap it meanwhile
        try:
            with state.asks:
                answer = assistant.ask(question)
        except QAError as exc:
            raise ToolError(str(exc)) from exc
        cited = {c.number: c for c in answer.citations}
        quotes = [SourcedQuote(text=q.text, citation=q.citation, doc_id=q.doc_id, title=cited[q.citation].title,
                               date=cited[q.citation].date or "", source=cited[q.citation].source,
                               page=page_of(assistant.index.documents[q.doc_id], q.start),
                               location=str(locate(assistant.index.documents[q.doc_id], q.start) or ""),
                               start=q.start, end=q.end)
                  for q in answer.quotes]
        closest = [hit_out(h) for h in answer.passages[:3]] if answer.abstained else []
        return AskResult(answer=answer.text, abstained=answer.abstained, quotes=quotes, closest_passages=closest)

    return server
