"""Retrieve: a question (and its conversation) in, ranked passages (``Hit``) out.

The retrievers themselves (BM25 with bm25s, dense search over sentence vectors in FAISS, the
sentence-transformers model that embeds queries), their fusion and refinements, and the conversation's
context all sit behind one ``Retriever``; every question, alone or a follow-up, goes through its one ranking.

Layer 2. May import ``qa.ingest``, ``qa.models``, ``qa.errors`` and ``qa.settings``.
"""
