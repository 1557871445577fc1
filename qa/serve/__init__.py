"""Serve: the thin shells over one library call each: the Gradio web chat and its documents panel, the HTTP
API, MCP, sign-in, and the server that puts them on one port.

Layer 6, beside ``qa.eval``. May import ``qa.library`` and every layer below it.
"""
