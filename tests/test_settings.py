"""Settings: defaults, QA_* environment variables, explicit overrides, and checks that fail fast."""
from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.errors import ConfigError


def test_environment_variables_override_defaults():
    settings = qa.Settings.from_env({"QA_CHUNK_SIZE": "600", "QA_MIN_SCORE": "0.5", "QA_TITLE_IN_CHUNK": "no",
                                     "QA_INDEX_DIR": "/tmp/somewhere"})

    assert (settings.chunk_size, settings.min_score, settings.title_in_chunk) == (600, 0.5, False)
    assert settings.index_dir == Path("/tmp/somewhere")


def test_explicit_overrides_beat_environment_variables():
    settings = qa.Settings.from_env({"QA_K": "9"}, k=3, chunk_size=None)

    assert settings.k == 3
    assert settings.chunk_size == qa.Settings().chunk_size


def test_empty_environment_variable_keeps_the_default():
    assert qa.Settings.from_env({"QA_K": ""}).k == qa.Settings().k


@pytest.mark.parametrize(("name", "value"), [("QA_CHUNK_SIZE", "big"), ("QA_MIN_SCORE", "high"),
                                             ("QA_TITLE_IN_CHUNK", "maybe")])
def test_malformed_environment_variable_raises_config_error_naming_it(name, value):
    with pytest.raises(ConfigError, match=f"{name}='{value}'"):
        qa.Settings.from_env({name: value})


def test_replace_ignores_none_and_keeps_checks():
    settings = qa.Settings().replace(k=7, model=None)

    assert (settings.k, settings.model) == (7, qa.Settings().model)
    with pytest.raises(ConfigError, match="k must be at least 1"):
        settings.replace(k=0)


def test_unknown_retrieval_mode_raises_config_error():
    with pytest.raises(ConfigError, match="retrieval must be one of"):
        qa.Settings(retrieval="sparse")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_every_retrieval_mode_finds_the_matching_document(mode):
    docs = [qa.Document("bees", "Honey bees dance to tell the hive where the flowers are."),
            qa.Document("rivers", "The Danube flows through ten countries into the Black Sea.")]
    index = qa.build_index(docs, settings=qa.Settings(retrieval=mode))

    assert index.search("Danube Black Sea", k=1)[0].doc_id == "rivers"
