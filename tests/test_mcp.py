"""The MCP server at /mcp, driven by the official `mcp` client over Streamable HTTP against a real server."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from helpers import OFF_TOPIC_QUESTION, SEED_ID, SEED_QUESTION, SEED_TITLE, copy_seeds
from live_server import basic, serving

pytest.importorskip("mcp", reason="the MCP server needs the mcp package: pip install -e '.[mcp]'")
pytestmark = pytest.mark.slow

USER, PASSWORD = "agent", "correct horse battery staple"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    with serving(copy_seeds(root / "docs"), root / "index", auth=f"{USER}:{PASSWORD}") as server:
        yield server


def with_client(url: str, headers: dict[str, str], use: Callable[[Any], Awaitable[Any]],
                statuses: list[int] | None = None) -> Any:
    """Connect the official MCP client (Streamable HTTP) with ``headers`` and run ``use(client)``; the HTTP
    status of each response is appended to ``statuses``."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def record(response: Any) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async def main() -> Any:
        async with httpx2.AsyncClient(headers=headers, timeout=120, event_hooks={"response": [record]}) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                return await use(client)

    return asyncio.run(main())


def call(live, tool: str, arguments: dict[str, Any]) -> Any:
    async def use(client: Any) -> Any:
        return await client.call_tool(tool, arguments)

    return with_client(live.url, basic(USER, PASSWORD), use)


def test_lists_the_two_tools_with_their_arguments(live):
    async def use(client: Any) -> Any:
        return (await client.list_tools()).tools

    tools = {t.name: t for t in with_client(live.url, basic(USER, PASSWORD), use)}

    assert set(tools) == {"search_documents", "ask_documents"}
    assert set(tools["search_documents"].input_schema["properties"]) == {"query", "k"}
    assert set(tools["ask_documents"].input_schema["properties"]) == {"question"}
    assert all(t.annotations.read_only_hint for t in tools.values())


def test_search_documents_returns_passages_with_their_sources(live, seed_index):
    result = call(live, "search_documents", {"query": "Kosovo dialogue", "k": 2})

    assert not result.is_error
    hits = result.structured_content["hits"]
    assert [h["rank"] for h in hits] == [1, 2]
    for hit in hits:
        assert (hit["doc_id"], hit["title"]) == (SEED_ID, SEED_TITLE)
        assert seed_index.documents[hit["doc_id"]].text[hit["start"]:hit["end"]] == hit["text"]


def test_ask_documents_returns_verbatim_quotes_and_their_sources(live, seed_index, seed_answer):
    result = call(live, "ask_documents", {"question": SEED_QUESTION})

    assert not result.is_error
    body = result.structured_content
    assert body["abstained"] is False
    assert body["answer"] == seed_answer.text
    assert len(body["quotes"]) == len(seed_answer.quotes)
    for quote in body["quotes"]:
        assert seed_index.documents[quote["doc_id"]].text[quote["start"]:quote["end"]] == quote["text"]
        assert (quote["title"], quote["source"].endswith(SEED_ID)) == (SEED_TITLE, True)
    assert body["quotes"][0]["text"] in result.content[0].text  # the same, as text for clients without structure


def test_ask_documents_off_topic_abstains_with_the_closest_passages(live):
    body = call(live, "ask_documents", {"question": OFF_TOPIC_QUESTION}).structured_content

    assert body["abstained"] is True
    assert body["quotes"] == []
    assert body["closest_passages"][0]["doc_id"] == SEED_ID


@pytest.mark.parametrize(("tool", "arguments", "words"), [
    ("ask_documents", {"question": "   "}, "empty"),
    ("search_documents", {"query": ""}, "empty"),
    ("search_documents", {"query": "Kosovo", "k": 0}, "k must be between"),
], ids=["blank-question", "empty-query", "k-zero"])
def test_bad_arguments_give_a_tool_error_with_a_message(live, tool, arguments, words):
    result = call(live, tool, arguments)

    assert result.is_error
    assert words in result.content[0].text
    assert "Traceback" not in result.content[0].text


@pytest.mark.parametrize("headers", [{}, basic(USER, "wrong"), basic("nobody", PASSWORD)],
                         ids=["missing", "wrong-password", "unknown-user"])
def test_mcp_without_valid_credentials_gets_401(live, headers):
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "test", "version": "1"}}}

    response = httpx.post(f"{live.url}/mcp", json=initialize, timeout=30,
                          headers={**headers, "Accept": "application/json, text/event-stream"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_mcp_client_with_a_wrong_password_cannot_connect(live):
    async def use(client: Any) -> Any:
        return await client.list_tools()

    statuses: list[int] = []
    with pytest.raises(Exception, match="error"):  # the SDK reports it inside an exception group
        with_client(live.url, basic(USER, "wrong"), use, statuses)

    assert statuses and set(statuses) == {401}
