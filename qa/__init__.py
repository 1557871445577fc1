"""qa: offline question answering over a folder of documents, with verbatim quotes and exact citations."""
from qa.answer import Answer, Assistant, Citation
from qa.build import BuildReport, build_index, open_index, update_index
from qa.conversation import Conversation
from qa.documents import Document
from qa.errors import QAError
from qa.index import Changes, Index, load_index
from qa.retrieval import Hit
from qa.settings import Settings

__all__ = ["Answer", "Assistant", "BuildReport", "Changes", "Citation", "Conversation", "Document", "Hit", "Index",
           "QAError", "Settings", "build_index", "load_index", "open_index", "update_index"]
