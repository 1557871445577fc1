"""Session fixtures: the seed index is built once (the model loads once per process) and shared read-only."""
from __future__ import annotations

import os

import pytest

# Tests use the default settings; a developer's QA_* variables must not change what they check.
for _name in [n for n in os.environ if n.startswith("QA_")]:
    del os.environ[_name]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import SEED_QUESTION, SEEDS_DIR  # noqa: E402

import qa  # noqa: E402


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory):
    """An index of seeds/ saved once for the session; tests must only read it."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    qa.build_index(SEEDS_DIR, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def seed_index(seed_index_dir) -> qa.Index:
    return qa.load_index(seed_index_dir)


@pytest.fixture(scope="session")
def assistant(seed_index) -> qa.Assistant:
    return qa.Assistant(seed_index)


@pytest.fixture(scope="session")
def seed_answer(assistant) -> qa.Answer:
    return assistant.ask(SEED_QUESTION)
