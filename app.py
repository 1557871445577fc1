"""The web chat, HTTP API and MCP: `python app.py` builds or refreshes index/ from seeds/ if needed, then serves
on :7860.

Settings come from QA_* environment variables (see README), e.g. QA_SOURCE_DIR, QA_INDEX_DIR, QA_MODEL,
QA_AUTH, QA_READ_ONLY; QA_HOST and QA_PORT (else GRADIO_SERVER_PORT, else 7860) say where to listen.
"""
import logging
import os
import sys

from qa.cli.options import configure_logging
from qa.errors import QAError
from qa.serve.server import env_port, serve
from qa.settings import Settings

if __name__ == "__main__":
    configure_logging(logging.INFO)
    try:
        serve(Settings.from_env(), host=os.environ.get("QA_HOST", "127.0.0.1"), port=env_port())
    except QAError as exc:  # one line saying what to do, not a traceback
        sys.exit(f"Error: {exc}")
