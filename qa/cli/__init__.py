"""CLI: the ``qa`` command (index build/update/info, search, ask, chat, serve, eval, docs): parses options,
calls the library, prints the result; errors become one line here and nowhere below.

Layer 7, the top. May import every package.
"""
from qa.cli.main import main

__all__ = ["main"]
