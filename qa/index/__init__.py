"""Index: the stored data (documents, chunks, sentence vectors, FAISS, BM25), its manifest and generations on
disk, and building or updating it from a folder (on this machine or a Ray cluster).

Layer 3. May import ``qa.retrieve``, ``qa.ingest``, ``qa.models``, ``qa.errors`` and ``qa.settings``.
"""
