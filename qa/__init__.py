"""qa: offline question answering over a folder of documents, with verbatim quotes and exact citations.

The packages are layers, each importing only those below it: ``ingest`` (documents, chunks) → ``retrieve``
(a question to ranked passages) → ``index`` (the stored index, built and updated) → ``answer`` (quotes,
citations, abstention, conversations) → ``library`` (a live document folder) → ``eval`` and ``serve`` (web
chat, HTTP API, MCP) → ``cli``. ``errors`` and ``settings`` are used by all of them.
"""
from qa.answer.answers import Answer, Citation
from qa.answer.assistant import Assistant
from qa.answer.conversation import Conversation
from qa.errors import QAError
from qa.index.build import BuildReport, build_index, open_index, update_index
from qa.index.index import Changes, Index, load_index
from qa.ingest.documents import Document
from qa.retrieve.hits import Hit
from qa.retrieve.retriever import Retriever
from qa.settings import Settings

__all__ = ["Answer", "Assistant", "BuildReport", "Changes", "Citation", "Conversation", "Document", "Hit", "Index",
           "QAError", "Retriever", "Settings", "build_index", "load_index", "open_index", "update_index"]
