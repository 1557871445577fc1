"""The web chat, HTTP API and MCP: `python app.py` builds or refreshes index/ from seeds/ if needed, then serves
on :7860.

Settings come from QA_* environment variables (see README), e.g. QA_SOURCE_DIR, QA_INDEX_DIR, QA_MODEL,
QA_HOST, QA_PORT, QA_AUTH, QA_READ_ONLY.
"""
import logging
import os

from qa.cli import configure_logging
from qa.errors import QAError
from qa.settings import Settings
from qa.webapp import serve

if __name__ == "__main__":
    configure_logging(logging.INFO)
    try:
        serve(Settings.from_env(), host=os.environ.get("QA_HOST", "127.0.0.1"),
              port=int(os.environ.get("QA_PORT", "7860")))
    except QAError as exc:  # e.g. no sign-in on a public address: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
