"""What every ``qa`` command shares: the settings options, turning library errors into one line, and logging."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qa.errors import QAError
from qa.settings import Settings

F = Callable[..., Any]


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QAError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # e.g. a full disk while saving: the previous index is intact
            raise click.ClickException(f"{exc.strerror or exc} ({exc.filename or 'no file'}); "
                                       "nothing was changed") from exc

    return wrapper


def settings_options(fn: F) -> F:
    """Options shared by every command; each falls back to its QA_* environment variable, then a default."""
    options = [
        click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Index folder. [env QA_INDEX_DIR; default: index]"),
        click.option("--model", help="Sentence-transformers model name or folder. [env QA_MODEL; default: the "
                                     "bundled all-MiniLM-L6-v2]"),
        click.option("--chunk-size", type=int, help="Chunk size in characters. [env QA_CHUNK_SIZE; default 1000]"),
        click.option("--chunk-overlap", type=int, help="Characters of sentences repeated between chunks. "
                                                       "[env QA_CHUNK_OVERLAP; default 200]"),
        click.option("-k", "k", type=int, help="Passages to retrieve. [env QA_K; default 5]"),
        click.option("--min-score", type=float, help="Abstain when the best sentence's score (cosine + term "
                                                     "coverage) is below this. [env QA_MIN_SCORE; default 0.80]"),
        click.option("--ranker", help="Quote ranker: none (quotes in the choice score's order), or a "
                                      "sentence-transformers CrossEncoder name or folder that reorders the best "
                                      "candidates (docs/ranker.md). [env QA_RANKER; default none]"),
        click.option("--quantize/--no-quantize", default=None,
                     help="Embed with int8 weights: about 2x faster indexing, slightly different vectors; an index built "
                          "one way is refused the other way. [env QA_QUANTIZE; default off]"),
        click.option("--device", help="Where documents are embedded: auto (CUDA, then Apple MPS, then CPU), cpu, "
                                      "cuda, cuda:N or mps. [env QA_DEVICE; default auto]"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# Loggers of the libraries qa uses; below -v only their errors are shown.
LIBRARY_LOGGERS = ("bm25s", "faiss", "httpx", "sentence_transformers", "transformers", "huggingface_hub", "pypdf",
                   "trafilatura", "htmldate", "courlan", "justext", "py.warnings")


def configure_logging(level: int) -> None:
    """Set log levels at the edge. At WARNING (no -v) the libraries are quiet: only their errors are logged,
    Python warnings too (they are routed to logging), and their own progress bars (transformers' "Loading
    weights") are off. qa's own warnings and progress bars (embedding a build) are shown at every level.
    """
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # bm25s sets its own logger to DEBUG when imported (later, lazily), so filter at the handlers too.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    quiet = level >= logging.WARNING
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if quiet else logging.WARNING)
    if quiet:
        quiet_library_output()


def quiet_library_output() -> None:
    """Turn off Hugging Face progress bars and transformers' warnings: through the environment for libraries
    not imported yet (the CLI imports them lazily), directly for those already imported."""
    import os
    import sys

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers resets its logger's level from this variable when it is first imported.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    elif "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def make_settings(**kwargs: Any) -> Settings:
    return Settings.from_env(**kwargs)
