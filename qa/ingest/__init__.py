"""Ingest: reading a folder of documents (text, Markdown, PDF, HTML, Office, EPUB) and cutting them into chunks.

Layer 1. May import only ``qa.errors`` and ``qa.settings``.
"""
